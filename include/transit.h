/* transit.h -- real-time buses: vehicle state, map matching, prediction.
 *
 * Plain C over the GTFS timetable (gtfs.h); no Redis, no HTTP. The API
 * layer feeds it decoded GTFS-rt positions and persists what it reports.
 *
 * Matching. Each position is placed on its trip's pattern line: the
 * places on the line within the distance gate are candidates (geo.h
 * linear referencing), and the chosen one minimises a cost of offset plus
 * distance from where the bus is expected to be -- its previous place
 * moved on at a typical speed, or, with no usable previous place, where
 * the timetable has it now (this is what resolves loops). Progress is
 * forward-only (GPS noise near a stop never moves a bus backwards). No
 * candidate within the gate means off_route (a detour); the bus recovers
 * as soon as a position is back within the gate ahead of its last place.
 *
 * Prediction. Travel time between consecutive stops (arrival to arrival,
 * so the dwell at the first stop is included) is estimated per stop pair
 * -- shared by all routes serving the pair -- by a Kalman filter on a
 * level that drifts back to a prior (the historical mean for the hour of
 * day, or the timetable) and is updated by every bus that traverses the
 * pair: earlier buses today and, through transit_observe, past days
 * reloaded from storage. A bus's arrival at each stop ahead is its
 * remaining time on the current segment plus the estimates of the
 * segments after it; a bus in layover at its first stop does not leave
 * before the scheduled departure. Arrival times never decrease along a
 * trip and are never before the vehicle's last report.
 *
 * Ownership: struct transit keeps a const pointer to the feed (the caller
 * keeps it alive) and owns everything else. Not thread-safe. */
#ifndef CITYD_TRANSIT_H
#define CITYD_TRANSIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gtfs.h"
#include "gtfsrt.h"

enum transit_status {
    TRANSIT_IN_TRANSIT = 0,
    TRANSIT_AT_STOP,
    TRANSIT_LAYOVER,
    TRANSIT_OFF_ROUTE,
    TRANSIT_STALE,
};

const char *transit_status_name(enum transit_status s);

struct transit_params {
    double stale_after_s;         /* transit.stale_after_s (90) */
    double gate_m;                /* distance gate for matching (60) */
    double future_tolerance_s;    /* timestamps further ahead of now are rejected (300) */
};

void transit_params_default(struct transit_params *p);

/* One vehicle's live state. Read by the API layer; written only here. */
struct transit_vehicle {
    char id[GTFSRT_ID];
    char trip_id[GTFSRT_ID];      /* as reported ("" = none) */
    uint32_t trip;                /* GTFS_NONE: no (known) trip */
    uint32_t route;               /* GTFS_NONE when unknown */
    int64_t day, origin;          /* service day of the trip, epoch of its origin */
    double lon, lat, ts;          /* last accepted report */
    double bearing, speed;        /* NAN when not reported */
    bool matched;                 /* dist_m is meaningful */
    double dist_m;                /* metres along the pattern line */
    double off_m;                 /* distance from the line at the last match */
    double match_ts;              /* ts of the last on-route match */
    uint32_t next_pos;            /* pattern position of the next stop (n: trip done) */
    double sched_dev_s;           /* seconds late (+) or early (-) at dist_m */
    enum transit_status status;   /* as of ts (stale is applied at read time) */
    /* Arrival estimate per pattern position (epoch s; 0 = passed or none),
     * owned, recomputed on every report. */
    double *pred;
    uint32_t n_pred;
    /* Where the last stop crossing was seen, for segment observations. */
    uint32_t cross_pos;           /* UINT32_MAX = none */
    double cross_ts;
};

/* A traversal of one stop pair, reported for persistence. */
struct transit_segment_obs {
    char from_stop[GTFSRT_ID], to_stop[GTFSRT_ID];
    double ts;                    /* arrival at to_stop */
    double duration_s;            /* arrival at from_stop -> arrival at to_stop */
};

enum transit_result { TRANSIT_ACCEPTED = 0, TRANSIT_OUTDATED, TRANSIT_REJECTED };

struct transit;

struct transit *transit_new(const struct gtfs *feed, const struct transit_params *p);
void transit_free(struct transit *t);
const struct gtfs *transit_feed(const struct transit *t);

/* Apply one decoded VehiclePosition received at `now`. Rejected reports
 * (message in err, naming the field) change nothing; an outdated one (not
 * newer than the vehicle's state) is ignored. Segment traversals the
 * report completes are appended to obs (up to max_obs; *n_obs set). */
enum transit_result transit_ingest(struct transit *t, const struct gtfsrt_vehicle *v,
                                   double now, struct transit_segment_obs *obs,
                                   size_t max_obs, size_t *n_obs, char *err, size_t errlen);

/* Feed a past traversal (reloaded from storage) to the estimators. Call
 * in time order. Unknown stops are ignored. */
void transit_observe(struct transit *t, const char *from_stop, const char *to_stop,
                     double ts, double duration_s);

/* Restore a vehicle's last known report (from storage) without
 * producing observations. Same checks as ingest. */
enum transit_result transit_restore(struct transit *t, const struct gtfsrt_vehicle *v,
                                    double now, char *err, size_t errlen);

const struct transit_vehicle *transit_vehicle_get(const struct transit *t, const char *id);
/* Status as seen at `now` (stale when silent longer than stale_after_s). */
enum transit_status transit_vehicle_status(const struct transit *t,
                                           const struct transit_vehicle *v, double now);
/* Iterate: *pos = 0 to start; NULL when done. */
const struct transit_vehicle *transit_vehicle_next(const struct transit *t, size_t *pos);
size_t transit_vehicle_count(const struct transit *t);

/* Predicted arrival of the vehicle at its pattern position pos as seen at
 * now: 0 when none (stale, off its trip, passed, or unmatched). */
double transit_predict(const struct transit *t, const struct transit_vehicle *v,
                       uint32_t pos, double now);

/* Scheduled arrival at pattern position pos on the vehicle's service day. */
double transit_scheduled(const struct transit *t, const struct transit_vehicle *v, uint32_t pos);

/* One row of a stop sign. */
struct transit_arrival {
    uint32_t trip, pos;
    const struct transit_vehicle *vehicle;   /* NULL: timetable only */
    double scheduled, predicted;             /* predicted 0 = none */
};

/* Arrivals at stop index `stop` in [now, now + window_s], ordered by
 * predicted (else scheduled) time. Returns the count written (<= max). */
size_t transit_arrivals(const struct transit *t, uint32_t stop, double now, double window_s,
                        struct transit_arrival *out, size_t max);

/* TripUpdates for every live vehicle on a trip: fills up to max updates
 * and the stop rows they point into (stops, max_stops). Header timestamp
 * never decreases between calls. Returns the number of updates. */
size_t transit_trip_updates(struct transit *t, double now, struct gtfsrt_header *h,
                            struct gtfsrt_trip_update *out, size_t max,
                            struct gtfsrt_stop_time *stops, size_t max_stops);

#endif
