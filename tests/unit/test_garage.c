/* test_garage.c -- garage graphs and reverse car-finding routes on small
 * hand-made garages whose shortest paths are known (coordinates below in
 * metres east/north of the lot's location). */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "garage.h"

#define LON0 121.39
#define LAT0 37.54
#define MAXF 64

/* A hand-built map with one lot. Strings are literals (never freed). */
struct tmap {
    struct map m;
    struct geo_proj proj;
    struct map_lot lot;
    struct map_bay bays[MAXF];
    struct map_aisle aisles[MAXF];
    struct geo_pt pts[MAXF][8];
    struct map_connector conns[8];
    char *conn_levels[8][4];
    struct map_kiosk kiosks[8];
};

static struct geo_pt at(const struct tmap *t, double x, double y)
{
    return geo_unproject(&t->proj, (struct geo_xy){x, y});
}

static void tm_init(struct tmap *t, char **levels, size_t nlevels)
{
    memset(t, 0, sizeof *t);
    geo_proj_init(&t->proj, LON0, LAT0);
    t->lot = (struct map_lot){.id = "G1", .name = "Garage", .type = "OffStreetParking",
                              .loc = {LON0, LAT0}, .total = 100, .levels = levels,
                              .nlevels = nlevels};
    t->m.lots = &t->lot;
    t->m.nlots = 1;
    t->m.bays = t->bays;
    t->m.aisles = t->aisles;
    t->m.connectors = t->conns;
    t->m.kiosks = t->kiosks;
}

static void tm_aisle(struct tmap *t, char *level, int n, const double (*xy)[2])
{
    struct map_aisle *a = &t->aisles[t->m.naisles];
    for (int i = 0; i < n; i++)
        t->pts[t->m.naisles][i] = at(t, xy[i][0], xy[i][1]);
    *a = (struct map_aisle){.lot = "G1", .level = level, .pts = t->pts[t->m.naisles],
                            .npts = (size_t)n};
    t->m.naisles++;
}

static void tm_seg(struct tmap *t, char *level, double x0, double y0, double x1, double y1)
{
    const double xy[2][2] = {{x0, y0}, {x1, y1}};
    tm_aisle(t, level, 2, xy);
}

static void tm_bay(struct tmap *t, char *id, char *level, double x, double y)
{
    t->bays[t->m.nbays++] = (struct map_bay){.id = id, .lot = "G1", .level = level,
                                             .pt = at(t, x, y)};
}

static void tm_kiosk(struct tmap *t, char *id, char *level, double x, double y)
{
    t->kiosks[t->m.nkiosks++] = (struct map_kiosk){.id = id, .lot = "G1", .level = level,
                                                   .pt = at(t, x, y)};
}

static void tm_conn(struct tmap *t, char *id, char *name, char *type, char *l1, char *l2,
                    char *l3, double x, double y)
{
    size_t i = t->m.nconnectors++;
    t->conn_levels[i][0] = l1;
    t->conn_levels[i][1] = l2;
    t->conn_levels[i][2] = l3;
    t->conns[i] = (struct map_connector){.id = id, .lot = "G1", .name = name,
                                         .connector_type = type, .levels = t->conn_levels[i],
                                         .nlevels = l3 ? 3 : 2, .pt = at(t, x, y)};
}

