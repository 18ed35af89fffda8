/* The fd table: a lazily mapped top array of chunk pointers covering every
 * fd up to INT_MAX (virtual memory only), chunks of slots mapped on first use
 * and installed with a CAS so lookups never lock; and the slots' own
 * operations (install, reset, classify, snapshot), each under the fd's
 * stripe lock. */
#include <limits.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include "fdtable.h"
#include "hg.h"

#define SL_CHUNK_SHIFT 10
#define SL_CHUNK_SLOTS (1u << SL_CHUNK_SHIFT)
#define SL_TOP_ENTRIES (((size_t)INT_MAX >> SL_CHUNK_SHIFT) + 1)

typedef _Atomic(struct sl_slot *) sl_chunk_ptr;

static _Atomic(sl_chunk_ptr *) sl_top;
/* One past the highest chunk index ever installed, and one past the highest
 * fd whose slot was ever handed out: bound sl_fdtable_foreach, whose
 * callbacks do nothing for a slot never used. A fork child that walked the
 * whole chunk would fault in every page of it (its pages are not its
 * parent's: each fault is a page of zeros mapped, and a TLB flush). */
static _Atomic size_t sl_top_used;
static _Atomic long sl_fd_used;
SL_FORKED uint32_t sl_fork_epoch;
SL_FORKED _Atomic int sl_fork_walk;
/* 8 MB of .bss: pages are touched only for the fd numbers read from. */
uintptr_t sl_last_read_pc[SL_LAST_READ_FDS];
uint8_t sl_eof_fd[SL_LAST_READ_FDS];
uint8_t sl_blk_fd[SL_LAST_READ_FDS];
uintptr_t sl_closed_pc[SL_LAST_READ_FDS];

