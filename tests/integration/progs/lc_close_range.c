/* Close paths that never call close(): close_range, closefrom and glibc's
 * exported __close.
 *  - A: read EOF, held past the deadline (reported), then close_range(A, A):
 *    the finding shows closed: true.
 *  - B: read EOF, close_range(B, B, CLOSE_RANGE_CLOEXEC): nothing is closed
 *    now, so B is a leak (closed: false).
 *  - C: read EOF, __close(C) at once: nothing.
 *  - D: moved to fd >= 200, read EOF, closefrom(200) at once: nothing.
 *  - close_range(300, ~0U, 0) over a huge empty range must stay cheap.
 * Expected: two close_wait findings, at the A and B reads. */
#include "prog.h"
#include <fcntl.h>

extern int __close(int fd);

/* A connected server end whose peer has gone: its next read is EOF. */
static int dead_pair(void)
{
    int cli, srv;
    tcp_pair(&cli, &srv);
    close(cli);
    recv_timeout(srv, 10);
    return srv;
}

static void expect_eof(ssize_t n, const char *what)
{
    if (n != 0)
        die("%s: expected end-of-stream, got %zd", what, n);
}

int main(void)
{
    char buf[64];
    int a = dead_pair();
    expect_eof(recv(a, buf, sizeof buf, 0), "A"); /* EOF-SITE */
    sleep_ms(3 * deadline_ms());
    if (close_range((unsigned)a, (unsigned)a, 0) != 0)
        die("close_range(A)");

    int b = dead_pair();
    expect_eof(recv(b, buf, sizeof buf, 0), "B"); /* EOF-SITE */
    if (close_range((unsigned)b, (unsigned)b, CLOSE_RANGE_CLOEXEC) != 0)
        die("close_range(B, CLOEXEC)");

    int c = dead_pair();
    expect_eof(read(c, buf, sizeof buf), "C");
    if (__close(c) != 0)
        die("__close(C)");

    int d0 = dead_pair();
    int d = fcntl(d0, F_DUPFD_CLOEXEC, 200);
    if (d < 200)
        die("F_DUPFD_CLOEXEC");
    close(d0);
    expect_eof(read(d, buf, sizeof buf), "D");
    closefrom(200);
    if (fcntl(d, F_GETFD) != -1 || errno != EBADF)
        die("closefrom(200) left fd %d open", d);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 1000; i++)
        if (close_range(300, ~0U, 0) != 0)
            die("close_range(300, ~0U)");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long us = (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
    printf("1000 huge close_range calls: %ld us\n", us);
    if (us > 500000)
        die("close_range over a huge range is slow: %ld us for 1000 calls", us);

    linger();
    return 0; /* B still open */
}
