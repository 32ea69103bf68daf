/* test_gtfs.c -- the GTFS static loader on the hand-made feeds in
 * tests/fixtures/gtfs: parsing (BOM, CRLF, quotes), times past 24:00,
 * service days in the agency zone (DST), non-contiguous stop_sequence,
 * stops projected onto shapes (loops), feed distances converted to
 * metres, interpolation, broken references reported by file and line.
 * Expected distances are computed independently with geo_distance_m on
 * the fixture's known geometry (straight east-west streets). */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "geo.h"
#include "gtfs.h"
#include "support.h"
#include "tz.h"

#define FIX "tests/fixtures/gtfs/"

static char err[512];

static const struct gtfs_trip *trip(const struct gtfs *f, const char *id)
{
    uint32_t t = gtfs_trip_find(f, id);
    CU_ASSERT_FATAL(t != GTFS_NONE);
    return &f->trips[t];
}

static int64_t day(int y, int m, int d)
{
    return tz_days_from_civil(y, m, d);
}

static void test_parse_time_date(void)
{
    CU_ASSERT_EQUAL(gtfs_parse_time("25:30:00"), 91800);
    CU_ASSERT_EQUAL(gtfs_parse_time("8:05:00"), 29100);
    CU_ASSERT_EQUAL(gtfs_parse_time(" 08:05:09"), 29109);
    CU_ASSERT_EQUAL(gtfs_parse_time("100:00:00"), 360000);
    CU_ASSERT_EQUAL(gtfs_parse_time("08:5:00"), -1);
    CU_ASSERT_EQUAL(gtfs_parse_time("08:00:60"), -1);
    CU_ASSERT_EQUAL(gtfs_parse_time("08:00"), -1);
    CU_ASSERT_EQUAL(gtfs_parse_time(""), -1);
    CU_ASSERT_EQUAL(gtfs_parse_time("08:00:00x"), -1);
    int64_t d;
    CU_ASSERT_EQUAL(gtfs_parse_date("20260216", &d), 0);
    CU_ASSERT_EQUAL(d, day(2026, 2, 16));
    CU_ASSERT_EQUAL(gtfs_parse_date("20240229", &d), 0);
    CU_ASSERT_EQUAL(gtfs_parse_date("20260229", &d), -1);
    CU_ASSERT_EQUAL(gtfs_parse_date("20261301", &d), -1);
    CU_ASSERT_EQUAL(gtfs_parse_date("2026021", &d), -1);
    CU_ASSERT_EQUAL(gtfs_parse_date("202602160", &d), -1);
}

static void test_basic_tables(void)
{
    struct gtfs *f = gtfs_load(FIX "basic", err, sizeof err);
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT_EQUAL(f->n_issues_total, 0);
    CU_ASSERT_EQUAL(f->n_stops, 10);
    CU_ASSERT_EQUAL(f->n_routes, 2);
    CU_ASSERT_EQUAL(f->n_trips, 5);
    CU_ASSERT_STRING_EQUAL(f->agencies[0].name, "Yantai Bus, Co.");
    /* BOM + CRLF + quoted commas and quotes in stops.txt. */
    uint32_t s1 = gtfs_stop_find(f, "S1"), st = gtfs_stop_find(f, "ST1");
    CU_ASSERT_FATAL(s1 != GTFS_NONE && st != GTFS_NONE);
    CU_ASSERT_STRING_EQUAL(f->stops[s1].name, "Zhifu Rd, West");
    CU_ASSERT_STRING_EQUAL(f->stops[st].name, "Station \"Zhifu\"");
    CU_ASSERT_EQUAL(f->stops[st].location_type, 1);
    CU_ASSERT_DOUBLE_EQUAL(f->stops[s1].lat, 37.5401, 1e-9);
    CU_ASSERT_EQUAL(gtfs_stop_find(f, "nope"), GTFS_NONE);
    CU_ASSERT_EQUAL(gtfs_route_find(f, "R2"), 1);
    const struct gtfs_trip *t3 = trip(f, "T3");
    CU_ASSERT_STRING_EQUAL(t3->headsign, "East, late");
    CU_ASSERT_STRING_EQUAL(t3->block_id, "B1");
    CU_ASSERT_EQUAL(t3->direction_id, 0);
    /* Past midnight. */
    CU_ASSERT_EQUAL(t3->arr[0], 23 * 3600 + 50 * 60);
    CU_ASSERT_EQUAL(t3->arr[2], 24 * 3600 + 2 * 60);
    CU_ASSERT_EQUAL(t3->dep[2], 24 * 3600 + 2 * 60 + 30);
    CU_ASSERT_EQUAL(t3->arr[4], 24 * 3600 + 14 * 60);
    gtfs_free(f);
}

