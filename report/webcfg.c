#include "webcfg.h"
#include "util.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

/* What is being read, for the messages. */
struct sl_webcfg_ctx {
    const char *path;
    char *dir; /* relative file names are the config file's directory's */
    yaml_document_t *doc;
};

/* One line on stderr: "sockleak serve: FILE:LINE: KEY: message". */
__attribute__((format(printf, 4, 5))) static void sl_webcfg_err(const struct sl_webcfg_ctx *c,
                                                                const yaml_node_t *at,
                                                                const char *key, const char *fmt,
                                                                ...)
{
    va_list ap;

    fputs("sockleak serve: ", stderr);
    sl_util_fputs_safe(c->path, stderr);
    if (at)
        fprintf(stderr, ":%zu", at->start_mark.line + 1);
    fputs(": ", stderr);
    if (key) {
        sl_util_fputs_safe(key, stderr);
        fputs(": ", stderr);
    }
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* The scalar's text, or NULL (said) when node is no scalar. */
static const char *sl_webcfg_scalar(const struct sl_webcfg_ctx *c, const yaml_node_t *node,
                                    const char *key)
{
    if (node->type != YAML_SCALAR_NODE) {
        sl_webcfg_err(c, node, key, "a single value is expected here");
        return NULL;
    }
    if (strlen((const char *)node->data.scalar.value) != node->data.scalar.length) {
        sl_webcfg_err(c, node, key, "the value holds a NUL byte");
        return NULL;
    }
    return (const char *)node->data.scalar.value;
}

/* A file named by the config: made absolute against its directory. */
static char *sl_webcfg_file(const struct sl_webcfg_ctx *c, const char *name)
{
    return name[0] == '/' ? sl_util_xstrdup(name) : sl_util_xjoin(c->dir, "/", name);
}

static int sl_webcfg_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return 0; /* an encrypted key is refused, never prompted for */
}

/* Accepts any certificate: RequestClientCert and RequireAnyClientCert ask
 * for one without verifying it, as the toolkit (Go's crypto/tls) does. */
static int sl_webcfg_any_cert(int ok, X509_STORE_CTX *x)
{
    (void)ok, (void)x;
    return 1;
}

/* OpenSSL's reason for the last failure. */
static const char *sl_webcfg_ssl_why(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;

    ERR_clear_error();
    return r ? r : "unknown error";
}

struct sl_webcfg_tls {
    const yaml_node_t *cert, *key, *ca, *auth, *min, *max;
    const char *cert_file, *key_file, *ca_file, *auth_type, *min_version, *max_version;
};

static int sl_webcfg_version(const struct sl_webcfg_ctx *c, const yaml_node_t *at, const char *key,
                             const char *v)
{
    static const struct {
        const char *name;
        int version;
    } versions[] = {{"TLS10", TLS1_VERSION},
                    {"TLS11", TLS1_1_VERSION},
                    {"TLS12", TLS1_2_VERSION},
                    {"TLS13", TLS1_3_VERSION}};

    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
        if (strcmp(v, versions[i].name) == 0)
            return versions[i].version;
    sl_webcfg_err(c, at, key, "'%s' is not one of TLS10, TLS11, TLS12, TLS13", v);
    return -1;
}

/* The client_auth_type's verify mode; verify: whether the client's
 * certificate is checked against client_ca_file. -1 for an unknown type. */
static int sl_webcfg_auth_mode(const char *type, bool *verify)
{
    static const struct {
        const char *name;
        int mode;
        bool verify;
    } types[] = {
        {"NoClientCert", SSL_VERIFY_NONE, false},
        {"RequestClientCert", SSL_VERIFY_PEER, false},
        {"RequireAnyClientCert", SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, false},
        {"VerifyClientCertIfGiven", SSL_VERIFY_PEER, true},
        {"RequireAndVerifyClientCert", SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, true},
    };

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(type, types[i].name) == 0) {
            *verify = types[i].verify;
            return types[i].mode;
        }
    return -1;
}

/* The versions and the client certificate policy tls_server_config asks
 * for; false (said) when they are not ones it can. */
