/* The library's locks (see locks.h for the order and the rules).
 *
 * They are our own small futex locks rather than pthread's, for one reason:
 * fork. A mutex word here holds its owner's thread id, set by the same
 * compare-and-swap that takes it, so fork's prepare handler knows exactly
 * which locks its own thread holds: those were taken by a section that a
 * signal handler interrupted, and waiting for them would wait forever. With
 * pthread mutexes the owner is written after the lock word, and a signal
 * between the two would make the thread wait for itself.
 *
 * The gate is a reader count that forks wait to drain. Its word carries an
 * epoch that the fork child advances, so a section that was inside the gate
 * at fork (on the forking thread, interrupted) leaves it without disturbing
 * the child's fresh count. */
#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include "rawsys.h"
#include <time.h>
#include <unistd.h>
#include "hg.h"
#include "locks.h"
#include "reaper.h"
#include "stack.h"

#define SL_LK_WAITERS 0x80000000u /* high bit of a mutex word: someone sleeps on it */

/* Taken by fork's prepare, released by parent and reset by child: the page
 * of SL_FORKED state, each group on its own cache line. */
SL_FORKED __attribute__((aligned(64))) static _Atomic uint32_t sl_lk_word[SL_LK_COUNT]; /* gate and stripe entries unused */
SL_FORKED __attribute__((aligned(64))) static _Atomic uint32_t sl_lk_stripe[SL_STRIPES];

SL_FORKED __attribute__((aligned(64))) static _Atomic uint64_t sl_gate_word; /* epoch << 32 | readers inside */
SL_FORKED static _Atomic uint32_t sl_gate_forks;                            /* forks waiting or under way */

static __thread pid_t sl_lk_tid __attribute__((tls_model("initial-exec")));
/* Set from just before this thread enters the gate to just after it leaves
 * (SL_GATE_UNCOUNTED: entered uncounted, the process having one thread). */
static __thread int sl_gate_mine __attribute__((tls_model("initial-exec")));
/* The epoch an uncounted entry was counted in at (sl_gate_count_in). */
static __thread uint32_t sl_gate_counted_epoch __attribute__((tls_model("initial-exec")));
#define SL_GATE_UNCOUNTED 2
#define SL_GATE_NO_EPOCH UINT32_MAX /* the token of an uncounted entry */
/* A guarded fork under way on this thread, from its prepare handler to its
 * parent or child handler. A signal handler may fork in the middle of a
 * fork, so they nest: each keeps its own, and the outer one finds its own
 * again (one kept state overwritten by the inner fork left the guard set,
 * or every lock held, for good). An unguarded fork keeps nothing here. */
struct sl_lk_fork {
    uint32_t taken;   /* lock ids prepare took, and SL_LK_TAKEN_GATE */
    uint64_t stripes; /* stripes prepare took */
    int guard;        /* the guard prepare found */
    int alone;        /* the process had one thread: nothing taken */
};
#define SL_LK_FORK_NEST 8
static __thread struct sl_lk_fork sl_lk_forks[SL_LK_FORK_NEST]
    __attribute__((tls_model("initial-exec")));
static __thread int sl_lk_fork_depth __attribute__((tls_model("initial-exec")));
/* The bit for SL_LK_GATE in taken: prepare closed the gate itself
 * (helgrind builds: holds it as a writer until parent or child). */
#define SL_LK_TAKEN_GATE (1u << SL_LK_GATE)

static const char *const sl_lk_names[SL_LK_COUNT] = {
    "gate", "fdtable stripe", "stack depot", "reaper", "log", "module map"};

#ifdef SL_LOCK_DEBUG
/* Lock-debug build: what this thread holds, to check the order. */
static __thread uint32_t sl_lk_held __attribute__((tls_model("initial-exec")));
#endif

/* A raw futex call: glibc's syscall() is our own hook. */
static long sl_futex(_Atomic uint32_t *addr, int op, uint32_t val, const struct timespec *ts)
{
    return sl_raw_syscall4(SYS_futex, (long)addr, (long)op, (long)val, (long)ts);
}

static pid_t sl_lk_self(void)
{
    if (SL_UNLIKELY(!sl_lk_tid))
        sl_lk_tid = gettid();
    return sl_lk_tid;
}

static _Atomic uint32_t *sl_lk_addr(enum sl_lock_id id, unsigned sub)
{
    return id == SL_LK_STRIPE ? &sl_lk_stripe[sub % SL_STRIPES] : &sl_lk_word[id];
}

static int sl_lk_mine(_Atomic uint32_t *w)
{
    return (atomic_load_explicit(w, memory_order_relaxed) & ~SL_LK_WAITERS) ==
           (uint32_t)sl_lk_self();
}

