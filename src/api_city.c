/* api_city.c -- the city at a glance (api.md §1 GET /v1/city, the city
 * gauges of /metrics), fare validations (§3 POST /v1/transit/fares) and
 * the liveness of electronic stop signs. The figures are computed in
 * city.c from the other modules' state; this file owns the fare counters
 * and the signs' last fetches.
 *
 * Fares in Redis. A validation goes to partition p = city_fare_part(id)
 * of CITY_FARE_PARTS, all its keys under the hash tag {p:NN}, so that the
 * counters of a busy city spread over as many slots (no hot city-wide
 * key under Redis Cluster) and one script touches one slot:
 *   cityd:{p:NN}:fares:<hour>:ids:<b>  HASH id -> "" of the validations
 *                                  of that hour (of their ts) in bucket b
 *                                  of CITY_FARE_ID_BUCKETS: the
 *                                  idempotency markers, small hashes and
 *                                  not a key per validation (a key of its
 *                                  own costs some 120 bytes, a field of a
 *                                  small hash some 30), expiring
 *                                  retention.fare_max_age_s and an hour
 *                                  after its last write (older validations
 *                                  are refused)
 *   cityd:{p:NN}:seen:fare:<id>    the marker of the former layout, still
 *                                  honoured until it expires (8 days)
 *   cityd:{p:NN}:fares:<hour>      HASH per hour since the epoch:
 *                                  m:<method> and r:<route>:<method>
 *                                  counts (kept 8 days)
 *   cityd:{p:NN}:fares:hours       ZSET of the hours that have counts
 *                                  (the newest FARE_HOURS_KEPT), so that a
 *                                  restart finds them without knowing the
 *                                  clock (in replay mode it does not)
 * The script sets the marker and bumps the counters only when the marker
 * was new, so a repeated id never counts twice, even across requests
 * racing each other or a timed-out write landing late. A request's
 * validations go in one transaction per partition (below). Memory holds the
 * m:<method> counts of the last CITY_FARE_HOURS hours per partition,
 * restored at start (HMGET of every partition-hour) and re-read after a
 * write whose outcome is unknown.
 *
 * Signs. A fetch of a stop's arrivals with sign=<id> (api_transit.c)
 * records when that sign last fetched, in memory: liveness is a 120 s
 * window, which a sign refreshing its page renews on its own after a
 * restart. With several cityd behind a load balancer each instance sees
 * the fetches it served (docs/indicators.md). */
#include "api_city.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_signals.h"
#include "app.h"
#include "city.h"
#include "geo.h"
#include "geojson.h"
#include "gtfs.h"
#include "http.h"
#include "keys.h"
#include "map.h"
#include "metrics.h"
#include "module.h"
#include "params.h"
#include "server.h"
#include "store.h"
#include "transit.h"

#define FARE_KEEP_S "691200"            /* hourly counters: 8 days */
#define FARE_HOURS_KEPT "-193"          /* ZREMRANGEBYRANK 0 this: keep 192 hours */

/* KEYS former marker, hour hash, hours zset, hour's ids; ARGV ids ttl,
 * method, route ("" none), hash ttl, hour, id. 1 counted, 0 a duplicate. */
