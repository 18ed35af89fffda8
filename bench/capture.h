/* What the capture benches (pycapture, rbcapture, plcapture) share: the
 * library's definitions they link without (weak: the archive's win when
 * pulled in), and the timed loop of captures. */
#ifndef SL_BENCH_CAPTURE_H
#define SL_BENCH_CAPTURE_H

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "options.h"
#include "stack.h"

__attribute__((weak)) __thread int sl_in_lib __attribute__((tls_model("initial-exec")));
__attribute__((weak)) struct sl_options sl_opt = {.frames = 32, .verbosity = 1};
__attribute__((weak)) void sl_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Frames of the language the "deep" capture runs under. */
#define DEPTH 10

static volatile uint32_t sink;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* ns per capture of the calling stack, over n after a warm-up (libunwind's
 * cache, the depot: every capture then finds its stack stored). */
__attribute__((noinline)) static double captures(long n)
{
    for (int i = 0; i < 200; i++)
        sink = sl_stack_capture();
    double t0 = now_ns();
    for (long i = 0; i < n; i++)
        sink = sl_stack_capture();
    return (now_ns() - t0) / (double)n;
}

#endif
