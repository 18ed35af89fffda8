/* The SOCKLEAK_OPTIONS keys of libsockleak.so: the one table, compiled by the
 * library (preload/options.c parses with it, preload/options.h makes struct
 * sl_options from it) and by the tool (its help texts and the ranges of the
 * `sockleak run` options that set these keys). README.md and libsockleak(3)
 * repeat it; tests/integration/test_docs.py checks them against
 * `sockleak help options`.
 *
 * One row a key: X(key, kind, default, min, max, description), kind being
 * long or int (a number from min to max) or str (a string of min to max
 * characters). Numbers are written as plain literals: the help texts print
 * them as written. The description is one sentence without a capital or a
 * full stop, as the table in README.md shows it. */
#ifndef SOCKLEAK_OPTIONS_H
#define SOCKLEAK_OPTIONS_H

#define SL_OPTION_deadline_ms(X)                                                                   \
    X(deadline_ms, long, 5000, 1, 86400000,                                                        \
      "milliseconds a socket may stay open after it read end-of-stream (and after the program's "  \
      "last send on it) before it is reported")
#define SL_OPTION_output(X)                                                                        \
    X(output, str, "./sockleak-out", 1, 4095,                                                      \
      "directory of the raw logs, made absolute when the program starts and created mode 0700 "    \
      "when missing")
#define SL_OPTION_frames(X) X(frames, int, 32, 1, 256, "stack frames recorded per stack")
#define SL_OPTION_verbosity(X)                                                                     \
    X(verbosity, int, 1, 0, 2,                                                                     \
      "0 silent, 1 warnings, 2 also one line per finding on standard error")
#define SL_OPTION_run_id(X)                                                                        \
    X(run_id, str, "", 0, 63,                                                                      \
      "a tag written in each log header; `sockleak run` sets it to report only its own run")
#define SL_OPTION_unread_deadline_ms(X)                                                            \
    X(unread_deadline_ms, long, 0, 0, 86400000,                                                    \
      "milliseconds a TCP socket may sit in CLOSE_WAIT with its end-of-stream never read before "  \
      "it is reported (the kernel-swept kinds); 0: deadline_ms")
#define SL_OPTION_sweep(X)                                                                         \
    X(sweep, int, 1, 0, 1,                                                                         \
      "0: no kernel sweep; no netlink socket is opened, and CLOSE_WAIT sockets are found only "    \
      "when a read returns their end-of-stream")
#define SL_OPTION_at_exit(X)                                                                       \
    X(at_exit, int, 0, 0, 2,                                                                       \
      "1: when a process exits, report every socket it still holds that read end-of-stream or "    \
      "sits in CLOSE_WAIT, whatever the deadline; all (or 2): that, and every stream socket "      \
      "still open as an open_at_exit finding with its TCP state")
#define SL_OPTION_thread(X)                                                                        \
    X(thread, int, 0, 0, 1,                                                                        \
      "0: a single-threaded program stays single-threaded, its deadlines and sweeps done inside "  \
      "its own waits (epoll_wait, poll, select, sleeps) and a thread started only when it blocks " \
      "where they cannot be; 1: a thread of the library's from the first socket")
#define SL_OPTION_suppressions(X)                                                                  \
    X(suppressions, str, "", 0, 4095,                                                              \
      "a suppressions file, made absolute at start-up and named in each log header; `sockleak "    \
      "report` applies it to that process's own findings")

#define SL_OPTION_churn_share(X)                                                                   \
    X(churn_share, int, 10, 0, 100,                                                                \
      "percent of the ephemeral port range (net.ipv4.ip_local_port_range) that one connect call "  \
      "site's TIME_WAIT sockets to one destination may fill before it is a time_wait_churn "       \
      "finding; 0: only connects that fail with EADDRNOTAVAIL are")

/* Every key, in the order the help and the docs list them. */
#define SL_OPTION_TABLE(X)                                                                         \
    SL_OPTION_deadline_ms(X) SL_OPTION_output(X) SL_OPTION_frames(X) SL_OPTION_verbosity(X)        \
        SL_OPTION_run_id(X) SL_OPTION_unread_deadline_ms(X) SL_OPTION_sweep(X)                     \
            SL_OPTION_at_exit(X) SL_OPTION_thread(X) SL_OPTION_suppressions(X)                     \
                SL_OPTION_churn_share(X)

/* One key's fields, as constants: SL_OPTION_MAX(frames) is 256,
 * SL_OPTION_DEFAULT_TEXT(frames) is "32" and SL_OPTION_RANGE_TEXT(frames)
 * "1..256" (string literals, for help texts). */
#define SL_OPTION_MIN(key) SL_OPTION_##key(SL_OPTION_MIN_)
#define SL_OPTION_MAX(key) SL_OPTION_##key(SL_OPTION_MAX_)
#define SL_OPTION_DEFAULT_TEXT(key) SL_OPTION_##key(SL_OPTION_DEFAULT_TEXT_)
#define SL_OPTION_RANGE_TEXT(key) SL_OPTION_##key(SL_OPTION_RANGE_TEXT_)

#define SL_OPTION_MIN_(key, kind, def, min, max, desc) (min)
#define SL_OPTION_MAX_(key, kind, def, min, max, desc) (max)
#define SL_OPTION_DEFAULT_TEXT_(key, kind, def, min, max, desc) SL_OPTION_DEFAULT_TEXT_##kind(def)
#define SL_OPTION_DEFAULT_TEXT_long(def) #def
#define SL_OPTION_DEFAULT_TEXT_int(def) #def
#define SL_OPTION_DEFAULT_TEXT_str(def) def
#define SL_OPTION_RANGE_TEXT_(key, kind, def, min, max, desc) #min ".." #max

#endif
