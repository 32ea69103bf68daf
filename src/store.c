/* store.c -- the Redis store (see store.h); the only file that includes hiredis.
 *
 * hiredis 0.14 async connections driven by libevent: one to a standalone
 * Redis, or one per master of a Redis Cluster.
 *
 *  - Every command is an `op`. hiredis keeps a pointer to it until it calls
 *    on_reply, with a reply or with NULL when the context is torn down, and
 *    it calls every registered callback exactly once; so an op is released
 *    only when all of its hiredis callbacks have come back (`refs`) and it
 *    is not waiting to be sent again (`parked`). The user callback runs at
 *    most once, guarded by `answered`: a timeout answers early and the late
 *    reply is then swallowed.
 *  - Every op has a deadline, its first send plus timeout_ms, kept when it
 *    is sent again. The unanswered ops form one list sorted by deadline
 *    (almost always an append) and one timer, armed for its head, expires
 *    them.
 *  - Standalone: user commands go to hiredis only while the link is up.
 *    Otherwise the op joins a fail queue answered from an event in the next
 *    loop iteration, so a callback never runs inside store_cmd*.
 *  - Link states (per connection): IDLE (no context, maybe a reconnect
 *    timer armed) -> CONNECTING -> HANDSHAKE (connected; SELECT and PING in
 *    flight) -> UP. DYING means the context is being torn down and hiredis
 *    will still call on_disconnect. A PING timeout tears the connection
 *    down: replies are in order, so it means nothing has come back for
 *    timeout_ms.
 *  - store_free calls back every pending op with STORE_DOWN; it must not be
 *    called from a store callback (hiredis would defer the teardown past
 *    the free), which `cb_depth` detects.
 *  - Unknown outcomes. A command handed to a connection and not answered
 *    (timed out, or the connection died first) may still run: Redis reads
 *    what the dead connection left in its socket when it gets to it. Such
 *    a connection is remembered by the id and address Redis gave it
 *    (CLIENT INFO in the handshake) and the next connection's handshake
 *    to the same server kills it (CLIENT KILL ID .. ADDR ..) before the
 *    link goes up: from then on nothing it carried can take effect, so a
 *    read that succeeds after a timeout sees everything the timed-out
 *    command will ever do (the fence). Such a command is never sent again.
 *  - Scripts are loaded (SCRIPT LOAD) in every connection's handshake and
 *    run by SHA1; a NOSCRIPT reply is answered by resending the call with
 *    the script's text (EVAL), alone or, in a batch, as a second
 *    transaction of the calls that found no script.
 *  - Cluster (redis-cluster://seeds). Nodes are kept in a table by
 *    "host:port", each with its own connection; a slot map (CLUSTER SLOTS)
 *    says which master serves each slot. An op carries the slot of its key
 *    (cmd_slot: the first key, by the rules of a small command table) and
 *    its command bytes, so that it can be sent again where nothing of it
 *    ran: after MOVED (the map is patched at once and refreshed), ASK (to
 *    the named node, after ASKING), and, with backoff, after TRYAGAIN,
 *    CLUSTERDOWN, LOADING or MASTERDOWN, or while the slot's master has no
 *    connection up (refused, failing over): such an op waits in the retry
 *    list until it can go or its deadline passes (then STORE_DOWN). The map
 *    is asked for at start (from the seeds), after MOVED, when a connection
 *    is lost, and periodically; asked of any connection that is up, else
 *    of every node known, seeds included. Connecting never blocks.
 *  - WAIT (wait_replicas > 0): a write (a batch, a script, or a command
 *    not in the read-only table) is followed on the same connection by
 *    WAIT n timeout, and answered only once that confirms n replicas; a
 *    write WAIT does not confirm answers STORE_TIMEOUT (it did apply on
 *    the master, it may be lost in a failover). */
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

#include "keys.h"
#include "log.h"
#include "metrics.h"

#define OP_POOL_MAX 1024
#define FENCE_MAX 16             /* dead connections still to kill */
#define NODES_MAX 64             /* cluster nodes known */
#define REDIRECTS_MAX 16         /* MOVED/ASK hops of one op */
#define RETRY_TICK_MS 10         /* retry list period */
#define RETRY_MAX_MS 200         /* backoff cap of one op */
#define REFRESH_MS 5000          /* periodic CLUSTER SLOTS */
#define REFRESH_MIN_MS 100       /* at most this often */
#define NO_NODE UINT16_MAX
#define ADDR_MAX 280             /* "host:port" */

enum link { LINK_IDLE, LINK_CONNECTING, LINK_HANDSHAKE, LINK_UP, LINK_DYING };

struct endpoint {
    bool is_unix;
    char host[256];
    int port;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int db;
};

/* One connection to one server. */
struct conn {
    struct store *s;
    struct endpoint ep;
    char name[304];          /* for logs: the url, or host:port */
    redisAsyncContext *ac;
    enum link link;
    int backoff_ms;          /* delay before the next reconnect */
    unsigned failures;       /* consecutive failed connection attempts */
    bool ping_inflight;
    bool selected;           /* SELECT <db> acknowledged on this connection */
    uint64_t ping_t0_us, last_rtt_us;
    /* unknown outcomes (see the top of the file) */
    bool conn_unknown;       /* a command on this connection ended unanswered */
    char conn_id[2][48];     /* this connection's id and addr (CLIENT INFO) */
    char fence[FENCE_MAX][2][48];   /* dead connections to kill, oldest first */
    size_t nfence, fences_sent;
    /* cluster */
    bool seed;               /* named in the url */
    bool asked;              /* named by an ASK redirect */
    bool master;             /* serves slots in the current map */
    bool was_replica;        /* a replica in the previous map */
    unsigned nslots;         /* slots it serves in the map */
    int nreplicas;           /* replicas the map lists for it */
    struct event *connect_ev, *reconnect_ev, *ping_ev;
};

struct op {
    struct store *s;
    struct conn *c;          /* where it was last handed (NULL: never) */
    store_cb *cb;
    void *arg;
    struct op *prev, *next;  /* pending list; `next` also links fail queue, retry list, pool */
    uint64_t t0_us, deadline_us, retry_at_us;
    unsigned refs;           /* hiredis callbacks still to come */
    unsigned nrecv;          /* replies seen since the last send */
    unsigned main;           /* index of the reply that answers (the command's, EXEC's) */
    unsigned attempts;       /* sends and retries, for the backoff */
    unsigned redirects;
    bool answered;           /* user callback done */
    bool queued;             /* in the pending list */
    bool parked;             /* in the retry list */
    bool internal;           /* PING / handshake / CLUSTER SLOTS: not in the metrics */
    bool broken;             /* only partly handed to hiredis */
    bool wait;               /* WAIT follows the write */
    bool reads;              /* writes nothing: may be sent again after a lost connection */
    int slot;                /* -1: any node */
    /* what it takes to send it again (cluster, or WAIT): */
    char *cmd;               /* protocol form; a batch's commands back to back */
    size_t len;
    size_t *ends, nb;        /* a batch: end offset of each command; nb > 0 or is_batch */
    bool is_batch;
    char ask[ADDR_MAX];      /* ASK target for the next send */
    char redir[ADDR_MAX + 32];   /* cluster error seen in this send's replies */
    redisReply *held;        /* the answer, held until WAIT replies */
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
    char url[300];
    int timeout_ms, connect_timeout_ms, backoff_min_ms, backoff_max_ms, ping_interval_ms;
    int wait_replicas, wait_timeout_ms;
    bool cluster;

    struct conn *conns[NODES_MAX];   /* standalone: conns[0] only */
    size_t nconns;
    bool up;                 /* as last told (notify) */
    bool freeing;
    int cb_depth;            /* > 0 while a user callback runs */
    uint64_t last_rtt_us;
    store_state_fn *state_fn;
    void *state_arg;
    struct store_script *scripts;

    /* cluster */
    uint16_t *owner;         /* slot -> conns index, NO_NODE */
    bool have_map;
    bool refreshing;         /* a CLUSTER SLOTS in flight */
    bool searching;          /* no connection to ask: every node known is wanted */
    uint64_t refreshed_us;   /* last CLUSTER SLOTS sent */
    unsigned slots_up;
    struct op *retry_head, *retry_tail;
    struct event *retry_ev, *refresh_ev;

