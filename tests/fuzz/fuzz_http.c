/* fuzz_http.c -- libFuzzer harness for the HTTP API: request bodies of
 * every write endpoint and the query strings of the read endpoints, as
 * the real server parses and validates them.
 *
 * The server is the real one, in process: server_start() with the demo
 * map (maps/yantai, its GTFS feed), an embedded redis-server of its own
 * in a temp dir, and the keys of fuzz_keys[] below. The harness is its
 * client on a loopback connection, driven from the server's own event
 * loop (the client socket is one more event in the base), so one request
 * costs a loop turn or two plus Redis, not a thread switch or a timer.
 *
 * Input: up to MAX_REQS requests separated by FUZZ_SEP (util.h), so that
 * one input can enter a car, let it out and pay. Each request is one
 * selector byte and a payload. The selector's low 7 bits pick an entry of
 * ENDPOINTS (modulo their number); a "{}" in its path is replaced by the
 * payload's first line, percent-encoded, and the rest of the payload is
 * the JSON or protobuf body (writes) or the query string (reads: bytes
 * that cannot be in a request line are percent-encoded; with the
 * selector's high bit set only space, CR, LF and '#' are, so that raw
 * UTF-8 and bad escapes reach the server's own checks). In a payload,
 * "$NOW" becomes the current epoch second and "$AGO" the one an hour
 * before (so that a seed's timestamps stay inside the server's
 * plausibility windows), "$SID" the last parking session id, "$PLAN"
 * the last corridor plan id and "$TOKEN" the last kiosk token the server
 * answered.
 *
 * What must hold for any input (else abort: a crash for libFuzzer):
 *   - an answer within REPLY_TIMEOUT_S (no hang, no lost request);
 *   - never a 500 (api.md §1: a client's bytes are 4xx or served);
 *   - every JSON answer parses; every error is {"error":{"code","message"}}
 *     with string code and message and a JSON content type;
 *   - what a write accepted can be read back under the same rules (the
 *     endpoint's `then`): a stored value must never break a public read;
 * and ASan, UBSan and LeakSanitizer find nothing. */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "config.h"
#include "http.h"
#include "server.h"
#include "util.h"

#define MAX_REQS 4
#define REPLY_TIMEOUT_S 30        /* > server.request_timeout_ms: the server answers first */
#define READY_TIMEOUT_S 60
#define ADMIN_KEY "fz-admin"
#define KIOSK_KEY "fz-kiosk"

enum kind { BODY_JSON, BODY_PB, QUERY };

struct endpoint {
    const char *method;
    const char *path;             /* "{}": the payload's first line */
    enum kind kind;
    const char *key;
    const char *then;             /* after a 2xx: read back what was written
                                     (same "{}"), which must be served too */
};

/* Every route of api_*.c that reads a body or a query string, with ids of
 * the demo city so that parsing is not cut short by a 404. */
