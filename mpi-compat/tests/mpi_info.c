/* mpi_info.c - info objects against MPI-3.1 9: set/get round trips, replacing a value in place,
 * key order (MPI_Info_get_nthkey) kept by MPI_Info_dup and by deletes, the dup's independence,
 * MPI_Info_get's truncation to valuelen, MPI_Info_get_valuelen, the limits (a key of
 * MPI_MAX_INFO_KEY - 1 characters and a value of MPI_MAX_INFO_VAL are taken, longer ones refused),
 * MPI_INFO_NULL where an info is taken (MPI_Alloc_mem, MPI_Comm_split_type), and the error classes
 * of bad arguments with MPI_ERRORS_RETURN. Runs alone or on any number of ranks; every check is
 * local. Built with MPICH's mpicc it passes under mpirun.mpich too (the truncation in
 * MPI_Info_get, where MPICH departs from the standard, is checked for libmrpc_mpi only). */
#include "mpi_check.h"

#include <stdlib.h>
#include <string.h>

static void round_trips(void)
{
    MPI_Info info, copy;
    char value[64], key[MPI_MAX_INFO_KEY];
    int flag = -1, n = -1, len = -1;

    EXPECT(MPI_Info_create(&info), MPI_SUCCESS);
    EXPECT(MPI_Info_get_nkeys(info, &n), MPI_SUCCESS);
    CHECK(n == 0, "a new info has %d keys", n);
    EXPECT(MPI_Info_set(info, "alpha", "1"), MPI_SUCCESS);
    EXPECT(MPI_Info_set(info, "beta", "two"), MPI_SUCCESS);
    EXPECT(MPI_Info_set(info, "gamma", ""), MPI_SUCCESS);
    EXPECT(MPI_Info_set(info, "alpha", "one again"), MPI_SUCCESS);   /* replaced in place */
    EXPECT(MPI_Info_get_nkeys(info, &n), MPI_SUCCESS);
    CHECK(n == 3, "3 keys set, %d counted", n);
    const char *order[] = { "alpha", "beta", "gamma" };
    for (int i = 0; i < 3; i++) {
        EXPECT(MPI_Info_get_nthkey(info, i, key), MPI_SUCCESS);
        CHECK(!strcmp(key, order[i]), "key %d is \"%s\", not \"%s\"", i, key, order[i]);
    }
    EXPECT(MPI_Info_get(info, "alpha", sizeof value - 1, value, &flag), MPI_SUCCESS);
    CHECK(flag == 1 && !strcmp(value, "one again"), "alpha: flag %d value \"%s\"", flag, value);
    EXPECT(MPI_Info_get(info, "gamma", sizeof value - 1, value, &flag), MPI_SUCCESS);
    CHECK(flag == 1 && value[0] == '\0', "gamma: flag %d value \"%s\"", flag, value);
    EXPECT(MPI_Info_get(info, "delta", sizeof value - 1, value, &flag), MPI_SUCCESS);
    CHECK(flag == 0, "a key never set was found");
    EXPECT(MPI_Info_get_valuelen(info, "beta", &len, &flag), MPI_SUCCESS);
    CHECK(flag == 1 && len == 3, "beta's valuelen: flag %d len %d", flag, len);
#ifdef MRPC_MPI      /* MPI-3.1 9: cut to valuelen, no error (MPICH: MPI_ERR_INFO_VALUE) */
    memset(value, 'x', sizeof value);
    EXPECT(MPI_Info_get(info, "alpha", 3, value, &flag), MPI_SUCCESS);   /* cut to 3 + NUL */
    CHECK(flag == 1 && !strcmp(value, "one") && value[5] == 'x', "alpha cut to 3: \"%.8s\"", value);
#endif

    EXPECT(MPI_Info_dup(info, &copy), MPI_SUCCESS);
    EXPECT(MPI_Info_delete(info, "alpha"), MPI_SUCCESS);
    EXPECT(MPI_Info_set(info, "beta", "changed"), MPI_SUCCESS);
    EXPECT(MPI_Info_get_nkeys(copy, &n), MPI_SUCCESS);
    CHECK(n == 3, "the dup has %d keys after the original lost one", n);
    EXPECT(MPI_Info_get_nthkey(copy, 0, key), MPI_SUCCESS);
    CHECK(!strcmp(key, "alpha"), "the dup's first key is \"%s\"", key);
    EXPECT(MPI_Info_get(copy, "beta", sizeof value - 1, value, &flag), MPI_SUCCESS);
    CHECK(flag && !strcmp(value, "two"), "the dup's beta is \"%s\"", value);
    EXPECT(MPI_Info_get_nthkey(info, 0, key), MPI_SUCCESS);
    CHECK(!strcmp(key, "beta"), "after deleting the first key the first is \"%s\"", key);
    EXPECT(MPI_Info_get_nkeys(info, &n), MPI_SUCCESS);
    CHECK(n == 2, "2 keys left, %d counted", n);

    EXPECT(MPI_Info_free(&info), MPI_SUCCESS);
    CHECK(info == MPI_INFO_NULL, "MPI_Info_free left the handle");
    EXPECT(MPI_Info_free(&copy), MPI_SUCCESS);
    OK("info round trips, order, dup and delete");
}

