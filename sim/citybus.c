/* citybus.c -- the buses of `citysim city`: every trip of the GTFS
 * timetable that runs during the simulated window, on vehicles chained
 * trip after trip per route, with time-of-day delays; positions as
 * GTFS-realtime VehiclePositions (JSON mapping) every 10-30 s per bus;
 * riders paying at the reader when they board; electronic stop signs of
 * the map (stop_signs.geojson) fetching their arrivals.
 *
 * A trip's actual times are drawn when it is planned, from a stream of
 * the seed and the trip (so they do not depend on which other trips run):
 * a late start for one trip in sixteen (2-8 min, else up to a minute);
 * running times stretched in the peaks (07-09, 17-19: x1.10-1.30) and a
 * little elsewhere, with +-8 % per link; dwell at least the timetable's or
 * 15 s, longer at busy stops in the peaks; one trip in thirty leaves its
 * route for a few minutes (a detour 250 m off the shape). A bus waits at
 * its first stop up to five minutes before it leaves (layover) and
 * reports from there. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "city.h"
#include "gtfs.h"
#include "simcli.h"
#include "tz.h"

#define LAYOVER_S 300.0
#define MIN_TURN_S 240.0           /* a bus needs this between two trips */
#define BATCH_FARES 500

struct btrip {
    uint32_t trip;
    int64_t origin;                /* epoch of the service day's origin */
    double dep0, arr_last;         /* scheduled, epoch */
    double *A, *D;                 /* actual arrival / departure per stop (n), NULL until planned */
    int vehicle;
    int detour_stop;               /* off route between this stop and the next; -1 none */
    uint32_t fared;                /* stops whose departures have been fared */
};

struct bvehicle {
    char id[48];
    uint32_t route;
    double free_at;
    double period, phase;          /* reporting every period s at phase */
    bool tripless;
    int cur;                       /* index of the trip it is on now, -1 */
};

struct sign {
    char *id, *stop;
    double phase;
};

struct citybus {
    struct gtfs *f;
    struct btrip *trips;
    size_t ntrips;
    struct bvehicle *veh;
    size_t nveh;
    struct sign *signs;
    size_t nsigns;
    struct demand_rng rng_fare, rng_misc;
    struct citybus_stats st;
    long fare_seq;
    uint64_t seed;
    struct city_buf pos, fares;
    long npos, nfares;
};

static int cmp_trip(const void *a, const void *b)
{
    const struct btrip *x = a, *y = b;
    if (x->dep0 != y->dep0)
        return x->dep0 < y->dep0 ? -1 : 1;
    return (x->trip > y->trip) - (x->trip < y->trip);
}

static double local_hour(const struct city *c, double t)
{
    return demand_sec_of_day(t + c->utc_offset) / 3600;
}

static bool peak(double h)
{
    return (h >= 7 && h < 9) || (h >= 17 && h < 19);
}

