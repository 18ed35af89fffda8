/* SOCKLEAK_OPTIONS parsing. */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "options.h"
#include "stack.h"

struct sl_options sl_opt = {
    .deadline_ms = 5000, .frames = 32, .verbosity = 1, .output = "./sockleak-out", .run_id = ""};

enum sl_opt_kind { SL_OPT_LONG, SL_OPT_INT, SL_OPT_STR };

/* The one table of options: name, default, range and what it means. */
static const struct sl_opt_def {
    const char *name;
    const char *def;
    enum sl_opt_kind kind;
    long min, max; /* numbers: accepted range; strings: max length */
    size_t offset;
    const char *description;
} sl_opt_defs[] = {
    {"deadline_ms", "5000", SL_OPT_LONG, 1, 86400000, offsetof(struct sl_options, deadline_ms),
     "milliseconds a socket may stay open after end-of-stream before it is reported"},
    {"output", "./sockleak-out", SL_OPT_STR, 1, sizeof(sl_opt.output) - 1,
     offsetof(struct sl_options, output), "directory of the raw logs"},
    {"frames", "32", SL_OPT_INT, 1, SL_MAX_FRAMES, offsetof(struct sl_options, frames),
     "stack frames recorded per stack"},
    {"verbosity", "1", SL_OPT_INT, 0, 2, offsetof(struct sl_options, verbosity),
     "0 silent, 1 warnings, 2 one line per finding on stderr"},
    {"run_id", "", SL_OPT_STR, 0, sizeof(sl_opt.run_id) - 1, offsetof(struct sl_options, run_id),
     "tag written in the log header (set by `sockleak run`)"},
    {"unread_deadline_ms", "0", SL_OPT_LONG, 0, 86400000,
     offsetof(struct sl_options, unread_deadline_ms),
     "milliseconds a socket may sit in CLOSE_WAIT without its end-of-stream read before it is "
     "reported (the kernel-swept kinds); 0: deadline_ms"},
    {"sweep", "1", SL_OPT_INT, 0, 1, offsetof(struct sl_options, sweep),
     "0: no kernel sweep (no netlink socket; CLOSE_WAIT sockets are found only when a read "
     "returns their end-of-stream)"},
    {"at_exit", "0", SL_OPT_INT, 0, 1, offsetof(struct sl_options, at_exit),
     "1: at exit, report every socket still open after end-of-stream or in CLOSE_WAIT, "
     "whatever the deadline"},
    {"suppressions", "", SL_OPT_STR, 0, sizeof(sl_opt.suppressions) - 1,
     offsetof(struct sl_options, suppressions),
     "suppression rules file, named in the log header and applied by `sockleak report`"},
};
#define SL_NOPTS (sizeof sl_opt_defs / sizeof sl_opt_defs[0])

/* Store value (len bytes, not terminated) into the field; -1 when invalid. */
static int sl_opt_set(struct sl_options *o, const struct sl_opt_def *d, const char *value,
                      size_t len)
{
    char *field = (char *)o + d->offset;
    if (d->kind == SL_OPT_STR) {
        if (len < (size_t)d->min || len > (size_t)d->max)
            return -1;
        memcpy(field, value, len);
        field[len] = '\0';
        return 0;
    }
    char num[32];
    /* strtol would skip leading blanks; a value is digits with an optional sign. */
    if (len == 0 || len >= sizeof num || !(value[0] == '-' || (value[0] >= '0' && value[0] <= '9')))
        return -1;
    memcpy(num, value, len);
    num[len] = '\0';
    char *end;
    errno = 0;
    long v = strtol(num, &end, 10);
    if (errno || *end || v < d->min || v > d->max)
        return -1;
    if (d->kind == SL_OPT_LONG)
        *(long *)field = v;
    else
        *(int *)field = (int)v;
    return 0;
}

void sl_options_parse(struct sl_options *o, const char *text, void (*warn)(const char *fmt, ...))
{
    /* Every field has a default in the table: no need to clear the struct
     * (two path buffers, 8 KB) first. */
    for (size_t i = 0; i < SL_NOPTS; i++)
        sl_opt_set(o, &sl_opt_defs[i], sl_opt_defs[i].def, strlen(sl_opt_defs[i].def));
    if (!text)
        return;
    const char *p = text;
    while (*p) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0) {
            const char *eq = memchr(p, '=', len);
            size_t klen = eq ? (size_t)(eq - p) : len;
            const struct sl_opt_def *d = NULL;
            for (size_t i = 0; i < SL_NOPTS; i++)
                if (strlen(sl_opt_defs[i].name) == klen && !memcmp(sl_opt_defs[i].name, p, klen))
                    d = &sl_opt_defs[i];
            if (!d) {
                warn("SOCKLEAK_OPTIONS: unknown option '%.*s' ignored", (int)klen, p);
            } else if (!eq) {
                warn("SOCKLEAK_OPTIONS: option '%s' needs a value (%s=...); using the default %s",
                     d->name, d->name, d->def[0] ? d->def : "\"\"");
            } else {
                const char *v = eq + 1;
                size_t vlen = len - klen - 1;
                if (sl_opt_set(o, d, v, vlen) < 0) {
                    sl_opt_set(o, d, d->def, strlen(d->def));
                    if (d->kind == SL_OPT_STR)
                        warn("SOCKLEAK_OPTIONS: bad value '%.*s' for %s (%ld to %ld characters); "
                             "using the default \"%s\"",
                             (int)vlen, v, d->name, d->min, d->max, d->def);
                    else
                        warn("SOCKLEAK_OPTIONS: bad value '%.*s' for %s (an integer %ld..%ld); "
                             "using the default %s",
                             (int)vlen, v, d->name, d->min, d->max, d->def);
                }
            }
        }
        if (!end)
            break;
        p = end + 1;
    }
}
