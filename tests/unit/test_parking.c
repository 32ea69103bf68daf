/* test_parking.c -- lots, observations and views (parking.h).
 *
 * Ordering (outdated), clamping, bay-derived counts, staleness at the
 * exact boundary, status thresholds, per-field validation errors, the
 * JSON rendering (parsed back with jansson), lot replacement carrying
 * state over, categories past the index's bit budget, plate lookup. */
#include <CUnit/CUnit.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geo.h"
#include "parking.h"

#define STALE 900.0

/* NULL-safe strings for CU_ASSERT_STRING_EQUAL (strcmp(NULL) would crash
 * the whole run instead of failing one assertion). */
static const char *jstr(const json_t *j)
{
    const char *s = json_string_value(j);
    return s != NULL ? s : "(not a string)";
}

static const char *plate_bay(const struct parking_lot *l, const char *plate)
{
    const struct parking_bay *b = parking_find_plate(l, plate);
    return b != NULL ? b->id : "(none)";
}

static const char *level_of(const struct parking_lot *l, const char *bay)
{
    const struct parking_bay *b = parking_bay_get(l, bay);
    const char *lv = b != NULL ? parking_bay_level(l, b) : NULL;
    return lv != NULL ? lv : "(none)";
}

static struct parking *new_registry(void)
{
    struct parking_config cfg = {.stale_after_s = STALE};
    struct parking *p = parking_new(&cfg);
    CU_ASSERT_FATAL(p != NULL);
    return p;
}

static struct map_lot def_of(char *id, double lon, double lat, int total)
{
    struct map_lot d = {.id = id, .name = id, .loc = {lon, lat}, .total = total,
                        .price_rate_per_hour = NAN};
    return d;
}

static void put_ok(struct parking *p, const struct map_lot *d, const struct map_bay *bays,
                   size_t n, bool closed)
{
    char err[256] = "";
    int rc = parking_lot_put(p, d, bays, n, closed, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "\nput %s: %s\n", d->id, err);
    CU_ASSERT_FATAL(rc == 0);
}

/* Parse one observation from JSON text and apply it. */
static enum parking_verdict apply_json(struct parking *p, const char *text, double ts_max,
                                       struct parking_change *chg, char *err, size_t errlen)
{
    json_error_t je;
    json_t *item = json_loads(text, 0, &je);
    CU_ASSERT_FATAL(item != NULL);
    struct parking_obs o;
    enum parking_verdict v = PARKING_OBS_REJECTED;
    if (parking_obs_parse(item, &o, err, errlen) == 0)
        v = parking_obs_apply(p, &o, ts_max, chg, err, errlen);
    json_decref(item);
    return v;
}

static enum parking_verdict count(struct parking *p, const char *lot, long long n, double ts)
{
    char text[256], err[256] = "";
    struct parking_change chg;
    snprintf(text, sizeof text,
             "{\"id\":\"o-%s-%lld-%.0f\",\"lot\":\"%s\",\"availableSpotNumber\":%lld,\"ts\":%.17g}",
             lot, n, ts, lot, n, ts);
    return apply_json(p, text, INFINITY, &chg, err, sizeof err);
}

/* Apply a bay state; *arrival (when not NULL) gets chg.bay_arrival. */
static enum parking_verdict bay_arrival(struct parking *p, const char *lot, const char *b,
                                        const char *status, const char *plate, double ts,
                                        bool *arrival)
{
    char text[512], pl[64] = "", err[256] = "";
    struct parking_change chg = {0};
    if (plate != NULL)
        snprintf(pl, sizeof pl, ",\"plate\":\"%s\"", plate);
    snprintf(text, sizeof text,
             "{\"id\":\"b\",\"lot\":\"%s\",\"bay\":\"%s\",\"status\":\"%s\",\"ts\":%.17g%s}", lot,
             b, status, ts, pl);
    enum parking_verdict v = apply_json(p, text, INFINITY, &chg, err, sizeof err);
    if (arrival != NULL)
        *arrival = v == PARKING_OBS_APPLIED && chg.bay_arrival;
    return v;
}

static enum parking_verdict bay(struct parking *p, const char *lot, const char *b,
                                const char *status, const char *plate, double ts)
{
    return bay_arrival(p, lot, b, status, plate, ts, NULL);
}

static json_t *render(const struct parking *p, const char *id, double now, double dist)
{
    struct parking_buf b = {0};
    const struct parking_lot *l = parking_lot_get(p, id);
    CU_ASSERT_FATAL(l != NULL);
    parking_lot_render(p, l, now, false, dist, &b);
    CU_ASSERT_FATAL(!b.oom);
    json_error_t je;
    json_t *j = json_loads(b.data, 0, &je);
    if (j == NULL)
        fprintf(stderr, "\nnot JSON (%s): %s\n", je.text, b.data);
    CU_ASSERT_FATAL(j != NULL);
    free(b.data);
    return j;
}

static const char *status_at(const struct parking *p, const char *id, double now)
{
    struct parking_view v;
    parking_lot_view(p, parking_lot_get(p, id), now, &v);
    return parking_status_name(v.status);
}

/* ---- observations: parse errors name the field ---- */

static void expect_parse_error(const char *text, const char *field)
{
    json_error_t je;
    json_t *item = json_loads(text, JSON_DECODE_ANY, &je);
    CU_ASSERT_FATAL(item != NULL);
    struct parking_obs o;
    char err[256] = "";
    int rc = parking_obs_parse(item, &o, err, sizeof err);
    CU_ASSERT_EQUAL(rc, -1);
    if (strncmp(err, field, strlen(field)) != 0 || err[strlen(field)] != ':')
        fprintf(stderr, "\n%s -> \"%s\" (want field %s)\n", text, err, field);
    CU_ASSERT(strncmp(err, field, strlen(field)) == 0 && err[strlen(field)] == ':');
    json_decref(item);
}

