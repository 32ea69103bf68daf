/* maxband_dp.c -- MAXBAND solved exactly by dynamic programming along the
 * corridor (the default engine; maxband_milp.c has the program).
 *
 * Why this works. Write D_i = w_i - ww_i. The program's constraints say
 * exactly: b <= U_i, bb <= V_i (U, V the usable greens), D_i lies in
 * [bb - V_i, U_i - b], and D_{i+1} - D_i = s_i - m_i with s_i = t_i + tt_i
 * - (dq_{i+1} - dq_i) z in the range the speeds allow and m_i any integer.
 * Shifting every D_i by b leaves the differences alone, so with
 * beta = b + bb the sequence x_i = D_i + b must satisfy
 *
 *     x_i in [beta - V_i, U_i]  and  x_{i+1} - x_i in [slo_i, shi_i]  (mod 1)
 *
 * which depends on beta only. For a fixed cycle that is a reachability
 * question on the circle: the set of feasible x_i is a union of at most
 * i+1 arcs, propagated by widening (the speed range) and cutting (the
 * window). Feasibility is monotone in beta, so the largest feasible beta
 * (to 1e-13 of a cycle) follows by bisection, and every objective is a
 * closed form in beta, min U and min V:
 *     SUM     b + bb = beta
 *     EQUAL   2 min(beta/2, min U, min V)
 *     OUTBOUND b = max_z min U, then bb = min(beta - b, min V)
 * The x_i are then read back from the stored arc sets, last to first.
 *
 * A cycle range adds one continuous dimension, searched by branch and
 * bound on z: over an interval of z the same DP run with every window at
 * its widest and every speed range at its union bounds the objective from
 * above; intervals whose bound cannot beat the best point found (by more
 * than MB_TOL of a cycle) are dropped. The speed-change bound couples
 * links and is left to the MILP. */
#include "maxband_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BISECT_STEPS 64
#define BISECT_TOL 1e-13
#define ARC_EPS 1e-12
/* Budget of the cycle search (intervals); beyond it the driver uses the
 * MILP. Random 40-signal corridors need a few hundred. */
#define Z_NODES_MAX 20000

struct arc {
    double s, l;                 /* start in [0,1), length; l >= 1: whole circle */
};

struct dp {
    size_t n, cap;               /* signals; arcs per level */
    double *U, *V;               /* usable out / in greens (cycles), n */
    double *slo, *shi;           /* range of x_{i+1} - x_i, n-1 */
    struct arc *lv;              /* n levels of cap arcs */
    size_t *cnt;                 /* arcs per level */
    struct arc *tmp;             /* cap arcs */
};

static double wrap(double x)
{
    double u = x - floor(x);
    return u >= 1.0 ? 0.0 : u;
}

/* ---- arc sets on the unit circle ---- */

static size_t full(struct arc *a)
{
    a[0] = (struct arc){ 0, 1 };
    return 1;
}

/* Sort by start and merge overlaps (also across 1 -> 0). */
static size_t normalize(struct arc *a, size_t k)
{
    for (size_t i = 1; i < k; i++) {
        struct arc x = a[i];
        size_t j = i;
        for (; j > 0 && a[j - 1].s > x.s; j--)
            a[j] = a[j - 1];
        a[j] = x;
    }
    size_t m = 0;
    for (size_t i = 0; i < k; i++) {
        if (a[i].l >= 1)
            return full(a);
        if (m > 0 && a[i].s <= a[m - 1].s + a[m - 1].l + ARC_EPS) {
            double end = fmax(a[m - 1].s + a[m - 1].l, a[i].s + a[i].l);
            a[m - 1].l = end - a[m - 1].s;
        } else {
            a[m++] = a[i];
        }
    }
    while (m > 1 && a[m - 1].s + a[m - 1].l >= 1 + a[0].s - ARC_EPS) {
        double end = fmax(a[m - 1].s + a[m - 1].l, 1 + a[0].s + a[0].l);
        a[m - 1].l = end - a[m - 1].s;
        memmove(a, a + 1, (m - 1) * sizeof(*a));
        m--;
    }
    if (m >= 1 && a[m - 1].l >= 1)
        return full(a);
    return m;
}

