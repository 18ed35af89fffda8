/* Two handlers read through one wrapper, and both return on its
 * end-of-stream without closing: the wrapper is the first user frame of
 * both leaks, the handlers are where the fixes go.
 *
 * Prints "listening on PORT"; the driver makes 4 connections and hangs each
 * up: the 1st and 3rd go to handle_login, the others to handle_upload.
 * Holds them until the test releases it (SIGUSR2), then exits. */
#include "prog.h"

/* The shared wrapper: -1 at end-of-stream or on an error. */
static ssize_t buffer_recv(int fd, char *buf, size_t len)
{
    ssize_t n = recv(fd, buf, len, 0); /* EOF-SITE */
    return n > 0 ? n : -1;
}

static void handle_login(int fd)
{
    char buf[64];
    while (buffer_recv(fd, buf, sizeof buf) > 0) /* LOGIN-SITE */
        ;
    /* the bug: returns without close */
}

static void handle_upload(int fd)
{
    char buf[64];
    while (buffer_recv(fd, buf, sizeof buf) > 0) /* UPLOAD-SITE */
        ;
    /* the bug: returns without close */
}

int main(void)
{
    int port;
    int lfd = listen_loopback(&port);
    hold_prepare();
    announce_port(port);
    for (int i = 0; i < 4; i++) {
        int fd = accept(lfd, NULL, NULL); /* OPEN-SITE */
        if (fd < 0)
            die("accept");
        if (i % 2 == 0)
            handle_login(fd);
        else
            handle_upload(fd);
    }
    hold_until_released(HOLD_LIMIT_MS);
    printf("served 4\n");
    return 0;
}
