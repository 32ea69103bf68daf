/* transit.c -- vehicle state, map matching and arrival prediction (see
 * transit.h for the model). */
#include "transit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Segment estimator. */
#define EST_TAU_S 3600.0            /* memory of the level: drifts back to the prior */
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
}

/* Travel-time estimator for one ordered stop pair. */
struct seg {
    double x, P, t;                 /* level (s), its variance, time of last update */
    bool has_level;
    double sched;                   /* timetable time of the first trip seen (or first traversal) */
    double min_s;                   /* physical lower bound */
    double hist[24], hist_n[24];    /* hour-of-day means (agency local time) */
};

struct transit {
    const struct gtfs *f;
    double *route_pace;             /* per route: observed / timetable segment time */
    struct transit_params p;
    struct dict *vehicles;          /* id -> struct transit_vehicle * (owned) */
    struct dict *by_trip;           /* trip_id -> struct transit_vehicle * */
    struct dict *segs;              /* "from\x1fto" -> struct seg * (owned) */
    struct seg ***pat_segs;         /* per pattern: n-1 seg pointers, resolved lazily */
    double last_header_ts;
};

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
    for (size_t i = 0; t->route_pace && i <= feed->n_routes; i++)
        t->route_pace[i] = 1.0;
    if (!t->vehicles || !t->by_trip || !t->segs || !t->pat_segs || !t->route_pace) {
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
    dict_free(t->segs, free);
    for (size_t i = 0; t->pat_segs && i < t->f->n_patterns; i++)
        free(t->pat_segs[i]);
    free(t->pat_segs);
    free(t->route_pace);
    free(t);
}

const struct gtfs *transit_feed(const struct transit *t)
{
    return t->f;
}

/* ---- segment estimators ---- */

