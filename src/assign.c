/* assign.c -- trip assignment for buses whose feed names no trip (see
 * assign.h for the model). */
#include "assign.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "geo.h"
#include "tz.h"

#define MAX_PLACES 16
#define AT_STOP_M 25.0
#define LATE_SCALE_S 600.0          /* lateness costing 1 */
#define EARLY_SCALE_S 180.0         /* earliness costing 1 */
#define WAIT_SCALE_S 1800.0         /* waiting before a first departure costing 1 */
#define WRONG_WAY_COST 4.0          /* heading more than WRONG_WAY_DEG off the line */
#define WRONG_WAY_DEG 100.0
#define START_ZONE_M 800.0          /* a bus may lay over this far into a trip before it starts */

struct pat_index {
    uint32_t *trips;                /* trips on the pattern, by first departure */
    uint32_t n;
    int32_t max_dur;                /* longest trip, first departure to last arrival */
    double x0, y0, x1, y1;          /* bounding box of the line (feed projection) */
};

struct assign {
    const struct gtfs *f;
    struct pat_index *pats;         /* per pattern */
    uint32_t *next_block;           /* per trip */
};

static int cmp_dep(const void *x, const void *y, void *feed)
{
    const struct gtfs *f = feed;
    const struct gtfs_trip *a = &f->trips[*(const uint32_t *)x];
    const struct gtfs_trip *b = &f->trips[*(const uint32_t *)y];
    return (a->dep[0] > b->dep[0]) - (a->dep[0] < b->dep[0]);
}

/* Trips grouped by block and service, in departure order. */
static int cmp_block(const void *x, const void *y, void *feed)
{
    const struct gtfs *f = feed;
    const struct gtfs_trip *a = &f->trips[*(const uint32_t *)x];
    const struct gtfs_trip *b = &f->trips[*(const uint32_t *)y];
    int c = strcmp(a->block_id ? a->block_id : "", b->block_id ? b->block_id : "");
    if (c == 0)
        c = (a->service > b->service) - (a->service < b->service);
    return c ? c : (a->dep[0] > b->dep[0]) - (a->dep[0] < b->dep[0]);
}

static bool usable(const struct gtfs *f, uint32_t i)
{
    const struct gtfs_trip *tr = &f->trips[i];
    return tr->pattern != GTFS_NONE && f->patterns[tr->pattern].n >= 2 &&
           f->patterns[tr->pattern].line != NULL && f->patterns[tr->pattern].xy != NULL;
}

static int index_patterns(struct assign *a)
{
    const struct gtfs *f = a->f;
    for (size_t i = 0; i < f->n_trips; i++)
        if (usable(f, (uint32_t)i))
            a->pats[f->trips[i].pattern].n++;
    for (size_t p = 0; p < f->n_patterns; p++) {
        struct pat_index *pi = &a->pats[p];
        const struct gtfs_pattern *pt = &f->patterns[p];
        if (pi->n && (pi->trips = malloc(pi->n * sizeof *pi->trips)) == NULL)
            return -1;
        pi->n = 0;
        pi->x0 = pi->y0 = INFINITY;
        pi->x1 = pi->y1 = -INFINITY;
        for (size_t k = 0; pt->line && pt->xy && k < pt->line->n; k++) {
            pi->x0 = fmin(pi->x0, pt->xy[k].x);
            pi->x1 = fmax(pi->x1, pt->xy[k].x);
            pi->y0 = fmin(pi->y0, pt->xy[k].y);
            pi->y1 = fmax(pi->y1, pt->xy[k].y);
        }
    }
    for (size_t i = 0; i < f->n_trips; i++) {
        if (!usable(f, (uint32_t)i))
            continue;
        const struct gtfs_trip *tr = &f->trips[i];
        struct pat_index *pi = &a->pats[tr->pattern];
        pi->trips[pi->n++] = (uint32_t)i;
        int32_t dur = tr->arr[f->patterns[tr->pattern].n - 1] - tr->dep[0];
        if (dur > pi->max_dur)
            pi->max_dur = dur;
    }
    for (size_t p = 0; p < f->n_patterns; p++)
        if (a->pats[p].n > 1)       /* a pattern without a line has no array to sort */
            qsort_r(a->pats[p].trips, a->pats[p].n, sizeof *a->pats[p].trips, cmp_dep,
                    (void *)f);
    return 0;
}

