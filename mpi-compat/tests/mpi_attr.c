/* mpi_attr.c - communicator attributes against MPI-3.1 section 6.7: the predefined attributes of
 * MPI_COMM_WORLD (MPI_TAG_UB at least 32767 and usable as a tag, MPI_HOST, MPI_IO,
 * MPI_WTIME_IS_GLOBAL 0 or 1, MPI_UNIVERSE_SIZE, MPI_APPNUM; on its duplicates too, as Open MPI
 * has them, not on MPI_COMM_SELF) and that they are read-only; user
 * keyvals with set/get/delete; the copy callbacks on MPI_Comm_dup (NULL_COPY_FN drops, DUP_FN
 * shares, a user one copies and sees its extra_state and keyval); the delete callback on
 * replacement, MPI_Comm_delete_attr, MPI_Comm_free and MPI_Finalize (for MPI_COMM_SELF); a
 * callback's error failing the call; keyvals freed while in use; bad keyvals (MPI_ERR_KEYVAL).
 * Every check compares with what the standard prescribes. */
#include "mpi_check.h"

#include <stdlib.h>
#include <string.h>

static int rank, size;
static int deletes, copies;           /* callback counts */
static int last_deleted;              /* the value the delete callback saw last */
static int extra_seen;

static int copy_plus_one(MPI_Comm old, int keyval, void *extra, void *in, void *out, int *flag)
{
    (void)old, (void)keyval;
    int *v = malloc(sizeof *v);
    *v = *(int *)in + 1;
    *(void **)out = v;
    *flag = 1;
    extra_seen = *(int *)extra;
    copies++;
    return MPI_SUCCESS;
}

static int delete_count(MPI_Comm comm, int keyval, void *value, void *extra)
{
    (void)comm, (void)keyval, (void)extra;
    deletes++;
    last_deleted = *(int *)value;
    return MPI_SUCCESS;
}

static int delete_free(MPI_Comm comm, int keyval, void *value, void *extra)
{
    delete_count(comm, keyval, value, extra);
    free(value);
    return MPI_SUCCESS;
}

static int refuse = 1;

static int delete_refuse(MPI_Comm comm, int keyval, void *value, void *extra)
{
    (void)comm, (void)keyval, (void)value, (void)extra;
    return refuse ? MPI_ERR_OTHER : MPI_SUCCESS;
}

static int copy_refuse(MPI_Comm old, int keyval, void *extra, void *in, void *out, int *flag)
{
    (void)old, (void)keyval, (void)extra, (void)in, (void)out, (void)flag;
    return MPI_ERR_ARG;
}

static void predefined(void)
{
    int *v, flag = 0, rc;

    MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &v, &flag);
    CHECK(flag && *v >= 32767, "MPI_TAG_UB: flag %d value %d", flag, flag ? *v : 0);
    if (flag && size > 1 && rank < 2) {     /* the upper bound itself is a valid tag */
        int x = rank, y = -1;
        MPI_Sendrecv(&x, 1, MPI_INT, 1 - rank, *v, &y, 1, MPI_INT, 1 - rank, *v, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE);
        CHECK(y == 1 - rank, "a message with tag MPI_TAG_UB brought %d", y);
    }
    MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_HOST, &v, &flag);
    CHECK(flag && (*v == MPI_PROC_NULL || (*v >= 0 && *v < size)), "MPI_HOST: %d %d", flag, *v);
    MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_IO, &v, &flag);
    CHECK(flag && (*v == MPI_ANY_SOURCE || *v == MPI_PROC_NULL || (*v >= 0 && *v < size)),
          "MPI_IO: %d %d", flag, *v);
    MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_WTIME_IS_GLOBAL, &v, &flag);
    CHECK(flag && (*v == 0 || *v == 1), "MPI_WTIME_IS_GLOBAL: %d %d", flag, *v);
    MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_UNIVERSE_SIZE, &v, &flag);
    CHECK(flag && *v == size, "MPI_UNIVERSE_SIZE: %d %d (size %d)", flag, *v, size);
    MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_APPNUM, &v, &flag);
    CHECK(flag && *v == 0, "MPI_APPNUM: %d %d", flag, *v);
    MPI_Attr_get(MPI_COMM_WORLD, MPI_TAG_UB, &v, &flag);       /* MPI-1's name */
    CHECK(flag && *v == MPI_TAG_UB_VALUE, "MPI_Attr_get(MPI_TAG_UB): %d", flag ? *v : 0);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    rc = MPI_Comm_set_attr(MPI_COMM_WORLD, MPI_TAG_UB, &flag);
    CHECK(rc == MPI_ERR_KEYVAL, "setting MPI_TAG_UB returned %d", rc);
    rc = MPI_Comm_delete_attr(MPI_COMM_WORLD, MPI_TAG_UB);
    CHECK(rc == MPI_ERR_KEYVAL, "deleting MPI_TAG_UB returned %d", rc);
    int kv = MPI_TAG_UB;
    rc = MPI_Comm_free_keyval(&kv);
    CHECK(rc == MPI_ERR_KEYVAL && kv == MPI_TAG_UB, "freeing MPI_TAG_UB returned %d", rc);
    MPI_Comm_get_attr(MPI_COMM_SELF, MPI_TAG_UB, &v, &flag);
    CHECK(!flag, "MPI_COMM_SELF has MPI_TAG_UB (as in Open MPI, only WORLD and its duplicates)");
    MPI_Comm d;
    MPI_Comm_dup(MPI_COMM_WORLD, &d);
    MPI_Comm_get_attr(d, MPI_TAG_UB, &v, &flag);
    CHECK(flag && *v == MPI_TAG_UB_VALUE, "a duplicate of WORLD lacks MPI_TAG_UB");
    MPI_Comm_free(&d);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    OK("predefined attributes");
}

