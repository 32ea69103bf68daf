/* it_signals.c -- the signal-timing endpoints over real HTTP against
 * bin/cityd with a real redis-server and the Yantai demo map: Webster,
 * green-wave optimisation (answers re-checked here with the band
 * evaluator), bad input, corridors, candidate/active plans surviving a
 * restart of cityd, the time-space diagram, and an activated plan run by
 * the controllers (timing and SPaT), across a restart. */
#include <CUnit/CUnit.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
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
    /* Intersection-wide (HCM): flow-weighted mean of the phases' delay. */
    json_t *p1 = json_array_get(json_object_get(res.json, "phases"), 1);
    double di = (500 * num(p0, "hcm_delay_s") + 300 * num(p1, "hcm_delay_s")) / 800;
    CU_ASSERT_DOUBLE_EQUAL(num(res.json, "intersection_delay_s"), di, 1e-6);
    char want_los[2] = { di <= 10 ? 'A' : di <= 20 ? 'B' : di <= 35 ? 'C' : di <= 55 ? 'D'
                         : di <= 80 ? 'E' : 'F', 0 };
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(res.json, "intersection_los")),
                           want_los);
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
    /* No plan yet: the diagram draws the timing running now (issue 13). */
    CU_ASSERT_EQUAL_FATAL(support_get(cityd.base, "/v1/signals/corridors/beimalu/time-space.svg",
                                      NULL, &res), 0);
    CU_ASSERT_EQUAL(res.status, 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.body, "<svg"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.body, "</svg>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.body, "timing running now"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.body, "北马路-解放路"));
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


/* Issue 13: without a speed, a corridor green wave explores progression
 * speeds from 0.8 x the corridor's speed up to it (nandajie: 50 km/h);
 * bands thinner than a fifth of the cycle come with what bounds them. */
static void test_greenwave_defaults(void)
{
    struct http_result res;
    post("/v1/signals/corridors/nandajie/greenwave", "k-engineer", "{}", &res);
    CU_ASSERT_EQUAL_FATAL(res.status, 201);
    double v = 50 / 3.6, C = num(res.json, "cycle_s");
    json_t *ls = json_object_get(res.json, "links");
    bool slower = false;
    for (size_t i = 0; i < json_array_size(ls); i++) {
        json_t *l = json_array_get(ls, i);
        for (int d = 0; d < 2; d++) {
            double sp = num(l, d ? "inbound_speed_mps" : "outbound_speed_mps");
            CU_ASSERT_TRUE(sp >= 0.8 * v - 1e-6 && sp <= v + 1e-6);
            slower |= sp < v - 1e-6;
        }
    }
    CU_ASSERT_TRUE(slower);
    /* At the fixed 50 km/h the best equal bands are 2.7 s of 113 s. */
    double band_range = num(res.json, "outbound_band_s");
    http_result_free(&res);
    post("/v1/signals/corridors/nandajie/greenwave", "k-engineer", "{\"speed_mps\":13.889}", &res);
    CU_ASSERT_EQUAL_FATAL(res.status, 201);
    CU_ASSERT_TRUE(num(res.json, "outbound_band_s") < 0.2 * C);
    CU_ASSERT_TRUE(band_range > num(res.json, "outbound_band_s"));
    json_t *thin = json_object_get(res.json, "thin_bands");
    CU_ASSERT_EQUAL(json_array_size(thin), 2);
    for (size_t i = 0; i < json_array_size(thin); i++) {
        json_t *t = json_array_get(thin, i);
        const char *lead = json_string_value(json_object_get(t, "leading_edge"));
        const char *trail = json_string_value(json_object_get(t, "trailing_edge"));
        const char *why = json_string_value(json_object_get(t, "why"));
        CU_ASSERT_PTR_NOT_NULL_FATAL(lead);
        CU_ASSERT_PTR_NOT_NULL_FATAL(trail);
        CU_ASSERT_PTR_NOT_NULL_FATAL(why);
        CU_ASSERT_EQUAL(strncmp(lead, "nd-", 3), 0);
        CU_ASSERT_EQUAL(strncmp(trail, "nd-", 3), 0);
        CU_ASSERT_PTR_NOT_NULL(strstr(why, lead));
    }
    http_result_free(&res);
}

/* Issue 13: a plan activated while the intersections are adaptive runs
 * there too: they take its cycle and offsets as their coordination
 * reference (greens still from their counts). The reply says, for every
 * intersection, its mode and whether the plan runs there and why not (a
 * max-pressure one keeps no common cycle); with "mode":"fixed" every
 * intersection switches to fixed and runs the plan exactly. */
static void test_plan_runs_adaptive(void)
{
    struct test_redis r2;
    struct test_cityd c2;
    struct http_result res;
    CU_ASSERT_EQUAL_FATAL(support_redis_start(&r2), 0);
    CU_ASSERT_EQUAL_FATAL(support_cityd_start(&c2, r2.url, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(wait_ready(&c2), 0);
    CU_ASSERT_EQUAL_FATAL(support_send("PUT", c2.base, "/v1/signals/intersections/nd-08/mode",
                                       "k-engineer",
                                       "{\"mode\":\"adaptive\",\"method\":\"max_pressure\"}",
                                       &res), 0);
    CU_ASSERT_EQUAL(res.status, 200);
    http_result_free(&res);
    json_t *before = read_json(&c2, "/v1/signals/intersections/nd-03/timing");
    double now = num(before, "ts");
    json_decref(before);
    CU_ASSERT_EQUAL_FATAL(support_send("POST", c2.base, "/v1/signals/corridors/nandajie/greenwave",
                                       "k-engineer", "{\"speed_range_mps\":[11.1,13.9]}", &res),
                          0);
    CU_ASSERT_EQUAL_FATAL(res.status, 201);
    json_t *plan = json_incref(res.json);
    http_result_free(&res);
    const char *id = json_string_value(json_object_get(plan, "id"));
    double C = num(plan, "cycle_s");
    char body[200];
    const char *path = "/v1/signals/corridors/nandajie/plan";
    snprintf(body, sizeof body, "{\"plan\":\"%s\"}", id);
    CU_ASSERT_EQUAL_FATAL(support_send("PUT", c2.base, path, "k-engineer", body, &res), 0);
    CU_ASSERT_EQUAL(res.status, 200);
    json_t *xs = json_object_get(res.json, "intersections");
    CU_ASSERT_EQUAL_FATAL(json_array_size(xs), 8);
    for (size_t i = 0; i < 8; i++) {
        json_t *x = json_array_get(xs, i);
        const char *isec = json_string_value(json_object_get(x, "id"));
        const char *mode = json_string_value(json_object_get(x, "mode"));
        const char *why = json_string_value(json_object_get(x, "plan_reason"));
        CU_ASSERT_PTR_NOT_NULL_FATAL(mode);
        CU_ASSERT_PTR_NOT_NULL_FATAL(why);
        CU_ASSERT_STRING_EQUAL(mode, "adaptive");
        bool mp = strcmp(isec, "nd-08") == 0;
        CU_ASSERT_EQUAL(json_is_true(json_object_get(x, "plan_runs")), !mp);
        CU_ASSERT_PTR_NOT_NULL(strstr(why, mp ? "max_pressure" : "cycle and offsets"));
    }
    http_result_free(&res);
    /* A few cycles later the adaptive intersections run the plan's cycle
     * and offsets (relative to the first: nd-01 is adaptive too). */
    double t = now + 1800;
    json_t *px = json_object_get(plan, "intersections");
    double start0 = 0;
    for (size_t i = 0; i < 7; i++) {
        json_t *x = json_array_get(px, i);
        json_t *tm = read_at(&c2, json_string_value(json_object_get(x, "id")), "timing", t);
        const char *tmode = json_string_value(json_object_get(tm, "mode"));
        const char *tplan = json_string_value(json_object_get(tm, "plan"));
        CU_ASSERT_STRING_EQUAL(tmode ? tmode : "(none)", "adaptive");
        CU_ASSERT_STRING_EQUAL(tplan ? tplan : "(none)", id);
        if (tplan == NULL)
            fprintf(stderr, "\n%s: %s\n", json_string_value(json_object_get(x, "id")),
                    json_string_value(json_object_get(tm, "reason")));
        CU_ASSERT_DOUBLE_EQUAL(num(tm, "cycle_s"), C, 1e-9);
        CU_ASSERT_DOUBLE_EQUAL(num(tm, "common_cycle_s"), C, 1e-9);
        double off = posmod(round(num(x, "offset_s")), C);
        CU_ASSERT_DOUBLE_EQUAL(num(tm, "corridor_offset_s"), off, 1e-9);
        if (i == 0)
            start0 = num(tm, "cycle_start");
        else
            CU_ASSERT_DOUBLE_EQUAL(posmod(num(tm, "cycle_start") - start0, C), off, 1e-9);
        json_decref(tm);
    }
    /* Switch to fixed with the plan: every intersection runs it exactly. */
    snprintf(body, sizeof body, "{\"plan\":\"%s\",\"mode\":\"fixed\"}", id);
    CU_ASSERT_EQUAL_FATAL(support_send("PUT", c2.base, path, "k-engineer", body, &res), 0);
    CU_ASSERT_EQUAL(res.status, 200);
    xs = json_object_get(res.json, "intersections");
    for (size_t i = 0; i < json_array_size(xs); i++) {
        json_t *x = json_array_get(xs, i);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(x, "mode")), "fixed");
        CU_ASSERT_TRUE(json_is_true(json_object_get(x, "plan_runs")));
    }
    http_result_free(&res);
    double starts[8];
    expect_plan_runs(&c2, plan, t + 1800, starts);
    /* A bad mode changes nothing. */
    snprintf(body, sizeof body, "{\"plan\":\"%s\",\"mode\":\"sometimes\"}", id);
    CU_ASSERT_EQUAL_FATAL(support_send("PUT", c2.base, path, "k-engineer", body, &res), 0);
    CU_ASSERT_EQUAL(res.status, 400);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.body, "mode"));
    http_result_free(&res);
    json_decref(plan);
    support_cityd_stop(&c2);
    support_redis_stop(&r2);
}

