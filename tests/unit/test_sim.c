/* test_sim.c -- the traffic model against queueing theory.
 *
 * Uniform arrivals must give the deterministic (D/D/1) delay of the fluid
 * model, d = C(1-g/C)^2 / (2(1-q/s)) (Webster's first term; e.g. Mannering,
 * Washburn & Kilareski, "Principles of Highway Engineering and Traffic
 * Analysis", eq. 7.17), exactly when the queue clears on a vehicle boundary.
 * Poisson arrivals must give Webster's delay (Webster 1958, Road Research
 * Technical Paper 39):
 *   d = C(1-l)^2/(2(1-lx)) + x^2/(2q(1-x)) - 0.65 (C/q^2)^(1/3) x^(2+5l)
 * within 10 % for degrees of saturation up to 0.85, averaged over seeds. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sim.h"

static double uniform_delay(double C, double g, double q, double s)
{
    double l = g / C;
    return C * (1 - l) * (1 - l) / (2 * (1 - q / s));
}

static double webster_delay(double C, double g, double qh, double sh)
{
    double l = g / C, q = qh / 3600.0, x = qh / (sh * l);
    return C * (1 - l) * (1 - l) / (2 * (1 - l * x)) + x * x / (2 * q * (1 - x)) -
           0.65 * cbrt(C / (q * q)) * pow(x, 2 + 5 * l);
}

static void test_uniform_exact(void)
{
    /* q = 600 veh/h (6 s headway), s = 1800 veh/h (2 s), C = 60, g = 28:
     * the queue clears exactly at the 8th vehicle of each cycle. */
    struct sim_isolated_opts o = {.flow_vph = 600, .saturation_vph = 1800, .cycle_s = 60,
                                  .green_s = 28, .duration_s = 3600, .seed = 1, .uniform = true};
    struct sim_isolated_result r;
    char err[128];
    CU_ASSERT_EQUAL_FATAL(sim_isolated(&o, &r, err, sizeof err), 0);
    CU_ASSERT_EQUAL(r.vehicles, 600);
    CU_ASSERT_DOUBLE_EQUAL(r.mean_delay_s, uniform_delay(60, 28, 600, 1800), 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(r.mean_delay_s, 12.8, 1e-9);
    /* 8 of every 10 vehicles stop; the queue peaks at the 6th arrival in
     * red plus the one that joins as the first crosses. */
    CU_ASSERT_DOUBLE_EQUAL(r.mean_stops, 0.8, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(r.throughput_vph, 600, 1e-9);
}

static void test_uniform_unaligned(void)
{
    /* Other cases: when the cycle is not a whole number of arrival
     * headways, the arrivals' phase against the red moves from cycle to
     * cycle; the mean stays within half an arrival headway of the fluid
     * model. */
    static const double cases[][4] = {
        {500, 1800, 90, 40}, {720, 1600, 75, 45}, {300, 1900, 120, 30}, {900, 1800, 80, 50},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sim_isolated_opts o = {.flow_vph = cases[i][0], .saturation_vph = cases[i][1],
                                      .cycle_s = cases[i][2], .green_s = cases[i][3],
                                      .duration_s = 36000, .seed = 1, .uniform = true};
        struct sim_isolated_result r;
        char err[128];
        CU_ASSERT_EQUAL_FATAL(sim_isolated(&o, &r, err, sizeof err), 0);
        double want = uniform_delay(o.cycle_s, o.green_s, o.flow_vph, o.saturation_vph);
        double H = 3600.0 / o.flow_vph;
        if (fabs(r.mean_delay_s - want) > H / 2)
            fprintf(stderr, "\ncase %zu: sim %.3f theory %.3f\n", i, r.mean_delay_s, want);
        CU_ASSERT_TRUE(fabs(r.mean_delay_s - want) <= H / 2);
    }
}

static void test_poisson_webster(void)
{
    static const double xs[] = {0.3, 0.5, 0.7, 0.85};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        double C = 60, g = 30, s = 1800, q = xs[i] * s * g / C;
        double sum = 0;
        int seeds = 6;
        for (int seed = 1; seed <= seeds; seed++) {
            struct sim_isolated_opts o = {.flow_vph = q, .saturation_vph = s, .cycle_s = C,
                                          .green_s = g, .duration_s = 200000,
                                          .seed = (uint64_t)seed, .uniform = false};
            struct sim_isolated_result r;
            char err[128];
            CU_ASSERT_EQUAL_FATAL(sim_isolated(&o, &r, err, sizeof err), 0);
            sum += r.mean_delay_s;
        }
        double got = sum / seeds, want = webster_delay(C, g, q, s);
        double rel = fabs(got - want) / want;
        fprintf(stderr, "\n  x=%.2f sim %.2f s, Webster %.2f s (%.1f %%)", xs[i], got, want,
                rel * 100);
        CU_ASSERT_TRUE(rel <= 0.10);
    }
}

