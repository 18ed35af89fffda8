/* Negative: a unix datagram socketpair carrying empty messages: each recv
 * returns 0 and none is end-of-stream: zero findings. */
#include "prog.h"

int main(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
        die("socketpair");
    recv_timeout(sv[1], 10);
    char buf[64];
    for (int i = 0; i < 5; i++) {
        if (send(sv[0], "", 0, 0) != 0)
            die("send");
        if (recv(sv[1], buf, sizeof buf, 0) != 0)
            die("recv of an empty message");
    }
    if (write(sv[1], "", 0) != 0 || read(sv[0], buf, sizeof buf) != 0)
        die("read of an empty message");
    linger();
    close(sv[0]);
    close(sv[1]);
    printf("unix dgram: 6 empty messages\n");
    return 0;
}
