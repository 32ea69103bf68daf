/* spindex.c -- uniform-grid spatial index of lots (see spindex.h).
 *
 * Geometry. Every entry keeps its unit vector on the sphere; the squared
 * chord c2 = |p - q|^2 between two unit vectors is a cheap, exact-enough
 * monotone stand-in for the great-circle distance (d = 2R asin(sqrt(c2)/2)),
 * so candidates are compared in c2 and only survivors pay for asin. The
 * ordering itself is by the distance d (then id), as a brute-force scan
 * would do, so that two entries whose c2 differ but whose d round to the
 * same double still tie-break by id.
 *
 * Grid. Rows and columns are latitude / longitude bands over the bounding
 * box of the data plus a margin; cells are sized from the point density so
 * that there are about four entries per cell. For a cell spanning latitudes
 * [lo, hi] and longitudes [a, b], the haversine form
 *     c2 = 4 sin^2(dphi/2) + 4 cos(phi_q) cos(phi) sin^2(dlambda/2)
 * gives a lower bound on c2 from the smallest latitude gap, the smallest
 * (modular) longitude gap and the smallest cos(phi) over the band; each
 * term is minimised independently, so their sum bounds every point in the
 * cell. The search visits rings of cells around the query cell and stops
 * when the bound for all remaining rings exceeds the current k-th answer
 * or the radius. Bounds carry a small relative + absolute margin so that
 * floating-point rounding can only make the search visit more, never miss.
 *
 * Memory. A query's cost at city scale is cache misses, not arithmetic:
 * entries sit in the order lots were created, so a scan that chased them
 * cell by cell would miss on nearly every one. Queries read a packed copy
 * instead -- unit vector, free count, observation time, handle and user
 * pointer, 48 bytes, all that a default query reads -- stored in cell
 * order (row-major), so the cells of one ring row are one contiguous run
 * of memory. A cell owns the packed run [pk0, pk0 + npk) plus an intrusive
 * doubly-linked list (next/prev in the entry) of entries placed since the
 * last pack; a removed or moved packed entry leaves a dead slot. The index
 * repacks (O(n)) when list entries and dead slots pass an eighth of the
 * live count, and on spindex_compact, so bulk loading costs O(1) amortised per entry. Each cell
 * also counts its entries with at least one free space, so an availability
 * change is O(1) and a "min_available >= 1" query skips full cells
 * untouched. */
#include "spindex.h"

#include <stdlib.h>
#include <string.h>

#define EARTH_R 6371008.8              /* GEO_EARTH_RADIUS_M (geo.h) */
#define DEG (M_PI / 180.0)
#define EDGE_EPS_DEG 1e-9              /* cell edges widened by this in bounds */
#define REL_MARGIN 1e-9
#define ABS_MARGIN 1e-21
#define MIN_CELL_M 10.0
#define ENTRIES_PER_CELL 4.0         /* fewer rows of cells per query (cache lines) */
#define MIN_MARGIN_DEG 0.002           /* ~200 m of slack around the data */

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* First cache line: what a query scan reads. */
struct ent {
    uint32_t next;                     /* in cell list; free list when unused */
    int32_t avail;
    uint64_t cats;
    double ts, price;
    double x, y, z;
    uint32_t prev;
    uint32_t cell;                     /* SPINDEX_NONE when the slot is free */
    uint32_t pk;                       /* packed slot, SPINDEX_NONE: in the list */
    double lon, lat;
    const char *id;
    void *user;
};

/* What a query reads for every cell it visits: four to a cache line. */
struct cell {
    uint32_t head;                     /* first list entry, SPINDEX_NONE: none */
    uint32_t nfree;                    /* entries with avail >= 1 (packed + list) */
    uint32_t pk0, npk;                 /* packed run, dead slots included */
};

/* The packed copy of an entry (see the top of this file). */
struct pk {
    double x, y, z;
    double ts;
    int32_t avail;                     /* PK_DEAD when the slot is dead */
    uint32_t h;
    void *user;
};

#define PK_DEAD INT32_MIN

struct spindex {
    struct ent *ent;
    uint32_t nent, cap;                /* slots used / allocated */
    uint32_t free_head;
    size_t live;
    /* grid */
    uint32_t rows, cols;
    double lat0, lon0, dlat, dlon;
    struct cell *cell;                 /* rows*cols */
    struct pk *pk;                     /* packed entries in cell order */
    uint32_t npk, pk_cap;
    size_t nlisted, pk_dead;           /* entries in lists; dead packed slots */
    double *row_cosmin;                /* rows: min cos(lat) over the band */
    double cosmin_all;
    size_t built_live;                 /* live count at the last rebuild */
    size_t rebuilds;
};

