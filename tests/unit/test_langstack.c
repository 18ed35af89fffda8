/* preload/langstack.c: the language frames a runtime hands in go in front of
 * a tracked socket's open_stack, innermost first, followed by its native
 * frames; a second call replaces the first's frames; anything but a tracked
 * stream socket is refused; errno is kept. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include "lframe.h"
#include "real.h"
#include "stack.h"
#include "track.h"

int sockleak__lang_frames(int fd, int lang, int n, const char *const *functions,
                          const char *const *files, const int *lines);

/* The library's constructor is not linked into unit tests. */
void sl_init(void)
{
    sl_real_init();
}

static uint32_t open_stack_of(int fd)
{
    uint32_t stack = 0, gen;
    int g = sl_guard_enter();
    int tracked = sl_track_open_stack(fd, &stack, &gen);
    sl_guard_leave(g);
    assert_true(tracked);
    return stack;
}

static void assert_lframe(uintptr_t pc, const char *fn, const char *file, int line)
{
    assert_true(SL_LFRAME_IS(pc));
    struct sl_lframe *f = sl_lframe_get(pc);
    assert_non_null(f);
    assert_int_equal(f->lang, SL_LANG_JS);
    assert_string_equal(f->function, fn);
    assert_string_equal(f->file, file);
    assert_int_equal(f->line, line);
}

static void test_frames_go_first(void **state)
{
    (void)state;
    int fd = sl_socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    const uintptr_t *nat, *pcs;
    uint32_t old = open_stack_of(fd);
    int m = sl_stack_get(old, &nat);
    assert_true(m > 0);

    const char *fns[] = {"dial", "<anonymous>"}, *files[] = {"/srv/a.js", "/srv/b.js"};
    const int lines[] = {12, 40};
    errno = 1234;
    assert_int_equal(sockleak__lang_frames(fd, SL_LANG_JS, 2, fns, files, lines), 0);
    assert_int_equal(errno, 1234);
    int n = sl_stack_get(open_stack_of(fd), &pcs);
    assert_int_equal(n, m + 2);
    assert_lframe(pcs[0], "dial", "/srv/a.js", 12);
    assert_lframe(pcs[1], "<anonymous>", "/srv/b.js", 40);
    assert_memory_equal(pcs + 2, nat, (size_t)m * sizeof(*nat));

    /* Again (a reconnect, or listen after bind): replaced, not stacked up. */
    const char *fn2[] = {"again"}, *file2[] = {"/srv/c.js"};
    const int line2[] = {7};
    assert_int_equal(sockleak__lang_frames(fd, SL_LANG_JS, 1, fn2, file2, line2), 0);
    n = sl_stack_get(open_stack_of(fd), &pcs);
    assert_int_equal(n, m + 1);
    assert_lframe(pcs[0], "again", "/srv/c.js", 7);
    assert_memory_equal(pcs + 1, nat, (size_t)m * sizeof(*nat));
    sl_close(fd);
}

static void test_refused(void **state)
{
    (void)state;
    const char *fns[] = {"f"}, *files[] = {"/x.js"};
    const int lines[] = {1};
    int p[2];
    assert_int_equal(pipe(p), 0);
    int udp = sl_socket(AF_INET, SOCK_DGRAM, 0);
    int tcp = sl_socket(AF_INET, SOCK_STREAM, 0);
    errno = 77;
    assert_int_equal(sockleak__lang_frames(p[0], SL_LANG_JS, 1, fns, files, lines), -1);
    assert_int_equal(sockleak__lang_frames(udp, SL_LANG_JS, 1, fns, files, lines), -1);
    assert_int_equal(sockleak__lang_frames(-1, SL_LANG_JS, 1, fns, files, lines), -1);
    assert_int_equal(sockleak__lang_frames(tcp, 0, 1, fns, files, lines), -1);
    assert_int_equal(sockleak__lang_frames(tcp, SL_LANG_JS, 0, fns, files, lines), -1);
    assert_int_equal(sockleak__lang_frames(tcp, SL_LANG_JS, 1, NULL, files, lines), -1);
    assert_int_equal(errno, 77);
    /* Closed behind our back and the number reused by a pipe: refused. */
    close(tcp);
    int q[2];
    assert_int_equal(pipe(q), 0);
    if (q[0] == tcp || q[1] == tcp)
        assert_int_equal(sockleak__lang_frames(tcp, SL_LANG_JS, 1, fns, files, lines), -1);
    close(q[0]);
    close(q[1]);
    close(p[0]);
    close(p[1]);
    sl_close(udp);
}

int main(void)
{
    sl_real_init();
    sl_stack_prime();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frames_go_first),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