/* Draw a trip's actual times (see the file comment). */
static int plan_trip(struct citybus *b, const struct city *c, struct btrip *bt)
{
    const struct gtfs_trip *tr = &b->f->trips[bt->trip];
    const struct gtfs_pattern *pt = &b->f->patterns[tr->pattern];
    struct demand_rng r;
    uint64_t h = simcli_hash(SIMCLI_HASH_INIT, tr->id, strlen(tr->id));
    h = simcli_hash(h, &bt->origin, sizeof bt->origin);
    demand_rng_seed(&r, b->seed, h);
    bt->A = calloc(pt->n, sizeof *bt->A);
    bt->D = calloc(pt->n, sizeof *bt->D);
    if (!bt->A || !bt->D)
        return -1;
    double late = demand_rng_unit(&r) < 1.0 / 16 ? demand_rng_range(&r, 120, 480)
                                                 : demand_rng_range(&r, -10, 60);
    double hour = local_hour(c, bt->dep0);
    double stretch = peak(hour) ? demand_rng_range(&r, 1.10, 1.30)
                     : (hour >= 20 || hour < 6.5) ? demand_rng_range(&r, 0.92, 1.0)
                                                  : demand_rng_range(&r, 1.0, 1.10);
    bt->A[0] = bt->dep0 - LAYOVER_S;
    bt->D[0] = bt->dep0 + late;
    for (uint32_t i = 1; i < pt->n; i++) {
        double sched = (double)(tr->arr[i] - tr->dep[i - 1]);
        double run = fmax(10, sched * stretch * demand_rng_range(&r, 0.92, 1.08));
        bt->A[i] = bt->D[i - 1] + run;
        double dwell = fmax(15, (double)(tr->dep[i] - tr->arr[i]));
        uint64_t sh = simcli_hash(SIMCLI_HASH_INIT, &pt->stops[i], sizeof pt->stops[i]);
        if (sh % 5 == 0 && peak(local_hour(c, bt->A[i])))
            dwell += demand_rng_range(&r, 10, 40);             /* a busy stop */
        bt->D[i] = i + 1 < pt->n ? bt->A[i] + dwell : bt->A[i];
    }
    bt->detour_stop = pt->n > 4 && demand_rng_unit(&r) < 1.0 / 30
                      ? (int)(1 + demand_rng_next(&r) % (pt->n - 3)) : -1;
    return 0;
}

static void load_signs(struct citybus *b, const char *map_dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/stop_signs.geojson", map_dir);
    json_t *j = json_load_file(path, 0, NULL);
    size_t i;
    json_t *ft;
    b->signs = calloc(json_array_size(json_object_get(j, "features")) + 1, sizeof *b->signs);
    json_array_foreach(json_object_get(j, "features"), i, ft) {
        json_t *pr = json_object_get(ft, "properties");
        const char *id = json_string_value(json_object_get(pr, "id"));
        const char *stop = json_string_value(json_object_get(pr, "stop_id"));
        if (!id || !stop || gtfs_stop_find(b->f, stop) == GTFS_NONE)
            continue;
        struct sign *s = &b->signs[b->nsigns++];
        s->id = strdup(id);
        s->stop = strdup(stop);
        s->phase = (double)(simcli_hash(SIMCLI_HASH_INIT, id, strlen(id)) % 30);
    }
    json_decref(j);
}

