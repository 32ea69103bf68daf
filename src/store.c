/* store.c -- the Redis store (see store.h); the only file that includes hiredis.
 *
 * One multiplexed hiredis 0.14 async connection driven by libevent.
 *
 *  - Every command is an `op`. hiredis keeps a pointer to it until it calls
 *    on_reply, with a reply or with NULL when the context is torn down, and
 *    it calls every registered callback exactly once; so an op is released
 *    only when all of its hiredis callbacks have come back (`refs`). The
 *    user callback runs at most once, guarded by `answered`: a timeout
 *    answers early and the late reply is then swallowed.
 *  - All commands share one timeout, so deadlines are in issue order: the
 *    unanswered ops form a FIFO and one timer, armed for its head, expires
 *    them.
 *  - User commands go to hiredis only while the link is up. Otherwise the op
 *    joins a fail queue answered from an event in the next loop iteration,
 *    so a callback never runs inside store_cmd*.
 *  - Link states: IDLE (no context, maybe a reconnect timer armed) ->
 *    CONNECTING -> HANDSHAKE (connected; SELECT and PING in flight) -> UP.
 *    DYING means the context is being torn down and hiredis will still
 *    call on_disconnect. A PING timeout tears the connection down: replies
 *    are in order, so it means nothing has come back for timeout_ms.
 *  - store_free calls back every pending op with STORE_DOWN; it must not be
 *    called from a store callback (hiredis would defer the teardown past
 *    the free), which `cb_depth` detects.
 *  - Unknown outcomes. A command handed to a connection and not answered
 *    (timed out, or the connection died first) may still run: Redis reads
 *    what the dead connection left in its socket when it gets to it. Such
 *    a connection is remembered by the id and address Redis gave it
 *    (CLIENT INFO in the handshake) and the next connection's handshake
 *    kills it (CLIENT KILL ID .. ADDR ..) before the link goes up: from then
 *    on nothing it carried can take effect, so a read that succeeds after a
 *    timeout sees everything the timed-out command will ever do (the fence).
 *    On one connection replies are in order, which gives the same.
 *  - Scripts are loaded (SCRIPT LOAD) in every connection's handshake and
 *    run by SHA1; a NOSCRIPT reply is answered by resending the call with
 *    the script's text (EVAL), alone or, in a batch, as a second
 *    transaction of the calls that found no script. */
#include "store.h"

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>

#include <event2/event.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <time.h>

#include "log.h"
#include "metrics.h"

#define OP_POOL_MAX 1024
#define FENCE_MAX 16             /* dead connections still to kill */

enum link { LINK_IDLE, LINK_CONNECTING, LINK_HANDSHAKE, LINK_UP, LINK_DYING };

struct endpoint {
    bool is_unix;
    char host[256];
    int port;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int db;
};

struct op {
    struct store *s;
    store_cb *cb;
    void *arg;
    struct op *prev, *next;  /* pending FIFO; `next` also links fail queue and pool */
    uint64_t t0_us, deadline_us;
    unsigned refs;           /* hiredis callbacks still to come */
    bool answered;           /* user callback done */
    bool queued;             /* in the pending FIFO */
    bool internal;           /* PING / SELECT: not in the command metrics */
    bool broken;             /* batch only partly handed to hiredis */
};

struct store_script {
    struct store_script *next;
    char *src;
    size_t len;
    char sha[41];            /* "" until a SCRIPT LOAD has answered */
};

struct store {
    struct event_base *base;
    const struct log *lg;
    struct endpoint ep;
    char url[300];
    int timeout_ms, connect_timeout_ms, backoff_min_ms, backoff_max_ms, ping_interval_ms;

    redisAsyncContext *ac;
    enum link link;
    int backoff_ms;          /* delay before the next reconnect */
    unsigned failures;       /* consecutive failed connection attempts */
    bool freeing;
    int cb_depth;            /* > 0 while a user callback runs */
    bool ping_inflight;
    bool selected;           /* SELECT <db> acknowledged on this connection */
    uint64_t ping_t0_us, last_rtt_us;
    store_state_fn *state_fn;
    void *state_arg;
    /* unknown outcomes (see the top of the file) */
    bool conn_unknown;       /* a command on this connection ended unanswered */
    char conn_id[2][48];     /* this connection's id and addr (CLIENT INFO) */
    char fence[FENCE_MAX][2][48];   /* dead connections to kill, oldest first */
    size_t nfence, fences_sent;
    struct store_script *scripts;

    struct event *connect_ev, *reconnect_ev, *ping_ev, *timeout_ev, *failq_ev;
    struct op *head, *tail;            /* unanswered ops held by hiredis */
    struct op *fail_head, *fail_tail;  /* ops to answer STORE_DOWN */
    struct op *pool;
    unsigned pool_n;

    struct {
        struct metric *rtt, *ping, *up, *ok, *down, *timeout;
    } m;
};

static void connect_start(struct store *s);
static void send_ping(struct store *s);

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static struct timeval ms_tv(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

/* ---- url ---- */

static int parse_int(const char *p, const char *end, int lo, int hi, int *out)
{
    if (p == end)
        return -1;
    long v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
        if (v > hi)
            return -1;
    }
    if (v < lo)
        return -1;
    *out = (int)v;
    return 0;
}

/* "redis://host[:port][/db]" (host may be a bracketed IPv6 literal) or
 * "unix:/path/to/socket". */
