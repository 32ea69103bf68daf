/* it_cluster.c -- bin/cityd on a Redis Cluster (3 masters, 3 replicas on
 * free ports, support_cluster_start) over real HTTP.
 *
 * The basic parking flow -- PUT a lot, an observation, nearest, a gate
 * entry and exit with its bill -- answered as on one Redis, and found
 * again by a second cityd started on the same cluster (state restored
 * from the cluster, not from memory); /v1/health and /metrics say what
 * the cityd sees of the cluster; no batch spans slots. Map:
 * tests/fixtures/maps/garage (lot it-g1 with gates). */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

#define D0800 1764547200.0              /* 2025-12-01 08:00 +08:00 */
#define OP "k-operator"

static const char *const EXTRA[] = {"map.dir=tests/fixtures/maps/garage", "clock.mode=replay",
                                    NULL};

static struct test_cluster CL;          /* the suite's cluster */

static int suite_init(void)
{
    return support_cluster_start(&CL) == 0 ? 0 : -1;
}

static int suite_clean(void)
{
    support_cluster_stop(&CL);
    return 0;
}

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

static double num(const json_t *j, const char *a, const char *b)
{
    const json_t *v = json_object_get(j, a);
    if (b != NULL)
        v = json_object_get(v, b);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *str(const json_t *j, const char *a, const char *b)
{
    const json_t *v = json_object_get(j, a);
    if (b != NULL)
        v = json_object_get(v, b);
    return json_is_string(v) ? json_string_value(v) : "(missing)";
}

/* Value of a metric line "name value" in /metrics, NAN if absent. */
static double metric(const struct test_cityd *c, const char *name)
{
    struct http_result r;
    double v = NAN;
    if (support_get(c->base, "/metrics", NULL, &r) == 0 && r.body != NULL) {
        char pat[200];
        snprintf(pat, sizeof pat, "\n%s ", name);
        const char *p = strstr(r.body, pat);
        if (p != NULL)
            v = atof(p + strlen(pat));
    }
    http_result_free(&r);
    return v;
}

/* GET path until it answers 200 (a cityd restoring answers 503). */
static json_t *get_ready(const struct test_cityd *c, const char *path, const char *key)
{
    for (int i = 0; i < 1000; i++) {
        struct http_result r;
        json_t *j = NULL;
        if (support_get(c->base, path, key, &r) == 0 && r.status == 200 && r.json)
            j = json_incref(r.json);
        http_result_free(&r);
        if (j != NULL)
            return j;
        support_sleep_ms(10);
    }
    return NULL;
}

static void check_parking_state(const struct test_cityd *c, const char *sid)
{
    json_t *lot = get_ready(c, "/v1/parking/lots/cl-a?at=1764547260", NULL);
    CU_ASSERT_PTR_NOT_NULL(lot);
    CU_ASSERT_EQUAL(num(lot, "availableSpotNumber", NULL), 7);
    CU_ASSERT_EQUAL(num(lot, "totalSpotNumber", NULL), 20);
    json_decref(lot);
    json_t *near = get_ready(c, "/v1/parking/nearest?lon=121.5&lat=37.5&radius_m=500"
                                "&at=1764547260", NULL);
    CU_ASSERT_PTR_NOT_NULL(near);
    json_t *lots = json_object_get(near, "lots");
    CU_ASSERT_EQUAL(json_array_size(lots), 1);
    CU_ASSERT_STRING_EQUAL(str(json_array_get(lots, 0), "id", NULL), "cl-a");
    json_decref(near);
    json_t *ss = get_ready(c, "/v1/parking/sessions?plate=%E9%B2%81F12345", OP);
    CU_ASSERT_PTR_NOT_NULL(ss);
    json_t *list = json_object_get(ss, "sessions");
    CU_ASSERT_EQUAL(json_array_size(list), 1);
    CU_ASSERT_STRING_EQUAL(str(json_array_get(list, 0), "id", NULL), sid);
    json_decref(ss);
}

static void test_parking_flow(void)
{
    struct test_cityd c, c2;
    CU_ASSERT_EQUAL_FATAL(support_cityd_start(&c, CL.url, EXTRA), 0);
    json_t *h = CALL(&c, "GET", "/v1/health", NULL, NULL, 200);
    CU_ASSERT_STRING_EQUAL(str(h, "status", NULL), "ok");
    CU_ASSERT_EQUAL(num(h, "cluster", "slots_covered"), 16384);
    CU_ASSERT_EQUAL(num(h, "cluster", "masters"), 3);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(json_object_get(h, "cluster"), "nodes")), 6);
    json_decref(h);

    json_t *j = CALL(&c, "PUT", "/v1/parking/lots/cl-a", OP,
                     "{\"name\":\"Cluster A\",\"location\":{\"type\":\"Point\","
                     "\"coordinates\":[121.5011,37.5]},\"totalSpotNumber\":20}", 201);
    json_decref(j);
    j = CALL(&c, "POST", "/v1/parking/observations", "k-sensor",
             "{\"observations\":[{\"id\":\"cl-o1\",\"lot\":\"cl-a\",\"availableSpotNumber\":7,"
             "\"ts\":1764547200}]}", 200);
    CU_ASSERT_EQUAL(num(j, "accepted", NULL), 1);
    json_decref(j);
    j = CALL(&c, "POST", "/v1/parking/observations", "k-sensor",
             "{\"observations\":[{\"id\":\"cl-o1\",\"lot\":\"cl-a\",\"availableSpotNumber\":7,"
             "\"ts\":1764547200}]}", 200);
    CU_ASSERT_EQUAL(num(j, "duplicates", NULL), 1);         /* idempotent on the cluster too */
    json_decref(j);

    j = CALL(&c, "POST", "/v1/parking/lots/it-g1/entries", OP,
             "{\"id\":\"cl-in\",\"plate\":\"鲁F12345\",\"gate\":\"N\",\"ts\":1764547200}", 201);
    char sid[64];
    snprintf(sid, sizeof sid, "%s", str(j, "session", "id"));
    json_decref(j);
    j = CALL(&c, "POST", "/v1/parking/lots/it-g1/exits", OP,
             "{\"id\":\"cl-out\",\"plate\":\"鲁F12345\",\"gate\":\"S\",\"ts\":1764554400}", 201);
    CU_ASSERT_STRING_EQUAL(str(j, "session", "id"), sid);
    CU_ASSERT_DOUBLE_EQUAL(num(j, "session", "amountDue"), 12.0, 1e-9);
    json_decref(j);
    check_parking_state(&c, sid);
    CU_ASSERT_EQUAL(metric(&c, "cityd_store_cross_slot_batches_total"), 0);
    CU_ASSERT_EQUAL(metric(&c, "cityd_store_slots_covered"), 16384);

    /* A second cityd on the same cluster restores it all from Redis. */
    CU_ASSERT_EQUAL(support_cityd_start(&c2, CL.url, EXTRA), 0);
    check_parking_state(&c2, sid);
    CU_ASSERT_EQUAL(metric(&c2, "cityd_store_cross_slot_batches_total"), 0);
    support_cityd_stop(&c2);
    support_cityd_stop(&c);
}

