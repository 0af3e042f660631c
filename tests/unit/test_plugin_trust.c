/* test_plugin_trust.c - a plugin file anyone but root could have written is refused before any of
 * its code runs (plugin_trust.h, through the registry that every load goes through).
 *
 * The plugin is NullEngine 2.0.0 with a constructor that creates $PHX_TEST_MARKER
 * (tests/plugins/marker): after each refusal the marker file must not exist, after the accepted
 * load it must. Every case works in a private directory made in /tmp (root's, mode 0755), whose
 * copies of the plugin are arranged to fail one rule each:
 *
 *   sticky /tmp  the plugin in the private directory, no plugin_trusted_dirs: /tmp (mode 1777)
 *                is writable by others, sticky bit or not
 *   owner        with plugin_trusted_dirs vouching for the private directory: a file owned by
 *                uid 60001; a group-writable file; a file in a world-writable subdirectory
 *   symlinks     a link in the world-writable subdirectory to a good copy (the link's directory
 *                fails), a link in the trusted directory to the user's file (the target fails),
 *                a directory link through the world-writable subdirectory
 *   scope        vouching for one directory of /tmp exempts nothing for a plugin in another
 *   accepted     a root-owned 0644 copy in a 0755 directory below the vouched-for one loads
 *   copy dir     the directory of the private copies that dlopen() maps must be root's alone
 *   settings     plugin_trusted_dirs values that are not absolute directories are refused
 *
 * The refusal names the path that fails and the rule. Needs root (to own files as another uid). */
#include "config.h"
#include "plugin_registry.h"
#include "plugin_trust.h"
#include "phx_test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define USER 60001

static char base[256];              /* the private directory in /tmp */
static char marker[300];
static struct phx_registry reg;
static phx_config_t cfg;
static char err[2048];

static const char *in_base(const char *name)
{
    static char paths[4][512];
    static unsigned next;
    char *p = paths[next++ % 4];

    snprintf(p, sizeof(paths[0]), "%s/%s", base, name);
    return p;
}

/* Copies the marker plugin to NAME in the private directory with MODE. */
static const char *plugin_copy(const char *name, mode_t mode)
{
    static char cmd[1200];
    const char *to = in_base(name);

    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", PHX_PLUGIN_NULL_MARKER, to);
    CU_ASSERT_FATAL(system(cmd) == 0);
    CU_ASSERT_FATAL(chmod(to, mode) == 0);
    return to;
}

static bool marked(void)
{
    return access(marker, F_OK) == 0;
}

/* Up with plugin_trusted_dirs = TRUSTED ("" none; NULL: the private directory, after an entry
 * that does not exist, which must be harmless). */
static void setup(const char *trusted)
{
    char list[600];

    snprintf(base, sizeof(base), "/tmp/phx-trust-XXXXXX");
    CU_ASSERT_FATAL(mkdtemp(base) != NULL);
    CU_ASSERT_FATAL(chmod(base, 0755) == 0);
    snprintf(marker, sizeof(marker), "%s/marker", base);
    setenv("PHX_TEST_MARKER", marker, 1);
    CU_ASSERT_FATAL(phx_config_init_defaults(&cfg) == 0);
    snprintf(list, sizeof(list), "/tmp/phx-nonexistent-dir:%s", base);
    free(cfg.plugin_trusted_dirs);
    cfg.plugin_trusted_dirs = strdup(trusted ? trusted : list);
    CU_ASSERT_FATAL(phx_registry_init(&reg, in_base("copies")) == 0);
    phx_registry_set_config(&reg, &cfg);
}

/* Makes directory NAME in the private directory with exactly MODE. */
static void subdir(const char *name, mode_t mode)
{
    const char *path = in_base(name);

    CU_ASSERT_FATAL(mkdir(path, mode) == 0 && chmod(path, mode) == 0);
}

static void teardown(void)
{
    phx_registry_fini(&reg);
    phx_config_free(&cfg);
    phx_test_rmtree(base);
    unsetenv("PHX_TEST_MARKER");
}

/* Loading PATH is refused with a sentence holding WHAT and RULE, and none of its code ran. */
static void expect_refused(const char *path, const char *what, const char *rule)
{
    err[0] = '\0';
    CU_ASSERT_PTR_NULL(phx_registry_load(&reg, path, err, sizeof(err)));
    bool ok = strstr(err, what) && strstr(err, rule) && strstr(err, "refused");
    if (!ok)
        printf("\n    %s: got '%s', want '%s' and '%s'", path, err, what, rule);
    CU_ASSERT(ok);
    CU_ASSERT_FALSE(marked());
    CU_ASSERT_PTR_NULL(phx_registry_find(&reg, "null"));
}

static bool need_root(void)
{
    if (geteuid() == 0)
        return true;
    phx_test_skip("the trust cases need root to own files as uid %d", USER);
    return false;
}

static void test_sticky_tmp_is_not_trusted(void)
{
    if (!need_root())
        return;
    setup("");
    const char *path = plugin_copy("null.so", 0644);
    expect_refused(path, "/tmp is writable by others (mode 1777)", "must be owned by root");
    printf("\n    %s", err);
    teardown();
}