static int parse_url(const char *url, struct endpoint *ep, char *err, size_t errlen)
{
    memset(ep, 0, sizeof *ep);
    ep->port = 6379;
    const char *why = "expected redis://host:port[/db] or unix:/path";
    if (url == NULL)
        url = "";
    if (strncmp(url, "unix:", 5) == 0) {
        const char *path = url + 5;
        if (path[0] == '\0') {
            why = "empty socket path";
        } else if (strlen(path) >= sizeof ep->path) {
            why = "socket path too long";
        } else {
            ep->is_unix = true;
            memcpy(ep->path, path, strlen(path) + 1);
            return 0;
        }
    } else if (strncmp(url, "redis://", 8) == 0) {
        const char *h = url + 8, *hend, *p;
        if (h[0] == '[') {
            hend = strchr(h, ']');
            p = hend ? hend + 1 : NULL;
            h++;
        } else {
            hend = h + strcspn(h, ":/");
            p = hend;
        }
        const char *slash = p ? strchr(p, '/') : NULL;
        const char *tail = slash ? slash : (p ? p + strlen(p) : NULL);
        if (p == NULL || hend == h || (size_t)(hend - h) >= sizeof ep->host) {
            why = "bad host";
        } else if (p[0] == ':' && parse_int(p + 1, tail, 1, 65535, &ep->port) != 0) {
            why = "bad port";
        } else if (p[0] != ':' && p != tail) {
            why = "bad host";
        } else if (slash && parse_int(slash + 1, slash + strlen(slash), 0, 1 << 20, &ep->db) != 0) {
            why = "bad database number";
        } else {
            memcpy(ep->host, h, (size_t)(hend - h));
            return 0;
        }
    }
    snprintf(err, errlen, "bad redis url \"%s\": %s", url, why);
    return -1;
}

/* ---- commands that would break the one-reply-per-command model ---- */

/* Pub/sub and MONITOR make hiredis deliver many replies per callback;
 * MULTI/WATCH/SELECT/... change the state of a connection that every
 * caller shares (use store_batch for transactions). */
static bool cmd_forbidden(const char *name, size_t len)
{
    static const char *const names[] = {
        "subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe",
        "sunsubscribe", "monitor", "multi", "exec", "discard", "watch", "unwatch",
        "select", "quit", "reset",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strlen(names[i]) == len && strncasecmp(name, names[i], len) == 0)
            return true;
    }
    return false;
}

/* Check a command in protocol form ("*N\r\n$L\r\nNAME\r\n..."). */
static bool formatted_ok(const char *cmd, size_t len)
{
    const char *end = cmd + len;
    const char *p = memchr(cmd, '\n', len);
    if (p == NULL || end - p < 3 || p[1] != '$')
        return false;                     /* also rejects "*0\r\n" */
    char *e;
    long n = strtol(p + 2, &e, 10);
    if (n < 0 || e + 2 > end || e[0] != '\r' || e[1] != '\n' || end - (e + 2) < n)
        return false;
    return !cmd_forbidden(e + 2, (size_t)n);
}

/* ---- ops ---- */

static struct op *op_new(struct store *s, store_cb *cb, void *arg, bool internal)
{
    struct op *op = s->pool;
    if (op != NULL) {
        s->pool = op->next;
        s->pool_n--;
    } else if ((op = malloc(sizeof *op)) == NULL) {
        return NULL;
    }
    memset(op, 0, sizeof *op);
    op->s = s;
    op->cb = cb;
    op->arg = arg;
    op->internal = internal;
    op->t0_us = mono_us();
    return op;
}

static void op_release(struct store *s, struct op *op)
{
    if (s->pool_n < OP_POOL_MAX) {
        op->next = s->pool;
        s->pool = op;
        s->pool_n++;
    } else {
        free(op);
    }
}

static void pending_unlink(struct store *s, struct op *op)
{
    if (op->prev)
        op->prev->next = op->next;
    else
        s->head = op->next;
    if (op->next)
        op->next->prev = op->prev;
    else
        s->tail = op->prev;
    op->prev = op->next = NULL;
    op->queued = false;
}

static void arm_timeout(struct store *s)
{
    if (s->head == NULL || evtimer_pending(s->timeout_ev, NULL))
        return;
    uint64_t now = mono_us();
    uint64_t left = s->head->deadline_us > now ? s->head->deadline_us - now : 0;
    struct timeval tv = {(time_t)(left / 1000000u), (suseconds_t)(left % 1000000u)};
    evtimer_add(s->timeout_ev, &tv);
}

/* The op now belongs to hiredis for `refs` callbacks. */
static void op_sent(struct store *s, struct op *op, unsigned refs)
{
    op->refs = refs;
    op->deadline_us = op->t0_us + (uint64_t)s->timeout_ms * 1000u;
    op->queued = true;
    op->next = NULL;
    op->prev = s->tail;
    if (s->tail)
        s->tail->next = op;
    else
        s->head = op;
    s->tail = op;
    arm_timeout(s);
}

static void count(struct store *s, const struct op *op, enum store_status st)
{
    if (op->internal)
        return;
    switch (st) {
    case STORE_OK:
        if (s->m.ok)
            metric_inc(s->m.ok, 1);
        if (s->m.rtt)
            metric_observe(s->m.rtt, (double)(mono_us() - op->t0_us) / 1e6);
        break;
    case STORE_DOWN:
        if (s->m.down)
            metric_inc(s->m.down, 1);
        break;
    case STORE_TIMEOUT:
        if (s->m.timeout)
            metric_inc(s->m.timeout, 1);
        break;
    }
}

/* Call the user callback. The op may be released by the time it returns
 * (a timed-out PING drops the link, and hiredis hands the op back), so
 * nothing here touches it after the call. */
static void answer(struct store *s, struct op *op, enum store_status st, const redisReply *r)
{
    if (op->queued)
        pending_unlink(s, op);
    op->answered = true;
    count(s, op, st);
    store_cb *cb = op->cb;
    if (cb == NULL)
        return;
    s->cb_depth++;
    cb(op->arg, st, (const struct store_reply *)r);
    s->cb_depth--;
}

static void fail_later(struct store *s, struct op *op)
{
    op->next = NULL;
    if (s->fail_tail)
        s->fail_tail->next = op;
    else
        s->fail_head = op;
    s->fail_tail = op;
    event_active(s->failq_ev, EV_TIMEOUT, 1);
}

/* Answer the ops queued so far; ops that their callbacks queue wait for
 * the next loop iteration, so a caller retrying in a loop cannot starve
 * the event loop. */
static void drain_failq(struct store *s)
{
    struct op *op = s->fail_head;
    s->fail_head = s->fail_tail = NULL;
    while (op != NULL) {
        struct op *next = op->next;
        answer(s, op, STORE_DOWN, NULL);
        op_release(s, op);
        op = next;
    }
}

