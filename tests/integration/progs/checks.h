/* Programs that check behaviours one by one (st_waits, st_waitintr): each
 * check prints "ok NAME" or "FAIL NAME: why", failures counts the failed
 * ones (the exit status), and on_alarm counts SIGALRMs. */
#ifndef CHECKS_H
#define CHECKS_H

#include "prog.h"

static int failures;
static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

static __attribute__((format(printf, 3, 4))) void check(const char *name, int ok,
                                                         const char *fmt, ...)
{
    if (ok) {
        printf("ok %s\n", name);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL %s: ", name);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    failures++;
}

#endif
