/* Stack capture with libunwind's unw_backtrace, and the stack depot.
 *
 * libunwind is dlopen'd RTLD_LOCAL, never linked: it exports `backtrace` and
 * the `_Unwind_*` family, and in the global scope those would replace
 * libgcc_s's for the program's own C++ exceptions.
 *
 * The depot keeps every distinct stack once, forever (ids stay valid for the
 * life of the process, so a finding can refer to a stack long after the
 * socket is gone). Its memory comes from an mmap-backed bump arena: capture
 * runs inside hooks, which can be reached from signal handlers and from other
 * libraries' constructors, where malloc is not safe to call. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hg.h"
#include "lframe.h"
#include "locks.h"
#include "modules.h"
#include "options.h"
#include "langframes.h"
#include "stack.h"

/* ------------------------------------------------------------ the arena */

#define SL_ARENA_BLOCK (1u << 20)

static char *sl_arena_cur, *sl_arena_end; /* depot mutex held */

/* Bump-allocate n bytes (16-aligned, zeroed). NULL when mmap fails. Memory is
 * never returned: uthash's old bucket arrays after a doubling are the only
 * waste, at most the size of the final bucket array. */
static void *sl_arena_alloc(size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if ((size_t)(sl_arena_end - sl_arena_cur) < n) {
        size_t len = n > SL_ARENA_BLOCK ? (n + 4095) & ~(size_t)4095 : SL_ARENA_BLOCK;
        void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return NULL;
        sl_arena_cur = p;
        sl_arena_end = sl_arena_cur + len;
    }
    void *r = sl_arena_cur;
    sl_arena_cur += n;
    return r;
}

/* uthash configured for the depot: arena memory, out-of-memory recoverable,
 * hashing done by us (outside the lock) and passed in with *_BYHASHVALUE. */
static int sl_depot_oom;
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) (sl_depot_oom = 1)
#define uthash_malloc(sz) sl_arena_alloc(sz)
#define uthash_free(ptr, sz) ((void)(ptr), (void)(sz))
#include <uthash.h>

/* ------------------------------------------------------------ the depot */

struct sl_depot_entry {
    UT_hash_handle hh;
    uint32_t id;
    uint32_t n;
    uintptr_t pcs[];
};

/* id -> entry: a directory of lazily mapped chunks, so an id never moves. */
#define SL_DEPOT_CHUNK 4096u
#define SL_DEPOT_DIR 1024u /* up to 4M distinct stacks */

static struct sl_depot_entry *sl_depot_table; /* uthash head */
static struct sl_depot_entry **sl_depot_dir[SL_DEPOT_DIR];
static uint32_t sl_depot_count; /* ids 1..count */
static int sl_depot_full_warned;

#define SL_DEPOT_LOCK() SL_LOCK(SL_LK_DEPOT)
#define SL_DEPOT_UNLOCK() SL_UNLOCK(SL_LK_DEPOT)

/* A 64-bit mix of the frames folded to uthash's 32 bits; uthash picks the
 * bucket from the low bits, so those must depend on every frame. */
