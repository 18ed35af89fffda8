/* Per-fd state: a two-level array indexed by fd (chunks mapped on first use).
 * A lookup on an fd we never touched costs one or two loads and no lock.
 * Every field but the atomics is written under the fd's stripe lock. */
#ifndef SL_FDTABLE_H
#define SL_FDTABLE_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include "locks.h"
#include "sl.h"

enum sl_slot_flags {
    SL_F_KNOWN = 1u << 0,    /* the slot describes the object now at this fd */
    SL_F_SOCKET = 1u << 1,   /* it is a socket */
    SL_F_STREAM = 1u << 2,   /* SOCK_STREAM: end-of-stream reads count */
    SL_F_NOTSOCK = 1u << 3,  /* classified: not a socket, or not worth tracking */
    SL_F_EOF = 1u << 4,      /* a read returned end-of-stream; deadline queued */
    SL_F_SHUT_WR = 1u << 5,  /* the program shut down the write side */
    SL_F_SHUT_RD = 1u << 6,  /* the program shut down the read side: 0 is not EOF */
    SL_F_REPORTED = 1u << 7, /* a finding was written; close writes "closed" */
    SL_F_INHERITED = 1u << 8, /* EOF state came from the parent across fork: ignore */
    SL_F_FORKED = 1u << 9,   /* open when this process was forked: an inherited copy
                              * (never stored: sl_slot_flags adds it, from the epoch) */
    SL_F_INET = 1u << 10,     /* AF_INET or AF_INET6 stream: the sweep looks at it */
    SL_F_NBSET = 1u << 11,    /* O_NONBLOCK is known: SL_F_NONBLOCK tells it */
    SL_F_NONBLOCK = 1u << 12  /* the socket is non-blocking (as last set through this fd) */
};
#define SL_NB_BITS (SL_F_NBSET | SL_F_NONBLOCK)

struct sl_slot {
    _Atomic uint32_t flags;
    uint32_t gen;                  /* bumped whenever the fd gets a new object */
    uint64_t inode;                /* st_ino, taken at end-of-stream or by the sweep; 0 not yet */
    uint32_t open_stack;           /* stack depot id, 0 none */
    uint32_t eof_stack;            /* stack depot id, 0 none */
    int64_t eof_ns;                /* CLOCK_MONOTONIC of the first EOF */
    _Atomic int64_t last_send_ns;  /* last successful send after EOF, 0 none */
    int64_t reported_ns;           /* when the finding was written */
    uint32_t finding_id;           /* id of that finding record */
    uint8_t domain;                /* AF_* */
    uint8_t type;                  /* SOCK_STREAM, SOCK_DGRAM, ... */
    uint8_t read_caps;             /* read-site stacks captured (at most SL_READ_CAPS) */
    uint32_t listen_stack;         /* accepted: the listener's open_stack */
    uint32_t read_stack[2];        /* stacks of the last two read sites captured, 0 none */
    uint32_t epoch;                /* sl_fork_epoch when it took its object (SL_F_FORKED) */
    int64_t cw_since_ns;           /* first sweep that saw it in CLOSE_WAIT, 0 none */
    int64_t open_ns;               /* made (CLOCK_MONOTONIC_COARSE), 0 unknown: fd_exhaustion's ages */
    _Atomic uintptr_t read_pc[2];  /* their first frames (the return addresses), 0 none */
};

/* Read-site stacks a socket may capture: each costs an unwind, and only a
 * program that reads one socket from ever new places runs out. */
#define SL_READ_CAPS 8

/* The caller of the last read-type call on each fd (a return address, 0
 * none): the "last read" site of a socket whose end-of-stream was never
 * read. A read compares its caller with the entry and stores only when it
 * differs (sl_read_site: also where a TCP socket's read-site stack is
 * captured, once per site), so a read from the same place as the last one
 * costs a load and a compare, no store. The table covers every fd below
 * the kernel's default nr_open (2^20); only a process allowed more could
 * see two fds share an entry. 8 MB of .bss: a page is touched per 512 fd
 * numbers read from. */
