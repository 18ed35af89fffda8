/* Start-up, fork handling and exit. */
#include <errno.h>
#include <stdatomic.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "rawsys.h"
#include "census.h"
#include "churn.h"
#include "fdtable.h"
#include "hg.h"
#include "loaded.h"
#include "locks.h"
#include "lframe.h"
#include "log.h"
#include "modules.h"
#include "options.h"
#include "real.h"
#include "reaper.h"
#include "threadcount.h"
#include "stack.h"
#include "sweep.h"
#include "track.h"

static pthread_once_t sl_init_once = PTHREAD_ONCE_INIT;

/* Warnings while parsing options go through sl_warn, with the verbosity
 * the options ask for (or the default's). */
static int sl_opt_verbosity = 1;
static void sl_opt_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sl_opt_warn(const char *fmt, ...)
{
    if (sl_opt_verbosity <= 0)
        return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    sl_warn("%s", buf);
}

static void sl_opt_quiet(const char *fmt, ...)
{
    (void)fmt;
}

/* Paths are made absolute now, so a later chdir does not move them. */
static void sl_path_absolute(char *path, size_t size, const char *what)
{
    if (path[0] == '/' || path[0] == '\0')
        return;
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) {
        sl_warn("cannot resolve %s '%s' (getcwd: %s); it stays relative", what, path,
                strerror(errno));
        return;
    }
    const char *rel = path;
    while (rel[0] == '.' && rel[1] == '/')
        rel += 2;
    char abs[PATH_MAX];
    int n = strcmp(rel, ".") == 0 || rel[0] == '\0'
                ? snprintf(abs, sizeof abs, "%s", cwd)
                : snprintf(abs, sizeof abs, "%s/%s", strcmp(cwd, "/") ? cwd : "", rel);
    if (n < 0 || (size_t)n >= sizeof abs || (size_t)n >= size) {
        sl_warn("%s '%s' is too long once made absolute; it stays relative", what, path);
        return;
    }
    memcpy(path, abs, (size_t)n + 1);
}

/* Is ours the first handler registered? Its prepare runs last, right
 * before the fork, and its parent and child handlers first: only then can
 * our fds sit low across the fork (sl_log_fork_lower) without another
 * handler's open, dup or close meeting them there. */
static _Atomic int sl_atfork_ours, sl_atfork_after_others;

static void sl_atfork_prepare(void);

int sl___register_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void),
                         void *dso)
{
    /* This one alone: another library's constructor may come before ours,
     * and ours runs in every program (binding every hook's function here
     * cost each program 70,000 instructions at start). */
    if (SL_UNLIKELY(!sl_real.__register_atfork))
        sl_real_bind_one((void **)&sl_real.__register_atfork, "__register_atfork", 0);
    if (prepare == sl_atfork_prepare)
        atomic_store(&sl_atfork_ours, 1);
    else if (!atomic_load(&sl_atfork_ours))
        atomic_store(&sl_atfork_after_others, 1);
    return sl_real.__register_atfork(prepare, parent, child, dso);
}

/* fork: every lock, in order (locks.c), then each part's own state. */
static void sl_atfork_prepare(void)
{
    int first = !atomic_load_explicit(&sl_atfork_after_others, memory_order_relaxed);
    sl_log_fork_lower(sl_locks_prepare(first));
}

static void sl_atfork_parent(void)
{
    sl_log_fork_parent();
    sl_locks_parent();
}

/* The child has one thread: its locks start afresh, the parent's pending
 * deadlines and log are dropped. The guard is set (prepare may have left
 * it unset) until sl_locks_child_is restores it. */
