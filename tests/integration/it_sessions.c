/* it_sessions.c -- plate sessions over HTTP against a real cityd and a
 * real redis-server: a whole garage day (accounts, entries, exits under
 * autopay / pay-later / cash, payments, duplicates, no entry record,
 * arrears at the next entry), replays of every request, bad input, and
 * restarts of Redis and of cityd in the middle.
 *
 * Map: tests/fixtures/maps/garage (lot it-g1, tariff of api.md: 15 free
 * minutes, 6.00/h in 30-minute units, cap 40.00, night 22:00-07:00 at
 * 1.00/h, Asia/Shanghai). Clock: replay mode, so "now" is the latest
 * gate event. D = 2025-12-01; D 08:00 local = 1764547200. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support.h"

#define D0800 1764547200.0              /* 2025-12-01 08:00 +08:00 */
#define H 3600.0
#define OP "k-operator"

/* The suite's keys file: the roles of support.c plus kiosk keys bound
 * to the fixture's lots and to the demo city's two garages. */
static char keys_opt[400];

static const char *const EXTRA[] = {"map.dir=tests/fixtures/maps/garage", "clock.mode=replay",
                                    keys_opt, NULL};

static int suite_init(void)
{
    char *d = support_tmpdir("it-sessions-keys");
    if (d == NULL)
        return -1;
    snprintf(keys_opt, sizeof keys_opt, "auth.keys_file=%s/keys.conf", d);
    free(d);
    FILE *f = fopen(strchr(keys_opt, '=') + 1, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "k-admin admin test-admin\n"
               "k-reader reader test-reader\n"
               "k-sensor sensor test-sensor\n"
               "k-operator operator test-operator\n"
               "k-engineer engineer test-engineer\n"
               "k-kiosk-g1 kiosk kiosk-g1 lot=it-g1\n"
               "k-kiosk-s2 kiosk kiosk-s2 lot=it-s2\n"
               "k-kiosk-zf5 kiosk kiosk-zf5 lot=yt-zf-0005\n"
               "k-kiosk-zf8 kiosk kiosk-zf8 lot=yt-zf-0008\n");
    return fclose(f);
}

static int suite_clean(void)
{
    char dir[400];
    snprintf(dir, sizeof dir, "%s", strchr(keys_opt, '=') + 1);
    *strrchr(dir, '/') = '\0';
    support_rmrf(dir);
    return 0;
}

/* The kiosk key bound to the lot of kiosk `kiosk` (fixture: k-b1, k-b2
 * in it-g1, k-s2 in it-s2; demo: yt-zf-0005-K-..., yt-zf-0008-K-...). */
static const char *kiosk_key(const char *kiosk)
{
    if (strcmp(kiosk, "k-s2") == 0)
        return "k-kiosk-s2";
    if (strncmp(kiosk, "yt-zf-0005", 10) == 0)
        return "k-kiosk-zf5";
    if (strncmp(kiosk, "yt-zf-0008", 10) == 0)
        return "k-kiosk-zf8";
    return "k-kiosk-g1";
}

/* Send a request, check the status, return the parsed body (caller
 * frees) or NULL. */
static json_t *call(const struct test_cityd *c, const char *method, const char *path,
                    const char *key, const char *body, long want, int line)
{
    struct http_result r;
    int rc = strcmp(method, "GET") == 0 ? support_get(c->base, path, key, &r)
                                        : support_send(method, c->base, path, key, body, &r);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(r.status, want);
    if (r.status != want)
        fprintf(stderr, "\nline %d: %s %s -> %ld (want %ld): %s\n", line, method, path, r.status,
                want, r.body);
    json_t *j = r.json ? json_incref(r.json) : NULL;
    http_result_free(&r);
    return j;
}
#define CALL(c, m, p, k, b, w) call((c), (m), (p), (k), (b), (w), __LINE__)

static json_t *gate(const struct test_cityd *c, const char *lot, const char *kind,
                    const char *id, const char *plate, double ts, long want, int line)
{
    char path[256], body[512];
    snprintf(path, sizeof path, "/v1/parking/lots/%s/%s", lot, kind);
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"plate\":\"%s\",\"gate\":\"G-%s\",\"ts\":%.0f}",
             id, plate, kind, ts);
    return call(c, "POST", path, OP, body, want, line);
}
#define ENTRY(c, id, plate, ts, want) gate((c), "it-g1", "entries", (id), (plate), (ts), (want), __LINE__)
#define EXIT(c, id, plate, ts, want) gate((c), "it-g1", "exits", (id), (plate), (ts), (want), __LINE__)

static json_t *pay(const struct test_cityd *c, const char *sid, const char *body, long want,
                   int line)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/parking/sessions/%s/payments", sid);
    return call(c, "POST", path, OP, body, want, line);
}
#define PAY(c, sid, body, want) pay((c), (sid), (body), (want), __LINE__)

/* The string at a "session.status" style path, "(missing)" when there is
 * none (never NULL: a failing check must not crash the suite). */
static const char *sget(const json_t *j, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    const json_t *cur = j;
    for (char *tok = strtok(buf, "."); tok && cur; tok = strtok(NULL, "."))
        cur = json_object_get(cur, tok);
    return json_is_string(cur) ? json_string_value(cur) : "(missing)";
}

static double nget(const json_t *j, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    const json_t *cur = j;
    for (char *tok = strtok(buf, "."); tok && cur; tok = strtok(NULL, "."))
        cur = json_object_get(cur, tok);
    return json_is_number(cur) ? json_number_value(cur) : NAN;
}

static bool has_flag(const json_t *session, const char *flag)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(session, "flags"), i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), flag) == 0)
            return true;
    return false;
}

static bool up_with(struct test_redis *r, struct test_cityd *c, const char *const *extra)
{
    if (support_redis_start(r) != 0 || support_cityd_start(c, r->url, extra) != 0) {
        CU_FAIL("cannot start redis-server and cityd");
        return false;
    }
    /* sessions load asynchronously: wait until the list answers */
    for (int i = 0; i < 500; i++) {
        struct http_result hr;
        long st = 0;
        if (support_get(c->base, "/v1/parking/sessions?plate=%E9%B2%81F12345", OP, &hr) == 0)
            st = hr.status;
        http_result_free(&hr);
        if (st == 200)
            return true;
        support_sleep_ms(10);
    }
    CU_FAIL("sessions never loaded");
    return false;
}

static bool up(struct test_redis *r, struct test_cityd *c)
{
    return up_with(r, c, EXTRA);
}

static void down(struct test_redis *r, struct test_cityd *c)
{
    support_cityd_stop(c);
    support_redis_stop(r);
}

/* ---- a whole day ---- */

static void accounts(const struct test_cityd *c)
{
    json_t *j = CALL(c, "PUT", "/v1/parking/accounts/%E9%B2%81fa0001", OP,
                     "{\"autopay\":true,\"pay_later\":false}", 200);
    CU_ASSERT_STRING_EQUAL(sget(j, "plate"), "鲁FA0001");
    CU_ASSERT(json_is_true(json_object_get(j, "autopay")));
    json_decref(j);
    json_decref(CALL(c, "PUT", "/v1/parking/accounts/%E9%B2%81FB0002", OP,
                     "{\"autopay\":false,\"pay_later\":true}", 200));
    /* replay: same answer */
    json_decref(CALL(c, "PUT", "/v1/parking/accounts/%E9%B2%81FB0002", OP,
                     "{\"autopay\":false,\"pay_later\":true}", 200));
    json_decref(CALL(c, "PUT", "/v1/parking/accounts/XYZ", OP,
                     "{\"autopay\":false,\"pay_later\":true}", 400));
    json_decref(CALL(c, "PUT", "/v1/parking/accounts/%E9%B2%81FB0002", OP, "{\"autopay\":1}", 400));
    json_decref(CALL(c, "PUT", "/v1/parking/accounts/%E9%B2%81FB0002", "k-reader",
                     "{\"autopay\":false,\"pay_later\":true}", 403));
}

