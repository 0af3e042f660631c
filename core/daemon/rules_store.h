/* rules_store.h - the standing rules on disk, so that they outlive a restart of phoenixd.
 *
 * The file is STATE/rules.conf, STATE being phoenix.conf's state_dir, or the prefix when that is
 * "" (docs/policies.md, "Standing rules"). It is libconfig, written by the service through the
 * settings helper (one schema table for a rule), rewritten whole on every change: to a
 * temporary file in the same directory, 0600, flushed to disk, then renamed over the old one,
 * so that a crash leaves the old file or the new one, never a mix.
 *
 * At start-up the file is read before any app can register. It is untrusted input: it must be a
 * regular file (not a link) owned by the service's uid and neither readable nor writable by
 * anyone else, at most PHX_RULES_FILE_MAX bytes, without @include, ending with its rule count
 * (a truncated file is found out), and every rule is checked as a request to add it would be
 * (selector, job, an engine type a loaded plugin provides, its creator's limits). An absent file
 * means no rules. Any other fault refuses the start with one line naming the file, the line and
 * the key: an administrator's policy is never dropped without a word. */
#ifndef PHX_RULES_STORE_H
#define PHX_RULES_STORE_H

#include <stddef.h>

struct phx_service;

#define PHX_RULES_FILE     "rules.conf"
#define PHX_RULES_FILE_MAX (8u << 20)

/* Reads the rules file into SVC, which holds no rule yet: 0 (the file is absent, or every rule
 * in it was taken, with the ids it gives), or -1 with one line in ERR and no rule taken. Control
 * thread, at start-up, after the plugins are loaded. */
int phx_rules_load(struct phx_service *svc, char *err, size_t errlen);

/* Writes SVC's rules but the dropped ones, as described above: 0, or -1 with one line in ERR
 * (the old file is then left as it was). Control thread. */
int phx_rules_save(const struct phx_service *svc, char *err, size_t errlen);

#endif /* PHX_RULES_STORE_H */
