/* test_tariff.c -- parking fees, table-driven, every boundary.
 *
 * Tariff T (the api.md example), zone Asia/Shanghai (UTC+8):
 *
 *   free_minutes 15 | rate_per_hour 6.00 | unit_minutes 30 | daily_cap 40.00
 *   night 22:00-07:00 at 1.00/h
 *
 *   unit price: day   6.00 * 30/60 = 3.00
 *               night 1.00 * 30/60 = 0.50
 *   default: billing starts at entry + 15 min (free period deducted);
 *   T+E (bill_from_entry): a stay over 15 min is billed from entry.
 *   A unit is charged at the rate in force at its start (local time);
 *   units starting in the same 24 h window from entry cost <= 40.00.
 *
 *   entry (local)     exit (local)       tariff  units (start: rate)                     due
 *   D 10:00:00        D 10:00:00         T       -                                     0.00
 *   D 10:00:00        D 10:15:00         T       - (exactly the free period)            0.00
 *   D 10:00:00        D 10:15:01         T       10:15 d                                3.00
 *   D 10:00:00        D 10:45:00         T       10:15 d (exactly one unit)             3.00
 *   D 10:00:00        D 10:45:01         T       10:15 d, 10:45 d                       6.00
 *   D 10:00:00        D 10:15:00         T+E     - (free)                               0.00
 *   D 10:00:00        D 10:15:01         T+E     10:00 d                                3.00
 *   D 10:00:00        D 10:30:00         T+E     10:00 d (unit boundary)                3.00
 *   D 10:00:00        D 10:30:01         T+E     10:00 d, 10:30 d                       6.00
 *   D 21:00           D 23:00            T       21:15 d, 21:45 d, 22:15 n, 22:45 n     7.00
 *   D 21:15           D 22:45            T       21:30 d, 22:00 n, 22:30 n              4.00
 *   D 21:14:59        D 22:45            T       21:29:59 d, 21:59:59 d, 22:29:59 n     6.50
 *   D 06:00           D 08:00            T       06:15 n, 06:45 n, 07:15 d, 07:45 d     7.00
 *   D 06:15           D 07:30            T       06:30 n, 07:00 d                       3.50
 *   D 22:00           D+1 07:00          T       22:15 .. 06:45: 18 n                   9.00
 *   D 08:00           D 20:00            T       08:15 .. 19:45: 24 d = 72 -> cap       40.00
 *   D 10:00           D+1 10:00          T       window 0 capped                       40.00
 *   D 10:00           D+1 10:15:00       T       last unit starts 09:45 (window 0)     40.00
 *   D 10:00           D+1 10:15:01       T       + 10:15 d in window 1                 43.00
 *   D 08:00           D+2 12:00          T       40 + 40 + 08:15..11:45 8 d = 24      104.00
 *   D 08:00           D+2 22:00          T       40 + 40 + cap on day 3 (28 d = 84)   120.00
 *   D 20:00           D+2 06:00          T       w0: 20:15,20:45,21:15,21:45 d = 12,
 *                                                18 n = 9, 07:15..19:45 26 d -> cap 40;
 *                                                w1 from D+1 20:00: 4 d 12 + 16 n 8.00  60.00
 *   D 21:00 (UTC zone) D 23:00           T       all day units in UTC+0 (13:15..14:45)  12.00
 *
 * Tariff U: free 0, rate 5.00/h, unit 60, no cap, no night:
 *   D 10:00           D+3 10:00:01       U       73 units                             365.00
 */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tariff.h"
#include "tariff_table.h"
#include "tz.h"

static bool tariff_eq(const struct map_tariff *a, const struct map_tariff *b)
{
    return a->present == b->present && a->free_minutes == b->free_minutes &&
           a->rate_per_hour == b->rate_per_hour && a->unit_minutes == b->unit_minutes &&
           a->daily_cap == b->daily_cap && a->has_night == b->has_night &&
           a->night_from_min == b->night_from_min && a->night_to_min == b->night_to_min &&
           a->night_rate_per_hour == b->night_rate_per_hour &&
           a->bill_from_entry == b->bill_from_entry;
}