/* Take w. Once this thread has slept, it takes the lock marked contended,
 * so its own release wakes whoever else is waiting. */
static void sl_lk_take(_Atomic uint32_t *w)
{
    uint32_t me = (uint32_t)sl_lk_self(), want = me;
    SL_HG_LOCK_PRE(w);
    for (;;) {
        uint32_t old = 0;
        if (atomic_compare_exchange_strong(w, &old, want)) {
            SL_HG_LOCK_POST(w);
            return;
        }
        if (!(old & SL_LK_WAITERS) &&
            !atomic_compare_exchange_strong(w, &old, old | SL_LK_WAITERS))
            continue;
        sl_futex(w, FUTEX_WAIT_PRIVATE, old | SL_LK_WAITERS, NULL);
        want = me | SL_LK_WAITERS;
    }
}

/* Helgrind hears of the release before another thread can take the lock. */
static void sl_lk_give(_Atomic uint32_t *w)
{
    SL_HG_UNLOCK(w);
    if (atomic_exchange(w, 0) & SL_LK_WAITERS)
        sl_futex(w, FUTEX_WAKE_PRIVATE, 1, NULL);
}

#ifdef SL_LOCK_DEBUG
static void sl_lk_check_take(enum sl_lock_id id, const char *func, int line)
{
    if (!sl_in_lib)
        sl_fatal("lock order: %s taken outside the re-entry guard in %s:%d", sl_lk_names[id], func,
                 line);
    uint32_t later = sl_lk_held & ~((2u << id) - 1);
    if (sl_lk_held & (1u << id))
        sl_fatal("lock order: %s taken twice in %s:%d", sl_lk_names[id], func, line);
    if (later)
        sl_fatal("lock order: %s taken in %s:%d while %s is held", sl_lk_names[id], func, line,
                 sl_lk_names[__builtin_ctz(later)]);
    sl_lk_held |= 1u << id;
}

static void sl_lk_check_give(enum sl_lock_id id, const char *func, int line)
{
    if (!(sl_lk_held & (1u << id)))
        sl_fatal("lock order: %s released in %s:%d but not held", sl_lk_names[id], func, line);
    sl_lk_held &= ~(1u << id);
}
#else
#define sl_lk_check_take(id, func, line) ((void)(func), (void)(line))
#define sl_lk_check_give(id, func, line) ((void)(func), (void)(line))
#endif

void sl_lock_at(enum sl_lock_id id, unsigned sub, const char *func, int line)
{
    if (SL_UNLIKELY(id <= SL_LK_GATE || id >= SL_LK_COUNT))
        sl_fatal("lock %d is no mutex (%s:%d)", (int)id, func, line);
    sl_lk_check_take(id, func, line);
    sl_lk_take(sl_lk_addr(id, sub));
}

void sl_unlock_at(enum sl_lock_id id, unsigned sub, const char *func, int line)
{
    _Atomic uint32_t *w = sl_lk_addr(id, sub);
    if (SL_UNLIKELY(!sl_lk_mine(w)))
        sl_fatal("%s released in %s:%d by a thread that does not hold it", sl_lk_names[id], func,
                 line);
    sl_lk_check_give(id, func, line);
    sl_lk_give(w);
}

void sl_lock_wait_word(_Atomic uint32_t *w, uint32_t val, const struct timespec *timeout)
{
    sl_futex(w, FUTEX_WAIT_PRIVATE, val, timeout);
}

void sl_lock_wake_word(_Atomic uint32_t *w)
{
    sl_futex(w, FUTEX_WAKE_PRIVATE, 1, NULL);
}

/* A short pause while a fork drains the gate or a fork goes on. */
static void sl_gate_nap(unsigned *spins)
{
    if ((*spins)++ < 64) {
        sched_yield();
        return;
    }
    struct timespec ts = {0, 50 * 1000};
    nanosleep(&ts, NULL);
}

/* Returns the epoch the caller entered in, for sl_gate_leave_at. */
uint32_t sl_gate_enter_at(const char *func, int line)
{
    sl_lk_check_take(SL_LK_GATE, func, line);
    /* One thread: no other's fork can wait for this one, and the shared
     * count is not written (a fork cycle that captures a stack then writes
     * no page of ours but this thread's own). A thread made meanwhile, by a
     * signal handler, counts this entry in first (sl_gate_count_in). */
    if (sl_reaper_one_thread()) {
        sl_gate_mine = SL_GATE_UNCOUNTED;
        return SL_GATE_NO_EPOCH;
    }
    unsigned spins = 0;
    for (;;) {
        while (atomic_load(&sl_gate_forks))
            sl_gate_nap(&spins);
        sl_gate_mine = 1;
        atomic_signal_fence(memory_order_seq_cst);
        uint64_t w = atomic_load(&sl_gate_word);
        if (!atomic_compare_exchange_weak(&sl_gate_word, &w, w + 1)) {
            sl_gate_mine = 0;
            continue;
        }
        SL_HG_RW_ACQUIRED(&sl_gate_word, 0);
        if (!atomic_load(&sl_gate_forks))
            return (uint32_t)(w >> 32);
        /* A fork began meanwhile: let it drain the gate, then retry. */
        sl_gate_leave_at(func, line, (uint32_t)(w >> 32));
        sl_lk_check_take(SL_LK_GATE, func, line);
    }
}

