/* it_chaos.c -- issue 16's chaos test: two cityd on a 3+3 Redis Cluster
 * (cluster-node-timeout 1000, AOF always, support_cluster_start) with
 * redis.wait_replicas = 1, while a writer posts lot observations, gate
 * entries and exits, bus positions and detector counts to both, a master
 * is killed with SIGKILL three times (a different shard each time, the
 * victim restarted and resynced in between) and one cityd is killed once.
 *
 * Checked:
 *  - every acknowledged write is found afterwards from both cityd: each
 *    acknowledged observation, entry and count posted again is a
 *    duplicate (never accepted anew: that would mean it was lost), each
 *    acknowledged session is listed with its exit, each bus is at least
 *    at its last acknowledged report;
 *  - 503s carry Retry-After and stop within a bound after each kill (the
 *    failover, then the victim's resync: with one replica per master the
 *    shard has none until the victim is back, and wait_replicas = 1 must
 *    refuse its writes meanwhile -- docs/scaling.md);
 *  - requests keep succeeding during each kill window (other shards);
 *  - both cityd give the same lots, nearest answer, sessions and vehicles
 *    within a second of the last write.
 * The writer is sequential and alternates between the two cityd. The key
 * layout is whatever the domain modules use: the test only speaks HTTP. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support.h"

#define NLOTS 12
#define NBUS 6
#define MAXW 4000                      /* writes of each kind at most */
#define ORIGIN 1771257600.0            /* 2026-02-17 00:00 +08:00, service day of gtfs/basic */
#define T0 (ORIGIN + 8 * 3600.0)
/* A count interval. Every write carries its own time (a bus report and an
 * observation: a second a round; a gate event: five; a count: COUNT_S per
 * intersection every 12 rounds), and with clock.mode = replay a cityd's
 * "now" is the largest time it has ingested. Counts are run only by the
 * cityd that drives the corridor (its lease), so only its clock follows
 * them: with 900 s intervals (75 s a round) it was more than
 * transit.forget_after_s (86400 s) ahead of the buses from round 1164 on,
 * and refused every bus report as too old, its own and the other cityd's
 * from the feed (README.md). 60 s: 5 s a round, as the gate events. */
#define COUNT_S 60
/* Vehicles in an interval: 100-149 and 40 a quarter hour, scaled to it
 * (a phase's saturation flow bounds them). */
#define COUNT_EBT(n) ((100 + (n) % 50) * COUNT_S / 900)
#define COUNT_WBT (40 * COUNT_S / 900)

static const char *const EXTRA[] = {"map.dir=tests/fixtures/maps/ok",
                                    "transit.gtfs_dir=tests/fixtures/gtfs/basic",
                                    "clock.mode=replay", "redis.wait_replicas=1",
                                    "redis.wait_timeout_ms=500", "redis.timeout_ms=3000", NULL};

struct ledger {
    int obs_acked[MAXW], nobs;          /* observation numbers acknowledged */
    double lot_ts[NLOTS];               /* newest acknowledged observation ts per lot */
    int in_acked[MAXW], nin;            /* entries acknowledged (plate number) */
    bool out_acked[MAXW];               /* by plate number: exit acknowledged */
    double bus_ts[NBUS];                /* newest acknowledged report per bus */
    int cnt_acked[MAXW], ncnt;
};

