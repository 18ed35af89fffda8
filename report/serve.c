#include "serve.h"
#include "logscan.h"
#include "metrics.h"
#include "util.h"
#include "webcfg.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct sl_serve_client {
    int fd;
    SSL *ssl;    /* under tls_server_config; NULL: plain HTTP */
    bool peeked; /* its first byte was seen */
    bool secure; /* the TLS handshake is done */
    short want;  /* what TLS waits for (POLLIN, POLLOUT), 0: what the state says */
    char req[SL_SERVE_MAX_REQUEST + 1];
    size_t req_len;
    char *resp; /* NULL while the request is read */
    size_t resp_len, resp_off;
    int64_t accepted; /* monotonic ms */
    int64_t deadline; /* the headers' (SL_SERVE_HEADER_MS), then the answer's */
};

struct sl_serve {
    const struct sl_serve_opts *o;
    int listen_fd[SL_SERVE_MAX_LISTEN];
    size_t n_listen;
    struct sl_serve_client clients[SL_SERVE_MAX_CLIENTS];
    size_t n_clients;
    struct sl_logscan scan;
    struct sl_sym_ctx *sym;
    struct sl_webcfg *cfg; /* --web.config.file, or NULL */
};

static volatile sig_atomic_t sl_serve_stop, sl_serve_hup;

static void sl_serve_on_signal(int sig)
{
    if (sig == SIGHUP)
        sl_serve_hup = 1;
    else
        sl_serve_stop = sig;
}

static int64_t sl_serve_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool sl_serve_parse_addr(const char *addr, char **host, char **port)
{
    const char *colon, *end = NULL;
    long p;

    if (addr[0] == '[') {
        end = strchr(addr, ']');
        colon = end && end[1] == ':' ? end + 1 : NULL;
    } else {
        colon = strrchr(addr, ':');
        if (colon && memchr(addr, ':', (size_t)(colon - addr)))
            colon = NULL; /* a bare IPv6 address needs its brackets */
    }
    if (!colon || !sl_util_parse_long(colon + 1, 0, 65535, &p))
        return false;
    if (end)
        *host = end - addr > 1 ? strndup(addr + 1, (size_t)(end - addr - 1)) : NULL;
    else
        *host = colon > addr ? strndup(addr, (size_t)(colon - addr)) : NULL;
    *port = sl_util_xstrdup(colon + 1);
    return !end || *host;
}

/* A listening socket on host:port; host NULL: every address (IPv6 and
 * IPv4 on one socket where the system allows, else IPv4). -1 after saying
 * why. */
static int sl_serve_bind(const char *host, const char *port, const char *addr)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL, *ai;
    int fd = -1, err, saved = 0, one = 1, zero = 0;

    if (!host)
        hints.ai_family = AF_INET6;
    err = getaddrinfo(host, port, &hints, &res);
    if (err && !host) {
        hints.ai_family = AF_INET;
        err = getaddrinfo(host, port, &hints, &res);
    }
    if (err) {
        fprintf(stderr, "sockleak serve: cannot listen on %s: %s\n", addr, gai_strerror(err));
        return -1;
    }
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (!host && ai->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
            saved = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0 && !host && saved == EAFNOSUPPORT)
        return sl_serve_bind("0.0.0.0", port, addr); /* no IPv6 here */
    if (fd < 0)
        fprintf(stderr, "sockleak serve: cannot listen on %s: %s\n", addr, strerror(saved));
    return fd;
}

/* Says where it listens: the port chosen when ADDR asked for port 0. */
static void sl_serve_announce(int fd, bool tls)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[NI_MAXHOST], port[NI_MAXSERV];

    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
        getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), port, sizeof(port),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        return;
    fprintf(stderr, "sockleak serve: listening on %s://%s%s%s:%s/metrics\n", tls ? "https" : "http",
            ss.ss_family == AF_INET6 ? "[" : "", host, ss.ss_family == AF_INET6 ? "]" : "", port);
}

