/* signals.h -- isolated-intersection timing: Webster's method, HCM 2000
 * control delay and level of service.
 *
 * Plain C over plain structs (no Redis, no HTTP): the API layer fills a
 * struct signals_webster_in from the request or the map and turns the
 * result into JSON. All times are seconds, flows veh/h.
 *
 * Conventions (documented here once, used by every function below):
 *  - y = q/s is a phase's critical flow ratio, Y = sum of y.
 *  - "green" is the effective green g; C = L + sum(g) when the cycle is
 *    fully used (L = lost time per cycle).
 *  - Minimum greens (min_green_s, pedestrian greens) are effective-green
 *    minimums.
 *  - A value that cannot be computed (Webster's delay when x >= 1, anything
 *    needing a capacity when only a flow ratio was given) is NAN; the API
 *    writes it as JSON null. */
#ifndef CITYD_SIGNALS_H
#define CITYD_SIGNALS_H

#include <stdbool.h>
#include <stddef.h>

/* HCM 2000 incremental-delay constants for a pretimed signal. */
#define SIGNALS_HCM_T_H 0.25     /* analysis period, h */
#define SIGNALS_HCM_K   0.5      /* pretimed / no actuation */
#define SIGNALS_HCM_I   1.0      /* isolated intersection, no upstream metering */

/* Pedestrian minimum green: a 7 s walk interval plus the crossing at a
 * walking speed of 1.2 m/s (IRC:93-1985 "Guidelines for design and
 * installation of road traffic signals"; the same 7 s walk and 4 ft/s =
 * 1.2 m/s walking speed are MUTCD 2003 section 4E.10's). */
#define SIGNALS_PED_WALK_S   7.0
#define SIGNALS_PED_SPEED_MPS 1.2

/* More phases than this is not a real signal plan (keeps work bounded). */
#define SIGNALS_MAX_PHASES 16

/* Plausible values of a real signal or corridor (docs/signals.md): what
 * the API accepts in a request (api_signals.c) and the map loader in
 * corridors.geojson (map.c), so that a corridor's own values are never
 * ones its endpoints would refuse. */
#define SIGNALS_CYCLE_MIN_S 20.0
#define SIGNALS_CYCLE_MAX_S 300.0
#define SIGNALS_SPEED_MIN_MPS 1.0
#define SIGNALS_SPEED_MAX_MPS 40.0
#define SIGNALS_LOST_TIME_MAX_S 120.0
#define SIGNALS_PLAUSIBLE_FLOW_VPH 20000.0       /* flows and saturation flows */
#define SIGNALS_SATURATION_PLAUSIBLE_MIN_VPH 100.0
#define SIGNALS_MIN_GREEN_MAX_S 300.0
#define SIGNALS_PLAUSIBLE_CROSSING_M 200.0

/* The numeric envelope signals_webster accepts, far wider than any real
 * signal (the API's plausible ranges are in docs/signals.md): times up to
 * a day, greens from a millisecond, flows up to 1e6 veh/h, saturation
 * flows from 1 veh/h, flow ratios up to 1000, crossings up to 10 km.
 * Within it every number computed is finite (or NAN where it does not
 * exist); beyond it the arithmetic could overflow. */
#define SIGNALS_TIME_MAX_S 86400.0
#define SIGNALS_GREEN_MIN_S 1e-3
#define SIGNALS_FLOW_MAX_VPH 1e6
#define SIGNALS_SATURATION_MIN_VPH 1.0
#define SIGNALS_RATIO_MAX 1000.0
#define SIGNALS_CROSSING_MAX_M 10000.0

/* ---- formulas (pure functions) ---- */

/* Webster's optimum cycle (1.5L + 5)/(1 - Y); NAN when Y >= 1. */
double signals_webster_cycle(double lost_time_s, double Y);
/* Webster's three-term average delay per vehicle (s):
 *   d = C(1-l)^2/(2(1-l x)) + x^2/(2q(1-x)) - 0.65 (C/q^2)^(1/3) x^(2+5l)
 * with l = g/C, q the flow in veh/s and x = q/(l s). NAN when x >= 1 or
 * g <= 0. With q = 0 only the first term remains. */
double signals_webster_delay(double cycle_s, double green_s, double flow_vph,
                             double saturation_vph);
