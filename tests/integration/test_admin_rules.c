/* test_admin_rules.c - standing rules made with the built policyctl on a running phoenixd: rules
 * by uid and by job, their bounds and who may make or remove them, and their persistence in
 * rules.conf across a restart of the service.
 *
 * Each case starts its own phoenixd and app (admin_harness.h). The cases:
 *
 *   rules       policyctl attach --uid 0 attaches NullEngine to the running app and to one that
 *               registers later (with the rule's settings); rules lists both; detach --rule
 *               detaches both; a --job rule reaches only the exec'd app of that job; detach
 *               --job removes it; a rule with a setting its policy does not know is refused
 *               at once; an ordinary user may only make a --uid rule for themselves,
 *               up to control.max_user_rules, not remove an admin's; control.max_rules holds
 *   restart     rules made (and one removed) are written to PREFIX/rules.conf (mode 0600, the
 *               service's); a restart keeps the rest with their numbers, owners and settings,
 *               applies them to an app registering afterwards and numbers new rules on; a rule
 *               removed stays removed; a rules file that is not the service's, cut short, with
 *               a syntax error, a wrong rule_count, an unknown engine or key, or an @include
 *               refuses the start naming the file and line; no file: no rules
 *
 * Every wait is bounded; every process started is stopped by PID and reaped. */
#include "admin_harness.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- standing rules ------------------------------------------------------------------------- */

static long long null_batch_of(const struct phx_daemon *d, const struct app *a)
{
    struct null_stats st;

    return null_stats(d, engine_id(d, a->pid, "NullEngine"), &st) ? st.batch : -1;
}

static json_object *rules_json(const struct phx_daemon *d)
{
    return pctl_json(d, (const char *const[]){ "rules", "--json", NULL });
}


/* Rule INDEX of `policyctl rules --json`: how many apps it applied to (-1: no such rule). */
static int rule_applied(const struct phx_daemon *d, size_t index)
{
    json_object *l = rules_json(d), *rules = member(l, "rules");
    int n = index < json_object_array_length(rules) ?
            (int)json_object_array_length(member(json_object_array_get_idx(rules, index),
                                                 "applied")) : -1;
    json_object_put(l);
    return n;
}

static void rules_by_uid(const struct phx_daemon *d, const struct app *a, struct app *b)
{
    PCTL(d, 0, "rule 1: NullEngine for uid 0, applied to 1 app now", "attach", "null", "--uid",
        "0", "--set", "batch=8");
    CU_ASSERT_STRING_EQUAL(addons_of(d, a->pid), "NullEngine");
    app_up(b, d->prefix);    /* registers later: gets it at once */
    CU_ASSERT_STRING_EQUAL(addons_of(d, b->pid), "NullEngine");
    CU_ASSERT_EQUAL(null_batch_of(d, b), 8);
    CU_ASSERT_EQUAL(rule_applied(d, 0), 2);
    PCTL(d, 0, "| uid 0    |", "rules");
    PCTL(d, 0, "removed 1 rule, detached 2 engines", "detach", "--rule", "1");
    CU_ASSERT_STRING_EQUAL(addons_of(d, a->pid), "");
    CU_ASSERT_STRING_EQUAL(addons_of(d, b->pid), "");
    PCTL(d, 1, "no rule 1", "detach", "--rule", "1");
    PCTL(d, 0, "no rules", "rules");
}

static void rules_by_job(const struct phx_daemon *d, const struct app *a)
{
    PCTL(d, 0, "rule 2: NullEngine for job 4711, applied to 0 apps now", "attach", "null",
        "--job", "4711");
    pid_t idle = idle_app_start(d->prefix);
    json_object *list = NULL;
    CU_ASSERT_PTR_NOT_NULL(wait_listed(d, idle, &list));
    json_object_put(list);
    CU_ASSERT_STRING_EQUAL(addons_of(d, idle), "NullEngine");
    CU_ASSERT_STRING_EQUAL(addons_of(d, a->pid), "");
    PCTL_AS(USER, d, 1, "only an administrator may remove the rules of a job", "detach", "--job",
           "4711");
    PCTL(d, 0, "removed 1 rule, detached 1 engine", "detach", "--job", "4711");
    CU_ASSERT_STRING_EQUAL(addons_of(d, idle), "");
    kill(idle, SIGTERM);
    CU_ASSERT_EQUAL(phx_test_reap(idle, 10 * PHX_NS), 128 + SIGTERM);
}

