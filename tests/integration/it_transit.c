/* it_transit.c -- api.md §3 over HTTP: GTFS-rt ingest (protobuf and
 * JSON), per-entity errors, vehicles, nearby vehicles and stops, the
 * stop-sign arrivals with at=, the TripUpdates feed in both encodings, a
 * cityd restart keeping positions and learnt travel times, Redis loss,
 * future timestamps, a city without a feed and `--check` on a broken one.
 *
 * Feed: tests/fixtures/gtfs/basic (Asia/Shanghai). Route R1 runs east
 * along latitude 37.54 from lon 121.38: stops S1..S5 every ~441 m; trip
 * T1 leaves S1 at 08:00 and reaches S5 at 08:12 (stop_sequence 10..50);
 * T2 runs back west from S5 at 08:20. Tuesday 2026-02-17 runs WK. Most
 * tests run with clock.mode = replay so that "now" is the latest
 * position posted. */
#include <CUnit/CUnit.h>
#include <curl/curl.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "geo.h"
#include "gtfs-realtime.pb-c.h"
#include "gtfsrt.h"
#include "keys.h"
#include "support.h"

/* 2026-02-17 00:00 in Asia/Shanghai: the service day origin. */
#define ORIGIN 1771257600.0
#define HMS(h, m, s) (ORIGIN + (h) * 3600.0 + (m) * 60.0 + (s))
#define POSITIONS "/v1/transit/vehicle-positions"

static const char *const REPLAY[] = {"transit.gtfs_dir=tests/fixtures/gtfs/basic",
                                     "map.dir=tests/fixtures/maps/ok", "clock.mode=replay",
                                     NULL};

struct world {
    struct test_redis redis;
    struct test_cityd cityd;
};

/* The transit routes answer 503 until the state is reloaded from Redis. */
static int wait_transit(const char *base)
{
    for (int i = 0; i < 500; i++) {
        struct http_result r;
        if (support_get(base, "/v1/transit/trip-updates", NULL, &r) == 0) {
            long st = r.status;
            http_result_free(&r);
            if (st == 200)
                return 0;
        }
        support_sleep_ms(10);
    }
    return -1;
}

static int world_start(struct world *w, const char *const *extra)
{
    if (support_redis_start(&w->redis) != 0)
        return -1;
    if (support_cityd_start(&w->cityd, w->redis.url, extra) != 0)
        return -1;
    return wait_transit(w->cityd.base);
}

static void world_stop(struct world *w)
{
    support_cityd_stop(&w->cityd);
    support_redis_stop(&w->redis);
}

/* Longitude of the point d metres east of S1's end of R1's line. */
static double r1_lon(double d)
{
    return 121.38 + d / (GEO_EARTH_RADIUS_M * M_PI / 180 * cos(37.54 * M_PI / 180));
}

/* One JSON entity of a vehicle on trip at (lon, lat) and ts. */
static void entity(char *buf, size_t n, const char *veh, const char *trip, double lon, double lat,
                   double ts)
{
    snprintf(buf, n,
             "{\"id\":\"e-%s\",\"vehicle\":{\"trip\":{\"trip_id\":\"%s\"},\"vehicle\":{\"id\":\"%s\"},"
             "\"position\":{\"latitude\":%.7f,\"longitude\":%.7f},\"timestamp\":%.0f}}",
             veh, trip, veh, lat, lon, ts);
}

/* POST a feed of the given entities (comma-joined JSON) as JSON. */
static int post_json(const char *base, const char *key, const char *entities,
                     struct http_result *r)
{
    char *body = malloc(strlen(entities) + 128);
    sprintf(body, "{\"header\":{\"gtfs_realtime_version\":\"2.0\"},\"entity\":[%s]}", entities);
    int rc = support_send("POST", base, POSITIONS, key, body, r);
    free(body);
    return rc;
}

/* Ping vehicle veh on R1 trip at distance d (8 m north of the line). */
static long ping(const char *base, const char *veh, const char *trip, double d, double ts)
{
    char e[512];
    struct http_result r;
    entity(e, sizeof e, veh, trip, r1_lon(d), 37.54 + 8 / 111195.0, ts);
    if (post_json(base, "k-sensor", e, &r) != 0)
        return -1;
    long accepted = r.status == 200 ? (long)json_integer_value(json_object_get(r.json, "accepted"))
                                    : -r.status;
    http_result_free(&r);
    return accepted;
}

static void pb_vehicle(struct gtfsrt_vehicle *v, const char *veh, const char *trip, double lon,
                       double lat, double ts)
{
    gtfsrt_vehicle_init(v);
    snprintf(v->entity_id, sizeof v->entity_id, "e-%s", veh);
    snprintf(v->vehicle_id, sizeof v->vehicle_id, "%s", veh);
    snprintf(v->trip_id, sizeof v->trip_id, "%s", trip);
    v->lon = lon;
    v->lat = lat;
    v->timestamp = (uint64_t)ts;
}

static int post_pb(const char *base, const struct gtfsrt_vehicle *v, size_t n,
                   struct http_result *r)
{
    struct gtfsrt_header h = {.version = "2.0", .timestamp = v[0].timestamp};
    size_t len;
    uint8_t *buf = gtfsrt_encode_vehicles_pb(&h, v, n, &len);
    char url[256];
    snprintf(url, sizeof url, "%s%s", base, POSITIONS);
    int rc = support_http("POST", url, "k-sensor", buf, len, "application/x-protobuf", 5000, r);
    free(buf);
    return rc;
}

