/* http.c -- the HTTP layer over evhttp (the only file that includes it).
 *
 * evhttp only matches exact paths and answers its own errors in HTML, so
 * every request goes through one generic callback: it decodes the path
 * into segments, picks the most specific route pattern, answers
 * 404/405/OPTIONS/auth errors itself, and otherwise calls the handler.
 * What is not HTTP lives in plain C modules: the JSON writer
 * (json_out.c), keys and roles (auth.c), token buckets (ratelimit.c).
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
 * executable takes precedence (test_libevent_errors_are_json in
 * tests/unit/test_http.c fails if a libevent binds its own calls). It
 * has no access to a server's state, so those replies carry the
 * wildcard CORS origin and are not counted per route.
 *
 * That is the only libevent function replaced this way. A replacement
 * evbuffer_add_printf that copied evhttp's two reply-head formats by
 * hand saved 4.6k of 40.1k user-space instructions a small reply
 * (callgrind), but cityd's CPU time a request under wrk -- 18.6 us, most
 * of it in the kernel -- did not move (medians of 7 runs each way), nor
 * did `make bench`'s ratios: a speed trick riding on how libevent links
 * was not worth keeping. */
#include "http.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/sockios.h>           /* SIOCOUTQ */
#endif

#include "http_frame.h"
#include "json_out.h"
#include "log.h"
#include "metrics.h"
#include "ratelimit.h"
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
#define DEFAULT_MAX_BODY (1024 * 1024)
#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_AUTH_FAILS 10       /* failed authentications an address may have ... */
#define DEFAULT_AUTH_WINDOW_S 60    /* ... in this window */
#define ROUTE_COUNTER_CACHE 24
/* While a handler works, at most this much of what the client sends
 * next (a pipelined request) is read ahead; see watch_connection(). */
#define READ_AHEAD_BYTES (64 * 1024)

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
    struct auth_keys *keys;
    struct http_req *live;           /* every req not yet freed */
    struct http_req *req_pool;       /* free REQ_BLOCK_BYTES blocks, linked by next */
    size_t req_pool_n;
    struct body_pool *bodies;
    struct ratelimit *rate;          /* per caller; NULL: no limit */
    struct ratelimit *auth_fails;    /* failed authentications per address; NULL: no limit */
    size_t inflight;                 /* reqs holding REF_WIRE */
    struct http_conn *conns;         /* every connection not yet finished */
    struct http_conn **by_fd;        /* attached connections by socket */
    size_t by_fd_cap;
    size_t nconns, max_conns;
    int header_ms;                   /* server.header_timeout_ms */
    int reserve_fd;                  /* kept open to refuse connections at EMFILE */
    int backoff_ms;                  /* accept back-off now; 0: accepting */
    struct event *accept_timer;      /* ends a back-off; always pending (see find_server) */
    struct metric *conns_gauge, *refused_counter;
    time_t date_sec;                 /* the second date_hdr spells */
    char date_hdr[32];               /* "Sun, 06 Nov 1994 08:49:37 GMT" */
};

enum conn_phase {
    C_ATTACH,                        /* accepted; attach on this loop turn */
    C_OPEN,                          /* evhttp's; c->ev is the head deadline */
    C_REJECT,                        /* answer the tracker's verdict and close */
    C_LINGER_START,                  /* evhttp let go; drain before closing */
    C_LINGER,                        /* draining; c->ev ends it */
    C_FINISH,                        /* free on this loop turn */
};

struct http_conn {
    struct http_server *srv;
    struct bufferevent *bev;
    struct evhttp_connection *evcon; /* NULL until attached, and once evhttp let go */
    struct http_req *req;            /* the request a handler has, if any */
    struct evbuffer_cb_entry *watch; /* the tracker's view of the input; NULL: none */
    struct http_frame frame;
    int fd;                          /* -1 until attached */
    enum conn_phase phase;
    bool held;                       /* we hold a reference on bev */
    bool refused;                    /* over max_connections */
    bool deadline;                   /* the head deadline is armed */
    bool linger;                     /* drain before closing */
    struct http_conn *prev, *next;   /* srv->conns */
    struct event *ev;                /* the phase's event (in store) */
    _Alignas(max_align_t) unsigned char store[];
};

enum { REF_HANDLER = 1, REF_WIRE = 2 };

/* Timers due on the next loop turn. */
static const struct timeval next_turn = {0, 0};