    struct event *timeout_ev, *failq_ev;
    struct op *head, *tail;            /* unanswered ops held by hiredis */
    struct op *fail_head, *fail_tail;  /* ops to answer STORE_DOWN */
    struct op *pool;
    unsigned pool_n;

    struct store_stats st;
    struct {
        struct metric *rtt, *ping, *up, *ok, *down, *timeout;
        struct metric *slots, *masters, *moved, *ask, *retries, *failovers, *cross, *waitfail;
    } m;
};

static void connect_start(struct conn *c);
static void send_ping(struct conn *c);
static void dispatch(struct store *s, struct op *op);
static void refresh_map(struct store *s);
static void cluster_update(struct store *s);
static void retry_kick(struct store *s);
static void conn_want(struct conn *c);

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

static struct timeval us_tv(uint64_t us)
{
    struct timeval tv = {(time_t)(us / 1000000u), (suseconds_t)(us % 1000000u)};
    return tv;
}

static void inc(struct metric *m, unsigned long long *counter)
{
    (*counter)++;
    if (m)
        metric_inc(m, 1);
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

/* "host[:port]" (host may be a bracketed IPv6 literal) up to end; *rest
 * gets what follows. NULL or the reason it is bad. */
static const char *parse_hostport(const char *h, const char *end, struct endpoint *ep,
                                  const char **rest)
{
    const char *hend, *p;
    if (h < end && h[0] == '[') {
        hend = memchr(h, ']', (size_t)(end - h));
        p = hend ? hend + 1 : NULL;
        h++;
    } else {
        hend = h;
        while (hend < end && *hend != ':' && *hend != '/')
            hend++;
        p = hend;
    }
    if (p == NULL || hend == h || (size_t)(hend - h) >= sizeof ep->host)
        return "bad host";
    const char *tail = p;
    while (tail < end && *tail != '/')
        tail++;
    if (p < end && p[0] == ':' && parse_int(p + 1, tail, 1, 65535, &ep->port) != 0)
        return "bad port";
    if (p < end && p[0] != ':' && p != tail)
        return "bad host";
    memcpy(ep->host, h, (size_t)(hend - h));
    ep->host[hend - h] = '\0';
    *rest = tail;
    return NULL;
}

/* "redis://host[:port][/db]" or "unix:/path/to/socket". */
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
        const char *slash;
        const char *end = url + strlen(url);
        if ((why = parse_hostport(url + 8, end, ep, &slash)) == NULL) {
            if (*slash != '/' || parse_int(slash + 1, end, 0, 1 << 20, &ep->db) == 0)
                return 0;
            why = "bad database number";
        }
    }
    snprintf(err, errlen, "bad redis url \"%s\": %s", url, why);
    return -1;
}

/* "redis-cluster://h:p[,h:p...]" -> up to max seed endpoints. Returns the
 * count, or -1 with err. */
static int parse_cluster_url(const char *url, struct endpoint *eps, int max, char *err,
                             size_t errlen)
{
    const char *p = url + strlen("redis-cluster://");
    const char *why = NULL;
    int n = 0;
    while (why == NULL) {
        const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p), *rest;
        if (n == max) {
            why = "too many seed nodes";
            break;
        }
        memset(&eps[n], 0, sizeof eps[n]);
        eps[n].port = 6379;
        if ((why = parse_hostport(p, end, &eps[n], &rest)) == NULL && rest != end)
            why = "no database number in a cluster";
        n++;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    if (why == NULL)
        return n;
    snprintf(err, errlen, "bad redis url \"%s\": %s", url, why);
    return -1;
}

/* ---- commands: which break the connection, where the key is, which write ---- */

static bool name_in(const char *name, size_t len, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(names[i]) == len && strncasecmp(name, names[i], len) == 0)
            return true;
    }
    return false;
}
#define NAME_IN(name, len, list) name_in((name), (len), (list), sizeof(list) / sizeof(list)[0])

/* Pub/sub and MONITOR make hiredis deliver many replies per callback;
 * MULTI/WATCH/SELECT/... change the state of a connection that every
 * caller shares (use store_batch for transactions); ASKING belongs to
 * the store's redirects. */
static bool cmd_forbidden(const char *name, size_t len)
{
    static const char *const names[] = {
        "subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe",
        "sunsubscribe", "monitor", "multi", "exec", "discard", "watch", "unwatch",
        "select", "quit", "reset", "asking",
    };
    return NAME_IN(name, len, names);
}

/* Commands without a key: in a cluster, any master answers them. */
static const char *const KEYLESS[] = {
    "ping", "echo", "info", "time", "cluster", "script", "function", "wait", "client",
    "config", "dbsize", "flushall", "flushdb", "command", "lastsave", "save", "bgsave",
    "bgrewriteaof", "debug", "slowlog", "latency", "role", "scan", "randomkey", "readonly",
    "readwrite", "hello", "auth", "swapdb", "publish", "spublish", "pubsub", "lolwut",
};
/* Commands that write nothing (no WAIT after them); the others write. */
static const char *const READS[] = {
    "get", "mget", "getrange", "strlen", "exists", "ttl", "pttl", "type", "dump", "hget",
    "hgetall", "hmget", "hexists", "hlen", "hkeys", "hvals", "hscan", "hstrlen", "sscan",
    "smembers", "sismember", "smismember", "scard", "srandmember", "lrange", "llen", "lindex",
    "xrange", "xrevrange", "xread", "xlen", "xinfo", "zrange", "zrangebyscore", "zrevrange",
    "zrevrangebyscore", "zscore", "zmscore", "zcard", "zcount", "zrank", "zrevrank", "zscan",
    "geopos", "geodist", "geosearch", "georadius_ro", "georadiusbymember_ro", "bitcount",
    "getbit", "pfcount", "eval_ro", "evalsha_ro", "fcall_ro", "object", "memory",
};
static const char *const SCRIPTS[] = {"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall",
                                      "fcall_ro"};

/* One argument of a command in protocol form: "$L\r\n<L bytes>\r\n". */
static const char *proto_arg(const char *p, const char *end, const char **arg, size_t *len)
{
    char *e;
    long n = p < end && *p == '$' ? strtol(p + 1, &e, 10) : -1;
    if (n < 0 || end - e < n + 4)
        return NULL;
    *arg = e + 2;
    *len = (size_t)n;
    return e + 2 + n + 2;
}

/* What the routing needs of a command in protocol form: its slot (-1:
 * no key) and whether it writes. The key is argument 1, but for scripts
 * (argument 3 when numkeys > 0), XREAD/XREADGROUP (after STREAMS),
 * OBJECT/MEMORY (argument 2) and keyless commands. */
static void cmd_route(const char *cmd, size_t len, int *slot, bool *writes)
{
    const char *end = cmd + len, *p = memchr(cmd, '\n', len);
    const char *argv[4] = {0};
    size_t lens[4] = {0};
    long argc = strtol(cmd + 1, NULL, 10);
    int n = 0;
    for (p = p ? p + 1 : NULL; p != NULL && p < end && n < argc && n < 4; n++)
        p = proto_arg(p, end, &argv[n], &lens[n]);
    *slot = -1;
    *writes = false;
    if (n == 0 || argv[0] == NULL)
        return;
    const char *name = argv[0];
    size_t nl = lens[0];
    int k = 1;
    if (NAME_IN(name, nl, KEYLESS)) {
        return;
    } else if (NAME_IN(name, nl, SCRIPTS)) {
        *writes = !(nl > 3 && strncasecmp(name + nl - 3, "_ro", 3) == 0);
        k = n > 2 && strtol(argv[2], NULL, 10) > 0 ? 3 : 4;
    } else if ((nl == 5 && strncasecmp(name, "xread", 5) == 0) ||
               (nl == 10 && strncasecmp(name, "xreadgroup", 10) == 0)) {
        /* the first key follows STREAMS: walk the arguments */
        const char *a = NULL;
        size_t al = 0;
        p = memchr(cmd, '\n', len) + 1;
        for (long i = 0; p != NULL && i < argc; i++) {
            bool streams = a != NULL && al == 7 && strncasecmp(a, "streams", 7) == 0;
            p = proto_arg(p, end, &a, &al);
            if (streams && p != NULL) {
                *slot = (int)keys_slot(a, al);
                return;
            }
        }
        return;
    } else {
        *writes = !NAME_IN(name, nl, READS);
        if ((nl == 6 && strncasecmp(name, "object", 6) == 0) ||
            (nl == 6 && strncasecmp(name, "memory", 6) == 0))
            k = 2;
    }
    if (k < n && argv[k] != NULL)
        *slot = (int)keys_slot(argv[k], lens[k]);
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

/* ---- replies (copies) ---- */

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
    memset(op, 0, offsetof(struct op, ask));
    op->ask[0] = op->redir[0] = '\0';
    op->held = NULL;
    op->s = s;
    op->cb = cb;
    op->arg = arg;
    op->internal = internal;
    op->slot = -1;
    op->t0_us = mono_us();
    op->deadline_us = op->t0_us + (uint64_t)s->timeout_ms * 1000u;
    return op;
}

