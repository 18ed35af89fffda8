/* Reading raw logs: several processes per file, closed records, damaged
 * lines, directories and the run_id filter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logread.h"
#include "sockleak_log.h"

static char sl_test_data[4096];

/* Data files sit beside this source; tests run from the top of the tree
 * unless SOCKLEAK_TEST_DATA says where they are. */
static const char *data(const char *name)
{
    static char buf[8192];
    const char *env = getenv("SOCKLEAK_TEST_DATA");

    if (!sl_test_data[0]) {
        if (env)
            snprintf(sl_test_data, sizeof(sl_test_data), "%s", env);
        else {
            snprintf(sl_test_data, sizeof(sl_test_data), "%s", __FILE__);
            *strrchr(sl_test_data, '/') = '\0';
            strcat(sl_test_data, "/data");
        }
    }
    snprintf(buf, sizeof(buf), "%s/%s", sl_test_data, name);
    return buf;
}

static void test_two_processes_in_one_file(void **state)
{
    struct sl_logread_set set;
    (void)state;

    sl_logread_init(&set, NULL);
    assert_int_equal(sl_logread_path(&set, data("two_procs.jsonl")), 0);
    assert_int_equal(set.n_procs, 2);
    assert_int_equal(set.n_warnings, 0);

    struct sl_logread_process *a = &set.procs[0], *b = &set.procs[1];
    assert_int_equal(a->pid, 100);
    assert_string_equal(a->program, "server");
    assert_string_equal(a->run_id, "r1");
    assert_int_equal(a->n_modules, 2);
    assert_int_equal(a->n_findings, 3);
    assert_true(a->has_footer);
    assert_int_equal(a->sockets, 10);
    assert_int_equal(a->eof_seen, 6);
    assert_int_equal(b->pid, 200);
    assert_int_equal(b->n_findings, 2);

    const struct sl_logread_module *m = sl_logread_module(a, 1);
    assert_non_null(m);
    assert_string_equal(m->path, "/opt/sockleak-test/libc.so.6");
    assert_string_equal(m->build_id, "");
    assert_null(sl_logread_module(a, 5));

    /* The "closed" record marks finding 2 and replaces its held time. */
    assert_false(a->findings[0].closed);
    assert_true(a->findings[1].closed);
    assert_int_equal(a->findings[1].held_ms, 8000);

    struct sl_logread_finding *f = &a->findings[0];
    assert_string_equal(f->kind, SL_KIND_CLOSE_WAIT);
    assert_int_equal(f->fd, 7);
    assert_string_equal(f->peer, "127.0.0.1:53122");
    assert_string_equal(f->tcp_state, "CLOSE_WAIT");
    assert_int_equal(f->eof_stack.n, 3);
    assert_int_equal(f->eof_stack.frames[1].module, 0);
    assert_int_equal(f->eof_stack.frames[1].offset, 7000);
    assert_int_equal(f->open_stack.n, 1);

    /* tcp_state null and an empty stack are both legal. */
    f = &a->findings[2];
    assert_null(f->tcp_state);
    assert_int_equal(f->open_stack.n, 0);
    assert_int_equal(b->findings[1].eof_stack.frames[1].module, SL_LOGREAD_NO_MODULE);
    sl_logread_free(&set);
}

static void test_damaged_lines_are_skipped(void **state)
{
    struct sl_logread_set set;
    (void)state;

    sl_logread_init(&set, NULL);
    assert_int_equal(sl_logread_file(&set, data("damaged.jsonl")), 0);
    /* Record before header, corrupt line, unknown type, bad frame, closed
     * for an unknown id, truncated last line. */
    assert_int_equal(set.n_warnings, 6);
    assert_int_equal(set.n_procs, 1);
    assert_int_equal(set.procs[0].pid, 300);
    assert_int_equal(set.procs[0].n_findings, 1);
    assert_int_equal(set.procs[0].findings[0].eof_stack.n, 1);
    assert_int_equal(set.procs[0].findings[0].eof_stack.frames[0].offset, 4660);
    assert_false(set.procs[0].has_footer);
    sl_logread_free(&set);
}

