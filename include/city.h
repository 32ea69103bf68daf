/* city.h -- the city at a glance (api.md §1, GET /v1/city and the city
 * gauges of /metrics): totals and the four indicators of Yantai's plan,
 * and the fare validations the fourth one needs.
 *
 * Plain C over the domain modules' structs (parking, transit, the map's
 * stop signs) and plain counters: no Redis, no HTTP. api_city.c keeps the
 * state (fare buckets, when each sign last fetched) and persists it.
 *
 * The indicators (targets from the plan):
 *  - share_predicted (90 %): of the trips running now -- those the
 *    timetable has running, plus any a live bus is on -- those a live bus
 *    (not stale, matched on its trip) gives predictions for;
 *  - share_signs (10 %): of the stops riders board at (GTFS location_type
 *    0), those with at least one electronic sign in stop_signs.geojson;
 *  - share_electronic (75 %): of the fare validations of the last 24 h
 *    (24 hourly buckets up to the current hour), those not paid in cash;
 *  - share_realtime (70 %): of the signalised intersections, those whose
 *    timing is adaptive and driven by counts fresher than two intervals
 *    (api_adaptive.c reports them).
 * A share with nothing to divide by is NAN (null in JSON). */
#ifndef CITYD_CITY_H
#define CITYD_CITY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct parking;
struct transit;
struct gtfs;
struct map;

#define CITY_ID_MAX 127               /* ids of validations, vehicles, routes, stops */
#define CITY_SIGN_LIVE_S 120.0        /* api.md §3: a sign is live while it fetched within */
#define CITY_FARE_PARTS 16            /* Redis partitions of the fare counters ({p:NN}) */
/* The ids of a partition's validations of one hour are spread over this
 * many small hashes, so that each stays in Redis's compact encoding
 * (listpack, up to hash-max-listpack-entries = 128 fields by default):
 * some 30 bytes an id instead of some 75 in a large set, up to 128 x 16 x
 * 256 = 520,000 validations an hour (beyond, a bucket takes the large
 * encoding: the same answers, more bytes). */
#define CITY_FARE_ID_BUCKETS 256
#define CITY_FARE_HOURS 48            /* hourly buckets kept in memory per partition */
#define CITY_FARE_WINDOW_H 24         /* share_electronic: the last 24 hours */
#define CITY_FARE_FUTURE_S 300.0      /* validations further ahead of the clock are refused */

enum city_fare_method { CITY_FARE_QR = 0, CITY_FARE_CARD, CITY_FARE_NFC, CITY_FARE_CASH,
                        CITY_FARE_NMETHODS };
const char *city_fare_method_name(enum city_fare_method m);
bool city_fare_electronic(enum city_fare_method m);

/* One validation on a bus reader (api.md §3 POST /v1/transit/fares). */
struct city_fare {
    char id[CITY_ID_MAX + 1];
    double ts;
    char vehicle_id[CITY_ID_MAX + 1];   /* "" when not given, as the next two */
    char route_id[CITY_ID_MAX + 1];
    char stop_id[CITY_ID_MAX + 1];
    enum city_fare_method method;
};

/* Parse and check one item: id (required id string), ts (required epoch
 * seconds; with max_age_s > 0 not older than that before now nor more
 * than CITY_FARE_FUTURE_S after it; 0: no clock checks, as in replay),
 * method (required, qr/card/nfc/cash), vehicle_id/route_id/stop_id
 * (optional id strings). Returns 0, or -1 with "<field>: <why>" in err. */
int city_fare_parse(const json_t *item, double now, double max_age_s, struct city_fare *f,
                    char *err, size_t errlen);

