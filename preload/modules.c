/* The module map: every loaded object with code, from dl_iterate_phdr.
 *
 * Entries are append-only and never move or get freed, so a struct sl_module
 * pointer and an id stay valid for the life of the process. An object that
 * is unloaded stays in the table (no longer live); loaded again at the same
 * address from the same path, it gets its old id back. No malloc: entries
 * live in mmap'd chunks. */
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "locks.h"
#include "log.h"
#include "modules.h"
#include "stack.h"

struct sl_mod_slot {
    struct sl_module m;
    uint64_t seen; /* scan number that last saw it loaded */
};

#define SL_MOD_CHUNK 32u
#define SL_MOD_DIR 256u /* up to 8192 modules per process */

static struct sl_mod_slot *sl_mod_dir[SL_MOD_DIR];
/* Published with release after the entry is complete: sl_modules_get and a
 * fork child (which may inherit a scan cut short) read it without the lock. */
static _Atomic uint32_t sl_mod_count;
static uint64_t sl_mod_scan; /* scans done; 0: never */
SL_FORKED static unsigned long long sl_mod_adds = ~0ull, sl_mod_subs = ~0ull;
static char sl_mod_exe[PATH_MAX]; /* /proc/self/exe, read once */
static int sl_mod_full_warned;

#define SL_MOD_LOCK() SL_LOCK(SL_LK_MODULES)
#define SL_MOD_UNLOCK() SL_UNLOCK(SL_LK_MODULES)

static struct sl_mod_slot *sl_mod_slot(uint32_t id)
{
    return &sl_mod_dir[id / SL_MOD_CHUNK][id % SL_MOD_CHUNK];
}

/* Executable PT_LOAD span of an object; 0 when it has no code. */
static int sl_text_span(const struct dl_phdr_info *info, uintptr_t *lo, uintptr_t *hi)
{
    *lo = UINTPTR_MAX;
    *hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X) || ph->p_memsz == 0)
            continue;
        uintptr_t s = info->dlpi_addr + ph->p_vaddr, e = s + ph->p_memsz;
        if (s < *lo)
            *lo = s;
        if (e > *hi)
            *hi = e;
    }
    return *hi != 0;
}

/* NT_GNU_BUILD_ID from the object's PT_NOTE segments, read in memory (they
 * are part of a loaded segment), as lowercase hex into out; "" when absent. */
static void sl_build_id(const struct dl_phdr_info *info, char *out, size_t outsz)
{
    static const char hex[] = "0123456789abcdef";
    out[0] = '\0';
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        size_t align = ph->p_align == 8 ? 8 : 4;
        const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr);
        const char *end = p + ph->p_memsz;
        while ((size_t)(end - p) >= sizeof(ElfW(Nhdr))) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            size_t namesz = (nh->n_namesz + align - 1) & ~(align - 1);
            size_t descsz = (nh->n_descsz + align - 1) & ~(align - 1);
            const char *name = p + sizeof(*nh);
            const unsigned char *desc = (const unsigned char *)name + namesz;
            if (namesz > (size_t)(end - name) || descsz > (size_t)(end - (const char *)desc))
                break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 &&
                nh->n_descsz > 0 && 2 * (size_t)nh->n_descsz < outsz) {
                for (size_t k = 0; k < nh->n_descsz; k++) {
                    out[2 * k] = hex[desc[k] >> 4];
                    out[2 * k + 1] = hex[desc[k] & 15];
                }
                out[2 * nh->n_descsz] = '\0';
                return;
            }
            p = (const char *)desc + descsz;
        }
    }
}

/* Append a module; NULL when the table is full or out of memory. */
static struct sl_mod_slot *sl_mod_append(void)
{
    uint32_t id = atomic_load_explicit(&sl_mod_count, memory_order_relaxed);
    uint32_t chunk = id / SL_MOD_CHUNK;
    if (chunk >= SL_MOD_DIR) {
        if (!sl_mod_full_warned++)
            sl_warn("module map full (%u modules): frames in newer modules are not mapped", id);
        return NULL;
    }
    if (!sl_mod_dir[chunk]) {
        void *p = mmap(NULL, SL_MOD_CHUNK * sizeof(struct sl_mod_slot), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return NULL;
        sl_mod_dir[chunk] = p;
    }
    struct sl_mod_slot *s = sl_mod_slot(id);
    memset(s, 0, sizeof(*s));
    s->m.id = id;
    return s;
}

struct sl_scan {
    int index;
};

/* Runs under the loader lock: no dlopen, no malloc; readlink is a syscall. */
static int sl_scan_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct sl_scan *sc = arg;
    int first = sc->index++ == 0;
    char pathbuf[PATH_MAX];
    const char *path = info->dlpi_name;
    uintptr_t lo, hi;

    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs) && first) {
        sl_mod_adds = info->dlpi_adds;
        sl_mod_subs = info->dlpi_subs;
    }
    if (!sl_text_span(info, &lo, &hi))
        return 0;
    if (!path || !path[0]) {
        if (!first) /* only the main program is nameless */
            return 0;
        if (!sl_mod_exe[0]) {
            ssize_t n = readlink("/proc/self/exe", sl_mod_exe, sizeof(sl_mod_exe) - 1);
            if (n <= 0)
                return 0;
            sl_mod_exe[n] = '\0';
        }
        path = sl_mod_exe;
    } else if (strncmp(path, "linux-vdso", 10) == 0 || strncmp(path, "linux-gate", 10) == 0) {
        return 0;
    } else if (path[0] != '/') {
        /* A relative name (dlopen("./x.so"), LD_LIBRARY_PATH=.): resolve
         * against today's cwd, the best guess left. */
        if (realpath(path, pathbuf))
            path = pathbuf;
    }

    uint32_t count = atomic_load_explicit(&sl_mod_count, memory_order_relaxed);
    for (uint32_t id = 0; id < count; id++) {
        struct sl_mod_slot *s = sl_mod_slot(id);
        if (s->m.base == info->dlpi_addr && s->m.lo == lo && s->m.hi == hi &&
            strcmp(s->m.path, path) == 0) {
            s->seen = sl_mod_scan;
            return 0;
        }
    }
    struct sl_mod_slot *s = sl_mod_append();
    if (!s)
        return 0;
    s->m.base = info->dlpi_addr;
    s->m.lo = lo;
    s->m.hi = hi;
    size_t len = strnlen(path, sizeof(s->m.path) - 1);
    memcpy(s->m.path, path, len); /* the slot was zeroed: terminated */
    sl_build_id(info, s->m.build_id, sizeof(s->m.build_id));
    s->seen = sl_mod_scan;
    atomic_store_explicit(&sl_mod_count, count + 1, memory_order_release);
    return 0;
}

