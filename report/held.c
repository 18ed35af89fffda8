#include "held.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The header's start time is the kernel's start of the process, computed the
 * same way; a pid reused since then started later. */
#define SL_HELD_START_SLACK_MS 1000

int64_t sl_held_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sl_held_pid_start(int64_t pid, int64_t now_unix_ms)
{
    char path[64], buf[1024], *p, *end;
    unsigned long long start;
    struct timespec bt;
    long hz = sysconf(_SC_CLK_TCK);
    size_t n;
    int field = 2;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%lld/stat", (long long)pid);
    f = fopen(path, "re");
    if (!f)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the name may hold spaces and parentheses */
    if (!p || hz <= 0 || clock_gettime(CLOCK_BOOTTIME, &bt) != 0)
        return -1;
    for (; *p && field < 22; p++)
        if (*p == ' ')
            field++;
    start = strtoull(p, &end, 10);
    if (field != 22 || end == p)
        return -1;
    return now_unix_ms - ((int64_t)bt.tv_sec * 1000 + bt.tv_nsec / 1000000) +
           (int64_t)(start * 1000 / (unsigned long long)hz);
}

bool sl_held_running(const struct sl_logread_process *p, int64_t now_unix_ms)
{
    int64_t start;

    if (p->pid <= 0 || p->start_unix_ms <= 0 || p->pid > 0x7fffffff)
        return false;
    start = sl_held_pid_start(p->pid, now_unix_ms);
    return start >= 0 && llabs(start - p->start_unix_ms) <= SL_HELD_START_SLACK_MS;
}

void sl_held_as_of(struct sl_logread_set *set, int64_t now_unix_ms)
{
    for (size_t i = 0; i < set->n_procs; i++) {
        struct sl_logread_process *p = &set->procs[i];
        int64_t end = 0;
        int as_of = SL_LOGREAD_HELD_EXIT;

        if (p->has_footer && p->end_unix_ms > 0)
            end = p->end_unix_ms;
        else if (!p->has_footer && sl_held_running(p, now_unix_ms))
            end = now_unix_ms, as_of = SL_LOGREAD_HELD_NOW, p->running = true;
        for (size_t j = 0; end && j < p->n_findings; j++) {
            struct sl_logread_finding *f = &p->findings[j];

            /* A time_wait_churn finding holds no socket: its time is when
             * it was written. */
            if (f->held_as_of != SL_LOGREAD_HELD_DEADLINE || f->eof_unix_ms <= 0 ||
                end - f->eof_unix_ms < f->held_ms || f->destination || f->fdexh)
                continue;
            f->held_ms = end - f->eof_unix_ms;
            f->held_as_of = as_of;
        }
    }
}

const char *sl_held_until_name(int held_as_of)
{
    switch (held_as_of) {
    case SL_LOGREAD_HELD_CLOSED:
        return "close";
    case SL_LOGREAD_HELD_EXIT:
        return "exit";
    case SL_LOGREAD_HELD_NOW:
        return "now";
    default:
        return "deadline";
    }
}
