/* upgrade.h - live upgrade: replacing plugins under running engines.
 *
 * phx_upgrade() loads new builds of plugins that are already loaded and moves every engine of
 * those plugins onto them: with the engine groups suspended, each engine is flushed, its state is
 * dumped by the old build and restored by the new one (which may convert older state versions),
 * and only when every engine's state was restored are the engines switched over, all at once.
 * The engine wrappers and their channels stay as they are, so queued descriptors wait in place
 * and engine ids do not change. If any step fails (unknown plugin, engine type missing from the
 * new build, different port counts, state refused), the new states are dropped, the old build
 * keeps running every engine, and the candidates are unloaded. A superseded build is dlclose()d
 * when its last engine has moved. */
#ifndef PHX_UPGRADE_H
#define PHX_UPGRADE_H

#include <stddef.h>

#include "graph.h"

struct phx_registry;

/* Upgrades the plugins at PATHS (NPATHS of them) for every subscription of the list SUBS
 * (linked through ->next; NULL for none). Returns 0 with a summary in MSG such as
 * "upgraded null 1.0.0 -> 2.0.0 (3 engines)", or a negative errno with the reason in MSG. */
int phx_upgrade(struct phx_registry *reg, struct phx_subscription *subs,
                const char *const *paths, unsigned npaths, char *msg, size_t msglen);

#endif /* PHX_UPGRADE_H */
