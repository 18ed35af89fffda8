/* Metrics for Prometheus: label escaping, the series and their cap, which
 * processes still run, and the incremental log reader `serve` uses
 * (appended half lines, truncated, replaced, new and deleted files). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "logread.h"
#include "logscan.h"
#include "metrics.h"
#include "tcpstate.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static char sl_dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(sl_dir, sizeof(sl_dir), "/tmp/sl-metrics-XXXXXX");
    return mkdtemp(sl_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[512];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sl_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* name under the test directory; two calls may be used at once. */
static const char *path(const char *name)
{
    static char buf[2][512];
    static int which;
    which = !which;
    snprintf(buf[which], sizeof(buf[which]), "%s/%s", sl_dir, name);
    return buf[which];
}

static void write_file(const char *name, const char *mode, const char *text)
{
    FILE *fp = fopen(path(name), mode);
    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
}

#define HEADER(pid, prog)                                                                          \
    "{\"t\":\"header\",\"version\":1,\"pid\":" #pid ",\"ppid\":1,\"program\":\"" prog "\","        \
    "\"start_unix_ms\":1,\"run_id\":\"\",\"deadline_ms\":100,\"frames\":32}\n"
#define MODULE                                                                                     \
    "{\"t\":\"module\",\"id\":0,\"path\":\"/nonexistent/srv\",\"build_id\":\"\",\"base\":0}\n"
#define FINDING(id, off)                                                                           \
    "{\"t\":\"finding\",\"id\":" #id ",\"kind\":\"close_wait\",\"fd\":7,\"family\":\"inet\","      \
    "\"local\":\"127.0.0.1:1\",\"peer\":\"127.0.0.1:2\",\"inode\":1,\"tcp_state\":\"CLOSE_WAIT\"," \
    "\"eof_unix_ms\":1,\"held_ms\":200,\"eof_stack\":[[0," #off "]],\"open_stack\":[[0,16]]}\n"

static void test_escape(void **state)
{
    char *e;
    (void)state;

    e = sl_metrics_escape("plain_name.c");
    assert_string_equal(e, "plain_name.c");
    free(e);
    e = sl_metrics_escape("a\\b\"c\nd");
    assert_string_equal(e, "a\\\\b\\\"c\\nd");
    free(e);
    /* Other control characters and invalid UTF-8 become U+FFFD; valid
     * UTF-8 stays. */
    e = sl_metrics_escape("t\tx\r\xff\xc3\xa9\xc2\x85");
    assert_string_equal(e, "t\xef\xbf\xbdx\xef\xbf\xbd\xef\xbf\xbd\xc3\xa9\xef\xbf\xbd");
    free(e);
    e = sl_metrics_escape(NULL);
    assert_string_equal(e, "");
    free(e);
}

/* Reads what was appended to name since the cursor's offset, as a scrape
 * of serve does (report/logscan.c). */
static void tail_read(struct sl_logread_set *set, struct sl_logread_cursor *k, const char *name)
{
    char buf[333]; /* an odd size: lines cut across reads */
    ssize_t n;
    int fd = open(path(name), O_RDONLY);

    assert_true(fd >= 0);
    k->name = name;
    k->trusted = true;
    while ((n = pread(fd, buf, sizeof(buf), k->offset)) > 0)
        sl_logread_feed_bytes(set, k, buf, (size_t)n);
    close(fd);
}

static void test_tail_appended_half_line(void **state)
{
    const char *whole = FINDING(1, 100);
    size_t half = strlen(whole) / 2;
    char first[1024];
    struct sl_logread_set set;
    struct sl_logread_cursor t = {0};
    (void)state;

    snprintf(first, sizeof(first), "%s%s%.*s", HEADER(10, "srv"), MODULE, (int)half, whole);
    write_file("half.jsonl", "w", first);
    sl_logread_init(&set, NULL);
    tail_read(&set, &t, "half.jsonl");
    assert_int_equal(set.n_procs, 1);
    assert_int_equal(set.procs[0].n_findings, 0); /* the half line waits */
    /* Read to the end, the half line held, not parsed. */
    assert_int_equal(t.offset - (off_t)t.plen, strlen(HEADER(10, "srv")) + strlen(MODULE));
    assert_int_equal(t.plen, half);
    write_file("half.jsonl", "a", whole + half);
    tail_read(&set, &t, "half.jsonl");
    assert_int_equal(set.n_procs, 1);
    assert_int_equal(set.procs[0].n_findings, 1);
    assert_int_equal(set.n_warnings, 0);
    /* Nothing new: nothing read twice. */
    tail_read(&set, &t, "half.jsonl");
    assert_int_equal(set.procs[0].n_findings, 1);
    write_file("half.jsonl", "a", "{\"t\":\"closed\",\"id\":1,\"fd\":7,\"held_ms\":900}\n");
    tail_read(&set, &t, "half.jsonl");
    assert_true(set.procs[0].findings[0].closed);
    assert_int_equal(set.n_warnings, 0);
    sl_logread_free(&set);
    sl_logread_cursor_free(&t);
}

