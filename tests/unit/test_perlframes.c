/* Unit tests of preload/perlframes.c against the installed perl 5.36
 * (libperl-dev): the built-in layout equals the headers' offsetof and
 * constants, and a stack captured under Perl code (an embedded
 * interpreter, the capture made by an XS function) holds that code's subs,
 * evals and lines in place of the interpreter's run loop; and the report's
 * rule for which Perl frames are the user's. */
#include <EXTERN.h>
#include <perl.h>
#include <XSUB.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <execinfo.h>

#include "langtest.h"
#include "lframe.h"
#include "options.h"
#include "perlframes.h"
#include "stack.h"
#include "usercode.h"

static PerlInterpreter *my_perl;

static void test_layout_is_the_headers(void **state)
{
    (void)state;
    const struct sl_pl_layout *l =
        sl_pl_builtin_layout(PERL_REVISION, PERL_VERSION, PERL_SUBVERSION);
    assert_non_null(l);
    assert_int_equal(l->revision, PERL_REVISION);
    assert_int_equal(l->version, PERL_VERSION);
    assert_int_equal(l->subversion, PERL_SUBVERSION);
    assert_string_equal(l->bincompat, PL_bincompat_options);
    assert_int_equal(l->in_curcop, offsetof(PerlInterpreter, Icurcop));
    assert_int_equal(l->in_curstackinfo, offsetof(PerlInterpreter, Icurstackinfo));
    assert_int_equal(l->in_compiling, offsetof(PerlInterpreter, Icompiling));
    assert_int_equal(l->si_cxstack, offsetof(PERL_SI, si_cxstack));
    assert_int_equal(l->si_prev, offsetof(PERL_SI, si_prev));
    assert_int_equal(l->si_cxix, offsetof(PERL_SI, si_cxix));
    assert_int_equal(l->si_cxmax, offsetof(PERL_SI, si_cxmax));
    assert_int_equal(l->ctx_size, sizeof(PERL_CONTEXT));
    assert_int_equal(l->ctx_type, offsetof(PERL_CONTEXT, cx_type));
    assert_int_equal(l->ctx_u16, offsetof(PERL_CONTEXT, blk_u16));
    assert_int_equal(l->ctx_oldcop, offsetof(PERL_CONTEXT, blk_oldcop));
    assert_int_equal(l->ctx_sub_cv, offsetof(PERL_CONTEXT, blk_sub.cv));
    assert_int_equal(l->ctx_retop, offsetof(PERL_CONTEXT, blk_sub.retop));
    assert_int_equal(l->ctx_retop, offsetof(PERL_CONTEXT, blk_eval.retop));
    assert_int_equal(l->cop_line, offsetof(COP, cop_line));
    assert_int_equal(l->cop_file, offsetof(COP, cop_file));
    assert_int_equal(l->cop_size, sizeof(COP));
    assert_int_equal(l->sv_any, offsetof(SV, sv_any));
    assert_int_equal(l->sv_flags, offsetof(SV, sv_flags));
    assert_int_equal(l->cv_stash, offsetof(XPVCV, xcv_stash));
    assert_int_equal(l->cv_gv, offsetof(XPVCV, xcv_gv_u));
    assert_int_equal(l->cv_flags, offsetof(XPVCV, xcv_flags));
    assert_int_equal(sizeof(cv_flags_t), 4);
    assert_int_equal(l->gv_namehek, offsetof(XPVGV, xiv_u.xivu_namehek));
    assert_int_equal(l->gv_stash, offsetof(XPVGV, xnv_u.xgv_stash));
    assert_int_equal(l->hv_aux, offsetof(struct xpvhv_with_aux, xhv_aux));
    assert_int_equal(l->aux_name, offsetof(struct xpvhv_aux, xhv_name_u));
    assert_int_equal(l->aux_name_count, offsetof(struct xpvhv_aux, xhv_name_count));
    assert_int_equal(l->hek_len, offsetof(HEK, hek_len));
    assert_int_equal(l->hek_key, offsetof(HEK, hek_key));
    /* op_type: the low 9 bits of the 16-bit word at l->op_type. */
    OP probe;
    memset(&probe, 0, sizeof probe);
    probe.op_type = OP_DBSTATE;
    uint16_t word;
    memcpy(&word, (char *)&probe + l->op_type, sizeof word);
    assert_int_equal(word & 0x1ff, OP_DBSTATE);
    assert_int_equal(l->op_nextstate, OP_NEXTSTATE);
    assert_int_equal(l->op_dbstate, OP_DBSTATE);
    assert_int_equal(l->op_require, OP_REQUIRE);
    assert_int_equal(l->svt_pvcv, SVt_PVCV);
    assert_int_equal(l->svt_pvgv, SVt_PVGV);
    assert_int_equal(l->svt_pvhv, SVt_PVHV);
    assert_int_equal(SVTYPEMASK, 0xff);
    assert_int_equal(l->svf_ook, SVf_OOK);
    assert_int_equal(l->cvf_named, CVf_NAMED);
    assert_int_equal(l->cxt_typemask, CXTYPEMASK);
    assert_int_equal(l->cxt_sub, CXt_SUB);
    assert_int_equal(l->cxt_format, CXt_FORMAT);
    assert_int_equal(l->cxt_eval, CXt_EVAL);
    assert_int_equal(l->cxp_evalblock, CXp_EVALBLOCK);
    assert_int_equal(l->cxp_try, CXp_TRY);
    /* blk_u16 holds the eval's op type above bit 7 (CxOLD_OP_TYPE). */
    PERL_CONTEXT cx;
    memset(&cx, 0, sizeof cx);
    cx.blk_u16 = (U16)(OP_REQUIRE << 7);
    assert_int_equal(CxOLD_OP_TYPE(&cx), OP_REQUIRE);
    /* No other perl is guessed at. */
    assert_null(sl_pl_builtin_layout(5, 36, 1));
    assert_null(sl_pl_builtin_layout(5, 38, 0));
    assert_null(sl_pl_builtin_layout(5, 34, 0));
}

