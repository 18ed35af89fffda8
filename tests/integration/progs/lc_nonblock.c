/* Negative: reads on a non-blocking socket whose peer is alive and silent
 * fail with EAGAIN; that is not end-of-stream. The socket is held past the
 * deadline, then both ends close. No finding, and no end-of-stream seen. */
#include "prog.h"
#include <fcntl.h>

int main(void)
{
    int cli, srv;
    tcp_pair(&cli, &srv);
    if (fcntl(srv, F_SETFL, fcntl(srv, F_GETFL) | O_NONBLOCK) < 0)
        die("O_NONBLOCK");
    char buf[64];
    for (int i = 0; i < 100; i++) {
        errno = 0;
        ssize_t n = i % 2 ? recv(srv, buf, sizeof buf, 0) : read(srv, buf, sizeof buf);
        if (n != -1 || (errno != EAGAIN && errno != EWOULDBLOCK))
            die("read %d: expected EAGAIN, got %zd", i, n);
    }
    errno = 0;
    if (recv(cli, buf, sizeof buf, MSG_DONTWAIT) != -1 || errno != EAGAIN)
        die("client: expected EAGAIN");
    linger();
    close(srv);
    close(cli);
    printf("only EAGAIN\n");
    return 0;
}
