/* Stack capture (libunwind, loaded RTLD_LOCAL so its backtrace and _Unwind_*
 * never reach the program) and a depot that stores each distinct stack once. */
#ifndef SL_STACK_H
#define SL_STACK_H

#include <stdint.h>
#include "sl.h"

#define SL_MAX_FRAMES 256

/* Capture the calling thread's stack, skipping our own frames (every leading
 * frame inside libsockleak.so), keep at most `frames` (option) and store it.
 * Returns the depot id (>0), or 0 when unwinding is unavailable. Must be
 * called with the re-entry guard set and no lock of ours held. */
uint32_t sl_stack_capture(void) SL_HIDDEN;

/* Store a stack given as frames (pcs[0] the innermost); its depot id. */
uint32_t sl_stack_store(const uintptr_t *pcs, uint32_t n) SL_HIDDEN;

/* Frames of a stored stack: *pcs points into the depot (valid forever). */
int sl_stack_get(uint32_t id, const uintptr_t **pcs) SL_HIDDEN;

/* Load libunwind and prime it (first unwind costs about 1 ms). Idempotent. */
void sl_stack_prime(void) SL_HIDDEN;
/* Is pc inside the loaded libunwind (its pipe2 calls are emulated)? */
int sl_stack_is_unwinder(const void *pc) SL_HIDDEN;

/* Set on this thread while our own capture runs in libunwind, in a process
 * where nothing else loaded libunwind: libunwind then masks every signal
 * around each of its locks (two system calls a lock, about 20 a frame on its
 * slow path), only so that a signal handler unwinding on the same thread
 * cannot take a lock the thread holds. Here the only unwinder is ours, and
 * a hook entered from a handler while we capture never unwinds (the re-entry
 * guard): the masking is skipped (track.c, sl_sigprocmask). */
extern __thread int sl_stack_unmasked __attribute__((tls_model("initial-exec"))) SL_HIDDEN;

/* fork prepare, on a thread outside our code: when the program has
 * libunwind loaded itself, prime ours now (in the child its cache lock may be
 * held by a thread that no longer exists). */
void sl_stack_prime_before_fork(void) SL_HIDDEN;

#endif