static void on_failq(evutil_socket_t fd, short what, void *arg)
{
    drain_failq(arg);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct store *s = arg;
    uint64_t now = mono_us();
    struct op *op;
    /* Re-read the head every time: a callback may drop the link, which
     * hands every op back through on_reply. */
    while ((op = s->head) != NULL && op->deadline_us <= now) {
        s->conn_unknown |= !op->internal;
        answer(s, op, STORE_TIMEOUT, NULL);
    }
    arm_timeout(s);
}

/* hiredis' callback for every command we send. */
static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct op *op = privdata;
    struct store *s = op->s;
    const redisReply *r = reply;
    op->refs--;
    if (!op->answered) {
        /* No reply: the connection is going. What it sent may still run,
         * unless it is the store going away. */
        bool unknown = r == NULL && !op->internal && !s->freeing;
        s->conn_unknown |= unknown;
        if (r == NULL)
            answer(s, op, unknown ? STORE_TIMEOUT : STORE_DOWN, NULL);
        else if (op->refs == 0)   /* last reply: the command's, or EXEC's */
            answer(s, op, op->broken ? STORE_DOWN : STORE_OK, op->broken ? NULL : r);
        /* else a MULTI "+OK" or "+QUEUED": EXEC's reply tells the outcome */
    }
    if (op->refs == 0)
        op_release(s, op);
}

static bool can_send(const struct store *s, bool internal)
{
    if (s->ac == NULL)
        return false;
    return s->link == LINK_UP || (internal && s->link == LINK_HANDSHAKE);
}

/* A command of the store's own (handshake, PING, SCRIPT LOAD): sent on
 * the connection as it is, not counted in the command metrics. */
static void send_internal(struct store *s, store_cb *cb, void *arg, const char *fmt, ...)
{
    struct op *op = op_new(s, cb, arg, true);
    va_list ap;
    va_start(ap, fmt);
    int rc = op && s->ac ? redisvAsyncCommand(s->ac, on_reply, op, fmt, ap) : REDIS_ERR;
    va_end(ap);
    if (rc == REDIS_OK)
        op_sent(s, op, 1);
    else if (op)
        fail_later(s, op);
}

static void on_script_loaded(void *arg, enum store_status st, const struct store_reply *r)
{
    struct store_script *sc = arg;
    size_t len;
    const char *sha = st == STORE_OK ? store_reply_str(r, &len) : NULL;
    if (store_reply_type(r) == STORE_R_STRING && sha != NULL && len == sizeof sc->sha - 1)
        memcpy(sc->sha, sha, sizeof sc->sha);
}

static void script_load(struct store *s, struct store_script *sc)
{
    send_internal(s, on_script_loaded, sc, "SCRIPT LOAD %b", sc->src, sc->len);
}

/* ---- link ---- */

static void set_metric(struct metric *m, double v)
{
    if (m)
        metric_set(m, v);
}

static void notify(struct store *s, bool up)
{
    set_metric(s->m.up, up ? 1 : 0);
    if (s->state_fn == NULL || s->freeing)
        return;
    s->cb_depth++;
    s->state_fn(s->state_arg, up);
    s->cb_depth--;
}

/* Leave the UP state (if in it) for `next`, telling the state callback. */
static void link_leave(struct store *s, enum link next, const char *reason)
{
    bool was_up = s->link == LINK_UP;
    s->link = next;
    if (!was_up)
        return;
    char q[256];
    if (!s->freeing)
        log_warn(s->lg, "redis_down", "url=%s reason=%s", s->url, log_quote(q, sizeof q, reason));
    notify(s, false);
}

static void link_up(struct store *s)
{
    /* The dead connections killed in this handshake can run nothing more. */
    s->nfence -= s->fences_sent;
    memmove(s->fence[0], s->fence[s->fences_sent], s->nfence * sizeof s->fence[0]);
    s->fences_sent = 0;
    s->link = LINK_UP;
    s->backoff_ms = s->backoff_min_ms;
    s->failures = 0;
    log_info(s->lg, "redis_up", "url=%s rtt_us=%llu", s->url, (unsigned long long)s->last_rtt_us);
    notify(s, true);
}

static void schedule_reconnect(struct store *s)
{
    if (s->freeing)
        return;
    struct timeval tv = ms_tv(s->backoff_ms);
    evtimer_add(s->reconnect_ev, &tv);
    s->backoff_ms = s->backoff_ms >= s->backoff_max_ms / 2 ? s->backoff_max_ms : s->backoff_ms * 2;
}

/* A connection attempt failed: warn once per outage, then stay quiet. */
static void note_failure(struct store *s, const char *why)
{
    char q[256];
    log_write(s->lg, s->failures == 0 ? LOG_WARN : LOG_DEBUG, "redis_connect_failed",
              "url=%s reason=%s retry_ms=%d", s->url, log_quote(q, sizeof q, why), s->backoff_ms);
    s->failures++;
}

static void connect_failed(struct store *s, const char *why)
{
    note_failure(s, why);
    s->link = LINK_IDLE;
    schedule_reconnect(s);
}

/* Tear the connection down ourselves. A connected context reports back
 * through on_disconnect (possibly later, when called from a hiredis
 * callback); a connecting one never does, so finish that here. */
static void link_drop(struct store *s, const char *reason)
{
    redisAsyncContext *ac = s->ac;
    if (ac == NULL || s->link == LINK_DYING)
        return;
    bool connected = (ac->c.flags & REDIS_CONNECTED) != 0;
    if (s->link != LINK_UP)
        note_failure(s, reason);
    link_leave(s, LINK_DYING, reason);
    if (connected) {
        redisAsyncFree(ac);
        return;
    }
    s->ac = NULL;
    redisAsyncFree(ac);
    s->link = LINK_IDLE;
    schedule_reconnect(s);
}

/* The connection going away may have left commands that will still run:
 * remember it, so the next handshake kills it (see the top of the file). */
