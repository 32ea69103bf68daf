/* api_lists.c -- the listings of api.md §3 and §4 that apps, stop signs,
 * engineers' tools and the city screen read: GTFS routes and stops
 * (GET /v1/transit/routes[/{id}], /v1/transit/stops[/{stop_id}]) and the
 * signalised intersections with their phases, design flows, mode and the
 * timing running now (GET /v1/signals/intersections[/{id}]); each list
 * also as GeoJSON (geojson.h).
 *
 * The feed and the map do not change while cityd runs, so what can be
 * prepared is prepared once, at start: the routes serving each stop, the
 * signs at each stop, each route's distinct stop patterns; and a list
 * asked for without bbox= is rendered once per encoding and crs and then
 * served from memory (a Yantai-sized feed's stops and route shapes are
 * a few hundred kilobytes of JSON). Intersections carry live timing and
 * are built per request (tens to hundreds of them).
 *
 * Coordinates are rounded to 7 decimals (1 cm). docs/api-notes.md lists
 * the fields. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_signals.h"
#include "app.h"
#include "geojson.h"
#include "gtfs.h"
#include "http.h"
#include "map.h"
#include "module.h"
#include "params.h"
#include "server.h"
#include "transit.h"

/* A list rendered once: [geojson][gcj02]. */
struct cached {
    char *text;
    size_t len;
};

struct ulist {                       /* a small set of indices */
    uint32_t *v;
    size_t n;
};

struct pattern_use {                 /* one distinct stop pattern of a route */
    uint32_t pattern, first_trip;
    size_t trips;
};

struct api_lists {
    struct app *a;
    const struct gtfs *f;            /* borrowed from the transit module; NULL: no feed */
    struct ulist *stop_routes;       /* per stop: routes serving it, by index */
    struct ulist *stop_signs;        /* per stop: map signs there */
    struct pattern_use **route_pats; /* per route: its patterns, most trips first */
    size_t *route_npats;
    struct cached stops[2][2], routes[2][2];
};

/* ---- preparation ---- */

static int ulist_add(struct ulist *u, uint32_t x)
{
    for (size_t i = 0; i < u->n; i++)
        if (u->v[i] == x)
            return 0;
    uint32_t *v = realloc(u->v, (u->n + 1) * sizeof *v);
    if (v == NULL)
        return -1;
    v[u->n++] = x;
    u->v = v;
    return 0;
}

static int pat_cmp(const void *a, const void *b)
{
    const struct pattern_use *x = a, *y = b;
    if (x->trips != y->trips)
        return x->trips < y->trips ? 1 : -1;
    return (x->pattern > y->pattern) - (x->pattern < y->pattern);
}

static int add_pattern(struct api_lists *al, uint32_t trip)
{
    const struct gtfs_trip *t = &al->f->trips[trip];
    struct pattern_use *p = al->route_pats[t->route];
    size_t n = al->route_npats[t->route];
    for (size_t i = 0; i < n; i++)
        if (p[i].pattern == t->pattern) {
            p[i].trips++;
            return 0;
        }
    p = realloc(p, (n + 1) * sizeof *p);
    if (p == NULL)
        return -1;
    p[n] = (struct pattern_use){t->pattern, trip, 1};
    al->route_pats[t->route] = p;
    al->route_npats[t->route] = n + 1;
    return 0;
}

static int prepare(struct api_lists *al)
{
    const struct gtfs *f = al->f;
    const struct map *m = al->a->map;
    al->stop_routes = calloc(f->n_stops + 1, sizeof *al->stop_routes);
    al->stop_signs = calloc(f->n_stops + 1, sizeof *al->stop_signs);
    al->route_pats = calloc(f->n_routes + 1, sizeof *al->route_pats);
    al->route_npats = calloc(f->n_routes + 1, sizeof *al->route_npats);
    if (!al->stop_routes || !al->stop_signs || !al->route_pats || !al->route_npats)
        return -1;
    for (size_t s = 0; s < f->n_stops; s++)
        for (uint32_t k = 0; k < f->stops[s].n_visits; k++) {
            const struct gtfs_visit *v = &f->visits[f->stops[s].visit_first + k];
            if (ulist_add(&al->stop_routes[s], f->trips[v->trip].route) != 0)
                return -1;
        }
    for (size_t i = 0; m && i < m->nsigns; i++) {
        uint32_t s = gtfs_stop_find(f, m->signs[i].stop_id);
        if (s != GTFS_NONE && ulist_add(&al->stop_signs[s], (uint32_t)i) != 0)
            return -1;
    }
    for (size_t t = 0; t < f->n_trips; t++)
        if (add_pattern(al, (uint32_t)t) != 0)
            return -1;
    for (size_t r = 0; r < f->n_routes; r++)
        if (al->route_npats[r] > 1)
            qsort(al->route_pats[r], al->route_npats[r], sizeof **al->route_pats, pat_cmp);
    return 0;
}