/* The metrics as of now: the logs read up to their last whole line. */
static char *sl_serve_metrics(struct sl_serve *s, bool om, size_t *len)
{
    struct sl_metrics_opts mo = {.openmetrics = om, .supp = s->o->supp, .sym = s->sym};
    const struct sl_logread_process **procs;
    char *body = NULL;
    size_t n;
    FILE *out = open_memstream(&body, len);

    if (!out)
        return NULL;
    sl_logscan_update(&s->scan);
    procs = sl_logscan_procs(&s->scan, &n);
    if (sl_metrics_write(out, procs, n, &mo) != 0) {
        fclose(out);
        free(body);
        free(procs);
        return NULL;
    }
    fclose(out);
    free(procs);
    return body;
}

/* The response to c's request line and headers (NUL-terminated in c->req). */
static void sl_serve_respond(struct sl_serve *s, struct sl_serve_client *c, int status,
                             const char *type, const char *body, size_t body_len, bool head)
{
    static const char *reasons[] = {[200] = "OK",
                                    [400] = "Bad Request",
                                    [401] = "Unauthorized",
                                    [404] = "Not Found",
                                    [405] = "Method Not Allowed",
                                    [429] = "Too Many Requests",
                                    [431] = "Request Header Fields Too Large",
                                    [500] = "Internal Server Error"};
    char *hdr = NULL;
    int n;

    n = asprintf(&hdr,
                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s"
                 "Connection: close\r\n\r\n",
                 status, reasons[status], type, body_len,
                 status == 405   ? "Allow: GET, HEAD\r\n"
                 : status == 429 ? "Retry-After: 1\r\n"
                 : status == 401
                     ? "WWW-Authenticate: Basic realm=\"sockleak\", charset=\"UTF-8\"\r\n"
                     : "",
                 s->cfg && s->cfg->headers ? s->cfg->headers : "");
    if (n < 0) {
        c->resp = NULL;
        return;
    }
    c->resp = sl_util_xmalloc((size_t)n + (head ? 0 : body_len) + 1);
    memcpy(c->resp, hdr, (size_t)n);
    if (!head)
        memcpy(c->resp + n, body, body_len);
    c->resp_len = (size_t)n + (head ? 0 : body_len);
    c->resp_off = 0;
    free(hdr);
}

/* True when the request's Accept header names OpenMetrics. */
static bool sl_serve_wants_om(const char *req)
{
    for (const char *l = strchr(req, '\n'); l; l = strchr(l + 1, '\n')) {
        const char *eol = strchr(l + 1, '\n');
        size_t len = eol ? (size_t)(eol - l - 1) : strlen(l + 1);
        if (strncasecmp(l + 1, "accept:", 7) == 0 &&
            memmem(l + 1, len, "application/openmetrics-text", 28))
            return true;
    }
    return false;
}

#define SL_SERVE_TEXT "text/plain; charset=utf-8"

static void sl_serve_request(struct sl_serve *s, struct sl_serve_client *c)
{
    char method[16], target[1024], version[16];
    const char *msg;
    bool head, om;
    int auth;
    char *body, *q;
    size_t len;

    if (sscanf(c->req, "%15[A-Z] %1023[^ \r\n] %15[^ \r\n]", method, target, version) != 3 ||
        strncmp(version, "HTTP/1.", 7) != 0) {
        msg = "bad request\n";
        sl_serve_respond(s, c, 400, SL_SERVE_TEXT, msg, strlen(msg), false);
        return;
    }
    head = strcmp(method, "HEAD") == 0;
    if ((auth = sl_webcfg_authorized(s->cfg, c->req)) != SL_WEBCFG_OK) {
        msg = auth == SL_WEBCFG_BUSY
                  ? "too many wrong passwords this second: try again\n"
                  : "unauthorized: a user and password of basic_auth_users are needed\n";
        sl_serve_respond(s, c, auth == SL_WEBCFG_BUSY ? 429 : 401, SL_SERVE_TEXT, msg,
                         strlen(msg), head);
        return;
    }
    if ((q = strchr(target, '?')))
        *q = '\0';
    if (strcmp(target, "/metrics") != 0) {
        msg = "not found: the metrics are at /metrics\n";
        sl_serve_respond(s, c, 404, SL_SERVE_TEXT, msg, strlen(msg), head);
        return;
    }
    if (!head && strcmp(method, "GET") != 0) {
        msg = "method not allowed: GET or HEAD\n";
        sl_serve_respond(s, c, 405, SL_SERVE_TEXT, msg, strlen(msg), false);
        return;
    }
    om = sl_serve_wants_om(c->req);
    if (!(body = sl_serve_metrics(s, om, &len))) {
        msg = "cannot build the metrics\n";
        sl_serve_respond(s, c, 500, SL_SERVE_TEXT, msg, strlen(msg), head);
        return;
    }
    sl_serve_respond(s, c, 200, om ? SL_METRICS_CONTENT_TYPE_OM : SL_METRICS_CONTENT_TYPE_TEXT,
                     body, len, head);
    free(body);
}

