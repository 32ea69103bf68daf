/* garage.c -- garage walking graphs from the map's aisles, connectors,
 * bays and kiosks, A* routes from a kiosk to a bay, and turn-by-turn
 * steps (construction rules and costs in garage.h).
 *
 * Build: aisle vertices become nodes (snapped per level), aisles become
 * segments; junctions (T and X) and features (connectors, bays, kiosks)
 * are "attachments" at a parameter t along a segment; each segment is
 * then cut at its sorted attachments into walking edges, features joined
 * to their foot point by a leg. The edge list is frozen into a CSR
 * adjacency for the searches. */
#include "garage.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dict.h"

#define TURN_MIN_DEG 30.0         /* smaller heading changes continue a step */
#define TURN_AROUND_DEG 150.0
#define HEADING_MIN_M 0.5         /* shorter edges carry no heading */
#define JOG_M 5.0                 /* a shorter sideways step and back is no turn */

enum node_kind { N_AISLE = 0, N_BAY, N_KIOSK, N_CONN };

struct gnode {
    struct geo_xy xy;
    int level;                    /* index into lot->levels */
    enum node_kind kind;
    int ref;                      /* map array index of the bay/kiosk/connector */
};

struct gedge {
    int to;
    double dist_m;                /* horizontal metres walked */
    double cost_s;
    int conn;                     /* connector index for a level change, else -1 */
};

struct garage {
    const struct map *m;
    const struct map_lot *lot;
    struct geo_proj proj;
    struct gnode *nodes;
    size_t nnodes, capnodes;
    struct bedge { int a, b; struct gedge e; } *el;   /* build-time edge list */
    size_t nel, capel;
    size_t *off;                  /* CSR: edges of node i are adj[off[i] .. off[i+1]) */
    struct gedge *adj;
    struct dict *bay_node, *kiosk_node;              /* id -> node index + 1 */
    bool *level_aisle;            /* per level: has at least one aisle segment */
};

struct garages {
    struct garage **items;
    size_t n;
    struct dict *by_lot;
};

/* Build-time only. */
struct seg { int a, b, level; };
struct attach { size_t seg; double t; int node; bool leg; };
struct builder {
    struct garage *g;
    struct seg *segs;
    size_t nsegs, capsegs;
    struct attach *att;
    size_t natt, capatt;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    while (nc < need)
        nc *= 2;
    void *q = realloc(*p, nc * elem);
    if (q == NULL)
        return -1;
    *p = q;
    *cap = nc;
    return 0;
}

static double dist_xy(struct geo_xy a, struct geo_xy b)
{
    return hypot(a.x - b.x, a.y - b.y);
}

static int level_index(const struct map_lot *lot, const char *level)
{
    for (size_t i = 0; level != NULL && i < lot->nlevels; i++)
        if (strcmp(lot->levels[i], level) == 0)
            return (int)i;
    return -1;
}

static int add_node(struct garage *g, struct geo_xy xy, int level, enum node_kind kind, int ref)
{
    if (grow((void **)&g->nodes, &g->capnodes, g->nnodes + 1, sizeof *g->nodes) != 0)
        return -1;
    g->nodes[g->nnodes] = (struct gnode){xy, level, kind, ref};
    return (int)g->nnodes++;
}

static int add_edge(struct garage *g, int a, int b, double dist, double cost, int conn)
{
    if (a == b)
        return 0;
    if (grow((void **)&g->el, &g->capel, g->nel + 1, sizeof *g->el) != 0)
        return -1;
    g->el[g->nel++] = (struct bedge){a, b, {b, dist, cost, conn}};
    return 0;
}

static int add_walk(struct garage *g, int a, int b)
{
    double d = dist_xy(g->nodes[a].xy, g->nodes[b].xy);
    return add_edge(g, a, b, d, d / GARAGE_WALK_MPS, -1);
}

/* The aisle node at xy on level, existing within GARAGE_SNAP_M or new. */
static int aisle_node(struct garage *g, struct geo_xy xy, int level)
{
    for (size_t i = 0; i < g->nnodes; i++)
        if (g->nodes[i].kind == N_AISLE && g->nodes[i].level == level &&
            dist_xy(g->nodes[i].xy, xy) <= GARAGE_SNAP_M)
            return (int)i;
    return add_node(g, xy, level, N_AISLE, -1);
}

static int add_attach(struct builder *b, size_t seg, double t, int node, bool leg)
{
    if (grow((void **)&b->att, &b->capatt, b->natt + 1, sizeof *b->att) != 0)
        return -1;
    b->att[b->natt++] = (struct attach){seg, t, node, leg};
    return 0;
}

static struct geo_xy seg_point(const struct garage *g, const struct seg *s, double t)
{
    struct geo_xy a = g->nodes[s->a].xy, b = g->nodes[s->b].xy;
    return (struct geo_xy){a.x + t * (b.x - a.x), a.y + t * (b.y - a.y)};
}

