/* transit.c -- vehicle state, map matching and arrival prediction (see
 * transit.h for the model). */
#include "transit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assign.h"
#include "dict.h"
#include "geo.h"
#include "tz.h"

/* Matching. */
#define MATCH_MAX_PLACES 16
#define MATCH_BACK_M 50.0           /* GPS noise tolerated behind the last place */
#define MATCH_VMAX_MPS 30.0         /* no bus moves faster along its route */
#define MATCH_VTYP_MPS 6.0          /* typical urban bus speed, stops included */
#define MATCH_PRIOR_S 1200.0        /* a previous place older than this is not used */
#define AT_STOP_M 25.0              /* within this of a stop: at the stop */
#define ARRIVE_BEFORE_M 10.0        /* a stop is reached this far before its place */
#define LAYOVER_SLACK_S 30.0
#define DWELL_TYP_S 25.0            /* typical dwell at a stop, within segment times */
#define LAYOVER_RADIUS_M 300.0      /* terminal bays are often off the route line */
#define TERM_MIN 4                  /* departures seen before a terminal's habits count */
#define RELIABLE_GAP_S 150.0
#define JUMP_MPS 35.0               /* straight-line speed no bus reaches (126 km/h) */
#define JUMP_SLACK_M 150.0          /* GPS error allowed on top of it */        /* crossings interpolated only between reports this close */

#define DRAFT_OBS_MAX 64        /* traversals a draft keeps (a report completes a few) */

/* Segment estimator. */
/* Memory of the level: it drifts back to the prior (the hour-of-day mean
 * once known) over EST_TAU_S, and its uncertainty grows back to the
 * prior's over EST_VAR_TAU_S, so a new traversal is averaged with the day's
 * earlier ones rather than replacing them (one traversal is noisy: a
 * dwell, a light). Chosen on the first half of the WMATA day (ETA score
 * 0.761 at one hour for both, 0.788 now; 0.790 with a day for both); the
 * second half, held out, went from 0.762 to 0.787. */
#define EST_TAU_S 14400.0
#define EST_VAR_TAU_S 86400.0
#define EST_MIN_MPS 20.0            /* a segment takes at least length / this */
#define EST_HIST_CAP 30.0           /* hour-of-day means weigh at most this many trips */
#define EST_HIST_MIN 3.0            /* ... and are trusted from this many */

const char *transit_status_name(enum transit_status s)
{
    static const char *names[] = {"in_transit", "at_stop", "layover", "off_route", "stale"};
    return (unsigned)s < 5 ? names[s] : "unknown";
}

void transit_params_default(struct transit_params *p)
{
    p->stale_after_s = 90;
    p->gate_m = 60;
    p->future_tolerance_s = 300;
    p->forget_after_s = 86400;
    p->max_vehicles = 20000;
    p->early_s = 0;
    p->early_frac = 0;
}

/* Travel-time estimator for one ordered stop pair. */
struct seg {
    double x, P, t;                 /* level (s), its variance, time of last update */
    bool has_level;
    double sched;                   /* timetable time of the first trip seen (or first traversal) */
    double min_s;                   /* physical lower bound */
    double hist[24], hist_n[24];    /* hour-of-day means (agency local time) */
};

/* Recent departures from one terminal (a trip's first stop). */
#define TERM_KEEP 16
struct term {
    float late[TERM_KEEP];          /* departure - scheduled departure */
    float wait[TERM_KEEP];          /* departure - first report waiting there */
    uint8_t n, next;
};

struct transit {
    const struct gtfs *f;
    struct term **terms;            /* per stop index, allocated on first departure */
    double *route_pace;             /* per route: observed / timetable segment time */
    struct transit_params p;
    struct dict *vehicles;          /* id -> struct transit_vehicle * (owned) */
    struct dict *by_trip;           /* trip_id -> struct transit_vehicle * */
    bool dry;                       /* transit_draft: on a copy, estimators and by_trip
                                       untouched */
    struct assign *assign;          /* trip candidates for reports without a trip */
    struct dict *segs;              /* "from\x1fto" -> struct seg * (owned) */
    struct seg ***pat_segs;         /* per pattern: n-1 seg pointers (see segs_build) */
    double last_header_ts;
};

static int segs_build(struct transit *t);

struct transit *transit_new(const struct gtfs *feed, const struct transit_params *p)
{
    struct transit *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->f = feed;
    if (p)
        t->p = *p;
    else
        transit_params_default(&t->p);
    t->vehicles = dict_new();
    t->by_trip = dict_new();
    t->segs = dict_new();
    t->pat_segs = calloc(feed->n_patterns + 1, sizeof *t->pat_segs);
    t->route_pace = malloc((feed->n_routes + 1) * sizeof *t->route_pace);
    t->terms = calloc(feed->n_stops + 1, sizeof *t->terms);
    t->assign = assign_new(feed);
    for (size_t i = 0; t->route_pace && i <= feed->n_routes; i++)
        t->route_pace[i] = 1.0;
    if (!t->vehicles || !t->by_trip || !t->segs || !t->pat_segs || !t->route_pace || !t->terms ||
        !t->assign ||
        segs_build(t) < 0) {
        transit_free(t);
        return NULL;
    }
    return t;
}

static void vehicle_free(void *v)
{
    struct transit_vehicle *tv = v;
    if (tv)
        free(tv->pred);
    free(tv);
}

void transit_free(struct transit *t)
{
    if (t == NULL)
        return;
    dict_free(t->vehicles, vehicle_free);
    dict_free(t->by_trip, NULL);
    assign_free(t->assign);
    dict_free(t->segs, free);
    for (size_t i = 0; t->pat_segs && i < t->f->n_patterns; i++)
        free(t->pat_segs[i]);
    free(t->pat_segs);
    free(t->route_pace);
    for (size_t i = 0; t->terms && i < t->f->n_stops; i++)
        free(t->terms[i]);
    free(t->terms);
    free(t);
}

const struct gtfs *transit_feed(const struct transit *t)
{
    return t->f;
}

/* ---- segment estimators ---- */

static const char *seg_key(const struct transit *t, uint32_t from, uint32_t to, char *key,
                           size_t len)
{
    snprintf(key, len, "%s\x1f%s", t->f->stops[from].id, t->f->stops[to].id);
    return key;
}

static struct seg *seg_get(struct transit *t, uint32_t from, uint32_t to, double sched,
                           double len_m)
{
    char key[2 * GTFSRT_ID + 2];
    struct seg *s = dict_get(t->segs, seg_key(t, from, to, key, sizeof key));
    if (s != NULL)
        return s;
    s = calloc(1, sizeof *s);
    int e = 0;
    if (s == NULL)
        return NULL;
    dict_put(t->segs, key, s, &e);
    if (e) {
        free(s);
        return NULL;
    }
    s->min_s = len_m / EST_MIN_MPS;
    s->sched = fmax(sched, s->min_s);
    return s;
}

/* Every stop pair of every pattern gets its estimator up front, its
 * timetable time taken from the first trip on the pattern, so that
 * history reloaded at start lands on the same estimators as live data. */
static int segs_build(struct transit *t)
{
    const struct gtfs *f = t->f;
    for (size_t i = 0; i < f->n_trips; i++) {
        const struct gtfs_trip *tr = &f->trips[i];
        if (tr->pattern == GTFS_NONE || t->pat_segs[tr->pattern] != NULL)
            continue;
        const struct gtfs_pattern *pt = &f->patterns[tr->pattern];
        struct seg **ps = calloc(pt->n, sizeof *ps);
        if (ps == NULL)
            return -1;
        t->pat_segs[tr->pattern] = ps;
        for (uint32_t k = 0; k + 1 < pt->n; k++) {
            ps[k] = seg_get(t, pt->stops[k], pt->stops[k + 1], tr->arr[k + 1] - tr->arr[k],
                            pt->dist_m[k + 1] - pt->dist_m[k]);
            if (ps[k] == NULL)
                return -1;
        }
    }
    return 0;
}

/* The estimator of segment k (stop k -> k+1) of a pattern. */
static struct seg *pattern_seg(const struct transit *t, uint32_t pat, uint32_t k)
{
    return t->pat_segs[pat][k];
}

static int local_hour(const struct transit *t, double ts)
{
    int64_t it = (int64_t)ts;
    int64_t local = it + tz_offset_at(t->f->tz, it);
    int64_t h = (local / 3600) % 24;
    return (int)(h < 0 ? h + 24 : h);
}

/* What a traversal is measured against: the timetable time of the
 * segment on the bus's own trip (timetables differ through the day) and
 * the route (for its pace). */
struct seg_ref {
    double sched;
    uint32_t route;
};

/* The level the estimate reverts to: the hour-of-day mean once there is
 * enough of it, else the trip's timetable scaled by the route's pace --
 * how observed times compare with the timetable on its other segments
 * (timetables are padded, and by about the same factor along a route). */
static double seg_prior(const struct transit *t, const struct seg *s, struct seg_ref ref,
                        double ts)
{
    int h = local_hour(t, ts);
    if (s->hist_n[h] >= EST_HIST_MIN)
        return s->hist[h];
    double pace = ref.route < t->f->n_routes ? t->route_pace[ref.route] : 1.0;
    return fmax(ref.sched * pace, s->min_s);
}

/* Level and variance at time ts (no update). */
static double seg_level(const struct transit *t, const struct seg *s, struct seg_ref ref,
                        double ts, double *var)
{
    double prior = seg_prior(t, s, ref, ts);
    double p0 = (0.3 * prior + 10) * (0.3 * prior + 10);
    if (!s->has_level) {
        if (var)
            *var = p0;
        return prior;
    }
    double w = exp(-fmax(0, ts - s->t) / EST_TAU_S);
    double wv = exp(-fmax(0, ts - s->t) / EST_VAR_TAU_S);
    if (var)
        *var = s->P * wv * wv + p0 * (1 - wv * wv);
    return prior + (s->x - prior) * w;
}

