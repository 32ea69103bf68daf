/* it_citysim.c -- bin/citysim as scripts use it: `run` on the demo map
 * with fixture loads (byte-identical output per seed, a plan fetched from
 * a real cityd against the default with all offsets zero,
 * closed loop against a real cityd, errors with clear messages, a server
 * that stops answering) and `feed` into a real cityd (observations and
 * positions land, a re-run is idempotent, rejected rows by line).
 *
 * citysim is $CITYSIM_BIN, else citysim beside $CITYD_BIN, else
 * bin/citysim. */
#include <CUnit/CUnit.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

#define LOADS "tests/fixtures/loads/nandajie_pm.csv"
#define MAP "maps/yantai"

/* One Redis and one cityd for the suite (test fixture only). */
static struct test_redis redis;
static struct test_cityd cityd;
static char *tmp;
static char citysim[512];

struct proc {
    int status;                    /* exit code, or -1 if killed */
    char *out, *err;               /* malloc'd */
};

static void proc_free(struct proc *p)
{
    free(p->out);
    free(p->err);
}

static void spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
}

/* Run citysim with args (NULL-terminated, after the program name). */
static void run(struct proc *p, const char *const *args)
{
    const char *argv[64] = {citysim};
    size_t n = 1;
    for (; args[n - 1] && n < 63; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    p->status = support_run(argv, tmp, &p->out, &p->err);
}

/* Run citysim with args, expecting success: its JSON output (p keeps
 * the process's output for the caller to free). */
static json_t *run_json(struct proc *p, const char *const *args)
{
    run(p, args);
    if (p->status != 0)
        fprintf(stderr, "\ncitysim failed (%d): %s\n", p->status, p->err);
    CU_ASSERT_EQUAL_FATAL(p->status, 0);
    json_t *r = json_loads(p->out, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    return r;
}

static void expect_fail(const char *const *args, int status, const char *msg)
{
    struct proc p;
    run(&p, args);
    CU_ASSERT_EQUAL(p.status, status);
    CU_ASSERT_STRING_EQUAL(p.out, "");
    CU_ASSERT_PTR_NOT_NULL(strstr(p.err, msg));
    if (p.status != status || strstr(p.err, msg) == NULL)
        fprintf(stderr, "\nexpected status %d and '%s', got %d: %s\n", status, msg, p.status,
                p.err);
    proc_free(&p);
}

static int suite_init(void)
{
    support_citysim_path(citysim, sizeof citysim);
    if ((tmp = support_tmpdir("it-citysim")) == NULL || support_redis_start(&redis) != 0)
        return -1;
    /* Replay clock: the closed loop's simulated instants are cityd's now. */
    static const char *const replay[] = {"clock.mode=replay", NULL};
    return support_cityd_start(&cityd, redis.url, replay);
}

static int suite_clean(void)
{
    support_cityd_stop(&cityd);
    support_redis_stop(&redis);
    support_rmrf(tmp);
    free(tmp);
    return 0;
}

static double num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* ---- run ---- */

static void test_deterministic(void)
{
    char tr1[600], tr2[600];
    snprintf(tr1, sizeof tr1, "%s/trace1.csv", tmp);
    snprintf(tr2, sizeof tr2, "%s/trace2.csv", tmp);
    const char *a1[] = {"run", "--map", MAP, "--corridor", "nandajie", "--loads", LOADS,
                        "--duration", "3600", "--seed", "7", "--trace", tr1, NULL};
    const char *a2[] = {"run", "--map", MAP, "--corridor", "nandajie", "--loads", LOADS,
                        "--duration", "3600", "--seed", "7", "--trace", tr2, NULL};
    const char *a3[] = {"run", "--map", MAP, "--corridor", "nandajie", "--loads", LOADS,
                        "--duration", "3600", "--seed", "8", NULL};
    struct proc p1, p2, p3;
    run(&p1, a1);
    run(&p2, a2);
    run(&p3, a3);
    CU_ASSERT_EQUAL_FATAL(p1.status, 0);
    CU_ASSERT_EQUAL(p2.status, 0);
    CU_ASSERT_STRING_EQUAL(p1.out, p2.out);
    CU_ASSERT_STRING_NOT_EQUAL(p1.out, p3.out);
    char *t1 = support_slurp(tr1), *t2 = support_slurp(tr2);
    CU_ASSERT_STRING_EQUAL(t1, t2);
    CU_ASSERT_TRUE(strncmp(t1, "vehicle,intersection,movement,position_m,arrive_s,cross_s\n",
                           58) == 0);
    /* The undetected movements of the fixture are said, not hidden. */
    CU_ASSERT_PTR_NOT_NULL(strstr(p1.err, "nd-03: not detected ('*')"));
    json_t *r = json_loads(p1.out, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r, "timing")), "default");
    double veh = num(r, "vehicles");
    CU_ASSERT_TRUE(veh > 3000);
    CU_ASSERT_TRUE(num(r, "mean_delay_s") > 0);
    CU_ASSERT_TRUE(num(r, "mean_stops") > 0);
    CU_ASSERT_EQUAL(num(r, "in_network"), 0);
    json_t *xs = json_object_get(r, "intersections");
    CU_ASSERT_EQUAL(json_array_size(xs), 8);
    /* Every trajectory line is a stop-line crossing: as many as the
     * intersections served. */
    long lines = -1;
    for (const char *s = t1; *s; s++)
        lines += *s == '\n';
    double served = 0;
    for (size_t i = 0; i < json_array_size(xs); i++)
        served += num(json_array_get(xs, i), "vehicles");
    CU_ASSERT_DOUBLE_EQUAL((double)lines, served, 0);
    json_t *x3 = json_array_get(xs, 2);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(json_object_get(x3, "undetected"), 0)),
                           "EBR");
    CU_ASSERT_PTR_NOT_NULL(json_object_get(json_object_get(x3, "movements"), "EBT"));
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(
                               json_object_get(r, "directions"), "outbound"), "approach")), "EB");
    json_decref(r);
    free(t1);
    free(t2);
    proc_free(&p1);
    proc_free(&p2);
    proc_free(&p3);
}

