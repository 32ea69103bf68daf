/* maxband.c -- green-wave bandwidth optimisation: validation, the
 * engine choice, evaluation of answers with bands.c, and the brute-force
 * reference used by the tests.
 *
 * Two exact engines solve MAXBAND (Little, Kelson & Gartner 1981; the
 * program is written out in maxband_milp.c): the GLPK mixed-integer
 * program itself, and the corridor dynamic program of maxband_dp.c, which
 * solves the same program by exploiting its structure and is the default
 * (polynomial per cycle; 15-100x faster than the MILP at 40 signals, see
 * tests/bench/bench_signals.sh). The tests
 * check both against each other and against brute force. */
#include "maxband_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Reported times are snapped to this grid (s) to drop solver noise. */
#define SNAP_S 1e-6
#define DEFAULT_TIME_LIMIT_MS 10000.0

int maxband_objective_parse(const char *s, enum maxband_objective *out)
{
    static const char *names[] = { "equal", "sum", "outbound", "inbound" };
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum maxband_objective)i;
            return 0;
        }
    }
    return -1;
}

const char *maxband_objective_name(enum maxband_objective o)
{
    switch (o) {
    case MAXBAND_EQUAL: return "equal";
    case MAXBAND_SUM: return "sum";
    case MAXBAND_OUTBOUND: return "outbound";
    case MAXBAND_INBOUND: return "inbound";
    }
    return "?";
}

/* ---- validation ---- */

static double green_at(const struct maxband_green *g, double C)
{
    return g->green_ratio * C + g->green_s;
}

static int check_green(const struct maxband_green *g, size_t i, const char *dir,
                       double cmin, double cmax, char *err, size_t errlen)
{
    if (!(isfinite(g->green_s) && g->green_s >= 0))
        return errbuf_fail(err, errlen, "intersections[%zu].%s_green_s: must be a number >= 0",
                           i, dir);
    if (!(isfinite(g->green_ratio) && g->green_ratio >= 0 && g->green_ratio <= 1))
        return errbuf_fail(err, errlen, "intersections[%zu].green_ratio: must be in [0, 1]", i);
    if (!(isfinite(g->queue_s) && g->queue_s >= 0))
        return errbuf_fail(err, errlen,
                           "intersections[%zu].queue_clearance_s: must be a number >= 0", i);
    double lo = green_at(g, cmin), hi = green_at(g, cmax);
    if (!(lo > 0 && hi > 0))
        return errbuf_fail(err, errlen, "intersections[%zu].%s_green_s: must be positive", i, dir);
    if (lo > cmin + 1e-9 || hi > cmax + 1e-9)
        return errbuf_fail(err, errlen, "intersections[%zu].%s_green_s: longer than the cycle",
                           i, dir);
    if (g->queue_s >= lo && g->queue_s > 0)
        return errbuf_fail(err, errlen, "intersections[%zu].queue_clearance_s: not shorter than "
                           "the %s green", i, dir);
    return 0;
}

static int check_speeds(double lo, double hi, size_t i, char *err, size_t errlen)
{
    if (!(isfinite(lo) && lo > 0 && isfinite(hi) && hi > 0))
        return errbuf_fail(err, errlen, "links[%zu]: speed_range_mps must be positive", i);
    if (lo > hi)
        return errbuf_fail(err, errlen, "speed_range_mps: lower bound above upper bound");
    return 0;
}