/* The loader's load/unload counters, from the first object only. */
static int sl_counters_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    unsigned long long *c = arg;
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
        c[0] = info->dlpi_adds;
        c[1] = info->dlpi_subs;
    }
    return 1;
}

unsigned long long sl_modules_loads(void)
{
    unsigned long long c[2] = {0, 0};
    dl_iterate_phdr(sl_counters_cb, c);
    return c[0];
}

/* Rescan when the loader's counters moved since the last scan. A miss with
 * unchanged counters cannot be cured by a rescan (the same objects would be
 * listed), so it is not attempted. Gate (shared) and module lock held. */
static void sl_mod_refresh(void)
{
    unsigned long long c[2] = {0, 0};
    if (sl_mod_scan != 0) {
        dl_iterate_phdr(sl_counters_cb, c);
        if (c[0] == sl_mod_adds && c[1] == sl_mod_subs)
            return;
    }
    struct sl_scan sc = {0};
    sl_mod_scan++;
    dl_iterate_phdr(sl_scan_cb, &sc);
}

static struct sl_module *sl_mod_lookup(uintptr_t pc)
{
    uint32_t count = atomic_load_explicit(&sl_mod_count, memory_order_relaxed);
    struct sl_module *edge = NULL, *gone = NULL;

    for (uint32_t id = 0; id < count; id++) {
        struct sl_mod_slot *s = sl_mod_slot(id);
        if (pc < s->m.lo || pc > s->m.hi)
            continue;
        if (s->seen != sl_mod_scan) {
            gone = &s->m; /* newest unloaded one wins: it held pc last */
        } else if (pc < s->m.hi) {
            return &s->m;
        } else {
            /* pc == hi: the return address of a call to a noreturn function
             * that ends the segment. */
            edge = &s->m;
        }
    }
    /* An unloaded module still explains a pc captured while it was mapped. */
    return edge ? edge : gone;
}

/* dl_iterate_phdr takes the loader lock: inside the fork gate, which comes
 * before the module lock in the order (locks.h). */
struct sl_module *sl_modules_find(uintptr_t pc)
{
    struct sl_module *m;
    int g = sl_guard_enter();
    uint32_t gate = SL_GATE_ENTER();
    SL_MOD_LOCK();
    sl_mod_refresh();
    m = sl_mod_lookup(pc);
    SL_MOD_UNLOCK();
    SL_GATE_LEAVE(gate);
    sl_guard_leave(g);
    return m;
}

struct sl_module *sl_modules_get(uint32_t id)
{
    if (id >= atomic_load_explicit(&sl_mod_count, memory_order_acquire))
        return NULL;
    return &sl_mod_slot(id)->m;
}

/* Fork child (the module lock was taken by prepare, so no scan was under
 * way): a new log, and a rescan on next use. */
SL_FORK_TEXT void sl_modules_reset_logged(void)
{
    sl_mod_adds = sl_mod_subs = ~0ull;
    sl_log_epoch++;
}

static pthread_once_t sl_self_once = PTHREAD_ONCE_INIT;
static uintptr_t sl_self_lo, sl_self_hi;

struct sl_self_query {
    uintptr_t addr;
};

static int sl_self_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    uintptr_t lo, hi, addr = ((struct sl_self_query *)arg)->addr;
    (void)size;
    if (sl_text_span(info, &lo, &hi) && addr >= lo && addr < hi) {
        sl_self_lo = lo;
        sl_self_hi = hi;
        return 1;
    }
    return 0;
}

static void sl_self_find(void)
{
    struct sl_self_query q = {(uintptr_t)&sl_modules_self_range};
    int g = sl_guard_enter();
    uint32_t gate = SL_GATE_ENTER();
    dl_iterate_phdr(sl_self_cb, &q);
    SL_GATE_LEAVE(gate);
    sl_guard_leave(g);
}

void sl_modules_self_range(uintptr_t *lo, uintptr_t *hi)
{
    pthread_once(&sl_self_once, sl_self_find);
    *lo = sl_self_lo;
    *hi = sl_self_hi;
}
