/* SOCKLEAK_OPTIONS parsing. */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "options.h"
#include "stack.h"

/* Before init: the table's defaults, but for the sweep, off until init
 * has read whether it may open its netlink socket. */
#define SL_OPTION_INIT(key, kind, def, min, max, desc) .key = def,
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
struct sl_options sl_opt = {SL_OPTION_TABLE(SL_OPTION_INIT).sweep = 0};
#pragma GCC diagnostic pop

enum sl_opt_kind { SL_OPT_LONG, SL_OPT_INT, SL_OPT_STR };

/* include/sockleak_options.h's table, with where each value goes. */
static const struct sl_opt_def {
    const char *name;
    const char *def;
    enum sl_opt_kind kind;
    long min, max; /* numbers: accepted range; strings: length */
    size_t offset;
} sl_opt_defs[] = {
#define SL_OPTION_DEF(key, kind, def, min, max, desc)                                              \
    {#key,                                                                                         \
     SL_OPTION_DEFAULT_TEXT_(key, kind, def, min, max, desc),                                      \
     SL_OPT_KIND_##kind,                                                                           \
     min,                                                                                          \
     max,                                                                                          \
     offsetof(struct sl_options, key)},
#define SL_OPT_KIND_long SL_OPT_LONG
#define SL_OPT_KIND_int SL_OPT_INT
#define SL_OPT_KIND_str SL_OPT_STR
    SL_OPTION_TABLE(SL_OPTION_DEF)};
#define SL_NOPTS (sizeof sl_opt_defs / sizeof sl_opt_defs[0])

_Static_assert(SL_OPTION_MAX(frames) <= SL_MAX_FRAMES, "frames= beyond the stack capture's array");

/* Each default within its own range: the parser starts from the defaults
 * and would keep a zeroed field for one it refuses. */
#define SL_OPTION_IN_RANGE(key, kind, def, min, max, desc)                                         \
    _Static_assert(SL_OPTION_IN_RANGE_##kind(def, min, max),                                       \
                   "the default of " #key " is out of range");
#define SL_OPTION_IN_RANGE_long(def, min, max) (def) >= (min) && (def) <= (max)
#define SL_OPTION_IN_RANGE_int(def, min, max) (def) >= (min) && (def) <= (max)
#define SL_OPTION_IN_RANGE_str(def, min, max) sizeof(def) - 1 >= (min) && sizeof(def) - 1 <= (max)
SL_OPTION_TABLE(SL_OPTION_IN_RANGE)

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

/* One item of SOCKLEAK_OPTIONS, "key=value" (len bytes at p, not
 * terminated), into *o; a problem is one warning and the key's default. */
static void sl_opt_item(struct sl_options *o, const char *p, size_t len,
                        void (*warn)(const char *fmt, ...))
{
    const char *eq = memchr(p, '=', len);
    size_t klen = eq ? (size_t)(eq - p) : len;
    const struct sl_opt_def *d = NULL;
    for (size_t i = 0; i < SL_NOPTS; i++)
        if (strlen(sl_opt_defs[i].name) == klen && !memcmp(sl_opt_defs[i].name, p, klen))
            d = &sl_opt_defs[i];
    if (!d) {
        warn("SOCKLEAK_OPTIONS: unknown option '%.*s' ignored", (int)klen, p);
        return;
    }
    if (!eq) {
        warn("SOCKLEAK_OPTIONS: option '%s' needs a value (%s=...); using the default %s", d->name,
             d->name, d->def[0] ? d->def : "\"\"");
        return;
    }
    const char *v = eq + 1;
    size_t vlen = len - klen - 1;
    /* at_exit=all is at_exit=2: every socket still open. */
    if (strcmp(d->name, "at_exit") == 0 && vlen == 3 && memcmp(v, "all", 3) == 0) {
        v = "2";
        vlen = 1;
    }
    if (sl_opt_set(o, d, v, vlen) == 0)
        return;
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
        if (len > 0)
            sl_opt_item(o, p, len, warn);
        if (!end)
            break;
        p = end + 1;
    }
}
