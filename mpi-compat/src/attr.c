/* attr.c - communicator attributes: keyvals with their copy and delete callbacks, the values set
 * on communicators, and the predefined attributes of MPI_COMM_WORLD (MPI_TAG_UB, MPI_HOST, MPI_IO,
 * MPI_WTIME_IS_GLOBAL, MPI_UNIVERSE_SIZE, MPI_APPNUM).
 *
 * A keyval is an index into a table that grows; it lives until it was freed AND no communicator
 * holds a value of it any more (MPI-3.1 6.7.2), so MPI_Comm_free_keyval on a keyval in use only
 * marks it. MPI_Comm_dup calls each value's copy callback (mpix_attr_copy); MPI_Comm_free and
 * MPI_Comm_delete_attr call the delete callback, as do MPI_Comm_set_attr on a value already set
 * and MPI_Finalize for MPI_COMM_SELF's. A callback's non-zero return is the MPI call's error.
 * Predefined keyvals are read-only: their values live here, not on a communicator, and are
 * answered for MPI_COMM_WORLD and the communicators duplicated from it (MPI_Comm_dup copies
 * them), not for MPI_COMM_SELF or split ones: as Open MPI does (MPICH has them everywhere). */
#include "core.h"

#include <stdlib.h>

#define FIRST_USER_KEYVAL 16          /* below: the predefined ones (mpi.h) */

struct keyval {
    MPI_Comm_copy_attr_function   *copy_fn;
    MPI_Comm_delete_attr_function *delete_fn;
    void                          *extra;
    int                            users;   /* communicators holding a value of it */
    bool                           live;    /* created and not freed by the program */
};

struct mpix_attr {
    struct mpix_attr *next;
    int               keyval;
    void             *value;
};

static struct {
    struct keyval *kv;                /* index: keyval - FIRST_USER_KEYVAL */
    int            n, cap;
} keys;

/* The predefined values (pointers to them are what MPI_Comm_get_attr returns). */
static int tag_ub = MPI_TAG_UB_VALUE, host = MPI_PROC_NULL, io = MPI_ANY_SOURCE,
           wtime_is_global = 0, universe_size, appnum = 0;

/* ---- the standard's callbacks ---------------------------------------------------------------- */

int mpix_comm_null_copy_fn(MPI_Comm comm, int keyval, void *extra, void *in, void *out, int *flag)
{
    (void)comm, (void)keyval, (void)extra, (void)in, (void)out;
    *flag = 0;
    return MPI_SUCCESS;
}

int mpix_comm_dup_fn(MPI_Comm comm, int keyval, void *extra, void *in, void *out, int *flag)
{
    (void)comm, (void)keyval, (void)extra;
    *(void **)out = in;
    *flag = 1;
    return MPI_SUCCESS;
}

int mpix_comm_null_delete_fn(MPI_Comm comm, int keyval, void *value, void *extra)
{
    (void)comm, (void)keyval, (void)value, (void)extra;
    return MPI_SUCCESS;
}

/* ---- keyvals --------------------------------------------------------------------------------- */

static struct keyval *keyval_get(int keyval)
{
    int i = keyval - FIRST_USER_KEYVAL;
    return i >= 0 && i < keys.n && (keys.kv[i].live || keys.kv[i].users) ? &keys.kv[i] : NULL;
}

static bool predefined(int keyval)
{
    return keyval >= MPI_TAG_UB && keyval <= MPI_APPNUM;
}

static void keyval_unuse(int keyval)
{
    keyval_get(keyval)->users--;      /* a keyval neither live nor used is never handed out again */
}

