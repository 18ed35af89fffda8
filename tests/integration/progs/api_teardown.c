/* A cmocka test whose teardown fails when the code under test left a socket
 * open after end-of-stream. Without libsockleak.so the check is a no-op and
 * every test passes; under it, `api_teardown leaky` fails in teardown.
 * Usage: api_teardown leaky|fixed */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "sockleak.h"

static int leak_it;

/* The code under test: drains a connection; the leaky variant forgets close. */
static void serve_one(int fd)
{
    char buf[64];
    while (recv(fd, buf, sizeof buf, 0) > 0) /* EOF-SITE */
        ;
    if (!leak_it)
        close(fd);
}

static void test_serve_one(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0); /* OPEN-SITE */
    assert_int_equal(send(sv[1], "hi", 2, 0), 2);
    close(sv[1]);
    serve_one(sv[0]);
}

static int teardown_no_socket_left(void **state)
{
    (void)state;
    int n = SOCKLEAK_CHECK(300);
    if (n > 0) {
        print_error("%d socket(s) read end-of-stream and were not closed\n", n);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "leaky") && strcmp(argv[1], "fixed"))) {
        fprintf(stderr, "usage: api_teardown leaky|fixed\n");
        return 2;
    }
    leak_it = strcmp(argv[1], "leaky") == 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_serve_one, teardown_no_socket_left),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
