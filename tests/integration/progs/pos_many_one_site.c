/* Positive: N connections leaked from one call site: one group, count N.
 * Usage: pos_many_one_site [N]   (default 4) */
#include "prog.h"

/* Reads fd to end-of-stream and returns; the caller keeps fd. */
static void drain(int fd)
{
    char buf[64];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0) /* EOF-SITE */
        ;
    if (n < 0)
        die("recv");
}

int main(int argc, char **argv)
{
    long count = arg_long(argc, argv, 1, 4);
    int port;
    int lfd = listen_loopback(&port);
    for (long i = 0; i < count; i++) {
        int cli = connect_loopback(port);
        int srv = accept4(lfd, NULL, NULL, SOCK_CLOEXEC); /* OPEN-SITE */
        if (srv < 0)
            die("accept");
        recv_timeout(srv, 10);
        send_all(cli, "x", 1);
        close(cli);
        drain(srv);
    }
    close(lfd);
    linger();
    printf("%ld leaked\n", count);
    return 0;
}
