/* main.c - soak_app's command line (the modes are described in soak_app.h).
 *
 *   soak_app --serve ADDR
 *   soak_app --call ADDR --ledger FILE [--window N] [--rate N] [--timeout-ms N] [--pad N]
 *   soak_app --read FILE */
#include "soak_app.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: soak_app --serve HOST:PORT\n"
            "       soak_app --call HOST:PORT --ledger FILE [--window N] [--rate N]\n"
            "                [--timeout-ms N] [--pad BYTES]\n"
            "       soak_app --read FILE\n"
            "The soak test's app (tests/soak/soak.sh): a server of Soak.Call, a caller that\n"
            "accounts for every call in FILE until SIGTERM and then prints the ledger as JSON,\n"
            "or the reader of a ledger a caller left (also one killed with SIGKILL).\n"
            "  --window N      calls outstanding at most (1..1024, default 8)\n"
            "  --rate N        calls per second at most (1..1000000, default 2000)\n"
            "  --timeout-ms N  each call's deadline (1..600000, default 3000)\n"
            "  --pad BYTES     request padding (0..65536, default 64)\n");
}

static int parse_uint(const char *text, unsigned long min, unsigned long max, unsigned *out)
{
    char *end;

    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-' || v < min || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int set_mode(soak_args_t *a, int mode, const char *arg)
{
    if (a->mode != SOAK_NONE)
        return -1;
    a->mode = mode;
    if (mode == SOAK_READ)
        a->ledger = arg;
    else
        a->addr = arg;
    return 0;
}

/* 0 to run, 1 for --help, -1 after saying what is wrong. */
static int parse(int argc, char **argv, soak_args_t *a)
{
    static const struct option opts[] = {
        { "serve", required_argument, NULL, 's' }, { "call", required_argument, NULL, 'c' },
        { "read", required_argument, NULL, 'R' },  { "ledger", required_argument, NULL, 'l' },
        { "window", required_argument, NULL, 'w' }, { "rate", required_argument, NULL, 'r' },
        { "timeout-ms", required_argument, NULL, 't' }, { "pad", required_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' },         { 0, 0, 0, 0 },
    };
    int opt, bad = 0, index = 0;

    *a = (soak_args_t){ .window = 8, .rate = 2000, .timeout_ms = 3000, .pad = 64 };
    while (!bad && (opt = getopt_long(argc, argv, "h", opts, &index)) != -1) {
        switch (opt) {
        case 's': bad = set_mode(a, SOAK_SERVE, optarg); break;
        case 'c': bad = set_mode(a, SOAK_CALL, optarg); break;
        case 'R': bad = set_mode(a, SOAK_READ, optarg); break;
        case 'l': a->ledger = optarg; break;
        case 'w': bad = parse_uint(optarg, 1, 1024, &a->window); break;
        case 'r': bad = parse_uint(optarg, 1, 1000000, &a->rate); break;
        case 't': bad = parse_uint(optarg, 1, 600000, &a->timeout_ms); break;
        case 'p': bad = parse_uint(optarg, 0, 65536, &a->pad); break;
        case 'h': return 1;
        default: bad = -1; break;
        }
        if (bad && opt != '?')
            fprintf(stderr, "soak_app: --%s %s: out of range, or a second mode\n",
                    opts[index].name, optarg);
    }
    if (!bad && (optind < argc || a->mode == SOAK_NONE || (a->mode == SOAK_CALL && !a->ledger))) {
        fprintf(stderr, "soak_app: give one of --serve, --call (with --ledger) or --read\n");
        bad = -1;
    }
    return bad ? -1 : 0;
}

int main(int argc, char **argv)
{
    soak_args_t a;
    int rc = parse(argc, argv, &a);

    if (rc != 0) {
        usage(rc > 0 ? stdout : stderr);
        return rc > 0 ? 0 : 2;
    }
    switch (a.mode) {
    case SOAK_SERVE: rc = soak_serve(&a); break;
    case SOAK_CALL:  rc = soak_call(&a); break;
    default:         rc = soak_ledger_read(a.ledger); break;
    }
    return rc == 0 ? 0 : 1;
}