static const struct endpoint ENDPOINTS[] = {
    {"POST", "/v1/parking/observations", BODY_JSON, ADMIN_KEY,
     "/v1/parking/lots?bbox=-180,-90,180,90"},
    {"PUT", "/v1/parking/lots/{}", BODY_JSON, ADMIN_KEY, "/v1/parking/lots/{}/bays"},
    {"POST", "/v1/parking/lots/{}/entries", BODY_JSON, ADMIN_KEY, "/v1/parking/lots/{}"},
    {"POST", "/v1/parking/lots/{}/exits", BODY_JSON, ADMIN_KEY, "/v1/parking/lots/{}"},
    {"PUT", "/v1/parking/accounts/{}", BODY_JSON, ADMIN_KEY, "/v1/parking/sessions?plate={}"},
    {"POST", "/v1/parking/sessions/{}/payments", BODY_JSON, ADMIN_KEY, NULL},
    {"POST", "/v1/signals/webster", BODY_JSON, ADMIN_KEY, NULL},
    {"POST", "/v1/signals/greenwave", BODY_JSON, ADMIN_KEY, NULL},
    {"POST", "/v1/signals/corridors/{}/greenwave", BODY_JSON, ADMIN_KEY,
     "/v1/signals/corridors/{}/time-space.svg?plan=$PLAN"},
    {"PUT", "/v1/signals/corridors/{}/plan", BODY_JSON, ADMIN_KEY,
     "/v1/signals/corridors/{}/time-space.svg"},
    {"POST", "/v1/signals/intersections/{}/counts", BODY_JSON, ADMIN_KEY,
     "/v1/signals/intersections/{}/timing"},
    {"PUT", "/v1/signals/intersections/{}/mode", BODY_JSON, ADMIN_KEY,
     "/v1/signals/intersections/{}/spat"},
    {"POST", "/v1/transit/vehicle-positions", BODY_JSON, ADMIN_KEY, "/v1/transit/trip-updates"},
    {"POST", "/v1/transit/vehicle-positions", BODY_PB, ADMIN_KEY,
     "/v1/transit/vehicles?lon=121.4&lat=37.5&radius_m=50000"},
    {"GET", "/v1/parking/nearest", QUERY, ADMIN_KEY, NULL},
    {"GET", "/v1/parking/lots", QUERY, ADMIN_KEY, NULL},
    {"GET", "/v1/parking/lots/{}", QUERY, ADMIN_KEY, NULL},
    {"GET", "/v1/parking/lots/{}/bays", QUERY, ADMIN_KEY, NULL},
    {"GET", "/v1/parking/screens/{}", QUERY, ADMIN_KEY, NULL},
    {"GET", "/v1/parking/sessions", QUERY, ADMIN_KEY, NULL},
    {"GET", "/v1/parking/find-car", QUERY, KIOSK_KEY, NULL},
    {"GET", "/v1/transit/vehicles", QUERY, ADMIN_KEY, NULL},
    {"GET", "/v1/transit/vehicles/{}", QUERY, ADMIN_KEY, NULL},
    {"GET", "/v1/transit/stops/nearest", QUERY, ADMIN_KEY, NULL},
    {"GET", "/v1/transit/stops/{}/arrivals", QUERY, ADMIN_KEY, NULL},
    {"GET", "/v1/transit/trip-updates", QUERY, ADMIN_KEY, NULL},
    {"GET", "/v1/signals/corridors", QUERY, ADMIN_KEY, NULL},
    {"GET", "/v1/signals/corridors/{}", QUERY, ADMIN_KEY, NULL},
    {"GET", "/v1/signals/corridors/{}/plan", QUERY, ADMIN_KEY, NULL},
    {"GET", "/v1/signals/corridors/{}/time-space.svg", QUERY, ADMIN_KEY, NULL},
    {"GET", "/v1/signals/intersections/{}/counts", QUERY, ADMIN_KEY, NULL},
    {"GET", "/v1/signals/intersections/{}/timing", QUERY, ADMIN_KEY, NULL},
    {"GET", "/v1/signals/intersections/{}/spat", QUERY, ADMIN_KEY, NULL},
    {"GET", "/v1/signals/advisory", QUERY, ADMIN_KEY, NULL},
    {"GET", "/v1/health", QUERY, NULL, NULL},
    {"GET", "/v1/parking/kiosks/{}/token", QUERY, KIOSK_KEY, NULL},
    {"GET", "/v1/parking/find-car", QUERY, NULL, NULL},     /* with token=$TOKEN */
    /* the city at a glance and the lists (api_city.c, api_lists.c), from 37 */
    {"POST", "/v1/transit/fares", BODY_JSON, ADMIN_KEY, "/v1/city"},
    {"GET", "/v1/city", QUERY, NULL, NULL},
    {"GET", "/v1/transit/signs", QUERY, NULL, NULL},
    {"GET", "/v1/transit/stops", QUERY, NULL, NULL},
    {"GET", "/v1/transit/stops/{}", QUERY, NULL, NULL},
    {"GET", "/v1/transit/routes", QUERY, NULL, NULL},
    {"GET", "/v1/transit/routes/{}", QUERY, NULL, NULL},
    {"GET", "/v1/signals/intersections", QUERY, NULL, NULL},
    {"GET", "/v1/signals/intersections/{}", QUERY, NULL, NULL},
};
#define NENDPOINTS (sizeof ENDPOINTS / sizeof *ENDPOINTS)

