/* forecast.c -- a lot's occupancy forecast: hour-of-week profile, the
 * current deviation decaying with the horizon, an 80 % interval from
 * standardised residual quantiles, all learned online (forecast.h). */
#include "forecast.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tz.h"

/* Shrinkage: a cell counts as this many grid points of its hour of day,
 * an hour of day as this many of the lot's mean. */
#define K_CELL 4.0
#define K_HOUR 2.0
#define BORROWED 0.5                  /* trust in a shape borrowed from other days (a priori: half) */
#define HOUR_N 32                     /* grid points an hour of day remembers */
#define LOT_N 2000                    /* ... the lot's mean (three weeks) */
#define PRIOR_VAR 0.0625              /* spread before any data (sd 0.25) */
#define SPREAD_FLOOR 0.03             /* sd added to every cell's: counts are whole cars */
#define RHO_TAU_S 7200.0              /* prior decay of the deviation; and beyond 4 h */
#define PRIOR_W 0.05                  /* prior weight, in squared deviations */
#define LAG_FORGET (1.0 - 1.0 / 2000) /* lag statistics remember about three weeks */
#define Q_LO 0.07                     /* 86 %: chosen on Birmingham, where 80 % covered 71-74 % */
#define Q_HI 0.93
#define Q_START 2.5                   /* standardised half-width before any residual */
#define ETA_MIN 0.02                  /* quantile step once settled */
#define INTERP_S 2400.0               /* observations this close: interpolate between */
#define RECENT_FORGET (1.0 - 1.0 / 12) /* "recent" errors: the last three hours or so */
#define EPOCH_MONDAY_DAYS 4           /* 1970-01-05 was a Monday */

struct lag {
    float s[5];                       /* sums of DD, Dd, dd, Dz, dz (see lags) */
    float qlo, qhi;                   /* standardised residual quantiles */
    float em, ep;                     /* recent mean absolute error: model, persistence */
    uint32_t n;
};

struct ring_entry {
    int64_t g;                        /* grid index, -1: empty */
    float y, p;                       /* grid value, profile then */
};

struct forecast {
    double t_last;                    /* NAN: never observed */
    float y_last;
    int64_t next_g;                   /* next grid index to learn */
    uint64_t points;
    float lot_mean, lot_var;
    uint32_t lot_n;
    uint16_t cm[FORECAST_CELLS], cs[FORECAST_CELLS];   /* mean, sd in 1/65535 */
    uint8_t cn[FORECAST_CELLS];
    uint16_t hm[24], hs[24];
    uint8_t hn[24];
    struct lag lag[FORECAST_LAGS];
    struct ring_entry ring[FORECAST_LAGS];
    /* review periods: [0] current, [1] previous */
    double period_s;
    int64_t pidx[2];
    float psum[2][24];
    uint16_t pn[2][24];
};

static double clamp01(double v)
{
    return v < 0 ? 0 : v > 1 ? 1 : v;
}

static void lags_reset(struct forecast *f)
{
    for (int k = 0; k < FORECAST_LAGS; k++) {
        f->lag[k] = (struct lag){.qlo = -Q_START, .qhi = Q_START};
        f->ring[k] = (struct ring_entry){.g = -1};
    }
}

struct forecast *forecast_new(void)
{
    struct forecast *f = calloc(1, sizeof *f);
    if (f == NULL)
        return NULL;
    f->t_last = NAN;
    f->pidx[0] = f->pidx[1] = INT64_MIN;
    lags_reset(f);
    return f;
}

void forecast_free(struct forecast *f)
{
    free(f);
}

double forecast_last_ts(const struct forecast *f)
{
    return f->t_last;
}

double forecast_last_occ(const struct forecast *f)
{
    return isnan(f->t_last) ? NAN : f->y_last;
}

uint64_t forecast_points(const struct forecast *f)
{
    return f->points;
}

/* ---- time ---- */

/* floor(x) as an integer, saturated far inside int64_t: times come from
 * outside (at=, replayed feeds) and may be anything finite. */
static int64_t floor_i64(double x)
{
    double f = floor(x);
    return f < -1e18 ? (int64_t)-1e18 : f > 1e18 ? (int64_t)1e18 : (int64_t)f;
}

static double local_ts(const struct forecast_config *c, double ts)
{
    return ts + (c->tz ? tz_offset_at(c->tz, floor_i64(ts)) : 0);
}