static void test_bad_input(void)
{
    char bad[600];
    snprintf(bad, sizeof bad, "%s/bad.csv", tmp);
    const char *args[] = {"run", "--map", MAP, "--corridor", "nandajie", "--loads", bad,
                          "--duration", "900", "--seed", "1", NULL};
#define HDR "Title,\nDATE,TIME,INTID,NBL,NBT,NBR,SBL,SBT,SBR,EBL,EBT,EBR,WBL,WBT,WBR\n"
    spit(bad, HDR "11/21/2025,=\"1600\",bm-01,1,1,1,1,1,1,1,1,1,1,1,1,\n");
    expect_fail(args, 2, "bad.csv:3: intersection 'bm-01' is not on corridor 'nandajie'");
    spit(bad, HDR "11/31/2025,=\"1600\",nd-01,1,1,1,1,1,1,1,1,1,1,1,1,\n");
    expect_fail(args, 2, "bad.csv:3: DATE '11/31/2025': no such date");
    spit(bad, HDR "11/21/2025,=\"1600\",nd-01,1,1,1,1,1,1,1,-4,1,1,1,1,\n");
    expect_fail(args, 2, "bad.csv:3: EBT: '-4' is negative");
    spit(bad, HDR "11/21/2025,=\"1600\",nd-04,1,5,1,0,0,0,0,1,1,1,1,0,\n");
    expect_fail(args, 2, "bad.csv:3: nd-04: NBT counted (5) but no phase of the map serves it");
    spit(bad, HDR "11/21/2025,=\"1600\",nd-01,1,1,1,1,1,1,1,1,1,1,1,1,\n");
    expect_fail(args, 2, "bad.csv: no counts for intersection 'nd-02'");
    const char *other[] = {"run", "--map", MAP, "--corridor", "nowhere", "--loads", LOADS,
                           "--duration", "900", "--seed", "1", NULL};
    expect_fail(other, 2, "--corridor: no corridor 'nowhere'");
    const char *nokey[] = {"run", "--map", MAP, "--corridor", "nandajie", "--loads", LOADS,
                           "--duration", "900", "--seed", "1", "--server", cityd.base, NULL};
    expect_fail(nokey, 2, "--server needs --key");
    const char *both[] = {"run", "--map", MAP, "--corridor", "nandajie", "--loads", LOADS,
                          "--duration", "900", "--seed", "1", "--server", cityd.base,
                          "--key", "k-sensor", "--plan", bad, NULL};
    expect_fail(both, 2, "--plan and --server");
    const char *late[] = {"run", "--map", MAP, "--corridor", "nandajie", "--loads", LOADS,
                          "--duration", "3600", "--seed", "1", "--start", "11/21/2025 16:30",
                          NULL};
    expect_fail(late, 2, "has no counts for the interval starting 11/21/2025 17:00");
    /* A plan for another corridor. */
    spit(bad, "{\"id\":\"x\",\"corridor\":\"beimalu\",\"cycle_s\":90,\"intersections\":[]}");
    const char *plan[] = {"run", "--map", MAP, "--corridor", "nandajie", "--loads", LOADS,
                          "--duration", "900", "--seed", "1", "--plan", bad, NULL};
    expect_fail(plan, 2, "plan: for corridor 'beimalu', not 'nandajie'");
    spit(bad, "{\"corridor\":\"nandajie\",");
    expect_fail(plan, 2, "--plan");
}

