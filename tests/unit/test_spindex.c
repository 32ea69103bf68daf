/* test_spindex.c -- the spatial index against a brute-force scan.
 *
 * A model keeps its own copy of every entry's attributes; after random
 * inserts, moves, removals and attribute changes, every nearest and bbox
 * answer of the index must equal what a plain scan of the model gives
 * (same filters, spindex_distance_m, sort by distance then id). Data sets
 * include clustered points, exact duplicates (ties), points on cell edges
 * and around the antimeridian; radii include 0, exact distances of
 * entries and infinity. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geo.h"
#include "spindex.h"

#define MAXN 6000

struct rng { uint64_t s; };

static uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double rng_unit(struct rng *r)
{
    return (double)(rng_next(r) >> 11) / 9007199254740992.0;
}

static double rng_range(struct rng *r, double a, double b)
{
    return a + (b - a) * rng_unit(r);
}

static int rng_int(struct rng *r, int n)
{
    return (int)(rng_next(r) % (uint64_t)n);
}

struct model_ent {
    bool used;
    uint32_t h;
    char id[24];
    double lon, lat, ts, price;
    int32_t avail;
    uint64_t cats;
};

struct bf_hit { int idx; double d; };

struct model {
    struct spindex *s;
    struct bf_hit bf[MAXN];            /* scratch of brute_nearest */
    struct spindex_hit ix[MAXN];       /* scratch of check_query */
    int mismatches;
    struct model_ent e[MAXN];
    int n;                             /* slots used in e[] */
    struct rng rng;
    int next_id;
    /* area the data is drawn from */
    double lon0, lat0, lon1, lat1;
};

static struct model *model_new(uint64_t seed, double lon0, double lat0, double lon1,
                               double lat1)
{
    struct model *m = calloc(1, sizeof *m);
    CU_ASSERT_FATAL(m != NULL);
    m->s = spindex_new();
    CU_ASSERT_FATAL(m->s != NULL);
    m->rng.s = seed;
    m->lon0 = lon0;
    m->lat0 = lat0;
    m->lon1 = lon1;
    m->lat1 = lat1;
    return m;
}

/* Frees the model; returns how many queries disagreed with brute force. */
static int model_done(struct model *m)
{
    int bad = m->mismatches;
    spindex_free(m->s);
    free(m);
    return bad;
}

static void random_attrs(struct model *m, struct model_ent *e)
{
    struct rng *r = &m->rng;
    int k = rng_int(r, 10);
    e->avail = k == 0 ? -1 : k < 4 ? 0 : rng_int(r, 30);
    e->ts = rng_int(r, 8) == 0 ? NAN : 1000.0 + rng_int(r, 2000);
    e->price = rng_int(r, 6) == 0 ? NAN : rng_int(r, 5) * 2.0;
    e->cats = rng_next(r) & 0xF;
    spindex_set_available(m->s, e->h, e->avail);
    spindex_set_ts(m->s, e->h, e->ts);
    spindex_set_price(m->s, e->h, e->price);
    spindex_set_cats(m->s, e->h, e->cats);
}

static struct model_ent *model_add(struct model *m, double lon, double lat, const char *id)
{
    if (m->n >= MAXN)
        return NULL;
    struct model_ent *e = &m->e[m->n++];
    if (id != NULL)
        snprintf(e->id, sizeof e->id, "%s", id);
    else
        snprintf(e->id, sizeof e->id, "lot-%06d", m->next_id++);
    e->lon = lon;
    e->lat = lat;
    e->h = spindex_insert(m->s, e->id, lon, lat);
    CU_ASSERT_FATAL(e->h != SPINDEX_NONE);
    spindex_set_user(m->s, e->h, e);
    e->used = true;
    e->avail = -1;
    e->ts = NAN;
    e->price = NAN;
    e->cats = 0;
    random_attrs(m, e);
    return e;
}

static void random_point(struct model *m, double *lon, double *lat)
{
    *lon = rng_range(&m->rng, m->lon0, m->lon1);
    *lat = rng_range(&m->rng, m->lat0, m->lat1);
}

/* ---- brute force ---- */

