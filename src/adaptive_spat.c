/* adaptive_spat.c -- signal phase and timing (SAE J2735 SPaT) and green
 * light speed advice from the adaptive controller.
 *
 * A *timeline* of one member's records covers the instant asked about
 * and what follows it: records already run (the caller's history), the
 * record running now, and -- when the next change lies beyond what has
 * been decided -- records projected by running a copy of the group
 * forward with no new input. What is projected is the "likely" future;
 * adaptive_next_start_bounds gives how far bounded re-timing (or max
 * pressure) could still move it. */
#include "adaptive.h"

#include <math.h>
#include <stdlib.h>

/* Records kept in a timeline: enough for every phase of a 16-phase
 * max-pressure member to come round twice. */
#define TL_MAX 48
/* Steps of a projection before giving up (a decision per slot). */
#define PROJECT_GUARD 4096

struct timeline {
    struct adaptive_record rec[TL_MAX];
    size_t n;                       /* records in rec */
    size_t known;                   /* rec[0..known) were decided before the question */
    size_t at;                      /* the record that contains t */
    bool gap;                       /* history was cut: no projection */
    struct adaptive_record last;    /* rec[known-1] as decided (before refinement) */
    struct adaptive_group *copy;    /* projection: its member k runs rec[n-1] */
    size_t k;
};

const char *adaptive_event_name(enum adaptive_event e)
{
    switch (e) {
    case ADAPTIVE_EV_PERMISSIVE_ALLOWED: return "permissive-movement-allowed";
    case ADAPTIVE_EV_PROTECTED_ALLOWED: return "protected-movement-allowed";
    case ADAPTIVE_EV_PERMISSIVE_CLEARANCE: return "permissive-clearance";
    case ADAPTIVE_EV_PROTECTED_CLEARANCE: return "protected-clearance";
    case ADAPTIVE_EV_STOP_AND_REMAIN: break;
    }
    return "stop-and-remain";
}

static void tl_free(struct timeline *tl)
{
    if (tl != NULL)
        adaptive_group_free(tl->copy);
    free(tl);
}