static void bad_gate_input(const struct test_cityd *c)
{
    json_t *j = ENTRY(c, "bad-1", "ABC123", D0800, 400);
    CU_ASSERT_PTR_NOT_NULL(strstr(sget(j, "error.message"), "plate"));
    CU_ASSERT_STRING_EQUAL(sget(j, "error.code"), "invalid");
    json_decref(j);
    json_decref(gate(c, "no-such-lot", "entries", "bad-2", "鲁F12345", D0800, 404, __LINE__));
    j = CALL(c, "POST", "/v1/parking/lots/it-g1/entries", OP,
             "{\"id\":\"bad-3\",\"plate\":\"鲁F12345\",\"gate\":\"N\"}", 400);
    CU_ASSERT_PTR_NOT_NULL(strstr(sget(j, "error.message"), "ts"));
    json_decref(j);
    json_decref(CALL(c, "POST", "/v1/parking/lots/it-g1/entries", NULL,
                     "{\"id\":\"bad-4\",\"plate\":\"鲁F12345\",\"gate\":\"N\",\"ts\":1}", 401));
    json_decref(CALL(c, "POST", "/v1/parking/lots/it-g1/entries", "k-reader",
                     "{\"id\":\"bad-4\",\"plate\":\"鲁F12345\",\"gate\":\"N\",\"ts\":1}", 403));
    json_decref(CALL(c, "POST", "/v1/parking/lots/it-g1/exits", OP, "{\"id\":", 400));
    /* none of these left a session behind */
    j = CALL(c, "GET", "/v1/parking/sessions?plate=%E9%B2%81F12345", OP, NULL, 200);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "sessions")), 0);
    json_decref(j);
}

static void test_day(void)
{
    struct test_redis r;
    struct test_cityd c;
    if (!up(&r, &c))
        return;
    accounts(&c);
    bad_gate_input(&c);

    /* 08:00 four cars in; a replay answers the same session */
    json_t *a = ENTRY(&c, "in-a", "鲁fa0001", D0800, 201);
    json_t *b = ENTRY(&c, "in-b", "鲁FB·0002", D0800, 201);
    json_t *cc = ENTRY(&c, "in-c", "鲁FC0003", D0800, 201);
    json_t *d1 = ENTRY(&c, "in-d1", "鲁FD12345", D0800 + 300, 201);
    CU_ASSERT_STRING_EQUAL(sget(a, "session.status"), "active");
    CU_ASSERT_STRING_EQUAL(sget(b, "session.plate"), "鲁FB0002");
    CU_ASSERT_DOUBLE_EQUAL(nget(a, "arrears.amount"), 0, 1e-9);
    json_t *again = ENTRY(&c, "in-a", "鲁FA0001", D0800, 200);
    CU_ASSERT_STRING_EQUAL(sget(again, "session.id"), sget(a, "session.id"));
    json_decref(again);
    json_decref(ENTRY(&c, "in-a", "鲁FC0003", D0800, 409));   /* same id, other plate */
    char sid_a[64], sid_b[64], sid_c[64], sid_d1[64];
    snprintf(sid_a, sizeof sid_a, "%s", sget(a, "session.id"));
    snprintf(sid_b, sizeof sid_b, "%s", sget(b, "session.id"));
    snprintf(sid_c, sizeof sid_c, "%s", sget(cc, "session.id"));
    snprintf(sid_d1, sizeof sid_d1, "%s", sget(d1, "session.id"));
    json_decref(a);
    json_decref(b);
    json_decref(cc);
    json_decref(d1);

    /* 10:00 A leaves under autopay: 08:15..10:00 = 4 units of 3.00 */
    json_t *x = EXIT(&c, "out-a", "鲁FA0001", D0800 + 2 * H, 201);
    CU_ASSERT_STRING_EQUAL(sget(x, "gate"), "open");
    CU_ASSERT_STRING_EQUAL(sget(x, "session.status"), "paid");
    CU_ASSERT_DOUBLE_EQUAL(nget(x, "session.amountDue"), 12.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(nget(x, "session.amountPaid"), 12.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(nget(x, "session.durationSeconds"), 7200, 1e-9);
    json_decref(x);
    x = EXIT(&c, "out-a", "鲁FA0001", D0800 + 2 * H, 200);         /* replay */
    CU_ASSERT_DOUBLE_EQUAL(nget(x, "session.amountPaid"), 12.0, 1e-9);
    CU_ASSERT_STRING_EQUAL(sget(x, "gate"), "open");
    json_decref(x);
    x = EXIT(&c, "out-a2", "鲁FA0001", D0800 + 2 * H + 20, 200);   /* second camera read */
    CU_ASSERT_STRING_EQUAL(sget(x, "session.id"), sid_a);
    json_decref(x);

    /* B leaves under pay-later */
    x = EXIT(&c, "out-b", "鲁FB0002", D0800 + 2 * H, 201);
    CU_ASSERT_STRING_EQUAL(sget(x, "gate"), "open");
    CU_ASSERT_STRING_EQUAL(sget(x, "session.status"), "exited_unpaid");
    CU_ASSERT_DOUBLE_EQUAL(nget(x, "session.payBy"), D0800 + 2 * H + 259200, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(nget(x, "session.amountDue"), 12.0, 1e-9);
    json_decref(x);

    /* 12:00 C has no account: the gate holds until paid (8 units = 24.00) */
    x = EXIT(&c, "out-c", "鲁FC0003", D0800 + 4 * H, 201);
    CU_ASSERT_STRING_EQUAL(sget(x, "gate"), "hold");
    CU_ASSERT_STRING_EQUAL(sget(x, "session.status"), "payment_required");
    CU_ASSERT_DOUBLE_EQUAL(nget(x, "session.amountDue"), 24.0, 1e-9);
    json_decref(x);
    x = PAY(&c, sid_c, "{\"id\":\"p-c1\",\"amount\":10,\"method\":\"cash\"}", 200);
    CU_ASSERT_DOUBLE_EQUAL(nget(x, "amountPaid"), 10.0, 1e-9);
    CU_ASSERT_STRING_EQUAL(sget(x, "status"), "payment_required");
    json_decref(x);
    /* amounts print as decimals, not binary noise (12.300000000000001) */
    struct http_result raw;
    char ppath[128];
    snprintf(ppath, sizeof ppath, "/v1/parking/sessions/%s/payments", sid_c);
    CU_ASSERT_EQUAL(support_send("POST", c.base, ppath, OP,
                                 "{\"id\":\"p-c0\",\"amount\":0.1,\"method\":\"cash\"}", &raw), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(raw.body, "\"amountPaid\":10.1,"));
    http_result_free(&raw);
    x = PAY(&c, sid_c, "{\"id\":\"p-c1\",\"amount\":10,\"method\":\"cash\"}", 200);   /* replay */
    CU_ASSERT_DOUBLE_EQUAL(nget(x, "amountPaid"), 10.1, 1e-9);
    json_decref(x);
    json_decref(PAY(&c, sid_c, "{\"id\":\"p-c1\",\"amount\":11,\"method\":\"cash\"}", 409));
    x = PAY(&c, sid_c, "{\"id\":\"p-c2\",\"amount\":-5,\"method\":\"cash\"}", 400);
    CU_ASSERT_PTR_NOT_NULL(strstr(sget(x, "error.message"), "amount"));
    json_decref(x);
    json_decref(PAY(&c, sid_c, "{\"id\":\"p-c2\",\"amount\":0.001,\"method\":\"cash\"}", 400));
    x = PAY(&c, sid_c, "{\"id\":\"p-c2\",\"amount\":15,\"method\":\"cash\"}", 409);
    CU_ASSERT_PTR_NOT_NULL(strstr(sget(x, "error.message"), "13.90 due"));
    json_decref(x);
    json_decref(PAY(&c, sid_c, "{\"id\":\"p-c2\",\"amount\":13.9,\"method\":\"cash\",\"lot\":\"it-s2\"}",
                    409));
    json_decref(PAY(&c, sid_a, "{\"id\":\"p-c1\",\"amount\":1,\"method\":\"cash\"}", 409));
    json_decref(PAY(&c, "ps-nosuchsession", "{\"id\":\"p-x\",\"amount\":1,\"method\":\"cash\"}", 404));
    x = PAY(&c, sid_c, "{\"id\":\"p-c2\",\"amount\":13.9,\"method\":\"wechat\",\"lot\":\"it-g1\"}", 200);
    CU_ASSERT_STRING_EQUAL(sget(x, "status"), "paid");
    CU_ASSERT_EQUAL(json_array_size(json_object_get(x, "payments")), 3);
    json_decref(x);

    /* 20:00 D is read entering again: its first stay lost its exit */
    json_t *d2 = ENTRY(&c, "in-d2", "鲁FD12345", D0800 + 12 * H, 201);
    CU_ASSERT(has_flag(json_object_get(d2, "session"), "duplicate_entry"));
    json_decref(d2);
    json_t *list = CALL(&c, "GET", "/v1/parking/sessions?plate=%E9%B2%81FD12345&status=void", OP,
                        NULL, 200);
    json_t *s0 = json_array_get(json_object_get(list, "sessions"), 0);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(list, "sessions")), 1);
    CU_ASSERT_STRING_EQUAL(sget(s0, "id"), sid_d1);
    CU_ASSERT(has_flag(s0, "duplicate_entry"));
    CU_ASSERT_DOUBLE_EQUAL(nget(s0, "amountDue"), 0, 1e-9);
    json_decref(list);

    /* an exit with no entry record: nothing billed, the gate holds */
    x = EXIT(&c, "out-e", "鲁FE0005", D0800 + 13 * H, 201);
    CU_ASSERT_STRING_EQUAL(sget(x, "gate"), "hold");
    CU_ASSERT_STRING_EQUAL(sget(x, "session.status"), "void");
    CU_ASSERT(has_flag(json_object_get(x, "session"), "no_entry_record"));
    CU_ASSERT(json_is_null(json_object_get(json_object_get(x, "session"), "entryTime")));
    json_decref(x);
    json_decref(EXIT(&c, "out-e", "鲁FE0005", D0800 + 13 * H, 200));

    /* next day B comes back: its unpaid 12.00 is reported */
    json_t *b2 = ENTRY(&c, "in-b2", "鲁FB0002", D0800 + 25 * H, 201);
    CU_ASSERT_DOUBLE_EQUAL(nget(b2, "arrears.amount"), 12.0, 1e-9);
    json_t *ids = json_object_get(json_object_get(b2, "arrears"), "sessions");
    CU_ASSERT(json_array_size(ids) == 1 && json_is_string(json_array_get(ids, 0)) &&
              strcmp(json_string_value(json_array_get(ids, 0)), sid_b) == 0);
    json_decref(b2);
    list = CALL(&c, "GET", "/v1/parking/sessions?plate=%E9%B2%81fb%C2%B70002", OP, NULL, 200);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(list, "sessions")), 2);
    CU_ASSERT_STRING_EQUAL(sget(json_array_get(json_object_get(list, "sessions"), 0), "status"),
                           "active");                            /* newest first */
    CU_ASSERT_DOUBLE_EQUAL(nget(list, "arrears.amount"), 12.0, 1e-9);
    json_decref(list);
    json_decref(CALL(&c, "GET", "/v1/parking/sessions?plate=%E9%B2%81FB0002&status=gone", OP, NULL,
                     400));
    json_decref(CALL(&c, "GET", "/v1/parking/sessions", OP, NULL, 400));
    json_decref(CALL(&c, "GET", "/v1/parking/sessions?plate=%E9%B2%81FB0002", "k-reader", NULL, 403));
    x = PAY(&c, sid_b, "{\"id\":\"p-b\",\"amount\":12,\"method\":\"alipay\"}", 200);
    CU_ASSERT_STRING_EQUAL(sget(x, "status"), "paid");
    json_decref(x);
    list = CALL(&c, "GET", "/v1/parking/sessions?plate=%E9%B2%81FB0002", OP, NULL, 200);
    CU_ASSERT_DOUBLE_EQUAL(nget(list, "arrears.amount"), 0, 1e-9);
    json_decref(list);

    /* find-car: validation, and nobody is found who is not parked here */
    json_decref(CALL(&c, "GET", "/v1/parking/find-car?plate=%E9%B2%81FA0001&from=k-nope",
                     "k-kiosk-g1", NULL, 404));
    json_decref(CALL(&c, "GET", "/v1/parking/find-car?plate=%E9%B2%81FA0001", "k-kiosk-g1", NULL,
                     400));
    json_decref(CALL(&c, "GET", "/v1/parking/find-car?plate=XYZ&from=k-b1", "k-kiosk-g1", NULL,
                     400));
    json_decref(CALL(&c, "GET", "/v1/parking/find-car?plate=%E9%B2%81FA0001&from=k-b1",
                     "k-kiosk-g1", NULL, 404));

    /* metrics count what happened */
    struct http_result m;
    CU_ASSERT_EQUAL_FATAL(support_get(c.base, "/metrics", NULL, &m), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(m.body, "cityd_parking_gate_events_total{kind=\"entry\","
                                          "outcome=\"new\"} 6"));
    CU_ASSERT_PTR_NOT_NULL(strstr(m.body, "cityd_parking_gate_events_total{kind=\"exit\","
                                          "outcome=\"reread\"} 1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(m.body, "cityd_parking_payments_total{outcome=\"replay\"} 1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(m.body, "cityd_parking_sessions_active 2"));
    http_result_free(&m);
    down(&r, &c);
}

/* ---- reverse car-finding ---- */

/* POST one bay state (plate NULL: no camera read); check how many were
 * accepted and how many were duplicates. */
static void observe(const struct test_cityd *c, const char *lot, const char *id, const char *bay,
                    const char *status, const char *plate, double ts, int accepted, int dups,
                    int line)
{
    char body[512], pl[96] = "";
    if (plate != NULL)
        snprintf(pl, sizeof pl, ",\"plate\":\"%s\"", plate);
    snprintf(body, sizeof body, "{\"observations\":[{\"id\":\"%s\",\"lot\":\"%s\",\"bay\":\"%s\","
             "\"status\":\"%s\",\"ts\":%.0f%s}]}", id, lot, bay, status, ts, pl);
    json_t *j = call(c, "POST", "/v1/parking/observations", "k-sensor", body, 200, line);
    CU_ASSERT_EQUAL(nget(j, "accepted"), accepted);
    CU_ASSERT_EQUAL(nget(j, "duplicates"), dups);
    json_decref(j);
}
#define PARKED(c, id, bay, plate, ts) observe((c), "it-g1", (id), (bay), "occupied", (plate), (ts), 1, 0, __LINE__)

/* GET /v1/parking/find-car; plate is URL-encoded by the caller. */
static json_t *find_car(const struct test_cityd *c, const char *plate, const char *kiosk,
                        const char *extra, long want, int line)
{
    char path[512];
    snprintf(path, sizeof path, "/v1/parking/find-car?plate=%s&from=%s%s", plate, kiosk,
             extra ? extra : "");
    return call(c, "GET", path, kiosk_key(kiosk), NULL, want, line);
}
#define FIND(c, plate, kiosk, want) find_car((c), (plate), (kiosk), NULL, (want), __LINE__)
#define P1 "%E9%B2%81F11111"            /* 鲁F11111 */
#define P2 "%E9%B2%81F22222"
#define P3 "%E9%B2%81F33333"
#define P4 "%E9%B2%81F44444"
#define P5 "%E9%B2%81F55555"
#define P6 "%E9%B2%81F66666"

static bool has_step(const json_t *fc, const char *instruction)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(json_object_get(fc, "route"), "steps"), i, v)
        if (strcmp(sget(v, "instruction"), instruction) == 0)
            return true;
    return false;
}

