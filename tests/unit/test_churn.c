/* time_wait_churn's table (preload/churn.c): a connect finds its (call
 * site, destination) entry again, IPv4 through the inline path and IPv6
 * through the slow one; call sites and destinations that differ get
 * entries of their own; what is not inet gets none; a full table adds
 * nothing and never hands out an entry of another key. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <cmocka.h>
#include "churn.h"
#include "real.h"

/* The library's constructor is not linked into unit tests. */
void sl_init(void)
{
    sl_real_init();
}

static struct sockaddr_in v4(const char *ip, int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static uint64_t conns(int k)
{
    return k < 0 ? 0 : atomic_load(&sl_churn_conns[k]);
}

static void test_same_site_and_destination_is_one_entry(void **state)
{
    (void)state;
    struct sockaddr_in a = v4("10.0.0.7", 5432);
    int k = sl_churn_entry(101, (struct sockaddr *)&a, sizeof a);
    assert_true(k >= 0);
    uint64_t before = conns(k);
    for (int i = 0; i < 5; i++)
        sl_churn_connected(101, (struct sockaddr *)&a, sizeof a);
    assert_int_equal(conns(k), before + 5);
    assert_int_equal(sl_churn_entry(101, (struct sockaddr *)&a, sizeof a), k);
    /* Another port, address or call site: another entry. */
    struct sockaddr_in b = v4("10.0.0.7", 5433), c = v4("10.0.0.8", 5432);
    int kb = sl_churn_entry(101, (struct sockaddr *)&b, sizeof b);
    int kc = sl_churn_entry(101, (struct sockaddr *)&c, sizeof c);
    int kd = sl_churn_entry(102, (struct sockaddr *)&a, sizeof a);
    assert_true(kb >= 0 && kc >= 0 && kd >= 0);
    assert_true(kb != k && kc != k && kd != k && kb != kc && kb != kd && kc != kd);
    assert_int_equal(conns(k), before + 5);
}

static void test_ipv6_and_others(void **state)
{
    (void)state;
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
    inet_pton(AF_INET6, "2001:db8::1", &a.sin6_addr);
    int k = sl_churn_entry(7, (struct sockaddr *)&a, sizeof a);
    assert_true(k >= 0);
    uint64_t before = conns(k);
    sl_churn_connected(7, (struct sockaddr *)&a, sizeof a);
    sl_churn_connected(7, (struct sockaddr *)&a, sizeof a);
    assert_int_equal(conns(k), before + 2);
    /* The same port and first word as an IPv4 key: not the same entry. */
    struct sockaddr_in b = {.sin_family = AF_INET, .sin_port = htons(443)};
    memcpy(&b.sin_addr, &a.sin6_addr, 4);
    int kb = sl_churn_entry(7, (struct sockaddr *)&b, sizeof b);
    assert_true(kb >= 0 && kb != k);
    struct sockaddr_un u = {.sun_family = AF_UNIX, .sun_path = "/tmp/x"};
    assert_int_equal(sl_churn_entry(7, (struct sockaddr *)&u, sizeof u), -1);
    assert_int_equal(sl_churn_entry(7, NULL, 0), -1);
    struct sockaddr_in short_len = v4("10.0.0.9", 80);
    assert_int_equal(sl_churn_entry(7, (struct sockaddr *)&short_len, 8), -1);
}

static void test_full_table(void **state)
{
    (void)state;
    int got[SL_CHURN_SITES * 2];
    int n = 0, refused = 0;
    for (int i = 0; i < SL_CHURN_SITES * 2; i++) {
        struct sockaddr_in a = v4("192.0.2.1", 1000 + i);
        got[i] = sl_churn_entry(5000 + (uint32_t)i, (struct sockaddr *)&a, sizeof a);
        if (got[i] < 0)
            refused++;
        else
            n++;
    }
    assert_true(refused > 0);
    assert_true(n <= SL_CHURN_SITES);
    /* Each key still finds its own entry; no two keys share one. */
    for (int i = 0; i < SL_CHURN_SITES * 2; i++) {
        if (got[i] < 0)
            continue;
        struct sockaddr_in a = v4("192.0.2.1", 1000 + i);
        assert_int_equal(sl_churn_entry(5000 + (uint32_t)i, (struct sockaddr *)&a, sizeof a),
                         got[i]);
        for (int j = 0; j < i; j++)
            assert_true(got[j] != got[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_site_and_destination_is_one_entry),
        cmocka_unit_test(test_ipv6_and_others),
        cmocka_unit_test(test_full_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