/* Hours since Monday 00:00 local, in [0, 168). */
static double hour_of_week(const struct forecast_config *c, double ts)
{
    double l = local_ts(c, ts) - EPOCH_MONDAY_DAYS * 86400.0;
    double w = fmod(l, 7 * 86400.0);
    if (w < 0)
        w += 7 * 86400.0;
    return w / 3600.0;
}

/* ---- profile ---- */

static double u16(uint16_t v)
{
    return v / 65535.0;
}

static uint16_t to_u16(double v)
{
    return (uint16_t)lround(clamp01(v) * 65535.0);
}

/* Running mean and variance over at most cap points, in 16-bit fixed point. */
static void cell_learn(uint16_t *m, uint16_t *s, uint8_t *n, int cap, double y)
{
    double mean = u16(*m), var = u16(*s) * u16(*s);
    int nn = *n < cap ? *n + 1 : cap;
    double a = 1.0 / nn, d = y - mean;
    mean += a * d;
    var = (1 - a) * (var + a * d * d);
    *m = to_u16(mean);
    *s = to_u16(sqrt(var));
    *n = (uint8_t)nn;
}

/* Mean and variance of cell c, shrunk towards its hour, which is shrunk
 * towards the lot; *own says whether the cell has seen its hour (0 never,
 * 1 once it holds an hour of its own grid points). */
static void cell_est(const struct forecast *f, int c, double *m, double *v, double *own)
{
    int h = c % 24;
    double lm = f->lot_mean, lv = f->lot_var;
    double hn = f->hn[h], cn = f->cn[c];
    double hm = (hn * u16(f->hm[h]) + K_HOUR * lm) / (hn + K_HOUR);
    double hv = (hn * u16(f->hs[h]) * u16(f->hs[h]) + K_HOUR * lv) / (hn + K_HOUR);
    *m = (cn * u16(f->cm[c]) + K_CELL * hm) / (cn + K_CELL);
    *v = (cn * u16(f->cs[c]) * u16(f->cs[c]) + K_CELL * hv) / (cn + K_CELL);
    *own = fmin(1.0, cn * FORECAST_STEP_S / 3600.0);
}

/* The profile at t, linear between cell centres; false with no history.
 * *rel: how far to trust it, from how much of it is the hour of the
 * week's own history rather than borrowed from other days (a Sunday
 * after weekdays only, a weekday's first week): BORROWED for a cell never
 * seen, 1 once it has an hour of its own. */
static bool profile_at(const struct forecast *f, const struct forecast_config *c, double t,
                       double *m, double *v, double *rel)
{
    if (f->lot_n == 0)
        return false;
    double u = hour_of_week(c, t) - 0.5;
    double c0 = floor(u), w = u - c0;
    int i0 = ((int)c0 + FORECAST_CELLS) % FORECAST_CELLS, i1 = (i0 + 1) % FORECAST_CELLS;
    double m0, v0, o0, m1, v1, o1;
    cell_est(f, i0, &m0, &v0, &o0);
    cell_est(f, i1, &m1, &v1, &o1);
    *m = (1 - w) * m0 + w * m1;
    *v = (1 - w) * v0 + w * v1;
    double own = (1 - w) * o0 + w * o1;
    *rel = own + BORROWED * (1 - own);
    return true;
}

double forecast_profile(const struct forecast *f, const struct forecast_config *c, double t)
{
    double m, v, rel;
    return profile_at(f, c, t, &m, &v, &rel) ? m : NAN;
}

static double spread(double v)
{
    return sqrt(v + SPREAD_FLOOR * SPREAD_FLOOR);
}

/* ---- lags ----
 *
 * For a lag of k grid steps the change y(T) - y(t) is regressed on the
 * profile's change D = P(T) - P(t) and the deviation d = y(t) - P(t):
 *   y(T) = y(t) + alpha D + gamma d
 * (alpha = 1, gamma = rho - 1 is "profile plus decaying deviation"; a
 * profile that is not yet to be trusted -- a weekend after weekdays only
 * -- earns a smaller alpha, and the forecast leans on persistence). Ridge
 * priors pull towards alpha 1 and gamma = exp(-h / 2 h) - 1. */

static void lag_coef(const struct lag *l, int k, double *alpha, double *gamma)
{
    double g0 = exp(-(double)k * FORECAST_STEP_S / RHO_TAU_S) - 1;
    double a11 = l->s[0] + PRIOR_W, a12 = l->s[1], a22 = l->s[2] + PRIOR_W;
    double b1 = l->s[3] + PRIOR_W * 1.0, b2 = l->s[4] + PRIOR_W * g0;
    double det = a11 * a22 - a12 * a12;
    double al = (b1 * a22 - b2 * a12) / det, ga = (a11 * b2 - a12 * b1) / det;
    *alpha = al < 0 ? 0 : al > 1.5 ? 1.5 : al;
    *gamma = ga < -1 ? -1 : ga > 0 ? 0 : ga;
}