int maxband_check(const struct maxband_problem *p, char *err, size_t errlen)
{
    if (p->n < MAXBAND_MIN_SIGNALS || p->sig == NULL)
        return errbuf_fail(err, errlen, "intersections: at least %d needed", MAXBAND_MIN_SIGNALS);
    if (p->n > MAXBAND_MAX_SIGNALS)
        return errbuf_fail(err, errlen, "intersections: at most %d supported", MAXBAND_MAX_SIGNALS);
    if (!(isfinite(p->cycle_min_s) && p->cycle_min_s > 0 && isfinite(p->cycle_max_s)))
        return errbuf_fail(err, errlen, "cycle_s: must be positive");
    if (p->cycle_min_s > p->cycle_max_s)
        return errbuf_fail(err, errlen, "cycle_range_s: lower bound above upper bound");
    if (p->link == NULL)
        return errbuf_fail(err, errlen, "links: missing");
    for (size_t i = 0; i < p->n; i++) {
        const struct maxband_signal *s = &p->sig[i];
        if (!isfinite(s->position_m))
            return errbuf_fail(err, errlen, "intersections[%zu].position_m: must be a number", i);
        if (i > 0 && !(s->position_m > p->sig[i - 1].position_m))
            return errbuf_fail(err, errlen, "intersections[%zu].position_m: must be greater than "
                               "intersections[%zu].position_m (outbound order, distinct)", i,
                               i - 1);
        if (check_green(&s->out, i, "outbound", p->cycle_min_s, p->cycle_max_s, err, errlen) ||
            check_green(&s->in, i, "inbound", p->cycle_min_s, p->cycle_max_s, err, errlen))
            return -1;
    }
    for (size_t i = 0; i + 1 < p->n; i++) {
        const struct maxband_link *l = &p->link[i];
        if (check_speeds(l->out_min_mps, l->out_max_mps, i, err, errlen) ||
            check_speeds(l->in_min_mps, l->in_max_mps, i, err, errlen))
            return -1;
    }
    if (!isnan(p->speed_change_max_mps) && !isfinite(p->speed_change_max_mps))
        return errbuf_fail(err, errlen, "speed_change_max_mps: must be a number");
    if ((unsigned)p->objective > MAXBAND_INBOUND)
        return errbuf_fail(err, errlen, "objective: must be equal, sum, outbound or inbound");
    return 0;
}

/* ---- evaluation ---- */

static double wrap01(double x)
{
    double u = x - floor(x);
    return u >= 1.0 ? 0.0 : u;
}

static double snap(double x)
{
    return round(x / SNAP_S) * SNAP_S;
}

/* Fill bands_signal/travel arrays for a timing (caller's storage). */
static void fill_corridor(const struct maxband_problem *p, double C, const double *off,
                          const double *vo, const double *vi, struct bands_signal *sig,
                          double *to, double *ti)
{
    for (size_t i = 0; i < p->n; i++) {
        const struct maxband_signal *s = &p->sig[i];
        sig[i].offset_s = off[i];
        sig[i].out_start_s = s->out.queue_s;
        sig[i].out_len_s = green_at(&s->out, C) - s->out.queue_s;
        sig[i].in_start_s = s->in.queue_s;
        sig[i].in_len_s = green_at(&s->in, C) - s->in.queue_s;
        if (i + 1 < p->n) {
            double d = p->sig[i + 1].position_m - s->position_m;
            to[i] = d / vo[i];
            ti[i] = d / vi[i];
        }
    }
}

void maxband_evaluate(const struct maxband_problem *p, double C, const double *off,
                      const double *vo, const double *vi, struct band *out, struct band *in)
{
    struct bands_signal sig[MAXBAND_MAX_SIGNALS];
    double to[MAXBAND_MAX_SIGNALS], ti[MAXBAND_MAX_SIGNALS];
    size_t n = p->n <= MAXBAND_MAX_SIGNALS ? p->n : MAXBAND_MAX_SIGNALS;
    struct maxband_problem q = *p;
    q.n = n;
    fill_corridor(&q, C, off, vo, vi, sig, to, ti);
    struct bands_corridor c = { n, C, sig, to, ti };
    bands_eval(&c, out, in);
}

void maxband_limits(const struct maxband_problem *p, const struct maxband_result *r,
                    bool inbound, size_t *lead, size_t *trail)
{
    struct bands_signal sig[MAXBAND_MAX_SIGNALS];
    double to[MAXBAND_MAX_SIGNALS], ti[MAXBAND_MAX_SIGNALS];
    struct maxband_problem q = *p;
    q.n = p->n <= MAXBAND_MAX_SIGNALS ? p->n : MAXBAND_MAX_SIGNALS;
    fill_corridor(&q, r->cycle_s, r->offset_s, r->out_speed_mps, r->in_speed_mps, sig, to, ti);
    struct bands_corridor c = { q.n, r->cycle_s, sig, to, ti };
    bands_limits(&c, inbound, inbound ? &r->inbound : &r->outbound, lead, trail);
}

double maxband_objective_value(enum maxband_objective o, const struct band *out,
                               const struct band *in)
{
    double bo = out->exists ? out->width_s : 0, bi = in->exists ? in->width_s : 0;
    switch (o) {
    case MAXBAND_EQUAL: return 2 * (bo < bi ? bo : bi);
    case MAXBAND_SUM: return bo + bi;
    case MAXBAND_OUTBOUND: return bo;
    case MAXBAND_INBOUND: return bi;
    }
    return 0;
}

