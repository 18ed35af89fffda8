/* Negative: a correct server. It serves CONNS connections one after the
 * other (echo until the client hangs up, then close) and lingers: zero
 * findings.
 * Usage: neg_correct_server [CONNS]   (default 3; driven by the test) */
#include "prog.h"

static void serve(int fd)
{
    char buf[512];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("recv");
        if (n == 0)
            break;
        send_all(fd, buf, (size_t)n);
    }
    close(fd);
}

int main(int argc, char **argv)
{
    long conns = arg_long(argc, argv, 1, 3);
    int port;
    int lfd = listen_loopback(&port);
    announce_port(port);
    recv_timeout(lfd, 10);
    for (long i = 0; i < conns; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            die("accept");
        recv_timeout(fd, 10);
        serve(fd);
    }
    close(lfd);
    linger();
    return 0;
}
