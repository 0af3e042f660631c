/* fuzz_control.c - libFuzzer target: control-socket requests as phoenixd decodes and answers them.
 *
 * Input: the first byte is the datagram's envelope (bit 0: the peer is an administrator; bit 1:
 * descriptors came with it), the rest is the datagram. It goes through
 * phx_control_request_decode() (control_server.c, the server's own decoding, without a socket)
 * and, when it decodes, to what request_dispatch() calls: phx_service_register() for a register
 * body (undone at once when it succeeds) and phx_admin_handle() for the others, on a real service
 * (phx_service_init: one runtime thread, the null plugin, a private prefix, the dry-run
 * topology hwloc-profiles/vm-no-hca.xml so that no live hwloc scan runs) that lives for the whole
 * run. Upgrade is not answered for administrators: it names plugin files to load, which the
 * fuzzer must not make the service open; the permission check refusing it to everyone else is
 * covered. Standing rules an input adds are dropped after it. The answer must carry an error
 * sentence exactly when its status is not OK, and pack; the service must survive it.
 *
 * Seeds (corpus/, from make_seeds) are one valid request of each kind. */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "config.h"
#include "control_server.h"
#include "fuzz.h"
#include "phoenix/log.h"
#include "phoenix/status.h"
#include "rules.h"
#include "service.h"

#ifndef PHX_FUZZ_NULL_PLUGIN
#error "PHX_FUZZ_NULL_PLUGIN: the path of the null plugin (fuzz/CMakeLists.txt)"
#endif

static phx_config_t       cfg;
static struct phx_service svc;
static char               prefix[] = "/dev/shm/phx-fuzz-control-XXXXXX";

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* At exit (libFuzzer's and the replayer's): the service stops, its prefix goes. */
static void service_stop(void)
{
    phx_service_fini(&svc);
    phx_config_free(&cfg);
    nftw(prefix, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void service_start(void)
{
    char *dir = prefix, path[4200], err[512] = "";
    if (!mkdtemp(dir))
        phx_fuzz_fail("mkdtemp: %s", strerror(errno));
    snprintf(path, sizeof(path), "%s/phoenix.conf", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        phx_fuzz_fail("%s: %s", path, strerror(errno));
    fprintf(f, "prefix = \"%s\";\nlog = { level = \"error\"; };\n"
               "runtime = { threads = 1; spin_us = 0; };\n"
               "topology = { bind_memory = false; xml = \"%s\"; };\n"
               "heap = { send_mb = 1; recv_mb = 1; slab_kb = 64; };\n"
               "plugins = ( { name = \"null\"; path = \"%s\"; } );\n",
            dir, PHX_FUZZ_TOPOLOGY_XML, PHX_FUZZ_NULL_PLUGIN);
    fclose(f);
    if (phx_config_load(&cfg, path, err, sizeof(err)) < 0)
        phx_fuzz_fail("%s", err);
    phx_log_set_level(cfg.log.level);
    if (phx_service_init(&svc, &cfg, err, sizeof(err)) < 0)
        phx_fuzz_fail("the service does not start: %s", err);
    atexit(service_stop);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    service_start();
    return 0;
}

static void answer(const Phoenix__Control__Request *req, bool admin,
                   Phoenix__Control__Response *resp)
{
    struct phx_peer peer = { .pid = getpid(), .uid = admin ? 0 : 4242, .gid = 4242,
                             .admin = admin };
    if (req->body_case == PHOENIX__CONTROL__REQUEST__BODY_REGISTER) {
        const Phoenix__Control__Register *reg = req->register_;
        struct phx_subscription *sub;
        char err[512] = "";
        if (!reg->service || !*reg->service)
            return;     /* the server refuses it before the service sees it */
        struct phx_register_params p = {
            .field_mask = PHX_REGISTER_PARAM_FIELD_RING_DEPTH, .service = reg->service,
            .peer = { .pid = peer.pid, .uid = peer.uid, .gid = peer.gid },
            .ring_depth = reg->ring_depth };
        int status = phx_service_register(&svc, &p, &sub, err, sizeof(err));
        if (status == PHX_OK)
            phx_service_unregister(&svc, sub);
        else if (!err[0])
            phx_fuzz_fail("register refused with status %d and no sentence", status);
        return;
    }
    if (admin && req->body_case == PHOENIX__CONTROL__REQUEST__BODY_UPGRADE)
        return;
    phx_admin_handle(&svc, &peer, req, resp);
}

static void check_response(const Phoenix__Control__Response *resp)
{
    bool has_error = resp->error && resp->error[0];
    if ((resp->status != PHX_OK) != has_error)
        phx_fuzz_fail("status %d with error \"%s\"", resp->status,
                      resp->error ? resp->error : "(null)");
    size_t n = phoenix__control__response__get_packed_size(resp);
    uint8_t *out = malloc(n + 1);
    if (!out || phoenix__control__response__pack(resp, out) != n)
        phx_fuzz_fail("the response does not pack");
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[256] = "";
    if (size < 1)
        return 0;
    Phoenix__Control__Request *req = phx_control_request_decode(data + 1, (ssize_t)size - 1,
                                                                data[0] & 2 ? 1 : 0, why,
                                                                sizeof(why));
    if (!req) {
        if (!why[0])
            phx_fuzz_fail("a refused datagram has no reason");
        return 0;
    }
    if (req->body_case != PHOENIX__CONTROL__REQUEST__BODY__NOT_SET) {
        Phoenix__Control__Response resp = PHOENIX__CONTROL__RESPONSE__INIT;
        resp.id = req->id;
        answer(req, data[0] & 1, &resp);
        check_response(&resp);
        /* what the server frees: everything the handlers put in, not the struct itself */
        Phoenix__Control__Response *heap = malloc(sizeof(*heap));
        if (!heap)
            phx_fuzz_fail("out of memory");
        *heap = resp;
        phoenix__control__response__free_unpacked(heap, NULL);
        phx_fuzz_accepted++;
    }
    phoenix__control__request__free_unpacked(req, NULL);
    phx_rules_fini(&svc);   /* each input starts from the same service: no standing rules */
    return 0;
}
