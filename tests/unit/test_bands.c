/* test_bands.c -- the band evaluator on hand-worked corridors, and against
 * a dense scan of band start times on random corridors. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdint.h>

#include "bands.h"

/* n signals, common cycle, same green both ways starting at the offset. */
static void setup(struct bands_signal *sig, size_t n, const double *off, const double *g)
{
    for (size_t i = 0; i < n; i++)
        sig[i] = (struct bands_signal){ off[i], 0, g[i], 0, g[i] };
}

/* The "alternate system": 4 signals 300 m apart at 10 m/s (30 s), cycle
 * 60 s, 30 s greens, offsets 0/30/0/30 -> 30 s bands both ways. */
static void test_alternate_system(void)
{
    double off[4] = { 0, 30, 0, 30 }, g[4] = { 30, 30, 30, 30 }, tt[3] = { 30, 30, 30 };
    struct bands_signal sig[4];
    setup(sig, 4, off, g);
    struct bands_corridor c = { 4, 60, sig, tt, tt };
    struct band o, i;
    bands_eval(&c, &o, &i);
    CU_ASSERT_TRUE(o.exists);
    CU_ASSERT_TRUE(i.exists);
    CU_ASSERT_DOUBLE_EQUAL(o.width_s, 30, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(i.width_s, 30, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(o.start_s, 0, 1e-9);     /* enters with signal 0's green */
    CU_ASSERT_DOUBLE_EQUAL(i.start_s, 30, 1e-9);    /* enters with signal 3's green */
    /* All offsets 0 instead: arrivals 30 s apart alternate between the
     * start and the end of the greens, so only single trajectories pass
     * (those entering at 0 s or 30 s; windows are closed) -- a zero-width
     * band, reported at the earliest start. */
    double zero[4] = { 0, 0, 0, 0 };
    setup(sig, 4, zero, g);
    bands_eval(&c, &o, &i);
    CU_ASSERT_TRUE(o.exists);
    CU_ASSERT_DOUBLE_EQUAL(o.width_s, 0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(o.start_s, 0, 1e-9);
    /* 25 s greens: not even that. */
    double g25[4] = { 25, 25, 25, 25 };
    setup(sig, 4, zero, g25);
    bands_eval(&c, &o, &i);
    CU_ASSERT_FALSE(o.exists);
    CU_ASSERT_FALSE(i.exists);
    CU_ASSERT_EQUAL(o.width_s, 0);
}

/* Two signals, cycle 100, greens 50, offsets 0 and 20, 10 s travel.
 * Outbound: start B in [0,50] at 0 and B+10 in [20,70] at 1, width
 * min(50-B, 60-B) -> 40 s from B = 10. Inbound: start at signal 1 in
 * [20,70], arrives at 0 at +10 in [0,50] -> width min(70-B, 40-B) -> 20 s
 * from B = 20. */
static void test_two_signals_by_hand(void)
{
    double off[2] = { 0, 20 }, g[2] = { 50, 50 }, tt[1] = { 10 };
    struct bands_signal sig[2];
    setup(sig, 2, off, g);
    struct bands_corridor c = { 2, 100, sig, tt, tt };
    struct band o, i;
    bands_eval(&c, &o, &i);
    CU_ASSERT_DOUBLE_EQUAL(o.width_s, 40, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(o.start_s, 10, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(i.width_s, 20, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(i.start_s, 20, 1e-9);
    /* Different speeds per direction: inbound 30 s -> B in [20,70] and
     * B+30 in [0,50] mod 100: only B = 20 or B = 70, zero-width lines; of
     * equals the earliest after the entry green's start is reported. */
    double tin[1] = { 30 };
    c.in_travel_s = tin;
    bands_eval(&c, &o, &i);
    CU_ASSERT_TRUE(i.exists);
    CU_ASSERT_DOUBLE_EQUAL(i.width_s, 0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(i.start_s, 20, 1e-9);
}

/* Windows that wrap past the cycle end, and offsets given outside [0,C). */
static void test_wraparound(void)
{
    double off[3] = { 50, -5, 175 }, g[3] = { 30, 30, 30 }, tt[2] = { 15, 15 };
    struct bands_signal sig[3];
    setup(sig, 3, off, g);
    struct bands_corridor c = { 3, 60, sig, tt, tt };
    struct band o, i;
    bands_eval(&c, &o, &i);
    /* Windows mod 60: [50,80), [55,85), [55,85). Outbound arrivals B,
     * B+15, B+30: B in [50,80], B+15 in [55,85] -> B in [40,70], B+30 in
     * [55,85]+60k -> B in [25,55] or [85,115]: B in [50,55], width
     * min(80-B, 70-B, 55-B) = 5 at B = 50. */
    CU_ASSERT_DOUBLE_EQUAL(o.width_s, 5, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(o.start_s, 50, 1e-9);
}

/* A direction that never sees red imposes nothing; queue clearance moves
 * the usable window. */
static void test_always_green_and_queue(void)
{
    struct bands_signal sig[3] = {
        { 0, 0, 40, 0, 40 },
        { 17, 0, 60, 0, 60 },          /* always green */
        { 0, 5, 25, 5, 25 },           /* green 30 s, 5 s queue clearance */
    };
    double tt[2] = { 20, 20 };
    struct bands_corridor c = { 3, 60, sig, tt, tt };
    struct band o, i;
    bands_eval(&c, &o, &i);
    /* Outbound: B in [0,40], B+40 in [5,30]+60 -> B in [25,50]: [25,40] -> 15. */
    CU_ASSERT_DOUBLE_EQUAL(o.width_s, 15, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(o.start_s, 25, 1e-9);
    /* Inbound enters at signal 2 in [5,30], reaches 0 at +40 in [0,40]+60:
     * B in [20,60] -> [20,30] -> 10 s. */
    CU_ASSERT_DOUBLE_EQUAL(i.width_s, 10, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(i.start_s, 20, 1e-9);
    /* Everything always green: the band is the whole cycle. */
    struct bands_signal all[2] = { { 0, 0, 60, 0, 60 }, { 3, 0, 60, 0, 60 } };
    struct bands_corridor c2 = { 2, 60, all, tt, tt };
    bands_eval(&c2, &o, &i);
    CU_ASSERT_DOUBLE_EQUAL(o.width_s, 60, 1e-9);
}

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

/* Widest band found by trying start times every `step` s (a lower bound
 * of the exact answer, within `step` of it). */
static double scan_width(size_t n, double C, const double *ws, const double *wl,
                         const double *arr, double step)
{
    double best = -1;
    for (double B = 0; B < C; B += step) {
        double w = C;
        for (size_t k = 0; k < n && w >= 0; k++) {
            double u = fmod(B + arr[k] - ws[k], C);
            if (u < 0)
                u += C;
            w = u <= wl[k] ? fmin(w, wl[k] - u) : -1;
        }
        best = fmax(best, w);
    }
    return best;
}

/* Random corridors: exact evaluator >= dense scan >= exact - step. */
static void test_random_against_scan(void)
{
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    for (int rep = 0; rep < 300; rep++) {
        size_t n = 2 + rng_next(&seed) % 6;
        double C = 40 + 80 * rng_unit(&seed), ws[8], wl[8], arr[8];
        double t = 0;
        for (size_t k = 0; k < n; k++) {
            ws[k] = C * rng_unit(&seed);
            wl[k] = C * (0.3 + 0.5 * rng_unit(&seed));
            arr[k] = t;
            t += 10 + 90 * rng_unit(&seed);
        }
        struct band b;
        bands_eval_dir(n, C, ws, wl, arr, &b);
        double scan = scan_width(n, C, ws, wl, arr, 0.01);
        if (!b.exists) {
            CU_ASSERT(scan < 0);
            continue;
        }
        CU_ASSERT(scan <= b.width_s + 1e-9);
        CU_ASSERT(scan >= b.width_s - 0.0100001);
        /* And the band reported really fits at its start. */
        double w = C;
        for (size_t k = 0; k < n; k++) {
            double u = fmod(b.start_s + arr[k] - ws[k], C);
            if (u < 0)
                u += C;
            if (u > C - 1e-7)
                u = 0;
            CU_ASSERT(u <= wl[k] + 1e-7);
            w = fmin(w, wl[k] - u);
        }
        CU_ASSERT_DOUBLE_EQUAL(w, b.width_s, 1e-7);
    }
}

/* What bounds a band: two signals, C = 60, windows [0, 30) and [10, 40)
 * at the same instant (travel 0): the band is [10, 30): it starts with
 * signal 1's green and ends with signal 0's. A third signal with a 5 s
 * window inside both: the band is that window, bounded by it alone. */
static void test_limits(void)
{
    struct bands_signal sig[3] = {
        {0, 0, 30, 0, 30}, {10, 0, 30, 0, 30}, {15, 0, 5, 0, 5},
    };
    double tt[2] = {0, 0};
    struct bands_corridor c = {2, 60, sig, tt, tt};
    struct band out, in;
    size_t lead, trail;
    bands_eval(&c, &out, &in);
    CU_ASSERT_DOUBLE_EQUAL(out.width_s, 20, 1e-9);
    bands_limits(&c, false, &out, &lead, &trail);
    CU_ASSERT_EQUAL(lead, 1);
    CU_ASSERT_EQUAL(trail, 0);
    bands_limits(&c, true, &in, &lead, &trail);
    CU_ASSERT_EQUAL(lead, 1);
    CU_ASSERT_EQUAL(trail, 0);
    c.n = 3;
    bands_eval(&c, &out, NULL);
    CU_ASSERT_DOUBLE_EQUAL(out.width_s, 5, 1e-9);
    bands_limits(&c, false, &out, &lead, &trail);
    CU_ASSERT_EQUAL(lead, 2);
    CU_ASSERT_EQUAL(trail, 2);
    /* No band: no limits. */
    struct band none = {false, 0, 0};
    bands_limits(&c, false, &none, &lead, &trail);
    CU_ASSERT_EQUAL(lead, (size_t)-1);
}

int suite_bands(void)
{
    CU_pSuite s = CU_add_suite("bands", NULL, NULL);
    if (s == NULL)
        return -1;
    if (!CU_add_test(s, "alternate system", test_alternate_system) ||
        !CU_add_test(s, "two signals by hand", test_two_signals_by_hand) ||
        !CU_add_test(s, "windows across the cycle end", test_wraparound) ||
        !CU_add_test(s, "always green, queue clearance", test_always_green_and_queue) ||
        !CU_add_test(s, "random corridors vs dense scan", test_random_against_scan) ||
        !CU_add_test(s, "what bounds a band", test_limits))
        return -1;
    return 0;
}