static void test_tail_unended_long_line_dropped(void **state)
{
    char junk[2001];
    struct sl_logread_set set;
    struct sl_logread_cursor t = {0};
    (void)state;

    memset(junk, 'x', 2000);
    junk[2000] = '\0';
    write_file("long.jsonl", "w", junk);
    sl_logread_init(&set, NULL);
    set.max_line = 1000;
    tail_read(&set, &t, "long.jsonl");
    assert_int_equal(t.offset, 2000); /* dropped now, not held */
    assert_int_equal(t.plen, 0);
    assert_int_equal(set.n_warnings, 1);
    write_file("long.jsonl", "a", junk);
    write_file("long.jsonl", "a", "\n" HEADER(11, "s"));
    tail_read(&set, &t, "long.jsonl");
    assert_int_equal(set.n_procs, 1);
    assert_int_equal(set.procs[0].pid, 11);
    assert_int_equal(set.n_warnings, 1);
    sl_logread_free(&set);
    sl_logread_cursor_free(&t);
}

/* The unit test data directory beside this source. */
static const char *data(const char *name)
{
    static char buf[1024];
    snprintf(buf, sizeof(buf), "%s", __FILE__);
    snprintf(strrchr(buf, '/'), sizeof(buf) - (size_t)(strrchr(buf, '/') - buf), "/data/%s", name);
    return buf;
}

/* A log written in pieces of every size, read after each piece, gives what
 * reading it whole gives: no line lost, none read twice, none cut. */
static void test_tail_pieces_equal_whole(void **state)
{
    static const char *logs[] = {"two_procs.jsonl", "kinds.jsonl", "damaged.jsonl"};
    static const size_t steps[] = {1, 7, 97, 4096};
    (void)state;

    for (size_t li = 0; li < sizeof(logs) / sizeof(*logs); li++) {
        struct sl_logread_set whole;
        char *text = NULL;
        size_t len = 0;
        FILE *in = fopen(data(logs[li]), "r");

        assert_non_null(in);
        assert_int_equal(getdelim(&text, &len, '\0', in) > 0, 1);
        len = strlen(text);
        fclose(in);
        sl_logread_init(&whole, NULL);
        assert_int_equal(sl_logread_path(&whole, data(logs[li])), 0);
        for (size_t si = 0; si < sizeof(steps) / sizeof(*steps); si++) {
            struct sl_logread_set set;
            struct sl_logread_cursor t = {0};

            sl_logread_init(&set, NULL);
            write_file("pieces.jsonl", "w", "");
            for (size_t off = 0; off < len; off += steps[si]) {
                FILE *fp = fopen(path("pieces.jsonl"), "a");
                fwrite(text + off, 1, off + steps[si] < len ? steps[si] : len - off, fp);
                fclose(fp);
                tail_read(&set, &t, "pieces.jsonl");
            }
            assert_int_equal(set.n_procs, whole.n_procs);
            for (size_t i = 0; i < set.n_procs; i++) {
                assert_int_equal(set.procs[i].pid, whole.procs[i].pid);
                assert_int_equal(set.procs[i].n_modules, whole.procs[i].n_modules);
                assert_int_equal(set.procs[i].n_findings, whole.procs[i].n_findings);
                assert_int_equal(set.procs[i].has_footer, whole.procs[i].has_footer);
                for (size_t j = 0; j < set.procs[i].n_findings; j++)
                    assert_int_equal(set.procs[i].findings[j].closed,
                                     whole.procs[i].findings[j].closed);
            }
            sl_logread_free(&set);
            sl_logread_cursor_free(&t);
        }
        sl_logread_free(&whole);
        free(text);
    }
}

static size_t findings_of(struct sl_logscan *s, const char *program, size_t *procs)
{
    size_t n, total = 0;
    const struct sl_logread_process **p = sl_logscan_procs(s, &n);

    *procs = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(p[i]->program, program) == 0) {
            total += p[i]->n_findings;
            (*procs)++;
        }
    free(p);
    return total;
}

