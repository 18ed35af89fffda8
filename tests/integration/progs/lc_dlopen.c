/* A library loaded at run time with dlopen leaks: its frames must be
 * symbolized like the program's. Built twice: with -DLC_LIB as
 * lc_dlopen_lib.so (plugin_drain reads to the end and forgets to close),
 * and as the program, which dlopens it from its own directory. One finding
 * whose EOF frame 0 is plugin_drain in the library. */
#include "prog.h"

#ifdef LC_LIB

int plugin_drain(int fd)
{
    char buf[64];
    ssize_t n, total = 0;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0) /* EOF-SITE */
        total += n;
    return n < 0 ? -1 : (int)total;
}

#else
#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>

int main(void)
{
    char exe[PATH_MAX], lib[PATH_MAX + 32];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        die("readlink /proc/self/exe");
    exe[len] = '\0';
    snprintf(lib, sizeof lib, "%s/lc_dlopen_lib.so", dirname(exe));
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "dlopen %s: %s\n", lib, dlerror());
        return 1;
    }
    int (*drain)(int) = (int (*)(int))dlsym(h, "plugin_drain");
    if (!drain)
        die("dlsym plugin_drain");
    int port;
    int lfd = listen_loopback(&port);
    int cli = connect_loopback(port);
    int srv = accept4(lfd, NULL, NULL, SOCK_CLOEXEC); /* OPEN-SITE */
    if (srv < 0)
        die("accept");
    close(lfd);
    recv_timeout(srv, 10);
    send_all(cli, "plugin\n", 7);
    close(cli);
    if (drain(srv) != 7)
        die("plugin_drain");
    printf("plugin drained fd %d\n", srv);
    linger(); /* the library stays loaded until exit */
    return 0;
}

#endif