/* Parameter of the projection of p onto segment s, clamped to [0, 1]. */
static double seg_project(const struct garage *g, const struct seg *s, struct geo_xy p)
{
    struct geo_xy a = g->nodes[s->a].xy, b = g->nodes[s->b].xy;
    double dx = b.x - a.x, dy = b.y - a.y, l2 = dx * dx + dy * dy;
    double t = l2 > 0 ? ((p.x - a.x) * dx + (p.y - a.y) * dy) / l2 : 0;
    return t < 0 ? 0 : t > 1 ? 1 : t;
}

/* ---- build: aisles and junctions ---- */

static int add_aisle(struct builder *b, const struct map_aisle *a)
{
    struct garage *g = b->g;
    int level = level_index(g->lot, a->level), prev = -1;
    if (level < 0)
        return 0;                                  /* map.c reports unknown levels */
    for (size_t i = 0; i < a->npts; i++) {
        struct geo_xy xy = geo_project(&g->proj, a->pts[i].lon, a->pts[i].lat);
        int n = aisle_node(g, xy, level);
        if (n < 0)
            return -1;
        if (prev >= 0 && prev != n) {
            if (grow((void **)&b->segs, &b->capsegs, b->nsegs + 1, sizeof *b->segs) != 0)
                return -1;
            b->segs[b->nsegs++] = (struct seg){prev, n, level};
            g->level_aisle[level] = true;
        }
        prev = n;
    }
    return 0;
}

/* Proper crossing of segments s and u (interiors, away from end points):
 * the parameters along each. */
static bool seg_cross(const struct garage *g, const struct seg *s, const struct seg *u,
                      double *ts, double *tu)
{
    struct geo_xy p = g->nodes[s->a].xy, r = g->nodes[s->b].xy;
    struct geo_xy q = g->nodes[u->a].xy, w = g->nodes[u->b].xy;
    double rx = r.x - p.x, ry = r.y - p.y, sx = w.x - q.x, sy = w.y - q.y;
    double den = rx * sy - ry * sx;
    if (fabs(den) < 1e-9)
        return false;                              /* parallel */
    *ts = ((q.x - p.x) * sy - (q.y - p.y) * sx) / den;
    *tu = ((q.x - p.x) * ry - (q.y - p.y) * rx) / den;
    double ls = hypot(rx, ry), lu = hypot(sx, sy);
    double ms = GARAGE_SNAP_M / ls, mu = GARAGE_SNAP_M / lu;
    return *ts > ms && *ts < 1 - ms && *tu > mu && *tu < 1 - mu;
}

/* T junctions (a node near another segment's interior) and crossings. */
static int add_junctions(struct builder *b)
{
    struct garage *g = b->g;
    size_t naisle = g->nnodes;
    for (size_t i = 0; i < b->nsegs; i++) {
        const struct seg *s = &b->segs[i];
        double len = dist_xy(g->nodes[s->a].xy, g->nodes[s->b].xy);
        for (size_t n = 0; n < naisle; n++) {
            if ((int)n == s->a || (int)n == s->b || g->nodes[n].level != s->level)
                continue;
            double t = seg_project(g, s, g->nodes[n].xy);
            if (t * len > GARAGE_SNAP_M && (1 - t) * len > GARAGE_SNAP_M &&
                dist_xy(seg_point(g, s, t), g->nodes[n].xy) <= GARAGE_SNAP_M &&
                add_attach(b, i, t, (int)n, false) != 0)
                return -1;
        }
        for (size_t k = i + 1; k < b->nsegs; k++) {
            const struct seg *u = &b->segs[k];
            double ts, tu;
            if (u->level != s->level || !seg_cross(g, s, u, &ts, &tu))
                continue;
            int x = add_node(g, seg_point(g, s, ts), s->level, N_AISLE, -1);
            if (x < 0 || add_attach(b, i, ts, x, false) != 0 || add_attach(b, k, tu, x, false) != 0)
                return -1;
        }
    }
    return 0;
}

/* ---- build: features ---- */

/* Attach a feature node to the nearest segment of its level (no-op when
 * the level has no aisle: garages_check reports it). */
static int attach_feature(struct builder *b, int node)
{
    struct garage *g = b->g;
    const struct gnode *f = &g->nodes[node];
    size_t best = SIZE_MAX;
    double best_d = INFINITY, best_t = 0;
    for (size_t i = 0; i < b->nsegs; i++) {
        if (b->segs[i].level != f->level)
            continue;
        double t = seg_project(g, &b->segs[i], f->xy);
        double d = dist_xy(seg_point(g, &b->segs[i], t), f->xy);
        if (d < best_d)
            best = i, best_d = d, best_t = t;
    }
    return best == SIZE_MAX ? 0 : add_attach(b, best, best_t, node, true);
}

