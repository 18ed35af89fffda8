/* The program's threads: made, and counted so that the library's thread
 * never outlives them.
 *
 * glibc ends the process (exit(0): atexit handlers, stdio flushed) when the
 * last thread it counts leaves through pthread_exit, a cancellation or the
 * return of its start routine, and the library's thread (reaper.c) is one
 * it counts. A program whose main thread called pthread_exit would never
 * end: the one thread left is the library's, every signal blocked in it.
 * So each thread of the program's holds a key whose destructor glibc runs
 * as it leaves, before it counts it out. The last one stops the library's
 * thread (sl_reaper_stop), and glibc then ends the process as it does
 * without the library.
 *
 * Counted: the thread that loads the library (main) and every thread made
 * by pthread_create or thrd_create since, whose start routine is wrapped to
 * set the key (the hooks are in track_wait.c). A thread made before the
 * library was loaded, by clone() with CLONE_THREAD, or when the
 * wrapper cannot be allocated, escapes the count: the library's thread is
 * then never stopped (sl_threads_counted). Not counted, and not seen: a
 * thread made by syscall(SYS_clone), and glibc's own helpers (a SIGEV_THREAD
 * timer's, AIO's). One still running when the program's last counted thread
 * leaves finds the library's thread stopped for good: its due work is done
 * in that thread's capped waits, or at exit. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/single_threaded.h>
#include <unistd.h>
#include "hg.h"
#include "reaper.h"
#include "threadcount.h"
#include "track.h"

static pthread_key_t sl_thread_key;
/* The key's value is set in this thread (set with it, cleared by its
 * destructor): what a fork child reads, with no call into libc (the
 * child's first call of pthread_getspecific cost it four page faults:
 * the symbol's lookup, our GOT, libc's page). */
static __thread int sl_thread_marked __attribute__((tls_model("initial-exec")));

/* This thread counts: the key's value, whose destructor counts it out, and
 * its thread-local copy, set together. */
static void sl_thread_mark(void)
{
    pthread_setspecific(sl_thread_key, &sl_thread_key);
    sl_thread_marked = 1;
}
/* The program's threads that have not left; its main thread is one. */
SL_FORKED static _Atomic long sl_thread_count;
/* Every thread of the program's is counted: set at load, cleared for good
 * when one may have escaped the count (then the library's thread is never
 * stopped). */
SL_FORKED static _Atomic int sl_threads_counted; /* read by a fork child */

int sl_threads_all_left(void)
{
    return atomic_load_explicit(&sl_threads_counted, memory_order_relaxed) &&
           atomic_load_explicit(&sl_thread_count, memory_order_relaxed) <= 0;
}

/* The key's destructor: a counted thread leaves. */
static void sl_thread_left(void *mark)
{
    (void)mark;
    sl_thread_marked = 0;
    if (atomic_fetch_sub(&sl_thread_count, 1) != 1 || !sl_threads_all_left())
        return;
    int g = sl_guard_enter();
    int e = errno;
    sl_reaper_stop();
    errno = e;
    sl_guard_leave(g);
}

void sl_threads_init(void)
{
    /* Atomics, which helgrind does not follow: the count is also set by a
     * fork child's one thread. */
    SL_HG_ATOMIC(&sl_thread_count, sizeof sl_thread_count);
    SL_HG_ATOMIC(&sl_threads_counted, sizeof sl_threads_counted);
    /* Counted from the main thread only, and only while it is alone. */
    if (gettid() != getpid() || !__libc_single_threaded ||
        pthread_key_create(&sl_thread_key, sl_thread_left) != 0)
        return;
    sl_thread_mark();
    atomic_store(&sl_thread_count, 1);
    atomic_store(&sl_threads_counted, 1);
}

/* A fork child's one thread is the one that forked: counted if it was and
 * has not been counted out yet (a fork from a destructor of the program's
 * that glibc ran after ours). */
SL_FORK_TEXT void sl_threads_reinit_child(void)
{
    if (atomic_load_explicit(&sl_threads_counted, memory_order_relaxed))
        atomic_store_explicit(&sl_thread_count, sl_thread_marked, memory_order_relaxed);
}

void sl_threads_uncount(void)
{
    atomic_store(&sl_threads_counted, 0);
}

/* In the new thread: the box's contents, the box freed, the thread marked. */
static inline struct sl_thread_start sl_thread_unbox_in(void *p)
{
    struct sl_thread_start b = *(struct sl_thread_start *)p;
    free(p);
    sl_thread_mark();
    return b;
}

void *sl_thread_begin(void *p)
{
    struct sl_thread_start b = sl_thread_unbox_in(p);
    return b.start(b.arg); /* a tail call: no frame of the library's stays */
}

int sl_thrd_begin(void *p)
{
    struct sl_thread_start b = sl_thread_unbox_in(p);
    return b.c11(b.arg);
}

struct sl_thread_start *sl_thread_box(void *(*start)(void *), int (*c11)(void *), void *arg)
{
    if (!atomic_load_explicit(&sl_threads_counted, memory_order_relaxed))
        return NULL;
    int e = errno;
    struct sl_thread_start *b = malloc(sizeof *b);
    errno = e;
    if (!b) {
        sl_threads_uncount();
        return NULL;
    }
    *b = (struct sl_thread_start){start, c11, arg};
    atomic_fetch_add(&sl_thread_count, 1);
    return b;
}

void sl_thread_unbox(struct sl_thread_start *b)
{
    atomic_fetch_sub(&sl_thread_count, 1);
    int e = errno;
    free(b);
    errno = e;
}