/* Learn the route's pace from one traversal (ratios of long enough
 * segments only: short ones are dominated by rounding of the timetable). */
static void pace_update(struct transit *t, struct seg_ref ref, double z)
{
    if (ref.sched < 60 || ref.route >= t->f->n_routes)
        return;
    double r = fmin(fmax(z / ref.sched, 0.3), 3.0);
    t->route_pace[ref.route] += 0.05 * (r - t->route_pace[ref.route]);
}

static void seg_update(struct transit *t, struct seg *s, struct seg_ref ref, double ts, double z)
{
    if (t->dry)
        return;
    pace_update(t, ref, z);
    double var, x = seg_level(t, s, ref, ts, &var);
    double prior = seg_prior(t, s, ref, ts);
    double r = (0.2 * prior + 8) * (0.2 * prior + 8);
    double k = var / (var + r);
    s->x = x + k * (z - x);
    s->P = (1 - k) * var;
    s->t = fmax(ts, s->t);
    s->has_level = true;
    int h = local_hour(t, ts);
    double n = fmin(s->hist_n[h] + 1, EST_HIST_CAP);
    s->hist[h] += (z - s->hist[h]) / n;
    s->hist_n[h] = n;
}

static struct seg_ref trip_ref(const struct transit *t, uint32_t trip, uint32_t k)
{
    const struct gtfs_trip *tr = &t->f->trips[trip];
    return (struct seg_ref){tr->arr[k + 1] - tr->arr[k], tr->route};
}

/* Expected time of segment k for a bus on trip tr at time ts. */
static double seg_estimate(struct transit *t, uint32_t trip, uint32_t k, double ts)
{
    const struct gtfs_trip *tr = &t->f->trips[trip];
    const struct seg *s = pattern_seg(t, tr->pattern, k);
    return fmax(seg_level(t, s, trip_ref(t, trip, k), ts, NULL), s->min_s);
}

/* ---- terminals ---- */

static void term_add(struct transit *t, uint32_t stop, double late, double wait)
{
    if (t->dry)
        return;
    struct term *tm = t->terms[stop];
    if (tm == NULL && (tm = t->terms[stop] = calloc(1, sizeof *tm)) == NULL)
        return;                           /* learning is best effort */
    tm->late[tm->next] = (float)late;
    tm->wait[tm->next] = (float)wait;
    tm->next = (uint8_t)((tm->next + 1) % TERM_KEEP);
    if (tm->n < TERM_KEEP)
        tm->n++;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) and the median absolute deviation around it. */
static double median_mad(const float *v, size_t n, double *mad)
{
    float s[TERM_KEEP];
    memcpy(s, v, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_float);
    double med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2.0;
    for (size_t i = 0; i < n; i++)
        s[i] = (float)fabs(s[i] - med);
    qsort(s, n, sizeof *s, cmp_float);
    *mad = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2.0;
    return med;
}

/* When a bus waiting at its first stop will leave. The rule is the
 * timetable: it does not leave before the scheduled departure. A
 * terminal's own recent departures overrule it once there are enough of
 * them: where buses leave about when the timetable says, the usual
 * lateness is added to it; where they leave a fairly constant time after
 * pulling in whatever the timetable says (a terminal they run through,
 * or one served by buses already behind), that wait counts from this
 * bus's arrival. Whichever of the two has varied less here is used. */
static double layover_departure(const struct transit *t, const struct transit_vehicle *v)
{
    const struct gtfs_trip *tr = &t->f->trips[v->trip];
    double sched = (double)v->origin + tr->dep[0];
    const struct term *tm = t->terms[t->f->patterns[tr->pattern].stops[0]];
    double dep = sched;
    if (tm != NULL && tm->n >= TERM_MIN) {
        double mad_late, mad_wait;
        double late = median_mad(tm->late, tm->n, &mad_late);
        double wait = median_mad(tm->wait, tm->n, &mad_wait);
        dep = mad_wait < mad_late && v->layover_since > 0 ? v->layover_since + wait
                                                           : sched + late;
    }
    return fmax(dep, v->ts);
}

/* Learn what o says. exact: o comes from this registry's matcher, its
 * sched_s as the matcher took it (0 too); else from storage, where 0
 * means not known. */
static void learn(struct transit *t, const struct transit_obs *o, bool exact)
{
    const struct gtfs *f = t->f;
    uint32_t a = gtfs_stop_find(f, o->from_stop);
    if (a == GTFS_NONE)
        return;
    if (o->kind == TRANSIT_OBS_DEPARTURE) {
        if (isfinite(o->late_s) && o->duration_s >= 0)
            term_add(t, a, o->late_s, o->duration_s);
        return;
    }
    uint32_t b = gtfs_stop_find(f, o->to_stop);
    char key[2 * GTFSRT_ID + 2];
    if (b == GTFS_NONE || !(o->duration_s > 0))
        return;
    struct seg *s = dict_get(t->segs, seg_key(t, a, b, key, sizeof key));
    if (s == NULL)
        return;                           /* no longer in the timetable */
    struct seg_ref ref = {o->sched_s > 0 || exact ? o->sched_s : s->sched,
                          gtfs_route_find(f, o->route_id)};
    seg_update(t, s, ref, o->ts, o->duration_s);
}

void transit_observe(struct transit *t, const struct transit_obs *o)
{
    learn(t, o, false);
}

/* ---- matching ---- */

/* Best place for position p on the vehicle's pattern, or -1 (off route). */
static int match_place(struct transit *t, const struct transit_vehicle *v, struct geo_pt p,
                       double ts, bool prior, struct gtfs_place *best)
{
    const struct gtfs_pattern *pt = gtfs_trip_pattern(t->f, v->trip);
    struct gtfs_place pl[MATCH_MAX_PLACES];
    double lo = 0, hi = pt->line->length_m, dexp, sigma;
    if (prior) {
        /* Forward from the last place, as far as a bus could have gone. */
        double dt = fmax(0, ts - v->match_ts);
        lo = v->dist_m - MATCH_BACK_M;
        hi = v->dist_m + MATCH_VMAX_MPS * dt + 200;
        dexp = v->dist_m + 0.5 * MATCH_VTYP_MPS * dt;
        sigma = 50 + MATCH_VTYP_MPS * dt;
    } else {
        /* Anywhere on the line, preferring where the timetable has it. */
        dexp = gtfs_sched_dist(t->f, v->trip, ts - (double)v->origin);
        sigma = 600;
    }
    size_t n = gtfs_line_places(t->f, pt, p, t->p.gate_m, lo, hi, pl, MATCH_MAX_PLACES);
    double best_cost = INFINITY;
    for (size_t i = 0; i < n; i++) {
        double a = pl[i].off / 20, b = (pl[i].d - dexp) / sigma;
        if (a * a + b * b < best_cost) {
            best_cost = a * a + b * b;
            *best = pl[i];
        }
    }
    return n ? 0 : -1;
}

/* Stops reached between the previous place and the new one: crossing
 * times interpolated, consecutive crossings turned into observations. */
/* The next free observation slot, or NULL when there is none. */
static struct transit_obs *obs_push(struct transit_obs *obs, size_t max_obs, size_t *n_obs)
{
    if (obs == NULL || *n_obs >= max_obs)
        return NULL;
    struct transit_obs *o = &obs[(*n_obs)++];
    memset(o, 0, sizeof *o);
    return o;
}

static void note_crossings(struct transit *t, struct transit_vehicle *v, double d0, double t0,
                           double d1, double t1, struct transit_obs *obs,
                           size_t max_obs, size_t *n_obs)
{
    const struct gtfs_trip *tr = &t->f->trips[v->trip];
    const struct gtfs_pattern *pt = &t->f->patterns[tr->pattern];
    bool reliable = t1 - t0 <= RELIABLE_GAP_S && d1 > d0;
    for (uint32_t k = 0; k < pt->n; k++) {
        double reach = pt->dist_m[k] - ARRIVE_BEFORE_M;
        if (!(reach > d0 && reach <= d1))
            continue;
        double c = t0 + (reach - d0) / (d1 - d0) * (t1 - t0);
        if (reliable && k > 0 && v->cross_pos == k - 1 && c > v->cross_ts) {
            double dur = c - v->cross_ts;
            struct seg_ref ref = trip_ref(t, v->trip, k - 1);
            seg_update(t, pattern_seg(t, tr->pattern, k - 1), ref, c, dur);
            struct transit_obs *o = obs_push(obs, max_obs, n_obs);
            if (o) {
                o->kind = TRANSIT_OBS_SEGMENT;
                snprintf(o->from_stop, sizeof o->from_stop, "%s", t->f->stops[pt->stops[k - 1]].id);
                snprintf(o->to_stop, sizeof o->to_stop, "%s", t->f->stops[pt->stops[k]].id);
                snprintf(o->route_id, sizeof o->route_id, "%s", t->f->routes[tr->route].id);
                o->sched_s = ref.sched;
                o->ts = c;
                o->duration_s = dur;
            }
        }
        v->cross_pos = reliable ? k : UINT32_MAX;
        v->cross_ts = c;
    }
}

/* A bus that waited at its first stop has moved off it between (d0, t0)
 * and (d1, t1): when it left, how late and after how long a wait. A
 * departure is where it passes AT_STOP_M beyond the stop. */
