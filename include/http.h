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
 * stays valid until the handler has replied (after the client has gone,
 * http_req_header and http_req_body return NULL; path, params, query and
 * an already parsed http_req_json stay). The req is freed on the loop turn
 * after the reply, so a second reply from the same callback is harmless
 * (ignored and logged as event=http_double_reply); a reply from a later
 * callback is a use after free.
 *
 * The layer itself answers, always with the spec's JSON error body and
 * the CORS header: 404 not_found (no route), 405 method_not_allowed (with
 * Allow), OPTIONS (204 with Allow and CORS preflight headers), 401
 * unauthorized (with WWW-Authenticate), 403 forbidden, 400 bad_request
 * (malformed path or query: bad percent-encoding, invalid UTF-8, an
 * encoded '/' in a path parameter), 400 bad_json (http_req_json), 413
 * payload_too_large (body over max_body_bytes, Content-Length or
 * chunked), 503 timeout (with Retry-After). HEAD is served by the GET
 * handler with the body left out. Path parameters and query values are
 * percent-decoded, valid UTF-8 without NUL. Each answered request is
 * counted in cityd_http_requests_total{route,method,code} and
 * cityd_http_request_duration_seconds{route} (route is the pattern, or
 * "unmatched"; code 499 when the client left first) and logged at debug
 * level as event=http_request. */
#ifndef CITYD_HTTP_H
#define CITYD_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "auth.h"                   /* enum role, role_allows, role_name */

struct event_base;
struct log;
struct metrics;
struct http_server;
struct http_req;

enum http_method {
    HTTP_GET = 1, HTTP_POST = 2, HTTP_PUT = 4, HTTP_DELETE = 8,
    HTTP_HEAD = 16, HTTP_OPTIONS = 32,
};

struct http_opts {
    const char *listen;           /* "host:port" */
    size_t max_body_bytes;        /* larger -> 413 */
    int request_timeout_ms;       /* handler must reply within, else 503 */
    bool public_read;             /* auth.public_read */
    const char *cors_origin;      /* Access-Control-Allow-Origin value, "*" default */
    double rate_limit_rps;        /* per caller (key, else address); <= 0: no limit */
    double rate_limit_burst;      /* bucket size; <= 0: max(rate_limit_rps, 1) */
    size_t max_connections;       /* more are closed at once; 0: 10000 */
    int header_timeout_ms;        /* a request head must be in within; <= 0: 10 s */
    int auth_fail_limit;          /* failed authentications an address may have ... */
    int auth_fail_window_s;       /* ... in this many seconds, then 429; 0: 10 in 60 s,
                                   * a limit < 0: no limit */
};
/* max_body_bytes 0 means 1 MiB, request_timeout_ms <= 0 means 10 s. */

typedef void http_handler(struct http_req *req, void *arg);

/* Create, bind and listen. NULL with err filled on failure (e.g. port in
 * use, bad "host:port"; IPv6 as "[::1]:8080"). Does not own base, lg or
 * m (both may be NULL). The caller should ignore SIGPIPE. */
struct http_server *http_server_new(struct event_base *base, const struct http_opts *o,
                                    const struct log *lg, struct metrics *m,
                                    char *err, size_t errlen);
/* Ends open streams (calling their on_close), closes every connection
 * and frees requests whose handlers have not replied: call it only when
 * no handler will reply any more (the loop has stopped). */
void http_server_free(struct http_server *h);
/* The port actually bound (useful with port 0). */
int http_server_port(const struct http_server *h);

/* Keys: load a keys file (its format in auth.h). Replaces the current
 * key set, or on error keeps it and returns -1 with "file:line: message"
 * in err. Secrets are compared in constant time. With h NULL the file is
 * only checked (cityd --check). */
int http_load_keys(struct http_server *h, const char *path, char *err, size_t errlen);
/* Add one key programmatically (tests). -1 on a duplicate or bad key. */
int http_add_key(struct http_server *h, const char *secret, enum role r, const char *name);
/* The same for a kiosk key bound to lot (required for ROLE_KIOSK). */
int http_add_kiosk_key(struct http_server *h, const char *secret, const char *name,
                       const char *lot);

/* Route registration. `pattern` segments in braces are parameters; a
 * parameter matches exactly one non-empty segment, and where patterns
 * overlap the one with a literal at the first differing segment wins
 * (/stops/nearest before /stops/{id}). `methods` is a mask of GET, POST,
 * PUT, DELETE, HEAD (GET implies HEAD; OPTIONS is the layer's). `need`
 * is the role required (ROLE_NONE: no key needed); `is_public` lets
 * GET/HEAD through without a key when public_read is on. A key that is
 * sent must be valid even where none is needed. The same pattern may be
 * registered several times with different methods. Returns -1 on a
 * malformed pattern, a method registered twice, or the same path shape
 * under other parameter names. */
int http_route(struct http_server *h, unsigned methods, const char *pattern,
               enum role need, bool is_public, http_handler *fn, void *arg);

/* Drain: close the listening socket, answer further requests on open
 * connections with Connection: close, and end open streams (calling
 * their on_close). Requests in flight carry on. */