static const char FARE_SCRIPT[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end\n"
    "if redis.call('HSETNX', KEYS[4], ARGV[6], '') == 0 then return 0 end\n"
    "redis.call('EXPIRE', KEYS[4], ARGV[1])\n"
    "redis.call('HINCRBY', KEYS[2], 'm:' .. ARGV[2], 1)\n"
    "if ARGV[3] ~= '' then redis.call('HINCRBY', KEYS[2], 'r:' .. ARGV[3] .. ':' .. ARGV[2], 1)"
    " end\n"
    "redis.call('EXPIRE', KEYS[2], ARGV[4])\n"
    "redis.call('ZADD', KEYS[3], ARGV[5], ARGV[5])\n"
    "redis.call('ZREMRANGEBYRANK', KEYS[3], 0, " FARE_HOURS_KEPT ")\n"
    "return 1\n";

struct api_city {
    struct app *a;
    struct lifetime lt;
    struct restore rs;
    struct city_fares fares;            /* live */
    struct city_fares rfares;           /* restore in progress */
    double *sign_seen;                  /* per map sign: last fetch (0 never), owned */
    struct store_script *fare_script;
    struct metric *m_fares[CITY_FARE_NMETHODS], *m_fares_dup, *m_fares_rej;
    /* gauges */
    struct metric *g_lots, *g_total, *g_avail, *g_stale, *g_status[5], *g_active,
        *g_predicted, *g_stops, *g_signed, *g_signs_live, *g_mode[2], *g_realtime,
        *g_age[3], *g_share[4], *g_rides, *g_electronic;
};

static const char *const SHARES[4] = {"share_predicted", "share_signs", "share_electronic",
                                      "share_realtime"};

/* ---- the figures ---- */

static const struct gtfs *feed(const struct app *a)
{
    return a->transit ? transit_feed(a->transit) : NULL;
}

static void figures(struct api_city *ac, double now, struct city_figures *c)
{
    struct app *a = ac->a;
    memset(c, 0, sizeof *c);
    c->at = now;
    city_figures_parking(c, a->parking, now);
    city_figures_transit(c, a->transit, feed(a), now);
    city_figures_signs(c, a->map, feed(a), ac->sign_seen, now);
    city_figures_fares(c, &ac->fares, now);
    struct signals_census sc;
    api_adaptive_census(a, now, &sc);
    c->intersections = sc.intersections;
    c->realtime = sc.realtime;
    c->adaptive = sc.adaptive;
    c->fixed = sc.fixed;
    c->counts_latest = sc.latest_count > 0 ? sc.latest_count : NAN;
}

static void h_city(struct http_req *req, void *arg)
{
    struct api_city *ac = arg;
    double now;
    if (params_now(ac->a, req, &now) < 0)
        return;
    if (!server_ready(ac->a, NULL)) {
        http_reply_unavailable(req);
        return;
    }
    struct city_figures c;
    figures(ac, now, &c);
    http_reply_json(req, 200, city_figures_json(&c));
}

static double age(double latest, double now)
{
    return isnan(latest) ? NAN : now - latest;
}

void api_city_gauges(struct app *a)
{
    struct api_city *ac = a->city_api;
    if (ac == NULL || !server_ready(a, NULL))
        return;
    double now = app_now(a);
    struct city_figures c;
    figures(ac, now, &c);
    metric_set(ac->g_lots, (double)c.lots);
    metric_set(ac->g_total, (double)c.spaces_total);
    metric_set(ac->g_avail, (double)c.spaces_available);
    metric_set(ac->g_stale, (double)c.lots_stale);
    for (int i = 0; i < 5; i++)
        metric_set(ac->g_status[i], (double)c.by_status[i]);
    metric_set(ac->g_active, (double)c.trips_active);
    metric_set(ac->g_predicted, (double)c.trips_predicted);
    metric_set(ac->g_stops, (double)c.stops);
    metric_set(ac->g_signed, (double)c.stops_with_signs);
    metric_set(ac->g_signs_live, (double)c.signs_live);
    metric_set(ac->g_mode[0], (double)c.fixed);
    metric_set(ac->g_mode[1], (double)c.adaptive);
    metric_set(ac->g_realtime, (double)c.realtime);
    metric_set(ac->g_age[0], age(c.parking_latest, now));
    metric_set(ac->g_age[1], age(c.transit_latest, now));
    metric_set(ac->g_age[2], age(c.counts_latest, now));
    metric_set(ac->g_rides, (double)c.rides);
    metric_set(ac->g_electronic, (double)c.electronic);
    metric_set(ac->g_share[0], city_share((double)c.trips_predicted, (double)c.trips_active));
    metric_set(ac->g_share[1], city_share((double)c.stops_with_signs, (double)c.stops));
    metric_set(ac->g_share[2], city_share((double)c.electronic, (double)c.rides));
    metric_set(ac->g_share[3], city_share((double)c.realtime, (double)c.intersections));
}

/* ---- signs ---- */

int api_city_sign_fetch(struct app *a, const char *sign, const char *stop_id, char *err,
                        size_t errlen)
{
    struct api_city *ac = a->city_api;
    const struct map_sign *g = a->map ? map_sign(a->map, sign) : NULL;
    if (g == NULL) {
        snprintf(err, errlen, "sign: no stop sign '%.128s' in the map", sign);
        return -1;
    }
    if (strcmp(g->stop_id, stop_id) != 0) {
        snprintf(err, errlen, "sign: sign '%.128s' shows stop '%.128s', not this one", sign,
                 g->stop_id);
        return -1;
    }
    if (ac != NULL && ac->sign_seen != NULL)
        ac->sign_seen[g - a->map->signs] = app_now(a);
    return 0;
}

/* GET /v1/transit/signs: every sign of the map with whether it is live
 * (fetched within 120 s of now) and when it last fetched; GeoJSON too. */
static void h_signs(struct http_req *req, void *arg)
{
    struct api_city *ac = arg;
    const struct map *m = ac->a->map;
    const struct gtfs *f = feed(ac->a);
    bool gcj02, geojson;
    double now;
    if (params_crs(req, &gcj02) != 0 || geojson_wanted(req, &geojson) != 0 ||
        params_now(ac->a, req, &now) != 0)
        return;
    json_t *list = json_array();
    for (size_t i = 0; m && i < m->nsigns; i++) {
        const struct map_sign *g = &m->signs[i];
        double seen = ac->sign_seen[i], lon = g->pt.lon, lat = g->pt.lat;
        if (gcj02)
            geo_wgs84_to_gcj02(lon, lat, &lon, &lat);
        bool live = seen > 0 && seen <= now && now - seen <= CITY_SIGN_LIVE_S;
        json_array_append_new(list, json_pack(
            "{s:s, s:s, s:o, s:f, s:f, s:b, s:o, s:b}", "id", g->id, "stop_id", g->stop_id,
            "name", g->name ? json_string(g->name) : json_null(), "lon", geojson_round(lon),
            "lat", geojson_round(lat), "live", live, "last_fetch",
            seen > 0 ? json_integer((json_int_t)llround(seen)) : json_null(), "stop_known",
            f != NULL && gtfs_stop_find(f, g->stop_id) != GTFS_NONE));
    }
    if (geojson) {
        geojson_reply(req, geojson_collection(list, NULL, "id"));
        json_decref(list);
    } else {
        http_reply_json(req, 200, json_pack("{s:o}", "signs", list));
    }
}

/* ---- POST /v1/transit/fares ----
 *
 * The valid validations of a request go in one MULTI/EXEC per partition
 * they fall in (every key of such a batch has that partition's tag: one
 * slot, as Redis Cluster requires of a transaction), all sent at once;
 * the reply waits for every batch. A batch that fails makes the reply
 * 503 (what the other batches applied stays applied and counted: a retry
 * with the same ids finds them duplicates). */

enum fare_result { FARE_PENDING = 0, FARE_COUNTED, FARE_DUPLICATE, FARE_FAILED };

struct fare_job;

struct fare_batch {                 /* one partition's share of a request */
    struct fare_job *j;
    unsigned part;
};

struct fare_job {
    struct api_city *ac;
    struct http_req *req;
    struct city_fare *v;            /* the valid ones, in order */
    size_t n, *index;               /* index: position in the request */
    unsigned char *res;             /* enum fare_result per valid one */
    struct fare_batch batch[CITY_FARE_PARTS];
    size_t pending;                 /* batches not answered yet */
    enum store_status failed;       /* STORE_OK, or the worst failure seen */
    bool stopped;                   /* the module stopped meanwhile: free only */
    size_t accepted, duplicates, rejected;
    json_t *errors;
};

static void job_free(struct fare_job *j)
{
    free(j->v);
    free(j->index);
    free(j->res);
    json_decref(j->errors);
    free(j);
}

static void reject(struct fare_job *j, size_t index, const char *id, const char *msg)
{
    j->rejected++;
    metric_inc(j->ac->m_fares_rej, 1);
    json_t *e = json_pack("{s:I, s:s}", "index", (json_int_t)index, "message", msg);
    if (id && *id)
        json_object_set_new(e, "id", json_string(id));
    json_array_append_new(j->errors, e);
}

static void job_reply(struct fare_job *j)
{
    http_reply_json(j->req, 200, json_pack("{s:I, s:I, s:I, s:O}", "accepted",
                                           (json_int_t)j->accepted, "duplicates",
                                           (json_int_t)j->duplicates, "rejected",
                                           (json_int_t)j->rejected, "errors", j->errors));
}

/* "NN:hour": the partition-hour a re-read or restore item names. */
static void part_hour_id(char *buf, size_t n, unsigned part, int64_t hour)
{
    snprintf(buf, n, "%02u:%lld", part, (long long)hour);
}

static void hour_key(char *buf, size_t n, unsigned part, int64_t hour)
{
    char what[48];
    snprintf(what, sizeof what, "fares:%lld", (long long)hour);
    keys_part_key(buf, n, part, what);
}

/* A batch failed: a timeout may still have applied it, so memory re-reads
 * the partition-hours it touched once Redis answers. */
static void batch_failed(struct fare_job *j, unsigned part, enum store_status st)
{
    char id[64];
    if (j->failed != STORE_TIMEOUT)
        j->failed = st == STORE_OK ? STORE_DOWN : st;
    for (size_t i = 0; st == STORE_TIMEOUT && i < j->n; i++)
        if (city_fare_part(j->v[i].id) == part) {
            part_hour_id(id, sizeof id, part, city_hour(j->v[i].ts));
            restore_reread(&j->ac->rs, id);
        }
}

/* Redis has this partition's validations: count the new ones. */
static void batch_apply(struct fare_job *j, unsigned part, const struct store_reply *r)
{
    struct api_city *ac = j->ac;
    size_t k = 0;
    for (size_t i = 0; i < j->n; i++) {
        const struct city_fare *f = &j->v[i];
        if (city_fare_part(f->id) != part)
            continue;
        const struct store_reply *e = store_reply_at(r, k++);
        if (store_reply_type(e) == STORE_R_ERROR) {
            j->res[i] = FARE_FAILED;
        } else if (store_reply_int(e) == 1) {
            j->res[i] = FARE_COUNTED;
            city_fares_add(&ac->fares, part, city_hour(f->ts), f->method, 1);
            metric_inc(ac->m_fares[f->method], 1);
            app_saw_ts(ac->a, f->ts);
        } else {
            j->res[i] = FARE_DUPLICATE;
            metric_inc(ac->m_fares_dup, 1);
        }
    }
}

/* Every batch has answered: the reply, in request order. */
static void job_finish(struct fare_job *j)
{
    if (j->failed != STORE_OK) {
        module_reply_store(j->req, j->failed);
        return;
    }
    for (size_t i = 0; i < j->n; i++) {
        if (j->res[i] == FARE_COUNTED)
            j->accepted++;
        else if (j->res[i] == FARE_DUPLICATE)
            j->duplicates++;
        else
            reject(j, j->index[i], j->v[i].id, "store: write failed");
    }
    job_reply(j);
}

static void batch_done(void *arg, enum store_status st, const struct store_reply *r)
{
    struct fare_batch *fb = arg;
    struct fare_job *j = fb->j;
    size_t count = 0;
    for (size_t i = 0; i < j->n; i++)
        count += city_fare_part(j->v[i].id) == fb->part;
    j->stopped |= !lifetime_release(&j->ac->lt);
    if (!j->stopped && (st != STORE_OK || store_reply_type(r) != STORE_R_ARRAY ||
                        store_reply_len(r) != count))
        batch_failed(j, fb->part, st);
    else if (!j->stopped)
        batch_apply(j, fb->part, r);
    if (--j->pending > 0)
        return;
    if (!j->stopped)
        job_finish(j);
    job_free(j);
}

static int add_write(struct api_city *ac, struct store_batch *b, const struct city_fare *f)
{
    char seen[KEY_MAX], hour[KEY_MAX], hours[KEY_MAX], ids[KEY_MAX], part[8],
        wid[CITY_ID_MAX + 8], h[24], what[48], ttl[24];
    unsigned p = city_fare_part(f->id);
    long long hr = (long long)city_hour(f->ts);
    snprintf(part, sizeof part, "%02u", p);
    snprintf(wid, sizeof wid, "fare:%s", f->id);
    snprintf(h, sizeof h, "%lld", hr);
    snprintf(what, sizeof what, "fares:%lld:ids:%u", hr, city_fare_ids_bucket(f->id));
    snprintf(ttl, sizeof ttl, "%ld", ac->a->cfg.retention_fare_max_age_s + 3600);
    keys_seen(seen, sizeof seen, "p", part, wid);
    hour_key(hour, sizeof hour, p, hr);
    keys_part_key(hours, sizeof hours, p, "fares:hours");
    keys_part_key(ids, sizeof ids, p, what);
    const char *argv[] = {seen, hour, hours, ids, ttl, city_fare_method_name(f->method),
                          f->route_id, FARE_KEEP_S, h, f->id};
    return store_batch_script(b, ac->fare_script, 4, 10, argv, NULL);
}

/* Parse every item; the valid ones are queued in their partition's batch. */
static int fares_prepare(struct fare_job *j, const json_t *list,
                         struct store_batch *b[CITY_FARE_PARTS])
{
    struct app *a = j->ac->a;
    double now = app_now(a);
    bool replay = a->cfg.clock_mode == CLOCK_REPLAY;
    size_t n = json_array_size(list);
    char err[256];
    j->v = malloc((n + 1) * sizeof *j->v);
    j->index = malloc((n + 1) * sizeof *j->index);
    j->res = calloc(n + 1, 1);
    if (j->v == NULL || j->index == NULL || j->res == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct city_fare *f = &j->v[j->n];
        /* replayed validations are in the past of the wall clock: no
         * age limit there, as for positions */
        if (city_fare_parse(json_array_get(list, i), now,
                            replay ? 0 : (double)a->cfg.retention_fare_max_age_s, f, err,
                            sizeof err) != 0) {
            reject(j, i, json_string_value(json_object_get(json_array_get(list, i), "id")), err);
            continue;
        }
        unsigned p = city_fare_part(f->id);
        if ((b[p] == NULL && (b[p] = store_batch_new()) == NULL) || add_write(j->ac, b[p], f) != 0)
            return -1;
        j->index[j->n++] = i;
    }
    return 0;
}

/* Send every partition's batch; the job belongs to their callbacks. */
static void fares_send(struct fare_job *j, struct store_batch *b[CITY_FARE_PARTS])
{
    for (unsigned p = 0; p < CITY_FARE_PARTS; p++)
        j->pending += b[p] != NULL;
    for (unsigned p = 0; p < CITY_FARE_PARTS; p++) {
        if (b[p] == NULL)
            continue;
        struct fare_batch *fb = &j->batch[p];
        *fb = (struct fare_batch){j, p};
        lifetime_hold(&j->ac->lt);
        struct store_batch *bp = b[p];
        b[p] = NULL;
        /* out of memory there: no callback will come, so answer it here (j
         * may be gone after the last one: only b is read on) */
        if (store_batch_send(j->ac->a->store, bp, batch_done, fb) != 0)
            batch_done(fb, STORE_DOWN, NULL);
    }
}

static void h_fares(struct http_req *req, void *arg)
{
    struct api_city *ac = arg;
    if (!restore_ready(&ac->rs)) {
        http_reply_unavailable(req);
        return;
    }
    json_t *body = http_req_json(req);
    if (body == NULL)
        return;
    const json_t *list = json_object_get(body, "validations");
    if (!json_is_array(list)) {
        http_reply_error(req, 400, "invalid", "validations: required, an array");
        return;
    }
    size_t max = (size_t)ac->a->cfg.transit_max_batch;
    if (json_array_size(list) > max) {
        http_reply_error(req, 422, "too_large", "validations: at most transit.max_batch = %zu "
                         "per request", max);
        return;
    }
    struct store_batch *b[CITY_FARE_PARTS] = {0};
    struct fare_job *j = calloc(1, sizeof *j);
    if (j == NULL || (j->errors = json_array()) == NULL)
        goto oom;
    j->ac = ac;
    j->req = req;
    if (fares_prepare(j, list, b) != 0)
        goto oom;
    if (j->n == 0) {
        job_reply(j);
        goto out;
    }
    fares_send(j, b);
    return;
oom:
    http_reply_error(req, 500, "internal", "out of memory");
out:
    for (unsigned p = 0; p < CITY_FARE_PARTS; p++)
        store_batch_free(b[p]);
    if (j)
        job_free(j);
}

/* ---- restore: every partition-hour memory keeps ---- */

static void bucket_cb(struct restore *r, const char *id, const struct store_reply *reply)
{
    struct api_city *ac = r->arg;
    unsigned part;
    long long hour;
    long n[CITY_FARE_NMETHODS];
    if (sscanf(id, "%u:%lld", &part, &hour) != 2)
        return;
    for (int m = 0; m < CITY_FARE_NMETHODS; m++)
        n[m] = (long)store_reply_int(store_reply_at(reply, (size_t)m));
    city_fares_set(r->mode == RESTORE_REREAD ? &ac->fares : &ac->rfares, part, hour, n);
}

static void bucket_read(struct restore *r, const char *id)
{
    unsigned part;
    long long hour;
    char key[KEY_MAX];
    if (sscanf(id, "%u:%lld", &part, &hour) != 2)
        return;
    hour_key(key, sizeof key, part, hour);
    const char *argv[] = {"HMGET", key, "m:qr", "m:card", "m:nfc", "m:cash"};
    restore_cmd(r, bucket_cb, id, 6, argv);
}

/* A partition's newest hours: each a work item. */
static void hours_cb(struct restore *r, const char *id, const struct store_reply *reply)
{
    unsigned part = (unsigned)atoi(id);
    char item[64];
    for (size_t i = 0; i < store_reply_len(reply); i++) {
        part_hour_id(item, sizeof item, part, store_reply_int(store_reply_at(reply, i)));
        if (restore_work_add(r, bucket_read, item) != 0) {
            restore_failed(r, "out of memory");
            return;
        }
    }
}

static bool restore_step(struct restore *r, int k)
{
    struct api_city *ac = r->arg;
    if (k > 0)
        return false;
    memset(&ac->rfares, 0, sizeof ac->rfares);
    char id[8], key[KEY_MAX], last[16];
    snprintf(last, sizeof last, "%d", CITY_FARE_HOURS - 1);
    for (unsigned p = 0; p < CITY_FARE_PARTS; p++) {
        snprintf(id, sizeof id, "%02u", p);
        const char *argv[] = {"ZREVRANGE", keys_part_key(key, sizeof key, p, "fares:hours"), "0",
                              last};
        restore_cmd(r, hours_cb, id, 4, argv);
    }
    return true;
}

static void restore_done(struct restore *r)
{
    struct api_city *ac = r->arg;
    ac->fares = ac->rfares;
    long n[CITY_FARE_NMETHODS];
    city_fares_sum(&ac->fares, app_now(ac->a), CITY_FARE_WINDOW_H, n);
    log_info(&ac->a->log, "fares_restored", "rides_24h=%ld", n[0] + n[1] + n[2] + n[3]);
}

static const struct restore_ops RESTORE_OPS = {"fares", restore_step, restore_done, bucket_read};

/* ---- life cycle ---- */

static void register_metrics(struct api_city *ac, struct metrics *m)
{
    static const char *const STATUS[5] = {"in_transit", "at_stop", "layover", "off_route",
                                          "stale"};
    static const char *const SOURCES[3] = {"parking", "transit", "counts"};
    char l[96];
#define G(name, help, labels) metrics_series(m, METRIC_GAUGE, name, help, labels)
    ac->g_lots = G("cityd_parking_lots", "Parking lots in the registry", NULL);
    ac->g_total = G("cityd_parking_spaces_total", "Spaces of all lots", NULL);
    ac->g_avail = G("cityd_parking_spaces_available", "Free spaces of the lots reporting",
                    NULL);
    ac->g_stale = G("cityd_parking_lots_stale", "Lots silent longer than parking.stale_after_s",
                    NULL);
    for (int i = 0; i < 5; i++) {
        snprintf(l, sizeof l, "status=\"%s\"", STATUS[i]);
        ac->g_status[i] = G("cityd_transit_vehicles", "Buses by status", l);
    }
    ac->g_active = G("cityd_transit_trips_active", "Trips running now (timetable or live bus)",
                     NULL);
    ac->g_predicted = G("cityd_transit_trips_predicted", "Trips running with live predictions",
                        NULL);
    ac->g_stops = G("cityd_transit_stops", "Stops riders board at", NULL);
    ac->g_signed = G("cityd_transit_stops_with_signs", "Stops with an electronic sign", NULL);
    ac->g_signs_live = G("cityd_transit_signs_live", "Signs that fetched within 120 s", NULL);
    ac->g_mode[0] = G("cityd_signals_intersections", "Signalised intersections by mode",
                      "mode=\"fixed\"");
    ac->g_mode[1] = G("cityd_signals_intersections", "Signalised intersections by mode",
                      "mode=\"adaptive\"");
    ac->g_realtime = G("cityd_signals_intersections_realtime",
                       "Intersections timed from counts fresher than two intervals", NULL);
    for (int i = 0; i < 3; i++) {
        snprintf(l, sizeof l, "source=\"%s\"", SOURCES[i]);
        ac->g_age[i] = G("cityd_source_age_seconds", "Age of the newest data of each source "
                         "(NaN: none yet)", l);
    }
    ac->g_rides = G("cityd_fares_rides_24h", "Fare validations of the last 24 h", NULL);
    ac->g_electronic = G("cityd_fares_electronic_24h", "... of them paid electronically", NULL);
    for (int i = 0; i < 4; i++) {
        snprintf(l, sizeof l, "indicator=\"%s\"", SHARES[i]);
        ac->g_share[i] = G("cityd_city_indicator", "The plan's indicators, as in GET /v1/city "
                           "(NaN: nothing to divide by)", l);
    }
#undef G
    const char *help = "Fare validations posted, by result and method";
    for (int i = 0; i < CITY_FARE_NMETHODS; i++) {
        snprintf(l, sizeof l, "result=\"accepted\",method=\"%s\"",
                 city_fare_method_name((enum city_fare_method)i));
        ac->m_fares[i] = metrics_series(m, METRIC_COUNTER, "cityd_transit_fares_total", help, l);
    }
    ac->m_fares_dup = metrics_series(m, METRIC_COUNTER, "cityd_transit_fares_total", help,
                                     "result=\"duplicate\"");
    ac->m_fares_rej = metrics_series(m, METRIC_COUNTER, "cityd_transit_fares_total", help,
                                     "result=\"rejected\"");
}

/* Signs whose stop the feed does not know are logged, and not counted. */
static void check_signs(struct app *a)
{
    const struct gtfs *f = feed(a);
    for (size_t i = 0; a->map && i < a->map->nsigns; i++) {
        const struct map_sign *g = &a->map->signs[i];
        if (f == NULL || gtfs_stop_find(f, g->stop_id) == GTFS_NONE) {
            char qs[300], qt[300];
            log_warn(&a->log, "stop_sign_unknown_stop", "sign=%s stop_id=%s",
                     log_quote(qs, sizeof qs, g->id), log_quote(qt, sizeof qt, g->stop_id));
        }
    }
}

int api_city_check(const struct app *a)
{
    struct map_problems probs = {0};
    struct map *m = NULL;
    int n = 0;
    if (map_load(a->cfg.map_dir, &m, &probs) == 0 && m->nsigns > 0) {
        char dir[CONFIG_PATH_MAX + 16], e[512];
        struct gtfs *f = gtfs_load(config_gtfs_dir(&a->cfg, dir, sizeof dir), e, sizeof e);
        for (size_t i = 0; i < m->nsigns; i++) {
            const struct map_sign *g = &m->signs[i];
            if (f != NULL && gtfs_stop_find(f, g->stop_id) != GTFS_NONE)
                continue;
            fprintf(stderr, "%s/stop_signs.geojson: %s: stop_id '%s' is not a stop of the GTFS "
                    "feed %s\n", a->cfg.map_dir, g->id, g->stop_id, dir);
            n++;
        }
        gtfs_free(f);
    }
    map_free(m);
    map_problems_free(&probs);
    return n;
}

static const struct module_route ROUTES[] = {
    {HTTP_GET, "/v1/city", ROLE_READER, true, h_city},
    {HTTP_GET, "/v1/transit/signs", ROLE_READER, true, h_signs},
    {HTTP_POST, "/v1/transit/fares", ROLE_SENSOR, false, h_fares},
};

static int start(struct app *a, char *err, size_t errlen)
{
    struct api_city *ac = calloc(1, sizeof *ac);
    if (ac == NULL) {
        snprintf(err, errlen, "city: out of memory");
        return -1;
    }
    a->city_api = ac;
    ac->a = a;
    size_t nsigns = a->map ? a->map->nsigns : 0;
    if ((ac->sign_seen = calloc(nsigns + 1, sizeof *ac->sign_seen)) == NULL ||
        restore_init(&ac->rs, a, &ac->lt, &RESTORE_OPS, ac) != 0 ||
        (ac->fare_script = store_script_new(a->store, FARE_SCRIPT)) == NULL) {
        snprintf(err, errlen, "city: out of memory");
        return -1;
    }
    register_metrics(ac, a->metrics);
    check_signs(a);
    if (module_routes(a->http, "city", ROUTES, sizeof ROUTES / sizeof ROUTES[0], ac, err,
                      errlen) != 0)
        return -1;
    restore_begin(&ac->rs);
    return 0;
}

static bool ready(const struct app *a)
{
    const struct api_city *ac = a->city_api;
    return ac != NULL && restore_ready(&ac->rs);
}

static void stop(struct app *a)
{
    struct api_city *ac = a->city_api;
    if (ac == NULL)
        return;
    ac->lt.stopped = true;
    restore_stop(&ac->rs);
}

static void city_module_free(struct app *a)
{
    struct api_city *ac = a->city_api;
    if (ac == NULL)
        return;
    lifetime_check(&ac->lt, a, "city");
    restore_free(&ac->rs);
    free(ac->sign_seen);
    free(ac);
    a->city_api = NULL;
}

const struct api_module api_city_module = {"city", start, stop, city_module_free, ready};