/* Partition of a validation id (FNV-1a), 0 .. CITY_FARE_PARTS-1: its
 * idempotency marker and the counters it bumps share that partition's
 * hash tag, so one script touches one slot.
 *
 * Not keys_part (CRC16 mod KEYS_PARTS), which the other domain data use,
 * on purpose. The tags are the same {p:NN} ones (0..15 of 0..63), so fares
 * add no slot of their own; only the id -> tag hash differs. Switching to
 * keys_part would move almost every id to another tag, and a marker in
 * another slot is one the write script cannot check: a repeated
 * validation would count twice unless every marker of the last
 * retention.fare_max_age_s (16 x 256 hashes an hour, of up to 128 ids
 * each at their compact size) and every former seen:fare:<id> key were
 * moved field by field before any fare is taken, with every older cityd
 * stopped (a rolling upgrade would write the old layout behind the
 * move). It would also take
 * memory and the restore from 16 to 64 partitions of counters (64 x
 * CITY_FARE_HOURS buckets, 64 ZREVRANGEs and their HMGETs at start). All
 * that for one five-line hash. */
unsigned city_fare_part(const char *id);
/* Bucket of a validation id among its partition-hour's id hashes, 0 ..
 * CITY_FARE_ID_BUCKETS-1 (bits of the hash the partition does not use). */
unsigned city_fare_ids_bucket(const char *id);
/* Hour bucket of an epoch second (hours since the epoch). */
int64_t city_hour(double ts);

/* Validations per partition and hour, by method: a ring of
 * CITY_FARE_HOURS hours per partition (an hour older than the ring's
 * holds nothing). Zero-initialise (all hours 0 = empty). */
struct city_fare_bucket {
    int64_t hour;
    long n[CITY_FARE_NMETHODS];
};
struct city_fares {
    struct city_fare_bucket b[CITY_FARE_PARTS][CITY_FARE_HOURS];
};
/* Count `by` validations; an hour older than what its slot holds is
 * ignored (false). */
bool city_fares_add(struct city_fares *f, unsigned part, int64_t hour,
                    enum city_fare_method m, long by);
/* Replace one partition-hour with what Redis holds (restore, re-read). */
void city_fares_set(struct city_fares *f, unsigned part, int64_t hour,
                    const long n[CITY_FARE_NMETHODS]);
/* Totals by method over hours [city_hour(now) - hours + 1, city_hour(now)]. */
void city_fares_sum(const struct city_fares *f, double now, int hours,
                    long n[CITY_FARE_NMETHODS]);

/* Everything GET /v1/city and the gauges show. */
struct city_figures {
    double at;
    /* parking */
    size_t lots, lots_reporting, lots_stale;
    long spaces_total, spaces_available;   /* available: lots reporting only */
    double parking_latest;                 /* newest observation, NAN none */
    /* transit */
    size_t vehicles;                       /* not stale */
    size_t by_status[5];                   /* enum transit_status, stale included */
    size_t trips_active, trips_predicted;
    size_t stops, stops_with_signs, signs, signs_live;
    double transit_latest;                 /* newest position, NAN none */
    /* fares, last 24 h */
    long rides, electronic;
    long by_method[CITY_FARE_NMETHODS];
    /* signals (filled by the caller from api_adaptive.c) */
    size_t intersections, realtime, adaptive, fixed;
    double counts_latest;                  /* end of the newest applied count, NAN none */
};

/* part / whole, NAN when whole is 0. */
double city_share(double part, double whole);

void city_figures_parking(struct city_figures *c, const struct parking *p, double now);
/* Vehicles, trips, and the stops of feed f (t may be NULL: no feed). */
void city_figures_transit(struct city_figures *c, const struct transit *t, const struct gtfs *f,
                          double now);
/* Signs of the map whose stop is in f; seen[i] is when sign i (index in
 * m->signs) last fetched its arrivals (0: never). */
void city_figures_signs(struct city_figures *c, const struct map *m, const struct gtfs *f,
                        const double *seen, double now);
void city_figures_fares(struct city_figures *c, const struct city_fares *fares, double now);

/* The GET /v1/city body (api.md §1 names, plus "targets" and "sources"
 * with the age of each source's newest data). */
json_t *city_figures_json(const struct city_figures *c);

#endif
