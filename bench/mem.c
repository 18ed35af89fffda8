/* Resident memory per tracked socket.
 *     mem open SOCKETS    SOCKETS/2 socketpairs (AF_UNIX stream), all open
 *     mem eof SOCKETS     SOCKETS socketpairs; each closes one end and reads
 *                         end-of-stream on the other, which stays open (so
 *                         every socket has an EOF stack and a pending deadline)
 * prints "MODE SOCKETS RSS_DELTA_BYTES": resident memory after opening minus
 * before (after a warm-up pair), so the library's fixed cost cancels and what
 * remains is what grows with the number of sockets. RLIMIT_NOFILE is raised
 * as far as allowed; when that is not enough, fewer sockets are opened and
 * the count printed says how many. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define SPARE_FDS 64

static void die(const char *what)
{
    fprintf(stderr, "mem: %s: %s\n", what, strerror(errno));
    exit(2);
}

static long rss_bytes(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld %ld", &size, &resident) != 2)
        die("/proc/self/statm");
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

/* Room for `want` more fds; returns how many we may really open. */
static long raise_nofile(long want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        die("getrlimit");
    rlim_t need = (rlim_t)want + SPARE_FDS;
    if (rl.rlim_cur < need) {
        struct rlimit up = {need, rl.rlim_max > need ? rl.rlim_max : need};
        if (setrlimit(RLIMIT_NOFILE, &up) < 0) {
            rl.rlim_cur = rl.rlim_max; /* not privileged: the hard limit it is */
            if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                die("setrlimit");
        }
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur >= need ? want : (long)rl.rlim_cur - SPARE_FDS;
}

/* One tracked socket that stays open; in eof mode it has read end-of-stream. */
static int open_one(int eof, int *out)
{
    int sv[2];
    char c;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return -1;
    if (!eof) {
        out[0] = sv[0];
        out[1] = sv[1];
        return 2;
    }
    close(sv[1]);
    if (recv(sv[0], &c, 1, 0) != 0)
        die("recv eof");
    out[0] = sv[0];
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "open") && strcmp(argv[1], "eof"))) {
        fprintf(stderr, "usage: mem open|eof SOCKETS\n");
        return 2;
    }
    int eof = !strcmp(argv[1], "eof");
    long want = atol(argv[2]);
    long room = raise_nofile(want + 4);
    long target = room < want + 4 ? room - 4 : want;
    int fds[2];

    /* Warm-up: maps the first table chunk, primes the unwinder, starts the
     * reaper, so only per-socket growth is measured. */
    if (open_one(eof, fds) < 0)
        die("socketpair");
    long before = rss_bytes();
    long n = 0;
    while (n < target) {
        int k = open_one(eof, fds);
        if (k < 0)
            die("socketpair");
        n += k;
    }
    long after = rss_bytes();
    printf("%s %ld %ld\n", argv[1], n, after - before);
    return 0;
}