static int bf_cmp(const void *a, const void *b, void *ctx)
{
    const struct model *bf_model = ctx;
    const struct bf_hit *x = a, *y = b;
    if (x->d != y->d)
        return x->d < y->d ? -1 : 1;
    int c = strcmp(bf_model->e[x->idx].id, bf_model->e[y->idx].id);
    if (c != 0)
        return c;
    return bf_model->e[x->idx].h < bf_model->e[y->idx].h ? -1 : 1;
}

static bool bf_filter(const struct model_ent *e, const struct spindex_query *q)
{
    if (q->min_available > 0 && e->avail < q->min_available)
        return false;
    if (!isnan(q->max_price) && !(e->price <= q->max_price))
        return false;
    if ((e->cats & q->cats) != q->cats)
        return false;
    if (!q->include_stale && (isnan(e->ts) || q->now - e->ts > q->stale_after))
        return false;
    return true;
}

static size_t brute_nearest(const struct model *m, const struct spindex_query *q,
                            struct bf_hit *hits)
{
    size_t n = 0;
    for (int i = 0; i < m->n; i++) {
        const struct model_ent *e = &m->e[i];
        if (!e->used || !bf_filter(e, q))
            continue;
        double d = spindex_distance_m(q->lon, q->lat, e->lon, e->lat);
        if (!(d <= q->radius_m))
            continue;
        if (q->accept != NULL && !q->accept(q->accept_ctx, e->h))
            continue;
        hits[n].idx = i;
        hits[n].d = d;
        n++;
    }
    qsort_r(hits, n, sizeof *hits, bf_cmp, (void *)m);
    return n < q->limit ? n : q->limit;
}

static void check_query(struct model *m, const struct spindex_query *q)
{
    struct bf_hit *bf_buf = m->bf;
    struct spindex_hit *ix_buf = m->ix;
    size_t nb = brute_nearest(m, q, bf_buf);
    size_t ni = spindex_nearest(m->s, q, ix_buf);
    bool same = nb == ni;
    for (size_t i = 0; same && i < nb; i++)
        same = ix_buf[i].handle == m->e[bf_buf[i].idx].h && ix_buf[i].distance_m == bf_buf[i].d &&
               ix_buf[i].user == &m->e[bf_buf[i].idx];
    if (!same && m->mismatches++ < 5) {
        fprintf(stderr, "\nmismatch q=(%.9f,%.9f) r=%g lim=%zu min=%d price=%g cats=%llx "
                "stale=%d: brute %zu index %zu\n", q->lon, q->lat, q->radius_m, q->limit,
                q->min_available, q->max_price, (unsigned long long)q->cats,
                q->include_stale, nb, ni);
        for (size_t i = 0; i < nb || i < ni; i++)
            fprintf(stderr, "  %zu: %s %.9f | %s %.9f\n", i,
                    i < nb ? m->e[bf_buf[i].idx].id : "-", i < nb ? bf_buf[i].d : 0.0,
                    i < ni ? spindex_id(m->s, ix_buf[i].handle) : "-",
                    i < ni ? ix_buf[i].distance_m : 0.0);
    }
    CU_ASSERT(same);
}

static void random_query(struct model *m, struct spindex_query *q)
{
    struct rng *r = &m->rng;
    memset(q, 0, sizeof *q);
    int where = rng_int(r, 10);
    if (where < 7 || m->n == 0) {
        random_point(m, &q->lon, &q->lat);
    } else if (where < 9) {                 /* exactly on an entry */
        const struct model_ent *e = &m->e[rng_int(r, m->n)];
        q->lon = e->lon;
        q->lat = e->lat;
    } else {                                /* well outside the data */
        q->lon = rng_range(r, -180, 180);
        q->lat = rng_range(r, -89, 89);
    }
    double span = fmax(m->lat1 - m->lat0, 0.01) * 111000.0;
    int rk = rng_int(r, 10);
    q->radius_m = rk == 0 ? 0.0 : rk == 1 ? INFINITY : rng_unit(r) * span * (rk < 5 ? 0.1 : 1.0);
    if (rk == 2 && m->n > 0) {              /* radius exactly at an entry */
        const struct model_ent *e = &m->e[rng_int(r, m->n)];
        q->radius_m = spindex_distance_m(q->lon, q->lat, e->lon, e->lat);
        if (rng_int(r, 2))
            q->radius_m = nextafter(q->radius_m, 0.0);
    }
    q->limit = 1 + (size_t)rng_int(r, rng_int(r, 4) == 0 ? 200 : 12);
    q->min_available = rng_int(r, 3) == 0 ? 0 : 1 + rng_int(r, rng_int(r, 2) ? 3 : 25);
    q->max_price = rng_int(r, 3) == 0 ? rng_int(r, 5) * 2.0 : NAN;
    q->cats = rng_int(r, 3) == 0 ? (rng_next(r) & 0x5) : 0;
    q->include_stale = rng_int(r, 4) == 0;
    q->now = 1000.0 + rng_int(r, 3000);
    q->stale_after = rng_int(r, 4) == 0 ? 0.0 : 900.0;
}

