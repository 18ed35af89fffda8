/* The raw logs under a list of paths, re-read incrementally (`sockleak
 * serve`): each file is remembered by path with its device, inode and the
 * offset read so far; a scan parses only the whole lines appended since the
 * last one, picks up new files in the directories, reads a truncated or
 * replaced file again from its start and forgets files that are gone. */
#ifndef SL_REPORT_LOGSCAN_H
#define SL_REPORT_LOGSCAN_H

#include "logread.h"

#include <stddef.h>

struct sl_logscan_file;

struct sl_logscan {
    char *const *paths; /* borrowed */
    size_t n_paths;
    struct sl_logscan_file *files; /* by path */
    unsigned gen;                  /* scans so far */
};

void sl_logscan_init(struct sl_logscan *s, char *const *paths, size_t n_paths);

/* Reads what was appended to the logs since the last scan. Problems are
 * warnings on stderr, each said once per file; returns -1 when a PATH
 * itself cannot be read (it may appear later), else 0. */
int sl_logscan_update(struct sl_logscan *s);

/* Every process read so far, in path order (malloc'd array, *n entries),
 * valid until the next update. */
const struct sl_logread_process **sl_logscan_procs(struct sl_logscan *s, size_t *n);

/* Files known, and the bytes read of them (for tests and messages). */
size_t sl_logscan_files(const struct sl_logscan *s, uint64_t *bytes);

void sl_logscan_free(struct sl_logscan *s);

#endif
