/* it_cityview.c -- api.md §1 GET /v1/city and the city gauges of /metrics,
 * §3 POST /v1/transit/fares and stop-sign liveness; and (suite "lists")
 * the lists of §1-§4 and their GeoJSON (?format=geojson or Accept:
 * application/geo+json): lots, vehicles, stops, routes, intersections,
 * corridors; one stop, route, intersection; bad input naming the
 * parameter. Over HTTP against a real cityd and Redis.
 *
 * Fixture: tests/fixtures/maps/city (the "ok" map: 3 lots, 4 signalised
 * intersections; plus stop_signs.geojson with signs at S1 and S3) and the
 * GTFS feed tests/fixtures/gtfs/basic (9 stops riders board at; on
 * Tuesday 2026-02-17 at 08:01 only trip T1 runs). Replay clock: "now" is
 * the latest event posted. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "city.h"
#include "keys.h"
#include "support.h"

#define ORIGIN 1771257600.0             /* 2026-02-17 00:00 Asia/Shanghai */
#define HMS(h, m, s) (ORIGIN + (h) * 3600.0 + (m) * 60.0 + (s))

static const char *const OPTS[] = {"transit.gtfs_dir=tests/fixtures/gtfs/basic",
                                   "map.dir=tests/fixtures/maps/city", "clock.mode=replay",
                                   NULL};

static struct test_redis redis;
static struct test_cityd cityd;

static const json_t *path(const json_t *o, const char *a, const char *b)
{
    return json_object_get(json_object_get(o, a), b);
}

static json_int_t ipath(const json_t *o, const char *a, const char *b)
{
    const json_t *v = path(o, a, b);
    CU_ASSERT_TRUE(json_is_integer(v));
    return json_integer_value(v);
}

/* GET /v1/city (?at=), parsed; NULL on failure. */
static json_t *city(double at)
{
    char p[64] = "/v1/city";
    if (at > 0)
        snprintf(p, sizeof p, "/v1/city?at=%.0f", at);
    struct http_result r;
    if (support_get(cityd.base, p, NULL, &r) != 0)
        return NULL;
    CU_ASSERT_EQUAL(r.status, 200);
    json_t *j = r.status == 200 ? json_incref(r.json) : NULL;
    http_result_free(&r);
    return j;
}

static const json_t *src_age(const json_t *c, const char *source)
{
    return path(json_object_get(c, "sources"), source, "age_s");
}

static const char *err_msg(const json_t *j)
{
    const char *m = json_string_value(path(j, "error", "message"));
    return m ? m : "";
}

static long post(const char *p, const char *key, const char *body, json_t **reply)
{
    struct http_result r;
    if (support_send("POST", cityd.base, p, key, body, &r) != 0)
        return -1;
    long st = r.status;
    if (reply)
        *reply = json_incref(r.json);
    http_result_free(&r);
    return st;
}

/* Bus V1 on trip T1 near S1 at ts (moves the replay clock). */
static void bus(double lon, double ts)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"header\":{\"gtfs_realtime_version\":\"2.0\"},\"entity\":[{\"id\":\"e1\","
             "\"vehicle\":{\"trip\":{\"trip_id\":\"T1\"},\"vehicle\":{\"id\":\"V1\"},"
             "\"position\":{\"latitude\":37.54007,\"longitude\":%.7f},\"timestamp\":%.0f}}]}",
             lon, ts);
    json_t *j = NULL;
    CU_ASSERT_EQUAL(post("/v1/transit/vehicle-positions", "k-sensor", body, &j), 200);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "accepted")), 1);
    json_decref(j);
}

static long get_status(const char *p, char *code, size_t n)
{
    struct http_result r;
    if (support_get(cityd.base, p, NULL, &r) != 0)
        return -1;
    long st = r.status;
    if (code)
        snprintf(code, n, "%s", err_msg(r.json));
    http_result_free(&r);
    return st;
}

static int setup(void)
{
    if (support_redis_start(&redis) != 0 || support_cityd_start(&cityd, redis.url, OPTS) != 0)
        return -1;
    return 0;
}

static int teardown(void)
{
    support_cityd_stop(&cityd);
    support_redis_stop(&redis);
    return 0;
}

