/* it_apps.c -- what drivers' apps and traffic engineers ask beyond
 * availability, over HTTP against a real cityd and redis-server: the fee
 * of a planned stay equals the exit gate's bill (the tariff table and
 * random stays), forecasts learned from posted histories (and kept across
 * a restart), nearest by the forecast at arrival, SFpark price advice at
 * the edges of its band, bad parameters, and the demo map's app fields.
 *
 * Map: tests/fixtures/maps/garage (lot it-g1: tariff T of
 * tests/support/tariff_table.h), more lots by PUT. Clock: replay mode.
 * Zone Asia/Shanghai. MON0 = Monday 2025-12-01 00:00 local. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "support.h"
#include "tariff_table.h"

#define MON0 (1764547200.0 - 8 * 3600)
#define DAY 86400.0
#define OP "k-operator"
#define SENSOR "k-sensor"

static const char *const EXTRA[] = {"map.dir=tests/fixtures/maps/garage", "clock.mode=replay",
                                    "parking.forecast_save_s=1", "parking.pricing_period_s=86400",
                                    NULL};

static json_t *call(const struct test_cityd *c, const char *method, const char *path,
                    const char *key, const char *body, long want, int line)
{
    struct http_result r;
    int rc = strcmp(method, "GET") == 0 ? support_get(c->base, path, key, &r)
                                        : support_send(method, c->base, path, key, body, &r);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(r.status, want);
    if (r.status != want)
        fprintf(stderr, "\nline %d: %s %s -> %ld (want %ld): %.400s\n", line, method, path,
                r.status, want, r.body);
    json_t *j = r.json ? json_incref(r.json) : NULL;
    http_result_free(&r);
    return j;
}
#define CALL(c, m, p, k, b, w) call((c), (m), (p), (k), (b), (w), __LINE__)

static double num(const json_t *j, const char *key)
{
    const json_t *v = json_object_get(j, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static bool up(struct test_redis *r, struct test_cityd *c)
{
    if (support_redis_start(r) != 0 || support_cityd_start(c, r->url, EXTRA) != 0) {
        CU_FAIL("cannot start redis-server and cityd");
        return false;
    }
    return true;
}

static void down(struct test_redis *r, struct test_cityd *c)
{
    support_cityd_stop(c);
    support_redis_stop(r);
}

/* PUT lot id at (lon, lat) with `total` spaces and a tariff object. */
static void put_lot(const struct test_cityd *c, const char *id, double lon, double lat,
                    int total, const char *tariff)
{
    char path[128], body[1024];
    snprintf(path, sizeof path, "/v1/parking/lots/%s", id);
    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"location\":{\"type\":\"Point\",\"coordinates\":[%.7f,%.7f]},"
             "\"totalSpotNumber\":%d,\"tariff\":%s}", id, lon, lat, total, tariff);
    json_decref(CALL(c, "PUT", path, OP, body, 201));
}

static json_t *tariff_json(const struct map_tariff *t, bool from_entry)
{
    json_t *o = json_pack("{s:f,s:f,s:f,s:f,s:b}", "free_minutes", t->free_minutes,
                          "rate_per_hour", t->rate_per_hour, "unit_minutes", t->unit_minutes,
                          "daily_cap", t->daily_cap, "bill_from_entry", from_entry);
    if (t->has_night)
        json_object_set_new(o, "night", json_pack("{s:s,s:s,s:f}", "from", "22:00", "to",
                                                  "07:00", "rate_per_hour",
                                                  t->night_rate_per_hour));
    return o;
}

/* ---- fee = the exit gate's bill ---- */

static double fee(const struct test_cityd *c, const char *lot, double from, double to)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/parking/lots/%s/fee?from=%.0f&to=%.0f", lot, from, to);
    json_t *j = CALL(c, "GET", path, NULL, NULL, 200);
    double a = num(j, "amount");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "currency")), "CNY");
    CU_ASSERT(json_is_object(json_object_get(j, "tariff")));
    json_decref(j);
    return a;
}