static void random_mutation(struct model *m)
{
    struct rng *r = &m->rng;
    int k = rng_int(r, 10);
    if (m->n == 0 || k == 0) {
        double lon, lat;
        random_point(m, &lon, &lat);
        model_add(m, lon, lat, NULL);
        return;
    }
    struct model_ent *e = &m->e[rng_int(r, m->n)];
    if (!e->used) {
        return;
    } else if (k == 1) {                    /* remove */
        spindex_remove(m->s, e->h);
        e->used = false;
    } else if (k == 2) {                    /* move, sometimes far out of the grid */
        double lon, lat;
        random_point(m, &lon, &lat);
        if (rng_int(r, 20) == 0)
            lon = fmin(lon + 3.0, 180.0);
        CU_ASSERT_FATAL(spindex_move(m->s, e->h, lon, lat) == 0);
        e->lon = lon;
        e->lat = lat;
    } else {
        random_attrs(m, e);
    }
}

static int run_random(uint64_t seed, int npoints, int nqueries, double lon0, double lat0,
                       double lon1, double lat1)
{
    struct model *m = model_new(seed, lon0, lat0, lon1, lat1);
    for (int i = 0; i < npoints; i++) {
        double lon, lat;
        random_point(m, &lon, &lat);
        if (i > 0 && rng_int(&m->rng, 10) == 0) {   /* cluster / exact duplicate */
            const struct model_ent *o = &m->e[rng_int(&m->rng, m->n)];
            lon = o->lon;
            lat = o->lat;
            if (rng_int(&m->rng, 2)) {
                lon += rng_range(&m->rng, -1e-4, 1e-4);
                lat += rng_range(&m->rng, -1e-4, 1e-4);
            }
        }
        model_add(m, lon, lat, NULL);
    }
    struct spindex_query q;
    for (int i = 0; i < nqueries; i++) {
        random_query(m, &q);
        check_query(m, &q);
        if (rng_int(&m->rng, 3) == 0)
            random_mutation(m);
    }
    return model_done(m);
}

/* A Yantai-sized box, many seeds and sizes. */
static void test_random_city(void)
{
    static const int sizes[] = {0, 1, 2, 3, 10, 50, 300, 2000};
    int bad = 0;
    for (uint64_t seed = 1; seed <= 40; seed++)
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
            bad += run_random(seed * 131 + i, sizes[i], 150, 121.1, 37.3, 121.6, 37.6);
    CU_ASSERT_EQUAL(bad, 0);
}

/* Bigger, denser data set: several thousand lots, fewer seeds. */
static void test_random_dense(void)
{
    int bad = 0;
    for (uint64_t seed = 1; seed <= 3; seed++)
        bad += run_random(seed * 7919, 5000, 400, 121.35, 37.50, 121.45, 37.56);
    CU_ASSERT_EQUAL(bad, 0);
}

/* Queries read packed runs and cell lists (entries placed since the last
 * pack) together; both, with dead slots, must answer like brute force. */
