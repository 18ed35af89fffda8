/* The cost of one stack capture (sl_stack_capture: unwind, splice, store),
 * native and under Perl frames. Linked with the library's internals and the
 * installed perl 5.36 (libperl); prints
 *     native NS_PER_CAPTURE
 *     perl DEPTH NS_PER_CAPTURE
 * "native": from C code, in a process with Perl loaded. "perl": from an XS
 * function called DEPTH Perl subs deep, the frames read and interned in
 * every capture. Every capture is of the same stack, so the depot finds it
 * stored: unwinding and splicing are what is timed. */
#include <EXTERN.h>
#include <perl.h>
#include <XSUB.h>

#include <stdio.h>
#include <stdlib.h>

#include "capture.h"

static PerlInterpreter *my_perl;
static long count;
static double perl_ns;

static void XS_captures(pTHX_ CV *cv)
{
    dXSARGS;
    PERL_UNUSED_ARG(cv);
    PERL_UNUSED_VAR(items);
    perl_ns = captures(count);
    XSRETURN_EMPTY;
}

static void xs_init(pTHX)
{
    newXS("main::captures", XS_captures, __FILE__);
}

int main(int argc, char **argv, char **env)
{
    count = argc > 1 ? atol(argv[1]) : 100000;
    char *pargv[] = {"", "-e",
                     "sub nest { my $k = shift; $k <= 1 ? captures() : nest($k - 1) }\n"
                     "nest(10);\n",
                     NULL};
    PERL_SYS_INIT3(&argc, &argv, &env);
    my_perl = perl_alloc();
    perl_construct(my_perl);
    if (perl_parse(my_perl, xs_init, 3, pargv, NULL) != 0) {
        fprintf(stderr, "plcapture: the Perl code did not parse\n");
        return 1;
    }
    printf("native %.1f\n", captures(count));
    if (perl_run(my_perl) != 0) {
        fprintf(stderr, "plcapture: the Perl code failed\n");
        return 1;
    }
    printf("perl %d %.1f\n", DEPTH, perl_ns);
    perl_destruct(my_perl);
    perl_free(my_perl);
    PERL_SYS_TERM();
    return 0;
}
