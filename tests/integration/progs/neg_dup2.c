/* Negative: after end-of-stream the socket is replaced with dup2(devnull,
 * sock), which closes it (Java's NIO closes sockets this way): zero
 * findings. */
#include "prog.h"
#include <fcntl.h>

int main(void)
{
    int cli, srv;
    tcp_pair(&cli, &srv);
    close(cli);
    recv_timeout(srv, 10);
    char buf[64];
    if (recv(srv, buf, sizeof buf, 0) != 0)
        die("expected end-of-stream");
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0)
        die("open /dev/null");
    if (dup2(devnull, srv) != srv)
        die("dup2");
    close(devnull);
    linger();
    /* srv is /dev/null now: reads return 0 and mean nothing. */
    if (read(srv, buf, sizeof buf) != 0)
        die("read /dev/null");
    close(srv);
    printf("replaced by dup2\n");
    return 0;
}
