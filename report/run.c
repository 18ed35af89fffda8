#include "run.h"
#include "elfinfo.h"
#include "held.h"
#include "util.h"
#include "watch.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
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

/* The direct child while it runs; 0 once it has exited. */
static volatile sig_atomic_t sl_run_child;
/* Set by a signal that arrives while only descendants are left. */
static volatile sig_atomic_t sl_run_stop;

/* One run: what is known before the program starts, and how it ended. */
struct sl_run_ctx {
    const struct sl_run_opts *o;
    char *lib, *outdir, *markdir; /* markdir NULL: the markers could not be made */
    char *sanitizer_lib;          /* runtime preloaded before ours, or NULL */
    char run_id[64];
    struct sl_elfinfo elf;
    pid_t child;
    char comm[64]; /* the child's name when it exited */
    FILE *report_fp; /* --output-report, or NULL: stderr */
    int status;
    long descendants;
#define SL_RUN_SIGNALS 256
    struct {
        pid_t pid;
        int sig;
    } signals[SL_RUN_SIGNALS]; /* processes killed by a signal */
    size_t n_signals;
};

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
        if (mkdir(p, 0700) < 0 && errno != EEXIST) {
            free(p);
            return -1;
        }
        *s = '/';
    }
    if (mkdir(p, 0700) < 0 && errno != EEXIST) {
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
    /* Only descendants left: the signal ends the wait, the report follows. */
    if (sl_run_child <= 0) {
        sl_run_stop = 1;
        return;
    }
    /* A terminal's ^C already reached the child, which shares our process
     * group: forwarding it would deliver it twice. */
    if (si && si->si_code == SI_KERNEL)
        return;
    kill((pid_t)sl_run_child, sig);
}

static long sl_run_verbosity(const struct sl_run_opts *o)
{
    return o->verbosity >= 0 ? o->verbosity : o->quiet ? 0 : 1;
}

/* Does the command run node under its permission model or a policy, which
 * would refuse to read (and so fail to start with) a preload not allowed? */
static bool sl_run_node_restricted(char *const *argv)
{
    for (; *argv; argv++)
        if (strcmp(*argv, "--permission") == 0 ||
            strncmp(*argv, "--experimental-permission", 25) == 0 ||
            strncmp(*argv, "--experimental-policy", 21) == 0)
            return true;
    return false;
}

/* The Node.js preload installed beside the library (Makefile: NODE_FILES)
 * names the JavaScript call sites: NODE_OPTIONS gets `--require "PATH"`
 * after the user's own options. Only node reads NODE_OPTIONS, so a shell or
 * any other program that starts node passes it on unchanged. Not when the
 * file is missing, its path cannot be quoted, it is there already, the
 * command restricts node (above), or SOCKLEAK_NODE=0. */
static void sl_run_node_env(const char *lib, char *const *argv)
{
    const char *user = getenv("NODE_OPTIONS"), *off = getenv("SOCKLEAK_NODE");
    char *dir = sl_util_xstrdup(lib), *slash = strrchr(dir, '/');
    char js[PATH_MAX + 64], opt[PATH_MAX + 80];

    if ((off && strcmp(off, "0") == 0) || sl_run_node_restricted(argv)) {
        free(dir);
        return;
    }
    if (slash)
        *slash = '\0';
    snprintf(js, sizeof(js), "%s/sockleak-node/sockleak-node.js", slash ? dir : ".");
    free(dir);
    if (access(js, R_OK) != 0 || strpbrk(js, "\"\\") || (user && strstr(user, js)))
        return;
    snprintf(opt, sizeof(opt), "--require \"%s\"", js);
    char *v = user && *user ? sl_util_xjoin(user, " ", opt) : sl_util_xstrdup(opt);
    setenv("NODE_OPTIONS", v, 1);
    free(v);
}

/* The JVMTI agent installed beside the library (Makefile: JAVA_FILES) names
 * the Java call sites: JAVA_TOOL_OPTIONS gets `-agentpath:PATH` after the
 * user's own options. Every JVM reads JAVA_TOOL_OPTIONS, and says so on its
 * stderr ("Picked up JAVA_TOOL_OPTIONS: ..."): that line is the JVM's. Not
 * when the agent is missing, its path holds a space or a quote (the JVM
 * splits the variable at spaces), it is there already, or SOCKLEAK_JAVA=0. */