/* How far to trust the model over persistence, from their recent errors:
 * a day unlike the profile (a weekend after weekdays only, a holiday, an
 * event) makes the profile's change wrong for hours, and the forecast
 * then leans on the current value until the profile does better again.
 * Fourth powers: a model twice as good gets 94 % of the weight. */
static double lag_trust(const struct lag *l)
{
    double m = (double)l->em * l->em, p = (double)l->ep * l->ep;
    m *= m;
    p *= p;
    return m + p > 0 ? p / (m + p) : 0.5;
}

/* alpha, gamma, qlo, qhi and trust at horizon h (seconds), interpolated
 * between lags; gamma and the quantiles are 0 at h = 0. */
static void lag_at(const struct forecast *f, double h, double c[5])
{
    double k = h / FORECAST_STEP_S;
    if (k >= FORECAST_LAGS) {
        const struct lag *l = &f->lag[FORECAST_LAGS - 1];
        double beyond = h - (double)FORECAST_LAGS * FORECAST_STEP_S;
        lag_coef(l, FORECAST_LAGS, &c[0], &c[1]);
        c[1] = (1 + c[1]) * exp(-beyond / RHO_TAU_S) - 1;
        c[2] = l->qlo;
        c[3] = l->qhi;
        c[4] = lag_trust(l);
        return;
    }
    int k0 = (int)floor(k);
    double w = k - k0, c0[5] = {0, 0, 0, 0, 0}, c1[5];
    const struct lag *l1 = &f->lag[k0];
    lag_coef(l1, k0 + 1, &c1[0], &c1[1]);
    c1[2] = l1->qlo;
    c1[3] = l1->qhi;
    c1[4] = lag_trust(l1);
    if (k0 > 0) {
        const struct lag *l = &f->lag[k0 - 1];
        lag_coef(l, k0, &c0[0], &c0[1]);
        c0[2] = l->qlo;
        c0[3] = l->qhi;
        c0[4] = lag_trust(l);
    } else {
        c0[0] = c1[0];
        c0[4] = c1[4];
    }
    for (int i = 0; i < 5; i++)
        c[i] = (1 - w) * c0[i] + w * c1[i];
}

static int slot(int64_t g)
{
    return (int)(((g % FORECAST_LAGS) + FORECAST_LAGS) % FORECAST_LAGS);
}

/* Grid point g has value y, the profile there m (variance v): score the
 * forecasts the earlier grid points would have made for it, and learn. */
static void lags_learn(struct forecast *f, int64_t g, double y, double m, double v, double rel)
{
    double s = spread(v);
    for (int k = 1; k <= FORECAST_LAGS; k++) {
        const struct ring_entry *e = &f->ring[slot(g - k)];
        if (e->g != g - k)
            continue;
        struct lag *l = &f->lag[k - 1];
        double dp = m - e->p, d = e->y - e->p, z = y - e->y, al, ga;
        lag_coef(l, k, &al, &ga);
        double pm = al * dp + ga * d, tr = lag_trust(l);
        double r = (z - rel * tr * pm) / s;
        l->em = (float)(RECENT_FORGET * l->em + (1 - RECENT_FORGET) * fabs(z - pm));
        l->ep = (float)(RECENT_FORGET * l->ep + (1 - RECENT_FORGET) * fabs(z));
        double eta = 10.0 / (l->n + 20.0);  /* fast from a wide start, then settled */
        if (eta < ETA_MIN)
            eta = ETA_MIN;
        l->qlo += (float)(eta * (Q_LO - (r < l->qlo)));
        l->qhi += (float)(eta * (Q_HI - (r < l->qhi)));
        const double x[5] = {dp * dp, dp * d, d * d, dp * z, d * z};
        for (int i = 0; i < 5; i++)
            l->s[i] = (float)(LAG_FORGET * l->s[i] + x[i]);
        l->n++;
    }
    f->ring[slot(g)] = (struct ring_entry){.g = g, .y = (float)y, .p = (float)m};
}

/* ---- review periods ---- */

static int64_t period_index(const struct forecast_config *c, double ts)
{
    double l = local_ts(c, ts) - EPOCH_MONDAY_DAYS * 86400.0;
    return floor_i64(l / c->period_s);
}

