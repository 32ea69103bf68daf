/* gtfs.h -- GTFS static feed: loader and in-memory timetable.
 *
 * gtfs_load reads agency, stops, routes, calendar / calendar_dates,
 * shapes, trips and stop_times from a feed folder (CSV through csv.h) into
 * plain arrays indexed by uint32_t, with id -> index dicts. Everything is
 * owned by struct gtfs and freed by gtfs_free; the feed is immutable after
 * loading, so the transit module can read it without locks or copies.
 *
 * Times. A GTFS time "HH:MM:SS" counts from "noon minus 12 h" of the
 * service day in the agency's time zone (so it may pass 24:00:00, and on
 * DST days it is not local midnight). Times are stored as int32 seconds
 * from that origin; gtfs_day_origin turns a service day into the epoch
 * second of its origin. Service days are dates in the agency zone, kept
 * as days since 1970-01-01 (tz.h).
 *
 * Geometry. Trips with the same shape and stop list share a pattern,
 * which carries each stop's distance along the shape in metres. When the
 * feed gives shape_dist_traveled on both shapes and stop_times, it is
 * converted to metres through the shape points; otherwise each stop is
 * projected onto the shape (geo.h linear referencing), forward-only along
 * the trip, choosing among the candidate places on looping shapes the
 * monotone assignment closest overall. A trip without a usable shape gets
 * a straight-line shape through its stops.
 *
 * Strings. Everything kept can go into a JSON reply: every string field
 * obeys the rule of text.h (valid UTF-8, bounded; ids at most 63 bytes
 * without control characters, names at most TEXT_NAME_SIZE - 1 bytes). A
 * row whose own id breaks it is skipped; an optional field that does
 * (a name, a block_id) is left empty and the row kept. A UTF-8 byte-order
 * mark at the start of a file is accepted. A file whose non-ASCII text is
 * mostly not UTF-8 is in another encoding and is fatal, with the iconv
 * command to convert it; so is a UTF-16 file.
 *
 * Problems. Every problem found is recorded with file and line (issues);
 * a row with a broken reference is skipped and the rest loads. Only a
 * missing required file/column, an unusable agency time zone, a file that
 * is not UTF-8 or not CSV is fatal (gtfs_load returns NULL). Messages
 * quoting bad input have its bad bytes replaced by '?'. */
#ifndef CITYD_GTFS_H
#define CITYD_GTFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "geo.h"

struct dict;
struct tz;

#define GTFS_NONE UINT32_MAX
#define GTFS_NO_TIME INT32_MIN
/* Ids (stop, route, trip, service, shape, block, agency) are at most 63
 * bytes: what a GTFS-realtime message can name (GTFSRT_ID). */
#define GTFS_ID_SIZE 64

struct gtfs_issue {
    char file[24];                /* "stop_times.txt" */
    long line;                    /* 0 when not tied to a line */
    bool fatal;
    char msg[160];
};

struct gtfs_agency {
    char *id, *name, *timezone;
};

struct gtfs_stop {
    char *id, *code, *name;
    double lon, lat;
    int location_type;            /* 0 stop, 1 station, ... */
    /* Visits of this stop, sorted by scheduled arrival: a range of
     * gtfs.visits [visit_first, visit_first + n_visits). */
    uint32_t visit_first, n_visits;
};

struct gtfs_route {
    char *id, *agency_id, *short_name, *long_name;
    int type;
};

struct gtfs_shape {
    char *id;
    struct geo_line *line;        /* owned; NULL if unusable */
    struct geo_xy *xy;            /* owned; line vertices in the feed projection */
    double *feed_dist;            /* per point shape_dist_traveled, or NULL */
};

struct gtfs_service_exception {
    int64_t day;
    uint8_t type;                 /* 1 added, 2 removed */
};

struct gtfs_service {
    char *id;
    uint8_t weekdays;             /* bit w set = runs on weekday w (0 = Sunday) */
    int64_t start_day, end_day;   /* inclusive; start > end when no calendar row */
    size_t n_ex;
    struct gtfs_service_exception *ex;   /* sorted by day */
};

/* One stop list on one shape, shared by the trips that follow it. */
struct gtfs_pattern {
    uint32_t shape;               /* GTFS_NONE: synthetic line through the stops */
    const struct geo_line *line;  /* the shape's line, or the owned synthetic one */
    struct geo_line *own_line;
    const struct geo_xy *xy;      /* its projected vertices (shape's or own_xy) */
    struct geo_xy *own_xy;
    uint32_t n;                   /* stops */
    uint32_t *stops;              /* stop index per position */
    uint32_t *seq;                /* GTFS stop_sequence per position */
    double *dist_m;               /* metres along line, non-decreasing */
    double *off_m;                /* stop's distance from the line (projection) */
    uint8_t *pickup, *drop_off;
    uint8_t *timepoint;           /* 1: times are exact (buses hold there when early) */
};

struct gtfs_trip {
    char *id, *headsign, *block_id;
    uint32_t route, service, pattern;
    int direction_id;             /* -1 when not given */
    int32_t *arr, *dep;           /* seconds from the day origin, per position */
};

