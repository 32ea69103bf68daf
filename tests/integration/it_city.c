/* it_city.c -- `citysim city` against a real cityd (replay clock) on the
 * demo map: a short high-speed run makes the four targets of a living city
 * true (nearest near 南大街 finds lots, >= 95 % of lots report, >= 90 % of
 * the trips the timetable has running are predicted, >= 70 % of
 * intersections run on detector counts); the same seed gives
 * byte-identical requests; bad input gets a clear error; and cityd warns
 * loudly when its GTFS feed has no trip today.
 *
 * citysim is $CITYSIM_BIN, else citysim beside $CITYD_BIN, else
 * bin/citysim. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gtfs.h"
#include "map.h"
#include "support.h"
#include "tz.h"

#define MAP "maps/yantai"
#define DATE "2026-12-08"          /* a Tuesday */
#define START "08:00"
#define DURATION "2700"

static struct test_redis redis;
static struct test_cityd cityd;
static char *tmp;
static char citysim[512];
static double t_end;               /* the run's last simulated instant */

static int suite_init(void)
{
    support_citysim_path(citysim, sizeof citysim);
    if ((tmp = support_tmpdir("it-city")) == NULL || support_redis_start(&redis) != 0)
        return -1;
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

/* citysim city with the run's fixed options plus extra (NULL-terminated). */
static int city(const char *const *extra, char **out, char **err)
{
    const char *argv[40] = {citysim, "city", "--map", MAP, "--date", DATE, "--start", START,
                            "--duration", DURATION, "--speed", "max", "--progress", "600"};
    size_t n = 14;
    for (size_t i = 0; extra[i] && n < 39; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    return support_run(argv, tmp, out, err);
}

/* The dump without the lines that depend on cityd's replies or on the
 * endpoints it has: payments (session ids and amounts come from the exit
 * reply) and fares (not sent any more once cityd answers 404). */
static char *strip_replied(const char *dump)
{
    char *o = malloc(strlen(dump) + 1), *w = o;
    for (const char *p = dump; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
        if (strncmp(p, "POST /v1/parking/sessions/", 26) && strncmp(p, "POST /v1/transit/fares", 22)) {
            memcpy(w, p, len);
            w += len;
        }
        p += len;
    }
    *w = '\0';
    return o;
}

static long req(const json_t *sum, const char *kind, const char *field)
{
    return (long)json_integer_value(json_object_get(json_object_get(json_object_get(sum,
                                     "requests"), kind), field));
}

/* The run against cityd, then each target read from cityd itself. As
 * `make run` runs it: a twentieth of the buses report no trip id. */
static void test_living_city(void)
{
    char dump[600], *out, *err;
    snprintf(dump, sizeof dump, "%s/server.txt", tmp);
    const char *args[] = {"--server", cityd.base, "--key", "k-admin", "--seed", "7",
                          "--tripless", "0.05", "--dump-requests", dump, NULL};
    int st = city(args, &out, &err);
    CU_ASSERT_EQUAL(st, 0);
    json_t *sum = json_loads(out, 0, NULL);
    if (st != 0 || sum == NULL)
        fprintf(stderr, "\ncitysim city: %d\n%s\n%s\n", st, out, err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sum);
    /* a progress line per simulated interval (600 s) */
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "Tue 08:10 | parking 38 lots"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "Tue 08:20 | parking 38 lots"));
    t_end = (double)json_integer_value(json_object_get(sum, "end"));
    /* What cityd took: nothing refused but the fares while cityd has no
     * fares endpoint. */
    static const char *const kinds[] = {"observations", "entries", "exits", "positions",
                                        "counts", "accounts"};
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        CU_ASSERT(req(sum, kinds[i], "sent") > 0);
        CU_ASSERT_EQUAL(req(sum, kinds[i], "ok"), req(sum, kinds[i], "sent"));
        CU_ASSERT_EQUAL(req(sum, kinds[i], "items_refused"), 0);
    }
    CU_ASSERT(req(sum, "payments", "ok") > 0);
    CU_ASSERT_EQUAL(req(sum, "payments", "refused"), 0);
    CU_ASSERT(json_integer_value(json_object_get(json_object_get(sum, "buses"), "fares")) > 0);
    CU_ASSERT(json_integer_value(json_object_get(json_object_get(sum, "buses"),
                                                 "positions_without_trip")) > 0);

    struct map *m = NULL;
    struct map_problems probs = {0};
    CU_ASSERT_EQUAL_FATAL(map_load(MAP, &m, &probs), 0);
    map_problems_free(&probs);
    struct http_result r;
    char path[600];

    /* 1. nearest near 南大街 (its 海港路 junction) finds lots */
    const struct map_intersection *nd5 = map_intersection(m, "nd-05");
    CU_ASSERT_PTR_NOT_NULL_FATAL(nd5);
    snprintf(path, sizeof path, "/v1/parking/nearest?lon=%.5f&lat=%.5f&radius_m=1000",
             nd5->pt.lon, nd5->pt.lat);
    CU_ASSERT_EQUAL(support_get(cityd.base, path, NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT(json_array_size(json_object_get(r.json, "lots")) > 0);
    http_result_free(&r);

    /* 2. >= 95 % of lots report (fresh, status known) */
    CU_ASSERT_EQUAL(support_get(cityd.base, "/v1/parking/lots?bbox=120,36,123,39", NULL, &r), 0);
    json_t *lots = json_object_get(r.json, "lots");
    size_t i, reporting = 0;
    json_t *l;
    json_array_foreach(lots, i, l) {
        const char *status = json_string_value(json_object_get(l, "status"));
        reporting += !json_is_true(json_object_get(l, "stale")) && status &&
                     strcmp(status, "unknown") != 0;
    }
    CU_ASSERT_EQUAL(json_array_size(lots), m->nlots);
    CU_ASSERT(reporting >= 0.95 * (double)m->nlots);
    http_result_free(&r);

    /* 3. >= 90 % of the trips the timetable has running now are predicted */
    char e[512];
    struct gtfs *f = gtfs_load(MAP "/gtfs", e, sizeof e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(support_get(cityd.base, "/v1/transit/trip-updates", NULL, &r), 0);
    json_t *ents = json_object_get(r.json, "entity");
    int64_t day = tz_local_day(f->tz, (int64_t)t_end);
    int64_t origin = gtfs_day_origin(f, day);
    size_t running = 0, predicted = 0;
    for (uint32_t t = 0; t < f->n_trips; t++) {
        const struct gtfs_trip *tr = &f->trips[t];
        uint32_t last = f->patterns[tr->pattern].n - 1;
        if (!gtfs_service_active(f, tr->service, day) || origin + tr->dep[0] > t_end ||
            origin + tr->arr[last] < t_end)
            continue;
        running++;
        json_t *en;
        json_array_foreach(ents, i, en) {
            const char *id = json_string_value(json_object_get(json_object_get(json_object_get(
                                 en, "trip_update"), "trip"), "trip_id"));
            if (id && !strcmp(id, tr->id)) {
                predicted++;
                break;
            }
        }
    }
    CU_ASSERT(running >= 20);
    CU_ASSERT(predicted >= 0.9 * (double)running);
    if (predicted < 0.9 * (double)running)
        fprintf(stderr, "\npredicted %zu of %zu running trips\n", predicted, running);
    http_result_free(&r);
    gtfs_free(f);

    /* 4. >= 70 % of intersections run on detector counts */
    size_t realtime = 0;
    for (size_t k = 0; k < m->nisecs; k++) {
        snprintf(path, sizeof path, "/v1/signals/intersections/%s/timing", m->isecs[k].id);
        CU_ASSERT_EQUAL(support_get(cityd.base, path, NULL, &r), 0);
        const char *mode = json_string_value(json_object_get(r.json, "mode"));
        const char *why = json_string_value(json_object_get(r.json, "reason"));
        realtime += mode && !strcmp(mode, "adaptive") && why &&
                    strstr(why, "flows smoothed from detector counts") != NULL;
        http_result_free(&r);
    }
    CU_ASSERT(realtime >= 0.7 * (double)m->nisecs);

    /* The bays of the garages carry the plates the simulation parked. */
    CU_ASSERT_EQUAL(support_get(cityd.base, "/v1/parking/lots/yt-zf-0005", NULL, &r), 0);
    CU_ASSERT_FALSE(json_is_true(json_object_get(r.json, "stale")));
    http_result_free(&r);
    map_free(m);
    json_decref(sum);
    free(out);
    free(err);
}

/* Same seed: byte-identical requests (two dry runs, and the run against
 * cityd apart from what depends on its replies); another seed differs. */
static void test_same_seed_same_requests(void)
{
    char d1[600], d2[600], d3[600], server[600], *out, *err;
    snprintf(d1, sizeof d1, "%s/dry1.txt", tmp);
    snprintf(d2, sizeof d2, "%s/dry2.txt", tmp);
    snprintf(d3, sizeof d3, "%s/dry3.txt", tmp);
    snprintf(server, sizeof server, "%s/server.txt", tmp);
    const char *a1[] = {"--dry-run", "--seed", "7", "--tripless", "0.05",
                        "--dump-requests", d1, NULL};
    const char *a2[] = {"--dry-run", "--seed", "7", "--tripless", "0.05",
                        "--dump-requests", d2, NULL};
    const char *a3[] = {"--dry-run", "--seed", "8", "--tripless", "0.05",
                        "--dump-requests", d3, NULL};
    const char *const *runs[] = {a1, a2, a3};
    for (size_t k = 0; k < 3; k++) {
        CU_ASSERT_EQUAL(city(runs[k], &out, &err), 0);
        free(out);
        free(err);
    }
    char *t1 = support_slurp(d1), *t2 = support_slurp(d2), *t3 = support_slurp(d3);
    CU_ASSERT(strlen(t1) > 100000);
    CU_ASSERT_STRING_EQUAL(t1, t2);
    CU_ASSERT_STRING_NOT_EQUAL(t1, t3);
    CU_ASSERT_PTR_NOT_NULL(strstr(t1, "POST /v1/parking/lots/yt-zf-0001/entries\t{\"id\":"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t1, "\"status\":\"occupied\",\"ts\":"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t1, "POST /v1/transit/vehicle-positions\t{\"header\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(t1, "POST /v1/signals/intersections/nd-01/counts\t"));
    /* the run against cityd (test_living_city, same seed) sent the same */
    char *s = support_slurp(server);
    if (s[0] != '\0') {
        char *a = strip_replied(s), *b = strip_replied(t1);
        CU_ASSERT_STRING_EQUAL(a, b);
        free(a);
        free(b);
    }
    free(s);
    free(t1);
    free(t2);
    free(t3);
}

static void expect_fail(const char *const *extra, const char *msg)
{
    char *out, *err;
    int st = city(extra, &out, &err);
    CU_ASSERT_EQUAL(st, 2);
    CU_ASSERT_STRING_EQUAL(out, "");
    CU_ASSERT_PTR_NOT_NULL(strstr(err, msg));
    if (st != 2 || strstr(err, msg) == NULL)
        fprintf(stderr, "\nexpected 2 and '%s', got %d: %s\n", msg, st, err);
    free(out);
    free(err);
}

static void spit(const char *dir, const char *name, const char *text)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *fp = fopen(p, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_bad_input(void)
{
    char bad[600], cmd_dir[600];
    snprintf(bad, sizeof bad, "%s/badmap", tmp);
    snprintf(cmd_dir, sizeof cmd_dir, "%s/nomap", tmp);
    const char *a1[] = {"--dry-run", "--map", cmd_dir, NULL};
    expect_fail(a1, "is not a map folder");
    const char *mk[] = {"/bin/mkdir", "-p", bad, NULL};
    char *out, *err;
    CU_ASSERT_EQUAL(support_run(mk, tmp, &out, &err), 0);
    free(out);
    free(err);
    spit(bad, "parking.geojson", "{\"type\":\"FeatureCollection\",\"features\":[{\"type\":"
                                 "\"Feature\",\"geometry\":{\"type\":\"Point\",\"coordinates\":"
                                 "[121.39,37.54]},\"properties\":{\"id\":\"x\"}}]}");
    spit(bad, "corridors.geojson", "{\"type\":\"FeatureCollection\",\"features\":[]}");
    const char *a2[] = {"--dry-run", "--map", bad, NULL};
    expect_fail(a2, "parking.geojson: x: ");
    const char *a3[] = {"--seed", "1", NULL};
    expect_fail(a3, "needs --server URL and --key K");
    const char *a4[] = {"--dry-run", "--speed", "fast", NULL};
    expect_fail(a4, "--speed: 'fast'");
    const char *a5[] = {"--dry-run", "--date", "2026-13-01", NULL};
    expect_fail(a5, "--date: '2026-13-01' is not YYYY-MM-DD");
}

/* A feed whose calendar has ended: cityd starts, and says loudly that no
 * bus runs today; the demo feed (the suite's cityd) does not. */
static void test_no_service_today_warning(void)
{
    char feed[600], *out, *err;
    snprintf(feed, sizeof feed, "%s/oldfeed", tmp);
    const char *cp[] = {"/bin/cp", "-r", "tests/fixtures/gtfs/basic", feed, NULL};
    CU_ASSERT_EQUAL_FATAL(support_run(cp, tmp, &out, &err), 0);
    free(out);
    free(err);
    spit(feed, "calendar.txt", "service_id,monday,tuesday,wednesday,thursday,friday,saturday,"
                               "sunday,start_date,end_date\nWK,1,1,1,1,1,0,0,20240101,20241231\n"
                               "SAT,0,0,0,0,0,1,0,20240101,20241231\n");
    spit(feed, "calendar_dates.txt", "service_id,date,exception_type\nSAT,20250105,1\n");
    char opt[700];
    snprintf(opt, sizeof opt, "transit.gtfs_dir=%s", feed);
    const char *const extra[] = {opt, NULL};
    struct test_cityd c2;
    CU_ASSERT_EQUAL_FATAL(support_cityd_start(&c2, redis.url, extra), 0);
    char *log = support_slurp(c2.log_path);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "event=gtfs_no_service_today"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "last_service_day=2025-01-05"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "NO BUS RUNS TODAY"));
    free(log);
    support_cityd_stop(&c2);
    log = support_slurp(cityd.log_path);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "event=gtfs_loaded"));
    CU_ASSERT_PTR_NULL(strstr(log, "gtfs_no_service_today"));
    free(log);
}

/* gen-city: a small city that cityd --check accepts, the same bytes per
 * seed, the sizes asked for; citysim city runs on it. */
static void test_gen_city(void)
{
    char d1[600], d2[600], *out, *err;
    snprintf(d1, sizeof d1, "%s/gen1", tmp);
    snprintf(d2, sizeof d2, "%s/gen2", tmp);
    const char *g1[] = {citysim, "gen-city", "--lots", "120", "--bays", "900", "--signals", "40",
                        "--buses", "60", "--seed", "3", "--out", d1, NULL};
    const char *g2[] = {citysim, "gen-city", "--lots", "120", "--bays", "900", "--signals", "40",
                        "--buses", "60", "--seed", "3", "--out", d2, NULL};
    CU_ASSERT_EQUAL_FATAL(support_run(g1, tmp, &out, &err), 0);
    free(out);
    free(err);
    CU_ASSERT_EQUAL_FATAL(support_run(g2, tmp, &out, &err), 0);
    free(out);
    free(err);
    static const char *const files[] = {"parking.geojson", "corridors.geojson",
                                        "gtfs/stop_times.txt", "gtfs/trips.txt"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char p1[700], p2[700];
        snprintf(p1, sizeof p1, "%s/%s", d1, files[i]);
        snprintf(p2, sizeof p2, "%s/%s", d2, files[i]);
        char *a = support_slurp(p1), *b = support_slurp(p2);
        CU_ASSERT(strlen(a) > 100);
        CU_ASSERT_STRING_EQUAL(a, b);
        free(a);
        free(b);
    }
    char cityd_bin[512], opt[700];
    const char *c = getenv("CITYD_BIN");
    snprintf(cityd_bin, sizeof cityd_bin, "%s", c && *c ? c : "bin/cityd");
    snprintf(opt, sizeof opt, "map.dir=%s", d1);
    const char *chk[] = {cityd_bin, "--check", "-o", opt, NULL};
    int st = support_run(chk, tmp, &out, &err);
    CU_ASSERT_EQUAL(st, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "0 problem(s)"));
    if (st != 0)
        fprintf(stderr, "\ncityd --check on gen-city: %s\n", err);
    free(out);
    free(err);
    struct map *m = NULL;
    struct map_problems probs = {0};
    CU_ASSERT_EQUAL_FATAL(map_load(d1, &m, &probs), 0);
    CU_ASSERT_EQUAL(probs.n, 0);
    map_problems_free(&probs);
    CU_ASSERT_EQUAL(m->nlots, 120);
    CU_ASSERT_EQUAL(m->nbays, 900);
    CU_ASSERT_EQUAL(m->nisecs, 40);
    long spaces = 0;
    for (size_t i = 0; i < m->nlots; i++)
        spaces += m->lots[i].total;
    CU_ASSERT_EQUAL(spaces, 12000);
    map_free(m);
    const char *run[] = {citysim, "city", "--dry-run", "--map", d1, "--date", DATE, "--start",
                         START, "--duration", "600", "--speed", "max", NULL};
    CU_ASSERT_EQUAL(support_run(run, tmp, &out, &err), 0);
    json_t *sum = json_loads(out, 0, NULL);
    CU_ASSERT(req(sum, "positions", "items") > 0);
    CU_ASSERT(req(sum, "counts", "sent") == 40);    /* 07:45-08:00 on start; none ends by 08:10 */
    json_decref(sum);
    free(out);
    free(err);
    const char *bad[] = {citysim, "gen-city", "--lots", "0", "--out", d1, NULL};
    CU_ASSERT_EQUAL(support_run(bad, tmp, &out, &err), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "sizes out of range"));
    free(out);
    free(err);
}

int suite_city(void)
{
    CU_pSuite s = CU_add_suite("city", suite_init, suite_clean);
    if (s == NULL)
        return -1;
    if (!CU_add_test(s, "living_city", test_living_city) ||
        !CU_add_test(s, "same_seed_same_requests", test_same_seed_same_requests) ||
        !CU_add_test(s, "bad_input", test_bad_input) ||
        !CU_add_test(s, "no_service_today_warning", test_no_service_today_warning) ||
        !CU_add_test(s, "gen_city", test_gen_city))
        return -1;
    return 0;
}
