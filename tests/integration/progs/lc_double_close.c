/* double_close: a TCP socket closed twice, the second close failing with
 * EBADF (one reuse later it would close someone else's connection), and a
 * dup2 from the closed number. Argument "ok": the same program without the
 * bug, plus the EBADF closes that are not this finding (an fd never opened,
 * a number that held a file in between, the library's own fds). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int listener(struct sockaddr_in *a)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    socklen_t len = sizeof *a;
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (l < 0 || bind(l, (struct sockaddr *)a, sizeof *a) < 0 || listen(l, 8) < 0 ||
        getsockname(l, (struct sockaddr *)a, &len) < 0) {
        perror("listener");
        _exit(2);
    }
    return l;
}

static int connected(const struct sockaddr_in *a)
{
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (const struct sockaddr *)a, sizeof *a) < 0) {
        perror("connect");
        _exit(2);
    }
    return c;
}

static void expect_ebadf(int r, const char *what)
{
    if (r != -1 || errno != EBADF) {
        fprintf(stderr, "%s: got %d errno %d, want -1 EBADF\n", what, r, errno);
        _exit(3);
    }
}

static void release(int fd)
{
    close(fd); /* FIRST-CLOSE */
}

static void release_again(int fd)
{
    errno = 0;
    expect_ebadf(close(fd), "second close"); /* SECOND-CLOSE */
}

static void redirect_from(int fd)
{
    errno = 0;
    expect_ebadf(dup2(fd, 200), "dup2 from a closed socket"); /* DUP2-CLOSE */
}

int main(int argc, char **argv)
{
    int ok = argc > 1 && strcmp(argv[1], "ok") == 0;
    struct sockaddr_in a;
    int l = listener(&a);

    int c = connected(&a);
    release(c);
    if (!ok)
        release_again(c);

    int d = connected(&a);
    release(d);
    if (!ok)
        redirect_from(d);

    if (ok) {
        /* Never opened. */
        errno = 0;
        expect_ebadf(close(900), "close of a number never opened");
        /* A file took the number in between and was closed: its own
         * double close is not a socket's. */
        int e = connected(&a);
        close(e);
        int f = open("/dev/null", O_RDONLY);
        if (f != e) {
            fprintf(stderr, "the file got fd %d, not %d\n", f, e);
            return 2;
        }
        close(f);
        errno = 0;
        expect_ebadf(close(f), "second close of a file");
        /* A socket closed, the number reused by a dup2 of a file, closed. */
        int g = connected(&a);
        close(g);
        int h = open("/dev/null", O_RDONLY);
        if (h < 0 || dup2(h, g) != g)
            return 2;
        close(h);
        close(g);
        errno = 0;
        expect_ebadf(close(g), "second close after dup2 onto the number");
        /* The library's own fds behave as closed: never a finding. */
        for (int fd = 3; fd < 1024; fd++)
            if (fd != l)
                close(fd);
    }
    close(l);
    printf("done\n");
    return 0;
}
