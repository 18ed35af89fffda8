/* Exits with the status given as its argument, touching no socket: the
 * plain dynamically linked program of test_run_watch.py (copied setuid, run
 * through `env -u LD_PRELOAD`, ...). Usage: rw_exit STATUS */
#include <stdlib.h>

int main(int argc, char **argv)
{
    return argc > 1 ? atoi(argv[1]) : 0;
}