static void note_departure(struct transit *t, struct transit_vehicle *v, double d0, double t0,
                           double d1, double t1, struct transit_obs *obs, size_t max_obs,
                           size_t *n_obs)
{
    const struct gtfs_trip *tr = &t->f->trips[v->trip];
    const struct gtfs_pattern *pt = &t->f->patterns[tr->pattern];
    double reach = pt->dist_m[0] + AT_STOP_M;
    if (t1 - t0 > RELIABLE_GAP_S || !(d1 > d0) || reach < d0 || reach > d1)
        return;
    double dep = t0 + (reach - d0) / (d1 - d0) * (t1 - t0);
    double late = dep - ((double)v->origin + tr->dep[0]), wait = dep - v->layover_since;
    term_add(t, pt->stops[0], late, wait);
    /* Segment 0 is timed from the departure, as it is predicted. */
    v->cross_pos = 0;
    v->cross_ts = dep;
    struct transit_obs *o = obs_push(obs, max_obs, n_obs);
    if (o) {
        o->kind = TRANSIT_OBS_DEPARTURE;
        snprintf(o->from_stop, sizeof o->from_stop, "%s", t->f->stops[pt->stops[0]].id);
        snprintf(o->route_id, sizeof o->route_id, "%s", t->f->routes[tr->route].id);
        o->ts = dep;
        o->duration_s = wait;
        o->late_s = late;
    }
}

/* Status, next stop and schedule deviation from the matched place. */
static void place_status(struct transit *t, struct transit_vehicle *v)
{
    const struct gtfs_trip *tr = &t->f->trips[v->trip];
    const struct gtfs_pattern *pt = &t->f->patterns[tr->pattern];
    double s = v->ts - (double)v->origin;
    if (v->dist_m <= pt->dist_m[0] + AT_STOP_M && s < tr->dep[0] + LAYOVER_SLACK_S) {
        v->status = TRANSIT_LAYOVER;
        v->next_pos = 0;
        v->sched_dev_s = 0;                /* waiting on time is not being early */
        v->cross_pos = 0;                  /* segment 0 counts from departure */
        v->cross_ts = v->ts;
        return;
    }
    v->status = TRANSIT_IN_TRANSIT;
    v->next_pos = pt->n;
    for (uint32_t k = 0; k < pt->n; k++) {
        if (fabs(v->dist_m - pt->dist_m[k]) <= AT_STOP_M && !(v->speed > 3)) {
            v->status = TRANSIT_AT_STOP;
            v->next_pos = k;
            break;
        }
        if (pt->dist_m[k] - ARRIVE_BEFORE_M > v->dist_m) {
            v->next_pos = k;
            break;
        }
    }
    /* Stopped at a stop down the line before its trip has even started:
     * laying over there (not running early), until its time there. */
    if (v->status == TRANSIT_AT_STOP && v->next_pos > 0 && v->next_pos < pt->n - 1 &&
        s < tr->dep[0]) {
        v->status = TRANSIT_LAYOVER;
        v->sched_dev_s = 0;
        v->cross_pos = v->next_pos;        /* the next segment counts from departure */
        v->cross_ts = v->ts;
        return;
    }
    v->sched_dev_s = s - gtfs_sched_time(t->f, v->trip, v->dist_m);
}

/* ---- prediction ---- */

double transit_scheduled(const struct transit *t, const struct transit_vehicle *v, uint32_t pos)
{
    return (double)v->origin + t->f->trips[v->trip].arr[pos];
}

/* Off its line (a detour) there is no new place to predict from: the
 * predictions made at the last place are held, none before now. Shifting
 * the timetable by the last deviation would tell riders a bus on a detour
 * is on its usual way. */
static void predict_off_route(struct transit_vehicle *v)
{
    double last = v->ts;
    for (uint32_t k = v->next_pos; k < v->n_pred; k++) {
        if (v->pred[k] == 0)
            continue;
        last = fmax(last, v->pred[k]);
        v->pred[k] = last;
    }
}

/* Time from the vehicle's place to stop k+1, k being the last stop it
 * reached. A segment's time counts from arrival at stop k, so it holds
 * the dwell there: a bus still at the stop has the part of a typical
 * dwell it has not spent yet ahead of it, a bus that has left has only
 * the run, in proportion to the distance left. */
static double remaining(struct transit *t, const struct transit_vehicle *v, uint32_t k)
{
    const struct gtfs_pattern *pt = gtfs_trip_pattern(t->f, v->trip);
    double T = seg_estimate(t, v->trip, k, v->ts);
    double dwell = fmin(DWELL_TYP_S, 0.3 * T);
    double len = pt->dist_m[k + 1] - pt->dist_m[k];
    double left = len > 0 ? (pt->dist_m[k + 1] - ARRIVE_BEFORE_M - v->dist_m) / len : 0;
    left = fmin(fmax(left, 0), 1);
    if (v->status == TRANSIT_AT_STOP && v->next_pos == k) {
        double spent = v->cross_pos == k ? v->ts - v->cross_ts : 0;
        return T - fmin(fmax(spent, 0), dwell);
    }
    return (T - dwell) * left;
}

static void predict_all(struct transit *t, struct transit_vehicle *v)
{
    if (v->trip != GTFS_NONE && v->matched && v->status == TRANSIT_OFF_ROUTE) {
        predict_off_route(v);
        return;
    }
    memset(v->pred, 0, v->n_pred * sizeof *v->pred);
    if (v->trip == GTFS_NONE || !v->matched)
        return;
    const struct gtfs_trip *tr = &t->f->trips[v->trip];
    const struct gtfs_pattern *pt = &t->f->patterns[tr->pattern];
    uint32_t n = pt->n, j;
    double cur;
    if (v->status == TRANSIT_LAYOVER && v->next_pos > 0) {
        /* Laying over down the line: leaves at its time there. */
        cur = fmax(v->ts, (double)v->origin + tr->dep[v->next_pos]);
        v->pred[v->next_pos] = cur;
        j = v->next_pos + 1;
    } else if (v->status == TRANSIT_LAYOVER) {
        cur = layover_departure(t, v);
        v->pred[0] = cur;
        j = 1;
    } else {
        /* k: the last stop reached (UINT32_MAX: before the first). */
        uint32_t k = UINT32_MAX;
        for (uint32_t i = 0; i < n && pt->dist_m[i] - ARRIVE_BEFORE_M <= v->dist_m; i++)
            k = i;
        if (k == UINT32_MAX) {
            cur = v->ts + (pt->dist_m[0] - ARRIVE_BEFORE_M - v->dist_m) / MATCH_VTYP_MPS;
            v->pred[0] = cur;
            j = 1;
        } else {
            if (v->status == TRANSIT_AT_STOP && v->next_pos == k)
                v->pred[k] = v->ts;
            if (k + 1 >= n)
                return;
            cur = v->ts + remaining(t, v, k);
            v->pred[k + 1] = cur;
            j = k + 2;
        }
    }
    for (; j < n; j++) {
        cur += seg_estimate(t, v->trip, j - 1, cur);
        v->pred[j] = cur;
    }
}

double transit_predict(const struct transit *t, const struct transit_vehicle *v, uint32_t pos,
                       double now)
{
    if (transit_vehicle_status(t, v, now) == TRANSIT_STALE || v->trip == GTFS_NONE ||
        !v->matched || pos >= v->n_pred || pos < v->next_pos || v->pred[pos] == 0)
        return 0;
    /* The best estimate; a bus not there yet will come, so never a time
     * already past. */
    return fmax(v->pred[pos], now);
}

double transit_announced(const struct transit *t, const struct transit_vehicle *v,
                         uint32_t pos, double now)
{
    double p = transit_predict(t, v, pos, now);
    if (p == 0)
        return 0;
    double h = p - now;
    return fmax(p - t->p.early_s - t->p.early_frac * h, now);
}


/* ---- ingest ---- */

/* A start_date names the trip's service day: the report's local day, the
 * day before for a trip running past midnight (GTFS times up to 48:00),
 * or the day after for a bus reporting shortly before midnight on a trip
 * of the next day. Further off it is garbage, and would pin the trip (and
 * the stop signs it backs) to another day. An unreadable one is ignored
 * (the service day is inferred). */
static bool plausible_start_date(const struct transit *t, const struct gtfsrt_vehicle *v,
                                 double now, char *err, size_t errlen)
{
    int64_t day;
    if (v->start_date[0] == '\0' || gtfs_parse_date(v->start_date, &day) < 0)
        return true;
    double ts = v->timestamp ? (double)v->timestamp : now;
    int64_t local = tz_local_day(t->f->tz, (int64_t)ts);
    if (day >= local - 2 && day <= local + 1)
        return true;
    snprintf(err, errlen, "vehicle.trip.start_date: %s is not a service day of a report at %.0f",
             v->start_date, ts);
    return false;
}

int transit_admit(const struct transit *t, const char *vehicle_id, size_t pending, char *err,
                  size_t errlen)
{
    size_t n = dict_size(t->vehicles);
    if (n + pending < t->p.max_vehicles || dict_get(t->vehicles, vehicle_id) != NULL)
        return 0;
    snprintf(err, errlen, "vehicle.vehicle.id: a new vehicle, and the registry is full "
             "(%zu vehicles, transit.max_vehicles)", t->p.max_vehicles);
    return -1;
}

