/* The proof, for `sockleak run`, that the library was loaded at all. */
#ifndef SL_LOADED_H
#define SL_LOADED_H

#include "sl.h"

/* When SOCKLEAK_OPTIONS has a run_id (sockleak run), makes the empty
 * directory <output>/.<run_id>.loaded/<pid>.<comm>: one mkdir, no descriptor,
 * no thread, errno left as it was. The run's own directory is made by
 * `sockleak run`; without it nothing is made. Call after the options are
 * parsed, once per process image. */
void sl_loaded_mark(void) SL_HIDDEN;

#endif