/* ---- JSON of one thing ---- */

static json_t *str_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

static void put_lonlat(json_t *o, double lon, double lat, bool gcj02)
{
    if (gcj02)
        geo_wgs84_to_gcj02(lon, lat, &lon, &lat);
    json_object_set_new(o, "lon", json_real(geojson_round(lon)));
    json_object_set_new(o, "lat", json_real(geojson_round(lat)));
}

static json_t *route_brief(const struct gtfs_route *r)
{
    return json_pack("{s:s, s:o, s:o}", "route_id", r->id, "route_short_name",
                     str_or_null(r->short_name), "route_long_name", str_or_null(r->long_name));
}

static json_t *stop_json(const struct api_lists *al, uint32_t s, bool gcj02)
{
    const struct gtfs_stop *st = &al->f->stops[s];
    json_t *routes = json_array(), *signs = json_array();
    for (size_t i = 0; i < al->stop_routes[s].n; i++)
        json_array_append_new(routes, route_brief(&al->f->routes[al->stop_routes[s].v[i]]));
    for (size_t i = 0; i < al->stop_signs[s].n; i++)
        json_array_append_new(signs, json_string(al->a->map->signs[al->stop_signs[s].v[i]].id));
    json_t *o = json_pack("{s:s, s:o, s:o}", "stop_id", st->id, "stop_code", str_or_null(st->code),
                          "stop_name", str_or_null(st->name));
    put_lonlat(o, st->lon, st->lat, gcj02);
    json_object_set_new(o, "routes", routes);
    json_object_set_new(o, "signs", signs);
    return o;
}

static size_t route_stop_count(const struct api_lists *al, uint32_t r)
{
    size_t n = 0;
    for (size_t s = 0; s < al->f->n_stops; s++)
        for (size_t i = 0; i < al->stop_routes[s].n; i++)
            n += al->stop_routes[s].v[i] == r;
    return n;
}

static json_t *route_json(const struct api_lists *al, uint32_t r)
{
    const struct gtfs_route *rt = &al->f->routes[r];
    size_t trips = 0;
    for (size_t i = 0; i < al->route_npats[r]; i++)
        trips += al->route_pats[r][i].trips;
    json_t *o = route_brief(rt);
    json_object_set_new(o, "agency_id", str_or_null(rt->agency_id));
    json_object_set_new(o, "route_type", json_integer(rt->type));
    json_object_set_new(o, "trips", json_integer((json_int_t)trips));
    json_object_set_new(o, "stops", json_integer((json_int_t)route_stop_count(al, r)));
    json_object_set_new(o, "patterns", json_integer((json_int_t)al->route_npats[r]));
    return o;
}

/* Every distinct line of the route, as a MultiLineString. */
static json_t *route_geometry(const struct api_lists *al, uint32_t r, bool gcj02)
{
    json_t *lines = json_array();
    for (size_t i = 0; i < al->route_npats[r]; i++) {
        const struct geo_line *l = al->f->patterns[al->route_pats[r][i].pattern].line;
        json_t *g = l ? geojson_line(l->pts, l->n, gcj02) : NULL;
        if (g)
            json_array_append(lines, json_object_get(g, "coordinates"));
        json_decref(g);
    }
    return json_pack("{s:s, s:o}", "type", "MultiLineString", "coordinates", lines);
}

