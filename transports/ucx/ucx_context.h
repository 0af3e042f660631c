/* ucx_context.h - the one ucp_context the transport's engines share, and the UCX settings it is
 * created with.
 *
 * The first engine created makes the context, the last one destroyed cleans it up; every engine
 * holds one reference. The reference count lives in the context itself, not in this build's
 * globals, because a live upgrade hands engines (and their references) from one build of the
 * plugin to the next. */
#ifndef PHX_UCX_CONTEXT_H
#define PHX_UCX_CONTEXT_H

#include <pthread.h>
#include <stddef.h>
#include <ucp/api/ucp.h>

struct phx_ucx_context {
    ucp_context_h   ucp;
    pthread_mutex_t lock;       /* guards refs, across builds of the plugin */
    unsigned        refs;
};

/* UCX settings the transport sets unless the environment names them (ucx_context.c). */
#define PHX_UCX_KEEPALIVE_INTERVAL "1s"
#define PHX_UCX_TCP_KEEPIDLE       "1s"
#define PHX_UCX_TCP_KEEPINTVL      "500ms"
#define PHX_UCX_TCP_KEEPCNT        "2"

/* A reference to the shared context, created on first use from phx_config_current()'s ucx
 * section. NULL with a sentence in ERR. */
struct phx_ucx_context *phx_ucx_context_acquire(char *err, size_t errlen);
/* Drops one reference; the last one cleans the context up. */
void phx_ucx_context_release(struct phx_ucx_context *c);
/* Live upgrade: an engine restored in this build brings C and its reference along; engines this
 * build creates later share C too unless it already has a context of its own. */
void phx_ucx_context_adopt(struct phx_ucx_context *c);

#endif /* PHX_UCX_CONTEXT_H */
