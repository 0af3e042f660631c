/* main.c - phoenixctl, the administrator's command line for the phoenixd of a node.
 *
 * `phoenixctl [--help | --version] COMMAND [OPTIONS]`: the commands of the table below, run by
 * tools/common's phxctl_main() (ctl_main.h: global options, argv[0] and getopt for COMMAND).
 * Adding a subcommand is a cmd_NAME.c, a declaration in phoenixctl.h, a row in the table and a
 * line in CMakeLists.txt. Exit codes: 0 done, 1 the command failed, 2 usage error. */
#include "phoenixctl.h"

#ifndef PHX_VERSION
#error "PHX_VERSION must be defined by the build"
#endif

#define PROG "phoenixctl"

/* In the order `phoenixctl --help` lists them. */
static const phxctl_command_t commands[] = {
    { "list", "the apps' subscriptions with their engines and policies", phxctl_cmd_list },
    { "attach", "insert a policy engine into a subscription (descriptor file)",
      phxctl_cmd_attach },
    { "detach", "remove a policy engine from a subscription (descriptor file)",
      phxctl_cmd_detach },
    { "engine", "send a request such as \"stats\" to one engine", phxctl_cmd_engine },
    { "plugins", "the plugin builds loaded, current and superseded", phxctl_cmd_plugins },
    { "upgrade", "replace plugins by new builds while their engines run", phxctl_cmd_upgrade },
    { "topology", "where the service's threads and memory go: NIC, cores, NUMA nodes",
      phxctl_cmd_topology },
    { "metrics", "the service's metrics in Prometheus' text format (or --json)",
      phxctl_cmd_metrics },
};

int main(int argc, char **argv)
{
    static const phxctl_tool_t tool = {
        .prog = PROG,
        .version = PHX_VERSION,
        .purpose = "Administers the Phoenix service (phoenixd) of this node.",
        .commands = commands,
        .n_commands = sizeof(commands) / sizeof(commands[0]),
    };

    return phxctl_main(&tool, argc, argv);
}
