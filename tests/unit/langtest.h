/* What the language frame unit tests (test_pyframes, test_rubyframes,
 * test_perlframes) share: the library's definitions they link without
 * (weak, so the archive's win when pulled in), and the stack capture's test
 * knobs. Each embeds an interpreter that keeps memory until exit on
 * purpose, so LeakSanitizer is off. */
#ifndef SL_LANGTEST_H
#define SL_LANGTEST_H

#include <stdarg.h>
#include <stdio.h>

#include "options.h"
#include "rawsys.h"

/* The signal return trampoline lies in an object the frame readers can find:
 * libc's on x86-64, the vDSO on arm64. Not under qemu-user, which maps it
 * in a page of its own and gives no vDSO: a signal frame there cannot be
 * told, and the tests of it skip. */
static inline int sigreturn_findable(void)
{
    if (SL_SIGRETURN_IN_LIBC || SL_SIGRETURN_HOME() != 0)
        return 1;
    fprintf(stderr, "skipped: no vDSO (qemu-user?): the signal trampoline is in no object\n");
    return 0;
}

__attribute__((weak)) __thread int sl_in_lib __attribute__((tls_model("initial-exec")));
__attribute__((weak)) struct sl_options sl_opt = {.frames = 64, .verbosity = 1};
__attribute__((weak)) void sl_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("sockleak: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

const char *__asan_default_options(void)
{
    return "detect_leaks=0";
}

extern int sl_stack_skip_self;
extern int sl_stack_skip_frames;

#endif