static bool sl_webcfg_tls_check(const struct sl_webcfg_ctx *c, const yaml_node_t *section,
                                const struct sl_webcfg_tls *t, int *min, int *max, int *mode,
                                bool *verify)
{
    if (!t->cert_file || !t->key_file) {
        sl_webcfg_err(c, section,
                      !t->cert_file ? "tls_server_config.cert_file" : "tls_server_config.key_file",
                      "missing: TLS needs a certificate and its key");
        return false;
    }
    if ((t->min_version && (*min = sl_webcfg_version(c, t->min, "tls_server_config.min_version",
                                                     t->min_version)) < 0) ||
        (t->max_version && (*max = sl_webcfg_version(c, t->max, "tls_server_config.max_version",
                                                     t->max_version)) < 0))
        return false;
    if (t->auth_type && (*mode = sl_webcfg_auth_mode(t->auth_type, verify)) < 0) {
        sl_webcfg_err(c, t->auth, "tls_server_config.client_auth_type",
                      "'%s' is not one of NoClientCert, RequestClientCert, RequireAnyClientCert, "
                      "VerifyClientCertIfGiven, RequireAndVerifyClientCert",
                      t->auth_type);
        return false;
    }
    if (*verify && !t->ca_file) {
        sl_webcfg_err(c, t->auth, "tls_server_config.client_ca_file",
                      "missing: client_auth_type %s verifies certificates against it",
                      t->auth_type);
        return false;
    }
    if (t->ca_file && !*verify) {
        sl_webcfg_err(c, t->ca, "tls_server_config.client_auth_type",
                      "client_ca_file is given but client_auth_type does not verify client "
                      "certificates (VerifyClientCertIfGiven or RequireAndVerifyClientCert)");
        return false;
    }
    return true;
}

/* The certificate, its key and the client CAs loaded into ctx; false
 * (said) when one does not load. */
static bool sl_webcfg_tls_files(const struct sl_webcfg_ctx *c, SSL_CTX *ctx,
                                const struct sl_webcfg_tls *t)
{
    char *cert = sl_webcfg_file(c, t->cert_file), *key = sl_webcfg_file(c, t->key_file);
    char *ca = t->ca_file ? sl_webcfg_file(c, t->ca_file) : NULL;
    STACK_OF(X509_NAME) *names = NULL;
    bool ok = false;

    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
        sl_webcfg_err(c, t->cert, "tls_server_config.cert_file", "%s: %s", cert,
                      sl_webcfg_ssl_why());
    else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
        sl_webcfg_err(c, t->key, "tls_server_config.key_file", "%s: %s", key, sl_webcfg_ssl_why());
    else if (SSL_CTX_check_private_key(ctx) != 1)
        sl_webcfg_err(c, t->key, "tls_server_config.key_file", "%s is not the key of %s", key,
                      cert);
    else if (ca && (!(names = SSL_load_client_CA_file(ca)) ||
                    SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1))
        sl_webcfg_err(c, t->ca, "tls_server_config.client_ca_file", "%s: %s", ca,
                      names ? sl_webcfg_ssl_why() : "no certificate in it");
    else {
        if (names)
            SSL_CTX_set_client_CA_list(ctx, names); /* ctx owns them now */
        names = NULL;
        ok = true;
    }
    if (names)
        sk_X509_NAME_pop_free(names, X509_NAME_free);
    free(cert);
    free(key);
    free(ca);
    return ok;
}

