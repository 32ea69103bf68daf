/* spindex.h -- in-memory spatial index of parking lots for nearest-free
 * and bounding-box queries.
 *
 * Entries are points (WGS84 lon/lat) carrying the few attributes a query
 * filters on: free spaces, time of the last observation, hourly price and
 * a category bit mask. The index is a uniform grid over the data's
 * bounding box (cells roughly square in metres, sized from the point
 * density) with an intrusive list per cell, so that
 *   - a change of availability / timestamp / price / categories is O(1)
 *     (the hot path: every observation touches it);
 *   - inserting or moving a point is O(1) amortised (the grid is rebuilt
 *     when the data outgrows it);
 *   - queries allocate nothing and visit only the cells that may hold an
 *     answer, in rings around the query point, pruned with a provable
 *     lower bound on the great-circle distance to each cell.
 *
 * Answers are exact: identical to a brute-force scan that filters every
 * entry with the same rules, keeps those within the radius by
 * spindex_distance_m and sorts by (distance, id). spindex_distance_m is
 * therefore the canonical great-circle distance for these queries (unit
 * vectors on a sphere of radius GEO_EARTH_RADIUS_M; it agrees with the
 * haversine formula to well under a millimetre).
 *
 * Handles are small integers, stable for the life of an entry and reused
 * after removal. The id string is borrowed: it must stay valid and
 * unchanged until the entry is removed (the parking registry owns it).
 * Not thread-safe. */
#ifndef CITYD_SPINDEX_H
#define CITYD_SPINDEX_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPINDEX_NONE UINT32_MAX

struct spindex;

struct spindex *spindex_new(void);
void spindex_free(struct spindex *s);

/* Add a point. Availability starts unknown (-1), timestamp NAN (never
 * observed), price NAN (unknown), no categories. Returns the handle, or
 * SPINDEX_NONE when lon/lat is not a valid coordinate or on OOM. */
uint32_t spindex_insert(struct spindex *s, const char *id, double lon, double lat);
/* Remove an entry; the handle becomes invalid (and may be reused). */
void spindex_remove(struct spindex *s, uint32_t h);
/* Change the position. Returns 0, or -1 for an invalid coordinate / OOM
 * (the entry is then unchanged). */
int spindex_move(struct spindex *s, uint32_t h, double lon, double lat);

/* O(1) attribute updates. avail < 0 means unknown; ts NAN means never
 * observed; price NAN means unknown (such an entry fails any max_price
 * filter). */
void spindex_set_available(struct spindex *s, uint32_t h, int32_t avail);
void spindex_set_ts(struct spindex *s, uint32_t h, double ts);
void spindex_set_price(struct spindex *s, uint32_t h, double price);
void spindex_set_cats(struct spindex *s, uint32_t h, uint64_t cats);

size_t spindex_count(const struct spindex *s);
/* Pack entries placed or moved since the last pack and drop dead slots
 * (see spindex.c), so that queries read only packed runs. O(n); does
 * nothing when already packed. For a quiet moment after bulk changes. */
void spindex_compact(struct spindex *s);

/* The staleness rule shared by the index and the parking registry (so
 * that `stale` in a reply and the include_stale filter never disagree):
 * never observed, or more than stale_after seconds before now. */
static inline bool spindex_is_stale(double ts, double now, double stale_after)
{
    return isnan(ts) || now - ts > stale_after;
}

/* Accept hook for filters the index cannot express (e.g. a category that
 * has no bit of its own). Called only for entries that passed every other
 * test and lie within the radius. */
typedef bool spindex_accept_fn(void *ctx, uint32_t h);

struct spindex_query {
    double lon, lat;              /* WGS84 degrees */
    double radius_m;              /* keep entries with distance <= radius_m */
    size_t limit;                 /* out must hold this many hits */
    int32_t min_available;        /* <= 0: no availability filter (unknown passes) */
    double max_price;             /* NAN: no price filter */
    uint64_t cats;                /* every bit must be set on the entry */
    bool include_stale;           /* false: skip spindex_is_stale() entries */
    double now, stale_after;      /* for the staleness rule */
    spindex_accept_fn *accept;    /* optional */
    void *accept_ctx;
};

struct spindex_hit {
    uint32_t handle;
    double distance_m;
    void *user;                   /* spindex_user(handle), without reading the entry */
};

/* The `limit` nearest entries matching q, sorted by distance then id
 * (strcmp; then handle). Writes at most q->limit hits to out and returns
 * their number. Allocation-free. */
size_t spindex_nearest(const struct spindex *s, const struct spindex_query *q,
                       struct spindex_hit *out);

/* Does entry h pass q's filters (everything but the distance test and the
 * accept hook)? For callers that scan, e.g. an evaluation. */
bool spindex_filter(const struct spindex *s, uint32_t h, const struct spindex_query *q);

/* Canonical great-circle distance in metres (see the top comment). */
double spindex_distance_m(double lon1, double lat1, double lon2, double lat2);
/* Distance from (lon, lat) to entry h, bit-identical to what
 * spindex_nearest reports for it. */
double spindex_entry_distance_m(const struct spindex *s, uint32_t h, double lon, double lat);

/* Calls fn for every entry with minlon <= lon <= maxlon and
 * minlat <= lat <= maxlat (minlon > maxlon: the box crosses the
 * antimeridian). Order unspecified. Returns the number of entries
 * visited. fn must not modify the index. */
typedef void spindex_visit_fn(void *ctx, uint32_t h);
size_t spindex_bbox(const struct spindex *s, double minlon, double minlat, double maxlon,
                    double maxlat, spindex_visit_fn *fn, void *ctx);

/* Entry accessors. The user pointer (NULL at insert) is the caller's,
 * kept next to the entry so that mapping a hit back to its object reads
 * memory the query has just touched. */
void spindex_set_user(struct spindex *s, uint32_t h, void *user);
void *spindex_user(const struct spindex *s, uint32_t h);
const char *spindex_id(const struct spindex *s, uint32_t h);
void spindex_position(const struct spindex *s, uint32_t h, double *lon, double *lat);
int32_t spindex_available(const struct spindex *s, uint32_t h);

/* Shape of the grid, for benchmarks and tests. */
struct spindex_stats {
    size_t entries;
    size_t rows, cols;
    double lat0, lon0;            /* south-west corner of cell (0,0) */
    double dlat, dlon;            /* cell size in degrees */
    size_t rebuilds;
    size_t packed, listed, dead;  /* entries in packed runs / in cell lists;
                                     dead packed slots (see spindex.c) */
    size_t bytes;                 /* memory held by the index */
};
void spindex_stats(const struct spindex *s, struct spindex_stats *st);

#endif
