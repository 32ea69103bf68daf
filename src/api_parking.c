/* api_parking.c -- api.md §2 availability endpoints, their Redis
 * persistence, and the change feed that keeps several cityd coherent.
 *
 * Endpoints: PUT/GET /v1/parking/lots/{id}, GET /v1/parking/lots?bbox=,
 * POST /v1/parking/observations, GET /v1/parking/nearest,
 * GET /v1/parking/lots/{id}/bays, GET /v1/parking/screens/{id},
 * GET /v1/parking/stream (Server-Sent Events). Reads are answered from
 * memory (parking.h, spindex.h); writes are durable in Redis before the
 * reply and applied to memory when Redis has accepted them.
 *
 * Redis layout (keys.h; a lot lives in partition P = keys_part(X), whose
 * hash tag {p:NN} all these keys carry):
 *   cityd:{p:NN}:lot:X:state     HASH available, count_ts, flags
 *   cityd:{p:NN}:lot:X:bays      HASH bay -> "status\x1fts\x1fplate"
 *   cityd:{p:NN}:lot:X:history   STREAM, the last retention.lot_history_s
 *                           before the newest entry (ids are observation
 *                           times: retention.h), at most
 *                           parking.history_max entries (MAXLEN ~): one
 *                           entry per write, field "obs" =
 *                           records "bay\x1fvalue\x1fts" joined by \x1e (bay
 *                           empty for a lot count; never a plate)
 *   cityd:{p:NN}:lot:X:def       STRING, the lot definition of the last PUT
 *   cityd:{p:NN}:lot:X:seen:hN   HASH of the observation ids written in hour N
 *                           (idempotency; a TTL keeps two hours)
 *   cityd:{p:NN}:parking:defs     SET of the partition's lots defined by PUT
 *   cityd:{p:NN}:parking:changes  STREAM, the partition's change feed (capped)
 *   cityd:{p:NN}:parking:seq      counter numbering its entries
 * So one script writes a lot's state and its partition's feed entry
 * atomically, also under Redis Cluster, and a request is at most
 * KEYS_PARTS transactions (slotbatch.h).
 *
 * Writes. Observations are validated in memory (shape, unknown lot or bay,
 * clock skew), grouped by lot, and each group goes to Redis as one Lua
 * script that, per observation and atomically: records the id in the
 * lot's hourly id set (already there, this hour or the last: a
 * `duplicate`; so ids are remembered for one to two hours, restarts
 * included), compares ts with the stored one (older: `outdated`), and
 * keeps the newest state; then it writes the state, appends one history
 * entry and one change-feed entry with everything it applied. The reply
 * is built when every group has answered; the groups of one partition
 * are one transaction, and if any transaction could not reach Redis the
 * whole request answers 503 and the client retries it -- what did commit
 * (other partitions, applied to memory too) then comes back as
 * duplicates.
 *
 * Coherence. Every cityd polls the feeds of all partitions (one XREAD
 * without BLOCK per partition every 100 ms: the store shares one
 * connection, which rules out SUBSCRIBE and blocking reads, and under
 * Redis Cluster a command reads one slot) and applies the entries of other
 * processes with the same ordering rules, so all processes converge
 * within ~100 ms plus a round trip. Feed entries are numbered per
 * partition by an INCR inside the same scripts, so a gap (feed trimmed
 * past us, Redis lost data, a restarted empty Redis) is detected and
 * answered by a resync: the rebuild that also runs at start (feed heads,
 * then PUT definitions, then every lot's state and bays; the module's
 * restore, module.h). The order of entries across partitions is not
 * meaningful: a lot's entries are all in its partition. Until the first rebuild
 * completes the parking endpoints answer 503 rather than serve an empty
 * state. A write whose outcome is unknown (a store timeout) answers 503
 * store_timeout and its lots are re-read once Redis answers, so memory
 * ends up as a restart would restore it.
 *
 * Cars. An applied bay state that is an arrival (parking_change.
 * bay_arrival) goes to the sessions (api_sessions_bay_occupied), which
 * link it to a session in Redis; the reply waits for those links too, so
 * a find-car after the reply finds the car, after any restart (while the
 * sessions are not loaded yet, such a link fails: 503). Arrivals
 * applied from other processes' feed entries link nothing here: the
 * process that took the observation did (sessions have one owning
 * process per Redis, api_sessions.h).
 *
 * Streams. SSE subscribers are kept in a list with their box and a set
 * of lots still to send (their snapshot, then changes); every applied
 * change marks its lot dirty and after each batch (ingest, feed poll,
 * PUT) each dirty lot joins the set of the subscribers whose box holds
 * it. A set is written a page at a time as the client reads, each lot at
 * its state of that moment, so a slow client costs a page or two and a
 * bit per lot, never the backlog of its events (see "SSE" below). Streams
 * are capped per caller and in all, and memory per stream and in total,
 * the kernel's send queues included. */
#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_apps.h"
#include "api_sessions.h"
#include "app.h"
#include "dict.h"
#include "geo.h"
#include "geojson.h"
#include "http.h"
#include "keys.h"
#include "lotdef.h"
#include "map.h"
#include "metrics.h"
#include "module.h"
#include "params.h"
#include "parking.h"
#include "pfeed.h"
#include "retention.h"
#include "slotbatch.h"
#include "store.h"
#include "tariff.h"

#define POLL_MS 100
#define COMPACT_TICKS 10                /* lot index packed once a second */
#define SEEN_BUCKET_S 3600             /* ids are remembered for 1 to 2 of these */
#define GROUP_MAX 1000                 /* observations per script call */
#define OBS_ARG_MAX (2 * PARKING_ID_MAX + PARKING_PLATE_MAX + 80)   /* one packed item */
#define TS_SKEW_S 300.0                /* ts may run this far ahead of the wall clock */
#define LIMIT_MAX 100
#define RADIUS_MAX_M 50000.0
#define JSON_CT "application/json; charset=utf-8"

/* ---- Lua ---- */

/* One lot's observations, in order, with the verdicts sequential
 * processing would give. KEYS: state, bays, history, changes, seq, seen
 * (this hour), seen (last hour). ARGV: seen ttl, the history's seconds
 * kept (retention.lot_history_s; 0: no history), the feed's (pfeed_keep),
 * origin, lot, the history's entries kept at most (parking.history_max),
 * then one per observation:
 * "id\x1fbay\x1fvalue\x1fts\x1fplate\x1fflags" (bay '' for a lot count;
 * none of the fields can hold a control character). Returns one verdict
 * per observation: ok / dup / old. Redis work is per group, not per
 * observation, where it can be: one HMGET of the stored bay states, one
 * HSET of the results, one history entry and one feed entry holding every
 * applied observation ("bay\x1fvalue\x1fts[\x1fplate\x1fflags]" joined by
 * \x1e; the history leaves plates out). */
static const char OBS_SCRIPT[] =
    RETENTION_LUA_XADD_AT
    "local obs, ids, bays, seen, cur = {}, {}, {}, {}, {}\n"
    "for i = 7, #ARGV do\n"
    "  local o = {string.match(ARGV[i],"
    " '^([^\\31]*)\\31([^\\31]*)\\31([^\\31]*)\\31([^\\31]*)\\31([^\\31]*)\\31([^\\31]*)$')}\n"
    "  obs[#obs + 1] = o\n"
    "  ids[#ids + 1] = o[1]\n"
    "  local b = o[2]\n"
    "  if b ~= '' and not seen[b] then seen[b] = true; bays[#bays + 1] = b end\n"
    "end\n"
    "local known, known2 = redis.call('HMGET', KEYS[6], unpack(ids)),"
    " redis.call('HMGET', KEYS[7], unpack(ids))\n"
    "local fresh, newids = {}, {}\n"
    "if #bays > 0 then\n"
    "  local v = redis.call('HMGET', KEYS[2], unpack(bays))\n"
    "  for j = 1, #bays do\n"
    "    cur[bays[j]] = v[j] and tonumber(string.match(v[j], '^[^\\31]*\\31([^\\31]*)'))\n"
    "  end\n"
    "end\n"
    "local cts = tonumber(redis.call('HGET', KEYS[1], 'count_ts'))\n"
    "local out, rec, hrec, set, count, hts = {}, {}, {}, {}, nil, 0\n"
    "for i, o in ipairs(obs) do\n"
    "  local id, bay, val, ts, plate, flags = o[1], o[2], o[3], o[4], o[5], o[6]\n"
    "  local t, v = tonumber(ts), 'ok'\n"
    "  if known[i] or known2[i] or fresh[id] then\n"
    "    v = 'dup'\n"
    "  elseif bay == '' then\n"
    "    if cts and t < cts then v = 'old' else cts = t; count = {val, ts, flags} end\n"
    "  elseif cur[bay] and t < cur[bay] then\n"
    "    v = 'old'\n"
    "  else\n"
    "    cur[bay] = t\n"
    "    set[bay] = val .. '\\31' .. ts .. '\\31' .. plate\n"
    "  end\n"
    "  if v ~= 'dup' then fresh[id] = true; newids[#newids + 1] = id; newids[#newids + 1] = '1' end\n"
    "  out[i] = v\n"
    "  if v == 'ok' then\n"
    "    rec[#rec + 1] = bay .. '\\31' .. val .. '\\31' .. ts .. '\\31' .. plate .. '\\31' .. flags\n"
    "    hrec[#hrec + 1] = bay .. '\\31' .. val .. '\\31' .. ts\n"
    "    hts = math.max(hts, t)\n"
    "  end\n"
    "end\n"
    "if #newids > 0 then redis.call('HSET', KEYS[6], unpack(newids)) end\n"
    "redis.call('EXPIRE', KEYS[6], ARGV[1])\n"
    "if #rec == 0 then return out end\n"
    "if count then\n"
    "  redis.call('HSET', KEYS[1], 'available', count[1], 'count_ts', count[2], 'flags', count[3])\n"
    "end\n"
    "local hs = {}\n"
    "for b, v in pairs(set) do hs[#hs + 1] = b; hs[#hs + 1] = v end\n"
    "if #hs > 0 then redis.call('HSET', KEYS[2], unpack(hs)) end\n"
    "if ARGV[2] ~= '0' then\n"
    "  xadd_at(KEYS[3], math.floor(hts * 1000), tonumber(ARGV[2]) * 1000,"
    " 'obs', table.concat(hrec, '\\30'))\n"
    "  redis.call('XTRIM', KEYS[3], 'MAXLEN', '~', ARGV[6])\n"
    "end\n"
    "local s = redis.call('INCR', KEYS[5])\n"
    "redis.call('XADD', KEYS[4], " PFEED_LUA_TRIM("ARGV[3]") ", '*', 'seq', s, 'origin', ARGV[4],"
    " 'lot', ARGV[5], 'obs', table.concat(rec, '\\30'))\n"
    "return out\n";

/* KEYS (all of the lot's partition): def, defs set, changes, seq. ARGV:
 * lot, definition JSON, origin, the feed's seconds kept (pfeed_keep). */