int mb_result_alloc(struct maxband_result *r, size_t n)
{
    memset(r, 0, sizeof(*r));
    r->n = n;
    r->offset_s = calloc(n, sizeof(double));
    r->out_speed_mps = calloc(n, sizeof(double));
    r->in_speed_mps = calloc(n, sizeof(double));
    if (r->offset_s == NULL || r->out_speed_mps == NULL || r->in_speed_mps == NULL) {
        maxband_result_free(r);
        return -1;
    }
    return 0;
}

void maxband_result_free(struct maxband_result *r)
{
    if (r == NULL)
        return;
    free(r->offset_s);
    free(r->out_speed_mps);
    free(r->in_speed_mps);
    r->offset_s = r->out_speed_mps = r->in_speed_mps = NULL;
}

static void result_finish(const struct maxband_problem *p, struct maxband_result *r)
{
    maxband_evaluate(p, r->cycle_s, r->offset_s, r->out_speed_mps, r->in_speed_mps,
                     &r->outbound, &r->inbound);
    double bo = r->outbound.exists ? r->outbound.width_s : 0;
    double bi = r->inbound.exists ? r->inbound.width_s : 0;
    r->efficiency = (bo + bi) / (2 * r->cycle_s);
}

/* ---- shared by the engines ---- */

double mb_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

bool mb_should_stop(struct mb_ctx *c, char *err, size_t errlen)
{
    bool cancel = c->cancel != NULL && atomic_load(c->cancel) != 0;
    if (!cancel && mb_now_ms() - c->t0 <= c->limit_ms)
        return false;
    c->stopped = true;
    if (cancel)
        errbuf_fail(err, errlen, "optimisation cancelled");
    else
        errbuf_fail(err, errlen, "optimisation did not finish within %.0f ms", c->limit_ms);
    return true;
}

double mb_clamp(double x, double lo, double hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

double mb_uout(const struct mb_prep *pr, size_t i, double z)
{
    return pr->ao[i] + pr->co[i] * z;
}

double mb_uin(const struct mb_prep *pr, size_t i, double z)
{
    return pr->ai[i] + pr->ci[i] * z;
}

static void prep_free(struct mb_prep *pr)
{
    free(pr->d);
}

static int prep_init(const struct maxband_problem *p, struct mb_prep *pr)
{
    size_t n = p->n;
    memset(pr, 0, sizeof(*pr));
    pr->n = n;
    pr->d = calloc(6 * n, sizeof(double));
    if (pr->d == NULL)
        return -1;
    pr->ao = pr->d + n;
    pr->co = pr->ao + n;
    pr->ai = pr->co + n;
    pr->ci = pr->ai + n;
    pr->dq = pr->ci + n;
    pr->zmin = 1.0 / p->cycle_max_s;
    pr->zmax = 1.0 / p->cycle_min_s;
    pr->fixed_z = p->cycle_min_s == p->cycle_max_s;
    double vmax_o = 0, vmax_i = 0;
    for (size_t i = 0; i < n; i++) {
        const struct maxband_signal *s = &p->sig[i];
        pr->ao[i] = s->out.green_ratio;
        pr->co[i] = s->out.green_s - s->out.queue_s;
        pr->ai[i] = s->in.green_ratio;
        pr->ci[i] = s->in.green_s - s->in.queue_s;
        pr->dq[i] = s->out.queue_s - s->in.queue_s;
        if (i + 1 < n) {
            pr->d[i] = p->sig[i + 1].position_m - s->position_m;
            if (p->link[i].out_max_mps > vmax_o) vmax_o = p->link[i].out_max_mps;
            if (p->link[i].in_max_mps > vmax_i) vmax_i = p->link[i].in_max_mps;
        }
    }
    if (p->speed_change_max_mps > 0) {
        pr->pace_out = p->speed_change_max_mps / (vmax_o * vmax_o);
        pr->pace_in = p->speed_change_max_mps / (vmax_i * vmax_i);
    }
    return 0;
}

void mb_extract(const struct mb_ctx *c, unsigned dirs, const struct mb_sol *s,
                struct maxband_result *r)
{
    const struct maxband_problem *p = c->p;
    const struct mb_prep *pr = &c->pr;
    size_t n = pr->n;
    double C = pr->fixed_z ? p->cycle_min_s
                           : mb_clamp(snap(1.0 / s->z), p->cycle_min_s, p->cycle_max_s);
    double z = 1.0 / C;
    r->cycle_s = C;
    /* Offsets from the outbound band when there is one: it starts
     * queue_0 + w_0 after signal 0's green and meets signal i T_i later. */
    bool out = dirs & MB_DIR_OUT;
    const double *w = out ? s->w : s->ww, *t = out ? s->t : s->tt;
    double q0 = out ? p->sig[0].out.queue_s : p->sig[0].in.queue_s;
    double B = q0 * z + w[0], T = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            T += out ? t[i - 1] : -t[i - 1];
        double qi = out ? p->sig[i].out.queue_s : p->sig[i].in.queue_s;
        double o = snap(wrap01(B + T - qi * z - w[i]) * C);
        r->offset_s[i] = o >= C || i == 0 ? 0 : o;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        const struct maxband_link *l = &p->link[i];
        double d = pr->d[i];
        r->out_speed_mps[i] = l->out_min_mps == l->out_max_mps ? l->out_min_mps
                              : mb_clamp(d / (s->t[i] * C), l->out_min_mps, l->out_max_mps);
        r->in_speed_mps[i] = l->in_min_mps == l->in_max_mps ? l->in_min_mps
                             : mb_clamp(d / (s->tt[i] * C), l->in_min_mps, l->in_max_mps);
    }
    r->solver_out_s = s->b * C;
    r->solver_in_s = s->bb * C;
}

