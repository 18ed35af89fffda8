/* Where the library's own fds live, and libunwind's pipe that is not one.
 *
 * A program must get the same fd numbers with and without us, at any fd
 * limit. So our fds (the log, the pinned output directory) are created only
 * on the program's own thread inside a hook, and moved at once out of the
 * program's way: just above its soft RLIMIT_NOFILE when the hard limit
 * leaves room (numbers open, dup and F_DUPFD can never hand out), else to
 * the highest free number below it. libunwind's address-validation pipe is
 * emulated without any fd. */
#ifndef SL_OWNFD_H
#define SL_OWNFD_H

#include <stdint.h>
#include <sys/resource.h>
#include "sl.h"

/* The two fd numbers libunwind is handed for its validation pipe: never
 * valid, so any other use of them fails with EBADF. */
#define SL_UNW_PIPE_R (-4001)
#define SL_UNW_PIPE_W (-4002)

/* Move fd out of the program's way (close-on-exec); fd itself is closed.
 * Returns the new number, fd itself when it is already out of the way or
 * nothing better is free, -1 (errno set) when the move failed. */
int sl_ownfd_place(int fd) SL_HIDDEN;

/* The same for an fd the program is about to be handed (dup2 onto it, an
 * F_DUPFD that needs its number): it moves even downwards; -1 (closed)
 * when no other number is free. */
int sl_ownfd_place_away(int fd) SL_HIDDEN;

/* Is fd a number the program can be handed (below the soft limit)? */
int sl_ownfd_in_program_range(int fd) SL_HIDDEN;

/* Let the soft limit grow by a few fds above the program's, when the hard
 * limit allows: fds we create meanwhile can land there. Returns 1 when
 * raised (undo with sl_ownfd_room_end), 0 otherwise. Program thread only. */
int sl_ownfd_room_begin(struct rlimit *saved) SL_HIDDEN;
void sl_ownfd_room_end(const struct rlimit *saved) SL_HIDDEN;

/* libunwind's write(2) on its validation pipe, done without one: 1 when
 * the byte at addr can be read, -1 with EFAULT otherwise. */
long sl_ownfd_validate(const void *addr) SL_HIDDEN;

#endif