/* Leave the gate entered in epoch; nothing when a fork child has since
 * started a new epoch (its count never included us). */
void sl_gate_leave_at(const char *func, int line, uint32_t epoch)
{
    if (epoch == SL_GATE_NO_EPOCH) {
        if (sl_gate_mine == SL_GATE_UNCOUNTED) {
            sl_gate_mine = 0;
            sl_lk_check_give(SL_LK_GATE, func, line);
            return;
        }
        epoch = sl_gate_counted_epoch; /* counted in since */
    }
    /* Before the count drops, so a fork's close comes after it. */
    SL_HG_RW_RELEASED(&sl_gate_word, 0);
    uint64_t w = atomic_load(&sl_gate_word);
    while ((uint32_t)(w >> 32) == epoch && !atomic_compare_exchange_weak(&sl_gate_word, &w, w - 1))
        ;
    atomic_signal_fence(memory_order_seq_cst);
    sl_gate_mine = 0;
    sl_lk_check_give(SL_LK_GATE, func, line);
}

void sl_gate_count_in(void)
{
    if (sl_gate_mine != SL_GATE_UNCOUNTED)
        return;
    uint64_t w = atomic_fetch_add(&sl_gate_word, 1);
    SL_HG_RW_ACQUIRED(&sl_gate_word, 0);
    sl_gate_counted_epoch = (uint32_t)(w >> 32);
    sl_gate_mine = 1;
}

/* prepare: hold new readers back and wait for those inside to leave, unless
 * this thread is one of them (a fork from a signal handler that interrupted
 * our unwinding: the interrupted section resumes in parent and child). */
static void sl_gate_close(struct sl_lk_fork *f)
{
    atomic_fetch_add(&sl_gate_forks, 1);
    if (sl_gate_mine)
        return;
    unsigned spins = 0;
    while ((uint32_t)atomic_load(&sl_gate_word) != 0)
        sl_gate_nap(&spins);
    SL_HG_RW_ACQUIRED(&sl_gate_word, 1);
    f->taken |= SL_LK_TAKEN_GATE;
}

void sl_locks_init(void)
{
    SL_HG_ATOMIC(sl_lk_word, sizeof sl_lk_word);
    SL_HG_ATOMIC(sl_lk_stripe, sizeof sl_lk_stripe);
    SL_HG_ATOMIC(&sl_gate_word, sizeof sl_gate_word);
    SL_HG_ATOMIC(&sl_gate_forks, sizeof sl_gate_forks);
}

int sl_locks_held(void)
{
    if (sl_gate_mine)
        return 1;
    for (int id = SL_LK_DEPOT; id < SL_LK_COUNT; id++)
        if (sl_lk_mine(&sl_lk_word[id]))
            return 1;
    for (int i = 0; i < SL_STRIPES; i++)
        if (sl_lk_mine(&sl_lk_stripe[i]))
            return 1;
    return 0;
}

/* Take w for fork unless this thread owns it already; 1 when taken. */
static int sl_lk_take_for_fork(_Atomic uint32_t *w)
{
    if (sl_lk_mine(w))
        return 0;
    sl_lk_take(w);
    return 1;
}

/* With one thread in the process no other can hold a lock or be inside
 * the gate: nothing is taken, so the parent writes none of the lock words
 * after the fork (each page it writes then is copied). The child still
 * hands the locks its own interrupted section holds to its new thread id.
 *
 * Alone, from outside the library (no guard set), and with our handlers
 * the first to run after the fork (first): between here and our parent or
 * child handler only libc's fork runs, and perhaps a signal handler, which
 * finds no lock held. Such a fork sets no guard and keeps nothing, so a
 * parent forking again and again writes none of this thread's variables
 * either; 1 is returned: our fds may move for it (sl_log_fork_lower). */
