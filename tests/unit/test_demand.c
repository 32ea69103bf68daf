/* test_demand.c -- the demand models of `citysim city` (demand.h): the
 * profiles integrate to their daily totals, a car park never holds more
 * cars than it has spaces nor fewer than none, every car that enters
 * leaves or is flagged, plates are valid and distinct, the random stream
 * repeats per seed. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "demand.h"
#include "plate.h"

#define OFF (8 * 3600.0)           /* Asia/Shanghai */
/* 2026-12-07 00:00 Shanghai, a Monday */
#define MONDAY (1796601600.0 - OFF)

static void test_profile_integrates(void)
{
    for (int c = 0; c < DEMAND_NCLASSES; c++) {
        for (int dow = 0; dow < 7; dow++) {
            /* Monday is dow 1; day k after it has dow (1 + k) % 7. */
            double day0 = MONDAY + OFF + 86400.0 * ((dow + 6) % 7);
            CU_ASSERT_EQUAL(demand_dow(day0), dow);
            double total = demand_daily_arrivals((enum demand_class)c, dow);
            double integral = demand_arrivals_between((enum demand_class)c, day0, day0 + 86400);
            double stepped = 0;
            for (double t = day0; t < day0 + 86400; t += 7)   /* steps across slot edges */
                stepped += demand_arrivals_between((enum demand_class)c, t,
                                                   fmin(t + 7, day0 + 86400));
            CU_ASSERT(total > 0.1 && total < 30);   /* kerb: 16-20 cars a space a day */
            CU_ASSERT_DOUBLE_EQUAL(integral, total, 1e-9 * total);
            CU_ASSERT_DOUBLE_EQUAL(stepped, total, 1e-9 * total);
        }
    }
    for (int dow = 0; dow < 7; dow++) {
        double day0 = MONDAY + OFF + 86400.0 * ((dow + 6) % 7);
        CU_ASSERT_DOUBLE_EQUAL(demand_signal_between(day0, day0 + 86400), 1.0, 1e-4);
    }
}

/* A day of a 400-space lot, in 10 s steps: the cars that came match the
 * profile's total within sampling error, occupancy stays in [0, capacity]
 * and the bays taken match the cars that have one. */
static int seen_max, seen_min;
static void on_any(void *arg, struct demand_lot *l, const struct demand_car *c)
{
    (void)arg;
    (void)c;
    if (l->ncars > seen_max)
        seen_max = l->ncars;
    if (l->ncars < seen_min)
        seen_min = l->ncars;
}

static void run_day(enum demand_class cls, int capacity, int nbays, double *expected, long *got,
                    struct demand_lot *l, struct demand_plates *p)
{
    struct demand_rng r;
    demand_rng_seed(&r, 42, (uint64_t)cls);
    struct demand_sink s = { on_any, on_any, NULL, NULL };
    CU_ASSERT_EQUAL_FATAL(demand_lot_init(l, cls, capacity, nbays), 0);
    double t0 = MONDAY;
    demand_lot_prefill(l, p, &r, t0, OFF, &s);
    *expected = 0;
    for (double t = t0; t < t0 + 86400; t += 10) {
        demand_lot_step(l, p, &r, t, t + 10, OFF, &s);
        *expected += demand_arrivals_between(cls, t + OFF, t + 10 + OFF) * capacity;
        CU_ASSERT(l->ncars >= 0 && l->ncars <= l->capacity);
        int taken = 0, with_bay = 0;
        for (int b = 0; b < l->nbays; b++)
            taken += l->bay_taken[b];
        for (int i = 0; i < l->ncars; i++)
            with_bay += l->cars[i].bay >= 0;
        if (taken != with_bay) {
            CU_FAIL("bays taken != cars with a bay");
            break;
        }
    }
    *got = l->arrivals + l->refused;
}

