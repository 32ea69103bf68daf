/* test_params.c -- query parameters (params.h), over real HTTP.
 *
 * An in-process server on 127.0.0.1:0 runs its event loop in a second
 * thread (the only user of its event_base); the test thread is the curl
 * client. Each route reads one kind of parameter and answers
 * {"v": <value>} or the 400 of params.h, which the tests check by the
 * parameter named at the start of the message. */
#include <CUnit/CUnit.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <event2/event.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "http.h"
#include "params.h"
#include "support.h"

#define REPLAY_NOW 1234.0

struct fx {
    struct event_base *base;
    struct http_server *h;
    struct app app;                   /* for params_now: replay clock at REPLAY_NOW */
    pthread_t thread;
    char url[64];
};

static void reply_v(struct http_req *r, json_t *v)
{
    http_reply_json(r, 200, json_pack("{s:o}", "v", v));
}

static void h_number(struct http_req *r, void *arg)
{
    double v;
    unsigned flags = (unsigned)(size_t)arg;
    if (params_number(r, "x", flags, 0, 10, 7, &v) == 0)
        reply_v(r, json_real(v));
}

static void h_bool(struct http_req *r, void *arg)
{
    bool v;
    (void)arg;
    if (params_bool(r, "x", false, &v) == 0)
        reply_v(r, json_boolean(v));
}

static void h_crs(struct http_req *r, void *arg)
{
    bool v;
    (void)arg;
    if (params_crs(r, &v) == 0)
        reply_v(r, json_boolean(v));
}

static void h_now(struct http_req *r, void *arg)
{
    double v;
    if (params_now(arg, r, &v) == 0)
        reply_v(r, json_real(v));
}

static void h_point(struct http_req *r, void *arg)
{
    struct geo_pt p;
    bool gcj02;
    (void)arg;
    if (params_crs(r, &gcj02) == 0 && params_point(r, gcj02, &p) == 0)
        reply_v(r, json_pack("[f,f]", p.lon, p.lat));
}

static void h_bbox(struct http_req *r, void *arg)
{
    double bb[4] = {0};
    bool given;
    if (params_bbox(r, arg != NULL, bb, &given) == 0)
        reply_v(r, given ? json_pack("[f,f,f,f]", bb[0], bb[1], bb[2], bb[3]) : json_null());
}

static void h_quit(struct http_req *r, void *arg)
{
    struct fx *f = arg;
    reply_v(r, json_null());
    event_base_loopexit(f->base, NULL);
}

static void *serve(void *arg)
{
    struct fx *f = arg;
    event_base_dispatch(f->base);
    return NULL;
}

static bool fx_start(struct fx *f)
{
    char err[256];
    struct http_opts o = {.listen = "127.0.0.1:0"};
    memset(f, 0, sizeof *f);
    f->app.cfg.clock_mode = CLOCK_REPLAY;
    f->app.replay_now = REPLAY_NOW;
    if ((f->base = event_base_new()) == NULL ||
        (f->h = http_server_new(f->base, &o, NULL, NULL, err, sizeof err)) == NULL)
        return false;
    int rc = 0;
    rc |= http_route(f->h, HTTP_GET, "/number", ROLE_NONE, false, h_number, (void *)0);
    rc |= http_route(f->h, HTTP_GET, "/integer", ROLE_NONE, false, h_number,
                     (void *)(size_t)PARAMS_INTEGER);
    rc |= http_route(f->h, HTTP_GET, "/required", ROLE_NONE, false, h_number,
                     (void *)(size_t)PARAMS_REQUIRED);
    rc |= http_route(f->h, HTTP_GET, "/bool", ROLE_NONE, false, h_bool, NULL);
    rc |= http_route(f->h, HTTP_GET, "/crs", ROLE_NONE, false, h_crs, NULL);
    rc |= http_route(f->h, HTTP_GET, "/now", ROLE_NONE, false, h_now, &f->app);
    rc |= http_route(f->h, HTTP_GET, "/point", ROLE_NONE, false, h_point, NULL);
    rc |= http_route(f->h, HTTP_GET, "/bbox", ROLE_NONE, false, h_bbox, NULL);
    rc |= http_route(f->h, HTTP_GET, "/bbox/required", ROLE_NONE, false, h_bbox, f);
    rc |= http_route(f->h, HTTP_GET, "/quit", ROLE_NONE, false, h_quit, f);
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%d", http_server_port(f->h));
    return rc == 0 && pthread_create(&f->thread, NULL, serve, f) == 0;
}

static void fx_stop(struct fx *f)
{
    struct http_result r;
    if (support_get(f->url, "/quit", NULL, &r) == 0)
        http_result_free(&r);
    pthread_join(f->thread, NULL);
    http_server_free(f->h);
    event_base_free(f->base);
}

static struct fx F;

/* GET path: the value of a 200, or NULL after checking that the 400
 * names `param` (pass NULL when a 200 is expected). Caller frees. */