static int index_blocks(struct assign *a)
{
    const struct gtfs *f = a->f;
    uint32_t *ord = malloc((f->n_trips + 1) * sizeof *ord);
    size_t n = 0;
    if (ord == NULL)
        return -1;
    for (size_t i = 0; i < f->n_trips; i++) {
        a->next_block[i] = GTFS_NONE;
        if (usable(f, (uint32_t)i) && f->trips[i].block_id && f->trips[i].block_id[0])
            ord[n++] = (uint32_t)i;
    }
    qsort_r(ord, n, sizeof *ord, cmp_block, (void *)f);
    for (size_t k = 0; k + 1 < n; k++) {
        const struct gtfs_trip *x = &f->trips[ord[k]], *y = &f->trips[ord[k + 1]];
        if (strcmp(x->block_id, y->block_id) == 0 && x->service == y->service)
            a->next_block[ord[k]] = ord[k + 1];
    }
    free(ord);
    return 0;
}

struct assign *assign_new(const struct gtfs *f)
{
    struct assign *a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    a->f = f;
    a->pats = calloc(f->n_patterns + 1, sizeof *a->pats);
    a->next_block = malloc((f->n_trips + 1) * sizeof *a->next_block);
    if (a->pats == NULL || a->next_block == NULL || index_patterns(a) < 0 ||
        index_blocks(a) < 0) {
        assign_free(a);
        return NULL;
    }
    return a;
}

void assign_free(struct assign *a)
{
    if (a == NULL)
        return;
    for (size_t p = 0; a->pats && p < a->f->n_patterns; p++)
        free(a->pats[p].trips);
    free(a->pats);
    free(a->next_block);
    free(a);
}

uint32_t assign_next_in_block(const struct assign *a, uint32_t trip)
{
    return trip < a->f->n_trips ? a->next_block[trip] : GTFS_NONE;
}

/* Where a report lies on one pattern: the places on its line within the
 * gate, and its distance from the first stop (for a terminal bay). */
struct where {
    struct gtfs_place pl[MAX_PLACES];
    size_t n;
    double bay_m;
};

static void locate(const struct assign *a, uint32_t p, const struct assign_query *q,
                   struct where *w)
{
    const struct gtfs_pattern *pt = &a->f->patterns[p];
    const struct gtfs_stop *s0 = &a->f->stops[pt->stops[0]];
    w->n = gtfs_line_places(a->f, pt, (struct geo_pt){q->lon, q->lat}, q->gate_m, 0,
                            pt->line->length_m, w->pl, MAX_PLACES);
    w->bay_m = geo_distance_m(q->lon, q->lat, s0->lon, s0->lat);
}

static double angle_diff(double a, double b)
{
    double d = fmod(fabs(a - b), 360.0);
    return d > 180 ? 360 - d : d;
}

/* Cost of trip on the day with origin at one place (d, off). -1 when it
 * does not fit there. */
static int score_place(const struct assign *a, const struct assign_query *q, uint32_t trip,
                       double origin, double d, double off, bool bay, struct assign_match *m)
{
    const struct gtfs *f = a->f;
    const struct gtfs_trip *tr = &f->trips[trip];
    const struct gtfs_pattern *pt = &f->patterns[tr->pattern];
    double s = q->ts - origin;
    if (s < tr->dep[0] - ASSIGN_EARLY_S || s > tr->arr[pt->n - 1] + ASSIGN_LATE_S)
        return -1;
    if (d >= pt->dist_m[pt->n - 1] - ASSIGN_ENDED_M) {
        /* At its last stop the trip is over; what it says is which block
         * the bus runs (ended): its lateness there, at a quarter of the
         * cost (buses often reach their terminal late, and lay over less). */
        double late = s - tr->arr[pt->n - 1];
        double c = late >= 0 ? (late / LATE_SCALE_S) * (late / LATE_SCALE_S)
                             : (late / EARLY_SCALE_S) * (late / EARLY_SCALE_S);
        c /= 4;
        *m = (struct assign_match){trip, 0, (int64_t)origin, d, off, late, c, 0, 1};
        return bay ? -1 : 0;
    }
    /* Before the trip is due at that place, near its start: laying over
     * (terminal bays and layover stops are often a little way in). */
    double due = gtfs_sched_time(f, trip, d);
    bool waiting = d <= pt->dist_m[0] + START_ZONE_M && s <= due;
    if (bay && !waiting)
        return -1;                          /* off the line is only for a bus yet to leave */
    double dev = waiting ? 0 : s - due, c;
    if (waiting)
        c = (due - s) / WAIT_SCALE_S;
    else if (dev >= 0)
        c = (dev / LATE_SCALE_S) * (dev / LATE_SCALE_S);
    else {
        /* A bus seen leaving early runs early: not a sign of another trip. */
        double beyond = fmin(dev - fmin(q->left_dev_s, 0), 0);
        c = (beyond / EARLY_SCALE_S) * (beyond / EARLY_SCALE_S);
    }
    double gate = bay ? ASSIGN_BAY_M : q->gate_m;
    c += 0.5 * (off / gate) * (off / gate);
    if (!isnan(q->heading) && !waiting) {
        double diff = angle_diff(q->heading, gtfs_line_heading(pt, d));
        c += diff > WRONG_WAY_DEG ? WRONG_WAY_COST : 0.5 * (diff / 90) * (diff / 90);
    }
    *m = (struct assign_match){trip, 0, (int64_t)origin, d, off, dev, c, waiting, 0};
    return 0;
}

