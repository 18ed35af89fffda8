/* The real libc functions behind our hooks, generated from one list (hooklist.h) and bound
 * once with dlsym(RTLD_NEXT) (sl_real_init, from the constructor and lazily
 * from any hook reached first). Our own code calls these, never the hooked
 * names, so it never re-enters a hook. */
#ifndef SL_REAL_H
#define SL_REAL_H

#include "hooklist.h"
#include "sl.h"

struct sl_real_table {
#define SL_REAL_FIELD(ret, name, params, args, opt) ret(*name) params;
    SL_HOOKS(SL_REAL_FIELD)
#undef SL_REAL_FIELD
};

extern struct sl_real_table sl_real SL_HIDDEN;

/* Bind every entry (pthread_once). A missing required symbol, or dlsym
 * handing back our own hook, is one clear fatal message. Start-up binds
 * nothing: a hook binds its own function when first called
 * (sl_real_bind_one), and the library's own work (a socket to follow, an
 * end-of-stream) binds them all first, since it calls many. */
void sl_real_init(void) SL_HIDDEN;
/* sl_real_optional_<name>: 1 for a symbol the libc may lack. */
enum {
#define SL_REAL_OPTIONAL(ret, name, params, args, opt) sl_real_optional_##name = SL_HOOK_##opt,
    SL_HOOKS(SL_REAL_OPTIONAL)
#undef SL_REAL_OPTIONAL
};

/* Bind *fn, the entry for name, unless bound already (NULL when an optional
 * symbol is missing). */
void sl_real_bind_one(void **fn, const char *name, int optional) SL_HIDDEN;

#endif
