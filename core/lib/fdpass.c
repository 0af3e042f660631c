/* fdpass.c - sendmsg/recvmsg with SCM_RIGHTS. The receive side sizes its control buffer for the
 * descriptors it accepts plus one credentials record, takes ownership of whatever the kernel
 * installed, and closes all of it when anything was cut off. See fdpass.h. */
#include "phoenix/fdpass.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

/* Room for the accepted descriptors and an SCM_CREDENTIALS record, so a socket with SO_PASSCRED
 * does not truncate every message. Whatever the kernel fits beyond MAX_FDS is closed. */
#define CONTROL_CAP (CMSG_SPACE(sizeof(int) * PHX_SOCK_MAX_FDS) + CMSG_SPACE(sizeof(struct ucred)))

union control_buf {
    struct cmsghdr align;
    char bytes[CONTROL_CAP];
};

ssize_t phx_sock_send(int sock, const void *buf, size_t len, const int *fds, unsigned nfds)
{
    union control_buf control;
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    ssize_t n;

    if (nfds > PHX_SOCK_MAX_FDS || (nfds && !fds))
        return -EINVAL;
    if (nfds) {
        memset(&control, 0, sizeof(control));
        msg.msg_control = control.bytes;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nfds);
    }
    do
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

static void close_all(const int *fds, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        close(fds[i]);
}

/* Moves the received descriptors into FDS, closing those beyond MAX_FDS. Returns false when
 * some had to be closed. */
static bool take_fds(struct msghdr *msg, int *fds, unsigned *nfds, unsigned max_fds)
{
    bool all_kept = true;

    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));   /* may be unaligned */
            if (*nfds < max_fds) {
                fds[(*nfds)++] = fd;
            } else {
                close(fd);
                all_kept = false;
            }
        }
    }
    return all_kept;
}

ssize_t phx_sock_recv(int sock, void *buf, size_t cap, int *fds, unsigned *nfds, unsigned max_fds)
{
    union control_buf control;
    struct iovec iov = { .iov_base = buf, .iov_len = cap };
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = control.bytes, .msg_controllen = sizeof(control.bytes),
    };
    unsigned got = 0;
    ssize_t n;

    if (max_fds > PHX_SOCK_MAX_FDS)
        max_fds = PHX_SOCK_MAX_FDS;
    if (nfds)
        *nfds = 0;
    if (max_fds && (!fds || !nfds))
        return -EINVAL;
    do
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;

    bool all_kept = take_fds(&msg, fds, &got, max_fds);
    if (!all_kept || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
        close_all(fds, got);
        return -EMSGSIZE;
    }
    if (nfds)
        *nfds = got;
    return n;
}

int phx_sock_peer_cred(int sock, struct ucred *cred)
{
    socklen_t len = sizeof(*cred);

    return getsockopt(sock, SOL_SOCKET, SO_PEERCRED, cred, &len) < 0 ? -errno : 0;
}