static void fence_note(struct store *s)
{
    if (s->conn_unknown && s->conn_id[0][0] != '\0') {
        if (s->nfence == FENCE_MAX) {
            log_warn(s->lg, "redis_fence_dropped", "id=%s", s->fence[0][0]);
            memmove(s->fence[0], s->fence[1], (FENCE_MAX - 1) * sizeof s->fence[0]);
            s->nfence--;
        }
        memcpy(s->fence[s->nfence++], s->conn_id, sizeof s->conn_id);
    }
    s->conn_unknown = false;
    s->conn_id[0][0] = s->conn_id[1][0] = '\0';
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct store *s = ac->data;
    fence_note(s);
    s->fences_sent = 0;
    s->ac = NULL;
    s->ping_inflight = false;
    evtimer_del(s->ping_ev);
    const char *why = status == REDIS_OK ? "connection closed" : ac->c.errstr;
    if (s->link == LINK_HANDSHAKE && !s->freeing)
        note_failure(s, why);
    link_leave(s, LINK_IDLE, why);
    schedule_reconnect(s);
}

/* "id=7 addr=127.0.0.1:5000 laddr=..." -> conn_id. Without it (Redis
 * before 6.2) this connection cannot be fenced: said once per connect. */
static void on_client_info(void *arg, enum store_status st, const struct store_reply *r)
{
    struct store *s = arg;
    const char *text = st == STORE_OK ? store_reply_str(r, NULL) : NULL;
    static const char *const names[2] = {"id=", "addr="};
    if (text == NULL || store_reply_type(r) == STORE_R_ERROR) {
        if (st == STORE_OK)
            log_warn(s->lg, "redis_no_client_info", "url=%s reply=\"%.80s\"", s->url,
                     text ? text : "?");
        return;
    }
    for (int i = 0; i < 2; i++) {
        const char *p = strstr(text, names[i]);
        size_t n = p ? strcspn(p += strlen(names[i]), " \n") : 0;
        if (n == 0 || n >= sizeof s->conn_id[i])
            return;
        memcpy(s->conn_id[i], p, n);
        s->conn_id[i][n] = '\0';
    }
}

static void on_select(void *arg, enum store_status st, const struct store_reply *r)
{
    struct store *s = arg;
    if (st != STORE_OK)
        return;                         /* the PING behind it fails too */
    if (store_reply_type(r) == STORE_R_ERROR) {
        char why[200];
        snprintf(why, sizeof why, "SELECT %d: %s", s->ep.db, store_reply_str(r, NULL));
        link_drop(s, why);
        return;
    }
    s->selected = true;
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    struct store *s = cac->data;
    evtimer_del(s->connect_ev);
    if (status != REDIS_OK) {
        /* hiredis frees the context when this returns. */
        s->ac = NULL;
        connect_failed(s, cac->c.errstr);
        return;
    }
    /* Never free the context in here: hiredis touches it on return. An
     * unacknowledged SELECT keeps the link from going up (on_ping). */
    s->link = LINK_HANDSHAKE;
    s->selected = s->ep.db == 0;
    if (!s->selected)
        send_internal(s, on_select, s, "SELECT %d", s->ep.db);
    send_internal(s, on_client_info, s, "CLIENT INFO");
    /* Replies are in order: once the PING is answered these have run. */
    for (size_t i = 0; i < s->nfence; i++)
        send_internal(s, NULL, NULL, "CLIENT KILL ID %s ADDR %s", s->fence[i][0], s->fence[i][1]);
    s->fences_sent = s->nfence;
    for (struct store_script *sc = s->scripts; sc != NULL; sc = sc->next)
        script_load(s, sc);
    send_ping(s);
}

static void on_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct store *s = arg;
    if (s->link == LINK_CONNECTING)
        link_drop(s, "connect timeout");
}

