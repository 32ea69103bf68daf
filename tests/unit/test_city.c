/* test_city.c -- city.h: fare validations (parsing, partitions, hourly
 * buckets) and the plan's indicators on the fixture map and feed. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "city.h"
#include "gtfs.h"
#include "map.h"

#define NOW 1771286460.0                /* 2026-02-17 08:01 Asia/Shanghai */

static int parse(const char *text, double now, bool clock, struct city_fare *f, char *err)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    int rc = city_fare_parse(j, now, clock ? 7 * 86400.0 : 0, f, err, 256);
    json_decref(j);
    return rc;
}

static void test_fare_parse(void)
{
    struct city_fare f;
    char err[256];
    CU_ASSERT_EQUAL(parse("{\"id\":\"v1\",\"ts\":1771286400,\"vehicle_id\":\"B7\","
                          "\"route_id\":\"R1\",\"stop_id\":\"S1\",\"method\":\"nfc\"}",
                          NOW, true, &f, err), 0);
    CU_ASSERT_STRING_EQUAL(f.id, "v1");
    CU_ASSERT_DOUBLE_EQUAL(f.ts, 1771286400, 0);
    CU_ASSERT_STRING_EQUAL(f.route_id, "R1");
    CU_ASSERT_EQUAL(f.method, CITY_FARE_NFC);
    CU_ASSERT_EQUAL(parse("{\"id\":\"v2\",\"ts\":1771286400,\"method\":\"cash\"}", NOW, true, &f,
                          err), 0);
    CU_ASSERT_STRING_EQUAL(f.route_id, "");
    CU_ASSERT_FALSE(city_fare_electronic(f.method));
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"[]", "validation: must be an object"},
        {"{\"ts\":1771286400,\"method\":\"qr\"}", "id: required"},
        {"{\"id\":\"\",\"ts\":1771286400,\"method\":\"qr\"}", "id: "},
        {"{\"id\":7,\"ts\":1771286400,\"method\":\"qr\"}", "id: must be a string"},
        {"{\"id\":\"a\\u0001\",\"ts\":1771286400,\"method\":\"qr\"}", "id: "},
        {"{\"id\":\"a\",\"method\":\"qr\"}", "ts: required"},
        {"{\"id\":\"a\",\"ts\":\"8:00\",\"method\":\"qr\"}", "ts: must be epoch seconds"},
        {"{\"id\":\"a\",\"ts\":-5,\"method\":\"qr\"}", "ts: must be positive"},
        {"{\"id\":\"a\",\"ts\":1000,\"method\":\"qr\"}", "ts: more than 604800 s old"},
        {"{\"id\":\"a\",\"ts\":1771296460,\"method\":\"qr\"}", "ts: 10000 s ahead"},
        {"{\"id\":\"a\",\"ts\":1771286400}", "method: required"},
        {"{\"id\":\"a\",\"ts\":1771286400,\"method\":\"coin\"}", "method: unknown method"},
        {"{\"id\":\"a\",\"ts\":1771286400,\"method\":\"qr\",\"route_id\":5}",
         "route_id: must be a string"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        CU_ASSERT_EQUAL(parse(bad[i].text, NOW, true, &f, err), -1);
        if (strncmp(err, bad[i].msg, strlen(bad[i].msg)) != 0)
            fprintf(stderr, "\n%s -> %s\n", bad[i].text, err);
        CU_ASSERT_EQUAL(strncmp(err, bad[i].msg, strlen(bad[i].msg)), 0);
    }
    /* without the clock checks (replay), old and future times pass */
    CU_ASSERT_EQUAL(parse("{\"id\":\"a\",\"ts\":1000,\"method\":\"qr\"}", NOW, false, &f, err), 0);
}

static void test_parts(void)
{
    unsigned seen[CITY_FARE_PARTS] = {0};
    char id[32];
    for (int i = 0; i < 1600; i++) {
        snprintf(id, sizeof id, "val-%d", i);
        unsigned p = city_fare_part(id);
        CU_ASSERT_TRUE_FATAL(p < CITY_FARE_PARTS);
        CU_ASSERT_EQUAL(p, city_fare_part(id));          /* stable */
        seen[p]++;
    }
    /* spread: every partition gets a fair share (100 each expected) */
    for (int p = 0; p < CITY_FARE_PARTS; p++)
        CU_ASSERT_TRUE(seen[p] > 50 && seen[p] < 150);
    CU_ASSERT_EQUAL(city_hour(3600 * 10 + 3599.9), 10);
    CU_ASSERT_EQUAL(city_hour(3600 * 10), 10);
}

