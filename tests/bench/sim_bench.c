/* sim_bench.c -- citysim's traffic model speed: one simulated hour of a
 * 10-intersection corridor at 1,000 veh/h per direction (plus side
 * streets), against the same model on a single intersection with the same
 * flows (the baseline: per-vehicle cost without a corridor). Figures are
 * the median of several runs; "veh-s/s" is simulated vehicle-seconds in
 * the network per wall-clock second. Target: the hour in under 50 ms. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim.h"

#define RUNS 7

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Four 15-min intervals: 1,000 veh/h entering each corridor direction
 * (80 % through), 200 veh/h per side-street approach. */
static void fill_counts(struct sim_count *c)
{
    static const double per_h[SIM_NMOV] = {
        40, 120, 40,  40, 120, 40,        /* NB, SB */
        100, 800, 100, 100, 800, 100,     /* EB, WB */
    };
    for (int k = 0; k < 4; k++) {
        c[k].start_s = 900.0 * k;
        c[k].length_s = 900;
        for (int m = 0; m < SIM_NMOV; m++)
            c[k].counts[m] = per_h[m] / 4;
    }
}

static void timing(struct sim_timing *t, double offset)
{
    /* Three phases: main street (T+R), main lefts, side street. */
    *t = (struct sim_timing){ .cycle_s = 90, .offset_s = offset, .nphases = 3 };
    t->phases[0] = (struct sim_phase){ (1u << 7) | (1u << 8) | (1u << 10) | (1u << 11), 44, 4, 3600, 0 };
    t->phases[1] = (struct sim_phase){ (1u << 6) | (1u << 9), 10, 4, 1650, 0 };
    t->phases[2] = (struct sim_phase){ 0x3f, 24, 4, 3600, 0 };
}

/* One run of n intersections 400 m apart: wall seconds, vehicle-seconds. */
static int one(size_t n, uint64_t seed, double *wall, double *vs, long *veh)
{
    static struct sim_count counts[4];
    struct sim_isec is[16];
    fill_counts(counts);
    for (size_t i = 0; i < n; i++) {
        is[i] = (struct sim_isec){ .id = "x", .name = "x", .position_m = 400.0 * (double)i,
                                   .counts = counts, .ncounts = 4 };
        timing(&is[i].timing, fmod(29.0 * (double)i, 90));
    }
    struct sim_corridor_opts o = { .speed_mps = 13.9, .outbound = SIM_EB, .duration_s = 3600,
                                   .seed = seed };
    sim_corridor_defaults(&o);     /* the calibrated drivers citysim runs */
    char err[256];
    double t0 = now_s();
    struct sim *s = sim_new(is, n, &o, err, sizeof err);
    if (s == NULL) {
        fprintf(stderr, "sim_bench: %s\n", err);
        return -1;
    }
    sim_advance(s, 3600);
    struct sim_result r;
    sim_result(s, &r);
    *wall = now_s() - t0;
    *vs = r.vehicle_s;
    *veh = r.all.vehicles;
    sim_free(s);
    return 0;
}

static int measure(size_t n, double *ms, double *rate, long *veh)
{
    double w[RUNS], vs = 0;
    for (int k = 0; k < RUNS; k++)
        if (one(n, (uint64_t)k + 1, &w[k], &vs, veh) != 0)
            return -1;
    qsort(w, RUNS, sizeof w[0], cmp);
    *ms = w[RUNS / 2] * 1e3;
    *rate = vs / w[RUNS / 2];
    return 0;
}

int main(void)
{
    double ms10, r10, ms1, r1;
    long v10, v1;
    if (measure(10, &ms10, &r10, &v10) != 0 || measure(1, &ms1, &r1, &v1) != 0)
        return 1;
    printf("%-44s %14s %14s %8s\n", "figure", "10 signals", "1 signal", "ratio");
    printf("%-44s %14.2f %14.2f %8.2f\n", "one simulated hour, wall ms (target < 50)", ms10, ms1,
           ms10 / ms1);
    printf("%-44s %14.3g %14.3g %8.2f\n", "simulated vehicle-seconds per wall second", r10, r1,
           r10 / r1);
    printf("%-44s %14ld %14ld %8s\n", "vehicles through the network in the hour", v10, v1, "");
    return 0;
}
