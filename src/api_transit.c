/* api_transit.c -- api.md §3: GTFS-realtime ingest and the transit read
 * endpoints, glue between http.h, store.h and the transit domain module.
 *
 * Durability. A posted position is checked against memory (validation,
 * outdated), then written to Redis by a small Lua script per vehicle that
 * refuses a timestamp not newer than the stored one -- so Redis never
 * goes backwards even when two requests for one bus race or a timed-out
 * write lands late -- and only once Redis has acknowledged the batch is
 * the position applied to the in-memory state and the reply sent. The
 * script keeps the current position (HSET cityd:{p:NN}:veh:<id>:pos),
 * appends to its track (XADD cityd:{p:NN}:veh:<id>:track, the last
 * retention.track_s of reports: retention.h),
 * lists the vehicle in its partition's cityd:{p:NN}:transit:vehicles and
 * appends the report to the partition's change feed (pfeed.h) -- all keys
 * of the vehicle's partition {p:NN}, so one script does it atomically,
 * also under Redis Cluster. The vehicles of one request go as one
 * MULTI/EXEC per partition (slotbatch.h); the reply waits for all, and if
 * any partition failed it is 503 (the retry finds the ones that did
 * commit outdated).
 *
 * Several cityd. Every cityd polls the partitions' feeds every 100 ms and
 * applies the reports other processes took (as a restore does: the
 * matcher places them, predictions follow), so a bus posted to one cityd
 * is predicted by all within a poll and a round trip. What a process
 * makes of a report depends on the vehicle's history as it saw it (a
 * fix falling back along the line is held at the furthest place, a trip
 * is kept, a jump held), and histories differ: a cityd started later
 * restored the bus from its last report alone, one missed a report. So
 * the process that takes a report works out what it makes of it before
 * writing (transit_draft: place, status, trip, predictions, on a copy of
 * the vehicle) and writes that state with the report, in the pos hash
 * and the feed entry; it applies the draft once Redis has the report (a
 * failed write drops it: memory never runs ahead of Redis, so a report
 * answered outdated is one Redis holds), and every other process adopts
 * the state on the feed or when it restores the vehicle -- the same
 * place, status and predictions everywhere within a poll. A gap in a feed
 * (Redis lost entries in a failover) rebuilds the registry from Redis
 * aside while the live one keeps taking reports; a report this process
 * took meanwhile may be newer than what the rebuild read, and its own
 * feed entries are never applied to it, so such reports are kept
 * (at->taken) and applied to the rebuilt registry before it is swapped in.
 *
 * Learning. Stop-to-stop traversals found by the matcher are appended to
 * cityd:{city}:transit:segments (capped) after the reply's batch; at start
 * the stream is replayed into the estimators before the vehicles' last
 * positions are restored, so predictions survive a restart. Losing the
 * last few traversals in a crash costs a little learning, never an
 * acknowledged position.
 *
 * Unknown outcomes. A batch answered by a store timeout may still apply:
 * the reply is 503 store_timeout and its vehicles are re-read from Redis
 * (their pos hash) once Redis answers, newer-only like any report.
 *
 * Clock. Ingested timestamps advance the replay clock (clock.mode =
 * replay); outside replay mode a timestamp more than five minutes ahead
 * of the wall clock is rejected per entity. */
#include "api_transit.h"

#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api_city.h"
#include "app.h"
#include "dict.h"
#include "geo.h"
#include "geojson.h"
#include "gtfs.h"
#include "gtfsrt.h"
#include "http.h"
#include "keys.h"
#include "metrics.h"
#include "module.h"
#include "params.h"
#include "pfeed.h"
#include "retention.h"
#include "slotbatch.h"
#include "store.h"
#include "transit.h"
#include "tz.h"

#define SWEEP_S 60                       /* forgetting long-silent vehicles */
#define POLL_MS 100                      /* other processes' reports (pfeed.h) */
#define SEGMENTS_MAX "200000"       /* traversals kept for the estimators */
#define RESTORE_PAGE 5000
#define MAX_OBS 64                  /* traversals one report can complete */
#define DEFAULT_RADIUS_M 500.0
#define DEFAULT_LIMIT 50
#define FEED_MAX_AGE_S 1.0          /* a rendered TripUpdates view is served this long */

/* One rendered view of the TripUpdates feed, both encodings of one
 * snapshot. key_s: the second it shows (floor of now, or of at=). */
struct feed_view {
    bool valid;
    int64_t key_s;
    uint64_t changes;               /* at->changes when built */
    double built;                   /* monotonic seconds */
    char *json;
    uint8_t *pb;
    size_t json_len, pb_len;
};

/* Newer-only write of one report. Returns 1 when written, 0 when the
 * stored report is as new or newer. KEYS (the vehicle's partition): pos,
 * track, vehicle set, feed, feed seq. ARGV: ts lon lat trip route
 * start_date start_time bearing speed label entity, the seconds of track
 * kept (retention.track_s, 0: no track), vehicle, origin, the feed's
 * seconds kept (pfeed_keep), state (what the writer made of the report,
 * transit_draft_state; binary, read with the report's fields). The feed
 * entry carries what another process needs of the report (the pos hash
 * keeps it all): the fields it matches (a restore's, the fallback when
 * the state is of another version) and the state -- not start_time, label
 * or entity_id, which the matcher does not use. */
static const char WRITE_SCRIPT[] =
    RETENTION_LUA_XADD_AT
    "local cur = redis.call('HGET', KEYS[1], 'ts')\n"
    "if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end\n"
    "local f = {'ts', ARGV[1], 'lon', ARGV[2], 'lat', ARGV[3],"
    " 'trip_id', ARGV[4], 'route_id', ARGV[5], 'start_date', ARGV[6],"
    " 'start_time', ARGV[7], 'bearing', ARGV[8], 'speed', ARGV[9], 'label', ARGV[10],"
    " 'entity_id', ARGV[11], 'state', ARGV[16]}\n"
    "redis.call('HSET', KEYS[1], unpack(f))\n"
    "if ARGV[12] ~= '0' then\n"
    "  xadd_at(KEYS[2], tonumber(ARGV[1]) * 1000, tonumber(ARGV[12]) * 1000, 'ts', ARGV[1],"
    " 'lon', ARGV[2], 'lat', ARGV[3], 'trip_id', ARGV[4], 'route_id', ARGV[5])\n"
    "end\n"
    "redis.call('SADD', KEYS[3], ARGV[13])\n"
    "local s = redis.call('INCR', KEYS[5])\n"
    "redis.call('XADD', KEYS[4], " PFEED_LUA_TRIM("ARGV[15]") ", '*', 'seq', s, 'origin', ARGV[14],"
    " 'veh', ARGV[13], 'ts', ARGV[1], 'lon', ARGV[2], 'lat', ARGV[3], 'trip_id', ARGV[4],"
    " 'route_id', ARGV[5], 'start_date', ARGV[6], 'bearing', ARGV[8], 'speed', ARGV[9],"
    " 'state', ARGV[16])\n"
    "return 1\n";

