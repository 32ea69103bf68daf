/* garage.h -- walking graphs of garages and reverse car-finding routes.
 *
 * Built once from the map (map.h): for every lot with aisles or kiosks, a
 * graph whose edges are walking segments (cost = length / 1.2 m/s) and
 * level changes through connectors (a cost in seconds, no distance).
 *
 * Construction (all geometry in a local metric projection centred on the
 * lot, geo_project):
 *   - aisle vertices are nodes; a vertex within GARAGE_SNAP_M of a node on
 *     the same level IS that node, so lines sharing end points connect;
 *   - an aisle end point within GARAGE_SNAP_M of another aisle's interior
 *     (a T junction) and two aisles crossing on one level are joined there;
 *   - a connector makes one node per level it lists, each attached to the
 *     nearest aisle point on that level (projected onto the nearest
 *     segment, plus the perpendicular leg); its level-change edges cost
 *       lift:      GARAGE_LIFT_WAIT_S + GARAGE_LIFT_PER_LEVEL_S per level,
 *                  between any two of its levels;
 *       escalator: GARAGE_ESCALATOR_PER_LEVEL_S per level, adjacent levels;
 *       stairs and anything else: GARAGE_STAIRS_PER_LEVEL_S per level,
 *                  adjacent levels;
 *     where "adjacent" and level counts follow the lot's `levels` order;
 *   - bays and kiosks are attached like connectors on their level.
 * Routes: A* (binary heap, straight-line / walking-speed heuristic) from a
 * kiosk to a bay, minimising time. distance_m is the horizontal distance
 * walked; walk_seconds adds the level changes. */
#ifndef CITYD_GARAGE_H
#define CITYD_GARAGE_H

#include <jansson.h>
#include <stddef.h>

#include "geo.h"
#include "map.h"

#define GARAGE_SNAP_M 0.5
#define GARAGE_WALK_MPS 1.2
#define GARAGE_LIFT_WAIT_S 15.0
#define GARAGE_LIFT_PER_LEVEL_S 5.0
#define GARAGE_ESCALATOR_PER_LEVEL_S 15.0
#define GARAGE_STAIRS_PER_LEVEL_S 20.0

struct garages;     /* all garages of a map */
struct garage;      /* one lot's graph */

/* Build the graphs of every lot with aisles or kiosks. The map must
 * outlive the result (ids and names are borrowed). NULL on OOM. */
struct garages *garages_build(const struct map *m);
void garages_free(struct garages *gs);
/* The garage of a lot, or NULL when the lot has no walking graph. */
const struct garage *garages_get(const struct garages *gs, const char *lot);

/* Problems for `cityd --check`, appended to probs (file
 * "parking.geojson", feature = the bay/kiosk/connector id): bays no kiosk
 * of their lot can reach, kiosks and connector levels with no aisle on
 * their level, lots with aisles but no kiosk. Returns how many. */
size_t garages_check(const struct garages *gs, struct map_problems *probs);

struct garage_step {
    char instruction[192];          /* English */
    char instruction_zh[192];       /* Chinese */
    double distance_m;
    const char *level;              /* borrowed from the map */
};

struct garage_route {
    double distance_m;
    double walk_seconds;
    struct geo_pt *path; size_t npath;          /* owned, lon/lat */
    struct garage_step *steps; size_t nsteps;   /* owned */
};

/* Route from kiosk `kiosk_id` to bay `bay_id` of garage g. Returns 0, or
 * -1 with err when either is not in this garage (*not_found = 1) or no
 * path joins them (*not_found = 0). out is owned by the caller
 * (garage_route_free). */
int garage_route(const struct garage *g, const char *kiosk_id, const char *bay_id,
                 struct garage_route *out, int *not_found, char *err, size_t errlen);
void garage_route_free(struct garage_route *r);
/* {"distance_m","walk_seconds","path": LineString,"steps":[...]}. With
 * gcj02 the path is converted to GCJ-02. New reference. */
json_t *garage_route_json(const struct garage_route *r, bool gcj02);

/* The level of a bay in this garage, or NULL. */
const char *garage_bay_level(const struct garage *g, const char *bay_id);
/* True when the kiosk belongs to this garage. */
bool garage_has_kiosk(const struct garage *g, const char *kiosk_id);

#endif