#define SL_LAST_READ_FDS (1u << 20)
extern uintptr_t sl_last_read_pc[SL_LAST_READ_FDS] SL_HIDDEN;
/* The caller of the close that ended each fd's tracked socket, 0 none
 * (track_close.c: double_close). */
extern uintptr_t sl_closed_pc[SL_LAST_READ_FDS] SL_HIDDEN;
#define SL_READ_PC_AT(fd) sl_last_read_pc[(unsigned)(fd) & (SL_LAST_READ_FDS - 1)]
/* The caller of this read differs from the last read's on fd. */
#define SL_READ_SITE_NEW(fd, pc) SL_UNLIKELY(SL_READ_PC_AT(fd) != (pc))

/* Non-zero for an fd whose slot read end-of-stream (set with SL_F_EOF,
 * cleared only when the slot is reset, so never clear while the flag is
 * set): the one check a write or send makes before going straight to libc
 * (a send after end-of-stream moves the deadline). Same span as above; an
 * fd beyond it always takes the exact path. 1 MB of .bss, read-only pages
 * for fds never at end-of-stream. */
extern uint8_t sl_eof_fd[SL_LAST_READ_FDS] SL_HIDDEN;
static inline int sl_fd_maybe_eof(int fd)
{
    return (unsigned)fd >= SL_LAST_READ_FDS || __atomic_load_n(&sl_eof_fd[fd], __ATOMIC_RELAXED);
}
static inline void sl_fd_set_eof(int fd, uint8_t v) /* stripe lock held */
{
    /* Only a change is stored: a page of zeros stays unwritten (no RSS). */
    if ((unsigned)fd < SL_LAST_READ_FDS && __atomic_load_n(&sl_eof_fd[fd], __ATOMIC_RELAXED) != v)
        __atomic_store_n(&sl_eof_fd[fd], v, __ATOMIC_RELAXED);
}

/* What the watchers (track_block.c) found an fd to be, so that its next
 * call looks at no slot: SL_BLK_TRY, a blocking stream socket (a read is
 * tried at once: a hint, never trusted for more than that try, whose result
 * is the blocking read's whatever the fd is now); SL_BLK_PASS, what the slot
 * says is none (no stream socket, or a non-blocking one: the call goes
 * straight to libc); 0, not known. Cleared whenever the slot is reset or
 * its blocking mode noted. Same span as above, an fd beyond it sharing the
 * entry of one below (which only sends it the exact way); 1 MB of .bss,
 * touched only for the fds the watchers see. */
enum { SL_BLK_TRY = 1, SL_BLK_PASS = 2 };
extern uint8_t sl_blk_fd[SL_LAST_READ_FDS] SL_HIDDEN;
#define SL_BLK_AT(fd) sl_blk_fd[(unsigned)(fd) & (SL_LAST_READ_FDS - 1)]
static inline int sl_fd_blk(int fd) /* a plain load: one compare with memory */
{
    return SL_BLK_AT(fd);
}
static inline void sl_fd_set_blk(int fd, uint8_t v)
{
    if (__atomic_load_n(&SL_BLK_AT(fd), __ATOMIC_RELAXED) != v)
        __atomic_store_n(&SL_BLK_AT(fd), v, __ATOMIC_RELAXED);
}

/* Slot for fd, or NULL when none was ever made (fd < 0 or huge: NULL too).
 * Lock-free; the caller must tolerate concurrent updates (read flags first). */
struct sl_slot *sl_fdtable_peek(int fd) SL_HIDDEN;
/* Slot for fd, mapping its chunk when needed; NULL on fd < 0 or no memory. */
struct sl_slot *sl_fdtable_get(int fd) SL_HIDDEN;

/* What an fd is, as far as the table knows. */
#define SL_CLASS_BITS (SL_F_KNOWN | SL_F_SOCKET | SL_F_STREAM | SL_F_NOTSOCK | SL_F_INET)
struct sl_class {
    uint32_t flags; /* SL_CLASS_BITS only, plus state bits when read from a slot */
    uint8_t domain, type;
    uint64_t inode;
    uint32_t open_stack;
    uint32_t listen_stack; /* accepted sockets: the listener's open_stack */
    int64_t open_ns;       /* when it was made, 0 unknown (slot's open_ns) */
};

