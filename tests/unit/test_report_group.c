/* Grouping by call site: ASLR and pids do not split a group, different
 * stacks or kinds do; counters and ordering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "group.h"
#include "logread.h"

/* Reads log text through a temporary file, as the tool would. */
static void load(struct sl_logread_set *set, const char *text)
{
    char path[] = "/tmp/sockleak-group-XXXXXX";
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    sl_logread_init(set, NULL);
    assert_int_equal(sl_logread_file(set, path), 0);
    unlink(path);
}

#define HDR(pid)                                                                                   \
    "{\"t\":\"header\",\"version\":1,\"pid\":" #pid ",\"program\":\"srv\",\"run_id\":\"\"}\n"
#define MOD(base, path, bid)                                                                       \
    "{\"t\":\"module\",\"id\":0,\"path\":\"" path "\",\"build_id\":\"" bid "\",\"base\":" #base    \
    "}\n"
#define FIND(id, kind, eof, open, held)                                                            \
    "{\"t\":\"finding\",\"id\":" #id ",\"kind\":\"" kind "\",\"fd\":" #id                          \
    ",\"local\":\"l\",\"peer\":\"p\",\"tcp_state\":\"CLOSE_WAIT\",\"held_ms\":" #held              \
    ",\"eof_stack\":" eof ",\"open_stack\":" open "}\n"

static void test_processes_at_different_bases_merge(void **state)
{
    struct sl_logread_set logs;
    struct sl_group_set g;
    (void)state;

    /* Same build-id at two load bases (and a different path, e.g. a copy). */
    load(&logs, HDR(1) MOD(4096, "/a/srv", "beef")
                    FIND(1, "close_wait", "[[0,100],[0,200]]", "[[0,50]]", 10) HDR(2)
                        MOD(999424, "/b/srv", "beef")
                            FIND(1, "close_wait", "[[0,100],[0,200]]", "[[0,50]]", 30)
                                FIND(2, "close_wait", "[[0,100],[0,200]]", "[[0,50]]", 20));
    sl_group_build(&g, &logs);
    assert_int_equal(g.n_groups, 1);
    assert_int_equal(g.groups[0]->count, 3);
    assert_int_equal(g.groups[0]->processes, 2);
    assert_int_equal(g.groups[0]->n_programs, 1);
    assert_string_equal(g.groups[0]->programs[0], "srv");
    assert_int_equal(g.groups[0]->held_median, 20);
    assert_int_equal(g.groups[0]->held_max, 30);
    assert_int_equal(g.groups[0]->n_examples, 3);
    assert_int_equal(g.groups[0]->examples[1].pid, 2);
    assert_string_equal(g.groups[0]->tcp_state, "CLOSE_WAIT");
    assert_int_equal(g.leaks, 3);
    assert_int_equal(g.processes, 2);
    sl_group_free(&g);
    sl_logread_free(&logs);
}

static void test_different_stacks_and_kinds_split(void **state)
{
    struct sl_logread_set logs;
    struct sl_group_set g;
    (void)state;

    load(&logs, HDR(1) MOD(4096, "/a/srv", "") FIND(1, "close_wait", "[[0,100]]", "[[0,50]]", 1)
                    FIND(2, "close_wait", "[[0,101]]", "[[0,50]]", 1)
                        FIND(3, "close_wait", "[[0,100]]", "[[0,51]]", 1)
                            FIND(4, "unclosed_after_shutdown", "[[0,100]]", "[[0,50]]", 1)
                                FIND(5, "close_wait", "[[0,100]]", "[[0,50]]", 1)
                                    FIND(6, "close_wait", "[[0,100]]", "[[0,50]]", 1));
    sl_group_build(&g, &logs);
    assert_int_equal(g.n_groups, 4);
    /* Biggest first, then by kind. */
    assert_int_equal(g.groups[0]->count, 3);
    assert_string_equal(g.groups[0]->kind, "close_wait");
    for (size_t i = 1; i < 4; i++)
        assert_int_equal(g.groups[i]->count, 1);
    assert_string_equal(g.groups[3]->kind, "unclosed_after_shutdown");
    assert_int_equal(g.leaks, 6);
    assert_int_equal(g.groups_left, 4);
    sl_group_free(&g);
    sl_logread_free(&logs);
}