static json_t *get(const char *path, const char *param, int line)
{
    struct http_result r;
    json_t *v = NULL;
    CU_ASSERT_EQUAL_FATAL(support_get(F.url, path, NULL, &r), 0);
    long want = param ? 400 : 200;
    CU_ASSERT_EQUAL(r.status, want);
    if (param != NULL) {
        const char *msg = json_string_value(json_object_get(json_object_get(r.json, "error"),
                                                            "message"));
        CU_ASSERT_STRING_EQUAL(support_error_code(&r), "invalid");
        CU_ASSERT(msg != NULL && strncmp(msg, param, strlen(param)) == 0 &&
                  msg[strlen(param)] == ':');
    } else if (r.json != NULL) {
        v = json_incref(json_object_get(r.json, "v"));
    }
    if (r.status != want)
        fprintf(stderr, "\nline %d: GET %s -> %ld: %s\n", line, path, r.status, r.body);
    http_result_free(&r);
    return v;
}
#define BAD(path, param) json_decref(get((path), (param), __LINE__))

static double num(const char *path, int line)
{
    json_t *v = get(path, NULL, line);
    double d = json_is_number(v) ? json_number_value(v) : NAN;
    json_decref(v);
    return d;
}
#define NUM(path) num((path), __LINE__)

static int boolean(const char *path, int line)
{
    json_t *v = get(path, NULL, line);
    int b = json_is_boolean(v) ? json_is_true(v) : -1;
    json_decref(v);
    return b;
}
#define BOOL(path) boolean((path), __LINE__)

static void test_number(void)
{
    CU_ASSERT_EQUAL(NUM("/number"), 7);                   /* the default */
    CU_ASSERT_EQUAL(NUM("/number?x=3.5"), 3.5);
    CU_ASSERT_EQUAL(NUM("/number?x=0"), 0);
    CU_ASSERT_EQUAL(NUM("/number?x=1e1"), 10);            /* bounds included */
    CU_ASSERT_EQUAL(NUM("/number?x=-0"), 0);
    BAD("/number?x=10.01", "x");
    BAD("/number?x=-1", "x");
    BAD("/number?x=", "x");
    BAD("/number?x=%201", "x");                           /* leading space */
    BAD("/number?x=1x", "x");
    BAD("/number?x=nan", "x");
    BAD("/number?x=1e999", "x");
    BAD("/number?x=0x5", "x");                            /* hex: strtod would take it */
    BAD("/number?x=0X1p2", "x");
    BAD("/number?x=inf", "x");
    CU_ASSERT_EQUAL(NUM("/number?x=2&x=99"), 2);          /* the first counts */
    CU_ASSERT_EQUAL(NUM("/integer?x=3"), 3);
    CU_ASSERT_EQUAL(NUM("/integer?x=3.0"), 3);
    BAD("/integer?x=3.5", "x");
    BAD("/required", "x");
    CU_ASSERT_EQUAL(NUM("/required?x=4"), 4);
}

/* params_parse_number takes a short cut for plain decimals: it must give
 * strtod's double to the bit, and reject exactly what it rejected, but
 * for hexadecimal, which no query parameter takes. */
static bool same_as_strtod(const char *s)
{
    char *end;
    double got = -12345.0, want;
    bool ok = params_parse_number(s, &got);
    errno = 0;
    want = strtod(s, &end);
    bool want_ok = *s != '\0' && !isspace((unsigned char)*s) && *end == '\0' &&
                   errno != ERANGE && isfinite(want) && strpbrk(s, "xX") == NULL;
    return ok == want_ok && (!ok || memcmp(&got, &want, sizeof got) == 0);
}

static void test_parse_number(void)
{
    static const char *fixed[] = {
        "0", "-0", "+0", "0.", ".5", "-.5", "1.", "121.39", "37.54", "2000", "-180", "+90",
        "0.1", "0.3", "123456789012345", "1234567890123456", "9007199254740993",
        "0.0000000000000000000001", "0.00000000000000000000001", "1.7976931348623157",
        "00000000000000000000123.5", "999999999999999.9", "1e1", "1E-3", "0x10", "inf",
        "nan", "1e999", "", " 1", "1 ", "1x", ".", "-", "+", "1.2.3", "--1", "+-1", "1..2",
    };
    char buf[64];
    unsigned seed = 12345;
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        CU_ASSERT_TRUE(same_as_strtod(fixed[i]));
    /* Random decimals around the fast path's limits (15 digits, 10^22). */
    for (int i = 0; i < 200000; i++) {
        int n = 0, len = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 26;
        int dot = (int)((seed = seed * 1103515245u + 12345u) >> 16) % (len + 2);
        if (((seed = seed * 1103515245u + 12345u) >> 16) % 3 == 0)
            buf[n++] = '-';
        for (int k = 0; k < len; k++) {
            if (k == dot)
                buf[n++] = '.';
            buf[n++] = (char)('0' + ((seed = seed * 1103515245u + 12345u) >> 16) % 10);
        }
        buf[n] = '\0';
        if (!same_as_strtod(buf)) {
            CU_FAIL("params_parse_number differs from strtod");
            break;
        }
    }
}