int MPI_Comm_create_keyval(MPI_Comm_copy_attr_function *copy_fn,
                           MPI_Comm_delete_attr_function *delete_fn, int *keyval, void *extra)
{
    mpix_check_init("MPI_Comm_create_keyval");
    if (!keyval)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG, "MPI_Comm_create_keyval: comm_keyval is NULL");
    if (keys.n == keys.cap) {
        int cap = keys.cap ? 2 * keys.cap : 16;
        struct keyval *kv = realloc(keys.kv, (size_t)cap * sizeof(*kv));
        if (!kv)
            return mpix_err(MPI_COMM_WORLD, MPI_ERR_NO_MEM, "MPI_Comm_create_keyval: out of memory");
        keys.kv = kv;
        keys.cap = cap;
    }
    keys.kv[keys.n] = (struct keyval){ .copy_fn = copy_fn ? copy_fn : mpix_comm_null_copy_fn,
                                       .delete_fn = delete_fn ? delete_fn : mpix_comm_null_delete_fn,
                                       .extra = extra, .live = true };
    *keyval = FIRST_USER_KEYVAL + keys.n++;
    return MPI_SUCCESS;
}

int MPI_Comm_free_keyval(int *keyval)
{
    mpix_check_init("MPI_Comm_free_keyval");
    struct keyval *k = keyval ? keyval_get(*keyval) : NULL;
    if (!k || !k->live)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_KEYVAL, "MPI_Comm_free_keyval: %s",
                        keyval && predefined(*keyval) ? "a predefined keyval cannot be freed"
                                                      : "no keyval of MPI_Comm_create_keyval");
    k->live = false;
    *keyval = MPI_KEYVAL_INVALID;
    return MPI_SUCCESS;
}

/* ---- values on communicators ------------------------------------------------------------------- */

static struct mpix_attr **attr_find(MPI_Comm c, int keyval)
{
    struct mpix_attr **ap = &c->attrs;
    while (*ap && (*ap)->keyval != keyval)
        ap = &(*ap)->next;
    return ap;
}

/* Runs the delete callback of *AP's value and, when it agrees, unlinks and frees it. */
static int attr_remove(MPI_Comm c, struct mpix_attr **ap)
{
    struct mpix_attr *a = *ap;
    struct keyval *k = keyval_get(a->keyval);
    int rc = k->delete_fn(c, a->keyval, a->value, k->extra);

    if (rc != MPI_SUCCESS)
        return rc;
    *ap = a->next;
    keyval_unuse(a->keyval);
    free(a);
    return MPI_SUCCESS;
}

/* Checks COMM and KEYVAL for FN; a user keyval's entry in *K. */
static int attr_check(MPI_Comm comm, int keyval, const char *fn, struct keyval **k)
{
    mpix_check_init(fn);
    if (mpix_comm_check(comm) != MPI_SUCCESS)
        return mpix_err(comm, MPI_ERR_COMM, "%s: the communicator is MPI_COMM_NULL, freed or no "
                        "communicator", fn);
    *k = keyval_get(keyval);
    if (!*k && !predefined(keyval))
        return mpix_err(comm, MPI_ERR_KEYVAL, "%s: %d is no keyval (freed, or never made by "
                        "MPI_Comm_create_keyval)", fn, keyval);
    return MPI_SUCCESS;
}

int MPI_Comm_set_attr(MPI_Comm comm, int keyval, void *value)
{
    struct keyval *k;
    int rc = attr_check(comm, keyval, "MPI_Comm_set_attr", &k);
    if (rc != MPI_SUCCESS)
        return rc;
    if (!k || !k->live)
        return mpix_err(comm, MPI_ERR_KEYVAL, "MPI_Comm_set_attr: keyval %d is %s", keyval,
                        k ? "freed" : "predefined (read-only)");
    struct mpix_attr **ap = attr_find(comm, keyval);
    if (*ap && (rc = attr_remove(comm, ap)) != MPI_SUCCESS)
        return mpix_err(comm, rc, "MPI_Comm_set_attr: the delete callback of the old value "
                        "returned %d", rc);
    struct mpix_attr *a = malloc(sizeof(*a));
    if (!a)
        return mpix_err(comm, MPI_ERR_NO_MEM, "MPI_Comm_set_attr: out of memory");
    *a = (struct mpix_attr){ .next = comm->attrs, .keyval = keyval, .value = value };
    comm->attrs = a;
    k->users++;
    return MPI_SUCCESS;
}

