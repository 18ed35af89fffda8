/* Positive: an epoll event loop reading with recvmsg. On end-of-stream it
 * takes the socket out of the epoll set but forgets to close it: CONNS
 * close_wait findings from one site.
 * Usage: pos_epoll_recvmsg [CONNS]   (default 2; driven by the test) */
#include "prog.h"
#include <sys/epoll.h>
#include <sys/uio.h>

/* Handles one readable connection; returns 1 when it hit end-of-stream. */
static int on_readable(int ep, int fd)
{
    char buf[512];
    struct iovec iov = {buf, sizeof buf};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT); /* EOF-SITE */
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n < 0)
        die("recvmsg");
    if (n == 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL); /* and no close(fd) */
        return 1;
    }
    send_all(fd, buf, (size_t)n);
    return 0;
}

int main(int argc, char **argv)
{
    long conns = arg_long(argc, argv, 1, 2);
    int port;
    int lfd = listen_loopback(&port);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
        die("epoll_ctl");
    announce_port(port);

    long eofs = 0;
    while (eofs < conns) {
        struct epoll_event evs[16];
        int k = epoll_wait(ep, evs, 16, 10000);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            die("epoll_wait (no client for 10 s?)");
        for (int i = 0; i < k; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK); /* OPEN-SITE */
                if (c < 0)
                    continue;
                struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev) < 0)
                    die("epoll_ctl");
            } else {
                eofs += on_readable(ep, fd);
            }
        }
    }
    linger();
    printf("%ld connections ended\n", eofs);
    return 0;
}
