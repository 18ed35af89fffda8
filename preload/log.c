/* The raw log writer (format: format/sockleak_log.h). No stdio, no malloc:
 * every record is formatted into one buffer and appended with one write(2).
 * The log lock serialises writers (reaper thread, close hooks, exit). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "rawsys.h"
#include "hg.h"
#include "log.h"
#include "lframe.h"
#include "modules.h"
#include "ownfd.h"
#include "options.h"
#include "real.h"
#include "reaper.h"
#include "census.h"
#include "sockleak_log.h"
#include "stack.h"
#include "track.h"

/* A log holds the program's command line: it is private to the user the
 * process runs as, and so are the directories made for it. */
#define SL_LOG_FILE_MODE 0600
#define SL_LOG_DIR_MODE 0700
/* Names tried when <program>.<pid>.jsonl is taken: .1 up to this. */
#define SL_LOG_NAME_TRIES 100

SL_FORKED __attribute__((aligned(64))) _Atomic uint64_t sl_count_sockets;
SL_FORKED _Atomic uint64_t sl_count_eof;

SL_FORKED __attribute__((aligned(64))) static _Atomic int sl_log_fd = -1; /* written under the log lock */
SL_FORKED static int sl_log_created;         /* this process made its file */
/* A fork child's log is made without a name (O_TMPFILE) and linked into the
 * output directory at its first record after the header: a child that
 * execs or _exits with nothing to say leaves no file. */
SL_FORKED static int sl_log_unnamed;
static int sl_log_broken;          /* cannot ever be created: silent from now on */
static int sl_log_open_warned;     /* a transient failure to create it was said */
static _Atomic int sl_log_want;    /* no usable fd: make one at the next chance */
/* Records that could not be written, and why (the last error). */
static uint64_t sl_log_lost;
static int sl_log_lost_errno;
static int sl_log_write_warned;
/* Set on the program's thread while it may create our fd (see log.h). */
static __thread int sl_log_opener;
static dev_t sl_log_dev;
static ino_t sl_log_ino;
static uid_t sl_log_uid;
/* The output directory, held open (O_PATH) from just before the program
 * drops privileges or chroots, so its log is still created there. */
static _Atomic int sl_log_dirfd = -1; /* written under the log lock */
static dev_t sl_log_dir_dev;
static ino_t sl_log_dir_ino;
/* One more fd of ours, protected the same way: the sweep's netlink socket. */
SL_FORKED static _Atomic int sl_log_auxfd = -1;
static dev_t sl_log_aux_dev;
static ino_t sl_log_aux_ino;
static char sl_log_path[PATH_MAX];
SL_FORKED static uint32_t sl_log_next_id;
SL_FORKED static uint64_t sl_log_findings;
/* sl_log_path holds this process's name (a fork child has none yet). */
SL_FORKED static int sl_log_path_set;
/* Under the log lock: a static buffer keeps our stack use small in close hooks
 * running on program threads with small stacks. */
static char sl_log_buf[SL_LOG_MAX_LINE];
static char sl_log_scratch[32768];
/* The command line as it was before main ran (programs such as nginx rewrite
 * argv[0] in place): NUL-separated arguments, and argv[0]'s base name. */
static char sl_log_args[32768];
static size_t sl_log_args_len;
static char sl_log_args_name[256];

/* The log lock, with cancellation disabled while it is held: open(2) and
 * write(2) are cancellation points, and a program thread cancelled in one
 * (closing a reported socket) must not die holding the lock. A cancel that
 * came meanwhile acts at the caller's next cancellation point. */
static int sl_log_lock(void)
{
    int old;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    SL_LOCK(SL_LK_LOG);
    return old;
}

static void sl_log_unlock(int old)
{
    SL_UNLOCK(SL_LK_LOG);
    pthread_setcancelstate(old, NULL);
}

struct sl_buf {
    char *p;
    size_t len, cap;
    int overflow;
};

static void sl_buf_put(struct sl_buf *b, const char *s, size_t n)
{
    if (b->overflow || n >= b->cap - b->len) {
        b->overflow = 1;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

/* A string literal (a key of format/sockleak_log.h) appended. */
#define SL_BUF_LIT(b, lit) sl_buf_put((b), (lit), sizeof(lit) - 1)

static void sl_buf_fmt(struct sl_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void sl_buf_fmt(struct sl_buf *b, const char *fmt, ...)
{
    if (b->overflow)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= b->cap - b->len)
        b->overflow = 1;
    else
        b->len += (size_t)n;
}

/* Length of a valid UTF-8 sequence at s (n bytes left), 0 when invalid. */
static size_t sl_utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t k;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        k = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        k = 3;
        if (c == 0xe0)
            lo = 0xa0;
        if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        k = 4;
        if (c == 0xf0)
            lo = 0x90;
        if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (k > n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < k; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return k;
}

/* A JSON string of s[0..n): quotes, backslashes and control characters
 * escaped, invalid UTF-8 replaced by U+FFFD so every reader accepts it. */
static void sl_buf_json(struct sl_buf *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    sl_buf_put(b, "\"", 1);
    for (size_t i = 0; i < n && !b->overflow;) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sl_buf_put(b, e, 2);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            const char *e = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r" : NULL;
            if (e)
                sl_buf_put(b, e, 2);
            else
                sl_buf_fmt(b, "\\u%04x", c);
            i++;
        } else if (c < 0x80) {
            sl_buf_put(b, (const char *)&s[i], 1);
            i++;
        } else {
            size_t k = sl_utf8_len(&s[i], n - i);
            if (k) {
                sl_buf_put(b, (const char *)&s[i], k);
                i += k;
            } else {
                sl_buf_put(b, "\\ufffd", 6);
                i++;
            }
        }
    }
    sl_buf_put(b, "\"", 1);
}

static void sl_buf_jstr(struct sl_buf *b, const char *s)
{
    sl_buf_json(b, s, strlen(s));
}

/* Errors that pass: a full fd table, a full disk. */
static int sl_log_transient(int err)
{
    return err == EMFILE || err == ENFILE || err == ENOSPC || err == EDQUOT || err == ENOMEM ||
           err == EINTR || err == EAGAIN;
}

/* The file cannot be created. A transient error is tried again at the next
 * chance (warned once); any other is final. Lock held. */
static void sl_log_fail(const char *what, int err)
{
    int fd = atomic_load(&sl_log_fd);
    if (fd >= 0)
        sl_real.close(fd);
    atomic_store(&sl_log_fd, -1);
    sl_log_lost_errno = err;
    if (sl_log_transient(err)) {
        atomic_store(&sl_log_want, 1);
        if (!sl_log_open_warned++)
            sl_warn("cannot %s log file %s: %s; trying again at the next end-of-stream", what,
                    sl_log_path, strerror(err));
        return;
    }
    if (!sl_log_broken)
        sl_warn("cannot %s log file %s: %s; no findings will be recorded", what, sl_log_path,
                strerror(err));
    sl_log_broken = 1;
}

/* A record that did not make it: counted for the footer. Lock held. */
static void sl_log_count_lost(int err)
{
    sl_log_lost++;
    if (err)
        sl_log_lost_errno = err;
}

/* A write failed after `done` bytes of the record: cut them off again, so
 * the next record starts on a line of its own. Lock held. */
static void sl_log_unwrite(int fd, size_t done)
{
    struct stat st;
    if (done > 0 && fstat(fd, &st) == 0 && (size_t)st.st_size >= done)
        (void)!ftruncate(fd, st.st_size - (off_t)done);
}

