/* it_signals.c -- the signal-timing endpoints over real HTTP against
 * bin/cityd with a real redis-server and the Yantai demo map: Webster,
 * green-wave optimisation (answers re-checked here with the band
 * evaluator), bad input, corridors, candidate/active plans surviving a
 * restart of cityd, the time-space diagram, and an activated plan run by
 * the controllers (timing and SPaT), across a restart. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "maxband.h"
#include "support.h"

/* One Redis and one cityd for the suite (test fixture only). */
static struct test_redis redis;
static struct test_cityd cityd;

/* Until the controllers are restored (activating a plan hands it to them:
 * 503 before). */
static int wait_ready(const struct test_cityd *c)
{
    for (int i = 0; i < 250; i++) {
        struct http_result res;
        if (support_get(c->base, "/v1/signals/intersections/nd-01/timing", NULL, &res) == 0) {
            long st = res.status;
            http_result_free(&res);
            if (st == 200)
                return 0;
        }
        support_sleep_ms(20);
    }
    return -1;
}

static int suite_init(void)
{
    if (support_redis_start(&redis) != 0 || support_cityd_start(&cityd, redis.url, NULL) != 0)
        return -1;
    return wait_ready(&cityd);
}

static int suite_clean(void)
{
    support_cityd_stop(&cityd);
    support_redis_stop(&redis);
    return 0;
}

static double num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static void post(const char *path, const char *key, const char *body, struct http_result *res)
{
    CU_ASSERT_EQUAL_FATAL(support_send("POST", cityd.base, path, key, body, res), 0);
}

/* 400 whose message names `field`. */
static void expect_400(const char *path, const char *body, const char *field)
{
    struct http_result res;
    post(path, "k-reader", body, &res);
    CU_ASSERT_EQUAL(res.status, 400);
    CU_ASSERT_STRING_EQUAL(support_error_code(&res), "invalid");
    json_t *msg = json_object_get(json_object_get(res.json, "error"), "message");
    CU_ASSERT_PTR_NOT_NULL(strstr(json_string_value(msg) ? json_string_value(msg) : "", field));
    if (strstr(json_string_value(msg) ? json_string_value(msg) : "", field) == NULL)
        fprintf(stderr, "expected '%s' in: %s\n", field, res.body);
    http_result_free(&res);
}

/* GATE question (see test_signals.c): 500 and 300 pcu/h at 1600, L = 16 s
 * -> Y = 0.5, Webster's cycle 58 s, greens 26.25 and 15.75 s. */