/* The first coordinate of the route's path, or NAN. */
static double path_lon0(const json_t *fc)
{
    const json_t *coords = json_object_get(json_object_get(json_object_get(fc, "route"), "path"),
                                           "coordinates");
    const json_t *lon = json_array_get(json_array_get(coords, 0), 0);
    return json_is_number(lon) ? json_number_value(lon) : NAN;
}

static void expect_bay(const struct test_cityd *c, const char *plate, const char *kiosk,
                       const char *bay, double distance_m, int line)
{
    json_t *fc = find_car(c, plate, kiosk, NULL, 200, line);
    char level[3] = {bay[0], bay[1], '\0'};              /* "B2-002" is on B2 */
    CU_ASSERT_STRING_EQUAL(sget(fc, "lot"), "it-g1");
    CU_ASSERT_STRING_EQUAL(sget(fc, "bay"), bay);
    CU_ASSERT_STRING_EQUAL(sget(fc, "level"), level);
    CU_ASSERT_DOUBLE_EQUAL(nget(fc, "route.distance_m"), distance_m, 0.2);
    if (strcmp(sget(fc, "bay"), bay) != 0 || fabs(nget(fc, "route.distance_m") - distance_m) > 0.2)
        fprintf(stderr, "\nline %d: find-car %s from %s: %s at %.1f m, want %s at %.1f m\n", line,
                plate, kiosk, sget(fc, "bay"), nget(fc, "route.distance_m"), bay, distance_m);
    json_decref(fc);
}
#define EXPECT_BAY(c, plate, kiosk, bay, d) expect_bay((c), (plate), (kiosk), (bay), (d), __LINE__)

