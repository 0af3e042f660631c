/* admin_handlers.c - the admin requests beyond `list`: plugins, topology, upgrade, splice,
 * engine admin, reconfigure and metrics (see admin_handlers.h; admin.c dispatches to them).
 *
 * They run on the control thread, which owns the service: the registry and the subscription list
 * are read and changed without locks. What a runtime thread also touches is only changed through
 * the calls that suspend its group first (phx_splice, phx_upgrade), and an engine's admin()
 * operation runs with the engine's group suspended too, since it reads the state progress()
 * writes. Failures of the work below map from -errno to a status (phx_status_of_errno) and keep the
 * work's own sentence as the error, so phoenixctl can print it as it is.
 *
 * Every request that may change the service (upgrade, splice, engine admin) is logged at info
 * with the uid and pid of the user who sent it, and its outcome. Splice, engine admin and
 * reconfigure are open to ordinary users for their own apps (admin.h): may_touch_app() and
 * may_change_engine() refuse the rest, and a splice records who attached each addon. */
#include "admin_handlers.h"

#include "phoenix/admin/addon_desc.h"
#include "control_server.h"
#include "graph.h"
#include "metrics.h"
#include "config.h"
#include "phoenix/log.h"
#include "phoenix/admin/placement.h"
#include "phoenix/status.h"
#include "plugin_registry.h"
#include "runtime.h"
#include "service.h"
#include "splice.h"
#include "upgrade.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADMIN_MSG_MAX    1024
#define ADMIN_TEXT_MAX   256    /* of the admin's free text (origin, path, request) in the log */

#define log_admin(peer, fmt, ...)                                                           \
    phx_info("admin uid %d pid %d: " fmt, (int)(peer)->uid, (int)(peer)->pid, __VA_ARGS__)

/* ---- shared pieces -------------------------------------------------------------------------- */

static void fail_oom(Phoenix__Control__Response *resp, const char *what)
{
    phx_response_fail(resp, PHX_RESOURCE_EXHAUSTED, "out of memory %s", what);
}

/* Makes RESP's body a reply of type DESC (a message whose only field is a string) holding TEXT,
 * which it takes over; TEXT NULL (a failed strdup) is out of memory. */
static void reply_text(Phoenix__Control__Response *resp, Phoenix__Control__Response__BodyCase body,
                       const ProtobufCMessageDescriptor *desc, char *text)
{
    ProtobufCMessage *m = text ? malloc(desc->sizeof_message) : NULL;

    if (!m) {
        free(text);
        fail_oom(resp, "for the reply");
        return;
    }
    protobuf_c_message_init(desc, m);
    *(char **)((char *)m + desc->fields[0].offset) = text;
    resp->body_case = body;
    switch (body) {
    case PHOENIX__CONTROL__RESPONSE__BODY_TOPOLOGY:
        resp->topology = (Phoenix__Control__TopologyReply *)m;
        break;
    case PHOENIX__CONTROL__RESPONSE__BODY_UPGRADE:
        resp->upgrade = (Phoenix__Control__UpgradeReply *)m;
        break;
    case PHOENIX__CONTROL__RESPONSE__BODY_SPLICE:
        resp->splice = (Phoenix__Control__SpliceReply *)m;
        break;
    case PHOENIX__CONTROL__RESPONSE__BODY_RECONFIGURE:
        resp->reconfigure = (Phoenix__Control__ReconfigureReply *)m;
        break;
    case PHOENIX__CONTROL__RESPONSE__BODY_METRICS:
        resp->metrics = (Phoenix__Control__MetricsReply *)m;
        break;
    default:    /* the engine admin reply */
        resp->engine_admin = (Phoenix__Control__EngineAdminReply *)m;
        break;
    }
}

/* An admin's free text cut short and made printable, so that it stays on its one log line. */
static const char *log_text(const char *text, char out[ADMIN_TEXT_MAX])
{
    size_t n = 0;

    for (const char *p = text ? text : ""; *p && n < ADMIN_TEXT_MAX - 1; p++)
        out[n++] = isprint((unsigned char)*p) ? *p : '?';
    out[n] = '\0';
    return out;
}

/* ---- who may touch what (admin.h) ----------------------------------------------------------- */

/* An administrator may touch any app; anyone else only their own. False with the reason in
 * RESP. */