struct citybus *citybus_new(struct city *c, const char *map_dir, double tripless, char *err,
                            size_t errlen)
{
    char dir[1024], e[512];
    snprintf(dir, sizeof dir, "%s/gtfs", map_dir);
    struct gtfs *f = gtfs_load(dir, e, sizeof e);
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", dir, e);
        return NULL;
    }
    struct citybus *b = calloc(1, sizeof *b);
    b->f = f;
    b->seed = c->seed;
    demand_rng_seed(&b->rng_fare, c->seed, 5);
    demand_rng_seed(&b->rng_misc, c->seed, 6);
    /* Trips of the service days around the window whose span (with the
     * layover before) meets it. */
    size_t cap = 0;
    int64_t d0 = tz_local_day(f->tz, (int64_t)c->t0) - 1, d1 = tz_local_day(f->tz, (int64_t)c->t_end);
    for (int64_t d = d0; d <= d1; d++) {
        int64_t o = gtfs_day_origin(f, d);
        for (uint32_t t = 0; t < f->n_trips; t++) {
            const struct gtfs_trip *tr = &f->trips[t];
            if (tr->pattern == GTFS_NONE || f->patterns[tr->pattern].n < 2 ||
                !gtfs_service_active(f, tr->service, d))
                continue;
            double s = (double)(o + tr->dep[0]), e2 = (double)(o + tr->arr[f->patterns[tr->pattern].n - 1]);
            if (e2 + 1800 < c->t0 || s - LAYOVER_S > c->t_end)
                continue;
            if (b->ntrips == cap) {
                cap = cap ? 2 * cap : 256;
                b->trips = realloc(b->trips, cap * sizeof *b->trips);
                if (b->trips == NULL)
                    abort();
            }
            b->trips[b->ntrips++] = (struct btrip){ t, o, s, e2, NULL, NULL, -1, -1, 0 };
        }
    }
    qsort(b->trips, b->ntrips, sizeof *b->trips, cmp_trip);
    /* Chain trips onto vehicles per route: the bus that has been free
     * longest (and for at least MIN_TURN_S) takes the next departure. */
    size_t vcap = 0;
    for (size_t i = 0; i < b->ntrips; i++) {
        struct btrip *bt = &b->trips[i];
        if (plan_trip(b, c, bt) != 0)
            abort();
        uint32_t route = f->trips[bt->trip].route;
        int best = -1;
        for (size_t v = 0; v < b->nveh; v++)
            if (b->veh[v].route == route && b->veh[v].free_at + MIN_TURN_S <= bt->dep0 - LAYOVER_S &&
                (best < 0 || b->veh[v].free_at < b->veh[best].free_at))
                best = (int)v;
        if (best < 0) {
            if (b->nveh == vcap) {
                vcap = vcap ? 2 * vcap : 64;
                b->veh = realloc(b->veh, vcap * sizeof *b->veh);
                if (b->veh == NULL)
                    abort();
            }
            struct bvehicle *v = &b->veh[b->nveh];
            memset(v, 0, sizeof *v);
            int nth = 1;
            for (size_t k = 0; k < b->nveh; k++)
                nth += b->veh[k].route == route;
            snprintf(v->id, sizeof v->id, "bus-%s-%02d", f->routes[route].id, nth);
            v->route = route;
            v->period = 10 + (double)(demand_rng_next(&b->rng_misc) % 21);
            v->phase = (double)(demand_rng_next(&b->rng_misc) % (uint64_t)v->period);
            v->tripless = demand_rng_unit(&b->rng_misc) < tripless;
            v->cur = -1;
            best = (int)b->nveh++;
        }
        bt->vehicle = best;
        b->veh[best].free_at = bt->A[f->patterns[f->trips[bt->trip].pattern].n - 1];
    }
    load_signs(b, map_dir);
    return b;
}

void citybus_free(struct citybus *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->ntrips; i++) {
        free(b->trips[i].A);
        free(b->trips[i].D);
    }
    for (size_t i = 0; i < b->nsigns; i++) {
        free(b->signs[i].id);
        free(b->signs[i].stop);
    }
    free(b->signs);
    free(b->trips);
    free(b->veh);
    city_buf_free(&b->pos);
    city_buf_free(&b->fares);
    gtfs_free(b->f);
    free(b);
}

/* Is the trip on the road (or waiting at its first stop) at t? */
static bool on_trip(const struct citybus *b, const struct btrip *bt, double t)
{
    uint32_t n = b->f->patterns[b->f->trips[bt->trip].pattern].n;
    return t >= bt->A[0] && t <= bt->A[n - 1] + 30;
}

/* Where the bus of bt is at t: distance along the shape, speed, and the
 * stop position it is at or last left. */
static double where(const struct citybus *b, const struct btrip *bt, double t, double *speed,
                    uint32_t *at)
{
    const struct gtfs_pattern *pt = &b->f->patterns[b->f->trips[bt->trip].pattern];
    *speed = 0;
    for (uint32_t i = 0; i < pt->n; i++) {
        *at = i;
        if (t <= bt->D[i] || i + 1 == pt->n)
            return pt->dist_m[i];
        if (t < bt->A[i + 1]) {
            double span = bt->A[i + 1] - bt->D[i], len = pt->dist_m[i + 1] - pt->dist_m[i];
            *speed = span > 0 ? len / span : 0;
            return pt->dist_m[i] + len * (t - bt->D[i]) / span;
        }
    }
    return pt->dist_m[pt->n - 1];
}

