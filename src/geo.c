/* geo.c -- geometry: great-circle math, GCJ-02, the local projection, and
 * every use of GEOS in cityd (linear referencing, centroids).
 *
 * GEOS is planar, so all GEOS geometries here are built from projected
 * metres (see struct geo_proj in geo.h), never from raw degrees. Only the
 * reentrant _r API is used; the context handle belongs to struct geo and
 * its messages are captured into the struct instead of going to stderr. */
#include "geo.h"

#include <geos_c.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEG2RAD (M_PI / 180.0)
#define RAD2DEG (180.0 / M_PI)

struct geo {
    GEOSContextHandle_t h;
    struct geo_proj proj;
    char err[256];               /* last GEOS error or notice */
};

/* Private part of struct geo_line. */
struct line_impl {
    struct geo *g;               /* not owned: the line's context */
    struct geo_xy *xy;           /* projected vertices, owned */
    GEOSGeometry *geom;          /* projected LineString, owned */
};

/* ---- pure math ------------------------------------------------------- */

double geo_distance_m(double lon1, double lat1, double lon2, double lat2)
{
    double p1 = lat1 * DEG2RAD, p2 = lat2 * DEG2RAD;
    double dp = p2 - p1, dl = (lon2 - lon1) * DEG2RAD;
    double s1 = sin(dp / 2), s2 = sin(dl / 2);
    double a = s1 * s1 + cos(p1) * cos(p2) * s2 * s2;
    if (a > 1.0) /* rounding near antipodes */
        a = 1.0;
    return 2.0 * GEO_EARTH_RADIUS_M * asin(sqrt(a));
}

double geo_bearing_deg(double lon1, double lat1, double lon2, double lat2)
{
    double p1 = lat1 * DEG2RAD, p2 = lat2 * DEG2RAD;
    double dl = (lon2 - lon1) * DEG2RAD;
    double y = sin(dl) * cos(p2);
    double x = cos(p1) * sin(p2) - sin(p1) * cos(p2) * cos(dl);
    double b = fmod(atan2(y, x) * RAD2DEG + 360.0, 360.0);
    return b >= 360.0 ? 0.0 : b;
}

bool geo_valid_lonlat(double lon, double lat)
{
    return isfinite(lon) && isfinite(lat) && lon >= -180.0 && lon <= 180.0 &&
           lat >= -90.0 && lat <= 90.0;
}

/* ---- GCJ-02 ------------------------------------------------------------
 * The published obfuscation of China's GB 2260 "Mars" datum: a smooth
 * offset of up to a few hundred metres, defined on the Krasovsky 1940
 * ellipsoid. Applied only inside a coarse rectangle around China, as every
 * map app does; outside it GCJ-02 equals WGS84. */

#define GCJ_A  6378245.0
#define GCJ_EE 0.00669342162296594323

bool geo_in_china(double lon, double lat)
{
    return lon >= 72.004 && lon <= 137.8347 && lat >= 0.8293 && lat <= 55.8271;
}

static double gcj_dlat(double x, double y)
{
    double r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt(fabs(x));
    r += (20.0 * sin(6.0 * x * M_PI) + 20.0 * sin(2.0 * x * M_PI)) * 2.0 / 3.0;
    r += (20.0 * sin(y * M_PI) + 40.0 * sin(y / 3.0 * M_PI)) * 2.0 / 3.0;
    r += (160.0 * sin(y / 12.0 * M_PI) + 320.0 * sin(y * M_PI / 30.0)) * 2.0 / 3.0;
    return r;
}

static double gcj_dlon(double x, double y)
{
    double r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt(fabs(x));
    r += (20.0 * sin(6.0 * x * M_PI) + 20.0 * sin(2.0 * x * M_PI)) * 2.0 / 3.0;
    r += (20.0 * sin(x * M_PI) + 40.0 * sin(x / 3.0 * M_PI)) * 2.0 / 3.0;
    r += (150.0 * sin(x / 12.0 * M_PI) + 300.0 * sin(x / 30.0 * M_PI)) * 2.0 / 3.0;
    return r;
}

/* The forward offset, without the China test (the inverse iterates on it). */
static void gcj_offset(double lon, double lat, double *dlon, double *dlat)
{
    double x = lon - 105.0, y = lat - 35.0;
    double rad = lat * DEG2RAD;
    double s = sin(rad);
    double magic = 1.0 - GCJ_EE * s * s;
    double sq = sqrt(magic);
    *dlat = gcj_dlat(x, y) * 180.0 / ((GCJ_A * (1.0 - GCJ_EE)) / (magic * sq) * M_PI);
    *dlon = gcj_dlon(x, y) * 180.0 / (GCJ_A / sq * cos(rad) * M_PI);
}

