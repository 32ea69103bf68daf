/* gtfsrt.h -- GTFS-realtime codec: VehiclePositions in, TripUpdates out.
 *
 * Binary protobuf goes through protobuf-c code generated at build time
 * from proto/gtfs-realtime.proto (the subset of the reference cityd uses,
 * same names and field numbers); the JSON mapping goes through jansson.
 * Callers see only the plain structs below, so nothing outside gtfsrt.c
 * depends on either library.
 *
 * Decoding is per entity: a structurally broken message (not protobuf,
 * not JSON, no entity array) fails as a whole, but an entity missing a
 * field or carrying a wrong type gets its own error string and the others
 * still decode. JSON input accepts the snake_case names of the .proto and
 * the lowerCamelCase names of the proto3 JSON mapping; enums as names or
 * numbers; 64-bit integers as numbers or decimal strings.
 *
 * Strings are copied into fixed buffers (ids longer than the buffer are an
 * entity error, never truncated), so a decoded feed is one allocation.
 * Every string kept obeys one rule whichever the encoding (text_check, text.h)
 * and every number a plausibility check (gtfsrt_vehicle_check): what is
 * decoded without an error can go into any JSON reply or feed.
 *
 * Size. A message with more than max_entities entities is refused as a
 * whole (GTFSRT_TOO_LARGE), and so is one whose decoding would take more
 * memory than that many entities justify: protobuf-c allocates some 50
 * bytes per 2 bytes of input for empty submessages or unknown fields,
 * jansson some 200 per 3 for "{}," (an 8 MiB body took 430 and 630 MiB
 * and 2.5 s before these limits). */
#ifndef CITYD_GTFSRT_H
#define CITYD_GTFSRT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GTFSRT_ID 64                       /* buffer size for ids (63 bytes + NUL) */
#define GTFSRT_TOO_LARGE (-2)              /* decoders: beyond max_entities */
#define GTFSRT_SPEED_MAX 50.0              /* m/s (180 km/h): no bus goes faster */
#define GTFSRT_TS_MAX 4102444800ull        /* 2100-01-01: later is garbage (or ms) */
#define GTFSRT_PB_BYTES_PER_ENTITY 4096    /* protobuf-c memory allowed per entity */
#define GTFSRT_JSON_VALUES_PER_ENTITY 64    /* JSON values allowed per entity */

enum gtfsrt_stop_status { GTFSRT_INCOMING_AT = 0, GTFSRT_STOPPED_AT = 1, GTFSRT_IN_TRANSIT_TO = 2 };

struct gtfsrt_header {
    char version[16];                      /* gtfs_realtime_version, "2.0" */
    int incrementality;                    /* 0 FULL_DATASET, 1 DIFFERENTIAL */
    uint64_t timestamp;                    /* 0 = absent */
};

/* The fields of a VehiclePosition entity cityd uses. */
struct gtfsrt_vehicle {
    uint32_t index;                        /* position in the message's entity list */
    char entity_id[GTFSRT_ID];
    char trip_id[GTFSRT_ID], route_id[GTFSRT_ID];
    char start_time[16], start_date[16];
    int direction_id;                      /* -1 absent */
    int trip_relationship;                 /* TripDescriptor.schedule_relationship, -1 absent */
    char vehicle_id[GTFSRT_ID];            /* VehicleDescriptor.id, else the entity id */
    char label[GTFSRT_ID];
    double lat, lon;
    double bearing, speed;                 /* NAN when absent */
    uint64_t timestamp;                    /* 0 = absent */
    bool has_stop_sequence;
    uint32_t current_stop_sequence;
    char stop_id[GTFSRT_ID];
    int current_status;                    /* enum gtfsrt_stop_status, -1 absent */
    char error[128];                       /* non-empty: entity unusable, and why */
};

struct gtfsrt_feed {
    struct gtfsrt_header header;
    size_t n;                              /* vehicle entities (good or with error) */
    struct gtfsrt_vehicle *v;              /* owned: free with gtfsrt_feed_clear */
    size_t n_other;                        /* entities without a vehicle position
                                              (trip updates, alerts, deletions) */
};

/* Decode a FeedMessage of at most max_entities entities. Returns 0 (out
 * filled; entity errors inside), -1 (malformed) or GTFSRT_TOO_LARGE with
 * a message in err (out left empty). */
int gtfsrt_decode_pb(const void *buf, size_t len, size_t max_entities, struct gtfsrt_feed *out,
                     char *err, size_t errlen);
int gtfsrt_decode_json(const char *buf, size_t len, size_t max_entities,
                       struct gtfsrt_feed *out, char *err, size_t errlen);
void gtfsrt_feed_clear(struct gtfsrt_feed *f);

/* One stop in a TripUpdate. Times are epoch seconds. */
struct gtfsrt_stop_time {
    uint32_t stop_sequence;
    char stop_id[GTFSRT_ID];
    bool has_arrival, has_departure;
    int64_t arrival_time, departure_time;
    int32_t arrival_delay, departure_delay;
    int32_t uncertainty;                   /* seconds; 0 = not given */
    int relationship;                      /* 0 SCHEDULED, 1 SKIPPED, 2 NO_DATA */
};

struct gtfsrt_trip_update {
    char entity_id[GTFSRT_ID];
    char trip_id[GTFSRT_ID], route_id[GTFSRT_ID];
    char start_time[16], start_date[16];
    int direction_id;                      /* -1 absent */
    char vehicle_id[GTFSRT_ID];            /* "" = none */
    uint64_t timestamp;                    /* 0 = absent */
    bool has_delay;
    int32_t delay;
    size_t n;
    const struct gtfsrt_stop_time *stops;  /* not owned */
};

/* Encoders. Each returns a malloc'd buffer (caller frees) and its length,
 * or NULL on OOM. JSON output is the snake_case mapping, enums by name,
 * timestamps as numbers. */
uint8_t *gtfsrt_encode_vehicles_pb(const struct gtfsrt_header *h, const struct gtfsrt_vehicle *v,
                                   size_t n, size_t *len);
char *gtfsrt_encode_vehicles_json(const struct gtfsrt_header *h, const struct gtfsrt_vehicle *v,
                                  size_t n, size_t *len);
uint8_t *gtfsrt_encode_trip_updates_pb(const struct gtfsrt_header *h,
                                       const struct gtfsrt_trip_update *tu, size_t n,
                                       size_t *len);
char *gtfsrt_encode_trip_updates_json(const struct gtfsrt_header *h,
                                      const struct gtfsrt_trip_update *tu, size_t n,
                                      size_t *len);

/* Blank vehicle (NAN/-1 for absent fields). */
void gtfsrt_vehicle_init(struct gtfsrt_vehicle *v);

/* Every string of v by text_check (text.h), and its numbers: a position in
 * range, speed in [0, GTFSRT_SPEED_MAX] and bearing in [0, 360) when given,
 * timestamp at most GTFSRT_TS_MAX. The decoders apply it to each entity;
 * call it on vehicles from elsewhere (a stored copy). Returns 0, or -1 with
 * a message naming the field. */
int gtfsrt_vehicle_check(const struct gtfsrt_vehicle *v, char *err, size_t errlen);

#endif
