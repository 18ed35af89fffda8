/* Positive: a socket kept open past the deadline after end-of-stream and then
 * closed: one close_wait finding whose example says closed: true. */
#include "prog.h"

int main(void)
{
    int cli, srv;
    tcp_pair(&cli, &srv);
    close(cli);
    recv_timeout(srv, 10);
    char buf[64];
    ssize_t n = recv(srv, buf, sizeof buf, 0); /* EOF-SITE */
    if (n != 0)
        die("expected end-of-stream");
    sleep_ms(2 * deadline_ms());
    close(srv);
    sleep_ms(deadline_ms());
    printf("closed late\n");
    return 0;
}