/* One route with its stops in order and its shape, per pattern. */
static json_t *route_detail(const struct api_lists *al, uint32_t r, bool gcj02)
{
    const struct gtfs *f = al->f;
    json_t *o = route_json(al, r), *pats = json_array();
    for (size_t i = 0; i < al->route_npats[r]; i++) {
        const struct pattern_use *u = &al->route_pats[r][i];
        const struct gtfs_pattern *pt = &f->patterns[u->pattern];
        const struct gtfs_trip *t = &f->trips[u->first_trip];
        json_t *stops = json_array();
        for (uint32_t k = 0; k < pt->n; k++) {
            const struct gtfs_stop *st = &f->stops[pt->stops[k]];
            json_t *s = json_pack("{s:s, s:o, s:I, s:f}", "stop_id", st->id, "stop_name",
                                  str_or_null(st->name), "stop_sequence", (json_int_t)pt->seq[k],
                                  "distance_m", round(pt->dist_m[k] * 10) / 10);
            put_lonlat(s, st->lon, st->lat, gcj02);
            json_array_append_new(stops, s);
        }
        json_t *p = json_pack("{s:o, s:o, s:I, s:o}", "direction_id",
                              t->direction_id < 0 ? json_null() : json_integer(t->direction_id),
                              "headsign", str_or_null(t->headsign), "trips",
                              (json_int_t)u->trips, "stops", stops);
        json_object_set_new(p, "shape", pt->line ? geojson_line(pt->line->pts, pt->line->n,
                                                                gcj02) : json_null());
        json_array_append_new(pats, p);
    }
    json_object_set_new(o, "patterns", pats);
    return o;
}

/* ---- replies ---- */

