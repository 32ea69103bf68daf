/* test_maxband.c -- the green-wave optimiser: the public "alternate
 * system" check, both exact engines against brute force over integer
 * offsets on small corridors, the two engines against each other with
 * cycle and speed ranges, the answer's own consistency (bands recomputed
 * from the returned timing), queue clearance, the speed-change bound, the
 * one-way fallback and bad input; the time limit and cancellation of a
 * solve, and GLPK solving on several threads at once (its environment is
 * per thread). Timings are in the benchmark, not here. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "maxband.h"

#define NMAX 12

struct corridor {
    size_t n;
    struct maxband_signal sig[NMAX];
    struct maxband_link link[NMAX];
    struct maxband_problem p;
};

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

static int rng_int(uint64_t *s, int lo, int hi)
{
    return lo + (int)(rng_next(s) % (uint64_t)(hi - lo + 1));
}

static void corridor_init(struct corridor *c, size_t n, double cmin, double cmax,
                          enum maxband_objective obj)
{
    memset(c, 0, sizeof(*c));
    c->n = n;
    c->p = (struct maxband_problem){ n, c->sig, c->link, cmin, cmax, NAN, obj, 0,
                                     MAXBAND_METHOD_AUTO };
}

static void set_speed(struct corridor *c, double lo, double hi)
{
    for (size_t i = 0; i + 1 < c->n; i++)
        c->link[i] = (struct maxband_link){ lo, hi, lo, hi };
}

/* n signals 300 m apart at 10 m/s, greens of green_s with queue_s of
 * queue clearance both ways, cycle 60 s. */
static void alternate(struct corridor *c, size_t n, double green_s, double queue_s)
{
    corridor_init(c, n, 60, 60, MAXBAND_EQUAL);
    for (size_t i = 0; i < n; i++) {
        c->sig[i].position_m = 300.0 * (double)i;
        c->sig[i].out = c->sig[i].in = (struct maxband_green){ green_s, 0, queue_s };
    }
    set_speed(c, 10, 10);
}

/* The public check: 4 signals 300 m apart, 10 m/s, cycle 60 s, 30 s
 * greens -> 30 s bands both ways with offsets 0/30/0/30. */
static void test_alternate_system(void)
{
    static const enum maxband_method methods[2] = { MAXBAND_METHOD_DP, MAXBAND_METHOD_MILP };
    for (int m = 0; m < 2; m++) {
        struct corridor c;
        alternate(&c, 4, 30, 0);
        c.p.method = methods[m];
        struct maxband_result r;
        char err[256];
        CU_ASSERT_EQUAL_FATAL(maxband_solve(&c.p, &r, err, sizeof err), 0);
        CU_ASSERT_DOUBLE_EQUAL(r.cycle_s, 60, 1e-12);
        CU_ASSERT_DOUBLE_EQUAL(r.outbound.width_s, 30, 1e-6);
        CU_ASSERT_DOUBLE_EQUAL(r.inbound.width_s, 30, 1e-6);
        CU_ASSERT_DOUBLE_EQUAL(r.efficiency, 0.5, 1e-6);
        CU_ASSERT_TRUE(r.two_way);
        static const double want[4] = { 0, 30, 0, 30 };
        for (int i = 0; i < 4; i++)
            CU_ASSERT_DOUBLE_EQUAL(r.offset_s[i], want[i], 1e-6);
        for (int i = 0; i < 3; i++) {
            CU_ASSERT_DOUBLE_EQUAL(r.out_speed_mps[i], 10, 1e-12);
            CU_ASSERT_DOUBLE_EQUAL(r.in_speed_mps[i], 10, 1e-12);
        }
        maxband_result_free(&r);
    }
}

/* The answer is self-consistent: offsets in [0, C) from signal 0, speeds
 * and cycle in range, bands equal to a fresh evaluation and at least what
 * the solver claimed. */