static void *sl_map(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* The top array and the chunks are published by a CAS and found by acquire
 * loads, which helgrind does not see as ordering: each is announced under
 * its own address, before the CAS that may publish it, and taken up by
 * whoever loads the pointer (lookups included: they read slot flags). */
static void *sl_seen(void *p)
{
    if (p)
        SL_HG_HAPPENS_AFTER(p);
    return p;
}

struct sl_slot *sl_fdtable_peek(int fd)
{
    if (SL_UNLIKELY(fd < 0))
        return NULL;
    sl_chunk_ptr *top = sl_seen(atomic_load_explicit(&sl_top, memory_order_acquire));
    if (!top)
        return NULL;
    struct sl_slot *chunk =
        sl_seen(atomic_load_explicit(&top[(unsigned)fd >> SL_CHUNK_SHIFT], memory_order_acquire));
    if (!chunk)
        return NULL;
    return &chunk[(unsigned)fd & (SL_CHUNK_SLOTS - 1)];
}

struct sl_slot *sl_fdtable_get(int fd)
{
    if (fd < 0)
        return NULL;
    sl_chunk_ptr *top = sl_seen(atomic_load_explicit(&sl_top, memory_order_acquire));
    if (!top) {
        sl_chunk_ptr *fresh = sl_map(SL_TOP_ENTRIES * sizeof(sl_chunk_ptr));
        if (!fresh)
            return NULL;
        SL_HG_HAPPENS_BEFORE(fresh);
        /* Its cells, sl_top and sl_top_used are only ever used atomically. */
        SL_HG_ATOMIC(fresh, SL_TOP_ENTRIES * sizeof(sl_chunk_ptr));
        SL_HG_ATOMIC(&sl_top, sizeof sl_top);
        SL_HG_ATOMIC(&sl_top_used, sizeof sl_top_used);
        SL_HG_ATOMIC(&sl_fork_walk, sizeof sl_fork_walk); /* set once, read by a child */
        /* Last-read sites: one word stored per read, read by the sweep;
         * a stale or torn-free older value only names an earlier read. */
        SL_HG_ATOMIC(sl_last_read_pc, sizeof sl_last_read_pc);
        SL_HG_ATOMIC(sl_eof_fd, sizeof sl_eof_fd);
        SL_HG_ATOMIC(sl_blk_fd, sizeof sl_blk_fd);
        /* A socket's first close, one word per fd, looked at only by a close
         * that failed: a stale value names an earlier close. */
        SL_HG_ATOMIC(sl_closed_pc, sizeof sl_closed_pc);
        sl_chunk_ptr *expected = NULL;
        if (atomic_compare_exchange_strong(&sl_top, &expected, fresh)) {
            top = fresh;
        } else {
            munmap(fresh, SL_TOP_ENTRIES * sizeof(sl_chunk_ptr));
            top = sl_seen(expected);
        }
    }
    for (long used = atomic_load_explicit(&sl_fd_used, memory_order_relaxed);
         used <= fd && !atomic_compare_exchange_weak(&sl_fd_used, &used, (long)fd + 1);)
        ;
    sl_chunk_ptr *cell = &top[(unsigned)fd >> SL_CHUNK_SHIFT];
    struct sl_slot *chunk = sl_seen(atomic_load_explicit(cell, memory_order_acquire));
    if (!chunk) {
        struct sl_slot *fresh = sl_map(SL_CHUNK_SLOTS * sizeof(struct sl_slot));
        if (!fresh)
            return NULL;
        SL_HG_HAPPENS_BEFORE(fresh);
        struct sl_slot *expected = NULL;
        if (atomic_compare_exchange_strong(cell, &expected, fresh)) {
            chunk = fresh;
            size_t used = atomic_load(&sl_top_used), want = ((unsigned)fd >> SL_CHUNK_SHIFT) + 1;
            while (used < want && !atomic_compare_exchange_weak(&sl_top_used, &used, want))
                ;
        } else {
            munmap(fresh, SL_CHUNK_SLOTS * sizeof(struct sl_slot));
            chunk = sl_seen(expected);
        }
    }
    return &chunk[(unsigned)fd & (SL_CHUNK_SLOTS - 1)];
}

SL_FORK_TEXT void sl_fdtable_foreach(void (*fn)(int fd, struct sl_slot *s, void *arg), void *arg)
{
    sl_chunk_ptr *top = sl_seen(atomic_load_explicit(&sl_top, memory_order_acquire));
    if (!top)
        return;
    size_t used = atomic_load(&sl_top_used);
    size_t fds = (size_t)atomic_load(&sl_fd_used);
    for (size_t c = 0; c < used; c++) {
        struct sl_slot *chunk = sl_seen(atomic_load_explicit(&top[c], memory_order_acquire));
        if (!chunk)
            continue;
        for (unsigned i = 0; i < SL_CHUNK_SLOTS && (c << SL_CHUNK_SHIFT) + i < fds; i++)
            fn((int)((c << SL_CHUNK_SHIFT) | i), &chunk[i], arg);
    }
}

void sl_fdtable_foreach_range(int lo, int hi, void (*fn)(int fd, struct sl_slot *s, void *arg),
                              void *arg)
{
    if (lo < 0)
        lo = 0;
    long fds = atomic_load(&sl_fd_used);
    if (hi >= fds)
        hi = (int)(fds - 1);
    if (hi < lo)
        return;
    sl_chunk_ptr *top = sl_seen(atomic_load_explicit(&sl_top, memory_order_acquire));
    if (!top)
        return;
    size_t used = atomic_load(&sl_top_used);
    size_t first = (unsigned)lo >> SL_CHUNK_SHIFT, last = (unsigned)hi >> SL_CHUNK_SHIFT;
    if (last >= used)
        last = used - 1;
    for (size_t c = first; used && c <= last; c++) {
        struct sl_slot *chunk = sl_seen(atomic_load_explicit(&top[c], memory_order_acquire));
        if (!chunk)
            continue;
        unsigned from = c == first ? (unsigned)lo & (SL_CHUNK_SLOTS - 1) : 0;
        unsigned to = c == ((unsigned)hi >> SL_CHUNK_SHIFT) ? (unsigned)hi & (SL_CHUNK_SLOTS - 1)
                                                             : SL_CHUNK_SLOTS - 1;
        for (unsigned i = from; i <= to; i++)
            fn((int)((c << SL_CHUNK_SHIFT) | i), &chunk[i], arg);
    }
}

/* ---------------------------------------------------------------- slots
 * The slot operations that ask the kernel (fdtable.h has the others). */

static uint64_t sl_inode_of(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/* The inode of the socket at fd, 0 when fd holds no socket. */
static uint64_t sl_sock_inode_of(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) ? (uint64_t)st.st_ino : 0;
}

/* Ask the kernel what fd is (two getsockopt, one fstat for tracked ones). */
static void sl_classify(int fd, struct sl_class *c)
{
    int type = 0, domain = 0;
    socklen_t len = sizeof type;
    *c = (struct sl_class){0};
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
        c->flags = SL_F_KNOWN | SL_F_NOTSOCK;
        return;
    }
    len = sizeof domain;
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0) {
        c->flags = SL_F_KNOWN | SL_F_SOCKET | SL_F_NOTSOCK;
        return;
    }
    *c = sl_class_for(domain, type);
    if (c->flags & SL_F_STREAM)
        c->inode = sl_inode_of(fd);
}

/* A known socket whose inode changed (closed and reused behind our back)
 * is forgotten: 1 when it must be classified again. The inode is taken
 * here, at the first check, not when the socket was made: a socket with
 * none yet must still be one now. */
static int sl_slot_stale(int fd, struct sl_slot *s, struct sl_class *c, uint32_t *gen)
{
    uint64_t ino = sl_sock_inode_of(fd);
    if (ino && (ino == c->inode || !c->inode)) {
        c->inode = ino;
        return 0;
    }
    sl_fdtable_lock(fd);
    if (s->gen == *gen)
        sl_slot_reset(fd, s);
    *gen = s->gen;
    sl_fdtable_unlock(fd);
    return 1;
}

int sl_slot_class_slow(int fd, struct sl_slot *s, struct sl_class *c, uint32_t *gen)
{
    if ((c->flags & SL_F_KNOWN) && !sl_slot_stale(fd, s, c, gen))
        return 0;
    struct sl_class n;
    sl_classify(fd, &n);
    int counted = 0;
    sl_fdtable_lock(fd);
    if (s->gen == *gen && !(atomic_load(&s->flags) & SL_F_KNOWN)) {
        s->domain = n.domain;
        s->type = n.type;
        s->inode = n.inode;
        s->epoch = sl_fork_epoch; /* known from now: this process's, not a copy */
        /* OR, not store: a shutdown may have been recorded before we knew. */
        atomic_fetch_or(&s->flags, n.flags);
        counted = (n.flags & SL_F_STREAM) != 0;
    }
    sl_slot_read(s, c, gen);
    sl_fdtable_unlock(fd);
    return counted;
}
