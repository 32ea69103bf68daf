/* map.c -- load and check a city map folder (see map.h, formats.md).
 *
 * Two passes over the features of parking.geojson, corridors.geojson and
 * stop_signs.geojson:
 *   1. structure: each feature's kind, id and geometry (coordinates parsed
 *      and range-checked); this also gives the bounding box whose centre
 *      becomes the projection centre, and exact counts per kind;
 *   2. properties, per kind, in dependency order (lots before what refers
 *      to lots, intersections before corridors), into arrays allocated
 *      once with those counts -- so the id indexes can point straight into
 *      them.
 * Nothing stops at the first problem: every one is recorded with its file
 * and feature, and the map is handed out only when there were none. */
#include "map.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dict.h"
#include "lotdef.h"
#include "signals.h"
#include "text.h"

#define MAP_ID_MAX LOTDEF_ID_MAX  /* every id of the map, as a lot's */
#define MAP_REFS_MAX 256          /* lots of a screen, intersections of a corridor */
#define MAP_ISEC_MAX_OFFSET_M 50.0
#define MAP_MAX_RADIUS_M 100000.0 /* from the middle of the map to any feature */

static const char PARKING_FILE[] = "parking.geojson";
static const char CORRIDORS_FILE[] = "corridors.geojson";
static const char SIGNS_FILE[] = "stop_signs.geojson";
static const char *const FILES[] = {PARKING_FILE, CORRIDORS_FILE, SIGNS_FILE};
enum doc { D_PARKING, D_CORRIDORS, D_SIGNS, D_NDOCS };

enum kind { K_LOT, K_BAY, K_AISLE, K_CONNECTOR, K_KIOSK, K_SCREEN, K_ISEC, K_CORRIDOR, K_SIGN,
            K_NKINDS };
enum gtype { G_NONE = 0, G_POINT = 1, G_LINE = 2, G_POLYGON = 4 };

/* What pass 1 learned about one feature. */
struct feat {
    const char *file;
    json_t *props;                /* borrowed from the document */
    enum kind kind;
    bool has_kind;                /* kind is known (even if the rest failed) */
    char label[MAP_ID_MAX + 1];   /* the id, or "#<index>" */
    const char *id;               /* borrowed; NULL when absent */
    enum gtype gtype;
    struct geo_pt *pts;           /* owned: point, line, or exterior ring */
    size_t npts;
    bool ok;                      /* structure and geometry usable */
};

struct loader {
    struct map *m;
    struct map_problems *probs;
    size_t nproblems;             /* added by this load */
    bool oom;
    json_t *docs[D_NDOCS];
    struct feat *feats;
    size_t nfeats;
    size_t counts[K_NKINDS];
    /* Ids of lots and intersections that exist in the file but failed to
     * load: what refers to them is not reported again as "unknown". */
    struct dict *broken[K_NKINDS];
    double minlon, minlat, maxlon, maxlat;
};

/* ---- problems ------------------------------------------------------------ */

void map_problems_free(struct map_problems *p)
{
    if (p == NULL)
        return;
    free(p->items);
    p->items = NULL;
    p->n = p->cap = 0;
}

__attribute__((format(printf, 4, 5)))
static void problem(struct loader *L, const char *file, const char *feature, const char *fmt, ...)
{
    struct map_problems *p = L->probs;
    L->nproblems++;
    if (p->n == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 16;
        struct map_problem *ni = realloc(p->items, ncap * sizeof *ni);
        if (ni == NULL) {
            L->oom = true;
            return;
        }
        p->items = ni;
        p->cap = ncap;
    }
    struct map_problem *it = &p->items[p->n++];
    snprintf(it->file, sizeof it->file, "%s", file);
    snprintf(it->feature, sizeof it->feature, "%s", feature);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->message, sizeof it->message, fmt, ap);
    va_end(ap);
    text_sanitize(it->message);            /* quoted values may hold control characters */
}

#define FPROBLEM(L, ft, ...) problem((L), (ft)->file, (ft)->label, __VA_ARGS__)

