/* http.c -- the HTTP layer over evhttp (the only file that includes it).
 *
 * evhttp only matches exact paths and answers its own errors in HTML, so
 * every request goes through one generic callback: it decodes the path
 * into segments, picks the most specific route pattern, answers
 * 404/405/OPTIONS/auth errors itself, and otherwise calls the handler.
 *
 * Request lifetime. A struct http_req is held by up to two parties,
 * tracked as two reference bits:
 *   REF_HANDLER  the handler owes a reply (released by its http_reply_*,
 *                http_req_json's own 400, http_stream_end or on_close);
 *   REF_WIRE     evhttp still has the request (released when the reply
 *                has been written -- evhttp's on_complete callback -- or
 *                when the connection closes: evhttp's closecb).
 * When both are gone the req is freed: at once if evhttp let go last (in
 * a callback of its own, after the handler's reply), else from the next
 * loop turn (its timer with a zero timeout), so a handler that replies
 * twice in one callback touches valid memory and the second reply is
 * only logged.
 * The same timer answers 503 `timeout` if the handler is late; its
 * reply then goes nowhere. If the client disconnects first, evhttp
 * detaches its request object and hands it to us (we free it), and the
 * handler's reply is discarded the same way.
 *
 * evhttp's own error pages. evhttp answers malformed requests and bodies
 * over the size limit itself, before any callback of ours runs, by
 * calling evhttp_send_error(), which writes HTML. This file defines
 * evhttp_send_error so that those answers are the API's JSON error body
 * too: libevent calls it through the PLT, so the definition in the
 * executable takes precedence (tests/unit/test_http.c checks that a
 * 413 and a malformed request line come back as JSON). It has no access
 * to a server's state, so those replies carry the wildcard CORS origin
 * and are not counted per route.
 *
 * evhttp's reply head. evhttp writes a reply's status line and each of
 * its headers with evbuffer_add_printf; through glibc's vsnprintf that
 * is about 1,100 instructions a line, a fifth of a small reply's cost.
 * The evbuffer_add_printf at the end of this file takes the place of
 * libevent's the same way: it copies those two formats directly and
 * hands every other format to evbuffer_add_vprintf. Only the speed
 * depends on the interposition; the bytes are the same either way. */
#include "http.h"

#include <errno.h>
#include <math.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#ifdef __linux__
#include <linux/sockios.h>           /* SIOCOUTQ */
#endif

#include "dict.h"
#include "log.h"
#include "metrics.h"
#include "text.h"

#define CT_JSON "application/json; charset=utf-8"
#define MAX_SEGS 16                 /* deeper paths match no route */
#define MAX_QUERY 32                /* query parameters per request */
#define MAX_HEADERS_BYTES (64 * 1024)
#define IDLE_TIMEOUT_S 60           /* idle keep-alive / stalled write */
#define REQ_BLOCK_BYTES 2048        /* pooled req blocks: struct + path + query */
#define REQ_POOL_MAX 256            /* free blocks kept for reuse */
#define BODY_BLOCK_BYTES 8192       /* reply bodies sent from reused blocks */
#define BODY_POOL_MAX 256
#define RATE_TABLE_MAX 65536        /* callers tracked before idle ones are dropped */
#define DEFAULT_MAX_BODY (1024 * 1024)
#define DEFAULT_TIMEOUT_MS 10000
#define ROUTE_COUNTER_CACHE 24
/* While a handler works, at most this much of what the client sends
 * next (a pipelined request) is read ahead; see watch_connection(). */
#define READ_AHEAD_BYTES (64 * 1024)

/* ---- roles ---- */

static const char *const role_names[] = {
    [ROLE_NONE] = "none",         [ROLE_READER] = "reader",     [ROLE_SENSOR] = "sensor",
    [ROLE_OPERATOR] = "operator", [ROLE_ENGINEER] = "engineer", [ROLE_KIOSK] = "kiosk",
    [ROLE_ADMIN] = "admin",
};

bool role_allows(enum role have, enum role need)
{
    if (need == ROLE_NONE)
        return true;
    if (have == ROLE_NONE)
        return false;
    /* reader < sensor, operator, engineer, kiosk < admin: every key reads,
     * admin does everything, the middle roles only their own. */
    return have == need || have == ROLE_ADMIN || need == ROLE_READER;
}

int role_parse(const char *s, enum role *out)
{
    for (int r = ROLE_READER; r <= ROLE_ADMIN; r++) {
        if (strcmp(s, role_names[r]) == 0) {
            *out = (enum role)r;
            return 0;
        }
    }
    return -1;
}

const char *role_name(enum role r)
{
    return (unsigned)r <= ROLE_ADMIN ? role_names[r] : "?";
}

/* ---- server state ---- */

enum { M_GET, M_POST, M_PUT, M_DELETE, M_HEAD, M_NSLOTS };

struct method_entry {
    http_handler *fn;                /* NULL: method not registered */
    void *arg;
    enum role need;
    bool is_public;
};

struct seg {
    char *lit;                       /* literal text, or NULL for a parameter */
    char *param;                     /* parameter name */
};

struct route_counter {
    const char *method;              /* one of method_name()'s strings */
    int status;
    struct metric *m;
};

struct route {
    char *pattern;
    struct seg *segs;
    size_t nsegs;
    struct method_entry m[M_NSLOTS];
    struct metric *latency;          /* lazily created */
    struct route_counter counters[ROUTE_COUNTER_CACHE];
    size_t ncounters;
    struct route *next;
};

struct key {
    char *secret;
    size_t len;
    enum role role;
    char *name;
    char *lot;                       /* kiosk keys: the lot they stand in */
};

struct keyset {
    struct key *v;
    size_t n;
};

/* Reply bodies up to BODY_BLOCK_BYTES go out by reference from blocks
 * reused across replies: evbuffer_add would copy each into a chain of
 * its own, a large malloc and free per reply. libevent hands a block back
 * (body_release) once the reply is written or dropped, which may be after
 * the server is freed: the pool then frees itself with its last block. */
struct body_block {
    struct body_block *next;
    struct body_pool *pool;
    char data[BODY_BLOCK_BYTES];
};

struct body_pool {
    struct body_block *free;
    size_t nfree, out;
    bool orphaned;                   /* the server is gone */
};

struct http_server {
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;   /* NULL once we stopped accepting */
    const struct log *log;
    struct metrics *metrics;
    struct metric *inflight_gauge;
    int port;
    size_t max_body;
    int timeout_ms;
    bool public_read;
    bool draining;
    bool closing;
    char *cors_origin;
    struct route *routes;
    struct route unmatched;          /* metrics for paths no route matches */
    struct keyset keys;
    struct http_req *live;           /* every req not yet freed */
    struct http_req *req_pool;       /* free REQ_BLOCK_BYTES blocks, linked by next */
    size_t req_pool_n;
    struct body_pool *bodies;
    double rate, burst;              /* rate limit; rate <= 0: none */
    struct dict *buckets;            /* caller -> struct bucket */
    size_t inflight;                 /* reqs holding REF_WIRE */
    time_t date_sec;                 /* the second date_hdr spells */
    char date_hdr[32];               /* "Sun, 06 Nov 1994 08:49:37 GMT" */
};

enum { REF_HANDLER = 1, REF_WIRE = 2 };

/* Timers due on the next loop turn. */
static const struct timeval next_turn = {0, 0};

struct http_req {
    struct http_server *srv;
    struct evhttp_request *ev;       /* evhttp's request while REF_WIRE is held */
    struct evhttp_connection *evcon;
    struct route *route;             /* NULL: unmatched */
    enum http_method method;
    const char *method_name;
    unsigned refs;
    bool answered;                   /* a status was decided (sent, or client gone) */
    bool replied;                    /* the handler has replied */
    bool streaming, stream_ended, close_due;
    bool watched;                    /* watch_connection() raised the read watermark */
    bool pooled;                     /* a REQ_BLOCK_BYTES block (back to srv->req_pool) */
    struct timespec t0;
    enum role role;
    const char *key_name;
    const char *key_lot;             /* kiosk keys only */
    void *data;
    json_t *json;
    http_close_fn *on_close;
    void *on_close_arg;
    http_drained_fn *on_drained;     /* paced streams (http_stream_on_drained) */
    struct event *timer;
    char *path;                      /* raw path, as received */
    char *query;                     /* raw query string copy, or NULL */
    char *segs[MAX_SEGS];            /* decoded segments */
    size_t nsegs;
    bool too_deep;                   /* more than MAX_SEGS segments */
    const char *qkey[MAX_QUERY], *qval[MAX_QUERY];
    size_t nquery;
    struct http_req *prev, *next;    /* srv->live */
    _Alignas(max_align_t) unsigned char store[]; /* timer event, path, segments, query */
};

/* ---- small helpers ---- */

