/* pos_client_banner linked statically (flags.mk): it leaks, but LD_PRELOAD
 * cannot reach a static program, so `sockleak run` must say it watched
 * nothing rather than "no leaks". Usage: rw_static PORT */
#include "pos_client_banner.c"
