/* fuzz_control.c - libFuzzer target: control-socket requests as phoenixd decodes and answers them.
 *
 * Input: the first byte is the datagram's envelope (bit 0: the peer is an administrator; bit 1:
 * descriptors came with it), the rest is the datagram. It goes through
 * phx_control_request_decode() (control_server.c, the server's own decoding, without a socket)
 * and, when it decodes, to what request_dispatch() calls: phx_service_register() for a register
 * body (undone at once when it succeeds) and phx_admin_handle() for the others, on a real service
 * (phx_service_init: one runtime thread and one kept for urgent apps, the null and testpair
 * plugins, a private prefix, the
 * dry-run topology hwloc-profiles/vm-no-hca.xml so that no live hwloc scan runs) that lives for
 * the whole run. One app is registered for service "testpair" (TestSourceEngine ->
 * TestSinkEngine) as uid 4242, the uid of every non-admin peer, so that splice, engine admin,
 * reconfigure and rules reach a live chain: a splice's pid 0 means that app's pid (which changes
 * from run to run) and its sid 0 the app's sid, and an engine id below 16 means its engine of
 * that index (modulo their number). After a request of a kind that changes the chain (splice,
 * engine admin, reconfigure) succeeded, the app is registered anew, so every input starts from
 * the same chain; standing rules are dropped after each input. Upgrade is not answered for
 * administrators: it names plugin files to load, which the fuzzer must not make the service
 * open; the permission check refusing it to everyone else is covered. The answer must carry an
 * error sentence exactly when its status is not OK, and pack; the service must survive it.
 *
 * Seeds (corpus/, from make_seeds) are one valid request of each kind. */
#include <errno.h>
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

#define FUZZ_UID 4242

static phx_config_t             cfg;
static struct phx_service       svc;
static struct phx_subscription *app;     /* the registered app, or NULL */

static int register_app(const char *service, uid_t uid, unsigned depth,
                        struct phx_subscription **out, char *err, size_t errlen)
{
    struct phx_register_params p = {
        .field_mask = PHX_REGISTER_PARAM_FIELD_RING_DEPTH, .service = service,
        .peer = { .pid = getpid(), .uid = uid, .gid = FUZZ_UID }, .ring_depth = depth };
    return phx_service_register(&svc, &p, out, err, errlen);
}

static void app_renew(void)
{
    char err[512] = "";
    if (app)
        phx_service_unregister(&svc, app);
    app = NULL;
    if (register_app("testpair", FUZZ_UID, 64, &app, err, sizeof(err)) != PHX_OK)
        phx_fuzz_fail("the testpair app does not register: %s", err);
}
/* At exit (libFuzzer's and the replayer's): the service stops, then its prefix goes. */
static void service_stop(void)
{
    phx_service_fini(&svc);     /* unregisters the app too */
    phx_config_free(&cfg);
}