static json_t *fetch_plan(void)
{
    struct http_result res;
    CU_ASSERT_EQUAL_FATAL(support_send("POST", cityd.base, "/v1/signals/corridors/nandajie/greenwave",
                                       "k-engineer", "{\"speed_range_mps\":[11.1,13.9]}", &res), 0);
    CU_ASSERT_EQUAL_FATAL(res.status, 201);
    char body[200];
    snprintf(body, sizeof body, "{\"plan\":\"%s\"}",
             json_string_value(json_object_get(res.json, "id")));
    http_result_free(&res);
    CU_ASSERT_EQUAL_FATAL(support_send("PUT", cityd.base, "/v1/signals/corridors/nandajie/plan",
                                       "k-engineer", body, &res), 0);
    CU_ASSERT_TRUE(res.status == 200 || res.status == 204);
    http_result_free(&res);
    CU_ASSERT_EQUAL_FATAL(support_get(cityd.base, "/v1/signals/corridors/nandajie/plan", NULL,
                                      &res), 0);
    CU_ASSERT_EQUAL_FATAL(res.status, 200);
    char path[600];
    snprintf(path, sizeof path, "%s/plan.json", tmp);
    spit(path, res.body);
    json_t *plan = json_incref(res.json);
    http_result_free(&res);
    return plan;
}

static void test_plan_from_cityd(void)
{
    json_t *plan = fetch_plan();
    char path[600];
    snprintf(path, sizeof path, "%s/plan.json", tmp);
    const char *withplan[] = {"run", "--map", MAP, "--corridor", "nandajie", "--loads", LOADS,
                              "--duration", "3600", "--seed", "3", "--plan", path, NULL};
    const char *dflt[] = {"run", "--map", MAP, "--corridor", "nandajie", "--loads", LOADS,
                          "--duration", "3600", "--seed", "3", NULL};
    struct proc p, d;
    json_t *r = run_json(&p, withplan), *r0 = run_json(&d, dflt);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r, "timing")), "plan");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r, "plan")),
                           json_string_value(json_object_get(plan, "id")));
    double C = num(plan, "cycle_s");
    json_t *xs = json_object_get(r, "intersections"), *px = json_object_get(plan, "intersections");
    json_t *xs0 = json_object_get(r0, "intersections");
    for (size_t i = 0; i < json_array_size(xs); i++) {
        /* The plan's cycle; the coordinated phase (phase 1 on this map)
         * starts at the plan's offset (the default: at 0). */
        CU_ASSERT_DOUBLE_EQUAL(num(json_array_get(xs, i), "cycle_s"), C, 0.005);
        CU_ASSERT_DOUBLE_EQUAL(num(json_array_get(xs0, i), "offset_s"), 0, 0.005);
        CU_ASSERT_DOUBLE_EQUAL(num(json_array_get(xs, i), "offset_s"),
                               fmod(num(json_array_get(px, i), "offset_s"), C), 0.006);
    }
    /* Same loads and seed, other offsets: other delays. */
    CU_ASSERT_TRUE(num(r, "mean_delay_s") != num(r0, "mean_delay_s"));
    json_decref(r);
    json_decref(r0);
    json_decref(plan);
    proc_free(&p);
    proc_free(&d);
}

/* A server that does not answer: retried, then a clear error and exit 3,
 * and no result on stdout. */
static void test_server_gone(void)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", support_free_port());
    const char *args[] = {"run", "--map", MAP, "--corridor", "nandajie", "--loads", LOADS,
                          "--duration", "900", "--seed", "1", "--server", url, "--key",
                          "k-sensor", "--timeout", "0.5", "--retries", "2", NULL};
    expect_fail(args, 3, "no answer after 3 attempts");
    /* A stopped (hanging) cityd: each attempt times out. */
    CU_ASSERT_EQUAL(kill(cityd.pid, SIGSTOP), 0);
    const char *hang[] = {"run", "--map", MAP, "--corridor", "nandajie", "--loads", LOADS,
                          "--duration", "900", "--seed", "1", "--server", cityd.base, "--key",
                          "k-sensor", "--timeout", "0.3", "--retries", "1", NULL};
    expect_fail(hang, 3, "no answer after 2 attempts (Timeout");
    kill(cityd.pid, SIGCONT);
}

