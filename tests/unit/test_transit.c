/* test_transit.c -- matching and prediction on constructed trips over the
 * tests/fixtures/gtfs/basic feed (Asia/Shanghai; route R1 runs east along
 * one street, stops every ~441 m; L1 goes out and back on a two-way
 * street). Positions are generated from the pattern's own line plus
 * explicit offsets, so every expected place is known exactly. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "geo.h"
#include "gtfs.h"
#include "gtfsrt.h"
#include "transit.h"
#include "tz.h"

static char err[256];
static struct gtfs *feed;

/* Tuesday 2026-02-17 (WK service) and Monday the 16th (SAT added). */
static double origin_tue, origin_mon;

static int setup(void)
{
    feed = gtfs_load("tests/fixtures/gtfs/basic", err, sizeof err);
    if (feed == NULL)
        return -1;
    origin_tue = (double)gtfs_day_origin(feed, tz_days_from_civil(2026, 2, 17));
    origin_mon = (double)gtfs_day_origin(feed, tz_days_from_civil(2026, 2, 16));
    return 0;
}

static int teardown(void)
{
    gtfs_free(feed);
    return 0;
}

static double hms(int h, int m, int s)
{
    return h * 3600 + m * 60 + s;
}

/* A report of vehicle id on trip at distance d along the trip's line,
 * moved north by north_m, at epoch ts. */
static struct gtfsrt_vehicle ping(const char *id, const char *trip, double d, double north_m,
                                  double ts)
{
    struct gtfsrt_vehicle v;
    gtfsrt_vehicle_init(&v);
    snprintf(v.entity_id, sizeof v.entity_id, "%s", id);
    snprintf(v.vehicle_id, sizeof v.vehicle_id, "%s", id);
    snprintf(v.trip_id, sizeof v.trip_id, "%s", trip);
    const struct gtfs_pattern *pt = gtfs_trip_pattern(feed, gtfs_trip_find(feed, trip));
    struct geo_pt p = geo_line_point_at(pt->line, d);
    v.lon = p.lon;
    v.lat = p.lat + north_m / 111195.0;
    v.timestamp = (uint64_t)ts;
    return v;
}

/* The model's own estimates: no rider margin (tested on its own). */
static struct transit *tnew(void)
{
    struct transit_params p;
    transit_params_default(&p);
    p.early_s = p.early_frac = 0;
    return transit_new(feed, &p);
}

static enum transit_result feed_ping(struct transit *t, struct gtfsrt_vehicle v)
{
    size_t n;
    return transit_ingest(t, &v, (double)v.timestamp, NULL, 0, &n, err, sizeof err);
}

static const struct gtfs_pattern *pattern(const char *trip)
{
    return gtfs_trip_pattern(feed, gtfs_trip_find(feed, trip));
}

