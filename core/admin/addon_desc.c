/* addon_desc.c - parsing policy descriptors (see addon_desc.h) with libconfig.
 *
 * libconfig does the syntax; this file checks the meaning key by key and copies the result into
 * fixed-size fields, so that splice works on plain, bounded data. Every complaint is one line
 * "ORIGIN:LINE: KEY: what is wrong", LINE being where libconfig saw the offending setting, so an
 * admin can go straight to it. Unknown keys are refused: a typo ("tx_channel_replacements") must
 * not silently turn into "no replacements".
 *
 * The service never reads files an admin names: `config_path` and `@include` are refused in
 * text sent to it, and phx_addon_desc_load_file() (run by the admin's client) inlines
 * config_path as config_string before the text is sent. */
#include "phoenix/admin/addon_desc.h"

#include "phoenix/admin/config_text.h"

#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DESC_MAX_FILE (1u << 20)    /* descriptors and their config files are small */

struct parse_ctx {
    const char *origin;
    char       *err;
    size_t      errlen;
    bool        allow_config_path;  /* the client's own reading of a file */
};

static const char *const known_keys[] = {
    "addon_engine", "op", "tx_channels_replacements", "rx_channels_replacements", "group",
    "config_string", "config_path",
};

/* "ORIGIN:LINE: KEY: message"; returns -EINVAL. */
__attribute__((format(printf, 4, 5)))
static int fail_at(const struct parse_ctx *ctx, const config_setting_t *s, const char *key,
                   const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(ctx->err, ctx->errlen, "%s:%u: %s: %s", ctx->origin,
             s ? config_setting_source_line(s) : 0u, key, msg);
    return -EINVAL;
}

static int fail_missing(const struct parse_ctx *ctx, const char *key)
{
    snprintf(ctx->err, ctx->errlen, "%s: missing key %s", ctx->origin, key);
    return -EINVAL;
}

static bool is_known_key(const char *name)
{
    for (size_t i = 0; i < sizeof(known_keys) / sizeof(known_keys[0]); i++)
        if (strcmp(name, known_keys[i]) == 0)
            return true;
    return false;
}

static int check_keys(const struct parse_ctx *ctx, const config_setting_t *root)
{
    for (int i = 0; i < config_setting_length(root); i++) {
        const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
        const char *name = config_setting_name(s);
        if (!is_known_key(name))
            return fail_at(ctx, s, name, "unknown key");
        if (strcmp(name, "config_path") == 0 && !ctx->allow_config_path)
            return fail_at(ctx, s, name, "files are read by the admin's client, which sends "
                                         "their contents as config_string");
    }
    return 0;
}

/* Names end up in one-line messages and admin listings: no blanks or control characters. */
static bool name_chars_ok(const char *v)
{
    for (; *v; v++)
        if (!isgraph((unsigned char)*v))
            return false;
    return true;
}

/* Copies the engine name in S (a string setting) into OUT[PHX_NAME_MAX]. */
static int copy_name(const struct parse_ctx *ctx, const config_setting_t *s, const char *key,
                     char *out)
{
    const char *v = config_setting_get_string(s);

    if (!v)
        return fail_at(ctx, s, key, "expected a string");
    if (!*v || strlen(v) >= PHX_NAME_MAX || !name_chars_ok(v))
        return fail_at(ctx, s, key, "engine name must be 1 to %d printable characters without "
                                    "blanks", PHX_NAME_MAX - 1);
    strcpy(out, v);
    return 0;
}

static int parse_engine(const struct parse_ctx *ctx, const config_setting_t *root,
                        struct phx_addon_desc *d)
{
    const config_setting_t *s = config_setting_get_member(root, "addon_engine");

    return s ? copy_name(ctx, s, "addon_engine", d->engine) : fail_missing(ctx, "addon_engine");
}

static int parse_op(const struct parse_ctx *ctx, const config_setting_t *root,
                    struct phx_addon_desc *d)
{
    const config_setting_t *s = config_setting_get_member(root, "op");
    const char *v = s ? config_setting_get_string(s) : NULL;

    if (!s)
        return fail_missing(ctx, "op");
    if (v && strcmp(v, "attach") == 0)
        d->op = PHX_ADDON_ATTACH;
    else if (v && strcmp(v, "detach") == 0)
        d->op = PHX_ADDON_DETACH;
    else
        return fail_at(ctx, s, "op", "must be \"attach\" or \"detach\"");
    return 0;
}

static bool is_sequence(const config_setting_t *s)
{
    return config_setting_is_list(s) || config_setting_is_array(s);
}