/* ---- the server and the client connection (harness-wide: libFuzzer
 * calls LLVMFuzzerTestOneInput with nothing else) ---- */

struct buf {
    char *p;
    size_t len, cap;
};

struct reply {
    int status;
    bool close;                   /* Connection: close */
    char ctype[128];
    char *body;                   /* malloc'd, NUL-terminated */
    size_t len;
};

struct client {
    int fd;
    struct event *rd, *wr, *timeout;
    struct buf out;               /* request bytes not yet written */
    size_t out_pos;
    struct buf in;                /* response bytes read */
    struct reply *reply;          /* filled once the answer is complete */
    bool done, eof, timed_out;
};

static struct app A;
static struct client C = {.fd = -1};
static char last_sid[64], last_plan[64], last_token[128];

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_http: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

static void buf_add(struct buf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (q == NULL)
            fail("out of memory", NULL);
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_addf(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

/* ---- parsing the response: status, headers, Content-Length or chunked ---- */

static const char *header(const char *head, const char *name, char *val, size_t vlen)
{
    size_t n = strlen(name);
    for (const char *l = strstr(head, "\r\n"); l != NULL; l = strstr(l + 2, "\r\n")) {
        const char *h = l + 2;
        if (strncasecmp(h, name, n) == 0 && h[n] == ':') {
            h += n + 1;
            while (*h == ' ')
                h++;
            size_t k = strcspn(h, "\r");
            snprintf(val, vlen, "%.*s", (int)k, h);
            return val;
        }
    }
    return NULL;
}

/* Decode a chunked body in place. Returns its length, or -1 while
 * incomplete. */
static long dechunk(const char *p, size_t n, struct buf *out)
{
    size_t i = 0;
    out->len = 0;
    for (;;) {
        const char *crlf = memmem(p + i, n - i, "\r\n", 2);
        if (crlf == NULL)
            return -1;
        size_t sz = strtoul(p + i, NULL, 16);
        i = (size_t)(crlf - p) + 2;
        if (sz == 0)
            return memmem(p + i, n - i, "\r\n", 2) ? (long)out->len : -1;
        if (n - i < sz + 2)
            return -1;
        buf_add(out, p + i, sz);
        i += sz + 2;
    }
}

/* Is the response in C.in complete? Fills *out only when it is. */
static bool parse_reply(struct reply *out)
{
    char *end = C.in.p ? strstr(C.in.p, "\r\n\r\n") : NULL;
    if (end == NULL)
        return false;
    size_t head_len = (size_t)(end - C.in.p) + 4;
    char *head = strndup(C.in.p, head_len - 2);
    char val[128];
    struct buf body = {0};
    struct reply r = {0};
    bool complete = false;
    if (head == NULL)
        fail("out of memory", NULL);
    r.status = atoi(head + strcspn(head, " "));
    if (header(head, "Content-Type", val, sizeof val))
        snprintf(r.ctype, sizeof r.ctype, "%s", val);
    r.close = header(head, "Connection", val, sizeof val) && strcasecmp(val, "close") == 0;
    if (header(head, "Transfer-Encoding", val, sizeof val) && strcasecmp(val, "chunked") == 0) {
        complete = dechunk(C.in.p + head_len, C.in.len - head_len, &body) >= 0;
    } else if (header(head, "Content-Length", val, sizeof val)) {
        size_t cl = strtoul(val, NULL, 10);
        if (C.in.len - head_len >= cl) {
            buf_add(&body, C.in.p + head_len, cl);
            complete = true;
        }
    } else {
        complete = C.eof;         /* delimited by the close */
        buf_add(&body, C.in.p + head_len, C.in.len - head_len);
    }
    free(head);
    if (!complete) {
        free(body.p);
        return false;
    }
    if (body.p == NULL)
        buf_add(&body, "", 0);
    r.body = body.p;
    r.len = body.len;
    *out = r;
    return true;
}

/* ---- the client's events, on the server's loop ---- */

static void client_close(void)
{
    if (C.fd < 0)
        return;
    event_free(C.rd);
    event_free(C.wr);
    close(C.fd);
    C.fd = -1;
    C.rd = C.wr = NULL;
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    (void)arg;
    while (C.out_pos < C.out.len) {
        ssize_t n = send(fd, C.out.p + C.out_pos, C.out.len - C.out_pos, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;                   /* EV_PERSIST: called again when writable */
        if (n <= 0) {                 /* the server closed early (e.g. 413) */
            C.out_pos = C.out.len;
            break;
        }
        C.out_pos += (size_t)n;
    }
    event_del(C.wr);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    char tmp[16384];
    (void)what;
    (void)arg;
    for (;;) {
        ssize_t n = recv(fd, tmp, sizeof tmp, 0);
        if (n > 0) {
            buf_add(&C.in, tmp, (size_t)n);
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR))
            C.eof = true;
        break;
    }
    if (!C.done && (parse_reply(C.reply) || C.eof)) {
        C.done = true;
        event_base_loopbreak(A.base);
    }
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    C.timed_out = true;
    event_base_loopbreak(A.base);
}

static void client_connect(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(
                                 (uint16_t)http_server_port(A.http))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    C.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (C.fd < 0)
        fail("socket", strerror(errno));
    setsockopt(C.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(C.fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS)
        fail("connect", strerror(errno));
    C.rd = event_new(A.base, C.fd, EV_READ | EV_PERSIST, on_readable, NULL);
    C.wr = event_new(A.base, C.fd, EV_WRITE | EV_PERSIST, on_writable, NULL);
    if (C.rd == NULL || C.wr == NULL)
        fail("out of memory", NULL);
}

/* Send one request (raw bytes in req) and run the loop until its answer. */
static void roundtrip(const struct buf *req, struct reply *r)
{
    if (C.fd < 0)
        client_connect();
    memset(r, 0, sizeof *r);
    C.reply = r;
    C.out.len = 0;
    buf_add(&C.out, req->p, req->len);
    C.out_pos = 0;
    C.in.len = 0;
    C.done = C.eof = C.timed_out = false;
    struct timeval tv = {REPLY_TIMEOUT_S, 0};
    event_add(C.rd, NULL);
    event_add(C.wr, NULL);
    event_add(C.timeout, &tv);
    while (!C.done && !C.timed_out)
        event_base_loop(A.base, 0);
    event_del(C.timeout);
    if (C.timed_out)
        fail("no answer within the time limit", req->p);
    if (r->body == NULL)          /* closed before a complete answer */
        r->close = true;
    C.reply = NULL;
    if (r->close || C.eof)
        client_close();
    else
        event_del(C.rd);
}

/* ---- building requests ---- */

static void pct(struct buf *b, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF";
    char e[3] = {'%', hex[c >> 4], hex[c & 15]};
    buf_add(b, e, 3);
}

/* A path segment: everything but unreserved characters encoded. */
static void add_segment(struct buf *b, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~')
            buf_add(b, &c, 1);
        else
            pct(b, c);
    }
}

/* A query string: what cannot be in a request line is encoded; raw keeps
 * the rest (UTF-8, '%' that starts no escape) for the server to judge. */
static void add_query(struct buf *b, const uint8_t *p, size_t n, bool raw)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        bool plain = raw ? (c > ' ' && c != '#' && c != 0x7f) : (c > ' ' && c < 0x7f && c != '#');
        if (plain)
            buf_add(b, &c, 1);
        else
            pct(b, c);
    }
}