static void op_release(struct store *s, struct op *op)
{
    free(op->cmd);
    free(op->ends);
    reply_free(op->held);
    if (s->pool_n < OP_POOL_MAX) {
        op->next = s->pool;
        s->pool = op;
        s->pool_n++;
    } else {
        free(op);
    }
}

/* Keep a copy of the command bytes (cluster resends, WAIT). */
static int op_keep(struct op *op, const char *cmd, size_t len, const size_t *ends, size_t nb)
{
    if ((op->cmd = malloc(len ? len : 1)) == NULL)
        return -1;
    memcpy(op->cmd, cmd, len);
    op->len = len;
    if (nb > 0) {
        if ((op->ends = malloc(nb * sizeof *ends)) == NULL)
            return -1;
        memcpy(op->ends, ends, nb * sizeof *ends);
    }
    op->nb = nb;
    return 0;
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
    struct timeval tv = us_tv(left);
    evtimer_add(s->timeout_ev, &tv);
}

/* The op now belongs to hiredis for `refs` callbacks; into the pending
 * list by deadline (from the tail: a resent op is the only one out of
 * order). */
static void op_sent(struct store *s, struct op *op, unsigned refs)
{
    op->refs = refs;
    op->queued = true;
    struct op *after = s->tail;
    while (after != NULL && after->deadline_us > op->deadline_us)
        after = after->prev;
    op->prev = after;
    op->next = after ? after->next : s->head;
    if (op->next)
        op->next->prev = op;
    else
        s->tail = op;
    if (after)
        after->next = op;
    else
        s->head = op;
    if (s->head == op && evtimer_pending(s->timeout_ev, NULL))
        evtimer_del(s->timeout_ev);
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
        if (op->c != NULL)
            op->c->conn_unknown |= !op->internal;
        answer(s, op, STORE_TIMEOUT, NULL);
    }
    arm_timeout(s);
}

/* ---- the retry list (cluster): ops waiting to be sent again ---- */

static void park(struct store *s, struct op *op, uint64_t at_us)
{
    op->parked = true;
    op->retry_at_us = at_us;
    op->next = NULL;
    if (s->retry_tail)
        s->retry_tail->next = op;
    else
        s->retry_head = op;
    s->retry_tail = op;
    if (!evtimer_pending(s->retry_ev, NULL)) {
        struct timeval tv = ms_tv(RETRY_TICK_MS);
        evtimer_add(s->retry_ev, &tv);
    }
}

/* Backoff of an op's next try: 10 ms doubling to RETRY_MAX_MS. */
static uint64_t backoff_at(struct op *op)
{
    unsigned sh = op->attempts < 5 ? op->attempts : 5;
    uint64_t ms = (uint64_t)RETRY_TICK_MS << sh;
    op->attempts++;
    return mono_us() + (ms < RETRY_MAX_MS ? ms : RETRY_MAX_MS) * 1000u;
}

/* Send what is due, give up on what is past its deadline (nothing of it
 * ran: STORE_DOWN), keep the rest. */
static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct store *s = arg;
    struct op *op = s->retry_head;
    s->retry_head = s->retry_tail = NULL;
    uint64_t now = mono_us();
    while (op != NULL) {
        struct op *next = op->next;
        op->parked = false;
        if (now >= op->deadline_us || s->freeing) {
            answer(s, op, STORE_DOWN, NULL);
            op_release(s, op);
        } else if (now >= op->retry_at_us) {
            inc(s->m.retries, &s->st.retries);
            dispatch(s, op);
        } else {
            park(s, op, op->retry_at_us);
        }
        op = next;
    }
    if (s->retry_head != NULL && !evtimer_pending(s->retry_ev, NULL)) {
        struct timeval tv = ms_tv(RETRY_TICK_MS);
        evtimer_add(s->retry_ev, &tv);
    }
}

/* A connection came up or the map changed: try the waiting ops now. */
static void retry_kick(struct store *s)
{
    for (struct op *op = s->retry_head; op != NULL; op = op->next)
        op->retry_at_us = 0;
    if (s->retry_head != NULL)
        event_active(s->retry_ev, EV_TIMEOUT, 1);
}

/* ---- replies to ops ---- */

/* A cluster error that says the command did not run here and may be sent
 * again: MOVED, ASK, TRYAGAIN, CLUSTERDOWN, LOADING, MASTERDOWN. */
static bool cluster_error(const redisReply *r)
{
    static const char *const pre[] = {"MOVED ", "ASK ", "TRYAGAIN", "CLUSTERDOWN", "LOADING",
                                      "MASTERDOWN"};
    if (r == NULL || r->type != REDIS_REPLY_ERROR || r->str == NULL)
        return false;
    for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++) {
        if (strncmp(r->str, pre[i], strlen(pre[i])) == 0)
            return true;
    }
    return false;
}

static bool wait_confirmed(const struct store *s, const redisReply *r)
{
    return r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer >= s->wait_replicas;
}

static bool redirect(struct store *s, struct op *op);

/* Every reply of the op's send has come: answer it, or send it again. */
static void op_finish(struct store *s, struct op *op, const redisReply *last)
{
    if (op->redir[0] != '\0' && redirect(s, op))
        return;
    if (op->broken) {
        answer(s, op, STORE_DOWN, NULL);
    } else if (!op->wait) {
        answer(s, op, STORE_OK, last);
    } else if (op->held != NULL && op->held->type == REDIS_REPLY_ERROR) {
        answer(s, op, STORE_OK, op->held);  /* nothing written to wait for */
    } else if (op->held != NULL && wait_confirmed(s, last)) {
        answer(s, op, STORE_OK, op->held);
    } else {
        /* Applied on the master, not (yet) on enough replicas: a failover
         * now could lose it. Unknown, as a timeout is (no fence needed). */
        inc(s->m.waitfail, &s->st.wait_failed);
        answer(s, op, STORE_TIMEOUT, NULL);
    }
}

/* A reply (not the last, or the last) of one send. */
static void op_reply(struct store *s, struct op *op, unsigned idx, const redisReply *r)
{
    if (s->cluster && !op->internal && op->redir[0] == '\0' && cluster_error(r))
        snprintf(op->redir, sizeof op->redir, "%s", r->str);
    if (idx == op->main && op->wait && op->redir[0] == '\0' && (op->held = reply_dup(r)) == NULL)
        op->broken = true;
}

/* hiredis' callback for every command we send. */
static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct op *op = privdata;
    struct store *s = op->s;
    const redisReply *r = reply;
    unsigned idx = op->nrecv++;
    op->refs--;
    if (!op->answered) {
        /* No reply: the connection is going. What it sent may still run,
         * unless it is the store going away. */
        bool unknown = r == NULL && !op->internal && !s->freeing;
        if (unknown && s->cluster && op->reads) {
            /* A read changes nothing: it may go again (to the new master
             * after a failover), once hiredis has handed all of it back. */
            if (op->refs > 0)
                return;
            if (op->queued)
                pending_unlink(s, op);
            park(s, op, backoff_at(op));
            return;
        }
        if (unknown && op->c != NULL)
            op->c->conn_unknown = true;
        if (r == NULL)
            answer(s, op, unknown ? STORE_TIMEOUT : STORE_DOWN, NULL);
        else
            op_reply(s, op, idx, r);
        if (r != NULL && op->refs == 0)
            op_finish(s, op, r);
        /* else a MULTI "+OK" or "+QUEUED": EXEC's reply tells the outcome */
    }
    if (op->refs == 0 && !op->parked)
        op_release(s, op);
}

/* ---- sending ---- */

static bool can_send(const struct conn *c, bool internal)
{
    if (c == NULL || c->ac == NULL)
        return false;
    return c->link == LINK_UP || (internal && c->link == LINK_HANDSHAKE);
}

