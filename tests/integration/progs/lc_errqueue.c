/* Negative: recvmsg(MSG_ERRQUEUE) returns 0 with a transmit timestamp in the
 * control data on a live socket. The peer then closes, so the socket sits in
 * CLOSE_WAIT, but the program never reads the end: it closes later without
 * having seen it. No finding. */
#include "prog.h"
#include <linux/errqueue.h>
#include <linux/net_tstamp.h>

int main(void)
{
    int cli, srv;
    tcp_pair(&cli, &srv);
    int ts = SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_TSONLY |
             SOF_TIMESTAMPING_OPT_ID;
    if (setsockopt(srv, SOL_SOCKET, SO_TIMESTAMPING, &ts, sizeof ts) < 0)
        die("SO_TIMESTAMPING");
    send_all(srv, "stamp me\n", 9);
    char buf[64], ctl[512];
    struct iovec iov = {buf, sizeof buf};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                       .msg_controllen = sizeof ctl};
    ssize_t n = -1;
    for (int i = 0; i < 200 && n < 0; i++) {
        m.msg_controllen = sizeof ctl;
        n = recvmsg(srv, &m, MSG_ERRQUEUE | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN)
            die("recvmsg(MSG_ERRQUEUE)");
        if (n < 0)
            sleep_ms(5);
    }
    if (n != 0 || m.msg_controllen == 0)
        die("recvmsg(MSG_ERRQUEUE): expected 0 with control data, got %zd", n);
    close(cli); /* srv is now in CLOSE_WAIT, unread */
    linger();
    close(srv);
    printf("error queue read\n");
    return 0;
}