static void test_parse_errors(void)
{
    expect_parse_error("[1]", "observation");
    expect_parse_error("{\"lot\":\"a\",\"availableSpotNumber\":1,\"ts\":1}", "id");
    expect_parse_error("{\"id\":\"\",\"lot\":\"a\",\"availableSpotNumber\":1,\"ts\":1}", "id");
    expect_parse_error("{\"id\":7,\"lot\":\"a\",\"availableSpotNumber\":1,\"ts\":1}", "id");
    expect_parse_error("{\"id\":\"x\",\"availableSpotNumber\":1,\"ts\":1}", "lot");
    expect_parse_error("{\"id\":\"x\",\"lot\":\"a\\nb\",\"availableSpotNumber\":1,\"ts\":1}",
                       "lot");
    expect_parse_error("{\"id\":\"x\",\"lot\":\"a\",\"availableSpotNumber\":1}", "ts");
    expect_parse_error("{\"id\":\"x\",\"lot\":\"a\",\"availableSpotNumber\":1,\"ts\":\"1\"}", "ts");
    expect_parse_error("{\"id\":\"x\",\"lot\":\"a\",\"availableSpotNumber\":1,\"ts\":-5}", "ts");
    expect_parse_error("{\"id\":\"x\",\"lot\":\"a\",\"ts\":1}", "availableSpotNumber");
    expect_parse_error("{\"id\":\"x\",\"lot\":\"a\",\"availableSpotNumber\":-1,\"ts\":1}",
                       "availableSpotNumber");
    expect_parse_error("{\"id\":\"x\",\"lot\":\"a\",\"availableSpotNumber\":40.5,\"ts\":1}",
                       "availableSpotNumber");
    expect_parse_error("{\"id\":\"x\",\"lot\":\"a\",\"availableSpotNumber\":\"40\",\"ts\":1}",
                       "availableSpotNumber");
    expect_parse_error("{\"id\":\"x\",\"lot\":\"a\",\"availableSpotNumber\":null,\"ts\":1}",
                       "availableSpotNumber");
    expect_parse_error("{\"id\":\"x\",\"lot\":\"a\",\"availableSpotNumber\":3000000000,\"ts\":1}",
                       "availableSpotNumber");
    expect_parse_error("{\"id\":\"x\",\"lot\":\"a\",\"bay\":\"B1\",\"ts\":1}", "status");
    expect_parse_error("{\"id\":\"x\",\"lot\":\"a\",\"bay\":\"B1\",\"status\":\"busy\",\"ts\":1}",
                       "status");
    expect_parse_error("{\"id\":\"x\",\"lot\":\"a\",\"bay\":7,\"status\":\"free\",\"ts\":1}",
                       "bay");
    expect_parse_error("{\"id\":\"x\",\"lot\":\"a\",\"bay\":\"B1\",\"status\":\"free\","
                       "\"availableSpotNumber\":3,\"ts\":1}", "availableSpotNumber");
    expect_parse_error("{\"id\":\"x\",\"lot\":\"a\",\"bay\":\"B1\",\"status\":\"free\","
                       "\"plate\":\"AB123\",\"ts\":1}", "plate");
    expect_parse_error("{\"id\":\"x\",\"lot\":\"a\",\"bay\":\"B1\",\"status\":\"occupied\","
                       "\"plate\":\"0123456789012345678901234567890123\",\"ts\":1}", "plate");
    expect_parse_error("{\"id\":\"x\",\"lot\":\"a\",\"bay\":\"B1\",\"status\":\"occupied\","
                       "\"plate\":5,\"ts\":1}", "plate");
}

static void test_parse_ok(void)
{
    json_error_t je;
    struct parking_obs o;
    char err[256];
    json_t *a = json_loads("{\"id\":\"obs-17\",\"lot\":\"yt-1\",\"availableSpotNumber\":40.0,"
                           "\"ts\":1764400000,\"extra\":[1,2]}", 0, &je);
    CU_ASSERT_EQUAL_FATAL(parking_obs_parse(a, &o, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(o.id, "obs-17");
    CU_ASSERT_STRING_EQUAL(o.lot, "yt-1");
    CU_ASSERT_PTR_NULL(o.bay);
    CU_ASSERT_EQUAL(o.available, 40);
    CU_ASSERT_EQUAL(o.ts, 1764400000.0);
    json_decref(a);
    json_t *b = json_loads("{\"id\":\"obs-18\",\"lot\":\"yt-1\",\"bay\":\"B2-017\","
                           "\"status\":\"occupied\",\"ts\":1764400000.5,"
                           "\"plate\":\"\xe9\xb2\x81\x46\x31\x32\x33\x34\x35\"}", 0, &je);
    CU_ASSERT_EQUAL_FATAL(parking_obs_parse(b, &o, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(o.bay, "B2-017");
    CU_ASSERT_EQUAL(o.status, PARKING_BAY_OCCUPIED);
    CU_ASSERT_STRING_EQUAL(o.plate, "\xe9\xb2\x81" "F12345");
    CU_ASSERT_EQUAL(o.ts, 1764400000.5);
    json_decref(b);
}

/* ---- registry checks ---- */

static void expect_check(struct parking *p, const char *text, double ts_max, const char *field)
{
    struct parking_change chg;
    char err[256] = "";
    CU_ASSERT_EQUAL(apply_json(p, text, ts_max, &chg, err, sizeof err), PARKING_OBS_REJECTED);
    CU_ASSERT(strncmp(err, field, strlen(field)) == 0 && err[strlen(field)] == ':');
}

static void test_check_errors(void)
{
    struct parking *p = new_registry();
    struct map_lot d = def_of("L", 121.4, 37.5, 10);
    struct map_bay bays[] = {{.id = "B1"}, {.id = "B2"}};
    put_ok(p, &d, bays, 2, false);
    struct map_lot d2 = def_of("M", 121.41, 37.5, 10);
    put_ok(p, &d2, NULL, 0, false);
    expect_check(p, "{\"id\":\"1\",\"lot\":\"nope\",\"availableSpotNumber\":1,\"ts\":1}",
                 INFINITY, "lot");
    expect_check(p, "{\"id\":\"1\",\"lot\":\"M\",\"bay\":\"B1\",\"status\":\"free\",\"ts\":1}",
                 INFINITY, "bay");                      /* a bay of another lot */
    expect_check(p, "{\"id\":\"1\",\"lot\":\"L\",\"availableSpotNumber\":1,\"ts\":1000}", 999.0,
                 "ts");                                 /* ahead of the clock */
    CU_ASSERT_EQUAL(bay(p, "L", "B1", "free", NULL, 5), PARKING_OBS_APPLIED);
    expect_check(p, "{\"id\":\"1\",\"lot\":\"L\",\"availableSpotNumber\":1,\"ts\":9}",
                 INFINITY, "availableSpotNumber");      /* counted by its bays */
    /* nothing above changed M */
    CU_ASSERT_EQUAL(parking_lot_get(p, "M")->available, -1);
    CU_ASSERT(isnan(parking_lot_get(p, "M")->obs_ts));
    parking_free(p);
}

/* ---- ordering ---- */

static void test_ordering(void)
{
    struct parking *p = new_registry();
    struct map_lot d = def_of("L", 121.4, 37.5, 100);
    struct map_bay bays[] = {{.id = "B1"}, {.id = "B2"}};
    put_ok(p, &d, NULL, 0, false);
    const struct parking_lot *l = parking_lot_get(p, "L");
    CU_ASSERT_EQUAL(count(p, "L", 50, 100), PARKING_OBS_APPLIED);
    CU_ASSERT_EQUAL(count(p, "L", 20, 90), PARKING_OBS_OUTDATED);
    CU_ASSERT_EQUAL(l->available, 50);
    CU_ASSERT_EQUAL(l->obs_ts, 100);
    CU_ASSERT_EQUAL(count(p, "L", 49, 100), PARKING_OBS_APPLIED);   /* same instant */
    CU_ASSERT_EQUAL(l->available, 49);
    CU_ASSERT_EQUAL(count(p, "L", 30, 100.5), PARKING_OBS_APPLIED);
    CU_ASSERT_EQUAL(count(p, "L", 31, 100.25), PARKING_OBS_OUTDATED);
    CU_ASSERT_EQUAL(l->available, 30);
    CU_ASSERT_EQUAL(l->obs_ts, 100.5);

    /* bays: each bay has its own clock */
    struct map_lot g = def_of("G", 121.4, 37.5, 100);
    put_ok(p, &g, bays, 2, false);
    const struct parking_lot *gl = parking_lot_get(p, "G");
    CU_ASSERT_EQUAL(bay(p, "G", "B1", "free", NULL, 200), PARKING_OBS_APPLIED);
    CU_ASSERT_EQUAL(bay(p, "G", "B2", "free", NULL, 150), PARKING_OBS_APPLIED);
    CU_ASSERT_EQUAL(gl->available, 2);
    CU_ASSERT_EQUAL(gl->obs_ts, 200);                 /* the newest of its bays */
    CU_ASSERT_EQUAL(bay(p, "G", "B1", "occupied", NULL, 199), PARKING_OBS_OUTDATED);
    CU_ASSERT_EQUAL(gl->available, 2);
    CU_ASSERT_EQUAL(bay(p, "G", "B2", "occupied", NULL, 160), PARKING_OBS_APPLIED);
    CU_ASSERT_EQUAL(gl->available, 1);
    CU_ASSERT_EQUAL(gl->obs_ts, 200);
    parking_free(p);
}

/* ---- clamping ---- */

static void test_clamping(void)
{
    struct parking *p = new_registry();
    struct map_lot d = def_of("L", 121.4, 37.5, 320);
    put_ok(p, &d, NULL, 0, false);
    struct parking_change chg;
    char err[256];
    CU_ASSERT_EQUAL(apply_json(p, "{\"id\":\"1\",\"lot\":\"L\",\"availableSpotNumber\":500,"
                                  "\"ts\":10}", INFINITY, &chg, err, sizeof err),
                    PARKING_OBS_APPLIED);
    CU_ASSERT(chg.clamped);
    CU_ASSERT(chg.available_changed);
    CU_ASSERT_EQUAL(chg.old_available, -1);
    CU_ASSERT_EQUAL(chg.new_available, 320);
    json_t *j = render(p, "L", 10, NAN);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "availableSpotNumber")), 320);
    CU_ASSERT_STRING_EQUAL(jstr(json_array_get(json_object_get(j, "flags"), 0)),
                           "availableSpotNumberClamped");
    json_decref(j);
    CU_ASSERT_EQUAL(apply_json(p, "{\"id\":\"2\",\"lot\":\"L\",\"availableSpotNumber\":320,"
                                  "\"ts\":11}", INFINITY, &chg, err, sizeof err),
                    PARKING_OBS_APPLIED);
    CU_ASSERT(!chg.clamped);                          /* exactly the total is fine */
    CU_ASSERT(!chg.available_changed);
    CU_ASSERT_EQUAL(parking_lot_get(p, "L")->flags, 0);
    j = render(p, "L", 11, NAN);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "flags")), 0);
    json_decref(j);

    /* a smaller total on replace clamps the carried count */
    CU_ASSERT_EQUAL(count(p, "L", 300, 12), PARKING_OBS_APPLIED);
    d.total = 250;
    put_ok(p, &d, NULL, 0, false);
    CU_ASSERT_EQUAL(parking_lot_get(p, "L")->available, 250);
    CU_ASSERT(parking_lot_get(p, "L")->flags & PARKING_FLAG_CLAMPED);
    parking_free(p);
}

