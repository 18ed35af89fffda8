/* What the hooks do: the bookkeeping behind every exported wrapper (track.c),
 * and the fatal-error helper every preload source uses. */
#ifndef SL_TRACK_H
#define SL_TRACK_H

#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include "locks.h"
#include "sl.h"

/* Print "sockleak: fatal: ..." on fd 2 without libc's hooked functions, abort. */
void sl_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn)) SL_HIDDEN;

/* Each sl_X behaves exactly like the libc function X (same result, same
 * errno) and records what the fd table needs. */
int sl_socket(int domain, int type, int proto) SL_HIDDEN;
int sl_socketpair(int domain, int type, int proto, int sv[2]) SL_HIDDEN;
int sl_accept(int fd, struct sockaddr *sa, socklen_t *len) SL_HIDDEN;
int sl_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags) SL_HIDDEN;
int sl_connect(int fd, const struct sockaddr *sa, socklen_t len) SL_HIDDEN;

ssize_t sl_recv(int fd, void *buf, size_t n, int flags) SL_HIDDEN;
ssize_t sl_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *sa,
                    socklen_t *len) SL_HIDDEN;
ssize_t sl_recvmsg(int fd, struct msghdr *msg, int flags) SL_HIDDEN;
int sl_recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags,
                struct timespec *tmo) SL_HIDDEN;
ssize_t sl_read(int fd, void *buf, size_t n) SL_HIDDEN;
ssize_t sl_readv(int fd, const struct iovec *iov, int cnt) SL_HIDDEN;
ssize_t sl_recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags) SL_HIDDEN;
ssize_t sl_recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags, struct sockaddr *sa,
                        socklen_t *len) SL_HIDDEN;
ssize_t sl_read_chk(int fd, void *buf, size_t n, size_t buflen) SL_HIDDEN;

ssize_t sl_send(int fd, const void *buf, size_t n, int flags) SL_HIDDEN;
ssize_t sl_sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *sa,
                  socklen_t len) SL_HIDDEN;
ssize_t sl_sendmsg(int fd, const struct msghdr *msg, int flags) SL_HIDDEN;
ssize_t sl_write(int fd, const void *buf, size_t n) SL_HIDDEN;
ssize_t sl_writev(int fd, const struct iovec *iov, int cnt) SL_HIDDEN;

int sl_shutdown(int fd, int how) SL_HIDDEN;
int sl_close(int fd) SL_HIDDEN;
int sl_close_range(unsigned int first, unsigned int last, int flags) SL_HIDDEN;
void sl_closefrom(int lowfd) SL_HIDDEN;
/* End every slot in [first, last] (fds about to be closed); nothing in a
 * vfork child. Cost bounded by the table's mapped chunks. */
void sl_track_close_range(unsigned int first, unsigned int last) SL_HIDDEN;
int sl_dup(int fd) SL_HIDDEN;
int sl_dup2(int fd, int fd2) SL_HIDDEN;
int sl_dup3(int fd, int fd2, int flags) SL_HIDDEN;
/* arg: the variadic argument read as a pointer-sized value; use64: fcntl64. */
int sl_fcntl(int fd, int cmd, void *arg, int use64) SL_HIDDEN;
int sl_fclose(FILE *fp) SL_HIDDEN;
/* caller: the return address in the code that called pipe2 (libunwind's
 * validation pipe is emulated, see ownfd.h). */
int sl_pipe2(int fds[2], int flags, const void *caller) SL_HIDDEN;
/* Limit changes: our own fds follow the new RLIMIT_NOFILE (see ownfd.h). */
int sl_setrlimit(__rlimit_resource_t res, const struct rlimit *rl) SL_HIDDEN;
int sl_prlimit(pid_t pid, __rlimit_resource_t res, const struct rlimit64 *rl,
               struct rlimit64 *old) SL_HIDDEN;
/* Identity changes: the output directory is pinned first (see log.h). */
int sl_setuid(uid_t u) SL_HIDDEN;
int sl_seteuid(uid_t u) SL_HIDDEN;
int sl_setreuid(uid_t r, uid_t e) SL_HIDDEN;
int sl_setresuid(uid_t r, uid_t e, uid_t s) SL_HIDDEN;
int sl_setgid(gid_t g) SL_HIDDEN;
int sl_setegid(gid_t g) SL_HIDDEN;
int sl_setregid(gid_t r, gid_t e) SL_HIDDEN;
int sl_setresgid(gid_t r, gid_t e, gid_t s) SL_HIDDEN;
int sl_chroot(const char *path) SL_HIDDEN;

/* Called from syscall.S: syscall(SYS_close, fd), and any syscall() reached
 * before the real one is bound (a0..a5 as the caller passed them). */
long sl_syscall_close(long nr, long fd) SL_HIDDEN;
long sl_syscall_slow(long nr, long a0, long a1, long a2, long a3, long a4, long a5) SL_HIDDEN;

/* fork: where it was called is the fork_stack of the child's inherited
 * copies (close_wait_inherited); the child sweeps its own. */
pid_t sl_fork(void) SL_HIDDEN;
/* sendfile onto a socket is a send; splice is a read of fd_in and a send
 * to fd_out. */
ssize_t sl_sendfile(int out, int in, off_t *off, size_t n) SL_HIDDEN;
ssize_t sl_splice(int in, loff_t *in_off, int out, loff_t *out_off, size_t n,
                  unsigned int flags) SL_HIDDEN;

/* clone(): after it, vfork children are told by their pid. */
int sl_clone(int (*fn)(void *), void *stack, int flags, void *arg, void *ptid, void *tls,
             void *ctid) SL_HIDDEN;
/* Set on this thread by vfork() until the parent resumes (vfork.S); set for
 * good once the program made a process by clone() or syscall(). */
extern __thread int sl_vfork_child __attribute__((tls_model("initial-exec"))) SL_HIDDEN;
extern int sl_raw_clones SL_HIDDEN;

/* Slow path of a read that returned 0 for a non-zero length on fd. */
void sl_on_eof(int fd) SL_HIDDEN;

/* fd's open_stack and slot generation, when fd is a tracked stream socket
 * (its inode checked again): 1, else 0. Re-entry guard set, no lock held. */
int sl_track_open_stack(int fd, uint32_t *stack, uint32_t *gen) SL_HIDDEN;
/* Replace fd's open_stack, if the slot still holds generation gen. */
void sl_track_set_open_stack(int fd, uint32_t gen, uint32_t stack) SL_HIDDEN;

/* fork child: EOF states become SL_F_INHERITED (the parent reports them),
 * SL_F_REPORTED is cleared. Stripes must be usable (reinitialised) already. */
void sl_track_fork_child(void) SL_HIDDEN;

/* The real syscall(), kept where syscall.S can load it (NULL until bound). */
extern long (*sl_real_syscall)(long, ...) SL_HIDDEN;

#endif
