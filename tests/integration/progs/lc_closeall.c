/* Programs that close every fd they do not know, or put something else on
 * fds 0-2, in the middle of their life. A first connection is leaked and
 * reported (the log now exists), then MODE:
 *   loop       close(fd) for fd 3..1024
 *   range      close_range(3, ~0U, 0)
 *   closefrom  closefrom(3)
 *   stdio      dup2 /dev/null over fds 0, 1 and 2
 * then a second connection is leaked. Both findings must be in the log:
 * the first closed (by the sweep) except in stdio mode. */
#include "prog.h"
#include <fcntl.h>

static int leak_one(int second)
{
    int cli, srv;
    tcp_pair(&cli, &srv);
    recv_timeout(srv, 10);
    close(cli);
    char buf[64];
    ssize_t n = second ? read(srv, buf, sizeof buf) /* EOF-SITE */
                       : recv(srv, buf, sizeof buf, 0); /* EOF-SITE */
    if (n != 0)
        die("expected end-of-stream");
    return srv;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "loop";
    leak_one(0);
    sleep_ms(3 * deadline_ms()); /* reported: the log is open now */
    printf("sweeping (%s)\n", mode);
    fflush(stdout);
    if (strcmp(mode, "loop") == 0) {
        for (int fd = 3; fd <= 1024; fd++)
            close(fd);
    } else if (strcmp(mode, "range") == 0) {
        if (close_range(3, ~0U, 0) != 0)
            die("close_range");
    } else if (strcmp(mode, "closefrom") == 0) {
        closefrom(3);
    } else if (strcmp(mode, "stdio") == 0) {
        int null = open("/dev/null", O_RDWR);
        if (null < 0)
            die("open /dev/null");
        for (int fd = 0; fd <= 2; fd++)
            if (dup2(null, fd) != fd)
                die("dup2 over %d", fd);
        close(null);
    } else {
        die("unknown mode %s", mode);
    }
    leak_one(1);
    linger();
    return 0;
}
