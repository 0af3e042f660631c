/* fd_closer.h - closes descriptors on a thread of its own, for the control loop.
 *
 * Closing a descriptor can block for as long as whoever controls the file likes: the last
 * reference to a TCP socket with SO_LINGER waits for its peer, a file on a FUSE mount waits for
 * FLUSH, and closing a unix socket whose queue still holds descriptors in flight drops their last
 * references too. The kernel runs that final release in the thread that closed (task_work on its
 * way back to user space), so the control loop hands such descriptors here instead.
 *
 * One thread, started on first use, and a queue of PHX_FD_CLOSER_CAP descriptors. A hostile
 * descriptor can wedge the thread; the queue then fills, and further descriptors are parked
 * (kept open) and queued when room frees up, retried by phx_fd_closer_retry(). Every descriptor
 * is tagged with the uid it came from, and phx_fd_closer_held() tells how many of a uid's are not
 * closed yet: control_server.c counts them against that uid's connection limit, so one user can
 * hold at most control.max_conns_per_uid of them and cannot crowd out others. Parking is capped
 * at PHX_FD_CLOSER_PARK_MAX descriptors (refused connections are not counted against a uid's
 * limit); past that a descriptor is closed inline, with a warning, rather than kept. */
#ifndef PHOENIX_FD_CLOSER_H
#define PHOENIX_FD_CLOSER_H

#include <stdbool.h>
#include <sys/types.h>

#define PHX_FD_CLOSER_CAP      256
#define PHX_FD_CLOSER_PARK_MAX 1024

/* Takes FD (from UID) to be closed off this thread: queued, or parked when the queue is full. */
void phx_fd_closer_give(int fd, uid_t uid);

/* Descriptors of UID given and not closed yet. */
unsigned phx_fd_closer_held(uid_t uid);

/* Queues parked descriptors while there is room; returns whether some are still parked. */
bool phx_fd_closer_retry(void);

#endif /* PHOENIX_FD_CLOSER_H */