/* A car in at `in` and out at `out` through the lot's gates: the bill. */
static double gate_bill(const struct test_cityd *c, const char *lot, int n, double in, double out)
{
    char path[128], body[256];
    snprintf(path, sizeof path, "/v1/parking/lots/%s/entries", lot);
    snprintf(body, sizeof body, "{\"id\":\"e%d\",\"plate\":\"鲁F%05d\",\"gate\":\"G1\",\"ts\":%.0f}",
             n, n, in);
    json_decref(CALL(c, "POST", path, OP, body, 201));
    snprintf(path, sizeof path, "/v1/parking/lots/%s/exits", lot);
    snprintf(body, sizeof body, "{\"id\":\"x%d\",\"plate\":\"鲁F%05d\",\"gate\":\"G1\",\"ts\":%.0f}",
             n, n, out);
    json_t *j = CALL(c, "POST", path, OP, body, 201);
    double due = num(json_object_get(j, "session"), "amountDue");
    json_decref(j);
    return due;
}

static void test_fee_is_gate_bill(void)
{
    struct test_redis r;
    struct test_cityd c;
    if (!up(&r, &c))
        return;
    /* the table's tariffs: T (it-g1 on the map), T billed from entry, U */
    json_t *te = tariff_json(&T, true), *tu = tariff_json(&U, false);
    char *ste = json_dumps(te, JSON_COMPACT), *stu = json_dumps(tu, JSON_COMPACT);
    put_lot(&c, "fee-te", 121.401, 37.53, 50, ste);
    put_lot(&c, "fee-u", 121.402, 37.53, 50, stu);
    free(ste);
    free(stu);
    json_decref(te);
    json_decref(tu);
    int n = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct fee_case *k = &cases[i];
        if (k->utc)
            continue;                   /* the server's zone is Asia/Shanghai */
        const char *lot = k->t == &U ? "fee-u" : k->from_entry ? "fee-te" : "it-g1";
        double in = sh(k->ed, k->eh, k->em, k->es), out = sh(k->xd, k->xh, k->xm, k->xs);
        double f = fee(&c, lot, in, out), g = gate_bill(&c, lot, n++, in, out);
        CU_ASSERT_DOUBLE_EQUAL(f, k->fen / 100.0, 1e-9);
        CU_ASSERT_DOUBLE_EQUAL(f, g, 1e-9);
        if (fabs(f - g) > 1e-9 || fabs(f - k->fen / 100.0) > 1e-9)
            fprintf(stderr, "\ncase %zu: fee %.2f gate %.2f table %.2f\n", i, f, g, k->fen / 100.0);
    }
    /* random stays, each lot, up to three days, any second */
    unsigned seed = 2026;
    const char *lots[3] = {"it-g1", "fee-te", "fee-u"};
    for (int i = 0; i < 60; i++) {
        double in = sh(0, 0, 0, 0) + rand_r(&seed) % 86400;
        double out = in + (i % 3 == 0 ? rand_r(&seed) % 7200 : rand_r(&seed) % (3 * 86400));
        const char *lot = lots[i % 3];
        double f = fee(&c, lot, in, out), g = gate_bill(&c, lot, n++, in, out);
        CU_ASSERT_DOUBLE_EQUAL(f, g, 1e-9);
        if (fabs(f - g) > 1e-9)
            fprintf(stderr, "\n%s %.0f-%.0f: fee %.2f gate %.2f\n", lot, in, out, f, g);
    }
    /* bad input names the parameter and changes nothing */
    struct { const char *q; const char *names; long status; } bad[] = {
        {"?from=1764547200&to=1764540000", "to:", 400},
        {"?to=1764547200", "from:", 400},
        {"?from=1764547200", "to:", 400},
        {"?from=abc&to=1764547200", "from:", 400},
        {"?from=1764547200&to=1e99", "to:", 400},
        {"?from=-5&to=1764547200", "from:", 400},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "/v1/parking/lots/it-g1/fee%s", bad[i].q);
        json_t *j = CALL(&c, "GET", path, NULL, NULL, bad[i].status);
        const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
        CU_ASSERT(msg != NULL && strncmp(msg, bad[i].names, strlen(bad[i].names)) == 0);
        json_decref(j);
    }
    json_decref(CALL(&c, "GET", "/v1/parking/lots/nope/fee?from=1&to=2", NULL, NULL, 404));
    down(&r, &c);
}