/* Checks that change nothing. Returns 0 or -1 with the message in err. */
static int validate(const struct transit *t, const struct gtfsrt_vehicle *v, double now,
                    uint32_t *trip, uint32_t *route, char *err, size_t errlen)
{
    *trip = GTFS_NONE;
    *route = GTFS_NONE;
    if (v->error[0]) {
        snprintf(err, errlen, "%s", v->error);
        return -1;
    }
    if (v->vehicle_id[0] == '\0') {
        snprintf(err, errlen, "vehicle.vehicle.id: missing");
        return -1;
    }
    /* Decoded reports passed this already; stored ones (restore) too,
     * unless an older cityd wrote them. */
    if (gtfsrt_vehicle_check(v, err, errlen) < 0)
        return -1;
    if (fabs(v->lat) < 1e-6 && fabs(v->lon) < 1e-6) {
        snprintf(err, errlen, "vehicle.position: (0, 0) is not a position");
        return -1;
    }
    if (v->timestamp && (double)v->timestamp > now + t->p.future_tolerance_s) {
        snprintf(err, errlen, "vehicle.timestamp: %llu is in the future",
                 (unsigned long long)v->timestamp);
        return -1;
    }
    if (v->timestamp && (double)v->timestamp < now - t->p.forget_after_s) {
        snprintf(err, errlen, "vehicle.timestamp: %llu is more than %.0f s old",
                 (unsigned long long)v->timestamp, t->p.forget_after_s);
        return -1;
    }
    if (!plausible_start_date(t, v, now, err, errlen) ||
        transit_admit(t, v->vehicle_id, 0, err, errlen) < 0)
        return -1;
    if (v->trip_id[0]) {
        *trip = gtfs_trip_find(t->f, v->trip_id);
        if (*trip == GTFS_NONE || t->f->trips[*trip].pattern == GTFS_NONE) {
            snprintf(err, errlen, "vehicle.trip.trip_id: unknown trip '%s'", v->trip_id);
            return -1;
        }
        *route = t->f->trips[*trip].route;
    }
    if (v->route_id[0]) {
        uint32_t r = gtfs_route_find(t->f, v->route_id);
        if (r == GTFS_NONE || (*route != GTFS_NONE && r != *route)) {
            snprintf(err, errlen, "vehicle.trip.route_id: %s route '%s'",
                     r == GTFS_NONE ? "unknown" : "trip is not on", v->route_id);
            return -1;
        }
        *route = r;
    }
    return 0;
}

/* Validation, and the vehicle's time: REJECTED (err), OUTDATED, or
 * ACCEPTED with trip, route, the report's ts and the vehicle (NULL: new). */
static enum transit_result admit_report(const struct transit *t, const struct gtfsrt_vehicle *in,
                                        double now, uint32_t *trip, uint32_t *route, double *ts,
                                        struct transit_vehicle **v, char *err, size_t errlen)
{
    if (validate(t, in, now, trip, route, err, errlen) < 0)
        return TRANSIT_REJECTED;
    *ts = in->timestamp ? (double)in->timestamp : now;
    *v = dict_get(t->vehicles, in->vehicle_id);
    return *v != NULL && *ts <= (*v)->ts ? TRANSIT_OUTDATED : TRANSIT_ACCEPTED;
}

enum transit_result transit_check(const struct transit *t, const struct gtfsrt_vehicle *v,
                                  double now, char *err, size_t errlen)
{
    uint32_t trip, route;
    double ts;
    struct transit_vehicle *cur;
    return admit_report(t, v, now, &trip, &route, &ts, &cur, err, errlen);
}

/* A vehicle not heard from yet (v zeroed). */
static void vehicle_init(struct transit_vehicle *v, const char *id)
{
    snprintf(v->id, sizeof v->id, "%s", id);
    v->trip = v->route = GTFS_NONE;
    v->cross_pos = UINT32_MAX;
}

static struct transit_vehicle *vehicle_for(struct transit *t, const char *id)
{
    struct transit_vehicle *v = dict_get(t->vehicles, id);
    if (v != NULL)
        return v;
    v = calloc(1, sizeof *v);
    if (v == NULL)
        return NULL;
    vehicle_init(v, id);
    int e = 0;
    dict_put(t->vehicles, id, v, &e);
    if (e) {
        free(v);
        return NULL;
    }
    return v;
}

/* Switch a vehicle to a (new) trip: service day (*day when known, else
 * the report's start_date, else inferred), prediction array. */
static int assign_trip(struct transit *t, struct transit_vehicle *v, uint32_t trip,
                       const char *trip_id, const int64_t *known_day,
                       const struct gtfsrt_vehicle *in, double ts)
{
    if (!t->dry && v->trip_id[0] && dict_get(t->by_trip, v->trip_id) == v)
        dict_del(t->by_trip, v->trip_id);
    v->trip = trip;
    snprintf(v->trip_id, sizeof v->trip_id, "%s", trip_id);
    v->matched = false;
    v->cross_pos = UINT32_MAX;
    v->layover_since = 0;
    v->n_pred = 0;
    v->assigned_ts = ts;
    v->waited = v->left_seen = false;
    v->left_dev_s = 0;
    if (trip == GTFS_NONE)
        return 0;
    int64_t day, origin;
    if (known_day != NULL) {
        day = *known_day;
        origin = gtfs_day_origin(t->f, day);
    } else if (gtfs_parse_date(in->start_date, &day) == 0) {
        origin = gtfs_day_origin(t->f, day);
    } else if (gtfs_trip_day(t->f, trip, (int64_t)ts, 3 * 3600, &day, &origin) < 0) {
        day = tz_local_day(t->f->tz, (int64_t)ts);
        origin = gtfs_day_origin(t->f, day);
    }
    v->day = day;
    v->origin = origin;
    uint32_t n = t->f->patterns[t->f->trips[trip].pattern].n;
    double *p = realloc(v->pred, n * sizeof *p);
    if (p == NULL)
        return -1;
    v->pred = p;
    v->n_pred = n;
    int e = 0;
    if (!t->dry)
        dict_put(t->by_trip, v->trip_id, v, &e);
    return e ? -1 : 0;
}

/* ---- trip assignment (reports without a trip id) ---- */

#define INFER_MAX 32
#define STICKY_S 300.0              /* a trip held this long is kept unless clearly wrong */
#define OFF_KEEP_S 300.0            /* an inferred trip survives this long off its line */
#define SWITCH_COST 1.0             /* a young assignment yields to one better by this */
#define STICKY_COST 3.0             /* ... an established one (or one followed on its block) */
#define BLOCK_BONUS 1.5             /* the block's next trip after a terminal */
#define SAME_ROUTE_BONUS 0.3        /* a bus tends to stay on its route */
#define TAKEN_COST 2.0              /* another live bus runs that trip */
#define DEADHEAD_S 3600.0           /* a block's next trip awaits its bus this long before its start */

/* Direction of travel: the reported bearing, else the movement since the
 * last report when it is long enough to mean something. */
static double report_heading(const struct transit_vehicle *v, const struct gtfsrt_vehicle *in)
{
    if (!isnan(in->bearing))
        return in->bearing;
    if (v->ts > 0 && geo_distance_m(v->lon, v->lat, in->lon, in->lat) > 30)
        return geo_bearing_deg(v->lon, v->lat, in->lon, in->lat);
    return NAN;
}

/* Another live bus runs trip on day. (By id: a draft's v is a copy.) */
static bool trip_taken(const struct transit *t, const struct transit_vehicle *v, uint32_t trip,
                       int64_t day, double ts)
{
    const struct transit_vehicle *o = dict_get(t->by_trip, t->f->trips[trip].id);
    return o != NULL && strcmp(o->id, v->id) != 0 && o->day == day &&
           ts - o->ts <= t->p.stale_after_s;
}

/* The candidate to take, what the vehicle's history adds to the costs:
 * skip the trip it has just finished, favour its block's next trip and
 * its route, shun trips other buses run. NULL when none; its cost with
 * all that in *cost_out (c[] keeps the plain costs). A candidate marking
 * the end of a trip is turned into its block's next trip, once. */
static struct assign_match *pick(const struct transit *t, const struct transit_vehicle *v,
                                 struct assign_match *c, size_t n, uint32_t skip, uint32_t succ,
                                 uint32_t prev_route, double ts, double *cost_out)
{
    struct assign_match *best = NULL;
    double best_cost = INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (c[i].ended) {
            /* Just finished a trip: its block's next one, after a wait. */
            uint32_t nx = assign_next_in_block(t->assign, c[i].trip);
            if (nx == GTFS_NONE || c[i].trip == skip)
                continue;
            double wait = (double)c[i].origin + t->f->trips[nx].dep[0] - ts;
            c[i].trip = nx;
            c[i].ended = 0;
            c[i].layover = 1;
            c[i].d = gtfs_trip_pattern(t->f, nx)->dist_m[0];
            c[i].dev_s = 0;
            c[i].cost += fmax(wait, 0) / 1800.0;
        }
        if (c[i].trip == skip)
            continue;
        double cost = c[i].cost;
        if (c[i].trip == succ)
            cost -= BLOCK_BONUS;
        if (t->f->trips[c[i].trip].route == prev_route)
            cost -= SAME_ROUTE_BONUS;
        if (trip_taken(t, v, c[i].trip, c[i].day, ts))
            cost += TAKEN_COST;
        if (cost < best_cost) {
            best_cost = cost;
            best = &c[i];
        }
    }
    *cost_out = best_cost;              /* c[] keeps the plain costs: pick may run again */
    return best;
}

/* Should a vehicle keep its inferred trip `cur` (not finished)? Yes while
 * the report fits it and no other candidate is clearly better, and for a
 * while off its line (a detour, a bad fix). */