static unsigned sl_stack_hash(const uintptr_t *pcs, uint32_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
    for (uint32_t i = 0; i < n; i++) {
        h ^= pcs[i];
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    return (unsigned)(h ^ (h >> 32));
}

/* The stacks this thread interned last, by their first two frames: a hit
 * costs one compare, no hash and no lock. Entries are never freed nor
 * changed once published, and this thread got each one under the depot
 * lock. A fork child's thread keeps its forking thread's cache: the depot
 * came along. */
#define SL_TCACHE 16u
static __thread struct sl_depot_entry *sl_tcache[SL_TCACHE]
    __attribute__((tls_model("initial-exec")));

static unsigned sl_tcache_slot(const uintptr_t *pcs, uint32_t n)
{
    uint64_t k = n ? pcs[0] ^ (n > 1 ? pcs[1] << 1 : 0) : 0;
    return (unsigned)((k * 0x9e3779b97f4a7c15ull) >> 60) % SL_TCACHE;
}

/* Store pcs[0..n) once; returns its id, or 0 when memory runs out. */
static uint32_t sl_depot_intern(const uintptr_t *pcs, uint32_t n)
{
    unsigned slot = sl_tcache_slot(pcs, n);
    struct sl_depot_entry *hit = sl_tcache[slot];
    if (hit && hit->n == n && !memcmp(hit->pcs, pcs, n * sizeof *pcs))
        return hit->id;
    unsigned hv = sl_stack_hash(pcs, n);
    size_t keylen = n * sizeof(uintptr_t);
    struct sl_depot_entry *e;
    uint32_t id = 0;

    SL_DEPOT_LOCK();
    HASH_FIND_BYHASHVALUE(hh, sl_depot_table, pcs, keylen, hv, e);
    if (e) {
        id = e->id;
        sl_tcache[slot] = e;
        goto out;
    }
    uint32_t next = sl_depot_count + 1;
    uint32_t chunk = next / SL_DEPOT_CHUNK;
    if (chunk >= SL_DEPOT_DIR) {
        if (!sl_depot_full_warned++)
            sl_warn("stack depot full (%u stacks): further stacks are not recorded",
                    sl_depot_count);
        goto out;
    }
    if (!sl_depot_dir[chunk]) {
        sl_depot_dir[chunk] = sl_arena_alloc(SL_DEPOT_CHUNK * sizeof(*sl_depot_dir[0]));
        if (!sl_depot_dir[chunk])
            goto out;
    }
    e = sl_arena_alloc(sizeof(*e) + keylen);
    if (!e)
        goto out;
    e->id = next;
    e->n = n;
    memcpy(e->pcs, pcs, keylen);
    sl_depot_oom = 0;
    HASH_ADD_KEYPTR_BYHASHVALUE(hh, sl_depot_table, e->pcs, keylen, hv, e);
    if (sl_depot_oom)
        goto out; /* e is lost arena memory; the id was not handed out */
    sl_depot_dir[chunk][next % SL_DEPOT_CHUNK] = e;
    sl_depot_count = next;
    id = next;
    sl_tcache[slot] = e;
out:
    SL_DEPOT_UNLOCK();
    return id;
}

uint32_t sl_stack_store(const uintptr_t *pcs, uint32_t n)
{
    int g = sl_guard_enter();
    uint32_t id = sl_depot_intern(pcs, n);
    sl_guard_leave(g);
    return id;
}

static const uintptr_t sl_no_frames[1];

int sl_stack_get(uint32_t id, const uintptr_t **pcs)
{
    struct sl_depot_entry *e = NULL;

    *pcs = sl_no_frames;
    if (id == 0)
        return 0;
    SL_DEPOT_LOCK();
    if (id <= sl_depot_count)
        e = sl_depot_dir[id / SL_DEPOT_CHUNK][id % SL_DEPOT_CHUNK];
    SL_DEPOT_UNLOCK();
    if (!e)
        return -1;
    *pcs = e->pcs;
    return (int)e->n;
}

/* ------------------------------------------------------------ language frames */

struct sl_lframe_entry {
    UT_hash_handle hh;
    struct sl_lframe f;
    uint32_t keylen;
    char key[]; /* lang, line (4 bytes), function NUL file NUL */
};

#define SL_LFRAME_DIR 1024u /* up to 4M distinct frames */

static struct sl_lframe_entry *sl_lframe_table;
static struct sl_lframe_entry **sl_lframe_dir[SL_LFRAME_DIR];
static uint32_t sl_lframe_count;

/* Copy at most SL_LFRAME_NAME_MAX bytes of s, cut at a UTF-8 boundary. */
static size_t sl_lframe_put(char *dst, const char *s)
{
    size_t n = s ? strnlen(s, SL_LFRAME_NAME_MAX + 1) : 0;
    if (n > SL_LFRAME_NAME_MAX) {
        n = SL_LFRAME_NAME_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(dst, s ? s : "", n);
    dst[n] = '\0';
    return n + 1;
}

static struct sl_lframe_entry *sl_lframe_add(const char *key, uint32_t keylen, unsigned hv)
{
    uint32_t next = sl_lframe_count + 1;
    uint32_t chunk = next / SL_DEPOT_CHUNK;
    if (chunk >= SL_LFRAME_DIR)
        return NULL;
    if (!sl_lframe_dir[chunk]) {
        sl_lframe_dir[chunk] = sl_arena_alloc(SL_DEPOT_CHUNK * sizeof(*sl_lframe_dir[0]));
        if (!sl_lframe_dir[chunk])
            return NULL;
    }
    struct sl_lframe_entry *e = sl_arena_alloc(sizeof(*e) + keylen);
    if (!e)
        return NULL;
    memcpy(e->key, key, keylen);
    e->keylen = keylen;
    e->f.id = next;
    e->f.lang = (uint8_t)key[0];
    memcpy(&e->f.line, key + 1, sizeof e->f.line);
    e->f.function = e->key + 1 + sizeof(int);
    e->f.file = e->f.function + strlen(e->f.function) + 1;
    sl_depot_oom = 0;
    HASH_ADD_KEYPTR_BYHASHVALUE(hh, sl_lframe_table, e->key, keylen, hv, e);
    if (sl_depot_oom)
        return NULL; /* e is lost arena memory; the id was not handed out */
    sl_lframe_dir[chunk][next % SL_DEPOT_CHUNK] = e;
    __atomic_store_n(&sl_lframe_count, next, __ATOMIC_RELEASE);
    return e;
}

uintptr_t sl_lframe_intern(enum sl_lang lang, const char *function, const char *file, int line)
{
    char key[1 + sizeof(int) + 2 * (SL_LFRAME_NAME_MAX + 1)];
    key[0] = (char)lang;
    memcpy(key + 1, &line, sizeof line);
    uint32_t len = 1 + sizeof(int);
    len += (uint32_t)sl_lframe_put(key + len, function);
    len += (uint32_t)sl_lframe_put(key + len, file);
    unsigned hv;
    HASH_VALUE(key, len, hv);

    struct sl_lframe_entry *e;
    int g = sl_guard_enter();
    SL_DEPOT_LOCK();
    HASH_FIND_BYHASHVALUE(hh, sl_lframe_table, key, len, hv, e);
    if (!e)
        e = sl_lframe_add(key, len, hv);
    uintptr_t pc = e ? SL_LFRAME_TAG | e->f.id : 0;
    SL_DEPOT_UNLOCK();
    sl_guard_leave(g);
    return pc;
}

struct sl_lframe *sl_lframe_get(uintptr_t pc)
{
    struct sl_lframe_entry *e = NULL;
    uint32_t id = SL_LFRAME_ID(pc);

    if (!SL_LFRAME_IS(pc) || id == 0)
        return NULL;
    int g = sl_guard_enter();
    SL_DEPOT_LOCK();
    if (id <= sl_lframe_count)
        e = sl_lframe_dir[id / SL_DEPOT_CHUNK][id % SL_DEPOT_CHUNK];
    SL_DEPOT_UNLOCK();
    sl_guard_leave(g);
    return e ? &e->f : NULL;
}

const char *sl_lframe_lang_name(int lang)
{
    switch (lang) {
    case SL_LANG_PYTHON:
        return "python";
    case SL_LANG_JS:
        return "javascript";
    case SL_LANG_JAVA:
        return "java";
    case SL_LANG_RUBY:
        return "ruby";
    case SL_LANG_PERL:
        return "perl";
    }
    return "unknown";
}

/* ------------------------------------------------------------ unwinding */

/* Frames fetched beyond the option, to make room for the leading frames we
 * skip: ours (capture, the hook's helpers, the hook), and libunwind's own,
 * which its fast path leaves out but its fallback path may not. */
#define SL_SKIP_MARGIN 16

/* Test knobs (unit tests link this file into the test program itself, so
 * "our own module" would be the whole test): skip_self=0 disables skipping by
 * module and skip_frames then drops that many leading frames instead. The
 * shipped library has the constants. */
#ifdef SL_TESTING
int sl_stack_skip_self SL_HIDDEN = 1;
int sl_stack_skip_frames SL_HIDDEN = 0;
#else
static const int sl_stack_skip_self = 1;
static const int sl_stack_skip_frames = 0;
#endif

typedef int (*sl_unw_backtrace_fn)(void **, int);

static pthread_once_t sl_stack_once = PTHREAD_ONCE_INIT;
static _Atomic int sl_stack_ready;           /* prime finished, even if failed */
static sl_unw_backtrace_fn sl_unw_backtrace; /* NULL: stacks unavailable */
static uintptr_t sl_unw_lo, sl_unw_hi;       /* libunwind's code */
static uintptr_t sl_self_lo, sl_self_hi;     /* ours */
static int sl_unw_alone;                     /* nothing but us loaded libunwind */
__thread int sl_stack_unmasked __attribute__((tls_model("initial-exec")));

/* The language frame providers (langframes.h), tried in this order. */
static const struct sl_lang_provider *const sl_lang_providers[] = {&sl_lang_python, &sl_lang_java,
                                                                   &sl_lang_ruby, &sl_lang_perl};
#define SL_NPROVIDERS (sizeof sl_lang_providers / sizeof sl_lang_providers[0])
/* Those whose runtime is in this process: set from the prime, or later by
 * sl_stack_lang_activate. An entry is written before the count that
 * publishes it. */
static const struct sl_lang_provider *sl_lang_active[SL_NPROVIDERS];
static _Atomic int sl_lang_n_active;
static _Atomic int sl_lang_adding; /* one writer at a time */

static void sl_lang_add(const struct sl_lang_provider *p)
{
    int busy = 0;
    while (!atomic_compare_exchange_weak(&sl_lang_adding, &busy, 1))
        busy = 0;
    int n = atomic_load_explicit(&sl_lang_n_active, memory_order_relaxed), seen = 0;
    for (int i = 0; i < n; i++)
        seen |= sl_lang_active[i] == p;
    if (!seen && n < (int)SL_NPROVIDERS) {
        sl_lang_active[n] = p;
        atomic_store_explicit(&sl_lang_n_active, n + 1, memory_order_release);
    }
    atomic_store_explicit(&sl_lang_adding, 0, memory_order_release);
}

static void sl_lang_init(void)
{
    for (size_t i = 0; i < SL_NPROVIDERS; i++)
        if (sl_lang_providers[i]->init())
            sl_lang_add(sl_lang_providers[i]);
}

/* A runtime that makes itself known after the prime (the JVM's agent). */
void sl_stack_lang_activate(const struct sl_lang_provider *p)
{
    sl_stack_prime();
    sl_lang_add(p);
}

static void sl_stack_load(void)
{
    int g = sl_guard_enter(); /* libunwind and its dependencies read and close */
    int saved_errno = errno;
    /* Loaded already: the program unwinds too, maybe from a signal handler
     * on a thread in the middle of our capture, so libunwind's masking of
     * signals around its locks must stay (stack.h, sl_stack_unmasked). */
    void *before = dlopen("libunwind.so.8", RTLD_LAZY | RTLD_NOLOAD);
    if (before)
        dlclose(before);
    (void)dlerror();
    void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    void *bt = h ? dlsym(h, "unw_backtrace") : NULL;

    if (!bt) {
        const char *err = dlerror();
        sl_warn("cannot load libunwind.so.8 (%s): stacks will not be recorded",
                err ? err
                : h ? "no unw_backtrace in it"
                    : "not found");
        goto done;
    }
    /* The caching policy stays UNW_CACHE_GLOBAL. UNW_CACHE_NONE would make
     * every unwind step call dl_iterate_phdr, whose loader lock a fork can
     * leave held in the child just the same, and more often; Debian builds
     * libunwind without a real per-thread cache. Our own unwinding is kept
     * out of forks by the fork gate (locks.h) instead. */
    struct sl_module *unw = sl_modules_find((uintptr_t)bt);
    if (unw) {
        sl_unw_lo = unw->lo;
        sl_unw_hi = unw->hi;
    }
    sl_modules_self_range(&sl_self_lo, &sl_self_hi);
    sl_lang_init();

    sl_unw_alone = !before;
    void *warm[SL_SKIP_MARGIN];
    uint32_t gate = SL_GATE_ENTER();
    sl_stack_unmasked = sl_unw_alone;
    ((sl_unw_backtrace_fn)bt)(warm, SL_SKIP_MARGIN);
    sl_stack_unmasked = 0;
    SL_GATE_LEAVE(gate);
    sl_unw_backtrace = (sl_unw_backtrace_fn)bt;
done:
    SL_HG_HAPPENS_BEFORE(&sl_stack_ready);
    atomic_store_explicit(&sl_stack_ready, 1, memory_order_release);
    errno = saved_errno;
    sl_guard_leave(g);
}

int sl_stack_is_unwinder(const void *pc)
{
    uintptr_t a = (uintptr_t)pc;
    return a >= sl_unw_lo && a < sl_unw_hi;
}

/* Helgrind understands neither pthread_once nor the flag's acquire: tell it
 * that what sl_stack_load wrote is ordered before what we read next. */
void sl_stack_prime(void)
{
    SL_HG_ATOMIC(&sl_stack_ready, sizeof sl_stack_ready);
    pthread_once(&sl_stack_once, sl_stack_load);
    SL_HG_HAPPENS_AFTER(&sl_stack_ready);
}

/* The loader's load count when libunwind was last found not loaded: while
 * it has not moved, nothing was loaded since, libunwind included, and the
 * question is not asked again (dlopen's answer opens and reads the file). */
static _Atomic unsigned long long sl_unw_absent_at = ~0ull;

/* When the program uses libunwind itself (the same loaded object as ours),
 * one of its threads may hold libunwind's cache lock at the moment of fork;
 * priming in the child (which sets the caching policy, under that lock)
 * would then hang. So prime here, in the parent, where the lock is simply
 * waited for. A process without libunwind loaded has nobody else to hold
 * its locks: its children may prime lazily. */
void sl_stack_prime_before_fork(void)
{
    if (atomic_load_explicit(&sl_stack_ready, memory_order_acquire))
        return;
    int g = sl_guard_enter();
    int saved = errno;
    SL_HG_ATOMIC(&sl_unw_absent_at, sizeof sl_unw_absent_at); /* forks of two threads */
    unsigned long long loads = sl_modules_loads();
    void *loaded = NULL;
    if (loads != atomic_load_explicit(&sl_unw_absent_at, memory_order_relaxed)) {
        loaded = dlopen("libunwind.so.8", RTLD_LAZY | RTLD_NOLOAD);
        if (!loaded)
            atomic_store_explicit(&sl_unw_absent_at, loads, memory_order_relaxed);
    }
    errno = saved;
    sl_guard_leave(g);
    if (loaded) {
        sl_stack_prime();
        dlclose(loaded);
    }
}

static int sl_frames_option(void)
{
    int f = sl_opt.frames;
    if (f <= 0)
        return 32;
    return f > SL_MAX_FRAMES ? SL_MAX_FRAMES : f;
}

/* Native frames to unwind so that `want` remain once spliced. */
static int sl_lang_native_depth(int want, int n_active)
{
    int d = want;
    for (int i = 0; i < n_active; i++) {
        int p = sl_lang_active[i]->native_depth(want);
        d = p > d ? p : d;
    }
    return d > SL_MAX_FRAMES ? SL_MAX_FRAMES : d;
}

/* Store the first `want` frames of pcs[0..n), with each active provider's
 * language frames spliced in where its runtime's frames are. */
static uint32_t sl_stack_finish(const uintptr_t *pcs, int n, int want, int n_active)
{
    if (!n_active)
        return sl_depot_intern(pcs, (uint32_t)(n > want ? want : n));
    uintptr_t a[want], b[want]; /* want <= SL_MAX_FRAMES */
    const uintptr_t *cur = pcs;
    int len = n;
    for (int i = 0; i < n_active; i++) {
        const struct sl_lang_provider *p = sl_lang_active[i];
        int j = 0;
        while (j < len && !p->owns(cur[j]))
            j++;
        if (j == len)
            continue;
        uintptr_t *out = cur == a ? b : a;
        len = p->splice(cur, len, out, want);
        cur = out;
    }
    return sl_depot_intern(cur, (uint32_t)(len > want ? want : len));
}

uint32_t sl_stack_capture(void)
{
    if (SL_UNLIKELY(!atomic_load_explicit(&sl_stack_ready, memory_order_acquire)))
        sl_stack_prime();
    else
        SL_HG_HAPPENS_AFTER(&sl_stack_ready);
    if (SL_UNLIKELY(!sl_unw_backtrace))
        return 0;

    int g = sl_guard_enter();
    int saved_errno = errno; /* libunwind probes memory with syscalls that fail */
    int want = sl_frames_option();
    /* A runtime's glue between its language's frames is dropped when they
     * are spliced in (langframes.h): unwind deeper so that `want` remain. */
    int n_active = atomic_load_explicit(&sl_lang_n_active, memory_order_acquire);
    int fetch = n_active ? sl_lang_native_depth(want, n_active) : want;
    uintptr_t buf[fetch + SL_SKIP_MARGIN]; /* bounded: SL_MAX_FRAMES + margin */
    uint32_t gate = SL_GATE_ENTER();
    sl_stack_unmasked = sl_unw_alone;
    int n = sl_unw_backtrace((void **)buf, fetch + SL_SKIP_MARGIN);
    sl_stack_unmasked = 0;
    SL_GATE_LEAVE(gate);
    int i = 0;

    while (i < n && buf[i] >= sl_unw_lo && buf[i] < sl_unw_hi)
        i++;
    if (sl_stack_skip_self) {
        while (i < n && buf[i] >= sl_self_lo && buf[i] < sl_self_hi)
            i++;
    } else {
        i += sl_stack_skip_frames;
        if (i > n)
            i = n;
    }
    uint32_t id = sl_stack_finish(buf + i, n - i, want, n_active);
    errno = saved_errno;
    sl_guard_leave(g);
    return id;
}