static const char DEF_SCRIPT[] =
    "redis.call('SET', KEYS[1], ARGV[2])\n"
    "redis.call('SADD', KEYS[2], ARGV[1])\n"
    "local s = redis.call('INCR', KEYS[4])\n"
    "redis.call('XADD', KEYS[3], " PFEED_LUA_TRIM("ARGV[4]") ", '*', 'seq', s, 'origin', ARGV[3],"
    " 'lot', ARGV[1], 'def', ARGV[2])\n"
    "return s\n";

/* ---- state ---- */

struct lotset {
    uint64_t *w, *sum;
    size_t nw;                         /* words in w, a multiple of 64 */
    size_t n;                          /* members */
};

struct sse_sub {
    struct api_parking *ap;
    struct http_req *req;
    double bb[4];                      /* minlon, minlat, maxlon, maxlat (request crs) */
    bool gcj02;
    struct lotset pending;             /* lots to send: the snapshot's rest, changes since */
    uint32_t cursor;                   /* where sending pending lots goes on */
    size_t sent;                       /* bytes handed to the stream in all */
    size_t unsent, delivered;          /* at the last sse_budget */
    size_t progress;                   /* bytes delivered between the last two */
    char caller[128];                  /* http_req_caller, for the per-caller cap */
    bool broken;                       /* lost track of a lot (no memory): drop it */
    struct sse_sub *prev, *next;
};

struct api_parking {
    struct app *a;
    struct parking *p;
    unsigned ticks;                    /* of on_tick */
    struct lifetime lt;
    struct restore rs;                 /* rebuild from Redis, re-reads */
    struct pfeed feed;                 /* change feeds, one per partition */
    struct store_script *obs_script, *def_script;
    struct event *tick, *heartbeat;
    /* SSE */
    struct sse_sub *subs;
    size_t nsubs;
    uint32_t *dirty;
    size_t ndirty, capdirty;
    uint32_t *dirty_mark;              /* by lot handle: place in dirty + 1, or 0 */
    size_t capmark;
    bool sse_lost;                     /* a change could not be marked */
    struct sse_cache *cache;           /* during sse_flush */
    struct parking_buf page;           /* a stream's next page, reused (sse_pump) */
    struct parking_buf out;            /* nearest's reply, reused (reply_out) */
    /* metrics */
    struct metric *m_accepted, *m_dup, *m_outdated, *m_rejected, *m_streams, *m_resyncs;
    struct metric *m_stream_drops, *m_stream_bytes;
};

static void api_release(struct api_parking *ap);
static void sse_flush(struct api_parking *ap);
static void reread_if_unknown(struct api_parking *ap, enum store_status st, const char *what,
                              const char *lot);

/* ---- small helpers ---- */

static const char *defs_key(char *buf, unsigned part)
{
    return keys_part_key(buf, KEY_MAX, part, "parking:defs");
}

/* 503 until the state is rebuilt from Redis. */
static bool not_ready(struct api_parking *ap, struct http_req *req)
{
    if (restore_ready(&ap->rs))
        return false;
    http_reply_unavailable(req);
    return true;
}

static void reply_buf(struct http_req *req, int status, struct parking_buf *b)
{
    if (b->oom)
        http_reply_error(req, 500, "internal", "out of memory");
    else
        http_reply_raw(req, status, JSON_CT, b->data, b->len);
    free(b->data);
}

/* Reply with ap->out and empty it for the next request. The buffer is
 * kept (http_reply_raw copies it), so a query allocates nothing here;
 * past OUT_KEEP bytes it is let go so one large reply does not stay. */
#define OUT_KEEP (64u * 1024)
static void reply_out(struct api_parking *ap, struct http_req *req)
{
    struct parking_buf *b = &ap->out;
    if (b->oom)
        http_reply_error(req, 500, "internal", "out of memory");
    else
        http_reply_raw(req, 200, JSON_CT, b->data, b->len);
    b->len = 0;
    if (b->oom || b->cap > OUT_KEEP) {
        free(b->data);
        *b = (struct parking_buf){0};
    }
}

static bool in_box(const double bb[4], double lon, double lat)
{
    bool lon_ok = bb[0] <= bb[2] ? lon >= bb[0] && lon <= bb[2] : lon >= bb[0] || lon <= bb[2];
    return lon_ok && lat >= bb[1] && lat <= bb[3];
}

/* A lot's position in a request's crs. */
static struct geo_pt lot_pos(const struct parking_lot *l, bool gcj02)
{
    struct geo_pt pt = l->loc;
    if (gcj02)
        geo_wgs84_to_gcj02(pt.lon, pt.lat, &pt.lon, &pt.lat);
    return pt;
}

/* The WGS84 box to search for a box given in GCJ-02: the GCJ-02 offset is
 * under a kilometre and smooth, so the converted corners widened by 0.02
 * degrees hold every candidate; the exact test is then done in GCJ-02. */
static void wgs_search_box(const double bb[4], bool gcj02, double out[4])
{
    memcpy(out, bb, 4 * sizeof *out);
    if (!gcj02)
        return;
    geo_gcj02_to_wgs84(bb[0], bb[1], &out[0], &out[1]);
    geo_gcj02_to_wgs84(bb[2], bb[3], &out[2], &out[3]);
    out[0] = fmax(out[0] - 0.02, -180);
    out[1] = fmax(out[1] - 0.02, -90);
    out[2] = fmin(out[2] + 0.02, 180);
    out[3] = fmin(out[3] + 0.02, 90);
}

/* ---- lot definitions (PUT bodies) ---- */

/* A PUT body, parsed; strings owned. */
struct lot_def {
    struct map_lot lot;
    struct map_bay *bays;
    size_t nbays;
    bool closed;
};

static void def_free(struct lot_def *d)
{
    lotdef_clear(&d->lot);
    for (size_t i = 0; i < d->nbays; i++) {
        free(d->bays[i].id);
        free(d->bays[i].level);
    }
    free(d->bays);
    memset(d, 0, sizeof *d);
}

/* Optional id member of a bay (lotdef.h's id rule); "" or a non-string
 * is an error. */
