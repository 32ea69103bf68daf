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
/* Work bounds for one bill: 24 h windows visited (273 years: 1 ms in
 * Asia/Shanghai, 18 ms in America/New_York, whose offsets take longer
 * to look up) and units charged one by one. Past
 * them the bill saturates at TARIFF_MAX_FEN: such a stay is a clock
 * error, held for an operator (session.h), not a fee. */
#define WINDOWS_MAX 100000.0
#define WALK_MAX 4000000LL

double tariff_amount(long long fen)
{
    return (double)fen / 100.0;
}

long long tariff_fen(double amount)
{
    if (!isfinite(amount) || amount < 0 || amount > (double)TARIFF_MAX_FEN / 100)
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

/* One bill in the making. Units are numbered from the billing start s0;
 * unit i starts at s0 + i * unit_s; window w is [entry + w days,
 * entry + (w + 1) days). */
struct biller {
    const struct map_tariff *t;
    const struct tz *z;
    double entry, s0, unit_s;
    long long nunits;
    long long day_fen, night_fen, cap;   /* cap < 0: none */
    long long walked;                    /* units charged one by one, against WALK_MAX */
};

/* What the units starting in one window cost. */
struct window_bill {
    long long fen, day, night;
    bool capped;
};

/* The first unit starting at or after time t. */
static long long unit_at(const struct biller *bl, double t)
{
    double i = ceil((t - bl->s0) / bl->unit_s - UNIT_EPS);
    return i < 0 ? 0 : i > (double)bl->nunits ? bl->nunits : (long long)i;
}

/* Charge units [i0, i1) one by one, stopping at the cap. */
static void window_walk(struct biller *bl, long long i0, long long i1, struct window_bill *wb)
{
    memset(wb, 0, sizeof *wb);
    for (long long i = i0; i < i1; i++) {
        bool night = bl->t->has_night && is_night(bl->t, bl->z, bl->s0 + (double)i * bl->unit_s);
        wb->fen += night ? bl->night_fen : bl->day_fen;
        wb->night += night;
        wb->day += !night;
        if (bl->cap >= 0 && wb->fen >= bl->cap) {
            wb->fen = bl->cap;
            wb->capped = true;
            break;
        }
    }
    bl->walked += wb->day + wb->night;
}

/* A window's charge depends only on where its first unit starts within
 * it, how many units start in it and the local time of each: windows
 * with the same first-unit offset, unit count and UTC offset at both
 * ends (no time change inside: changes are months apart) cost the same.
 * So a multi-year stay walks the units of a few windows only. */
struct window_key {
    long long phase_us, n;
    int32_t off0, off1;
};

static bool key_eq(const struct window_key *a, const struct window_key *b)
{
    return a->phase_us == b->phase_us && a->n == b->n && a->off0 == b->off0 && a->off1 == b->off1;
}

static int32_t offset_at(const struct tz *z, double t)
{
    return z ? tz_offset_at(z, (int64_t)floor(t)) : 0;
}

static void saturate(struct tariff_bill *b)
{
    b->fen = TARIFF_MAX_FEN;
    b->saturated = true;
}

static void bill_units(struct biller *bl, struct tariff_bill *b)
{
    struct window_key seen = {.n = -1};
    struct window_bill memo = {0}, wb;
    int32_t off1 = offset_at(bl->z, bl->entry);
    for (long long w = 0, i0 = 0; i0 < bl->nunits; w++) {
        double ws = bl->entry + (double)w * 86400.0;
        long long i1 = unit_at(bl, ws + 86400.0);
        struct window_key k = {.phase_us = llround((bl->s0 + (double)i0 * bl->unit_s - ws) * 1e6),
                               .n = i1 - i0, .off0 = off1};
        k.off1 = off1 = offset_at(bl->z, ws + 86400.0);
        if (i1 == i0)                                  /* no unit starts in this window */
            continue;
        if (key_eq(&k, &seen)) {
            wb = memo;
        } else {
            window_walk(bl, i0, i1, &wb);
            if (bl->walked > WALK_MAX) {
                saturate(b);
                return;
            }
            seen = k, memo = wb;
        }
        b->fen += wb.fen;
        b->units_day += wb.day;
        b->units_night += wb.night;
        b->windows++;
        b->windows_capped += wb.capped;
        if (b->fen >= TARIFF_MAX_FEN) {
            saturate(b);
            return;
        }
        i0 = i1;
    }
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
    double free_s = t->present ? t->free_minutes * 60.0 : 0;
    if (!t->present || exit - entry <= free_s || t->unit_minutes <= 0) {
        out->free = t->present && exit - entry <= free_s;
        return 0;
    }
    struct biller bl = {.t = t, .z = z, .entry = entry, .unit_s = t->unit_minutes * 60.0,
                        .day_fen = unit_fen(t->rate_per_hour, t->unit_minutes)};
    bl.s0 = t->bill_from_entry ? entry : entry + free_s;
    bl.night_fen = t->has_night ? unit_fen(t->night_rate_per_hour, t->unit_minutes) : bl.day_fen;
    bl.cap = t->daily_cap > 0 ? llround(t->daily_cap * 100.0) : -1;
    double nu = ceil((exit - bl.s0) / bl.unit_s - UNIT_EPS);
    if ((exit - entry) / 86400.0 >= WINDOWS_MAX || nu > (double)WALK_MAX * 86400.0) {
        saturate(out);
        return 0;
    }
    bl.nunits = nu < 1 ? 1 : (long long)nu;
    bill_units(&bl, out);
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

/* A unit must cost at least a fen at a rate that is not zero: unit
 * prices are rounded to the fen, so a unit of a few seconds would round
 * to nothing and the stay would be free. */
static int unit_priced(const struct map_tariff *t, const char *p, char *err, size_t errlen)
{
    const double rates[2] = {t->rate_per_hour, t->has_night ? t->night_rate_per_hour : 0};
    for (int i = 0; i < 2; i++)
        if (rates[i] > 0 && unit_fen(rates[i], t->unit_minutes) < 1) {
            snprintf(err, errlen, "%s.unit_minutes: a unit of %g minutes at %g an hour costs "
                     "less than 0.01", p, t->unit_minutes, rates[i]);
            return -1;
        }
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
    if (unit_priced(&t, p, err, errlen) != 0)
        return -1;
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
