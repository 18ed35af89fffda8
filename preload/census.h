/* The open-socket census: how many TCP sockets this process holds per
 * creation site (open_stack) and TCP state. While the program runs, the
 * due work writes it as an "open" record (format/sockleak_log.h) at most
 * every census period, when it changed: the sites holding the most, and
 * the RLIMIT_NOFILE soft limit; `sockleak serve` turns a running process's
 * latest record into sockleak_open_sockets. At exit with at_exit=all,
 * every stream socket still open is an open_at_exit finding. Nothing is
 * done on the connection cycle: the states come from one NETLINK_SOCK_DIAG
 * dump per family, matched by the inodes the sweep takes anyway. */
#ifndef SL_CENSUS_H
#define SL_CENSUS_H

#include <stdint.h>
#include "sl.h"

/* Sites an "open" record names (those holding the most sockets). */
#define SL_CENSUS_SITES 16
/* Kernel TCP states 1 (ESTABLISHED) to 11 (CLOSING); 0 unknown. */
#define SL_CENSUS_STATES 12

struct sl_census_site {
    uint32_t stack; /* depot id of the creation stack, 0 unknown */
    uint32_t total;
    uint32_t n[SL_CENSUS_STATES];
};

/* From the due work (sl_sweep_run) on nl, its netlink socket: a census
 * when one is due (every SL_CENSUS_PERIODS sweep periods), written when
 * it differs from the last. program: on the program's thread. */
void sl_census_run(int nl, int64_t now_ns, int64_t period_ns) SL_HIDDEN;

/* Exit handler, at_exit=all: every tracked stream socket still open is an
 * open_at_exit finding (at most SL_CENSUS_EXAMPLES per site and state, the
 * last carrying the rest in "sockets"). */
void sl_census_exit(void) SL_HIDDEN;

/* atfork child handler: a census interrupted by the fork is forgotten. */
void sl_census_reinit_child(void) SL_HIDDEN;

#define SL_CENSUS_PERIODS 4
#define SL_CENSUS_EXAMPLES 8

#endif