/* The TLS context the tls_server_config asks for, or NULL (said). */
static SSL_CTX *sl_webcfg_tls_ctx(const struct sl_webcfg_ctx *c, const yaml_node_t *section,
                                  const struct sl_webcfg_tls *t)
{
    int min = TLS1_2_VERSION, max = 0, mode = SSL_VERIFY_NONE;
    bool verify = false;
    SSL_CTX *ctx;

    if (!sl_webcfg_tls_check(c, section, t, &min, &max, &mode, &verify))
        return NULL;
    if (!(ctx = SSL_CTX_new(TLS_server_method()))) {
        sl_webcfg_err(c, section, "tls_server_config", "%s", sl_webcfg_ssl_why());
        return NULL;
    }
    SSL_CTX_set_default_passwd_cb(ctx, sl_webcfg_no_passphrase);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    if (!SSL_CTX_set_min_proto_version(ctx, min) || !SSL_CTX_set_max_proto_version(ctx, max)) {
        sl_webcfg_err(c, t->min, "tls_server_config.min_version", "%s", sl_webcfg_ssl_why());
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (!sl_webcfg_tls_files(c, ctx, t)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, mode, verify ? NULL : sl_webcfg_any_cert);
    return ctx;
}

static bool sl_webcfg_read_tls(const struct sl_webcfg_ctx *c, yaml_node_t *map,
                               struct sl_webcfg *cfg)
{
    struct sl_webcfg_tls t = {0};

    if (map->type == YAML_SCALAR_NODE && map->data.scalar.length == 0)
        return true; /* `tls_server_config:` with nothing: plain HTTP */
    if (map->type != YAML_MAPPING_NODE) {
        sl_webcfg_err(c, map, "tls_server_config", "a mapping is expected here");
        return false;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
        const char *name = sl_webcfg_scalar(c, k, "tls_server_config");
        struct {
            const char *key;
            const char **val;
            const yaml_node_t **node;
        } known[] = {
            {"cert_file", &t.cert_file, &t.cert},    {"key_file", &t.key_file, &t.key},
            {"client_ca_file", &t.ca_file, &t.ca},   {"client_auth_type", &t.auth_type, &t.auth},
            {"min_version", &t.min_version, &t.min}, {"max_version", &t.max_version, &t.max}};
        size_t i;
        char full[128];

        if (!name)
            return false;
        snprintf(full, sizeof(full), "tls_server_config.%s", name);
        for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            if (strcmp(name, known[i].key) == 0)
                break;
        if (i == sizeof(known) / sizeof(known[0])) {
            sl_webcfg_err(c, k, full,
                          "unknown or unsupported key (sockleak reads cert_file, key_file, "
                          "client_ca_file, client_auth_type, min_version, max_version)");
            return false;
        }
        if (!(*known[i].val = sl_webcfg_scalar(c, v, full)))
            return false;
        *known[i].node = v;
        if (!**known[i].val)
            *known[i].val = NULL; /* empty: not given, as the toolkit reads it */
    }
    cfg->tls = sl_webcfg_tls_ctx(c, map, &t);
    return cfg->tls != NULL;
}

/* A bcrypt hash libcrypt can check: $2a$, $2b$ or $2y$ and a cost. */
static bool sl_webcfg_bcrypt(const char *hash)
{
    struct crypt_data cd = {0};
    const char *out;

    if (strncmp(hash, "$2a$", 4) != 0 && strncmp(hash, "$2b$", 4) != 0 &&
        strncmp(hash, "$2y$", 4) != 0)
        return false;
    out = crypt_r("", hash, &cd);
    return out && out[0] != '*' && strlen(out) == strlen(hash);
}

static bool sl_webcfg_read_users(const struct sl_webcfg_ctx *c, yaml_node_t *map,
                                 struct sl_webcfg *cfg)
{
    if (map->type == YAML_SCALAR_NODE && map->data.scalar.length == 0)
        return true;
    if (map->type != YAML_MAPPING_NODE) {
        sl_webcfg_err(c, map, "basic_auth_users",
                      "a mapping of user names to bcrypt hashes "
                      "is expected here");
        return false;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
        const char *name = sl_webcfg_scalar(c, k, "basic_auth_users");
        const char *hash;

        if (!name || !(hash = sl_webcfg_scalar(c, v, "basic_auth_users")))
            return false;
        if (!*name || strchr(name, ':')) {
            sl_webcfg_err(c, k, "basic_auth_users",
                          "'%s' cannot be a user name (empty or "
                          "with ':')",
                          name);
            return false;
        }
        if (!sl_webcfg_bcrypt(hash)) {
            sl_webcfg_err(c, v, "basic_auth_users",
                          "user %s: not a bcrypt hash ($2y$..., as "
                          "`htpasswd -nBC 10 \"\" | tr -d ':\\n'` "
                          "prints)",
                          name);
            return false;
        }
        for (size_t i = 0; i < cfg->n_users; i++)
            if (strcmp(cfg->users[i].name, name) == 0) {
                sl_webcfg_err(c, k, "basic_auth_users", "user %s is given twice", name);
                return false;
            }
        if (cfg->n_users == SL_WEBCFG_MAX_USERS) {
            sl_webcfg_err(c, k, "basic_auth_users", "more than %d users", SL_WEBCFG_MAX_USERS);
            return false;
        }
        cfg->users = sl_util_xrealloc(cfg->users, (cfg->n_users + 1) * sizeof(*cfg->users));
        cfg->users[cfg->n_users].name = sl_util_xstrdup(name);
        cfg->users[cfg->n_users++].hash = sl_util_xstrdup(hash);
    }
    return true;
}

/* A header field name: a token (RFC 9110), and none the server sets itself. */
static bool sl_webcfg_header_name(const char *n)
{
    static const char *own[] = {"Content-Type",     "Content-Length", "Connection",
                                "WWW-Authenticate", "Allow",          "Transfer-Encoding"};

    if (!*n || n[strspn(n, "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                           "ABCDEFGHIJKLMNOPQRSTUVWXYZ")])
        return false;
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        if (strcasecmp(n, own[i]) == 0)
            return false;
    return true;
}

static bool sl_webcfg_read_headers(const struct sl_webcfg_ctx *c, yaml_node_t *map,
                                   struct sl_webcfg *cfg)
{
    size_t n = 0, len = 0;

    if (map->type != YAML_MAPPING_NODE) {
        sl_webcfg_err(c, map, "http_server_config.headers", "a mapping is expected here");
        return false;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++, n++) {
        const char *name, *value;
        char *line;

        if (!(name = sl_webcfg_scalar(c, yaml_document_get_node(c->doc, p->key),
                                      "http_server_config.headers")) ||
            !(value = sl_webcfg_scalar(c, yaml_document_get_node(c->doc, p->value),
                                       "http_server_config.headers")))
            return false;
        if (!sl_webcfg_header_name(name) || strpbrk(value, "\r\n") || n == SL_WEBCFG_MAX_HEADERS) {
            sl_webcfg_err(c, yaml_document_get_node(c->doc, p->key), "http_server_config.headers",
                          "'%s' cannot be added (a header name, not one sockleak sets, with a "
                          "one-line value; at most %d)",
                          name, SL_WEBCFG_MAX_HEADERS);
            return false;
        }
        if (asprintf(&line, "%s: %s\r\n", name, value) < 0)
            return false;
        cfg->headers = sl_util_xrealloc(cfg->headers, len + strlen(line) + 1);
        memcpy(cfg->headers + len, line, strlen(line) + 1);
        len += strlen(line);
        free(line);
    }
    return true;
}

static bool sl_webcfg_read_http(const struct sl_webcfg_ctx *c, yaml_node_t *map,
                                struct sl_webcfg *cfg)
{
    if (map->type == YAML_SCALAR_NODE && map->data.scalar.length == 0)
        return true;
    if (map->type != YAML_MAPPING_NODE) {
        sl_webcfg_err(c, map, "http_server_config", "a mapping is expected here");
        return false;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
        const char *name = sl_webcfg_scalar(c, k, "http_server_config"), *b;

        if (!name)
            return false;
        if (strcmp(name, "headers") == 0) {
            if (!sl_webcfg_read_headers(c, v, cfg))
                return false;
        } else if (strcmp(name, "http2") == 0) {
            /* HTTP/1.1 is all sockleak speaks; a client offering HTTP/2
             * gets HTTP/1.1 either way. */
            if (!(b = sl_webcfg_scalar(c, v, "http_server_config.http2")))
                return false;
            if (strcmp(b, "true") != 0 && strcmp(b, "false") != 0) {
                sl_webcfg_err(c, v, "http_server_config.http2", "true or false, not '%s'", b);
                return false;
            }
        } else {
            sl_webcfg_err(c, k, "http_server_config",
                          "unknown or unsupported key '%s' (sockleak reads headers and http2)",
                          name);
            return false;
        }
    }
    return true;
}

/* The file's text, when it is one this user may trust: a regular file of
 * bounded size, owned by this user or root, writable by no one else. */
static char *sl_webcfg_slurp(const char *path, size_t *len)
{
    const char *why = "too large";
    struct stat st;
    int fd = sl_util_open_regular(path, 0, &st, &why);
    char *buf = NULL;
    ssize_t n = 0;

    if (fd >= 0 && st.st_uid != geteuid() && st.st_uid != 0)
        why = "not owned by this user or root: not used";
    else if (fd >= 0 && (st.st_mode & (S_IWOTH | S_IWGRP)))
        why = "writable by other users: not used (chmod go-w)";
    else if (fd >= 0 && st.st_size <= SL_WEBCFG_MAX_BYTES) {
        buf = sl_util_xmalloc((size_t)st.st_size + 1);
        n = read(fd, buf, (size_t)st.st_size + 1);
        if (n < 0 || n > st.st_size) {
            why = n < 0 ? strerror(errno) : "changed while read";
            free(buf);
            buf = NULL;
        }
    }
    if (fd >= 0)
        close(fd);
    if (!buf) {
        fputs("sockleak serve: --web.config.file ", stderr);
        sl_util_fputs_safe(path, stderr);
        fprintf(stderr, ": %s\n", why);
        return NULL;
    }
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static bool sl_webcfg_read(struct sl_webcfg_ctx *c, struct sl_webcfg *cfg)
{
    yaml_node_t *root = yaml_document_get_root_node(c->doc);

    if (!root || (root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0))
        return true; /* empty: plain HTTP, no password, as the toolkit reads it */
    if (root->type != YAML_MAPPING_NODE) {
        sl_webcfg_err(c, root, NULL,
                      "a mapping with tls_server_config, basic_auth_users or "
                      "http_server_config is expected");
        return false;
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
        const char *name = sl_webcfg_scalar(c, k, NULL);
        bool ok;

        if (!name)
            return false;
        if (strcmp(name, "tls_server_config") == 0)
            ok = !cfg->tls && sl_webcfg_read_tls(c, v, cfg);
        else if (strcmp(name, "basic_auth_users") == 0)
            ok = sl_webcfg_read_users(c, v, cfg);
        else if (strcmp(name, "http_server_config") == 0)
            ok = sl_webcfg_read_http(c, v, cfg);
        else {
            sl_webcfg_err(c, k, name,
                          "unknown key (the file may hold tls_server_config, "
                          "basic_auth_users and http_server_config)");
            return false;
        }
        if (!ok)
            return false;
    }
    return true;
}

struct sl_webcfg *sl_webcfg_load(const char *path)
{
    struct sl_webcfg *cfg = sl_util_xcalloc(1, sizeof(*cfg));
    char *copy = sl_util_xstrdup(path);
    struct sl_webcfg_ctx c = {.path = path, .dir = dirname(copy)};
    yaml_parser_t parser;
    yaml_document_t doc;
    size_t len;
    char *text = sl_webcfg_slurp(path, &len);
    bool ok = false;

    if (text && yaml_parser_initialize(&parser)) {
        yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
        if (!yaml_parser_load(&parser, &doc)) {
            fputs("sockleak serve: ", stderr);
            sl_util_fputs_safe(path, stderr);
            fprintf(stderr, ":%zu: not YAML: %s\n", parser.problem_mark.line + 1,
                    parser.problem ? parser.problem : "cannot be parsed");
        } else {
            c.doc = &doc;
            ok = sl_webcfg_read(&c, cfg);
            yaml_document_delete(&doc);
        }
        yaml_parser_delete(&parser);
    }
    free(text);
    free(copy);
    if (!ok) {
        sl_webcfg_free(cfg);
        return NULL;
    }
    return cfg;
}

void sl_webcfg_free(struct sl_webcfg *cfg)
{
    if (!cfg)
        return;
    SSL_CTX_free(cfg->tls);
    for (size_t i = 0; i < cfg->n_users; i++) {
        free(cfg->users[i].name);
        free(cfg->users[i].hash);
    }
    free(cfg->users);
    free(cfg->headers);
    free(cfg);
}

/* The user:password of the request's "Authorization: Basic" header
 * (malloc'd), or NULL. */
static char *sl_webcfg_credentials(const char *req)
{
    for (const char *l = strchr(req, '\n'); l; l = strchr(l + 1, '\n')) {
        const char *v = l + 1, *end;
        unsigned char *out;
        char after;
        size_t len;
        int n;

        if (strncasecmp(v, "authorization:", 14) != 0)
            continue;
        v += 14;
        v += strspn(v, " \t");
        if (strncasecmp(v, "basic ", 6) != 0)
            return NULL;
        v += 6;
        v += strspn(v, " \t");
        end = v + strcspn(v, " \t\r\n");
        len = (size_t)(end - v);
        after = end[strspn(end, " \t")];
        if (len == 0 || len % 4 || len > 4096 || (after != '\r' && after != '\n'))
            return NULL; /* one base64 token, nothing after it on its line */
        out = sl_util_xmalloc(len / 4 * 3 + 1);
        n = EVP_DecodeBlock(out, (const unsigned char *)v, (int)len);
        if (n < 0) {
            free(out);
            return NULL;
        }
        n -= (end[-1] == '=') + (end[-2] == '=');
        out[n] = '\0';
        if ((size_t)n != strlen((char *)out)) { /* a NUL inside */
            free(out);
            return NULL;
        }
        return (char *)out;
    }
    return NULL;
}

/* SHA-256 of user, password and hash: how good credentials are known
 * again. False when OpenSSL cannot make it. */
static bool sl_webcfg_digest(const char *user, const char *password, const char *hash,
                             unsigned char digest[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int dlen = 0;
    bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
              EVP_DigestUpdate(md, user, strlen(user) + 1) &&
              EVP_DigestUpdate(md, password, strlen(password) + 1) &&
              EVP_DigestUpdate(md, hash, strlen(hash)) && EVP_DigestFinal_ex(md, digest, &dlen) &&
              dlen == 32;

    EVP_MD_CTX_free(md);
    return ok;
}

/* True when a bcrypt may run now: at most SL_WEBCFG_FAILS_PER_S checks
 * that failed within the last second. */
static bool sl_webcfg_may_check(struct sl_webcfg *cfg)
{
    struct timespec ts;
    int64_t now;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (now - cfg->fail_window_ms >= 1000) {
        cfg->fail_window_ms = now;
        cfg->fails = 0;
    }
    return cfg->fails < SL_WEBCFG_FAILS_PER_S;
}

int sl_webcfg_authorized(struct sl_webcfg *cfg, const char *req)
{
    const struct sl_webcfg_user *u = NULL;
    unsigned char digest[32];
    struct crypt_data *cd;
    char *cred, *colon;
    const char *out, *hash;
    int ok;

    if (!cfg || !cfg->n_users)
        return SL_WEBCFG_OK;
    if (!(cred = sl_webcfg_credentials(req)) || !(colon = strchr(cred, ':'))) {
        free(cred);
        return SL_WEBCFG_DENIED;
    }
    *colon = '\0';
    for (size_t i = 0; i < cfg->n_users && !u; i++)
        if (strcmp(cfg->users[i].name, cred) == 0)
            u = &cfg->users[i];
    /* An unknown user costs a bcrypt too, at the cost of the first user's. */
    hash = u ? u->hash : cfg->users[0].hash;
    /* Known good credentials cost no bcrypt after the first time. */
    ok = sl_webcfg_digest(cred, colon + 1, hash, digest) ? SL_WEBCFG_DENIED : -2;
    for (size_t i = 0; ok == SL_WEBCFG_DENIED && u && i < cfg->n_ok; i++)
        if (CRYPTO_memcmp(cfg->ok[i], digest, sizeof(digest)) == 0)
            ok = SL_WEBCFG_OK;
    if (ok == SL_WEBCFG_DENIED && !sl_webcfg_may_check(cfg))
        ok = SL_WEBCFG_BUSY; /* a flood of wrong passwords costs no bcrypt */
    else if (ok == SL_WEBCFG_DENIED) {
        cd = sl_util_xcalloc(1, sizeof(*cd));
        out = crypt_r(colon + 1, hash, cd);
        if (u && out && out[0] != '*' && strlen(out) == strlen(hash) &&
            CRYPTO_memcmp(out, hash, strlen(hash)) == 0) {
            memcpy(cfg->ok[cfg->next_ok], digest, sizeof(digest));
            cfg->next_ok = (cfg->next_ok + 1) % SL_WEBCFG_CACHE;
            cfg->n_ok += cfg->n_ok < SL_WEBCFG_CACHE;
            ok = SL_WEBCFG_OK;
        } else
            cfg->fails++;
        free(cd);
    }
    OPENSSL_cleanse(cred, strlen(cred) + strlen(colon + 1) + 1);
    free(cred);
    return ok == -2 ? SL_WEBCFG_DENIED : ok;
}