static void test_layover_then_progress(void)
{
    struct transit *t = tnew();
    const struct gtfs_pattern *pt = pattern("T1");
    /* Waiting at the first stop two minutes early: layover, leaves on time. */
    CU_ASSERT_EQUAL(feed_ping(t, ping("b1", "T1", 0, 8, origin_tue + hms(7, 58, 0))),
                    TRANSIT_ACCEPTED);
    const struct transit_vehicle *v = transit_vehicle_get(t, "b1");
    CU_ASSERT_FATAL(v != NULL);
    CU_ASSERT_EQUAL(v->status, TRANSIT_LAYOVER);
    CU_ASSERT_EQUAL(v->next_pos, 0);
    CU_ASSERT_DOUBLE_EQUAL(v->sched_dev_s, 0, 1e-9);
    double now = origin_tue + hms(7, 58, 0);
    CU_ASSERT_DOUBLE_EQUAL(transit_predict(t, v, 0, now), origin_tue + hms(8, 0, 0), 1e-6);
    CU_ASSERT(transit_predict(t, v, 1, now) > origin_tue + hms(8, 0, 0));
    /* Moving at 5 m/s from 08:00, reported every 30 s: forward progress,
     * deviation near zero at S2 (scheduled 08:03, reached at ~08:01:28). */
    double last = 0;
    for (int i = 1; i <= 8; i++) {
        double d = 150.0 * i;
        CU_ASSERT_EQUAL(feed_ping(t, ping("b1", "T1", d, 8, origin_tue + hms(8, 0, 30 * i))),
                        TRANSIT_ACCEPTED);
        CU_ASSERT_DOUBLE_EQUAL(v->dist_m, d, 2.0);
        CU_ASSERT(v->dist_m >= last);
        last = v->dist_m;
    }
    /* At 1200 m: past S3 (882 m), next stop S4. */
    CU_ASSERT_EQUAL(v->status, TRANSIT_IN_TRANSIT);
    CU_ASSERT_EQUAL(v->next_pos, 3);
    /* Scheduled at 1200 m: 08:06 + (1200-882)/(1322-882) * 3 min = 08:08:10;
     * it is there at 08:04:00, so about 250 s early. */
    CU_ASSERT_DOUBLE_EQUAL(v->sched_dev_s, -250, 5);
    /* Predictions increase along the trip and the passed stops have none. */
    now = v->ts;
    CU_ASSERT_EQUAL(transit_predict(t, v, 2, now), 0);
    double p3 = transit_predict(t, v, 3, now), p4 = transit_predict(t, v, 4, now);
    CU_ASSERT(p3 > now && p4 > p3);
    CU_ASSERT(p4 - now < 600);
    /* Stopped at S4 (speed 0): at_stop, next stop is S4 itself. */
    struct gtfsrt_vehicle s = ping("b1", "T1", pt->dist_m[3] + 5, 5, origin_tue + hms(8, 5, 0));
    s.speed = 0;
    CU_ASSERT_EQUAL(feed_ping(t, s), TRANSIT_ACCEPTED);
    CU_ASSERT_EQUAL(v->status, TRANSIT_AT_STOP);
    CU_ASSERT_EQUAL(v->next_pos, 3);
    CU_ASSERT_DOUBLE_EQUAL(transit_predict(t, v, 3, v->ts), v->ts, 1e-6);
    /* By default the prediction is the estimate itself (no deliberate
     * bias) and so is the announced time; a configured display margin
     * moves only the announced time: 10 s + 10 % of the horizon early at
     * S5, never in the past at S4. */
    struct transit *td = transit_new(feed, NULL);
    struct transit_params pm;
    transit_params_default(&pm);
    pm.early_s = 10;
    pm.early_frac = 0.1;
    struct transit *tm = transit_new(feed, &pm);
    struct transit *both[] = {td, tm};
    for (int j = 0; j < 2; j++) {
        feed_ping(both[j], ping("b1", "T1", 0, 8, origin_tue + hms(7, 58, 0)));
        for (int i = 1; i <= 8; i++)
            feed_ping(both[j], ping("b1", "T1", 150.0 * i, 8, origin_tue + hms(8, 0, 30 * i)));
        CU_ASSERT_EQUAL(feed_ping(both[j], s), TRANSIT_ACCEPTED);
    }
    const struct transit_vehicle *vd = transit_vehicle_get(td, "b1");
    const struct transit_vehicle *vm = transit_vehicle_get(tm, "b1");
    double est = transit_predict(t, v, 4, v->ts), h = est - v->ts;
    CU_ASSERT_DOUBLE_EQUAL(transit_predict(td, vd, 4, vd->ts), est, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(transit_announced(td, vd, 4, vd->ts), est, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(transit_predict(tm, vm, 4, vm->ts), est, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(transit_announced(tm, vm, 4, vm->ts), est - 10 - 0.1 * h, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(transit_announced(tm, vm, 3, vm->ts), vm->ts, 1e-6);
    transit_free(td);
    transit_free(tm);
    transit_free(t);
}

static void test_noise_forward_only(void)
{
    struct transit *t = tnew();
    srand(7);
    /* A bus stopped at ~900 m for five minutes, GPS scattered 10-20 m. */
    double t0 = origin_tue + hms(8, 5, 0);
    CU_ASSERT_EQUAL(feed_ping(t, ping("n1", "T1", 850, 0, t0)), TRANSIT_ACCEPTED);
    const struct transit_vehicle *v = transit_vehicle_get(t, "n1");
    double last = v->dist_m;
    for (int i = 1; i <= 20; i++) {
        double along = (rand() % 41) - 20, north = (rand() % 2 ? 1 : -1) * (10 + rand() % 11);
        CU_ASSERT_EQUAL(feed_ping(t, ping("n1", "T1", 900 + along, north, t0 + 15 * i)),
                        TRANSIT_ACCEPTED);
        CU_ASSERT(v->dist_m >= last);
        CU_ASSERT(v->status != TRANSIT_OFF_ROUTE);
        last = v->dist_m;
    }
    CU_ASSERT(v->dist_m < 925);
    transit_free(t);
}

/* A report through a draft, as the API layer takes it: drafted, then
 * committed. */
static enum transit_result draft_ping(struct transit *t, struct gtfsrt_vehicle v,
                                      struct transit_obs *obs, size_t max_obs, size_t *n_obs)
{
    struct transit_draft *d = NULL;
    enum transit_result res = transit_draft(t, &v, (double)v.timestamp, &d, err, sizeof err);
    *n_obs = 0;
    if (res == TRANSIT_ACCEPTED)
        res = transit_draft_commit(t, d, obs, max_obs, n_obs);
    transit_draft_free(d);
    return res;
}

/* b shows vehicle id as a does: every field, to the bit, and the same
 * arrivals at every stop of its pattern. */
static void assert_same_vehicle(const struct transit *a, const struct transit *b, const char *id)
{
    const struct transit_vehicle *va = transit_vehicle_get(a, id), *vb = transit_vehicle_get(b, id);
    CU_ASSERT_PTR_NOT_NULL_FATAL(va);
    CU_ASSERT_PTR_NOT_NULL_FATAL(vb);
    CU_ASSERT_STRING_EQUAL(vb->trip_id, va->trip_id);
    CU_ASSERT_TRUE(vb->trip == va->trip && vb->route == va->route && vb->day == va->day &&
                   vb->origin == va->origin);
    CU_ASSERT_TRUE(vb->lon == va->lon && vb->lat == va->lat && vb->ts == va->ts);
    CU_ASSERT_TRUE(vb->matched == va->matched && vb->dist_m == va->dist_m &&
                   vb->off_m == va->off_m && vb->match_ts == va->match_ts);
    CU_ASSERT_TRUE(vb->next_pos == va->next_pos && vb->sched_dev_s == va->sched_dev_s &&
                   vb->status == va->status);
    CU_ASSERT_TRUE(vb->cross_pos == va->cross_pos && vb->cross_ts == va->cross_ts &&
                   vb->layover_since == va->layover_since);
    CU_ASSERT_TRUE(vb->inferred == va->inferred && vb->followed == va->followed &&
                   vb->assigned_ts == va->assigned_ts && vb->waited == va->waited &&
                   vb->left_seen == va->left_seen && vb->left_dev_s == va->left_dev_s);
    CU_ASSERT_TRUE(vb->fix_ts == va->fix_ts && vb->jump_ts == va->jump_ts &&
                   vb->jump_lon == va->jump_lon && vb->jump_lat == va->jump_lat);
    CU_ASSERT_EQUAL_FATAL(vb->n_pred, va->n_pred);
    CU_ASSERT_EQUAL(memcmp(vb->pred, va->pred, va->n_pred * sizeof *va->pred), 0);
    const struct gtfs_pattern *pt = va->trip != GTFS_NONE ? gtfs_trip_pattern(feed, va->trip) : NULL;
    struct transit_arrival ra[16], rb[16];
    for (uint32_t k = 0; pt != NULL && k < pt->n; k++) {
        size_t na = transit_arrivals(a, pt->stops[k], va->ts, 7200, ra, 16);
        size_t nb = transit_arrivals(b, pt->stops[k], va->ts, 7200, rb, 16);
        CU_ASSERT_EQUAL_FATAL(na, nb);
        for (size_t i = 0; i < na; i++)         /* (what the API prints: whole seconds) */
            CU_ASSERT_TRUE(llround(ra[i].predicted) == llround(rb[i].predicted) &&
                           ra[i].predicted == rb[i].predicted &&
                           ra[i].announced == rb[i].announced && ra[i].pos == rb[i].pos);
    }
}

/* Two registries with different histories of one bus (the second saw
 * only its last report, as a process started later does) show it alike
 * once the second adopts the first's state of that report: place,
 * status, predictions, to the bit, as the first (the taker, through a
 * draft as the API layer) holds it. The state is compact (version 1 was
 * 8 bytes a number, ~660 bytes an entry at Yantai's size). A state of
 * another report, or garbage, is not taken and changes nothing. */
static void test_state_shared(void)
{
    struct transit *a = tnew(), *b = tnew();
    double t0 = origin_tue + hms(8, 1, 0);
    struct gtfsrt_vehicle last = ping("s1", "T1", 265, 0, t0 + 20);
    struct transit_obs obs[8];
    size_t n;
    CU_ASSERT_EQUAL(draft_ping(a, ping("s1", "T1", 0, 0, origin_tue + hms(7, 59, 0)), obs, 8, &n),
                    TRANSIT_ACCEPTED);
    CU_ASSERT_EQUAL(draft_ping(a, ping("s1", "T1", 300, 0, t0), obs, 8, &n), TRANSIT_ACCEPTED);
    CU_ASSERT_EQUAL(draft_ping(a, last, obs, 8, &n), TRANSIT_ACCEPTED);
    CU_ASSERT_EQUAL(feed_ping(b, last), TRANSIT_ACCEPTED);
    const struct transit_vehicle *va = transit_vehicle_get(a, "s1"),
                                 *vb = transit_vehicle_get(b, "s1");
    CU_ASSERT(va->dist_m > vb->dist_m + 10);   /* the histories differ */
    size_t len = 0;
    char *state = transit_state_pack(a, &last, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(state);
    CU_ASSERT(va->n_pred >= 5);
    CU_ASSERT(len <= 30 + 3 * (size_t)va->n_pred);
    CU_ASSERT_EQUAL(transit_state_adopt(b, &last, state, len), 1);
    assert_same_vehicle(a, b, "s1");
    /* the next report: both go on alike */
    CU_ASSERT_EQUAL(feed_ping(a, ping("s1", "T1", 420, 0, t0 + 50)), TRANSIT_ACCEPTED);
    CU_ASSERT_EQUAL(feed_ping(b, ping("s1", "T1", 420, 0, t0 + 50)), TRANSIT_ACCEPTED);
    CU_ASSERT_EQUAL(vb->dist_m, va->dist_m);
    CU_ASSERT_EQUAL(memcmp(vb->pred, va->pred, va->n_pred * sizeof *va->pred), 0);
    /* a state of an older report, an unknown vehicle */
    double d = vb->dist_m;
    struct gtfsrt_vehicle nobody = last;
    snprintf(nobody.vehicle_id, sizeof nobody.vehicle_id, "nobody");
    CU_ASSERT_EQUAL(transit_state_adopt(b, &last, state, len), 0);
    CU_ASSERT_EQUAL(transit_state_adopt(b, &nobody, state, len), 0);
    CU_ASSERT_PTR_NULL(transit_state_pack(a, &last, &len));      /* a is past it */
    free(state);
    struct gtfsrt_vehicle cur = ping("s1", "T1", 420, 0, t0 + 50);
    state = transit_state_pack(a, &cur, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(state);
    /* anything cut short, or longer */
    for (size_t cut = 0; cut < len; cut++)
        CU_ASSERT_EQUAL(transit_state_adopt(b, &cur, state, cut), -1);
    char *longer = malloc(len + 1);
    memcpy(longer, state, len);
    longer[len] = 0;
    CU_ASSERT_EQUAL(transit_state_adopt(b, &cur, longer, len + 1), -1);
    free(longer);
    /* read with a report of a trip not in the feed */
    struct gtfsrt_vehicle other = cur;
    snprintf(other.trip_id, sizeof other.trip_id, "T1X");
    CU_ASSERT_EQUAL(transit_state_adopt(b, &other, state, len), -1);
    state[0] = 1;                                       /* another version (the old one) */
    CU_ASSERT_EQUAL(transit_state_adopt(b, &cur, state, len), -1);
    state[0] = 2;
    char *bad = malloc(len);                            /* flags no version has */
    memcpy(bad, state, len);
    bad[1] = (char)0x7f;
    bad[2] = (char)0x7f;
    CU_ASSERT_EQUAL(transit_state_adopt(b, &cur, bad, len), -1);
    free(bad);
    /* any byte changed: read or refused, never past the end, the
     * predictions always the trip's */
    for (size_t i = 0; i < len; i++)
        for (int x = 0; x < 256; x += 17) {
            char *m = malloc(len);
            memcpy(m, state, len);
            m[i] = (char)x;
            struct transit *c = tnew();
            feed_ping(c, cur);
            int rc = transit_state_adopt(c, &cur, m, len);
            CU_ASSERT(rc == -1 || rc == 1);
            const struct transit_vehicle *vc = transit_vehicle_get(c, "s1");
            CU_ASSERT(rc != 1 || vc->n_pred == (vc->trip != GTFS_NONE
                                                    ? gtfs_trip_pattern(feed, vc->trip)->n
                                                    : 0));
            transit_free(c);
            free(m);
        }
    CU_ASSERT_EQUAL(vb->dist_m, d);
    free(state);
    transit_free(a);
    transit_free(b);
}

/* The rarer parts of a state: a trip the process inferred (the report
 * names none), and a fix held as an implausible jump (the bus is shown
 * where it was, not at the report's place). Both carried, both adopted. */
static void test_state_inferred_and_jump(void)
{
    struct transit *a = tnew(), *b = tnew(), *c = tnew(), *d = tnew();
    double t0 = origin_tue + hms(8, 1, 0);
    struct transit_obs obs[8];
    size_t n, len;
    /* inferred: no trip id */
    struct gtfsrt_vehicle r = ping("i1", "T1", 200, 0, t0), r2 = ping("i1", "T1", 500, 0, t0 + 40);
    r.trip_id[0] = r2.trip_id[0] = '\0';
    CU_ASSERT_EQUAL(draft_ping(a, r, obs, 8, &n), TRANSIT_ACCEPTED);
    CU_ASSERT_EQUAL(draft_ping(a, r2, obs, 8, &n), TRANSIT_ACCEPTED);
    const struct transit_vehicle *va = transit_vehicle_get(a, "i1");
    CU_ASSERT_TRUE(va->inferred && va->trip != GTFS_NONE);
    CU_ASSERT_EQUAL(feed_ping(b, r2), TRANSIT_ACCEPTED);
    char *state = transit_state_pack(a, &r2, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(state);
    CU_ASSERT_EQUAL(transit_state_adopt(b, &r2, state, len), 1);
    assert_same_vehicle(a, b, "i1");
    free(state);
    /* a jump held: 1.3 km on in 20 s */
    struct gtfsrt_vehicle j = ping("j1", "T1", 1500, 0, t0 + 20);
    CU_ASSERT_EQUAL(draft_ping(c, ping("j1", "T1", 200, 0, t0), obs, 8, &n), TRANSIT_ACCEPTED);
    CU_ASSERT_EQUAL(draft_ping(c, j, obs, 8, &n), TRANSIT_ACCEPTED);
    const struct transit_vehicle *vc = transit_vehicle_get(c, "j1");
    CU_ASSERT_TRUE(vc->jump_ts > 0 && vc->lon != j.lon);
    CU_ASSERT_EQUAL(feed_ping(d, j), TRANSIT_ACCEPTED);
    state = transit_state_pack(c, &j, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(state);
    CU_ASSERT_EQUAL(transit_state_adopt(d, &j, state, len), 1);
    assert_same_vehicle(c, d, "j1");
    CU_ASSERT_DOUBLE_EQUAL(transit_vehicle_get(d, "j1")->dist_m, 200, 3);
    free(state);
    transit_free(a);
    transit_free(b);
    transit_free(c);
    transit_free(d);
}

/* transit_draft works out what ingesting a report would leave, and
 * changes nothing: the vehicle's state stays, a new vehicle is not
 * added; committed, the draft leaves that very state, unless the vehicle
 * has had as new a report meanwhile. */
static void test_draft(void)
{
    struct transit *a = tnew();
    double t0 = origin_tue + hms(8, 1, 0);
    CU_ASSERT_EQUAL(feed_ping(a, ping("p1", "T1", 0, 0, origin_tue + hms(7, 59, 0))),
                    TRANSIT_ACCEPTED);
    struct gtfsrt_vehicle r0 = ping("p1", "T1", 300, 0, t0);
    CU_ASSERT_EQUAL(feed_ping(a, r0), TRANSIT_ACCEPTED);
    const struct transit_vehicle *v = transit_vehicle_get(a, "p1");
    const struct gtfs_pattern *pt = pattern("T1");
    CU_ASSERT_FATAL(v->next_pos < pt->n);
    /* short of the next stop: the report teaches nothing */
    struct gtfsrt_vehicle r = ping("p1", "T1", pt->dist_m[v->next_pos] - 30, 0, t0 + 20);
    size_t n0 = 0, n1 = 0, np = 0, k = 0;
    struct transit_draft *d = NULL, *dn = NULL, *dold = NULL;
    struct transit_obs obs[4];
    char *before = transit_state_pack(a, &r0, &n0);
    CU_ASSERT_EQUAL(transit_draft(a, &r, t0 + 20, &d, err, sizeof err), TRANSIT_ACCEPTED);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    const void *pre = transit_draft_state(d, &np);
    char *after = transit_state_pack(a, &r0, &n1);
    CU_ASSERT_TRUE(n0 == n1 && memcmp(before, after, n0) == 0);
    CU_ASSERT_FALSE(np == n0 && memcmp(pre, before, np) == 0);
    struct gtfsrt_vehicle other = ping("p2", "T1", 100, 0, t0);
    CU_ASSERT_EQUAL(transit_draft(a, &other, t0, &dn, err, sizeof err), TRANSIT_ACCEPTED);
    CU_ASSERT_PTR_NOT_NULL(dn);
    CU_ASSERT_PTR_NULL(transit_vehicle_get(a, "p2"));
    CU_ASSERT_EQUAL(transit_vehicle_count(a), 1);
    transit_draft_free(dn);             /* (its write failed) */
    CU_ASSERT_EQUAL(transit_vehicle_count(a), 1);
    /* a draft of an older report, drafted before r was applied */
    struct gtfsrt_vehicle older = ping("p1", "T1", pt->dist_m[v->next_pos] - 60, 0, t0 + 10);
    CU_ASSERT_EQUAL(transit_draft(a, &older, t0 + 10, &dold, err, sizeof err), TRANSIT_ACCEPTED);
    CU_ASSERT_EQUAL(transit_draft_commit(a, d, obs, 4, &k), TRANSIT_ACCEPTED);
    CU_ASSERT_EQUAL(k, 0);
    free(after);
    after = transit_state_pack(a, &r, &n1);
    CU_ASSERT_TRUE(n1 == np && memcmp(after, pre, np) == 0);
    CU_ASSERT_EQUAL(transit_draft_commit(a, dold, obs, 4, &k), TRANSIT_OUTDATED);
    free(after);
    after = transit_state_pack(a, &r, &n1);
    CU_ASSERT_TRUE(n1 == np && memcmp(after, pre, np) == 0);
    /* an outdated report has no draft */
    struct transit_draft *none = d;
    CU_ASSERT_EQUAL(transit_draft(a, &r, t0 + 20, &none, err, sizeof err), TRANSIT_OUTDATED);
    CU_ASSERT_PTR_NULL(none);
    transit_draft_free(d);
    transit_draft_free(dold);
    free(before);
    free(after);
    transit_free(a);
}

/* Through drafts a registry learns what it learns from transit_ingest:
 * the same traversals, the same estimators (a new bus is then predicted
 * alike to the bit). */
static void test_draft_learns(void)
{
    struct transit *a = tnew(), *b = tnew();
    const struct gtfs_pattern *pt = pattern("T1");
    struct transit_obs oa[8], ob[8];
    size_t na = 0, nb = 0, n;
    double t0 = origin_tue + hms(8, 0, 0);
    for (int i = 0; i <= 9; i++) {
        double d = fmin(200.0 * i, pt->line->length_m - 1);
        struct gtfsrt_vehicle v = ping("a", "T1", d, 0, t0 + d / 10);
        CU_ASSERT_EQUAL(transit_ingest(a, &v, t0 + d / 10, oa + na, 8 - na, &n, err, sizeof err),
                        TRANSIT_ACCEPTED);
        na += n;
        CU_ASSERT_EQUAL(draft_ping(b, v, ob + nb, 8 - nb, &n), TRANSIT_ACCEPTED);
        nb += n;
    }
    CU_ASSERT_EQUAL_FATAL(na, 5);               /* a departure, four traversals */
    CU_ASSERT_EQUAL_FATAL(nb, na);
    CU_ASSERT_EQUAL(memcmp(oa, ob, na * sizeof *oa), 0);
    struct gtfsrt_vehicle c = ping("c", "T1", pt->dist_m[1] + 30, 0, t0 + hms(0, 30, 0));
    CU_ASSERT_EQUAL(feed_ping(a, c), TRANSIT_ACCEPTED);
    CU_ASSERT_EQUAL(feed_ping(b, c), TRANSIT_ACCEPTED);
    const struct transit_vehicle *ca = transit_vehicle_get(a, "c"), *cb = transit_vehicle_get(b, "c");
    CU_ASSERT_EQUAL_FATAL(ca->n_pred, cb->n_pred);
    CU_ASSERT(transit_predict(a, ca, 4, ca->ts) > 0);
    CU_ASSERT_EQUAL(memcmp(ca->pred, cb->pred, ca->n_pred * sizeof *ca->pred), 0);
    transit_free(a);
    transit_free(b);
}

static void test_detour(void)
{
    struct transit *t = tnew();
    double t0 = origin_tue + hms(8, 4, 0);
    CU_ASSERT_EQUAL(feed_ping(t, ping("d1", "T1", 800, 0, t0)), TRANSIT_ACCEPTED);
    const struct transit_vehicle *v = transit_vehicle_get(t, "d1");
    CU_ASSERT_EQUAL(v->status, TRANSIT_IN_TRANSIT);
    /* One block north of the street: off route, place kept. */
    CU_ASSERT_EQUAL(feed_ping(t, ping("d1", "T1", 950, 250, t0 + 30)), TRANSIT_ACCEPTED);
    CU_ASSERT_EQUAL(v->status, TRANSIT_OFF_ROUTE);
    CU_ASSERT_DOUBLE_EQUAL(v->dist_m, 800, 2);
    CU_ASSERT(transit_predict(t, v, 4, t0 + 30) > 0);      /* still predicted */
    CU_ASSERT_EQUAL(feed_ping(t, ping("d1", "T1", 1050, 70, t0 + 60)), TRANSIT_ACCEPTED);
    CU_ASSERT_EQUAL(v->status, TRANSIT_OFF_ROUTE);            /* just beyond the gate */
    /* Back on the street further on: recovered. */
    CU_ASSERT_EQUAL(feed_ping(t, ping("d1", "T1", 1150, 10, t0 + 90)), TRANSIT_ACCEPTED);
    CU_ASSERT_EQUAL(v->status, TRANSIT_IN_TRANSIT);
    CU_ASSERT_DOUBLE_EQUAL(v->dist_m, 1150, 3);
    transit_free(t);
}

/* A fix implausibly far from the previous one (faster than a bus goes)
 * is not believed until the next fix confirms it. */
static void test_jump_filter(void)
{
    struct transit *t = tnew();
    double t0 = origin_tue + hms(8, 1, 0);
    CU_ASSERT_EQUAL(feed_ping(t, ping("j1", "T1", 200, 0, t0)), TRANSIT_ACCEPTED);
    const struct transit_vehicle *v = transit_vehicle_get(t, "j1");
    /* A detour a block north for two and a half minutes. */
    for (int i = 1; i <= 5; i++)
        feed_ping(t, ping("j1", "T1", 200 + 20 * i, 250, t0 + 30 * i));
    CU_ASSERT_EQUAL(v->status, TRANSIT_OFF_ROUTE);
    double p5 = transit_predict(t, v, 4, t0 + 150);
    CU_ASSERT(p5 > 0);
    /* 20 s later a fix on the line 1.2 km on (61 m/s): held, the bus is
     * still where it was, predictions unchanged. */
    CU_ASSERT_EQUAL(feed_ping(t, ping("j1", "T1", 1500, 0, t0 + 170)), TRANSIT_ACCEPTED);
    CU_ASSERT_DOUBLE_EQUAL(v->dist_m, 200, 3);
    CU_ASSERT_DOUBLE_EQUAL(transit_predict(t, v, 4, t0 + 170), p5, 1e-6);
    /* The next fix is back on the detour: the jump was noise. */
    CU_ASSERT_EQUAL(feed_ping(t, ping("j1", "T1", 320, 250, t0 + 200)), TRANSIT_ACCEPTED);
    CU_ASSERT_DOUBLE_EQUAL(v->dist_m, 200, 3);
    /* A jump confirmed by the fix after it is taken. */
    CU_ASSERT_EQUAL(feed_ping(t, ping("j1", "T1", 1500, 0, t0 + 220)), TRANSIT_ACCEPTED);
    CU_ASSERT_DOUBLE_EQUAL(v->dist_m, 200, 3);
    CU_ASSERT_EQUAL(feed_ping(t, ping("j1", "T1", 1560, 0, t0 + 235)), TRANSIT_ACCEPTED);
    CU_ASSERT_DOUBLE_EQUAL(v->dist_m, 1560, 3);
    CU_ASSERT_EQUAL(v->status, TRANSIT_IN_TRANSIT);
    transit_free(t);
}

/* A bus waiting at a stop down the line before its trip has started is
 * laying over there, not running early: it leaves at its time there. */
static void test_layover_down_the_line(void)
{
    struct transit *t = tnew();
    const struct gtfs_pattern *pt = pattern("T1");
    /* At S3 (due 08:06) at 07:52, stopped, ten minutes before T1 starts. */
    struct gtfsrt_vehicle w = ping("l1", "T1", pt->dist_m[2] + 3, 5, origin_tue + hms(7, 52, 0));
    w.speed = 0;
    CU_ASSERT_EQUAL(feed_ping(t, w), TRANSIT_ACCEPTED);
    w.timestamp += 60;
    CU_ASSERT_EQUAL(feed_ping(t, w), TRANSIT_ACCEPTED);
    const struct transit_vehicle *v = transit_vehicle_get(t, "l1");
    CU_ASSERT_EQUAL(v->status, TRANSIT_LAYOVER);
    CU_ASSERT_EQUAL(v->next_pos, 2);
    CU_ASSERT_DOUBLE_EQUAL(v->sched_dev_s, 0, 1e-9);
    double now = (double)w.timestamp;
    CU_ASSERT_DOUBLE_EQUAL(transit_predict(t, v, 2, now), origin_tue + hms(8, 6, 0), 1);
    /* S5 (08:12) after it, not minutes before S3's time. */
    double p5 = transit_predict(t, v, 4, now);
    CU_ASSERT(p5 > origin_tue + hms(8, 6, 0) && p5 < origin_tue + hms(8, 16, 0));
    /* Once it moves on it is running, from its place. */
    CU_ASSERT_EQUAL(feed_ping(t, ping("l1", "T1", pt->dist_m[2] + 200, 5,
                                      origin_tue + hms(8, 6, 30))), TRANSIT_ACCEPTED);
    CU_ASSERT_EQUAL(v->status, TRANSIT_IN_TRANSIT);
    transit_free(t);
}

static void test_loop_resolved_by_schedule(void)
{
    struct transit *t = tnew();
    const struct gtfs_pattern *pt = pattern("L1");
    /* The out and back legs are ~11 m apart: a position between them
     * matches both; the timetable decides. LB (outbound) is due at 09:03,
     * LD (inbound, same spot across the street) at 09:11. */
    double d_out = pt->dist_m[1], d_back = pt->dist_m[3];
    CU_ASSERT(d_back - d_out > 800);
    struct gtfsrt_vehicle a = ping("o1", "L1", d_out, 5, origin_mon + hms(9, 3, 0));
    struct gtfsrt_vehicle b = a;
    snprintf(b.vehicle_id, sizeof b.vehicle_id, "o2");
    b.timestamp = (uint64_t)(origin_mon + hms(9, 11, 0));
    /* o2 is on the same trip: give it its own run of L1 a week later (a
     * Saturday), to keep one vehicle per trip and day. */
    strcpy(b.start_date, "20260221");
    b.timestamp = (uint64_t)((double)gtfs_day_origin(feed, tz_days_from_civil(2026, 2, 21)) +
                             hms(9, 11, 0));
    CU_ASSERT_EQUAL(feed_ping(t, a), TRANSIT_ACCEPTED);
    size_t n;
    CU_ASSERT_EQUAL(transit_ingest(t, &b, (double)b.timestamp, NULL, 0, &n, err, sizeof err),
                    TRANSIT_ACCEPTED);
    const struct transit_vehicle *va = transit_vehicle_get(t, "o1");
    const struct transit_vehicle *vb = transit_vehicle_get(t, "o2");
    CU_ASSERT_DOUBLE_EQUAL(va->dist_m, d_out, 15);
    CU_ASSERT_DOUBLE_EQUAL(vb->dist_m, d_back, 15);
    CU_ASSERT_EQUAL(va->next_pos, 1);
    CU_ASSERT_EQUAL(vb->next_pos, 3);
    /* Moving on, o1 stays on the outbound leg (forward-only from its place). */
    CU_ASSERT_EQUAL(feed_ping(t, ping("o1", "L1", d_out + 200, 5, origin_mon + hms(9, 4, 0))),
                    TRANSIT_ACCEPTED);
    CU_ASSERT_DOUBLE_EQUAL(va->dist_m, d_out + 200, 15);
    transit_free(t);
}

static void test_stale_and_arrivals(void)
{
    struct transit *t = tnew();
    double t0 = origin_tue + hms(8, 1, 0);
    CU_ASSERT_EQUAL(feed_ping(t, ping("s1", "T1", 300, 0, t0)), TRANSIT_ACCEPTED);
    const struct transit_vehicle *v = transit_vehicle_get(t, "s1");
    uint32_t s3 = gtfs_stop_find(feed, "S3");
    struct transit_arrival rows[16];
    /* At 08:01 looking 30 min ahead at S3: T1 (live, 08:06 scheduled) and
     * T2 (08:26, timetable only). */
    size_t n = transit_arrivals(t, s3, t0, 1800, rows, 16);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_STRING_EQUAL(feed->trips[rows[0].trip].id, "T1");
    CU_ASSERT_PTR_EQUAL(rows[0].vehicle, v);
    CU_ASSERT(rows[0].predicted > t0);
    CU_ASSERT_DOUBLE_EQUAL(rows[0].scheduled, origin_tue + hms(8, 6, 0), 1e-6);
    CU_ASSERT_STRING_EQUAL(feed->trips[rows[1].trip].id, "T2");
    CU_ASSERT_PTR_NULL(rows[1].vehicle);
    CU_ASSERT_EQUAL(rows[1].predicted, 0);
    CU_ASSERT_EQUAL(rows[1].pos, 2);
    /* Silent for longer than stale_after_s: stale, no prediction. */
    double later = t0 + 91;
    CU_ASSERT_EQUAL(transit_vehicle_status(t, v, t0 + 90), TRANSIT_IN_TRANSIT);
    CU_ASSERT_EQUAL(transit_vehicle_status(t, v, later), TRANSIT_STALE);
    CU_ASSERT_EQUAL(transit_predict(t, v, 4, later), 0);
    n = transit_arrivals(t, s3, later, 1800, rows, 16);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_PTR_NULL(rows[0].vehicle);
    CU_ASSERT_EQUAL(rows[0].predicted, 0);
    /* On Monday the 16th WK does not run (calendar_dates): no rows. */
    CU_ASSERT_EQUAL(transit_arrivals(t, s3, origin_mon + hms(8, 1, 0), 1800, rows, 16), 0);
    /* Just after midnight: T3 of the day before at 24:02. */
    n = transit_arrivals(t, s3, origin_tue + hms(23, 59, 0), 1800, rows, 16);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT_STRING_EQUAL(feed->trips[rows[0].trip].id, "T3");
    CU_ASSERT_DOUBLE_EQUAL(rows[0].scheduled, origin_tue + hms(24, 2, 0), 1e-6);
    transit_free(t);
}

/* Long-silent vehicles are forgotten: gone from lookups, arrivals and
 * the trip index; the others untouched; the same id starts afresh. */
static void test_evict(void)
{
    struct transit *t = tnew();
    double t0 = origin_tue + hms(8, 1, 0);
    CU_ASSERT_EQUAL(feed_ping(t, ping("e1", "T1", 300, 0, t0)), TRANSIT_ACCEPTED);
    CU_ASSERT_EQUAL(feed_ping(t, ping("e2", "T2", 300, 0, t0 + 600)), TRANSIT_ACCEPTED);
    CU_ASSERT_EQUAL(transit_vehicle_count(t), 2);
    CU_ASSERT_EQUAL(transit_evict(t, t0), 0);               /* strictly older only */
    CU_ASSERT_EQUAL(transit_evict(t, t0 + 1), 1);
    CU_ASSERT_EQUAL(transit_vehicle_count(t), 1);
    CU_ASSERT_PTR_NULL(transit_vehicle_get(t, "e1"));
    CU_ASSERT_PTR_NOT_NULL(transit_vehicle_get(t, "e2"));
    struct transit_arrival rows[16];
    uint32_t s3 = gtfs_stop_find(feed, "S3");
    size_t n = transit_arrivals(t, s3, t0 + 1, 1800, rows, 16);
    for (size_t i = 0; i < n; i++)
        if (strcmp(feed->trips[rows[i].trip].id, "T1") == 0)
            CU_ASSERT_PTR_NULL(rows[i].vehicle);            /* T1 has no bus any more */
    /* an earlier report of the forgotten id is new again */
    CU_ASSERT_EQUAL(feed_ping(t, ping("e1", "T1", 300, 0, t0 - 30)), TRANSIT_ACCEPTED);
    CU_ASSERT_EQUAL(transit_vehicle_count(t), 2);
    CU_ASSERT_EQUAL(transit_evict(t, t0 + 3600), 2);
    CU_ASSERT_EQUAL(transit_vehicle_count(t), 0);
    transit_free(t);
}

static void test_bad_input(void)
{
    struct transit *t = tnew();
    double t0 = origin_tue + hms(8, 1, 0);
    size_t n;
    struct gtfsrt_vehicle v = ping("x1", "T1", 300, 0, t0);
    CU_ASSERT_EQUAL(transit_ingest(t, &v, t0, NULL, 0, &n, err, sizeof err), TRANSIT_ACCEPTED);
    const struct transit_vehicle *tv = transit_vehicle_get(t, "x1");
    double d = tv->dist_m;
    struct gtfsrt_vehicle bad = ping("x1", "T1", 600, 0, t0 + 30);
    bad.lat = bad.lon = 0;
    CU_ASSERT_EQUAL(transit_ingest(t, &bad, t0 + 30, NULL, 0, &n, err, sizeof err),
                    TRANSIT_REJECTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "(0, 0)"));
    bad = ping("x1", "T1", 600, 0, t0 + 30);
    bad.lat = 91;
    CU_ASSERT_EQUAL(transit_ingest(t, &bad, t0 + 30, NULL, 0, &n, err, sizeof err),
                    TRANSIT_REJECTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "vehicle.position"));
    bad = ping("x1", "T1", 600, 0, t0 + 3600);
    CU_ASSERT_EQUAL(transit_ingest(t, &bad, t0 + 30, NULL, 0, &n, err, sizeof err),
                    TRANSIT_REJECTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "future"));
    bad = ping("x1", "T1", 600, 0, t0 + 30);
    strcpy(bad.trip_id, "NOPE");
    CU_ASSERT_EQUAL(transit_ingest(t, &bad, t0 + 30, NULL, 0, &n, err, sizeof err),
                    TRANSIT_REJECTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "vehicle.trip.trip_id"));
    bad = ping("x1", "T1", 600, 0, t0 + 30);
    strcpy(bad.route_id, "R2");
    CU_ASSERT_EQUAL(transit_ingest(t, &bad, t0 + 30, NULL, 0, &n, err, sizeof err),
                    TRANSIT_REJECTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "vehicle.trip.route_id"));
    bad = ping("x1", "T1", 600, 0, t0 + 30);
    strcpy(bad.error, "vehicle.position.latitude: must be a number");
    CU_ASSERT_EQUAL(transit_ingest(t, &bad, t0 + 30, NULL, 0, &n, err, sizeof err),
                    TRANSIT_REJECTED);
    CU_ASSERT_STRING_EQUAL(err, "vehicle.position.latitude: must be a number");
    /* Not newer than the state: outdated, ignored. */
    bad = ping("x1", "T1", 900, 0, t0);
    CU_ASSERT_EQUAL(transit_ingest(t, &bad, t0 + 30, NULL, 0, &n, err, sizeof err),
                    TRANSIT_OUTDATED);
    /* None of it changed anything. */
    CU_ASSERT_DOUBLE_EQUAL(tv->dist_m, d, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(tv->ts, t0, 1e-9);
    CU_ASSERT_EQUAL(transit_vehicle_count(t), 1);
    /* A vehicle without a trip, and no trip anywhere near it (a block
     * north of every line), is kept as a position only. */
    struct gtfsrt_vehicle free_bus = ping("x2", "T1", 100, 1000, t0);
    free_bus.trip_id[0] = '\0';
    CU_ASSERT_EQUAL(transit_ingest(t, &free_bus, t0, NULL, 0, &n, err, sizeof err),
                    TRANSIT_ACCEPTED);
    CU_ASSERT_EQUAL(transit_vehicle_get(t, "x2")->trip, GTFS_NONE);
    CU_ASSERT_EQUAL(transit_predict(t, transit_vehicle_get(t, "x2"), 0, t0), 0);
    transit_free(t);
}

/* Reports that come from elsewhere than the decoders (the Redis copy an
 * older cityd wrote, at restore) obey the same rules as decoded ones:
 * strings valid UTF-8, plausible numbers, a start_date near the report. */
static void test_checks_any_source(void)
{
    struct transit *t = tnew();
    double t0 = origin_tue + hms(8, 1, 0);
    struct gtfsrt_vehicle v[8];
    for (int i = 0; i < 8; i++)
        v[i] = ping("c1", "T1", 300, 0, t0);
    strcpy(v[0].vehicle_id, "bus-\xff");
    strcpy(v[1].label, "\xc0\xaf");
    strcpy(v[2].entity_id, "e\xed\xa0\x80");
    v[3].speed = 1e30;
    v[4].speed = -2;
    v[5].bearing = 400;
    v[6].lon = INFINITY;
    strcpy(v[7].start_date, "99991231");
    static const char *const field[] = {"vehicle.vehicle.id", "vehicle.vehicle.label", "id",
                                        "vehicle.position.speed", "vehicle.position.speed",
                                        "vehicle.position.bearing", "vehicle.position",
                                        "vehicle.trip.start_date"};
    for (int i = 0; i < 8; i++) {
        err[0] = '\0';
        CU_ASSERT_EQUAL(transit_restore(t, &v[i], t0, err, sizeof err), TRANSIT_REJECTED);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, field[i]));
        err[0] = '\0';
        CU_ASSERT_EQUAL(transit_check(t, &v[i], t0, err, sizeof err), TRANSIT_REJECTED);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, field[i]));
    }
    CU_ASSERT_EQUAL(transit_vehicle_count(t), 0);
    /* The service day before (a trip past midnight) is fine. */
    struct gtfsrt_vehicle ok = ping("c1", "T1", 300, 0, t0);
    strcpy(ok.start_date, "20260216");
    CU_ASSERT_EQUAL(transit_restore(t, &ok, t0, err, sizeof err), TRANSIT_ACCEPTED);
    transit_free(t);
}