static char *dupstr(struct loader *L, const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        L->oom = true;
    return d;
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- property access ----------------------------------------------------- */

static bool valid_id(const char *s)
{
    char e[8];
    return text_check_id("id", s, strlen(s), MAP_ID_MAX + 1, e, sizeof e) == 0;
}

/* What a string property may hold (text.h): an id (levels and categories
 * too: they go into keys and queries) or a name (names, addresses). */
enum str_rule { S_ID, S_NAME };

/* A string of n bytes as property `field` under rule; reported if not. */
static bool str_ok(struct loader *L, const struct feat *ft, const char *field, const char *s,
                   size_t n, enum str_rule rule)
{
    char what[64], e[160];
    snprintf(what, sizeof what, "property '%s'", field);
    int rc = rule == S_ID ? text_check_id(what, s, n, MAP_ID_MAX + 1, e, sizeof e)
                          : text_check(what, s, n, TEXT_NAME_SIZE, e, sizeof e);
    if (rc != 0)
        FPROBLEM(L, ft, "%s", e);
    return rc == 0;
}

/* String property `key` under rule. Absent: *out = NULL and ok unless
 * required. */
static bool get_str(struct loader *L, const struct feat *ft, const char *key, enum str_rule rule,
                    bool required, char **out)
{
    *out = NULL;
    json_t *v = json_object_get(ft->props, key);
    if (v == NULL || json_is_null(v)) {
        if (required)
            FPROBLEM(L, ft, "missing property '%s'", key);
        return !required;
    }
    if (!json_is_string(v) || json_string_length(v) == 0) {
        FPROBLEM(L, ft, "property '%s' must be a non-empty string", key);
        return false;
    }
    if (!str_ok(L, ft, key, json_string_value(v), json_string_length(v), rule))
        return false;
    *out = dupstr(L, json_string_value(v));
    return *out != NULL;
}

/* Plausible values of a number, [lo, hi]. A value beyond them is a typo
 * or garbage that would otherwise reach computations (a cycle_max_s of
 * 1e300 never ends a search for a cycle, a speed of 1e-9 km/h draws a
 * time-space diagram eons long). Signal values are the API's (signals.h). */
struct range {
    double lo, hi;
    const char *unit;
};

static const struct range R_SAT_FLOW = {SIGNALS_SATURATION_PLAUSIBLE_MIN_VPH,
                                        SIGNALS_PLAUSIBLE_FLOW_VPH, " veh/h"};
static const struct range R_FLOW = {0, SIGNALS_PLAUSIBLE_FLOW_VPH, " veh/h"};
static const struct range R_GREEN_S = {0, SIGNALS_MIN_GREEN_MAX_S, " s"};
static const struct range R_LOST_S = {0, SIGNALS_LOST_TIME_MAX_S, " s"};
static const struct range R_CYCLE_S = {SIGNALS_CYCLE_MIN_S, SIGNALS_CYCLE_MAX_S, " s"};
static const struct range R_CROSSING_M = {0, SIGNALS_PLAUSIBLE_CROSSING_M, " m"};
static const struct range R_SPEED_KMH = {SIGNALS_SPEED_MIN_MPS * 3.6,
                                         SIGNALS_SPEED_MAX_MPS * 3.6, " km/h"};

/* Number property (named `ctx.key` when ctx is set) within r; absent
 * leaves *out untouched (ok unless required). */
static bool get_num(struct loader *L, const struct feat *ft, json_t *obj, const char *ctx,
                    const char *key, bool required, struct range r, double *out)
{
    json_t *v = json_object_get(obj, key);
    const char *dot = ctx ? "." : "";
    if (v == NULL || json_is_null(v)) {
        if (required)
            FPROBLEM(L, ft, "missing property '%s%s%s'", ctx ? ctx : "", dot, key);
        return !required;
    }
    double d = json_is_number(v) ? json_number_value(v) : NAN;
    if (!(d >= r.lo && d <= r.hi)) {
        FPROBLEM(L, ft, "property '%s%s%s' must be a number between %g and %g%s",
                 ctx ? ctx : "", dot, key, r.lo, r.hi, r.unit);
        return false;
    }
    *out = d;
    return true;
}

/* Array of at most max distinct ids; absent: NULL/0, ok unless required. */
static bool get_strv(struct loader *L, const struct feat *ft, const char *key, bool required,
                     size_t max, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    json_t *v = json_object_get(ft->props, key);
    if (v == NULL || json_is_null(v)) {
        if (required)
            FPROBLEM(L, ft, "missing property '%s'", key);
        return !required;
    }
    size_t len = json_is_array(v) ? json_array_size(v) : 0;
    bool ok = json_is_array(v);
    for (size_t i = 0; ok && i < len; i++) {
        json_t *e = json_array_get(v, i);
        ok = json_is_string(e) && json_string_length(e) > 0;
    }
    if (!ok) {
        FPROBLEM(L, ft, "property '%s' must be an array of non-empty strings", key);
        return false;
    }
    if (len > max) {                      /* before the quadratic test for twins */
        FPROBLEM(L, ft, "property '%s' lists more than %zu", key, max);
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        json_t *e = json_array_get(v, i);
        char field[48];
        snprintf(field, sizeof field, "%s[%zu]", key, i);
        if (!str_ok(L, ft, field, json_string_value(e), json_string_length(e), S_ID))
            return false;
    }
    for (size_t i = 0; i < len; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(json_string_value(json_array_get(v, i)),
                       json_string_value(json_array_get(v, j))) == 0) {
                FPROBLEM(L, ft, "property '%s' lists '%s' twice", key,
                         json_string_value(json_array_get(v, i)));
                return false;
            }
    if (len == 0)
        return true;
    char **sv = calloc(len, sizeof *sv);
    if (sv == NULL) {
        L->oom = true;
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        sv[i] = dupstr(L, json_string_value(json_array_get(v, i)));
        if (sv[i] == NULL) {
            free_strv(sv, i);
            return false;
        }
    }
    *out = sv;
    *n = len;
    return true;
}

static bool strv_has(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

/* ---- documents and geometry (pass 1) ------------------------------------- */

/* Load one FeatureCollection. Missing optional file: NULL, no problem. */
static json_t *load_doc(struct loader *L, const char *dir, const char *name, bool required)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (stat(path, &st) != 0) {
        if (required || errno != ENOENT)
            problem(L, name, "-", "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    json_error_t e;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
    if (root == NULL) {
        if (e.line > 0)
            problem(L, name, "-", "malformed JSON at line %d column %d: %s", e.line, e.column,
                    e.text);
        else
            problem(L, name, "-", "cannot read %s: %s", path, e.text);
        return NULL;
    }
    const char *type = json_string_value(json_object_get(root, "type"));
    if (type == NULL || strcmp(type, "FeatureCollection") != 0 ||
        !json_is_array(json_object_get(root, "features"))) {
        problem(L, name, "-", "not a GeoJSON FeatureCollection with a 'features' array");
        json_decref(root);
        return NULL;
    }
    return root;
}

/* [lon, lat(, alt)] -> pt; 0, or -1 with a problem recorded. */
static int parse_position(struct loader *L, struct feat *ft, json_t *pos, struct geo_pt *pt)
{
    if (!json_is_array(pos) || json_array_size(pos) < 2 ||
        !json_is_number(json_array_get(pos, 0)) || !json_is_number(json_array_get(pos, 1))) {
        FPROBLEM(L, ft, "coordinates must be [lon, lat] numbers");
        return -1;
    }
    pt->lon = json_number_value(json_array_get(pos, 0));
    pt->lat = json_number_value(json_array_get(pos, 1));
    if (!geo_valid_lonlat(pt->lon, pt->lat)) {
        FPROBLEM(L, ft, "coordinate [%g, %g] out of range (lon -180..180, lat -90..90)",
                 pt->lon, pt->lat);
        return -1;
    }
    return 0;
}

static int parse_positions(struct loader *L, struct feat *ft, json_t *arr)
{
    size_t n = json_array_size(arr);
    ft->pts = malloc((n ? n : 1) * sizeof *ft->pts);
    if (ft->pts == NULL) {
        L->oom = true;
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (parse_position(L, ft, json_array_get(arr, i), &ft->pts[i]) != 0)
            return -1;
    ft->npts = n;
    return 0;
}

static const char *gtype_name(enum gtype t)
{
    return t == G_POINT ? "Point" : t == G_LINE ? "LineString" : "Polygon";
}

/* Geometry of a feature, checked against the kinds' allowed types. */
static bool parse_geometry(struct loader *L, struct feat *ft, json_t *geom, unsigned allowed)
{
    const char *type = json_string_value(json_object_get(geom, "type"));
    json_t *coords = json_object_get(geom, "coordinates");
    if (!json_is_object(geom) || type == NULL) {
        FPROBLEM(L, ft, "missing geometry");
        return false;
    }
    ft->gtype = strcmp(type, "Point") == 0        ? G_POINT
                : strcmp(type, "LineString") == 0 ? G_LINE
                : strcmp(type, "Polygon") == 0    ? G_POLYGON
                                                  : G_NONE;
    if (!(ft->gtype & allowed)) {
        char want[48] = "";
        for (unsigned t = G_POINT; t <= G_POLYGON; t <<= 1)
            if (allowed & t)
                snprintf(want + strlen(want), sizeof want - strlen(want), "%s%s",
                         want[0] ? " or " : "", gtype_name(t));
        FPROBLEM(L, ft, "geometry must be %s, not %s", want, type);
        return false;
    }
    if (ft->gtype == G_POINT) {
        ft->pts = malloc(sizeof *ft->pts);
        if (ft->pts == NULL) {
            L->oom = true;
            return false;
        }
        ft->npts = 1;
        return parse_position(L, ft, coords, ft->pts) == 0;
    }
    if (ft->gtype == G_LINE) {
        if (!json_is_array(coords) || json_array_size(coords) < 2) {
            FPROBLEM(L, ft, "LineString needs at least 2 positions");
            return false;
        }
        return parse_positions(L, ft, coords) == 0;
    }
    /* Polygon: the exterior ring locates the feature; holes do not move a
     * centroid enough to matter for a car park and are not kept. */
    json_t *ring = json_array_get(coords, 0);
    if (!json_is_array(coords) || !json_is_array(ring) || json_array_size(ring) < 4) {
        FPROBLEM(L, ft, "Polygon needs an exterior ring of at least 4 positions");
        return false;
    }
    if (parse_positions(L, ft, ring) != 0)
        return false;
    struct geo_pt a = ft->pts[0], b = ft->pts[ft->npts - 1];
    if (a.lon != b.lon || a.lat != b.lat) {
        FPROBLEM(L, ft, "Polygon ring is not closed (first and last positions differ)");
        return false;
    }
    return true;
}

static bool kind_of(struct loader *L, struct feat *ft, enum doc doc, enum kind *out)
{
    bool parking = doc == D_PARKING;
    if (doc == D_SIGNS) {       /* every feature of stop_signs.geojson is a sign */
        *out = K_SIGN;
        return true;
    }
    static const struct {
        const char *name;
        enum kind kind;
        bool parking;
    } kinds[] = {
        {"lot", K_LOT, true},           {"bay", K_BAY, true},
        {"aisle", K_AISLE, true},       {"connector", K_CONNECTOR, true},
        {"kiosk", K_KIOSK, true},       {"screen", K_SCREEN, true},
        {"corridor", K_CORRIDOR, false}, {"intersection", K_ISEC, false},
    };
    json_t *k = json_object_get(ft->props, "kind");
    if (k == NULL && parking) { /* plain features of parking.geojson are lots */
        *out = K_LOT;
        return true;
    }
    const char *s = json_string_value(k);
    for (size_t i = 0; s != NULL && i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(s, kinds[i].name) == 0 && kinds[i].parking == parking) {
            *out = kinds[i].kind;
            return true;
        }
    if (s == NULL)
        FPROBLEM(L, ft, "missing or non-string property 'kind'");
    else
        FPROBLEM(L, ft, "unknown kind '%s' (expected %s)", s,
                 parking ? "lot, bay, aisle, connector, kiosk or screen"
                         : "corridor or intersection");
    return false;
}

static const unsigned kind_geoms[K_NKINDS] = {
    [K_LOT] = G_POINT | G_POLYGON, [K_BAY] = G_POINT | G_POLYGON, [K_AISLE] = G_LINE,
    [K_CONNECTOR] = G_POINT,       [K_KIOSK] = G_POINT,           [K_SCREEN] = G_POINT,
    [K_ISEC] = G_POINT,            [K_CORRIDOR] = G_LINE,         [K_SIGN] = G_POINT,
};

/* Label and id: properties.id (or a string Feature id), else "#index". */
static bool feature_id(struct loader *L, struct feat *ft, json_t *f, size_t index)
{
    json_t *v = json_object_get(ft->props, "id");
    if (v == NULL && json_is_string(json_object_get(f, "id")))
        v = json_object_get(f, "id");
    snprintf(ft->label, sizeof ft->label, "#%zu", index);
    if (v == NULL || json_is_null(v))
        return true;
    if (!json_is_string(v) || !valid_id(json_string_value(v))) {
        FPROBLEM(L, ft, "id must be a string of 1 to %d bytes without control characters",
                 MAP_ID_MAX);
        return false;
    }
    ft->id = json_string_value(v);
    snprintf(ft->label, sizeof ft->label, "%s", ft->id);
    return true;
}

static void bbox_add(struct loader *L, const struct feat *ft)
{
    for (size_t i = 0; i < ft->npts; i++) {
        L->minlon = fmin(L->minlon, ft->pts[i].lon);
        L->maxlon = fmax(L->maxlon, ft->pts[i].lon);
        L->minlat = fmin(L->minlat, ft->pts[i].lat);
        L->maxlat = fmax(L->maxlat, ft->pts[i].lat);
    }
}

static void scan_feature(struct loader *L, struct feat *ft, json_t *f, size_t index, enum doc doc)
{
    snprintf(ft->label, sizeof ft->label, "#%zu", index);
    const char *type = json_string_value(json_object_get(f, "type"));
    ft->props = json_object_get(f, "properties");
    if (!json_is_object(f) || type == NULL || strcmp(type, "Feature") != 0) {
        FPROBLEM(L, ft, "not a GeoJSON Feature");
        return;
    }
    if (!json_is_object(ft->props)) {
        FPROBLEM(L, ft, "missing 'properties' object");
        return;
    }
    bool id_ok = feature_id(L, ft, f, index);
    if (!kind_of(L, ft, doc, &ft->kind))
        return;
    ft->has_kind = true;
    if (!id_ok)
        return;
    bool id_optional = ft->kind == K_AISLE || ft->kind == K_CONNECTOR;
    if (ft->id == NULL && !id_optional) {
        FPROBLEM(L, ft, "missing property 'id'");
        return;
    }
    if (!parse_geometry(L, ft, json_object_get(f, "geometry"), kind_geoms[ft->kind]))
        return;
    L->counts[ft->kind]++;
    ft->ok = true;
}

static int scan_docs(struct loader *L)
{
    size_t total = 0;
    for (int d = 0; d < D_NDOCS; d++)
        total += L->docs[d] ? json_array_size(json_object_get(L->docs[d], "features")) : 0;
    L->feats = calloc(total ? total : 1, sizeof *L->feats);
    if (L->feats == NULL)
        return -1;
    for (int d = 0; d < D_NDOCS; d++) {
        json_t *arr = L->docs[d] ? json_object_get(L->docs[d], "features") : NULL;
        for (size_t i = 0; i < json_array_size(arr); i++) {
            struct feat *ft = &L->feats[L->nfeats++];
            ft->file = FILES[d];
            scan_feature(L, ft, json_array_get(arr, i), i, (enum doc)d);
        }
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A city map is a few tens of km across. A feature far from the rest has
 * stray or swapped coordinates (or is at [0, 0]), and would also drag the
 * projection centre away from the city, so it is reported and left out of
 * the bounding box. "The rest" is the median position of all features,
 * which one stray feature cannot move. */
static int check_extent(struct loader *L)
{
    double *lons = malloc((L->nfeats ? L->nfeats : 1) * sizeof *lons);
    double *lats = malloc((L->nfeats ? L->nfeats : 1) * sizeof *lats);
    size_t n = 0;
    if (lons == NULL || lats == NULL) {
        free(lons);
        free(lats);
        return -1;
    }
    for (size_t i = 0; i < L->nfeats; i++)
        if (L->feats[i].ok) {
            lons[n] = L->feats[i].pts[0].lon;
            lats[n++] = L->feats[i].pts[0].lat;
        }
    qsort(lons, n, sizeof *lons, cmp_double);
    qsort(lats, n, sizeof *lats, cmp_double);
    for (size_t i = 0; n > 0 && i < L->nfeats; i++) {
        struct feat *ft = &L->feats[i];
        double far = 0.0;
        for (size_t k = 0; ft->ok && k < ft->npts; k++)
            far = fmax(far, geo_distance_m(lons[n / 2], lats[n / 2], ft->pts[k].lon,
                                           ft->pts[k].lat));
        if (far > MAP_MAX_RADIUS_M) {
            FPROBLEM(L, ft, "%.0f km from the middle of the map (limit %.0f km): stray or "
                            "swapped coordinates?", far / 1000, MAP_MAX_RADIUS_M / 1000);
            ft->ok = false;
            L->counts[ft->kind]--;
        }
        if (ft->ok)
            bbox_add(L, ft);
    }
    free(lons);
    free(lats);
    return 0;
}

/* ---- parking features (pass 2) -------------------------------------------- */

/* A Point's position or a Polygon's centroid. */
static bool feature_location(struct loader *L, const struct feat *ft, struct geo_pt *out)
{
    if (ft->gtype == G_POINT) {
        *out = ft->pts[0];
        return true;
    }
    if (geo_polygon_centroid(L->m->geo, ft->pts, ft->npts, out) != 0) {
        FPROBLEM(L, ft, "Polygon has no centroid: %s", geo_last_error(L->m->geo));
        return false;
    }
    return true;
}

int map_parse_hhmm(const char *s)
{
    if (s == NULL || strlen(s) != 5 || s[2] != ':')
        return -1;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (s[i] < '0' || s[i] > '9'))
            return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0');
    int m = (s[3] - '0') * 10 + (s[4] - '0');
    return h > 23 || m > 59 ? -1 : h * 60 + m;
}

/* A lot's properties by the rule PUT bodies follow too (lotdef.h), every
 * problem reported; where it stands is the feature's geometry. */
struct lot_report {
    struct loader *L;
    const struct feat *ft;
};

static void lot_problem(void *ctx, const char *msg)
{
    const struct lot_report *c = ctx;
    FPROBLEM(c->L, c->ft, "%s", msg);
}

static bool parse_lot(struct loader *L, const struct feat *ft, struct map_lot *l)
{
    struct lot_report c = {L, ft};
    bool ok = lotdef_parse(ft->id, ft->props, l, lot_problem, &c) == 0;
    ok &= feature_location(L, ft, &l->loc);
    if (!ok)
        lotdef_clear(l);
    return ok;
}

/* Index value under key unless taken; a duplicate is a problem. */
static bool index_put(struct loader *L, const struct feat *ft, struct dict *d, const char *key,
                      void *value, const char *what)
{
    if (dict_get(d, key) != NULL) {
        FPROBLEM(L, ft, "duplicate %s id", what);
        return false;
    }
    int err;
    dict_put(d, key, value, &err);
    if (err != 0) {
        L->oom = true;
        return false;
    }
    return true;
}

/* The lot a garage feature belongs to ('lot' property). */
static struct map_lot *owner_lot(struct loader *L, const struct feat *ft, char **lot_id)
{
    if (!get_str(L, ft, "lot", S_ID, true, lot_id) || *lot_id == NULL)
        return NULL;
    struct map_lot *lot = dict_get(L->m->lot_by_id, *lot_id);
    if (lot == NULL && !dict_get(L->broken[K_LOT], *lot_id))
        FPROBLEM(L, ft, "unknown lot '%s'", *lot_id);
    return lot;
}

static bool check_level(struct loader *L, const struct feat *ft, const struct map_lot *lot,
                        const char *level)
{
    if (strv_has(lot->levels, lot->nlevels, level))
        return true;
    FPROBLEM(L, ft, "level '%s' is not one of lot '%s' levels", level, lot->id);
    return false;
}

/* 'lot' and 'level' of a bay, aisle or kiosk. */
static struct map_lot *lot_level(struct loader *L, const struct feat *ft, char **lot_id,
                                 char **level)
{
    struct map_lot *lot = owner_lot(L, ft, lot_id);
    bool ok = get_str(L, ft, "level", S_ID, true, level);
    if (lot == NULL || !ok || !check_level(L, ft, lot, *level))
        return NULL;
    return lot;
}

static void bay_clear(struct map_bay *b)
{
    free(b->id);
    free(b->lot);
    free(b->level);
}

static void aisle_clear(struct map_aisle *a)
{
    free(a->id);
    free(a->lot);
    free(a->level);
    free(a->pts);
}

static void connector_clear(struct map_connector *c)
{
    free(c->id);
    free(c->lot);
    free(c->name);
    free(c->connector_type);
    free_strv(c->levels, c->nlevels);
}

static void kiosk_clear(struct map_kiosk *k)
{
    free(k->id);
    free(k->lot);
    free(k->level);
    free(k->name);
}

static void screen_clear(struct map_screen *s)
{
    free(s->id);
    free(s->name);
    free_strv(s->lots, s->nlots);
}

static bool parse_bay(struct loader *L, const struct feat *ft)
{
    struct map_bay *b = &L->m->bays[L->m->nbays];
    memset(b, 0, sizeof *b);
    struct map_lot *lot = lot_level(L, ft, &b->lot, &b->level);
    bool ok = lot != NULL && (b->id = dupstr(L, ft->id)) != NULL &&
              feature_location(L, ft, &b->pt);
    char key[2 * MAP_ID_MAX + 2];
    if (ok) {
        snprintf(key, sizeof key, "%s\x1f%s", b->lot, b->id);
        ok = index_put(L, ft, L->m->bay_by_key, key, b, "bay");
    }
    if (!ok) {
        bay_clear(b);
        return false;
    }
    lot->nbays++;
    L->m->nbays++;
    return true;
}

static bool parse_aisle(struct loader *L, struct feat *ft)
{
    struct map_aisle *a = &L->m->aisles[L->m->naisles];
    memset(a, 0, sizeof *a);
    bool ok = lot_level(L, ft, &a->lot, &a->level) != NULL;
    if (ok && ft->id != NULL)
        ok = (a->id = dupstr(L, ft->id)) != NULL;
    if (!ok) {
        aisle_clear(a);
        return false;
    }
    a->pts = ft->pts; /* take the parsed line */
    a->npts = ft->npts;
    ft->pts = NULL;
    L->m->naisles++;
    return true;
}

static bool connector_levels(struct loader *L, const struct feat *ft, const struct map_lot *lot,
                             struct map_connector *c)
{
    if (!get_strv(L, ft, "levels", true, LOTDEF_LIST_MAX, &c->levels, &c->nlevels))
        return false;
    if (c->nlevels < 2) {
        FPROBLEM(L, ft, "a connector must join at least 2 levels");
        return false;
    }
    bool ok = true;
    for (size_t i = 0; lot != NULL && i < c->nlevels; i++)
        ok &= check_level(L, ft, lot, c->levels[i]);
    return ok;
}

static bool parse_connector(struct loader *L, const struct feat *ft)
{
    struct map_connector *c = &L->m->connectors[L->m->nconnectors];
    memset(c, 0, sizeof *c);
    const struct map_lot *lot = owner_lot(L, ft, &c->lot);
    bool ok = lot != NULL;
    ok &= connector_levels(L, ft, lot, c);
    ok &= get_str(L, ft, "name", S_NAME, false, &c->name);
    ok &= get_str(L, ft, "type", S_NAME, false, &c->connector_type);
    ok = ok && (c->id = dupstr(L, ft->label)) != NULL;
    if (!ok) {
        connector_clear(c);
        return false;
    }
    c->pt = ft->pts[0];
    L->m->nconnectors++;
    return true;
}

static bool parse_kiosk(struct loader *L, const struct feat *ft)
{
    struct map_kiosk *k = &L->m->kiosks[L->m->nkiosks];
    memset(k, 0, sizeof *k);
    bool ok = lot_level(L, ft, &k->lot, &k->level) != NULL;
    ok &= get_str(L, ft, "name", S_NAME, false, &k->name);
    ok = ok && (k->id = dupstr(L, ft->id)) != NULL &&
         index_put(L, ft, L->m->kiosk_by_id, k->id, k, "kiosk");
    if (!ok) {
        kiosk_clear(k);
        return false;
    }
    k->pt = ft->pts[0];
    L->m->nkiosks++;
    return true;
}

static bool parse_screen(struct loader *L, const struct feat *ft)
{
    struct map_screen *s = &L->m->screens[L->m->nscreens];
    memset(s, 0, sizeof *s);
    bool ok = get_strv(L, ft, "lots", true, MAP_REFS_MAX, &s->lots, &s->nlots);
    if (ok && s->nlots == 0) {
        FPROBLEM(L, ft, "property 'lots' must name at least one lot");
        ok = false;
    }
    for (size_t i = 0; i < s->nlots; i++)
        if (dict_get(L->m->lot_by_id, s->lots[i]) == NULL) {
            if (!dict_get(L->broken[K_LOT], s->lots[i]))
                FPROBLEM(L, ft, "unknown lot '%s'", s->lots[i]);
            ok = false;
        }
    ok &= get_str(L, ft, "name", S_NAME, false, &s->name);
    ok = ok && (s->id = dupstr(L, ft->id)) != NULL &&
         index_put(L, ft, L->m->screen_by_id, s->id, s, "screen");
    if (!ok) {
        screen_clear(s);
        return false;
    }
    s->pt = ft->pts[0];
    L->m->nscreens++;
    return true;
}

/* Remember the id of a feature of `kind` that did not load. */
static void mark_broken(struct loader *L, struct feat *ft, enum kind kind)
{
    int err = 0;
    if (ft->has_kind && ft->kind == kind && ft->id != NULL)
        dict_put(L->broken[kind], ft->id, ft, &err);
    if (err != 0)
        L->oom = true;
}

static void load_parking(struct loader *L)
{
    struct map *m = L->m;
    for (size_t i = 0; i < L->nfeats; i++) {
        struct feat *ft = &L->feats[i];
        if (!ft->ok || ft->kind != K_LOT) {
            mark_broken(L, ft, K_LOT);
            continue;
        }
        struct map_lot *l = &m->lots[m->nlots];
        if (!parse_lot(L, ft, l)) {
            mark_broken(L, ft, K_LOT);
            continue;
        }
        if (!index_put(L, ft, m->lot_by_id, l->id, l, "lot")) {
            lotdef_clear(l);
            continue;
        }
        m->nlots++;
    }
    for (size_t i = 0; i < L->nfeats; i++) {
        struct feat *ft = &L->feats[i];
        if (!ft->ok)
            continue;
        switch (ft->kind) {
        case K_BAY: parse_bay(L, ft); break;
        case K_AISLE: parse_aisle(L, ft); break;
        case K_CONNECTOR: parse_connector(L, ft); break;
        case K_KIOSK: parse_kiosk(L, ft); break;
        case K_SCREEN: parse_screen(L, ft); break;
        default: break;
        }
    }
}

/* ---- corridors (pass 2) ----------------------------------------------------- */

static bool utdf_movement(const char *s)
{
    static const char *const names[] = {"NBL", "NBT", "NBR", "SBL", "SBT", "SBR",
                                        "EBL", "EBT", "EBR", "WBL", "WBT", "WBR"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i]) == 0)
            return true;
    return false;
}

static bool parse_movements(struct loader *L, const struct feat *ft, json_t *mv, size_t k,
                            struct map_phase *ph)
{
    size_t n = json_is_array(mv) ? json_array_size(mv) : 0;
    if (n == 0) {
        FPROBLEM(L, ft, "phase %zu has no movements", k + 1);
        return false;
    }
    ph->movements = calloc(n, sizeof *ph->movements);
    if (ph->movements == NULL) {
        L->oom = true;
        return false;
    }
    bool ok = true;
    /* The first bad entry is the problem: a list of thousands of them
     * must not become thousands of problems. */
    for (size_t i = 0; ok && i < n; i++) {
        const char *s = json_string_value(json_array_get(mv, i));
        if (s == NULL || !utdf_movement(s)) {
            FPROBLEM(L, ft, "phase %zu: unknown movement '%s' (UTDF: NBL NBT NBR SBL SBT SBR "
                            "EBL EBT EBR WBL WBT WBR)", k + 1, s ? s : "(not a string)");
            ok = false;
        } else if (strv_has(ph->movements, ph->nmovements, s)) {
            FPROBLEM(L, ft, "phase %zu lists movement '%s' twice", k + 1, s);
            ok = false;
        } else if ((ph->movements[ph->nmovements] = dupstr(L, s)) != NULL) {
            ph->nmovements++;
        } else {
            ok = false;
        }
    }
    return ok;
}

static bool parse_phase(struct loader *L, const struct feat *ft, json_t *p, size_t k,
                        struct map_phase *ph)
{
    char ctx[32];
    snprintf(ctx, sizeof ctx, "phases[%zu]", k);
    if (!json_is_object(p)) {
        FPROBLEM(L, ft, "phase %zu must be an object", k + 1);
        return false;
    }
    bool ok = parse_movements(L, ft, json_object_get(p, "movements"), k, ph);
    ok &= get_num(L, ft, p, ctx, "saturation_flow", true, R_SAT_FLOW, &ph->saturation_flow);
    ok &= get_num(L, ft, p, ctx, "min_green_s", true, R_GREEN_S, &ph->min_green_s);
    ok &= get_num(L, ft, p, ctx, "flow", false, R_FLOW, &ph->design_flow);
    return ok;
}

static void isec_clear(struct map_intersection *x)
{
    free(x->id);
    free(x->name);
    for (size_t i = 0; i < x->nphases; i++)
        free_strv(x->phases[i].movements, x->phases[i].nmovements);
    free(x->phases);
    memset(x, 0, sizeof *x);
}

static bool parse_phases(struct loader *L, const struct feat *ft, struct map_intersection *x)
{
    json_t *v = json_object_get(ft->props, "phases");
    size_t n = json_is_array(v) ? json_array_size(v) : 0;
    if (n == 0) {
        FPROBLEM(L, ft, "property 'phases' must be a non-empty array");
        return false;
    }
    if (n > SIGNALS_MAX_PHASES) {         /* what signal timing can hold */
        FPROBLEM(L, ft, "property 'phases' lists %zu (at most %d phases)", n,
                 SIGNALS_MAX_PHASES);
        return false;
    }
    x->phases = calloc(n, sizeof *x->phases);
    if (x->phases == NULL) {
        L->oom = true;
        return false;
    }
    x->nphases = n;
    bool ok = true;
    for (size_t i = 0; i < n; i++)
        ok &= parse_phase(L, ft, json_array_get(v, i), i, &x->phases[i]);
    return ok;
}

static bool parse_isec(struct loader *L, const struct feat *ft)
{
    struct map_intersection *x = &L->m->isecs[L->m->nisecs];
    memset(x, 0, sizeof *x);
    bool ok = (x->id = dupstr(L, ft->id)) != NULL;
    ok &= get_str(L, ft, "name", S_NAME, true, &x->name);
    ok &= parse_phases(L, ft, x);
    ok &= get_num(L, ft, ft->props, NULL, "lost_time_s", true, R_LOST_S, &x->lost_time_s);
    ok &= get_num(L, ft, ft->props, NULL, "cycle_min_s", true, R_CYCLE_S, &x->cycle_min_s);
    ok &= get_num(L, ft, ft->props, NULL, "cycle_max_s", true, R_CYCLE_S, &x->cycle_max_s);
    ok &= get_num(L, ft, ft->props, NULL, "pedestrian_crossing_m", false, R_CROSSING_M,
                  &x->pedestrian_crossing_m);
    if (ok && x->cycle_min_s > x->cycle_max_s) {
        FPROBLEM(L, ft, "cycle_min_s %g is above cycle_max_s %g", x->cycle_min_s,
                 x->cycle_max_s);
        ok = false;
    }
    ok = ok && index_put(L, ft, L->m->isec_by_id, x->id, x, "intersection");
    if (!ok) {
        isec_clear(x);
        return false;
    }
    x->pt = ft->pts[0];
    L->m->nisecs++;
    return true;
}

static void corridor_clear(struct map_corridor *c)
{
    free(c->id);
    free(c->name);
    geo_line_free(c->line);
    free_strv(c->isecs, c->nisecs);
    free(c->position_m);
    free(c->offset_m);
    memset(c, 0, sizeof *c);
}

/* Positions of the corridor's intersections by projection onto its line:
 * each must be near the line and strictly after the one before (among
 * those that could be located, so one bad entry does not hide others). */
static bool corridor_positions(struct loader *L, const struct feat *ft, struct map_corridor *c)
{
    bool ok = true;
    size_t prev = SIZE_MAX;
    for (size_t i = 0; i < c->nisecs; i++) {
        const struct map_intersection *x = dict_get(L->m->isec_by_id, c->isecs[i]);
        if (x == NULL) {
            if (!dict_get(L->broken[K_ISEC], c->isecs[i]))
                FPROBLEM(L, ft, "unknown intersection '%s'", c->isecs[i]);
            ok = false;
            continue;
        }
        c->position_m[i] = geo_line_locate(L->m->geo, c->line, x->pt, &c->offset_m[i]);
        if (isnan(c->position_m[i])) {
            FPROBLEM(L, ft, "cannot locate intersection '%s': %s", x->id,
                     geo_last_error(L->m->geo));
            ok = false;
            continue;
        }
        if (c->offset_m[i] > MAP_ISEC_MAX_OFFSET_M) {
            FPROBLEM(L, ft, "intersection '%s' is %.1f m from the corridor line (max %.0f m)",
                     x->id, c->offset_m[i], MAP_ISEC_MAX_OFFSET_M);
            ok = false;
        }
        if (prev != SIZE_MAX && !(c->position_m[i] > c->position_m[prev])) {
            FPROBLEM(L, ft, "intersection '%s' at %.1f m is not after '%s' at %.1f m along "
                            "the line (list them in outbound order)",
                     x->id, c->position_m[i], c->isecs[prev], c->position_m[prev]);
            ok = false;
        }
        prev = i;
    }
    return ok;
}

static bool parse_corridor(struct loader *L, const struct feat *ft)
{
    struct map_corridor *c = &L->m->corridors[L->m->ncorridors];
    memset(c, 0, sizeof *c);
    bool ok = (c->id = dupstr(L, ft->id)) != NULL;
    ok &= get_str(L, ft, "name", S_NAME, true, &c->name);
    ok &= get_num(L, ft, ft->props, NULL, "speed_kmh", true, R_SPEED_KMH, &c->speed_kmh);
    bool listed = get_strv(L, ft, "intersections", true, MAP_REFS_MAX, &c->isecs, &c->nisecs);
    if (listed && c->nisecs < 2) {
        FPROBLEM(L, ft, "property 'intersections' must list at least 2 intersections");
        listed = false;
    }
    c->line = geo_line_new(L->m->geo, ft->pts, ft->npts);
    c->position_m = calloc(c->nisecs ? c->nisecs : 1, sizeof *c->position_m);
    c->offset_m = calloc(c->nisecs ? c->nisecs : 1, sizeof *c->offset_m);
    if (c->line == NULL || c->position_m == NULL || c->offset_m == NULL) {
        FPROBLEM(L, ft, "cannot build the corridor line: %s", geo_last_error(L->m->geo));
        ok = false;
    }
    ok = ok && listed && corridor_positions(L, ft, c) &&
         index_put(L, ft, L->m->corridor_by_id, c->id, c, "corridor");
    if (!ok) {
        corridor_clear(c);
        return false;
    }
    L->m->ncorridors++;
    return true;
}

static void load_corridors(struct loader *L)
{
    for (size_t i = 0; i < L->nfeats; i++) {
        struct feat *ft = &L->feats[i];
        if (!ft->ok || ft->kind != K_ISEC || !parse_isec(L, ft))
            mark_broken(L, ft, K_ISEC);
    }
    for (size_t i = 0; i < L->nfeats; i++)
        if (L->feats[i].ok && L->feats[i].kind == K_CORRIDOR)
            parse_corridor(L, &L->feats[i]);
}

/* ---- stop signs (pass 2) ---------------------------------------------------------- */

static void sign_clear(struct map_sign *g)
{
    free(g->id);
    free(g->stop_id);
    free(g->name);
}

/* Whether stop_id names a stop of the GTFS feed is checked by the
 * transit side (api_city.c), which has the feed. */
static bool parse_sign(struct loader *L, const struct feat *ft)
{
    struct map_sign *g = &L->m->signs[L->m->nsigns];
    memset(g, 0, sizeof *g);
    bool ok = get_str(L, ft, "stop_id", S_ID, true, &g->stop_id);
    ok &= get_str(L, ft, "name", S_NAME, false, &g->name);
    ok = ok && (g->id = dupstr(L, ft->id)) != NULL &&
         index_put(L, ft, L->m->sign_by_id, g->id, g, "stop sign");
    if (!ok) {
        sign_clear(g);
        return false;
    }
    g->pt = ft->pts[0];
    L->m->nsigns++;
    return true;
}

static void load_signs(struct loader *L)
{
    for (size_t i = 0; i < L->nfeats; i++)
        if (L->feats[i].ok && L->feats[i].kind == K_SIGN)
            parse_sign(L, &L->feats[i]);
}

/* ---- load / free --------------------------------------------------------------- */

/* The map's arrays (exact sizes from pass 1), indexes and projection. */
static int map_alloc(struct loader *L)
{
    struct map *m = L->m;
    const size_t *n = L->counts;
#define ALLOC(field, k) (m->field = calloc(n[k] ? n[k] : 1, sizeof *m->field)) == NULL
    if (ALLOC(lots, K_LOT) || ALLOC(bays, K_BAY) || ALLOC(aisles, K_AISLE) ||
        ALLOC(connectors, K_CONNECTOR) || ALLOC(kiosks, K_KIOSK) || ALLOC(screens, K_SCREEN) ||
        ALLOC(isecs, K_ISEC) || ALLOC(corridors, K_CORRIDOR) || ALLOC(signs, K_SIGN))
        return -1;
#undef ALLOC
    m->lot_by_id = dict_new();
    m->bay_by_key = dict_new();
    m->kiosk_by_id = dict_new();
    m->screen_by_id = dict_new();
    m->isec_by_id = dict_new();
    m->corridor_by_id = dict_new();
    m->sign_by_id = dict_new();
    if (!m->lot_by_id || !m->bay_by_key || !m->kiosk_by_id || !m->screen_by_id ||
        !m->isec_by_id || !m->corridor_by_id || !m->sign_by_id)
        return -1;
    /* The projection is centred on the map so that every feature of a city
     * is well inside its accurate range. */
    bool any = L->minlon <= L->maxlon;
    m->geo = geo_new(any ? (L->minlon + L->maxlon) / 2 : 0.0,
                     any ? (L->minlat + L->maxlat) / 2 : 0.0);
    return m->geo == NULL ? -1 : 0;
}

static void loader_free(struct loader *L)
{
    for (size_t i = 0; i < L->nfeats; i++)
        free(L->feats[i].pts);
    free(L->feats);
    for (int d = 0; d < D_NDOCS; d++)
        json_decref(L->docs[d]);
    dict_free(L->broken[K_LOT], NULL);
    dict_free(L->broken[K_ISEC], NULL);
}

int map_load(const char *dir, struct map **out, struct map_problems *probs)
{
    struct loader L = {.probs = probs, .minlon = INFINITY, .minlat = INFINITY,
                       .maxlon = -INFINITY, .maxlat = -INFINITY};
    *out = NULL;
    L.m = calloc(1, sizeof *L.m);
    if (L.m == NULL || (L.m->dir = strdup(dir)) == NULL)
        goto oom;
    L.docs[0] = load_doc(&L, dir, PARKING_FILE, true);
    L.docs[1] = load_doc(&L, dir, CORRIDORS_FILE, false);
    L.docs[2] = load_doc(&L, dir, SIGNS_FILE, false);
    L.broken[K_LOT] = dict_new();
    L.broken[K_ISEC] = dict_new();
    if (L.broken[K_LOT] == NULL || L.broken[K_ISEC] == NULL || scan_docs(&L) != 0 ||
        check_extent(&L) != 0 || map_alloc(&L) != 0)
        goto oom;
    load_parking(&L);
    load_corridors(&L);
    load_signs(&L);
    if (L.oom)
        goto oom;
    goto out;
oom:
    problem(&L, "-", "-", "out of memory loading the map");
out:
    loader_free(&L);
    if (L.nproblems > 0) {
        map_free(L.m);
        return -1;
    }
    *out = L.m;
    return 0;
}

void map_free(struct map *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nlots; i++)
        lotdef_clear(&m->lots[i]);
    for (size_t i = 0; i < m->nbays; i++)
        bay_clear(&m->bays[i]);
    for (size_t i = 0; i < m->naisles; i++)
        aisle_clear(&m->aisles[i]);
    for (size_t i = 0; i < m->nconnectors; i++)
        connector_clear(&m->connectors[i]);
    for (size_t i = 0; i < m->nkiosks; i++)
        kiosk_clear(&m->kiosks[i]);
    for (size_t i = 0; i < m->nscreens; i++)
        screen_clear(&m->screens[i]);
    for (size_t i = 0; i < m->nisecs; i++)
        isec_clear(&m->isecs[i]);
    for (size_t i = 0; i < m->ncorridors; i++)
        corridor_clear(&m->corridors[i]); /* lines before their geo */
    for (size_t i = 0; i < m->nsigns; i++)
        sign_clear(&m->signs[i]);
    free(m->signs);
    free(m->lots);
    free(m->bays);
    free(m->aisles);
    free(m->connectors);
    free(m->kiosks);
    free(m->screens);
    free(m->isecs);
    free(m->corridors);
    dict_free(m->lot_by_id, NULL);
    dict_free(m->bay_by_key, NULL);
    dict_free(m->kiosk_by_id, NULL);
    dict_free(m->screen_by_id, NULL);
    dict_free(m->isec_by_id, NULL);
    dict_free(m->corridor_by_id, NULL);
    dict_free(m->sign_by_id, NULL);
    geo_free(m->geo);
    free(m->dir);
    free(m);
}

/* ---- lookups ---------------------------------------------------------------------- */

static const void *lookup(const struct dict *d, const char *id)
{
    return d != NULL && id != NULL ? dict_get(d, id) : NULL;
}

const struct map_lot *map_lot(const struct map *m, const char *id)
{
    return lookup(m->lot_by_id, id);
}

const struct map_bay *map_bay(const struct map *m, const char *lot, const char *bay)
{
    char key[2 * MAP_ID_MAX + 2];
    if (lot == NULL || bay == NULL || strlen(lot) > MAP_ID_MAX || strlen(bay) > MAP_ID_MAX)
        return NULL;
    snprintf(key, sizeof key, "%s\x1f%s", lot, bay);
    return lookup(m->bay_by_key, key);
}

const struct map_kiosk *map_kiosk(const struct map *m, const char *id)
{
    return lookup(m->kiosk_by_id, id);
}

const struct map_screen *map_screen(const struct map *m, const char *id)
{
    return lookup(m->screen_by_id, id);
}

const struct map_intersection *map_intersection(const struct map *m, const char *id)
{
    return lookup(m->isec_by_id, id);
}

const struct map_corridor *map_corridor(const struct map *m, const char *id)
{
    return lookup(m->corridor_by_id, id);
}

const struct map_sign *map_sign(const struct map *m, const char *id)
{
    return lookup(m->sign_by_id, id);
}