/* ---- bay-derived counts ---- */

static void test_bay_counts(void)
{
    struct parking *p = new_registry();
    struct map_lot d = def_of("G", 121.4, 37.5, 2);
    char *levels[] = {"B1", "B2"};
    d.levels = levels;
    d.nlevels = 2;
    struct map_bay bays[] = {{.id = "B2-003", .level = "B2"}, {.id = "B1-001", .level = "B1"},
                             {.id = "B1-002", .level = "B1"}};
    put_ok(p, &d, bays, 3, false);
    const struct parking_lot *l = parking_lot_get(p, "G");
    CU_ASSERT_STRING_EQUAL(l->bays[0].id, "B1-001");      /* sorted */
    CU_ASSERT_STRING_EQUAL(level_of(l, "B2-003"), "B2");
    /* before any bay reports, the lot is counted by its gate */
    CU_ASSERT_EQUAL(count(p, "G", 1, 50), PARKING_OBS_APPLIED);
    struct parking_view v;
    parking_lot_view(p, l, 60, &v);
    CU_ASSERT_STRING_EQUAL(v.detection, "balancing");
    CU_ASSERT_EQUAL(v.available, 1);
    /* first bay state: the count now comes from the bays */
    CU_ASSERT_EQUAL(bay(p, "G", "B1-001", "occupied", NULL, 60), PARKING_OBS_APPLIED);
    parking_lot_view(p, l, 60, &v);
    CU_ASSERT_STRING_EQUAL(v.detection, "singleSpaceDetection");
    CU_ASSERT_EQUAL(v.available, 0);
    CU_ASSERT_EQUAL(bay(p, "G", "B1-002", "free", NULL, 61), PARKING_OBS_APPLIED);
    CU_ASSERT_EQUAL(l->available, 1);
    CU_ASSERT_EQUAL(bay(p, "G", "B2-003", "closed", NULL, 61), PARKING_OBS_APPLIED);
    CU_ASSERT_EQUAL(l->available, 1);
    CU_ASSERT_EQUAL(bay(p, "G", "B1-001", "free", NULL, 62), PARKING_OBS_APPLIED);
    CU_ASSERT_EQUAL(l->available, 2);
    CU_ASSERT_EQUAL(l->flags, 0);
    /* three free bays in a lot of two: clamped and flagged */
    CU_ASSERT_EQUAL(bay(p, "G", "B2-003", "free", NULL, 63), PARKING_OBS_APPLIED);
    CU_ASSERT_EQUAL(l->available, 2);
    CU_ASSERT(l->flags & PARKING_FLAG_CLAMPED);
    CU_ASSERT_EQUAL(bay(p, "G", "B2-003", "unknown", NULL, 64), PARKING_OBS_APPLIED);
    CU_ASSERT_EQUAL(l->available, 2);
    CU_ASSERT_EQUAL(l->flags, 0);
    CU_ASSERT_EQUAL(l->obs_ts, 64);
    parking_free(p);
}

/* ---- staleness and status ---- */

