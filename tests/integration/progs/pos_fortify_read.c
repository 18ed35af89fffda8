/* Positive, built with -O2 -D_FORTIFY_SOURCE=2 (flags.mk): the server reads
 * with read() into a buffer of known size with a length the compiler cannot
 * prove fits, so the call goes to __read_chk, never to read. It reads each
 * request to end-of-stream and leaks the socket: CONNS close_wait findings.
 * Usage: pos_fortify_read [CONNS]   (default 1; driven by the test) */
#include "prog.h"

static volatile size_t read_size = 256; /* unknown to the compiler */

/* Reads fd to end-of-stream; returns the byte count. */
static __attribute__((noinline)) size_t read_request(int fd)
{
    char buf[256];
    size_t total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, read_size); /* EOF-SITE */
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("read");
        if (n == 0)
            return total; /* the caller forgets to close fd */
        total += (size_t)n;
    }
}

int main(int argc, char **argv)
{
    long conns = arg_long(argc, argv, 1, 1);
    int port;
    int lfd = listen_loopback(&port);
    announce_port(port);
    recv_timeout(lfd, 10);
    size_t total = 0;
    for (long i = 0; i < conns; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC); /* OPEN-SITE */
        if (fd < 0)
            die("accept");
        recv_timeout(fd, 10);
        total += read_request(fd);
    }
    linger();
    printf("read %zu bytes\n", total);
    return 0;
}