/* Hand the op to c: [ASKING] [MULTI] command(s) [EXEC] [WAIT]. Returns
 * false when hiredis took nothing (the op is then the caller's). */
static bool transmit(struct store *s, struct op *op, struct conn *c, const char *cmd, size_t len,
                     const size_t *ends, size_t nb, bool is_batch)
{
    redisAsyncContext *ac = c->ac;
    unsigned refs = 0;
    bool ok = true;
    op->c = c;
    op->nrecv = 0;
    op->broken = false;
    op->redir[0] = '\0';
    reply_free(op->held);
    op->held = NULL;
    if (op->ask[0] != '\0')
        ok = redisAsyncCommand(ac, on_reply, op, "ASKING") == REDIS_OK && ++refs;
    op->ask[0] = '\0';
    if (is_batch) {
        ok = ok && redisAsyncCommand(ac, on_reply, op, "MULTI") == REDIS_OK && ++refs;
        for (size_t i = 0, off = 0; ok && i < nb; off = ends[i++])
            ok = redisAsyncFormattedCommand(ac, on_reply, op, cmd + off, ends[i] - off) ==
                     REDIS_OK && ++refs;
        ok = ok && redisAsyncCommand(ac, on_reply, op, "EXEC") == REDIS_OK && ++refs;
    } else {
        ok = ok && redisAsyncFormattedCommand(ac, on_reply, op, cmd, len) == REDIS_OK && ++refs;
    }
    op->main = refs - 1;
    if (ok && op->wait)
        ok = redisAsyncCommand(ac, on_reply, op, "WAIT %d %d", s->wait_replicas,
                               s->wait_timeout_ms) == REDIS_OK && ++refs;
    if (refs == 0)
        return false;
    /* hiredis only refuses a command when the context is going away, and
     * then every callback already registered comes back with NULL;
     * `broken` covers a refusal half way through. */
    op->broken = !ok;
    op->attempts++;
    op_sent(s, op, refs);
    return true;
}

static struct conn *node_get(struct store *s, const char *host, int port, bool add);

/* The connection an op goes to: its ASK target, its slot's master, or
 * (no key) any connection up. NULL: none known. */
static struct conn *route(struct store *s, struct op *op)
{
    if (!s->cluster)
        return s->conns[0];
    if (op->ask[0] != '\0') {
        char host[ADDR_MAX];
        snprintf(host, sizeof host, "%s", op->ask);
        char *colon = strrchr(host, ':');
        if (colon == NULL)
            return NULL;
        *colon = '\0';
        struct conn *c = node_get(s, host, atoi(colon + 1), true);
        if (c != NULL) {
            c->asked = true;
            conn_want(c);
        }
        return c;
    }
    if (op->slot >= 0) {
        uint16_t i = s->owner ? s->owner[op->slot] : NO_NODE;
        if (i == NO_NODE)
            refresh_map(s);
        return i == NO_NODE ? NULL : s->conns[i];
    }
    for (size_t i = 0; i < s->nconns; i++) {
        if (s->conns[i]->master && can_send(s->conns[i], false))
            return s->conns[i];
    }
    for (size_t i = 0; i < s->nconns; i++) {
        if (can_send(s->conns[i], false))
            return s->conns[i];
    }
    return NULL;
}

/* Send an op (first time or again) where it belongs; standalone: or fail
 * it (STORE_DOWN, next loop turn); cluster: or keep it in the retry list
 * until its master is up or its deadline passes. */
static void dispatch(struct store *s, struct op *op)
{
    struct conn *c = route(s, op);
    if (can_send(c, false) &&
        transmit(s, op, c, op->cmd, op->len, op->ends, op->nb, op->is_batch))
        return;
    if (s->cluster)
        park(s, op, backoff_at(op));
    else
        fail_later(s, op);
}

/* ---- redirects ---- */

static void map_patch(struct store *s, unsigned slot, struct conn *c);

/* The op's send answered a cluster error (op->redir): send it again --
 * MOVED and ASK at once, the others after a backoff -- unless its
 * deadline or the redirect limit is reached (then STORE_DOWN: nothing of
 * it ran). Returns false for an error it does not handle. */
static bool redirect(struct store *s, struct op *op)
{
    const char *e = op->redir;
    bool moved = strncmp(e, "MOVED ", 6) == 0, ask = strncmp(e, "ASK ", 4) == 0;
    if (op->queued)
        pending_unlink(s, op);
    if (mono_us() >= op->deadline_us || op->redirects >= REDIRECTS_MAX) {
        char q[ADDR_MAX + 40];
        log_warn(s->lg, "redis_redirect_gave_up", "error=%s redirects=%u",
                 log_quote(q, sizeof q, e), op->redirects);
        answer(s, op, STORE_DOWN, NULL);
        return true;
    }
    if (moved || ask) {
        char host[ADDR_MAX];
        unsigned slot;
        int port;
        if (sscanf(e + (moved ? 6 : 4), "%u %279[^ ]", &slot, host) != 2 || slot >= KEYS_SLOTS)
            return false;
        char *colon = strrchr(host, ':');
        if (colon == NULL || (port = atoi(colon + 1)) <= 0)
            return false;
        op->redirects++;
        if (ask) {
            inc(s->m.ask, &s->st.ask);
            snprintf(op->ask, sizeof op->ask, "%s", host);
        } else {
            inc(s->m.moved, &s->st.moved);
            *colon = '\0';
            map_patch(s, slot, node_get(s, host, port, true));
            refresh_map(s);
        }
        dispatch(s, op);
        return true;
    }
    /* TRYAGAIN (keys of a batch split by a migration), CLUSTERDOWN,
     * LOADING, MASTERDOWN: it did not run; later. */
    park(s, op, backoff_at(op));
    return true;
}

/* A command of the store's own (handshake, PING, SCRIPT LOAD, CLUSTER
 * SLOTS): sent on the connection as it is, not counted in the command
 * metrics. */
static void send_internal(struct conn *c, store_cb *cb, void *arg, const char *fmt, ...)
{
    struct store *s = c->s;
    struct op *op = op_new(s, cb, arg, true);
    va_list ap;
    va_start(ap, fmt);
    int rc = op && c->ac ? redisvAsyncCommand(c->ac, on_reply, op, fmt, ap) : REDIS_ERR;
    va_end(ap);
    if (rc == REDIS_OK) {
        op->c = c;
        op_sent(s, op, 1);
    } else if (op) {
        fail_later(s, op);
    }
}

static void on_script_loaded(void *arg, enum store_status st, const struct store_reply *r)
{
    struct store_script *sc = arg;
    size_t len;
    const char *sha = st == STORE_OK ? store_reply_str(r, &len) : NULL;
    if (store_reply_type(r) == STORE_R_STRING && sha != NULL && len == sizeof sc->sha - 1)
        memcpy(sc->sha, sha, sizeof sc->sha);
}

static void script_load(struct conn *c, struct store_script *sc)
{
    send_internal(c, on_script_loaded, sc, "SCRIPT LOAD %b", sc->src, sc->len);
}

/* ---- link ---- */

static void set_metric(struct metric *m, double v)
{
    if (m)
        metric_set(m, v);
}

static void notify(struct store *s, bool up)
{
    s->up = up;
    set_metric(s->m.up, up ? 1 : 0);
    if (s->state_fn == NULL || s->freeing)
        return;
    s->cb_depth++;
    s->state_fn(s->state_arg, up);
    s->cb_depth--;
}

/* A connection went up or down: standalone, that is the store's state;
 * in a cluster the store is up while every slot's master is. */
static void conn_changed(struct conn *c, bool up)
{
    struct store *s = c->s;
    if (!s->cluster) {
        notify(s, up);
        return;
    }
    if (up)
        retry_kick(s);
    if (!up || !s->have_map || s->searching)
        refresh_map(s);                  /* lost: a failover may be under way */
    cluster_update(s);
}

/* Leave the UP state (if in it) for `next`, telling the state callback. */
static void link_leave(struct conn *c, enum link next, const char *reason)
{
    bool was_up = c->link == LINK_UP;
    c->link = next;
    if (!was_up)
        return;
    char q[256];
    if (!c->s->freeing)
        log_warn(c->s->lg, "redis_down", "url=%s reason=%s", c->name,
                 log_quote(q, sizeof q, reason));
    conn_changed(c, false);
}

