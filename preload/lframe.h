/* Language frames: frames of the program's own language (Python, JavaScript,
 * Java, Ruby, Perl) kept in captured stacks next to native pcs.
 *
 * A language frame is interned once per process as (lang, function, file,
 * line) and stands in a stack as a tagged value: SL_LFRAME_TAG | id. Tagged
 * values are above any user address of x86-64 or aarch64 (48 bits at most),
 * so no real pc is ever one. The
 * depot stores and de-duplicates such stacks like any other; the log writer
 * writes a "frame" record per id before the first stack naming it, and the
 * frame as [-2, id] (format/sockleak_log.h). */
#ifndef SL_LFRAME_H
#define SL_LFRAME_H

#include <stdint.h>
#include "sl.h"

enum sl_lang {
    SL_LANG_PYTHON = 1,
    SL_LANG_JS = 2,
    SL_LANG_JAVA = 3,
    SL_LANG_RUBY = 4,
    SL_LANG_PERL = 5
};

#define SL_LFRAME_TAG ((uintptr_t)0xfffe000000000000ull)
#define SL_LFRAME_MASK ((uintptr_t)0xffff000000000000ull)
#define SL_LFRAME_IS(pc) (((uintptr_t)(pc)&SL_LFRAME_MASK) == SL_LFRAME_TAG)
#define SL_LFRAME_ID(pc) ((uint32_t)((uintptr_t)(pc)&0xffffffffu))

/* Longest function or file name kept (bytes, UTF-8); longer ones are cut at
 * a character boundary. */
#define SL_LFRAME_NAME_MAX 512

struct sl_lframe {
    uint32_t id;  /* 1.. */
    uint8_t lang; /* enum sl_lang */
    uint32_t logged; /* log epoch its record was written in (log.h) */
    int line;     /* 0 when unknown */
    const char *function;
    const char *file;
};

/* The tagged pc of frame (lang, function, file, line), interning it on first
 * use; 0 when memory runs out. Strings are copied (NULL means ""). Allocates
 * only from the depot's mmap arena: safe inside hooks and signal handlers
 * that interrupted no code of ours. Takes the depot lock; call with the
 * re-entry guard set and no lock of ours held. */
uintptr_t sl_lframe_intern(enum sl_lang lang, const char *function, const char *file,
                           int line) SL_HIDDEN;

/* The frame a tagged pc names, or NULL. Valid for the life of the process. */
struct sl_lframe *sl_lframe_get(uintptr_t pc) SL_HIDDEN;

/* "python", "javascript", "java", "ruby", "perl". */
const char *sl_lframe_lang_name(int lang) SL_HIDDEN;

#endif