static void test_webster(void)
{
    struct http_result res;
    post("/v1/signals/webster", "k-reader",
         "{\"lost_time_s\":16,\"phases\":[{\"flow\":500,\"saturation_flow\":1600},"
         "{\"flow\":300,\"saturation_flow\":1600}],\"cycle_min_s\":30,\"cycle_max_s\":180}", &res);
    CU_ASSERT_EQUAL_FATAL(res.status, 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.content_type, "application/json"));
    CU_ASSERT_DOUBLE_EQUAL(num(res.json, "Y"), 0.5, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(num(res.json, "cycle_optimal_s"), 58, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(num(res.json, "cycle_s"), 58, 1e-9);
    CU_ASSERT_TRUE(json_is_false(json_object_get(res.json, "oversaturated")));
    json_t *p0 = json_array_get(json_object_get(res.json, "phases"), 0);
    CU_ASSERT_DOUBLE_EQUAL(num(p0, "effective_green_s"), 26.25, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(num(p0, "flow_ratio"), 0.3125, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(num(p0, "capacity_vph"), 1600 * 26.25 / 58, 1e-5);
    CU_ASSERT_DOUBLE_EQUAL(num(p0, "hcm_delay_s"),
                           num(p0, "hcm_uniform_delay_s") + num(p0, "hcm_incremental_delay_s"), 1e-5);
    CU_ASSERT_TRUE(json_is_string(json_object_get(p0, "los")));
    http_result_free(&res);

    /* Oversaturated: no optimum (null), longest cycle, reported. */
    post("/v1/signals/webster", "k-reader",
         "{\"lost_time_s\":10,\"phases\":[{\"flow_ratio\":0.6},{\"flow_ratio\":0.5}]}", &res);
    CU_ASSERT_EQUAL_FATAL(res.status, 200);
    CU_ASSERT_TRUE(json_is_null(json_object_get(res.json, "cycle_optimal_s")));
    CU_ASSERT_TRUE(json_is_true(json_object_get(res.json, "oversaturated")));
    CU_ASSERT_DOUBLE_EQUAL(num(res.json, "cycle_s"), 180, 1e-9);
    http_result_free(&res);

    /* Evaluation of a given timing. */
    post("/v1/signals/webster", "k-reader",
         "{\"lost_time_s\":10,\"cycle_s\":80,\"phases\":[{\"flow\":600,\"saturation_flow\":1800,"
         "\"green_s\":40},{\"flow\":400,\"saturation_flow\":1800,\"green_s\":30}]}", &res);
    CU_ASSERT_EQUAL_FATAL(res.status, 200);
    p0 = json_array_get(json_object_get(res.json, "phases"), 0);
    CU_ASSERT_DOUBLE_EQUAL(num(p0, "capacity_vph"), 900, 1e-6);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(res.json, "mode")), "evaluate");
    http_result_free(&res);

    expect_400("/v1/signals/webster",
               "{\"lost_time_s\":10,\"phases\":[{\"flow\":600,\"saturation_flow\":1800},"
               "{\"flow\":-4,\"saturation_flow\":1800}]}", "phases[1].flow");
    expect_400("/v1/signals/webster", "{\"phases\":[{\"flow_ratio\":0.2}]}", "lost_time_s");
    expect_400("/v1/signals/webster", "{\"lost_time_s\":10,\"phases\":[]}", "phases");
    expect_400("/v1/signals/webster",
               "{\"lost_time_s\":10,\"phases\":[{\"flow\":\"many\",\"saturation_flow\":1}]}",
               "phases[0].flow");
    /* No key: 401. */
    CU_ASSERT_EQUAL(support_send("POST", cityd.base, "/v1/signals/webster", NULL, "{}", &res), 0);
    CU_ASSERT_EQUAL(res.status, 401);
    http_result_free(&res);
}

#define ALTERNATE "{\"intersections\":[{\"id\":\"a\",\"position_m\":0,\"green_s\":30}," \
    "{\"id\":\"b\",\"position_m\":300,\"green_s\":30},{\"id\":\"c\",\"position_m\":600,"  \
    "\"green_s\":30},{\"id\":\"d\",\"position_m\":900,\"green_s\":30}],"

/* Bands of a reply, recomputed here from its offsets and speeds. */
static void check_bands(json_t *req, json_t *rep)
{
    json_t *xs = json_object_get(req, "intersections"), *offs = json_object_get(rep, "intersections");
    json_t *ls = json_object_get(rep, "links");
    size_t n = json_array_size(xs);
    struct maxband_signal sig[8];
    double off[8], vo[8], vi[8];
    for (size_t i = 0; i < n && i < 8; i++) {
        json_t *x = json_array_get(xs, i);
        sig[i] = (struct maxband_signal){ num(x, "position_m"), { num(x, "green_s"), 0, 0 },
                                          { num(x, "green_s"), 0, 0 } };
        off[i] = num(json_array_get(offs, i), "offset_s");
        if (i + 1 < n) {
            vo[i] = num(json_array_get(ls, i), "outbound_speed_mps");
            vi[i] = num(json_array_get(ls, i), "inbound_speed_mps");
        }
    }
    struct maxband_problem p = { n, sig, NULL, 0, 0, NAN, MAXBAND_EQUAL, 0, 0 };
    struct band o, in;
    maxband_evaluate(&p, num(rep, "cycle_s"), off, vo, vi, &o, &in);
    CU_ASSERT_DOUBLE_EQUAL(o.width_s, num(rep, "outbound_band_s"), 1e-4);
    CU_ASSERT_DOUBLE_EQUAL(in.width_s, num(rep, "inbound_band_s"), 1e-4);
}

static void test_greenwave(void)
{
    struct http_result res;
    const char *body = ALTERNATE "\"cycle_s\":60,\"speed_mps\":10}";
    post("/v1/signals/greenwave", "k-reader", body, &res);
    CU_ASSERT_EQUAL_FATAL(res.status, 200);
    CU_ASSERT_DOUBLE_EQUAL(num(res.json, "cycle_s"), 60, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(num(res.json, "outbound_band_s"), 30, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(num(res.json, "inbound_band_s"), 30, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(num(res.json, "efficiency"), 0.5, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(num(res.json, "speed_mps"), 10, 1e-9);
    static const double want[4] = { 0, 30, 0, 30 };
    json_t *xs = json_object_get(res.json, "intersections");
    CU_ASSERT_EQUAL(json_array_size(xs), 4);
    for (size_t i = 0; i < 4; i++)
        CU_ASSERT_DOUBLE_EQUAL(num(json_array_get(xs, i), "offset_s"), want[i], 1e-6);
    json_t *l0 = json_array_get(json_object_get(res.json, "links"), 0);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(l0, "from")), "a");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(l0, "to")), "b");
    CU_ASSERT_DOUBLE_EQUAL(num(l0, "outbound_speed_mps"), 10, 1e-9);
    json_t *req = json_loads(body, 0, NULL);
    check_bands(req, res.json);
    json_decref(req);
    http_result_free(&res);

    /* Ranges: answered, within them, bands true to the offsets. */
    body = ALTERNATE "\"cycle_range_s\":[50,90],\"speed_range_mps\":[9,12],\"objective\":\"sum\"}";
    post("/v1/signals/greenwave", "k-reader", body, &res);
    CU_ASSERT_EQUAL_FATAL(res.status, 200);
    double C = num(res.json, "cycle_s");
    CU_ASSERT(C >= 50 && C <= 90);
    l0 = json_array_get(json_object_get(res.json, "links"), 1);
    CU_ASSERT(num(l0, "inbound_speed_mps") >= 9 - 1e-9 && num(l0, "inbound_speed_mps") <= 12 + 1e-9);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(res.json, "objective")), "sum");
    req = json_loads(body, 0, NULL);
    check_bands(req, res.json);
    json_decref(req);
    http_result_free(&res);
}

