/* Positive: after end-of-stream the server shuts down its writing side (so
 * the connection itself finishes) but never closes the fd: one
 * unclosed_after_shutdown finding. */
#include "prog.h"

static void finish_request(int fd)
{
    char buf[64];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0) /* EOF-SITE */
        ;
    if (n < 0)
        die("recv");
    if (shutdown(fd, SHUT_WR) < 0)
        die("shutdown");
    /* and no close(fd) */
}

int main(void)
{
    int port;
    int lfd = listen_loopback(&port);
    int cli = connect_loopback(port);
    int srv = accept4(lfd, NULL, NULL, SOCK_CLOEXEC); /* OPEN-SITE */
    if (srv < 0)
        die("accept");
    close(lfd);
    recv_timeout(srv, 10);
    send_all(cli, "request\n", 8);
    if (shutdown(cli, SHUT_WR) < 0)
        die("shutdown client");
    finish_request(srv);
    char buf[16];
    recv_timeout(cli, 10);
    if (recv(cli, buf, sizeof buf, 0) != 0)
        die("client: expected end-of-stream after the server's shutdown");
    close(cli);
    linger();
    printf("shut down, never closed\n");
    return 0;
}