/* out = in widened by [lo, hi] (every point x becomes [x+lo, x+hi]). */
static size_t dilate(const struct arc *in, size_t k, double lo, double hi, struct arc *out)
{
    for (size_t i = 0; i < k; i++)
        out[i] = (struct arc){ wrap(in[i].s + lo), in[i].l + (hi - lo) };
    return normalize(out, k);
}

/* out = in cut to the arc A (out needs 2k slots). */
static size_t intersect(const struct arc *in, size_t k, struct arc A, struct arc *out)
{
    if (A.l >= 1) {
        memcpy(out, in, k * sizeof(*in));
        return k;
    }
    size_t m = 0;
    for (size_t i = 0; i < k; i++) {
        if (in[i].l >= 1) {
            out[m++] = A;
            continue;
        }
        double x0 = wrap(in[i].s - A.s), x1 = x0 + in[i].l;
        if (x0 <= A.l + ARC_EPS)
            out[m++] = (struct arc){ wrap(A.s + x0), fmax(0, fmin(x1, A.l) - x0) };
        if (x1 > 1) {
            double e = fmin(x1 - 1, A.l);
            if (e >= -ARC_EPS)
                out[m++] = (struct arc){ A.s, fmax(0, e) };
        }
    }
    return normalize(out, m);
}

/* Circular distance from p to the arc set's nearest point, and that point. */
static double nearest(const struct arc *a, size_t k, double p, double *at)
{
    double best = 2;
    for (size_t i = 0; i < k; i++) {
        double off = wrap(p - a[i].s);
        if (off <= a[i].l) {
            *at = p;
            return 0;
        }
        double d1 = off - a[i].l, d2 = 1 - off;     /* past the end / before the start */
        if (d1 < best) {
            best = d1;
            *at = wrap(a[i].s + a[i].l);
        }
        if (d2 < best) {
            best = d2;
            *at = a[i].s;
        }
    }
    return best;
}

/* ---- the DP ---- */

static void dp_free(struct dp *d)
{
    free(d->U);
    free(d->lv);
    free(d->cnt);
}

static int dp_init(struct dp *d, size_t n)
{
    memset(d, 0, sizeof(*d));
    d->n = n;
    d->cap = 2 * n + 4;
    d->U = calloc(4 * n, sizeof(double));
    d->lv = calloc((n + 1) * d->cap, sizeof(struct arc));
    d->cnt = calloc(n, sizeof(size_t));
    if (d->U == NULL || d->lv == NULL || d->cnt == NULL) {
        dp_free(d);
        return -1;
    }
    d->V = d->U + n;
    d->slo = d->V + n;
    d->shi = d->slo + n;
    d->tmp = d->lv + n * d->cap;
    return 0;
}

/* Range of x_{i+1} - x_i at z. */
static void link_range(const struct mb_ctx *c, size_t i, double z, double *lo, double *hi)
{
    const struct maxband_link *l = &c->p->link[i];
    double d = c->pr.d[i], ddq = (c->pr.dq[i + 1] - c->pr.dq[i]) * z;
    *lo = d * z / l->out_max_mps + d * z / l->in_max_mps - ddq;
    *hi = d * z / l->out_min_mps + d * z / l->in_min_mps - ddq;
}

static void dp_at(struct dp *d, const struct mb_ctx *c, double z)
{
    for (size_t i = 0; i < d->n; i++) {
        d->U[i] = mb_uout(&c->pr, i, z);
        d->V[i] = mb_uin(&c->pr, i, z);
        if (i + 1 < d->n)
            link_range(c, i, z, &d->slo[i], &d->shi[i]);
    }
}

/* Data valid for every z in [z1, z2] at once (a relaxation): widest
 * windows and the union of the transition ranges (all linear in z). */