static void sl_run_java_env(const char *lib)
{
    const char *user = getenv("JAVA_TOOL_OPTIONS"), *off = getenv("SOCKLEAK_JAVA");
    char *dir = sl_util_xstrdup(lib), *slash = strrchr(dir, '/');
    char so[PATH_MAX + 64], opt[PATH_MAX + 80];

    if (off && strcmp(off, "0") == 0) {
        free(dir);
        return;
    }
    if (slash)
        *slash = '\0';
    snprintf(so, sizeof(so), "%s/sockleak-java/libsockleak_jvmti.so", slash ? dir : ".");
    free(dir);
    if (so[0] != '/' || access(so, R_OK) != 0 || strpbrk(so, " \t\n\"'\\") ||
        (user && strstr(user, so)))
        return;
    snprintf(opt, sizeof(opt), "-agentpath:%s", so);
    char *v = user && *user ? sl_util_xjoin(user, " ", opt) : sl_util_xstrdup(opt);
    setenv("JAVA_TOOL_OPTIONS", v, 1);
    free(v);
}

/* Sets LD_PRELOAD and SOCKLEAK_OPTIONS for the child; ours come last in
 * SOCKLEAK_OPTIONS so they win over the user's own settings. A sanitizer
 * runtime goes first: it aborts unless it is the first library. Into a musl
 * program the glibc library would only break it: it runs without. */