static struct tz *shanghai(void)
{
    char err[256];
    struct tz *z = tz_load("Asia/Shanghai", NULL, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL(z);
    return z;
}

static void test_table(void)
{
    char err[256];
    struct tz *sz = shanghai(), *uz = tz_load("UTC", NULL, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sz);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct fee_case *c = &cases[i];
        struct map_tariff t = *c->t;
        t.bill_from_entry = c->from_entry;
        struct tariff_bill b;
        int rc = tariff_fee(&t, c->utc ? uz : sz, sh(c->ed, c->eh, c->em, c->es),
                            sh(c->xd, c->xh, c->xm, c->xs), &b, err, sizeof err);
        CU_ASSERT_EQUAL(rc, 0);
        CU_ASSERT_EQUAL(b.fen, c->fen);
        if (rc != 0 || b.fen != c->fen)
            fprintf(stderr, "\ncase %zu: rc=%d fen=%lld want %lld (day %lld night %lld) %s\n", i,
                    rc, b.fen, c->fen, b.units_day, b.units_night, rc ? err : "");
    }
    tz_free(sz);
    tz_free(uz);
}

/* The breakdown of a few rows. */
static void test_breakdown(void)
{
    struct tz *z = shanghai();
    struct tariff_bill b;
    char err[256];
    CU_ASSERT_EQUAL(tariff_fee(&T, z, sh(0, 10, 0, 0), sh(0, 10, 15, 0), &b, err, sizeof err), 0);
    CU_ASSERT(b.free);
    CU_ASSERT_EQUAL(tariff_fee(&T, z, sh(0, 22, 0, 0), sh(1, 7, 0, 0), &b, err, sizeof err), 0);
    CU_ASSERT_EQUAL(b.units_night, 18);
    CU_ASSERT_EQUAL(b.units_day, 0);
    CU_ASSERT_EQUAL(b.windows_capped, 0);
    CU_ASSERT_EQUAL(tariff_fee(&T, z, sh(0, 8, 0, 0), sh(2, 22, 0, 0), &b, err, sizeof err), 0);
    CU_ASSERT_EQUAL(b.windows, 3);
    CU_ASSERT_EQUAL(b.windows_capped, 3);
    CU_ASSERT(!b.free);
    tz_free(z);
}

/* Straightforward reference: charge every unit, cap each window at the
 * end. Must agree with the skipping implementation on random stays. */
static long long reference(const struct map_tariff *t, double entry, double exit)
{
    double free_s = t->free_minutes * 60, unit = t->unit_minutes * 60;
    if (exit - entry <= free_s)
        return 0;
    double s0 = t->bill_from_entry ? entry : entry + free_s;
    long long sums[64] = {0}, total = 0;
    for (double s = s0; s < exit; s += unit) {
        long long local = (long long)s + 8 * 3600;
        int sod = (int)(local % 86400);
        bool night = t->has_night && (sod >= t->night_from_min * 60 || sod < t->night_to_min * 60);
        sums[(int)((s - entry) / 86400)] +=
            llround((night ? t->night_rate_per_hour : t->rate_per_hour) * unit / 3600 * 100);
    }
    for (int w = 0; w < 64; w++)
        total += t->daily_cap > 0 && sums[w] > t->daily_cap * 100 ? llround(t->daily_cap * 100)
                                                                  : sums[w];
    return total;
}

static void test_random_vs_reference(void)
{
    struct tz *z = shanghai();
    unsigned seed = 12345;
    int bad = 0;
    for (int i = 0; i < 3000; i++) {
        struct map_tariff t = T;
        t.bill_from_entry = i % 2;
        t.unit_minutes = (double[]){15, 30, 60, 20}[i % 4];
        t.daily_cap = (double[]){40, 0, 25.5, 7}[i / 4 % 4];
        double entry = sh(0, 0, 0, 0) + rand_r(&seed) % 86400;
        double exit = entry + rand_r(&seed) % (5 * 86400) * (i % 3 == 0 ? 0.01 : 1.0);
        struct tariff_bill b;
        char err[256];
        CU_ASSERT_EQUAL(tariff_fee(&t, z, entry, exit, &b, err, sizeof err), 0);
        long long want = reference(&t, entry, exit);
        if (b.fen != want && bad++ < 3)
            fprintf(stderr, "\nentry %.0f exit %.0f unit %g cap %g fe %d: %lld want %lld\n", entry,
                    exit, t.unit_minutes, t.daily_cap, t.bill_from_entry, b.fen, want);
    }
    CU_ASSERT_EQUAL(bad, 0);
    tz_free(z);
}

/* Brute force in any zone: every unit at the rate of its local start,
 * each 24 h window capped at its end. */