/* Route and check distance, time, and the step invariants. */
static int route(const struct tmap *t, const char *kiosk, const char *bay, struct garage_route *r,
                 double want_m, double want_s)
{
    struct garages *gs = garages_build(&t->m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(gs);
    const struct garage *g = garages_get(gs, "G1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    char err[256];
    int nf = -1;
    int rc = garage_route(g, kiosk, bay, r, &nf, err, sizeof err);
    CU_ASSERT_EQUAL(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "\nroute %s -> %s: %s\n", kiosk, bay, err);
        garages_free(gs);
        return -1;
    }
    CU_ASSERT_DOUBLE_EQUAL(r->distance_m, want_m, 0.01);
    CU_ASSERT_DOUBLE_EQUAL(r->walk_seconds, want_s, 0.01);
    if (fabs(r->distance_m - want_m) > 0.01 || fabs(r->walk_seconds - want_s) > 0.01)
        fprintf(stderr, "\n%s -> %s: %.3f m %.3f s, want %.3f m %.3f s\n", kiosk, bay,
                r->distance_m, r->walk_seconds, want_m, want_s);
    double sum = 0;
    for (size_t i = 0; i < r->nsteps; i++)
        sum += r->steps[i].distance_m;
    CU_ASSERT_DOUBLE_EQUAL(sum, r->distance_m, 1e-6);
    CU_ASSERT(r->npath >= 2);
    garages_free(gs);
    return 0;
}

static void assert_steps(const struct garage_route *r, const char *const *want, size_t n)
{
    CU_ASSERT_EQUAL(r->nsteps, n);
    for (size_t i = 0; i < n && i < r->nsteps; i++) {
        CU_ASSERT_STRING_EQUAL(r->steps[i].instruction, want[i]);
        if (strcmp(r->steps[i].instruction, want[i]) != 0)
            fprintf(stderr, "\nstep %zu: \"%s\", want \"%s\"\n", i, r->steps[i].instruction,
                    want[i]);
    }
    if (r->nsteps != n)
        for (size_t i = 0; i < r->nsteps; i++)
            fprintf(stderr, "\n  got step %zu: %s (%.1f m, %s)", i, r->steps[i].instruction,
                    r->steps[i].distance_m, r->steps[i].level);
}

static char *LV_G[] = {"G"};
static char *LV_B[] = {"B1", "B2", "B3"};

/* L-shaped aisle (0,0)-(40,0)-(40,30); kiosk 2 m south of its start; bay
 * 2 m east of (40,20): 2 + 40 + 20 + 2 = 64 m. */
static void test_single_level(void)
{
    struct tmap t;
    struct garage_route r;
    tm_init(&t, LV_G, 1);
    const double L[3][2] = {{0, 0}, {40, 0}, {40, 30}};
    tm_aisle(&t, "G", 3, L);
    tm_kiosk(&t, "K1", "G", 0, -2);
    tm_bay(&t, "G-001", "G", 42, 20);
    tm_bay(&t, "G-002", "G", 38, 10);
    if (route(&t, "K1", "G-001", &r, 64, 64 / 1.2) == 0) {
        const char *want[] = {"Walk 42 m along the aisle", "Turn left and walk 20 m",
                              "Your car is at bay G-001 on your right"};
        assert_steps(&r, want, 3);
        CU_ASSERT_STRING_EQUAL(r.steps[0].level, "G");
        CU_ASSERT_STRING_EQUAL(r.steps[1].instruction_zh, "左转，步行20米");
        /* the path starts at the kiosk and ends at the bay */
        struct geo_pt k = at(&t, 0, -2), b = at(&t, 42, 20);
        CU_ASSERT_DOUBLE_EQUAL(r.path[0].lon, k.lon, 1e-9);
        CU_ASSERT_DOUBLE_EQUAL(r.path[r.npath - 1].lat, b.lat, 1e-9);
        CU_ASSERT_EQUAL(r.npath, 5);       /* kiosk, foot, corner, foot, bay */
        json_t *j = garage_route_json(&r, false);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(j, "path"),
                                                                 "type")), "LineString");
        CU_ASSERT_EQUAL(json_array_size(json_object_get(json_object_get(j, "path"),
                                                        "coordinates")), 5);
        CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(j, "distance_m")), 64, 1e-9);
        CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(j, "walk_seconds")), 53.3, 1e-9);
        json_t *s0 = json_array_get(json_object_get(j, "steps"), 0);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(s0, "level")), "G");
        CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(s0, "distance_m")), 42, 1e-9);
        json_decref(j);
        garage_route_free(&r);
    }
    /* bay west of the vertical aisle: on the left when walking north */
    if (route(&t, "K1", "G-002", &r, 2 + 40 + 10 + 2, 54 / 1.2) == 0) {
        CU_ASSERT_STRING_EQUAL(r.steps[r.nsteps - 1].instruction,
                               "Your car is at bay G-002 on your left");
        garage_route_free(&r);
    }
    /* a diagonal shortcut (0,0)-(40,30) wins for a bay near (40,28) */
    tm_seg(&t, "G", 0, 0, 40, 30);
    tm_bay(&t, "G-003", "G", 42, 28);
    if (route(&t, "K1", "G-003", &r, 2 + 50 + 2 + 2, 56 / 1.2) == 0)
        garage_route_free(&r);
}

