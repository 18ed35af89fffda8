/* Negative: a UDP server receiving zero-length datagrams. recvfrom returns 0
 * for each, which is an empty message, not end-of-stream: zero findings,
 * although the sockets stay open well past the deadline. */
#include "prog.h"

int main(void)
{
    int srv = socket(AF_INET, SOCK_DGRAM, 0);
    int cli = socket(AF_INET, SOCK_DGRAM, 0);
    if (srv < 0 || cli < 0)
        die("socket");
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(srv, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(srv, (struct sockaddr *)&a, &len) < 0)
        die("bind");
    recv_timeout(srv, 10);

    char buf[256];
    for (int i = 0; i < 5; i++) {
        if (sendto(cli, "", 0, 0, (struct sockaddr *)&a, sizeof a) != 0)
            die("sendto");
        struct sockaddr_in from;
        socklen_t flen = sizeof from;
        ssize_t n = recvfrom(srv, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
        if (n != 0)
            die("recvfrom returned %zd, expected an empty datagram", n);
    }
    /* The same through recv and read, which a detector wraps separately. */
    if (sendto(cli, "", 0, 0, (struct sockaddr *)&a, sizeof a) != 0 ||
        recv(srv, buf, sizeof buf, 0) != 0)
        die("recv of an empty datagram");
    if (sendto(cli, "", 0, 0, (struct sockaddr *)&a, sizeof a) != 0 ||
        read(srv, buf, sizeof buf) != 0)
        die("read of an empty datagram");
    linger();
    close(cli);
    close(srv);
    printf("udp: 7 empty datagrams\n");
    return 0;
}