/* Payload with $NOW, $SID and $PLAN replaced. */
static void expand(struct buf *out, const uint8_t *p, size_t n)
{
    char now[32], ago[32];
    snprintf(now, sizeof now, "%lld", (long long)time(NULL));
    snprintf(ago, sizeof ago, "%lld", (long long)time(NULL) - 3600);
    const struct {
        const char *tok, *val;
    } subs[] = {{"$NOW", now}, {"$AGO", ago}, {"$SID", last_sid}, {"$PLAN", last_plan},
                {"$TOKEN", last_token}};
    out->len = 0;
    buf_add(out, "", 0);
    for (size_t i = 0; i < n;) {
        size_t k = 0;
        for (; k < sizeof subs / sizeof *subs; k++) {
            size_t tl = strlen(subs[k].tok);
            if (n - i >= tl && memcmp(p + i, subs[k].tok, tl) == 0) {
                buf_addf(out, subs[k].val);
                i += tl;
                break;
            }
        }
        if (k == sizeof subs / sizeof *subs)
            buf_add(out, p + i++, 1);
    }
}

static void build(struct buf *req, const struct endpoint *e, bool raw, const char *pl,
                  size_t n)
{
    const char *brace = strstr(e->path, "{}");
    const char *rest = pl;
    size_t rest_n = n;
    req->len = 0;
    buf_addf(req, e->method);
    buf_addf(req, " ");
    if (brace != NULL) {
        const char *nl = memchr(pl, '\n', n);
        size_t seg = nl ? (size_t)(nl - pl) : n;
        buf_add(req, e->path, (size_t)(brace - e->path));
        add_segment(req, (const uint8_t *)pl, seg);
        buf_addf(req, brace + 2);
        rest = nl ? nl + 1 : pl + n;
        rest_n = n - (size_t)(rest - pl);
    } else {
        buf_addf(req, e->path);
    }
    if (e->kind == QUERY && rest_n > 0) {
        buf_addf(req, "?");
        add_query(req, (const uint8_t *)rest, rest_n, raw);
    }
    buf_addf(req, " HTTP/1.1\r\nHost: fuzz\r\n");
    if (e->key != NULL) {
        buf_addf(req, "Authorization: Bearer ");
        buf_addf(req, e->key);
        buf_addf(req, "\r\n");
    }
    if (e->kind != QUERY) {
        char cl[64];
        buf_addf(req, e->kind == BODY_PB ? "Content-Type: application/x-protobuf\r\n"
                                         : "Content-Type: application/json\r\n");
        snprintf(cl, sizeof cl, "Content-Length: %zu\r\n\r\n", rest_n);
        buf_addf(req, cl);
        buf_add(req, rest, rest_n);
    } else {
        buf_addf(req, "\r\n");
    }
}