struct api_transit {
    struct app *a;
    struct gtfs *feed;              /* owned; NULL: the city has no GTFS feed */
    struct transit *t;              /* owned; also a->transit */
    struct transit_params params;
    struct lifetime lt;
    struct restore rs;              /* reload from Redis, re-reads of vehicles */
    struct event *sweep;            /* forgets long-silent vehicles */
    /* Restore in progress: built aside, swapped in when complete. */
    struct transit *rt;
    size_t n_segs, n_restored;
    struct metric *m_accepted, *m_outdated, *m_rejected;
    size_t pending_new;             /* new vehicles of ingests in flight (transit_admit) */
    struct store_script *write_script;
    struct pfeed pf;                /* other processes' reports */
    struct dict *taken;             /* vehicle id -> struct gtfsrt_vehicle (owned): the
                                       newest report written while a resync ran; NULL
                                       when none */
    struct event *poll;
    /* The TripUpdates feed as last rendered: the live view and the last
     * at= view (see h_trip_updates). */
    struct feed_view live_view, at_view;
    uint64_t changes;               /* bumped whenever the vehicles change */
};

/* ---- small helpers ---- */

static void feed_view_clear(struct feed_view *fv)
{
    free(fv->json);
    free(fv->pb);
    memset(fv, 0, sizeof *fv);
}

static void at_free(struct api_transit *at)
{
    feed_view_clear(&at->live_view);
    feed_view_clear(&at->at_view);
    restore_free(&at->rs);
    if (at->sweep)
        event_free(at->sweep);
    if (at->taken)
        dict_free(at->taken, free);
    transit_free(at->rt);
    transit_free(at->t);
    gtfs_free(at->feed);
    free(at);
}

static void at_release(struct api_transit *at)
{
    lifetime_release(&at->lt);
}

static json_t *json_str_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

static json_t *json_time(double t)
{
    return json_integer((json_int_t)llround(t));
}

static void put_lonlat(json_t *o, double lon, double lat, bool gcj02)
{
    if (gcj02)
        geo_wgs84_to_gcj02(lon, lat, &lon, &lat);
    json_object_set_new(o, "lon", json_real(lon));
    json_object_set_new(o, "lat", json_real(lat));
}

/* Reads need the reloaded state; replies 503 (and returns false) before. */
static bool ready_or_503(struct api_transit *at, struct http_req *r)
{
    if (at->feed == NULL || restore_ready(&at->rs))
        return true;
    http_reply_unavailable(r);
    return false;
}

/* ---- ingest ---- */

struct ingest {
    struct api_transit *at;
    struct http_req *req;
    struct gtfsrt_feed feed;
    uint8_t *wr;                    /* per entity: enum write */
    struct transit_draft **d;       /* per entity: what it makes of the report (owned) */
    size_t n_cmds;
    enum store_status fail_st;      /* a partition's transaction failed: why */
    bool failed;
    size_t n_new;                   /* places held in at->pending_new */
    size_t accepted, outdated, rejected;
    json_t *errors;
};

static void ingest_free(struct ingest *in)
{
    if (in->n_new > 0)
        in->at->pending_new -= in->n_new;
    for (size_t i = 0; in->d != NULL && i < in->feed.n; i++)
        transit_draft_free(in->d[i]);
    free(in->d);
    gtfsrt_feed_clear(&in->feed);
    free(in->wr);
    json_decref(in->errors);
    free(in);
}

static void ingest_reject(struct ingest *in, const struct gtfsrt_vehicle *v, const char *msg)
{
    in->rejected++;
    json_array_append_new(in->errors, json_pack("{s:I, s:s, s:s}", "index", (json_int_t)v->index,
                                                "id", v->entity_id, "message", msg));
}

static void ingest_reply(struct ingest *in)
{
    struct api_transit *at = in->at;
    metric_inc(at->m_accepted, (double)in->accepted);
    metric_inc(at->m_outdated, (double)in->outdated);
    metric_inc(at->m_rejected, (double)in->rejected);
    json_t *body = json_pack("{s:I, s:I, s:I, s:O}", "accepted", (json_int_t)in->accepted,
                             "outdated", (json_int_t)in->outdated, "rejected",
                             (json_int_t)in->rejected, "errors", in->errors);
    http_reply_json(in->req, 200, body);
}

/* A report's numbers as Redis keeps them (the pos hash, the track, the
 * feed): "" for none; a position in degrees to 1e-7 (~1 cm); a bearing
 * or a speed to 7 significant digits ("87.5", not "87.5000000": ~12
 * bytes less a feed entry, and no receiver gives more). */
static void fmt_num(char *buf, size_t len, double v, bool position)
{
    if (isnan(v))
        buf[0] = '\0';
    else
        snprintf(buf, len, position ? "%.7f" : "%.7g", v);
}

/* x as Redis keeps it (fmt_num and back). */
static double as_stored(double x, bool position)
{
    char buf[32];
    fmt_num(buf, sizeof buf, x, position);
    return buf[0] ? strtod(buf, NULL) : NAN;
}

static int add_write(struct api_transit *at, struct slotbatch *b, size_t tag,
                     const struct gtfsrt_vehicle *v, const struct transit_draft *d)
{
    size_t slen;
    const char *state = transit_draft_state(d, &slen);
    state = state ? state : "";
    char kpos[KEY_MAX], ktrack[KEY_MAX], kset[KEY_MAX], kfeed[KEY_MAX], kseq[KEY_MAX];
    char ts[32], lon[32], lat[32], bearing[32], speed[32], fmax[24], tkeep[24];
    unsigned part = keys_part(v->vehicle_id);
    keys_vehicle(kpos, sizeof kpos, v->vehicle_id, "pos");
    keys_vehicle(ktrack, sizeof ktrack, v->vehicle_id, "track");
    keys_part_key(kset, sizeof kset, part, "transit:vehicles");
    pfeed_key(&at->pf, kfeed, part);
    pfeed_seq_key(&at->pf, kseq, part);
    pfeed_keep(&at->pf, fmax);
    snprintf(tkeep, sizeof tkeep, "%ld", at->a->cfg.retention_track_s);
    snprintf(ts, sizeof ts, "%llu", (unsigned long long)v->timestamp);
    fmt_num(lon, sizeof lon, v->lon, true);
    fmt_num(lat, sizeof lat, v->lat, true);
    fmt_num(bearing, sizeof bearing, v->bearing, false);
    fmt_num(speed, sizeof speed, v->speed, false);
    const char *argv[] = {kpos, ktrack, kset, kfeed, kseq, ts, lon, lat,
                          v->trip_id, v->route_id, v->start_date, v->start_time, bearing, speed,
                          v->label, v->entity_id, tkeep, v->vehicle_id, app_origin(at->a),
                          fmax, state};
    size_t lens[sizeof argv / sizeof *argv];
    for (size_t i = 0; i < sizeof argv / sizeof *argv; i++)
        lens[i] = argv[i] == state ? slen : strlen(argv[i]);
    return slotbatch_script(b, tag, at->write_script, 5, (int)(sizeof argv / sizeof *argv),
                            argv, lens);
}

/* What this batch taught the estimators, appended to the history stream.
 * Fire and forget: see the top of the file. */
static void persist_obs(struct api_transit *at, const struct transit_obs *obs, size_t n)
{
    if (n == 0)
        return;
    struct store_batch *b = store_batch_new();
    char key[KEY_MAX], ts[32], dur[32], sched[32], late[32];
    keys_city(key, sizeof key, "transit:segments");
    for (size_t i = 0; b && i < n; i++) {
        const struct transit_obs *o = &obs[i];
        snprintf(ts, sizeof ts, "%.1f", o->ts);
        snprintf(dur, sizeof dur, "%.1f", o->duration_s);
        snprintf(sched, sizeof sched, "%.0f", o->sched_s);
        snprintf(late, sizeof late, "%.1f", o->late_s);
        const char *argv[] = {"XADD", key, "MAXLEN", "~", SEGMENTS_MAX, "*",
                              "k", o->kind == TRANSIT_OBS_DEPARTURE ? "d" : "s",
                              "f", o->from_stop, "t", o->to_stop, "r", o->route_id,
                              "s", sched, "ts", ts, "d", dur, "l", late};
        store_batch_add_argv(b, (int)(sizeof argv / sizeof *argv), argv, NULL);
    }
    if (b)
        store_batch_send(at->a->store, b, NULL, NULL);
}

