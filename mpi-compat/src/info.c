/* info.c - info objects (MPI-3.1 9): ordered (key, value) string pairs a program hands to the
 * functions that take hints (MPI_Comm_split_type, MPI_Alloc_mem). This library reads no hint, so
 * an info only needs to be valid where one is taken (mpix_info_check; MPI_INFO_NULL always is).
 *
 * Keys keep the order they were first set in (MPI_Info_get_nthkey, MPI_Info_dup); setting a key
 * again replaces its value in place. A key has 1 to MPI_MAX_INFO_KEY - 1 characters, so that it
 * always fits, with its NUL, the MPI_MAX_INFO_KEY bytes a program gives MPI_Info_get_nthkey
 * (MPI_ERR_INFO_KEY otherwise); a value has at most MPI_MAX_INFO_VAL (MPI_ERR_INFO_VALUE); a key
 * that is not there is MPI_ERR_INFO_NOKEY for MPI_Info_delete, flag 0 for the getters.
 * MPI_Info_get cuts a longer value to valuelen and succeeds, as MPI-3.1 9 says (MPICH returns
 * MPI_ERR_INFO_VALUE). MPI_INFO_NULL given to an info function is MPI_ERR_ARG (as in MPICH), an
 * info object otherwise invalid MPI_ERR_INFO. Errors go to MPI_COMM_WORLD's handler. */
#include "core.h"

#include <stdlib.h>
#include <string.h>

#define MPIX_INFO_MAGIC 0x4d50494eu

struct mpix_info_item {
    char *key, *value;
};

struct mpix_info {
    uint32_t               magic;    /* MPIX_INFO_MAGIC while valid */
    int                    n, cap;
    struct mpix_info_item *items;    /* by the order keys were first set in */
};

int mpix_info_check(MPI_Info info)
{
    return !info || info->magic == MPIX_INFO_MAGIC ? MPI_SUCCESS : MPI_ERR_INFO;
}

/* INFO is a valid info object; the error naming FN otherwise (MPI_INFO_NULL is MPI_ERR_ARG, as
 * in MPICH). */
static int usable(MPI_Info info, const char *fn)
{
    mpix_check_init(fn);
    if (!info)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG, "%s: the info is MPI_INFO_NULL", fn);
    if (info->magic != MPIX_INFO_MAGIC)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_INFO, "%s: the info is freed or no info object",
                        fn);
    return MPI_SUCCESS;
}

static int key_check(const char *key, const char *fn)
{
    if (!key || !*key)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_INFO_KEY, "%s: the key is NULL or empty", fn);
    if (strnlen(key, MPI_MAX_INFO_KEY) >= MPI_MAX_INFO_KEY)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_INFO_KEY, "%s: the key is longer than %d "
                        "characters (MPI_MAX_INFO_KEY - 1)", fn, MPI_MAX_INFO_KEY - 1);
    return MPI_SUCCESS;
}

/* The index of KEY in INFO, or -1. */
static int find(MPI_Info info, const char *key)
{
    for (int i = 0; i < info->n; i++)
        if (!strcmp(info->items[i].key, key))
            return i;
    return -1;
}

static void free_items(MPI_Info info)
{
    for (int i = 0; i < info->n; i++) {
        free(info->items[i].key);
        free(info->items[i].value);
    }
    free(info->items);
}

/* Appends (KEY, VALUE), copied: false when out of memory (INFO unchanged). */
static bool append(MPI_Info info, const char *key, const char *value)
{
    if (info->n == info->cap) {
        int cap = info->cap ? 2 * info->cap : 8;
        struct mpix_info_item *items = realloc(info->items, (size_t)cap * sizeof(*items));
        if (!items)
            return false;
        info->items = items;
        info->cap = cap;
    }
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return false;
    }
    info->items[info->n++] = (struct mpix_info_item){ k, v };
    return true;
}

static MPI_Info info_new(void)
{
    struct mpix_info *info = calloc(1, sizeof(*info));
    if (info)
        info->magic = MPIX_INFO_MAGIC;
    return info;
}

int MPI_Info_create(MPI_Info *info)
{
    mpix_check_init("MPI_Info_create");
    if (!info)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG, "MPI_Info_create: info is NULL");
    if (!(*info = info_new()))
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_NO_MEM, "MPI_Info_create: out of memory");
    return MPI_SUCCESS;
}

int MPI_Info_set(MPI_Info info, const char *key, const char *value)
{
    int rc = usable(info, "MPI_Info_set");
    if (rc == MPI_SUCCESS)
        rc = key_check(key, "MPI_Info_set");
    if (rc == MPI_SUCCESS && (!value || strnlen(value, MPI_MAX_INFO_VAL + 1) > MPI_MAX_INFO_VAL))
        rc = mpix_err(MPI_COMM_WORLD, MPI_ERR_INFO_VALUE, "MPI_Info_set: the value of key \"%s\" "
                      "is NULL or longer than %d characters (MPI_MAX_INFO_VAL)", key,
                      MPI_MAX_INFO_VAL);
    if (rc != MPI_SUCCESS)
        return rc;
    int i = find(info, key);
    char *v = i >= 0 ? strdup(value) : NULL;
    if (i >= 0 && v) {
        free(info->items[i].value);
        info->items[i].value = v;
    } else if (i >= 0 || !append(info, key, value)) {
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_NO_MEM, "MPI_Info_set: out of memory");
    }
    return MPI_SUCCESS;
}