static json_int_t jint(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static double jnum(const json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

/* GET with an Accept header (support_http sends none). */
struct body {
    char *buf;
    size_t len;
    char ctype[128];
};

static size_t body_write(char *p, size_t size, size_t n, void *arg)
{
    struct body *b = arg;
    char *nb = realloc(b->buf, b->len + size * n + 1);
    if (nb == NULL)
        return 0;
    memcpy(nb + b->len, p, size * n);
    b->buf = nb;
    b->len += size * n;
    return size * n;
}

static long get_accept(const char *url, const char *accept, struct body *b)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hd = NULL;
    char h[160];
    long status = -1;
    memset(b, 0, sizeof *b);
    snprintf(h, sizeof h, "Accept: %s", accept);
    hd = curl_slist_append(hd, h);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    if (curl_easy_perform(c) == CURLE_OK) {
        char *ct = NULL;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        snprintf(b->ctype, sizeof b->ctype, "%s", ct ? ct : "");
    }
    curl_slist_free_all(hd);
    curl_easy_cleanup(c);
    return status;
}

/* The error message of a spec error body, or "". */
static const char *err_msg(const struct http_result *r)
{
    return jstr(json_object_get(r->json, "error"), "message");
}

/* ---- tests ---- */

static void test_ingest_json_protobuf_errors(void)
{
    struct world w;
    CU_ASSERT_EQUAL_FATAL(world_start(&w, REPLAY), 0);
    const char *base = w.cityd.base;
    char e[4][512], all[2200];
    entity(e[0], sizeof e[0], "b1", "T1", r1_lon(0), 37.54 + 8 / 111195.0, HMS(7, 58, 0));
    entity(e[1], sizeof e[1], "b9", "NOPE", r1_lon(0), 37.54, HMS(7, 58, 0));
    entity(e[2], sizeof e[2], "b8", "T1", 0, 0, HMS(7, 58, 0));
    snprintf(e[3], sizeof e[3], "{\"id\":\"nopos\",\"vehicle\":{\"vehicle\":{\"id\":\"b7\"}}}");
    snprintf(all, sizeof all, "%s,%s,%s,%s", e[0], e[1], e[2], e[3]);
    struct http_result r;
    CU_ASSERT_EQUAL_FATAL(post_json(base, "k-sensor", all, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(jint(r.json, "accepted"), 1);
    CU_ASSERT_EQUAL(jint(r.json, "outdated"), 0);
    CU_ASSERT_EQUAL(jint(r.json, "rejected"), 3);
    json_t *errs = json_object_get(r.json, "errors");
    CU_ASSERT_EQUAL(json_array_size(errs), 3);
    CU_ASSERT_EQUAL(jint(json_array_get(errs, 0), "index"), 1);
    CU_ASSERT_STRING_EQUAL(jstr(json_array_get(errs, 0), "id"), "e-b9");
    CU_ASSERT_PTR_NOT_NULL(strstr(jstr(json_array_get(errs, 0), "message"), "trip_id"));
    CU_ASSERT_EQUAL(jint(json_array_get(errs, 1), "index"), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(jstr(json_array_get(errs, 1), "message"), "position"));
    CU_ASSERT_EQUAL(jint(json_array_get(errs, 2), "index"), 3);
    CU_ASSERT_PTR_NOT_NULL(strstr(jstr(json_array_get(errs, 2), "message"), "position"));
    http_result_free(&r);

    /* Waiting at S1 two minutes before departure: layover. */
    CU_ASSERT_EQUAL(support_get(base, "/v1/transit/vehicles/b1", NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(jstr(r.json, "vehicle_id"), "b1");
    CU_ASSERT_STRING_EQUAL(jstr(r.json, "trip_id"), "T1");
    CU_ASSERT_STRING_EQUAL(jstr(r.json, "route_id"), "R1");
    CU_ASSERT_STRING_EQUAL(jstr(r.json, "status"), "layover");
    CU_ASSERT_STRING_EQUAL(jstr(r.json, "next_stop_id"), "S1");
    CU_ASSERT_EQUAL(jint(r.json, "ts"), (json_int_t)HMS(7, 58, 0));
    CU_ASSERT_DOUBLE_EQUAL(jnum(r.json, "lon"), r1_lon(0), 1e-6);
    http_result_free(&r);
    /* Unknown vehicles are 404; the rejected ones were never stored. */
    CU_ASSERT_EQUAL(support_get(base, "/v1/transit/vehicles/b9", NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 404);
    http_result_free(&r);

    /* The same report again is outdated and changes nothing. */
    CU_ASSERT_EQUAL_FATAL(post_json(base, "k-sensor", e[0], &r), 0);
    CU_ASSERT_EQUAL(jint(r.json, "accepted"), 0);
    CU_ASSERT_EQUAL(jint(r.json, "outdated"), 1);
    http_result_free(&r);

    /* Replayed reports must say when they were made. */
    CU_ASSERT_EQUAL_FATAL(post_json(base, "k-sensor",
                                    "{\"id\":\"nots\",\"vehicle\":{\"trip\":{\"trip_id\":\"T1\"},"
                                    "\"vehicle\":{\"id\":\"b6\"},\"position\":{\"latitude\":37.54,"
                                    "\"longitude\":121.38}}}",
                                    &r), 0);
    CU_ASSERT_EQUAL(jint(r.json, "rejected"), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(jstr(json_array_get(json_object_get(r.json, "errors"), 0),
                                       "message"), "vehicle.timestamp"));
    http_result_free(&r);

    /* Binary protobuf: b1 moving on, b2 waiting at S5 for T2. */
    struct gtfsrt_vehicle v[2];
    pb_vehicle(&v[0], "b1", "T1", r1_lon(300), 37.54, HMS(8, 1, 0));
    pb_vehicle(&v[1], "b2", "T2", r1_lon(1764), 37.5401, HMS(8, 1, 0));
    CU_ASSERT_EQUAL_FATAL(post_pb(base, v, 2, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(jint(r.json, "accepted"), 2);
    http_result_free(&r);
    CU_ASSERT_EQUAL(support_get(base, "/v1/transit/vehicles/b1", NULL, &r), 0);
    CU_ASSERT_STRING_EQUAL(jstr(r.json, "status"), "in_transit");
    CU_ASSERT_STRING_EQUAL(jstr(r.json, "next_stop_id"), "S2");
    CU_ASSERT_DOUBLE_EQUAL(jnum(r.json, "distance_along_m"), 300, 10);
    http_result_free(&r);
    CU_ASSERT_EQUAL(support_get(base, "/v1/transit/vehicles/b2", NULL, &r), 0);
    CU_ASSERT_STRING_EQUAL(jstr(r.json, "status"), "layover");
    CU_ASSERT_STRING_EQUAL(jstr(r.json, "trip_id"), "T2");
    http_result_free(&r);

    /* Whole-message failures: 400 naming what is wrong. */
    char url[256];
    snprintf(url, sizeof url, "%s%s", base, POSITIONS);
    CU_ASSERT_EQUAL(support_http("POST", url, "k-sensor", "\xff\xff\xff\x0f", 4,
                                 "application/x-protobuf", 5000, &r), 0);
    CU_ASSERT_EQUAL(r.status, 400);
    CU_ASSERT_STRING_EQUAL(support_error_code(&r), "bad_protobuf");
    http_result_free(&r);
    CU_ASSERT_EQUAL(support_send("POST", base, POSITIONS, "k-sensor", "{\"entity\": [", &r), 0);
    CU_ASSERT_EQUAL(r.status, 400);
    http_result_free(&r);
    CU_ASSERT_EQUAL(support_send("POST", base, POSITIONS, "k-sensor", "{\"header\":{\"gtfs_realtime_version\":\"2.0\"},\"entity\":{}}", &r), 0);
    CU_ASSERT_EQUAL(r.status, 400);
    CU_ASSERT_PTR_NOT_NULL(strstr(err_msg(&r), "entity"));
    http_result_free(&r);
    CU_ASSERT_EQUAL(support_http("POST", url, "k-sensor", "x", 1, "text/plain", 5000, &r), 0);
    CU_ASSERT_EQUAL(r.status, 400);
    CU_ASSERT_PTR_NOT_NULL(strstr(err_msg(&r), "Content-Type"));
    http_result_free(&r);
    /* Writes need the sensor role. */
    CU_ASSERT_EQUAL(post_json(base, NULL, e[0], &r), 0);
    CU_ASSERT_EQUAL(r.status, 401);
    http_result_free(&r);
    CU_ASSERT_EQUAL(post_json(base, "k-reader", e[0], &r), 0);
    CU_ASSERT_EQUAL(r.status, 403);
    http_result_free(&r);
    /* Counted in /metrics. */
    CU_ASSERT_EQUAL(support_get(base, "/metrics", NULL, &r), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "cityd_transit_positions_total{result=\"accepted\"} 3"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "cityd_transit_positions_total{result=\"rejected\"} 4"));
    http_result_free(&r);
    world_stop(&w);
}

/* b1 runs T1 at 5 m/s from 08:00, reporting every 30 s to 08:04 (1200 m,
 * between S3 and S4). */
static void run_t1(const char *base)
{
    CU_ASSERT_EQUAL(ping(base, "b1", "T1", 0, HMS(7, 59, 0)), 1);
    for (int i = 1; i <= 8; i++)
        CU_ASSERT_EQUAL(ping(base, "b1", "T1", 150.0 * i, HMS(8, 0, 30 * i)), 1);
}

/* The first arrival row of trip at stop (NULL if none). */
static json_t *row_of(json_t *reply, const char *trip)
{
    json_t *rows = json_object_get(reply, "arrivals");
    for (size_t i = 0; i < json_array_size(rows); i++)
        if (strcmp(jstr(json_array_get(rows, i), "trip_id"), trip) == 0)
            return json_array_get(rows, i);
    return NULL;
}

static void test_arrivals(void)
{
    struct world w;
    CU_ASSERT_EQUAL_FATAL(world_start(&w, REPLAY), 0);
    const char *base = w.cityd.base;
    run_t1(base);
    struct http_result r;
    CU_ASSERT_EQUAL(support_get(base, "/v1/transit/stops/S5/arrivals", NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(jstr(r.json, "stop_id"), "S5");
    CU_ASSERT_EQUAL(jint(r.json, "at"), (json_int_t)HMS(8, 4, 0));
    json_t *rows = json_object_get(r.json, "arrivals");
    CU_ASSERT_TRUE(json_array_size(rows) >= 2);
    json_t *a = row_of(r.json, "T1"), *b = row_of(r.json, "T2");
    CU_ASSERT_FATAL(a != NULL && b != NULL);
    CU_ASSERT_STRING_EQUAL(jstr(a, "route_id"), "R1");
    CU_ASSERT_STRING_EQUAL(jstr(a, "vehicle_id"), "b1");
    CU_ASSERT_EQUAL(jint(a, "stop_sequence"), 50);
    CU_ASSERT_EQUAL(jint(a, "scheduled_arrival"), (json_int_t)HMS(8, 12, 0));
    CU_ASSERT_TRUE(json_is_true(json_object_get(a, "predicted")));
    /* 564 m left at about 5 m/s: well before the timetable's 08:12. */
    json_int_t pa = jint(a, "predicted_arrival");
    CU_ASSERT_TRUE(pa > (json_int_t)HMS(8, 4, 0) && pa < (json_int_t)HMS(8, 10, 0));
    /* No display margin by default: the sign announces the estimate. */
    CU_ASSERT_EQUAL(jint(a, "announced_arrival"), pa);
    CU_ASSERT_TRUE(json_is_null(json_object_get(b, "announced_arrival")));
    /* T2 starts at S5 at 08:20 with no bus on it: timetable only. */
    CU_ASSERT_EQUAL(jint(b, "stop_sequence"), 1);
    CU_ASSERT_FALSE(json_is_true(json_object_get(b, "predicted")));
    CU_ASSERT_TRUE(json_is_null(json_object_get(b, "predicted_arrival")));
    CU_ASSERT_TRUE(json_is_null(json_object_get(b, "vehicle_id")));
    /* Ordered by predicted, else scheduled, time. */
    CU_ASSERT_PTR_EQUAL(json_array_get(rows, 0), a);
    http_result_free(&r);

    /* S1 was served already: T1 is not on its sign any more. */
    CU_ASSERT_EQUAL(support_get(base, "/v1/transit/stops/S1/arrivals", NULL, &r), 0);
    CU_ASSERT_PTR_NULL(row_of(r.json, "T1"));
    http_result_free(&r);

    /* at= two minutes on: b1 has been silent for longer than
     * stale_after_s and backs no prediction. */
    char path[128];
    snprintf(path, sizeof path, "/v1/transit/stops/S5/arrivals?at=%.0f", HMS(8, 6, 0));
    CU_ASSERT_EQUAL(support_get(base, path, NULL, &r), 0);
    a = row_of(r.json, "T1");
    CU_ASSERT_FATAL(a != NULL);
    CU_ASSERT_FALSE(json_is_true(json_object_get(a, "predicted")));
    CU_ASSERT_TRUE(json_is_null(json_object_get(a, "predicted_arrival")));
    http_result_free(&r);
    /* minutes_after bounds the window: T2 (08:20) is 16 min away. */
    CU_ASSERT_EQUAL(support_get(base, "/v1/transit/stops/S5/arrivals?minutes_after=10", NULL, &r),
                    0);
    CU_ASSERT_PTR_NOT_NULL(row_of(r.json, "T1"));
    CU_ASSERT_PTR_NULL(row_of(r.json, "T2"));
    http_result_free(&r);

    CU_ASSERT_EQUAL(support_get(base, "/v1/transit/stops/S5/arrivals?minutes_after=soon", NULL, &r),
                    0);
    CU_ASSERT_EQUAL(r.status, 400);
    CU_ASSERT_PTR_NOT_NULL(strstr(err_msg(&r), "minutes_after"));
    http_result_free(&r);
    CU_ASSERT_EQUAL(support_get(base, "/v1/transit/stops/S5/arrivals?at=yesterday", NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 400);
    CU_ASSERT_PTR_NOT_NULL(strstr(err_msg(&r), "at"));
    http_result_free(&r);
    CU_ASSERT_EQUAL(support_get(base, "/v1/transit/stops/NOPE/arrivals", NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 404);
    http_result_free(&r);
    world_stop(&w);
}

/* The first trip update of a JSON feed for trip, or NULL. */
static json_t *update_of(json_t *feed, const char *trip)
{
    json_t *ents = json_object_get(feed, "entity");
    for (size_t i = 0; i < json_array_size(ents); i++) {
        json_t *tu = json_object_get(json_array_get(ents, i), "trip_update");
        if (strcmp(jstr(json_object_get(tu, "trip"), "trip_id"), trip) == 0)
            return tu;
    }
    return NULL;
}

/* A string field of a decoded message (bytes in cityd's .proto) is s. */
static bool pb_is(ProtobufCBinaryData b, const char *s)
{
    return b.len == strlen(s) && memcmp(b.data, s, b.len) == 0;
}

/* The live TripUpdates feed is rendered at most once a second
 * (h_trip_updates): after a post, one second later it shows it. */
static void feed_settle(void)
{
    usleep(1100 * 1000);
}

/* A feed that names no trip, only the vehicle and its route (many AVL
 * feeds): cityd infers the trip and predicts from it. */
static void test_no_trip_ids(void)
{
    struct world w;
    CU_ASSERT_EQUAL_FATAL(world_start(&w, REPLAY), 0);
    const char *base = w.cityd.base;
    for (int i = 0; i < 3; i++) {
        char e[512];
        struct http_result r;
        snprintf(e, sizeof e,
                 "{\"id\":\"nb\",\"vehicle\":{\"trip\":{\"route_id\":\"R1\"},"
                 "\"vehicle\":{\"id\":\"nb\"},\"position\":{\"latitude\":%.7f,"
                 "\"longitude\":%.7f},\"timestamp\":%.0f}}",
                 37.54 + 8 / 111195.0, r1_lon(700 + 100 * i), HMS(8, 4, 20 * i));
        CU_ASSERT_EQUAL(post_json(base, "k-sensor", e, &r), 0);
        CU_ASSERT_EQUAL(r.status, 200);
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(r.json, "accepted")), 1);
        http_result_free(&r);
    }
    struct http_result r;
    CU_ASSERT_EQUAL(support_get(base, "/v1/transit/vehicles/nb", NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(jstr(r.json, "trip_id"), "T1");
    CU_ASSERT_STRING_EQUAL(jstr(r.json, "route_id"), "R1");
    CU_ASSERT_STRING_EQUAL(jstr(r.json, "assignment"), "inferred");
    http_result_free(&r);
    char path[128];
    snprintf(path, sizeof path, "/v1/transit/stops/S5/arrivals?at=%.0f", HMS(8, 5, 0));
    CU_ASSERT_EQUAL(support_get(base, path, NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    json_t *a = row_of(r.json, "T1");
    CU_ASSERT_FATAL(a != NULL);
    CU_ASSERT_STRING_EQUAL(jstr(a, "vehicle_id"), "nb");
    CU_ASSERT_TRUE(json_is_true(json_object_get(a, "predicted")));
    json_int_t pa = jint(a, "predicted_arrival");
    CU_ASSERT_TRUE(pa > (json_int_t)HMS(8, 5, 0) && pa < (json_int_t)HMS(8, 12, 0));
    http_result_free(&r);
    world_stop(&w);
}

/* A bus's track keeps retention.track_s (default an hour) of reports
 * before its latest, by report time, however long the bus runs: five
 * hours of reports a minute apart leave the last hour (and at most a
 * stream node more), ids at the reports' times. */
static void test_track_retention(void)
{
    struct world w;
    CU_ASSERT_EQUAL_FATAL(world_start(&w, REPLAY), 0);
    const int n = 300;
    double t0 = HMS(6, 0, 0), last = t0 + 60.0 * (n - 1);
    for (int i = 0; i < n; i++) {
        char e[512];
        struct http_result r;
        snprintf(e, sizeof e,
                 "{\"id\":\"tk\",\"vehicle\":{\"vehicle\":{\"id\":\"tk\"},"
                 "\"position\":{\"latitude\":%.7f,\"longitude\":%.7f},\"timestamp\":%.0f}}",
                 37.54 + 8 / 111195.0, r1_lon(100 + i % 50), t0 + 60.0 * i);
        CU_ASSERT_EQUAL(post_json(w.cityd.base, "k-sensor", e, &r), 0);
        CU_ASSERT_EQUAL(r.status, 200);
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(r.json, "accepted")), 1);
        http_result_free(&r);
    }
    char key[KEY_MAX], min[32];
    keys_vehicle(key, sizeof key, "tk", "track");
    snprintf(min, sizeof min, "%.0f", (last - 3600) * 1000);
    long long all = support_stream_count(&w.redis, key, "-");
    CU_ASSERT_EQUAL(support_stream_count(&w.redis, key, min), 61);     /* the last hour, whole */
    CU_ASSERT(all >= 61 && all <= 61 + 100);
    CU_ASSERT_EQUAL(support_stream_edge_ms(&w.redis, key, true), (long long)(last * 1000));
    CU_ASSERT(support_stream_edge_ms(&w.redis, key, false) >= (long long)((last - 3600 - 6000) * 1000));
    world_stop(&w);
}

static void test_trip_updates(void)
{
    struct world w;
    CU_ASSERT_EQUAL_FATAL(world_start(&w, REPLAY), 0);
    const char *base = w.cityd.base;
    run_t1(base);
    feed_settle();
    struct http_result r;
    CU_ASSERT_EQUAL(support_get(base, "/v1/transit/trip-updates", NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.content_type, "application/json"));
    json_t *hd = json_object_get(r.json, "header");
    CU_ASSERT_STRING_EQUAL(jstr(hd, "gtfs_realtime_version"), "2.0");
    json_int_t ts1 = jint(hd, "timestamp");
    CU_ASSERT_EQUAL(ts1, (json_int_t)HMS(8, 4, 0));
    json_t *tu = update_of(r.json, "T1");
    CU_ASSERT_FATAL(tu != NULL);
    CU_ASSERT_STRING_EQUAL(jstr(json_object_get(tu, "vehicle"), "id"), "b1");
    json_t *stus = json_object_get(tu, "stop_time_update");
    /* Past S3: S4 and S5 are ahead, arrival times increasing. */
    CU_ASSERT_EQUAL_FATAL(json_array_size(stus), 2);
    json_int_t times[2];
    for (size_t i = 0; i < 2; i++) {
        json_t *s = json_array_get(stus, i);
        CU_ASSERT_EQUAL(jint(s, "stop_sequence"), i ? 50 : 40);
        times[i] = jint(json_object_get(s, "arrival"), "time");
    }
    CU_ASSERT_TRUE(times[0] >= ts1 && times[1] > times[0]);
    http_result_free(&r);

    /* Protobuf on request: the same predictions. */
    char url[256];
    struct body b;
    snprintf(url, sizeof url, "%s/v1/transit/trip-updates", base);
    CU_ASSERT_EQUAL(get_accept(url, "application/x-protobuf", &b), 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(b.ctype, "application/x-protobuf"));
    TransitRealtime__FeedMessage *m =
        transit_realtime__feed_message__unpack(NULL, b.len, (const uint8_t *)b.buf);
    CU_ASSERT_FATAL(m != NULL);
    CU_ASSERT_EQUAL(m->header->timestamp, (uint64_t)ts1);
    CU_ASSERT_EQUAL_FATAL(m->n_entity, 1);
    TransitRealtime__TripUpdate *pu = m->entity[0]->trip_update;
    CU_ASSERT_FATAL(pu != NULL);
    CU_ASSERT_TRUE(pb_is(pu->trip->trip_id, "T1"));
    CU_ASSERT_EQUAL_FATAL(pu->n_stop_time_update, 2);
    for (size_t i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL(pu->stop_time_update[i]->arrival->time, times[i]);
    }
    transit_realtime__feed_message__free_unpacked(m, NULL);
    free(b.buf);

    /* An earlier at= never takes the header timestamp back. */
    char path[128];
    snprintf(path, sizeof path, "/v1/transit/trip-updates?at=%.0f", HMS(8, 0, 0));
    CU_ASSERT_EQUAL(support_get(base, path, NULL, &r), 0);
    CU_ASSERT_TRUE(jint(json_object_get(r.json, "header"), "timestamp") >= ts1);
    http_result_free(&r);
    /* Nor does a reader's at= far ahead push the live feed's header there
     * (it is public: one request must not date everybody's feed 5138). */
    CU_ASSERT_EQUAL(support_get(base, "/v1/transit/trip-updates?at=99999999999", NULL, &r), 0);
    CU_ASSERT_EQUAL(jint(json_object_get(r.json, "header"), "timestamp"), 99999999999);
    http_result_free(&r);
    CU_ASSERT_EQUAL(support_get(base, "/v1/transit/trip-updates", NULL, &r), 0);
    CU_ASSERT_EQUAL(jint(json_object_get(r.json, "header"), "timestamp"), ts1);
    http_result_free(&r);
    world_stop(&w);
}

static void test_near_and_crs(void)
{
    struct world w;
    CU_ASSERT_EQUAL_FATAL(world_start(&w, REPLAY), 0);
    const char *base = w.cityd.base;
    run_t1(base);                               /* b1 at 1200 m */
    double lon = r1_lon(1200), lat = 37.54 + 8 / 111195.0, glon, glat;
    char path[256];
    struct http_result r;
    snprintf(path, sizeof path, "/v1/transit/vehicles?lon=%.7f&lat=%.7f&radius_m=100", lon, lat);
    CU_ASSERT_EQUAL(support_get(base, path, NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    json_t *vs = json_object_get(r.json, "vehicles");
    CU_ASSERT_EQUAL_FATAL(json_array_size(vs), 1);
    CU_ASSERT_STRING_EQUAL(jstr(json_array_get(vs, 0), "vehicle_id"), "b1");
    CU_ASSERT_DOUBLE_EQUAL(jnum(json_array_get(vs, 0), "distance_m"), 0, 1);
    http_result_free(&r);
    /* Far away: none. */
    snprintf(path, sizeof path, "/v1/transit/vehicles?lon=%.7f&lat=%.7f&radius_m=100",
             r1_lon(0), lat);
    CU_ASSERT_EQUAL(support_get(base, path, NULL, &r), 0);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(r.json, "vehicles")), 0);
    http_result_free(&r);

    /* GCJ-02 in and out: the query point and the answer are shifted the
     * way Chinese map apps shift them (Yantai is in China). */
    geo_wgs84_to_gcj02(lon, lat, &glon, &glat);
    CU_ASSERT_TRUE(geo_distance_m(lon, lat, glon, glat) > 50);
    snprintf(path, sizeof path, "/v1/transit/vehicles?lon=%.7f&lat=%.7f&radius_m=20&crs=gcj02",
             glon, glat);
    CU_ASSERT_EQUAL(support_get(base, path, NULL, &r), 0);
    vs = json_object_get(r.json, "vehicles");
    CU_ASSERT_EQUAL_FATAL(json_array_size(vs), 1);
    CU_ASSERT_DOUBLE_EQUAL(jnum(json_array_get(vs, 0), "lon"), glon, 2e-6);
    CU_ASSERT_DOUBLE_EQUAL(jnum(json_array_get(vs, 0), "lat"), glat, 2e-6);
    http_result_free(&r);
    CU_ASSERT_EQUAL(support_get(base, "/v1/transit/vehicles/b1?crs=gcj02", NULL, &r), 0);
    CU_ASSERT_DOUBLE_EQUAL(jnum(r.json, "lon"), glon, 2e-6);
    http_result_free(&r);

    /* Nearest stops: S1 first, the station ST1 (location_type 1) left out. */
    snprintf(path, sizeof path, "/v1/transit/stops/nearest?lon=121.3801&lat=37.5401&radius_m=600");
    CU_ASSERT_EQUAL(support_get(base, path, NULL, &r), 0);
    json_t *ss = json_object_get(r.json, "stops");
    CU_ASSERT_EQUAL_FATAL(json_array_size(ss), 2);
    CU_ASSERT_STRING_EQUAL(jstr(json_array_get(ss, 0), "stop_id"), "S1");
    CU_ASSERT_STRING_EQUAL(jstr(json_array_get(ss, 0), "stop_name"), "Zhifu Rd, West");
    CU_ASSERT_STRING_EQUAL(jstr(json_array_get(ss, 1), "stop_id"), "S2");
    CU_ASSERT_TRUE(jnum(json_array_get(ss, 0), "distance_m") <
                   jnum(json_array_get(ss, 1), "distance_m"));
    http_result_free(&r);
    geo_wgs84_to_gcj02(121.3800, 37.5401, &glon, &glat);
    snprintf(path, sizeof path,
             "/v1/transit/stops/nearest?lon=%.7f&lat=%.7f&radius_m=5&crs=gcj02", glon, glat);
    CU_ASSERT_EQUAL(support_get(base, path, NULL, &r), 0);
    ss = json_object_get(r.json, "stops");
    CU_ASSERT_EQUAL_FATAL(json_array_size(ss), 1);
    CU_ASSERT_DOUBLE_EQUAL(jnum(json_array_get(ss, 0), "lon"), glon, 2e-6);
    http_result_free(&r);

    /* Bad parameters name themselves. */
    static const char *const bad[][2] = {
        {"/v1/transit/stops/nearest?lat=37.54", "lon"},
        {"/v1/transit/stops/nearest?lon=500&lat=37.54", "lon"},
        {"/v1/transit/vehicles?lon=121.38&lat=x", "lat"},
        {"/v1/transit/vehicles?lon=121.38&lat=37.54&radius_m=-3", "radius_m"},
        {"/v1/transit/vehicles?lon=121.38&lat=37.54&crs=bd09", "crs"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CU_ASSERT_EQUAL(support_get(base, bad[i][0], NULL, &r), 0);
        CU_ASSERT_EQUAL(r.status, 400);
        CU_ASSERT_STRING_EQUAL(support_error_code(&r), "invalid");
        CU_ASSERT_PTR_NOT_NULL(strstr(err_msg(&r), bad[i][1]));
        http_result_free(&r);
    }
    world_stop(&w);
}

/* Stop cityd and start it again on the same Redis. */
static int restart(struct world *w, const char *const *extra)
{
    if (support_cityd_signal_wait(&w->cityd, SIGTERM, 10000) != 0)
        return -1;
    support_cityd_stop(&w->cityd);
    if (support_cityd_start(&w->cityd, w->redis.url, extra) != 0)
        return -1;
    return wait_transit(w->cityd.base);
}

static void test_restart_keeps_state(void)
{
    struct world w;
    CU_ASSERT_EQUAL_FATAL(world_start(&w, REPLAY), 0);
    run_t1(w.cityd.base);
    struct http_result before, after, r;
    CU_ASSERT_EQUAL(support_get(w.cityd.base, "/v1/transit/vehicles/b1", NULL, &before), 0);
    CU_ASSERT_EQUAL_FATAL(support_get(w.cityd.base, "/v1/transit/stops/S5/arrivals", NULL, &r), 0);
    json_int_t pa = jint(row_of(r.json, "T1"), "predicted_arrival");
    http_result_free(&r);

    CU_ASSERT_EQUAL_FATAL(restart(&w, REPLAY), 0);
    CU_ASSERT_EQUAL(support_get(w.cityd.base, "/v1/transit/vehicles/b1", NULL, &after), 0);
    CU_ASSERT_EQUAL(after.status, 200);
    CU_ASSERT_EQUAL(jint(after.json, "ts"), jint(before.json, "ts"));
    CU_ASSERT_DOUBLE_EQUAL(jnum(after.json, "lon"), jnum(before.json, "lon"), 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(jnum(after.json, "distance_along_m"),
                           jnum(before.json, "distance_along_m"), 1);
    CU_ASSERT_STRING_EQUAL(jstr(after.json, "next_stop_id"), jstr(before.json, "next_stop_id"));
    http_result_free(&before);
    http_result_free(&after);
    /* The replay clock came back with the positions, and so did the
     * travel times learnt from b1's run: the same prediction. */
    CU_ASSERT_EQUAL(support_get(w.cityd.base, "/v1/transit/stops/S5/arrivals", NULL, &r), 0);
    CU_ASSERT_EQUAL(jint(r.json, "at"), (json_int_t)HMS(8, 4, 0));
    json_t *a = row_of(r.json, "T1");
    CU_ASSERT_FATAL(a != NULL);
    CU_ASSERT_TRUE(json_is_true(json_object_get(a, "predicted")));
    CU_ASSERT_TRUE(llabs((long long)(jint(a, "predicted_arrival") - pa)) <= 5);
    http_result_free(&r);
    /* The last report is still known: sending it again is outdated. */
    CU_ASSERT_EQUAL(ping(w.cityd.base, "b1", "T1", 1200, HMS(8, 4, 0)), 0);
    CU_ASSERT_EQUAL(ping(w.cityd.base, "b1", "T1", 1350, HMS(8, 4, 30)), 1);
    world_stop(&w);
}

/* GET path's JSON (caller frees; NULL unless 200). */
static json_t *get_json(const char *base, const char *path)
{
    struct http_result r;
    json_t *j = NULL;
    if (support_get(base, path, NULL, &r) == 0 && r.status == 200)
        j = json_incref(r.json);
    http_result_free(&r);
    return j;
}

/* A refused write changes nothing in memory: the bus, its place and
 * predictions, the stop's arrivals are as before, a new bus is unknown. */
static void test_redis_down(void)
{
    struct world w;
    CU_ASSERT_EQUAL_FATAL(world_start(&w, REPLAY), 0);
    const char *base = w.cityd.base;
    char arrivals[128];
    snprintf(arrivals, sizeof arrivals, "/v1/transit/stops/S5/arrivals?at=%.0f", HMS(8, 0, 0));
    CU_ASSERT_EQUAL(ping(base, "b1", "T1", 0, HMS(7, 59, 0)), 1);
    CU_ASSERT_EQUAL(ping(base, "b1", "T1", 300, HMS(8, 0, 0)), 1);
    json_t *veh0 = get_json(base, "/v1/transit/vehicles/b1"), *arr0 = get_json(base, arrivals);
    CU_ASSERT_PTR_NOT_NULL_FATAL(veh0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(arr0);
    json_t *row0 = row_of(arr0, "T1");
    CU_ASSERT_TRUE(row0 != NULL && json_is_true(json_object_get(row0, "predicted")));
    support_redis_kill(&w.redis, true);
    long st = 0;
    struct http_result r;
    char e[1024];
    size_t n = 0;
    entity(e, sizeof e, "b1", "T1", r1_lon(450), 37.54, HMS(8, 0, 30));
    n = strlen(e);
    e[n++] = ',';
    entity(e + n, sizeof e - n, "b9", "T1", r1_lon(100), 37.54, HMS(8, 0, 30));
    for (int i = 0; i < 300 && st != 503; i++) {
        support_sleep_ms(10);
        if (post_json(base, "k-sensor", e, &r) == 0) {
            st = r.status;
            if (st == 503) {
                CU_ASSERT_STRING_EQUAL(support_error_code(&r), "store_unavailable");
                CU_ASSERT_STRING_NOT_EQUAL(r.retry_after, "");
            }
            http_result_free(&r);
        }
    }
    CU_ASSERT_EQUAL(st, 503);
    /* Reads are served from memory meanwhile, unchanged by the refusal. */
    json_t *veh1 = get_json(base, "/v1/transit/vehicles/b1"), *arr1 = get_json(base, arrivals);
    CU_ASSERT_TRUE(json_equal(veh0, veh1));
    CU_ASSERT_EQUAL(jint(veh1, "ts"), (json_int_t)HMS(8, 0, 0));
    CU_ASSERT_TRUE(json_equal(arr0, arr1));
    CU_ASSERT_EQUAL(support_get(base, "/v1/transit/vehicles/b9", NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 404);
    http_result_free(&r);
    json_decref(veh0);
    json_decref(veh1);
    json_decref(arr0);
    json_decref(arr1);
    /* Back (a first try may meet a Redis that lost the write script and
     * answer 503 while it is reloaded): the refused report is taken now,
     * and was not half-applied. */
    CU_ASSERT_EQUAL_FATAL(support_redis_restart(&w.redis), 0);
    long acc = -503;
    for (int i = 0; i < 500 && acc == -503; i++) {
        support_sleep_ms(10);
        acc = ping(base, "b1", "T1", 450, HMS(8, 0, 30));
    }
    CU_ASSERT_EQUAL(acc, 1);
    world_stop(&w);
}

/* The message of the error reported for entity index i, or "". */
static const char *entity_error(const json_t *reply, json_int_t i)
{
    json_t *errs = json_object_get(reply, "errors");
    for (size_t k = 0; k < json_array_size(errs); k++)
        if (jint(json_array_get(errs, k), "index") == i)
            return jstr(json_array_get(errs, k), "message");
    return "";
}

/* The public TripUpdates feed answers 200 in both encodings; returns the
 * number of entities of the protobuf one (-1 on failure). */
static long trip_updates_ok(const char *base, json_t **json_feed)
{
    struct http_result r;
    long n = -1;
    *json_feed = NULL;
    feed_settle();
    CU_ASSERT_EQUAL(support_get(base, "/v1/transit/trip-updates", NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    if (r.status == 200 && r.json)
        *json_feed = json_incref(r.json);
    http_result_free(&r);
    char url[256];
    struct body b;
    snprintf(url, sizeof url, "%s/v1/transit/trip-updates", base);
    CU_ASSERT_EQUAL(get_accept(url, "application/x-protobuf", &b), 200);
    TransitRealtime__FeedMessage *m =
        transit_realtime__feed_message__unpack(NULL, b.len, (const uint8_t *)b.buf);
    CU_ASSERT_PTR_NOT_NULL(m);
    if (m) {
        n = (long)m->n_entity;
        /* both encodings: one snapshot, the same entities */
        json_t *ents = json_object_get(*json_feed, "entity");
        CU_ASSERT_EQUAL(json_array_size(ents), m->n_entity);
        for (size_t i = 0; i < m->n_entity && i < json_array_size(ents); i++)
            CU_ASSERT_TRUE(pb_is(m->entity[i]->id, jstr(json_array_get(ents, i), "id")));
        transit_realtime__feed_message__free_unpacked(m, NULL);
    }
    free(b.buf);
    return n;
}

/* Defect 6 of issue 12: a protobuf string that is not UTF-8 (or a number
 * no bus can have) is rejected with its entity alone, and the public feed
 * keeps answering; what an unfixed cityd left in Redis is not restored. */
static void test_bad_protobuf_values(void)
{
    struct world w;
    CU_ASSERT_EQUAL_FATAL(world_start(&w, REPLAY), 0);
    const char *base = w.cityd.base;
    struct gtfsrt_vehicle v[8];
    double ts = HMS(8, 1, 0);
    pb_vehicle(&v[0], "b1", "T1", r1_lon(300), 37.54, ts);
    pb_vehicle(&v[1], "bus-\xff", "T2", r1_lon(1764), 37.5401, ts);   /* waits at S5 */
    strcpy(v[1].entity_id, "e-bad");
    pb_vehicle(&v[2], "b3", "", r1_lon(900), 37.55, ts);      /* off every line: no trip */
    pb_vehicle(&v[3], "b4", "", r1_lon(900), 37.54, ts);
    strcpy(v[3].label, "L\xc0\xaf");                          /* overlong '/' */
    pb_vehicle(&v[4], "b5", "", r1_lon(900), 37.54, ts);
    v[4].speed = NAN;                                         /* has_speed, NaN */
    pb_vehicle(&v[5], "b6", "", r1_lon(900), 37.54, ts);
    v[5].bearing = 360;
    pb_vehicle(&v[6], "b7", "", r1_lon(900), 37.54, ts);
    v[6].speed = 1000;
    pb_vehicle(&v[7], "b8", "T\xed\xa0\x80", r1_lon(900), 37.54, ts);   /* a surrogate */
    /* The encoder leaves out a NaN speed: set it on the wire by hand. */
    struct gtfsrt_header h = {.version = "2.0", .timestamp = (uint64_t)ts};
    size_t len;
    uint8_t *buf = gtfsrt_encode_vehicles_pb(&h, v, 8, &len);
    TransitRealtime__FeedMessage *m = transit_realtime__feed_message__unpack(NULL, len, buf);
    CU_ASSERT_FATAL(m != NULL && m->n_entity == 8);
    m->entity[4]->vehicle->position->has_speed = true;
    m->entity[4]->vehicle->position->speed = NAN;
    uint8_t out[4096];
    CU_ASSERT_FATAL(transit_realtime__feed_message__get_packed_size(m) <= sizeof out);
    len = transit_realtime__feed_message__pack(m, out);
    transit_realtime__feed_message__free_unpacked(m, NULL);
    free(buf);
    char url[256];
    snprintf(url, sizeof url, "%s%s", base, POSITIONS);
    struct http_result r;
    CU_ASSERT_EQUAL_FATAL(support_http("POST", url, "k-sensor", out, len,
                                       "application/x-protobuf", 5000, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(jint(r.json, "accepted"), 2);
    CU_ASSERT_EQUAL(jint(r.json, "rejected"), 6);
    static const char *const field[] = {NULL, "vehicle.vehicle.id", NULL,
                                        "vehicle.vehicle.label", "vehicle.position.speed",
                                        "vehicle.position.bearing", "vehicle.position.speed",
                                        "vehicle.trip.trip_id"};
    for (int i = 1; i < 8; i++) {
        const char *msg = entity_error(r.json, i);
        if (field[i] == NULL) {
            CU_ASSERT_STRING_EQUAL(msg, "");
            continue;
        }
        CU_ASSERT_PTR_NOT_NULL(strstr(msg, field[i]));
        if (i == 1 || i == 3 || i == 7)
            CU_ASSERT_PTR_NOT_NULL(strstr(msg, "UTF-8"));
    }
    http_result_free(&r);

    /* The feed answers, with the good bus in it. */
    json_t *feed;
    CU_ASSERT_EQUAL(trip_updates_ok(base, &feed), 1);
    CU_ASSERT_PTR_NOT_NULL(update_of(feed, "T1"));
    CU_ASSERT_PTR_NULL(update_of(feed, "T2"));
    json_decref(feed);
    CU_ASSERT_EQUAL(support_get(base, "/v1/transit/vehicles/b3", NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    http_result_free(&r);
    char path[256];
    snprintf(path, sizeof path, "/v1/transit/vehicles?lon=%.7f&lat=37.54&radius_m=5000",
             r1_lon(900));
    CU_ASSERT_EQUAL(support_get(base, path, NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(r.json, "vehicles")), 2);
    http_result_free(&r);

    /* What an unfixed cityd stored for "bus-\xff" is not brought back by
     * a restart: the feed keeps answering. */
    char key[KEY_MAX], cmd[KEY_MAX + 64];
    keys_vehicle(key, sizeof key, "bus-\377", "pos");
    snprintf(cmd, sizeof cmd, "SADD '%s' \"$(printf 'bus-\\377')\"",
             keys_part_key(path, sizeof path, keys_part("bus-\377"), "transit:vehicles"));
    CU_ASSERT_EQUAL(support_redis_int(&w.redis, cmd), 1);
    char hset[KEY_MAX + 128];
    snprintf(hset, sizeof hset,
             "HSET \"$(printf '%s')\" ts %.0f lon %.7f lat 37.5401 "
             "trip_id T2 entity_id e", key, ts, r1_lon(1764));
    CU_ASSERT_EQUAL(support_redis_int(&w.redis, hset), 5);
    CU_ASSERT_EQUAL_FATAL(restart(&w, REPLAY), 0);
    CU_ASSERT_EQUAL(trip_updates_ok(base = w.cityd.base, &feed), 1);
    CU_ASSERT_PTR_NULL(update_of(feed, "T2"));
    CU_ASSERT_PTR_NOT_NULL(update_of(feed, "T1"));
    json_decref(feed);
    world_stop(&w);
}

/* JSON entities of n vehicles prefix0..prefix<n-1> without a trip, at ts. */
static char *free_buses(const char *prefix, int n, double ts)
{
    char *all = malloc((size_t)n * 300 + 1), *p = all;
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "%s%d", prefix, i);
        p += sprintf(p, "%s", i ? "," : "");
        entity(p, 300, id, "", r1_lon(100 + i), 37.54, ts);
        p += strlen(p);
    }
    return all;
}

/* Accepted count of a JSON post of n new vehicles (-status on failure). */
static long post_buses(const char *base, const char *prefix, int n, double ts)
{
    char *all = free_buses(prefix, n, ts);
    struct http_result r;
    long acc = -1;
    if (post_json(base, "k-sensor", all, &r) == 0) {
        acc = r.status == 200 ? (long)jint(r.json, "accepted") : -r.status;
        http_result_free(&r);
    }
    free(all);
    return acc;
}

/* Defect 5 of issue 12: transit.max_vehicles caps the registry (new
 * vehicles beyond it rejected, known ones updating; requests in flight
 * together cannot overfill it, and Redis holds what memory holds);
 * transit.max_batch (default 5000) caps the entities of one post, and
 * with them what decoding may allocate. */
static void test_limits(void)
{
    struct world w;
    const char *extra[] = {"transit.gtfs_dir=tests/fixtures/gtfs/basic",
                           "map.dir=tests/fixtures/maps/ok", "clock.mode=replay",
                           "transit.max_vehicles=4", "redis.timeout_ms=20000", NULL};
    CU_ASSERT_EQUAL_FATAL(world_start(&w, extra), 0);
    const char *base = w.cityd.base;
    double ts = HMS(8, 1, 0);

    /* Two posts of three new buses each while Redis is paused: both in
     * flight at once, 4 places between them. */
    kill(w.redis.pid, SIGSTOP);
    pid_t kid[2];
    for (int k = 0; k < 2; k++) {
        kid[k] = fork();
        if (kid[k] == 0) {
            long acc = post_buses(base, k ? "y" : "x", 3, ts);
            _exit(acc < 0 ? 99 : (int)acc);
        }
        support_sleep_ms(300);
    }
    kill(w.redis.pid, SIGCONT);
    int total = 0;
    for (int k = 0; k < 2; k++) {
        int st = 0;
        waitpid(kid[k], &st, 0);
        CU_ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) <= 3);
        total += WIFEXITED(st) ? WEXITSTATUS(st) : 0;
    }
    CU_ASSERT_EQUAL(total, 4);
    long long listed = 0;
    for (unsigned p = 0; p < KEYS_PARTS; p++) {
        char key[KEY_MAX], cmd[KEY_MAX + 16];
        snprintf(cmd, sizeof cmd, "SCARD '%s'", keys_part_key(key, sizeof key, p,
                                                              "transit:vehicles"));
        listed += support_redis_int(&w.redis, cmd);
    }
    CU_ASSERT_EQUAL(listed, 4);
    struct http_result r;
    int known = 0;
    for (int k = 0; k < 6; k++) {
        char path[64];
        snprintf(path, sizeof path, "/v1/transit/vehicles/%c%d", k < 3 ? 'x' : 'y', k % 3);
        CU_ASSERT_EQUAL(support_get(base, path, NULL, &r), 0);
        known += r.status == 200;
        http_result_free(&r);
    }
    CU_ASSERT_EQUAL(known, 4);

    /* Full: a new bus is rejected, saying why; the known ones go on. */
    char *all = free_buses("z", 1, ts + 30);
    CU_ASSERT_EQUAL_FATAL(post_json(base, "k-sensor", all, &r), 0);
    free(all);
    CU_ASSERT_EQUAL(jint(r.json, "rejected"), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(entity_error(r.json, 0), "transit.max_vehicles"));
    http_result_free(&r);
    CU_ASSERT_EQUAL(post_buses(base, "x", 1, ts + 30), 1);

    /* 5001 entities: 422 too_large naming the limit, nothing applied. */
    all = free_buses("x", 5001, ts + 60);
    CU_ASSERT_EQUAL_FATAL(post_json(base, "k-sensor", all, &r), 0);
    free(all);
    CU_ASSERT_EQUAL(r.status, 422);
    CU_ASSERT_STRING_EQUAL(support_error_code(&r), "too_large");
    CU_ASSERT_PTR_NOT_NULL(strstr(err_msg(&r), "transit.max_batch"));
    http_result_free(&r);
    CU_ASSERT_EQUAL(support_get(base, "/v1/transit/vehicles/x0", NULL, &r), 0);
    CU_ASSERT_EQUAL(jint(r.json, "ts"), (json_int_t)(ts + 30));
    http_result_free(&r);

    /* 1 MB of empty protobuf entities (500,000): refused before protobuf-c
     * allocates ~50 MB for them and cityd 350 MB more. */
    size_t n = 1 << 20;
    unsigned char *pb = malloc(n);
    memcpy(pb, "\x0a\x05\x0a\x03" "2.0", 7);
    for (size_t i = 7; i + 1 < n; i += 2) {
        pb[i] = 0x12;
        pb[i + 1] = 0x00;
    }
    char url[256];
    snprintf(url, sizeof url, "%s%s", base, POSITIONS);
    CU_ASSERT_EQUAL(support_http("POST", url, "k-sensor", pb, n - 1, "application/x-protobuf",
                                 10000, &r), 0);
    CU_ASSERT_EQUAL(r.status, 422);
    CU_ASSERT_STRING_EQUAL(support_error_code(&r), "too_large");
    http_result_free(&r);
    free(pb);
    world_stop(&w);
}

/* Wall clock: a report from well in the future is refused, per entity. */
static void test_future_timestamp(void)
{
    struct world w;
    const char *extra[] = {"transit.gtfs_dir=tests/fixtures/gtfs/basic",
                           "map.dir=tests/fixtures/maps/ok", NULL};
    CU_ASSERT_EQUAL_FATAL(world_start(&w, extra), 0);
    char e[2][512], all[1100];
    double now = (double)time(NULL);
    entity(e[0], sizeof e[0], "f1", "T1", r1_lon(0), 37.54, now + 3600);
    entity(e[1], sizeof e[1], "f2", "T1", r1_lon(0), 37.54, now);
    snprintf(all, sizeof all, "%s,%s", e[0], e[1]);
    struct http_result r;
    CU_ASSERT_EQUAL_FATAL(post_json(w.cityd.base, "k-sensor", all, &r), 0);
    CU_ASSERT_EQUAL(jint(r.json, "accepted"), 1);
    CU_ASSERT_EQUAL(jint(r.json, "rejected"), 1);
    json_t *err = json_array_get(json_object_get(r.json, "errors"), 0);
    CU_ASSERT_EQUAL(jint(err, "index"), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(jstr(err, "message"), "timestamp"));
    http_result_free(&r);
    world_stop(&w);
}

/* A city without a GTFS folder has no buses, and says so politely. */
static void test_no_feed(void)
{
    struct world w;
    const char *extra[] = {"map.dir=tests/fixtures/maps/ok", NULL};
    CU_ASSERT_EQUAL_FATAL(world_start(&w, extra), 0);
    const char *base = w.cityd.base;
    struct http_result r;
    CU_ASSERT_EQUAL(support_get(base, "/v1/transit/stops/nearest?lon=121.38&lat=37.54", NULL, &r),
                    0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(r.json, "stops")), 0);
    http_result_free(&r);
    CU_ASSERT_EQUAL(support_get(base, "/v1/transit/stops/S1/arrivals", NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 404);
    http_result_free(&r);
    char e[512];
    entity(e, sizeof e, "b1", "T1", 121.38, 37.54, (double)time(NULL));
    CU_ASSERT_EQUAL(post_json(base, "k-sensor", e, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(jint(r.json, "rejected"), 1);
    http_result_free(&r);
    world_stop(&w);
}

/* ---- a static feed with bad strings ---- */

/* Copy tests/fixtures/gtfs/basic/<name> into dir, every `from` replaced
 * by `to` (NULL: as is); or write `text` instead when given. */
static void feed_file(const char *dir, const char *name, const char *from, const char *to,
                      const char *text)
{
    char path[512], in[16384];
    size_t n = 0;
    if (text == NULL) {
        snprintf(path, sizeof path, "tests/fixtures/gtfs/basic/%s", name);
        FILE *f = fopen(path, "rb");
        CU_ASSERT_FATAL(f != NULL);
        n = fread(in, 1, sizeof in - 1, f);
        fclose(f);
        in[n] = '\0';
        text = in;
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *o = fopen(path, "wb");
    CU_ASSERT_FATAL(o != NULL);
    for (const char *p = text; *p;) {
        const char *hit = from ? strstr(p, from) : NULL;
        size_t k = hit ? (size_t)(hit - p) : strlen(p);
        fwrite(p, 1, k, o);
        p += k;
        if (hit) {
            fputs(to, o);
            p += strlen(from);
        }
    }
    fclose(o);
}

/* basic, with Chinese stop names, S2's name not UTF-8 and S4's id not
 * UTF-8 (in stops.txt and stop_times.txt). */
static char *bad_text_feed(void)
{
    static const char *const same[] = {"agency.txt", "calendar.txt", "calendar_dates.txt",
                                       "routes.txt", "shapes.txt", "trips.txt"};
    static const char stops[] =
        "\xEF\xBB\xBF" "stop_id,stop_code,stop_name,stop_lat,stop_lon,location_type\n"
        "S1,101,芝罘路西,37.5401,121.3800,0\n"
        "S2,102,芝罘\xff,37.5401,121.3850,\n"
        "S3,103,芝罘路3,37.5401,121.3900,\n"
        "S4\xff,104,芝罘路4,37.5401,121.3950,\n"
        "S5,105,芝罘路东,37.5401,121.4000,\n"
        "LA,201,Loop terminal,37.53007,121.3800,\n"
        "LB,202,Loop out,37.52995,121.3850,\n"
        "LC,203,Loop far end,37.53005,121.3900,\n"
        "LD,204,Loop back,37.53015,121.3850,\n";
    char *dir = support_tmpdir("cityd-gtfs");
    for (size_t i = 0; i < sizeof same / sizeof *same; i++)
        feed_file(dir, same[i], NULL, NULL, NULL);
    feed_file(dir, "stops.txt", NULL, NULL, stops);
    feed_file(dir, "stop_times.txt", ",S4,", ",S4\xff,", NULL);
    return dir;
}

/* `cityd --check` on a feed folder: exit status, output in out. */
static int check_feed(const char *dir, char *out, size_t len)
{
    const char *bin = getenv("CITYD_BIN");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s --check -o transit.gtfs_dir=%s -o map.dir=tests/fixtures/maps/ok 2>&1",
             bin && *bin ? bin : "bin/cityd", dir);
    FILE *p = popen(cmd, "r");
    CU_ASSERT_FATAL(p != NULL);
    size_t n = fread(out, 1, len - 1, p);
    out[n] = '\0';
    return pclose(p);
}

/* Strings of the static feed reach public replies: a stop whose id is
 * not UTF-8 is dropped (it broke trip-updates for everybody), one whose
 * name is not has no name (it vanished from nearest stops), both listed
 * by --check with file and line; a feed in GBK does not start. */
static void test_static_strings(void)
{
    char *dir = bad_text_feed();
    char opt[600], out[16384];
    CU_ASSERT_NOT_EQUAL(check_feed(dir, out, sizeof out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "stops.txt:3: stop 'S2': stop_name: not valid UTF-8"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "stops.txt:5: stop_id: not valid UTF-8 (row ignored)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "stop_id 'S4?' not defined"));
    CU_ASSERT_PTR_NULL(strchr(out, '\xff'));

    snprintf(opt, sizeof opt, "transit.gtfs_dir=%s", dir);
    const char *const extra[] = {opt, "map.dir=tests/fixtures/maps/ok", "clock.mode=replay", NULL};
    struct world w;
    CU_ASSERT_EQUAL_FATAL(world_start(&w, extra), 0);
    const char *base = w.cityd.base;
    struct http_result r;
    CU_ASSERT_EQUAL(support_get(base, "/v1/transit/stops/nearest?lon=121.3825&lat=37.5401&radius_m=300",
                                NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    json_t *ss = json_object_get(r.json, "stops");
    CU_ASSERT_EQUAL_FATAL(json_array_size(ss), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *st = json_array_get(ss, i);
        if (strcmp(jstr(st, "stop_id"), "S1") == 0) {
            CU_ASSERT_STRING_EQUAL(jstr(st, "stop_name"), "芝罘路西");
        } else {
            CU_ASSERT_TRUE(strcmp(jstr(st, "stop_id"), "S2") == 0 &&
                           json_is_null(json_object_get(st, "stop_name")));
        }
    }
    http_result_free(&r);
    run_t1(base);
    feed_settle();
    CU_ASSERT_EQUAL(support_get(base, "/v1/transit/trip-updates", NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    json_t *tu = update_of(r.json, "T1");
    CU_ASSERT_FATAL(tu != NULL);
    json_t *stus = json_object_get(tu, "stop_time_update");
    CU_ASSERT_EQUAL_FATAL(json_array_size(stus), 1);
    CU_ASSERT_STRING_EQUAL(jstr(json_array_get(stus, 0), "stop_id"), "S5");
    http_result_free(&r);
    world_stop(&w);

    /* The same feed saved in GBK (芝罘 is D6A5 EEB7, 烟台 D1CC CCA8):
     * refused as a whole. */
    feed_file(dir, "stops.txt", NULL, NULL,
              "stop_id,stop_name,stop_lat,stop_lon\n"
              "S1,\xd6\xa5\xee\xb7,37.5401,121.3800\nS5,\xd1\xcc\xcc\xa8,37.5401,121.4000\n");
    CU_ASSERT_NOT_EQUAL(check_feed(dir, out, sizeof out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "stops.txt"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "iconv -f GBK -t UTF-8"));
    support_rmrf(dir);
    free(dir);
}

/* --check lists a broken feed's problems with file and line. */
static void test_check_broken_feed(void)
{
    const char *bin = getenv("CITYD_BIN");
    char cmd[512], out[16384];
    /* (a map without stop signs: the count is the feed's problems alone) */
    snprintf(cmd, sizeof cmd, "%s --check -o transit.gtfs_dir=tests/fixtures/gtfs/broken "
             "-o map.dir=tests/fixtures/maps/ok 2>&1", bin && *bin ? bin : "bin/cityd");
    FILE *p = popen(cmd, "r");
    CU_ASSERT_FATAL(p != NULL);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    CU_ASSERT_NOT_EQUAL(st, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "gtfs/broken/stops.txt:5: duplicate stop_id 'S1'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "gtfs/broken/trips.txt:3: trip 'T2': route_id 'R9'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "17 problem(s)"));
    /* An explicitly configured folder that is not there stops the start. */
    snprintf(cmd, sizeof cmd, "%s -o transit.gtfs_dir=/nonexistent/gtfs -o server.listen=127.0.0.1:0 2>&1",
             bin && *bin ? bin : "bin/cityd");
    p = popen(cmd, "r");
    CU_ASSERT_FATAL(p != NULL);
    n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    CU_ASSERT_NOT_EQUAL(pclose(p), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "/nonexistent/gtfs: no such directory"));
}

int suite_transit(void)
{
    CU_pSuite s = CU_add_suite("transit", NULL, NULL);
    if (s == NULL)
        return -1;
    return !(CU_add_test(s, "ingest: JSON, protobuf, per-entity errors, outdated",
                         test_ingest_json_protobuf_errors) &&
             CU_add_test(s, "stop-sign arrivals, at=, minutes_after", test_arrivals) &&
             CU_add_test(s, "TripUpdates in JSON and protobuf", test_trip_updates) &&
             CU_add_test(s, "no trip ids: trip inferred, predictions", test_no_trip_ids) &&
             CU_add_test(s, "a bus's track keeps retention.track_s", test_track_retention) &&
             CU_add_test(s, "vehicles and stops near a point, crs=gcj02", test_near_and_crs) &&
             CU_add_test(s, "restart keeps positions and learnt times", test_restart_keeps_state) &&
             CU_add_test(s, "Redis down: 503 on ingest, reads go on", test_redis_down) &&
             CU_add_test(s, "timestamps from the future rejected", test_future_timestamp) &&
             CU_add_test(s, "bad protobuf strings and numbers rejected alone",
                         test_bad_protobuf_values) &&
             CU_add_test(s, "max_vehicles, max_batch", test_limits) &&
             CU_add_test(s, "a city without a GTFS feed", test_no_feed) &&
             CU_add_test(s, "--check on a broken feed", test_check_broken_feed) &&
             CU_add_test(s, "static feed strings: UTF-8, ids, GBK", test_static_strings));
}