static int def_id(const json_t *o, const char *key, const char *field, bool required,
                  char **out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(o, key);
    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        if (!required)
            return 0;
        snprintf(err, errlen, "%s: required, a non-empty string", field);
        return -1;
    }
    if (!json_is_string(v) || json_string_length(v) == 0) {
        snprintf(err, errlen, "%s: must be a non-empty string", field);
        return -1;
    }
    if (lotdef_check_id(field, json_string_value(v), err, errlen) != 0)
        return -1;
    *out = strdup(json_string_value(v));
    if (*out == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int def_position(const json_t *c, bool gcj02, struct geo_pt *pt)
{
    if (!json_is_array(c) || json_array_size(c) < 2 || !json_is_number(json_array_get(c, 0)) ||
        !json_is_number(json_array_get(c, 1)))
        return -1;
    pt->lon = json_number_value(json_array_get(c, 0));
    pt->lat = json_number_value(json_array_get(c, 1));
    if (!geo_valid_lonlat(pt->lon, pt->lat))
        return -1;
    if (gcj02)
        geo_gcj02_to_wgs84(pt->lon, pt->lat, &pt->lon, &pt->lat);
    return 0;
}

/* GeoJSON Point, or Polygon (outer ring's centroid). */
static int def_location(struct geo *g, const json_t *loc, const char *field, bool polygon_ok,
                        bool gcj02, struct geo_pt *out, char *err, size_t errlen)
{
    const char *type = json_string_value(json_object_get(loc, "type"));
    const json_t *coords = json_object_get(loc, "coordinates");
    if (type != NULL && strcmp(type, "Point") == 0) {
        if (def_position(coords, gcj02, out) == 0)
            return 0;
        snprintf(err, errlen, "%s: Point coordinates must be [lon, lat] in range", field);
        return -1;
    }
    if (!polygon_ok || type == NULL || strcmp(type, "Polygon") != 0 || g == NULL) {
        snprintf(err, errlen, "%s: must be a GeoJSON Point%s", field,
                 polygon_ok ? " or Polygon" : "");
        return -1;
    }
    const json_t *ring = json_array_get(coords, 0);
    size_t n = json_array_size(ring);
    struct geo_pt *pts = n > 0 ? malloc(n * sizeof *pts) : NULL;
    int rc = -1;
    for (size_t i = 0; pts != NULL && i < n; i++) {
        if (def_position(json_array_get(ring, i), gcj02, &pts[i]) != 0) {
            snprintf(err, errlen, "%s: Polygon position %zu must be [lon, lat] in range", field,
                     i);
            goto out;
        }
    }
    if (pts == NULL || geo_polygon_centroid(g, pts, n, out) != 0)
        snprintf(err, errlen, "%s: Polygon has no centroid (%s)", field,
                 pts == NULL ? "no outer ring" : geo_last_error(g));
    else
        rc = 0;
out:
    free(pts);
    return rc;
}

static int def_bays(struct geo *g, const json_t *body, bool gcj02, struct lot_def *d, char *err,
                    size_t errlen)
{
    const json_t *v = json_object_get(body, "bays");
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_array(v)) {
        snprintf(err, errlen, "bays: must be an array of bays ({\"id\",\"level\",\"location\"})");
        return -1;
    }
    size_t n = json_array_size(v);
    if (n == 0)
        return 0;
    if ((d->bays = calloc(n, sizeof *d->bays)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    d->nbays = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, i);
        struct map_bay *b = &d->bays[i];
        char field[48];
        b->pt.lon = b->pt.lat = NAN;
        snprintf(field, sizeof field, "bays[%zu].id", i);
        if (json_is_string(e)) {            /* a bare id */
            if (lotdef_check_id(field, json_string_value(e), err, errlen) != 0)
                return -1;
            if ((b->id = strdup(json_string_value(e))) == NULL)
                goto oom;
            continue;
        }
        if (!json_is_object(e)) {
            snprintf(err, errlen, "bays[%zu]: must be an object or an id", i);
            return -1;
        }
        if (def_id(e, "id", field, true, &b->id, err, errlen) != 0)
            return -1;
        snprintf(field, sizeof field, "bays[%zu].level", i);
        if (def_id(e, "level", field, false, &b->level, err, errlen) != 0)
            return -1;
        const json_t *loc = json_object_get(e, "location");
        snprintf(field, sizeof field, "bays[%zu].location", i);
        if (loc != NULL && !json_is_null(loc) &&
            def_location(g, loc, field, true, gcj02, &b->pt, err, errlen) != 0)
            return -1;
    }
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

static int def_status(const json_t *body, struct lot_def *d, char *err, size_t errlen)
{
    const json_t *st = json_object_get(body, "status");
    if (st == NULL || json_is_null(st))
        return 0;
    const char *s = json_string_value(st);
    if (s == NULL || (strcmp(s, "open") != 0 && strcmp(s, "closed") != 0)) {
        snprintf(err, errlen, "status: must be \"open\" or \"closed\"");
        return -1;
    }
    d->closed = strcmp(s, "closed") == 0;
    return 0;
}

/* The first problem of a definition, for the reply. */
struct first_problem {
    char *err;
    size_t errlen;
    bool seen;
};

static void keep_first(void *ctx, const char *msg)
{
    struct first_problem *f = ctx;
    if (!f->seen)
        snprintf(f->err, f->errlen, "%s", msg);
    f->seen = true;
}

/* Parse a PUT body for lot `id` (coordinates in GCJ-02 when gcj02): the
 * lot's fields by the rule map lots follow (lotdef.h), then where it
 * stands, its bays and its status. Returns 0, or -1 with "field: message"
 * in err (d is then freed). */
static int def_parse(struct geo *g, const char *id, const json_t *body, bool gcj02,
                     struct lot_def *d, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    const json_t *bid = json_object_get(body, "id");
    if (bid != NULL && !json_is_null(bid) &&
        (!json_is_string(bid) || strcmp(json_string_value(bid), id) != 0)) {
        snprintf(err, errlen, "id: the body's id does not match the path");
        return -1;
    }
    const json_t *loc = json_object_get(body, "location");
    struct first_problem fp = {err, errlen, false};
    int rc = -1;
    if (lotdef_parse(id, body, &d->lot, keep_first, &fp) != 0 ||
        def_status(body, d, err, errlen) != 0)
        goto out;
    if (loc == NULL || json_is_null(loc)) {
        snprintf(err, errlen, "location: required, a GeoJSON Point or Polygon");
        goto out;
    }
    if (def_location(g, loc, "location", true, gcj02, &d->lot.loc, err, errlen) != 0 ||
        def_bays(g, body, gcj02, d, err, errlen) != 0)
        goto out;
    rc = 0;
out:
    if (rc != 0)
        def_free(d);
    return rc;
}

static json_t *json_point(struct geo_pt pt)
{
    return json_pack("{s:s,s:[f,f]}", "type", "Point", "coordinates", pt.lon, pt.lat);
}

static json_t *json_strv(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* The stored form of a definition: the PUT body normalised to WGS84 (so
 * a restore never depends on the crs of the original request). */
static char *def_dump(const struct lot_def *d)
{
    json_t *o = json_pack("{s:s,s:s,s:o,s:i,s:o,s:o,s:s}", "id", d->lot.id, "name",
                          d->lot.name, "location", json_point(d->lot.loc), "totalSpotNumber",
                          d->lot.total, "category", json_strv(d->lot.category, d->lot.ncategory),
                          "levels", json_strv(d->lot.levels, d->lot.nlevels), "status",
                          d->closed ? "closed" : "open");
    json_t *bays = json_array();
    if (o == NULL || bays == NULL) {
        json_decref(o);
        json_decref(bays);
        return NULL;
    }
    if (d->lot.type)
        json_object_set_new(o, "type", json_string(d->lot.type));
    if (d->lot.currency)
        json_object_set_new(o, "priceCurrency", json_string(d->lot.currency));
    if (d->lot.address)
        json_object_set_new(o, "address", json_string(d->lot.address));
    if (d->lot.name_en)
        json_object_set_new(o, "name_en", json_string(d->lot.name_en));
    if (d->lot.opening_hours)
        json_object_set_new(o, "openingHours", json_string(d->lot.opening_hours));
    if (!isnan(d->lot.price_rate_per_hour))
        json_object_set_new(o, "priceRatePerHour", json_real(d->lot.price_rate_per_hour));
    if (d->lot.tariff.present)
        json_object_set_new(o, "tariff", tariff_to_json(&d->lot.tariff));
    for (size_t i = 0; i < d->nbays; i++) {
        const struct map_bay *b = &d->bays[i];
        json_t *e = json_pack("{s:s}", "id", b->id);
        if (e != NULL && b->level != NULL)
            json_object_set_new(e, "level", json_string(b->level));
        if (e != NULL && !isnan(b->pt.lon))
            json_object_set_new(e, "location", json_point(b->pt));
        json_array_append_new(bays, e);
    }
    json_object_set_new(o, "bays", bays);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* Apply a stored definition (rebuild, feed). */
static void def_apply_text(struct api_parking *ap, const char *lot, const char *text, size_t len)
{
    json_error_t je;
    json_t *body = json_loadb(text, len, 0, &je);
    struct lot_def d;
    char err[256], ql[2 * PARKING_ID_MAX + 3], qe[2 * sizeof err + 3];
    if (body == NULL || def_parse(ap->a->map ? ap->a->map->geo : NULL, lot, body, false, &d,
                                  err, sizeof err) != 0) {
        log_warn(&ap->a->log, "parking_bad_def", "lot=%s error=%s", log_quote(ql, sizeof ql, lot),
                 log_quote(qe, sizeof qe, body == NULL ? je.text : err));
        json_decref(body);
        return;
    }
    json_decref(body);
    if (parking_lot_put(ap->p, &d.lot, d.bays, d.nbays, d.closed, err, sizeof err) != 0)
        log_warn(&ap->a->log, "parking_bad_def", "lot=%s error=%s", log_quote(ql, sizeof ql, lot),
                 log_quote(qe, sizeof qe, err));
    def_free(&d);
}

/* ---- SSE ----
 *
 * A subscriber is not sent events as they happen but told which lots to
 * send: its `pending` set of lot handles holds the rest of its snapshot
 * and every lot of its box that changed since it was last sent. The set
 * is drained a page at a time whenever the connection's output buffer is
 * below the low-water mark (http_stream_on_drained), each lot rendered as
 * it is at that moment. So what a stream holds in memory is a page or
 * two however large its box, a lot that changes while the client is
 * behind (mid-snapshot or slow) is sent once more at its latest state --
 * never lost, never older than what the client already has -- and a
 * client that keeps up gets every change within a batch, as before.
 * Memory per stream and in total (parking.stream_max_queued,
 * parking.stream_max_total_bytes) is checked every BUDGET_TICKS against
 * what the client has not acknowledged, the kernel's send queue
 * included; the heartbeat checks the output buffer alone. */

#define SSE_PAGE (16u * 1024)           /* bytes of events written at a time */
#define SSE_CT "text/event-stream; charset=utf-8"
#define BUDGET_TICKS 5                  /* memory checked every 0.5 s */

/* A set of lot handles in two levels: bit h of w[] is handle h, bit i of
 * sum[] says w[i] is not zero, so finding the next member skips empty
 * runs 4,096 handles at a time. */
static int lotset_grow(struct lotset *s, size_t words)
{
    size_t nw = s->nw ? s->nw : 64;
    while (nw < words)
        nw *= 2;
    uint64_t *w = realloc(s->w, nw * sizeof *w);
    if (w == NULL)
        return -1;
    memset(w + s->nw, 0, (nw - s->nw) * sizeof *w);
    s->w = w;                           /* s->nw grows with sum below */
    uint64_t *sum = realloc(s->sum, nw / 64 * sizeof *sum);
    if (sum == NULL)
        return -1;
    memset(sum + s->nw / 64, 0, (nw - s->nw) / 64 * sizeof *sum);
    s->sum = sum;
    s->nw = nw;
    return 0;
}

static int lotset_add(struct lotset *s, uint32_t h)
{
    size_t i = h / 64;
    uint64_t bit = 1ull << (h % 64);
    if (i >= s->nw && lotset_grow(s, i + 1) != 0)
        return -1;
    if (!(s->w[i] & bit)) {
        s->w[i] |= bit;
        s->sum[i / 64] |= 1ull << (i % 64);
        s->n++;
    }
    return 0;
}

/* The smallest member >= from. */
static bool lotset_next(const struct lotset *s, uint32_t from, uint32_t *out)
{
    size_t i = from / 64;
    if (i >= s->nw)
        return false;
    uint64_t m = s->w[i] & (~0ull << (from % 64));
    while (m == 0) {
        size_t j = i + 1;                /* the next word with a member, from sum */
        uint64_t sm = j < s->nw ? s->sum[j / 64] & (~0ull << (j % 64)) : 0;
        while (sm == 0) {
            j = (j / 64 + 1) * 64;
            if (j >= s->nw)
                return false;
            sm = s->sum[j / 64];
        }
        i = j / 64 * 64 + (size_t)__builtin_ctzll(sm);
        m = s->w[i];
    }
    *out = (uint32_t)(i * 64 + (size_t)__builtin_ctzll(m));
    return true;
}

/* Remove and return the next member at or after *cursor, wrapping
 * around: round robin, so a lot that keeps changing cannot hold back the
 * rest. */
static bool lotset_take(struct lotset *s, uint32_t *cursor, uint32_t *out)
{
    if (s->n == 0 || (!lotset_next(s, *cursor, out) && !lotset_next(s, 0, out)))
        return false;
    size_t i = *out / 64;
    s->w[i] &= ~(1ull << (*out % 64));
    if (s->w[i] == 0)
        s->sum[i / 64] &= ~(1ull << (i % 64));
    s->n--;
    *cursor = *out + 1;
    return true;
}

static void lotset_free(struct lotset *s)
{
    free(s->w);
    free(s->sum);
    *s = (struct lotset){0};
}

/* Remember that a lot changed, for the next sse_flush. dirty_mark[h] is
 * the lot's place in dirty[] plus one (0: not dirty). If that cannot be
 * remembered the streams would miss the change: they are dropped at the
 * next flush (clients reconnect to a fresh snapshot). */
static void sse_mark(struct api_parking *ap, const struct parking_lot *l)
{
    if (ap->subs == NULL || l == NULL)
        return;
    uint32_t h = l->handle;
    if (h >= ap->capmark) {
        size_t n = ap->capmark ? ap->capmark : 1024;
        while (n <= h)
            n *= 2;
        uint32_t *m = realloc(ap->dirty_mark, n * sizeof *m);
        if (m == NULL)
            goto lost;
        memset(m + ap->capmark, 0, (n - ap->capmark) * sizeof *m);
        ap->dirty_mark = m;
        ap->capmark = n;
    }
    if (ap->dirty_mark[h])
        return;
    if (ap->ndirty == ap->capdirty) {
        size_t n = ap->capdirty ? ap->capdirty * 2 : 256;
        uint32_t *d = realloc(ap->dirty, n * sizeof *d);
        if (d == NULL)
            goto lost;
        ap->dirty = d;
        ap->capdirty = n;
    }
    ap->dirty[ap->ndirty++] = h;
    ap->dirty_mark[h] = (uint32_t)ap->ndirty;
    return;
lost:
    ap->sse_lost = true;
}

static void sse_unlink(struct api_parking *ap, struct sse_sub *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        ap->subs = s->next;
    if (s->next)
        s->next->prev = s->prev;
    ap->nsubs--;
    metric_set(ap->m_streams, (double)ap->nsubs);
    lotset_free(&s->pending);
    free(s);
    if (ap->nsubs == 0) {
        free(ap->page.data);
        ap->page = (struct parking_buf){0};
    }
}

/* Close a stream on the server's initiative; the client reconnects
 * (`retry`) and starts again from a fresh snapshot. */
static void sse_drop(struct api_parking *ap, struct sse_sub *s, const char *why, size_t bytes)
{
    log_info(&ap->a->log, "parking_stream_dropped", "reason=%s unsent=%zu", why, bytes);
    metric_inc(ap->m_stream_drops, 1);
    http_stream_abort(s->req);
    sse_unlink(ap, s);
}

/* Send, counting; returns what the connection's output buffer holds. */
static size_t sse_write(struct sse_sub *s, const char *data, size_t len)
{
    s->sent += len;
    return http_stream_send(s->req, data, len);
}

/* Send; drop the subscriber when its output buffer is over the limit.
 * Returns false when it was dropped. */
static bool sse_send(struct api_parking *ap, struct sse_sub *s, const char *data, size_t len)
{
    size_t queued = sse_write(s, data, len);
    if (queued <= (size_t)ap->a->cfg.parking_stream_max_queued)
        return true;
    sse_drop(ap, s, "queued", queued);
    return false;
}

static void sse_event(struct parking_buf *b, const struct api_parking *ap,
                      const struct parking_lot *l, bool gcj02, double now)
{
    parking_buf_puts(b, "event: lot\ndata: ");
    parking_lot_render(ap->p, l, now, gcj02, NAN, b);
    parking_buf_puts(b, "\n\n");
}

/* The events of one sse_flush, each rendered once per crs for all the
 * subscribers that get it: span[crs][k] is dirty[k]'s event in buf[crs]
 * (len 0: not rendered yet). */
struct sse_cache {
    double now;
    struct parking_buf buf[2];
    struct sse_span {
        size_t off, len;
    } *span[2];
};

/* Append lot h's event to b if it is in s's box. */
static void sse_put_lot(struct api_parking *ap, const struct sse_sub *s, uint32_t h, double now,
                        struct parking_buf *b)
{
    const struct parking_lot *l = parking_lot_at(ap->p, h);
    if (l == NULL)
        return;
    struct geo_pt pt = lot_pos(l, s->gcj02);
    if (!in_box(s->bb, pt.lon, pt.lat))
        return;
    struct sse_cache *c = ap->cache;
    uint32_t k = h < ap->capmark ? ap->dirty_mark[h] : 0;
    if (c == NULL || k == 0) {
        sse_event(b, ap, l, s->gcj02, now);
        return;
    }
    struct sse_span *sp = &c->span[s->gcj02][k - 1];
    struct parking_buf *cb = &c->buf[s->gcj02];
    if (sp->len == 0) {
        sp->off = cb->len;
        sse_event(cb, ap, l, s->gcj02, c->now);
        sp->len = cb->oom ? 0 : cb->len - sp->off;
    }
    if (sp->len > 0)
        parking_buf_put(b, cb->data + sp->off, sp->len);
    else
        sse_event(b, ap, l, s->gcj02, now);
}

/* Low-water mark and page: a quarter of stream_max_queued, at most
 * SSE_PAGE, so the output buffer stays under half the limit. */
static size_t sse_page(const struct api_parking *ap)
{
    size_t q = (size_t)ap->a->cfg.parking_stream_max_queued / 4;
    return q < SSE_PAGE ? q : SSE_PAGE;
}

/* Write the subscriber's pending lots a page at a time while its output
 * buffer is under the low-water mark; the drained callback does the rest
 * as the client reads. */
static void sse_pump(struct api_parking *ap, struct sse_sub *s)
{
    size_t page = sse_page(ap), queued = http_stream_send(s->req, NULL, 0);
    double now = ap->cache != NULL ? ap->cache->now : app_now(ap->a);
    struct parking_buf *b = &ap->page;
    uint32_t h;
    while (queued < page && s->pending.n > 0 && !s->broken) {
        b->len = 0;
        while (b->len < page && lotset_take(&s->pending, &s->cursor, &h))
            sse_put_lot(ap, s, h, now, b);
        if (b->oom) {
            s->broken = true;           /* the lots taken are not sent */
            break;
        }
        if (b->len > 0)
            queued = sse_write(s, b->data, b->len);
    }
    if (b->oom || b->cap > OUT_KEEP) {
        free(b->data);
        *b = (struct parking_buf){0};
    }
}

static void sse_drained(struct http_req *req, void *arg)
{
    struct sse_sub *s = arg;
    (void)req;
    sse_pump(s->ap, s);
}

/* Add a dirty lot to the pending set of each subscriber whose box holds
 * it (one that has no memory for it is broken). */
static void sse_pend(struct api_parking *ap, uint32_t h)
{
    const struct parking_lot *l = parking_lot_at(ap->p, h);
    for (struct sse_sub *s = ap->subs; l != NULL && s != NULL; s = s->next) {
        struct geo_pt pt = lot_pos(l, s->gcj02);
        if (in_box(s->bb, pt.lon, pt.lat))
            s->broken |= lotset_add(&s->pending, h) != 0;
    }
}

/* After a batch of changes: every subscriber whose box holds a changed
 * lot gets it pending, and those that keep up are sent it now. Streams
 * that lost track of a change (no memory) are dropped: their clients
 * reconnect to a fresh snapshot rather than miss it. */
static void sse_flush(struct api_parking *ap)
{
    struct sse_cache c = {.now = app_now(ap->a)};
    if (ap->ndirty == 0 && !ap->sse_lost)
        return;
    c.span[0] = calloc(ap->ndirty + 1, sizeof *c.span[0]);
    c.span[1] = calloc(ap->ndirty + 1, sizeof *c.span[1]);
    for (size_t i = 0; i < ap->ndirty; i++)
        sse_pend(ap, ap->dirty[i]);
    ap->cache = c.span[0] != NULL && c.span[1] != NULL ? &c : NULL;
    for (struct sse_sub *s = ap->subs, *next; s != NULL; s = next) {
        next = s->next;
        if (s->pending.n > 0 && !s->broken && !ap->sse_lost)
            sse_pump(ap, s);
        if (s->broken || ap->sse_lost)
            sse_drop(ap, s, "out_of_memory", 0);
    }
    ap->cache = NULL;
    for (size_t i = 0; i < ap->ndirty; i++)
        ap->dirty_mark[ap->dirty[i]] = 0;
    ap->ndirty = 0;
    ap->sse_lost = false;
    free(c.span[0]);
    free(c.span[1]);
    free(c.buf[0].data);
    free(c.buf[1].data);
}

/* Slowest first: the longest to drain what it holds at the rate its
 * client took bytes since the last check (an idle client holding nothing
 * is not slow), then the most held. */
static double drain_time(const struct sse_sub *s)
{
    return (double)s->unsent / ((double)s->progress + 1.0);
}

static int slowest_cmp(const void *a, const void *b)
{
    const struct sse_sub *x = *(struct sse_sub *const *)a, *y = *(struct sse_sub *const *)b;
    double tx = drain_time(x), ty = drain_time(y);
    if (tx != ty)
        return (tx < ty) - (tx > ty);
    return (x->unsent < y->unsent) - (x->unsent > y->unsent);
}

/* Measure a stream: what it holds unacknowledged, and how much its client
 * took since the last check. True when it is stalled (took nothing while
 * something waits) with more than stream_max_queued: a client that reads,
 * however far behind, is not dropped for what the kernel keeps in flight
 * for it (at most its socket buffer), only when the total is over. */
static bool sse_measure(struct api_parking *ap, struct sse_sub *s)
{
    s->unsent = http_stream_unsent(s->req);
    size_t delivered = s->sent > s->unsent ? s->sent - s->unsent : 0;
    s->progress = delivered > s->delivered ? delivered - s->delivered : 0;
    s->delivered = delivered > s->delivered ? delivered : s->delivered;
    return s->progress == 0 && s->unsent > (size_t)ap->a->cfg.parking_stream_max_queued;
}

/* Every BUDGET_TICKS: drop stalled streams over stream_max_queued, then
 * the slowest until all streams together hold no more than
 * stream_max_total_bytes unacknowledged. */
static void sse_budget(struct api_parking *ap)
{
    size_t total = 0, n = 0, budget = (size_t)ap->a->cfg.parking_stream_max_total_bytes;
    struct sse_sub **v = malloc((ap->nsubs + 1) * sizeof *v);
    for (struct sse_sub *s = ap->subs, *next; s != NULL; s = next) {
        next = s->next;
        if (sse_measure(ap, s) || s->broken) {
            sse_drop(ap, s, s->broken ? "out_of_memory" : "stalled", s->unsent);
            continue;
        }
        total += s->unsent;
        if (v != NULL)
            v[n++] = s;
    }
    if (total > budget && v != NULL) {
        qsort(v, n, sizeof *v, slowest_cmp);
        for (size_t i = 0; i < n && total > budget; i++) {
            total -= v[i]->unsent;
            sse_drop(ap, v[i], "total", v[i]->unsent);
        }
    }
    metric_set(ap->m_stream_bytes, (double)total);
    free(v);
}

static void sse_closed(struct http_req *req, void *arg)
{
    struct sse_sub *s = arg;
    (void)req;
    sse_unlink(s->ap, s);
}

/* The caps on open streams: per caller (API key, else address) 429, in
 * all 503. True when it replied. */
static bool sse_refused(struct api_parking *ap, struct http_req *req, const char *caller)
{
    size_t mine = 0;
    for (const struct sse_sub *s = ap->subs; s != NULL; s = s->next)
        mine += strcmp(s->caller, caller) == 0;
    if (mine >= (size_t)ap->a->cfg.parking_stream_max_per_caller) {
        http_reply_error(req, 429, "too_many_streams",
                         "at most %ld open streams per caller (parking.stream_max_per_caller)",
                         ap->a->cfg.parking_stream_max_per_caller);
        return true;
    }
    if (ap->nsubs >= (size_t)ap->a->cfg.parking_stream_max) {
        http_reply_error(req, 503, "too_many_streams",
                         "at most %ld open streams (parking.stream_max)",
                         ap->a->cfg.parking_stream_max);
        return true;
    }
    return false;
}

struct snapshot {
    struct sse_sub *sub;
    bool oom;
};

static void snapshot_lot(void *ctx, const struct parking_lot *l)
{
    struct snapshot *sn = ctx;
    struct geo_pt pt = lot_pos(l, sn->sub->gcj02);
    if (in_box(sn->sub->bb, pt.lon, pt.lat))
        sn->oom |= lotset_add(&sn->sub->pending, l->handle) != 0;
}

/* GET /v1/parking/stream?bbox=: the lots in the box now, then one event
 * per availability change, with heartbeat comments. */
static void h_stream(struct http_req *req, void *arg)
{
    struct api_parking *ap = arg;
    double bb[4], sb[4];
    bool given, gcj02;
    char caller[sizeof ((struct sse_sub *)0)->caller];
    if (not_ready(ap, req) || params_bbox(req, true, bb, &given) != 0 ||
        params_crs(req, &gcj02) != 0)
        return;
    if (http_req_method(req) == HTTP_HEAD) {
        /* The headers alone: no snapshot rendered for nobody. */
        http_stream_start(req, SSE_CT, NULL, NULL);
        http_stream_end(req);
        return;
    }
    http_req_caller(req, caller, sizeof caller);
    if (sse_refused(ap, req, caller))
        return;
    struct sse_sub *s = calloc(1, sizeof *s);
    struct snapshot sn = {.sub = s};
    if (s != NULL) {
        /* The box as it is now, so a client needs no separate GET (and
         * misses nothing between the two), sent as the client reads. */
        memcpy(s->bb, bb, sizeof bb);
        s->gcj02 = gcj02;
        wgs_search_box(bb, gcj02, sb);
        parking_bbox(ap->p, sb[0], sb[1], sb[2], sb[3], snapshot_lot, &sn);
    }
    if (s == NULL || sn.oom) {
        if (s != NULL)
            lotset_free(&s->pending);
        free(s);
        http_reply_error(req, 500, "internal", "out of memory");
        return;
    }
    s->ap = ap;
    s->req = req;
    snprintf(s->caller, sizeof s->caller, "%s", caller);
    http_stream_start(req, SSE_CT, sse_closed, s);
    http_stream_on_drained(req, sse_page(ap), sse_drained);
    s->next = ap->subs;
    if (ap->subs)
        ap->subs->prev = s;
    ap->subs = s;
    ap->nsubs++;
    metric_set(ap->m_streams, (double)ap->nsubs);
    sse_write(s, "retry: 2000\n\n", 13);
    sse_pump(ap, s);
}

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    struct api_parking *ap = arg;
    (void)fd;
    (void)what;
    char line[64];
    int n = snprintf(line, sizeof line, ": heartbeat %.0f\n\n", app_now(ap->a));
    for (struct sse_sub *s = ap->subs, *next; s != NULL; s = next) {
        next = s->next;
        sse_send(ap, s, line, (size_t)n);
    }
}

/* ---- reads ---- */

/* The common arguments of a read: readiness, `at` and `crs`. False when
 * it has replied (503 or 400). */
static bool read_args(struct api_parking *ap, struct http_req *req, double *now, bool *gcj02)
{
    return !not_ready(ap, req) && params_now(ap->a, req, now) == 0 && params_crs(req, gcj02) == 0;
}

static void h_lot_get(struct http_req *req, void *arg)
{
    struct api_parking *ap = arg;
    const char *id = http_req_param(req, "id");
    double now;
    bool gcj02;
    if (!read_args(ap, req, &now, &gcj02))
        return;
    const struct parking_lot *l = parking_lot_get(ap->p, id);
    if (l == NULL) {
        http_reply_error(req, 404, "not_found", "no parking lot \"%s\"", id);
        return;
    }
    struct parking_buf b = {0};
    parking_lot_render(ap->p, l, now, gcj02, NAN, &b);
    reply_buf(req, 200, &b);
}

struct lot_list {
    const struct parking_lot **v;
    size_t n, cap;
    bool oom, gcj02;
    double bb[4];
};

static void list_lot(void *ctx, const struct parking_lot *l)
{
    struct lot_list *ll = ctx;
    struct geo_pt pt = lot_pos(l, ll->gcj02);
    if (ll->oom || !in_box(ll->bb, pt.lon, pt.lat))
        return;
    if (ll->n == ll->cap) {
        size_t n = ll->cap ? ll->cap * 2 : 64;
        const struct parking_lot **v = realloc(ll->v, n * sizeof *v);
        if (v == NULL) {
            ll->oom = true;
            return;
        }
        ll->v = v;
        ll->cap = n;
    }
    ll->v[ll->n++] = l;
}

static int lot_id_cmp(const void *a, const void *b)
{
    return strcmp((*(const struct parking_lot *const *)a)->id,
                  (*(const struct parking_lot *const *)b)->id);
}

/* GET /v1/parking/lots?bbox=: the lots in the box (all without one), by id. */
static void h_lots(struct http_req *req, void *arg)
{
    struct api_parking *ap = arg;
    struct lot_list ll = {.bb = {-180, -90, 180, 90}};
    double now, sb[4];
    bool given, geojson;
    if (!read_args(ap, req, &now, &ll.gcj02) || params_bbox(req, false, ll.bb, &given) != 0 ||
        geojson_wanted(req, &geojson) != 0)
        return;
    wgs_search_box(ll.bb, ll.gcj02, sb);
    parking_bbox(ap->p, sb[0], sb[1], sb[2], sb[3], list_lot, &ll);
    if (ll.n > 1)
        qsort(ll.v, ll.n, sizeof *ll.v, lot_id_cmp);
    struct parking_buf b = {.oom = ll.oom};
    parking_buf_puts(&b, geojson ? GEOJSON_COLLECTION_HEAD : "{\"lots\":[");
    for (size_t i = 0; i < ll.n; i++) {
        if (i > 0)
            parking_buf_put(&b, ",", 1);
        if (geojson) {                  /* a Feature around the lot as it is */
            char head[2 * LOTDEF_ID_MAX + 200];
            struct geo_pt pt = lot_pos(ll.v[i], ll.gcj02);
            parking_buf_put(&b, head, geojson_feature_head(head, ll.v[i]->id, pt.lon, pt.lat));
        }
        parking_lot_render(ap->p, ll.v[i], now, ll.gcj02, NAN, &b);
        if (geojson)
            parking_buf_put(&b, "}", 1);
    }
    parking_buf_puts(&b, "]}");
    free(ll.v);
    if (geojson && !b.oom) {
        http_reply_raw(req, 200, GEOJSON_TYPE "; charset=utf-8", b.data, b.len);
        free(b.data);
        return;
    }
    reply_buf(req, 200, &b);
}

/* category=a,b: every one required. Splits in place into cats. */
static int query_categories(struct http_req *req, char *buf, size_t buflen, const char **cats,
                            size_t max, size_t *n)
{
    const char *s = http_req_query(req, "category");
    *n = 0;
    if (s == NULL)
        return 0;
    if (strlen(s) >= buflen)
        goto bad;
    snprintf(buf, buflen, "%s", s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        if (*n == max)
            goto bad;
        cats[(*n)++] = tok;
    }
    if (*n > 0)
        return 0;
bad:
    http_reply_error(req, 400, "invalid",
                     "category: one or more category names, comma-separated (at most %zu)",
                     max);
    return -1;
}

static int nearest_params(struct http_req *req, struct parking_query *q, bool *gcj02,
                          char *catbuf, size_t catlen, const char **cats, double *arrive)
{
    struct geo_pt pt;
    double lim, minav;
    if (params_crs(req, gcj02) != 0 || params_point(req, *gcj02, &pt) != 0 ||
        params_number(req, "radius_m", 0, 0, RADIUS_MAX_M, 1000, &q->radius_m) != 0 ||
        params_number(req, "limit", PARAMS_INTEGER, 1, LIMIT_MAX, 5, &lim) != 0 ||
        params_number(req, "min_available", PARAMS_INTEGER, 0, 1e7, 1, &minav) != 0 ||
        params_number(req, "max_price", 0, 0, 1e12, NAN, &q->max_price) != 0 ||
        params_bool(req, "include_stale", false, &q->include_stale) != 0 ||
        params_number(req, "arrive_in_s", PARAMS_INTEGER, 0, 7 * 86400, NAN, arrive) != 0 ||
        query_categories(req, catbuf, catlen, cats, 16, &q->ncategory) != 0)
        return -1;
    q->lon = pt.lon;
    q->lat = pt.lat;
    q->limit = (size_t)lim;
    q->min_available = (int)minav;
    q->category = cats;
    return 0;
}

/* GET /v1/parking/nearest. With arrive_in_s the free-space filter is the
 * forecast at arrival (api_apps.h), and each lot carries that forecast. */
static void h_nearest(struct http_req *req, void *arg)
{
    struct api_parking *ap = arg;
    struct parking_query q = {0};
    struct spindex_hit hits[LIMIT_MAX];
    const char *cats[16];
    char catbuf[512];
    bool gcj02;
    double arrive;
    if (not_ready(ap, req) || params_now(ap->a, req, &q.now) != 0 ||
        nearest_params(req, &q, &gcj02, catbuf, sizeof catbuf, cats, &arrive) != 0)
        return;
    struct api_apps_arrival ar = {ap->a, q.now + arrive, q.min_available};
    if (!isnan(arrive)) {
        q.min_available = 0;
        q.accept = api_apps_arrival_accept;
        q.accept_ctx = &ar;
    }
    size_t n = parking_nearest(ap->p, &q, hits);
    struct parking_buf *b = &ap->out;
    parking_buf_put(b, "{\"lots\":[", 9);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            parking_buf_put(b, ",", 1);
        parking_lot_render(ap->p, hits[i].user, q.now, gcj02,
                           hits[i].distance_m, b);
        if (!isnan(arrive) && b->len > 0 && !b->oom) {
            b->len--;                   /* the lot's closing brace */
            parking_buf_put(b, ",", 1);
            api_apps_arrival_render(ap->a, hits[i].user, ar.target, b);
            parking_buf_put(b, "}", 1);
        }
    }
    parking_buf_put(b, "]}", 2);
    reply_out(ap, req);
}

/* GET /v1/parking/lots/{id}/bays?level= */
static void h_bays(struct http_req *req, void *arg)
{
    struct api_parking *ap = arg;
    const char *id = http_req_param(req, "id"), *level = http_req_query(req, "level");
    bool gcj02;
    if (not_ready(ap, req) || params_crs(req, &gcj02) != 0)
        return;
    const struct parking_lot *l = parking_lot_get(ap->p, id);
    if (l == NULL) {
        http_reply_error(req, 404, "not_found", "no parking lot \"%s\"", id);
        return;
    }
    bool known = level == NULL;
    for (size_t i = 0; !known && i < l->nlevels; i++)
        known = strcmp(l->levels[i], level) == 0;
    if (!known) {
        http_reply_error(req, 400, "invalid", "level: lot \"%s\" has no level \"%s\"", id,
                         level);
        return;
    }
    struct parking_buf b = {0};
    parking_bays_render(l, level, gcj02, &b);
    reply_buf(req, 200, &b);
}

/* GET /v1/parking/screens/{id} */
static void h_screen(struct http_req *req, void *arg)
{
    struct api_parking *ap = arg;
    const char *id = http_req_param(req, "id");
    double now;
    bool gcj02;
    if (!read_args(ap, req, &now, &gcj02))
        return;
    const struct map_screen *s = ap->a->map ? map_screen(ap->a->map, id) : NULL;
    if (s == NULL) {
        http_reply_error(req, 404, "not_found", "no guidance screen \"%s\"", id);
        return;
    }
    struct parking_buf b = {0};
    parking_screen_render(ap->p, s, now, gcj02, &b);
    reply_buf(req, 200, &b);
}

/* ---- PUT /v1/parking/lots/{id} ---- */

struct put_ctx {
    struct api_parking *ap;
    struct http_req *req;
    struct lot_def def;
    bool gcj02;
};

static void put_done(void *arg, enum store_status st, const struct store_reply *r)
{
    struct put_ctx *pc = arg;
    struct api_parking *ap = pc->ap;
    if (ap->lt.stopped)
        goto out;
    if (st != STORE_OK || store_reply_type(r) == STORE_R_ERROR) {
        char ql[2 * PARKING_ID_MAX + 3], qe[512];
        if (st == STORE_OK)
            log_error(&ap->a->log, "parking_put_failed", "lot=%s error=%s",
                      log_quote(ql, sizeof ql, pc->def.lot.id),
                      log_quote(qe, sizeof qe, store_reply_str(r, NULL)));
        reread_if_unknown(ap, st, "def", pc->def.lot.id);
        module_reply_store(pc->req, st);
        goto out;
    }
    bool existed = parking_lot_get(ap->p, pc->def.lot.id) != NULL;
    char err[256];
    if (parking_lot_put(ap->p, &pc->def.lot, pc->def.bays, pc->def.nbays, pc->def.closed, err,
                        sizeof err) != 0) {
        /* checked before it was stored: only OOM gets here */
        http_reply_error(pc->req, 500, "internal", "%s", err);
        goto out;
    }
    const struct parking_lot *l = parking_lot_get(ap->p, pc->def.lot.id);
    sse_mark(ap, l);
    sse_flush(ap);
    struct parking_buf b = {0};
    parking_lot_render(ap->p, l, app_now(ap->a), pc->gcj02, NAN, &b);
    reply_buf(pc->req, existed ? 200 : 201, &b);
out:
    def_free(&pc->def);
    free(pc);
    api_release(ap);
}

/* 422 too_large when the array `field` of a write's body holds more than
 * parking.max_batch items (api.md §1: inputs beyond configured limits).
 * True when it replied. */
static bool over_batch(struct api_parking *ap, struct http_req *req, const json_t *body,
                       const char *field)
{
    const json_t *v = json_object_get(body, field);
    size_t n = json_is_array(v) ? json_array_size(v) : 0;
    long max = ap->a->cfg.parking_max_batch;
    if (n <= (size_t)max)
        return false;
    http_reply_error(req, 422, "too_large",
                     "%s: at most parking.max_batch = %ld items per request, got %zu", field, max,
                     n);
    return true;
}

static void h_lot_put(struct http_req *req, void *arg)
{
    struct api_parking *ap = arg;
    const char *id = http_req_param(req, "id");
    char err[256], k[4][KEY_MAX], fmax[24];
    bool gcj02;
    if (not_ready(ap, req) || params_crs(req, &gcj02) != 0)
        return;
    json_t *body = http_req_json(req);
    if (body == NULL || over_batch(ap, req, body, "bays") || over_batch(ap, req, body, "levels") ||
        over_batch(ap, req, body, "category"))
        return;
    struct put_ctx *pc = calloc(1, sizeof *pc);
    if (pc == NULL) {
        http_reply_error(req, 500, "internal", "out of memory");
        return;
    }
    if (def_parse(ap->a->map ? ap->a->map->geo : NULL, id, body, gcj02, &pc->def, err,
                  sizeof err) != 0 ||
        parking_lot_check(ap->p, &pc->def.lot, pc->def.bays, pc->def.nbays, err,
                          sizeof err) != 0) {
        http_reply_error(req, 400, "invalid", "%s", err);
        def_free(&pc->def);
        free(pc);
        return;
    }
    char *text = def_dump(&pc->def);
    if (text == NULL) {
        http_reply_error(req, 500, "internal", "out of memory");
        def_free(&pc->def);
        free(pc);
        return;
    }
    pc->ap = ap;
    pc->req = req;
    pc->gcj02 = gcj02;
    pfeed_keep(&ap->feed, fmax);
    unsigned part = keys_part(id);
    const char *argv[] = {keys_lot(k[0], KEY_MAX, id, "def"), defs_key(k[1], part),
                          pfeed_key(&ap->feed, k[2], part), pfeed_seq_key(&ap->feed, k[3], part),
                          id, text, app_origin(ap->a), fmax};
    lifetime_hold(&ap->lt);
    if (store_script_eval(ap->a->store, ap->def_script, put_done, pc, 4, 8, argv, NULL) != 0) {
        lifetime_release(&ap->lt);
        http_reply_error(req, 500, "internal", "cannot queue the store command");
        def_free(&pc->def);
        free(pc);
    }
    free(text);
}

/* ---- POST /v1/parking/observations ---- */

enum verdict { V_PENDING = 0, V_REJECTED, V_OK, V_DUP, V_OLD };

struct ingest {
    struct api_parking *ap;
    struct http_req *req;
    size_t n;
    struct parking_obs *obs;          /* strings point into the request's JSON */
    uint8_t *verdict;
    char **error;                     /* per rejected item */
    size_t *order;                    /* items grouped by lot */
    size_t *gfirst, *gcount;          /* groups: ranges of order, one lot each */
    size_t ngroups;
    bool failed;
    enum store_status fail_st;        /* why (STORE_TIMEOUT: outcome unknown) */
    bool sent;                        /* Redis has answered every group */
    size_t links;                     /* bay links still being written */
};

static void ingest_free(struct ingest *in)
{
    for (size_t i = 0; in->error != NULL && i < in->n; i++)
        free(in->error[i]);
    free(in->error);
    free(in->obs);
    free(in->verdict);
    free(in->order);
    free(in->gfirst);
    free(in->gcount);
    free(in);
}

static void reject(struct ingest *in, size_t i, const char *msg)
{
    in->verdict[i] = V_REJECTED;
    in->error[i] = strdup(msg);
}

static void ingest_reply(struct ingest *in)
{
    struct api_parking *ap = in->ap;
    size_t counts[5] = {0};
    if (in->failed) {
        module_reply_store(in->req, in->fail_st);
        return;
    }
    for (size_t i = 0; i < in->n; i++)
        counts[in->verdict[i]]++;
    json_t *rej = json_array();
    for (size_t i = 0; rej != NULL && i < in->n; i++)
        if (in->verdict[i] == V_REJECTED)
            json_array_append_new(rej, json_pack("{s:I,s:s}", "index", (json_int_t)i, "error",
                                                 in->error[i] ? in->error[i] : "rejected"));
    metric_inc(ap->m_accepted, (double)counts[V_OK]);
    metric_inc(ap->m_dup, (double)counts[V_DUP]);
    metric_inc(ap->m_outdated, (double)counts[V_OLD]);
    metric_inc(ap->m_rejected, (double)counts[V_REJECTED]);
    http_reply_json(in->req, 200,
                    json_pack("{s:I,s:I,s:I,s:o}", "accepted", (json_int_t)counts[V_OK],
                              "duplicates", (json_int_t)counts[V_DUP], "outdated",
                              (json_int_t)counts[V_OLD], "rejected", rej ? rej : json_array()));
}

static void ingest_done(struct ingest *in);

/* The reply waits for Redis (every group) and for the sessions' bay
 * links; whichever comes last sends it. */
static void ingest_finish(struct ingest *in)
{
    if (in->sent && in->links == 0)
        ingest_done(in);
}

static void link_done(void *arg, bool ok)
{
    struct ingest *in = arg;
    struct api_parking *ap = in->ap;
    in->failed |= !ok;
    in->links--;
    ingest_finish(in);
    api_release(ap);
}

/* A car arrived in a bay: the sessions link it to its plate's session
 * (api_sessions.h) and the reply waits until that link is in Redis, so a
 * find-car after the reply finds the car, restarts included. A link that
 * fails answers 503: the client's retry comes back as duplicates, which
 * link again (ingest_relink). */
static void ingest_link(struct ingest *in, const struct parking_obs *o)
{
    struct api_parking *ap = in->ap;
    in->links++;                      /* done may come before the call returns */
    lifetime_hold(&ap->lt);
    int rc = api_sessions_bay_occupied(ap->a, o->lot, o->bay, o->plate, o->ts, link_done, in);
    if (rc <= 0) {
        in->failed |= rc < 0;
        in->links--;
        lifetime_release(&ap->lt);
    }
}

/* The lot id and the reason come from outside: quoted, so neither can
 * forge a key of the log line. */
static void log_apply_failed(const struct api_parking *ap, const char *lot, const char *err)
{
    char ql[2 * PARKING_ID_MAX + 3], qe[512];
    log_warn(&ap->a->log, "parking_apply_failed", "lot=%s error=%s",
             log_quote(ql, sizeof ql, lot), log_quote(qe, sizeof qe, err));
}

/* Memory follows what Redis accepted. */
static void ingest_apply(struct ingest *in, size_t i)
{
    struct api_parking *ap = in->ap;
    struct parking_change chg;
    char err[256];
    const struct parking_obs *o = &in->obs[i];
    enum parking_verdict v = parking_obs_apply(ap->p, o, INFINITY, &chg, err, sizeof err);
    app_saw_ts(ap->a, o->ts);
    if (v == PARKING_OBS_APPLIED && chg.available_changed)
        sse_mark(ap, chg.lot);
    if (v == PARKING_OBS_APPLIED)
        api_apps_observed(ap->a, chg.lot, true);
    if (v == PARKING_OBS_APPLIED && chg.bay_arrival)
        ingest_link(in, o);
    else if (v == PARKING_OBS_REJECTED)
        log_apply_failed(ap, o->lot, err);
}

/* A duplicate of a bay state that is still the bay's current state (the
 * retry of a request whose link failed): link again. The sessions make
 * nothing twice. */
static void ingest_relink(struct ingest *in, size_t i)
{
    const struct parking_obs *o = &in->obs[i];
    const struct parking_lot *l = parking_lot_get(in->ap->p, o->lot);
    const struct parking_bay *b = l && o->bay ? parking_bay_get(l, o->bay) : NULL;
    if (b != NULL && o->status == PARKING_BAY_OCCUPIED && b->status == PARKING_BAY_OCCUPIED &&
        b->ts == o->ts && (o->plate == NULL) == (b->plate == NULL) &&
        (o->plate == NULL || strcmp(o->plate, b->plate) == 0))
        ingest_link(in, o);
}

static int order_cmp(const void *a, const void *b, void *ctx)
{
    const struct ingest *in = ctx;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int c = strcmp(in->obs[x].lot, in->obs[y].lot);
    return c != 0 ? c : (x > y) - (x < y);
}

/* Add group k (one lot) to the transaction: a call of OBS_SCRIPT. */
static int group_add(struct ingest *in, struct slotbatch *b, size_t k)
{
    struct api_parking *ap = in->ap;
    size_t first = in->gfirst[k], count = in->gcount[k];
    const char *lot = in->obs[in->order[first]].lot;
    size_t argc = 13 + count;          /* 7 keys, 6 args, 1 per item */
    const char **argv = malloc(argc * sizeof *argv);
    char (*item)[OBS_ARG_MAX] = malloc(count * sizeof *item);
    char k7[7][KEY_MAX], ttl[16], hkeep[24], hmax[24], fmax[24], hour[2][24];
    long long h = (long long)floor(app_wall_now() / SEEN_BUCKET_S);
    int rc = -1;
    if (argv == NULL || item == NULL)
        goto out;
    snprintf(ttl, sizeof ttl, "%d", 2 * SEEN_BUCKET_S + 60);
    const struct config *cfg = &ap->a->cfg;
    snprintf(hkeep, sizeof hkeep, "%ld",
             cfg->parking_history_max > 0 ? cfg->retention_lot_history_s : 0);
    snprintf(hmax, sizeof hmax, "%ld", cfg->parking_history_max);
    pfeed_keep(&ap->feed, fmax);
    snprintf(hour[0], sizeof hour[0], "h%lld", h);
    snprintf(hour[1], sizeof hour[1], "h%lld", h - 1);
    size_t c = 0;
    argv[c++] = keys_lot(k7[0], KEY_MAX, lot, "state");
    argv[c++] = keys_lot(k7[1], KEY_MAX, lot, "bays");
    argv[c++] = keys_lot(k7[2], KEY_MAX, lot, "history");
    argv[c++] = pfeed_key(&ap->feed, k7[3], keys_part(lot));
    argv[c++] = pfeed_seq_key(&ap->feed, k7[4], keys_part(lot));
    argv[c++] = keys_seen(k7[5], KEY_MAX, "lot", lot, hour[0]);
    argv[c++] = keys_seen(k7[6], KEY_MAX, "lot", lot, hour[1]);
    argv[c++] = ttl;
    argv[c++] = hkeep;
    argv[c++] = fmax;
    argv[c++] = app_origin(ap->a);
    argv[c++] = lot;
    argv[c++] = hmax;
    const struct parking_lot *l = parking_lot_get(ap->p, lot);
    for (size_t j = 0; j < count; j++) {
        const struct parking_obs *o = &in->obs[in->order[first + j]];
        unsigned flags = 0;
        char value[16];
        if (o->bay == NULL)
            snprintf(value, sizeof value, "%d", parking_count_clamp(l, o->available, &flags));
        else
            snprintf(value, sizeof value, "%s", parking_bay_status_name(o->status));
        snprintf(item[j], sizeof item[j], "%s\x1f%s\x1f%s\x1f%.17g\x1f%s\x1f%u", o->id,
                 o->bay ? o->bay : "", value, o->ts, o->plate ? o->plate : "", flags);
        argv[c++] = item[j];
    }
    rc = slotbatch_script(b, k, ap->obs_script, 7, (int)c, argv, NULL);
out:
    free(argv);
    free(item);
    return rc;
}

/* Reply (unless stopping) and free. */
static void ingest_done(struct ingest *in)
{
    struct api_parking *ap = in->ap;
    if (!ap->lt.stopped) {
        sse_flush(ap);
        ingest_reply(in);
    }
    ingest_free(in);
}

/* Verdicts of group k from its element of EXEC's reply. */
static void group_verdicts(struct ingest *in, size_t k, const struct store_reply *r)
{
    struct api_parking *ap = in->ap;
    const char *e = store_reply_str(r, NULL);
    if (store_reply_type(r) != STORE_R_ARRAY || store_reply_len(r) != in->gcount[k]) {
        char qe[512];
        log_error(&ap->a->log, "parking_ingest_failed", "error=%s",
                  log_quote(qe, sizeof qe, e != NULL ? e : "unexpected reply"));
        in->failed = true;
        return;
    }
    for (size_t j = 0; j < in->gcount[k]; j++) {
        size_t i = in->order[in->gfirst[k] + j];
        const char *v = store_reply_str(store_reply_at(r, j), NULL);
        in->verdict[i] = v == NULL ? V_OLD : strcmp(v, "ok") == 0 ? V_OK
                                          : strcmp(v, "dup") == 0 ? V_DUP : V_OLD;
        if (in->verdict[i] == V_OK)
            ingest_apply(in, i);
        else if (in->verdict[i] == V_DUP)
            ingest_relink(in, i);
    }
}

/* Group k's outcome (its partition's transaction). No reply in time: it
 * may have applied, so its lot is re-read. */
static void group_done(void *arg, size_t k, enum store_status st, const struct store_reply *r,
                       bool committed)
{
    struct ingest *in = arg;
    struct api_parking *ap = in->ap;
    if (ap->lt.stopped)
        return;
    if (!committed) {
        char qe[512];
        const char *e = store_reply_str(r, NULL);
        if (st == STORE_OK)
            log_error(&ap->a->log, "parking_ingest_failed", "error=%s",
                      log_quote(qe, sizeof qe, e ? e : "no EXEC array"));
        reread_if_unknown(ap, st, "obs", in->obs[in->order[in->gfirst[k]]].lot);
        in->failed = true;
        if (in->fail_st != STORE_TIMEOUT)
            in->fail_st = st;          /* an unknown outcome says most */
        return;
    }
    group_verdicts(in, k, r);
}

static void ingest_sent(void *arg)
{
    struct ingest *in = arg;
    struct api_parking *ap = in->ap;
    for (size_t k = 0; k < in->ngroups; k++)
        if (in->verdict[in->order[in->gfirst[k]]] == V_PENDING && !in->failed) {
            in->failed = true;         /* not sent (out of memory) */
            in->fail_st = STORE_DOWN;
        }
    in->sent = true;
    ingest_finish(in);
    api_release(ap);
}

/* One transaction per partition with a script call per group (per lot):
 * the reads of a transaction queue without touching the AOF, and the
 * transactions go together, so Redis commits (and with appendfsync
 * always, fsyncs) the whole request once. */
static int ingest_send(struct ingest *in)
{
    struct api_parking *ap = in->ap;
    struct slotbatch *b = slotbatch_new();
    if (b == NULL)
        return -1;
    for (size_t k = 0; k < in->ngroups; k++) {
        if (group_add(in, b, k) != 0) {
            slotbatch_free(b);
            return -1;
        }
    }
    lifetime_hold(&ap->lt);
    if (slotbatch_send(ap->a->store, b, group_done, ingest_sent, in) != 0) {
        lifetime_release(&ap->lt);
        return -1;
    }
    return 0;
}

/* Validate every item; reject the bad ones. Returns how many remain.
 * A lot that gets a bay state earlier in the batch is counted by its bays
 * by the time a later lot count of it would apply, so that count is
 * rejected here already (memory and Redis must agree on every verdict). */
static size_t ingest_check(struct ingest *in, const json_t *items)
{
    struct api_parking *ap = in->ap;
    double ts_max = ap->a->cfg.clock_mode == CLOCK_REPLAY ? INFINITY : app_wall_now() + TS_SKEW_S;
    struct dict *bay_lots = NULL;
    size_t good = 0;
    char err[256];
    for (size_t i = 0; i < in->n; i++) {
        const struct parking_obs *o = &in->obs[i];
        if (parking_obs_parse(json_array_get(items, i), &in->obs[i], err, sizeof err) != 0 ||
            parking_obs_check(ap->p, o, ts_max, err, sizeof err) != PARKING_OBS_APPLIED) {
            reject(in, i, err);
            continue;
        }
        if (o->bay == NULL && bay_lots != NULL && dict_get(bay_lots, o->lot) != NULL) {
            snprintf(err, sizeof err, PARKING_ERR_BAY_COUNTED, o->lot);
            reject(in, i, err);
            continue;
        }
        if (o->bay != NULL && (bay_lots != NULL || (bay_lots = dict_new()) != NULL))
            dict_put(bay_lots, o->lot, (void *)1, NULL);
        in->order[good++] = i;
    }
    dict_free(bay_lots, NULL);
    return good;
}

static void h_observations(struct http_req *req, void *arg)
{
    struct api_parking *ap = arg;
    if (not_ready(ap, req))
        return;
    json_t *body = http_req_json(req);
    if (body == NULL)
        return;
    const json_t *items = json_object_get(body, "observations");
    if (!json_is_array(items)) {
        http_reply_error(req, 400, "invalid", "observations: required, an array");
        return;
    }
    if (over_batch(ap, req, body, "observations"))
        return;
    struct ingest *in = calloc(1, sizeof *in);
    size_t n = json_array_size(items), cap = n ? n : 1;
    if (in == NULL || (in->obs = calloc(cap, sizeof *in->obs)) == NULL ||
        (in->verdict = calloc(cap, 1)) == NULL ||
        (in->error = calloc(cap, sizeof *in->error)) == NULL ||
        (in->order = calloc(cap, sizeof *in->order)) == NULL ||
        (in->gfirst = calloc(cap, sizeof *in->gfirst)) == NULL ||
        (in->gcount = calloc(cap, sizeof *in->gcount)) == NULL) {
        if (in)
            ingest_free(in);
        http_reply_error(req, 500, "internal", "out of memory");
        return;
    }
    in->ap = ap;
    in->req = req;
    in->n = n;
    size_t good = ingest_check(in, items);
    qsort_r(in->order, good, sizeof *in->order, order_cmp, in);
    for (size_t first = 0, end; first < good; first = end) {
        for (end = first + 1; end < good && end - first < GROUP_MAX &&
                              strcmp(in->obs[in->order[end]].lot, in->obs[in->order[first]].lot) == 0;
             end++)
            ;
        in->gfirst[in->ngroups] = first;
        in->gcount[in->ngroups++] = end - first;
    }
    if (in->ngroups == 0) {
        ingest_done(in);
        return;
    }
    if (ingest_send(in) != 0) {
        in->failed = true;
        ingest_done(in);
    }
}

/* ---- change feed ---- */

/* "bay\x1fvalue\x1fts\x1fplate\x1fflags" (bay empty: a lot count). */
static void feed_record(struct api_parking *ap, const char *lot, char *rec)
{
    char *f[5];
    int n = 0;
    for (char *p = rec; n < 5; n++) {
        f[n] = p;
        char *sep = strchr(p, '\x1f');
        if (sep == NULL) {
            n++;
            break;
        }
        *sep = '\0';
        p = sep + 1;
    }
    double ts;
    if (n != 5 || !params_parse_number(f[2], &ts))
        return;
    app_saw_ts(ap->a, ts);
    if (f[0][0] == '\0') {
        const struct parking_lot *l = parking_lot_get(ap->p, lot);
        int before = l ? l->available : -1;
        if (parking_lot_restore(ap->p, lot, atoi(f[1]), ts, (unsigned)atoi(f[4])) == 0 &&
            l->available != before)
            sse_mark(ap, l);
        return;
    }
    struct parking_obs o = {.id = "", .lot = lot, .bay = f[0], .ts = ts,
                            .plate = f[3][0] ? f[3] : NULL};
    struct parking_change chg;
    char err[128];
    if (parking_bay_status_parse(f[1], &o.status) == 0 &&
        parking_obs_apply(ap->p, &o, INFINITY, &chg, err, sizeof err) == PARKING_OBS_APPLIED &&
        chg.available_changed)
        sse_mark(ap, chg.lot);
}

static void feed_obs(struct api_parking *ap, const char *lot, const char *data, size_t len)
{
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return;
    memcpy(copy, data, len);
    copy[len] = '\0';
    for (char *save = NULL, *rec = strtok_r(copy, "\x1e", &save); rec != NULL;
         rec = strtok_r(NULL, "\x1e", &save))
        feed_record(ap, lot, rec);
    free(copy);
    /* the lot as another process left it: the forecast learns from it
     * (not from each record: a rebuild replays bays one by one) */
    api_apps_observed(ap->a, parking_lot_get(ap->p, lot), false);
}

/* An entry of another process (pfeed.h). */
static void feed_entry(void *arg, unsigned part, const struct store_reply *kv)
{
    struct api_parking *ap = arg;
    size_t olen, dlen;
    const char *lot = reply_field(kv, "lot", NULL), *obs = reply_field(kv, "obs", &olen);
    const char *def = reply_field(kv, "def", &dlen);
    (void)part;
    if (lot == NULL)
        return;
    if (obs != NULL)
        feed_obs(ap, lot, obs, olen);
    else if (def != NULL) {
        def_apply_text(ap, lot, def, dlen);
        sse_mark(ap, parking_lot_get(ap->p, lot));
    }
}

static void feed_after(void *arg)
{
    sse_flush(arg);
}

static void feed_gap(void *arg, unsigned part)
{
    struct api_parking *ap = arg;
    log_warn(&ap->a->log, "parking_feed_gap", "part=%u seq=%lld cursor=%s", part,
             ap->feed.part[part].seq, ap->feed.part[part].cursor);
    metric_inc(ap->m_resyncs, 1);
    restore_again(&ap->rs);
}

/* ---- rebuild from Redis ----
 *
 * The module's restore (module.h), in three steps: the head of every
 * partition's feed (the cursors to poll from afterwards), the lot
 * definitions written by PUT (SSCAN of every partition's set, a GET per
 * lot), then every lot's state and bays. It
 * runs again on a gap in the feed. A lot a write with an unknown outcome
 * touched is re-read: "obs:<lot>" its state and bays, "def:<lot>" its
 * definition first. */

static void restore_state(struct api_parking *ap, const struct parking_lot *l,
                          const struct store_reply *r)
{
    size_t alen;
    const char *av = reply_field(r, "available", &alen), *ts = reply_field(r, "count_ts", NULL);
    const char *fl = reply_field(r, "flags", NULL);
    double t;
    if (av != NULL && ts != NULL && params_parse_number(ts, &t)) {
        parking_lot_restore(ap->p, l->id, atoi(av), t, fl ? (unsigned)atoi(fl) : 0);
        app_saw_ts(ap->a, t);
    }
}

static void restore_bays(struct api_parking *ap, const char *lot, const struct store_reply *r)
{
    char rec[256];
    for (size_t i = 0; i + 1 < store_reply_len(r); i += 2) {
        const char *bay = store_reply_str(store_reply_at(r, i), NULL);
        const char *v = store_reply_str(store_reply_at(r, i + 1), NULL);
        if (bay == NULL || v == NULL)
            continue;
        /* same layout as a feed record: "bay\x1fstatus\x1fts\x1fplate\x1f0" */
        int n = snprintf(rec, sizeof rec, "%s\x1f%s\x1f" "0", bay, v);
        if (n > 0 && (size_t)n < sizeof rec)
            feed_record(ap, lot, rec);
    }
}

static void state_cb(struct restore *r, const char *lot, const struct store_reply *reply)
{
    struct api_parking *ap = r->arg;
    const struct parking_lot *l = parking_lot_get(ap->p, lot);
    if (l != NULL) {
        restore_state(ap, l, reply);
        sse_mark(ap, l);
    }
}

static void bays_cb(struct restore *r, const char *lot, const struct store_reply *reply)
{
    struct api_parking *ap = r->arg;
    if (parking_lot_get(ap->p, lot) != NULL)
        restore_bays(ap, lot, reply);
}

static void def_cb(struct restore *r, const char *lot, const struct store_reply *reply)
{
    size_t len;
    const char *text = store_reply_str(reply, &len);
    if (text != NULL)
        def_apply_text(r->arg, lot, text, len);
}

/* A lot's state, and its bays when it has some (or `bays`). */
static void lot_reads(struct restore *r, const char *lot, bool bays)
{
    struct api_parking *ap = r->arg;
    const struct parking_lot *l = parking_lot_get(ap->p, lot);
    char k[2][KEY_MAX];
    const char *sv[] = {"HGETALL", keys_lot(k[0], KEY_MAX, lot, "state")};
    const char *bv[] = {"HGETALL", keys_lot(k[1], KEY_MAX, lot, "bays")};
    if (restore_cmd(r, state_cb, lot, 2, sv) == 0 && (bays || (l && l->nbays > 0)))
        restore_cmd(r, bays_cb, lot, 2, bv);
}

static void lot_item(struct restore *r, const char *lot)
{
    if (parking_lot_get(((struct api_parking *)r->arg)->p, lot) != NULL)
        lot_reads(r, lot, false);
}

static void def_item(struct restore *r, const char *lot)
{
    char k[KEY_MAX];
    const char *argv[] = {"GET", keys_lot(k, KEY_MAX, lot, "def")};
    restore_cmd(r, def_cb, lot, 2, argv);
}

static void collect_lot(void *ctx, const struct parking_lot *l)
{
    restore_work_add(ctx, lot_item, l->id);
}

static bool sync_step(struct restore *r, int k)
{
    struct api_parking *ap = r->arg;
    char key[KEY_MAX];
    switch (k) {
    case 0:
        pfeed_heads(&ap->feed, r);
        return true;
    case 1:
        for (unsigned i = 0; i < KEYS_PARTS; i++)
            restore_scan(r, defs_key(key, i), def_item);
        return true;
    case 2:
        parking_each(ap->p, collect_lot, r);
        return true;
    default:
        return false;
    }
}

static void sync_done(struct restore *r)
{
    struct api_parking *ap = r->arg;
    ap->a->parking_complete = true;
    sse_flush(ap);
    log_info(&ap->a->log, "parking_ready", "lots=%zu seq=%lld", parking_lot_count(ap->p),
             pfeed_seq(&ap->feed));
    api_apps_parking_ready(ap->a);
}

static void reread_item(struct restore *r, const char *id)
{
    if (strncmp(id, "def:", 4) == 0)
        def_item(r, id + 4);
    lot_reads(r, id + 4, true);
}

/* A write on `lot` got no reply: re-read what it may have changed. */
static void reread_if_unknown(struct api_parking *ap, enum store_status st, const char *what,
                              const char *lot)
{
    char id[PARKING_ID_MAX + 8];
    if (st != STORE_TIMEOUT)
        return;
    snprintf(id, sizeof id, "%s:%s", what, lot);
    restore_reread(&ap->rs, id);
}

static const struct restore_ops SYNC_OPS = {"parking", sync_step, sync_done, reread_item};

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct api_parking *ap = arg;
    (void)fd;
    (void)what;
    /* Lots created or moved since the index last packed itself are read
     * off lists, a cache miss each (spindex.c): pack them now and then,
     * at most once a second, so a bulk load ends fully packed. */
    if (++ap->ticks % COMPACT_TICKS == 0)
        parking_compact(ap->p);
    if (ap->ticks % BUDGET_TICKS == 0 && ap->subs != NULL)
        sse_budget(ap);
    if (restore_ready(&ap->rs) && !restore_syncing(&ap->rs))
        pfeed_poll(&ap->feed);
}