static void check_answer(const struct maxband_problem *p, const struct maxband_result *r)
{
    CU_ASSERT(r->cycle_s >= p->cycle_min_s - 1e-9 && r->cycle_s <= p->cycle_max_s + 1e-9);
    CU_ASSERT_EQUAL(r->offset_s[0], 0);
    for (size_t i = 0; i < p->n; i++)
        CU_ASSERT(r->offset_s[i] >= 0 && r->offset_s[i] < r->cycle_s);
    for (size_t i = 0; i + 1 < p->n; i++) {
        CU_ASSERT(r->out_speed_mps[i] >= p->link[i].out_min_mps - 1e-9);
        CU_ASSERT(r->out_speed_mps[i] <= p->link[i].out_max_mps + 1e-9);
        CU_ASSERT(r->in_speed_mps[i] >= p->link[i].in_min_mps - 1e-9);
        CU_ASSERT(r->in_speed_mps[i] <= p->link[i].in_max_mps + 1e-9);
    }
    struct band o, in;
    maxband_evaluate(p, r->cycle_s, r->offset_s, r->out_speed_mps, r->in_speed_mps, &o, &in);
    CU_ASSERT_EQUAL(o.exists, r->outbound.exists);
    CU_ASSERT_EQUAL(in.exists, r->inbound.exists);
    CU_ASSERT_DOUBLE_EQUAL(o.width_s, r->outbound.width_s, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(in.width_s, r->inbound.width_s, 1e-12);
    if (r->two_way) {
        CU_ASSERT(r->outbound.width_s >= r->solver_out_s - 1e-4);
        CU_ASSERT(r->inbound.width_s >= r->solver_in_s - 1e-4);
    }
}

/* Random corridor with even integer data (cycle, greens, travel times,
 * queues), fixed cycle and speeds: the optimum then lies on whole-second
 * offsets (the program's constraints are difference constraints with
 * integer data once b and bb are fixed, and its optimum b, bb are integer
 * or, for EQUAL, half of an even integer), so brute force over integer
 * offsets is exact. */
static void random_even(struct corridor *c, uint64_t *seed, enum maxband_objective obj)
{
    size_t n = (size_t)rng_int(seed, 3, 5);
    double C = 2.0 * rng_int(seed, n == 5 ? 12 : 15, n == 5 ? 16 : 25);
    corridor_init(c, n, C, C, obj);
    double x = 0;
    for (size_t i = 0; i < n; i++) {
        c->sig[i].position_m = x;
        x += 10.0 * 2 * rng_int(seed, 1, 30);           /* 10 m/s: even seconds */
        c->sig[i].out.green_s = 2.0 * rng_int(seed, (int)(C / 8), (int)(C / 2.5));
        c->sig[i].in.green_s = 2.0 * rng_int(seed, (int)(C / 8), (int)(C / 2.5));
        if (rng_int(seed, 0, 3) == 0)
            c->sig[i].out.queue_s = 2;
    }
    set_speed(c, 10, 10);
}

static double secondary(enum maxband_objective o, const struct maxband_result *r)
{
    if (o == MAXBAND_OUTBOUND)
        return r->inbound.exists ? r->inbound.width_s : -1;
    if (o == MAXBAND_INBOUND)
        return r->outbound.exists ? r->outbound.width_s : -1;
    return 0;
}

static void test_against_brute_force(void)
{
    uint64_t seed = 0xC0FFEE1234567ull;
    static const enum maxband_method methods[2] = { MAXBAND_METHOD_DP, MAXBAND_METHOD_MILP };
    int checked = 0;
    for (int rep = 0; rep < 24; rep++) {
        enum maxband_objective obj = (enum maxband_objective)(rep % 4);
        struct corridor c;
        random_even(&c, &seed, obj);
        struct maxband_result bf;
        char err[256];
        CU_ASSERT_EQUAL_FATAL(maxband_brute_force(&c.p, 1, &bf, err, sizeof err), 0);
        double want = maxband_objective_value(obj, &bf.outbound, &bf.inbound);
        for (int m = 0; m < 2; m++) {
            c.p.method = methods[m];
            struct maxband_result r;
            CU_ASSERT_EQUAL_FATAL(maxband_solve(&c.p, &r, err, sizeof err), 0);
            check_answer(&c.p, &r);
            CU_ASSERT_DOUBLE_EQUAL(maxband_objective_value(obj, &r.outbound, &r.inbound),
                                   want, 1e-4);
            CU_ASSERT_DOUBLE_EQUAL(secondary(obj, &r), secondary(obj, &bf), 1e-4);
            CU_ASSERT_EQUAL(r.two_way, bf.two_way);
            maxband_result_free(&r);
            checked++;
        }
        maxband_result_free(&bf);
    }
    CU_ASSERT_EQUAL(checked, 48);
}

/* With speed and cycle ranges brute force is out of reach; the DP and the
 * MILP are independent exact methods and must agree (objective in shares
 * of the cycle, the program's units). The lexicographic second band is
 * compared loosely: the MILP holds the first within GLPK's 1e-7. */
static void test_engines_agree_with_ranges(void)
{
    uint64_t seed = 0xDEADBEEF42ull;
    for (int rep = 0; rep < 32; rep++) {
        enum maxband_objective obj = (enum maxband_objective)(rep % 4);
        size_t n = (size_t)rng_int(&seed, 3, 9);
        bool crange = rep % 3 != 0, srange = rep % 3 != 1;
        struct corridor c;
        corridor_init(&c, n, crange ? 60 : 80, crange ? 110 : 80, obj);
        double x = 0;
        for (size_t i = 0; i < n; i++) {
            c.sig[i].position_m = x;
            x += 150 + 650 * rng_unit(&seed);
            if (crange) {
                c.sig[i].out.green_ratio = 0.3 + 0.4 * rng_unit(&seed);
                c.sig[i].in.green_ratio = 0.3 + 0.4 * rng_unit(&seed);
                c.sig[i].in.green_s = rep % 2 ? 3 : 0;
            } else {
                c.sig[i].out.green_s = round(80 * (0.3 + 0.4 * rng_unit(&seed)));
                c.sig[i].in.green_s = round(80 * (0.3 + 0.4 * rng_unit(&seed)));
            }
            c.sig[i].out.queue_s = rng_int(&seed, 0, 4);
            c.sig[i].in.queue_s = rng_int(&seed, 0, 4);
        }
        for (size_t i = 0; i + 1 < n; i++) {
            double lo = 10 + 2 * rng_unit(&seed);
            c.link[i] = srange ? (struct maxband_link){ lo, lo + 3, 10, 14 }
                               : (struct maxband_link){ lo, lo, 12, 12 };
        }
        struct maxband_result a, b;
        char err[256];
        c.p.method = MAXBAND_METHOD_DP;
        CU_ASSERT_EQUAL_FATAL(maxband_solve(&c.p, &a, err, sizeof err), 0);
        c.p.method = MAXBAND_METHOD_MILP;
        CU_ASSERT_EQUAL_FATAL(maxband_solve(&c.p, &b, err, sizeof err), 0);
        check_answer(&c.p, &a);
        check_answer(&c.p, &b);
        double va = maxband_objective_value(obj, &a.outbound, &a.inbound) / a.cycle_s;
        double vb = maxband_objective_value(obj, &b.outbound, &b.inbound) / b.cycle_s;
        CU_ASSERT_DOUBLE_EQUAL(va, vb, 1e-6);
        CU_ASSERT_DOUBLE_EQUAL(secondary(obj, &a) / a.cycle_s,
                               secondary(obj, &b) / b.cycle_s, 2e-3);
        maxband_result_free(&a);
        maxband_result_free(&b);
    }
}

/* Queue clearance comes off the band: the alternate system with 5 s of
 * queue at every stop line gives 25 s bands. */
static void test_queue_clearance(void)
{
    struct corridor c;
    alternate(&c, 4, 30, 5);
    struct maxband_result r;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(maxband_solve(&c.p, &r, err, sizeof err), 0);
    check_answer(&c.p, &r);
    CU_ASSERT_DOUBLE_EQUAL(r.outbound.width_s, 25, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(r.inbound.width_s, 25, 1e-6);
    maxband_result_free(&r);
}

/* A bound on speed changes between links (MILP engine) is honoured. */
static void test_speed_change_bound(void)
{
    uint64_t seed = 77;
    struct corridor c;
    corridor_init(&c, 7, 70, 70, MAXBAND_SUM);
    double x = 0;
    for (size_t i = 0; i < 7; i++) {
        c.sig[i].position_m = x;
        x += 200 + 500 * rng_unit(&seed);
        c.sig[i].out.green_s = c.sig[i].in.green_s = 25 + rng_int(&seed, 0, 15);
    }
    set_speed(&c, 9, 15);
    struct maxband_result free_r, r;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(maxband_solve(&c.p, &free_r, err, sizeof err), 0);
    c.p.speed_change_max_mps = 0.5;
    CU_ASSERT_EQUAL_FATAL(maxband_solve(&c.p, &r, err, sizeof err), 0);
    check_answer(&c.p, &r);
    for (size_t i = 0; i + 2 < 7; i++) {
        CU_ASSERT(fabs(r.out_speed_mps[i + 1] - r.out_speed_mps[i]) <= 0.5 + 1e-6);
        CU_ASSERT(fabs(r.in_speed_mps[i + 1] - r.in_speed_mps[i]) <= 0.5 + 1e-6);
    }
    /* A constraint can only cost bandwidth. */
    CU_ASSERT(r.outbound.width_s + r.inbound.width_s <=
              free_r.outbound.width_s + free_r.inbound.width_s + 1e-4);
    maxband_result_free(&free_r);
    maxband_result_free(&r);
}

/* Short greens: a two-way band that only just exists, and one that does
 * not (then the answer is the best one-way band). */
static void test_one_way_fallback(void)
{
    struct corridor c;
    corridor_init(&c, 2, 60, 60, MAXBAND_EQUAL);
    c.sig[0] = (struct maxband_signal){ 0, { 20, 0, 0 }, { 10, 0, 0 } };
    c.sig[1] = (struct maxband_signal){ 150, { 24, 0, 0 }, { 10, 0, 0 } };
    set_speed(&c, 10, 10);              /* 15 s each way */
    struct maxband_result r;
    char err[256];
    for (int m = 1; m <= 2; m++) {
        c.p.method = (enum maxband_method)m;
        CU_ASSERT_EQUAL_FATAL(maxband_solve(&c.p, &r, err, sizeof err), 0);
        check_answer(&c.p, &r);
        /* Here the two directions meet in a single point (x_0 = 1/3
         * cycle in the DP's terms): two-way, but with zero-width bands.
         * Brute force is the judge. */
        struct maxband_result bf;
        CU_ASSERT_EQUAL_FATAL(maxband_brute_force(&c.p, 1, &bf, err, sizeof err), 0);
        CU_ASSERT_EQUAL(r.two_way, bf.two_way);
        CU_ASSERT_DOUBLE_EQUAL(maxband_objective_value(MAXBAND_EQUAL, &r.outbound, &r.inbound),
                               maxband_objective_value(MAXBAND_EQUAL, &bf.outbound, &bf.inbound),
                               1e-4);
        maxband_result_free(&bf);
        maxband_result_free(&r);
    }
    /* Greens of a third of the cycle spaced so the two directions need
     * offsets half a cycle apart: only one-way progression. */
    corridor_init(&c, 3, 60, 60, MAXBAND_SUM);
    for (size_t i = 0; i < 3; i++) {
        c.sig[i].position_m = 150.0 * (double)i;
        c.sig[i].out.green_s = c.sig[i].in.green_s = 12;
    }
    set_speed(&c, 10, 10);
    CU_ASSERT_EQUAL_FATAL(maxband_solve(&c.p, &r, err, sizeof err), 0);
    CU_ASSERT_FALSE(r.two_way);
    CU_ASSERT_DOUBLE_EQUAL(fmax(r.outbound.width_s, r.inbound.width_s), 12, 1e-6);
    maxband_result_free(&r);
}

/* OUTBOUND puts the outbound band first: it always gets the narrowest
 * outbound green, the inbound band what is left. */
static void test_outbound_first(void)
{
    uint64_t seed = 5;
    for (int rep = 0; rep < 8; rep++) {
        struct corridor c;
        corridor_init(&c, 6, 90, 90, MAXBAND_OUTBOUND);
        double x = 0, gmin = 1e9;
        for (size_t i = 0; i < 6; i++) {
            c.sig[i].position_m = x;
            x += 200 + 600 * rng_unit(&seed);
            c.sig[i].out.green_s = 30 + rng_int(&seed, 0, 30);
            c.sig[i].in.green_s = 30 + rng_int(&seed, 0, 30);
            gmin = fmin(gmin, c.sig[i].out.green_s);
        }
        set_speed(&c, 11, 14);
        struct maxband_result r, e;
        char err[256];
        CU_ASSERT_EQUAL_FATAL(maxband_solve(&c.p, &r, err, sizeof err), 0);
        CU_ASSERT_DOUBLE_EQUAL(r.outbound.width_s, gmin, 1e-6);
        c.p.objective = MAXBAND_EQUAL;
        CU_ASSERT_EQUAL_FATAL(maxband_solve(&c.p, &e, err, sizeof err), 0);
        /* Equal bands never beat the outbound-first outbound band. */
        CU_ASSERT(fmin(e.outbound.width_s, e.inbound.width_s) <= r.outbound.width_s + 1e-6);
        maxband_result_free(&r);
        maxband_result_free(&e);
    }
}

static void expect_error(struct corridor *c, const char *needle)
{
    struct maxband_result r;
    char err[256] = "";
    CU_ASSERT_EQUAL(maxband_solve(&c->p, &r, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, needle));
}

static void test_bad_input(void)
{
    struct corridor c;
    alternate(&c, 3, 30, 0);
    c.sig[2].position_m = 300;                          /* same position */
    expect_error(&c, "intersections[2].position_m");
    c.sig[2].position_m = 100;                          /* out of order */
    expect_error(&c, "intersections[2].position_m");
    c.sig[2].position_m = 600;
    c.sig[1].out.green_s = 61;
    expect_error(&c, "intersections[1].outbound_green_s");
    c.sig[1].out.green_s = 30;
    c.sig[1].in.queue_s = 30;
    expect_error(&c, "intersections[1].queue_clearance_s");
    c.sig[1].in.queue_s = 0;
    c.link[1].in_min_mps = 15;                          /* 15 > 10 */
    expect_error(&c, "speed_range_mps");
    c.link[1].in_min_mps = 10;
    c.p.cycle_min_s = 90;                               /* 90 > 60 */
    expect_error(&c, "cycle_range_s");
    c.p.cycle_min_s = 60;
    c.p.n = 1;
    expect_error(&c, "intersections");
    c.p.n = MAXBAND_MAX_SIGNALS + 1;
    expect_error(&c, "intersections");
    c.p.n = 3;
    c.sig[0].position_m = NAN;
    expect_error(&c, "intersections[0].position_m");
    c.sig[0].position_m = 0;
    /* Brute force refuses what it cannot enumerate exactly. */
    struct maxband_result r;
    char err[256];
    c.p.cycle_max_s = 80;
    CU_ASSERT_EQUAL(maxband_brute_force(&c.p, 1, &r, err, sizeof err), -1);
}

/* ---- limits, cancellation, threads ---- */

/* A big arterial (as tests/bench: 200-800 m blocks, greens 35-65 % of a
 * 60-100 s cycle, 11-14 m/s) with a speed-change bound: the MILP, which
 * cannot prove 64 signals optimal in seconds. */
struct big {
    struct maxband_signal sig[MAXBAND_MAX_SIGNALS];
    struct maxband_link link[MAXBAND_MAX_SIGNALS];
    struct maxband_problem p;
};

static void big_init(struct big *b, size_t n, uint64_t seed, double limit_ms)
{
    double x = 0;
    for (size_t i = 0; i < n; i++) {
        double go = 0.35 + 0.3 * rng_unit(&seed), gi = 0.35 + 0.3 * rng_unit(&seed);
        b->sig[i] = (struct maxband_signal){ x, { 0, go, 0 }, { 0, gi, 0 } };
        x += 200 + 600 * rng_unit(&seed);
        b->link[i] = (struct maxband_link){ 11, 14, 11, 14 };
    }
    b->p = (struct maxband_problem){ n, b->sig, b->link, 60, 100, 1.0, MAXBAND_EQUAL, limit_ms,
                                     MAXBAND_METHOD_AUTO };
}

static double ms_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void test_time_limit(void)
{
    struct big b;
    big_init(&b, 64, 11, 200);
    struct maxband_result r = { 0 };
    char err[256] = "";
    double t0 = ms_now();
    CU_ASSERT_EQUAL(maxband_solve(&b.p, &r, err, sizeof err), MAXBAND_STOPPED);
    double dt = ms_now() - t0;
    CU_ASSERT(dt >= 150 && dt < 2000);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "did not finish within 200 ms"));
    CU_ASSERT_PTR_NULL(r.offset_s);              /* untouched */
    /* The DP's cycle search stops on its clock as well. */
    b.p.speed_change_max_mps = NAN;
    b.p.method = MAXBAND_METHOD_DP;
    b.p.time_limit_ms = 1e-3;
    CU_ASSERT_EQUAL(maxband_solve(&b.p, &r, err, sizeof err), MAXBAND_STOPPED);
}