/* Wait until the parking and session endpoints answer after a start. */
static bool restarted(struct test_cityd *c, const char *redis_url)
{
    if (support_cityd_start(c, redis_url, EXTRA) != 0)
        return false;
    for (int i = 0; i < 500; i++) {
        struct http_result hr;
        long st = 0;
        if (support_get(c->base, "/v1/parking/find-car?plate=%E9%B2%81F99999&from=k-b1",
                        "k-kiosk-g1", &hr) == 0)
            st = hr.status;
        http_result_free(&hr);
        if (st == 404)
            return true;
        support_sleep_ms(10);
    }
    return false;
}

/* The fixture garage: B1 and B2 joined by a lift (west end) and stairs
 * (east end) along a 60 m aisle; kiosks mid-aisle on each level, 3 m off
 * it. From k-b1 to B2-002 the stairs win: 3 + 30 + 25 + 3 = 61 m and 20 s
 * against 71 m by the lift. */
static void test_find_car(void)
{
    struct test_redis r;
    struct test_cityd c;
    if (!up(&r, &c))
        return;
    json_decref(ENTRY(&c, "f-in-1", "鲁F11111", D0800, 201));
    json_decref(ENTRY(&c, "f-in-2", "鲁F22222", D0800 + 60, 201));
    /* a bay with no plate read goes to the first car in without a bay;
     * a bay camera's read goes to its plate, whatever its spelling */
    PARKED(&c, "o-1", "B2-002", NULL, D0800 + 180);
    PARKED(&c, "o-2", "B1-003", "鲁f·22222", D0800 + 240);
    observe(&c, "it-g1", "o-1", "B2-002", "occupied", NULL, D0800 + 180, 0, 1, __LINE__);
    json_t *j = CALL(&c, "POST", "/v1/parking/observations", "k-sensor",
                     "{\"observations\":[{\"id\":\"o-bad\",\"lot\":\"it-g1\",\"bay\":\"B1-001\","
                     "\"status\":\"occupied\",\"plate\":\"ABC123\",\"ts\":1764547500}]}", 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(sget(json_array_get(json_object_get(j, "rejected"), 0),
                                       "error"), "plate"));
    json_decref(j);

    /* two cars in, two bays in one batch: one each, first in first */
    json_decref(ENTRY(&c, "f-in-4", "鲁F44444", D0800 + 600, 201));
    json_decref(ENTRY(&c, "f-in-5", "鲁F55555", D0800 + 660, 201));
    json_decref(CALL(&c, "POST", "/v1/parking/observations", "k-sensor",
                     "{\"observations\":[{\"id\":\"o-4\",\"lot\":\"it-g1\",\"bay\":\"B1-001\","
                     "\"status\":\"occupied\",\"ts\":1764547920},{\"id\":\"o-5\",\"lot\":\"it-g1\","
                     "\"bay\":\"B2-003\",\"status\":\"occupied\",\"ts\":1764547920}]}", 200));

    /* 08:20 a car that will never be seen in a bay; a bay turning
     * occupied 20 minutes later is not its (outside parking.phantom_s) */
    json_decref(ENTRY(&c, "f-in-3", "鲁F33333", D0800 + 1200, 201));
    PARKED(&c, "o-6", "B1-002", NULL, D0800 + 2400);

    /* from each kiosk of the garage */
    EXPECT_BAY(&c, P1, "k-b1", "B2-002", 61.0);
    EXPECT_BAY(&c, P1, "k-b2", "B2-002", 11.0);
    EXPECT_BAY(&c, P2, "k-b1", "B1-003", 26.0);
    EXPECT_BAY(&c, P2, "k-b2", "B1-003", 3 + 30 + 10 + 3.0);        /* stairs up */
    EXPECT_BAY(&c, P4, "k-b1", "B1-001", 3 + 20 + 3.0);
    EXPECT_BAY(&c, P5, "k-b2", "B2-003", 3 + 20 + 3.0);
    json_t *fc = FIND(&c, P1, "k-b1", 200);
    CU_ASSERT_DOUBLE_EQUAL(nget(fc, "entryTime"), D0800, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(nget(fc, "route.walk_seconds"), 61.0 / 1.2 + 20, 0.3);
    CU_ASSERT_STRING_EQUAL(sget(fc, "route.path.type"), "LineString");
    CU_ASSERT(has_step(fc, "Take the stairs from B1 to B2"));
    json_t *steps = json_object_get(json_object_get(fc, "route"), "steps");
    CU_ASSERT_STRING_EQUAL(sget(json_array_get(steps, 0), "level"), "B1");
    CU_ASSERT_STRING_EQUAL(sget(json_array_get(steps, json_array_size(steps) - 1), "level"), "B2");
    double lon_wgs = path_lon0(fc);
    json_decref(fc);
    /* GCJ-02 output: the same route, shifted by the GCJ-02 offset (~500 m here) */
    fc = find_car(&c, P1, "k-b1", "&crs=gcj02", 200, __LINE__);
    double shift = path_lon0(fc) - lon_wgs;
    CU_ASSERT(shift > 0.002 && shift < 0.01);
    CU_ASSERT_DOUBLE_EQUAL(nget(fc, "route.distance_m"), 61.0, 0.2);
    json_decref(fc);
    json_decref(find_car(&c, P1, "k-b1", "&crs=bd09", 400, __LINE__));

    /* nobody is found from a kiosk of another car park, nor a plate not
     * parked here, nor a car that never reached a bay */
    json_decref(FIND(&c, P1, "k-s2", 404));
    json_decref(FIND(&c, "%E9%B2%81F99999", "k-b1", 404));
    json_decref(FIND(&c, P3, "k-b1", 404));
    /* a bay camera's read finds a car whose entry was never read */
    PARKED(&c, "o-7", "B2-001", "鲁F66666", D0800 + 2500);
    fc = FIND(&c, P6, "k-b2", 200);
    CU_ASSERT_STRING_EQUAL(sget(fc, "bay"), "B2-001");
    CU_ASSERT(json_is_null(json_object_get(fc, "entryTime")));
    json_decref(fc);

    /* the links survive a restart of cityd and one of Redis */
    support_cityd_stop(&c);
    CU_ASSERT_EQUAL_FATAL(support_redis_restart(&r), 0);
    CU_ASSERT_FATAL(restarted(&c, r.url));
    EXPECT_BAY(&c, P1, "k-b1", "B2-002", 61.0);
    EXPECT_BAY(&c, P2, "k-b1", "B1-003", 26.0);
    EXPECT_BAY(&c, P4, "k-b1", "B1-001", 26.0);
    EXPECT_BAY(&c, P5, "k-b2", "B2-003", 26.0);
    /* replays after the restart link nothing twice */
    observe(&c, "it-g1", "o-4", "B1-001", "occupied", NULL, D0800 + 720, 0, 1, __LINE__);
    EXPECT_BAY(&c, P5, "k-b2", "B2-003", 26.0);

    /* a car leaves its bay: no longer found there */
    observe(&c, "it-g1", "o-8", "B1-001", "free", NULL, D0800 + 3000, 1, 0, __LINE__);
    json_decref(FIND(&c, P4, "k-b1", 404));

    /* exits: the car never seen in a bay is flagged phantom_entry */
    json_t *x = EXIT(&c, "f-out-3", "鲁F33333", D0800 + H, 201);
    CU_ASSERT(has_flag(json_object_get(x, "session"), "phantom_entry"));
    json_decref(x);
    x = EXIT(&c, "f-out-1", "鲁F11111", D0800 + H, 201);
    CU_ASSERT(!has_flag(json_object_get(x, "session"), "phantom_entry"));
    CU_ASSERT_STRING_EQUAL(sget(x, "session.bay"), "B2-002");
    CU_ASSERT_STRING_EQUAL(sget(x, "session.level"), "B2");
    json_decref(x);
    json_decref(FIND(&c, P1, "k-b1", 404));       /* gone */
    down(&r, &c);
}

/* The demo city: in both garages, a car parked on every level is found
 * from every kiosk of its garage, and from no kiosk of the other. */
static const char *const DEMO[] = {"map.dir=maps/yantai", "clock.mode=replay", keys_opt, NULL};

static void demo_garage(const struct test_cityd *c, const char *lot, const char *const *kiosks,
                        const char *const *other, const char *const *bays, const char *plate,
                        const char *plate_q, double t)
{
    char id[64];
    for (size_t b = 0; bays[b] != NULL; b++) {
        /* in, parked (a camera read every other time), found, out */
        snprintf(id, sizeof id, "%s-in-%zu", lot, b);
        json_decref(gate(c, lot, "entries", id, plate, t, 201, __LINE__));
        snprintf(id, sizeof id, "%s-bay-%zu", lot, b);
        observe(c, lot, id, bays[b], "occupied", b % 2 ? plate : NULL, t + 120, 1, 0, __LINE__);
        for (size_t k = 0; kiosks[k] != NULL; k++) {
            json_t *fc = find_car(c, plate_q, kiosks[k], NULL, 200, __LINE__);
            const json_t *steps = json_object_get(json_object_get(fc, "route"), "steps");
            const json_t *last = json_array_get(steps, json_array_size(steps) - 1);
            CU_ASSERT_STRING_EQUAL(sget(fc, "bay"), bays[b]);
            CU_ASSERT(nget(fc, "route.distance_m") > 0);
            CU_ASSERT(strncmp(sget(last, "level"), bays[b], 2) == 0);
            CU_ASSERT_PTR_NOT_NULL(strstr(sget(last, "instruction"), bays[b]));
            json_decref(fc);
        }
        for (size_t k = 0; other[k] != NULL; k++)
            json_decref(find_car(c, plate_q, other[k], NULL, 404, __LINE__));
        snprintf(id, sizeof id, "%s-out-%zu", lot, b);
        json_decref(gate(c, lot, "exits", id, plate, t + 1800, 201, __LINE__));
        snprintf(id, sizeof id, "%s-free-%zu", lot, b);
        observe(c, lot, id, bays[b], "free", NULL, t + 1700, 1, 0, __LINE__);
        t += 3600;
    }
}

static void test_demo_find_car(void)
{
    static const char *const zf5_k[] = {"yt-zf-0005-K-B1-1", "yt-zf-0005-K-B2-1", NULL};
    static const char *const zf8_k[] = {"yt-zf-0008-K-1F-1", "yt-zf-0008-K-1F-2",
                                        "yt-zf-0008-K-2F-1", "yt-zf-0008-K-3F-1", NULL};
    static const char *const zf5_b[] = {"B1-030", "B2-070", "B1-116", "B2-001", NULL};
    static const char *const zf8_b[] = {"1F-001", "2F-030", "3F-060", "3F-001", NULL};
    struct test_redis r;
    struct test_cityd c;
    if (support_redis_start(&r) != 0 || support_cityd_start(&c, r.url, DEMO) != 0) {
        CU_FAIL("cannot start redis-server and cityd");
        return;
    }
    bool ok = false;
    for (int i = 0; i < 500 && !ok; i++) {
        struct http_result hr;
        ok = support_get(c.base, "/v1/parking/find-car?plate=%E9%B2%81F99999&from=yt-zf-0005-K-B1-1",
                         "k-kiosk-zf5", &hr) == 0 && hr.status == 404;
        http_result_free(&hr);
        if (!ok)
            support_sleep_ms(10);
    }
    CU_ASSERT_FATAL(ok);
    demo_garage(&c, "yt-zf-0005", zf5_k, zf8_k, zf5_b, "鲁FD12345", "%E9%B2%81FD12345", D0800);
    demo_garage(&c, "yt-zf-0008", zf8_k, zf5_k, zf8_b, "鲁Y88888", "%E9%B2%81Y88888", D0800);
    down(&r, &c);
}

/* A lot created by PUT takes entries and is billed with the tariff of
 * its PUT body. */
static void test_put_lot(void)
{
    struct test_redis r;
    struct test_cityd c;
    if (!up(&r, &c))
        return;
    json_decref(gate(&c, "it-put", "entries", "p-in-0", "鲁F12345", D0800, 404, __LINE__));
    json_decref(CALL(&c, "PUT", "/v1/parking/lots/it-put", OP,
                     "{\"name\":\"Put lot\",\"totalSpotNumber\":4,\"priceCurrency\":\"CNY\","
                     "\"location\":{\"type\":\"Point\",\"coordinates\":[121.41,37.53]},"
                     "\"tariff\":{\"free_minutes\":0,\"rate_per_hour\":10,\"unit_minutes\":60,"
                     "\"daily_cap\":100}}", 201));
    json_decref(gate(&c, "it-put", "entries", "p-in-1", "鲁F12345", D0800, 201, __LINE__));
    json_t *x = gate(&c, "it-put", "exits", "p-out-1", "鲁F12345", D0800 + 2 * H + 1, 201,
                     __LINE__);
    CU_ASSERT_DOUBLE_EQUAL(nget(x, "session.amountDue"), 30.0, 1e-9);   /* 3 started hours */
    CU_ASSERT_STRING_EQUAL(sget(x, "session.lot"), "it-put");
    json_decref(x);
    down(&r, &c);
}

/* ---- cityd --check ---- */

/* `cityd --check -o map.dir=<dir>` through the shell; its output in out.
 * Returns the exit status. */
static int check_map(const char *dir, char *out, size_t outlen)
{
    char cmd[512];
    const char *bin = getenv("CITYD_BIN");
    snprintf(cmd, sizeof cmd, "%s --check -o map.dir=%s 2>&1", bin && *bin ? bin : "bin/cityd", dir);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return -1;
    size_t got = fread(out, 1, outlen - 1, p);
    out[got] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_check(void)
{
    char out[8192];
    CU_ASSERT_EQUAL(check_map("tests/fixtures/maps/garage", out, sizeof out), 0);
    CU_ASSERT_NOT_EQUAL(check_map("tests/fixtures/maps/garage_unreachable", out, sizeof out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "B1-ISLAND: bay of lot it-g9 on level B1: no walking route "
                                       "from any kiosk"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "B2-NOAISLE: bay of lot it-g9: no aisle on level B2"));
    CU_ASSERT_PTR_NULL(strstr(out, "B1-OK"));
    /* the demo city's garages route every bay from a kiosk */
    CU_ASSERT_EQUAL(check_map("maps/yantai", out, sizeof out), 0);
}

/* ---- restarts ---- */

static void wait_health(const struct test_cityd *c, long want)
{
    for (int i = 0; i < 1000; i++) {
        struct http_result hr;
        long st = 0;
        if (support_get(c->base, "/v1/health", NULL, &hr) == 0)
            st = hr.status;
        http_result_free(&hr);
        if (st == want)
            return;
        support_sleep_ms(10);
    }
    CU_FAIL("health never reached the wanted status");
}

static void test_restarts(void)
{
    struct test_redis r;
    struct test_cityd c;
    if (!up(&r, &c))
        return;
    json_t *e1 = ENTRY(&c, "r-in-1", "鲁F12345", D0800, 201);
    json_t *e2 = ENTRY(&c, "r-in-2", "鲁FB0002", D0800, 201);
    char sid1[64];
    snprintf(sid1, sizeof sid1, "%s", sget(e1, "session.id"));
    json_decref(e1);
    json_decref(e2);
    support_sleep_ms(1500);                  /* past appendfsync everysec */

    /* Redis dies: writes answer 503, nothing half-done */
    support_redis_kill(&r, true);
    struct http_result hr;
    CU_ASSERT_EQUAL(support_send("POST", c.base, "/v1/parking/lots/it-g1/exits", OP,
                                 "{\"id\":\"r-out-1\",\"plate\":\"鲁F12345\",\"gate\":\"S\","
                                 "\"ts\":1764554400}", &hr), 0);
    CU_ASSERT_EQUAL(hr.status, 503);
    CU_ASSERT_STRING_NOT_EQUAL(hr.retry_after, "");
    http_result_free(&hr);

    /* back: the same exit goes through once */
    CU_ASSERT_EQUAL_FATAL(support_redis_restart(&r), 0);
    wait_health(&c, 200);
    json_t *x = EXIT(&c, "r-out-1", "鲁F12345", D0800 + 2 * H, 201);
    CU_ASSERT_STRING_EQUAL(sget(x, "session.id"), sid1);
    CU_ASSERT_DOUBLE_EQUAL(nget(x, "session.amountDue"), 12.0, 1e-9);
    json_decref(x);
    support_sleep_ms(1500);

    /* cityd restarts on the same Redis: everything is still there */
    support_cityd_stop(&c);
    if (support_cityd_start(&c, r.url, EXTRA) != 0) {
        CU_FAIL("cityd did not restart");
        support_redis_stop(&r);
        return;
    }
    json_t *list = NULL;
    for (int i = 0; i < 500 && list == NULL; i++) {
        struct http_result lr;
        if (support_get(c.base, "/v1/parking/sessions?plate=%E9%B2%81F12345", OP, &lr) == 0 &&
            lr.status == 200)
            list = json_incref(lr.json);
        http_result_free(&lr);
        if (list == NULL)
            support_sleep_ms(10);
    }
    CU_ASSERT_PTR_NOT_NULL_FATAL(list);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(list, "sessions")), 1);
    CU_ASSERT_STRING_EQUAL(sget(json_array_get(json_object_get(list, "sessions"), 0), "status"),
                           "payment_required");
    json_decref(list);
    /* replays after the restart: same answers, and ids still bound to plates */
    x = EXIT(&c, "r-out-1", "鲁F12345", D0800 + 2 * H, 200);
    CU_ASSERT_STRING_EQUAL(sget(x, "session.id"), sid1);
    CU_ASSERT_STRING_EQUAL(sget(x, "gate"), "hold");
    json_decref(x);
    json_decref(ENTRY(&c, "r-in-2", "鲁FC0003", D0800, 409));
    x = ENTRY(&c, "r-in-2", "鲁FB0002", D0800, 200);
    CU_ASSERT_STRING_EQUAL(sget(x, "session.status"), "active");
    json_decref(x);
    x = PAY(&c, sid1, "{\"id\":\"r-p1\",\"amount\":12,\"method\":\"cash\"}", 200);
    CU_ASSERT_STRING_EQUAL(sget(x, "status"), "paid");
    json_decref(x);
    down(&r, &c);
}