static void set_get_delete(void)
{
    int kv, a = 10, b = 20, *v = NULL, flag = 1, rc, extra = 0;

    MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, delete_count, &kv, &extra);
    MPI_Comm_get_attr(MPI_COMM_WORLD, kv, &v, &flag);
    CHECK(!flag, "an attribute never set was found");
    MPI_Comm_set_attr(MPI_COMM_WORLD, kv, &a);
    MPI_Comm_get_attr(MPI_COMM_WORLD, kv, &v, &flag);
    CHECK(flag && v == &a, "get after set: flag %d, %p for %p", flag, (void *)v, (void *)&a);
    deletes = 0;
    MPI_Comm_set_attr(MPI_COMM_WORLD, kv, &b);                /* replaces: deletes the old one */
    CHECK(deletes == 1 && last_deleted == 10, "replacing: %d deletes, of %d", deletes, last_deleted);
    MPI_Comm_get_attr(MPI_COMM_WORLD, kv, &v, &flag);
    CHECK(flag && *v == 20, "after replacing: %d", flag ? *v : 0);
    MPI_Comm_get_attr(MPI_COMM_SELF, kv, &v, &flag);
    CHECK(!flag, "the value on WORLD was found on SELF");
    MPI_Comm_delete_attr(MPI_COMM_WORLD, kv);
    CHECK(deletes == 2 && last_deleted == 20, "delete_attr: %d deletes, of %d", deletes,
          last_deleted);
    MPI_Comm_get_attr(MPI_COMM_WORLD, kv, &v, &flag);
    CHECK(!flag, "a deleted attribute was found");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    rc = MPI_Comm_delete_attr(MPI_COMM_WORLD, kv);
    CHECK(rc == MPI_ERR_KEYVAL, "deleting what is not set returned %d", rc);
    rc = MPI_Comm_get_attr(MPI_COMM_WORLD, 12345, &v, &flag);
    CHECK(rc == MPI_ERR_KEYVAL, "an unknown keyval returned %d", rc);
    rc = MPI_Comm_set_attr(MPI_COMM_NULL, kv, &a);
    CHECK(rc == MPI_ERR_COMM, "MPI_COMM_NULL returned %d", rc);
    MPI_Comm_free_keyval(&kv);
    CHECK(kv == MPI_KEYVAL_INVALID, "free_keyval left %d", kv);
    int freed = kv;
    rc = MPI_Comm_free_keyval(&freed);
    CHECK(rc == MPI_ERR_KEYVAL, "freeing MPI_KEYVAL_INVALID returned %d", rc);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    OK("set, get, delete, replace, bad keyvals");
}

/* MPI_Comm_dup: NULL_COPY_FN does not copy, DUP_FN shares the value, a user function copies;
 * MPI_Comm_free runs the delete callbacks of the duplicate only. */