static void sl_serve_drop(struct sl_serve *s, size_t i)
{
    SSL_free(s->clients[i].ssl);
    close(s->clients[i].fd);
    free(s->clients[i].resp);
    s->clients[i] = s->clients[--s->n_clients];
}

/* What an SSL call that returned r waits for: c->want set and -1 with
 * errno EAGAIN, or -1 with EPROTO when the connection is lost. */
static ssize_t sl_serve_tls_wait(struct sl_serve_client *c, int r)
{
    int e = SSL_get_error(c->ssl, r);

    ERR_clear_error();
    c->want = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
    errno = c->want ? EAGAIN : EPROTO;
    return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
}

/* Plain HTTP sent to a TLS port: a TLS connection starts with a handshake
 * record (22), looked for before the handshake reads anything. When the
 * first byte is another, the client is answered in plain text, as Go's
 * servers do, and its request refused: 1. 0 when it is TLS, -1 when
 * nothing came yet (EAGAIN) or the connection ended. */
static int sl_serve_plain_on_tls(struct sl_serve_client *c)
{
    unsigned char first;
    ssize_t n = recv(c->fd, &first, 1, MSG_PEEK);

    if (n != 1) {
        if (n == 0)
            errno = 0;
        return -1;
    }
    c->peeked = true;
    if (first == 22)
        return 0;
    SSL_free(c->ssl);
    c->ssl = NULL;
    return 1;
}

/* recv, through TLS when the client speaks it (the handshake first). */
static ssize_t sl_serve_recv(struct sl_serve_client *c, void *buf, size_t len)
{
    int r;

    if (!c->ssl)
        return recv(c->fd, buf, len, 0);
    c->want = 0;
    if (!c->secure) {
        ERR_clear_error();
        if ((r = SSL_accept(c->ssl)) != 1)
            return sl_serve_tls_wait(c, r);
        c->secure = true;
    }
    ERR_clear_error();
    r = SSL_read(c->ssl, buf, (int)(len > INT_MAX ? INT_MAX : len));
    return r > 0 ? r : sl_serve_tls_wait(c, r);
}

static ssize_t sl_serve_send(struct sl_serve_client *c, const void *buf, size_t len)
{
    int r;

    if (!c->ssl)
        return send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    c->want = 0;
    ERR_clear_error();
    r = SSL_write(c->ssl, buf, (int)(len > INT_MAX ? INT_MAX : len));
    return r > 0 ? r : sl_serve_tls_wait(c, r);
}

/* Reads more of client i's request; answers once its headers are whole.
 * False when the client is done with (closed). */