/* HCM 2000 uniform delay d1 = 0.5C(1-g/C)^2 / (1 - min(1,X) g/C). */
double signals_hcm_uniform_delay(double cycle_s, double green_s, double X);
/* HCM 2000 incremental delay
 * d2 = 900T[(X-1) + sqrt((X-1)^2 + 8kIX/(cT))], c in veh/h, T in h.
 * NAN when c <= 0. */
double signals_hcm_incremental_delay(double X, double capacity_vph, double T_h,
                                     double k, double I);
/* Level of service for signalised intersections from control delay (HCM
 * 2000 Exhibit 16-2): A <= 10, B <= 20, C <= 35, D <= 55, E <= 80, F.
 * '\0' when delay is NAN. */
char signals_los(double delay_s);
/* Pedestrian minimum green for a crossing of crossing_m metres (0 when
 * crossing_m <= 0): SIGNALS_PED_WALK_S + crossing_m / SIGNALS_PED_SPEED_MPS. */
double signals_pedestrian_green(double crossing_m);

/* Split G seconds of effective green over n phases in proportion to
 * weight (flow ratios, or a plan's greens), holding a phase whose share
 * falls below its minimum gmin at that minimum and re-splitting the rest;
 * equal shares when every weight is 0. g: n entries (caller's). Returns 1
 * when a minimum changed the split, 0 when none did, -1 (g untouched)
 * when n is 0 or above SIGNALS_MAX_PHASES or the minimums need more than G. */
int signals_split(size_t n, const double *weight, const double *gmin, double G, double *g);

/* ---- the whole calculation ---- */

struct signals_phase_in {
    double flow_vph;          /* q; NAN when only flow_ratio is given */
    double saturation_vph;    /* s; NAN when unknown */
    double flow_ratio;        /* y; NAN -> q/s */
    double min_green_s;       /* 0: none */
    double ped_crossing_m;    /* crossing served by this phase, 0: none */
    double green_s;           /* NAN unless the split is fixed (evaluation) */
};

struct signals_webster_in {
    double lost_time_s;                   /* L, total per cycle */
    const struct signals_phase_in *phases;
    size_t nphases;
    double cycle_min_s, cycle_max_s;      /* bounds of the applied cycle */
    double cycle_s;                       /* NAN: choose; else fixed */
};

struct signals_phase_out {
    double flow_ratio;
    double effective_green_s;
    double capacity_vph;                  /* NAN when s unknown */
    double degree_of_saturation;          /* x = y C / g */
    double webster_delay_s;               /* NAN when x >= 1 or q unknown */
    double hcm_uniform_delay_s;
    double hcm_incremental_delay_s;       /* NAN when capacity unknown */
    double hcm_delay_s;                   /* d1 * PF(=1) + d2 */
    char los;                             /* 'A'..'F', '\0' when unknown */
};

struct signals_webster_out {
    double Y;
    double cycle_optimal_s;               /* unrounded; NAN when Y >= 1 */
    double cycle_s;                       /* applied */
    bool oversaturated;                   /* Y >= 1 or some x >= 1 */
    bool evaluated;                       /* cycle and/or greens were given */
    bool min_greens_bind;                 /* a minimum/pedestrian green changed the split */
};

/* Intersection-wide HCM delay: the flow-weighted mean of the phases'
 * hcm_delay_s (flow q, or y*s when only the flow ratio and the saturation
 * flow are known). NAN when some phase's flow or delay is unknown. */
double signals_intersection_delay(const struct signals_phase_in *in,
                                  const struct signals_phase_out *out, size_t n);

/* Compute timing and delays. phases_out has in->nphases entries (caller's
 * storage). Returns 0, or -1 with a message naming the offending field
 * ("phases[2].saturation_flow: must be positive") and nothing written.
 *
 * Optimising (cycle_s NAN, no green_s): C = Webster's cycle rounded up to
 * whole seconds and clamped to [cycle_min_s, cycle_max_s] (cycle_max_s when
 * Y >= 1), raised to fit the minimum greens if needed; greens (y/Y)(C-L)
 * with minimum and pedestrian greens enforced by fixing violators at their
 * minimum and re-splitting the rest in proportion to y.
 * Evaluation: cycle_s given -> greens split at that cycle (or the given
 * green_s); only green_s given -> C = L + sum(green_s). */
int signals_webster(const struct signals_webster_in *in, struct signals_webster_out *out,
                    struct signals_phase_out *phases_out, char *err, size_t errlen);

#endif
