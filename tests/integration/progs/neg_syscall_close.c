/* Negative: the socket is closed with syscall(SYS_close, fd), as libuv (Node)
 * does, after end-of-stream: zero findings. */
#include "prog.h"
#include <sys/syscall.h>

int main(void)
{
    int cli, srv;
    tcp_pair(&cli, &srv);
    close(cli);
    recv_timeout(srv, 10);
    char buf[64];
    if (recv(srv, buf, sizeof buf, 0) != 0)
        die("expected end-of-stream");
    if (syscall(SYS_close, srv) != 0)
        die("syscall(SYS_close)");
    /* Other syscalls must still go through untouched. */
    if (syscall(SYS_getpid) != getpid())
        die("syscall(SYS_getpid)");
    linger();
    printf("closed by syscall\n");
    return 0;
}