/* Reply body (stolen) as JSON or GeoJSON; keep the text in c when given. */
static void reply(struct http_req *r, json_t *body, bool geojson, struct cached *c)
{
    size_t len = 0;
    char *text = geojson_dump(body, &len);
    json_decref(body);
    if (text == NULL) {
        http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    http_reply_raw(r, 200, geojson ? GEOJSON_TYPE "; charset=utf-8"
                                   : "application/json; charset=utf-8", text, len);
    if (c != NULL) {
        c->text = text;
        c->len = len;
    } else {
        free(text);
    }
}

static bool serve_cached(struct http_req *r, const struct cached *c, bool geojson)
{
    if (c->text == NULL)
        return false;
    http_reply_raw(r, 200, geojson ? GEOJSON_TYPE "; charset=utf-8"
                                   : "application/json; charset=utf-8", c->text, c->len);
    return true;
}

/* The list as {"<name>": items} or a FeatureCollection (geoms stolen). */
static json_t *list_body(const char *name, json_t *items, json_t **geoms, bool geojson,
                         const char *id_key)
{
    if (!geojson)
        return json_pack("{s:o}", name, items);
    json_t *fc = geojson_collection(items, geoms, id_key);
    json_decref(items);
    return fc;
}

/* crs, format and bbox of a list request; false after replying. */
static bool list_args(struct http_req *r, bool *gcj02, bool *geojson, double bb[4], bool *given)
{
    bb[0] = -180, bb[1] = -90, bb[2] = 180, bb[3] = 90;
    return params_crs(r, gcj02) == 0 && geojson_wanted(r, geojson) == 0 &&
           params_bbox(r, false, bb, given) == 0;
}

static void h_stops(struct http_req *r, void *arg)
{
    struct api_lists *al = arg;
    bool gcj02, geojson, given;
    double bb[4];
    if (!list_args(r, &gcj02, &geojson, bb, &given))
        return;
    struct cached *c = given ? NULL : &al->stops[geojson][gcj02];
    if (c && serve_cached(r, c, geojson))
        return;
    json_t *items = json_array();
    for (uint32_t s = 0; al->f && s < al->f->n_stops; s++) {
        const struct gtfs_stop *st = &al->f->stops[s];
        double lon = st->lon, lat = st->lat;
        if (gcj02)
            geo_wgs84_to_gcj02(lon, lat, &lon, &lat);
        if (st->location_type == 0 && geojson_in_box(bb, lon, lat))
            json_array_append_new(items, stop_json(al, s, gcj02));
    }
    reply(r, list_body("stops", items, NULL, geojson, "stop_id"), geojson, c);
}

static void h_stop(struct http_req *r, void *arg)
{
    struct api_lists *al = arg;
    bool gcj02;
    if (params_crs(r, &gcj02) != 0)
        return;
    const char *id = http_req_param(r, "stop_id");
    uint32_t s = al->f && id ? gtfs_stop_find(al->f, id) : GTFS_NONE;
    if (s == GTFS_NONE) {
        http_reply_error(r, 404, "not_found", "unknown stop '%s'", id ? id : "");
        return;
    }
    reply(r, stop_json(al, s, gcj02), false, NULL);
}

static void h_routes(struct http_req *r, void *arg)
{
    struct api_lists *al = arg;
    bool gcj02, geojson, given;
    double bb[4];
    if (!list_args(r, &gcj02, &geojson, bb, &given))
        return;
    if (given) {
        http_reply_error(r, 400, "invalid", "bbox: not supported for routes");
        return;
    }
    struct cached *c = &al->routes[geojson][gcj02];
    if (serve_cached(r, c, geojson))
        return;
    size_t n = al->f ? al->f->n_routes : 0;
    json_t *items = json_array(), **geoms = calloc(n + 1, sizeof *geoms);
    for (uint32_t i = 0; geoms && i < n; i++) {
        json_array_append_new(items, route_json(al, i));
        if (geojson)
            geoms[i] = route_geometry(al, i, gcj02);
    }
    reply(r, geoms ? list_body("routes", items, geoms, geojson, "route_id") : NULL, geojson, c);
    if (geoms == NULL)
        json_decref(items);
    free(geoms);
}

static void h_route(struct http_req *r, void *arg)
{
    struct api_lists *al = arg;
    bool gcj02;
    if (params_crs(r, &gcj02) != 0)
        return;
    const char *id = http_req_param(r, "id");
    uint32_t i = al->f && id ? gtfs_route_find(al->f, id) : GTFS_NONE;
    if (i == GTFS_NONE) {
        http_reply_error(r, 404, "not_found", "unknown route '%s'", id ? id : "");
        return;
    }
    reply(r, route_detail(al, i, gcj02), false, NULL);
}

/* ---- intersections ---- */

static json_t *isec_json(struct api_lists *al, const struct map_intersection *x, double now,
                         bool gcj02)
{
    const struct map *m = al->a->map;
    json_t *o = json_pack("{s:s, s:o}", "id", x->id, "name", str_or_null(x->name));
    put_lonlat(o, x->pt.lon, x->pt.lat, gcj02);
    json_t *cors = json_array(), *phases = json_array();
    for (size_t i = 0; i < m->ncorridors; i++)
        for (size_t k = 0; k < m->corridors[i].nisecs; k++)
            if (strcmp(m->corridors[i].isecs[k], x->id) == 0)
                json_array_append_new(cors, json_string(m->corridors[i].id));
    for (size_t p = 0; p < x->nphases; p++) {
        const struct map_phase *ph = &x->phases[p];
        json_t *mv = json_array();
        for (size_t k = 0; k < ph->nmovements; k++)
            json_array_append_new(mv, json_string(ph->movements[k]));
        json_array_append_new(phases, json_pack("{s:I, s:o, s:f, s:f, s:o}", "signal_group",
                                                (json_int_t)p + 1, "movements", mv,
                                                "saturation_flow", ph->saturation_flow,
                                                "min_green_s", ph->min_green_s, "design_flow",
                                                ph->design_flow > 0 ? json_real(ph->design_flow)
                                                                    : json_null()));
    }
    json_object_set_new(o, "corridors", cors);
    json_object_set_new(o, "phases", phases);
    json_object_set_new(o, "lost_time_s", json_real(x->lost_time_s));
    json_object_set_new(o, "cycle_min_s", json_real(x->cycle_min_s));
    json_object_set_new(o, "cycle_max_s", json_real(x->cycle_max_s));
    json_object_set_new(o, "pedestrian_crossing_m", x->pedestrian_crossing_m > 0
                                                        ? json_real(x->pedestrian_crossing_m)
                                                        : json_null());
    struct signals_member sm;
    json_t *timing = NULL, *spat = NULL;
    bool controlled = api_adaptive_member(al->a, x->id, now, &sm);
    if (controlled)
        api_adaptive_now(al->a, x->id, now, &timing, &spat);
    json_object_set_new(o, "mode", timing ? json_incref(json_object_get(timing, "mode"))
                                          : json_null());
    json_object_set_new(o, "realtime", json_boolean(controlled && sm.realtime));
    json_object_set_new(o, "latest_count", controlled && sm.latest_count > 0
                                               ? json_integer((json_int_t)llround(sm.latest_count))
                                               : json_null());
    json_object_set_new(o, "timing", timing ? timing : json_null());
    json_object_set_new(o, "spat", spat ? json_incref(json_object_get(spat, "states"))
                                        : json_null());
    json_decref(spat);
    return o;
}

static void h_intersections(struct http_req *r, void *arg)
{
    struct api_lists *al = arg;
    bool gcj02, geojson, given;
    double bb[4], now;
    if (!list_args(r, &gcj02, &geojson, bb, &given) || params_now(al->a, r, &now) != 0)
        return;
    if (!server_ready(al->a, NULL)) {
        http_reply_unavailable(r);
        return;
    }
    const struct map *m = al->a->map;
    json_t *items = json_array();
    for (size_t i = 0; i < m->nisecs; i++) {
        double lon = m->isecs[i].pt.lon, lat = m->isecs[i].pt.lat;
        if (gcj02)
            geo_wgs84_to_gcj02(lon, lat, &lon, &lat);
        if (geojson_in_box(bb, lon, lat))
            json_array_append_new(items, isec_json(al, &m->isecs[i], now, gcj02));
    }
    reply(r, list_body("intersections", items, NULL, geojson, "id"), geojson, NULL);
}

static void h_intersection(struct http_req *r, void *arg)
{
    struct api_lists *al = arg;
    bool gcj02;
    double now;
    if (params_crs(r, &gcj02) != 0 || params_now(al->a, r, &now) != 0)
        return;
    const char *id = http_req_param(r, "id");
    const struct map_intersection *x = id ? map_intersection(al->a->map, id) : NULL;
    if (x == NULL) {
        http_reply_error(r, 404, "not_found", "intersection '%s' not found", id ? id : "");
        return;
    }
    if (!server_ready(al->a, NULL)) {
        http_reply_unavailable(r);
        return;
    }
    reply(r, isec_json(al, x, now, gcj02), false, NULL);
}

/* ---- life cycle ---- */

static const struct module_route ROUTES[] = {
    {HTTP_GET, "/v1/transit/stops", ROLE_READER, true, h_stops},
    {HTTP_GET, "/v1/transit/stops/{stop_id}", ROLE_READER, true, h_stop},
    {HTTP_GET, "/v1/transit/routes", ROLE_READER, true, h_routes},
    {HTTP_GET, "/v1/transit/routes/{id}", ROLE_READER, true, h_route},
    {HTTP_GET, "/v1/signals/intersections", ROLE_READER, true, h_intersections},
    {HTTP_GET, "/v1/signals/intersections/{id}", ROLE_READER, true, h_intersection},
};

static void lists_free(struct api_lists *al)
{
    for (size_t s = 0; al->f && s < al->f->n_stops; s++) {
        if (al->stop_routes)
            free(al->stop_routes[s].v);
        if (al->stop_signs)
            free(al->stop_signs[s].v);
    }
    for (size_t r = 0; al->f && al->route_pats && r < al->f->n_routes; r++)
        free(al->route_pats[r]);
    for (int g = 0; g < 2; g++)
        for (int c = 0; c < 2; c++) {
            free(al->stops[g][c].text);
            free(al->routes[g][c].text);
        }
    free(al->stop_routes);
    free(al->stop_signs);
    free(al->route_pats);
    free(al->route_npats);
    free(al);
}

static int start(struct app *a, char *err, size_t errlen)
{
    struct api_lists *al = calloc(1, sizeof *al);
    if (al == NULL) {
        snprintf(err, errlen, "lists: out of memory");
        return -1;
    }
    a->lists_api = al;
    al->a = a;
    al->f = a->transit ? transit_feed(a->transit) : NULL;
    if (al->f != NULL && prepare(al) != 0) {
        snprintf(err, errlen, "lists: out of memory");
        return -1;
    }
    return module_routes(a->http, "lists", ROUTES, sizeof ROUTES / sizeof ROUTES[0], al, err,
                         errlen);
}

static void nothing(struct app *a)
{
    (void)a;
}

static bool ready(const struct app *a)
{
    return a->lists_api != NULL;
}

static void lists_module_free(struct app *a)
{
    if (a->lists_api != NULL)
        lists_free(a->lists_api);
    a->lists_api = NULL;
}

const struct api_module api_lists_module = {"lists", start, nothing, lists_module_free, ready};