/* Two levels, a lift at x=0 and stairs at x=60, aisles along y=0. */
static void test_two_levels(void)
{
    struct tmap t;
    struct garage_route r;
    tm_init(&t, LV_B, 2);
    tm_seg(&t, "B1", 0, 0, 60, 0);
    tm_seg(&t, "B2", 0, 0, 60, 0);
    tm_conn(&t, "lift-a", "Lift A", "lift", "B1", "B2", NULL, 0, 0);
    tm_conn(&t, "st-1", NULL, "stairs", "B2", "B1", NULL, 60, 0);
    tm_kiosk(&t, "K1", "B1", 30, -2);
    tm_bay(&t, "B2-055", "B2", 55, 2);
    tm_bay(&t, "B2-005", "B2", 5, 2);
    /* stairs: 2 + 30 + 5 + 2 = 39 m, + 20 s; the lift would be 89 m + 20 s */
    if (route(&t, "K1", "B2-055", &r, 39, 39 / 1.2 + GARAGE_STAIRS_PER_LEVEL_S) == 0) {
        const char *want[] = {"Walk 32 m along the aisle", "Take the stairs from B1 to B2",
                              "Walk 5 m along the aisle", "Your car is at bay B2-055 on your right"};
        assert_steps(&r, want, 4);
        CU_ASSERT_STRING_EQUAL(r.steps[1].level, "B1");
        CU_ASSERT_STRING_EQUAL(r.steps[2].level, "B2");
        CU_ASSERT_STRING_EQUAL(r.steps[1].instruction_zh, "走楼梯从B1到B2");
        garage_route_free(&r);
    }
    /* lift: 39 m + 15 + 5 s */
    if (route(&t, "K1", "B2-005", &r, 39,
              39 / 1.2 + GARAGE_LIFT_WAIT_S + GARAGE_LIFT_PER_LEVEL_S) == 0) {
        const char *want[] = {"Walk 32 m along the aisle", "Take Lift A from B1 to B2",
                              "Walk 5 m along the aisle", "Your car is at bay B2-005 on your left"};
        assert_steps(&r, want, 4);
        CU_ASSERT_STRING_EQUAL(r.steps[1].instruction_zh, "乘坐Lift A从B1到B2");
        garage_route_free(&r);
    }
}

/* Three levels: stairs B1-B2-B3 next to the kiosk, a lift far away. The
 * two flights are one step. */
static void test_three_levels(void)
{
    struct tmap t;
    struct garage_route r;
    tm_init(&t, LV_B, 3);
    for (int i = 0; i < 3; i++)
        tm_seg(&t, LV_B[i], 0, 0, 200, 0);
    tm_conn(&t, "st", NULL, "stairs", "B1", "B2", "B3", 0, 0);
    tm_conn(&t, "lift", "Lift B", "lift", "B1", "B3", "B2", 200, 0);
    tm_kiosk(&t, "K1", "B1", 1, -1);
    tm_bay(&t, "B3-001", "B3", 10, 1);
    if (route(&t, "K1", "B3-001", &r, 1 + 1 + 10 + 1, 13 / 1.2 + 2 * GARAGE_STAIRS_PER_LEVEL_S) == 0) {
        const char *want[] = {"Walk 2 m along the aisle", "Take the stairs from B1 to B3",
                              "Walk 10 m along the aisle", "Your car is at bay B3-001 on your left"};
        assert_steps(&r, want, 4);
        garage_route_free(&r);
    }
    /* near the lift, the lift's single B1-B3 ride (15 + 2 * 5 s) wins */
    tm_kiosk(&t, "K2", "B1", 199, -1);
    tm_bay(&t, "B3-199", "B3", 190, 1);
    if (route(&t, "K2", "B3-199", &r, 1 + 1 + 10 + 1,
              13 / 1.2 + GARAGE_LIFT_WAIT_S + 2 * GARAGE_LIFT_PER_LEVEL_S) == 0) {
        CU_ASSERT_STRING_EQUAL(r.steps[1].instruction, "Take Lift B from B1 to B3");
        garage_route_free(&r);
    }
}

/* Junctions: a T whose stem ends 0.3 m off the bar, and an X crossing
 * with no shared vertex. */
