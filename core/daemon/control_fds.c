/* control_fds.c - SO_PASSRIGHTS and the peek that finds descriptors without taking them (see
 * control_fds.h). */
#include "control_fds.h"

#include "phoenix/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83        /* include/uapi/asm-generic/socket.h, Linux 6.16 */
#endif

bool phx_control_refuse_fds(int sock)
{
    int off = 0;

    if (getenv(PHX_ENV_TEST_NO_PASSRIGHTS))
        return false;
    if (setsockopt(sock, SOL_SOCKET, SO_PASSRIGHTS, &off, sizeof(off)) == 0)
        return true;
    if (errno != EINVAL && errno != ENOPROTOOPT)
        phx_warn("SO_PASSRIGHTS: %s", strerror(errno));
    return false;
}

/* With no room for control messages, the kernel reports descriptors as MSG_CTRUNC; on a peek it
 * only drops the extra references it took for us, while the queued datagram keeps its own. */
bool phx_control_next_has_fds(int sock)
{
    char byte;
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

    if (recvmsg(sock, &msg, MSG_PEEK | MSG_DONTWAIT) < 0)
        return false;
    return (msg.msg_flags & MSG_CTRUNC) != 0;
}