static void test_logscan_new_truncated_replaced_deleted(void **state)
{
    char dir[600], *paths[1] = {dir};
    struct sl_logscan s;
    size_t procs;
    uint64_t bytes;
    (void)state;

    snprintf(dir, sizeof(dir), "%s", path("scan"));
    assert_int_equal(mkdir(dir, 0700), 0);

    write_file("scan/a.jsonl", "w", HEADER(20, "a") MODULE FINDING(1, 100));
    write_file("scan/notalog.txt", "w", HEADER(99, "x"));
    sl_logscan_init(&s, paths, 1);
    assert_int_equal(sl_logscan_update(&s), 0);
    assert_int_equal(findings_of(&s, "a", &procs), 1);
    assert_int_equal(procs, 1);
    assert_int_equal(findings_of(&s, "x", &procs), 0);
    assert_int_equal(procs, 0);

    /* Appended: only the new line is parsed (no process twice). */
    write_file("scan/a.jsonl", "a", FINDING(2, 100));
    sl_logscan_update(&s);
    assert_int_equal(findings_of(&s, "a", &procs), 2);
    assert_int_equal(procs, 1);

    /* A new file in a new subdirectory. */
    assert_int_equal(mkdir(path("scan/sub"), 0700), 0);
    write_file("scan/sub/b.jsonl", "w", HEADER(21, "b") MODULE FINDING(1, 100));
    sl_logscan_update(&s);
    assert_int_equal(findings_of(&s, "b", &procs), 1);
    assert_int_equal(sl_logscan_files(&s, &bytes), 2);

    /* Truncated and rewritten shorter: read again from its start. */
    write_file("scan/a.jsonl", "w", HEADER(22, "a2"));
    sl_logscan_update(&s);
    assert_int_equal(findings_of(&s, "a", &procs), 0);
    assert_int_equal(procs, 0);
    assert_int_equal(findings_of(&s, "a2", &procs), 0);
    assert_int_equal(procs, 1);

    /* Replaced by another file (a rename over it), even a longer one. */
    write_file("scan/new.tmp", "w", HEADER(23, "a3") MODULE FINDING(1, 100) FINDING(2, 100));
    assert_int_equal(rename(path("scan/new.tmp"), path("scan/a.jsonl")), 0);
    sl_logscan_update(&s);
    assert_int_equal(findings_of(&s, "a2", &procs), 0);
    assert_int_equal(procs, 0);
    assert_int_equal(findings_of(&s, "a3", &procs), 2);
    assert_int_equal(procs, 1);

    /* Deleted: its processes go. A link planted in the tree is not read. */
    assert_int_equal(unlink(path("scan/sub/b.jsonl")), 0);
    assert_int_equal(symlink(path("scan/a.jsonl"), path("scan/sub/link.jsonl")), 0);
    sl_logscan_update(&s);
    assert_int_equal(findings_of(&s, "b", &procs), 0);
    assert_int_equal(procs, 0);
    assert_int_equal(findings_of(&s, "a3", &procs), 2);
    assert_int_equal(procs, 1);
    assert_int_equal(sl_logscan_files(&s, &bytes), 1);
    sl_logscan_free(&s);
}

/* The metrics of the log text, with at most max series. */
static char *metrics_of(const char *log, bool om, size_t max)
{
    struct sl_logread_set set;
    struct sl_metrics_opts o = {.openmetrics = om, .sym = sl_sym_new(true), .max_series = max};
    const struct sl_logread_process *procs[8];
    char *out = NULL;
    size_t len;
    FILE *fp = open_memstream(&out, &len);

    write_file("m.jsonl", "w", log);
    sl_logread_init(&set, NULL);
    assert_int_equal(sl_logread_path(&set, path("m.jsonl")), 0);
    assert_true(set.n_procs <= 8);
    for (size_t i = 0; i < set.n_procs; i++)
        procs[i] = &set.procs[i];
    assert_int_equal(sl_metrics_write(fp, procs, set.n_procs, &o), 0);
    fclose(fp);
    sl_logread_free(&set);
    sl_sym_free(o.sym);
    return out;
}