/* Before any event: the map's totals, shares without data are null. */
static void test_empty_city(void)
{
    json_t *c = city(HMS(8, 0, 0));
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(c, "at")), (json_int_t)HMS(8, 0, 0));
    CU_ASSERT_EQUAL(ipath(c, "parking", "lots"), 3);
    CU_ASSERT_EQUAL(ipath(c, "parking", "spaces_total"), 320 + 80 + 12);
    CU_ASSERT_EQUAL(ipath(c, "parking", "spaces_available"), 0);
    CU_ASSERT_EQUAL(ipath(c, "parking", "lots_reporting"), 0);
    CU_ASSERT_EQUAL(ipath(c, "transit", "vehicles"), 0);
    CU_ASSERT_EQUAL(ipath(c, "transit", "trips_active"), 1);       /* T1 by the timetable */
    CU_ASSERT_EQUAL(ipath(c, "transit", "trips_predicted"), 0);
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(path(c, "transit", "share_predicted")), 0, 1e-9);
    CU_ASSERT_EQUAL(ipath(c, "transit", "stops"), 9);               /* not the station */
    CU_ASSERT_EQUAL(ipath(c, "transit", "stops_with_signs"), 2);
    CU_ASSERT_EQUAL(ipath(c, "transit", "signs_live"), 0);
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(path(c, "transit", "share_signs")), 0.2222, 1e-9);
    CU_ASSERT_EQUAL(ipath(c, "fares", "rides"), 0);
    CU_ASSERT_EQUAL(ipath(c, "fares", "electronic"), 0);
    CU_ASSERT_TRUE(json_is_null(path(c, "fares", "share_electronic")));
    CU_ASSERT_EQUAL(ipath(c, "signals", "intersections"), 4);
    CU_ASSERT_EQUAL(ipath(c, "signals", "realtime"), 0);
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(path(c, "signals", "share_realtime")), 0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(path(c, "targets", "share_predicted")), 0.9, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(path(c, "targets", "share_signs")), 0.1, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(path(c, "targets", "share_electronic")), 0.75, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(path(c, "targets", "share_realtime")), 0.7, 1e-9);
    CU_ASSERT_TRUE(json_is_null(src_age(c, "transit")));
    CU_ASSERT_TRUE(json_is_null(src_age(c, "parking")));
    json_decref(c);
    char msg[256];
    CU_ASSERT_EQUAL(get_status("/v1/city?at=yesterday", msg, sizeof msg), 400);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "at"));
}

/* A live bus predicts its trip; a sign is live for 120 s after it
 * fetched its stop's arrivals with sign=<id>. */
static void test_bus_and_signs(void)
{
    bus(121.3800, HMS(8, 1, 0));
    char msg[256];
    CU_ASSERT_EQUAL(get_status("/v1/transit/stops/S1/arrivals?sign=sign-s1", NULL, 0), 200);
    CU_ASSERT_EQUAL(get_status("/v1/transit/stops/S1/arrivals?sign=sign-s3", msg, sizeof msg),
                    400);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "sign"));
    CU_ASSERT_EQUAL(get_status("/v1/transit/stops/S1/arrivals?sign=nope", msg, sizeof msg), 400);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "sign: no stop sign"));
    /* which signs are live, and since when */
    struct http_result r;
    CU_ASSERT_EQUAL_FATAL(support_get(cityd.base, "/v1/transit/signs", NULL, &r), 0);
    const json_t *signs = json_object_get(r.json, "signs");
    CU_ASSERT_EQUAL_FATAL(json_array_size(signs), 2);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(signs, 0), "id")),
                           "sign-s1");
    CU_ASSERT_TRUE(json_is_true(json_object_get(json_array_get(signs, 0), "live")));
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(signs, 0), "last_fetch")),
                    (json_int_t)HMS(8, 1, 0));
    CU_ASSERT_TRUE(json_is_false(json_object_get(json_array_get(signs, 1), "live")));
    CU_ASSERT_TRUE(json_is_null(json_object_get(json_array_get(signs, 1), "last_fetch")));
    http_result_free(&r);
    CU_ASSERT_EQUAL_FATAL(support_get(cityd.base, "/v1/transit/signs?format=geojson", NULL, &r),
                          0);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r.json, "type")),
                           "FeatureCollection");
    CU_ASSERT_EQUAL(json_array_size(json_object_get(r.json, "features")), 2);
    http_result_free(&r);
    json_t *c = city(0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(c, "at")), (json_int_t)HMS(8, 1, 0));
    CU_ASSERT_EQUAL(ipath(c, "transit", "vehicles"), 1);
    CU_ASSERT_EQUAL(ipath(c, "transit", "trips_active"), 1);
    CU_ASSERT_EQUAL(ipath(c, "transit", "trips_predicted"), 1);
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(path(c, "transit", "share_predicted")), 1, 1e-9);
    CU_ASSERT_EQUAL(ipath(c, "transit", "signs_live"), 1);
    CU_ASSERT_EQUAL(json_integer_value(src_age(c, "transit")), 0);
    json_decref(c);
    /* 121 s later the sign has not fetched again: not live; the bus is
     * silent beyond transit.stale_after_s (90): no prediction. */
    c = city(HMS(8, 1, 0) + 121);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(ipath(c, "transit", "signs_live"), 0);
    CU_ASSERT_EQUAL(ipath(c, "transit", "vehicles"), 0);
    CU_ASSERT_EQUAL(ipath(c, "transit", "trips_predicted"), 0);
    CU_ASSERT_EQUAL(json_integer_value(src_age(c, "transit")), 121);
    json_decref(c);
}

