/* test_http.c -- the HTTP layer, over real HTTP.
 *
 * An in-process server on 127.0.0.1:0 and a libcurl client (or a raw
 * socket, where curl would not send the bytes a test needs), both driven
 * from this one thread: curl_multi and the server's event loop take
 * turns. Handlers therefore run on the test's thread and the test can
 * hold on to a request, reply late, or drop the client in between. */
#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "metrics.h"
#include "support.h"

/* ---- fixture ---- */

struct fx {
    struct event_base *base;
    struct metrics *metrics;
    struct log log;
    FILE *logf;
    struct http_server *h;
    int port;
    char url[64];
    struct http_req *held;          /* kept by the slow handler */
    int held_count;
    struct http_req *stream;        /* open event stream */
    struct event *tick;
    int sent, stream_limit;
    int closes;                     /* on_close calls */
    json_t *reply;                  /* what /reply answers (borrowed) */
};
static struct fx F;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Run the server's loop for about ms milliseconds. */
static void spin(int ms)
{
    double end = now_s() + ms / 1000.0;
    do {
        event_base_loop(F.base, EVLOOP_NONBLOCK);
        poll(NULL, 0, 1);
    } while (now_s() < end);
}

static bool spin_until(bool (*cond)(void), int ms)
{
    double end = now_s() + ms / 1000.0;
    while (!cond() && now_s() < end) {
        event_base_loop(F.base, EVLOOP_NONBLOCK);
        poll(NULL, 0, 1);
    }
    return cond();
}

static void h_echo(struct http_req *r, void *arg)
{
    json_t *o = json_object();
    json_object_set_new(o, "tag", json_string(arg));
    json_object_set_new(o, "path", json_string(http_req_path(r)));
    const char *names[] = {"id", "stop_id"};
    for (size_t i = 0; i < 2; i++) {
        const char *v = http_req_param(r, names[i]);
        if (v != NULL)
            json_object_set_new(o, names[i], json_string(v));
    }
    const char *qs[] = {"q", "flag", "empty"};
    for (size_t i = 0; i < 3; i++) {
        const char *v = http_req_query(r, qs[i]);
        if (v != NULL)
            json_object_set_new(o, qs[i], json_string(v));
    }
    json_object_set_new(o, "role", json_string(role_name(http_req_role(r))));
    if (http_req_key_name(r) != NULL)
        json_object_set_new(o, "key", json_string(http_req_key_name(r)));
    if (http_req_key_lot(r) != NULL)
        json_object_set_new(o, "lot", json_string(http_req_key_lot(r)));
    json_object_set_new(o, "head", json_boolean(http_req_method(r) == HTTP_HEAD));
    http_reply_json(r, 200, o);
}

static void h_json(struct http_req *r, void *arg)
{
    json_t *j = http_req_json(r);
    if (j == NULL)
        return;
    CU_ASSERT_PTR_EQUAL(http_req_json(r), j);   /* parsed once, owned by r */
    http_reply_json(r, 200, json_pack("{s:O}", "got", j));
}

static void h_slow(struct http_req *r, void *arg)
{
    F.held = r;
    F.held_count++;
}

static void h_double(struct http_req *r, void *arg)
{
    http_reply_json(r, 200, json_pack("{s:i}", "n", 1));
    http_reply_error(r, 500, "internal", "second reply");
    http_reply_json(r, 201, json_object());
    http_reply_raw(r, 202, "text/plain", "x", 1);
}

static void h_fixed(struct http_req *r, void *arg)
{
    CU_ASSERT(http_req_method(r) == HTTP_GET || http_req_method(r) == HTTP_HEAD);
    http_reply_json(r, 200, json_pack("{s:s}", "fixed", "body"));
}

static void h_reply(struct http_req *r, void *arg)
{
    http_reply_json(r, 200, json_incref(F.reply));
}

static void h_metrics(struct http_req *r, void *arg)
{
    size_t len;
    char *text = metrics_render(F.metrics, &len);
    http_reply_raw(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

static void on_stream_close(struct http_req *r, void *arg)
{
    CU_ASSERT_PTR_EQUAL(r, F.stream);
    F.closes++;
    F.stream = NULL;
}

static void stream_tick(evutil_socket_t fd, short what, void *arg)
{
    if (F.stream == NULL)
        return;
    char buf[32];
    int n = snprintf(buf, sizeof buf, "data: %d\n\n", ++F.sent);
    http_stream_send(F.stream, buf, (size_t)n);
    if (F.stream_limit > 0 && F.sent >= F.stream_limit) {
        http_stream_end(F.stream);
        F.stream = NULL;
        return;
    }
    struct timeval tv = {0, 20000};
    evtimer_add(F.tick, &tv);
}

static void h_stream(struct http_req *r, void *arg)
{
    F.stream = r;
    F.sent = 0;
    F.stream_limit = arg != NULL ? 3 : 0;     /* NULL arg: until the client goes */
    http_stream_start(r, "text/event-stream", on_stream_close, NULL);
    stream_tick(-1, 0, NULL);
}

static double fx_rate_rps, fx_rate_burst;   /* for the next fx_start_opts */
static int fx_header_ms, fx_auth_fails;     /* 0: 10 s, and 1000 (out of the way) */
static size_t fx_max_conns;

static void fx_start_opts(size_t max_body, int timeout_ms, bool public_read, const char *cors)
{
    memset(&F, 0, sizeof F);
    F.base = event_base_new();
    F.metrics = metrics_new();
    F.logf = tmpfile();
    CU_ASSERT_PTR_NOT_NULL_FATAL(F.base);
    CU_ASSERT_PTR_NOT_NULL_FATAL(F.logf);
    F.log.level = LOG_DEBUG;
    F.log.out = F.logf;
    struct http_opts o = {
        .listen = "127.0.0.1:0", .max_body_bytes = max_body, .request_timeout_ms = timeout_ms,
        .public_read = public_read, .cors_origin = cors,
        .rate_limit_rps = fx_rate_rps, .rate_limit_burst = fx_rate_burst,
        .max_connections = fx_max_conns, .header_timeout_ms = fx_header_ms,
        .auth_fail_limit = fx_auth_fails != 0 ? fx_auth_fails : 1000, .auth_fail_window_s = 60,
    };
    char err[256];
    F.h = http_server_new(F.base, &o, &F.log, F.metrics, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(F.h);
    F.port = http_server_port(F.h);
    CU_ASSERT(F.port > 0);
    snprintf(F.url, sizeof F.url, "http://127.0.0.1:%d", F.port);
    F.tick = evtimer_new(F.base, stream_tick, NULL);

    struct http_server *h = F.h;
    int rc = 0;
    rc |= http_route(h, HTTP_GET, "/v1/parking/lots/{id}", ROLE_READER, true, h_echo, "lot");
    rc |= http_route(h, HTTP_PUT, "/v1/parking/lots/{id}", ROLE_OPERATOR, false, h_json, "put");
    rc |= http_route(h, HTTP_GET, "/v1/transit/stops/{stop_id}", ROLE_READER, true, h_echo,
                     "stop");
    rc |= http_route(h, HTTP_GET, "/v1/transit/stops/nearest", ROLE_READER, true, h_echo,
                     "nearest");
    rc |= http_route(h, HTTP_POST, "/v1/parking/observations", ROLE_SENSOR, false, h_json, "obs");
    rc |= http_route(h, HTTP_POST, "/v1/signals/webster", ROLE_READER, false, h_json, "webster");
    rc |= http_route(h, HTTP_PUT, "/v1/signals/corridors/{id}/plan", ROLE_ENGINEER, false, h_json,
                     "plan");
    rc |= http_route(h, HTTP_DELETE | HTTP_POST, "/v1/admin/thing", ROLE_ADMIN, false, h_echo,
                     "admin");
    rc |= http_route(h, HTTP_GET, "/v1/health", ROLE_NONE, false, h_echo, "health");
    rc |= http_route(h, HTTP_GET, "/", ROLE_NONE, false, h_echo, "root");
    rc |= http_route(h, HTTP_GET, "/slow", ROLE_NONE, false, h_slow, NULL);
    rc |= http_route(h, HTTP_POST, "/slow", ROLE_NONE, false, h_slow, NULL);
    rc |= http_route(h, HTTP_GET, "/double", ROLE_NONE, false, h_double, NULL);
    rc |= http_route(h, HTTP_GET, "/metrics", ROLE_NONE, false, h_metrics, NULL);
    rc |= http_route(h, HTTP_GET, "/fixed", ROLE_NONE, false, h_fixed, NULL);
    rc |= http_route(h, HTTP_GET, "/reply", ROLE_NONE, false, h_reply, NULL);
    rc |= http_route(h, HTTP_GET, "/stream", ROLE_NONE, false, h_stream, "3");
    rc |= http_route(h, HTTP_GET, "/stream/open", ROLE_NONE, false, h_stream, NULL);
    rc |= http_route(h, HTTP_GET, "/v1/parking/accounts/{plate}", ROLE_NONE, false, h_echo,
                     "account");
    rc |= http_route(h, HTTP_GET, "/slow/{plate}", ROLE_NONE, false, h_slow, NULL);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    const enum role roles[] = {ROLE_READER, ROLE_SENSOR, ROLE_OPERATOR, ROLE_ENGINEER,
                               ROLE_ADMIN};
    for (int i = 0; i < 5; i++) {
        char secret[32], name[32];
        snprintf(secret, sizeof secret, "k-%s", role_name(roles[i]));
        snprintf(name, sizeof name, "%s-key", role_name(roles[i]));
        CU_ASSERT_EQUAL(http_add_key(h, secret, roles[i], name), 0);
    }
    CU_ASSERT_EQUAL(http_add_kiosk_key(h, "k-kiosk", "kiosk-key", "lot-1"), 0);
}

static void fx_start(void)
{
    fx_start_opts(1024, 2000, true, NULL);
}

static void fx_stop(void)
{
    if (F.tick != NULL)
        event_free(F.tick);
    http_server_free(F.h);
    metrics_free(F.metrics);
    if (F.base != NULL)
        event_base_free(F.base);
    if (F.logf != NULL)
        fclose(F.logf);
    memset(&F, 0, sizeof F);
}

/* Everything logged so far (malloc'd). */
static char *log_text(void)
{
    fflush(F.logf);
    long n = ftell(F.logf);
    char *s = calloc(1, (size_t)n + 1);
    rewind(F.logf);
    size_t got = fread(s, 1, (size_t)n, F.logf);
    s[got] = '\0';
    fseek(F.logf, 0, SEEK_END);
    return s;
}

/* ---- curl client ---- */

struct resp {
    int rc;                         /* CURLcode */
    long status;
    char body[65536];
    size_t len;
    char hdrs[8192];
    size_t hlen;
    char hv[512];                   /* scratch for hdr() */
    json_t *json;
    double secs;
};

struct req_opts {
    const char *key;
    const char *body;
    long body_len;                  /* -1: strlen */
    bool chunked;
    size_t chunk;                   /* chunk size for chunked uploads */
    const char *const *headers;     /* NULL-terminated */
    int timeout_ms;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct resp *r = arg;
    size_t len = size * n;
    size_t room = sizeof r->body - 1 - r->len;
    memcpy(r->body + r->len, p, len < room ? len : room);
    r->len += len < room ? len : room;
    r->body[r->len] = '\0';
    return len;
}

static size_t on_hdr(char *p, size_t size, size_t n, void *arg)
{
    struct resp *r = arg;
    size_t len = size * n;
    /* A new status line starts a new header block (after 100 Continue). */
    if (len > 5 && strncmp(p, "HTTP/", 5) == 0)
        r->hlen = 0;
    size_t room = sizeof r->hdrs - 1 - r->hlen;
    memcpy(r->hdrs + r->hlen, p, len < room ? len : room);
    r->hlen += len < room ? len : room;
    r->hdrs[r->hlen] = '\0';
    return len;
}

struct upload {
    const char *p;
    size_t left, chunk;
};

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
    struct upload *u = arg;
    size_t k = size * n;
    if (k > u->chunk)
        k = u->chunk;
    if (k > u->left)
        k = u->left;
    memcpy(buf, u->p, k);
    u->p += k;
    u->left -= k;
    return k;
}

/* Value of a response header (first match), or NULL. */
static const char *hdr(struct resp *r, const char *name)
{
    size_t nl = strlen(name);
    for (const char *line = r->hdrs; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = strcspn(v, "\r\n");
            if (vl >= sizeof r->hv)
                vl = sizeof r->hv - 1;
            memcpy(r->hv, v, vl);
            r->hv[vl] = '\0';
            return r->hv;
        }
    }
    return NULL;
}

static const char *err_code(const struct resp *r)
{
    json_t *c = json_object_get(json_object_get(r->json, "error"), "code");
    return json_is_string(c) ? json_string_value(c) : "";
}

static const char *err_msg(const struct resp *r)
{
    json_t *c = json_object_get(json_object_get(r->json, "error"), "message");
    return json_is_string(c) ? json_string_value(c) : "";
}

static const char *jstr(const struct resp *r, const char *field)
{
    json_t *v = json_object_get(r->json, field);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* curl and the server's loop take turns until the transfer ends. */
static int pump(CURL *c, int timeout_ms)
{
    CURLM *m = curl_multi_init();
    curl_multi_add_handle(m, c);
    int running = 1;
    double end = now_s() + timeout_ms / 1000.0 + 1.0;
    while (running && now_s() < end) {
        curl_multi_perform(m, &running);
        if (!running)
            break;
        curl_multi_wait(m, NULL, 0, 1, NULL);
        event_base_loop(F.base, EVLOOP_NONBLOCK);
    }
    int rc = CURLE_OPERATION_TIMEDOUT;
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left)) != NULL) {
        if (msg->msg == CURLMSG_DONE)
            rc = msg->data.result;
    }
    curl_multi_remove_handle(m, c);
    curl_multi_cleanup(m);
    return rc;
}