static bool keep_trip(const struct transit *t, struct transit_vehicle *v,
                      const struct assign_query *q, struct assign_match *c, size_t n)
{
    struct assign_match m;
    struct assign_query own = *q;
    own.left_dev_s = v->left_seen ? v->left_dev_s : 0;
    if (assign_score(t->assign, &own, v->trip, v->day, &m) < 0) {
        double since = v->matched ? v->match_ts : v->assigned_ts;
        return q->ts - since <= OFF_KEEP_S;
    }
    /* How early it left the start, once seen leaving after a layover. */
    if (m.layover)
        v->waited = true;
    else if (v->waited && !v->left_seen) {
        v->left_seen = true;
        v->left_dev_s = m.dev_s;
    }
    double hold = v->followed || q->ts - v->assigned_ts >= STICKY_S ? STICKY_COST : SWITCH_COST;
    /* Another bus has claimed it since, paying TAKEN_COST for it: two
     * buses do not run one trip, and the holder's hold on it is void. */
    if (trip_taken(t, v, v->trip, v->day, q->ts)) {
        m.cost += TAKEN_COST;
        hold = 0;
    }
    double oc;
    const struct assign_match *o = pick(t, v, c, n, v->trip, GTFS_NONE, v->route, q->ts, &oc);
    return o == NULL || !(oc < m.cost - SAME_ROUTE_BONUS - hold);
}

/* The trip a report without a trip id goes on (GTFS_NONE: none fits), on
 * service day *day. route: the feed's route, GTFS_NONE when not given. */
static uint32_t infer_trip(struct transit *t, struct transit_vehicle *v,
                           const struct gtfsrt_vehicle *in, double ts, uint32_t route,
                           int64_t *day)
{
    struct assign_query q = {in->lon, in->lat, ts, report_heading(v, in), route, t->p.gate_m, 0};
    struct assign_match c[INFER_MAX];
    size_t n = assign_candidates(t->assign, &q, c, INFER_MAX);
    uint32_t cur = v->inferred ? v->trip : GTFS_NONE, succ = GTFS_NONE;
    if (cur != GTFS_NONE && route != GTFS_NONE && t->f->trips[cur].route != route)
        cur = GTFS_NONE;                        /* the feed moved it to another route */
    bool done = false;
    if (cur != GTFS_NONE) {
        const struct gtfs_pattern *pt = gtfs_trip_pattern(t->f, cur);
        done = v->matched && v->dist_m >= pt->dist_m[pt->n - 1] - ASSIGN_ENDED_M;
        succ = assign_next_in_block(t->assign, cur);
        if (!done && keep_trip(t, v, &q, c, n)) {
            *day = v->day;
            return cur;
        }
        if (!done)
            succ = GTFS_NONE;
    }
    double bc;
    const struct assign_match *b = pick(t, v, c, n, done ? cur : GTFS_NONE, succ,
                                        cur != GTFS_NONE ? t->f->trips[cur].route : GTFS_NONE, ts,
                                        &bc);
    v->followed = b != NULL && b->trip == succ;
    if (b != NULL) {
        *day = b->day;
        return b->trip;
    }
    /* Finished and nowhere on a line: deadheading to the start of the
     * block's next trip, which it will run. */
    if (succ != GTFS_NONE && (double)v->origin + t->f->trips[succ].dep[0] - ts <= DEADHEAD_S) {
        v->followed = true;
        *day = v->day;
        return succ;
    }
    return GTFS_NONE;
}

/* A bus that has not left yet, waiting near its first stop but off the
 * line (terminal bays often are): placed at the first stop. */
static bool in_terminal_bay(const struct transit *t, const struct transit_vehicle *v,
                            struct gtfs_place *place)
{
    const struct gtfs_pattern *pt = gtfs_trip_pattern(t->f, v->trip);
    const struct gtfs_stop *s0 = &t->f->stops[pt->stops[0]];
    if (v->matched && v->dist_m > pt->dist_m[0] + AT_STOP_M)
        return false;
    double off = geo_distance_m(v->lon, v->lat, s0->lon, s0->lat);
    if (off > LAYOVER_RADIUS_M)
        return false;
    place->d = pt->dist_m[0];
    place->off = off;
    return true;
}

static bool too_far(double lon0, double lat0, double t0, double lon1, double lat1, double t1)
{
    return geo_distance_m(lon0, lat0, lon1, lat1) > JUMP_SLACK_M + JUMP_MPS * fmax(t1 - t0, 0);
}

/* Is this fix an implausible jump to hold (the report is accepted, the bus
 * stays where it was)? A held fix confirmed by the next one is taken; one
 * the next fix refutes is forgotten. */
static bool jump_held(struct transit_vehicle *v, const struct gtfsrt_vehicle *in, double ts)
{
    bool confirmed = v->jump_ts > 0 &&
                     !too_far(v->jump_lon, v->jump_lat, v->jump_ts, in->lon, in->lat, ts);
    v->jump_ts = 0;
    if (v->fix_ts <= 0 || confirmed || !too_far(v->lon, v->lat, v->fix_ts, in->lon, in->lat, ts))
        return false;
    v->jump_lon = in->lon;
    v->jump_lat = in->lat;
    v->jump_ts = ts;
    v->ts = ts;                           /* alive, and later reports are newer */
    v->bearing = in->bearing;
    v->speed = in->speed;
    return true;
}

/* Report in (valid, at ts, on trip and route as validate found them) to
 * vehicle v: 0, or -1 out of memory. */
static int apply_to(struct transit *t, struct transit_vehicle *v, const struct gtfsrt_vehicle *in,
                    double ts, uint32_t trip, uint32_t route, struct transit_obs *obs,
                    size_t max_obs, size_t *n_obs)
{
    if (jump_held(v, in, ts))
        return 0;
    bool inferred = trip == GTFS_NONE;
    int64_t day = 0;
    if (inferred && (trip = infer_trip(t, v, in, ts, route, &day)) != GTFS_NONE && route == GTFS_NONE)
        route = t->f->trips[trip].route;
    const char *trip_id = !inferred ? in->trip_id : trip != GTFS_NONE ? t->f->trips[trip].id : "";
    if ((v->trip != trip || strcmp(v->trip_id, trip_id) != 0 || v->n_pred == 0 ||
         v->inferred != inferred || (inferred && v->day != day)) &&
        assign_trip(t, v, trip, trip_id, inferred ? &day : NULL, in, ts) < 0)
        return -1;
    v->inferred = inferred;
    v->route = route;
    v->lon = in->lon;
    v->lat = in->lat;
    v->ts = ts;
    v->fix_ts = ts;
    v->bearing = in->bearing;
    v->speed = in->speed;
    if (trip == GTFS_NONE) {
        v->status = TRANSIT_IN_TRANSIT;     /* unassigned: position only */
        return 0;
    }
    bool prior = v->matched && ts - v->match_ts <= MATCH_PRIOR_S;
    struct gtfs_place best = {0, 0};
    if (match_place(t, v, (struct geo_pt){in->lon, in->lat}, ts, prior, &best) < 0 &&
        !in_terminal_bay(t, v, &best)) {
        v->status = TRANSIT_OFF_ROUTE;
        if (v->matched)
            predict_all(t, v);                 /* from the last place, at the new time */
        return 0;
    }
    double d = prior ? fmax(best.d, v->dist_m) : best.d, d0 = v->dist_m, t0 = v->match_ts;
    const struct gtfs_pattern *pt = gtfs_trip_pattern(t->f, trip);
    if (prior && v->layover_since > 0 && d > pt->dist_m[0] + AT_STOP_M)
        note_departure(t, v, d0, t0, d, ts, obs, max_obs, n_obs);
    if (prior)
        note_crossings(t, v, d0, t0, d, ts, obs, max_obs, n_obs);
    v->dist_m = d;
    v->off_m = best.off;
    v->match_ts = ts;
    v->matched = true;
    place_status(t, v);
    /* Waiting at the first stop (in layover, or still there after the
     * scheduled departure) since the first such report. */
    if (d > pt->dist_m[0] + AT_STOP_M)
        v->layover_since = 0;
    else if (v->layover_since == 0 && v->status == TRANSIT_LAYOVER)
        v->layover_since = ts;
    predict_all(t, v);
    return 0;
}

static int settle(struct transit *t, struct transit_vehicle *v, const struct gtfsrt_vehicle *in,
                  void **state, size_t *len);

static enum transit_result apply(struct transit *t, const struct gtfsrt_vehicle *in, double now,
                                 struct transit_obs *obs, size_t max_obs,
                                 size_t *n_obs, char *err, size_t errlen)
{
    uint32_t trip, route;
    double ts;
    struct transit_vehicle *v;
    if (n_obs)
        *n_obs = 0;
    enum transit_result res = admit_report(t, in, now, &trip, &route, &ts, &v, err, errlen);
    if (res != TRANSIT_ACCEPTED)
        return res;
    if ((v == NULL && (v = vehicle_for(t, in->vehicle_id)) == NULL) ||
        apply_to(t, v, in, ts, trip, route, obs, max_obs, n_obs) < 0 ||
        settle(t, v, in, NULL, NULL) < 0) {
        snprintf(err, errlen, "out of memory");
        return TRANSIT_REJECTED;
    }
    return TRANSIT_ACCEPTED;
}

enum transit_result transit_ingest(struct transit *t, const struct gtfsrt_vehicle *v,
                                   double now, struct transit_obs *obs,
                                   size_t max_obs, size_t *n_obs, char *err, size_t errlen)
{
    return apply(t, v, now, obs, max_obs, n_obs, err, errlen);
}

enum transit_result transit_restore(struct transit *t, const struct gtfsrt_vehicle *v,
                                    double now, char *err, size_t errlen)
{
    return apply(t, v, now, NULL, 0, NULL, err, errlen);
}

/* ---- sharing what was made of a vehicle's reports ---- */

