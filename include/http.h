/* http.h -- the HTTP layer: the only module that includes evhttp.
 *
 * A router over evhttp_set_gencb with path parameters ("/v1/parking/lots/{id}"),
 * JSON bodies in and out (jansson), the API's JSON error body for every
 * error, request timeouts, HEAD and OPTIONS, CORS, bearer-key auth with
 * roles, per-route metrics, and Server-Sent-Event style streaming.
 *
 * Handlers receive a struct http_req and must eventually call exactly one
 * http_reply_*() on it (possibly later, from a store callback). If the
 * request times out or the client goes away first, the layer answers (or
 * drops) it itself and a later reply is silently discarded; the req object
 * stays valid until the handler has replied. */
#ifndef CITYD_HTTP_H
#define CITYD_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct log;
struct metrics;
struct http_server;
struct http_req;

enum http_method {
    HTTP_GET = 1, HTTP_POST = 2, HTTP_PUT = 4, HTTP_DELETE = 8,
    HTTP_HEAD = 16, HTTP_OPTIONS = 32,
};

/* Roles: reader < sensor, operator, engineer < admin. */
enum role { ROLE_NONE = 0, ROLE_READER, ROLE_SENSOR, ROLE_OPERATOR, ROLE_ENGINEER, ROLE_ADMIN };

/* True when a key with role `have` may call an endpoint needing `need`. */
bool role_allows(enum role have, enum role need);
int role_parse(const char *s, enum role *out);
const char *role_name(enum role r);

struct http_opts {
    const char *listen;           /* "host:port" */
    size_t max_body_bytes;        /* larger -> 413 */
    int request_timeout_ms;       /* handler must reply within, else 503 */
    bool public_read;             /* auth.public_read */
    const char *cors_origin;      /* Access-Control-Allow-Origin value, "*" default */
    const char *version;          /* for Server header */
};

typedef void http_handler(struct http_req *req, void *arg);

/* Create, bind and listen. NULL with err filled on failure (e.g. port in
 * use). Does not own base, lg or m. */
struct http_server *http_server_new(struct event_base *base, const struct http_opts *o,
                                    const struct log *lg, struct metrics *m,
                                    char *err, size_t errlen);
void http_server_free(struct http_server *h);
/* The port actually bound (useful with port 0). */
int http_server_port(const struct http_server *h);

/* Keys: load "<secret> <role> [name]" lines; '#' comments. Replaces the
 * current key set. Returns 0, or -1 with "file:line: message" in err. */
int http_load_keys(struct http_server *h, const char *path, char *err, size_t errlen);
/* Add one key programmatically (tests). */
int http_add_key(struct http_server *h, const char *secret, enum role r, const char *name);

/* Route registration. `pattern` segments in braces are parameters.
 * `methods` is a mask of enum http_method (GET implies HEAD). `need` is the
 * role required; `is_public` lets GET/HEAD through without a key when
 * public_read is on. The same pattern may be registered several times
 * with different methods. */
int http_route(struct http_server *h, unsigned methods, const char *pattern,
               enum role need, bool is_public, http_handler *fn, void *arg);

/* Stop accepting new connections (drain). Returns number of requests
 * still in flight. */
void http_server_stop_accepting(struct http_server *h);
size_t http_server_inflight(const struct http_server *h);

/* ---- request accessors ---- */
enum http_method http_req_method(const struct http_req *r);
const char *http_req_path(const struct http_req *r);
/* Path parameter by name ("id"), decoded; NULL if absent. */
const char *http_req_param(const struct http_req *r, const char *name);
/* Query parameter, decoded; NULL if absent. */
const char *http_req_query(const struct http_req *r, const char *name);
const char *http_req_header(const struct http_req *r, const char *name);
const unsigned char *http_req_body(const struct http_req *r, size_t *len);
/* Parse the body as a JSON object. On failure replies 400 itself
 * (code "bad_json", message naming line/column) and returns NULL.
 * The returned object is owned by the request (freed after reply). */
json_t *http_req_json(struct http_req *r);
enum role http_req_role(const struct http_req *r);
const char *http_req_key_name(const struct http_req *r);
/* Opaque per-request user pointer for handlers that reply later. */
void http_req_set_data(struct http_req *r, void *data);
void *http_req_data(const struct http_req *r);

/* ---- replies (exactly one per request) ---- */
/* Steals `body`. Content-Type application/json; charset=utf-8. */
void http_reply_json(struct http_req *r, int status, json_t *body);
/* {"error":{"code":code,"message":...}} */
void http_reply_error(struct http_req *r, int status, const char *code,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* 503 store_unavailable with Retry-After. */
void http_reply_unavailable(struct http_req *r);
void http_reply_raw(struct http_req *r, int status, const char *content_type,
                    const void *data, size_t len);

/* ---- streaming (SSE) ----
 * Start a chunked 200 reply. `on_close` is called once when the client
 * goes away or the server stops; after it the req must not be used.
 * http_stream_send returns the bytes queued in the output buffer so the
 * caller can drop slow clients (http_stream_end). */
typedef void http_close_fn(struct http_req *r, void *arg);
void http_stream_start(struct http_req *r, const char *content_type,
                       http_close_fn *on_close, void *arg);
size_t http_stream_send(struct http_req *r, const void *data, size_t len);
void http_stream_end(struct http_req *r);

#endif