/* Striped locks by fd (locks.h): never held across a real blocking call or
 * an unwind, taken only with the re-entry guard set. */
#define sl_fdtable_lock(fd) SL_LOCK_STRIPE(fd)
#define sl_fdtable_unlock(fd) SL_UNLOCK_STRIPE(fd)
/* Call fn on every slot that exists (used after fork; stripes not taken). */
void sl_fdtable_foreach(void (*fn)(int fd, struct sl_slot *s, void *arg), void *arg) SL_HIDDEN;
/* Call fn on every slot that exists for an fd in [lo, hi] (inclusive; empty
 * when lo > hi or hi < 0): cost bounded by the chunks ever mapped, never by
 * the width of the range. Stripes not taken. */
void sl_fdtable_foreach_range(int lo, int hi, void (*fn)(int fd, struct sl_slot *s, void *arg),
                              void *arg) SL_HIDDEN;

/* ---------------------------------------------------------------- slots
 * The table owns its slots: every locked read or write of a slot's fields
 * is one of these, each taking fd's stripe lock itself (the caller has set
 * the re-entry guard), never around a blocking call. A slot changed behind
 * a caller's back is told by its generation (gen). Inline: they run on
 * every socket's creation, end-of-stream and close. */
/* What an end-of-stream records (sl_slot_mark_eof). */
struct sl_eof {
    uint64_t inode; /* stored when the slot has none yet */
    uint32_t stack;
    int64_t now_ns;
};

static inline int sl_domain_tracked(int domain)
{
    return domain == AF_INET || domain == AF_INET6 || domain == AF_UNIX;
}

/* TCP: what the kernel sweep looks at. */
static inline uint32_t sl_inet_bit(int domain)
{
    return domain == AF_INET || domain == AF_INET6 ? SL_F_INET : 0;
}

/* The classification of a new socket of this domain and type (flags:
 * tracked stream, SL_F_INET for TCP, or not worth tracking). */
static inline struct sl_class sl_class_for(int domain, int type)
{
    struct sl_class c = {0};
    type &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    c.domain = (uint8_t)domain;
    c.type = (uint8_t)type;
    if (type == SOCK_STREAM && sl_domain_tracked(domain))
        c.flags = SL_F_KNOWN | SL_F_SOCKET | SL_F_STREAM | sl_inet_bit(domain);
    else
        c.flags = SL_F_KNOWN | SL_F_SOCKET | SL_F_NOTSOCK;
    return c;
}

/* Forks this process descends from, since the library was loaded: a fork
 * child adds one (SL_FORKED page). A slot that took its object at a
 * smaller epoch is a copy made by a fork. The child writes nothing into
 * such a slot for that: every page of slots it wrote would be copied. */
extern uint32_t sl_fork_epoch SL_HIDDEN;

/* Set for good once a slot holds something a fork child must change (an
 * end-of-stream, a report, a CLOSE_WAIT start: sl_track_fork_child). Until
 * then a child walks no slot: each page of them it reads is a fault on a
 * machine with paravirtualized page tables. */
extern _Atomic int sl_fork_walk SL_HIDDEN;

static inline void sl_fork_walk_needed(void)
{
    if (!atomic_load_explicit(&sl_fork_walk, memory_order_relaxed))
        atomic_store_explicit(&sl_fork_walk, 1, memory_order_relaxed);
}

/* s's flags, with SL_F_FORKED for a TCP socket open when this process was
 * forked. Stripe lock held (the epoch is written under it). */
static inline uint32_t sl_slot_flags(const struct sl_slot *s)
{
    uint32_t f = atomic_load_explicit(&s->flags, memory_order_relaxed);
    if ((f & (SL_F_INET | SL_F_NOTSOCK)) == SL_F_INET && s->epoch != sl_fork_epoch)
        f |= SL_F_FORKED;
    return f;
}