static void dp_relaxed(struct dp *d, const struct mb_ctx *c, double z1, double z2)
{
    for (size_t i = 0; i < d->n; i++) {
        d->U[i] = fmax(mb_uout(&c->pr, i, z1), mb_uout(&c->pr, i, z2));
        d->V[i] = fmax(mb_uin(&c->pr, i, z1), mb_uin(&c->pr, i, z2));
        if (i + 1 < d->n) {
            double lo1, hi1, lo2, hi2;
            link_range(c, i, z1, &lo1, &hi1);
            link_range(c, i, z2, &lo2, &hi2);
            d->slo[i] = fmin(lo1, lo2);
            d->shi[i] = fmax(hi1, hi2);
        }
    }
}

static struct arc *level(struct dp *d, size_t i)
{
    return d->lv + i * d->cap;
}

/* Is beta feasible? Leaves the arc sets of every level in d. */
static bool dp_run(struct dp *d, double beta)
{
    for (size_t i = 0; i < d->n; i++) {
        double len = d->U[i] + d->V[i] - beta;
        if (len < -ARC_EPS)
            return false;
        struct arc A = { wrap(beta - d->V[i]), fmax(0, len) };
        struct arc *L = level(d, i);
        if (i == 0) {
            L[0] = A;
            d->cnt[0] = A.l >= 1 ? full(L) : 1;
        } else {
            size_t k = dilate(level(d, i - 1), d->cnt[i - 1], d->slo[i - 1], d->shi[i - 1],
                              d->tmp);
            d->cnt[i] = intersect(d->tmp, k, A, L);
        }
        if (d->cnt[i] == 0)
            return false;
    }
    return true;
}

static double min_of(const double *v, size_t n)
{
    double m = v[0];
    for (size_t i = 1; i < n; i++)
        m = fmin(m, v[i]);
    return m;
}

/* Largest feasible beta for the data in d, or -1 when even beta = 0 (two
 * lines, no width) is infeasible. */