static void test_greenwave_bad_input(void)
{
    const char *path = "/v1/signals/greenwave";
    expect_400(path, "{\"intersections\":[{\"id\":\"a\",\"position_m\":0,\"green_s\":30},"
               "{\"id\":\"b\",\"position_m\":300,\"green_s\":30},{\"id\":\"c\",\"position_m\":200,"
               "\"green_s\":30}],\"cycle_s\":60,\"speed_mps\":10}", "intersections[2].position_m");
    expect_400(path, "{\"intersections\":[{\"id\":\"a\",\"position_m\":0,\"green_s\":30},"
               "{\"id\":\"b\",\"position_m\":0,\"green_s\":30}],\"cycle_s\":60,\"speed_mps\":10}",
               "intersections[1].position_m");
    expect_400(path, ALTERNATE "\"cycle_s\":25,\"speed_mps\":10}", "green_s");
    expect_400(path, ALTERNATE "\"cycle_range_s\":[90,60],\"speed_mps\":10}", "cycle_range_s");
    expect_400(path, ALTERNATE "\"cycle_s\":60,\"speed_range_mps\":[14,11]}", "speed_range_mps");
    expect_400(path, ALTERNATE "\"speed_mps\":10}", "cycle_s");
    expect_400(path, ALTERNATE "\"cycle_s\":60}", "speed_mps");
    expect_400(path, ALTERNATE "\"cycle_s\":60,\"speed_mps\":-3}", "speed_mps");
    expect_400(path, ALTERNATE "\"cycle_s\":60,\"speed_mps\":10,\"objective\":\"max\"}",
               "objective");
    expect_400(path, "{\"intersections\":[{\"id\":\"a\",\"position_m\":0,\"green_s\":30,"
               "\"queue_clearance_s\":-1},{\"id\":\"b\",\"position_m\":300,\"green_s\":30}],"
               "\"cycle_s\":60,\"speed_mps\":10}", "intersections[0].queue_clearance_s");
    expect_400(path, "{\"intersections\":[{\"id\":\"a\",\"position_m\":0,\"green_s\":30},"
               "{\"id\":\"a\",\"position_m\":300,\"green_s\":30}],\"cycle_s\":60,\"speed_mps\":10}",
               "intersections[1].id");
    expect_400(path, "{\"intersections\":[{\"id\":\"a\",\"position_m\":0}],\"cycle_s\":60,"
               "\"speed_mps\":10}", "intersections");
}

