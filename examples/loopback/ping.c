/* ping.c - the demo app: streams descriptors through phoenixd's loopback service and back.
 *
 * It registers with the local service for "loopback" (LoopFrontEngine -> LoopBackEngine: every
 * submission comes back as a completion), keeps WINDOW descriptors in flight, checks that they
 * return in order, and prints round trips per second each second. It is what demo.sh runs while
 * an administrator lists, attaches and detaches a policy under it: the stream must not notice.
 *
 *   loopback_ping [-p PREFIX] [-d SECONDS] [-w WINDOW] [-q]
 */
#include "phoenix/client.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

struct ping_opts {
    const char *prefix;
    double      seconds;
    unsigned    window;
    bool        quiet;
};

struct ping_state {
    uint64_t sent;
    uint64_t received;
    uint64_t out_of_order;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(const char *prog, int code)
{
    fprintf(code ? stderr : stdout,
            "usage: %s [-p PREFIX] [-d SECONDS] [-w WINDOW] [-q] | --version\n"
            "  -p PREFIX   the service's directory (default $PHOENIX_PREFIX or /run/phoenix)\n"
            "  -d SECONDS  how long to stream (default 5)\n"
            "  -w WINDOW   descriptors in flight (default 32)\n"
            "  -q          print only the summary\n", prog);
    return code;
}

static int parse_opts(int argc, char **argv, struct ping_opts *o)
{
    int c;

    *o = (struct ping_opts){ .seconds = 5, .window = 32 };
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("loopback_ping %s\n", PHX_VERSION);
        exit(0);
    }
    while ((c = getopt(argc, argv, "p:d:w:qh")) != -1) {
        switch (c) {
        case 'p': o->prefix = optarg; break;
        case 'd': o->seconds = atof(optarg); break;
        case 'w': o->window = (unsigned)atoi(optarg); break;
        case 'q': o->quiet = true; break;
        case 'h': exit(usage(argv[0], 0));
        default: return -1;
        }
    }
    if (o->seconds <= 0 || o->window == 0 || o->window > 4096 || optind != argc)
        return -1;
    return 0;
}

/* Tops the window up with descriptors numbered in sending order. */
static int send_window(phx_client_t *c, struct ping_state *st, unsigned window)
{
    phx_desc_t batch[BATCH];
    unsigned n = 0;

    while (n < BATCH && st->sent + n - st->received < window) {
        batch[n] = (phx_desc_t){ .kind = PHX_DESC_DATA, .seq = st->sent + n };
        n++;
    }
    int pushed = n ? phx_client_submit(c, batch, n) : 0;
    if (pushed > 0)
        st->sent += (uint64_t)pushed;
    return pushed;
}

static int receive_some(phx_client_t *c, struct ping_state *st)
{
    phx_desc_t done[BATCH];
    int n = phx_client_wait(c, done, BATCH, 1000);

    for (int i = 0; i < n; i++) {
        if (done[i].kind == PHX_DESC_SHUTDOWN)
            return -EPIPE;
        st->out_of_order += done[i].seq != st->received;
        st->received++;
    }
    return n;
}

static int stream(phx_client_t *c, const struct ping_opts *o, struct ping_state *st)
{
    double start = now_s(), last_report = start;
    uint64_t last_count = 0;

    while (now_s() - start < o->seconds) {
        int rc = send_window(c, st, o->window);
        if (rc >= 0)
            rc = receive_some(c, st);
        if (rc < 0)
            return rc;
        double t = now_s();
        if (!o->quiet && t - last_report >= 1.0) {
            printf("loopback_ping: %.0f round trips/s\n", (double)(st->received - last_count) / (t - last_report));
            fflush(stdout);
            last_report = t;
            last_count = st->received;
        }
    }
    /* Drain what is still in flight, bounded by the service's liveness (wait's timeout). */
    for (int tries = 0; st->received < st->sent && tries < 10; tries++) {
        int rc = receive_some(c, st);
        if (rc < 0)
            return rc;
        tries = rc > 0 ? 0 : tries;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct ping_opts o;
    struct ping_state st = { 0 };
    char err[256];

    if (parse_opts(argc, argv, &o) < 0)
        return usage(argv[0], 2);

    phx_client_t *c = phx_client_register(&(struct phx_client_params){
            .field_mask = PHX_CLIENT_PARAM_FIELD_SERVICE | (o.prefix ? PHX_CLIENT_PARAM_FIELD_PREFIX : 0),
            .service = "loopback", .prefix = o.prefix }, err, sizeof(err));
    if (!c) {
        fprintf(stderr, "loopback_ping: %s\n", err);
        return 1;
    }
    printf("loopback_ping: pid %d registered as sid %u\n", (int)getpid(), phx_client_sid(c));
    fflush(stdout);

    double start = now_s();
    int rc = stream(c, &o, &st);
    double elapsed = now_s() - start;
    phx_client_close(c);

    printf("loopback_ping: %" PRIu64 " sent, %" PRIu64 " received, %" PRIu64
           " out of order, %.0f round trips/s%s\n", st.sent, st.received, st.out_of_order,
           (double)st.received / elapsed, rc ? " (service went away)" : "");
    return rc == 0 && st.received == st.sent && st.out_of_order == 0 ? 0 : 1;
}
