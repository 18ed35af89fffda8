/* Closing: close, close_range, closefrom, syscall(SYS_close), dup, dup2,
 * dup3, fcntl(F_DUPFD), fclose. A slot ends before the real call closes its
 * fd (another thread may get the number as soon as it returns); our own fds
 * (the log, the output directory) look closed to the program. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "fdexh.h"
#include "fdtable.h"
#include "log.h"
#include "ownfd.h"
#include "real.h"
#include "sockleak_log.h"
#include "stack.h"
#include "track.h"
#include "track_int.h"

/* The slot of an fd about to be closed (or replaced) ends now, before the
 * real call, since another thread may get the same number as soon as it
 * returns. A reported socket gets its "closed" record. */
static void sl_track_close_slot(int fd, struct sl_slot *s)
{
    int e = errno;
    int g = sl_guard_enter();
    int64_t held_ms;
    uint32_t id = sl_slot_end(fd, s, &held_ms);
    if (id) {
        sl_log_reserve(); /* the program's thread: the log may be remade here */
        sl_log_closed(id, fd, held_ms);
    }
    sl_guard_leave(g);
    errno = e;
}

/* The caller of the last close() of a tracked socket at each fd (a return
 * address, 0 none): the first close of a double_close, one frame. Written
 * only when a tracked socket is closed (one store: a full capture there
 * cost about 1300 instructions a close), cleared when the number is seen
 * to hold another object (a close that succeeds on an fd we do not track,
 * a dup2 onto it). Same span as the last read; 8 MB of .bss, a page touched
 * per 512 socket numbers closed (sl_closed_pc, fdtable.h). */

/* Inside our own code (a signal handler on a thread in a locked section)
 * the slot is left as it is: the inode check catches it later. Returns 1
 * when a tracked socket's slot ended. */
static int sl_track_close(int fd)
{
    struct sl_slot *s = sl_fdtable_peek(fd);
    if (!s || !atomic_load_explicit(&s->flags, memory_order_relaxed) || sl_in_lib)
        return 0;
    if (SL_UNLIKELY(sl_in_vfork_child()))
        return 0;
    sl_track_close_slot(fd, s);
    return 1;
}

/* A close of fd by the program (close, syscall(SYS_close)) from pc: a
 * tracked socket's slot ends and the closing call site is kept. */
static int sl_track_close_kept(int fd, uintptr_t pc)
{
    if (!sl_track_close(fd))
        return 0;
    if ((unsigned)fd < SL_LAST_READ_FDS)
        sl_closed_pc[fd] = pc;
    return 1;
}

/* fd now holds another object, or nothing we closed: forget its close. */
static inline void sl_forget_close(int fd)
{
    if ((unsigned)fd < SL_LAST_READ_FDS && SL_UNLIKELY(sl_closed_pc[fd] != 0))
        sl_closed_pc[fd] = 0;
}

/* Double closes found on this thread and not yet written, all at one call
 * site (pc). A program that closes every number it does not know (daemons,
 * "for fd in 3..1024: close(fd)") also closes its sockets' old numbers
 * again: when the same call site then gets EBADF on a number that never
 * held a socket we closed, it is such a sweep, and what it found is
 * dropped. The rest is written at the thread's next close from another
 * call site, or at exit (exiting thread). */
#define SL_DCLOSE_PENDING 8
struct sl_dclose_pending {
    uintptr_t pc;
    int n;
    int fd[SL_DCLOSE_PENDING];
    uint32_t first[SL_DCLOSE_PENDING], second[SL_DCLOSE_PENDING];
};
static __thread struct sl_dclose_pending sl_dcp __attribute__((tls_model("initial-exec")));

/* Guard set. */
static void sl_dclose_write(void)
{
    int n = sl_dcp.n;
    sl_dcp.n = 0;
    for (int i = 0; i < n; i++) {
        struct sl_finding f = {.kind = SL_KIND_DOUBLE_CLOSE, .fd = sl_dcp.fd[i], .family = "inet"};
        f.close_stack = sl_dcp.second[i];
        f.first_close_stack = sl_dcp.first[i];
        f.eof_unix_ms = sl_wall_ms();
        sl_log_reserve(); /* the program's thread: the log may be made here */
        sl_log_finding(&f);
    }
}

