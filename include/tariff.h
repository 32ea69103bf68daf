/* tariff.h -- parking fees from a lot's tariff (api.md "Tariff").
 *
 * The tariff object: {"free_minutes": 15, "rate_per_hour": 6.0,
 * "unit_minutes": 30, "daily_cap": 40.0, "night": {"from": "22:00",
 * "to": "07:00", "rate_per_hour": 1.0}, "bill_from_entry": false}
 * is held in struct map_tariff (map.h). The rules, in order:
 *
 *  1. Free period: a stay of at most free_minutes costs nothing (exactly
 *     15:00 is free, 15:01 is not).
 *  2. Billing start: by default the free period is deducted, billing
 *     starts at entry + free_minutes ("billed per started unit after the
 *     free period"). With bill_from_entry = true a stay that exceeds the
 *     free period is billed from entry (common Chinese practice:
 *     "超过15分钟从入场时起计费").
 *  3. Units: from the billing start the stay is cut into units of
 *     unit_minutes; every started unit is charged in full.
 *  4. Night rate: a unit is charged at the rate in force at its START, in
 *     local time of parking.timezone: night when the local time of day is
 *     in [from, to) (the interval wraps midnight when from > to), so a
 *     unit starting at 22:00 is a night unit and one starting at 07:00 a
 *     day unit. unit price = rate_per_hour * unit_minutes / 60, rounded
 *     to the fen (0.01).
 *  5. Cap: the stay is cut into 24 h windows counted from ENTRY (not from
 *     midnight); the units starting in a window cost at most daily_cap
 *     together. A window that has reached the cap charges no more units,
 *     so multi-day stays cost at most cap per started 24 h.
 * All money is computed in integer fen; amounts are fen / 100. */
#ifndef CITYD_TARIFF_H
#define CITYD_TARIFF_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "map.h"

struct tz;

/* The most a bill can come to (1e9 of the currency, in fen): a stay
 * whose fee reaches it, or that would take too much work to bill unit by
 * unit, is billed this much with `saturated` set. Nothing is ever billed
 * less than its fee because it is long. */
#define TARIFF_MAX_FEN 100000000000LL

struct tariff_bill {
    long long fen;              /* what is due */
    long long units_day;        /* units charged at the day rate (before caps) */
    long long units_night;      /* units charged at the night rate */
    int windows;                /* 24 h windows in which a charged unit starts */
    int windows_capped;         /* windows whose charge hit daily_cap */
    bool free;                  /* within the free period */
    bool saturated;             /* fen is TARIFF_MAX_FEN, not the exact fee */
};

/* Fee for a stay from entry to exit (epoch seconds) under t, with night
 * hours in zone z (z may be NULL when t has no night rate). A tariff that
 * is not present costs nothing. Any length of stay is billed: 24 h
 * windows that cost the same are charged without walking their units
 * again, so decades take milliseconds; past a work bound or
 * TARIFF_MAX_FEN the bill saturates (see above). Returns 0, or -1 with
 * err for exit before entry or non-finite times. */
int tariff_fee(const struct map_tariff *t, const struct tz *z, double entry, double exit,
               struct tariff_bill *out, char *err, size_t errlen);

/* Parse the api.md tariff object into t (present = true). Missing
 * free_minutes is 0, unit_minutes 60, daily_cap none; rate_per_hour is
 * required. Returns 0, or -1 with err naming the field ("tariff.night.from:
 * ..."); t is untouched on error. `field` prefixes messages (e.g. "tariff"). */
int tariff_from_json(const json_t *j, const char *field, struct map_tariff *t,
                     char *err, size_t errlen);
/* The object back (new reference), or JSON null when not present. */
json_t *tariff_to_json(const struct map_tariff *t);

/* Fen as a JSON-friendly decimal number. */
double tariff_amount(long long fen);
/* A decimal amount to fen; -1 when negative, not finite, too large or
 * finer than a fen (more than 2 decimals). */
long long tariff_fen(double amount);

#endif
