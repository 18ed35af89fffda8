/* Binding of the real libc functions behind our hooks. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include "real.h"

struct sl_real_table sl_real;
__thread int sl_in_lib __attribute__((tls_model("initial-exec")));
SL_FORKED int sl_pid;
/* A clone() made a thread glibc does not count (track.c sets it). */
int sl_raw_clones;
long (*sl_real_syscall)(long, ...);

static pthread_once_t sl_real_once = PTHREAD_ONCE_INIT;

/* Our own object's extent, from symbols the linker defines in every object:
 * a bound pointer inside it is one of our hooks. (dladdr would tell too, but
 * it scans libc's symbol table: ~90k instructions a call, at every start.) */
extern const char __ehdr_start[] __attribute__((visibility("hidden")));
extern const char _end[] __attribute__((visibility("hidden")));

/* dlsym(RTLD_NEXT) and refuse anything inside our own object: calling that
 * would recurse forever. */
static void *sl_real_bind(const char *name, int optional)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p) {
        if (optional)
            return NULL;
        sl_fatal("cannot find the real '%s' (dlsym RTLD_NEXT: %s); is libsockleak.so "
                 "preloaded into a program without glibc?",
                 name, dlerror());
    }
    if ((const char *)p >= __ehdr_start && (const char *)p < _end)
        sl_fatal("dlsym(RTLD_NEXT, \"%s\") returned sockleak's own hook; the library "
                 "must be loaded through LD_PRELOAD, not linked as a dependency",
                 name);
    return p;
}

static void sl_real_bind_all(void)
{
    int saved = errno;
#define SL_REAL_BIND(ret, name, params, args, opt)                                                 \
    sl_real.name = (ret(*) params)sl_real_bind(#name, SL_HOOK_##opt);
    SL_HOOKS(SL_REAL_BIND)
#undef SL_REAL_BIND
    __atomic_store_n(&sl_real_syscall, sl_real.syscall, __ATOMIC_RELEASE);
    errno = saved;
}

void sl_real_init(void)
{
    pthread_once(&sl_real_once, sl_real_bind_all);
}

void sl_real_bind_one(void **fn, const char *name, int optional)
{
    if (__atomic_load_n(fn, __ATOMIC_ACQUIRE))
        return;
    int saved = errno;
    void *p = sl_real_bind(name, optional);
    /* Two threads may both get here: they store the same pointer. */
    __atomic_store_n(fn, p, __ATOMIC_RELEASE);
    if (fn == (void **)&sl_real.syscall)
        __atomic_store_n(&sl_real_syscall, sl_real.syscall, __ATOMIC_RELEASE);
    errno = saved;
}
