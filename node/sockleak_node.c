/* The Node.js addon of sockleak-node.js: hands the JavaScript frames of a
 * socket's call site to libsockleak.so (sockleak__lang_frames, found in the
 * process at load time; without the library, available() is false and the
 * preload does nothing). Built from Node-API only: no fd, no thread, no
 * state beyond the one function pointer.
 *
 *   available()                      -> boolean
 *   note(fd, [fn, file, line, ...])  -> boolean (the library took them) */
#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>
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

/* Entry k of arr as a string into buf ("" when it is none). */
static void sl_node_string(napi_env env, napi_value arr, uint32_t k, char *buf)
{
    napi_value v;
    size_t len = 0;
    buf[0] = '\0';
    if (napi_get_element(env, arr, k, &v) == napi_ok)
        napi_get_value_string_utf8(env, v, buf, SL_NODE_NAME, &len);
}

static int sl_node_int(napi_env env, napi_value arr, uint32_t k)
{
    napi_value v;
    int32_t i = 0;
    if (napi_get_element(env, arr, k, &v) != napi_ok || napi_get_value_int32(env, v, &i) != napi_ok)
        return 0;
    return i;
}

static napi_value sl_node_note(napi_env env, napi_callback_info info)
{
    char names[2][SL_NODE_FRAMES][SL_NODE_NAME]; /* on the stack: worker threads call too */
    const char *fns[SL_NODE_FRAMES], *files[SL_NODE_FRAMES];
    int lines[SL_NODE_FRAMES];
    size_t argc = 2;
    napi_value argv[2];
    int32_t fd = -1;
    uint32_t len = 0;
    bool is_array = false;
    if (!sl_node_lang_frames || napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok ||
        argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 ||
        napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array ||
        napi_get_array_length(env, argv[1], &len) != napi_ok)
        return sl_node_bool(env, false);
    int n = 0;
    for (uint32_t k = 0; k + 2 < len && n < SL_NODE_FRAMES; k += 3, n++) {
        sl_node_string(env, argv[1], k, names[0][n]);
        sl_node_string(env, argv[1], k + 1, names[1][n]);
        fns[n] = names[0][n];
        files[n] = names[1][n];
        lines[n] = sl_node_int(env, argv[1], k + 2);
    }
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
