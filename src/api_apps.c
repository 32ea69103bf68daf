/* api_apps.c -- fee of a planned stay, occupancy forecast and price
 * advice per lot (api.md §2), and the forecast models behind them
 * (api_apps.h; the model is forecast.c, the price rule pricing.c).
 *
 * Endpoints: GET /v1/parking/lots/{id}/fee?from=&to=,
 * GET /v1/parking/lots/{id}/forecast?horizon_s=&step_s=,
 * GET /v1/parking/pricing?bbox= (engineer).
 *
 * Models. Every applied observation of a lot (this process's or another's,
 * from the change feed) teaches the lot's model in memory. A model is
 * saved to cityd:{p:NN}:lot:X:forecast (keys_lot: one key per lot, in its partition)
 * by the process that took the observation, parking.forecast_save_s after
 * it first changed since its last save: a FIFO of changed lots drained by
 * a timer, at most SAVE_BATCH a second, so the observation path writes
 * nothing more to Redis and a busy lot costs one SET per save_s. A crash
 * forgets at most save_s of learning (statistics, not acknowledged data).
 * At start, once the parking state is rebuilt, every lot's model is read
 * back (the restore engine, module.h) and taught the lot's current state;
 * until then the three endpoints answer 503. */
#include "api_apps.h"

#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "dict.h"
#include "forecast.h"
#include "http.h"
#include "keys.h"
#include "log.h"
#include "module.h"
#include "params.h"
#include "parking.h"
#include "pricing.h"
#include "store.h"
#include "tariff.h"
#include "tz.h"

#define SAVE_BATCH 1000                /* models saved per second at most */
#define HORIZON_MAX_S (7 * 86400.0)    /* the profile repeats weekly: no further */
#define POINTS_MAX 1000                /* forecast points per answer */
#define COVERAGE_MIN 0.5               /* share of a review period observed to advise */

struct model {
    struct forecast *f;
    char *lot;                         /* owned */
    double dirty_since;                /* wall clock of the first unsaved change */
    bool queued;
};

struct api_apps {
    struct app *a;
    struct lifetime lt;
    struct restore rs;
    struct tz *tz;
    struct forecast_config fcfg;
    struct pricing_rule rule;
    struct dict *models;               /* lot id -> struct model */
    struct model **queue;              /* saves due, oldest first (a ring) */
    size_t qhead, qlen, qcap;
    struct event *tick;
    bool begun;
};

/* ---- models ---- */

static void model_free(void *v)
{
    struct model *m = v;
    if (m != NULL) {
        forecast_free(m->f);
        free(m->lot);
    }
    free(m);
}

static struct model *model_get(struct api_apps *aa, const char *lot, bool create)
{
    struct model *m = dict_get(aa->models, lot);
    int err = 0;
    if (m != NULL || !create)
        return m;
    if ((m = calloc(1, sizeof *m)) == NULL || (m->f = forecast_new()) == NULL ||
        (m->lot = strdup(lot)) == NULL) {
        model_free(m);
        return NULL;
    }
    dict_put(aa->models, lot, m, &err);
    if (err) {
        model_free(m);
        return NULL;
    }
    return m;
}

/* Queue a model's save (once until it is saved). */
static void model_dirty(struct api_apps *aa, struct model *m)
{
    if (m->queued)
        return;
    if (aa->qlen == aa->qcap) {
        size_t n = aa->qcap ? aa->qcap * 2 : 256;
        struct model **q = malloc(n * sizeof *q);
        if (q == NULL)
            return;                     /* saved with a later change */
        for (size_t i = 0; i < aa->qlen; i++)
            q[i] = aa->queue[(aa->qhead + i) % aa->qcap];
        free(aa->queue);
        aa->queue = q;
        aa->qcap = n;
        aa->qhead = 0;
    }
    aa->queue[(aa->qhead + aa->qlen++) % aa->qcap] = m;
    m->queued = true;
    m->dirty_since = app_wall_now();
}

