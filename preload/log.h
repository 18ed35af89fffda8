/* The per-process raw log (format: format/sockleak_log.h). Created on the
 * program's thread at its first end-of-stream (sl_log_reserve), or before a
 * root process changes identity; written with one real write(2) per record
 * on a high, O_APPEND|O_CLOEXEC fd, re-checked by inode before each write.
 * Created exclusively (O_EXCL|O_NOFOLLOW), mode 0600, under the first free
 * name <program>.<pid>[.<n>].jsonl: never written through a link or into a
 * file this process did not create. */
#ifndef SL_LOG_H
#define SL_LOG_H

#include <stdint.h>
#include <sys/types.h>
#include "sl.h"

/* A (connect call site, destination) an EADDRNOTAVAIL finding names. */
#define SL_LOG_TOP_SITES 4
struct sl_log_site {
    uint32_t stack;
    char destination[64];
    int64_t connections, time_wait;
};

/* A creation site holding sockets when an fd could not be made
 * (fd_exhaustion): its sockets by TCP state (tcpi_state, 0 not TCP). */
#define SL_LOG_HOLDERS 8
#define SL_LOG_TCP_STATES 12
struct sl_log_holder {
    uint32_t stack;
    int64_t count, oldest_ms; /* oldest_ms -1: no socket's age is known */
    int64_t states[SL_LOG_TCP_STATES];
};

struct sl_finding {
    const char *kind;          /* SL_KIND_* */
    int fd;
    uint32_t id;               /* filled in by sl_log_finding */
    const char *family;        /* "inet", "inet6", "unix", "other" */
    char local[128], peer[128];
    uint64_t inode;
    const char *tcp_state;     /* NULL: unknown */
    int64_t eof_unix_ms;
    int64_t held_ms;
    uint32_t eof_stack, open_stack; /* depot ids, 0 none */
    /* The kernel-swept kinds (format/sockleak_log.h); 0 when absent. */
    uint32_t last_read_stack, fork_stack, listen_stack;
    /* double_close: the failing close and the earlier one. */
    uint32_t close_stack, first_close_stack;
    int has_queue;                 /* idle_ms and unread_bytes are known */
    int64_t idle_ms, unread_bytes;
    int from_pid;                  /* 0: not inherited */
    int64_t sockets;               /* 0: one */
    int has_backlog;               /* backlog and queued are known */
    int64_t backlog, queued;
    int at_exit;
    /* time_wait_churn (churn.c): written when churn is set. */
    int churn, exhausted;
    char destination[64];
    int64_t connections, rate_x10, time_wait_peak; /* rate in tenths a second */
    int port_lo, port_hi;
    int n_top;
    struct sl_log_site top[SL_LOG_TOP_SITES];
    /* fd_exhaustion (fdexh.c): written when fdexh is set. */
    int fdexh;
    uint32_t fail_stack;
    const char *call, *err_name; /* the failing function, "EMFILE"/"ENFILE" */
    int64_t limit, open_fds;     /* open_fds -1: not counted */
    int n_holders;
    struct sl_log_holder holders[SL_LOG_HOLDERS];
};

/* Write a finding (and any module records its stacks need first). Returns 0,
 * or -1 when the log cannot be written (warned once). Assigns f->id. */
int sl_log_finding(struct sl_finding *f) SL_HIDDEN;
void sl_log_closed(uint32_t id, int fd, int64_t held_ms) SL_HIDDEN;
/* A time_wait_churn finding's counts as they are now (an "update"). */
void sl_log_update(uint32_t id, int64_t connections, int64_t rate_x10,
                   int64_t time_wait_peak) SL_HIDDEN;
struct sl_census_site;
/* An "open" record: the census's n sites (census.h), the TCP sockets
 * counted in all and the RLIMIT_NOFILE soft limit (-1 unlimited). 0, or
 * -1 when not written (no file yet, or it failed). */
int sl_log_census(const struct sl_census_site *sites, int n, int64_t sockets,
                  int64_t fd_limit) SL_HIDDEN;
/* A small file read whole into buf (at most size bytes): its length, or -1. */
ssize_t sl_read_file(const char *path, char *buf, size_t size) SL_HIDDEN;
/* At exit: footer with the counters below, only if the log was created. */
void sl_log_footer(void) SL_HIDDEN;
/* A counts record, when the counts changed since the last one and the
 * process has a named file: a log cut short (a kill) still has a lower
 * bound. From the deadline thread, after each sweep. */
void sl_log_counts(void) SL_HIDDEN;
/* Is fd our own log fd or pinned output directory? (close/dup2 hooks
 * protect them.) */
