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
 * A fix further from the last believed one than a bus can go (straight
 * line, JUMP_MPS plus GPS slack) is held, not matched, until the next fix
 * confirms it (near it) or refutes it (near the old track); meanwhile the
 * bus keeps its place and predictions. Off its line (a detour) the
 * predictions made at its last place are held (never before now), not
 * shifted by the timetable.
 *
 * Prediction. Travel time between consecutive stops (arrival to arrival,
 * so the dwell at the first stop is included; from the departure for a
 * trip's first segment) is estimated per stop pair -- shared by all
 * routes serving the pair -- by a Kalman filter on a level that drifts
 * back to a prior (the historical mean for the hour of day, or else the
 * bus's own trip's timetable time scaled by how fast its route has been
 * running against the timetable) and is updated by every bus that
 * traverses the pair: earlier buses today and, through transit_observe,
 * past days reloaded from storage. A bus's arrival at each stop ahead is
 * its remaining time on the current segment plus the estimates of the
 * segments after it.
 *
 * Layovers. A bus waiting at its first stop leaves at the scheduled
 * departure -- until the terminal's own recent departures say otherwise:
 * then at the usual lateness after the timetable, or the usual wait after
 * pulling in, whichever has varied less there (WMATA buses leave some
 * terminals minutes early, others late).
 *
 * Predicted times are the best estimate, with no deliberate bias.
 * Announced times are what a sign shows: the estimate minus a display
 * margin (transit_params, none by default), never before "now".
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
    double forget_after_s;        /* ... and older than this behind it (transit.forget_after_s,
                                     86400): such a vehicle would be forgotten at once */
    size_t max_vehicles;          /* registry size (transit.max_vehicles, 20000): a new
                                     vehicle beyond it is rejected, known ones go on */
    /* Display margin of announced times (transit_announced), none by
     * default: a sign may announce a bus early_s + early_frac * (estimate
     * - now) before the estimate, since a bus that comes earlier than
     * announced is missed and a later one only costs a wait. It never
     * touches the estimate (transit_predict), which stays unbiased. */
    double early_s, early_frac;
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
    double layover_since;         /* first report waiting at the trip's first stop (0: none) */
    /* Trip assignment: the feed's, or inferred (assign.h) when the feed
     * names no trip. */
    bool inferred;
    bool followed;                /* inferred: taken on as the next trip of its block */
    double assigned_ts;           /* when the current trip was taken on */
    bool waited;                  /* inferred: seen laying over at this trip's start */
    bool left_seen;               /* ... and then seen leaving, left_dev_s late (+) / early (-) */
    double left_dev_s;
    /* Jump filter: a fix too far from the last believed one (lon, lat at
     * fix_ts) for a bus to have gone is held here until the next fix
     * confirms it (jump_ts 0: none held). */
    double fix_ts;
    double jump_lon, jump_lat, jump_ts;
};

/* What a report taught the estimators, reported for persistence and fed
 * back through transit_observe after a restart. */
enum transit_obs_kind {
    TRANSIT_OBS_SEGMENT = 0,      /* a traversal of one stop pair */
    TRANSIT_OBS_DEPARTURE,        /* a departure from a trip's first stop */
};

struct transit_obs {
    enum transit_obs_kind kind;
    char from_stop[GTFSRT_ID];    /* segment: from; departure: the terminal */
    char to_stop[GTFSRT_ID];      /* segment: to; departure: "" */
    char route_id[GTFSRT_ID];     /* the route the bus was on */
    double sched_s;               /* segment: the timetable's time for it on the bus's trip */
    double ts;                    /* arrival at to_stop / departure */
    double duration_s;            /* segment: arrival at from_stop -> arrival at to_stop;
                                     departure: time waited at the terminal */
    double late_s;                /* departure: seconds after the scheduled departure */
};

enum transit_result { TRANSIT_ACCEPTED = 0, TRANSIT_OUTDATED, TRANSIT_REJECTED };

struct transit;

struct transit *transit_new(const struct gtfs *feed, const struct transit_params *p);
void transit_free(struct transit *t);
const struct gtfs *transit_feed(const struct transit *t);

/* Apply one decoded VehiclePosition received at `now`. Rejected reports
 * (message in err, naming the field) change nothing; an outdated one (not
 * newer than the vehicle's state) is ignored. What the report taught
 * (segment traversals it completes, a departure from a terminal) is
 * appended to obs (up to max_obs; *n_obs set). */
enum transit_result transit_ingest(struct transit *t, const struct gtfsrt_vehicle *v,
                                   double now, struct transit_obs *obs,
                                   size_t max_obs, size_t *n_obs, char *err, size_t errlen);

/* What transit_ingest would answer for v at `now`, changing nothing. */
enum transit_result transit_check(const struct transit *t, const struct gtfsrt_vehicle *v,
                                  double now, char *err, size_t errlen);

/* A report worked out before it is stored: what transit_ingest of v at
 * `now` would leave, changing nothing, so that the API layer writes a
 * report and what was made of it together and only then applies it. */
struct transit_draft;
/* ACCEPTED with *out (caller frees, transit_draft_free), or REJECTED
 * (err: the field, or out of memory) or OUTDATED with *out NULL. */
enum transit_result transit_draft(struct transit *t, const struct gtfsrt_vehicle *v, double now,
                                  struct transit_draft **out, char *err, size_t errlen);
