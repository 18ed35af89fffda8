/* The kernel sweep: which of this process's TCP sockets sit in CLOSE_WAIT,
 * whether or not a read ever saw their end-of-stream (one NETLINK_SOCK_DIAG
 * dump per family, matched to the fd table by inode). It finds the sockets
 * whose FIN nobody read (idle pooled connections, unread responses), copies
 * inherited through fork, and connections left in a listener's accept
 * queue. */
#ifndef SL_SWEEP_H
#define SL_SWEEP_H

#include <stdint.h>
#include <sys/types.h>
#include "sl.h"

/* A TCP socket is tracked, on the program's thread inside a hook, guard
 * set: the first time, make the netlink socket (one of our own fds), the
 * log, and start the deadline thread, which then sweeps. */
void sl_sweep_arm(void) SL_HIDDEN;
/* An AF_INET6 TCP socket is tracked: sweeps dump that family too (each
 * family's dump walks the kernel's whole TCP table). */
void sl_sweep_note_inet6(void) SL_HIDDEN;
/* Has this process armed the sweep? */
int sl_sweep_armed(void) SL_HIDDEN;

/* Time of the next sweep (CLOCK_MONOTONIC ns), 0 when not armed. */
int64_t sl_sweep_due(void) SL_HIDDEN;
enum sl_sweep_mode {
    SL_SWEEP_THREAD,   /* the deadline thread: sockets past the unread deadline */
    SL_SWEEP_PROGRAM,  /* the same, on the program's thread in a wait (may make the log) */
    SL_SWEEP_EXIT_DUE, /* exit handler: the same, with the log made if needed */
    SL_SWEEP_EXIT_ALL  /* exit handler, at_exit=1 or all: every one, whatever the deadline */
};
/* One sweep: findings for sockets in CLOSE_WAIT. The exit modes run on the
 * program's thread with a netlink socket of their own. */
void sl_sweep_run(enum sl_sweep_mode mode) SL_HIDDEN;

/* A NETLINK_SOCK_DIAG socket (close-on-exec, no room made for it), or -1. */
int sl_sweep_socket(void) SL_HIDDEN;
/* One dump of the network namespace's TCP sockets of family in states (a
 * mask of 1 << TCP_*) through nl: fn(arg, peer address (an IPv4 one in
 * raddr[0]), peer port) for each. 0, or -1 (errno). */
int sl_sweep_each_peer(int nl, int family, uint32_t states,
                       void (*fn)(void *arg, const uint32_t raddr[4], uint16_t rport),
                       void *arg) SL_HIDDEN;

/* One dump of the namespace's TCP sockets of family in states, without
 * tcp_info: fn(arg, inode, state) for each. 0, or -1 (errno). */
int sl_sweep_each_state(int nl, int family, uint32_t states,
                        void (*fn)(void *arg, uint64_t inode, uint8_t state), void *arg) SL_HIDDEN;
/* Has an AF_INET6 TCP socket been tracked? */
int sl_sweep_inet6(void) SL_HIDDEN;
struct sl_slot;
struct sl_class;
/* The slot's class and generation, and its inode, taken (fstat) the first
 * time and kept in the slot; 0 when fd holds no socket. Guard set. */
uint64_t sl_sweep_slot_inode(int fd, struct sl_slot *s, struct sl_class *c, uint32_t *gen) SL_HIDDEN;

/* fork: the caller's stack before (0 unless armed), and in the child where
 * the copy came from; the child makes its own netlink socket and thread. */
uint32_t sl_sweep_before_fork(int64_t *now) SL_HIDDEN;
void sl_sweep_after_fork_child(uint32_t fork_stack, pid_t parent, int64_t now) SL_HIDDEN;
/* atfork child handler: forget the parent's sweep state. */
void sl_sweep_reinit_child(void) SL_HIDDEN;
/* A fork child's own netlink socket and unnamed log, made on the program's
 * thread at its first due work or before its thread starts, not at fork. */
void sl_sweep_child_setup(void) SL_HIDDEN;
/* A fork child's socket and log are still to make (sl_sweep_child_setup). */
int sl_sweep_child_pending(void) SL_HIDDEN;

#endif
