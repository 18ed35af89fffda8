/* Stands in for a Go binary: there is no Go toolchain on the build machines,
 * so flags.mk adds an (empty) .go.buildinfo section, the mark every Go
 * binary since Go 1.13 carries, to this C program. Only the detection is
 * tested with it; the program itself is glibc code. Usage: rw_gofake STATUS */
#include "rw_exit.c"