/* Forget the object that was at this slot (fd's). Stripe lock held. */
static inline void sl_slot_reset(int fd, struct sl_slot *s)
{
    sl_fd_set_eof(fd, 0);
    sl_fd_set_blk(fd, 0);
    s->gen++;
    s->epoch = sl_fork_epoch;
    atomic_store(&s->flags, 0);
    s->inode = 0;
    s->open_stack = 0;
    s->eof_stack = 0;
    s->eof_ns = 0;
    atomic_store(&s->last_send_ns, 0);
    s->reported_ns = 0;
    s->finding_id = 0;
    s->domain = 0;
    s->type = 0;
    s->listen_stack = 0;
    s->cw_since_ns = 0;
    s->open_ns = 0;
    s->read_caps = 0;
    for (int i = 0; i < 2; i++) {
        s->read_stack[i] = 0;
        atomic_store_explicit(&s->read_pc[i], 0, memory_order_relaxed);
    }
}

/* A fresh object at fd (slot s) with classification c; fd's last read is
 * forgotten. */
static inline void sl_slot_install(int fd, struct sl_slot *s, const struct sl_class *c)
{
    sl_fdtable_lock(fd);
    sl_slot_reset(fd, s);
    s->domain = c->domain;
    s->type = c->type;
    s->inode = c->inode;
    s->open_stack = c->open_stack;
    s->listen_stack = c->listen_stack;
    s->open_ns = c->open_ns;
    atomic_store(&s->flags, c->flags & (SL_CLASS_BITS | SL_NB_BITS));
    sl_fdtable_unlock(fd);
    if ((unsigned)fd < SL_LAST_READ_FDS)
        sl_last_read_pc[fd] = 0;
}

/* fd's socket is now blocking or not (a flag set through this fd), when the
 * slot describes a socket. */
static inline void sl_slot_note_nonblock(int fd, struct sl_slot *s, int nonblock)
{
    sl_fdtable_lock(fd);
    uint32_t f = atomic_load(&s->flags);
    if ((f & (SL_F_KNOWN | SL_F_SOCKET)) == (SL_F_KNOWN | SL_F_SOCKET))
        atomic_store(&s->flags,
                     (f & ~(uint32_t)SL_NB_BITS) | SL_F_NBSET | (nonblock ? SL_F_NONBLOCK : 0));
    sl_fdtable_unlock(fd);
    sl_fd_set_blk(fd, 0);
}

/* The object at fd is gone (closed, replaced): the slot is reset. Returns
 * its finding id when one was reported (0 none), and how long it was held
 * since end-of-stream (or CLOSE_WAIT) in *held_ms. */
static inline uint32_t sl_slot_end(int fd, struct sl_slot *s, int64_t *held_ms)
{
    sl_fdtable_lock(fd);
    uint32_t f = atomic_load(&s->flags);
    uint32_t id = (f & SL_F_REPORTED) ? s->finding_id : 0;
    int64_t since = s->eof_ns ? s->eof_ns : s->cw_since_ns;
    *held_ms = id ? (sl_now_ns() - since) / 1000000 : 0;
    sl_slot_reset(fd, s);
    sl_fdtable_unlock(fd);
    return id;
}

/* The fields of s as they are (lock held). */
static inline void sl_slot_read(struct sl_slot *s, struct sl_class *c, uint32_t *gen)
{
    c->flags = sl_slot_flags(s);
    c->domain = s->domain;
    c->type = s->type;
    c->inode = s->inode;
    c->open_stack = s->open_stack;
    c->listen_stack = s->listen_stack;
    c->open_ns = s->open_ns;
    *gen = s->gen;
}

/* The slot's classification and fields, and its generation. */
static inline void sl_slot_snapshot(int fd, struct sl_slot *s, struct sl_class *c, uint32_t *gen)
{
    sl_fdtable_lock(fd);
    sl_slot_read(s, c, gen);
    sl_fdtable_unlock(fd);
}

/* Replace open_stack, if the slot still holds generation gen. */
static inline void sl_slot_set_open_stack(int fd, struct sl_slot *s, uint32_t gen, uint32_t stack)
{
    sl_fdtable_lock(fd);
    if (s->gen == gen)
        s->open_stack = stack;
    sl_fdtable_unlock(fd);
}