static void period_learn(struct forecast *f, const struct forecast_config *c, double t, double y)
{
    if (f->period_s != c->period_s) {
        f->period_s = c->period_s;
        f->pidx[0] = f->pidx[1] = INT64_MIN;
    }
    int64_t p = period_index(c, t);
    if (p > f->pidx[0]) {
        if (f->pidx[0] != INT64_MIN && p == f->pidx[0] + 1) {
            memcpy(f->psum[1], f->psum[0], sizeof f->psum[0]);
            memcpy(f->pn[1], f->pn[0], sizeof f->pn[0]);
            f->pidx[1] = f->pidx[0];
        } else {
            memset(f->psum[1], 0, sizeof f->psum[1]);
            memset(f->pn[1], 0, sizeof f->pn[1]);
            f->pidx[1] = p - 1;
        }
        memset(f->psum[0], 0, sizeof f->psum[0]);
        memset(f->pn[0], 0, sizeof f->pn[0]);
        f->pidx[0] = p;
    }
    if (p != f->pidx[0])
        return;
    int h = (int)floor(fmod(hour_of_week(c, t), 24.0));
    if (f->pn[0][h] < UINT16_MAX) {
        f->psum[0][h] += (float)y;
        f->pn[0][h]++;
    }
}

double forecast_period_start(const struct forecast_config *c, double now)
{
    int64_t want = period_index(c, now) - 1;
    double off = local_ts(c, now) - now;
    return (double)want * c->period_s + EPOCH_MONDAY_DAYS * 86400.0 - off;
}

double forecast_period_mean(const struct forecast *f, const struct forecast_config *c,
                            double now, uint32_t hours_mask, double *coverage)
{
    int64_t want = period_index(c, now) - 1;
    *coverage = 0;
    if (f->period_s != c->period_s)
        return NAN;
    for (int i = 0; i < 2; i++) {
        if (f->pidx[i] != want)
            continue;
        double sum = 0, n = 0;
        int hours = 0;
        for (int h = 0; h < 24; h++) {
            if (!(hours_mask >> h & 1))
                continue;
            hours++;
            sum += f->psum[i][h];
            n += f->pn[i][h];
        }
        double expect = c->period_s / FORECAST_STEP_S * hours / 24.0;
        *coverage = expect > 0 ? fmin(1.0, n / expect) : 0;
        return n > 0 ? sum / n : NAN;
    }
    return NAN;
}

/* ---- learning ---- */

static void grid_learn(struct forecast *f, const struct forecast_config *c, int64_t g, double y)
{
    double t = (double)g * FORECAST_STEP_S, m, v, rel;
    if (profile_at(f, c, t, &m, &v, &rel))
        lags_learn(f, g, y, m, v, rel);
    int how = (int)floor(hour_of_week(c, t)) % FORECAST_CELLS;
    cell_learn(&f->cm[how], &f->cs[how], &f->cn[how], FORECAST_CELL_N, y);
    cell_learn(&f->hm[how % 24], &f->hs[how % 24], &f->hn[how % 24], HOUR_N, y);
    uint32_t n = f->lot_n < LOT_N ? f->lot_n + 1 : LOT_N;
    double a = 1.0 / n, d = y - f->lot_mean;
    f->lot_mean = (float)(f->lot_mean + a * d);
    f->lot_var = (float)((1 - a) * (f->lot_var + a * d * d));
    if (f->lot_n == 0)
        f->lot_var = (float)PRIOR_VAR;       /* one point says nothing of spread */
    f->lot_n = n;
    f->points++;
    period_learn(f, c, t, y);
}

void forecast_observe(struct forecast *f, const struct forecast_config *c, double ts,
                      double occ)
{
    if (!(ts >= 0 && ts <= FORECAST_TS_MAX) || !isfinite(occ) ||
        (!isnan(f->t_last) && ts < f->t_last))
        return;
    occ = clamp01(occ);
    int64_t g_ts = floor_i64(ts / FORECAST_STEP_S);  /* the grid point at or before ts */
    if (isnan(f->t_last)) {
        f->next_g = g_ts;
    } else {
        /* Grid points before ts: between observations close together the
         * value moved from one to the other (a sampled series); after a
         * longer silence it is the last value (a counter reporting
         * changes), carried forward up to the gap. */
        int64_t g_gap = floor_i64((f->t_last + FORECAST_GAP_S) / FORECAST_STEP_S);
        double span = ts - f->t_last;
        for (; f->next_g <= g_gap && (double)f->next_g * FORECAST_STEP_S < ts; f->next_g++) {
            double w = span <= INTERP_S ? ((double)f->next_g * FORECAST_STEP_S - f->t_last) / span
                                        : 0;
            grid_learn(f, c, f->next_g, f->y_last + w * (occ - f->y_last));
        }
        if ((double)f->next_g * FORECAST_STEP_S < ts)
            f->next_g = g_ts;                /* a gap: nothing known in between */
    }
    if ((double)f->next_g * FORECAST_STEP_S == ts) {
        grid_learn(f, c, f->next_g, occ);    /* exactly on a grid point */
        f->next_g++;
    } else if (f->next_g <= g_ts) {
        f->next_g = g_ts + 1;
    }
    f->t_last = ts;
    f->y_last = (float)occ;
}

