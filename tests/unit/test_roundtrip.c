/* The log format end to end: records written by the library's own writer
 * (preload/log.c) are read by the tool's reader (report/logread.c) and every
 * field comes back as written: the header, module and frame records, a
 * finding of every kind with every optional key, a late close, the footer.
 * A key the two sides spell differently fails here. */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "lframe.h"
#include "log.h"
#include "logdir.h"
#include "logread.h"
#include "options.h"
#include "real.h"
#include "sockleak_log.h"
#include "stack.h"

static const char *dir; /* the log directory (logdir.h) */
static char **saved_argv;
static int saved_argc;

/* A stack of every sort of frame: a pc in this program, one in libc, a
 * Python frame and a pc in no module. */
static uintptr_t pcs[4];

static uint32_t mixed_stack(int salt)
{
    pcs[0] = (uintptr_t)&mixed_stack + 16 + (uintptr_t)salt;
    pcs[1] = (uintptr_t)&write + 3;
    pcs[2] = sl_lframe_intern(SL_LANG_PYTHON, "handle", "/srv/app.py", 12);
    pcs[3] = 0x1000 + (uintptr_t)salt;
    return sl_stack_store(pcs, 4);
}

/* Every finding the writer can write: each kind, each optional key. */
#define N_WRITTEN 6
static struct sl_finding written[N_WRITTEN] = {
    {.kind = SL_KIND_CLOSE_WAIT,
     .fd = 7,
     .family = "inet",
     .local = "127.0.0.1:8080",
     .peer = "127.0.0.1:53122",
     .inode = 123,
     .tcp_state = "CLOSE_WAIT",
     .eof_unix_ms = 1764000001000,
     .held_ms = 5003,
     .at_exit = 1},
    {.kind = SL_KIND_UNCLOSED_AFTER_SHUTDOWN,
     .fd = 8,
     .family = "unix",
     .local = "/run/x.sock",
     .peer = "",
     .inode = 124,
     .tcp_state = NULL,
     .eof_unix_ms = 1764000002000,
     .held_ms = 6},
    {.kind = SL_KIND_CLOSE_WAIT_UNREAD,
     .fd = 9,
     .family = "inet6",
     .local = "[::1]:80",
     .peer = "[::1]:4000",
     .inode = 125,
     .tcp_state = "CLOSE_WAIT",
     .held_ms = 7000,
     .has_queue = 1,
     .idle_ms = 6500,
     .unread_bytes = 512},
    {.kind = SL_KIND_CLOSE_WAIT_INHERITED,
     .fd = 10,
     .family = "inet",
     .local = "10.0.0.1:1",
     .peer = "10.0.0.2:2",
     .inode = 126,
     .tcp_state = "CLOSE_WAIT",
     .held_ms = 8,
     .from_pid = 4242},
    {.kind = SL_KIND_CLOSE_WAIT_UNACCEPTED,
     .fd = 11,
     .family = "inet",
     .local = "0.0.0.0:80",
     .peer = "",
     .inode = 127,
     .tcp_state = "LISTEN",
     .held_ms = 9,
     .sockets = 3,
     .has_backlog = 1,
     .backlog = 128,
     .queued = 4},
    {.kind = SL_KIND_FD_EXHAUSTION,
     .fd = -1,
     .family = "other",
     .eof_unix_ms = 1764000003000,
     .fdexh = 1,
     .call = "accept4",
     .err_name = "EMFILE",
     .limit = 64,
     .open_fds = 63,
     .n_holders = 2,
     .holders = {{.count = 61, .oldest_ms = 4000, .states = {[1] = 60, [8] = 1}},
                 {.count = 2, .oldest_ms = -1}}},
};

static void write_log(void)
{
    for (int i = 0; i < 5; i++) {
        written[i].eof_stack = mixed_stack(i);
        written[i].open_stack = mixed_stack(10 + i);
        written[i].last_read_stack = mixed_stack(20 + i);
        written[i].fork_stack = mixed_stack(30 + i);
        written[i].listen_stack = mixed_stack(40 + i);
    }
    written[5].fail_stack = mixed_stack(50);
    written[5].holders[0].stack = mixed_stack(51);
    written[5].holders[1].stack = mixed_stack(52);
    sl_log_reserve();
    for (int i = 0; i < N_WRITTEN; i++)
        assert_int_equal(sl_log_finding(&written[i]), 0);
    sl_log_closed(written[0].id, written[0].fd, 8000);
    sl_log_footer();
}

