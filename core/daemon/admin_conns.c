/* admin_conns.c - `list`'s connections of an app: the accepted connections its transport knows,
 * with the remote address and the uid and gid the peer's MUNGE credential proved.
 *
 * The service knows nothing of connections itself; the transport, the last engine of an app's
 * chain, answers the admin request "peers" with {"<id>":{"addr":"host:port","uid":N,"gid":N,
 * "authenticated":true|false},...} (transports/ucx, docs/transport.md). Asking goes through
 * phx_admin_engine_ask(), which takes the group off its runtime thread for the call, as
 * `phoenixctl engine ID peers` does. An engine that does not understand "peers" has none. */
#include "admin_conns.h"

#include "admin_handlers.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

static long long member_int(json_object *o, const char *key)
{
    json_object *v;

    return json_object_object_get_ex(o, key, &v) ? (long long)json_object_get_int64(v) : -1;
}

/* One connection of the "peers" answer: ID, its object O. NULL when out of memory. */
static Phoenix__Control__Connection *connection_of(const char *id, json_object *o)
{
    Phoenix__Control__Connection *c = malloc(sizeof(*c));
    json_object *addr, *auth;

    if (!c)
        return NULL;
    phoenix__control__connection__init(c);
    c->id = (uint32_t)strtoul(id, NULL, 10);
    c->uid = member_int(o, "uid");
    c->gid = member_int(o, "gid");
    c->authenticated = json_object_object_get_ex(o, "authenticated", &auth) &&
                       json_object_get_boolean(auth);
    c->peer = strdup(json_object_object_get_ex(o, "addr", &addr) ? json_object_get_string(addr)
                                                                 : "");
    if (!c->peer) {
        free(c);
        return NULL;
    }
    return c;
}

/* Whether M's connections, in M->connections (room for N), hold every entry of PEERS. */
static bool fill(Phoenix__Control__Subscription *m, json_object *peers, size_t n)
{
    m->connections = calloc(n ? n : 1, sizeof(*m->connections));
    if (!m->connections)
        return false;
    json_object_object_foreach(peers, id, o) {
        if (!json_object_is_type(o, json_type_object) || m->n_connections == n)
            continue;
        if (!(m->connections[m->n_connections] = connection_of(id, o)))
            return false;
        m->n_connections++;
    }
    return true;
}

int phx_admin_connections(const struct phx_subscription *sub, Phoenix__Control__Subscription *m)
{
    phx_engine_t *last = sub->n_engines ? sub->engines[sub->n_engines - 1] : NULL;
    char *reply = NULL, err[256];

    if (!last || !last->ops->admin ||
        phx_admin_engine_ask(last, "peers", &reply, err, sizeof(err)) != 0)
        return 0;           /* no admin, no "peers", no transport: nothing to list */
    json_object *peers = reply ? json_tokener_parse(reply) : NULL;
    free(reply);
    bool ok = !peers || !json_object_is_type(peers, json_type_object) ||
              fill(m, peers, (size_t)json_object_object_length(peers));
    json_object_put(peers);
    return ok ? 0 : -1;
}