/* ---- bad numbers at every entry point (issue 12, defect 6) ----
 * Each template has one %s where the value goes; every value listed is
 * outside the documented plausible range (docs/signals.md), so each must
 * get 400 naming the field, at once. */
struct sweep {
    const char *path, *key, *tmpl, *field;
    const char *const *values;
};

static const char *const cycles[] = { "0", "-1", "1e-9", "1e308", "-1e308", "19", "301",
                                      "1e20", "9223372036854775807", NULL };
static const char *const speeds[] = { "0", "-1", "1e-9", "0.5", "41", "1e308",
                                      "1e20", "9223372036854775807", NULL };
static const char *const flows[] = { "-1", "1e308", "20001", "1e20",
                                     "9223372036854775807", NULL };
static const char *const sats[] = { "0", "-1", "1e-9", "1e308", "20001",
                                    "9223372036854775807", NULL };
static const char *const shorts[] = { "-1", "1e308", "301", "9223372036854775807", NULL };
static const char *const greens[] = { "0", "-1", "1e308", "301", "9223372036854775807", NULL };
static const char *const ratios[] = { "0", "-1", "1e-9", "1.5", "1e308", NULL };
static const char *const flow_ratios[] = { "-1", "5.5", "1e308", "9223372036854775807", NULL };
static const char *const changes[] = { "0", "-1", "41", "1e308", "9223372036854775807", NULL };
static const char *const positions[] = { "1e308", "-1e308", "100001", "9223372036854775807",
                                         NULL };