/* ---- forecasts ---- */

/* The lots' known daily profile: empty-ish at night, full at 11:00-15:00. */
static double profile(double ts, double top)
{
    double h = fmod(ts - MON0, DAY) / 3600;
    if (h < 8 || h >= 20)
        return 0.1;
    if (h < 11)
        return 0.1 + (top - 0.1) * (h - 8) / 3;
    if (h < 15)
        return top;
    return top - (top - 0.1) * (h - 15) / 5;
}

/* Post `days` of 15-minute counts of lot (total spaces) from MON0 + d0. */
static void post_history(const struct test_cityd *c, const char *lot, int total, double top,
                         int d0, int days, double until)
{
    size_t cap = 1 << 20, len = 0;
    char *body = malloc(cap);
    int n = 0;
    len += (size_t)snprintf(body + len, cap - len, "{\"observations\":[");
    for (double t = MON0 + d0 * DAY; t < MON0 + (d0 + days) * DAY && t <= until; t += 900) {
        int avail = (int)lround(total * (1 - profile(t, top)));
        len += (size_t)snprintf(body + len, cap - len,
                                "%s{\"id\":\"%s-%.0f\",\"lot\":\"%s\",\"availableSpotNumber\":%d,"
                                "\"ts\":%.0f}", n++ ? "," : "", lot, t, lot, avail, t);
    }
    snprintf(body + len, cap - len, "]}");
    json_t *j = CALL(c, "POST", "/v1/parking/observations", SENSOR, body, 200);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "accepted")), n);
    json_decref(j);
    free(body);
}

static json_t *forecast(const struct test_cityd *c, const char *lot, const char *q, long want)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/parking/lots/%s/forecast%s", lot, q);
    return CALL(c, "GET", path, NULL, NULL, want);
}

/* The forecast points of lot at `at` every 15 min for 2 h, checked
 * against the profile; the answer is returned for comparisons. */
static json_t *check_forecast(const struct test_cityd *c, const char *lot, int total, double top,
                              double at)
{
    char q[96];
    snprintf(q, sizeof q, "?horizon_s=7200&step_s=900&at=%.0f", at);
    json_t *j = forecast(c, lot, q, 200);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "lot")), lot);
    CU_ASSERT_DOUBLE_EQUAL(num(j, "at"), at, 0);
    json_t *pts = json_object_get(j, "forecast");
    CU_ASSERT_EQUAL(json_array_size(pts), 8);
    for (size_t i = 0; i < json_array_size(pts); i++) {
        json_t *p = json_array_get(pts, i);
        double ts = num(p, "ts"), want = total * (1 - profile(ts, top));
        double av = num(p, "availableSpotNumber"), lo = num(p, "low"), hi = num(p, "high");
        CU_ASSERT_DOUBLE_EQUAL(ts, at + 900 * (double)(i + 1), 0);
        CU_ASSERT(fabs(av - want) <= 0.05 * total);
        CU_ASSERT(lo <= av && av <= hi && lo >= 0 && hi <= total);
        CU_ASSERT(lo <= want + 1 && want - 1 <= hi);
        CU_ASSERT_DOUBLE_EQUAL(num(p, "occupancy"), 1 - av / total, 0.0051);
        if (fabs(av - want) > 0.05 * total || lo > want + 1 || want - 1 > hi)
            fprintf(stderr, "\n%s at %.0f +%zu: %g [%g, %g], truth %.1f\n", lot, at, i + 1, av,
                    lo, hi, want);
    }
    return j;
}

