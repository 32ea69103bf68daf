/* api_city.h -- the city at a glance (api.md §1): GET /v1/city, the city
 * gauges of /metrics, fare validations (POST /v1/transit/fares, §3) and
 * which electronic stop signs are live.
 *
 * The module (module.h, api_city_module) starts after the others: it
 * reads their state (parking registry, transit registry, signal
 * controllers) and owns only the fare counters (restored from Redis) and
 * the signs' last fetches (memory: a sign that stops fetching is not live
 * 120 s later, restart or not). docs/indicators.md says what each figure
 * counts. */
#ifndef CITYD_API_CITY_H
#define CITYD_API_CITY_H

#include <stddef.h>

struct app;

/* A sign fetched its stop's arrivals (the arrivals endpoint with
 * sign=<id>): 0, or -1 with "sign: ..." in err when `sign` is not a sign
 * of the map or stands at another stop than stop_id. */
int api_city_sign_fetch(struct app *a, const char *sign, const char *stop_id, char *err,
                        size_t errlen);

/* Bring the city gauges of the metrics registry up to "now" (called
 * before /metrics renders). */
void api_city_gauges(struct app *a);

/* --check: every sign of the map whose stop_id is not a stop of the GTFS
 * feed, printed as "<map.dir>/stop_signs.geojson: <sign>: ..." on stderr;
 * returns how many. (A map that does not load is check_map's to report.) */
int api_city_check(const struct app *a);

#endif