static void test_bool(void)
{
    CU_ASSERT_EQUAL(BOOL("/bool"), 0);
    CU_ASSERT_EQUAL(BOOL("/bool?x"), 1);
    CU_ASSERT_EQUAL(BOOL("/bool?x="), 1);
    CU_ASSERT_EQUAL(BOOL("/bool?x=true"), 1);
    CU_ASSERT_EQUAL(BOOL("/bool?x=1"), 1);
    CU_ASSERT_EQUAL(BOOL("/bool?x=false"), 0);
    CU_ASSERT_EQUAL(BOOL("/bool?x=0"), 0);
    BAD("/bool?x=yes", "x");
    BAD("/bool?x=TRUE1", "x");
}

static void test_crs_and_now(void)
{
    CU_ASSERT_EQUAL(BOOL("/crs"), 0);
    CU_ASSERT_EQUAL(BOOL("/crs?crs=wgs84"), 0);
    CU_ASSERT_EQUAL(BOOL("/crs?crs=gcj02"), 1);
    CU_ASSERT_EQUAL(BOOL("/crs?crs=GCJ02"), 1);
    BAD("/crs?crs=bd09", "crs");
    BAD("/crs?crs=", "crs");
    CU_ASSERT_EQUAL(NUM("/now"), REPLAY_NOW);
    CU_ASSERT_EQUAL(NUM("/now?at=1764547200.5"), 1764547200.5);
    BAD("/now?at=yesterday", "at");
    BAD("/now?at=-5", "at");
    /* at= reads like every other number. */
    BAD("/now?at=%201764547200", "at");
    BAD("/now?at=%0A1764547200", "at");
    BAD("/now?at=0x69208600", "at");
    BAD("/now?at=inf", "at");
    BAD("/now?at=1e999", "at");
    CU_ASSERT_EQUAL(NUM("/now?at=1.7645472e9"), 1764547200.0);
}

static void test_point(void)
{
    json_t *v = get("/point?lon=121.4&lat=37.5", NULL, __LINE__);
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_array_get(v, 0)), 121.4, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_array_get(v, 1)), 37.5, 1e-12);
    json_decref(v);
    /* GCJ-02 in: the WGS84 point it came from */
    double glon, glat;
    char path[128];
    geo_wgs84_to_gcj02(121.4, 37.5, &glon, &glat);
    snprintf(path, sizeof path, "/point?lon=%.9f&lat=%.9f&crs=gcj02", glon, glat);
    v = get(path, NULL, __LINE__);
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_array_get(v, 0)), 121.4, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_array_get(v, 1)), 37.5, 1e-6);
    json_decref(v);
    BAD("/point?lat=37.5", "lon");
    BAD("/point?lon=121.4", "lat");
    BAD("/point?lon=180.5&lat=37.5", "lon");
    BAD("/point?lon=121.4&lat=-91", "lat");
}

static void test_bbox(void)
{
    json_t *v = get("/bbox?bbox=121.3,37.4,121.5,37.6", NULL, __LINE__);
    CU_ASSERT_EQUAL(json_array_size(v), 4);
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_array_get(v, 3)), 37.6, 1e-12);
    json_decref(v);
    v = get("/bbox?bbox=179,-1,-179,1", NULL, __LINE__);  /* across the antimeridian */
    CU_ASSERT_EQUAL(json_array_size(v), 4);
    json_decref(v);
    v = get("/bbox", NULL, __LINE__);
    CU_ASSERT(json_is_null(v));
    json_decref(v);
    BAD("/bbox/required", "bbox");
    BAD("/bbox?bbox=1,2,3", "bbox");
    BAD("/bbox?bbox=1,2,3,4,5", "bbox");
    BAD("/bbox?bbox=1,,2,3,4", "bbox");
    BAD("/bbox?bbox=1,2,3,4,", "bbox");
    BAD("/bbox?bbox=1,5,3,4", "bbox");                   /* minlat > maxlat */
    BAD("/bbox?bbox=1,2,3,95", "bbox");
}

static int init(void)
{
    return fx_start(&F) ? 0 : -1;
}

static int cleanup(void)
{
    fx_stop(&F);
    return 0;
}

int suite_params(void)
{
    CU_pSuite s = CU_add_suite("params", init, cleanup);
    if (s == NULL || CU_add_test(s, "numbers", test_number) == NULL ||
        CU_add_test(s, "number syntax", test_parse_number) == NULL ||
        CU_add_test(s, "booleans", test_bool) == NULL ||
        CU_add_test(s, "crs and at", test_crs_and_now) == NULL ||
        CU_add_test(s, "points", test_point) == NULL ||
        CU_add_test(s, "bounding boxes", test_bbox) == NULL)
        return -1;
    return 0;
}