static int parse_port(const struct parse_ctx *ctx, const config_setting_t *s, const char *key,
                      unsigned *port)
{
    int t = config_setting_type(s);
    long long v = config_setting_get_int64(s);

    if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
        return fail_at(ctx, s, key, "port must be an integer");
    if (v < 0 || v >= PHX_MAX_PORTS)
        return fail_at(ctx, s, key, "port %lld out of range 0..%d", v, PHX_MAX_PORTS - 1);
    *port = (unsigned)v;
    return 0;
}

/* ("From", "To", from_port, to_port) */
static int parse_edge(const struct parse_ctx *ctx, const config_setting_t *s, const char *key,
                      struct phx_addon_edge *e)
{
    int rc;

    if (!is_sequence(s) || config_setting_length(s) != 4)
        return fail_at(ctx, s, key, "expected (\"from engine\", \"to engine\", from_port, "
                                    "to_port)");
    if ((rc = copy_name(ctx, config_setting_get_elem(s, 0), key, e->from)) ||
        (rc = copy_name(ctx, config_setting_get_elem(s, 1), key, e->to)) ||
        (rc = parse_port(ctx, config_setting_get_elem(s, 2), key, &e->from_port)) ||
        (rc = parse_port(ctx, config_setting_get_elem(s, 3), key, &e->to_port)))
        return rc;
    return 0;
}

static int parse_edges(const struct parse_ctx *ctx, const config_setting_t *root,
                       const char *key, struct phx_addon_desc *d, phx_dir_t dir)
{
    const config_setting_t *s = config_setting_get_member(root, key);

    if (!s)
        return 0;
    if (!is_sequence(s))
        return fail_at(ctx, s, key, "expected a list of (\"from\", \"to\", from_port, to_port)");
    if (config_setting_length(s) > PHX_ADDON_MAX_EDGES)
        return fail_at(ctx, s, key, "more than %d channels", PHX_ADDON_MAX_EDGES);
    for (int i = 0; i < config_setting_length(s); i++) {
        char elem_key[64];
        snprintf(elem_key, sizeof(elem_key), "%s[%d]", key, i);
        int rc = parse_edge(ctx, config_setting_get_elem(s, (unsigned)i), elem_key,
                            &d->edges[dir][d->n_edges[dir]++]);
        if (rc)
            return rc;
    }
    return 0;
}

static int parse_group(const struct parse_ctx *ctx, const config_setting_t *root,
                       struct phx_addon_desc *d)
{
    const config_setting_t *s = config_setting_get_member(root, "group");

    if (!s)
        return d->op == PHX_ADDON_ATTACH ? fail_missing(ctx, "group") : 0;
    if (!is_sequence(s))
        return fail_at(ctx, s, "group", "expected a list of engine names");
    if (config_setting_length(s) > PHX_ADDON_MAX_GROUP)
        return fail_at(ctx, s, "group", "more than %d engines", PHX_ADDON_MAX_GROUP);
    d->has_group = true;
    for (int i = 0; i < config_setting_length(s); i++) {
        int rc = copy_name(ctx, config_setting_get_elem(s, (unsigned)i), "group",
                           d->group[d->n_group++]);
        if (rc)
            return rc;
    }
    return 0;
}

static int parse_config_string(const struct parse_ctx *ctx, const config_setting_t *root,
                               struct phx_addon_desc *d)
{
    const config_setting_t *s = config_setting_get_member(root, "config_string");
    const char *v = s ? config_setting_get_string(s) : NULL;

    if (!s)
        return 0;
    if (!v)
        return fail_at(ctx, s, "config_string", "expected a string");
    d->config = strdup(v);
    return d->config ? 0 : -ENOMEM;
}

static int parse_root(const struct parse_ctx *ctx, const config_setting_t *root,
                      struct phx_addon_desc *d)
{
    int rc;

    memset(d, 0, sizeof(*d));
    if ((rc = check_keys(ctx, root)) || (rc = parse_engine(ctx, root, d)) ||
        (rc = parse_op(ctx, root, d)) ||
        (rc = parse_edges(ctx, root, "tx_channels_replacements", d, PHX_TX)) ||
        (rc = parse_edges(ctx, root, "rx_channels_replacements", d, PHX_RX)) ||
        (rc = parse_group(ctx, root, d)) || (rc = parse_config_string(ctx, root, d))) {
        phx_addon_desc_fini(d);
        return rc;
    }
    return 0;
}

/* libconfig would open an @include'd file relative to the current directory. */
static int refuse_include(const struct parse_ctx *ctx, const char *text)
{
    unsigned line = phx_config_text_include_line(text);

    if (!line)
        return 0;
    snprintf(ctx->err, ctx->errlen, "%s:%u: @include: not allowed in a descriptor", ctx->origin,
             line);
    return -EINVAL;
}

