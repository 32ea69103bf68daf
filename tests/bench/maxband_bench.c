/* maxband_bench.c -- green-wave optimisation time for corridors of 5, 10,
 * 20 and 40 signals, with a fixed cycle and speed and with cycle and
 * speed ranges: the default engine (corridor DP) beside the baseline, the
 * same program solved by GLPK's branch and bound, on the same random
 * corridors in the same run. Prints rows "figure | cityd | baseline |
 * ratio" for tests/bench/run.sh, and exits non-zero should the two
 * engines disagree on an optimum. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "maxband.h"

#define REPS 12

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) / 9007199254740992.0;
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* A corridor like an urban arterial: 200-800 m blocks, coordinated greens
 * of 35-65 % of the cycle. */
static void corridor(uint64_t *seed, size_t n, int ranges, struct maxband_signal *sig,
                     struct maxband_link *link, struct maxband_problem *p)
{
    double x = 0;
    for (size_t i = 0; i < n; i++) {
        double go = 0.35 + 0.3 * rng_unit(seed), gi = 0.35 + 0.3 * rng_unit(seed);
        sig[i].position_m = x;
        x += 200 + 600 * rng_unit(seed);
        sig[i].out = (struct maxband_green){ ranges ? 0 : round(80 * go), ranges ? go : 0, 0 };
        sig[i].in = (struct maxband_green){ ranges ? 0 : round(80 * gi), ranges ? gi : 0, 0 };
    }
    for (size_t i = 0; i + 1 < n; i++)
        link[i] = ranges ? (struct maxband_link){ 11, 14, 11, 14 }
                         : (struct maxband_link){ 12.5, 12.5, 12.5, 12.5 };
    *p = (struct maxband_problem){ n, sig, link, ranges ? 60 : 80, ranges ? 100 : 80, NAN,
                                   MAXBAND_EQUAL, 60000, MAXBAND_METHOD_AUTO };
}

struct stat {
    double sum, max;
};

static int run(struct maxband_problem *p, enum maxband_method m, struct stat *st, double *obj)
{
    struct maxband_result r;
    char err[256];
    p->method = m;
    double t0 = now_ms();
    if (maxband_solve(p, &r, err, sizeof err) != 0) {
        fprintf(stderr, "bench: %s\n", err);
        return -1;
    }
    double dt = now_ms() - t0;
    st->sum += dt;
    st->max = fmax(st->max, dt);
    *obj = maxband_objective_value(p->objective, &r.outbound, &r.inbound) / r.cycle_s;
    maxband_result_free(&r);
    return 0;
}

int main(void)
{
    static const size_t sizes[] = { 5, 10, 20, 40 };
    int bad = 0;
    for (int ranges = 0; ranges < 2; ranges++) {
        for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
            size_t n = sizes[k];
            uint64_t seed = 0x5EED0000u + n * 7 + (uint64_t)ranges;
            struct maxband_signal sig[40];
            struct maxband_link link[40];
            struct maxband_problem p;
            struct stat dp = { 0, 0 }, milp = { 0, 0 };
            for (int rep = 0; rep < REPS; rep++) {
                double a, b;
                corridor(&seed, n, ranges, sig, link, &p);
                if (run(&p, MAXBAND_METHOD_AUTO, &dp, &a) || run(&p, MAXBAND_METHOD_MILP, &milp, &b))
                    return 1;
                if (fabs(a - b) > 1e-6) {
                    fprintf(stderr, "bench: engines disagree (n=%zu): %.9f vs %.9f\n", n, a, b);
                    bad = 1;
                }
            }
            char name[64];
            snprintf(name, sizeof name, "greenwave n=%zu %s ms mean", n,
                     ranges ? "cycle+speed ranges" : "fixed cycle+speed");
            printf("%-44s %14.3f %14.3f %8.2f\n", name, dp.sum / REPS, milp.sum / REPS,
                   (dp.sum / REPS) / (milp.sum / REPS));
            snprintf(name, sizeof name, "greenwave n=%zu %s ms max", n,
                     ranges ? "cycle+speed ranges" : "fixed cycle+speed");
            printf("%-44s %14.3f %14.3f %8.2f\n", name, dp.max, milp.max, dp.max / milp.max);
            fflush(stdout);
        }
    }
    return bad;
}
