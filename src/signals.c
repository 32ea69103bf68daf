/* signals.c -- Webster's method and HCM 2000 delay for one intersection.
 *
 * References for the formulas:
 *  - F. V. Webster, "Traffic signal settings", Road Research Technical
 *    Paper 39, HMSO 1958: optimum cycle (1.5L+5)/(1-Y), green split
 *    (y/Y)(C-L), three-term delay.
 *  - Highway Capacity Manual 2000, chapter 16: capacity s g/C, uniform
 *    delay d1, incremental delay d2 (T, k, I), LOS thresholds. */
#include "signals.h"

#include "errbuf.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Below this a flow ratio sum counts as zero (all phases empty). */
#define Y_EPS 1e-12

double signals_webster_cycle(double lost_time_s, double Y)
{
    if (!(Y < 1.0))
        return NAN;
    return (1.5 * lost_time_s + 5.0) / (1.0 - Y);
}

double signals_webster_delay(double cycle_s, double green_s, double flow_vph,
                             double saturation_vph)
{
    if (!(green_s > 0) || !(cycle_s > 0) || !(saturation_vph > 0) || !(flow_vph >= 0))
        return NAN;
    double lambda = green_s / cycle_s;
    double q = flow_vph / 3600.0;
    double x = flow_vph / (lambda * saturation_vph);
    if (x >= 1.0)
        return NAN;
    double d = cycle_s * (1 - lambda) * (1 - lambda) / (2 * (1 - lambda * x));
    if (q > 0) {
        d += x * x / (2 * q * (1 - x));
        /* (C/q^2)^(1/3) x^(2+5l) in logarithms: for a tiny flow q^2
         * underflows while the product itself tends to 0. */
        d -= 0.65 * exp(log(cycle_s) / 3 - 2 * log(q) / 3 + (2 + 5 * lambda) * log(x));
    }
    return d;
}

double signals_hcm_uniform_delay(double cycle_s, double green_s, double X)
{
    double gc = green_s / cycle_s;
    double xm = X < 1.0 ? X : 1.0;
    return 0.5 * cycle_s * (1 - gc) * (1 - gc) / (1 - xm * gc);
}

double signals_hcm_incremental_delay(double X, double capacity_vph, double T_h,
                                     double k, double I)
{
    if (!(capacity_vph > 0))
        return NAN;
    double a = X - 1;
    return 900 * T_h * (a + sqrt(a * a + 8 * k * I * X / (capacity_vph * T_h)));
}

char signals_los(double d)
{
    if (isnan(d))
        return '\0';
    if (d <= 10) return 'A';
    if (d <= 20) return 'B';
    if (d <= 35) return 'C';
    if (d <= 55) return 'D';
    if (d <= 80) return 'E';
    return 'F';
}

double signals_intersection_delay(const struct signals_phase_in *in,
                                  const struct signals_phase_out *out, size_t n)
{
    double sum = 0, w = 0;
    for (size_t i = 0; i < n; i++) {
        double q = in[i].flow_vph;
        if (isnan(q))
            q = out[i].flow_ratio * in[i].saturation_vph;
        if (isnan(q) || isnan(out[i].hcm_delay_s))
            return NAN;
        sum += q * out[i].hcm_delay_s;
        w += q;
    }
    return w > 0 ? sum / w : NAN;
}

double signals_pedestrian_green(double crossing_m)
{
    if (!(crossing_m > 0))
        return 0;
    return SIGNALS_PED_WALK_S + crossing_m / SIGNALS_PED_SPEED_MPS;
}

/* ---- validation ---- */

static bool within(double x, double lo, double hi)
{
    return x >= lo && x <= hi;           /* false for NAN */
}

static int check_phase(const struct signals_phase_in *p, size_t i, char *err, size_t errlen)
{
    bool has_ratio = !isnan(p->flow_ratio);
    if (has_ratio && !within(p->flow_ratio, 0, SIGNALS_RATIO_MAX))
        return errbuf_fail(err, errlen, "phases[%zu].flow_ratio: must be in [0, %g]", i,
                           SIGNALS_RATIO_MAX);
    if (!isnan(p->flow_vph) && !within(p->flow_vph, 0, SIGNALS_FLOW_MAX_VPH))
        return errbuf_fail(err, errlen, "phases[%zu].flow: must be in [0, %g]", i,
                           SIGNALS_FLOW_MAX_VPH);
    if (!isnan(p->saturation_vph) &&
        !within(p->saturation_vph, SIGNALS_SATURATION_MIN_VPH, SIGNALS_FLOW_MAX_VPH))
        return errbuf_fail(err, errlen, "phases[%zu].saturation_flow: must be in [%g, %g]", i,
                           SIGNALS_SATURATION_MIN_VPH, SIGNALS_FLOW_MAX_VPH);
    if (!has_ratio) {
        if (isnan(p->flow_vph))
            return errbuf_fail(err, errlen, "phases[%zu].flow: missing (or give flow_ratio)", i);
        if (isnan(p->saturation_vph))
            return errbuf_fail(err, errlen,
                               "phases[%zu].saturation_flow: missing (or give flow_ratio)", i);
    }
    if (!within(p->min_green_s, 0, SIGNALS_TIME_MAX_S))
        return errbuf_fail(err, errlen, "phases[%zu].min_green_s: must be in [0, %g]", i,
                           SIGNALS_TIME_MAX_S);
    if (!within(p->ped_crossing_m, 0, SIGNALS_CROSSING_MAX_M))
        return errbuf_fail(err, errlen, "phases[%zu].pedestrian_crossing_m: must be in [0, %g]",
                           i, SIGNALS_CROSSING_MAX_M);
    if (!isnan(p->green_s) && !within(p->green_s, SIGNALS_GREEN_MIN_S, SIGNALS_TIME_MAX_S))
        return errbuf_fail(err, errlen, "phases[%zu].green_s: must be in [%g, %g]", i,
                           SIGNALS_GREEN_MIN_S, SIGNALS_TIME_MAX_S);
    return 0;
}

