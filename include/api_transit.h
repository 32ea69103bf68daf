/* api_transit.h -- api.md §3: GTFS-realtime ingest and the transit read
 * endpoints (vehicles, stops, stop-sign arrivals, TripUpdates feed).
 *
 * The module (module.h, api_transit_module): its start loads the GTFS
 * feed from config_gtfs_dir, builds a->transit, registers the routes and
 * starts reloading the vehicles' last positions and the segment
 * travel-time history from Redis (the endpoints answer 503 until that has
 * completed).
 *
 * No feed. When transit.gtfs_dir is not set and <map.dir>/gtfs does not
 * exist, the city simply has no buses: the routes still answer (no stops
 * nearby, 404 unknown stop, an empty TripUpdates feed, every posted
 * position rejected as naming an unknown trip or having no feed). An
 * explicitly configured folder that does not exist, or a feed with a
 * fatal problem (missing required file or column, unusable time zone),
 * stops the server from starting; lesser problems are logged and listed
 * by `cityd --check`. */
#ifndef CITYD_API_TRANSIT_H
#define CITYD_API_TRANSIT_H

#include <stddef.h>

struct app;

/* --check: print every GTFS problem as "<dir>/<file>:<line>: message" on
 * stderr; returns how many there are. */
int api_transit_check(const struct app *a);

#endif
