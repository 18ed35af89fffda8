/* Java frames (langframes.h): a JVM's native frames replaced by the Java
 * frames of the calling thread, which the JVMTI agent reads (javaframes.h,
 * java/sockleak_jvmti.c).
 *
 * The JVM's frames are those of libjvm.so, of the JDK's own libraries beside
 * it (libjava, libnio, libnet, ...: the native methods of the class library)
 * and code in no module at all (the interpreter, compiled Java code, native
 * method wrappers: the code cache). A stack is spliced as: the native frames
 * before the first of them, then the Java frames, innermost first; nothing
 * of the JVM below.
 *
 * The agent is asked only when the stack shows the thread running a native
 * method called from Java: the first JVM frame that is not one of the JDK's
 * native-method libraries is in the code cache. A JVMTI call moves the
 * thread from native into the VM and back: made on a thread that is in the
 * VM already (libjvm's own code, such as the attach listener's socket())
 * it would leave that thread marked as in native. Nor is it asked when a
 * signal frame comes first (a handler may have interrupted Java code).
 *
 * Which module holds a pc comes from a copy of the loader's list, taken
 * again when the loader's counters of loaded and unloaded objects change
 * (the JDK loads libnio and libnet on first use). */
#include <link.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include "javaframes.h"
#include "langframes.h"
#include "lframe.h"
#include "locks.h"
#include "stack.h"
#include "rawsys.h"

enum sl_jkind {
    SL_JK_OTHER = 0, /* any other module */
    SL_JK_VM,        /* libjvm.so */
    SL_JK_JDK,       /* the JDK's libraries beside it */
    SL_JK_CODE,      /* no module: the code cache */
    SL_JK_LIBC,      /* libc (its signal trampoline) */
};

struct sl_jmod {
    uintptr_t lo, hi; /* executable span [lo, hi) */
    int kind;
};

#define SL_JMODS 1020

struct sl_jmap {
    unsigned long long adds, subs; /* the loader's counters when taken */
    int n;
    struct sl_jmod m[SL_JMODS];
};

static _Atomic(sockleak_java_frames_fn) sl_java_fn;
/* The newest copy of the module list. Copies are never freed or reused: a
 * thread may still be reading an older one (one is taken per dlopen or
 * dlclose seen, a few in a JVM's life). */
static struct sl_jmap *_Atomic sl_jmap_cur;

static const char *sl_java_base(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

struct sl_jscan {
    struct sl_jmap *map;
    char jdk[512]; /* the JDK's lib directory (libjvm's parent's parent), or "" */
    size_t jdk_len;
    int only_counters;
};

static int sl_java_text(const struct dl_phdr_info *info, uintptr_t *lo, uintptr_t *hi)
{
    *lo = UINTPTR_MAX;
    *hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X) || ph->p_memsz == 0)
            continue;
        uintptr_t s = info->dlpi_addr + ph->p_vaddr, e = s + ph->p_memsz;
        *lo = s < *lo ? s : *lo;
        *hi = e > *hi ? e : *hi;
    }
    return *hi != 0;
}

/* Runs under the loader's lock: no malloc, no dlopen. */
static int sl_java_scan_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct sl_jscan *sc = arg;
    struct sl_jmap *map = sc->map;
    int first = map->n == 0 && map->adds == ~0ull;
    if (first) {
        map->adds = map->subs = 0;
        if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
            map->adds = info->dlpi_adds;
            map->subs = info->dlpi_subs;
        }
        if (sc->only_counters)
            return 1;
    }
    uintptr_t lo, hi;
    if (map->n >= SL_JMODS || !sl_java_text(info, &lo, &hi))
        return 0;
    const char *path = info->dlpi_name ? info->dlpi_name : "";
    const char *base = sl_java_base(path);
    int kind = SL_JK_OTHER;
    if (strcmp(base, "libjvm.so") == 0) {
        kind = SL_JK_VM;
    } else if (strncmp(base, "libc.so", 7) == 0) {
        kind = SL_JK_LIBC;
    } else if (sc->jdk_len && strncmp(path, sc->jdk, sc->jdk_len) == 0 &&
               path[sc->jdk_len] == '/' && !strchr(path + sc->jdk_len + 1, '/')) {
        kind = SL_JK_JDK;
    }
    map->m[map->n++] = (struct sl_jmod){lo, hi, kind};
    return 0;
}

/* libjvm's path: <jdk>/lib/server/libjvm.so; the JDK's libraries are in
 * <jdk>/lib. Found in a first pass (libjvm may come after them). */
static int sl_java_find_jdk(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct sl_jscan *sc = arg;
    const char *path = info->dlpi_name ? info->dlpi_name : "";
    const char *base = sl_java_base(path);
    if (strcmp(base, "libjvm.so") != 0 || base == path)
        return 0;
    size_t len = (size_t)(base - path) - 1; /* <jdk>/lib/server */
    while (len > 0 && path[len - 1] != '/')
        len--;
    if (len < 2 || len > sizeof sc->jdk)
        return 1;
    memcpy(sc->jdk, path, len - 1); /* <jdk>/lib */
    sc->jdk[len - 1] = '\0';
    sc->jdk_len = len - 1;
    return 1;
}

