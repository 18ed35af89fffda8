/* The disk holding the log fills up in the middle of the run. One leak is
 * reported, then FILLER fills the file system, three more leaks are due
 * while it is full; in mode "free" the filler is then removed and a last
 * leak reported; in mode "full" the program ends with the disk still full.
 *
 * Usage: fd_diskfull FILLER free|full */
#include "prog.h"
#include <fcntl.h>

static void leak_one(void)
{
    int cli, srv;
    tcp_pair(&cli, &srv);
    recv_timeout(srv, 10);
    close(cli);
    char b[8];
    if (read(srv, b, sizeof b) != 0) /* EOF-SITE */
        die("expected end-of-stream");
}

static void fill(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        die("open %s", path);
    static char buf[4096];
    memset(buf, 'x', sizeof buf);
    for (;;) {
        ssize_t w = write(fd, buf, sizeof buf);
        if (w < 0 && errno == ENOSPC)
            break;
        if (w <= 0)
            die("write %s", path);
    }
    close(fd);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        die("usage: fd_diskfull FILLER free|full");
    leak_one();
    sleep_ms(3 * deadline_ms());
    fill(argv[1]);
    printf("disk full\n");
    fflush(stdout);
    for (int i = 0; i < 30; i++)
        leak_one();
    sleep_ms(3 * deadline_ms());
    if (strcmp(argv[2], "free") == 0) {
        unlink(argv[1]);
        printf("disk freed\n");
        fflush(stdout);
        leak_one();
        sleep_ms(3 * deadline_ms());
    }
    return 0;
}
