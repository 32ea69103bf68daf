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
#include <stdlib.h>
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
        is[k].timing.phases[0] = (struct sim_phase){1u << ebt, 30, 30, 1800, 0};
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


/* ---- the driver model (hand-computed cases) ---- */

/* One EB approach at each of n intersections `gap` m apart, one phase
 * green for the whole cycle unless `green` < cycle; counts[k] vehicles in
 * interval k of `len` s at the first intersection. */
struct line {
    struct sim_count c[4];
    struct sim_isec is[3];
};

static void line_init(struct line *L, size_t n, double gap, double cycle, double green,
                      double offset, const double *counts, size_t nc, double len)
{
    int ebt = sim_movement_index("EBT");
    memset(L, 0, sizeof *L);
    for (size_t k = 0; k < nc; k++) {
        L->c[k].start_s = len * (double)k;
        L->c[k].length_s = len;
        for (int m = 0; m < SIM_NMOV; m++)
            L->c[k].counts[m] = -1;
        L->c[k].counts[ebt] = counts[k];
    }
    for (size_t i = 0; i < n; i++) {
        L->is[i].id = i == 0 ? "a" : i == 1 ? "b" : "c";
        L->is[i].position_m = gap * (double)i;
        L->is[i].timing.cycle_s = cycle;
        L->is[i].timing.offset_s = offset;
        L->is[i].timing.nphases = 1;
        L->is[i].timing.phases[0] = (struct sim_phase){1u << ebt, green, cycle - green, 1800, 0};
        L->is[i].counts = L->c;
        L->is[i].ncounts = nc;
    }
}

struct crossing { long veh; char isec; double arrive, cross; };
struct tracelog { struct crossing *x; size_t n, cap; };

static void on_trace(void *arg, const char *line)
{
    struct tracelog *t = arg;
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 256;
        t->x = realloc(t->x, t->cap * sizeof *t->x);
    }
    struct crossing *c = &t->x[t->n];
    char isec[8], mov[8];
    double pos;
    if (sscanf(line, "%ld,%7[^,],%7[^,],%lf,%lf,%lf", &c->veh, isec, mov, &pos, &c->arrive,
               &c->cross) == 6) {
        c->isec = isec[0];
        t->n++;
    }
}

/* Stop rule at v = 10 m/s, a = 2, b = 4, spacing 5 m: a standstill k
 * vehicles back leaves vk = sqrt(20 k) at the line, stopping costs
 * 1.25 + 2.5 - (10 - vk)^2/40 s before the line (1.25 s at k = 0, 2.986 s
 * at k = 1); a queue's start loses v/2a = 2.5 s (start_s 0), h/2 = 1 s of
 * it in the crossing times, 1.5 s after the line for each vehicle that
 * stopped. Two arrivals a cycle (15 and 45 s into it), green 50..58 s:
 * the first waits to 51 (36 s, stops: 37.5 s), the second (one ahead)
 * crosses at 53 (8 s >= 2.986, stops: 9.5 s). */
static struct sim_corridor_opts driver(double warmup)
{
    return (struct sim_corridor_opts){.speed_mps = 10, .outbound = SIM_EB, .duration_s = 600,
                                      .seed = 1, .uniform = true, .accel_mps2 = 2,
                                      .decel_mps2 = 4, .jam_spacing_m = 5, .lanes = 1,
                                      .warmup_s = warmup};
}