/* ---- settled sessions leave memory (parking.keep_settled_s) ---- */

/* The value of the metric line "name value", NAN when absent. */
static double metric(const struct test_cityd *c, const char *name)
{
    struct http_result r;
    double v = NAN;
    char pat[200];
    snprintf(pat, sizeof pat, "\n%s ", name);
    if (support_get(c->base, "/metrics", NULL, &r) == 0 && r.body != NULL) {
        const char *p = strstr(r.body, pat);
        if (p != NULL)
            v = atof(p + strlen(pat));
    }
    http_result_free(&r);
    return v;
}

/* Wait (at most 10 s) until cityd holds `want` sessions in memory. */
static bool wait_kept(const struct test_cityd *c, double want)
{
    double v = NAN;
    for (int i = 0; i < 1000; i++) {
        if ((v = metric(c, "cityd_parking_sessions_in_memory")) == want)
            return true;
        support_sleep_ms(10);
    }
    fprintf(stderr, "\nsessions in memory: %g, want %g\n", v, want);
    return false;
}

static json_t *list_of(const struct test_cityd *c, const char *plate_q, int line)
{
    char path[160];
    snprintf(path, sizeof path, "/v1/parking/sessions?plate=%s", plate_q);
    json_t *j = call(c, "GET", path, OP, NULL, 200, line);
    json_t *v = json_incref(json_object_get(j, "sessions"));
    json_decref(j);
    return v ? v : json_array();
}
#define LIST(c, q) list_of((c), (q), __LINE__)
#define P_Q "%E9%B2%81F20001"                    /* 鲁F20001 */

