/* Negative: zero-length reads on a live TCP connection return 0 without any
 * end-of-stream: zero findings. */
#include "prog.h"
#include <sys/uio.h>

int main(void)
{
    int cli, srv;
    tcp_pair(&cli, &srv);
    send_all(cli, "data", 4);
    char buf[16];
    struct iovec iov = {buf, 0};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (recv(srv, buf, 0, 0) != 0 || read(srv, buf, 0) != 0 ||
        recvfrom(srv, buf, 0, 0, NULL, NULL) != 0 || recvmsg(srv, &mh, 0) != 0 ||
        readv(srv, &iov, 1) != 0)
        die("a zero-length read did not return 0");
    /* The data is still there: the connection is alive. */
    if (recv(srv, buf, sizeof buf, 0) != 4)
        die("recv after the zero-length reads");
    linger();
    close(cli);
    close(srv);
    printf("zero-length reads: 5\n");
    return 0;
}