/* Write one whole record, or none of it (a full disk): the fd stays, the
 * record is counted as lost and the next one tries again. Lock held. */
static int sl_log_put(const char *buf, size_t len)
{
    int fd = atomic_load(&sl_log_fd);
    size_t done = 0;
    while (done < len) {
        ssize_t w = sl_real.write(fd, buf + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int err = w < 0 ? errno : EIO;
            sl_log_unwrite(fd, done);
            sl_log_count_lost(err);
            if (!sl_log_write_warned++)
                sl_warn("cannot write log file %s: %s; records are counted as lost until writes"
                        " succeed again", sl_log_path, strerror(err));
            return -1;
        }
        done += (size_t)w;
    }
    return 0;
}

/* The program's short name, made safe as a file name (no '/', no leading
 * '.', printable ASCII), "unknown" when empty. */
void sl_log_snapshot_args(int argc, char **argv)
{
    if (argc <= 0 || !argv || !argv[0])
        return;
    size_t len = 0;
    for (int i = 0; i < argc && argv[i]; i++) {
        size_t n = strlen(argv[i]);
        if (len + n + 1 > sizeof sl_log_args)
            break;
        memcpy(sl_log_args + len, argv[i], n + 1);
        len += n + 1;
    }
    sl_log_args_len = len;
    const char *slash = strrchr(argv[0], '/');
    snprintf(sl_log_args_name, sizeof sl_log_args_name, "%s", slash ? slash + 1 : argv[0]);
}

static void sl_program_name(char *out, size_t size)
{
    extern char *program_invocation_short_name;
    const char *p = sl_log_args_name[0]                ? sl_log_args_name
                    : program_invocation_short_name ? program_invocation_short_name
                                                     : "";
    size_t n = 0;
    for (; p[n] && n + 1 < size && n < 64; n++) {
        char c = p[n];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '-' || c == '_' || c == '+';
        out[n] = ok ? c : '_';
    }
    out[n] = '\0';
    if (n == 0)
        snprintf(out, size, "unknown");
    else if (out[0] == '.')
        out[0] = '_';
}

void sl_log_program(char *out, size_t size)
{
    sl_program_name(out, size);
}

/* mkdir -p dir, every directory it makes private (a parent that is made
 * here has nothing of anyone else's in it either); returns 0 or an errno. */
static int sl_mkdir_p(const char *dir)
{
    char tmp[PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof tmp)
        return ENAMETOOLONG;
    memcpy(tmp, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        char c = tmp[i];
        tmp[i] = '\0';
        if (mkdir(tmp, SL_LOG_DIR_MODE) < 0 && errno != EEXIST)
            return errno;
        tmp[i] = c;
    }
    return 0;
}

ssize_t sl_read_file(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    while (len < size) {
        ssize_t r = sl_real.read(fd, buf + len, size - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    sl_real.close(fd);
    return (ssize_t)len;
}

/* Wall-clock start of this process, from /proc/self/stat (field 22). */
static int64_t sl_start_unix_ms(void)
{
    char buf[1024];
    ssize_t n = sl_read_file("/proc/self/stat", buf, sizeof buf - 1);
    int64_t now = sl_wall_ms();
    if (n <= 0)
        return now;
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* comm may hold spaces */
    if (!p)
        return now;
    int field = 2;
    for (; *p && field < 22; p++)
        if (*p == ' ')
            field++;
    char *end;
    unsigned long long start = strtoull(p, &end, 10);
    if (field != 22 || end == p)
        return now;
    long hz = sysconf(_SC_CLK_TCK);
    struct timespec bt;
    if (hz <= 0 || clock_gettime(CLOCK_BOOTTIME, &bt) != 0)
        return now;
    int64_t up_ms = (int64_t)bt.tv_sec * 1000 + bt.tv_nsec / 1000000;
    int64_t age = up_ms - (int64_t)(start * 1000 / (unsigned long long)hz);
    return age >= 0 ? now - age : now;
}

static void sl_log_header(void)
{
    struct sl_buf b = {.p = sl_log_buf, .cap = sizeof sl_log_buf};
    char prog[80], exe[PATH_MAX];
    sl_program_name(prog, sizeof prog);
    ssize_t en = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[en > 0 ? en : 0] = '\0';
    sl_buf_fmt(&b, "{" SL_JKEY(T) "\"" SL_REC_HEADER "\"," SL_JKEY(VERSION) "%d,", SL_LOG_VERSION);
    sl_buf_fmt(&b, SL_JKEY(PID) "%d," SL_JKEY(PPID) "%d," SL_JKEY(PROGRAM), (int)getpid(),
               (int)getppid());
    sl_buf_jstr(&b, prog);
    SL_BUF_LIT(&b, "," SL_JKEY(EXE));
    sl_buf_jstr(&b, exe);
    SL_BUF_LIT(&b, "," SL_JKEY(ARGV) "[");
    ssize_t n = (ssize_t)sl_log_args_len;
    if (n > 0)
        memcpy(sl_log_scratch, sl_log_args, (size_t)n);
    else
        n = sl_read_file("/proc/self/cmdline", sl_log_scratch, sizeof sl_log_scratch);
    /* Long command lines are cut, keeping the record well under a line. */
    for (ssize_t i = 0, first = 1; n > 0 && i < n && b.len < b.cap / 2; first = 0) {
        size_t len = strnlen(sl_log_scratch + i, (size_t)(n - i));
        if (!first)
            sl_buf_put(&b, ",", 1);
        sl_buf_json(&b, sl_log_scratch + i, len);
        i += (ssize_t)len + 1;
    }
    sl_buf_fmt(&b, "]," SL_JKEY(START_UNIX_MS) "%lld," SL_JKEY(RUN_ID),
               (long long)sl_start_unix_ms());
    sl_buf_jstr(&b, sl_opt.run_id);
    if (sl_opt.suppressions[0]) {
        SL_BUF_LIT(&b, "," SL_JKEY(SUPPRESSIONS));
        sl_buf_jstr(&b, sl_opt.suppressions);
    }
    sl_buf_fmt(&b, "," SL_JKEY(DEADLINE_MS) "%ld," SL_JKEY(FRAMES) "%d}\n", sl_opt.deadline_ms,
               sl_opt.frames);
    if (!b.overflow)
        sl_log_put(b.p, b.len);
}

/* openat(2) of the log (dirfd AT_FDCWD: a path); when the program's fd
 * table is full, once more with room above its limit (see ownfd.h). */
static int sl_log_openat(int dirfd, const char *path, int flags)
{
    int fd = openat(dirfd, path, flags, SL_LOG_FILE_MODE);
    struct rlimit saved;
    if (fd < 0 && errno == EMFILE && sl_ownfd_room_begin(&saved)) {
        fd = openat(dirfd, path, flags, SL_LOG_FILE_MODE);
        int e = errno;
        sl_ownfd_room_end(&saved);
        errno = e;
    }
    return fd;
}

/* Does dirfd still hold the directory we pinned? */
static int sl_log_dir_valid(int dirfd)
{
    struct stat st;
    return fstat(dirfd, &st) == 0 && st.st_ino == sl_log_dir_ino && st.st_dev == sl_log_dir_dev;
}

/* sl_log_path as openat(dirfd, ...) wants it. */
static const char *sl_log_name_at(int dirfd)
{
    return dirfd == AT_FDCWD ? sl_log_path : strrchr(sl_log_path, '/') + 1;
}

/* The n-th name of this process's log into sl_log_path:
 * <program>.<pid>.jsonl, then <program>.<pid>.<n>.jsonl. 0 or an errno. */
static int sl_log_name(int n)
{
    char prog[80], nth[16] = "";
    sl_program_name(prog, sizeof prog);
    if (n > 0)
        snprintf(nth, sizeof nth, ".%d", n);
    int len = snprintf(sl_log_path, sizeof sl_log_path, "%s/%s.%d%s" SL_LOG_SUFFIX,
                       sl_opt.output, prog, (int)getpid(), nth);
    return len < 0 || (size_t)len >= sizeof sl_log_path ? ENAMETOOLONG : 0;
}

/* A new file under the first free name. Exclusive creation is what keeps
 * whatever already has the name untouched: a link planted at this
 * predictable name (O_EXCL never follows one, dangling or not), a file of
 * somebody else's, the log of an earlier image exec'd in this pid. Returns
 * the fd, or -1 with errno. */
static int sl_log_create(int dirfd)
{
    const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_APPEND | O_CLOEXEC;
    for (int n = 0; n < SL_LOG_NAME_TRIES; n++) {
        int err = sl_log_name(n);
        if (err) {
            errno = err;
            return -1;
        }
        int fd = sl_log_openat(dirfd, sl_log_name_at(dirfd), flags);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    errno = EEXIST;
    return -1;
}

/* Our own file once more, after the program closed its fd behind our back:
 * only while its name still holds the very file we created (inode and
 * owner), else -1. O_NONBLOCK: a FIFO put in its place must not block the
 * program's thread here (on a regular file the flag does nothing). */
static int sl_log_reopen(int dirfd)
{
    const int flags = O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
    int fd = sl_log_openat(dirfd, sl_log_name_at(dirfd), flags);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) < 0 || st.st_ino != sl_log_ino || st.st_dev != sl_log_dev ||
                    st.st_uid != sl_log_uid)) {
        sl_real.close(fd);
        fd = -1;
    }
    return fd;
}

