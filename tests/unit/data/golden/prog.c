/* Built by test_report_golden.c; line numbers appear in the expected files. */
#include <unistd.h>
static inline __attribute__((always_inline)) int drain(int fd)
{
    char buf[64];
    return (int)read(fd, buf, sizeof(buf));
}
__attribute__((noinline)) int handle_client(int fd)
{
    int r = drain(fd);
    return r + 1;
}
__attribute__((noinline)) int open_socket(int fd)
{
    return (int)read(fd, 0, 0) + 2;
}
int main(void)
{
    return handle_client(0) + open_socket(0);
}
/* Below main so that the lines above stay where the expected files say. */
#include <sys/socket.h>
__attribute__((noinline)) int spawn_worker(void)
{
    return (int)fork();
}
__attribute__((noinline)) int start_listener(int fd)
{
    return listen(fd, 128);
}