/* Learn the lot's current state. */
static void model_observe(struct api_apps *aa, const struct parking_lot *l, bool own)
{
    if (l == NULL || l->available < 0 || l->total <= 0 || isnan(l->obs_ts))
        return;
    struct model *m = model_get(aa, l->id, true);
    if (m == NULL)
        return;
    forecast_observe(m->f, &aa->fcfg, l->obs_ts, (double)(l->total - l->available) / l->total);
    if (own)
        model_dirty(aa, m);
}

void api_apps_observed(struct app *a, const struct parking_lot *l, bool own)
{
    if (a->apps != NULL)
        model_observe(a->apps, l, own);
}

/* ---- saving ---- */

struct save {
    struct api_apps *aa;
    struct model *m;
};

static void save_done(void *arg, enum store_status st, const struct store_reply *r)
{
    struct save *sv = arg;
    struct api_apps *aa = sv->aa;
    if (lifetime_release(&aa->lt) && (st != STORE_OK || store_reply_type(r) == STORE_R_ERROR))
        model_dirty(aa, sv->m);         /* try again later */
    free(sv);
}

static void model_save(struct api_apps *aa, struct model *m)
{
    unsigned char blob[FORECAST_BLOB];
    char key[KEY_MAX];
    size_t n = forecast_save(m->f, blob, sizeof blob);
    struct save *sv = malloc(sizeof *sv);
    if (n == 0 || sv == NULL) {
        free(sv);
        return;
    }
    *sv = (struct save){aa, m};
    const char *argv[] = {"SET", keys_lot(key, sizeof key, m->lot, "forecast"),
                          (const char *)blob};
    const size_t lens[] = {3, strlen(argv[1]), n};
    lifetime_hold(&aa->lt);
    if (store_cmd_argv(aa->a->store, save_done, sv, 3, argv, lens) != 0) {
        lifetime_release(&aa->lt);
        free(sv);
        model_dirty(aa, m);
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct api_apps *aa = arg;
    (void)fd;
    (void)what;
    double now = app_wall_now(), due = (double)aa->a->cfg.parking_forecast_save_s;
    for (int n = 0; n < SAVE_BATCH && aa->qlen > 0 && store_is_up(aa->a->store); n++) {
        struct model *m = aa->queue[aa->qhead];
        if (m->dirty_since + due > now)
            break;
        aa->qhead = (aa->qhead + 1) % aa->qcap;
        aa->qlen--;
        m->queued = false;
        model_save(aa, m);
    }
}

/* ---- restore ---- */

static void model_cb(struct restore *r, const char *lot, const struct store_reply *reply)
{
    struct api_apps *aa = r->arg;
    size_t len;
    const char *blob = store_reply_str(reply, &len);
    struct forecast *f = blob ? forecast_load((const unsigned char *)blob, len) : NULL;
    if (blob != NULL && f == NULL) {
        char q[2 * KEY_MAX + 3];
        log_warn(&aa->a->log, "forecast_bad_model", "lot=%s", log_quote(q, sizeof q, lot));
    }
    struct model *m = f != NULL ? model_get(aa, lot, true) : NULL;
    if (m != NULL) {
        forecast_free(m->f);
        m->f = f;
    } else {
        forecast_free(f);
    }
    model_observe(aa, parking_lot_get(aa->a->parking, lot), false);
}

static void model_item(struct restore *r, const char *lot)
{
    char key[KEY_MAX];
    const char *argv[] = {"GET", keys_lot(key, sizeof key, lot, "forecast")};
    restore_cmd(r, model_cb, lot, 2, argv);
}

static void collect(void *ctx, const struct parking_lot *l)
{
    restore_work_add(ctx, model_item, l->id);
}

static bool restore_step(struct restore *r, int k)
{
    struct api_apps *aa = r->arg;
    if (k > 0)
        return false;
    parking_each(aa->a->parking, collect, r);
    return true;
}

static void restore_done(struct restore *r)
{
    struct api_apps *aa = r->arg;
    log_info(&aa->a->log, "forecast_ready", "models=%zu", dict_size(aa->models));
}

static const struct restore_ops RESTORE_OPS = {"forecast", restore_step, restore_done, NULL};

void api_apps_parking_ready(struct app *a)
{
    struct api_apps *aa = a->apps;
    if (aa == NULL || aa->begun)
        return;
    aa->begun = true;
    restore_begin(&aa->rs);
}

/* ---- forecasts as JSON ---- */

struct fc_view {
    double occ;                        /* NAN: unknown */
    long long avail, low, high;        /* avail < 0: unknown */
};

static void fc_view(struct api_apps *aa, const struct parking_lot *l, double target,
                    struct fc_view *v)
{
    const struct model *m = model_get(aa, l->id, false);
    struct forecast_point p = {NAN, 0, 1};
    if (m != NULL)
        forecast_at(m->f, &aa->fcfg, target, &p);
    else if (l->available >= 0 && l->total > 0) {
        /* observed but not learned from (restoring): no better than now */
        p.occ = (double)(l->total - l->available) / l->total;
    }
    if (l->closed) {
        *v = (struct fc_view){NAN, 0, 0, 0};
        return;
    }
    double t = l->total;
    v->occ = p.occ;
    v->avail = isnan(p.occ) ? -1 : llround(t * (1 - p.occ));
    v->low = (long long)floor(t * (1 - p.hi) + 1e-9);
    v->high = (long long)ceil(t * (1 - p.lo) - 1e-9);
    if (v->avail >= 0 && v->low > v->avail)
        v->low = v->avail;
    if (v->avail >= 0 && v->high < v->avail)
        v->high = v->avail;
}

/* An instant in whole seconds (a replay clock fed absurd times stays JSON). */
static json_t *json_ts(double t)
{
    return fabs(t) < 9e15 ? json_integer((json_int_t)floor(t)) : json_real(t);
}

static json_t *fc_json(double ts, const struct fc_view *v)
{
    json_t *o = json_object();
    json_object_set_new(o, "ts", json_ts(ts));
    json_object_set_new(o, "availableSpotNumber",
                        v->avail < 0 ? json_null() : json_integer(v->avail));
    json_object_set_new(o, "occupancy",
                        isnan(v->occ) ? json_null() : json_real(llround(v->occ * 1000) / 1000.0));
    json_object_set_new(o, "low", json_integer(v->low));
    json_object_set_new(o, "high", json_integer(v->high));
    return o;
}

bool api_apps_arrival_accept(void *ctx, const struct parking_lot *l)
{
    const struct api_apps_arrival *ar = ctx;
    struct fc_view v;
    if (ar->a->apps == NULL)
        return false;
    fc_view(ar->a->apps, l, ar->target, &v);
    return ar->min_available <= 0 || v.avail >= ar->min_available;
}

void api_apps_arrival_render(struct app *a, const struct parking_lot *l, double target,
                             struct parking_buf *b)
{
    struct fc_view v = {NAN, -1, 0, l->total};
    char num[128];
    if (a->apps != NULL)
        fc_view(a->apps, l, target, &v);
    /* each piece bounded: target comes from a clock that may hold anything */
    snprintf(num, sizeof num, fabs(target) < 9e15 ? "%.0f" : "%.17g", floor(target));
    parking_buf_puts(b, "\"forecast\":{\"ts\":");
    parking_buf_puts(b, num);
    if (v.avail < 0)
        snprintf(num, sizeof num, ",\"availableSpotNumber\":null,\"occupancy\":null");
    else
        snprintf(num, sizeof num, ",\"availableSpotNumber\":%lld,\"occupancy\":%.3f", v.avail,
                 llround(v.occ * 1000) / 1000.0);
    parking_buf_puts(b, num);
    snprintf(num, sizeof num, ",\"low\":%lld,\"high\":%lld}", v.low, v.high);
    parking_buf_puts(b, num);
}

/* ---- handlers ---- */

static bool not_ready(struct api_apps *aa, struct http_req *req)
{
    if (restore_ready(&aa->rs))
        return false;
    http_reply_unavailable(req);
    return true;
}

/* The lot of the path, or 404. */
static const struct parking_lot *path_lot(struct api_apps *aa, struct http_req *req)
{
    const char *id = http_req_param(req, "id");
    const struct parking_lot *l = parking_lot_get(aa->a->parking, id);
    if (l == NULL)
        http_reply_error(req, 404, "not_found", "no parking lot \"%s\"", id);
    return l;
}

static double money(long long fen)
{
    return tariff_amount(fen);
}

/* GET /v1/parking/lots/{id}/fee?from=&to=: what the exit gate would bill
 * (api_sessions.c bills an exit with the same call on the same tariff). */
static void h_fee(struct http_req *req, void *arg)
{
    struct api_apps *aa = arg;
    double from, to;
    struct tariff_bill bill;
    char err[256];
    if (not_ready(aa, req) ||
        params_number(req, "from", PARAMS_REQUIRED, 0, 1e11, NAN, &from) != 0 ||
        params_number(req, "to", PARAMS_REQUIRED, 0, 1e11, NAN, &to) != 0)
        return;
    const struct parking_lot *l = path_lot(aa, req);
    if (l == NULL)
        return;
    if (to < from) {
        http_reply_error(req, 400, "invalid", "to: %.0f is before from (%.0f)", to, from);
        return;
    }
    if (tariff_fee(&l->tariff, aa->tz, from, to, &bill, err, sizeof err) != 0) {
        http_reply_error(req, 400, "invalid", "%s", err);
        return;
    }
    json_t *o = json_pack("{s:s,s:f,s:s,s:o,s:I,s:I,s:I}", "lot", l->id, "amount", money(bill.fen),
                          "currency", l->currency, "tariff", tariff_to_json(&l->tariff), "from",
                          (json_int_t)floor(from), "to", (json_int_t)floor(to),
                          "durationSeconds", (json_int_t)llround(to - from));
    http_reply_json(req, 200, o);
}

/* GET /v1/parking/lots/{id}/forecast?horizon_s=3600&step_s=900 */
static void h_forecast(struct http_req *req, void *arg)
{
    struct api_apps *aa = arg;
    double now, horizon, step;
    if (not_ready(aa, req) || params_now(aa->a, req, &now) != 0 ||
        params_number(req, "horizon_s", PARAMS_INTEGER, 1, HORIZON_MAX_S, 3600, &horizon) != 0 ||
        params_number(req, "step_s", PARAMS_INTEGER, 60, HORIZON_MAX_S, 900, &step) != 0)
        return;
    if (step > horizon) {
        http_reply_error(req, 400, "invalid", "step_s: %.0f is longer than horizon_s (%.0f)",
                         step, horizon);
        return;
    }
    if (horizon / step > POINTS_MAX) {
        http_reply_error(req, 400, "invalid",
                         "step_s: horizon_s / step_s must be at most %d points", POINTS_MAX);
        return;
    }
    const struct parking_lot *l = path_lot(aa, req);
    if (l == NULL)
        return;
    json_t *pts = json_array();
    for (double t = step; t <= horizon + 1e-9; t += step) {
        struct fc_view v;
        fc_view(aa, l, now + t, &v);
        json_array_append_new(pts, fc_json(now + t, &v));
    }
    http_reply_json(req, 200, json_pack("{s:s,s:o,s:o}", "lot", l->id, "at", json_ts(now),
                                        "forecast", pts));
}

/* The local hours a lot's day rate applies to (all without a night rate):
 * occupancy at night says nothing about the day rate. */
static uint32_t day_hours(const struct map_tariff *t)
{
    uint32_t mask = 0;
    for (int h = 0; h < 24; h++) {
        int m = h * 60 + 30, from = t->night_from_min, to = t->night_to_min;
        bool night = t->present && t->has_night &&
                     (from < to ? m >= from && m < to : m >= from || m < to);
        if (!night)
            mask |= 1u << h;
    }
    return mask;
}

struct pricing_list {
    struct api_apps *aa;
    double now;
    double bb[4];
    json_t *lots;
};

static void pricing_lot(void *ctx, const struct parking_lot *l)
{
    struct pricing_list *pl = ctx;
    struct api_apps *aa = pl->aa;
    const struct model *m = model_get(aa, l->id, false);
    double cov = 0, start = forecast_period_start(&aa->fcfg, pl->now), mean = NAN, advised = NAN;
    char reason[256], when[96];
    if (m != NULL)
        mean = forecast_period_mean(m->f, &aa->fcfg, pl->now, day_hours(&l->tariff), &cov);
    snprintf(when, sizeof when, "the review period from %.0f to %.0f", start,
             start + aa->fcfg.period_s);
    if (isnan(l->price))
        snprintf(reason, sizeof reason, "no hourly rate to adjust");
    else if (isnan(mean))
        snprintf(reason, sizeof reason, "no occupancy recorded in %s", when);
    else if (cov < COVERAGE_MIN)
        snprintf(reason, sizeof reason, "only %.0f %% of %s was observed (at least %.0f %% "
                 "needed)", cov * 100, when, COVERAGE_MIN * 100);
    else
        pricing_advise(&aa->rule, mean, l->price, &advised, reason, sizeof reason);
    if (isnan(advised) && !isnan(l->price))
        advised = l->price;
    json_t *o = json_pack("{s:s,s:o,s:o,s:o,s:s,s:o,s:o,s:f}", "id", l->id, "occupancy_mean",
                          isnan(mean) ? json_null() : json_real(llround(mean * 1000) / 1000.0),
                          "rate_per_hour",
                          isnan(l->price) ? json_null() : json_real(llround(l->price * 100) / 100.0),
                          "advised_rate_per_hour",
                          isnan(advised) ? json_null() : json_real(llround(advised * 100) / 100.0),
                          "reason", reason, "period_start", json_ts(start), "period_end",
                          json_ts(start + aa->fcfg.period_s), "coverage",
                          llround(cov * 1000) / 1000.0);
    if (o != NULL) {
        json_object_set_new(o, "priceCurrency", json_string(l->currency));
        json_array_append_new(pl->lots, o);
    }
}

static void pricing_box(void *ctx, const struct parking_lot *l)
{
    struct pricing_list *pl = ctx;
    bool lon_ok = pl->bb[0] <= pl->bb[2] ? l->loc.lon >= pl->bb[0] && l->loc.lon <= pl->bb[2]
                                         : l->loc.lon >= pl->bb[0] || l->loc.lon <= pl->bb[2];
    if (lon_ok && l->loc.lat >= pl->bb[1] && l->loc.lat <= pl->bb[3])
        pricing_lot(ctx, l);
}

static int by_id(const void *x, const void *y)
{
    const json_t *a = *(json_t *const *)x, *b = *(json_t *const *)y;
    return strcmp(json_string_value(json_object_get(a, "id")),
                  json_string_value(json_object_get(b, "id")));
}

/* GET /v1/parking/pricing?bbox= (engineer): advice per lot, by id. */
static void h_pricing(struct http_req *req, void *arg)
{
    struct api_apps *aa = arg;
    struct pricing_list pl = {.aa = aa, .bb = {-180, -90, 180, 90}};
    bool given;
    if (not_ready(aa, req) || params_now(aa->a, req, &pl.now) != 0 ||
        params_bbox(req, false, pl.bb, &given) != 0)
        return;
    pl.lots = json_array();
    parking_bbox(aa->a->parking, pl.bb[0], pl.bb[1], pl.bb[2], pl.bb[3], pricing_box, &pl);
    size_t n = json_array_size(pl.lots);
    json_t **v = n ? malloc(n * sizeof *v) : NULL;
    json_t *sorted = json_array();
    if (v != NULL) {
        for (size_t i = 0; i < n; i++)
            v[i] = json_array_get(pl.lots, i);
        qsort(v, n, sizeof *v, by_id);
        for (size_t i = 0; i < n; i++)
            json_array_append(sorted, v[i]);
    }
    free(v);
    json_decref(pl.lots);
    http_reply_json(req, 200, json_pack("{s:o,s:f,s:f,s:f,s:f,s:f}", "lots", sorted,
                                        "target_low", aa->rule.low, "target_high", aa->rule.high,
                                        "step", aa->rule.step, "min_rate", aa->rule.min_rate,
                                        "max_rate", aa->rule.max_rate));
}

/* ---- life cycle ---- */

static const struct module_route ROUTES[] = {
    {HTTP_GET, "/v1/parking/lots/{id}/fee", ROLE_READER, true, h_fee},
    {HTTP_GET, "/v1/parking/lots/{id}/forecast", ROLE_READER, true, h_forecast},
    {HTTP_GET, "/v1/parking/pricing", ROLE_ENGINEER, false, h_pricing},
};

static int start(struct app *a, char *err, size_t errlen)
{
    struct api_apps *aa = calloc(1, sizeof *aa);
    if (aa == NULL) {
        snprintf(err, errlen, "parking_apps: out of memory");
        return -1;
    }
    a->apps = aa;
    aa->a = a;
    if ((aa->tz = tz_load(a->cfg.parking_timezone, NULL, err, errlen)) == NULL)
        return -1;
    aa->fcfg = (struct forecast_config){.tz = aa->tz,
                                        .period_s = (double)a->cfg.parking_pricing_period_s};
    aa->rule = (struct pricing_rule){.low = 0.60, .high = 0.80,
                                     .step = a->cfg.parking_pricing_step_cents / 100.0,
                                     .min_rate = a->cfg.parking_pricing_min_cents / 100.0,
                                     .max_rate = a->cfg.parking_pricing_max_cents / 100.0};
    struct timeval sec = {1, 0};
    aa->models = dict_new();
    aa->tick = event_new(a->base, -1, EV_PERSIST, on_tick, aa);
    if (aa->models == NULL || aa->tick == NULL || event_add(aa->tick, &sec) != 0 ||
        restore_init(&aa->rs, a, &aa->lt, &RESTORE_OPS, aa) != 0) {
        snprintf(err, errlen, "parking_apps: out of memory");
        return -1;
    }
    if (module_routes(a->http, "parking_apps", ROUTES, sizeof ROUTES / sizeof ROUTES[0], aa, err,
                      errlen) != 0)
        return -1;
    if (a->parking_complete)
        api_apps_parking_ready(a);
    return 0;
}

static bool ready(const struct app *a)
{
    return a->apps != NULL && restore_ready(&a->apps->rs);
}

static void stop(struct app *a)
{
    struct api_apps *aa = a->apps;
    if (aa == NULL)
        return;
    aa->lt.stopped = true;
    restore_stop(&aa->rs);
    if (aa->tick)
        event_free(aa->tick);
    aa->tick = NULL;
}

static void api_free(struct app *a)
{
    struct api_apps *aa = a->apps;
    if (aa == NULL)
        return;
    lifetime_check(&aa->lt, a, "parking_apps");
    restore_free(&aa->rs);
    dict_free(aa->models, model_free);
    free(aa->queue);
    tz_free(aa->tz);
    free(aa);
    a->apps = NULL;
}

const struct api_module api_apps_module = {"parking_apps", start, stop, api_free, ready};