static void resp_free(struct resp *r)
{
    json_decref(r->json);
    r->json = NULL;
}

static int do_req(const char *method, const char *path, const struct req_opts *o,
                  struct resp *out)
{
    static const struct req_opts none = {.body_len = -1};
    if (o == NULL)
        o = &none;
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    char url[2048], auth[256];
    snprintf(url, sizeof url, "%s%s", F.url, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    struct curl_slist *hl = curl_slist_append(NULL, "Expect:");
    if (o->key != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", o->key);
        hl = curl_slist_append(hl, auth);
    }
    for (const char *const *h = o->headers; h != NULL && *h != NULL; h++)
        hl = curl_slist_append(hl, *h);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    struct upload up = {0};
    if (o->body != NULL) {
        size_t len = o->body_len < 0 ? strlen(o->body) : (size_t)o->body_len;
        if (o->chunked) {
            up = (struct upload){o->body, len, o->chunk ? o->chunk : 512};
            curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(c, CURLOPT_READDATA, &up);
            hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
        } else {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, o->body);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
        }
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_hdr);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    int tmo = o->timeout_ms > 0 ? o->timeout_ms : 5000;
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)tmo);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    double t0 = now_s();
    out->rc = pump(c, tmo);
    out->secs = now_s() - t0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    out->json = json_loadb(out->body, out->len, 0, NULL);
    return out->rc;
}

static int get(const char *path, const char *key, struct resp *out)
{
    struct req_opts o = {.key = key, .body_len = -1};
    return do_req("GET", path, &o, out);
}

static int send_body(const char *method, const char *path, const char *key, const char *body,
                     struct resp *out)
{
    struct req_opts o = {.key = key, .body = body, .body_len = -1};
    return do_req(method, path, &o, out);
}

/* Every error must be the spec's JSON body, with the CORS header. */
static void assert_json_error(struct resp *r, long status, const char *code)
{
    CU_ASSERT_EQUAL(r->rc, 0);
    CU_ASSERT_EQUAL(r->status, status);
    CU_ASSERT_STRING_EQUAL(err_code(r), code);
    CU_ASSERT(strlen(err_msg(r)) > 0);
    const char *ct = hdr(r, "Content-Type");
    CU_ASSERT(ct != NULL && strcmp(ct, "application/json; charset=utf-8") == 0);
    CU_ASSERT_PTR_NOT_NULL(hdr(r, "Access-Control-Allow-Origin"));
    if (r->status != status || strcmp(err_code(r), code) != 0)
        fprintf(stderr, "\n  got %ld %s\n", r->status, r->body);
}

/* ---- raw socket client ---- */

/* rcvbuf > 0 shrinks the client's receive buffer (a slow reader). */
static int raw_open_rcvbuf(int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)F.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static int raw_open(void)
{
    return raw_open_rcvbuf(0);
}

static void raw_send(int fd, const char *p, size_t n)
{
    double end = now_s() + 5;
    while (n > 0 && now_s() < end) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k > 0) {
            p += k;
            n -= (size_t)k;
        } else {
            spin(1);
        }
    }
}

/* Read until the server closes or ms pass; returns the bytes read. */
static size_t raw_recv(int fd, char *buf, size_t cap, int ms)
{
    size_t got = 0;
    double end = now_s() + ms / 1000.0;
    while (got < cap - 1 && now_s() < end) {
        event_base_loop(F.base, EVLOOP_NONBLOCK);
        ssize_t k = recv(fd, buf + got, cap - 1 - got, MSG_DONTWAIT);
        if (k == 0)
            break;
        if (k > 0)
            got += (size_t)k;
        else
            poll(NULL, 0, 1);
    }
    buf[got] = '\0';
    return got;
}

/* The JSON body of a raw response (after the blank line), or NULL. */
static json_t *raw_json(const char *resp)
{
    const char *b = strstr(resp, "\r\n\r\n");
    return b ? json_loads(b + 4, 0, NULL) : NULL;
}

/* Read one whole response from fd: its head, and unless head_only as
 * many body bytes as its Content-Length says. Stops early when the
 * server closes or ms pass. */
static size_t raw_reply(int fd, char *buf, size_t cap, int ms, bool head_only)
{
    size_t got = 0;
    double end = now_s() + ms / 1000.0;
    buf[0] = '\0';
    while (got < cap - 1 && now_s() < end) {
        const char *eoh = strstr(buf, "\r\n\r\n");
        if (eoh != NULL) {
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            size_t body = cl != NULL && cl < eoh && !head_only ? strtoul(cl + 17, NULL, 10) : 0;
            if (got >= (size_t)(eoh + 4 - buf) + body)
                break;
        }
        event_base_loop(F.base, EVLOOP_NONBLOCK);
        ssize_t k = recv(fd, buf + got, cap - 1 - got, MSG_DONTWAIT);
        if (k == 0)
            break;
        if (k > 0) {
            got += (size_t)k;
            buf[got] = '\0';
        } else {
            poll(NULL, 0, 1);
        }
    }
    return got;
}

/* Seconds until the server closed fd (what it sends is read and
 * dropped), or -1 if it is still open after ms. *reset tells whether it
 * ended with a reset rather than an orderly close. */
static double raw_wait_closed(int fd, int ms, bool *reset)
{
    char buf[4096];
    double t0 = now_s();
    *reset = false;
    while (now_s() < t0 + ms / 1000.0) {
        event_base_loop(F.base, EVLOOP_NONBLOCK);
        ssize_t k = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            *reset = k < 0;
            return now_s() - t0;
        }
        if (k < 0)
            poll(NULL, 0, 1);
    }
    return -1;
}

static int raw_status(const char *resp)
{
    return strncmp(resp, "HTTP/1.", 7) == 0 ? atoi(resp + 9) : 0;
}

/* The error code of a raw response's JSON body, or "". */
static const char *raw_code(const char *resp, char *code, size_t len)
{
    json_t *j = raw_json(resp);
    json_t *c = json_object_get(json_object_get(j, "error"), "code");
    snprintf(code, len, "%s", json_is_string(c) ? json_string_value(c) : "");
    json_decref(j);
    return code;
}

/* One request on a fresh connection: the first response in buf, and
 * whether the server then closed the connection within ms. */
static int raw_once(const char *req, char *buf, size_t cap, int ms, bool *closed)
{
    int fd = raw_open();
    bool reset;
    CU_ASSERT_FATAL(fd >= 0);
    raw_send(fd, req, strlen(req));
    raw_reply(fd, buf, cap, ms, strncmp(req, "HEAD ", 5) == 0);
    *closed = raw_wait_closed(fd, ms, &reset) >= 0;
    close(fd);
    return raw_status(buf);
}

/* ---- tests ---- */

static void test_routing_params(void)
{
    fx_start();
    struct resp r;
    get("/v1/parking/lots/yt-zf%2D0001", NULL, &r);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(jstr(&r, "tag"), "lot");
    CU_ASSERT_STRING_EQUAL(jstr(&r, "id"), "yt-zf-0001");
    CU_ASSERT_STRING_EQUAL(jstr(&r, "path"), "/v1/parking/lots/yt-zf%2D0001");
    resp_free(&r);

    /* Percent-decoded UTF-8 in a parameter; query decoding with '+'. */
    get("/v1/parking/lots/%E5%8D%97%E5%A4%A7%E8%A1%97?q=a+b%21&flag&empty=", NULL, &r);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(jstr(&r, "id"), "南大街");
    CU_ASSERT_STRING_EQUAL(jstr(&r, "q"), "a b!");
    CU_ASSERT_STRING_EQUAL(jstr(&r, "flag"), "");
    CU_ASSERT_STRING_EQUAL(jstr(&r, "empty"), "");
    resp_free(&r);

    /* A literal segment beats a parameter, whatever the registration order. */
    get("/v1/transit/stops/nearest", NULL, &r);
    CU_ASSERT_STRING_EQUAL(jstr(&r, "tag"), "nearest");
    CU_ASSERT_PTR_NULL(jstr(&r, "stop_id"));
    resp_free(&r);
    get("/v1/transit/stops/S-17", NULL, &r);
    CU_ASSERT_STRING_EQUAL(jstr(&r, "tag"), "stop");
    CU_ASSERT_STRING_EQUAL(jstr(&r, "stop_id"), "S-17");
    resp_free(&r);
    get("/", NULL, &r);
    CU_ASSERT_STRING_EQUAL(jstr(&r, "tag"), "root");
    resp_free(&r);

    /* Params match exactly one non-empty segment. */
    const char *not_found[] = {"/v1/parking/lots/", "/v1/parking/lots", "/v1/parking/lots/a/b",
                               "/v1/health/", "//v1/health", "/v1/HEALTH",
                               "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t"};
    for (size_t i = 0; i < sizeof not_found / sizeof not_found[0]; i++) {
        get(not_found[i], NULL, &r);
        assert_json_error(&r, 404, "not_found");
        resp_free(&r);
    }
    /* An encoded '/' is not a way into another segment. */
    get("/v1/parking/lots/a%2Fb", NULL, &r);
    assert_json_error(&r, 400, "bad_request");
    CU_ASSERT_PTR_NOT_NULL(strstr(err_msg(&r), "'id'"));
    resp_free(&r);
    const char *bad[] = {"/v1/parking/lots/%zz", "/v1/parking/lots/%FF", "/v1/parking/lots/a%00b",
                         "/v1/parking/lots/x?q=%E5%8D", "/v1/parking/lots/x?=v", "/v1/parking/lots/%4"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        get(bad[i], NULL, &r);
        assert_json_error(&r, 400, "bad_request");
        resp_free(&r);
    }
    fx_stop();
}

