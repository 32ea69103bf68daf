/* map.h -- the city map folder (maps/<city>/): plain structs + loader.
 *
 * map_load reads parking.geojson, corridors.geojson and stop_signs.geojson
 * (formats.md):
 * properties through jansson, geometry through geo.h (GEOS). It checks
 * everything it can and reports every problem (file + feature id), so
 * `cityd --check` can list them all. Domain modules read these structs
 * directly; they hold no Redis or HTTP state. All strings and arrays are
 * owned by the map and freed by map_free. */
#ifndef CITYD_MAP_H
#define CITYD_MAP_H

#include <stdbool.h>
#include <stddef.h>

#include "geo.h"

struct dict;

/* api.md "Tariff". Absent fields take: free_minutes 0, unit_minutes 60,
 * daily_cap 0 (no cap), no night rate; rate_per_hour is required. */
struct map_tariff {
    bool present;
    double free_minutes;
    double rate_per_hour;
    double unit_minutes;
    double daily_cap;              /* <= 0: no cap */
    bool has_night;
    int night_from_min;            /* minutes after local midnight */
    int night_to_min;
    double night_rate_per_hour;
    bool bill_from_entry;          /* "bill_from_entry": a stay past the free
                                      period is billed from entry (tariff.h) */
};

struct map_lot {
    char *id;
    char *name;
    char *type;                    /* "OffStreetParking" | "OnStreetParking" */
    struct geo_pt loc;             /* Point, or centroid of the Polygon */
    int total;                     /* totalSpotNumber */
    char **category; size_t ncategory;
    char **levels;   size_t nlevels;         /* bays, aisles, kiosks and connectors
                                               must name one of these */
    struct map_tariff tariff;
    double price_rate_per_hour;    /* NAN when absent (then tariff.rate_per_hour) */
    char *currency;                /* default "CNY" */
    char *address;                 /* optional, NULL */
    char *name_en;                 /* optional English name, NULL */
    char *opening_hours;           /* optional "openingHours" (OSM opening_hours
                                      syntax, as FIWARE), NULL */
    size_t nbays;                  /* bays mapped for this lot */
};

struct map_bay {
    char *id, *lot, *level;
    struct geo_pt pt;              /* Point, or polygon centroid */
};

struct map_aisle {
    char *id;                      /* may be NULL */
    char *lot, *level;
    struct geo_pt *pts; size_t npts;
};

struct map_connector {
    char *id;                      /* the 'id' property, else "#<feature index>" */
    char *lot;
    char *name;                    /* "Lift A", may be NULL */
    char *connector_type;          /* "lift" | "stairs" | ... (property "type"), may be NULL */
    char **levels; size_t nlevels;         /* >= 2, all levels of the lot */
    struct geo_pt pt;
};

struct map_kiosk {
    char *id, *lot, *level;
    char *name;                    /* may be NULL */
    struct geo_pt pt;
};

struct map_screen {
    char *id;
    char *name;                    /* may be NULL */
    struct geo_pt pt;
    char **lots; size_t nlots;
};

struct map_phase {
    char **movements; size_t nmovements;   /* UTDF names */
    double saturation_flow;                /* veh/h of green */
    double min_green_s;
    double design_flow;                    /* optional "flow" property, veh/h; 0 if absent */
};

struct map_intersection {
    char *id, *name;
    struct geo_pt pt;
    struct map_phase *phases; size_t nphases;
    double lost_time_s;
    double cycle_min_s, cycle_max_s;
    double pedestrian_crossing_m;          /* 0 if absent */
};

struct map_corridor {
    char *id, *name;
    double speed_kmh;
    struct geo_line *line;                 /* owned */
    char **isecs; size_t nisecs;           /* ids, outbound order */
    double *position_m;                    /* projected along line, per isec;
                                              strictly increasing */
    double *offset_m;                      /* distance from the line, per isec;
                                              <= 50 m */
};

/* An electronic stop sign (stop_signs.geojson): a Point with `id`,
 * `stop_id` (the GTFS stop whose arrivals it shows) and optional `name`. */
struct map_sign {
    char *id, *stop_id;
    char *name;                            /* may be NULL */
    struct geo_pt pt;
};

struct map {
    char *dir;
    struct geo *geo;                       /* projection centred on the map */
    struct map_lot *lots;                  size_t nlots;
    struct map_bay *bays;                  size_t nbays;
    struct map_aisle *aisles;              size_t naisles;
    struct map_connector *connectors;      size_t nconnectors;
    struct map_kiosk *kiosks;              size_t nkiosks;
    struct map_screen *screens;            size_t nscreens;
    struct map_intersection *isecs;        size_t nisecs;
    struct map_corridor *corridors;        size_t ncorridors;
    struct map_sign *signs;                size_t nsigns;
    /* id -> pointer indexes (values point into the arrays above) */
    struct dict *lot_by_id, *bay_by_key /* "lot\x1fbay" */, *kiosk_by_id,
                *screen_by_id, *isec_by_id, *corridor_by_id, *sign_by_id;
};

struct map_problem {
    char file[64];                 /* "parking.geojson" */
    char feature[128];             /* feature id, or "#<index>" (0-based index in
                                      the file's features), or "-" for the file */
    char message[256];
};

struct map_problems {
    struct map_problem *items; size_t n, cap;
};

void map_problems_free(struct map_problems *p);
/* Load the folder. Returns 0 when the map loaded without any problem,
 * -1 otherwise; every problem found is appended to probs and *out is set
 * only on success. A missing corridors.geojson is not a problem (a city
 * may have parking only), nor a missing stop_signs.geojson; a missing
 * parking.geojson is. Ids are 1..127
 * bytes without control characters; kiosk, screen, lot, intersection and
 * corridor ids are unique map-wide, bay ids within their lot. A feature
 * more than 100 km from the median position of the map is reported as
 * stray. Strings follow text.h (levels and categories the id rule, names
 * and addresses at most TEXT_NAME_SIZE - 1 bytes), numbers plausible
 * bounds (docs/parking.md, docs/signals.md), tariffs tariff_from_json.
 * The projection (m->geo) is centred on the bounding box of all
 * features. */
int map_load(const char *dir, struct map **out, struct map_problems *probs);
void map_free(struct map *m);

const struct map_lot *map_lot(const struct map *m, const char *id);
const struct map_bay *map_bay(const struct map *m, const char *lot, const char *bay);
const struct map_kiosk *map_kiosk(const struct map *m, const char *id);
const struct map_screen *map_screen(const struct map *m, const char *id);
const struct map_intersection *map_intersection(const struct map *m, const char *id);
const struct map_corridor *map_corridor(const struct map *m, const char *id);
const struct map_sign *map_sign(const struct map *m, const char *id);

/* Parse "HH:MM" into minutes after midnight; -1 on error. */
int map_parse_hhmm(const char *s);

#endif
