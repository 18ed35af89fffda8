/* The program's threads, counted so that the library's thread never outlives
 * them (threadcount.c). */
#ifndef SL_THREADCOUNT_H
#define SL_THREADCOUNT_H

#include "sl.h"

/* At load, on the thread that loads the library. */
void sl_threads_init(void) SL_HIDDEN;
/* In a fork child. */
void sl_threads_reinit_child(void) SL_HIDDEN;
/* A thread the count cannot see was made (clone() with CLONE_THREAD, or no
 * box for one): counting stops for good. */
void sl_threads_uncount(void) SL_HIDDEN;
/* 1 when every thread of the program's has left (the last one is leaving):
 * the library's thread must not start, glibc ends the process next. */
int sl_threads_all_left(void) SL_HIDDEN;

/* The start routine of a thread the program is about to make, and its
 * argument: the thread made with sl_thread_begin (pthread_create) or
 * sl_thrd_begin (thrd_create) and the box as its argument is counted.
 * NULL (not counted, and none from now on) when the box cannot be
 * allocated; the hook then makes the thread as it was asked. */
struct sl_thread_start {
    void *(*start)(void *);
    int (*c11)(void *);
    void *arg;
};
struct sl_thread_start *sl_thread_box(void *(*start)(void *), int (*c11)(void *),
                                      void *arg) SL_HIDDEN;
void *sl_thread_begin(void *box) SL_HIDDEN;
int sl_thrd_begin(void *box) SL_HIDDEN;
/* The thread was not made: the box is freed and the count undone (errno
 * kept). */
void sl_thread_unbox(struct sl_thread_start *box) SL_HIDDEN;

#endif
