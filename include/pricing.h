/* pricing.h -- demand-responsive price advice, SFpark's rule (plain C).
 *
 * Over a review period a lot's mean occupancy (to the 0.1 %, as shown)
 * above `high` (80 %) advises raising its hourly rate by one step, below
 * `low` (60 %) lowering it by one step, in between keeping it; the advice
 * never leaves [min_rate, max_rate] (a rate outside is brought inside).
 * Exactly 60 % and exactly 80 % are on target. Money is handled in cents
 * (1/100 of the currency). Advice only: nothing here changes a tariff. */
#ifndef CITYD_PRICING_H
#define CITYD_PRICING_H

#include <stddef.h>

struct pricing_rule {
    double low, high;                 /* target band, shares (0.60, 0.80) */
    double step;                      /* per review period, currency/h */
    double min_rate, max_rate;        /* bounds, currency/h */
};

enum pricing_action { PRICING_HOLD = 0, PRICING_RAISE, PRICING_LOWER };

/* The advised rate for `rate` at mean occupancy occ (a share); reason
 * gets one sentence saying why. occ must be finite. */
enum pricing_action pricing_advise(const struct pricing_rule *r, double occ, double rate,
                                   double *advised, char *reason, size_t len);

#endif