struct http_req {
    struct http_server *srv;
    struct evhttp_request *ev;       /* evhttp's request while REF_WIRE is held */
    struct evhttp_connection *evcon;
    struct http_conn *conn;          /* its connection while REF_WIRE is held, or NULL */
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
    /* The route pattern, never the path: its parameters and the query
     * can be personal data (a plate in /v1/parking/accounts/{plate}). */
    if (h->log != NULL && h->log->level <= LOG_DEBUG)
        log_debug(h->log, "http_request", "method=%s route=%s status=%d ms=%.3f", r->method_name,
                  rt->pattern, status, secs * 1000.0);
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

static void conn_next_request(struct http_conn *c);

/* evhttp wrote the whole reply: the connection may now serve another
 * request. */
static void on_complete(struct evhttp_request *ev, void *arg)
{
    struct http_req *r = arg;
    if (r->conn != NULL) {
        r->conn->req = NULL;
        conn_next_request(r->conn);
        r->conn = NULL;
    } else {
        /* an untracked connection: its closecb was this request's */
        evhttp_connection_set_closecb(evhttp_request_get_connection(ev), NULL, NULL);
    }
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
static void req_conn_lost(struct http_req *r)
{
    r->conn = NULL;
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

/* The closecb of a connection we do not track (see on_new_connection). */
static void on_req_conn_close(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    req_conn_lost(arg);
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

/* ---- connections ----
 *
 * evhttp (libevent 2.1) tells nobody when it accepts or closes a
 * connection, and its only timer on one restarts with every byte read.
 * The one place it calls out as it accepts is the bufferevent factory
 * (evhttp_set_bevcb): on_new_connection makes each connection's
 * bufferevent itself, with a struct http_conn beside it, and counts it
 * against max_connections. Within the same loop turn -- before any byte
 * can be read -- conn_attach finds evhttp's connection through the
 * bufferevent's callback argument and sets the connection's closecb,
 * which from then on tells us when it goes (one per connection: the
 * request it serves is c->req). Until then we hold a reference on the
 * bufferevent, so even a connection evhttp gave up on at once is one we
 * can still look at.
 *
 * A watcher on the input buffer (conn_input) hands every byte to the
 * framing tracker (http_frame.h) before evhttp parses it, from the start
 * of a request to the end of its head (or of a chunked body): that arms
 * and disarms the head deadline, refuses requests evhttp would read
 * differently from a proxy, and makes chunk extensions legal. Between
 * requests the watcher is switched off.
 *
 * When evhttp closes a connection whose client may still be sending (a
 * 413 before the body, any error), closing at once would reset it and
 * the client could lose the reply: the bufferevent (created with
 * BEV_OPT_CLOSE_ON_FREE, so evhttp does not close the socket under it)
 * is kept for up to LINGER_MS, reading and dropping what arrives, as
 * nginx's lingering close does. */

#define DEFAULT_MAX_CONNS 10000
#define DEFAULT_HEADER_MS 10000
#define NOFILE_HEADROOM 64          /* descriptors kept for Redis, files, threads */
#define LINGER_MS 2000
#define ACCEPT_BACKOFF_MIN_MS 10
#define ACCEPT_BACKOFF_MAX_MS 1000

static const struct timeval linger_tv = {LINGER_MS / 1000, (LINGER_MS % 1000) * 1000};

static void conn_event(evutil_socket_t fd, short what, void *arg);
static void conn_closed(struct evhttp_connection *evcon, void *arg);

static void conn_activate(struct http_conn *c, enum conn_phase phase)
{
    c->phase = phase;
    c->deadline = false;
    event_del(c->ev);
    event_active(c->ev, EV_TIMEOUT, 1);
}

static void conn_arm_deadline(struct http_conn *c)
{
    int ms = c->srv->header_ms;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (c->deadline || c->watch == NULL || c->req != NULL)
        return;
    c->deadline = true;
    event_add(c->ev, &tv);
}

static void conn_disarm_deadline(struct http_conn *c)
{
    if (!c->deadline)
        return;
    c->deadline = false;
    event_del(c->ev);
}

static int conn_register(struct http_server *h, struct http_conn *c)
{
    if (c->fd < 0)
        return -1;
    if ((size_t)c->fd >= h->by_fd_cap) {
        size_t cap = h->by_fd_cap > 0 ? h->by_fd_cap : 256;
        while (cap <= (size_t)c->fd)
            cap *= 2;
        struct http_conn **v = realloc(h->by_fd, cap * sizeof *v);
        if (v == NULL)
            return -1;
        memset(v + h->by_fd_cap, 0, (cap - h->by_fd_cap) * sizeof *v);
        h->by_fd = v;
        h->by_fd_cap = cap;
    }
    h->by_fd[c->fd] = c;
    return 0;
}

static void conn_unregister(struct http_server *h, struct http_conn *c)
{
    if (c->fd >= 0 && (size_t)c->fd < h->by_fd_cap && h->by_fd[c->fd] == c)
        h->by_fd[c->fd] = NULL;
}

/* The tracked connection evhttp serves a request on, or NULL. */
static struct http_conn *conn_of(struct http_server *h, struct evhttp_connection *evcon)
{
    struct bufferevent *bev = evcon != NULL ? evhttp_connection_get_bufferevent(evcon) : NULL;
    int fd = bev != NULL ? bufferevent_getfd(bev) : -1;
    struct http_conn *c = fd >= 0 && (size_t)fd < h->by_fd_cap ? h->by_fd[fd] : NULL;
    return c != NULL && c->bev == bev ? c : NULL;
}

/* bufferevent factory (evhttp_set_bevcb): called as evhttp accepts. NULL
 * (out of memory) lets evhttp make one itself: that connection goes
 * untracked -- served, but with no deadline, limit or tracker. */
static struct bufferevent *on_new_connection(struct event_base *base, void *arg)
{
    struct http_server *h = arg;
    size_t evsize = (event_get_struct_event_size() + 15) & ~(size_t)15;
    struct http_conn *c = calloc(1, sizeof *c + evsize);
    if (c == NULL)
        return NULL;
    if ((c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
        free(c);
        return NULL;
    }
    bufferevent_incref(c->bev);
    c->held = true;
    c->srv = h;
    c->fd = -1;
    c->linger = true;
    c->ev = (struct event *)c->store;
    event_assign(c->ev, base, -1, 0, conn_event, c);
    c->next = h->conns;
    if (h->conns != NULL)
        h->conns->prev = c;
    h->conns = c;
    c->refused = ++h->nconns > h->max_conns;
    metric_set(h->conns_gauge, (double)h->nconns);
    h->backoff_ms = 0;               /* accept works again */
    conn_activate(c, C_ATTACH);
    return c->bev;
}

static void conn_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg);

static void conn_attach(struct http_conn *c)
{
    struct http_server *h = c->srv;
    bufferevent_event_cb ecb = NULL;
    void *evcon = NULL;
    bufferevent_getcb(c->bev, NULL, NULL, &ecb, &evcon);
    if (ecb == NULL) {
        /* evhttp could not set the connection up (out of memory): it
         * has closed the socket itself, or -- when it failed one step
         * later -- leaves it to us. Closing a number that may already be
         * another connection's would be worse than leaking one
         * descriptor, so ours is not closed. */
        bufferevent_setfd(c->bev, -1);
        conn_activate(c, C_FINISH);
        return;
    }
    c->evcon = evcon;
    c->fd = bufferevent_getfd(c->bev);
    /* A reply is written whole: Nagle would hold its last partial
     * segment until the client acknowledges the others, and clients
     * delay that ACK (40 ms on Linux) -- every reply longer than a few
     * segments (a script, a GeoJSON list) waited for it. */
    int one = 1;
    if (c->fd >= 0)
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    evhttp_connection_set_closecb(c->evcon, conn_closed, c);
    if (c->refused || conn_register(h, c) != 0) {
        /* Refused at once: the client sees the connection close. */
        metric_inc(h->refused_counter, 1);
        log_warn(h->log, "http_connection_refused", "connections=%zu max_connections=%zu",
                 h->nconns, h->max_conns);
        c->linger = false;
        evhttp_connection_free(c->evcon);   /* conn_closed takes it from here */
        return;
    }
    c->watch = evbuffer_add_cb(bufferevent_get_input(c->bev), conn_input, c);
    http_frame_reset(&c->frame, h->max_body);
    c->phase = C_OPEN;
    conn_arm_deadline(c);
    c->held = false;
    bufferevent_decref(c->bev);
}

/* Feed the tracker the input from offset `from` on, and act on what it
 * saw. */
static void conn_scan(struct http_conn *c, struct evbuffer *buf, size_t from)
{
    size_t len = evbuffer_get_length(buf);
    unsigned seen = 0;
    while (from < len && http_frame_active(&c->frame)) {
        struct evbuffer_ptr pos;
        struct evbuffer_iovec v[8];
        if (from > 0 && evbuffer_ptr_set(buf, &pos, from, EVBUFFER_PTR_SET) != 0)
            break;
        int n = evbuffer_peek(buf, (ev_ssize_t)(len - from), from > 0 ? &pos : NULL, v, 8);
        for (int i = 0; i < n && i < 8 && from < len; i++) {
            size_t k = v[i].iov_len < len - from ? v[i].iov_len : len - from;
            seen |= http_frame_feed(&c->frame, v[i].iov_base, k);
            from += k;
        }
    }
    /* A head that comes in one read never needs its deadline armed. */
    if (seen & HTTP_FRAME_HEAD_DONE)
        conn_disarm_deadline(c);
    else if (seen & HTTP_FRAME_STARTED)
        conn_arm_deadline(c);
    if (seen & HTTP_FRAME_REJECT) {
        /* evhttp must not see this request: drop it here, answer it
         * from the loop. */
        evbuffer_drain(buf, evbuffer_get_length(buf));
        conn_activate(c, C_REJECT);
    }
    if (!http_frame_active(&c->frame))
        evbuffer_cb_clear_flags(buf, c->watch, EVBUFFER_CB_ENABLED);
}

/* The input buffer changed: called as bytes are read, before evhttp's
 * read callback parses them (and as evhttp drains them). */
static void conn_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct http_conn *c = arg;
    if (info->n_added > 0 && http_frame_active(&c->frame))
        conn_scan(c, buf, evbuffer_get_length(buf) - info->n_added);
}

/* The reply is written: follow the next request, from what is already
 * read (pipelined bytes) on. */
static void conn_next_request(struct http_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    if (c->watch == NULL)
        return;
    http_frame_reset(&c->frame, c->srv->max_body);
    evbuffer_cb_set_flags(in, c->watch, EVBUFFER_CB_ENABLED);
    if (evbuffer_get_length(in) > 0)
        conn_scan(c, in, 0);
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 413:
        return "Payload Too Large";
    case 501:
        return "Not Implemented";
    default:
        return "Bad Request";
    }
}

/* The tracker refused the request: the JSON error, then close (with
 * lingering: the body may be on its way). The socket takes the few
 * bytes at once; if it does not, the client was not reading anyway. */
static void conn_reject(struct http_conn *c)
{
    struct http_server *h = c->srv;
    const char *code, *msg;
    int status = http_frame_verdict(&c->frame, &code, &msg);
    char body[512], resp[1024];
    int bn = snprintf(body, sizeof body, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code,
                      msg);
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 %d %s\r\nContent-Type: " CT_JSON "\r\n"
                     "Access-Control-Allow-Origin: %s\r\nConnection: close\r\n"
                     "Content-Length: %d\r\n\r\n%s",
                     status, reason_phrase(status), h->cors_origin, bn, body);
    if (n > 0 && (size_t)n < sizeof resp)
        (void)send(c->fd, resp, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    metric_inc(route_counter(h, &h->unmatched, "OTHER", status), 1);
    log_debug(h->log, "http_refused", "status=%d code=%s", status, code);
    evhttp_connection_free(c->evcon);   /* conn_closed takes it from here */
}

/* evhttp closes the connection (closecb). */
static void conn_closed(struct evhttp_connection *evcon, void *arg)
{
    struct http_conn *c = arg;
    struct http_server *h = c->srv;
    (void)evcon;
    if (c->req != NULL) {
        struct http_req *r = c->req;
        c->req = NULL;
        req_conn_lost(r);
    }
    conn_unregister(h, c);
    if (c->watch != NULL) {
        evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->watch);
        c->watch = NULL;
    }
    c->evcon = NULL;
    if (c->linger && !c->held && !h->closing) {
        /* Keep the socket past evhttp's bufferevent_free. */
        bufferevent_incref(c->bev);
        c->held = true;
        conn_activate(c, C_LINGER_START);
    } else {
        conn_activate(c, C_FINISH);
    }
}

static void conn_finish(struct http_conn *c)
{
    struct http_server *h = c->srv;
    event_del(c->ev);
    if (c->held) {
        bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
        bufferevent_decref(c->bev);     /* closes the socket */
    }
    conn_unregister(h, c);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    h->nconns--;
    metric_set(h->conns_gauge, (double)h->nconns);
    free(c);
}

static void linger_read(struct bufferevent *bev, void *arg)
{
    struct evbuffer *in = bufferevent_get_input(bev);
    (void)arg;
    evbuffer_drain(in, evbuffer_get_length(in));
}

static void linger_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    (void)what;
    conn_finish(arg);                /* EOF, error or LINGER_MS without a byte */
}