/* Writes the decimal digits of v at p (no NUL); returns the end. */
static char *put_small_uint(char *p, size_t v)
{
    char d[24];
    int n = 0;
    do {
        d[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    while (n > 0)
        *p++ = d[--n];
    return p;
}

static double elapsed_s(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode s in place ('+' is a space when plus_space). Fails on a
 * malformed escape, an encoded NUL or a result that is not UTF-8. */
static int pct_decode(char *s, bool plus_space)
{
    /* Most segments and parameters are plain ASCII with nothing to
     * decode: such a string is already its own valid UTF-8 decoding. */
    const unsigned char *q = (const unsigned char *)s;
    while (*q != '\0' && *q < 0x80 && *q != '%' && *q != '+')
        q++;
    if (*q == '\0')
        return 0;
    char *o = s;
    for (const char *p = s; *p; p++) {
        if (*p == '%') {
            int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
            if (lo < 0 || (hi == 0 && lo == 0))
                return -1;
            *o++ = (char)(hi * 16 + lo);
            p += 2;
        } else {
            *o++ = (plus_space && *p == '+') ? ' ' : *p;
        }
    }
    *o = '\0';
    return text_utf8_valid(s, strlen(s)) ? 0 : -1;
}

static const char *method_name(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    case EVHTTP_REQ_TRACE:
        return "TRACE";
    case EVHTTP_REQ_CONNECT:
        return "CONNECT";
    }
    return "OTHER";
}

static enum http_method method_of(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET:
        return HTTP_GET;
    case EVHTTP_REQ_POST:
        return HTTP_POST;
    case EVHTTP_REQ_HEAD:
        return HTTP_HEAD;
    case EVHTTP_REQ_PUT:
        return HTTP_PUT;
    case EVHTTP_REQ_DELETE:
        return HTTP_DELETE;
    case EVHTTP_REQ_OPTIONS:
        return HTTP_OPTIONS;
    default:
        return 0;                    /* PATCH, TRACE, CONNECT: never routed */
    }
}

static int method_slot(enum http_method m)
{
    switch (m) {
    case HTTP_GET:
        return M_GET;
    case HTTP_POST:
        return M_POST;
    case HTTP_PUT:
        return M_PUT;
    case HTTP_DELETE:
        return M_DELETE;
    case HTTP_HEAD:
        return M_HEAD;
    default:
        return -1;
    }
}

/* "GET, HEAD, POST, OPTIONS": what a route answers (GET implies HEAD). */
static void route_allow(const struct route *rt, char *buf, size_t n)
{
    static const struct { int slot; const char *name; } order[] = {
        {M_GET, "GET"}, {M_HEAD, "HEAD"}, {M_POST, "POST"}, {M_PUT, "PUT"}, {M_DELETE, "DELETE"},
    };
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        bool has = rt->m[order[i].slot].fn != NULL ||
                   (order[i].slot == M_HEAD && rt->m[M_GET].fn != NULL);
        if (has)
            o += (size_t)snprintf(buf + o, n - o, "%s, ", order[i].name);
    }
    snprintf(buf + o, n - o, "OPTIONS");
}

/* ---- metrics and logging of each answered request ---- */

static struct metric *route_counter(struct http_server *h, struct route *rt, const char *method,
                                    int status)
{
    for (size_t i = 0; i < rt->ncounters; i++) {
        if (rt->counters[i].method == method && rt->counters[i].status == status)
            return rt->counters[i].m;
    }
    char code[16], labels[512];
    snprintf(code, sizeof code, "%d", status);
    const char *kv[] = {"route", rt->pattern, "method", method, "code", code};
    if (metrics_labels(labels, sizeof labels, kv, 3) != 0)
        return NULL;
    struct metric *m = metrics_series(h->metrics, METRIC_COUNTER, "cityd_http_requests_total",
                                      "HTTP requests by route pattern, method and status.",
                                      labels);
    if (m != NULL && rt->ncounters < ROUTE_COUNTER_CACHE)
        rt->counters[rt->ncounters++] = (struct route_counter){method, status, m};
    return m;
}

static void record(struct http_req *r, int status)
{
    struct http_server *h = r->srv;
    struct route *rt = r->route != NULL ? r->route : &h->unmatched;
    double secs = elapsed_s(&r->t0);
    if (h->metrics != NULL) {
        metric_inc(route_counter(h, rt, r->method_name, status), 1);
        if (rt->latency == NULL) {
            char labels[512];
            const char *kv[] = {"route", rt->pattern};
            if (metrics_labels(labels, sizeof labels, kv, 1) == 0)
                rt->latency = metrics_series(
                    h->metrics, METRIC_HISTOGRAM, "cityd_http_request_duration_seconds",
                    "Time from request to response, by route pattern.", labels);
        }
        metric_observe(rt->latency, secs);
    }
    if (h->log != NULL && h->log->level <= LOG_DEBUG) {
        char qpath[256];
        log_debug(h->log, "http_request", "method=%s path=%s status=%d ms=%.3f", r->method_name,
                  log_quote(qpath, sizeof qpath, r->path), status, secs * 1000.0);
    }
}

/* ---- request lifetime ---- */

static void req_free(struct http_req *r)
{
    struct http_server *h = r->srv;
    event_del(r->timer);
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        h->live = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    json_decref(r->json);
    if (r->pooled && h->req_pool_n < REQ_POOL_MAX) {
        r->next = h->req_pool;
        h->req_pool = r;
        h->req_pool_n++;
    } else {
        free(r);
    }
}

/* A zeroed struct http_req with room for `bytes` in all. Requests of
 * ordinary size reuse blocks of one size: a fresh block of that size
 * would come from malloc's large-chunk path on every request. */
static struct http_req *req_alloc(struct http_server *h, size_t bytes)
{
    struct http_req *r;
    if (bytes > REQ_BLOCK_BYTES)
        return calloc(1, bytes);
    if (h->req_pool != NULL) {
        r = h->req_pool;
        h->req_pool = r->next;
        h->req_pool_n--;
    } else if ((r = malloc(REQ_BLOCK_BYTES)) == NULL) {
        return NULL;
    }
    memset(r, 0, sizeof *r);
    r->pooled = true;
    return r;
}

static void req_release(struct http_req *r, unsigned bit)
{
    if (!(r->refs & bit))
        return;
    r->refs &= ~bit;
    if (bit == REF_WIRE) {
        r->srv->inflight--;
        metric_set(r->srv->inflight_gauge, (double)r->srv->inflight);
        r->ev = NULL;
        r->evcon = NULL;
    }
    if (r->refs == 0 && !r->srv->closing) {
        /* evhttp lets go of a request only in a callback of its own, after
         * the handler replied in an earlier one: nothing can touch r now. */
        if (bit == REF_WIRE)
            req_free(r);
        else
            evtimer_add(r->timer, &next_turn);
    }
}

/* evhttp wrote the whole reply: the connection may now serve another
 * request, whose closecb is not ours to keep. */
static void on_complete(struct evhttp_request *ev, void *arg)
{
    struct http_req *r = arg;
    evhttp_connection_set_closecb(evhttp_request_get_connection(ev), NULL, NULL);
    req_release(r, REF_WIRE);
}

static void stream_closed(struct http_req *r)
{
    http_close_fn *fn = r->on_close;
    r->on_close = NULL;
    if (fn != NULL)
        fn(r, r->on_close_arg);
    req_release(r, REF_HANDLER);
}

/* The connection is going away before evhttp finished our request. */
static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    struct http_req *r = arg;
    (void)evcon;
    if (r->ev != NULL && evhttp_request_get_connection(r->ev) == NULL) {
        /* evhttp detached a request it had not answered (client gone):
         * it is ours to free now. */
        evhttp_request_free(r->ev);
    }
    r->ev = NULL;
    if (!r->answered) {
        r->answered = true;
        record(r, 499);              /* client closed request, as nginx logs it */
    }
    if (r->streaming && !r->stream_ended && !r->srv->closing)
        stream_closed(r);
    req_release(r, REF_WIRE);        /* last: may free r */
}

static void reply_timeout(struct http_req *r);

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct http_req *r = arg;
    (void)fd;
    (void)what;
    if (r->refs == 0) {
        req_free(r);
    } else if (r->close_due) {
        r->close_due = false;
        stream_closed(r);
    } else if (!r->answered) {
        reply_timeout(r);
    }
}

/* ---- sending ---- */

static void add_header(struct http_req *r, const char *k, const char *v)
{
    if (r->ev != NULL && !r->answered)
        evhttp_add_header(evhttp_request_get_output_headers(r->ev), k, v);
}

/* The output buffer to fill, or NULL when this reply goes nowhere (the
 * request was answered already, or the client is gone). */
static struct evbuffer *reply_begin(struct http_req *r)
{
    if (r->answered || r->ev == NULL)
        return NULL;
    return evhttp_request_get_output_buffer(r->ev);
}

/* The Date header evhttp would add to an HTTP/1.1 reply, formatted once
 * a second instead of once a reply (evhttp formats it with snprintf for
 * every reply, then leaves a Date that is already there alone). The
 * loop's cached clock is exact enough for one-second resolution. */