/* ------------------------------------------------------------ capturing */

static uint32_t ids[8];
static int nids;

/* capture(): records the depot id of the stack where it is called. */
static void XS_capture(pTHX_ CV *cv)
{
    dXSARGS;
    PERL_UNUSED_ARG(cv);
    PERL_UNUSED_VAR(items);
    uint32_t id = sl_stack_capture();
    if (nids < 8)
        ids[nids++] = id;
    XSRETURN_IV(id);
}

/* capture_in_signal(): the same, captured by a C signal handler that
 * interrupted this call. */
static volatile uint32_t sig_id;
static void on_usr1(int sig)
{
    (void)sig;
    sig_id = sl_stack_capture();
}

static void XS_capture_in_signal(pTHX_ CV *cv)
{
    dXSARGS;
    PERL_UNUSED_ARG(cv);
    PERL_UNUSED_VAR(items);
    struct sigaction sa = {.sa_handler = on_usr1}, old;
    sigaction(SIGUSR1, &sa, &old);
    raise(SIGUSR1);
    sigaction(SIGUSR1, &old, NULL);
    if (nids < 8)
        ids[nids++] = sig_id;
    XSRETURN_IV(sig_id);
}

static void xs_init(pTHX)
{
    newXS("main::capture", XS_capture, __FILE__);
    newXS("main::capture_in_signal", XS_capture_in_signal, __FILE__);
}

/* Runs code as the main program (file "-e") in a fresh interpreter;
 * returns the ids it captured. */
static int run_perl(const char *code)
{
    char *argv[] = {"", "-e", (char *)code, NULL};
    nids = 0;
    my_perl = perl_alloc();
    perl_construct(my_perl);
    PL_exit_flags |= PERL_EXIT_DESTRUCT_END;
    assert_int_equal(perl_parse(my_perl, xs_init, 3, argv, NULL), 0);
    assert_int_equal(perl_run(my_perl), 0);
    return nids;
}

static void end_perl(void)
{
    perl_destruct(my_perl);
    perl_free(my_perl);
    my_perl = NULL;
}

struct want {
    const char *function;
    const char *file;
    int line;
};