/* True when this build of cityd serves `path` (modules land separately:
 * without the module, there is nothing to drive). body NULL: GET. */
static bool serves(const char *path, const char *body)
{
    struct http_result res;
    int rc = body ? support_send("POST", cityd.base, path, "k-sensor", body, &res)
                  : support_get(cityd.base, path, NULL, &res);
    if (rc != 0)
        return false;
    /* The router's answer for a path nobody serves (src/http.c). */
    bool ok = !(res.status == 404 && strstr(res.body, "no endpoint at this path") != NULL);
    if (!ok)
        fprintf(stderr, "\n(skipped: this cityd has no %s)\n", path);
    http_result_free(&res);
    return ok;
}

#define TIMING "/v1/signals/intersections/nd-01/timing"

/* Closed loop: counts posted every interval, the timing followed every
 * cycle; the run is reproducible and re-posting is idempotent. */
static void test_closed_loop(void)
{
    if (!serves(TIMING, NULL))
        return;
    const char *args[] = {"run", "--map", MAP, "--corridor", "nandajie", "--loads", LOADS,
                          "--duration", "3600", "--seed", "5", "--server", cityd.base,
                          "--key", "k-sensor", NULL};
    struct proc p;
    run(&p, args);
    CU_ASSERT_EQUAL_FATAL(p.status, 0);
    if (p.status != 0)
        fprintf(stderr, "%s\n", p.err);
    json_t *r = json_loads(p.out, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r, "timing")), "closed_loop");
    CU_ASSERT_PTR_NOT_NULL(strstr(p.err, "t=3600 s: counts posted"));
    json_t *xs = json_object_get(r, "intersections");
    for (size_t i = 0; i < json_array_size(xs); i++) {
        json_t *x = json_array_get(xs, i);
        /* One fetch per cycle at least: an hour of cycles <= 180 s. */
        CU_ASSERT_TRUE(num(x, "timing_updates") >= 3600 / 180);
        CU_ASSERT_TRUE(num(x, "vehicles") > 0);
    }
    CU_ASSERT_TRUE(num(r, "vehicles") > 3000);
    json_t *counts = json_object_get(r, "counts");
    CU_ASSERT_TRUE(num(counts, "posted") > 0);
    CU_ASSERT_DOUBLE_EQUAL(num(counts, "duplicates"), 0, 0);
    json_decref(r);
    proc_free(&p);
    /* The same run again: cityd answers its counts as duplicates, and
     * citysim says so instead of announcing them as posted (issue 13). */
    run(&p, args);
    CU_ASSERT_EQUAL_FATAL(p.status, 0);
    r = json_loads(p.out, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    counts = json_object_get(r, "counts");
    CU_ASSERT_DOUBLE_EQUAL(num(counts, "posted"), 0, 0);
    CU_ASSERT_TRUE(num(counts, "duplicates") > 0);
    CU_ASSERT_PTR_NULL(strstr(p.err, "s: counts posted"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p.err, "answered as duplicates"));
    json_decref(r);
    proc_free(&p);
    struct http_result res;
    CU_ASSERT_EQUAL_FATAL(support_get(cityd.base, TIMING, NULL, &res), 0);
    CU_ASSERT_EQUAL(res.status, 200);
    CU_ASSERT_TRUE(num(res.json, "cycle_s") > 0);
    http_result_free(&res);
}

/* --actuated: the same run under coordinated-actuated local control
 * (docs/citysim.md "Local control"): side streets gap out and pass their
 * green on, per intersection and in the JSON; against cityd in closed
 * loop too (each fetched timing is the controller's new force-offs). */
