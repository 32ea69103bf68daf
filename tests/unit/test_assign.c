/* test_assign.c -- trip assignment for reports without a trip id, over
 * the hand-built tests/fixtures/gtfs/assign feed: one two-way street
 * (S1 west .. S5 east, ~441 m apart), route A east at 08:00 (A1), 08:12
 * (A3), 08:24 (A5) and west at 08:16 (W1) and 08:20 (A2); route B east
 * once at 08:06 (B1). Block BA runs A1 then A2; 3 minutes a stop. Z1 is
 * a stub trip of two stop times at S3 and no shape: no line to follow. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "assign.h"
#include "geo.h"
#include "gtfs.h"
#include "gtfsrt.h"
#include "transit.h"
#include "tz.h"

static char err[256];
static struct gtfs *feed;
static double origin;              /* Tuesday 2026-02-17 */

static int setup(void)
{
    feed = gtfs_load("tests/fixtures/gtfs/assign", err, sizeof err);
    if (feed == NULL)
        return -1;
    origin = (double)gtfs_day_origin(feed, tz_days_from_civil(2026, 2, 17));
    return 0;
}

static int teardown(void)
{
    gtfs_free(feed);
    return 0;
}

static double at(int h, int m, int s)
{
    return origin + h * 3600 + m * 60 + s;
}

/* A report of vehicle id d metres east of S1's place on the street,
 * 8 m off the line, heading (NAN: none), route ("" none). */
static struct gtfsrt_vehicle ping(const char *id, const char *route, double d_east,
                                  double heading, double ts)
{
    struct gtfsrt_vehicle v;
    gtfsrt_vehicle_init(&v);
    snprintf(v.entity_id, sizeof v.entity_id, "%s", id);
    snprintf(v.vehicle_id, sizeof v.vehicle_id, "%s", id);
    snprintf(v.route_id, sizeof v.route_id, "%s", route);
    const struct gtfs_pattern *pt = gtfs_trip_pattern(feed, gtfs_trip_find(feed, "A1"));
    struct geo_pt p = geo_line_point_at(pt->line, d_east);
    v.lon = p.lon;
    v.lat = p.lat + 8 / 111195.0;
    v.bearing = heading;
    v.timestamp = (uint64_t)ts;
    return v;
}

static double stop_d(int k)       /* S1..S5 along the eastbound line */
{
    return gtfs_trip_pattern(feed, gtfs_trip_find(feed, "A1"))->dist_m[k - 1];
}

/* Reports go through transit_ingest, or with `drafted` through a draft
 * committed at once, as the API layer takes them: every test runs both
 * ways (BOTH) and must see the same trips. */
static bool drafted;

static enum transit_result send(struct transit *t, struct gtfsrt_vehicle v)
{
    size_t n;
    struct transit_obs obs[8];
    struct transit_draft *d = NULL;
    if (!drafted)
        return transit_ingest(t, &v, (double)v.timestamp, NULL, 0, &n, err, sizeof err);
    enum transit_result res = transit_draft(t, &v, (double)v.timestamp, &d, err, sizeof err);
    if (res == TRANSIT_ACCEPTED)
        res = transit_draft_commit(t, d, obs, 8, &n);
    transit_draft_free(d);
    return res;
}

#define BOTH(test)                                                                            \
    static void test##_both(void)                                                             \
    {                                                                                         \
        drafted = false;                                                                      \
        test();                                                                               \
        drafted = true;                                                                       \
        test();                                                                               \
        drafted = false;                                                                      \
    }

static const char *trip_of(struct transit *t, const char *veh)
{
    const struct transit_vehicle *v = transit_vehicle_get(t, veh);
    return v && v->trip != GTFS_NONE ? feed->trips[v->trip].id : "";
}

/* B1 is where a bus is, on time, at 08:09 between S2 and S3; a bus that
 * says it is on route A is never given it (A1 three minutes late or A3
 * three minutes early fit worse, but they are route A). */
static void test_route_kept(void)
{
    struct transit *t = transit_new(feed, NULL);
    double d = (stop_d(2) + stop_d(3)) / 2;
    CU_ASSERT_EQUAL(send(t, ping("a", "A", d, 90, at(8, 7, 30))), TRANSIT_ACCEPTED);
    CU_ASSERT_STRING_EQUAL(trip_of(t, "a"), "A1");
    const struct transit_vehicle *v = transit_vehicle_get(t, "a");
    CU_ASSERT_TRUE(v->inferred);
    CU_ASSERT_EQUAL(v->route, gtfs_route_find(feed, "A"));
    /* The same report without a route: B1 fits best. */
    CU_ASSERT_EQUAL(send(t, ping("x", "", d, 90, at(8, 7, 30))), TRANSIT_ACCEPTED);
    CU_ASSERT_STRING_EQUAL(trip_of(t, "x"), "B1");
    /* Along the whole street and the morning, route A stays route A. */
    for (int m = 0; m < 40; m += 2)
        for (int k = 1; k <= 5; k++) {
            char id[32];
            snprintf(id, sizeof id, "r%d_%d", m, k);
            send(t, ping(id, "A", stop_d(k) + 50 * (k < 5), NAN, at(8, m, 0)));
            const struct transit_vehicle *w = transit_vehicle_get(t, id);
            CU_ASSERT_FATAL(w != NULL);
            CU_ASSERT_TRUE(w->trip == GTFS_NONE || feed->trips[w->trip].route == w->route);
            CU_ASSERT_EQUAL(w->route, gtfs_route_find(feed, "A"));
        }
    transit_free(t);
}

