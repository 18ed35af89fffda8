/* Positive: a server end read with recvmmsg: first a batch with data, then
 * end-of-stream (the call returns 1 entry with msg_len 0), and the socket is
 * kept open. One close_wait finding at the recvmmsg that saw the end. */
#include "prog.h"

static int drain_batch(int fd)
{
    char bufs[2][32];
    struct iovec iov[2] = {{bufs[0], sizeof bufs[0]}, {bufs[1], sizeof bufs[1]}};
    struct mmsghdr vec[2];
    memset(vec, 0, sizeof vec);
    for (int i = 0; i < 2; i++) {
        vec[i].msg_hdr.msg_iov = &iov[i];
        vec[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(fd, vec, 2, 0, NULL); /* EOF-SITE */ /* a batched recv() */
    if (n < 0)
        die("recvmmsg");
    return n >= 1 && vec[0].msg_len == 0 ? 1 : 0;
}

int main(void)
{
    int cli, srv;
    tcp_pair(&cli, &srv);
    recv_timeout(srv, 10);
    send_all(cli, "hello", 5);
    if (drain_batch(srv))
        die("end-of-stream before the data");
    close(cli);
    if (!drain_batch(srv))
        die("no end-of-stream after the peer closed");
    printf("recvmmsg saw end-of-stream\n");
    linger();
    return 0;
}