#define FARES "/v1/transit/fares"
#define V(id, ts, method) "{\"id\":\"" id "\",\"ts\":" ts ",\"vehicle_id\":\"V1\"," \
                          "\"route_id\":\"R1\",\"stop_id\":\"S1\",\"method\":\"" method "\"}"

static const char BATCH[] = "{\"validations\":[" V("f1", "1771286460", "qr") ","
                            V("f2", "1771286460", "cash") "," V("f3", "1771286461", "card") ","
                            V("f1", "1771286460", "qr") ","
                            V("f4", "1771286461", "coin") ","
                            "{\"ts\":1771286461,\"method\":\"nfc\"}]}";

static void check_fares(json_int_t rides, json_int_t electronic)
{
    json_t *c = city(0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(ipath(c, "fares", "rides"), rides);
    CU_ASSERT_EQUAL(ipath(c, "fares", "electronic"), electronic);
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(path(c, "fares", "share_electronic")),
                           round(10000.0 * (double)electronic / (double)rides) / 10000, 1e-9);
    json_decref(c);
}

/* Fares are idempotent on id (within a batch too), bad items are
 * rejected naming the field and change nothing. */
static void test_fares(void)
{
    json_t *j = NULL;
    CU_ASSERT_EQUAL_FATAL(post(FARES, "k-sensor", BATCH, &j), 200);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "accepted")), 3);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "duplicates")), 1);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "rejected")), 2);
    const json_t *errs = json_object_get(j, "errors");
    CU_ASSERT_EQUAL_FATAL(json_array_size(errs), 2);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(errs, 0), "index")), 4);
    CU_ASSERT_PTR_NOT_NULL(strstr(json_string_value(json_object_get(json_array_get(errs, 0),
                                                                    "message")), "method"));
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(errs, 1), "index")), 5);
    CU_ASSERT_PTR_NOT_NULL(strstr(json_string_value(json_object_get(json_array_get(errs, 1),
                                                                    "message")), "id: required"));
    json_decref(j);
    check_fares(3, 2);
    /* the same request again counts nothing */
    CU_ASSERT_EQUAL_FATAL(post(FARES, "k-sensor", BATCH, &j), 200);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "accepted")), 0);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "duplicates")), 4);
    json_decref(j);
    check_fares(3, 2);
    /* whole-request errors */
    CU_ASSERT_EQUAL(post(FARES, "k-sensor", "{\"validation\":[]}", &j), 400);
    CU_ASSERT_PTR_NOT_NULL(strstr(err_msg(j), "validations"));
    json_decref(j);
    CU_ASSERT_EQUAL(post(FARES, "k-sensor", "{\"validations\":", NULL), 400);
    CU_ASSERT_EQUAL(post(FARES, NULL, "{\"validations\":[]}", NULL), 401);
    CU_ASSERT_EQUAL(post(FARES, "k-reader", "{\"validations\":[]}", NULL), 403);
    check_fares(3, 2);
    /* counters are partitioned: no fare key outside a {p:NN} tag */
    CU_ASSERT_EQUAL(support_redis_int(&redis, "--scan --pattern '*fare*' | grep -vc '{p:[0-9][0-9]}'"),
                    0);
    CU_ASSERT_TRUE(support_redis_int(&redis, "--scan --pattern '*:fares:*' | wc -l") >= 2);
    /* Ids are remembered by the hour of their ts, in small hashes per
     * partition and hour expiring with retention.fare_max_age_s (a day) and
     * an hour, not with a key of their own per validation. */
    CU_ASSERT_EQUAL(support_redis_int(&redis, "--scan --pattern '*seen:fare:*' | wc -l"), 0);
    char key[KEY_MAX], cmd[2 * KEY_MAX], what[64], part[8];
    snprintf(what, sizeof what, "fares:%lld:ids:%u", (long long)city_hour(1771286460),
             city_fare_ids_bucket("f1"));
    keys_part_key(key, sizeof key, city_fare_part("f1"), what);
    snprintf(cmd, sizeof cmd, "HEXISTS '%s' f1", key);
    CU_ASSERT_EQUAL(support_redis_int(&redis, cmd), 1);
    snprintf(cmd, sizeof cmd, "OBJECT ENCODING '%s'", key);
    char enc[64];
    CU_ASSERT(support_redis_text(&redis, cmd, enc, sizeof enc) > 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(enc, "listpack"));
    snprintf(cmd, sizeof cmd, "TTL '%s'", key);
    long long ttl = support_redis_int(&redis, cmd);
    CU_ASSERT(ttl > 86400 && ttl <= 86400 + 3600);
    /* an id remembered the former way, by a marker of its own, is still a
     * duplicate */
    snprintf(part, sizeof part, "%02u", city_fare_part("f9"));
    keys_seen(key, sizeof key, "p", part, "fare:f9");
    snprintf(cmd, sizeof cmd, "SET '%s' 1 EX 600", key);
    support_redis_int(&redis, cmd);
    CU_ASSERT_EQUAL(post(FARES, "k-sensor", "{\"validations\":[" V("f9", "1771286460", "qr") "]}",
                         &j), 200);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "accepted")), 0);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "duplicates")), 1);
    json_decref(j);
    check_fares(3, 2);
}

