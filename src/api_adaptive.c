/* api_adaptive.c -- the real-time signal endpoints of api.md section 4:
 * detector counts in, the timing running now, SPaT and speed advice out,
 * and a per-intersection mode override. The engineering is in adaptive.c
 * (control) and adaptive_spat.c (SPaT, advice); this file builds the
 * controllers from the map, keeps them in step with the clock, and makes
 * every input durable before it is acknowledged.
 *
 * Groups. Each corridor of the map is one group (its intersections, in
 * outbound order, run one common cycle); an intersection already taken by
 * an earlier corridor stays there, one on no corridor is a group of its
 * own, and so is each intersection of a corridor whose cycle bounds have
 * nothing in common.
 *
 * Inputs (counts, mode changes) of a group are taken one at a time, in
 * arrival order. Each is applied to a copy of the group's state; the copy
 * is stored in the same MULTI/EXEC as the input, and replaces the live
 * state only once Redis has it. Reads never change what the controller
 * decides: the live state is advanced to the clock (never beyond it, and
 * not while an input is being written); instants ahead of it are
 * answered from a copy run forward.
 *
 * Redis (keys of an intersection share its hash tag):
 *   cityd:{int:<id>}:seen:<count id>  idempotency marker (31 days)
 *   cityd:{int:<id>}:counts           LIST of counts as received (JSON),
 *                                     retention.counts_s before the count
 *                                     stored, by count time, at most
 *                                     COUNTS_LIMIT_MAX (what GET reads)
 *   cityd:{int:<id>}:lease            the group's lease (first member; see
 *                                     "the lease" below), :inbox its inputs
 *                                     sent to other cityd (STREAM)
 *   cityd:{int:<id>}:adaptive         snapshot of the whole group (JSON)
 *                                     written with each input to one of
 *                                     its intersections; at start the
 *                                     newest (highest "seq") among a
 *                                     group's intersections is restored
 *
 * Corridor plans. Activating a plan (PUT /v1/signals/corridors/{id}/plan,
 * api_signals.c finds it) is an input of the corridor's group like the
 * others: applied to a copy (adaptive_set_plan), then the corridor's
 * active-plan keys are written (cityd:{cor:<id>}:plan:active and
 * :plan_active, the source of truth), then the group's snapshot (another
 * hash tag, so another transaction). At start the active plan is read with
 * the snapshots, and a group whose snapshot follows another plan (or none)
 * is brought in line with it and stored. */
#include <event2/event.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "adaptive.h"
#include "api_signals.h"
#include "app.h"
#include "corridor.h"
#include "dict.h"
#include "geo.h"
#include "http.h"
#include "params.h"
#include "keys.h"
#include "map.h"
#include "metrics.h"
#include "module.h"
#include "pfeed.h"

#define HIST_MAX 96                     /* records per member kept for past instants */
#define QUEUE_MAX_VEH 10000             /* residual queue: more is not a queue */
#define SEEN_TTL_S 2678400              /* idempotency window: 31 days */
#define FUTURE_SLACK_S 300.0            /* an interval may end this far ahead of the clock */
#define INTERVAL_MAX_S 86400.0
#define COUNT_ID_MAX 128
#define COUNTS_LIMIT_MAX 1000
#define ADVISORY_MATCH_M 50.0           /* farther from every corridor: no advice */
#define ADVISORY_HEADING_DEG 45.0       /* heading within this of the line's direction */
#define ADVISORY_VMIN_MPS 5.0
#define ADVISORY_MARGIN_S 1.0           /* arrive this far inside the green */
#define ADVISORY_PASSED_M 2.0           /* a stop line this close behind counts as passed */
#define ADVISORY_WINDOWS 3

/* ---- state ---- */

struct shist {                          /* a member's finished records, oldest first */
    struct adaptive_record *rec;
    size_t n;
};

struct job;

struct sgroup {
    struct adaptive_group_cfg cfg;
    struct adaptive_isec_cfg *isec;         /* owned, cfg.n */
    const struct map_corridor *cor;         /* NULL for a lone intersection */
    struct adaptive_group *live;            /* owned */
    struct adaptive_group *pending;         /* owned: the state being written, else NULL */
    struct shist *hist;                     /* owned, cfg.n */
    struct job *head, *tail;                /* inputs waiting, head in progress */
    /* restore */
    char *best;                             /* newest snapshot found (owned) */
    unsigned long long best_seq;
    char *active;                           /* the corridor's active plan (JSON, owned) */
    unsigned long long head_seq;            /* newest seq the members' snapshot heads say ... */
    size_t head_k;                          /* ... and its member (SIZE_MAX: none) */
    bool head_unsure;                       /* a head did not say: read every member whole */
    bool save;                              /* changed at this start: store it */
    /* the lease (several cityd) */
    bool owner;                             /* this process holds it ... */
    double valid_until;                     /* ... until (monotonic s): then it may not */
    bool leasing;                           /* a lease command is out */
    bool inbox_busy;                        /* an inbox read is out, or its entries queued */
    unsigned inbox_jobs;                    /* entries of the last read still queued */
    bool inbox_hold;                        /* one of them stays: leave the rest too */
    bool inbox_more;                        /* the last read found entries: read again */
    bool fresh;                             /* restored, no lease answer since */
};

struct mref {
    struct sgroup *g;
    size_t k;
    double count_len;                       /* interval of its latest counts (0: none yet) */
};

/* cityd_signals_counts_total{result=...} */
enum count_result { CR_ACCEPTED, CR_DUPLICATE, CR_INVALID, CR_FAILED };
static const char *const COUNT_RESULTS[4] = { "accepted", "duplicate", "invalid", "failed" };

enum job_kind { JOB_COUNTS, JOB_MODE, JOB_PLAN };

struct job {
    struct job *next;
    struct signals *s;
    struct sgroup *g;
    size_t k;
    struct http_req *r;
    enum job_kind kind;
    char id[COUNT_ID_MAX + 1];
    double ts, len, counts[ADAPTIVE_NMOV];
    double queues[ADAPTIVE_NMOV];           /* residual queues, NAN: not measured */
    char *entry;                            /* counts as stored (owned) */
    enum adaptive_mode mode;
    bool override;                          /* JOB_PLAN: every member switches to mode */
    enum adaptive_est_result res[ADAPTIVE_NMOV];
    /* JOB_PLAN: the plan as stored (owned), its id, cycle and members. */
    char *plan_json;
    char plan[ADAPTIVE_PLAN_ID_MAX + 1];
    double plan_cycle;
    struct adaptive_plan_member *pm;        /* owned, one per member */
    char inbox_id[48];                      /* taken from the inbox: its entry, else "" */
    bool consumed;                          /* ... and done with: stored, a duplicate or
                                               refused for good (else it stays, taken again) */
};

static void signals_free(struct signals *s)
{
    for (size_t i = 0; s->groups && i < s->ngroups; i++) {
        struct sgroup *g = &s->groups[i];
        for (size_t k = 0; g->hist && k < g->cfg.n; k++)
            free(g->hist[k].rec);
        free(g->hist);
        free(g->isec);
        free(g->best);
        free(g->active);
        adaptive_group_free(g->live);
        adaptive_group_free(g->pending);
    }
    free(s->groups);
    free(s->mrefs);
    if (s->tick != NULL)
        event_free(s->tick);
    dict_free(s->by_id, NULL);
    restore_free(&s->rs);
    free(s);
}

static void release(struct signals *s)
{
    lifetime_release(&s->lt);
}

/* ---- building the controllers from the map ---- */

static unsigned movement_mask(const struct map_phase *ph)
{
    unsigned m = 0;
    for (size_t j = 0; j < ph->nmovements; j++) {
        int i = adaptive_movement_index(ph->movements[j]);
        if (i >= 0)
            m |= 1u << i;
    }
    return m;
}

/* Through movement of direction d ('E' -> "EBT"). */
static void through(char d, char *mv)
{
    mv[0] = d;
    mv[1] = 'B';
    mv[2] = 'T';
    mv[3] = '\0';
}

static int isec_cfg(const struct map *m, const struct map_corridor *c, size_t i,
                    const struct map_intersection *x, struct adaptive_isec_cfg *out, char *err)
{
    memset(out, 0, sizeof *out);
    out->id = x->id;
    out->nphases = x->nphases;
    if (x->nphases > ADAPTIVE_MAX_PHASES) {
        snprintf(err, ERRLEN, "intersection '%s': more than %d phases", x->id,
                 ADAPTIVE_MAX_PHASES);
        return -1;
    }
    for (size_t k = 0; k < x->nphases; k++) {
        const struct map_phase *p = &x->phases[k];
        out->ph[k] = (struct adaptive_phase_cfg){
            .movements = movement_mask(p), .saturation_vph = p->saturation_flow,
            .min_green_s = p->min_green_s, .design_vph = p->design_flow,
            .ped_crossing_m = corridor_serves_through(p) ? x->pedestrian_crossing_m : 0 };
        for (int l = 0; l < 2; l++)
            out->down[k][l] = (struct adaptive_link){ -1, -1 };
    }
    for (size_t k = x->nphases; k < ADAPTIVE_MAX_PHASES; k++)
        for (int l = 0; l < 2; l++)
            out->down[k][l] = (struct adaptive_link){ -1, -1 };
    out->lost_time_s = x->lost_time_s;
    out->cycle_min_s = x->cycle_min_s;
    out->cycle_max_s = x->cycle_max_s;
    out->out_phase = out->in_phase = -1;
    if (c != NULL) {
        char d = corridor_outbound_dir(m, c, i), mo[4], mi[4];
        through(d, mo);
        through(corridor_opposite(d), mi);
        out->out_phase = corridor_phase_of(x, mo);
        out->in_phase = corridor_phase_of(x, mi);
        out->coord_phase = out->out_phase >= 0 ? out->out_phase : 0;
        out->position_m = c->position_m[i];
    }
    return adaptive_cfg_finish(out, err, ERRLEN);
}

/* How the city's local controllers run cityd's timings (signals.local_control). */
static enum adaptive_local local_control(const struct signals *s)
{
    return s->a->cfg.signals_local_control == SIGNALS_ACTUATED ? ADAPTIVE_ACTUATED
                                                                : ADAPTIVE_PRETIMED;
}

/* Max pressure's downstream queues along the corridor: outbound through
 * traffic of member i queues next at i+1, inbound at i-1. */
static void link_members(const struct map *m, const struct map_corridor *c, struct sgroup *g,
                         const size_t *idx)
{
    for (size_t i = 0; i < g->cfg.n; i++) {
        struct adaptive_isec_cfg *x = &g->isec[i];
        int l = 0;
        for (int dir = 0; dir < 2; dir++) {
            size_t j = dir == 0 ? i + 1 : i - 1;
            int p = dir == 0 ? x->out_phase : x->in_phase;
            if (p < 0 || (dir == 0 && i + 1 >= g->cfg.n) || (dir == 1 && i == 0))
                continue;
            char d = corridor_outbound_dir(m, c, idx[j]), mv[4];
            through(dir == 0 ? d : corridor_opposite(d), mv);
            int q = corridor_phase_of(map_intersection(m, c->isecs[idx[j]]), mv);
            if (q >= 0)
                x->down[p][l++] = (struct adaptive_link){ (int)j, q };
        }
    }
}

static enum adaptive_mode default_mode(const struct app *a)
{
    return a->cfg.signals_mode == SIGNALS_FIXED ? ADAPTIVE_FIXED : ADAPTIVE_WEBSTER;
}

/* One group: members idx[0..n) of corridor c (NULL: the lone
 * intersection x). */
static int group_init(struct signals *s, struct sgroup *g, const struct map_corridor *c,
                      const size_t *idx, size_t n, const struct map_intersection *x, char *err)
{
    const struct map *m = s->a->map;
    g->isec = calloc(n, sizeof *g->isec);
    g->hist = calloc(n, sizeof *g->hist);
    if (g->isec == NULL || g->hist == NULL) {
        snprintf(err, ERRLEN, "out of memory");
        return -1;
    }
    g->cor = c;
    for (size_t i = 0; i < n; i++) {
        const struct map_intersection *xi = c ? map_intersection(m, c->isecs[idx[i]]) : x;
        if (isec_cfg(m, c, c ? idx[i] : 0, xi, &g->isec[i], err) != 0)
            return -1;
        if ((g->hist[i].rec = malloc(HIST_MAX * sizeof *g->hist[i].rec)) == NULL) {
            snprintf(err, ERRLEN, "out of memory");
            return -1;
        }
        /* Written now, not as the ring fills: its pages are then resident
         * from the start (96 KB a member, 144 MB for 1,500 signals), so
         * what cityd holds after its first hours is what it holds at
         * start, and a growing RSS means a leak (make soak). */
        memset(g->hist[i].rec, 0, HIST_MAX * sizeof *g->hist[i].rec);
    }
    if (c != NULL)
        link_members(m, c, g, idx);
    g->cfg = (struct adaptive_group_cfg){ c ? c->id : NULL, n, g->isec,
                                          c ? c->speed_kmh / 3.6 : 0, local_control(s) };
    g->live = adaptive_group_new(&g->cfg, default_mode(s->a));
    if (g->live == NULL) {
        snprintf(err, ERRLEN, "out of memory");
        return -1;
    }
    return 0;
}

