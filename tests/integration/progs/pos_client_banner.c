/* Positive: a client that reads the server's banner to end-of-stream and
 * keeps the fd: one close_wait finding on the client's side.
 * Usage: pos_client_banner PORT   (the test runs the banner server) */
#include "prog.h"

int main(int argc, char **argv)
{
    int port = (int)arg_long(argc, argv, 1, 0);
    if (port <= 0)
        die("usage: pos_client_banner PORT");
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) /* OPEN-SITE */
        die("connect");
    recv_timeout(fd, 10);
    char buf[256];
    size_t total = 0;
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0); /* EOF-SITE */
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("recv");
        if (n == 0)
            break;
        fwrite(buf, 1, (size_t)n, stdout);
        total += (size_t)n;
    }
    fflush(stdout);
    linger();
    return total > 0 ? 0 : 1;
}