static bool may_touch_app(const struct phx_peer *peer, const struct phx_subscription *sub,
                          Phoenix__Control__Response *resp)
{
    if (peer->admin || sub->uid == peer->uid)
        return true;
    phx_response_fail(resp, PHX_PERMISSION_DENIED, "pid %d sid %u belongs to uid %d: only its "
                      "owner or an administrator may change its policies", (int)sub->pid,
                      sub->sid, (int)sub->uid);
    return false;
}

/* May PEER change or remove engine E (detach, reconfigure, admin requests other than stats)?
 * Administrators may; the owner of E's app only if E is an addon an administrator did not
 * attach. */
static bool may_change_engine(const struct phx_peer *peer, const phx_engine_t *e,
                              Phoenix__Control__Response *resp)
{
    if (!may_touch_app(peer, e->sub, resp))
        return false;
    if (peer->admin || (e->addon && !e->attached_by_admin))
        return true;
    phx_response_fail(resp, PHX_PERMISSION_DENIED, "%s (engine %llu) of pid %d was %s: only an "
                      "administrator may change or remove it", e->ops->type,
                      (unsigned long long)e->id, (int)e->sub->pid,
                      e->addon ? "attached by an administrator" : "set up by the service");
    return false;
}

/* ---- plugins -------------------------------------------------------------------------------- */

static Phoenix__Control__Plugin *plugin_reply(const struct phx_plugin *p)
{
    const struct phx_plugin_info *d = p->desc;
    Phoenix__Control__Plugin *m = malloc(sizeof(*m));

    if (!m)
        return NULL;
    phoenix__control__plugin__init(m);
    m->name = strdup(d->name ? d->name : "");
    m->version = strdup(d->version ? d->version : "");
    m->path = strdup(p->path ? p->path : "");
    m->live = p->live;
    m->engine_types = calloc(d->n_engines ? d->n_engines : 1, sizeof(*m->engine_types));
    bool ok = m->name && m->version && m->path && m->engine_types;
    for (unsigned i = 0; ok && i < d->n_engines; i++) {
        ok = (m->engine_types[i] = strdup(d->engines[i]->type)) != NULL;
        m->n_engine_types += ok;
    }
    if (!ok) {
        phoenix__control__plugin__free_unpacked(m, NULL);
        return NULL;
    }
    return m;
}

int phx_admin_plugins(struct phx_service *svc, const struct phx_peer *peer,
                      const Phoenix__Control__Request *req, Phoenix__Control__Response *resp)
{
    Phoenix__Control__PluginsReply *reply = malloc(sizeof(*reply));
    unsigned n = 0;

    if (!reply)
        goto oom;
    phoenix__control__plugins_reply__init(reply);
    resp->body_case = PHOENIX__CONTROL__RESPONSE__BODY_PLUGINS;
    resp->plugins = reply;      /* from here on freed with RESP */
    for (struct phx_plugin *p = svc->registry.plugins; p; p = p->next)
        n++;
    reply->plugins = calloc(n ? n : 1, sizeof(*reply->plugins));
    if (!reply->plugins)
        goto oom;
    /* Current builds first: the order is how a client tells a superseded build from its
     * successor (the reply has no field for it). */
    for (int pass = 0; pass < 2; pass++) {
        for (struct phx_plugin *p = svc->registry.plugins; p; p = p->next) {
            if (p->current != (pass == 0))
                continue;
            if (!(reply->plugins[reply->n_plugins] = plugin_reply(p)))
                goto oom;
            reply->n_plugins++;
        }
    }
    return 0;
oom:
    fail_oom(resp, "listing plugins");
    return 0;
}

/* ---- topology ------------------------------------------------------------------------------- */

/* service.c computes the placement at start and keeps only the CPU lists it pinned threads to;
 * the same function on the same inputs (phx_service_placement_params and the topology) gives
 * the same decision, so it is recomputed here rather than stored twice. */
static char *placement_json(struct phx_service *svc, char *err, size_t errlen)
{
    const phx_config_t *cfg = svc->cfg;
    const char *xml = *cfg->topology.xml ? cfg->topology.xml : NULL;
    struct phx_placement_params params;
    char from[128];
    hwloc_topology_t topo;
    phx_placement_t pl;
    char *json = NULL;

    phx_service_placement_params(svc, &params, from, sizeof(from));
    if (phx_topology_load(&topo, xml, err, errlen) < 0)
        return NULL;
    if (phx_placement_compute(topo, &params, &pl, err, errlen) == 0) {
        if (!(json = phx_placement_to_json(&pl)))
            snprintf(err, errlen, "cannot format the placement: %s", strerror(errno));
        phx_placement_free(&pl);
    }
    hwloc_topology_destroy(topo);
    return json;
}