/* evhttp has shut down its side (the client has its FIN); take in what
 * the client still sends until it closes too, or LINGER_MS. */
static void linger_start(struct http_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    char scratch[4096];
    ssize_t k = 0;
    evbuffer_drain(in, evbuffer_get_length(in));
    for (int i = 0; i < 16 && (k = recv(c->fd, scratch, sizeof scratch, MSG_DONTWAIT)) > 0; i++)
        ;
    if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        conn_finish(c);              /* the client has closed: nothing to wait for */
        return;
    }
    bufferevent_setcb(c->bev, linger_read, NULL, linger_event, c);
    bufferevent_set_timeouts(c->bev, &linger_tv, NULL);
    bufferevent_disable(c->bev, EV_WRITE);
    bufferevent_enable(c->bev, EV_READ);
    c->phase = C_LINGER;
    event_add(c->ev, &linger_tv);
}

static void conn_event(evutil_socket_t fd, short what, void *arg)
{
    struct http_conn *c = arg;
    (void)fd;
    (void)what;
    switch (c->phase) {
    case C_ATTACH:
        conn_attach(c);
        break;
    case C_OPEN:
        /* The head deadline: however slowly the bytes came, the head is
         * late. Dropped without a reply, as a slow attacker deserves. */
        c->deadline = false;
        log_info(c->srv->log, "http_header_timeout", "header_timeout_ms=%d", c->srv->header_ms);
        c->linger = false;
        evhttp_connection_free(c->evcon);
        break;
    case C_REJECT:
        conn_reject(c);
        break;
    case C_LINGER_START:
        linger_start(c);
        break;
    case C_LINGER:
    case C_FINISH:
        conn_finish(c);
        break;
    }
}