/* The Perl frames of stack id, innermost first, standing together. */
static void check_frames(uint32_t id, const struct want *want, int nwant)
{
    const uintptr_t *pcs;
    int n = sl_stack_get(id, &pcs), k = 0, first = -1;
    assert_true(n > 0);
    for (int i = 0; i < n; i++) {
        struct sl_lframe *f = sl_lframe_get(pcs[i]);
        if (!f) {
            assert_false(sl_pl_is_runops(pcs[i])); /* replaced, every one */
            continue;
        }
        if (first < 0)
            first = i;
        assert_int_equal(f->lang, SL_LANG_PERL);
        assert_true(k < nwant);
        /* The interpreter's glue between them (pp_sort, call_sv...) is
         * gone: the frames stand together. */
        assert_int_equal(i, first + k);
        if (strcmp(f->function, want[k].function) != 0 || strcmp(f->file, want[k].file) != 0 ||
            f->line != want[k].line)
            fail_msg("frame %d: %s %s:%d, expected %s %s:%d", k, f->function, f->file, f->line,
                     want[k].function, want[k].file, want[k].line);
        k++;
    }
    assert_int_equal(k, nwant);
    assert_true(first > 0); /* XS_capture, the native frame innermost */
    assert_string_equal(sl_lframe_lang_name(SL_LANG_PERL), "perl");
}

#define PL_SRC                                                                                     \
    "package K;\n"                                                                                 \
    "sub m { return main::capture() }\n"                                                           \
    "package main;\n"                                                                              \
    "sub outer { my @r = map { K::m() } 1; return $r[0] }\n"                                       \
    "sub by_id { outer(); $a <=> $b }\n"                                                           \
    "my @s = sort by_id 2, 1;\n"                                                                   \
    "sub via_eval { eval 'K::m()' }\n"                                                             \
    "via_eval();\n"                                                                                \
    "my $anon = sub { eval { K::m() } };\n"                                                        \
    "$anon->();\n"                                                                                 \
    "my @b = sort { K::m(); $a <=> $b } 2, 1;\n"

static void test_capture_names_perl_frames(void **state)
{
    (void)state;
    sl_stack_skip_self = 0;
    sl_stack_skip_frames = 1;
    assert_int_equal(run_perl(PL_SRC), 4);
    assert_non_null(sl_pl_layout_in_use());
    /* sort calls by_id from C (a run loop of its own) */
    const struct want sorted[] = {
        {"K::m", "-e", 2}, {"main::outer", "-e", 4}, {"main::by_id", "-e", 5}, {"main", "-e", 6}};
    check_frames(ids[0], sorted, 4);
    const struct want evals[] = {{"K::m", "-e", 2},
                                 {"(eval)", "(eval 1)", 1},
                                 {"main::via_eval", "-e", 7},
                                 {"main", "-e", 8}};
    check_frames(ids[1], evals, 4);
    const struct want anon[] = {
        {"K::m", "-e", 2}, {"(eval)", "-e", 9}, {"main::__ANON__", "-e", 9}, {"main", "-e", 10}};
    check_frames(ids[2], anon, 4);
    /* A sort block runs in a run loop of its own, but in no sub: the outer
     * loop and pp_sort are glue, dropped all the same. */
    const struct want block[] = {{"K::m", "-e", 2}, {"main", "-e", 11}};
    check_frames(ids[3], block, 2);
    end_perl();
}

/* BEGIN blocks run from the compiler, through call_sv: the main program's
 * frame is the statement being compiled. */
static void test_capture_at_compile_time(void **state)
{
    (void)state;
    assert_int_equal(run_perl("sub f { capture() }\n"
                              "BEGIN { f() }\n"
                              "1;\n"),
                     1);
    const struct want begin[] = {
        {"main::f", "-e", 1}, {"main::BEGIN", "-e", 2}, {"(eval)", "-e", 2}, {"main", "-e", 2}};
    const uintptr_t *pcs;
    int n = sl_stack_get(ids[0], &pcs), k = 0;
    /* Print what there is if it differs: the compile-time contexts are the
     * interpreter's to choose; the first two frames are what matters. */
    for (int i = 0; i < n && k < 2; i++) {
        struct sl_lframe *f = sl_lframe_get(pcs[i]);
        if (!f)
            continue;
        assert_string_equal(f->function, begin[k].function);
        assert_int_equal(f->line, begin[k].line);
        k++;
    }
    assert_int_equal(k, 2);
    end_perl();
}

