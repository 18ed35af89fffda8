/* A leak whose log name the test can predict before the log is made, so it
 * can plant something at that name first.
 *
 *   ls_planted wait    prints "pid PID", waits for a line on stdin, then
 *                      reads end-of-stream on a socket and keeps it
 *   ls_planted exec    reads end-of-stream and closes the socket (its log
 *                      exists now), then execs itself as "again" in the
 *                      same pid, which leaks as "wait" does without waiting
 *
 * Prints "pid PID" (both modes) so the test knows the log's name. */
#include "prog.h"

static void leak(void)
{
    int cli, srv;
    tcp_pair(&cli, &srv);
    recv_timeout(srv, 10);
    close(cli);
    char buf[64];
    if (read(srv, buf, sizeof buf) != 0) /* EOF-SITE */
        die("expected end-of-stream");
    linger(); /* srv is never closed */
}

/* End-of-stream on a socket that is closed at once: no finding, but the
 * image's log is made. */
static void clean_eof(void)
{
    int cli, srv;
    tcp_pair(&cli, &srv);
    close(cli);
    char buf[64];
    if (read(srv, buf, sizeof buf) != 0)
        die("expected end-of-stream");
    close(srv);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "again") == 0) {
        leak();
        return 0;
    }
    printf("pid %d\n", (int)getpid());
    fflush(stdout);
    if (strcmp(mode, "wait") == 0) {
        char line[64];
        if (!fgets(line, sizeof line, stdin))
            die("no go-ahead on stdin");
        leak();
        return 0;
    }
    if (strcmp(mode, "exec") == 0) {
        clean_eof();
        execl("/proc/self/exe", argv[0], "again", (char *)NULL);
        die("exec");
    }
    fprintf(stderr, "usage: ls_planted wait|exec\n");
    return 2;
}
