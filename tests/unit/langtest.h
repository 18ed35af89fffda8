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