static void test_corridors(void)
{
    struct http_result res;
    CU_ASSERT_EQUAL_FATAL(support_get(cityd.base, "/v1/signals/corridors", NULL, &res), 0);
    CU_ASSERT_EQUAL_FATAL(res.status, 200);
    json_t *cs = json_object_get(res.json, "corridors");
    CU_ASSERT(json_array_size(cs) >= 2);
    bool seen = false;
    for (size_t i = 0; i < json_array_size(cs); i++) {
        json_t *c = json_array_get(cs, i), *xs = json_object_get(c, "intersections");
        if (strcmp(json_string_value(json_object_get(c, "id")), "nandajie") == 0)
            seen = true;
        CU_ASSERT(json_array_size(xs) >= 2);
        for (size_t k = 1; k < json_array_size(xs); k++)
            CU_ASSERT(num(json_array_get(xs, k), "position_m") >
                      num(json_array_get(xs, k - 1), "position_m"));
    }
    CU_ASSERT_TRUE(seen);
    http_result_free(&res);

    struct http_result w, g;
    CU_ASSERT_EQUAL_FATAL(support_get(cityd.base, "/v1/signals/corridors/nandajie", NULL, &w), 0);
    CU_ASSERT_EQUAL_FATAL(
        support_get(cityd.base, "/v1/signals/corridors/nandajie?crs=gcj02", NULL, &g), 0);
    CU_ASSERT_EQUAL(w.status, 200);
    CU_ASSERT_EQUAL(g.status, 200);
    json_t *xw = json_array_get(json_object_get(w.json, "intersections"), 0);
    json_t *xg = json_array_get(json_object_get(g.json, "intersections"), 0);
    /* GCJ-02 shifts Yantai by a few hundred metres. */
    double dlon = num(xg, "lon") - num(xw, "lon"), dlat = num(xg, "lat") - num(xw, "lat");
    CU_ASSERT(fabs(dlon) + fabs(dlat) > 1e-4 && fabs(dlon) + fabs(dlat) < 0.02);
    CU_ASSERT_DOUBLE_EQUAL(num(xg, "position_m"), num(xw, "position_m"), 1e-9);
    http_result_free(&w);
    http_result_free(&g);

    CU_ASSERT_EQUAL(support_get(cityd.base, "/v1/signals/corridors/nowhere", NULL, &res), 0);
    CU_ASSERT_EQUAL(res.status, 404);
    CU_ASSERT_STRING_EQUAL(support_error_code(&res), "not_found");
    http_result_free(&res);
    CU_ASSERT_EQUAL(support_get(cityd.base, "/v1/signals/corridors?crs=utm", NULL, &res), 0);
    CU_ASSERT_EQUAL(res.status, 400);
    http_result_free(&res);
}

/* Candidate plan -> activate -> read back -> diagram -> restart cityd ->
 * still active. */