static void test_stale_boundary(void)
{
    struct parking *p = new_registry();
    struct map_lot d = def_of("L", 121.4, 37.5, 100);
    put_ok(p, &d, NULL, 0, false);
    struct parking_view v;
    parking_lot_view(p, parking_lot_get(p, "L"), 5000, &v);
    CU_ASSERT(v.stale);                                  /* never observed */
    CU_ASSERT_EQUAL(v.status, PARKING_ST_UNKNOWN);
    CU_ASSERT(isnan(v.age_s));
    CU_ASSERT_EQUAL(count(p, "L", 50, 1000), PARKING_OBS_APPLIED);
    parking_lot_view(p, parking_lot_get(p, "L"), 1000 + STALE, &v);
    CU_ASSERT(!v.stale);                                 /* exactly stale_after old */
    CU_ASSERT_EQUAL(v.age_s, STALE);
    CU_ASSERT_EQUAL(v.status, PARKING_ST_SPACES_AVAILABLE);
    parking_lot_view(p, parking_lot_get(p, "L"), nextafter(1000 + STALE, INFINITY), &v);
    CU_ASSERT(v.stale);
    CU_ASSERT_EQUAL(v.status, PARKING_ST_UNKNOWN);
    CU_ASSERT_EQUAL(v.available, 50);                    /* the count is still shown */
    parking_lot_view(p, parking_lot_get(p, "L"), 400, &v);
    CU_ASSERT_EQUAL(v.age_s, 0);                         /* `at` before the observation */
    CU_ASSERT(!v.stale);
    /* the nearest filter agrees with the view at the same instants */
    struct parking_query q = {.lon = 121.4, .lat = 37.5, .radius_m = 100, .limit = 1,
                              .min_available = 1, .max_price = NAN, .now = 1000 + STALE};
    struct spindex_hit out[1];
    CU_ASSERT_EQUAL(parking_nearest(p, &q, out), 1);
    q.now = nextafter(1000 + STALE, INFINITY);
    CU_ASSERT_EQUAL(parking_nearest(p, &q, out), 0);
    q.include_stale = true;
    CU_ASSERT_EQUAL(parking_nearest(p, &q, out), 1);
    parking_free(p);
}

static void test_status_thresholds(void)
{
    struct parking *p = new_registry();
    struct map_lot a = def_of("A", 121.4, 37.5, 100), b = def_of("B", 121.4, 37.5, 320);
    struct map_lot c = def_of("C", 121.4, 37.5, 50), z = def_of("Z", 121.4, 37.5, 0);
    put_ok(p, &a, NULL, 0, false);
    put_ok(p, &b, NULL, 0, false);
    put_ok(p, &c, NULL, 0, true);
    put_ok(p, &z, NULL, 0, false);
    count(p, "A", 0, 10);
    CU_ASSERT_STRING_EQUAL(status_at(p, "A", 10), "full");
    count(p, "A", 1, 11);
    CU_ASSERT_STRING_EQUAL(status_at(p, "A", 11), "almostFull");
    count(p, "A", 9, 12);
    CU_ASSERT_STRING_EQUAL(status_at(p, "A", 12), "almostFull");
    count(p, "A", 10, 13);                               /* exactly 10 %: not < 10 % */
    CU_ASSERT_STRING_EQUAL(status_at(p, "A", 13), "spacesAvailable");
    count(p, "B", 31, 10);                               /* 9.69 % */
    CU_ASSERT_STRING_EQUAL(status_at(p, "B", 10), "almostFull");
    count(p, "B", 32, 11);
    CU_ASSERT_STRING_EQUAL(status_at(p, "B", 11), "spacesAvailable");
    count(p, "C", 20, 10);                               /* closed by the operator */
    CU_ASSERT_STRING_EQUAL(status_at(p, "C", 10), "closed");
    json_t *j = render(p, "C", 10, NAN);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "availableSpotNumber")), 0);
    json_decref(j);
    CU_ASSERT_STRING_EQUAL(status_at(p, "Z", 10), "closed");   /* no spaces at all */
    j = render(p, "Z", 10, NAN);
    CU_ASSERT(json_is_null(json_object_get(j, "occupancy")));
    json_decref(j);
    /* a closed lot is never a nearest answer with min_available >= 1 */
    struct parking_query q = {.lon = 121.4, .lat = 37.5, .radius_m = 100, .limit = 5,
                              .min_available = 1, .max_price = NAN, .now = 13};
    struct spindex_hit out[5];
    size_t n = parking_nearest(p, &q, out);
    CU_ASSERT_EQUAL(n, 2);
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_STRING_NOT_EQUAL(parking_lot_at(p, out[i].handle)->id, "C");
    parking_free(p);
}

/* ---- rendering ---- */

static void test_render(void)
{
    struct parking *p = new_registry();
    char *cats[] = {"underground", "ev"};
    struct map_lot d = def_of("yt-zf-0001", 121.3912, 37.5401, 320);
    d.name = "Zhifu \"Central\"\n\xe8\x8a\x9d\xe7\xbd\x98";
    d.category = cats;
    d.ncategory = 2;
    d.price_rate_per_hour = 6.0;
    put_ok(p, &d, NULL, 0, false);
    count(p, "yt-zf-0001", 41, 1764400000);
    json_t *j = render(p, "yt-zf-0001", 1764400035.9, 1234.567);
    CU_ASSERT_STRING_EQUAL(jstr(json_object_get(j, "id")), "yt-zf-0001");
    CU_ASSERT_STRING_EQUAL(jstr(json_object_get(j, "type")), "OffStreetParking");
    CU_ASSERT_STRING_EQUAL(jstr(json_object_get(j, "name")), d.name);
    json_t *loc = json_object_get(j, "location");
    CU_ASSERT_STRING_EQUAL(jstr(json_object_get(loc, "type")), "Point");
    CU_ASSERT_EQUAL(json_real_value(json_array_get(json_object_get(loc, "coordinates"), 0)),
                    121.3912);
    CU_ASSERT_EQUAL(json_real_value(json_array_get(json_object_get(loc, "coordinates"), 1)),
                    37.5401);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "totalSpotNumber")), 320);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "availableSpotNumber")), 41);
    CU_ASSERT_EQUAL(json_real_value(json_object_get(j, "occupancy")), 0.872);
    CU_ASSERT_STRING_EQUAL(jstr(json_object_get(j, "status")), "spacesAvailable");
    CU_ASSERT_STRING_EQUAL(jstr(json_object_get(j, "occupancyDetectionType")),
                           "balancing");
    CU_ASSERT_EQUAL(json_number_value(json_object_get(j, "priceRatePerHour")), 6.0);
    CU_ASSERT_STRING_EQUAL(jstr(json_object_get(j, "priceCurrency")), "CNY");
    CU_ASSERT_STRING_EQUAL(jstr(json_array_get(json_object_get(j, "category"), 1)),
                           "ev");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "observationDateTime")), 1764400000);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "dataAgeSeconds")), 35);
    CU_ASSERT(json_is_false(json_object_get(j, "stale")));
    CU_ASSERT_EQUAL(json_real_value(json_object_get(j, "distance_m")), 1234.57);
    json_decref(j);
    /* in China, crs=gcj02 moves the point by the GCJ-02 offset */
    struct parking_buf gb = {0};
    parking_lot_render(p, parking_lot_get(p, "yt-zf-0001"), 1764400035, true, NAN, &gb);
    j = json_loads(gb.data, 0, NULL);
    free(gb.data);
    CU_ASSERT_FATAL(j != NULL);
    double glon, glat;
    geo_wgs84_to_gcj02(121.3912, 37.5401, &glon, &glat);
    json_t *gc = json_object_get(json_object_get(j, "location"), "coordinates");
    /* coordinates to 7 decimals (a centimetre) */
    CU_ASSERT_DOUBLE_EQUAL(json_real_value(json_array_get(gc, 0)), round(glon * 1e7) / 1e7, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(json_real_value(json_array_get(gc, 1)), round(glat * 1e7) / 1e7, 1e-12);
    CU_ASSERT(fabs(glon - 121.3912) > 1e-4);
    json_decref(j);

    /* never observed; position override; no distance */
    struct map_lot e = def_of("e", 1.0 / 3.0, -2.5, 7);
    e.type = "OnStreetParking";
    put_ok(p, &e, NULL, 0, false);
    struct parking_buf b = {0};
    parking_lot_render(p, parking_lot_get(p, "e"), 100, true, NAN, &b);
    json_error_t je;
    j = json_loads(b.data, 0, &je);
    CU_ASSERT_FATAL(j != NULL);
    free(b.data);
    CU_ASSERT_STRING_EQUAL(jstr(json_object_get(j, "type")), "OnStreetParking");
    json_t *c = json_object_get(json_object_get(j, "location"), "coordinates");
    CU_ASSERT_EQUAL(json_real_value(json_array_get(c, 0)), 0.3333333);  /* 7 decimals; */
    CU_ASSERT_EQUAL(json_real_value(json_array_get(c, 1)), -2.5);       /* not in China */
    CU_ASSERT(json_is_null(json_object_get(j, "availableSpotNumber")));
    CU_ASSERT(json_is_null(json_object_get(j, "occupancy")));
    CU_ASSERT(json_is_null(json_object_get(j, "observationDateTime")));
    CU_ASSERT(json_is_null(json_object_get(j, "dataAgeSeconds")));
    CU_ASSERT(json_is_true(json_object_get(j, "stale")));
    CU_ASSERT_STRING_EQUAL(jstr(json_object_get(j, "status")), "unknown");
    CU_ASSERT_STRING_EQUAL(jstr(json_object_get(j, "occupancyDetectionType")),
                           "none");
    CU_ASSERT_PTR_NULL(json_object_get(j, "priceRatePerHour"));
    CU_ASSERT_PTR_NULL(json_object_get(j, "distance_m"));
    json_decref(j);
    parking_free(p);
}

