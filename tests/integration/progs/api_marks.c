/* Three cmocka tests of one file; the first leaks a socket after
 * end-of-stream, the other two are clean. With a baseline per test
 * (`api_marks marks`: sockleak_mark() in setup, sockleak_check_since() in
 * teardown) only the first fails, and its failure message lists the socket
 * (fd, peer, where end-of-stream was read). With the process-wide check
 * (`api_marks global`: sockleak_check()) the first leak fails every later
 * test too. Without libsockleak.so every test passes.
 * Usage: api_marks marks|global */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "prog.h"
#include "sockleak.h"

static int use_marks;
static sockleak_mark_t mark;

/* The code under test: drains a connection, closing it or not. */
static void serve_one(int fd, int close_it)
{
    char buf[64];
    while (recv(fd, buf, sizeof buf, 0) > 0) /* EOF-SITE */
        ;
    if (close_it)
        close(fd);
}

static void one_connection(int close_it)
{
    int cli, srv;
    tcp_pair(&cli, &srv);
    assert_int_equal(send(cli, "hi", 2, 0), 2);
    close(cli);
    recv_timeout(srv, 10);
    serve_one(srv, close_it);
}

static void test_1_leaks(void **state)
{
    (void)state;
    one_connection(0);
}

static void test_2_closes(void **state)
{
    (void)state;
    one_connection(1);
}

static void test_3_closes(void **state)
{
    (void)state;
    one_connection(1);
}

static int setup_mark(void **state)
{
    (void)state;
    mark = SOCKLEAK_MARK();
    return 0;
}

static int teardown_check(void **state)
{
    (void)state;
    int n = use_marks ? SOCKLEAK_CHECK_SINCE(mark, 300) : SOCKLEAK_CHECK(300);
    if (n > 0) {
        print_error("%d socket(s) read end-of-stream and were not closed\n", n);
        if (use_marks)
            SOCKLEAK_PRINT_PENDING(stdout, mark);
        fflush(stdout);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "marks") && strcmp(argv[1], "global"))) {
        fprintf(stderr, "usage: api_marks marks|global\n");
        return 2;
    }
    use_marks = strcmp(argv[1], "marks") == 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_1_leaks, setup_mark, teardown_check),
        cmocka_unit_test_setup_teardown(test_2_closes, setup_mark, teardown_check),
        cmocka_unit_test_setup_teardown(test_3_closes, setup_mark, teardown_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