static void link_up(struct conn *c)
{
    /* The dead connections killed in this handshake can run nothing more. */
    c->nfence -= c->fences_sent;
    memmove(c->fence[0], c->fence[c->fences_sent], c->nfence * sizeof c->fence[0]);
    c->fences_sent = 0;
    c->link = LINK_UP;
    c->backoff_ms = c->s->backoff_min_ms;
    c->failures = 0;
    log_info(c->s->lg, "redis_up", "url=%s rtt_us=%llu", c->name,
             (unsigned long long)c->last_rtt_us);
    conn_changed(c, true);
}

/* In a cluster, a connection is kept (re)connecting while its node
 * serves slots, or while the store looks for any node to ask. */
static bool conn_wanted(const struct conn *c)
{
    const struct store *s = c->s;
    return !s->cluster || c->master || c->asked || s->searching || (c->seed && !s->have_map);
}

static void schedule_reconnect(struct conn *c)
{
    if (c->s->freeing || !conn_wanted(c))
        return;
    struct timeval tv = ms_tv(c->backoff_ms);
    evtimer_add(c->reconnect_ev, &tv);
    c->backoff_ms = c->backoff_ms >= c->s->backoff_max_ms / 2 ? c->s->backoff_max_ms
                                                              : c->backoff_ms * 2;
}

/* A connection attempt failed: warn once per outage, then stay quiet. */
static void note_failure(struct conn *c, const char *why)
{
    char q[256];
    log_write(c->s->lg, c->failures == 0 ? LOG_WARN : LOG_DEBUG, "redis_connect_failed",
              "url=%s reason=%s retry_ms=%d", c->name, log_quote(q, sizeof q, why),
              c->backoff_ms);
    c->failures++;
}

static void connect_failed(struct conn *c, const char *why)
{
    note_failure(c, why);
    c->link = LINK_IDLE;
    schedule_reconnect(c);
}

/* Tear the connection down ourselves. A connected context reports back
 * through on_disconnect (possibly later, when called from a hiredis
 * callback); a connecting one never does, so finish that here. */
static void link_drop(struct conn *c, const char *reason)
{
    redisAsyncContext *ac = c->ac;
    if (ac == NULL || c->link == LINK_DYING)
        return;
    bool connected = (ac->c.flags & REDIS_CONNECTED) != 0;
    if (c->link != LINK_UP)
        note_failure(c, reason);
    link_leave(c, LINK_DYING, reason);
    if (connected) {
        redisAsyncFree(ac);
        return;
    }
    c->ac = NULL;
    redisAsyncFree(ac);
    c->link = LINK_IDLE;
    schedule_reconnect(c);
}

/* The connection going away may have left commands that will still run:
 * remember it, so the next handshake kills it (see the top of the file). */
static void fence_note(struct conn *c)
{
    if (c->conn_unknown && c->conn_id[0][0] != '\0') {
        if (c->nfence == FENCE_MAX) {
            log_warn(c->s->lg, "redis_fence_dropped", "id=%s", c->fence[0][0]);
            memmove(c->fence[0], c->fence[1], (FENCE_MAX - 1) * sizeof c->fence[0]);
            c->nfence--;
        }
        memcpy(c->fence[c->nfence++], c->conn_id, sizeof c->conn_id);
    }
    c->conn_unknown = false;
    c->conn_id[0][0] = c->conn_id[1][0] = '\0';
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct conn *c = ac->data;
    fence_note(c);
    c->fences_sent = 0;
    c->ac = NULL;
    c->ping_inflight = false;
    evtimer_del(c->ping_ev);
    const char *why = status == REDIS_OK ? "connection closed" : ac->c.errstr;
    if (c->link == LINK_HANDSHAKE && !c->s->freeing)
        note_failure(c, why);
    link_leave(c, LINK_IDLE, why);
    schedule_reconnect(c);
}

/* "id=7 addr=127.0.0.1:5000 laddr=..." -> conn_id. Without it (Redis
 * before 6.2) this connection cannot be fenced: said once per connect. */
static void on_client_info(void *arg, enum store_status st, const struct store_reply *r)
{
    struct conn *c = arg;
    const char *text = st == STORE_OK ? store_reply_str(r, NULL) : NULL;
    static const char *const names[2] = {"id=", "addr="};
    if (text == NULL || store_reply_type(r) == STORE_R_ERROR) {
        if (st == STORE_OK)
            log_warn(c->s->lg, "redis_no_client_info", "url=%s reply=\"%.80s\"", c->name,
                     text ? text : "?");
        return;
    }
    for (int i = 0; i < 2; i++) {
        const char *p = strstr(text, names[i]);
        size_t n = p ? strcspn(p += strlen(names[i]), " \n") : 0;
        if (n == 0 || n >= sizeof c->conn_id[i])
            return;
        memcpy(c->conn_id[i], p, n);
        c->conn_id[i][n] = '\0';
    }
}

static void on_select(void *arg, enum store_status st, const struct store_reply *r)
{
    struct conn *c = arg;
    if (st != STORE_OK)
        return;                         /* the PING behind it fails too */
    if (store_reply_type(r) == STORE_R_ERROR) {
        char why[200];
        snprintf(why, sizeof why, "SELECT %d: %s", c->ep.db, store_reply_str(r, NULL));
        link_drop(c, why);
        return;
    }
    c->selected = true;
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    struct conn *c = cac->data;
    evtimer_del(c->connect_ev);
    if (status != REDIS_OK) {
        /* hiredis frees the context when this returns. */
        c->ac = NULL;
        connect_failed(c, cac->c.errstr);
        return;
    }
    /* Never free the context in here: hiredis touches it on return. An
     * unacknowledged SELECT keeps the link from going up (on_ping). */
    c->link = LINK_HANDSHAKE;
    c->selected = c->ep.db == 0;
    if (!c->selected)
        send_internal(c, on_select, c, "SELECT %d", c->ep.db);
    send_internal(c, on_client_info, c, "CLIENT INFO");
    /* Replies are in order: once the PING is answered these have run. */
    for (size_t i = 0; i < c->nfence; i++)
        send_internal(c, NULL, NULL, "CLIENT KILL ID %s ADDR %s", c->fence[i][0], c->fence[i][1]);
    c->fences_sent = c->nfence;
    for (struct store_script *sc = c->s->scripts; sc != NULL; sc = sc->next)
        script_load(c, sc);
    send_ping(c);
}

static void on_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    if (c->link == LINK_CONNECTING)
        link_drop(c, "connect timeout");
}