struct world {
    struct test_cluster cl;
    struct test_cityd cd[2];
    bool cd_up[2];
    struct ledger L;
    int seq;                            /* writes issued */
    long ok, unavailable, other;        /* replies */
    double last_503;                    /* wall time of the last 503 */
    long ok_in_window;                  /* successes since the last kill */
    bool no_retry_after;                /* a 503 without Retry-After */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The cityd to use for write n: alternating, the live one if one is down. */
static const struct test_cityd *pick(const struct world *w, int n)
{
    int i = n & 1;
    return w->cd_up[i] ? &w->cd[i] : &w->cd[!i];
}

/* Send; classify the reply. Returns the status (0: no answer). */
static long send(struct world *w, const struct test_cityd *c, const char *method, const char *path,
                 const char *key, const char *body, json_t **out)
{
    struct http_result r;
    long st = 0;
    double t0 = now_s();
    int rc = support_send(method, c->base, path, key, body, &r);
    if (getenv("CHAOS_TRACE"))
        fprintf(stderr, "trace %.3f %.3f %s %s %.90s -> %ld\n", t0, now_s() - t0, c->base + 17,
                path, body ? body : "", rc == 0 ? r.status : 0L);
    if (rc == 0) {
        st = r.status;
        if (st == 503) {
            w->unavailable++;
            w->last_503 = now_s();
            w->no_retry_after |= r.retry_after[0] == '\0';
        } else if (st == 200 || st == 201 || st == 202) {
            w->ok++;
            w->ok_in_window++;
        } else {
            w->other++;
            fprintf(stderr, "\nchaos: %s %s -> %ld %.200s\n", method, path, st, r.body);
        }
        if (out != NULL && r.json != NULL)
            *out = json_incref(r.json);
    }
    http_result_free(&r);
    return st;
}

/* A replay as a client sends it: a 503 (a WAIT not confirmed in time on
 * a loaded machine, a slot map still settling) is retried with the same
 * id, a few times, a second apart. */
static long send_replay(struct world *w, const struct test_cityd *c, const char *path,
                        const char *body, json_t **out)
{
    long st = 503;
    for (int tries = 0; tries < 5 && st == 503; tries++) {
        if (tries)
            support_sleep_ms(1000);
        if (out != NULL) {
            json_decref(*out);
            *out = NULL;
        }
        st = send(w, c, "POST", path, "k-sensor", body, out);
    }
    return st;
}

static long jint(const json_t *j, const char *k)
{
    return (long)json_integer_value(json_object_get(j, k));
}

static void put_lots(struct world *w)
{
    for (int i = 0; i < NLOTS; i++) {
        char path[64], body[256];
        snprintf(path, sizeof path, "/v1/parking/lots/ch-%02d", i);
        snprintf(body, sizeof body, "{\"name\":\"chaos %d\",\"location\":{\"type\":\"Point\","
                 "\"coordinates\":[%.5f,37.54]},\"totalSpotNumber\":30}", i, 121.38 + i * 0.001);
        long st = send(w, &w->cd[0], "PUT", path, "k-operator", body, NULL);
        CU_ASSERT(st == 200 || st == 201);
    }
}

static void post_observation(struct world *w, int n)
{
    char body[256];
    int lot = n % NLOTS;
    double ts = T0 + n;
    snprintf(body, sizeof body, "{\"observations\":[{\"id\":\"ch-o%d\",\"lot\":\"ch-%02d\","
             "\"availableSpotNumber\":%d,\"ts\":%.0f}]}", n, lot, n % 30, ts);
    json_t *j = NULL;
    long st = send(w, pick(w, n), "POST", "/v1/parking/observations", "k-sensor", body, &j);
    if (st == 200 && jint(j, "accepted") + jint(j, "duplicates") == 1 && w->L.nobs < MAXW) {
        w->L.obs_acked[w->L.nobs++] = n;
        w->L.lot_ts[lot] = ts > w->L.lot_ts[lot] ? ts : w->L.lot_ts[lot];
    }
    json_decref(j);
}

static void gate(struct world *w, int plate, bool exit)
{
    char path[64], body[256];
    snprintf(path, sizeof path, "/v1/parking/lots/zf-003/%s", exit ? "exits" : "entries");
    snprintf(body, sizeof body, "{\"id\":\"ch-%s%d\",\"plate\":\"鲁C%05d\",\"gate\":\"G\","
             "\"ts\":%.0f}", exit ? "out" : "in", plate, plate, T0 + plate * 10 + (exit ? 5 : 0));
    long st = send(w, pick(w, plate + exit), "POST", path, "k-operator", body, NULL);
    if ((st == 200 || st == 201) && !exit && w->L.nin < MAXW)
        w->L.in_acked[w->L.nin++] = plate;
    if ((st == 200 || st == 201) && exit)
        w->L.out_acked[plate] = true;
}

static void post_position(struct world *w, int n)
{
    char body[512];
    int bus = n % NBUS;
    double ts = T0 - 120 + n;
    snprintf(body, sizeof body, "{\"header\":{\"gtfs_realtime_version\":\"2.0\"},\"entity\":[{"
             "\"id\":\"e-%d\",\"vehicle\":{\"trip\":{\"trip_id\":\"T1\"},\"vehicle\":{\"id\":"
             "\"ch-bus-%d\"},\"position\":{\"latitude\":37.54007,\"longitude\":%.6f},"
             "\"timestamp\":%.0f}}]}", n, bus, 121.38 + (n % 50) * 0.00002, ts);
    json_t *j = NULL;
    long st = send(w, pick(w, n), "POST", "/v1/transit/vehicle-positions", "k-sensor", body, &j);
    if (st == 200 && jint(j, "accepted") + jint(j, "outdated") == 1) {
        w->L.bus_ts[bus] = ts > w->L.bus_ts[bus] ? ts : w->L.bus_ts[bus];
    } else if (st == 200) {              /* refused: never silently (see COUNT_S) */
        char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
        if (w->other++ < 5)
            fprintf(stderr, "\nchaos: ch-bus-%d ts %.0f on %s refused: %.300s\n", bus, ts,
                    pick(w, n)->base, t ? t : "-");
        free(t);
    }
    json_decref(j);
}

static void post_count(struct world *w, int n)
{
    char path[64], body[256];
    snprintf(path, sizeof path, "/v1/signals/intersections/i%d/counts", 1 + n % 4);
    snprintf(body, sizeof body, "{\"id\":\"ch-c%d\",\"ts\":%.0f,\"interval_s\":%d,"
             "\"counts\":{\"EBT\":%d,\"WBT\":%d}}", n, T0 + (double)COUNT_S * (n / 4), COUNT_S,
             COUNT_EBT(n), COUNT_WBT);
    long st = send(w, pick(w, n), "POST", path, "k-sensor", body, NULL);
    /* 202: queued for the cityd that drives the corridor (its lease) */
    if ((st == 200 || st == 201 || st == 202) && w->L.ncnt < MAXW)
        w->L.cnt_acked[w->L.ncnt++] = n;
}

/* One round of every kind of write. */
static void write_round(struct world *w)
{
    int n = w->seq++;
    post_observation(w, n);
    if (n % 2 == 0)
        gate(w, n / 2, false);
    else if (n / 2 >= 1)
        gate(w, n / 2 - 1, true);       /* the car that came in a round ago leaves */
    post_position(w, n);
    if (n % 3 == 0)
        post_count(w, n / 3);
}

static void write_for(struct world *w, double seconds)
{
    double end = now_s() + seconds;
    while (now_s() < end && w->seq < MAXW)
        write_round(w);
}

/* Write until no 503 for `quiet` seconds (at most `max`); returns the
 * seconds from `since` to the last 503 (0: none). */
static double write_until_quiet(struct world *w, double since, double quiet, double max)
{
    double start = now_s();
    while (now_s() - start < max && w->seq < MAXW) {
        write_round(w);
        if (now_s() - (w->last_503 > 0 ? w->last_503 : start) > quiet)
            break;
    }
    return w->last_503 > 0 ? w->last_503 - since : 0;
}

/* Kill the master serving `slot` and go through its failover and the
 * victim's return. */
static void kill_master(struct world *w, unsigned slot, int round)
{
    int m = support_cluster_master_of(&w->cl, slot);
    CU_ASSERT_FATAL(m >= 0);
    write_for(w, 1.0);
    long ok0 = w->ok, u0 = w->unavailable;
    w->ok_in_window = 0;
    double t = now_s();
    w->last_503 = 0;
    int seq0 = w->seq;
    support_redis_kill(&w->cl.node[m], true);
    if (round == 1) {                   /* one cityd dies too, mid-failover */
        write_for(w, 1.0);
        support_cityd_signal_wait(&w->cd[1], SIGKILL, 5000);
        w->cd_up[1] = false;
    }
    /* The failover: the victim's replica is promoted (cluster-node-timeout
     * 1000 plus the election), then its shard has no replica left. */
    write_for(w, 4.0);
    /* The victim back as a replica; writing on while it resyncs. */
    CU_ASSERT_EQUAL(support_redis_restart(&w->cl.node[m]), 0);
    double back;
    while (support_cluster_wait_ok(&w->cl, 0) != 0 && now_s() - t < 60)
        write_for(w, 0.5);
    back = now_s();
    CU_ASSERT(back - t < 60);
    if (round == 1) {
        CU_ASSERT_EQUAL(support_cityd_start(&w->cd[1], w->cl.url, EXTRA), 0);
        w->cd_up[1] = true;
    }
    double last = write_until_quiet(w, t, 2.0, 20.0);
    fprintf(stderr, "\nchaos: kill %d (node %d): last 503 %.1f s after the kill (victim back "
            "and resynced after %.1f s), %ld ok and %ld 503 in the window, writes %d to %d\n",
            round, m, last, back - t, w->ok - ok0, w->unavailable - u0, seq0, w->seq);
    CU_ASSERT(w->ok_in_window > 0);     /* the other shards kept answering */
    /* The victim's shard had no replica for a while: wait_replicas = 1
     * refused some writes then. */
    CU_ASSERT(w->unavailable > u0);
    /* 503s end within seconds once the victim is back and resynced (the
     * bound is loose: a loaded 2-core machine). */
    CU_ASSERT(last < back - t + 5.0);
}

/* ---- checks after the storm ---- */

static void check_replays(struct world *w, const struct test_cityd *c)
{
    long lost = 0;
    for (int k = 0; k < w->L.nobs; k++) {
        int n = w->L.obs_acked[k];
        char body[256];
        snprintf(body, sizeof body, "{\"observations\":[{\"id\":\"ch-o%d\",\"lot\":\"ch-%02d\","
                 "\"availableSpotNumber\":%d,\"ts\":%.0f}]}", n, n % NLOTS, n % 30, T0 + n);
        json_t *j = NULL;
        long st = send_replay(w, c, "/v1/parking/observations", body, &j);
        if (st != 200 || jint(j, "accepted") != 0) {
            if (lost++ < 40)
                fprintf(stderr, "chaos: observation ch-o%d (lot ch-%02d) on %s: %ld accepted %ld\n",
                        n, n % NLOTS, c->base, st, jint(j, "accepted"));
        }
        json_decref(j);
    }
    for (int k = 0; k < w->L.ncnt; k++) {
        int n = w->L.cnt_acked[k];
        char path[64], body[256];
        snprintf(path, sizeof path, "/v1/signals/intersections/i%d/counts", 1 + n % 4);
        snprintf(body, sizeof body, "{\"id\":\"ch-c%d\",\"ts\":%.0f,\"interval_s\":%d,"
                 "\"counts\":{\"EBT\":%d,\"WBT\":%d}}", n, T0 + (double)COUNT_S * (n / 4),
                 COUNT_S, COUNT_EBT(n), COUNT_WBT);
        if (send_replay(w, c, path, body, NULL) == 201 && lost++ < 40)
            fprintf(stderr, "chaos: count ch-c%d (i%d) new on %s\n", n, 1 + n % 4, c->base);
    }
    CU_ASSERT_EQUAL(lost, 0);
    if (lost)
        fprintf(stderr, "chaos: %ld acknowledged observations or counts not found on %s\n", lost,
                c->base);
}

static json_t *get_json(const struct test_cityd *c, const char *path, const char *key)
{
    struct http_result r;
    json_t *j = NULL;
    if (support_get(c->base, path, key, &r) == 0 && r.status == 200 && r.json)
        j = json_incref(r.json);
    http_result_free(&r);
    return j;
}

/* The bus shows its newest acknowledged report (ts), or a newer one.
 * That every acknowledged report is kept is what is checked here; how
 * soon the other cityd shows it is check_same's (1 s): a loaded machine
 * gets a few seconds more, and a failure says what was seen. */
static bool bus_found(const struct test_cityd *c, int b, double ts)
{
    char path[64];
    double seen = 0;
    snprintf(path, sizeof path, "/v1/transit/vehicles/ch-bus-%d", b);
    for (int tries = 0; tries < 25 && seen < ts; tries++) {
        if (tries)
            support_sleep_ms(200);
        json_t *v = get_json(c, path, NULL);
        seen = v ? json_number_value(json_object_get(v, "ts")) : -1;
        json_decref(v);
    }
    if (seen < ts)
        fprintf(stderr, "chaos: ch-bus-%d on %s: ts %.0f, acknowledged %.0f\n", b, c->base, seen,
                ts);
    return seen >= ts;
}

/* A session of the list whose entryEvent/exitEvent is ch-<kind><p>. */
static bool has_event(const json_t *sessions, const char *field, const char *kind, int p)
{
    char want[32];
    snprintf(want, sizeof want, "ch-%s%d", kind, p);
    const json_t *list = json_object_get(sessions, "sessions");
    for (size_t i = 0; i < json_array_size(list); i++) {
        const char *ev = json_string_value(json_object_get(json_array_get(list, i), field));
        if (ev != NULL && strcmp(ev, want) == 0)
            return true;
    }
    return false;
}

static void check_state(struct world *w, const struct test_cityd *c)
{
    for (int i = 0; i < NLOTS; i++) {
        char path[96];
        snprintf(path, sizeof path, "/v1/parking/lots/ch-%02d", i);
        json_t *l = get_json(c, path, NULL);
        double ts = json_number_value(json_object_get(l, "observationDateTime"));
        CU_ASSERT(l != NULL && ts >= w->L.lot_ts[i]);
        json_decref(l);
    }
    long missing = 0;
    for (int k = 0; k < w->L.nin; k++) {
        int p = w->L.in_acked[k];
        char path[128];
        snprintf(path, sizeof path, "/v1/parking/sessions?plate=%%E9%%B2%%81C%05d", p);
        json_t *s = get_json(c, path, "k-operator");
        int miss = !has_event(s, "entryEvent", "in", p) +
                   (w->L.out_acked[p] && !has_event(s, "exitEvent", "out", p));
        if (miss && missing == 0) {
            char *t = s ? json_dumps(s, JSON_COMPACT) : NULL;
            fprintf(stderr, "chaos: plate %d (exit acked: %d) on %s: %.900s\n", p,
                    w->L.out_acked[p], c->base, t ? t : "-");
            free(t);
        }
        missing += miss;
        json_decref(s);
    }
    CU_ASSERT_EQUAL(missing, 0);
    if (missing)
        fprintf(stderr, "chaos: %ld acknowledged sessions not found on %s\n", missing, c->base);
    for (int b = 0; b < NBUS; b++)
        CU_ASSERT(w->L.bus_ts[b] == 0 || bus_found(c, b, w->L.bus_ts[b]));
}

/* Whether the two cityd answer path the same (reads whose answers do not
 * depend on which process took the write); says how not when asked. */
static bool same_answer(struct world *w, const char *path, bool say)
{
    json_t *a = get_json(&w->cd[0], path, "k-operator");
    json_t *b = get_json(&w->cd[1], path, "k-operator");
    /* dataAgeSeconds and the like follow the replay clock of each */
    if (a)
        json_object_del(a, "dataAgeSeconds");
    if (b)
        json_object_del(b, "dataAgeSeconds");
    bool same = a != NULL && b != NULL && json_equal(a, b);
    if (!same && say) {
        char *ta = a ? json_dumps(a, JSON_COMPACT) : NULL, *tb = b ? json_dumps(b, JSON_COMPACT) : NULL;
        fprintf(stderr, "chaos: %s differs:\n  %.600s\n  %.600s\n", path, ta ? ta : "-",
                tb ? tb : "-");
        free(ta);
        free(tb);
    }
    json_decref(a);
    json_decref(b);
    return same;
}

/* The two cityd agree a second after the last write (the feeds are
 * polled every 100 ms); on a loaded machine a poll can come late, so
 * agreement is awaited a few seconds more and the time it took printed. */
static void check_same(struct world *w, double last_write)
{
    static const char *const paths[] = {
        "/v1/parking/nearest?lon=121.38&lat=37.54&radius_m=3000&limit=20",
        "/v1/parking/lots/ch-03", "/v1/parking/sessions?plate=%E9%B2%81C00001",
        "/v1/parking/sessions?plate=%E9%B2%81C00010", "/v1/transit/vehicles/ch-bus-2",
    };
    enum { NPATHS = sizeof paths / sizeof paths[0] };
    char path[NPATHS][256];
    for (size_t i = 0; i < NPATHS; i++)     /* one instant for both: each has its own replay clock */
        snprintf(path[i], sizeof path[i], "%s%cat=%.0f", paths[i],
                 strchr(paths[i], '?') ? '&' : '?', T0 + 2 * MAXW);
    bool all = false;
    for (int tries = 0; tries < 25 && !all; tries++) {
        if (tries)
            support_sleep_ms(200);
        all = true;
        for (size_t i = 0; i < NPATHS && all; i++)
            all = same_answer(w, path[i], false);
    }
    fprintf(stderr, "chaos: both cityd agree %.1f s after the last write\n", now_s() - last_write);
    for (size_t i = 0; i < NPATHS && !all; i++)
        CU_ASSERT(same_answer(w, path[i], true));
}

static void test_chaos(void)
{
    struct world *w = calloc(1, sizeof *w);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    if (support_cluster_start(&w->cl) != 0) {
        CU_FAIL("cannot start a Redis Cluster");
        free(w);
        return;
    }
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL(support_cityd_start(&w->cd[i], w->cl.url, EXTRA), 0);
        w->cd_up[i] = w->cd[i].pid > 0;
    }
    if (!w->cd_up[0] || !w->cd_up[1])
        goto out;
    put_lots(w);
    /* A different shard each time: slots 0, 8000 and 16000 start on the
     * three masters (and a failover keeps a shard's slots together). */
    static const unsigned victims[3] = {100, 8000, 16000};
    for (int k = 0; k < 3; k++)
        kill_master(w, victims[k], k);
    write_for(w, 1.0);
    /* CHAOS_MIN_ROUNDS=N: at least N rounds in all, as a fast machine writes */
    const char *min = getenv("CHAOS_MIN_ROUNDS");
    while (min != NULL && w->seq < atoi(min) && w->seq < MAXW)
        write_round(w);
    double last_write = now_s();
    support_sleep_ms(1000);             /* within 1 s both agree */
    fprintf(stderr, "chaos: %d rounds, %ld ok, %ld 503, %ld other; acked: %d observations, "
            "%d entries, %d counts\n", w->seq, w->ok, w->unavailable, w->other, w->L.nobs,
            w->L.nin, w->L.ncnt);
    check_same(w, last_write);
    CU_ASSERT_FALSE(w->no_retry_after);
    CU_ASSERT_EQUAL(w->other, 0);
    for (int i = 0; i < 2; i++) {
        check_state(w, &w->cd[i]);
        check_replays(w, &w->cd[i]);
    }
out:
    for (int i = 0; i < 2; i++)
        support_cityd_stop(&w->cd[i]);
    support_cluster_stop(&w->cl);
    free(w);
}

int suite_chaos(void)
{
    CU_pSuite s = CU_add_suite("chaos", NULL, NULL);
    if (!s)
        return -1;
    if (!CU_add_test(s, "two cityd, three master kills and one cityd kill: nothing acked lost",
                     test_chaos))
        return -1;
    return 0;
}