void http_server_stop_accepting(struct http_server *h);
/* Requests received whose response is not yet fully written. */
size_t http_server_inflight(const struct http_server *h);

/* ---- request accessors ---- */
enum http_method http_req_method(const struct http_req *r);
/* The path as received (still percent-encoded), without the query. */
const char *http_req_path(const struct http_req *r);
/* Path parameter by name ("id"), decoded; NULL if absent. */
const char *http_req_param(const struct http_req *r, const char *name);
/* Query parameter, decoded ('+' is a space); NULL if absent, "" for
 * "?flag" or "?flag=". The first of repeated names wins. */
const char *http_req_query(const struct http_req *r, const char *name);
const char *http_req_header(const struct http_req *r, const char *name);
const unsigned char *http_req_body(const struct http_req *r, size_t *len);
/* Parse the body as a JSON object (duplicate keys and invalid UTF-8 are
 * errors). On failure replies 400 itself (code "bad_json", message naming
 * line/column and what is wrong) and returns NULL: the handler must then
 * return without replying. The returned object is owned by the request
 * (freed after reply); later calls return the same object. */
json_t *http_req_json(struct http_req *r);
/* The caller's role (ROLE_NONE without a key) and key name (or NULL). */
enum role http_req_role(const struct http_req *r);
const char *http_req_key_name(const struct http_req *r);
/* The lot a kiosk key is bound to; NULL for every other caller. */
const char *http_req_key_lot(const struct http_req *r);
/* Opaque per-request user pointer for handlers that reply later. */
void http_req_set_data(struct http_req *r, void *data);
void *http_req_data(const struct http_req *r);

/* ---- replies (exactly one per request) ---- */
/* Steals `body` (NULL gives a 500). Content-Type application/json;
 * charset=utf-8. */
void http_reply_json(struct http_req *r, int status, json_t *body);
/* {"error":{"code":code,"message":...}} */
void http_reply_error(struct http_req *r, int status, const char *code,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* 503 store_unavailable with Retry-After. */
void http_reply_unavailable(struct http_req *r);
/* The error body with status and code, and Retry-After: retry_after_s
 * (a full queue: 503 busy). */
void http_reply_retry(struct http_req *r, int status, const char *code, int retry_after_s,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void http_reply_raw(struct http_req *r, int status, const char *content_type,
                    const void *data, size_t len);
/* As http_reply_raw, but the body is sent by reference, not copied:
 * data must stay unchanged until http_server_free (static files held in
 * memory). */
void http_reply_static(struct http_req *r, int status, const char *content_type,
                       const void *data, size_t len);
/* Add a header to the reply this handler is about to send (call before
 * its http_reply_*; ignored once answered). For headers the layer does
 * not set itself: ETag, Cache-Control, Vary, Content-Encoding. */
void http_reply_header(struct http_req *r, const char *name, const char *value);

/* ---- streaming (SSE) ----
 * Start a chunked 200 reply (this is the handler's one reply; the request
 * timeout no longer applies). `on_close` is called once when the client
 * goes away, the server drains or stops, or -- from the next loop turn --
 * when the request had already timed out or was a HEAD (which gets the
 * stream's headers and nothing more); after it the req must not be
 * used. It is not called after the caller's own http_stream_end. Pass
 * NULL only if the req is not kept after http_stream_start returns.
 * http_stream_send returns the bytes queued in the connection's output
 * buffer (0 once the client is gone) so the caller can drop slow clients
 * with http_stream_abort: the connection is closed at once, what is still
 * queued for it discarded. After http_stream_end (the stream's proper
 * end) or http_stream_abort the req must not be used. */
typedef void http_close_fn(struct http_req *r, void *arg);
void http_stream_start(struct http_req *r, const char *content_type,
                       http_close_fn *on_close, void *arg);
size_t http_stream_send(struct http_req *r, const void *data, size_t len);
void http_stream_end(struct http_req *r);
void http_stream_abort(struct http_req *r);

/* Pacing, so that a long answer is written as the client reads it rather
 * than all at once: after http_stream_on_drained, fn(r, arg) -- arg is
 * on_close's -- is called each time a write to the socket leaves at most
 * low_water bytes in the connection's output buffer (only after
 * something was sent). The owner then sends the next part. Never called
 * after on_close, http_stream_end or http_stream_abort, nor from inside
 * an http_stream_* call. fn NULL stops it. */
typedef void http_drained_fn(struct http_req *r, void *arg);
void http_stream_on_drained(struct http_req *r, size_t low_water, http_drained_fn *fn);
/* Bytes sent to the stream that the client has not acknowledged: the
 * connection's output buffer plus the kernel's send queue (SIOCOUTQ on
 * Linux). A system call: for periodic checks, not per send. 0 once the
 * client is gone. */
size_t http_stream_unsent(const struct http_req *r);
/* Who is asking, for per-caller limits (as the rate limit counts them):
 * "k <key name>" for a request with a valid key, else "a <peer address>". */
void http_req_caller(const struct http_req *r, char *buf, size_t len);

#endif
