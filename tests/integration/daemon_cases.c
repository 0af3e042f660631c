/* daemon_cases.c - what the phoenixd test programs (test_daemon*.c) share: the test configuration
 * and its variants, starting a daemon on it, one control request, registering an app, and
 * bounded waits for files and log lines. daemon_harness.c starts and stops the process; this
 * file knows the loopback configuration these programs run. */
#include "daemon_cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The whole file as a string (malloc'd), or NULL when it is missing or empty. */
char *read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t cap = 0;

    *len = 0;
    if (!f)
        return NULL;
    ssize_t n = getdelim(&buf, &cap, '\0', f);
    fclose(f);
    if (n <= 0) {
        free(buf);
        return NULL;
    }
    *len = strlen(buf);
    return buf;
}

/* The test configuration with FROM replaced by TO (FROM NULL: as it is); malloc'd. */
char *test_conf(const char *from, const char *to)
{
    size_t len;
    char *text = read_text(PHX_TEST_CONF, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    if (!from)
        return text;
    char *at = strstr(text, from);
    CU_ASSERT_PTR_NOT_NULL_FATAL(at);
    char *out = NULL;
    CU_ASSERT_FATAL(asprintf(&out, "%.*s%s%s", (int)(at - text), text, to,
                             at + strlen(from)) > 0);
    free(text);
    return out;
}

/* Starts phoenixd on a fresh prefix with the test configuration, FROM replaced by TO in it. */
bool daemon_start(struct phx_daemon *d, const char *tag, const char *from, const char *to)
{
    char *conf = test_conf(from, to);
    bool up = phx_daemon_start(d, tag, conf);

    free(conf);
    return up;
}

/* Sends REQ on SOCK; returns the response (NULL on failure, with the reason printed). */
Phoenix__Control__Response *control_call(int sock, Phoenix__Control__Request *req, int *fds,
                                                unsigned *nfds, unsigned max_fds)
{
    Phoenix__Control__Response *resp;
    char err[512];

    if (phx_control_call(sock, req, &resp, fds, nfds, max_fds, 5000, err, sizeof(err)) < 0) {
        fprintf(stderr, "control call: %s\n", err);
        return NULL;
    }
    return resp;
}

void make_register(Phoenix__Control__Request *req, Phoenix__Control__Register *reg,
                   const char *service, uint64_t id)
{
    phoenix__control__request__init(req);
    phoenix__control__register__init(reg);
    reg->service = (char *)service;
    req->id = id;
    req->body_case = PHOENIX__CONTROL__REQUEST__BODY_REGISTER;
    req->register_ = reg;
}

phx_client_t *app_register(const char *prefix, char *err, size_t errlen)
{
    struct phx_client_params p = {
        .field_mask = PHX_CLIENT_PARAM_FIELD_PREFIX | PHX_CLIENT_PARAM_FIELD_SERVICE,
        .prefix = prefix,
        .service = "loopback",
    };
    return phx_client_register(&p, err, errlen);
}

bool file_exists(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* Waits up to 5 s for TEXT in D's log. */
bool log_shows(const struct phx_daemon *d, const char *text)
{
    unsigned long long deadline = phx_test_now_ns() + 5 * PHX_NS;
    bool seen = phx_daemon_log_has(d, text);

    while (!seen && phx_test_now_ns() < deadline) {
        phx_test_sleep_ms(10);
        seen = phx_daemon_log_has(d, text);
    }
    return seen;
}

bool kernel_refuses_fds(void)
{
    int off = 0, fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    bool ok = fd >= 0 && setsockopt(fd, SOL_SOCKET, 83 /* SO_PASSRIGHTS */, &off,
                                    sizeof(off)) == 0;

    if (fd >= 0)
        close(fd);
    return ok;
}