/* ---- geometry ---- */

static void unit_vec(double lon, double lat, double *x, double *y, double *z)
{
    double p = lat * DEG, l = lon * DEG;
    double cp = cos(p);
    *x = cp * cos(l);
    *y = cp * sin(l);
    *z = sin(p);
}

static double chord2(double ax, double ay, double az, double bx, double by, double bz)
{
    double dx = ax - bx, dy = ay - by, dz = az - bz;
    return dx * dx + dy * dy + dz * dz;
}

static double c2_to_m(double c2)
{
    double h = sqrt(c2) / 2.0;
    if (h > 1.0)
        h = 1.0;
    return 2.0 * EARTH_R * asin(h);
}

static double m_to_c2(double m)
{
    double half = m / (2.0 * EARTH_R);
    if (!(half < M_PI / 2))            /* also NAN / INFINITY */
        return 4.0;
    double s = sin(half);
    return 4.0 * s * s;
}

/* Widened so that rounding in the bound can only let more through. */
static double c2_slack(double c2)
{
    return c2 * (1.0 + REL_MARGIN) + ABS_MARGIN;
}

double spindex_distance_m(double lon1, double lat1, double lon2, double lat2)
{
    double ax, ay, az, bx, by, bz;
    unit_vec(lon1, lat1, &ax, &ay, &az);
    unit_vec(lon2, lat2, &bx, &by, &bz);
    return c2_to_m(chord2(ax, ay, az, bx, by, bz));
}

static bool valid_lonlat(double lon, double lat)
{
    return isfinite(lon) && isfinite(lat) && lon >= -180.0 && lon <= 180.0 &&
           lat >= -90.0 && lat <= 90.0;
}

/* A lower bound of 4 sin^2(gap/2) for an angular gap in degrees: with
 * y = gap/2 in [0, pi/2], sin y >= y - y^3/6 > 0 (the Taylor remainder
 * alternates), tight at the small gaps that decide pruning, and it spares
 * the sin() calls that otherwise dominate a query's cost. */
static double gap_c2(double gap_deg)
{
    if (gap_deg <= 0.0)
        return 0.0;
    if (gap_deg > 180.0)
        gap_deg = 180.0;
    double y = gap_deg * DEG / 2.0;
    double s = y - y * y * y / 6.0;
    return 4.0 * s * s;
}

/* Smallest latitude gap from lat to the band [lo, hi] (degrees). */
static double lat_gap(double lat, double lo, double hi)
{
    lo -= EDGE_EPS_DEG;
    hi += EDGE_EPS_DEG;
    if (lat < lo)
        return lo - lat;
    if (lat > hi)
        return lat - hi;
    return 0.0;
}

/* Smallest longitude gap, modulo 360, from lon to the interval [a, b]
 * (a <= b, b - a <= 360). */
static double lon_gap(double lon, double a, double b)
{
    a -= EDGE_EPS_DEG;
    b += EDGE_EPS_DEG;
    if (lon >= a && lon <= b)
        return 0.0;
    /* lon, a, b lie within [-180, 180] (plus the edge slack), so each
     * difference is within one turn of [0, 360) */
    double east = a - lon, west = lon - b;        /* going east to a, west to b */
    if (east < 0.0)
        east += 360.0;
    if (west < 0.0)
        west += 360.0;
    double g = east < west ? east : west;
    return g > 180.0 ? 180.0 : g;
}

static double min_cos(double lo, double hi)
{
    if (lo < -90.0)
        lo = -90.0;
    if (hi > 90.0)
        hi = 90.0;
    double c = fmin(cos(lo * DEG), cos(hi * DEG));
    return c < 0.0 ? 0.0 : c;
}

/* ---- grid ---- */

static uint32_t grid_row(const struct spindex *s, double lat)
{
    double r = floor((lat - s->lat0) / s->dlat);
    if (!(r >= 0.0))
        return 0;
    if (r >= (double)s->rows)
        return s->rows - 1;
    return (uint32_t)r;
}

static uint32_t grid_col(const struct spindex *s, double lon)
{
    double c = floor((lon - s->lon0) / s->dlon);
    if (!(c >= 0.0))
        return 0;
    if (c >= (double)s->cols)
        return s->cols - 1;
    return (uint32_t)c;
}

static bool grid_covers(const struct spindex *s, double lon, double lat)
{
    return s->cell != NULL && lat >= s->lat0 && lat <= s->lat0 + s->rows * s->dlat &&
           lon >= s->lon0 && lon <= s->lon0 + s->cols * s->dlon;
}

