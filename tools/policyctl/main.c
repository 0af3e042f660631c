/* main.c - policyctl, the administrator's command line for the policies of phoenixd.
 *
 * `policyctl [--help | --version] COMMAND [OPTIONS]`: the commands of the table below, run by
 * tools/common's phxctl_main() as phoenixctl's are. Exit codes: 0 done, 1 the command failed,
 * 2 usage error. docs/policies.md is the guide. */
#include "policyctl.h"

#include "ctl_main.h"

#ifndef PHX_VERSION
#error "PHX_VERSION must be defined by the build"
#endif

#define PROG "policyctl"

/* In the order `policyctl --help` lists them. */
static const phxctl_command_t commands[] = {
    { "list", "policy types with their settings, and the policies attached to apps",
      pctl_cmd_list },
    { "attach", "attach a policy to an app (between its front engine and its transport), or "
      "to a job's, a user's or all apps, now and later (a standing rule)", pctl_cmd_attach },
    { "set", "change settings of an attached policy while it runs", pctl_cmd_set },
    { "detach", "remove a policy from an app, or a standing rule (and what it attached)",
      pctl_cmd_detach },
    { "rules", "the standing rules and the apps they applied to", pctl_cmd_rules },
};

int main(int argc, char **argv)
{
    static const phxctl_tool_t tool = {
        .prog = PROG,
        .version = PHX_VERSION,
        .purpose = "Applies policies (rate limits, ...) to the apps of this node's Phoenix\n"
                   "service (phoenixd).",
        .commands = commands,
        .n_commands = sizeof(commands) / sizeof(commands[0]),
    };

    return phxctl_main(&tool, argc, argv);
}