/* A scheduled call of a trip at a stop. */
struct gtfs_visit {
    uint32_t trip;
    uint32_t pos;                 /* position in the trip's pattern */
    int32_t arr;                  /* the trip's arrival there (copy, for search) */
};

struct gtfs {
    struct geo *geo;              /* owned; projection centred on the stops */
    struct tz *tz;                /* owned; the agency time zone */
    size_t n_agencies, n_stops, n_routes, n_shapes, n_services, n_patterns, n_trips;
    struct gtfs_agency *agencies;
    struct gtfs_stop *stops;
    struct gtfs_route *routes;
    struct gtfs_shape *shapes;
    struct gtfs_service *services;
    struct gtfs_pattern *patterns;
    struct gtfs_trip *trips;
    struct gtfs_visit *visits;    /* grouped by stop (see gtfs_stop) */
    struct dict *stop_ix, *route_ix, *trip_ix, *shape_ix, *service_ix;  /* id -> index+1 */
    /* Problems found while loading (the first GTFS_MAX_ISSUES kept). */
    size_t n_issues, n_issues_total;
    struct gtfs_issue *issues;
};

#define GTFS_MAX_ISSUES 500

/* Load a feed folder. Returns NULL on a fatal problem, described in err
 * as "file:line: message"; otherwise the feed, whose issues list the
 * non-fatal problems (for `cityd --check`). */
struct gtfs *gtfs_load(const char *dir, char *err, size_t errlen);
void gtfs_free(struct gtfs *f);

/* Lookups by id; GTFS_NONE when unknown. */
uint32_t gtfs_stop_find(const struct gtfs *f, const char *id);
uint32_t gtfs_route_find(const struct gtfs *f, const char *id);
uint32_t gtfs_trip_find(const struct gtfs *f, const char *id);

/* "HH:MM:SS" (H may exceed 23, one or more digits) -> seconds; -1 if bad. */
int32_t gtfs_parse_time(const char *s);
/* The latest stop time a feed may give: 48:00:00. GTFS writes times past
 * midnight as 24:00:00 and more, counted from the service day's origin;
 * gtfs_trip_day finds a trip running now in yesterday's service or
 * today's, so a later time could never be served, and is a typo
 * (9999:00:00). Google's validator likewise refuses 24 h or more between
 * two stops; MobilityData's takes any two-digit hour. */
#define GTFS_MAX_TIME_S (48 * 3600)
/* "YYYYMMDD" -> days since epoch; returns 0 or -1 if bad. */
int gtfs_parse_date(const char *s, int64_t *day);

/* Does the service run on local date `day`? */
bool gtfs_service_active(const struct gtfs *f, uint32_t service, int64_t day);
/* How many trips run on local date `day` (their service is active). */
size_t gtfs_trips_on(const struct gtfs *f, int64_t day);
/* The last local date on which some service may run (the latest calendar
 * end_date or added calendar_dates date); INT64_MIN when there is none. A
 * feed whose last day has passed runs no bus: cityd warns at start. */
int64_t gtfs_last_service_day(const struct gtfs *f);
/* Epoch second of the origin (noon minus 12 h) of local date `day`. */
int64_t gtfs_day_origin(const struct gtfs *f, int64_t day);
/* The service day of a trip running around epoch second t: among the
 * days it runs on (t's local date, the day before, the day after), the
 * one whose scheduled span [first departure - slack_s, last arrival +
 * slack_s] contains t, nearest first. Returns 0 with *origin set, or -1. */
int gtfs_trip_day(const struct gtfs *f, uint32_t trip, int64_t t, int32_t slack_s,
                  int64_t *day, int64_t *origin);

/* A place on a line: distance along it and offset from it, metres. */
struct gtfs_place {
    double d, off;
};

/* Places on a pattern's line within radius_m of p, restricted to
 * [from_m, to_m] along it: one per stretch of the line passing near p
 * (so a loop or turn-back passing p twice gives two). Returns how many
 * were written (<= max), nearest-stretch order along the line. */
size_t gtfs_line_places(const struct gtfs *f, const struct gtfs_pattern *pt, struct geo_pt p,
                        double radius_m, double from_m, double to_m, struct gtfs_place *out,
                        size_t max);

/* Timetable along the line: where trip is `s` seconds after its day
 * origin (metres along its pattern line; at the first stop until its
 * departure, then moving evenly between stops), and when it is at
 * distance d (seconds after the origin; the departure up to the first
 * stop). */
double gtfs_sched_dist(const struct gtfs *f, uint32_t trip, double s);
double gtfs_sched_time(const struct gtfs *f, uint32_t trip, double d);
/* Direction of a pattern's line at distance d, degrees clockwise from
 * north in [0, 360); NAN without a line. */
double gtfs_line_heading(const struct gtfs_pattern *pt, double d);

/* Pattern of a trip (convenience). */
const struct gtfs_pattern *gtfs_trip_pattern(const struct gtfs *f, uint32_t trip);

#endif