static void add_date(struct http_req *r)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct http_server *h = r->srv;
    struct timeval now;
    struct tm tm;
    if (r->ev == NULL || r->ev->major != 1 || r->ev->minor < 1 ||
        event_base_gettimeofday_cached(h->base, &now) != 0)
        return;
    if (now.tv_sec != h->date_sec || h->date_hdr[0] == '\0') {
        time_t t = now.tv_sec;
        if (gmtime_r(&t, &tm) == NULL)
            return;
        snprintf(h->date_hdr, sizeof h->date_hdr, "%s, %02d %s %04d %02d:%02d:%02d GMT",
                 days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
                 tm.tm_min, tm.tm_sec);
        h->date_sec = t;
    }
    add_header(r, "Date", h->date_hdr);
}

static void common_headers(struct http_req *r, const char *ctype)
{
    struct http_server *h = r->srv;
    add_date(r);
    if (ctype != NULL)
        add_header(r, "Content-Type", ctype);
    add_header(r, "Access-Control-Allow-Origin", h->cors_origin);
    if (strcmp(h->cors_origin, "*") != 0)
        add_header(r, "Vary", "Origin");
    if (h->draining)
        add_header(r, "Connection", "close");
}

/* evhttp stops reading a connection once it has a whole request, so a
 * client that hangs up while the handler works would go unnoticed until
 * the reply. Read on (as evhttp itself does while it writes a reply):
 * with no read callback the bytes just wait in the input buffer --
 * bounded by a watermark -- for evhttp to parse after the reply, and an
 * EOF reaches evhttp's error callback, which detaches the request and
 * calls our closecb. */
static void watch_connection(struct http_req *r)
{
    if (r->watched || r->evcon == NULL)
        return;
    r->watched = true;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(r->evcon);
    bufferevent_data_cb wcb;
    bufferevent_event_cb ecb;
    void *cbarg;
    bufferevent_getcb(bev, NULL, &wcb, &ecb, &cbarg);
    bufferevent_setcb(bev, NULL, wcb, ecb, cbarg);
    bufferevent_setwatermark(bev, EV_READ, 0, READ_AHEAD_BYTES);
    bufferevent_enable(bev, EV_READ);
}

static void reply_finish(struct http_req *r, int status, const char *ctype)
{
    struct evbuffer *out = evhttp_request_get_output_buffer(r->ev);
    /* The next request on this connection may be of any size. */
    if (r->watched)
        bufferevent_setwatermark(evhttp_connection_get_bufferevent(r->evcon), EV_READ, 0, 0);
    size_t len = evbuffer_get_length(out);
    common_headers(r, len > 0 || r->method == HTTP_HEAD ? ctype : NULL);
    /* evhttp would add the same Content-Length, formatted by snprintf;
     * for HEAD it is the GET body's (evhttp would send the buffer). */
    if (status >= 200 && status != 204 && status != 304) {
        char cl[24];
        *put_small_uint(cl, len) = '\0';
        add_header(r, "Content-Length", cl);
    }
    if (r->method == HTTP_HEAD)
        evbuffer_drain(out, len);
    r->answered = true;
    event_del(r->timer);
    record(r, status);
    evhttp_send_reply(r->ev, status, NULL, NULL);
}

/* ---- JSON output ----
 *
 * Replies are serialised here rather than with json_dump_callback: for
 * the small objects most replies are, jansson's dump costs more than the
 * rest of the reply (a hashtable per call for cycle detection, a
 * formatted pointer per container, a callback per token). The output is
 * byte for byte jansson's with JSON_COMPACT | JSON_REAL_PRECISION(15)
 * (tests/unit/test_http.c compares the two), and like it this fails on
 * a string that is not UTF-8; nesting deeper than JSON_OUT_MAX_DEPTH
 * (which is also what a reference cycle turns into) fails as well. */
#define JSON_OUT_MAX_DEPTH 2048         /* jansson's parser nests no deeper */
#define JSON_REAL_DIGITS 15             /* see http_reply_json */

struct jout {
    struct evbuffer *out;
    int err;
    size_t len;
    char buf[4096];                     /* batched into few evbuffer_adds */
};

/* Not an initializer: that would zero the whole buffer for every reply. */
static void jout_init(struct jout *o, struct evbuffer *out)
{
    o->out = out;
    o->err = 0;
    o->len = 0;
}

static void jout_flush(struct jout *o)
{
    if (o->len > 0 && evbuffer_add(o->out, o->buf, o->len) != 0)
        o->err = -1;
    o->len = 0;
}

static void jout_put(struct jout *o, const char *s, size_t n)
{
    if (n > sizeof o->buf - o->len) {
        jout_flush(o);
        if (n > sizeof o->buf) {
            if (evbuffer_add(o->out, s, n) != 0)
                o->err = -1;
            return;
        }
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

static void jout_char(struct jout *o, char c)
{
    if (o->len == sizeof o->buf)
        jout_flush(o);
    o->buf[o->len++] = c;
}

/* A quoted JSON string: quote, backslash and control characters escaped
 * (named escapes where JSON has them, else \u00XX), the rest verbatim. */
static void jout_string(struct jout *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t run = 0;                     /* start of bytes not yet written */
    jout_char(o, '"');
    for (size_t i = 0; i < n && o->err == 0;) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            size_t l = text_utf8_seq(s + i, n - i);
            if (l == 0)
                o->err = -1;
            i += l;
            continue;
        }
        if (c >= 0x20 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        jout_put(o, s + run, i - run);
        /* \u00XX, or its first two bytes with a named escape */
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        const char *named = strchr("\"\"\\\\\bb\ff\nn\rr\tt", (char)c);
        if (c != 0 && named != NULL)
            esc[1] = named[1];
        jout_put(o, esc, esc[1] == 'u' ? 6 : 2);
        run = ++i;
    }
    jout_put(o, s + run, n - run);
    jout_char(o, '"');
}

static void jout_integer(struct jout *o, json_int_t v)
{
    char tmp[24], *p = tmp + sizeof tmp;
    /* Via unsigned: negating the most negative value would overflow. */
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *--p = '-';
    jout_put(o, p, (size_t)(tmp + sizeof tmp - p));
}

/* %.15g as jansson prints reals: always with a '.' or an exponent (so it
 * reads back as a real), exponent without '+' or leading zeros. */
static void jout_real(struct jout *o, double v)
{
    char tmp[48];
    int n = snprintf(tmp, sizeof tmp - 2, "%.*g", JSON_REAL_DIGITS, v);
    if (n < 0 || (size_t)n >= sizeof tmp - 2) {
        o->err = -1;
        return;
    }
    size_t len = (size_t)n;
    for (char *p = tmp; *p; p++) {
        if (*p == ',')                  /* a locale's decimal comma */
            *p = '.';
    }
    char *e = strchr(tmp, 'e');
    if (e == NULL && strchr(tmp, '.') == NULL) {
        memcpy(tmp + len, ".0", 3);
        len += 2;
    } else if (e != NULL) {
        /* printf's e+05 / e-05 become e5 / e-5 */
        char *to = e + 1 + (e[1] == '-'), *from = e + 2;
        while (*from == '0' && from[1] != '\0')
            from++;
        memmove(to, from, strlen(from) + 1);
        len = strlen(tmp);
    }
    jout_put(o, tmp, len);
}

static void jout_value(struct jout *o, const json_t *j, int depth)
{
    if (depth > JSON_OUT_MAX_DEPTH)
        o->err = -1;
    if (o->err != 0)
        return;
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        jout_char(o, '{');
        for (void *it = json_object_iter((json_t *)j); it != NULL && o->err == 0;) {
            jout_string(o, json_object_iter_key(it), json_object_iter_key_len(it));
            jout_char(o, ':');
            jout_value(o, json_object_iter_value(it), depth + 1);
            it = json_object_iter_next((json_t *)j, it);
            if (it != NULL)
                jout_char(o, ',');
        }
        jout_char(o, '}');
        break;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        jout_char(o, '[');
        for (size_t i = 0; i < n && o->err == 0; i++) {
            if (i > 0)
                jout_char(o, ',');
            jout_value(o, json_array_get(j, i), depth + 1);
        }
        jout_char(o, ']');
        break;
    }
    case JSON_STRING:
        jout_string(o, json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER:
        jout_integer(o, json_integer_value(j));
        break;
    case JSON_REAL:
        jout_real(o, json_real_value(j));
        break;
    case JSON_TRUE:
        jout_put(o, "true", 4);
        break;
    case JSON_FALSE:
        jout_put(o, "false", 5);
        break;
    case JSON_NULL:
        jout_put(o, "null", 4);
        break;
    }
}

/* Append j (an object or array) to out; -1 if it cannot be serialised
 * (out may then hold part of it). */
static int json_write(struct evbuffer *out, const json_t *j)
{
    struct jout o;
    jout_init(&o, out);
    if (!json_is_object(j) && !json_is_array(j))
        return -1;
    jout_value(&o, j, 0);
    jout_flush(&o);
    return o.err;
}

static void send_error_v(struct http_req *r, int status, const char *code, const char *fmt,
                         va_list ap)
{
    struct evbuffer *out = reply_begin(r);
    if (out == NULL)
        return;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    text_sanitize(msg);                    /* a message may quote bad input */
    struct jout o;
    jout_init(&o, out);
    jout_put(&o, "{\"error\":{\"code\":", 17);
    jout_string(&o, code, strlen(code));
    jout_put(&o, ",\"message\":", 11);
    jout_string(&o, msg, strlen(msg));
    jout_put(&o, "}}", 2);
    jout_flush(&o);
    if (o.err != 0) {
        evbuffer_drain(out, evbuffer_get_length(out));
        evbuffer_add_printf(out, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, code);
    }
    reply_finish(r, status, CT_JSON);
}

