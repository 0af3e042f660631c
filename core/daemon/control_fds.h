/* control_fds.h - keeping descriptors that clients send out of the control thread.
 *
 * Requests never carry descriptors (libphoenix sends none), but a peer can attach some to any
 * datagram, and whoever drops the last reference to such a file runs its release, which can
 * block without bound (fd_closer.h). Where the kernel has SO_PASSRIGHTS (Linux 6.16), turning it
 * off on the listener (accepted sockets inherit it, queued connections included) makes the
 * sender's sendmsg fail with EPERM, so no descriptor ever reaches phoenixd. Elsewhere, a datagram
 * is peeked at before it is read: peeking installs no descriptor and drops no last reference,
 * and says whether one came. Such a connection is then never read again, and its socket, with
 * the descriptors still queued in it, is closed by the closer thread. */
#ifndef PHX_CONTROL_FDS_H
#define PHX_CONTROL_FDS_H

#include <stdbool.h>

/* The test suite sets this (to anything) to make phoenixd behave as on a kernel without
 * SO_PASSRIGHTS. */
#define PHX_ENV_TEST_NO_PASSRIGHTS "PHOENIXD_TEST_NO_PASSRIGHTS"

/* Turns off receiving descriptors on unix socket SOCK. Returns false when the kernel cannot
 * (before 6.16), or when PHX_ENV_TEST_NO_PASSRIGHTS is set. */
bool phx_control_refuse_fds(int sock);

/* Whether the next datagram queued on SOCK carries descriptors (false: it does not, or none is
 * queued). Consumes nothing and takes no descriptor. */
bool phx_control_next_has_fds(int sock);

#endif /* PHX_CONTROL_FDS_H */
