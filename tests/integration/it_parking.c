/* it_parking.c -- api.md §2 availability over real HTTP with a real Redis.
 *
 * Each test starts its own redis-server and bin/cityd on the fixture map
 * tests/fixtures/maps/ok (lots zf-001 with bays B1-001, B1-002 (level B1)
 * and B2-001 (B2); zf-002, a Polygon lot with bay B1-001; zf-003 without
 * bays; screen s-1 showing zf-001 and zf-002). Covered: lots GET/PUT/bbox,
 * observations (idempotency also across a restart, ordering, clamping,
 * per-item errors), nearest (every parameter, caps, GCJ-02), bays without
 * plates, screens, the SSE stream, two cityd on one Redis, a Redis
 * restart in the middle of a batch, and the capped history stream. */
#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "geo.h"
#include "keys.h"
#include "support.h"

#define MAP "map.dir=tests/fixtures/maps/ok"
#define T0 1764400000.0               /* a fixed past instant: tests pass at= */

struct env {
    struct test_redis redis;
    struct test_cityd cityd;
    bool up;
};

static int get_ready(const char *base, const char *path, struct http_result *r);
static long stream_clients(const char *base);

/* Start a cityd on the env's Redis and wait until parking has been
 * rebuilt from it. extra NULL: the fixture map in replay clock mode. */
static bool cityd_up(struct env *e, struct test_cityd *c, const char *const *extra)
{
    static const char *const dflt[] = {MAP, "clock.mode=replay", NULL};
    struct http_result r;
    if (support_cityd_start(c, e->redis.url, extra ? extra : dflt) != 0)
        return false;
    bool ok = get_ready(c->base, "/v1/parking/lots/zf-001", &r) == 0 && r.status == 200;
    http_result_free(&r);
    return ok;
}

static bool env_start(struct env *e, const char *const *extra)
{
    memset(e, 0, sizeof *e);
    if (support_redis_start(&e->redis) != 0)
        return false;
    if (!cityd_up(e, &e->cityd, extra)) {
        support_redis_stop(&e->redis);
        return false;
    }
    e->up = true;
    return true;
}

/* Stop and start the env's cityd again (same Redis). */
static bool env_restart_cityd(struct env *e)
{
    support_cityd_stop(&e->cityd);
    return cityd_up(e, &e->cityd, NULL);
}

static void env_stop(struct env *e)
{
    if (!e->up)
        return;
    support_cityd_stop(&e->cityd);
    support_redis_stop(&e->redis);
    e->up = false;
}

/* GET until it answers 200 (the rebuild from Redis runs right after start). */
static int get_ready(const char *base, const char *path, struct http_result *r)
{
    for (int i = 0; i < 100; i++) {
        if (support_get(base, path, NULL, r) == 0 && r->status != 503)
            return 0;
        http_result_free(r);
        support_sleep_ms(50);
    }
    return support_get(base, path, NULL, r);
}

static json_t *jget(const json_t *o, const char *k)
{
    return json_object_get(o, k);
}

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "(none)";
}

/* A JSON string, or "(none)": strcmp(NULL) would crash the whole run
 * instead of failing one assertion. */
static const char *sval(const json_t *j)
{
    const char *s = json_string_value(j);
    return s ? s : "(none)";
}

static bool contains(const char *hay, const char *needle)
{
    return hay != NULL && strstr(hay, needle) != NULL;
}