int phx_admin_topology(struct phx_service *svc, const struct phx_peer *peer,
                       const Phoenix__Control__Request *req, Phoenix__Control__Response *resp)
{
    char err[ADMIN_MSG_MAX] = "";
    char *json = placement_json(svc, err, sizeof(err));

    if (!json) {
        phx_response_fail(resp, PHX_FAILED_PRECONDITION, "no placement: %s", err);
        return 0;
    }
    reply_text(resp, PHOENIX__CONTROL__RESPONSE__BODY_TOPOLOGY,
               &phoenix__control__topology_reply__descriptor, json);
    return 0;
}

/* ---- upgrade -------------------------------------------------------------------------------- */

/* The service resolves no relative path: its working directory is not the admin's. */
static bool upgrade_paths_valid(const Phoenix__Control__UpgradeRequest *u,
                                Phoenix__Control__Response *resp)
{
    if (u->n_paths == 0) {
        phx_response_fail(resp, PHX_INVALID_ARGUMENT, "upgrade needs at least one plugin path");
        return false;
    }
    for (size_t i = 0; i < u->n_paths; i++) {
        if (u->paths[i][0] != '/') {
            phx_response_fail(resp, PHX_INVALID_ARGUMENT,
                              "plugin path '%s' is not absolute", u->paths[i]);
            return false;
        }
    }
    return true;
}

int phx_admin_upgrade(struct phx_service *svc, const struct phx_peer *peer,
                      const Phoenix__Control__Request *req, Phoenix__Control__Response *resp)
{
    const Phoenix__Control__UpgradeRequest *u = req->upgrade;
    char msg[ADMIN_MSG_MAX] = "";
    char path[ADMIN_TEXT_MAX];

    if (!upgrade_paths_valid(u, resp))
        return 0;
    int rc = phx_upgrade(&svc->registry, svc->subs, (const char *const *)u->paths,
                         (unsigned)u->n_paths, msg, sizeof(msg));
    log_admin(peer, "upgrade %s%s: %s%s", log_text(u->paths[0], path),
              u->n_paths > 1 ? " and more" : "", rc ? "refused: " : "", msg);
    if (rc)
        phx_response_fail(resp, phx_status_of_errno(rc), "%s", msg);
    else
        reply_text(resp, PHOENIX__CONTROL__RESPONSE__BODY_UPGRADE,
                   &phoenix__control__upgrade_reply__descriptor, strdup(msg));
    return 0;
}

/* ---- splice --------------------------------------------------------------------------------- */

static void splice_run(struct phx_service *svc, struct phx_subscription *sub,
                       const struct phx_addon_desc *d, const char *who,
                       const struct phx_peer *peer, Phoenix__Control__Response *resp)
{
    const char *verb = d->op == PHX_ADDON_ATTACH ? "attach" : "detach";
    char err[ADMIN_MSG_MAX] = "";
    int rc = phx_splice(&svc->registry, sub, d, err, sizeof(err));
    char *msg = NULL;

    log_admin(peer, "%s %s, pid %d sid %u (%s): %s%s", verb, d->engine, (int)sub->pid,
              sub->sid, who, rc ? "refused: " : "done", rc ? err : "");
    if (rc) {
        phx_response_fail(resp, phx_status_of_errno(rc), "%s", err);
        return;
    }
    bool attach = d->op == PHX_ADDON_ATTACH;
    phx_engine_t *e = attach ? phx_subscription_find(sub, d->engine) : NULL;
    if (e) {
        e->attached_uid = peer->uid;
        e->attached_by_admin = peer->admin;
    }
    if (asprintf(&msg, "%s %s %s pid %d sid %u", attach ? "attached" : "detached", d->engine,
                 attach ? "to" : "from", (int)sub->pid, sub->sid) < 0)
        msg = NULL;
    reply_text(resp, PHOENIX__CONTROL__RESPONSE__BODY_SPLICE,
               &phoenix__control__splice_reply__descriptor, msg);
}

