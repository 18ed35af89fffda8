/* The library's own fds: placement out of the program's numbering, and the
 * fd-less stand-in for libunwind's validation pipe (see ownfd.h). */
#include <errno.h>
#include <fcntl.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include "rawsys.h"
#include <unistd.h>
#include "log.h"
#include "ownfd.h"
#include "real.h"

/* Room made above the program's soft limit: our log and directory fit. */
#define SL_OWNFD_ROOM 8
/* Numbers tried, top down, when the hard limit leaves no room above. */
#define SL_OWNFD_TRIES 256

/* The room above the limit *saved (just read): 1 when made. */
static int sl_ownfd_room_raise(const struct rlimit *saved)
{
    struct rlimit more = *saved;
    more.rlim_cur = saved->rlim_cur + SL_OWNFD_ROOM;
    if (saved->rlim_max != RLIM_INFINITY && more.rlim_cur > saved->rlim_max)
        more.rlim_cur = saved->rlim_max;
    if (more.rlim_cur <= saved->rlim_cur)
        return 0;
    return sl_real.setrlimit(RLIMIT_NOFILE, &more) == 0;
}

int sl_ownfd_room_begin(struct rlimit *saved)
{
    if (getrlimit(RLIMIT_NOFILE, saved) != 0 || saved->rlim_cur == RLIM_INFINITY)
        return 0;
    return sl_ownfd_room_raise(saved);
}

void sl_ownfd_room_end(const struct rlimit *saved)
{
    sl_real.setrlimit(RLIMIT_NOFILE, saved);
}

int sl_ownfd_in_program_range(int fd)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return 1;
    return fd >= 0 && (rlim_t)fd < rl.rlim_cur;
}

/* The highest free number below the limit, from the top down to `stop`:
 * the program reaches it last, and only when its table is full. -1 with
 * EMFILE when none is free. */
static int sl_ownfd_top(int fd, rlim_t cur, long stop)
{
    long lo = (long)cur - SL_OWNFD_TRIES;
    for (long k = (long)cur - 1; k >= stop && k >= 0 && k >= lo; k--) {
        /* Ours are taken: where nothing above them is free either, the
         * call would fail (and otherwise it got that number earlier). */
        if (k != fd && sl_log_holds((int)k))
            continue;
        int r = sl_real.fcntl(fd, F_DUPFD_CLOEXEC, (int)k);
        if (r >= 0)
            return r; /* k itself, or a free number above it */
        if (errno != EMFILE)
            return -1;
    }
    errno = EMFILE;
    return -1;
}

/* away: fd is a number the program is about to be handed; it must move
 * even to a lower number. Otherwise it stays when nothing above is free. */
static int sl_ownfd_move(int fd, int away)
{
    if (fd < 0)
        return fd;
    if (!sl_real.fcntl)
        sl_real_init();
    int e = errno;
    struct rlimit saved;
    if (getrlimit(RLIMIT_NOFILE, &saved) != 0 || saved.rlim_cur == RLIM_INFINITY ||
        (rlim_t)fd >= saved.rlim_cur) {
        sl_real.fcntl(fd, F_SETFD, FD_CLOEXEC);
        SL_SET(errno, e);
        return fd; /* out of the program's reach already */
    }
    int to;
    if (sl_ownfd_room_raise(&saved)) {
        /* Above the program's limit: no call of its own can reach there. */
        to = sl_real.fcntl(fd, F_DUPFD_CLOEXEC, (int)saved.rlim_cur);
        sl_ownfd_room_end(&saved);
    } else {
        to = sl_ownfd_top(fd, saved.rlim_cur, away ? 0 : (long)fd + 1);
        if (to < 0 && !away && errno == EMFILE)
            to = fd; /* nothing free above it: it stays */
    }
    if (to < 0) {
        e = errno;
        sl_real.close(fd);
    } else if (to != fd) {
        sl_real.close(fd);
    } else {
        sl_real.fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    SL_SET(errno, e); /* mostly unchanged: a page not written */
    return to;
}

int sl_ownfd_place(int fd)
{
    return sl_ownfd_move(fd, 0);
}

int sl_ownfd_place_away(int fd)
{
    return sl_ownfd_move(fd, 1);
}

/* Is the byte at addr readable? The check libunwind makes by writing one
 * byte into its pipe, made without a pipe: the kernel copies the 8-byte
 * aligned word holding addr (same page) as a signal mask, and fails with
 * EFAULT where a read would fault; the invalid `how` then makes the call
 * change nothing (EINVAL). Container seccomp profiles allow this call; they
 * often refuse process_vm_readv, the fallback for a kernel that would not
 * answer EINVAL or EFAULT. */
long sl_ownfd_validate(const void *addr)
{
    uintptr_t word = (uintptr_t)addr & ~(uintptr_t)7;
    /* raw: glibc's syscall() is our own hook; 8: the kernel's sigset_t */
    long rc = sl_raw_syscall4(SYS_rt_sigprocmask, 0x7fffL, (long)word, 0L, 8L);
    if (rc == -EINVAL)
        return 1;
    if (rc != -EFAULT) {
        char byte;
        struct iovec local = {&byte, 1}, remote = {(void *)addr, 1};
        if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == 1)
            return 1;
    }
    errno = EFAULT;
    return -1;
}