void sl_track_dclose_flush(void)
{
    if (SL_UNLIKELY(sl_dcp.n) && !sl_in_vfork_child()) {
        int e = errno;
        int g = sl_guard_enter();
        sl_dclose_write();
        sl_guard_leave(g);
        errno = e;
    }
}

/* A fork child: the parent writes what it found. */
SL_FORK_TEXT void sl_track_dclose_fork_child(void)
{
    sl_dcp.n = 0;
}

/* A close-type call from pc is about to run: double closes pending from
 * another call site are written first. */
static inline void sl_dclose_next(uintptr_t pc)
{
    if (SL_UNLIKELY(sl_dcp.n) && sl_dcp.pc != pc && !sl_in_lib)
        sl_track_dclose_flush();
}

/* A close (or dup2/dup3 source) from pc failed with EBADF on fd: when the
 * program closed a tracked socket at that number before, with nothing seen
 * there since, that is a double_close (once per earlier close). The
 * program's errno and return value are kept. */
static void sl_double_close(int fd, uintptr_t pc)
{
    if (fd < 0 || sl_in_lib || sl_in_vfork_child())
        return;
    uintptr_t first = (unsigned)fd < SL_LAST_READ_FDS ? sl_closed_pc[fd] : 0;
    if (!first) {
        if (sl_dcp.n && sl_dcp.pc == pc)
            sl_dcp.n = 0; /* a sweep over numbers it does not know */
        return;
    }
    sl_closed_pc[fd] = 0;
    int e = errno;
    int g = sl_guard_enter();
    if (sl_dcp.n == SL_DCLOSE_PENDING)
        sl_dclose_write();
    sl_dcp.pc = pc;
    sl_dcp.fd[sl_dcp.n] = fd;
    sl_dcp.first[sl_dcp.n] = sl_stack_store(&first, 1);
    sl_dcp.second[sl_dcp.n] = sl_stack_capture();
    sl_dcp.n++;
    sl_guard_leave(g);
    errno = e;
}

static void sl_range_close_slot(int fd, struct sl_slot *s, void *arg)
{
    (void)arg;
    if (atomic_load_explicit(&s->flags, memory_order_relaxed))
        sl_track_close_slot(fd, s);
}

/* Every fd in [first, last] is about to be closed. Costs one pass over the
 * chunks that exist, whatever the width of the range. */
void sl_track_close_range(unsigned int first, unsigned int last)
{
    if (first > last || first > (unsigned int)INT_MAX || sl_in_lib)
        return;
    int hi = last > (unsigned int)INT_MAX ? INT_MAX : (int)last;
    int e = errno;
    if (!sl_in_vfork_child())
        sl_fdtable_foreach_range((int)first, hi, sl_range_close_slot, NULL);
    errno = e;
}

int sl_close(int fd)
{
    SL_ENSURE(close);
    uintptr_t pc = (uintptr_t)__builtin_return_address(0);
    sl_dclose_next(pc);
    /* Our log fd looks closed to the program, exactly as without us. */
    if (SL_UNLIKELY(sl_log_owns_fd(fd))) {
        sl_double_close(fd, pc);
        errno = EBADF;
        return -1;
    }
    int tracked = sl_track_close_kept(fd, pc);
    int r = sl_real.close(fd);
    if (SL_UNLIKELY(r < 0) && errno == EBADF)
        sl_double_close(fd, pc);
    else if (!tracked)
        sl_forget_close(fd);
    return r;
}

long sl_syscall_close(long nr, long fd)
{
    SL_ENSURE(syscall);
    uintptr_t pc = (uintptr_t)__builtin_return_address(0);
    sl_dclose_next(pc);
    if (SL_UNLIKELY(sl_log_owns_fd((int)fd))) {
        sl_double_close((int)fd, pc);
        errno = EBADF;
        return -1;
    }
    int tracked = sl_track_close_kept((int)fd, pc);
    long r = sl_real.syscall(nr, fd);
    if (SL_UNLIKELY(r < 0) && errno == EBADF)
        sl_double_close((int)fd, pc);
    else if (!tracked)
        sl_forget_close((int)fd);
    return r;
}