static void test_actuated(void)
{
    const char *pre[] = {"run", "--map", MAP, "--corridor", "nandajie", "--loads", LOADS,
                         "--duration", "3600", "--seed", "7", NULL};
    const char *act[] = {"run", "--map", MAP, "--corridor", "nandajie", "--loads", LOADS,
                         "--duration", "3600", "--seed", "7", "--actuated", NULL};
    struct proc p1, p2;
    json_t *r1 = run_json(&p1, pre), *r2 = run_json(&p2, act);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r1, "local_control")), "pretimed");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r2, "local_control")), "actuated");
    CU_ASSERT_DOUBLE_EQUAL(num(r2, "passage_s"), 3, 0);
    CU_ASSERT_TRUE(num(r1, "mean_delay_s") != num(r2, "mean_delay_s"));
    json_t *x1 = json_object_get(r1, "intersections"), *x2 = json_object_get(r2, "intersections");
    double gaps = 0;
    for (size_t i = 0; i < json_array_size(x2); i++) {
        CU_ASSERT_PTR_NULL(json_object_get(json_array_get(x1, i), "gap_outs"));
        double g = num(json_array_get(x2, i), "gap_outs");
        double u = num(json_array_get(x2, i), "unused_green_s");
        CU_ASSERT_TRUE(g >= 0 && u >= 0 && (g > 0) == (u > 0));
        gaps += g;
    }
    CU_ASSERT_TRUE(gaps > 0);
    json_decref(r1);
    json_decref(r2);
    proc_free(&p1);
    proc_free(&p2);
    const char *zero[] = {"run", "--map", MAP, "--corridor", "nandajie", "--loads", LOADS,
                          "--duration", "3600", "--seed", "7", "--actuated", "--passage", "0",
                          NULL};
    expect_fail(zero, 2, "--passage");
    if (!serves(TIMING, NULL))
        return;
    const char *loop[] = {"run", "--map", MAP, "--corridor", "nandajie", "--loads", LOADS,
                          "--duration", "1800", "--seed", "9", "--server", cityd.base,
                          "--key", "k-sensor", "--actuated", NULL};
    r1 = run_json(&p1, loop);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r1, "timing")), "closed_loop");
    gaps = 0;
    x1 = json_object_get(r1, "intersections");
    for (size_t i = 0; i < json_array_size(x1); i++)
        gaps += num(json_array_get(x1, i), "gap_outs");
    CU_ASSERT_TRUE(gaps > 0);
    CU_ASSERT_EQUAL(num(r1, "in_network"), 0);
    json_decref(r1);
    proc_free(&p1);
}

/* Points of the next <polyline> in the group starting at *p: monotone in
 * time (x) and in position (y: up for outbound, down for inbound).
 * Returns the number of points, 0 when no polyline is left in the group,
 * -1 when a point breaks the order. */
static int next_polyline(const char **p, const char *end, int dir)
{
    const char *pl = strstr(*p, "<polyline points=\"");
    if (pl == NULL || pl > end)
        return 0;
    pl += strlen("<polyline points=\"");
    double px = -INFINITY, py = dir == 0 ? INFINITY : -INFINITY, x, y;
    int n = 0, used, bad = 0;
    while (sscanf(pl, "%lf,%lf %n", &x, &y, &used) == 2) {
        if (x < px - 1e-9 || (dir == 0 ? y > py + 1e-9 : y < py - 1e-9))
            bad = 1;
        px = x;
        py = y;
        n++;
        pl += used;
    }
    *p = pl;
    return bad ? -1 : n;
}

/* --svg: the time-space diagram of the run, parsed back: well formed
 * (one root, balanced groups), every intersection labelled with greens
 * and reds, and one trajectory per corridor vehicle in the window (as
 * many as --trace shows: outbound EBT crossings between 600 s and 600 +
 * 3 x 113 s), each going forward in time and along its direction. */