static json_t *parse_buf(struct parking_buf *b)
{
    CU_ASSERT_FATAL(!b->oom && b->data != NULL);
    json_error_t je;
    json_t *j = json_loads(b->data, 0, &je);
    if (j == NULL)
        fprintf(stderr, "\nnot JSON (%s): %s\n", je.text, b->data);
    CU_ASSERT_FATAL(j != NULL);
    free(b->data);
    memset(b, 0, sizeof *b);
    return j;
}

static void test_bays_render(void)
{
    struct parking *p = new_registry();
    struct map_lot d = def_of("G", 121.4, 37.5, 3);
    char *levels[] = {"B1", "B2"};
    d.levels = levels;
    d.nlevels = 2;
    struct map_bay bays[] = {{.id = "B2-1", .level = "B2", .pt = {121.4001, 37.5001}},
                             {.id = "B1-1", .level = "B1", .pt = {121.4002, 37.5002}},
                             {.id = "X", .pt = {NAN, NAN}}};
    put_ok(p, &d, bays, 3, false);
    bay(p, "G", "B2-1", "occupied", "\xe9\xb2\x81" "F54321", 1764400000);
    const struct parking_lot *l = parking_lot_get(p, "G");
    struct parking_buf b = {0};
    parking_bays_render(l, NULL, false, &b);
    CU_ASSERT_PTR_NULL(strstr(b.data, "F54321"));
    json_t *j = parse_buf(&b);
    CU_ASSERT_STRING_EQUAL(jstr(json_object_get(j, "lot")), "G");
    json_t *arr = json_object_get(j, "bays");
    CU_ASSERT_EQUAL_FATAL(json_array_size(arr), 3);
    json_t *b0 = json_array_get(arr, 0), *b1 = json_array_get(arr, 1), *b2 = json_array_get(arr, 2);
    CU_ASSERT_STRING_EQUAL(jstr(json_object_get(b0, "id")), "B1-1");
    CU_ASSERT_STRING_EQUAL(jstr(json_object_get(b0, "type")), "ParkingSpot");
    CU_ASSERT_STRING_EQUAL(jstr(json_object_get(b0, "status")), "unknown");
    CU_ASSERT(json_is_null(json_object_get(b0, "observationDateTime")));
    CU_ASSERT_STRING_EQUAL(jstr(json_object_get(b1, "status")), "occupied");
    CU_ASSERT_STRING_EQUAL(jstr(json_object_get(b1, "level")), "B2");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(b1, "observationDateTime")), 1764400000);
    CU_ASSERT_EQUAL(json_real_value(json_array_get(
                        json_object_get(json_object_get(b1, "location"), "coordinates"), 0)),
                    121.4001);
    CU_ASSERT_PTR_NULL(json_object_get(b2, "level"));
    CU_ASSERT_PTR_NULL(json_object_get(b2, "location"));
    json_decref(j);
    parking_bays_render(l, "B2", true, &b);
    j = parse_buf(&b);
    arr = json_object_get(j, "bays");
    CU_ASSERT_EQUAL_FATAL(json_array_size(arr), 1);
    double glon = json_real_value(json_array_get(
        json_object_get(json_object_get(json_array_get(arr, 0), "location"), "coordinates"), 0));
    double wlon, wlat, elon, elat;
    geo_wgs84_to_gcj02(121.4001, 37.5001, &elon, &elat);
    CU_ASSERT_DOUBLE_EQUAL(glon, round(elon * 1e7) / 1e7, 1e-12);   /* GCJ-02 out */
    geo_gcj02_to_wgs84(elon, elat, &wlon, &wlat);
    CU_ASSERT(fabs(wlon - 121.4001) < 1e-5 && fabs(wlat - 37.5001) < 1e-5);
    json_decref(j);
    parking_bays_render(l, "B9", false, &b);               /* no such level: none */
    j = parse_buf(&b);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "bays")), 0);
    json_decref(j);
    parking_free(p);
}