static void test_forecast(void)
{
    struct test_redis r;
    struct test_cityd c;
    if (!up(&r, &c))
        return;
    put_lot(&c, "fc-a", 121.41, 37.53, 200, "{\"rate_per_hour\":4}");
    put_lot(&c, "fc-none", 121.42, 37.53, 80, "{\"rate_per_hour\":4}");
    put_lot(&c, "fc-one", 121.43, 37.53, 80, "{\"rate_per_hour\":4}");
    double at = MON0 + 21 * DAY + 9 * 3600;    /* a Monday, 09:00, in the rise */
    post_history(&c, "fc-a", 200, 0.9, 0, 22, at);
    json_t *before = check_forecast(&c, "fc-a", 200, 0.9, at);

    /* no history: a wide interval, not an error */
    json_t *j = forecast(&c, "fc-none", "", 200);
    json_t *p = json_array_get(json_object_get(j, "forecast"), 0);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "forecast")), 4);   /* 1 h, every 15 min */
    CU_ASSERT(json_is_null(json_object_get(p, "availableSpotNumber")));
    CU_ASSERT_DOUBLE_EQUAL(num(p, "low"), 0, 0);
    CU_ASSERT_DOUBLE_EQUAL(num(p, "high"), 80, 0);
    json_decref(j);
    json_decref(CALL(&c, "POST", "/v1/parking/observations", SENSOR,
                     "{\"observations\":[{\"id\":\"one\",\"lot\":\"fc-one\","
                     "\"availableSpotNumber\":40,\"ts\":1766332800}]}", 200));
    j = forecast(&c, "fc-one", "?horizon_s=3600&step_s=3600&at=1766332800", 200);
    p = json_array_get(json_object_get(j, "forecast"), 0);
    CU_ASSERT_DOUBLE_EQUAL(num(p, "availableSpotNumber"), 40, 0);
    CU_ASSERT(num(p, "high") - num(p, "low") >= 60);
    json_decref(j);

    /* absurd or bad parameters: 400 naming the parameter */
    struct { const char *q; const char *names; } bad[] = {
        {"?horizon_s=0", "horizon_s:"}, {"?horizon_s=99999999", "horizon_s:"},
        {"?horizon_s=-60", "horizon_s:"}, {"?horizon_s=1.5", "horizon_s:"},
        {"?step_s=5", "step_s:"}, {"?horizon_s=600&step_s=900", "step_s:"},
        {"?horizon_s=604800&step_s=60", "step_s:"}, {"?at=yesterday", "at:"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = forecast(&c, "fc-a", bad[i].q, 400);
        const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
        CU_ASSERT(msg != NULL && strncmp(msg, bad[i].names, strlen(bad[i].names)) == 0);
        json_decref(j);
    }
    json_decref(forecast(&c, "nope", "", 404));

    /* the model is in Redis (one key per lot, the lot's hash tag) and comes
     * back after a restart of cityd: the same forecast */
    long long saved = 0;                        /* forecast_save_s = 1: within seconds */
    char key[KEY_MAX], cmd[KEY_MAX + 64];
    snprintf(cmd, sizeof cmd, "EXISTS '%s'", keys_lot(key, sizeof key, "fc-a", "forecast"));
    for (int i = 0; i < 300 && saved != 1; i++) {
        support_sleep_ms(50);
        saved = support_redis_int(&r, cmd);
    }
    CU_ASSERT_EQUAL(saved, 1);
    /* a model that is not one (another version, damage) is skipped */
    snprintf(cmd, sizeof cmd, "SET '%s' cfc1-not-a-model",
             keys_lot(key, sizeof key, "fc-none", "forecast"));
    support_redis_int(&r, cmd);
    snprintf(cmd, sizeof cmd, "SET '%s' ''", keys_lot(key, sizeof key, "fc-one", "forecast"));
    support_redis_int(&r, cmd);
    support_cityd_stop(&c);
    CU_ASSERT_FATAL(support_cityd_start(&c, r.url, EXTRA) == 0);
    json_t *after = check_forecast(&c, "fc-a", 200, 0.9, at);
    json_t *none = forecast(&c, "fc-none", "", 200);
    CU_ASSERT(json_is_null(json_object_get(json_array_get(json_object_get(none, "forecast"), 0),
                                           "availableSpotNumber")));
    json_decref(none);
    json_decref(forecast(&c, "fc-one", "", 200));
    CU_ASSERT(json_equal(json_object_get(before, "forecast"), json_object_get(after, "forecast")));
    json_decref(before);
    json_decref(after);

    /* a second cityd on the same Redis learns what the first one takes,
     * from the change feed: both forecast alike */
    struct test_cityd c2;
    CU_ASSERT_FATAL(support_cityd_start(&c2, r.url, EXTRA) == 0);
    char body[256], fq[96];
    snprintf(body, sizeof body, "{\"observations\":[{\"id\":\"late\",\"lot\":\"fc-a\","
             "\"availableSpotNumber\":3,\"ts\":%.0f}]}", at + 60);
    json_decref(CALL(&c, "POST", "/v1/parking/observations", SENSOR, body, 200));
    snprintf(fq, sizeof fq, "?horizon_s=1800&step_s=900&at=%.0f", at + 60);
    json_t *one = forecast(&c, "fc-a", fq, 200), *two = NULL;
    CU_ASSERT(num(json_array_get(json_object_get(one, "forecast"), 0), "availableSpotNumber") < 30);
    for (int i = 0; i < 200; i++) {           /* the feed is polled every 0.1 s */
        json_decref(two);
        two = forecast(&c2, "fc-a", fq, 200);
        if (json_equal(json_object_get(one, "forecast"), json_object_get(two, "forecast")))
            break;
        support_sleep_ms(50);
    }
    CU_ASSERT(json_equal(json_object_get(one, "forecast"), json_object_get(two, "forecast")));
    json_decref(one);
    json_decref(two);
    support_cityd_stop(&c2);

    /* nearest?arrive_in_s=: fc-full has room now but is forecast full in
     * two hours (top 1.0 from 11:00), fc-b farther away stays half empty */
    put_lot(&c, "fc-full", 121.5, 37.6, 100, "{\"rate_per_hour\":4}");
    put_lot(&c, "fc-b", 121.5, 37.605, 100, "{\"rate_per_hour\":4}");
    double at2 = MON0 + 21 * DAY + 10 * 3600;   /* 10:00: 70 % full; full 11:00-15:00 */
    post_history(&c, "fc-full", 100, 1.0, 0, 22, at2);
    post_history(&c, "fc-b", 100, 0.5, 0, 22, at2);
    char q[256];
    snprintf(q, sizeof q, "/v1/parking/nearest?lon=121.5&lat=37.6&radius_m=2000&at=%.0f", at2);
    j = CALL(&c, "GET", q, NULL, NULL, 200);
    json_t *lots = json_object_get(j, "lots");
    CU_ASSERT_EQUAL(json_array_size(lots), 2);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(lots, 0), "id")),
                           "fc-full");
    CU_ASSERT_PTR_NULL(json_object_get(json_array_get(lots, 0), "forecast"));
    json_decref(j);
    strcat(q, "&arrive_in_s=7200");
    j = CALL(&c, "GET", q, NULL, NULL, 200);
    lots = json_object_get(j, "lots");
    CU_ASSERT_EQUAL(json_array_size(lots), 1);
    json_t *l0 = json_array_get(lots, 0);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(l0, "id")), "fc-b");
    json_t *f = json_object_get(l0, "forecast");
    CU_ASSERT_DOUBLE_EQUAL(num(f, "ts"), at2 + 7200, 0);
    CU_ASSERT(fabs(num(f, "availableSpotNumber") - 50) <= 5);
    json_decref(j);
    strcat(q, "&min_available=0");              /* no filter: both, each with its forecast */
    j = CALL(&c, "GET", q, NULL, NULL, 200);
    lots = json_object_get(j, "lots");
    CU_ASSERT_EQUAL(json_array_size(lots), 2);
    CU_ASSERT(num(json_object_get(json_array_get(lots, 0), "forecast"), "availableSpotNumber") <= 3);
    json_decref(j);
    snprintf(q, sizeof q, "/v1/parking/nearest?lon=121.5&lat=37.6&arrive_in_s=%s", "99999999");
    j = CALL(&c, "GET", q, NULL, NULL, 400);
    CU_ASSERT(strncmp(json_string_value(json_object_get(json_object_get(j, "error"), "message")),
                      "arrive_in_s:", 12) == 0);
    json_decref(j);
    down(&r, &c);
}

