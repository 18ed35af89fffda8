/* The library's SOCKLEAK_OPTIONS keys as the tool shows them, from the one
 * table in include/sockleak_options.h. */
#ifndef SL_REPORT_LIBOPTS_H
#define SL_REPORT_LIBOPTS_H

#include <stdio.h>

/* `sockleak help options`: every key with its default, range and meaning. */
void sl_libopts_help(FILE *out);

/* The keys' names after lead, separated by commas and wrapped at 80
 * columns, then tail; a line of its own after that. */
void sl_libopts_keys(FILE *out, const char *lead, const char *tail);

#endif
