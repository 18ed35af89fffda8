/* Whether `sockleak run` watched anything: the program file's own verdict
 * (static, Go, musl, set-ID) and the markers the library leaves when it is
 * loaded (preload/loaded.c), so that an unwatched run never reads as
 * "no leaks". */
#ifndef SL_REPORT_WATCH_H
#define SL_REPORT_WATCH_H

#include "elfinfo.h"
#include "logread.h"

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

struct sl_watch_entry {
    char *program;
    long pid;     /* 0: not known */
    bool loaded;  /* the library was loaded, but cannot see its calls (Go) */
    char *reason; /* "it is ...", for "PROGRAM was not watched: REASON" */
};

struct sl_watch {
    bool watched;  /* at least one process loaded the library and can be seen */
    size_t loaded; /* process images that left a load marker */
    struct sl_watch_entry *unwatched;
    size_t n_unwatched;
};

struct sl_watch_input {
    const char *program; /* PROGRAM as given to run */
    const struct sl_elfinfo *elf;
    pid_t child;            /* the direct child */
    const char *child_comm; /* its name when it exited ("" when unknown) */
    const struct sl_logread_set *logs;
};

/* <outdir>/.<run_id>.loaded, malloc'd: where this run's markers go. */
char *sl_watch_dir(const char *outdir, const char *run_id);

/* Makes dir and its .proto file, the one every marker links to; both
 * world-writable (sticky) as root, for processes that dropped privileges.
 * 0, or -1 with errno set. */
int sl_watch_prepare(const char *dir);

/* Removes dir once empty but for .proto (a run that never started). */
void sl_watch_remove(const char *dir);

/* Decides from the markers in dir, then removes them and dir (what a
 * descendant still running adds later stays; the log reader skips it). */
void sl_watch_decide(struct sl_watch *w, const char *dir, const struct sl_watch_input *in);

/* One line on out about what was not watched; nothing when all was. */
void sl_watch_print(FILE *out, const struct sl_watch *w);

void sl_watch_free(struct sl_watch *w);

#endif