void geo_wgs84_to_gcj02(double lon, double lat, double *olon, double *olat)
{
    double dlon = 0.0, dlat = 0.0;
    if (geo_in_china(lon, lat))
        gcj_offset(lon, lat, &dlon, &dlat);
    *olon = lon + dlon;
    *olat = lat + dlat;
}

/* The offset varies slowly (its derivative is ~1e-5 per degree), so the
 * fixed point w = g - offset(w) converges by ~5 orders of magnitude per
 * step; 1e-9 deg (0.1 mm) takes two or three steps. The cap only guards
 * against NaN input. */
void geo_gcj02_to_wgs84(double lon, double lat, double *olon, double *olat)
{
    double wlon = lon, wlat = lat;
    if (geo_in_china(lon, lat)) {
        for (int i = 0; i < 30; i++) {
            double dlon, dlat;
            gcj_offset(wlon, wlat, &dlon, &dlat);
            double nlon = lon - dlon, nlat = lat - dlat;
            double step = fmax(fabs(nlon - wlon), fabs(nlat - wlat));
            wlon = nlon;
            wlat = nlat;
            if (!(step >= 1e-9)) /* also stops on NaN */
                break;
        }
    }
    *olon = wlon;
    *olat = wlat;
}

/* ---- local projection -------------------------------------------------
 * Spherical transverse Mercator: x along the great circle perpendicular to
 * the central meridian, y along the meridian from lat0. */

void geo_proj_init(struct geo_proj *p, double lon0, double lat0)
{
    p->lon0 = lon0;
    p->lat0 = lat0;
    p->ky = GEO_EARTH_RADIUS_M * DEG2RAD;
    p->kx = p->ky * cos(lat0 * DEG2RAD);
}

struct geo_xy geo_project(const struct geo_proj *p, double lon, double lat)
{
    double lam = (lon - p->lon0) * DEG2RAD, phi = lat * DEG2RAD;
    double b = cos(phi) * sin(lam);
    struct geo_xy xy;
    xy.x = GEO_EARTH_RADIUS_M * atanh(b);
    xy.y = GEO_EARTH_RADIUS_M * (atan2(sin(phi), cos(phi) * cos(lam)) - p->lat0 * DEG2RAD);
    return xy;
}

struct geo_pt geo_unproject(const struct geo_proj *p, struct geo_xy xy)
{
    double xr = xy.x / GEO_EARTH_RADIUS_M;
    double d = xy.y / GEO_EARTH_RADIUS_M + p->lat0 * DEG2RAD;
    struct geo_pt pt;
    pt.lat = asin(sin(d) / cosh(xr)) * RAD2DEG;
    pt.lon = p->lon0 + atan2(sinh(xr), cos(d)) * RAD2DEG;
    return pt;
}

/* ---- GEOS context ------------------------------------------------------ */

static void geos_message(const char *msg, void *userdata)
{
    struct geo *g = userdata;
    snprintf(g->err, sizeof g->err, "%s", msg ? msg : "");
}

struct geo *geo_new(double lon0, double lat0)
{
    if (!geo_valid_lonlat(lon0, lat0) || fabs(lat0) > 89.0)
        return NULL;
    struct geo *g = calloc(1, sizeof *g);
    if (g == NULL)
        return NULL;
    g->h = GEOS_init_r();
    if (g->h == NULL) {
        free(g);
        return NULL;
    }
    GEOSContext_setNoticeMessageHandler_r(g->h, geos_message, g);
    GEOSContext_setErrorMessageHandler_r(g->h, geos_message, g);
    geo_proj_init(&g->proj, lon0, lat0);
    return g;
}

void geo_free(struct geo *g)
{
    if (g == NULL)
        return;
    GEOS_finish_r(g->h);
    free(g);
}

const struct geo_proj *geo_projection(const struct geo *g)
{
    return &g->proj;
}

const char *geo_last_error(const struct geo *g)
{
    return g->err;
}

_Static_assert(sizeof(struct geo_xy) == 2 * sizeof(double), "geo_xy must be x,y doubles");

