/* SOCKLEAK_OPTIONS: key=value pairs separated by ':' (sanitizer style).
 * The keys, defaults and ranges are the table of include/sockleak_options.h;
 * parsed once at init; an unknown key or bad value warns once and keeps the
 * default. Ignored (defaults) in setuid/setgid processes (secure_getenv). */
#ifndef SL_OPTIONS_H
#define SL_OPTIONS_H

#include "sl.h"
#include "sockleak_options.h"

/* One field a key, of the key's name: long, int, or a string of at most
 * max characters (output and suppressions are made absolute at init). The
 * numbers come first, together, the strings after them. */
#define SL_OPTION_NUMBER(key, kind, def, min, max, desc) SL_OPTION_NUMBER_##kind(key)
#define SL_OPTION_NUMBER_long(key) long key;
#define SL_OPTION_NUMBER_int(key) int key;
#define SL_OPTION_NUMBER_str(key)
#define SL_OPTION_STRING(key, kind, def, min, max, desc) SL_OPTION_STRING_##kind(key, max)
#define SL_OPTION_STRING_long(key, max)
#define SL_OPTION_STRING_int(key, max)
#define SL_OPTION_STRING_str(key, max) char key[(max) + 1];

struct sl_options {
    SL_OPTION_TABLE(SL_OPTION_NUMBER)
    SL_OPTION_TABLE(SL_OPTION_STRING)
};

extern struct sl_options sl_opt SL_HIDDEN;

/* Parse `text` (may be NULL) into *o, starting from the defaults. Every
 * problem is reported through warn (one line each). Pure: no globals. */
void sl_options_parse(struct sl_options *o, const char *text,
                      void (*warn)(const char *fmt, ...)) SL_HIDDEN;

#endif
