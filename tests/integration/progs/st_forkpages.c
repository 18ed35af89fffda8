/* Which pages of the library's does a single-threaded parent write in a
 * fork+waitpid cycle? After a fork each page the parent writes is a page
 * fault and a copy, and on a machine whose page tables are paravirtualised
 * each fault costs about as much as a fork's own system calls.
 *
 * The process (holding a non-blocking TCP pair with argv[2] "sock", nothing
 * otherwise) forks and waits a few times, then makes a child A that stays
 * alive (with _Fork), then forks and waits argv[1] more times. Every page of the
 * library's writable mappings that the parent had when A was forked is
 * shared with A from then on (mapped twice), unless the parent wrote it
 * since: then it has its own copy, mapped once (PM_MMAP_EXCLUSIVE in
 * /proc/self/pagemap). Prints "written N" and each such page's mapping
 * offset, or "slow" when the cycles took more than a second (a sweep may
 * have run, which writes the library's pages by design). */
#include "prog.h"
#include <fcntl.h>
#include <stdint.h>
#include <signal.h>
#include <sys/wait.h>

#define PM_PRESENT (1ull << 63)
#define PM_EXCLUSIVE (1ull << 56)

/* The library's writable mappings, read before child A is forked: its
 * file's rw ones and the anonymous one right after them (.bss). */
static struct range {
    unsigned long lo, hi;
} ranges[16];
static int nranges;
static unsigned long lib_base;

static void library_ranges(void)
{
    static char maps[1 << 20];
    int fd = open("/proc/self/maps", O_RDONLY);
    if (fd < 0)
        die("open /proc/self/maps");
    ssize_t len = 0, r;
    while ((r = read(fd, maps + len, sizeof maps - 1 - (size_t)len)) > 0)
        len += r;
    maps[len] = '\0';
    close(fd);
    unsigned long lib_end = 0;
    for (char *line = strtok(maps, "\n"); line; line = strtok(NULL, "\n")) {
        unsigned long lo, hi;
        char perms[8], path[512] = "";
        if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %511s", &lo, &hi, perms, path) < 3)
            continue;
        int ours = strstr(path, "libsockleak") != NULL;
        if (ours && !lib_base)
            lib_base = lo;
        if ((ours || (!path[0] && lo == lib_end)) && perms[1] == 'w' && nranges < 16)
            ranges[nranges++] = (struct range){lo, hi};
        lib_end = ours ? hi : 0;
    }
}

/* Pages of the ranges present and mapped once, into out[] (offsets from
 * the library's start): pread only, which the library does not hook, so
 * the look itself writes nothing of the library's. */
static int library_pages_written(int pm, unsigned long *out, int max)
{
    int n = 0;
    for (int i = 0; i < nranges; i++)
        for (unsigned long a = ranges[i].lo; a < ranges[i].hi; a += 4096) {
            uint64_t e;
            if (pread(pm, &e, sizeof e, (off_t)(a / 4096 * sizeof e)) != sizeof e)
                return -1;
            if ((e & PM_PRESENT) && (e & PM_EXCLUSIVE) && n < max)
                out[n++] = a - lib_base;
        }
    return n;
}

int main(int argc, char **argv)
{
    int cycles = argc > 1 ? atoi(argv[1]) : 10;
    if (argc > 2 && !strcmp(argv[2], "sock")) {
        int port, c, s;
        int lfd = nonblocking_listener(&port);
        nonblocking_tcp_pair(lfd, port, &c, &s);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    library_ranges();
    int pm = open("/proc/self/pagemap", O_RDONLY);
    if (pm < 0)
        die("open /proc/self/pagemap");
    /* One call site for every fork, so that the first cycles intern the
     * stack the library captures there, and the later ones find it. */
    pid_t a = -1;
    for (int i = 0; i < 5 + cycles; i++) {
        if (i == 5) {
            /* Without fork handlers (the library's would write its pages in
             * A, and the parent's copies would then be mapped once), and A
             * calls nothing of the library's: sleep's nanosleep is libc's
             * own call. */
            a = _Fork();
            if (a < 0)
                die("_Fork");
            if (a == 0)
                for (;;)
                    sleep(100);
        }
        fork_exit_wait();
    }
    static unsigned long pages[4096];
    int n = library_pages_written(pm, pages, 4096);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (n < 0)
        die("pread pagemap");
    kill(a, SIGKILL);
    if (waitpid(a, NULL, 0) != a)
        die("waitpid A");
    if ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 > 1000)
        printf("slow\n");
    for (int i = 0; i < n; i++)
        printf("page +%#lx\n", pages[i]);
    printf("mappings %d written %d\n", nranges, n);
    return 0;
}