static void rules_refused(const struct phx_daemon *d)
{
    PCTL(d, 2, "--job takes a number", "attach", "null", "--job", "abc");
    PCTL(d, 1, "the rule's settings for null: config_string:1: ", "attach", "null", "--job", "7",
         "--set", "bogus=1");          /* a typo is refused, and takes no rule id (rule 3 next) */
    PCTL(d, 2, "give one of", "attach", "null", "--all", "--uid", "0");
    PCTL(d, 2, "TYPE is needed", "attach", "--all");
    PCTL_AS(USER, d, 1, "only an administrator may create rules", "attach", "null", "--all");
    PCTL_AS(USER, d, 1, "only an administrator may create rules", "attach", "null", "--uid", "0");
    PCTL_AS(USER, d, 1, "only an administrator may create rules", "attach", "null", "--job", "1");
    PCTL_AS(USER, d, 0, "rule 3: NullEngine for uid 60001", "attach", "null", "--uid", "60001");
    PCTL_AS(USER, d, 1, "control.max_user_rules", "attach", "null", "--uid", "60001");
    PCTL(d, 0, "rule 4", "attach", "null", "--job", "1");
    PCTL_AS(USER, d, 1, "created by an administrator: only an administrator", "detach", "--rule",
           "4");
    PCTL(d, 0, "rule 5", "attach", "null", "--job", "2");
    PCTL(d, 0, "rule 6", "attach", "null", "--job", "3");
    PCTL(d, 1, "the service holds 4 standing rules already (control.max_rules)", "attach",
        "null", "--job", "4");
    PCTL_AS(USER, d, 0, "removed 1 rule", "detach", "--rule", "3");
    CU_ASSERT(phx_daemon_log_has(d, "rule 1 (NullEngine) removed"));
}

static void test_rules(void)
{
    struct phx_daemon d;
    struct app a, b;

    if (getuid() != 0) {
        phx_test_skip("the rules case needs root to act as uid %d too", USER);
        return;
    }
    daemon_and_app_up(&d, &a, "admin-rules");
    rules_by_uid(&d, &a, &b);
    rules_by_job(&d, &a);
    rules_refused(&d);
    CU_ASSERT(app_wait_received(&b, load(&b.sh->received) + 10));
    CU_ASSERT_EQUAL(app_finish(&b), APP_OK);
    CU_ASSERT_EQUAL(app_finish(&a), APP_OK);
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    phx_daemon_cleanup(&d);
    app_free(&a);
    app_free(&b);
}

/* ---- standing rules across a restart -------------------------------------------------------- */

/* Rule INDEX of `policyctl rules --json` as "id selector engine settings created_uid admin",
 * or "" when there is no such rule. */
static const char *rule_line(const struct phx_daemon *d, size_t index)
{
    static char text[512];
    json_object *l = rules_json(d), *rules = member(l, "rules");

    text[0] = '\0';
    if (rules && index < json_object_array_length(rules)) {
        json_object *r = json_object_array_get_idx(rules, index);
        snprintf(text, sizeof(text), "%d %s %s %s %d %s",
                 json_object_get_int(member(r, "id")),
                 json_object_get_string(member(r, "selector")),
                 json_object_get_string(member(r, "engine")),
                 json_object_get_string(member(r, "settings")),
                 json_object_get_int(member(r, "created_uid")),
                 json_object_get_boolean(member(r, "by_admin")) ? "admin" : "user");
    }
    json_object_put(l);
    return text;
}

/* The rules file of D: its path. */
static const char *rules_file_of(const struct phx_daemon *d)
{
    static char path[512];

    snprintf(path, sizeof(path), "%s/rules.conf", d->prefix);
    return path;
}

/* phoenixd refuses to start on D's rules file holding TEXT (mode MODE): exit 1, and its output
 * names the file (at LINE, when not 0) and says WANT. */
static void start_refused(struct phx_daemon *d, const char *text, mode_t mode, unsigned line,
                          const char *want)
{
    static phx_test_run_result_t r;
    char where[600];
    FILE *f = fopen(rules_file_of(d), "w");

    CU_ASSERT_FATAL(f != NULL);
    fputs(text, f);
    CU_ASSERT_FATAL(fclose(f) == 0);
    CU_ASSERT_FATAL(chmod(rules_file_of(d), mode) == 0);
    CU_ASSERT_NOT_EQUAL(phx_daemon_run(d, (const char *const[]){ "--foreground", NULL }, &r), 0);
    if (line)
        snprintf(where, sizeof(where), "%s:%u: ", rules_file_of(d), line);
    else
        snprintf(where, sizeof(where), "%s: ", rules_file_of(d));
    printf("(%.*s) ", (int)strcspn(strstr(r.out, where) ? strstr(r.out, where) : r.out, "\n"),
           strstr(r.out, where) ? strstr(r.out, where) : r.out);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, where));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, want));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "fix the file, or move it away to start with none"));
    CU_ASSERT(!phx_daemon_accepts(d->prefix));
}