/* Do the cycle bounds of a corridor's members meet? */
static bool bounds_meet(const struct map *m, const struct map_corridor *c, const size_t *idx,
                        size_t n)
{
    double lo = 0, hi = INFINITY;
    for (size_t i = 0; i < n; i++) {
        const struct map_intersection *x = map_intersection(m, c->isecs[idx[i]]);
        double need = x->lost_time_s;
        for (size_t k = 0; k < x->nphases; k++)
            need += fmax(x->phases[k].min_green_s, ADAPTIVE_MIN_GREEN_FLOOR_S);
        lo = fmax(lo, fmax(x->cycle_min_s, need));
        hi = fmin(hi, x->cycle_max_s);
    }
    return lo <= hi;
}

static int add_group(struct signals *s, const struct map_corridor *c, const size_t *idx, size_t n,
                     const struct map_intersection *x)
{
    char err[ERRLEN];
    struct sgroup *g = &s->groups[s->ngroups];
    memset(g, 0, sizeof *g);
    if (group_init(s, g, c, idx, n, x, err) != 0) {
        char qg[2 * ERRLEN + 3], qe[2 * ERRLEN + 3];
        log_warn(&s->a->log, "signals_uncontrolled", "group=%s error=%s",
                 log_quote(qg, sizeof qg, c ? c->id : x->id), log_quote(qe, sizeof qe, err));
        for (size_t k = 0; g->hist && k < n; k++)
            free(g->hist[k].rec);
        free(g->hist);
        free(g->isec);
        adaptive_group_free(g->live);
        memset(g, 0, sizeof *g);
        return -1;
    }
    s->ngroups++;
    for (size_t k = 0; k < n; k++) {
        struct mref *r = &s->mrefs[dict_size(s->by_id)];
        *r = (struct mref){ g, k, 0 };
        dict_put(s->by_id, g->isec[k].id, r, NULL);
    }
    return 0;
}

static int build_groups(struct signals *s)
{
    const struct map *m = s->a->map;
    size_t nx = m->nisecs;
    s->groups = calloc(nx + 1, sizeof *s->groups);
    s->mrefs = calloc(nx + 1, sizeof *s->mrefs);
    size_t *idx = calloc(nx + 1, sizeof *idx);
    bool *taken = calloc(nx + 1, sizeof *taken);
    s->by_id = dict_new();
    int rc = -1;
    if (s->groups == NULL || s->mrefs == NULL || idx == NULL || taken == NULL || !s->by_id)
        goto out;
    for (size_t ci = 0; ci < m->ncorridors; ci++) {
        const struct map_corridor *c = &m->corridors[ci];
        size_t n = 0;
        for (size_t i = 0; i < c->nisecs && n < ADAPTIVE_MAX_MEMBERS; i++) {
            const struct map_intersection *x = map_intersection(m, c->isecs[i]);
            size_t xi = (size_t)(x - m->isecs);
            if (!taken[xi]) {
                taken[xi] = true;
                idx[n++] = i;
            }
        }
        if (n > 0 && bounds_meet(m, c, idx, n)) {
            add_group(s, c, idx, n, NULL);
            continue;
        }
        for (size_t i = 0; i < n; i++)      /* no common cycle: each on its own */
            add_group(s, NULL, NULL, 1, map_intersection(m, c->isecs[idx[i]]));
    }
    for (size_t xi = 0; xi < nx; xi++)
        if (!taken[xi])
            add_group(s, NULL, NULL, 1, &m->isecs[xi]);
    rc = 0;
out:
    free(idx);
    free(taken);
    return rc;
}

/* ---- keeping the live state in step ---- */

static void hist_push(void *arg, size_t k, const struct adaptive_record *r)
{
    struct sgroup *g = arg;
    struct shist *h = &g->hist[k];
    if (h->n == HIST_MAX) {
        memmove(h->rec, h->rec + 1, (HIST_MAX - 1) * sizeof *h->rec);
        h->n--;
    }
    h->rec[h->n++] = *r;
}

/* Advance the live state to `t`, never past the clock and not while an
 * input is being written (its copy would then be stale). */
static void catch_up(struct signals *s, struct sgroup *g, double t)
{
    double now = app_now(s->a);
    if (g->pending == NULL && g->live->started)
        adaptive_advance(g->live, fmin(t, now), hist_push, g);
}

static struct adaptive_history history(const struct sgroup *g, size_t k)
{
    return (struct adaptive_history){ g->hist[k].rec, g->hist[k].n };
}

/* ---- common request handling ---- */

/* The member named by the path, or NULL after replying (404 / 503). */
static struct mref *find_member(struct http_req *r, struct signals *s)
{
    const char *id = http_req_param(r, "id");
    struct mref *m = id && s ? dict_get(s->by_id, id) : NULL;
    if (m == NULL) {
        if (id && s && map_intersection(s->a->map, id) != NULL)
            http_reply_error(r, 409, "conflict", "intersection '%s' cannot be timed (see the log "
                             "at start)", id);
        else
            http_reply_error(r, 404, "not_found", "intersection '%s' not found", id ? id : "");
        return NULL;
    }
    if (!restore_ready(&s->rs)) {
        http_reply_unavailable(r);
        return NULL;
    }
    return m;
}

static json_t *movements_json(const struct adaptive_phase_cfg *p)
{
    json_t *a = json_array();
    for (int i = 0; i < ADAPTIVE_NMOV; i++)
        if (p->movements & (1u << i))
            json_array_append_new(a, json_string(adaptive_movement_name(i)));
    return a;
}

/* ---- GET .../timing ---- */

static const char *member_name(const struct signals *s, const struct adaptive_isec_cfg *c)
{
    const struct map_intersection *x = map_intersection(s->a->map, c->id);
    return x && x->name ? x->name : c->id;
}

/* Append to buf (length *len of n), truncating quietly. */
static void add(char *buf, size_t n, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add(char *buf, size_t n, size_t *len, const char *fmt, ...)
{
    if (*len + 1 >= n)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *len, n - *len, fmt, ap);
    va_end(ap);
    *len = w < 0 ? *len : fmin(n - 1, *len + (size_t)w);
}

/* Why the record runs as it does, in words. */
static void reason(const struct signals *s, const struct sgroup *g, size_t k,
                   const struct adaptive_record *r, char *buf, size_t n)
{
    const struct adaptive_isec_cfg *c = &g->isec[k];
    size_t len = 0;
    buf[0] = '\0';
    if (r->mode == ADAPTIVE_MAX_PRESSURE) {
        int p = r->order[0];
        add(buf, n, &len, "max pressure (Varaiya 2013): serving phase %d (%.1f veh queued, "
            "pressure %.0f) for %.0f s so far; a phase is extended every %.0f s while its "
            "pressure is the largest, up to %.0f s", p + 1, r->queue[p], r->pressure[p],
            r->green[p], ADAPTIVE_MP_SLOT_S, adaptive_mp_max_green(c, p));
        return;
    }
    bool counted = false, plan_cycle = r->plan_split && r->target_cycle_s == r->plan_cycle_s;
    for (size_t p = 0; p < c->nphases; p++)
        counted |= r->from_counts[p];
    if (r->plan_split)
        add(buf, n, &len, "fixed: plan %s of corridor %s (%.0f s cycle, its offsets and split)",
            r->plan, g->cfg.id, r->plan_cycle_s);
    else if (r->mode == ADAPTIVE_FIXED)
        add(buf, n, &len, "fixed: Webster on the map's design flows");
    else
        add(buf, n, &len, "adaptive: Webster on %s (Y = %.2f", counted ?
            "flows smoothed from detector counts" : "the map's design flows, no current counts",
            r->Y);
    if (r->mode != ADAPTIVE_FIXED && isnan(r->webster_cycle_s))
        add(buf, n, &len, ": oversaturated, longest cycle)");
    else if (r->mode != ADAPTIVE_FIXED)
        add(buf, n, &len, ", own cycle %.1f s)", r->webster_cycle_s);
    if (g->cfg.n > 1 && r->critical >= 0 && (size_t)r->critical < g->cfg.n)
        add(buf, n, &len, "; common cycle of %s %.0f s, set by %s, heading for %.0f s (<= %.0f "
            "s per cycle)", g->cfg.id, r->common_cycle_s, plan_cycle ? "the plan" :
            member_name(s, &g->isec[r->critical]), r->target_cycle_s, ADAPTIVE_CYCLE_STEP_S);
    else
        add(buf, n, &len, "; cycle %.0f s heading for %.0f s (<= %.0f s per cycle)",
            r->common_cycle_s, r->target_cycle_s, ADAPTIVE_CYCLE_STEP_S);
    add(buf, n, &len, "; greens move <= %.0f %% of the cycle per cycle toward %s",
        100 * ADAPTIVE_GREEN_STEP, r->plan_split ? (plan_cycle ? "the plan's split" :
        "the plan's split stretched to the common cycle") : r->plan_offsets ? "the plan's split, "
        "green moved only where the counted flows need it (x <= 0.9)" : "Webster's split");
    if (c->out_phase < 0 || g->cfg.n < 2)
        return;
    if (r->delta_s != 0)
        add(buf, n, &len, "; offset %.1f s moving to %.1f s: this cycle %s %.1f s (shortway)",
            r->offset_s, r->target_offset_s, r->delta_s > 0 ? "lengthened" : "shortened",
            fabs(r->delta_s));
    else
        add(buf, n, &len, "; offset %.1f s", r->offset_s);
    if (r->plan_offsets)
        add(buf, n, &len, " (plan %s)", r->plan);
    else if (r->delta_s == 0)
        add(buf, n, &len, " (MAXBAND, equal bands)");
}

/* Where phase p's flow came from: its counts, the map's design flow, or
 * none -- a phase never counted at an adaptive signal that has counts runs
 * on no flow (its minimum green; docs/signals.md "Adaptive timing"). */
static const char *flow_source(const struct adaptive_isec_cfg *c, const struct adaptive_record *r,
                               int p)
{
    bool counted = false;
    for (size_t k = 0; k < c->nphases; k++)
        counted |= r->from_counts[k];
    if (r->from_counts[p])
        return "counts";
    return counted && r->mode == ADAPTIVE_WEBSTER && r->flow[p] == 0 && c->ph[p].design_vph > 0
        ? "none" : "design";
}

/* x, HCM delay and LOS of phase p under record r. */
static void phase_perf(const struct adaptive_isec_cfg *c, const struct adaptive_record *r,
                       int p, double green, json_t *o)
{
    double C = r->cycle_s, s = c->ph[p].saturation_vph, q = r->flow[p];
    double x = green > 0 && C > 0 ? q / s * C / green : NAN;
    double cap = green > 0 && C > 0 ? s * green / C : NAN;
    double d = signals_hcm_uniform_delay(C, green, x) +
               signals_hcm_incremental_delay(x, cap, SIGNALS_HCM_T_H, SIGNALS_HCM_K,
                                             SIGNALS_HCM_I);
    char los[2] = { signals_los(d), '\0' };
    sig_set_num(o, "flow_vph", q);
    json_object_set_new(o, "flow_source", json_string(flow_source(c, r, p)));
    sig_set_num(o, "flow_ratio", q / s);
    sig_set_num(o, "degree_of_saturation", x);
    sig_set_num(o, "delay_s", d);
    json_object_set_new(o, "los", los[0] ? json_string(los) : json_null());
}

/* offset_s: where the coordinated phase's green starts, on the epoch
 * modulo the cycle running now (one reference for every signal, so a
 * client following the timing -- citysim's closed loop -- places each
 * cycle exactly). Max pressure is acyclic: the cyclic timing closest to
 * what runs, with the current phase's green starting now and the phases
 * before it (from the coordinated one) at their latest greens. */
static double epoch_offset(const struct adaptive_isec_cfg *c, const struct adaptive_record *r)
{
    double start = r->start, C = r->cycle_s;
    if (r->mode == ADAPTIVE_MAX_PRESSURE) {
        int n = (int)c->nphases;
        for (int q = c->coord_phase; q != r->order[0]; q = (q + 1) % n)
            start -= (r->last_green[q] > 0 ? r->last_green[q] : c->ph[q].gmin_s) +
                     c->ph[q].amber_s + c->ph[q].all_red_s;
    }
    if (!(C > 0))
        return NAN;
    double o = fmod(start, C);
    return o < 0 ? o + C : o;
}