/* ---- life cycle ---- */

static void api_release(struct api_parking *ap)
{
    lifetime_release(&ap->lt);
}

static struct metric *counter(struct app *a, const char *result)
{
    char labels[64];
    snprintf(labels, sizeof labels, "result=\"%s\"", result);
    return metrics_series(a->metrics, METRIC_COUNTER, "cityd_parking_observations_total",
                          "Parking observations by result", labels);
}

static const struct module_route ROUTES[] = {
    {HTTP_PUT, "/v1/parking/lots/{id}", ROLE_OPERATOR, false, h_lot_put},
    {HTTP_GET, "/v1/parking/lots/{id}", ROLE_READER, true, h_lot_get},
    {HTTP_GET, "/v1/parking/lots", ROLE_READER, true, h_lots},
    {HTTP_POST, "/v1/parking/observations", ROLE_SENSOR, false, h_observations},
    {HTTP_GET, "/v1/parking/nearest", ROLE_READER, true, h_nearest},
    {HTTP_GET, "/v1/parking/lots/{id}/bays", ROLE_READER, true, h_bays},
    {HTTP_GET, "/v1/parking/screens/{id}", ROLE_READER, true, h_screen},
    {HTTP_GET, "/v1/parking/stream", ROLE_READER, true, h_stream},
};

