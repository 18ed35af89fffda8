/* Stands in for a musl program: there is no musl toolchain on the build
 * machines, so flags.mk links this glibc program with a PT_INTERP naming
 * .../ld-musl-x86_64.so.1, a link to glibc's own loader so that it still
 * runs. Only the detection is tested with it. Usage: rw_muslfake STATUS */
#include "rw_exit.c"