static void connect_start(struct store *s)
{
    redisAsyncContext *ac = s->ep.is_unix ? redisAsyncConnectUnix(s->ep.path)
                                          : redisAsyncConnect(s->ep.host, s->ep.port);
    if (ac == NULL) {
        connect_failed(s, "out of memory");
        return;
    }
    if (ac->err) {
        char why[sizeof ac->c.errstr];
        snprintf(why, sizeof why, "%s", ac->c.errstr);
        redisAsyncFree(ac);
        connect_failed(s, why);
        return;
    }
    ac->data = s;
    redisLibeventAttach(ac, s->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    s->ac = ac;
    s->link = LINK_CONNECTING;
    struct timeval tv = ms_tv(s->connect_timeout_ms);
    evtimer_add(s->connect_ev, &tv);
}

static void on_reconnect(evutil_socket_t fd, short what, void *arg)
{
    struct store *s = arg;
    if (s->ac == NULL && !s->freeing)
        connect_start(s);
}

static void ping_again(struct store *s, int ms)
{
    struct timeval tv = ms_tv(ms);
    evtimer_add(s->ping_ev, &tv);
}

static void on_ping(void *arg, enum store_status st, const struct store_reply *r)
{
    struct store *s = arg;
    s->ping_inflight = false;
    if (st == STORE_TIMEOUT) {
        link_drop(s, "ping timeout");
        return;
    }
    if (st != STORE_OK || (s->link != LINK_HANDSHAKE && s->link != LINK_UP))
        return;                         /* the link is going; on_disconnect follows */
    size_t len;
    const char *str = store_reply_str(r, &len);
    if (store_reply_type(r) == STORE_R_STATUS && len == 4 && memcmp(str, "PONG", 4) == 0) {
        s->last_rtt_us = mono_us() - s->ping_t0_us;
        set_metric(s->m.ping, (double)s->last_rtt_us / 1e6);
        if (s->link == LINK_HANDSHAKE && !s->selected) {
            link_drop(s, "SELECT was not acknowledged");
            return;
        }
        if (s->link == LINK_HANDSHAKE)
            link_up(s);
        ping_again(s, s->ping_interval_ms);
        return;
    }
    /* Connected but not serving (-LOADING while the AOF loads, -BUSY in
     * a long script...): not up; ask again soon. */
    char q[256];
    if (s->link == LINK_UP || s->failures++ == 0)
        log_warn(s->lg, "redis_not_ready", "url=%s reply=%s", s->url,
                 log_quote(q, sizeof q, str ? str : "?"));
    link_leave(s, LINK_HANDSHAKE, str ? str : "bad PING reply");
    ping_again(s, s->backoff_min_ms);
}

static void send_ping(struct store *s)
{
    if (s->ping_inflight || !can_send(s, true))
        return;
    struct op *op = op_new(s, on_ping, s, true);
    if (op == NULL) {
        ping_again(s, s->backoff_min_ms);
        return;
    }
    s->ping_t0_us = op->t0_us;
    s->ping_inflight = true;
    if (redisAsyncCommand(s->ac, on_reply, op, "PING") == REDIS_OK)
        op_sent(s, op, 1);
    else
        fail_later(s, op);
}

static void on_ping_timer(evutil_socket_t fd, short what, void *arg)
{
    send_ping(arg);
}

/* ---- lifecycle ---- */

static int opt_or(int v, int dflt)
{
    return v > 0 ? v : dflt;
}

struct store *store_new(struct event_base *base, const struct store_opts *opts,
                        const struct log *lg, char *err, size_t errlen)
{
    struct store *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (parse_url(opts->url, &s->ep, err, errlen) != 0)
        goto fail;
    s->base = base;
    s->lg = lg;
    snprintf(s->url, sizeof s->url, "%s", opts->url);
    s->timeout_ms = opt_or(opts->timeout_ms, 2000);
    s->connect_timeout_ms = opt_or(opts->connect_timeout_ms, 1000);
    s->backoff_min_ms = opt_or(opts->backoff_min_ms, 50);
    s->backoff_max_ms = opt_or(opts->backoff_max_ms, 2000);
    if (s->backoff_max_ms < s->backoff_min_ms)
        s->backoff_max_ms = s->backoff_min_ms;
    s->ping_interval_ms = opt_or(opts->ping_interval_ms, 1000);
    s->backoff_ms = s->backoff_min_ms;
    s->connect_ev = evtimer_new(base, on_connect_timeout, s);
    s->reconnect_ev = evtimer_new(base, on_reconnect, s);
    s->ping_ev = evtimer_new(base, on_ping_timer, s);
    s->timeout_ev = evtimer_new(base, on_timeout, s);
    s->failq_ev = event_new(base, -1, 0, on_failq, s);
    if (!s->connect_ev || !s->reconnect_ev || !s->ping_ev || !s->timeout_ev || !s->failq_ev) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    connect_start(s);
    return s;
fail:
    store_free(s);
    return NULL;
}

void store_free(struct store *s)
{
    if (s == NULL)
        return;
    if (s->cb_depth > 0) {
        /* hiredis would postpone the teardown past our free. */
        log_error(s->lg, "store_misuse", "what=\"store_free called from a store callback\"");
        abort();
    }
    s->freeing = true;
    if (s->ac != NULL) {
        redisAsyncContext *ac = s->ac;
        s->ac = NULL;
        redisAsyncFree(ac);             /* pending ops come back with NULL */
    }
    while (s->fail_head != NULL)         /* callbacks may queue more */
        drain_failq(s);
    while (s->pool != NULL) {
        struct op *op = s->pool;
        s->pool = op->next;
        free(op);
    }
    while (s->scripts != NULL) {
        struct store_script *sc = s->scripts;
        s->scripts = sc->next;
        free(sc->src);
        free(sc);
    }
    struct event *evs[] = {s->connect_ev, s->reconnect_ev, s->ping_ev, s->timeout_ev, s->failq_ev};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) {
        if (evs[i])
            event_free(evs[i]);
    }
    free(s);
}

void store_set_state_cb(struct store *s, store_state_fn *fn, void *arg)
{
    s->state_fn = fn;
    s->state_arg = arg;
}

bool store_is_up(const struct store *s)
{
    return s->link == LINK_UP;
}

uint64_t store_last_rtt_us(const struct store *s)
{
    return s->last_rtt_us;
}

void store_bind_metrics(struct store *s, struct metrics *m)
{
    s->m.rtt = metrics_series(m, METRIC_HISTOGRAM, "cityd_redis_command_seconds",
                              "Round trip of Redis commands, from issue to reply", "");
    s->m.ping = metrics_series(m, METRIC_GAUGE, "cityd_redis_ping_seconds",
                               "Round trip of the last health PING", "");
    s->m.up = metrics_series(m, METRIC_GAUGE, "cityd_redis_up",
                             "1 while the Redis connection is up", "");
    const char *help = "Redis commands by outcome";
    s->m.ok = metrics_series(m, METRIC_COUNTER, "cityd_redis_commands_total", help,
                             "result=\"ok\"");
    s->m.down = metrics_series(m, METRIC_COUNTER, "cityd_redis_commands_total", help,
                               "result=\"down\"");
    s->m.timeout = metrics_series(m, METRIC_COUNTER, "cityd_redis_commands_total", help,
                                  "result=\"timeout\"");
    set_metric(s->m.up, store_is_up(s) ? 1 : 0);
}

/* ---- commands ---- */

/* Hand a protocol-form command to hiredis, or queue its failure. */
static int send_formatted(struct store *s, store_cb *cb, void *arg, const char *cmd, size_t len)
{
    if (!formatted_ok(cmd, len))
        return -1;
    struct op *op = op_new(s, cb, arg, false);
    if (op == NULL)
        return -1;
    if (can_send(s, false) &&
        redisAsyncFormattedCommand(s->ac, on_reply, op, cmd, len) == REDIS_OK)
        op_sent(s, op, 1);
    else
        fail_later(s, op);
    return 0;
}

int store_cmd_argv(struct store *s, store_cb *cb, void *arg, int argc,
                   const char **argv, const size_t *lens)
{
    if (argc < 1 || argv == NULL || argv[0] == NULL)
        return -1;
    if (cmd_forbidden(argv[0], lens ? lens[0] : strlen(argv[0])))
        return -1;
    struct op *op = op_new(s, cb, arg, false);
    if (op == NULL)
        return -1;
    if (can_send(s, false) &&
        redisAsyncCommandArgv(s->ac, on_reply, op, argc, argv, lens) == REDIS_OK)
        op_sent(s, op, 1);
    else
        fail_later(s, op);
    return 0;
}

int store_cmdf(struct store *s, store_cb *cb, void *arg, const char *fmt, ...)
{
    char *cmd = NULL;
    va_list ap;
    va_start(ap, fmt);
    int len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    if (len < 0)
        return -1;
    int rc = send_formatted(s, cb, arg, cmd, (size_t)len);
    redisFreeCommand(cmd);
    return rc;
}