/* ---- price advice ---- */

/* A day (Monday) of constant occupancy for lot, every 15 minutes. */
static void post_day(const struct test_cityd *c, const char *lot, int avail)
{
    char body[1 << 16];
    size_t len = (size_t)snprintf(body, sizeof body, "{\"observations\":[");
    for (int i = 0; i < 96; i++)
        len += (size_t)snprintf(body + len, sizeof body - len,
                                "%s{\"id\":\"%s-%d\",\"lot\":\"%s\",\"availableSpotNumber\":%d,"
                                "\"ts\":%.0f}", i ? "," : "", lot, i, lot, avail, MON0 + i * 900.0);
    snprintf(body + len, sizeof body - len, "]}");
    json_decref(CALL(c, "POST", "/v1/parking/observations", SENSOR, body, 200));
}

static void test_pricing(void)
{
    struct test_redis r;
    struct test_cityd c;
    if (!up(&r, &c))
        return;
    struct { const char *id; int avail; double rate, occ, advised; const char *says; } lots[] = {
        {"pr-59", 41, 3.0, 0.59, 2.5, "below the 60 % target: lower by 0.50"},
        {"pr-60", 40, 3.0, 0.60, 3.0, "within the 60-80 % target: keep"},
        {"pr-80", 20, 3.0, 0.80, 3.0, "within the 60-80 % target: keep"},
        {"pr-81", 19, 3.0, 0.81, 3.5, "above the 80 % target: raise by 0.50"},
        {"pr-max", 5, 20.0, 0.95, 20.0, "at the upper bound 20.00"},
        {"pr-min", 90, 0.5, 0.10, 0.5, "at the lower bound 0.50"},
    };
    for (size_t i = 0; i < sizeof lots / sizeof lots[0]; i++) {
        char t[64];
        snprintf(t, sizeof t, "{\"rate_per_hour\":%.2f}", lots[i].rate);
        put_lot(&c, lots[i].id, 121.6 + 0.001 * (double)i, 37.7, 100, t);
        post_day(&c, lots[i].id, lots[i].avail);
    }
    const char *q = "/v1/parking/pricing?bbox=121.59,37.69,121.61,37.71&at=1764648000";
    json_decref(CALL(&c, "GET", q, "k-reader", NULL, 403));
    json_decref(CALL(&c, "GET", q, NULL, NULL, 401));
    json_t *j = CALL(&c, "GET", q, "k-engineer", NULL, 200);
    json_t *arr = json_object_get(j, "lots");
    CU_ASSERT_EQUAL_FATAL(json_array_size(arr), sizeof lots / sizeof lots[0]);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *o = json_array_get(arr, i);
        const char *id = json_string_value(json_object_get(o, "id"));
        for (size_t k = 0; k < sizeof lots / sizeof lots[0]; k++) {
            if (strcmp(id, lots[k].id) != 0)
                continue;
            const char *why = json_string_value(json_object_get(o, "reason"));
            CU_ASSERT_DOUBLE_EQUAL(num(o, "occupancy_mean"), lots[k].occ, 1e-9);
            CU_ASSERT_DOUBLE_EQUAL(num(o, "rate_per_hour"), lots[k].rate, 1e-9);
            CU_ASSERT_DOUBLE_EQUAL(num(o, "advised_rate_per_hour"), lots[k].advised, 1e-9);
            CU_ASSERT(why != NULL && strstr(why, lots[k].says) != NULL);
            if (why == NULL || strstr(why, lots[k].says) == NULL ||
                fabs(num(o, "advised_rate_per_hour") - lots[k].advised) > 1e-9)
                fprintf(stderr, "\n%s: %.3f %.2f \"%s\"\n", id, num(o, "occupancy_mean"),
                        num(o, "advised_rate_per_hour"), why ? why : "");
        }
    }
    json_decref(j);
    /* during the day itself the period is not complete: no advice yet */
    j = CALL(&c, "GET", "/v1/parking/pricing?bbox=121.59,37.69,121.61,37.71&at=1764561600",
             "k-engineer", NULL, 200);
    json_t *o = json_array_get(json_object_get(j, "lots"), 0);
    CU_ASSERT(json_is_null(json_object_get(o, "occupancy_mean")));
    CU_ASSERT_DOUBLE_EQUAL(num(o, "advised_rate_per_hour"), num(o, "rate_per_hour"), 1e-9);
    json_decref(j);
    json_decref(CALL(&c, "GET", "/v1/parking/pricing?bbox=1,2,3", "k-engineer", NULL, 400));
    /* a replayed feed may push the clock anywhere: answers stay JSON */
    json_decref(CALL(&c, "POST", "/v1/parking/observations", SENSOR,
                     "{\"observations\":[{\"id\":\"far\",\"lot\":\"pr-60\","
                     "\"availableSpotNumber\":1,\"ts\":1e300}]}", 200));
    j = CALL(&c, "GET", "/v1/parking/nearest?lon=121.6&lat=37.7&arrive_in_s=60&min_available=0",
             NULL, NULL, 200);
    CU_ASSERT(json_array_size(json_object_get(j, "lots")) > 0);
    CU_ASSERT(num(json_object_get(json_array_get(json_object_get(j, "lots"), 0), "forecast"),
                  "ts") > 1e299);
    json_decref(j);
    json_decref(CALL(&c, "GET", "/v1/parking/lots/pr-60/forecast", NULL, NULL, 200));
    json_decref(CALL(&c, "GET", "/v1/parking/pricing", "k-engineer", NULL, 200));
    down(&r, &c);
}