static void test_directory_sorted_and_filtered(void **state)
{
    struct sl_logread_set set;
    (void)state;

    sl_logread_init(&set, NULL);
    assert_int_equal(sl_logread_path(&set, data("logs")), 0);
    assert_int_equal(set.n_files, 2); /* README.txt is not a log */
    assert_int_equal(set.n_procs, 2);
    assert_int_equal(set.procs[0].pid, 401);
    assert_int_equal(set.procs[1].pid, 402);
    sl_logread_free(&set);

    sl_logread_init(&set, "abc");
    assert_int_equal(sl_logread_path(&set, data("logs")), 0);
    assert_int_equal(set.n_procs, 1);
    assert_int_equal(set.n_skipped, 1);
    assert_int_equal(set.procs[0].pid, 401);
    sl_logread_free(&set);
}

static void write_log(const char *dir, const char *rel, int pid)
{
    char path[512];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp, "{\"t\":\"header\",\"version\":1,\"pid\":%d,\"program\":\"p\",\"run_id\":\"\"}\n",
            pid);
    fclose(fp);
}

/* A CI artifact tree: logs at any depth, read in name order at each level;
 * other files and links to directories (a loop here) are left alone. */
static void test_directory_tree_is_read_recursively(void **state)
{
    char dir[] = "/tmp/sockleak-tree-XXXXXX", cmd[512];
    struct sl_logread_set set;
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(cmd, sizeof(cmd),
             "cd %s && mkdir -p job-b/x job-a empty.jsonl.d && ln -s .. job-a/loop && "
             "ln -s ../job-b job-a/zz.jsonl && echo hi > job-b/notes.txt",
             dir);
    assert_int_equal(system(cmd), 0);
    write_log(dir, "job-b/x/srv.4.jsonl", 4);
    write_log(dir, "job-b/srv.3.jsonl", 3);
    write_log(dir, "job-a/srv.2.jsonl", 2);
    write_log(dir, "top.1.jsonl", 1);
    write_log(dir, "job-a.jsonl", 5);

    sl_logread_init(&set, NULL);
    assert_int_equal(sl_logread_path(&set, dir), 0);
    assert_int_equal(set.n_files, 5);
    assert_int_equal(set.n_procs, 5);
    /* "job-a" < "job-a.jsonl" < "job-b"; in job-b, "srv.3.jsonl" < "x". */
    assert_int_equal(set.procs[0].pid, 2);
    assert_int_equal(set.procs[1].pid, 5);
    assert_int_equal(set.procs[2].pid, 3);
    assert_int_equal(set.procs[3].pid, 4);
    assert_int_equal(set.procs[4].pid, 1);
    assert_non_null(strstr(set.procs[3].source, "/job-b/x/srv.4.jsonl"));
    sl_logread_free(&set);

    /* flat (sockleak run's own output directory): the top level only. */
    sl_logread_init(&set, NULL);
    set.flat = true;
    assert_int_equal(sl_logread_path(&set, dir), 0);
    assert_int_equal(set.n_procs, 2);
    assert_int_equal(set.procs[0].pid, 5);
    assert_int_equal(set.procs[1].pid, 1);
    sl_logread_free(&set);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* The writer logs only the modules stacks need, under its own ids. */
static void test_sparse_module_ids(void **state)
{
    char dir[] = "/tmp/sockleak-mods-XXXXXX", path[128];
    struct sl_logread_set set;
    const struct sl_logread_process *p;
    FILE *fp;
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/m.1.jsonl", dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("{\"t\":\"header\",\"version\":1,\"pid\":1,\"program\":\"p\",\"run_id\":\"\"}\n"
          "{\"t\":\"module\",\"id\":37,\"path\":\"/a\",\"build_id\":\"\",\"base\":0}\n"
          "{\"t\":\"module\",\"id\":100000,\"path\":\"/b\",\"build_id\":\"\",\"base\":0}\n"
          "{\"t\":\"module\",\"id\":2,\"path\":\"/c\",\"build_id\":\"\",\"base\":0}\n"
          "{\"t\":\"module\",\"id\":37,\"path\":\"/a2\",\"build_id\":\"\",\"base\":0}\n",
          fp);
    fclose(fp);
    sl_logread_init(&set, NULL);
    assert_int_equal(sl_logread_path(&set, path), 0);
    p = &set.procs[0];
    assert_int_equal(p->n_modules, 3);
    assert_string_equal(sl_logread_module(p, 37)->path, "/a2");
    assert_string_equal(sl_logread_module(p, 100000)->path, "/b");
    assert_string_equal(sl_logread_module(p, 2)->path, "/c");
    assert_null(sl_logread_module(p, 3));
    assert_null(sl_logread_module(p, 99999));
    assert_null(sl_logread_module(p, -1));
    sl_logread_free(&set);
    unlink(path);
    rmdir(dir);
}

static void load_text(struct sl_logread_set *set, const char *text)
{
    char path[] = "/tmp/sockleak-closed-XXXXXX";
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    sl_logread_init(set, NULL);
    assert_int_equal(sl_logread_file(set, path), 0);
    unlink(path);
}

#define CL_HDR "{\"t\":\"header\",\"version\":1,\"pid\":1,\"program\":\"p\",\"run_id\":\"\"}\n"
#define CL_FIND(id) "{\"t\":\"finding\",\"id\":" #id ",\"kind\":\"close_wait\",\"held_ms\":1}\n"
#define CL_CLOSE(id) "{\"t\":\"closed\",\"id\":" #id ",\"held_ms\":" #id "00}\n"

#define CL_OPEN(states)                                                                            \
    "{\"t\":\"open\",\"sockets\":7,\"fd_limit\":1024,\"sites\":[{\"open_stack\":[[0,16]],"           \
    "\"states\":" states "},{\"open_stack\":[]}]}\n"

/* The newest open record is the process's census: states by name (one it
 * does not know counts as UNKNOWN), a site without states left out. */
static void test_open_records_replace_the_census(void **state)
{
    struct sl_logread_set set;
    (void)state;

    load_text(&set, CL_HDR CL_OPEN("{\"ESTABLISHED\":5,\"CLOSE_WAIT\":2}")
                        CL_OPEN("{\"LISTEN\":1,\"NEW_STATE\":3,\"CLOSE_WAIT\":-1}"));
    struct sl_logread_process *p = &set.procs[0];
    assert_true(p->has_census);
    assert_int_equal(p->n_census, 1);
    assert_int_equal(p->fd_limit, 1024);
    assert_int_equal(p->census_sockets, 7);
    assert_int_equal(p->census[0].open_stack.n, 1);
    assert_int_equal(p->census[0].counts[10], 1); /* LISTEN */
    assert_int_equal(p->census[0].counts[0], 3);  /* UNKNOWN */
    assert_int_equal(p->census[0].counts[1], 0);  /* the first record's ESTABLISHED: gone */
    assert_int_equal(p->census[0].counts[8], 0);  /* a negative count is left out */
    assert_string_equal(sl_logread_state_name(8), "CLOSE_WAIT");
    assert_int_equal(set.n_warnings, 0);
    sl_logread_free(&set);
}

/* Closed records find their finding in any order, ids in order or not. */
static void test_closed_records_find_their_finding(void **state)
{
    struct sl_logread_set set;
    (void)state;

    load_text(&set, CL_HDR CL_FIND(1) CL_FIND(2) CL_FIND(3) CL_FIND(4) CL_CLOSE(1) CL_CLOSE(4)
                        CL_CLOSE(3) CL_CLOSE(9));
    assert_false(set.procs[0].ids_unordered);
    assert_true(set.procs[0].findings[0].closed);
    assert_false(set.procs[0].findings[1].closed);
    assert_true(set.procs[0].findings[2].closed);
    assert_true(set.procs[0].findings[3].closed);
    assert_int_equal(set.procs[0].findings[3].held_ms, 400);
    assert_int_equal(set.n_warnings, 1); /* 9 is unknown */
    sl_logread_free(&set);

    load_text(&set, CL_HDR CL_FIND(5) CL_FIND(3) CL_FIND(7) CL_CLOSE(3) CL_CLOSE(7) CL_CLOSE(4));
    assert_true(set.procs[0].ids_unordered);
    assert_false(set.procs[0].findings[0].closed);
    assert_true(set.procs[0].findings[1].closed);
    assert_int_equal(set.procs[0].findings[1].held_ms, 300);
    assert_true(set.procs[0].findings[2].closed);
    assert_int_equal(set.n_warnings, 1);
    sl_logread_free(&set);
}

static void test_unreadable_path_fails(void **state)
{
    struct sl_logread_set set;
    (void)state;

    sl_logread_init(&set, NULL);
    assert_int_equal(sl_logread_path(&set, "/nonexistent/sockleak/logs"), -1);
    assert_int_equal(sl_logread_file(&set, "/nonexistent/x.jsonl"), -1);
    sl_logread_free(&set);
}

static void test_overlong_line_and_blank_lines(void **state)
{
    char path[] = "/tmp/sockleak-test-XXXXXX";
    int fd = mkstemp(path);
    FILE *fp;
    struct sl_logread_set set;
    (void)state;

    assert_true(fd >= 0);
    fp = fdopen(fd, "w");
    fputs("{\"t\":\"header\",\"version\":1,\"pid\":1,\"program\":\"p\",\"run_id\":\"\"}\n\n", fp);
    fputs("{\"t\":\"footer\",\"sockets\":1,\"eof_seen\":0,\"pad\":\"", fp);
    for (int i = 0; i < SL_LOG_MAX_LINE; i++)
        fputc('x', fp);
    fputs("\"}\n", fp);
    /* A last line that parses but lacks its newline is still used. */
    fputs("{\"t\":\"footer\",\"sockets\":2,\"eof_seen\":1}", fp);
    fclose(fp);

    sl_logread_init(&set, NULL);
    assert_int_equal(sl_logread_file(&set, path), 0);
    assert_int_equal(set.n_warnings, 1);
    assert_int_equal(set.n_procs, 1);
    assert_int_equal(set.procs[0].sockets, 2);
    sl_logread_free(&set);
    unlink(path);
}

/* The kernel-swept kinds' keys; absent ones read as 0, [] and one socket. */
static void test_kernel_swept_kinds_keys(void **state)
{
    struct sl_logread_set set;
    const struct sl_logread_finding *f;
    (void)state;

    sl_logread_init(&set, NULL);
    assert_int_equal(sl_logread_path(&set, data("kinds.jsonl")), 0);
    assert_int_equal(set.n_warnings, 0);
    assert_int_equal(set.procs[0].n_findings, 6);
    f = set.procs[0].findings;
    assert_string_equal(f[0].kind, SL_KIND_CLOSE_WAIT_UNREAD);
    assert_int_equal(f[0].last_read_stack.n, 2);
    assert_int_equal(f[0].last_read_stack.frames[1].offset, 8300);
    assert_int_equal(f[0].idle_ms, 12000);
    assert_int_equal(f[0].unread_bytes, 512);
    assert_int_equal(f[0].sockets, 1);
    assert_false(f[0].at_exit);
    assert_true(f[0].has & SL_LOGREAD_HAS_IDLE_MS);
    assert_true(f[0].has & SL_LOGREAD_HAS_UNREAD_BYTES);
    assert_false(f[0].has & SL_LOGREAD_HAS_FROM_PID);
    assert_true(f[1].at_exit);
    assert_int_equal(f[2].last_read_stack.n, 0);
    assert_int_equal(f[3].fork_stack.n, 1);
    assert_int_equal(f[3].fork_stack.frames[0].offset, 12288);
    assert_int_equal(f[3].from_pid, 299);
    assert_true(f[3].has & SL_LOGREAD_HAS_FROM_PID);
    assert_int_equal(f[3].idle_ms, 0);
    assert_int_equal(f[4].sockets, 5);
    assert_true(f[4].has & SL_LOGREAD_HAS_SOCKETS);
    assert_int_equal(f[4].listen_stack.n, 1);
    assert_int_equal(f[4].backlog, 128);
    assert_int_equal(f[4].queued, 7);
    assert_true(f[4].has & SL_LOGREAD_HAS_BACKLOG);
    assert_true(f[4].has & SL_LOGREAD_HAS_QUEUED);
    /* An accepted socket names its listener; old kinds gain nothing else. */
    assert_int_equal(f[5].listen_stack.n, 1);
    assert_int_equal(f[5].has, 0);
    assert_int_equal(f[5].fork_stack.n, 0);
    sl_logread_free(&set);
}

#define LF_FRAME(id, rest) "{\"t\":\"frame\",\"id\":" #id rest "}\n"

/* "frame" records: per process, indexed by id, a repeat replaces; [-2, id]
 * in every stack key; damaged records warn and are left out, a bad line or
 * language reads as unknown. */
static void test_language_frames(void **state)
{
    struct sl_logread_set set;
    const struct sl_logread_process *p;
    const struct sl_logread_finding *f;
    const struct sl_logread_lframe *lf;
    (void)state;

    load_text(&set,
              CL_HDR LF_FRAME(3, ",\"lang\":\"python\",\"function\":\"old\"") LF_FRAME(
                  3, ",\"lang\":\"python\",\"function\":\"handle\",\"file\":\"/srv/"
                     "app.py\",\"line\":12") LF_FRAME(9223372036854775807,
                                                      ",\"lang\":\"Py\\u001b\",\"function\":\"f\","
                                                      "\"file\":7,\"line\":\"12\"")
                  LF_FRAME(5, ",\"lang\":\"ruby\",\"function\":\"g\",\"line\":-4")
                      LF_FRAME(-1, ",\"lang\":\"python\",\"function\":\"neg\"")
                          LF_FRAME("6", ",\"lang\":\"python\",\"function\":\"str\"") LF_FRAME(
                              7, ",\"lang\":\"python\"") "{\"t\":\"finding\",\"id\":1,\"kind\":"
                                                         "\"close_wait\",\"eof_stack\":[[0,1],"
                                                         "[-2,3],[-2,42]],\"open_stack\":[[-2,5]],"
                                                         "\"last_read_stack\":[[-2,3]],"
                                                         "\"fork_stack\":[[-2,3]],\"listen_stack\":"
                                                         "[[-2,9223372036854775807]]}\n");
    p = &set.procs[0];
    assert_int_equal(p->n_lframes, 3);
    /* id -1, id "6", id 7 without function; bad line twice. */
    assert_int_equal(set.n_warnings, 5);
    lf = sl_logread_lframe(p, 3);
    assert_non_null(lf);
    assert_string_equal(lf->lang, "python");
    assert_string_equal(lf->function, "handle");
    assert_string_equal(lf->file, "/srv/app.py");
    assert_int_equal(lf->line, 12);
    lf = sl_logread_lframe(p, INT64_MAX);
    assert_non_null(lf);
    assert_string_equal(lf->lang, "unknown");
    assert_string_equal(lf->file, "");
    assert_int_equal(lf->line, 0);
    assert_string_equal(sl_logread_lframe(p, 5)->lang, "ruby");
    assert_int_equal(sl_logread_lframe(p, 5)->line, 0);
    assert_null(sl_logread_lframe(p, 42));
    assert_null(sl_logread_lframe(p, 7));
    f = &p->findings[0];
    assert_int_equal(f->eof_stack.n, 3);
    assert_int_equal(f->eof_stack.frames[1].module, SL_LOGREAD_LANG_FRAME);
    assert_int_equal(f->eof_stack.frames[1].offset, 3);
    assert_int_equal(f->open_stack.frames[0].module, SL_LOGREAD_LANG_FRAME);
    assert_int_equal(f->last_read_stack.frames[0].module, SL_LOGREAD_LANG_FRAME);
    assert_int_equal(f->fork_stack.frames[0].module, SL_LOGREAD_LANG_FRAME);
    assert_int_equal(f->listen_stack.frames[0].offset, INT64_MAX);
    sl_logread_free(&set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_processes_in_one_file),
        cmocka_unit_test(test_damaged_lines_are_skipped),
        cmocka_unit_test(test_directory_sorted_and_filtered),
        cmocka_unit_test(test_directory_tree_is_read_recursively),
        cmocka_unit_test(test_sparse_module_ids),
        cmocka_unit_test(test_closed_records_find_their_finding),
        cmocka_unit_test(test_unreadable_path_fails),
        cmocka_unit_test(test_overlong_line_and_blank_lines),
        cmocka_unit_test(test_kernel_swept_kinds_keys),
        cmocka_unit_test(test_language_frames),
        cmocka_unit_test(test_open_records_replace_the_census),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
