/* fuzz_transit_state.c -- libFuzzer harness for the packed vehicle state
 * (transit_state_adopt: the "state" field of a bus's pos hash and of a
 * transit feed entry, written by another cityd; docs/scaling.md
 * "Ownership"), read over the fixture feed tests/fixtures/gtfs/basic
 * (run from the repository root, as tools/fuzz.sh does).
 *
 * The input's first byte picks the report the state is read with (trip
 * T1, no trip, route R1 without a trip, another vehicle, another
 * timestamp); the rest is the state. Beyond "no crash": a refused state
 * (-1) or one not for the vehicle's report (0) changes nothing; a taken
 * one (1) leaves predictions of the trip's length and packs again to a
 * state that another registry takes to the same bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geo.h"
#include "gtfs.h"
#include "gtfsrt.h"
#include "transit.h"

static struct gtfs *feed;

static struct gtfsrt_vehicle report(const char *id, const char *trip, const char *route,
                                    double d, double ts)
{
    struct gtfsrt_vehicle v;
    gtfsrt_vehicle_init(&v);
    snprintf(v.vehicle_id, sizeof v.vehicle_id, "%s", id);
    snprintf(v.trip_id, sizeof v.trip_id, "%s", trip);
    snprintf(v.route_id, sizeof v.route_id, "%s", route);
    const struct gtfs_pattern *pt = gtfs_trip_pattern(feed, gtfs_trip_find(feed, "T1"));
    struct geo_pt p = geo_line_point_at(pt->line, d);
    v.lon = p.lon;
    v.lat = p.lat;
    v.timestamp = (uint64_t)ts;
    return v;
}

/* A registry that has seen the bus's report r. */
static struct transit *registry(const struct gtfsrt_vehicle *r)
{
    struct transit *t = transit_new(feed, NULL);
    char err[256];
    size_t n;
    if (t == NULL ||
        transit_ingest(t, r, (double)r->timestamp, NULL, 0, &n, err, sizeof err) !=
            TRANSIT_ACCEPTED)
        abort();
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    if (feed == NULL && (feed = gtfs_load("tests/fixtures/gtfs/basic", err, sizeof err)) == NULL)
        abort();
    if (size < 1)
        return 0;
    double ts = 1771286460;                     /* 2026-02-17 08:01 in Shanghai */
    struct gtfsrt_vehicle bus = report("f1", "T1", "", 400, ts), rep = bus;
    switch (data[0] % 5) {
    case 1: rep.trip_id[0] = '\0'; break;
    case 2: rep.trip_id[0] = '\0'; snprintf(rep.route_id, sizeof rep.route_id, "R1"); break;
    case 3: snprintf(rep.vehicle_id, sizeof rep.vehicle_id, "f2"); break;
    case 4: rep.timestamp += 10; break;
    }
    struct transit *t = registry(&bus);
    size_t n0 = 0, n1 = 0, n2 = 0;
    char *before = transit_state_pack(t, &bus, &n0);
    int rc = transit_state_adopt(t, &rep, data + 1, size - 1);
    const struct transit_vehicle *v = transit_vehicle_get(t, "f1");
    char *after = transit_state_pack(t, &rep, &n1);
    if (rc < -1 || rc > 1 || before == NULL || v == NULL)
        abort();
    if (rc <= 0) {                              /* nothing changed */
        char *now = transit_state_pack(t, &bus, &n1);
        if (now == NULL || n1 != n0 || memcmp(now, before, n0) != 0)
            abort();
        free(now);
    } else {
        uint32_t n = v->trip != GTFS_NONE ? gtfs_trip_pattern(feed, v->trip)->n : 0;
        struct transit *u = registry(&bus);
        if (v->n_pred != n || after == NULL || transit_state_adopt(u, &rep, after, n1) != 1)
            abort();
        char *again = transit_state_pack(u, &rep, &n2);
        if (again == NULL || n2 != n1 || memcmp(again, after, n1) != 0)
            abort();                            /* the same state, to the byte */
        free(again);
        transit_free(u);
    }
    free(before);
    free(after);
    transit_free(t);
    return 0;
}
