/* The cost of one stack capture (sl_stack_capture: unwind, splice, store),
 * native and under Ruby frames. Linked with the library's internals and
 * the installed CRuby 3.1; prints
 *     native NS_PER_CAPTURE
 *     ruby DEPTH NS_PER_CAPTURE
 * "native": from C code, in a process with Ruby loaded (what a C caller
 * pays: one range check more). "ruby": from a C method called DEPTH Ruby
 * frames deep, the frames read and interned in every capture. Every
 * capture is of the same stack, so the depot finds it stored: unwinding
 * and splicing are what is timed. */
#include <ruby.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "options.h"
#include "stack.h"

/* Defined by files the archive may or may not pull in: weak here. */
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

#define DEPTH 10

static volatile uint32_t sink;
static long count;
static double ruby_ns;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

__attribute__((noinline)) static double captures(long n)
{
    for (int i = 0; i < 200; i++) /* warm-up: libunwind's cache, the depot */
        sink = sl_stack_capture();
    double t0 = now_ns();
    for (long i = 0; i < n; i++)
        sink = sl_stack_capture();
    return (now_ns() - t0) / (double)n;
}

static VALUE rb_captures(VALUE self)
{
    (void)self;
    ruby_ns = captures(count);
    return Qnil;
}

int main(int argc, char **argv)
{
    count = argc > 1 ? atol(argv[1]) : 100000;
    ruby_setup();
    printf("native %.1f\n", captures(count));
    rb_define_global_function("captures", rb_captures, 0);
    int err = 0;
    rb_eval_string_protect("def nest(k) = k <= 1 ? captures : nest(k - 1)\n"
                           "nest(10)\n",
                           &err);
    if (err) {
        fprintf(stderr, "rbcapture: the Ruby code failed\n");
        return 1;
    }
    printf("ruby %d %.1f\n", DEPTH, ruby_ns);
    ruby_cleanup(0);
    return 0;
}