/* Reads TEXT into CFG; on failure CFG is already destroyed. */
static int read_config(const struct parse_ctx *ctx, const char *text, config_t *cfg)
{
    int rc = refuse_include(ctx, text);

    if (rc)
        return rc;
    config_init(cfg);
    if (config_read_string(cfg, text) != CONFIG_TRUE) {
        snprintf(ctx->err, ctx->errlen, "%s:%d: %s", ctx->origin, config_error_line(cfg),
                 config_error_text(cfg));
        config_destroy(cfg);
        return -EINVAL;
    }
    return 0;
}

int phx_addon_desc_parse(const char *text, const char *origin, struct phx_addon_desc *d,
                         char *err, size_t errlen)
{
    const struct parse_ctx ctx = {.origin = origin, .err = err, .errlen = errlen};
    config_t cfg;

    memset(d, 0, sizeof(*d));
    int rc = read_config(&ctx, text, &cfg);
    if (rc)
        return rc;
    rc = parse_root(&ctx, config_root_setting(&cfg), d);
    config_destroy(&cfg);
    return rc;
}

void phx_addon_desc_fini(struct phx_addon_desc *d)
{
    free(d->config);
    d->config = NULL;
}

/* ---- the admin's client: files ------------------------------------------------------------ */

/* The whole of PATH as a string, or NULL with errno. */
static char *read_text_file(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    char *buf = malloc(DESC_MAX_FILE + 1);
    size_t n = buf ? fread(buf, 1, DESC_MAX_FILE + 1, f) : 0;
    int error = !buf ? ENOMEM : ferror(f) ? EIO : n > DESC_MAX_FILE ? EFBIG : 0;
    fclose(f);
    if (error) {
        free(buf);
        errno = error;
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* config_path, relative to the directory of the descriptor at DESC_PATH. */
static char *read_config_path(const struct parse_ctx *ctx, const config_setting_t *s,
                              const char *desc_path)
{
    const char *rel = config_setting_get_string(s);
    char full[4096];

    if (!rel || !*rel) {
        fail_at(ctx, s, "config_path", "expected a file name");
        return NULL;
    }
    char *dir_copy = strdup(desc_path);
    if (!dir_copy) {
        fail_at(ctx, s, "config_path", "out of memory");
        return NULL;
    }
    if (rel[0] == '/')
        snprintf(full, sizeof(full), "%s", rel);
    else
        snprintf(full, sizeof(full), "%s/%s", dirname(dir_copy), rel);
    free(dir_copy);
    char *text = read_text_file(full);
    if (!text)
        fail_at(ctx, s, "config_path", "cannot read %s: %s", full, strerror(errno));
    return text;
}

/* Replaces config_path in CFG by a config_string holding the file's contents. */
static int inline_config_path(const struct parse_ctx *ctx, config_t *cfg, const char *desc_path)
{
    config_setting_t *root = config_root_setting(cfg);
    config_setting_t *s = config_setting_get_member(root, "config_path");

    if (!s)
        return 0;
    if (config_setting_get_member(root, "config_string"))
        return fail_at(ctx, s, "config_path", "give config_string or config_path, not both");
    char *text = read_config_path(ctx, s, desc_path);
    if (!text)
        return -EINVAL;
    config_setting_remove(root, "config_path");
    config_setting_t *str = config_setting_add(root, "config_string", CONFIG_TYPE_STRING);
    int ok = str && config_setting_set_string(str, text) == CONFIG_TRUE;
    free(text);
    return ok ? 0 : -ENOMEM;
}

static char *write_config(const config_t *cfg)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    if (!f)
        return NULL;
    config_write(cfg, f);
    if (fclose(f)) {
        free(out);
        return NULL;
    }
    return out;
}

char *phx_addon_desc_load_file(const char *path, char *err, size_t errlen)
{
    const struct parse_ctx ctx = {
        .origin = path, .err = err, .errlen = errlen, .allow_config_path = true};
    struct phx_addon_desc d;
    config_t cfg;
    char *text = read_text_file(path);

    if (!text) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    int rc = read_config(&ctx, text, &cfg);
    free(text);
    if (rc) {
        errno = -rc;
        return NULL;
    }
    char *out = NULL;
    rc = parse_root(&ctx, config_root_setting(&cfg), &d);
    if (!rc) {
        phx_addon_desc_fini(&d);
        rc = inline_config_path(&ctx, &cfg, path);
    }
    if (!rc && !(out = write_config(&cfg)))
        rc = -ENOMEM;
    config_destroy(&cfg);
    if (rc)
        errno = -rc;
    return out;
}