/* Replays of everything P, Q and R did, after their settled sessions left
 * memory: the same answers as before, nothing written. */
static void replay_evicted(const struct test_cityd *c, const char *sid1, const char *sid2,
                           const char *sid3, const char *sid4, const json_t *before)
{
    json_t *x = EXIT(c, "ev-x1", "鲁F20001", D0800 + 2 * H, 200);
    CU_ASSERT_STRING_EQUAL(sget(x, "session.id"), sid1);
    CU_ASSERT_STRING_EQUAL(sget(x, "session.status"), "paid");
    CU_ASSERT_STRING_EQUAL(sget(x, "gate"), "open");
    json_decref(x);
    x = ENTRY(c, "ev-e1", "鲁F20001", D0800, 200);
    CU_ASSERT_STRING_EQUAL(sget(x, "session.id"), sid1);
    json_decref(x);
    x = EXIT(c, "ev-x2", "鲁F20002", D0800 + 2 * H, 200);       /* no entry record: void */
    CU_ASSERT_STRING_EQUAL(sget(x, "session.id"), sid2);
    CU_ASSERT_STRING_EQUAL(sget(x, "gate"), "hold");
    json_decref(x);
    x = EXIT(c, "ev-x3", "鲁F20001", D0800 + 3 * H + 600, 200);
    CU_ASSERT_STRING_EQUAL(sget(x, "session.id"), sid3);
    json_decref(x);
    x = PAY(c, sid1, "{\"id\":\"ev-p1\",\"amount\":12,\"method\":\"cash\"}", 200);
    CU_ASSERT_STRING_EQUAL(sget(x, "id"), sid1);
    CU_ASSERT_STRING_EQUAL(sget(x, "status"), "paid");
    json_decref(x);
    /* ids reused: refused as before, whatever plate or session */
    json_decref(PAY(c, sid1, "{\"id\":\"ev-p1\",\"amount\":13,\"method\":\"cash\"}", 409));
    json_decref(PAY(c, sid1, "{\"id\":\"ev-p9\",\"amount\":1,\"method\":\"cash\"}", 409));
    json_decref(PAY(c, sid4, "{\"id\":\"ev-p1\",\"amount\":12,\"method\":\"cash\"}", 409));
    json_decref(ENTRY(c, "ev-e1", "鲁F20005", D0800 + 10 * H, 409));
    json_decref(EXIT(c, "ev-x3", "鲁F20005", D0800 + 10 * H, 409));
    json_decref(EXIT(c, "ev-x2", "鲁F20005", D0800 + 10 * H, 409));
    json_decref(PAY(c, "ps-0000000000000000", "{\"id\":\"ev-p8\",\"amount\":1,\"method\":\"cash\"}",
                    404));
    /* the plates' lists come from Redis: whole, and unchanged */
    json_t *after = LIST(c, P_Q);
    CU_ASSERT_EQUAL(json_array_size(after), 2);
    CU_ASSERT(json_equal(after, before));
    if (!json_equal(after, before)) {
        char *a = json_dumps(after, JSON_COMPACT), *b = json_dumps(before, JSON_COMPACT);
        fprintf(stderr, "\nbefore %s\nafter  %s\n", b, a);
        free(a);
        free(b);
    }
    json_decref(after);
    json_t *q = LIST(c, "%E9%B2%81F20002");
    CU_ASSERT_EQUAL(json_array_size(q), 1);
    json_decref(q);
    json_t *other = LIST(c, "%E9%B2%81F20005");
    CU_ASSERT_EQUAL(json_array_size(other), 0);
    json_decref(other);
    x = PAY(c, sid4, "{\"id\":\"ev-p4\",\"amount\":12,\"method\":\"cash\"}", 200);  /* R pays */
    CU_ASSERT_STRING_EQUAL(sget(x, "status"), "paid");
    json_decref(x);
}

/* A short window (10 min): P's stays (one paid at the kiosk, one free)
 * and Q's exit without entry are settled, then the clock moves on and
 * they leave memory. Every replay, every reused id and the plates' lists
 * answer exactly as while they were in memory; so again after a restart. */
static void test_evicted(void)
{
    static const char *const extra[] = {"map.dir=tests/fixtures/maps/garage", "clock.mode=replay",
                                        keys_opt, "parking.keep_settled_s=600", NULL};
    struct test_redis r;
    struct test_cityd c;
    char sid[4][64];
    if (!up_with(&r, &c, extra))
        return;
    json_t *x = ENTRY(&c, "ev-e1", "鲁F20001", D0800, 201);
    snprintf(sid[0], sizeof sid[0], "%s", sget(x, "session.id"));
    json_decref(x);
    x = EXIT(&c, "ev-x1", "鲁F20001", D0800 + 2 * H, 201);
    CU_ASSERT_STRING_EQUAL(sget(x, "session.status"), "payment_required");
    json_decref(x);
    json_decref(PAY(&c, sid[0], "{\"id\":\"ev-p1\",\"amount\":12,\"method\":\"cash\"}", 200));
    x = EXIT(&c, "ev-x2", "鲁F20002", D0800 + 2 * H, 201);
    snprintf(sid[1], sizeof sid[1], "%s", sget(x, "session.id"));
    json_decref(x);
    x = ENTRY(&c, "ev-e3", "鲁F20001", D0800 + 3 * H, 201);
    snprintf(sid[2], sizeof sid[2], "%s", sget(x, "session.id"));
    json_decref(x);
    x = EXIT(&c, "ev-x3", "鲁F20001", D0800 + 3 * H + 600, 201);        /* free */
    CU_ASSERT_STRING_EQUAL(sget(x, "gate"), "open");
    json_decref(x);
    json_t *before = LIST(&c, P_Q);
    CU_ASSERT_EQUAL(json_array_size(before), 2);
    /* R owes (kept), S is inside (kept); the clock moves 7 hours on */
    json_decref(ENTRY(&c, "ev-e4", "鲁F20003", D0800 + 8 * H, 201));
    x = EXIT(&c, "ev-x4", "鲁F20003", D0800 + 10 * H, 201);
    snprintf(sid[3], sizeof sid[3], "%s", sget(x, "session.id"));
    CU_ASSERT_STRING_EQUAL(sget(x, "session.status"), "payment_required");
    json_decref(x);
    json_decref(ENTRY(&c, "ev-e9", "鲁F20009", D0800 + 10 * H, 201));
    CU_ASSERT_TRUE(wait_kept(&c, 2));
    replay_evicted(&c, sid[0], sid[1], sid[2], sid[3], before);

    /* a restart (the replay clock starts again: everything loads, and
     * leaves memory once the clock moves) */
    support_cityd_stop(&c);
    if (support_cityd_start(&c, r.url, extra) != 0) {
        CU_FAIL("cityd did not restart");
        support_redis_stop(&r);
        json_decref(before);
        return;
    }
    wait_health(&c, 200);
    json_decref(ENTRY(&c, "ev-e10", "鲁F20010", D0800 + 11 * H, 201));
    CU_ASSERT_TRUE(wait_kept(&c, 2));                   /* the two cars inside */
    x = EXIT(&c, "ev-x1", "鲁F20001", D0800 + 2 * H, 200);
    CU_ASSERT_STRING_EQUAL(sget(x, "session.id"), sid[0]);
    json_decref(x);
    json_t *again = LIST(&c, P_Q);
    CU_ASSERT(json_equal(again, before));
    json_decref(again);
    json_decref(PAY(&c, sid[3], "{\"id\":\"ev-p1\",\"amount\":12,\"method\":\"cash\"}", 409));
    json_decref(before);
    down(&r, &c);
}