static bool sl_serve_read(struct sl_serve *s, size_t i)
{
    struct sl_serve_client *c = &s->clients[i];
    int plain = c->ssl && !c->peeked ? sl_serve_plain_on_tls(c) : 0;
    ssize_t n;

    if (plain < 0)
        return errno == EAGAIN || errno == EINTR;
    n = sl_serve_recv(c, c->req + c->req_len, SL_SERVE_MAX_REQUEST - c->req_len);
    if (plain) {
        const char *msg = "Client sent an HTTP request to an HTTPS server.\n";
        sl_serve_respond(s, c, 400, SL_SERVE_TEXT, msg, strlen(msg), false);
        c->deadline = c->accepted + SL_SERVE_TIMEOUT_MS;
        return c->resp != NULL;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return true;
    if (n <= 0)
        return false;
    /* TLS may hold more of the request than the socket says: read it all. */
    while (c->ssl && SSL_has_pending(c->ssl) && c->req_len + (size_t)n < SL_SERVE_MAX_REQUEST) {
        ssize_t more = sl_serve_recv(c, c->req + c->req_len + n,
                                     SL_SERVE_MAX_REQUEST - c->req_len - (size_t)n);
        if (more <= 0)
            break;
        n += more;
    }
    c->req_len += (size_t)n;
    c->req[c->req_len] = '\0';
    if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n"))
        sl_serve_request(s, c);
    else if (c->req_len == SL_SERVE_MAX_REQUEST)
        sl_serve_respond(s, c, 431, SL_SERVE_TEXT, "request too large\n", 18, false);
    else if (memchr(c->req, '\0', c->req_len))
        sl_serve_respond(s, c, 400, SL_SERVE_TEXT, "bad request\n", 12, false);
    if (c->resp)
        c->deadline = c->accepted + SL_SERVE_TIMEOUT_MS; /* the answer's time */
    return c->resp != NULL || c->req_len < SL_SERVE_MAX_REQUEST;
}

/* Sends more of client i's response; false when it is all sent or failed. */
static bool sl_serve_write(struct sl_serve *s, size_t i)
{
    struct sl_serve_client *c = &s->clients[i];
    ssize_t n = sl_serve_send(c, c->resp + c->resp_off, c->resp_len - c->resp_off);

    if (n < 0)
        return errno == EAGAIN || errno == EINTR;
    c->resp_off += (size_t)n;
    if (c->resp_off < c->resp_len)
        return true;
    if (c->ssl) {
        ERR_clear_error();
        SSL_shutdown(c->ssl); /* the close_notify, sent or not: the connection ends here */
    }
    shutdown(c->fd, SHUT_WR);
    return false;
}

/* The client that has sent no whole request for the longest, or
 * SIZE_MAX when every one has (each is being answered). */
static size_t sl_serve_idlest(const struct sl_serve *s)
{
    size_t best = SIZE_MAX;

    for (size_t i = 0; i < s->n_clients; i++)
        if (!s->clients[i].resp &&
            (best == SIZE_MAX || s->clients[i].accepted < s->clients[best].accepted))
            best = i;
    return best;
}

/* Takes the waiting connections, at most a table's worth a round. At the
 * limit the client that has sent no whole request for the longest makes
 * room: idle or slow connections never keep a scrape waiting. A request
 * already in is read at once, so the newcomer is answered, not evicted. */
static void sl_serve_accept(struct sl_serve *s, int lfd, int64_t now)
{
    for (size_t k = 0; k < SL_SERVE_MAX_CLIENTS; k++) {
        size_t victim = SIZE_MAX;
        struct sl_serve_client *c;
        int fd;

        if (s->n_clients == SL_SERVE_MAX_CLIENTS && (victim = sl_serve_idlest(s)) == SIZE_MAX)
            return;
        fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (victim != SIZE_MAX)
            sl_serve_drop(s, victim);
        c = &s->clients[s->n_clients++];
        c->fd = fd;
        c->secure = c->peeked = false;
        c->want = 0;
        c->ssl = s->cfg && s->cfg->tls ? SSL_new(s->cfg->tls) : NULL;
        if (c->ssl && SSL_set_fd(c->ssl, fd) == 1)
            SSL_set_accept_state(c->ssl);
        else if (s->cfg && s->cfg->tls) {
            ERR_clear_error();
            c->resp = NULL;
            sl_serve_drop(s, s->n_clients - 1); /* no memory for it: refused */
            continue;
        }
        c->req_len = 0;
        c->req[0] = '\0';
        c->resp = NULL;
        c->resp_len = c->resp_off = 0;
        c->accepted = now;
        c->deadline = now + SL_SERVE_HEADER_MS;
        if (!sl_serve_read(s, s->n_clients - 1) ||
            (c->resp && !sl_serve_write(s, s->n_clients - 1)))
            sl_serve_drop(s, s->n_clients - 1);
    }
}

/* One round of poll: what is ready is served, what is late is dropped. */
static int sl_serve_round(struct sl_serve *s, const sigset_t *unblocked)
{
    struct pollfd pfd[SL_SERVE_MAX_CLIENTS + SL_SERVE_MAX_LISTEN];
    int64_t now = sl_serve_now(), wait = -1;
    size_t n = s->n_clients;
    struct timespec ts;
    int r;

    for (size_t i = 0; i < s->n_clients; i++) {
        int64_t left = s->clients[i].deadline - now;
        pfd[i].fd = s->clients[i].fd;
        pfd[i].events = s->clients[i].want   ? s->clients[i].want
                        : s->clients[i].resp ? POLLOUT
                                             : POLLIN;
        wait = wait < 0 || left < wait ? (left > 0 ? left : 0) : wait;
    }
    /* At the limit new connections still come in while some client has no
     * whole request yet: it makes room for them. */
    bool room = n < SL_SERVE_MAX_CLIENTS || sl_serve_idlest(s) != SIZE_MAX;
    for (size_t l = 0; l < s->n_listen; l++) {
        pfd[n + l].fd = room ? s->listen_fd[l] : -1;
        pfd[n + l].events = POLLIN;
    }
    ts.tv_sec = wait / 1000;
    ts.tv_nsec = (wait % 1000) * 1000000;
    r = ppoll(pfd, n + s->n_listen, wait >= 0 ? &ts : NULL, unblocked);
    if (r < 0)
        return errno == EINTR ? 0 : -1;
    now = sl_serve_now();
    for (size_t i = n; i-- > 0;) {
        struct sl_serve_client *c = &s->clients[i];
        bool keep = true;
        if (pfd[i].revents & (POLLIN | POLLOUT | POLLERR | POLLHUP))
            keep = c->resp ? sl_serve_write(s, i) : sl_serve_read(s, i);
        if (keep && c->resp && c->resp_off == 0 && !(pfd[i].revents & POLLOUT))
            keep = sl_serve_write(s, i); /* just answered: try at once */
        if (!keep || now >= c->deadline)
            sl_serve_drop(s, i);
    }
    for (size_t l = 0; l < s->n_listen; l++)
        if (pfd[n + l].revents & POLLIN)
            sl_serve_accept(s, s->listen_fd[l], now);
    return 0;
}

/* Says which PATHs are no file or directory yet: a typo must not pass for
 * a fleet without leaks. They are read once they appear. */
static void sl_serve_missing(const struct sl_serve_opts *o)
{
    for (size_t i = 0; i < o->n_paths; i++) {
        struct stat st;
        if (stat(o->paths[i], &st) == 0 && (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)))
            continue;
        fputs("sockleak serve: warning: ", stderr);
        sl_util_fputs_safe(o->paths[i], stderr);
        fputs(": no log file or directory (yet); read once it appears\n", stderr);
    }
}