static void test_lot_day(void)
{
    struct demand_plates p;
    struct demand_rng r;
    demand_rng_seed(&r, 1, 99);
    CU_ASSERT_EQUAL_FATAL(demand_plates_init(&p, 20000, &r), 0);
    for (int c = 0; c < DEMAND_NCLASSES; c++) {
        struct demand_lot l;
        double expected;
        long got;
        seen_max = 0;
        seen_min = 1 << 30;
        run_day((enum demand_class)c, 400, c == DEMAND_SHOPPING ? 120 : 0, &expected, &got, &l,
                &p);
        /* Poisson: within 4 standard deviations of the integral */
        CU_ASSERT(fabs((double)got - expected) < 4 * sqrt(expected) + 1);
        CU_ASSERT(seen_max <= 400 && seen_min >= 0);
        demand_lot_finish(&l, MONDAY + 86400);
        /* every car that entered left or is flagged as still parked */
        CU_ASSERT_EQUAL(l.prefilled + l.arrivals, l.departures + l.open_at_end);
        for (int i = 0; i < l.ncars; i++)
            CU_ASSERT(l.cars[i].flags & DEMAND_CAR_OPEN);
        int parked = 0;
        for (size_t i = 0; i < p.n; i++)
            parked += p.parked[i];
        CU_ASSERT_EQUAL(parked, l.ncars);
        for (int i = 0; i < l.ncars; i++)
            demand_plates_release(&p, l.cars[i].plate);
        demand_lot_free(&l);
    }
    demand_plates_free(&p);
}

/* A lot too small for its demand turns drivers away instead of
 * overfilling. */
static void test_full_lot_refuses(void)
{
    struct demand_plates p;
    struct demand_rng r;
    struct demand_lot l;
    demand_rng_seed(&r, 3, 0);
    CU_ASSERT_EQUAL_FATAL(demand_plates_init(&p, 1000, &r), 0);
    CU_ASSERT_EQUAL_FATAL(demand_lot_init(&l, DEMAND_OFFICE, 5, 5), 0);
    for (double t = MONDAY + 7 * 3600; t < MONDAY + 11 * 3600; t += 60) {
        /* a burst: many times the profile in each step */
        for (int k = 0; k < 50; k++)
            demand_lot_step(&l, &p, &r, t, t + 60, OFF, NULL);
        CU_ASSERT(l.ncars <= 5);
    }
    CU_ASSERT(l.refused > 0);
    demand_lot_free(&l);
    demand_plates_free(&p);
}

static void test_plates(void)
{
    char a[32], b[32];
    for (size_t i = 0; i < 5000; i++) {
        demand_plate_name(i, a, sizeof a);
        char canon[PLATE_MAX], err[160];
        if (plate_normalize(a, canon, sizeof canon, NULL, err, sizeof err) != 0 ||
            strcmp(canon, a) != 0) {
            CU_FAIL(a);
            break;
        }
        demand_plate_name(i + 1, b, sizeof b);
        CU_ASSERT(strcmp(a, b) != 0);
    }
}

static void test_rng_repeats(void)
{
    struct demand_rng a, b, c;
    demand_rng_seed(&a, 7, 1);
    demand_rng_seed(&b, 7, 1);
    demand_rng_seed(&c, 7, 2);
    int same = 1, differ = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = demand_rng_next(&a);
        same &= x == demand_rng_next(&b);
        differ |= x != demand_rng_next(&c);
    }
    CU_ASSERT(same && differ);
    double sum = 0;
    for (int i = 0; i < 20000; i++)
        sum += demand_rng_poisson(&a, 3.5);
    CU_ASSERT_DOUBLE_EQUAL(sum / 20000, 3.5, 0.1);
}

/* Sensors mostly report the truth; faults are rare and end. */
static void test_sensor_faults(void)
{
    struct demand_rng r;
    struct demand_lot l;
    demand_rng_seed(&r, 5, 0);
    CU_ASSERT_EQUAL_FATAL(demand_lot_init(&l, DEMAND_CENTRE, 100, 0), 0);
    int silent = 0, truth = 0, n = 0;
    for (double t = MONDAY; t < MONDAY + 30 * 86400; t += 120, n++) {
        int v = demand_lot_sensor(&l, &r, t, 120);
        silent += v < 0;
        truth += v == 100;
    }
    CU_ASSERT(silent > 0 && silent < n / 50);
    CU_ASSERT(truth > n * 0.95);
    demand_lot_free(&l);
}

int suite_demand(void)
{
    CU_pSuite s = CU_add_suite("demand", NULL, NULL);
    if (s == NULL)
        return -1;
    if (!CU_add_test(s, "profile_integrates", test_profile_integrates) ||
        !CU_add_test(s, "lot_day", test_lot_day) ||
        !CU_add_test(s, "full_lot_refuses", test_full_lot_refuses) ||
        !CU_add_test(s, "plates", test_plates) ||
        !CU_add_test(s, "rng_repeats", test_rng_repeats) ||
        !CU_add_test(s, "sensor_faults", test_sensor_faults))
        return -1;
    return 0;
}
