/* The finding line read without jansson (report/logread_fast.c). */
#ifndef SL_REPORT_LOGREAD_FAST_H
#define SL_REPORT_LOGREAD_FAST_H

#include "logread.h"

#include <stdbool.h>
#include <stddef.h>

/* Reads the finding record of len bytes at buf into f as report/logread.c's
 * jansson reading would, warnings aside: true when the line is a finding
 * exactly as the writer writes one and would give no warning; false (f
 * left empty) for anything else, which the caller reads with jansson. */
bool sl_logread_fast_scan(const char *buf, size_t len, struct sl_logread_finding *f);

/* Frees what a scanned finding holds. */
void sl_logread_fast_free(struct sl_logread_finding *f);

#endif
