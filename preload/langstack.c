/* Language frames handed in by the program's own runtime: where its code
 * created or connected a socket, when that code is no longer on the native
 * stack by the time libc is called (Node.js connects in a later tick of its
 * event loop, after an asynchronous DNS lookup for host names).
 *
 * The Node.js preload (node/sockleak-node.js) records the JavaScript call
 * site of net.Socket#connect and net.Server#listen and, once the handle has
 * an fd, passes it here through its addon (node/sockleak_node.c). The frames
 * go in front of the fd's open_stack; accepted sockets then inherit a
 * listener's as their listen_stack (track_create.c). */
#include <errno.h>
#include "lframe.h"
#include "stack.h"
#include "track.h"

/* Innermost first: the given frames, then the native frames of old (any
 * language frames it already had are dropped: a second call replaces). */
static uint32_t sl_lang_stack(uint32_t old, int lang, int n, const char *const *functions,
                              const char *const *files, const int *lines)
{
    uintptr_t pcs[SL_MAX_FRAMES];
    uint32_t k = 0;
    for (int i = 0; i < n && k < SL_MAX_FRAMES; i++) {
        uintptr_t pc = sl_lframe_intern((enum sl_lang)lang, functions[i], files[i], lines[i]);
        if (pc)
            pcs[k++] = pc;
    }
    if (k == 0)
        return 0;
    const uintptr_t *nat = NULL;
    int m = old ? sl_stack_get(old, &nat) : 0;
    for (int i = 0; i < m && k < SL_MAX_FRAMES; i++)
        if (!SL_LFRAME_IS(nat[i]))
            pcs[k++] = nat[i];
    return sl_stack_store(pcs, k);
}

/* Not part of the public API (include/sockleak.h): the channel of the
 * language preloads shipped with the library. fd's open_stack gets the n
 * frames (innermost first) in front of its native frames. Returns 0, or -1
 * when fd is no tracked stream socket or the frames are refused. errno is
 * kept. */
SL_EXPORT int sockleak__lang_frames(int fd, int lang, int n, const char *const *functions,
                                    const char *const *files, const int *lines)
{
    if (sl_in_lib || fd < 0 || n <= 0 || !functions || !files || !lines || lang < SL_LANG_PYTHON ||
        lang > SL_LANG_JAVA)
        return -1;
    int saved = errno;
    int g = sl_guard_enter();
    sl_init();
    int rc = -1;
    uint32_t old, gen;
    if (sl_track_open_stack(fd, &old, &gen)) {
        uint32_t stack = sl_lang_stack(old, lang, n, functions, files, lines);
        if (stack) {
            sl_track_set_open_stack(fd, gen, stack);
            rc = 0;
        }
    }
    sl_guard_leave(g);
    errno = saved;
    return rc;
}