/* A stack read back: the same frames, native ones at module base + offset
 * (the writer's pc - base), the Python one through its frame record. */
static void check_stack(const struct sl_logread_process *p, uint32_t id,
                        const struct sl_logread_stack *st)
{
    const uintptr_t *want;
    int n = sl_stack_get(id, &want);
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);

    assert_true(len > 0);
    exe[len] = '\0';
    assert_int_equal(st->n, n);
    for (int i = 0; i < n; i++) {
        const struct sl_logread_frame *fr = &st->frames[i];
        if (SL_LFRAME_IS(want[i])) {
            const struct sl_logread_lframe *lf;
            assert_int_equal(fr->module, SL_LOGREAD_LANG_FRAME);
            assert_non_null(lf = sl_logread_lframe(p, (int64_t)fr->offset));
            assert_int_equal(lf->id, SL_LFRAME_ID(want[i]));
            assert_string_equal(lf->lang, "python");
            assert_string_equal(lf->function, "handle");
            assert_string_equal(lf->file, "/srv/app.py");
            assert_int_equal(lf->line, 12);
        } else if (fr->module == SL_LOGREAD_NO_MODULE) {
            assert_int_equal(fr->offset, want[i]);
        } else {
            const struct sl_logread_module *m = sl_logread_module(p, fr->module);
            assert_non_null(m);
            assert_int_equal(m->base + fr->offset, want[i]);
            assert_true(strlen(m->build_id) == 0 || strlen(m->build_id) >= 16);
            if (i == 0)
                assert_string_equal(m->path, exe);
        }
    }
}

static void check_header(const struct sl_logread_process *p)
{
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);

    exe[len > 0 ? len : 0] = '\0';
    assert_int_equal(p->pid, getpid());
    assert_int_equal(p->ppid, getppid());
    assert_string_equal(p->program, program_invocation_short_name);
    assert_string_equal(p->exe, exe);
    assert_string_equal(p->run_id, "rt-1");
    assert_non_null(p->suppressions);
    assert_string_equal(p->suppressions, "/etc/sockleak-rt.supp");
    assert_true(p->start_unix_ms > 1600000000000LL);
    assert_int_equal(p->deadline_ms, 1234);
    assert_int_equal(p->frames, sl_opt.frames);
    assert_int_equal(p->argc, saved_argc);
    for (int i = 0; i < saved_argc; i++)
        assert_string_equal(p->argv[i], saved_argv[i]);
}