/* An unnamed file in the output directory (O_TMPFILE), or -1 with errno
 * (a file system without it: the child then makes its log when it has a
 * record to write). */
static int sl_log_create_unnamed(int dirfd)
{
    const int flags = O_TMPFILE | O_WRONLY | O_APPEND | O_CLOEXEC;
    return sl_log_openat(dirfd, dirfd == AT_FDCWD ? sl_opt.output : ".", flags);
}

/* Link the unnamed log under the first free name. As root, through the fd
 * itself (AT_EMPTY_PATH); otherwise through /proc/self/fd. 0 or an errno.
 * Lock held. */
static int sl_log_link(int fd)
{
    int dirfd = atomic_load(&sl_log_dirfd);
    if (dirfd < 0 || !sl_log_dir_valid(dirfd))
        dirfd = AT_FDCWD;
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    for (int n = 0; n < SL_LOG_NAME_TRIES; n++) {
        int err = sl_log_name(n);
        if (err)
            return err;
        const char *name = sl_log_name_at(dirfd);
        if (linkat(fd, "", dirfd, name, AT_EMPTY_PATH) == 0 ||
            ((errno == EPERM || errno == ENOENT) &&
             linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW) == 0))
            return 0;
        if (errno != EEXIST)
            return errno;
    }
    return EEXIST;
}

/* Before a record that must be kept: an unnamed log gets its name. 0, or
 * -1 (the record is counted lost). Lock held. */
static int sl_log_named(void)
{
    if (!sl_log_unnamed)
        return 0;
    int err = sl_log_link(atomic_load(&sl_log_fd));
    if (err) {
        sl_log_count_lost(err);
        return -1;
    }
    sl_log_unnamed = 0;
    return 0;
}

SL_FORKED uint32_t sl_log_epoch = 1;

/* A file of ours starts: header first, and every module is logged again in
 * it (a file replacing one that vanished is read on its own). Lock held. */
static void sl_log_begin_file(void)
{
    if (sl_log_created)
        sl_log_epoch++;
    sl_log_created = 1;
    sl_log_header();
}

/* Open our file again, or create a new one, move its fd high and CLOEXEC.
 * Lock held. Returns 0 or -1 (warned). */
static int sl_log_open(void)
{
    if (!sl_log_path_set) {
        /* A new file (first use, or a fork child): nothing of it lost yet. */
        sl_log_lost = 0;
        sl_log_lost_errno = 0;
        sl_log_write_warned = 0;
        /* Named from the first attempt on, for any warning about it. */
        int err = sl_log_name(0);
        sl_log_path_set = 1;
        if (err) {
            sl_log_fail("create", err);
            return -1;
        }
    }
    int dirfd = atomic_load(&sl_log_dirfd);
    if (dirfd < 0 || !sl_log_dir_valid(dirfd)) {
        dirfd = AT_FDCWD;
        int err = sl_mkdir_p(sl_opt.output);
        if (err) {
            sl_log_fail("create", err);
            return -1;
        }
    }
    int fd = sl_log_created ? sl_log_reopen(dirfd) : -1;
    int fresh = fd < 0;
    if (fresh)
        fd = sl_log_create(dirfd);
    if (fd >= 0)
        fd = sl_ownfd_place(fd);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) < 0) {
        int e = errno;
        sl_real.close(fd);
        fd = -1;
        errno = e;
    }
    if (fd < 0) {
        sl_log_fail("create", errno);
        return -1;
    }
    atomic_store(&sl_log_want, 0);
    sl_log_dev = st.st_dev;
    sl_log_ino = st.st_ino;
    sl_log_uid = st.st_uid;
    atomic_store(&sl_log_fd, fd);
    if (fresh || st.st_size == 0)
        sl_log_begin_file();
    return sl_log_broken ? -1 : 0;
}

/* Make sure our fd still is our file (the program may have closed or
 * replaced it behind our back); reopen or remake it if not, but only on
 * the program's thread (sl_log_opener): a thread of ours would take the
 * lowest free number, which the program may be about to be handed. Lock
 * held. */
static int sl_log_ready(void)
{
    if (sl_log_broken)
        return -1;
    if (!sl_real.write)
        sl_real_init();
    int fd = atomic_load(&sl_log_fd);
    if (fd >= 0) {
        struct stat st;
        if (fstat(fd, &st) == 0 && st.st_ino == sl_log_ino && st.st_dev == sl_log_dev)
            return 0;
        /* Not ours any more: the number belongs to the program now. */
        atomic_store(&sl_log_fd, -1);
    }
    if (!sl_log_opener) {
        atomic_store(&sl_log_want, 1);
        if (!sl_log_lost_errno)
            sl_log_lost_errno = EBADF;
        return -1;
    }
    return sl_log_open();
}

int sl_log_writable(void)
{
    if (atomic_load(&sl_log_fd) >= 0 && !atomic_load(&sl_log_want))
        return 1;
    atomic_store(&sl_log_want, 1);
    return 0;
}

void sl_log_allow_create(int on)
{
    sl_log_opener = on;
}