static long long jint(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

/* POST observations; returns the HTTP status, reply in r. */
static long post_obs(const char *base, const char *items_json, struct http_result *r)
{
    char *body = malloc(strlen(items_json) + 32);
    sprintf(body, "{\"observations\":%s}", items_json);
    int rc = support_send("POST", base, "/v1/parking/observations", "k-sensor", body, r);
    free(body);
    return rc == 0 ? r->status : -1;
}

static void expect_counts(const struct http_result *r, long long acc, long long dup,
                          long long old, size_t rej)
{
    CU_ASSERT_EQUAL(r->status, 200);
    if (r->json == NULL) {
        CU_FAIL("no JSON reply");
        return;
    }
    if (jint(r->json, "accepted") != acc || jint(r->json, "duplicates") != dup ||
        jint(r->json, "outdated") != old || json_array_size(jget(r->json, "rejected")) != rej)
        fprintf(stderr, "\nreply %s\n", r->body);
    CU_ASSERT_EQUAL(jint(r->json, "accepted"), acc);
    CU_ASSERT_EQUAL(jint(r->json, "duplicates"), dup);
    CU_ASSERT_EQUAL(jint(r->json, "outdated"), old);
    CU_ASSERT_EQUAL(json_array_size(jget(r->json, "rejected")), rej);
}

/* The rejected entry for item `index`, or NULL. */
static const char *rejected_error(const struct http_result *r, long long index)
{
    json_t *rej = jget(r->json, "rejected");
    for (size_t i = 0; i < json_array_size(rej); i++)
        if (jint(json_array_get(rej, i), "index") == index)
            return jstr(json_array_get(rej, i), "error");
    return NULL;
}

static bool starts(const char *s, const char *prefix)
{
    return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A lot as GET returns it at `at`. */
static json_t *lot_at(const char *base, const char *id, double at)
{
    char path[256];
    struct http_result r;
    snprintf(path, sizeof path, "/v1/parking/lots/%s?at=%.0f", id, at);
    if (get_ready(base, path, &r) != 0 || r.status != 200 || r.json == NULL) {
        http_result_free(&r);
        return NULL;
    }
    json_t *j = json_incref(r.json);
    http_result_free(&r);
    return j;
}

/* redis-cli one-liner, first line of output. */
static long long redis_int(const struct test_redis *rd, const char *cmd)
{
    char line[256];
    snprintf(line, sizeof line, "redis-cli -p %d %s", rd->port, cmd);
    FILE *f = popen(line, "r");
    long long v = -1;
    if (f != NULL) {
        if (fgets(line, sizeof line, f) != NULL)
            v = atoll(line);
        pclose(f);
    }
    return v;
}

/* Observations recorded in a lot's history stream: each entry's "obs"
 * field holds records joined by \x1e. */
static long long history_records(const struct test_redis *rd, const char *lot)
{
    char cmd[512], line[1 << 16], key[KEY_MAX];
    snprintf(cmd, sizeof cmd, "redis-cli -p %d --raw XRANGE '%s' - +", rd->port,
             keys_lot(key, sizeof key, lot, "history"));
    FILE *f = popen(cmd, "r");
    long long n = 0;
    bool next_is_obs = false;
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        if (next_is_obs) {
            n++;
            for (const char *p = line; *p; p++)
                n += *p == '\x1e';
        }
        next_is_obs = strcmp(line, "obs\n") == 0;
    }
    if (f != NULL)
        pclose(f);
    return n;
}

/* ---- tests ---- */

/* PUT refuses what the map refuses (docs/parking.md "Lots"): one rule
 * for lot definitions, whichever way they arrive. Each bad body gets 400
 * naming the field and defines nothing; the bounds themselves pass. */
static void test_lot_put_rules(void)
{
    struct env e;
    CU_ASSERT_FATAL(env_start(&e, NULL));
    struct http_result r;
    char n511[512], n512[513], l127[128], l128[129], lv64[64 * 140 + 2], lv65[65 * 8 + 2];
    memset(n511, 'n', 511);
    n511[511] = '\0';
    memset(n512, 'n', 512);
    n512[512] = '\0';
    memset(l127, 'L', 127);
    l127[127] = '\0';
    memset(l128, 'L', 128);
    l128[128] = '\0';
    size_t o = 0, o2 = 0;
    for (int i = 0; i < 65; i++) {
        if (i < 64)
            o += (size_t)snprintf(lv64 + o, sizeof lv64 - o, "%s\"%03d%.124s\"", i ? "," : "",
                                  i, l127);
        o2 += (size_t)snprintf(lv65 + o2, sizeof lv65 - o2, "%s\"L%d\"", i ? "," : "", i);
    }
#define HEAD "{\"location\":{\"type\":\"Point\",\"coordinates\":[121.4,37.5]}"
    static struct { char body[12000]; const char *field; } bad[] = {
        {"", "name"}, {"", "address"}, {"", "levels[1]"}, {"", "levels[0]"}, {"", "levels"},
        {"", "category[0]"}, {"", "priceRatePerHour"}, {"", "priceCurrency"},
        {"", "totalSpotNumber"}, {"", "totalSpotNumber"}, {"", "bays[0].level"},
    };
    snprintf(bad[0].body, sizeof bad[0].body, HEAD ",\"name\":\"%s\",\"totalSpotNumber\":3}", n512);
    snprintf(bad[1].body, sizeof bad[1].body,
             HEAD ",\"name\":\"x\",\"address\":\"%s\",\"totalSpotNumber\":3}", n512);
    snprintf(bad[2].body, sizeof bad[2].body,
             HEAD ",\"name\":\"x\",\"levels\":[\"B1\",\"B\\u0001\"],\"totalSpotNumber\":3}");
    snprintf(bad[3].body, sizeof bad[3].body,
             HEAD ",\"name\":\"x\",\"levels\":[\"%s\"],\"totalSpotNumber\":3}", l128);
    snprintf(bad[4].body, sizeof bad[4].body,
             HEAD ",\"name\":\"x\",\"levels\":[%s],\"totalSpotNumber\":3}", lv65);
    snprintf(bad[5].body, sizeof bad[5].body,
             HEAD ",\"name\":\"x\",\"category\":[\"a\\nb\"],\"totalSpotNumber\":3}");
    snprintf(bad[6].body, sizeof bad[6].body,
             HEAD ",\"name\":\"x\",\"priceRatePerHour\":1e300,\"totalSpotNumber\":3}");
    snprintf(bad[7].body, sizeof bad[7].body,
             HEAD ",\"name\":\"x\",\"priceCurrency\":\"C\\u0007Y\",\"totalSpotNumber\":3}");
    snprintf(bad[8].body, sizeof bad[8].body, HEAD ",\"name\":\"x\",\"totalSpotNumber\":0}");
    snprintf(bad[9].body, sizeof bad[9].body,
             HEAD ",\"name\":\"x\",\"totalSpotNumber\":10000001}");
    snprintf(bad[10].body, sizeof bad[10].body,
             HEAD ",\"name\":\"x\",\"totalSpotNumber\":3,\"levels\":[\"B1\"],"
             "\"bays\":[{\"id\":\"b\",\"level\":\"B\\u001b[31m\"}]}");
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CU_ASSERT_EQUAL(support_send("PUT", e.cityd.base, "/v1/parking/lots/yt-rules",
                                     "k-operator", bad[i].body, &r), 0);
        const char *msg = sval(jget(jget(r.json, "error"), "message"));
        if (r.status != 400 || !starts(msg, bad[i].field))
            fprintf(stderr, "\nPUT case %zu (%s) -> %ld %.200s\n", i, bad[i].field, r.status,
                    r.body);
        CU_ASSERT_EQUAL(r.status, 400);
        CU_ASSERT(starts(msg, bad[i].field));
        /* the message quotes nothing that would break a log line or a terminal */
        for (const char *p = msg; *p; p++)
            CU_ASSERT((unsigned char)*p >= 0x20);
        http_result_free(&r);
    }
    CU_ASSERT_EQUAL(support_get(e.cityd.base, "/v1/parking/lots/yt-rules", NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 404);
    http_result_free(&r);

    /* the bounds themselves: 511-byte name and address, 64 levels of 127 bytes */
    static char ok[16000];
    snprintf(ok, sizeof ok,
             HEAD ",\"name\":\"%s\",\"address\":\"%s\",\"levels\":[%s],\"category\":[\"%s\"],"
             "\"priceRatePerHour\":1e6,\"priceCurrency\":\"CNY\",\"totalSpotNumber\":10000000}",
             n511, n511, lv64, l127);
#undef HEAD
    CU_ASSERT_EQUAL(support_send("PUT", e.cityd.base, "/v1/parking/lots/yt-rules", "k-operator",
                                 ok, &r), 0);
    if (r.status != 201)
        fprintf(stderr, "\nPUT bounds -> %ld %.300s\n", r.status, r.body);
    CU_ASSERT_EQUAL(r.status, 201);
    http_result_free(&r);
    env_stop(&e);
}

static void test_lots_read(void)
{
    struct env e;
    CU_ASSERT_FATAL(env_start(&e, NULL));
    struct http_result r;
    CU_ASSERT_EQUAL(get_ready(e.cityd.base, "/v1/parking/lots/zf-001", &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(jstr(r.json, "id"), "zf-001");
    CU_ASSERT_STRING_EQUAL(jstr(r.json, "type"), "OffStreetParking");
    CU_ASSERT_EQUAL(jint(r.json, "totalSpotNumber"), 320);
    CU_ASSERT(json_is_null(jget(r.json, "availableSpotNumber")));
    CU_ASSERT_STRING_EQUAL(jstr(r.json, "status"), "unknown");
    CU_ASSERT(json_is_true(jget(r.json, "stale")));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.content_type, "application/json"));
    http_result_free(&r);

    CU_ASSERT_EQUAL(support_get(e.cityd.base, "/v1/parking/lots/nope", NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 404);
    CU_ASSERT_STRING_EQUAL(support_error_code(&r), "not_found");
    http_result_free(&r);

    /* the box holds zf-001 (121.395, 37.54) and zf-003 (121.392, 37.541) only */
    CU_ASSERT_EQUAL(support_get(e.cityd.base, "/v1/parking/lots?bbox=121.39,37.539,121.396,37.542",
                                NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    json_t *lots = jget(r.json, "lots");
    CU_ASSERT_EQUAL_FATAL(json_array_size(lots), 2);
    CU_ASSERT_STRING_EQUAL(jstr(json_array_get(lots, 0), "id"), "zf-001");
    CU_ASSERT_STRING_EQUAL(jstr(json_array_get(lots, 1), "id"), "zf-003");
    http_result_free(&r);
    CU_ASSERT_EQUAL(support_get(e.cityd.base, "/v1/parking/lots", NULL, &r), 0);
    CU_ASSERT_EQUAL(json_array_size(jget(r.json, "lots")), 3);
    http_result_free(&r);
    static const char *bad[] = {"1,2,3", "a,b,c,d", "121,38,122,37", "121,37,122,38,5",
                                "200,37,201,38"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char path[128];
        snprintf(path, sizeof path, "/v1/parking/lots?bbox=%s", bad[i]);
        CU_ASSERT_EQUAL(support_get(e.cityd.base, path, NULL, &r), 0);
        CU_ASSERT_EQUAL(r.status, 400);
        CU_ASSERT(contains(r.body, "bbox"));
        http_result_free(&r);
    }
    env_stop(&e);
}

static void test_lot_put(void)
{
    struct env e;
    CU_ASSERT_FATAL(env_start(&e, NULL));
    struct http_result r;
    const char *body = "{\"name\":\"New \\\"one\\\"\",\"location\":{\"type\":\"Point\","
                       "\"coordinates\":[121.41,37.55]},\"totalSpotNumber\":50,"
                       "\"category\":[\"ev\"],\"priceRatePerHour\":4.5,\"levels\":[\"L1\"],"
                       "\"bays\":[{\"id\":\"A1\",\"level\":\"L1\"},\"A2\"]}";
    CU_ASSERT_EQUAL(support_send("PUT", e.cityd.base, "/v1/parking/lots/yt-new", "k-reader",
                                 body, &r), 0);
    CU_ASSERT_EQUAL(r.status, 403);
    http_result_free(&r);
    CU_ASSERT_EQUAL(support_send("PUT", e.cityd.base, "/v1/parking/lots/yt-new", "k-operator",
                                 body, &r), 0);
    CU_ASSERT_EQUAL(r.status, 201);
    CU_ASSERT_STRING_EQUAL(jstr(r.json, "name"), "New \"one\"");
    CU_ASSERT_EQUAL(json_number_value(jget(r.json, "priceRatePerHour")), 4.5);
    http_result_free(&r);
    CU_ASSERT_EQUAL(support_send("PUT", e.cityd.base, "/v1/parking/lots/yt-new", "k-operator",
                                 body, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);                      /* replaced */
    http_result_free(&r);
    CU_ASSERT_EQUAL(support_get(e.cityd.base, "/v1/parking/lots/yt-new/bays", NULL, &r), 0);
    CU_ASSERT_EQUAL(json_array_size(jget(r.json, "bays")), 2);
    http_result_free(&r);

    /* a Polygon location is replaced by its centroid; GCJ-02 input */
    const char *poly = "{\"name\":\"P\",\"totalSpotNumber\":5,\"location\":{\"type\":\"Polygon\","
                       "\"coordinates\":[[[121.40,37.50],[121.42,37.50],[121.42,37.52],"
                       "[121.40,37.52],[121.40,37.50]]]}}";
    CU_ASSERT_EQUAL(support_send("PUT", e.cityd.base, "/v1/parking/lots/yt-poly", "k-operator",
                                 poly, &r), 0);
    CU_ASSERT_EQUAL(r.status, 201);
    json_t *c = jget(jget(r.json, "location"), "coordinates");
    CU_ASSERT(fabs(json_number_value(json_array_get(c, 0)) - 121.41) < 1e-6);
    CU_ASSERT(fabs(json_number_value(json_array_get(c, 1)) - 37.51) < 1e-4);
    http_result_free(&r);
    double glon, glat;
    geo_wgs84_to_gcj02(121.43, 37.53, &glon, &glat);
    char gbody[256];
    snprintf(gbody, sizeof gbody, "{\"name\":\"G\",\"totalSpotNumber\":5,\"location\":"
             "{\"type\":\"Point\",\"coordinates\":[%.9f,%.9f]}}", glon, glat);
    CU_ASSERT_EQUAL(support_send("PUT", e.cityd.base, "/v1/parking/lots/yt-gcj?crs=gcj02",
                                 "k-operator", gbody, &r), 0);
    CU_ASSERT_EQUAL(r.status, 201);
    http_result_free(&r);
    CU_ASSERT_EQUAL(support_get(e.cityd.base, "/v1/parking/lots/yt-gcj", NULL, &r), 0);
    c = jget(jget(r.json, "location"), "coordinates");
    CU_ASSERT(fabs(json_number_value(json_array_get(c, 0)) - 121.43) < 1e-5);
    CU_ASSERT(fabs(json_number_value(json_array_get(c, 1)) - 37.53) < 1e-5);
    http_result_free(&r);

    /* a tariff: its hourly rate is the lot's price; kept across a restart */
    const char *tar = "{\"name\":\"T\",\"totalSpotNumber\":5,\"location\":{\"type\":\"Point\","
                      "\"coordinates\":[121.44,37.54]},\"tariff\":{\"free_minutes\":15,"
                      "\"rate_per_hour\":6.5,\"unit_minutes\":30,\"daily_cap\":40}}";
    CU_ASSERT_EQUAL(support_send("PUT", e.cityd.base, "/v1/parking/lots/yt-tariff", "k-operator",
                                 tar, &r), 0);
    CU_ASSERT_EQUAL(r.status, 201);
    CU_ASSERT_EQUAL(json_number_value(jget(r.json, "priceRatePerHour")), 6.5);
    http_result_free(&r);

    /* bad bodies: 400 naming the field, nothing changes */
    static const struct { const char *body, *field; } bad[] = {
        {"{\"location\":{\"type\":\"Point\",\"coordinates\":[121,37]},\"totalSpotNumber\":1}",
         "name"},
        {"{\"name\":\"x\",\"totalSpotNumber\":1}", "location"},
        {"{\"name\":\"x\",\"location\":{\"type\":\"Point\",\"coordinates\":[191,37]},"
         "\"totalSpotNumber\":1}", "location"},
        {"{\"name\":\"x\",\"location\":{\"type\":\"Point\",\"coordinates\":[121,37]},"
         "\"totalSpotNumber\":-3}", "totalSpotNumber"},
        {"{\"name\":\"x\",\"location\":{\"type\":\"Point\",\"coordinates\":[121,37]},"
         "\"totalSpotNumber\":3,\"bays\":[\"A\",\"A\"]}", "bays"},
        {"{\"name\":\"x\",\"location\":{\"type\":\"Point\",\"coordinates\":[121,37]},"
         "\"totalSpotNumber\":3,\"category\":[1]}", "category"},
        {"{\"id\":\"other\",\"name\":\"x\",\"location\":{\"type\":\"Point\",\"coordinates\":"
         "[121,37]},\"totalSpotNumber\":3}", "id"},
        {"{\"name\":\"x\",\"location\":{\"type\":\"Point\",\"coordinates\":[121,37]},"
         "\"totalSpotNumber\":3,\"tariff\":{\"free_minutes\":5}}", "tariff"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CU_ASSERT_EQUAL(support_send("PUT", e.cityd.base, "/v1/parking/lots/yt-new", "k-operator",
                                     bad[i].body, &r), 0);
        CU_ASSERT_EQUAL(r.status, 400);
        const char *msg = json_string_value(jget(jget(r.json, "error"), "message"));
        if (!starts(msg, bad[i].field))
            fprintf(stderr, "\nPUT %s -> %s\n", bad[i].body, r.body);
        CU_ASSERT(starts(msg, bad[i].field));
        http_result_free(&r);
    }
    json_t *l = lot_at(e.cityd.base, "yt-new", T0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_EQUAL(jint(l, "totalSpotNumber"), 50);
    json_decref(l);

    /* a PUT survives a restart of cityd */
    CU_ASSERT_FATAL(env_restart_cityd(&e));
    l = lot_at(e.cityd.base, "yt-new", T0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_STRING_EQUAL(jstr(l, "name"), "New \"one\"");
    json_decref(l);
    l = lot_at(e.cityd.base, "yt-tariff", T0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_EQUAL(json_number_value(jget(l, "priceRatePerHour")), 6.5);
    json_decref(l);
    env_stop(&e);
}

static void test_observations(void)
{
    struct env e;
    CU_ASSERT_FATAL(env_start(&e, NULL));
    struct http_result r;
    const char *batch =
        "[{\"id\":\"o1\",\"lot\":\"zf-003\",\"availableSpotNumber\":5,\"ts\":1764400000},"
        "{\"id\":\"o2\",\"lot\":\"zf-003\",\"availableSpotNumber\":4,\"ts\":1764399990},"
        "{\"id\":\"o3\",\"lot\":\"zf-001\",\"bay\":\"B1-001\",\"status\":\"free\",\"ts\":1764400000},"
        "{\"id\":\"o4\",\"lot\":\"zf-001\",\"bay\":\"B2-001\",\"status\":\"occupied\","
        "\"plate\":\"\xe9\xb2\x81" "F12345\",\"ts\":1764400001},"
        "{\"id\":\"o5\",\"lot\":\"nope\",\"availableSpotNumber\":1,\"ts\":1764400000},"
        "{\"id\":\"o6\",\"lot\":\"zf-003\",\"availableSpotNumber\":-2,\"ts\":1764400000},"
        "{\"id\":\"o7\",\"lot\":\"zf-003\",\"availableSpotNumber\":2.5,\"ts\":1764400000},"
        "{\"id\":\"o8\",\"lot\":\"zf-002\",\"bay\":\"B1-002\",\"status\":\"free\",\"ts\":1764400000},"
        "{\"id\":\"o9\",\"lot\":\"zf-002\",\"availableSpotNumber\":900,\"ts\":1764400002},"
        "{\"lot\":\"zf-003\",\"availableSpotNumber\":1,\"ts\":1764400000},"
        "{\"id\":\"o11\",\"lot\":\"zf-001\",\"availableSpotNumber\":9,\"ts\":1764400009}]";
    CU_ASSERT_EQUAL(post_obs(e.cityd.base, batch, &r), 200);
    expect_counts(&r, 4, 0, 1, 6);
    CU_ASSERT(starts(rejected_error(&r, 4), "lot"));
    CU_ASSERT(starts(rejected_error(&r, 5), "availableSpotNumber"));
    CU_ASSERT(starts(rejected_error(&r, 6), "availableSpotNumber"));
    CU_ASSERT(starts(rejected_error(&r, 7), "bay"));          /* a bay of another lot */
    CU_ASSERT(starts(rejected_error(&r, 9), "id"));
    CU_ASSERT(starts(rejected_error(&r, 10), "availableSpotNumber"));  /* counted by bays */
    CU_ASSERT_PTR_NULL(rejected_error(&r, 8));                /* clamped, accepted */
    http_result_free(&r);

    /* the same batch again: every accepted or outdated one is a duplicate */
    CU_ASSERT_EQUAL(post_obs(e.cityd.base, batch, &r), 200);
    expect_counts(&r, 0, 5, 0, 6);
    http_result_free(&r);

    json_t *l = lot_at(e.cityd.base, "zf-003", T0 + 10);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_EQUAL(jint(l, "availableSpotNumber"), 5);
    CU_ASSERT_EQUAL(jint(l, "observationDateTime"), 1764400000);
    CU_ASSERT_EQUAL(jint(l, "dataAgeSeconds"), 10);
    CU_ASSERT_STRING_EQUAL(jstr(l, "status"), "spacesAvailable");
    json_decref(l);
    l = lot_at(e.cityd.base, "zf-001", T0 + 10);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_EQUAL(jint(l, "availableSpotNumber"), 1);       /* from its bays */
    CU_ASSERT_STRING_EQUAL(jstr(l, "occupancyDetectionType"), "singleSpaceDetection");
    json_decref(l);

    /* Redis forgets its scripts (as after a restart): still accepted */
    redis_int(&e.redis, "SCRIPT FLUSH");
    CU_ASSERT_EQUAL(post_obs(e.cityd.base, "[{\"id\":\"f1\",\"lot\":\"zf-003\","
                                           "\"availableSpotNumber\":8,\"ts\":1764400040}]", &r),
                    200);
    expect_counts(&r, 1, 0, 0, 0);
    http_result_free(&r);

    /* the same id twice in one batch: the second is a duplicate */
    CU_ASSERT_EQUAL(post_obs(e.cityd.base, "[{\"id\":\"d1\",\"lot\":\"zf-003\","
                                           "\"availableSpotNumber\":6,\"ts\":1764400050},"
                                           "{\"id\":\"d1\",\"lot\":\"zf-003\","
                                           "\"availableSpotNumber\":7,\"ts\":1764400060}]", &r),
                    200);
    expect_counts(&r, 1, 1, 0, 0);
    http_result_free(&r);

    /* clamping: zf-003 holds 12 */
    CU_ASSERT_EQUAL(post_obs(e.cityd.base, "[{\"id\":\"c1\",\"lot\":\"zf-003\","
                                           "\"availableSpotNumber\":40,\"ts\":1764400100}]", &r),
                    200);
    expect_counts(&r, 1, 0, 0, 0);
    http_result_free(&r);
    l = lot_at(e.cityd.base, "zf-003", T0 + 100);
    CU_ASSERT_EQUAL(jint(l, "availableSpotNumber"), 12);
    CU_ASSERT_STRING_EQUAL(sval(json_array_get(jget(l, "flags"), 0)),
                           "availableSpotNumberClamped");
    json_decref(l);

    /* bays: never a plate; by level */
    CU_ASSERT_EQUAL(support_get(e.cityd.base, "/v1/parking/lots/zf-001/bays", NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT(!contains(r.body, "F12345"));
    CU_ASSERT_EQUAL(json_array_size(jget(r.json, "bays")), 3);
    http_result_free(&r);
    CU_ASSERT_EQUAL(support_get(e.cityd.base, "/v1/parking/lots/zf-001/bays?level=B2", NULL, &r),
                    0);
    json_t *bays = jget(r.json, "bays");
    CU_ASSERT_EQUAL_FATAL(json_array_size(bays), 1);
    CU_ASSERT_STRING_EQUAL(jstr(json_array_get(bays, 0), "status"), "occupied");
    http_result_free(&r);
    CU_ASSERT_EQUAL(support_get(e.cityd.base, "/v1/parking/lots/zf-001/bays?level=B7", NULL, &r),
                    0);
    CU_ASSERT_EQUAL(r.status, 400);
    http_result_free(&r);

    /* bad bodies */
    CU_ASSERT_EQUAL(support_send("POST", e.cityd.base, "/v1/parking/observations", "k-sensor",
                                 "{\"obs\":[]}", &r), 0);
    CU_ASSERT_EQUAL(r.status, 400);
    CU_ASSERT(contains(r.body, "observations"));
    http_result_free(&r);
    CU_ASSERT_EQUAL(support_send("POST", e.cityd.base, "/v1/parking/observations", "k-reader",
                                 "{\"observations\":[]}", &r), 0);
    CU_ASSERT_EQUAL(r.status, 403);
    http_result_free(&r);

    /* after a restart the ids are still known */
    CU_ASSERT_FATAL(env_restart_cityd(&e));
    l = lot_at(e.cityd.base, "zf-003", T0 + 100);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_EQUAL(jint(l, "availableSpotNumber"), 12);
    CU_ASSERT_EQUAL(json_array_size(jget(l, "flags")), 1);
    json_decref(l);
    l = lot_at(e.cityd.base, "zf-001", T0 + 100);
    CU_ASSERT_EQUAL(jint(l, "availableSpotNumber"), 1);
    json_decref(l);
    CU_ASSERT_EQUAL(post_obs(e.cityd.base, batch, &r), 200);
    expect_counts(&r, 0, 5, 0, 6);
    http_result_free(&r);
    env_stop(&e);
}

/* Wall-clock mode: a ts more than 5 minutes ahead is rejected. */
static void test_future_ts(void)
{
    struct env e;
    const char *extra[] = {MAP, NULL};
    CU_ASSERT_FATAL(env_start(&e, extra));
    struct http_result r;
    char batch[256];
    double now = (double)time(NULL);
    snprintf(batch, sizeof batch,
             "[{\"id\":\"f1\",\"lot\":\"zf-003\",\"availableSpotNumber\":1,\"ts\":%.0f},"
             "{\"id\":\"f2\",\"lot\":\"zf-003\",\"availableSpotNumber\":2,\"ts\":%.0f}]",
             now + 1000, now + 60);
    CU_ASSERT_EQUAL(post_obs(e.cityd.base, batch, &r), 200);
    expect_counts(&r, 1, 0, 0, 1);
    CU_ASSERT(starts(rejected_error(&r, 0), "ts"));
    http_result_free(&r);
    env_stop(&e);
}

static void put_lot(const char *base, const char *id, double lon, double lat, int total,
                    const char *extra_json)
{
    char body[512], path[128];
    struct http_result r;
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"location\":{\"type\":\"Point\","
             "\"coordinates\":[%.7f,%.7f]},\"totalSpotNumber\":%d%s}", id, lon, lat, total,
             extra_json ? extra_json : "");
    snprintf(path, sizeof path, "/v1/parking/lots/%s", id);
    CU_ASSERT_EQUAL(support_send("PUT", base, path, "k-operator", body, &r), 0);
    CU_ASSERT(r.status == 201 || r.status == 200);
    http_result_free(&r);
}

static void count_obs(const char *base, const char *id, const char *lot, int n, double ts)
{
    char item[256];
    struct http_result r;
    snprintf(item, sizeof item, "[{\"id\":\"%s\",\"lot\":\"%s\",\"availableSpotNumber\":%d,"
             "\"ts\":%.0f}]", id, lot, n, ts);
    CU_ASSERT_EQUAL(post_obs(base, item, &r), 200);
    CU_ASSERT_EQUAL(jint(r.json, "accepted"), 1);
    http_result_free(&r);
}

static void test_nearest(void)
{
    struct env e;
    CU_ASSERT_FATAL(env_start(&e, NULL));
    struct http_result r;
    /* four lots on a line east of (121.5, 37.5), 100 m apart; n-b and n-c
     * tie at the same spot */
    put_lot(e.cityd.base, "n-a", 121.5011, 37.5, 10, ",\"priceRatePerHour\":8");
    put_lot(e.cityd.base, "n-c", 121.5022, 37.5, 10, ",\"category\":[\"ev\"]");
    put_lot(e.cityd.base, "n-b", 121.5022, 37.5, 10, ",\"priceRatePerHour\":2");
    put_lot(e.cityd.base, "n-d", 121.5033, 37.5, 10, NULL);
    count_obs(e.cityd.base, "na", "n-a", 3, T0);
    count_obs(e.cityd.base, "nb", "n-b", 3, T0);
    count_obs(e.cityd.base, "nc", "n-c", 3, T0);
    count_obs(e.cityd.base, "nd", "n-d", 0, T0);
    char path[512];
    snprintf(path, sizeof path, "/v1/parking/nearest?lon=121.5&lat=37.5&radius_m=1000&at=%.0f",
             T0 + 60);
    CU_ASSERT_EQUAL(support_get(e.cityd.base, path, NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    json_t *lots = jget(r.json, "lots");
    CU_ASSERT_EQUAL_FATAL(json_array_size(lots), 3);          /* n-d is full */
    CU_ASSERT_STRING_EQUAL(jstr(json_array_get(lots, 0), "id"), "n-a");
    CU_ASSERT_STRING_EQUAL(jstr(json_array_get(lots, 1), "id"), "n-b");   /* tie: by id */
    CU_ASSERT_STRING_EQUAL(jstr(json_array_get(lots, 2), "id"), "n-c");
    double d0 = json_number_value(jget(json_array_get(lots, 0), "distance_m"));
    CU_ASSERT(fabs(d0 - geo_distance_m(121.5, 37.5, 121.5011, 37.5)) < 0.01);
    http_result_free(&r);
    /* filters */
    snprintf(path, sizeof path, "/v1/parking/nearest?lon=121.5&lat=37.5&max_price=5&at=%.0f",
             T0 + 60);
    CU_ASSERT_EQUAL(support_get(e.cityd.base, path, NULL, &r), 0);
    CU_ASSERT_EQUAL(json_array_size(jget(r.json, "lots")), 1);
    CU_ASSERT_STRING_EQUAL(jstr(json_array_get(jget(r.json, "lots"), 0), "id"), "n-b");
    http_result_free(&r);
    snprintf(path, sizeof path, "/v1/parking/nearest?lon=121.5&lat=37.5&category=ev&at=%.0f",
             T0 + 60);
    CU_ASSERT_EQUAL(support_get(e.cityd.base, path, NULL, &r), 0);
    CU_ASSERT_EQUAL(json_array_size(jget(r.json, "lots")), 1);
    http_result_free(&r);
    snprintf(path, sizeof path, "/v1/parking/nearest?lon=121.5&lat=37.5&min_available=0&limit=2"
             "&at=%.0f", T0 + 60);
    CU_ASSERT_EQUAL(support_get(e.cityd.base, path, NULL, &r), 0);
    CU_ASSERT_EQUAL(json_array_size(jget(r.json, "lots")), 2);
    http_result_free(&r);
    snprintf(path, sizeof path, "/v1/parking/nearest?lon=121.5&lat=37.5&radius_m=150&at=%.0f",
             T0 + 60);
    CU_ASSERT_EQUAL(support_get(e.cityd.base, path, NULL, &r), 0);
    CU_ASSERT_EQUAL(json_array_size(jget(r.json, "lots")), 1);
    http_result_free(&r);
    /* stale after parking.stale_after_s (900) unless include_stale */
    snprintf(path, sizeof path, "/v1/parking/nearest?lon=121.5&lat=37.5&at=%.0f", T0 + 901);
    CU_ASSERT_EQUAL(support_get(e.cityd.base, path, NULL, &r), 0);
    CU_ASSERT_EQUAL(json_array_size(jget(r.json, "lots")), 0);
    http_result_free(&r);
    snprintf(path, sizeof path, "/v1/parking/nearest?lon=121.5&lat=37.5&include_stale=true"
             "&at=%.0f", T0 + 901);
    CU_ASSERT_EQUAL(support_get(e.cityd.base, path, NULL, &r), 0);
    CU_ASSERT_EQUAL(json_array_size(jget(r.json, "lots")), 3);
    CU_ASSERT(json_is_true(jget(json_array_get(jget(r.json, "lots"), 0), "stale")));
    http_result_free(&r);
    /* GCJ-02 in and out */
    double glon, glat, olon, olat;
    geo_wgs84_to_gcj02(121.5, 37.5, &glon, &glat);
    geo_wgs84_to_gcj02(121.5011, 37.5, &olon, &olat);
    snprintf(path, sizeof path, "/v1/parking/nearest?lon=%.9f&lat=%.9f&crs=gcj02&limit=1&at=%.0f",
             glon, glat, T0 + 60);
    CU_ASSERT_EQUAL(support_get(e.cityd.base, path, NULL, &r), 0);
    lots = jget(r.json, "lots");
    CU_ASSERT_EQUAL_FATAL(json_array_size(lots), 1);
    json_t *c = jget(jget(json_array_get(lots, 0), "location"), "coordinates");
    CU_ASSERT(fabs(json_number_value(json_array_get(c, 0)) - olon) < 0.51e-7);  /* 7 decimals */
    CU_ASSERT(fabs(json_number_value(json_array_get(c, 1)) - olat) < 0.51e-7);
    CU_ASSERT(fabs(json_number_value(jget(json_array_get(lots, 0), "distance_m")) - d0) < 0.5);
    http_result_free(&r);
    /* bad parameters: 400 naming them */
    static const struct { const char *q, *name; } bad[] = {
        {"lat=37.5", "lon"},
        {"lon=121.5", "lat"},
        {"lon=121.5&lat=95", "lat"},
        {"lon=abc&lat=37.5", "lon"},
        {"lon=121.5&lat=37.5&radius_m=50001", "radius_m"},
        {"lon=121.5&lat=37.5&radius_m=-1", "radius_m"},
        {"lon=121.5&lat=37.5&limit=101", "limit"},
        {"lon=121.5&lat=37.5&limit=0", "limit"},
        {"lon=121.5&lat=37.5&limit=2.5", "limit"},
        {"lon=121.5&lat=37.5&min_available=-1", "min_available"},
        {"lon=121.5&lat=37.5&include_stale=maybe", "include_stale"},
        {"lon=121.5&lat=37.5&crs=bd09", "crs"},
        {"lon=121.5&lat=37.5&at=yesterday", "at"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(path, sizeof path, "/v1/parking/nearest?%s", bad[i].q);
        CU_ASSERT_EQUAL(support_get(e.cityd.base, path, NULL, &r), 0);
        CU_ASSERT_EQUAL(r.status, 400);
        const char *msg = json_string_value(jget(jget(r.json, "error"), "message"));
        if (!starts(msg, bad[i].name))
            fprintf(stderr, "\n%s -> %s\n", bad[i].q, r.body);
        CU_ASSERT(starts(msg, bad[i].name));
        http_result_free(&r);
    }
    env_stop(&e);
}

static void test_screen(void)
{
    struct env e;
    CU_ASSERT_FATAL(env_start(&e, NULL));
    struct http_result r;
    CU_ASSERT_EQUAL(get_ready(e.cityd.base, "/v1/parking/screens/s-1", &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    json_t *lots = jget(r.json, "lots");
    CU_ASSERT_EQUAL_FATAL(json_array_size(lots), 2);
    CU_ASSERT_STRING_EQUAL(jstr(json_array_get(lots, 0), "id"), "zf-001");
    CU_ASSERT_STRING_EQUAL(jstr(json_array_get(lots, 0), "direction"), "NW");
    http_result_free(&r);
    CU_ASSERT_EQUAL(support_get(e.cityd.base, "/v1/parking/screens/none", NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 404);
    http_result_free(&r);
    env_stop(&e);
}

/* Two cityd on one Redis agree within a second. */
static void test_two_processes(void)
{
    struct env e;
    CU_ASSERT_FATAL(env_start(&e, NULL));
    struct test_cityd b;
    CU_ASSERT_FATAL(cityd_up(&e, &b, NULL));
    struct http_result r;
    put_lot(e.cityd.base, "two", 121.6, 37.6, 30, NULL);
    count_obs(e.cityd.base, "t1", "zf-003", 7, T0);
    count_obs(e.cityd.base, "t2", "two", 9, T0);
    CU_ASSERT_EQUAL(post_obs(e.cityd.base, "[{\"id\":\"t3\",\"lot\":\"zf-001\",\"bay\":\"B1-002\","
                                           "\"status\":\"free\",\"ts\":1764400000}]", &r), 200);
    http_result_free(&r);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool seen = false;
    while (!seen) {
        json_t *l1 = lot_at(b.base, "zf-003", T0), *l2 = lot_at(b.base, "two", T0);
        json_t *l3 = lot_at(b.base, "zf-001", T0);
        seen = l1 && l2 && l3 && jint(l1, "availableSpotNumber") == 7 &&
               jint(l2, "availableSpotNumber") == 9 && jint(l3, "availableSpotNumber") == 1;
        json_decref(l1);
        json_decref(l2);
        json_decref(l3);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if ((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9 > 1.0)
            break;
        if (!seen)
            support_sleep_ms(20);
    }
    CU_ASSERT(seen);
    /* the other way round, and the nearest answers agree */
    count_obs(b.base, "t4", "zf-003", 2, T0 + 5);
    support_sleep_ms(400);
    char path[256];
    snprintf(path, sizeof path, "/v1/parking/nearest?lon=121.39&lat=37.54&at=%.0f", T0 + 10);
    struct http_result ra, rb;
    CU_ASSERT_EQUAL(support_get(e.cityd.base, path, NULL, &ra), 0);
    CU_ASSERT_EQUAL(support_get(b.base, path, NULL, &rb), 0);
    CU_ASSERT(ra.body != NULL && rb.body != NULL && strcmp(ra.body, rb.body) == 0);
    CU_ASSERT(contains(ra.body, "\"availableSpotNumber\":2"));
    http_result_free(&ra);
    http_result_free(&rb);
    support_cityd_stop(&b);
    env_stop(&e);
}

/* Redis dies in the middle of a stream of batches: some requests fail
 * with 503, and after Redis is back and the client has retried, the state
 * is exactly the state of all observations, none counted twice. */
static void test_redis_restart_mid_batch(void)
{
    struct env e;
    CU_ASSERT_FATAL(env_start(&e, NULL));
    struct http_result r;
    enum { NB = 40 };
    int failed = 0;
    for (int b = 0; b < NB; b++) {
        char batch[4096], *p = batch;
        p += sprintf(p, "[");
        for (int i = 0; i < 20; i++)
            p += sprintf(p, "%s{\"id\":\"r%d-%d\",\"lot\":\"zf-003\",\"availableSpotNumber\":%d,"
                         "\"ts\":%.0f}", i ? "," : "", b, i, (b * 20 + i) % 13, T0 + b * 20 + i);
        sprintf(p, "]");
        if (b == NB / 2)
            support_redis_kill(&e.redis, true);
        if (b == NB / 2 + 5)
            CU_ASSERT_FATAL(support_redis_restart(&e.redis) == 0);
        for (int attempt = 0; attempt < 100; attempt++) {
            long st = post_obs(e.cityd.base, batch, &r);
            bool done = st == 200;
            if (!done)
                failed++;
            else
                CU_ASSERT_EQUAL(jint(r.json, "accepted") + jint(r.json, "duplicates"), 20);
            http_result_free(&r);
            if (done || b < NB / 2 + 5 || attempt > 90)
                break;
            support_sleep_ms(100);
        }
    }
    CU_ASSERT(failed > 0);
    /* every observation exactly once in the history */
    long long xlen = history_records(&e.redis, "zf-003");
    json_t *l = lot_at(e.cityd.base, "zf-003", T0 + NB * 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_EQUAL(jint(l, "availableSpotNumber"), (NB * 20 - 1) % 13);
    CU_ASSERT_EQUAL(jint(l, "observationDateTime"), (long long)(T0 + NB * 20 - 1));
    json_decref(l);
    /* at most once each; the batches retried after the restart all there
     * (the test Redis fsyncs every second, so a kill -9 may take the last
     * second before it along) */
    CU_ASSERT(xlen >= (NB / 2 - 5) * 20 && xlen <= NB * 20);
    env_stop(&e);
}

static void test_history_capped(void)
{
    struct env e;
    const char *extra[] = {MAP, "clock.mode=replay", "parking.history_max=10", NULL};
    CU_ASSERT_FATAL(env_start(&e, extra));
    struct http_result r;
    /* one history entry per write: 300 writes of 2 observations */
    for (int b = 0; b < 300; b++) {
        char batch[512];
        snprintf(batch, sizeof batch,
                 "[{\"id\":\"h%d-0\",\"lot\":\"zf-003\",\"availableSpotNumber\":3,\"ts\":%.0f},"
                 "{\"id\":\"h%d-1\",\"lot\":\"zf-003\",\"availableSpotNumber\":4,\"ts\":%.0f}]",
                 b, T0 + 2 * b, b, T0 + 2 * b + 1);
        CU_ASSERT_EQUAL(post_obs(e.cityd.base, batch, &r), 200);
        http_result_free(&r);
    }
    char cmd[KEY_MAX + 16], key[KEY_MAX];
    snprintf(cmd, sizeof cmd, "XLEN '%s'", keys_lot(key, sizeof key, "zf-003", "history"));
    long long xlen = redis_int(&e.redis, cmd);
    CU_ASSERT(xlen >= 10 && xlen < 300);      /* MAXLEN ~ trims whole nodes */
    CU_ASSERT(history_records(&e.redis, "zf-003") == 2 * xlen);
    env_stop(&e);
}

/* One write of one count of zf-003 at ts (one history and one feed entry). */
static void post_count(const char *base, const char *id, double ts)
{
    char batch[256];
    struct http_result r;
    snprintf(batch, sizeof batch, "[{\"id\":\"%s\",\"lot\":\"zf-003\","
             "\"availableSpotNumber\":3,\"ts\":%.0f}]", id, ts);
    CU_ASSERT_EQUAL(post_obs(base, batch, &r), 200);
    http_result_free(&r);
}

/* A lot's history keeps retention.lot_history_s (default an hour) before
 * its latest observation, by observation time: six hours of counts a
 * minute apart leave the last hour (and at most a stream node more). */
static void test_history_retention(void)
{
    struct env e;
    const char *extra[] = {MAP, "clock.mode=replay", NULL};
    CU_ASSERT_FATAL(env_start(&e, extra));
    const int n = 360;
    double last = T0 + 60.0 * (n - 1);
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "hr%d", i);
        post_count(e.cityd.base, id, T0 + 60.0 * i);
    }
    char key[KEY_MAX], min[32];
    keys_lot(key, sizeof key, "zf-003", "history");
    snprintf(min, sizeof min, "%.0f", (last - 3600) * 1000);
    long long all = support_stream_count(&e.redis, key, "-");
    CU_ASSERT_EQUAL(support_stream_count(&e.redis, key, min), 61);
    CU_ASSERT(all >= 61 && all <= 61 + 100);
    CU_ASSERT_EQUAL(support_stream_edge_ms(&e.redis, key, true), (long long)(last * 1000));
    env_stop(&e);
}

/* The change feeds keep retention.feed_s of Redis's clock: entries older
 * go at the next write (whole stream nodes of at most 100 entries). */
static void test_feed_retention(void)
{
    struct env e;
    const char *extra[] = {MAP, "clock.mode=replay", "retention.feed_s=1", NULL};
    CU_ASSERT_FATAL(env_start(&e, extra));
    for (int i = 0; i < 250; i++) {
        char id[32];
        snprintf(id, sizeof id, "fr%d", i);
        post_count(e.cityd.base, id, T0 + i);
    }
    char key[KEY_MAX];
    keys_part_key(key, sizeof key, keys_part("zf-003"), "parking:changes");
    /* (under valgrind, make valgrind, the 250 writes take over a second:
     * the first are trimmed already) */
    CU_ASSERT(support_under_valgrind(e.cityd.pid) ||
              support_stream_count(&e.redis, key, "-") >= 250);
    support_sleep_ms(2200);
    post_count(e.cityd.base, "fr-last", T0 + 300);
    long long left = support_stream_count(&e.redis, key, "-");
    CU_ASSERT(left >= 1 && left <= 101);
    /* and the lot reads as written */
    json_t *l = lot_at(e.cityd.base, "zf-003", T0 + 300);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_EQUAL(jint(l, "observationDateTime"), (long long)(T0 + 300));
    json_decref(l);
    env_stop(&e);
}

/* ---- SSE ---- */

static int sse_open(int port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n",
                     path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Read until `needle` shows up or timeout_ms passes. */
static bool sse_wait(int fd, char *buf, size_t cap, size_t *len, const char *needle,
                     int timeout_ms)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        buf[*len] = '\0';
        if (strstr(buf, needle) != NULL)
            return true;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        int left = timeout_ms - (int)((t1.tv_sec - t0.tv_sec) * 1000 +
                                      (t1.tv_nsec - t0.tv_nsec) / 1000000);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || *len + 1 >= cap || poll(&p, 1, left) <= 0)
            return false;
        ssize_t r = read(fd, buf + *len, cap - 1 - *len);
        if (r <= 0)
            return false;
        *len += (size_t)r;
    }
}

static void test_stream(void)
{
    struct env e;
    CU_ASSERT_FATAL(env_start(&e, NULL));
    struct test_cityd b;
    CU_ASSERT_FATAL(cityd_up(&e, &b, NULL));
    struct http_result r;
    CU_ASSERT_EQUAL(support_get(e.cityd.base, "/v1/parking/stream", NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 400);                           /* bbox is required */
    http_result_free(&r);
    /* zf-003 only */
    int fd = sse_open(e.cityd.port, "/v1/parking/stream?bbox=121.391,37.540,121.393,37.542");
    CU_ASSERT_FATAL(fd >= 0);
    static char buf[1 << 16];
    size_t len = 0;
    CU_ASSERT(sse_wait(fd, buf, sizeof buf, &len, "text/event-stream", 2000));
    CU_ASSERT(sse_wait(fd, buf, sizeof buf, &len, "\"id\":\"zf-003\"", 2000));   /* snapshot */
    len = 0;
    /* a change written through the other process reaches this stream */
    count_obs(b.base, "s1", "zf-003", 6, T0);
    CU_ASSERT(sse_wait(fd, buf, sizeof buf, &len, "\"availableSpotNumber\":6", 1000));
    CU_ASSERT(contains(buf, "event: lot"));
    /* a change outside the box does not */
    len = 0;
    count_obs(e.cityd.base, "s2", "zf-002", 6, T0);
    count_obs(e.cityd.base, "s3", "zf-003", 5, T0 + 1);
    CU_ASSERT(sse_wait(fd, buf, sizeof buf, &len, "\"availableSpotNumber\":5", 1000));
    CU_ASSERT(!contains(buf, "zf-002"));
    close(fd);
    /* HEAD: the headers, then the end (no snapshot is rendered for it) */
    char url[256];
    snprintf(url, sizeof url, "%s/v1/parking/stream?bbox=121.391,37.540,121.393,37.542",
             e.cityd.base);
    CU_ASSERT_EQUAL(support_http("HEAD", url, NULL, NULL, 0, NULL, 2000, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT(starts(r.content_type, "text/event-stream"));
    http_result_free(&r);
    CU_ASSERT_EQUAL(stream_clients(e.cityd.base), 0);
    support_cityd_stop(&b);
    env_stop(&e);
}

/* The stream gauge from /metrics, or -1. */
static long stream_clients(const char *base)
{
    struct http_result r;
    long v = -1;
    if (support_get(base, "/metrics", NULL, &r) == 0 && r.status == 200 && r.body != NULL) {
        const char *m = strstr(r.body, "\ncityd_parking_stream_clients ");
        if (m != NULL)
            v = strtol(m + strlen("\ncityd_parking_stream_clients "), NULL, 10);
    }
    http_result_free(&r);
    return v;
}

/* Heartbeats on an idle stream; a client that stops reading is dropped
 * once its backlog passes parking.stream_max_queued, while the server
 * keeps answering everyone else, and a new client starts from a fresh
 * snapshot. */
static void test_stream_slow_client(void)
{
    static const char *const opts[] = {MAP, "clock.mode=replay", "parking.stream_heartbeat_s=1",
                                       "parking.stream_max_queued=64KiB", NULL};
    struct env e;
    CU_ASSERT_FATAL(env_start(&e, opts));
    enum { NLOTS = 40 };
    const char *box = "/v1/parking/stream?bbox=121.0,37.0,121.01,37.01";
    char body[512], path[64], item[128];
    struct http_result r;
    for (int i = 0; i < NLOTS; i++) {
        snprintf(path, sizeof path, "/v1/parking/lots/slow-%02d", i);
        snprintf(body, sizeof body, "{\"name\":\"slow %d\",\"totalSpotNumber\":100,"
                 "\"location\":{\"type\":\"Point\",\"coordinates\":[%.4f,%.4f]}}",
                 i, 121.001 + 0.0002 * i, 37.005);
        CU_ASSERT_EQUAL(support_send("PUT", e.cityd.base, path, "k-operator", body, &r), 0);
        CU_ASSERT(r.status == 200 || r.status == 201);
        http_result_free(&r);
    }
    static char buf[1 << 16];
    size_t len = 0;
    int good = sse_open(e.cityd.port, box);
    CU_ASSERT_FATAL(good >= 0);
    CU_ASSERT(sse_wait(good, buf, sizeof buf, &len, "\"id\":\"slow-39\"", 2000));
    CU_ASSERT(sse_wait(good, buf, sizeof buf, &len, ": heartbeat ", 2500));   /* 1 s apart */
    close(good);

    /* a reader with a 4 KiB receive buffer that never reads */
    int slow = socket(AF_INET, SOCK_STREAM, 0);
    int rcv = 4096;
    CU_ASSERT_FATAL(slow >= 0);
    setsockopt(slow, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)e.cityd.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CU_ASSERT_FATAL(connect(slow, (struct sockaddr *)&sa, sizeof sa) == 0);
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", box);
    CU_ASSERT_FATAL(write(slow, req, (size_t)n) == n);
    for (int k = 0; k < 50 && stream_clients(e.cityd.base) != 1; k++)
        support_sleep_ms(20);
    CU_ASSERT_EQUAL(stream_clients(e.cityd.base), 1);
    /* every round changes all 40 lots: 40 events (~18 KB) for the stream;
     * it is dropped at a budget check (twice a second) that finds it took
     * nothing since the last one while holding more than the limit */
    int rounds = 0;
    long clients = 1;
    char *batch = malloc(NLOTS * sizeof item + 8);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (t1 = t0; t1.tv_sec - t0.tv_sec < 15 && clients != 0; rounds++) {
        strcpy(batch, "[");
        for (int i = 0; i < NLOTS; i++) {
            snprintf(item, sizeof item, "%s{\"id\":\"sl-%d-%d\",\"lot\":\"slow-%02d\","
                     "\"availableSpotNumber\":%d,\"ts\":%.0f}", i ? "," : "", rounds, i, i,
                     10 + rounds % 50, T0 + rounds);
            strcat(batch, item);
        }
        strcat(batch, "]");
        CU_ASSERT_EQUAL(post_obs(e.cityd.base, batch, &r), 200);   /* never stalled */
        http_result_free(&r);
        clients = stream_clients(e.cityd.base);
        support_sleep_ms(5);
        clock_gettime(CLOCK_MONOTONIC, &t1);
    }
    free(batch);
    CU_ASSERT_EQUAL(clients, 0);                /* dropped, after a bounded backlog */
    CU_ASSERT(rounds > 2);
    /* the slow client's connection is closed: it reads to the end */
    bool eof = false;
    for (int k = 0; k < 500 && !eof; k++) {
        struct pollfd p = {.fd = slow, .events = POLLIN};
        if (poll(&p, 1, 20) > 0) {
            ssize_t got = read(slow, buf, sizeof buf);
            eof = got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN);
        }
    }
    CU_ASSERT(eof);
    close(slow);
    /* a new client gets the box as it is now */
    len = 0;
    good = sse_open(e.cityd.port, box);
    CU_ASSERT_FATAL(good >= 0);
    snprintf(item, sizeof item, "\"availableSpotNumber\":%d", 10 + (rounds - 1) % 50);
    CU_ASSERT(sse_wait(good, buf, sizeof buf, &len, item, 2000));
    close(good);
    env_stop(&e);
}

/* ---- SSE at city scale: memory, paging, caps; batch limits ---- */

/* A city of n lots g-00000... spread over 0.6 x 0.3 degrees around
 * Yantai, each with the fields a real lot has (its event is ~600 bytes),
 * as the map of a temp dir. Returns the dir (malloc'd). */
static char *gen_city(int n)
{
    char *dir = support_tmpdir("cityd-gen");
    char path[512];
    snprintf(path, sizeof path, "%s/parking.geojson", dir);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fprintf(f, "{\"type\":\"FeatureCollection\",\"features\":[\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "%s{\"type\":\"Feature\",\"properties\":{\"id\":\"g-%05d\",\"name\":\"生成的停车场 "
                "Generated lot number %d\",\"totalSpotNumber\":%d,\"category\":[\"underground\","
                "\"ev\",\"covered\"],\"priceRatePerHour\":6.0,\"address\":\"芝罘区 南大街 %d号 "
                "Nandajie Street\",\"tariff\":{\"free_minutes\":15,\"rate_per_hour\":6.0,"
                "\"unit_minutes\":30,\"daily_cap\":40.0,\"night\":{\"from\":\"22:00\",\"to\":"
                "\"07:00\",\"rate_per_hour\":1.0}}},\"geometry\":{\"type\":\"Point\","
                "\"coordinates\":[%.6f,%.6f]}}\n", i ? "," : "", i, i, 100 + i % 400, i,
                121.0 + 0.6 * ((i * 7919) % n) / n, 37.3 + 0.3 * ((i * 104729) % n) / n);
    fprintf(f, "]}\n");
    CU_ASSERT_EQUAL(fclose(f), 0);
    return dir;
}

/* Redis and a cityd serving the generated city, ready. */
static bool env_start_city(struct env *e, const char *dir, const char *const *opts)
{
    const char *argv[16];
    char mapopt[600];
    size_t k = 0;
    snprintf(mapopt, sizeof mapopt, "map.dir=%s", dir);
    argv[k++] = mapopt;
    argv[k++] = "clock.mode=replay";
    for (size_t i = 0; opts[i] != NULL && k < 15; i++)
        argv[k++] = opts[i];
    argv[k] = NULL;
    memset(e, 0, sizeof *e);
    if (support_redis_start(&e->redis) != 0)
        return false;
    struct http_result r;
    if (support_cityd_start(&e->cityd, e->redis.url, argv) != 0 ||
        get_ready(e->cityd.base, "/v1/parking/lots/g-00000", &r) != 0 || r.status != 200) {
        if (r.status != 0)
            http_result_free(&r);
        support_cityd_stop(&e->cityd);
        support_redis_stop(&e->redis);
        return false;
    }
    http_result_free(&r);
    e->up = true;
    return true;
}

/* VmRSS or VmHWM of a process, in KiB (-1 if unreadable). */
static long proc_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    long v = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, field, strlen(field)) == 0 && line[strlen(field)] == ':')
            v = strtol(line + strlen(field) + 1, NULL, 10);
    fclose(f);
    return v;
}

/* True when the process runs under AddressSanitizer or valgrind
 * (make valgrind), whose quarantine and shadow memory make its RSS say
 * nothing about cityd's own. */
static bool proc_sanitized(pid_t pid)
{
    return support_proc_maps_has(pid, "libasan") || support_under_valgrind(pid);
}

/* Connect and send a stream request; rcvbuf > 0 shrinks the receive
 * buffer first (a client that reads slowly or never). */
static int sse_open_as(int port, const char *path, const char *key, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char req[512], auth[128] = "";
    if (key != NULL)
        snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", key);
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n", path, auth);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    return fd;
}

/* What a stream client has seen: per lot g-NNNNN the number of events
 * and the last availableSpotNumber (-1 for null). */
struct seen {
    int n;
    int *events, *last;
    size_t lots;                      /* lots with at least one event */
    size_t parsed;                    /* bytes of the buffer consumed */
};

static void seen_init(struct seen *sn, int n)
{
    sn->n = n;
    sn->events = calloc((size_t)n, sizeof *sn->events);
    sn->last = calloc((size_t)n, sizeof *sn->last);
    sn->lots = sn->parsed = 0;
}

static void seen_free(struct seen *sn)
{
    free(sn->events);
    free(sn->last);
}

/* Parse the complete events in buf[parsed..len). Events never straddle
 * a chunk boundary, so the chunk-size lines between them do not matter. */
static void seen_parse(struct seen *sn, const char *buf, size_t len)
{
    for (;;) {
        const char *d = strstr(buf + sn->parsed, "data: {");
        const char *nl = d ? strchr(d, '\n') : NULL;
        if (d == NULL || nl == NULL || (size_t)(nl - buf) >= len)
            return;
        json_error_t je;
        json_t *ev = json_loadb(d + 6, (size_t)(nl - d - 6), 0, &je);
        const char *id = json_string_value(json_object_get(ev, "id"));
        int i;
        if (id != NULL && sscanf(id, "g-%d", &i) == 1 && i >= 0 && i < sn->n) {
            const json_t *a = json_object_get(ev, "availableSpotNumber");
            sn->lots += sn->events[i]++ == 0;
            sn->last[i] = json_is_integer(a) ? (int)json_integer_value(a) : -1;
        }
        CU_ASSERT_PTR_NOT_NULL(ev);
        json_decref(ev);
        sn->parsed = (size_t)(nl - buf) + 1;
    }
}

/* Read the stream into buf (growing) until done(sn) or timeout_ms. */
static bool seen_read(int fd, char **buf, size_t *cap, size_t *len, struct seen *sn,
                      bool (*done)(const struct seen *), int timeout_ms)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!done(sn)) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        int left = timeout_ms - (int)((t1.tv_sec - t0.tv_sec) * 1000 +
                                      (t1.tv_nsec - t0.tv_nsec) / 1000000);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, left) <= 0)
            return false;
        if (*cap - *len < 65536) {
            *cap = *cap * 2 + 65536;
            *buf = realloc(*buf, *cap);
        }
        ssize_t r = read(fd, *buf + *len, *cap - 1 - *len);
        if (r <= 0)
            return false;
        *len += (size_t)r;
        (*buf)[*len] = '\0';
        seen_parse(sn, *buf, *len);
    }
    return true;
}

static int want_lots;
static bool seen_all(const struct seen *sn)
{
    return (int)sn->lots >= want_lots;
}

/* POST one observation per lot i in [0, n) with `value(i)`, in batches. */
static void post_all(const char *base, int n, int (*value)(int), double ts, const char *tag)
{
    enum { BATCH = 2000 };
    char *body = malloc((size_t)BATCH * 128 + 64), item[128];
    struct http_result r;
    for (int first = 0; first < n; first += BATCH) {
        strcpy(body, "[");
        size_t len = 1;
        for (int i = first; i < n && i < first + BATCH; i++) {
            if (value(i) < 0)
                continue;
            int k = snprintf(item, sizeof item, "%s{\"id\":\"%s-%d\",\"lot\":\"g-%05d\","
                             "\"availableSpotNumber\":%d,\"ts\":%.0f}", len > 1 ? "," : "", tag,
                             i, i, value(i), ts);
            memcpy(body + len, item, (size_t)k + 1);
            len += (size_t)k;
        }
        strcpy(body + len, "]");
        CU_ASSERT_EQUAL(post_obs(base, body, &r), 200);
        CU_ASSERT_EQUAL(json_array_size(jget(r.json, "rejected")), 0);
        http_result_free(&r);
    }
    free(body);
}

static int value_a(int i)
{
    return 1 + i % 50;
}

static int value_b(int i)
{
    return i % 3 == 0 ? 60 + i % 7 : -1;      /* every third lot changes again */
}

#define WORLD "/v1/parking/stream?bbox=-180,-90,180,90"

/* Defect 4 of issue 12: 300 streams of a world box that never read used
 * to hold the whole snapshot each (~850 MiB on a 7,100-lot city). Memory
 * must now be bounded by the configured limits, whatever N is, and a
 * normal client must still get its whole snapshot and live updates. */
static void test_stream_memory(void)
{
    enum { NLOTS = 7100, NSLOW = 300 };
    /* limits that drop nobody here: memory must stay bounded by paging */
    static const char *const opts[] = {
        "parking.stream_max=400", "parking.stream_max_per_caller=300",
        "parking.stream_max_total_bytes=1GiB", "parking.stream_max_queued=16MiB", NULL};
    char *dir = gen_city(NLOTS);
    struct env e;
    CU_ASSERT_FATAL(env_start_city(&e, dir, opts));
    long rss0 = proc_kib(e.cityd.pid, "VmRSS");
    int slow[NSLOW];
    for (int i = 0; i < NSLOW; i++) {
        slow[i] = sse_open_as(e.cityd.port, WORLD, NULL, 4096);
        CU_ASSERT(slow[i] >= 0);
    }
    for (int k = 0; k < 200 && stream_clients(e.cityd.base) < NSLOW; k++)
        support_sleep_ms(20);
    long opened = stream_clients(e.cityd.base);
    /* every lot changes while they are stuck mid-snapshot */
    post_all(e.cityd.base, NLOTS, value_a, T0 + 1, "a");
    support_sleep_ms(1500);                   /* three budget checks */
    long hwm = proc_kib(e.cityd.pid, "VmHWM"), rss1 = proc_kib(e.cityd.pid, "VmRSS");
    long left = stream_clients(e.cityd.base);
    printf("\n    %d lots, %d streams that never read (%ld opened, %ld left): cityd RSS %ld MiB "
           "before, peak %ld MiB, now %ld MiB\n", NLOTS, NSLOW, opened, left, rss0 / 1024,
           hwm / 1024, rss1 / 1024);
    CU_ASSERT_EQUAL(opened, NSLOW);
    CU_ASSERT_EQUAL(left, NSLOW);
    /* per stream a connection, two 16 KiB pages and a lot bitmap, plus
     * slack: far below a snapshot (~4.5 MiB) per stream */
    CU_ASSERT(proc_sanitized(e.cityd.pid) || hwm - rss0 < NSLOW * 64 + 16 * 1024);

    /* a normal client (its own key: the address is at its cap) */
    int good = sse_open_as(e.cityd.port, WORLD, "k-reader", 0);
    CU_ASSERT_FATAL(good >= 0);
    struct seen sn;
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    seen_init(&sn, NLOTS);
    want_lots = NLOTS;
    CU_ASSERT(seen_read(good, &buf, &cap, &len, &sn, seen_all, 30000));
    CU_ASSERT_EQUAL(sn.lots, NLOTS);
    CU_ASSERT_EQUAL(sn.last[42], value_a(42));
    count_obs(e.cityd.base, "live-1", "g-00042", 7, T0 + 5);
    sn.events[42] = 0;
    sn.lots--;
    CU_ASSERT(seen_read(good, &buf, &cap, &len, &sn, seen_all, 5000));
    CU_ASSERT_EQUAL(sn.last[42], 7);
    seen_free(&sn);
    free(buf);
    close(good);
    for (int i = 0; i < NSLOW; i++)
        if (slow[i] >= 0)
            close(slow[i]);
    env_stop(&e);
    support_rmrf(dir);
    free(dir);
}

static bool seen_final(const struct seen *sn)
{
    for (int i = 0; i < sn->n; i++) {
        int want = value_b(i) >= 0 ? value_b(i) : value_a(i);
        if (sn->events[i] == 0 || sn->last[i] != want)
            return false;
    }
    return true;
}

/* The snapshot is written as the client reads; lots that change while it
 * is behind end at their latest state (none lost, none older after a
 * newer one). */
static void test_stream_paged_snapshot(void)
{
    enum { NLOTS = 7100 };
    static const char *const opts[] = {"parking.stream_max_queued=16MiB", NULL};
    char *dir = gen_city(NLOTS);
    struct env e;
    CU_ASSERT_FATAL(env_start_city(&e, dir, opts));
    int fd = sse_open_as(e.cityd.port, WORLD, NULL, 4096);
    CU_ASSERT_FATAL(fd >= 0);
    struct seen sn;
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    seen_init(&sn, NLOTS);
    want_lots = 3;
    CU_ASSERT(seen_read(fd, &buf, &cap, &len, &sn, seen_all, 5000));
    /* The client pauses; every lot changes, then every third again. */
    post_all(e.cityd.base, NLOTS, value_a, T0 + 1, "a");
    post_all(e.cityd.base, NLOTS, value_b, T0 + 2, "b");
    CU_ASSERT(seen_read(fd, &buf, &cap, &len, &sn, seen_final, 20000));
    CU_ASSERT_EQUAL(sn.lots, NLOTS);
    int once = 0, twice = 0, latest = 1;
    for (int i = 0; i < NLOTS; i++) {
        latest &= sn.last[i] == (value_b(i) >= 0 ? value_b(i) : value_a(i));
        once += sn.events[i] == 1;
        twice += sn.events[i] >= 2;
    }
    printf("\n    %d lots: %d sent once (at their latest state), %d again after a change\n",
           NLOTS, once, twice);
    CU_ASSERT(latest);
    /* lots already sent came again; lots the snapshot had not reached yet
     * came once, already at their latest state: the snapshot was not
     * written ahead of the client */
    CU_ASSERT(twice >= 3);
    CU_ASSERT(once > NLOTS / 10);
    seen_free(&sn);
    free(buf);
    close(fd);
    env_stop(&e);
    support_rmrf(dir);
    free(dir);
}

static bool seen_one(const struct seen *sn)
{
    return sn->events[7] > 1;
}

/* parking.stream_max_total_bytes: past it the streams whose clients took
 * least are dropped first; one that reads keeps its stream. */
static void test_stream_budget(void)
{
    enum { NLOTS = 2000, NSLOW = 8 };
    static const char *const opts[] = {"parking.stream_max_total_bytes=64KiB",
                                       "parking.stream_max_queued=16MiB", NULL};
    char *dir = gen_city(NLOTS);
    struct env e;
    CU_ASSERT_FATAL(env_start_city(&e, dir, opts));
    int good = sse_open_as(e.cityd.port, WORLD, "k-reader", 0);
    struct seen sn;
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    seen_init(&sn, NLOTS);
    want_lots = NLOTS;
    CU_ASSERT(seen_read(good, &buf, &cap, &len, &sn, seen_all, 20000));
    int slow[NSLOW];
    for (int i = 0; i < NSLOW; i++)
        slow[i] = sse_open_as(e.cityd.port, WORLD, NULL, 4096);
    /* each holds a page and what its socket took: together far more than
     * 64 KiB, so all but a few go at the next checks */
    long clients = 0;
    for (int k = 0; k < 150; k++) {
        support_sleep_ms(20);
        clients = stream_clients(e.cityd.base);
        if (k > 50 && clients <= 1 + 64 / 16)
            break;
    }
    CU_ASSERT(clients >= 1 && clients <= 1 + 64 / 16);
    /* the client that reads still has its stream */
    count_obs(e.cityd.base, "bud-1", "g-00007", 3, T0 + 5);
    CU_ASSERT(seen_read(good, &buf, &cap, &len, &sn, seen_one, 5000));
    CU_ASSERT_EQUAL(sn.last[7], 3);
    seen_free(&sn);
    free(buf);
    close(good);
    for (int i = 0; i < NSLOW; i++)
        close(slow[i]);
    env_stop(&e);
    support_rmrf(dir);
    free(dir);
}

/* The status line and JSON error of a refused stream (read at once). */
static long sse_refusal(int fd, char *code, size_t codelen, char *msg, size_t msglen)
{
    static char buf[4096];
    size_t len = 0;
    long status = -1;
    if (!sse_wait(fd, buf, sizeof buf, &len, "}}", 2000))
        return -1;
    sscanf(buf, "HTTP/1.1 %ld", &status);
    json_t *j = json_loads(strstr(buf, "{\"error\""), JSON_DISABLE_EOF_CHECK, NULL);
    snprintf(code, codelen, "%s", sval(jget(jget(j, "error"), "code")));
    snprintf(msg, msglen, "%s", sval(jget(jget(j, "error"), "message")));
    json_decref(j);
    return status;
}

/* parking.stream_max_per_caller (API key, else address) answers 429 and
 * parking.stream_max 503, at once, with the JSON error. */
static void test_stream_caps(void)
{
    static const char *const opts[] = {MAP, "clock.mode=replay", "parking.stream_max=4",
                                       "parking.stream_max_per_caller=2", NULL};
    struct env e;
    CU_ASSERT_FATAL(env_start(&e, opts));
    const char *box = "/v1/parking/stream?bbox=121.0,37.0,122.0,38.0";
    static char buf[8192];
    char code[64], msg[256];
    int fd[6];
    for (int i = 0; i < 2; i++) {
        size_t len = 0;
        fd[i] = sse_open_as(e.cityd.port, box, NULL, 0);
        CU_ASSERT(sse_wait(fd[i], buf, sizeof buf, &len, "\"id\":\"zf-003\"", 2000));
    }
    fd[2] = sse_open_as(e.cityd.port, box, NULL, 0);         /* a third from the address */
    CU_ASSERT_EQUAL(sse_refusal(fd[2], code, sizeof code, msg, sizeof msg), 429);
    CU_ASSERT_STRING_EQUAL(code, "too_many_streams");
    CU_ASSERT(contains(msg, "parking.stream_max_per_caller"));
    for (int i = 3; i < 5; i++) {                            /* a key is a caller of its own */
        size_t len = 0;
        fd[i] = sse_open_as(e.cityd.port, box, "k-reader", 0);
        CU_ASSERT(sse_wait(fd[i], buf, sizeof buf, &len, "\"id\":\"zf-003\"", 2000));
    }
    fd[5] = sse_open_as(e.cityd.port, box, "k-admin", 0);   /* a fifth in all */
    CU_ASSERT_EQUAL(sse_refusal(fd[5], code, sizeof code, msg, sizeof msg), 503);
    CU_ASSERT_STRING_EQUAL(code, "too_many_streams");
    CU_ASSERT(contains(msg, "parking.stream_max"));
    CU_ASSERT_EQUAL(stream_clients(e.cityd.base), 4);
    /* a closed stream frees its place */
    close(fd[0]);
    for (int k = 0; k < 100 && stream_clients(e.cityd.base) != 3; k++)
        support_sleep_ms(20);
    size_t len = 0;
    int again = sse_open_as(e.cityd.port, box, NULL, 0);
    CU_ASSERT(sse_wait(again, buf, sizeof buf, &len, "\"id\":\"zf-003\"", 2000));
    close(again);
    for (int i = 1; i < 6; i++)
        close(fd[i]);
    env_stop(&e);
}

/* parking.max_batch: an array of a write with more items is 422
 * too_large naming the key, and changes nothing. */
static void test_batch_limits(void)
{
    static const char *const opts[] = {MAP, "clock.mode=replay", "parking.max_batch=3", NULL};
    struct env e;
    CU_ASSERT_FATAL(env_start(&e, opts));
    struct http_result r;
    char items[1024] = "[";
    for (int i = 0; i < 4; i++) {
        char item[160];
        snprintf(item, sizeof item, "%s{\"id\":\"mb-%d\",\"lot\":\"zf-003\","
                 "\"availableSpotNumber\":%d,\"ts\":%.0f}", i ? "," : "", i, 5 + i, T0 + i);
        strcat(items, item);
    }
    strcat(items, "]");
    CU_ASSERT_EQUAL(post_obs(e.cityd.base, items, &r), 422);
    CU_ASSERT_STRING_EQUAL(support_error_code(&r), "too_large");
    CU_ASSERT(contains(sval(jget(jget(r.json, "error"), "message")), "parking.max_batch"));
    CU_ASSERT(contains(sval(jget(jget(r.json, "error"), "message")), "observations"));
    http_result_free(&r);
    json_t *lot = lot_at(e.cityd.base, "zf-003", T0 + 10);
    CU_ASSERT(json_is_null(jget(lot, "availableSpotNumber")));   /* nothing applied */
    json_decref(lot);
    /* three are fine */
    char *cut = strstr(items, ",{\"id\":\"mb-3\"");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cut);
    strcpy(cut, "]");
    CU_ASSERT_EQUAL(post_obs(e.cityd.base, items, &r), 200);
    CU_ASSERT_EQUAL(jint(r.json, "accepted"), 3);
    http_result_free(&r);
    /* a lot's bays, levels, categories */
    const char *bodies[] = {
        "{\"name\":\"b\",\"location\":{\"type\":\"Point\",\"coordinates\":[121.4,37.5]},"
        "\"totalSpotNumber\":4,\"bays\":[\"a\",\"b\",\"c\",\"d\"]}",
        "{\"name\":\"b\",\"location\":{\"type\":\"Point\",\"coordinates\":[121.4,37.5]},"
        "\"totalSpotNumber\":4,\"levels\":[\"1\",\"2\",\"3\",\"4\"]}",
        "{\"name\":\"b\",\"location\":{\"type\":\"Point\",\"coordinates\":[121.4,37.5]},"
        "\"totalSpotNumber\":4,\"category\":[\"a\",\"b\",\"c\",\"d\"]}",
    };
    const char *fields[] = {"bays", "levels", "category"};
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(support_send("PUT", e.cityd.base, "/v1/parking/lots/mb-lot", "k-operator",
                                     bodies[i], &r), 0);
        CU_ASSERT_EQUAL(r.status, 422);
        CU_ASSERT_STRING_EQUAL(support_error_code(&r), "too_large");
        CU_ASSERT(contains(sval(jget(jget(r.json, "error"), "message")), fields[i]));
        http_result_free(&r);
    }
    CU_ASSERT_EQUAL(support_get(e.cityd.base, "/v1/parking/lots/mb-lot", NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 404);
    http_result_free(&r);
    env_stop(&e);
}

int suite_parking(void)
{
    CU_pSuite s = CU_add_suite("parking", NULL, NULL);
    if (s == NULL)
        return -1;
    if (!CU_add_test(s, "lots: get, bbox, errors", test_lots_read) ||
        !CU_add_test(s, "lots: put, polygon, gcj02, errors, restart", test_lot_put) ||
        !CU_add_test(s, "lots: put by the map's rules", test_lot_put_rules) ||
        !CU_add_test(s, "observations: verdicts, idempotency, restart", test_observations) ||
        !CU_add_test(s, "observations: future ts", test_future_ts) ||
        !CU_add_test(s, "nearest", test_nearest) ||
        !CU_add_test(s, "screens", test_screen) ||
        !CU_add_test(s, "two cityd on one Redis", test_two_processes) ||
        !CU_add_test(s, "Redis restart in the middle of batches", test_redis_restart_mid_batch) ||
        !CU_add_test(s, "history capped", test_history_capped) ||
        !CU_add_test(s, "history keeps retention.lot_history_s", test_history_retention) ||
        !CU_add_test(s, "change feeds keep retention.feed_s", test_feed_retention) ||
        !CU_add_test(s, "SSE stream", test_stream) ||
        !CU_add_test(s, "SSE heartbeat and a slow client", test_stream_slow_client) ||
        !CU_add_test(s, "SSE memory with 300 streams that never read", test_stream_memory) ||
        !CU_add_test(s, "SSE snapshot paged, changes merged", test_stream_paged_snapshot) ||
        !CU_add_test(s, "SSE total budget drops the slowest", test_stream_budget) ||
        !CU_add_test(s, "SSE caps per caller and in all", test_stream_caps) ||
        !CU_add_test(s, "batch limits", test_batch_limits))
        return -1;
    return 0;
}