static void test_junctions(void)
{
    struct tmap t;
    struct garage_route r;
    tm_init(&t, LV_G, 1);
    tm_seg(&t, "G", 0, 0, 40, 0);
    tm_seg(&t, "G", 20, 0.3, 20, 30);
    tm_kiosk(&t, "K1", "G", 0, -1);
    tm_bay(&t, "T-1", "G", 22, 25);
    double d = 1 + hypot(20, 0.3) + 24.7 + 2;
    if (route(&t, "K1", "T-1", &r, d, d / 1.2) == 0) {
        const char *want[] = {"Walk 21 m along the aisle", "Turn left and walk 25 m",
                              "Your car is at bay T-1 on your right"};
        assert_steps(&r, want, 3);
        garage_route_free(&r);
    }
    tm_init(&t, LV_G, 1);
    tm_seg(&t, "G", 0, 0, 40, 0);
    tm_seg(&t, "G", 20, -20, 20, 20);
    tm_kiosk(&t, "K1", "G", 0, -1);
    tm_bay(&t, "X-1", "G", 22, 15);
    tm_bay(&t, "X-2", "G", 18, -15);
    if (route(&t, "K1", "X-1", &r, 1 + 20 + 15 + 2, 38 / 1.2) == 0)
        garage_route_free(&r);
    if (route(&t, "K1", "X-2", &r, 1 + 20 + 15 + 2, 38 / 1.2) == 0) {
        CU_ASSERT_STRING_EQUAL(r.steps[1].instruction, "Turn right and walk 15 m");
        CU_ASSERT_STRING_EQUAL(r.steps[2].instruction, "Your car is at bay X-2 on your right");
        garage_route_free(&r);
    }
}

/* A 3 m sideways jog is not two turns; a 3 m link between two parallel
 * aisles is. */
static void test_jog(void)
{
    struct tmap t;
    struct garage_route r;
    tm_init(&t, LV_G, 1);
    const double jog[4][2] = {{0, 0}, {30, 0}, {30, 3}, {45, 3}};
    tm_aisle(&t, "G", 4, jog);
    tm_kiosk(&t, "K1", "G", 0, -1);
    tm_bay(&t, "J", "G", 38, 5);
    if (route(&t, "K1", "J", &r, 1 + 30 + 3 + 8 + 2, 44 / 1.2) == 0) {
        const char *want[] = {"Walk 42 m along the aisle", "Your car is at bay J on your left"};
        assert_steps(&r, want, 2);
        garage_route_free(&r);
    }
    tm_init(&t, LV_G, 1);
    const double u[4][2] = {{0, 0}, {30, 0}, {30, -3}, {0, -3}};
    tm_aisle(&t, "G", 4, u);
    tm_kiosk(&t, "K1", "G", 0, 1);
    tm_bay(&t, "U", "G", 10, -5);
    if (route(&t, "K1", "U", &r, 1 + 30 + 3 + 20 + 2, 56 / 1.2) == 0) {
        const char *want[] = {"Walk 31 m along the aisle", "Turn right and walk 3 m",
                              "Turn right and walk 20 m", "Your car is at bay U on your left"};
        assert_steps(&r, want, 4);
        garage_route_free(&r);
    }
}

/* A 6 x 6 grid of aisles 10 m apart: the shortest walk between opposite
 * corners is the Manhattan distance, whatever the many ties. */
static void test_grid(void)
{
    static struct tmap t;
    struct garage_route r;
    tm_init(&t, LV_G, 1);
    for (int i = 0; i < 6; i++) {
        const double h[6][2] = {{0, i * 10}, {10, i * 10}, {20, i * 10}, {30, i * 10},
                                {40, i * 10}, {50, i * 10}};
        const double v[6][2] = {{i * 10, 0}, {i * 10, 10}, {i * 10, 20}, {i * 10, 30},
                                {i * 10, 40}, {i * 10, 50}};
        tm_aisle(&t, "G", 6, h);
        tm_aisle(&t, "G", 6, v);
    }
    tm_kiosk(&t, "K1", "G", -1, 0);
    tm_bay(&t, "Z", "G", 51, 47);
    tm_bay(&t, "M", "G", 24, 31);
    if (route(&t, "K1", "Z", &r, 1 + 50 + 47 + 1, 99 / 1.2) == 0)
        garage_route_free(&r);
    /* M sits 1 m off the x=24 line? No: nearest aisle is y=30 (1 m). */
    if (route(&t, "K1", "M", &r, 1 + 24 + 30 + 1, 56 / 1.2) == 0)
        garage_route_free(&r);
}