static void send_error(struct http_req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void send_error(struct http_req *r, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    send_error_v(r, status, code, fmt, ap);
    va_end(ap);
}

static void reply_timeout(struct http_req *r)
{
    if (r->srv->log != NULL) {
        char qpath[256];
        log_warn(r->srv->log, "http_timeout", "method=%s path=%s timeout_ms=%d", r->method_name,
                 log_quote(qpath, sizeof qpath, r->path), r->srv->timeout_ms);
    }
    add_header(r, "Retry-After", "1");
    add_header(r, "Access-Control-Expose-Headers", "Retry-After");
    send_error(r, 503, "timeout", "the request was not answered within %d ms",
               r->srv->timeout_ms);
}

/* A reply from the handler: only the first counts. */
static bool handler_may_reply(struct http_req *r, const char *what)
{
    if (r == NULL)
        return false;
    if (r->replied) {
        if (r->srv->log != NULL)
            log_warn(r->srv->log, "http_double_reply", "route=%s call=%s",
                     r->route ? r->route->pattern : "unmatched", what);
        return false;
    }
    r->replied = true;
    return true;
}

void http_reply_json(struct http_req *r, int status, json_t *body)
{
    if (!handler_may_reply(r, "http_reply_json")) {
        json_decref(body);
        return;
    }
    struct evbuffer *out = reply_begin(r);
    if (out != NULL) {
        /* 15 significant digits: jansson's default 17 prints binary noise
         * (12.3 as 12.300000000000001); 15 keeps 1e-9 degrees and epoch
         * milliseconds. */
        if (body != NULL && json_write(out, body) == 0) {
            reply_finish(r, status, CT_JSON);
        } else {
            evbuffer_drain(out, evbuffer_get_length(out));
            send_error(r, 500, "internal", "the reply could not be built");
        }
    }
    json_decref(body);
    req_release(r, REF_HANDLER);
}

void http_reply_error(struct http_req *r, int status, const char *code, const char *fmt, ...)
{
    if (!handler_may_reply(r, "http_reply_error"))
        return;
    va_list ap;
    va_start(ap, fmt);
    send_error_v(r, status, code, fmt, ap);
    va_end(ap);
    req_release(r, REF_HANDLER);
}

void http_reply_unavailable(struct http_req *r)
{
    if (!handler_may_reply(r, "http_reply_unavailable"))
        return;
    add_header(r, "Retry-After", "1");
    add_header(r, "Access-Control-Expose-Headers", "Retry-After");
    send_error(r, 503, "store_unavailable", "the data store is unavailable; retry shortly");
    req_release(r, REF_HANDLER);
}

void http_reply_retry(struct http_req *r, int status, const char *code, int retry_after_s,
                      const char *fmt, ...)
{
    if (!handler_may_reply(r, "http_reply_retry"))
        return;
    char after[16];
    snprintf(after, sizeof after, "%d", retry_after_s > 0 ? retry_after_s : 1);
    add_header(r, "Retry-After", after);
    add_header(r, "Access-Control-Expose-Headers", "Retry-After");
    va_list ap;
    va_start(ap, fmt);
    send_error_v(r, status, code, fmt, ap);
    va_end(ap);
    req_release(r, REF_HANDLER);
}

static void body_pool_maybe_free(struct body_pool *p)
{
    if (p->orphaned && p->out == 0)
        free(p);
}

static void body_release(const void *data, size_t len, void *arg)
{
    struct body_block *b = arg;
    struct body_pool *p = b->pool;
    (void)data;
    (void)len;
    p->out--;
    if (p->orphaned || p->nfree >= BODY_POOL_MAX) {
        free(b);
    } else {
        b->next = p->free;
        p->free = b;
        p->nfree++;
    }
    body_pool_maybe_free(p);
}

/* Append data to out: by reference from a pooled block when it fits. */
static int body_add(struct http_server *h, struct evbuffer *out, const void *data, size_t len)
{
    struct body_pool *p = h->bodies;
    if (len == 0 || len > BODY_BLOCK_BYTES || p == NULL)
        return evbuffer_add(out, data, len);
    struct body_block *b = p->free;
    if (b != NULL) {
        p->free = b->next;
        p->nfree--;
    } else if ((b = malloc(sizeof *b)) == NULL) {
        return evbuffer_add(out, data, len);
    }
    b->pool = p;
    memcpy(b->data, data, len);
    p->out++;
    if (evbuffer_add_reference(out, b->data, len, body_release, b) != 0) {
        body_release(b->data, len, b);
        return evbuffer_add(out, data, len);
    }
    return 0;
}

void http_reply_raw(struct http_req *r, int status, const char *content_type, const void *data,
                    size_t len)
{
    if (!handler_may_reply(r, "http_reply_raw"))
        return;
    struct evbuffer *out = reply_begin(r);
    if (out != NULL) {
        if (body_add(r->srv, out, data, len) == 0) {
            reply_finish(r, status, content_type);
        } else {
            evbuffer_drain(out, evbuffer_get_length(out));
            send_error(r, 500, "internal", "out of memory");
        }
    }
    req_release(r, REF_HANDLER);
}

/* ---- streaming ---- */

static void caller_id(const struct http_req *r, char *id, size_t len);

void http_stream_start(struct http_req *r, const char *content_type, http_close_fn *on_close,
                       void *arg)
{
    if (!handler_may_reply(r, "http_stream_start"))
        return;
    r->streaming = true;
    r->on_close = on_close;
    r->on_close_arg = arg;
    event_del(r->timer);
    if (r->answered || r->ev == NULL) {
        /* Timed out or the client is gone already: tell the caller from
         * the next loop turn, never from inside this call. */
        r->close_due = true;
        evtimer_add(r->timer, &next_turn);
        return;
    }
    /* Bound what a streaming client can make us buffer, and notice when
     * it hangs up (the stream may start before the handler returns). */
    watch_connection(r);
    common_headers(r, content_type);
    add_header(r, "Cache-Control", "no-cache");
    add_header(r, "X-Accel-Buffering", "no");
    r->answered = true;
    record(r, 200);
    /* A stream is quiet on the client's side for as long as it lasts:
     * keep the write timeout, drop the idle read timeout. */
    struct timeval wtv = {IDLE_TIMEOUT_S, 0};
    bufferevent_set_timeouts(evhttp_connection_get_bufferevent(r->evcon), NULL, &wtv);
    evhttp_send_reply_start(r->ev, 200, NULL);
}

/* evhttp calls this (as the connection's "written" callback of the last
 * chunk) each time a write to the socket leaves at most the write low
 * watermark in the output buffer. */
static void stream_drained(struct evhttp_connection *evcon, void *arg)
{
    struct http_req *r = arg;
    (void)evcon;
    if (r->on_drained != NULL && r->streaming && !r->stream_ended && r->ev != NULL)
        r->on_drained(r, r->on_close_arg);
}

size_t http_stream_send(struct http_req *r, const void *data, size_t len)
{
    if (r == NULL || !r->streaming || r->stream_ended || r->ev == NULL)
        return 0;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(r->evcon);
    struct evbuffer *buf = evhttp_request_get_output_buffer(r->ev);
    /* A HEAD reply has no body: evhttp would keep the chunks forever. */
    if (len > 0 && r->method != HTTP_HEAD && evbuffer_add(buf, data, len) == 0)
        evhttp_send_reply_chunk_with_cb(r->ev, buf, r->on_drained ? stream_drained : NULL, r);
    return evbuffer_get_length(bufferevent_get_output(bev));
}

void http_stream_on_drained(struct http_req *r, size_t low_water, http_drained_fn *fn)
{
    if (r == NULL || !r->streaming || r->stream_ended)
        return;
    r->on_drained = fn;
    if (r->evcon != NULL)
        bufferevent_setwatermark(evhttp_connection_get_bufferevent(r->evcon), EV_WRITE,
                                 fn != NULL ? low_water : 0, 0);
}

size_t http_stream_unsent(const struct http_req *r)
{
    if (r == NULL || !r->streaming || r->stream_ended || r->evcon == NULL)
        return 0;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(r->evcon);
    size_t n = evbuffer_get_length(bufferevent_get_output(bev));
#ifdef SIOCOUTQ
    int q = 0;
    if (ioctl(bufferevent_getfd(bev), SIOCOUTQ, &q) == 0 && q > 0)
        n += (size_t)q;
#endif
    return n;
}

void http_req_caller(const struct http_req *r, char *buf, size_t len)
{
    caller_id(r, buf, len);
}

void http_stream_end(struct http_req *r)
{
    if (r == NULL || !r->streaming || r->stream_ended)
        return;
    r->stream_ended = true;
    r->on_close = NULL;
    r->on_drained = NULL;
    if (r->ev != NULL) {
        /* evhttp finishes the request when the buffer is down to the low
         * watermark: only all of it is the end of the reply. */
        if (r->evcon != NULL)
            bufferevent_setwatermark(evhttp_connection_get_bufferevent(r->evcon), EV_WRITE, 0,
                                     0);
        evhttp_send_reply_end(r->ev);
    }
    req_release(r, REF_HANDLER);
}

void http_stream_abort(struct http_req *r)
{
    if (r == NULL || !r->streaming || r->stream_ended)
        return;
    r->stream_ended = true;
    r->on_close = NULL;
    r->on_drained = NULL;
    if (r->evcon != NULL) {
        /* Drop the backlog and shut the socket: evhttp then sees the
         * connection fail, as when a client hangs up, and frees it. */
        struct bufferevent *bev = evhttp_connection_get_bufferevent(r->evcon);
        struct evbuffer *out = bufferevent_get_output(bev);
        evbuffer_drain(out, evbuffer_get_length(out));
        shutdown(bufferevent_getfd(bev), SHUT_RDWR);
    }
    req_release(r, REF_HANDLER);
}

/* ---- request accessors ---- */

enum http_method http_req_method(const struct http_req *r)
{
    return r->method;
}

const char *http_req_path(const struct http_req *r)
{
    return r->path;
}

const char *http_req_param(const struct http_req *r, const char *name)
{
    if (r->route == NULL)
        return NULL;
    for (size_t i = 0; i < r->route->nsegs; i++) {
        const struct seg *s = &r->route->segs[i];
        if (s->lit == NULL && strcmp(s->param, name) == 0)
            return r->segs[i];
    }
    return NULL;
}

const char *http_req_query(const struct http_req *r, const char *name)
{
    for (size_t i = 0; i < r->nquery; i++) {
        if (strcmp(r->qkey[i], name) == 0)
            return r->qval[i];
    }
    return NULL;
}

const char *http_req_header(const struct http_req *r, const char *name)
{
    if (r->ev == NULL)
        return NULL;
    return evhttp_find_header(evhttp_request_get_input_headers(r->ev), name);
}

const unsigned char *http_req_body(const struct http_req *r, size_t *len)
{
    *len = 0;
    if (r->ev == NULL)
        return NULL;
    struct evbuffer *in = evhttp_request_get_input_buffer(r->ev);
    *len = evbuffer_get_length(in);
    return *len > 0 ? evbuffer_pullup(in, -1) : NULL;
}

json_t *http_req_json(struct http_req *r)
{
    if (r->json != NULL)
        return r->json;
    size_t len;
    const unsigned char *body = http_req_body(r, &len);
    if (body == NULL) {
        http_reply_error(r, 400, "bad_json", "the request body is empty; expected a JSON object");
        return NULL;
    }
    json_error_t err;
    json_t *j = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &err);
    if (j == NULL) {
        http_reply_error(r, 400, "bad_json", "invalid JSON at line %d, column %d: %s", err.line,
                         err.column, err.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        const char *what = json_is_array(j) ? "an array" : json_is_string(j) ? "a string"
                           : json_is_number(j) ? "a number" : "a literal";
        json_decref(j);
        http_reply_error(r, 400, "bad_json", "the request body must be a JSON object, not %s",
                         what);
        return NULL;
    }
    r->json = j;
    return j;
}

enum role http_req_role(const struct http_req *r)
{
    return r->role;
}

const char *http_req_key_name(const struct http_req *r)
{
    return r->key_name;
}

const char *http_req_key_lot(const struct http_req *r)
{
    return r->key_lot;
}

void http_req_set_data(struct http_req *r, void *data)
{
    r->data = data;
}

void *http_req_data(const struct http_req *r)
{
    return r->data;
}

/* ---- routing ---- */

/* Split a '/'-rooted path (copied into buf) into segments: "/" has
 * none, "/a/b" has "a" and "b", "/a/" has "a" and "". Returns the count,
 * or -1 when it has too many. */
static int split_path(char *buf, char **segs)
{
    int n = 0;
    if (buf[0] != '/' || buf[1] == '\0')
        return 0;
    for (char *p = buf + 1;;) {
        if (n == MAX_SEGS)
            return -1;
        segs[n++] = p;
        char *slash = strchr(p, '/');
        if (slash == NULL)
            break;
        *slash = '\0';
        p = slash + 1;
    }
    return n;
}

/* a is more specific than b when, at the first position where they
 * differ in kind, a has a literal (so /stops/nearest beats /stops/{id}). */
static bool more_specific(const struct route *a, const struct route *b)
{
    for (size_t i = 0; i < a->nsegs; i++) {
        bool al = a->segs[i].lit != NULL, bl = b->segs[i].lit != NULL;
        if (al != bl)
            return al;
    }
    return false;
}

static struct route *route_match(struct http_server *h, char *const *segs, size_t n)
{
    struct route *best = NULL;
    for (struct route *rt = h->routes; rt != NULL; rt = rt->next) {
        if (rt->nsegs != n)
            continue;
        size_t i;
        for (i = 0; i < n; i++) {
            const struct seg *s = &rt->segs[i];
            /* first bytes first: most literals differ there, no call */
            if (s->lit != NULL ? s->lit[0] != segs[i][0] || strcmp(s->lit, segs[i]) != 0
                               : segs[i][0] == '\0')
                break;
        }
        if (i == n && (best == NULL || more_specific(rt, best)))
            best = rt;
    }
    return best;
}

static bool same_shape(const struct route *a, const struct seg *segs, size_t n)
{
    if (a->nsegs != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        if ((a->segs[i].lit == NULL) != (segs[i].lit == NULL))
            return false;
        if (segs[i].lit != NULL && strcmp(a->segs[i].lit, segs[i].lit) != 0)
            return false;
    }
    return true;
}

static void segs_free(struct seg *segs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(segs[i].lit);
        free(segs[i].param);
    }
    free(segs);
}