/* On the wall clock, a restart does not load settled sessions older than
 * the window at all; they are still answered from Redis. */
static void test_evicted_at_start(void)
{
    static const char *const extra[] = {"map.dir=tests/fixtures/maps/garage", keys_opt,
                                        "parking.keep_settled_s=600", NULL};
    struct test_redis r;
    struct test_cityd c;
    double now = floor((double)time(NULL));
    char sid[64], body[160];
    if (!up_with(&r, &c, extra))
        return;
    json_t *x = ENTRY(&c, "ws-e1", "鲁F20001", now - 3 * H, 201);
    snprintf(sid, sizeof sid, "%s", sget(x, "session.id"));
    json_decref(x);
    x = EXIT(&c, "ws-x1", "鲁F20001", now - 1 * H, 201);   /* 2 h: day or night units */
    snprintf(body, sizeof body, "{\"id\":\"ws-p1\",\"amount\":%.2f,\"method\":\"cash\","
             "\"ts\":%.0f}", nget(x, "session.amountDue"), now - H + 60);
    CU_ASSERT(nget(x, "session.amountDue") > 0);
    json_decref(x);
    json_decref(PAY(&c, sid, body, 200));
    json_decref(ENTRY(&c, "ws-e2", "鲁F20002", now - 60, 201));
    json_t *before = LIST(&c, P_Q);
    CU_ASSERT_EQUAL(json_array_size(before), 1);
    support_cityd_stop(&c);
    if (support_cityd_start(&c, r.url, extra) != 0) {
        CU_FAIL("cityd did not restart");
        json_decref(before);
        support_redis_stop(&r);
        return;
    }
    wait_health(&c, 200);
    CU_ASSERT_EQUAL(metric(&c, "cityd_parking_sessions_in_memory"), 1);  /* the car inside */
    x = EXIT(&c, "ws-x1", "鲁F20001", now - 1 * H, 200);
    CU_ASSERT_STRING_EQUAL(sget(x, "session.id"), sid);
    json_decref(x);
    x = PAY(&c, sid, body, 200);
    CU_ASSERT_STRING_EQUAL(sget(x, "status"), "paid");
    json_decref(x);
    json_t *after = LIST(&c, P_Q);
    CU_ASSERT(json_equal(after, before));
    json_decref(after);
    json_decref(before);
    down(&r, &c);
}

/* ---- gate clocks ---- */

/* A gate camera whose clock reset: an entry at ts 0 (the replay clock
 * has not started, so it is taken) and an exit 55 years later. The stay
 * is billed in full (a capped window per started day) and held for an
 * operator -- it used to be billed 0.00, paid, gate open. */
static void test_overlong(void)
{
    struct test_redis r;
    struct test_cityd c;
    if (!up(&r, &c))
        return;
    json_t *e = ENTRY(&c, "ol-in-0", "鲁F12345", 0, 201);
    char sid[64];
    snprintf(sid, sizeof sid, "%s", sget(e, "session.id"));
    json_decref(e);
    /* 1970-01-01 08:00 to 2025-12-01 08:00 local: 20423 days at 40.00 */
    json_t *x = EXIT(&c, "ol-out-0", "鲁F12345", D0800, 201);
    CU_ASSERT_STRING_EQUAL(sget(x, "gate"), "hold");
    CU_ASSERT_STRING_EQUAL(sget(x, "session.status"), "payment_required");
    CU_ASSERT(has_flag(json_object_get(x, "session"), "overlong"));
    CU_ASSERT_DOUBLE_EQUAL(nget(x, "session.amountDue"), 20423 * 40.0, 1e-6);
    json_decref(x);
    x = EXIT(&c, "ol-out-0", "鲁F12345", D0800, 200);                 /* replay */
    CU_ASSERT_STRING_EQUAL(sget(x, "gate"), "hold");
    json_decref(x);
    /* the operator takes the money; only then is it paid */
    json_decref(PAY(&c, sid, "{\"id\":\"ol-p1\",\"amount\":816920.01,\"method\":\"cash\"}", 409));
    x = PAY(&c, sid, "{\"id\":\"ol-p1\",\"amount\":816920,\"method\":\"cash\"}", 200);
    CU_ASSERT_STRING_EQUAL(sget(x, "status"), "paid");
    json_decref(x);

    /* an autopay plate over parking.max_session_s (8 days) is not debited */
    json_decref(CALL(&c, "PUT", "/v1/parking/accounts/%E9%B2%81FA0001", OP,
                     "{\"autopay\":true,\"pay_later\":true}", 200));
    json_decref(ENTRY(&c, "ol-in-1", "鲁FA0001", D0800, 201));
    x = EXIT(&c, "ol-out-1", "鲁FA0001", D0800 + 8 * 24 * H, 201);
    CU_ASSERT_STRING_EQUAL(sget(x, "gate"), "hold");
    CU_ASSERT_STRING_EQUAL(sget(x, "session.status"), "payment_required");
    CU_ASSERT_DOUBLE_EQUAL(nget(x, "session.amountDue"), 8 * 40.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(nget(x, "session.amountPaid"), 0, 1e-9);
    json_decref(x);
    /* a stay within the free minutes is free, paid and let out */
    json_decref(ENTRY(&c, "ol-in-2", "鲁FB0002", D0800 + 8 * 24 * H, 201));
    x = EXIT(&c, "ol-out-2", "鲁FB0002", D0800 + 8 * 24 * H + 600, 201);
    CU_ASSERT_STRING_EQUAL(sget(x, "gate"), "open");
    CU_ASSERT_STRING_EQUAL(sget(x, "session.status"), "paid");
    CU_ASSERT_DOUBLE_EQUAL(nget(x, "session.amountDue"), 0, 1e-9);
    CU_ASSERT(!has_flag(json_object_get(x, "session"), "overlong"));
    json_decref(x);

    /* now that the clock runs, a reset camera's read is refused */
    x = ENTRY(&c, "ol-in-3", "鲁FC0003", 0, 400);
    CU_ASSERT_PTR_NOT_NULL(strstr(sget(x, "error.message"), "ts"));
    json_decref(x);
    json_t *list = CALL(&c, "GET", "/v1/parking/sessions?plate=%E9%B2%81FC0003", OP, NULL, 200);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(list, "sessions")), 0);
    json_decref(list);
    down(&r, &c);
}

/* Wall clock: gate events outside [now - parking.gate_max_age_s, now +
 * parking.gate_max_future_s] are 400 naming ts and change nothing; an
 * entry in the far future used to be taken and lock the plate (every
 * later exit was before its entry: 409). */
static const char *const WALL[] = {"map.dir=tests/fixtures/maps/garage", keys_opt, NULL};