static void test_svg(void)
{
    char svg[600], trace[600];
    snprintf(svg, sizeof svg, "%s/run.svg", tmp);
    snprintf(trace, sizeof trace, "%s/svg-trace.csv", tmp);
    const char *args[] = {"run", "--map", MAP, "--corridor", "nandajie", "--loads", LOADS,
                          "--duration", "3600", "--seed", "2", "--warmup", "600", "--svg", svg,
                          "--trace", trace, NULL};
    struct proc p;
    run(&p, args);
    CU_ASSERT_EQUAL_FATAL(p.status, 0);
    proc_free(&p);
    char *doc = support_slurp(svg), *tr = support_slurp(trace);
    CU_ASSERT_EQUAL(strncmp(doc, "<?xml", 5), 0);
    size_t len = strlen(doc);
    CU_ASSERT_TRUE(len > 20 && strcmp(doc + len - 7, "</svg>\n") == 0);
    int gopen = 0, gclose = 0;
    for (const char *q = doc; (q = strstr(q, "<g")) != NULL; q++)
        gopen += q[2] == ' ' || q[2] == '>';
    for (const char *q = doc; (q = strstr(q, "</g>")) != NULL; q++)
        gclose++;
    CU_ASSERT_EQUAL(gopen, gclose);
    CU_ASSERT_PTR_NOT_NULL(strstr(doc, "南大街-上夼西路"));
    CU_ASSERT_PTR_NOT_NULL(strstr(doc, "南大街-解放路"));
    int greens = 0;
    for (const char *q = doc; (q = strstr(q, "class=\"green\"")) != NULL; q++)
        greens++;
    CU_ASSERT_TRUE(greens >= 2 * 8 * 3);
    /* Expected outbound trajectories from the trace. */
    long want = 0, *seen = calloc(strlen(tr) / 10 + 1, sizeof *seen);
    for (const char *line = strchr(tr, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
        long veh;
        char isec[64], mov[8];
        double pos, arrive, cross;
        if (sscanf(line + 1, "%ld,%63[^,],%7[^,],%lf,%lf,%lf", &veh, isec, mov, &pos, &arrive,
                   &cross) == 6 && strcmp(mov, "EBT") == 0 && cross >= 600 &&
            arrive <= 600 + 3 * 113) {
            bool dup = false;
            for (long k = 0; k < want && !dup; k++)
                dup = seen[k] == veh;
            if (!dup)
                seen[want++] = veh;
        }
    }
    free(seen);
    for (int dir = 0; dir < 2; dir++) {
        const char *g = strstr(doc, dir == 0 ? "<g id=\"outbound\"" : "<g id=\"inbound\"");
        CU_ASSERT_PTR_NOT_NULL_FATAL(g);
        const char *end = strstr(g, "</g>");
        long lines = 0;
        int n;
        while ((n = next_polyline(&g, end, dir)) != 0) {
            CU_ASSERT_TRUE(n >= 2);
            lines++;
        }
        CU_ASSERT_TRUE(lines > 20);
        if (dir == 0)
            CU_ASSERT_EQUAL(lines, want);
    }
    free(doc);
    free(tr);
}

/* Against a cityd on the wall clock the simulated instants are in its
 * past: the run fails and says how to start cityd for a closed loop. */
static void test_wall_clock_cityd(void)
{
    struct test_redis r2;
    struct test_cityd wall;
    CU_ASSERT_EQUAL_FATAL(support_redis_start(&r2), 0);
    CU_ASSERT_EQUAL_FATAL(support_cityd_start(&wall, r2.url, NULL), 0);
    const char *args[] = {"run", "--map", MAP, "--corridor", "nandajie", "--loads", LOADS,
                          "--duration", "900", "--seed", "5", "--server", wall.base,
                          "--key", "k-sensor", "--retries", "0", NULL};
    expect_fail(args, 3, "clock.mode=replay");
    support_cityd_stop(&wall);
    support_redis_stop(&r2);
}

/* cityd stops answering in the middle of a closed-loop run: retries, then
 * a clear error and exit 3, and no result printed. */
static void test_server_dies_mid_run(void)
{
    if (!serves(TIMING, NULL))
        return;
    char errpath[600], outpath[600];
    snprintf(errpath, sizeof errpath, "%s/mid.err", tmp);
    snprintf(outpath, sizeof outpath, "%s/mid.out", tmp);
    int fds[2];
    CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        int o = open(outpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(o, 1);
        dup2(fds[1], 2);
        close(fds[0]);
        execl(citysim, citysim, "run", "--map", MAP, "--corridor", "nandajie", "--loads", LOADS,
              "--duration", "3600", "--seed", "9", "--server", cityd.base, "--key", "k-sensor",
              "--timeout", "0.3", "--retries", "2", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *err = fdopen(fds[0], "r");
    char line[1024], all[8192] = "";
    bool stopped = false;
    while (fgets(line, sizeof line, err) != NULL) {
        strncat(all, line, sizeof all - strlen(all) - 1);
        if (!stopped && strstr(line, "citysim: t=") != NULL && strstr(line, "counts") != NULL) {
            CU_ASSERT_EQUAL(kill(cityd.pid, SIGSTOP), 0);
            stopped = true;
        }
    }
    fclose(err);
    int st = 0;
    waitpid(pid, &st, 0);
    kill(cityd.pid, SIGCONT);
    CU_ASSERT_TRUE(stopped);
    CU_ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 3);
    CU_ASSERT_PTR_NOT_NULL(strstr(all, "no answer after 3 attempts"));
    if (strstr(all, "no answer after 3 attempts") == NULL)
        fprintf(stderr, "\n%s\n", all);
    char *out = support_slurp(outpath);
    CU_ASSERT_STRING_EQUAL(out, "");
    free(out);
}

/* ---- feed ---- */

static void test_feed_parking(void)
{
    if (!serves("/v1/parking/observations", "{\"observations\":[]}"))
        return;
    char csv[600];
    snprintf(csv, sizeof csv, "%s/lots.csv", tmp);
    long now = (long)time(NULL);
    char text[600];
    snprintf(text, sizeof text, "ts,lot,availableSpotNumber\n%ld,yt-zf-0001,40\n"
             "%ld,yt-zf-0002,7\n%ld,yt-zf-0001,38\n%ld,no-such-lot,3\n",
             now - 120, now - 120, now - 60, now - 60);
    spit(csv, text);
    const char *args[] = {"feed", "--server", cityd.base, "--key", "k-sensor", "--parking", csv,
                          "--speed", "max", NULL};
    struct proc p;
    run(&p, args);
    /* The unknown lot is rejected and reported by its line. */
    CU_ASSERT_EQUAL(p.status, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(p.err, "lots.csv:5: rejected"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p.err, "4/4 rows"));
    json_t *s = json_loads(p.out, 0, NULL);
    CU_ASSERT_EQUAL(num(s, "accepted"), 3);
    CU_ASSERT_EQUAL(num(s, "rejected"), 1);
    CU_ASSERT_EQUAL(num(s, "batches"), 2);
    json_decref(s);
    proc_free(&p);
    struct http_result res;
    CU_ASSERT_EQUAL_FATAL(support_get(cityd.base, "/v1/parking/lots/yt-zf-0001", NULL, &res), 0);
    CU_ASSERT_EQUAL(num(res.json, "availableSpotNumber"), 38);
    CU_ASSERT_EQUAL(num(res.json, "observationDateTime"), now - 60);
    http_result_free(&res);
    /* A re-run: the same ids, nothing applied twice. */
    run(&p, args);
    s = json_loads(p.out, 0, NULL);
    CU_ASSERT_EQUAL(num(s, "accepted"), 0);
    CU_ASSERT_EQUAL(num(s, "duplicates"), 3);
    json_decref(s);
    proc_free(&p);
    /* Pacing: two timestamps 2 s apart at 4x take about half a second. */
    snprintf(text, sizeof text, "%ld,yt-zf-0003,10\n%ld,yt-zf-0003,9\n", now - 30, now - 28);
    spit(csv, text);
    const char *paced[] = {"feed", "--server", cityd.base, "--key", "k-sensor", "--parking", csv,
                           "--speed", "4", NULL};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    run(&p, paced);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    CU_ASSERT_EQUAL(p.status, 0);
    CU_ASSERT_TRUE(took >= 0.45);
    proc_free(&p);
    /* Bad rows stop the replay before anything is sent. */
    spit(csv, "ts,lot,availableSpotNumber\n100,yt-zf-0004,5\nyesterday,yt-zf-0004,5\n");
    expect_fail(args, 2, "lots.csv:3: ts 'yesterday'");
    CU_ASSERT_EQUAL_FATAL(support_get(cityd.base, "/v1/parking/lots/yt-zf-0004", NULL, &res), 0);
    CU_ASSERT_TRUE(num(res.json, "observationDateTime") != 100);
    http_result_free(&res);
    /* A key without the sensor role: a clear error. */
    spit(csv, "ts,lot,availableSpotNumber\n100,yt-zf-0004,5\n");
    const char *reader[] = {"feed", "--server", cityd.base, "--key", "k-reader", "--parking", csv,
                            NULL};
    expect_fail(reader, 3, "HTTP 403");
}

static void test_feed_avl(void)
{
    const char *empty = "{\"header\":{\"gtfs_realtime_version\":\"2.0\"},\"entity\":[]}";
    if (!serves("/v1/transit/vehicle-positions", empty))
        return;
    char csv[600], text[1200];
    snprintf(csv, sizeof csv, "%s/avl.csv", tmp);
    long now = (long)time(NULL);
    /* TransitClock layout, times as UTC date-times, on the Yantai map. */
    struct tm tm1, tm2;
    time_t a = now - 40, b = now - 10;
    gmtime_r(&a, &tm1);
    gmtime_r(&b, &tm2);
    char s1[32], s2[32];
    strftime(s1, sizeof s1, "%Y-%m-%d %H:%M:%S", &tm1);
    strftime(s2, sizeof s2, "%Y-%m-%d %H:%M:%S", &tm2);
    snprintf(text, sizeof text,
             "\"vehicleId\",\"time\",\"assignmentId\",\"assignmentType\",\"heading\",\"latitude\","
             "\"longitude\"\n"
             "sim-bus-1,\"%s\",\"B1\",\"BLOCK_ID\",90,37.5414,121.3598\n"
             "sim-bus-1,\"%s\",\"B1\",\"BLOCK_ID\",90,37.5407,121.3695\n", s1, s2);
    spit(csv, text);
    const char *args[] = {"feed", "--server", cityd.base, "--key", "k-sensor", "--avl", csv,
                          "--speed", "0", NULL};
    struct proc p;
    run(&p, args);
    CU_ASSERT_EQUAL(p.status, 0);
    json_t *s = json_loads(p.out, 0, NULL);
    CU_ASSERT_EQUAL(num(s, "rows"), 2);
    CU_ASSERT_EQUAL(num(s, "batches"), 2);               /* one position per message */
    CU_ASSERT_EQUAL(num(s, "accepted"), 2);
    json_decref(s);
    proc_free(&p);
    struct http_result res;
    CU_ASSERT_EQUAL_FATAL(support_get(cityd.base, "/v1/transit/vehicles/sim-bus-1", NULL, &res), 0);
    CU_ASSERT_EQUAL(res.status, 200);
    CU_ASSERT_EQUAL(num(res.json, "ts"), now - 10);
    CU_ASSERT_DOUBLE_EQUAL(num(res.json, "lon"), 121.3695, 1e-6);
    http_result_free(&res);
    /* Flattened GTFS-rt: dotted columns, numbers written as floats. */
    snprintf(text, sizeof text,
             ",id,vehicle.trip.route_id,vehicle.trip.direction_id,vehicle.position.latitude,"
             "vehicle.position.longitude,vehicle.position.speed,vehicle.timestamp,"
             "vehicle.vehicle.id\n"
             "0,sim-bus-2,10,1.0,37.5401,121.3772,8.5,%ld,sim-bus-2\n"
             "1,sim-bus-3,10,0.0,37.5395,121.3838,,%ld,sim-bus-3\n", now - 5, now - 5);
    spit(csv, text);
    run(&p, args);
    CU_ASSERT_EQUAL(p.status, 0);
    s = json_loads(p.out, 0, NULL);
    CU_ASSERT_EQUAL(num(s, "batches"), 1);
    CU_ASSERT_EQUAL(num(s, "accepted"), 2);
    json_decref(s);
    proc_free(&p);
    CU_ASSERT_EQUAL_FATAL(support_get(cityd.base, "/v1/transit/vehicles/sim-bus-3", NULL, &res), 0);
    CU_ASSERT_EQUAL(res.status, 200);
    CU_ASSERT_DOUBLE_EQUAL(num(res.json, "lat"), 37.5395, 1e-6);
    http_result_free(&res);
    spit(csv, "vehicleId,time,latitude,longitude\nv9,2016-13-01 00:00:00,37.5,121.3\n");
    expect_fail(args, 2, "avl.csv:2: time");
    spit(csv, "bus,when,lat,lon\nv9,1,37.5,121.3\n");
    expect_fail(args, 2, "avl.csv:1: header");
}

int suite_citysim(void)
{
    CU_pSuite s = CU_add_suite("citysim", suite_init, suite_clean);
    if (s == NULL)
        return -1;
    if (!CU_add_test(s, "run: byte-identical per seed, trace", test_deterministic) ||
        !CU_add_test(s, "run: bad input", test_bad_input) ||
        !CU_add_test(s, "run: plan from cityd", test_plan_from_cityd) ||
        !CU_add_test(s, "run: server gone", test_server_gone) ||
        !CU_add_test(s, "run: closed loop", test_closed_loop) ||
        !CU_add_test(s, "run: a wall-clock cityd", test_wall_clock_cityd) ||
        !CU_add_test(s, "run: --svg time-space diagram", test_svg) ||
        !CU_add_test(s, "run: --actuated local control", test_actuated) ||
        !CU_add_test(s, "run: server dies mid-run", test_server_dies_mid_run) ||
        !CU_add_test(s, "feed: parking", test_feed_parking) ||
        !CU_add_test(s, "feed: avl", test_feed_avl))
        return -1;
    return 0;
}
