/* fdpass.h - messages with file descriptors over unix sockets (SCM_RIGHTS), and peer credentials.
 *
 * The control socket carries memfds (heaps, rings) and eventfds (doorbells) next to protobuf-c
 * messages. Received descriptors are close-on-exec, and a message whose data or descriptors did
 * not fit is refused with every descriptor that came with it closed, so a peer cannot make us
 * leak descriptors. Interrupted calls are retried; writing to a closed peer returns -EPIPE instead
 * of raising SIGPIPE. On a stream socket descriptors ride on the data: send at least one byte. */
#ifndef PHOENIX_FDPASS_H
#define PHOENIX_FDPASS_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#define PHX_SOCK_MAX_FDS 16

/* Sends LEN bytes of BUF with NFDS descriptors (at most PHX_SOCK_MAX_FDS; the caller keeps its
 * copies). Returns the bytes sent, or -errno (-EINVAL for too many fds). */
ssize_t phx_sock_send(int sock, const void *buf, size_t len, const int *fds, unsigned nfds);

/* Receives one message into BUF (CAP bytes) and up to MAX_FDS descriptors into FDS, their count
 * in *NFDS (both may be NULL when MAX_FDS is 0; MAX_FDS above PHX_SOCK_MAX_FDS counts as that).
 * Returns the bytes received (0 at end of stream), or -errno: -EMSGSIZE when the message's data
 * exceeded CAP (datagram/seqpacket) or it carried more than MAX_FDS descriptors, in which case
 * the message is consumed and no descriptor is left open. */
ssize_t phx_sock_recv(int sock, void *buf, size_t cap, int *fds, unsigned *nfds, unsigned max_fds);

/* Credentials of the process at the other end (SO_PEERCRED: as of connect or socketpair).
 * Returns 0 or -errno. */
int phx_sock_peer_cred(int sock, struct ucred *cred);

#endif /* PHOENIX_FDPASS_H */
