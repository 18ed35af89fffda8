/* The proof, for `sockleak run`, that the library was loaded at all. */
#ifndef SL_LOADED_H
#define SL_LOADED_H

#include "sl.h"

/* When SOCKLEAK_OPTIONS has a run_id (sockleak run), makes the name
 * <output>/.<run_id>.loaded/<pid>.<comm>: a hard link to the run's .proto
 * file there (an empty directory when linking fails). One system call, no
 * descriptor, no thread, errno left as it was. The directory and .proto
 * are made by `sockleak run`; without them nothing is made. Call after the
 * options are parsed, once per process image. */
void sl_loaded_mark(void) SL_HIDDEN;

#endif