void sl_log_reserve_unnamed(void)
{
    int cs = sl_log_lock();
    if (atomic_load(&sl_log_fd) < 0 && !sl_log_broken) {
        int dirfd = atomic_load(&sl_log_dirfd);
        if (dirfd < 0 || !sl_log_dir_valid(dirfd))
            dirfd = AT_FDCWD;
        int fd = sl_log_create_unnamed(dirfd);
        struct stat st;
        if (fd >= 0)
            fd = sl_ownfd_place(fd);
        if (fd >= 0 && fstat(fd, &st) == 0) {
            sl_log_lost = 0;
            sl_log_lost_errno = 0;
            sl_log_dev = st.st_dev;
            sl_log_ino = st.st_ino;
            sl_log_uid = st.st_uid;
            atomic_store(&sl_log_want, 0);
            atomic_store(&sl_log_fd, fd);
            sl_log_unnamed = 1;
            sl_log_begin_file();
        } else if (fd >= 0) {
            sl_real.close(fd);
        }
    }
    sl_log_unlock(cs);
}

void sl_log_reserve(void)
{
    if (SL_LIKELY(atomic_load_explicit(&sl_log_fd, memory_order_acquire) >= 0 &&
                  !atomic_load_explicit(&sl_log_want, memory_order_relaxed)))
        return;
    int cs = sl_log_lock();
    sl_log_opener = 1;
    sl_log_ready();
    sl_log_opener = 0;
    sl_log_unlock(cs);
}

static void sl_log_module(struct sl_module *m)
{
    struct sl_buf b = {.p = sl_log_buf, .cap = sizeof sl_log_buf};
    sl_buf_fmt(&b, "{" SL_JKEY(T) "\"" SL_REC_MODULE "\"," SL_JKEY(ID) "%u," SL_JKEY(PATH), m->id);
    sl_buf_jstr(&b, m->path);
    SL_BUF_LIT(&b, "," SL_JKEY(BUILD_ID));
    sl_buf_jstr(&b, m->build_id);
    sl_buf_fmt(&b, "," SL_JKEY(BASE) "%llu}\n", (unsigned long long)m->base);
    if (!b.overflow && sl_log_put(b.p, b.len) == 0)
        m->logged = sl_log_epoch;
}

/* A stack's frames and their modules, resolved before the log lock: the
 * depot and the module map have locks of their own, and the module map's
 * scans take the loader lock inside the fork gate (locks.h). */
struct sl_frames {
    const uintptr_t *pcs;
    int n;
    union {
        struct sl_module *mod;  /* a native pc: its module, or NULL */
        struct sl_lframe *lf;   /* a language frame (SL_LFRAME_IS): or NULL */
    } ref[SL_MAX_FRAMES];
};

static void sl_frames_of(uint32_t id, struct sl_frames *f)
{
    f->n = id ? sl_stack_get(id, &f->pcs) : 0;
    if (f->n < 0)
        f->n = 0;
    if (f->n > SL_MAX_FRAMES)
        f->n = SL_MAX_FRAMES;
    for (int i = 0; i < f->n; i++) {
        if (SL_LFRAME_IS(f->pcs[i]))
            f->ref[i].lf = sl_lframe_get(f->pcs[i]);
        else
            f->ref[i].mod = sl_modules_find(f->pcs[i]);
    }
}

static void sl_log_lframe(struct sl_lframe *lf)
{
    struct sl_buf b = {.p = sl_log_buf, .cap = sizeof sl_log_buf};
    sl_buf_fmt(&b, "{" SL_JKEY(T) "\"" SL_REC_FRAME "\"," SL_JKEY(ID) "%u," SL_JKEY(LANG), lf->id);
    sl_buf_jstr(&b, sl_lframe_lang_name(lf->lang));
    SL_BUF_LIT(&b, "," SL_JKEY(FUNCTION));
    sl_buf_jstr(&b, lf->function);
    SL_BUF_LIT(&b, "," SL_JKEY(FILE));
    sl_buf_jstr(&b, lf->file);
    sl_buf_fmt(&b, "," SL_JKEY(LINE) "%d}\n", lf->line);
    if (!b.overflow && sl_log_put(b.p, b.len) == 0)
        lf->logged = sl_log_epoch;
}

/* Module records for every frame that needs one. Lock held. */
static void sl_log_stack_modules(const struct sl_frames *st)
{
    for (int i = 0; i < st->n && !sl_log_broken; i++) {
        if (SL_LFRAME_IS(st->pcs[i])) {
            if (st->ref[i].lf && !SL_LOGGED(st->ref[i].lf))
                sl_log_lframe(st->ref[i].lf);
        } else if (st->ref[i].mod && !SL_LOGGED(st->ref[i].mod)) {
            sl_log_module(st->ref[i].mod);
        }
    }
}

static void sl_buf_stack(struct sl_buf *b, const struct sl_frames *st)
{
    sl_buf_put(b, "[", 1);
    for (int i = 0; i < st->n; i++) {
        if (SL_LFRAME_IS(st->pcs[i])) {
            if (st->ref[i].lf)
                sl_buf_fmt(b, "%s[-2,%u]", i ? "," : "", st->ref[i].lf->id);
            else
                sl_buf_fmt(b, "%s[-1,0]", i ? "," : "");
            continue;
        }
        struct sl_module *m = st->ref[i].mod;
        if (m)
            sl_buf_fmt(b, "%s[%u,%llu]", i ? "," : "", m->id,
                       (unsigned long long)(st->pcs[i] - m->base));
        else
            sl_buf_fmt(b, "%s[-1,%llu]", i ? "," : "", (unsigned long long)st->pcs[i]);
    }
    sl_buf_put(b, "]", 1);
}

#define SL_EXTRA_STACKS 6
#define SL_EXTRA_STACK_IDS(f)                                                                      \
    (f)->last_read_stack, (f)->fork_stack, (f)->listen_stack, (f)->close_stack,                    \
        (f)->first_close_stack, (f)->fail_stack

/* The optional parts of a finding (the kernel-swept kinds, at_exit). */
static void sl_buf_finding_extra(struct sl_buf *b, const struct sl_finding *f,
                                 const struct sl_frames extra[SL_EXTRA_STACKS])
{
    static const char *const keys[SL_EXTRA_STACKS] = {
        "," SL_JKEY(LAST_READ_STACK), "," SL_JKEY(FORK_STACK), "," SL_JKEY(LISTEN_STACK),
        "," SL_JKEY(CLOSE_STACK), "," SL_JKEY(FIRST_CLOSE_STACK), "," SL_JKEY(FAIL_STACK)};
    const uint32_t ids[SL_EXTRA_STACKS] = {SL_EXTRA_STACK_IDS(f)};
    for (int i = 0; i < SL_EXTRA_STACKS; i++) {
        if (!ids[i])
            continue;
        sl_buf_put(b, keys[i], strlen(keys[i]));
        sl_buf_stack(b, &extra[i]);
    }
    if (f->has_queue)
        sl_buf_fmt(b, "," SL_JKEY(IDLE_MS) "%lld," SL_JKEY(UNREAD_BYTES) "%lld",
                   (long long)f->idle_ms, (long long)f->unread_bytes);
    if (f->from_pid > 0)
        sl_buf_fmt(b, "," SL_JKEY(FROM_PID) "%d", f->from_pid);
    if (f->sockets > 1)
        sl_buf_fmt(b, "," SL_JKEY(SOCKETS) "%lld", (long long)f->sockets);
    if (f->has_backlog)
        sl_buf_fmt(b, "," SL_JKEY(BACKLOG) "%lld," SL_JKEY(QUEUED) "%lld", (long long)f->backlog,
                   (long long)f->queued);
    if (f->at_exit)
        SL_BUF_LIT(b, "," SL_JKEY(AT_EXIT) "true");
}