/* Counts fresher than two intervals make an adaptive intersection
 * real-time; an hour later they are not. */
static void test_realtime(void)
{
    json_t *j = NULL;
    char body[256];
    snprintf(body, sizeof body, "{\"id\":\"c1\",\"ts\":%.0f,\"interval_s\":900,"
             "\"counts\":{\"EBT\":100,\"WBT\":90,\"NBT\":40}}", HMS(7, 45, 0));
    CU_ASSERT_EQUAL(post("/v1/signals/intersections/i1/counts", "k-sensor", body, &j), 201);
    json_decref(j);
    json_t *c = city(0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(ipath(c, "signals", "realtime"), 1);
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(path(c, "signals", "share_realtime")), 0.25, 1e-9);
    json_decref(c);
    c = city(HMS(8, 0, 0) + 1801);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(ipath(c, "signals", "realtime"), 0);
    json_decref(c);
}

static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = strstr(text, line); p; p = strstr(p + 1, line))
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return true;
    return false;
}

/* The gauges of the contract, with the values of /v1/city. */
static void test_metrics(void)
{
    struct http_result r;
    CU_ASSERT_EQUAL_FATAL(support_get(cityd.base, "/metrics", NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    const char *t = r.body;
    CU_ASSERT_TRUE(has_line(t, "cityd_parking_lots 3"));
    CU_ASSERT_TRUE(has_line(t, "cityd_parking_spaces_total 412"));
    CU_ASSERT_TRUE(has_line(t, "cityd_parking_spaces_available 0"));
    CU_ASSERT_TRUE(has_line(t, "cityd_parking_lots_stale 3"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "cityd_transit_vehicles{status=\"stale\"} "));
    CU_ASSERT_TRUE(has_line(t, "cityd_transit_trips_active 1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "cityd_transit_trips_predicted "));
    CU_ASSERT_TRUE(has_line(t, "cityd_signals_intersections{mode=\"adaptive\"} 4"));
    CU_ASSERT_TRUE(has_line(t, "cityd_signals_intersections{mode=\"fixed\"} 0"));
    CU_ASSERT_TRUE(has_line(t, "cityd_signals_intersections_realtime 1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "cityd_source_age_seconds{source=\"parking\"} NaN"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "cityd_source_age_seconds{source=\"transit\"} "));
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "cityd_source_age_seconds{source=\"counts\"} "));
    CU_ASSERT_TRUE(has_line(t, "cityd_transit_stops_with_signs 2"));
    CU_ASSERT_TRUE(has_line(t, "cityd_fares_rides_24h 3"));
    CU_ASSERT_TRUE(has_line(t, "cityd_fares_electronic_24h 2"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "cityd_city_indicator{indicator=\"share_electronic\"} 0.66"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "cityd_transit_fares_total{result=\"duplicate\"} 6"));
    http_result_free(&r);
}

/* Every metric the shipped dashboard and alert rules use is one cityd
 * exposes (a renamed series would leave an empty panel). */
static void check_ops_file(const char *file, const char *metrics)
{
    FILE *f = fopen(file, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    static char text[1 << 17];
    size_t n = fread(text, 1, sizeof text - 1, f), found = 0;
    fclose(f);
    text[n] = '\0';
    for (const char *p = strstr(text, "cityd_"); p; p = strstr(p + 1, "cityd_")) {
        char name[128], type[160];
        size_t k = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_");
        if (k >= sizeof name)
            continue;
        memcpy(name, p, k);
        name[k] = '\0';
        if (k > 7 && strcmp(name + k - 7, "_bucket") == 0)
            name[k - 7] = '\0';                 /* a histogram's series */
        snprintf(type, sizeof type, "# TYPE %s ", name);
        if (strstr(metrics, type) == NULL)
            fprintf(stderr, "\n%s: %s is not in /metrics\n", file, name);
        CU_ASSERT_PTR_NOT_NULL(strstr(metrics, type));
        found++;
    }
    CU_ASSERT_TRUE(found >= 5);
}

static void test_ops_files(void)
{
    struct http_result r;
    CU_ASSERT_EQUAL_FATAL(support_get(cityd.base, "/metrics", NULL, &r), 0);
    check_ops_file("ops/grafana/cityd.json", r.body);
    check_ops_file("ops/cityd-alerts.yml", r.body);
    http_result_free(&r);
    json_error_t e;
    json_t *d = json_load_file("ops/grafana/cityd.json", 0, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_TRUE(json_array_size(json_object_get(d, "panels")) >= 10);
    json_decref(d);
}

/* cityd --check names a sign whose stop the feed does not have. */
static void test_check_signs(void)
{
    const char *bin = getenv("CITYD_BIN");
    char cmd[512], out[8192];
    snprintf(cmd, sizeof cmd, "%s --check -o map.dir=tests/fixtures/maps/city_badsign "
             "-o transit.gtfs_dir=tests/fixtures/gtfs/basic 2>&1", bin && *bin ? bin : "bin/cityd");
    FILE *p = popen(cmd, "r");
    CU_ASSERT_FATAL(p != NULL);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    CU_ASSERT_NOT_EQUAL(pclose(p), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "tests/fixtures/maps/city_badsign/stop_signs.geojson: "
                                       "sign-x: stop_id 'S99' is not a stop of the GTFS feed"));
    CU_ASSERT_PTR_NULL(strstr(out, "sign-s1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "check: 1 problem(s)"));
    /* the good fixture passes */
    snprintf(cmd, sizeof cmd, "%s --check -o map.dir=tests/fixtures/maps/city "
             "-o transit.gtfs_dir=tests/fixtures/gtfs/basic 2>&1", bin && *bin ? bin : "bin/cityd");
    p = popen(cmd, "r");
    CU_ASSERT_FATAL(p != NULL);
    n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    CU_ASSERT_EQUAL(pclose(p), 0);
}

/* Acknowledged fares survive a restart of cityd (restored from Redis). */
static void test_restart(void)
{
    support_cityd_stop(&cityd);
    CU_ASSERT_EQUAL_FATAL(support_cityd_start(&cityd, redis.url, OPTS), 0);
    bus(121.3805, HMS(8, 1, 30));          /* the replay clock again */
    check_fares(3, 2);
    json_t *j = NULL;
    CU_ASSERT_EQUAL(post(FARES, "k-sensor", BATCH, &j), 200);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "accepted")), 0);
    json_decref(j);
    check_fares(3, 2);
}

/* Redis down: fares answer 503 and count nothing; once it is back they
 * count again, each once. */
static void test_fares_redis_down(void)
{
    static const char one[] = "{\"validations\":[" V("g1", "1771286470", "nfc") ","
                              V("g2", "1771286470", "cash") "," V("g3", "1771286471", "qr") "]}";
    support_redis_kill(&redis, true);
    struct http_result r;
    CU_ASSERT_EQUAL_FATAL(support_send("POST", cityd.base, FARES, "k-sensor", one, &r), 0);
    CU_ASSERT_EQUAL(r.status, 503);
    CU_ASSERT_STRING_EQUAL(support_error_code(&r), "store_unavailable");
    CU_ASSERT_TRUE(r.retry_after[0] != '\0');
    http_result_free(&r);
    CU_ASSERT_EQUAL_FATAL(support_redis_restart(&redis), 0);
    long st = 0;
    json_t *j = NULL;
    for (int i = 0; i < 200 && st != 200; i++) {          /* the store reconnects by itself */
        json_decref(j);
        j = NULL;
        st = post(FARES, "k-sensor", one, &j);
        if (st != 200)
            support_sleep_ms(50);
    }
    CU_ASSERT_EQUAL_FATAL(st, 200);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "accepted")), 3);
    json_decref(j);
    check_fares(6, 4);
    CU_ASSERT_EQUAL(post(FARES, "k-sensor", one, &j), 200);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "duplicates")), 3);
    json_decref(j);
    check_fares(6, 4);
}

