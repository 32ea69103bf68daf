/* parking.h -- parking lots, bays and their availability (plain C).
 *
 * The registry of lots (from the map and from PUT bodies), the current
 * availability of each lot and bay, the rules that turn observations into
 * state, and the FIWARE view of a lot at a given "now". No Redis, no HTTP:
 * api_parking.c persists and publishes what these functions decide.
 *
 * Observation rules (api.md §2; documented here because the API follows
 * them exactly, in memory and in Redis):
 *  - Ordering. An observation is applied when its ts is >= the ts of the
 *    state it would replace (the lot's last count, or the bay's last
 *    state), else it is `outdated` and changes nothing. Equal ts applies:
 *    gate counters report several changes within one clock second and the
 *    later report is the truer one; a replay of the same id is caught
 *    earlier by the idempotency markers, not here.
 *  - Counts. availableSpotNumber must be an integer >= 0 (40.0 is accepted
 *    as 40; 40.5, -1, "40" are rejected). Above totalSpotNumber it is
 *    clamped to totalSpotNumber and the lot carries the flag
 *    "availableSpotNumberClamped" until an unclamped count replaces it.
 *  - Bays. A lot whose bays have reported at least once derives its count
 *    from them: availableSpotNumber = number of `free` bays (clamped as
 *    above); unknown, occupied and closed bays are not free. From then on
 *    a lot count for it is rejected, naming the field. A bay must belong
 *    to the lot named by the observation. A plate is only accepted with
 *    status `occupied` and must be a valid Chinese plate (plate.h); it is
 *    kept in its canonical form ("鲁f·12345" is stored as "鲁F12345"), so
 *    the sessions module can look it up exactly (parking_find_plate).
 *    Every bay state replaces the plate (absent = none). Plates are never
 *    rendered.
 *  - Time. ts is epoch seconds, finite and >= 0; more than a caller-given
 *    bound in the future (wall clock + 300 s, none in replay mode) is
 *    rejected.
 *
 * Status at `now` (FIWARE / DATEX II names), first rule that holds:
 *    closed          the operator closed the lot, or totalSpotNumber is 0
 *    unknown         never observed, or stale (data older than
 *                    parking.stale_after_s: its count no longer says what
 *                    a driver will find; the count itself is still shown)
 *    full            0 free
 *    almostFull      fewer than 10 % of totalSpotNumber free
 *    spacesAvailable otherwise
 * `open` (DATEX II: open, occupancy not known) is accepted from operators
 * in a PUT body but never derived from observations. A closed lot reports
 * availableSpotNumber 0. stale is true when never observed or when
 * now - observationDateTime > stale_after_s (exactly stale_after_s old is
 * still fresh). dataAgeSeconds = floor(now - observationDateTime), never
 * negative (an `at` before the last observation gives 0).
 *
 * Ownership: struct parking owns every lot, bay and string in it. Pointers
 * to lots and bays stay valid until the lot is replaced (parking_lot_put
 * with the same id) or the registry is freed. Not thread-safe. */
#ifndef CITYD_PARKING_H
#define CITYD_PARKING_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lotdef.h"
#include "map.h"
#include "plate.h"
#include "spindex.h"

#define PARKING_ID_MAX LOTDEF_ID_MAX  /* bytes, like map ids */
#define PARKING_PLATE_MAX PLATE_MAX   /* a canonical plate and its NUL */
#define PARKING_ALMOST_FULL_PCT 10

struct parking_config {
    double stale_after_s;             /* parking.stale_after_s */
};

enum parking_bay_status {
    PARKING_BAY_UNKNOWN = 0, PARKING_BAY_FREE, PARKING_BAY_OCCUPIED, PARKING_BAY_CLOSED,
};
const char *parking_bay_status_name(enum parking_bay_status s);
/* Returns 0, or -1 for a name that is not free/occupied/closed/unknown. */
int parking_bay_status_parse(const char *s, enum parking_bay_status *out);

enum parking_status {
    PARKING_ST_UNKNOWN = 0, PARKING_ST_OPEN, PARKING_ST_CLOSED, PARKING_ST_FULL,
    PARKING_ST_ALMOST_FULL, PARKING_ST_SPACES_AVAILABLE,
};
const char *parking_status_name(enum parking_status s);

#define PARKING_FLAG_CLAMPED 0x1u     /* "availableSpotNumberClamped" */

/* Read-only outside parking.c. */
struct parking_bay {
    const char *id;                   /* in the lot's string arena */
    char *plate;                      /* owned, NULL = none; never rendered */
    double ts;                        /* last applied state, NAN = never */
    struct geo_pt pt;                 /* NAN when the bay has no position */
    uint16_t level;                   /* index in lot->levels, UINT16_MAX = none */
    uint8_t status;                   /* enum parking_bay_status */
};

/* Read-only outside parking.c. The last fields are the ones a rendering
 * reads, kept together with the cached JSON stored after the struct
 * (nearest answers touch a few random lots each). */