static double dp_beta_max(struct dp *d)
{
    double hi = fmin(min_of(d->U, d->n) + min_of(d->V, d->n), INFINITY);
    for (size_t i = 0; i < d->n; i++)
        hi = fmin(hi, d->U[i] + d->V[i]);
    if (hi < 0 || !dp_run(d, 0))
        return -1;
    if (dp_run(d, hi))
        return hi;
    double lo = 0;
    for (int k = 0; k < BISECT_STEPS && hi - lo > BISECT_TOL; k++) {
        double mid = 0.5 * (lo + hi);
        if (dp_run(d, mid))
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* ---- objectives ---- */

struct goal {
    enum maxband_objective obj;
    double bstar;                /* lexicographic: the primary band (cycles) */
};

/* Objective value for a largest feasible beta, or -1 if infeasible; the
 * split into b and bb in *b, *bb. Non-decreasing in beta, umin, vmin, so
 * relaxed data give an upper bound. */
static double goal_eval(const struct goal *g, double beta, double umin, double vmin,
                        double *b, double *bb)
{
    if (beta < 0)
        return -1;
    switch (g->obj) {
    case MAXBAND_EQUAL: {
        double v = fmin(beta, 2 * fmin(umin, vmin));
        *b = *bb = v / 2;
        return v;
    }
    case MAXBAND_SUM:
        *b = mb_clamp(beta / 2, fmax(0, beta - vmin), fmin(umin, beta));
        *bb = beta - *b;
        return beta;
    case MAXBAND_OUTBOUND:
        if (beta < g->bstar - MB_TOL)
            return -1;
        *b = g->bstar;
        *bb = mb_clamp(beta - g->bstar, 0, vmin);
        return *bb;
    case MAXBAND_INBOUND:
        if (beta < g->bstar - MB_TOL)
            return -1;
        *bb = g->bstar;
        *b = mb_clamp(beta - g->bstar, 0, umin);
        return *b;
    }
    return -1;
}

static double goal_at(struct dp *d, const struct goal *g, double *b, double *bb)
{
    double beta = dp_beta_max(d);
    return goal_eval(g, beta, min_of(d->U, d->n), min_of(d->V, d->n), b, bb);
}

/* ---- search over the cycle ---- */

struct znode {
    double z1, z2, ub;
};

struct zheap {
    struct znode *a;
    size_t n, cap;
};

static int zheap_push(struct zheap *h, struct znode x)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 64;
        struct znode *a = realloc(h->a, cap * sizeof(*a));
        if (a == NULL)
            return -1;
        h->a = a;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0 && h->a[(i - 1) / 2].ub < x.ub) {
        h->a[i] = h->a[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->a[i] = x;
    return 0;
}

static struct znode zheap_pop(struct zheap *h)
{
    struct znode top = h->a[0], x = h->a[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->a[c + 1].ub > h->a[c].ub)
            c++;
        if (h->a[c].ub <= x.ub)
            break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n > 0)
        h->a[i] = x;
    return top;
}

struct zbest {
    double v, z;                 /* v < 0: nothing feasible yet */
};

static void zeval(struct mb_ctx *c, struct dp *d, const struct goal *g, double z,
                  struct zbest *best)
{
    double b, bb;
    dp_at(d, c, z);
    c->solves++;
    double v = goal_at(d, g, &b, &bb);
    if (v > best->v + ARC_EPS) {
        best->v = v;
        best->z = z;
    }
}

static double zbound(struct mb_ctx *c, struct dp *d, const struct goal *g, double z1,
                     double z2)
{
    double b, bb;
    dp_relaxed(d, c, z1, z2);
    c->solves++;
    return goal_at(d, g, &b, &bb);
}

/* Best z in [zl, zr] for goal g. 0 ok (best->v < 0: infeasible
 * everywhere), 1 budget exhausted, -1 error. Shorter cycles are tried
 * first, so ties go to the shorter cycle. */
static int zsearch(struct mb_ctx *c, struct dp *d, const struct goal *g, double zl, double zr,
                   struct zbest *best, char *err, size_t errlen)
{
    best->v = -1;
    best->z = zr;
    zeval(c, d, g, zr, best);
    if (zr - zl <= 0)
        return 0;
    zeval(c, d, g, zl, best);
    struct zheap h = { NULL, 0, 0 };
    int rc = 0;
    size_t nodes = 0;
    if (zheap_push(&h, (struct znode){ zl, zr, zbound(c, d, g, zl, zr) }) != 0) {
        rc = errbuf_fail(err, errlen, "out of memory");
        goto out;
    }
    while (h.n > 0) {
        struct znode x = zheap_pop(&h);
        if (x.ub <= best->v + MB_TOL)
            break;
        if (++nodes > Z_NODES_MAX) {
            rc = 1;
            goto out;
        }
        if (mb_should_stop(c, err, errlen)) {
            rc = -1;
            goto out;
        }
        double zm = 0.5 * (x.z1 + x.z2);
        zeval(c, d, g, zm, best);
        if (zm <= x.z1 || zm >= x.z2)
            continue;                    /* interval at double resolution */
        struct znode kids[2] = { { zm, x.z2, 0 }, { x.z1, zm, 0 } };
        for (int k = 0; k < 2; k++) {
            kids[k].ub = zbound(c, d, g, kids[k].z1, kids[k].z2);
            if (kids[k].ub > best->v + MB_TOL && zheap_push(&h, kids[k]) != 0) {
                rc = errbuf_fail(err, errlen, "out of memory");
                goto out;
            }
        }
    }
out:
    free(h.a);
    return rc;
}

/* ---- one-way bands ---- */

static double envelope_min(const double *a, const double *k, size_t n, double z)
{
    double f = INFINITY;
    for (size_t m = 0; m < n; m++)
        f = fmin(f, a[m] + k[m] * z);
    return f;
}

static void consider(const double *a, const double *k, size_t n, double z, double *best,
                     double *zbest)
{
    double f = envelope_min(a, k, n, z);
    if (f > *best + ARC_EPS || (f > *best - ARC_EPS && z > *zbest)) {
        *best = f;
        *zbest = z;
    }
}

/* max over z of min_i U_i(z) (concave, piecewise linear): *zbest where it
 * is reached (the shortest such cycle) and [*zl, *zr] where it is within
 * MB_TOL. */
static double one_way_best(const struct mb_ctx *c, bool out, double *zbest, double *zl,
                           double *zr)
{
    const struct mb_prep *pr = &c->pr;
    const double *a = out ? pr->ao : pr->ai, *k = out ? pr->co : pr->ci;
    size_t n = pr->n;
    double best = -INFINITY, zmax = pr->fixed_z ? pr->zmin : pr->zmax;
    *zbest = pr->zmin;
    /* The maximum of a lower envelope of lines is at an end of the range
     * or where two lines cross. */
    consider(a, k, n, pr->zmin, &best, zbest);
    consider(a, k, n, zmax, &best, zbest);
    for (size_t i = 0; i < n && !pr->fixed_z; i++) {
        for (size_t j = i + 1; j < n; j++) {
            if (k[i] == k[j])
                continue;
            double z = (a[j] - a[i]) / (k[i] - k[j]);
            if (z > pr->zmin && z < zmax)
                consider(a, k, n, z, &best, zbest);
        }
    }
    *zl = pr->zmin;
    *zr = zmax;
    for (size_t i = 0; i < n; i++) {
        if (k[i] > 0)
            *zl = fmax(*zl, (best - MB_TOL - a[i]) / k[i]);
        else if (k[i] < 0)
            *zr = fmin(*zr, (best - MB_TOL - a[i]) / k[i]);
    }
    if (*zl > *zr)
        *zl = *zr = *zbest;
    return best;
}

/* A one-way solution at z: band b in dir, w = 0, speeds mid-range. */
static void one_way_sol(struct mb_ctx *c, unsigned dir, double z, double bstar)
{
    struct mb_sol *s = &c->s;
    size_t n = c->pr.n;
    s->z = z;
    s->b = dir == MB_DIR_OUT ? bstar : 0;
    s->bb = dir == MB_DIR_IN ? bstar : 0;
    for (size_t i = 0; i < n; i++) {
        s->w[i] = s->ww[i] = 0;
        if (i + 1 < n) {
            const struct maxband_link *l = &c->p->link[i];
            double d = c->pr.d[i] * z;
            s->t[i] = 0.5 * (d / l->out_max_mps + d / l->out_min_mps);
            s->tt[i] = 0.5 * (d / l->in_max_mps + d / l->in_min_mps);
        }
    }
}

/* ---- reading the solution back ---- */

/* Pick x_i from the stored arc sets, last signal first. */
static void backtrack(struct dp *d, double *x)
{
    size_t n = d->n;
    struct arc *L = level(d, n - 1);
    size_t kbest = 0;
    for (size_t k = 1; k < d->cnt[n - 1]; k++)
        if (L[k].l > L[kbest].l)
            kbest = k;
    x[n - 1] = L[kbest].l >= 1 ? 0 : wrap(L[kbest].s + 0.5 * L[kbest].l);
    for (size_t i = n - 1; i-- > 0;) {
        /* x_i in level i and in x_{i+1} - [slo, shi]; aim at mid-range speeds. */
        struct arc T = { wrap(x[i + 1] - d->shi[i]), d->shi[i] - d->slo[i] };
        size_t k = intersect(level(d, i), d->cnt[i], T, d->tmp);
        double aim = wrap(x[i + 1] - 0.5 * (d->slo[i] + d->shi[i])), at = aim;
        if (k > 0)
            nearest(d->tmp, k, aim, &at);
        else
            nearest(level(d, i), d->cnt[i], aim, &at);    /* rounding only */
        x[i] = at;
    }
}

/* Fill c->s from x at z for bands b, bb (beta = b + bb). */
static void sol_from_x(struct mb_ctx *c, struct dp *d, const double *x, double z, double b,
                       double bb)
{
    struct mb_sol *s = &c->s;
    size_t n = d->n;
    double beta = b + bb;
    s->z = z;
    s->b = b;
    s->bb = bb;
    for (size_t i = 0; i < n; i++) {
        /* The representative of x_i nearest the window's middle: inside
         * it even when rounding put x_i a hair outside. */
        double mid = 0.5 * (beta - d->V[i] + d->U[i]);
        double D = x[i] + round(mid - x[i]) - b;        /* in [bb - V_i, U_i - b] */
        s->w[i] = mb_clamp(D, 0, fmax(0, d->U[i] - b));
        s->ww[i] = mb_clamp(s->w[i] - D, 0, fmax(0, d->V[i] - bb));
        if (i + 1 == n)
            break;
        /* x_{i+1} - x_i up to a whole cycle, taken nearest the middle of
         * the link's range (robust to x_i sitting a hair outside). */
        double r = x[i + 1] - x[i], smid = 0.5 * (d->slo[i] + d->shi[i]);
        double sig = mb_clamp(r + round(smid - r), d->slo[i], d->shi[i]);
        const struct maxband_link *l = &c->p->link[i];
        double dz = c->pr.d[i] * z;
        double tlo = dz / l->out_max_mps, thi = dz / l->out_min_mps;
        double ttlo = dz / l->in_max_mps, tthi = dz / l->in_min_mps;
        double span = (thi - tlo) + (tthi - ttlo);
        double lam = span > 0 ? mb_clamp((sig - d->slo[i]) / span, 0, 1) : 0;
        s->t[i] = tlo + lam * (thi - tlo);
        s->tt[i] = ttlo + lam * (tthi - ttlo);
    }
}

/* Two-way solution at z for goal g into c->s; false if infeasible there. */
static bool two_way_at(struct mb_ctx *c, struct dp *d, const struct goal *g, double z,
                       double *x)
{
    double b, bb;
    dp_at(d, c, z);
    if (goal_at(d, g, &b, &bb) < 0)
        return false;
    /* b + bb <= beta*, feasible by monotonicity; back off by a hair
     * should rounding say otherwise. */
    for (int k = 0; k < 8 && !dp_run(d, b + bb); k++) {
        double cut = 1e-12 * (1 << (2 * k));
        if (g->obj == MAXBAND_INBOUND)
            b = fmax(0, b - cut);
        else
            bb = fmax(0, bb - cut);
    }
    if (!dp_run(d, b + bb))
        return false;
    backtrack(d, x);
    sol_from_x(c, d, x, z, b, bb);
    return true;
}

/* ---- entry ---- */

static int finish_one_way(struct mb_ctx *c, struct maxband_result *r)
{
    double zo, zi, l, h;
    double bo = one_way_best(c, true, &zo, &l, &h);
    double bi = one_way_best(c, false, &zi, &l, &h);
    unsigned dir = bi > bo + MB_TOL ? MB_DIR_IN : MB_DIR_OUT;
    one_way_sol(c, dir, dir == MB_DIR_IN ? zi : zo, dir == MB_DIR_IN ? bi : bo);
    mb_extract(c, dir, &c->s, r);
    r->two_way = false;
    return 0;
}

int mb_dp_solve(struct mb_ctx *c, struct maxband_result *r, char *err, size_t errlen)
{
    struct dp d;
    size_t n = c->pr.n;
    if (dp_init(&d, n) != 0)
        return errbuf_fail(err, errlen, "out of memory");
    double *x = calloc(n, sizeof(double));
    int rc = -1;
    if (x == NULL) {
        rc = errbuf_fail(err, errlen, "out of memory");
        goto out;
    }
    struct goal g = { c->p->objective, 0 };
    double zl = c->pr.zmin, zr = c->pr.fixed_z ? c->pr.zmin : c->pr.zmax, zstar;
    unsigned first = 0;
    if (g.obj == MAXBAND_OUTBOUND || g.obj == MAXBAND_INBOUND) {
        first = g.obj == MAXBAND_OUTBOUND ? MB_DIR_OUT : MB_DIR_IN;
        g.bstar = one_way_best(c, first == MB_DIR_OUT, &zstar, &zl, &zr);
    }
    struct zbest best;
    rc = zsearch(c, &d, &g, zl, zr, &best, err, errlen);
    if (rc != 0)
        goto out;
    if (best.v >= 0 && two_way_at(c, &d, &g, best.z, x)) {
        mb_extract(c, MB_DIR_OUT | MB_DIR_IN, &c->s, r);
        r->two_way = true;
    } else if (first) {
        /* No two-way band keeps the primary band at its best. */
        one_way_sol(c, first, zstar, g.bstar);
        mb_extract(c, first, &c->s, r);
        r->two_way = false;
    } else {
        finish_one_way(c, r);
    }
out:
    free(x);
    dp_free(&d);
    return rc;
}