static void connect_start(struct conn *c)
{
    redisAsyncContext *ac = c->ep.is_unix ? redisAsyncConnectUnix(c->ep.path)
                                          : redisAsyncConnect(c->ep.host, c->ep.port);
    if (ac == NULL) {
        connect_failed(c, "out of memory");
        return;
    }
    if (ac->err) {
        char why[sizeof ac->c.errstr];
        snprintf(why, sizeof why, "%s", ac->c.errstr);
        redisAsyncFree(ac);
        connect_failed(c, why);
        return;
    }
    ac->data = c;
    redisLibeventAttach(ac, c->s->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    c->ac = ac;
    c->link = LINK_CONNECTING;
    struct timeval tv = ms_tv(c->s->connect_timeout_ms);
    evtimer_add(c->connect_ev, &tv);
}

static void on_reconnect(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    if (c->ac == NULL && !c->s->freeing && conn_wanted(c))
        connect_start(c);
}

/* Connect now if wanted and idle (no context, no reconnect pending). */
static void conn_want(struct conn *c)
{
    if (c->ac == NULL && c->link == LINK_IDLE && conn_wanted(c) &&
        !evtimer_pending(c->reconnect_ev, NULL)) {
        struct timeval tv = {0, 0};
        evtimer_add(c->reconnect_ev, &tv);   /* from the loop: never inside a caller */
    }
}

static void ping_again(struct conn *c, int ms)
{
    struct timeval tv = ms_tv(ms);
    evtimer_add(c->ping_ev, &tv);
}

static void on_ping(void *arg, enum store_status st, const struct store_reply *r)
{
    struct conn *c = arg;
    c->ping_inflight = false;
    if (st == STORE_TIMEOUT) {
        link_drop(c, "ping timeout");
        return;
    }
    if (st != STORE_OK || (c->link != LINK_HANDSHAKE && c->link != LINK_UP))
        return;                         /* the link is going; on_disconnect follows */
    size_t len;
    const char *str = store_reply_str(r, &len);
    if (store_reply_type(r) == STORE_R_STATUS && len == 4 && memcmp(str, "PONG", 4) == 0) {
        c->last_rtt_us = c->s->last_rtt_us = mono_us() - c->ping_t0_us;
        set_metric(c->s->m.ping, (double)c->last_rtt_us / 1e6);
        if (c->link == LINK_HANDSHAKE && !c->selected) {
            link_drop(c, "SELECT was not acknowledged");
            return;
        }
        if (c->link == LINK_HANDSHAKE)
            link_up(c);
        ping_again(c, c->s->ping_interval_ms);
        return;
    }
    /* Connected but not serving (-LOADING while the AOF loads, -BUSY in
     * a long script...): not up; ask again soon. */
    char q[256];
    if (c->link == LINK_UP || c->failures++ == 0)
        log_warn(c->s->lg, "redis_not_ready", "url=%s reply=%s", c->name,
                 log_quote(q, sizeof q, str ? str : "?"));
    link_leave(c, LINK_HANDSHAKE, str ? str : "bad PING reply");
    ping_again(c, c->s->backoff_min_ms);
}

static void send_ping(struct conn *c)
{
    if (c->ping_inflight || !can_send(c, true))
        return;
    struct op *op = op_new(c->s, on_ping, c, true);
    if (op == NULL) {
        ping_again(c, c->s->backoff_min_ms);
        return;
    }
    c->ping_t0_us = op->t0_us;
    c->ping_inflight = true;
    op->c = c;
    if (redisAsyncCommand(c->ac, on_reply, op, "PING") == REDIS_OK)
        op_sent(c->s, op, 1);
    else
        fail_later(c->s, op);
}

static void on_ping_timer(evutil_socket_t fd, short what, void *arg)
{
    send_ping(arg);
}

static struct conn *conn_new(struct store *s, const struct endpoint *ep)
{
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->s = s;
    c->ep = *ep;
    c->backoff_ms = s->backoff_min_ms;
    if (s->cluster)
        snprintf(c->name, sizeof c->name, "%s:%d", ep->host, ep->port);
    else
        snprintf(c->name, sizeof c->name, "%s", s->url);
    c->connect_ev = evtimer_new(s->base, on_connect_timeout, c);
    c->reconnect_ev = evtimer_new(s->base, on_reconnect, c);
    c->ping_ev = evtimer_new(s->base, on_ping_timer, c);
    if (!c->connect_ev || !c->reconnect_ev || !c->ping_ev) {
        struct event *evs[] = {c->connect_ev, c->reconnect_ev, c->ping_ev};
        for (size_t i = 0; i < 3; i++)
            if (evs[i])
                event_free(evs[i]);
        free(c);
        return NULL;
    }
    return c;
}

/* Free after the context is gone (store_free). */
static void conn_free(struct conn *c)
{
    event_free(c->connect_ev);
    event_free(c->reconnect_ev);
    event_free(c->ping_ev);
    free(c);
}

/* ---- cluster: nodes and the slot map ---- */

/* The node host:port, added (not connected) when `add` and not known. */
static struct conn *node_get(struct store *s, const char *host, int port, bool add)
{
    for (size_t i = 0; i < s->nconns; i++) {
        struct conn *c = s->conns[i];
        if (c->ep.port == port && strcmp(c->ep.host, host) == 0)
            return c;
    }
    struct endpoint ep = {.port = port};
    if (!add || s->nconns == NODES_MAX || strlen(host) >= sizeof ep.host)
        return NULL;
    memcpy(ep.host, host, strlen(host) + 1);
    struct conn *c = conn_new(s, &ep);
    if (c != NULL)
        s->conns[s->nconns++] = c;
    return c;
}

static uint16_t conn_index(const struct store *s, const struct conn *c)
{
    for (size_t i = 0; i < s->nconns; i++) {
        if (s->conns[i] == c)
            return (uint16_t)i;
    }
    return NO_NODE;
}

struct sm_node {
    char host[256];
    int port;
    char addr[ADDR_MAX];     /* host:port */
    bool master;
    int nreplicas;
    unsigned ranges;         /* slot ranges it serves */
};

struct store_slotmap {
    struct sm_node nodes[NODES_MAX];
    size_t n, nmasters;
    uint16_t owner[KEYS_SLOTS];
};

static int sm_node(struct store_slotmap *m, const redisReply *e, const char *asked_host,
                   const char **why)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
        (e->element[0]->type != REDIS_REPLY_STRING && e->element[0]->type != REDIS_REPLY_NIL) ||
        e->element[1]->type != REDIS_REPLY_INTEGER) {
        *why = "a node is not [host, port, ...]";
        return -1;
    }
    /* No endpoint ("", "?" or nil): the host that was asked, its port. */
    const char *host = e->element[0]->type == REDIS_REPLY_STRING ? e->element[0]->str : "";
    if (host[0] == '\0' || strcmp(host, "?") == 0)
        host = asked_host;
    long long port = e->element[1]->integer;
    if (port < 1 || port > 65535 || strlen(host) >= sizeof m->nodes[0].host) {
        *why = "bad node address";
        return -1;
    }
    for (size_t i = 0; i < m->n; i++) {
        if (m->nodes[i].port == port && strcmp(m->nodes[i].host, host) == 0)
            return (int)i;
    }
    if (m->n == NODES_MAX) {
        *why = "too many nodes";
        return -1;
    }
    struct sm_node *n = &m->nodes[m->n];
    memset(n, 0, sizeof *n);
    memcpy(n->host, host, strlen(host) + 1);
    n->port = (int)port;
    snprintf(n->addr, sizeof n->addr, "%s:%d", host, n->port);
    return (int)m->n++;
}

/* One [lo, hi, master, replica...] entry. */
static const char *sm_range(struct store_slotmap *m, const redisReply *e, const char *asked_host)
{
    const char *why = NULL;
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
        e->element[0]->type != REDIS_REPLY_INTEGER || e->element[1]->type != REDIS_REPLY_INTEGER)
        return "an entry is not [start, end, master, ...]";
    long long lo = e->element[0]->integer, hi = e->element[1]->integer;
    if (lo < 0 || hi < lo || hi >= KEYS_SLOTS)
        return "bad slot range";
    int mi = sm_node(m, e->element[2], asked_host, &why);
    if (mi < 0)
        return why;
    struct sm_node *master = &m->nodes[mi];
    if (!master->master)
        m->nmasters++;
    master->master = true;
    master->ranges++;
    for (long long slot = lo; slot <= hi; slot++) {
        if (m->owner[slot] != NO_NODE)
            return "a slot is served twice";
        m->owner[slot] = (uint16_t)mi;
    }
    for (size_t j = 3; j < e->elements; j++) {
        if (sm_node(m, e->element[j], asked_host, &why) < 0)
            return why;
        if (master->ranges == 1)         /* each range repeats the replicas */
            master->nreplicas++;
    }
    return NULL;
}

struct store_slotmap *store_slotmap_parse(const struct store_reply *reply, const char *asked_host,
                                          char *err, size_t errlen)
{
    const redisReply *r = (const redisReply *)reply;
    struct store_slotmap *m = malloc(sizeof *m);
    const char *why = m == NULL ? "out of memory" : NULL;
    if (m != NULL) {
        m->n = m->nmasters = 0;
        for (size_t i = 0; i < KEYS_SLOTS; i++)
            m->owner[i] = NO_NODE;
    }
    if (why == NULL && (r == NULL || r->type != REDIS_REPLY_ARRAY))
        why = r != NULL && r->type == REDIS_REPLY_ERROR ? r->str : "not an array";
    for (size_t i = 0; why == NULL && i < r->elements; i++)
        why = sm_range(m, r->element[i], asked_host ? asked_host : "");
    if (why == NULL)
        return m;
    snprintf(err, errlen, "CLUSTER SLOTS: %s", why);
    free(m);
    return NULL;
}

void store_slotmap_free(struct store_slotmap *m)
{
    free(m);
}

const char *store_slotmap_master(const struct store_slotmap *m, unsigned slot)
{
    if (slot >= KEYS_SLOTS || m->owner[slot] == NO_NODE)
        return NULL;
    return m->nodes[m->owner[slot]].addr;
}