/* Redis has the reports: apply them to memory, then reply. */
/* What Redis said of each entity's write. */
enum write { W_NONE = 0, W_SENT, W_NEW, W_OLD, W_ERROR };

/* Report v is in Redis: while a resync runs, keep it for the rebuilt
 * registry (see the top of the file). Out of memory it is not kept: the
 * vehicle's next report puts it right. */
static void keep_taken(struct api_transit *at, const struct gtfsrt_vehicle *v)
{
    if (!restore_syncing(&at->rs) || (at->taken == NULL && (at->taken = dict_new()) == NULL))
        return;
    struct gtfsrt_vehicle *old = dict_get(at->taken, v->vehicle_id), *copy;
    if (old != NULL && old->timestamp >= v->timestamp)
        return;
    if ((copy = malloc(sizeof *copy)) == NULL)
        return;
    *copy = *v;
    int e = 0;
    old = dict_put(at->taken, v->vehicle_id, copy, &e);
    free(e ? copy : old);
}

static void ingest_apply(struct ingest *in)
{
    struct api_transit *at = in->at;
    struct transit_obs obs[MAX_OBS * 4];
    size_t n_obs = 0;
    for (size_t i = 0; i < in->feed.n; i++) {
        struct gtfsrt_vehicle *v = &in->feed.v[i];
        if (in->wr[i] == W_NONE)
            continue;
        if (in->wr[i] == W_ERROR) {
            ingest_reject(in, v, "store: write failed");
            continue;
        }
        if (in->wr[i] != W_NEW) {
            in->outdated++;
            continue;
        }
        keep_taken(at, v);
        size_t k = 0;
        /* (what was written with it, even if memory moved meanwhile: the
         * written state is the one all others show) */
        enum transit_result res = transit_draft_commit(at->t, in->d[i], obs + n_obs, MAX_OBS, &k);
        if (res == TRANSIT_ACCEPTED) {
            in->accepted++;
            at->changes++;
            app_saw_ts(at->a, (double)v->timestamp);
            n_obs += k;
        } else if (res == TRANSIT_OUTDATED) {
            in->outdated++;
        } else {
            ingest_reject(in, v, "out of memory");
        }
        if (n_obs + MAX_OBS > sizeof obs / sizeof *obs) {
            persist_obs(at, obs, n_obs);
            n_obs = 0;
        }
    }
    persist_obs(at, obs, n_obs);
}

/* Entity i's write, as its partition's transaction answered. */
static void ingest_item(void *arg, size_t i, enum store_status st, const struct store_reply *e,
                        bool committed)
{
    struct ingest *in = arg;
    struct api_transit *at = in->at;
    if (at->lt.stopped)
        return;
    if (!committed) {
        char qe[512];
        if (!in->failed)
            log_error(&at->a->log, "transit_write_failed", "status=%d error=%s", (int)st,
                      log_quote(qe, sizeof qe, st == STORE_OK && store_reply_str(e, NULL)
                                                   ? store_reply_str(e, NULL)
                                                   : "no reply"));
        if (st == STORE_TIMEOUT)
            restore_reread(&at->rs, in->feed.v[i].vehicle_id);
        if (in->fail_st != STORE_TIMEOUT)
            in->fail_st = st;
        in->failed = true;
        return;
    }
    if (store_reply_type(e) == STORE_R_ERROR) {
        char qv[2 * sizeof in->feed.v[i].vehicle_id + 3], qe[512];
        log_error(&at->a->log, "transit_write_failed", "vehicle=%s error=%s",
                  log_quote(qv, sizeof qv, in->feed.v[i].vehicle_id),
                  log_quote(qe, sizeof qe, store_reply_str(e, NULL)));
        in->wr[i] = W_ERROR;
    } else {
        in->wr[i] = store_reply_int(e) == 1 ? W_NEW : W_OLD;
    }
}

/* Every partition has answered: apply and reply, or 503 if any failed
 * (what did commit is in Redis and now in memory too: the retry finds it
 * outdated). */
static void ingest_done(void *arg)
{
    struct ingest *in = arg;
    struct api_transit *at = in->at;
    if (!at->lt.stopped) {
        for (size_t i = 0; i < in->feed.n && !in->failed; i++)
            if (in->wr[i] == W_SENT) {  /* not reported: not sent (OOM) */
                in->failed = true;
                in->fail_st = STORE_DOWN;
            }
        ingest_apply(in);
        if (in->failed)
            module_reply_store(in->req, in->fail_st);
        else
            ingest_reply(in);
    }
    ingest_free(in);
    at_release(at);
}

/* Body kind from Content-Type: 1 protobuf, 0 JSON, -1 neither. Without a
 * Content-Type the body is sniffed (a JSON feed starts with '{'). */