static void test_deterministic_seed(void)
{
    struct sim_isolated_opts o = {.flow_vph = 700, .saturation_vph = 1800, .cycle_s = 70,
                                  .green_s = 35, .duration_s = 7200, .seed = 42};
    struct sim_isolated_result a, b, c;
    char err[128];
    sim_isolated(&o, &a, err, sizeof err);
    sim_isolated(&o, &b, err, sizeof err);
    o.seed = 43;
    sim_isolated(&o, &c, err, sizeof err);
    CU_ASSERT_EQUAL(memcmp(&a, &b, sizeof a), 0);
    CU_ASSERT_NOT_EQUAL(a.mean_delay_s, c.mean_delay_s);
}

static void test_bad_parameters(void)
{
    struct sim_isolated_result r;
    char err[128];
    struct sim_isolated_opts o = {.flow_vph = 500, .saturation_vph = 1800, .cycle_s = 60,
                                  .green_s = 70, .duration_s = 3600};
    CU_ASSERT_EQUAL(sim_isolated(&o, &r, err, sizeof err), -1);
    o.green_s = 1;
    CU_ASSERT_EQUAL(sim_isolated(&o, &r, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "headway"));
    o.green_s = 30;
    o.flow_vph = -1;
    CU_ASSERT_EQUAL(sim_isolated(&o, &r, err, sizeof err), -1);
}

/* Two intersections 300 m apart at 10 m/s, through traffic only. With
 * the second offset equal to the travel time (a green wave) nobody stops
 * twice when vehicles keep the free-flow speed, and fewer stop than with
 * the offset half a cycle off when platoons disperse; every vehicle that
 * enters leaves. */
static double corridor_stops_at_b(double offset_b, bool disperse, long *through)
{
    int ebt = sim_movement_index("EBT");
    struct sim_count c[2];
    struct sim_isec is[2];
    memset(c, 0, sizeof c);
    memset(is, 0, sizeof is);
    for (int k = 0; k < 2; k++) {
        c[k].length_s = 3600;
        for (int m = 0; m < SIM_NMOV; m++)
            c[k].counts[m] = -1;
        c[k].counts[ebt] = 300;
        is[k].id = k ? "b" : "a";
        is[k].position_m = 300.0 * k;
        is[k].timing.cycle_s = 60;
        is[k].timing.offset_s = k ? offset_b : 0;
        is[k].timing.nphases = 1;
        is[k].timing.phases[0] = (struct sim_phase){1u << ebt, 30, 30, 1800};
        is[k].counts = &c[k];
        is[k].ncounts = 1;
    }
    struct sim_corridor_opts o = {.speed_mps = 10, .outbound = SIM_EB, .duration_s = 3600,
                                  .seed = 3, .uniform = true, .speed_dev = disperse ? 0.15 : 0};
    char err[128];
    struct sim *s = sim_new(is, 2, &o, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    sim_advance(s, 7200);
    const struct sim_isec_result *a = sim_isec_result(s, 0), *b = sim_isec_result(s, 1);
    CU_ASSERT_EQUAL(a->mov[ebt].vehicles, 300);
    CU_ASSERT_EQUAL(b->mov[ebt].vehicles, 300);
    struct sim_result r;
    sim_result(s, &r);
    *through = r.dir[0].vehicles;
    double stops = b->mov[ebt].stops / (double)b->mov[ebt].vehicles;
    sim_free(s);
    return stops;
}

static void test_corridor_progression(void)
{
    long good_n, bad_n;
    CU_ASSERT_DOUBLE_EQUAL(corridor_stops_at_b(30, false, &good_n), 0.0, 1e-12);
    CU_ASSERT_EQUAL(good_n, 300);
    double bad_free = corridor_stops_at_b(0, false, &bad_n);
    CU_ASSERT_TRUE(bad_free > 0.9);
    double good = corridor_stops_at_b(30, true, &good_n), bad = corridor_stops_at_b(0, true, &bad_n);
    fprintf(stderr, "\n  dispersed platoons, stops/veh at b: offset 30 s %.2f, offset 0 s %.2f",
            good, bad);
    CU_ASSERT_EQUAL(good_n, 300);
    CU_ASSERT_EQUAL(bad_n, 300);
    CU_ASSERT_TRUE(good < 0.8 * bad);
}

int suite_sim(void)
{
    CU_pSuite s = CU_add_suite("sim", NULL, NULL);
    if (s == NULL)
        return -1;
    return !(CU_add_test(s, "uniform arrivals: D/D/1 delay exactly", test_uniform_exact) &&
             CU_add_test(s, "uniform arrivals: within half an arrival headway", test_uniform_unaligned) &&
             CU_add_test(s, "Poisson arrivals: Webster within 10 %", test_poisson_webster) &&
             CU_add_test(s, "same seed, same result", test_deterministic_seed) &&
             CU_add_test(s, "bad parameters rejected", test_bad_parameters) &&
             CU_add_test(s, "corridor: a green wave is not stopped twice", test_corridor_progression));
}