static void test_route_registration(void)
{
    fx_start();
    http_handler *fn = h_echo;
    /* Malformed patterns. */
    CU_ASSERT_EQUAL(http_route(F.h, HTTP_GET, "v1/x", ROLE_NONE, false, fn, NULL), -1);
    CU_ASSERT_EQUAL(http_route(F.h, HTTP_GET, "/v1//x", ROLE_NONE, false, fn, NULL), -1);
    CU_ASSERT_EQUAL(http_route(F.h, HTTP_GET, "/v1/x/", ROLE_NONE, false, fn, NULL), -1);
    CU_ASSERT_EQUAL(http_route(F.h, HTTP_GET, "/v1/{}", ROLE_NONE, false, fn, NULL), -1);
    CU_ASSERT_EQUAL(http_route(F.h, HTTP_GET, "/v1/{a-b}", ROLE_NONE, false, fn, NULL), -1);
    CU_ASSERT_EQUAL(http_route(F.h, HTTP_GET, "/v1/x{id}", ROLE_NONE, false, fn, NULL), -1);
    CU_ASSERT_EQUAL(http_route(F.h, HTTP_GET, "/v1/{id}/{id}", ROLE_NONE, false, fn, NULL), -1);
    /* Bad methods, handler. */
    CU_ASSERT_EQUAL(http_route(F.h, HTTP_OPTIONS, "/v1/y", ROLE_NONE, false, fn, NULL), -1);
    CU_ASSERT_EQUAL(http_route(F.h, 0, "/v1/y", ROLE_NONE, false, fn, NULL), -1);
    CU_ASSERT_EQUAL(http_route(F.h, HTTP_GET, "/v1/y", ROLE_NONE, false, NULL, NULL), -1);
    /* Same method twice on one resource; same shape, other param name. */
    CU_ASSERT_EQUAL(http_route(F.h, HTTP_GET, "/v1/parking/lots/{id}", ROLE_NONE, false, fn, NULL),
                    -1);
    CU_ASSERT_EQUAL(http_route(F.h, HTTP_POST, "/v1/parking/lots/{lot}", ROLE_NONE, false, fn,
                               NULL), -1);
    /* Another method on an existing resource is fine. */
    CU_ASSERT_EQUAL(http_route(F.h, HTTP_DELETE, "/v1/parking/lots/{id}", ROLE_NONE, false, fn,
                               "del"), 0);
    struct resp r;
    do_req("DELETE", "/v1/parking/lots/z", NULL, &r);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(jstr(&r, "tag"), "del");
    CU_ASSERT_STRING_EQUAL(jstr(&r, "id"), "z");
    resp_free(&r);
    fx_stop();
}

static void test_404_405(void)
{
    fx_start();
    struct resp r;
    get("/nope", NULL, &r);
    assert_json_error(&r, 404, "not_found");
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Access-Control-Allow-Origin"), "*");
    /* No Server header: the version is /v1/health's to tell, not every
     * reply's (and one header less is measurably cheaper). */
    CU_ASSERT_PTR_NULL(hdr(&r, "Server"));
    resp_free(&r);

    send_body("POST", "/v1/parking/lots/x", "k-admin", "{}", &r);
    assert_json_error(&r, 405, "method_not_allowed");
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Allow"), "GET, HEAD, PUT, OPTIONS");
    resp_free(&r);
    do_req("PATCH", "/v1/parking/lots/x", NULL, &r);
    assert_json_error(&r, 405, "method_not_allowed");
    resp_free(&r);
    do_req("GET", "/v1/admin/thing", NULL, &r);
    assert_json_error(&r, 405, "method_not_allowed");
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Allow"), "POST, DELETE, OPTIONS");
    resp_free(&r);
    /* 405 comes before auth: the resource exists, the method does not. */
    do_req("DELETE", "/v1/signals/webster", NULL, &r);
    assert_json_error(&r, 405, "method_not_allowed");
    resp_free(&r);
    fx_stop();
}

static void test_head(void)
{
    fx_start();
    struct resp g, h;
    get("/fixed", NULL, &g);
    do_req("HEAD", "/fixed", NULL, &h);
    CU_ASSERT_EQUAL(g.status, 200);
    CU_ASSERT_EQUAL(h.rc, 0);
    CU_ASSERT_EQUAL(h.status, 200);
    CU_ASSERT_EQUAL(h.len, 0);
    char glen[32];
    snprintf(glen, sizeof glen, "%zu", g.len);
    CU_ASSERT_STRING_EQUAL(hdr(&h, "Content-Length"), glen);
    CU_ASSERT_STRING_EQUAL(hdr(&h, "Content-Type"), "application/json; charset=utf-8");
    resp_free(&g);
    resp_free(&h);
    /* HEAD of an error: headers only too; HEAD where only POST exists: 405. */
    do_req("HEAD", "/nope", NULL, &h);
    CU_ASSERT_EQUAL(h.status, 404);
    CU_ASSERT_EQUAL(h.len, 0);
    resp_free(&h);
    do_req("HEAD", "/v1/signals/webster", NULL, &h);
    CU_ASSERT_EQUAL(h.status, 405);
    resp_free(&h);
    fx_stop();
}

static void test_options_cors(void)
{
    fx_start();
    struct resp r;
    const char *hs[] = {"Origin: https://maps.example", "Access-Control-Request-Method: PUT", NULL};
    struct req_opts o = {.headers = hs, .body_len = -1};
    do_req("OPTIONS", "/v1/parking/lots/x", &o, &r);
    CU_ASSERT_EQUAL(r.status, 204);
    CU_ASSERT_EQUAL(r.len, 0);
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Allow"), "GET, HEAD, PUT, OPTIONS");
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Access-Control-Allow-Methods"), "GET, HEAD, PUT, OPTIONS");
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Access-Control-Allow-Origin"), "*");
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Access-Control-Allow-Headers"), "Authorization, Content-Type");
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Access-Control-Max-Age"), "86400");
    resp_free(&r);
    /* Preflight needs no key even for a write endpoint. */
    do_req("OPTIONS", "/v1/admin/thing", &o, &r);
    CU_ASSERT_EQUAL(r.status, 204);
    resp_free(&r);
    do_req("OPTIONS", "/nope", &o, &r);
    assert_json_error(&r, 404, "not_found");
    resp_free(&r);
    fx_stop();

    /* A configured origin is sent as is, with Vary, on every reply. */
    fx_start_opts(1024, 2000, true, "https://maps.example");
    get("/v1/health", NULL, &r);
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Access-Control-Allow-Origin"), "https://maps.example");
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Vary"), "Origin");
    resp_free(&r);
    get("/v1/parking/lots/%zz", NULL, &r);
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Access-Control-Allow-Origin"), "https://maps.example");
    resp_free(&r);
    fx_stop();
}

static void test_bad_json(void)
{
    fx_start();
    struct resp r;
    send_body("PUT", "/v1/parking/lots/x", "k-operator", "{\"name\": \"A\", \"n\": 3}", &r);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(r.json, "got"), "name")),
                           "A");
    resp_free(&r);

    send_body("PUT", "/v1/parking/lots/x", "k-operator", "{\"name\": \"A\",}", &r);
    assert_json_error(&r, 400, "bad_json");
    CU_ASSERT_PTR_NOT_NULL(strstr(err_msg(&r), "line 1, column"));
    resp_free(&r);
    send_body("PUT", "/v1/parking/lots/x", "k-operator", "{\n  \"a\": 1,\n  \"b\": tru\n}", &r);
    assert_json_error(&r, 400, "bad_json");
    CU_ASSERT_PTR_NOT_NULL(strstr(err_msg(&r), "line 3"));
    resp_free(&r);
    send_body("PUT", "/v1/parking/lots/x", "k-operator", "[1, 2]", &r);
    assert_json_error(&r, 400, "bad_json");
    CU_ASSERT_PTR_NOT_NULL(strstr(err_msg(&r), "JSON object"));
    resp_free(&r);
    send_body("PUT", "/v1/parking/lots/x", "k-operator", "", &r);
    assert_json_error(&r, 400, "bad_json");
    CU_ASSERT_PTR_NOT_NULL(strstr(err_msg(&r), "empty"));
    resp_free(&r);
    send_body("PUT", "/v1/parking/lots/x", "k-operator", "{\"a\": 1, \"a\": 2}", &r);
    assert_json_error(&r, 400, "bad_json");
    CU_ASSERT_PTR_NOT_NULL(strstr(err_msg(&r), "duplicate"));
    resp_free(&r);
    /* Invalid UTF-8 inside a string: rejected, and the message itself is
     * valid JSON (the offending byte is not echoed raw). */
    send_body("PUT", "/v1/parking/lots/x", "k-operator", "{\"name\": \"caf\xe9\"}", &r);
    assert_json_error(&r, 400, "bad_json");
    CU_ASSERT_PTR_NOT_NULL(r.json);
    resp_free(&r);
    send_body("PUT", "/v1/parking/lots/x", "k-operator", "{\"a\": 1} trailing", &r);
    assert_json_error(&r, 400, "bad_json");
    resp_free(&r);
    fx_stop();
}

static bool held(void)
{
    return F.held != NULL;
}

static void test_body_limit(void)
{
    fx_start();                      /* max_body_bytes = 1024 */
    char *big = malloc(4096);
    /* A valid JSON object of exactly 1024 bytes is accepted. */
    memset(big, ' ', 1024);
    memcpy(big, "{\"a\":1}", 7);
    struct resp r;
    struct req_opts o = {.key = "k-operator", .body = big, .body_len = 1024};
    do_req("PUT", "/v1/parking/lots/x", &o, &r);
    CU_ASSERT_EQUAL(r.status, 200);
    resp_free(&r);

    /* One byte more (Content-Length): 413, in JSON, and the handler never runs. */
    memset(big, ' ', 4096);
    memcpy(big, "{\"a\":1}", 7);
    o.body_len = 1025;
    do_req("PUT", "/v1/parking/lots/x", &o, &r);
    assert_json_error(&r, 413, "payload_too_large");
    resp_free(&r);
    o.body_len = 4096;
    do_req("POST", "/slow", &o, &r);
    assert_json_error(&r, 413, "payload_too_large");
    CU_ASSERT_EQUAL(F.held_count, 0);
    resp_free(&r);

    /* Chunked: in one chunk, and in many small ones adding up. */
    o.chunked = true;
    o.chunk = 4096;
    do_req("PUT", "/v1/parking/lots/x", &o, &r);
    assert_json_error(&r, 413, "payload_too_large");
    resp_free(&r);
    o.chunk = 100;
    o.body_len = 2000;
    do_req("PUT", "/v1/parking/lots/x", &o, &r);
    assert_json_error(&r, 413, "payload_too_large");
    resp_free(&r);
    /* Chunked within the limit is fine. */
    o.body_len = 600;
    do_req("PUT", "/v1/parking/lots/x", &o, &r);
    CU_ASSERT_EQUAL(r.status, 200);
    resp_free(&r);

    /* With Expect: 100-continue the client learns before sending. */
    const char *hs[] = {"Expect: 100-continue", NULL};
    struct req_opts e = {.key = "k-operator", .body = big, .body_len = 4096, .headers = hs};
    do_req("PUT", "/v1/parking/lots/x", &e, &r);
    assert_json_error(&r, 413, "payload_too_large");
    resp_free(&r);
    free(big);
    CU_ASSERT_EQUAL(http_server_inflight(F.h), 0);
    fx_stop();
}