/* Issue 12, defect 5: the registry holds at most max_vehicles; a new
 * vehicle beyond is rejected, known ones keep updating, places held by
 * vehicles in flight count (transit_admit), forgetting makes room, and a
 * report already older than forget_after_s is refused. */
static void test_registry_cap(void)
{
    struct transit_params p;
    transit_params_default(&p);
    CU_ASSERT_EQUAL(p.max_vehicles, 20000);
    p.max_vehicles = 2;
    struct transit *t = transit_new(feed, &p);
    double t0 = origin_tue + hms(8, 1, 0);
    CU_ASSERT_EQUAL(feed_ping(t, ping("a", "T1", 300, 0, t0)), TRANSIT_ACCEPTED);
    CU_ASSERT_EQUAL(transit_admit(t, "b", 1, err, sizeof err), -1);     /* one in flight */
    CU_ASSERT_EQUAL(transit_admit(t, "a", 5, err, sizeof err), 0);      /* known */
    CU_ASSERT_EQUAL(transit_admit(t, "b", 0, err, sizeof err), 0);
    CU_ASSERT_EQUAL(feed_ping(t, ping("b", "T2", 300, 0, t0)), TRANSIT_ACCEPTED);
    struct gtfsrt_vehicle c = ping("c", "T3", 300, 0, t0);
    CU_ASSERT_EQUAL(transit_check(t, &c, t0, err, sizeof err), TRANSIT_REJECTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "max_vehicles"));
    CU_ASSERT_EQUAL(feed_ping(t, c), TRANSIT_REJECTED);
    CU_ASSERT_EQUAL(transit_restore(t, &c, t0, err, sizeof err), TRANSIT_REJECTED);
    CU_ASSERT_EQUAL(transit_vehicle_count(t), 2);
    CU_ASSERT_PTR_NULL(transit_vehicle_get(t, "c"));
    CU_ASSERT_EQUAL(feed_ping(t, ping("a", "T1", 450, 0, t0 + 30)), TRANSIT_ACCEPTED);
    /* b forgotten: c fits. */
    CU_ASSERT_EQUAL(transit_evict(t, t0 + 1), 1);
    CU_ASSERT_EQUAL(feed_ping(t, ping("c", "T3", 300, 0, t0 + 60)), TRANSIT_ACCEPTED);
    /* Older than forget_after_s (a day) behind now: it would be forgotten
     * at the next sweep, and is refused (and never restored). */
    transit_evict(t, t0 + 3600);
    struct gtfsrt_vehicle old = ping("d", "T1", 300, 0, t0);
    size_t n;
    CU_ASSERT_EQUAL(transit_ingest(t, &old, t0 + 86401, NULL, 0, &n, err, sizeof err),
                    TRANSIT_REJECTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "vehicle.timestamp"));
    CU_ASSERT_EQUAL(transit_restore(t, &old, t0 + 86401, err, sizeof err), TRANSIT_REJECTED);
    CU_ASSERT_EQUAL(transit_restore(t, &old, t0 + 86399, err, sizeof err), TRANSIT_ACCEPTED);
    transit_free(t);
}