/* Best place of trip on one day given where the report lies. */
static int score_trip(const struct assign *a, const struct assign_query *q, uint32_t trip,
                      int64_t day, const struct where *w, struct assign_match *best)
{
    const struct gtfs *f = a->f;
    if (!gtfs_service_active(f, f->trips[trip].service, day))
        return -1;
    double origin = (double)gtfs_day_origin(f, day);
    const struct gtfs_pattern *pt = &f->patterns[f->trips[trip].pattern];
    struct assign_match m;
    int found = -1;
    for (size_t i = 0; i < w->n; i++) {
        if (score_place(a, q, trip, origin, w->pl[i].d, w->pl[i].off, false, &m) == 0 &&
            (found < 0 || m.cost < best->cost)) {
            *best = m;
            found = 0;
        }
    }
    if (found < 0 && w->bay_m <= ASSIGN_BAY_M &&
        score_place(a, q, trip, origin, pt->dist_m[0], w->bay_m, true, &m) == 0) {
        *best = m;
        found = 0;
    }
    if (found == 0)
        best->day = day;
    return found;
}

int assign_score(const struct assign *a, const struct assign_query *q, uint32_t trip,
                 int64_t day, struct assign_match *m)
{
    if (trip >= a->f->n_trips || !usable(a->f, trip))
        return -1;
    struct where w;
    locate(a, a->f->trips[trip].pattern, q, &w);
    return score_trip(a, q, trip, day, &w, m);
}

static int cmp_cost(const void *x, const void *y)
{
    const struct assign_match *a = x, *b = y;
    if (a->cost != b->cost)
        return a->cost < b->cost ? -1 : 1;
    return (a->trip > b->trip) - (a->trip < b->trip);
}

/* Keep the best `max` in out (unsorted until the end): replace the worst. */
static void keep(struct assign_match *out, size_t max, size_t *n, const struct assign_match *m)
{
    if (*n < max) {
        out[(*n)++] = *m;
        return;
    }
    size_t worst = 0;
    for (size_t i = 1; i < *n; i++)
        if (out[i].cost > out[worst].cost)
            worst = i;
    if (max > 0 && m->cost < out[worst].cost)
        out[worst] = *m;
}

static bool near_box(const struct pat_index *pi, struct geo_xy p, double r)
{
    return p.x >= pi->x0 - r && p.x <= pi->x1 + r && p.y >= pi->y0 - r && p.y <= pi->y1 + r;
}

size_t assign_candidates(const struct assign *a, const struct assign_query *q,
                         struct assign_match *out, size_t max)
{
    const struct gtfs *f = a->f;
    struct geo_xy xy = geo_project(geo_projection(f->geo), q->lon, q->lat);
    int64_t today = tz_local_day(f->tz, (int64_t)q->ts);
    size_t n = 0;
    double r = fmax(q->gate_m, ASSIGN_BAY_M);
    for (size_t p = 0; p < f->n_patterns; p++) {
        const struct pat_index *pi = &a->pats[p];
        if (pi->n == 0 || !near_box(pi, xy, r))
            continue;
        struct where w;
        locate(a, (uint32_t)p, q, &w);
        if (w.n == 0 && w.bay_m > ASSIGN_BAY_M)
            continue;
        for (int64_t day = today - 1; day <= today + 1; day++) {
            double s = q->ts - (double)gtfs_day_origin(f, day);
            /* Trips by first departure: those that may be running at s. */
            double lo = s - pi->max_dur - ASSIGN_LATE_S, hi = s + ASSIGN_EARLY_S;
            size_t i = 0, j = pi->n;
            while (i < j) {
                size_t mid = (i + j) / 2;
                if (f->trips[pi->trips[mid]].dep[0] < lo)
                    i = mid + 1;
                else
                    j = mid;
            }
            for (; i < pi->n && f->trips[pi->trips[i]].dep[0] <= hi; i++) {
                uint32_t trip = pi->trips[i];
                struct assign_match m;
                if (q->route != GTFS_NONE && f->trips[trip].route != q->route)
                    continue;
                if (score_trip(a, q, trip, day, &w, &m) == 0)
                    keep(out, max, &n, &m);
            }
        }
    }
    qsort(out, n, sizeof *out, cmp_cost);
    return n;
}