long sl_syscall_slow(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
    SL_ENSURE(syscall);
    if (nr == SYS_close)
        return sl_syscall_close(nr, a0);
    if (nr == SYS_write && (int)a0 == SL_UNW_PIPE_W) /* an int, passed as one */
        return sl_ownfd_validate((const void *)a1);
    return sl_real.syscall(nr, a0, a1, a2, a3, a4, a5);
}

/* The real close_range over [first, last] without our own fds (ascending). */
static int sl_close_range_around(unsigned int first, unsigned int last, int flags, const int *own,
                                 int n)
{
    unsigned int lo = first;
    for (int i = 0; i < n; i++) {
        unsigned int o = (unsigned int)own[i];
        if (o < lo || o > last)
            continue;
        if (o > lo) {
            int r = sl_real.close_range(lo, o - 1, flags);
            if (r != 0)
                return r;
        }
        if (o == last)
            return 0;
        lo = o + 1;
    }
    return sl_real.close_range(lo, last, flags);
}

/* close_range(first, last, flags): CLOSE_RANGE_CLOEXEC closes nothing now
 * (the slots end with the image at exec); unknown flags fail with EINVAL
 * and close nothing. Our own fds (log, output directory) are left out of the
 * range: they are close-on-exec and the close hooks report them closed too. */
int sl_close_range(unsigned int first, unsigned int last, int flags)
{
    SL_ENSURE(close_range);
    if (first > last || (flags & ~CLOSE_RANGE_UNSHARE))
        return sl_real.close_range(first, last, flags);
    int e = errno;
    sl_track_close_range(first, last);
    int own[SL_LOG_OWN_FDS];
    int n = sl_log_own_fds(own);
    errno = e;
    return sl_close_range_around(first, last, flags, own, n);
}

void sl_closefrom(int lowfd)
{
    SL_ENSURE(closefrom);
    int e = errno;
    unsigned int lo = lowfd < 0 ? 0 : (unsigned int)lowfd;
    sl_track_close_range(lo, ~0U);
    int own[SL_LOG_OWN_FDS];
    int n = sl_log_own_fds(own);
    errno = e;
    if (n > 0 && own[n - 1] >= (int)lo && sl_real.close_range &&
        sl_close_range_around(lo, ~0U, 0, own, n) == 0) {
        errno = e;
        return;
    }
    /* No close_range (old kernel): glibc's own fallback, our fds included;
     * the log reopens itself by path on its next record. */
    errno = e;
    sl_real.closefrom(lowfd);
}

/* newfd now refers to oldfd's object: same classification, no EOF state.
 * Guard set. */
static void sl_track_dup_guarded(int oldfd, int newfd)
{
    struct sl_class c = {0};
    struct sl_slot *s = sl_fdtable_peek(oldfd);
    if (s) {
        uint32_t gen;
        sl_slot_snapshot(oldfd, s, &c, &gen);
        if (!(c.flags & SL_F_KNOWN))
            c = (struct sl_class){0};
    }
    c.flags &= SL_CLASS_BITS | SL_NB_BITS;
    struct sl_slot *n = c.flags ? sl_fdtable_get(newfd) : sl_fdtable_peek(newfd);
    if (!n)
        return;
    if ((c.flags || atomic_load_explicit(&n->flags, memory_order_relaxed)) &&
        SL_UNLIKELY(sl_in_vfork_child()))
        return;
    sl_slot_install(newfd, n, &c);
}

static void sl_track_dup(int oldfd, int newfd)
{
    if (sl_in_lib)
        return;
    int g = sl_guard_enter();
    sl_track_dup_guarded(oldfd, newfd);
    sl_guard_leave(g);
}

/* Our own fds are not open, as far as the program can tell. */
static int sl_own_ebadf(int fd)
{
    if (SL_LIKELY(!sl_log_owns_fd(fd)))
        return 0;
    errno = EBADF;
    return 1;
}

int sl_dup(int fd)
{
    SL_ENSURE(dup);
    if (SL_UNLIKELY(sl_own_ebadf(fd)))
        return -1;
    int r = sl_real.dup(fd);
    if (r >= 0) {
        int e = errno;
        sl_track_dup(fd, r);
        errno = e;
    } else {
        SL_FDEXH_ON_FAIL("dup");
    }
    return r;
}

