#include "run.h"
#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SL_LIBDIR
#define SL_LIBDIR "/usr/local/lib"
#endif

#define SL_RUN_LIB "libsockleak.so"

static const int sl_run_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
#define SL_RUN_NSIGNALS (sizeof(sl_run_signals) / sizeof(sl_run_signals[0]))

static volatile sig_atomic_t sl_run_child;

static char *sl_run_join(const char *a, const char *b)
{
    return sl_util_xjoin(a, "/", b);
}

static char *sl_run_try(const char *path)
{
    char *real;

    if (access(path, R_OK) != 0)
        return NULL;
    real = realpath(path, NULL);
    return real ? real : sl_util_xstrdup(path);
}

char *sl_run_find_library(void)
{
    const char *env = getenv("SOCKLEAK_LIBRARY");
    char exe[PATH_MAX], *dir, *cand, *found = NULL;
    ssize_t n;

    if (env && *env) {
        found = sl_run_try(env);
        if (!found)
            fprintf(stderr, "sockleak: SOCKLEAK_LIBRARY=%s: %s\n", env, strerror(errno));
        return found;
    }
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        dir = exe;
        *strrchr(exe, '/') = '\0';
        /* Beside the tool (the build tree), then the installed layout. */
        cand = sl_run_join(dir, SL_RUN_LIB);
        found = sl_run_try(cand);
        free(cand);
        if (found)
            return found;
        cand = sl_run_join(dir, "../lib/" SL_RUN_LIB);
        found = sl_run_try(cand);
        free(cand);
        if (found)
            return found;
    }
    found = sl_run_try(SL_LIBDIR "/" SL_RUN_LIB);
    if (!found)
        fprintf(stderr,
                "sockleak: cannot find %s (looked beside the sockleak executable, in its "
                "../lib and in %s); set SOCKLEAK_LIBRARY to its path\n",
                SL_RUN_LIB, SL_LIBDIR);
    return found;
}

char *sl_run_abspath(const char *path)
{
    char cwd[PATH_MAX];

    if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
        return sl_util_xstrdup(path);
    return sl_run_join(cwd, path);
}

int sl_run_mkdirs(const char *path)
{
    char *p = sl_util_xstrdup(path);
    struct stat st;

    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0777) < 0 && errno != EEXIST) {
            free(p);
            return -1;
        }
        *s = '/';
    }
    if (mkdir(p, 0777) < 0 && errno != EEXIST) {
        free(p);
        return -1;
    }
    free(p);
    if (stat(path, &st) < 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

static void sl_run_forward(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    /* A terminal's ^C already reached the child, which shares our process
     * group: forwarding it would deliver it twice. */
    if (si && si->si_code == SI_KERNEL)
        return;
    if (sl_run_child > 0)
        kill((pid_t)sl_run_child, sig);
}

/* Sets LD_PRELOAD and SOCKLEAK_OPTIONS for the child; ours come last in
 * SOCKLEAK_OPTIONS so they win over the user's own settings. */
static void sl_run_env(const struct sl_run_opts *o, const char *lib, const char *outdir,
                       const char *run_id)
{
    const char *pre = getenv("LD_PRELOAD"), *user = getenv("SOCKLEAK_OPTIONS");
    char ours[PATH_MAX + 256], *v;
    int n;

    if (pre && *pre) {
        v = sl_util_xjoin(lib, ":", pre);
        setenv("LD_PRELOAD", v, 1);
        free(v);
    } else {
        setenv("LD_PRELOAD", lib, 1);
    }
    /* Deadline and frames only when given: otherwise the user's own
     * SOCKLEAK_OPTIONS, or the library's default (the same as ours), apply. */
    n = snprintf(ours, sizeof(ours), "output=%s:run_id=%s", outdir, run_id);
    if (o->deadline_ms > 0)
        n += snprintf(ours + n, sizeof(ours) - (size_t)n, ":deadline_ms=%ld", o->deadline_ms);
    if (o->frames > 0)
        n += snprintf(ours + n, sizeof(ours) - (size_t)n, ":frames=%ld", o->frames);
    if (o->verbosity >= 0)
        snprintf(ours + n, sizeof(ours) - (size_t)n, ":verbosity=%ld", o->verbosity);
    else if (o->quiet)
        snprintf(ours + n, sizeof(ours) - (size_t)n, ":verbosity=0");
    if (user && *user) {
        v = sl_util_xjoin(user, ":", ours);
        setenv("SOCKLEAK_OPTIONS", v, 1);
        free(v);
    } else {
        setenv("SOCKLEAK_OPTIONS", ours, 1);
    }
}

/* Child side of the fork: never returns. Exec failure goes to the parent
 * through errpipe (CLOEXEC, so a successful exec closes it unwritten). */
static void sl_run_child_exec(const struct sl_run_opts *o, const char *lib, const char *outdir,
                              const char *run_id, int errpipe, const sigset_t *oldmask)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    int err;

    for (size_t i = 0; i < SL_RUN_NSIGNALS; i++)
        sigaction(sl_run_signals[i], &dfl, NULL);
    sigprocmask(SIG_SETMASK, oldmask, NULL);
    sl_run_env(o, lib, outdir, run_id);
    execvp(o->argv[0], o->argv);
    err = errno;
    fprintf(stderr, "sockleak: cannot run %s: %s\n", o->argv[0], strerror(err));
    if (write(errpipe, &err, sizeof(err)) < 0) {
        /* The parent then sees a plain exit status: nothing more to do. */
    }
    _exit(err == ENOENT ? 127 : 126);
}

