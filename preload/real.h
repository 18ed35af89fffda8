/* The real libc functions behind our hooks, generated from one list and bound
 * once with dlsym(RTLD_NEXT) (sl_real_init, from the constructor and lazily
 * from any hook reached first). Our own code calls these, never the hooked
 * names, so it never re-enters a hook. */
#ifndef SL_REAL_H
#define SL_REAL_H

#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include "sl.h"

/* X(return type, name, parameter list) */
#define SL_REAL_FUNCS(X)                                                        \
    X(int, socket, (int, int, int))                                             \
    X(int, socketpair, (int, int, int, int *))                                  \
    X(int, accept, (int, struct sockaddr *, socklen_t *))                       \
    X(int, accept4, (int, struct sockaddr *, socklen_t *, int))                 \
    X(int, connect, (int, const struct sockaddr *, socklen_t))                  \
    X(ssize_t, recv, (int, void *, size_t, int))                                \
    X(ssize_t, recvfrom, (int, void *, size_t, int, struct sockaddr *, socklen_t *)) \
    X(ssize_t, recvmsg, (int, struct msghdr *, int))                            \
    X(int, recvmmsg, (int, struct mmsghdr *, unsigned int, int, struct timespec *)) \
    X(ssize_t, read, (int, void *, size_t))                                     \
    X(ssize_t, readv, (int, const struct iovec *, int))                         \
    X(ssize_t, __recv_chk, (int, void *, size_t, size_t, int))                  \
    X(ssize_t, __recvfrom_chk, (int, void *, size_t, size_t, int, struct sockaddr *, socklen_t *)) \
    X(ssize_t, __read_chk, (int, void *, size_t, size_t))                       \
    X(ssize_t, send, (int, const void *, size_t, int))                          \
    X(ssize_t, sendto, (int, const void *, size_t, int, const struct sockaddr *, socklen_t)) \
    X(ssize_t, sendmsg, (int, const struct msghdr *, int))                      \
    X(ssize_t, write, (int, const void *, size_t))                              \
    X(ssize_t, writev, (int, const struct iovec *, int))                        \
    X(int, shutdown, (int, int))                                                \
    X(int, close, (int))                                                        \
    X(int, close_range, (unsigned int, unsigned int, int))                      \
    X(void, closefrom, (int))                                                   \
    X(int, dup, (int))                                                          \
    X(int, dup2, (int, int))                                                    \
    X(int, dup3, (int, int, int))                                               \
    X(int, fcntl, (int, int, ...))                                              \
    X(int, fcntl64, (int, int, ...))                                            \
    X(int, fclose, (FILE *))                                                    \
    X(int, pipe2, (int *, int))                                                 \
    X(int, setuid, (uid_t))                                                     \
    X(int, seteuid, (uid_t))                                                    \
    X(int, setreuid, (uid_t, uid_t))                                            \
    X(int, setresuid, (uid_t, uid_t, uid_t))                                    \
    X(int, setgid, (gid_t))                                                     \
    X(int, setegid, (gid_t))                                                    \
    X(int, setregid, (gid_t, gid_t))                                            \
    X(int, setresgid, (gid_t, gid_t, gid_t))                                    \
    X(int, chroot, (const char *))                                              \
    X(int, setrlimit, (__rlimit_resource_t, const struct rlimit *))             \
    X(pid_t, fork, (void))                                                      \
    X(ssize_t, sendfile, (int, int, off_t *, size_t))                           \
    X(ssize_t, splice, (int, loff_t *, int, loff_t *, size_t, unsigned int))    \
    X(int, prlimit64, (pid_t, __rlimit_resource_t, const struct rlimit64 *, struct rlimit64 *)) \
    X(long, syscall, (long, ...))

struct sl_real_table {
#define SL_REAL_FIELD(ret, name, params) ret (*name) params;
    SL_REAL_FUNCS(SL_REAL_FIELD)
#undef SL_REAL_FIELD
};

extern struct sl_real_table sl_real SL_HIDDEN;

/* Bind every entry (pthread_once). A missing required symbol, or dlsym
 * handing back our own hook, is one clear fatal message. Start-up binds
 * nothing: a hook binds its own function when first called
 * (sl_real_bind_one), and the library's own work (a socket to follow, an
 * end-of-stream) binds them all first, since it calls many. */
void sl_real_init(void) SL_HIDDEN;
/* Bind *fn, the entry for name, unless bound already (NULL when an optional
 * symbol is missing). */
void sl_real_bind_one(void **fn, const char *name) SL_HIDDEN;

#endif