static void test_without_build_id_path_is_the_key(void **state)
{
    struct sl_logread_set logs;
    struct sl_group_set g;
    (void)state;

    load(&logs, HDR(1) MOD(4096, "/a/srv", "") FIND(1, "close_wait", "[[0,100]]", "[]", 1) HDR(2)
                    MOD(8192, "/b/srv", "") FIND(1, "close_wait", "[[0,100]]", "[]", 1) HDR(3)
                        MOD(8192, "/a/srv", "") FIND(1, "close_wait", "[[0,100]]", "[]", 1));
    sl_group_build(&g, &logs);
    assert_int_equal(g.n_groups, 2);
    assert_int_equal(g.groups[0]->count, 2);
    assert_int_equal(g.groups[0]->processes, 2);
    sl_group_free(&g);
    sl_logread_free(&logs);
}

static void test_closed_late_and_summary(void **state)
{
    struct sl_logread_set logs;
    struct sl_group_set g;
    struct sl_sym_ctx *sym = sl_sym_new(true);
    (void)state;

    load(&logs, HDR(1) MOD(4096, "/nonexistent/srv", "")
                    FIND(1, "close_wait", "[[0,100],[-1,4096]]", "[[0,50]]", 1)
                        FIND(2, "close_wait", "[[0,100],[-1,4096]]", "[[0,50]]",
                             1) "{\"t\":\"closed\",\"id\":2,\"fd\":2,\"held_ms\":9000}\n"
                                "{\"t\":\"footer\",\"sockets\":7,\"eof_seen\":4}\n");
    sl_group_build(&g, &logs);
    assert_int_equal(g.n_groups, 1);
    assert_int_equal(g.groups[0]->closed_late, 1);
    assert_int_equal(g.groups[0]->held_max, 9000);
    assert_int_equal(g.sockets, 7);
    assert_int_equal(g.eof_seen, 4);

    /* A missing module still gives one frame per logged frame. */
    sl_group_symbolize(&g, sym);
    assert_int_equal(g.groups[0]->eof_sym.n, 2);
    assert_string_equal(g.groups[0]->eof_sym.frames[0].function, "srv+0x64");
    assert_null(g.groups[0]->eof_sym.frames[0].file);
    assert_string_equal(g.groups[0]->eof_sym.frames[1].function, "0x1000");
    assert_int_equal(g.groups[0]->open_sym.n, 1);
    sl_sym_free(sym);
    sl_group_free(&g);
    sl_logread_free(&logs);
}

/* --group-frames: only the top N frames of each stack make the key. */
static void test_group_by_top_frames(void **state)
{
    struct sl_logread_set logs;
    struct sl_group_set g;
    (void)state;

    load(&logs, HDR(1) MOD(4096, "/a/srv", "") FIND(1, "close_wait", "[[0,100],[0,200],[0,300]]",
                                                    "[[0,50],[0,60]]", 10)
                    FIND(2, "close_wait", "[[0,100],[0,200],[0,301]]", "[[0,50],[0,60],[0,70]]", 20)
                        FIND(3, "close_wait", "[[0,100],[0,201],[0,300]]", "[[0,50]]", 30)
                            FIND(4, "close_wait", "[[0,101],[0,200]]", "[[0,50]]", 40)
                                FIND(5, "unclosed_after_shutdown", "[[0,101]]", "[[0,50]]", 50)
                                    FIND(6, "close_wait", "[[0,100]]", "[[0,51]]", 60));
    /* All frames: every finding is its own call site. */
    sl_group_build_n(&g, &logs, 0);
    assert_int_equal(g.n_groups, 6);
    sl_group_free(&g);

    /* One frame: eof 100 + open 50 (findings 1, 2, 3), then eof 101 + open
     * 50 twice but of two kinds, then eof 100 + open 51. */
    sl_group_build_n(&g, &logs, 1);
    assert_int_equal(g.n_groups, 4);
    assert_int_equal(g.groups[0]->count, 3);
    assert_int_equal(g.groups[0]->held_median, 20);
    /* The first finding stands for the group, with its whole stack. */
    assert_int_equal(g.groups[0]->rep->id, 1);
    assert_int_equal(g.groups[0]->rep->eof_stack.n, 3);
    /* Equal counts: ordered by kind. */
    for (size_t i = 1; i < 4; i++)
        assert_int_equal(g.groups[i]->count, 1);
    assert_string_equal(g.groups[1]->kind, "close_wait");
    assert_string_equal(g.groups[2]->kind, "close_wait");
    assert_string_equal(g.groups[3]->kind, "unclosed_after_shutdown");
    assert_int_equal(g.leaks, 6);
    sl_group_free(&g);

    /* Two frames: 1 and 2 share eof [100,200] and open [50,60]. */
    sl_group_build_n(&g, &logs, 2);
    assert_int_equal(g.n_groups, 5);
    assert_int_equal(g.groups[0]->count, 2);
    assert_int_equal(g.groups[0]->processes, 1);
    sl_group_free(&g);

    /* More frames than any stack has is the same as all. */
    sl_group_build_n(&g, &logs, 64);
    assert_int_equal(g.n_groups, 6);
    sl_group_free(&g);
    sl_logread_free(&logs);
}