/* Parse "/v1/lots/{id}" into segments; -1 when malformed. */
static int pattern_parse(const char *pattern, struct seg **out, size_t *nout)
{
    char *copy = strdup(pattern);
    char *parts[MAX_SEGS];
    struct seg *segs = NULL;
    size_t n = 0;
    int rc = -1;
    if (copy == NULL || pattern[0] != '/')
        goto out;
    int k = split_path(copy, parts);
    if (k < 0)
        goto out;
    segs = calloc((size_t)k + 1, sizeof *segs);
    if (segs == NULL)
        goto out;
    for (n = 0; n < (size_t)k; n++) {
        const char *p = parts[n];
        size_t len = strlen(p);
        if (len == 0)
            goto out;
        if (p[0] == '{') {
            if (len < 3 || p[len - 1] != '}')
                goto out;
            segs[n].param = strndup(p + 1, len - 2);
            if (segs[n].param == NULL || strspn(segs[n].param, "abcdefghijklmnopqrstuvwxyz"
                                                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                               "0123456789_") != len - 2)
                goto out;
            for (size_t j = 0; j < n; j++) {
                if (segs[j].param != NULL && strcmp(segs[j].param, segs[n].param) == 0)
                    goto out;
            }
        } else {
            if (strpbrk(p, "{}") != NULL || (segs[n].lit = strdup(p)) == NULL)
                goto out;
        }
    }
    *out = segs;
    *nout = n;
    segs = NULL;
    rc = 0;
out:
    if (segs != NULL)
        segs_free(segs, n + 1);
    free(copy);
    return rc;
}

int http_route(struct http_server *h, unsigned methods, const char *pattern, enum role need,
               bool is_public, http_handler *fn, void *arg)
{
    const unsigned routable = HTTP_GET | HTTP_POST | HTTP_PUT | HTTP_DELETE | HTTP_HEAD;
    struct seg *segs;
    size_t n;
    if (fn == NULL || methods == 0 || (methods & ~routable) != 0 || need > ROLE_ADMIN)
        return -1;
    if (pattern_parse(pattern, &segs, &n) != 0)
        return -1;
    struct route *rt = h->routes;
    while (rt != NULL && !same_shape(rt, segs, n))
        rt = rt->next;
    if (rt != NULL) {
        /* The same resource registered again (for other methods): its
         * parameter names must agree or http_req_param would be a trap. */
        bool ok = strcmp(rt->pattern, pattern) == 0;
        segs_free(segs, n);
        if (!ok)
            return -1;
    } else {
        rt = calloc(1, sizeof *rt);
        if (rt == NULL || (rt->pattern = strdup(pattern)) == NULL) {
            free(rt);
            segs_free(segs, n);
            return -1;
        }
        rt->segs = segs;
        rt->nsegs = n;
        rt->next = h->routes;
        h->routes = rt;
    }
    for (unsigned bit = 1; bit <= HTTP_HEAD; bit <<= 1) {
        if ((methods & bit) && rt->m[method_slot((enum http_method)bit)].fn != NULL)
            return -1;
    }
    for (unsigned bit = 1; bit <= HTTP_HEAD; bit <<= 1) {
        if (methods & bit)
            rt->m[method_slot((enum http_method)bit)] =
                (struct method_entry){fn, arg, need, is_public};
    }
    return 0;
}

/* ---- keys ---- */