/* rate (tenths) as a JSON number with one decimal. */
static void sl_buf_tenths(struct sl_buf *b, int64_t x10)
{
    if (x10 < 0)
        x10 = 0;
    sl_buf_fmt(b, "%lld.%d", (long long)(x10 / 10), (int)(x10 % 10));
}

/* The stacks of an EADDRNOTAVAIL finding's top sites: resolved before the
 * log lock like the others, but kept here rather than on the caller's stack
 * (a connect hook's, on any thread of the program). Taken by one finding
 * at a time (sl_log_top_busy); another at that instant writes them []. */
static struct sl_frames sl_log_top_frames[SL_LOG_HOLDERS];
static _Atomic int sl_log_top_busy;

/* time_wait_churn's keys. top: the top sites' frames, or NULL. */
static void sl_buf_churn(struct sl_buf *b, const struct sl_finding *f, const struct sl_frames *top)
{
    SL_BUF_LIT(b, "," SL_JKEY(DESTINATION));
    sl_buf_json(b, f->destination, strnlen(f->destination, sizeof f->destination));
    sl_buf_fmt(b, "," SL_JKEY(CONNECTIONS) "%lld," SL_JKEY(RATE_PER_S),
               (long long)f->connections);
    sl_buf_tenths(b, f->rate_x10);
    sl_buf_fmt(b, "," SL_JKEY(TIME_WAIT_PEAK) "%lld," SL_JKEY(PORT_RANGE) "[%d,%d]",
               (long long)f->time_wait_peak, f->port_lo, f->port_hi);
    if (!f->exhausted)
        return;
    SL_BUF_LIT(b, "," SL_JKEY(EXHAUSTED) "true," SL_JKEY(TOP_SITES) "[");
    for (int i = 0; i < f->n_top; i++) {
        const struct sl_log_site *s = &f->top[i];
        sl_buf_fmt(b, "%s{" SL_JKEY(OPEN_STACK), i ? "," : "");
        if (top)
            sl_buf_stack(b, &top[i]);
        else
            SL_BUF_LIT(b, "[]");
        SL_BUF_LIT(b, "," SL_JKEY(DESTINATION));
        sl_buf_json(b, s->destination, strnlen(s->destination, sizeof s->destination));
        sl_buf_fmt(b, "," SL_JKEY(CONNECTIONS) "%lld," SL_JKEY(TIME_WAIT) "%lld}",
                   (long long)s->connections, (long long)s->time_wait);
    }
    sl_buf_put(b, "]", 1);
}

/* fd_exhaustion's keys. top: the holders' frames, or NULL. */
static void sl_buf_fdexh(struct sl_buf *b, const struct sl_finding *f, const struct sl_frames *top)
{
    SL_BUF_LIT(b, "," SL_JKEY(CALL));
    sl_buf_jstr(b, f->call ? f->call : "");
    SL_BUF_LIT(b, "," SL_JKEY(ERRNO));
    sl_buf_jstr(b, f->err_name ? f->err_name : "");
    sl_buf_fmt(b, "," SL_JKEY(LIMIT) "%lld," SL_JKEY(OPEN_FDS) "%lld," SL_JKEY(HOLDERS) "[",
               (long long)f->limit, (long long)f->open_fds);
    for (int i = 0; i < f->n_holders; i++) {
        const struct sl_log_holder *h = &f->holders[i];
        sl_buf_fmt(b, "%s{" SL_JKEY(OPEN_STACK), i ? "," : "");
        if (top)
            sl_buf_stack(b, &top[i]);
        else
            SL_BUF_LIT(b, "[]");
        sl_buf_fmt(b, "," SL_JKEY(COUNT) "%lld," SL_JKEY(STATES) "{", (long long)h->count);
        int n = 0;
        for (unsigned st = 0; st < SL_LOG_TCP_STATES; st++) {
            const char *name = h->states[st] ? sl_tcp_state_name(st) : NULL;
            if (name)
                sl_buf_fmt(b, "%s\"%s\":%lld", n++ ? "," : "", name, (long long)h->states[st]);
        }
        sl_buf_fmt(b, "}," SL_JKEY(OLDEST_MS) "%lld}", (long long)h->oldest_ms);
    }
    sl_buf_put(b, "]", 1);
}

/* The number of shared stacks f names: an EADDRNOTAVAIL finding's top
 * sites, or an fd_exhaustion finding's holders. */
static int sl_log_top_count(const struct sl_finding *f)
{
    return f->n_top ? f->n_top : f->n_holders;
}

/* The top sites' (or holders') frames, and their modules' records, when f
 * names any and the shared frames are free: NULL otherwise. */
static const struct sl_frames *sl_log_top_resolve(const struct sl_finding *f)
{
    int n = sl_log_top_count(f);
    if (!n || atomic_exchange(&sl_log_top_busy, 1))
        return NULL;
    SL_HG_HAPPENS_AFTER(&sl_log_top_busy); /* the frames' last user */
    for (int i = 0; i < n; i++)
        sl_frames_of(f->n_top ? f->top[i].stack : f->holders[i].stack, &sl_log_top_frames[i]);
    return sl_log_top_frames;
}

/* The frames sl_log_top_resolve gave (NULL: none) are free again. */
static void sl_log_top_release(const struct sl_frames *top)
{
    if (!top)
        return;
    SL_HG_HAPPENS_BEFORE(&sl_log_top_busy);
    atomic_store(&sl_log_top_busy, 0);
}

int sl_log_finding(struct sl_finding *f)
{
    int rc = -1;
    /* 4 KB each, resolved before the log lock: the deadline thread has a
     * full stack, and the exit handler runs on the program's main one. */
    struct sl_frames eof, open, extra[SL_EXTRA_STACKS];
    sl_frames_of(f->eof_stack, &eof);
    sl_frames_of(f->open_stack, &open);
    const uint32_t ids[SL_EXTRA_STACKS] = {SL_EXTRA_STACK_IDS(f)};
    for (int i = 0; i < SL_EXTRA_STACKS; i++)
        sl_frames_of(ids[i], &extra[i]);
    const struct sl_frames *top = sl_log_top_resolve(f);
    int cs = sl_log_lock();
    if (sl_log_ready() == 0 && sl_log_named() == 0) {
        sl_log_stack_modules(&eof);
        sl_log_stack_modules(&open);
        for (int i = 0; i < SL_EXTRA_STACKS; i++)
            sl_log_stack_modules(&extra[i]);
        for (int i = 0; top && i < sl_log_top_count(f); i++)
            sl_log_stack_modules(&top[i]);
        f->id = ++sl_log_next_id;
        struct sl_buf b = {.p = sl_log_buf, .cap = sizeof sl_log_buf};
        sl_buf_fmt(&b, "{" SL_JKEY(T) "\"" SL_REC_FINDING "\"," SL_JKEY(ID) "%u," SL_JKEY(KIND),
                   f->id);
        sl_buf_jstr(&b, f->kind);
        sl_buf_fmt(&b, "," SL_JKEY(FD) "%d," SL_JKEY(FAMILY), f->fd);
        sl_buf_jstr(&b, f->family ? f->family : "other");
        SL_BUF_LIT(&b, "," SL_JKEY(LOCAL));
        sl_buf_json(&b, f->local, strnlen(f->local, sizeof f->local));
        SL_BUF_LIT(&b, "," SL_JKEY(PEER));
        sl_buf_json(&b, f->peer, strnlen(f->peer, sizeof f->peer));
        sl_buf_fmt(&b, "," SL_JKEY(INODE) "%llu," SL_JKEY(TCP_STATE), (unsigned long long)f->inode);
        if (f->tcp_state)
            sl_buf_jstr(&b, f->tcp_state);
        else
            sl_buf_put(&b, "null", 4);
        sl_buf_fmt(&b, "," SL_JKEY(EOF_UNIX_MS) "%lld," SL_JKEY(HELD_MS) "%lld," SL_JKEY(EOF_STACK),
                   (long long)f->eof_unix_ms, (long long)f->held_ms);
        sl_buf_stack(&b, &eof);
        SL_BUF_LIT(&b, "," SL_JKEY(OPEN_STACK));
        sl_buf_stack(&b, &open);
        sl_buf_finding_extra(&b, f, extra);
        if (f->churn)
            sl_buf_churn(&b, f, top);
        if (f->fdexh)
            sl_buf_fdexh(&b, f, top);
        sl_buf_put(&b, "}\n", 2);
        if (!b.overflow && !sl_log_broken && sl_log_put(b.p, b.len) == 0) {
            sl_log_findings++;
            rc = 0;
        }
    } else {
        sl_log_count_lost(0);
    }
    sl_log_unlock(cs);
    sl_log_top_release(top);
    return rc;
}

