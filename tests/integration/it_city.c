/* it_city.c -- api.md §1 GET /v1/city and the city gauges of /metrics,
 * §3 POST /v1/transit/fares and stop-sign liveness, over HTTP against a
 * real cityd and Redis.
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
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "cityd_transit_fares_total{result=\"duplicate\"} 5"));
    http_result_free(&r);
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

int suite_city(void)
{
    CU_pSuite s = CU_add_suite("city", setup, teardown);
    return s && CU_add_test(s, "empty city: the map's totals", test_empty_city) &&
                   CU_add_test(s, "bus predicted, sign live for 120 s", test_bus_and_signs) &&
                   CU_add_test(s, "fares: idempotent, bad items named", test_fares) &&
                   CU_add_test(s, "realtime intersections", test_realtime) &&
                   CU_add_test(s, "metrics gauges", test_metrics) &&
                   CU_add_test(s, "restart keeps the fares", test_restart)
               ? 0
               : -1;
}