/* ---- lists ---- */

/* GET path; the parsed body, or NULL when the status is not `want`. */
static json_t *get(const char *p, long want, char *ctype, size_t n)
{
    struct http_result r;
    if (support_get(cityd.base, p, NULL, &r) != 0)
        return NULL;
    CU_ASSERT_EQUAL(r.status, want);
    if (r.status != want)
        fprintf(stderr, "\nGET %s: %ld %s\n", p, r.status, r.body);
    if (ctype)
        snprintf(ctype, n, "%s", r.content_type);
    json_t *j = r.status == want ? json_incref(r.json) : NULL;
    http_result_free(&r);
    return j;
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* At most 7 decimals. */
static bool seven(double x)
{
    double s = x * 1e7;
    return fabs(s - round(s)) < 1e-3;
}

static void check_position(const json_t *pos)
{
    CU_ASSERT_TRUE_FATAL(json_is_array(pos) && json_array_size(pos) == 2);
    double lon = json_number_value(json_array_get(pos, 0));
    double lat = json_number_value(json_array_get(pos, 1));
    CU_ASSERT_TRUE(lon > 121 && lon < 122 && lat > 37 && lat < 38);   /* [lon, lat] order */
    CU_ASSERT_TRUE(seven(lon) && seven(lat));
}

/* A valid FeatureCollection of n features of geometry type `gtype`, each
 * with properties holding key; returns the features. */
static const json_t *check_fc(const json_t *fc, size_t n, const char *gtype, const char *key)
{
    CU_ASSERT_STRING_EQUAL(str(fc, "type"), "FeatureCollection");
    const json_t *fs = json_object_get(fc, "features");
    CU_ASSERT_TRUE_FATAL(json_is_array(fs));
    CU_ASSERT_EQUAL(json_array_size(fs), n);
    for (size_t i = 0; i < json_array_size(fs); i++) {
        const json_t *f = json_array_get(fs, i), *g = json_object_get(f, "geometry");
        CU_ASSERT_STRING_EQUAL(str(f, "type"), "Feature");
        CU_ASSERT_STRING_EQUAL(str(g, "type"), gtype);
        CU_ASSERT_TRUE(json_is_object(json_object_get(f, "properties")));
        CU_ASSERT_PTR_NOT_NULL(json_object_get(json_object_get(f, "properties"), key));
        const json_t *c = json_object_get(g, "coordinates");
        if (strcmp(gtype, "Point") == 0)
            check_position(c);
        else if (strcmp(gtype, "LineString") == 0)
            for (size_t k = 0; k < json_array_size(c); k++)
                check_position(json_array_get(c, k));
        else
            for (size_t k = 0; k < json_array_size(c); k++)
                for (size_t m = 0; m < json_array_size(json_array_get(c, k)); m++)
                    check_position(json_array_get(json_array_get(c, k), m));
    }
    return fs;
}

static void test_stops(void)
{
    json_t *j = get("/v1/transit/stops", 200, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    const json_t *l = json_object_get(j, "stops");
    CU_ASSERT_EQUAL_FATAL(json_array_size(l), 9);           /* not the station ST1 */
    const json_t *s1 = json_array_get(l, 0);
    CU_ASSERT_STRING_EQUAL(str(s1, "stop_id"), "S1");
    CU_ASSERT_STRING_EQUAL(str(s1, "stop_name"), "Zhifu Rd, West");
    CU_ASSERT_STRING_EQUAL(str(s1, "stop_code"), "101");
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(s1, "lon")), 121.38, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(s1, "lat")), 37.5401, 1e-9);
    CU_ASSERT_EQUAL_FATAL(json_array_size(json_object_get(s1, "routes")), 1);
    CU_ASSERT_STRING_EQUAL(str(json_array_get(json_object_get(s1, "routes"), 0), "route_id"),
                           "R1");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(json_object_get(s1, "signs"), 0)),
                           "sign-s1");
    json_decref(j);
    /* twice: the second from the rendered copy, the same */
    for (int k = 0; k < 2; k++) {
        char ct[128];
        j = get("/v1/transit/stops?format=geojson", 200, ct, sizeof ct);
        CU_ASSERT_PTR_NOT_NULL_FATAL(j);
        CU_ASSERT_PTR_NOT_NULL(strstr(ct, "application/geo+json"));
        const json_t *fs = check_fc(j, 9, "Point", "stop_id");
        CU_ASSERT_STRING_EQUAL(str(json_array_get(fs, 0), "id"), "S1");
        json_decref(j);
    }
    /* a box around S1 and S2 only */
    j = get("/v1/transit/stops?bbox=121.379,37.54,121.386,37.541", 200, NULL, 0);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "stops")), 2);
    json_decref(j);
    j = get("/v1/transit/stops/S3", 200, NULL, 0);
    CU_ASSERT_STRING_EQUAL(str(j, "stop_id"), "S3");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(json_object_get(j, "signs"), 0)),
                           "sign-s3");
    json_decref(j);
    json_decref(get("/v1/transit/stops/NOPE", 404, NULL, 0));
    /* the literal still wins over the parameter */
    json_decref(get("/v1/transit/stops/nearest?lon=121.38&lat=37.54", 200, NULL, 0));
}

