/* The TCP states of a running process's sockets, from the kernel: its
 * descriptors (/proc/PID/fd) matched by inode against the TCP tables of its
 * network namespace (/proc/PID/net/tcp and tcp6), each table read once per
 * namespace and scrape. */
#ifndef SL_REPORT_TCPSTATE_H
#define SL_REPORT_TCPSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Kernel TCP states are 1 (ESTABLISHED) .. 11 (CLOSING); 12 covers them. */
#define SL_TCPSTATE_N 12

/* Descriptors looked at per process: past this the rest are not counted. */
#define SL_TCPSTATE_MAX_FDS 65536

struct sl_tcpstate_cache; /* the tables read so far, per namespace */

struct sl_tcpstate_cache *sl_tcpstate_new(void);
void sl_tcpstate_free(struct sl_tcpstate_cache *c);

/* The lower-case name of kernel state st ("close_wait"), or NULL. */
const char *sl_tcpstate_name(int st);

/* Adds pid's TCP sockets to counts, per state, and gives its open
 * descriptors in *fds (NULL: not wanted; at most SL_TCPSTATE_MAX_FDS).
 * False when pid's descriptors or tables cannot be read (gone, or another
 * user's process). */
bool sl_tcpstate_count(struct sl_tcpstate_cache *c, int64_t pid, uint64_t counts[SL_TCPSTATE_N],
                       size_t *fds);

#endif
