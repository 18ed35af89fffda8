/* How long a leaked socket has been held, as of the report rather than as of
 * its deadline: the log's held_ms is the figure when the finding was written. */
#ifndef SL_REPORT_HELD_H
#define SL_REPORT_HELD_H

#include "logread.h"

/* Moves every finding's held_ms (and held_as_of) on from its deadline figure:
 * to the process's exit (footer end_unix_ms) when it ended normally, or to
 * now_unix_ms when the process still runs on this machine (its pid's start
 * time matches the header's). A late close already gave the final figure;
 * findings without an end-of-stream time (the kernel-swept kinds) and
 * processes that ended without a footer keep theirs. */
void sl_held_as_of(struct sl_logread_set *set, int64_t now_unix_ms);

/* True when process p (no footer yet) is running here now: /proc/PID/stat's
 * start time within a second of the header's start_unix_ms. */
bool sl_held_running(const struct sl_logread_process *p, int64_t now_unix_ms);

/* The start of process pid as wall-clock ms, computed as the library
 * computes a header's start_unix_ms (field 22 of /proc/PID/stat against
 * CLOCK_BOOTTIME, now_unix_ms the wall clock); -1 when pid is gone. */
int64_t sl_held_pid_start(int64_t pid, int64_t now_unix_ms);

/* The wall clock in milliseconds. */
int64_t sl_held_now_ms(void);

/* "deadline", "close", "exit" or "now": what held_ms counts up to. */
const char *sl_held_until_name(int held_as_of);

#endif