static void dup_and_free(void)
{
    int k_null, k_dup, k_user, extra = 77, a = 1, b = 2, *v, flag, *mine = malloc(sizeof *mine);
    MPI_Comm d;

    *mine = 41;
    MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, MPI_COMM_NULL_DELETE_FN, &k_null, NULL);
    MPI_Comm_create_keyval(MPI_COMM_DUP_FN, delete_count, &k_dup, NULL);
    MPI_Keyval_create(copy_plus_one, delete_free, &k_user, &extra);      /* MPI-1's name */
    MPI_Comm_set_attr(MPI_COMM_WORLD, k_null, &a);
    MPI_Comm_set_attr(MPI_COMM_WORLD, k_dup, &b);
    MPI_Attr_put(MPI_COMM_WORLD, k_user, mine);
    copies = deletes = 0;
    MPI_Comm_dup(MPI_COMM_WORLD, &d);
    CHECK(copies == 1 && extra_seen == 77, "the user copy ran %d times, extra %d", copies,
          extra_seen);
    MPI_Comm_get_attr(d, k_null, &v, &flag);
    CHECK(!flag, "MPI_COMM_NULL_COPY_FN copied the value");
    MPI_Comm_get_attr(d, k_dup, &v, &flag);
    CHECK(flag && v == &b, "MPI_COMM_DUP_FN: flag %d, %p for %p", flag, (void *)v, (void *)&b);
    MPI_Comm_get_attr(d, k_user, &v, &flag);
    CHECK(flag && *v == 42 && v != mine, "the user copy gave %d", flag ? *v : 0);
    MPI_Comm_free_keyval(&k_user);          /* in use: its values stay, callbacks still run */
    MPI_Comm_free(&d);
    CHECK(deletes == 2, "freeing the duplicate ran %d delete callbacks, not 2", deletes);
    MPI_Comm_get_attr(MPI_COMM_WORLD, k_dup, &v, &flag);
    CHECK(flag && v == &b, "freeing the duplicate touched WORLD's value");
    deletes = 0;
    MPI_Attr_delete(MPI_COMM_WORLD, k_dup);
    MPI_Comm_delete_attr(MPI_COMM_WORLD, k_null);
    /* k_user's value on WORLD was freed as a keyval: still deletable through its callback at
     * MPI_Finalize (counted there). */
    CHECK(deletes == 1, "%d delete callbacks", deletes);
    MPI_Comm_free_keyval(&k_null);
    MPI_Keyval_free(&k_dup);
    OK("MPI_Comm_dup copies, MPI_Comm_free deletes");
}

/* A copy callback that fails fails MPI_Comm_dup; a delete callback that fails fails the call. */
static void refusals(void)
{
    int k_copy, k_del, a = 5, rc;
    MPI_Comm d = MPI_COMM_WORLD;

    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_create_keyval(copy_refuse, MPI_COMM_NULL_DELETE_FN, &k_copy, NULL);
    MPI_Comm_set_attr(MPI_COMM_WORLD, k_copy, &a);
    rc = MPI_Comm_dup(MPI_COMM_WORLD, &d);
    CHECK(rc == MPI_ERR_ARG && d == MPI_COMM_NULL, "a refusing copy: dup returned %d", rc);
    MPI_Comm_delete_attr(MPI_COMM_WORLD, k_copy);
    MPI_Comm_free_keyval(&k_copy);

    MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, delete_refuse, &k_del, NULL);
    MPI_Comm_set_attr(MPI_COMM_WORLD, k_del, &a);
    rc = MPI_Comm_delete_attr(MPI_COMM_WORLD, k_del);
    CHECK(rc == MPI_ERR_OTHER, "a refusing delete: delete_attr returned %d", rc);
    int *v, flag = 0;
    MPI_Comm_get_attr(MPI_COMM_WORLD, k_del, &v, &flag);
    CHECK(flag && v == &a, "a refused delete removed the value");
    refuse = 0;
    rc = MPI_Comm_delete_attr(MPI_COMM_WORLD, k_del);
    CHECK(rc == MPI_SUCCESS, "an agreeing delete returned %d", rc);
    MPI_Comm_free_keyval(&k_del);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    OK("refusing callbacks fail the call");
}

static int self_deleted;

static int delete_at_finalize(MPI_Comm comm, int keyval, void *value, void *extra)
{
    (void)keyval, (void)value, (void)extra;
    self_deleted += comm == MPI_COMM_SELF;
    return MPI_SUCCESS;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    predefined();
    set_get_delete();
    dup_and_free();
    refusals();
    int k, finalized_deletes;
    MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, delete_at_finalize, &k, NULL);
    MPI_Comm_set_attr(MPI_COMM_SELF, k, &k);
    deletes = 0;
    MPI_Finalize();
    finalized_deletes = deletes;
    CHECK(self_deleted == 1, "MPI_Finalize ran SELF's delete callback %d times", self_deleted);
    CHECK(finalized_deletes == 1, "MPI_Finalize ran %d of WORLD's delete callbacks, not 1",
          finalized_deletes);
    if (!check_failures)
        printf("ok: rank %d: MPI_Finalize deletes the attributes\n", rank);
    return check_exit();
}
