/* A daemon that chroots into an empty directory, then closes every fd it
 * does not know (closefrom(3)), then leaks a connection: the log must still
 * be created in the output directory, outside the new root. Needs root. */
#include "prog.h"
#include <stdlib.h>

int main(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "lc_chroot: must run as root\n");
        return 77;
    }
    char dir[] = "/tmp/lc_chroot.XXXXXX";
    if (!mkdtemp(dir))
        die("mkdtemp");
    if (chroot(dir) < 0 || chdir("/") < 0)
        die("chroot %s", dir);
    closefrom(3);
    int cli, srv;
    tcp_pair(&cli, &srv);
    recv_timeout(srv, 10);
    close(cli);
    char buf[16];
    if (recv(srv, buf, sizeof buf, 0) != 0) /* EOF-SITE */
        die("expected end-of-stream");
    printf("chrooted into %s\n", dir);
    fflush(stdout);
    linger();
    return 0;
}