/* ---- what every answer must be ---- */

static void remember_ids(const struct endpoint *e, json_t *j)
{
    const char *sid = json_string_value(json_object_get(json_object_get(j, "session"), "id"));
    if (sid != NULL)
        snprintf(last_sid, sizeof last_sid, "%s", sid);
    const char *plan = json_string_value(json_object_get(j, "id"));
    if (plan != NULL && strstr(e->path, "/greenwave") != NULL)
        snprintf(last_plan, sizeof last_plan, "%s", plan);
    const char *token = json_string_value(json_object_get(j, "token"));
    if (token != NULL)
        snprintf(last_token, sizeof last_token, "%s", token);
}

static void check(const struct endpoint *e, const struct buf *req, const struct reply *r)
{
    if (r->status == 0)
        return;                   /* closed without an answer: only after a framing error */
    if (r->status >= 500 && r->status != 503)
        fail("server error", req->p);
    if (strncmp(r->ctype, "application/json", 16) != 0) {
        if (r->status >= 400)
            fail("an error that is not JSON", req->p);
        return;                   /* the SVG, the protobuf feed */
    }
    json_error_t je;
    json_t *j = json_loadb(r->body, r->len, 0, &je);
    if (j == NULL)
        fail("a JSON answer that does not parse", req->p);
    if (r->status >= 400) {
        json_t *err = json_object_get(j, "error");
        if (!json_is_string(json_object_get(err, "code")) ||
            !json_is_string(json_object_get(err, "message")))
            fail("an error body without error.code and error.message", req->p);
    } else {
        remember_ids(e, j);
    }
    json_decref(j);
}

/* ---- set-up ---- */

static void setopt(const char *key, const char *value)
{
    char err[512];
    if (config_set(&A.cfg, key, value, "fuzz", 0, err, sizeof err) != 0)
        fail("config", err);
}

static void teardown(void)
{
    client_close();
    if (C.timeout != NULL)
        event_free(C.timeout);
    server_stop(&A);
    free(C.out.p);
    free(C.in.p);
}