int sl_log_owns_fd(int fd) SL_HIDDEN;
/* The same from our own records alone, without a system call: may be
 * wrong when the program closed ours behind our back. */
int sl_log_holds(int fd) SL_HIDDEN;
/* Is the log open? When not, ask for it to be made at the next chance on
 * the program's thread (deadline thread: keep the finding for later). */
int sl_log_writable(void) SL_HIDDEN;
/* A fork child on its forking thread: its log made now but without a name
 * (O_TMPFILE), linked into the output directory at its first finding or
 * its footer; a child that execs or _exits with nothing to say leaves no
 * file. */
void sl_log_reserve_unnamed(void) SL_HIDDEN;
/* The calling thread is the program's (exit handler): the log may be made
 * on demand while on. */
void sl_log_allow_create(int on) SL_HIDDEN;
/* Our own fds that still hold our objects, in ascending order: 0 to 2 of
 * them. close_range and closefrom leave them out of the range they close. */
#define SL_LOG_OWN_FDS 3
int sl_log_own_fds(int out[SL_LOG_OWN_FDS]) SL_HIDDEN;
/* Keep fd (the sweep's netlink socket) as one of our own: moved out of the
 * program's way and protected like the log. Returns its number, or -1
 * (closed). A previous one is closed. Program thread, guard set. */
int sl_log_adopt_fd(int fd) SL_HIDDEN;
/* That fd, or -1. */
int sl_log_aux_fd(void) SL_HIDDEN;
/* Hold the output directory open (when it exists), so the log can still be
 * created in it after the program drops privileges or chroots. */
void sl_log_pin_dir(void) SL_HIDDEN;
/* On the program's thread, guard set, before setuid, setgid (and kin) or
 * chroot: a root process makes its log now, while it may still create it
 * in a directory its new identity cannot write (a worker dropping to
 * nobody in a root-owned, private output directory); then the directory is
 * pinned. A fork child still gets a file of its own (sl_log_reinit_child). */
void sl_log_before_identity_change(void) SL_HIDDEN;
#ifdef SL_TESTING
/* Unit tests: as if the program had dup2'd over or closed our fd behind our
 * back (reopened on next use). */
void sl_log_forget_fd(void) SL_HIDDEN;
#endif

/* fork child: drop the parent's log fd and counters; the child's own file is
 * created lazily under its own pid. */
void sl_log_reinit_child(void) SL_HIDDEN;

/* A fork from the process's one thread: our fds wait at the lowest free
 * numbers, every signal blocked, so the fork copies a small fd table
 * (lower: last prepare handler; parent: first parent handler, back at
 * their numbers; child: the directory back up, then, last, the mask). */
void sl_log_fork_lower(int may) SL_HIDDEN; /* may: a one-thread fork, our handlers first */
void sl_log_fork_parent(void) SL_HIDDEN;
void sl_log_fork_child(void) SL_HIDDEN;
void sl_log_fork_child_unmask(void) SL_HIDDEN;

/* On the program's thread, from a hook (first end-of-stream): make sure
 * the log's fd exists, so the reaper thread only ever writes. The reaper
 * never creates an fd: one made there takes the lowest free number, which
 * the program may be about to be handed. */
void sl_log_reserve(void) SL_HIDDEN;
/* The program is about to be handed fd, which is ours: ours moves away. */
void sl_log_evict(int fd) SL_HIDDEN;
/* Our fd with the lowest number >= min that is below the fd limit (in the
 * program's range), or -1. */
int sl_log_own_in_way(long min) SL_HIDDEN;
/* After a change of RLIMIT_NOFILE: our fds leave the program's new range. */
void sl_log_follow_limit(void) SL_HIDDEN;

/* From our constructor, before main can rewrite argv (setproctitle): the
 * log's file name and header use this copy. */
void sl_log_snapshot_args(int argc, char **argv) SL_HIDDEN;

/* The program's short name as the log names it (only [A-Za-z0-9.+_-]). */
void sl_log_program(char *out, size_t size) SL_HIDDEN;

/* Counters for the footer (relaxed atomics). */
/* Module and language frame records are written once per log file: each
 * remembers the epoch it was written in, and a new file (a fork child's, or
 * one replacing a vanished file) is a new epoch, one store, no page of the
 * module map written (in a fork child each would be copied). */
extern uint32_t sl_log_epoch SL_HIDDEN;
#define SL_LOGGED(x) ((x)->logged == sl_log_epoch)

extern _Atomic uint64_t sl_count_sockets SL_HIDDEN;
extern _Atomic uint64_t sl_count_eof SL_HIDDEN;

#endif