static void test_plans(void)
{
    const char *base = "/v1/signals/corridors/beimalu";
    struct http_result res;
    char path[256], body[128], id[80];

    post("/v1/signals/corridors/beimalu/greenwave", "k-reader", "{}", &res);
    CU_ASSERT_EQUAL(res.status, 403);
    http_result_free(&res);
    CU_ASSERT_EQUAL_FATAL(support_get(cityd.base, "/v1/signals/corridors/beimalu/plan", NULL, &res), 0);
    CU_ASSERT_EQUAL(res.status, 404);
    http_result_free(&res);

    snprintf(path, sizeof path, "%s/greenwave", base);
    post(path, "k-engineer", "{\"speed_range_mps\":[11,14]}", &res);
    CU_ASSERT_EQUAL_FATAL(res.status, 201);
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(res.json, "id")));
    CU_ASSERT(strlen(id) > 0);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(res.json, "corridor")), "beimalu");
    double C = num(res.json, "cycle_s");
    CU_ASSERT(C >= 30 && C <= 180);
    json_t *xs = json_object_get(res.json, "intersections");
    CU_ASSERT_EQUAL(json_array_size(xs), 5);
    CU_ASSERT_DOUBLE_EQUAL(num(json_array_get(xs, 0), "offset_s"), 0, 1e-9);
    for (size_t i = 0; i < json_array_size(xs); i++) {
        double o = num(json_array_get(xs, i), "offset_s");
        CU_ASSERT(o >= 0 && o < C);
        CU_ASSERT(num(json_array_get(xs, i), "outbound_green_s") > 0);
    }
    http_result_free(&res);
    /* Bad options: 400 naming the field; unknown corridor: 404. */
    post(path, "k-engineer", "{\"cycle_range_s\":[60,90]}", &res);
    CU_ASSERT_EQUAL(res.status, 400);
    http_result_free(&res);
    post("/v1/signals/corridors/none/greenwave", "k-engineer", "{}", &res);
    CU_ASSERT_EQUAL(res.status, 404);
    http_result_free(&res);

    snprintf(path, sizeof path, "%s/plan", base);
    CU_ASSERT_EQUAL(support_send("PUT", cityd.base, path, "k-engineer", "{\"plan\":\"nope\"}", &res), 0);
    CU_ASSERT_EQUAL(res.status, 404);
    http_result_free(&res);
    CU_ASSERT_EQUAL(support_send("PUT", cityd.base, path, "k-engineer", "{}", &res), 0);
    CU_ASSERT_EQUAL(res.status, 400);
    http_result_free(&res);
    snprintf(body, sizeof body, "{\"plan\":\"%s\"}", id);
    CU_ASSERT_EQUAL(support_send("PUT", cityd.base, path, "k-reader", body, &res), 0);
    CU_ASSERT_EQUAL(res.status, 403);
    http_result_free(&res);
    CU_ASSERT_EQUAL(support_send("PUT", cityd.base, path, "k-engineer", body, &res), 0);
    CU_ASSERT_EQUAL(res.status, 200);
    http_result_free(&res);
    CU_ASSERT_EQUAL_FATAL(support_get(cityd.base, path, NULL, &res), 0);
    CU_ASSERT_EQUAL(res.status, 200);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(res.json, "id")), id);
    http_result_free(&res);

    /* The diagram of the active plan, and of a named one. */
    snprintf(path, sizeof path, "%s/time-space.svg", base);
    CU_ASSERT_EQUAL_FATAL(support_get(cityd.base, path, NULL, &res), 0);
    CU_ASSERT_EQUAL(res.status, 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.content_type, "image/svg+xml"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.body, "<svg"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.body, "</svg>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.body, "北马路"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.body, "outbound band"));
    http_result_free(&res);
    snprintf(path, sizeof path, "%s/time-space.svg?plan=%s&cycles=2", base, id);
    CU_ASSERT_EQUAL_FATAL(support_get(cityd.base, path, NULL, &res), 0);
    CU_ASSERT_EQUAL(res.status, 200);
    http_result_free(&res);
    snprintf(path, sizeof path, "%s/time-space.svg?plan=feedbeef", base);
    CU_ASSERT_EQUAL(support_get(cityd.base, path, NULL, &res), 0);
    CU_ASSERT_EQUAL(res.status, 404);
    http_result_free(&res);
    snprintf(path, sizeof path, "%s/time-space.svg?cycles=9", base);
    CU_ASSERT_EQUAL(support_get(cityd.base, path, NULL, &res), 0);
    CU_ASSERT_EQUAL(res.status, 400);
    http_result_free(&res);

    /* A restart of cityd keeps the active plan. */
    support_cityd_stop(&cityd);
    CU_ASSERT_EQUAL_FATAL(support_cityd_start(&cityd, redis.url, NULL), 0);
    snprintf(path, sizeof path, "%s/plan", base);
    CU_ASSERT_EQUAL_FATAL(support_get(cityd.base, path, NULL, &res), 0);
    CU_ASSERT_EQUAL(res.status, 200);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(res.json, "id")), id);
    http_result_free(&res);
}

/* ---- an activated plan runs ---- */

static json_t *read_json(const struct test_cityd *c, const char *path)
{
    struct http_result res;
    CU_ASSERT_EQUAL_FATAL(support_get(c->base, path, NULL, &res), 0);
    CU_ASSERT_EQUAL(res.status, 200);
    if (res.status != 200)
        fprintf(stderr, "GET %s: %ld %s\n", path, res.status, res.body);
    json_t *j = json_incref(res.json);
    http_result_free(&res);
    return j;
}