static int body_kind(const char *ct, const unsigned char *body, size_t len)
{
    if (ct == NULL || *ct == '\0') {
        size_t i = 0;
        while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
            i++;
        return i < len && body[i] == '{' ? 0 : 1;
    }
    size_t n = strcspn(ct, "; \t");
    static const char *const pb[] = {"application/x-protobuf", "application/protobuf",
                                     "application/vnd.google.protobuf",
                                     "application/octet-stream"};
    for (size_t i = 0; i < sizeof pb / sizeof *pb; i++)
        if (n == strlen(pb[i]) && strncasecmp(ct, pb[i], n) == 0)
            return 1;
    if ((n == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
        (n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0))
        return 0;
    return -1;
}

/* Validate every entity against memory and queue the writes. */
static int ingest_prepare(struct ingest *in, bool gcj02, struct slotbatch *b)
{
    struct api_transit *at = in->at;
    double now = app_now(at->a);
    char err[256];
    for (size_t i = 0; i < in->feed.n; i++) {
        struct gtfsrt_vehicle *v = &in->feed.v[i];
        in->wr[i] = W_NONE;
        if (gcj02 && !v->error[0] && geo_valid_lonlat(v->lon, v->lat))
            geo_gcj02_to_wgs84(v->lon, v->lat, &v->lon, &v->lat);
        /* Worked out from the numbers as Redis keeps them, as every other
         * process reads them back: a state is relative to them. */
        if (!v->error[0]) {
            v->lon = as_stored(v->lon, true);
            v->lat = as_stored(v->lat, true);
            v->bearing = as_stored(v->bearing, false);
            v->speed = as_stored(v->speed, false);
        }
        /* A report without a time is taken as of now, fixed here so that
         * Redis and memory agree on it; a replayed one has no "now". */
        bool replay = at->a->cfg.clock_mode == CLOCK_REPLAY;
        if (v->timestamp == 0 && !v->error[0] && !replay)
            v->timestamp = (uint64_t)floor(now);
        enum transit_result res;
        if (v->timestamp == 0 && !v->error[0]) {
            snprintf(err, sizeof err, "vehicle.timestamp: required with clock.mode = replay");
            res = TRANSIT_REJECTED;
        } else if (at->t == NULL) {
            snprintf(err, sizeof err, "vehicle.trip: no GTFS feed is loaded");
            res = TRANSIT_REJECTED;
        } else {
            res = transit_draft(at->t, v, now, &in->d[i], err, sizeof err);
        }
        /* A new vehicle holds its place from now until the batch is
         * applied, so that requests in flight together cannot overfill
         * the registry between Redis and memory. (The same new vehicle
         * twice in one batch holds two places: errs on the safe side.) */
        if (res == TRANSIT_ACCEPTED && transit_vehicle_get(at->t, v->vehicle_id) == NULL) {
            if (transit_admit(at->t, v->vehicle_id, at->pending_new, err, sizeof err) < 0) {
                res = TRANSIT_REJECTED;
                transit_draft_free(in->d[i]);
                in->d[i] = NULL;
            } else {
                at->pending_new++;
                in->n_new++;
            }
        }
        if (res == TRANSIT_REJECTED) {
            ingest_reject(in, v, err);
        } else if (res == TRANSIT_OUTDATED) {
            in->outdated++;
        } else {
            in->wr[i] = W_SENT;
            if (add_write(at, b, i, v, in->d[i]) < 0)
                return -1;
        }
    }
    in->n_cmds = slotbatch_count(b);
    return 0;
}

static void h_positions(struct http_req *req, void *arg)
{
    struct api_transit *at = arg;
    if (!ready_or_503(at, req))
        return;
    bool gcj02;
    if (params_crs(req, &gcj02) < 0)
        return;
    size_t len = 0;
    const unsigned char *body = http_req_body(req, &len);
    int kind = body_kind(http_req_header(req, "Content-Type"), body, len);
    if (kind < 0) {
        http_reply_error(req, 400, "invalid",
                         "Content-Type: expected application/x-protobuf or application/json");
        return;
    }
    struct ingest *in = calloc(1, sizeof *in);
    struct slotbatch *b = slotbatch_new();
    char err[256];
    if (in == NULL || b == NULL || (in->errors = json_array()) == NULL)
        goto oom;
    in->at = at;
    in->req = req;
    size_t max = (size_t)at->a->cfg.transit_max_batch;
    int rc = kind ? gtfsrt_decode_pb(body ? body : (const unsigned char *)"", len, max, &in->feed,
                                     err, sizeof err)
                  : gtfsrt_decode_json(body ? (const char *)body : "", len, max, &in->feed, err,
                                       sizeof err);
    if (rc == GTFSRT_TOO_LARGE) {
        http_reply_error(req, 422, "too_large", "%s: at most transit.max_batch = %zu entities "
                         "per request", err, max);
        goto out;
    }
    if (rc < 0) {
        http_reply_error(req, 400, kind ? "bad_protobuf" : "bad_json", "%s", err);
        goto out;
    }
    in->wr = calloc(in->feed.n + 1, sizeof *in->wr);
    in->d = calloc(in->feed.n + 1, sizeof *in->d);
    if (in->wr == NULL || in->d == NULL || ingest_prepare(in, gcj02, b) < 0)
        goto oom;
    if (in->n_cmds == 0) {
        ingest_reply(in);
        goto out;
    }
    lifetime_hold(&at->lt);
    if (slotbatch_send(at->a->store, b, ingest_item, ingest_done, in) == 0)
        return;
    lifetime_release(&at->lt);
    b = NULL;                           /* freed by slotbatch_send */
oom:
    http_reply_error(req, 500, "internal", "out of memory");
out:
    slotbatch_free(b);
    if (in)
        ingest_free(in);
}

/* ---- vehicles ---- */

static json_t *vehicle_json(const struct api_transit *at, const struct transit_vehicle *v,
                            double now, bool gcj02)
{
    const struct gtfs *f = at->feed;
    bool on_trip = v->trip != GTFS_NONE;
    const struct gtfs_pattern *pt = on_trip ? gtfs_trip_pattern(f, v->trip) : NULL;
    json_t *o = json_object();
    json_object_set_new(o, "vehicle_id", json_string(v->id));
    json_object_set_new(o, "trip_id", json_str_or_null(on_trip ? v->trip_id : NULL));
    json_object_set_new(o, "assignment",
                        on_trip ? json_string(v->inferred ? "inferred" : "feed") : json_null());
    json_object_set_new(o, "route_id",
                        json_str_or_null(v->route != GTFS_NONE ? f->routes[v->route].id : NULL));
    put_lonlat(o, v->lon, v->lat, gcj02);
    json_object_set_new(o, "ts", json_time(v->ts));
    json_object_set_new(o, "distance_along_m",
                        on_trip && v->matched ? json_real(round(v->dist_m * 10) / 10) : json_null());
    json_object_set_new(o, "schedule_deviation_s",
                        on_trip && v->matched ? json_integer(lround(v->sched_dev_s)) : json_null());
    json_object_set_new(o, "next_stop_id",
                        pt && v->matched && v->next_pos < pt->n
                            ? json_string(f->stops[pt->stops[v->next_pos]].id)
                            : json_null());
    json_object_set_new(o, "status", json_string(transit_status_name(
                                         transit_vehicle_status(at->t, v, now))));
    json_object_set_new(o, "bearing", isnan(v->bearing) ? json_null() : json_real(v->bearing));
    json_object_set_new(o, "speed", isnan(v->speed) ? json_null() : json_real(v->speed));
    return o;
}

static void h_vehicle(struct http_req *req, void *arg)
{
    struct api_transit *at = arg;
    bool gcj02;
    double now;
    if (!ready_or_503(at, req) || params_crs(req, &gcj02) < 0 || params_now(at->a, req, &now) < 0)
        return;
    const char *id = http_req_param(req, "id");
    const struct transit_vehicle *v = at->t ? transit_vehicle_get(at->t, id) : NULL;
    if (v == NULL) {
        http_reply_error(req, 404, "not_found", "unknown vehicle '%s'", id);
        return;
    }
    http_reply_json(req, 200, vehicle_json(at, v, now, gcj02));
}

struct near {
    const void *item;
    double d;
};

static int near_cmp(const void *a, const void *b)
{
    const struct near *x = a, *y = b;
    return (x->d > y->d) - (x->d < y->d);
}

/* lon, lat, radius_m (default 500, at most 50 km), limit (default 50). */
static int near_params(struct http_req *req, bool *gcj02, struct geo_pt *p, double *radius,
                       double *limit)
{
    if (params_crs(req, gcj02) < 0 || params_point(req, *gcj02, p) < 0 ||
        params_number(req, "radius_m", 0, 0, 50000, DEFAULT_RADIUS_M, radius) < 0 ||
        params_number(req, "limit", PARAMS_INTEGER, 1, 1000, DEFAULT_LIMIT, limit) < 0)
        return -1;
    return 0;
}

typedef json_t *near_json_fn(const struct api_transit *at, const void *item, double now,
                             bool gcj02);

/* Reply {"<name>": [...]} (or its GeoJSON) with the first `limit` hits,
 * nearest first, each with its distance_m (NAN: no point, no distance,
 * the list's order kept). Frees hits. */
static void reply_near(struct http_req *req, const struct api_transit *at, const char *name,
                       struct near *hits, size_t n, double limit, near_json_fn *fn, double now,
                       bool gcj02)
{
    bool geojson;
    if (geojson_wanted(req, &geojson) != 0) {
        free(hits);
        return;
    }
    json_t *list = json_array();
    if (n > 0 && !isnan(hits[0].d))
        qsort(hits, n, sizeof *hits, near_cmp);
    for (size_t i = 0; list && i < n && i < (size_t)limit; i++) {
        json_t *o = fn(at, hits[i].item, now, gcj02);
        if (!isnan(hits[i].d))
            json_object_set_new(o, "distance_m", json_real(round(hits[i].d * 10) / 10));
        json_array_append_new(list, o);
    }
    free(hits);
    if (geojson) {
        const char *id_key = strcmp(name, "vehicles") == 0 ? "vehicle_id" : "stop_id";
        geojson_reply(req, list ? geojson_collection(list, NULL, id_key) : NULL);
        json_decref(list);
        return;
    }
    http_reply_json(req, 200, list ? json_pack("{s:o}", name, list) : NULL);
}

static json_t *vehicle_item(const struct api_transit *at, const void *item, double now,
                            bool gcj02)
{
    return vehicle_json(at, item, now, gcj02);
}

static int vehicle_id_cmp(const void *a, const void *b)
{
    const struct transit_vehicle *x = ((const struct near *)a)->item,
                                 *y = ((const struct near *)b)->item;
    return strcmp(x->id, y->id);
}

/* Vehicles near a point, nearest first; without lon and lat every vehicle
 * (in bbox= if given), by id, for maps of the whole city (limit up to
 * transit.max_vehicles, default all). Stale ones (silent longer than
 * transit.stale_after_s) are left out unless include_stale=true. */
static void h_vehicles(struct http_req *req, void *arg)
{
    struct api_transit *at = arg;
    bool gcj02, stale_too, given;
    struct geo_pt p;
    double radius, limit, now, bb[4] = {-180, -90, 180, 90};
    double max = (double)at->a->cfg.transit_max_vehicles;
    bool near = http_req_query(req, "lon") != NULL || http_req_query(req, "lat") != NULL;
    if (!ready_or_503(at, req) || params_crs(req, &gcj02) < 0)
        return;
    if (near ? near_params(req, &gcj02, &p, &radius, &limit) < 0
             : params_bbox(req, false, bb, &given) < 0 ||
                   params_number(req, "limit", PARAMS_INTEGER, 1, max, max, &limit) < 0)
        return;
    if (params_bool(req, "include_stale", false, &stale_too) < 0 ||
        params_now(at->a, req, &now) < 0)
        return;
    size_t n = 0, pos = 0, cap = at->t ? transit_vehicle_count(at->t) : 0;
    struct near *hits = malloc((cap + 1) * sizeof *hits);
    if (hits == NULL) {
        http_reply_error(req, 500, "internal", "out of memory");
        return;
    }
    const struct transit_vehicle *v;
    while (at->t && (v = transit_vehicle_next(at->t, &pos)) != NULL && n < cap) {
        if (!stale_too && transit_vehicle_status(at->t, v, now) == TRANSIT_STALE)
            continue;
        double d = NAN, lon = v->lon, lat = v->lat;
        if (near) {
            d = geo_distance_m(p.lon, p.lat, v->lon, v->lat);
            if (d > radius)
                continue;
        } else {
            if (gcj02)
                geo_wgs84_to_gcj02(lon, lat, &lon, &lat);
            if (!geojson_in_box(bb, lon, lat))
                continue;
        }
        hits[n++] = (struct near){v, d};
    }
    if (!near)
        qsort(hits, n, sizeof *hits, vehicle_id_cmp);
    reply_near(req, at, "vehicles", hits, n, limit, vehicle_item, now, gcj02);
}

/* ---- stops ---- */

static json_t *stop_item(const struct api_transit *at, const void *item, double now, bool gcj02)
{
    const struct gtfs_stop *s = item;
    json_t *o = json_pack("{s:s, s:o, s:o}", "stop_id", s->id, "stop_code",
                          json_str_or_null(s->code), "stop_name", json_str_or_null(s->name));
    if (o)
        put_lonlat(o, s->lon, s->lat, gcj02);
    return o;
}

/* Stops (location_type 0: where riders board) near a point. */
static void h_stops_nearest(struct http_req *req, void *arg)
{
    struct api_transit *at = arg;
    bool gcj02;
    struct geo_pt p;
    double radius, limit;
    if (!ready_or_503(at, req) || near_params(req, &gcj02, &p, &radius, &limit) < 0)
        return;
    const struct gtfs *f = at->feed;
    size_t n = 0, cap = f ? f->n_stops : 0;
    struct near *hits = malloc((cap + 1) * sizeof *hits);
    if (hits == NULL) {
        http_reply_error(req, 500, "internal", "out of memory");
        return;
    }
    /* A degree of latitude is 111 km everywhere: a cheap prefilter. */
    double dlat = radius / 111000.0 + 1e-6;
    for (size_t i = 0; i < cap; i++) {
        const struct gtfs_stop *s = &f->stops[i];
        if (s->location_type != 0 || fabs(s->lat - p.lat) > dlat)
            continue;
        double d = geo_distance_m(p.lon, p.lat, s->lon, s->lat);
        if (d <= radius)
            hits[n++] = (struct near){s, d};
    }
    reply_near(req, at, "stops", hits, n, limit, stop_item, 0, gcj02);
}

static json_t *arrival_json(const struct api_transit *at, const struct transit_arrival *a)
{
    const struct gtfs *f = at->feed;
    const struct gtfs_trip *tr = &f->trips[a->trip];
    const struct gtfs_route *rt = &f->routes[tr->route];
    const struct gtfs_pattern *pt = &f->patterns[tr->pattern];
    json_t *o = json_object();
    json_object_set_new(o, "route_id", json_string(rt->id));
    json_object_set_new(o, "trip_id", json_string(tr->id));
    json_object_set_new(o, "vehicle_id", json_str_or_null(a->vehicle ? a->vehicle->id : NULL));
    json_object_set_new(o, "stop_sequence", json_integer(pt->seq[a->pos]));
    json_object_set_new(o, "scheduled_arrival", json_time(a->scheduled));
    json_object_set_new(o, "predicted_arrival", a->predicted ? json_time(a->predicted) : json_null());
    json_object_set_new(o, "announced_arrival", a->predicted ? json_time(a->announced) : json_null());
    json_object_set_new(o, "predicted", json_boolean(a->predicted != 0));
    json_object_set_new(o, "route_short_name", json_str_or_null(rt->short_name));
    json_object_set_new(o, "trip_headsign", json_str_or_null(tr->headsign));
    return o;
}

/* The stop-sign view: every call in [now, now + minutes_after]. */
static void h_arrivals(struct http_req *req, void *arg)
{
    struct api_transit *at = arg;
    double now, minutes;
    if (!ready_or_503(at, req) || params_now(at->a, req, &now) < 0 ||
        params_number(req, "minutes_after", 0, 0, 1440, 30, &minutes) < 0)
        return;
    const char *id = http_req_param(req, "stop_id");
    uint32_t stop = at->feed ? gtfs_stop_find(at->feed, id) : GTFS_NONE;
    if (stop == GTFS_NONE) {
        http_reply_error(req, 404, "not_found", "unknown stop '%s'", id);
        return;
    }
    /* An electronic sign says who it is: it is live while it fetches. */
    const char *sign = http_req_query(req, "sign");
    char err[400];
    if (sign != NULL && api_city_sign_fetch(at->a, sign, id, err, sizeof err) != 0) {
        http_reply_error(req, 400, "invalid", "%s", err);
        return;
    }
    /* Each visit can show up on three service days at most. */
    size_t cap = 3 * (size_t)at->feed->stops[stop].n_visits + 1;
    struct transit_arrival *rows = malloc(cap * sizeof *rows);
    json_t *list = json_array();
    if (rows == NULL || list == NULL) {
        free(rows);
        json_decref(list);
        http_reply_error(req, 500, "internal", "out of memory");
        return;
    }
    size_t n = transit_arrivals(at->t, stop, now, minutes * 60, rows, cap);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, arrival_json(at, &rows[i]));
    free(rows);
    http_reply_json(req, 200, json_pack("{s:s, s:o, s:o}", "stop_id", id, "at", json_time(now),
                                   "arrivals", list));
}

