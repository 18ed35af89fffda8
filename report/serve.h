/* `sockleak serve`: the metrics of raw logs on GET /metrics over HTTP, for
 * Prometheus. One thread, poll(): bounded requests, a time limit per
 * connection, the logs re-read incrementally at every scrape. */
#ifndef SL_REPORT_SERVE_H
#define SL_REPORT_SERVE_H

#include "suppress.h"

#include <stddef.h>

#define SL_SERVE_DEFAULT_LISTEN "127.0.0.1:9464"
#define SL_SERVE_MAX_CLIENTS 32
#define SL_SERVE_MAX_REQUEST 8192 /* bytes of request line and headers */
#define SL_SERVE_TIMEOUT_MS 10000 /* per connection, from accept to the last byte */
#define SL_SERVE_HEADER_MS 3000   /* from accept to the end of the request's headers */
#define SL_SERVE_MAX_LISTEN 16    /* --listen addresses, or sockets from systemd */

struct sl_serve_opts {
    const char *listen[SL_SERVE_MAX_LISTEN]; /* HOST:PORT, :PORT or [IPV6]:PORT */
    size_t n_listen;                         /* 0: the default address */
    char *const *paths;
    size_t n_paths;
    struct sl_supp_set *supp; /* may be NULL */
    const char *web_config;   /* --web.config.file, or NULL: plain HTTP for anyone */
};

/* Splits ADDR into host (NULL for every address) and port, malloc'd;
 * false when ADDR has none of the forms. */
bool sl_serve_parse_addr(const char *addr, char **host, char **port);

/* Serves until SIGINT or SIGTERM. Returns 0 then, 2 when it cannot listen. */
int sl_serve(const struct sl_serve_opts *o);

#endif
