/* Positive, for the kernel sweep: a server keeps a connection open while
 * the sweep looks at it (the sweep takes its inode then), closes it behind
 * the library's back (an inline system call), and accepts another that gets
 * the same fd number. The second connection's
 * peer closes and the server never reads: the sweep must match it by its
 * own inode, not the first one's: one close_wait_unread, at the second
 * accept. */
#include "prog.h"

int main(void)
{
    int port;
    int lfd = listen_loopback(&port);
    int c1 = connect_loopback(port);
    int s1 = accept(lfd, NULL, NULL);
    if (s1 < 0)
        die("accept");
    sleep_ms(2 * deadline_ms()); /* some sweeps run while s1 is open */
    close(c1);
    if (raw_close(s1) != 0)
        die("raw close");
    int c2 = connect_loopback(port);
    int s2 = accept(lfd, NULL, NULL); /* OPEN-SITE */
    if (s2 < 0)
        die("accept");
    if (s2 != s1)
        die("the second connection got fd %d, not %d", s2, s1);
    close(c2);
    sleep_ms(50); /* the FIN is in */
    hold_prepare();
    announce_port(port);
    hold_until_released(HOLD_LIMIT_MS);
    printf("held fd %d in CLOSE_WAIT\n", s2);
    return 0;
}
