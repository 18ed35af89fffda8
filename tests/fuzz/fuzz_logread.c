/* libFuzzer target for the log reader and everything after it: one input is
 * one log file, read as `sockleak report` reads it, grouped, symbolized,
 * suppressed and written in the format its first byte picks. Besides the
 * sanitizers, the output itself is checked: JSON and SARIF must parse back
 * (jansson rejects invalid UTF-8) with every frame's "function" and every
 * result's message, and the text report must hold no control character.
 * And the finding scanner must read the input as jansson alone reads it:
 * the same processes, findings and warnings (tests/unit/logread_eq.h). */
#include "logread.h"
#include "../unit/logread_eq.h"
#include "report.h"
#include "suppress.h"
#include "util.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void sl_fuzz_fail(const char *why, const char *out)
{
    fprintf(stderr, "fuzz_logread: %s\n%.4000s\n", why, out);
    abort();
}

static void sl_fuzz_check_frames(json_t *stack, const char *out)
{
    size_t i;
    json_t *f;

    json_array_foreach(stack, i, f) if (!json_is_string(json_object_get(f, "function")))
        sl_fuzz_fail("a frame without \"function\"", out);
}

static void sl_fuzz_check_json(const char *out, size_t len, bool sarif)
{
    json_error_t err;
    json_t *root = json_loadb(out, len, 0, &err), *v;
    size_t i;

    if (!root)
        sl_fuzz_fail(err.text, out);
    if (sarif) {
        json_array_foreach(
            json_object_get(json_array_get(json_object_get(root, "runs"), 0), "results"), i,
            v) if (!json_is_string(json_object_get(json_object_get(v, "message"), "text")))
            sl_fuzz_fail("a SARIF result without message.text", out);
    } else {
        json_array_foreach(json_object_get(root, "findings"), i, v)
        {
            sl_fuzz_check_frames(json_object_get(v, "eof_stack"), out);
            sl_fuzz_check_frames(json_object_get(v, "open_stack"), out);
        }
        if (json_integer_value(json_object_get(json_object_get(root, "summary"), "sockets")) < 0)
            sl_fuzz_fail("a negative socket count", out);
    }
    json_decref(root);
}

/* The text report is valid UTF-8 without C0, DEL or C1 controls. */
static void sl_fuzz_check_text(const char *out, size_t len)
{
    const unsigned char *u = (const unsigned char *)out;

    for (size_t i = 0; i < len;) {
        size_t n = sl_util_utf8_len(u + i);
        if (n == 0 || (u[i] < 0x20 && u[i] != '\n') || u[i] == 0x7f ||
            (n == 2 && u[i] == 0xc2 && u[i + 1] < 0xa0))
            sl_fuzz_fail("a control character or invalid UTF-8 in the text report", out);
        i += n;
    }
}

/* Reads the log with the scanner and with jansson alone; any difference,
 * in what is kept or in the warnings, aborts. logs: the first reading. */
static void sl_fuzz_read_both(struct sl_logread_set *logs, const uint8_t *data, size_t size,
                              bool trusted)
{
    struct sl_logread_set slow;
    char *w[2] = {NULL, NULL};
    size_t wl[2] = {0, 0};
    const char *why;

    for (int i = 0; i < 2; i++) {
        struct sl_logread_set *set = i ? &slow : logs;
        FILE *in = fmemopen((void *)data, size ? size : 1, "r");

        if (!in)
            abort();
        sl_logread_init(set, NULL);
        set->no_fast = i == 1;
        set->err = open_memstream(&w[i], &wl[i]);
        sl_logread_stream(set, in, "fuzz.jsonl", trusted);
        fclose(set->err);
        set->err = NULL;
        fclose(in);
    }
    if ((why = sl_eq_set(logs, &slow)))
        sl_fuzz_fail("the finding scanner read the log differently from jansson", why);
    if (wl[0] != wl[1] || memcmp(w[0], w[1], wl[0]) != 0)
        sl_fuzz_fail("the finding scanner's warnings differ from jansson's", w[0]);
    sl_logread_free(&slow);
    free(w[0]);
    free(w[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_logread_set logs;
    struct sl_supp_set supp = {0};
    struct sl_report_opts o = {.colour = SL_REPORT_COLOUR_NEVER};
    char *out = NULL;
    size_t len = 0;

    if (size < 1)
        return 0;
    o.format = data[0] % 3 == 0   ? SL_REPORT_JSON
               : data[0] % 3 == 1 ? SL_REPORT_SARIF
                                  : SL_REPORT_TEXT;
    o.group_frames = (data[0] >> 2) & 3;
    o.out = open_memstream(&out, &len);
    if (!o.out)
        abort();
    sl_fuzz_read_both(&logs, data + 1, size - 1, (data[0] & 0x10) != 0);
    sl_supp_add(&supp, "close_wait:*never*");
    o.supp = &supp;
    sl_report_emit(&o, &logs);
    fclose(o.out);
    if (o.format == SL_REPORT_TEXT)
        sl_fuzz_check_text(out, len);
    else
        sl_fuzz_check_json(out, len, o.format == SL_REPORT_SARIF);
    free(out);
    sl_supp_free(&supp);
    sl_logread_free(&logs);
    return 0;
}