/* ---- batches ---- */

struct store_batch {
    char *buf;               /* the commands in protocol form, back to back */
    size_t len, cap;
    size_t *end;             /* end offset of command i */
    const struct store_script **script;   /* command i is EVALSHA of this, else NULL */
    size_t n, ncap;
    bool by_sha;             /* some command is an EVALSHA */
};

struct store_batch *store_batch_new(void)
{
    return calloc(1, sizeof(struct store_batch));
}

void store_batch_free(struct store_batch *b)
{
    if (b == NULL)
        return;
    free(b->buf);
    free(b->end);
    free(b->script);
    free(b);
}

size_t store_batch_count(const struct store_batch *b)
{
    return b->n;
}

static int batch_append(struct store_batch *b, const char *cmd, size_t len)
{
    if (!formatted_ok(cmd, len))
        return -1;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len)
            cap *= 2;
        char *nb = realloc(b->buf, cap);
        if (nb == NULL)
            return -1;
        b->buf = nb;
        b->cap = cap;
    }
    if (b->n == b->ncap) {
        size_t ncap = b->ncap ? b->ncap * 2 : 8;
        size_t *ne = realloc(b->end, ncap * sizeof *ne);
        if (ne != NULL)
            b->end = ne;
        const struct store_script **ns = realloc(b->script, ncap * sizeof *ns);
        if (ns != NULL)
            b->script = ns;
        if (ne == NULL || ns == NULL)
            return -1;
        b->ncap = ncap;
    }
    memcpy(b->buf + b->len, cmd, len);
    b->len += len;
    b->script[b->n] = NULL;
    b->end[b->n++] = b->len;
    return 0;
}

int store_batch_addf(struct store_batch *b, const char *fmt, ...)
{
    char *cmd = NULL;
    va_list ap;
    va_start(ap, fmt);
    int len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    if (len < 0)
        return -1;
    int rc = batch_append(b, cmd, (size_t)len);
    redisFreeCommand(cmd);
    return rc;
}

int store_batch_add_argv(struct store_batch *b, int argc, const char **argv, const size_t *lens)
{
    if (argc < 1 || argv == NULL)
        return -1;
    char *cmd = NULL;
    int len = redisFormatCommandArgv(&cmd, argc, argv, lens);
    if (len < 0)
        return -1;
    int rc = batch_append(b, cmd, (size_t)len);
    redisFreeCommand(cmd);
    return rc;
}

/* MULTI, the commands, EXEC: n + 2 hiredis callbacks on one op; on_reply
 * answers with the last (EXEC's) reply. hiredis only refuses a command
 * when the context is going away, and then every callback already
 * registered comes back with NULL; `broken` covers the theoretical case
 * of a refusal half way through. b stays the caller's. */
static int batch_send(struct store *s, const struct store_batch *b, store_cb *cb, void *arg)
{
    struct op *op = op_new(s, cb, arg, false);
    if (op == NULL)
        return -1;
    if (!can_send(s, false) || redisAsyncCommand(s->ac, on_reply, op, "MULTI") != REDIS_OK) {
        fail_later(s, op);
        return 0;
    }
    unsigned refs = 1;
    size_t off = 0;
    for (size_t i = 0; i < b->n && !op->broken; i++) {
        if (redisAsyncFormattedCommand(s->ac, on_reply, op, b->buf + off, b->end[i] - off) != REDIS_OK)
            op->broken = true;
        else
            refs++;
        off = b->end[i];
    }
    if (!op->broken && redisAsyncCommand(s->ac, on_reply, op, "EXEC") == REDIS_OK)
        refs++;
    else
        op->broken = true;
    op_sent(s, op, refs);
    return 0;
}

static int batch_send_scripts(struct store *s, struct store_batch *b, store_cb *cb, void *arg);

int store_batch_send(struct store *s, struct store_batch *b, store_cb *cb, void *arg)
{
    if (b == NULL)
        return -1;
    if (b->by_sha)
        return batch_send_scripts(s, b, cb, arg);
    int rc = batch_send(s, b, cb, arg);
    store_batch_free(b);
    return rc;
}

/* ---- replies ---- */

static const redisReply *R(const struct store_reply *r)
{
    return (const redisReply *)r;
}

static void reply_free(redisReply *r)
{
    for (size_t i = 0; r != NULL && i < r->elements; i++)
        reply_free(r->element[i]);
    if (r != NULL) {
        free(r->element);
        free(r->str);
    }
    free(r);
}

/* A deep copy (hiredis frees its replies when the callback returns). */
static redisReply *reply_dup(const redisReply *r)
{
    redisReply *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->type = r->type;
    c->integer = r->integer;
    if (r->str != NULL) {
        if ((c->str = malloc(r->len + 1)) == NULL)
            goto fail;
        memcpy(c->str, r->str, r->len + 1);
        c->len = r->len;
    }
    if (r->elements > 0) {
        if ((c->element = calloc(r->elements, sizeof *c->element)) == NULL)
            goto fail;
        c->elements = r->elements;
        for (size_t i = 0; i < r->elements; i++)
            if ((c->element[i] = reply_dup(r->element[i])) == NULL)
                goto fail;
    }
    return c;
fail:
    reply_free(c);
    return NULL;
}

/* ---- scripts ---- */

struct store_script *store_script_new(struct store *s, const char *lua)
{
    struct store_script *sc = calloc(1, sizeof *sc);
    if (sc == NULL || (sc->src = strdup(lua)) == NULL) {
        free(sc);
        return NULL;
    }
    sc->len = strlen(lua);
    sc->next = s->scripts;
    s->scripts = sc;
    if (s->link == LINK_HANDSHAKE || s->link == LINK_UP)
        script_load(s, sc);             /* else the next handshake loads it */
    return sc;
}

