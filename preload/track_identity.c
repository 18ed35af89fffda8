/* Identity and limits: set*id and chroot pin the output directory first
 * (the program may lose the right to reach it); a new RLIMIT_NOFILE moves
 * our own fds out of the program's range. */
#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include "log.h"
#include "real.h"
#include "stack.h"
#include "track.h"
#include "track_int.h"

/* The program changed its fd limit: our fds leave its new range. */
static void sl_after_limit_change(void)
{
    int e = errno;
    int g = sl_guard_enter();
    sl_log_follow_limit();
    sl_guard_leave(g);
    errno = e;
}

/* Bind only, no sl_init: sanitizer runtimes set limits (RLIMIT_CORE) while
 * they initialise, before our options can be parsed with their interceptors
 * ready. Only a change of the fd limit concerns us. */
static void sl_bind_only(void *const *fn, const char *name)
{
    if (SL_UNLIKELY(!*fn)) {
        sl_real_init();
        if (!*fn)
            sl_fatal("the real %s is not available in this libc", name);
    }
}

int sl_setrlimit(__rlimit_resource_t res, const struct rlimit *rl)
{
    sl_bind_only((void *const *)&sl_real.setrlimit, "setrlimit");
    int r = sl_real.setrlimit(res, rl);
    if (r == 0 && res == RLIMIT_NOFILE && !sl_in_lib)
        sl_after_limit_change();
    return r;
}

int sl_prlimit64(pid_t pid, __rlimit_resource_t res, const struct rlimit64 *rl,
               struct rlimit64 *old)
{
    sl_bind_only((void *const *)&sl_real.prlimit64, "prlimit64");
    int r = sl_real.prlimit64(pid, res, rl, old);
    if (r == 0 && rl && res == RLIMIT_NOFILE && !sl_in_lib &&
        (pid == 0 || pid == (pid_t)sl_real.syscall(SYS_getpid)))
        sl_after_limit_change();
    return r;
}

/* Before the program gives up the right to reach the output directory (a
 * worker dropping to an unprivileged user, a chroot): its log is made now
 * (as root) and the directory held open (see log.h). libunwind and the
 * module map (paths from /proc) are loaded now too, while the files can be
 * reached. Not in a vfork child: our state there is the parent's, its fd
 * table is not. */
static void sl_before_identity_change(void)
{
    if (sl_in_lib || sl_in_vfork_child())
        return;
    int e = errno;
    int g = sl_guard_enter();
    sl_init_all();
    sl_stack_prime();
    sl_log_before_identity_change();
    sl_guard_leave(g);
    errno = e;
}

#define SL_IDENTITY_HOOK(ret, name, params, args, opt)                                             \
    ret sl_##name params                                                                           \
    {                                                                                              \
        SL_ENSURE(name);                                                                           \
        sl_before_identity_change();                                                               \
        return sl_real.name args;                                                                  \
    }
SL_HOOKS_IDENTITY(SL_IDENTITY_HOOK)
#undef SL_IDENTITY_HOOK