/* The frames option bounds the stack, Perl frames included. */
static void test_frames_limit(void **state)
{
    (void)state;
    sl_opt.frames = 6;
    assert_int_equal(run_perl("sub deep { my $n = shift; $n ? deep($n - 1) : capture() }\n"
                              "deep(200);\n"),
                     1);
    sl_opt.frames = 64;
    const uintptr_t *pcs;
    int n = sl_stack_get(ids[0], &pcs);
    assert_int_equal(n, 6);
    struct sl_lframe *last = sl_lframe_get(pcs[n - 1]);
    assert_non_null(last);
    assert_string_equal(last->function, "main::deep");
    end_perl();
}

/* Deeper than SL_PL_MAX_DEPTH (128) Perl frames: the walk stops there. */
static void test_depth_cap(void **state)
{
    (void)state;
    sl_opt.frames = 256;
    assert_int_equal(run_perl("no warnings 'recursion';\n"
                              "sub deep { my $n = shift; $n ? deep($n - 1) : capture() }\n"
                              "deep(500);\n"),
                     1);
    sl_opt.frames = 64;
    const uintptr_t *pcs;
    int n = sl_stack_get(ids[0], &pcs), perl = 0;
    for (int i = 0; i < n; i++)
        perl += sl_lframe_get(pcs[i]) != NULL;
    assert_int_equal(perl, 128);
    end_perl();
}

/* A C signal handler may have interrupted the interpreter mid-update of its
 * contexts: its stacks keep the native frames only. */
static void test_signal_frame_keeps_native_frames(void **state)
{
    (void)state;
    if (!sigreturn_findable())
        skip();
    assert_int_equal(run_perl("sub f { capture_in_signal() }\nf();\n"), 1);
    const uintptr_t *pcs;
    int n = sl_stack_get(ids[0], &pcs), runs = 0;
    for (int i = 0; i < n; i++) {
        assert_false(SL_LFRAME_IS(pcs[i]));
        runs += sl_pl_is_runops(pcs[i]);
    }
    assert_true(runs > 0);
    end_perl();
}

/* A thread the interpreter does not know: the run loop's pcs stay. */
static void *no_perl(void *arg)
{
    uintptr_t in[2] = {sl_pl_run_lo[0] + 1, 0x1234}, out[2];
    *(int *)arg = sl_pl_splice(in, 2, out, 2) == 2 && out[0] == in[0] && out[1] == in[1];
    return NULL;
}

static void test_thread_without_perl(void **state)
{
    (void)state;
    pthread_t t;
    int ok = 0;
    assert_int_equal(pthread_create(&t, NULL, no_perl, &ok), 0);
    pthread_join(t, NULL);
    assert_true(ok);
}

/* The cost of a capture under Perl code, and of the splice alone. */
static uint32_t bench_id;
static double bench_full_us, bench_splice_us;
static int bench_frames;

static void XS_bench(pTHX_ CV *cv)
{
    dXSARGS;
    PERL_UNUSED_ARG(cv);
    PERL_UNUSED_VAR(items);
    enum { N = 20000 };
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < N; i++)
        bench_id = sl_stack_capture();
    clock_gettime(CLOCK_MONOTONIC, &b);
    bench_full_us = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3 / N;
    /* The splice alone, on the native frames of this call. */
    uintptr_t in[64], out[64];
    void *bt[64];
    int n = backtrace(bt, 64);
    for (int i = 0; i < n; i++)
        in[i] = (uintptr_t)bt[i];
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < N; i++)
        bench_frames = sl_pl_splice(in, n, out, 64);
    clock_gettime(CLOCK_MONOTONIC, &b);
    bench_splice_us = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3 / N;
    XSRETURN_EMPTY;
}