/* A finding of the kernel-swept kinds, extra keys as raw JSON. */
#define FINDK(id, kind, extra)                                                                     \
    "{\"t\":\"finding\",\"id\":" #id ",\"kind\":\"" kind "\",\"fd\":" #id                          \
    ",\"local\":\"l\",\"peer\":\"p\",\"tcp_state\":\"CLOSE_WAIT\",\"held_ms\":1," extra "}\n"

/* close_wait_unread: the creation and the last read make the call site; the
 * (empty or stray) eof_stack does not. */
static void test_unread_grouped_by_open_and_last_read(void **state)
{
    struct sl_logread_set logs;
    struct sl_group_set g;
    (void)state;

    load(&logs,
         HDR(1) MOD(4096, "/a/srv", "") FINDK(
             1, "close_wait_unread",
             "\"open_stack\":[[0,50]],\"last_read_stack\":[[0,100]],\"idle_ms\":9000,"
             "\"unread_bytes\":10")
             FINDK(2, "close_wait_unread", "\"open_stack\":[[0,50]],\"last_read_stack\":[[0,101]]")
                 FINDK(3, "close_wait_unread",
                       "\"open_stack\":[[0,50]],\"last_read_stack\":[[0,100]],\"eof_stack\":"
                       "[[0,9]],\"idle_ms\":12000,\"unread_bytes\":512,\"at_exit\":true")
                     FINDK(4, "close_wait_unread",
                           "\"open_stack\":[[0,51]],\"last_read_stack\":[[0,100]]"));
    sl_group_build(&g, &logs);
    assert_int_equal(g.n_groups, 3);
    assert_int_equal(g.groups[0]->count, 2);
    assert_string_equal(g.groups[0]->kind, "close_wait_unread");
    assert_int_equal(g.groups[0]->idle_ms_max, 12000);
    assert_int_equal(g.groups[0]->unread_bytes_max, 512);
    assert_int_equal(g.groups[0]->at_exit_count, 1);
    assert_true(g.groups[0]->has & SL_LOGREAD_HAS_IDLE_MS);
    assert_int_equal(g.groups[1]->count, 1);
    assert_int_equal(g.groups[1]->at_exit_count, 0);
    assert_int_equal(g.leaks, 4);
    sl_group_free(&g);
    sl_logread_free(&logs);
}

/* close_wait_inherited: creation plus the fork that copied it; which parent
 * forked does not split. */