static long long reference_tz(const struct map_tariff *t, const struct tz *z, double entry,
                              double exit)
{
    double free_s = t->free_minutes * 60, unit = t->unit_minutes * 60;
    if (exit - entry <= free_s)
        return 0;
    double s0 = t->bill_from_entry ? entry : entry + free_s;
    size_t nwin = (size_t)((exit - entry) / 86400) + 2;
    long long *sums = calloc(nwin, sizeof *sums), total = 0;
    for (long long i = 0; s0 + (double)i * unit < exit - 1e-6; i++) {
        double s = s0 + (double)i * unit;
        long long local = (long long)floor(s) + tz_offset_at(z, (int64_t)floor(s));
        int sod = (int)(((local % 86400) + 86400) % 86400);
        int from = t->night_from_min * 60, to = t->night_to_min * 60;
        bool night = t->has_night && (from < to ? sod >= from && sod < to : sod >= from || sod < to);
        sums[(size_t)((s - entry) / 86400)] +=
            llround((night ? t->night_rate_per_hour : t->rate_per_hour) * unit / 3600 * 100);
    }
    for (size_t w = 0; w < nwin; w++)
        total += t->daily_cap > 0 && sums[w] > llround(t->daily_cap * 100)
                     ? llround(t->daily_cap * 100) : sums[w];
    free(sums);
    return total;
}

/* Long stays are billed in full: a gate camera whose clock reset sends
 * ts 0, and 55 years at 40.00 a day are not free (they used to be
 * refused by the tariff, and the session billed 0.00). */
static void test_long_stays(void)
{
    struct tz *z = shanghai();
    struct tariff_bill b;
    char err[256];
    double exit = sh(0, 8, 0, 0);                       /* 1970-01-01 08:00 local + 20423 d */
    CU_ASSERT_EQUAL(tariff_fee(&T, z, 0, exit, &b, err, sizeof err), 0);
    CU_ASSERT_EQUAL(b.fen, 20423LL * 4000);
    CU_ASSERT_EQUAL(b.windows, 20423);
    CU_ASSERT_EQUAL(b.windows_capped, 20423);
    /* no cap: every hour of 20000 days at 5.00 */
    CU_ASSERT_EQUAL(tariff_fee(&U, z, 1e9, 1e9 + 20000 * 86400.0, &b, err, sizeof err), 0);
    CU_ASSERT_EQUAL(b.fen, 20000LL * 24 * 500);
    CU_ASSERT(!b.saturated);
    /* 250 years are still billed exactly */
    CU_ASSERT_EQUAL(tariff_fee(&T, z, 0, 250 * 365 * 86400.0, &b, err, sizeof err), 0);
    CU_ASSERT_EQUAL(b.fen, 250LL * 365 * 4000);
    /* the largest stay a request can carry (ts up to 1e11), and more:
     * saturated at the ceiling, never 0 */
    CU_ASSERT_EQUAL(tariff_fee(&T, z, 0, 1e11, &b, err, sizeof err), 0);
    CU_ASSERT(b.saturated && b.fen == TARIFF_MAX_FEN);
    CU_ASSERT_EQUAL(tariff_fee(&T, z, 0, 1e15, &b, err, sizeof err), 0);
    CU_ASSERT(b.fen >= 1000000000LL * 100);
    tz_free(z);
}

/* Multi-year stays in zones with and without daylight saving time
 * against the brute-force reference: windows that cost the same are
 * not recomputed, and that must not change a fen. */
