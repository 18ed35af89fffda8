/* Negative: half-open use. The client sends a request and shuts down its
 * writing side; the server reads to end-of-stream, then keeps streaming the
 * answer for three deadlines before closing. The socket is in CLOSE_WAIT
 * all that time, but it is in use: zero findings.
 * Usage: neg_half_open   (driven by the test) */
#include "prog.h"

int main(void)
{
    int port;
    int lfd = listen_loopback(&port);
    announce_port(port);
    recv_timeout(lfd, 10);
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        die("accept");
    recv_timeout(fd, 10);
    char buf[512];
    size_t request = 0;
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("recv");
        if (n == 0)
            break;
        request += (size_t)n;
    }
    long step = deadline_ms() / 5;
    for (int i = 0; i < 15; i++) {
        char line[64];
        int len = snprintf(line, sizeof line, "chunk %d of the answer to %zu bytes\n", i, request);
        send_all(fd, line, (size_t)len);
        sleep_ms(step);
    }
    close(fd);
    close(lfd);
    sleep_ms(deadline_ms());
    return 0;
}
