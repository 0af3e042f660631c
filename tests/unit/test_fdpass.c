/* test_fdpass.c - descriptor passing over unix sockets: descriptors arrive close-on-exec and
 * name the same open files, peer credentials identify the process that connected, and a message
 * refused for its size (data or descriptors) leaves no descriptor open here. */
#include "phoenix/fdpass.h"
#include "phx_test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static int open_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;

    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void seqpacket_pair(int sv[2])
{
    CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

static bool same_file(int a, int b)
{
    struct stat sa, sb;

    return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

static void test_fds_name_same_files(void)
{
    int sv[2], pipefd[2], got[4] = { -1, -1, -1, -1 };
    int memfd = memfd_create("fdpass", MFD_CLOEXEC);
    unsigned n = 99;
    char buf[16] = "";

    seqpacket_pair(sv);
    CU_ASSERT_FATAL(memfd >= 0 && pipe(pipefd) == 0);
    int sent[2] = { memfd, pipefd[0] };
    CU_ASSERT_EQUAL(phx_sock_send(sv[0], "hello", 5, sent, 2), 5);
    CU_ASSERT_EQUAL(phx_sock_recv(sv[1], buf, sizeof(buf), got, &n, 4), 5);
    CU_ASSERT_EQUAL(memcmp(buf, "hello", 5), 0);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT(got[0] != memfd && got[1] != pipefd[0]);
    CU_ASSERT(same_file(got[0], memfd) && same_file(got[1], pipefd[0]));
    CU_ASSERT(fcntl(got[0], F_GETFD) & FD_CLOEXEC);
    CU_ASSERT(fcntl(got[1], F_GETFD) & FD_CLOEXEC);

    CU_ASSERT_EQUAL(pwrite(got[0], "shared", 6, 0), 6);     /* write through one ... */
    CU_ASSERT_EQUAL(pread(memfd, buf, 6, 0), 6);            /* ... read through the other */
    CU_ASSERT_EQUAL(memcmp(buf, "shared", 6), 0);
    CU_ASSERT_EQUAL(write(pipefd[1], "xy", 2), 2);
    CU_ASSERT_EQUAL(read(got[1], buf, 2), 2);
    CU_ASSERT_EQUAL(memcmp(buf, "xy", 2), 0);

    CU_ASSERT_EQUAL(phx_sock_send(sv[0], "plain", 5, NULL, 0), 5);
    CU_ASSERT_EQUAL(phx_sock_recv(sv[1], buf, sizeof(buf), got + 2, &n, 2), 5);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_EQUAL(phx_sock_send(sv[0], "x", 1, sent, PHX_SOCK_MAX_FDS + 1), -EINVAL);
    CU_ASSERT_EQUAL(phx_sock_send(sv[0], "x", 1, NULL, 1), -EINVAL);

    close(sv[1]);
    CU_ASSERT_EQUAL(phx_sock_send(sv[0], "x", 1, NULL, 0), -EPIPE);   /* and no SIGPIPE */
    close(sv[0]);
    for (int i = 0; i < 2; i++)
        close(got[i]);
    close(memfd);
    close(pipefd[0]);
    close(pipefd[1]);
}

static void test_end_of_stream(void)
{
    int sv[2], fd = -1;
    unsigned n = 7;
    char c;

    seqpacket_pair(sv);
    close(sv[0]);
    CU_ASSERT_EQUAL(phx_sock_recv(sv[1], &c, 1, &fd, &n, 1), 0);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_EQUAL(phx_sock_recv(-1, &c, 1, &fd, &n, 1), -EBADF);
    close(sv[1]);
}

static void test_peer_credentials(void)
{
    const char *dir = phx_test_tmpdir("fdpass");
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    struct ucred cred = { 0 };
    int lsock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/s", dir);
    CU_ASSERT_FATAL(lsock >= 0 && bind(lsock, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
                    listen(lsock, 1) == 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
        char c;
        alarm(30);
        if (connect(s, (struct sockaddr *)&addr, sizeof(addr)) != 0)
            _exit(1);
        _exit(read(s, &c, 1) == 0 ? 0 : 2);     /* until the parent hangs up */
    }
    CU_ASSERT_FATAL(pid > 0);
    int conn = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
    CU_ASSERT(conn >= 0);
    CU_ASSERT_EQUAL(phx_sock_peer_cred(conn, &cred), 0);
    CU_ASSERT_EQUAL(cred.pid, pid);
    CU_ASSERT_EQUAL(cred.uid, getuid());
    CU_ASSERT_EQUAL(cred.gid, getgid());
    close(conn);

    int status = -1;
    CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CU_ASSERT_EQUAL(phx_sock_peer_cred(-1, &cred), -EBADF);
    close(lsock);
    phx_test_rmtree(dir);
}

/* Sends NFDS copies of one descriptor, then receives with CAP bytes and MAX_FDS: returns what
 * phx_sock_recv did and, in *OPENED, how many more descriptors are open than before (the
 * received ones, which it then closes). */
static ssize_t send_then_receive(int sv[2], size_t len, unsigned nfds, size_t cap,
                                 unsigned max_fds, int *opened)
{
    static char data[256];
    int fds[PHX_SOCK_MAX_FDS], got[PHX_SOCK_MAX_FDS];
    unsigned n = 99;

    for (unsigned i = 0; i < nfds; i++)
        fds[i] = dup(sv[0]);
    CU_ASSERT_EQUAL(phx_sock_send(sv[0], data, len, fds, nfds), (ssize_t)len);
    for (unsigned i = 0; i < nfds; i++)
        close(fds[i]);              /* now the only copies are in flight */
    int before = open_fd_count();
    ssize_t r = phx_sock_recv(sv[1], data, cap, max_fds ? got : NULL, max_fds ? &n : NULL,
                              max_fds);
    *opened = open_fd_count() - before;
    if (r >= 0) {
        for (unsigned i = 0; i < n; i++)
            close(got[i]);
    } else {
        CU_ASSERT(max_fds == 0 || n == 0);
    }
    return r;
}

static void test_refused_messages_leak_nothing(void)
{
    int sv[2], opened = -1;

    seqpacket_pair(sv);
    CU_ASSERT_EQUAL(send_then_receive(sv, 100, 3, 10, 4, &opened), -EMSGSIZE);   /* data */
    CU_ASSERT_EQUAL(opened, 0);
    CU_ASSERT_EQUAL(send_then_receive(sv, 8, 16, 64, 2, &opened), -EMSGSIZE);    /* control */
    CU_ASSERT_EQUAL(opened, 0);
    CU_ASSERT_EQUAL(send_then_receive(sv, 8, 3, 64, 2, &opened), -EMSGSIZE);     /* one too many */
    CU_ASSERT_EQUAL(opened, 0);
    CU_ASSERT_EQUAL(send_then_receive(sv, 8, 1, 64, 0, &opened), -EMSGSIZE);     /* none wanted */
    CU_ASSERT_EQUAL(opened, 0);
    CU_ASSERT_EQUAL(send_then_receive(sv, 8, 16, 64, 16, &opened), 8);           /* all fit */
    CU_ASSERT_EQUAL(opened, 16);
    CU_ASSERT_EQUAL(send_then_receive(sv, 8, 2, 64, 100, &opened), 8);  /* max_fds clamped */
    CU_ASSERT_EQUAL(opened, 2);
    close(sv[0]);
    close(sv[1]);
}

static const phx_test_case_t cases[] = {
    { "descriptors arrive and name the same files", test_fds_name_same_files },
    { "end of stream and bad sockets", test_end_of_stream },
    { "peer credentials name the connecting process", test_peer_credentials },
    { "refused messages leak no descriptor", test_refused_messages_leak_nothing },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return phx_test_main("fdpass", cases, argc, argv);
}