static void test_basic_geometry(void)
{
    struct gtfs *f = gtfs_load(FIX "basic", err, sizeof err);
    CU_ASSERT_FATAL(f != NULL);
    /* T1: rows out of order, stop_sequence 10..50, no distances. */
    const struct gtfs_trip *t1 = trip(f, "T1");
    const struct gtfs_pattern *p = gtfs_trip_pattern(f, gtfs_trip_find(f, "T1"));
    CU_ASSERT_FATAL(p != NULL && p->n == 5);
    for (uint32_t i = 0; i < 5; i++) {
        double lon = 121.38 + 0.005 * i;
        CU_ASSERT_EQUAL(p->seq[i], 10 * (i + 1));
        CU_ASSERT_DOUBLE_EQUAL(p->dist_m[i], geo_distance_m(121.38, 37.54, lon, 37.54), 1.0);
        CU_ASSERT_DOUBLE_EQUAL(p->off_m[i], geo_distance_m(lon, 37.54, lon, 37.5401), 0.5);
    }
    /* Empty non-timepoint times interpolated by distance. */
    CU_ASSERT_EQUAL(t1->arr[1], 8 * 3600 + 3 * 60);
    CU_ASSERT_EQUAL(t1->arr[3], 8 * 3600 + 9 * 60);

    /* T2: shape_dist_traveled in feed units (0.25 per shape point) on both
     * files -> metres. S3 says 1.1, i.e. 40 % into the segment after the
     * 5th point, deliberately not where projection would put it. */
    const struct gtfs_pattern *p2 = gtfs_trip_pattern(f, gtfs_trip_find(f, "T2"));
    CU_ASSERT_FATAL(p2 != NULL && p2->n == 5);
    double seg = geo_distance_m(121.38, 37.54, 121.3825, 37.54);
    for (uint32_t i = 0; i < 5; i++)
        if (i != 2)
            CU_ASSERT_DOUBLE_EQUAL(p2->dist_m[i], p->dist_m[i], 1.0);
    CU_ASSERT_DOUBLE_EQUAL(p2->dist_m[2], 4.4 * seg, 1.0);
    CU_ASSERT_EQUAL(p2->drop_off[4], 1);

    /* L1: out-and-back loop starting and ending at stop LA, which lies
     * closer to the return leg: the first visit must still be placed at
     * the start, the second at the end, all in order. */
    const struct gtfs_pattern *pl = gtfs_trip_pattern(f, gtfs_trip_find(f, "L1"));
    CU_ASSERT_FATAL(pl != NULL && pl->n == 5);
    CU_ASSERT(pl->dist_m[0] < 15);
    CU_ASSERT(pl->dist_m[4] > pl->line->length_m - 15);
    for (uint32_t i = 1; i < 5; i++)
        CU_ASSERT(pl->dist_m[i] > pl->dist_m[i - 1] + 300);
    CU_ASSERT_DOUBLE_EQUAL(pl->dist_m[1], geo_distance_m(121.38, 37.53, 121.385, 37.53), 2.0);
    for (uint32_t i = 0; i < 5; i++)
        CU_ASSERT(pl->off_m[i] < 10);

    /* T4 has no shape: a straight line through its stops. */
    const struct gtfs_pattern *p4 = gtfs_trip_pattern(f, gtfs_trip_find(f, "T4"));
    CU_ASSERT_FATAL(p4 != NULL && p4->own_line != NULL);
    CU_ASSERT_DOUBLE_EQUAL(p4->dist_m[1],
                           geo_distance_m(121.38, 37.5401, 121.39, 37.5401), 1.0);
    CU_ASSERT_DOUBLE_EQUAL(p4->off_m[1], 0, 1e-9);
    gtfs_free(f);
}