static void test_inherited_grouped_by_open_and_fork(void **state)
{
    struct sl_logread_set logs;
    struct sl_group_set g;
    (void)state;

    load(&logs,
         HDR(1) MOD(4096, "/a/srv", "")
             FINDK(1, "close_wait_inherited",
                   "\"open_stack\":[[0,50]],\"fork_stack\":[[0,200]],\"from_pid\":7")
                 FINDK(2, "close_wait_inherited",
                       "\"open_stack\":[[0,50]],\"fork_stack\":[[0,201]],\"from_pid\":7")
                     FINDK(3, "close_wait_inherited",
                           "\"open_stack\":[[0,50]],\"fork_stack\":[[0,200]],\"from_pid\":8"));
    sl_group_build(&g, &logs);
    assert_int_equal(g.n_groups, 2);
    assert_int_equal(g.groups[0]->count, 2);
    assert_int_equal(g.groups[0]->examples[1].from_pid, 8);
    assert_true(g.groups[0]->examples[1].has & SL_LOGREAD_HAS_FROM_PID);
    sl_group_free(&g);
    sl_logread_free(&logs);
}

/* close_wait_unaccepted: the listener alone is the call site, and one
 * record stands for "sockets" connections. */
static void test_unaccepted_grouped_by_listener_and_counted(void **state)
{
    struct sl_logread_set logs;
    struct sl_group_set g;
    (void)state;

    load(&logs, HDR(1) MOD(4096, "/a/srv", "")
                    FINDK(1, "close_wait_unaccepted",
                          "\"listen_stack\":[[0,300]],\"sockets\":5,\"backlog\":128,\"queued\":7")
                        FINDK(2, "close_wait_unaccepted",
                              "\"listen_stack\":[[0,300]],\"open_stack\":[[0,7]],\"sockets\":2")
                            FINDK(3, "close_wait_unaccepted",
                                  "\"listen_stack\":[[0,301]]") "{\"t\":\"footer\",\"sockets\":3,"
                                                                "\"eof_seen\":0}\n");
    sl_group_build(&g, &logs);
    assert_int_equal(g.n_groups, 2);
    assert_int_equal(g.groups[0]->count, 7);
    assert_int_equal(g.groups[0]->n_examples, 2);
    assert_int_equal(g.groups[0]->examples[0].sockets, 5);
    assert_int_equal(g.groups[0]->examples[0].backlog, 128);
    assert_int_equal(g.groups[0]->examples[0].queued, 7);
    assert_int_equal(g.groups[1]->count, 1);
    assert_int_equal(g.leaks, 8);
    assert_int_equal(g.findings, 8);
    /* Sockets counted by the kernel are sockets too; none read EOF. */
    assert_int_equal(g.sockets, 8);
    assert_int_equal(g.eof_seen, 0);
    sl_group_free(&g);
    sl_logread_free(&logs);
}

/* "sockets" adds up without wrapping; nonsense reads as one socket. */
static void test_socket_counts_saturate(void **state)
{
    struct sl_logread_set logs;
    struct sl_group_set g;
    (void)state;

    load(&logs,
         HDR(1) MOD(4096, "/a/srv", "")
             FINDK(1, "close_wait_unaccepted",
                   "\"listen_stack\":[[0,300]],\"sockets\":9223372036854775807")
                 FINDK(2, "close_wait_unaccepted",
                       "\"listen_stack\":[[0,300]],\"sockets\":9223372036854775807")
                     FINDK(3, "close_wait_unaccepted",
                           "\"listen_stack\":[[0,300]],\"sockets\":9223372036854775807")
                         FINDK(4, "close_wait_unaccepted", "\"listen_stack\":[[0,1]],\"sockets\":0")
                             FINDK(5, "close_wait_unaccepted",
                                   "\"listen_stack\":[[0,2]],\"sockets\":-3")
                                 FINDK(6, "close_wait_unaccepted",
                                       "\"listen_stack\":[[0,3]],\"sockets\":\"x\""));
    sl_group_build(&g, &logs);
    assert_int_equal(g.n_groups, 4);
    assert_true(g.groups[0]->count == SIZE_MAX);
    for (size_t i = 1; i < 4; i++)
        assert_int_equal(g.groups[i]->count, 1);
    assert_true(g.leaks == INT64_MAX);
    assert_true(g.findings == INT64_MAX);
    assert_true(g.sockets == INT64_MAX);
    sl_group_free(&g);
    sl_logread_free(&logs);
}