static uint32_t cell_of(const struct spindex *s, const struct ent *e)
{
    return grid_row(s, e->lat) * s->cols + grid_col(s, e->lon);
}

/* Place a live entry in its cell's list (not packed). */
static void cell_link(struct spindex *s, uint32_t h)
{
    struct ent *e = &s->ent[h];
    uint32_t c = cell_of(s, e);
    e->cell = c;
    e->pk = SPINDEX_NONE;
    s->nlisted++;
    e->prev = SPINDEX_NONE;
    e->next = s->cell[c].head;
    if (e->next != SPINDEX_NONE)
        s->ent[e->next].prev = h;
    s->cell[c].head = h;
    if (e->avail >= 1)
        s->cell[c].nfree++;
}

/* Take an entry out of its cell: out of the list, or its packed slot dies. */
static void cell_unlink(struct spindex *s, uint32_t h)
{
    struct ent *e = &s->ent[h];
    if (e->pk != SPINDEX_NONE) {
        s->pk[e->pk].avail = PK_DEAD;
        s->pk[e->pk].h = SPINDEX_NONE;
        e->pk = SPINDEX_NONE;
        s->pk_dead++;
    } else {
        if (e->prev != SPINDEX_NONE)
            s->ent[e->prev].next = e->next;
        else
            s->cell[e->cell].head = e->next;
        if (e->next != SPINDEX_NONE)
            s->ent[e->next].prev = e->prev;
        s->nlisted--;
    }
    if (e->avail >= 1)
        s->cell[e->cell].nfree--;
}

/* Lay every live entry out again, packed in cell order, on the current
 * grid; cells get their runs and free counts. Without memory for the
 * packed copy every entry goes to its cell's list instead (slower
 * queries, same answers). */
static void grid_pack(struct spindex *s)
{
    size_t ncell = (size_t)s->rows * s->cols;
    for (size_t i = 0; i < ncell; i++)
        s->cell[i] = (struct cell){SPINDEX_NONE, 0, 0, 0};
    s->nlisted = 0;
    s->pk_dead = 0;
    s->npk = 0;
    if (s->live > s->pk_cap) {
        size_t cap = s->live + s->live / 4 + 64;
        struct pk *np = cap < SPINDEX_NONE ? realloc(s->pk, cap * sizeof *np) : NULL;
        if (np == NULL) {
            for (uint32_t h = 0; h < s->nent; h++)
                if (s->ent[h].cell != SPINDEX_NONE)
                    cell_link(s, h);
            return;
        }
        s->pk = np;
        s->pk_cap = (uint32_t)cap;
    }
    for (uint32_t h = 0; h < s->nent; h++) {
        struct ent *e = &s->ent[h];
        if (e->cell != SPINDEX_NONE) {
            e->cell = cell_of(s, e);
            s->cell[e->cell].npk++;
        }
    }
    uint32_t at = 0;
    for (size_t i = 0; i < ncell; i++) {
        s->cell[i].pk0 = at;
        at += s->cell[i].npk;
        s->cell[i].npk = 0;
    }
    for (uint32_t h = 0; h < s->nent; h++) {
        struct ent *e = &s->ent[h];
        if (e->cell == SPINDEX_NONE)
            continue;
        struct cell *c = &s->cell[e->cell];
        e->pk = c->pk0 + c->npk++;
        s->pk[e->pk] = (struct pk){e->x, e->y, e->z, e->ts, e->avail, h, e->user};
        if (e->avail >= 1)
            c->nfree++;
    }
    s->npk = at;
}

/* Repack once list entries and dead slots are an eighth of the index
 * (spindex_compact, called when changes pause, packs the rest). */
static void grid_maybe_pack(struct spindex *s)
{
    if (s->nlisted + s->pk_dead > s->live / 8 + 32)
        grid_pack(s);
}

/* Bounding box of the live entries plus (lon, lat) if extra is set. */
static void data_bbox(const struct spindex *s, bool extra, double lon, double lat,
                      double bb[4])
{
    bb[0] = bb[1] = INFINITY;
    bb[2] = bb[3] = -INFINITY;
    for (uint32_t h = 0; h < s->nent; h++) {
        const struct ent *e = &s->ent[h];
        if (e->cell == SPINDEX_NONE)
            continue;
        bb[0] = fmin(bb[0], e->lon);
        bb[1] = fmin(bb[1], e->lat);
        bb[2] = fmax(bb[2], e->lon);
        bb[3] = fmax(bb[3], e->lat);
    }
    if (extra) {
        bb[0] = fmin(bb[0], lon);
        bb[1] = fmin(bb[1], lat);
        bb[2] = fmax(bb[2], lon);
        bb[3] = fmax(bb[3], lat);
    }
}