static void keyset_clear(struct keyset *ks)
{
    for (size_t i = 0; i < ks->n; i++) {
        free(ks->v[i].secret);
        free(ks->v[i].name);
        free(ks->v[i].lot);
    }
    free(ks->v);
    ks->v = NULL;
    ks->n = 0;
}

/* Compare the presented token with every key, in time that depends only
 * on the key lengths, never on how many leading bytes match. */
static const struct key *key_find(const struct keyset *ks, const char *tok, size_t tlen)
{
    const struct key *found = NULL;
    for (size_t i = 0; i < ks->n; i++) {
        const struct key *k = &ks->v[i];
        unsigned diff = k->len != tlen;
        for (size_t j = 0; j < k->len; j++)
            diff |= (unsigned char)k->secret[j] ^ (unsigned char)(j < tlen ? tok[j] : 0);
        if (diff == 0 && found == NULL)
            found = k;
    }
    return found;
}

static int keyset_add(struct keyset *ks, const char *secret, enum role role, const char *name,
                      const char *lot)
{
    struct key *nv = realloc(ks->v, (ks->n + 1) * sizeof *nv);
    if (nv == NULL)
        return -1;
    ks->v = nv;
    struct key *k = &ks->v[ks->n];
    k->secret = strdup(secret);
    k->name = strdup(name);
    k->lot = lot != NULL ? strdup(lot) : NULL;
    k->len = strlen(secret);
    k->role = role;
    if (k->secret == NULL || k->name == NULL || (lot != NULL && k->lot == NULL)) {
        free(k->secret);
        free(k->name);
        free(k->lot);
        return -1;
    }
    ks->n++;
    return 0;
}

static bool secret_valid(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    }
    return true;
}

int http_add_key(struct http_server *h, const char *secret, enum role r, const char *name)
{
    if (secret == NULL || secret[0] == '\0' || !secret_valid(secret) || r == ROLE_NONE ||
        r > ROLE_ADMIN || r == ROLE_KIOSK || key_find(&h->keys, secret, strlen(secret)) != NULL)
        return -1;
    return keyset_add(&h->keys, secret, r, name != NULL ? name : role_name(r), NULL);
}

int http_add_kiosk_key(struct http_server *h, const char *secret, const char *name,
                       const char *lot)
{
    if (secret == NULL || secret[0] == '\0' || !secret_valid(secret) || lot == NULL ||
        lot[0] == '\0' || key_find(&h->keys, secret, strlen(secret)) != NULL)
        return -1;
    return keyset_add(&h->keys, secret, ROLE_KIOSK, name != NULL ? name : "kiosk", lot);
}

