/* The per-process raw log (format: include/sockleak_log.h). Created lazily on
 * the first record; written with one real write(2) per record on a high,
 * O_APPEND|O_CLOEXEC fd, re-checked by inode before each write. */
#ifndef SL_LOG_H
#define SL_LOG_H

#include <stdint.h>
#include "sl.h"

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
};

/* Write a finding (and any module records its stacks need first). Returns 0,
 * or -1 when the log cannot be written (warned once). Assigns f->id. */
int sl_log_finding(struct sl_finding *f) SL_HIDDEN;
void sl_log_closed(uint32_t id, int fd, int64_t held_ms) SL_HIDDEN;
/* At exit: footer with the counters below, only if the log was created. */
void sl_log_footer(void) SL_HIDDEN;
/* Is fd our own log fd? (close/dup2 hooks protect it.) */
int sl_log_owns_fd(int fd) SL_HIDDEN;
/* Our log fd, when it still holds our file; -1 otherwise. close_range and
 * closefrom leave it out of the range they close. */
int sl_log_current_fd(void) SL_HIDDEN;
/* The program dup2'd over or closed our fd behind our back: reopen on next use. */
void sl_log_forget_fd(void) SL_HIDDEN;

void sl_log_lock_all(void) SL_HIDDEN;
void sl_log_unlock_all(void) SL_HIDDEN;
/* fork child: drop the parent's log fd and counters; the child's own file is
 * created lazily under its own pid. */
void sl_log_reinit_child(void) SL_HIDDEN;

/* Counters for the footer (relaxed atomics). */
extern _Atomic uint64_t sl_count_sockets SL_HIDDEN;
extern _Atomic uint64_t sl_count_eof SL_HIDDEN;

#endif
