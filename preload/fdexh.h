/* fd_exhaustion: the first call of an episode that could not make an fd
 * (EMFILE, ENFILE), with the process's sockets grouped by where they were
 * made, by TCP state and age.
 *
 * Nothing until it happens: a hook that makes an fd calls sl_fdexh_failed
 * only on its failure branch, so a success costs nothing more. The first
 * failure of an episode takes the snapshot on the program's thread (the
 * fd table's tracked sockets, one TCP_INFO each, no fd of ours needed)
 * and writes the finding there; the failures that follow cost a load. The
 * due work ends the episode once it counts at most three quarters of the
 * limit open (poll on every number below it: no fd needed either). */
#ifndef SL_FDEXH_H
#define SL_FDEXH_H

#include <stdint.h>
#include "sl.h"

/* call (its name) failed with err, EMFILE or ENFILE, on the program's
 * thread; errno is the caller's to restore (track.c: the guard, the
 * library's start and the capture are the hooks'). */
void sl_fdexh_failed(const char *call, int err) SL_HIDDEN;
/* A failure: 1 when it starts an episode (the caller then writes it); a
 * failure within one costs a load. */
int sl_fdexh_begin(void) SL_HIDDEN;
/* The snapshot and its finding, stack the failing call's: the episode's
 * first failure, on the program's thread inside the guard. */
void sl_fdexh_write(const char *call, int err, uint32_t stack) SL_HIDDEN;
/* The due work (never at exit): an episode under way ends when the fds are
 * free again. */
void sl_fdexh_check(void) SL_HIDDEN;

/* The failure branch of a hook that makes fds (its real call returned
 * < 0): errno read and kept. Nothing on the success branch. */
#define SL_FDEXH_ON_FAIL(call)                                                                     \
    do {                                                                                           \
        int e_ = errno;                                                                            \
        if (SL_UNLIKELY(e_ == EMFILE || e_ == ENFILE)) {                                           \
            sl_fdexh_failed(call, e_);                                                             \
            errno = e_;                                                                            \
        }                                                                                          \
    } while (0)

#endif
