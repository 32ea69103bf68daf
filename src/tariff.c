/* tariff.c -- parking fees: free period, started units, night rate by
 * local time of the unit's start, cap per 24 h from entry (rules in
 * tariff.h). Pure computation over struct map_tariff and a struct tz. */
#include "tariff.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tz.h"

/* Slack when counting started units, so that float noise in fractional
 * timestamps never starts a unit one microsecond early. */
#define UNIT_EPS 1e-6
/* More units than this in one stay is a tariff/stay mistake, not a bill. */
#define MAX_UNITS 20000000LL
#define MAX_FEN 100000000000LL       /* 1e9 of the currency */

double tariff_amount(long long fen)
{
    return (double)fen / 100.0;
}

long long tariff_fen(double amount)
{
    if (!isfinite(amount) || amount < 0 || amount > (double)MAX_FEN / 100)
        return -1;
    double f = amount * 100.0;
    double r = nearbyint(f);
    if (fabs(f - r) > 1e-6 * (1 + fabs(f)))   /* 0.005 is not a fen amount */
        return -1;
    return (long long)r;
}

static bool is_night(const struct map_tariff *t, const struct tz *z, double ts)
{
    int64_t s = (int64_t)floor(ts);
    int64_t local = s + (z ? tz_offset_at(z, s) : 0);
    int64_t sod = ((local % 86400) + 86400) % 86400;
    int64_t from = (int64_t)t->night_from_min * 60, to = (int64_t)t->night_to_min * 60;
    return from < to ? (sod >= from && sod < to) : (sod >= from || sod < to);
}

static long long unit_fen(double rate_per_hour, double unit_minutes)
{
    return llround(rate_per_hour * unit_minutes / 60.0 * 100.0);
}

/* Units are numbered from the billing start s0; unit i starts at
 * s0 + i * unit_s. Walk them window by window, skipping the rest of a
 * window once it is capped. */
static void bill_units(const struct map_tariff *t, const struct tz *z, double entry, double s0,
                       long long nunits, struct tariff_bill *b)
{
    double unit_s = t->unit_minutes * 60.0;
    long long day_fen = unit_fen(t->rate_per_hour, t->unit_minutes);
    long long night_fen = t->has_night ? unit_fen(t->night_rate_per_hour, t->unit_minutes) : day_fen;
    long long cap = t->daily_cap > 0 ? llround(t->daily_cap * 100.0) : -1;
    long long win = -1, win_fen = 0;
    for (long long i = 0; i < nunits; i++) {
        double start = s0 + (double)i * unit_s;
        long long w = (long long)floor((start - entry) / 86400.0);
        if (w != win) {
            b->fen += win_fen;
            win = w, win_fen = 0;
            b->windows++;
        }
        bool night = t->has_night && is_night(t, z, start);
        win_fen += night ? night_fen : day_fen;
        if (night)
            b->units_night++;
        else
            b->units_day++;
        if (cap >= 0 && win_fen >= cap) {
            win_fen = cap;
            b->windows_capped++;
            /* next unit: the first one starting in window w + 1 */
            double next = entry + (double)(w + 1) * 86400.0;
            long long j = (long long)ceil((next - s0) / unit_s - UNIT_EPS);
            i = (j > i ? j : i + 1) - 1;
        }
    }
    b->fen += win_fen;
}

int tariff_fee(const struct map_tariff *t, const struct tz *z, double entry, double exit,
               struct tariff_bill *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!isfinite(entry) || !isfinite(exit)) {
        snprintf(err, errlen, "ts: not a finite time");
        return -1;
    }
    if (exit < entry) {
        snprintf(err, errlen, "ts: exit at %.0f is before entry at %.0f", exit, entry);
        return -1;
    }
    if (exit - entry > TARIFF_MAX_STAY_S) {
        snprintf(err, errlen, "ts: a stay of %.0f days is too long to bill", (exit - entry) / 86400);
        return -1;
    }
    double free_s = t->present ? t->free_minutes * 60.0 : 0;
    if (!t->present || exit - entry <= free_s || t->unit_minutes <= 0) {
        out->free = t->present && exit - entry <= free_s;
        return 0;
    }
    double s0 = t->bill_from_entry ? entry : entry + free_s;
    double nu = ceil((exit - s0) / (t->unit_minutes * 60.0) - UNIT_EPS);
    if (nu > MAX_UNITS) {
        snprintf(err, errlen, "tariff: %.0f units of %g minutes is too many to bill", nu,
                 t->unit_minutes);
        return -1;
    }
    bill_units(t, z, entry, s0, (long long)(nu < 1 ? 1 : nu), out);
    return 0;
}

/* ---- JSON ---- */

