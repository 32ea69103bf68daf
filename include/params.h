/* params.h -- query parameters of API requests, read the same way by
 * every API module (numbers in a range, true/false, crs, at, a point, a
 * bounding box).
 *
 * Each reader returns 0 with the value in *out, or -1 after replying
 * 400 {"error":{"code":"invalid","message":"<name>: ..."}} naming the
 * parameter; the handler then returns without replying again. A
 * parameter given twice counts once (the first, see http_req_query). */
#ifndef CITYD_PARAMS_H
#define CITYD_PARAMS_H

#include <stdbool.h>

#include "geo.h"

struct app;
struct http_req;

/* A whole string that is one finite decimal number ("12", "-0.5", "1e3";
 * not "", " 1", "1x", "0x10", "inf", "nan", "1e999"). True with *out set. */
bool params_parse_number(const char *s, double *out);

#define PARAMS_REQUIRED 0x1u          /* absent is an error */
#define PARAMS_INTEGER 0x2u           /* no fraction allowed */

/* A number in [lo, hi]; absent: def (or 400 with PARAMS_REQUIRED). */
int params_number(struct http_req *r, const char *name, unsigned flags, double lo, double hi,
                  double def, double *out);
/* true / 1 / "" (the bare "?name") or false / 0; absent: def. */
int params_bool(struct http_req *r, const char *name, bool def, bool *out);
/* crs=wgs84 (the default) or gcj02, any case; *gcj02 tells which. */
int params_crs(struct http_req *r, bool *gcj02);
/* "now" of a read: at= (epoch seconds) or the app's clock
 * (app_request_now). */
int params_now(const struct app *a, struct http_req *r, double *now);
/* lon= and lat= (required, degrees), given in the request's crs; *wgs84
 * gets the point in WGS84. */
int params_point(struct http_req *r, bool gcj02, struct geo_pt *wgs84);
/* bbox=minlon,minlat,maxlon,maxlat in degrees with minlat <= maxlat
 * (minlon > maxlon crosses the antimeridian). *given tells whether it was
 * there; absent is an error only when required. */
int params_bbox(struct http_req *r, bool required, double bb[4], bool *given);

#endif