/* Is the output directory's file system full now? A log that ends without
 * its footer may then have been cut by a failed write rather than a kill:
 * less than one record's worth of space (64 KiB) counts as full. */
static bool sl_run_outdir_full(const char *dir)
{
    struct statvfs sv;
    if (statvfs(dir, &sv) != 0 || sv.f_blocks == 0)
        return false;
    return (unsigned long long)sv.f_bavail * sv.f_frsize < 65536;
}

int sl_run(const struct sl_run_opts *o)
{
    char *lib, *outdir, run_id[64];
    struct sigaction sa = {0}, old[SL_RUN_NSIGNALS];
    sigset_t block, oldmask;
    struct timespec now;
    int pipefd[2], status = 0, exec_err = 0, rc;
    pid_t pid;
    ssize_t n;
    struct sl_logread_set logs;
    int64_t leaks;

    lib = sl_run_find_library();
    if (!lib)
        return 2;
    outdir = sl_run_abspath(o->output);
    if (strchr(outdir, ':')) {
        fprintf(stderr,
                "sockleak: --output %s: the directory name must not contain ':' "
                "(SOCKLEAK_OPTIONS uses it as separator)\n",
                outdir);
        free(lib);
        free(outdir);
        return 2;
    }
    struct stat outst;
    bool out_existed = stat(outdir, &outst) == 0;
    if (strlen(outdir) >= PATH_MAX || sl_run_mkdirs(outdir) < 0) {
        fprintf(stderr, "sockleak: cannot create the output directory %s: %s\n", outdir,
                strlen(outdir) >= PATH_MAX ? strerror(ENAMETOOLONG) : strerror(errno));
        free(lib);
        free(outdir);
        return 2;
    }
    /* Servers started as root often drop privileges in their workers (nginx's
     * `user nobody`): they must still be able to create their logs. Like
     * /tmp, the directory we made is world-writable with the sticky bit. */
    if (!out_existed && geteuid() == 0 && chmod(outdir, 01777) < 0)
        fprintf(stderr, "sockleak: warning: chmod %s: %s\n", outdir, strerror(errno));
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(run_id, sizeof(run_id), "%x-%" PRIx64, (unsigned)getpid(),
             (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec);

    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        fprintf(stderr, "sockleak: pipe: %s\n", strerror(errno));
        free(lib);
        free(outdir);
        return 2;
    }
    /* Signals are blocked across fork so that none arrives before the
     * child's pid is known. */
    sigemptyset(&block);
    for (size_t i = 0; i < SL_RUN_NSIGNALS; i++)
        sigaddset(&block, sl_run_signals[i]);
    sigprocmask(SIG_BLOCK, &block, &oldmask);
    sa.sa_sigaction = sl_run_forward;
    sa.sa_flags = SA_SIGINFO; /* no SA_RESTART: waitpid sees EINTR and loops */
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < SL_RUN_NSIGNALS; i++)
        sigaction(sl_run_signals[i], &sa, &old[i]);
    fflush(NULL);
    pid = fork();
    if (pid == 0)
        sl_run_child_exec(o, lib, outdir, run_id, pipefd[1], &oldmask);
    if (pid < 0) {
        fprintf(stderr, "sockleak: fork: %s\n", strerror(errno));
        for (size_t i = 0; i < SL_RUN_NSIGNALS; i++)
            sigaction(sl_run_signals[i], &old[i], NULL);
        sigprocmask(SIG_SETMASK, &oldmask, NULL);
        close(pipefd[0]);
        close(pipefd[1]);
        free(lib);
        free(outdir);
        return 2;
    }
    sl_run_child = pid;
    sigprocmask(SIG_SETMASK, &oldmask, NULL);
    close(pipefd[1]);
    do
        n = read(pipefd[0], &exec_err, sizeof(exec_err));
    while (n < 0 && errno == EINTR);
    close(pipefd[0]);
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "sockleak: waitpid: %s\n", strerror(errno));
            status = 0;
            break;
        }
    }
    sl_run_child = 0;
    for (size_t i = 0; i < SL_RUN_NSIGNALS; i++)
        sigaction(sl_run_signals[i], &old[i], NULL);
    free(lib);

    if (n == (ssize_t)sizeof(exec_err)) {
        free(outdir);
        return exec_err == ENOENT ? 127 : 126;
    }
    rc = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;

    sl_logread_init(&logs, run_id);
    /* --output may be any directory, even "."; this run's logs are at its
     * top level. */
    logs.flat = true;
    logs.outdir_errno = sl_run_outdir_full(outdir) ? ENOSPC : 0;
    if (sl_logread_path(&logs, outdir) < 0) {
        sl_logread_free(&logs);
        free(outdir);
        return rc;
    }
    /* No log at all is normal: the library creates its file on the first
     * finding only. */
    leaks = sl_report_emit(&o->report, &logs);
    sl_logread_free(&logs);
    free(outdir);
    if (leaks > 0 && o->error_exitcode >= 0)
        return (int)o->error_exitcode;
    return rc;
}