/* The vehicle's state the draft leaves, packed (transit_state_pack; the
 * draft holds it as packed, to the bit); owned by the draft. NULL (*len
 * 0) when the report has no timestamp. */
const void *transit_draft_state(const struct transit_draft *d, size_t *len);
/* Apply the draft: the vehicle takes its state and what the report
 * taught is learned and appended to obs (up to max_obs; *n_obs set), as
 * transit_ingest does. OUTDATED (nothing changes) when the vehicle has
 * had as new a report since; REJECTED out of memory. The predictions are
 * those of the draft, made with the estimators as they were (the
 * report's own traversals not yet learned). The draft is spent: free it. */
enum transit_result transit_draft_commit(struct transit *t, struct transit_draft *d,
                                         struct transit_obs *obs, size_t max_obs, size_t *n_obs);
void transit_draft_free(struct transit_draft *d);

/* Room for vehicle_id when `pending` new vehicles (checked, written, not
 * yet applied) already hold places: 0 when it is known or the registry has
 * room, else -1 with the message. Ingest and restore check it with 0. */
int transit_admit(const struct transit *t, const char *vehicle_id, size_t pending, char *err,
                  size_t errlen);

/* Feed what an earlier report taught (reloaded from storage) back to the
 * estimators. Call in time order. Unknown stops are ignored; route_id
 * may be "" or unknown, sched_s 0 when not known. */
void transit_observe(struct transit *t, const struct transit_obs *o);

/* Restore a vehicle's last known report (from storage) without
 * producing observations. Same checks as ingest. */
enum transit_result transit_restore(struct transit *t, const struct gtfsrt_vehicle *v,
                                    double now, char *err, size_t errlen);

/* What the registry made of a vehicle's reports (trip, place, status,
 * the learning and jump-filter state, the predictions), packed (binary,
 * *len bytes, ~60-80 for a 30-stop pattern), so that every process shows
 * a bus as the one that took its report does, though their histories
 * differ (one started later, or missed a report): the taker shares it,
 * the others adopt it. A state is of one report, rep (the vehicle's last;
 * its timestamp, position, motion, trip and route ids as Redis keeps
 * them), and says only what rep does not: it is read with rep. Malloc'd
 * (caller frees); NULL when the vehicle is unknown, not at rep's
 * timestamp, or out of memory. */
void *transit_state_pack(const struct transit *t, const struct gtfsrt_vehicle *rep, size_t *len);
/* Adopt such a state of report rep for vehicle rep->vehicle_id: 1 when
 * taken, 0 when rep is not the vehicle's last report (unknown vehicle,
 * another timestamp: the vehicle's own state stays), -1 when unreadable
 * (another version: see transit.c), not of this feed or out of memory
 * (nothing changed). */
int transit_state_adopt(struct transit *t, const struct gtfsrt_vehicle *rep, const void *buf,
                        size_t len);

const struct transit_vehicle *transit_vehicle_get(const struct transit *t, const char *id);
/* Status as seen at `now` (stale when silent longer than stale_after_s). */
enum transit_status transit_vehicle_status(const struct transit *t,
                                           const struct transit_vehicle *v, double now);
/* Iterate: *pos = 0 to start; NULL when done. */
const struct transit_vehicle *transit_vehicle_next(const struct transit *t, size_t *pos);
size_t transit_vehicle_count(const struct transit *t);
/* Forget every vehicle whose last report is older than `before` (long
 * stale: off duty, retired, or a one-off id). Vehicles are otherwise kept
 * for ever, and feeds that mint ids per trip or per day would grow the
 * registry without bound. Returns how many were forgotten; a later
 * report of the same id starts afresh. Pointers to them die. */
size_t transit_evict(struct transit *t, double before);

/* Predicted arrival of the vehicle at its pattern position pos as seen at
 * now: the best estimate (not before now), 0 when none (stale, off its
 * trip, passed, or unmatched). */
double transit_predict(const struct transit *t, const struct transit_vehicle *v,
                       uint32_t pos, double now);
/* The same minus the display margin (transit_params early_s, early_frac),
 * not before now: what a sign announces. 0 when there is no prediction. */
double transit_announced(const struct transit *t, const struct transit_vehicle *v,
                         uint32_t pos, double now);

/* Scheduled arrival at pattern position pos on the vehicle's service day. */
double transit_scheduled(const struct transit *t, const struct transit_vehicle *v, uint32_t pos);

/* One row of a stop sign. */
struct transit_arrival {
    uint32_t trip, pos;
    const struct transit_vehicle *vehicle;   /* NULL: timetable only */
    double scheduled, predicted;             /* predicted 0 = none */
    double announced;                        /* predicted minus the display margin */
};

/* Arrivals at stop index `stop` in [now, now + window_s], ordered by
 * predicted (else scheduled) time. Returns the count written (<= max). */
size_t transit_arrivals(const struct transit *t, uint32_t stop, double now, double window_s,
                        struct transit_arrival *out, size_t max);

/* TripUpdates for every live vehicle on a trip: fills up to max updates
 * and the stop rows they point into (stops, max_stops). Header timestamp
 * never decreases between calls; only live calls (now is the server's
 * clock, not a reader's at=) move it on for the later ones, so no reader
 * can date everybody's feed. Returns the number of updates. */
size_t transit_trip_updates(struct transit *t, double now, bool live, struct gtfsrt_header *h,
                            struct gtfsrt_trip_update *out, size_t max,
                            struct gtfsrt_stop_time *stops, size_t max_stops);

#endif