static void limits(void)
{
    MPI_Info info;
    char key[MPI_MAX_INFO_KEY + 8], got[MPI_MAX_INFO_KEY];
    char *value = malloc(MPI_MAX_INFO_VAL + 2), *back = malloc(MPI_MAX_INFO_VAL + 1);
    int flag = 0, len = 0;

    MPI_Info_create(&info);
    memset(key, 'k', MPI_MAX_INFO_KEY - 1);
    key[MPI_MAX_INFO_KEY - 1] = '\0';
    memset(value, 'v', MPI_MAX_INFO_VAL);
    value[MPI_MAX_INFO_VAL] = '\0';
    EXPECT(MPI_Info_set(info, key, value), MPI_SUCCESS);
    EXPECT(MPI_Info_get_valuelen(info, key, &len, &flag), MPI_SUCCESS);
    CHECK(flag && len == MPI_MAX_INFO_VAL, "the longest value: flag %d len %d", flag, len);
    EXPECT(MPI_Info_get(info, key, MPI_MAX_INFO_VAL, back, &flag), MPI_SUCCESS);
    CHECK(flag && !strcmp(back, value), "the longest value did not come back whole");
    EXPECT(MPI_Info_get_nthkey(info, 0, got), MPI_SUCCESS);
    CHECK(!strcmp(got, key), "the longest key did not come back whole");

    memset(key, 'k', MPI_MAX_INFO_KEY + 4);
    key[MPI_MAX_INFO_KEY + 4] = '\0';
    EXPECT(MPI_Info_set(info, key, "v"), MPI_ERR_INFO_KEY);
    value[MPI_MAX_INFO_VAL] = 'v';
    value[MPI_MAX_INFO_VAL + 1] = '\0';
    EXPECT(MPI_Info_set(info, "k", value), MPI_ERR_INFO_VALUE);
    int n = -1;
    MPI_Info_get_nkeys(info, &n);
    CHECK(n == 1, "refused sets changed the info: %d keys", n);
    MPI_Info_free(&info);
    free(value);
    free(back);
    OK("a key of %d and a value of %d characters are taken, longer ones refused",
       MPI_MAX_INFO_KEY - 1, MPI_MAX_INFO_VAL);
}

static void errors(void)
{
    MPI_Info info, null = MPI_INFO_NULL;
    char value[8], key[MPI_MAX_INFO_KEY];
    int flag, n;

    MPI_Info_create(&info);
    MPI_Info_set(info, "a", "b");
    EXPECT(MPI_Info_set(MPI_INFO_NULL, "a", "b"), MPI_ERR_ARG);       /* MPICH's classes */
    EXPECT(MPI_Info_get_nkeys(MPI_INFO_NULL, &n), MPI_ERR_ARG);
    EXPECT(MPI_Info_dup(MPI_INFO_NULL, &info), MPI_ERR_ARG);
    EXPECT(MPI_Info_free(&null), MPI_ERR_ARG);
    EXPECT(MPI_Info_set(info, "", "b"), MPI_ERR_INFO_KEY);
    EXPECT(MPI_Info_get(info, "a", -1, value, &flag), MPI_ERR_ARG);
    EXPECT(MPI_Info_get_nthkey(info, 1, key), MPI_ERR_ARG);
    EXPECT(MPI_Info_get_nthkey(info, -1, key), MPI_ERR_ARG);
    EXPECT(MPI_Info_delete(info, "nope"), MPI_ERR_INFO_NOKEY);
    EXPECT(MPI_Info_free(&info), MPI_SUCCESS);

    /* MPI_INFO_NULL and a valid info are taken where an info is */
    void *mem = NULL;
    EXPECT(MPI_Alloc_mem(64, MPI_INFO_NULL, &mem), MPI_SUCCESS);
    MPI_Free_mem(mem);
    MPI_Info_create(&info);
    MPI_Info_set(info, "alloc_shared_noncontig", "true");
    EXPECT(MPI_Alloc_mem(64, info, &mem), MPI_SUCCESS);
    MPI_Free_mem(mem);
    MPI_Comm node;
    EXPECT(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, info, &node), MPI_SUCCESS);
    MPI_Comm_free(&node);
    EXPECT(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node),
           MPI_SUCCESS);
    MPI_Comm_free(&node);
    MPI_Info_free(&info);
    int cls = -1;
    MPI_Error_class(MPI_ERR_INFO_NOKEY, &cls);
    CHECK(cls == MPI_ERR_INFO_NOKEY, "MPI_Error_class(MPI_ERR_INFO_NOKEY) is %d", cls);
    OK("info error classes; MPI_INFO_NULL and an info taken by MPI_Alloc_mem and "
       "MPI_Comm_split_type");
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    round_trips();
    limits();
    errors();
    MPI_Finalize();
    return check_exit();
}