int phx_admin_splice(struct phx_service *svc, const struct phx_peer *peer,
                     const Phoenix__Control__Request *req, Phoenix__Control__Response *resp)
{
    const Phoenix__Control__SpliceRequest *s = req->splice;
    struct phx_subscription *sub = phx_service_find(svc, (pid_t)s->pid, s->sid);
    char origin[ADMIN_TEXT_MAX];
    const char *who = s->origin && *s->origin ? log_text(s->origin, origin) : "no origin given";
    struct phx_addon_desc d;
    char err[ADMIN_MSG_MAX] = "";

    if (!sub || !may_touch_app(peer, sub, resp)) {
        if (!sub)
            phx_response_fail(resp, PHX_NOT_FOUND, "no subscription pid %u sid %u", s->pid,
                              s->sid);
        return 0;
    }
    if (phx_addon_desc_parse(s->descriptor_text, "descriptor", &d, err, sizeof(err)) != 0) {
        log_admin(peer, "splice of pid %u sid %u (%s) refused: %s", s->pid, s->sid, who, err);
        phx_response_fail(resp, PHX_INVALID_ARGUMENT, "%s", err);
        return 0;
    }
    phx_engine_t *target = d.op == PHX_ADDON_DETACH ? phx_subscription_find(sub, d.engine) : NULL;
    if (target ? may_change_engine(peer, target, resp) : may_touch_app(peer, sub, resp))
        splice_run(svc, sub, &d, who, peer, resp);
    else
        log_admin(peer, "splice of pid %u sid %u (%s) refused: %s", s->pid, s->sid, who,
                  resp->error);
    phx_addon_desc_fini(&d);
    return 0;
}

/* ---- engine admin --------------------------------------------------------------------------- */

static phx_engine_t *engine_find(struct phx_service *svc, uint64_t id)
{
    for (struct phx_subscription *sub = svc->subs; sub; sub = sub->next)
        for (unsigned i = 0; i < sub->n_engines; i++)
            if (sub->engines[i]->id == id)
                return sub->engines[i];
    return NULL;
}

/* admin_handlers.h: E's admin() with its group suspended. */
int phx_admin_engine_ask(phx_engine_t *e, const char *request, char **reply, char *err,
                         size_t errlen)
{
    struct phx_subscription *sub = e->sub;
    int rc = sub->runtime ? phx_runtime_suspend(sub->runtime, sub) : 0;

    *reply = NULL;
    if (rc) {
        snprintf(err, errlen, "cannot suspend the engine group: %s", strerror(-rc));
        return rc;
    }
    rc = e->ops->admin(e, e->state, request, reply);
    if (sub->runtime && phx_runtime_resume(sub->runtime, sub) != 0)
        phx_error("pid %d sid %u: cannot resume the engine group", (int)sub->pid, sub->sid);
    if (rc == -ENOTSUP || rc == -EINVAL)
        snprintf(err, errlen, "%s (engine %llu) does not understand '%s'", e->ops->type,
                 (unsigned long long)e->id, request);
    else if (rc)
        snprintf(err, errlen, "%s (engine %llu) failed '%s': %s", e->ops->type,
                 (unsigned long long)e->id, request, strerror(rc < 0 ? -rc : EIO));
    if (rc) {
        free(*reply);
        *reply = NULL;
    }
    return rc;
}

int phx_admin_engine(struct phx_service *svc, const struct phx_peer *peer,
                     const Phoenix__Control__Request *req, Phoenix__Control__Response *resp)
{
    const Phoenix__Control__EngineAdminRequest *a = req->engine_admin;
    phx_engine_t *e = engine_find(svc, a->engine_id);
    char err[ADMIN_MSG_MAX] = "";
    char text[ADMIN_TEXT_MAX];
    char *reply;

    if (!e) {
        phx_response_fail(resp, PHX_NOT_FOUND, "no engine %llu", (unsigned long long)a->engine_id);
        return 0;
    }
    if (!a->request || !*a->request) {
        phx_response_fail(resp, PHX_INVALID_ARGUMENT, "an engine request needs text, e.g. stats");
        return 0;
    }
    /* stats only reads; any other request may change the engine */
    if (strcmp(a->request, "stats") == 0 ? !may_touch_app(peer, e->sub, resp)
                                         : !may_change_engine(peer, e, resp))
        return 0;
    if (!e->ops->admin) {
        phx_response_fail(resp, PHX_UNIMPLEMENTED, "%s (engine %llu) takes no admin requests",
                          e->ops->type, (unsigned long long)e->id);
        return 0;
    }
    int rc = phx_admin_engine_ask(e, a->request, &reply, err, sizeof(err));
    log_admin(peer, "engine %llu (%s) request '%s': %s", (unsigned long long)e->id,
              e->ops->type, log_text(a->request, text), rc ? err : "done");
    if (rc == -ENOTSUP || rc == -EINVAL)
        phx_response_fail(resp, PHX_INVALID_ARGUMENT, "%s", err);
    else if (rc)
        phx_response_fail(resp, PHX_INTERNAL, "%s", err);
    else
        reply_text(resp, PHOENIX__CONTROL__RESPONSE__BODY_ENGINE_ADMIN,
                   &phoenix__control__engine_admin_reply__descriptor,
                   reply ? reply : strdup("{}"));
    return 0;
}