/* ---- descriptors and accept ---- */

/* Raise the soft open-file limit to fit `want` connections and some
 * headroom (up to the hard limit, which is the operator's: systemd's
 * LimitNOFILE); the connections that fit. */
static size_t fit_nofile(size_t want, const struct log *lg)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)want + NOFILE_HEADROOM;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
        return want;
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need ? rl.rlim_max : need;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        rl.rlim_cur = was;
    if (rl.rlim_cur >= need) {
        log_info(lg, "nofile_raised", "from=%lu to=%lu", (unsigned long)was,
                 (unsigned long)rl.rlim_cur);
        return want;
    }
    size_t fit = rl.rlim_cur > 2 * NOFILE_HEADROOM ? (size_t)rl.rlim_cur - NOFILE_HEADROOM
                                                   : (size_t)rl.rlim_cur / 2;
    log_warn(lg, "nofile_limit",
             "soft=%lu hard=%lu max_connections=%zu wanted=%zu "
             "hint=\"raise the hard limit (LimitNOFILE)\"",
             (unsigned long)rl.rlim_cur, (unsigned long)rl.rlim_max, fit, want);
    return fit;
}

static void on_accept_timer(evutil_socket_t fd, short what, void *arg);

struct find_server {
    struct evconnlistener *lev;
    struct http_server *h;
};