static json_t *read_at(const struct test_cityd *c, const char *isec, const char *what, double at)
{
    char path[160];
    snprintf(path, sizeof path, "/v1/signals/intersections/%s/%s?at=%.0f", isec, what, at);
    return read_json(c, path);
}

static double posmod(double x, double m)
{
    double r = fmod(x, m);
    return r < 0 ? r + m : r;
}

/* Every intersection of the plan at instant t: the plan's cycle, its
 * offsets (from the first intersection), its outbound green, the reason
 * naming it; SPaT agreeing. Returns the cycle starts seen (n). */
static void expect_plan_runs(const struct test_cityd *c, json_t *plan, double t, double *starts)
{
    const char *id = json_string_value(json_object_get(plan, "id"));
    double C = num(plan, "cycle_s");
    json_t *xs = json_object_get(plan, "intersections");
    for (size_t i = 0; i < json_array_size(xs); i++) {
        json_t *x = json_array_get(xs, i);
        const char *isec = json_string_value(json_object_get(x, "id"));
        json_t *tm = read_at(c, isec, "timing", t);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(tm, "mode")), "fixed");
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(tm, "plan")), id);
        CU_ASSERT_PTR_NOT_NULL(strstr(json_string_value(json_object_get(tm, "reason")), id));
        CU_ASSERT_DOUBLE_EQUAL(num(tm, "cycle_s"), C, 1e-9);
        CU_ASSERT_DOUBLE_EQUAL(num(tm, "common_cycle_s"), C, 1e-9);
        /* Controllers keep whole seconds. */
        double off = posmod(round(num(x, "offset_s")), C);
        CU_ASSERT_DOUBLE_EQUAL(num(tm, "corridor_offset_s"), off, 1e-9);
        /* Phase 1 serves the outbound through movement on this map. */
        json_t *p0 = json_array_get(json_object_get(tm, "phases"), 0);
        CU_ASSERT_DOUBLE_EQUAL(num(p0, "green_s"), num(x, "outbound_green_s"), 1e-6);
        /* The cycle opens with that green: SPaT one second in. */
        double start = num(tm, "cycle_start");
        starts[i] = start;
        if (i > 0)
            CU_ASSERT_DOUBLE_EQUAL(posmod(start - starts[0], C), off, 1e-9);
        json_t *sp = read_at(c, isec, "spat", start + 1);
        json_t *s0 = json_array_get(json_object_get(sp, "states"), 0);
        CU_ASSERT_DOUBLE_EQUAL(num(sp, "cycle_s"), C, 1e-9);
        CU_ASSERT_PTR_NOT_NULL(strstr(json_string_value(json_object_get(s0, "event_state")),
                                      "movement-allowed"));
        CU_ASSERT_DOUBLE_EQUAL(num(s0, "likely_end_s"), num(p0, "green_s") - 1, 1e-6);
        json_decref(sp);
        json_decref(tm);
    }
}

