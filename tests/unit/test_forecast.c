/* test_forecast.c -- the occupancy forecast model on synthetic histories
 * whose profile is known: it must recover the profile, carry a deviation
 * for a while, give an 80 % interval that holds the truth about that
 * often, start wide without history, survive a save and load, and
 * average review periods. Zone Asia/Shanghai (UTC+8). */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forecast.h"
#include "tz.h"

/* Monday 2025-12-01 00:00 +08:00 */
#define MON0 (1764547200.0 - 8 * 3600)
#define DAY 86400.0

/* The known profile: weekdays a morning rise to 0.85 at 11:00-16:00 and
 * an evening fall; weekends a flatter 0.45 hump; nights 0.1. */
static double truth(double ts)
{
    double l = ts - MON0;
    int dow = (int)floor(fmod(l / DAY, 7));
    double h = fmod(l, DAY) / 3600;
    if (dow >= 5)
        return 0.1 + 0.35 * exp(-pow((h - 14) / 3.5, 2));
    if (h < 7 || h >= 21)
        return 0.1;
    if (h < 11)
        return 0.1 + 0.75 * (h - 7) / 4;
    if (h < 16)
        return 0.85;
    return 0.85 - 0.75 * (h - 16) / 5;
}

/* A small deterministic wobble, so residuals are not all zero. */
static double noise(unsigned *seed)
{
    return ((double)(rand_r(seed) % 2001) / 1000.0 - 1.0) * 0.02;
}