static const char *const crossings[] = { "-1", "1e308", "201", "9223372036854775807", NULL };

#define WEB "/v1/signals/webster"
#define GW "/v1/signals/greenwave"
#define CGW "/v1/signals/corridors/beimalu/greenwave"
#define PH2 "{\"flow\":300,\"saturation_flow\":1600}"
#define TWO "{\"intersections\":[{\"id\":\"a\",\"position_m\":0,\"green_s\":30},"            \
    "{\"id\":\"b\",\"position_m\":400,\"green_s\":30}],"

static const struct sweep sweeps[] = {
    { WEB, "k-reader", "{\"lost_time_s\":16,\"cycle_s\":%s,\"phases\":[" PH2 "," PH2 "]}",
      "cycle_s", cycles },
    { WEB, "k-reader", "{\"lost_time_s\":16,\"cycle_min_s\":%s,\"phases\":[" PH2 "," PH2 "]}",
      "cycle_min_s", cycles },
    { WEB, "k-reader", "{\"lost_time_s\":16,\"cycle_max_s\":%s,\"phases\":[" PH2 "," PH2 "]}",
      "cycle_max_s", cycles },
    { WEB, "k-reader", "{\"lost_time_s\":%s,\"phases\":[" PH2 "," PH2 "]}", "lost_time_s",
      shorts },
    { WEB, "k-reader", "{\"lost_time_s\":16,\"phases\":[" PH2 ",{\"flow\":%s,"
      "\"saturation_flow\":1600}]}", "phases[1].flow", flows },
    { WEB, "k-reader", "{\"lost_time_s\":16,\"phases\":[" PH2 ",{\"flow\":300,"
      "\"saturation_flow\":%s}]}", "phases[1].saturation_flow", sats },
    { WEB, "k-reader", "{\"lost_time_s\":16,\"phases\":[" PH2 ",{\"flow_ratio\":%s}]}",
      "phases[1].flow_ratio", flow_ratios },
    { WEB, "k-reader", "{\"lost_time_s\":16,\"cycle_s\":90,\"phases\":[{\"flow\":300,"
      "\"saturation_flow\":1600,\"green_s\":30},{\"flow\":300,\"saturation_flow\":1600,"
      "\"green_s\":%s}]}", "phases[1].green_s", greens },
    { WEB, "k-reader", "{\"lost_time_s\":16,\"phases\":[" PH2 ",{\"flow\":300,"
      "\"saturation_flow\":1600,\"min_green_s\":%s}]}", "phases[1].min_green_s", shorts },
    { WEB, "k-reader", "{\"lost_time_s\":16,\"phases\":[" PH2 ",{\"flow\":300,"
      "\"saturation_flow\":1600,\"pedestrian_crossing_m\":%s}]}",
      "phases[1].pedestrian_crossing_m", crossings },
    { GW, "k-reader", TWO "\"cycle_s\":%s,\"speed_mps\":12}", "cycle_s", cycles },
    { GW, "k-reader", TWO "\"cycle_range_s\":[%s,100],\"speed_mps\":12}", "cycle_range_s",
      cycles },
    { GW, "k-reader", TWO "\"cycle_range_s\":[40,%s],\"speed_mps\":12}", "cycle_range_s",
      cycles },
    { GW, "k-reader", TWO "\"cycle_s\":80,\"speed_mps\":%s}", "speed_mps", speeds },
    { GW, "k-reader", TWO "\"cycle_s\":80,\"speed_range_mps\":[%s,12]}", "speed_range_mps",
      speeds },
    { GW, "k-reader", TWO "\"cycle_s\":80,\"speed_range_mps\":[1,%s]}", "speed_range_mps",
      speeds },
    { GW, "k-reader", TWO "\"cycle_s\":80,\"speed_mps\":12,\"links\":[{\"speed_mps\":%s}]}",
      "links[0].speed_mps", speeds },
    { GW, "k-reader", TWO "\"cycle_s\":80,\"speed_mps\":12,\"links\":[{\"inbound_speed_mps\":"
      "%s}]}", "links[0].inbound_speed_mps", speeds },
    { GW, "k-reader", TWO "\"cycle_s\":80,\"speed_mps\":12,\"speed_change_max_mps\":%s}",
      "speed_change_max_mps", changes },
    { GW, "k-reader", "{\"intersections\":[{\"id\":\"a\",\"position_m\":0,\"green_s\":30},"
      "{\"id\":\"b\",\"position_m\":%s,\"green_s\":30}],\"cycle_s\":80,\"speed_mps\":12}",
      "intersections[1].position_m", positions },
    { GW, "k-reader", "{\"intersections\":[{\"id\":\"a\",\"position_m\":0,\"green_s\":%s},"
      "{\"id\":\"b\",\"position_m\":400,\"green_s\":30}],\"cycle_s\":80,\"speed_mps\":12}",
      "intersections[0].green_s", greens },
    { GW, "k-reader", "{\"intersections\":[{\"id\":\"a\",\"position_m\":0,\"green_ratio\":%s},"
      "{\"id\":\"b\",\"position_m\":400,\"green_ratio\":0.5}],\"cycle_s\":80,\"speed_mps\":12}",
      "intersections[0].green_ratio", ratios },
    { GW, "k-reader", "{\"intersections\":[{\"id\":\"a\",\"position_m\":0,\"green_s\":30,"
      "\"queue_clearance_s\":%s},{\"id\":\"b\",\"position_m\":400,\"green_s\":30}],"
      "\"cycle_s\":80,\"speed_mps\":12}", "intersections[0].queue_clearance_s", shorts },
    { CGW, "k-engineer", "{\"cycle_s\":%s}", "cycle_s", cycles },
    { CGW, "k-engineer", "{\"speed_mps\":%s}", "speed_mps", speeds },
    { CGW, "k-engineer", "{\"speed_range_mps\":[%s,14]}", "speed_range_mps", speeds },
    { CGW, "k-engineer", "{\"links\":[{\"outbound_speed_mps\":%s},{},{},{}]}",
      "links[0].outbound_speed_mps", speeds },
    { CGW, "k-engineer", "{\"speed_change_max_mps\":%s}", "speed_change_max_mps", changes },
    { CGW, "k-engineer", "{\"queue_clearance_s\":%s}", "queue_clearance_s", shorts },
};

