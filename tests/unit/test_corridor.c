/* test_corridor.c -- the corridor timing rules shared by cityd's plans,
 * its controllers and citysim (corridor.c), on the demo map maps/yantai:
 * the common cycle is the largest own Webster cycle (hand-computed for
 * nd-01 below) within every intersection's bounds, the split at a cycle
 * fills it with the minimums held, and a plan's split imposes the
 * coordinated greens and re-splits the rest. Run from the repo root. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "corridor.h"
#include "map.h"

static struct map *demo;

static int suite_init(void)
{
    struct map_problems p = { 0 };
    int rc = map_load("maps/yantai", &demo, &p);
    map_problems_free(&p);
    return rc;
}

static int suite_clean(void)
{
    map_free(demo);
    return 0;
}

static const struct map_intersection *isec(const char *id)
{
    const struct map_intersection *x = map_intersection(demo, id);
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    return x;
}

/* Minimum of map phase k: min_green_s, or the pedestrian green on a
 * through phase (7 s walk + crossing / 1.2 m/s). */
static double phase_min(const struct map_intersection *x, size_t k)
{
    double ped = corridor_serves_through(&x->phases[k])
                     ? 7.0 + x->pedestrian_crossing_m / 1.2 : 0;
    return fmax(x->phases[k].min_green_s, ped);
}

/* Own Webster cycle of x as the rules define it (via the split's cycle). */
static double own_cycle(const struct map_intersection *x)
{
    struct signals_webster_in w;
    struct signals_phase_in ph[SIGNALS_MAX_PHASES];
    struct signals_phase_out po[SIGNALS_MAX_PHASES];
    struct signals_webster_out o;
    corridor_webster_in(x, &w, ph, NAN);
    CU_ASSERT_EQUAL_FATAL(signals_webster(&w, &o, po, NULL, 0), 0);
    return o.cycle_s;
}

static void test_webster_input(void)
{
    /* nd-01: Y = 980/3600 + 210/1650 + 620/3600 = 0.5717, Webster
     * (1.5*12 + 5)/(1 - Y) = 53.7 s; but both through phases carry a 24 m
     * crossing: 7 + 24/1.2 = 27 s each, + 8 s left turn + 12 s lost time
     * = 74 s, the cycle the minimums need. */
    CU_ASSERT_DOUBLE_EQUAL(own_cycle(isec("nd-01")), 74.0, 1e-9);
    CU_ASSERT_EQUAL(corridor_phase_of(isec("nd-01"), "EBT"), 0);
    CU_ASSERT_EQUAL(corridor_phase_of(isec("nd-01"), "EBL"), 1);
    CU_ASSERT_EQUAL(corridor_phase_of(isec("nd-01"), "XYZ"), -1);
    CU_ASSERT_EQUAL(corridor_compass(0), 'N');
    CU_ASSERT_EQUAL(corridor_compass(-100), 'W');
    CU_ASSERT_EQUAL(corridor_compass(135), 'S');
    CU_ASSERT_EQUAL(corridor_opposite('E'), 'W');
}

static void test_common_cycle(void)
{
    for (size_t ci = 0; ci < demo->ncorridors; ci++) {
        const struct map_corridor *c = &demo->corridors[ci];
        double C = NAN, want = 0, lo = 0, hi = INFINITY;
        char err[256];
        CU_ASSERT_EQUAL_FATAL(corridor_common_cycle(demo, c, &C, err, sizeof err), 0);
        for (size_t i = 0; i < c->nisecs; i++) {
            const struct map_intersection *x = isec(c->isecs[i]);
            want = fmax(want, own_cycle(x));
            lo = fmax(lo, x->cycle_min_s);
            hi = fmin(hi, x->cycle_max_s);
            /* Every intersection of the demo corridors runs eastbound. */
            CU_ASSERT_EQUAL(corridor_outbound_dir(demo, c, i), 'E');
        }
        CU_ASSERT_DOUBLE_EQUAL(C, fmin(fmax(want, lo), hi), 1e-9);
        CU_ASSERT(C >= lo && C <= hi);
    }
}

