/* city.c -- the city at a glance: the plan's indicators and the fare
 * validation counters behind one of them (see city.h). */
#include "city.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gtfs.h"
#include "map.h"
#include "parking.h"
#include "text.h"
#include "transit.h"

/* ---- fare validations ---- */

static const char *const METHODS[CITY_FARE_NMETHODS] = {"qr", "card", "nfc", "cash"};

const char *city_fare_method_name(enum city_fare_method m)
{
    return (unsigned)m < CITY_FARE_NMETHODS ? METHODS[m] : "unknown";
}

bool city_fare_electronic(enum city_fare_method m)
{
    return m != CITY_FARE_CASH;
}

/* Optional (or required) id string `key` into buf. */
static int get_id(const json_t *item, const char *key, bool required, char *buf, size_t size,
                  char *err, size_t errlen)
{
    const json_t *v = json_object_get(item, key);
    buf[0] = '\0';
    if (v == NULL || json_is_null(v)) {
        if (required)
            snprintf(err, errlen, "%s: required", key);
        return required ? -1 : 0;
    }
    if (!json_is_string(v)) {
        snprintf(err, errlen, "%s: must be a string", key);
        return -1;
    }
    if (text_check_id(key, json_string_value(v), json_string_length(v), size, err, errlen) != 0)
        return -1;
    memcpy(buf, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int get_method(const json_t *item, enum city_fare_method *m, char *err, size_t errlen)
{
    const char *s = json_string_value(json_object_get(item, "method"));
    for (int i = 0; s != NULL && i < CITY_FARE_NMETHODS; i++)
        if (strcmp(s, METHODS[i]) == 0) {
            *m = (enum city_fare_method)i;
            return 0;
        }
    snprintf(err, errlen, "method: %s (one of qr, card, nfc, cash)",
             json_object_get(item, "method") == NULL ? "required" : "unknown method");
    return -1;
}

static int get_ts(const json_t *item, double now, double max_age_s, double *ts, char *err,
                  size_t errlen)
{
    const json_t *v = json_object_get(item, "ts");
    if (!json_is_number(v)) {
        snprintf(err, errlen, "ts: %s", v == NULL ? "required" : "must be epoch seconds");
        return -1;
    }
    *ts = json_number_value(v);
    if (!isfinite(*ts) || *ts <= 0) {
        snprintf(err, errlen, "ts: must be positive epoch seconds");
        return -1;
    }
    if (max_age_s > 0 && *ts < now - max_age_s) {
        snprintf(err, errlen, "ts: more than %.0f s old (retention.fare_max_age_s)", max_age_s);
        return -1;
    }
    if (max_age_s > 0 && *ts > now + CITY_FARE_FUTURE_S) {
        snprintf(err, errlen, "ts: %.0f s ahead of the server's clock", *ts - now);
        return -1;
    }
    return 0;
}

int city_fare_parse(const json_t *item, double now, double max_age_s, struct city_fare *f,
                    char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    if (!json_is_object(item)) {
        snprintf(err, errlen, "validation: must be an object");
        return -1;
    }
    const size_t n = CITY_ID_MAX + 1;
    if (get_id(item, "id", true, f->id, n, err, errlen) != 0 ||
        get_ts(item, now, max_age_s, &f->ts, err, errlen) != 0 ||
        get_method(item, &f->method, err, errlen) != 0 ||
        get_id(item, "vehicle_id", false, f->vehicle_id, n, err, errlen) != 0 ||
        get_id(item, "route_id", false, f->route_id, n, err, errlen) != 0 ||
        get_id(item, "stop_id", false, f->stop_id, n, err, errlen) != 0)
        return -1;
    return 0;
}

static uint32_t fnv1a(const char *id)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

unsigned city_fare_part(const char *id)
{
    return fnv1a(id) % CITY_FARE_PARTS;
}

unsigned city_fare_ids_bucket(const char *id)
{
    return (fnv1a(id) / CITY_FARE_PARTS) % CITY_FARE_ID_BUCKETS;   /* other bits than the part's */
}

int64_t city_hour(double ts)
{
    return (int64_t)floor(ts / 3600.0);
}

static struct city_fare_bucket *slot(struct city_fares *f, unsigned part, int64_t hour)
{
    int64_t i = hour % CITY_FARE_HOURS;
    return &f->b[part % CITY_FARE_PARTS][i < 0 ? i + CITY_FARE_HOURS : i];
}

bool city_fares_add(struct city_fares *f, unsigned part, int64_t hour, enum city_fare_method m,
                    long by)
{
    struct city_fare_bucket *b = slot(f, part, hour);
    if (hour < b->hour || (unsigned)m >= CITY_FARE_NMETHODS)
        return false;
    if (hour > b->hour) {
        memset(b, 0, sizeof *b);
        b->hour = hour;
    }
    b->n[m] += by;
    return true;
}

void city_fares_set(struct city_fares *f, unsigned part, int64_t hour,
                    const long n[CITY_FARE_NMETHODS])
{
    struct city_fare_bucket *b = slot(f, part, hour);
    if (hour < b->hour)
        return;
    b->hour = hour;
    memcpy(b->n, n, sizeof b->n);
}

void city_fares_sum(const struct city_fares *f, double now, int hours,
                    long n[CITY_FARE_NMETHODS])
{
    int64_t last = city_hour(now), first = last - hours + 1;
    memset(n, 0, CITY_FARE_NMETHODS * sizeof *n);
    for (unsigned p = 0; p < CITY_FARE_PARTS; p++)
        for (int i = 0; i < CITY_FARE_HOURS; i++) {
            const struct city_fare_bucket *b = &f->b[p][i];
            if (b->hour >= first && b->hour <= last)
                for (int m = 0; m < CITY_FARE_NMETHODS; m++)
                    n[m] += b->n[m];
        }
}

/* ---- figures ---- */

double city_share(double part, double whole)
{
    return whole > 0 ? part / whole : NAN;
}

struct lot_tally {
    struct city_figures *c;
    const struct parking *p;
    double now;
};

static void tally_lot(void *ctx, const struct parking_lot *l)
{
    struct lot_tally *t = ctx;
    struct parking_view v;
    parking_lot_view(t->p, l, t->now, &v);
    t->c->lots++;
    t->c->spaces_total += l->total;
    if (v.stale)
        t->c->lots_stale++;
    if (!v.stale && v.available >= 0) {
        t->c->lots_reporting++;
        t->c->spaces_available += v.available;
    }
    if (!isnan(l->obs_ts) && l->obs_ts <= t->now &&
        (isnan(t->c->parking_latest) || l->obs_ts > t->c->parking_latest))
        t->c->parking_latest = l->obs_ts;
}

void city_figures_parking(struct city_figures *c, const struct parking *p, double now)
{
    struct lot_tally t = {c, p, now};
    c->lots = c->lots_reporting = c->lots_stale = 0;
    c->spaces_total = c->spaces_available = 0;
    c->parking_latest = NAN;
    if (p != NULL)
        parking_each(p, tally_lot, &t);
}

/* A vehicle backs predictions when it is live on a trip and the stop
 * ahead of it has an estimate. */
static bool predicting(const struct transit *t, const struct transit_vehicle *v, double now)
{
    return v->trip != GTFS_NONE && transit_predict(t, v, v->next_pos, now) > 0;
}

void city_figures_transit(struct city_figures *c, const struct transit *t, const struct gtfs *f,
                          double now)
{
    c->vehicles = c->trips_active = c->trips_predicted = c->stops = 0;
    memset(c->by_status, 0, sizeof c->by_status);
    c->transit_latest = NAN;
    for (size_t i = 0; f != NULL && i < f->n_stops; i++)
        c->stops += f->stops[i].location_type == 0;
    if (t == NULL || f == NULL)
        return;
    /* 0: not running; 1: running (timetable or a live bus); 2: predicted */
    unsigned char *trip = calloc(f->n_trips + 1, 1);
    if (trip == NULL)
        return;
    for (size_t i = 0; i < f->n_trips; i++) {
        int64_t day, origin;
        trip[i] = gtfs_trip_day(f, (uint32_t)i, (int64_t)floor(now), 0, &day, &origin) == 0;
    }
    size_t pos = 0;
    const struct transit_vehicle *v;
    while ((v = transit_vehicle_next(t, &pos)) != NULL) {
        enum transit_status st = transit_vehicle_status(t, v, now);
        c->by_status[(unsigned)st < 5 ? st : TRANSIT_STALE]++;
        if (v->ts <= now && (isnan(c->transit_latest) || v->ts > c->transit_latest))
            c->transit_latest = v->ts;
        if (st == TRANSIT_STALE)
            continue;
        c->vehicles++;
        if (v->trip != GTFS_NONE && v->trip < f->n_trips)
            trip[v->trip] = predicting(t, v, now) ? 2 : trip[v->trip] ? trip[v->trip] : 1;
    }
    for (size_t i = 0; i < f->n_trips; i++) {
        c->trips_active += trip[i] != 0;
        c->trips_predicted += trip[i] == 2;
    }
    free(trip);
}

void city_figures_signs(struct city_figures *c, const struct map *m, const struct gtfs *f,
                        const double *seen, double now)
{
    c->signs = c->signs_live = c->stops_with_signs = 0;
    if (m == NULL || f == NULL)
        return;
    unsigned char *has = calloc(f->n_stops + 1, 1);
    if (has == NULL)
        return;
    for (size_t i = 0; i < m->nsigns; i++) {
        uint32_t s = gtfs_stop_find(f, m->signs[i].stop_id);
        if (s == GTFS_NONE)
            continue;                   /* reported at start, not counted */
        c->signs++;
        if (seen && seen[i] > 0 && seen[i] <= now && now - seen[i] <= CITY_SIGN_LIVE_S)
            c->signs_live++;
        if (!has[s] && f->stops[s].location_type == 0) {
            has[s] = 1;
            c->stops_with_signs++;
        }
    }
    free(has);
}

void city_figures_fares(struct city_figures *c, const struct city_fares *fares, double now)
{
    city_fares_sum(fares, now, CITY_FARE_WINDOW_H, c->by_method);
    c->rides = c->electronic = 0;
    for (int m = 0; m < CITY_FARE_NMETHODS; m++) {
        c->rides += c->by_method[m];
        if (city_fare_electronic((enum city_fare_method)m))
            c->electronic += c->by_method[m];
    }
}

/* ---- JSON ---- */

static json_t *jshare(double x)
{
    return isnan(x) ? json_null() : json_real(round(x * 10000) / 10000);
}

static json_t *jage(double latest, double now)
{
    return isnan(latest) ? json_null() : json_integer((json_int_t)llround(now - latest));
}

static json_t *source(double latest, double now)
{
    return json_pack("{s:o, s:o}", "latest", isnan(latest) ? json_null()
                                                          : json_integer((json_int_t)llround(latest)),
                     "age_s", jage(latest, now));
}

json_t *city_figures_json(const struct city_figures *c)
{
    json_t *methods = json_object();
    for (int m = 0; m < CITY_FARE_NMETHODS; m++)
        json_object_set_new(methods, METHODS[m], json_integer(c->by_method[m]));
    return json_pack(
        "{s:I,"
        " s:{s:I, s:I, s:I, s:I, s:I},"
        " s:{s:I, s:I, s:I, s:o, s:I, s:I, s:I, s:I, s:o},"
        " s:{s:I, s:I, s:o, s:o, s:i},"
        " s:{s:I, s:I, s:o, s:I, s:I},"
        " s:{s:f, s:f, s:f, s:f},"
        " s:{s:o, s:o, s:o}}",
        "at", (json_int_t)llround(c->at),
        "parking", "lots", (json_int_t)c->lots, "spaces_total", (json_int_t)c->spaces_total,
        "spaces_available", (json_int_t)c->spaces_available, "lots_reporting",
        (json_int_t)c->lots_reporting, "lots_stale", (json_int_t)c->lots_stale,
        "transit", "vehicles", (json_int_t)c->vehicles, "trips_active",
        (json_int_t)c->trips_active, "trips_predicted", (json_int_t)c->trips_predicted,
        "share_predicted", jshare(city_share((double)c->trips_predicted, (double)c->trips_active)),
        "stops", (json_int_t)c->stops, "stops_with_signs", (json_int_t)c->stops_with_signs,
        "signs", (json_int_t)c->signs, "signs_live", (json_int_t)c->signs_live,
        "share_signs", jshare(city_share((double)c->stops_with_signs, (double)c->stops)),
        "fares", "rides", (json_int_t)c->rides, "electronic", (json_int_t)c->electronic,
        "share_electronic", jshare(city_share((double)c->electronic, (double)c->rides)),
        "by_method", methods, "window_h", CITY_FARE_WINDOW_H,
        "signals", "intersections", (json_int_t)c->intersections, "realtime",
        (json_int_t)c->realtime,
        "share_realtime", jshare(city_share((double)c->realtime, (double)c->intersections)),
        "adaptive", (json_int_t)c->adaptive, "fixed", (json_int_t)c->fixed,
        "targets", "share_predicted", 0.9, "share_signs", 0.1, "share_electronic", 0.75,
        "share_realtime", 0.7,
        "sources", "parking", source(c->parking_latest, c->at), "transit",
        source(c->transit_latest, c->at), "counts", source(c->counts_latest, c->at));
}