static void test_routes(void)
{
    json_t *j = get("/v1/transit/routes", 200, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    const json_t *l = json_object_get(j, "routes");
    CU_ASSERT_EQUAL_FATAL(json_array_size(l), 2);
    CU_ASSERT_STRING_EQUAL(str(json_array_get(l, 0), "route_id"), "R1");
    CU_ASSERT_STRING_EQUAL(str(json_array_get(l, 0), "route_short_name"), "1");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(l, 0), "route_type")), 3);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(l, 0), "trips")), 4);
    json_decref(j);
    j = get("/v1/transit/routes?format=geojson", 200, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    check_fc(j, 2, "MultiLineString", "route_id");
    json_decref(j);
    j = get("/v1/transit/routes/R1", 200, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    const json_t *pats = json_object_get(j, "patterns");
    /* T1, T3 (other stop_sequence values), T4 (other stops) and T2 (back) */
    CU_ASSERT_EQUAL_FATAL(json_array_size(pats), 4);
    const json_t *p0 = json_array_get(pats, 0), *stops = json_object_get(p0, "stops");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(p0, "trips")), 1);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(p0, "direction_id")), 0);
    CU_ASSERT_EQUAL_FATAL(json_array_size(stops), 5);
    for (size_t i = 0; i < 5; i++) {
        char id[8];
        snprintf(id, sizeof id, "S%zu", i + 1);
        CU_ASSERT_STRING_EQUAL(str(json_array_get(stops, i), "stop_id"), id);
    }
    CU_ASSERT_STRING_EQUAL(str(json_object_get(p0, "shape"), "type"), "LineString");
    json_decref(j);
    json_decref(get("/v1/transit/routes/R9", 404, NULL, 0));
}