struct grid_shape {
    uint32_t rows, cols;
    double lat0, lon0, dlat, dlon;
};

/* Cells about square in metres, about ENTRIES_PER_CELL entries each,
 * within a cap. */
static void grid_plan(const double bb[4], size_t n, struct grid_shape *g)
{
    double mlat = fmax(0.1 * (bb[3] - bb[1]), MIN_MARGIN_DEG);
    double mlon = fmax(0.1 * (bb[2] - bb[0]), MIN_MARGIN_DEG);
    double lat0 = fmax(bb[1] - mlat, -90.0), lat1 = fmin(bb[3] + mlat, 90.0);
    double lon0 = fmax(bb[0] - mlon, -180.0), lon1 = fmin(bb[2] + mlon, 180.0);
    double cosmid = fmax(cos((lat0 + lat1) / 2.0 * DEG), 0.05);
    double h_m = (lat1 - lat0) * DEG * EARTH_R;
    double w_m = (lon1 - lon0) * DEG * EARTH_R * cosmid;
    double target = n > 0 ? (double)n / ENTRIES_PER_CELL : 1.0;
    double cap = 2.0 * target + 1024.0;
    double side = fmax(sqrt(h_m * w_m / target), MIN_CELL_M);
    double rows, cols;
    for (;;) {
        rows = fmax(ceil(h_m / side), 1.0);
        cols = fmax(ceil(w_m / side), 1.0);
        if (rows * cols <= cap)
            break;
        side *= 1.25;
    }
    g->rows = (uint32_t)rows;
    g->cols = (uint32_t)cols;
    g->lat0 = lat0;
    g->lon0 = lon0;
    g->dlat = (lat1 - lat0) / rows;
    g->dlon = (lon1 - lon0) / cols;
}

/* Re-grid everything so that (lon, lat) (if extra) is covered. On OOM the
 * old grid stays and -1 is returned. */
static int grid_rebuild(struct spindex *s, bool extra, double lon, double lat)
{
    double bb[4];
    struct grid_shape g;
    data_bbox(s, extra, lon, lat, bb);
    if (!(bb[0] <= bb[2])) {            /* empty */
        free(s->cell);
        free(s->row_cosmin);
        free(s->pk);
        s->cell = NULL;
        s->row_cosmin = NULL;
        s->pk = NULL;
        s->npk = s->pk_cap = 0;
        s->nlisted = s->pk_dead = 0;
        s->rows = s->cols = 0;
        s->built_live = 0;
        return 0;
    }
    grid_plan(bb, s->live + (extra ? 1 : 0), &g);
    size_t ncell = (size_t)g.rows * g.cols;
    struct cell *cell = malloc(ncell * sizeof *cell);
    double *rc = malloc(g.rows * sizeof *rc);
    if (cell == NULL || rc == NULL) {
        free(cell);
        free(rc);
        return -1;
    }
    double all = 1.0;
    for (uint32_t r = 0; r < g.rows; r++) {
        rc[r] = min_cos(g.lat0 + r * g.dlat - EDGE_EPS_DEG,
                        g.lat0 + (r + 1) * g.dlat + EDGE_EPS_DEG);
        all = fmin(all, rc[r]);
    }
    free(s->cell);
    free(s->row_cosmin);
    s->cell = cell;
    s->row_cosmin = rc;
    s->cosmin_all = all;
    s->rows = g.rows;
    s->cols = g.cols;
    s->lat0 = g.lat0;
    s->lon0 = g.lon0;
    s->dlat = g.dlat;
    s->dlon = g.dlon;
    grid_pack(s);
    s->built_live = s->live + (extra ? 1 : 0);
    s->rebuilds++;
    return 0;
}

/* Make the grid fit one more point at (lon, lat). */
static int grid_reserve(struct spindex *s, double lon, double lat)
{
    bool grown = s->live + 1 > 2 * s->built_live + 64;
    if (grid_covers(s, lon, lat) && !grown)
        return 0;
    return grid_rebuild(s, true, lon, lat);
}

/* ---- entries ---- */

struct spindex *spindex_new(void)
{
    struct spindex *s = calloc(1, sizeof *s);
    if (s != NULL)
        s->free_head = SPINDEX_NONE;
    return s;
}

void spindex_free(struct spindex *s)
{
    if (s == NULL)
        return;
    free(s->ent);
    free(s->cell);
    free(s->row_cosmin);
    free(s->pk);
    free(s);
}