static void test_bad_numbers(void)
{
    for (size_t k = 0; k < sizeof sweeps / sizeof sweeps[0]; k++) {
        const struct sweep *w = &sweeps[k];
        for (size_t v = 0; w->values[v] != NULL; v++) {
            char body[1024];
            snprintf(body, sizeof body, w->tmpl, w->values[v]);
            struct http_result res;
            post(w->path, w->key, body, &res);
            const char *msg = json_string_value(json_object_get(json_object_get(res.json,
                                                                                "error"),
                                                                "message"));
            bool ok = res.status == 400 && msg != NULL && strstr(msg, w->field) != NULL;
            if (!ok)
                fprintf(stderr, "%s %s=%s: %ld %s\n", w->path, w->field, w->values[v],
                        res.status, res.body);
            CU_ASSERT_TRUE(ok);
            http_result_free(&res);
        }
    }
}

/* A number printed as nan or inf somewhere in an SVG. */
static bool has_non_number(const char *svg)
{
    static const char *const bad[] = { "nan\"", "inf\"", "nan,", "inf,", " nan", " inf",
                                       ">nan", ">inf", "+nan", "+inf", "-nan", "-inf" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (strstr(svg, bad[i]) != NULL)
            return true;
    return false;
}

/* A plan stored with speeds and a cycle no request can give any more (an
 * older cityd, a hand edit) still draws, at once and at a bounded size. */
static void test_time_space_extremes(void)
{
    struct http_result res;
    post(CGW, "k-engineer", "{}", &res);
    CU_ASSERT_EQUAL_FATAL(res.status, 201);
    json_t *plan = json_incref(res.json);
    http_result_free(&res);
    static const double speed[] = { 1e-3, 0.05, 0.4, 1e6, 1e300 };
    static const double cycle[] = { 1e-3, 20, 1e6, 1e300 };
    for (size_t s = 0; s < sizeof speed / sizeof speed[0]; s++) {
        for (size_t c = 0; c < sizeof cycle / sizeof cycle[0]; c++) {
            json_t *p = json_deep_copy(plan);
            char id[32];
            snprintf(id, sizeof id, "extreme%zu%zu", s, c);
            json_object_set_new(p, "id", json_string(id));
            json_object_set_new(p, "cycle_s", json_real(cycle[c]));
            json_t *ls = json_object_get(p, "links"), *xs = json_object_get(p, "intersections");
            for (size_t i = 0; i < json_array_size(ls); i++) {
                json_object_set_new(json_array_get(ls, i), "outbound_speed_mps",
                                    json_real(speed[s]));
                json_object_set_new(json_array_get(ls, i), "inbound_speed_mps",
                                    json_real(speed[s]));
            }
            /* Always green, so that both bands exist whatever the speeds
             * and are drawn across the whole diagram. */
            for (size_t i = 0; i < json_array_size(xs); i++) {
                json_t *x = json_array_get(xs, i);
                json_object_set_new(x, "offset_s", json_real(0));
                json_object_set_new(x, "outbound_green_s", json_real(cycle[c]));
                json_object_set_new(x, "inbound_green_s", json_real(cycle[c]));
                json_object_set_new(x, "queue_clearance_s", json_real(0));
            }
            char *js = json_dumps(p, JSON_COMPACT | JSON_REAL_PRECISION(17));
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/plan.json", cityd.dir);
            FILE *f = fopen(path, "w");
            CU_ASSERT_PTR_NOT_NULL_FATAL(f);
            fputs(js, f);
            fclose(f);
            char cmd[PATH_MAX + 200];
            snprintf(cmd, sizeof cmd, "redis-cli -p %d -x SET 'cityd:{cor:beimalu}:plan:%s' "
                     "<'%s' >/dev/null", redis.port, id, path);
            CU_ASSERT_EQUAL(system(cmd), 0);
            free(js);
            json_decref(p);
            char url[2048];
            snprintf(url, sizeof url, "%s/v1/signals/corridors/beimalu/time-space.svg?plan=%s",
                     cityd.base, id);
            struct timespec t0, t1;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            int rc = support_http("GET", url, NULL, NULL, 0, NULL, 10000, &res);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
            CU_ASSERT_EQUAL(rc, 0);
            bool ok = rc == 0 && res.status == 200 && res.len < 512 * 1024 && ms < 1000 &&
                      !has_non_number(res.body) && strstr(res.body, "</svg>") != NULL;
            if (!ok)
                fprintf(stderr, "speed %g cycle %g: %ld, %zu bytes, %.0f ms\n", speed[s],
                        cycle[c], res.status, res.len, ms);
            CU_ASSERT_TRUE(ok);
            http_result_free(&res);
        }
    }
    json_decref(plan);
}

/* ---- long computations off the event loop (api.md section 1; issue
 * 12, defect 2). A second cityd with two workers, a queue of four and the
 * MILP's intersection limit raised, so that a 64-signal problem with a
 * speed-change bound runs (until signals.solve_timeout_ms). ---- */
static struct test_redis busy_redis;
static struct test_cityd busy;

static const char *const busy_opts[] = {
    "signals.workers=2", "signals.queue_max=4", "signals.max_milp_intersections=64",
    "signals.solve_timeout_ms=1500", "server.drain_timeout_ms=200", NULL
};

static int busy_init(void)
{
    if (support_redis_start(&busy_redis) != 0 ||
        support_cityd_start(&busy, busy_redis.url, busy_opts) != 0)
        return -1;
    return 0;
}

static int busy_clean(void)
{
    support_cityd_stop(&busy);
    support_redis_stop(&busy_redis);
    return 0;
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* A random arterial of n signals (200-800 m blocks, greens 35-65 % of the
 * cycle), cycle 60-100 s, speeds 11-14 m/s, optionally a speed-change
 * bound (which asks for the MILP). Caller frees. */
static char *arterial(size_t n, bool speed_change, unsigned seed)
{
    size_t cap = 128 + n * 96, len = 0;
    char *b = malloc(cap);
    double x = 0;
    len += (size_t)snprintf(b + len, cap - len, "{\"intersections\":[");
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        double g = 0.35 + 0.3 * (double)((seed >> 8) % 1000) / 1000.0;
        len += (size_t)snprintf(b + len, cap - len, "%s{\"id\":\"s%zu\",\"position_m\":%.1f,"
                                "\"green_ratio\":%.3f}", i ? "," : "", i, x, g);
        seed = seed * 1103515245u + 12345u;
        x += 200 + 600 * (double)((seed >> 8) % 1000) / 1000.0;
    }
    snprintf(b + len, cap - len, "],\"cycle_range_s\":[60,100],\"speed_range_mps\":[11,14]%s}",
             speed_change ? ",\"speed_change_max_mps\":1" : "");
    return b;
}

struct solve {
    const char *base;
    char *body;
    int timeout_ms;
    pthread_t t;
    long status;
    char code[32], retry_after[32];
    double t0, t1;
    int *active;                     /* solves still running (atomic) */
};

static void *solve_run(void *arg)
{
    struct solve *s = arg;
    char url[256];
    struct http_result res;
    snprintf(url, sizeof url, "%s/v1/signals/greenwave", s->base);
    s->t0 = now_ms();
    if (support_http("POST", url, "k-reader", s->body, strlen(s->body), NULL, s->timeout_ms,
                     &res) == 0) {
        s->status = res.status;
        snprintf(s->code, sizeof s->code, "%s", support_error_code(&res));
        snprintf(s->retry_after, sizeof s->retry_after, "%s", res.retry_after);
        http_result_free(&res);
    } else {
        s->status = -1;
    }
    s->t1 = now_ms();
    if (s->active)
        __atomic_sub_fetch(s->active, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void solves_start(struct solve *s, size_t n, const char *base, int timeout_ms,
                         int *active)
{
    if (active)
        *active = (int)n;
    for (size_t i = 0; i < n; i++) {
        s[i] = (struct solve){ .base = base, .body = arterial(64, true, 7 + (unsigned)i),
                               .timeout_ms = timeout_ms, .active = active };
        CU_ASSERT_EQUAL_FATAL(pthread_create(&s[i].t, NULL, solve_run, &s[i]), 0);
    }
}

static void solves_join(struct solve *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        pthread_join(s[i].t, NULL);
        free(s[i].body);
    }
}

/* One GET; its latency in ms (or 1e9 on failure or a status other than 200). */
static double probe(const char *base, const char *path)
{
    struct http_result res;
    double t0 = now_ms();
    int rc = support_get(base, path, NULL, &res);
    double ms = now_ms() - t0;
    if (rc != 0 || res.status != 200)
        ms = 1e9;
    if (rc == 0)
        http_result_free(&res);
    return ms;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Five large solves at once: health and a cheap GET keep answering in
 * under 50 ms while they run, because the loop is not the one doing the
 * work. The bound is on nine probes in ten: on a shared 2-core machine
 * (CI runs this under ASan too) the scheduler alone can hold a probe up
 * now and then. A loop doing the work would hold every probe for the
 * length of a solve (seconds), which the worst-case bound still sees. */
#define MAX_PROBES 2048
static void test_loop_free_while_solving(void)
{
    struct solve s[5];
    static double ms[MAX_PROBES];
    int active = 0;
    solves_start(s, 5, busy.base, 30000, &active);
    support_sleep_ms(150);                  /* the solves have arrived */
    size_t probes = 0;
    while (__atomic_load_n(&active, __ATOMIC_SEQ_CST) > 0) {
        double h = probe(busy.base, "/v1/health");
        double c = probe(busy.base, "/v1/signals/corridors/nandajie");
        /* Only probes made entirely while solves ran count. */
        if (__atomic_load_n(&active, __ATOMIC_SEQ_CST) > 0 && probes + 2 <= MAX_PROBES) {
            ms[probes++] = h;
            ms[probes++] = c;
        }
        support_sleep_ms(20);
    }
    solves_join(s, 5);
    qsort(ms, probes, sizeof ms[0], cmp_double);
    double p90 = probes ? ms[probes * 9 / 10] : 1e9, worst = probes ? ms[probes - 1] : 1e9;
    fprintf(stderr, "loop free: %zu probes while 5 solves ran, p90 %.1f ms, worst %.1f ms; "
            "solves took", probes, p90, worst);
    for (size_t i = 0; i < 5; i++)
        fprintf(stderr, " %.0f ms (%ld %s)", s[i].t1 - s[i].t0, s[i].status, s[i].code);
    fprintf(stderr, "\n");
    CU_ASSERT(probes >= 20);
    /* (valgrind, make valgrind, runs one thread at a time: the probes
     * wait for a solver's time slice, so only that they answer counts) */
    bool serial = support_under_valgrind(busy.pid);
    CU_ASSERT(serial || p90 < 50);
    CU_ASSERT(serial || worst < 500);
    /* The solves were real work: each ran for a while, and either found
     * the optimum (200) or ran into the time limit (422 too_large); which
     * one depends on how fast this machine is today. */
    for (size_t i = 0; i < 5; i++) {
        CU_ASSERT(s[i].status == 200 || s[i].status == 422);
        if (s[i].status == 422)
            CU_ASSERT_STRING_EQUAL(s[i].code, "too_large");
        CU_ASSERT(s[i].t1 - s[i].t0 > 100);
    }
}

/* More solves than workers + queue: the rest get 503 busy at once. */
static void test_queue_full(void)
{
    struct solve s[9];
    solves_start(s, 9, busy.base, 30000, NULL);
    solves_join(s, 9);
    int busy_n = 0;
    for (size_t i = 0; i < 9; i++) {
        if (s[i].status == 503) {
            busy_n++;
            CU_ASSERT_STRING_EQUAL(s[i].code, "busy");
            CU_ASSERT(atoi(s[i].retry_after) >= 1);
            CU_ASSERT(s[i].t1 - s[i].t0 < 1000);
        } else {
            CU_ASSERT(s[i].status == 200 || s[i].status == 422);   /* solved, or timed out */
        }
    }
    CU_ASSERT_EQUAL(busy_n, 3);             /* 2 running + 4 queued accepted */
}

/* Beyond the configured limits: 422 too_large naming the limit, at once. */
static void test_too_large(void)
{
    struct http_result res;
    char *b = arterial(65, false, 1);
    double t0 = now_ms();
    post(GW, "k-reader", b, &res);
    CU_ASSERT_EQUAL(res.status, 422);
    CU_ASSERT_STRING_EQUAL(support_error_code(&res), "too_large");
    CU_ASSERT_PTR_NOT_NULL(strstr(res.body, "signals.max_intersections"));
    http_result_free(&res);
    free(b);
    b = arterial(17, true, 1);
    post(GW, "k-reader", b, &res);
    CU_ASSERT_EQUAL(res.status, 422);
    CU_ASSERT_STRING_EQUAL(support_error_code(&res), "too_large");
    CU_ASSERT_PTR_NOT_NULL(strstr(res.body, "signals.max_milp_intersections"));
    http_result_free(&res);
    free(b);
    CU_ASSERT(now_ms() - t0 < 1000);
    /* Within the limits it is solved. */
    b = arterial(16, true, 1);
    post(GW, "k-reader", b, &res);
    CU_ASSERT_EQUAL(res.status, 200);
    http_result_free(&res);
    free(b);
    b = arterial(64, false, 1);
    post(GW, "k-reader", b, &res);
    CU_ASSERT_EQUAL(res.status, 200);
    http_result_free(&res);
    free(b);
    /* Webster: more phases than a signal plan has. */
    char web[2048];
    size_t len = (size_t)snprintf(web, sizeof web, "{\"lost_time_s\":16,\"phases\":[");
    for (int i = 0; i < 17; i++)
        len += (size_t)snprintf(web + len, sizeof web - len, "%s" PH2, i ? "," : "");
    snprintf(web + len, sizeof web - len, "]}");
    post(WEB, "k-reader", web, &res);
    CU_ASSERT_EQUAL(res.status, 422);
    CU_ASSERT_STRING_EQUAL(support_error_code(&res), "too_large");
    CU_ASSERT_PTR_NOT_NULL(strstr(res.body, "16"));
    http_result_free(&res);
}

/* Clients that give up while their solve runs: the late replies are
 * dropped and the server carries on. */
static void test_client_gone(void)
{
    struct solve s[4];
    solves_start(s, 4, busy.base, 300, NULL);
    solves_join(s, 4);
    for (size_t i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(s[i].status, -1);  /* curl gave up */
    support_sleep_ms(3500);                  /* their solves end meanwhile */
    CU_ASSERT(probe(busy.base, "/v1/health") < 1000);
    struct http_result res;
    CU_ASSERT_EQUAL_FATAL(support_send("POST", busy.base, GW, "k-reader",
                                       TWO "\"cycle_s\":80,\"speed_mps\":12}", &res), 0);
    CU_ASSERT_EQUAL(res.status, 200);
    http_result_free(&res);
}

/* SIGTERM while solves run: cityd stops promptly and cleanly. */
static void test_shutdown_while_solving(void)
{
    struct solve s[4];
    solves_start(s, 4, busy.base, 30000, NULL);
    support_sleep_ms(300);
    double t0 = now_ms();
    CU_ASSERT_EQUAL(support_cityd_signal_wait(&busy, SIGTERM, 20000), 0);
    CU_ASSERT(now_ms() - t0 < 3000);
    solves_join(s, 4);
}

int suite_signals(void)
{
    CU_pSuite s = CU_add_suite("signals", suite_init, suite_clean), b;
    if (s == NULL)
        return -1;
    return !(CU_add_test(s, "webster", test_webster) &&
             CU_add_test(s, "greenwave", test_greenwave) &&
             CU_add_test(s, "greenwave bad input", test_greenwave_bad_input) &&
             CU_add_test(s, "corridors", test_corridors) &&
             CU_add_test(s, "plans and time-space diagram", test_plans) &&
             CU_add_test(s, "an activated plan runs, across a restart", test_plan_runs) &&
             CU_add_test(s, "a plan runs on adaptive intersections", test_plan_runs_adaptive) &&
             CU_add_test(s, "corridor green wave: speed range, thin bands", test_greenwave_defaults) &&
             CU_add_test(s, "bad numbers at every entry point", test_bad_numbers) &&
             CU_add_test(s, "time-space diagram of extreme plans", test_time_space_extremes) &&
             CU_add_test(s, "too large", test_too_large) &&
             (b = CU_add_suite("signals off the loop", busy_init, busy_clean)) != NULL &&
             CU_add_test(b, "health answers while solvers run", test_loop_free_while_solving) &&
             CU_add_test(b, "queue full: 503 busy", test_queue_full) &&
             CU_add_test(b, "clients gone while solving", test_client_gone) &&
             CU_add_test(b, "shutdown while solving", test_shutdown_while_solving));
}