/* --group-frames cuts the stacks each new kind is keyed by. */
static void test_group_frames_cut_new_kinds(void **state)
{
    struct sl_logread_set logs;
    struct sl_group_set g;
    (void)state;

    load(&logs,
         HDR(1) MOD(4096, "/a/srv",
                    "") FINDK(1, "close_wait_unread",
                              "\"open_stack\":[[0,50]],\"last_read_stack\":[[0,100],[0,200]]")
             FINDK(2, "close_wait_unread",
                   "\"open_stack\":[[0,50]],\"last_read_stack\":[[0,100],[0,201]]")
                 FINDK(3, "close_wait_inherited",
                       "\"open_stack\":[[0,50]],\"fork_stack\":[[0,300],[0,400]]")
                     FINDK(4, "close_wait_inherited",
                           "\"open_stack\":[[0,50]],\"fork_stack\":[[0,300],[0,401]]")
                         FINDK(5, "close_wait_unaccepted", "\"listen_stack\":[[0,5],[0,6]]")
                             FINDK(6, "close_wait_unaccepted", "\"listen_stack\":[[0,5],[0,7]]"));
    sl_group_build_n(&g, &logs, 0);
    assert_int_equal(g.n_groups, 6);
    sl_group_free(&g);
    sl_group_build_n(&g, &logs, 1);
    assert_int_equal(g.n_groups, 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(g.groups[i]->count, 2);
    sl_group_free(&g);
    sl_logread_free(&logs);
}

#define PYHDR(pid)                                                                                 \
    "{\"t\":\"header\",\"version\":1,\"pid\":" #pid ",\"program\":\"python3\",\"exe\":"            \
    "\"/opt/py/bin/python3.11\",\"run_id\":\"\"}\n"                                                \
    "{\"t\":\"module\",\"id\":0,\"path\":\"/opt/py/bin/python3.11\",\"build_id\":\"\"}\n"          \
    "{\"t\":\"module\",\"id\":1,\"path\":\"/opt/py/lib/libc.so.6\",\"build_id\":\"\"}\n"
#define PYFRAME(id, fn, file, line)                                                                \
    "{\"t\":\"frame\",\"id\":" #id ",\"lang\":\"python\",\"function\":\"" fn "\",\"file\":\"" file \
    "\",\"line\":" #line "}\n"

/* Python: two functions whose native stacks are the same are two call
 * sites; the interpreter's native frames and the standard library do not
 * split a call site (here a different libc offset and socket.py line); frame
 * ids differ between processes. */
static void test_language_frames_key_by_user_code(void **state)
{
    struct sl_logread_set logs;
    struct sl_group_set g;
    struct sl_sym_ctx *sym = sl_sym_new(true);
    (void)state;

    load(&logs,
         PYHDR(1) PYFRAME(1, "handle", "/srv/app.py", 12) PYFRAME(2, "other", "/srv/app.py", 30)
             PYFRAME(3, "recv_into", "/usr/lib/python3.11/socket.py",
                     700) FIND(1, "close_wait", "[[1,16],[0,32],[-2,3],[-2,1]]", "[[0,48]]", 1)
                 FIND(2, "close_wait", "[[1,16],[0,32],[-2,3],[-2,2]]", "[[0,48]]", 1) PYHDR(2)
                     PYFRAME(9, "handle", "/srv/app.py", 12)
                         PYFRAME(4, "recv_into", "/usr/lib/python3.11/socket.py", 702)
                             FIND(1, "close_wait", "[[1,17],[0,32],[-2,4],[-2,9]]", "[[0,64]]", 1));
    sl_group_build(&g, &logs);
    assert_int_equal(g.n_groups, 2);
    assert_int_equal(g.groups[0]->count, 2);
    assert_int_equal(g.groups[0]->processes, 2);
    sl_group_symbolize(&g, sym);
    assert_non_null(g.groups[0]->call_site);
    assert_string_equal(g.groups[0]->call_site->function, "handle");
    assert_string_equal(g.groups[0]->call_site->file, "/srv/app.py");
    assert_int_equal(g.groups[0]->call_site->line, 12);
    assert_string_equal(g.groups[0]->call_site->lang, "python");
    assert_string_equal(g.groups[0]->call_site_stack, "eof_stack");
    assert_true(g.groups[0]->call_site_user);
    assert_string_equal(g.groups[1]->call_site->function, "other");
    assert_string_equal(g.groups[0]->eof_sym.frames[2].lang, "python");
    assert_null(g.groups[0]->eof_sym.frames[0].lang);
    sl_group_free(&g);
    /* With a source root elsewhere no frame is user code: the stacks' own
     * language frames key them, still apart. */
    sl_group_build_src(&g, &logs, 0, "/elsewhere");
    assert_int_equal(g.n_groups, 3);
    sl_group_free(&g);
    sl_sym_free(sym);
    sl_logread_free(&logs);
}

#define NODEHDR                                                                                    \
    "{\"t\":\"header\",\"version\":1,\"pid\":5,\"program\":\"node\",\"exe\":\"/opt/n/node\","      \
    "\"run_id\":\"\"}\n{\"t\":\"module\",\"id\":0,\"path\":\"/opt/n/node\",\"build_id\":\"\"}\n"   \
    "{\"t\":\"frame\",\"id\":1,\"lang\":\"javascript\",\"function\":\"listen\",\"file\":"          \
    "\"node:net\",\"line\":9}\n{\"t\":\"frame\",\"id\":2,\"lang\":\"javascript\",\"function\":"    \
    "\"start\",\"file\":\"/srv/server.js\",\"line\":12}\n{\"t\":\"frame\",\"id\":3,\"lang\":"      \
    "\"javascript\",\"function\":\"admin\",\"file\":\"/srv/server.js\",\"line\":40}\n"
#define NODEFIND(id, listener)                                                                     \
    "{\"t\":\"finding\",\"id\":" #id ",\"kind\":\"close_wait\",\"eof_stack\":[[0,16]],"            \
    "\"open_stack\":[[0,32]],\"listen_stack\":[[0,48],[-2,1],[-2," #listener "]]}\n"

/* An event loop's reads and accepts have no user frame: the listener's
 * first user frame is the call site and tells them apart. */
static void test_event_loop_falls_back_to_the_listener(void **state)
{
    struct sl_logread_set logs;
    struct sl_group_set g;
    struct sl_sym_ctx *sym = sl_sym_new(true);
    (void)state;

    load(&logs, NODEHDR NODEFIND(1, 2) NODEFIND(2, 3) NODEFIND(3, 2));
    sl_group_build(&g, &logs);
    assert_int_equal(g.n_groups, 2);
    sl_group_symbolize(&g, sym);
    assert_int_equal(g.groups[0]->count, 2);
    assert_string_equal(g.groups[0]->call_site->function, "start");
    assert_int_equal(g.groups[0]->call_site->line, 12);
    assert_string_equal(g.groups[0]->call_site_stack, "listen_stack");
    assert_true(g.groups[0]->call_site_listener);
    assert_string_equal(g.groups[1]->call_site->function, "admin");
    sl_group_free(&g);
    sl_sym_free(sym);
    sl_logread_free(&logs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_processes_at_different_bases_merge),
        cmocka_unit_test(test_different_stacks_and_kinds_split),
        cmocka_unit_test(test_without_build_id_path_is_the_key),
        cmocka_unit_test(test_closed_late_and_summary),
        cmocka_unit_test(test_group_by_top_frames),
        cmocka_unit_test(test_unread_grouped_by_open_and_last_read),
        cmocka_unit_test(test_inherited_grouped_by_open_and_fork),
        cmocka_unit_test(test_unaccepted_grouped_by_listener_and_counted),
        cmocka_unit_test(test_socket_counts_saturate),
        cmocka_unit_test(test_group_frames_cut_new_kinds),
        cmocka_unit_test(test_language_frames_key_by_user_code),
        cmocka_unit_test(test_event_loop_falls_back_to_the_listener),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