static uint32_t slot_alloc(struct spindex *s)
{
    if (s->free_head != SPINDEX_NONE) {
        uint32_t h = s->free_head;
        s->free_head = s->ent[h].next;
        return h;
    }
    if (s->nent == s->cap) {
        uint32_t ncap = s->cap ? s->cap * 2 : 64;
        if (ncap <= s->cap || ncap >= SPINDEX_NONE)
            return SPINDEX_NONE;
        struct ent *ne = realloc(s->ent, (size_t)ncap * sizeof *ne);
        if (ne == NULL)
            return SPINDEX_NONE;
        s->ent = ne;
        s->cap = ncap;
    }
    return s->nent++;
}

uint32_t spindex_insert(struct spindex *s, const char *id, double lon, double lat)
{
    if (!valid_lonlat(lon, lat) || grid_reserve(s, lon, lat) != 0)
        return SPINDEX_NONE;
    uint32_t h = slot_alloc(s);
    if (h == SPINDEX_NONE)
        return SPINDEX_NONE;
    struct ent *e = &s->ent[h];
    memset(e, 0, sizeof *e);
    e->avail = -1;
    e->ts = NAN;
    e->price = NAN;
    e->lon = lon;
    e->lat = lat;
    e->id = id;
    unit_vec(lon, lat, &e->x, &e->y, &e->z);
    s->live++;
    cell_link(s, h);
    grid_maybe_pack(s);
    return h;
}

static bool live(const struct spindex *s, uint32_t h)
{
    return h < s->nent && s->ent[h].cell != SPINDEX_NONE;
}

void spindex_remove(struct spindex *s, uint32_t h)
{
    if (!live(s, h))
        return;
    cell_unlink(s, h);
    s->ent[h].cell = SPINDEX_NONE;
    s->ent[h].id = NULL;
    s->ent[h].next = s->free_head;
    s->free_head = h;
    s->live--;
    if (s->live == 0)
        grid_rebuild(s, false, 0, 0);   /* frees the grid; cannot fail */
    else
        grid_maybe_pack(s);
}

int spindex_move(struct spindex *s, uint32_t h, double lon, double lat)
{
    if (!live(s, h) || !valid_lonlat(lon, lat))
        return -1;
    struct ent *e = &s->ent[h];
    struct ent old = *e;
    cell_unlink(s, h);
    e->lon = lon;
    e->lat = lat;
    unit_vec(lon, lat, &e->x, &e->y, &e->z);
    if (grid_covers(s, lon, lat)) {
        cell_link(s, h);
        grid_maybe_pack(s);
        return 0;
    }
    /* A rebuild links every live entry, this one (still marked live by its
     * old cell) included, at its new position. */
    if (grid_rebuild(s, false, 0, 0) == 0)
        return 0;
    *e = old;
    cell_link(s, h);
    return -1;
}

void spindex_set_available(struct spindex *s, uint32_t h, int32_t avail)
{
    if (!live(s, h))
        return;
    struct ent *e = &s->ent[h];
    if ((e->avail >= 1) != (avail >= 1)) {
        if (avail >= 1)
            s->cell[e->cell].nfree++;
        else
            s->cell[e->cell].nfree--;
    }
    e->avail = avail;
    if (e->pk != SPINDEX_NONE)
        s->pk[e->pk].avail = avail;
}

void spindex_set_ts(struct spindex *s, uint32_t h, double ts)
{
    if (!live(s, h))
        return;
    s->ent[h].ts = ts;
    if (s->ent[h].pk != SPINDEX_NONE)
        s->pk[s->ent[h].pk].ts = ts;
}

void spindex_set_price(struct spindex *s, uint32_t h, double price)
{
    if (live(s, h))
        s->ent[h].price = price;
}

void spindex_set_cats(struct spindex *s, uint32_t h, uint64_t cats)
{
    if (live(s, h))
        s->ent[h].cats = cats;
}

void spindex_compact(struct spindex *s)
{
    if (s->cell != NULL && s->nlisted + s->pk_dead > 0)
        grid_pack(s);
}

size_t spindex_count(const struct spindex *s)
{
    return s->live;
}

void spindex_set_user(struct spindex *s, uint32_t h, void *user)
{
    if (!live(s, h))
        return;
    s->ent[h].user = user;
    if (s->ent[h].pk != SPINDEX_NONE)
        s->pk[s->ent[h].pk].user = user;
}

void *spindex_user(const struct spindex *s, uint32_t h)
{
    return live(s, h) ? s->ent[h].user : NULL;
}

const char *spindex_id(const struct spindex *s, uint32_t h)
{
    return live(s, h) ? s->ent[h].id : NULL;
}

void spindex_position(const struct spindex *s, uint32_t h, double *lon, double *lat)
{
    *lon = live(s, h) ? s->ent[h].lon : NAN;
    *lat = live(s, h) ? s->ent[h].lat : NAN;
}

