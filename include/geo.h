/* geo.h -- geometry: the only module that includes GEOS (reentrant _r API).
 *
 * Coordinates are WGS84 lon/lat degrees unless a name says otherwise.
 * GEOS is planar, so every length, distance or linear-referencing call goes
 * through a local metric projection (struct geo_proj) centred on the city.
 * Pure-math helpers (great-circle distance, GCJ-02) need no context. */
#ifndef CITYD_GEO_H
#define CITYD_GEO_H

#include <stdbool.h>
#include <stddef.h>

#define GEO_EARTH_RADIUS_M 6371008.8

struct geo_pt { double lon, lat; };
struct geo_xy { double x, y; };            /* metres in a local projection */

/* Great-circle (haversine) distance in metres. */
double geo_distance_m(double lon1, double lat1, double lon2, double lat2);
/* Initial bearing from 1 to 2, degrees clockwise from north [0,360). */
double geo_bearing_deg(double lon1, double lat1, double lon2, double lat2);
bool geo_valid_lonlat(double lon, double lat);

/* GCJ-02 ("Mars coordinates"). Outside China both are identity.
 * gcj02_to_wgs84 inverts iteratively (round trip well under 0.5 m). */
bool geo_in_china(double lon, double lat);
void geo_wgs84_to_gcj02(double lon, double lat, double *olon, double *olat);
void geo_gcj02_to_wgs84(double lon, double lat, double *olon, double *olat);

/* Local projection: spherical transverse Mercator (radius
 * GEO_EARTH_RADIUS_M, the sphere geo_distance_m uses) with its central
 * meridian through lon0 and its origin at (lon0, lat0). Conformal; scale
 * error 1 + (x/R)^2/2, i.e. < 0.004 % within 50 km of the centre, so
 * projected lengths agree with great-circle distances.
 * kx, ky: metres per degree of lon / lat at the centre, for cheap bounding
 * box prefilters only (not used by geo_project). */
struct geo_proj { double lon0, lat0; double kx, ky; };
void geo_proj_init(struct geo_proj *p, double lon0, double lat0);
struct geo_xy geo_project(const struct geo_proj *p, double lon, double lat);
struct geo_pt geo_unproject(const struct geo_proj *p, struct geo_xy xy);

/* Polyline in lon/lat, with cumulative lengths in metres computed in the
 * projection. Built through GEOS (so all planar work stays in geo.c).
 * A line belongs to the struct geo that built it (same projection, same
 * GEOS handle): free it with geo_line_free before geo_free. */
struct geo_line {
    size_t n;
    struct geo_pt *pts;          /* owned */
    double *cum_m;               /* owned; cum_m[0] = 0, cum_m[n-1] = length */
    double length_m;
    void *impl;                  /* owned, private to geo.c: projected
                                    vertices + cached GEOS LineString */
};

/* A GEOS context bound to one projection. Owns the GEOS handle, whose
 * notice and error messages go to the struct (geo_last_error), never to
 * stderr. Returns NULL on OOM or if (lon0, lat0) is not a valid lon/lat. */
struct geo;
struct geo *geo_new(double lon0, double lat0);
void geo_free(struct geo *g);
const struct geo_proj *geo_projection(const struct geo *g);
/* The last GEOS error (or notice) message, "" if none. */
const char *geo_last_error(const struct geo *g);

/* Build a line (copies pts). Returns NULL if n < 2, a point is not a
 * valid lon/lat, or on OOM / GEOS failure. */
struct geo_line *geo_line_new(struct geo *g, const struct geo_pt *pts, size_t n);
void geo_line_free(struct geo_line *l);

/* Linear referencing: distance along the line (m) of the closest point to
 * p, and the perpendicular offset (m) in *off_m (off_m may be NULL). Uses
 * GEOSProject_r on the cached projected line; one small GEOS allocation
 * (the query point) per call. NAN (and *off_m NAN) on GEOS failure. */
double geo_line_locate(struct geo *g, const struct geo_line *l, struct geo_pt p, double *off_m);
/* Point at distance d along the line (clamped to [0, length]). Pure
 * arithmetic on the cached projected vertices; no GEOS, no allocation. */
struct geo_pt geo_line_point_at(const struct geo_line *l, double d_m);
/* Locate restricted to [from_m, to_m] along the line (for forward-only
 * map matching on loops): GEOSProject_r on the substring between the two
 * distances. Both are clamped to [0, length]; to_m < from_m is taken as
 * to_m = from_m. Returns the distance along the whole line (in
 * [from_m, to_m]); *off_m the offset. NAN on GEOS failure. */
double geo_line_locate_range(struct geo *g, const struct geo_line *l, struct geo_pt p,
                             double from_m, double to_m, double *off_m);

/* Polygon centroid (lon/lat) via GEOS, computed in the projection. ring
 * is closed or not and needs at least 3 distinct points. 0, or -1 when
 * the ring is degenerate or GEOS fails (see geo_last_error). */
int geo_polygon_centroid(struct geo *g, const struct geo_pt *ring, size_t n,
                         struct geo_pt *out);

#endif