/* A GEOS LineString or LinearRing from projected points (copied). */
static GEOSGeometry *geos_line(struct geo *g, const struct geo_xy *xy, size_t n, bool ring)
{
    /* struct geo_xy is two doubles: the interleaved x,y buffer GEOS wants. */
    GEOSCoordSequence *cs = GEOSCoordSeq_copyFromBuffer_r(g->h, (const double *)xy,
                                                          (unsigned)n, 0, 0);
    if (cs == NULL)
        return NULL;
    GEOSGeometry *geom = ring ? GEOSGeom_createLinearRing_r(g->h, cs)
                              : GEOSGeom_createLineString_r(g->h, cs);
    if (geom == NULL)
        GEOSCoordSeq_destroy_r(g->h, cs);
    return geom;
}

/* ---- lines --------------------------------------------------------------- */

struct geo_line *geo_line_new(struct geo *g, const struct geo_pt *pts, size_t n)
{
    if (n < 2 || n > (size_t)INT32_MAX)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!geo_valid_lonlat(pts[i].lon, pts[i].lat))
            return NULL;

    struct geo_line *l = calloc(1, sizeof *l);
    struct line_impl *im = calloc(1, sizeof *im);
    if (l == NULL || im == NULL) {
        free(l);
        free(im);
        return NULL;
    }
    l->impl = im;
    im->g = g;
    l->n = n;
    l->pts = malloc(n * sizeof *l->pts);
    l->cum_m = malloc(n * sizeof *l->cum_m);
    im->xy = malloc(n * sizeof *im->xy);
    if (l->pts == NULL || l->cum_m == NULL || im->xy == NULL)
        goto fail;
    memcpy(l->pts, pts, n * sizeof *pts);
    for (size_t i = 0; i < n; i++) {
        im->xy[i] = geo_project(&g->proj, pts[i].lon, pts[i].lat);
        l->cum_m[i] = i == 0 ? 0.0
                             : l->cum_m[i - 1] + hypot(im->xy[i].x - im->xy[i - 1].x,
                                                       im->xy[i].y - im->xy[i - 1].y);
    }
    l->length_m = l->cum_m[n - 1];
    im->geom = geos_line(g, im->xy, n, false);
    if (im->geom == NULL)
        goto fail;
    return l;
fail:
    geo_line_free(l);
    return NULL;
}

void geo_line_free(struct geo_line *l)
{
    if (l == NULL)
        return;
    struct line_impl *im = l->impl;
    if (im != NULL) {
        if (im->geom != NULL)
            GEOSGeom_destroy_r(im->g->h, im->geom);
        free(im->xy);
        free(im);
    }
    free(l->pts);
    free(l->cum_m);
    free(l);
}

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Index i of the segment [i, i+1] holding distance d (already clamped). */
static size_t line_segment_at(const struct geo_line *l, double d)
{
    size_t lo = 0, hi = l->n - 1; /* invariant: cum[lo] <= d, answer < hi */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->cum_m[mid] <= d)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static struct geo_xy line_xy_at(const struct geo_line *l, double d)
{
    const struct line_impl *im = l->impl;
    d = clampd(d, 0.0, l->length_m);
    size_t i = line_segment_at(l, d);
    double seg = l->cum_m[i + 1] - l->cum_m[i];
    double t = seg > 0.0 ? (d - l->cum_m[i]) / seg : 0.0;
    struct geo_xy a = im->xy[i], b = im->xy[i + 1];
    return (struct geo_xy){a.x + t * (b.x - a.x), a.y + t * (b.y - a.y)};
}

struct geo_pt geo_line_point_at(const struct geo_line *l, double d_m)
{
    const struct line_impl *im = l->impl;
    if (isnan(d_m))
        d_m = 0.0;
    return geo_unproject(&im->g->proj, line_xy_at(l, d_m));
}

/* GEOSProject_r of projected point q onto geom; -1 on failure. */
static double geos_project_xy(struct geo *g, const GEOSGeometry *geom, struct geo_xy q)
{
    GEOSGeometry *pt = GEOSGeom_createPointFromXY_r(g->h, q.x, q.y);
    if (pt == NULL)
        return -1.0;
    double d = GEOSProject_r(g->h, geom, pt);
    GEOSGeom_destroy_r(g->h, pt);
    return d;
}

static double located(const struct geo_line *l, struct geo_xy q, double d, double *off_m)
{
    if (off_m != NULL) {
        struct geo_xy on = line_xy_at(l, d);
        *off_m = hypot(q.x - on.x, q.y - on.y);
    }
    return d;
}

static double locate_failed(double *off_m)
{
    if (off_m != NULL)
        *off_m = NAN;
    return NAN;
}

