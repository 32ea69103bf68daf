/* assign.h -- which trip a bus is on, when its feed does not say.
 *
 * Many AVL feeds carry a vehicle id and a position, at most a route.
 * Block assignment in the manner of TransitClock: every trip that could
 * be running at the report's time (on the given route, or any) is a
 * candidate; the report is placed on the candidate's pattern line (within
 * the matching gate, or in a terminal bay near the first stop of a trip
 * that has not left yet), and scored by
 *   - schedule deviation at that place: lateness is common and cheap,
 *     earliness rare and dear (a bus is seldom minutes early), and
 *     waiting before the first departure of a trip costs little;
 *   - offset from the line;
 *   - heading against the line's direction there (two directions of one
 *     route share the streets; a bus's bearing tells them apart).
 * A place at a trip's last stop says the trip is over: it comes back
 * marked `ended` (the bus runs that trip's block; its next trip follows).
 * Candidates come back best first; the caller (transit.c) adds what it
 * knows of the vehicle: the trip it is on (sticky), the next trip of the
 * block after a terminal, trips other buses already run.
 *
 * Plain C over the GTFS feed (gtfs.h). Ownership: struct assign keeps a
 * const pointer to the feed (the caller keeps it alive) and owns its
 * index. Not thread-safe (read-only after assign_new, so concurrent
 * readers are fine). */
#ifndef CITYD_ASSIGN_H
#define CITYD_ASSIGN_H

#include <stddef.h>
#include <stdint.h>

#include "gtfs.h"

/* How far a trip's window reaches: a bus may wait this long before its
 * trip's first departure, and run this late after its last arrival. */
#define ASSIGN_EARLY_S 2700.0
#define ASSIGN_LATE_S 2700.0
/* A terminal bay off the line: within this of a trip's first stop. */
#define ASSIGN_BAY_M 300.0
/* This near its last stop a trip is over (buses stop short of it in
 * terminal bays). */
#define ASSIGN_ENDED_M 75.0

struct assign_query {
    double lon, lat, ts;          /* the report */
    double heading;               /* degrees, NAN unknown (reported bearing or movement) */
    uint32_t route;               /* GTFS_NONE: any route */
    double gate_m;                /* matching gate */
    double left_dev_s;            /* <0: the bus left this trip's start that early, seen
                                   * there; only earliness beyond it costs (0: none) */
};

struct assign_match {
    uint32_t trip;
    int64_t day, origin;          /* service day and the epoch second of its origin */
    double d, off;                /* place on the pattern line, offset from it */
    double dev_s;                 /* seconds late (+) / early (-) there; 0 waiting to start */
    double cost;                  /* lower is better */
    int layover;                  /* waiting at (or near) the first stop before the departure */
    int ended;                    /* at the trip's last stop: it is over, and tells the block */
};

struct assign;

struct assign *assign_new(const struct gtfs *f);
void assign_free(struct assign *a);

/* Candidate trips for q, best (lowest cost) first, at most one per trip
 * and service day. Returns how many were written (<= max). */
size_t assign_candidates(const struct assign *a, const struct assign_query *q,
                         struct assign_match *out, size_t max);

/* Cost of the report q on one given trip and service day (the same terms
 * as assign_candidates), in *m; -1 when the report does not fit it (off
 * its line, past its end, outside its window). */
int assign_score(const struct assign *a, const struct assign_query *q, uint32_t trip,
                 int64_t day, struct assign_match *m);

/* The trip its block runs after `trip` (same block_id and service, the
 * first to leave after it arrives), or GTFS_NONE. */
uint32_t assign_next_in_block(const struct assign *a, uint32_t trip);

#endif