int32_t spindex_available(const struct spindex *s, uint32_t h)
{
    return live(s, h) ? s->ent[h].avail : -1;
}

double spindex_entry_distance_m(const struct spindex *s, uint32_t h, double lon, double lat)
{
    if (!live(s, h))
        return NAN;
    const struct ent *e = &s->ent[h];
    double x, y, z;
    unit_vec(lon, lat, &x, &y, &z);
    return c2_to_m(chord2(e->x, e->y, e->z, x, y, z));
}

/* ---- queries ---- */

static bool ent_filter(const struct ent *e, const struct spindex_query *q)
{
    if (q->min_available > 0 && e->avail < q->min_available)
        return false;
    if (!isnan(q->max_price) && !(e->price <= q->max_price))
        return false;
    if ((e->cats & q->cats) != q->cats)
        return false;
    if (!q->include_stale && spindex_is_stale(e->ts, q->now, q->stale_after))
        return false;
    return true;
}

bool spindex_filter(const struct spindex *s, uint32_t h, const struct spindex_query *q)
{
    return live(s, h) && ent_filter(&s->ent[h], q);
}

/* The running top-k of one query. */
struct topk {
    const struct spindex *s;
    struct spindex_hit *out;
    size_t n, limit;
    double c2_radius;                  /* with slack */
    double c2_bound;                   /* with slack: radius, or k-th when full */
    double qx, qy, qz, qlon, qlat, cosq;
};

static bool hit_less(const struct spindex *s, double d, uint32_t h, const struct spindex_hit *b)
{
    if (d != b->distance_m)
        return d < b->distance_m;
    int c = strcmp(s->ent[h].id, s->ent[b->handle].id);
    return c != 0 ? c < 0 : h < b->handle;
}

static void topk_offer(struct topk *t, uint32_t h, double d, void *user)
{
    size_t i = t->n;
    if (i == t->limit) {
        if (!hit_less(t->s, d, h, &t->out[i - 1]))
            return;
        i--;                            /* the last one falls off */
    } else {
        t->n++;
    }
    while (i > 0 && hit_less(t->s, d, h, &t->out[i - 1])) {
        t->out[i] = t->out[i - 1];
        i--;
    }
    t->out[i].handle = h;
    t->out[i].distance_m = d;
    t->out[i].user = user;
    if (t->n == t->limit)
        t->c2_bound = fmin(t->c2_radius, c2_slack(m_to_c2(t->out[t->n - 1].distance_m)));
}

/* Entry h, at chord c2 within the bound: the remaining tests. The entry
 * itself (a cache miss for a packed one) is read only when the query
 * filters on what the packed copy lacks (price, categories). */
static void scan_candidate(struct topk *t, uint32_t h, void *user, double c2,
                           const struct spindex_query *q, bool read_entry)
{
    if (read_entry && !ent_filter(&t->s->ent[h], q))
        return;
    double d = c2_to_m(c2);
    if (!(d <= q->radius_m))
        return;
    if (q->accept != NULL && !q->accept(q->accept_ctx, h))
        return;
    topk_offer(t, h, d, user);
}

static void scan_cell(struct topk *t, const struct cell *cl, const struct spindex_query *q)
{
    const struct spindex *s = t->s;
    /* min_available 0 admits unknown counts (-1), never a dead slot. */
    int32_t min_avail = q->min_available > 0 ? q->min_available : PK_DEAD + 1;
    bool more = !isnan(q->max_price) || q->cats != 0;
    /* Indexed, not s->pk + pk0: s->pk is NULL while nothing is packed. */
    for (uint32_t i = 0; i < cl->npk; i++) {
        const struct pk *p = &s->pk[cl->pk0 + i];
        if (p->avail < min_avail ||
            (!q->include_stale && spindex_is_stale(p->ts, q->now, q->stale_after)))
            continue;
        double c2 = chord2(p->x, p->y, p->z, t->qx, t->qy, t->qz);
        if (c2 <= t->c2_bound)
            scan_candidate(t, p->h, p->user, c2, q, more);
    }
    for (uint32_t h = cl->head; h != SPINDEX_NONE; h = s->ent[h].next) {
        const struct ent *e = &s->ent[h];
        if (!ent_filter(e, q))
            continue;
        double c2 = chord2(e->x, e->y, e->z, t->qx, t->qy, t->qz);
        if (c2 <= t->c2_bound)
            scan_candidate(t, h, e->user, c2, q, false);
    }
}

