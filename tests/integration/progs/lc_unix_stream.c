/* Positive: a unix stream socketpair; one end is closed, the other reads
 * end-of-stream and is kept. One finding, family unix, no TCP state. */
#include "prog.h"

int main(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) /* OPEN-SITE */
        die("socketpair");
    recv_timeout(sv[0], 10);
    send_all(sv[1], "unix\n", 5);
    close(sv[1]);
    char buf[64];
    ssize_t n;
    while ((n = read(sv[0], buf, sizeof buf)) > 0) /* EOF-SITE */
        ;
    if (n != 0)
        die("read");
    printf("unix end-of-stream\n");
    linger();
    return 0;
}