SL_FORK_TEXT static void sl_atfork_child(void)
{
    sl_guard_enter(); /* left by sl_locks_child_is, as prepare found it */
    /* The child's one thread: its id is the pid (one system call, not two). */
    pid_t me = (pid_t)sl_raw_syscall4(SYS_gettid, 0, 0, 0, 0);
    sl_pid = me;
    sl_track_fork_child();
    sl_track_dclose_fork_child();
    sl_churn_reinit_child();
    sl_census_reinit_child();
    sl_reaper_reinit_child();
    sl_threads_reinit_child();
    sl_log_reinit_child();
    sl_modules_reset_logged(); /* and language frames: a new log epoch */
    sl_sweep_reinit_child();
    sl_log_fork_child();
    sl_locks_child_is(me);
    sl_log_fork_child_unmask();
}

static void sl_do_init(void)
{
    int saved = errno;
    int g = sl_guard_enter();
    sl_locks_init();
    sl_pid = getpid();
    /* Written again only by a fork child's one thread, which helgrind cannot
     * tell from a race with the parent's threads that read it. */
    SL_HG_ATOMIC(&sl_pid, sizeof sl_pid);
    /* Bound one by one on first use (sl_real_bind_one): two threads may
     * store the same pointer; flags set once by clone() or syscall(). */
    SL_HG_ATOMIC(&sl_real, sizeof sl_real);
    SL_HG_ATOMIC(&sl_real_syscall, sizeof sl_real_syscall);
    SL_HG_ATOMIC(&sl_raw_clones, sizeof sl_raw_clones);
    /* Flags read by every wait and set once: the program made a thread, work
     * is pending for the waits (reaper.h). */
    SL_HG_ATOMIC(&sl_threads_made, sizeof sl_threads_made);
    SL_HG_ATOMIC(&sl_sched_active, sizeof sl_sched_active);
    sl_churn_init();
    sl_block_init();
    sl_threads_init();
    const char *env = secure_getenv("SOCKLEAK_OPTIONS");
    /* A first pass for verbosity alone, so verbosity=0 silences the second
     * (needed only when it is set). Parsed in place: no other thread reads
     * the options before this returns. */
    if (env && strstr(env, "verbosity")) {
        sl_options_parse(&sl_opt, env, sl_opt_quiet);
        sl_opt_verbosity = sl_opt.verbosity;
    }
    sl_options_parse(&sl_opt, env, sl_opt_warn);
    sl_path_absolute(sl_opt.output, sizeof sl_opt.output, "output directory");
    sl_path_absolute(sl_opt.suppressions, sizeof sl_opt.suppressions, "suppressions file");
    sl_loaded_mark();
    pthread_atfork(sl_atfork_prepare, sl_atfork_parent, sl_atfork_child);
    sl_guard_leave(g);
    errno = saved;
}

void sl_init(void)
{
    pthread_once(&sl_init_once, sl_do_init);
}

/* glibc passes argc, argv and envp to constructors: argv is copied while
 * it is still the program's own, before main may rewrite it. */
__attribute__((constructor)) static void sl_constructor(int argc, char **argv, char **envp)
{
    (void)envp;
    sl_log_snapshot_args(argc, argv);
    sl_init();
}

__attribute__((destructor)) static void sl_destructor(void)
{
    int saved = errno;
    int g = sl_guard_enter();
    /* Findings due but not yet written (a fork child makes its log only
     * when it has something to write), and with at_exit everything still
     * open; only a process that watched a TCP socket or read end-of-stream
     * has any. */
    if (sl_opt.at_exit && atomic_load(&sl_count_eof) > 0) {
        sl_log_allow_create(1);
        sl_reaper_at_exit();
        sl_log_allow_create(0);
    }
    sl_reaper_exit_due();
    sl_sweep_run(sl_opt.at_exit ? SL_SWEEP_EXIT_ALL : SL_SWEEP_EXIT_DUE);
    if (sl_opt.at_exit == 2)
        sl_census_exit();
    sl_churn_exit();
    sl_log_allow_create(1);
    sl_track_dclose_flush();
    sl_log_allow_create(0);
    sl_log_footer();
    sl_guard_leave(g);
    errno = saved;
}