static void test_disconnected_and_check(void)
{
    struct tmap t;
    struct garage_route r;
    char err[256];
    int nf;
    tm_init(&t, LV_B, 3);
    tm_seg(&t, "B1", 0, 0, 50, 0);
    tm_seg(&t, "B1", 0, 20, 50, 20);          /* an island: no connection */
    tm_seg(&t, "B2", 0, 0, 50, 0);            /* no connector reaches B2 */
    tm_kiosk(&t, "K1", "B1", 0, -1);
    tm_bay(&t, "OK", "B1", 10, 1);
    tm_bay(&t, "ISLAND", "B1", 10, 21);
    tm_bay(&t, "UPSTAIRS", "B2", 10, 1);
    tm_bay(&t, "NOAISLE", "B3", 10, 1);
    tm_conn(&t, "c-b3", NULL, "stairs", "B2", "B3", NULL, 50, 0);
    struct garages *gs = garages_build(&t.m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(gs);
    const struct garage *g = garages_get(gs, "G1");
    CU_ASSERT_PTR_NULL(garages_get(gs, "nope"));
    CU_ASSERT_EQUAL(garage_route(g, "K1", "ISLAND", &r, &nf, err, sizeof err), -1);
    CU_ASSERT_EQUAL(nf, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "no walking route"));
    CU_ASSERT_EQUAL(garage_route(g, "K9", "OK", &r, &nf, err, sizeof err), -1);
    CU_ASSERT_EQUAL(nf, 1);
    CU_ASSERT_EQUAL(garage_route(g, "K1", "B9", &r, &nf, err, sizeof err), -1);
    CU_ASSERT_EQUAL(nf, 1);
    CU_ASSERT_EQUAL(garage_route(g, "K1", "OK", &r, &nf, err, sizeof err), 0);
    garage_route_free(&r);
    CU_ASSERT_STRING_EQUAL(garage_bay_level(g, "UPSTAIRS"), "B2");
    CU_ASSERT_PTR_NULL(garage_bay_level(g, "nope"));
    CU_ASSERT(garage_has_kiosk(g, "K1"));
    CU_ASSERT(!garage_has_kiosk(g, "K2"));

    struct map_problems probs = {0};
    size_t n = garages_check(gs, &probs);
    CU_ASSERT_EQUAL(n, 4);
    CU_ASSERT_EQUAL(probs.n, 4);
    const char *want[] = {"ISLAND", "UPSTAIRS", "NOAISLE", "c-b3"};
    for (size_t i = 0; i < 4; i++) {
        bool found = false;
        for (size_t k = 0; k < probs.n; k++)
            found |= strcmp(probs.items[k].feature, want[i]) == 0;
        CU_ASSERT(found);
        if (!found)
            fprintf(stderr, "\nno problem for %s\n", want[i]);
    }
    for (size_t k = 0; k < probs.n; k++)
        CU_ASSERT_STRING_EQUAL(probs.items[k].file, "parking.geojson");
    map_problems_free(&probs);
    garages_free(gs);

    /* aisles but no kiosk; and a lot without walkways has no garage */
    tm_init(&t, LV_G, 1);
    tm_seg(&t, "G", 0, 0, 10, 0);
    tm_bay(&t, "A", "G", 5, 1);
    gs = garages_build(&t.m);
    memset(&probs, 0, sizeof probs);
    CU_ASSERT_EQUAL(garages_check(gs, &probs), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(probs.items[0].message, "no kiosk"));
    map_problems_free(&probs);
    garages_free(gs);
    tm_init(&t, LV_G, 1);
    tm_bay(&t, "A", "G", 5, 1);
    gs = garages_build(&t.m);
    CU_ASSERT_PTR_NULL(garages_get(gs, "G1"));
    memset(&probs, 0, sizeof probs);
    CU_ASSERT_EQUAL(garages_check(gs, &probs), 0);
    garages_free(gs);
}

/* The kiosk and the bay on the same aisle point, and a kiosk placed on
 * an aisle vertex: no zero-length or missing steps. */