struct parking_lot {
    /* definition */
    char *id, *name, *type, *currency;
    struct geo_pt loc;
    char **category; size_t ncategory;
    char **levels; size_t nlevels;
    struct map_tariff tariff;
    double price_rate_per_hour;       /* as given, NAN when absent */
    double price;                     /* for max_price: the above, else the
                                         tariff's rate, else NAN */
    /* bays, sorted by id (strcmp) */
    struct parking_bay *bays; size_t nbays;
    int bays_free;
    /* private */
    char *arena;                      /* bay ids */
    uint32_t handle;                  /* in the spatial index */
    uint64_t catmask;
    /* availability, last: with the JSON stored right after the struct it
     * is one run of memory, all that rendering a lot reads */
    int available;                    /* effective count, -1 = never observed */
    int total;                        /* totalSpotNumber */
    unsigned flags;                   /* PARKING_FLAG_* */
    bool closed;                      /* operator status */
    double obs_ts;                    /* observationDateTime, NAN = never */
    double count_ts;                  /* last applied lot count, NAN = none */
    size_t bays_observed;             /* > 0: the count derives from bays */
    const char *json;                 /* private: cached static JSON pieces, */
    size_t json_off[4];               /* stored right after this struct */
};

struct parking;

/* Copies cfg. NULL on OOM. */
struct parking *parking_new(const struct parking_config *cfg);
void parking_free(struct parking *p);
size_t parking_lot_count(const struct parking *p);
const struct spindex *parking_index(const struct parking *p);
/* spindex_compact of the lots' index: for a quiet moment. */
void parking_compact(struct parking *p);

/* ---- registry ---- */

/* Create or replace the lot def->id. def is the map's struct (the map
 * loader and the PUT body parser both produce it; def->lot fields of the
 * bays are ignored: they all belong to def). Strings are copied.
 * `closed` is the operator status. On replace, availability carries
 * over: the count (clamped to the new total), its timestamps and flags,
 * and the state of every bay whose id is kept; the position in the index
 * is updated. Returns 0, or -1 with "field: message" in err and nothing
 * changed. */
int parking_lot_put(struct parking *p, const struct map_lot *def, const struct map_bay *bays,
                    size_t nbays, bool closed, char *err, size_t errlen);
/* Would parking_lot_put accept this definition? Same checks and errors,
 * nothing changes (for writes that must persist before they apply). */
int parking_lot_check(struct parking *p, const struct map_lot *def, const struct map_bay *bays,
                      size_t nbays, char *err, size_t errlen);
/* Every lot of the map with its bays. Returns 0, or -1 with the first
 * problem in err (lots before it stay defined). */
int parking_load_map(struct parking *p, const struct map *m, char *err, size_t errlen);

typedef void parking_visit_fn(void *ctx, const struct parking_lot *l);
/* Calls fn for every lot, in no particular order; fn must not add lots. */
void parking_each(const struct parking *p, parking_visit_fn *fn, void *ctx);

const struct parking_lot *parking_lot_get(const struct parking *p, const char *id);
/* The lot of a spatial-index handle (from parking_nearest). */
const struct parking_lot *parking_lot_at(const struct parking *p, uint32_t handle);
const struct parking_bay *parking_bay_get(const struct parking_lot *l, const char *bay);
/* Level name of a bay, NULL when none. */
const char *parking_bay_level(const struct parking_lot *l, const struct parking_bay *b);
/* For the sessions module: the bay of lot l currently `occupied` by plate
 * (exact match), or NULL. Linear in the lot's bays. */
const struct parking_bay *parking_find_plate(const struct parking_lot *l, const char *plate);

/* ---- observations ---- */

struct parking_obs {
    const char *id;                   /* idempotency id */
    const char *lot;
    const char *bay;                  /* NULL: a lot count */
    long long available;              /* lot count */
    enum parking_bay_status status;   /* bay state */
    const char *plate;                /* bay state, canonical, NULL = none */
    double ts;
    char plate_buf[PARKING_PLATE_MAX]; /* where parse puts the canonical plate */
};

/* Shape check of one item of {"observations": [...]}: types, required
 * fields, ranges, the plate normalised (into o->plate_buf). Other strings
 * point into item. Returns 0, or -1 with "field: message" in err. */
int parking_obs_parse(const json_t *item, struct parking_obs *o, char *err, size_t errlen);

/* The error of a lot count for a lot counted by its bays (also used by
 * the API for a count that follows bay states of its lot in one batch). */
#define PARKING_ERR_BAY_COUNTED \
    "availableSpotNumber: lot \"%s\" counts its bay sensors; send bay states"

enum parking_verdict {
    PARKING_OBS_APPLIED = 0,
    PARKING_OBS_OUTDATED,
    PARKING_OBS_REJECTED,
};

