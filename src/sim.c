/* sim.c -- citysim's event-driven traffic model (see sim.h for the model).
 *
 * Events (generator fires, vehicle reaches a stop line, a stop line
 * serves its head vehicle) sit in one binary heap ordered by time, then
 * by insertion sequence, so a run is a pure function of its inputs and
 * seed. Each movement's stop line holds at most one pending service event;
 * its time is computed from the timing in force when it is scheduled, so a
 * closed-loop timing change takes effect from the next vehicle served.
 * Links keep, per direction and lane, when the last vehicle reaches the
 * downstream stop line: a vehicle leaving later arrives no earlier than
 * follow_s after it, so drivers keep their order within a lane and a
 * platoon keeps the pace of its slowest member.
 * Actuated intersections also get wake-up events (at each phase start, and
 * when a phase's queues empty) at which their controller decides whether
 * the green gaps out; a decision is kept as an override of the current
 * cycle's timing, and the stop lines waiting for a green that now comes
 * earlier are rescheduled (a SERVE event carries its queue's generation,
 * so the superseded one is dropped). */
#include "sim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const mov_names[SIM_NMOV] = {
    "NBL", "NBT", "NBR", "SBL", "SBT", "SBR", "EBL", "EBT", "EBR", "WBL", "WBT", "WBR",
};

int sim_movement_index(const char *utdf)
{
    for (int i = 0; i < SIM_NMOV; i++)
        if (strcmp(mov_names[i], utdf) == 0)
            return i;
    return -1;
}

const char *sim_movement_name(int idx)
{
    return idx >= 0 && idx < SIM_NMOV ? mov_names[idx] : "?";
}

/* ---- random numbers: splitmix64 seeding xoshiro256** ---- */

struct rng { uint64_t s[4]; };

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return res;
}