/* ---- forecasting ---- */

void forecast_at(const struct forecast *f, const struct forecast_config *c, double target,
                 struct forecast_point *out)
{
    if (isnan(f->t_last)) {
        *out = (struct forecast_point){NAN, 0, 1};
        return;
    }
    double h = target > f->t_last ? target - f->t_last : 0;
    double m0, v0, r0, mt, vt, rel, cf[5];
    if (!profile_at(f, c, f->t_last, &m0, &v0, &r0) ||
        !profile_at(f, c, f->t_last + h, &mt, &vt, &rel)) {
        m0 = mt = f->y_last;                 /* no profile yet: persistence */
        vt = PRIOR_VAR;
        rel = 1;
    }
    lag_at(f, h, cf);
    double y = f->y_last;
    double occ = clamp01(y + rel * cf[4] * (cf[0] * (mt - m0) + cf[1] * (y - m0)));
    double s = spread(vt);
    out->occ = occ;
    double qlo = cf[2], qhi = cf[3];
    out->lo = fmin(occ, clamp01(occ + qlo * s));
    out->hi = fmax(occ, clamp01(occ + qhi * s));
}

/* ---- serialisation ---- */

#define MAGIC "cfc2"

struct wr {
    unsigned char *p, *end;
    bool ok;
};

static void w_bytes(struct wr *w, const void *v, size_t n)
{
    if (!w->ok || (size_t)(w->end - w->p) < n) {
        w->ok = false;
        return;
    }
    memcpy(w->p, v, n);
    w->p += n;
}

static void w_u64(struct wr *w, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    w_bytes(w, b, 8);
}

static void w_u32(struct wr *w, uint32_t v)
{
    unsigned char b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    w_bytes(w, b, 4);
}

