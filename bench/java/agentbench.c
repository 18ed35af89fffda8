/* The JVMTI agent's cost alone: preloaded instead of libsockleak.so, this
 * takes the agent's registration (preload/javaframes.h) and, at the first
 * socket() made from Java, calls the agent's frames function N times
 * (AGENTBENCH_N, default 10000) and prints the mean time per call and the
 * number of frames.
 *
 *   gcc -O2 -fPIC -shared -Ipreload -o /tmp/agentbench.so bench/java/agentbench.c -ldl
 *   LD_PRELOAD=/tmp/agentbench.so \
 *     java -agentpath:$PWD/build/sockleak-java/libsockleak_jvmti.so -cp /tmp/b OpenClose 10 20 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "javaframes.h"

static sockleak_java_frames_fn fn;
static int done;

__attribute__((visibility("default"))) int sockleak__java_register(int abi,
                                                                   sockleak_java_frames_fn f)
{
    if (abi != SOCKLEAK_JAVA_ABI)
        return -1;
    fn = f;
    return 0;
}

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

__attribute__((visibility("default"))) int socket(int domain, int type, int protocol)
{
    static int (*real)(int, int, int);
    if (!real)
        real = (int (*)(int, int, int))dlsym(RTLD_NEXT, "socket");
    if (fn && !done) {
        struct sockleak_java_frame fr[256];
        const char *e = getenv("AGENTBENCH_N");
        int n = e ? atoi(e) : 10000, got = 0;
        done = 1;
        double t0 = now_us();
        got = fn(fr, 256);
        double t1 = now_us();
        for (int i = 0; i < n; i++)
            got = fn(fr, 256);
        double t2 = now_us();
        fprintf(stderr,
                "agentbench: %d frames, first call %.1f us, then %.3f us per call (%d calls)\n",
                got, t1 - t0, (t2 - t1) / n, n);
        for (int i = 0; i < got && i < 3; i++)
            fprintf(stderr, "  %s %s:%d\n", fr[i].function, fr[i].file, fr[i].line);
    }
    return real(domain, type, protocol);
}