static void test_intersections(void)
{
    json_t *j = get("/v1/signals/intersections", 200, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    const json_t *l = json_object_get(j, "intersections");
    CU_ASSERT_EQUAL_FATAL(json_array_size(l), 4);
    const json_t *i2 = json_array_get(l, 1);
    CU_ASSERT_STRING_EQUAL(str(i2, "id"), "i2");
    CU_ASSERT_STRING_EQUAL(str(i2, "name"), "Intersection i2");
    CU_ASSERT_STRING_EQUAL(str(i2, "mode"), "adaptive");
    CU_ASSERT_EQUAL(json_array_size(json_object_get(i2, "corridors")), 1);
    const json_t *ph = json_object_get(i2, "phases");
    CU_ASSERT_EQUAL_FATAL(json_array_size(ph), 2);
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(json_array_get(ph, 0),
                                                             "design_flow")), 500, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(json_array_get(ph, 0),
                                                             "saturation_flow")), 3600, 1e-9);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(
                               json_object_get(json_array_get(ph, 1), "movements"), 1)), "SBL");
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(i2, "pedestrian_crossing_m")), 18,
                           1e-9);
    const json_t *t = json_object_get(i2, "timing");
    CU_ASSERT_TRUE_FATAL(json_is_object(t));
    CU_ASSERT_STRING_EQUAL(str(t, "intersection"), "i2");
    CU_ASSERT_TRUE(json_number_value(json_object_get(t, "cycle_s")) >= 60);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(t, "phases")), 2);
    /* the signal state now (SPaT), so a map needs one request for all */
    const json_t *sp = json_object_get(i2, "spat");
    CU_ASSERT_EQUAL_FATAL(json_array_size(sp), 2);
    CU_ASSERT_TRUE(strlen(str(json_array_get(sp, 0), "event_state")) > 0);
    CU_ASSERT_TRUE(json_is_number(json_object_get(json_array_get(sp, 1), "likely_end_s")));
    json_decref(j);
    j = get("/v1/signals/intersections?format=geojson", 200, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    check_fc(j, 4, "Point", "phases");
    json_decref(j);
    j = get("/v1/signals/intersections/i4", 200, NULL, 0);
    CU_ASSERT_STRING_EQUAL(str(j, "id"), "i4");
    CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "corridors")), 2);   /* both corridors */
    json_decref(j);
    json_decref(get("/v1/signals/intersections/i9", 404, NULL, 0));
    json_decref(get("/v1/signals/intersections/i1/timing", 200, NULL, 0));
}

static void test_lots_corridors(void)
{
    json_t *j = get("/v1/parking/lots?format=geojson", 200, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    const json_t *fs = check_fc(j, 3, "Point", "totalSpotNumber");
    const json_t *f0 = json_array_get(fs, 0);
    CU_ASSERT_STRING_EQUAL(str(f0, "id"), "zf-001");
    CU_ASSERT_STRING_EQUAL(str(json_object_get(f0, "properties"), "status"), "unknown");
    /* the Polygon lot is a Point at its centroid */
    json_decref(j);
    j = get("/v1/parking/lots?format=geojson&bbox=121.39,37.539,121.396,37.541", 200,
            NULL, 0);
    check_fc(j, 2, "Point", "id");
    json_decref(j);
    j = get("/v1/signals/corridors?format=geojson", 200, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    fs = check_fc(j, 2, "LineString", "intersections");
    CU_ASSERT_STRING_EQUAL(str(json_array_get(fs, 0), "id"), "nandajie");
    CU_ASSERT_EQUAL(json_array_size(json_object_get(json_object_get(json_array_get(fs, 0),
                                                                    "geometry"),
                                                    "coordinates")), 3);
    json_decref(j);
    /* plain JSON unchanged */
    j = get("/v1/signals/corridors?format=json", 200, NULL, 0);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "corridors")), 2);
    json_decref(j);
}