/* systemd socket activation: the listening sockets passed from fd 3 on
 * (LISTEN_FDS, for this pid: LISTEN_PID). Returns how many were taken, 0
 * when none was passed, -1 when the passed ones are not listening stream
 * sockets (said on stderr). */
static int sl_serve_inherited(struct sl_serve *s)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    char *end;
    long n;

    if (!pid || !fds || strtol(pid, &end, 10) != (long)getpid() || *end)
        return 0;
    n = strtol(fds, &end, 10);
    if (*end || n < 1 || n > SL_SERVE_MAX_LISTEN) {
        fprintf(stderr, "sockleak serve: LISTEN_FDS=%s: 1 to %d sockets expected\n", fds,
                SL_SERVE_MAX_LISTEN);
        return -1;
    }
    for (int fd = 3; fd < 3 + n; fd++) {
        int type = 0, listening = 0;
        socklen_t len = sizeof(type);
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM ||
            (len = sizeof(listening),
             getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0) ||
            !listening) {
            fprintf(stderr, "sockleak serve: LISTEN_FDS: fd %d is not a listening stream socket\n",
                    fd);
            return -1;
        }
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        s->listen_fd[s->n_listen++] = fd;
    }
    /* Not passed on to anything this process might start. */
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return (int)n;
}

/* Binds every --listen address (or the default). False, said on stderr,
 * when one cannot be used. */