/* A number field of obj: 0 with *v set (def when absent and def is not
 * NAN), -1 with err otherwise. Bounds are inclusive; lo_open excludes lo. */
static int num_field(const json_t *obj, const char *prefix, const char *key, double def,
                     double lo, bool lo_open, double hi, double *v, char *err, size_t errlen)
{
    const json_t *j = json_object_get(obj, key);
    if (j == NULL || json_is_null(j)) {
        if (isnan(def)) {
            snprintf(err, errlen, "%s.%s: required", prefix, key);
            return -1;
        }
        *v = def;
        return 0;
    }
    if (!json_is_number(j)) {
        snprintf(err, errlen, "%s.%s: must be a number", prefix, key);
        return -1;
    }
    double x = json_number_value(j);
    if (!isfinite(x) || x < lo || (lo_open && x == lo) || x > hi) {
        snprintf(err, errlen, "%s.%s: %g is out of range (%s%g..%g)", prefix, key, x,
                 lo_open ? "above " : "", lo, hi);
        return -1;
    }
    *v = x;
    return 0;
}

static int night_from_json(const json_t *n, const char *prefix, struct map_tariff *t,
                           char *err, size_t errlen)
{
    char p[96];
    snprintf(p, sizeof p, "%s.night", prefix);
    if (!json_is_object(n)) {
        snprintf(err, errlen, "%s: must be an object {from, to, rate_per_hour}", p);
        return -1;
    }
    const char *keys[2] = {"from", "to"};
    int mins[2];
    for (int i = 0; i < 2; i++) {
        const json_t *s = json_object_get(n, keys[i]);
        mins[i] = map_parse_hhmm(json_string_value(s));
        if (mins[i] < 0) {
            snprintf(err, errlen, "%s.%s: must be a time of day \"HH:MM\"", p, keys[i]);
            return -1;
        }
    }
    if (mins[0] == mins[1]) {
        snprintf(err, errlen, "%s: from and to must differ", p);
        return -1;
    }
    if (num_field(n, p, "rate_per_hour", NAN, 0, false, 1e6, &t->night_rate_per_hour, err,
                  errlen) != 0)
        return -1;
    t->has_night = true;
    t->night_from_min = mins[0];
    t->night_to_min = mins[1];
    return 0;
}

int tariff_from_json(const json_t *j, const char *field, struct map_tariff *out,
                     char *err, size_t errlen)
{
    struct map_tariff t;
    memset(&t, 0, sizeof t);
    const char *p = field ? field : "tariff";
    if (!json_is_object(j)) {
        snprintf(err, errlen, "%s: must be an object", p);
        return -1;
    }
    if (num_field(j, p, "free_minutes", 0, 0, false, 1440, &t.free_minutes, err, errlen) ||
        num_field(j, p, "rate_per_hour", NAN, 0, false, 1e6, &t.rate_per_hour, err, errlen) ||
        num_field(j, p, "unit_minutes", 60, 0, true, 1440, &t.unit_minutes, err, errlen) ||
        num_field(j, p, "daily_cap", 0, 0, false, 1e7, &t.daily_cap, err, errlen))
        return -1;
    const json_t *n = json_object_get(j, "night");
    if (n != NULL && !json_is_null(n) && night_from_json(n, p, &t, err, errlen) != 0)
        return -1;
    const json_t *bfe = json_object_get(j, "bill_from_entry");
    if (bfe != NULL && !json_is_null(bfe) && !json_is_boolean(bfe)) {
        snprintf(err, errlen, "%s.bill_from_entry: must be true or false", p);
        return -1;
    }
    t.bill_from_entry = json_is_true(bfe);
    t.present = true;
    *out = t;
    return 0;
}

json_t *tariff_to_json(const struct map_tariff *t)
{
    if (!t->present)
        return json_null();
    json_t *j = json_pack("{s:f, s:f, s:f}", "free_minutes", t->free_minutes, "rate_per_hour",
                          t->rate_per_hour, "unit_minutes", t->unit_minutes);
    if (j == NULL)
        return NULL;
    if (t->daily_cap > 0)
        json_object_set_new(j, "daily_cap", json_real(t->daily_cap));
    if (t->has_night) {
        char from[16], to[16];
        snprintf(from, sizeof from, "%02d:%02d", t->night_from_min / 60 % 100, t->night_from_min % 60);
        snprintf(to, sizeof to, "%02d:%02d", t->night_to_min / 60 % 100, t->night_to_min % 60);
        json_object_set_new(j, "night", json_pack("{s:s, s:s, s:f}", "from", from, "to", to,
                                                  "rate_per_hour", t->night_rate_per_hour));
    }
    if (t->bill_from_entry)
        json_object_set_new(j, "bill_from_entry", json_true());
    return j;
}