/* Segment times are learned from buses that traverse stop pairs and used
 * for the next bus: observations come out of ingest, and transit_observe
 * feeds the same estimator. */
static void test_learning(void)
{
    struct transit *t = tnew();
    const struct gtfs_pattern *pt = pattern("T1");
    struct transit_obs obs[8];
    size_t n, total = 0;
    /* Bus A on T1 at a steady 10 m/s from the first stop, one report
     * every 20 s (200 m): each segment (~441 m) takes ~44 s. */
    double t0 = origin_tue + hms(8, 0, 0);
    for (int i = 0; i <= 9; i++) {
        double d = fmin(200.0 * i, pt->line->length_m - 1);
        struct gtfsrt_vehicle v = ping("a", "T1", d, 0, t0 + d / 10);
        CU_ASSERT_EQUAL(transit_ingest(t, &v, t0 + d / 10, obs + total, 8 - total, &n, err,
                                       sizeof err), TRANSIT_ACCEPTED);
        total += n;
    }
    /* It starts in layover at S1 and leaves on time (a departure: it
     * passes 25 m at 08:00:02.5, having waited since 08:00), then reaches
     * S2..S5: four traversals (S1-S2 timed from the departure, 25 m on,
     * to 10 m before S2, the others from 10 m before one stop to 10 m
     * before the next). */
    CU_ASSERT_EQUAL_FATAL(total, 5);
    CU_ASSERT_EQUAL(obs[0].kind, TRANSIT_OBS_DEPARTURE);
    CU_ASSERT_STRING_EQUAL(obs[0].from_stop, "S1");
    CU_ASSERT_DOUBLE_EQUAL(obs[0].late_s, 2.5, 0.5);
    CU_ASSERT_DOUBLE_EQUAL(obs[0].duration_s, 2.5, 0.5);
    static const char *from[] = {"S1", "S2", "S3", "S4"}, *to[] = {"S2", "S3", "S4", "S5"};
    for (int k = 0; k < 4; k++) {
        const struct transit_obs *o = &obs[k + 1];
        CU_ASSERT_EQUAL(o->kind, TRANSIT_OBS_SEGMENT);
        CU_ASSERT_STRING_EQUAL(o->from_stop, from[k]);
        CU_ASSERT_STRING_EQUAL(o->to_stop, to[k]);
        double seg = pt->dist_m[k + 1] - pt->dist_m[k] - (k == 0 ? 35 : 0);
        CU_ASSERT_DOUBLE_EQUAL(o->duration_s, seg / 10, 2);
    }

    /* Bus B on T3 (same stops, timetable 6 min per segment) right after:
     * its S3 -> S4 time follows what A did, not the timetable. */
    struct transit *t2 = tnew();
    double late = origin_tue + hms(23, 50, 0);
    for (int i = 0; i < 8; i++) {
        struct transit_obs o = {.kind = TRANSIT_OBS_SEGMENT, .from_stop = "S3", .to_stop = "S4",
                                .sched_s = 360, .ts = late + hms(0, 4, 0) + 60 * i,
                                .duration_s = 50};
        transit_observe(t2, &o);
    }
    struct gtfsrt_vehicle b = ping("b", "T3", pt->dist_m[2] + 30, 0, late + hms(0, 12, 0));
    CU_ASSERT_EQUAL(transit_ingest(t2, &b, (double)b.timestamp, NULL, 0, &n, err, sizeof err),
                    TRANSIT_ACCEPTED);
    const struct transit_vehicle *vb = transit_vehicle_get(t2, "b");
    double eta = transit_predict(t2, vb, 3, vb->ts) - vb->ts;
    CU_ASSERT(eta > 10 && eta < 90);
    /* S4 -> S5 was never observed: the timetable (6 min) scaled by the
     * route's pace, which nothing has measured on R1 in t2 yet. */
    double eta5 = transit_predict(t2, vb, 4, vb->ts) - transit_predict(t2, vb, 3, vb->ts);
    CU_ASSERT_DOUBLE_EQUAL(eta5, 360, 1);
    transit_free(t2);
    transit_free(t);
}

