/* SOCKLEAK_OPTIONS: key=value pairs separated by ':' (sanitizer style).
 * One table of {name, default, description}; parsed once at init; an unknown
 * key or bad value warns once and keeps the default. Ignored (defaults) in
 * setuid/setgid processes (secure_getenv). */
#ifndef SL_OPTIONS_H
#define SL_OPTIONS_H

#include "sl.h"

struct sl_options {
    long deadline_ms;   /* deadline_ms, default 5000, 1..86400000 */
    int frames;         /* frames, default 32, 1..SL_MAX_FRAMES */
    int verbosity;      /* verbosity, default 1: 0 silent, 1 warnings, 2 info */
    char output[4096];  /* output, default ./sockleak-out, made absolute at init */
    char run_id[64];    /* run_id, default "": set by `sockleak run` */
    char suppressions[4096]; /* suppressions, default "": rules file, made absolute */
    long unread_deadline_ms; /* unread_deadline_ms, default 0 (deadline_ms), 0..86400000 */
    int at_exit;             /* at_exit, default 0: report what is open at exit */
    int sweep;               /* sweep, default 1: the kernel sweep of CLOSE_WAIT sockets */
};

extern struct sl_options sl_opt SL_HIDDEN;

/* Parse `text` (may be NULL) into *o, starting from the defaults. Every
 * problem is reported through warn (one line each). Pure: no globals. */
void sl_options_parse(struct sl_options *o, const char *text,
                      void (*warn)(const char *fmt, ...)) SL_HIDDEN;

#endif