static void test_split(void)
{
    const struct map_intersection *x = isec("nd-02");
    double g[SIGNALS_MAX_PHASES], sum = 0;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(corridor_split(x, 120, g, err, sizeof err), 0);
    for (size_t k = 0; k < x->nphases; k++) {
        sum += g[k];
        CU_ASSERT(g[k] >= phase_min(x, k) - 1e-9);
    }
    CU_ASSERT_DOUBLE_EQUAL(sum, 120 - x->lost_time_s, 1e-9);
    /* The two left-turn phases (1, 3) are above their minimum: split in
     * proportion to their flow ratios. */
    double y1 = x->phases[1].design_flow / x->phases[1].saturation_flow;
    double y3 = x->phases[3].design_flow / x->phases[3].saturation_flow;
    CU_ASSERT_DOUBLE_EQUAL(g[1] / g[3], y1 / y3, 1e-9);
    /* A cycle too short for the minimums: an error naming the signal. */
    CU_ASSERT_EQUAL(corridor_split(x, 60, g, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "intersection 'nd-02' at a 60 s cycle"));
}

static void test_plan_split(void)
{
    /* nd-05 at 113 s: no phase of it is at its minimum. */
    const struct map_intersection *x = isec("nd-05");
    double web[SIGNALS_MAX_PHASES], g[SIGNALS_MAX_PHASES];
    char err[256];
    CU_ASSERT_EQUAL_FATAL(corridor_split(x, 113, web, err, sizeof err), 0);
    for (size_t k = 0; k < x->nphases; k++)
        CU_ASSERT(web[k] > phase_min(x, k) + 5);
    /* The Webster greens imposed: the Webster split back. */
    CU_ASSERT_EQUAL_FATAL(corridor_plan_split(x, 113, 0, web[0], 0, web[0], g, err, sizeof err),
                          0);
    for (size_t k = 0; k < x->nphases; k++)
        CU_ASSERT_DOUBLE_EQUAL(g[k], web[k], 1e-9);
    /* 10 s more for the coordinated phase: taken from the others in
     * proportion to their Webster greens. */
    CU_ASSERT_EQUAL_FATAL(corridor_plan_split(x, 113, 0, web[0] + 10, -1, NAN, g, err,
                                              sizeof err), 0);
    double others = 0, sum = 0;
    for (size_t k = 1; k < x->nphases; k++)
        others += web[k];
    CU_ASSERT_DOUBLE_EQUAL(g[0], web[0] + 10, 1e-9);
    for (size_t k = 0; k < x->nphases; k++) {
        sum += g[k];
        if (k > 0)
            CU_ASSERT_DOUBLE_EQUAL(g[k], web[k] * (others - 10) / others, 1e-9);
    }
    CU_ASSERT_DOUBLE_EQUAL(sum, 113 - x->lost_time_s, 1e-9);
    /* Squeezed: the others held at their minimums (8 s left turn, 16 s
     * side road), as long as they fit. */
    CU_ASSERT_EQUAL_FATAL(corridor_plan_split(x, 113, 0, 75, -1, NAN, g, err, sizeof err), 0);
    CU_ASSERT_DOUBLE_EQUAL(g[1] + g[2], 113 - 12 - 75, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(g[2], 16, 1e-9);
    CU_ASSERT_EQUAL(corridor_plan_split(x, 113, 0, 80, -1, NAN, g, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "intersection 'nd-05': the coordinated greens leave"));
    CU_ASSERT_EQUAL(corridor_plan_split(x, 113, 0, 0, -1, NAN, g, err, sizeof err), -1);
}

int suite_corridor(void)
{
    CU_pSuite s = CU_add_suite("corridor timing rules", suite_init, suite_clean);
    if (s == NULL ||
        !CU_add_test(s, "design-flow Webster of an intersection", test_webster_input) ||
        !CU_add_test(s, "common cycle: largest Webster cycle within the bounds",
                     test_common_cycle) ||
        !CU_add_test(s, "split at a cycle", test_split) ||
        !CU_add_test(s, "a plan's split", test_plan_split))
        return 1;
    return 0;
}
