/* What the hooks do: the bookkeeping behind every exported wrapper
 * (track*.c), and what the rest of the library asks of it. */
#ifndef SL_TRACK_H
#define SL_TRACK_H

#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include "hooklist.h"
#include "locks.h"
#include "sl.h"

/* Each sl_X (every hook of hooklist.h) behaves exactly like the libc
 * function X (same result, same errno) and records what the fd table needs. */
#define SL_HOOK_DECL(ret, name, params, args, opt) ret sl_##name params SL_HIDDEN;
SL_HOOKS_EXPORTED(SL_HOOK_DECL)
#undef SL_HOOK_DECL

/* End every slot in [first, last] (fds about to be closed); nothing in a
 * vfork child. Cost bounded by the table's mapped chunks. */
void sl_track_close_range(unsigned int first, unsigned int last) SL_HIDDEN;
/* Double closes this thread found and has not written yet are written
 * (exit). */
void sl_track_dclose_flush(void) SL_HIDDEN;
void sl_track_dclose_fork_child(void) SL_HIDDEN;
/* arg: the variadic argument read as a pointer-sized value; use64: fcntl64. */
int sl_fcntl(int fd, int cmd, void *arg, int use64) SL_HIDDEN;
/* arg: the variadic argument read as a pointer-sized value (FIONBIO is noted). */
int sl_ioctl(int fd, unsigned long req, void *arg) SL_HIDDEN;
/* caller: the return address in the code that called pipe2 (libunwind's
 * validation pipe is emulated, see ownfd.h). */
int sl_pipe2(int fds[2], int flags, const void *caller) SL_HIDDEN;
/* caller: as for pipe2; libunwind's masking during our own captures is
 * skipped (stack.h, sl_stack_unmasked). */
int sl_sigprocmask(int how, const sigset_t *set, sigset_t *old, const void *caller) SL_HIDDEN;
/* Called from syscall.S: syscall(SYS_close, fd), and any syscall() reached
 * before the real one is bound (a0..a5 as the caller passed them). */
long sl_syscall_close(long nr, long fd) SL_HIDDEN;
long sl_syscall_slow(long nr, long a0, long a1, long a2, long a3, long a4, long a5) SL_HIDDEN;

/* clone(): after it, vfork children are told by their pid. */
int sl_clone(int (*fn)(void *), void *stack, int flags, void *arg, void *ptid, void *tls,
             void *ctid) SL_HIDDEN;
/* Set on this thread by vfork() until the parent resumes (vfork.S); set for
 * good once the program made a process by clone() or syscall(). */
extern __thread int sl_vfork_child __attribute__((tls_model("initial-exec"))) SL_HIDDEN;
extern int sl_raw_clones SL_HIDDEN;

/* Blocking (track_wait.c, track_block.c), for a single-threaded process
 * with work pending: fd, a blocking socket, is about to be connected, or
 * read end-of-stream (its reads and sends are watched from now on:
 * sl_block_watch); fd is about to be accepted from with flags (capped
 * when it would wait); fd's O_NONBLOCK was set through fcntl or ioctl. */
void sl_track_before_block(int fd) SL_HIDDEN;
void sl_track_before_accept(int fd, int flags) SL_HIDDEN;
void sl_track_note_nonblock(int fd, int nonblock) SL_HIDDEN;
/* 1 when fd is a stream socket in blocking mode (noted in its slot). */
int sl_track_fd_blocking(int fd) SL_HIDDEN;
/* fd, a blocking socket, would wait for events: wait for them, capped at
 * the next due time, the due work done between; timeo, the socket option
 * of the call's own timeout (a socket with one makes the thread); accept:
 * the call is an accept (on a socket that does not listen it fails at
 * once). */
void sl_track_block_wait(int fd, short events, int timeo, int accept) SL_HIDDEN;
/* From now on the reads and sends of blocking stream sockets are capped
 * (a process with another thread: the library's thread instead). */
void sl_block_watch(void) SL_HIDDEN;
/* At start-up: the watchers' shared state, told to helgrind. */
void sl_block_init(void) SL_HIDDEN;
/* 1 once sl_block_watch swapped the watchers in. */
int sl_block_watching(void) SL_HIDDEN;
/* libc's functions back in place of the watchers: the process caps no more
 * calls (a thread made, the library's or the program's, or an
 * SO_RCVLOWAT), and a noted socket's read must be libc's again. */
void sl_block_unwatch(void) SL_HIDDEN;

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