static void test_plan_runs(void)
{
    static const char *const fixed[] = { "signals.mode=fixed", NULL };
    struct test_redis r2;
    struct test_cityd c2;
    struct http_result res;
    CU_ASSERT_EQUAL_FATAL(support_redis_start(&r2), 0);
    CU_ASSERT_EQUAL_FATAL(support_cityd_start(&c2, r2.url, fixed), 0);
    CU_ASSERT_EQUAL_FATAL(wait_ready(&c2), 0);
    const char *base = "/v1/signals/corridors/nandajie";
    /* Before: the map's design-flow timing. */
    json_t *before = read_json(&c2, "/v1/signals/intersections/nd-03/timing");
    CU_ASSERT_TRUE(json_is_null(json_object_get(before, "plan")));
    CU_ASSERT_PTR_NOT_NULL(strstr(json_string_value(json_object_get(before, "reason")),
                                  "design flows"));
    double now = num(before, "ts");
    json_decref(before);
    CU_ASSERT_EQUAL_FATAL(support_send("POST", c2.base, "/v1/signals/corridors/nandajie/greenwave",
                                       "k-engineer", "{\"speed_range_mps\":[11.1,13.9]}", &res),
                          0);
    CU_ASSERT_EQUAL_FATAL(res.status, 201);
    json_t *plan = json_incref(res.json);
    http_result_free(&res);
    char body[160], path[160];
    snprintf(body, sizeof body, "{\"plan\":\"%s\"}",
             json_string_value(json_object_get(plan, "id")));
    snprintf(path, sizeof path, "%s/plan", base);
    CU_ASSERT_EQUAL_FATAL(support_send("PUT", c2.base, path, "k-engineer", body, &res), 0);
    CU_ASSERT_EQUAL(res.status, 200);
    http_result_free(&res);
    /* After the transition (a few cycles): the plan, exactly. */
    double t = now + 1800, starts[8], again[8];
    expect_plan_runs(&c2, plan, t, starts);
    /* A plan that cannot run is refused and changes nothing. */
    CU_ASSERT_EQUAL_FATAL(support_send("POST", c2.base, "/v1/signals/corridors/nandajie/greenwave",
                                       "k-engineer", "{\"cycle_s\":200}", &res), 0);
    CU_ASSERT_EQUAL_FATAL(res.status, 201);
    snprintf(body, sizeof body, "{\"plan\":\"%s\"}",
             json_string_value(json_object_get(res.json, "id")));
    http_result_free(&res);
    CU_ASSERT_EQUAL_FATAL(support_send("PUT", c2.base, path, "k-engineer", body, &res), 0);
    CU_ASSERT_EQUAL(res.status, 409);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.body, "cycle_s: a 200 s cycle is outside"));
    http_result_free(&res);
    json_t *active = read_json(&c2, path);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(active, "id")),
                           json_string_value(json_object_get(plan, "id")));
    json_decref(active);
    /* A restart: the same plan at the same instants. */
    support_cityd_stop(&c2);
    CU_ASSERT_EQUAL_FATAL(support_cityd_start(&c2, r2.url, fixed), 0);
    CU_ASSERT_EQUAL_FATAL(wait_ready(&c2), 0);
    expect_plan_runs(&c2, plan, t, again);
    for (size_t i = 0; i < 8; i++)
        CU_ASSERT_DOUBLE_EQUAL(again[i], starts[i], 1e-9);
    /* Redis's active plan is the truth: one made active behind the
     * controllers' back (as if cityd died between the two writes) is
     * what they run after a restart. */
    CU_ASSERT_EQUAL_FATAL(support_send("POST", c2.base, "/v1/signals/corridors/nandajie/greenwave",
                                       "k-engineer", "{\"objective\":\"outbound\"}", &res), 0);
    CU_ASSERT_EQUAL_FATAL(res.status, 201);
    json_t *other = json_incref(res.json);
    http_result_free(&res);
    bool differs = false;
    json_t *xo = json_object_get(other, "intersections");
    json_t *xp = json_object_get(plan, "intersections");
    for (size_t i = 0; i < 8; i++)
        differs |= fabs(num(json_array_get(xo, i), "offset_s") -
                        num(json_array_get(xp, i), "offset_s")) > 1;
    CU_ASSERT_TRUE(differs);
    support_cityd_stop(&c2);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "redis-cli -p %d SET 'cityd:{cor:nandajie}:plan:active' "
             "\"$(redis-cli -p %d GET 'cityd:{cor:nandajie}:plan:%s')\" "
             ">/dev/null", r2.port, r2.port, json_string_value(json_object_get(other, "id")));
    CU_ASSERT_EQUAL(system(cmd), 0);
    CU_ASSERT_EQUAL_FATAL(support_cityd_start(&c2, r2.url, fixed), 0);
    CU_ASSERT_EQUAL_FATAL(wait_ready(&c2), 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    expect_plan_runs(&c2, other, (double)ts.tv_sec + 1800, again);
    json_decref(other);
    json_decref(plan);
    support_cityd_stop(&c2);
    support_redis_stop(&r2);
}

int suite_signals(void)
{
    CU_pSuite s = CU_add_suite("signals", suite_init, suite_clean);
    if (s == NULL)
        return -1;
    return !(CU_add_test(s, "webster", test_webster) &&
             CU_add_test(s, "greenwave", test_greenwave) &&
             CU_add_test(s, "greenwave bad input", test_greenwave_bad_input) &&
             CU_add_test(s, "corridors", test_corridors) &&
             CU_add_test(s, "plans and time-space diagram", test_plans) &&
             CU_add_test(s, "an activated plan runs, across a restart", test_plan_runs));
}