static int find_server(const struct event_base *base, const struct event *ev, void *arg)
{
    struct find_server *f = arg;
    struct http_server *h = event_get_callback_arg(ev);
    (void)base;
    if (event_get_callback(ev) != on_accept_timer || h->bound == NULL ||
        evhttp_bound_socket_get_listener(h->bound) != f->lev)
        return 0;
    f->h = h;
    return 1;
}

/* accept() failed for other than a retriable reason (libevent's listener
 * error callback). The callback's argument is evhttp's, not ours, so the
 * server is found by its accept timer, which is always pending. With no
 * descriptors left (EMFILE, ENFILE) the waiting connections are refused
 * with the one descriptor kept in reserve (so their clients hear at once
 * instead of hanging in the queue), and in any case accepting pauses for
 * a growing interval: the listening socket stays readable, and accepting
 * on would spin. */
static void on_accept_error(struct evconnlistener *lev, void *unused)
{
    int err = EVUTIL_SOCKET_ERROR();
    struct find_server f = {lev, NULL};
    (void)unused;
    event_base_foreach_event(evconnlistener_get_base(lev), find_server, &f);
    struct http_server *h = f.h;
    if (h == NULL)
        return;
    int refused = 0;
    if ((err == EMFILE || err == ENFILE) && h->reserve_fd >= 0) {
        int lfd = evconnlistener_get_fd(lev), fd;
        close(h->reserve_fd);
        for (; refused < 64 && (fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0; refused++)
            close(fd);
        h->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    h->backoff_ms = h->backoff_ms == 0 ? ACCEPT_BACKOFF_MIN_MS
                    : h->backoff_ms >= ACCEPT_BACKOFF_MAX_MS / 2 ? ACCEPT_BACKOFF_MAX_MS
                                                                : 2 * h->backoff_ms;
    evconnlistener_disable(lev);
    struct timeval tv = {h->backoff_ms / 1000, (h->backoff_ms % 1000) * 1000};
    event_add(h->accept_timer, &tv);
    log_warn(h->log, "http_accept_failed", "error=\"%s\" refused=%d retry_ms=%d connections=%zu",
             strerror(err), refused, h->backoff_ms, h->nconns);
}

/* The end of a back-off (or an hour with none: then it only re-arms). */
static void on_accept_timer(evutil_socket_t fd, short what, void *arg)
{
    struct http_server *h = arg;
    static const struct timeval idle = {3600, 0};
    (void)fd;
    (void)what;
    if (h->backoff_ms > 0 && h->bound != NULL)
        evconnlistener_enable(evhttp_bound_socket_get_listener(h->bound));
    event_add(h->accept_timer, &idle);
}

/* ---- sending ---- */

static void add_header(struct http_req *r, const char *k, const char *v)
{
    if (r->ev != NULL && !r->answered)
        evhttp_add_header(evhttp_request_get_output_headers(r->ev), k, v);
}

/* Retry-After (whole seconds), readable by browser apps too. */
static void retry_after(struct http_req *r, double secs)
{
    char v[24];
    snprintf(v, sizeof v, "%.0f", secs);
    add_header(r, "Retry-After", v);
    add_header(r, "Access-Control-Expose-Headers", "Retry-After");
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

/* ---- JSON output ---- */

static int evbuffer_sink(void *ctx, const char *p, size_t n)
{
    return evbuffer_add(ctx, p, n);
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
    struct json_out o;
    json_out_init(&o, evbuffer_sink, out);
    json_out_raw(&o, "{\"error\":{\"code\":", 17);
    json_out_string(&o, code, strlen(code));
    json_out_raw(&o, ",\"message\":", 11);
    json_out_string(&o, msg, strlen(msg));
    json_out_raw(&o, "}}", 2);
    if (json_out_finish(&o) != 0) {
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
    log_warn(r->srv->log, "http_timeout", "method=%s route=%s timeout_ms=%d", r->method_name,
             r->route != NULL ? r->route->pattern : "unmatched", r->srv->timeout_ms);
    retry_after(r, 1);
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
        if (body != NULL && json_out_write(body, evbuffer_sink, out) == 0) {
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
    retry_after(r, 1);
    send_error(r, 503, "store_unavailable", "the data store is unavailable; retry shortly");
    req_release(r, REF_HANDLER);
}

void http_reply_retry(struct http_req *r, int status, const char *code, int retry_after_s,
                      const char *fmt, ...)
{
    if (!handler_may_reply(r, "http_reply_retry"))
        return;
    retry_after(r, retry_after_s > 0 ? retry_after_s : 1);
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

void http_reply_static(struct http_req *r, int status, const char *content_type,
                       const void *data, size_t len)
{
    if (!handler_may_reply(r, "http_reply_static"))
        return;
    struct evbuffer *out = reply_begin(r);
    if (out != NULL) {
        if (len == 0 || evbuffer_add_reference(out, data, len, NULL, NULL) == 0) {
            reply_finish(r, status, content_type);
        } else {
            evbuffer_drain(out, evbuffer_get_length(out));
            send_error(r, 500, "internal", "out of memory");
        }
    }
    req_release(r, REF_HANDLER);
}

void http_reply_header(struct http_req *r, const char *name, const char *value)
{
    add_header(r, name, value);
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
    if (!r->answered && r->ev != NULL && r->method == HTTP_HEAD) {
        /* HEAD: the stream's headers (no length: it has none) and the
         * request is over, as if the client had left at once. */
        common_headers(r, content_type);
        add_header(r, "Cache-Control", "no-cache");
        r->answered = true;
        record(r, 200);
        evhttp_send_reply(r->ev, 200, NULL, NULL);
    }
    if (r->answered || r->ev == NULL) {
        /* Timed out, HEAD, or the client is gone already: tell the caller
         * from the next loop turn, never from inside this call; nothing
         * more goes on the wire. */
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
    if (r == NULL || !r->streaming || r->stream_ended || r->ev == NULL || r->close_due)
        return 0;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(r->evcon);
    struct evbuffer *buf = evhttp_request_get_output_buffer(r->ev);
    if (len > 0 && evbuffer_add(buf, data, len) == 0)
        evhttp_send_reply_chunk_with_cb(r->ev, buf, r->on_drained ? stream_drained : NULL, r);
    return evbuffer_get_length(bufferevent_get_output(bev));
}

void http_stream_on_drained(struct http_req *r, size_t low_water, http_drained_fn *fn)
{
    /* close_due: the reply is over (HEAD) or never began: the
     * connection's watermark is not the stream's to set. */
    if (r == NULL || !r->streaming || r->stream_ended || r->close_due)
        return;
    r->on_drained = fn;
    if (r->evcon != NULL)
        bufferevent_setwatermark(evhttp_connection_get_bufferevent(r->evcon), EV_WRITE,
                                 fn != NULL ? low_water : 0, 0);
}

size_t http_stream_unsent(const struct http_req *r)
{
    if (r == NULL || !r->streaming || r->stream_ended || r->evcon == NULL || r->close_due)
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
    if (r->ev != NULL && !r->close_due) {
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
    if (r->evcon != NULL && !r->close_due) {
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

int http_add_key(struct http_server *h, const char *secret, enum role r, const char *name)
{
    if (r == ROLE_KIOSK)
        return -1;
    return auth_keys_add(h->keys, secret, r, name != NULL ? name : role_name(r), NULL);
}

int http_add_kiosk_key(struct http_server *h, const char *secret, const char *name,
                       const char *lot)
{
    if (lot == NULL || lot[0] == '\0')
        return -1;
    return auth_keys_add(h->keys, secret, ROLE_KIOSK, name != NULL ? name : "kiosk", lot);
}

int http_load_keys(struct http_server *h, const char *path, char *err, size_t errlen)
{
    struct auth_keys *ks = auth_keys_load(path, err, errlen);
    if (ks == NULL)
        return -1;
    if (h != NULL) {
        auth_keys_free(h->keys);
        h->keys = ks;
    } else {
        auth_keys_free(ks);
    }
    return 0;
}

/* ---- dispatch ---- */

/* ---- rate limiting ----
 * A token bucket per caller (ratelimit.h) -- the API key when the
 * request carries a valid one, else the peer address; a request that
 * finds none answers 429 rate_limited with Retry-After. */

static double loop_now_s(const struct http_server *h)
{
    struct timeval tv;
    event_base_gettimeofday_cached(h->base, &tv);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* The client's address as a rate-limit key; an IPv6 client by its /64,
 * the block one subscriber gets (a single address would be free). */
static void peer_key(const struct http_req *r, char *buf, size_t len)
{
    char *addr = NULL;
    ev_uint16_t port = 0;
    struct in6_addr a6;
    if (r->evcon != NULL)
        evhttp_connection_get_peer(r->evcon, &addr, &port);
    if (addr == NULL) {
        snprintf(buf, len, "?");
    } else if (strchr(addr, ':') != NULL && inet_pton(AF_INET6, addr, &a6) == 1 &&
               !IN6_IS_ADDR_V4MAPPED(&a6)) {
        memset(a6.s6_addr + 8, 0, 8);
        inet_ntop(AF_INET6, &a6, buf, (socklen_t)len);
    } else {
        snprintf(buf, len, "%s", addr);
    }
}

static void caller_id(const struct http_req *r, char *id, size_t len)
{
    char who[INET6_ADDRSTRLEN + 4];
    if (r->key_name != NULL) {
        snprintf(id, len, "k %s", r->key_name);
    } else {
        peer_key(r, who, sizeof who);
        snprintf(id, len, "a %s", who);
    }
}

/* The Bearer challenge of a 401, readable by browser apps too. */
static void challenge(struct http_req *r, const char *value)
{
    add_header(r, "WWW-Authenticate", value);
    add_header(r, "Access-Control-Expose-Headers", "WWW-Authenticate");
}

/* Who is calling: sets r->role / key_name, or answers 401 and returns -1. */
/* 401 for a key that is not one, counted against the caller's address. */
static int auth_failed(struct http_req *r, const char *error, const char *msg)
{
    struct http_server *h = r->srv;
    char who[INET6_ADDRSTRLEN + 4], value[80];
    double wait;
    if (h->auth_fails != NULL) {
        peer_key(r, who, sizeof who);
        ratelimit_take(h->auth_fails, who, loop_now_s(h), &wait);
    }
    snprintf(value, sizeof value, "Bearer realm=\"cityd\", error=\"%s\"", error);
    challenge(r, value);
    send_error(r, 401, "unauthorized", "%s", msg);
    return -1;
}

/* An address that has failed to authenticate auth_fail_limit times in
 * the window gets 429 for any key it sends -- a right one too, or the
 * guessing would go on -- until its bucket has a token again. */
static bool auth_throttled(struct http_req *r)
{
    struct http_server *h = r->srv;
    char who[INET6_ADDRSTRLEN + 4];
    double wait;
    if (h->auth_fails == NULL || ratelimit_size(h->auth_fails) == 0)
        return false;
    peer_key(r, who, sizeof who);
    if (ratelimit_peek(h->auth_fails, who, loop_now_s(h), &wait))
        return false;
    retry_after(r, wait);
    send_error(r, 429, "rate_limited",
               "too many failed authentications from this address; retry in %.0f s", wait);
    return true;
}

/* Who is calling: sets r->role / key_name, or answers 401 (429 when the
 * address is throttled) and returns -1. */
static int authenticate(struct http_req *r)
{
    const char *auth = http_req_header(r, "Authorization");
    if (auth == NULL)
        return 0;
    if (auth_throttled(r))
        return -1;
    if (strncasecmp(auth, "Bearer ", 7) != 0)
        return auth_failed(r, "invalid_request", "the Authorization header must be 'Bearer <key>'");
    const char *tok = auth + 7;
    while (*tok == ' ')
        tok++;
    size_t len = strlen(tok);
    while (len > 0 && tok[len - 1] == ' ')
        len--;
    const struct auth_key *k = auth_keys_find(r->srv->keys, tok, len);
    if (k == NULL)
        return auth_failed(r, "invalid_token", "unknown API key");
    r->role = k->role;
    r->key_name = k->name;
    r->key_lot = k->lot;
    return 0;
}

/* True when r was answered 429. */
static bool rate_limited(struct http_req *r)
{
    struct http_server *h = r->srv;
    char id[128];
    double wait;
    if (h->rate == NULL)
        return false;
    caller_id(r, id, sizeof id);
    if (ratelimit_take(h->rate, id, loop_now_s(h), &wait))
        return false;
    retry_after(r, wait);
    send_error(r, 429, "rate_limited", "over %g requests a second (burst %g) from this %s",
               ratelimit_rate(h->rate), ratelimit_burst(h->rate),
               r->key_name != NULL ? "API key" : "address");
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
    if ((r->conn = conn_of(h, r->evcon)) != NULL) {
        r->conn->req = r;
        conn_disarm_deadline(r->conn);
    } else {
        evhttp_connection_set_closecb(r->evcon, on_req_conn_close, r);
    }
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
    h->header_ms = o->header_timeout_ms > 0 ? o->header_timeout_ms : DEFAULT_HEADER_MS;
    h->max_conns = fit_nofile(o->max_connections > 0 ? o->max_connections : DEFAULT_MAX_CONNS, lg);
    h->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    h->accept_timer = evtimer_new(base, on_accept_timer, h);
    if (h->accept_timer == NULL)
        goto oom;
    on_accept_timer(-1, 0, h);
    if (o->rate_limit_rps > 0.0 &&
        (h->rate = ratelimit_new(o->rate_limit_rps, o->rate_limit_burst)) == NULL)
        goto oom;
    if ((h->keys = auth_keys_new()) == NULL)
        goto oom;
    int fails = o->auth_fail_limit != 0 ? o->auth_fail_limit : DEFAULT_AUTH_FAILS;
    int window = o->auth_fail_window_s > 0 ? o->auth_fail_window_s : DEFAULT_AUTH_WINDOW_S;
    if (fails > 0 && (h->auth_fails = ratelimit_new((double)fails / window, fails)) == NULL)
        goto oom;
    h->unmatched.pattern = strdup("unmatched");
    h->http = evhttp_new(base);
    if (h->cors_origin == NULL || h->unmatched.pattern == NULL || h->http == NULL ||
        h->bodies == NULL)
        goto oom;
    if (m != NULL) {
        h->inflight_gauge = metrics_series(m, METRIC_GAUGE, "cityd_http_requests_in_flight",
                                           "HTTP requests received and not yet answered.", NULL);
        h->conns_gauge = metrics_series(m, METRIC_GAUGE, "cityd_http_connections",
                                        "Open HTTP connections.", NULL);
        h->refused_counter =
            metrics_series(m, METRIC_COUNTER, "cityd_http_connections_refused_total",
                           "Connections closed at once: over server.max_connections.", NULL);
    }
    /* Let every method through to our callback so 405 is ours (JSON). */
    evhttp_set_allowed_methods(h->http, 0x1FF);
    evhttp_set_max_body_size(h->http, (ev_ssize_t)h->max_body);
    evhttp_set_max_headers_size(h->http, MAX_HEADERS_BYTES);
    /* Idle keep-alive connections and stalled writes are dropped; never
     * before a slow handler's own timeout could answer. */
    evhttp_set_timeout(h->http, IDLE_TIMEOUT_S > h->timeout_ms / 1000 + 5
                                    ? IDLE_TIMEOUT_S : h->timeout_ms / 1000 + 5);
    /* No EVHTTP_SERVER_LINGERING_CLOSE: it reads a declared body over
     * the limit to its end before answering 413. A declared length is
     * refused before evhttp sees it (http_frame.h), and every closing
     * connection lingers (see "connections"). */
    evhttp_set_default_content_type(h->http, CT_JSON);
    evhttp_set_gencb(h->http, on_request, h);
    evhttp_set_bevcb(h->http, on_new_connection, h);
    errno = 0;
    h->bound = evhttp_bind_socket_with_handle(h->http, host, (ev_uint16_t)port);
    if (h->bound == NULL) {
        snprintf(err, errlen, "cannot listen on %s: %s", o->listen,
                 errno ? strerror(errno) : "address not usable");
        http_server_free(h);
        return NULL;
    }
    h->port = bound_port(h->bound);
    evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(h->bound), on_accept_error);
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
     * must not run against requests and connections that are about to
     * be freed here. */
    for (struct http_req *r = h->live; r != NULL; r = r->next) {
        if (r->refs & REF_WIRE) {
            evhttp_connection_set_closecb(r->evcon, NULL, NULL);
            evhttp_request_set_on_complete_cb(r->ev, NULL, NULL);
        }
    }
    for (struct http_conn *c = h->conns; c != NULL; c = c->next) {
        if (c->evcon != NULL)
            evhttp_connection_set_closecb(c->evcon, NULL, NULL);
    }
    if (h->http != NULL)
        evhttp_free(h->http);
    while (h->conns != NULL)
        conn_finish(h->conns);
    free(h->by_fd);
    if (h->accept_timer != NULL)
        event_free(h->accept_timer);
    if (h->reserve_fd >= 0)
        close(h->reserve_fd);
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
    ratelimit_free(h->rate);
    ratelimit_free(h->auth_fails);
    auth_keys_free(h->keys);
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