static json_t *timing_json(const struct signals *s, const struct sgroup *g, size_t k,
                           const struct adaptive_record *r, double t)
{
    const struct adaptive_isec_cfg *c = &g->isec[k];
    const struct adaptive_member *m = &g->live->m[k];
    bool mp = r->mode == ADAPTIVE_MAX_PRESSURE, coord = g->cfg.n > 1 && c->out_phase >= 0 && !mp;
    json_t *o = json_object(), *phases = json_array();
    json_object_set_new(o, "intersection", json_string(c->id));
    json_object_set_new(o, "name", json_string(member_name(s, c)));
    json_object_set_new(o, "corridor", g->cfg.id ? json_string(g->cfg.id) : json_null());
    json_object_set_new(o, "mode", json_string(adaptive_mode_name(r->mode)));
    json_object_set_new(o, "method", json_string(adaptive_method_name(r->mode)));
    json_object_set_new(o, "plan", r->plan[0] ? json_string(r->plan) : json_null());
    sig_set_num(o, "cycle_s", r->cycle_s);
    sig_set_num(o, "offset_s", epoch_offset(c, r));
    sig_set_num(o, "corridor_offset_s", coord ? r->offset_s : NAN);
    sig_set_num(o, "common_cycle_s", mp ? NAN : r->common_cycle_s);
    sig_set_num(o, "target_cycle_s", mp ? NAN : r->target_cycle_s);
    sig_set_num(o, "target_offset_s", coord ? r->target_offset_s : NAN);
    sig_set_num(o, "webster_cycle_s", r->webster_cycle_s);
    json_object_set_new(o, "cycle_set_by", !mp && r->critical >= 0 && (size_t)r->critical <
                        g->cfg.n ? json_string(g->isec[r->critical].id) : json_null());
    sig_set_num(o, "cycle_start", r->start);
    for (size_t p = 0; p < c->nphases; p++) {
        const struct adaptive_phase_cfg *ph = &c->ph[p];
        json_t *x = json_object();
        double green = mp && r->green[p] <= 0 ? r->last_green[p] : r->green[p];
        json_object_set_new(x, "signal_group", json_integer((json_int_t)p + 1));
        json_object_set_new(x, "movements", movements_json(ph));
        sig_set_num(x, "green_s", green);
        sig_set_num(x, "target_green_s", mp ? NAN : r->target_green[p]);
        sig_set_num(x, "min_green_s", ph->gmin_s);
        sig_set_num(x, "amber_s", ph->amber_s);
        sig_set_num(x, "all_red_s", ph->all_red_s);
        phase_perf(c, r, (int)p, green, x);
        sig_set_num(x, "queue_veh", r->queue[p]);
        if (mp)
            sig_set_num(x, "pressure", r->pressure[p]);
        json_array_append_new(phases, x);
    }
    json_object_set_new(o, "phases", phases);
    sig_set_num(o, "updated_at", r->decided_at);
    char why[768];
    reason(s, g, k, r, why, sizeof why);
    json_object_set_new(o, "reason", json_string(why));
    json_t *next = json_object();
    json_object_set_new(next, "mode", json_string(adaptive_mode_name(m->mode)));
    json_object_set_new(next, "method", json_string(adaptive_method_name(m->mode)));
    json_object_set_new(next, "source", json_string(m->override ? "override" : "default"));
    json_object_set_new(o, "configured", next);
    sig_set_num(o, "ts", t);
    return o;
}

/* Common head of the reads: the member, the instant asked (at=), its
 * history and the record running then; NULL after replying. */
static struct mref *read_member(struct http_req *r, struct signals *s, double *t,
                                struct adaptive_history *h, struct adaptive_record *rec)
{
    struct mref *m = find_member(r, s);
    if (m == NULL || params_now(s->a, r, t) != 0)
        return NULL;
    catch_up(s, m->g, *t);
    *h = history(m->g, m->k);
    if (adaptive_record_at(m->g->live, m->k, h, *t, rec) != 0) {
        sig_bad_request(r, "at: earlier than the timing history kept");
        return NULL;
    }
    return m;
}

static void h_timing(struct http_req *r, void *arg)
{
    struct signals *s = ((struct app *)arg)->signals;
    double t;
    struct adaptive_history h;
    struct adaptive_record rec;
    struct mref *m = read_member(r, s, &t, &h, &rec);
    if (m != NULL)
        http_reply_json(r, 200, timing_json(s, m->g, m->k, &rec, t));
}

/* ---- GET .../spat ---- */

/* The SPaT reply of member m at t (record rec running then), its bounds
 * for the city's local controllers (signals.local_control, in the group's
 * cfg); NULL on OOM. */
static json_t *spat_json(const struct mref *m, double t,
                         const struct adaptive_history *h, const struct adaptive_record *rec)
{
    struct adaptive_spat sp[ADAPTIVE_MAX_PHASES];
    const struct adaptive_isec_cfg *c = &m->g->isec[m->k];
    if (adaptive_spat(m->g->live, m->k, h, t, sp) != 0)
        return NULL;
    json_t *o = json_object(), *states = json_array();
    json_object_set_new(o, "intersection", json_string(c->id));
    sig_set_num(o, "ts", t);
    sig_set_num(o, "cycle_s", rec->cycle_s);
    json_object_set_new(o, "mode", json_string(adaptive_mode_name(rec->mode)));
    json_object_set_new(o, "method", json_string(adaptive_method_name(rec->mode)));
    for (size_t p = 0; p < c->nphases; p++) {
        json_t *x = json_object();
        json_object_set_new(x, "signal_group", json_integer((json_int_t)p + 1));
        json_object_set_new(x, "movements", movements_json(&c->ph[p]));
        json_object_set_new(x, "event_state", json_string(adaptive_event_name(sp[p].state)));
        sig_set_num(x, "min_end_s", sp[p].min_end - t);
        sig_set_num(x, "likely_end_s", sp[p].likely_end - t);
        sig_set_num(x, "max_end_s", sp[p].max_end - t);
        json_array_append_new(states, x);
    }
    json_object_set_new(o, "states", states);
    return o;
}

static void h_spat(struct http_req *r, void *arg)
{
    struct signals *s = ((struct app *)arg)->signals;
    double t;
    struct adaptive_history h;
    struct adaptive_record rec;
    struct mref *m = read_member(r, s, &t, &h, &rec);
    if (m == NULL)
        return;
    json_t *o = spat_json(m, t, &h, &rec);
    if (o == NULL)
        http_reply_error(r, 500, "internal", "out of memory");
    else
        http_reply_json(r, 200, o);
}

/* ---- inputs: one at a time per group ---- */

static void job_start(struct sgroup *g);
static struct job *job_new(struct http_req *r, struct signals *s, struct mref *m,
                           enum job_kind kind);

/* Answers of a job: none for an input taken from the inbox (j->r NULL:
 * its poster was answered 202 by the cityd that queued it). */
static void job_reply_error(struct job *j, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void job_reply_error(struct job *j, int status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (j->r != NULL)
        http_reply_error(j->r, status, code, "%s", msg);
}

static void job_reply_json(struct job *j, int status, json_t *body)
{
    if (j->r != NULL)
        http_reply_json(j->r, status, body);
    else
        json_decref(body);
}

/* sig_store_failed for a job (true: failed, answered if it can be). */
static bool job_store_failed(struct job *j, enum store_status st, const struct store_reply *rep)
{
    if (j->r != NULL)
        return sig_store_failed(j->r, st, rep);
    return st != STORE_OK || store_reply_type(rep) == STORE_R_ERROR;
}

static void job_free(struct job *j)
{
    free(j->entry);
    free(j->plan_json);
    free(j->pm);
    free(j);
}

static void inbox_del(struct signals *s, struct sgroup *g, const char *id);
static void inbox_done(struct signals *s, struct sgroup *g);
static void inbox_poll(struct signals *s, struct sgroup *g);

/* The head job is done: next. An input from the inbox leaves it once
 * consumed; one that is not (a store failure, a re-read under way) stays
 * for the next read, and so do the entries read after it (their order). */
static void job_done(struct sgroup *g)
{
    struct job *j = g->head;
    bool inbox = j->inbox_id[0] != '\0';
    if (inbox && j->consumed)
        inbox_del(j->s, g, j->inbox_id);
    else if (inbox)
        g->inbox_hold = true;
    g->head = j->next;
    if (g->head == NULL)
        g->tail = NULL;
    struct signals *s = j->s;
    job_free(j);
    adaptive_group_free(g->pending);
    g->pending = NULL;
    if (inbox && --g->inbox_jobs == 0)
        inbox_done(s, g);
    if (g->head != NULL)
        job_start(g);
}

static bool owns(const struct sgroup *g);
static void inbox_put(struct job *j);

/* An input joins its group's queue; posted to a cityd that does not
 * drive the group, it goes to the group's inbox in Redis instead. */
static void enqueue(struct sgroup *g, struct job *j)
{
    if (j->r != NULL && !owns(g)) {
        inbox_put(j);
        return;
    }
    if (g->tail)
        g->tail->next = j;
    else
        g->head = j;
    g->tail = j;
    if (g->head == j)
        job_start(g);
}

static const char *res_name(enum adaptive_est_result r)
{
    return r == ADAPTIVE_EST_APPLIED ? "applied" : r == ADAPTIVE_EST_HELD ? "held" : "outdated";
}

static json_t *counts_reply(const struct job *j)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(j->id));
    json_object_set_new(o, "intersection", json_string(j->g->isec[j->k].id));
    json_object_set_new(o, "status", json_string("accepted"));
    sig_set_num(o, "ts", j->ts);
    sig_set_num(o, "interval_s", j->len);
    for (int what = ADAPTIVE_EST_APPLIED; what <= ADAPTIVE_EST_OUTDATED; what++) {
        json_t *a = json_array();
        for (int i = 0; i < ADAPTIVE_NMOV; i++)
            if ((int)j->res[i] == what)
                json_array_append_new(a, json_string(adaptive_movement_name(i)));
        json_object_set_new(o, res_name((enum adaptive_est_result)what), a);
    }
    return o;
}

/* The server stops: a store callback drops its job (true). */
static bool job_dropped(struct job *j)
{
    struct signals *s = j->s;
    if (!s->lt.stopped)
        return false;
    job_free(j);
    release(s);
    return true;
}

/* Common head of the callbacks of an input's transaction: -1 the server
 * stops (the job is gone), 0 the write failed (503 sent), 1 stored: the
 * copy it was applied to is now the live state. */
static int job_stored(struct job *j, enum store_status st, const struct store_reply *rep)
{
    if (job_dropped(j))
        return -1;
    if (st == STORE_TIMEOUT) {              /* it may still apply: re-read the group */
        char idx[24];
        snprintf(idx, sizeof idx, "%zu", (size_t)(j->g - j->s->groups));
        restore_reread(&j->s->rs, idx);
    }
    bool ok = !job_store_failed(j, st, rep);
    for (size_t i = 0; ok && i < store_reply_len(rep); i++) {
        if (store_reply_type(store_reply_at(rep, i)) == STORE_R_ERROR) {
            job_reply_error(j, 503, "store_error", "store error: %s",
                             store_reply_str(store_reply_at(rep, i), NULL));
            ok = false;
        }
    }
    if (ok)
        adaptive_group_copy_into(j->g->live, j->g->pending);
    return ok;
}

/* Send input j's transaction b (ok false: it could not be built) to cb;
 * on failure reply 500 and go on with the next input. */
static void job_send(struct job *j, struct store_batch *b, bool ok, store_cb *cb)
{
    struct signals *s = j->s;
    if (!ok) {
        store_batch_free(b);
        job_reply_error(j, 500, "internal", "out of memory");
        job_done(j->g);
        return;
    }
    lifetime_hold(&s->lt);
    if (store_batch_send(s->a->store, b, cb, j) != 0) {
        release(s);
        job_reply_error(j, 500, "internal", "cannot queue the store write");
        job_done(j->g);
    }
}

/* The input is in Redis: it becomes the live state. */
static void on_saved(void *arg, enum store_status st, const struct store_reply *rep)
{
    struct job *j = arg;
    struct signals *s = j->s;
    struct sgroup *g = j->g;
    int rc = job_stored(j, st, rep);
    if (rc < 0)
        return;
    j->consumed = rc > 0;
    if (rc > 0) {
        if (j->kind == JOB_COUNTS) {
            metric_inc(s->m_counts[CR_ACCEPTED], 1);
            app_saw_ts(s->a, j->ts + j->len);
            job_reply_json(j, 201, counts_reply(j));
        } else {
            double now = app_now(s->a);
            catch_up(s, g, now);
            struct adaptive_history h = history(g, j->k);
            struct adaptive_record rec;
            if (adaptive_record_at(g->live, j->k, &h, now, &rec) == 0)
                job_reply_json(j, 200, timing_json(s, g, j->k, &rec, now));
            else
                job_reply_error(j, 500, "internal", "no timing");
        }
    } else if (j->kind == JOB_COUNTS) {
        metric_inc(s->m_counts[CR_FAILED], 1);
    }
    job_done(g);
    release(s);
}

/* ---- corridor plans ---- */

static double jnum(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* The members' part of a stored plan for group g (corridor.c's plan
 * split at each member); 0, or -1 with err. */
static int plan_members(const struct signals *s, const struct sgroup *g, json_t *plan,
                        double *cycle, struct adaptive_plan_member *pm, char *err)
{
    json_t *xs = json_object_get(plan, "intersections");
    *cycle = jnum(plan, "cycle_s");
    if (!(*cycle > 0) || !json_is_array(xs)) {
        snprintf(err, ERRLEN, "the stored plan has no cycle_s or intersections");
        return -1;
    }
    for (size_t k = 0; k < g->cfg.n; k++) {
        const struct adaptive_isec_cfg *c = &g->isec[k];
        json_t *x = NULL;
        for (size_t i = 0; x == NULL && i < json_array_size(xs); i++) {
            const char *id = json_string_value(json_object_get(json_array_get(xs, i), "id"));
            if (id != NULL && strcmp(id, c->id) == 0)
                x = json_array_get(xs, i);
        }
        if (x == NULL) {
            snprintf(err, ERRLEN, "the plan does not time intersection '%s' (a plan for another "
                     "version of the map?)", c->id);
            return -1;
        }
        memset(&pm[k], 0, sizeof pm[k]);
        pm[k].offset_s = jnum(x, "offset_s");
        if (corridor_plan_split(map_intersection(s->a->map, c->id), *cycle, c->out_phase,
                                jnum(x, "outbound_green_s"), c->in_phase,
                                jnum(x, "inbound_green_s"), pm[k].green, err, ERRLEN) != 0)
            return -1;
    }
    return 0;
}

