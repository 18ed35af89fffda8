/* The deadline queue and the reaper thread: heap order (with growth), a
 * deadline moved by a send after EOF, the finding kinds, and the entries
 * that must not give a finding (closed and reused fd, stale generation). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "fdtable.h"
#include "logdir.h"
#include "log.h"
#include "options.h"
#include "real.h"
#include "reaper.h"
#include "sockleak_log.h"

/* reaper.c internals (reaper lock held; no thread runs in the heap test). */
int sl_reaper_heap_push(int fd, uint32_t gen, int64_t due_ns);
int sl_reaper_heap_pop(int *fd, uint32_t *gen, int64_t *due_ns);

static const char *dir; /* the log directory (logdir.h) */

static void test_heap_order(void **state)
{
    (void)state;
    enum { N = 10000 }; /* several times the first mapping: exercises mremap */
    srand(7);
    for (int i = 0; i < N; i++) {
        int64_t due = (int64_t)(rand() % 1000) * 1000 + i % 3;
        assert_int_equal(sl_reaper_heap_push(i, (uint32_t)i * 2, due), 0);
    }
    int64_t prev = -1;
    int fd, count = 0;
    uint32_t gen;
    int64_t due;
    while (sl_reaper_heap_pop(&fd, &gen, &due)) {
        assert_true(due >= prev);
        assert_int_equal(gen, (uint32_t)fd * 2); /* entries stay whole */
        prev = due;
        count++;
    }
    assert_int_equal(count, N);
    assert_int_equal(sl_reaper_heap_pop(&fd, &gen, &due), 0);
    /* Equal due times all come out. */
    for (int i = 0; i < 5; i++)
        sl_reaper_heap_push(100 + i, 0, 42);
    for (count = 0; sl_reaper_heap_pop(&fd, &gen, &due); count++)
        assert_int_equal(due, 42);
    assert_int_equal(count, 5);
}

static json_t *read_findings(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.%d%s", dir, program_invocation_short_name, (int)getpid(),
             SL_LOG_SUFFIX);
    json_t *all = json_array();
    FILE *f = fopen(path, "r");
    if (!f)
        return all;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *rec = json_loads(line, 0, NULL);
        assert_non_null(rec);
        if (!strcmp(json_string_value(json_object_get(rec, "t")), SL_REC_FINDING))
            json_array_append(all, rec);
        json_decref(rec);
    }
    free(line);
    fclose(f);
    return all;
}

static json_t *finding_for_fd(json_t *all, int fd)
{
    size_t i;
    json_t *rec;
    json_array_foreach(all, i, rec)
    {
        if (json_integer_value(json_object_get(rec, "fd")) == fd)
            return rec;
    }
    return NULL;
}

/* Make fd's slot look like the hooks left it after an EOF read now. */
static uint32_t mark_eof(int fd, uint32_t extra_flags, int64_t now)
{
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    struct sl_slot *s = sl_fdtable_get(fd);
    assert_non_null(s);
    sl_fdtable_lock(fd);
    s->gen++;
    s->domain = AF_UNIX;
    s->type = SOCK_STREAM;
    s->inode = st.st_ino;
    s->eof_ns = now;
    atomic_store(&s->last_send_ns, 0);
    atomic_store(&s->flags, SL_F_KNOWN | SL_F_SOCKET | SL_F_STREAM | SL_F_EOF | extra_flags);
    uint32_t gen = s->gen;
    sl_fdtable_unlock(fd);
    return gen;
}

/* What the close hook does: end the slot, then close. */
static void close_tracked(int fd)
{
    struct sl_slot *s = sl_fdtable_peek(fd);
    sl_fdtable_lock(fd);
    s->gen++;
    atomic_store(&s->flags, 0);
    sl_fdtable_unlock(fd);
    close(fd);
}

/* A connected unix stream pair whose peer is gone: fd reads EOF. */
static int eof_socket(void)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[1]);
    return sv[0];
}

/* A single-threaded process (thread=0): scheduling starts no thread; the
 * waits' service does the work once due and says when the next is due. */
/* The process's threads, as /proc/self/status counts them. */
static int thread_count(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int threads = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &threads) == 1)
            break;
    if (f)
        fclose(f);
    return threads;
}

static int threads_at_start;

static void test_single_threaded_service(void **state)
{
    (void)state;
    sl_opt.deadline_ms = 100;
    sl_opt.thread = 0;
    int64_t now = sl_now_ns(), ms = 1000000;
    int a = eof_socket();
    uint32_t ga = mark_eof(a, 0, now);
    sl_reaper_schedule(a, ga, now + 100 * ms);
    assert_true(atomic_load(&sl_sched_active));
    int b = eof_socket();
    uint32_t gb = mark_eof(b, 0, now + 150 * ms);
    sl_reaper_schedule(b, gb, now + 250 * ms);
    /* Not due yet: nothing written, the next due time is a's. */
    assert_int_equal(sl_reaper_service(), now + 100 * ms);
    json_t *all = read_findings();
    assert_int_equal(json_array_size(all), 0);
    json_decref(all);
    while (sl_now_ns() < now + 100 * ms)
        usleep(1000);
    /* Due: a reported, b next. */
    assert_int_equal(sl_reaper_service(), now + 250 * ms);
    all = read_findings();
    assert_non_null(finding_for_fd(all, a));
    assert_null(finding_for_fd(all, b));
    assert_int_equal(json_array_size(all), 1);
    json_decref(all);
    /* No thread of ours: as many as the process had before any deadline
     * (one; under qemu-user, its own thread too). */
    assert_int_equal(thread_count(), threads_at_start);
    /* a stays open, so the next test's sockets get other numbers. */
    close_tracked(b);
}

