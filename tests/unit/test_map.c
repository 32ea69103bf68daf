/* test_map.c -- map_load on the fixture maps in tests/fixtures/maps/: a
 * good city (every kind of feature, values and corridor positions checked
 * against hand-computed figures) and broken ones, asserting the exact set
 * of problems reported (file, feature, message). Run from the repo root. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "map.h"
#include "support.h"

#define FIX "tests/fixtures/maps/"
#define R GEO_EARTH_RADIUS_M
#define DEG (M_PI / 180.0)

static struct map *load_ok(const char *dir)
{
    struct map_problems p = {0};
    struct map *m = NULL;
    int rc = map_load(dir, &m, &p);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(p.n, 0);
    for (size_t i = 0; i < p.n; i++)
        fprintf(stderr, "unexpected: %s %s %s\n", p.items[i].file, p.items[i].feature,
                p.items[i].message);
    map_problems_free(&p);
    return m;
}

/* Problems of a broken map (the load must fail and hand out no map). */
static void load_bad(const char *dir, struct map_problems *p)
{
    struct map *m = (struct map *)p; /* any non-NULL: map_load must reset it */
    CU_ASSERT_EQUAL(map_load(dir, &m, p), -1);
    CU_ASSERT_PTR_NULL(m);
}

static size_t count_for(const struct map_problems *p, const char *feature)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++)
        n += strcmp(p->items[i].feature, feature) == 0;
    return n;
}

static bool has(const struct map_problems *p, const char *file, const char *feature,
                const char *msg)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->items[i].file, file) == 0 && strcmp(p->items[i].feature, feature) == 0 &&
            strstr(p->items[i].message, msg) != NULL)
            return true;
    fprintf(stderr, "missing problem: %s %s ...%s...\n", file, feature, msg);
    return false;
}

struct expect {
    const char *feature, *msg;
};

/* Exactly these problems, all in `file`: one per row, nothing else. */
static void assert_exactly(const struct map_problems *p, const char *file,
                           const struct expect *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_TRUE(has(p, file, e[i].feature, e[i].msg));
    CU_ASSERT_EQUAL(p->n, n);
    if (p->n != n)
        for (size_t i = 0; i < p->n; i++)
            fprintf(stderr, "got: %s %s %s\n", p->items[i].file, p->items[i].feature,
                    p->items[i].message);
}