static void test_service_days(void)
{
    struct gtfs *f = gtfs_load(FIX "basic", err, sizeof err);
    CU_ASSERT_FATAL(f != NULL);
    uint32_t wk = f->trips[gtfs_trip_find(f, "T1")].service;
    uint32_t sat = f->trips[gtfs_trip_find(f, "L1")].service;
    CU_ASSERT_TRUE(gtfs_service_active(f, wk, day(2026, 2, 17)));
    CU_ASSERT_FALSE(gtfs_service_active(f, wk, day(2026, 2, 16)));   /* removed */
    CU_ASSERT_FALSE(gtfs_service_active(f, wk, day(2026, 2, 21)));   /* Saturday */
    CU_ASSERT_FALSE(gtfs_service_active(f, wk, day(2025, 12, 31)));  /* before start */
    CU_ASSERT_TRUE(gtfs_service_active(f, sat, day(2026, 2, 16)));   /* added */
    CU_ASSERT_TRUE(gtfs_service_active(f, sat, day(2026, 2, 21)));
    CU_ASSERT_FALSE(gtfs_service_active(f, 99, day(2026, 2, 21)));

    /* Shanghai has no DST: the origin is local midnight, 16:00 UTC the day before. */
    int64_t o17 = gtfs_day_origin(f, day(2026, 2, 17));
    CU_ASSERT_EQUAL(o17, day(2026, 2, 16) * 86400 + 16 * 3600);
    /* T3 at 00:05 local on Wednesday the 18th is Tuesday's 24:05. */
    uint32_t t3 = gtfs_trip_find(f, "T3");
    int64_t d, o, t = o17 + 24 * 3600 + 5 * 60;
    CU_ASSERT_EQUAL(gtfs_trip_day(f, t3, t, 0, &d, &o), 0);
    CU_ASSERT_EQUAL(d, day(2026, 2, 17));
    CU_ASSERT_EQUAL(o, o17);
    /* The same clock time a day earlier belongs to Monday the 16th, which
     * has no WK service; Tuesday's run is hours away. */
    CU_ASSERT_EQUAL(gtfs_trip_day(f, t3, t - 86400, 600, &d, &o), -1);
    /* Slack lets a trip be found a little before its first departure. */
    uint32_t t1 = gtfs_trip_find(f, "T1");
    t = o17 + 8 * 3600 - 300;
    CU_ASSERT_EQUAL(gtfs_trip_day(f, t1, t, 0, &d, &o), -1);
    CU_ASSERT_EQUAL(gtfs_trip_day(f, t1, t, 600, &d, &o), 0);

    /* Trips of a day, and the last day anything runs (the calendar's
     * end, 2026-12-31). */
    size_t wk_trips = 0, sat_trips = 0;
    for (size_t i = 0; i < f->n_trips; i++) {
        wk_trips += f->trips[i].service == wk;
        sat_trips += f->trips[i].service == sat;
    }
    CU_ASSERT(wk_trips > 0 && sat_trips > 0);
    CU_ASSERT_EQUAL(gtfs_trips_on(f, day(2026, 2, 17)), wk_trips);
    CU_ASSERT_EQUAL(gtfs_trips_on(f, day(2026, 2, 16)), sat_trips);    /* holiday */
    CU_ASSERT_EQUAL(gtfs_trips_on(f, day(2027, 1, 4)), 0);             /* after the end */
    CU_ASSERT_EQUAL(gtfs_last_service_day(f), day(2026, 12, 31));
    gtfs_free(f);
}

static void test_stop_visits(void)
{
    struct gtfs *f = gtfs_load(FIX "basic", err, sizeof err);
    CU_ASSERT_FATAL(f != NULL);
    const struct gtfs_stop *s3 = &f->stops[gtfs_stop_find(f, "S3")];
    static const char *order[] = {"T4", "T1", "T2", "T3"};
    CU_ASSERT_EQUAL_FATAL(s3->n_visits, 4);
    for (uint32_t i = 0; i < 4; i++) {
        const struct gtfs_visit *v = &f->visits[s3->visit_first + i];
        CU_ASSERT_STRING_EQUAL(f->trips[v->trip].id, order[i]);
        CU_ASSERT_EQUAL(v->arr, f->trips[v->trip].arr[v->pos]);
    }
    /* LA is visited twice by L1. */
    CU_ASSERT_EQUAL(f->stops[gtfs_stop_find(f, "LA")].n_visits, 2);
    gtfs_free(f);
}

static bool has_issue(const struct gtfs *f, const char *file, long line, const char *text)
{
    for (size_t i = 0; i < f->n_issues; i++)
        if (strcmp(f->issues[i].file, file) == 0 && f->issues[i].line == line &&
            strstr(f->issues[i].msg, text) != NULL)
            return true;
    return false;
}