static void test_packed_and_listed(void)
{
    struct model *m = model_new(77, 121.30, 37.45, 121.50, 37.60);
    struct spindex_stats st;
    for (int i = 0; i < 3000; i++) {
        double lon, lat;
        random_point(m, &lon, &lat);
        model_add(m, lon, lat, NULL);
    }
    for (int i = 0; i < 60; i++)                /* moves and removals: dead slots */
        random_mutation(m);
    spindex_stats(m->s, &st);
    CU_ASSERT(st.listed > 0);
    CU_ASSERT(st.dead > 0);
    CU_ASSERT(st.packed > st.listed);
    CU_ASSERT_EQUAL(st.packed + st.listed, st.entries);
    struct spindex_query q;
    for (int i = 0; i < 300; i++) {
        random_query(m, &q);
        check_query(m, &q);
    }
    spindex_compact(m->s);                      /* everything packed again */
    spindex_stats(m->s, &st);
    CU_ASSERT_EQUAL(st.listed, 0);
    CU_ASSERT_EQUAL(st.dead, 0);
    CU_ASSERT_EQUAL(st.packed, st.entries);
    for (int i = 0; i < 300; i++) {
        random_query(m, &q);
        check_query(m, &q);
    }
    CU_ASSERT_EQUAL(model_done(m), 0);
}

