/* A dup2 or dup3 onto a socket that fails leaves the socket open and in
 * CLOSE_WAIT: the leak must still be reported.
 * Usage: st_dup_fail dup2|dup3|none   (none: no dup call, the control case) */
#include <fcntl.h>
#include "prog.h"

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "none";
    int use_dup3 = strcmp(mode, "dup3") == 0;
    int use_dup = use_dup3 || strcmp(mode, "dup2") == 0;
    int port;
    int lfd = listen_loopback(&port);
    int cli = connect_loopback(port);
    int srv = accept4(lfd, NULL, NULL, SOCK_CLOEXEC); /* OPEN-SITE */
    if (srv < 0)
        die("accept");
    close(lfd);
    recv_timeout(srv, 10);
    close(cli);
    char buf[16];
    if (recv(srv, buf, sizeof buf, 0) != 0) /* EOF-SITE */
        die("recv: expected end-of-stream");
    /* Both fail and leave srv as it was: a bad source fd, bad flags. */
    if (use_dup) {
        int r = use_dup3 ? dup3(srv + 1000, srv, 0x12345) : dup2(srv + 1000, srv);
        if (r != -1 || fcntl(srv, F_GETFD) < 0)
            die("the failing %s changed fd %d", mode, srv);
    }
    linger();
    printf("kept fd %d (%s)\n", srv, mode);
    return 0;
}