static void test_malformed_requests(void)
{
    fx_start();
    char buf[4096];
    const char *reqs[] = {
        "GARBAGE\r\n\r\n",
        "GET /v1/health HTTP/9.9\r\n\r\n",
        "GET /v1/health HTTP/1.1\r\nno colon here\r\n\r\n",
        "PUT /v1/parking/lots/x HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        "PUT /v1/parking/lots/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    };
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        int fd = raw_open();
        CU_ASSERT_FATAL(fd >= 0);
        raw_send(fd, reqs[i], strlen(reqs[i]));
        raw_recv(fd, buf, sizeof buf, 2000);
        close(fd);
        CU_ASSERT(strncmp(buf, "HTTP/1.1 4", 10) == 0);
        CU_ASSERT_PTR_NOT_NULL(strstr(buf, "Content-Type: application/json; charset=utf-8"));
        json_t *j = raw_json(buf);
        CU_ASSERT_PTR_NOT_NULL(json_object_get(j, "error"));
        if (j == NULL)
            fprintf(stderr, "\n  request %zu got: %s\n", i, buf);
        json_decref(j);
    }
    /* Headers over the limit (64 KiB): evhttp calls that a bad header
     * (400); in JSON as well. */
    size_t n = 70 * 1024;
    char *huge = malloc(n + 64);
    int k = snprintf(huge, 64, "GET /v1/health HTTP/1.1\r\nX-Big: ");
    memset(huge + k, 'a', n);
    memcpy(huge + k + n - 4, "\r\n\r\n", 4);
    int fd = raw_open();
    raw_send(fd, huge, (size_t)k + n);
    raw_recv(fd, buf, sizeof buf, 2000);
    close(fd);
    free(huge);
    CU_ASSERT(strncmp(buf, "HTTP/1.1 400", 12) == 0);
    char code[64];
    CU_ASSERT_STRING_EQUAL(raw_code(buf, code, sizeof code), "bad_request");
    /* And the server is still fine. */
    struct resp r;
    get("/v1/health", NULL, &r);
    CU_ASSERT_EQUAL(r.status, 200);
    resp_free(&r);
    fx_stop();
}

static void test_auth(void)
{
    fx_start();                      /* public_read = true */
    struct resp r;
    get("/v1/parking/lots/x", NULL, &r);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(jstr(&r, "role"), "none");
    resp_free(&r);
    get("/v1/parking/lots/x", "k-sensor", &r);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(jstr(&r, "role"), "sensor");
    CU_ASSERT_STRING_EQUAL(jstr(&r, "key"), "sensor-key");
    resp_free(&r);
    /* A key that is given must be valid, even where none is needed. */
    get("/v1/parking/lots/x", "k-nobody", &r);
    assert_json_error(&r, 401, "unauthorized");
    CU_ASSERT_PTR_NOT_NULL(strstr(hdr(&r, "WWW-Authenticate"), "Bearer"));
    resp_free(&r);
    /* Prefixes and extensions of a real key are not keys. */
    get("/v1/parking/lots/x", "k-reade", &r);
    assert_json_error(&r, 401, "unauthorized");
    resp_free(&r);
    get("/v1/parking/lots/x", "k-readerX", &r);
    assert_json_error(&r, 401, "unauthorized");
    resp_free(&r);
    /* Writes need a key, and the right role. */
    send_body("PUT", "/v1/parking/lots/x", NULL, "{}", &r);
    assert_json_error(&r, 401, "unauthorized");
    CU_ASSERT_PTR_NOT_NULL(strstr(err_msg(&r), "operator"));
    CU_ASSERT_PTR_NOT_NULL(strstr(hdr(&r, "WWW-Authenticate"), "Bearer"));
    resp_free(&r);
    send_body("PUT", "/v1/parking/lots/x", "k-reader", "{}", &r);
    assert_json_error(&r, 403, "forbidden");
    CU_ASSERT_PTR_NOT_NULL(strstr(err_msg(&r), "reader"));
    resp_free(&r);
    send_body("PUT", "/v1/parking/lots/x", "k-sensor", "{}", &r);
    assert_json_error(&r, 403, "forbidden");
    resp_free(&r);
    send_body("PUT", "/v1/parking/lots/x", "k-operator", "{}", &r);
    CU_ASSERT_EQUAL(r.status, 200);
    resp_free(&r);
    send_body("PUT", "/v1/parking/lots/x", "k-admin", "{}", &r);
    CU_ASSERT_EQUAL(r.status, 200);
    resp_free(&r);
    /* A non-public read (POST webster, role reader): any key will do. */
    send_body("POST", "/v1/signals/webster", NULL, "{}", &r);
    assert_json_error(&r, 401, "unauthorized");
    resp_free(&r);
    send_body("POST", "/v1/signals/webster", "k-engineer", "{}", &r);
    CU_ASSERT_EQUAL(r.status, 200);
    resp_free(&r);
    /* Other schemes, empty bearer. */
    const char *basic[] = {"Authorization: Basic dXNlcjpwYXNz", NULL};
    struct req_opts o = {.headers = basic, .body_len = -1};
    do_req("GET", "/v1/parking/lots/x", &o, &r);
    assert_json_error(&r, 401, "unauthorized");
    resp_free(&r);
    const char *empty[] = {"Authorization: Bearer ", NULL};
    o.headers = empty;
    do_req("GET", "/v1/parking/lots/x", &o, &r);
    assert_json_error(&r, 401, "unauthorized");
    resp_free(&r);
    fx_stop();

    /* public_read off: public GETs need a key; ROLE_NONE routes do not. */
    fx_start_opts(1024, 2000, false, NULL);
    get("/v1/parking/lots/x", NULL, &r);
    assert_json_error(&r, 401, "unauthorized");
    resp_free(&r);
    get("/v1/parking/lots/x", "k-reader", &r);
    CU_ASSERT_EQUAL(r.status, 200);
    resp_free(&r);
    get("/v1/health", NULL, &r);
    CU_ASSERT_EQUAL(r.status, 200);
    resp_free(&r);
    fx_stop();
}

static void test_role_table(void)
{
    /* rows: have; columns: need (none, reader, sensor, operator, engineer, kiosk,
     * admin) */
    static const bool want[7][7] = {
        /* none     */ {1, 0, 0, 0, 0, 0, 0},
        /* reader   */ {1, 1, 0, 0, 0, 0, 0},
        /* sensor   */ {1, 1, 1, 0, 0, 0, 0},
        /* operator */ {1, 1, 0, 1, 0, 0, 0},
        /* engineer */ {1, 1, 0, 0, 1, 0, 0},
        /* kiosk    */ {1, 1, 0, 0, 0, 1, 0},
        /* admin    */ {1, 1, 1, 1, 1, 1, 1},
    };
    for (int have = 0; have < 7; have++) {
        for (int need = 0; need < 7; need++) {
            if (role_allows((enum role)have, (enum role)need) != want[have][need])
                fprintf(stderr, "\n  role_allows(%s, %s) wrong\n", role_name((enum role)have),
                        role_name((enum role)need));
            CU_ASSERT_EQUAL(role_allows((enum role)have, (enum role)need), want[have][need]);
        }
    }
    for (int i = ROLE_READER; i <= ROLE_ADMIN; i++) {
        enum role back = ROLE_NONE;
        CU_ASSERT_EQUAL(role_parse(role_name((enum role)i), &back), 0);
        CU_ASSERT_EQUAL(back, (enum role)i);
    }
    enum role x;
    CU_ASSERT_EQUAL(role_parse("Admin", &x), -1);
    CU_ASSERT_EQUAL(role_parse("none", &x), -1);
    CU_ASSERT_EQUAL(role_parse("", &x), -1);
}

static char *write_file(const char *dir, const char *name, const char *text)
{
    char *path = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_keys_file(void)
{
    fx_start();
    char *dir = support_tmpdir("keys");
    char err[512];
    char *good = write_file(dir, "keys.conf",
                            "# cityd API keys\n"
                            "\n"
                            "s3cr3t-op   operator  gate-controller-1   # trailing comment\n"
                            "\treader-only reader\n"
                            "ad#min admin root\n"
                            "kiosk-b2 kiosk lobby-kiosk lot=yt-zf-0001\n"
                            "kiosk-c kiosk lot=yt-zf-0002 # unnamed\n");
    CU_ASSERT_EQUAL(http_load_keys(F.h, good, err, sizeof err), 0);
    struct resp r;
    get("/v1/parking/lots/x", "s3cr3t-op", &r);
    CU_ASSERT_STRING_EQUAL(jstr(&r, "role"), "operator");
    CU_ASSERT_STRING_EQUAL(jstr(&r, "key"), "gate-controller-1");
    resp_free(&r);
    get("/v1/parking/lots/x", "reader-only", &r);
    CU_ASSERT_STRING_EQUAL(jstr(&r, "role"), "reader");
    CU_ASSERT_STRING_EQUAL(jstr(&r, "key"), "line4");
    resp_free(&r);
    get("/v1/parking/lots/x", "ad#min", &r);
    CU_ASSERT_STRING_EQUAL(jstr(&r, "role"), "admin");
    CU_ASSERT_PTR_NULL(jstr(&r, "lot"));
    resp_free(&r);
    get("/v1/parking/lots/x", "kiosk-b2", &r);
    CU_ASSERT_STRING_EQUAL(jstr(&r, "role"), "kiosk");
    CU_ASSERT_STRING_EQUAL(jstr(&r, "key"), "lobby-kiosk");
    CU_ASSERT_STRING_EQUAL(jstr(&r, "lot"), "yt-zf-0001");
    resp_free(&r);
    get("/v1/parking/lots/x", "kiosk-c", &r);
    CU_ASSERT_STRING_EQUAL(jstr(&r, "key"), "line7");
    CU_ASSERT_STRING_EQUAL(jstr(&r, "lot"), "yt-zf-0002");
    resp_free(&r);
    /* Loading replaces the previous set: the fixture's keys are gone. */
    get("/v1/parking/lots/x", "k-admin", &r);
    assert_json_error(&r, 401, "unauthorized");
    resp_free(&r);

    struct { const char *text; const char *want; } bad[] = {
        {"ok1 reader\nk2 superuser\n", ":2: unknown role 'superuser'"},
        {"# c\n\nlonely\n", ":3: missing role"},
        {"a reader name extra\n", ":1: too many fields"},
        {"a kiosk name\n", ":1: a kiosk key needs lot="},
        {"a reader name lot=x\n", ":1: lot= is only for kiosk keys"},
        {"a kiosk name lot=\n", ":1: lot= needs a lot id"},
        {"a reader\nb sensor\na admin\n", ":3: duplicate key"},
        {"k\xc3\xa9y reader\n", ":1: the key must be printable ASCII"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *p = write_file(dir, "bad.conf", bad[i].text);
        err[0] = '\0';
        CU_ASSERT_EQUAL(http_load_keys(F.h, p, err, sizeof err), -1);
        CU_ASSERT(strncmp(err, p, strlen(p)) == 0);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, bad[i].want));
        if (strstr(err, bad[i].want) == NULL)
            fprintf(stderr, "\n  want '%s' in '%s'\n", bad[i].want, err);
        free(p);
    }
    char *missing = malloc(strlen(dir) + 16);
    sprintf(missing, "%s/none.conf", dir);
    CU_ASSERT_EQUAL(http_load_keys(F.h, missing, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot open"));
    free(missing);
    /* A failed load leaves the current keys in place. */
    get("/v1/parking/lots/x", "s3cr3t-op", &r);
    CU_ASSERT_STRING_EQUAL(jstr(&r, "role"), "operator");
    resp_free(&r);
    /* http_add_key refuses duplicates and junk. */
    CU_ASSERT_EQUAL(http_add_key(F.h, "s3cr3t-op", ROLE_ADMIN, "dup"), -1);
    CU_ASSERT_EQUAL(http_add_key(F.h, "", ROLE_ADMIN, "empty"), -1);
    CU_ASSERT_EQUAL(http_add_key(F.h, "has space", ROLE_ADMIN, "sp"), -1);
    CU_ASSERT_EQUAL(http_add_key(F.h, "fine", ROLE_NONE, "none"), -1);
    CU_ASSERT_EQUAL(http_add_key(F.h, "fine", ROLE_KIOSK, "lotless"), -1);
    CU_ASSERT_EQUAL(http_add_kiosk_key(F.h, "fine", "k", ""), -1);
    free(good);
    support_rmrf(dir);
    free(dir);
    fx_stop();
}

static void test_timeout(void)
{
    fx_start_opts(1024, 150, true, NULL);
    struct resp r;
    get("/slow", NULL, &r);
    assert_json_error(&r, 503, "timeout");
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Retry-After"), "1");
    CU_ASSERT(r.secs >= 0.14);
    CU_ASSERT_EQUAL(F.held_count, 1);
    resp_free(&r);
    /* The late reply goes nowhere and breaks nothing; the req was valid
     * until now and its accessors still answer. */
    CU_ASSERT_STRING_EQUAL(http_req_path(F.held), "/slow");
    http_reply_json(F.held, 200, json_pack("{s:s}", "late", "yes"));
    F.held = NULL;
    spin(20);
    get("/v1/health", NULL, &r);
    CU_ASSERT_EQUAL(r.status, 200);
    resp_free(&r);
    CU_ASSERT_EQUAL(http_server_inflight(F.h), 0);

    /* A handler that never replies still gets its 503; the server frees
     * the request at shutdown. */
    get("/slow", NULL, &r);
    assert_json_error(&r, 503, "timeout");
    resp_free(&r);
    char *log = log_text();
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "event=http_timeout method=GET route=/slow"));
    free(log);
    fx_stop();
}