static void test_owner_and_modes(void)
{
    if (!need_root())
        return;
    setup(NULL);
    const char *user = plugin_copy("user.so", 0644);
    CU_ASSERT_FATAL(chown(user, USER, USER) == 0);
    expect_refused(user, "user.so is owned by uid 60001, not by root", "must be owned by root");
    printf("\n    %s", err);
    expect_refused(plugin_copy("group.so", 0664), "group.so is writable by its group (mode 0664)",
                   "writable by no one else");
    printf("\n    %s", err);
    subdir("ww", 0777);
    expect_refused(plugin_copy("ww/null.so", 0644), "/ww is writable by others (mode 0777)",
                   "must be owned by root");
    printf("\n    %s", err);
    teardown();
}

static void test_symlink_tricks(void)
{
    if (!need_root())
        return;
    setup(NULL);
    const char *good = plugin_copy("good.so", 0644);
    subdir("ww", 0777);
    CU_ASSERT_FATAL(symlink(good, in_base("ww/link.so")) == 0);
    expect_refused(in_base("ww/link.so"), "/ww is writable by others", "must be owned by root");
    const char *user = plugin_copy("user.so", 0644);
    CU_ASSERT_FATAL(chown(user, USER, USER) == 0);
    CU_ASSERT_FATAL(symlink(user, in_base("to-user.so")) == 0);    /* a root link, a user file */
    expect_refused(in_base("to-user.so"), "user.so is owned by uid 60001", "owned by root");
    CU_ASSERT_FATAL(symlink(base, in_base("ww/dir")) == 0);        /* a directory link */
    expect_refused(in_base("ww/dir/good.so"), "/ww is writable by others", "owned by root");
    printf("\n    %s", err);
    teardown();
}

/* plugin_trusted_dirs = a sibling of the private directory: /tmp is not exempt for ours. */
static void test_scope_of_a_trusted_dir(void)
{
    char other[64] = "/tmp/phx-trust-other-XXXXXX";

    if (!need_root())
        return;
    CU_ASSERT_FATAL(mkdtemp(other) != NULL);
    setup(other);
    expect_refused(plugin_copy("null.so", 0644), "/tmp is writable by others", "owned by root");
    teardown();
    rmdir(other);
}

static void test_trusted_copy_loads(void)
{
    if (!need_root())
        return;
    setup(NULL);
    subdir("ok", 0755);
    const char *path = plugin_copy("ok/null.so", 0644);
    struct phx_plugin *p = phx_registry_load(&reg, path, err, sizeof(err));
    if (!p)
        printf("\n    %s", err);
    CU_ASSERT_PTR_NOT_NULL(p);
    CU_ASSERT(marked());                        /* its constructor ran: the marker works */
    teardown();
}

/* The private copies are what dlopen() maps: their directory must be ours alone. */
static void test_copy_dir_is_private(void)
{
    struct phx_registry r;

    if (!need_root())
        return;
    setup("");
    subdir("open", 0777);
    CU_ASSERT_EQUAL(phx_registry_init(&r, in_base("open")), -EPERM);
    subdir("theirs", 0700);
    CU_ASSERT_FATAL(chown(in_base("theirs"), USER, USER) == 0);
    CU_ASSERT_EQUAL(phx_registry_init(&r, in_base("theirs")), -EPERM);
    CU_ASSERT_EQUAL(phx_registry_init(&r, in_base("mine")), 0);     /* made 0700 */
    phx_registry_fini(&r);
    teardown();
}

static void test_trusted_dirs_setting(void)
{
    char why[256];

    CU_ASSERT_EQUAL(phx_plugin_trust_check_list("", why, sizeof(why)), 0);
    CU_ASSERT_EQUAL(phx_plugin_trust_check_list("/opt/a:/opt/b/", why, sizeof(why)), 0);
    CU_ASSERT_EQUAL(phx_plugin_trust_check_list("/opt/a:lib", why, sizeof(why)), -1);
    CU_ASSERT_STRING_EQUAL(why, "'lib' is not an absolute directory");
    CU_ASSERT_EQUAL(phx_plugin_trust_check_list("/opt/a::/b", why, sizeof(why)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "an empty entry"));
}

int main(int argc, char **argv)
{
    static const phx_test_case_t cases[] = {
        { "sticky /tmp does not make a plugin trusted", test_sticky_tmp_is_not_trusted },
        { "a user's file, group- or world-writable: refused", test_owner_and_modes },
        { "symbolic links are checked where they lie and lead", test_symlink_tricks },
        { "a trusted directory exempts only what lies in it", test_scope_of_a_trusted_dir },
        { "a root-owned copy in a trusted directory loads", test_trusted_copy_loads },
        { "the private copies' directory is the service's alone", test_copy_dir_is_private },
        { "plugin_trusted_dirs values", test_trusted_dirs_setting },
        { NULL, NULL },
    };

    return phx_test_main("plugin_trust", cases, argc, argv);
}