static void test_broken(void)
{
    struct gtfs *f = gtfs_load(FIX "broken", err, sizeof err);
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT(has_issue(f, "stops.txt", 3, "out of range"));
    CU_ASSERT(has_issue(f, "stops.txt", 5, "duplicate stop_id 'S1'"));
    CU_ASSERT(has_issue(f, "routes.txt", 3, "agency_id 'XX'"));
    CU_ASSERT(has_issue(f, "calendar.txt", 3, "YYYYMMDD"));
    CU_ASSERT(has_issue(f, "shapes.txt", 4, "duplicate shape_pt_sequence"));
    CU_ASSERT(has_issue(f, "trips.txt", 3, "route_id 'R9'"));
    CU_ASSERT(has_issue(f, "trips.txt", 4, "service_id 'NOPE'"));
    CU_ASSERT(has_issue(f, "trips.txt", 5, "shape_id 'SH9'"));
    CU_ASSERT(has_issue(f, "trips.txt", 8, "duplicate trip_id 'T1'"));
    CU_ASSERT(has_issue(f, "stop_times.txt", 3, "stop_id 'X'"));
    CU_ASSERT(has_issue(f, "stop_times.txt", 4, "'8:0:00'"));
    CU_ASSERT(has_issue(f, "stop_times.txt", 5, "duplicate stop_sequence 3"));
    CU_ASSERT(has_issue(f, "stop_times.txt", 6, "before the previous departure"));
    CU_ASSERT(has_issue(f, "stop_times.txt", 7, "trip_id 'T9'"));
    CU_ASSERT(has_issue(f, "stop_times.txt", 10, "fewer than two stops"));
    CU_ASSERT(has_issue(f, "stop_times.txt", 11, "need times"));
    CU_ASSERT(has_issue(f, "stop_times.txt", 6, "from shape 'SH1'"));
    CU_ASSERT_EQUAL(f->n_issues_total, f->n_issues);
    for (size_t i = 0; i < f->n_issues; i++)
        CU_ASSERT_FALSE(f->issues[i].fatal);
    /* What survives is consistent. */
    CU_ASSERT_EQUAL(gtfs_trip_find(f, "T2"), GTFS_NONE);
    CU_ASSERT_EQUAL(gtfs_trip_find(f, "T3"), GTFS_NONE);
    const struct gtfs_trip *t1 = trip(f, "T1");
    const struct gtfs_pattern *p = gtfs_trip_pattern(f, gtfs_trip_find(f, "T1"));
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT_EQUAL(p->n, 3);
    CU_ASSERT_EQUAL(t1->arr[2], 8 * 3600 + 6 * 60);          /* clamped */
    CU_ASSERT_EQUAL(t1->dep[2], 8 * 3600 + 9 * 60);
    CU_ASSERT_PTR_NULL(gtfs_trip_pattern(f, gtfs_trip_find(f, "T5")));
    CU_ASSERT_PTR_NULL(gtfs_trip_pattern(f, gtfs_trip_find(f, "T6")));
    CU_ASSERT_PTR_NOT_NULL(gtfs_trip_pattern(f, gtfs_trip_find(f, "T4")));
    gtfs_free(f);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    CU_ASSERT_FATAL(fp != NULL);
    fputs(text, fp);
    fclose(fp);
}

