/* The exported interposers: generated from hooklist.h, one line each, the
 * work is in the track*.c files. Nothing else in the library is visible outside it. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/resource.h>
#include "hooklist.h"
#include "track.h"

#define SL_EXPORT_HOOK(ret, name, params, args, opt)                                               \
    SL_EXPORT ret name params                                                                      \
    {                                                                                              \
        return sl_##name args;                                                                     \
    }
SL_HOOKS_EXPORTED(SL_EXPORT_HOOK)
#undef SL_EXPORT_HOOK

#define SL_EXPORT_ALIAS(ret, name, hook, params, args)                                             \
    SL_EXPORT ret name params                                                                      \
    {                                                                                              \
        return sl_##hook args;                                                                     \
    }
SL_ALIASES(SL_EXPORT_ALIAS)
#undef SL_EXPORT_ALIAS

/* The third argument is an int or a pointer depending on cmd; like glibc, read
 * it as a pointer-sized value and pass it on unchanged. */
#define SL_EXPORT_FCNTL(name, use64)                                                               \
    SL_EXPORT int name(int fd, int cmd, ...)                                                       \
    {                                                                                              \
        va_list ap;                                                                                \
        va_start(ap, cmd);                                                                         \
        void *arg = va_arg(ap, void *);                                                            \
        va_end(ap);                                                                                \
        return sl_fcntl(fd, cmd, arg, use64);                                                      \
    }
SL_EXPORT_FCNTL(fcntl, 0)
SL_EXPORT_FCNTL(fcntl64, 1)
SL_EXPORT_FCNTL(__fcntl, 0)
#undef SL_EXPORT_FCNTL

/* ioctl's third argument, like fcntl's, is passed on as a pointer-sized value. */
SL_EXPORT int ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return sl_ioctl(fd, req, arg);
}

SL_EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
    return sl_sigprocmask(how, set, old, __builtin_return_address(0));
}

SL_EXPORT int pipe2(int fds[2], int flags)
{
    return sl_pipe2(fds, flags, __builtin_return_address(0));
}

/* A new fd limit: our own fds move out of the program's new range. */
SL_EXPORT int setrlimit64(__rlimit_resource_t res, const struct rlimit64 *rl)
{
    return sl_setrlimit(res, (const struct rlimit *)rl);
}

SL_EXPORT int prlimit(pid_t pid, __rlimit_resource_t res, const struct rlimit *rl,
                      struct rlimit *old)
{
    return sl_prlimit64(pid, res, (const struct rlimit64 *)rl, (struct rlimit64 *)old);
}

/* clone(fn, stack, flags, arg, ptid, tls, ctid): the last three are read
 * only when flags ask for them; passed on as they came, like glibc reads them. */
SL_EXPORT int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    void *ptid = va_arg(ap, void *);
    void *tls = va_arg(ap, void *);
    void *ctid = va_arg(ap, void *);
    va_end(ap);
    return sl_clone(fn, stack, flags, arg, ptid, tls, ctid);
}

/* vfork() and syscall() themselves are vfork.S and syscall.S (preload/arch/). */