static void test_trip_updates(void)
{
    struct transit *t = tnew();
    double t0 = origin_tue + hms(8, 2, 0);
    CU_ASSERT_EQUAL(feed_ping(t, ping("u1", "T1", 500, 0, t0)), TRANSIT_ACCEPTED);
    struct gtfsrt_header h;
    struct gtfsrt_trip_update tu[4];
    struct gtfsrt_stop_time st[32];
    size_t n = transit_trip_updates(t, t0 + 10, true, &h, tu, 4, st, 32);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT_EQUAL(h.timestamp, (uint64_t)(t0 + 10));
    CU_ASSERT_STRING_EQUAL(tu[0].trip_id, "T1");
    CU_ASSERT_STRING_EQUAL(tu[0].vehicle_id, "u1");
    CU_ASSERT_STRING_EQUAL(tu[0].start_date, "20260217");
    CU_ASSERT_EQUAL_FATAL(tu[0].n, 3);                 /* S3, S4, S5 */
    CU_ASSERT_EQUAL(tu[0].stops[0].stop_sequence, 30);
    CU_ASSERT_STRING_EQUAL(tu[0].stops[0].stop_id, "S3");
    for (size_t k = 1; k < tu[0].n; k++)
        CU_ASSERT(tu[0].stops[k].arrival_time >= tu[0].stops[k - 1].arrival_time);
    CU_ASSERT_EQUAL(tu[0].stops[2].arrival_delay,
                    tu[0].stops[2].arrival_time - (int64_t)(origin_tue + hms(8, 12, 0)));
    /* An earlier `now` never moves the header back. */
    n = transit_trip_updates(t, t0 - 100, true, &h, tu, 4, st, 32);
    CU_ASSERT_EQUAL(h.timestamp, (uint64_t)(t0 + 10));
    /* A reader's later `now` (at=) shows there, and is not remembered. */
    transit_trip_updates(t, t0 + 1e6, false, &h, tu, 4, st, 32);
    CU_ASSERT_EQUAL(h.timestamp, (uint64_t)(t0 + 1e6));
    transit_trip_updates(t, t0 + 11, true, &h, tu, 4, st, 32);
    CU_ASSERT_EQUAL(h.timestamp, (uint64_t)(t0 + 11));
    /* Stale vehicles are left out. */
    n = transit_trip_updates(t, t0 + 200, true, &h, tu, 4, st, 32);
    CU_ASSERT_EQUAL(n, 0);
    transit_free(t);
}