/* The active plan (JSON text) into g's live state, at its clock; 1 when
 * that changed it, 0 when it already runs it, -1 with err. NULL: none. */
static int plan_reconcile(struct signals *s, struct sgroup *g, const char *text, char *err)
{
    json_t *plan = text ? json_loads(text, 0, NULL) : NULL;
    const char *id = json_string_value(json_object_get(plan, "id"));
    struct adaptive_plan_member *pm = calloc(g->cfg.n, sizeof *pm);
    double cycle;
    int rc = -1;
    if (pm == NULL) {
        snprintf(err, ERRLEN, "out of memory");
    } else if (text == NULL) {
        rc = g->live->plan_id[0] != '\0';
        adaptive_set_plan(g->live, NULL, 0, NULL, err, ERRLEN);
    } else if (id == NULL) {
        snprintf(err, ERRLEN, "the stored active plan is not a plan");
    } else if (strcmp(id, g->live->plan_id) == 0) {
        rc = 0;
    } else if (plan_members(s, g, plan, &cycle, pm, err) == 0 &&
               adaptive_set_plan(g->live, id, cycle, pm, err, ERRLEN) == 0) {
        rc = 1;
    }
    free(pm);
    json_decref(plan);
    return rc;
}

static void plan_done(struct job *j, struct signals *s)
{
    job_done(j->g);
    release(s);
}

/* The reply to an activation: the plan, each of its intersections with
 * the mode it runs, whether the plan runs there, and what of it or why
 * not. */
