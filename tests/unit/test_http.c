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
#include <sys/socket.h>
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
    json_t *j = raw_json(buf);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                           "bad_request");
    json_decref(j);
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
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "event=http_timeout method=GET path=/slow"));
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
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "level=debug event=http_request method=GET path=/v1/parking/lots/a status=200 ms="));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "event=http_request method=PUT path=/v1/parking/lots/b status=403 ms="));
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

/* http.c replaces evbuffer_add_printf (evhttp writes every reply head
 * with it): the two formats evhttp uses are copied by hand, everything
 * else goes to libevent's formatter. Each must give snprintf's bytes. */
static void expect_printf(struct evbuffer *b, int n, const char *want)
{
    size_t len = evbuffer_get_length(b);
    char *got = calloc(1, len + 1);
    evbuffer_remove(b, got, len);
    CU_ASSERT_EQUAL(n, (int)strlen(want));
    CU_ASSERT_STRING_EQUAL(got, want);
    free(got);
}

static void test_reply_head_printf(void)
{
    struct evbuffer *b = evbuffer_new();
    char want[1200], big[700];
    int n = evbuffer_add_printf(b, "HTTP/%d.%d %d %s\r\n", 1, 1, 200, "OK");
    expect_printf(b, n, "HTTP/1.1 200 OK\r\n");
    n = evbuffer_add_printf(b, "HTTP/%d.%d %d %s\r\n", 1, 0, 503, "Service Unavailable");
    expect_printf(b, n, "HTTP/1.0 503 Service Unavailable\r\n");
    /* out of the hand-copied range: the general formatter */
    n = evbuffer_add_printf(b, "HTTP/%d.%d %d %s\r\n", 10, -1, 200, "OK");
    snprintf(want, sizeof want, "HTTP/%d.%d %d %s\r\n", 10, -1, 200, "OK");
    expect_printf(b, n, want);
    n = evbuffer_add_printf(b, "%s: %s\r\n", "Content-Length", "0");
    expect_printf(b, n, "Content-Length: 0\r\n");
    n = evbuffer_add_printf(b, "%s: %s\r\n", "X-Empty", "");
    expect_printf(b, n, "X-Empty: \r\n");
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    n = evbuffer_add_printf(b, "%s: %s\r\n", "X-Long", big);
    snprintf(want, sizeof want, "X-Long: %s\r\n", big);
    expect_printf(b, n, want);
    n = evbuffer_add_printf(b, "%s=%d;%.2f", "k", 42, 1.5);
    expect_printf(b, n, "k=42;1.50");
    evbuffer_free(b);

    /* Through the server: an ordinary request and one whose path and
     * query are too long for a pooled request block. */
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
        !CU_add_test(s, "reply head without vsnprintf", test_reply_head_printf) ||
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
        !CU_add_test(s, "listen errors", test_listen_errors))
        return -1;
    return 0;
}