static struct tz *zone(void)
{
    char err[256];
    struct tz *z = tz_load("Asia/Shanghai", NULL, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL(z);
    return z;
}

/* Feed weeks of the profile every 5 minutes. */
static void feed(struct forecast *f, const struct forecast_config *c, double from, double to,
                 double offset, unsigned *seed)
{
    for (double t = from; t < to; t += 300)
        forecast_observe(f, c, t, truth(t) + offset + noise(seed));
}

static void test_recovers_profile(void)
{
    struct tz *z = zone();
    struct forecast_config c = {.tz = z, .period_s = 7 * DAY};
    struct forecast *f = forecast_new();
    unsigned seed = 7;
    feed(f, &c, MON0, MON0 + 8 * 7 * DAY, 0, &seed);
    double worst = 0, sum = 0, wt = 0;
    int cnt = 0;
    for (double t = MON0 + 56 * DAY; t < MON0 + 63 * DAY; t += 1800) {
        double e = fabs(forecast_profile(f, &c, t) - truth(t));
        if (e > worst)
            worst = e, wt = t;
        sum += e;
        cnt++;
    }
    /* Hour cells with linear interpolation cost up to 0.05 at the corners
     * of this profile (07:00, 11:00); the cells' shrinking towards the
     * hour of any day (weekdays and weekends alike) a little more. */
    CU_ASSERT(worst < 0.09);
    CU_ASSERT(sum / cnt < 0.02);
    if (worst >= 0.09 || sum / cnt >= 0.02)
        fprintf(stderr, "\nprofile: worst error %.3f at +%.1f h, mean %.4f\n", worst,
                (wt - MON0 - 56 * DAY) / 3600, sum / cnt);
    /* Forecasts from an observation in week 5, 15 min .. 4 h ahead, and
     * their intervals: near the truth, holding it about 80 % of the time. */
    double err = 0, n = 0, inside = 0, width = 0;
    for (double t = MON0 + 56 * DAY; t < MON0 + 63 * DAY; t += 300) {
        forecast_observe(f, &c, t, truth(t) + noise(&seed));
        for (int k = 1; k <= 16; k *= 2) {
            struct forecast_point p;
            double y = truth(t + k * 900.0);
            forecast_at(f, &c, t + k * 900.0, &p);
            CU_ASSERT(p.lo <= p.occ && p.occ <= p.hi && p.lo >= 0 && p.hi <= 1);
            err += fabs(p.occ - y);
            inside += y >= p.lo && y <= p.hi;
            width += p.hi - p.lo;
            n++;
        }
    }
    CU_ASSERT(err / n < 0.025);
    CU_ASSERT(inside / n > 0.7 && inside / n <= 1.0);
    CU_ASSERT(width / n < 0.15);
    if (err / n >= 0.025 || inside / n <= 0.7 || width / n >= 0.15)
        fprintf(stderr, "\nforecast: MAE %.4f, inside %.3f, width %.3f\n", err / n, inside / n,
                width / n);
    forecast_free(f);
    tz_free(z);
}

/* A day 0.15 above its profile: the deviation is carried into short
 * forecasts (better than the profile alone) and fades at long ones. */
static void test_deviation(void)
{
    struct tz *z = zone();
    struct forecast_config c = {.tz = z, .period_s = 7 * DAY};
    struct forecast *f = forecast_new();
    unsigned seed = 11;
    /* half of the days are 0.15 up, so the deviation is worth learning */
    for (int d = 0; d < 28; d++)
        feed(f, &c, MON0 + d * DAY, MON0 + (d + 1) * DAY, d % 2 ? 0.12 : 0, &seed);
    double t = MON0 + 28 * DAY + 9 * 3600;       /* Monday 09:00, a day 0.12 up */
    feed(f, &c, MON0 + 28 * DAY, t + 1, 0.12, &seed);
    struct forecast_point p15, p4h;
    forecast_at(f, &c, t + 900, &p15);
    forecast_at(f, &c, t + 6 * 3600.0, &p4h);
    double prof15 = forecast_profile(f, &c, t + 900);
    CU_ASSERT(fabs(p15.occ - (truth(t + 900) + 0.12)) < fabs(prof15 - (truth(t + 900) + 0.12)));
    CU_ASSERT(fabs(p15.occ - (truth(t + 900) + 0.12)) < 0.04);
    /* six hours ahead the deviation has mostly faded: nearer the profile */
    double prof4h = forecast_profile(f, &c, t + 6 * 3600.0);
    CU_ASSERT(fabs(p4h.occ - prof4h) < 0.08);
    forecast_free(f);
    tz_free(z);
}

/* Every day has the weekday shape (so the profile a Saturday borrows from
 * the weekdays is right on average, but not its own). */
static double workday(double ts)
{
    return truth(MON0 + fmod(ts - MON0, DAY));
}

/* How far a model moves from Saturday 08:00 (the morning rise) an hour
 * ahead, after three weeks of every day (all) or of weekdays only. */
static double saturday_move(bool all)
{
    struct tz *z = zone();
    struct forecast_config c = {.tz = z, .period_s = 7 * DAY};
    struct forecast *f = forecast_new();
    unsigned seed = 5;
    for (int d = 0; d < 21; d++)
        if (all || d % 7 < 5)
            for (double t = MON0 + d * DAY; t < MON0 + (d + 1) * DAY; t += 300)
                forecast_observe(f, &c, t, workday(t) + noise(&seed));
    double sat = MON0 + 26 * DAY, t = sat + 8 * 3600.0;
    for (double u = sat + 6 * 3600.0; u <= t; u += 300)
        forecast_observe(f, &c, u, workday(u));
    struct forecast_point p;
    forecast_at(f, &c, t + 3600, &p);
    double move = p.occ - workday(t);
    forecast_free(f);
    tz_free(z);
    return move;
}

/* An hour of the week never seen (Saturday after weekdays only) borrows
 * its shape from other days: the forecast follows it less far than where
 * the Saturday has its own history, and leans on the current value. */
static void test_unseen_cell(void)
{
    double seen = saturday_move(true), unseen = saturday_move(false);
    double rise = workday(MON0 + 9 * 3600.0) - workday(MON0 + 8 * 3600.0);
    CU_ASSERT(seen > 0.7 * rise && seen < 1.2 * rise);
    CU_ASSERT(unseen > 0.2 * rise);
    CU_ASSERT(unseen < 0.75 * seen);
    if (!(unseen < 0.75 * seen))
        fprintf(stderr, "\nunseen cell: moved %.3f, seen %.3f, rise %.3f\n", unseen, seen, rise);
}

static void test_no_history(void)
{
    struct forecast_config c = {.tz = NULL, .period_s = 7 * DAY};
    struct forecast *f = forecast_new();
    struct forecast_point p;
    forecast_at(f, &c, MON0, &p);
    CU_ASSERT(isnan(p.occ));
    CU_ASSERT_DOUBLE_EQUAL(p.lo, 0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(p.hi, 1, 1e-12);
    CU_ASSERT(isnan(forecast_last_ts(f)));
    /* one observation: that value, with a wide interval ahead */
    forecast_observe(f, &c, MON0 + 100, 0.5);
    forecast_at(f, &c, MON0 + 100 + 3600, &p);
    CU_ASSERT_DOUBLE_EQUAL(p.occ, 0.5, 1e-6);
    CU_ASSERT(p.hi - p.lo >= 0.8);
    /* older observations are ignored, junk too */
    forecast_observe(f, &c, MON0, 0.9);
    forecast_observe(f, &c, NAN, 0.9);
    forecast_observe(f, &c, MON0 + 200, INFINITY);
    CU_ASSERT_DOUBLE_EQUAL(forecast_last_occ(f), 0.5, 1e-6);
    /* out-of-range shares are clamped; a gap of a month costs no loop */
    forecast_observe(f, &c, MON0 + 300, 1.7);
    CU_ASSERT_DOUBLE_EQUAL(forecast_last_occ(f), 1.0, 1e-6);
    forecast_observe(f, &c, MON0 + 30 * DAY, 0.2);
    CU_ASSERT(forecast_points(f) < 20);
    /* absurd times (a replayed feed, at=) are ignored or answered, never UB */
    forecast_observe(f, &c, 1e300, 0.5);
    forecast_observe(f, &c, -1, 0.5);
    CU_ASSERT_DOUBLE_EQUAL(forecast_last_ts(f), MON0 + 30 * DAY, 1e-6);
    forecast_at(f, &c, 1e300, &p);
    CU_ASSERT(p.lo <= p.occ && p.occ <= p.hi);
    double cov;
    CU_ASSERT(isnan(forecast_period_mean(f, &c, 1e300, 0xffffff, &cov)));
    CU_ASSERT(isfinite(forecast_period_start(&c, -1e300)));
    forecast_free(f);
}

static void test_save_load(void)
{
    struct tz *z = zone();
    struct forecast_config c = {.tz = z, .period_s = 7 * DAY};
    struct forecast *f = forecast_new();
    unsigned seed = 3;
    feed(f, &c, MON0, MON0 + 10 * DAY, 0, &seed);
    unsigned char blob[FORECAST_BLOB], small[100];
    size_t n = forecast_save(f, blob, sizeof blob);
    CU_ASSERT(n > 0 && n <= FORECAST_BLOB);
    CU_ASSERT_EQUAL(forecast_save(f, small, sizeof small), 0);
    struct forecast *g = forecast_load(blob, n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    for (double h = 0; h <= 8 * 3600; h += 1800) {
        struct forecast_point a, b;
        forecast_at(f, &c, MON0 + 10 * DAY + h, &a);
        forecast_at(g, &c, MON0 + 10 * DAY + h, &b);
        CU_ASSERT_DOUBLE_EQUAL(a.occ, b.occ, 1e-12);
        CU_ASSERT_DOUBLE_EQUAL(a.lo, b.lo, 1e-12);
        CU_ASSERT_DOUBLE_EQUAL(a.hi, b.hi, 1e-12);
    }
    /* both go on learning alike */
    forecast_observe(f, &c, MON0 + 10 * DAY + 4000, 0.3);
    forecast_observe(g, &c, MON0 + 10 * DAY + 4000, 0.3);
    CU_ASSERT_EQUAL(forecast_points(f), forecast_points(g));
    /* not a model: truncated, longer, another magic, a NaN inside */
    CU_ASSERT_PTR_NULL(forecast_load(blob, n - 1));
    CU_ASSERT_PTR_NULL(forecast_load(blob, 3));
    unsigned char bad[FORECAST_BLOB + 1];
    memcpy(bad, blob, n);
    bad[n] = 0;
    CU_ASSERT_PTR_NULL(forecast_load(bad, n + 1));
    memcpy(bad, blob, n);
    bad[0] = 'x';
    CU_ASSERT_PTR_NULL(forecast_load(bad, n));
    memcpy(bad, blob, n);
    memset(bad + 12, 0xff, 4);                 /* y_last: a NaN */
    CU_ASSERT_PTR_NULL(forecast_load(bad, n));
    forecast_free(g);
    forecast_free(f);
    tz_free(z);
}

static void test_review_periods(void)
{
    struct tz *z = zone();
    struct forecast_config c = {.tz = z, .period_s = 7 * DAY};
    struct forecast *f = forecast_new();
    double cov;
    /* week 1: 0.9 by day (08-20 local), 0.2 at night */
    for (double t = MON0; t < MON0 + 7 * DAY; t += 900) {
        double h = fmod(t - MON0, DAY) / 3600;
        forecast_observe(f, &c, t, h >= 8 && h < 20 ? 0.9 : 0.2);
    }
    forecast_observe(f, &c, MON0 + 7 * DAY + 60, 0.5);
    /* during week 2 the last complete period is week 1 */
    double all = forecast_period_mean(f, &c, MON0 + 8 * DAY, 0xffffff, &cov);
    CU_ASSERT_DOUBLE_EQUAL(all, (0.9 * 12 + 0.2 * 12) / 24, 1e-3);
    CU_ASSERT_DOUBLE_EQUAL(cov, 1.0, 0.01);
    CU_ASSERT_DOUBLE_EQUAL(forecast_period_start(&c, MON0 + 8 * DAY), MON0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(forecast_period_start(&c, MON0 + 7 * DAY), MON0, 1e-6);
    uint32_t day = 0;
    for (int h = 8; h < 20; h++)
        day |= 1u << h;
    CU_ASSERT_DOUBLE_EQUAL(forecast_period_mean(f, &c, MON0 + 8 * DAY, day, &cov), 0.9,
                           1e-3);
    /* in week 3 week 2 is the last complete one: hardly observed */
    double w2 = forecast_period_mean(f, &c, MON0 + 15 * DAY, 0xffffff, &cov);
    CU_ASSERT(isnan(w2) || cov < 0.01);
    /* week 1 seen from week 1: not complete yet */
    CU_ASSERT(isnan(forecast_period_mean(f, &c, MON0 + 3 * DAY, 0xffffff, &cov)));
    /* another period length forgets the old periods */
    struct forecast_config c2 = {.tz = z, .period_s = DAY};
    CU_ASSERT(isnan(forecast_period_mean(f, &c2, MON0 + 8 * DAY, 0xffffff, &cov)));
    forecast_free(f);
    tz_free(z);
}

int suite_forecast(void)
{
    CU_pSuite s = CU_add_suite("forecast", NULL, NULL);
    if (s == NULL || CU_add_test(s, "a known profile is recovered", test_recovers_profile) == NULL ||
        CU_add_test(s, "a deviation carries, then fades", test_deviation) == NULL ||
        CU_add_test(s, "an unseen hour of the week leans on the current value",
                    test_unseen_cell) == NULL ||
        CU_add_test(s, "no history: a wide interval", test_no_history) == NULL ||
        CU_add_test(s, "save and load", test_save_load) == NULL ||
        CU_add_test(s, "review periods", test_review_periods) == NULL)
        return -1;
    return 0;
}
