/* SOCKLEAK_OPTIONS parsing: defaults, every key, bad values and unknown keys
 * warn once each and keep the default. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "options.h"
#include "stack.h"

static int warnings;
static char last_warning[512];

static void capture_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_warning, sizeof last_warning, fmt, ap);
    va_end(ap);
    warnings++;
}

static struct sl_options parse(const char *text)
{
    struct sl_options o;
    warnings = 0;
    last_warning[0] = '\0';
    memset(&o, 0xa5, sizeof o); /* the parser must not rely on a clean struct */
    sl_options_parse(&o, text, capture_warn);
    return o;
}

static void assert_defaults(const struct sl_options *o)
{
    assert_int_equal(o->deadline_ms, 5000);
    assert_int_equal(o->frames, 32);
    assert_int_equal(o->verbosity, 1);
    assert_string_equal(o->output, "./sockleak-out");
    assert_string_equal(o->run_id, "");
}

static void test_defaults(void **state)
{
    (void)state;
    struct sl_options o = parse(NULL);
    assert_defaults(&o);
    assert_int_equal(warnings, 0);
    o = parse("");
    assert_defaults(&o);
    assert_int_equal(warnings, 0);
    /* The global starts with the same defaults before init runs. */
    assert_int_equal(sl_opt.deadline_ms, 5000);
    assert_int_equal(sl_opt.verbosity, 1);
}

static void test_each_key(void **state)
{
    (void)state;
    struct sl_options o = parse("deadline_ms=200");
    assert_int_equal(o.deadline_ms, 200);
    o = parse("output=/tmp/logs dir");
    assert_string_equal(o.output, "/tmp/logs dir");
    o = parse("frames=64");
    assert_int_equal(o.frames, 64);
    o = parse("frames=256");
    assert_int_equal(o.frames, SL_MAX_FRAMES);
    o = parse("verbosity=0");
    assert_int_equal(o.verbosity, 0);
    o = parse("run_id=abc-123");
    assert_string_equal(o.run_id, "abc-123");
    o = parse("deadline_ms=1:output=rel/dir:frames=1:verbosity=2:run_id=x");
    assert_int_equal(warnings, 0);
    assert_int_equal(o.deadline_ms, 1);
    assert_string_equal(o.output, "rel/dir");
    assert_int_equal(o.frames, 1);
    assert_int_equal(o.verbosity, 2);
    assert_string_equal(o.run_id, "x");
    /* at_exit=all is 2, as is at_exit=2; 1 keeps its meaning. */
    o = parse("at_exit=all");
    assert_int_equal(o.at_exit, 2);
    o = parse("at_exit=2");
    assert_int_equal(o.at_exit, 2);
    o = parse("at_exit=1");
    assert_int_equal(o.at_exit, 1);
    assert_int_equal(warnings, 0);
    o = parse("at_exit=ALL");
    assert_int_equal(o.at_exit, 0);
    assert_int_equal(warnings, 1);
    /* Last one wins. */
    o = parse("frames=3:frames=4");
    assert_int_equal(o.frames, 4);
}

static void test_bad_values(void **state)
{
    (void)state;
    const char *bad[] = {"deadline_ms=0",
                         "deadline_ms=-5",
                         "deadline_ms=abc",
                         "deadline_ms=12x",
                         "deadline_ms=",
                         "deadline_ms=99999999999999999999",
                         "frames=0",
                         "frames=257",
                         "frames= 5",
                         "verbosity=3",
                         "verbosity=-1",
                         "at_exit=3",
                         "at_exit=al",
                         "output=",
                         "deadline_ms=86400001"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct sl_options o = parse(bad[i]);
        assert_defaults(&o);
        if (warnings != 1)
            fail_msg("'%s' gave %d warnings", bad[i], warnings);
        assert_non_null(strstr(last_warning, "bad value"));
    }
    /* A bad value next to good ones: only it falls back. */
    struct sl_options o = parse("deadline_ms=100:frames=x:verbosity=2");
    assert_int_equal(warnings, 1);
    assert_int_equal(o.deadline_ms, 100);
    assert_int_equal(o.frames, 32);
    assert_int_equal(o.verbosity, 2);
    /* Too long for the field. */
    char longid[200];
    memset(longid, 'a', sizeof longid);
    memcpy(longid, "run_id=", 7);
    longid[sizeof longid - 1] = '\0';
    o = parse(longid);
    assert_int_equal(warnings, 1);
    assert_string_equal(o.run_id, "");
}

static void test_unknown_and_malformed(void **state)
{
    (void)state;
    struct sl_options o = parse("nosuch=1");
    assert_defaults(&o);
    assert_int_equal(warnings, 1);
    assert_non_null(strstr(last_warning, "unknown option 'nosuch'"));
    o = parse("deadline_ms");
    assert_defaults(&o);
    assert_int_equal(warnings, 1);
    assert_non_null(strstr(last_warning, "needs a value"));
    o = parse("deadline=5:deadline_msx=5:frames=8");
    assert_int_equal(warnings, 2);
    assert_int_equal(o.frames, 8);
    assert_int_equal(o.deadline_ms, 5000);
}

static void test_separators(void **state)
{
    (void)state;
    struct sl_options o = parse("frames=8:");
    assert_int_equal(warnings, 0);
    assert_int_equal(o.frames, 8);
    o = parse(":frames=9::verbosity=0:");
    assert_int_equal(warnings, 0);
    assert_int_equal(o.frames, 9);
    assert_int_equal(o.verbosity, 0);
    o = parse(":::");
    assert_int_equal(warnings, 0);
    assert_defaults(&o);
    /* '=' inside a value is part of it. */
    o = parse("run_id=a=b");
    assert_string_equal(o.run_id, "a=b");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),   cmocka_unit_test(test_each_key),
        cmocka_unit_test(test_bad_values), cmocka_unit_test(test_unknown_and_malformed),
        cmocka_unit_test(test_separators),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