static void test_gate_clock(void)
{
    struct test_redis r;
    struct test_cityd c;
    if (!up_with(&r, &c, WALL))
        return;
    double now = (double)time(NULL);
    const double bad[] = {0, now + 1e6, now + 3600, now - 8 * 86400.0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *x = ENTRY(&c, "wc-in-bad", "鲁F12345", bad[i], 400);
        CU_ASSERT_PTR_NOT_NULL(strstr(sget(x, "error.message"), "ts"));
        json_decref(x);
        json_decref(EXIT(&c, "wc-out-bad", "鲁F12345", bad[i], 400));
    }
    /* the plate is still free to come and go */
    json_t *e = ENTRY(&c, "wc-in-1", "鲁F12345", now - 60, 201);
    char sid[64], path[160];
    snprintf(sid, sizeof sid, "%s", sget(e, "session.id"));
    json_decref(e);
    json_t *x = EXIT(&c, "wc-out-1", "鲁F12345", now, 201);
    CU_ASSERT_STRING_EQUAL(sget(x, "gate"), "open");
    CU_ASSERT_STRING_EQUAL(sget(x, "session.status"), "paid");
    json_decref(x);
    /* a payment's ts is held to the same window */
    char body[160];
    snprintf(body, sizeof body, "{\"id\":\"wc-p\",\"amount\":1,\"method\":\"cash\",\"ts\":%.0f}",
             now + 1e6);
    x = PAY(&c, sid, body, 400);
    CU_ASSERT_PTR_NOT_NULL(strstr(sget(x, "error.message"), "ts"));
    json_decref(x);
    snprintf(path, sizeof path, "/v1/parking/sessions?plate=%s", "%E9%B2%81F12345");
    json_t *list = CALL(&c, "GET", path, OP, NULL, 200);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(list, "sessions")), 1);
    json_decref(list);
    down(&r, &c);
}

/* ---- find-car: proof of standing at the kiosk ---- */

/* GET /v1/parking/kiosks/{kiosk}/token with key; the token (or "") in
 * tok. */
static void kiosk_token(const struct test_cityd *c, const char *kiosk, const char *key,
                        long want, char *tok, size_t n, int line)
{
    char path[160];
    snprintf(path, sizeof path, "/v1/parking/kiosks/%s/token", kiosk);
    json_t *j = call(c, "GET", path, key, NULL, want, line);
    snprintf(tok, n, "%s", want == 200 ? sget(j, "token") : "");
    if (want == 200)
        CU_ASSERT(json_is_number(json_object_get(j, "expires")));
    json_decref(j);
}
#define TOKEN(c, kiosk, key, want, tok) kiosk_token((c), (kiosk), (key), (want), (tok), sizeof (tok), __LINE__)

/* find-car of P1 from kiosk with key (may be NULL) and token (NULL: none). */
static json_t *find_as(const struct test_cityd *c, const char *kiosk, const char *key,
                       const char *token, long want, int line)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/parking/find-car?plate=%s&from=%s%s%s", P1, kiosk,
             token ? "&token=" : "", token ? token : "");
    return call(c, "GET", path, key, NULL, want, line);
}
#define FIND_AS(c, kiosk, key, token, want) json_decref(find_as((c), (kiosk), (key), (token), (want), __LINE__))

static void test_find_car_proof(void)
{
    struct test_redis r;
    struct test_cityd c, c2;
    char tok[128], tok_b2[128], tok_s2[128];
    if (!up(&r, &c))
        return;
    json_decref(ENTRY(&c, "fp-in-1", "鲁F11111", D0800, 201));
    PARKED(&c, "fp-o-1", "B2-002", "鲁F11111", D0800 + 180);

    /* keys: only a kiosk key of the lot, or admin */
    FIND_AS(&c, "k-b1", NULL, NULL, 403);
    FIND_AS(&c, "k-b1", "k-reader", NULL, 403);
    FIND_AS(&c, "k-b1", OP, NULL, 403);
    FIND_AS(&c, "k-b1", "k-kiosk-s2", NULL, 403);
    FIND_AS(&c, "k-b1", "k-kiosk-g1", NULL, 200);
    FIND_AS(&c, "k-b2", "k-kiosk-g1", NULL, 200);
    FIND_AS(&c, "k-b1", "k-admin", NULL, 200);
    json_t *j = find_as(&c, "k-b1", "k-reader", NULL, 403, __LINE__);
    CU_ASSERT_STRING_EQUAL(sget(j, "error.code"), "forbidden");
    json_decref(j);
    /* a kiosk of the other lot, with its own key: the car is not there */
    FIND_AS(&c, "k-s2", "k-kiosk-s2", NULL, 404);

    /* tokens: issued to a kiosk key of the kiosk's lot (or admin) */
    TOKEN(&c, "k-b1", NULL, 401, tok);
    TOKEN(&c, "k-b1", "k-reader", 403, tok);
    TOKEN(&c, "k-b1", OP, 403, tok);
    TOKEN(&c, "k-b1", "k-kiosk-s2", 403, tok);
    TOKEN(&c, "k-nope", "k-admin", 404, tok);
    TOKEN(&c, "k-b2", "k-kiosk-g1", 200, tok_b2);
    TOKEN(&c, "k-s2", "k-kiosk-s2", 200, tok_s2);
    TOKEN(&c, "k-b1", "k-kiosk-g1", 200, tok);
    CU_ASSERT(strlen(tok) >= 22 && strcmp(tok, tok_b2) != 0);
    FIND_AS(&c, "k-b1", NULL, tok, 200);
    FIND_AS(&c, "k-b1", NULL, tok, 200);                     /* valid until it expires */
    FIND_AS(&c, "k-b1", "k-reader", tok, 200);
    FIND_AS(&c, "k-b2", NULL, tok_b2, 200);
    FIND_AS(&c, "k-b2", NULL, tok, 403);                     /* another kiosk's token */
    FIND_AS(&c, "k-b1", NULL, tok_b2, 403);
    FIND_AS(&c, "k-b1", NULL, tok_s2, 403);
    FIND_AS(&c, "k-s2", NULL, tok_s2, 404);                  /* proof ok, car elsewhere */
    FIND_AS(&c, "k-b1", NULL, "", 403);
    FIND_AS(&c, "k-b1", NULL, "0123456789abcdef0123456789abcdef", 403);
    FIND_AS(&c, "k-b1", NULL, "..%2F*", 403);

    /* a second cityd on the same Redis takes the first one's token */
    if (support_cityd_start(&c2, r.url, EXTRA) == 0) {
        bool ok = false;
        for (int i = 0; i < 500 && !ok; i++) {
            struct http_result hr;
            char path[256];
            snprintf(path, sizeof path, "/v1/parking/find-car?plate=%s&from=k-b1&token=%s", P1, tok);
            ok = support_get(c2.base, path, NULL, &hr) == 0 && hr.status == 200;
            http_result_free(&hr);
            if (!ok)
                support_sleep_ms(10);
        }
        CU_ASSERT(ok);
        support_cityd_stop(&c2);
    } else {
        CU_FAIL("cannot start a second cityd");
    }

    /* the tokens expire parking.kiosk_token_s (300) after they were
     * issued, here on the replay clock: a gate event 301 s later moves it */
    json_decref(ENTRY(&c, "fp-in-2", "鲁F22222", D0800 + 180 + 301, 201));
    FIND_AS(&c, "k-b1", NULL, tok, 403);
    FIND_AS(&c, "k-b2", NULL, tok_b2, 403);
    FIND_AS(&c, "k-b1", "k-kiosk-g1", NULL, 200);           /* the key still works */
    TOKEN(&c, "k-b1", "k-kiosk-g1", 200, tok);              /* and a fresh token */
    FIND_AS(&c, "k-b1", NULL, tok, 200);
    down(&r, &c);
}

int suite_sessions(void)
{
    CU_pSuite s = CU_add_suite("sessions", suite_init, suite_clean);
    if (s == NULL || CU_add_test(s, "a whole garage day", test_day) == NULL ||
        CU_add_test(s, "Redis and cityd restarts", test_restarts) == NULL ||
        CU_add_test(s, "reverse car-finding", test_find_car) == NULL ||
        CU_add_test(s, "find-car in the demo city's garages", test_demo_find_car) == NULL ||
        CU_add_test(s, "a lot created by PUT bills its own tariff", test_put_lot) == NULL ||
        CU_add_test(s, "cityd --check: unreachable bays", test_check) == NULL ||
        CU_add_test(s, "an overlong stay is billed and held", test_overlong) == NULL ||
        CU_add_test(s, "gate events outside the clock window", test_gate_clock) == NULL ||
        CU_add_test(s, "find-car needs a kiosk key or token", test_find_car_proof) == NULL ||
        CU_add_test(s, "settled sessions leave memory, answered from Redis",
                    test_evicted) == NULL ||
        CU_add_test(s, "a restart loads no old settled session", test_evicted_at_start) == NULL)
        return -1;
    return 0;
}