/* The current copy of the module list, taken again when the loader's
 * counters moved (or check is 0 and there is none). */
static struct sl_jmap *sl_java_map(int check)
{
    struct sl_jmap *cur = atomic_load_explicit(&sl_jmap_cur, memory_order_acquire);
    if (cur && !check)
        return cur;
    struct sl_jscan sc = {0};
    struct sl_jmap probe = {.adds = ~0ull};
    uint32_t gate = SL_GATE_ENTER(); /* the loader's lock: not across a fork */
    if (cur) {
        sc.map = &probe;
        sc.only_counters = 1;
        dl_iterate_phdr(sl_java_scan_cb, &sc);
        if (probe.adds == cur->adds && probe.subs == cur->subs) {
            SL_GATE_LEAVE(gate);
            return cur;
        }
    }
    struct sl_jmap *map =
        mmap(NULL, sizeof *map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        SL_GATE_LEAVE(gate);
        return cur;
    }
    map->adds = ~0ull;
    sc.map = map;
    sc.only_counters = 0;
    dl_iterate_phdr(sl_java_find_jdk, &sc);
    dl_iterate_phdr(sl_java_scan_cb, &sc);
    SL_GATE_LEAVE(gate);
    atomic_store_explicit(&sl_jmap_cur, map, memory_order_release);
    return map;
}

static int sl_java_lookup(const struct sl_jmap *map, uintptr_t pc)
{
    for (int i = 0; i < map->n; i++)
        if (pc - map->m[i].lo < map->m[i].hi - map->m[i].lo)
            return i;
    return -1;
}

/* The kind of pc (a return address: pc - 1 is in the call). A pc in no
 * module is looked up again in a fresh copy if the loader changed. */
static int sl_java_kind(uintptr_t pc, const struct sl_jmap **mapp)
{
    if (SL_LFRAME_IS(pc))
        return SL_JK_OTHER; /* another provider's language frame */
    const struct sl_jmap *map = *mapp ? *mapp : sl_java_map(0);
    if (!map)
        return SL_JK_OTHER;
    int i = sl_java_lookup(map, pc - 1);
    if (i < 0) {
        map = sl_java_map(1);
        if (map)
            i = sl_java_lookup(map, pc - 1);
    }
    *mapp = map;
    return i < 0 ? SL_JK_CODE : map->m[i].kind;
}

/* Is pc libc's signal return trampoline (SL_SIGRETURN_CODE, rawsys.h)? Read only
 * inside libc's code. */
static int sl_java_is_sigreturn(const struct sl_jmap *map, uintptr_t pc)
{
    static const unsigned char tramp[] = SL_SIGRETURN_CODE;
    int i = sl_java_lookup(map, pc);
    if (i < 0 || map->m[i].kind != SL_JK_LIBC || pc + sizeof tramp > map->m[i].hi)
        return 0;
    return memcmp((const void *)pc, tramp, sizeof tramp) == 0;
}

static int sl_java_owns(uintptr_t pc)
{
    if (!atomic_load_explicit(&sl_java_fn, memory_order_acquire))
        return 0;
    const struct sl_jmap *map = NULL;
    int k = sl_java_kind(pc, &map);
    return k == SL_JK_VM || k == SL_JK_JDK || k == SL_JK_CODE;
}

static int sl_java_copy(const uintptr_t *in, int n, uintptr_t *out, int max)
{
    int k = n < max ? n : max;
    memcpy(out, in, (size_t)k * sizeof *out);
    return k;
}

/* The tagged pcs of recent frames, by the agent's string pointers (the same
 * pointer always names the same string, javaframes.h) and line: a hit costs
 * no string hashing and no depot lock. Each entry is guarded by its own
 * sequence number (odd while written); a reader that sees it change, or a
 * writer that finds it taken, goes to the depot. */
#define SL_JCACHE 4096u

struct sl_jcache {
    _Atomic uint32_t seq;
    uint32_t epoch; /* sl_jcache_epoch when written */
    const char *function, *file;
    int line;
    uintptr_t pc;
};

static struct sl_jcache sl_jcache[SL_JCACHE];
static _Atomic uint32_t sl_jcache_epoch = 1; /* a new agent: every entry stale */