/* The checks the getters share: INFO, KEY and FLAG; *I is KEY's index (-1: not there, *FLAG 0). */
static int lookup(MPI_Info info, const char *key, int *flag, int *i, const char *fn)
{
    int rc = usable(info, fn);
    if (rc == MPI_SUCCESS)
        rc = key_check(key, fn);
    if (rc == MPI_SUCCESS && !flag)
        rc = mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG, "%s: flag is NULL", fn);
    if (rc != MPI_SUCCESS)
        return rc;
    *i = find(info, key);
    *flag = *i >= 0;
    return MPI_SUCCESS;
}

/* VALUE gets at most VALUELEN characters of the value and a NUL (VALUELEN + 1 bytes). */
int MPI_Info_get(MPI_Info info, const char *key, int valuelen, char *value, int *flag)
{
    int i, rc = lookup(info, key, flag, &i, "MPI_Info_get");
    if (rc == MPI_SUCCESS && (valuelen < 0 || !value))
        rc = mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG, "MPI_Info_get: valuelen %d is negative or "
                      "value is NULL", valuelen);
    if (rc != MPI_SUCCESS || i < 0)
        return rc;
    size_t n = strnlen(info->items[i].value, (size_t)valuelen);
    memcpy(value, info->items[i].value, n);
    value[n] = '\0';
    return MPI_SUCCESS;
}

int MPI_Info_get_valuelen(MPI_Info info, const char *key, int *valuelen, int *flag)
{
    int i, rc = lookup(info, key, flag, &i, "MPI_Info_get_valuelen");
    if (rc == MPI_SUCCESS && !valuelen)
        rc = mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG, "MPI_Info_get_valuelen: valuelen is NULL");
    if (rc == MPI_SUCCESS && i >= 0)
        *valuelen = (int)strlen(info->items[i].value);
    return rc;
}

int MPI_Info_delete(MPI_Info info, const char *key)
{
    int rc = usable(info, "MPI_Info_delete");
    if (rc == MPI_SUCCESS)
        rc = key_check(key, "MPI_Info_delete");
    if (rc != MPI_SUCCESS)
        return rc;
    int i = find(info, key);
    if (i < 0)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_INFO_NOKEY, "MPI_Info_delete: the info has no "
                        "key \"%s\"", key);
    free(info->items[i].key);
    free(info->items[i].value);
    memmove(&info->items[i], &info->items[i + 1], (size_t)(info->n - i - 1) * sizeof(info->items[0]));
    info->n--;
    return MPI_SUCCESS;
}

int MPI_Info_get_nkeys(MPI_Info info, int *nkeys)
{
    int rc = usable(info, "MPI_Info_get_nkeys");
    if (rc == MPI_SUCCESS && !nkeys)
        rc = mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG, "MPI_Info_get_nkeys: nkeys is NULL");
    if (rc == MPI_SUCCESS)
        *nkeys = info->n;
    return rc;
}

/* KEY gets the N-th key and a NUL: at most MPI_MAX_INFO_KEY bytes. */
int MPI_Info_get_nthkey(MPI_Info info, int n, char *key)
{
    int rc = usable(info, "MPI_Info_get_nthkey");
    if (rc == MPI_SUCCESS && (n < 0 || n >= info->n))
        rc = mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG, "MPI_Info_get_nthkey: n %d is not 0..%d "
                      "(the info has %d keys)", n, info->n - 1, info->n);
    if (rc == MPI_SUCCESS && !key)
        rc = mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG, "MPI_Info_get_nthkey: key is NULL");
    if (rc == MPI_SUCCESS)
        strcpy(key, info->items[n].key);
    return rc;
}

int MPI_Info_dup(MPI_Info info, MPI_Info *newinfo)
{
    int rc = usable(info, "MPI_Info_dup");
    if (rc == MPI_SUCCESS && !newinfo)
        rc = mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG, "MPI_Info_dup: newinfo is NULL");
    if (rc != MPI_SUCCESS)
        return rc;
    MPI_Info copy = info_new();
    bool ok = copy != NULL;
    for (int i = 0; ok && i < info->n; i++)
        ok = append(copy, info->items[i].key, info->items[i].value);
    if (!ok) {
        if (copy)
            free_items(copy);
        free(copy);
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_NO_MEM, "MPI_Info_dup: out of memory");
    }
    *newinfo = copy;
    return MPI_SUCCESS;
}

int MPI_Info_free(MPI_Info *info)
{
    int rc = usable(info ? *info : MPI_INFO_NULL, "MPI_Info_free");
    if (rc != MPI_SUCCESS)
        return rc;
    free_items(*info);
    (*info)->magic = 0;
    free(*info);
    *info = MPI_INFO_NULL;
    return MPI_SUCCESS;
}