static void test_screen_render(void)
{
    struct parking *p = new_registry();
    struct map_lot n = def_of("north", 121.40, 37.51, 100), e = def_of("east", 121.41, 37.50, 100);
    struct map_lot sw = def_of("sw", 121.39, 37.49, 100);
    put_ok(p, &n, NULL, 0, false);
    put_ok(p, &e, NULL, 0, false);
    put_ok(p, &sw, NULL, 0, false);
    count(p, "north", 50, 1000);
    count(p, "east", 0, 1000);
    char *lots[] = {"north", "east", "sw", "gone"};
    struct map_screen scr = {.id = "scr-1", .name = "Screen", .pt = {121.40, 37.50},
                             .lots = lots, .nlots = 4};
    struct parking_buf b = {0};
    parking_screen_render(p, &scr, 1100, false, &b);
    json_t *j = parse_buf(&b);
    CU_ASSERT_STRING_EQUAL(jstr(json_object_get(j, "id")), "scr-1");
    json_t *arr = json_object_get(j, "lots");
    CU_ASSERT_EQUAL_FATAL(json_array_size(arr), 4);
    json_t *l0 = json_array_get(arr, 0), *l1 = json_array_get(arr, 1);
    json_t *l2 = json_array_get(arr, 2), *l3 = json_array_get(arr, 3);
    CU_ASSERT_STRING_EQUAL(jstr(json_object_get(l0, "direction")), "N");
    CU_ASSERT_STRING_EQUAL(jstr(json_object_get(l0, "arrow")), "\xe2\x86\x91");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(l0, "availableSpotNumber")), 50);
    CU_ASSERT_STRING_EQUAL(jstr(json_object_get(l0, "status")), "spacesAvailable");
    CU_ASSERT(fabs(json_number_value(json_object_get(l0, "distance_m")) - 1111.95) < 0.1);
    CU_ASSERT_STRING_EQUAL(jstr(json_object_get(l1, "direction")), "E");
    CU_ASSERT_STRING_EQUAL(jstr(json_object_get(l1, "status")), "full");
    CU_ASSERT_STRING_EQUAL(jstr(json_object_get(l2, "direction")), "SW");
    CU_ASSERT_STRING_EQUAL(jstr(json_object_get(l2, "arrow")), "\xe2\x86\x99");
    CU_ASSERT(json_is_true(json_object_get(l2, "stale")));   /* never observed */
    CU_ASSERT_STRING_EQUAL(jstr(json_object_get(l3, "status")), "unknown");
    json_decref(j);
    parking_free(p);
}

/* ---- registry ---- */

static void expect_put_error(struct parking *p, const struct map_lot *d,
                             const struct map_bay *bays, size_t n, const char *field)
{
    char err[256] = "";
    CU_ASSERT_EQUAL(parking_lot_put(p, d, bays, n, false, err, sizeof err), -1);
    if (strncmp(err, field, strlen(field)) != 0)
        fprintf(stderr, "\nput error \"%s\" (want field %s)\n", err, field);
    CU_ASSERT(strncmp(err, field, strlen(field)) == 0);
}

static void test_put_errors(void)
{
    struct parking *p = new_registry();
    struct map_lot ok = def_of("L", 121.4, 37.5, 10);
    put_ok(p, &ok, NULL, 0, false);
    count(p, "L", 5, 10);
    struct map_lot d = ok;
    d.id = "";
    expect_put_error(p, &d, NULL, 0, "id");
    d = ok;
    d.type = "Garage";
    expect_put_error(p, &d, NULL, 0, "type");
    d = ok;
    d.loc.lat = 91;
    expect_put_error(p, &d, NULL, 0, "location");
    d.loc.lat = NAN;
    expect_put_error(p, &d, NULL, 0, "location");
    d = ok;
    d.total = -1;
    expect_put_error(p, &d, NULL, 0, "totalSpotNumber");
    d = ok;
    struct map_bay dup[] = {{.id = "B1"}, {.id = "B2"}, {.id = "B1"}};
    expect_put_error(p, &d, dup, 3, "bays");
    struct map_bay badlevel[] = {{.id = "B1", .level = "B9"}};
    expect_put_error(p, &d, badlevel, 1, "bays[0].level");
    /* the dry run says the same as the real thing */
    char err[256] = "";
    CU_ASSERT_EQUAL(parking_lot_check(p, &d, badlevel, 1, err, sizeof err), -1);
    CU_ASSERT(strncmp(err, "bays[0].level", 13) == 0);
    CU_ASSERT_EQUAL(parking_lot_check(p, &ok, NULL, 0, err, sizeof err), 0);
    /* the failed replacements left L as it was */
    const struct parking_lot *l = parking_lot_get(p, "L");
    CU_ASSERT_EQUAL(l->available, 5);
    CU_ASSERT_EQUAL(l->total, 10);
    CU_ASSERT_EQUAL(l->nbays, 0);
    CU_ASSERT_EQUAL(parking_lot_count(p), 1);
    parking_free(p);
}

static void test_replace_keeps_state(void)
{
    struct parking *p = new_registry();
    struct map_lot d = def_of("G", 121.4, 37.5, 10);
    struct map_bay bays[] = {{.id = "B1"}, {.id = "B2"}, {.id = "B3"}};
    put_ok(p, &d, bays, 3, false);
    bay(p, "G", "B1", "free", NULL, 10);
    bay(p, "G", "B2", "occupied", "\xe9\xb2\x81" "F12340", 11);
    /* replace: B3 goes, B4 comes, the lot moves and gets a price */
    struct map_bay bays2[] = {{.id = "B2"}, {.id = "B1"}, {.id = "B4"}};
    d.loc.lon = 121.5;
    d.price_rate_per_hour = 4;
    d.name = "renamed";
    put_ok(p, &d, bays2, 3, false);
    const struct parking_lot *l = parking_lot_get(p, "G");
    CU_ASSERT_STRING_EQUAL(l->name, "renamed");
    CU_ASSERT_EQUAL(l->available, 1);
    CU_ASSERT_EQUAL(l->obs_ts, 11);
    CU_ASSERT_EQUAL(l->bays_observed, 2);
    CU_ASSERT_STRING_EQUAL(plate_bay(l, "\xe9\xb2\x81" "F12340"), "B2");
    CU_ASSERT_PTR_NOT_NULL_FATAL(parking_bay_get(l, "B4"));
    CU_ASSERT(isnan(parking_bay_get(l, "B4")->ts));
    CU_ASSERT_PTR_NULL(parking_bay_get(l, "B3"));
    /* the index follows: found at the new place with the new price */
    struct parking_query q = {.lon = 121.5, .lat = 37.5, .radius_m = 10, .limit = 1,
                              .min_available = 1, .max_price = 4, .now = 11};
    struct spindex_hit out[1];
    CU_ASSERT_EQUAL_FATAL(parking_nearest(p, &q, out), 1);
    CU_ASSERT_PTR_EQUAL(parking_lot_at(p, out[0].handle), l);
    q.lon = 121.4;
    CU_ASSERT_EQUAL(parking_nearest(p, &q, out), 0);
    CU_ASSERT_EQUAL(parking_lot_count(p), 1);
    parking_free(p);
}

/* Plates: canonical form, the plate -> bay lookup, arrivals. "\xe9\xb2\x81"
 * is 鲁. */