double geo_line_locate(struct geo *g, const struct geo_line *l, struct geo_pt p, double *off_m)
{
    const struct line_impl *im = l->impl;
    if (!geo_valid_lonlat(p.lon, p.lat))
        return locate_failed(off_m);
    struct geo_xy q = geo_project(&g->proj, p.lon, p.lat);
    double d = geos_project_xy(g, im->geom, q);
    if (d < 0.0)
        return locate_failed(off_m);
    return located(l, q, clampd(d, 0.0, l->length_m), off_m);
}

/* Substring vertices between from and to (from <= to, both clamped) into
 * buf (room for l->n + 2 points); returns the count (>= 2). */
static size_t line_substring(const struct geo_line *l, double from, double to,
                             struct geo_xy *buf)
{
    const struct line_impl *im = l->impl;
    size_t k = 0;
    buf[k++] = line_xy_at(l, from);
    for (size_t i = line_segment_at(l, from) + 1; i < l->n && l->cum_m[i] < to; i++)
        if (l->cum_m[i] > from)
            buf[k++] = im->xy[i];
    buf[k++] = line_xy_at(l, to);
    return k;
}

double geo_line_locate_range(struct geo *g, const struct geo_line *l, struct geo_pt p,
                             double from_m, double to_m, double *off_m)
{
    enum { STACK_PTS = 64 };
    if (!geo_valid_lonlat(p.lon, p.lat) || isnan(from_m) || isnan(to_m))
        return locate_failed(off_m);
    double from = clampd(from_m, 0.0, l->length_m);
    double to = clampd(to_m, 0.0, l->length_m);
    if (to < from)
        to = from;
    if (from <= 0.0 && to >= l->length_m)
        return geo_line_locate(g, l, p, off_m);

    struct geo_xy q = geo_project(&g->proj, p.lon, p.lat);
    if (to - from <= 0.0)
        return located(l, q, from, off_m);

    struct geo_xy stackbuf[STACK_PTS];
    struct geo_xy *buf = l->n + 2 <= STACK_PTS ? stackbuf : malloc((l->n + 2) * sizeof *buf);
    if (buf == NULL)
        return locate_failed(off_m);
    size_t k = line_substring(l, from, to, buf);
    GEOSGeometry *sub = geos_line(g, buf, k, false);
    double d = sub != NULL ? geos_project_xy(g, sub, q) : -1.0;
    if (sub != NULL)
        GEOSGeom_destroy_r(g->h, sub);
    if (buf != stackbuf)
        free(buf);
    if (d < 0.0)
        return locate_failed(off_m);
    return located(l, q, clampd(from + d, from, to), off_m);
}

/* ---- polygons ------------------------------------------------------------ */

int geo_polygon_centroid(struct geo *g, const struct geo_pt *ring, size_t n,
                         struct geo_pt *out)
{
    int rc = -1;
    struct geo_xy *xy = NULL;
    GEOSGeometry *shell = NULL, *poly = NULL, *c = NULL;

    if (n > 1 && ring[0].lon == ring[n - 1].lon && ring[0].lat == ring[n - 1].lat)
        n--; /* drop the closing point; added back below */
    if (n < 3 || n > (size_t)INT32_MAX - 1) {
        snprintf(g->err, sizeof g->err, "polygon ring needs at least 3 distinct points");
        goto out;
    }
    xy = malloc((n + 1) * sizeof *xy);
    if (xy == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (!geo_valid_lonlat(ring[i].lon, ring[i].lat)) {
            snprintf(g->err, sizeof g->err, "polygon vertex %zu is not a valid lon/lat", i);
            goto out;
        }
        xy[i] = geo_project(&g->proj, ring[i].lon, ring[i].lat);
    }
    xy[n] = xy[0];
    shell = geos_line(g, xy, n + 1, true);
    if (shell == NULL)
        goto out;
    poly = GEOSGeom_createPolygon_r(g->h, shell, NULL, 0);
    if (poly == NULL)
        goto out;
    shell = NULL; /* owned by poly now */
    c = GEOSGetCentroid_r(g->h, poly);
    struct geo_xy cxy;
    if (c == NULL || GEOSisEmpty_r(g->h, c) != 0 || GEOSGeomGetX_r(g->h, c, &cxy.x) != 1 ||
        GEOSGeomGetY_r(g->h, c, &cxy.y) != 1)
        goto out;
    *out = geo_unproject(&g->proj, cxy);
    rc = 0;
out:
    if (c != NULL)
        GEOSGeom_destroy_r(g->h, c);
    if (poly != NULL)
        GEOSGeom_destroy_r(g->h, poly);
    if (shell != NULL)
        GEOSGeom_destroy_r(g->h, shell);
    free(xy);
    return rc;
}