static void test_double_reply(void)
{
    fx_start();
    struct resp r;
    get("/double", NULL, &r);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(r.json, "n")), 1);
    resp_free(&r);
    spin(10);
    char *log = log_text();
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "event=http_double_reply route=/double call=http_reply_error"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "call=http_reply_raw"));
    free(log);
    get("/v1/health", NULL, &r);
    CU_ASSERT_EQUAL(r.status, 200);
    resp_free(&r);
    fx_stop();
}

static bool none_inflight(void)
{
    return http_server_inflight(F.h) == 0;
}

static void test_client_disconnect(void)
{
    fx_start_opts(1024, 5000, true, NULL);
    /* GET: the client goes away while the handler is still working. */
    int fd = raw_open();
    const char *req = "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n";
    raw_send(fd, req, strlen(req));
    CU_ASSERT_FATAL(spin_until(held, 2000));
    CU_ASSERT_EQUAL(http_server_inflight(F.h), 1);
    close(fd);
    CU_ASSERT(spin_until(none_inflight, 2000));
    /* The handler replies after the client left: discarded, no crash,
     * and every accessor of the req is still safe. */
    CU_ASSERT_PTR_NULL(http_req_header(F.held, "Host"));
    http_reply_error(F.held, 500, "internal", "too late");
    F.held = NULL;

    /* POST with a body: same story. */
    fd = raw_open();
    req = "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
    raw_send(fd, req, strlen(req));
    CU_ASSERT_FATAL(spin_until(held, 2000));
    size_t len;
    CU_ASSERT_PTR_NOT_NULL(http_req_body(F.held, &len));
    CU_ASSERT_EQUAL(len, 2);
    close(fd);
    spin(50);
    http_reply_json(F.held, 200, json_object());
    F.held = NULL;
    spin(20);

    struct resp r;
    get("/metrics", NULL, &r);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "cityd_http_requests_total{route=\"/slow\",method=\"GET\",code=\"499\"} 1"));
    resp_free(&r);
    fx_stop();
}

static void test_pipelining(void)
{
    fx_start();
    int fd = raw_open();
    const char *two = "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /v1/parking/lots/p2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    raw_send(fd, two, strlen(two));
    char buf[8192];
    raw_recv(fd, buf, sizeof buf, 2000);
    close(fd);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\"tag\":\"health\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\"id\":\"p2\""));
    /* Keep-alive: two requests one after the other on one connection. */
    fd = raw_open();
    const char *a = "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n";
    raw_send(fd, a, strlen(a));
    raw_recv(fd, buf, sizeof buf, 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "HTTP/1.1 200"));
    const char *b = "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    raw_send(fd, b, strlen(b));
    raw_recv(fd, buf, sizeof buf, 2000);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "HTTP/1.1 404"));
    close(fd);

    /* Requests pipelined behind a slow one wait for it, more of them than
     * the server reads ahead (64 KiB), and are all answered in order. */
    enum { N = 2500 };
    const char *one = "GET /fixed HTTP/1.1\r\nHost: x\r\n\r\n";
    const char *last = "GET /v1/parking/lots/last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    size_t ol = strlen(one);
    char *many = malloc(ol * (N + 1) + strlen(last) + 1);
    for (int i = 0; i < N + 1; i++)
        memcpy(many + i * ol, i == 0 ? "GET /slow? HTTP/1.1\r\nHost: x\r\n\r\n" : one, ol);
    strcpy(many + (N + 1) * ol, last);
    CU_ASSERT_EQUAL(strlen("GET /slow? HTTP/1.1\r\nHost: x\r\n\r\n"), ol);
    CU_ASSERT(N * ol > 64 * 1024);
    fd = raw_open();
    raw_send(fd, many, strlen(many));
    CU_ASSERT_FATAL(spin_until(held, 2000));
    spin(50);
    http_reply_json(F.held, 200, json_pack("{s:s}", "slow", "done"));
    F.held = NULL;
    size_t cap = 4 * 1024 * 1024;
    char *all = malloc(cap);
    raw_recv(fd, all, cap, 10000);
    close(fd);
    const char *p = strstr(all, "\"slow\":\"done\"");
    CU_ASSERT_PTR_NOT_NULL(p);
    int fixed = 0;
    for (const char *q = all; (q = strstr(q, "{\"fixed\":\"body\"}")) != NULL; q++) {
        CU_ASSERT(q > p);
        fixed++;
    }
    CU_ASSERT_EQUAL(fixed, N);
    CU_ASSERT_PTR_NOT_NULL(strstr(all, "\"id\":\"last\""));
    free(all);
    free(many);
    fx_stop();
}

static void test_metrics_and_log(void)
{
    fx_start();
    struct resp r;
    get("/v1/parking/lots/a", NULL, &r);
    resp_free(&r);
    get("/v1/parking/lots/b", NULL, &r);
    resp_free(&r);
    send_body("PUT", "/v1/parking/lots/b", "k-reader", "{}", &r);
    resp_free(&r);
    get("/nowhere", NULL, &r);
    resp_free(&r);
    get("/metrics", NULL, &r);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    const char *want[] = {
        "# TYPE cityd_http_requests_total counter\n",
        "cityd_http_requests_total{route=\"/v1/parking/lots/{id}\",method=\"GET\",code=\"200\"} 2\n",
        "cityd_http_requests_total{route=\"/v1/parking/lots/{id}\",method=\"PUT\",code=\"403\"} 1\n",
        "cityd_http_requests_total{route=\"unmatched\",method=\"GET\",code=\"404\"} 1\n",
        "# TYPE cityd_http_request_duration_seconds histogram\n",
        "cityd_http_request_duration_seconds_count{route=\"/v1/parking/lots/{id}\"} 3\n",
        "cityd_http_request_duration_seconds_bucket{route=\"unmatched\",le=\"+Inf\"} 1\n",
        "# TYPE cityd_http_requests_in_flight gauge\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        CU_ASSERT_PTR_NOT_NULL(strstr(r.body, want[i]));
        if (strstr(r.body, want[i]) == NULL)
            fprintf(stderr, "\n  missing: %s", want[i]);
    }
    const char *first = strstr(r.body, "# HELP cityd_http_requests_total");
    CU_ASSERT(first != NULL && strstr(first + 1, "# HELP cityd_http_requests_total") == NULL);
    resp_free(&r);
    char *log = log_text();
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "level=debug event=http_request method=GET route=/v1/parking/lots/{id} status=200 ms="));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "event=http_request method=PUT route=/v1/parking/lots/{id} status=403 ms="));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "event=http_request method=GET route=unmatched status=404 ms="));
    free(log);
    fx_stop();
}

/* The layer serialises replies itself: byte for byte what jansson makes
 * of the same value with the flags it documents. */
static void assert_reply_as_jansson(json_t *v)
{
    char *want = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(15));
    CU_ASSERT_PTR_NOT_NULL_FATAL(want);
    F.reply = v;
    struct resp r;
    get("/reply", NULL, &r);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(r.body, want);
    if (strcmp(r.body, want) != 0) {
        size_t i = 0;
        while (r.body[i] == want[i])
            i++;
        fprintf(stderr, "\n  differs at byte %zu: got %.60s\n  want %.60s\n", i, r.body + i,
                want + i);
    }
    resp_free(&r);
    free(want);
    json_decref(v);
}

static void test_json_output(void)
{
    fx_start();
    const double reals[] = {
        0.0, -0.0, 0.1, 12.3, -2.5, 1.0, 100.0, 121.44780123456789, 37.46, 1e-9, -2.5e-7,
        1e15, 1e16, 1.5e16, 123456789012345678.0, 1e100, 1e300, -1e-300, 5e-324,
        1.7976931348623157e308, 1700000000123.0, 0.000123456789012345678,
    };
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++)
        assert_reply_as_jansson(json_pack("[f]", reals[i]));
    const json_int_t ints[] = {0, 1, -1, 9, 10, 1234567890123LL, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        assert_reply_as_jansson(json_pack("{sI}", "n", ints[i]));
    const char *strs[] = {
        "", "plain", "quote \" back \\ slash /", "\b\f\n\r\t", "\x01\x1f\x7f",
        "\xe7\x83\x9f\xe5\x8f\xb0 Yantai", "\xf0\x9f\x9a\x8c bus", "\xc2\x80\xef\xbf\xbf",
    };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        assert_reply_as_jansson(json_pack("{ss}", strs[i], strs[i]));
    assert_reply_as_jansson(json_pack("{s:s%}", "nul", "a\0b", (size_t)3));
    assert_reply_as_jansson(json_object());
    assert_reply_as_jansson(json_array());
    assert_reply_as_jansson(json_pack("{s:[b,b,n,{},[]],s:{s:{s:[i,f,s]}},s:o}", "flags", 1, 0,
                                      "deep", "a", "b", 1, 2.5, "c", "z", json_array()));
    /* Bigger than one output batch, and one string longer than it (all
     * within what struct resp holds). */
    json_t *big = json_array();
    for (int i = 0; i < 600; i++)
        json_array_append_new(big, json_pack("{s:i,s:f,s:s}", "id", i, "lon", 121.4 + i * 1e-4,
                                             "name", "lot \xe5\x81\x9c\xe8\xbd\xa6"));
    char longs[10000];
    memset(longs, 'x', sizeof longs - 1);
    longs[sizeof longs - 1] = '\0';
    longs[5000] = '"';
    json_array_append_new(big, json_string(longs));
    assert_reply_as_jansson(big);

    /* What jansson cannot serialise is a 500, not a crash or bad JSON. */
    struct resp r;
    F.reply = json_pack("{s:o}", "bad", json_string_nocheck("\xff\xfe"));
    get("/reply", NULL, &r);
    assert_json_error(&r, 500, "internal");
    resp_free(&r);
    json_decref(F.reply);
    json_t *a = json_array(), *b = json_array();
    json_array_append(a, b);
    json_array_append(b, a);                    /* a reference cycle */
    F.reply = a;
    get("/reply", NULL, &r);
    assert_json_error(&r, 500, "internal");
    resp_free(&r);
    json_array_clear(b);
    json_decref(a);
    json_decref(b);
    F.reply = NULL;
    fx_stop();
}