#define LU "\xe9\xb2\x81"
static void test_plates(void)
{
    struct parking *p = new_registry();
    struct map_lot d = def_of("G", 121.4, 37.5, 10);
    struct map_bay bays[] = {{.id = "B1"}, {.id = "B2"}};
    bool arrived = false;
    put_ok(p, &d, bays, 2, false);
    const struct parking_lot *l = parking_lot_get(p, "G");
    CU_ASSERT_PTR_NULL(parking_find_plate(l, LU "F11111"));
    /* a camera's spelling is stored in canonical form */
    CU_ASSERT_EQUAL(bay_arrival(p, "G", "B2", "occupied", LU "f\xc2\xb7" "11111", 10, &arrived),
                    PARKING_OBS_APPLIED);
    CU_ASSERT(arrived);
    CU_ASSERT_STRING_EQUAL(plate_bay(l, LU "F11111"), "B2");
    /* the same car reported again is no arrival; another plate read is */
    bay_arrival(p, "G", "B2", "occupied", LU "F11111", 10.5, &arrived);
    CU_ASSERT(!arrived);
    bay_arrival(p, "G", "B2", "occupied", NULL, 10.7, &arrived);   /* no read this time */
    CU_ASSERT(!arrived);
    CU_ASSERT_PTR_NULL(parking_find_plate(l, LU "F11111"));
    bay_arrival(p, "G", "B2", "occupied", LU "F22222", 11, &arrived);   /* another car */
    CU_ASSERT(arrived);
    CU_ASSERT_PTR_NULL(parking_find_plate(l, LU "F11111"));
    CU_ASSERT_STRING_EQUAL(plate_bay(l, LU "F22222"), "B2");
    bay_arrival(p, "G", "B2", "free", NULL, 12, &arrived);
    CU_ASSERT(!arrived);
    CU_ASSERT_PTR_NULL(parking_find_plate(l, LU "F22222"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(parking_bay_get(l, "B2"));
    CU_ASSERT_PTR_NULL(parking_bay_get(l, "B2")->plate);
    bay_arrival(p, "G", "B2", "occupied", NULL, 13, &arrived);     /* free -> occupied */
    CU_ASSERT(arrived);
    bay_arrival(p, "G", "B2", "occupied", NULL, 12.5, &arrived);   /* outdated */
    CU_ASSERT(!arrived);
    /* not a plate: rejected, nothing changes */
    CU_ASSERT_EQUAL(bay(p, "G", "B1", "occupied", "SECRET9", 13), PARKING_OBS_REJECTED);
    CU_ASSERT(isnan(parking_bay_get(l, "B1")->ts));
    /* plates never appear in a lot's JSON */
    struct parking_buf b = {0};
    bay(p, "G", "B1", "occupied", LU "F33333", 13);
    parking_lot_render(p, l, 13, false, NAN, &b);
    CU_ASSERT_PTR_NULL(strstr(b.data, "F33333"));
    free(b.data);
    parking_free(p);
}

/* Categories: more than the index has bits for still filter exactly. */
static void test_categories(void)
{
    struct parking *p = new_registry();
    char names[80][16];
    char *one[80][1];
    char ids[80][16];
    for (int i = 0; i < 80; i++) {
        snprintf(names[i], sizeof names[i], "cat%02d", i);
        snprintf(ids[i], sizeof ids[i], "L%02d", i);
        one[i][0] = names[i];
        struct map_lot d = def_of(ids[i], 121.4 + i * 1e-4, 37.5, 10);
        d.category = one[i];
        d.ncategory = 1;
        put_ok(p, &d, NULL, 0, false);
        count(p, ids[i], 5, 10);
    }
    struct spindex_hit out[80];
    for (int i = 0; i < 80; i++) {
        const char *want[] = {names[i]};
        struct parking_query q = {.lon = 121.4, .lat = 37.5, .radius_m = 1e5, .limit = 80,
                                  .min_available = 1, .max_price = NAN, .now = 10,
                                  .category = want, .ncategory = 1};
        size_t n = parking_nearest(p, &q, out);
        CU_ASSERT_EQUAL(n, 1);
        if (n == 1)
            CU_ASSERT_STRING_EQUAL(parking_lot_at(p, out[0].handle)->id, ids[i]);
    }
    const char *none[] = {"cat00", "cat01"};
    struct parking_query q = {.lon = 121.4, .lat = 37.5, .radius_m = 1e5, .limit = 80,
                              .min_available = 1, .max_price = NAN, .now = 10,
                              .category = none, .ncategory = 2};
    CU_ASSERT_EQUAL(parking_nearest(p, &q, out), 0);
    const char *unknown[] = {"nosuch"};
    q.category = unknown;
    q.ncategory = 1;
    CU_ASSERT_EQUAL(parking_nearest(p, &q, out), 0);
    q.ncategory = 0;
    CU_ASSERT_EQUAL(parking_nearest(p, &q, out), 80);
    parking_free(p);
}

static void count_lot(void *ctx, const struct parking_lot *l)
{
    (void)l;
    (*(size_t *)ctx)++;
}

static void test_load_map(void)
{
    struct parking *p = new_registry();
    struct map_lot lots[3] = {def_of("c", 121.40, 37.5, 3), def_of("a", 121.41, 37.5, 2),
                              def_of("b", 121.42, 37.5, 1)};
    struct map_bay bays[] = {{.id = "2", .lot = "c"}, {.id = "1", .lot = "a"},
                             {.id = "1", .lot = "c"}, {.id = "3", .lot = "c"}};
    struct map m = {.lots = lots, .nlots = 3, .bays = bays, .nbays = 4};
    char err[256];
    CU_ASSERT_EQUAL_FATAL(parking_load_map(p, &m, err, sizeof err), 0);
    CU_ASSERT_EQUAL(parking_lot_count(p), 3);
    CU_ASSERT_EQUAL(parking_lot_get(p, "c")->nbays, 3);
    CU_ASSERT_EQUAL(parking_lot_get(p, "a")->nbays, 1);
    CU_ASSERT_EQUAL(parking_lot_get(p, "b")->nbays, 0);
    CU_ASSERT_STRING_EQUAL(parking_lot_get(p, "c")->bays[2].id, "3");
    size_t seen = 0;
    parking_each(p, count_lot, &seen);
    CU_ASSERT_EQUAL(seen, 3);
    parking_free(p);
}

/* A map with lots and no bay at all (found by tests/fuzz/fuzz_map.c: the
 * bay slice of each lot was computed from a NULL array, undefined
 * behaviour that clang's UBSan reports). */
static void test_load_map_no_bays(void)
{
    struct parking *p = new_registry();
    struct map_lot lots[2] = {def_of("a", 121.41, 37.5, 2), def_of("b", 121.42, 37.5, 1)};
    struct map m = {.lots = lots, .nlots = 2};
    char err[256];
    CU_ASSERT_EQUAL_FATAL(parking_load_map(p, &m, err, sizeof err), 0);
    CU_ASSERT_EQUAL(parking_lot_count(p), 2);
    CU_ASSERT_EQUAL(parking_lot_get(p, "a")->nbays, 0);
    CU_ASSERT_EQUAL(parking_lot_get(p, "b")->total, 1);
    parking_free(p);
}

/* The fixture map through the real loader: every lot, its bays. */
static void test_fixture_map(void)
{
    struct map *m = NULL;
    struct map_problems probs = {0};
    int rc = map_load("tests/fixtures/maps/ok", &m, &probs);
    map_problems_free(&probs);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    struct parking *p = new_registry();
    char err[256];
    CU_ASSERT_EQUAL_FATAL(parking_load_map(p, m, err, sizeof err), 0);
    CU_ASSERT_EQUAL(parking_lot_count(p), m->nlots);
    size_t bays = 0;
    for (size_t i = 0; i < m->nlots; i++) {
        const struct parking_lot *l = parking_lot_get(p, m->lots[i].id);
        CU_ASSERT_PTR_NOT_NULL_FATAL(l);
        CU_ASSERT_EQUAL(l->total, m->lots[i].total);
        CU_ASSERT_EQUAL(l->loc.lon, m->lots[i].loc.lon);
        bays += l->nbays;
    }
    CU_ASSERT_EQUAL(bays, m->nbays);
    for (size_t i = 0; i < m->nbays; i++) {
        const struct parking_lot *l = parking_lot_get(p, m->bays[i].lot);
        const struct parking_bay *b = parking_bay_get(l, m->bays[i].id);
        CU_ASSERT_PTR_NOT_NULL_FATAL(b);
        CU_ASSERT_STRING_EQUAL(level_of(l, b->id), m->bays[i].level ? m->bays[i].level : "(none)");
    }
    parking_free(p);
    map_free(m);
}

static void test_restore(void)
{
    struct parking *p = new_registry();
    struct map_lot d = def_of("L", 121.4, 37.5, 10);
    put_ok(p, &d, NULL, 0, false);
    CU_ASSERT_EQUAL(parking_lot_restore(p, "nope", 1, 10, 0), -1);
    CU_ASSERT_EQUAL(parking_lot_restore(p, "L", -1, 10, 0), -1);
    CU_ASSERT_EQUAL(parking_lot_restore(p, "L", 10, 100, PARKING_FLAG_CLAMPED), 0);
    const struct parking_lot *l = parking_lot_get(p, "L");
    CU_ASSERT_EQUAL(l->available, 10);
    CU_ASSERT_EQUAL(l->obs_ts, 100);
    CU_ASSERT(l->flags & PARKING_FLAG_CLAMPED);
    CU_ASSERT_EQUAL(parking_lot_restore(p, "L", 3, 99, 0), -1);     /* older than memory */
    CU_ASSERT_EQUAL(count(p, "L", 3, 99), PARKING_OBS_OUTDATED);
    parking_free(p);
}

/* What the map gives a driver comes along (api.md §2), numbers rounded
 * to what they mean: money to the cent, coordinates to 7 decimals. */
static void test_render_driver_fields(void)
{
    struct parking_config cfg = {.stale_after_s = 900};
    struct parking *p = parking_new(&cfg);
    struct map_lot d = def_of("drv", 121.39123456789, 37.5401, 100);
    d.address = "芝罘区北马路135号";
    d.name_en = "Station \"North\" Car Park";
    d.opening_hours = "Mo-Su 07:00-23:00";
    d.price_rate_per_hour = 2.345;
    d.tariff = (struct map_tariff){.present = true, .free_minutes = 15, .rate_per_hour = 6.0,
                                   .unit_minutes = 30, .daily_cap = 40.0, .has_night = true,
                                   .night_from_min = 22 * 60, .night_to_min = 7 * 60,
                                   .night_rate_per_hour = 1.0};
    put_ok(p, &d, NULL, 0, false);
    struct parking_buf b = {0};
    parking_lot_render(p, parking_lot_get(p, "drv"), 100, false, NAN, &b);
    CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "\"coordinates\":[121.3912346,37.5401]"));
    CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "\"priceRatePerHour\":2.35,"));
    json_t *j = json_loads(b.data, 0, NULL);
    free(b.data);
    CU_ASSERT_FATAL(j != NULL);
    CU_ASSERT_STRING_EQUAL(jstr(json_object_get(j, "address")), "芝罘区北马路135号");
    CU_ASSERT_STRING_EQUAL(jstr(json_object_get(j, "name_en")), "Station \"North\" Car Park");
    CU_ASSERT_STRING_EQUAL(jstr(json_object_get(j, "openingHours")), "Mo-Su 07:00-23:00");
    json_t *t = json_object_get(j, "tariff");
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(t, "rate_per_hour")), 6.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(t, "daily_cap")), 40.0, 1e-12);
    CU_ASSERT_STRING_EQUAL(jstr(json_object_get(json_object_get(t, "night"), "from")), "22:00");
    json_decref(j);
    /* a lot without them has none of the keys */
    struct map_lot e = def_of("bare", 121.4, 37.5, 10);
    put_ok(p, &e, NULL, 0, false);
    b = (struct parking_buf){0};
    parking_lot_render(p, parking_lot_get(p, "bare"), 100, false, NAN, &b);
    CU_ASSERT_PTR_NULL(strstr(b.data, "address"));
    CU_ASSERT_PTR_NULL(strstr(b.data, "tariff"));
    CU_ASSERT_PTR_NULL(strstr(b.data, "openingHours"));
    free(b.data);
    parking_free(p);
}

