/* Positive: end-of-stream first seen by recv(MSG_PEEK), which consumes
 * nothing; the program then reads the same end again with read() and keeps
 * the socket. One finding, at the peek (the first sight of the end), and
 * eof_seen counts the socket once. */
#include "prog.h"

int main(void)
{
    int cli, srv;
    tcp_pair(&cli, &srv);
    recv_timeout(srv, 10);
    close(cli);
    char buf[64];
    if (recv(srv, buf, sizeof buf, MSG_PEEK) != 0) /* EOF-SITE */
        die("peek: expected end-of-stream");
    for (int i = 0; i < 3; i++)
        if (read(srv, buf, sizeof buf) != 0)
            die("read: expected end-of-stream");
    printf("peeked the end\n");
    linger();
    return 0;
}
