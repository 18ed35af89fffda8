/* time_wait_churn: connect call sites whose connections leave more
 * TIME_WAIT sockets to one destination than a share of the ephemeral port
 * range (churn_share) can bear, and connects failing with EADDRNOTAVAIL.
 *
 * The connection cycle pays no system call for it, and its close nothing
 * at all: a connect looks its (call site, destination) up in a fixed table
 * (a hash and a compare; an insert the first time) and adds one to the
 * entry's counter. The due work (the sweep: the deadline thread, or a
 * single-threaded program's waits) and the exit fold the counters into a
 * 60-second window per entry (Linux's TIME_WAIT period) and, when one
 * passes the share of the port range, ask the kernel once (a sock_diag
 * dump of TIME_WAIT sockets) how many sockets to that destination are in
 * TIME_WAIT. Only the kernel's count makes a finding: connections the peer
 * closed first (their TIME_WAIT is on the peer's side), reset ones and
 * pooled ones leave none here. */
#ifndef SL_CHURN_H
#define SL_CHURN_H

#include <stdatomic.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "hg.h"
#include "sl.h"

/* (call site, destination) pairs followed per process. */
#define SL_CHURN_SITES 256
/* Seconds a TIME_WAIT socket lives on Linux (TCP_TIMEWAIT_LEN). */
#define SL_CHURN_WINDOW 60

/* Connections per entry, added to by connect (relaxed): the one store the
 * connection cycle makes for this. */
extern _Atomic uint64_t sl_churn_conns[SL_CHURN_SITES] SL_HIDDEN;

enum { SL_CHURN_FREE, SL_CHURN_FILLING, SL_CHURN_READY };

/* An entry's key: written once, by the connect that adds it, before its
 * state turns READY (release). */
struct sl_churn_key {
    _Atomic uint32_t state;
    uint32_t stack;   /* the connect's stack (depot id) */
    uint32_t famport; /* family | port << 16, the port in network order as connect had it */
    uint32_t addr[4]; /* an IPv4 address in addr[0], the rest 0 */
    uint32_t spare;   /* 32 bytes: an index is a shift */
};
#define SL_CHURN_FAMPORT(family, port) ((uint32_t)(family) | (uint32_t)(port) << 16)
extern struct sl_churn_key sl_churn_keys[SL_CHURN_SITES] SL_HIDDEN;

/* The entry a key is looked for first: the top bits of a multiplicative
 * hash. */
static inline uint32_t sl_churn_hash(uint32_t stack, uint32_t port, const uint32_t a[4])
{
    return ((stack ^ a[0] ^ a[1] ^ a[2] ^ a[3] ^ (port << 16)) * 0x9e3779b1u) >> 24;
}
_Static_assert(SL_CHURN_SITES == 256, "sl_churn_hash gives 8 bits");

/* The entry of (call site stack (depot id), sa): its number, added when
 * new; -1 (not inet, the table full, or another thread adding this very
 * entry at this instant). */
int sl_churn_entry(uint32_t stack, const struct sockaddr *sa, socklen_t len) SL_HIDDEN;

/* A TCP connect (succeeded or under way) from call site stack to sa: one
 * more connection for its entry. No system call, no lock; the usual case
 * (IPv4, an entry seen before) is a hash, a compare and an add. sa is
 * what the kernel just accepted: not NULL, and as long as its family's. */
static inline void sl_churn_connected(uint32_t stack, const struct sockaddr *sa, socklen_t len)
{
    if (SL_LIKELY(sa->sa_family == AF_INET)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        uint32_t addr = in->sin_addr.s_addr, port = in->sin_port;
        uint32_t k = ((stack ^ addr ^ (port << 16)) * 0x9e3779b1u) >> 24; /* sl_churn_hash */
        const struct sl_churn_key *e = &sl_churn_keys[k];
        if (SL_LIKELY(atomic_load_explicit(&e->state, memory_order_acquire) == SL_CHURN_READY)) {
            SL_HG_HAPPENS_AFTER(e);
            if (SL_LIKELY(e->stack == stack && e->addr[0] == addr &&
                          e->famport == SL_CHURN_FAMPORT(AF_INET, port))) {
                atomic_fetch_add_explicit(&sl_churn_conns[k], 1, memory_order_relaxed);
                return;
            }
        }
    }
    int k = sl_churn_entry(stack, sa, len);
    if (k >= 0)
        atomic_fetch_add_explicit(&sl_churn_conns[k], 1, memory_order_relaxed);
}

/* The ephemeral port range (net.ipv4.ip_local_port_range), read once, on
 * the program's thread inside a hook (it opens a file): at the first TCP
 * socket, or at an EADDRNOTAVAIL. */
void sl_churn_read_range(void) SL_HIDDEN;

/* From the sweep (guard set), after its own dumps: fold the counters into
 * the windows and, when an entry passes the threshold, count TIME_WAIT
 * sockets through nl (one dump per family) and write or update findings.
 * nl < 0: no dump. program: on the program's thread in a wait, where the
 * log may be made; else findings wait for a log that exists. */
void sl_churn_check(int nl, int program) SL_HIDDEN;

/* At exit, on the program's thread (guard set): the same check (with a
 * netlink socket of its own when a dump is needed), then the final
 * connections and peak of each finding. */
void sl_churn_exit(void) SL_HIDDEN;

/* connect from stack to sa failed with EADDRNOTAVAIL (guard set, the
 * program's thread): a finding, once per call site and destination, with
 * the kernel's count and the entries that hold the most ports. */
void sl_churn_exhausted(uint32_t stack, const struct sockaddr *sa, socklen_t len) SL_HIDDEN;

/* At start-up, before other threads: tells helgrind (SL_VALGRIND builds)
 * which words are only ever touched atomically; otherwise nothing. */
void sl_churn_init(void) SL_HIDDEN;

/* fork child: the check's state is free again; findings are the parent's. */
void sl_churn_reinit_child(void) SL_HIDDEN;

#endif
