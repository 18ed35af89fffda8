/* What the track*.c files share: the lazy binding of a hook's real
 * function, and the questions every phase asks. Internal to them. */
#ifndef SL_TRACK_INT_H
#define SL_TRACK_INT_H

#include <errno.h>
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
void sl_init_all(void) SL_HIDDEN;

/* Are we a vfork child sharing the parent's memory (its table included)?
 * (track.c) */
int sl_in_vfork_child(void) SL_HIDDEN;

/* The classification of fd, classified now if need be (sl_slot_class); a
 * stream socket classified now is counted and, for TCP, arms the sweep
 * (track_create.c). */
void sl_track_class(int fd, struct sl_slot *s, struct sl_class *c, uint32_t *gen, int verify) SL_HIDDEN;

#endif
