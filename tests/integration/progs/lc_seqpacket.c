/* Negative: SOCK_SEQPACKET carries empty messages, which read as 0 exactly
 * like an end; the peer stays alive and the socket is held past the
 * deadline, then closed. No finding. */
#include "prog.h"

int main(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        die("socketpair(SOCK_SEQPACKET)");
    recv_timeout(sv[0], 10);
    char buf[64];
    for (int i = 0; i < 5; i++) {
        if (send(sv[1], "", 0, 0) != 0)
            die("send empty message");
        ssize_t n = i % 2 ? read(sv[0], buf, sizeof buf) : recv(sv[0], buf, sizeof buf, 0);
        if (n != 0)
            die("empty message %d: expected 0, got %zd", i, n);
    }
    linger();
    close(sv[0]);
    close(sv[1]);
    printf("five empty messages\n");
    return 0;
}