void sl_log_closed(uint32_t id, int fd, int64_t held_ms)
{
    int cs = sl_log_lock();
    if (sl_log_created && sl_log_ready() == 0) {
        char line[160];
        struct sl_buf b = {.p = line, .cap = sizeof line};
        sl_buf_fmt(&b, "{" SL_JKEY(T) "\"" SL_REC_CLOSED "\"," SL_JKEY(ID) "%u,", id);
        sl_buf_fmt(&b, SL_JKEY(FD) "%d," SL_JKEY(HELD_MS) "%lld}\n", fd, (long long)held_ms);
        if (!b.overflow)
            sl_log_put(b.p, b.len);
    } else if (sl_log_created) {
        sl_log_count_lost(0);
    }
    sl_log_unlock(cs);
}

void sl_log_update(uint32_t id, int64_t connections, int64_t rate_x10, int64_t time_wait_peak)
{
    int cs = sl_log_lock();
    if (sl_log_created && sl_log_ready() == 0) {
        char line[200];
        struct sl_buf b = {.p = line, .cap = sizeof line};
        sl_buf_fmt(&b, "{" SL_JKEY(T) "\"" SL_REC_UPDATE "\"," SL_JKEY(ID) "%u,", id);
        sl_buf_fmt(&b, SL_JKEY(CONNECTIONS) "%lld," SL_JKEY(RATE_PER_S), (long long)connections);
        sl_buf_tenths(&b, rate_x10);
        sl_buf_fmt(&b, "," SL_JKEY(TIME_WAIT_PEAK) "%lld}\n", (long long)time_wait_peak);
        if (!b.overflow)
            sl_log_put(b.p, b.len);
    } else if (sl_log_created) {
        sl_log_count_lost(0);
    }
    sl_log_unlock(cs);
}

/* The census's sites' frames, resolved before the log lock and kept here,
 * not on the caller's stack: one census runs at a time (census.c). */
static struct sl_frames sl_log_census_frames[SL_CENSUS_SITES];

/* "states":{"ESTABLISHED":5,...} of a census site. */
static void sl_buf_states(struct sl_buf *b, const struct sl_census_site *s)
{
    int first = 1;
    SL_BUF_LIT(b, "," SL_JKEY(STATES) "{");
    for (unsigned st = 0; st < SL_CENSUS_STATES; st++) {
        if (!s->n[st])
            continue;
        const char *name = sl_tcp_state_name(st);
        sl_buf_fmt(b, "%s\"%s\":%u", first ? "" : ",", name ? name : "UNKNOWN", s->n[st]);
        first = 0;
    }
    sl_buf_put(b, "}", 1);
}

int sl_log_census(const struct sl_census_site *sites, int n, int64_t sockets, int64_t fd_limit)
{
    int rc = -1;
    for (int i = 0; i < n; i++)
        sl_frames_of(sites[i].stack, &sl_log_census_frames[i]);
    int cs = sl_log_lock();
    /* Into a file that exists; a fork child's unnamed one is named only
     * when it holds sockets. */
    if (sl_log_created && sl_log_ready() == 0 && (n ? sl_log_named() == 0 : !sl_log_unnamed)) {
        for (int i = 0; i < n; i++)
            sl_log_stack_modules(&sl_log_census_frames[i]);
        struct sl_buf b = {.p = sl_log_buf, .cap = sizeof sl_log_buf};
        sl_buf_fmt(&b, "{" SL_JKEY(T) "\"" SL_REC_OPEN "\"," SL_JKEY(SOCKETS) "%lld,",
                   (long long)sockets);
        sl_buf_fmt(&b, SL_JKEY(FD_LIMIT) "%lld," SL_JKEY(SITES) "[", (long long)fd_limit);
        for (int i = 0; i < n; i++) {
            sl_buf_fmt(&b, "%s{" SL_JKEY(OPEN_STACK), i ? "," : "");
            sl_buf_stack(&b, &sl_log_census_frames[i]);
            sl_buf_states(&b, &sites[i]);
            sl_buf_put(&b, "}", 1);
        }
        SL_BUF_LIT(&b, "]}\n");
        if (!b.overflow && !sl_log_broken && sl_log_put(b.p, b.len) == 0)
            rc = 0;
    }
    sl_log_unlock(cs);
    return rc;
}

/* The counts last written in a counts record (this process's file). */
SL_FORKED static uint64_t sl_log_counted_sockets, sl_log_counted_eof;

void sl_log_counts(void)
{
    int cs = sl_log_lock();
    uint64_t socks = atomic_load(&sl_count_sockets), eof = atomic_load(&sl_count_eof);
    /* Only into a file that exists and is named: a process without a file
     * keeps having none, as at exit. */
    if (sl_log_created && !sl_log_unnamed &&
        (socks != sl_log_counted_sockets || eof != sl_log_counted_eof) && sl_log_ready() == 0) {
        char line[160];
        struct sl_buf b = {.p = line, .cap = sizeof line};
        sl_buf_fmt(&b, "{" SL_JKEY(T) "\"" SL_REC_COUNTS "\"," SL_JKEY(SOCKETS) "%llu,",
                   (unsigned long long)socks);
        sl_buf_fmt(&b, SL_JKEY(EOF_SEEN) "%llu}\n", (unsigned long long)eof);
        if (!b.overflow) {
            sl_log_put(b.p, b.len);
            sl_log_counted_sockets = socks;
            sl_log_counted_eof = eof;
        }
    }
    sl_log_unlock(cs);
}

/* ,"lost":N,"lost_errno":E,"lost_error":"ENAME" when records were lost. */
static void sl_log_footer_lost(struct sl_buf *b)
{
    if (!sl_log_lost)
        return;
    const char *name = sl_log_lost_errno ? strerrorname_np(sl_log_lost_errno) : NULL;
    sl_buf_fmt(b, "," SL_JKEY(LOST) "%llu," SL_JKEY(LOST_ERRNO) "%d," SL_JKEY(LOST_ERROR),
               (unsigned long long)sl_log_lost, sl_log_lost_errno);
    sl_buf_jstr(b, name ? name : "unknown");
}