/* ---- driver ---- */

int maxband_solve(const struct maxband_problem *p, struct maxband_result *r, char *err,
                  size_t errlen)
{
    return maxband_solve_cancel(p, NULL, r, err, errlen);
}

int maxband_solve_cancel(const struct maxband_problem *p, const atomic_int *cancel,
                         struct maxband_result *r, char *err, size_t errlen)
{
    if (maxband_check(p, err, errlen) != 0)
        return -1;
    struct mb_ctx c = { .p = p, .cancel = cancel, .t0 = mb_now_ms(),
                        .limit_ms = p->time_limit_ms > 0 ? p->time_limit_ms
                                                         : DEFAULT_TIME_LIMIT_MS };
    struct maxband_result res;
    size_t n = p->n;
    double *buf = NULL;
    int rc = -1;
    if (prep_init(p, &c.pr) != 0)
        return errbuf_fail(err, errlen, "out of memory");
    buf = calloc(4 * n, sizeof(double));
    if (buf == NULL || mb_result_alloc(&res, n) != 0) {
        free(buf);
        prep_free(&c.pr);
        return errbuf_fail(err, errlen, "out of memory");
    }
    c.s = (struct mb_sol){ 0, 0, 0, buf, buf + n, buf + 2 * n, buf + 3 * n };
    /* The corridor DP is polynomial; the MILP serves what it cannot
     * express (a bound on speed changes between links) and is the
     * fallback should the DP's cycle search exhaust its budget. */
    bool dp = p->method == MAXBAND_METHOD_DP ||
              (p->method == MAXBAND_METHOD_AUTO && !(p->speed_change_max_mps > 0));
    if (dp)
        rc = mb_dp_solve(&c, &res, err, errlen);
    if (!dp || (rc == 1 && p->method == MAXBAND_METHOD_AUTO))
        rc = mb_milp_solve(&c, &res, err, errlen);
    if (rc == 1)
        rc = errbuf_fail(err, errlen, "optimisation did not converge");
    if (rc != 0 && c.stopped)
        rc = MAXBAND_STOPPED;
    if (rc == 0) {
        res.solves = c.solves;
        res.elapsed_ms = mb_now_ms() - c.t0;
        result_finish(p, &res);
        *r = res;
    } else {
        maxband_result_free(&res);
    }
    free(buf);
    prep_free(&c.pr);
    return rc;
}

/* ---- brute force ---- */

/* Ranking key of one evaluated timing under the objective's semantics. */
struct bf_best {
    bool found;
    double k1, k2;
    double *off;
};

static bool bf_better(const struct bf_best *b, double k1, double k2)
{
    const double eps = 1e-9;
    if (!b->found || k1 > b->k1 + eps)
        return true;
    return k1 > b->k1 - eps && k2 > b->k2 + eps;
}

static void bf_take(struct bf_best *b, double k1, double k2, const double *off, size_t n)
{
    b->found = true;
    b->k1 = k1;
    b->k2 = k2;
    memcpy(b->off, off, n * sizeof(double));
}

