/* Binding of the real libc functions behind our hooks. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include "real.h"
#include "track.h"

struct sl_real_table sl_real;
__thread int sl_in_lib __attribute__((tls_model("initial-exec")));
int sl_pid;
long (*sl_real_syscall)(long, ...);

static pthread_once_t sl_real_once = PTHREAD_ONCE_INIT;

/* Symbols a libc may lack (older glibc, or not built with them). */
static int sl_real_optional(const char *name)
{
    return !strcmp(name, "__recv_chk") || !strcmp(name, "__recvfrom_chk") ||
           !strcmp(name, "__read_chk") || !strcmp(name, "fcntl64") ||
           !strcmp(name, "close_range") || !strcmp(name, "closefrom");
}

/* dlsym(RTLD_NEXT) and refuse anything inside our own object: calling that
 * would recurse forever. */
static void *sl_real_bind(const char *name, const void *self_base)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p) {
        if (sl_real_optional(name))
            return NULL;
        sl_fatal("cannot find the real '%s' (dlsym RTLD_NEXT: %s); is libsockleak.so "
                 "preloaded into a program without glibc?",
                 name, dlerror());
    }
    Dl_info info;
    if (dladdr(p, &info) && info.dli_fbase == self_base)
        sl_fatal("dlsym(RTLD_NEXT, \"%s\") returned sockleak's own hook; the library "
                 "must be loaded through LD_PRELOAD, not linked as a dependency",
                 name);
    return p;
}

static void sl_real_bind_all(void)
{
    int saved = errno;
    Dl_info self;
    const void *base = NULL;
    if (dladdr((void *)sl_real_bind_all, &self))
        base = self.dli_fbase;
#define SL_REAL_BIND(ret, name, params) sl_real.name = (ret(*) params)sl_real_bind(#name, base);
    SL_REAL_FUNCS(SL_REAL_BIND)
#undef SL_REAL_BIND
    __atomic_store_n(&sl_real_syscall, sl_real.syscall, __ATOMIC_RELEASE);
    errno = saved;
}

void sl_real_init(void)
{
    pthread_once(&sl_real_once, sl_real_bind_all);
}