/* A predefined attribute's value, or NULL when COMM has none. */
static void *predefined_value(MPI_Comm comm, int keyval)
{
    int *const values[] = { &tag_ub, &host, &io, &wtime_is_global, &universe_size, &appnum };

    if (!comm->predefined)
        return NULL;
    universe_size = mpix_env.world_size;
    return values[keyval - MPI_TAG_UB];
}

int MPI_Comm_get_attr(MPI_Comm comm, int keyval, void *value, int *flag)
{
    struct keyval *k;
    int rc = attr_check(comm, keyval, "MPI_Comm_get_attr", &k);
    if (rc == MPI_SUCCESS && (!value || !flag))
        rc = mpix_err(comm, MPI_ERR_ARG, "MPI_Comm_get_attr: attribute_val or flag is NULL");
    if (rc != MPI_SUCCESS)
        return rc;
    struct mpix_attr *a = k ? *attr_find(comm, keyval) : NULL;
    void *v = k ? (a ? a->value : NULL) : predefined_value(comm, keyval);
    *flag = k ? a != NULL : v != NULL;
    if (*flag)
        *(void **)value = v;
    return MPI_SUCCESS;
}

int MPI_Comm_delete_attr(MPI_Comm comm, int keyval)
{
    struct keyval *k;
    int rc = attr_check(comm, keyval, "MPI_Comm_delete_attr", &k);
    if (rc != MPI_SUCCESS)
        return rc;
    struct mpix_attr **ap = k ? attr_find(comm, keyval) : NULL;
    if (!ap || !*ap)
        return mpix_err(comm, MPI_ERR_KEYVAL, "MPI_Comm_delete_attr: the communicator has no "
                        "value of keyval %d", keyval);
    if ((rc = attr_remove(comm, ap)) != MPI_SUCCESS)
        return mpix_err(comm, rc, "MPI_Comm_delete_attr: the delete callback returned %d", rc);
    return MPI_SUCCESS;
}

/* ---- the core's hooks (comm.c, env.c) ----------------------------------------------------------- */

int mpix_attr_copy(MPI_Comm from, MPI_Comm to)
{
    to->predefined = from->predefined;
    for (struct mpix_attr *a = from->attrs; a; a = a->next) {
        struct keyval *k = keyval_get(a->keyval);
        void *out = NULL;
        int flag = 0, rc = k->copy_fn(from, a->keyval, k->extra, a->value, &out, &flag);
        if (rc != MPI_SUCCESS)
            return rc;
        struct mpix_attr *b = flag ? malloc(sizeof(*b)) : NULL;
        if (flag && !b)
            return MPI_ERR_NO_MEM;
        if (!flag)
            continue;
        *b = (struct mpix_attr){ .next = to->attrs, .keyval = a->keyval, .value = out };
        to->attrs = b;
        k->users++;
    }
    return MPI_SUCCESS;
}

int mpix_attr_delete_all(MPI_Comm c)
{
    int rc = MPI_SUCCESS;

    while (c->attrs && (rc = attr_remove(c, &c->attrs)) == MPI_SUCCESS)
        ;
    return rc;
}

void mpix_attr_fini(void)
{
    free(keys.kv);
    keys.kv = NULL;
    keys.n = keys.cap = 0;
}

/* ---- MPI-1's names ------------------------------------------------------------------------------ */

int MPI_Keyval_create(MPI_Copy_function *copy_fn, MPI_Delete_function *delete_fn, int *keyval,
                      void *extra_state)
{
    return MPI_Comm_create_keyval(copy_fn, delete_fn, keyval, extra_state);
}

int MPI_Keyval_free(int *keyval)
{
    return MPI_Comm_free_keyval(keyval);
}

int MPI_Attr_put(MPI_Comm comm, int keyval, void *attribute_val)
{
    return MPI_Comm_set_attr(comm, keyval, attribute_val);
}

int MPI_Attr_get(MPI_Comm comm, int keyval, void *attribute_val, int *flag)
{
    return MPI_Comm_get_attr(comm, keyval, attribute_val, flag);
}

int MPI_Attr_delete(MPI_Comm comm, int keyval)
{
    return MPI_Comm_delete_attr(comm, keyval);
}
