/* The Node.js addon of sockleak-node.js: hands the JavaScript frames of a
 * socket's call site to libsockleak.so (sockleak__lang_frames, found in the
 * process at load time; without the library, available() is false and the
 * preload does nothing). Built from Node-API only: no fd, no thread, no
 * state beyond the one function pointer.
 *
 *   available()                      -> boolean
 *   note(fd, "fn\0file\0line\0...")  -> boolean (the library took them) */
#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <node_api.h>

#define SL_NODE_FRAMES 16
#define SL_NODE_NAME 512 /* SL_LFRAME_NAME_MAX */

typedef int (*sl_lang_frames_fn)(int fd, int lang, int n, const char *const *functions,
                                 const char *const *files, const int *lines);
static sl_lang_frames_fn sl_node_lang_frames;

static napi_value sl_node_bool(napi_env env, bool b)
{
    napi_value v = NULL;
    napi_get_boolean(env, b, &v);
    return v;
}

static napi_value sl_node_available(napi_env env, napi_callback_info info)
{
    (void)info;
    return sl_node_bool(env, sl_node_lang_frames != NULL);
}

/* Split text (len bytes, "function\0file\0line\0" per frame) into frames;
 * a frame cut short by the buffer is dropped. Their number. */
static int sl_node_split(char *text, size_t len, const char **fns, const char **files, int *lines)
{
    const char *f[3];
    int n = 0, k = 0;
    for (size_t i = 0; i < len && n < SL_NODE_FRAMES;) {
        const char *p = text + i, *z = memchr(p, '\0', len - i);
        if (!z)
            break;
        f[k++] = p;
        i = (size_t)(z - text) + 1;
        if (k == 3) {
            fns[n] = f[0];
            files[n] = f[1];
            lines[n++] = atoi(f[2]);
            k = 0;
        }
    }
    return n;
}

static napi_value sl_node_note(napi_env env, napi_callback_info info)
{
    char text[SL_NODE_FRAMES * (2 * SL_NODE_NAME + 16)]; /* the stack: workers call too */
    const char *fns[SL_NODE_FRAMES], *files[SL_NODE_FRAMES];
    int lines[SL_NODE_FRAMES];
    size_t argc = 2, len = 0;
    napi_value argv[2];
    int32_t fd = -1;
    if (!sl_node_lang_frames || napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok ||
        argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 ||
        napi_get_value_string_utf8(env, argv[1], text, sizeof(text), &len) != napi_ok)
        return sl_node_bool(env, false);
    int n = sl_node_split(text, len, fns, files, lines);
    return sl_node_bool(
        env, n > 0 && sl_node_lang_frames(fd, 2 /* SL_LANG_JS */, n, fns, files, lines) == 0);
}

NAPI_MODULE_INIT()
{
    napi_value fn;
    sl_node_lang_frames = (sl_lang_frames_fn)dlsym(RTLD_DEFAULT, "sockleak__lang_frames");
    if (napi_create_function(env, "available", NAPI_AUTO_LENGTH, sl_node_available, NULL, &fn) ==
        napi_ok)
        napi_set_named_property(env, exports, "available", fn);
    if (napi_create_function(env, "note", NAPI_AUTO_LENGTH, sl_node_note, NULL, &fn) == napi_ok)
        napi_set_named_property(env, exports, "note", fn);
    return exports;
}