static void position(struct citybus *b, struct city *c, struct bvehicle *v,
                     const struct btrip *bt, double ts)
{
    const struct gtfs_trip *tr = &b->f->trips[bt->trip];
    const struct gtfs_pattern *pt = &b->f->patterns[tr->pattern];
    double speed;
    uint32_t at = 0;
    double d = where(b, bt, ts, &speed, &at);
    struct geo_pt p = geo_line_point_at(pt->line, d);
    struct geo_pt q = geo_line_point_at(pt->line, d + 10);
    struct geo_pt o = geo_line_point_at(pt->line, d - 10);
    /* whole degrees in [0, 360): 359.6 must not print as 360 */
    double bearing = fmod(round(geo_bearing_deg(o.lon, o.lat, q.lon, q.lat)) + 360, 360);
    if ((int)at == bt->detour_stop && speed > 0) {
        /* a detour: 250 m to the right of the route */
        double rad = (bearing + 90) * M_PI / 180;
        p.lat += 250 * cos(rad) / 111320.0;
        p.lon += 250 * sin(rad) / (111320.0 * cos(p.lat * M_PI / 180));
    }
    if (b->npos == 0)
        city_buf_printf(&b->pos, "{\"header\":{\"gtfs_realtime_version\":\"2.0\",\"timestamp\":"
                        "%lld},\"entity\":[", (long long)floor(c->t));
    city_buf_printf(&b->pos, "%s{\"id\":\"%s\",\"vehicle\":{\"trip\":{", b->npos ? "," : "",
                    v->id);
    if (!v->tripless) {
        city_buf_printf(&b->pos, "\"trip_id\":");
        city_buf_json_str(&b->pos, tr->id);
        city_buf_printf(&b->pos, ",");
    }
    city_buf_printf(&b->pos, "\"route_id\":");
    city_buf_json_str(&b->pos, b->f->routes[tr->route].id);
    city_buf_printf(&b->pos, "},\"vehicle\":{\"id\":\"%s\"},\"position\":{\"latitude\":%.6f,"
                    "\"longitude\":%.6f,\"bearing\":%.0f,\"speed\":%.1f},\"timestamp\":%lld}}",
                    v->id, p.lat, p.lon, bearing, speed, (long long)floor(ts));
    b->npos++;
    b->st.positions++;
    b->st.tripless += v->tripless;
}

static void flush_positions(struct citybus *b, struct city *c)
{
    if (b->npos == 0)
        return;
    city_buf_printf(&b->pos, "]}");
    city_send(c, CK_POSITIONS, "POST", "/v1/transit/vehicle-positions", b->pos.s, b->npos, NULL);
    city_buf_reset(&b->pos);
    b->npos = 0;
}

static void flush_fares(struct citybus *b, struct city *c)
{
    if (b->nfares == 0)
        return;
    city_buf_printf(&b->fares, "]}");
    city_send(c, CK_FARES, "POST", "/v1/transit/fares", b->fares.s, b->nfares, NULL);
    city_buf_reset(&b->fares);
    b->nfares = 0;
}

/* Riders boarding at stop position i as the bus leaves: Poisson by hour
 * (peak 6, day 3, evening 1.5, x2 at busy stops); mostly electronic (QR
 * codes, transit cards, NFC phones), more cash early, late and on some
 * routes. */