static void check_finding(const struct sl_logread_process *p, const struct sl_finding *w,
                          const struct sl_logread_finding *f)
{
    assert_int_equal(f->id, w->id);
    assert_string_equal(f->kind, w->kind);
    assert_int_equal(f->fd, w->fd);
    assert_string_equal(f->family, w->family);
    assert_string_equal(f->local, w->local);
    assert_string_equal(f->peer, w->peer);
    assert_int_equal(f->inode, w->inode);
    if (w->tcp_state)
        assert_string_equal(f->tcp_state, w->tcp_state);
    else
        assert_null(f->tcp_state);
    assert_int_equal(f->eof_unix_ms, w->eof_unix_ms);
    assert_int_equal(f->sockets, w->sockets > 1 ? w->sockets : 1);
    assert_int_equal(!!(f->has & SL_LOGREAD_HAS_SOCKETS), w->sockets > 1);
    assert_int_equal(f->idle_ms, w->idle_ms);
    assert_int_equal(f->unread_bytes, w->unread_bytes);
    assert_int_equal(!!(f->has & SL_LOGREAD_HAS_IDLE_MS), w->has_queue);
    assert_int_equal(!!(f->has & SL_LOGREAD_HAS_UNREAD_BYTES), w->has_queue);
    assert_int_equal(f->from_pid, w->from_pid);
    assert_int_equal(!!(f->has & SL_LOGREAD_HAS_FROM_PID), w->from_pid > 0);
    assert_int_equal(f->backlog, w->backlog);
    assert_int_equal(f->queued, w->queued);
    assert_int_equal(!!(f->has & SL_LOGREAD_HAS_BACKLOG), w->has_backlog);
    assert_int_equal(!!(f->has & SL_LOGREAD_HAS_QUEUED), w->has_backlog);
    assert_int_equal(f->at_exit, w->at_exit);
    check_stack(p, w->eof_stack, &f->eof_stack);
    check_stack(p, w->open_stack, &f->open_stack);
    check_stack(p, w->last_read_stack, &f->last_read_stack);
    check_stack(p, w->fork_stack, &f->fork_stack);
    check_stack(p, w->listen_stack, &f->listen_stack);
    check_stack(p, w->fail_stack, &f->fail_stack);
    assert_int_equal(f->fdexh, w->fdexh);
    if (!w->fdexh)
        return;
    assert_string_equal(f->call, w->call);
    assert_string_equal(f->err_name, w->err_name);
    assert_int_equal(f->limit, w->limit);
    assert_int_equal(f->open_fds, w->open_fds);
    assert_int_equal(f->n_holders, w->n_holders);
    for (int i = 0; i < w->n_holders; i++) {
        check_stack(p, w->holders[i].stack, &f->holders[i].open_stack);
        assert_int_equal(f->holders[i].count, w->holders[i].count);
        assert_int_equal(f->holders[i].oldest_ms, w->holders[i].oldest_ms);
        for (int st = 0; st < SL_LOG_TCP_STATES; st++)
            assert_int_equal(f->holders[i].states[st], w->holders[i].states[st]);
    }
}

/* The same log read with the finding scanner and through jansson alone. */
static void check_read(bool no_fast)
{
    struct sl_logread_set set;
    const struct sl_logread_process *p;

    sl_logread_init(&set, NULL);
    set.no_fast = no_fast;
    assert_int_equal(sl_logread_path(&set, dir), 0);
    assert_int_equal(set.n_warnings, 0);
    assert_int_equal(set.n_procs, 1);
    p = &set.procs[0];
    check_header(p);
    assert_int_equal(p->n_findings, N_WRITTEN);
    for (int i = 0; i < N_WRITTEN; i++)
        check_finding(p, &written[i], &p->findings[i]);
    /* The late close: its held_ms replaces the finding's. */
    assert_true(p->findings[0].closed);
    assert_int_equal(p->findings[0].held_ms, 8000);
    assert_int_equal(p->findings[0].held_as_of, SL_LOGREAD_HELD_CLOSED);
    for (int i = 1; i < N_WRITTEN; i++) {
        assert_false(p->findings[i].closed);
        assert_int_equal(p->findings[i].held_ms, written[i].held_ms);
    }
    /* The footer. */
    assert_true(p->has_footer);
    assert_int_equal(p->sockets, atomic_load(&sl_count_sockets));
    assert_int_equal(p->eof_seen, atomic_load(&sl_count_eof));
    assert_true(p->end_unix_ms >= p->start_unix_ms);
    assert_int_equal(p->lost, 0);
    sl_logread_free(&set);
}

static void test_every_field_comes_back(void **state)
{
    (void)state;
    atomic_store(&sl_count_sockets, 12);
    atomic_store(&sl_count_eof, 9);
    write_log();
    check_read(false);
    check_read(true);
}

static int setup(void **state)
{
    (void)state;
    dir = logdir_make("roundtrip", "out");
    if (!dir)
        return -1;
    snprintf(sl_opt.run_id, sizeof sl_opt.run_id, "rt-1");
    snprintf(sl_opt.suppressions, sizeof sl_opt.suppressions, "/etc/sockleak-rt.supp");
    sl_opt.deadline_ms = 1234;
    sl_log_snapshot_args(saved_argc, saved_argv);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return logdir_remove();
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_field_comes_back, setup, teardown),
    };
    saved_argc = argc;
    saved_argv = argv;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