struct raise_later {
    atomic_int *flag;
    int after_ms;
};

static void *raise_after(void *arg)
{
    struct raise_later *rl = arg;
    struct timespec ts = { rl->after_ms / 1000, (rl->after_ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
    atomic_store(rl->flag, 1);
    return NULL;
}

/* Another thread raises the flag 150 ms into a solve given 60 s. */
static void test_cancel(void)
{
    struct big b;
    big_init(&b, 64, 12, 60000);
    atomic_int flag;
    atomic_init(&flag, 0);
    struct raise_later rl = { &flag, 150 };
    pthread_t t;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, raise_after, &rl), 0);
    struct maxband_result r;
    char err[256] = "";
    double t0 = ms_now();
    CU_ASSERT_EQUAL(maxband_solve_cancel(&b.p, &flag, &r, err, sizeof err), MAXBAND_STOPPED);
    double dt = ms_now() - t0;
    pthread_join(t, NULL);
    CU_ASSERT(dt >= 100 && dt < 2000);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "cancelled"));
    /* A flag already down changes nothing. */
    atomic_store(&flag, 0);
    big_init(&b, 6, 13, 10000);
    CU_ASSERT_EQUAL(maxband_solve_cancel(&b.p, &flag, &r, err, sizeof err), 0);
    maxband_result_free(&r);
}

