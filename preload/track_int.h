/* What the track*.c files share: the lazy binding of a hook's real
 * function, and the questions every phase asks. Internal to them. */
#ifndef SL_TRACK_INT_H
#define SL_TRACK_INT_H

#include <errno.h>
#include <unistd.h>
#include "fdtable.h"
#include "real.h"
#include "track.h"

/* Bind the real function `name` before its first use from a hook. */
#define SL_ENSURE(name)                                                                            \
    do {                                                                                           \
        if (SL_UNLIKELY(!sl_real.name))                                                            \
            sl_ensure_real((void *const *)&sl_real.name, #name, sl_real_optional_##name);         \
    } while (0)

void sl_ensure_real(void *const *fn, const char *name, int optional) SL_HIDDEN;

/* Before the library's own work (it calls many real functions). */
static inline void sl_init_all(void)
{
    sl_init();
    sl_real_init();
}

/* Are we a vfork child sharing the parent's memory (its table included)?
 * vfork() sets this thread's flag (vfork.S): no system call. Only after the
 * program made a process some other way (clone(), or syscall() with a clone,
 * fork or vfork number) is the real pid compared with the cached one, one
 * getpid each time; processes made by such a raw clone without CLONE_VM
 * then answer yes too: their table is a private copy, left as it was. The
 * children of posix_spawn, popen and system make no call that reaches us. */
static inline int sl_in_vfork_child(void)
{
    if (SL_UNLIKELY(sl_vfork_child))
        return 1;
    if (SL_LIKELY(!__atomic_load_n(&sl_raw_clones, __ATOMIC_RELAXED)) || !sl_pid)
        return 0;
    return getpid() != (pid_t)sl_pid;
}

/* A tracked stream socket classified by its first use: counted and, for
 * TCP, the sweep armed (track_create.c). */
void sl_track_classified(const struct sl_class *c) SL_HIDDEN;

/* The classification of fd, classified now if need be (sl_slot_class). */
static inline void sl_track_class(int fd, struct sl_slot *s, struct sl_class *c, uint32_t *gen,
                                  int verify)
{
    if (sl_slot_class(fd, s, c, gen, verify))
        sl_track_classified(c);
}

#endif