/* Data across the antimeridian and near a pole. */
static void test_random_odd_places(void)
{
    int bad = 0;
    for (uint64_t seed = 1; seed <= 10; seed++) {
        bad += run_random(seed, 300, 200, 179.0, -17.5, 180.0, -16.0);   /* Fiji, east side */
        bad += run_random(seed + 100, 300, 200, -180.0, 64.0, 180.0, 66.0);
        bad += run_random(seed + 200, 200, 200, -180.0, 85.0, 180.0, 90.0);
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* Points and queries exactly on cell edges. */
static void test_cell_edges(void)
{
    struct model *m = model_new(42, 121.3, 37.4, 121.5, 37.6);
    for (int i = 0; i < 400; i++) {
        double lon, lat;
        random_point(m, &lon, &lat);
        model_add(m, lon, lat, NULL);
    }
    struct spindex_stats st;
    spindex_stats(m->s, &st);
    CU_ASSERT(st.rows > 1 && st.cols > 1);
    /* edge points: corners and mid-edges of random cells */
    for (int i = 0; i < 400; i++) {
        uint32_t r = (uint32_t)rng_int(&m->rng, (int)st.rows);
        uint32_t c = (uint32_t)rng_int(&m->rng, (int)st.cols);
        double lat = st.lat0 + r * st.dlat, lon = st.lon0 + c * st.dlon;
        if (i % 3 == 1)
            lat += st.dlat / 2;
        if (i % 3 == 2)
            lon += st.dlon / 2;
        model_add(m, lon, lat, NULL);
    }
    spindex_stats(m->s, &st);            /* may have been rebuilt: use the new grid */
    struct spindex_query q;
    for (int i = 0; i < 3000; i++) {
        random_query(m, &q);
        uint32_t r = (uint32_t)rng_int(&m->rng, (int)st.rows + 1);
        uint32_t c = (uint32_t)rng_int(&m->rng, (int)st.cols + 1);
        q.lat = st.lat0 + r * st.dlat;
        q.lon = st.lon0 + c * st.dlon;
        if (i % 4 == 1)
            q.lat = nextafter(q.lat, -INFINITY);
        if (i % 4 == 2)
            q.lon = nextafter(q.lon, INFINITY);
        check_query(m, &q);
    }
    CU_ASSERT_EQUAL(model_done(m), 0);
}

/* Many lots at one spot: answers tie-break by id, whatever the order of insertion. */
static void test_ties_by_id(void)
{
    struct spindex *s = spindex_new();
    static const char *ids[] = {"k", "b", "z", "a", "m", "c"};
    uint32_t h[6];
    for (int i = 0; i < 6; i++) {
        h[i] = spindex_insert(s, ids[i], 121.4, 37.5);
        spindex_set_available(s, h[i], 5);
        spindex_set_ts(s, h[i], 100);
    }
    uint32_t far = spindex_insert(s, "0", 121.41, 37.5);
    spindex_set_available(s, far, 5);
    spindex_set_ts(s, far, 100);
    struct spindex_query q = {.lon = 121.4, .lat = 37.5, .radius_m = 5000, .limit = 4,
                              .min_available = 1, .max_price = NAN, .now = 100,
                              .stale_after = 900};
    struct spindex_hit out[7];
    size_t n = spindex_nearest(s, &q, out);
    CU_ASSERT_EQUAL_FATAL(n, 4);
    CU_ASSERT_STRING_EQUAL(spindex_id(s, out[0].handle), "a");
    CU_ASSERT_STRING_EQUAL(spindex_id(s, out[1].handle), "b");
    CU_ASSERT_STRING_EQUAL(spindex_id(s, out[2].handle), "c");
    CU_ASSERT_STRING_EQUAL(spindex_id(s, out[3].handle), "k");
    CU_ASSERT_EQUAL(out[0].distance_m, 0.0);
    q.limit = 7;
    n = spindex_nearest(s, &q, out);
    CU_ASSERT_EQUAL_FATAL(n, 7);
    CU_ASSERT_STRING_EQUAL(spindex_id(s, out[6].handle), "0");
    CU_ASSERT(fabs(out[6].distance_m - 881.7) < 1.0);   /* 0.01 deg of lon at 37.5 N */
    spindex_free(s);
}

/* The radius is inclusive, to the last bit. */
static void test_radius_edge(void)
{
    struct spindex *s = spindex_new();
    uint32_t h = spindex_insert(s, "x", 121.40, 37.50);
    spindex_set_available(s, h, 1);
    spindex_set_ts(s, h, 0);
    struct spindex_query q = {.lon = 121.43, .lat = 37.52, .limit = 5, .min_available = 1,
                              .max_price = NAN, .now = 0, .stale_after = 900};
    double d = spindex_distance_m(q.lon, q.lat, 121.40, 37.50);
    CU_ASSERT_EQUAL(d, spindex_entry_distance_m(s, h, q.lon, q.lat));
    struct spindex_hit out[5];
    q.radius_m = d;
    CU_ASSERT_EQUAL(spindex_nearest(s, &q, out), 1);
    CU_ASSERT_EQUAL(out[0].distance_m, d);
    q.radius_m = nextafter(d, 0);
    CU_ASSERT_EQUAL(spindex_nearest(s, &q, out), 0);
    q.radius_m = 0;
    q.lon = 121.40;
    q.lat = 37.50;
    CU_ASSERT_EQUAL(spindex_nearest(s, &q, out), 1);
    q.radius_m = -1;
    CU_ASSERT_EQUAL(spindex_nearest(s, &q, out), 0);
    q.radius_m = NAN;
    CU_ASSERT_EQUAL(spindex_nearest(s, &q, out), 0);
    spindex_free(s);
}

/* Filters and the staleness boundary, one entry at a time. */
static void test_filters(void)
{
    struct spindex *s = spindex_new();
    uint32_t h = spindex_insert(s, "x", 121.4, 37.5);
    struct spindex_query q = {.lon = 121.4, .lat = 37.5, .radius_m = 10, .limit = 1,
                              .min_available = 1, .max_price = NAN, .now = 1900,
                              .stale_after = 900};
    struct spindex_hit out[1];
    CU_ASSERT_EQUAL(spindex_nearest(s, &q, out), 0);        /* unknown availability */
    spindex_set_available(s, h, 3);
    CU_ASSERT_EQUAL(spindex_nearest(s, &q, out), 0);        /* never observed: stale */
    spindex_set_ts(s, h, 1000);                             /* age exactly 900 */
    CU_ASSERT_EQUAL(spindex_nearest(s, &q, out), 1);
    q.now = nextafter(1900.0, INFINITY);
    CU_ASSERT_EQUAL(spindex_nearest(s, &q, out), 0);        /* just past the boundary */
    q.include_stale = true;
    CU_ASSERT_EQUAL(spindex_nearest(s, &q, out), 1);
    q.min_available = 4;
    CU_ASSERT_EQUAL(spindex_nearest(s, &q, out), 0);
    q.min_available = 3;
    CU_ASSERT_EQUAL(spindex_nearest(s, &q, out), 1);
    q.max_price = 5;
    CU_ASSERT_EQUAL(spindex_nearest(s, &q, out), 0);        /* unknown price */
    spindex_set_price(s, h, 5);
    CU_ASSERT_EQUAL(spindex_nearest(s, &q, out), 1);
    spindex_set_price(s, h, 5.5);
    CU_ASSERT_EQUAL(spindex_nearest(s, &q, out), 0);
    q.max_price = NAN;
    q.cats = 0x6;
    spindex_set_cats(s, h, 0x2);
    CU_ASSERT_EQUAL(spindex_nearest(s, &q, out), 0);
    spindex_set_cats(s, h, 0xE);
    CU_ASSERT_EQUAL(spindex_nearest(s, &q, out), 1);
    spindex_set_available(s, h, 0);
    q.min_available = 1;
    CU_ASSERT_EQUAL(spindex_nearest(s, &q, out), 0);
    q.min_available = 0;
    CU_ASSERT_EQUAL(spindex_nearest(s, &q, out), 1);
    spindex_free(s);
}

static bool accept_even(void *ctx, uint32_t h)
{
    const struct model *m = ctx;
    for (int i = 0; i < m->n; i++)
        if (m->e[i].used && m->e[i].h == h)
            return m->e[i].id[strlen(m->e[i].id) - 1] % 2 == 0;
    return false;
}

static void test_accept_hook(void)
{
    struct model *m = model_new(9, 121.3, 37.4, 121.5, 37.6);
    for (int i = 0; i < 500; i++) {
        double lon, lat;
        random_point(m, &lon, &lat);
        model_add(m, lon, lat, NULL);
    }
    struct spindex_query q;
    for (int i = 0; i < 300; i++) {
        random_query(m, &q);
        q.accept = accept_even;
        q.accept_ctx = m;
        check_query(m, &q);
    }
    CU_ASSERT_EQUAL(model_done(m), 0);
}

/* ---- bbox ---- */

struct bbox_seen { uint32_t h[MAXN]; uint32_t want[MAXN]; size_t n; };

static void bbox_collect(void *ctx, uint32_t h)
{
    struct bbox_seen *b = ctx;
    if (b->n < MAXN)
        b->h[b->n++] = h;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static bool in_box(double lon, double lat, const double bb[4])
{
    bool lon_ok = bb[0] <= bb[2] ? lon >= bb[0] && lon <= bb[2] : lon >= bb[0] || lon <= bb[2];
    return lon_ok && lat >= bb[1] && lat <= bb[3];
}

static void check_bbox(struct model *m, const double bb[4])
{
    struct bbox_seen *got = calloc(1, sizeof *got);
    CU_ASSERT_FATAL(got != NULL);
    size_t nw = 0;
    size_t n = spindex_bbox(m->s, bb[0], bb[1], bb[2], bb[3], bbox_collect, got);
    CU_ASSERT_EQUAL(n, got->n);
    for (int i = 0; i < m->n; i++)
        if (m->e[i].used && in_box(m->e[i].lon, m->e[i].lat, bb))
            got->want[nw++] = m->e[i].h;
    qsort(got->h, got->n, sizeof *got->h, cmp_u32);
    qsort(got->want, nw, sizeof *got->want, cmp_u32);
    CU_ASSERT(nw == got->n && memcmp(got->want, got->h, nw * sizeof *got->want) == 0);
    free(got);
}

static void test_bbox(void)
{
    for (uint64_t seed = 1; seed <= 20; seed++) {
        bool wrap = seed % 4 == 0;
        struct model *m = model_new(seed, wrap ? 179.5 : 121.3, 37.4, wrap ? 180.0 : 121.5, 37.6);
        for (int i = 0; i < 800; i++) {
            double lon, lat;
            random_point(m, &lon, &lat);
            if (wrap && i % 2)
                lon = -lon;
            model_add(m, lon, lat, NULL);
        }
        for (int i = 0; i < 200; i++) {
            double bb[4];
            random_point(m, &bb[0], &bb[1]);
            random_point(m, &bb[2], &bb[3]);
            if (bb[1] > bb[3]) {
                double t = bb[1];
                bb[1] = bb[3];
                bb[3] = t;
            }
            if (i % 5 == 0) {               /* edges exactly on entries */
                const struct model_ent *e = &m->e[rng_int(&m->rng, m->n)];
                bb[0] = e->lon;
                bb[1] = e->lat;
            }
            if (wrap && i % 2) {
                bb[0] = 179.8;
                bb[2] = -179.9;
            }
            check_bbox(m, bb);
            if (i % 4 == 0)
                random_mutation(m);
        }
        CU_ASSERT_EQUAL(model_done(m), 0);
    }
}

/* Remove everything, then reuse the index. */
static void test_empty_and_reuse(void)
{
    struct spindex *s = spindex_new();
    struct spindex_hit out[2];
    struct spindex_query q = {.lon = 0, .lat = 0, .radius_m = INFINITY, .limit = 2,
                              .max_price = NAN, .include_stale = true};
    CU_ASSERT_EQUAL(spindex_nearest(s, &q, out), 0);
    CU_ASSERT_EQUAL(spindex_insert(s, "bad", 181, 0), SPINDEX_NONE);
    CU_ASSERT_EQUAL(spindex_insert(s, "bad", 0, NAN), SPINDEX_NONE);
    uint32_t a = spindex_insert(s, "a", 10, 10);
    uint32_t b = spindex_insert(s, "b", -10, -10);
    CU_ASSERT_EQUAL(spindex_nearest(s, &q, out), 2);
    CU_ASSERT_STRING_EQUAL(spindex_id(s, out[0].handle), "a");   /* equidistant: by id */
    spindex_remove(s, a);
    spindex_remove(s, b);
    spindex_remove(s, b);                                       /* twice: harmless */
    CU_ASSERT_EQUAL(spindex_count(s), 0);
    CU_ASSERT_EQUAL(spindex_nearest(s, &q, out), 0);
    uint32_t c = spindex_insert(s, "c", 120, 30);
    CU_ASSERT_EQUAL(spindex_count(s), 1);
    CU_ASSERT_EQUAL(spindex_nearest(s, &q, out), 1);
    CU_ASSERT_EQUAL(out[0].handle, c);
    CU_ASSERT_EQUAL(spindex_move(s, c, 200, 0), -1);
    CU_ASSERT_EQUAL(spindex_move(s, c, -120, -30), 0);
    double lon, lat;
    spindex_position(s, c, &lon, &lat);
    CU_ASSERT(lon == -120 && lat == -30);
    spindex_free(s);
}

/* The index's distance is the great-circle distance of geo.h (haversine
 * on the same sphere), to well under a millimetre. */
static void test_distance_is_great_circle(void)
{
    struct rng r = {77};
    double worst = 0;
    for (int i = 0; i < 100000; i++) {
        double lon1 = rng_range(&r, -180, 180), lat1 = rng_range(&r, -90, 90);
        double span = i % 3 == 0 ? 180.0 : i % 3 == 1 ? 0.5 : 1e-5;
        double lon2 = fmax(-180, fmin(180, lon1 + rng_range(&r, -span, span)));
        double lat2 = fmax(-90, fmin(90, lat1 + rng_range(&r, -span / 2, span / 2)));
        double a = spindex_distance_m(lon1, lat1, lon2, lat2);
        double b = geo_distance_m(lon1, lat1, lon2, lat2);
        worst = fmax(worst, fabs(a - b));
    }
    CU_ASSERT(worst < 1e-3);
    CU_ASSERT(fabs(spindex_distance_m(0, 0, 180, 0) - M_PI * GEO_EARTH_RADIUS_M) < 1e-6);
    CU_ASSERT_EQUAL(spindex_distance_m(121.4, 37.5, 121.4, 37.5), 0.0);
}

int suite_spindex(void)
{
    CU_pSuite s = CU_add_suite("spindex", NULL, NULL);
    if (s == NULL)
        return -1;
    if (!CU_add_test(s, "random city data vs brute force", test_random_city) ||
        !CU_add_test(s, "dense data vs brute force", test_random_dense) ||
        !CU_add_test(s, "packed runs and cell lists together", test_packed_and_listed) ||
        !CU_add_test(s, "antimeridian and polar data", test_random_odd_places) ||
        !CU_add_test(s, "points and queries on cell edges", test_cell_edges) ||
        !CU_add_test(s, "ties broken by id", test_ties_by_id) ||
        !CU_add_test(s, "radius is inclusive", test_radius_edge) ||
        !CU_add_test(s, "filters and stale boundary", test_filters) ||
        !CU_add_test(s, "accept hook", test_accept_hook) ||
        !CU_add_test(s, "bbox vs brute force", test_bbox) ||
        !CU_add_test(s, "empty index and reuse", test_empty_and_reuse) ||
        !CU_add_test(s, "distance is great-circle", test_distance_is_great_circle))
        return -1;
    return 0;
}