/* ---- TripUpdates feed ---- */

static bool wants_protobuf(struct http_req *req)
{
    const char *acc = http_req_header(req, "Accept");
    return acc && (strcasestr(acc, "application/x-protobuf") ||
                   strcasestr(acc, "application/protobuf") ||
                   strcasestr(acc, "application/vnd.google.protobuf"));
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Render the feed as seen at `now` into fv (both encodings); false when
 * out of memory (fv then left empty). */
static bool feed_view_build(struct api_transit *at, struct feed_view *fv, double now, bool live)
{
    size_t n_veh = 0, n_stops = 0, pos = 0, n = 0;
    const struct transit_vehicle *v;
    while (at->t && (v = transit_vehicle_next(at->t, &pos)) != NULL) {
        n_veh++;
        n_stops += v->n_pred;
    }
    struct gtfsrt_trip_update *tu = malloc((n_veh + 1) * sizeof *tu);
    struct gtfsrt_stop_time *st = malloc((n_stops + 1) * sizeof *st);
    struct gtfsrt_header h = {0};
    snprintf(h.version, sizeof h.version, "2.0");
    h.timestamp = (uint64_t)floor(now);
    feed_view_clear(fv);
    if (tu && st && at->t)
        n = transit_trip_updates(at->t, now, live, &h, tu, n_veh, st, n_stops);
    if (tu && st) {
        fv->json = gtfsrt_encode_trip_updates_json(&h, tu, n, &fv->json_len);
        fv->pb = gtfsrt_encode_trip_updates_pb(&h, tu, n, &fv->pb_len);
    }
    free(tu);
    free(st);
    if (fv->json == NULL || fv->pb == NULL) {
        feed_view_clear(fv);
        return false;
    }
    fv->valid = true;
    fv->key_s = (int64_t)floor(now);
    fv->changes = at->changes;
    fv->built = mono_now();
    return true;
}

/* The feed is public and city-sized, so it is never rendered per request:
 * the live view is rendered at most once a second (again when the second
 * it shows or the vehicles changed, and it is FEED_MAX_AGE_S old); an at=
 * view is rounded down to its second and the last one is kept, so a reader
 * asking for new seconds pays one render each, never the city's whole tree
 * (docs/transit.md). */
static void h_trip_updates(struct http_req *req, void *arg)
{
    struct api_transit *at = arg;
    double now;
    if (!ready_or_503(at, req) || params_now(at->a, req, &now) < 0)
        return;
    bool live = http_req_query(req, "at") == NULL;
    struct feed_view *fv = live ? &at->live_view : &at->at_view;
    int64_t key = (int64_t)floor(now);
    double age = mono_now() - fv->built;
    bool old = !(age >= 0 && age < FEED_MAX_AGE_S);     /* (a clock step counts as old) */
    bool moved = fv->key_s != key, changed = fv->changes != at->changes;
    if (!fv->valid || (live ? old && (moved || changed) : moved || (old && changed))) {
        if (!feed_view_build(at, fv, live ? now : (double)key, live)) {
            http_reply_error(req, 500, "internal", "out of memory");
            return;
        }
    }
    if (wants_protobuf(req))
        http_reply_raw(req, 200, "application/x-protobuf", fv->pb, fv->pb_len);
    else
        http_reply_raw(req, 200, "application/json; charset=utf-8", fv->json, fv->json_len);
}

/* ---- restore from Redis ----
 *
 * The module's restore (module.h): a fresh registry aside (at->rt), the
 * learning history replayed into it page by page (XRANGE), then every
 * listed vehicle's last report (SSCAN, a HGETALL each); complete, it
 * replaces the live one. A re-read (a vehicle whose write had an unknown
 * outcome) restores the stored report into the live registry. */

static const char *hash_field(const struct store_reply *kv, const char *name)
{
    return reply_field(kv, name, NULL);
}

static double field_num(const struct store_reply *kv, const char *name)
{
    const char *s = hash_field(kv, name);
    char *end;
    double v = s && *s ? strtod(s, &end) : NAN;
    return s && *s && *end == '\0' ? v : NAN;
}

static void field_str(const struct store_reply *kv, const char *name, char *buf, size_t len)
{
    const char *s = hash_field(kv, name);
    snprintf(buf, len, "%s", s ? s : "");
}

/* A vehicle's stored report (a pos hash or a feed entry) into *v; false
 * (logged) when incomplete. */
static bool stored_report(struct api_transit *at, const char *id, const struct store_reply *kv,
                          struct gtfsrt_vehicle *v)
{
    char qid[2 * sizeof v->vehicle_id + 3];       /* ids from Redis, quoted in logs */
    gtfsrt_vehicle_init(v);
    snprintf(v->vehicle_id, sizeof v->vehicle_id, "%s", id);
    field_str(kv, "entity_id", v->entity_id, sizeof v->entity_id);
    field_str(kv, "trip_id", v->trip_id, sizeof v->trip_id);
    field_str(kv, "route_id", v->route_id, sizeof v->route_id);
    field_str(kv, "start_date", v->start_date, sizeof v->start_date);
    field_str(kv, "start_time", v->start_time, sizeof v->start_time);
    field_str(kv, "label", v->label, sizeof v->label);
    double ts = field_num(kv, "ts");
    v->lon = field_num(kv, "lon");
    v->lat = field_num(kv, "lat");
    v->bearing = field_num(kv, "bearing");
    v->speed = field_num(kv, "speed");
    if (!(ts > 0 && ts <= GTFSRT_TS_MAX) || isnan(v->lon) || isnan(v->lat)) {
        log_warn(&at->a->log, "transit_restore_skipped", "vehicle=%s reason=incomplete",
                 log_quote(qid, sizeof qid, id));
        return false;
    }
    v->timestamp = (uint64_t)ts;
    return true;
}

/* A stored report into registry t; false when skipped. */
static bool restore_vehicle(struct api_transit *at, struct transit *t,
                            const struct gtfsrt_vehicle *v)
{
    char qid[2 * sizeof v->vehicle_id + 3], qe[512];
    char err[256];
    double ts = (double)v->timestamp, now = fmax(app_now(at->a), ts);
    enum transit_result res = transit_restore(t, v, now, err, sizeof err);
    if (res == TRANSIT_REJECTED)
        log_warn(&at->a->log, "transit_restore_skipped", "vehicle=%s reason=%s",
                 log_quote(qid, sizeof qid, v->vehicle_id), log_quote(qe, sizeof qe, err));
    if (res != TRANSIT_ACCEPTED)
        return false;                   /* (outdated: memory has it already) */
    at->changes++;
    app_saw_ts(at->a, ts);
    return true;
}

/* What the process that took the vehicle's last report made of it (a
 * "state" field, of a hash or a feed entry, read with the report there),
 * adopted when it is for the report the vehicle is at. An unreadable one
 * (another version, during a rolling upgrade) leaves the vehicle as this
 * process matched the report. */
static void adopt_state(struct api_transit *at, struct transit *t,
                        const struct gtfsrt_vehicle *v, const struct store_reply *kv)
{
    size_t len = 0;
    const char *state = reply_field(kv, "state", &len);
    int rc = state != NULL && len > 0 ? transit_state_adopt(t, v, state, len) : 0;
    if (rc > 0)
        at->changes++;
    if (rc < 0) {
        char qid[2 * GTFSRT_ID + 3];
        log_warn(&at->a->log, "transit_state_skipped", "vehicle=%s reason=unreadable",
                 log_quote(qid, sizeof qid, v->vehicle_id));
    }
}

static void vehicle_cb(struct restore *r, const char *id, const struct store_reply *kv)
{
    struct api_transit *at = r->arg;
    bool live = r->mode == RESTORE_REREAD;
    struct transit *t = live ? at->t : at->rt;
    struct gtfsrt_vehicle v;
    if (store_reply_len(kv) == 0 || !stored_report(at, id, kv, &v))
        return;
    if (restore_vehicle(at, t, &v))
        at->n_restored += !live;
    adopt_state(at, t, &v, kv);
}

static void vehicle_read(struct restore *r, const char *id)
{
    char key[KEY_MAX];
    const char *argv[] = {"HGETALL", keys_vehicle(key, sizeof key, id, "pos")};
    restore_cmd(r, vehicle_cb, id, 2, argv);
}

/* One entry of the learning history (see persist_obs). */
static bool restore_obs(struct api_transit *at, const struct store_reply *kv)
{
    struct transit_obs o = {0};
    const char *kind = hash_field(kv, "k");
    o.kind = kind && strcmp(kind, "d") == 0 ? TRANSIT_OBS_DEPARTURE : TRANSIT_OBS_SEGMENT;
    field_str(kv, "f", o.from_stop, sizeof o.from_stop);
    field_str(kv, "t", o.to_stop, sizeof o.to_stop);
    field_str(kv, "r", o.route_id, sizeof o.route_id);
    o.sched_s = field_num(kv, "s");
    o.ts = field_num(kv, "ts");
    o.duration_s = field_num(kv, "d");
    o.late_s = field_num(kv, "l");
    if (!isfinite(o.ts) || !isfinite(o.duration_s) || o.from_stop[0] == '\0')
        return false;
    if (!isfinite(o.sched_s))
        o.sched_s = 0;
    transit_observe(at->rt, &o);
    return true;
}

static void restore_segments(struct restore *r, const char *after);

/* One page of the learning history, oldest first. */
static void segments_cb(struct restore *r, const char *unused, const struct store_reply *reply)
{
    struct api_transit *at = r->arg;
    size_t n = store_reply_len(reply);
    char last[64] = "";
    for (size_t i = 0; i < n; i++) {
        const struct store_reply *e = store_reply_at(reply, i);
        const char *id = store_reply_str(store_reply_at(e, 0), NULL);
        if (restore_obs(at, store_reply_at(e, 1)))
            at->n_segs++;
        if (id)
            snprintf(last, sizeof last, "(%s", id);
    }
    if (n == RESTORE_PAGE && last[0])
        restore_segments(r, last);
}

static void restore_segments(struct restore *r, const char *after)
{
    char key[KEY_MAX], count[16];
    snprintf(count, sizeof count, "%d", RESTORE_PAGE);
    const char *argv[] = {"XRANGE", keys_city(key, sizeof key, "transit:segments"), after, "+",
                          "COUNT", count};
    restore_cmd(r, segments_cb, NULL, 6, argv);
}

static bool restore_step(struct restore *r, int k)
{
    struct api_transit *at = r->arg;
    if (k == 0) {
        at->n_segs = at->n_restored = 0;
        transit_free(at->rt);
        if ((at->rt = transit_new(at->feed, &at->params)) == NULL)
            restore_failed(r, "out of memory");
        else
            restore_segments(r, "-");
        pfeed_heads(&at->pf, r);
    } else if (k == 1) {
        char key[KEY_MAX];
        for (unsigned i = 0; i < KEYS_PARTS; i++)
            restore_scan(r, keys_part_key(key, sizeof key, i, "transit:vehicles"), vehicle_read);
    }
    return k <= 1;
}

static void restore_done(struct restore *r)
{
    struct api_transit *at = r->arg;
    size_t pos = 0;
    const char *id;
    void *v;
    char err[256];
    while (at->taken != NULL && dict_next(at->taken, &pos, &id, &v)) {
        const struct gtfsrt_vehicle *tv = v;        /* newer-only, as any report */
        size_t len = 0;
        char *state = transit_state_pack(at->t, tv, &len);     /* what this process shared */
        transit_restore(at->rt, tv, fmax(app_now(at->a), (double)tv->timestamp), err, sizeof err);
        if (state != NULL)
            transit_state_adopt(at->rt, tv, state, len);
        free(state);
    }
    if (at->taken != NULL)
        dict_free(at->taken, free);
    at->taken = NULL;
    transit_free(at->t);
    at->t = at->rt;
    at->rt = NULL;
    at->a->transit = at->t;
    at->changes++;
    log_info(&at->a->log, "transit_restored", "vehicles=%zu segments=%zu", at->n_restored,
             at->n_segs);
}

static const struct restore_ops RESTORE_OPS = {"transit", restore_step, restore_done,
                                               vehicle_read};

/* Vehicles silent for transit.forget_after_s leave the registry (the
 * Redis copy stays, for history; a restart restores and forgets it again). */
static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    struct api_transit *at = arg;
    (void)fd;
    (void)what;
    if (at->lt.stopped || !restore_ready(&at->rs) || at->t == NULL)
        return;
    size_t n = transit_evict(at->t, app_now(at->a) - (double)at->a->cfg.transit_forget_after_s);
    at->changes += n;
    if (n > 0)
        log_info(&at->a->log, "transit_vehicles_forgotten", "count=%zu left=%zu", n,
                 transit_vehicle_count(at->t));
}