static void test_degenerate(void)
{
    struct tmap t;
    struct garage_route r;
    tm_init(&t, LV_G, 1);
    tm_seg(&t, "G", 0, 0, 10, 0);
    tm_kiosk(&t, "K1", "G", 5, -1);
    tm_bay(&t, "B", "G", 5, 1);
    tm_kiosk(&t, "K2", "G", 0, 0);
    if (route(&t, "K1", "B", &r, 2, 2 / 1.2) == 0) {
        const char *want[] = {"Walk 1 m along the aisle", "Your car is at bay B"};
        assert_steps(&r, want, 2);
        garage_route_free(&r);
    }
    if (route(&t, "K2", "B", &r, 6, 6 / 1.2) == 0) {
        const char *want[] = {"Walk 5 m along the aisle", "Your car is at bay B on your left"};
        assert_steps(&r, want, 2);
        json_t *j = garage_route_json(&r, true);
        json_t *c0 = json_array_get(json_object_get(json_object_get(j, "path"), "coordinates"), 0);
        CU_ASSERT(fabs(json_real_value(json_array_get(c0, 0)) - LON0) > 1e-4);   /* GCJ-02 shift */
        json_decref(j);
        garage_route_free(&r);
    }
}

/* Aisles and nothing on them: no kiosk, no bay, no connector (found by
 * tests/fuzz/fuzz_map.c: the empty attachment list went to qsort as NULL,
 * undefined behaviour that UBSan stops on). The lot has a graph, routes
 * to nothing, and --check says it has no kiosk. */
static void test_bare_aisles(void)
{
    struct tmap t;
    tm_init(&t, LV_G, 1);
    tm_seg(&t, "G", 0, 0, 10, 0);
    tm_seg(&t, "G", 10, 0, 10, 10);
    struct garages *gs = garages_build(&t.m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(gs);
    const struct garage *g = garages_get(gs, "G1");
    CU_ASSERT_PTR_NOT_NULL(g);
    struct garage_route r;
    char err[256];
    int nf = 0;
    CU_ASSERT_EQUAL(garage_route(g, "K1", "B", &r, &nf, err, sizeof err), -1);
    CU_ASSERT_EQUAL(nf, 1);
    struct map_problems probs = {0};
    CU_ASSERT(garages_check(gs, &probs) >= 1);
    map_problems_free(&probs);
    garages_free(gs);
}

/* The map loader's fixture garage (two levels, Lift A and stairs). */
static void test_fixture_map(void)
{
    struct map *m = NULL;
    struct map_problems probs = {0};
    if (map_load("tests/fixtures/maps/ok", &m, &probs) != 0) {
        for (size_t i = 0; i < probs.n; i++)
            fprintf(stderr, "\n%s %s: %s", probs.items[i].file, probs.items[i].feature,
                    probs.items[i].message);
        CU_FAIL("fixture map does not load");
        map_problems_free(&probs);
        return;
    }
    struct garages *gs = garages_build(m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(gs);
    CU_ASSERT_EQUAL(garages_check(gs, &probs), 0);
    const struct garage *g = garages_get(gs, "zf-001");
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    struct garage_route r;
    char err[256];
    int nf;
    CU_ASSERT_EQUAL_FATAL(garage_route(g, "k-1", "B2-001", &r, &nf, err, sizeof err), 0);
    bool lift = false;
    for (size_t i = 0; i < r.nsteps; i++)
        lift |= strcmp(r.steps[i].instruction, "Take Lift A from B1 to B2") == 0;
    CU_ASSERT(lift);
    CU_ASSERT(r.distance_m > 5 && r.distance_m < 30);
    CU_ASSERT_STRING_EQUAL(r.steps[r.nsteps - 1].level, "B2");
    garage_route_free(&r);
    map_problems_free(&probs);
    garages_free(gs);
    map_free(m);
}

int suite_garage(void)
{
    CU_pSuite s = CU_add_suite("garage", NULL, NULL);
    if (s == NULL || CU_add_test(s, "single level, turns, shortcut", test_single_level) == NULL ||
        CU_add_test(s, "two levels: stairs or lift", test_two_levels) == NULL ||
        CU_add_test(s, "three levels, one step per ride", test_three_levels) == NULL ||
        CU_add_test(s, "T and X junctions", test_junctions) == NULL ||
        CU_add_test(s, "grid: Manhattan distance", test_grid) == NULL ||
        CU_add_test(s, "jogs and parallel aisles", test_jog) == NULL ||
        CU_add_test(s, "disconnected bays and --check", test_disconnected_and_check) == NULL ||
        CU_add_test(s, "degenerate placements", test_degenerate) == NULL ||
        CU_add_test(s, "aisles and nothing on them", test_bare_aisles) == NULL ||
        CU_add_test(s, "the map loader's fixture", test_fixture_map) == NULL)
        return -1;
    return 0;
}