/* ---- the demo map's lots carry what an app needs ---- */

static void test_demo_fields(void)
{
    struct test_redis r;
    struct test_cityd c;
    static const char *const demo[] = {"clock.mode=replay", NULL};
    if (support_redis_start(&r) != 0 || support_cityd_start(&c, r.url, demo) != 0) {
        CU_FAIL("cannot start redis-server and cityd");
        return;
    }
    json_t *j = CALL(&c, "GET", "/v1/parking/lots", NULL, NULL, 200);
    json_t *lots = json_object_get(j, "lots");
    CU_ASSERT(json_array_size(lots) > 30);
    for (size_t i = 0; i < json_array_size(lots); i++) {
        json_t *l = json_array_get(lots, i);
        CU_ASSERT(json_is_string(json_object_get(l, "address")));
        CU_ASSERT(json_is_string(json_object_get(l, "name_en")));
        CU_ASSERT(json_is_string(json_object_get(l, "openingHours")));
        CU_ASSERT(json_is_object(json_object_get(l, "tariff")));
        json_t *co = json_object_get(json_object_get(l, "location"), "coordinates");
        for (size_t k = 0; k < 2; k++) {
            double v = json_number_value(json_array_get(co, k));
            CU_ASSERT_DOUBLE_EQUAL(v * 1e7, round(v * 1e7), 1e-3);
        }
        double price = num(l, "priceRatePerHour");
        CU_ASSERT_DOUBLE_EQUAL(price * 100, round(price * 100), 1e-6);
    }
    json_decref(j);
    j = CALL(&c, "GET", "/v1/parking/lots/yt-zf-0003/fee?from=1764547200&to=1764554400", NULL,
             NULL, 200);
    CU_ASSERT_DOUBLE_EQUAL(num(j, "amount"), 6.0, 1e-9);    /* mall: 30 min free, 3 x 2.00 */
    json_decref(j);
    down(&r, &c);
}

int suite_apps(void)
{
    CU_pSuite s = CU_add_suite("apps", NULL, NULL);
    if (s == NULL || CU_add_test(s, "fee = the exit gate's bill", test_fee_is_gate_bill) == NULL ||
        CU_add_test(s, "forecasts, restart, nearest at arrival", test_forecast) == NULL ||
        CU_add_test(s, "SFpark price advice", test_pricing) == NULL ||
        CU_add_test(s, "the demo's lots carry an app's fields", test_demo_fields) == NULL)
        return -1;
    return 0;
}
