/* pricing.c -- SFpark's rule: raise above the target band, lower below,
 * one fixed step per review period, within bounds (pricing.h). */
#include "pricing.h"

#include <math.h>
#include <stdio.h>

enum pricing_action pricing_advise(const struct pricing_rule *r, double occ, double rate,
                                   double *advised, char *reason, size_t len)
{
    /* compare what is shown: occupancy to 0.1 %, money in cents */
    long long o = llround(occ * 1000), lo = llround(r->low * 1000), hi = llround(r->high * 1000);
    long long c = llround(rate * 100), step = llround(r->step * 100);
    long long cmin = llround(r->min_rate * 100), cmax = llround(r->max_rate * 100);
    long long want = c;
    enum pricing_action act = PRICING_HOLD;
    if (o > hi) {
        act = PRICING_RAISE;
        want = c + step;
    } else if (o < lo) {
        act = PRICING_LOWER;
        want = c - step;
    }
    long long got = want < cmin ? cmin : want > cmax ? cmax : want;
    *advised = (double)got / 100.0;
    if (act == PRICING_RAISE && got <= c)
        snprintf(reason, len, "occupancy %.1f %% is above the %.0f %% target, but the rate is "
                 "at the upper bound %.2f", o / 10.0, hi / 10.0, r->max_rate);
    else if (act == PRICING_LOWER && got >= c)
        snprintf(reason, len, "occupancy %.1f %% is below the %.0f %% target, but the rate is "
                 "at the lower bound %.2f", o / 10.0, lo / 10.0, r->min_rate);
    else if (act == PRICING_RAISE)
        snprintf(reason, len, "occupancy %.1f %% is above the %.0f %% target: raise by %.2f",
                 o / 10.0, hi / 10.0, (double)(got - c) / 100.0);
    else if (act == PRICING_LOWER)
        snprintf(reason, len, "occupancy %.1f %% is below the %.0f %% target: lower by %.2f",
                 o / 10.0, lo / 10.0, (double)(c - got) / 100.0);
    else if (got != c)
        snprintf(reason, len, "occupancy %.1f %% is on target; the rate is brought within "
                 "the bounds %.2f-%.2f", o / 10.0, r->min_rate, r->max_rate);
    else
        snprintf(reason, len, "occupancy %.1f %% is within the %.0f-%.0f %% target: keep",
                 o / 10.0, lo / 10.0, hi / 10.0);
    if (act == PRICING_RAISE && got <= c)
        act = PRICING_HOLD;
    if (act == PRICING_LOWER && got >= c)
        act = PRICING_HOLD;
    return act;
}