static void test_sse(void)
{
    fx_start_opts(1024, 100, true, NULL);
    struct resp r;
    /* Three events then the end; the stream outlives the request timeout. */
    get("/stream", NULL, &r);
    CU_ASSERT_EQUAL(r.rc, 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Content-Type"), "text/event-stream");
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Transfer-Encoding"), "chunked");
    CU_ASSERT_STRING_EQUAL(r.body, "data: 1\n\ndata: 2\n\ndata: 3\n\n");
    CU_ASSERT_EQUAL(F.closes, 0);            /* ended by us: no on_close */
    resp_free(&r);
    spin(10);
    CU_ASSERT_EQUAL(http_server_inflight(F.h), 0);

    /* An open stream whose client goes away: on_close, once. */
    int fd = raw_open();
    const char *req = "GET /stream/open HTTP/1.1\r\nHost: x\r\n\r\n";
    raw_send(fd, req, strlen(req));
    char buf[4096];
    raw_recv(fd, buf, sizeof buf, 300);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "data: 1\n\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "data: 2\n\n"));
    CU_ASSERT_PTR_NOT_NULL(F.stream);
    close(fd);
    CU_ASSERT(spin_until(none_inflight, 2000));
    CU_ASSERT_EQUAL(F.closes, 1);
    CU_ASSERT_PTR_NULL(F.stream);

    /* Draining ends open streams (telling their owner) and refuses new
     * connections; the streaming client sees a clean end. */
    fd = raw_open();
    raw_send(fd, req, strlen(req));
    raw_recv(fd, buf, sizeof buf, 100);
    CU_ASSERT_PTR_NOT_NULL(F.stream);
    http_server_stop_accepting(F.h);
    CU_ASSERT_EQUAL(F.closes, 2);
    size_t n = raw_recv(fd, buf, sizeof buf, 300);
    close(fd);
    CU_ASSERT(n > 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "0\r\n\r\n"));
    CU_ASSERT(spin_until(none_inflight, 2000));
    fx_stop();
}

static bool streaming(void)
{
    return F.stream != NULL;
}

static void test_stream_backpressure(void)
{
    fx_start();
    /* A client that never reads: what the server queues for it grows,
     * and http_stream_send says how much, so its owner can drop it. */
    int fd = raw_open_rcvbuf(4096);
    const char *req = "GET /stream/open HTTP/1.1\r\nHost: x\r\n\r\n";
    raw_send(fd, req, strlen(req));
    CU_ASSERT_FATAL(spin_until(streaming, 2000));
    static char ev[16384];
    memset(ev, 'x', sizeof ev);
    memcpy(ev, "data: ", 6);
    memcpy(ev + sizeof ev - 2, "\n\n", 2);
    size_t queued = 0, sent = 0;
    while (queued < 2 * 1024 * 1024 && sent < 64 * 1024 * 1024) {
        queued = http_stream_send(F.stream, ev, sizeof ev);
        sent += sizeof ev;
        event_base_loop(F.base, EVLOOP_NONBLOCK);
    }
    CU_ASSERT(queued >= 2 * 1024 * 1024);
    http_stream_end(F.stream);
    F.stream = NULL;
    close(fd);
    CU_ASSERT(spin_until(none_inflight, 3000));
    CU_ASSERT_EQUAL(F.closes, 0);
    fx_stop();
}

/* A paced stream: PACE_PAGES numbered pages of PACE_BYTES, each written
 * only while the output buffer is under PACE_LOW (from the drained
 * callback once the first ones are out), then the end. */
enum { PACE_PAGES = 4096, PACE_BYTES = 4096, PACE_LOW = 8192 };
static int pace_sent, pace_drained;
static size_t pace_max_queued;

static void pace_fill(struct http_req *r)
{
    static char page[PACE_BYTES];
    size_t queued = http_stream_send(r, NULL, 0);
    while (pace_sent < PACE_PAGES && queued < PACE_LOW) {
        memset(page, 'x', sizeof page);
        int n = snprintf(page, sizeof page, "data: %d ", pace_sent++);
        page[n] = 'x';
        memcpy(page + sizeof page - 2, "\n\n", 2);
        queued = http_stream_send(r, page, sizeof page);
        pace_max_queued = queued > pace_max_queued ? queued : pace_max_queued;
    }
    if (pace_sent == PACE_PAGES) {
        http_stream_end(r);
        F.stream = NULL;
    }
}

static void pace_on_drained(struct http_req *r, void *arg)
{
    CU_ASSERT_PTR_EQUAL(r, F.stream);
    pace_drained++;
    pace_fill(r);
}

static void h_stream_paced(struct http_req *r, void *arg)
{
    F.stream = r;
    pace_sent = pace_drained = 0;
    pace_max_queued = 0;
    http_stream_start(r, "text/event-stream", on_stream_close, NULL);
    http_stream_on_drained(r, PACE_LOW, pace_on_drained);
    pace_fill(r);
}

static void test_stream_paced(void)
{
    fx_start();
    CU_ASSERT_EQUAL(http_route(F.h, HTTP_GET, "/paced", ROLE_NONE, false, h_stream_paced, NULL), 0);
    int fd = raw_open_rcvbuf(4096);
    const char *req = "GET /paced HTTP/1.1\r\nHost: x\r\n\r\n";
    raw_send(fd, req, strlen(req));
    CU_ASSERT_FATAL(spin_until(streaming, 2000));
    /* The client does not read: writing stops at the socket buffers plus
     * a page over the low-water mark, far short of the 16 MiB. */
    spin(300);
    int stalled = pace_sent;
    CU_ASSERT(stalled < PACE_PAGES / 2);
    CU_ASSERT(pace_max_queued <= PACE_LOW + PACE_BYTES + 16);
    spin(200);
    CU_ASSERT_EQUAL(pace_sent, stalled);
    /* what the kernel holds counts as unsent too */
    size_t queued = http_stream_send(F.stream, NULL, 0);
    CU_ASSERT(http_stream_unsent(F.stream) > queued);
    /* The client reads: the rest follows, in order, then the end. */
    size_t cap = (size_t)PACE_PAGES * (PACE_BYTES + 16) + 4096, got = 0;
    char *buf = malloc(cap);
    double end = now_s() + 60;                /* 16 MiB: well under 1 s, but valgrind */
    buf[0] = '\0';
    while (now_s() < end && got + 1 < cap &&
           strstr(buf + (got > 8 ? got - 8 : 0), "\r\n0\r\n\r\n") == NULL)
        got += raw_recv(fd, buf + got, cap - got, 50);
    CU_ASSERT_EQUAL(pace_sent, PACE_PAGES);
    CU_ASSERT(pace_drained > 0);
    CU_ASSERT(pace_max_queued <= PACE_LOW + PACE_BYTES + 16);
    int next = 0;
    for (const char *p = strstr(buf, "data: "); p != NULL; p = strstr(p + 1, "data: ")) {
        int k = -1;
        sscanf(p, "data: %d ", &k);
        if (k != next)
            break;
        next++;
    }
    CU_ASSERT_EQUAL(next, PACE_PAGES);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\r\n0\r\n\r\n"));     /* the chunked end */
    free(buf);
    close(fd);
    CU_ASSERT(spin_until(none_inflight, 3000));
    fx_stop();
}

/* Per-caller limits count a key as one caller, else the address. */
static void h_caller(struct http_req *r, void *arg)
{
    char id[128];
    http_req_caller(r, id, sizeof id);
    http_reply_json(r, 200, json_pack("{s:s}", "caller", id));
}

static void test_req_caller(void)
{
    fx_start();
    CU_ASSERT_EQUAL(http_route(F.h, HTTP_GET, "/caller", ROLE_NONE, false, h_caller, NULL), 0);
    struct resp r;
    get("/caller", NULL, &r);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r.json, "caller")), "a 127.0.0.1");
    resp_free(&r);
    get("/caller", "k-reader", &r);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r.json, "caller")), "k reader-key");
    resp_free(&r);
    fx_stop();
}

static void h_stream_late(struct http_req *r, void *arg)
{
    F.held = r;
}

static void test_stream_after_timeout(void)
{
    fx_start_opts(1024, 50, true, NULL);
    CU_ASSERT_EQUAL(http_route(F.h, HTTP_GET, "/late", ROLE_NONE, false, h_stream_late, NULL), 0);
    struct resp r;
    get("/late", NULL, &r);
    assert_json_error(&r, 503, "timeout");
    resp_free(&r);
    /* Too late to stream: the owner hears so from the loop, not from
     * inside http_stream_start, and the req stays usable until then. */
    F.stream = F.held;
    F.held = NULL;
    http_stream_start(F.stream, "text/event-stream", on_stream_close, NULL);
    CU_ASSERT_EQUAL(F.closes, 0);
    CU_ASSERT_EQUAL(http_stream_send(F.stream, "data: x\n\n", 9), 0);
    spin(10);
    CU_ASSERT_EQUAL(F.closes, 1);
    CU_ASSERT_PTR_NULL(F.stream);
    fx_stop();
}

static void test_drain(void)
{
    fx_start_opts(1024, 5000, true, NULL);
    /* A slow request is in flight when draining starts. */
    CURL *c = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "%s/slow", F.url);
    struct resp r;
    memset(&r, 0, sizeof r);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_hdr);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    CURLM *m = curl_multi_init();
    curl_multi_add_handle(m, c);
    int running = 1;
    double end = now_s() + 3;
    while (F.held == NULL && now_s() < end) {
        curl_multi_perform(m, &running);
        curl_multi_wait(m, NULL, 0, 1, NULL);
        event_base_loop(F.base, EVLOOP_NONBLOCK);
    }
    CU_ASSERT_PTR_NOT_NULL_FATAL(F.held);
    http_server_stop_accepting(F.h);
    http_server_stop_accepting(F.h);         /* idempotent */
    CU_ASSERT_EQUAL(http_server_inflight(F.h), 1);
    /* New connections are refused... */
    struct resp r2;
    get("/v1/health", NULL, &r2);
    CU_ASSERT_EQUAL(r2.rc, CURLE_COULDNT_CONNECT);
    resp_free(&r2);
    /* ...while the one in flight completes, with Connection: close. */
    http_reply_json(F.held, 200, json_pack("{s:b}", "done", 1));
    F.held = NULL;
    end = now_s() + 3;
    while (running && now_s() < end) {
        curl_multi_perform(m, &running);
        curl_multi_wait(m, NULL, 0, 1, NULL);
        event_base_loop(F.base, EVLOOP_NONBLOCK);
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "\"done\":true"));
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Connection"), "close");
    curl_multi_remove_handle(m, c);
    curl_multi_cleanup(m);
    curl_easy_cleanup(c);
    spin(10);
    CU_ASSERT_EQUAL(http_server_inflight(F.h), 0);
    fx_stop();
}