static int probe(const char *path)
{
    struct endpoint e = {"GET", path, QUERY, ADMIN_KEY, NULL};
    struct buf req = {0};
    struct reply r;
    build(&req, &e, false, "", 0);
    roundtrip(&req, &r);
    free(req.p);
    free(r.body);
    return r.status;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Until every module has restored its state from Redis (the probes'
 * endpoints answer 503 before). */
static void wait_ready(void)
{
    static const char *const probes[] = {
        "/v1/health", "/v1/parking/sessions?plate=%E9%B2%81F12345", "/v1/parking/lots",
        "/v1/transit/trip-updates", "/v1/signals/intersections/nd-01/timing"};
    time_t end = time(NULL) + READY_TIMEOUT_S;
    for (size_t i = 0; i < sizeof probes / sizeof *probes;) {
        int status = probe(probes[i]);
        if (status == 200) {
            i++;
            continue;
        }
        if (time(NULL) > end || status != 503) {
            char what[256];
            snprintf(what, sizeof what, "%s answers %d", probes[i], status);
            fail("the server is not ready", what);
        }
        event_base_loop(A.base, EVLOOP_NONBLOCK);
        sleep_ms(20);
    }
}

static void start(void)
{
    const char *dir = fuzz_tmpdir();
    char path[512], err[1024];
    static const char keys[] = ADMIN_KEY " admin fuzz-admin\n" KIOSK_KEY
                               " kiosk fuzz-kiosk lot=yt-zf-0005\n";
    memset(&A, 0, sizeof A);
    log_init(&A.log);
    config_defaults(&A.cfg);
    setopt("server.listen", "127.0.0.1:0");
    setopt("map.dir", "maps/yantai");
    snprintf(path, sizeof path, "%s/redis", dir);
    mkdir(path, 0700);
    setopt("redis.url", "embedded");
    setopt("redis.data_dir", path);
    setopt("redis.appendfsync", "everysec");
    setopt("auth.keys_file", fuzz_write(dir, "keys.conf", keys, sizeof keys - 1));
    setopt("log.level", getenv("FUZZ_HTTP_LOG") ? getenv("FUZZ_HTTP_LOG") : "error");
    if (server_start(&A, err, sizeof err) != 0)
        fail("server_start (run from the repository root)", err);
    C.timeout = evtimer_new(A.base, on_timeout, NULL);
    if (C.timeout == NULL)
        fail("out of memory", NULL);
    atexit(teardown);
    wait_ready();
}

static bool trace;                /* FUZZ_HTTP_TRACE=1: what each request really gets */

/* Send req for e, check the answer; 2xx or not. */
static bool exchange(const struct endpoint *e, const struct buf *req)
{
    struct reply r;
    roundtrip(req, &r);
    if (trace)
        fprintf(stderr, "fuzz_http: %d %.*s -> %.200s\n", r.status,
                (int)strcspn(req->p, "\r"), req->p, r.body ? r.body : "");
    check(e, req, &r);
    free(r.body);
    return r.status >= 200 && r.status < 300;
}

/* Read back what a write stored, with the write's path id ($PLAN too). */
static void read_back(const struct endpoint *e, const struct buf *payload)
{
    const struct endpoint get = {"GET", e->then, QUERY, e->key, NULL};
    size_t seg = strstr(e->then, "{}") != NULL ? strcspn(payload->p, "\n") : 0;
    struct buf req = {0}, expanded = {0};
    build(&req, &get, false, payload->p, seg);
    expand(&expanded, (const uint8_t *)req.p, req.len);
    exchange(&get, &expanded);
    free(req.p);
    free(expanded.p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (A.base == NULL) {
        start();
        trace = getenv("FUZZ_HTTP_TRACE") != NULL;
    }
    struct fuzz_part parts[MAX_REQS];
    size_t n = fuzz_split(data, size, parts, MAX_REQS);
    struct buf payload = {0}, req = {0};
    for (size_t i = 0; i < n; i++) {
        if (parts[i].len == 0)
            continue;
        const struct endpoint *e = &ENDPOINTS[(parts[i].data[0] & 0x7f) % NENDPOINTS];
        bool raw = (parts[i].data[0] & 0x80) != 0;
        expand(&payload, parts[i].data + 1, parts[i].len - 1);
        build(&req, e, raw, payload.p, payload.len);
        if (exchange(e, &req) && e->then != NULL)
            read_back(e, &payload);
    }
    free(payload.p);
    free(req.p);
    return 0;
}