static int bf_setup(const struct maxband_problem *p, double step, size_t *K, char *err,
                    size_t errlen)
{
    if (maxband_check(p, err, errlen) != 0)
        return -1;
    if (p->cycle_min_s != p->cycle_max_s)
        return errbuf_fail(err, errlen, "brute force: fixed cycle only");
    for (size_t i = 0; i + 1 < p->n; i++) {
        const struct maxband_link *l = &p->link[i];
        if (l->out_min_mps != l->out_max_mps || l->in_min_mps != l->in_max_mps)
            return errbuf_fail(err, errlen, "brute force: fixed speeds only");
    }
    if (!(step > 0))
        return errbuf_fail(err, errlen, "brute force: step must be positive");
    *K = (size_t)ceil(p->cycle_min_s / step - 1e-9);
    double combos = pow((double)*K, (double)(p->n - 1));
    if (combos > 2e8)
        return errbuf_fail(err, errlen, "brute force: %.3g combinations is too many", combos);
    return 0;
}

int maxband_brute_force(const struct maxband_problem *p, double step, struct maxband_result *r,
                        char *err, size_t errlen)
{
    size_t K = 0, n = p->n;
    if (bf_setup(p, step, &K, err, errlen) != 0)
        return -1;
    double C = p->cycle_min_s;
    struct bands_signal sig[MAXBAND_MAX_SIGNALS];
    double to[MAXBAND_MAX_SIGNALS], ti[MAXBAND_MAX_SIGNALS], off[MAXBAND_MAX_SIGNALS] = { 0 };
    double vo[MAXBAND_MAX_SIGNALS], vi[MAXBAND_MAX_SIGNALS];
    size_t digit[MAXBAND_MAX_SIGNALS] = { 0 };
    for (size_t i = 0; i + 1 < n; i++) {
        vo[i] = p->link[i].out_min_mps;
        vi[i] = p->link[i].in_min_mps;
    }
    fill_corridor(p, C, off, vo, vi, sig, to, ti);
    struct bands_corridor cor = { n, C, sig, to, ti };
    double store[3][MAXBAND_MAX_SIGNALS];
    /* two: best two-way by objective; one_o / one_i: best one-way. */
    struct bf_best two = { false, 0, 0, store[0] }, one_o = { false, 0, 0, store[1] },
                   one_i = { false, 0, 0, store[2] };
    enum maxband_objective obj = p->objective;
    for (;;) {
        for (size_t i = 1; i < n; i++)
            sig[i].offset_s = (double)digit[i] * step;
        struct band bo, bi;
        bands_eval(&cor, &bo, &bi);
        for (size_t i = 0; i < n; i++)
            off[i] = sig[i].offset_s;
        if (bo.exists && bf_better(&one_o, bo.width_s, bi.exists ? bi.width_s : -1))
            bf_take(&one_o, bo.width_s, bi.exists ? bi.width_s : -1, off, n);
        if (bi.exists && bf_better(&one_i, bi.width_s, bo.exists ? bo.width_s : -1))
            bf_take(&one_i, bi.width_s, bo.exists ? bo.width_s : -1, off, n);
        if (bo.exists && bi.exists) {
            double v = maxband_objective_value(obj, &bo, &bi);
            if (bf_better(&two, v, 0))
                bf_take(&two, v, 0, off, n);
        }
        size_t i = 1;
        while (i < n && ++digit[i] == K)
            digit[i++] = 0;
        if (i >= n)
            break;
    }
    const struct bf_best *pick;
    bool two_way;
    if (obj == MAXBAND_OUTBOUND) {
        pick = &one_o;
        two_way = one_o.k2 >= 0;
    } else if (obj == MAXBAND_INBOUND) {
        pick = &one_i;
        two_way = one_i.k2 >= 0;
    } else if (two.found) {
        pick = &two;
        two_way = true;
    } else {
        pick = one_i.k1 > one_o.k1 + 1e-9 ? &one_i : &one_o;
        two_way = false;
    }
    if (mb_result_alloc(r, n) != 0)
        return errbuf_fail(err, errlen, "out of memory");
    r->cycle_s = C;
    memcpy(r->offset_s, pick->off, n * sizeof(double));
    memcpy(r->out_speed_mps, vo, (n - 1) * sizeof(double));
    memcpy(r->in_speed_mps, vi, (n - 1) * sizeof(double));
    r->two_way = two_way;
    result_finish(p, r);
    r->solver_out_s = r->outbound.width_s;
    r->solver_in_s = r->inbound.width_s;
    return 0;
}
