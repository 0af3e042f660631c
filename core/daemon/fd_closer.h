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
 * is tagged with the uid it counts against ((uid_t)-1: none), and phx_fd_closer_held() tells
 * how many of a uid's are not closed yet: control_server.c tags the sockets that sent
 * descriptors and counts them against that uid's connection limit. Parking is bounded by its
 * caller: once PHX_FD_CLOSER_PARK_MAX are parked, control_server.c stops accepting connections
 * until they drain, so only the connections it already holds can still come here. A descriptor
 * is closed inline (with a warning) only when there is no memory to park it. */
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

/* Descriptors parked (given while the queue was full) and not queued yet. */
unsigned phx_fd_closer_parked(void);

/* Queues parked descriptors while there is room; returns whether some are still parked. */
bool phx_fd_closer_retry(void);

#endif /* PHOENIX_FD_CLOSER_H */