int suite_parking(void)
{
    CU_pSuite s = CU_add_suite("parking", NULL, NULL);
    if (s == NULL)
        return -1;
    if (!CU_add_test(s, "observation parse errors name the field", test_parse_errors) ||
        !CU_add_test(s, "observation parse", test_parse_ok) ||
        !CU_add_test(s, "registry checks", test_check_errors) ||
        !CU_add_test(s, "ordering: outdated", test_ordering) ||
        !CU_add_test(s, "clamping", test_clamping) ||
        !CU_add_test(s, "bay-derived counts", test_bay_counts) ||
        !CU_add_test(s, "stale at the exact boundary", test_stale_boundary) ||
        !CU_add_test(s, "status thresholds", test_status_thresholds) ||
        !CU_add_test(s, "render", test_render) ||
        !CU_add_test(s, "render: what a driver's app needs", test_render_driver_fields) ||
        !CU_add_test(s, "bays render", test_bays_render) ||
        !CU_add_test(s, "screen render", test_screen_render) ||
        !CU_add_test(s, "put errors change nothing", test_put_errors) ||
        !CU_add_test(s, "replace keeps state", test_replace_keeps_state) ||
        !CU_add_test(s, "plates", test_plates) ||
        !CU_add_test(s, "categories beyond the bit budget", test_categories) ||
        !CU_add_test(s, "load map", test_load_map) ||
        !CU_add_test(s, "load map without bays", test_load_map_no_bays) ||
        !CU_add_test(s, "fixture map", test_fixture_map) ||
        !CU_add_test(s, "restore", test_restore))
        return -1;
    return 0;
}