/* The demo recipe: tools/cluster.sh start, status, a cityd on it, stop. */
static void test_cluster_sh(void)
{
    int base = support_free_cluster_ports(6);
    char *dir = support_tmpdir("cityd-cluster-sh");
    CU_ASSERT_FATAL(base > 0 && dir != NULL);
    char cmd[600], out[2048] = "", url[256] = "";
    snprintf(cmd, sizeof cmd, "tools/cluster.sh start --base-port %d --dir %s 2>&1", base, dir);
    FILE *f = popen(cmd, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    while (fgets(out, sizeof out, f) != NULL)
        if (strncmp(out, "redis-cluster://", 16) == 0)
            snprintf(url, sizeof url, "%.*s", (int)strcspn(out, "\n"), out);
    CU_ASSERT_EQUAL(pclose(f), 0);
    char want[128];
    snprintf(want, sizeof want, "redis-cluster://127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", base,
             base + 1, base + 2);
    CU_ASSERT_STRING_EQUAL(url, want);
    snprintf(cmd, sizeof cmd, "tools/cluster.sh status --base-port %d --dir %s 2>&1", base, dir);
    f = popen(cmd, "r");
    size_t n = f ? fread(out, 1, sizeof out - 1, f) : 0;
    out[n] = '\0';
    if (f)
        pclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "cluster_state:ok"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "cluster_known_nodes:6"));
    struct test_cityd c;
    if (url[0] != '\0' && support_cityd_start(&c, url, EXTRA) == 0) {
        json_t *h = CALL(&c, "GET", "/v1/health", NULL, NULL, 200);
        CU_ASSERT_EQUAL(num(h, "cluster", "slots_covered"), 16384);
        json_decref(h);
        support_cityd_stop(&c);
    } else {
        CU_FAIL("cityd on tools/cluster.sh's cluster did not start");
    }
    snprintf(cmd, sizeof cmd, "tools/cluster.sh stop --base-port %d --dir %s >/dev/null 2>&1",
             base, dir);
    CU_ASSERT_EQUAL(system(cmd), 0);
    support_sleep_ms(300);
    snprintf(cmd, sizeof cmd, "redis-cli -p %d ping >/dev/null 2>&1", base);
    CU_ASSERT_NOT_EQUAL(system(cmd), 0);         /* stopped */
    support_rmrf(dir);
    free(dir);
}

int suite_cluster(void)
{
    CU_pSuite s = CU_add_suite("cluster", suite_init, suite_clean);
    if (!s)
        return -1;
    if (!CU_add_test(s, "parking flow on a Redis Cluster, seen by a second cityd",
                     test_parking_flow) ||
        !CU_add_test(s, "tools/cluster.sh start, status, stop", test_cluster_sh))
        return -1;
    return 0;
}