/* The call in protocol form: EVALSHA while the SHA1 is known, else EVAL. */
static int script_format(const struct store_script *sc, int nkeys, int argc, const char **argv,
                         const size_t *lens, char **out)
{
    if (nkeys < 0 || argc < nkeys || (argc > 0 && argv == NULL))
        return -1;
    const char **v = malloc(((size_t)argc + 3) * sizeof *v);
    size_t *l = malloc(((size_t)argc + 3) * sizeof *l);
    char nk[16];
    int len = -1;
    if (v != NULL && l != NULL) {
        bool sha = sc->sha[0] != '\0';
        snprintf(nk, sizeof nk, "%d", nkeys);
        v[0] = sha ? "EVALSHA" : "EVAL";
        v[1] = sha ? sc->sha : sc->src;
        v[2] = nk;
        for (int i = 0; i < 3; i++)
            l[i] = i == 1 && !sha ? sc->len : strlen(v[i]);
        for (int i = 0; i < argc; i++) {
            v[i + 3] = argv[i];
            l[i + 3] = lens ? lens[i] : strlen(argv[i]);
        }
        len = redisFormatCommandArgv(out, argc + 3, v, l);
    }
    free(v);
    free(l);
    return len;
}

/* End of the bulk string at p ("$L\r\n<L bytes>\r\n"), or NULL. */
static const char *bulk_skip(const char *p, const char *end)
{
    char *e;
    long n = p < end && *p == '$' ? strtol(p + 1, &e, 10) : -1;
    if (n < 0 || end - e < n + 4)
        return NULL;
    return e + 2 + n + 2;
}

/* An EVALSHA call in protocol form rewritten as EVAL with the script's
 * text (malloc'd), or NULL. */
static char *as_eval(const struct store_script *sc, const char *cmd, size_t len, size_t *outlen)
{
    const char *end = cmd + len, *nl = memchr(cmd, '\n', len);
    const char *rest = nl ? bulk_skip(nl + 1, end) : NULL;
    rest = rest ? bulk_skip(rest, end) : NULL;
    if (rest == NULL)
        return NULL;
    char head[48];
    int hn = snprintf(head, sizeof head, "$4\r\nEVAL\r\n$%zu\r\n", sc->len);
    size_t n = (size_t)(nl + 1 - cmd) + (size_t)hn + sc->len + 2 + (size_t)(end - rest);
    char *out = malloc(n), *p = out;
    if (out == NULL)
        return NULL;
    memcpy(p, cmd, (size_t)(nl + 1 - cmd));
    p += nl + 1 - cmd;
    memcpy(p, head, (size_t)hn);
    p += hn;
    memcpy(p, sc->src, sc->len);
    p += sc->len;
    memcpy(p, "\r\n", 2);
    memcpy(p + 2, rest, (size_t)(end - rest));
    *outlen = n;
    return out;
}

static bool is_noscript(const struct store_reply *r)
{
    const char *e = store_reply_str(r, NULL);
    return store_reply_type(r) == STORE_R_ERROR && e != NULL && strncmp(e, "NOSCRIPT", 8) == 0;
}

/* One EVALSHA on its way: what it takes to send it again as EVAL. */
struct script_call {
    struct store *s;
    const struct store_script *sc;
    store_cb *cb;
    void *arg;
    char *cmd;               /* the EVALSHA, protocol form */
    size_t len;
};

static void on_script_reply(void *arg, enum store_status st, const struct store_reply *r)
{
    struct script_call *c = arg;
    size_t len;
    char *eval = st == STORE_OK && is_noscript(r) ? as_eval(c->sc, c->cmd, c->len, &len) : NULL;
    /* NOSCRIPT: nothing ran; EVAL runs it and puts it back in Redis'
     * script cache. */
    if (eval != NULL && send_formatted(c->s, c->cb, c->arg, eval, len) != 0 && c->cb)
        c->cb(c->arg, STORE_DOWN, NULL);
    else if (eval == NULL && c->cb)
        c->cb(c->arg, st, r);
    free(eval);
    redisFreeCommand(c->cmd);
    free(c);
}

int store_script_eval(struct store *s, const struct store_script *sc, store_cb *cb, void *arg,
                      int nkeys, int argc, const char **argv, const size_t *lens)
{
    char *cmd = NULL;
    int len = script_format(sc, nkeys, argc, argv, lens, &cmd);
    if (len < 0)
        return -1;
    struct script_call *c = sc->sha[0] != '\0' ? malloc(sizeof *c) : NULL;
    int rc;
    if (c != NULL) {
        *c = (struct script_call){s, sc, cb, arg, cmd, (size_t)len};
        if ((rc = send_formatted(s, on_script_reply, c, cmd, (size_t)len)) == 0)
            return 0;
        free(c);
    } else {
        rc = send_formatted(s, cb, arg, cmd, (size_t)len);
    }
    redisFreeCommand(cmd);
    return rc;
}

int store_batch_script(struct store_batch *b, const struct store_script *sc, int nkeys, int argc,
                       const char **argv, const size_t *lens)
{
    char *cmd = NULL;
    int len = script_format(sc, nkeys, argc, argv, lens, &cmd);
    if (len < 0)
        return -1;
    int rc = batch_append(b, cmd, (size_t)len);
    if (rc == 0 && sc->sha[0] != '\0') {
        b->script[b->n - 1] = sc;
        b->by_sha = true;
    }
    redisFreeCommand(cmd);
    return rc;
}

/* A batch with EVALSHA calls: kept until EXEC answers, so that the calls
 * that found no script can be sent again (as EVAL, in a second
 * transaction) and their replies put in place of the NOSCRIPT errors. */
struct batch_call {
    struct store *s;
    struct store_batch *b;
    store_cb *cb;
    void *arg;
    redisReply *first;       /* the first EXEC's reply (copy) */
    size_t *redo, nredo;     /* indexes sent again */
};

static void batch_call_free(struct batch_call *c)
{
    store_batch_free(c->b);
    reply_free(c->first);
    free(c->redo);
    free(c);
}

/* The second transaction's reply: splice it into the first. Its failure
 * makes the whole outcome unknown (the first part did apply). */
