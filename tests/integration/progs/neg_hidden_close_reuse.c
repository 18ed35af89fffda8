/* Negative: a socket is closed behind the library's back (an inline system
 * call, as a Go runtime or a static helper would), its number is taken by
 * /dev/null, and a read there returns 0. That 0 is a file's end, not the
 * socket's end-of-stream: zero findings. The library takes a socket's
 * inode only when it first needs it, so at that read it must see that the
 * fd no longer holds a socket at all. */
#include "prog.h"
#include <fcntl.h>

int main(void)
{
    int cli, srv;
    tcp_pair(&cli, &srv);
    if (raw_close(srv) != 0)
        die("raw close");
    int fd; /* the lowest free numbers first: the listener's is one */
    while ((fd = open("/dev/null", O_RDONLY)) >= 0 && fd < srv)
        ;
    if (fd != srv)
        die("/dev/null got fd %d, not the socket's %d", fd, srv);
    char buf[64];
    if (read(fd, buf, sizeof buf) != 0)
        die("expected 0 from /dev/null");
    close(cli);
    linger(); /* /dev/null stays open: nothing to report at any deadline */
    printf("a file's end is no socket's\n");
    return 0;
}
