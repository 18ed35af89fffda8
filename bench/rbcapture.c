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

#include <stdio.h>
#include <stdlib.h>

#include "capture.h"

static long count;
static double ruby_ns;

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