/* A state rides with its report -- in the feed entry and in the pos
 * hash, which hold the report's fields -- so it carries only what the
 * report does not say, relative to the report, in varints (LEB128;
 * signed ones zigzag). Version 2 (version 1, 29 doubles and a double per
 * stop of the pattern, made a feed entry ~660 bytes; this one is ~60-80
 * bytes for a 30-stop pattern):
 *   version byte; flags (STF_*, the status in bits STF_STATUS_SHIFT..);
 *   service day - the report's UTC day; trip origin - gtfs_day_origin(day);
 *   [STF_PLACE: lon, lat - the report's, in 1e-7 degree; else the report's];
 *   [STF_MOTION: bearing, speed as 8-byte doubles; else the report's];
 *   dist_m, off_m (cm); match_ts (a time); next_pos; sched_dev_s (ms);
 *   cross_pos + 1 (0: none); cross_ts, layover_since, assigned_ts (times);
 *   left_dev_s (ms); fix_ts (a time);
 *   [STF_JUMP: jump_ts (a time), jump lon, lat - the report's (1e-7 degree)];
 *   n_pred, then each prediction: 0 for none (passed), else 1 + its step
 *   in 0.1 s from the previous prediction (the first from the report's
 *   timestamp);
 *   [STF_TRIP: the trip id, NUL-ended; else the report's];
 *   [STF_ROUTE: the route id, NUL-ended; else the report's route].
 * A time is 0 for 0 (none), else 1 + milliseconds from the report's
 * timestamp. Precision, and why it is enough: positions 1e-7 degree
 * (~1 cm: what the pos hash and the feed keep of a report, "%.7f"),
 * distances 1 cm, times and deviations 1 ms, predictions 0.1 s (the API
 * prints arrivals in whole seconds). And rounding makes no difference
 * between processes: the taker keeps its state as packed (transit_draft
 * reads its own state back into the draft), so one that adopts it holds
 * the same numbers, bit for bit, and prints the same arrivals.
 *
 * Another version is unreadable and refused, the vehicle keeping its own
 * state: during a rolling upgrade, processes of either version match the
 * other version's reports themselves (as a restore does) while such
 * entries are in the feed (retention.feed_s) and such states in the pos
 * hashes (until the bus reports again). */
#define STATE_VERSION 2
#define STF_MATCHED 0x1u
#define STF_INFERRED 0x2u
#define STF_FOLLOWED 0x4u
#define STF_WAITED 0x8u
#define STF_LEFT_SEEN 0x10u
#define STF_JUMP 0x20u              /* a fix held (jump_ts set) */
#define STF_PLACE 0x40u             /* lon, lat not the report's (a jump held) */
#define STF_MOTION 0x80u            /* bearing, speed not the report's */
#define STF_TRIP 0x100u             /* trip id not the report's (inferred, held) */
#define STF_ROUTE 0x200u            /* route not the report's */
#define STF_STATUS_SHIFT 10
#define STF_ALL 0x1fffu
#define STATE_DAYS 100000           /* |service day - the report's day| read */
#define STATE_DEG7 4000000000LL     /* |lon, lat - the report's| read, 1e-7 degree */
#define STATE_PRED_MAX 100000       /* predictions read */
#define STATE_Q_MAX 9e15            /* quantised numbers are clamped to this */

static uint8_t *put_double(uint8_t *p, double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    for (int i = 0; i < 8; i++)
        *p++ = (uint8_t)(u >> (8 * i));
    return p;
}

static double get_double(const uint8_t *p)
{
    uint64_t u = 0;
    double x;
    for (int i = 0; i < 8; i++)
        u |= (uint64_t)p[i] << (8 * i);
    memcpy(&x, &u, sizeof x);
    return x;
}

static uint8_t *put_u(uint8_t *p, uint64_t x)
{
    for (; x >= 0x80; x >>= 7)
        *p++ = (uint8_t)(x | 0x80);
    *p++ = (uint8_t)x;
    return p;
}

static uint8_t *put_id(uint8_t *p, const char *id)
{
    size_t n = strlen(id) + 1;
    memcpy(p, id, n);
    return p + n;
}

static uint64_t zigzag(int64_t x)
{
    return x < 0 ? ~((uint64_t)x << 1) : (uint64_t)x << 1;
}

static int64_t unzigzag(uint64_t u)
{
    return u & 1 ? -(int64_t)(u >> 1) - 1 : (int64_t)(u >> 1);
}

static uint8_t *put_s(uint8_t *p, int64_t x)
{
    return put_u(p, zigzag(x));
}

/* x in units of 1/scale, rounded (NaN: 0; clamped far beyond any use). */
static int64_t quant(double x, double scale)
{
    double q = round(x * scale);
    return q != q ? 0 : (int64_t)fmax(-STATE_Q_MAX, fmin(STATE_Q_MAX, q));
}

static uint8_t *put_time(uint8_t *p, double t, double base)
{
    return put_u(p, t == 0 ? 0 : 1 + zigzag(quant(t - base, 1000)));
}

static bool same_num(double a, double b)
{
    return a == b || (isnan(a) && isnan(b));
}

static uint32_t report_route(const struct transit *t, const struct gtfsrt_vehicle *rep)
{
    return rep->route_id[0] ? gtfs_route_find(t->f, rep->route_id) : GTFS_NONE;
}

/* v's state relative to its report rep (v->ts is rep's timestamp). */
static void *state_pack(const struct transit *t, const struct transit_vehicle *v,
                        const struct gtfsrt_vehicle *rep, size_t *len)
{
    const char *route = v->route != GTFS_NONE ? t->f->routes[v->route].id : "";
    double base = (double)rep->timestamp;
    int64_t day = (int64_t)floor(base / 86400), lon = quant(rep->lon, 1e7),
            lat = quant(rep->lat, 1e7);
    unsigned fl = (v->matched ? STF_MATCHED : 0) | (v->inferred ? STF_INFERRED : 0) |
                  (v->followed ? STF_FOLLOWED : 0) | (v->waited ? STF_WAITED : 0) |
                  (v->left_seen ? STF_LEFT_SEEN : 0) | (v->jump_ts != 0 ? STF_JUMP : 0) |
                  (v->lon != rep->lon || v->lat != rep->lat ? STF_PLACE : 0) |
                  (!same_num(v->bearing, rep->bearing) || !same_num(v->speed, rep->speed)
                       ? STF_MOTION : 0) |
                  (strcmp(v->trip_id, rep->trip_id) != 0 ? STF_TRIP : 0) |
                  (v->route != report_route(t, rep) ? STF_ROUTE : 0) |
                  ((unsigned)v->status << STF_STATUS_SHIFT);
    uint8_t *buf = malloc(1 + 24 * 10 + 16 + 10 * (size_t)v->n_pred + 2 * GTFSRT_ID), *p = buf;
    if (buf == NULL)
        return NULL;
    *p++ = STATE_VERSION;
    p = put_u(p, fl);
    p = put_s(p, v->day - day);
    p = put_s(p, v->origin - gtfs_day_origin(t->f, v->day));
    if (fl & STF_PLACE) {
        p = put_s(p, quant(v->lon, 1e7) - lon);
        p = put_s(p, quant(v->lat, 1e7) - lat);
    }
    if (fl & STF_MOTION) {
        p = put_double(p, v->bearing);
        p = put_double(p, v->speed);
    }
    p = put_s(p, quant(v->dist_m, 100));
    p = put_s(p, quant(v->off_m, 100));
    p = put_time(p, v->match_ts, base);
    p = put_u(p, v->next_pos);
    p = put_s(p, quant(v->sched_dev_s, 1000));
    p = put_u(p, v->cross_pos == UINT32_MAX ? 0 : (uint64_t)v->cross_pos + 1);
    p = put_time(p, v->cross_ts, base);
    p = put_time(p, v->layover_since, base);
    p = put_time(p, v->assigned_ts, base);
    p = put_s(p, quant(v->left_dev_s, 1000));
    p = put_time(p, v->fix_ts, base);
    if (fl & STF_JUMP) {
        p = put_time(p, v->jump_ts, base);
        p = put_s(p, quant(v->jump_lon, 1e7) - lon);
        p = put_s(p, quant(v->jump_lat, 1e7) - lat);
    }
    p = put_u(p, v->n_pred);
    int64_t prev = 0;
    for (uint32_t k = 0; k < v->n_pred; k++) {
        int64_t q = quant(v->pred[k] - base, 10);
        p = put_u(p, v->pred[k] == 0 ? 0 : 1 + zigzag(q - prev));
        prev = v->pred[k] == 0 ? prev : q;
    }
    if (fl & STF_TRIP)
        p = put_id(p, v->trip_id);
    if (fl & STF_ROUTE)
        p = put_id(p, route);
    *len = (size_t)(p - buf);
    return buf;
}

void *transit_state_pack(const struct transit *t, const struct gtfsrt_vehicle *rep, size_t *len)
{
    const struct transit_vehicle *v = dict_get(t->vehicles, rep->vehicle_id);
    return v != NULL && v->ts == (double)rep->timestamp ? state_pack(t, v, rep, len) : NULL;
}

/* Reading a packed state: every read checks the bounds; bad once, bad. */
struct state_rd {
    const uint8_t *p, *end;
    bool bad;
};

static uint64_t get_u(struct state_rd *r)
{
    uint64_t x = 0;
    for (unsigned s = 0; s < 64 && r->p < r->end; s += 7) {
        uint8_t b = *r->p++;
        x |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80))
            return x;
    }
    r->bad = true;
    return 0;
}

/* A signed number within [-lim, lim]. */
static int64_t get_s(struct state_rd *r, int64_t lim)
{
    int64_t x = unzigzag(get_u(r));
    if (x < -lim || x > lim)
        r->bad = true;
    return r->bad ? 0 : x;
}

static double get_time(struct state_rd *r, double base)
{
    uint64_t c = get_u(r);
    return c == 0 || c - 1 > 2 * (uint64_t)STATE_Q_MAX ? 0 : base + (double)unzigzag(c - 1) / 1000;
}

