/* `sockleak help options` and the key list of the top-level help. */
#include "libopts.h"
#include "sockleak_options.h"

#include <stdbool.h>
#include <string.h>

#define SL_LIBOPTS_WIDTH 80

struct sl_libopt {
    const char *name, *def, *desc;
    bool is_str; /* min and max are lengths */
    long min, max;
};

#define SL_LIBOPT_ROW(key, kind, def, min, max, desc)                                              \
    {#key, SL_OPTION_DEFAULT_TEXT_(key, kind, def, min, max, desc),                                \
     desc, SL_LIBOPT_IS_STR_##kind,                                                                \
     min,  max},
#define SL_LIBOPT_IS_STR_long false
#define SL_LIBOPT_IS_STR_int false
#define SL_LIBOPT_IS_STR_str true
static const struct sl_libopt sl_libopts[] = {SL_OPTION_TABLE(SL_LIBOPT_ROW)};
#define SL_LIBOPTS_N (sizeof sl_libopts / sizeof sl_libopts[0])

/* Writes the words of text from column *col on, a new line indented by
 * indent whenever the next word would pass the width. */
static void sl_libopts_words(FILE *out, const char *text, int indent, int *col)
{
    while (*text) {
        size_t n = strcspn(text, " ");
        if (*col > indent && *col + 1 + (int)n > SL_LIBOPTS_WIDTH) {
            fprintf(out, "\n%*s", indent, "");
            *col = indent;
        } else if (*col > indent) {
            fputc(' ', out);
            (*col)++;
        }
        fwrite(text, 1, n, out);
        *col += (int)n;
        text += n;
        text += strspn(text, " ");
    }
}

void sl_libopts_keys(FILE *out, const char *lead, const char *tail)
{
    int col = 0;
    char word[64];

    sl_libopts_words(out, lead, 0, &col);
    for (size_t i = 0; i < SL_LIBOPTS_N; i++) {
        snprintf(word, sizeof word, "%s%s", sl_libopts[i].name, i + 1 < SL_LIBOPTS_N ? "," : "");
        sl_libopts_words(out, word, 0, &col);
    }
    sl_libopts_words(out, tail, 0, &col);
    fputc('\n', out);
}

/* "(default: D; R)": D "empty" for an empty string, R "MIN to MAX", of
 * characters for a string. */
static void sl_libopts_default_range(FILE *out, const struct sl_libopt *o)
{
    fprintf(out, "(default: %s; ", o->def[0] ? o->def : "empty");
    if (o->is_str && o->min == 0)
        fprintf(out, "at most %ld characters)", o->max);
    else
        fprintf(out, "%ld to %ld%s)", o->min, o->max, o->is_str ? " characters" : "");
}

void sl_libopts_help(FILE *out)
{
    fputs("Usage: LD_PRELOAD=/path/to/libsockleak.so SOCKLEAK_OPTIONS=key=value:... PROGRAM\n"
          "The options of libsockleak.so for a program run without the tool: key=value\n"
          "pairs separated by ':' (`sockleak run` sets deadline_ms, output, frames,\n"
          "verbosity, at_exit, churn_share and run_id from its own options). An unknown\n"
          "key or a bad value prints a warning and keeps the default. Set-user-ID and\n"
          "set-group-ID programs ignore SOCKLEAK_OPTIONS.\n"
          "\n"
          "Keys:\n",
          out);
    for (size_t i = 0; i < SL_LIBOPTS_N; i++) {
        int col = 6;
        fprintf(out, "  %s ", sl_libopts[i].name);
        sl_libopts_default_range(out, &sl_libopts[i]);
        fprintf(out, "\n%*s", col, "");
        sl_libopts_words(out, sl_libopts[i].desc, col, &col);
        fputc('\n', out);
    }
}