static void test_vehicles(void)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"header\":{\"gtfs_realtime_version\":\"2.0\"},\"entity\":[{\"id\":\"e1\","
             "\"vehicle\":{\"trip\":{\"trip_id\":\"T1\"},\"vehicle\":{\"id\":\"V1\"},"
             "\"position\":{\"latitude\":37.54007,\"longitude\":121.38123456789},"
             "\"timestamp\":%.0f}}]}", ORIGIN + 8 * 3600 + 60);
    struct http_result r;
    CU_ASSERT_EQUAL_FATAL(support_send("POST", cityd.base, "/v1/transit/vehicle-positions",
                                       "k-sensor", body, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    http_result_free(&r);
    json_t *j = get("/v1/transit/vehicles", 200, NULL, 0);        /* no lon/lat: all */
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    const json_t *l = json_object_get(j, "vehicles");
    CU_ASSERT_EQUAL_FATAL(json_array_size(l), 1);
    CU_ASSERT_STRING_EQUAL(str(json_array_get(l, 0), "vehicle_id"), "V1");
    CU_ASSERT_PTR_NULL(json_object_get(json_array_get(l, 0), "distance_m"));
    json_decref(j);
    j = get("/v1/transit/vehicles?format=geojson", 200, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    const json_t *fs = check_fc(j, 1, "Point", "vehicle_id");
    CU_ASSERT_STRING_EQUAL(str(json_array_get(fs, 0), "id"), "V1");
    const json_t *c = json_object_get(json_object_get(json_array_get(fs, 0), "geometry"),
                                      "coordinates");
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_array_get(c, 0)), 121.3812346, 1e-12);
    json_decref(j);
    j = get("/v1/transit/vehicles?bbox=121.0,37.0,121.1,37.1", 200, NULL, 0);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "vehicles")), 0);
    json_decref(j);
    /* near a point, as before, with its distance */
    j = get("/v1/transit/vehicles?lon=121.3812&lat=37.5401&format=geojson", 200, NULL, 0);
    fs = check_fc(j, 1, "Point", "distance_m");
    json_decref(j);
}

/* Bad input: the contract's error naming the parameter. */
static void test_bad_input(void)
{
    static const char *const paths[][2] = {
        {"/v1/transit/stops?format=kml", "format"},
        {"/v1/transit/routes?format=", "format"},
        {"/v1/parking/lots?format=GeoJSONx", "format"},
        {"/v1/signals/intersections?format=csv", "format"},
        {"/v1/signals/corridors?format=1", "format"},
        {"/v1/transit/vehicles?format=x", "format"},
        {"/v1/transit/stops?bbox=1,2,3", "bbox"},
        {"/v1/transit/vehicles?bbox=a,b,c,d", "bbox"},
        {"/v1/signals/intersections?bbox=121,38,122,37", "bbox"},
        {"/v1/transit/stops?crs=bd09", "crs"},
        {"/v1/signals/intersections?at=soon", "at"},
        {"/v1/transit/vehicles?limit=0", "limit"},
    };
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        json_t *j = get(paths[i][0], 400, NULL, 0);
        const json_t *e = json_object_get(j, "error");
        CU_ASSERT_STRING_EQUAL(str(e, "code"), "invalid");
        CU_ASSERT_EQUAL(strncmp(str(e, "message"), paths[i][1], strlen(paths[i][1])), 0);
        json_decref(j);
    }
}

/* Accept: application/geo+json asks for GeoJSON without a parameter. */
static void test_accept(void)
{
    struct http_result r;
    CU_ASSERT_EQUAL_FATAL(support_get_accept(cityd.base, "/v1/transit/stops",
                                             "application/geo+json", &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.content_type, "geo+json"));
    CU_ASSERT_STRING_EQUAL(str(r.json, "type"), "FeatureCollection");
    http_result_free(&r);
    /* format= wins over Accept */
    CU_ASSERT_EQUAL_FATAL(support_get_accept(cityd.base, "/v1/parking/lots?format=json",
                                             "application/geo+json", &r), 0);
    CU_ASSERT_PTR_NOT_NULL(json_object_get(r.json, "lots"));
    http_result_free(&r);
}

int suite_cityview(void)
{
    CU_pSuite s = CU_add_suite("cityview", setup, teardown);
    CU_pSuite l = CU_add_suite("lists", setup, teardown);
    return s && l && CU_add_test(s, "empty city: the map's totals", test_empty_city) &&
                   CU_add_test(s, "bus predicted, sign live for 120 s", test_bus_and_signs) &&
                   CU_add_test(s, "fares: idempotent, bad items named", test_fares) &&
                   CU_add_test(s, "realtime intersections", test_realtime) &&
                   CU_add_test(s, "metrics gauges", test_metrics) &&
                   CU_add_test(s, "dashboard and alerts use real metrics", test_ops_files) &&
                   CU_add_test(s, "--check: signs at unknown stops", test_check_signs) &&
                   CU_add_test(s, "restart keeps the fares", test_restart) &&
                   CU_add_test(s, "fares while Redis is down", test_fares_redis_down) &&
                   CU_add_test(l, "stops, one stop, geojson", test_stops) &&
                   CU_add_test(l, "routes, one route, geojson", test_routes) &&
                   CU_add_test(l, "intersections with timing, geojson", test_intersections) &&
                   CU_add_test(l, "lots and corridors as geojson", test_lots_corridors) &&
                   CU_add_test(l, "vehicles: all, in a box, near; geojson", test_vehicles) &&
                   CU_add_test(l, "bad input names the parameter", test_bad_input) &&
                   CU_add_test(l, "Accept: application/geo+json", test_accept)
               ? 0
               : -1;
}