static void xs_init_bench(pTHX)
{
    newXS("main::bench", XS_bench, __FILE__);
}

static void test_capture_cost(void **state)
{
    (void)state;
    char *argv[] = {"", "-e",
                    "sub a1 { bench() } sub a2 { a1() } sub a3 { a2() } sub a4 { a3() }\n"
                    "sub a5 { a4() } sub a6 { a5() } a6();\n",
                    NULL};
    my_perl = perl_alloc();
    perl_construct(my_perl);
    assert_int_equal(perl_parse(my_perl, xs_init_bench, 3, argv, NULL), 0);
    assert_int_equal(perl_run(my_perl), 0);
    const uintptr_t *pcs;
    int n = sl_stack_get(bench_id, &pcs), perl = 0;
    for (int i = 0; i < n; i++)
        perl += sl_lframe_get(pcs[i]) != NULL;
    assert_int_equal(perl, 7);
    /* The same capture from C, outside Perl: the baseline. */
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < 20000; i++)
        bench_id = sl_stack_capture();
    clock_gettime(CLOCK_MONOTONIC, &b);
    double native_us = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3 / 20000;
    printf("perlframes: capture with 7 Perl frames: %.2f us (native only, outside Perl: %.2f "
           "us); splice alone: %.3f us (%d frames out)\n",
           bench_full_us, native_us, bench_splice_us, bench_frames);
    end_perl();
}

/* ------------------------------------------------------------ user code */

static void test_user_code(void **state)
{
    (void)state;
    const char *lib[] = {"/usr/share/perl5/LWP/UserAgent.pm",
                         "/usr/share/perl/5.36/IO/Socket.pm",
                         "/usr/lib/x86_64-linux-gnu/perl-base/IO/Socket/INET.pm",
                         "/usr/lib/x86_64-linux-gnu/perl5/5.36/Socket.pm",
                         "/usr/lib/x86_64-linux-gnu/perl/5.36/IO.pm",
                         "/usr/local/share/perl/5.36.0/Mojo/UserAgent.pm",
                         "/usr/local/lib/x86_64-linux-gnu/perl/5.36.0/Foo.pm",
                         "/usr/share/perl5/vendor_perl/Foo.pm",
                         "/home/u/perl5/lib/perl5/Mojo/IOLoop.pm",
                         "(eval 12)"};
    for (size_t i = 0; i < sizeof lib / sizeof lib[0]; i++)
        if (sl_uc_lang_user("perl", "X::y", lib[i], NULL))
            fail_msg("%s taken for user code", lib[i]);
    assert_true(sl_uc_lang_user("perl", "main::fetch", "/srv/app/fetch.pl", NULL));
    assert_true(sl_uc_lang_user("perl", "main::fetch", "app.pl", NULL));
    assert_true(sl_uc_lang_user("perl", "main", "-e", NULL));
    assert_false(sl_uc_module_user("/usr/bin/perl", "/usr/bin/perl"));
    assert_false(sl_uc_module_user("/usr/bin/perl5.36.0", "/usr/bin/perl5.36.0"));
    assert_false(sl_uc_module_user("/opt/perl/lib/libperl.so.5.36", "/opt/app"));
    assert_false(sl_uc_module_user("/home/u/perl5/lib/perl5/x86_64-linux-gnu-thread-multi/"
                                   "auto/Foo/Foo.so",
                                   "/usr/bin/perl"));
    assert_true(sl_uc_module_user("/opt/app/bin/perlish", "/opt/app/bin/perlish"));
}

int main(int argc, char **argv, char **env)
{
    PERL_SYS_INIT3(&argc, &argv, &env);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_is_the_headers),
        cmocka_unit_test(test_capture_names_perl_frames),
        cmocka_unit_test(test_capture_at_compile_time),
        cmocka_unit_test(test_frames_limit),
        cmocka_unit_test(test_depth_cap),
        cmocka_unit_test(test_signal_frame_keeps_native_frames),
        cmocka_unit_test(test_thread_without_perl),
        cmocka_unit_test(test_capture_cost),
        cmocka_unit_test(test_user_code),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    PERL_SYS_TERM();
    return rc;
}
