/* phoenixctl.h - what main.c and the subcommands (cmd_*.c) of phoenixctl share.
 *
 * A subcommand is one function in its own cmd_NAME.c, listed in main.c's table. It receives the
 * command line from its own name on, with argv[0] rewritten to "phoenixctl NAME" so that getopt's
 * messages say which command complains, and with getopt reset, so it parses its options with
 * getopt_long() as if it were main() (through phxctl_parse_options(), ctl_client.h). It prints its
 * --help to stdout and returns an exit code. */
#ifndef PHOENIXCTL_H
#define PHOENIXCTL_H

#include "ctl_common.h"     /* exit codes, phxctl_usage_error(), phxctl_parse_uint() */
#include "ctl_main.h"       /* phxctl_command_t, phxctl_main() */

int phxctl_cmd_list(int argc, char **argv);
int phxctl_cmd_plugins(int argc, char **argv);
int phxctl_cmd_topology(int argc, char **argv);
int phxctl_cmd_attach(int argc, char **argv);
int phxctl_cmd_detach(int argc, char **argv);
int phxctl_cmd_upgrade(int argc, char **argv);
int phxctl_cmd_engine(int argc, char **argv);
int phxctl_cmd_metrics(int argc, char **argv);

#endif /* PHOENIXCTL_H */