static int start(struct app *a, char *err, size_t errlen)
{
    struct parking_config pc = {.stale_after_s = (double)a->cfg.parking_stale_after_s};
    struct api_parking *ap = calloc(1, sizeof *ap);
    if (ap == NULL || (ap->p = parking_new(&pc)) == NULL) {
        free(ap);
        snprintf(err, errlen, "parking: out of memory");
        return -1;
    }
    ap->a = a;
    a->parking = ap->p;
    a->parking_api = ap;
    pfeed_init(&ap->feed, a, &ap->lt, "parking", app_origin(a), feed_entry, feed_after,
               feed_gap, ap);
    char e[256];
    if (a->map != NULL && parking_load_map(ap->p, a->map, e, sizeof e) != 0) {
        snprintf(err, errlen, "parking: %s", e);
        return -1;
    }
    ap->m_accepted = counter(a, "accepted");
    ap->m_dup = counter(a, "duplicate");
    ap->m_outdated = counter(a, "outdated");
    ap->m_rejected = counter(a, "rejected");
    ap->m_streams = metrics_series(a->metrics, METRIC_GAUGE, "cityd_parking_stream_clients",
                                   "Open parking SSE streams", "");
    ap->m_stream_drops = metrics_series(a->metrics, METRIC_COUNTER,
                                        "cityd_parking_stream_dropped_total",
                                        "Parking SSE streams closed for holding too much", "");
    ap->m_stream_bytes = metrics_series(a->metrics, METRIC_GAUGE,
                                        "cityd_parking_stream_unsent_bytes",
                                        "Bytes sent to parking SSE streams and not yet "
                                        "acknowledged, kernel queues included", "");
    ap->m_resyncs = metrics_series(a->metrics, METRIC_COUNTER, "cityd_parking_resyncs_total",
                                   "Rebuilds of parking state after a gap in the change feed",
                                   "");
    struct timeval poll = {0, POLL_MS * 1000}, hb = {a->cfg.parking_stream_heartbeat_s, 0};
    ap->tick = event_new(a->base, -1, EV_PERSIST, on_tick, ap);
    ap->heartbeat = event_new(a->base, -1, EV_PERSIST, on_heartbeat, ap);
    ap->obs_script = store_script_new(a->store, OBS_SCRIPT);
    ap->def_script = store_script_new(a->store, DEF_SCRIPT);
    if (ap->tick == NULL || ap->heartbeat == NULL || event_add(ap->tick, &poll) != 0 ||
        event_add(ap->heartbeat, &hb) != 0 || ap->obs_script == NULL || ap->def_script == NULL ||
        restore_init(&ap->rs, a, &ap->lt, &SYNC_OPS, ap) != 0) {
        snprintf(err, errlen, "parking: out of memory");
        return -1;
    }
    if (module_routes(a->http, "parking", ROUTES, sizeof ROUTES / sizeof ROUTES[0], ap, err,
                      errlen) != 0)
        return -1;
    restore_begin(&ap->rs);
    return 0;
}

static bool ready(const struct app *a)
{
    return a->parking_api != NULL && restore_ready(&a->parking_api->rs);
}

/* Streams end, timers stop; store callbacks from now on only free. */
static void stop(struct app *a)
{
    struct api_parking *ap = a->parking_api;
    if (ap == NULL)
        return;
    ap->lt.stopped = true;
    restore_stop(&ap->rs);
    if (ap->tick)
        event_free(ap->tick);
    if (ap->heartbeat)
        event_free(ap->heartbeat);
    ap->tick = ap->heartbeat = NULL;
    while (ap->subs != NULL) {
        struct sse_sub *s = ap->subs;
        http_stream_end(s->req);
        sse_unlink(ap, s);
    }
}

static void api_free(struct app *a)
{
    struct api_parking *ap = a->parking_api;
    if (ap == NULL)
        return;
    lifetime_check(&ap->lt, a, "parking");
    restore_free(&ap->rs);
    parking_free(ap->p);
    free(ap->out.data);
    free(ap->dirty);
    free(ap->dirty_mark);
    free(ap);
    a->parking = NULL;
    a->parking_complete = false;
    a->parking_api = NULL;
}

const struct api_module api_parking_module = {"parking", start, stop, api_free, ready};
