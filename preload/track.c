/* The bookkeeping behind every hook, by phase of a socket's life:
 * track_create.c (socket, accept, connect: what an fd is), track_io.c (reads
 * and sends: end-of-stream), track_close.c (close, close_range, dup*, fcntl,
 * fclose, syscall: when an fd stops existing), track_identity.c (set*id,
 * chroot, fd limits). This file: the lazy binding every hook shares, and
 * processes (vfork, clone, fork, the child's table). Hot paths (a read that
 * returned data, a send on an fd we do not follow) cost a compare or one
 * lock-free table lookup; everything else happens on rare events.
 *
 * A vfork child (vfork, and posix_spawn/popen/system before their exec) runs
 * in the parent's memory with its own fd table: a close, dup2 or close_range
 * there must not end the parent's slots (sl_in_vfork_child). Raw syscalls
 * that close fds are invisible: a socket's inode, taken when first needed
 * (its end-of-stream, or the sweep's first look), is checked again before
 * any finding is written. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>
#include "fdexh.h"
#include "fdtable.h"
#include "ownfd.h"
#include "real.h"
#include "stack.h"
#include "sweep.h"
#include "threadcount.h"
#include "track.h"
#include "track_int.h"

__attribute__((noinline, cold)) void sl_ensure_real(void *const *fn, const char *name,
                                                     int optional)
{
    int saved = errno;
    sl_init();
    sl_real_bind_one((void **)fn, name, optional);
    if (!*fn)
        sl_fatal("the real %s is not available in this libc", name);
    errno = saved;
}

__thread int sl_vfork_child __attribute__((tls_model("initial-exec")));

/* vfork.S: a failed vfork (the parent's flag is already restored). */
long sl_vfork_failed(long r)
{
    errno = (int)-r;
    return -1;
}

/* clone(): its child may share our memory without vfork's flag. */
static int (*sl_real_clone)(int (*)(void *), void *, int, void *, ...);

int sl_clone(int (*fn)(void *), void *stack, int flags, void *arg, void *ptid, void *tls,
             void *ctid)
{
    __atomic_store_n(&sl_raw_clones, 1, __ATOMIC_RELAXED);
    if (flags & CLONE_THREAD)
        sl_threads_uncount(); /* a thread the count does not see */
    sl_gate_count_in();
    if (SL_UNLIKELY(!__atomic_load_n(&sl_real_clone, __ATOMIC_ACQUIRE))) {
        int e = errno;
        int g = sl_guard_enter();
        void *p = dlsym(RTLD_NEXT, "clone");
        sl_guard_leave(g);
        if (!p)
            sl_fatal("cannot find the real 'clone'");
        __atomic_store_n(&sl_real_clone, p, __ATOMIC_RELEASE);
        errno = e;
    }
    return sl_real_clone(fn, stack, flags, arg, ptid, tls, ctid);
}

SL_FORK_TEXT pid_t sl_fork(void)
{
    SL_ENSURE(fork);
    int64_t now = 0;
    uint32_t stack = sl_sweep_before_fork(&now);
    pid_t parent = (pid_t)sl_pid;
    pid_t pid = sl_real.fork();
    if (pid == 0)
        sl_sweep_after_fork_child(stack, parent, now);
    return pid;
}

/* libunwind (1.6) opens a pipe at its first unwind and keeps it for good:
 * it validates an address by write(2)-ing one byte from it into the pipe.
 * It gets two never-valid numbers instead; its write comes through our
 * syscall() and is answered by sl_ownfd_validate, its read and close of
 * them fail with EBADF (after which it simply asks for a pipe again). So
 * no fd is held for it at all. */
void sl_fdexh_failed(const char *call, int err)
{
    if (sl_in_lib || sl_in_vfork_child() || !sl_fdexh_begin())
        return;
    int g = sl_guard_enter();
    sl_init_all();
    sl_fdexh_write(call, err, sl_stack_capture());
    sl_guard_leave(g);
}

int sl_pipe2(int fds[2], int flags, const void *caller)
{
    SL_ENSURE(pipe2);
    if (SL_UNLIKELY(flags == (O_CLOEXEC | O_NONBLOCK)) &&
        (sl_in_lib || sl_stack_is_unwinder(caller))) {
        fds[0] = SL_UNW_PIPE_R;
        fds[1] = SL_UNW_PIPE_W;
        return 0;
    }
    int r = sl_real.pipe2(fds, flags);
    if (SL_UNLIKELY(r < 0))
        SL_FDEXH_ON_FAIL("pipe2");
    return r;
}

int sl_sigprocmask(int how, const sigset_t *set, sigset_t *old, const void *caller)
{
    SL_ENSURE(sigprocmask);
    if (SL_UNLIKELY(sl_stack_unmasked) && sl_stack_is_unwinder(caller)) {
        if (old)
            sigemptyset(old);
        return 0;
    }
    return sl_real.sigprocmask(how, set, old);
}

/* In the child every socket is a copy: an end-of-stream read before the
 * fork is the parent's to report (SL_F_INHERITED), and a copy left in
 * CLOSE_WAIT is this process's (SL_F_FORKED, close_wait_inherited: from
 * the epoch, which the child advances, so a slot with nothing else to
 * change is not written). */
SL_FORK_TEXT static void sl_fork_child_slot(int fd, struct sl_slot *s, void *arg)
{
    (void)fd;
    (void)arg;
    uint32_t f = atomic_load_explicit(&s->flags, memory_order_relaxed);
    if (!(f & SL_F_KNOWN))
        return;
    uint32_t add = (f & SL_F_EOF) ? SL_F_INHERITED : 0;
    uint32_t nf = (f | add) & ~(uint32_t)SL_F_REPORTED;
    /* Written only when it changes: each page written is copied. */
    if (nf != f)
        atomic_store(&s->flags, nf);
    if (s->finding_id)
        s->finding_id = 0;
    if (s->reported_ns)
        s->reported_ns = 0;
    if (s->cw_since_ns)
        s->cw_since_ns = 0;
}

SL_FORK_TEXT void sl_track_fork_child(void)
{
    sl_fork_epoch++;
    if (atomic_load_explicit(&sl_fork_walk, memory_order_relaxed))
        sl_fdtable_foreach(sl_fork_child_slot, NULL);
}