static uintptr_t sl_java_intern(const struct sockleak_java_frame *f)
{
    int line = f->line > 0 ? f->line : 0;
    uint32_t epoch = atomic_load_explicit(&sl_jcache_epoch, memory_order_relaxed);
    uint64_t h = ((uintptr_t)f->function * 31 + (uintptr_t)f->file) * 0x9e3779b97f4a7c15ull;
    struct sl_jcache *e = &sl_jcache[((h >> 32) ^ (uint64_t)line * 0x85ebca6bu) % SL_JCACHE];
    uint32_t s1 = atomic_load_explicit(&e->seq, memory_order_acquire);
    if (!(s1 & 1)) {
        const char *fn = __atomic_load_n(&e->function, __ATOMIC_RELAXED);
        const char *file = __atomic_load_n(&e->file, __ATOMIC_RELAXED);
        int l = __atomic_load_n(&e->line, __ATOMIC_RELAXED);
        uint32_t ep = __atomic_load_n(&e->epoch, __ATOMIC_RELAXED);
        uintptr_t pc = __atomic_load_n(&e->pc, __ATOMIC_RELAXED);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&e->seq, memory_order_relaxed) == s1 && pc && ep == epoch &&
            fn == f->function && file == f->file && l == line)
            return pc;
    }
    uintptr_t pc = sl_lframe_intern(SL_LANG_JAVA, f->function, f->file, line);
    if (pc && !(s1 & 1) &&
        atomic_compare_exchange_strong_explicit(&e->seq, &s1, s1 + 1, memory_order_acquire,
                                                memory_order_relaxed)) {
        atomic_thread_fence(memory_order_release);
        __atomic_store_n(&e->function, f->function, __ATOMIC_RELAXED);
        __atomic_store_n(&e->file, f->file, __ATOMIC_RELAXED);
        __atomic_store_n(&e->line, line, __ATOMIC_RELAXED);
        __atomic_store_n(&e->epoch, epoch, __ATOMIC_RELAXED);
        __atomic_store_n(&e->pc, pc, __ATOMIC_RELAXED);
        atomic_store_explicit(&e->seq, s1 + 2, memory_order_release);
    }
    return pc;
}

static int sl_java_splice(const uintptr_t *in, int n, uintptr_t *out, int max)
{
    sockleak_java_frames_fn fn = atomic_load_explicit(&sl_java_fn, memory_order_acquire);
    const struct sl_jmap *map = NULL;
    int first = -1, kind = SL_JK_OTHER;
    if (!fn)
        return sl_java_copy(in, n, out, max);
    /* The first JVM frame, then the first that is not the JDK's. */
    for (int i = 0; i < n; i++) {
        kind = sl_java_kind(in[i], &map);
        if (kind == SL_JK_LIBC && sl_java_is_sigreturn(map, in[i]))
            return sl_java_copy(in, n, out, max);
        if (first < 0 && (kind == SL_JK_VM || kind == SL_JK_JDK || kind == SL_JK_CODE))
            first = i;
        if (kind == SL_JK_VM || kind == SL_JK_CODE)
            break;
    }
    if (first < 0 || kind != SL_JK_CODE || first >= max)
        return sl_java_copy(in, n, out, max);
    /* On a Java thread's stack, inside the JVM's shadow zone for native
     * code: only the room left (want <= SL_MAX_FRAMES). */
    int room = max - first < SL_MAX_FRAMES ? max - first : SL_MAX_FRAMES;
    struct sockleak_java_frame jf[room];
    int got = fn(jf, room);
    if (got <= 0)
        return sl_java_copy(in, n, out, max);
    int k = 0;
    for (; k < first; k++)
        out[k] = in[k];
    for (int j = 0; j < got && k < max; j++) {
        uintptr_t pc = sl_java_intern(&jf[j]);
        if (pc)
            out[k++] = pc;
    }
    return k;
}

/* Java frames stand in for everything from the first JVM frame down, so
 * only the frames above it count: no deeper unwinding than asked. The few
 * more let the JDK's native-method frames be seen through to the code
 * cache when few frames are asked for. */
static int sl_java_native_depth(int want)
{
    int d = want + 8;
    return d > SL_MAX_FRAMES ? SL_MAX_FRAMES : d;
}

static int sl_java_init(void)
{
    return atomic_load_explicit(&sl_java_fn, memory_order_acquire) != NULL;
}

const struct sl_lang_provider sl_lang_java = {
    .name = "java",
    .init = sl_java_init,
    .owns = sl_java_owns,
    .splice = sl_java_splice,
    .native_depth = sl_java_native_depth,
};

/* Not in include/sockleak.h: the agent's channel (javaframes.h). Called from
 * Agent_OnLoad, before the program's own code runs. */
SL_EXPORT int sockleak__java_register(int abi, sockleak_java_frames_fn fn)
{
    if (abi != SOCKLEAK_JAVA_ABI)
        return -1;
    int g = sl_guard_enter(); /* the library's constructor ran: it is preloaded */
    atomic_fetch_add_explicit(&sl_jcache_epoch, 1, memory_order_relaxed);
    atomic_store_explicit(&sl_java_fn, fn, memory_order_release);
    if (fn) {
        sl_java_map(0);
        /* Primes the stacks (whose providers' init then sees fn) if that is
         * still to come, else adds the provider now. */
        sl_stack_lang_activate(&sl_lang_java);
    }
    sl_guard_leave(g);
    return 0;
}