static struct seg *seg_get(struct transit *t, uint32_t from, uint32_t to, double sched,
                           double len_m)
{
    char key[2 * GTFSRT_ID + 2];
    snprintf(key, sizeof key, "%s\x1f%s", t->f->stops[from].id, t->f->stops[to].id);
    struct seg *s = dict_get(t->segs, key);
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

/* The estimator of segment k (stop k -> k+1) of a pattern, cached. */
static struct seg *pattern_seg(struct transit *t, uint32_t pat, uint32_t k, const int32_t *arr)
{
    const struct gtfs_pattern *pt = &t->f->patterns[pat];
    if (t->pat_segs[pat] == NULL) {
        t->pat_segs[pat] = calloc(pt->n, sizeof **t->pat_segs);
        if (t->pat_segs[pat] == NULL)
            return NULL;
    }
    struct seg *s = t->pat_segs[pat][k];
    if (s == NULL) {
        s = seg_get(t, pt->stops[k], pt->stops[k + 1], arr[k + 1] - arr[k],
                    pt->dist_m[k + 1] - pt->dist_m[k]);
        t->pat_segs[pat][k] = s;
    }
    return s;
}

static int local_hour(const struct transit *t, double ts)
{
    int64_t it = (int64_t)ts;
    int64_t local = it + tz_offset_at(t->f->tz, it);
    int64_t h = (local / 3600) % 24;
    return (int)(h < 0 ? h + 24 : h);
}

/* The level the estimate reverts to: the hour-of-day mean once there is
 * enough of it, else the timetable. */
static double seg_prior(const struct transit *t, const struct seg *s, double ts)
{
    int h = local_hour(t, ts);
    return s->hist_n[h] >= EST_HIST_MIN ? s->hist[h] : s->sched;
}

/* Level and variance at time ts (no update). */
static double seg_level(const struct transit *t, const struct seg *s, double ts, double *var)
{
    double prior = seg_prior(t, s, ts);
    double p0 = (0.3 * prior + 10) * (0.3 * prior + 10);
    if (!s->has_level) {
        if (var)
            *var = p0;
        return prior;
    }
    double w = exp(-fmax(0, ts - s->t) / EST_TAU_S);
    if (var)
        *var = s->P * w * w + p0 * (1 - w * w);
    return prior + (s->x - prior) * w;
}

static void seg_update(struct transit *t, struct seg *s, double ts, double z)
{
    double var, x = seg_level(t, s, ts, &var);
    double prior = seg_prior(t, s, ts);
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

/* Expected time of segment k for a bus on trip tr at time ts. A segment
 * no bus has been seen on yet borrows the route's pace: how observed
 * times compare with the timetable on its other segments (timetables are
 * padded, and by about the same factor along a route). */
static double seg_estimate(struct transit *t, uint32_t trip, uint32_t k, double ts)
{
    const struct gtfs_trip *tr = &t->f->trips[trip];
    struct seg *s = pattern_seg(t, tr->pattern, k, tr->arr);
    double sched = tr->arr[k + 1] - tr->arr[k];
    if (s == NULL)
        return sched;
    if (!s->has_level && s->hist_n[local_hour(t, ts)] < EST_HIST_MIN)
        return fmax(s->sched * t->route_pace[tr->route], s->min_s);
    return fmax(seg_level(t, s, ts, NULL), s->min_s);
}

/* Learn the route's pace from one traversal (ratios of long enough
 * segments only: short ones are dominated by rounding of the timetable). */
static void pace_update(struct transit *t, uint32_t route, const struct seg *s, double z)
{
    if (s->sched < 60 || route >= t->f->n_routes)
        return;
    double r = fmin(fmax(z / s->sched, 0.3), 3.0);
    t->route_pace[route] += 0.05 * (r - t->route_pace[route]);
}

void transit_observe(struct transit *t, const char *from_stop, const char *to_stop,
                     double ts, double duration_s)
{
    uint32_t a = gtfs_stop_find(t->f, from_stop), b = gtfs_stop_find(t->f, to_stop);
    if (a == GTFS_NONE || b == GTFS_NONE || !(duration_s > 0))
        return;
    double len = geo_distance_m(t->f->stops[a].lon, t->f->stops[a].lat, t->f->stops[b].lon,
                                t->f->stops[b].lat);
    struct seg *s = seg_get(t, a, b, duration_s, len);
    if (s)
        seg_update(t, s, ts, duration_s);
}

/* ---- timetable along the line ---- */

/* Where the timetable has trip tr at `s` seconds after its day origin. */
static double sched_dist(const struct gtfs *f, uint32_t trip, double s)
{
    const struct gtfs_trip *tr = &f->trips[trip];
    const struct gtfs_pattern *pt = &f->patterns[tr->pattern];
    if (s <= tr->dep[0])
        return pt->dist_m[0];
    for (uint32_t k = 0; k + 1 < pt->n; k++) {
        if (s <= tr->dep[k])
            return pt->dist_m[k];
        if (s < tr->arr[k + 1]) {
            double fr = (s - tr->dep[k]) / (double)(tr->arr[k + 1] - tr->dep[k]);
            return pt->dist_m[k] + fr * (pt->dist_m[k + 1] - pt->dist_m[k]);
        }
    }
    return pt->dist_m[pt->n - 1];
}

/* When the timetable has trip tr at distance d (seconds after origin). */
static double sched_time(const struct gtfs *f, uint32_t trip, double d)
{
    const struct gtfs_trip *tr = &f->trips[trip];
    const struct gtfs_pattern *pt = &f->patterns[tr->pattern];
    if (d <= pt->dist_m[0])
        return tr->dep[0];
    for (uint32_t k = 0; k + 1 < pt->n; k++) {
        if (d < pt->dist_m[k + 1]) {
            double len = pt->dist_m[k + 1] - pt->dist_m[k];
            double fr = len > 0 ? (d - pt->dist_m[k]) / len : 0;
            return tr->dep[k] + fr * (tr->arr[k + 1] - tr->dep[k]);
        }
    }
    return tr->arr[pt->n - 1];
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
        dexp = sched_dist(t->f, v->trip, ts - (double)v->origin);
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
static void note_crossings(struct transit *t, struct transit_vehicle *v, double d0, double t0,
                           double d1, double t1, struct transit_segment_obs *obs,
                           size_t max_obs, size_t *n_obs)
{
    const struct gtfs_pattern *pt = gtfs_trip_pattern(t->f, v->trip);
    bool reliable = t1 - t0 <= 150 && d1 > d0;
    for (uint32_t k = 0; k < pt->n; k++) {
        double reach = pt->dist_m[k] - ARRIVE_BEFORE_M;
        if (!(reach > d0 && reach <= d1))
            continue;
        double c = t0 + (reach - d0) / (d1 - d0) * (t1 - t0);
        if (reliable && k > 0 && v->cross_pos == k - 1 && c > v->cross_ts) {
            double dur = c - v->cross_ts;
            const struct gtfs_trip *tr = &t->f->trips[v->trip];
            struct seg *s = pattern_seg(t, tr->pattern, k - 1, tr->arr);
            if (s) {
                pace_update(t, tr->route, s, dur);
                seg_update(t, s, c, dur);
            }
            if (obs && *n_obs < max_obs) {
                struct transit_segment_obs *o = &obs[(*n_obs)++];
                snprintf(o->from_stop, sizeof o->from_stop, "%s", t->f->stops[pt->stops[k - 1]].id);
                snprintf(o->to_stop, sizeof o->to_stop, "%s", t->f->stops[pt->stops[k]].id);
                o->ts = c;
                o->duration_s = dur;
            }
        }
        v->cross_pos = reliable ? k : UINT32_MAX;
        v->cross_ts = c;
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
    v->sched_dev_s = s - sched_time(t->f, v->trip, v->dist_m);
}

/* ---- prediction ---- */

double transit_scheduled(const struct transit *t, const struct transit_vehicle *v, uint32_t pos)
{
    return (double)v->origin + t->f->trips[v->trip].arr[pos];
}

/* Off its line (a detour) there is no place to predict from: the
 * timetable shifted by the last known deviation, as OneBusAway does. */
static void predict_off_route(struct transit *t, struct transit_vehicle *v)
{
    double last = v->ts;
    for (uint32_t k = v->next_pos; k < v->n_pred; k++) {
        last = fmax(last, transit_scheduled(t, v, k) + v->sched_dev_s);
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
    memset(v->pred, 0, v->n_pred * sizeof *v->pred);
    if (v->trip == GTFS_NONE || !v->matched)
        return;
    if (v->status == TRANSIT_OFF_ROUTE) {
        predict_off_route(t, v);
        return;
    }
    const struct gtfs_trip *tr = &t->f->trips[v->trip];
    const struct gtfs_pattern *pt = &t->f->patterns[tr->pattern];
    uint32_t n = pt->n, j;
    double cur;
    if (v->status == TRANSIT_LAYOVER) {
        /* It leaves when the timetable says, or now if it is late. */
        cur = fmax(v->ts, (double)v->origin + tr->dep[0]);
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
    return fmax(v->pred[pos], now);
}


/* ---- ingest ---- */

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
    if (!geo_valid_lonlat(v->lon, v->lat)) {
        snprintf(err, errlen, "vehicle.position: latitude/longitude out of range");
        return -1;
    }
    if (fabs(v->lat) < 1e-6 && fabs(v->lon) < 1e-6) {
        snprintf(err, errlen, "vehicle.position: (0, 0) is not a position");
        return -1;
    }
    if (v->timestamp && (double)v->timestamp > now + t->p.future_tolerance_s) {
        snprintf(err, errlen, "vehicle.timestamp: %llu is in the future",
                 (unsigned long long)v->timestamp);
        return -1;
    }
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

static struct transit_vehicle *vehicle_for(struct transit *t, const char *id)
{
    struct transit_vehicle *v = dict_get(t->vehicles, id);
    if (v != NULL)
        return v;
    v = calloc(1, sizeof *v);
    if (v == NULL)
        return NULL;
    snprintf(v->id, sizeof v->id, "%s", id);
    v->trip = v->route = GTFS_NONE;
    v->cross_pos = UINT32_MAX;
    int e = 0;
    dict_put(t->vehicles, id, v, &e);
    if (e) {
        free(v);
        return NULL;
    }
    return v;
}

/* Switch a vehicle to a (new) trip: service day, prediction array. */
static int assign_trip(struct transit *t, struct transit_vehicle *v, uint32_t trip,
                       const struct gtfsrt_vehicle *in, double ts)
{
    if (v->trip_id[0] && dict_get(t->by_trip, v->trip_id) == v)
        dict_del(t->by_trip, v->trip_id);
    v->trip = trip;
    snprintf(v->trip_id, sizeof v->trip_id, "%s", in->trip_id);
    v->matched = false;
    v->cross_pos = UINT32_MAX;
    v->n_pred = 0;
    if (trip == GTFS_NONE)
        return 0;
    int64_t day, origin;
    if (gtfs_parse_date(in->start_date, &day) == 0) {
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
    dict_put(t->by_trip, v->trip_id, v, &e);
    return e ? -1 : 0;
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

static enum transit_result apply(struct transit *t, const struct gtfsrt_vehicle *in, double now,
                                 struct transit_segment_obs *obs, size_t max_obs,
                                 size_t *n_obs, char *err, size_t errlen)
{
    uint32_t trip, route;
    if (n_obs)
        *n_obs = 0;
    if (validate(t, in, now, &trip, &route, err, errlen) < 0)
        return TRANSIT_REJECTED;
    double ts = in->timestamp ? (double)in->timestamp : now;
    struct transit_vehicle *v = dict_get(t->vehicles, in->vehicle_id);
    if (v != NULL && ts <= v->ts)
        return TRANSIT_OUTDATED;
    if (v == NULL && (v = vehicle_for(t, in->vehicle_id)) == NULL)
        goto oom;
    if ((v->trip != trip || strcmp(v->trip_id, in->trip_id) != 0 || v->n_pred == 0) &&
        assign_trip(t, v, trip, in, ts) < 0)
        goto oom;
    v->route = route;
    v->lon = in->lon;
    v->lat = in->lat;
    v->ts = ts;
    v->bearing = in->bearing;
    v->speed = in->speed;
    if (trip == GTFS_NONE) {
        v->status = TRANSIT_IN_TRANSIT;     /* unassigned: position only */
        return TRANSIT_ACCEPTED;
    }
    bool prior = v->matched && ts - v->match_ts <= MATCH_PRIOR_S;
    struct gtfs_place best;
    if (match_place(t, v, (struct geo_pt){in->lon, in->lat}, ts, prior, &best) < 0 &&
        !in_terminal_bay(t, v, &best)) {
        v->status = TRANSIT_OFF_ROUTE;
        if (v->matched)
            predict_all(t, v);                 /* from the last place, at the new time */
        return TRANSIT_ACCEPTED;
    }
    double d = prior ? fmax(best.d, v->dist_m) : best.d;
    if (prior)
        note_crossings(t, v, v->dist_m, v->match_ts, d, ts, obs, max_obs, n_obs);
    v->dist_m = d;
    v->off_m = best.off;
    v->match_ts = ts;
    v->matched = true;
    place_status(t, v);
    predict_all(t, v);
    return TRANSIT_ACCEPTED;
oom:
    snprintf(err, errlen, "out of memory");
    return TRANSIT_REJECTED;
}

enum transit_result transit_ingest(struct transit *t, const struct gtfsrt_vehicle *v,
                                   double now, struct transit_segment_obs *obs,
                                   size_t max_obs, size_t *n_obs, char *err, size_t errlen)
{
    return apply(t, v, now, obs, max_obs, n_obs, err, errlen);
}

enum transit_result transit_restore(struct transit *t, const struct gtfsrt_vehicle *v,
                                    double now, char *err, size_t errlen)
{
    return apply(t, v, now, NULL, 0, NULL, err, errlen);
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
            struct transit_arrival a = {vis[i].trip, vis[i].pos, NULL, origin + vis[i].arr, 0};
            a.vehicle = trip_vehicle(t, vis[i].trip, day, now);
            if (a.vehicle && a.vehicle->next_pos > a.pos)
                continue;                      /* already served */
            if (a.vehicle)
                a.predicted = transit_predict(t, a.vehicle, a.pos, now);
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

size_t transit_trip_updates(struct transit *t, double now, struct gtfsrt_header *h,
                            struct gtfsrt_trip_update *out, size_t max,
                            struct gtfsrt_stop_time *stops, size_t max_stops)
{
    size_t pos = 0, n = 0, ns = 0;
    const struct transit_vehicle *v;
    t->last_header_ts = fmax(t->last_header_ts, floor(now));
    memset(h, 0, sizeof *h);
    snprintf(h->version, sizeof h->version, "2.0");
    h->timestamp = (uint64_t)t->last_header_ts;
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