static bool sl_serve_listen(struct sl_serve *s, const struct sl_serve_opts *o)
{
    size_t n = o->n_listen ? o->n_listen : 1;

    for (size_t i = 0; i < n; i++) {
        const char *addr = o->n_listen ? o->listen[i] : SL_SERVE_DEFAULT_LISTEN;
        char *host = NULL, *port = NULL;
        int fd;

        if (!sl_serve_parse_addr(addr, &host, &port)) {
            fprintf(stderr,
                    "sockleak serve: --listen needs HOST:PORT, :PORT or [IPV6]:PORT, "
                    "not '%s'\n",
                    addr);
            free(host);
            free(port);
            return false;
        }
        fd = sl_serve_bind(host, port, addr);
        free(host);
        free(port);
        if (fd < 0)
            return false;
        s->listen_fd[s->n_listen++] = fd;
    }
    return true;
}

/* SIGHUP: the web config file read again. Connections already open keep
 * the certificate they were made with; the listening sockets stay. A file
 * that no longer reads leaves the old configuration in force. */
static void sl_serve_reload(struct sl_serve *s)
{
    struct sl_webcfg *cfg;

    sl_serve_hup = 0;
    if (!s->o->web_config) {
        fputs("sockleak serve: SIGHUP: no --web.config.file to read again\n", stderr);
        return;
    }
    if (!(cfg = sl_webcfg_load(s->o->web_config))) {
        fputs("sockleak serve: SIGHUP: the web config file kept as it was\n", stderr);
        return;
    }
    sl_webcfg_free(s->cfg); /* the open connections' SSL keep their own reference */
    s->cfg = cfg;
    fputs("sockleak serve: SIGHUP: web config file read again\n", stderr);
}

/* SIGINT and SIGTERM stop, SIGHUP reloads: blocked but while ppoll waits
 * (*unblocked: the mask it waits with), so that a signal never slips in
 * between the check and the wait. */
static void sl_serve_signals(sigset_t *unblocked)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction sa = {.sa_handler = sl_serve_on_signal};
    sigset_t block;

    sigemptyset(&block);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaddset(&block, sigs[i]);
    sigprocmask(SIG_BLOCK, &block, unblocked);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        sigaction(sigs[i], &sa, NULL);
        sigdelset(unblocked, sigs[i]);
    }
    /* OpenSSL writes with write(): a client gone mid-answer must be EPIPE,
     * not the end of serve. */
    signal(SIGPIPE, SIG_IGN);
}

int sl_serve(const struct sl_serve_opts *o)
{
    struct sl_serve *s = sl_util_xcalloc(1, sizeof(*s));
    sigset_t orig;
    int rc = 0, passed;

    s->o = o;
    if (o->web_config && !(s->cfg = sl_webcfg_load(o->web_config))) {
        free(s);
        return 2;
    }
    passed = sl_serve_inherited(s);
    if (passed > 0 && o->n_listen) {
        fprintf(stderr, "sockleak serve: sockets passed by systemd (LISTEN_FDS) and --listen: "
                        "give one or the other\n");
        passed = -1;
    }
    if (passed < 0 || (passed == 0 && !sl_serve_listen(s, o))) {
        for (size_t l = 0; l < s->n_listen; l++)
            close(s->listen_fd[l]);
        sl_webcfg_free(s->cfg);
        free(s);
        return 2;
    }
    sl_logscan_init(&s->scan, o->paths, o->n_paths);
    s->sym = sl_sym_new(false);
    sl_serve_signals(&orig);
    for (size_t l = 0; l < s->n_listen; l++)
        sl_serve_announce(s->listen_fd[l], s->cfg && s->cfg->tls);
    /* The backlog read now, not at the first scrape. */
    if (sl_logscan_update(&s->scan) < 0)
        sl_serve_missing(o);
    while (!sl_serve_stop && rc == 0) {
        if (sl_serve_hup)
            sl_serve_reload(s);
        rc = sl_serve_round(s, &orig);
    }
    if (rc != 0)
        fprintf(stderr, "sockleak serve: poll failed: %s\n", strerror(errno));
    while (s->n_clients)
        sl_serve_drop(s, s->n_clients - 1);
    for (size_t l = 0; l < s->n_listen; l++)
        close(s->listen_fd[l]);
    sl_logscan_free(&s->scan);
    sl_sym_free(s->sym);
    sl_webcfg_free(s->cfg);
    free(s);
    return rc == 0 ? 0 : 2;
}