/* dup2/dup3 close whatever was at fd2 (Java NIO closes sockets this way).
 * Its slot ends only once the call succeeded: a failing call (bad source
 * fd, bad flags) leaves the socket open, and its end-of-stream must still be
 * reported. fd2 stays open throughout, so no other thread can be handed
 * that number in between. Our own fd at fd2 is forgotten first (reopened on
 * the next record if the call then fails). */
static void sl_before_dup_over(int fd, int fd2)
{
    if (fd != fd2 && SL_UNLIKELY(sl_log_owns_fd(fd2)) && !sl_in_lib && !sl_in_vfork_child()) {
        int g = sl_guard_enter();
        sl_log_evict(fd2);
        sl_guard_leave(g);
    }
}

static void sl_after_dup_over(int fd, int fd2)
{
    int e = errno;
    if (fd != fd2) {
        sl_track_close(fd2);
        sl_forget_close(fd2);
        sl_track_dup(fd, fd2);
    }
    errno = e;
}

int sl_dup2(int fd, int fd2)
{
    SL_ENSURE(dup2);
    uintptr_t pc = (uintptr_t)__builtin_return_address(0);
    sl_dclose_next(pc);
    if (SL_UNLIKELY(sl_own_ebadf(fd)))
        return -1;
    sl_before_dup_over(fd, fd2);
    int r = sl_real.dup2(fd, fd2);
    if (r >= 0)
        sl_after_dup_over(fd, r);
    else if (errno == EBADF && fd2 >= 0) /* else EBADF names fd2 */
        sl_double_close(fd, pc);
    return r;
}

int sl_dup3(int fd, int fd2, int flags)
{
    SL_ENSURE(dup3);
    uintptr_t pc = (uintptr_t)__builtin_return_address(0);
    sl_dclose_next(pc);
    if (SL_UNLIKELY(sl_own_ebadf(fd)))
        return -1;
    sl_before_dup_over(fd, fd2);
    int r = sl_real.dup3(fd, fd2, flags);
    if (r >= 0)
        sl_after_dup_over(fd, r);
    else if (errno == EBADF && fd2 >= 0) /* else EBADF names fd2 */
        sl_double_close(fd, pc);
    return r;
}

/* F_DUPFD(n) that skipped our fd, or failed for want of it, where the
 * program would have got its number: ours moves away, the call is made
 * again. Only an fd below the limit (no room above it) can be in the way. */
static int sl_dupfd_again(int (*fn)(int, int, ...), int fd, int cmd, void *arg, int r)
{
    int e = errno;
    int own = sl_in_lib ? -1 : sl_log_own_in_way((long)(intptr_t)arg);
    if (SL_LIKELY(own < 0) || (r >= 0 && r < own) || (r < 0 && e != EMFILE)) {
        errno = e;
        return r;
    }
    if (r >= 0)
        sl_real.close(r);
    int g = sl_guard_enter();
    sl_log_evict(own);
    sl_guard_leave(g);
    return fn(fd, cmd, arg);
}

int sl_fcntl(int fd, int cmd, void *arg, int use64)
{
    SL_ENSURE(fcntl);
    if (SL_UNLIKELY(sl_own_ebadf(fd)))
        return -1;
    if (use64 && SL_UNLIKELY(!sl_real.fcntl64))
        sl_real_bind_one((void **)&sl_real.fcntl64, "fcntl64", sl_real_optional_fcntl64);
    int (*fn)(int, int, ...) = use64 && sl_real.fcntl64 ? sl_real.fcntl64 : sl_real.fcntl;
    int r = fn(fd, cmd, arg);
    if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
        r = sl_dupfd_again(fn, fd, cmd, arg, r);
    if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)) {
        int e = errno;
        sl_track_dup(fd, r);
        errno = e;
    } else if (r < 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)) {
        SL_FDEXH_ON_FAIL("fcntl");
    }
    if (SL_UNLIKELY(cmd == F_SETFL) && r == 0 && !sl_in_lib) {
        int e = errno;
        sl_track_note_nonblock(fd, ((int)(intptr_t)arg & O_NONBLOCK) != 0);
        errno = e;
    }
    return r;
}

int sl_fclose(FILE *fp)
{
    SL_ENSURE(fclose);
    if (fp) {
        /* fclose closes the fd even when it fails: end the slot first. */
        int e = errno;
        int fd = fileno(fp);
        errno = e;
        if (fd >= 0)
            sl_track_close(fd);
    }
    return sl_real.fclose(fp);
}