/* Several trips of one route: the one the time and place fit, and the
 * direction the heading says. */
static void test_right_trip(void)
{
    struct transit *t = transit_new(feed, NULL);
    /* 08:16 near S3: A3 (there at 08:18) two minutes early is likelier
     * than A1 ten minutes late; A5 (08:30) is far off. */
    CU_ASSERT_EQUAL(send(t, ping("e", "A", stop_d(3) - 100, 90, at(8, 16, 0))), TRANSIT_ACCEPTED);
    CU_ASSERT_STRING_EQUAL(trip_of(t, "e"), "A3");
    /* 08:22 at the same place heading west: W1 (at S3 at 08:22). */
    CU_ASSERT_EQUAL(send(t, ping("w", "A", stop_d(3) - 100, 270, at(8, 22, 0))), TRANSIT_ACCEPTED);
    CU_ASSERT_STRING_EQUAL(trip_of(t, "w"), "W1");
    /* Heading east at that time: A3, four minutes late. */
    CU_ASSERT_EQUAL(send(t, ping("e2", "A", stop_d(3) - 100, 90, at(8, 22, 0))), TRANSIT_ACCEPTED);
    CU_ASSERT_STRING_EQUAL(trip_of(t, "e2"), "A3");
    /* Without a bearing the movement between reports tells the way
     * (on its own: W1 is run by "w" already, which counts against it). */
    transit_free(t);
    t = transit_new(feed, NULL);
    send(t, ping("m", "A", stop_d(3) + 300, NAN, at(8, 21, 30)));
    CU_ASSERT_EQUAL(send(t, ping("m", "A", stop_d(3) - 100, NAN, at(8, 22, 0))), TRANSIT_ACCEPTED);
    CU_ASSERT_STRING_EQUAL(trip_of(t, "m"), "W1");
    /* The reply says it was inferred, and predictions follow. */
    const struct transit_vehicle *v = transit_vehicle_get(t, "m");
    CU_ASSERT_TRUE(v->inferred);
    CU_ASSERT_TRUE(transit_predict(t, v, 4, v->ts) > v->ts);
    transit_free(t);
}

/* A bus followed to the end of A1 then waiting at the east end takes the
 * next trip of its block (A2), not W1, which leaves there first. */
static void test_next_trip_of_block(void)
{
    struct transit *t = transit_new(feed, NULL);
    for (int i = 0; i <= 24; i++) {
        double d = stop_d(1) + (stop_d(5) - stop_d(1)) * i / 24.0;
        send(t, ping("bus", "A", d, 90, at(8, 0, 30 * i)));
        if (i == 4 || i == 22)
            CU_ASSERT_STRING_EQUAL(trip_of(t, "bus"), "A1");
    }
    CU_ASSERT_EQUAL(send(t, ping("bus", "A", stop_d(5), NAN, at(8, 13, 0))), TRANSIT_ACCEPTED);
    CU_ASSERT_EQUAL(send(t, ping("bus", "A", stop_d(5), NAN, at(8, 14, 0))), TRANSIT_ACCEPTED);
    CU_ASSERT_STRING_EQUAL(trip_of(t, "bus"), "A2");
    const struct transit_vehicle *v = transit_vehicle_get(t, "bus");
    CU_ASSERT_TRUE(v->followed);
    CU_ASSERT_EQUAL(v->status, TRANSIT_LAYOVER);
    /* Laying over: it leaves at A2's departure, 08:20. */
    CU_ASSERT_DOUBLE_EQUAL(transit_predict(t, v, 0, v->ts), at(8, 20, 0), 1);
    /* A fresh bus at the same place and time, with no history: W1. */
    CU_ASSERT_EQUAL(send(t, ping("new", "A", stop_d(5), NAN, at(8, 14, 0))), TRANSIT_ACCEPTED);
    CU_ASSERT_STRING_EQUAL(trip_of(t, "new"), "W1");
    /* The block's next trip is A2, and A2 ends the block. */
    struct assign *a = assign_new(feed);
    CU_ASSERT_EQUAL(assign_next_in_block(a, gtfs_trip_find(feed, "A1")), gtfs_trip_find(feed, "A2"));
    CU_ASSERT_EQUAL(assign_next_in_block(a, gtfs_trip_find(feed, "A2")), GTFS_NONE);
    assign_free(a);
    transit_free(t);
}

/* A bus seen laying over at the start of its block's next trip (A2,
 * west from S5 at 08:20) that leaves early and gains on the timetable
 * runs A2 early: it is not taken for W1 (west at 08:16), whose times fit
 * its later positions better (W1 about 3 minutes early, A2 7). */
