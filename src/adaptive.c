/* adaptive.c -- adaptive signal control: estimation, bounded re-timing,
 * corridor coordination and max pressure (see adaptive.h for the model).
 *
 * The controller is a discrete-event program over a group: the master
 * cycle boundary and each member's next event (a cyclic member's cycle
 * end, a max-pressure member's decision or phase change) are processed in
 * time order, master first on ties, then members in corridor order. Every
 * decision reads only the group's state at that instant, so replaying the
 * same inputs at the same timestamps gives the same timings.
 *
 * References:
 *  - F. V. Webster, Traffic signal settings, RRL Technical Paper 39 (1958).
 *  - J. D. C. Little, M. D. Kelson, N. H. Gartner, MAXBAND, TRR 795 (1981).
 *  - P. Varaiya, Max pressure control of a network of signalized
 *    intersections, Transportation Research C 36 (2013) 177-195.
 *  - Offset transition methods (dwell, add, subtract, "shortway"):
 *    FHWA Traffic Signal Timing Manual, 2nd ed. (2015), section 6.5. */
#include "adaptive.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "maxband.h"

/* Offset re-optimisation runs inside request handling: keep it bounded
 * (the corridor DP answers 64 signals in well under this). */
#define OPT_TIME_LIMIT_MS 200.0

static const char *const MOVEMENTS[ADAPTIVE_NMOV] = {
    "NBL", "NBT", "NBR", "SBL", "SBT", "SBR", "EBL", "EBT", "EBR", "WBL", "WBT", "WBR",
};

int adaptive_movement_index(const char *utdf)
{
    for (int i = 0; utdf != NULL && i < ADAPTIVE_NMOV; i++)
        if (strcmp(utdf, MOVEMENTS[i]) == 0)
            return i;
    return -1;
}

const char *adaptive_movement_name(int i)
{
    return i >= 0 && i < ADAPTIVE_NMOV ? MOVEMENTS[i] : "?";
}

const char *adaptive_mode_name(enum adaptive_mode m)
{
    return m == ADAPTIVE_FIXED ? "fixed" : "adaptive";
}

const char *adaptive_method_name(enum adaptive_mode m)
{
    return m == ADAPTIVE_MAX_PRESSURE ? "max_pressure" : m == ADAPTIVE_WEBSTER ? "webster" : "none";
}

