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