/* Checks against the registry that need no ordering: the lot exists, the
 * bay belongs to it, a count does not target a bay-counted lot,
 * ts <= ts_max (INFINITY: no bound). Returns PARKING_OBS_APPLIED when the
 * observation may be applied, else PARKING_OBS_REJECTED with err. */
enum parking_verdict parking_obs_check(const struct parking *p, const struct parking_obs *o,
                                       double ts_max, char *err, size_t errlen);

/* What an applied observation did to its lot. */
struct parking_change {
    const struct parking_lot *lot;
    int old_available, new_available; /* effective counts, -1 = unknown */
    bool clamped;                     /* this count was clamped */
    bool available_changed;           /* availableSpotNumber moved */
    bool bay_arrival;                 /* a car arrived in the bay: it turned
                                         occupied, or a camera read another
                                         plate in it (not a re-report) */
};

/* Check, then apply by the ordering rule. Returns APPLIED (chg filled),
 * OUTDATED (nothing changed) or REJECTED (err filled). */
enum parking_verdict parking_obs_apply(struct parking *p, const struct parking_obs *o,
                                       double ts_max, struct parking_change *chg,
                                       char *err, size_t errlen);

/* The count a lot count observation stores: n clamped to the lot's
 * totalSpotNumber; *flags gets PARKING_FLAG_CLAMPED when it was. The API
 * persists exactly this, so Redis and memory agree. */
int parking_count_clamp(const struct parking_lot *l, long long n, unsigned *flags);

/* Restore a lot's persisted count state (rebuild at start-up): applied
 * like a count observation at count_ts but without the bay-count rule,
 * flags as given. Returns 0, or -1 for an unknown lot or bad values. */
int parking_lot_restore(struct parking *p, const char *lot, int available, double count_ts,
                        unsigned flags);

/* ---- views ---- */

/* A lot as seen at `now`. */
struct parking_view {
    int available;                    /* -1 = unknown */
    double occupancy;                 /* (total - available) / total; NAN unknown */
    enum parking_status status;
    double age_s;                     /* NAN when never observed */
    bool stale;
    const char *detection;            /* occupancyDetectionType */
};
void parking_lot_view(const struct parking *p, const struct parking_lot *l, double now,
                      struct parking_view *v);

/* A growable output buffer; `oom` is sticky. Free data with free(). */
struct parking_buf {
    char *data;
    size_t len, cap;
    bool oom;
};
void parking_buf_put(struct parking_buf *b, const void *s, size_t n);
/* Make room for n more bytes up front (one allocation instead of several). */
void parking_buf_reserve(struct parking_buf *b, size_t n);
void parking_buf_puts(struct parking_buf *b, const char *s);

/* Append the lot as JSON (api.md §2) seen at `now`; gcj02: its location
 * in GCJ-02. distance_m is appended as "distance_m" unless NAN. */
void parking_lot_render(const struct parking *p, const struct parking_lot *l, double now,
                        bool gcj02, double distance_m, struct parking_buf *b);

/* Append {"lot":id,"bays":[{"id","type":"ParkingSpot","level","status",
 * "observationDateTime","location"}]} (FIWARE ParkingSpot names; level and
 * location only when known; never a plate). level, when not NULL, keeps
 * the bays of that level only. gcj02: locations in GCJ-02. */
void parking_bays_render(const struct parking_lot *l, const char *level, bool gcj02,
                         struct parking_buf *b);

/* Append what a guidance screen shows at `now`: {"id","name","location",
 * "lots":[{"id","name","availableSpotNumber","status","stale",
 * "distance_m","bearing_deg","direction","arrow"}]} in the screen's order;
 * direction is the 8-point compass ("N", "NE", ...) from the screen to the
 * lot and arrow the matching glyph. Lots unknown to the registry are
 * listed with status "unknown" and no position fields. */
void parking_screen_render(const struct parking *p, const struct map_screen *s, double now,
                           bool gcj02, struct parking_buf *b);

/* ---- queries ---- */

struct parking_query {
    double lon, lat;                  /* WGS84 */
    double radius_m;
    size_t limit;
    int min_available;
    double max_price;                 /* NAN: none */
    const char *const *category;      /* lots must have every one */
    size_t ncategory;
    bool include_stale;
    double now;
    /* A further test of each candidate (a forecast at arrival), or NULL:
     * called with the lot; true keeps it. */
    bool (*accept)(void *ctx, const struct parking_lot *l);
    void *accept_ctx;
};

/* Nearest lots (see spindex.h: exact, by distance then id). out holds
 * q->limit hits; map handles to lots with parking_lot_at. */
size_t parking_nearest(const struct parking *p, const struct parking_query *q,
                       struct spindex_hit *out);

/* Lots inside a box (minlon > maxlon crosses the antimeridian). */
size_t parking_bbox(const struct parking *p, double minlon, double minlat, double maxlon,
                    double maxlat, parking_visit_fn *fn, void *ctx);

#endif
