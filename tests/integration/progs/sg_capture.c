/* Stack captures made in a signal handler, by what the signal interrupted.
 *
 *   sg_capture WHERE ITERATIONS [leak]
 *
 * WHERE: main (no handler: the loop runs in main), handler (a handler that
 * interrupted nothing in particular), or plt, libc, lib: a SIGTRAP handler,
 * reached by single-stepping main's loop until the interrupted instruction
 * is in the program's PLT stubs, in libc, or in libsockleak.so (a hook
 * before it sets its guard; without the library, lib runs as main). There
 * ITERATIONS times socket() + close(): with the library each socket()
 * captures its creation stack through the signal frame and the interrupted
 * frame. Prints "WHERE ITERATIONS NS_PER_ITERATION".
 *
 * With "leak", the handler then also makes a loopback connection whose peer
 * hangs up, reads its end-of-stream and keeps it open for three deadlines:
 * one close_wait finding, read in eof_kept, whose stack goes on through the
 * handler and the interrupted frame into main. */
#include <link.h>
#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <ucontext.h>
#include "prog.h"

extern char __executable_start;
static uintptr_t plt_lo[4], plt_hi[4];
static int nplt;
static const char *where;
static long iterations;
static int leak;
static volatile sig_atomic_t done;
static double ns_per;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The program's PLT sections, from its own section headers. */
static void find_plt(void)
{
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        die("/proc/self/exe");
    const char *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED)
        die("mmap");
    close(fd);
    const Elf64_Ehdr *eh = (const void *)m;
    const Elf64_Shdr *sh = (const void *)(m + eh->e_shoff);
    const char *names = m + sh[eh->e_shstrndx].sh_offset;
    for (int i = 0; i < eh->e_shnum && nplt < 4; i++) {
        const char *n = names + sh[i].sh_name;
        if (!strcmp(n, ".plt") || !strcmp(n, ".plt.sec") || !strcmp(n, ".plt.got")) {
            plt_lo[nplt] = (uintptr_t)&__executable_start + sh[i].sh_addr;
            plt_hi[nplt] = plt_lo[nplt] + sh[i].sh_size;
            nplt++;
        }
    }
    if (nplt == 0)
        die("no PLT section in /proc/self/exe");
}

/* Executable ranges of libc and of the library, found before any signal:
 * dladdr in the handler would wait for the loader's lock when the step
 * interrupted the loader. */
static uintptr_t libc_lo, libc_hi, lib_lo, lib_hi;

static int range_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    uintptr_t *lo = NULL, *hi = NULL;
    if (strstr(info->dlpi_name, "/libc.so")) {
        lo = &libc_lo;
        hi = &libc_hi;
    } else if (strstr(info->dlpi_name, "libsockleak")) {
        lo = &lib_lo;
        hi = &lib_hi;
    } else {
        return 0;
    }
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            *lo = info->dlpi_addr + ph->p_vaddr;
            *hi = *lo + ph->p_memsz;
        }
    }
    return 0;
}

static int interrupted_where(uintptr_t ip)
{
    if (!strcmp(where, "plt")) {
        for (int i = 0; i < nplt; i++)
            if (ip >= plt_lo[i] && ip < plt_hi[i])
                return 1;
        return 0;
    }
    if (!strcmp(where, "libc"))
        return ip >= libc_lo && ip < libc_hi;
    return ip >= lib_lo && ip < lib_hi;
}

static void sockets(long n)
{
    int64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s >= 0)
            close(s);
    }
    ns_per = (double)(now_ns() - t0) / (double)(n > 0 ? n : 1);
}

/* A connection whose peer hangs up; its end-of-stream read here. */
static void eof_kept(void)
{
    int c, s;
    char b;
    tcp_pair(&c, &s);
    close(c);
    if (read(s, &b, 1) != 0) /* EOF-SITE */
        die("read of end-of-stream");
    (void)s; /* kept open: the leak */
}

static void on_trap(int sig, siginfo_t *si, void *ucv)
{
    (void)sig;
    (void)si;
    ucontext_t *uc = ucv;
    if (done || !interrupted_where((uintptr_t)SL_UCONTEXT_PC(uc)))
        return;
    sockets(iterations);
    if (leak)
        eof_kept();
    done = 1;
    uc->uc_mcontext.gregs[REG_EFL] &= ~0x100L; /* stop single-stepping */
}

static void on_start(int sig, siginfo_t *si, void *ucv)
{
    (void)sig;
    (void)si;
    ucontext_t *uc = ucv;
    uc->uc_mcontext.gregs[REG_EFL] |= 0x100L; /* single-step from here on */
}

static void on_usr2(int sig)
{
    (void)sig;
    sockets(iterations);
    if (leak)
        eof_kept();
    done = 1;
}

int main(int argc, char **argv)
{
    where = argc > 1 ? argv[1] : "plt";
    iterations = arg_long(argc, argv, 2, 1000);
    leak = argc > 3 && !strcmp(argv[3], "leak");
    find_plt();
    dl_iterate_phdr(range_cb, NULL);
    sockets(50); /* binding, the first capture */
    if (!strcmp(where, "main") || (!strcmp(where, "lib") && lib_hi == 0)) {
        sockets(iterations);
        if (leak)
            eof_kept();
    } else if (!strcmp(where, "handler")) {
        signal(SIGUSR2, on_usr2);
        raise(SIGUSR2);
    } else if (!strcmp(where, "plt") || !strcmp(where, "libc") || !strcmp(where, "lib")) {
        struct sigaction sa = {0};
        sa.sa_flags = SA_SIGINFO;
        sa.sa_sigaction = on_trap;
        if (sigaction(SIGTRAP, &sa, NULL) != 0)
            die("sigaction");
        sa.sa_sigaction = on_start;
        if (sigaction(SIGUSR1, &sa, NULL) != 0)
            die("sigaction");
        raise(SIGUSR1);
        /* Single-stepped until the handler finds what it waits for: a PLT
         * stub (getppid's), libc, or a hook of the library (close's). */
        for (long i = 0; !done; i++) {
            (void)getppid();
            (void)close(-1);
        }
    } else {
        fprintf(stderr, "usage: sg_capture main|handler|plt|libc|lib ITERATIONS [leak]\n");
        return 2;
    }
    if (leak)
        linger();
    printf("%s %ld %.0f\n", where, iterations, ns_per);
    return 0;
}
