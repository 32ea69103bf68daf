/* forecast.h -- occupancy forecast of one parking lot, learned online
 * from its own observations (plain C: no Redis, no HTTP).
 *
 * The model (docs/parking.md "Forecast" has the reasoning and the
 * evaluation):
 *  - Observations (ts, occupancy share y in [0, 1]) are resampled onto a
 *    15-minute grid, each grid point taking the last value seen (carried
 *    forward at most FORECAST_GAP_S), so a lot that reports every few
 *    seconds and one that reports every half hour weigh alike.
 *  - Profile: the mean and spread of y per hour of the week (168 cells,
 *    local time of the zone given), each cell shrunk towards the same
 *    hour of any day, which is shrunk towards the lot's mean: from the
 *    first day the hour-of-day shape is used, from the first week the
 *    weekday's. Cells forget (a running mean over at most
 *    FORECAST_CELL_N grid points: about eight weeks). P(t) interpolates
 *    linearly between cell centres.
 *  - Deviation: d = y(now) - P(now) persists for a while (an event, a
 *    rainy day). The forecast for now + h is P(now + h) + rho(h) d, with
 *    rho learned per lag of 15 min .. 4 h by least squares (exponentially
 *    forgetting, prior exp(-h / 2 h)); beyond 4 h rho decays on.
 *    Where the target's hour of the week has no history of its own (its
 *    shape is borrowed from other days: a Sunday after weekdays only) the
 *    move away from the current value is scaled down, to half for a cell
 *    never seen, not at all once it has seen its hour.
 *  - Interval: 80 %, from the 10th and 90th percentiles of the lag's past
 *    residuals standardised by the profile's spread at the target time
 *    (tracked online by stochastic quantile steps), so it is wide where
 *    the lot is unpredictable (the morning rush) and narrow at night.
 *    Without history it starts wide (about the whole range).
 *  - Review periods (pricing.h): the mean occupancy per local hour of
 *    day over the current and the previous review period.
 * Learning costs nothing unless an observation crosses a grid point; then
 * one grid point is O(FORECAST_LAGS). A model is a few KiB and
 * serialises to a fixed-size blob (forecast_save).
 *
 * Ownership: a struct forecast owns nothing but itself. Not thread-safe. */
#ifndef CITYD_FORECAST_H
#define CITYD_FORECAST_H

#include <stddef.h>
#include <stdint.h>

struct tz;

#define FORECAST_STEP_S 900           /* the learning grid */
#define FORECAST_CELLS 168            /* hours of the week */
#define FORECAST_LAGS 16              /* learned lags: 15 min .. 4 h */
#define FORECAST_GAP_S 7200           /* a value is carried forward this long */
#define FORECAST_CELL_N 32            /* grid points a cell's mean remembers */

struct forecast;

/* What the model is told besides the observation. period_s is the
 * pricing review period (its start aligned to Monday 00:00 local time
 * for whole weeks); changing it between runs restarts the review. */
struct forecast_config {
    const struct tz *tz;              /* local time of the profile; NULL = UTC */
    double period_s;                  /* > 0 */
};

/* NULL on OOM. */
struct forecast *forecast_new(void);
void forecast_free(struct forecast *f);

/* Learn from an observation: occupancy share occ (clamped to [0, 1]) at
 * ts. An observation older than the last one is ignored, so are
 * non-finite values and ts outside [0, FORECAST_TS_MAX]. */
#define FORECAST_TS_MAX 1e11          /* the year 5138 */
void forecast_observe(struct forecast *f, const struct forecast_config *c, double ts,
                      double occ);

/* The last observation: its ts (NAN when none) and occupancy. */
double forecast_last_ts(const struct forecast *f);
double forecast_last_occ(const struct forecast *f);
/* Grid points learned from (how much history the model has). */
uint64_t forecast_points(const struct forecast *f);

/* A forecast of occupancy share at `target`: point and 80 % interval,
 * all in [0, 1], lo <= occ <= hi. With no observation at all, occ is NAN
 * and the interval [0, 1]. target before the last observation is
 * forecast as at the last observation. */
struct forecast_point {
    double occ, lo, hi;
};
void forecast_at(const struct forecast *f, const struct forecast_config *c, double target,
                 struct forecast_point *out);

/* The profile's expectation at t (no deviation term): for tests and the
 * evaluation. NAN with no history. */
double forecast_profile(const struct forecast *f, const struct forecast_config *c, double t);

/* The first second of the last complete review period before `now`. */
double forecast_period_start(const struct forecast_config *c, double now);
/* Mean occupancy over that period, counting only the local hours of day
 * whose bit is set in hours_mask (bit h = hour h). *coverage is the share
 * of those hours' grid points that had data (0 when none). Returns NAN
 * when there is no data for that period. */
double forecast_period_mean(const struct forecast *f, const struct forecast_config *c,
                            double now, uint32_t hours_mask, double *coverage);

/* Serialise: FORECAST_BLOB bytes into buf (little-endian, versioned). */
#define FORECAST_BLOB 4096
size_t forecast_save(const struct forecast *f, unsigned char *buf, size_t len);
/* A model from a blob; NULL when it is not one of this version (or OOM). */
struct forecast *forecast_load(const unsigned char *buf, size_t len);

#endif