static double get_f64(struct state_rd *r)
{
    if (r->end - r->p < 8) {
        r->bad = true;
        return 0;
    }
    r->p += 8;
    return get_double(r->p - 8);
}

static void get_id(struct state_rd *r, char *buf)
{
    const uint8_t *z = memchr(r->p, '\0', (size_t)(r->end - r->p));
    buf[0] = '\0';
    if (z == NULL || z - r->p >= GTFSRT_ID) {
        r->bad = true;
        return;
    }
    memcpy(buf, r->p, (size_t)(z - r->p) + 1);
    r->p = z + 1;
}

/* The predictions (into s->pred, malloc'd): see state_pack. */
static void get_preds(struct state_rd *r, struct transit_vehicle *s, double base)
{
    uint64_t n = get_u(r);
    if (r->bad || n > STATE_PRED_MAX || n > (uint64_t)(r->end - r->p) ||
        (n > 0 && (s->pred = malloc(n * sizeof *s->pred)) == NULL)) {
        r->bad = true;
        return;
    }
    s->n_pred = (uint32_t)n;
    int64_t q = 0;
    for (uint32_t k = 0; k < s->n_pred; k++) {
        uint64_t c = get_u(r);
        int64_t step = c == 0 ? 0 : unzigzag(c - 1);
        if (!(step >= -STATE_Q_MAX && step <= STATE_Q_MAX && q + step >= -STATE_Q_MAX &&
              q + step <= STATE_Q_MAX))
            r->bad = true;
        else
            q += step;
        s->pred[k] = c == 0 ? 0 : base + (double)q / 10;
    }
}

/* A packed state of report rep into s (zeroed by the caller; s->pred
 * malloc'd, the caller frees it), its trip and route found in the feed:
 * 0, or -1 when unreadable or not of this feed. */
static int state_parse(const struct transit *t, const struct gtfsrt_vehicle *rep,
                       const uint8_t *buf, size_t len, struct transit_vehicle *s)
{
    double base = (double)rep->timestamp;
    struct state_rd r = {buf + 1, buf + len,
                         len < 1 || buf[0] != STATE_VERSION || !(base < 1e12)};
    int64_t lon = quant(rep->lon, 1e7), lat = quant(rep->lat, 1e7);
    uint64_t fl = get_u(&r);
    if (fl > STF_ALL || (fl >> STF_STATUS_SHIFT) > TRANSIT_STALE)
        r.bad = true;
    s->day = (int64_t)floor(base / 86400) + get_s(&r, STATE_DAYS);
    s->origin = get_s(&r, (int64_t)STATE_Q_MAX);
    s->origin += r.bad ? 0 : gtfs_day_origin(t->f, s->day);
    s->lon = rep->lon;
    s->lat = rep->lat;
    if (fl & STF_PLACE) {
        s->lon = (double)(lon + get_s(&r, STATE_DEG7)) / 1e7;
        s->lat = (double)(lat + get_s(&r, STATE_DEG7)) / 1e7;
    }
    s->bearing = fl & STF_MOTION ? get_f64(&r) : rep->bearing;
    s->speed = fl & STF_MOTION ? get_f64(&r) : rep->speed;
    s->dist_m = (double)get_s(&r, (int64_t)STATE_Q_MAX) / 100;
    s->off_m = (double)get_s(&r, (int64_t)STATE_Q_MAX) / 100;
    s->match_ts = get_time(&r, base);
    uint64_t next = get_u(&r);
    s->next_pos = (uint32_t)next;
    s->sched_dev_s = (double)get_s(&r, (int64_t)STATE_Q_MAX) / 1000;
    uint64_t cross = get_u(&r);
    s->cross_pos = cross == 0 ? UINT32_MAX : (uint32_t)(cross - 1);
    s->cross_ts = get_time(&r, base);
    s->layover_since = get_time(&r, base);
    s->assigned_ts = get_time(&r, base);
    s->left_dev_s = (double)get_s(&r, (int64_t)STATE_Q_MAX) / 1000;
    s->fix_ts = get_time(&r, base);
    if (fl & STF_JUMP) {
        s->jump_ts = get_time(&r, base);
        s->jump_lon = (double)(lon + get_s(&r, STATE_DEG7)) / 1e7;
        s->jump_lat = (double)(lat + get_s(&r, STATE_DEG7)) / 1e7;
    }
    get_preds(&r, s, base);
    char route_id[GTFSRT_ID];
    snprintf(s->trip_id, sizeof s->trip_id, "%s", rep->trip_id);
    if (fl & STF_TRIP)
        get_id(&r, s->trip_id);
    if (fl & STF_ROUTE)
        get_id(&r, route_id);
    s->matched = fl & STF_MATCHED;
    s->inferred = fl & STF_INFERRED;
    s->followed = fl & STF_FOLLOWED;
    s->waited = fl & STF_WAITED;
    s->left_seen = fl & STF_LEFT_SEEN;
    s->status = (enum transit_status)(fl >> STF_STATUS_SHIFT);
    s->ts = base;
    s->trip = s->trip_id[0] ? gtfs_trip_find(t->f, s->trip_id) : GTFS_NONE;
    s->route = !(fl & STF_ROUTE) ? report_route(t, rep)
               : route_id[0]     ? gtfs_route_find(t->f, route_id)
                                 : GTFS_NONE;
    if (r.bad || r.p != r.end || next > UINT32_MAX || cross > UINT32_MAX ||
        (s->trip_id[0] && (s->trip == GTFS_NONE || t->f->trips[s->trip].pattern == GTFS_NONE)) ||
        ((fl & STF_ROUTE) && route_id[0] && s->route == GTFS_NONE) ||
        s->n_pred != (s->trip != GTFS_NONE ? gtfs_trip_pattern(t->f, s->trip)->n : 0))
        return -1;
    return 0;
}

/* The vehicle takes state s (its trip first, when another: by_trip, the
 * prediction array); 1, or -1 out of memory. */
static int state_apply(struct transit *t, struct transit_vehicle *v, const struct transit_vehicle *s)
{
    int64_t day = s->day;
    if ((v->trip != s->trip || strcmp(v->trip_id, s->trip_id) != 0 || v->n_pred != s->n_pred) &&
        assign_trip(t, v, s->trip, s->trip_id, &day, NULL, s->assigned_ts) < 0)
        return -1;
    char id[GTFSRT_ID];
    double *pred = v->pred;
    memcpy(id, v->id, sizeof id);
    *v = *s;
    memcpy(v->id, id, sizeof id);
    v->pred = pred;
    if (s->n_pred > 0)
        memcpy(v->pred, s->pred, s->n_pred * sizeof *pred);
    return 1;
}

int transit_state_adopt(struct transit *t, const struct gtfsrt_vehicle *rep, const void *buf,
                        size_t len)
{
    struct transit_vehicle s = {0};
    int rc = state_parse(t, rep, buf, len, &s);
    struct transit_vehicle *v = dict_get(t->vehicles, rep->vehicle_id);
    if (rc == 0 && (v == NULL || (double)rep->timestamp != v->ts))
        rc = 0;                         /* not for the report the vehicle is at */
    else if (rc == 0)
        rc = state_apply(t, v, &s);
    free(s.pred);
    return rc;
}

/* A vehicle just through report in holds its state as packed: packed,
 * and read back into it (see state_pack), the state kept in *state (when
 * state is not NULL; the caller frees it). A report without a timestamp
 * (taken as of now: the API layer never sends one) has no state and
 * stays as worked out. 0, or -1 out of memory. */
static int settle(struct transit *t, struct transit_vehicle *v, const struct gtfsrt_vehicle *in,
                  void **state, size_t *len)
{
    struct transit_vehicle s = {0};
    size_t n = 0;
    void *buf = NULL;
    if (in->timestamp == 0 || v->ts != (double)in->timestamp)
        return 0;
    int rc = (buf = state_pack(t, v, in, &n)) != NULL && state_parse(t, in, buf, n, &s) == 0
                 ? state_apply(t, v, &s)
                 : -1;
    free(s.pred);
    if (state != NULL && rc >= 0) {
        *state = buf;
        *len = n;
    } else {
        free(buf);
    }
    return rc < 0 ? -1 : 0;
}

/* ---- drafts: a report worked out before it is stored ---- */

struct transit_draft {
    struct transit_vehicle v;       /* what the vehicle becomes (v.pred owned) */
    struct transit_obs *obs;        /* what the report teaches (owned) */
    size_t n_obs;
    void *state;                    /* v packed (owned) */
    size_t len;
};

void transit_draft_free(struct transit_draft *d)
{
    if (d == NULL)
        return;
    free(d->v.pred);
    free(d->obs);
    free(d->state);
    free(d);
}

/* The vehicle as it is (zeroed, for a new one), its predictions its own. */
static int draft_copy(struct transit_draft *d, const struct transit_vehicle *cur, const char *id)
{
    if (cur == NULL) {
        vehicle_init(&d->v, id);
        return 0;
    }
    d->v = *cur;
    d->v.pred = NULL;
    if (cur->n_pred > 0 && (d->v.pred = malloc(cur->n_pred * sizeof *cur->pred)) == NULL)
        return -1;
    if (cur->n_pred > 0)
        memcpy(d->v.pred, cur->pred, cur->n_pred * sizeof *cur->pred);
    return 0;
}

/* The matcher runs once, dry, on a copy of the vehicle: traversals are
 * noted, not learned, and by_trip is left alone, so the registry is as it
 * was whatever becomes of the draft. */