static void w_u16(struct wr *w, uint16_t v)
{
    unsigned char b[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    w_bytes(w, b, 2);
}

static void w_f32(struct wr *w, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    w_u32(w, u);
}

static void w_f64(struct wr *w, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    w_u64(w, u);
}

struct rdr {
    const unsigned char *p, *end;
    bool ok;
};

static void r_bytes(struct rdr *r, void *v, size_t n)
{
    if (!r->ok || (size_t)(r->end - r->p) < n) {
        r->ok = false;
        memset(v, 0, n);
        return;
    }
    memcpy(v, r->p, n);
    r->p += n;
}

static uint64_t r_u64(struct rdr *r)
{
    unsigned char b[8];
    uint64_t v = 0;
    r_bytes(r, b, 8);
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

static uint32_t r_u32(struct rdr *r)
{
    unsigned char b[4];
    r_bytes(r, b, 4);
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint16_t r_u16(struct rdr *r)
{
    unsigned char b[2];
    r_bytes(r, b, 2);
    return (uint16_t)(b[0] | b[1] << 8);
}

static float r_f32(struct rdr *r)
{
    uint32_t u = r_u32(r);
    float v;
    memcpy(&v, &u, 4);
    return v;
}

static double r_f64(struct rdr *r)
{
    uint64_t u = r_u64(r);
    double v;
    memcpy(&v, &u, 8);
    return v;
}

/* One walk over the fields for both directions keeps them in step. */
#define FIELDS(X)                                                                              \
    X(f64, f->t_last) X(f32, f->y_last) X(u64, f->next_g) X(u64, f->points)                    \
    X(f32, f->lot_mean) X(f32, f->lot_var) X(u32, f->lot_n) X(f64, f->period_s)               \
    X(u64, f->pidx[0]) X(u64, f->pidx[1])

size_t forecast_save(const struct forecast *f, unsigned char *buf, size_t len)
{
    struct wr w = {buf, buf + len, true};
    w_bytes(&w, MAGIC, 4);
#define W(kind, v) w_##kind(&w, v);
    FIELDS(W)
#undef W
    for (int i = 0; i < FORECAST_CELLS; i++) {
        w_u16(&w, f->cm[i]);
        w_u16(&w, f->cs[i]);
        w_bytes(&w, &f->cn[i], 1);
    }
    for (int i = 0; i < 24; i++) {
        w_u16(&w, f->hm[i]);
        w_u16(&w, f->hs[i]);
        w_bytes(&w, &f->hn[i], 1);
        for (int p = 0; p < 2; p++) {
            w_f32(&w, f->psum[p][i]);
            w_u16(&w, f->pn[p][i]);
        }
    }
    for (int k = 0; k < FORECAST_LAGS; k++) {
        const struct lag *l = &f->lag[k];
        for (int i = 0; i < 5; i++)
            w_f32(&w, l->s[i]);
        w_f32(&w, l->qlo);
        w_f32(&w, l->qhi);
        w_f32(&w, l->em);
        w_f32(&w, l->ep);
        w_u32(&w, l->n);
        w_u64(&w, (uint64_t)f->ring[k].g);
        w_f32(&w, f->ring[k].y);
        w_f32(&w, f->ring[k].p);
    }
    return w.ok ? (size_t)(w.p - buf) : 0;
}

struct forecast *forecast_load(const unsigned char *buf, size_t len)
{
    struct rdr r = {buf, buf + len, true};
    char magic[4];
    r_bytes(&r, magic, 4);
    if (!r.ok || memcmp(magic, MAGIC, 4) != 0)
        return NULL;
    struct forecast *f = forecast_new();
    if (f == NULL)
        return NULL;
#define R(kind, v) v = (__typeof__(v))r_##kind(&r);
    FIELDS(R)
#undef R
    for (int i = 0; i < FORECAST_CELLS; i++) {
        f->cm[i] = r_u16(&r);
        f->cs[i] = r_u16(&r);
        r_bytes(&r, &f->cn[i], 1);
    }
    for (int i = 0; i < 24; i++) {
        f->hm[i] = r_u16(&r);
        f->hs[i] = r_u16(&r);
        r_bytes(&r, &f->hn[i], 1);
        for (int p = 0; p < 2; p++) {
            f->psum[p][i] = r_f32(&r);
            f->pn[p][i] = r_u16(&r);
        }
    }
    for (int k = 0; k < FORECAST_LAGS; k++) {
        struct lag *l = &f->lag[k];
        for (int i = 0; i < 5; i++)
            l->s[i] = r_f32(&r);
        l->qlo = r_f32(&r);
        l->qhi = r_f32(&r);
        l->em = r_f32(&r);
        l->ep = r_f32(&r);
        l->n = r_u32(&r);
        f->ring[k].g = (int64_t)r_u64(&r);
        f->ring[k].y = r_f32(&r);
        f->ring[k].p = r_f32(&r);
    }
    /* a blob from elsewhere must not make the model misbehave */
    bool sane = r.ok && r.p == r.end && (isnan(f->t_last) || isfinite(f->t_last)) &&
                isfinite(f->y_last) && f->lot_n <= LOT_N && isfinite(f->lot_mean) &&
                isfinite(f->lot_var) && (f->period_s == 0 || f->period_s > 0);
    for (int i = 0; sane && i < FORECAST_CELLS; i++)
        sane = f->cn[i] <= FORECAST_CELL_N;
    for (int i = 0; sane && i < 24; i++)
        sane = f->hn[i] <= HOUR_N && isfinite(f->psum[0][i]) && isfinite(f->psum[1][i]);
    for (int k = 0; sane && k < FORECAST_LAGS; k++)
        sane = isfinite(f->lag[k].s[0]) && isfinite(f->lag[k].s[1]) && f->lag[k].s[0] >= 0 &&
               isfinite(f->lag[k].s[2]) && f->lag[k].s[2] >= 0 && isfinite(f->lag[k].s[3]) &&
               isfinite(f->lag[k].s[4]) && isfinite(f->lag[k].qlo) && isfinite(f->lag[k].qhi) &&
               isfinite(f->lag[k].em) && f->lag[k].em >= 0 && isfinite(f->lag[k].ep) &&
               f->lag[k].ep >= 0 &&
               isfinite(f->ring[k].y) && isfinite(f->ring[k].p);
    if (!sane) {
        forecast_free(f);
        return NULL;
    }
    return f;
}