static void test_buckets(void)
{
    static struct city_fares f;                  /* zero: empty */
    long n[CITY_FARE_NMETHODS];
    int64_t h = city_hour(NOW);
    CU_ASSERT_TRUE(city_fares_add(&f, 3, h, CITY_FARE_QR, 2));
    CU_ASSERT_TRUE(city_fares_add(&f, 5, h - 23, CITY_FARE_CASH, 1));
    CU_ASSERT_TRUE(city_fares_add(&f, 5, h - 24, CITY_FARE_CARD, 7));   /* outside 24 h */
    CU_ASSERT_TRUE(city_fares_add(&f, 0, h + 1, CITY_FARE_NFC, 1));     /* ahead of now */
    city_fares_sum(&f, NOW, 24, n);
    CU_ASSERT_EQUAL(n[CITY_FARE_QR], 2);
    CU_ASSERT_EQUAL(n[CITY_FARE_CASH], 1);
    CU_ASSERT_EQUAL(n[CITY_FARE_CARD], 0);
    CU_ASSERT_EQUAL(n[CITY_FARE_NFC], 0);
    /* the ring: a slot taken by a newer hour refuses an older one, and a
     * newer hour replaces an older one */
    CU_ASSERT_TRUE(city_fares_add(&f, 3, h + CITY_FARE_HOURS, CITY_FARE_QR, 1));
    CU_ASSERT_FALSE(city_fares_add(&f, 3, h, CITY_FARE_QR, 1));
    city_fares_sum(&f, NOW + CITY_FARE_HOURS * 3600.0, 1, n);
    CU_ASSERT_EQUAL(n[CITY_FARE_QR], 1);
    long set[CITY_FARE_NMETHODS] = {4, 3, 2, 1};
    city_fares_set(&f, 9, h, set);
    city_fares_set(&f, 9, h, set);                 /* replaces, does not add */
    city_fares_sum(&f, NOW, 1, n);
    CU_ASSERT_EQUAL(n[CITY_FARE_QR], 4);
    CU_ASSERT_EQUAL(n[CITY_FARE_CASH], 1);
    struct city_figures c;
    memset(&c, 0, sizeof c);
    city_figures_fares(&c, &f, NOW);
    CU_ASSERT_EQUAL(c.rides, 4 + 3 + 2 + 1 + 1);  /* + the cash of h - 23 */
    CU_ASSERT_EQUAL(c.electronic, 9);
}

/* The fixture map has signs at S1 and S3; the feed 9 stops riders board
 * at (and a station, which does not count). One sign fetching -> live. */
static void test_signs(void)
{
    struct map *m = NULL;
    struct map_problems p = {0};
    char err[256];
    CU_ASSERT_EQUAL_FATAL(map_load("tests/fixtures/maps/city", &m, &p), 0);
    struct gtfs *g = gtfs_load("tests/fixtures/gtfs/basic", err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    double seen[2] = {NOW - 30, 0};
    struct city_figures c;
    memset(&c, 0, sizeof c);
    city_figures_signs(&c, m, g, seen, NOW);
    CU_ASSERT_EQUAL(c.signs, 2);
    CU_ASSERT_EQUAL(c.signs_live, 1);
    CU_ASSERT_EQUAL(c.stops_with_signs, 2);
    city_figures_transit(&c, NULL, g, NOW);       /* no registry yet: the feed's stops */
    CU_ASSERT_EQUAL(c.stops, 9);
    CU_ASSERT_EQUAL(c.trips_active, 0);
    city_figures_signs(&c, m, g, seen, NOW + CITY_SIGN_LIVE_S + 31);
    CU_ASSERT_EQUAL(c.signs_live, 0);
    seen[1] = NOW;                                /* both fetching */
    city_figures_signs(&c, m, g, seen, NOW + 60);
    CU_ASSERT_EQUAL(c.signs_live, 2);
    CU_ASSERT_DOUBLE_EQUAL(city_share(2, 9), 2.0 / 9, 1e-12);
    CU_ASSERT_TRUE(isnan(city_share(0, 0)));
    gtfs_free(g);
    map_free(m);
    map_problems_free(&p);
}

static void test_json(void)
{
    struct city_figures c;
    memset(&c, 0, sizeof c);
    c.at = NOW;
    c.stops = 9;
    c.stops_with_signs = 2;
    c.trips_active = 4;
    c.trips_predicted = 3;
    c.rides = 0;
    c.parking_latest = NOW - 35;
    c.transit_latest = c.counts_latest = NAN;
    json_t *j = city_figures_json(&c);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    const json_t *t = json_object_get(j, "transit");
    CU_ASSERT_DOUBLE_EQUAL(json_real_value(json_object_get(t, "share_signs")), 0.2222, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(json_real_value(json_object_get(t, "share_predicted")), 0.75, 1e-12);
    CU_ASSERT_TRUE(json_is_null(json_object_get(json_object_get(j, "fares"),
                                                "share_electronic")));
    const json_t *src = json_object_get(j, "sources");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(src, "parking"),
                                                       "age_s")), 35);
    CU_ASSERT_TRUE(json_is_null(json_object_get(json_object_get(src, "transit"), "age_s")));
    static const char *const keys[][2] = {
        {"parking", "lots"}, {"parking", "spaces_total"}, {"parking", "spaces_available"},
        {"parking", "lots_reporting"}, {"transit", "vehicles"}, {"transit", "trips_active"},
        {"transit", "trips_predicted"}, {"transit", "share_predicted"}, {"transit", "stops"},
        {"transit", "stops_with_signs"}, {"transit", "signs_live"}, {"transit", "share_signs"},
        {"fares", "rides"}, {"fares", "electronic"}, {"fares", "share_electronic"},
        {"signals", "intersections"}, {"signals", "realtime"}, {"signals", "share_realtime"},
    };
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        CU_ASSERT_PTR_NOT_NULL(json_object_get(json_object_get(j, keys[i][0]), keys[i][1]));
    json_decref(j);
}

int suite_city(void)
{
    static CU_TestInfo tests[] = {
        {"fare validations: fields and errors", test_fare_parse},
        {"partitions and hours", test_parts},
        {"hourly buckets, last 24 h", test_buckets},
        {"signs: 2 of 9 stops, live while fetching", test_signs},
        {"GET /v1/city body", test_json},
        CU_TEST_INFO_NULL,
    };
    static CU_SuiteInfo suites[] = {
        {.pName = "city", .pTests = tests},
        CU_SUITE_INFO_NULL,
    };
    return CU_register_suites(suites) == CUE_SUCCESS ? 0 : -1;
}