/* Uniform in (0, 1). */
static double rng_unit(struct rng *r)
{
    return ((double)(rng_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

/* Standard normal (Box-Muller; one of the pair is dropped so a draw is
 * always two uniforms and runs stay reproducible). */
static double rng_normal(struct rng *r)
{
    double u = rng_unit(r), v = rng_unit(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

void sim_corridor_defaults(struct sim_corridor_opts *o)
{
    o->speed_dev = 0.1;
    o->accel_mps2 = 2.6;
    o->decel_mps2 = 4.5;
    o->jam_spacing_m = 7.5;
    o->start_s = 1.4;
    o->follow_s = 0;
    o->lanes = 1;
}

/* ---- geometry of movements ---- */

/* Compass heading 0 N, 1 E, 2 S, 3 W of travel on each approach. */
static const int approach_heading[4] = {0, 2, 1, 3};

static int mov_approach(int m) { return m / 3; }
static int mov_turn(int m) { return m % 3; }

/* Heading after the movement: left turns counter-clockwise. */
static int mov_exit_heading(int m)
{
    int h = approach_heading[mov_approach(m)];
    static const int delta[3] = {3, 0, 1};
    return (h + delta[mov_turn(m)]) % 4;
}

static int approach_of_heading(int h)
{
    for (int a = 0; a < 4; a++)
        if (approach_heading[a] == h)
            return a;
    return 0;
}

/* ---- state ---- */

enum ev_type { EV_GEN, EV_ARRIVE, EV_SERVE, EV_WAKE };

struct event {
    double t;
    uint64_t seq;
    int type;
    int a, b;          /* GEN: generator; ARRIVE: vehicle, isec; SERVE: isec, movement;
                          WAKE: isec */
    unsigned gen;      /* SERVE: the queue's generation when scheduled */
};

struct vehicle {
    double entered, freeflow, arrived;   /* arrived: at the current stop line */
    double speed;                        /* desired speed on corridor links, m/s */
    int stops;
    int isec, approach;
    int ahead;                           /* vehicles queued ahead when it arrived */
    int mov;                             /* movement at the next stop line, -1: draw */
    int dir;                             /* 0 outbound, 1 inbound, 2 cross (entry) */
    bool measured;                       /* entered after the warm-up */
    int next_free;
    long serial;                         /* unique per run (slots are reused) */
};

struct queue {
    int *ring; size_t cap, head, len;
    double last_cross;                   /* crossing time of the previous vehicle */
    bool pending;                        /* a SERVE event is scheduled */
    unsigned gen;                        /* bumped when the SERVE is superseded */
    double headway;                      /* 3600 / movement saturation flow */
};

/* An actuated controller's decisions in recent cycles: phase `phase` of
 * the cycle whose phase 0 is scheduled at `base` starts at `start` and/or
 * ends at `end` instead of its scheduled times (NAN: as scheduled). */
struct act_override {
    double base;
    int phase;
    double start, end;
};
#define ACT_OVERRIDES (2 * SIM_MAX_PHASES)
struct actuation {
    struct act_override ov[ACT_OVERRIDES];   /* a ring: the oldest is reused */
    int next;
    double woken[2];                          /* the latest wake-ups pushed */
};

/* A Poisson/uniform source of arrivals at one stop line. `m` < 0: the
 * movement is drawn from the interval's turning proportions (corridor
 * approach fed by an upstream intersection: extra mid-block demand). */
struct gen {
    int isec, approach, m;
    size_t interval;                     /* current count interval */
    double uniform_next;                 /* uniform mode: index within interval */
    long uniform_k;
};

struct sim {
    struct sim_isec *isecs; size_t n;
    struct sim_corridor_opts o;
    struct rng rng;
    double now;
    struct event *heap; size_t hlen, hcap; uint64_t seq;
    struct vehicle *veh; size_t nveh, vcap; int free_head;
    long serials, active;                /* vehicles created / in the network */
    struct queue *q;                     /* n * SIM_NMOV */
    struct sim_isec_result *res;
    double *taken;                       /* n * SIM_NMOV counts since last take */
    double *residual;                    /* n * SIM_NMOV queue left at the latest green end */
    struct gen *gens; size_t ngens;
    double *lane_last;                   /* n * 4 approaches * lanes: last arrival */
    int lanes;
    struct sim_result total;
    long crossed_in_run, exited_in_run;
    void (*trace)(void *, const char *);
    void *trace_arg;
    struct actuation *act;               /* n, or NULL: pretimed */
};

/* ---- heap ---- */

static bool ev_less(const struct event *x, const struct event *y)
{
    return x->t < y->t || (x->t == y->t && x->seq < y->seq);
}

/* A full array of elements of size sz, doubled (or `first` long when
 * empty): the new array with *cap updated, or NULL (arr and *cap kept). */
static void *grow_array(void *arr, size_t *cap, size_t sz, size_t first)
{
    size_t ncap = *cap ? *cap * 2 : first;
    void *na = realloc(arr, ncap * sz);
    if (na != NULL)
        *cap = ncap;
    return na;
}

static int heap_push_gen(struct sim *s, double t, int type, int a, int b, unsigned gen)
{
    if (s->hlen == s->hcap) {
        struct event *nh = grow_array(s->heap, &s->hcap, sizeof *nh, 256);
        if (nh == NULL)
            return -1;
        s->heap = nh;
    }
    struct event e = {t, s->seq++, type, a, b, gen};
    size_t i = s->hlen++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ev_less(&e, &s->heap[p]))
            break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = e;
    return 0;
}

static int heap_push(struct sim *s, double t, int type, int a, int b)
{
    return heap_push_gen(s, t, type, a, b, 0);
}

static struct event heap_pop(struct sim *s)
{
    struct event top = s->heap[0], last = s->heap[--s->hlen];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->hlen)
            break;
        if (c + 1 < s->hlen && ev_less(&s->heap[c + 1], &s->heap[c]))
            c++;
        if (!ev_less(&s->heap[c], &last))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (s->hlen > 0)
        s->heap[i] = last;
    return top;
}

/* ---- counts ---- */

/* The count interval in force at t, or NULL. */
static const struct sim_count *count_at(const struct sim_isec *is, double t)
{
    for (size_t k = 0; k < is->ncounts; k++) {
        const struct sim_count *c = &is->counts[k];
        if (t >= c->start_s && t < c->start_s + c->length_s)
            return c;
    }
    return NULL;
}

static double count_of(const struct sim_count *c, int m)
{
    return c && c->counts[m] > 0 ? c->counts[m] : 0;
}

/* Flow (veh/s) feeding `approach` of isec i from its upstream neighbour
 * in the same interval: movements there whose exit heading is ours. */
static double upstream_supply(const struct sim *s, size_t up, int heading, double t)
{
    const struct sim_count *c = count_at(&s->isecs[up], t);
    if (c == NULL)
        return 0;
    double q = 0;
    for (int m = 0; m < SIM_NMOV; m++)
        if (mov_exit_heading(m) == heading)
            q += count_of(c, m);
    return q / c->length_s;
}

static int out_heading(const struct sim *s) { return approach_heading[s->o.outbound]; }
static int in_heading(const struct sim *s) { return (out_heading(s) + 2) % 4; }

/* Is `approach` at isec i fed by an upstream intersection? */
static int fed_from(const struct sim *s, size_t i, int approach)
{
    int h = approach_heading[approach];
    if (h == out_heading(s) && i > 0)
        return (int)i - 1;
    if (h == in_heading(s) && i + 1 < s->n)
        return (int)i + 1;
    return -1;
}

/* Rate (veh/s) of a generator at t within the interval c. */
static double gen_rate(const struct sim *s, const struct gen *g, const struct sim_count *c,
                       double t)
{
    if (g->m >= 0)
        return count_of(c, g->m) / c->length_s;
    double want = 0;
    for (int k = 0; k < 3; k++)
        want += count_of(c, g->approach * 3 + k);
    want /= c->length_s;
    int up = fed_from(s, (size_t)g->isec, g->approach);
    double have = upstream_supply(s, (size_t)up, approach_heading[g->approach], t);
    return want > have ? want - have : 0;
}

/* Next arrival time of generator g after `t`, or INFINITY. */
static double gen_next(struct sim *s, struct gen *g, double t)
{
    const struct sim_isec *is = &s->isecs[g->isec];
    while (g->interval < is->ncounts) {
        const struct sim_count *c = &is->counts[g->interval];
        double end = c->start_s + c->length_s;
        if (t < c->start_s) {
            t = c->start_s;
            g->uniform_k = 0;
        }
        double rate = gen_rate(s, g, c, c->start_s);
        if (rate > 0 && t < end) {
            if (s->o.uniform) {
                /* Arrivals at (k + 1/2) headways into the interval. */
                double h = 1.0 / rate;
                double at = c->start_s + ((double)g->uniform_k + 0.5) * h;
                if (at < end) {
                    g->uniform_k++;
                    return at;
                }
            } else {
                double at = t - log(rng_unit(&s->rng)) / rate;
                if (at < end)
                    return at;
            }
        }
        /* Memorylessness lets a Poisson draw restart at the boundary. */
        g->interval++;
        g->uniform_k = 0;
        t = end;
    }
    return INFINITY;
}

/* ---- signal timing ---- */

static bool same_time(double a, double b) { return fabs(a - b) < 1e-6; }

/* Phase p's green [*st, *en) in the cycle whose phase 0 is scheduled at
 * base, as the controller's decisions changed it. */
static void act_apply(const struct actuation *a, double base, int p, double *st, double *en)
{
    for (int k = 0; k < ACT_OVERRIDES; k++) {
        const struct act_override *o = &a->ov[k];
        if (o->phase != p || !same_time(o->base, base))
            continue;
        if (!isnan(o->start))
            *st = o->start;
        if (!isnan(o->end))
            *en = o->end;
    }
}

/* The override of phase p in cycle `base`, made if needed. */
static struct act_override *act_entry(struct actuation *a, double base, int p)
{
    for (int k = 0; k < ACT_OVERRIDES; k++)
        if (a->ov[k].phase == p && same_time(a->ov[k].base, base))
            return &a->ov[k];
    struct act_override *o = &a->ov[a->next];
    a->next = (a->next + 1) % ACT_OVERRIDES;
    *o = (struct act_override){ base, p, NAN, NAN };
    return o;
}

/* Phase 0's scheduled start of the cycle holding t. */
static double cycle_base(const struct sim_timing *tm, double t)
{
    return tm->offset_s + floor((t - tm->offset_s) / tm->cycle_s) * tm->cycle_s;
}

/* Green of phase p in the cycle `k` cycles after t's, as run. */
static void act_window(const struct sim *s, size_t i, double t, int k, int p, double *base,
                       double *st, double *en)
{
    const struct sim_timing *tm = &s->isecs[i].timing;
    *base = cycle_base(tm, t) + k * tm->cycle_s;
    double start = 0;
    for (int j = 0; j < p; j++)
        start += tm->phases[j].green_s + tm->phases[j].intergreen_s;
    *st = *base + start;
    *en = *st + tm->phases[p].green_s;
    act_apply(&s->act[i], *base, p, st, en);
}

/* Earliest crossing time >= t for movement m at isec i whose head
 * vehicle reached the line at `arrived`; INFINITY if never served. The
 * movement's greens over four cycles are merged where one runs into the
 * next (no intergreen between), so a green that continues across a cycle
 * or phase boundary is one green. A queued vehicle crosses no later than
 * h/2 before the end of green (its service slot fits in the green); one
 * arriving unhindered crosses up to `grace` after it (amber: too close to
 * stop when it came on). */
static double next_service(const struct sim *s, size_t i, int m, double t, double arrived,
                           double h, double grace)
{
    const struct sim_timing *tm = &s->isecs[i].timing;
    double ws[4 * SIM_MAX_PHASES], we[4 * SIM_MAX_PHASES];
    int nw = 0;
    double base = cycle_base(tm, t);
    for (int k = -1; k <= 2; k++) {
        double start = 0;
        for (int p = 0; p < tm->nphases; p++) {
            const struct sim_phase *ph = &tm->phases[p];
            double s0 = base + k * tm->cycle_s + start, e0 = s0 + ph->green_s;
            start += ph->green_s + ph->intergreen_s;
            if (!(ph->movements & (1u << m)))
                continue;
            if (s->act != NULL)
                act_apply(&s->act[i], base + k * tm->cycle_s, p, &s0, &e0);
            if (nw > 0 && s0 - we[nw - 1] < 1e-9) {
                we[nw - 1] = e0;
                continue;
            }
            ws[nw] = s0;
            we[nw] = e0;
            nw++;
        }
    }
    for (int w = 0; w < nw; w++) {
        if (t > ws[w] && t <= we[w] + grace && grace > -h / 2)
            return t;
        if (we[w] <= t)
            continue;
        double d = t > ws[w] ? t : ws[w];
        /* A vehicle that waited through red crosses mid-slot. */
        if (arrived < ws[w] && d < ws[w] + h / 2)
            d = ws[w] + h / 2;
        if (d <= we[w] - h / 2 + 1e-9)
            return d;
    }
    return INFINITY;
}

/* ---- vehicles ---- */

static int veh_new(struct sim *s)
{
    if (s->free_head >= 0) {
        int v = s->free_head;
        s->free_head = s->veh[v].next_free;
        s->active++;
        return v;
    }
    if (s->nveh == s->vcap) {
        struct vehicle *nv = grow_array(s->veh, &s->vcap, sizeof *nv, 1024);
        if (nv == NULL)
            return -1;
        s->veh = nv;
    }
    s->active++;
    return (int)s->nveh++;
}

static void veh_free(struct sim *s, int v)
{
    s->veh[v].next_free = s->free_head;
    s->free_head = v;
    s->active--;
}

static void stats_add(struct sim_stats *st, double delay, double stops)
{
    st->vehicles++;
    st->delay_s += delay;
    st->stops += stops;
}

static void veh_exit(struct sim *s, int v, double t)
{
    struct vehicle *vh = &s->veh[v];
    if (vh->measured) {
        double delay = t - vh->entered - vh->freeflow;
        stats_add(&s->total.all, delay, vh->stops);
        stats_add(&s->total.dir[vh->dir], delay, vh->stops);
        s->total.vehicle_s += t - vh->entered;
    }
    if (t <= s->o.duration_s && t >= s->o.warmup_s)
        s->exited_in_run++;
    veh_free(s, v);
}

/* Draw the turn of a vehicle arriving on a fed approach from the
 * interval's proportions (through if nothing was counted). */
static int draw_turn(struct sim *s, size_t i, int approach, double t)
{
    const struct sim_count *c = count_at(&s->isecs[i], t);
    double w[3], sum = 0;
    for (int k = 0; k < 3; k++)
        sum += w[k] = count_of(c, approach * 3 + k);
    if (sum <= 0)
        return approach * 3 + SIM_T;
    double u = rng_unit(&s->rng) * sum;
    for (int k = 0; k < 3; k++) {
        if (u < w[k])
            return approach * 3 + k;
        u -= w[k];
    }
    return approach * 3 + SIM_T;
}

static struct queue *queue_of(struct sim *s, size_t i, int m)
{
    return &s->q[i * SIM_NMOV + (size_t)m];
}

/* Schedule the head's crossing; its time, or INFINITY when none. */
static double schedule_serve(struct sim *s, size_t i, int m)
{
    struct queue *q = queue_of(s, i, m);
    if (q->pending || q->len == 0)
        return INFINITY;
    const struct vehicle *head = &s->veh[q->ring[q->head]];
    double t = head->arrived;
    if (q->last_cross + q->headway > t)
        t = q->last_cross + q->headway;
    if (s->now > t)
        t = s->now;
    /* Unhindered (not held by the vehicle ahead, now at the line): the
     * amber rule applies (sim.h). */
    double grace = -q->headway / 2;
    if (s->o.decel_mps2 > 0 && t == head->arrived)
        grace = head->speed / (2.0 * s->o.decel_mps2);
    double d = next_service(s, i, m, t, head->arrived, q->headway, grace);
    if (d < INFINITY && heap_push_gen(s, d, EV_SERVE, (int)i, m, q->gen) == 0)
        q->pending = true;
    return d;
}

/* ---- actuated control (sim.h) ---- */

/* Wake intersection i's controller at t (once per time). */
static void act_wake_at(struct sim *s, size_t i, double t)
{
    struct actuation *a = &s->act[i];
    if (t == a->woken[0] || t == a->woken[1] || t == INFINITY)
        return;
    if (heap_push(s, t, EV_WAKE, (int)i, 0) == 0) {
        a->woken[1] = a->woken[0];
        a->woken[0] = t;
    }
}

/* A wake-up at t fired: another may be wanted at the same instant (the
 * next phase starting as the last one gapped out, without intergreen). */
static void act_woken(struct actuation *a, double t)
{
    for (int k = 0; k < 2; k++)
        if (a->woken[k] == t)
            a->woken[k] = NAN;
}

/* The phase green at t (this cycle or, started early, the next), or -1
 * in an intergreen; its cycle's base and its green. */
static int act_current(const struct sim *s, size_t i, double t, double *base, double *st,
                       double *en)
{
    const struct sim_timing *tm = &s->isecs[i].timing;
    for (int k = 0; k <= 1; k++)
        for (int p = 0; p < tm->nphases; p++) {
            act_window(s, i, t, k, p, base, st, en);
            if (*st <= t + 1e-9 && t < *en - 1e-9)
                return p;
        }
    return -1;
}

/* The next phase start after t. */
static double act_next_start(const struct sim *s, size_t i, double t)
{
    const struct sim_timing *tm = &s->isecs[i].timing;
    double best = INFINITY, base, st, en;
    for (int k = 0; k <= 1; k++)
        for (int p = 0; p < tm->nphases; p++) {
            act_window(s, i, t, k, p, &base, &st, &en);
            if (st > t + 1e-9 && st < best)
                best = st;
        }
    return best;
}

/* Is a vehicle of phase p waiting; when did one of its movements last
 * cross? */
static bool act_waiting(struct sim *s, size_t i, int p, double *last)
{
    unsigned movs = s->isecs[i].timing.phases[p].movements;
    bool waiting = false;
    *last = -INFINITY;
    for (int m = 0; m < SIM_NMOV; m++) {
        if (!(movs & (1u << m)))
            continue;
        const struct queue *q = queue_of(s, i, m);
        waiting |= q->len > 0;
        *last = fmax(*last, q->last_cross);
    }
    return waiting;
}

/* Phase p (of cycle `base`, force-off `en`) gaps out now: the next phase
 * starts after p's intergreen, and every stop line waiting for a green
 * is served from the timing as it now runs. */
static void act_gap_out(struct sim *s, size_t i, double base, int p, double en)
{
    const struct sim_timing *tm = &s->isecs[i].timing;
    struct actuation *a = &s->act[i];
    act_entry(a, base, p)->end = s->now;
    int q = p + 1;
    if (q == tm->nphases) {
        q = 0;
        base += tm->cycle_s;
    }
    double next = s->now + tm->phases[p].intergreen_s;
    act_entry(a, base, q)->start = next;
    if (s->now >= s->o.warmup_s && s->now <= s->o.duration_s) {
        s->res[i].gap_outs++;
        s->res[i].unused_green_s += en - s->now;
    }
    for (int m = 0; m < SIM_NMOV; m++) {
        struct queue *qu = queue_of(s, i, m);
        if (!qu->pending)
            continue;
        qu->gen++;
        qu->pending = false;
        schedule_serve(s, i, m);
    }
    act_wake_at(s, i, next);
}

/* The controller of intersection i looks at its detectors now: gap out
 * the green if it may, else wake when it next may (or when the next phase
 * starts). */
static void act_decide(struct sim *s, size_t i)
{
    const struct sim_timing *tm = &s->isecs[i].timing;
    double base, st, en, last;
    int p = act_current(s, i, s->now, &base, &st, &en);
    if (p >= 0 && p != tm->coord_phase && !act_waiting(s, i, p, &last)) {
        /* A green lasts its minimum, and at least the passage time: the
         * detector has to see the gap. */
        double at = fmax(st + fmax(tm->phases[p].min_green_s, s->o.passage_s),
                         last + s->o.passage_s);
        if (at <= s->now + 1e-9) {
            act_gap_out(s, i, base, p, en);
            return;
        }
        if (at < en)
            act_wake_at(s, i, at);
    }
    act_wake_at(s, i, act_next_start(s, i, s->now));
}

void sim_timing_changed(struct sim *s, size_t i)
{
    if (s->act == NULL || i >= s->n)
        return;
    s->act[i].woken[0] = s->act[i].woken[1] = NAN;
    act_decide(s, i);
}

static int queue_push(struct queue *q, int v)
{
    if (q->len == q->cap) {
        size_t ncap = q->cap ? q->cap * 2 : 16;
        int *nr = malloc(ncap * sizeof *nr);
        if (nr == NULL)
            return -1;
        for (size_t k = 0; k < q->len; k++)
            nr[k] = q->ring[(q->head + k) % q->cap];
        free(q->ring);
        q->ring = nr;
        q->cap = ncap;
        q->head = 0;
    }
    q->ring[(q->head + q->len) % q->cap] = v;
    q->len++;
    return 0;
}

static void arrive(struct sim *s, int v, size_t i, int m)
{
    struct queue *q = queue_of(s, i, m);
    s->veh[v].arrived = s->now;
    s->veh[v].isec = (int)i;
    s->veh[v].ahead = (int)q->len;
    s->veh[v].mov = -1;
    if (queue_push(q, v) != 0)
        return;
    if (s->now < s->o.warmup_s) {
        schedule_serve(s, i, m);
        return;
    }
    struct sim_stats *st = &s->res[i].mov[m];
    if ((double)q->len > st->max_queue)
        st->max_queue = (double)q->len;
    if ((double)q->len > s->res[i].total.max_queue)
        s->res[i].total.max_queue = (double)q->len;
    schedule_serve(s, i, m);
}

/* Least headway between two vehicles of a lane at a stop line. */
static double follow_headway(const struct sim *s)
{
    if (s->o.follow_s > 0)
        return s->o.follow_s;
    return 1.0 + s->o.jam_spacing_m / s->o.speed_mps;
}

/* When vehicle v, free to reach approach `approach` of isec i at `t`,
 * gets there: behind the last vehicle of the lane that lets it arrive
 * first (lanes 0: no lanes, at t). */
static double lane_arrival(struct sim *s, size_t i, int approach, double t)
{
    if (s->lanes <= 0)
        return t;
    double *last = &s->lane_last[(i * 4 + (size_t)approach) * (size_t)s->lanes];
    double h = follow_headway(s), best = INFINITY;
    int pick = 0;
    for (int l = 0; l < s->lanes; l++) {
        double at = last[l] + h > t ? last[l] + h : t;
        if (at < best) {
            best = at;
            pick = l;
        }
    }
    last[pick] = best;
    return best;
}

/* The stop rule (sim.h): does a vehicle whose free-flow arrival was
 * `wait` before its crossing stop, and what does it lose after the line?
 * A standstill `ahead` vehicles behind the line leaves vk = sqrt(2 a x) at
 * the line (x = ahead * spacing); stopping there costs v/2b (braking) +
 * v/2a (accelerating) in all, of which (v - vk)^2 / 2av comes after the
 * line: a shorter wait is taken by slowing down. A queue discharges as a
 * stream one headway h apart that has lost v/2a - start_s to the start
 * (start_s: what drivers gain by moving off as the green comes), of which
 * its first vehicle's h/2 is already in the crossing times: the rest,
 * v/2a - start_s - h/2 (>= 0), is lost after the line by every vehicle
 * that stopped, so a discharged platoon keeps its headways. */
static bool stop_rule(const struct sim *s, const struct vehicle *vh, double wait, double h,
                      double *after)
{
    *after = 0;
    if (!(s->o.accel_mps2 > 0))
        return wait > 1e-9;
    double a = s->o.accel_mps2, b = s->o.decel_mps2 > 0 ? s->o.decel_mps2 : a, v = vh->speed;
    double vk = sqrt(2.0 * a * vh->ahead * s->o.jam_spacing_m);
    if (vk > v)
        vk = v;
    double cost = v / (2.0 * b) + v / (2.0 * a) - (v - vk) * (v - vk) / (2.0 * a * v);
    if (wait < cost - 1e-9)
        return false;
    double rest = v / (2.0 * a) - s->o.start_s - h / 2;
    *after = rest > 0 ? rest : 0;
    return true;
}

static void serve(struct sim *s, size_t i, int m)
{
    struct queue *q = queue_of(s, i, m);
    q->pending = false;
    if (q->len == 0)
        return;
    int v = q->ring[q->head];
    q->head = (q->head + 1) % q->cap;
    q->len--;
    q->last_cross = s->now;
    struct vehicle *vh = &s->veh[v];
    double wait = s->now - vh->arrived, after;
    int stopped = stop_rule(s, vh, wait, q->headway, &after);
    vh->stops += stopped;
    if (vh->measured) {
        stats_add(&s->res[i].mov[m], wait + after, stopped);
        stats_add(&s->res[i].total, wait + after, stopped);
    }
    s->taken[i * SIM_NMOV + (size_t)m] += 1;
    if (s->now <= s->o.duration_s && s->now >= s->o.warmup_s) {
        s->crossed_in_run++;
        s->res[i].served_in_run++;
    }
    if (s->trace) {
        char line[320];
        snprintf(line, sizeof line, "%ld,%s,%s,%.1f,%.3f,%.3f", vh->serial, s->isecs[i].id,
                 mov_names[m], s->isecs[i].position_m, vh->arrived, s->now);
        s->trace(s->trace_arg, line);
    }
    int h = mov_exit_heading(m);
    int next = h == out_heading(s) ? (int)i + 1 : h == in_heading(s) ? (int)i - 1 : -1;
    if (next < 0 || next >= (int)s->n) {
        veh_exit(s, v, s->now + after);
    } else {
        double T = fabs(s->isecs[next].position_m - s->isecs[i].position_m) / vh->speed;
        vh->freeflow += T;
        vh->approach = approach_of_heading(h);
        double at = lane_arrival(s, (size_t)next, vh->approach, s->now + after + T);
        heap_push(s, at, EV_ARRIVE, v, next);
    }
    /* The residual queue a detector sees when the green ends: 0 once the
     * queue clears; what waits when the next crossing is not the next
     * saturation headway of this green. */
    double d = schedule_serve(s, i, m);
    if (q->len == 0 && s->act != NULL)
        act_decide(s, i);
    if (q->len == 0)
        s->residual[i * SIM_NMOV + (size_t)m] = 0;
    else if (d > s->now + q->headway + 1e-6)
        s->residual[i * SIM_NMOV + (size_t)m] = (double)q->len;
}

/* A driver's desired-speed factor: N(1, speed_dev), redrawn outside
 * [0.2, 2] (SUMO's speedFactor); 1 without spread. */
static double speed_factor(struct sim *s)
{
    if (!(s->o.speed_dev > 0))
        return 1.0;
    for (;;) {
        double f = 1.0 + s->o.speed_dev * rng_normal(&s->rng);
        if (f >= 0.2 && f <= 2.0)
            return f;
    }
}

static void fire_gen(struct sim *s, int gi)
{
    struct gen *g = &s->gens[gi];
    int v = veh_new(s);
    if (v < 0)
        return;
    struct vehicle *vh = &s->veh[v];
    memset(vh, 0, sizeof *vh);
    vh->mov = -1;
    vh->serial = s->serials++;
    vh->entered = s->now;
    vh->measured = s->now >= s->o.warmup_s;
    vh->approach = g->approach;
    vh->speed = s->o.speed_mps * speed_factor(s);
    int h = approach_heading[g->approach];
    /* Classes by where a vehicle enters: on the corridor heading outbound
     * or inbound, or from a side street. */
    vh->dir = h == out_heading(s) ? 0 : h == in_heading(s) ? 1 : 2;
    int m = g->m >= 0 ? g->m : draw_turn(s, (size_t)g->isec, g->approach, s->now);
    double at = lane_arrival(s, (size_t)g->isec, g->approach, s->now);
    if (at > s->now) {
        vh->mov = m;
        heap_push(s, at, EV_ARRIVE, v, g->isec);
    } else {
        arrive(s, v, (size_t)g->isec, m);
    }
    double nt = gen_next(s, g, s->now);
    if (nt < INFINITY)
        heap_push(s, nt, EV_GEN, gi, 0);
}

/* ---- construction ---- */

static int validate(const struct sim_isec *isecs, size_t n, const struct sim_corridor_opts *o,
                    char *err, size_t errlen)
{
    if (n == 0 || o->speed_mps <= 0 || o->duration_s <= 0) {
        snprintf(err, errlen, "need at least one intersection, a positive speed and duration");
        return -1;
    }
    if (!(o->warmup_s >= 0 && o->warmup_s < o->duration_s) ||
        !(o->speed_dev >= 0 && o->speed_dev <= 1) || !(o->accel_mps2 >= 0) ||
        !(o->decel_mps2 >= 0) || !(o->jam_spacing_m >= 0 && o->jam_spacing_m <= 50) ||
        !(o->follow_s >= 0 && o->follow_s <= 60) || !(o->start_s >= 0 && o->start_s <= 30) ||
        o->lanes < 0 || o->lanes > 8 ||
        (o->actuated && !(o->passage_s > 0 && o->passage_s <= 30))) {
        snprintf(err, errlen, "driver parameters out of range (warm-up in [0, duration), speed "
                 "deviation 0..1, lanes 0..8, spacing 0..50 m, headway 0..60 s, passage 0..30 s)");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const struct sim_timing *t = &isecs[i].timing;
        if (t->cycle_s <= 0 || t->nphases <= 0 || t->nphases > SIM_MAX_PHASES) {
            snprintf(err, errlen, "%s: timing needs a positive cycle and 1..%d phases",
                     isecs[i].id, SIM_MAX_PHASES);
            return -1;
        }
        double sum = 0;
        for (int p = 0; p < t->nphases; p++) {
            const struct sim_phase *ph = &t->phases[p];
            if (ph->green_s <= 0 || ph->intergreen_s < 0 || ph->saturation_vph <= 0 ||
                !(ph->min_green_s >= 0)) {
                snprintf(err, errlen, "%s: phase %d needs green > 0, intergreen >= 0, "
                         "minimum green >= 0 and a saturation flow", isecs[i].id, p);
                return -1;
            }
            sum += ph->green_s + ph->intergreen_s;
        }
        if (sum > t->cycle_s + 1e-6) {
            snprintf(err, errlen, "%s: greens and intergreens (%.1f s) exceed the cycle (%.1f s)",
                     isecs[i].id, sum, t->cycle_s);
            return -1;
        }
        if (o->actuated && !(t->coord_phase >= 0 && t->coord_phase < t->nphases)) {
            snprintf(err, errlen, "%s: coordinated phase %d: no such phase", isecs[i].id,
                     t->coord_phase);
            return -1;
        }
        if (i > 0 && isecs[i].position_m <= isecs[i - 1].position_m) {
            snprintf(err, errlen, "%s: intersections must be in outbound order", isecs[i].id);
            return -1;
        }
    }
    return 0;
}

/* Movement saturation flow: the phase's, shared by the movements of one
 * approach in that phase in proportion to their counted volumes (a lane
 * group per approach, as Webster's critical flow ratio assumes), with a
 * floor of a fifth so a minor movement is never starved. */
static double movement_saturation(const struct sim_isec *is, int m)
{
    double best = 0;
    for (int p = 0; p < is->timing.nphases; p++) {
        const struct sim_phase *ph = &is->timing.phases[p];
        if (!(ph->movements & (1u << m)))
            continue;
        double mine = 0, group = 0;
        for (size_t k = 0; k < is->ncounts; k++) {
            for (int x = 0; x < SIM_NMOV; x++) {
                if (!(ph->movements & (1u << x)) || mov_approach(x) != mov_approach(m))
                    continue;
                double c = count_of(&is->counts[k], x);
                group += c;
                if (x == m)
                    mine += c;
            }
        }
        double share = group > 0 ? mine / group : 1.0;
        if (share < 0.2)
            share = 0.2;
        if (ph->saturation_vph * share > best)
            best = ph->saturation_vph * share;
    }
    return best;
}

static int add_gen(struct sim *s, int i, int approach, int m)
{
    struct gen *ng = realloc(s->gens, (s->ngens + 1) * sizeof *ng);
    if (ng == NULL)
        return -1;
    s->gens = ng;
    struct gen *g = &s->gens[s->ngens];
    memset(g, 0, sizeof *g);
    g->isec = i;
    g->approach = approach;
    g->m = m;
    double t = gen_next(s, g, 0);
    if (t < INFINITY && heap_push(s, t, EV_GEN, (int)s->ngens, 0) != 0)
        return -1;
    s->ngens++;
    return 0;
}

static int add_generators(struct sim *s)
{
    for (size_t i = 0; i < s->n; i++) {
        for (int a = 0; a < 4; a++) {
            if (fed_from(s, i, a) >= 0) {
                if (add_gen(s, (int)i, a, -1) != 0)
                    return -1;
                continue;
            }
            for (int k = 0; k < 3; k++)
                if (add_gen(s, (int)i, a, a * 3 + k) != 0)
                    return -1;
        }
    }
    return 0;
}

struct sim *sim_new(struct sim_isec *isecs, size_t n, const struct sim_corridor_opts *o,
                    char *err, size_t errlen)
{
    if (validate(isecs, n, o, err, errlen) != 0)
        return NULL;
    struct sim *s = calloc(1, sizeof *s);
    if (s == NULL)
        goto oom;
    s->isecs = isecs;
    s->n = n;
    s->o = *o;
    s->free_head = -1;
    rng_seed(&s->rng, o->seed);
    s->q = calloc(n * SIM_NMOV, sizeof *s->q);
    s->res = calloc(n, sizeof *s->res);
    s->taken = calloc(n * SIM_NMOV, sizeof *s->taken);
    s->residual = calloc(n * SIM_NMOV, sizeof *s->residual);
    s->lanes = o->lanes;
    if (s->lanes > 0) {
        s->lane_last = malloc(n * 4 * (size_t)s->lanes * sizeof *s->lane_last);
        if (s->lane_last != NULL)
            for (size_t k = 0; k < n * 4 * (size_t)s->lanes; k++)
                s->lane_last[k] = -INFINITY;
    }
    if (s->q == NULL || s->res == NULL || s->taken == NULL || s->residual == NULL ||
        (s->lanes > 0 && s->lane_last == NULL))
        goto oom;
    for (size_t i = 0; i < n; i++) {
        for (int m = 0; m < SIM_NMOV; m++) {
            double sat = movement_saturation(&isecs[i], m);
            queue_of(s, i, m)->headway = sat > 0 ? 3600.0 / sat : INFINITY;
            queue_of(s, i, m)->last_cross = -INFINITY;
        }
    }
    if (add_generators(s) != 0)
        goto oom;
    if (o->actuated) {
        s->act = calloc(n, sizeof *s->act);
        if (s->act == NULL)
            goto oom;
        for (size_t i = 0; i < n; i++) {
            for (int k = 0; k < ACT_OVERRIDES; k++)
                s->act[i].ov[k].phase = -1;
            s->act[i].woken[0] = s->act[i].woken[1] = NAN;
            act_wake_at(s, i, 0);
        }
    }
    return s;
oom:
    snprintf(err, errlen, "out of memory");
    sim_free(s);
    return NULL;
}

void sim_free(struct sim *s)
{
    if (s == NULL)
        return;
    if (s->q)
        for (size_t k = 0; k < s->n * SIM_NMOV; k++)
            free(s->q[k].ring);
    free(s->q);
    free(s->res);
    free(s->taken);
    free(s->residual);
    free(s->lane_last);
    free(s->act);
    free(s->gens);
    free(s->heap);
    free(s->veh);
    free(s);
}

void sim_advance(struct sim *s, double t)
{
    while (s->hlen > 0 && s->heap[0].t <= t) {
        struct event e = heap_pop(s);
        s->now = e.t;
        switch (e.type) {
        case EV_GEN:
            fire_gen(s, e.a);
            break;
        case EV_ARRIVE: {
            int v = e.a;
            size_t i = (size_t)e.b;
            int m = s->veh[v].mov >= 0 ? s->veh[v].mov : draw_turn(s, i, s->veh[v].approach, s->now);
            arrive(s, v, i, m);
            break;
        }
        case EV_SERVE:
            if (queue_of(s, (size_t)e.a, e.b)->gen == e.gen)
                serve(s, (size_t)e.a, e.b);
            break;
        case EV_WAKE:
            act_woken(&s->act[e.a], e.t);
            act_decide(s, (size_t)e.a);
            break;
        }
    }
    if (t > s->now && t < INFINITY)
        s->now = t;
}

double sim_time(const struct sim *s) { return s->now; }

const struct sim_isec_result *sim_isec_result(const struct sim *s, size_t i)
{
    return i < s->n ? &s->res[i] : NULL;
}

void sim_take_counts(struct sim *s, size_t i, double out[SIM_NMOV])
{
    for (int m = 0; m < SIM_NMOV; m++) {
        out[m] = s->taken[i * SIM_NMOV + (size_t)m];
        s->taken[i * SIM_NMOV + (size_t)m] = 0;
    }
}

void sim_residual_queues(const struct sim *s, size_t i, double out[SIM_NMOV])
{
    for (int m = 0; m < SIM_NMOV; m++)
        out[m] = s->residual[i * SIM_NMOV + (size_t)m];
}

void sim_result(const struct sim *s, struct sim_result *out)
{
    *out = s->total;
    out->throughput_vph = (double)s->exited_in_run * 3600.0 / (s->o.duration_s - s->o.warmup_s);
    out->in_network = s->active;
}

long sim_in_network(const struct sim *s) { return s->active; }

double sim_next_event(const struct sim *s) { return s->hlen > 0 ? s->heap[0].t : INFINITY; }

void sim_set_trace(struct sim *s, void (*fn)(void *arg, const char *line), void *arg)
{
    s->trace = fn;
    s->trace_arg = arg;
}

/* ---- isolated ---- */

int sim_isolated(const struct sim_isolated_opts *o, struct sim_isolated_result *out,
                 char *err, size_t errlen)
{
    if (!(o->flow_vph > 0) || !(o->saturation_vph > 0) || !(o->cycle_s > 0) ||
        !(o->green_s > 0) || o->green_s > o->cycle_s || !(o->duration_s > 0)) {
        snprintf(err, errlen, "need flow, saturation, cycle, duration > 0 and 0 < green <= cycle");
        return -1;
    }
    if (3600.0 / o->saturation_vph > o->green_s) {
        snprintf(err, errlen, "green shorter than one saturation headway: nothing can cross");
        return -1;
    }
    struct sim_count c = {.start_s = 0, .length_s = o->duration_s};
    for (int m = 0; m < SIM_NMOV; m++)
        c.counts[m] = -1;
    int m = sim_movement_index("EBT");
    c.counts[m] = o->flow_vph * o->duration_s / 3600.0;
    struct sim_isec is = {
        .id = "isolated", .name = "isolated", .position_m = 0,
        /* Red first: the run starts at the beginning of a red, so uniform
         * arrivals fall half a headway into it, like the fluid model. */
        .timing = {.cycle_s = o->cycle_s, .offset_s = o->cycle_s - o->green_s, .nphases = 1,
                   .phases = {{.movements = 1u << m, .green_s = o->green_s,
                               .intergreen_s = o->cycle_s - o->green_s,
                               .saturation_vph = o->saturation_vph}}},
        .counts = &c, .ncounts = 1,
    };
    struct sim_corridor_opts co = {.speed_mps = 10, .outbound = SIM_EB,
                                   .duration_s = o->duration_s, .seed = o->seed,
                                   .uniform = o->uniform};
    struct sim *s = sim_new(&is, 1, &co, err, errlen);
    if (s == NULL)
        return -1;
    /* Run past the end until every generated vehicle has crossed. */
    sim_advance(s, INFINITY);
    const struct sim_stats *st = &s->res[0].mov[m];
    memset(out, 0, sizeof *out);
    out->vehicles = st->vehicles;
    out->mean_delay_s = st->vehicles ? st->delay_s / (double)st->vehicles : 0;
    out->mean_stops = st->vehicles ? st->stops / (double)st->vehicles : 0;
    out->max_queue = st->max_queue;
    out->throughput_vph = (double)s->crossed_in_run * 3600.0 / o->duration_s;
    sim_free(s);
    return 0;
}