static void board(struct citybus *b, struct city *c, const struct btrip *bt, uint32_t i)
{
    const struct gtfs_trip *tr = &b->f->trips[bt->trip];
    const struct gtfs_pattern *pt = &b->f->patterns[tr->pattern];
    const struct bvehicle *v = &b->veh[bt->vehicle];
    double ts = bt->D[i], h = local_hour(c, ts);
    double mean = peak(h) ? 6 : (h >= 6.5 && h < 20) ? 3 : 1.5;
    uint64_t sh = simcli_hash(SIMCLI_HASH_INIT, &pt->stops[i], sizeof pt->stops[i]);
    if (sh % 5 == 0)
        mean *= 2;
    const char *rid = b->f->routes[tr->route].id;
    double cash = 0.18 + (h < 7 || h >= 20 ? 0.10 : 0) +
                  (double)(simcli_hash(SIMCLI_HASH_INIT, rid, strlen(rid)) % 11) / 100 - 0.05;
    unsigned n = demand_rng_poisson(&b->rng_fare, mean);
    for (unsigned k = 0; k < n; k++) {
        double u = demand_rng_unit(&b->rng_fare);
        const char *method = u < cash ? "cash" : u < cash + (1 - cash) * 0.55 ? "qr"
                             : u < cash + (1 - cash) * 0.85 ? "card" : "nfc";
        if (b->nfares == BATCH_FARES)
            flush_fares(b, c);
        city_buf_printf(&b->fares, "%s{\"id\":\"%s-f%ld\",\"ts\":%lld,\"vehicle_id\":\"%s\","
                        "\"route_id\":", b->nfares ? "," : "{\"validations\":[", c->tag,
                        ++b->fare_seq, (long long)floor(ts), v->id);
        city_buf_json_str(&b->fares, rid);
        city_buf_printf(&b->fares, ",\"stop_id\":");
        city_buf_json_str(&b->fares, b->f->stops[pt->stops[i]].id);
        city_buf_printf(&b->fares, ",\"method\":\"%s\"}", method);
        b->nfares++;
        b->st.fares++;
        b->st.electronic += strcmp(method, "cash") != 0;
    }
}

void citybus_step(struct citybus *b, struct city *c, double t0, double t1)
{
    /* Which trip each bus is on at t1 (the latest one started). */
    for (size_t v = 0; v < b->nveh; v++)
        b->veh[v].cur = -1;
    b->st.running = 0;
    for (size_t i = 0; i < b->ntrips; i++) {
        struct btrip *bt = &b->trips[i];
        if (bt->A[0] > t1)
            break;
        const struct gtfs_pattern *pt = &b->f->patterns[b->f->trips[bt->trip].pattern];
        /* fares at the stops left in (t0, t1] */
        while (bt->fared + 1 < pt->n && bt->D[bt->fared] <= t1) {
            if (bt->D[bt->fared] > t0 || (t0 == c->t0 && bt->D[bt->fared] > t0 - 5))
                board(b, c, bt, bt->fared);
            bt->fared++;
        }
        if (on_trip(b, bt, t1)) {
            b->veh[bt->vehicle].cur = (int)i;
            b->st.running++;
        }
    }
    for (size_t v = 0; v < b->nveh; v++) {
        struct bvehicle *bv = &b->veh[v];
        if (bv->cur < 0)
            continue;
        /* reports due in (t0, t1], the last one only (a step is 5 s) */
        double k1 = floor((t1 - bv->phase) / bv->period);
        double k0 = floor((t0 - bv->phase) / bv->period);
        if (k1 > k0 || t0 == c->t0)
            position(b, c, bv, &b->trips[bv->cur], t0 == c->t0 && k1 == k0 ? t1
                                                     : k1 * bv->period + bv->phase);
    }
    flush_positions(b, c);
    flush_fares(b, c);
    for (size_t i = 0; i < b->nsigns; i++) {
        struct sign *s = &b->signs[i];
        if (floor((t1 - s->phase) / 30) > floor((t0 - s->phase) / 30) || t0 == c->t0) {
            char stop[200], id[200], path[600];
            city_urlenc(s->stop, stop, sizeof stop);
            city_urlenc(s->id, id, sizeof id);
            snprintf(path, sizeof path, "/v1/transit/stops/%s/arrivals?sign=%s", stop, id);
            city_send(c, CK_SIGNS, "GET", path, NULL, 0, NULL);
            b->st.sign_fetches++;
        }
    }
}

void citybus_stats(const struct citybus *b, struct citybus_stats *s)
{
    *s = b->st;
}

long citybus_trips_scheduled(const struct citybus *b, double t)
{
    long n = 0;
    for (size_t i = 0; i < b->ntrips; i++)
        n += b->trips[i].dep0 <= t && t <= b->trips[i].arr_last;
    return n;
}

size_t citybus_nsigns(const struct citybus *b)
{
    return b->nsigns;
}

size_t citybus_nvehicles(const struct citybus *b)
{
    return b->nveh;
}