static int add_feature(struct builder *b, struct geo_pt pt, const char *level, enum node_kind kind,
                       int ref)
{
    struct garage *g = b->g;
    int lv = level_index(g->lot, level);
    if (lv < 0)
        return 0;
    int n = add_node(g, geo_project(&g->proj, pt.lon, pt.lat), lv, kind, ref);
    return n < 0 ? -1 : attach_feature(b, n);
}

static double level_cost(const struct map_connector *c, int levels_apart)
{
    const char *t = c->connector_type ? c->connector_type : "";
    if (strcmp(t, "lift") == 0 || strcmp(t, "elevator") == 0)
        return GARAGE_LIFT_WAIT_S + GARAGE_LIFT_PER_LEVEL_S * levels_apart;
    if (strcmp(t, "escalator") == 0)
        return GARAGE_ESCALATOR_PER_LEVEL_S * levels_apart;
    return GARAGE_STAIRS_PER_LEVEL_S * levels_apart;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* One node per level of connector ci, level-change edges between them. */
static int add_connector(struct builder *b, size_t ci)
{
    struct garage *g = b->g;
    const struct map_connector *c = &g->m->connectors[ci];
    bool lift = c->connector_type && (strcmp(c->connector_type, "lift") == 0 ||
                                      strcmp(c->connector_type, "elevator") == 0);
    int *node_of = calloc(g->lot->nlevels, sizeof *node_of);
    int *lv = calloc(c->nlevels + 1, sizeof *lv), nlv = 0, rc = -1;
    if (node_of == NULL || lv == NULL)
        goto out;
    for (size_t i = 0; i < c->nlevels; i++) {
        int l = level_index(g->lot, c->levels[i]);
        if (l < 0 || node_of[l] != 0)
            continue;
        int n = add_node(g, geo_project(&g->proj, c->pt.lon, c->pt.lat), l, N_CONN, (int)ci);
        if (n < 0 || attach_feature(b, n) != 0)
            goto out;
        node_of[l] = n + 1;
        lv[nlv++] = l;
    }
    qsort(lv, (size_t)nlv, sizeof *lv, cmp_int);
    for (int i = 0; i < nlv; i++)
        for (int k = i + 1; k < (lift ? nlv : i + 2) && k < nlv; k++)
            if (add_edge(g, node_of[lv[i]] - 1, node_of[lv[k]] - 1, 0,
                         level_cost(c, lv[k] - lv[i]), (int)ci) != 0)
                goto out;
    rc = 0;
out:
    free(node_of);
    free(lv);
    return rc;
}

static int cmp_attach(const void *pa, const void *pb)
{
    const struct attach *a = pa, *b = pb;
    if (a->seg != b->seg)
        return a->seg < b->seg ? -1 : 1;
    return (a->t > b->t) - (a->t < b->t);
}

/* Cut every segment at its sorted attachments into walking edges. */
static int cut_segments(struct builder *b)
{
    struct garage *g = b->g;
    if (b->natt > 1)            /* b->att is NULL when nothing is attached */
        qsort(b->att, b->natt, sizeof *b->att, cmp_attach);
    size_t k = 0;
    for (size_t i = 0; i < b->nsegs; i++) {
        const struct seg s = b->segs[i];
        double len = dist_xy(g->nodes[s.a].xy, g->nodes[s.b].xy);
        int prev = s.a;
        for (; k < b->natt && b->att[k].seg == i; k++) {
            const struct attach *a = &b->att[k];
            int foot = a->node;
            if (a->leg) {                          /* foot on the segment, then the leg */
                struct geo_xy fp = seg_point(g, &s, a->t);
                if (a->t * len <= GARAGE_SNAP_M)
                    foot = s.a;
                else if ((1 - a->t) * len <= GARAGE_SNAP_M)
                    foot = s.b;
                else if (dist_xy(g->nodes[prev].xy, fp) <= GARAGE_SNAP_M)
                    foot = prev;
                else if ((foot = add_node(g, fp, s.level, N_AISLE, -1)) < 0)
                    return -1;
                if (add_walk(g, a->node, foot) != 0)
                    return -1;
            }
            if (foot != s.b && add_walk(g, prev, foot) != 0)
                return -1;
            if (foot != s.b)
                prev = foot;
        }
        if (add_walk(g, prev, s.b) != 0)
            return -1;
    }
    return 0;
}

/* Freeze the edge list into CSR (both directions). */
static int freeze(struct garage *g)
{
    g->off = calloc(g->nnodes + 1, sizeof *g->off);
    g->adj = malloc((2 * g->nel + 1) * sizeof *g->adj);
    if (g->off == NULL || g->adj == NULL)
        return -1;
    for (size_t i = 0; i < g->nel; i++) {
        g->off[g->el[i].a + 1]++;
        g->off[g->el[i].b + 1]++;
    }
    for (size_t i = 0; i < g->nnodes; i++)
        g->off[i + 1] += g->off[i];
    size_t *fill = calloc(g->nnodes, sizeof *fill);
    if (fill == NULL)
        return -1;
    for (size_t i = 0; i < g->nel; i++) {
        struct gedge e = g->el[i].e;
        int a = g->el[i].a, b = g->el[i].b;
        e.to = b;
        g->adj[g->off[a] + fill[a]++] = e;
        e.to = a;
        g->adj[g->off[b] + fill[b]++] = e;
    }
    free(fill);
    free(g->el);
    g->el = NULL;
    g->nel = g->capel = 0;
    return 0;
}

static int index_put(struct dict *d, const char *id, int node)
{
    int err = 0;
    dict_put(d, id, (void *)(uintptr_t)(node + 1), &err);
    return err ? -1 : 0;
}

static int index_features(struct garage *g)
{
    for (size_t i = 0; i < g->nnodes; i++) {
        const struct gnode *n = &g->nodes[i];
        if (n->kind == N_BAY && index_put(g->bay_node, g->m->bays[n->ref].id, (int)i) != 0)
            return -1;
        if (n->kind == N_KIOSK && index_put(g->kiosk_node, g->m->kiosks[n->ref].id, (int)i) != 0)
            return -1;
    }
    return 0;
}

static void garage_free(struct garage *g)
{
    if (g == NULL)
        return;
    free(g->nodes);
    free(g->el);
    free(g->off);
    free(g->adj);
    free(g->level_aisle);
    dict_free(g->bay_node, NULL);
    dict_free(g->kiosk_node, NULL);
    free(g);
}

static int build_features(struct builder *b)
{
    const struct map *m = b->g->m;
    const char *lot = b->g->lot->id;
    for (size_t i = 0; i < m->nconnectors; i++)
        if (strcmp(m->connectors[i].lot, lot) == 0 && add_connector(b, i) != 0)
            return -1;
    for (size_t i = 0; i < m->nbays; i++)
        if (strcmp(m->bays[i].lot, lot) == 0 &&
            add_feature(b, m->bays[i].pt, m->bays[i].level, N_BAY, (int)i) != 0)
            return -1;
    for (size_t i = 0; i < m->nkiosks; i++)
        if (strcmp(m->kiosks[i].lot, lot) == 0 &&
            add_feature(b, m->kiosks[i].pt, m->kiosks[i].level, N_KIOSK, (int)i) != 0)
            return -1;
    return 0;
}

static struct garage *garage_build(const struct map *m, const struct map_lot *lot)
{
    struct builder b = {0};
    struct garage *g = calloc(1, sizeof *g);
    int rc = -1;
    if (g == NULL)
        return NULL;
    b.g = g;
    g->m = m;
    g->lot = lot;
    geo_proj_init(&g->proj, lot->loc.lon, lot->loc.lat);
    g->level_aisle = calloc(lot->nlevels + 1, sizeof *g->level_aisle);
    g->bay_node = dict_new();
    g->kiosk_node = dict_new();
    if (g->level_aisle == NULL || g->bay_node == NULL || g->kiosk_node == NULL)
        goto out;
    for (size_t i = 0; i < m->naisles; i++)
        if (strcmp(m->aisles[i].lot, lot->id) == 0 && add_aisle(&b, &m->aisles[i]) != 0)
            goto out;
    if (add_junctions(&b) != 0 || build_features(&b) != 0 || cut_segments(&b) != 0 ||
        freeze(g) != 0 || index_features(g) != 0)
        goto out;
    rc = 0;
out:
    free(b.segs);
    free(b.att);
    if (rc != 0) {
        garage_free(g);
        g = NULL;
    }
    return g;
}

/* ---- the set of garages ---- */

static bool lot_has_walkway(const struct map *m, const char *lot)
{
    for (size_t i = 0; i < m->naisles; i++)
        if (strcmp(m->aisles[i].lot, lot) == 0)
            return true;
    for (size_t i = 0; i < m->nkiosks; i++)
        if (strcmp(m->kiosks[i].lot, lot) == 0)
            return true;
    return false;
}

void garages_free(struct garages *gs)
{
    if (gs == NULL)
        return;
    for (size_t i = 0; i < gs->n; i++)
        garage_free(gs->items[i]);
    free(gs->items);
    dict_free(gs->by_lot, NULL);
    free(gs);
}

struct garages *garages_build(const struct map *m)
{
    struct garages *gs = calloc(1, sizeof *gs);
    if (gs == NULL || (gs->by_lot = dict_new()) == NULL ||
        (m->nlots > 0 && (gs->items = calloc(m->nlots, sizeof *gs->items)) == NULL))
        goto fail;
    for (size_t i = 0; i < m->nlots; i++) {
        if (!lot_has_walkway(m, m->lots[i].id))
            continue;
        struct garage *g = garage_build(m, &m->lots[i]);
        int err = 0;
        if (g == NULL)
            goto fail;
        gs->items[gs->n++] = g;
        dict_put(gs->by_lot, m->lots[i].id, g, &err);
        if (err)
            goto fail;
    }
    return gs;
fail:
    garages_free(gs);
    return NULL;
}

const struct garage *garages_get(const struct garages *gs, const char *lot)
{
    return gs && lot ? dict_get(gs->by_lot, lot) : NULL;
}

static int node_of(const struct dict *d, const char *id)
{
    uintptr_t v = id ? (uintptr_t)dict_get(d, id) : 0;
    return v ? (int)(v - 1) : -1;
}

const char *garage_bay_level(const struct garage *g, const char *bay_id)
{
    int n = node_of(g->bay_node, bay_id);
    return n < 0 ? NULL : g->lot->levels[g->nodes[n].level];
}

bool garage_has_kiosk(const struct garage *g, const char *kiosk_id)
{
    return node_of(g->kiosk_node, kiosk_id) >= 0;
}

/* ---- search ---- */

struct heap_item { double f; int node; };
struct heap { struct heap_item *a; size_t n, cap; };

static int heap_push(struct heap *h, double f, int node)
{
    if (grow((void **)&h->a, &h->cap, h->n + 1, sizeof *h->a) != 0)
        return -1;
    size_t i = h->n++;
    while (i > 0 && h->a[(i - 1) / 2].f > f) {
        h->a[i] = h->a[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->a[i] = (struct heap_item){f, node};
    return 0;
}

static struct heap_item heap_pop(struct heap *h)
{
    struct heap_item top = h->a[0], last = h->a[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->a[c + 1].f < h->a[c].f)
            c++;
        if (h->a[c].f >= last.f)
            break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n > 0)
        h->a[i] = last;
    return top;
}

/* A* from the sources (cost 0) to dst (or, with dst < 0, Dijkstra over
 * the whole component). cost[] and via[] (edge index into adj that
 * reached each node, SIZE_MAX for none) are filled. Returns 0 or -1 (OOM). */
static int search(const struct garage *g, const int *src, size_t nsrc, int dst, double *cost,
                  size_t *via)
{
    struct heap h = {0};
    int rc = -1;
    for (size_t i = 0; i < g->nnodes; i++)
        cost[i] = INFINITY, via[i] = SIZE_MAX;
    for (size_t i = 0; i < nsrc; i++) {
        cost[src[i]] = 0;
        if (heap_push(&h, 0, src[i]) != 0)
            goto out;
    }
    while (h.n > 0) {
        struct heap_item it = heap_pop(&h);
        int u = it.node;
        double hu = dst >= 0 ? dist_xy(g->nodes[u].xy, g->nodes[dst].xy) / GARAGE_WALK_MPS : 0;
        if (it.f > cost[u] + hu + 1e-9)
            continue;                              /* stale entry */
        if (u == dst)
            break;
        for (size_t e = g->off[u]; e < g->off[u + 1]; e++) {
            int v = g->adj[e].to;
            double c = cost[u] + g->adj[e].cost_s;
            if (c + 1e-12 < cost[v]) {
                cost[v] = c;
                via[v] = e;
                double hv = dst >= 0 ? dist_xy(g->nodes[v].xy, g->nodes[dst].xy) / GARAGE_WALK_MPS : 0;
                if (heap_push(&h, c + hv, v) != 0)
                    goto out;
            }
        }
    }
    rc = 0;
out:
    free(h.a);
    return rc;
}

/* The node an adjacency entry starts from (CSR: binary search in off). */
static int edge_from(const struct garage *g, size_t e)
{
    size_t lo = 0, hi = g->nnodes;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (g->off[mid] <= e)
            lo = mid;
        else
            hi = mid;
    }
    return (int)lo;
}

/* ---- steps ---- */

struct stepper {
    const struct garage *g;
    struct garage_route *r;
    bool walking;                 /* a walking step is open */
    double walk_m, heading, pending_m;
    bool have_heading;
    int walk_level;
    const char *turn_en, *turn_zh;
    struct {                      /* the last step pushed, when it is a walk */
        bool valid;
        double dist, heading_end;
        const char *turn_en, *turn_zh;
        int level;
    } last;
};

static double angle_diff(double a, double b)
{
    double d = fmod(a - b, 2 * M_PI);
    if (d > M_PI)
        d -= 2 * M_PI;
    if (d <= -M_PI)
        d += 2 * M_PI;
    return d;
}

static int push_step(struct stepper *st, double dist, int level, const char *en, const char *zh)
{
    struct garage_route *r = st->r;
    struct garage_step *ns = realloc(r->steps, (r->nsteps + 1) * sizeof *ns);
    if (ns == NULL)
        return -1;
    r->steps = ns;
    struct garage_step *s = &ns[r->nsteps++];
    snprintf(s->instruction, sizeof s->instruction, "%s", en);
    snprintf(s->instruction_zh, sizeof s->instruction_zh, "%s", zh);
    s->distance_m = dist;
    s->level = st->g->lot->levels[level];
    return 0;
}

static int flush_walk(struct stepper *st, int level_if_none)
{
    char en[160], zh[160];
    if (!st->walking && st->pending_m <= 0)
        return 0;
    double d = st->walk_m + st->pending_m;
    int level = st->walking ? st->walk_level : level_if_none;
    if (st->turn_en != NULL) {
        snprintf(en, sizeof en, "%s and walk %ld m", st->turn_en, lround(d));
        snprintf(zh, sizeof zh, "%s，步行%ld米", st->turn_zh, lround(d));
    } else {
        snprintf(en, sizeof en, "Walk %ld m along the aisle", lround(d));
        snprintf(zh, sizeof zh, "沿通道步行%ld米", lround(d));
    }
    st->last.valid = true;
    st->last.dist = d;
    st->last.heading_end = st->heading;
    st->last.turn_en = st->turn_en;
    st->last.turn_zh = st->turn_zh;
    st->last.level = level;
    st->walking = false;
    st->walk_m = st->pending_m = 0;
    st->turn_en = st->turn_zh = NULL;
    return push_step(st, d, level, en, zh);
}

/* The open step is a short sideways jog (turned, a few metres, and now
 * turning back to the heading before it): fold it and the walk before it
 * into one step again. */
static bool fold_jog(struct stepper *st, double h, int level)
{
    if (!st->last.valid || st->turn_en == NULL || st->walk_m + st->pending_m >= JOG_M ||
        st->last.level != level || fabs(angle_diff(h, st->last.heading_end)) * 180 / M_PI >= TURN_MIN_DEG)
        return false;
    st->r->nsteps--;
    st->walk_m += st->last.dist;
    st->turn_en = st->last.turn_en;
    st->turn_zh = st->last.turn_zh;
    st->walk_level = st->last.level;
    st->last.valid = false;
    return true;
}

/* A walking edge u -> v between aisle nodes. */
static int step_walk(struct stepper *st, int u, int v, double d)
{
    const struct gnode *a = &st->g->nodes[u], *b = &st->g->nodes[v];
    bool has_h = d >= HEADING_MIN_M;
    double h = atan2(b->xy.y - a->xy.y, b->xy.x - a->xy.x);
    if (st->walking && has_h && st->have_heading) {
        double turn = angle_diff(h, st->heading) * 180 / M_PI;
        if (fabs(turn) >= TURN_MIN_DEG && !fold_jog(st, h, a->level)) {
            if (flush_walk(st, a->level) != 0)
                return -1;
            bool around = fabs(turn) >= TURN_AROUND_DEG;
            st->turn_en = around ? "Turn around" : turn > 0 ? "Turn left" : "Turn right";
            st->turn_zh = around ? "掉头" : turn > 0 ? "左转" : "右转";
        }
    }
    if (!st->walking) {
        st->walking = true;
        st->walk_level = a->level;
    }
    st->walk_m += d;
    if (has_h) {
        st->heading = h;
        st->have_heading = true;
    }
    return 0;
}

static int step_level(struct stepper *st, int conn, int from_level, int to_level)
{
    const struct map_connector *c = &st->g->m->connectors[conn];
    const char *type = c->connector_type ? c->connector_type : "stairs";
    bool lift = strcmp(type, "lift") == 0 || strcmp(type, "elevator") == 0;
    bool esc = strcmp(type, "escalator") == 0;
    const char *from = st->g->lot->levels[from_level], *to = st->g->lot->levels[to_level];
    char en[160], zh[160], name[96];
    if (flush_walk(st, from_level) != 0)
        return -1;
    if (c->name != NULL)
        snprintf(name, sizeof name, "%s", c->name);
    else
        snprintf(name, sizeof name, "the %s", lift ? "lift" : esc ? "escalator" : "stairs");
    snprintf(en, sizeof en, "Take %s from %s to %s", name, from, to);
    snprintf(zh, sizeof zh, "%s%s从%s到%s", lift || esc ? "乘坐" : "走",
             c->name ? c->name : lift ? "电梯" : esc ? "扶梯" : "楼梯", from, to);
    st->have_heading = false;                      /* a new level: no "turn" */
    st->last.valid = false;
    return push_step(st, 0, from_level, en, zh);
}

static int step_arrive(struct stepper *st, int foot, int bay, double d)
{
    const struct gnode *f = &st->g->nodes[foot], *b = &st->g->nodes[bay];
    const char *id = st->g->m->bays[b->ref].id;
    char en[160], zh[160];
    if (flush_walk(st, b->level) != 0)
        return -1;
    double vx = b->xy.x - f->xy.x, vy = b->xy.y - f->xy.y;
    if (!st->have_heading || d < HEADING_MIN_M) {
        snprintf(en, sizeof en, "Your car is at bay %s", id);
        snprintf(zh, sizeof zh, "您的车在%s车位", id);
    } else {
        double cross = cos(st->heading) * vy - sin(st->heading) * vx;
        bool left = cross > 0;
        snprintf(en, sizeof en, "Your car is at bay %s on your %s", id, left ? "left" : "right");
        snprintf(zh, sizeof zh, "您的车在%s侧的%s车位", left ? "左" : "右", id);
    }
    st->last.valid = false;
    return push_step(st, d, b->level, en, zh);
}

/* Turn the node sequence into steps. */
static int make_steps(const struct garage *g, const int *seq, const size_t *edges, size_t n,
                      struct garage_route *r)
{
    struct stepper st = {.g = g, .r = r};
    for (size_t i = 0; i + 1 < n; i++) {
        int u = seq[i], v = seq[i + 1];
        const struct gedge *e = &g->adj[edges[i]];
        const struct gnode *a = &g->nodes[u], *b = &g->nodes[v];
        int rc = 0;
        if (e->conn >= 0 && a->level != b->level) {
            size_t j = i + 1;                      /* one step for a whole ride */
            while (j + 1 < n && g->adj[edges[j]].conn == e->conn &&
                   g->nodes[seq[j]].level != g->nodes[seq[j + 1]].level)
                j++;
            rc = step_level(&st, e->conn, a->level, g->nodes[seq[j]].level);
            i = j - 1;
        } else if (b->kind == N_BAY) {
            rc = step_arrive(&st, u, v, e->dist_m);
        } else if (a->kind != N_AISLE || b->kind != N_AISLE) {
            st.pending_m += e->dist_m;             /* a leg to a kiosk or connector */
        } else {
            rc = step_walk(&st, u, v, e->dist_m);
        }
        if (rc != 0)
            return -1;
    }
    return flush_walk(&st, g->nodes[seq[n - 1]].level);
}

/* Is b a point the path can skip: on the segment a-c, same level? */
static bool path_straight(const struct garage *g, int a, int b, int c)
{
    const struct gnode *p = &g->nodes[a], *q = &g->nodes[b], *r = &g->nodes[c];
    if (p->level != q->level || q->level != r->level)
        return false;
    double dx = r->xy.x - p->xy.x, dy = r->xy.y - p->xy.y, l = hypot(dx, dy);
    double along = ((q->xy.x - p->xy.x) * dx + (q->xy.y - p->xy.y) * dy) / (l > 0 ? l : 1);
    double off = fabs((q->xy.x - p->xy.x) * dy - (q->xy.y - p->xy.y) * dx) / (l > 0 ? l : 1);
    return l > 0 && off < 0.05 && along > 0 && along < l;
}

int garage_route(const struct garage *g, const char *kiosk_id, const char *bay_id,
                 struct garage_route *out, int *not_found, char *err, size_t errlen)
{
    int src = node_of(g->kiosk_node, kiosk_id), dst = node_of(g->bay_node, bay_id), rc = -1;
    double *cost = malloc((g->nnodes + 1) * sizeof *cost);
    size_t *via = malloc((g->nnodes + 1) * sizeof *via), *edges = NULL, n = 0;
    int *seq = NULL;
    memset(out, 0, sizeof *out);
    *not_found = 0;
    if (src < 0 || dst < 0) {
        *not_found = 1;
        snprintf(err, errlen, "%s %s is not in garage %s", src < 0 ? "kiosk" : "bay",
                 src < 0 ? kiosk_id : bay_id, g->lot->id);
        goto out;
    }
    if (cost == NULL || via == NULL || search(g, &src, 1, dst, cost, via) != 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (!isfinite(cost[dst])) {
        snprintf(err, errlen, "no walking route from kiosk %s to bay %s in %s", kiosk_id, bay_id,
                 g->lot->id);
        goto out;
    }
    for (int v = dst; v != src; v = edge_from(g, via[v]))
        n++;
    seq = malloc((n + 1) * sizeof *seq);
    edges = malloc((n + 1) * sizeof *edges);
    out->path = malloc((n + 1) * sizeof *out->path);
    if (seq == NULL || edges == NULL || out->path == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    seq[n] = dst;
    for (size_t i = n; i > 0; i--) {
        edges[i - 1] = via[seq[i]];
        seq[i - 1] = edge_from(g, via[seq[i]]);
    }
    for (size_t i = 0; i <= n; i++) {
        struct geo_pt p = geo_unproject(&g->proj, g->nodes[seq[i]].xy);
        if (i == 0 || i == n || !path_straight(g, seq[i - 1], seq[i], seq[i + 1]))
            if (out->npath == 0 || p.lon != out->path[out->npath - 1].lon ||
                p.lat != out->path[out->npath - 1].lat)
                out->path[out->npath++] = p;
        if (i < n)
            out->distance_m += g->adj[edges[i]].dist_m;
    }
    out->walk_seconds = cost[dst];
    if (make_steps(g, seq, edges, n + 1, out) != 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    rc = 0;
out:
    if (rc != 0)
        garage_route_free(out);
    free(cost);
    free(via);
    free(seq);
    free(edges);
    return rc;
}

void garage_route_free(struct garage_route *r)
{
    free(r->path);
    free(r->steps);
    memset(r, 0, sizeof *r);
}

static double round1(double x)
{
    return round(x * 10) / 10;
}

json_t *garage_route_json(const struct garage_route *r, bool gcj02)
{
    json_t *coords = json_array(), *steps = json_array();
    for (size_t i = 0; coords != NULL && i < r->npath + (r->npath == 1); i++) {
        struct geo_pt p = r->path[i < r->npath ? i : 0];   /* a LineString needs 2 positions */
        if (gcj02)
            geo_wgs84_to_gcj02(p.lon, p.lat, &p.lon, &p.lat);
        json_array_append_new(coords, json_pack("[f, f]", round(p.lon * 1e7) / 1e7,
                                                round(p.lat * 1e7) / 1e7));
    }
    for (size_t i = 0; steps != NULL && i < r->nsteps; i++) {
        const struct garage_step *s = &r->steps[i];
        json_array_append_new(steps, json_pack("{s:s, s:s, s:f, s:s}", "instruction",
                                               s->instruction, "instruction_zh", s->instruction_zh,
                                               "distance_m", round1(s->distance_m), "level",
                                               s->level));
    }
    return json_pack("{s:f, s:f, s:{s:s, s:o}, s:o}", "distance_m", round1(r->distance_m),
                     "walk_seconds", round1(r->walk_seconds), "path", "type", "LineString",
                     "coordinates", coords ? coords : json_array(), "steps",
                     steps ? steps : json_array());
}

/* ---- check ---- */

static void problem(struct map_problems *p, const char *feature, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(struct map_problems *p, const char *feature, const char *fmt, ...)
{
    if (grow((void **)&p->items, &p->cap, p->n + 1, sizeof *p->items) != 0)
        return;
    struct map_problem *it = &p->items[p->n++];
    va_list ap;
    snprintf(it->file, sizeof it->file, "parking.geojson");
    snprintf(it->feature, sizeof it->feature, "%s", feature);
    va_start(ap, fmt);
    vsnprintf(it->message, sizeof it->message, fmt, ap);
    va_end(ap);
}

static size_t garage_check(const struct garage *g, struct map_problems *probs)
{
    size_t before = probs->n, nk = 0;
    int *src = malloc((g->nnodes + 1) * sizeof *src);
    double *cost = malloc((g->nnodes + 1) * sizeof *cost);
    size_t *via = malloc((g->nnodes + 1) * sizeof *via);
    if (src == NULL || cost == NULL || via == NULL)
        goto out;
    for (size_t i = 0; i < g->nnodes; i++) {
        const struct gnode *n = &g->nodes[i];
        const char *lv = g->lot->levels[n->level];
        if (n->kind == N_KIOSK)
            src[nk++] = (int)i;
        if (n->kind != N_AISLE && !g->level_aisle[n->level])
            problem(probs, n->kind == N_BAY     ? g->m->bays[n->ref].id
                           : n->kind == N_KIOSK ? g->m->kiosks[n->ref].id
                                                : g->m->connectors[n->ref].id,
                    "%s of lot %s: no aisle on level %s to attach it to",
                    n->kind == N_BAY ? "bay" : n->kind == N_KIOSK ? "kiosk" : "connector",
                    g->lot->id, lv);
    }
    if (nk == 0) {
        problem(probs, g->lot->id, "lot %s has aisles but no kiosk for reverse car-finding",
                g->lot->id);
        goto out;
    }
    if (search(g, src, nk, -1, cost, via) != 0)
        goto out;
    for (size_t i = 0; i < g->nnodes; i++)
        if (g->nodes[i].kind == N_BAY && !isfinite(cost[i]) && g->level_aisle[g->nodes[i].level])
            problem(probs, g->m->bays[g->nodes[i].ref].id,
                    "bay of lot %s on level %s: no walking route from any kiosk", g->lot->id,
                    g->lot->levels[g->nodes[i].level]);
out:
    free(src);
    free(cost);
    free(via);
    return probs->n - before;
}

size_t garages_check(const struct garages *gs, struct map_problems *probs)
{
    size_t n = 0;
    for (size_t i = 0; gs != NULL && i < gs->n; i++)
        n += garage_check(gs->items[i], probs);
    return n;
}