static void run_line(struct line *L, size_t n, const struct sim_corridor_opts *o,
                     struct sim_result *r, struct tracelog *t)
{
    char err[160];
    struct sim *s = sim_new(L->is, n, o, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    if (t)
        sim_set_trace(s, on_trace, t);
    sim_advance(s, INFINITY);
    sim_result(s, r);
    sim_free(s);
}

static void test_stop_rule(void)
{
    struct line L;
    double n20[] = {20};
    line_init(&L, 1, 0, 60, 8, 50, n20, 1, 600);
    struct sim_corridor_opts o = driver(0);
    struct sim_result r;
    run_line(&L, 1, &o, &r, NULL);
    CU_ASSERT_EQUAL(r.all.vehicles, 20);
    CU_ASSERT_DOUBLE_EQUAL(r.all.delay_s / 20, (37.5 + 9.5) / 2, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(r.all.stops, 20, 1e-12);
    /* A vehicle 0.2 s short of green crosses h/2 = 1 s into it: a 1.2 s
     * wait is less than the 1.25 s a stop at the line costs -- it slows,
     * no stop, nothing lost after the line. 1 s earlier: a 2.2 s wait
     * is a stop (+1.5 s). With start_s 1 s, 0.5 s. */
    double n10[] = {10};
    line_init(&L, 1, 0, 60, 8, 30.2, n10, 1, 600);
    run_line(&L, 1, &o, &r, NULL);
    CU_ASSERT_DOUBLE_EQUAL(r.all.delay_s / 10, 1.2, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(r.all.stops, 0, 1e-12);
    line_init(&L, 1, 0, 60, 8, 31.2, n10, 1, 600);
    run_line(&L, 1, &o, &r, NULL);
    CU_ASSERT_DOUBLE_EQUAL(r.all.delay_s / 10, 2.2 + 1.5, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(r.all.stops, 10, 1e-12);
    o.start_s = 1;
    run_line(&L, 1, &o, &r, NULL);
    CU_ASSERT_DOUBLE_EQUAL(r.all.delay_s / 10, 2.2 + 0.5, 1e-9);
    o.start_s = 0;
    /* The pure queueing model (accel 0): every wait is a stop, no loss. */
    o.accel_mps2 = 0;
    line_init(&L, 1, 0, 60, 8, 30.2, n10, 1, 600);
    run_line(&L, 1, &o, &r, NULL);
    CU_ASSERT_DOUBLE_EQUAL(r.all.delay_s / 10, 1.2, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(r.all.stops, 10, 1e-12);
}

/* Residual queues (what citysim posts beside the counts): the vehicles
 * left when a green ends. Pure queueing model, one every 5 s (uniform,
 * 2.5 s + 5k), green 50..58 of 60 s at 1800 veh/h: crossings at 51, 53,
 * 55, 57. By 57, 11 have arrived (2.5 ... 52.5) and 4 crossed: 7 left.
 * Next green (110..118): 23 arrived by 117, 8 crossed: 15. With one
 * every 30 s the queue clears each green: 0. */
static void test_residual_queues(void)
{
    struct line L;
    double n[] = {120};
    line_init(&L, 1, 0, 60, 8, 50, n, 1, 600);
    struct sim_corridor_opts o = driver(0);
    o.accel_mps2 = o.decel_mps2 = 0;
    char err[160];
    double q[SIM_NMOV];
    int ebt = sim_movement_index("EBT");
    struct sim *s = sim_new(L.is, 1, &o, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    sim_advance(s, 49);
    sim_residual_queues(s, 0, q);
    CU_ASSERT_DOUBLE_EQUAL(q[ebt], 0, 0);                 /* no green has ended */
    sim_advance(s, 100);
    sim_residual_queues(s, 0, q);
    CU_ASSERT_DOUBLE_EQUAL(q[ebt], 7, 0);
    sim_advance(s, 160);
    sim_residual_queues(s, 0, q);
    CU_ASSERT_DOUBLE_EQUAL(q[ebt], 15, 0);
    sim_free(s);
    double n20[] = {20};
    line_init(&L, 1, 0, 60, 8, 50, n20, 1, 600);
    s = sim_new(L.is, 1, &o, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    sim_advance(s, 160);
    sim_residual_queues(s, 0, q);
    CU_ASSERT_DOUBLE_EQUAL(q[ebt], 0, 0);
    sim_free(s);
}

/* Warm-up: 10 vehicles in [0, 300) (every 30 s), 5 in [300, 600)
 * (every 60 s, 30 s into each cycle: cross at 51, 22.5 s with the stop).
 * With --warmup 300 only the last 5 count, throughput over 300 s. */
static void test_warmup(void)
{
    struct line L;
    double n[] = {10, 5};
    line_init(&L, 1, 0, 60, 8, 50, n, 2, 300);
    struct sim_corridor_opts o = driver(300);
    struct sim_result r;
    run_line(&L, 1, &o, &r, NULL);
    CU_ASSERT_EQUAL(r.all.vehicles, 5);
    CU_ASSERT_DOUBLE_EQUAL(r.all.delay_s / 5, 22.5, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(r.throughput_vph, 5 * 3600.0 / 300, 1e-9);
    o.warmup_s = 0;
    run_line(&L, 1, &o, &r, NULL);
    CU_ASSERT_EQUAL(r.all.vehicles, 15);
    o.warmup_s = 600;
    char err[160];
    CU_ASSERT_PTR_NULL(sim_new(L.is, 1, &o, err, sizeof err));
}

/* Speed persistence: with little traffic and signals always green, each
 * driver covers the 600 m link in exactly twice its 300 m time, drivers
 * differ (sd of the factor 0.1), and nobody is delayed (delay is against
 * the driver's own desired speed). */
static void test_speed_persistence(void)
{
    struct line L;
    double n[] = {20};
    line_init(&L, 3, 0, 60, 60, 0, n, 1, 3600);
    L.is[1].position_m = 300;
    L.is[2].position_m = 900;
    struct sim_corridor_opts o = {.speed_mps = 10, .outbound = SIM_EB, .duration_s = 3600,
                                  .seed = 7, .uniform = true, .speed_dev = 0.1, .lanes = 1};
    struct sim_result r;
    struct tracelog t = {0};
    run_line(&L, 3, &o, &r, &t);
    CU_ASSERT_EQUAL(r.all.vehicles, 20);
    CU_ASSERT_DOUBLE_EQUAL(r.all.delay_s, 0, 1e-6);
    double lo = INFINITY, hi = 0;
    int checked = 0;
    for (size_t k = 0; k < t.n; k++) {
        if (t.x[k].isec != 'a')
            continue;
        double at[3] = {t.x[k].cross, NAN, NAN};
        for (size_t j = k + 1; j < t.n; j++)
            if (t.x[j].veh == t.x[k].veh)
                at[t.x[j].isec - 'a'] = t.x[j].arrive;
        double t1 = at[1] - at[0], t2 = at[2] - at[1];
        CU_ASSERT_DOUBLE_EQUAL(t2, 2 * t1, 2e-3);   /* trace: ms */
        lo = fmin(lo, t1);
        hi = fmax(hi, t1);
        checked++;
    }
    CU_ASSERT_EQUAL(checked, 20);
    /* 20 draws of N(1, 0.1): the speeds spread (30 s at the link speed). */
    CU_ASSERT_TRUE(hi - lo > 2.0);
    CU_ASSERT_TRUE(lo > 30 / 1.5 && hi < 30 / 0.6);
    free(t.x);
}

/* No overtaking within a lane: with one lane, drivers whose speeds differ
 * by 30 % reach the next stop line in the order they left the last one,
 * at least follow_s apart (1 + 7.5/10 = 1.75 s), and some are held back
 * (a fast driver behind a slow one); with two lanes some do pass. With
 * arrivals 1 s apart (uniform, constant speed), the entry is spaced to
 * 1.75 s: the k-th vehicle reaches the line at 0.5 + 1.75 k. */
static int overtakes(int lanes, double *min_gap, long *held)
{
    struct line L;
    double n[] = {600};
    line_init(&L, 2, 500, 60, 60, 0, n, 1, 3600);
    struct sim_corridor_opts o = {.speed_mps = 10, .outbound = SIM_EB, .duration_s = 3600,
                                  .seed = 3, .uniform = true, .speed_dev = 0.3, .lanes = lanes,
                                  .jam_spacing_m = 7.5};
    struct sim_result r;
    struct tracelog t = {0};
    run_line(&L, 2, &o, &r, &t);
    CU_ASSERT_EQUAL(r.all.vehicles, 600);
    /* crossings at a in order; their arrivals at b. */
    long *order = calloc(t.n, sizeof *order);
    double *arr_b = calloc(t.n, sizeof *arr_b);
    size_t na = 0;
    for (size_t k = 0; k < t.n; k++)
        if (t.x[k].isec == 'a')
            order[na++] = t.x[k].veh;
    for (size_t k = 0; k < t.n; k++)
        if (t.x[k].isec == 'b' && t.x[k].veh >= 0 && (size_t)t.x[k].veh < t.n)
            arr_b[t.x[k].veh] = t.x[k].arrive;
    int passed = 0;
    *min_gap = INFINITY;
    *held = 0;
    for (size_t k = 1; k < na; k++) {
        double gap = arr_b[order[k]] - arr_b[order[k - 1]];
        if (gap < 0)
            passed++;
        *min_gap = fmin(*min_gap, gap);
    }
    for (size_t k = 0; k < t.n; k++)
        if (t.x[k].isec == 'b' && fabs(t.x[k].arrive - t.x[k].cross) < 1e-9)
            (*held)++;
    free(order);
    free(arr_b);
    free(t.x);
    return passed;
}

static void test_no_overtaking(void)
{
    double gap;
    long held;
    CU_ASSERT_EQUAL(overtakes(1, &gap, &held), 0);
    CU_ASSERT_TRUE(gap >= 1.75 - 1e-9);
    CU_ASSERT_TRUE(overtakes(2, &gap, &held) > 0);
    /* Entry spacing, constant speed. */
    struct line L;
    double n[] = {60};
    line_init(&L, 1, 0, 60, 60, 0, n, 1, 60);
    struct sim_corridor_opts o = {.speed_mps = 10, .outbound = SIM_EB, .duration_s = 60,
                                  .seed = 1, .uniform = true, .lanes = 1, .jam_spacing_m = 7.5};
    struct sim_result r;
    struct tracelog t = {0};
    run_line(&L, 1, &o, &r, &t);
    CU_ASSERT_EQUAL_FATAL(t.n, 60);
    for (size_t k = 0; k < t.n; k++)
        CU_ASSERT_DOUBLE_EQUAL(t.x[k].arrive, 0.5 + 1.75 * (double)k, 1e-9);
    free(t.x);
}

/* Coordinated-actuated control (sim.h), pure queueing model, uniform
 * arrivals, cycle 60 s: phase 0 (EBT, coordinated) green 0..20, phase 1
 * (NBT, minimum 6 s) scheduled 25..55, 5 s intergreens. EB arrives at
 * 5, 15, ..., 55 s into each cycle (60 in 600 s), h = 2 s.
 * Pretimed, EB red 20..60: +25, +35, +45, +55 cross at 61, 63, 65, 67
 * (36 + 28 + 20 + 12 = 96 s) and the next +5 behind them at 69 (4 s, in
 * nine cycles of ten): 996 s, 16.6 s/veh. No NB traffic: phase 1
 * gaps out at its minimum (31), phase 0 returns at 36, EB red 20..36:
 * +25 crosses at 37 (12 s), +35 at 39 (4 s): 16 s a cycle, 8/3 s/veh;
 * ten gap-outs in the run, 24 s of green passed on each. One NB car
 * at +30 (crosses at once): the green holds for the 3 s passage after it,
 * gaps out at 33, EB red 20..38: 14 + 6 = 20 s a cycle, 10/3 s/veh, NB
 * 0. NB over capacity (its queue never empties): the force-off, as
 * pretimed. */
static void actuated_case(double nb, bool actuated, struct sim_result *r, long *gap_outs,
                          double *unused)
{
    int ebt = sim_movement_index("EBT"), nbt = sim_movement_index("NBT");
    struct sim_count c = {.start_s = 0, .length_s = 600};
    for (int m = 0; m < SIM_NMOV; m++)
        c.counts[m] = -1;
    c.counts[ebt] = 60;
    c.counts[nbt] = nb;
    struct sim_isec is = {.id = "a", .counts = &c, .ncounts = 1};
    is.timing = (struct sim_timing){.cycle_s = 60, .nphases = 2, .coord_phase = 0};
    is.timing.phases[0] = (struct sim_phase){1u << ebt, 20, 5, 1800, 10};
    is.timing.phases[1] = (struct sim_phase){1u << nbt, 30, 5, 1800, 6};
    struct sim_corridor_opts o = {.speed_mps = 10, .outbound = SIM_EB, .duration_s = 600,
                                  .seed = 1, .uniform = true, .actuated = actuated,
                                  .passage_s = 3};
    char err[160];
    struct sim *s = sim_new(&is, 1, &o, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    sim_advance(s, 2000);
    sim_result(s, r);
    *gap_outs = sim_isec_result(s, 0)->gap_outs;
    *unused = sim_isec_result(s, 0)->unused_green_s;
    sim_free(s);
}

static void test_actuated(void)
{
    struct sim_result r;
    long gaps;
    double unused;
    actuated_case(-1, false, &r, &gaps, &unused);
    CU_ASSERT_EQUAL(r.all.vehicles, 60);
    CU_ASSERT_DOUBLE_EQUAL(r.all.delay_s, 996, 1e-9);
    actuated_case(-1, true, &r, &gaps, &unused);
    CU_ASSERT_EQUAL(r.all.vehicles, 60);
    CU_ASSERT_DOUBLE_EQUAL(r.all.delay_s / 60, 8.0 / 3, 1e-9);
    CU_ASSERT_EQUAL(gaps, 10);
    CU_ASSERT_DOUBLE_EQUAL(unused, 240, 1e-9);
    actuated_case(10, true, &r, &gaps, &unused);
    CU_ASSERT_EQUAL(r.dir[2].vehicles, 10);
    CU_ASSERT_DOUBLE_EQUAL(r.dir[2].delay_s, 0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(r.dir[0].delay_s / 60, 10.0 / 3, 1e-9);
    actuated_case(1200, true, &r, &gaps, &unused);
    CU_ASSERT_EQUAL(gaps, 0);
    CU_ASSERT_EQUAL(r.dir[0].vehicles, 60);
    CU_ASSERT_DOUBLE_EQUAL(r.dir[0].delay_s, 996, 1e-9);
    /* No minimums, no intergreens, nobody there: the side street's green
     * lasts the passage time (the detector must see the gap) and the
     * controller goes on deciding when the next phase starts at the very
     * instant the last one ended: a gap-out at 33 s of every cycle. */
    struct sim_count c0 = {.start_s = 0, .length_s = 600};
    for (int m = 0; m < SIM_NMOV; m++)
        c0.counts[m] = -1;
    struct sim_isec lone = {.id = "a", .counts = &c0, .ncounts = 1};
    lone.timing = (struct sim_timing){.cycle_s = 60, .nphases = 2, .coord_phase = 0};
    lone.timing.phases[0] = (struct sim_phase){1u << sim_movement_index("EBT"), 30, 0, 1800, 0};
    lone.timing.phases[1] = (struct sim_phase){1u << sim_movement_index("NBT"), 30, 0, 1800, 0};
    struct sim_corridor_opts lo = {.speed_mps = 10, .duration_s = 600, .actuated = true,
                                   .passage_s = 3};
    char lerr[160];
    struct sim *ls = sim_new(&lone, 1, &lo, lerr, sizeof lerr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ls);
    sim_advance(ls, 600);
    CU_ASSERT_EQUAL(sim_isec_result(ls, 0)->gap_outs, 10);
    CU_ASSERT_DOUBLE_EQUAL(sim_isec_result(ls, 0)->unused_green_s, 270, 1e-9);
    sim_free(ls);
    /* A coordinated phase that is not one of the timing's is refused (an
     * actuated controller rests in it). */
    struct sim_isec is = {.id = "a"};
    is.timing = (struct sim_timing){.cycle_s = 60, .nphases = 1, .coord_phase = -1};
    is.timing.phases[0] = (struct sim_phase){1, 60, 0, 1800, 0};
    struct sim_corridor_opts o = {.speed_mps = 10, .duration_s = 600, .actuated = true,
                                  .passage_s = 3};
    char err[160];
    CU_ASSERT_PTR_NULL(sim_new(&is, 1, &o, err, sizeof err));
    is.timing.coord_phase = 0;
    o.passage_s = 0;
    CU_ASSERT_PTR_NULL(sim_new(&is, 1, &o, err, sizeof err));
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
             CU_add_test(s, "corridor: a green wave is not stopped twice", test_corridor_progression) &&
             CU_add_test(s, "stop rule: hand-computed waits and losses", test_stop_rule) &&
             CU_add_test(s, "residual queues at the end of a green", test_residual_queues) &&
             CU_add_test(s, "warm-up: early vehicles not measured", test_warmup) &&
             CU_add_test(s, "speeds persist per driver", test_speed_persistence) &&
             CU_add_test(s, "no overtaking within a lane", test_no_overtaking) &&
             CU_add_test(s, "actuated: gap-out, passage, force-off", test_actuated));
}