static int check_input(const struct signals_webster_in *in, size_t *ngiven,
                       char *err, size_t errlen)
{
    if (in->nphases == 0 || in->phases == NULL)
        return errbuf_fail(err, errlen, "phases: at least one phase needed");
    if (in->nphases > SIGNALS_MAX_PHASES)
        return errbuf_fail(err, errlen, "phases: at most %d phases", SIGNALS_MAX_PHASES);
    if (!within(in->lost_time_s, 0, SIGNALS_TIME_MAX_S))
        return errbuf_fail(err, errlen, "lost_time_s: must be in [0, %g]", SIGNALS_TIME_MAX_S);
    if (!within(in->cycle_min_s, SIGNALS_GREEN_MIN_S, SIGNALS_TIME_MAX_S))
        return errbuf_fail(err, errlen, "cycle_min_s: must be in (0, %g]", SIGNALS_TIME_MAX_S);
    if (!within(in->cycle_max_s, in->cycle_min_s, SIGNALS_TIME_MAX_S))
        return errbuf_fail(err, errlen, "cycle_max_s: must be at least cycle_min_s, at most %g",
                           SIGNALS_TIME_MAX_S);
    if (!isnan(in->cycle_s) && !(within(in->cycle_s, 0, SIGNALS_TIME_MAX_S) &&
                                 in->cycle_s > in->lost_time_s))
        return errbuf_fail(err, errlen, "cycle_s: must be longer than lost_time_s, at most %g",
                           SIGNALS_TIME_MAX_S);
    *ngiven = 0;
    for (size_t i = 0; i < in->nphases; i++) {
        if (check_phase(&in->phases[i], i, err, errlen) != 0)
            return -1;
        if (!isnan(in->phases[i].green_s))
            (*ngiven)++;
    }
    if (*ngiven != 0 && *ngiven != in->nphases)
        return errbuf_fail(err, errlen, "phases: green_s must be given for every phase or none");
    return 0;
}

/* ---- timing ---- */

static double phase_y(const struct signals_phase_in *p)
{
    return isnan(p->flow_ratio) ? p->flow_vph / p->saturation_vph : p->flow_ratio;
}

static double phase_min_green(const struct signals_phase_in *p)
{
    double ped = signals_pedestrian_green(p->ped_crossing_m);
    return p->min_green_s > ped ? p->min_green_s : ped;
}

int signals_split(size_t n, const double *weight, const double *gmin, double G, double *g)
{
    bool fixed[SIGNALS_MAX_PHASES] = { false };
    double need = 0;
    for (size_t i = 0; i < n; i++)
        need += gmin[i];
    if (n == 0 || n > SIGNALS_MAX_PHASES || need > G + 1e-9)
        return -1;
    /* Each pass fixes at least one more phase, so n passes suffice. */
    bool bound = false;
    for (size_t pass = 0; pass <= n; pass++) {
        double left = G, wsum = 0;
        size_t nfree = 0;
        for (size_t i = 0; i < n; i++) {
            if (fixed[i]) {
                left -= g[i];
            } else {
                wsum += weight[i];
                nfree++;
            }
        }
        if (nfree == 0)
            break;
        bool changed = false;
        for (size_t i = 0; i < n; i++) {
            if (fixed[i])
                continue;
            /* With no demand at all, free phases share equally. */
            g[i] = wsum > Y_EPS ? left * weight[i] / wsum : left / (double)nfree;
        }
        for (size_t i = 0; i < n; i++) {
            if (!fixed[i] && g[i] < gmin[i] - 1e-12) {
                g[i] = gmin[i];
                fixed[i] = true;
                changed = bound = true;
            }
        }
        if (!changed)
            break;
    }
    return bound ? 1 : 0;
}