/* OR bits into the flags (shutdown: recorded even on an unclassified fd). */
static inline void sl_slot_add_flags(int fd, struct sl_slot *s, uint32_t bits)
{
    sl_fdtable_lock(fd);
    atomic_fetch_or(&s->flags, bits);
    sl_fdtable_unlock(fd);
}

/* End-of-stream on a stream socket still at generation gen and not marked,
 * shut for reading or inherited: 1 when it was marked now. */
static inline int sl_slot_mark_eof(int fd, struct sl_slot *s, uint32_t gen,
                                   const struct sl_eof *eof)
{
    const uint32_t skip = SL_F_NOTSOCK | SL_F_EOF | SL_F_INHERITED | SL_F_SHUT_RD;
    int marked = 0;
    sl_fdtable_lock(fd);
    uint32_t f = atomic_load(&s->flags);
    if (s->gen == gen && (f & SL_F_STREAM) && !(f & skip)) {
        if (!s->inode)
            s->inode = eof->inode;
        s->eof_stack = eof->stack;
        s->eof_ns = eof->now_ns;
        atomic_store(&s->last_send_ns, 0);
        sl_fork_walk_needed();
        atomic_fetch_or(&s->flags, SL_F_EOF);
        sl_fd_set_eof(fd, 1);
        marked = 1;
    }
    sl_fdtable_unlock(fd);
    return marked;
}

/* Is pc the first frame of one of the read-site stacks s captured? Lock-
 * free: a read on a socket alternating between two places asks at every
 * read. */
static inline int sl_slot_read_site_known(struct sl_slot *s, uintptr_t pc)
{
    return atomic_load_explicit(&s->read_pc[0], memory_order_relaxed) == pc ||
           atomic_load_explicit(&s->read_pc[1], memory_order_relaxed) == pc;
}

/* The slot's generation in *gen; 1 when it may still capture a read-site
 * stack. */
static inline int sl_slot_read_room(int fd, struct sl_slot *s, uint32_t *gen)
{
    sl_fdtable_lock(fd);
    *gen = s->gen;
    int room = s->read_caps < SL_READ_CAPS;
    sl_fdtable_unlock(fd);
    return room;
}

/* Record stack (its first frame pc), captured at a read of the socket at
 * generation gen, in place of the older of the two it keeps. */
static inline void sl_slot_add_read_site(int fd, struct sl_slot *s, uint32_t gen, uintptr_t pc,
                                         uint32_t stack)
{
    sl_fdtable_lock(fd);
    if (s->gen == gen && s->read_caps < SL_READ_CAPS) {
        int i = s->read_caps++ & 1;
        s->read_stack[i] = stack;
        atomic_store_explicit(&s->read_pc[i], pc, memory_order_relaxed);
    }
    sl_fdtable_unlock(fd);
}

/* The read-site stack of s whose first frame is pc, 0 none. Stripe lock
 * held. */
static inline uint32_t sl_slot_read_stack(struct sl_slot *s, uintptr_t pc)
{
    for (int i = 0; i < 2; i++)
        if (pc && atomic_load_explicit(&s->read_pc[i], memory_order_relaxed) == pc)
            return s->read_stack[i];
    return 0;
}

int sl_slot_class_slow(int fd, struct sl_slot *s, struct sl_class *c, uint32_t *gen) SL_HIDDEN;

/* Classification of fd (slot s), asking the kernel now when unknown, or
 * when verify is set and its inode changed (closed and reused behind our
 * back: the slot is reset first). On return *c holds the slot's flags and
 * fields as of generation *gen. Returns 1 when this call classified a
 * stream socket (the caller counts it and arms the sweep for TCP). */
static inline int sl_slot_class(int fd, struct sl_slot *s, struct sl_class *c, uint32_t *gen,
                                int verify)
{
    sl_slot_snapshot(fd, s, c, gen);
    if ((c->flags & SL_F_KNOWN) && (!verify || !(c->flags & SL_F_SOCKET)))
        return 0;
    return sl_slot_class_slow(fd, s, c, gen);
}

#endif