static double row_c2(const struct spindex *s, const struct topk *t, uint32_t r)
{
    return gap_c2(lat_gap(t->qlat, s->lat0 + r * s->dlat, s->lat0 + (r + 1) * s->dlat));
}

/* Longitude term (before the cos factors) for columns [c0, c1]. */
static double cols_c2(const struct spindex *s, const struct topk *t, uint32_t c0, uint32_t c1)
{
    return gap_c2(lon_gap(t->qlon, s->lon0 + c0 * s->dlon, s->lon0 + (c1 + 1) * s->dlon));
}

static void visit_cell(struct topk *t, uint32_t r, uint32_t c, const struct spindex_query *q)
{
    const struct spindex *s = t->s;
    uint32_t cell = r * s->cols + c;
    const struct cell *cl = &s->cell[cell];
    if ((cl->head == SPINDEX_NONE && cl->npk == 0) || (q->min_available >= 1 && cl->nfree == 0))
        return;
    double lb = row_c2(s, t, r) + t->cosq * s->row_cosmin[r] * cols_c2(s, t, c, c);
    if (lb > t->c2_bound)
        return;
    scan_cell(t, cl, q);
}

/* Lower bound on c2 for every cell at ring distance >= k from (qr, qc);
 * INFINITY when there is no such cell. */
static double rings_bound(const struct spindex *s, const struct topk *t, uint32_t qr,
                          uint32_t qc, uint32_t k)
{
    double lb = INFINITY;
    if (qr >= k)
        lb = fmin(lb, row_c2(s, t, qr - k));
    if ((uint64_t)qr + k < s->rows)
        lb = fmin(lb, row_c2(s, t, qr + k));
    double f = t->cosq * s->cosmin_all;
    if (qc >= k)
        lb = fmin(lb, f * cols_c2(s, t, 0, qc - k));
    if ((uint64_t)qc + k < s->cols)
        lb = fmin(lb, f * cols_c2(s, t, qc + k, s->cols - 1));
    return lb;
}

/* Visit every cell at ring distance k (Chebyshev, in cells). */
static void visit_ring(struct topk *t, uint32_t qr, uint32_t qc, uint32_t k,
                       const struct spindex_query *q)
{
    const struct spindex *s = t->s;
    int64_t r0 = (int64_t)qr - k, r1 = (int64_t)qr + k;
    int64_t c0 = (int64_t)qc - k, c1 = (int64_t)qc + k;
    int64_t cl = c0 < 0 ? 0 : c0, ch = c1 >= s->cols ? s->cols - 1 : c1;
    int64_t rl = r0 < 0 ? 0 : r0, rh = r1 >= s->rows ? s->rows - 1 : r1;
    if (k == 0) {
        visit_cell(t, qr, qc, q);
        return;
    }
    if (r0 >= 0)
        for (int64_t c = cl; c <= ch; c++)
            visit_cell(t, (uint32_t)r0, (uint32_t)c, q);
    if (r1 < s->rows)
        for (int64_t c = cl; c <= ch; c++)
            visit_cell(t, (uint32_t)r1, (uint32_t)c, q);
    /* side columns, corners excluded (done above) */
    int64_t sl = r0 + 1 > rl ? r0 + 1 : rl, sh = r1 - 1 < rh ? r1 - 1 : rh;
    if (c0 >= 0)
        for (int64_t r = sl; r <= sh; r++)
            visit_cell(t, (uint32_t)r, (uint32_t)c0, q);
    if (c1 < s->cols)
        for (int64_t r = sl; r <= sh; r++)
            visit_cell(t, (uint32_t)r, (uint32_t)c1, q);
}

/* Rings 0 and 1 answer most queries (about four entries a cell). Their
 * three rows of cells, and the packed runs behind them, are requested
 * from memory all at once instead of miss after miss as the scan reaches
 * them; at most PREFETCH_ROW_LINES lines of runs per row. */
#define PREFETCH_ROW_LINES 24
static void prefetch_near(const struct spindex *s, uint32_t qr, uint32_t qc)
{
    if (s->pk == NULL)
        return;
    uint32_t c0 = qc > 0 ? qc - 1 : 0, c1 = qc + 1 < s->cols ? qc + 1 : qc;
    uint32_t r0 = qr > 0 ? qr - 1 : 0, r1 = qr + 1 < s->rows ? qr + 1 : qr;
    for (uint32_t r = r0; r <= r1; r++) {
        __builtin_prefetch(&s->cell[r * s->cols + c0]);
        __builtin_prefetch(&s->cell[r * s->cols + c1]);
    }
    for (uint32_t r = r0; r <= r1; r++) {
        const struct cell *a = &s->cell[r * s->cols + c0], *b = &s->cell[r * s->cols + c1];
        const char *p = (const char *)(s->pk + a->pk0);
        const char *end = (const char *)(s->pk + b->pk0 + b->npk);
        for (int n = 0; p < end && n < PREFETCH_ROW_LINES; p += 64, n++)
            __builtin_prefetch(p);
    }
}