static void test_listen_errors(void)
{
    fx_start();
    struct event_base *base = event_base_new();
    char listen[64], err[256];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", F.port);
    struct http_opts o = {.listen = listen, .max_body_bytes = 100, .request_timeout_ms = 100};
    struct http_server *h = http_server_new(base, &o, NULL, NULL, err, sizeof err);
    CU_ASSERT_PTR_NULL(h);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot listen on"));
    const char *bad[] = {"127.0.0.1", "127.0.0.1:", ":80", "127.0.0.1:99999", "127.0.0.1:8x",
                         NULL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o.listen = bad[i];
        CU_ASSERT_PTR_NULL(http_server_new(base, &o, NULL, NULL, err, sizeof err));
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "bad listen address"));
    }
    /* IPv6 in brackets, no logger and no metrics: both optional. */
    o.listen = "[::1]:0";
    h = http_server_new(base, &o, NULL, NULL, err, sizeof err);
    if (h != NULL) {
        CU_ASSERT(http_server_port(h) > 0);
        http_server_free(h);
    }
    http_server_free(NULL);
    event_base_free(base);
    fx_stop();
}

/* Content-Length written by hand, and requests whose path and query are
 * too long for a pooled request block, between ordinary ones. */
static void test_reply_head(void)
{
    fx_start();
    struct resp r;
    get("/fixed", NULL, &r);
    CU_ASSERT_EQUAL(r.status, 200);
    char len[24];
    snprintf(len, sizeof len, "%zu", r.len);
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Content-Length"), len);
    resp_free(&r);
    char path[3200] = "/nope/";
    memset(path + 6, 'p', 1500);
    strcpy(path + 1506, "?q=");
    memset(path + 1509, 'q', 1500);
    path[3009] = '\0';
    for (int i = 0; i < 3; i++) {
        get(path, NULL, &r);
        assert_json_error(&r, 404, "not_found");
        resp_free(&r);
        get("/fixed", NULL, &r);
        CU_ASSERT_EQUAL(r.status, 200);
        resp_free(&r);
    }
    fx_stop();
}

/* A bucket per caller: 4 at once, then 429 with Retry-After and the JSON
 * error; another key has its own bucket; tokens come back with time. */
static void test_rate_limit(void)
{
    fx_rate_rps = 5;
    fx_rate_burst = 4;
    fx_start();
    fx_rate_rps = fx_rate_burst = 0;
    struct resp r;
    int ok = 0;
    for (int i = 0; i < 4; i++) {
        get("/v1/parking/lots/a", "k-reader", &r);
        ok += r.status == 200;
        resp_free(&r);
    }
    CU_ASSERT_EQUAL(ok, 4);
    get("/v1/parking/lots/a", "k-reader", &r);
    assert_json_error(&r, 429, "rate_limited");
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Retry-After"), "1");
    resp_free(&r);
    get("/v1/parking/lots/a", "k-sensor", &r);               /* its own bucket */
    CU_ASSERT_EQUAL(r.status, 200);
    resp_free(&r);
    get("/v1/parking/lots/a", NULL, &r);                      /* the address's */
    CU_ASSERT_EQUAL(r.status, 200);
    resp_free(&r);
    struct timespec pause = {0, 450 * 1000 * 1000};           /* two tokens at 5/s */
    nanosleep(&pause, NULL);
    get("/v1/parking/lots/a", "k-reader", &r);
    CU_ASSERT_EQUAL(r.status, 200);
    resp_free(&r);
    fx_stop();
}

/* ---- hardening: framing, limits, deadlines ---- */

/* Requests a proxy and evhttp could read differently (two lengths, a
 * length and a chunked coding, a coding evhttp ignores, a name with a
 * space before its colon, a folded header, a body on HEAD) are refused
 * with 400 (501 for an unknown coding) and the connection is closed, so
 * no smuggled request behind them is ever read. */
static void test_smuggling(void)
{
    fx_start();
    char buf[8192], code[64];
    bool closed;
#define WEBSTER "POST /v1/signals/webster HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k-reader\r\n"
    struct { const char *req; int status; const char *code; } cases[] = {
        {WEBSTER "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{} ", 400, "bad_request"},
        /* the larger first: evhttp would wait for 20 bytes that never come */
        {WEBSTER "Content-Length: 20\r\nContent-Length: 2\r\n\r\n{}", 400, "bad_request"},
        {WEBSTER "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 400,
         "bad_request"},
        {WEBSTER "Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 501,
         "not_implemented"},
        {WEBSTER "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
         "bad_request"},
        {WEBSTER "Content-Length : 2\r\n\r\n{}", 400, "bad_request"},
        {WEBSTER "X-Folded: a\r\n b\r\nContent-Length: 2\r\n\r\n{}", 400, "bad_request"},
        {"HEAD /v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n"
         "GET /v1/parking/lots/smuggled HTTP/1.1\r\n\r\n", 400, "bad_request"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double t0 = now_s();
        int status = raw_once(cases[i].req, buf, sizeof buf, 3000, &closed);
        CU_ASSERT_EQUAL(status, cases[i].status);
        CU_ASSERT(now_s() - t0 < 2.5);
        CU_ASSERT(closed);
        CU_ASSERT_PTR_NULL(strstr(buf, "smuggled"));
        if (strncmp(cases[i].req, "HEAD", 4) != 0) {
            CU_ASSERT_STRING_EQUAL(raw_code(buf, code, sizeof code), cases[i].code);
            CU_ASSERT_PTR_NOT_NULL(strstr(buf, "Content-Type: application/json"));
        }
        if (status != cases[i].status || !closed)
            fprintf(stderr, "\n  case %zu: got %s (closed %d)\n", i, buf, closed);
    }
    /* The same length twice is one length. */
    CU_ASSERT_EQUAL(raw_once(WEBSTER "Content-Length: 2\r\ncontent-length: 2\r\nConnection: "
                                     "close\r\n\r\n{}",
                             buf, sizeof buf, 3000, &closed),
                    200);
#undef WEBSTER
    fx_stop();
}

/* A declared length over max_body_bytes gets 413 at once, before any of
 * the body (with or without Expect: 100-continue, where it must not say
 * 100 Continue); a client that sends the body anyway sees the 413 and
 * an orderly close, not a reset. */
static void test_declared_too_large(void)
{
    fx_start();                      /* max_body_bytes = 1024 */
    char buf[8192], code[64];
    const char *heads[] = {
        "PUT /v1/parking/lots/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k-operator\r\n"
        "Content-Length: 100000\r\n\r\n",
        "PUT /v1/parking/lots/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k-operator\r\n"
        "Content-Length: 100000\r\nExpect: 100-continue\r\n\r\n",
        "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
        int fd = raw_open();
        raw_send(fd, heads[i], strlen(heads[i]));
        double t0 = now_s();
        raw_reply(fd, buf, sizeof buf, 3000, false);
        CU_ASSERT(now_s() - t0 < 2.0);
        CU_ASSERT_EQUAL(raw_status(buf), 413);
        CU_ASSERT_STRING_EQUAL(raw_code(buf, code, sizeof code), "payload_too_large");
        CU_ASSERT_PTR_NULL(strstr(buf, "100 Continue"));
        if (raw_status(buf) != 413)
            fprintf(stderr, "\n  head %zu: got '%s'\n", i, buf);
        /* The body comes anyway: read and dropped, then an orderly close. */
        static char body[256 * 1024];
        memset(body, 'x', sizeof body);
        raw_send(fd, body, sizeof body);
        bool reset;
        CU_ASSERT(raw_wait_closed(fd, 5000, &reset) >= 0);
        CU_ASSERT_FALSE(reset);
        close(fd);
    }
    CU_ASSERT_EQUAL(F.held_count, 0);
    struct resp r;
    get("/v1/health", NULL, &r);
    CU_ASSERT_EQUAL(r.status, 200);
    resp_free(&r);
    fx_stop();
}

/* Chunk extensions (RFC 9112 7.1.1) are legal, wherever the reads split
 * the chunk lines; trailers too. */
static void test_chunk_extensions(void)
{
    fx_start();
    const char *req =
        "PUT /v1/parking/lots/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k-operator\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
        "7;ext=1\r\n{\"a\":1}\r\n"
        "3;name=\"q;x\"\r\n   \r\n"
        "0;last\r\nX-Trailer: t\r\n\r\n"
        "GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char buf[8192];
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        int fd = raw_open();
        size_t n = strlen(req);
        for (size_t i = 0; bytewise && i < n && send(fd, req + i, 1, MSG_NOSIGNAL) == 1; i++)
            spin(1);
        if (!bytewise)
            raw_send(fd, req, n);
        raw_recv(fd, buf, sizeof buf, 3000);
        close(fd);
        CU_ASSERT_EQUAL(raw_status(buf), 200);
        CU_ASSERT_PTR_NOT_NULL(strstr(buf, "{\"got\":{\"a\":1}}"));
        CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\"tag\":\"health\""));
        if (strstr(buf, "\"tag\":\"health\"") == NULL)
            fprintf(stderr, "\n  bytewise %d got '%s'\n", bytewise, buf);
    }
    fx_stop();
}

/* HEAD of an event stream: the headers, and the request is over (the
 * connection serves the next one); the stream's owner hears on_close. */
static void test_head_stream(void)
{
    fx_start();
    char buf[8192];
    int fd = raw_open();
    const char *head = "HEAD /stream/open HTTP/1.1\r\nHost: x\r\n\r\n";
    raw_send(fd, head, strlen(head));
    raw_reply(fd, buf, sizeof buf, 2000, true);
    CU_ASSERT_EQUAL(raw_status(buf), 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "Content-Type: text/event-stream"));
    const char *next = "GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    raw_send(fd, next, strlen(next));
    raw_recv(fd, buf, sizeof buf, 2000);
    close(fd);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\"tag\":\"health\""));
    CU_ASSERT_PTR_NULL(strstr(buf, "data:"));
    CU_ASSERT(spin_until(none_inflight, 2000));
    CU_ASSERT_EQUAL(F.closes, 1);
    CU_ASSERT_PTR_NULL(F.stream);
    fx_stop();
}

/* server.header_timeout_ms is a deadline for the whole head, however it
 * trickles in (evhttp's idle timer restarts on every byte); it does not
 * apply to idle keep-alive time or to the body. */
static void test_header_timeout(void)
{
    fx_header_ms = 300;
    fx_start();
    fx_header_ms = 0;
    char buf[8192];
    bool reset;
    /* One byte of head every 50 ms. */
    int fd = raw_open();
    const char *slow = "GET /v1/health HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    double t0 = now_s(), closed_after = -1;
    for (size_t i = 0; i < strlen(slow) && closed_after < 0; i++) {
        send(fd, slow + i, 1, MSG_NOSIGNAL);
        if (raw_wait_closed(fd, 50, &reset) >= 0)
            closed_after = now_s() - t0;
    }
    close(fd);
    CU_ASSERT(closed_after >= 0.25 && closed_after < 2.0);
    if (closed_after < 0.25 || closed_after >= 2.0)
        fprintf(stderr, "\n  trickled head closed after %.3f s\n", closed_after);
    /* A connection that never says anything. */
    fd = raw_open();
    double silent = raw_wait_closed(fd, 3000, &reset);
    close(fd);
    CU_ASSERT(silent >= 0.25 && silent < 2.0);
    /* Keep-alive: idle twice the deadline between requests is fine. */
    fd = raw_open();
    const char *get1 = "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n";
    raw_send(fd, get1, strlen(get1));
    raw_reply(fd, buf, sizeof buf, 2000, false);
    CU_ASSERT_EQUAL(raw_status(buf), 200);
    spin(600);
    raw_send(fd, get1, strlen(get1));
    raw_reply(fd, buf, sizeof buf, 2000, false);
    CU_ASSERT_EQUAL(raw_status(buf), 200);
    close(fd);
    /* A body may take longer than the head's deadline. */
    fd = raw_open();
    const char *post = "POST /v1/signals/webster HTTP/1.1\r\nHost: x\r\n"
                       "Authorization: Bearer k-reader\r\nContent-Length: 9\r\n\r\n";
    raw_send(fd, post, strlen(post));
    for (const char *b = "{\"a\": 1}\n"; *b; b++) {
        spin(70);
        raw_send(fd, b, 1);
    }
    raw_reply(fd, buf, sizeof buf, 2000, false);
    close(fd);
    CU_ASSERT_EQUAL(raw_status(buf), 200);
    char *log = log_text();
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "event=http_header_timeout"));
    free(log);
    fx_stop();
}

