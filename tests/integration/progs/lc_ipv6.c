/* Positive: an IPv6 server on [::1] accepts, reads end-of-stream and keeps
 * the connection. One finding, peer "[::1]:port". */
#include "prog.h"

int main(void)
{
    int lfd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0)
        die("socket(AF_INET6)");
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    socklen_t len = sizeof a;
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 8) < 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &len) < 0)
        die("bind/listen on [::1]");
    int cli = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (cli < 0 || connect(cli, (struct sockaddr *)&a, sizeof a) < 0)
        die("connect to [::1]");
    int srv = accept(lfd, NULL, NULL); /* OPEN-SITE */
    if (srv < 0)
        die("accept");
    recv_timeout(srv, 10);
    send_all(cli, "v6\n", 3);
    close(cli);
    char buf[64];
    ssize_t n;
    while ((n = recv(srv, buf, sizeof buf, 0)) > 0) /* EOF-SITE */
        ;
    if (n != 0)
        die("recv");
    printf("server port %u\n", ntohs(a.sin6_port));
    linger();
    return 0;
}