#define THREAD_PROBLEMS 6

struct solver_thread {
    pthread_t t;
    double value[THREAD_PROBLEMS];
    int failures;
};

static double solve_value(uint64_t seed)
{
    struct big b;
    big_init(&b, 8, seed, 10000);
    b.p.method = MAXBAND_METHOD_MILP;
    struct maxband_result r;
    char err[256];
    if (maxband_solve(&b.p, &r, err, sizeof err) != 0)
        return -1;
    double v = maxband_objective_value(b.p.objective, &r.outbound, &r.inbound) / r.cycle_s;
    maxband_result_free(&r);
    return v;
}

static void *solver_main(void *arg)
{
    struct solver_thread *st = arg;
    for (int k = 0; k < THREAD_PROBLEMS; k++)
        st->value[k] = solve_value(100 + (uint64_t)k);
    maxband_thread_done();
    return NULL;
}

/* GLPK on two threads at once (as the worker pool runs it): the same
 * answers as one after the other on this thread. */
static void test_glpk_threads(void)
{
    double serial[THREAD_PROBLEMS];
    for (int k = 0; k < THREAD_PROBLEMS; k++) {
        serial[k] = solve_value(100 + (uint64_t)k);
        CU_ASSERT(serial[k] >= 0);
    }
    struct solver_thread th[2];
    for (int i = 0; i < 2; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i].t, NULL, solver_main, &th[i]), 0);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i].t, NULL);
        for (int k = 0; k < THREAD_PROBLEMS; k++)
            CU_ASSERT_DOUBLE_EQUAL(th[i].value[k], serial[k], 1e-9);
    }
    maxband_thread_done();                  /* this thread's GLPK too */
}

int suite_maxband(void)
{
    CU_pSuite s = CU_add_suite("maxband", NULL, NULL);
    if (s == NULL)
        return -1;
    if (!CU_add_test(s, "alternate system (public check)", test_alternate_system) ||
        !CU_add_test(s, "DP and MILP vs brute force", test_against_brute_force) ||
        !CU_add_test(s, "DP vs MILP with ranges", test_engines_agree_with_ranges) ||
        !CU_add_test(s, "queue clearance", test_queue_clearance) ||
        !CU_add_test(s, "speed-change bound", test_speed_change_bound) ||
        !CU_add_test(s, "one-way fallback", test_one_way_fallback) ||
        !CU_add_test(s, "outbound first", test_outbound_first) ||
        !CU_add_test(s, "bad input", test_bad_input) ||
        !CU_add_test(s, "time limit", test_time_limit) ||
        !CU_add_test(s, "cancel from another thread", test_cancel) ||
        !CU_add_test(s, "GLPK on two threads", test_glpk_threads))
        return -1;
    return 0;
}