/* Index of the last history record starting at or before t, or -1. */
static long hist_find(const struct adaptive_history *h, double t)
{
    long lo = 0, hi = h == NULL ? -1 : (long)h->n - 1, found = -1;
    while (lo <= hi) {
        long mid = lo + (hi - lo) / 2;
        if (h->rec[mid].start <= t) {
            found = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return found;
}

/* The timeline around t; NULL on OOM or when t is older than the
 * history. A group that has not started runs as if started at t. */
static struct timeline *tl_build(const struct adaptive_group *g, size_t k,
                                 const struct adaptive_history *h, double t)
{
    struct timeline *tl = calloc(1, sizeof *tl);
    if (tl == NULL || (tl->copy = adaptive_group_copy(g)) == NULL) {
        free(tl);
        return NULL;
    }
    tl->k = k;
    struct adaptive_group *c = tl->copy;
    if (!c->started)
        adaptive_start(c, t);
    const struct adaptive_record *live = &c->m[k].cur;
    if (t >= c->t || t >= live->start) {
        adaptive_advance(c, t, NULL, NULL);
        tl->rec[0] = c->m[k].cur;
        tl->n = 1;
    } else {
        long i = hist_find(h, t);
        if (i < 0) {
            tl_free(tl);
            return NULL;
        }
        size_t avail = h->n - (size_t)i, take = avail < TL_MAX - 8 ? avail : TL_MAX - 8;
        tl->gap = take < avail;
        for (size_t j = 0; j < take; j++)
            tl->rec[tl->n++] = h->rec[(size_t)i + j];
        if (!tl->gap)
            tl->rec[tl->n++] = *live;
    }
    tl->known = tl->n;
    tl->last = tl->rec[tl->n - 1];
    return tl;
}

/* Run the copy to member k's next event: the last record is refined (a
 * max-pressure green extended or ended) or a new one is appended.
 * -1 when no more can be projected. */
static int tl_project(struct timeline *tl)
{
    if (tl->gap || tl->n == TL_MAX)
        return -1;
    struct adaptive_member *m = &tl->copy->m[tl->k];
    struct adaptive_record prev = m->cur;
    adaptive_advance(tl->copy, adaptive_event_time(m), NULL, NULL);
    if (m->cur.start == prev.start) {
        tl->rec[tl->n - 1] = m->cur;
        return 0;
    }
    /* A record ended: keep its final form, then the new one. */
    prev.open = false;
    prev.end = m->cur.start;
    prev.next_phase = m->cur.order[0];
    tl->rec[tl->n - 1] = prev;
    tl->rec[tl->n++] = m->cur;
    return 0;
}

static double green_start(const struct timeline *tl, size_t i, int p)
{
    return adaptive_green_start(tl->copy->m[tl->k].cfg, &tl->rec[i], p);
}

/* The first green of p starting after t: its record index, projecting
 * as needed; -1 when none could be found. */
static long next_green(struct timeline *tl, int p, double t)
{
    for (size_t i = 0, guard = 0; guard < PROJECT_GUARD; guard++) {
        for (; i < tl->n; i++) {
            double gs = green_start(tl, i, p);
            if (!isnan(gs) && gs > t && tl->rec[i].green[p] > 0)
                return (long)i;
        }
        i = tl->n - 1;      /* a refined record may now serve p */
        if (tl_project(tl) != 0)
            return -1;
    }
    return -1;
}

/* Project until record i is no longer open. */
static void settle(struct timeline *tl, size_t i)
{
    for (size_t guard = 0; tl->rec[i].open && guard < PROJECT_GUARD; guard++)
        if (tl_project(tl) != 0)
            return;
}

/* Actuated local controllers (signals.local_control = actuated) run
 * cityd's greens as fixed force-offs: a phase other than the coordinated
 * one may gap out once its minimum green has run and its detectors see
 * no vehicle, and the coordinated phase never gaps out. The earliest end
 * of phase q's green, scheduled to end at sched_end, when it can start at
 * es (not before now; a green already over ended as scheduled). */
static double actuated_end(const struct adaptive_isec_cfg *c, int q, double es,
                           double sched_end, double now)
{
    if (q == c->coord_phase || sched_end <= now)
        return sched_end;
    return fmax(now, fmin(sched_end, es + c->ph[q].gmin_s));
}

/* The earliest start of p's green in record j (>= tl->at) under actuated
 * control: the phases served from now on may each gap out, and the next
 * then starts an intergreen later (keeping its own force-off); a
 * coordinated phase in between runs to its force-off and brings the
 * chain back to the schedule. cityd does not see the detectors second by
 * second, so what runs now is taken as scheduled. NAN when a record in
 * the way is not cyclic (max pressure has its own bounds). */
static double actuated_start(const struct timeline *tl, size_t j, int p, double now)
{
    const struct adaptive_isec_cfg *c = tl->copy->m[tl->k].cfg;
    double next = tl->rec[tl->at].start;     /* earliest start of the next phase */
    for (size_t i = tl->at; i <= j; i++) {
        const struct adaptive_record *r = &tl->rec[i];
        if (r->mode == ADAPTIVE_MAX_PRESSURE || r->open)
            return NAN;
        double gs = r->start;                /* scheduled start of q */
        for (int n = 0; n < r->nserved; n++) {
            int q = r->order[n];
            if (i == j && q == p)
                return fmin(next, gs);
            double es = gs <= now ? gs : fmin(next, gs);
            double ig = c->ph[q].amber_s + c->ph[q].all_red_s;
            next = actuated_end(c, q, es, gs + r->green[q], now) + ig;
            gs += r->green[q] + ig;
        }
    }
    return NAN;
}

static void phase_spat(const struct adaptive_group *g, struct timeline *tl, int p, double t,
                       bool actuated, struct adaptive_spat *o)
{
    const struct adaptive_isec_cfg *c = tl->copy->m[tl->k].cfg;
    const struct adaptive_phase_cfg *ph = &c->ph[p];
    size_t i = tl->at;
    double gs = green_start(tl, i, p), green = tl->rec[i].green[p];
    if (!isnan(gs) && t >= gs && t < gs + green) {
        o->state = ph->permissive ? ADAPTIVE_EV_PERMISSIVE_ALLOWED : ADAPTIVE_EV_PROTECTED_ALLOWED;
        if (tl->rec[i].open) {
            /* Max pressure: at least to the next decision, at most the
             * maximum green; likely what the queues say. */
            o->min_end = gs + green;
            o->max_end = fmax(o->min_end, tl->rec[i].start + adaptive_mp_max_green(c, p));
            settle(tl, i);
            o->likely_end = gs + tl->rec[i].green[p];
        } else {
            o->min_end = o->likely_end = o->max_end = gs + green;
            if (actuated && tl->rec[i].mode != ADAPTIVE_MAX_PRESSURE)
                o->min_end = actuated_end(c, p, gs, gs + green, t);
        }
        return;
    }
    if (!isnan(gs) && t >= gs + green && t < gs + green + ph->amber_s) {
        o->state = ph->permissive ? ADAPTIVE_EV_PERMISSIVE_CLEARANCE
                                  : ADAPTIVE_EV_PROTECTED_CLEARANCE;
        o->min_end = o->likely_end = o->max_end = gs + green + ph->amber_s;
        return;
    }
    o->state = ADAPTIVE_EV_STOP_AND_REMAIN;
    long j = next_green(tl, p, t);
    if (j < 0) {
        o->min_end = o->likely_end = o->max_end = NAN;
        return;
    }
    double start = green_start(tl, (size_t)j, p), lo, hi;
    o->likely_end = o->min_end = o->max_end = start;
    if ((size_t)j >= tl->known && adaptive_next_start_bounds(g, tl->k, &tl->last, p, &lo, &hi) == 0) {
        o->min_end = fmin(lo, start);
        o->max_end = fmax(hi, start);
    }
    double early = actuated ? actuated_start(tl, (size_t)j, p, t) : NAN;
    if (!isnan(early))
        o->min_end = fmin(o->min_end, early);
}

/* Build the timeline and find the record containing t. */
static struct timeline *tl_at(const struct adaptive_group *g, size_t k,
                              const struct adaptive_history *hist, double t)
{
    struct timeline *tl = tl_build(g, k, hist, t);
    if (tl == NULL)
        return NULL;
    tl->at = 0;
    while (tl->at + 1 < tl->n && tl->rec[tl->at + 1].start <= t)
        tl->at++;
    return tl;
}

int adaptive_spat(const struct adaptive_group *g, size_t k, const struct adaptive_history *hist,
                  double t, struct adaptive_spat *out)
{
    struct timeline *tl = tl_at(g, k, hist, t);
    if (tl == NULL)
        return -1;
    for (size_t p = 0; p < g->m[k].cfg->nphases; p++)
        phase_spat(g, tl, (int)p, t, g->cfg->local == ADAPTIVE_ACTUATED, &out[p]);
    tl_free(tl);
    return 0;
}

int adaptive_record_at(const struct adaptive_group *g, size_t k,
                       const struct adaptive_history *hist, double t,
                       struct adaptive_record *out)
{
    struct timeline *tl = tl_at(g, k, hist, t);
    if (tl == NULL)
        return -1;
    *out = tl->rec[tl->at];
    tl_free(tl);
    return 0;
}

/* Green windows of p ending after t in the timeline; *open_last when
 * the last of them may still be extended. */
static int count_windows(const struct timeline *tl, int p, double t, bool *open_last)
{
    int n = 0;
    *open_last = false;
    for (size_t i = tl->at; i < tl->n; i++) {
        double gs = green_start(tl, i, p);
        if (isnan(gs) || tl->rec[i].green[p] <= 0 || gs + tl->rec[i].green[p] <= t)
            continue;
        n++;
        *open_last = tl->rec[i].open;
    }
    return n;
}

int adaptive_green_windows(const struct adaptive_group *g, size_t k,
                           const struct adaptive_history *hist, int p, double t,
                           struct adaptive_window *w, int max)
{
    struct timeline *tl = tl_at(g, k, hist, t);
    if (tl == NULL)
        return -1;
    bool open_last;
    for (size_t guard = 0; guard < PROJECT_GUARD; guard++) {
        int have = count_windows(tl, p, t, &open_last);
        if ((have >= max && !open_last) || tl_project(tl) != 0)
            break;
    }
    int n = 0;
    for (size_t i = tl->at; i < tl->n && n < max; i++) {
        double gs = green_start(tl, i, p);
        if (isnan(gs) || tl->rec[i].green[p] <= 0 || gs + tl->rec[i].green[p] <= t)
            continue;
        double lo = gs, hi = gs;
        if (i >= tl->known && adaptive_next_start_bounds(g, k, &tl->last, p, &lo, &hi) == 0) {
            lo = fmin(lo, gs);
            hi = fmax(hi, gs);
        }
        w[n++] = (struct adaptive_window){ gs, gs + tl->rec[i].green[p], lo, hi };
    }
    tl_free(tl);
    return n;
}

void adaptive_glosa(double now, double dist_m, double v, double vmin, double vmax,
                    const struct adaptive_window *w, int nw, double margin_s,
                    struct adaptive_advice *out)
{
    *out = (struct adaptive_advice){ false, NAN, NAN, -1 };
    if (!(dist_m >= 0) || !(vmax > 0))
        return;
    vmin = fmin(vmin, vmax);
    for (int i = 0; i < nw; i++) {
        double a = w[i].start <= now ? 0 : w[i].start - now + margin_s;
        double b = w[i].end - now - margin_s;
        if (!(b > a))
            continue;
        double hi = a > 0 ? fmin(vmax, dist_m / a) : vmax;
        double lo = fmax(vmin, dist_m / b);
        if (lo <= hi + 1e-9) {
            double u = v < lo ? lo : v > hi ? hi : v;
            *out = (struct adaptive_advice){ true, u, u > 0 ? dist_m / u : 0, i };
            return;
        }
    }
}
