/* Makes and closes COUNT loopback connections (each with its end-of-stream
 * read), then ends without the library's footer:
 *   rw_killed COUNT signal    raise(SIGTERM), the default action
 *   rw_killed COUNT rawexit   exit_group through an inline system call
 *   rw_killed COUNT exit      (the control) returns from main
 *   rw_killed COUNT signal DIR  first waits (up to 30 s) until its log in
 *                             DIR has a counts record of 3*COUNT sockets
 * Nothing leaks; the report must still say its counts are a lower bound. */
#include <dirent.h>
#include <signal.h>
#include "prog.h"

/* Does a .jsonl file in dir hold `text`? */
static int logs_hold(const char *dir, const char *text)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;
    while (d && !found && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 6, ".jsonl") != 0)
            continue;
        char path[4096], buf[65536];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f)
            fclose(f);
        buf[n] = '\0';
        found = strstr(buf, text) != NULL;
    }
    if (d)
        closedir(d);
    return found;
}

/* Waits until a log in dir holds a counts record of `sockets` sockets: the
 * library's sweep wrote it (a condition, not a time; 60 s at most). */
static void wait_for_counts(const char *dir, long sockets)
{
    char want[64];
    snprintf(want, sizeof want, "\"t\":\"counts\",\"sockets\":%ld,", sockets);
    for (int i = 0; i < 6000 && !logs_hold(dir, want); i++)
        sleep_ms(10);
    if (!logs_hold(dir, want))
        die("no counts record of %ld sockets in %s", sockets, dir);
}

int main(int argc, char **argv)
{
    long n = arg_long(argc, argv, 1, 20);
    const char *how = argc > 2 ? argv[2] : "signal";
    for (long i = 0; i < n; i++) {
        int c, s;
        char b;
        tcp_pair(&c, &s);
        close(c);
        if (read(s, &b, 1) != 0)
            die("read of end-of-stream");
        close(s);
    }
    printf("made %ld\n", n);
    fflush(stdout);
    if (argc > 3)
        wait_for_counts(argv[3], 3 * n);
    if (strcmp(how, "rawexit") == 0) {
        return (int)sl_raw_syscall4(SYS_exit_group, 0, 0, 0, 0);
    }
    if (strcmp(how, "exit") == 0)
        return 0;
    raise(SIGTERM);
    return 1;
}
