/* admin.c - dispatch of admin requests to one handler per request body (see admin.h).
 *
 * The table below maps each admin body of a Request to its handler. `list` describes every
 * subscription with its engines and its transport's accepted connections (admin_conns.c); the others are in admin_handlers.c. Handlers build their
 * reply from malloc'd pieces (see admin.h). Each route says who may send it: anyone, the owner
 * of the app it touches (the handler checks), or administrators only. */
#include "admin.h"

#include "admin_conns.h"
#include "admin_handlers.h"
#include "control_server.h"
#include "graph.h"
#include "phoenix/status.h"
#include "plugin_registry.h"
#include "rules.h"
#include "service.h"

#include <stdlib.h>
#include <string.h>

#include <stdio.h>

typedef int (*admin_handler_fn)(struct phx_service *svc, const struct phx_peer *peer,
                                const Phoenix__Control__Request *req,
                                Phoenix__Control__Response *resp);

/* ---- list ----------------------------------------------------------------------------------- */

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

static Phoenix__Control__Engine *engine_reply(const phx_engine_t *e)
{
    Phoenix__Control__Engine *m = malloc(sizeof(*m));
    if (!m)
        return NULL;
    phoenix__control__engine__init(m);
    m->id = e->id;
    m->type = dup_or_empty(e->ops->type);
    m->plugin = dup_or_empty(e->plugin ? e->plugin->desc->name : NULL);
    m->version = dup_or_empty(e->plugin ? e->plugin->desc->version : NULL);
    m->work = __atomic_load_n(&e->work, __ATOMIC_RELAXED);
    m->busy_ns = __atomic_load_n(&e->busy_ns, __ATOMIC_RELAXED);
    m->attached_uid = e->addon ? (uint32_t)e->attached_uid : 0;
    m->attached_by_admin = e->addon && e->attached_by_admin;
    if (!m->type || !m->plugin || !m->version) {
        phoenix__control__engine__free_unpacked(m, NULL);
        return NULL;
    }
    return m;
}

static Phoenix__Control__Subscription *subscription_reply(const struct phx_service *svc,
                                                          const struct phx_subscription *sub)
{
    Phoenix__Control__Subscription *m = malloc(sizeof(*m));
    bool ok = m != NULL;

    if (!ok)
        return NULL;
    phoenix__control__subscription__init(m);
    m->pid = (uint32_t)sub->pid;
    m->sid = sub->sid;
    ok = (m->service = strdup(sub->service)) != NULL;
    ok = ok && (m->job = strdup(sub->job.id)) != NULL;
    m->job_verified = sub->job.verified;
    m->runtime = sub->group.runtime_index;
    m->runtime_urgent = phx_service_runtime_kept(svc, sub->group.runtime_index);
    m->engines = calloc(sub->n_engines ? sub->n_engines : 1, sizeof(*m->engines));
    m->addons = calloc(sub->n_engines ? sub->n_engines : 1, sizeof(*m->addons));
    ok = ok && m->engines && m->addons && phx_admin_connections(sub, m) == 0;
    for (unsigned i = 0; ok && i < sub->n_engines; i++) {
        const phx_engine_t *e = sub->engines[i];
        ok = (m->engines[m->n_engines] = engine_reply(e)) != NULL;
        m->n_engines += ok;
        if (ok && e->addon) {
            ok = (m->addons[m->n_addons] = strdup(e->ops->type)) != NULL;
            m->n_addons += ok;
        }
    }
    if (!ok) {
        phoenix__control__subscription__free_unpacked(m, NULL);
        return NULL;
    }
    return m;
}