static void on_batch_again(void *arg, enum store_status st, const struct store_reply *r)
{
    struct batch_call *c = arg;
    bool ok = st == STORE_OK;
    for (size_t k = 0; ok && k < c->nredo; k++) {
        const struct store_reply *e = store_reply_len(r) == c->nredo ? store_reply_at(r, k) : r;
        redisReply *copy = reply_dup(R(e));
        if (copy == NULL) {
            ok = false;
            break;
        }
        reply_free(c->first->element[c->redo[k]]);
        c->first->element[c->redo[k]] = copy;
    }
    if (c->cb)
        c->cb(c->arg, ok ? STORE_OK : STORE_TIMEOUT,
              ok ? (const struct store_reply *)c->first : NULL);
    batch_call_free(c);
}

/* Build and send the second transaction; false when it cannot be. */
static bool batch_redo(struct batch_call *c, const struct store_reply *r)
{
    struct store_batch *again = store_batch_new();
    c->redo = malloc(c->b->n * sizeof *c->redo);
    if (again == NULL || c->redo == NULL || (c->first = reply_dup(R(r))) == NULL) {
        store_batch_free(again);
        return false;
    }
    for (size_t i = 0; i < c->b->n; i++) {
        size_t start = i ? c->b->end[i - 1] : 0, len;
        if (c->b->script[i] == NULL || !is_noscript(store_reply_at(r, i)))
            continue;
        char *eval = as_eval(c->b->script[i], c->b->buf + start, c->b->end[i] - start, &len);
        int rc = eval ? batch_append(again, eval, len) : -1;
        free(eval);
        if (rc != 0) {
            store_batch_free(again);
            return false;
        }
        c->redo[c->nredo++] = i;
    }
    return store_batch_send(c->s, again, on_batch_again, c) == 0;
}

static void on_batch_reply(void *arg, enum store_status st, const struct store_reply *r)
{
    struct batch_call *c = arg;
    bool redo = false;
    for (size_t i = 0; st == STORE_OK && i < store_reply_len(r) && !redo; i++)
        redo = c->b->script[i] != NULL && is_noscript(store_reply_at(r, i));
    if (redo && store_reply_len(r) == c->b->n && batch_redo(c, r))
        return;
    if (c->cb)
        c->cb(c->arg, st, r);            /* (out of memory: the NOSCRIPT errors as they are) */
    batch_call_free(c);
}

static int batch_send_scripts(struct store *s, struct store_batch *b, store_cb *cb, void *arg)
{
    struct batch_call *c = calloc(1, sizeof *c);
    if (c == NULL) {
        store_batch_free(b);
        return -1;
    }
    *c = (struct batch_call){.s = s, .b = b, .cb = cb, .arg = arg};
    if (batch_send(s, b, on_batch_reply, c) == 0)
        return 0;
    batch_call_free(c);
    return -1;
}

enum store_reply_type store_reply_type(const struct store_reply *r)
{
    if (r == NULL)
        return STORE_R_NIL;
    switch (R(r)->type) {
    case REDIS_REPLY_NIL: return STORE_R_NIL;
    case REDIS_REPLY_STRING: return STORE_R_STRING;
    case REDIS_REPLY_STATUS: return STORE_R_STATUS;
    case REDIS_REPLY_INTEGER: return STORE_R_INTEGER;
    case REDIS_REPLY_ARRAY: return STORE_R_ARRAY;
    case REDIS_REPLY_ERROR: return STORE_R_ERROR;
    default: return STORE_R_OTHER;
    }
}

const char *store_reply_str(const struct store_reply *r, size_t *len)
{
    int t = r ? R(r)->type : REDIS_REPLY_NIL;
    bool has = t == REDIS_REPLY_STRING || t == REDIS_REPLY_STATUS || t == REDIS_REPLY_ERROR;
    if (len)
        *len = has ? R(r)->len : 0;
    return has ? R(r)->str : NULL;
}

long long store_reply_int(const struct store_reply *r)
{
    if (r == NULL)
        return 0;
    if (R(r)->type == REDIS_REPLY_INTEGER)
        return R(r)->integer;
    if (R(r)->type != REDIS_REPLY_STRING && R(r)->type != REDIS_REPLY_STATUS)
        return 0;
    /* hiredis NUL-terminates strings; a value with a NUL inside or any
     * non-digit is not an integer. */
    char *end;
    long long v = strtoll(R(r)->str, &end, 10);
    if (R(r)->len == 0 || end != R(r)->str + R(r)->len)
        return 0;
    return v;
}

size_t store_reply_len(const struct store_reply *r)
{
    return r && R(r)->type == REDIS_REPLY_ARRAY ? R(r)->elements : 0;
}

const struct store_reply *store_reply_at(const struct store_reply *r, size_t i)
{
    if (i >= store_reply_len(r))
        return NULL;
    return (const struct store_reply *)R(r)->element[i];
}

/* ---- synchronous ---- */

int store_sync_ping(const char *url, int timeout_ms, char *err, size_t errlen)
{
    struct endpoint ep;
    redisContext *c = NULL;
    redisReply *r = NULL;
    int rc = -1;
    if (parse_url(url, &ep, err, errlen) != 0)
        goto out;
    struct timeval tv = ms_tv(timeout_ms > 0 ? timeout_ms : 1000);
    c = ep.is_unix ? redisConnectUnixWithTimeout(ep.path, tv)
                   : redisConnectWithTimeout(ep.host, ep.port, tv);
    if (c == NULL || c->err) {
        snprintf(err, errlen, "cannot connect to %s: %s", url, c ? c->errstr : "out of memory");
        goto out;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        snprintf(err, errlen, "%s: %s", url, c->errstr);
        goto out;
    }
    if (ep.db != 0) {
        r = redisCommand(c, "SELECT %d", ep.db);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen, "%s: SELECT %d: %s", url, ep.db, r ? r->str : c->errstr);
            goto out;
        }
        freeReplyObject(r);
    }
    r = redisCommand(c, "PING");
    if (r == NULL || r->type != REDIS_REPLY_STATUS || strcmp(r->str, "PONG") != 0) {
        snprintf(err, errlen, "%s: PING: %s", url,
                 r == NULL ? c->errstr : r->str ? r->str : "unexpected reply");
        goto out;
    }
    rc = 0;
out:
    if (r)
        freeReplyObject(r);
    if (c)
        redisFree(c);
    return rc;
}