/* ---- life cycle ---- */

/* The feed folder, and whether it was configured explicitly. */
static const char *gtfs_dir(const struct app *a, char *buf, size_t len, bool *explicit_dir)
{
    *explicit_dir = a->cfg.transit_gtfs_dir[0] != '\0';
    return config_gtfs_dir(&a->cfg, buf, len);
}

static bool dir_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A feed with no trip today (wall clock, in the agency's zone) serves
 * timetables and no bus: a calendar that has ended, or one not begun. Say
 * so loudly at start, with the feed's last service day. */
static void warn_no_service(struct app *a, const struct gtfs *f, const char *dir)
{
    int64_t today = tz_local_day(f->tz, (int64_t)app_wall_now());
    if (gtfs_trips_on(f, today) > 0)
        return;
    int y, m, d, ly = 0, lm = 0, ld = 0;
    tz_civil_from_days(today, &y, &m, &d);
    int64_t last = gtfs_last_service_day(f);
    if (last != INT64_MIN)
        tz_civil_from_days(last, &ly, &lm, &ld);
    char q[2 * (CONFIG_PATH_MAX + 16) + 3];
    log_warn(&a->log, "gtfs_no_service_today",
             "dir=%s today=%04d-%02d-%02d last_service_day=%04d-%02d-%02d message=\"NO BUS RUNS "
             "TODAY: the feed's calendar has no trip on this date (extend calendar.txt / "
             "calendar_dates.txt)\"", log_quote(q, sizeof q, dir), y, m, d, ly, lm, ld);
}

/* The GTFS feed and the registry built on it (none without a feed). */
static int load_feed(struct app *a, struct api_transit *at, char *err, size_t errlen)
{
    char dir[CONFIG_PATH_MAX + 16];
    bool explicit_dir;
    gtfs_dir(a, dir, sizeof dir, &explicit_dir);
    if (!dir_exists(dir)) {
        if (explicit_dir) {
            snprintf(err, errlen, "transit.gtfs_dir %s: no such directory", dir);
            return -1;
        }
        log_info(&a->log, "transit_disabled", "reason=\"no GTFS feed\" dir=%s", dir);
        return 0;
    }
    char e[512];
    at->feed = gtfs_load(dir, e, sizeof e);
    if (at->feed == NULL) {
        snprintf(err, errlen, "GTFS %s/%s; run cityd --check", dir, e);
        return -1;
    }
    for (size_t i = 0; i < at->feed->n_issues; i++) {
        const struct gtfs_issue *is = &at->feed->issues[i];
        char q[200], qf[2 * (CONFIG_PATH_MAX + 64) + 3], path[CONFIG_PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/%s", dir, is->file);
        log_warn(&a->log, "gtfs_problem", "file=%s line=%ld message=%s",
                 log_quote(qf, sizeof qf, path), is->line, log_quote(q, sizeof q, is->msg));
    }
    at->t = transit_new(at->feed, &at->params);
    if (at->t == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    a->transit = at->t;
    log_info(&a->log, "gtfs_loaded", "dir=%s stops=%zu routes=%zu trips=%zu problems=%zu", dir,
             at->feed->n_stops, at->feed->n_routes, at->feed->n_trips,
             at->feed->n_issues_total);
    warn_no_service(a, at->feed, dir);
    return 0;
}

static const struct module_route ROUTES[] = {
    {HTTP_POST, "/v1/transit/vehicle-positions", ROLE_SENSOR, false, h_positions},
    {HTTP_GET, "/v1/transit/vehicles", ROLE_READER, true, h_vehicles},
    {HTTP_GET, "/v1/transit/vehicles/{id}", ROLE_READER, true, h_vehicle},
    {HTTP_GET, "/v1/transit/stops/nearest", ROLE_READER, true, h_stops_nearest},
    {HTTP_GET, "/v1/transit/stops/{stop_id}/arrivals", ROLE_READER, true, h_arrivals},
    {HTTP_GET, "/v1/transit/trip-updates", ROLE_READER, true, h_trip_updates},
};

/* A report another cityd took (pfeed.h): applied as a restored one. */
static void feed_entry(void *arg, unsigned part, const struct store_reply *kv)
{
    struct api_transit *at = arg;
    const char *veh = reply_field(kv, "veh", NULL);
    struct gtfsrt_vehicle v;
    (void)part;
    if (veh == NULL || at->t == NULL || !stored_report(at, veh, kv, &v))
        return;
    restore_vehicle(at, at->t, &v);
    adopt_state(at, at->t, &v, kv);
}

static void feed_gap(void *arg, unsigned part)
{
    struct api_transit *at = arg;
    log_warn(&at->a->log, "transit_feed_gap", "part=%u", part);
    restore_again(&at->rs);
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
    struct api_transit *at = arg;
    (void)fd;
    (void)what;
    if (restore_ready(&at->rs) && !restore_syncing(&at->rs))
        pfeed_poll(&at->pf);
}

static int start(struct app *a, char *err, size_t errlen)
{
    struct api_transit *at = calloc(1, sizeof *at);
    if (at == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    at->a = a;
    a->transit_api = at;
    transit_params_default(&at->params);
    at->params.stale_after_s = (double)a->cfg.transit_stale_after_s;
    at->params.early_s = (double)a->cfg.transit_early_margin_s;
    at->params.early_frac = (double)a->cfg.transit_early_margin_pct / 100.0;
    at->params.forget_after_s = (double)a->cfg.transit_forget_after_s;
    at->params.max_vehicles = (size_t)a->cfg.transit_max_vehicles;
    /* Replayed recordings are in the past of the wall clock, and "now"
     * is the latest of them: no report is from the future. */
    if (a->cfg.clock_mode == CLOCK_REPLAY)
        at->params.future_tolerance_s = INFINITY;
    struct metrics *m = a->metrics;
    const char *help = "GTFS-realtime vehicle positions posted, by result";
    at->m_accepted = metrics_series(m, METRIC_COUNTER, "cityd_transit_positions_total", help,
                                    "result=\"accepted\"");
    at->m_outdated = metrics_series(m, METRIC_COUNTER, "cityd_transit_positions_total", help,
                                    "result=\"outdated\"");
    at->m_rejected = metrics_series(m, METRIC_COUNTER, "cityd_transit_positions_total", help,
                                    "result=\"rejected\"");
    struct timeval every = {SWEEP_S, 0}, poll = {0, POLL_MS * 1000};
    pfeed_init(&at->pf, a, &at->lt, "transit", app_origin(at->a), feed_entry, NULL, feed_gap, at);
    if (restore_init(&at->rs, a, &at->lt, &RESTORE_OPS, at) != 0 ||
        (at->poll = event_new(a->base, -1, EV_PERSIST, on_poll, at)) == NULL ||
        event_add(at->poll, &poll) != 0 ||
        (at->write_script = store_script_new(a->store, WRITE_SCRIPT)) == NULL ||
        (at->sweep = event_new(a->base, -1, EV_PERSIST, on_sweep, at)) == NULL ||
        event_add(at->sweep, &every) != 0) {
        snprintf(err, errlen, "transit: out of memory");
        return -1;
    }
    if (load_feed(a, at, err, errlen) != 0 ||
        module_routes(a->http, "transit", ROUTES, sizeof ROUTES / sizeof ROUTES[0], at, err,
                      errlen) != 0)
        return -1;
    if (at->feed != NULL)
        restore_begin(&at->rs);          /* without a feed there is nothing to restore */
    return 0;
}

static bool ready(const struct app *a)
{
    const struct api_transit *at = a->transit_api;
    return at != NULL && (at->feed == NULL || restore_ready(&at->rs));
}

static void stop(struct app *a)
{
    struct api_transit *at = a->transit_api;
    if (at == NULL)
        return;
    at->lt.stopped = true;
    restore_stop(&at->rs);
    if (at->sweep)
        event_free(at->sweep);
    at->sweep = NULL;
    if (at->poll)
        event_free(at->poll);
    at->poll = NULL;
}

static void transit_module_free(struct app *a)
{
    struct api_transit *at = a->transit_api;
    if (at == NULL)
        return;
    lifetime_check(&at->lt, a, "transit");
    at_free(at);
    a->transit = NULL;
    a->transit_api = NULL;
}

const struct api_module api_transit_module = {"transit", start, stop, transit_module_free, ready};

int api_transit_check(const struct app *a)
{
    char dir[CONFIG_PATH_MAX + 16], e[512];
    bool explicit_dir;
    gtfs_dir(a, dir, sizeof dir, &explicit_dir);
    if (!dir_exists(dir)) {
        if (!explicit_dir)
            return 0;
        fprintf(stderr, "transit.gtfs_dir %s: no such directory\n", dir);
        return 1;
    }
    struct gtfs *f = gtfs_load(dir, e, sizeof e);
    if (f == NULL) {
        fprintf(stderr, "%s/%s\n", dir, e);
        return 1;
    }
    for (size_t i = 0; i < f->n_issues; i++)
        fprintf(stderr, "%s/%s:%ld: %s\n", dir, f->issues[i].file, f->issues[i].line,
                f->issues[i].msg);
    if (f->n_issues_total > f->n_issues)
        fprintf(stderr, "%s: %zu more GTFS problem(s) not shown\n", dir,
                f->n_issues_total - f->n_issues);
    int n = (int)f->n_issues_total;
    gtfs_free(f);
    return n;
}
