/* rules.h - the AclEngine's rules: parsed from libconfig text, matched against a call.
 *
 * A rule list is what `rules = ( { ... }, ... );` says, in order; the first rule whose every
 * condition holds decides, and when none does the default does. A condition left out holds for
 * every call. Services and methods are matched by protoc-gen-mrpc's stable ids (mrpc_id_of() of
 * the full name), so a name is hashed once, when the rules are read. */
#ifndef ACL_RULES_H
#define ACL_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACL_RULES_MAX 256
#define ACL_NAME_MAX  64

enum acl_action { ACL_ALLOW = 0, ACL_DENY = 1 };

enum acl_has {
    ACL_HAS_SERVICE = 1u << 0,
    ACL_HAS_METHOD  = 1u << 1,
    ACL_HAS_UID     = 1u << 2,
    ACL_HAS_GID     = 1u << 3,
};

struct acl_rule {
    char     name[ACL_NAME_MAX];
    uint32_t action;            /* enum acl_action */
    uint32_t has;               /* enum acl_has: the conditions given */
    uint32_t service_id, method_id;
    uint32_t uid, gid;
    uint64_t hits;              /* calls this rule decided */
};

struct acl_rules {
    unsigned        n;
    struct acl_rule rule[ACL_RULES_MAX];
};

/* Who calls: the app's credentials (known: false until the app port told them). */
struct acl_caller {
    bool     known;
    uint32_t uid, gid;
};

/* What TEXT (libconfig, named ORIGIN in errors) sets: the rules when it has `rules` (*HAS_RULES
 * true, OUT filled), the default when it has `default` (*DFLT set, else left as it is). 0, or -1
 * with one line "ORIGIN:line: key: what" in ERR and nothing changed. Control thread. */
int acl_rules_parse(const char *text, const char *origin, struct acl_rules *out, bool *has_rules,
                    uint32_t *dflt, char *err, size_t errlen);

/* The rule of R that decides a call of SERVICE_ID/METHOD_ID by CALLER, or NULL (the default). */
struct acl_rule *acl_rules_match(struct acl_rules *r, uint32_t service_id, uint32_t method_id,
                                 const struct acl_caller *caller);

#endif /* ACL_RULES_H */
