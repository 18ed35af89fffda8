/* pos_client_banner built with AddressSanitizer (flags.mk): libasan.so must
 * come first in LD_PRELOAD, and its read/recv interceptors must pass
 * end-of-stream on to ours. Usage: rw_asan_client PORT */
#include "pos_client_banner.c"