static double clamp(double x, double lo, double hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

double adaptive_poisson_quantile(double mean, double p)
{
    if (!(mean > 0) || !isfinite(mean))
        return 0;
    /* Terms in logs: e^-mean underflows past a mean of 745, the terms
     * near the mean do not. */
    double log_term = -mean, cdf = exp(log_term), log_mean = log(mean);
    int n = 0;
    /* The tail beyond mean + 40 sqrt(mean) + 40 is below any p asked. */
    while (cdf < p && n < mean + 40 * sqrt(mean) + 40) {
        n++;
        log_term += log_mean - log(n);
        cdf += exp(log_term);
    }
    return n;
}

/* ---- estimation ---- */

void adaptive_est_init(struct adaptive_est *e)
{
    *e = (struct adaptive_est){ NAN, 0, 0, 0, 0, 0, NAN, 0, 0 };
}

/* A count over less than judge_s (the intersection's longest cycle) is
 * never suspect: stop-line detectors count departures, which come only
 * in green, so such an interval may hold no green (a true zero) or a
 * whole green's discharge. */
static bool suspect(const struct adaptive_est *e, double r, double sat, double len,
                    double judge)
{
    if (isnan(e->vph) || len < judge)
        return false;
    if (r == 0)
        return e->vph >= ADAPTIVE_DROPOUT_MIN_VPH;
    return r > ADAPTIVE_SPIKE_FACTOR * e->vph && r - e->vph > ADAPTIVE_SPIKE_SHARE * sat;
}

/* Exponential smoothing with a time constant rather than a fixed weight,
 * so a 5-minute and a 15-minute detector feed give the same response. */
static void smooth(struct adaptive_est *e, double n, double len, double end)
{
    double r = 3600.0 * n / len;
    if (isnan(e->vph)) {
        e->vph = r;
        e->seen_s = 0;
    } else {
        e->vph += (1.0 - exp(-len / ADAPTIVE_TAU_S)) * (r - e->vph);
    }
    e->seen_s = fmin(e->seen_s + len, 10 * ADAPTIVE_TAU_S);
    e->t_good = end;
}

enum adaptive_est_result adaptive_est_update(struct adaptive_est *e, double count, double t0,
                                             double len_s, double sat_vph, double judge_s)
{
    double end = t0 + len_s;
    if (!(len_s > 0) || end <= e->t_end)
        return ADAPTIVE_EST_OUTDATED;
    /* After a long silence the old estimate says nothing about this
     * count: start afresh rather than call the new level a spike. */
    if (!isnan(e->vph) && t0 - e->t_good > ADAPTIVE_STALE_S)
        e->vph = NAN;
    if (e->held_s > 0 && t0 - e->t_end > ADAPTIVE_TAU_S)
        e->held_s = e->held_n = 0;
    double r = 3600.0 * count / len_s;
    bool sus = suspect(e, r, sat_vph, len_s, judge_s);
    e->t_end = end;
    if (e->held_s > 0) {
        double hn = e->held_n, hs = e->held_s;
        e->held_n = e->held_s = 0;
        /* Confirmed: both intervals were real. Otherwise the held one was
         * a detector fault and is dropped. */
        if (sus)
            smooth(e, hn + count, hs + len_s, end);
        else
            smooth(e, count, len_s, end);
        return ADAPTIVE_EST_APPLIED;
    }
    if (sus) {
        e->held_n = count;
        e->held_s = len_s;
        return ADAPTIVE_EST_HELD;
    }
    smooth(e, count, len_s, end);
    return ADAPTIVE_EST_APPLIED;
}

enum adaptive_est_result adaptive_est_update_queue(struct adaptive_est *e, double count,
                                                   double queue, double t0, double len_s,
                                                   double sat_vph, double judge_s)
{
    double arrived = count;
    bool measured = isfinite(queue) && queue >= 0;
    /* Conservation: what arrived = what crossed + the queue's growth,
     * when the previous queue was taken at this interval's start. */
    if (measured && isfinite(e->queue) && fabs(e->queue_t - t0) < 1e-6)
        arrived = fmax(0, count + queue - e->queue);
    enum adaptive_est_result r = adaptive_est_update(e, arrived, t0, len_s, sat_vph, judge_s);
    if (r == ADAPTIVE_EST_OUTDATED)
        return r;
    e->queue = measured ? queue : NAN;
    e->queue_t = t0 + len_s;
    e->backlog_vph = measured ? queue * 3600.0 / ADAPTIVE_TAU_S : 0;
    return r;
}

double adaptive_est_backlog(const struct adaptive_est *e, double t)
{
    if (!isfinite(e->queue) || t - e->queue_t > ADAPTIVE_STALE_S)
        return 0;
    return e->backlog_vph;
}

double adaptive_est_value(const struct adaptive_est *e, double t)
{
    if (isnan(e->vph) || t - e->t_good > ADAPTIVE_STALE_S)
        return NAN;
    return e->vph;
}

/* ---- bounded change ---- */

int adaptive_bounded_step(size_t n, const double *cur, const double *target, const double *gmin,
                          double total, double step, double *out)
{
    double G = 0, slack = 0, mins = 0, tsum = 0;
    bool ok = n > 0 && n <= ADAPTIVE_MAX_PHASES && step >= 0;
    for (size_t i = 0; ok && i < n; i++) {
        G += cur[i];
        mins += gmin[i];
        tsum += target[i];
        slack += cur[i] - gmin[i];
        ok = cur[i] >= gmin[i] - 1e-9 && target[i] >= gmin[i] - 1e-9;
    }
    if (!ok || total < mins - 1e-9 || fabs(tsum - total) > 1e-6 * fmax(1, total)) {
        memcpy(out, target, n * sizeof *out);
        return -1;
    }
    double D = total - G, b[ADAPTIVE_MAX_PHASES], mv[ADAPTIVE_MAX_PHASES], P = 0, N = 0;
    for (size_t i = 0; i < n; i++) {
        /* Growth in proportion to the greens keeps the split; shrinkage in
         * proportion to the slack never cuts a minimum. */
        double w = D >= 0 ? (G > 0 ? cur[i] / G : 1.0 / (double)n)
                          : (slack > 0 ? (cur[i] - gmin[i]) / slack : 0);
        b[i] = cur[i] + D * w;
        mv[i] = clamp(target[i] - b[i], -step, step);
        if (mv[i] > 0)
            P += mv[i];
        else
            N -= mv[i];
    }
    /* sum(target - b) = 0, so the clamped moves of one sign can always
     * be scaled down to cancel those of the other. */
    for (size_t i = 0; i < n; i++) {
        if (P > N && mv[i] > 0)
            mv[i] *= N / P;
        else if (N > P && mv[i] < 0)
            mv[i] *= P / N;
        out[i] = fmax(gmin[i], b[i] + mv[i]);
    }
    return 0;
}

double adaptive_shortway(double offset, double target, double cycle, double max_lengthen,
                         double max_shorten, double tol)
{
    if (!(cycle > 0))
        return 0;
    double d = fmod(target - offset, cycle);
    if (d < 0)
        d += cycle;
    if (d <= tol || cycle - d <= tol)
        return 0;
    double nl = max_lengthen > 0 ? ceil(d / max_lengthen - 1e-9) : INFINITY;
    double ns = max_shorten > 0 ? ceil((cycle - d) / max_shorten - 1e-9) : INFINITY;
    if (isinf(nl) && isinf(ns))
        return 0;
    return nl <= ns ? fmin(d, max_lengthen) : -fmin(cycle - d, max_shorten);
}

/* ---- configuration ---- */

/* A left turn beside its opposing through turns through gaps: J2735's
 * permissive movement. Approaches 0..3 are NB SB EB WB; opposites pair. */
static bool permissive(unsigned mv)
{
    for (int a = 0; a < 4; a++) {
        int opp = a ^ 1;
        if ((mv & (1u << (3 * a))) && (mv & (1u << (3 * opp + 1))))
            return true;
    }
    return false;
}

int adaptive_cfg_finish(struct adaptive_isec_cfg *c, char *err, size_t errlen)
{
    if (c->nphases == 0 || c->nphases > ADAPTIVE_MAX_PHASES)
        return errbuf_fail(err, errlen, "intersection '%s': 1 to %d phases needed", c->id,
                           ADAPTIVE_MAX_PHASES);
    double ig = c->lost_time_s / (double)c->nphases, need = c->lost_time_s;
    for (size_t k = 0; k < c->nphases; k++) {
        struct adaptive_phase_cfg *p = &c->ph[k];
        if (!(p->saturation_vph > 0))
            return errbuf_fail(err, errlen, "intersection '%s': phase %zu has no saturation flow",
                               c->id, k + 1);
        p->gmin_s = fmax(fmax(p->min_green_s, signals_pedestrian_green(p->ped_crossing_m)),
                         ADAPTIVE_MIN_GREEN_FLOOR_S);
        p->amber_s = fmin(ADAPTIVE_AMBER_S, ig);
        p->all_red_s = ig - p->amber_s;
        p->permissive = permissive(p->movements);
        need += p->gmin_s;
    }
    if (!(c->cycle_min_s > 0) || !(c->cycle_max_s >= c->cycle_min_s))
        return errbuf_fail(err, errlen, "intersection '%s': bad cycle bounds", c->id);
    if (need > c->cycle_max_s + 1e-9)
        return errbuf_fail(err, errlen, "intersection '%s': minimum greens and lost time need "
                           "%.0f s, more than cycle_max_s %.0f", c->id, need, c->cycle_max_s);
    if (c->coord_phase < 0 || (size_t)c->coord_phase >= c->nphases)
        c->coord_phase = 0;
    return 0;
}

double adaptive_phase_flow(const struct adaptive_isec_cfg *c, const struct adaptive_est *est,
                           size_t k, double t, bool *from_counts)
{
    double sum[4] = { 0, 0, 0, 0 }, backlog[4] = { 0, 0, 0, 0 }, seen = 0;
    bool any = false;
    for (int i = 0; i < ADAPTIVE_NMOV; i++) {
        if (!(c->ph[k].movements & (1u << i)))
            continue;
        double v = adaptive_est_value(&est[i], t);
        if (!isnan(v)) {
            sum[i / 3] += v;
            backlog[i / 3] += adaptive_est_backlog(&est[i], t);
            seen = fmax(seen, est[i].seen_s);
            any = true;
        }
    }
    *from_counts = any;
    double prior = c->ph[k].design_vph;
    if (!any)
        return prior;
    /* The critical approach: the most arriving and waiting. */
    int a = 0;
    for (int j = 1; j < 4; j++)
        if (sum[j] + backlog[j] > sum[a] + backlog[a])
            a = j;
    double counted = sum[a];
    /* The backlog is measured, not estimated: it is not shrunk. */
    if (!(prior > 0))
        return counted + backlog[a];
    return prior + (1.0 - exp(-seen / ADAPTIVE_TAU_S)) * (counted - prior) + backlog[a];
}

double adaptive_movement_saturation(const struct adaptive_isec_cfg *c, int i)
{
    double s = 0;
    for (size_t k = 0; i >= 0 && i < ADAPTIVE_NMOV && k < c->nphases; k++)
        if (c->ph[k].movements & (1u << i))
            s = fmax(s, c->ph[k].saturation_vph);
    return s;
}

static double intergreen(const struct adaptive_isec_cfg *c, int p)
{
    return c->ph[p].amber_s + c->ph[p].all_red_s;
}

double adaptive_green_start(const struct adaptive_isec_cfg *c, const struct adaptive_record *r,
                            int p)
{
    double t = r->start;
    for (int j = 0; j < r->nserved; j++) {
        int q = r->order[j];
        if (q == p)
            return t;
        t += r->green[q] + intergreen(c, q);
    }
    return NAN;
}

/* ---- groups ---- */

struct adaptive_group *adaptive_group_new(const struct adaptive_group_cfg *cfg,
                                          enum adaptive_mode default_mode)
{
    if (cfg->n == 0 || cfg->n > ADAPTIVE_MAX_MEMBERS)
        return NULL;
    struct adaptive_group *g = calloc(1, sizeof *g);
    if (g == NULL)
        return NULL;
    g->m = calloc(cfg->n, sizeof *g->m);
    if (g->m == NULL) {
        free(g);
        return NULL;
    }
    g->cfg = cfg;
    g->n = cfg->n;
    g->default_mode = default_mode;
    g->critical = -1;
    for (size_t k = 0; k < g->n; k++) {
        struct adaptive_member *m = &g->m[k];
        m->cfg = &cfg->isec[k];
        m->mode = default_mode;
        for (int i = 0; i < ADAPTIVE_NMOV; i++)
            adaptive_est_init(&m->est[i]);
    }
    return g;
}

void adaptive_group_free(struct adaptive_group *g)
{
    if (g == NULL)
        return;
    free(g->m);
    free(g);
}

void adaptive_group_copy_into(struct adaptive_group *dst, const struct adaptive_group *src)
{
    struct adaptive_member *m = dst->m;
    *dst = *src;
    dst->m = m;
    memcpy(dst->m, src->m, src->n * sizeof *m);
}

struct adaptive_group *adaptive_group_copy(const struct adaptive_group *g)
{
    struct adaptive_group *c = adaptive_group_new(g->cfg, g->default_mode);
    if (c != NULL)
        adaptive_group_copy_into(c, g);
    return c;
}

/* ---- Webster at a member ---- */

struct plan {
    double cycle;                 /* applied (chosen or given) */
    double own_cycle;             /* Webster's optimum, NAN when Y >= 1 */
    double Y;
    double green[ADAPTIVE_MAX_PHASES];
    double flow[ADAPTIVE_MAX_PHASES];
    bool from_counts[ADAPTIVE_MAX_PHASES];
};

/* Has any movement of phase k ever been counted (a count taken, however
 * old)? */
static bool ever_counted(const struct adaptive_isec_cfg *c, const struct adaptive_est *est,
                         size_t k)
{
    for (int i = 0; i < ADAPTIVE_NMOV; i++)
        if ((c->ph[k].movements & (1u << i)) && est[i].t_end > 0)
            return true;
    return false;
}

/* Flows at time t: a fixed member runs on its design flows. At an
 * adaptive member re-timing from counts, a phase none of whose movements
 * was ever counted has no known demand and runs at its minimum green
 * (flow 0: minimum recall), never at its design flow: that is a
 * peak-hour value for a fixed plan, and at x <= 0.9 it set the cycle of
 * a whole corridor and took the slack from counted phases (issue 13:
 * beimalu's bm-03, a left-turn phase designed for 200 veh/h and never
 * counted, made the common cycle 102 s instead of 96 and got 14 s while
 * the counted lefts stayed at their 8 s minimum). A phase whose counts
 * stopped (a failed detector) goes back to its design flow after
 * ADAPTIVE_STALE_S, as before: that is a fault, not a phase without
 * detectors. The engineer whose undetected phase carries traffic raises
 * its min_green_s. */
static void member_flows(const struct adaptive_member *m, double t, double *flow, bool *fc)
{
    const struct adaptive_isec_cfg *c = m->cfg;
    bool any = false;
    for (size_t k = 0; k < c->nphases; k++) {
        if (m->mode == ADAPTIVE_FIXED) {
            flow[k] = c->ph[k].design_vph;
            fc[k] = false;
        } else {
            flow[k] = adaptive_phase_flow(c, m->est, k, t, &fc[k]);
            if (fc[k])
                flow[k] = fmax(flow[k], m->sat_floor[k]);
        }
        any |= fc[k];
    }
    for (size_t k = 0; any && k < c->nphases; k++)
        if (!fc[k] && !ever_counted(c, m->est, k))
            flow[k] = 0;
}

/* Webster's cycle assumes greens in proportion to flow ratios; when
 * minimum (pedestrian) greens take part of the cycle the other phases can
 * be left oversaturated. The smallest whole cycle >= C0 at which every
 * phase can run at x <= ADAPTIVE_X_MAX with its minimum honoured:
 * C - L >= sum max(gmin, y C / X). The slack of that inequality is
 * concave in C, so the search stops once it falls; cycle_max_s when no
 * cycle does. */
static double capacity_cycle_x(const struct adaptive_isec_cfg *c, const double *flow, double C0,
                               double X, double none)
{
    double prev = -INFINITY;
    for (double C = ceil(C0 - 1e-9); C <= c->cycle_max_s; C += 1) {
        double need = c->lost_time_s;
        for (size_t k = 0; k < c->nphases; k++)
            need += fmax(c->ph[k].gmin_s,
                         flow[k] / c->ph[k].saturation_vph * C / X);
        double slack = C - need;
        if (slack >= -1e-9)
            return C;
        if (slack < prev)
            break;
        prev = slack;
    }
    return none;
}

static double capacity_cycle(const struct adaptive_isec_cfg *c, const double *flow, double C0)
{
    return capacity_cycle_x(c, flow, C0, ADAPTIVE_X_MAX, c->cycle_max_s);
}

/* The shortest cycle at which an adaptive member's counted flows can be
 * served at all (every phase at x <= 1, minimums held; INFINITY: none
 * within its bounds): what a plan's cycle must give it. 0 for members that
 * do not re-time from counts or have none. */
static double plan_need(const struct adaptive_member *m, double t)
{
    if (m->mode != ADAPTIVE_WEBSTER)
        return 0;
    double flow[ADAPTIVE_MAX_PHASES];
    bool fc[ADAPTIVE_MAX_PHASES], counted = false;
    member_flows(m, t, flow, fc);
    for (size_t k = 0; k < m->cfg->nphases; k++)
        counted |= fc[k];
    /* The design flows are what the plan was made from: only counts
     * overrule it. */
    if (!counted)
        return 0;
    /* Nor do the design flows of phases never counted: they run at
     * their minimum (the plan gives them what it gives). */
    for (size_t k = 0; k < m->cfg->nphases; k++)
        if (!fc[k])
            flow[k] = 0;
    return capacity_cycle_x(m->cfg, flow, m->cfg->cycle_min_s, 1.0, INFINITY);
}

/* Vehicle-hours lost per hour by phase k with green g of cycle C: flow
 * times the HCM 2000 control delay (uniform d1 + incremental d2 over the
 * analysis period), the measure of delay the timing is judged by. */
static double phase_delay_rate(const struct adaptive_isec_cfg *c, size_t k, double v, double g,
                               double C)
{
    double cap = c->ph[k].saturation_vph * g / C;
    if (!(v > 0))
        return 0;
    if (!(cap > 0))
        return INFINITY;
    double x = v / cap;
    return v * (signals_hcm_uniform_delay(C, g, x) +
                signals_hcm_incremental_delay(x, cap, SIGNALS_HCM_T_H, SIGNALS_HCM_K,
                                              SIGNALS_HCM_I));
}

#define OVERSAT_STEP_S 0.1   /* green handed out at a time */

/* An oversaturated cycle: the phases' demands at x = 1 (flows, backlogs
 * included) need more green than C - L has. Webster's split (equal
 * degrees of saturation) is then no longer near the least delay: a
 * second of green removes s_p / 3600 vehicles from a queue that grows
 * anyway, so it is worth most to the phases with the highest saturation
 * flow (Gazis 1964, the oversaturated intersection). The split that
 * minimises the phases' total HCM control delay over the analysis period
 * (flow-weighted d1 + d2, backlogs in the flows) is found by handing out
 * the green above the minimums a tenth of a second at a time to the phase
 * whose delay it cuts most (the delay is convex in the green, so this
 * reaches the optimum within a step). Returns false (green untouched)
 * when the demands fit. */
static bool oversaturated_split(const struct adaptive_isec_cfg *c, const double *flow, double C,
                                double *green)
{
    size_t n = c->nphases;
    double need = c->lost_time_s, left = C - c->lost_time_s, g[ADAPTIVE_MAX_PHASES];
    for (size_t k = 0; k < n; k++) {
        need += fmax(c->ph[k].gmin_s, flow[k] / c->ph[k].saturation_vph * C);
        g[k] = c->ph[k].gmin_s;
        left -= g[k];
    }
    if (need <= C + 1e-9 || left < 0)
        return false;
    double rate[ADAPTIVE_MAX_PHASES], gain[ADAPTIVE_MAX_PHASES];
    for (size_t k = 0; k < n; k++) {
        rate[k] = phase_delay_rate(c, k, flow[k], g[k], C);
        gain[k] = rate[k] - phase_delay_rate(c, k, flow[k], g[k] + OVERSAT_STEP_S, C);
    }
    while (left > 1e-9) {
        double step = fmin(OVERSAT_STEP_S, left);
        size_t best = 0;
        for (size_t k = 1; k < n; k++)
            if (gain[k] > gain[best])
                best = k;
        g[best] += step;
        left -= step;
        rate[best] = phase_delay_rate(c, best, flow[best], g[best], C);
        gain[best] = rate[best] - phase_delay_rate(c, best, flow[best], g[best] + OVERSAT_STEP_S,
                                                   C);
    }
    memcpy(green, g, n * sizeof *g);
    return true;
}

/* Webster's timing at time t: the member's own cycle when cycle is NAN,
 * else the split of that cycle. -1 when the cycle cannot hold the
 * minimum greens (then p is the equal share above the minimums). */
static int member_plan(const struct adaptive_member *m, double t, double cycle, struct plan *p)
{
    const struct adaptive_isec_cfg *c = m->cfg;
    struct signals_phase_in in[ADAPTIVE_MAX_PHASES];
    struct signals_phase_out out[ADAPTIVE_MAX_PHASES];
    struct signals_webster_out wo;
    memset(p, 0, sizeof *p);
    member_flows(m, t, p->flow, p->from_counts);
    for (size_t k = 0; k < c->nphases; k++)
        in[k] = (struct signals_phase_in){ p->flow[k], c->ph[k].saturation_vph, NAN,
                                           c->ph[k].gmin_s, 0, NAN };
    struct signals_webster_in w = { c->lost_time_s, in, c->nphases, c->cycle_min_s,
                                    c->cycle_max_s, cycle };
    char err[160];
    int rc = signals_webster(&w, &wo, out, err, sizeof err);
    if (rc == 0 && isnan(cycle) && wo.Y < 1) {
        double Cx = capacity_cycle(c, p->flow, wo.cycle_s);
        if (Cx > wo.cycle_s) {
            double opt = wo.cycle_optimal_s;
            w.cycle_s = Cx;
            rc = signals_webster(&w, &wo, out, err, sizeof err);
            wo.cycle_optimal_s = opt;
        }
    }
    if (rc == 0) {
        p->cycle = wo.cycle_s;
        p->own_cycle = wo.cycle_optimal_s;
        p->Y = wo.Y;
        for (size_t k = 0; k < c->nphases; k++)
            p->green[k] = out[k].effective_green_s;
        oversaturated_split(c, p->flow, p->cycle, p->green);
        return 0;
    }
    /* Only a given cycle too short for the minimums gets here. */
    double C = isnan(cycle) ? c->cycle_max_s : cycle, mins = 0;
    for (size_t k = 0; k < c->nphases; k++)
        mins += c->ph[k].gmin_s;
    double extra = fmax(0, C - c->lost_time_s - mins) / (double)c->nphases;
    p->cycle = C;
    p->own_cycle = NAN;
    p->Y = NAN;
    for (size_t k = 0; k < c->nphases; k++)
        p->green[k] = c->ph[k].gmin_s + extra;
    return -1;
}

/* The split of cycle C at a coordinated member whose own cycle is
 * shorter: its other phases get what serves them, never less than their
 * minimum, and the coordinated phase takes the rest -- the slack of a
 * non-critical signal goes to the green wave rather than being spread by
 * flow ratios (the practice of SCATS and TRANSYT-style coordination, and
 * of actuated-coordinated control, whose minor phases gap out and return
 * their unused time to the coordinated phase). What serves them: on
 * counted flows, the arrivals of a cycle in 95 % of cycles (Poisson,
 * ADAPTIVE_MINOR_SERVED), as an actuated phase clears its queue -- a
 * cycle-by-cycle controller cannot gap out, so it sizes the green for the
 * cycle-to-cycle variation of the queue rather than for its mean; on
 * design flows (fixed members), a degree of saturation of
 * ADAPTIVE_MINOR_X, or the one of its own Webster timing when that is
 * higher (design flows are peak-hour values already). Otherwise, and for
 * lone members, Webster's (y/Y)(C-L). */
static void member_split(const struct adaptive_member *m, double t, double C, int coord,
                         enum adaptive_local local, struct plan *p)
{
    const struct adaptive_isec_cfg *c = m->cfg;
    struct plan own;
    member_plan(m, t, NAN, &own);
    if (coord < 0 || !(C > own.cycle + 1e-9) || !(own.Y < 1)) {
        member_plan(m, t, C, p);
        return;
    }
    double x_own = own.Y * own.cycle / (own.cycle - c->lost_time_s);
    double x = fmax(ADAPTIVE_MINOR_X, x_own), rest = C - c->lost_time_s;
    *p = own;
    p->cycle = C;
    for (size_t k = 0; k < c->nphases; k++) {
        if ((int)k == coord)
            continue;
        /* In whole vehicles: a green passes floor(s g / 3600) of them. */
        double h = 3600.0 / c->ph[k].saturation_vph, mean = p->flow[k] * C / 3600.0;
        double n = mean / x;
        if (m->mode != ADAPTIVE_FIXED) {
            n = adaptive_poisson_quantile(mean, ADAPTIVE_MINOR_SERVED);
            /* On actuated controllers the green is a force-off: what a
             * cycle's queue does not use goes on to the coordinated
             * phase, a queue left at the force-off waits a whole cycle.
             * So never less than what the design flow (the engineer's
             * peak-hour value) needs, as a fixed member gives it -- a
             * phase whose counts cityd never gets too: the controller's
             * own presence detectors still end its green. */
            if (local == ADAPTIVE_ACTUATED)
                n = fmax(n, c->ph[k].design_vph * C / 3600.0 / x);
        }
        p->green[k] = fmax(c->ph[k].gmin_s, ceil(n - 1e-9) * h);
        rest -= p->green[k];
    }
    if (rest < c->ph[coord].gmin_s) {
        member_plan(m, t, C, p);
        return;
    }
    p->green[coord] = rest;
}

static bool plan_offsets(const struct adaptive_group *g);

/* Does member m run its group's plan split? */
static bool runs_plan(const struct adaptive_group *g, const struct adaptive_member *m)
{
    return g->plan_id[0] != '\0' && m->mode == ADAPTIVE_FIXED;
}

/* Is the plan's split the prior of adaptive member m? While its group
 * runs the plan's cycle. (Also off it, stretched to the cycle the counts
 * need, was tried: beimalu gained < 1 %, nandajie lost 4-8 %.) */
static bool plan_prior(const struct adaptive_group *g, const struct adaptive_member *m)
{
    return m->mode == ADAPTIVE_WEBSTER && plan_offsets(g);
}

int adaptive_prior_split(const struct adaptive_isec_cfg *c, const double *prior,
                         const double *flow, const bool *counted, double C, double *green)
{
    size_t n = c->nphases;
    double need[ADAPTIVE_MAX_PHASES], deficit = 0, surplus = 0;
    for (size_t k = 0; k < n; k++) {
        /* In whole vehicles, as member_split: floor(s g / 3600) pass. */
        double h = 3600.0 / c->ph[k].saturation_vph;
        double veh = fmax(0, flow[k]) * C / 3600.0 / ADAPTIVE_X_MAX;
        need[k] = fmax(c->ph[k].gmin_s, ceil(veh - 1e-9) * h);
        /* The plan was made from the design flows: only counts move its
         * green (a phase never counted keeps the plan's). */
        if (!counted[k])
            need[k] = prior[k];
        if (need[k] > prior[k])
            deficit += need[k] - prior[k];
        else
            surplus += prior[k] - need[k];
    }
    if (deficit > surplus + 1e-9)
        return -1;
    for (size_t k = 0; k < n; k++)
        green[k] = need[k] >= prior[k] ? need[k]
                 : prior[k] - (deficit > 0 ? (prior[k] - need[k]) * deficit / surplus : 0);
    return 0;
}

/* The split member k aims at for a cycle of C: a fixed member of a group
 * with a plan stretches the plan's greens to C (in proportion, minimums
 * held: exactly the plan's at its cycle); an adaptive member running the
 * plan's cycle takes that as its prior and moves green only where its
 * counted flows need it (adaptive_prior_split); otherwise member_split. */
static void target_split(const struct adaptive_group *g, size_t k, double t, double C, int coord,
                         struct plan *p)
{
    const struct adaptive_member *m = &g->m[k];
    const struct adaptive_isec_cfg *c = m->cfg;
    double gmin[ADAPTIVE_MAX_PHASES], g2[ADAPTIVE_MAX_PHASES];
    if (runs_plan(g, m) || plan_prior(g, m)) {
        for (size_t j = 0; j < c->nphases; j++)
            gmin[j] = c->ph[j].gmin_s;
        if (signals_split(c->nphases, m->plan_green, gmin, C - c->lost_time_s, g2) >= 0) {
            member_plan(m, t, NAN, p);
            p->cycle = C;
            if (runs_plan(g, m) ||
                adaptive_prior_split(c, g2, p->flow, p->from_counts, C, p->green) == 0) {
                if (runs_plan(g, m))
                    memcpy(p->green, g2, c->nphases * sizeof *g2);
                return;
            }
        }
    }
    member_split(m, t, C, coord, g->cfg->local, p);
}

static double min_cycle(const struct adaptive_isec_cfg *c)
{
    double need = c->lost_time_s;
    for (size_t k = 0; k < c->nphases; k++)
        need += c->ph[k].gmin_s;
    return fmax(c->cycle_min_s, need);
}

/* The common cycle's bounds: every cyclic member must accept it. */
static void common_bounds(const struct adaptive_group *g, double *lo, double *hi)
{
    *lo = 0;
    *hi = INFINITY;
    for (size_t k = 0; k < g->n; k++) {
        if (g->m[k].mode == ADAPTIVE_MAX_PRESSURE)
            continue;
        *lo = fmax(*lo, ceil(min_cycle(g->m[k].cfg) - 1e-9));
        *hi = fmin(*hi, g->m[k].cfg->cycle_max_s);
    }
    if (*lo > *hi)
        *hi = *lo;      /* bounds that do not meet: the largest minimum wins */
}

/* Is member k coordinated (offset-controlled)? Cyclic, serving the
 * corridor's through movement, with another such member to coordinate
 * with. */
static bool coordinated(const struct adaptive_group *g, size_t k)
{
    if (g->m[k].mode == ADAPTIVE_MAX_PRESSURE || g->m[k].cfg->out_phase < 0)
        return false;
    for (size_t j = 0; j < g->n; j++)
        if (j != k && g->m[j].mode != ADAPTIVE_MAX_PRESSURE && g->m[j].cfg->out_phase >= 0)
            return true;
    return false;
}

/* Are the group's offsets the plan's? While its target cycle is the
 * plan's cycle. */
static bool plan_offsets(const struct adaptive_group *g)
{
    return g->plan_id[0] != '\0' && g->target_cycle == g->plan_cycle;
}

/* The plan's offsets as targets, from the first coordinated member (the
 * reference of the master cycle). */
static void set_plan_offsets(struct adaptive_group *g)
{
    double ref = NAN;
    for (size_t k = 0; k < g->n; k++) {
        struct adaptive_member *m = &g->m[k];
        m->target_offset_s = 0;
        if (!coordinated(g, k))
            continue;
        if (isnan(ref))
            ref = m->plan_offset_s;
        double o = fmod(m->plan_offset_s - ref, g->plan_cycle);
        m->target_offset_s = o < 0 ? o + g->plan_cycle : o;
    }
    /* Leaving the plan's cycle re-optimises. */
    g->opt_cycle = 0;
}

/* Re-optimise offsets (MAXBAND, equal bands) when the master cycle or a
 * coordinated green has changed since the last optimisation (on actuated
 * local controllers only the cycle: their coordinated greens start early
 * with every gap-out anyway, and moving the offsets costs transition
 * cycles); the plan's while the target cycle is the plan's. */
static void optimise_offsets(struct adaptive_group *g, double t, bool force)
{
    size_t idx[ADAPTIVE_MAX_MEMBERS], n = 0;
    double gout[ADAPTIVE_MAX_MEMBERS], gin[ADAPTIVE_MAX_MEMBERS];
    bool changed = force || g->opt_cycle != g->master_cycle;
    if (plan_offsets(g)) {
        set_plan_offsets(g);
        return;
    }
    for (size_t k = 0; k < g->n; k++) {
        if (!coordinated(g, k)) {
            g->m[k].target_offset_s = 0;
            continue;
        }
        struct plan p;
        const struct adaptive_isec_cfg *c = g->m[k].cfg;
        target_split(g, k, t, g->master_cycle, c->coord_phase, &p);
        gout[n] = p.green[c->out_phase];
        gin[n] = p.green[c->in_phase >= 0 ? c->in_phase : c->out_phase];
        if (fabs(gout[n] - g->m[k].band_green_s) >= ADAPTIVE_REOPT_GREEN_S &&
            g->cfg->local != ADAPTIVE_ACTUATED)
            changed = true;
        idx[n++] = k;
    }
    if (n < 2 || !changed || !(g->cfg->speed_mps > 0))
        return;
    struct maxband_signal sig[ADAPTIVE_MAX_MEMBERS];
    struct maxband_link link[ADAPTIVE_MAX_MEMBERS];
    for (size_t i = 0; i < n; i++) {
        sig[i] = (struct maxband_signal){ g->cfg->isec[idx[i]].position_m,
                                          { fmin(gout[i], g->master_cycle), 0, 0 },
                                          { fmin(gin[i], g->master_cycle), 0, 0 } };
        double v = g->cfg->speed_mps;
        link[i] = (struct maxband_link){ ADAPTIVE_SPEED_LOW * v, v, ADAPTIVE_SPEED_LOW * v, v };
    }
    struct maxband_problem pr = { n, sig, link, g->master_cycle, g->master_cycle, NAN,
                                  MAXBAND_EQUAL, OPT_TIME_LIMIT_MS, MAXBAND_METHOD_AUTO };
    struct maxband_result r;
    char err[256];
    if (maxband_check(&pr, err, sizeof err) != 0 || maxband_solve(&pr, &r, err, sizeof err) != 0)
        return;      /* keep the targets we have */
    /* Whole seconds, as controllers keep them (the band loses < 0.5 s):
     * with whole-second cycles every cycle then starts on a second. */
    for (size_t i = 0; i < n; i++) {
        g->m[idx[i]].target_offset_s = fmod(round(r.offset_s[i]), g->master_cycle);
        g->m[idx[i]].band_green_s = gout[i];
    }
    g->opt_cycle = g->master_cycle;
    maxband_result_free(&r);
}

/* Can adaptive member m run the plan's cycle (need: the cycle its counts
 * need, when asked)? Off the plan, only with the cycle dead band to spare
 * (wanted_cycle). */
static bool fits_plan(const struct adaptive_group *g, const struct adaptive_member *m, double t,
                      double *need)
{
    double c = plan_need(m, t);
    if (need != NULL)
        *need = c;
    return c <= g->plan_cycle - (plan_offsets(g) ? 0 : ADAPTIVE_CYCLE_HYST_S);
}

/* The target cycle: the largest Webster cycle of the cyclic members; with
 * a plan, the plan's cycle for fixed members and for adaptive members that
 * can serve their counted flows in it (x <= 1): they take it as their
 * coordination reference and re-split within it. Once the corridor has
 * left the plan, it comes back only when the counts fit the plan's cycle
 * by the cycle dead band: each switch costs offset transitions (up to 3-7
 * cycles off coordination), and flows at the edge would make it hunt. */
static double wanted_cycle(struct adaptive_group *g, double t, double *lo, double *hi, int *crit)
{
    double want = 0;
    *crit = -1;
    common_bounds(g, lo, hi);
    for (size_t k = 0; k < g->n; k++) {
        if (g->m[k].mode == ADAPTIVE_MAX_PRESSURE)
            continue;
        struct plan p;
        if (runs_plan(g, &g->m[k]))
            p.cycle = g->plan_cycle;
        else if (g->plan_id[0] != '\0' && fits_plan(g, &g->m[k], t, NULL))
            p.cycle = g->plan_cycle;
        else
            member_plan(&g->m[k], t, NAN, &p);
        if (p.cycle > want) {
            want = p.cycle;
            *crit = (int)k;
        }
    }
    return *crit < 0 ? g->master_cycle : clamp(want, *lo, *hi);
}

static void master_boundary(struct adaptive_group *g, double T)
{
    double lo, hi;
    int crit;
    double want = wanted_cycle(g, T, &lo, &hi, &crit);
    /* A dead band keeps the cycle from hunting on noise; the bounds and
     * a plan's cycle are always reachable. */
    if (crit >= 0 && (fabs(want - g->target_cycle) >= ADAPTIVE_CYCLE_HYST_S || want <= lo ||
                      want >= hi || (g->plan_id[0] && want == g->plan_cycle)))
        g->target_cycle = want;
    g->critical = crit;
    g->master_start = T;
    g->master_cycle += clamp(g->target_cycle - g->master_cycle, -ADAPTIVE_CYCLE_STEP_S,
                             ADAPTIVE_CYCLE_STEP_S);
    optimise_offsets(g, T, false);
}

/* ---- queues ---- */

void adaptive_queue_at(const struct adaptive_member *m, double t, double *q)
{
    const struct adaptive_isec_cfg *c = m->cfg;
    const struct adaptive_record *r = &m->cur;
    double a = m->q_t;
    for (size_t k = 0; k < c->nphases; k++) {
        double Q = m->q[k], lam = r->flow[k] / 3600.0, s = c->ph[k].saturation_vph / 3600.0;
        double gs = adaptive_green_start(c, r, (int)k), ge = gs + r->green[k];
        if (isnan(gs) || t <= a) {
            q[k] = Q + (t > a ? lam * (t - a) : 0);
            continue;
        }
        double s1 = fmin(t, fmax(a, gs)), s2 = fmin(t, fmax(a, ge));
        Q += lam * (s1 - a);                               /* red before the green */
        Q = fmax(0, Q + (lam - s) * (s2 - s1));            /* green: discharge */
        Q += lam * (t - s2);                               /* red after it */
        q[k] = Q;
    }
}

static void commit_queue(struct adaptive_member *m, double t)
{
    if (t <= m->q_t)
        return;
    adaptive_queue_at(m, t, m->q);
    m->q_t = t;
}

/* ---- records ---- */

static void fill_why(const struct adaptive_group *g, const struct adaptive_member *m,
                     struct adaptive_record *r, double T, const struct plan *own)
{
    r->decided_at = T;
    r->common_cycle_s = g->master_cycle;
    r->target_cycle_s = g->target_cycle;
    r->webster_cycle_s = own->own_cycle;
    r->Y = own->Y;
    r->critical = g->critical;
    r->target_offset_s = m->target_offset_s;
    memcpy(r->flow, own->flow, sizeof r->flow);
    memcpy(r->from_counts, own->from_counts, sizeof r->from_counts);
    memcpy(r->last_green, m->last_green, sizeof r->last_green);
    adaptive_queue_at(m, T, r->queue);
    size_t k = (size_t)(m - g->m);
    r->plan_split = runs_plan(g, m);
    r->plan_offsets = plan_offsets(g) && coordinated(g, k);
    r->plan_cycle_s = g->plan_id[0] ? g->plan_cycle : NAN;
    snprintf(r->plan, sizeof r->plan, "%s", r->plan_split || r->plan_offsets ? g->plan_id : "");
}

static void set_order(const struct adaptive_isec_cfg *c, struct adaptive_record *r, int first)
{
    r->nserved = (int)c->nphases;
    for (size_t j = 0; j < c->nphases; j++)
        r->order[j] = (signed char)((first + (int)j) % (int)c->nphases);
}

/* Finish the member's current record at T. */
static void close_record(struct adaptive_member *m, double T, adaptive_record_fn *fn, void *arg,
                         size_t k)
{
    commit_queue(m, T);
    const struct adaptive_record *r = &m->cur;
    for (int j = 0; j < r->nserved; j++) {
        int p = r->order[j];
        double gs = adaptive_green_start(m->cfg, r, p);
        if (r->green[p] > 0) {
            m->last_end[p] = gs + r->green[p];
            m->last_green[p] = r->green[p];
        }
    }
    if (fn != NULL)
        fn(arg, k, r);
}

/* A cyclic record from T: offset transition, then bounded greens. */
static void start_cycle(struct adaptive_group *g, size_t k, double T, bool from_cycle)
{
    struct adaptive_member *m = &g->m[k];
    const struct adaptive_isec_cfg *c = m->cfg;
    double C = g->master_cycle, delta = 0;
    double off = fmod(T - g->master_start, C);
    if (off < 0)
        off += C;
    if (coordinated(g, k)) {
        double room_short = C - min_cycle(c), room_long = c->cycle_max_s - C;
        delta = adaptive_shortway(off, m->target_offset_s, C,
                                  fmax(0, floor(fmin(ADAPTIVE_LENGTHEN * C, room_long))),
                                  fmax(0, floor(fmin(ADAPTIVE_SHORTEN * C, room_short))),
                                  ADAPTIVE_OFFSET_TOL_S);
    }
    double Cl = C + delta;
    struct plan own, split;
    member_plan(m, T, NAN, &own);
    target_split(g, k, T, Cl, coordinated(g, k) ? c->coord_phase : -1, &split);
    double cur[ADAPTIVE_MAX_PHASES], gmin[ADAPTIVE_MAX_PHASES], out[ADAPTIVE_MAX_PHASES] = { 0 };
    for (size_t p = 0; p < c->nphases; p++) {
        gmin[p] = c->ph[p].gmin_s;
        cur[p] = from_cycle ? fmax(m->cur.green[p], gmin[p]) : split.green[p];
    }
    adaptive_bounded_step(c->nphases, cur, split.green, gmin, Cl - c->lost_time_s,
                          ADAPTIVE_GREEN_STEP * C, out);
    struct adaptive_record *r = &m->cur;
    memset(r, 0, sizeof *r);
    r->start = T;
    r->mode = m->mode;
    r->next_phase = -1;
    set_order(c, r, c->coord_phase);
    memcpy(r->green, out, sizeof out);
    memcpy(r->target_green, split.green, sizeof split.green);
    fill_why(g, m, r, T, &own);
    r->end = T + Cl;
    r->cycle_s = Cl;
    r->offset_s = off;
    r->delta_s = delta;
}

double adaptive_mp_max_green(const struct adaptive_isec_cfg *c, int p)
{
    double others = 0;
    for (size_t j = 0; j < c->nphases; j++)
        if ((int)j != p)
            others += c->ph[j].gmin_s;
    double g = c->cycle_max_s - c->lost_time_s - others;
    return fmax(c->ph[p].gmin_s, fmin(g, ADAPTIVE_MP_MAX_GREEN_S));
}

/* Mean cycle of a max-pressure member: every phase's latest green plus
 * the lost time. */
static double mp_cycle(const struct adaptive_member *m)
{
    double C = m->cfg->lost_time_s;
    for (size_t p = 0; p < m->cfg->nphases; p++)
        C += m->last_green[p] > 0 ? m->last_green[p] : m->cfg->ph[p].gmin_s;
    return C;
}

/* A max-pressure record: phase p's minimum green from T. */
static void start_service(struct adaptive_group *g, size_t k, double T, int p)
{
    struct adaptive_member *m = &g->m[k];
    const struct adaptive_isec_cfg *c = m->cfg;
    struct adaptive_record *r = &m->cur;
    struct plan own;
    member_plan(m, T, NAN, &own);
    memset(r, 0, sizeof *r);
    r->start = T;
    r->mode = ADAPTIVE_MAX_PRESSURE;
    r->nserved = 1;
    r->order[0] = (signed char)p;
    r->green[p] = c->ph[p].gmin_s;
    r->open = true;
    r->next_phase = -1;
    r->end = T + r->green[p] + intergreen(c, p);
    fill_why(g, m, r, T, &own);
    r->cycle_s = mp_cycle(m);
    r->offset_s = NAN;
    r->target_offset_s = NAN;
    r->webster_cycle_s = own.own_cycle;
}

/* Queue that phase p's corridor traffic joins next (Varaiya's
 * downstream term), the mean over its links; 0 without any. */
static double downstream_queue(const struct adaptive_group *g, const struct adaptive_member *m,
                               int p, double t)
{
    double sum = 0;
    int n = 0;
    for (int l = 0; l < 2; l++) {
        struct adaptive_link ln = m->cfg->down[p][l];
        if (ln.member < 0 || (size_t)ln.member >= g->n || ln.phase < 0)
            continue;
        double q[ADAPTIVE_MAX_PHASES];
        adaptive_queue_at(&g->m[ln.member], t, q);
        sum += q[ln.phase];
        n++;
    }
    return n ? sum / n : 0;
}

static void pressures(const struct adaptive_group *g, const struct adaptive_member *m, double t,
                      double *q, double *w)
{
    const struct adaptive_isec_cfg *c = m->cfg;
    adaptive_queue_at(m, t, q);
    for (size_t p = 0; p < c->nphases; p++)
        w[p] = c->ph[p].saturation_vph * fmax(0, q[p] - downstream_queue(g, m, (int)p, t));
}

/* A phase with a queue that has waited longer than the longest cycle. */
static int starving(const struct adaptive_member *m, double T, int cur, const double *q)
{
    int best = -1;
    double wait = m->cfg->cycle_max_s;
    for (size_t p = 0; p < m->cfg->nphases; p++) {
        if ((int)p != cur && q[p] >= 0.5 && T - m->last_end[p] > wait) {
            wait = T - m->last_end[p];
            best = (int)p;
        }
    }
    return best;
}

/* Max-pressure decision at the end of the current green slot. */
static void mp_decide(struct adaptive_group *g, size_t k, double T)
{
    struct adaptive_member *m = &g->m[k];
    struct adaptive_record *r = &m->cur;
    const struct adaptive_isec_cfg *c = m->cfg;
    int p = r->order[0], n = (int)c->nphases;
    double q[ADAPTIVE_MAX_PHASES] = { 0 }, w[ADAPTIVE_MAX_PHASES] = { 0 };
    pressures(g, m, T, q, w);
    memcpy(r->queue, q, sizeof r->queue);
    memcpy(r->pressure, w, sizeof r->pressure);
    r->decided_at = T;
    int hungry = starving(m, T, p, q);
    double wmax = 0;
    for (int j = 0; j < n; j++)
        wmax = fmax(wmax, w[j]);
    if (m->mode == ADAPTIVE_MAX_PRESSURE && hungry < 0 && w[p] > 0 && w[p] >= wmax &&
        r->green[p] + ADAPTIVE_MP_SLOT_S <= adaptive_mp_max_green(c, p) + 1e-9) {
        r->green[p] += ADAPTIVE_MP_SLOT_S;
        r->end += ADAPTIVE_MP_SLOT_S;
        return;
    }
    /* Next: the starving phase, else the largest pressure after p in
     * phase order (ties and an empty network go round in order). */
    int next = m->mode != ADAPTIVE_MAX_PRESSURE ? c->coord_phase : hungry;
    if (next < 0) {
        next = (p + 1) % n;
        for (int e = 2; e < n; e++) {
            int cand = (p + e) % n;
            if (w[cand] > w[next])
                next = cand;
        }
    }
    r->open = false;
    r->next_phase = next;
}

double adaptive_event_time(const struct adaptive_member *m)
{
    const struct adaptive_record *r = &m->cur;
    if (r->mode == ADAPTIVE_MAX_PRESSURE && r->open)
        return r->start + r->green[r->order[0]];
    return r->end;
}

static void member_event(struct adaptive_group *g, size_t k, double T, adaptive_record_fn *fn,
                         void *arg)
{
    struct adaptive_member *m = &g->m[k];
    struct adaptive_record *r = &m->cur;
    if (r->mode == ADAPTIVE_MAX_PRESSURE && r->open) {
        mp_decide(g, k, T);
        return;
    }
    bool was_cycle = r->mode != ADAPTIVE_MAX_PRESSURE;
    int next = r->next_phase;
    close_record(m, T, fn, arg, k);
    if (m->mode == ADAPTIVE_MAX_PRESSURE)
        start_service(g, k, T, was_cycle ? m->cfg->coord_phase : next);
    else
        start_cycle(g, k, T, was_cycle);
}

/* ---- the group's life ---- */

void adaptive_start(struct adaptive_group *g, double t)
{
    double lo, hi;
    int crit;
    g->started = true;
    g->master_cycle = 0;
    g->master_cycle = wanted_cycle(g, t, &lo, &hi, &crit);
    if (!(g->master_cycle > 0))
        g->master_cycle = lo > 0 ? lo : 60;
    /* Cycles line up on the epoch: the schedule a group starts with does
     * not depend on the instant it starts at, so a timing read before the
     * first count (from a group started there and then) is what runs. */
    double M = floor(t / g->master_cycle) * g->master_cycle;
    g->t = M;
    g->target_cycle = g->master_cycle;
    g->critical = crit;
    g->master_start = M;
    g->opt_cycle = 0;
    optimise_offsets(g, M, true);
    for (size_t k = 0; k < g->n; k++) {
        struct adaptive_member *m = &g->m[k];
        memset(m->q, 0, sizeof m->q);
        m->q_t = M;
        for (size_t p = 0; p < ADAPTIVE_MAX_PHASES; p++) {
            m->last_end[p] = M;
            m->last_green[p] = 0;
        }
        if (m->mode == ADAPTIVE_MAX_PRESSURE) {
            start_service(g, k, M, m->cfg->coord_phase);
            continue;
        }
        /* Already in step: the cycle running at M began at the offset. */
        double o = coordinated(g, k) ? m->target_offset_s : 0;
        start_cycle(g, k, o > 0 ? M + o - g->master_cycle : M, false);
        m->q_t = M;
    }
    adaptive_advance(g, t, NULL, NULL);
}

void adaptive_advance(struct adaptive_group *g, double t, adaptive_record_fn *fn, void *arg)
{
    if (!g->started || !(t > g->t))
        return;
    if (t - g->t > ADAPTIVE_CATCHUP_S) {
        adaptive_start(g, t);
        return;
    }
    for (;;) {
        double best = g->master_start + g->master_cycle;
        int who = best <= t ? -1 : -2;
        if (who == -2)
            best = INFINITY;
        for (size_t k = 0; k < g->n; k++) {
            double et = adaptive_event_time(&g->m[k]);
            if (et <= t && et < best) {
                best = et;
                who = (int)k;
            }
        }
        if (who == -2)
            break;
        if (who == -1)
            master_boundary(g, best);
        else
            member_event(g, (size_t)who, best, fn, arg);
    }
    g->t = t;
}

/* Capacity of phase p under the timing running (veh/h): s g / C; under
 * max pressure its latest green over the mean cycle. */
static double capacity_now(const struct adaptive_member *m, int p)
{
    const struct adaptive_record *r = &m->cur;
    double g = r->mode == ADAPTIVE_MAX_PRESSURE && r->green[p] <= 0 ? r->last_green[p] : r->green[p];
    return r->cycle_s > 0 ? m->cfg->ph[p].saturation_vph * g / r->cycle_s : 0;
}

/* What a green really passes: whole vehicles (s g / 3600 of them, less
 * the fraction; at least one), each cycle. A short green whose count is
 * 3 cars a cycle of a nominal 3.6 is saturated, not at 83 %. */
static double whole_capacity(const struct adaptive_member *m, int p)
{
    const struct adaptive_record *r = &m->cur;
    double cap = capacity_now(m, p);
    if (!(r->cycle_s > 0) || !(cap > 0))
        return cap;
    double per_green = cap * r->cycle_s / 3600.0, whole = floor(per_green + 1e-9);
    return fmin(cap, fmax(1.0, whole) * 3600.0 / r->cycle_s);
}

void adaptive_count(struct adaptive_group *g, size_t k, const double counts[ADAPTIVE_NMOV],
                    const double queues[ADAPTIVE_NMOV], double t0, double len_s,
                    enum adaptive_est_result res[ADAPTIVE_NMOV])
{
    struct adaptive_member *m = &g->m[k];
    const struct adaptive_isec_cfg *c = m->cfg;
    double T = g->t;
    commit_queue(m, T);
    for (int i = 0; i < ADAPTIVE_NMOV; i++)
        res[i] = isnan(counts[i]) ? ADAPTIVE_EST_ABSENT
                                  : adaptive_est_update_queue(&m->est[i], counts[i],
                                                              queues ? queues[i] : NAN, t0,
                                                              len_s,
                                                              adaptive_movement_saturation(c, i),
                                                              c->cycle_max_s);
    /* Arrivals counted minus arrivals modelled: the queue model's error
     * over the interval, when the interval is recent and trusted; and
     * saturation: stop-line counts cannot exceed capacity, so a phase
     * that used (nearly) all it had may have more demand than it shows. */
    bool recent = t0 + len_s >= T - len_s;
    for (size_t p = 0; recent && p < c->nphases; p++) {
        double sum[4] = { 0, 0, 0, 0 };
        bool any = false, held = false, queued = true;
        for (int i = 0; i < ADAPTIVE_NMOV; i++) {
            if (!(c->ph[p].movements & (1u << i)))
                continue;
            held |= res[i] == ADAPTIVE_EST_HELD;
            if (res[i] == ADAPTIVE_EST_APPLIED) {
                sum[i / 3] += counts[i];
                any = true;
                queued &= isfinite(m->est[i].queue);
            }
        }
        if (!any || held)
            continue;
        double counted = fmax(fmax(sum[0], sum[1]), fmax(sum[2], sum[3]));
        m->q[p] = fmax(0, m->q[p] + counted - m->cur.flow[p] * len_s / 3600.0);
        /* With the residual queues measured nothing is guessed: the
         * queues' growth is in the flows and what is left is a backlog. */
        if (queued) {
            m->sat_floor[p] = 0;
            continue;
        }
        double cap = capacity_now(m, (int)p), rate = counted * 3600.0 / len_s;
        double whole = whole_capacity(m, (int)p);
        /* Saturated: demand may be higher than counted, ask for more.
         * Once so, held while the counts stay near capacity (a floor that
         * came and went with each count would make the green hunt). */
        if (rate >= ADAPTIVE_SAT_X * whole)
            m->sat_floor[p] = cap / ADAPTIVE_X_MAX;
        else if (!(m->sat_floor[p] > 0 && rate >= ADAPTIVE_SAT_HOLD_X * whole))
            m->sat_floor[p] = 0;
    }
    /* The queue model runs on the new flows from now on (and the timing
     * reports them). */
    member_flows(m, T, m->cur.flow, m->cur.from_counts);
    g->seq++;
}

void adaptive_set_mode(struct adaptive_group *g, size_t k, enum adaptive_mode mode, bool override)
{
    g->m[k].mode = mode;
    g->m[k].override = override;
    g->seq++;
}

int adaptive_set_plan(struct adaptive_group *g, const char *id, double cycle_s,
                      const struct adaptive_plan_member *pm, char *err, size_t errlen)
{
    if (id == NULL) {
        if (g->plan_id[0] != '\0')
            g->seq++;
        g->plan_id[0] = '\0';
        g->plan_cycle = 0;
        g->opt_cycle = 0;           /* MAXBAND's offsets again */
        return 0;
    }
    double C = round(cycle_s);
    if (strlen(id) == 0 || strlen(id) > ADAPTIVE_PLAN_ID_MAX)
        return errbuf_fail(err, errlen, "plan: an id of 1 to %d characters", ADAPTIVE_PLAN_ID_MAX);
    if (!isfinite(cycle_s) || !(C > 0))
        return errbuf_fail(err, errlen, "cycle_s: must be a positive number");
    for (size_t k = 0; k < g->n; k++) {
        const struct adaptive_isec_cfg *c = g->m[k].cfg;
        double lo = ceil(min_cycle(c) - 1e-9), sum = 0;
        bool ok = isfinite(pm[k].offset_s);
        if (C < lo || C > c->cycle_max_s)
            return errbuf_fail(err, errlen, "cycle_s: a %.0f s cycle is outside what "
                               "intersection '%s' can run (%.0f to %.0f s: its bounds and minimum "
                               "greens)", C, c->id, lo, c->cycle_max_s);
        for (size_t p = 0; p < c->nphases; p++) {
            ok = ok && isfinite(pm[k].green[p]) && pm[k].green[p] >= 0;
            sum += pm[k].green[p];
        }
        if (!ok || !(sum > 0))
            return errbuf_fail(err, errlen, "intersection '%s': the plan's offset and greens "
                               "must be numbers (greens >= 0, not all 0)", c->id);
    }
    snprintf(g->plan_id, sizeof g->plan_id, "%s", id);
    g->plan_cycle = C;
    for (size_t k = 0; k < g->n; k++) {
        struct adaptive_member *m = &g->m[k];
        m->plan_offset_s = round(pm[k].offset_s);
        memset(m->plan_green, 0, sizeof m->plan_green);
        memcpy(m->plan_green, pm[k].green, m->cfg->nphases * sizeof *m->plan_green);
    }
    g->seq++;
    if (g->started) {
        /* Re-seed: the plan's cycle is the target from now on (adaptive
         * members may move it again at the next master cycle), and its
         * offsets the targets of the next cycle starts. */
        double lo, hi;
        common_bounds(g, &lo, &hi);
        g->target_cycle = clamp(C, lo, hi);
        if (plan_offsets(g))
            set_plan_offsets(g);
    }
    return 0;
}

bool adaptive_plan_status(const struct adaptive_group *g, size_t k, double t, char *why,
                          size_t n)
{
    const struct adaptive_member *m = &g->m[k];
    if (g->plan_id[0] == '\0') {
        snprintf(why, n, "no active plan");
        return false;
    }
    if (m->mode == ADAPTIVE_MAX_PRESSURE) {
        snprintf(why, n, "does not run the plan: max_pressure control serves phases by pressure "
                 "and keeps no common cycle (PUT its mode to fixed or adaptive, or activate the "
                 "plan with \"mode\":\"fixed\")");
        return false;
    }
    for (size_t j = 0; j < g->n; j++) {
        double need;
        if (!fits_plan(g, &g->m[j], t, &need) && need <= g->plan_cycle) {
            snprintf(why, n, "does not run the plan now: the flows counted at %s need a cycle of "
                     "%.0f s, within %.0f s of the plan's %.0f s; the corridor, which left the "
                     "plan, follows its own cycle until they need %.0f s or less (activate the "
                     "plan with \"mode\":\"fixed\" to impose it)", g->m[j].cfg->id, need,
                     ADAPTIVE_CYCLE_HYST_S, g->plan_cycle, g->plan_cycle - ADAPTIVE_CYCLE_HYST_S);
            return false;
        }
        if (need > g->plan_cycle) {
            snprintf(why, n, "does not run the plan now: the flows counted at %s need a cycle of "
                     "%s%.0f s to stay within capacity, longer than the plan's %.0f s; the corridor "
                     "follows its own cycle until they fall back (activate the plan with "
                     "\"mode\":\"fixed\" to impose it)", g->m[j].cfg->id,
                     isfinite(need) ? "" : "more than ", isfinite(need) ? need :
                     g->m[j].cfg->cycle_max_s, g->plan_cycle);
            return false;
        }
    }
    const char *offs = coordinated(g, k) ? "cycle and offsets" : "cycle (no offset: nothing to "
                       "coordinate with)";
    if (m->mode == ADAPTIVE_FIXED) {
        snprintf(why, n, "runs the plan: its %s and its split, reached by bounded transitions "
                 "from the next cycle", offs);
        return true;
    }
    struct plan own;
    member_plan(m, t, NAN, &own);
    int len = snprintf(why, n, "runs the plan's %s as its coordination reference, reached by "
                       "bounded transitions from the next cycle; greens re-split from its "
                       "counts each cycle", offs);
    if (len >= 0 && (size_t)len < n && isfinite(own.cycle) && own.cycle > g->plan_cycle + 0.5)
        snprintf(why + len, n - (size_t)len, " (its flows call for a %.0f s cycle: the plan's "
                 "%.0f s runs it nearer capacity)", own.cycle, g->plan_cycle);
    return true;
}

/* ---- what bounded re-timing may still change (for SPaT) ---- */

int adaptive_next_start_bounds(const struct adaptive_group *g, size_t k,
                               const struct adaptive_record *K, int p, double *lo, double *hi)
{
    const struct adaptive_isec_cfg *c = g->m[k].cfg;
    int n = (int)c->nphases;
    if (K->mode == ADAPTIVE_MAX_PRESSURE) {
        int cur = K->order[0], next = K->open ? -1 : K->next_phase;
        if (next == p) {
            *lo = *hi = K->end;
            return 0;
        }
        double end_lo = K->start + K->green[cur];
        double end_hi = K->open ? K->start + adaptive_mp_max_green(c, cur) : end_lo;
        *lo = end_lo + intergreen(c, cur);
        if (next >= 0)
            *lo += c->ph[next].gmin_s + intergreen(c, next);
        *hi = end_hi + intergreen(c, cur);
        for (int j = 0; j < n; j++)
            if (j != cur && j != p)
                *hi += adaptive_mp_max_green(c, j) + intergreen(c, j);
        return 0;
    }
    if (g->m[k].mode == ADAPTIVE_MAX_PRESSURE)
        return -1;               /* a mode change is pending: no bound */
    /* The next cycle: master cycle within two steps of K's (at most two
     * master boundaries fall inside one local cycle), its offset
     * transition within the lengthen/shorten limits, each green within
     * step + the change of total green of K's (adaptive_bounded_step). */
    bool co = coordinated(g, k);
    double C = K->common_cycle_s, L = c->lost_time_s;
    double c_hi = fmin(C + 2 * ADAPTIVE_CYCLE_STEP_S, c->cycle_max_s);
    double c_lo = fmax(C - 2 * ADAPTIVE_CYCLE_STEP_S, min_cycle(c));
    double cl_hi = fmin(c_hi * (1 + (co ? ADAPTIVE_LENGTHEN : 0)), fmax(c_hi, c->cycle_max_s));
    double cl_lo = fmax(c_lo * (1 - (co ? ADAPTIVE_SHORTEN : 0)), min_cycle(c));
    double up = fmax(0, cl_hi - K->cycle_s), down = fmax(0, K->cycle_s - cl_lo);
    double step = ADAPTIVE_GREEN_STEP * c_hi;
    double before_lo = 0, before_hi = 0, rest_lo = 0, rest_hi = 0;
    bool seen = false;
    for (int j = 0; j < n; j++) {
        int q = (c->coord_phase + j) % n;
        double glo = fmax(c->ph[q].gmin_s, K->green[q] - step - down);
        double ghi = K->green[q] + step + up;
        seen |= q == p;
        if (seen) {
            rest_lo += glo;
            rest_hi += ghi;
        } else {
            before_lo += glo + intergreen(c, q);
            before_hi += ghi + intergreen(c, q);
        }
    }
    /* The greens before p are also the total less the greens from p on. */
    double ig_before = 0;
    for (int j = 0; j < n && (c->coord_phase + j) % n != p; j++)
        ig_before += intergreen(c, (c->coord_phase + j) % n);
    before_lo = fmax(before_lo, (cl_lo - L) - rest_hi + ig_before);
    before_hi = fmin(before_hi, (cl_hi - L) - rest_lo + ig_before);
    *lo = K->end + before_lo;
    *hi = K->end + fmax(before_lo, before_hi);
    return 0;
}