size_t store_slotmap_masters(const struct store_slotmap *m)
{
    return m->nmasters;
}

int store_slotmap_replicas(const struct store_slotmap *m, unsigned slot)
{
    if (slot >= KEYS_SLOTS || m->owner[slot] == NO_NODE)
        return -1;
    return m->nodes[m->owner[slot]].nreplicas;
}

/* Count the slots served by a connection that is up; the store is up
 * while that is all of them. */
static void cluster_update(struct store *s)
{
    if (!s->cluster || s->freeing)
        return;
    unsigned up = 0, masters = 0;
    for (size_t i = 0; s->have_map && i < KEYS_SLOTS; i++)
        up += s->owner[i] != NO_NODE && s->conns[s->owner[i]]->link == LINK_UP;
    for (size_t i = 0; i < s->nconns; i++)
        masters += s->conns[i]->master;
    s->slots_up = up;
    set_metric(s->m.slots, up);
    set_metric(s->m.masters, masters);
    bool all = s->have_map && up == KEYS_SLOTS;
    if (all != s->up) {
        log_write(s->lg, all ? LOG_INFO : LOG_WARN, all ? "redis_cluster_up" : "redis_cluster_down",
                  "slots_up=%u masters=%u", up, masters);
        notify(s, all);
    }
}

static void map_patch(struct store *s, unsigned slot, struct conn *c)
{
    uint16_t i = c ? conn_index(s, c) : NO_NODE;
    if (i == NO_NODE || s->owner == NULL)
        return;
    s->owner[slot] = i;
    c->master = true;
    conn_want(c);
    cluster_update(s);
}

/* Take a parsed map: nodes by address, masters wanted, the others let go
 * (not reconnected when lost); a master that was a replica before is a
 * failover seen. */
static void map_apply(struct store *s, const struct store_slotmap *m)
{
    uint16_t idx[NODES_MAX];
    bool was_replica[NODES_MAX] = {false};
    for (size_t i = 0; i < s->nconns; i++)
        was_replica[i] = s->conns[i]->was_replica;
    for (size_t i = 0; i < m->n; i++) {
        struct conn *c = node_get(s, m->nodes[i].host, m->nodes[i].port, true);
        idx[i] = c ? conn_index(s, c) : NO_NODE;
    }
    for (size_t i = 0; i < s->nconns; i++) {
        struct conn *c = s->conns[i];
        c->master = c->was_replica = false;
        c->nslots = 0;
        c->nreplicas = 0;
    }
    for (size_t i = 0; i < m->n; i++) {
        if (idx[i] == NO_NODE)
            continue;
        struct conn *c = s->conns[idx[i]];
        c->master = m->nodes[i].master;
        c->was_replica = !c->master;
        c->nreplicas = m->nodes[i].nreplicas;
        if (c->master && was_replica[idx[i]]) {
            inc(s->m.failovers, &s->st.failovers);
            log_warn(s->lg, "redis_failover_seen", "node=%s", c->name);
        }
    }
    for (size_t slot = 0; slot < KEYS_SLOTS; slot++) {
        uint16_t o = m->owner[slot];
        s->owner[slot] = o == NO_NODE ? NO_NODE : idx[o];
        if (s->owner[slot] != NO_NODE)
            s->conns[s->owner[slot]]->nslots++;
    }
    s->have_map = true;
    s->searching = false;
    for (size_t i = 0; i < s->nconns; i++)
        conn_want(s->conns[i]);
    cluster_update(s);
    retry_kick(s);
}

static void on_slots(void *arg, enum store_status st, const struct store_reply *r)
{
    struct conn *c = arg;
    struct store *s = c->s;
    char err[256] = "no reply";
    s->refreshing = false;
    struct store_slotmap *m = st == STORE_OK ? store_slotmap_parse(r, c->ep.host, err, sizeof err)
                                             : NULL;
    if (m != NULL) {
        map_apply(s, m);
        store_slotmap_free(m);
    } else if (!s->freeing) {
        char q[300];
        log_warn(s->lg, "redis_slots_failed", "node=%s reason=%s", c->name,
                 log_quote(q, sizeof q, err));
    }
}

/* Ask a connection that is up (a master's first) for CLUSTER SLOTS, at
 * most every REFRESH_MIN_MS; with none up, want every node known. */
static void refresh_map(struct store *s)
{
    if (!s->cluster || s->freeing || s->refreshing)
        return;
    uint64_t now = mono_us(), min_us = REFRESH_MIN_MS * 1000u;
    if (s->refreshed_us != 0 && now - s->refreshed_us < min_us) {
        struct timeval tv = us_tv(min_us - (now - s->refreshed_us));
        evtimer_add(s->refresh_ev, &tv);
        return;
    }
    struct conn *c = NULL;
    for (size_t i = 0; i < s->nconns && c == NULL; i++)
        c = s->conns[i]->master && can_send(s->conns[i], true) ? s->conns[i] : NULL;
    for (size_t i = 0; i < s->nconns && c == NULL; i++)
        c = can_send(s->conns[i], true) ? s->conns[i] : NULL;
    if (c == NULL) {
        s->searching = true;
        for (size_t i = 0; i < s->nconns; i++)
            conn_want(s->conns[i]);
        return;                          /* the first connection up asks */
    }
    s->refreshing = true;
    s->refreshed_us = now;
    send_internal(c, on_slots, c, "CLUSTER SLOTS");
}

/* Periodic refresh: every REFRESH_MS, every 200 ms while not all slots
 * are up (a failover is being waited for). */
static void on_refresh_timer(evutil_socket_t fd, short what, void *arg)
{
    struct store *s = arg;
    refresh_map(s);
    struct timeval tv = ms_tv(s->up ? REFRESH_MS : 2 * REFRESH_MIN_MS);
    evtimer_add(s->refresh_ev, &tv);
}

/* ---- lifecycle ---- */

static int opt_or(int v, int dflt)
{
    return v > 0 ? v : dflt;
}