static void test_metrics_series_labels_and_cap(void **state)
{
    /* Two processes of one program leak at one site (3 sockets), a program
     * with a hostile name at another; pids, fds and addresses never show. */
    const char *log = HEADER(30, "srv") MODULE FINDING(1, 100) FINDING(2, 100) HEADER(31, "srv")
        MODULE FINDING(1, 100) HEADER(32, "a\\\"b\\nc") MODULE FINDING(1, 200);
    char *m = metrics_of(log, true, 0);
    (void)state;

    assert_non_null(strstr(m, "# TYPE sockleak_leaked_sockets counter\n"));
    assert_non_null(strstr(m, "sockleak_leaked_sockets_total{kind=\"close_wait\",program=\"srv\","
                              "function=\"srv+0x64\",file=\"\",line=\"0\"} 3\n"));
    assert_non_null(
        strstr(m, "sockleak_leaked_sockets_total{kind=\"close_wait\","
                  "program=\"a\\\"b\\nc\",function=\"srv+0xc8\",file=\"\",line=\"0\"} 1\n"));
    /* Dead processes (pids from the log, start times that cannot match):
     * nothing held. */
    assert_non_null(strstr(m, "sockleak_close_wait_sockets{kind=\"close_wait\",program=\"srv\","
                              "function=\"srv+0x64\",file=\"\",line=\"0\"} 0\n"));
    assert_non_null(strstr(m, "sockleak_metrics_dropped_series 0\n"));
    assert_null(strstr(m, "127.0.0.1"));
    assert_null(strstr(m, "pid"));
    assert_int_equal(strcmp(m + strlen(m) - 6, "# EOF\n"), 0);
    free(m);

    /* The text format: the counter's family carries _total, no # EOF. */
    m = metrics_of(log, false, 1);
    assert_non_null(strstr(m, "# TYPE sockleak_leaked_sockets_total counter\n"));
    assert_null(strstr(m, "# EOF"));
    /* The cap keeps the series with most leaks and counts the rest. */
    assert_non_null(strstr(m, "program=\"srv\""));
    assert_null(strstr(m, "program=\"a"));
    assert_non_null(strstr(m, "sockleak_metrics_dropped_series 1\n"));
    free(m);
}

/* This process's start as the library writes it in the header. */
static int64_t self_start_ms(void)
{
    char buf[1024], *p;
    FILE *fp = fopen("/proc/self/stat", "r");
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    struct timespec bt, now;
    int field = 2;

    fclose(fp);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    for (; *p && field < 22; p++)
        if (*p == ' ')
            field++;
    clock_gettime(CLOCK_BOOTTIME, &bt);
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 -
           ((int64_t)bt.tv_sec * 1000 + bt.tv_nsec / 1000000) +
           (int64_t)(strtoull(p, NULL, 10) * 1000 / (unsigned long long)sysconf(_SC_CLK_TCK));
}

static void test_alive_checks_pid_and_start_time(void **state)
{
    struct sl_logread_process p = {.pid = getpid(), .start_unix_ms = self_start_ms()};
    (void)state;

    assert_true(sl_metrics_alive(&p));
    p.has_footer = true; /* it said goodbye */
    assert_false(sl_metrics_alive(&p));
    p.has_footer = false;
    p.start_unix_ms -= 60000; /* the pid was reused by another process */
    assert_false(sl_metrics_alive(&p));
    p.start_unix_ms += 60000;
    p.pid = 0;
    assert_false(sl_metrics_alive(&p));
    p.pid = 1 << 30; /* no such process */
    assert_false(sl_metrics_alive(&p));
}

/* The kernel's view of this process's own sockets: a listener, and an
 * accepted connection whose peer hung up (CLOSE_WAIT once its EOF is read). */
static void test_tcpstate_counts_own_sockets(void **state)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    uint64_t counts[SL_TCPSTATE_N] = {0};
    struct sl_tcpstate_cache *c = sl_tcpstate_new();
    int l = socket(AF_INET, SOCK_STREAM, 0), cl = socket(AF_INET, SOCK_STREAM, 0), s;
    char buf[4];
    (void)state;

    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(l, 4), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &len), 0);
    assert_int_equal(connect(cl, (struct sockaddr *)&a, sizeof(a)), 0);
    s = accept(l, NULL, NULL);
    assert_true(s >= 0);
    close(cl);
    assert_int_equal(read(s, buf, sizeof(buf)), 0); /* the FIN is in: CLOSE_WAIT */
    assert_true(sl_tcpstate_count(c, getpid(), counts, NULL));
    assert_string_equal(sl_tcpstate_name(8), "close_wait");
    assert_string_equal(sl_tcpstate_name(10), "listen");
    assert_null(sl_tcpstate_name(0));
    assert_int_equal(counts[8], 1);
    assert_int_equal(counts[10], 1);
    assert_int_equal(counts[1], 0);
    assert_false(sl_tcpstate_count(c, 1 << 30, counts, NULL));
    close(s);
    close(l);
    sl_tcpstate_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_tail_appended_half_line),
        cmocka_unit_test(test_tail_unended_long_line_dropped),
        cmocka_unit_test(test_tail_pieces_equal_whole),
        cmocka_unit_test(test_logscan_new_truncated_replaced_deleted),
        cmocka_unit_test(test_metrics_series_labels_and_cap),
        cmocka_unit_test(test_alive_checks_pid_and_start_time),
        cmocka_unit_test(test_tcpstate_counts_own_sockets),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