static void sl_run_env(const struct sl_run_ctx *c)
{
    const struct sl_run_opts *o = c->o;
    const char *pre = getenv("LD_PRELOAD"), *user = getenv("SOCKLEAK_OPTIONS");
    char ours[PATH_MAX + 256], *v, *w;
    int n;

    if (!c->elf.is_musl) {
        v = pre && *pre ? sl_util_xjoin(c->lib, ":", pre) : sl_util_xstrdup(c->lib);
        if (c->sanitizer_lib) {
            w = sl_util_xjoin(c->sanitizer_lib, ":", v);
            free(v);
            v = w;
        }
        setenv("LD_PRELOAD", v, 1);
        free(v);
        sl_run_node_env(c->lib, c->o->argv);
        sl_run_java_env(c->lib);
    }
    /* Deadline and frames only when given: otherwise the user's own
     * SOCKLEAK_OPTIONS, or the library's default (the same as ours), apply. */
    n = snprintf(ours, sizeof(ours), "output=%s:run_id=%s", c->outdir, c->run_id);
    if (o->deadline_ms > 0)
        n += snprintf(ours + n, sizeof(ours) - (size_t)n, ":deadline_ms=%ld", o->deadline_ms);
    if (o->frames > 0)
        n += snprintf(ours + n, sizeof(ours) - (size_t)n, ":frames=%ld", o->frames);
    if (o->at_exit)
        n += snprintf(ours + n, sizeof(ours) - (size_t)n, ":at_exit=%s",
                      o->at_exit == 2 ? "all" : "1");
    if (o->churn_share >= 0)
        n += snprintf(ours + n, sizeof(ours) - (size_t)n, ":churn_share=%ld", o->churn_share);
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
static void sl_run_child_exec(const struct sl_run_ctx *c, int errpipe, const sigset_t *oldmask)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    int err;

    for (size_t i = 0; i < SL_RUN_NSIGNALS; i++)
        sigaction(sl_run_signals[i], &dfl, NULL);
    sigprocmask(SIG_SETMASK, oldmask, NULL);
    sl_run_env(c);
    execvp(c->o->argv[0], c->o->argv);
    err = errno;
    fprintf(stderr, "sockleak: cannot run %s: %s\n", c->o->argv[0], strerror(err));
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

/* Makes the output directory and this run's marker directory; returns 0,
 * or 2 after saying why. */
static int sl_run_make_dirs(struct sl_run_ctx *c)
{
    if (strchr(c->outdir, ':')) {
        fprintf(stderr,
                "sockleak: --output %s: the directory name must not contain ':' "
                "(SOCKLEAK_OPTIONS uses it as separator)\n",
                c->outdir);
        return 2;
    }
    if (strlen(c->outdir) >= PATH_MAX || sl_run_mkdirs(c->outdir) < 0) {
        fprintf(stderr, "sockleak: cannot create the output directory %s: %s\n", c->outdir,
                strlen(c->outdir) >= PATH_MAX ? strerror(ENAMETOOLONG) : strerror(errno));
        return 2;
    }
    c->markdir = sl_watch_dir(c->outdir, c->run_id);
    if (sl_watch_prepare(c->markdir) < 0) {
        fprintf(stderr, "sockleak: warning: cannot create %s (%s): the run cannot tell "
                "whether the library was loaded\n", c->markdir, strerror(errno));
        free(c->markdir);
        c->markdir = NULL;
    }
    return 0;
}

/* Reads the program file: what it needs preloaded first. */
static void sl_run_inspect(struct sl_run_ctx *c)
{
    sl_elfinfo_inspect(c->o->argv[0], &c->elf);
    if (!c->elf.sanitizer[0])
        return;
    c->sanitizer_lib = sl_elfinfo_find_lib(c->elf.sanitizer);
    if (!c->sanitizer_lib)
        fprintf(stderr, "sockleak: warning: %s is built with %s but %s was not found; it "
                "may refuse to start\n", c->o->argv[0], c->elf.sanitizer_name, c->elf.sanitizer);
    else if (sl_run_verbosity(c->o) >= 1)
        fprintf(stderr, "sockleak: preloading %s first, as the program is built with %s\n",
                c->sanitizer_lib, c->elf.sanitizer_name);
}

/* Forks and execs the program with signals blocked across the fork, so
 * that none arrives before the child's pid is known. Returns 0 once the
 * program runs, 126/127 when it cannot be run, 2 for a failure of ours. */
static int sl_run_start(struct sl_run_ctx *c)
{
    struct sigaction sa = {0};
    sigset_t block, oldmask;
    int pipefd[2], exec_err = 0;
    ssize_t n;

    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        fprintf(stderr, "sockleak: pipe: %s\n", strerror(errno));
        return 2;
    }
    sigemptyset(&block);
    for (size_t i = 0; i < SL_RUN_NSIGNALS; i++)
        sigaddset(&block, sl_run_signals[i]);
    sigprocmask(SIG_BLOCK, &block, &oldmask);
    sa.sa_sigaction = sl_run_forward;
    sa.sa_flags = SA_SIGINFO; /* no SA_RESTART: waitid sees EINTR and loops */
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < SL_RUN_NSIGNALS; i++)
        sigaction(sl_run_signals[i], &sa, NULL);
    fflush(NULL);
    c->child = fork();
    if (c->child == 0)
        sl_run_child_exec(c, pipefd[1], &oldmask);
    if (c->child < 0)
        fprintf(stderr, "sockleak: fork: %s\n", strerror(errno));
    sl_run_child = c->child > 0 ? c->child : 0;
    sigprocmask(SIG_SETMASK, &oldmask, NULL);
    close(pipefd[1]);
    do
        n = c->child > 0 ? read(pipefd[0], &exec_err, sizeof(exec_err)) : 0;
    while (n < 0 && errno == EINTR);
    close(pipefd[0]);
    if (c->child < 0)
        return 2;
    if (n == (ssize_t)sizeof(exec_err))
        return exec_err == ENOENT ? 127 : 126;
    return 0;
}

/* The name of exited process pid (still a zombie: the kernel keeps it), as
 * the library's marker spells it; "" when unknown. */
static void sl_run_comm(pid_t pid, char *out, size_t size)
{
    char path[64];
    FILE *f;

    out[0] = '\0';
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    f = fopen(path, "re");
    if (!f)
        return;
    if (fgets(out, (int)size, f))
        out[strcspn(out, "\n")] = '\0';
    fclose(f);
    for (char *s = out; *s; s++)
        if (*s == '/')
            *s = '_';
}