static int store_connect(struct store *s, const char *url, char *err, size_t errlen)
{
    struct endpoint eps[NODES_MAX];
    int n = 1;
    if (strncmp(url, "redis-cluster://", 16) == 0) {
        if ((n = parse_cluster_url(url, eps, NODES_MAX, err, errlen)) < 0)
            return -1;
        s->cluster = true;
        s->owner = malloc(KEYS_SLOTS * sizeof *s->owner);
        s->retry_ev = evtimer_new(s->base, on_retry, s);
        s->refresh_ev = evtimer_new(s->base, on_refresh_timer, s);
        if (s->owner == NULL || s->retry_ev == NULL || s->refresh_ev == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        for (size_t i = 0; i < KEYS_SLOTS; i++)
            s->owner[i] = NO_NODE;
        struct timeval tv = ms_tv(2 * REFRESH_MIN_MS);
        evtimer_add(s->refresh_ev, &tv);
    } else if (parse_url(url, &eps[0], err, errlen) != 0) {
        return -1;
    }
    for (int i = 0; i < n; i++) {
        struct conn *c = s->cluster ? node_get(s, eps[i].host, eps[i].port, true)
                                    : (s->conns[s->nconns] = conn_new(s, &eps[0]));
        if (c == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        s->nconns += !s->cluster;
        c->seed = true;
    }
    for (size_t i = 0; i < s->nconns; i++)
        connect_start(s->conns[i]);
    return 0;
}

struct store *store_new(struct event_base *base, const struct store_opts *opts,
                        const struct log *lg, char *err, size_t errlen)
{
    struct store *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->base = base;
    s->lg = lg;
    snprintf(s->url, sizeof s->url, "%s", opts->url ? opts->url : "");
    s->timeout_ms = opt_or(opts->timeout_ms, 2000);
    s->connect_timeout_ms = opt_or(opts->connect_timeout_ms, 1000);
    s->backoff_min_ms = opt_or(opts->backoff_min_ms, 50);
    s->backoff_max_ms = opt_or(opts->backoff_max_ms, 2000);
    if (s->backoff_max_ms < s->backoff_min_ms)
        s->backoff_max_ms = s->backoff_min_ms;
    s->ping_interval_ms = opt_or(opts->ping_interval_ms, 1000);
    s->wait_replicas = opts->wait_replicas > 0 ? opts->wait_replicas : 0;
    s->wait_timeout_ms = opt_or(opts->wait_timeout_ms, 200);
    s->timeout_ev = evtimer_new(base, on_timeout, s);
    s->failq_ev = event_new(base, -1, 0, on_failq, s);
    if (!s->timeout_ev || !s->failq_ev) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (store_connect(s, opts->url, err, errlen) != 0)
        goto fail;
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
    for (size_t i = 0; i < s->nconns; i++) {
        redisAsyncContext *ac = s->conns[i]->ac;
        s->conns[i]->ac = NULL;
        if (ac != NULL)
            redisAsyncFree(ac);         /* pending ops come back with NULL */
    }
    while (s->fail_head != NULL || s->retry_head != NULL) {   /* callbacks may queue more */
        drain_failq(s);
        if (s->retry_head != NULL)
            on_retry(-1, 0, s);
    }
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
    for (size_t i = 0; i < s->nconns; i++)
        conn_free(s->conns[i]);
    struct event *evs[] = {s->timeout_ev, s->failq_ev, s->retry_ev, s->refresh_ev};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) {
        if (evs[i])
            event_free(evs[i]);
    }
    free(s->owner);
    free(s);
}

void store_set_state_cb(struct store *s, store_state_fn *fn, void *arg)
{
    s->state_fn = fn;
    s->state_arg = arg;
}

bool store_is_up(const struct store *s)
{
    return s->up;
}

uint64_t store_last_rtt_us(const struct store *s)
{
    return s->last_rtt_us;
}

bool store_is_cluster(const struct store *s)
{
    return s->cluster;
}

const struct store_stats *store_get_stats(const struct store *s)
{
    return &s->st;
}

unsigned store_slots_up(const struct store *s)
{
    return s->slots_up;
}

size_t store_nodes(const struct store *s, struct store_node_info *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; s->cluster && i < s->nconns && n < max; i++) {
        const struct conn *c = s->conns[i];
        if (!c->master && !c->was_replica && c->link != LINK_UP)
            continue;                    /* a seed or old node let go */
        struct store_node_info *o = &out[n++];
        snprintf(o->addr, sizeof o->addr, "%s", c->name);
        o->up = c->link == LINK_UP;
        o->master = c->master;
        o->slots = c->nslots;
        o->replicas = c->master ? c->nreplicas : 0;
    }
    return n;
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
    s->m.cross = metrics_series(m, METRIC_COUNTER, "cityd_store_cross_slot_batches_total",
                                "Batches refused or warned about for spanning hash slots", "");
    s->m.waitfail = metrics_series(m, METRIC_COUNTER, "cityd_store_wait_failures_total",
                                   "Writes WAIT did not confirm on redis.wait_replicas replicas",
                                   "");
    if (s->cluster) {
        s->m.slots = metrics_series(m, METRIC_GAUGE, "cityd_store_slots_covered",
                                    "Cluster slots whose master connection is up", "");
        s->m.masters = metrics_series(m, METRIC_GAUGE, "cityd_store_masters",
                                      "Masters in the cluster slot map", "");
        const char *rh = "Cluster redirects followed";
        s->m.moved = metrics_series(m, METRIC_COUNTER, "cityd_store_redirects_total", rh,
                                    "kind=\"moved\"");
        s->m.ask = metrics_series(m, METRIC_COUNTER, "cityd_store_redirects_total", rh,
                                  "kind=\"ask\"");
        s->m.retries = metrics_series(m, METRIC_COUNTER, "cityd_store_retries_total",
                                      "Commands sent again after a wait (no master up, "
                                      "TRYAGAIN, CLUSTERDOWN, LOADING)", "");
        s->m.failovers = metrics_series(m, METRIC_COUNTER, "cityd_store_failovers_total",
                                        "Replicas seen promoted to master", "");
        set_metric(s->m.slots, s->slots_up);
    }
    set_metric(s->m.up, store_is_up(s) ? 1 : 0);
}

/* ---- commands ---- */

/* Send an op (its command or batch given): cluster, keep a copy for
 * resends and route it; standalone, hand it to the connection or fail it. */
static int op_go(struct store *s, struct op *op, const char *cmd, size_t len, const size_t *ends,
                 size_t nb)
{
    if (s->cluster) {
        if (op_keep(op, cmd, len, ends, nb) != 0) {
            op_release(s, op);
            return -1;
        }
        dispatch(s, op);
        return 0;
    }
    struct conn *c = s->conns[0];
    if (!can_send(c, false) || !transmit(s, op, c, cmd, len, ends, nb, op->is_batch))
        fail_later(s, op);
    return 0;
}

/* Hand a protocol-form command to the store, or queue its failure. */
static int send_formatted(struct store *s, store_cb *cb, void *arg, const char *cmd, size_t len)
{
    if (!formatted_ok(cmd, len))
        return -1;
    struct op *op = op_new(s, cb, arg, false);
    if (op == NULL)
        return -1;
    bool writes;
    cmd_route(cmd, len, &op->slot, &writes);
    op->wait = writes && s->wait_replicas > 0;
    op->reads = !writes;
    return op_go(s, op, cmd, len, NULL, 0);
}

int store_cmd_argv(struct store *s, store_cb *cb, void *arg, int argc,
                   const char **argv, const size_t *lens)
{
    if (argc < 1 || argv == NULL || argv[0] == NULL)
        return -1;
    if (cmd_forbidden(argv[0], lens ? lens[0] : strlen(argv[0])))
        return -1;
    char *cmd = NULL;
    int len = redisFormatCommandArgv(&cmd, argc, argv, lens);
    if (len < 0)
        return -1;
    int rc = send_formatted(s, cb, arg, cmd, (size_t)len);
    redisFreeCommand(cmd);
    return rc;
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
    int slot;                /* slot of the keyed commands, -1 none yet */
    bool cross;              /* keyed commands in different slots */
    bool writes;             /* some command writes */
};

struct store_batch *store_batch_new(void)
{
    struct store_batch *b = calloc(1, sizeof(struct store_batch));
    if (b != NULL)
        b->slot = -1;
    return b;
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
    int slot;
    bool writes;
    cmd_route(cmd, len, &slot, &writes);
    b->cross |= slot >= 0 && b->slot >= 0 && slot != b->slot;
    if (b->slot < 0)
        b->slot = slot;
    b->writes |= writes;
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

/* MULTI, the commands, EXEC as one op (one callback, EXEC's reply); b
 * stays the caller's. */
static int batch_send(struct store *s, const struct store_batch *b, store_cb *cb, void *arg)
{
    struct op *op = op_new(s, cb, arg, false);
    if (op == NULL)
        return -1;
    op->is_batch = true;
    op->slot = b->slot;
    op->wait = b->writes && s->wait_replicas > 0;
    return op_go(s, op, b->buf, b->len, b->end, b->n);
}

static int batch_send_scripts(struct store *s, struct store_batch *b, store_cb *cb, void *arg);

/* A batch whose keys span slots cannot run on a cluster (CROSSSLOT): a
 * programming error, refused there and counted and logged everywhere so
 * that tests on a single Redis catch it too. */
static bool batch_cross_slot(struct store *s, const struct store_batch *b)
{
    if (!b->cross)
        return false;
    inc(s->m.cross, &s->st.cross_slot);
    log_error(s->lg, "store_cross_slot_batch", "commands=%zu refused=%s", b->n,
              s->cluster ? "yes" : "no");
    return s->cluster;
}

int store_batch_send(struct store *s, struct store_batch *b, store_cb *cb, void *arg)
{
    if (b == NULL)
        return -1;
    if (batch_cross_slot(s, b)) {
        store_batch_free(b);
        return -1;
    }
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
    for (size_t i = 0; i < s->nconns; i++) {
        struct conn *c = s->conns[i];
        if (c->link == LINK_HANDSHAKE || c->link == LINK_UP)
            script_load(c, sc);         /* else the next handshake loads it */
    }
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

struct store_reply *store_reply_parse(const char *resp, size_t len)
{
    redisReader *rd = redisReaderCreate();
    void *r = NULL;
    if (rd != NULL && redisReaderFeed(rd, resp, len) == REDIS_OK &&
        redisReaderGetReply(rd, &r) == REDIS_OK && r != NULL && rd->len != rd->pos) {
        freeReplyObject(r);              /* more than one reply */
        r = NULL;
    }
    if (rd != NULL)
        redisReaderFree(rd);
    return r;
}

void store_reply_free(struct store_reply *r)
{
    if (r != NULL)
        freeReplyObject(r);
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
