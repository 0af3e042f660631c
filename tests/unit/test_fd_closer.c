/* test_fd_closer.c - the closer thread (core/daemon/fd_closer.h) with a close that blocks.
 *
 *   wedged   a TCP socket whose send buffer is full toward a listener that never reads, with
 *            SO_LINGER, wedges the thread in close(); the caller is not held up: it gives the
 *            queue's capacity and more, all counted for their uid (none for another), and the
 *            ones past the queue stay parked however often it retries
 *   drained  closing the listener resets the connection, the close returns, and retrying
 *            empties the parking and the queue within 10 s; every descriptor given is closed */
#include "fd_closer.h"
#include "phx_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#define EXTRA 3                 /* descriptors beyond the queue's capacity */
#define UID   4242
#define NS    1000000000ull

/* A connected TCP socket whose close lingers for ever on *LISTENER, which never reads. */
static int lingering_tcp(int *listener)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof(a);
    int small = 4096, i;
    struct linger lg = { .l_onoff = 1, .l_linger = 100000 };
    static const char chunk[4096];

    *listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CU_ASSERT_FATAL(*listener >= 0);
    setsockopt(*listener, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    CU_ASSERT_FATAL(bind(*listener, (struct sockaddr *)&a, sizeof(a)) == 0 &&
                    getsockname(*listener, (struct sockaddr *)&a, &alen) == 0 &&
                    listen(*listener, 1) == 0);
    int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(tcp, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    CU_ASSERT_FATAL(connect(tcp, (struct sockaddr *)&a, sizeof(a)) == 0);
    for (i = 0; i < 100000; i++)
        if (send(tcp, chunk, sizeof(chunk), MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno == EAGAIN)
            break;
    CU_ASSERT_FATAL(i > 0 && i < 100000);
    CU_ASSERT_FATAL(setsockopt(tcp, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0);
    return tcp;
}

static void test_wedged_then_drained(void)
{
    int listener, fds[PHX_FD_CLOSER_CAP + EXTRA];
    int tcp = lingering_tcp(&listener);

    phx_fd_closer_give(tcp, UID);
    phx_test_sleep_ms(100);             /* the thread is in its close() now */
    unsigned long long t0 = phx_test_now_ns();
    for (unsigned i = 0; i < PHX_FD_CLOSER_CAP + EXTRA; i++) {
        fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        CU_ASSERT_FATAL(fds[i] >= 0);
        phx_fd_closer_give(fds[i], UID);
    }
    CU_ASSERT(phx_test_now_ns() - t0 < NS);        /* never waited for the wedged close */
    CU_ASSERT_EQUAL(phx_fd_closer_held(UID), 1 + PHX_FD_CLOSER_CAP + EXTRA);
    CU_ASSERT_EQUAL(phx_fd_closer_held(UID + 1), 0);
    CU_ASSERT(phx_fd_closer_retry());                   /* the queue is still full */
    CU_ASSERT_EQUAL(phx_fd_closer_held(UID), 1 + PHX_FD_CLOSER_CAP + EXTRA);
    CU_ASSERT(fcntl(fds[PHX_FD_CLOSER_CAP + EXTRA - 1], F_GETFD) >= 0);   /* parked: open */

    close(listener);                    /* resets the connection: the close returns */
    unsigned long long deadline = phx_test_now_ns() + 10 * NS;
    while ((phx_fd_closer_retry() || phx_fd_closer_held(UID)) && phx_test_now_ns() < deadline)
        phx_test_sleep_ms(10);
    CU_ASSERT_EQUAL(phx_fd_closer_held(UID), 0);
    unsigned open_left = 0;
    for (unsigned i = 0; i < PHX_FD_CLOSER_CAP + EXTRA; i++)
        open_left += fcntl(fds[i], F_GETFD) >= 0;
    CU_ASSERT_EQUAL(open_left, 0);
    printf("(drained in %.0f ms) ", (double)(phx_test_now_ns() - t0) / 1e6);
}

int main(int argc, char **argv)
{
    static const phx_test_case_t cases[] = {
        { "a wedged closer parks, then drains", test_wedged_then_drained },
        { NULL, NULL },
    };
    return phx_test_main("fd_closer", cases, argc, argv);
}