/* Descendants still running: our children (orphans we adopted), from
 * /proc. Only for the message after an interrupted wait. */
static long sl_run_count_children(void)
{
    char path[64];
    long n = 0;
    int ch;
    bool in_word = false;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
    f = fopen(path, "re");
    while (f && (ch = fgetc(f)) != EOF) {
        n += !in_word && ch != ' ';
        in_word = ch != ' ';
    }
    if (f)
        fclose(f);
    return n;
}

/* Processes of the run killed by a signal, for the report's processes
 * without a footer (the first SL_RUN_SIGNALS of them). */
static void sl_run_note_signal(struct sl_run_ctx *c, pid_t pid, int sig)
{
    if (c->n_signals < SL_RUN_SIGNALS) {
        c->signals[c->n_signals].pid = pid;
        c->signals[c->n_signals].sig = sig;
        c->n_signals++;
    }
}

/* Waits for the direct child and, unless told not to, every descendant it
 * left behind (we are their subreaper). The child is peeked at before it is
 * reaped, for its final name. A signal once the child is gone ends the wait. */
static void sl_run_wait(struct sl_run_ctx *c)
{
    bool child_done = false;
    siginfo_t si;

    while (!child_done || (!c->o->no_wait_descendants && !sl_run_stop)) {
        memset(&si, 0, sizeof(si));
        if (waitid(c->o->no_wait_descendants ? P_PID : P_ALL, (id_t)c->child, &si,
                   WEXITED | WNOWAIT) < 0) {
            if (errno == EINTR)
                continue;
            if (errno != ECHILD)
                fprintf(stderr, "sockleak: waitid: %s\n", strerror(errno));
            break;
        }
        if (si.si_pid == c->child) {
            sl_run_comm(c->child, c->comm, sizeof(c->comm));
            while (waitpid(c->child, &c->status, 0) < 0 && errno == EINTR)
                ;
            sl_run_child = 0;
            child_done = true;
            if (WIFSIGNALED(c->status))
                sl_run_note_signal(c, c->child, WTERMSIG(c->status));
        } else if (si.si_pid > 0) {
            int st = 0;
            while (waitpid(si.si_pid, &st, 0) < 0 && errno == EINTR)
                ;
            if (WIFSIGNALED(st))
                sl_run_note_signal(c, si.si_pid, WTERMSIG(st));
            c->descendants++;
        }
    }
    if (sl_run_verbosity(c->o) >= 1 && c->descendants > 0)
        fprintf(stderr, "sockleak: waited for %ld descendant%s that outlived %s\n",
                c->descendants, c->descendants == 1 ? "" : "s", sl_util_basename(c->o->argv[0]));
    if (sl_run_stop)
        fprintf(stderr, "sockleak: stopped waiting for descendants on a signal; %ld still "
                "running, their leaks are not in this report\n", sl_run_count_children());
}

/* Opens --output-report FILE for writing, before the program starts: made
 * (0600: the report holds command lines) or truncated, never through a
 * symbolic link (O_NOFOLLOW: a link planted at a predictable name would
 * make us truncate its target), and only a regular file or a character
 * device such as /dev/null (O_NONBLOCK: a FIFO must not block). NULL after
 * saying why. */
static FILE *sl_run_open_report(const char *path)
{
    struct stat st;
    int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    FILE *fp;

    if (fd < 0) {
        fprintf(stderr, "sockleak: cannot write the report to %s: %s\n", path,
                errno == ELOOP ? "it is a symbolic link" : strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISCHR(st.st_mode))) {
        fprintf(stderr, "sockleak: cannot write the report to %s: not a regular file\n", path);
        close(fd);
        return NULL;
    }
    if ((S_ISREG(st.st_mode) && ftruncate(fd, 0) != 0) || fcntl(fd, F_SETFL, 0) != 0 ||
        !(fp = fdopen(fd, "w"))) {
        fprintf(stderr, "sockleak: cannot write the report to %s: %s\n", path, strerror(errno));
        close(fd);
        return NULL;
    }
    return fp;
}