static void test_fatal(void)
{
    CU_ASSERT_PTR_NULL(gtfs_load("/nonexistent/feed", err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "agency.txt"));

    char dir[] = "/tmp/cityd_gtfs_XXXXXX";
    CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
    write_file(dir, "agency.txt", "agency_name,agency_timezone\nX,Mars/Base\n");
    CU_ASSERT_PTR_NULL(gtfs_load(dir, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "agency.txt:2:"));
    write_file(dir, "agency.txt", "agency_name,agency_timezone\nX,UTC\n");
    write_file(dir, "stops.txt", "stop_id,stop_lat,stop_lon\nA,1.0,1.0\n");
    write_file(dir, "routes.txt", "route_short_name\nR\n");
    CU_ASSERT_PTR_NULL(gtfs_load(dir, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "routes.txt:1: required column 'route_id'"));
    write_file(dir, "routes.txt", "route_id\nR\n");
    write_file(dir, "trips.txt", "route_id,service_id,trip_id\nR,S,T\n");
    write_file(dir, "stop_times.txt", "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
               "T,\"08:00:00\n");
    CU_ASSERT_PTR_NULL(gtfs_load(dir, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "calendar"));
    write_file(dir, "calendar_dates.txt", "service_id,date,exception_type\nS,20260216,1\n");
    CU_ASSERT_PTR_NULL(gtfs_load(dir, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "stop_times.txt:2: quoted field never closed"));
    const char *names[] = {"agency.txt", "stops.txt", "routes.txt", "trips.txt",
                           "stop_times.txt", "calendar_dates.txt"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* ---- strings: every one kept can go into a JSON reply ---- */

struct file {
    const char *name;
    const char *text;
    size_t len;                   /* 0: strlen(text) */
};

/* A feed folder with these files (the minimal others from `base`). */
static char *write_feed(const struct file *files, size_t n)
{
    static const struct file base[] = {
        {"agency.txt", "agency_id,agency_name,agency_timezone\nYT,Yantai Bus,Asia/Shanghai\n", 0},
        {"calendar.txt", "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
                         "start_date,end_date\nWK,1,1,1,1,1,1,1,20260101,20261231\n", 0},
        {"stops.txt", "stop_id,stop_name,stop_lat,stop_lon\nS1,A,37.5401,121.3800\n"
                      "S5,B,37.5401,121.4000\n", 0},
        {"routes.txt", "route_id,route_short_name,route_type\nR1,1,3\n", 0},
        {"trips.txt", "route_id,service_id,trip_id\nR1,WK,T1\n", 0},
        {"stop_times.txt", "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                           "T1,08:00:00,08:00:00,S1,1\nT1,08:12:00,08:12:00,S5,2\n", 0},
    };
    char *dir = support_tmpdir("cityd-gtfs");
    for (size_t b = 0; b < sizeof base / sizeof *base; b++) {
        const struct file *f = &base[b];
        for (size_t i = 0; i < n; i++)
            if (strcmp(files[i].name, f->name) == 0)
                f = &files[i];
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, f->name);
        FILE *fp = fopen(path, "wb");
        CU_ASSERT_FATAL(fp != NULL);
        fwrite(f->text, 1, f->len ? f->len : strlen(f->text), fp);
        fclose(fp);
    }
    return dir;
}

static void drop_feed(char *dir)
{
    support_rmrf(dir);
    free(dir);
}

/* What jansson would put in a document (json_string refuses the rest). */
static bool json_ok(const char *s)
{
    json_t *j = json_string(s);
    json_decref(j);
    return j != NULL;
}

static bool id_ok(const char *s)
{
    if (!json_ok(s) || *s == '\0' || strlen(s) > 63)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

/* Every string the feed kept, and every problem message. */
static void assert_clean(const struct gtfs *f)
{
    for (size_t i = 0; i < f->n_agencies; i++)
        CU_ASSERT(json_ok(f->agencies[i].id) && json_ok(f->agencies[i].name) &&
                  json_ok(f->agencies[i].timezone));
    for (size_t i = 0; i < f->n_stops; i++)
        CU_ASSERT(id_ok(f->stops[i].id) && json_ok(f->stops[i].code) &&
                  json_ok(f->stops[i].name));
    for (size_t i = 0; i < f->n_routes; i++)
        CU_ASSERT(id_ok(f->routes[i].id) && json_ok(f->routes[i].agency_id) &&
                  json_ok(f->routes[i].short_name) && json_ok(f->routes[i].long_name));
    for (size_t i = 0; i < f->n_trips; i++)
        CU_ASSERT(id_ok(f->trips[i].id) && json_ok(f->trips[i].headsign) &&
                  json_ok(f->trips[i].block_id));
    for (size_t i = 0; i < f->n_services; i++)
        CU_ASSERT(id_ok(f->services[i].id));
    for (size_t i = 0; i < f->n_shapes; i++)
        CU_ASSERT(id_ok(f->shapes[i].id));
    for (size_t i = 0; i < f->n_issues; i++) {
        CU_ASSERT(json_ok(f->issues[i].msg));
        for (const unsigned char *p = (const unsigned char *)f->issues[i].msg; *p; p++)
            CU_ASSERT(*p >= 0x20 && *p != 0x7f);
    }
}

static const char LONG_ID[] = "S0123456789012345678901234567890123456789012345678901234567890123";

/* Invalid UTF-8, control characters and overlong values in a UTF-8 feed:
 * a row whose id is bad is dropped, a bad name is left empty, each with
 * file:line; a BOM at the start of a file is no problem. */
static void test_bad_strings(void)
{
    char name600[601];
    memset(name600, 'n', 600);
    name600[600] = '\0';
    char stops[2048];
    snprintf(stops, sizeof stops,
             "\xEF\xBB\xBF" "stop_id,stop_code,stop_name,stop_lat,stop_lon\n"
             "S1,101,芝罘路西,37.5401,121.3800\n"             /* 2 */
             "S2,102,芝罘\xff,37.5401,121.3850\n"             /* 3: name not UTF-8 */
             "S3,103,芝罘路3,37.5401,121.3900\n"              /* 4 */
             "S4\xff,104,芝罘路4,37.5401,121.3950\n"          /* 5: id not UTF-8 */
             "S5,105,芝罘路东,37.5401,121.4000\n"             /* 6 */
             "\"S\x01\",106,x,37.5401,121.3900\n"             /* 7: control character */
             "%s,107,y,37.5401,121.3900\n"                    /* 8: 64 bytes */
             "S6,\"\xe8\x8a\",%s,37.5401,121.3900\n"          /* 9: code cut, name too long */
             "S7,108,\"a\tb\",37.5401,121.3900\n"             /* 10: a tab in a name is text */
             "S8,109,幸福,37.5401,121.3900\n"
             "S9,110,莱山,37.5401,121.3900\n",
             LONG_ID, name600);
    const struct file files[] = {
        {"agency.txt", "agency_id,agency_name,agency_timezone\nYT,烟台公交,Asia/Shanghai\n", 0},
        {"stops.txt", stops, 0},
        {"routes.txt", "route_id,agency_id,route_short_name,route_long_name,route_type\n"
                       "R1,YT,1,芝罘路,3\n"
                       "R\xc3,YT,2,x,3\n"                       /* 3 */
                       "R3,YT\xc3,3,莱山,3\n"                  /* 4: agency_id */
                       "R4,YT,4,幸福,3\n", 0},
        {"trips.txt", "route_id,service_id,trip_id,trip_headsign,block_id\n"
                      "R1,WK,T1,往东,B1\n"
                      "R1,WK,T\xe9,往东,\n"                     /* 3 */
                      "R1,WK,T2,\xe5\xbe,\n"                    /* 4: headsign cut */
                      "R1,WK,T3,往西,B\x7f\n"                  /* 5: block_id */
                      "R1,WK,T4,往北,\n", 0},
        {"stop_times.txt", "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                           "T1,08:00:00,08:00:00,S1,1\n"
                           "T1,08:03:00,08:03:00,S2,2\n"
                           "T1,08:09:00,08:09:00,S4\xff,4\n"    /* 4 */
                           "T1,08:12:00,08:12:00,S5,5\n"
                           "T\xe9,08:12:00,08:12:00,S5,5\n", 0}, /* 6 */
    };
    char *dir = write_feed(files, sizeof files / sizeof *files);
    struct gtfs *f = gtfs_load(dir, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    assert_clean(f);
    CU_ASSERT_EQUAL(f->n_stops, 8);                            /* S1..S9 but S4 */
    uint32_t s1 = gtfs_stop_find(f, "S1"), s2 = gtfs_stop_find(f, "S2");
    uint32_t s6 = gtfs_stop_find(f, "S6"), s7 = gtfs_stop_find(f, "S7");
    CU_ASSERT_FATAL(s1 != GTFS_NONE && s2 != GTFS_NONE && s6 != GTFS_NONE && s7 != GTFS_NONE);
    CU_ASSERT_STRING_EQUAL(f->stops[s1].name, "芝罘路西");      /* the BOM did no harm */
    CU_ASSERT_STRING_EQUAL(f->stops[s2].name, "");
    CU_ASSERT_STRING_EQUAL(f->stops[s6].code, "");
    CU_ASSERT_STRING_EQUAL(f->stops[s6].name, "");
    CU_ASSERT_STRING_EQUAL(f->stops[s7].name, "a\tb");
    CU_ASSERT_EQUAL(gtfs_stop_find(f, "S4\xff"), GTFS_NONE);
    CU_ASSERT_EQUAL(gtfs_stop_find(f, LONG_ID), GTFS_NONE);
    CU_ASSERT_EQUAL(gtfs_route_find(f, "R\xc3"), GTFS_NONE);
    CU_ASSERT_EQUAL(gtfs_trip_find(f, "T\xe9"), GTFS_NONE);
    CU_ASSERT_STRING_EQUAL(f->trips[gtfs_trip_find(f, "T2")].headsign, "");
    CU_ASSERT_STRING_EQUAL(f->trips[gtfs_trip_find(f, "T3")].block_id, "");
    CU_ASSERT_STRING_EQUAL(f->routes[gtfs_route_find(f, "R3")].agency_id, "");
    CU_ASSERT(has_issue(f, "stops.txt", 3, "stop_name: not valid UTF-8"));
    CU_ASSERT(has_issue(f, "stops.txt", 5, "stop_id: not valid UTF-8 (row ignored)"));
    CU_ASSERT(has_issue(f, "stops.txt", 7, "stop_id: contains a control character"));
    CU_ASSERT(has_issue(f, "stops.txt", 8, "stop_id: longer than 63 bytes"));
    CU_ASSERT(has_issue(f, "stops.txt", 9, "stop_code: not valid UTF-8"));
    CU_ASSERT(has_issue(f, "stops.txt", 9, "stop_name: longer than"));
    CU_ASSERT(has_issue(f, "routes.txt", 3, "route_id: not valid UTF-8 (row ignored)"));
    CU_ASSERT(has_issue(f, "routes.txt", 4, "agency_id: not valid UTF-8"));
    CU_ASSERT(has_issue(f, "trips.txt", 3, "trip_id: not valid UTF-8 (row ignored)"));
    CU_ASSERT(has_issue(f, "trips.txt", 4, "trip_headsign: not valid UTF-8"));
    CU_ASSERT(has_issue(f, "trips.txt", 5, "block_id: contains a control character"));
    CU_ASSERT(has_issue(f, "stop_times.txt", 4, "stop_id 'S4?' not defined"));
    CU_ASSERT(has_issue(f, "stop_times.txt", 6, "trip_id 'T?' not defined"));
    /* T1 runs without the dropped stop. */
    const struct gtfs_pattern *p = gtfs_trip_pattern(f, gtfs_trip_find(f, "T1"));
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT_EQUAL(p->n, 3);
    gtfs_free(f);
    drop_feed(dir);
}

/* A file in another encoding (GBK here: 烟台 is D1CC CCA8) or UTF-16 is
 * fatal, naming the file and how to convert it. */
static void test_not_utf8(void)
{
    const struct file gbk_agency[] = {
        {"agency.txt", "agency_id,agency_name,agency_timezone\nYT,\xd1\xcc\xcc\xa8,Asia/Shanghai\n", 0},
    };
    char *dir = write_feed(gbk_agency, 1);
    CU_ASSERT_PTR_NULL(gtfs_load(dir, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "agency.txt"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "not UTF-8"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "iconv -f GBK -t UTF-8"));
    CU_ASSERT(json_ok(err));
    drop_feed(dir);

    /* Mostly GBK: one name that happens to be valid UTF-8 does not hide it. */
    const struct file gbk_stops[] = {
        {"stops.txt", "stop_id,stop_name,stop_lat,stop_lon\n"
                      "S1,\xd1\xcc\xcc\xa8\xd5\xbe,37.5401,121.3800\n"
                      "S5,\xd1\xcc\xcc\xa8,37.5401,121.4000\n"
                      "S6,\xc4\xa7,37.5401,121.4000\n", 0},
    };
    dir = write_feed(gbk_stops, 1);
    CU_ASSERT_PTR_NULL(gtfs_load(dir, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "stops.txt"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "iconv -f GBK -t UTF-8"));
    drop_feed(dir);

    /* UTF-16 (what some spreadsheets save as "Unicode text"). */
    static const char u16[] = "\xff\xfe" "a\0,\0b\0\n\0";
    const struct file utf16[] = {{"routes.txt", u16, sizeof u16 - 1}};
    dir = write_feed(utf16, 1);
    CU_ASSERT_PTR_NULL(gtfs_load(dir, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "routes.txt"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "UTF-16"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "iconv -f UTF-16 -t UTF-8"));
    drop_feed(dir);

    /* The minimal feed itself loads clean (the cases above fail for their
     * own reason). */
    dir = write_feed(NULL, 0);
    struct gtfs *f = gtfs_load(dir, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL(f);
    if (f != NULL)
        CU_ASSERT_EQUAL(f->n_issues_total, 0);
    gtfs_free(f);
    drop_feed(dir);
}

static void test_dst_origin(void)
{
    struct gtfs *f = gtfs_load(FIX "dst", err, sizeof err);
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT_EQUAL(f->n_issues_total, 0);
    /* 2026-03-08, spring forward: noon EDT is 16:00 UTC, so the origin is
     * 04:00 UTC -- 23:00 EST the evening before, not local midnight. */
    int64_t o = gtfs_day_origin(f, day(2026, 3, 8));
    CU_ASSERT_EQUAL(o, day(2026, 3, 8) * 86400 + 4 * 3600);
    CU_ASSERT_EQUAL(gtfs_day_origin(f, day(2026, 3, 7)), day(2026, 3, 7) * 86400 + 5 * 3600);
    uint32_t early = gtfs_trip_find(f, "EARLY"), owl = gtfs_trip_find(f, "OWL");
    int64_t d, org;
    /* OWL (25:30 on the 7th) runs at 06:30 UTC on the 8th. */
    int64_t t = day(2026, 3, 8) * 86400 + 6 * 3600 + 35 * 60;
    CU_ASSERT_EQUAL(gtfs_trip_day(f, owl, t, 0, &d, &org), 0);
    CU_ASSERT_EQUAL(d, day(2026, 3, 7));
    CU_ASSERT_EQUAL(org + f->trips[owl].arr[0], day(2026, 3, 8) * 86400 + 6 * 3600 + 1800);
    /* EARLY on the 8th departs 01:30 after the origin: 05:30 UTC. */
    t = day(2026, 3, 8) * 86400 + 5 * 3600 + 35 * 60;
    CU_ASSERT_EQUAL(gtfs_trip_day(f, early, t, 0, &d, &org), 0);
    CU_ASSERT_EQUAL(d, day(2026, 3, 8));
    CU_ASSERT_EQUAL(org + f->trips[early].dep[0], day(2026, 3, 8) * 86400 + 5 * 3600 + 1800);
    gtfs_free(f);
}

/* A stop time must fall within the two service days the day lookup
 * (gtfs_trip_day: yesterday's service and today's) can place a trip in:
 * past 48:00:00 it is a typo (9999:00:00), reported with file:line and
 * treated as empty, like a time that does not parse. */
static void test_implausible_times(void)
{
    const struct file files[] = {
        {"stops.txt", "stop_id,stop_name,stop_lat,stop_lon\nS1,A,37.5401,121.3800\n"
                      "S3,C,37.5401,121.3900\nS5,B,37.5401,121.4000\n", 0},
        {"trips.txt", "route_id,service_id,trip_id\nR1,WK,T1\nR1,WK,T2\nR1,WK,OWL\n", 0},
        {"stop_times.txt", "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                           "T1,08:00:00,08:00:00,S1,1\n"
                           "T1,9999:00:00,08:06:00,S3,2\n"            /* 3 */
                           "T1,08:12:00,08:12:00,S5,3\n"
                           "T2,08:00:00,08:00:00,S1,1\n"
                           "T2,48:00:01,48:00:01,S5,2\n"             /* 6 */
                           "OWL,47:00:00,47:00:00,S1,1\n"
                           "OWL,48:00:00,48:00:00,S5,2\n", 0},
    };
    char *dir = write_feed(files, sizeof files / sizeof *files);
    struct gtfs *f = gtfs_load(dir, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT(has_issue(f, "stop_times.txt", 3, "arrival_time '9999:00:00' is past 48:00:00"));
    CU_ASSERT(has_issue(f, "stop_times.txt", 6, "arrival_time '48:00:01' is past 48:00:00"));
    CU_ASSERT(has_issue(f, "stop_times.txt", 6, "need times"));
    const struct gtfs_trip *t1 = trip(f, "T1"), *owl = trip(f, "OWL");
    CU_ASSERT_EQUAL_FATAL(t1->pattern != GTFS_NONE && owl->pattern != GTFS_NONE, 1);
    CU_ASSERT_EQUAL(t1->arr[1], 8 * 3600 + 6 * 60);           /* the departure stands */
    CU_ASSERT_EQUAL(t1->arr[2], 8 * 3600 + 12 * 60);
    CU_ASSERT_EQUAL(trip(f, "T2")->pattern, GTFS_NONE);        /* ignored */
    CU_ASSERT_EQUAL(owl->arr[1], 48 * 3600);                  /* the bound itself is fine */
    gtfs_free(f);
    drop_feed(dir);
}

int suite_gtfs(void)
{
    CU_pSuite s = CU_add_suite("gtfs", NULL, NULL);
    if (s == NULL)
        return -1;
    if (!CU_add_test(s, "parse_time_date", test_parse_time_date) ||
        !CU_add_test(s, "basic_tables", test_basic_tables) ||
        !CU_add_test(s, "basic_geometry", test_basic_geometry) ||
        !CU_add_test(s, "service_days", test_service_days) ||
        !CU_add_test(s, "stop_visits", test_stop_visits) ||
        !CU_add_test(s, "broken", test_broken) ||
        !CU_add_test(s, "fatal", test_fatal) ||
        !CU_add_test(s, "dst_origin", test_dst_origin) ||
        !CU_add_test(s, "bad_strings", test_bad_strings) ||
        !CU_add_test(s, "not_utf8", test_not_utf8) ||
        !CU_add_test(s, "implausible_times", test_implausible_times))
        return -1;
    return 0;
}