enum transit_result transit_draft(struct transit *t, const struct gtfsrt_vehicle *in, double now,
                                  struct transit_draft **out, char *err, size_t errlen)
{
    uint32_t trip, route;
    double ts;
    struct transit_vehicle *cur;
    struct transit_obs obs[DRAFT_OBS_MAX];
    size_t n_obs = 0;
    *out = NULL;
    enum transit_result res = admit_report(t, in, now, &trip, &route, &ts, &cur, err, errlen);
    if (res != TRANSIT_ACCEPTED)
        return res;
    struct transit_draft *d = calloc(1, sizeof *d);
    if (d == NULL || draft_copy(d, cur, in->vehicle_id) < 0)
        goto oom;
    t->dry = true;
    int rc = apply_to(t, &d->v, in, ts, trip, route, obs, DRAFT_OBS_MAX, &n_obs);
    t->dry = false;
    if (rc < 0 || settle(t, &d->v, in, &d->state, &d->len) < 0 ||
        (n_obs > 0 && (d->obs = malloc(n_obs * sizeof *obs)) == NULL))
        goto oom;
    if (n_obs > 0)
        memcpy(d->obs, obs, n_obs * sizeof *obs);
    d->n_obs = n_obs;
    *out = d;
    return TRANSIT_ACCEPTED;
oom:
    transit_draft_free(d);
    snprintf(err, errlen, "out of memory");
    return TRANSIT_REJECTED;
}

const void *transit_draft_state(const struct transit_draft *d, size_t *len)
{
    *len = d->len;
    return d->state;
}

/* The copy becomes the vehicle (in place: pointers to it stay good), by
 * its trip in by_trip when it took one on (assign_trip stamps
 * assigned_ts with the report's time) or differs from the one the
 * vehicle has now, and its traversals are learned. */
enum transit_result transit_draft_commit(struct transit *t, struct transit_draft *d,
                                         struct transit_obs *obs, size_t max_obs, size_t *n_obs)
{
    struct transit_vehicle *v = dict_get(t->vehicles, d->v.id);
    int e = 0;
    *n_obs = 0;
    if (v != NULL && d->v.ts <= v->ts)
        return TRANSIT_OUTDATED;
    if (v == NULL && (v = vehicle_for(t, d->v.id)) == NULL)
        return TRANSIT_REJECTED;
    if (d->v.assigned_ts == d->v.ts || strcmp(v->trip_id, d->v.trip_id) != 0) {
        if (v->trip_id[0] && dict_get(t->by_trip, v->trip_id) == v)
            dict_del(t->by_trip, v->trip_id);
        if (d->v.trip != GTFS_NONE)
            dict_put(t->by_trip, d->v.trip_id, v, &e);
    }
    free(v->pred);
    *v = d->v;
    d->v.pred = NULL;
    for (size_t i = 0; i < d->n_obs; i++) {
        learn(t, &d->obs[i], true);
        if (i < max_obs)
            obs[(*n_obs)++] = d->obs[i];
    }
    return e ? TRANSIT_REJECTED : TRANSIT_ACCEPTED;
}

/* ---- reads ---- */

const struct transit_vehicle *transit_vehicle_get(const struct transit *t, const char *id)
{
    return dict_get(t->vehicles, id);
}

enum transit_status transit_vehicle_status(const struct transit *t,
                                           const struct transit_vehicle *v, double now)
{
    if (now - v->ts > t->p.stale_after_s)
        return TRANSIT_STALE;
    return v->status;
}

const struct transit_vehicle *transit_vehicle_next(const struct transit *t, size_t *pos)
{
    const char *key;
    void *val;
    if (dict_next(t->vehicles, pos, &key, &val) == 0)
        return NULL;
    return val;
}

size_t transit_vehicle_count(const struct transit *t)
{
    return dict_size(t->vehicles);
}

size_t transit_evict(struct transit *t, double before)
{
    /* Collected first: the registry is not changed while it is walked. */
    struct transit_vehicle **old = NULL;
    size_t n = 0, cap = 0, pos = 0;
    const char *key;
    void *val;
    while (dict_next(t->vehicles, &pos, &key, &val)) {
        struct transit_vehicle *v = val;
        if (!(v->ts < before))
            continue;
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 64;
            struct transit_vehicle **no = realloc(old, ncap * sizeof *no);
            if (no == NULL)
                break;                  /* the rest at the next sweep */
            old = no;
            cap = ncap;
        }
        old[n++] = v;
    }
    for (size_t i = 0; i < n; i++) {
        struct transit_vehicle *v = old[i];
        if (v->trip_id[0] && dict_get(t->by_trip, v->trip_id) == v)
            dict_del(t->by_trip, v->trip_id);
        dict_del(t->vehicles, v->id);
        vehicle_free(v);
    }
    free(old);
    return n;
}

static int cmp_arrival(const void *a, const void *b)
{
    const struct transit_arrival *x = a, *y = b;
    double tx = x->predicted ? x->predicted : x->scheduled;
    double ty = y->predicted ? y->predicted : y->scheduled;
    if (tx != ty)
        return tx < ty ? -1 : 1;
    return (x->trip > y->trip) - (x->trip < y->trip);
}

/* The live vehicle serving trip on service day `day`, if any. */
static const struct transit_vehicle *trip_vehicle(const struct transit *t, uint32_t trip,
                                                  int64_t day, double now)
{
    const struct transit_vehicle *v = dict_get(t->by_trip, t->f->trips[trip].id);
    if (v == NULL || v->day != day || transit_vehicle_status(t, v, now) == TRANSIT_STALE)
        return NULL;
    return v;
}

/* How late a bus may be and still be looked for on a stop sign. */
#define ARRIVALS_LATE_S 3600.0

size_t transit_arrivals(const struct transit *t, uint32_t stop, double now, double window_s,
                        struct transit_arrival *out, size_t max)
{
    const struct gtfs *f = t->f;
    const struct gtfs_stop *s = &f->stops[stop];
    const struct gtfs_visit *vis = f->visits + s->visit_first;
    int64_t today = tz_local_day(f->tz, (int64_t)now);
    size_t n = 0;
    for (int64_t day = today - 1; day <= today + 1; day++) {
        double origin = (double)gtfs_day_origin(f, day);
        double from = now - ARRIVALS_LATE_S - origin, to = now + window_s - origin;
        size_t lo = 0, hi = s->n_visits;      /* first visit at or after `from` */
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (vis[mid].arr < from)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (size_t i = lo; i < s->n_visits && vis[i].arr <= to && n < max; i++) {
            const struct gtfs_trip *tr = &f->trips[vis[i].trip];
            if (!gtfs_service_active(f, tr->service, day))
                continue;
            struct transit_arrival a = {vis[i].trip, vis[i].pos, NULL, origin + vis[i].arr, 0, 0};
            a.vehicle = trip_vehicle(t, vis[i].trip, day, now);
            if (a.vehicle && a.vehicle->next_pos > a.pos)
                continue;                      /* already served */
            if (a.vehicle) {
                a.predicted = transit_predict(t, a.vehicle, a.pos, now);
                a.announced = transit_announced(t, a.vehicle, a.pos, now);
            }
            double when = a.predicted ? a.predicted : a.scheduled;
            if (when < now || when > now + window_s)
                continue;
            out[n++] = a;
        }
    }
    qsort(out, n, sizeof *out, cmp_arrival);
    return n;
}

static void ymd(int64_t day, char *buf, size_t len)
{
    int y, m, d;
    tz_civil_from_days(day, &y, &m, &d);
    snprintf(buf, len, "%04d%02d%02d", y, m, d);
}

size_t transit_trip_updates(struct transit *t, double now, bool live, struct gtfsrt_header *h,
                            struct gtfsrt_trip_update *out, size_t max,
                            struct gtfsrt_stop_time *stops, size_t max_stops)
{
    size_t pos = 0, n = 0, ns = 0;
    const struct transit_vehicle *v;
    double hts = fmax(t->last_header_ts, floor(now));
    if (live)
        t->last_header_ts = hts;
    memset(h, 0, sizeof *h);
    snprintf(h->version, sizeof h->version, "2.0");
    h->timestamp = (uint64_t)hts;
    while ((v = transit_vehicle_next(t, &pos)) != NULL && n < max) {
        if (v->trip == GTFS_NONE || !v->matched ||
            transit_vehicle_status(t, v, now) == TRANSIT_STALE || v->next_pos >= v->n_pred)
            continue;
        const struct gtfs_trip *tr = &t->f->trips[v->trip];
        const struct gtfs_pattern *pt = &t->f->patterns[tr->pattern];
        struct gtfsrt_trip_update *u = &out[n];
        memset(u, 0, sizeof *u);
        snprintf(u->entity_id, sizeof u->entity_id, "%s", tr->id);
        snprintf(u->trip_id, sizeof u->trip_id, "%s", tr->id);
        snprintf(u->route_id, sizeof u->route_id, "%s", t->f->routes[tr->route].id);
        snprintf(u->vehicle_id, sizeof u->vehicle_id, "%s", v->id);
        ymd(v->day, u->start_date, sizeof u->start_date);
        u->direction_id = tr->direction_id;
        u->timestamp = (uint64_t)v->ts;
        u->has_delay = true;
        u->delay = (int32_t)lround(v->sched_dev_s);
        u->stops = stops + ns;
        for (uint32_t k = v->next_pos; k < pt->n && ns < max_stops; k++) {
            double p = transit_predict(t, v, k, now);
            if (p == 0)
                continue;
            struct gtfsrt_stop_time *st = &stops[ns++];
            memset(st, 0, sizeof *st);
            st->stop_sequence = pt->seq[k];
            snprintf(st->stop_id, sizeof st->stop_id, "%s", t->f->stops[pt->stops[k]].id);
            st->has_arrival = true;
            st->arrival_time = (int64_t)llround(p);
            st->arrival_delay = (int32_t)llround(p - transit_scheduled(t, v, k));
            u->n++;
        }
        if (u->n > 0)
            n++;
    }
    return n;
}