/* One line of a keys file into ks; message in err on failure. */
static int keys_line(struct keyset *ks, char *line, int lineno, char *err, size_t errlen)
{
    char *tok[5];
    int n = 0;
    for (char *p = line; *p && n < 5;) {
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
        if (*p == '\0' || *p == '#')
            break;
        tok[n++] = p;
        while (*p && !strchr(" \t\r\n", *p))
            p++;
        if (*p)
            *p++ = '\0';
    }
    if (n == 0)
        return 0;
    /* The optional last field lot=<id> binds a kiosk key to its lot. */
    const char *lot = NULL;
    if (n >= 3 && strncmp(tok[n - 1], "lot=", 4) == 0) {
        lot = tok[n - 1] + 4;
        n--;
        if (lot[0] == '\0') {
            snprintf(err, errlen, "lot= needs a lot id");
            return -1;
        }
    }
    if (n >= 4) {
        snprintf(err, errlen, "too many fields (expected '<secret> <role> [name] [lot=<id>]')");
        return -1;
    }
    if (n == 1) {
        snprintf(err, errlen,
                 "missing role after the key (expected '<secret> <role> [name] [lot=<id>]')");
        return -1;
    }
    enum role role;
    if (role_parse(tok[1], &role) != 0) {
        snprintf(err, errlen,
                 "unknown role '%.40s' (expected reader, sensor, operator, engineer, kiosk or "
                 "admin)",
                 tok[1]);
        return -1;
    }
    if (role == ROLE_KIOSK && lot == NULL) {
        snprintf(err, errlen, "a kiosk key needs lot=<id> (the lot it stands in)");
        return -1;
    }
    if (role != ROLE_KIOSK && lot != NULL) {
        snprintf(err, errlen, "lot= is only for kiosk keys");
        return -1;
    }
    if (!secret_valid(tok[0])) {
        snprintf(err, errlen, "the key must be printable ASCII without spaces");
        return -1;
    }
    const struct key *dup = key_find(ks, tok[0], strlen(tok[0]));
    if (dup != NULL) {
        snprintf(err, errlen, "duplicate key (already defined as '%.40s')", dup->name);
        return -1;
    }
    char defname[32];
    snprintf(defname, sizeof defname, "line%d", lineno);
    if (keyset_add(ks, tok[0], role, n == 3 ? tok[2] : defname, lot) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int http_load_keys(struct http_server *h, const char *path, char *err, size_t errlen)
{
    struct keyset ks = {0};
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, rc = -1;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    while (getline(&line, &cap, f) != -1) {
        char msg[200];
        lineno++;
        if (keys_line(&ks, line, lineno, msg, sizeof msg) != 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
            goto out;
        }
    }
    if (ferror(f)) {
        snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
        goto out;
    }
    if (h != NULL) {
        keyset_clear(&h->keys);
        h->keys = ks;
        ks = (struct keyset){0};
    }
    rc = 0;
out:
    keyset_clear(&ks);
    free(line);
    fclose(f);
    return rc;
}

/* ---- dispatch ---- */

/* The Bearer challenge of a 401, readable by browser apps too. */
static void challenge(struct http_req *r, const char *value)
{
    add_header(r, "WWW-Authenticate", value);
    add_header(r, "Access-Control-Expose-Headers", "WWW-Authenticate");
}

/* Who is calling: sets r->role / key_name, or answers 401 and returns -1. */
static int authenticate(struct http_req *r)
{
    const char *auth = http_req_header(r, "Authorization");
    if (auth == NULL)
        return 0;
    if (strncasecmp(auth, "Bearer ", 7) != 0) {
        challenge(r, "Bearer realm=\"cityd\", error=\"invalid_request\"");
        send_error(r, 401, "unauthorized", "the Authorization header must be 'Bearer <key>'");
        return -1;
    }
    const char *tok = auth + 7;
    while (*tok == ' ')
        tok++;
    size_t len = strlen(tok);
    while (len > 0 && tok[len - 1] == ' ')
        len--;
    const struct key *k = key_find(&r->srv->keys, tok, len);
    if (k == NULL) {
        challenge(r, "Bearer realm=\"cityd\", error=\"invalid_token\"");
        send_error(r, 401, "unauthorized", "unknown API key");
        return -1;
    }
    r->role = k->role;
    r->key_name = k->name;
    r->key_lot = k->lot;
    return 0;
}

/* ---- rate limiting ----
 * A token bucket per caller -- the API key when the request carries a
 * valid one, else the peer address: `rate` tokens a second up to `burst`;
 * a request that finds none answers 429 rate_limited with Retry-After.
 * Buckets that have refilled are as good as absent, so when the table
 * reaches RATE_TABLE_MAX those are dropped. */
struct bucket {
    double tokens, t;
};

static double loop_now_s(const struct http_server *h)
{
    struct timeval tv;
    event_base_gettimeofday_cached(h->base, &tv);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void caller_id(const struct http_req *r, char *id, size_t len)
{
    char *addr = NULL;
    ev_uint16_t port = 0;
    if (r->key_name != NULL) {
        snprintf(id, len, "k %s", r->key_name);
    } else if (r->evcon != NULL) {
        evhttp_connection_get_peer(r->evcon, &addr, &port);
        snprintf(id, len, "a %s", addr != NULL ? addr : "?");
    } else {
        snprintf(id, len, "?");
    }
}

static void buckets_drop_full(struct http_server *h, double now)
{
    char **full = malloc(dict_size(h->buckets) * sizeof *full);
    size_t n = 0, pos = 0;
    const char *key;
    void *val;
    if (full == NULL)
        return;
    while (dict_next(h->buckets, &pos, &key, &val)) {
        const struct bucket *b = val;
        if (b->tokens + (now - b->t) * h->rate >= h->burst)
            full[n++] = (char *)key;
    }
    for (size_t i = 0; i < n; i++) {
        char *key_copy = strdup(full[i]);  /* dict_del frees the dict's key */
        if (key_copy != NULL)
            free(dict_del(h->buckets, key_copy));
        free(key_copy);
    }
    free(full);
}

/* True when r was answered 429. Fails open: without memory for a bucket
 * the request goes through. */
static bool rate_limited(struct http_req *r)
{
    struct http_server *h = r->srv;
    if (h->rate <= 0.0 || h->buckets == NULL)
        return false;
    char id[128];
    caller_id(r, id, sizeof id);
    double now = loop_now_s(h);
    struct bucket *b = dict_get(h->buckets, id);
    if (b == NULL) {
        if (dict_size(h->buckets) >= RATE_TABLE_MAX)
            buckets_drop_full(h, now);
        int e = 0;
        if ((b = malloc(sizeof *b)) == NULL)
            return false;
        *b = (struct bucket){h->burst, now};
        dict_put(h->buckets, id, b, &e);
        if (e) {
            free(b);
            return false;
        }
    }
    b->tokens = fmin(h->burst, b->tokens + (now - b->t) * h->rate);
    b->t = now;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return false;
    }
    char after[24];
    snprintf(after, sizeof after, "%.0f", fmax(1.0, ceil((1.0 - b->tokens) / h->rate)));
    add_header(r, "Retry-After", after);
    add_header(r, "Access-Control-Expose-Headers", "Retry-After");
    send_error(r, 429, "rate_limited", "over %g requests a second (burst %g) from this %s",
               h->rate, h->burst, r->key_name != NULL ? "API key" : "address");
    return true;
}

static int authorize(struct http_req *r, const struct method_entry *e)
{
    if (role_allows(r->role, e->need))
        return 0;
    if (r->role == ROLE_NONE) {
        if (e->is_public && r->srv->public_read && (r->method == HTTP_GET || r->method == HTTP_HEAD))
            return 0;
        challenge(r, "Bearer realm=\"cityd\"");
        send_error(r, 401, "unauthorized",
                   "this endpoint needs an API key (Authorization: Bearer <key>) with role %s",
                   role_name(e->need));
        return -1;
    }
    send_error(r, 403, "forbidden", "role %s may not call %s %s; it needs role %s",
               role_name(r->role), r->method_name, r->route->pattern, role_name(e->need));
    return -1;
}

static int parse_query(struct http_req *r, char *q)
{
    for (char *p = q; p != NULL && *p;) {
        char *amp = strchr(p, '&');
        if (amp != NULL)
            *amp = '\0';
        if (*p != '\0') {
            char *eq = strchr(p, '=');
            char *val = eq != NULL ? eq + 1 : p + strlen(p);
            if (eq != NULL)
                *eq = '\0';
            if (*p == '\0' || pct_decode(p, true) != 0 || pct_decode(val, true) != 0) {
                send_error(r, 400, "bad_request",
                           "malformed query string (bad percent-encoding, invalid UTF-8 or "
                           "empty parameter name)");
                return -1;
            }
            if (r->nquery == MAX_QUERY) {
                send_error(r, 400, "bad_request", "more than %d query parameters", MAX_QUERY);
                return -1;
            }
            r->qkey[r->nquery] = p;
            r->qval[r->nquery++] = val;
        }
        p = amp != NULL ? amp + 1 : NULL;
    }
    return 0;
}

static int check_params(struct http_req *r)
{
    for (size_t i = 0; i < r->route->nsegs; i++) {
        const struct seg *s = &r->route->segs[i];
        if (s->lit == NULL && strchr(r->segs[i], '/') != NULL) {
            send_error(r, 400, "bad_request", "path parameter '%s' must not contain '/'",
                       s->param);
            return -1;
        }
    }
    return 0;
}

static void answer_options(struct http_req *r)
{
    char allow[96];
    route_allow(r->route, allow, sizeof allow);
    add_header(r, "Allow", allow);
    add_header(r, "Access-Control-Allow-Methods", allow);
    add_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type");
    add_header(r, "Access-Control-Max-Age", "86400");
    reply_finish(r, 204, NULL);
}

static struct http_req *req_new(struct http_server *h, struct evhttp_request *ev)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    if (path == NULL || path[0] == '\0')
        path = "/";
    size_t evsize = (event_get_struct_event_size() + 15) & ~(size_t)15;
    size_t plen = strlen(path) + 1, qlen = query ? strlen(query) + 1 : 0;
    struct http_req *r = req_alloc(h, sizeof *r + evsize + 2 * plen + qlen);
    if (r == NULL)
        return NULL;
    r->timer = (struct event *)r->store;
    r->path = (char *)r->store + evsize;
    memcpy(r->path, path, plen);
    char *segbuf = r->path + plen;
    memcpy(segbuf, path, plen);
    int n = split_path(segbuf, r->segs);
    r->nsegs = n < 0 ? 0 : (size_t)n;
    r->too_deep = n < 0;
    if (query != NULL) {
        r->query = segbuf + plen;
        memcpy(r->query, query, qlen);
    }

    r->srv = h;
    r->ev = ev;
    r->evcon = evhttp_request_get_connection(ev);
    r->method = method_of(evhttp_request_get_command(ev));
    r->method_name = method_name(evhttp_request_get_command(ev));
    r->refs = REF_WIRE;
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
    evtimer_assign(r->timer, h->base, on_timer, r);
    r->next = h->live;
    if (h->live != NULL)
        h->live->prev = r;
    h->live = r;
    h->inflight++;
    metric_set(h->inflight_gauge, (double)h->inflight);
    evhttp_request_set_on_complete_cb(ev, on_complete, r);
    evhttp_connection_set_closecb(r->evcon, on_conn_close, r);
    return r;
}

/* Route, check and hand over one request. Everything that fails here is
 * answered by the layer; a request that passes belongs to its handler. */
static void dispatch(struct http_req *r, bool path_ok)
{
    if (!path_ok) {
        send_error(r, 400, "bad_request",
                   "malformed path (bad percent-encoding, encoded NUL or invalid UTF-8)");
        return;
    }
    if (r->path[0] != '/' || r->too_deep ||
        (r->route = route_match(r->srv, r->segs, r->nsegs)) == NULL) {
        send_error(r, 404, "not_found", "no endpoint at this path");
        return;
    }
    if (r->method == HTTP_OPTIONS) {
        answer_options(r);
        return;
    }
    int slot = method_slot(r->method);
    const struct method_entry *e = slot >= 0 ? &r->route->m[slot] : NULL;
    if (e != NULL && e->fn == NULL && r->method == HTTP_HEAD)
        e = &r->route->m[M_GET];
    if (e == NULL || e->fn == NULL) {
        char allow[96];
        route_allow(r->route, allow, sizeof allow);
        add_header(r, "Allow", allow);
        send_error(r, 405, "method_not_allowed", "%s is not allowed here; allowed: %s",
                   r->method_name, allow);
        return;
    }
    if (authenticate(r) != 0 || rate_limited(r) || authorize(r, e) != 0 || check_params(r) != 0 ||
        (r->query != NULL && parse_query(r, r->query) != 0))
        return;
    r->refs |= REF_HANDLER;
    e->fn(r, e->arg);
    /* Most handlers reply at once: only one that is still working needs
     * its timeout armed and the connection watched. r is still valid
     * here (a req is freed only from evhttp's callbacks or a later loop
     * turn), and the deadline is what it would have been before the
     * call, since libevent measures timeouts from the loop's cached
     * time. */
    if ((r->refs & REF_HANDLER) && !r->replied && !r->answered) {
        watch_connection(r);
        struct timeval tv = {r->srv->timeout_ms / 1000, (r->srv->timeout_ms % 1000) * 1000};
        evtimer_add(r->timer, &tv);
    }
}

static void on_request(struct evhttp_request *ev, void *arg)
{
    struct http_server *h = arg;
    struct http_req *r = req_new(h, ev);
    if (r == NULL) {
        evhttp_send_error(ev, 503, NULL);
        return;
    }
    bool path_ok = true;
    for (size_t i = 0; i < r->nsegs; i++)
        path_ok = path_ok && pct_decode(r->segs[i], false) == 0;
    dispatch(r, path_ok);
}

/* ---- server ---- */

static int parse_listen(const char *listen, char *host, size_t hostlen, int *port)
{
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    if (colon == NULL || colon[1] == '\0' || strspn(colon + 1, "0123456789") != strlen(colon + 1))
        return -1;
    long p = strtol(colon + 1, NULL, 10);
    size_t hl = (size_t)(colon - listen);
    const char *hs = listen;
    if (hl >= 2 && hs[0] == '[' && hs[hl - 1] == ']') {
        hs++;
        hl -= 2;
    }
    if (p > 65535 || hl == 0 || hl >= hostlen)
        return -1;
    memcpy(host, hs, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

static int bound_port(struct evhttp_bound_socket *b)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(evhttp_bound_socket_get_fd(b), (struct sockaddr *)&ss, &sl) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

struct http_server *http_server_new(struct event_base *base, const struct http_opts *o,
                                    const struct log *lg, struct metrics *m, char *err,
                                    size_t errlen)
{
    char host[256];
    int port;
    if (parse_listen(o->listen, host, sizeof host, &port) != 0) {
        snprintf(err, errlen, "bad listen address '%s' (expected host:port)",
                 o->listen ? o->listen : "");
        return NULL;
    }
    struct http_server *h = calloc(1, sizeof *h);
    if (h == NULL)
        goto oom;
    h->base = base;
    h->log = lg;
    h->metrics = m;
    h->max_body = o->max_body_bytes > 0 ? o->max_body_bytes : DEFAULT_MAX_BODY;
    h->timeout_ms = o->request_timeout_ms > 0 ? o->request_timeout_ms : DEFAULT_TIMEOUT_MS;
    h->public_read = o->public_read;
    h->cors_origin = strdup(o->cors_origin != NULL && o->cors_origin[0] ? o->cors_origin : "*");
    h->bodies = calloc(1, sizeof *h->bodies);
    h->rate = o->rate_limit_rps;
    h->burst = o->rate_limit_burst > 0.0 ? o->rate_limit_burst : fmax(o->rate_limit_rps, 1.0);
    if (h->rate > 0.0 && (h->buckets = dict_new()) == NULL)
        goto oom;
    h->unmatched.pattern = strdup("unmatched");
    h->http = evhttp_new(base);
    if (h->cors_origin == NULL || h->unmatched.pattern == NULL || h->http == NULL ||
        h->bodies == NULL)
        goto oom;
    if (m != NULL)
        h->inflight_gauge = metrics_series(m, METRIC_GAUGE, "cityd_http_requests_in_flight",
                                           "HTTP requests received and not yet answered.", NULL);
    /* Let every method through to our callback so 405 is ours (JSON). */
    evhttp_set_allowed_methods(h->http, 0x1FF);
    evhttp_set_max_body_size(h->http, (ev_ssize_t)h->max_body);
    evhttp_set_max_headers_size(h->http, MAX_HEADERS_BYTES);
    /* Idle keep-alive connections and stalled writes are dropped; never
     * before a slow handler's own timeout could answer. */
    evhttp_set_timeout(h->http, IDLE_TIMEOUT_S > h->timeout_ms / 1000 + 5
                                    ? IDLE_TIMEOUT_S : h->timeout_ms / 1000 + 5);
    /* Read and discard the rest of an oversized body before answering
     * 413, so the client is not reset while still sending and sees it. */
    evhttp_set_flags(h->http, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_default_content_type(h->http, CT_JSON);
    evhttp_set_gencb(h->http, on_request, h);
    errno = 0;
    h->bound = evhttp_bind_socket_with_handle(h->http, host, (ev_uint16_t)port);
    if (h->bound == NULL) {
        snprintf(err, errlen, "cannot listen on %s: %s", o->listen,
                 errno ? strerror(errno) : "address not usable");
        http_server_free(h);
        return NULL;
    }
    h->port = bound_port(h->bound);
    return h;
oom:
    snprintf(err, errlen, "out of memory");
    http_server_free(h);
    return NULL;
}

/* End every open stream (telling its owner). Used when draining and at
 * shutdown: an event stream never finishes by itself. */
static void end_streams(struct http_server *h)
{
    /* Rescan from the head after each one: an owner's on_close may end
     * other streams, and ending one may free it at once. */
    for (;;) {
        struct http_req *r = h->live;
        while (r != NULL && !(r->streaming && !r->stream_ended && (r->refs & REF_HANDLER)))
            r = r->next;
        if (r == NULL)
            break;
        http_close_fn *fn = r->on_close;
        r->on_close = NULL;
        if (fn != NULL)
            fn(r, r->on_close_arg);
        http_stream_end(r);
    }
}

void http_server_stop_accepting(struct http_server *h)
{
    if (h->bound != NULL) {
        evhttp_del_accept_socket(h->http, h->bound);
        h->bound = NULL;
    }
    h->draining = true;
    end_streams(h);
}

size_t http_server_inflight(const struct http_server *h)
{
    return h->inflight;
}

int http_server_port(const struct http_server *h)
{
    return h->port;
}

static void route_free(struct route *rt)
{
    segs_free(rt->segs, rt->nsegs);
    free(rt->pattern);
    free(rt);
}

void http_server_free(struct http_server *h)
{
    if (h == NULL)
        return;
    end_streams(h);
    h->closing = true;
    /* Connections still open will be closed by evhttp_free: our closecbs
     * must not run against requests that are about to be freed here. */
    for (struct http_req *r = h->live; r != NULL; r = r->next) {
        if (r->refs & REF_WIRE) {
            evhttp_connection_set_closecb(r->evcon, NULL, NULL);
            evhttp_request_set_on_complete_cb(r->ev, NULL, NULL);
        }
    }
    if (h->http != NULL)
        evhttp_free(h->http);
    while (h->live != NULL)
        req_free(h->live);
    while (h->req_pool != NULL) {
        struct http_req *next = h->req_pool->next;
        free(h->req_pool);
        h->req_pool = next;
    }
    if (h->bodies != NULL) {
        while (h->bodies->free != NULL) {
            struct body_block *next = h->bodies->free->next;
            free(h->bodies->free);
            h->bodies->free = next;
        }
        h->bodies->orphaned = true;
        body_pool_maybe_free(h->bodies);
    }
    while (h->routes != NULL) {
        struct route *next = h->routes->next;
        route_free(h->routes);
        h->routes = next;
    }
    if (h->buckets != NULL)
        dict_free(h->buckets, free);
    keyset_clear(&h->keys);
    free(h->unmatched.pattern);
    free(h->cors_origin);
    free(h);
}

/* ---- evhttp's own error replies, in JSON ---- */

/* Replaces libevent's evhttp_send_error (see the top of this file). It
 * is called for requests that never reached on_request -- a malformed
 * request line or header, headers or a body over the limits, an
 * unsupported Expect -- and by on_request when it cannot allocate. */
void evhttp_send_error(struct evhttp_request *req, int error, const char *reason)
{
    const char *code, *msg;
    switch (error) {
    case 413:
        code = "payload_too_large";
        msg = "the request body or headers exceed the server's limit";
        break;
    case 417:
        code = "expectation_failed";
        msg = "unsupported Expect header";
        break;
    case 501:
        code = "not_implemented";
        msg = "unsupported request method";
        break;
    case 503:
        code = "unavailable";
        msg = "the server is out of memory; retry shortly";
        break;
    default:
        error = 400;
        code = "bad_request";
        msg = "malformed HTTP request, or headers over 64 KiB";
        break;
    }
    struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    evhttp_clear_headers(hdr);
    evbuffer_drain(out, evbuffer_get_length(out));
    evhttp_add_header(hdr, "Content-Type", CT_JSON);
    evhttp_add_header(hdr, "Access-Control-Allow-Origin", "*");
    /* The connection's state is unknown after a protocol error. */
    evhttp_add_header(hdr, "Connection", "close");
    if (error == 503)
        evhttp_add_header(hdr, "Retry-After", "1");
    evbuffer_add_printf(out, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, msg);
    if (req->major == 0) {
        /* The request line did not parse: answer as HTTP/1.1. */
        req->major = 1;
        req->minor = 1;
    }
    evhttp_send_reply(req, error, reason, NULL);
}

/* ---- evhttp's reply head, without vsnprintf ---- */

/* "%s: %s\r\n" (a header line) into buf; -1 when it is not cheap. */
static int header_line(struct evbuffer *buf, const char *k, const char *v)
{
    char line[512];
    if (k == NULL || v == NULL)
        return -1;
    size_t kl = strlen(k), vl = strlen(v);
    if (kl + vl + 4 > sizeof line)
        return -1;
    memcpy(line, k, kl);
    line[kl] = ':';
    line[kl + 1] = ' ';
    memcpy(line + kl + 2, v, vl);
    memcpy(line + kl + 2 + vl, "\r\n", 2);
    return evbuffer_add(buf, line, kl + vl + 4) == 0 ? (int)(kl + vl + 4) : -2;
}

/* "HTTP/%d.%d %d %s\r\n" (the status line) into buf; -1 when not cheap. */
static int status_line(struct evbuffer *buf, int major, int minor, int code, const char *reason)
{
    char line[256];
    if (reason == NULL || major < 0 || major > 9 || minor < 0 || minor > 9 || code < 0 ||
        code > 99999)
        return -1;
    size_t rl = strlen(reason);
    if (rl + 24 > sizeof line)
        return -1;
    char *p = line;
    memcpy(p, "HTTP/", 5);
    p = put_small_uint(p + 5, (size_t)major);
    *p++ = '.';
    p = put_small_uint(p, (size_t)minor);
    *p++ = ' ';
    p = put_small_uint(p, (size_t)code);
    *p++ = ' ';
    memcpy(p, reason, rl);
    p += rl;
    *p++ = '\r';
    *p++ = '\n';
    size_t n = (size_t)(p - line);
    return evbuffer_add(buf, line, n) == 0 ? (int)n : -2;
}

/* Replaces libevent's evbuffer_add_printf (see the top of this file):
 * same contract -- the bytes appended, or -1. */
int evbuffer_add_printf(struct evbuffer *buf, const char *fmt, ...)
{
    va_list ap;
    int n = -1;
    va_start(ap, fmt);
    if (strcmp(fmt, "%s: %s\r\n") == 0) {
        const char *k = va_arg(ap, const char *);
        const char *v = va_arg(ap, const char *);
        n = header_line(buf, k, v);
    } else if (strcmp(fmt, "HTTP/%d.%d %d %s\r\n") == 0) {
        int major = va_arg(ap, int), minor = va_arg(ap, int), code = va_arg(ap, int);
        const char *reason = va_arg(ap, const char *);
        n = status_line(buf, major, minor, code, reason);
    }
    va_end(ap);
    if (n == -1) {
        va_start(ap, fmt);
        n = evbuffer_add_vprintf(buf, fmt, ap);
        va_end(ap);
    }
    return n < 0 ? -1 : n;
}