static void service_start(void)
{
    const char *dir = phx_fuzz_tmpdir("control");
    char path[4200], err[512] = "";
    snprintf(path, sizeof(path), "%s/phoenix.conf", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        phx_fuzz_fail("%s: %s", path, strerror(errno));
    fprintf(f, "prefix = \"%s\";\nlog = { level = \"error\"; };\n"
               "runtime = { threads = 1; spin_us = 0; };\n"
               "topology = { bind_memory = false; xml = \"%s\"; };\n"
               "heap = { send_mb = 1; recv_mb = 1; slab_kb = 64; };\n"
               "plugins = ( { name = \"null\"; path = \"%s\"; },\n"
               "            { name = \"testpair\"; path = \"%s\"; } );\n",
            dir, PHX_FUZZ_TOPOLOGY_XML, PHX_FUZZ_NULL_PLUGIN, PHX_FUZZ_TESTPAIR_PLUGIN);
    fclose(f);
    if (phx_config_load(&cfg, path, err, sizeof(err)) < 0)
        phx_fuzz_fail("%s", err);
    phx_log_set_level(cfg.log.level);
    if (phx_service_init(&svc, &cfg, err, sizeof(err)) < 0)
        phx_fuzz_fail("the service does not start: %s", err);
    atexit(service_stop);
    app_renew();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    service_start();
    return 0;
}

/* pid 0 and small engine ids name the fuzz app and its engines (see the top). */
static void aim_at_app(Phoenix__Control__Request *req)
{
    uint32_t *pid = req->body_case == PHOENIX__CONTROL__REQUEST__BODY_SPLICE ? &req->splice->pid
                                                                             : NULL;
    uint64_t *engine = req->body_case == PHOENIX__CONTROL__REQUEST__BODY_ENGINE_ADMIN
                           ? &req->engine_admin->engine_id
                       : req->body_case == PHOENIX__CONTROL__REQUEST__BODY_RECONFIGURE
                           ? &req->reconfigure->engine_id
                           : NULL;
    if (pid && *pid == 0) {
        *pid = (uint32_t)app->pid;
        if (req->splice->sid == 0)
            req->splice->sid = app->sid;
    }
    if (engine && *engine < 16 && app->n_engines)
        *engine = app->engines[*engine % app->n_engines]->id;
}

/* Whether a request of this kind, answered OK, may have changed the app's chain: the others
 * only read it (list, plugins, topology, rules, metrics) or change the rules, which are dropped
 * after every input anyway. Re-registering the app is most of an input's time. */
static bool changes_app(Phoenix__Control__Request__BodyCase body)
{
    return body == PHOENIX__CONTROL__REQUEST__BODY_SPLICE ||
           body == PHOENIX__CONTROL__REQUEST__BODY_ENGINE_ADMIN ||
           body == PHOENIX__CONTROL__REQUEST__BODY_RECONFIGURE;
}

/* Returns whether the request may have changed the app. */
static bool answer(Phoenix__Control__Request *req, bool admin, Phoenix__Control__Response *resp)
{
    struct phx_peer peer = { .pid = getpid(), .uid = admin ? 0 : FUZZ_UID, .gid = FUZZ_UID,
                             .admin = admin };
    if (req->body_case == PHOENIX__CONTROL__REQUEST__BODY_REGISTER) {
        const Phoenix__Control__Register *reg = req->register_;
        struct phx_subscription *sub;
        char err[512] = "";
        if (!reg->service || !*reg->service)
            return false;   /* the server refuses it before the service sees it */
        int status = register_app(reg->service, peer.uid, reg->ring_depth, &sub, err,
                                  sizeof(err));
        if (status == PHX_OK)
            phx_service_unregister(&svc, sub);
        else if (!err[0])
            phx_fuzz_fail("register refused with status %d and no sentence", status);
        return false;
    }
    if (admin && req->body_case == PHOENIX__CONTROL__REQUEST__BODY_UPGRADE)
        return false;
    aim_at_app(req);
    phx_admin_handle(&svc, &peer, req, resp);
    return resp->status == PHX_OK && changes_app(req->body_case);
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
    bool changed = false;
    if (req->body_case != PHOENIX__CONTROL__REQUEST__BODY__NOT_SET) {
        Phoenix__Control__Response resp = PHOENIX__CONTROL__RESPONSE__INIT;
        resp.id = req->id;
        changed = answer(req, data[0] & 1, &resp);
        check_response(&resp);
        /* what the server frees: everything the handlers put in, not the struct itself */
        Phoenix__Control__Response *heap = malloc(sizeof(*heap));
        if (!heap)
            phx_fuzz_fail("out of memory");
        *heap = resp;
        phoenix__control__response__free_unpacked(heap, NULL);
        phx_fuzz_accepted++;
    }
    if (changed)
        app_renew();
    phoenix__control__request__free_unpacked(req, NULL);
    phx_rules_fini(&svc);   /* each input starts from the same service: no standing rules */
    return 0;
}
