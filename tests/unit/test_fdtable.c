/* fd table: lookups that must not crash, slot creation, generations, and
 * concurrent first use of one chunk from many threads. */
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "fdtable.h"

static void test_peek_unknown(void **state)
{
    (void)state;
    assert_null(sl_fdtable_peek(-1));
    assert_null(sl_fdtable_peek(INT_MIN));
    assert_null(sl_fdtable_get(-1));
    assert_null(sl_fdtable_get(-12345));
    /* Nothing was ever made this far out. */
    assert_null(sl_fdtable_peek(INT_MAX));
    assert_null(sl_fdtable_peek(INT_MAX - 5000));
    assert_null(sl_fdtable_peek(3000000));
}

static void test_get_creates(void **state)
{
    (void)state;
    assert_null(sl_fdtable_peek(77777));
    struct sl_slot *s = sl_fdtable_get(77777);
    assert_non_null(s);
    assert_ptr_equal(sl_fdtable_peek(77777), s);
    assert_ptr_equal(sl_fdtable_get(77777), s);
    assert_int_equal(atomic_load(&s->flags), 0);
    /* Neighbours share the chunk, distinct slots. */
    struct sl_slot *n = sl_fdtable_peek(77778);
    assert_non_null(n);
    assert_ptr_not_equal(n, s);
    /* The largest fd works too (virtual memory only). */
    struct sl_slot *big = sl_fdtable_get(INT_MAX);
    assert_non_null(big);
    assert_ptr_equal(sl_fdtable_peek(INT_MAX), big);
    big->inode = 42;
    assert_int_equal(sl_fdtable_peek(INT_MAX)->inode, 42);
}

static void test_generations(void **state)
{
    (void)state;
    struct sl_slot *s = sl_fdtable_get(12);
    assert_non_null(s);
    sl_fdtable_lock(12);
    uint32_t g0 = s->gen;
    s->gen++;
    atomic_store(&s->flags, SL_F_KNOWN | SL_F_STREAM);
    sl_fdtable_unlock(12);
    assert_int_equal(sl_fdtable_peek(12)->gen, g0 + 1);
    assert_int_equal(atomic_load(&sl_fdtable_peek(12)->flags), SL_F_KNOWN | SL_F_STREAM);
    /* Another fd on the same stripe is independent. */
    assert_int_not_equal(sl_fdtable_get(12 + 64)->gen, g0 + 1);
}

static void count_slot(int fd, struct sl_slot *s, void *arg)
{
    (void)fd;
    if (s->inode == 4242)
        (*(int *)arg)++;
}

static void test_foreach(void **state)
{
    (void)state;
    sl_fdtable_get(5)->inode = 4242;
    sl_fdtable_get(200000)->inode = 4242;
    int n = 0;
    sl_fdtable_foreach(count_slot, &n);
    assert_int_equal(n, 2);
}

#define THREADS 8
#define BASE_FD 1048576 /* a chunk no other test touches */

static pthread_barrier_t start_line;
static struct sl_slot *seen[THREADS][64];

static void *racer(void *arg)
{
    int t = (int)(intptr_t)arg;
    pthread_barrier_wait(&start_line);
    for (int i = 0; i < 64; i++) {
        int fd = BASE_FD + i;
        seen[t][i] = sl_fdtable_get(fd);
        sl_fdtable_lock(fd);
        seen[t][i]->gen++;
        sl_fdtable_unlock(fd);
    }
    return NULL;
}

static void test_concurrent_get(void **state)
{
    (void)state;
    pthread_t th[THREADS];
    pthread_barrier_init(&start_line, NULL, THREADS);
    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, racer, (void *)(intptr_t)t), 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    pthread_barrier_destroy(&start_line);
    for (int i = 0; i < 64; i++) {
        /* One chunk won the race: every thread got the same slot. */
        for (int t = 0; t < THREADS; t++)
            assert_ptr_equal(seen[t][i], seen[0][i]);
        assert_ptr_equal(sl_fdtable_peek(BASE_FD + i), seen[0][i]);
        assert_int_equal(seen[0][i]->gen, THREADS);
    }
}

/* Read-site stacks: two places kept, the older replaced, at most
 * SL_READ_CAPS captures, none for a slot that changed hands, all gone when
 * the slot is reset. */
static void test_read_sites(void **state)
{
    (void)state;
    const int fd = 4321;
    struct sl_slot *s = sl_fdtable_get(fd);
    assert_non_null(s);
    struct sl_class c = sl_class_for(AF_INET, SOCK_STREAM);
    sl_slot_install(fd, s, &c);
    uint32_t gen;
    assert_true(sl_slot_read_room(fd, s, &gen));
    assert_false(sl_slot_read_site_known(s, 0x1000));
    sl_slot_add_read_site(fd, s, gen, 0x1000, 11);
    sl_slot_add_read_site(fd, s, gen, 0x2000, 22);
    assert_true(sl_slot_read_site_known(s, 0x1000) && sl_slot_read_site_known(s, 0x2000));
    assert_int_equal(sl_slot_read_stack(s, 0x1000), 11);
    assert_int_equal(sl_slot_read_stack(s, 0x2000), 22);
    assert_int_equal(sl_slot_read_stack(s, 0x3000), 0);
    assert_int_equal(sl_slot_read_stack(s, 0), 0);
    sl_slot_add_read_site(fd, s, gen, 0x3000, 33); /* replaces the older, 0x1000 */
    assert_int_equal(sl_slot_read_stack(s, 0x1000), 0);
    assert_int_equal(sl_slot_read_stack(s, 0x2000), 22);
    assert_int_equal(sl_slot_read_stack(s, 0x3000), 33);
    sl_slot_add_read_site(fd, s, gen + 1, 0x4000, 44); /* a stale generation */
    assert_int_equal(sl_slot_read_stack(s, 0x4000), 0);
    for (uintptr_t pc = 0x5000; sl_slot_read_room(fd, s, &gen); pc += 0x1000)
        sl_slot_add_read_site(fd, s, gen, pc, (uint32_t)pc);
    assert_int_equal(s->read_caps, SL_READ_CAPS);
    sl_slot_add_read_site(fd, s, gen, 0x100000, 55); /* over the cap */
    assert_int_equal(sl_slot_read_stack(s, 0x100000), 0);
    int64_t held;
    sl_slot_end(fd, s, &held);
    assert_true(sl_slot_read_room(fd, s, &gen));
    assert_int_equal(sl_slot_read_stack(s, 0x2000), 0);
    assert_false(sl_slot_read_site_known(s, 0x3000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peek_unknown),   cmocka_unit_test(test_get_creates),
        cmocka_unit_test(test_generations),    cmocka_unit_test(test_foreach),
        cmocka_unit_test(test_concurrent_get), cmocka_unit_test(test_read_sites),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