/* The findings once there are at least n (the reaper thread writes them),
 * waiting up to a minute. */
static json_t *wait_findings(size_t n)
{
    json_t *all = read_findings();
    for (int i = 0; i < 6000 && json_array_size(all) < n; i++) {
        json_decref(all);
        usleep(10000);
        all = read_findings();
    }
    return all;
}

/* thread=1: the thread does the work on its own. */
static void test_findings_and_requeue(void **state)
{
    (void)state;
    sl_opt.deadline_ms = 100;
    sl_opt.thread = 1;
    json_t *before = read_findings();
    size_t base = json_array_size(before);
    json_decref(before);
    int64_t now = sl_now_ns();
    int64_t ms = 1000000;

    /* A: plain close_wait, due at +100 ms. */
    int a = eof_socket();
    uint32_t ga = mark_eof(a, 0, now);
    sl_reaper_schedule(a, ga, now + 100 * ms);

    /* B: a send 300 ms after EOF moves its deadline to +400 ms. */
    int b = eof_socket();
    uint32_t gb = mark_eof(b, 0, now);
    atomic_store(&sl_fdtable_peek(b)->last_send_ns, now + 300 * ms);
    sl_reaper_schedule(b, gb, now + 100 * ms);

    /* C: write side shut down: unclosed_after_shutdown. */
    int c = eof_socket();
    uint32_t gc = mark_eof(c, SL_F_SHUT_WR, now);
    sl_reaper_schedule(c, gc, now + 100 * ms);

    /* D: stale generation (the fd was closed and reused since). */
    int d = eof_socket();
    uint32_t gd = mark_eof(d, 0, now);
    sl_reaper_schedule(d, gd - 1, now + 50 * ms);

    /* E: closed behind our back, number reused by a file: inode differs. */
    int e = eof_socket();
    uint32_t ge = mark_eof(e, 0, now);
    int f = open("/dev/null", O_RDONLY);
    assert_true(f >= 0);
    assert_int_equal(dup2(f, e), e);
    close(f);
    sl_reaper_schedule(e, ge, now + 50 * ms);

    /* A and C reported after +100 ms; B not before +400 ms (re-queued). */
    json_t *all = wait_findings(base + 2);
    int64_t read_at = sl_now_ns();
    json_t *fa = finding_for_fd(all, a), *fc = finding_for_fd(all, c);
    assert_non_null(fa);
    assert_non_null(fc);
    if (read_at < now + 400 * ms)
        assert_null(finding_for_fd(all, b));
    assert_null(finding_for_fd(all, d));
    assert_null(finding_for_fd(all, e));
    assert_string_equal(json_string_value(json_object_get(fa, "kind")), SL_KIND_CLOSE_WAIT);
    assert_string_equal(json_string_value(json_object_get(fa, "family")), "unix");
    assert_true(json_is_null(json_object_get(fa, "tcp_state")));
    assert_true(json_integer_value(json_object_get(fa, "held_ms")) >= 100);
    assert_string_equal(json_string_value(json_object_get(fc, "kind")),
                        SL_KIND_UNCLOSED_AFTER_SHUTDOWN);
    struct sl_slot *sa = sl_fdtable_peek(a);
    assert_true(atomic_load(&sa->flags) & SL_F_REPORTED);
    sl_fdtable_lock(a);
    uint32_t id = sa->finding_id;
    sl_fdtable_unlock(a);
    assert_int_equal(id, json_integer_value(json_object_get(fa, "id")));
    json_decref(all);

    /* B reported, held from its last send. */
    all = wait_findings(base + 3);
    json_t *fb = finding_for_fd(all, b);
    assert_non_null(fb);
    json_int_t held = json_integer_value(json_object_get(fb, "held_ms"));
    assert_true(held >= 100 && held < 300);
    assert_int_equal(json_array_size(all), base + 3);
    json_decref(all);
    int fds[] = {a, b, c, d, e};
    for (int i = 0; i < 5; i++)
        close_tracked(fds[i]);
}

static int setup(void **state)
{
    (void)state;
    threads_at_start = thread_count();
    dir = logdir_make("reaper", NULL);
    if (!dir)
        return -1;
    sl_log_reserve(); /* as the first end-of-stream does */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return logdir_remove();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heap_order),
        cmocka_unit_test(test_single_threaded_service),
        cmocka_unit_test(test_findings_and_requeue),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
