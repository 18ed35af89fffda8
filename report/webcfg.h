/* `sockleak serve --web.config.file`: the Prometheus exporter toolkit's web
 * configuration (tls_server_config, basic_auth_users, http_server_config),
 * read with libyaml, served with OpenSSL, passwords checked with libcrypt. */
#ifndef SL_REPORT_WEBCFG_H
#define SL_REPORT_WEBCFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_WEBCFG_MAX_BYTES (64 * 1024) /* a web config file larger than this is refused */
#define SL_WEBCFG_MAX_USERS 256
#define SL_WEBCFG_MAX_HEADERS 32
#define SL_WEBCFG_CACHE 16 /* credentials remembered as checked, so a scrape costs no bcrypt */
/* bcrypt checks that may fail in a second; past them, credentials not known
 * good get 429 without a check: wrong passwords cannot keep serve busy. */
#define SL_WEBCFG_FAILS_PER_S 4

enum { SL_WEBCFG_DENIED = 0, SL_WEBCFG_OK = 1, SL_WEBCFG_BUSY = -1 };

struct ssl_ctx_st;

struct sl_webcfg_user {
    char *name;
    char *hash; /* bcrypt: $2a$, $2b$ or $2y$ */
};

struct sl_webcfg {
    struct ssl_ctx_st *tls; /* NULL: plain HTTP */
    struct sl_webcfg_user *users;
    size_t n_users;
    char *headers; /* "Name: value\r\n" lines added to every response, or NULL */
    unsigned char ok[SL_WEBCFG_CACHE][32]; /* SHA-256 of credentials found good */
    size_t n_ok, next_ok;
    int64_t fail_window_ms; /* CLOCK_MONOTONIC start of the second fails counts in */
    unsigned fails;
};

/* Reads PATH: a regular file owned by this user (or root) that no other
 * user may write. NULL after one line on stderr naming the file, the line
 * and the key at fault. */
struct sl_webcfg *sl_webcfg_load(const char *path);
void sl_webcfg_free(struct sl_webcfg *cfg);

/* SL_WEBCFG_OK when cfg asks for no password, or the request's
 * Authorization header names a user of cfg with the right password;
 * SL_WEBCFG_BUSY when they would need a bcrypt past the second's budget of
 * failed ones; else SL_WEBCFG_DENIED. req: the request's line and headers,
 * NUL-terminated. */
int sl_webcfg_authorized(struct sl_webcfg *cfg, const char *req);

#endif