size_t spindex_nearest(const struct spindex *s, const struct spindex_query *q,
                       struct spindex_hit *out)
{
    if (s->live == 0 || q->limit == 0 || !valid_lonlat(q->lon, q->lat) ||
        !(q->radius_m >= 0.0))
        return 0;
    struct topk t = {.s = s, .out = out, .limit = q->limit, .qlon = q->lon, .qlat = q->lat};
    unit_vec(q->lon, q->lat, &t.qx, &t.qy, &t.qz);
    t.cosq = cos(q->lat * DEG);
    t.c2_radius = c2_slack(m_to_c2(q->radius_m));
    t.c2_bound = t.c2_radius;
    uint32_t qr = grid_row(s, q->lat), qc = grid_col(s, q->lon);
    prefetch_near(s, qr, qc);
    for (uint32_t k = 0;; k++) {
        if (k > 0 && !(rings_bound(s, &t, qr, qc, k) <= t.c2_bound))
            break;                      /* also: no cells left (INFINITY) */
        visit_ring(&t, qr, qc, k, q);
    }
    return t.n;
}

static size_t bbox_offer(const struct spindex *s, uint32_t h, double minlon, double minlat,
                         double maxlon, double maxlat, spindex_visit_fn *fn, void *ctx)
{
    const struct ent *e = &s->ent[h];
    if (!(e->lon >= minlon && e->lon <= maxlon && e->lat >= minlat && e->lat <= maxlat))
        return 0;
    fn(ctx, h);
    return 1;
}

static size_t bbox_part(const struct spindex *s, double minlon, double minlat, double maxlon,
                        double maxlat, spindex_visit_fn *fn, void *ctx)
{
    size_t n = 0;
    if (maxlat < s->lat0 || minlat > s->lat0 + s->rows * s->dlat || maxlon < s->lon0 ||
        minlon > s->lon0 + s->cols * s->dlon)
        return 0;
    uint32_t r0 = grid_row(s, minlat - EDGE_EPS_DEG), r1 = grid_row(s, maxlat + EDGE_EPS_DEG);
    uint32_t c0 = grid_col(s, minlon - EDGE_EPS_DEG), c1 = grid_col(s, maxlon + EDGE_EPS_DEG);
    for (uint32_t r = r0; r <= r1; r++) {
        for (uint32_t c = c0; c <= c1; c++) {
            const struct cell *cl = &s->cell[r * s->cols + c];
            for (uint32_t i = cl->pk0; i < cl->pk0 + cl->npk; i++)
                if (s->pk[i].h != SPINDEX_NONE)
                    n += bbox_offer(s, s->pk[i].h, minlon, minlat, maxlon, maxlat, fn, ctx);
            for (uint32_t h = cl->head; h != SPINDEX_NONE; h = s->ent[h].next)
                n += bbox_offer(s, h, minlon, minlat, maxlon, maxlat, fn, ctx);
        }
    }
    return n;
}

size_t spindex_bbox(const struct spindex *s, double minlon, double minlat, double maxlon,
                    double maxlat, spindex_visit_fn *fn, void *ctx)
{
    if (s->live == 0 || !(minlat <= maxlat) || isnan(minlon) || isnan(maxlon))
        return 0;
    if (minlon > maxlon)
        return bbox_part(s, minlon, minlat, 180.0, maxlat, fn, ctx) +
               bbox_part(s, -180.0, minlat, maxlon, maxlat, fn, ctx);
    return bbox_part(s, minlon, minlat, maxlon, maxlat, fn, ctx);
}

void spindex_stats(const struct spindex *s, struct spindex_stats *st)
{
    size_t ncell = (size_t)s->rows * s->cols;
    st->entries = s->live;
    st->rows = s->rows;
    st->cols = s->cols;
    st->lat0 = s->lat0;
    st->lon0 = s->lon0;
    st->dlat = s->dlat;
    st->dlon = s->dlon;
    st->rebuilds = s->rebuilds;
    st->packed = s->npk - s->pk_dead;
    st->listed = s->nlisted;
    st->dead = s->pk_dead;
    st->bytes = sizeof *s + (size_t)s->cap * sizeof *s->ent +
                ncell * sizeof *s->cell + s->rows * sizeof *s->row_cosmin +
                (size_t)s->pk_cap * sizeof *s->pk;
}