/* The rules a broken file holds would be taken by a start: each fault refuses it. */
static void rules_file_broken(struct phx_daemon *d)
{
    static const char good_rule[] =
        "next_id = 4;\nrules = (\n  {\n    id = 1;\n    selector = \"uid\";\n    uid = 0;\n"
        "    engine = \"NullEngine\";\n    created_uid = 0;\n    by_admin = true;\n  }\n);\n";
    char text[1024];

    snprintf(text, sizeof(text), "%srule_count = 1;\n", good_rule);
    start_refused(d, text, 0644, 0, "must be the service's (uid 0) and readable by it only");
    start_refused(d, good_rule, 0600, 0, "does not end with its rule_count: cut short");
    start_refused(d, "next_id = 4;\nrules = (\n  {\n    id = 1;\n    selector = \"uid\";\n", 0600,
                  6, "syntax error");
    snprintf(text, sizeof(text), "%srule_count = 2;\n", good_rule);
    start_refused(d, text, 0600, 12, "rule_count: says 2 rules, the file holds 1");
    snprintf(text, sizeof(text), "%s", good_rule);
    memcpy(strstr(text, "NullEngine"), "NullEngin_", 10);
    strcat(text, "rule_count = 1;\n");
    start_refused(d, text, 0600, 3, "rules[0]: unknown engine type 'NullEngin_'");
    snprintf(text, sizeof(text), "%s", good_rule);
    memcpy(strstr(text, "uid = 0;"), "uix = 0;", 8);
    strcat(text, "rule_count = 1;\n");
    start_refused(d, text, 0600, 6, "unknown key 'rules[0].uix' (did you mean 'rules[0].uid'?)");
    start_refused(d, "@include \"/etc/passwd\"\nrule_count = 0;\n", 0600, 1,
                  "@include is not taken");
}

static void test_rules_restart(void)
{
    struct phx_daemon d;
    struct app a;
    struct stat st;

    if (getuid() != 0) {
        phx_test_skip("the rules-restart case needs root to act as uid %d too", USER);
        return;
    }
    CU_ASSERT_FATAL(daemon_up(&d, "admin-rules-restart"));
    CU_ASSERT(phx_daemon_log_has(&d, "no standing rules file"));
    PCTL(&d, 0, "rule 1: NullEngine for uid 0, applied to 0 apps now", "attach", "null", "--uid",
         "0", "--set", "batch=8");
    PCTL(&d, 0, "rule 2: NullEngine for job 4711", "attach", "null", "--job", "4711");
    PCTL_AS(USER, &d, 0, "rule 3: NullEngine for uid 60001", "attach", "null", "--uid", "60001");
    PCTL(&d, 0, "removed 1 rule", "detach", "--rule", "2");
    CU_ASSERT_FATAL(stat(rules_file_of(&d), &st) == 0);
    CU_ASSERT_EQUAL(st.st_mode & 07777, 0600);
    CU_ASSERT_EQUAL(st.st_uid, geteuid());

    /* a restart keeps rules 1 and 3 with their numbers, owners and settings */
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    CU_ASSERT_FATAL(phx_daemon_restart(&d));
    CU_ASSERT(phx_daemon_log_has(&d, "2 standing rules read from"));
    CU_ASSERT_STRING_EQUAL(rule_line(&d, 0), "1 uid 0 NullEngine batch = 8; 0 admin");
    CU_ASSERT_STRING_EQUAL(rule_line(&d, 1), "3 uid 60001 NullEngine  60001 user");
    CU_ASSERT_STRING_EQUAL(rule_line(&d, 2), "");
    app_up(&a, d.prefix);    /* registers after the restart */
    CU_ASSERT_STRING_EQUAL(addons_of(&d, a.pid), "NullEngine");
    CU_ASSERT_EQUAL(null_batch_of(&d, &a), 8);
    PCTL_AS(USER, &d, 1, "created by an administrator: only an administrator", "detach",
            "--rule", "1");
    PCTL(&d, 0, "rule 4: NullEngine for job 5", "attach", "null", "--job", "5");  /* not 2 */
    PCTL(&d, 0, "removed 1 rule, detached 1 engine", "detach", "--rule", "1");
    CU_ASSERT_STRING_EQUAL(addons_of(&d, a.pid), "");
    CU_ASSERT(app_wait_received(&a, load(&a.sh->received) + 10));
    CU_ASSERT_EQUAL(app_finish(&a), APP_OK);
    app_free(&a);

    /* removed for good: another restart has rules 3 and 4 only */
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    CU_ASSERT_FATAL(phx_daemon_restart(&d));
    CU_ASSERT_STRING_EQUAL(rule_line(&d, 0), "3 uid 60001 NullEngine  60001 user");
    CU_ASSERT_STRING_EQUAL(rule_line(&d, 1), "4 job 5 NullEngine  0 admin");
    CU_ASSERT_STRING_EQUAL(rule_line(&d, 2), "");
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);

    rules_file_broken(&d);
    CU_ASSERT_FATAL(unlink(rules_file_of(&d)) == 0);    /* no file: no rules */
    CU_ASSERT_FATAL(phx_daemon_restart(&d));
    PCTL(&d, 0, "no rules", "rules");
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    phx_daemon_cleanup(&d);
}

int main(int argc, char **argv)
{
    static const phx_test_case_t cases[] = {
        { "standing rules by uid and job, their bounds and permissions", test_rules },
        { "standing rules outlive a restart; a broken rules file refuses the start",
          test_rules_restart },
        { NULL, NULL },
    };

    return admin_main("admin_rules", cases, argc, argv);
}