static int admin_list(struct phx_service *svc, const struct phx_peer *peer,
                      const Phoenix__Control__Request *req, Phoenix__Control__Response *resp)
{
    Phoenix__Control__ListReply *list = malloc(sizeof(*list));

    if (!list)
        goto oom;
    phoenix__control__list_reply__init(list);
    resp->body_case = PHOENIX__CONTROL__RESPONSE__BODY_LIST;
    resp->list = list;          /* from here on freed with RESP */
    list->subscriptions = calloc(svc->n_subs ? svc->n_subs : 1, sizeof(*list->subscriptions));
    if (!list->subscriptions)
        goto oom;
    for (struct phx_subscription *sub = svc->subs; sub; sub = sub->next) {
        if (!peer->admin && sub->uid != peer->uid)
            continue;           /* an ordinary user sees their own apps only */
        if (!(list->subscriptions[list->n_subscriptions] = subscription_reply(svc, sub)))
            goto oom;
        list->n_subscriptions++;
    }
    return 0;
oom:
    phx_response_fail(resp, PHX_RESOURCE_EXHAUSTED, "out of memory listing subscriptions");
    return 0;
}

/* ---- dispatch ------------------------------------------------------------------------------- */

/* ANYONE: every connected user (list shows them their own apps); OWNER: anyone, the handler
 * checks that the app is theirs (admin.h); ADMIN: administrators only. */
enum admin_who { ANYONE, OWNER, ADMIN };

static const struct admin_route {
    Phoenix__Control__Request__BodyCase body;
    const char                         *name;
    enum admin_who                      who;
    admin_handler_fn                    handle;
} routes[] = {
    { PHOENIX__CONTROL__REQUEST__BODY_LIST,         "list",         ANYONE, admin_list },
    { PHOENIX__CONTROL__REQUEST__BODY_PLUGINS,      "plugins",      ANYONE, phx_admin_plugins },
    { PHOENIX__CONTROL__REQUEST__BODY_TOPOLOGY,     "topology",     ADMIN,  phx_admin_topology },
    { PHOENIX__CONTROL__REQUEST__BODY_UPGRADE,      "upgrade",      ADMIN,  phx_admin_upgrade },
    { PHOENIX__CONTROL__REQUEST__BODY_SPLICE,       "splice",       OWNER,  phx_admin_splice },
    { PHOENIX__CONTROL__REQUEST__BODY_ENGINE_ADMIN, "engine_admin", OWNER,  phx_admin_engine },
    { PHOENIX__CONTROL__REQUEST__BODY_RECONFIGURE,  "reconfigure",  OWNER,  phx_admin_reconfigure },
    { PHOENIX__CONTROL__REQUEST__BODY_RULE_ADD,     "rule add",     OWNER,  phx_admin_rule_add },
    { PHOENIX__CONTROL__REQUEST__BODY_RULE_REMOVE,  "rule remove",  OWNER,  phx_admin_rule_remove },
    { PHOENIX__CONTROL__REQUEST__BODY_RULES,        "rules",        ANYONE, phx_admin_rules },
    { PHOENIX__CONTROL__REQUEST__BODY_METRICS,      "metrics",      ANYONE, phx_admin_metrics },
};

static const struct admin_route *route_find(Phoenix__Control__Request__BodyCase body)
{
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (routes[i].body == body)
            return &routes[i];
    return NULL;
}

int phx_admin_handle(struct phx_service *svc, const struct phx_peer *peer,
                     const Phoenix__Control__Request *req, Phoenix__Control__Response *resp)
{
    const struct admin_route *r = route_find(req->body_case);

    if (!r) {
        phx_response_fail(resp, PHX_INVALID_ARGUMENT, "not an admin request");
        return 0;
    }
    if (r->who == ADMIN && !peer->admin) {
        const char *group = svc->cfg->control.admin_group;
        if (*group)
            phx_response_fail(resp, PHX_PERMISSION_DENIED,
                              "admin requests need root or group '%s'", group);
        else
            phx_response_fail(resp, PHX_PERMISSION_DENIED, "admin requests need root");
        return 0;
    }
    int rc = r->handle(svc, peer, req, resp);
    if (resp->status != PHX_OK && (!resp->error || !*resp->error))
        phx_response_fail(resp, resp->status, "%s failed", r->name);
    return rc;
}