static void test_ok_lots(void)
{
    struct map *m = load_ok(FIX "ok");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_STRING_EQUAL(m->dir, FIX "ok");
    CU_ASSERT_EQUAL(m->nlots, 3);

    const struct map_lot *l = map_lot(m, "zf-001");
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_STRING_EQUAL(l->name, "南大街地下停车场");
    CU_ASSERT_STRING_EQUAL(l->type, "OffStreetParking");
    CU_ASSERT_EQUAL(l->total, 320);
    CU_ASSERT_DOUBLE_EQUAL(l->loc.lon, 121.3950, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(l->loc.lat, 37.5400, 1e-12);
    CU_ASSERT_EQUAL_FATAL(l->ncategory, 2);
    CU_ASSERT_STRING_EQUAL(l->category[1], "ev");
    CU_ASSERT_EQUAL_FATAL(l->nlevels, 2);
    CU_ASSERT_STRING_EQUAL(l->levels[0], "B1");
    CU_ASSERT_DOUBLE_EQUAL(l->price_rate_per_hour, 6.0, 0);
    CU_ASSERT_STRING_EQUAL(l->currency, "CNY");
    CU_ASSERT_STRING_EQUAL(l->address, "南大街 118号");
    CU_ASSERT_EQUAL(l->nbays, 3);
    const struct map_tariff *t = &l->tariff;
    CU_ASSERT_TRUE(t->present);
    CU_ASSERT_DOUBLE_EQUAL(t->free_minutes, 15, 0);
    CU_ASSERT_DOUBLE_EQUAL(t->rate_per_hour, 6.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(t->unit_minutes, 30, 0);
    CU_ASSERT_DOUBLE_EQUAL(t->daily_cap, 40.0, 0);
    CU_ASSERT_TRUE(t->has_night);
    CU_ASSERT_EQUAL(t->night_from_min, 22 * 60);
    CU_ASSERT_EQUAL(t->night_to_min, 7 * 60);
    CU_ASSERT_DOUBLE_EQUAL(t->night_rate_per_hour, 1.0, 0);

    /* A Polygon lot is located at its centroid; no tariff, no price. */
    l = map_lot(m, "zf-002");
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_DOUBLE_EQUAL(l->loc.lon, 121.4000, 1e-8);
    CU_ASSERT_DOUBLE_EQUAL(l->loc.lat, 37.5350, 1e-8);
    CU_ASSERT_FALSE(l->tariff.present);
    CU_ASSERT_TRUE(isnan(l->price_rate_per_hour));
    CU_ASSERT_PTR_NULL(l->address);
    CU_ASSERT_EQUAL(l->ncategory, 0);
    CU_ASSERT_EQUAL(l->nbays, 1);

    /* Tariff defaults. */
    l = map_lot(m, "zf-003");
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_STRING_EQUAL(l->type, "OnStreetParking");
    CU_ASSERT_TRUE(l->tariff.present);
    CU_ASSERT_DOUBLE_EQUAL(l->tariff.rate_per_hour, 4, 0);
    CU_ASSERT_DOUBLE_EQUAL(l->tariff.free_minutes, 0, 0);
    CU_ASSERT_DOUBLE_EQUAL(l->tariff.unit_minutes, 60, 0);
    CU_ASSERT_DOUBLE_EQUAL(l->tariff.daily_cap, 0, 0);
    CU_ASSERT_FALSE(l->tariff.has_night);
    CU_ASSERT_EQUAL(l->nlevels, 0);

    CU_ASSERT_PTR_NULL(map_lot(m, "zf-999"));
    CU_ASSERT_PTR_NULL(map_lot(m, NULL));
    map_free(m);
}

static void test_ok_garage(void)
{
    struct map *m = load_ok(FIX "ok");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(m->nbays, 4);
    /* Bay ids are per lot. */
    const struct map_bay *b = map_bay(m, "zf-001", "B1-001");
    const struct map_bay *b2 = map_bay(m, "zf-002", "B1-001");
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b2);
    CU_ASSERT_PTR_NOT_EQUAL(b, b2);
    CU_ASSERT_STRING_EQUAL(b->level, "B1");
    CU_ASSERT_STRING_EQUAL(b2->lot, "zf-002");
    CU_ASSERT_PTR_NULL(map_bay(m, "zf-001", "B9-999"));
    CU_ASSERT_PTR_NULL(map_bay(m, "zf-003", "B1-001"));
    CU_ASSERT_PTR_NULL(map_bay(m, "zf-001\x1f" "B1", "001"));
    b = map_bay(m, "zf-001", "B1-002"); /* a Polygon bay: centroid */
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_DOUBLE_EQUAL(b->pt.lon, 121.39510, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(b->pt.lat, 37.54001, 1e-9);

    CU_ASSERT_EQUAL_FATAL(m->naisles, 2);
    CU_ASSERT_STRING_EQUAL(m->aisles[0].id, "a-b1");
    CU_ASSERT_PTR_NULL(m->aisles[1].id);
    CU_ASSERT_EQUAL(m->aisles[1].npts, 3);
    CU_ASSERT_STRING_EQUAL(m->aisles[1].level, "B2");

    CU_ASSERT_EQUAL_FATAL(m->nconnectors, 2);
    CU_ASSERT_STRING_EQUAL(m->connectors[0].id, "lift-a");
    CU_ASSERT_STRING_EQUAL(m->connectors[0].name, "Lift A");
    CU_ASSERT_STRING_EQUAL(m->connectors[0].connector_type, "lift");
    CU_ASSERT_EQUAL(m->connectors[0].nlevels, 2);
    /* No id: named after its index in the file, as problems are. */
    CU_ASSERT_STRING_EQUAL(m->connectors[1].id, "#10");
    CU_ASSERT_PTR_NULL(m->connectors[1].name);
    CU_ASSERT_STRING_EQUAL(m->connectors[1].levels[0], "B2");

    const struct map_kiosk *k = map_kiosk(m, "k-1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(k);
    CU_ASSERT_STRING_EQUAL(k->lot, "zf-001");
    CU_ASSERT_STRING_EQUAL(k->level, "B1");
    CU_ASSERT_DOUBLE_EQUAL(k->pt.lon, 121.39496, 1e-12);

    const struct map_screen *s = map_screen(m, "s-1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL_FATAL(s->nlots, 2);
    CU_ASSERT_STRING_EQUAL(s->lots[1], "zf-002");
    CU_ASSERT_PTR_NULL(map_screen(m, "s-2"));
    map_free(m);
}

static void test_ok_intersections(void)
{
    struct map *m = load_ok(FIX "ok");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(m->nisecs, 4);
    const struct map_intersection *x = map_intersection(m, "i2");
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    CU_ASSERT_STRING_EQUAL(x->name, "Intersection i2");
    CU_ASSERT_EQUAL_FATAL(x->nphases, 2);
    CU_ASSERT_EQUAL_FATAL(x->phases[1].nmovements, 2);
    CU_ASSERT_STRING_EQUAL(x->phases[1].movements[0], "NBL");
    CU_ASSERT_DOUBLE_EQUAL(x->phases[0].saturation_flow, 3600, 0);
    CU_ASSERT_DOUBLE_EQUAL(x->phases[0].min_green_s, 15, 0);
    CU_ASSERT_DOUBLE_EQUAL(x->phases[0].design_flow, 500, 0);
    CU_ASSERT_DOUBLE_EQUAL(x->lost_time_s, 8, 0);
    CU_ASSERT_DOUBLE_EQUAL(x->cycle_min_s, 60, 0);
    CU_ASSERT_DOUBLE_EQUAL(x->cycle_max_s, 120, 0);
    CU_ASSERT_DOUBLE_EQUAL(x->pedestrian_crossing_m, 18, 0);
    x = map_intersection(m, "i1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    CU_ASSERT_EQUAL(x->phases[1].nmovements, 3);
    CU_ASSERT_DOUBLE_EQUAL(x->phases[0].design_flow, 0, 0);
    CU_ASSERT_DOUBLE_EQUAL(x->pedestrian_crossing_m, 0, 0);
    map_free(m);
}

/* The fixture corridor runs 0.01 deg east along the parallel 37.538 from
 * 121.39, then 0.004 deg north along the meridian 121.40. By hand:
 *   leg 1 = R cos(37.538) * 0.01 deg          = 881.72 m
 *   i2 (121.395, 37.5381): halfway along leg 1 = 440.86 m; its offset is
 *     R * 0.0001 deg = 11.12 m less the 1.2 cm by which the great circle
 *     bulges north of the parallel at mid-leg (L^2 tan(lat) / 8R);
 *   i3 at the corner                           = 881.72 m;
 *   i4 (121.4002, 37.54): leg 1 + R * 0.002 deg = 1104.11 m,
 *     offset R cos(37.54) * 0.0002 deg = 17.63 m. */
static void test_ok_corridor_positions(void)
{
    struct map *m = load_ok(FIX "ok");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(m->ncorridors, 2);
    const struct map_corridor *c = map_corridor(m, "nandajie");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_STRING_EQUAL(c->name, "南大街");
    CU_ASSERT_DOUBLE_EQUAL(c->speed_kmh, 40, 0);
    CU_ASSERT_EQUAL_FATAL(c->nisecs, 4);
    CU_ASSERT_STRING_EQUAL(c->isecs[3], "i4");

    double leg1 = R * cos(37.538 * DEG) * 0.01 * DEG;
    double leg2 = R * 0.004 * DEG;
    CU_ASSERT_DOUBLE_EQUAL(leg1, 881.72, 0.01);
    CU_ASSERT_DOUBLE_EQUAL(c->line->length_m, leg1 + leg2, 0.01);
    CU_ASSERT_DOUBLE_EQUAL(c->position_m[0], 0.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(c->offset_m[0], 0.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(c->position_m[1], leg1 / 2, 0.005);
    double bulge = leg1 * leg1 * tan(37.538 * DEG) / (8 * R);
    CU_ASSERT_DOUBLE_EQUAL(c->offset_m[1], R * 0.0001 * DEG - bulge, 0.002);
    CU_ASSERT_DOUBLE_EQUAL(c->position_m[2], leg1, 0.005);
    CU_ASSERT_DOUBLE_EQUAL(c->position_m[3], leg1 + R * 0.002 * DEG, 0.005);
    CU_ASSERT_DOUBLE_EQUAL(c->position_m[3], 1104.11, 0.01);
    CU_ASSERT_DOUBLE_EQUAL(c->offset_m[3], R * cos(37.54 * DEG) * 0.0002 * DEG, 0.005);

    /* The same intersections on another corridor, measured from its start. */
    c = map_corridor(m, "north");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_DOUBLE_EQUAL(c->position_m[0], 0.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(c->position_m[1], R * 0.002 * DEG, 0.005);
    CU_ASSERT_PTR_NULL(map_corridor(m, "south"));
    map_free(m);
}

/* The projection is centred on the bounding box of every feature of both
 * files: lon 121.39 (corridor start) .. 121.4005 (zf-002's polygon), lat
 * 37.5345 (zf-002) .. 37.542 (corridor end). */
static void test_ok_projection_centre(void)
{
    struct map *m = load_ok(FIX "ok");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    const struct geo_proj *p = geo_projection(m->geo);
    CU_ASSERT_DOUBLE_EQUAL(p->lon0, (121.39 + 121.4005) / 2, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(p->lat0, (37.5345 + 37.542) / 2, 1e-12);
    map_free(m);
}

static void test_parking_only(void)
{
    struct map *m = load_ok(FIX "parking_only");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(m->nlots, 3);
    CU_ASSERT_EQUAL(m->ncorridors, 0);
    CU_ASSERT_EQUAL(m->nisecs, 0);
    CU_ASSERT_PTR_NULL(map_corridor(m, "nandajie"));
    CU_ASSERT_PTR_NULL(map_intersection(m, "i1"));
    map_free(m);
}

static void test_bad_json(void)
{
    struct map_problems p = {0};
    load_bad(FIX "bad_json", &p);
    /* Both files are reported: the first error does not stop the load. */
    struct expect e[] = {
        {"-", "malformed JSON at line 3 column 60"},
        {"-", "malformed JSON at line 2 column 75: duplicate object key"},
    };
    CU_ASSERT_TRUE(has(&p, "parking.geojson", e[0].feature, e[0].msg));
    CU_ASSERT_TRUE(has(&p, "corridors.geojson", e[1].feature, e[1].msg));
    CU_ASSERT_EQUAL(p.n, 2);
    map_problems_free(&p);
}

static void test_missing_parking(void)
{
    struct map_problems p = {0};
    load_bad(FIX "missing_parking", &p);
    struct expect e[] = {{"-", "cannot open " FIX "missing_parking/parking.geojson"}};
    assert_exactly(&p, "parking.geojson", e, 1);
    map_problems_free(&p);
}

static void test_not_collection(void)
{
    struct map_problems p = {0};
    load_bad(FIX "not_collection", &p);
    struct expect e[] = {{"-", "not a GeoJSON FeatureCollection"}};
    assert_exactly(&p, "parking.geojson", e, 1);
    map_problems_free(&p);
}

static void test_bad_parking(void)
{
    struct map_problems p = {0};
    load_bad(FIX "bad_parking", &p);
    struct expect e[] = {
        {"#0", "missing property 'id'"},
        {"dup", "duplicate lot id"},
        {"zero", "totalSpotNumber: must be an integer from 1 to 10000000"},
        {"swapped", "coordinate [37.54, 121.39] out of range"},
        {"line-lot", "geometry must be Point or Polygon, not LineString"},
        /* Tariffs by tariff_from_json: the first problem of each. */
        {"badtariff", "tariff.rate_per_hour: -1 is out of range"},
        {"badcap", "tariff.unit_minutes: 0 is out of range"},
        {"badnight", "tariff.night.from: must be a time of day \"HH:MM\""},
        {"negcap", "tariff.daily_cap: -5 is out of range"},
        {"b-orphan", "unknown lot 'nope'"},
        {"b-level", "level 'B3' is not one of lot 'garage' levels"},
        {"b1", "duplicate bay id"},
        {"#13", "missing property 'id'"},
        {"#14", "geometry must be LineString, not Point"},
        {"c-one", "a connector must join at least 2 levels"},
        {"c-b9", "level 'B9' is not one of lot 'garage' levels"},
        {"k-ghost", "unknown lot 'ghost'"},
        {"s-ghost", "unknown lot 'ghost'"},
        {"bench-1", "unknown kind 'bench'"},
        {"open-ring", "Polygon ring is not closed"},
        {"noname", "name: required, a non-empty string"},
        {"price", "priceRatePerHour: must be a number from 0 to 1e+06"},
        {"null-island", "12720 km from the middle of the map (limit 100 km)"},
    };
    assert_exactly(&p, "parking.geojson", e, sizeof e / sizeof e[0]);
    /* The good aisle, and a bay of a lot that is itself broken (reported
     * once, at the lot), add nothing. */
    CU_ASSERT_EQUAL(count_for(&p, "#23"), 0);
    CU_ASSERT_EQUAL(count_for(&p, "b-zero"), 0);
    CU_ASSERT_EQUAL(count_for(&p, "b-stray"), 0);
    CU_ASSERT_EQUAL(count_for(&p, "dup"), 1);
    map_problems_free(&p);
}

static void test_bad_corridors(void)
{
    struct map_problems p = {0};
    load_bad(FIX "bad_corridors", &p);
    struct expect e[] = {
        {"c-nokind", "missing or non-string property 'kind'"},
        {"nophase", "property 'phases' must be a non-empty array"},
        {"emptyphase", "phase 1 has no movements"},
        {"badmove", "phase 1: unknown movement 'NBX'"},
        {"cyc", "cycle_min_s 120 is above cycle_max_s 90"},
        {"a", "duplicate intersection id"},
        {"c-far", "intersection 'far' is 222.4 m from the corridor line (max 50 m)"},
        {"c-order", "intersection 'a' at 88.2 m is not after 'b' at 264.5 m"},
        {"c-same", "intersection 'b2' at 264.5 m is not after 'b' at 264.5 m"},
        {"c-unknown", "unknown intersection 'ghost'"},
        {"c-one", "'intersections' must list at least 2 intersections"},
        {"c-slow", "'speed_kmh' must be a number between 3.6 and 144 km/h"},
        {"c-twice", "'intersections' lists 'a' twice"},
    };
    assert_exactly(&p, "corridors.geojson", e, sizeof e / sizeof e[0]);
    CU_ASSERT_EQUAL(count_for(&p, "c-broken"), 0);
    map_problems_free(&p);
}

/* Problems accumulate across loads into the caller's list. */
static void test_problems_accumulate(void)
{
    struct map_problems p = {0};
    load_bad(FIX "not_collection", &p);
    load_bad(FIX "missing_parking", &p);
    CU_ASSERT_EQUAL(p.n, 2);
    CU_ASSERT_TRUE(p.cap >= p.n);
    map_problems_free(&p);
    CU_ASSERT_EQUAL(p.n, 0);
    CU_ASSERT_PTR_NULL(p.items);
    map_problems_free(&p);
}

static void put_file(const char *dir, const char *name, const char *text, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fwrite(text, 1, len, f);
    fclose(f);
}

static char *write_map(const char *parking, size_t len)
{
    char *dir = support_tmpdir("cityd-map");
    put_file(dir, "parking.geojson", parking, len);
    return dir;
}

static void drop_map(char *dir)
{
    support_rmrf(dir);
    free(dir);
}

/* A map folder with parking.geojson and, when given, corridors.geojson. */
static char *write_map2(const char *parking, const char *corridors)
{
    char *dir = write_map(parking, strlen(parking));
    if (corridors != NULL)
        put_file(dir, "corridors.geojson", corridors, strlen(corridors));
    return dir;
}

#define LOT(id, extra)                                                                         \
    "{\"type\": \"Feature\", \"properties\": {\"id\": \"" id "\", \"name\": \"n\", "           \
    "\"totalSpotNumber\": 10" extra "}, \"geometry\": {\"type\": \"Point\", \"coordinates\": " \
    "[121.39, 37.54]}}"

/* Tariffs in the map get the rules of PUT /v1/parking/lots (one parser,
 * tariff_from_json), each reported with the lot's id. */
static void test_tariff_rules(void)
{
    static const char bad[] =
        "{\"type\": \"FeatureCollection\", \"features\": [\n"
        LOT("tiny-unit", ", \"tariff\": {\"rate_per_hour\": 6, \"unit_minutes\": 0.01}") ",\n"
        LOT("tiny-night", ", \"tariff\": {\"rate_per_hour\": 6, \"unit_minutes\": 0.5, "
            "\"night\": {\"from\": \"22:00\", \"to\": \"07:00\", \"rate_per_hour\": 0.5}}") ",\n"
        LOT("huge-rate", ", \"tariff\": {\"rate_per_hour\": 1e300}") ",\n"
        LOT("huge-cap", ", \"tariff\": {\"rate_per_hour\": 2, \"daily_cap\": 1e300}") ",\n"
        LOT("long-free", ", \"tariff\": {\"rate_per_hour\": 2, \"free_minutes\": 1e12}") ",\n"
        LOT("bfe", ", \"tariff\": {\"rate_per_hour\": 2, \"bill_from_entry\": \"yes\"}") ",\n"
        LOT("not-obj", ", \"tariff\": [1]") "\n"
        "]}";
    char *dir = write_map2(bad, NULL);
    struct map_problems p = {0};
    load_bad(dir, &p);
    struct expect e[] = {
        {"tiny-unit", "tariff.unit_minutes: a unit of 0.01 minutes at 6 an hour costs less "
                      "than 0.01"},
        {"tiny-night", "tariff.unit_minutes: a unit of 0.5 minutes at 0.5 an hour"},
        {"huge-rate", "tariff.rate_per_hour: 1e+300 is out of range"},
        {"huge-cap", "tariff.daily_cap: 1e+300 is out of range"},
        {"long-free", "tariff.free_minutes: 1e+12 is out of range"},
        {"bfe", "tariff.bill_from_entry: must be true or false"},
        {"not-obj", "tariff: must be an object"},
    };
    assert_exactly(&p, "parking.geojson", e, sizeof e / sizeof e[0]);
    map_problems_free(&p);
    drop_map(dir);

    /* The same parser reads what the map path used to drop. */
    static const char good[] =
        "{\"type\": \"FeatureCollection\", \"features\": [\n"
        LOT("bfe", ", \"tariff\": {\"rate_per_hour\": 2, \"bill_from_entry\": true}") "\n]}";
    dir = write_map2(good, NULL);
    struct map *m = load_ok(dir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_TRUE(map_lot(m, "bfe")->tariff.present);
    CU_ASSERT_TRUE(map_lot(m, "bfe")->tariff.bill_from_entry);
    map_free(m);
    drop_map(dir);
}

/* Strings and numbers from properties that would reach replies, keys or
 * computations: bounded, and ids (levels, categories too) free of
 * control characters. */
static void test_absurd_values(void)
{
    char name600[601], level128[129], levels65[65 * 8 + 2];
    memset(name600, 'n', 600);
    name600[600] = '\0';
    memset(level128, 'L', 128);
    level128[128] = '\0';
    size_t o = 0;
    for (int i = 0; i < 65; i++)
        o += (size_t)snprintf(levels65 + o, sizeof levels65 - o, "%s\"L%d\"", i ? "," : "", i);
    char parking[8192];
    snprintf(parking, sizeof parking,
        "{\"type\": \"FeatureCollection\", \"features\": [\n"
        LOT("ok-lot", ", \"levels\": [\"B1\", \"B2\"]") ",\n"
        "{\"type\": \"Feature\", \"properties\": {\"id\": \"huge-total\", \"name\": \"n\", "
        "\"totalSpotNumber\": 2147483647}, \"geometry\": {\"type\": \"Point\", \"coordinates\": "
        "[121.39, 37.54]}},\n"
        LOT("huge-price", ", \"priceRatePerHour\": 1e300") ",\n"
        LOT("long-name", ", \"address\": \"%s\"") ",\n"
        LOT("ctl-level", ", \"levels\": [\"B1\", \"B\\u0001\"]") ",\n"
        LOT("long-level", ", \"levels\": [\"%s\"]") ",\n"
        LOT("many-levels", ", \"levels\": [%s]") ",\n"
        LOT("ctl-cat", ", \"category\": [\"a\\nb\"]") ",\n"
        "{\"type\": \"Feature\", \"properties\": {\"kind\": \"kiosk\", \"id\": \"k-long\", "
        "\"lot\": \"ok-lot\", \"level\": \"B1\", \"name\": \"%s\"}, "
        "\"geometry\": {\"type\": \"Point\", \"coordinates\": [121.39, 37.54]}}\n"
        "]}", name600, level128, levels65, name600);

    char phases17[17 * 80 + 2], moves[2000 * 4 + 2];
    o = 0;
    for (int i = 0; i < 2000; i++)
        o += (size_t)snprintf(moves + o, sizeof moves - o, "%s\"X\"", i ? "," : "");
    o = 0;
    for (int i = 0; i < 17; i++)
        o += (size_t)snprintf(phases17 + o, sizeof phases17 - o,
                              "%s{\"movements\": [\"EBT\"], \"saturation_flow\": 1800, "
                              "\"min_green_s\": 5}", i ? "," : "");
#define ISEC_AT(id, phases, extra, lon)                                                       \
    "{\"type\": \"Feature\", \"properties\": {\"kind\": \"intersection\", \"id\": \"" id       \
    "\", \"name\": \"x\", \"phases\": " phases ", \"cycle_min_s\": 60"                        \
    extra "}, \"geometry\": {\"type\": \"Point\", \"coordinates\": [" lon ", 37.538]}}"
#define ISEC(id, phases, extra) ISEC_AT(id, phases, extra, "121.39")
#define LOST ", \"lost_time_s\": 8"
#define PH1 "[{\"movements\": [\"EBT\", \"WBT\"], \"saturation_flow\": 3600, \"min_green_s\": 15}]"
    char corridors[16384];
    snprintf(corridors, sizeof corridors,
        "{\"type\": \"FeatureCollection\", \"features\": [\n"
        ISEC("i1", PH1, LOST ", \"cycle_max_s\": 120") ",\n"
        ISEC_AT("i2", PH1, LOST ", \"cycle_max_s\": 120", "121.395") ",\n"
        ISEC("huge-cycle", PH1, LOST ", \"cycle_max_s\": 1e300") ",\n"
        ISEC("huge-lost", PH1, ", \"cycle_max_s\": 120, \"lost_time_s\": 1e9") ",\n"
        ISEC("huge-sat", "[{\"movements\": [\"EBT\"], \"saturation_flow\": 1e308, "
             "\"min_green_s\": 15}]", LOST ", \"cycle_max_s\": 120") ",\n"
        ISEC("huge-green", "[{\"movements\": [\"EBT\"], \"saturation_flow\": 1800, "
             "\"min_green_s\": 1e9, \"flow\": 1e9}]", LOST ", \"cycle_max_s\": 120") ",\n"
        ISEC("huge-ped", PH1, LOST ", \"cycle_max_s\": 120, \"pedestrian_crossing_m\": 1e12") ",\n"
        ISEC("twice", "[{\"movements\": [\"EBT\", \"EBT\"], \"saturation_flow\": 1800, "
             "\"min_green_s\": 5}]", LOST ", \"cycle_max_s\": 120") ",\n"
        ISEC("phases17", "[%s]", LOST ", \"cycle_max_s\": 120") ",\n"
        ISEC("many-moves", "[{\"movements\": [%s], \"saturation_flow\": 1800, "
             "\"min_green_s\": 5}]", LOST ", \"cycle_max_s\": 120") ",\n"
        "{\"type\": \"Feature\", \"properties\": {\"kind\": \"corridor\", \"id\": \"c-crawl\", "
        "\"name\": \"c\", \"speed_kmh\": 1e-9, \"intersections\": [\"i1\", \"i2\"]}, "
        "\"geometry\": {\"type\": \"LineString\", \"coordinates\": [[121.38, 37.538], [121.40, 37.538]]}},\n"
        "{\"type\": \"Feature\", \"properties\": {\"kind\": \"corridor\", \"id\": \"c-warp\", "
        "\"name\": \"%s\", \"speed_kmh\": 1e9, \"intersections\": [\"i1\", \"i2\"]}, "
        "\"geometry\": {\"type\": \"LineString\", \"coordinates\": [[121.38, 37.538], [121.40, 37.538]]}}\n"
        "]}", phases17, moves, name600);
#undef ISEC
#undef ISEC_AT
#undef LOST
#undef PH1
    char *dir = write_map2(parking, corridors);
    struct map_problems p = {0};
    load_bad(dir, &p);
    CU_ASSERT_TRUE(has(&p, "parking.geojson", "huge-total", "totalSpotNumber: must be an integer from 1 to 10000000"));
    CU_ASSERT_TRUE(has(&p, "parking.geojson", "huge-price", "priceRatePerHour: must be a number from 0 to 1e+06"));
    CU_ASSERT_TRUE(has(&p, "parking.geojson", "long-name", "address: longer than 511 bytes"));
    CU_ASSERT_TRUE(has(&p, "parking.geojson", "ctl-level", "levels[1]: contains a control character"));
    CU_ASSERT_TRUE(has(&p, "parking.geojson", "long-level", "levels[0]: longer than 127 bytes"));
    CU_ASSERT_TRUE(has(&p, "parking.geojson", "many-levels", "levels: lists more than 64"));
    CU_ASSERT_TRUE(has(&p, "parking.geojson", "ctl-cat", "category[0]: contains a control character"));
    CU_ASSERT_TRUE(has(&p, "parking.geojson", "k-long", "'name': longer than 511 bytes"));
    CU_ASSERT_TRUE(has(&p, "corridors.geojson", "huge-cycle", "'cycle_max_s' must be a number between 20 and 300 s"));
    CU_ASSERT_TRUE(has(&p, "corridors.geojson", "huge-lost", "'lost_time_s' must be a number between 0 and 120 s"));
    CU_ASSERT_TRUE(has(&p, "corridors.geojson", "huge-sat", "'phases[0].saturation_flow' must be a number between 100 and 20000 veh/h"));
    CU_ASSERT_TRUE(has(&p, "corridors.geojson", "huge-green", "'phases[0].min_green_s' must be a number between 0 and 300 s"));
    CU_ASSERT_TRUE(has(&p, "corridors.geojson", "huge-green", "'phases[0].flow' must be a number between 0 and 20000 veh/h"));
    CU_ASSERT_TRUE(has(&p, "corridors.geojson", "huge-ped", "'pedestrian_crossing_m' must be a number between 0 and 200 m"));
    CU_ASSERT_TRUE(has(&p, "corridors.geojson", "twice", "phase 1 lists movement 'EBT' twice"));
    CU_ASSERT_TRUE(has(&p, "corridors.geojson", "phases17", "at most 16 phases"));
    CU_ASSERT_TRUE(has(&p, "corridors.geojson", "c-crawl", "'speed_kmh' must be a number between 3.6 and 144 km/h"));
    CU_ASSERT_TRUE(has(&p, "corridors.geojson", "c-warp", "'speed_kmh' must be a number between 3.6 and 144 km/h"));
    CU_ASSERT_TRUE(has(&p, "corridors.geojson", "c-warp", "'name': longer than 511 bytes"));
    /* One problem for a list of 2000 bad movements, not 2000. */
    CU_ASSERT_TRUE(has(&p, "corridors.geojson", "many-moves", "phase 1: unknown movement 'X'"));
    CU_ASSERT_EQUAL(count_for(&p, "many-moves"), 1);
    CU_ASSERT_EQUAL(count_for(&p, "ok-lot"), 0);
    CU_ASSERT_EQUAL(count_for(&p, "i1"), 0);
    CU_ASSERT_EQUAL(p.n, 20);
    if (p.n != 20)
        for (size_t i = 0; i < p.n; i++)
            fprintf(stderr, "got: %s %s %s\n", p.items[i].file, p.items[i].feature,
                    p.items[i].message);
    map_problems_free(&p);
    drop_map(dir);
}
#undef LOT

static void test_empty_and_invalid_utf8(void)
{
    static const char empty[] = "{\"type\": \"FeatureCollection\", \"features\": []}";
    char *dir = write_map(empty, sizeof empty - 1);
    struct map *m = load_ok(dir);
    CU_ASSERT_PTR_NOT_NULL(m);
    if (m != NULL)
        CU_ASSERT_EQUAL(m->nlots, 0);
    map_free(m);
    drop_map(dir);

    static const char bad_utf8[] = "{\"type\": \"FeatureCollection\", \"features\": [\n"
                                   "{\"type\": \"Feature\", \"properties\": {\"id\": \"\xff\xfe\"}}]}";
    dir = write_map(bad_utf8, sizeof bad_utf8 - 1);
    struct map_problems p = {0};
    load_bad(dir, &p);
    CU_ASSERT_EQUAL(p.n, 1);
    CU_ASSERT_TRUE(has(&p, "parking.geojson", "-", "malformed JSON at line 2"));
    map_problems_free(&p);
    drop_map(dir);
}

/* Not a Feature, no properties, id too long or not a string. */
static void test_feature_structure(void)
{
    static const char text[] =
        "{\"type\": \"FeatureCollection\", \"features\": [\n"
        "42,\n"
        "{\"type\": \"Feature\", \"geometry\": {\"type\": \"Point\", \"coordinates\": [1, 2]}},\n"
        "{\"type\": \"Feature\", \"properties\": {\"id\": 7, \"name\": \"n\", \"totalSpotNumber\": 1},"
        " \"geometry\": {\"type\": \"Point\", \"coordinates\": [1, 2]}},\n"
        "{\"type\": \"Feature\", \"properties\": {\"id\": \"x\", \"name\": \"n\", \"totalSpotNumber\": 1},"
        " \"geometry\": null},\n"
        "{\"type\": \"Feature\", \"properties\": {\"id\": \"y\", \"name\": \"n\", \"totalSpotNumber\": 1.5},"
        " \"geometry\": {\"type\": \"Point\", \"coordinates\": [\"1\", 2]}}\n"
        "]}";
    char *dir = write_map(text, sizeof text - 1);
    struct map_problems p = {0};
    load_bad(dir, &p);
    struct expect e[] = {
        {"#0", "not a GeoJSON Feature"},
        {"#1", "missing 'properties' object"},
        {"#2", "id must be a string of 1 to 127 bytes"},
        {"x", "missing geometry"},
        {"y", "coordinates must be [lon, lat] numbers"},
    };
    assert_exactly(&p, "parking.geojson", e, sizeof e / sizeof e[0]);
    map_problems_free(&p);
    drop_map(dir);
}

/* stop_signs.geojson (formats.md): Points with id and stop_id. */
static void test_signs(void)
{
    struct map *m = load_ok(FIX "city");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL_FATAL(m->nsigns, 2);
    const struct map_sign *g = map_sign(m, "sign-s1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_STRING_EQUAL(g->stop_id, "S1");
    CU_ASSERT_STRING_EQUAL(g->name, "芝罘路西 Zhifu Rd West");
    CU_ASSERT_DOUBLE_EQUAL(g->pt.lon, 121.38002, 1e-12);
    CU_ASSERT_PTR_NULL(map_sign(m, "sign-s3")->name);
    CU_ASSERT_PTR_NULL(map_sign(m, "nope"));
    map_free(m);
    /* without the file: no signs, no problem */
    m = load_ok(FIX "ok");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(m->nsigns, 0);
    CU_ASSERT_PTR_NULL(map_sign(m, "sign-s1"));
    map_free(m);
}

static void test_bad_signs(void)
{
    char *dir = write_map2("{\"type\": \"FeatureCollection\", \"features\": [{\"type\": "
                           "\"Feature\", \"properties\": {\"id\": \"l1\", \"name\": \"n\", "
                           "\"totalSpotNumber\": 10}, \"geometry\": {\"type\": \"Point\", "
                           "\"coordinates\": [121.39, 37.54]}}]}", NULL);
    static const char signs[] =
        "{\"type\": \"FeatureCollection\", \"features\": [\n"
        "{\"type\": \"Feature\", \"properties\": {\"id\": \"g1\"},"
        " \"geometry\": {\"type\": \"Point\", \"coordinates\": [121.39, 37.54]}},\n"
        "{\"type\": \"Feature\", \"properties\": {\"id\": \"g2\", \"stop_id\": \"S1\"},"
        " \"geometry\": {\"type\": \"LineString\", \"coordinates\": [[121.39, 37.54], [121.391, 37.54]]}},\n"
        "{\"type\": \"Feature\", \"properties\": {\"id\": \"g3\", \"stop_id\": \"S1\"},"
        " \"geometry\": {\"type\": \"Point\", \"coordinates\": [121.39, 37.54]}},\n"
        "{\"type\": \"Feature\", \"properties\": {\"id\": \"g3\", \"stop_id\": \"S2\"},"
        " \"geometry\": {\"type\": \"Point\", \"coordinates\": [121.39, 37.54]}},\n"
        "{\"type\": \"Feature\", \"properties\": {\"stop_id\": \"S2\"},"
        " \"geometry\": {\"type\": \"Point\", \"coordinates\": [121.39, 37.54]}}\n"
        "]}";
    put_file(dir, "stop_signs.geojson", signs, sizeof signs - 1);
    struct map_problems p = {0};
    load_bad(dir, &p);
    struct expect e[] = {
        {"g1", "missing property 'stop_id'"},
        {"g2", "geometry must be Point, not LineString"},
        {"g3", "duplicate stop sign id"},
        {"#4", "missing property 'id'"},
    };
    assert_exactly(&p, "stop_signs.geojson", e, sizeof e / sizeof e[0]);
    map_problems_free(&p);
    drop_map(dir);
}

static void test_parse_hhmm(void)
{
    CU_ASSERT_EQUAL(map_parse_hhmm("00:00"), 0);
    CU_ASSERT_EQUAL(map_parse_hhmm("07:30"), 450);
    CU_ASSERT_EQUAL(map_parse_hhmm("23:59"), 1439);
    CU_ASSERT_EQUAL(map_parse_hhmm("24:00"), -1);
    CU_ASSERT_EQUAL(map_parse_hhmm("12:60"), -1);
    CU_ASSERT_EQUAL(map_parse_hhmm("7:30"), -1);
    CU_ASSERT_EQUAL(map_parse_hhmm("07:30:00"), -1);
    CU_ASSERT_EQUAL(map_parse_hhmm("07-30"), -1);
    CU_ASSERT_EQUAL(map_parse_hhmm("0a:30"), -1);
    CU_ASSERT_EQUAL(map_parse_hhmm(""), -1);
    CU_ASSERT_EQUAL(map_parse_hhmm(NULL), -1);
}

int suite_map(void)
{
    static CU_TestInfo tests[] = {
        {"ok: lots and tariffs", test_ok_lots},
        {"ok: bays, aisles, connectors, kiosks, screens", test_ok_garage},
        {"ok: intersections and phases", test_ok_intersections},
        {"ok: corridor positions by hand", test_ok_corridor_positions},
        {"ok: projection centre", test_ok_projection_centre},
        {"parking only", test_parking_only},
        {"malformed JSON in both files", test_bad_json},
        {"missing parking.geojson", test_missing_parking},
        {"not a FeatureCollection", test_not_collection},
        {"every parking problem", test_bad_parking},
        {"every corridor problem", test_bad_corridors},
        {"problems accumulate", test_problems_accumulate},
        {"empty map, invalid UTF-8", test_empty_and_invalid_utf8},
        {"feature structure", test_feature_structure},
        {"HH:MM", test_parse_hhmm},
        {"stop signs", test_signs},
        {"every stop sign problem", test_bad_signs},
        {"tariffs by the PUT rules", test_tariff_rules},
        {"absurd strings and numbers", test_absurd_values},
        CU_TEST_INFO_NULL,
    };
    static CU_SuiteInfo suites[] = {
        {.pName = "map", .pTests = tests},
        CU_SUITE_INFO_NULL,
    };
    return CU_register_suites(suites) == CUE_SUCCESS ? 0 : -1;
}