/* Reads this run's logs and markers and writes the report; returns the
 * tool's exit status given the program's, rc. */
static int sl_run_report(struct sl_run_ctx *c, int rc)
{
    struct sl_logread_set logs;
    struct sl_report_opts ro = c->o->report;
    struct sl_watch watch = {.watched = true};
    int64_t leaks;

    sl_logread_init(&logs, c->run_id);
    /* --output may be any directory, even "."; this run's logs are at its
     * top level. */
    logs.flat = true;
    logs.outdir_errno = sl_run_outdir_full(c->outdir) ? ENOSPC : 0;
    if (sl_logread_path(&logs, c->outdir) < 0) {
        sl_logread_free(&logs);
        return rc;
    }
    if (c->markdir) {
        struct sl_watch_input in = {.program = c->o->argv[0], .elf = &c->elf,
                                    .child = c->child, .child_comm = c->comm, .logs = &logs};
        sl_watch_decide(&watch, c->markdir, &in);
        sl_watch_print(stderr, &watch);
        ro.watch = &watch;
    }
    sl_held_as_of(&logs, sl_held_now_ms());
    for (size_t i = 0; i < logs.n_procs; i++)
        for (size_t j = 0; !logs.procs[i].has_footer && j < c->n_signals; j++)
            if (logs.procs[i].pid == c->signals[j].pid)
                logs.procs[i].end_signal = c->signals[j].sig;
    if (c->report_fp)
        ro.out = c->report_fp;
    /* No log at all is normal: the library creates its file on the first
     * finding only; the markers tell a quiet process from an unwatched one. */
    leaks = sl_report_emit(&ro, &logs);
    sl_logread_free(&logs);
    sl_watch_free(&watch);
    if (leaks > 0 && c->o->error_exitcode >= 0)
        return (int)c->o->error_exitcode;
    return rc;
}

int sl_run(const struct sl_run_opts *o)
{
    struct sl_run_ctx c = {.o = o};
    struct sigaction old[SL_RUN_NSIGNALS];
    struct timespec now;
    int rc;

    c.lib = sl_run_find_library();
    if (!c.lib)
        return 2;
    c.outdir = sl_run_abspath(o->output);
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(c.run_id, sizeof(c.run_id), "%x-%" PRIx64, (unsigned)getpid(),
             (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec);
    rc = sl_run_make_dirs(&c);
    if (rc == 0 && o->report_file && !(c.report_fp = sl_run_open_report(o->report_file))) {
        if (c.markdir)
            sl_watch_remove(c.markdir);
        rc = 2;
    }
    if (rc == 0) {
        sl_run_inspect(&c);
        /* Orphans of the program become ours, so that their leaks are in. */
        if (!o->no_wait_descendants && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
            fprintf(stderr, "sockleak: warning: cannot wait for descendants: %s\n",
                    strerror(errno));
        for (size_t i = 0; i < SL_RUN_NSIGNALS; i++)
            sigaction(sl_run_signals[i], NULL, &old[i]);
        sl_run_stop = 0;
        rc = sl_run_start(&c);
        if (rc == 0) {
            sl_run_wait(&c);
            rc = WIFEXITED(c.status)   ? WEXITSTATUS(c.status)
                 : WIFSIGNALED(c.status) ? 128 + WTERMSIG(c.status)
                                         : 1;
            rc = sl_run_report(&c, rc);
        } else if (c.markdir) {
            sl_watch_remove(c.markdir);
        }
        for (size_t i = 0; i < SL_RUN_NSIGNALS; i++)
            sigaction(sl_run_signals[i], &old[i], NULL);
        if (!o->no_wait_descendants)
            prctl(PR_SET_CHILD_SUBREAPER, 0);
    }
    if (c.report_fp && fclose(c.report_fp) != 0) {
        fprintf(stderr, "sockleak: cannot write the report to %s: %s\n", o->report_file,
                strerror(errno));
        rc = rc ? rc : 2;
    }
    free(c.lib);
    free(c.outdir);
    free(c.markdir);
    free(c.sanitizer_lib);
    return rc;
}