SL_FORK_TEXT int sl_locks_prepare(int first)
{
    int was = sl_in_lib, alone = sl_reaper_one_thread();
    if (alone && !was && first)
        return 1;
    sl_guard_enter();
    int d = sl_lk_fork_depth++;
    if (d >= SL_LK_FORK_NEST)
        return 0; /* in a guarded fork, which holds every lock already */
    struct sl_lk_fork *f = &sl_lk_forks[d];
    *f = (struct sl_lk_fork){.guard = was, .alone = alone};
    /* Alone, no other thread can hold libunwind's lock for the child to
     * meet: the child may prime itself, and the parent does not look for
     * libunwind at each fork (the loader's list, under its lock). */
    if (!was && !alone && !sl_locks_held())
        sl_stack_prime_before_fork();
    if (alone)
        return 0;
    sl_gate_close(f);
    for (int i = 0; i < SL_STRIPES; i++)
        if (sl_lk_take_for_fork(&sl_lk_stripe[i]))
            f->stripes |= 1ull << i;
    for (int id = SL_LK_DEPOT; id < SL_LK_COUNT; id++)
        if (sl_lk_take_for_fork(&sl_lk_word[id]))
            f->taken |= 1u << id;
    /* The guard stays set until parent or child: a signal handler that runs
     * on this thread meanwhile must not wait for the locks just taken. */
    return 0;
}

/* The fork whose parent or child handler runs now, taken off the nest: a
 * guarded one's kept state, or *none, filled in for an unguarded one
 * (nothing kept, the guard found clear) or one nested deeper than kept
 * (nothing taken, the guard found set). */
SL_FORK_TEXT static const struct sl_lk_fork *sl_lk_fork_done(struct sl_lk_fork *none)
{
    *none = (struct sl_lk_fork){.guard = sl_lk_fork_depth > SL_LK_FORK_NEST, .alone = 1};
    if (!sl_lk_fork_depth)
        return none;
    int d = --sl_lk_fork_depth;
    return d < SL_LK_FORK_NEST ? &sl_lk_forks[d] : none;
}

SL_FORK_TEXT void sl_locks_parent(void)
{
    struct sl_lk_fork none;
    const struct sl_lk_fork *f = sl_lk_fork_done(&none);
    if (!f->alone) {
        for (int id = SL_LK_COUNT - 1; id >= SL_LK_DEPOT; id--)
            if (f->taken & (1u << id))
                sl_lk_give(&sl_lk_word[id]);
        for (int i = SL_STRIPES - 1; i >= 0; i--)
            if (f->stripes & (1ull << i))
                sl_lk_give(&sl_lk_stripe[i]);
        if (f->taken & SL_LK_TAKEN_GATE)
            SL_HG_RW_RELEASED(&sl_gate_word, 1);
        atomic_fetch_sub(&sl_gate_forks, 1);
    }
    SL_SET(sl_in_lib, f->guard); /* an unguarded fork's parent writes nothing */
}

/* One lock in the child: free, or still held by this thread's interrupted
 * section (under its new thread id, so its release matches). */
SL_FORK_TEXT static void sl_lk_reset_child(_Atomic uint32_t *w, int taken, pid_t old_tid)
{
    uint32_t was = atomic_load(w), owner = was & ~SL_LK_WAITERS;
    int mine = !taken && old_tid && owner == (uint32_t)old_tid;
    if (taken)
        SL_HG_UNLOCK(w);
    uint32_t now = mine ? (uint32_t)sl_lk_tid : 0;
    if (now != was)
        atomic_store(w, now);
}

SL_FORK_TEXT void sl_locks_child(void)
{
    sl_locks_child_is((pid_t)sl_raw_syscall4(SYS_gettid, 0, 0, 0, 0));
}

SL_FORK_TEXT void sl_locks_child_is(pid_t tid)
{
    pid_t old = sl_lk_tid;
    sl_lk_tid = tid;
    struct sl_lk_fork none;
    const struct sl_lk_fork *f = sl_lk_fork_done(&none);
    for (int i = 0; i < SL_STRIPES; i++)
        sl_lk_reset_child(&sl_lk_stripe[i], (f->stripes >> i) & 1, old);
    for (int id = SL_LK_DEPOT; id < SL_LK_COUNT; id++)
        sl_lk_reset_child(&sl_lk_word[id], (f->taken >> id) & 1, old);
    if (f->taken & SL_LK_TAKEN_GATE)
        SL_HG_RW_RELEASED(&sl_gate_word, 1);
    uint64_t w = atomic_load(&sl_gate_word);
    atomic_store(&sl_gate_word, ((w >> 32) + 1) << 32);
    /* The forks still under way on this thread (this child's, when the
     * fork came from a signal handler in the middle of one) that closed
     * the gate: their parent handlers, run in this process too, reopen it. */
    uint32_t forks = 0;
    for (int d = 0; d < sl_lk_fork_depth && d < SL_LK_FORK_NEST; d++)
        forks += !sl_lk_forks[d].alone;
    if (atomic_load(&sl_gate_forks) != forks)
        atomic_store(&sl_gate_forks, forks);
    SL_SET(sl_in_lib, f->guard);
}