/* Choose the applied cycle when it is not given. */
static int choose_cycle(const struct signals_webster_in *in, double Y, double *C,
                        char *err, size_t errlen)
{
    double c0 = signals_webster_cycle(in->lost_time_s, Y);
    double c;
    if (isnan(c0)) {
        c = in->cycle_max_s;             /* oversaturated: longest allowed */
    } else {
        /* Up, not to nearest: delay rises more steeply below C0 than above
         * it (Webster 1958), and 1e-9 keeps an exact 58.0 at 58. */
        c = ceil(c0 - 1e-9);
        if (c < in->cycle_min_s) c = in->cycle_min_s;
        if (c > in->cycle_max_s) c = in->cycle_max_s;
    }
    double need = in->lost_time_s;
    for (size_t i = 0; i < in->nphases; i++)
        need += phase_min_green(&in->phases[i]);
    if (c < need - 1e-9) {
        double up = ceil(need - 1e-9);
        if (up > in->cycle_max_s)
            return errbuf_fail(err, errlen,
                               "phases: minimum and pedestrian greens plus lost_time_s need a "
                               "%.0f s cycle, longer than cycle_max_s (%g)", up, in->cycle_max_s);
        c = up;
    }
    if (!(c > in->lost_time_s))
        return errbuf_fail(err, errlen, "cycle_max_s: no longer than lost_time_s");
    *C = c;
    return 0;
}

static void evaluate_phase(const struct signals_phase_in *p, double y, double C, double g,
                           struct signals_phase_out *o)
{
    double lambda = g / C;
    o->flow_ratio = y;
    o->effective_green_s = g;
    o->degree_of_saturation = y == 0 ? 0 : y / lambda;
    double s = p->saturation_vph;
    double q = isnan(p->flow_vph) && !isnan(s) ? y * s : p->flow_vph;
    o->capacity_vph = isnan(s) ? NAN : s * lambda;
    o->webster_delay_s = isnan(q) || isnan(s) ? NAN : signals_webster_delay(C, g, q, s);
    o->hcm_uniform_delay_s = signals_hcm_uniform_delay(C, g, o->degree_of_saturation);
    o->hcm_incremental_delay_s =
        signals_hcm_incremental_delay(o->degree_of_saturation, o->capacity_vph,
                                      SIGNALS_HCM_T_H, SIGNALS_HCM_K, SIGNALS_HCM_I);
    /* PF = 1 (no progression adjustment), d3 = 0 (no initial queue). */
    o->hcm_delay_s = o->hcm_uniform_delay_s + o->hcm_incremental_delay_s;
    o->los = signals_los(o->hcm_delay_s);
}

int signals_webster(const struct signals_webster_in *in, struct signals_webster_out *out,
                    struct signals_phase_out *po, char *err, size_t errlen)
{
    size_t n = in->nphases, ngiven = 0;
    if (check_input(in, &ngiven, err, errlen) != 0)
        return -1;
    double y[SIGNALS_MAX_PHASES], g[SIGNALS_MAX_PHASES];
    double Y = 0, gsum = 0;
    for (size_t i = 0; i < n; i++) {
        y[i] = phase_y(&in->phases[i]);
        Y += y[i];
        if (ngiven)
            gsum += in->phases[i].green_s;
    }
    double C = 0;
    bool bound = false;
    if (!isnan(in->cycle_s))
        C = in->cycle_s;
    else if (ngiven)
        C = in->lost_time_s + gsum;
    else if (choose_cycle(in, Y, &C, err, errlen) != 0)
        return -1;

    if (ngiven) {
        if (gsum + in->lost_time_s > C + 1e-9)
            return errbuf_fail(err, errlen, "phases: green_s sum (%g) plus lost_time_s (%g) "
                               "exceeds cycle_s (%g)", gsum, in->lost_time_s, C);
        for (size_t i = 0; i < n; i++)
            g[i] = in->phases[i].green_s;
    } else {
        double gmin[SIGNALS_MAX_PHASES], need = 0;
        for (size_t i = 0; i < n; i++)
            need += gmin[i] = phase_min_green(&in->phases[i]);
        int rc = signals_split(n, y, gmin, C - in->lost_time_s, g);
        if (rc < 0)
            return errbuf_fail(err, errlen, "cycle_s: minimum and pedestrian greens (%g s) do not "
                               "fit in cycle_s minus lost_time_s (%g s)", need,
                               C - in->lost_time_s);
        bound = rc == 1;
    }

    bool over = Y >= 1.0;
    for (size_t i = 0; i < n; i++) {
        evaluate_phase(&in->phases[i], y[i], C, g[i], &po[i]);
        if (po[i].degree_of_saturation >= 1.0)
            over = true;
    }
    out->Y = Y;
    out->cycle_optimal_s = signals_webster_cycle(in->lost_time_s, Y);
    out->cycle_s = C;
    out->oversaturated = over;
    out->evaluated = ngiven > 0 || !isnan(in->cycle_s);
    out->min_greens_bind = bound;
    return 0;
}