void sl_log_footer(void)
{
    int cs = sl_log_lock();
    uint64_t eof = atomic_load(&sl_count_eof);
    /* Processes that never read end-of-stream on a socket leave no file.
     * At exit we run on the program's thread: the log may be made now. */
    sl_log_opener = 1;
    if ((sl_log_created || eof > 0) && sl_log_ready() == 0 && sl_log_named() == 0) {
        char line[384];
        struct sl_buf b = {.p = line, .cap = sizeof line};
        sl_buf_fmt(&b, "{" SL_JKEY(T) "\"" SL_REC_FOOTER "\"," SL_JKEY(SOCKETS) "%llu,",
                   (unsigned long long)atomic_load(&sl_count_sockets));
        sl_buf_fmt(
            &b, SL_JKEY(EOF_SEEN) "%llu," SL_JKEY(FINDINGS) "%llu," SL_JKEY(END_UNIX_MS) "%lld",
            (unsigned long long)eof, (unsigned long long)sl_log_findings, (long long)sl_wall_ms());
        sl_log_footer_lost(&b);
        sl_buf_put(&b, "}\n", 2);
        if (!b.overflow)
            sl_log_put(b.p, b.len);
    }
    sl_log_opener = 0;
    sl_log_unlock(cs);
}

/* Our fds, by index: the log, the pinned directory, the netlink socket. */
enum { SL_OWN_LOG, SL_OWN_DIR, SL_OWN_AUX };

static _Atomic int *sl_log_own_var(int i)
{
    return i == SL_OWN_LOG ? &sl_log_fd : i == SL_OWN_DIR ? &sl_log_dirfd : &sl_log_auxfd;
}

static void sl_log_own_load(int fds[SL_LOG_OWN_FDS])
{
    for (int i = 0; i < SL_LOG_OWN_FDS; i++)
        fds[i] = atomic_load_explicit(sl_log_own_var(i), memory_order_acquire);
}

int sl_log_holds(int fd)
{
    for (int i = 0; fd >= 0 && i < SL_LOG_OWN_FDS; i++)
        if (fd == atomic_load_explicit(sl_log_own_var(i), memory_order_acquire))
            return 1;
    return 0;
}

/* Cheap for every other fd; for ours (log file, pinned directory), an fstat
 * makes sure the number still holds our object (a raw close may have closed
 * it and the program reused it: then the program's close must go through). */
int sl_log_owns_fd(int fd)
{
    if (SL_LIKELY(!sl_log_holds(fd)))
        return 0;
    struct stat st;
    int ok = fstat(fd, &st) == 0;
    if (fd == atomic_load(&sl_log_auxfd)) {
        if (ok && st.st_ino == sl_log_aux_ino && st.st_dev == sl_log_aux_dev)
            return 1;
        int expect = fd;
        atomic_compare_exchange_strong(&sl_log_auxfd, &expect, -1);
    }
    if (fd == atomic_load(&sl_log_fd)) {
        if (ok && st.st_ino == sl_log_ino && st.st_dev == sl_log_dev)
            return 1;
        int expect = fd;
        atomic_compare_exchange_strong(&sl_log_fd, &expect, -1);
    }
    if (fd == atomic_load(&sl_log_dirfd)) {
        if (ok && st.st_ino == sl_log_dir_ino && st.st_dev == sl_log_dir_dev)
            return 1;
        int expect = fd;
        atomic_compare_exchange_strong(&sl_log_dirfd, &expect, -1);
    }
    return 0;
}

int sl_log_own_fds(int out[SL_LOG_OWN_FDS])
{
    int n = 0, fds[SL_LOG_OWN_FDS];
    sl_log_own_load(fds);
    for (int i = 0; i < SL_LOG_OWN_FDS; i++)
        if (fds[i] >= 0 && sl_log_owns_fd(fds[i]))
            out[n++] = fds[i];
    for (int i = 1; i < n; i++) /* ascending */
        for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
            int t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}

int sl_log_adopt_fd(int fd)
{
    struct stat st;
    int cs = sl_log_lock();
    int old = atomic_load(&sl_log_auxfd);
    if (old >= 0)
        sl_real.close(old);
    atomic_store(&sl_log_auxfd, -1);
    if (fd >= 0)
        fd = sl_ownfd_place(fd);
    if (fd >= 0 && fstat(fd, &st) == 0) {
        sl_log_aux_dev = st.st_dev;
        sl_log_aux_ino = st.st_ino;
        atomic_store(&sl_log_auxfd, fd);
    } else if (fd >= 0) {
        sl_real.close(fd);
        fd = -1;
    }
    sl_log_unlock(cs);
    return fd;
}

int sl_log_aux_fd(void)
{
    return atomic_load_explicit(&sl_log_auxfd, memory_order_acquire);
}

void sl_log_pin_dir(void)
{
    int cs = sl_log_lock();
    int dirfd = atomic_load(&sl_log_dirfd);
    if (!sl_log_broken && (dirfd < 0 || !sl_log_dir_valid(dirfd))) {
        atomic_store(&sl_log_dirfd, -1);
        if (!sl_real.fcntl)
            sl_real_init();
        int fd = open(sl_opt.output, O_PATH | O_DIRECTORY | O_CLOEXEC);
        struct stat st;
        if (fd >= 0)
            fd = sl_ownfd_place(fd);
        if (fd >= 0) {
            if (fstat(fd, &st) == 0) {
                sl_log_dir_dev = st.st_dev;
                sl_log_dir_ino = st.st_ino;
                atomic_store(&sl_log_dirfd, fd);
            } else {
                sl_real.close(fd);
            }
        }
    }
    sl_log_unlock(cs);
}

void sl_log_before_identity_change(void)
{
    /* As root the process may be about to become a user that can neither
     * create a file in the output directory nor open its own log again
     * (0600, root's): the log is made now, while it still can. A process
     * that is not root can only move between ids it already holds. */
    if (geteuid() == 0) {
        sl_log_reserve();
        int cs = sl_log_lock(); /* a fork child's unnamed log, named while it can be */
        if (atomic_load(&sl_log_fd) >= 0)
            sl_log_named();
        sl_log_unlock(cs);
    }
    sl_log_pin_dir();
}

/* Our fd (log or directory) at `fd`, which the program is about to be
 * handed: moved to another number, or given up when none is free. */
void sl_log_evict(int fd)
{
    int cs = sl_log_lock();
    int log = atomic_load(&sl_log_fd), dir = atomic_load(&sl_log_dirfd);
    int aux = atomic_load(&sl_log_auxfd);
    if (fd >= 0 && (fd == log || fd == dir || fd == aux)) {
        int to = sl_ownfd_place_away(fd);
        if (fd == log)
            atomic_store(&sl_log_fd, to);
        else if (fd == dir)
            atomic_store(&sl_log_dirfd, to);
        else
            atomic_store(&sl_log_auxfd, to);
        if (to < 0 && fd == log)
            atomic_store(&sl_log_want, 1);
    }
    sl_log_unlock(cs);
}

int sl_log_own_in_way(long min)
{
    int fds[SL_LOG_OWN_FDS], best = -1;
    sl_log_own_load(fds);
    for (int i = 0; i < SL_LOG_OWN_FDS; i++)
        if (fds[i] >= 0 && fds[i] >= min && (best < 0 || fds[i] < best))
            best = fds[i];
    if (best >= 0 && (!sl_ownfd_in_program_range(best) || !sl_log_owns_fd(best)))
        return -1;
    return best;
}