/* server.max_connections: one more is closed at once, without a
 * request; when one goes, the next is served. */
static void test_max_connections(void)
{
    fx_max_conns = 4;
    fx_start();
    fx_max_conns = 0;
    char buf[8192];
    bool reset;
    int fds[4];
    const char *get1 = "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < 4; i++) {
        fds[i] = raw_open();
        raw_send(fds[i], get1, strlen(get1));
        raw_reply(fds[i], buf, sizeof buf, 2000, false);
        CU_ASSERT_EQUAL(raw_status(buf), 200);
    }
    int extra = raw_open();
    CU_ASSERT(raw_wait_closed(extra, 1000, &reset) >= 0);
    close(extra);
    close(fds[0]);
    spin(50);
    extra = raw_open();
    raw_send(extra, get1, strlen(get1));
    raw_reply(extra, buf, sizeof buf, 2000, false);
    CU_ASSERT_EQUAL(raw_status(buf), 200);
    close(extra);
    for (int i = 1; i < 4; i++)
        close(fds[i]);
    char *log = log_text();
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "event=http_connection_refused"));
    free(log);
    fx_stop();
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* The open-file limit that leaves exactly `spare` descriptors free. */
static rlim_t limit_leaving(int spare)
{
    int fd = 0;
    for (; spare > 0; fd++) {
        if (fcntl(fd, F_GETFD) == -1)
            spare--;
    }
    return (rlim_t)fd;
}

static size_t count_lines(const char *text, const char *what)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, what)) != NULL; p++)
        n++;
    return n;
}

/* With the open-file limit reached, connections wait in the listen
 * queue and accept() fails: the server must not spin on it (or log every
 * failure), and must serve again once descriptors are free. */
static void test_fd_exhaustion(void)
{
    fx_start();
    struct rlimit old, low;
    FILE *errf = tmpfile();
    int saved_stderr = dup(2);
    CU_ASSERT_FATAL(errf != NULL && saved_stderr >= 0);
    getrlimit(RLIMIT_NOFILE, &old);
    low = old;
    low.rlim_cur = limit_leaving(12);
    CU_ASSERT_FATAL(setrlimit(RLIMIT_NOFILE, &low) == 0);
    /* Clients take every descriptor left, so the server has none. */
    int clients[64], n = 0;
    while (n < 64) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            break;
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)F.port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            close(fd);
            break;
        }
        clients[n++] = fd;
    }
    CU_ASSERT(n == 12);
    /* A second with accept failing: CPU time and what went to stderr
     * (where libevent writes its own warnings). */
    fflush(stderr);
    dup2(fileno(errf), 2);
    double cpu0 = cpu_seconds(), t0 = now_s();
    struct timeval one = {1, 0};
    event_base_loopexit(F.base, &one);
    event_base_dispatch(F.base);
    double cpu = cpu_seconds() - cpu0, wall = now_s() - t0;
    dup2(saved_stderr, 2);
    setrlimit(RLIMIT_NOFILE, &old);
    struct stat st;
    long errbytes = fstat(fileno(errf), &st) == 0 ? (long)st.st_size : -1;
    CU_ASSERT(cpu < 0.15);
    CU_ASSERT(errbytes == 0);
    if (cpu >= 0.15 || errbytes != 0)
        fprintf(stderr, "\n  %.2f s CPU in %.2f s with accept failing, %ld bytes on stderr\n",
                cpu, wall, errbytes);
    close(saved_stderr);
    fclose(errf);
    for (int i = 0; i < n; i++)
        close(clients[i]);
    char *log = log_text();
    size_t lines = count_lines(log, "event=http_accept_failed");
    CU_ASSERT(lines >= 1 && lines <= 10);
    free(log);
    /* Descriptors are back: served again (after the back-off). */
    struct resp r;
    struct req_opts o = {.body_len = -1, .timeout_ms = 4000};
    do_req("GET", "/v1/health", &o, &r);
    CU_ASSERT_EQUAL(r.status, 200);
    resp_free(&r);
    fx_stop();
}

/* Failed authentications are counted per client address: after
 * auth_fail_limit of them every request that carries a key -- a right
 * one too, or guessing could go on -- gets 429 with Retry-After until the
 * window has passed; reads without a key are not affected. */
static void test_auth_failures(void)
{
    fx_auth_fails = 3;
    fx_start();
    fx_auth_fails = 0;
    struct resp r;
    for (int i = 0; i < 3; i++) {
        get("/v1/parking/lots/x", "guess", &r);
        assert_json_error(&r, 401, "unauthorized");
        resp_free(&r);
    }
    get("/v1/parking/lots/x", "guess-again", &r);
    assert_json_error(&r, 429, "rate_limited");
    const char *after = hdr(&r, "Retry-After");
    CU_ASSERT(after != NULL && atoi(after) >= 1 && atoi(after) <= 60);
    resp_free(&r);
    get("/v1/parking/lots/x", "k-reader", &r);
    assert_json_error(&r, 429, "rate_limited");
    resp_free(&r);
    get("/v1/parking/lots/x", NULL, &r);
    CU_ASSERT_EQUAL(r.status, 200);
    resp_free(&r);
    fx_stop();
}

/* Plates are personal data: the request log and the timeout warning
 * name the route pattern, never the path's parameters or query values. */
static void test_log_keeps_plates_out(void)
{
    fx_start_opts(1024, 100, true, NULL);
    struct resp r;
    get("/v1/parking/accounts/%E9%B2%81A12345?plate=B99999", NULL, &r);
    CU_ASSERT_EQUAL(r.status, 200);
    resp_free(&r);
    get("/slow/ZZ9999", NULL, &r);
    assert_json_error(&r, 503, "timeout");
    resp_free(&r);
    char *log = log_text();
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "event=http_request method=GET "
                                       "route=/v1/parking/accounts/{plate} status=200"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "event=http_timeout method=GET route=/slow/{plate}"));
    const char *secret[] = {"A12345", "%E9%B2%81", "\xe9\xb2\x81", "B99999", "ZZ9999"};
    for (size_t i = 0; i < sizeof secret / sizeof secret[0]; i++)
        CU_ASSERT_PTR_NULL(strstr(log, secret[i]));
    free(log);
    fx_stop();
}

/* evhttp answers some requests itself (a request line it cannot parse,
 * headers over the limit, a chunked body over max_body_bytes) by calling
 * evhttp_send_error, which writes HTML; http.c defines that function so
 * libevent's calls land in ours and come back as the API's JSON. This
 * fails if a libevent upgrade binds the call internally. */
static void test_libevent_errors_are_json(void)
{
    fx_start();
    char buf[8192], code[64];
    bool closed;
    CU_ASSERT_EQUAL(raw_once("GARBAGE\r\n\r\n", buf, sizeof buf, 2000, &closed), 400);
    CU_ASSERT_STRING_EQUAL(raw_code(buf, code, sizeof code), "bad_request");
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "Content-Type: application/json; charset=utf-8"));
    CU_ASSERT_PTR_NULL(strstr(buf, "<html"));
    CU_ASSERT_EQUAL(raw_once("PUT /v1/parking/lots/x HTTP/1.1\r\nHost: x\r\n"
                             "Authorization: Bearer k-operator\r\nTransfer-Encoding: chunked\r\n"
                             "\r\n800\r\n",
                             buf, sizeof buf, 2000, &closed),
                    413);
    CU_ASSERT_STRING_EQUAL(raw_code(buf, code, sizeof code), "payload_too_large");
    CU_ASSERT_PTR_NULL(strstr(buf, "<html"));
    fx_stop();
}

static int suite_setup(void)
{
    /* The server writes to sockets whose peer may be gone. */
    signal(SIGPIPE, SIG_IGN);
    return curl_global_init(CURL_GLOBAL_DEFAULT) == 0 ? 0 : -1;
}

static int suite_teardown(void)
{
    curl_global_cleanup();
    return 0;
}

int suite_http(void)
{
    CU_pSuite s = CU_add_suite("http", suite_setup, suite_teardown);
    if (s == NULL)
        return -1;
    if (!CU_add_test(s, "routing and parameters", test_routing_params) ||
        !CU_add_test(s, "route registration", test_route_registration) ||
        !CU_add_test(s, "404 and 405 with Allow", test_404_405) ||
        !CU_add_test(s, "HEAD", test_head) ||
        !CU_add_test(s, "reply head and long paths", test_reply_head) ||
        !CU_add_test(s, "OPTIONS and CORS", test_options_cors) ||
        !CU_add_test(s, "bad JSON", test_bad_json) ||
        !CU_add_test(s, "413 over max_body_bytes", test_body_limit) ||
        !CU_add_test(s, "malformed requests get JSON", test_malformed_requests) ||
        !CU_add_test(s, "auth: 401, 403, public read", test_auth) ||
        !CU_add_test(s, "rate limit: 429 per caller", test_rate_limit) ||
        !CU_add_test(s, "role hierarchy", test_role_table) ||
        !CU_add_test(s, "keys file", test_keys_file) ||
        !CU_add_test(s, "request timeout", test_timeout) ||
        !CU_add_test(s, "double reply", test_double_reply) ||
        !CU_add_test(s, "client disconnect", test_client_disconnect) ||
        !CU_add_test(s, "pipelining and keep-alive", test_pipelining) ||
        !CU_add_test(s, "metrics and request log", test_metrics_and_log) ||
        !CU_add_test(s, "JSON replies as jansson writes them", test_json_output) ||
        !CU_add_test(s, "server-sent events", test_sse) ||
        !CU_add_test(s, "stream after timeout", test_stream_after_timeout) ||
        !CU_add_test(s, "stream back-pressure", test_stream_backpressure) ||
        !CU_add_test(s, "stream paced by the drained callback", test_stream_paced) ||
        !CU_add_test(s, "caller of a request", test_req_caller) ||
        !CU_add_test(s, "drain", test_drain) ||
        !CU_add_test(s, "listen errors", test_listen_errors) ||
        !CU_add_test(s, "request smuggling refused", test_smuggling) ||
        !CU_add_test(s, "declared body over the limit: 413 at once", test_declared_too_large) ||
        !CU_add_test(s, "chunk extensions", test_chunk_extensions) ||
        !CU_add_test(s, "HEAD of a stream", test_head_stream) ||
        !CU_add_test(s, "header deadline", test_header_timeout) ||
        !CU_add_test(s, "max connections", test_max_connections) ||
        !CU_add_test(s, "descriptors exhausted: no spin", test_fd_exhaustion) ||
        !CU_add_test(s, "failed authentication throttled", test_auth_failures) ||
        !CU_add_test(s, "no plates in the log", test_log_keeps_plates_out) ||
        !CU_add_test(s, "libevent's own errors are JSON", test_libevent_errors_are_json))
        return -1;
    return 0;
}
