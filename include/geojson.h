/* geojson.h -- GeoJSON (RFC 7946) replies of the lists (api.md §1: lots,
 * vehicles, stops, intersections, corridors, routes answer ?format=geojson
 * or Accept: application/geo+json with a FeatureCollection whose feature
 * properties are the JSON objects' fields).
 *
 * Coordinates are written with 7 decimals (1 cm), the precision of the
 * map files. Plain C over jansson and the HTTP request accessors. */
#ifndef CITYD_GEOJSON_H
#define CITYD_GEOJSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "geo.h"

struct http_req;

#define GEOJSON_TYPE "application/geo+json"

/* Which the caller wants: format=json|geojson, else an Accept header
 * naming application/geo+json. Returns 0 with *geojson set, or -1 after
 * replying 400 naming `format`. */
int geojson_wanted(struct http_req *r, bool *geojson);

/* Is (lon, lat) in bb = minlon,minlat,maxlon,maxlat (params_bbox; minlon
 * > maxlon crosses the antimeridian)? */
bool geojson_in_box(const double bb[4], double lon, double lat);

/* A coordinate rounded to 7 decimals. */
double geojson_round(double deg);
/* "[lon,lat]" with 7 decimals at most (trailing zeros dropped) into buf
 * (at least 64 bytes); returns its length. */
size_t geojson_pos(char *buf, double lon, double lat);

/* The opening of a Feature whose geometry is the Point [lon, lat] (already
 * in the reply's crs), up to and including `"properties":` -- the caller
 * writes the properties object and the closing '}'. id is escaped. Into
 * buf (at least 2 * strlen(id) + 160 bytes); returns its length. */
size_t geojson_feature_head(char *buf, const char *id, double lon, double lat);
#define GEOJSON_COLLECTION_HEAD "{\"type\":\"FeatureCollection\",\"features\":["

/* Geometries (new references); gcj02: coordinates converted from WGS84. */
json_t *geojson_point(double lon, double lat, bool gcj02);
json_t *geojson_line(const struct geo_pt *pts, size_t n, bool gcj02);

/* A FeatureCollection of items (array of objects, borrowed): feature i
 * has geometry geoms[i] (stolen; NULL or null: the item's "lon"/"lat", or
 * its "location" geometry, else null), properties item i, and id the
 * item's `id_key` field when it is a string. Returns a new object. */
json_t *geojson_collection(const json_t *items, json_t **geoms, const char *id_key);

/* j (an object or array) as compact JSON text, malloc'd and NUL-terminated
 * (caller frees), its length in *len; NULL on OOM. */
char *geojson_dump(const json_t *j, size_t *len);

/* Reply 200 with body as application/geo+json (steals body). */
void geojson_reply(struct http_req *r, json_t *body);

#endif