void sl_log_follow_limit(void)
{
    int cs = sl_log_lock();
    int log = atomic_load(&sl_log_fd), dir = atomic_load(&sl_log_dirfd);
    if (log >= 0 && sl_ownfd_in_program_range(log)) {
        log = sl_ownfd_place(log);
        atomic_store(&sl_log_fd, log);
        if (log < 0)
            atomic_store(&sl_log_want, 1);
    }
    if (dir >= 0 && sl_ownfd_in_program_range(dir))
        atomic_store(&sl_log_dirfd, sl_ownfd_place(dir));
    int aux = atomic_load(&sl_log_auxfd);
    if (aux >= 0 && sl_ownfd_in_program_range(aux))
        atomic_store(&sl_log_auxfd, sl_ownfd_place(aux));
    sl_log_unlock(cs);
}

#ifdef SL_TESTING
void sl_log_forget_fd(void)
{
    int g = sl_guard_enter();
    int cs = sl_log_lock();
    atomic_store(&sl_log_fd, -1);
    sl_log_unlock(cs);
    sl_guard_leave(g);
}
#endif

/* A fork copies the fd table up to the highest open number, and ours sit
 * at the top of the program's range: each fork would copy, and its child
 * free, a table of RLIMIT_NOFILE entries (6 to 7 ns each here: about 0.1 ms
 * at 20,000, whole milliseconds at the 1,048,576 of a container). For a
 * fork from the process's one thread, ours wait at the lowest free numbers
 * from the last prepare handler to the first parent or child handler, with
 * every signal blocked (a handler the library did not see set could run
 * otherwise): nothing of the program's runs meanwhile. Below this number
 * the copy costs less than the 12 system calls of the move.
 *
 * Our variables keep the high numbers throughout, and the state below is
 * stored only where it changes: a parent that forks again and again from
 * the same place writes none of this page in its fork cycle (each page it
 * writes after a fork is a fault and a copy). */
#define SL_LOG_LOWER_MIN 1024
SL_FORKED static int sl_log_lowered;             /* ours are low for this fork */
SL_FORKED static int sl_log_low[SL_LOG_OWN_FDS]; /* their numbers meanwhile, -1 none */
SL_FORKED static uint64_t sl_log_fork_sigmask;   /* the program's (the kernel's 8 bytes) */

/* Every signal blocked, ours copied low and the high numbers closed: 1, or
 * 0 with nothing changed. */
static int sl_log_fork_move(const int high[SL_LOG_OWN_FDS])
{
    uint64_t all = ~0ull, old = 0;
    if (sl_raw_syscall4(SYS_rt_sigprocmask, SIG_SETMASK, (long)&all, (long)&old, 8) != 0)
        return 0;
    SL_SET(sl_log_fork_sigmask, old);
    /* Every copy first, then the closes: a number of ours freed before the
     * next copy would be that copy's lowest free number. */
    long low[SL_LOG_OWN_FDS];
    int ok = 1;
    for (int i = 0; i < SL_LOG_OWN_FDS; i++) {
        low[i] = high[i] < 0 ? -1 : sl_raw_syscall4(SYS_fcntl, high[i], F_DUPFD_CLOEXEC, 0, 0);
        if (high[i] >= 0 && (low[i] < 0 || low[i] > high[i]))
            ok = 0; /* nothing free below: all stay */
    }
    for (int i = 0; i < SL_LOG_OWN_FDS; i++) {
        if (low[i] >= 0)
            sl_raw_syscall4(SYS_close, ok ? high[i] : low[i], 0, 0, 0);
        if (ok)
            SL_SET(sl_log_low[i], (int)low[i]);
    }
    if (!ok)
        sl_raw_syscall4(SYS_rt_sigprocmask, SIG_SETMASK, (long)&old, 0, 8);
    return ok;
}

void sl_log_fork_lower(int may)
{
    int lowered = 0;
    if (may) {
        int high[SL_LOG_OWN_FDS], top = -1;
        sl_log_own_load(high);
        for (int i = 0; i < SL_LOG_OWN_FDS; i++)
            top = high[i] > top ? high[i] : top;
        /* Above the program's soft limit (room made there) they could not
         * be put back, and the table is sized by that limit anyway. */
        if (top >= SL_LOG_LOWER_MIN) {
            int e = errno;
            lowered = sl_ownfd_in_program_range(top) && sl_log_fork_move(high);
            SL_SET(errno, e);
        }
    }
    SL_SET(sl_log_lowered, lowered);
}

/* Ours i, where it is now in this fork's parent or child. */
SL_FORK_TEXT static int sl_log_fork_where(int i)
{
    return sl_log_lowered ? sl_log_low[i] : atomic_load(sl_log_own_var(i));
}

/* Ours back at its number (parent, and the child's directory). */
SL_FORK_TEXT static void sl_log_fork_raise(int i)
{
    _Atomic int *var = sl_log_own_var(i);
    int low = sl_log_low[i], high = atomic_load_explicit(var, memory_order_relaxed);
    if (low < 0)
        return;
    if (sl_raw_syscall4(SYS_dup3, low, high, O_CLOEXEC, 0) == high) {
        sl_raw_syscall4(SYS_close, low, 0, 0, 0);
        return;
    }
    int e = errno;
    atomic_store_explicit(var, sl_ownfd_place(low), memory_order_relaxed);
    errno = e;
}

SL_FORK_TEXT static void sl_log_fork_unmask(void)
{
    sl_raw_syscall4(SYS_rt_sigprocmask, SIG_SETMASK, (long)&sl_log_fork_sigmask, 0, 8);
}

void sl_log_fork_parent(void)
{
    if (!sl_log_lowered)
        return;
    for (int i = 0; i < SL_LOG_OWN_FDS; i++)
        sl_log_fork_raise(i);
    sl_log_fork_unmask();
}

/* The child closes its copies of the log and the netlink socket wherever
 * they are (sl_log_reinit_child); the directory it keeps goes back up. */
SL_FORK_TEXT void sl_log_fork_child(void)
{
    if (sl_log_lowered)
        sl_log_fork_raise(SL_OWN_DIR);
}

SL_FORK_TEXT void sl_log_fork_child_unmask(void)
{
    if (sl_log_lowered)
        sl_log_fork_unmask();
}

SL_FORK_TEXT void sl_log_reinit_child(void)
{
    int fd = sl_log_fork_where(SL_OWN_LOG);
    if (fd >= 0)
        sl_raw_syscall4(SYS_close, fd, 0, 0, 0);
    atomic_store(&sl_log_fd, -1);
    /* A netlink socket shared with the parent would mix both one's replies. */
    fd = sl_log_fork_where(SL_OWN_AUX);
    if (fd >= 0)
        sl_raw_syscall4(SYS_close, fd, 0, 0, 0);
    atomic_store(&sl_log_auxfd, -1);
    sl_log_counted_sockets = 0;
    sl_log_counted_eof = 0;
    sl_log_created = 0;
    sl_log_unnamed = 0;
    sl_log_path_set = 0;
    sl_log_next_id = 0;
    sl_log_findings = 0;
    atomic_store(&sl_count_sockets, 0);
    atomic_store(&sl_count_eof, 0);
}
