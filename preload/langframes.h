/* Language frame providers: one per runtime whose frames a captured stack
 * carries in place of the runtime's own native frames (Python today; Java,
 * Ruby and Perl add one each). Each answers, inside a hook on the program's
 * own thread: "which native frames of this stack are yours, and what are
 * this thread's frames of your language?", and splices its frames (interned
 * language frames, lframe.h) where its native frames were.
 *
 * Adding a language is one file with its provider and its tests, and one
 * line in sl_lang_providers[] (stack.c). Every function is called with the
 * re-entry guard set and no lock of ours held; none may allocate with
 * malloc, take a lock of the runtime, or run the runtime's code. */
#ifndef SL_LANGFRAMES_H
#define SL_LANGFRAMES_H

#include <stdint.h>
#include "sl.h"

struct sl_lang_provider {
    const char *name;
    /* Once, from the stack prime: find the runtime in this process. Returns
     * 1 when it is there (the provider is then active), else 0. */
    int (*init)(void);
    /* Is pc (a return address) one of the runtime's frames that run
     * language code, the frames splice replaces? */
    int (*owns)(uintptr_t pc);
    /* in[0..n) (innermost first) into out (at most max) with the runtime's
     * frames replaced by the language frames they run. Returns the number
     * written; may return a plain copy when the thread's frames cannot be
     * read. */
    int (*splice)(const uintptr_t *in, int n, uintptr_t *out, int max);
    /* Native frames to unwind so that `want` remain after splicing. */
    int (*native_depth)(int want);
};

/* The Python provider (pyframes.c). */
extern const struct sl_lang_provider sl_lang_python SL_HIDDEN;
/* The Ruby provider (rubyframes.c). */
extern const struct sl_lang_provider sl_lang_ruby SL_HIDDEN;
/* The Perl provider (perlframes.c). */
extern const struct sl_lang_provider sl_lang_perl SL_HIDDEN;
/* The Java provider (javaframes.c): active once the JVM's agent registered. */
extern const struct sl_lang_provider sl_lang_java SL_HIDDEN;

/* Make p active after the stack prime (stack.c): for a runtime that makes
 * itself known later. Primes first; adding one already active does nothing. */
void sl_stack_lang_activate(const struct sl_lang_provider *p) SL_HIDDEN;

#endif