static void test_long_vs_reference(void)
{
    const char *zones[3] = {"Asia/Shanghai", "America/New_York", "Europe/Berlin"};
    unsigned seed = 777;
    int bad = 0;
    for (int zi = 0; zi < 3; zi++) {
        char err[256];
        struct tz *z = tz_load(zones[zi], NULL, err, sizeof err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(z);
        for (int i = 0; i < 12; i++) {
            struct map_tariff t = T;
            t.bill_from_entry = i % 2;
            t.unit_minutes = (double[]){15, 30, 60, 7}[i % 4];
            t.daily_cap = (double[]){40, 0, 25.5}[i % 3];
            t.night_rate_per_hour = (double[]){1, 0.3}[i / 6];
            double entry = 1.6e9 + rand_r(&seed) % (400 * 86400) + 0.25 * (i % 3);
            double exit = entry + 86400.0 * (300 + rand_r(&seed) % 500) + rand_r(&seed) % 86400;
            struct tariff_bill b;
            CU_ASSERT_EQUAL(tariff_fee(&t, z, entry, exit, &b, err, sizeof err), 0);
            long long want = reference_tz(&t, z, entry, exit);
            if (b.fen != want && bad++ < 3)
                fprintf(stderr, "\n%s entry %.2f exit %.2f unit %g cap %g: %lld want %lld\n",
                        zones[zi], entry, exit, t.unit_minutes, t.daily_cap, b.fen, want);
        }
        tz_free(z);
    }
    CU_ASSERT_EQUAL(bad, 0);
}

static void test_errors_and_edges(void)
{
    struct tz *z = shanghai();
    struct tariff_bill b;
    char err[256];
    CU_ASSERT_EQUAL(tariff_fee(&T, z, 2000, 1000, &b, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "before entry"));
    CU_ASSERT_EQUAL(tariff_fee(&T, z, NAN, 1000, &b, err, sizeof err), -1);
    CU_ASSERT_EQUAL(tariff_fee(&T, z, 0, INFINITY, &b, err, sizeof err), -1);
    /* past any bill: saturated at the ceiling, never 0 */
    CU_ASSERT_EQUAL(tariff_fee(&T, z, 0, 1e15, &b, err, sizeof err), 0);
    CU_ASSERT(b.saturated);
    CU_ASSERT_EQUAL(b.fen, TARIFF_MAX_FEN);
    /* ten years with a cap is billed quickly: 3652 windows at 40.00 */
    CU_ASSERT_EQUAL(tariff_fee(&T, z, 0, 3652.0 * 86400, &b, err, sizeof err), 0);
    CU_ASSERT_EQUAL(b.fen, 3652LL * 4000);
    CU_ASSERT(!b.saturated);
    /* 6-second units (0.01 each) without a cap over 3000 days: 14,400
     * units a day, walked for one day, the other days cost the same */
    struct map_tariff fine = U;
    fine.unit_minutes = 0.1;
    fine.rate_per_hour = 6;
    CU_ASSERT_EQUAL(tariff_fee(&fine, z, 0, 3000.0 * 86400, &b, err, sizeof err), 0);
    CU_ASSERT_EQUAL(b.fen, 3000LL * 14400);
    CU_ASSERT(!b.saturated);
    /* ... and too fine to walk: more units in a day than a bill may walk */
    fine.unit_minutes = 1e-5;
    CU_ASSERT_EQUAL(tariff_fee(&fine, z, 0, 3 * 86400.0, &b, err, sizeof err), 0);
    CU_ASSERT(b.saturated && b.fen == TARIFF_MAX_FEN);
    /* no tariff: free */
    struct map_tariff none = {0};
    CU_ASSERT_EQUAL(tariff_fee(&none, z, 0, 86400, &b, err, sizeof err), 0);
    CU_ASSERT_EQUAL(b.fen, 0);
    /* fractional timestamps: 15 min + 1 ms is past the free period */
    CU_ASSERT_EQUAL(tariff_fee(&T, z, 1000.5, 1000.5 + 900.001, &b, err, sizeof err), 0);
    CU_ASSERT_EQUAL(b.fen, 300);
    tz_free(z);
}

static void test_money(void)
{
    CU_ASSERT_EQUAL(tariff_fen(12.3), 1230);
    CU_ASSERT_EQUAL(tariff_fen(0.1 + 0.2), 30);
    CU_ASSERT_EQUAL(tariff_fen(0), 0);
    CU_ASSERT_EQUAL(tariff_fen(-0.01), -1);
    CU_ASSERT_EQUAL(tariff_fen(0.005), -1);
    CU_ASSERT_EQUAL(tariff_fen(NAN), -1);
    CU_ASSERT_EQUAL(tariff_fen(1e12), -1);
    CU_ASSERT_DOUBLE_EQUAL(tariff_amount(1230), 12.3, 1e-9);
}

static void test_json(void)
{
    char err[256];
    struct map_tariff t;
    json_error_t je;
    json_t *j = json_loads("{\"free_minutes\": 15, \"rate_per_hour\": 6.0, \"unit_minutes\": 30,"
                           "\"daily_cap\": 40.0, \"night\": {\"from\": \"22:00\", \"to\": \"07:00\","
                           "\"rate_per_hour\": 1.0}}", 0, &je);
    CU_ASSERT_EQUAL(tariff_from_json(j, "tariff", &t, err, sizeof err), 0);
    CU_ASSERT(t.present && t.has_night && !t.bill_from_entry);
    CU_ASSERT_EQUAL(t.night_from_min, 1320);
    CU_ASSERT_EQUAL(t.night_to_min, 420);
    CU_ASSERT(tariff_eq(&t, &T));
    json_t *back = tariff_to_json(&t);
    struct map_tariff t2;
    CU_ASSERT_EQUAL(tariff_from_json(back, "tariff", &t2, err, sizeof err), 0);
    CU_ASSERT(tariff_eq(&t, &t2));
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(back, "night"), "to")),
                           "07:00");
    json_decref(back);
    json_decref(j);

    struct {
        const char *json, *err;
    } bad[] = {
        {"[]", "tariff: must be an object"},
        {"{}", "tariff.rate_per_hour: required"},
        {"{\"rate_per_hour\": \"6\"}", "tariff.rate_per_hour: must be a number"},
        {"{\"rate_per_hour\": -1}", "tariff.rate_per_hour: -1 is out of range"},
        {"{\"rate_per_hour\": 1, \"unit_minutes\": 0}", "tariff.unit_minutes"},
        /* a unit that rounds to 0.00 would make every stay free */
        {"{\"rate_per_hour\": 1, \"unit_minutes\": 0.25}", "tariff.unit_minutes: a unit of 0.25 "
         "minutes at 1 an hour costs less than 0.01"},
        {"{\"rate_per_hour\": 6, \"unit_minutes\": 1, \"night\": {\"from\": \"22:00\", "
         "\"to\": \"07:00\", \"rate_per_hour\": 0.2}}", "at 0.2 an hour costs less than 0.01"},
        {"{\"rate_per_hour\": 1, \"free_minutes\": -5}", "tariff.free_minutes"},
        {"{\"rate_per_hour\": 1, \"daily_cap\": -5}", "tariff.daily_cap"},
        {"{\"rate_per_hour\": 1, \"night\": 3}", "tariff.night: must be an object"},
        {"{\"rate_per_hour\": 1, \"night\": {\"from\": \"24:00\", \"to\": \"07:00\", "
         "\"rate_per_hour\": 1}}", "tariff.night.from"},
        {"{\"rate_per_hour\": 1, \"night\": {\"from\": \"22:00\", \"to\": \"7:00\", "
         "\"rate_per_hour\": 1}}", "tariff.night.to"},
        {"{\"rate_per_hour\": 1, \"night\": {\"from\": \"22:00\", \"to\": \"22:00\", "
         "\"rate_per_hour\": 1}}", "from and to must differ"},
        {"{\"rate_per_hour\": 1, \"night\": {\"from\": \"22:00\", \"to\": \"07:00\"}}",
         "tariff.night.rate_per_hour: required"},
        {"{\"rate_per_hour\": 1, \"bill_from_entry\": 1}", "tariff.bill_from_entry"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = json_loads(bad[i].json, 0, &je);
        CU_ASSERT_PTR_NOT_NULL_FATAL(j);
        memset(&t, 0x5a, sizeof t);
        CU_ASSERT_EQUAL(tariff_from_json(j, "tariff", &t, err, sizeof err), -1);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, bad[i].err));
        CU_ASSERT_EQUAL(((unsigned char *)&t)[0], 0x5a);   /* untouched */
        if (strstr(err, bad[i].err) == NULL)
            fprintf(stderr, "\n%s: got \"%s\"\n", bad[i].json, err);
        json_decref(j);
    }
    /* minimal: defaults */
    j = json_loads("{\"rate_per_hour\": 2, \"bill_from_entry\": true}", 0, &je);
    CU_ASSERT_EQUAL(tariff_from_json(j, NULL, &t, err, sizeof err), 0);
    CU_ASSERT(t.unit_minutes == 60 && t.free_minutes == 0 && t.daily_cap == 0 && !t.has_night);
    CU_ASSERT(t.bill_from_entry);
    json_decref(j);
    struct map_tariff none = {0};
    j = tariff_to_json(&none);
    CU_ASSERT(json_is_null(j));
    json_decref(j);
}

int suite_tariff(void)
{
    CU_pSuite s = CU_add_suite("tariff", NULL, NULL);
    if (s == NULL || CU_add_test(s, "table of boundaries", test_table) == NULL ||
        CU_add_test(s, "breakdown", test_breakdown) == NULL ||
        CU_add_test(s, "random stays vs reference", test_random_vs_reference) == NULL ||
        CU_add_test(s, "errors and edges", test_errors_and_edges) == NULL ||
        CU_add_test(s, "long stays are billed in full", test_long_stays) == NULL ||
        CU_add_test(s, "long stays vs reference, DST zones", test_long_vs_reference) == NULL ||
        CU_add_test(s, "money", test_money) == NULL ||
        CU_add_test(s, "JSON", test_json) == NULL)
        return -1;
    return 0;
}
