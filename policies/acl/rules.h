/* rules.h - the AclEngine's rules: parsed from libconfig text, matched against a call.
 *
 * A rule list is what `rules = ( { ... }, ... );` says, in order; the first rule whose every
 * condition holds decides, and when none does the default does. A condition left out holds for
 * every call. Services and methods are matched by protoc-gen-mrpc's stable ids (mrpc_id_of() of
 * the full name), so a name is hashed once, when the rules are read.
 *
 * A rule may also test one field of the request's message (`field = "pkg.Msg.name"` and any of
 * equals, prefix, less_than, greater_than, in), read through the SDK (phx_call_field) on the copy
 * that is sent. It holds only when the message is of that type, the field is set and every test
 * holds.
 *
 * A rule with action "reply" may set fields of its reply (`reply = ( { field = "pkg.Out.f";
 * value = ...; }, ... );`, naming its method): the values are kept as read here, and checked
 * against the method's output type by the SDK (phx_policy_reply_check, phx_call_reply_set). */
#ifndef ACL_RULES_H
#define ACL_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "phoenix/policy.h"

#define ACL_RULES_MAX 256
#define ACL_NAME_MAX  64

/* REPLY (a rule's only): the ACL answers the request itself, with PHX_OK and the method's
 * output message (phx_verdict_reply): at its defaults but for the fields the rule's `reply` list
 * sets; the request never reaches the server. */
enum acl_action { ACL_ALLOW = 0, ACL_DENY = 1, ACL_REPLY = 2 };

enum acl_has {
    ACL_HAS_SERVICE = 1u << 0,
    ACL_HAS_METHOD  = 1u << 1,
    ACL_HAS_UID     = 1u << 2,
    ACL_HAS_GID     = 1u << 3,
    ACL_HAS_PEER_UID = 1u << 4,
    ACL_HAS_FIELD   = 1u << 5,
    ACL_HAS_ALL     = (1u << 6) - 1,
};

/* The tests on a rule's field. */
enum acl_op {
    ACL_OP_EQUALS  = 1u << 0,
    ACL_OP_PREFIX  = 1u << 1,
    ACL_OP_LESS    = 1u << 2,
    ACL_OP_GREATER = 1u << 3,
    ACL_OP_IN      = 1u << 4,
    ACL_OP_ALL     = (1u << 5) - 1,
};

#define ACL_PATH_MAX 128
#define ACL_TEXT_MAX 128
#define ACL_SET_MAX  8                      /* values of an `in` test */
#define ACL_ITEM_MAX 64                     /* bytes of one of them, with the NUL */

/* A number from the rules: an integer, or else a double. */
struct acl_num {
    bool    is_int;
    int64_t i;
    double  d;
};

/* A value to compare a field with: text, or a number. */
struct acl_value {
    bool           is_num;
    struct acl_num num;
    char           text[ACL_TEXT_MAX];
};

struct acl_field_test {
    char             path[ACL_PATH_MAX];    /* "pkg.Msg.field" */
    uint32_t         ops;                   /* enum acl_op */
    struct acl_value equals;
    char             prefix[ACL_TEXT_MAX];
    struct acl_num   less, greater;
    unsigned         n_in;
    struct acl_item {
        bool           is_num;
        struct acl_num num;
        char           text[ACL_ITEM_MAX];
    } in[ACL_SET_MAX];
};

/* One field a reply rule sets: `{ field = "pkg.Out.a"; value = ...; }` of its `reply` list. The
 * value as libconfig gave it: an integer (INT), a float (DOUBLE), true or false (BOOL) or a
 * text (STRING); phx_call_reply_set() says whether it suits the field. */
#define ACL_REPLY_MAX 8
struct acl_reply_field {
    char             path[ACL_PATH_MAX];
    phx_field_kind_t kind;
    int64_t          i;
    double           d;
    bool             b;
    char             text[ACL_TEXT_MAX];
    unsigned         line;      /* in the settings text, for errors found against the layouts */
};

struct acl_rule {
    char     name[ACL_NAME_MAX];
    uint32_t action;            /* enum acl_action */
    uint32_t has;               /* enum acl_has: the conditions given */
    uint32_t service_id, method_id;
    uint32_t uid, gid;
    uint32_t peer_uid;          /* the remote end's authenticated uid */
    struct acl_field_test field;
    uint64_t hits;              /* calls this rule decided */
    uint32_t reply_service_id;  /* of the method the reply answers (0: not known by name) */
    unsigned n_reply;
    struct acl_reply_field reply[ACL_REPLY_MAX];
};

struct acl_rules {
    unsigned        n;
    struct acl_rule rule[ACL_RULES_MAX];
};

/* The scalars a text may set besides the rules; each is left as it is when the text says
 * nothing of it. */
struct acl_scalars {
    uint32_t dflt;              /* enum acl_action */
    int      side;              /* index into PHX_POLICY_SIDE_NAMES */
};

/* What TEXT (libconfig, named ORIGIN in errors) sets: the rules when it has `rules` (*HAS_RULES
 * true, OUT filled), `default` and `side` into *SC. 0, or -1 with one line "ORIGIN:line: key:
 * what" in ERR and nothing changed. Control thread. */
int acl_rules_parse(const char *text, const char *origin, struct acl_rules *out, bool *has_rules,
                    struct acl_scalars *sc, char *err, size_t errlen);

/* FIELD as the SDK's value (its text valid while FIELD is). */
phx_field_t acl_reply_value(const struct acl_reply_field *field);

/* The rule of R that decides CALL (its ids, the app's uid and gid, the peer's uid), or NULL
 * (the default). A uid or gid condition never holds when the value is not known. */
struct acl_rule *acl_rules_match(struct acl_rules *r, const phx_call_t *call);

#endif /* ACL_RULES_H */
