/* The process's module map (dl_iterate_phdr): which loaded object holds a pc,
 * so stacks are logged as (module id, offset) and symbolized offline. Used by
 * the log writer on the reaper thread, never inside a hook. */
#ifndef SL_MODULES_H
#define SL_MODULES_H

#include <limits.h>
#include <stdint.h>
#include "sl.h"

struct sl_module {
    uint32_t id;              /* stable for the life of the process */
    uintptr_t base;           /* load bias, dlpi_addr */
    uintptr_t lo, hi;         /* executable PT_LOAD range [lo, hi) */
    char path[PATH_MAX];      /* absolute; the main program via /proc/self/exe */
    char build_id[2 * 64 + 1];/* lowercase hex from NT_GNU_BUILD_ID, "" none */
    uint32_t logged;          /* the log epoch its record was written in (log.h) */
};

/* Find the module holding pc; refreshes the map when pc is unknown or the
 * loader's dlpi_adds/dlpi_subs changed. Returns the module, or NULL (then the
 * frame is logged with module id -1 and the raw pc). Not async-signal-safe. */
struct sl_module *sl_modules_find(uintptr_t pc) SL_HIDDEN;
struct sl_module *sl_modules_get(uint32_t id) SL_HIDDEN;
/* Fork child: a new log file, so every module (and language frame) must be
 * logged again: a new log epoch. */
void sl_modules_reset_logged(void) SL_HIDDEN;
/* The loader's count of objects loaded so far (dlpi_adds): it moves at each
 * dlopen that loads something. No system call. */
unsigned long long sl_modules_loads(void) SL_HIDDEN;
/* The [lo, hi) range of libsockleak.so's own code (frames to skip). */
void sl_modules_self_range(uintptr_t *lo, uintptr_t *hi) SL_HIDDEN;

#endif