/* ---- reconfigure ---------------------------------------------------------------------------- */

/* Runs E's reconfigure() with CONFIG while its group is off the runtime thread. 0, or a negative
 * errno with one sentence in ERR. */
static int engine_reconfigure(phx_engine_t *e, const char *config, char *err, size_t errlen)
{
    struct phx_subscription *sub = e->sub;
    int rc = sub->runtime ? phx_runtime_suspend(sub->runtime, sub) : 0;

    if (rc) {
        snprintf(err, errlen, "cannot suspend the engine group: %s", strerror(-rc));
        return rc;
    }
    rc = e->ops->reconfigure(e, e->state, config, err, errlen);
    if (sub->runtime && phx_runtime_resume(sub->runtime, sub) != 0)
        phx_error("pid %d sid %u: cannot resume the engine group", (int)sub->pid, sub->sid);
    if (rc && !err[0])
        snprintf(err, errlen, "%s (engine %llu) refused the settings: %s", e->ops->type,
                 (unsigned long long)e->id, strerror(rc < 0 ? -rc : EIO));
    return rc;
}

int phx_admin_reconfigure(struct phx_service *svc, const struct phx_peer *peer,
                          const Phoenix__Control__Request *req, Phoenix__Control__Response *resp)
{
    const Phoenix__Control__ReconfigureRequest *a = req->reconfigure;
    phx_engine_t *e = engine_find(svc, a->engine_id);
    char err[ADMIN_MSG_MAX] = "";
    char text[ADMIN_TEXT_MAX];
    char *msg = NULL;

    if (!e) {
        phx_response_fail(resp, PHX_NOT_FOUND, "no engine %llu", (unsigned long long)a->engine_id);
        return 0;
    }
    if (!a->config_string || !*a->config_string) {
        phx_response_fail(resp, PHX_INVALID_ARGUMENT, "a reconfigure request needs settings, "
                          "e.g. requests_per_sec = 2000;");
        return 0;
    }
    if (!may_change_engine(peer, e, resp)) {
        log_admin(peer, "engine %llu (%s) reconfigure refused: %s", (unsigned long long)e->id,
                  e->ops->type, resp->error);
        return 0;
    }
    if (!e->ops->reconfigure) {
        phx_response_fail(resp, PHX_UNIMPLEMENTED, "%s (engine %llu) cannot change its settings "
                          "while it runs", e->ops->type, (unsigned long long)e->id);
        return 0;
    }
    int rc = engine_reconfigure(e, a->config_string, err, sizeof(err));
    log_admin(peer, "engine %llu (%s) reconfigure '%s': %s", (unsigned long long)e->id,
              e->ops->type, log_text(a->config_string, text), rc ? err : "done");
    if (rc) {
        phx_response_fail(resp, rc == -EINVAL ? PHX_INVALID_ARGUMENT : phx_status_of_errno(rc),
                          "%s", err);
        return 0;
    }
    if (asprintf(&msg, "reconfigured %s (engine %llu)", e->ops->type,
                 (unsigned long long)e->id) < 0)
        msg = NULL;
    reply_text(resp, PHOENIX__CONTROL__RESPONSE__BODY_RECONFIGURE,
               &phoenix__control__reconfigure_reply__descriptor, msg);
    return 0;
}

/* ---- metrics -------------------------------------------------------------------------------- */

int phx_admin_metrics(struct phx_service *svc, const struct phx_peer *peer,
                      const Phoenix__Control__Request *req, Phoenix__Control__Response *resp)
{
    struct phx_metrics_scope scope = { .all = peer->admin, .uid = peer->uid };

    reply_text(resp, PHOENIX__CONTROL__RESPONSE__BODY_METRICS,
               &phoenix__control__metrics_reply__descriptor, phx_metrics_text(svc, &scope));
    return 0;
}