int suite_transit(void)
{
    CU_pSuite s = CU_add_suite("transit", setup, teardown);
    if (s == NULL)
        return -1;
    if (!CU_add_test(s, "layover_then_progress", test_layover_then_progress) ||
        !CU_add_test(s, "noise_forward_only", test_noise_forward_only) ||
        !CU_add_test(s, "detour", test_detour) ||
        !CU_add_test(s, "a registry adopts another's state of a report", test_state_shared) ||
        !CU_add_test(s, "a state carries an inferred trip and a held jump",
                     test_state_inferred_and_jump) ||
        !CU_add_test(s, "a draft changes nothing and is what its commit leaves", test_draft) ||
        !CU_add_test(s, "through drafts a registry learns as through ingest",
                     test_draft_learns) ||
        !CU_add_test(s, "implausible jumps held until confirmed", test_jump_filter) ||
        !CU_add_test(s, "layover at a stop down the line", test_layover_down_the_line) ||
        !CU_add_test(s, "loop_resolved_by_schedule", test_loop_resolved_by_schedule) ||
        !CU_add_test(s, "stale_and_arrivals", test_stale_and_arrivals) ||
        !CU_add_test(s, "long-silent vehicles forgotten", test_evict) ||
        !CU_add_test(s, "bad_input", test_bad_input) ||
        !CU_add_test(s, "checks_any_source", test_checks_any_source) ||
        !CU_add_test(s, "registry_cap", test_registry_cap) ||
        !CU_add_test(s, "learning", test_learning) ||
        !CU_add_test(s, "trip_updates", test_trip_updates))
        return -1;
    return 0;
}