static void test_left_early(void)
{
    struct transit *t = transit_new(feed, NULL);
    for (int i = 0; i <= 24; i++)
        send(t, ping("bus", "A", stop_d(1) + (stop_d(5) - stop_d(1)) * i / 24.0, 90,
                     at(8, 0, 30 * i)));
    send(t, ping("bus", "A", stop_d(5), NAN, at(8, 13, 0)));
    send(t, ping("bus", "A", stop_d(5), NAN, at(8, 14, 0)));
    CU_ASSERT_STRING_EQUAL(trip_of(t, "bus"), "A2");
    /* Metres west of S5 and when: within the 800 m where a bus may still
     * be laying over, then out of it 5 minutes early on A2, then 7. */
    static const struct { double m; int min, s; } run[] = {
        {400, 17, 0}, {882, 20, 50}, {1200, 22, 30}, {1400, 23, 15}, {1600, 24, 0}};
    for (size_t i = 0; i < sizeof run / sizeof run[0]; i++) {
        CU_ASSERT_EQUAL(send(t, ping("bus", "A", stop_d(5) - run[i].m, 270,
                                     at(8, run[i].min, run[i].s))), TRANSIT_ACCEPTED);
        CU_ASSERT_STRING_EQUAL(trip_of(t, "bus"), "A2");
    }
    /* Its last report alone fits W1 (3 minutes early) better than A2 (7);
     * knowing it left 7 minutes early, A2 costs nothing. */
    struct gtfsrt_vehicle r = ping("q", "A", stop_d(5) - 1600, 270, at(8, 24, 0));
    struct assign_query q = {r.lon, r.lat, at(8, 24, 0), 270, GTFS_NONE, 60, 0};
    struct assign *a = assign_new(feed);
    struct assign_match mw, ma;
    int64_t day = tz_days_from_civil(2026, 2, 17);
    CU_ASSERT_EQUAL(assign_score(a, &q, gtfs_trip_find(feed, "W1"), day, &mw), 0);
    CU_ASSERT_EQUAL(assign_score(a, &q, gtfs_trip_find(feed, "A2"), day, &ma), 0);
    CU_ASSERT_TRUE(mw.cost < 1.5 && ma.cost > 4.5);
    q.left_dev_s = ma.dev_s;
    CU_ASSERT_EQUAL(assign_score(a, &q, gtfs_trip_find(feed, "A2"), day, &ma), 0);
    CU_ASSERT_TRUE(ma.cost < 0.1);
    assign_free(a);
    transit_free(t);
}

/* A bus far from every line gets no trip (a deadhead), and a report's own
 * trip id still wins over any inference. */
static void test_off_every_line(void)
{
    struct transit *t = transit_new(feed, NULL);
    struct gtfsrt_vehicle v = ping("d", "", stop_d(3), NAN, at(8, 10, 0));
    v.lat += 0.01;                                  /* 1.1 km north */
    CU_ASSERT_EQUAL(send(t, v), TRANSIT_ACCEPTED);
    CU_ASSERT_STRING_EQUAL(trip_of(t, "d"), "");
    v = ping("f", "", stop_d(3), 90, at(8, 16, 0));
    snprintf(v.trip_id, sizeof v.trip_id, "A5");
    CU_ASSERT_EQUAL(send(t, v), TRANSIT_ACCEPTED);
    CU_ASSERT_STRING_EQUAL(trip_of(t, "f"), "A5");
    CU_ASSERT_FALSE(transit_vehicle_get(t, "f")->inferred);
    transit_free(t);
}

/* A trip whose stops are all at one place has no line to follow: its
 * pattern is indexed with no trips (fuzz_gtfs found that empty index
 * sorted through a null array), and it is never given to a bus standing
 * at its stop at its time. */
static void test_lineless_trip(void)
{
    struct assign *a = assign_new(feed);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL(assign_next_in_block(a, gtfs_trip_find(feed, "Z1")), GTFS_NONE);
    assign_free(a);
    struct transit *t = transit_new(feed, NULL);
    CU_ASSERT_EQUAL(send(t, ping("z", "B", stop_d(3), NAN, at(8, 30, 0))), TRANSIT_ACCEPTED);
    CU_ASSERT_STRING_NOT_EQUAL(trip_of(t, "z"), "Z1");
    transit_free(t);
}

BOTH(test_route_kept)
BOTH(test_right_trip)
BOTH(test_next_trip_of_block)
BOTH(test_left_early)
BOTH(test_off_every_line)

int suite_assign(void)
{
    CU_pSuite s = CU_add_suite("assign", setup, teardown);
    if (s == NULL)
        return -1;
    if (!CU_add_test(s, "route A never gets a route B trip", test_route_kept_both) ||
        !CU_add_test(s, "right trip by time, place and heading", test_right_trip_both) ||
        !CU_add_test(s, "next trip of the block after a terminal", test_next_trip_of_block_both) ||
        !CU_add_test(s, "a bus seen leaving early keeps its trip", test_left_early_both) ||
        !CU_add_test(s, "off every line; the feed's trip wins", test_off_every_line_both) ||
        !CU_add_test(s, "a trip without a line is indexed empty, never assigned", test_lineless_trip))
        return -1;
    return 0;
}