static char *plan_reply(const struct job *j, double t)
{
    json_t *plan = json_loads(j->plan_json, 0, NULL);
    json_t *xs = json_object_get(plan, "intersections");
    const struct adaptive_group *ag = j->g->live;
    for (size_t i = 0; i < json_array_size(xs); i++) {
        json_t *x = json_array_get(xs, i);
        const char *id = json_string_value(json_object_get(x, "id"));
        for (size_t k = 0; id != NULL && k < j->g->cfg.n; k++) {
            if (strcmp(j->g->isec[k].id, id) != 0)
                continue;
            char why[512];
            bool runs = adaptive_plan_status(ag, k, t, why, sizeof why);
            enum adaptive_mode mode = ag->m[k].mode;
            json_object_set_new(x, "mode", json_string(adaptive_mode_name(mode)));
            json_object_set_new(x, "method", mode == ADAPTIVE_FIXED ? json_null()
                                : json_string(adaptive_method_name(mode)));
            json_object_set_new(x, "plan_runs", json_boolean(runs));
            json_object_set_new(x, "plan_reason", json_string(why));
        }
    }
    char *text = plan ? json_dumps(plan, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(plan);
    return text;
}

/* Step 3: the snapshot is stored (or not: at start the active plan is
 * read again), the plan runs: answer with it. */
static void on_plan_snapshot(void *arg, enum store_status st, const struct store_reply *rep)
{
    struct job *j = arg;
    struct signals *s = j->s;
    if (job_dropped(j))
        return;
    char qc[512], qp[2 * sizeof j->plan + 3];
    if (st != STORE_OK || store_reply_type(rep) == STORE_R_ERROR)
        log_warn(&s->a->log, "signals_plan_snapshot", "corridor=%s plan=%s error=\"not stored: "
                 "restored from the active plan at the next start\"",
                 log_quote(qc, sizeof qc, j->g->cfg.id), log_quote(qp, sizeof qp, j->plan));
    char *reply = j->r != NULL ? plan_reply(j, app_now(s->a)) : NULL;
    if (j->r != NULL && reply == NULL)
        http_reply_error(j->r, 500, "internal", "out of memory");
    else if (j->r != NULL)
        http_reply_raw(j->r, 200, "application/json; charset=utf-8", reply, strlen(reply));
    free(reply);
    plan_done(j, s);
}

/* Step 2: the corridor's active plan is stored: it becomes what runs. */
static void on_plan_stored(void *arg, enum store_status st, const struct store_reply *rep)
{
    struct job *j = arg;
    struct sgroup *g = j->g;
    int rc = job_stored(j, st, rep);
    if (rc < 0)
        return;
    if (rc == 0) {
        plan_done(j, j->s);
        return;
    }
    j->consumed = true;                 /* the active plan is stored; the snapshot follows it */
    struct signals *s = j->s;
    char key[KEY_MAX], *snap = adaptive_snapshot(g->live);
    if (snap == NULL || store_cmdf(s->a->store, on_plan_snapshot, j, "SET %s %s",
                                   keys_intersection(key, sizeof key, g->isec[0].id, "adaptive"),
                                   snap) != 0) {
        free(snap);
        on_plan_snapshot(j, STORE_DOWN, NULL);
        return;
    }
    free(snap);
}

/* Step 1 (the head job): the plan on a copy, then the corridor's keys. */
static void plan_apply(struct sgroup *g)
{
    struct job *j = g->head;
    char err[ERRLEN], akey[KEY_MAX], ikey[KEY_MAX];
    g->pending = adaptive_group_copy(g->live);
    if (g->pending == NULL) {
        job_reply_error(j, 500, "internal", "out of memory");
        job_done(g);
        return;
    }
    if (adaptive_set_plan(g->pending, j->plan, j->plan_cycle, j->pm, err, sizeof err) != 0) {
        job_reply_error(j, 409, "conflict", "plan '%s' cannot run on corridor '%s': %s",
                         j->plan, g->cfg.id, err);
        j->consumed = true;             /* refused for good: taking it again changes nothing */
        job_done(g);
        return;
    }
    for (size_t k = 0; j->override && k < g->cfg.n; k++)
        adaptive_set_mode(g->pending, k, j->mode, true);
    struct store_batch *b = store_batch_new();
    bool ok = b != NULL &&
              store_batch_addf(b, "SET %s %s", keys_corridor(akey, sizeof akey, g->cfg.id,
                                                             "plan:active"), j->plan_json) == 0 &&
              store_batch_addf(b, "SET %s %s", keys_corridor(ikey, sizeof ikey, g->cfg.id,
                                                             "plan_active"), j->plan) == 0;
    job_send(j, b, ok, on_plan_stored);
}

static struct job *plan_job(struct signals *s, struct sgroup *g, struct http_req *r,
                            const char *id, const char *json, const char *mode, char *err);

json_t *api_adaptive_running_plan(struct app *a, const struct map_corridor *c)
{
    struct signals *s = a->signals;
    struct sgroup *g = NULL;
    for (size_t i = 0; s != NULL && g == NULL && i < s->ngroups; i++)
        if (s->groups[i].cor == c)
            g = &s->groups[i];
    if (g == NULL || g->live == NULL || !g->live->started || g->cfg.n < 2)
        return NULL;
    catch_up(s, g, app_now(a));
    const struct adaptive_group *ag = g->live;
    double C = ag->master_cycle, first = NAN, v = c->speed_kmh / 3.6;
    json_t *xs = json_array(), *ls = json_array();
    for (size_t k = 0; k < g->cfg.n; k++) {
        const struct adaptive_isec_cfg *ic = &g->isec[k];
        const struct adaptive_record *r = &ag->m[k].cur;
        int po = ic->out_phase, pi = ic->in_phase >= 0 ? ic->in_phase : ic->out_phase;
        double gs = po >= 0 ? adaptive_green_start(ic, r, po) : NAN;
        if (isnan(gs))
            gs = r->start;
        if (isnan(first))
            first = gs;
        double off = fmod(gs - first, C);
        const struct map_intersection *mi = map_intersection(a->map, ic->id);
        json_array_append_new(xs, json_pack("{s:s,s:s,s:f,s:f,s:f,s:f,s:s}", "id", ic->id,
                                            "name", mi && mi->name ? mi->name : ic->id,
                                            "position_m", ic->position_m,
                                            "offset_s", off < 0 ? off + C : off,
                                            "outbound_green_s", po >= 0 ? r->green[po] : 0.0,
                                            "inbound_green_s", pi >= 0 ? r->green[pi] : 0.0,
                                            "mode", adaptive_mode_name(ag->m[k].mode)));
        if (k + 1 < g->cfg.n)
            json_array_append_new(ls, json_pack("{s:s,s:s,s:f,s:f}", "from", ic->id, "to",
                                                g->isec[k + 1].id, "outbound_speed_mps", v,
                                                "inbound_speed_mps", v));
    }
    char title[600];
    snprintf(title, sizeof title, "%s: timing running now (no active plan)", c->name ? c->name : c->id);
    return json_pack("{s:s,s:s,s:f,s:o,s:o}", "corridor", c->id, "corridor_name", title,
                     "cycle_s", C, "intersections", xs, "links", ls);
}

void api_adaptive_activate(struct app *a, struct http_req *r, const struct map_corridor *c,
                           const char *id, const char *json, const char *mode)
{
    struct signals *s = a->signals;
    struct sgroup *g = NULL;
    for (size_t i = 0; s != NULL && g == NULL && i < s->ngroups; i++)
        if (s->groups[i].cor == c)
            g = &s->groups[i];
    if (s == NULL || !restore_ready(&s->rs)) {
        http_reply_unavailable(r);
        return;
    }
    if (g == NULL) {
        http_reply_error(r, 409, "conflict", "corridor '%s' is not run as one group (its "
                         "intersections' cycle bounds have no common cycle, or they belong to "
                         "an earlier corridor): its plans cannot run", c->id);
        return;
    }
    char err[ERRLEN];
    struct job *j = plan_job(s, g, r, id, json, mode, err);
    if (j != NULL)
        enqueue(g, j);
}

/* A plan's activation as an input of group g (mode: NULL, or the mode
 * its members are set to, "fixed" or "adaptive"); NULL after answering r
 * (if any) with what is wrong. */
static struct job *plan_job(struct signals *s, struct sgroup *g, struct http_req *r,
                            const char *id, const char *json, const char *mode, char *err)
{
    struct mref m = { g, 0, 0 };
    struct job *j = job_new(r, s, &m, JOB_PLAN);
    json_t *plan = json_loads(json, 0, NULL);
    if (j == NULL) {
        json_decref(plan);
        return NULL;
    }
    j->pm = calloc(g->cfg.n, sizeof *j->pm);
    j->plan_json = strdup(json);
    j->override = mode != NULL;
    j->mode = mode != NULL && strcmp(mode, "fixed") == 0 ? ADAPTIVE_FIXED : ADAPTIVE_WEBSTER;
    snprintf(j->plan, sizeof j->plan, "%s", id);
    if (j->pm == NULL || j->plan_json == NULL) {
        job_reply_error(j, 500, "internal", "out of memory");
        job_free(j);
        j = NULL;
    } else if (plan_members(s, g, plan, &j->plan_cycle, j->pm, err) != 0) {
        job_reply_error(j, 409, "conflict", "plan '%s' cannot run on corridor '%s': %s", id,
                        g->cfg.id, err);
        job_free(j);
        j = NULL;
    }
    json_decref(plan);
    return j;
}

/* Trim a counts list by count time. KEYS: the list. ARGV: the oldest ts
 * kept. Pops from the head (the oldest received) while its ts is older;
 * a count received late keeps the newer ones behind it until they age. */
static const char COUNTS_TRIM_SCRIPT[] =
    "local min = tonumber(ARGV[1])\n"
    "for i = 1, 1000 do\n"
    "  local h = redis.call('LINDEX', KEYS[1], 0)\n"
    "  if not h then return i - 1 end\n"
    "  local ok, e = pcall(cjson.decode, h)\n"
    "  local ts = ok and type(e) == 'table' and tonumber(e.ts)\n"
    "  if not ts or ts >= min then return i - 1 end\n"
    "  redis.call('LPOP', KEYS[1])\n"
    "end\n"
    "return 1000\n";

/* j's count into the counts list `key` of batch b: retention.counts_s
 * before it, by count time, and at most COUNTS_LIMIT_MAX (GET .../counts
 * reads no more); with 0, no list. 0, or -1 on OOM. */
static int counts_keep(const struct signals *s, struct store_batch *b, const char *key,
                       const struct job *j)
{
    long keep_s = s->a->cfg.retention_counts_s;
    char cap[24], min[32];
    if (keep_s <= 0)
        return store_batch_addf(b, "DEL %s", key);
    snprintf(cap, sizeof cap, "%d", -COUNTS_LIMIT_MAX);
    snprintf(min, sizeof min, "%.3f", j->ts - (double)keep_s);
    const char *argv[] = {key, min};
    return store_batch_addf(b, "RPUSH %s %s", key, j->entry) == 0 &&
                   store_batch_addf(b, "LTRIM %s %s -1", key, cap) == 0 &&
                   store_batch_script(b, s->counts_trim, 1, 2, argv, NULL) == 0
               ? 0
               : -1;
}

/* Apply the head job to a copy and write it with the input. */
static void job_apply(struct sgroup *g)
{
    struct job *j = g->head;
    struct signals *s = j->s;
    struct adaptive_group *live = g->live;
    bool replay = s->a->cfg.clock_mode == CLOCK_REPLAY;
    double now = app_now(s->a);
    if (j->kind == JOB_COUNTS) {
        double end = j->ts + j->len;
        struct mref *mr = dict_get(s->by_id, g->isec[j->k].id);
        if (mr != NULL)
            mr->count_len = j->len;         /* what "fresh" means for it (census) */
        if (!live->started)
            adaptive_start(live, replay ? j->ts : now);
        /* The count is known when its interval ends (in replay that
         * instant becomes the clock). */
        double at = replay ? end : fmin(end, now);
        if (at > live->t)
            adaptive_advance(live, at, hist_push, g);
    } else if (j->kind == JOB_MODE) {
        if (!live->started)
            adaptive_start(live, now);
        catch_up(s, g, now);
    } else {
        /* A plan does not start a replayed group: its first count does. */
        catch_up(s, g, now);
    }
    if (j->kind == JOB_PLAN) {
        plan_apply(g);
        return;
    }
    g->pending = adaptive_group_copy(live);
    char *snap = NULL;
    struct store_batch *b = store_batch_new();
    bool ok = g->pending != NULL && b != NULL;
    if (ok && j->kind == JOB_COUNTS)
        adaptive_count(g->pending, j->k, j->counts, j->queues, j->ts, j->len, j->res);
    else if (ok)
        adaptive_set_mode(g->pending, j->k, j->mode, j->override);
    ok = ok && (snap = adaptive_snapshot(g->pending)) != NULL;
    const char *id = g->isec[j->k].id;
    char k1[KEY_MAX], k2[KEY_MAX], k3[KEY_MAX], ttl[24];
    snprintf(ttl, sizeof ttl, "%d", SEEN_TTL_S);
    if (ok && j->kind == JOB_COUNTS)
        ok = store_batch_addf(b, "SET %s %s EX %s", keys_seen(k1, sizeof k1, "int", id, j->id),
                              "1", ttl) == 0 &&
             counts_keep(s, b, keys_intersection(k2, sizeof k2, id, "counts"), j) == 0;
    ok = ok && store_batch_addf(b, "SET %s %s", keys_intersection(k3, sizeof k3, id, "adaptive"),
                                snap) == 0;
    free(snap);
    job_send(j, b, ok, on_saved);
}

/* Has this count id been taken before? */
static void on_seen(void *arg, enum store_status st, const struct store_reply *rep)
{
    struct job *j = arg;
    struct signals *s = j->s;
    if (job_dropped(j))
        return;
    if (job_store_failed(j, st, rep)) {
        metric_inc(s->m_counts[CR_FAILED], 1);
        job_done(j->g);
    } else if (store_reply_type(rep) != STORE_R_NIL) {
        metric_inc(s->m_counts[CR_DUPLICATE], 1);
        j->consumed = true;
        json_t *o = json_object();
        json_object_set_new(o, "id", json_string(j->id));
        json_object_set_new(o, "intersection", json_string(j->g->isec[j->k].id));
        json_object_set_new(o, "status", json_string("duplicate"));
        job_reply_json(j, 200, o);
        job_done(j->g);
    } else {
        job_apply(j->g);
    }
    release(s);
}

static void job_start(struct sgroup *g)
{
    struct job *j = g->head;
    struct signals *s = j->s;
    bool inbox = j->inbox_id[0] != '\0';
    if (!restore_settled(&s->rs) || (inbox && (g->inbox_hold || !owns(g)))) {
        /* An input of unknown outcome is being re-read: taking this one
         * on the state now could contradict it. An inbox entry stays in
         * the inbox (not consumed) for the holder's next read, and so do
         * those read after it (their order). */
        if (j->r != NULL)
            http_reply_unavailable(j->r);
        job_done(g);
        return;
    }
    if (j->kind != JOB_COUNTS) {
        job_apply(g);
        return;
    }
    char key[KEY_MAX];
    lifetime_hold(&s->lt);
    if (store_cmdf(s->a->store, on_seen, j, "GET %s",
                   keys_seen(key, sizeof key, "int", g->isec[j->k].id, j->id)) != 0) {
        release(s);
        job_reply_error(j, 500, "internal", "cannot queue the store read");
        job_done(g);
    }
}

/* ---- the lease: one cityd drives a group ----
 *
 * Several cityd on one Redis: each group (a corridor's signals) is driven
 * by the holder of cityd:{int:<first member>}:lease (SET NX PX
 * signals.lease_ms, renewed every third of it by a script that extends
 * it only for its holder). Only the holder takes inputs: an input posted
 * to another cityd is appended to the group's inbox, cityd:{int:<first
 * member>}:inbox (a STREAM), and answered 202 "queued"; the holder reads
 * the inbox's oldest entries (INBOX_READ at a time, and again at once
 * while it finds some, so the inbox drains as fast as inputs run, not
 * one a tick), runs them in order as inputs of its own, and deletes each
 * once it is consumed: stored, a duplicate, or refused for good. One
 * that is not (a store failure, a re-read under way, the lease lost)
 * stays, with every entry read after it, for the next read; a holder
 * that dies before the delete leaves it for the next (its idempotency
 * marker makes a count taken twice a duplicate). A holder stops taking inputs at 90 % of the lease's time
 * since its last successful renewal was sent; the others try to take the
 * lease every LEASE_TICK_MS, so one takes it within that of its expiry,
 * and, before anything else, reads the group's newest
 * state from Redis (and its active plan: restore_reread). Other cityd
 * read the group's state again every third of the lease, and answer
 * timings and SPaT from it (the controller is deterministic: a state
 * and an instant give the same timing in every process). */

#define LEASE_TICK_MS 100
#define INBOX_READ "32"                 /* inbox entries taken per read */

static const char RENEW_SCRIPT[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  return redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "end\n"
    "return 0\n";

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool owns(const struct sgroup *g)
{
    return g->owner && mono_s() < g->valid_until;
}

static const char *lease_key(const struct sgroup *g, char *buf)
{
    return keys_intersection(buf, KEY_MAX, g->isec[0].id, "lease");
}

static const char *inbox_key(const struct sgroup *g, char *buf)
{
    return keys_intersection(buf, KEY_MAX, g->isec[0].id, "inbox");
}

static size_t group_index(const struct signals *s, const struct sgroup *g)
{
    return (size_t)(g - s->groups);
}

static void owned_gauge(struct signals *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->ngroups; i++)
        n += owns(&s->groups[i]);
    metric_set(s->m_owned, (double)n);
}

struct lease_call {
    struct signals *s;
    size_t group;
    double sent;
    bool renew;
};

static void on_lease(void *arg, enum store_status st, const struct store_reply *rep)
{
    struct lease_call *c = arg;
    struct signals *s = c->s;
    struct sgroup *g = &s->groups[c->group];
    bool live = !s->lt.stopped;
    g->leasing = false;
    if (live && st == STORE_OK && store_reply_type(rep) != STORE_R_ERROR) {
        bool held = c->renew ? store_reply_int(rep) == 1 : store_reply_type(rep) == STORE_R_STATUS;
        char idx[24], qg[256];
        log_quote(qg, sizeof qg, g->cfg.id ? g->cfg.id : g->isec[0].id);
        if (held && !g->owner) {
            /* The holder before may have moved the group on -- unless the
             * lease was free right after this process read everything. */
            snprintf(idx, sizeof idx, "%zu", c->group);
            if (!g->fresh)
                restore_reread(&s->rs, idx);
            log_info(&s->a->log, "signals_lease_taken", "group=%s", qg);
        } else if (!held && g->owner) {
            log_warn(&s->a->log, "signals_lease_lost", "group=%s", qg);
        }
        g->owner = held;
        g->fresh = false;
        if (held)
            g->valid_until = c->sent + 0.9 * (double)s->a->cfg.signals_lease_ms / 1000.0;
        owned_gauge(s);
    }
    free(c);
    release(s);
}

/* Renew the lease (its holder) or try to take it. */
static void lease_step(struct signals *s, struct sgroup *g)
{
    char key[KEY_MAX], ms[24];
    struct lease_call *c = malloc(sizeof *c);
    if (c == NULL)
        return;
    *c = (struct lease_call){s, group_index(s, g), mono_s(), g->owner};
    snprintf(ms, sizeof ms, "%ld", s->a->cfg.signals_lease_ms);
    lease_key(g, key);
    const char *renew[] = {key, app_origin(s->a), ms};
    const char *take[] = {"SET", key, app_origin(s->a), "NX", "PX", ms};
    int rc;
    lifetime_hold(&s->lt);
    g->leasing = true;
    if (g->owner)
        rc = store_script_eval(s->a->store, s->renew, on_lease, c, 1, 3, renew, NULL);
    else
        rc = store_cmd_argv(s->a->store, on_lease, c, 6, take, NULL);
    if (rc != 0) {
        g->leasing = false;
        free(c);
        release(s);
    }
}

/* An input posted here for a group driven elsewhere: in the inbox. */
struct inbox_put {
    struct signals *s;
    struct http_req *r;
    json_t *reply;
};

static void on_inbox_put(void *arg, enum store_status st, const struct store_reply *rep)
{
    struct inbox_put *p = arg;
    struct signals *s = p->s;
    if (!s->lt.stopped && !sig_store_failed(p->r, st, rep)) {
        http_reply_json(p->r, 202, p->reply);
        p->reply = NULL;
    }
    json_decref(p->reply);
    free(p);
    release(s);
}

static void inbox_put(struct job *j)
{
    struct signals *s = j->s;
    struct sgroup *g = j->g;
    char key[KEY_MAX], mode[8], over[4];
    struct inbox_put *p = calloc(1, sizeof *p);
    json_t *o = json_object();
    const char *kind = j->kind == JOB_COUNTS ? "counts" : j->kind == JOB_MODE ? "mode" : "plan";
    snprintf(mode, sizeof mode, "%d", (int)j->mode);
    snprintf(over, sizeof over, "%d", j->override ? 1 : 0);
    const char *argv[] = {"XADD", inbox_key(g, key), "*", "kind", kind, "isec",
                          g->isec[j->k].id, "body",
                          j->kind == JOB_COUNTS ? j->entry : j->kind == JOB_PLAN ? j->plan_json
                                                                                : "",
                          "plan", j->plan, "mode", mode, "override", over};
    if (p == NULL || o == NULL) {
        free(p);
        json_decref(o);
        http_reply_error(j->r, 500, "internal", "out of memory");
        job_free(j);
        return;
    }
    if (j->kind == JOB_PLAN) {
        json_object_set_new(o, "corridor", json_string(g->cfg.id));
        json_object_set_new(o, "plan", json_string(j->plan));
    } else {
        json_object_set_new(o, "intersection", json_string(g->isec[j->k].id));
        if (j->kind == JOB_COUNTS)
            json_object_set_new(o, "id", json_string(j->id));
    }
    json_object_set_new(o, "status", json_string("queued"));
    *p = (struct inbox_put){s, j->r, o};
    lifetime_hold(&s->lt);
    if (store_cmd_argv(s->a->store, on_inbox_put, p, 15, argv, NULL) != 0) {
        release(s);
        http_reply_error(j->r, 500, "internal", "cannot queue the store write");
        json_decref(o);
        free(p);
    }
    job_free(j);
}

static void inbox_del(struct signals *s, struct sgroup *g, const char *id)
{
    char key[KEY_MAX];
    const char *argv[] = {"XDEL", inbox_key(g, key), id};
    store_cmd_argv(s->a->store, NULL, NULL, 3, argv, NULL);
}

static int parse_count_body(json_t *in, struct signals *s, struct job *j, char *err);
static struct job *plan_job(struct signals *s, struct sgroup *g, struct http_req *r,
                            const char *id, const char *json, const char *mode, char *err);

/* An inbox entry as an input of this process (NULL: not one: dropped). */
static struct job *inbox_job(struct signals *s, struct sgroup *g, const struct store_reply *kv)
{
    const char *kind = reply_field(kv, "kind", NULL), *isec = reply_field(kv, "isec", NULL);
    const char *body = reply_field(kv, "body", NULL), *plan = reply_field(kv, "plan", NULL);
    const char *mode = reply_field(kv, "mode", NULL), *over = reply_field(kv, "override", NULL);
    struct mref m = {g, 0, 0};
    struct job *j = NULL;
    char err[ERRLEN];
    while (isec != NULL && m.k < g->cfg.n && strcmp(g->isec[m.k].id, isec) != 0)
        m.k++;
    if (kind == NULL || body == NULL || m.k >= g->cfg.n)
        return NULL;
    if (strcmp(kind, "plan") == 0) {
        bool set = over != NULL && atoi(over) != 0;
        const char *pm = !set ? NULL : atoi(mode ? mode : "0") == ADAPTIVE_FIXED ? "fixed"
                                                                                : "adaptive";
        return plan != NULL ? plan_job(s, g, NULL, plan, body, pm, err) : NULL;
    }
    if ((j = job_new(NULL, s, &m, strcmp(kind, "counts") == 0 ? JOB_COUNTS : JOB_MODE)) == NULL)
        return NULL;
    if (j->kind == JOB_MODE) {
        j->mode = (enum adaptive_mode)atoi(mode ? mode : "0");
        j->override = over != NULL && atoi(over) != 0;
        return j;
    }
    json_t *in = json_loads(body, 0, NULL);
    int rc = in ? parse_count_body(in, s, j, err) : -1;
    json_decref(in);
    if (rc != 0) {
        job_free(j);
        return NULL;
    }
    return j;
}

struct inbox_read {
    struct signals *s;
    size_t group;
};

/* The inbox's oldest entries, [[id, [k, v, ...]], ...], become this
 * process's inputs, in order, behind whatever is queued. */
static void on_inbox(void *arg, enum store_status st, const struct store_reply *rep)
{
    struct inbox_read *c = arg;
    struct signals *s = c->s;
    struct sgroup *g = &s->groups[c->group];
    size_t n = st == STORE_OK && owns(g) && !s->lt.stopped ? store_reply_len(rep) : 0;
    struct job *first = NULL, *last = NULL;
    unsigned jobs = 0;
    for (size_t i = 0; i < n; i++) {
        const struct store_reply *e = store_reply_at(rep, i);
        const char *id = store_reply_str(store_reply_at(e, 0), NULL);
        struct job *j = id != NULL ? inbox_job(s, g, store_reply_at(e, 1)) : NULL;
        char qid[128];
        if (j == NULL && id != NULL) {
            log_warn(&s->a->log, "signals_inbox_dropped", "entry=%s",
                     log_quote(qid, sizeof qid, id));
            inbox_del(s, g, id);
        } else if (j != NULL) {
            snprintf(j->inbox_id, sizeof j->inbox_id, "%s", id);
            *(last ? &last->next : &first) = j;
            last = j;
            jobs++;
        }
    }
    /* Counted before any runs: one may end before the others are queued. */
    g->inbox_jobs = jobs;
    g->inbox_hold = false;
    g->inbox_more = jobs > 0;
    if (jobs == 0)
        inbox_done(s, g);
    while (first != NULL) {
        struct job *j = first;
        first = j->next;
        j->next = NULL;
        enqueue(g, j);
    }
    free(c);
    release(s);
}

/* Every entry of the last read is done with: read on at once while they
 * were all consumed and there were some (the inbox drains at the pace of
 * its inputs, not of the tick); else the tick reads again. */
static void inbox_done(struct signals *s, struct sgroup *g)
{
    bool again = g->inbox_more && !g->inbox_hold;
    g->inbox_busy = false;
    g->inbox_more = g->inbox_hold = false;
    if (again && !s->lt.stopped && owns(g) && restore_settled(&s->rs))
        inbox_poll(s, g);
}

static void inbox_poll(struct signals *s, struct sgroup *g)
{
    char key[KEY_MAX];
    struct inbox_read *c = malloc(sizeof *c);
    const char *argv[] = {"XRANGE", inbox_key(g, key), "-", "+", "COUNT", INBOX_READ};
    if (c == NULL)
        return;
    *c = (struct inbox_read){s, group_index(s, g)};
    g->inbox_busy = true;
    lifetime_hold(&s->lt);
    if (store_cmd_argv(s->a->store, on_inbox, c, 6, argv, NULL) != 0) {
        g->inbox_busy = false;
        free(c);
        release(s);
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct signals *s = arg;
    (void)fd;
    (void)what;
    if (!restore_ready(&s->rs) || !store_is_up(s->a->store))
        return;
    unsigned long every = (unsigned long)(s->a->cfg.signals_lease_ms / 3 / LEASE_TICK_MS);
    bool lease_turn = ++s->ticks % (every ? every : 1) == 0;
    for (size_t i = 0; i < s->ngroups; i++) {
        struct sgroup *g = &s->groups[i];
        if ((lease_turn || !g->owner) && !g->leasing)
            lease_step(s, g);               /* others try every tick: taken at expiry */
        if (owns(g) && !g->inbox_busy && g->head == NULL && restore_settled(&s->rs))
            inbox_poll(s, g);
        if (lease_turn && !owns(g) && g->head == NULL) {
            char idx[24];
            snprintf(idx, sizeof idx, "%zu", i);
            restore_reread(&s->rs, idx);    /* follow the holder's state */
        }
    }
    owned_gauge(s);
}

/* ---- POST .../counts ---- */

static bool valid_count_id(const char *id)
{
    size_t n = 0;
    for (; id[n]; n++)
        if ((unsigned char)id[n] <= ' ' || (unsigned char)id[n] == 0x7f)
            return false;
    return n > 0 && n <= COUNT_ID_MAX;
}

/* counts{} into j->counts (NAN: not counted); 0, or -1 with err. */
static int parse_counts(json_t *obj, const struct adaptive_isec_cfg *c, struct job *j, char *err)
{
    const char *key;
    json_t *v;
    for (int i = 0; i < ADAPTIVE_NMOV; i++)
        j->counts[i] = NAN;
    json_object_foreach(obj, key, v) {
        int i = adaptive_movement_index(key);
        double sat = i >= 0 ? adaptive_movement_saturation(c, i) : 0;
        if (i < 0) {
            snprintf(err, ERRLEN, "counts.%s: unknown movement (UTDF: NBL NBT NBR SBL SBT SBR "
                     "EBL EBT EBR WBL WBT WBR)", key);
            return -1;
        }
        if (sat <= 0) {
            snprintf(err, ERRLEN, "counts.%s: no phase of intersection '%s' serves this "
                     "movement", key, c->id);
            return -1;
        }
        if (json_is_null(v))
            continue;                       /* not detected (UTDF '*') */
        double n = json_number_value(v);
        if (!json_is_number(v) || !isfinite(n) || n < 0) {
            snprintf(err, ERRLEN, "counts.%s: must be a number >= 0 (or null: not detected)",
                     key);
            return -1;
        }
        /* Even a green all interval long passes no more than s t. */
        double most = ceil(sat * j->len / 3600.0 - 1e-9);
        if (n > most) {
            snprintf(err, ERRLEN, "counts.%s: %g vehicles in %g s is more than the saturation "
                     "flow of its phase allows (%.0f veh/h: at most %.0f)", key, n, j->len,
                     sat, most);
            return -1;
        }
        j->counts[i] = n;
    }
    return 0;
}

/* queues{} (optional) into j->queues: for a movement counted in this
 * body, the vehicles still waiting when its latest green in the interval
 * ended (docs/signals.md); 0, or -1 with err. */
static int parse_queues(json_t *obj, struct job *j, char *err)
{
    const char *key;
    json_t *v;
    for (int i = 0; i < ADAPTIVE_NMOV; i++)
        j->queues[i] = NAN;
    if (obj == NULL || json_is_null(obj))
        return 0;
    if (!json_is_object(obj)) {
        snprintf(err, ERRLEN, "queues: must be an object of UTDF movements (residual queues, "
                 "vehicles)");
        return -1;
    }
    json_object_foreach(obj, key, v) {
        int i = adaptive_movement_index(key);
        if (i < 0 || isnan(j->counts[i])) {
            snprintf(err, ERRLEN, "queues.%s: %s", key, i < 0 ? "unknown movement (UTDF: NBL "
                     "NBT NBR SBL SBT SBR EBL EBT EBR WBL WBT WBR)" : "a queue needs a count of "
                     "the same movement in counts");
            return -1;
        }
        if (json_is_null(v))
            continue;                       /* not measured */
        double n = json_number_value(v);
        if (!json_is_number(v) || !isfinite(n) || n < 0 || n > QUEUE_MAX_VEH) {
            snprintf(err, ERRLEN, "queues.%s: must be a number of vehicles in [0, %d] (or null: "
                     "not measured)", key, QUEUE_MAX_VEH);
            return -1;
        }
        j->queues[i] = n;
    }
    return 0;
}

static int parse_count_body(json_t *in, struct signals *s, struct job *j, char *err)
{
    json_t *id = json_object_get(in, "id"), *counts = json_object_get(in, "counts");
    if (!json_is_string(id) || !valid_count_id(json_string_value(id))) {
        snprintf(err, ERRLEN, "id: missing (a string of 1 to %d printable characters without "
                 "spaces)", COUNT_ID_MAX);
        return -1;
    }
    snprintf(j->id, sizeof j->id, "%s", json_string_value(id));
    j->len = 900;
    if (sig_need_num(in, "ts", "", &j->ts, err) < 0 ||
        sig_get_num(in, "interval_s", "", &j->len, err) < 0)
        return -1;
    if (!(j->ts > 0 && j->ts < 1e11)) {
        snprintf(err, ERRLEN, "ts: must be epoch seconds");
        return -1;
    }
    if (!(j->len > 0 && j->len <= INTERVAL_MAX_S)) {
        snprintf(err, ERRLEN, "interval_s: must be in (0, %.0f]", INTERVAL_MAX_S);
        return -1;
    }
    double now = app_now(s->a);
    if (s->a->cfg.clock_mode != CLOCK_REPLAY && j->ts + j->len > now + FUTURE_SLACK_S) {
        snprintf(err, ERRLEN, "ts: the interval ends %.0f s in the future (ts + interval_s must "
                 "not be later than now + %.0f s)", j->ts + j->len - now, FUTURE_SLACK_S);
        return -1;
    }
    if (!json_is_object(counts)) {
        snprintf(err, ERRLEN, "counts: missing (an object of UTDF movement counts)");
        return -1;
    }
    if (parse_counts(counts, &j->g->isec[j->k], j, err) != 0 ||
        parse_queues(json_object_get(in, "queues"), j, err) != 0)
        return -1;
    /* What is stored: the input as received, normalised. */
    json_t *e = json_object(), *cs = json_object(), *qs = json_object();
    for (int i = 0; i < ADAPTIVE_NMOV; i++) {
        if (!isnan(j->counts[i]))
            json_object_set_new(cs, adaptive_movement_name(i), json_real(j->counts[i]));
        if (!isnan(j->queues[i]))
            json_object_set_new(qs, adaptive_movement_name(i), json_real(j->queues[i]));
    }
    json_object_set_new(e, "id", json_string(j->id));
    json_object_set_new(e, "ts", json_real(j->ts));
    json_object_set_new(e, "interval_s", json_real(j->len));
    json_object_set_new(e, "counts", cs);
    if (json_object_size(qs) > 0)
        json_object_set_new(e, "queues", qs);
    else
        json_decref(qs);
    json_object_set_new(e, "received_at", json_real(app_wall_now()));
    j->entry = json_dumps(e, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(e);
    if (j->entry == NULL) {
        snprintf(err, ERRLEN, "out of memory");
        return -1;
    }
    return 0;
}

static struct job *job_new(struct http_req *r, struct signals *s, struct mref *m,
                           enum job_kind kind)
{
    struct job *j = calloc(1, sizeof *j);
    if (j == NULL) {
        if (r != NULL)
            http_reply_error(r, 500, "internal", "out of memory");
        return NULL;
    }
    *j = (struct job){ .s = s, .g = m->g, .k = m->k, .r = r, .kind = kind };
    return j;
}

/* The member and JSON body of an input; NULL after replying. */
static struct mref *input_member(struct http_req *r, struct signals *s, json_t **in)
{
    struct mref *m = find_member(r, s);
    *in = m ? http_req_json(r) : NULL;
    return *in ? m : NULL;
}

static void h_post_counts(struct http_req *r, void *arg)
{
    struct signals *s = ((struct app *)arg)->signals;
    json_t *in;
    struct mref *m = input_member(r, s, &in);
    if (m == NULL)
        return;
    struct job *j = job_new(r, s, m, JOB_COUNTS);
    char err[ERRLEN];
    if (j == NULL)
        return;
    if (parse_count_body(in, s, j, err) != 0) {
        metric_inc(s->m_counts[CR_INVALID], 1);
        sig_bad_request(r, err);
        job_free(j);
        return;
    }
    enqueue(m->g, j);
}

/* ---- GET .../counts: what was received ---- */

struct count_read {
    struct signals *s;
    struct http_req *r;
    char id[128];
};

static void on_counts(void *arg, enum store_status st, const struct store_reply *rep)
{
    struct count_read *c = arg;
    if (!c->s->lt.stopped && !sig_store_failed(c->r, st, rep)) {
        json_t *list = json_array();
        for (size_t i = store_reply_len(rep); i-- > 0;) {
            const char *text = store_reply_str(store_reply_at(rep, i), NULL);
            json_t *e = text ? json_loads(text, 0, NULL) : NULL;
            if (e != NULL)
                json_array_append_new(list, e);
        }
        json_t *o = json_object();
        json_object_set_new(o, "intersection", json_string(c->id));
        json_object_set_new(o, "counts", list);
        http_reply_json(c->r, 200, o);
    }
    struct signals *s = c->s;
    free(c);
    release(s);
}

static void h_get_counts(struct http_req *r, void *arg)
{
    struct signals *s = ((struct app *)arg)->signals;
    struct mref *m = find_member(r, s);
    if (m == NULL)
        return;
    double lim;
    if (params_number(r, "limit", PARAMS_INTEGER, 1, COUNTS_LIMIT_MAX, 96, &lim) != 0)
        return;
    long limit = (long)lim;
    struct count_read *c = calloc(1, sizeof *c);
    if (c == NULL) {
        http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    *c = (struct count_read){ s, r, "" };
    snprintf(c->id, sizeof c->id, "%s", m->g->isec[m->k].id);
    char key[KEY_MAX], from[24];
    snprintf(from, sizeof from, "%ld", -limit);
    lifetime_hold(&s->lt);
    if (store_cmdf(s->a->store, on_counts, c, "LRANGE %s %s -1",
                   keys_intersection(key, sizeof key, c->id, "counts"), from) != 0) {
        release(s);
        free(c);
        http_reply_error(r, 500, "internal", "cannot queue the store read");
    }
}

/* ---- PUT .../mode ---- */

static int parse_mode(json_t *in, const struct app *a, enum adaptive_mode *mode, bool *override,
                      char *err)
{
    const char *m = json_string_value(json_object_get(in, "mode"));
    json_t *jm = json_object_get(in, "method");
    const char *method = json_string_value(jm);
    if (m == NULL || (strcmp(m, "fixed") && strcmp(m, "adaptive") && strcmp(m, "default"))) {
        snprintf(err, ERRLEN, "mode: must be \"fixed\", \"adaptive\" or \"default\" (the "
                 "configured signals.mode)");
        return -1;
    }
    if (jm != NULL && !json_is_null(jm) &&
        (method == NULL || (strcmp(method, "webster") && strcmp(method, "max_pressure")))) {
        snprintf(err, ERRLEN, "method: must be \"webster\" or \"max_pressure\"");
        return -1;
    }
    if (method != NULL && strcmp(m, "adaptive") != 0) {
        snprintf(err, ERRLEN, "method: only with \"mode\": \"adaptive\"");
        return -1;
    }
    *override = strcmp(m, "default") != 0;
    if (!*override)
        *mode = default_mode(a);
    else if (strcmp(m, "fixed") == 0)
        *mode = ADAPTIVE_FIXED;
    else
        *mode = method && !strcmp(method, "max_pressure") ? ADAPTIVE_MAX_PRESSURE : ADAPTIVE_WEBSTER;
    return 0;
}

static void h_put_mode(struct http_req *r, void *arg)
{
    struct signals *s = ((struct app *)arg)->signals;
    json_t *in;
    struct mref *m = input_member(r, s, &in);
    if (m == NULL)
        return;
    enum adaptive_mode mode;
    bool override;
    char err[ERRLEN];
    if (parse_mode(in, s->a, &mode, &override, err) != 0) {
        sig_bad_request(r, err);
        return;
    }
    struct job *j = job_new(r, s, m, JOB_MODE);
    if (j == NULL)
        return;
    j->mode = mode;
    j->override = override;
    enqueue(m->g, j);
}

/* ---- GET /v1/signals/advisory ---- */

static double angle_diff(double a, double b)
{
    double d = fmod(fabs(a - b), 360.0);
    return d > 180 ? 360 - d : d;
}

struct match {
    const struct map_corridor *c;
    double along_m, off_m;
    bool outbound;
};

/* The nearest corridor within ADVISORY_MATCH_M whose line runs along the
 * heading (either way). */
static bool match_corridor(const struct map *m, struct geo_pt pt, double heading, struct match *mt,
                           bool *near_any)
{
    bool found = false;
    *near_any = false;
    for (size_t i = 0; i < m->ncorridors; i++) {
        const struct map_corridor *c = &m->corridors[i];
        double off, s = geo_line_locate(m->geo, c->line, pt, &off);
        if (isnan(s) || !(off <= ADVISORY_MATCH_M))
            continue;
        *near_any = true;
        struct geo_pt a = geo_line_point_at(c->line, s - 10), b = geo_line_point_at(c->line, s + 10);
        double d = angle_diff(heading, geo_bearing_deg(a.lon, a.lat, b.lon, b.lat));
        if (d > ADVISORY_HEADING_DEG && d < 180 - ADVISORY_HEADING_DEG)
            continue;
        if (!found || off < mt->off_m) {
            *mt = (struct match){ c, s, off, d <= ADVISORY_HEADING_DEG };
            found = true;
        }
    }
    return found;
}

static void no_advice(struct http_req *r, double t, const char *why)
{
    json_t *o = json_object();
    json_object_set_new(o, "advice", json_string("none"));
    json_object_set_new(o, "reason", json_string(why));
    sig_set_num(o, "ts", t);
    http_reply_json(r, 200, o);
}

/* Index of the next signal ahead along the corridor, or -1. */
static long next_signal(const struct match *mt)
{
    const struct map_corridor *c = mt->c;
    if (mt->outbound) {
        for (size_t i = 0; i < c->nisecs; i++)
            if (c->position_m[i] > mt->along_m + ADVISORY_PASSED_M)
                return (long)i;
        return -1;
    }
    for (size_t i = c->nisecs; i-- > 0;)
        if (c->position_m[i] < mt->along_m - ADVISORY_PASSED_M)
            return (long)i;
    return -1;
}

static void advise(struct http_req *r, struct signals *s, const struct match *mt, long i,
                   double t, double speed)
{
    const struct map *m = s->a->map;
    const struct map_corridor *c = mt->c;
    const struct map_intersection *x = map_intersection(m, c->isecs[i]);
    struct mref *ref = dict_get(s->by_id, x->id);
    char d = corridor_outbound_dir(m, c, (size_t)i), mv[4];
    through(mt->outbound ? d : corridor_opposite(d), mv);
    int p = corridor_phase_of(x, mv);
    char why[256];
    if (ref == NULL || p < 0) {
        snprintf(why, sizeof why, "signal '%s' ahead has no timing for %s", x->id, mv);
        no_advice(r, t, why);
        return;
    }
    catch_up(s, ref->g, t);
    struct adaptive_history h = history(ref->g, ref->k);
    struct adaptive_window w[ADVISORY_WINDOWS];
    struct adaptive_spat sp[ADAPTIVE_MAX_PHASES];
    int nw = adaptive_green_windows(ref->g->live, ref->k, &h, p, t, w, ADVISORY_WINDOWS);
    if (nw < 0 || adaptive_spat(ref->g->live, ref->k, &h, t, sp) != 0) {
        sig_bad_request(r, "at: earlier than the timing history kept");
        return;
    }
    double dist = fabs(c->position_m[i] - mt->along_m), vmax = c->speed_kmh / 3.6;
    struct adaptive_advice adv;
    adaptive_glosa(t, dist, speed, ADVISORY_VMIN_MPS, vmax, w, nw, ADVISORY_MARGIN_S, &adv);
    json_t *o = json_object();
    json_object_set_new(o, "advice", json_string(adv.go ? "speed" : "stop"));
    json_object_set_new(o, "corridor", json_string(c->id));
    json_object_set_new(o, "direction", json_string(mt->outbound ? "outbound" : "inbound"));
    json_object_set_new(o, "intersection", json_string(x->id));
    json_object_set_new(o, "intersection_name", x->name ? json_string(x->name) : json_null());
    sig_set_num(o, "distance_m", dist);
    json_object_set_new(o, "signal_group", json_integer(p + 1));
    json_object_set_new(o, "movement", json_string(mv));
    json_object_set_new(o, "event_state", json_string(adaptive_event_name(sp[p].state)));
    sig_set_num(o, "speed_limit_mps", vmax);
    sig_set_num(o, "advisory_speed_mps", adv.go ? adv.speed_mps : NAN);
    sig_set_num(o, "advisory_speed_kmh", adv.go ? adv.speed_mps * 3.6 : NAN);
    sig_set_num(o, "arrival_s", adv.go ? adv.arrival_s : NAN);
    /* The green aimed at, or the next one to wait for. */
    int wi = adv.go ? adv.window : -1;
    for (int k = 0; wi < 0 && k < nw; k++)
        if (w[k].start > t)
            wi = k;
    sig_set_num(o, "green_start_s", wi >= 0 ? fmax(0, w[wi].start - t) : NAN);
    sig_set_num(o, "green_end_s", wi >= 0 ? w[wi].end - t : NAN);
    if (!adv.go) {
        snprintf(why, sizeof why, "no speed between %.0f and %.1f m/s reaches %s on green: "
                 "stop at the line", ADVISORY_VMIN_MPS, vmax, x->id);
        json_object_set_new(o, "reason", json_string(why));
    }
    sig_set_num(o, "ts", t);
    http_reply_json(r, 200, o);
}

static void h_advisory(struct http_req *r, void *arg)
{
    struct app *a = arg;
    struct signals *s = a->signals;
    double lon, lat, heading, speed, t;
    bool gcj;
    if (params_number(r, "lon", PARAMS_REQUIRED, -180, 180, 0, &lon) ||
        params_number(r, "lat", PARAMS_REQUIRED, -90, 90, 0, &lat) ||
        params_number(r, "heading", PARAMS_REQUIRED, 0, 360, 0, &heading) ||
        params_number(r, "speed", PARAMS_REQUIRED, 0, 100, 0, &speed) || params_crs(r, &gcj))
        return;
    if (s == NULL || !restore_ready(&s->rs)) {
        http_reply_unavailable(r);
        return;
    }
    if (params_now(s->a, r, &t) != 0)
        return;
    struct geo_pt pt = { lon, lat };
    if (gcj)
        geo_gcj02_to_wgs84(lon, lat, &pt.lon, &pt.lat);
    struct match mt = { NULL, 0, 0, false };
    bool near_any;
    if (!match_corridor(a->map, pt, heading, &mt, &near_any)) {
        no_advice(r, t, near_any ? "heading does not follow the corridor nearby"
                                 : "no signalised corridor within 50 m");
        return;
    }
    long i = next_signal(&mt);
    if (i < 0) {
        char why[160];
        snprintf(why, sizeof why, "no signal ahead on %s (%s)", mt.c->id,
                 mt.outbound ? "outbound" : "inbound");
        no_advice(r, t, why);
        return;
    }
    advise(r, s, &mt, i, t, speed);
}

/* ---- restore from Redis ----
 *
 * The module's restore (module.h). Every member's key holds its whole
 * group's state as of the member's last input (~1.8 KB a member: 45 KB
 * for a 25-member corridor), and the group's newest is the one with the
 * highest seq. Step 0 reads the head of every member's snapshot (its
 * first SNAPSHOT_HEAD bytes: adaptive_snapshot writes "v" and "seq"
 * first); step 1 reads, for every group, the newest member's snapshot
 * whole (every member's, when a head did not say its seq: another
 * format) and its corridor's active plan; step 2 restores each group
 * from the newest snapshot (or starts it), brings it in line with the
 * active plan (the source of truth) and stores what changed. Every
 * member's copy read whole is 25 copies of each corridor's state, 65 MB
 * at Yantai's size (1,500 intersections): at once, cityd spent longer
 * than redis.timeout_ms on them and the restore began again for ever;
 * paced, they still took seconds over the link. The heads are 100 KB.
 * Steps 0 and 1 go by group as paced work items (module.c). A re-read ("<group
 * index>", after an input of unknown outcome) reads the group whole
 * again: a snapshot ahead of memory replaces it, and the active plan is
 * reconciled. Replies of one group come in order: snapshots, then the
 * plan. */
#define SNAPSHOT_HEAD "63"                  /* GETRANGE end: 64 bytes */

static struct sgroup *group_of(struct signals *s, const char *idx)
{
    size_t i = (size_t)strtoul(idx, NULL, 10);
    return i < s->ngroups ? &s->groups[i] : NULL;
}

/* The snapshot's seq: read from its head, else from the whole text (one
 * not written as adaptive_snapshot writes it); false when unreadable. */
static bool snapshot_seq(const char *text, unsigned long long *n)
{
    if (text == NULL)
        return false;
    if (adaptive_snapshot_seq(text, n) == 0)
        return true;
    json_t *o = json_loads(text, 0, NULL), *seq = json_object_get(o, "seq");
    *n = json_is_integer(seq) ? (unsigned long long)json_integer_value(seq) : 0;
    json_decref(o);
    return o != NULL;
}

/* One member's copy of its group's snapshot: only the newest is kept (and
 * parsed, by restore_groups or adaptive_restore). */
static void on_snapshot(struct restore *r, const char *idx, const struct store_reply *reply)
{
    struct signals *s = r->arg;
    struct sgroup *g = group_of(s, idx);
    const char *text = store_reply_str(reply, NULL);
    unsigned long long n = 0;
    char err[ERRLEN], qe[2 * ERRLEN + 3];
    if (!snapshot_seq(text, &n))
        return;
    if (r->mode == RESTORE_REREAD && n > g->live->seq &&
        adaptive_restore(g->live, text, err, sizeof err) != 0)
        log_warn(&s->a->log, "signals_snapshot_ignored", "group=%s error=%s", idx,
                 log_quote(qe, sizeof qe, err));
    else if (r->mode != RESTORE_REREAD && (g->best == NULL || n > g->best_seq)) {
        free(g->best);
        g->best = strdup(text);
        g->best_seq = n;
    }
}

/* A group restored or started: bring it in line with its corridor's
 * active plan (the source of truth). */
static void restore_plan(struct signals *s, struct sgroup *g, bool replay, double now)
{
    char err[ERRLEN];
    if (g->cor == NULL)
        return;
    if (!replay && g->live->started)
        adaptive_advance(g->live, now, hist_push, g);
    int rc = plan_reconcile(s, g, g->active, err);
    char qe[2 * ERRLEN + 3];
    if (rc < 0)
        log_warn(&s->a->log, "signals_plan_ignored", "corridor=%s error=%s", g->cfg.id,
                 log_quote(qe, sizeof qe, err));
    else if (rc > 0)
        log_info(&s->a->log, "signals_plan_restored", "corridor=%s plan=%s", g->cfg.id,
                 g->live->plan_id[0] ? g->live->plan_id : "(none)");
    g->save |= rc > 0;
    free(g->active);
    g->active = NULL;
}

static void on_active_plan(struct restore *r, const char *idx, const struct store_reply *reply)
{
    struct signals *s = r->arg;
    struct sgroup *g = group_of(s, idx);
    const char *text = store_reply_str(reply, NULL);
    free(g->active);
    g->active = text ? strdup(text) : NULL;
    if (r->mode == RESTORE_REREAD)
        restore_plan(s, g, s->a->cfg.clock_mode == CLOCK_REPLAY, app_now(s->a));
}

static void read_snapshot(struct restore *r, struct sgroup *g, const char *idx, size_t k)
{
    char key[KEY_MAX];
    const char *argv[] = {"GET", keys_intersection(key, sizeof key, g->isec[k].id, "adaptive")};
    restore_cmd(r, on_snapshot, idx, 2, argv);
}

static void read_plan(struct restore *r, struct sgroup *g, const char *idx)
{
    char key[KEY_MAX];
    if (g->cor == NULL)
        return;
    const char *argv[] = {"GET", keys_corridor(key, sizeof key, g->cfg.id, "plan:active")};
    restore_cmd(r, on_active_plan, idx, 2, argv);
}

/* The group's snapshots, then its corridor's active plan. */
static void read_group(struct restore *r, const char *idx)
{
    struct sgroup *g = group_of(r->arg, idx);
    for (size_t k = 0; g != NULL && k < g->cfg.n; k++)
        read_snapshot(r, g, idx, k);
    if (g != NULL)
        read_plan(r, g, idx);
}

/* A member's snapshot head ("<group>:<member>"): the newest so far? */
static void on_head(struct restore *r, const char *id, const struct store_reply *reply)
{
    size_t i, k, len = 0;
    unsigned long long seq;
    const char *text = store_reply_str(reply, &len);
    if (sscanf(id, "%zu:%zu", &i, &k) != 2 || i >= ((struct signals *)r->arg)->ngroups ||
        text == NULL || len == 0)
        return;                                 /* (no snapshot: "") */
    struct sgroup *g = &((struct signals *)r->arg)->groups[i];
    if (adaptive_snapshot_seq(text, &seq) != 0)
        g->head_unsure = true;
    else if (g->head_k == SIZE_MAX || seq > g->head_seq) {
        g->head_seq = seq;
        g->head_k = k;
    }
}

/* Step 0's work item: every member's snapshot head. */
static void read_heads(struct restore *r, const char *idx)
{
    struct sgroup *g = group_of(r->arg, idx);
    char key[KEY_MAX], id[48];
    for (size_t k = 0; g != NULL && k < g->cfg.n; k++) {
        const char *argv[] = {"GETRANGE", keys_intersection(key, sizeof key, g->isec[k].id,
                                                            "adaptive"), "0", SNAPSHOT_HEAD};
        snprintf(id, sizeof id, "%s:%zu", idx, k);
        restore_cmd(r, on_head, id, 4, argv);
    }
}

/* Step 1's work item: the newest snapshot (all, when unsure), the plan. */
static void read_newest(struct restore *r, const char *idx)
{
    struct sgroup *g = group_of(r->arg, idx);
    if (g != NULL && g->head_unsure)
        read_group(r, idx);
    else if (g != NULL) {
        if (g->head_k != SIZE_MAX)
            read_snapshot(r, g, idx, g->head_k);
        read_plan(r, g, idx);
    }
}

static void on_initial_saved(struct restore *r, const char *idx, const struct store_reply *reply)
{
}

/* Every snapshot is in: restore each group, start the new ones. */
static void restore_groups(struct restore *r, struct signals *s)
{
    bool replay = s->a->cfg.clock_mode == CLOCK_REPLAY;
    double now = app_now(s->a);
    size_t restored = 0, fresh = 0;
    for (size_t i = 0; i < s->ngroups; i++) {
        struct sgroup *g = &s->groups[i];
        char err[ERRLEN];
        if (g->best != NULL && adaptive_restore(g->live, g->best, err, sizeof err) == 0) {
            restored++;
            if (replay && g->live->started)
                app_saw_ts(s->a, g->live->t);
        } else {
            char qe[2 * ERRLEN + 3];
            if (g->best != NULL)
                log_warn(&s->a->log, "signals_snapshot_ignored", "group=%s error=%s",
                         g->cfg.id ? g->cfg.id : g->isec[0].id, log_quote(qe, sizeof qe, err));
            if (!replay)
                adaptive_start(g->live, now);
            g->save = !replay;
            fresh++;
        }
        free(g->best);
        g->best = NULL;
        g->best_seq = 0;
        restore_plan(s, g, replay, now);
    }
    /* A new group's start is an input too, and so is a plan brought in
     * line: store them, so a restart goes on with the same cycles.
     * (Replay starts a group at its first count.) */
    for (size_t i = 0; i < s->ngroups; i++) {
        struct sgroup *g = &s->groups[i];
        char key[KEY_MAX], *snap = g->save ? adaptive_snapshot(g->live) : NULL;
        const char *argv[] = {"SET", keys_intersection(key, sizeof key, g->isec[0].id, "adaptive"),
                              snap};
        if (g->save && (snap == NULL || restore_cmd(r, on_initial_saved, NULL, 3, argv) != 0)) {
            free(snap);
            restore_failed(r, "cannot store a snapshot");
            return;
        }
        g->save = false;
        free(snap);
    }
    log_info(&s->a->log, "signals_state", "restored=%zu started=%zu", restored, fresh);
}

static bool restore_step(struct restore *r, int k)
{
    struct signals *s = r->arg;
    char idx[24];
    for (size_t i = 0; k <= 1 && i < s->ngroups; i++) {
        struct sgroup *g = &s->groups[i];
        if (k == 0) {
            free(g->best);
            free(g->active);
            g->best = g->active = NULL;
            g->best_seq = g->head_seq = 0;
            g->head_k = SIZE_MAX;
            g->head_unsure = false;
        }
        snprintf(idx, sizeof idx, "%zu", i);
        if (restore_work_add(r, k == 0 ? read_heads : read_newest, idx) != 0)
            break;
    }
    if (k == 2)
        restore_groups(r, s);
    return k <= 2;
}

static void lease_step(struct signals *s, struct sgroup *g);
static double mono_s(void);

static void restore_done(struct restore *r)
{
    struct signals *s = r->arg;
    if (s->lease_since == 0) {              /* the first: take the free leases at once */
        s->lease_since = mono_s();
        for (size_t i = 0; i < s->ngroups; i++) {
            s->groups[i].fresh = true;
            if (!s->groups[i].leasing)
                lease_step(s, &s->groups[i]);
        }
    }
    log_info(&s->a->log, "signals_restored", "groups=%zu", s->ngroups);
}

static const struct restore_ops RESTORE_OPS = {"signals", restore_step, restore_done,
                                               read_group};

/* ---- life cycle ---- */

/* ---- for the city view (api_city.c, api_lists.c) ---- */

/* End of the latest count interval applied to member m (0: none). */
static double latest_count(const struct adaptive_member *m)
{
    double t = 0;
    for (int i = 0; i < ADAPTIVE_NMOV; i++)
        t = fmax(t, m->est[i].t_good);
    return t;
}

bool api_adaptive_member(const struct app *a, const char *id, double now,
                         struct signals_member *out)
{
    const struct signals *s = a->signals;
    const struct mref *mr = s && id ? dict_get(s->by_id, id) : NULL;
    if (mr == NULL)
        return false;
    const struct adaptive_member *m = &mr->g->live->m[mr->k];
    double len = mr->count_len > 0 ? mr->count_len : SIGNALS_COUNT_INTERVAL_S;
    out->mode = m->mode;
    out->latest_count = latest_count(m);
    out->realtime = m->mode != ADAPTIVE_FIXED && out->latest_count > 0 &&
                    out->latest_count <= now + FUTURE_SLACK_S &&
                    now - out->latest_count <= 2 * len;
    return true;
}

void api_adaptive_census(const struct app *a, double now, struct signals_census *c)
{
    memset(c, 0, sizeof *c);
    const struct signals *s = a->signals;
    for (size_t i = 0; s && restore_ready(&s->rs) && i < s->ngroups; i++) {
        const struct sgroup *g = &s->groups[i];
        for (size_t k = 0; k < g->cfg.n; k++) {
            struct signals_member m;
            if (!api_adaptive_member(a, g->isec[k].id, now, &m))
                continue;
            c->intersections++;
            c->realtime += m.realtime;
            c->fixed += m.mode == ADAPTIVE_FIXED;
            c->adaptive += m.mode != ADAPTIVE_FIXED;
            c->latest_count = fmax(c->latest_count, m.latest_count <= now ? m.latest_count : 0);
        }
    }
}

int api_adaptive_now(struct app *a, const char *id, double t, json_t **timing, json_t **spat)
{
    struct signals *s = a->signals;
    struct mref *m = s && id ? dict_get(s->by_id, id) : NULL;
    struct adaptive_record rec;
    *timing = *spat = NULL;
    if (m == NULL || !restore_ready(&s->rs))
        return -1;
    catch_up(s, m->g, t);
    struct adaptive_history h = history(m->g, m->k);
    if (adaptive_record_at(m->g->live, m->k, &h, t, &rec) != 0)
        return -1;
    *timing = timing_json(s, m->g, m->k, &rec, t);
    *spat = spat_json(m, t, &h, &rec);
    return 0;
}

static const struct module_route ROUTES[] = {
    {HTTP_POST, "/v1/signals/intersections/{id}/counts", ROLE_SENSOR, false, h_post_counts},
    {HTTP_GET, "/v1/signals/intersections/{id}/counts", ROLE_READER, true, h_get_counts},
    {HTTP_GET, "/v1/signals/intersections/{id}/timing", ROLE_READER, true, h_timing},
    {HTTP_PUT, "/v1/signals/intersections/{id}/mode", ROLE_ENGINEER, false, h_put_mode},
    {HTTP_GET, "/v1/signals/intersections/{id}/spat", ROLE_READER, true, h_spat},
    {HTTP_GET, "/v1/signals/advisory", ROLE_READER, true, h_advisory},
};

static int start(struct app *a, char *err, size_t errlen)
{
    struct signals *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, errlen, "signals: out of memory");
        return -1;
    }
    a->signals = s;
    s->a = a;
    struct timeval tick = {0, LEASE_TICK_MS * 1000};
    if (build_groups(s) != 0 || restore_init(&s->rs, a, &s->lt, &RESTORE_OPS, s) != 0 ||
        (s->renew = store_script_new(a->store, RENEW_SCRIPT)) == NULL ||
        (s->counts_trim = store_script_new(a->store, COUNTS_TRIM_SCRIPT)) == NULL ||
        (s->tick = event_new(a->base, -1, EV_PERSIST, on_tick, s)) == NULL ||
        event_add(s->tick, &tick) != 0) {
        snprintf(err, errlen, "signals: out of memory");
        return -1;
    }
    s->m_owned = metrics_series(a->metrics, METRIC_GAUGE, "cityd_signals_groups_driven",
                                "Signal groups (corridors) this cityd drives: it holds their "
                                "lease", "");
    for (int i = 0; i < 4; i++) {
        char labels[32];
        snprintf(labels, sizeof labels, "result=\"%s\"", COUNT_RESULTS[i]);
        s->m_counts[i] = metrics_series(a->metrics, METRIC_COUNTER, "cityd_signals_counts_total",
                                        "Detector counts posted, by result", labels);
    }
    if (module_routes(a->http, "adaptive", ROUTES, sizeof ROUTES / sizeof ROUTES[0], a, err,
                      errlen) != 0)
        return -1;
    restore_begin(&s->rs);
    return 0;
}

static bool owns(const struct sgroup *g);

/* Restored, and each group driven here or, a lease time on, elsewhere
 * (by then a lease its holder does not renew has expired and been
 * taken): so a cityd restarted after a crash does not queue its inputs
 * for a holder that is gone. */
static bool ready(const struct app *a)
{
    const struct signals *s = a->signals;
    if (s == NULL || !restore_ready(&s->rs) || s->lease_since == 0)
        return false;
    bool waited = mono_s() - s->lease_since >= (double)a->cfg.signals_lease_ms / 1000.0;
    for (size_t i = 0; !waited && i < s->ngroups; i++)
        if (!owns(&s->groups[i]))
            return false;
    return true;
}

/* Queued inputs are dropped unanswered (the HTTP server closes their
 * connections); the one in flight is freed by its store callback. */
static void stop(struct app *a)
{
    struct signals *s = a->signals;
    if (s == NULL)
        return;
    s->lt.stopped = true;
    restore_stop(&s->rs);
    if (s->tick != NULL)
        event_del(s->tick);
    for (size_t i = 0; i < s->ngroups; i++) {
        struct sgroup *g = &s->groups[i];
        struct job *j = g->head ? g->head->next : NULL;
        while (j != NULL) {
            struct job *next = j->next;
            job_free(j);
            j = next;
        }
        if (g->head != NULL)
            g->head->next = NULL;
        g->tail = g->head;
    }
}

static void adaptive_module_free(struct app *a)
{
    struct signals *s = a->signals;
    if (s == NULL)
        return;
    lifetime_check(&s->lt, a, "adaptive");
    signals_free(s);
    a->signals = NULL;
}

const struct api_module api_adaptive_module = {"adaptive", start, stop, adaptive_module_free,
                                               ready};
