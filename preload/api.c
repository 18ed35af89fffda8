/* The public API of include/sockleak.h, exported from libsockleak.so. */
#include "sockleak.h"
#include "sl.h"

SL_EXPORT const char *sockleak_version(void)
{
    return SOCKLEAK_VERSION;
}
