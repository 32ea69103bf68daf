/* test_geo.c -- unit tests for geo.c: great-circle math, GCJ-02 against
 * published coordinate pairs, the local projection against haversine, and
 * GEOS linear referencing / centroids against hand-computed values. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "geo.h"

#define R GEO_EARTH_RADIUS_M
#define DEG (M_PI / 180.0)
/* A centre in Zhifu, Yantai. */
#define LON0 121.40
#define LAT0 37.53

static void test_distance(void)
{
    /* One degree along a meridian, and a quarter meridian, are arcs of
     * the sphere: R * angle exactly. */
    CU_ASSERT_DOUBLE_EQUAL(geo_distance_m(LON0, 37.0, LON0, 38.0), R * DEG, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(geo_distance_m(0, 0, 0, 90), R * M_PI / 2, 1e-6);
    /* Along the equator too. */
    CU_ASSERT_DOUBLE_EQUAL(geo_distance_m(10, 0, 11, 0), R * DEG, 1e-6);
    /* Along a parallel the great circle is shorter than the parallel arc
     * R cos(lat) dlon, but by less than 1 mm over 1 km. */
    double arc = R * cos(LAT0 * DEG) * 0.0113 * DEG;
    double d = geo_distance_m(LON0, LAT0, LON0 + 0.0113, LAT0);
    CU_ASSERT(d < arc);
    CU_ASSERT_DOUBLE_EQUAL(d, arc, 1e-3);
    CU_ASSERT_DOUBLE_EQUAL(geo_distance_m(LON0, LAT0, LON0, LAT0), 0.0, 0.0);
    /* Symmetric, and antipodes do not produce NaN. */
    CU_ASSERT_DOUBLE_EQUAL(geo_distance_m(1, 2, 3, 4), geo_distance_m(3, 4, 1, 2), 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(geo_distance_m(0, 0, 180, 0), R * M_PI, 1e-6);
}

static void test_bearing(void)
{
    CU_ASSERT_DOUBLE_EQUAL(geo_bearing_deg(LON0, LAT0, LON0, LAT0 + 0.01), 0.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(geo_bearing_deg(0, 0, 1, 0), 90.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(geo_bearing_deg(LON0, LAT0, LON0, LAT0 - 0.01), 180.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(geo_bearing_deg(0, 0, -1, 0), 270.0, 1e-9);
    /* North-east on the sphere from (0,0) to (1,1): atan2(sin1, tan1*cos1... )
     * = atan2(sin(1°)cos(1°), sin(1°)) = atan(cos 1°) in degrees. */
    CU_ASSERT_DOUBLE_EQUAL(geo_bearing_deg(0, 0, 1, 1), atan(cos(DEG)) / DEG, 1e-9);
    double b = geo_bearing_deg(LON0, LAT0, LON0 - 1e-9, LAT0 + 0.01);
    CU_ASSERT(b >= 0.0 && b < 360.0);
}

static void test_valid(void)
{
    CU_ASSERT_TRUE(geo_valid_lonlat(180, 90));
    CU_ASSERT_TRUE(geo_valid_lonlat(-180, -90));
    CU_ASSERT_FALSE(geo_valid_lonlat(180.0001, 0));
    CU_ASSERT_FALSE(geo_valid_lonlat(0, -90.0001));
    CU_ASSERT_FALSE(geo_valid_lonlat(NAN, 0));
    CU_ASSERT_FALSE(geo_valid_lonlat(0, INFINITY));
    /* lat/lon swapped around Yantai is caught. */
    CU_ASSERT_FALSE(geo_valid_lonlat(37.53, 121.40));
}

/* Published pairs:
 *  - wandergis/coordtransform README (the reference JS implementation):
 *    wgs84togcj02(116.404, 39.915) -> [116.41024449916938, 39.91640428150164];
 *    gcj02towgs84(116.404, 39.915) -> [116.39775550083061, 39.91359571849836],
 *    the latter computed with a single-step approximate inverse (g - offset(g)),
 *    which is off from the exact inverse by a few decimetres.
 *  - hujiulong/gcoord test/unit/crs/WGS84.spec.ts and GCJ02.spec.js:
 *    WGS84 [123, 45] -> GCJ02 [123.00607541, 45.00197815];
 *    GCJ02 [123, 45] -> WGS84 [122.99395597, 44.99804071] (iterative inverse
 *    stopping at 1e-6 deg, checked there to 5 decimals). */
static void test_gcj_pairs(void)
{
    double lon, lat;
    geo_wgs84_to_gcj02(116.404, 39.915, &lon, &lat);
    CU_ASSERT_DOUBLE_EQUAL(lon, 116.41024449916938, 1e-11);
    CU_ASSERT_DOUBLE_EQUAL(lat, 39.91640428150164, 1e-11);

    geo_wgs84_to_gcj02(123, 45, &lon, &lat);
    CU_ASSERT_DOUBLE_EQUAL(lon, 123.00607541, 1e-8);
    CU_ASSERT_DOUBLE_EQUAL(lat, 45.00197815, 1e-8);

    geo_gcj02_to_wgs84(123, 45, &lon, &lat);
    CU_ASSERT_DOUBLE_EQUAL(lon, 122.99395597, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(lat, 44.99804071, 1e-6);

    geo_gcj02_to_wgs84(116.404, 39.915, &lon, &lat);
    CU_ASSERT(geo_distance_m(lon, lat, 116.39775550083061, 39.91359571849836) < 2.0);
    /* ... and ours is the exact inverse: forward maps it back to the input. */
    double glon, glat;
    geo_wgs84_to_gcj02(lon, lat, &glon, &glat);
    CU_ASSERT_DOUBLE_EQUAL(glon, 116.404, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(glat, 39.915, 1e-9);
}

static void test_gcj_outside_china(void)
{
    double lon, lat;
    CU_ASSERT_FALSE(geo_in_china(2.35, 48.85));
    CU_ASSERT_TRUE(geo_in_china(LON0, LAT0));
    geo_wgs84_to_gcj02(2.35, 48.85, &lon, &lat);
    CU_ASSERT_EQUAL(lon, 2.35);
    CU_ASSERT_EQUAL(lat, 48.85);
    geo_gcj02_to_wgs84(-77.03, 38.9, &lon, &lat);
    CU_ASSERT_EQUAL(lon, -77.03);
    CU_ASSERT_EQUAL(lat, 38.9);
    /* Inside China the offset is real: a few hundred metres in Yantai. */
    geo_wgs84_to_gcj02(LON0, LAT0, &lon, &lat);
    double off = geo_distance_m(LON0, LAT0, lon, lat);
    CU_ASSERT(off > 100.0 && off < 1000.0);
}

/* Round trip both ways over a 0.5-degree grid across China (the parts of
 * the rectangle between 18N and 53N, 74E and 134E). */
static void test_gcj_round_trip(void)
{
    double worst = 0.0;
    int n = 0;
    for (double lat = 18.0; lat <= 53.0; lat += 0.5) {
        for (double lon = 74.0; lon <= 134.0; lon += 0.5) {
            double g1, g2, w1, w2;
            geo_wgs84_to_gcj02(lon, lat, &g1, &g2);
            geo_gcj02_to_wgs84(g1, g2, &w1, &w2);
            worst = fmax(worst, geo_distance_m(lon, lat, w1, w2));
            geo_gcj02_to_wgs84(lon, lat, &w1, &w2);
            geo_wgs84_to_gcj02(w1, w2, &g1, &g2);
            worst = fmax(worst, geo_distance_m(lon, lat, g1, g2));
            n++;
        }
    }
    CU_ASSERT(n > 8000);
    CU_ASSERT(worst < 0.5);
    /* The 1e-9 deg stopping rule gives far better than the contract. */
    CU_ASSERT(worst < 0.001);
}

static void test_projection_round_trip(void)
{
    struct geo_proj p;
    geo_proj_init(&p, LON0, LAT0);
    struct geo_xy c = geo_project(&p, LON0, LAT0);
    CU_ASSERT_DOUBLE_EQUAL(c.x, 0.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(c.y, 0.0, 1e-9);
    /* Along the central meridian y is the arc length. */
    struct geo_xy n = geo_project(&p, LON0, LAT0 + 0.1);
    CU_ASSERT_DOUBLE_EQUAL(n.x, 0.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(n.y, R * 0.1 * DEG, 1e-6);
    CU_ASSERT(geo_project(&p, LON0 + 0.1, LAT0).x > 0.0);
    for (double dlat = -0.5; dlat <= 0.5; dlat += 0.1) {
        for (double dlon = -0.6; dlon <= 0.6; dlon += 0.1) {
            struct geo_xy xy = geo_project(&p, LON0 + dlon, LAT0 + dlat);
            struct geo_pt back = geo_unproject(&p, xy);
            CU_ASSERT_DOUBLE_EQUAL(back.lon, LON0 + dlon, 1e-10);
            CU_ASSERT_DOUBLE_EQUAL(back.lat, LAT0 + dlat, 1e-10);
        }
    }
    CU_ASSERT_DOUBLE_EQUAL(p.ky, R * DEG, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(p.kx, R * DEG * cos(LAT0 * DEG), 1e-9);
}

/* Planar distances in the projection against haversine, for pairs of
 * points anywhere within 50 km of the centre, in every direction. */
static void test_projection_accuracy(void)
{
    struct geo_proj p;
    geo_proj_init(&p, LON0, LAT0);
    double km = 1000.0;
    double dlat50 = 50 * km / (R * DEG), dlon50 = 50 * km / (R * DEG * cos(LAT0 * DEG));
    double worst = 0.0;
    int n = 0;
    for (int i = -4; i <= 4; i++) {
        for (int j = -4; j <= 4; j++) {
            double lon1 = LON0 + dlon50 * i / 4 * 0.7, lat1 = LAT0 + dlat50 * j / 4 * 0.7;
            for (int a = 0; a < 16; a++) { /* a 2 km and a 30 km spoke */
                for (double len = 2 * km; len <= 30 * km; len += 28 * km) {
                    double ang = a * M_PI / 8;
                    double lat2 = lat1 + len * cos(ang) / (R * DEG);
                    double lon2 = lon1 + len * sin(ang) / (R * DEG * cos(lat1 * DEG));
                    if (geo_distance_m(LON0, LAT0, lon2, lat2) > 50 * km ||
                        geo_distance_m(LON0, LAT0, lon1, lat1) > 50 * km)
                        continue;
                    struct geo_xy u = geo_project(&p, lon1, lat1);
                    struct geo_xy v = geo_project(&p, lon2, lat2);
                    double h = geo_distance_m(lon1, lat1, lon2, lat2);
                    double e = fabs(hypot(u.x - v.x, u.y - v.y) - h) / h;
                    worst = fmax(worst, e);
                    n++;
                }
            }
        }
    }
    CU_ASSERT(n > 1000);
    CU_ASSERT(worst < 1e-3);  /* the contract: 0.1 % */
    CU_ASSERT(worst < 1e-4);  /* what transverse Mercator gives: ~3e-5 */
}

static void test_geo_new(void)
{
    CU_ASSERT_PTR_NULL(geo_new(200, 0));
    CU_ASSERT_PTR_NULL(geo_new(NAN, 0));
    struct geo *g = geo_new(LON0, LAT0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_DOUBLE_EQUAL(geo_projection(g)->lon0, LON0, 0);
    CU_ASSERT_DOUBLE_EQUAL(geo_projection(g)->lat0, LAT0, 0);
    CU_ASSERT_STRING_EQUAL(geo_last_error(g), "");
    geo_free(g);
    geo_free(NULL);
}

/* A meridian line 0.01 deg east of the centre: positions along it are
 * R * dlat (hand-computable), offsets R * cos(lat) * dlon. */
static void test_line_locate(void)
{
    struct geo *g = geo_new(LON0, LAT0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    double lon = LON0 + 0.01;
    struct geo_pt pts[] = {{lon, 37.52}, {lon, 37.525}, {lon, 37.53}, {lon, 37.54}};
    struct geo_line *l = geo_line_new(g, pts, 4);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_EQUAL(l->n, 4);
    double len = R * 0.02 * DEG;
    CU_ASSERT_DOUBLE_EQUAL(l->length_m, len, 0.01);
    CU_ASSERT_DOUBLE_EQUAL(l->cum_m[1], R * 0.005 * DEG, 0.01);
    CU_ASSERT_DOUBLE_EQUAL(l->cum_m[0], 0.0, 0.0);

    double off;
    /* 20 m east of the line at 37.533. */
    double dlon20 = 20.0 / (R * DEG * cos(37.533 * DEG));
    double d = geo_line_locate(g, l, (struct geo_pt){lon + dlon20, 37.533}, &off);
    CU_ASSERT_DOUBLE_EQUAL(d, R * 0.013 * DEG, 0.02);
    CU_ASSERT_DOUBLE_EQUAL(off, 20.0, 0.02);
    /* Before the start: clamps to 0, offset is the distance to the start. */
    d = geo_line_locate(g, l, (struct geo_pt){lon, 37.51}, &off);
    CU_ASSERT_DOUBLE_EQUAL(d, 0.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(off, R * 0.01 * DEG, 0.05);
    /* off_m may be NULL; bad input gives NaN. */
    d = geo_line_locate(g, l, (struct geo_pt){lon, 37.55}, NULL);
    CU_ASSERT_DOUBLE_EQUAL(d, l->length_m, 1e-6);
    CU_ASSERT(isnan(geo_line_locate(g, l, (struct geo_pt){NAN, 37.5}, &off)));
    CU_ASSERT(isnan(off));

    /* point_at inverts locate, and clamps. */
    struct geo_pt q = geo_line_point_at(l, R * 0.013 * DEG);
    CU_ASSERT_DOUBLE_EQUAL(q.lon, lon, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(q.lat, 37.533, 1e-8);
    q = geo_line_point_at(l, -5);
    CU_ASSERT_DOUBLE_EQUAL(q.lat, 37.52, 1e-10);
    q = geo_line_point_at(l, 1e9);
    CU_ASSERT_DOUBLE_EQUAL(q.lat, 37.54, 1e-10);
    q = geo_line_point_at(l, l->cum_m[2]);
    CU_ASSERT_DOUBLE_EQUAL(q.lat, 37.53, 1e-10);

    geo_line_free(l);
    geo_free(g);
}

static void test_line_new_rejects(void)
{
    struct geo *g = geo_new(LON0, LAT0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    struct geo_pt one[] = {{LON0, LAT0}};
    struct geo_pt bad[] = {{LON0, LAT0}, {LON0, 95}};
    CU_ASSERT_PTR_NULL(geo_line_new(g, one, 1));
    CU_ASSERT_PTR_NULL(geo_line_new(g, bad, 2));
    /* A line whose points coincide has length 0 and still locates. */
    struct geo_pt same[] = {{LON0, LAT0}, {LON0, LAT0}};
    struct geo_line *l = geo_line_new(g, same, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_DOUBLE_EQUAL(l->length_m, 0.0, 0.0);
    double off;
    CU_ASSERT_DOUBLE_EQUAL(geo_line_locate(g, l, (struct geo_pt){LON0, LAT0 + 0.001}, &off),
                           0.0, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(off, R * 0.001 * DEG, 0.01);
    geo_line_free(l);
    geo_free(g);
}

/* A route that goes east 1 km along a parallel then comes back 30 m
 * further north: a point by the start is nearest the outbound leg, but
 * searching only the return leg must find it there. */
static void test_line_locate_range(void)
{
    struct geo *g = geo_new(LON0, LAT0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    double dlon1k = 1000.0 / (R * DEG * cos(LAT0 * DEG));
    double dlat30 = 30.0 / (R * DEG);
    struct geo_pt pts[] = {{LON0, LAT0}, {LON0 + dlon1k / 2, LAT0}, {LON0 + dlon1k, LAT0},
                           {LON0 + dlon1k, LAT0 + dlat30}, {LON0, LAT0 + dlat30}};
    struct geo_line *l = geo_line_new(g, pts, 5);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_DOUBLE_EQUAL(l->length_m, 2030.0, 0.1);

    struct geo_pt p = {LON0 + dlon1k * 0.2, LAT0 + dlat30 * 0.4}; /* 12 m N of outbound */
    double off;
    double d = geo_line_locate(g, l, p, &off);
    CU_ASSERT_DOUBLE_EQUAL(d, 200.0, 0.05);
    CU_ASSERT_DOUBLE_EQUAL(off, 12.0, 0.05);

    d = geo_line_locate_range(g, l, p, 1030.0, 2030.0, &off);
    CU_ASSERT_DOUBLE_EQUAL(d, 1030.0 + 800.0, 0.05);
    CU_ASSERT_DOUBLE_EQUAL(off, 18.0, 0.05);

    /* A window inside one segment, cutting vertices on both sides. */
    d = geo_line_locate_range(g, l, p, 100.0, 700.0, &off);
    CU_ASSERT_DOUBLE_EQUAL(d, 200.0, 0.05);
    /* The answer is clamped to the window when the point is outside it. */
    d = geo_line_locate_range(g, l, p, 300.0, 700.0, &off);
    CU_ASSERT_DOUBLE_EQUAL(d, 300.0, 0.05);
    CU_ASSERT_DOUBLE_EQUAL(off, hypot(100.0, 12.0), 0.05);
    /* Empty and reversed windows locate at from_m. */
    d = geo_line_locate_range(g, l, p, 500.0, 400.0, &off);
    CU_ASSERT_DOUBLE_EQUAL(d, 500.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(off, hypot(300.0, 12.0), 0.05);
    /* Out-of-range bounds are clamped; the full range is plain locate. */
    d = geo_line_locate_range(g, l, p, -50.0, 1e9, &off);
    CU_ASSERT_DOUBLE_EQUAL(d, 200.0, 0.05);
    CU_ASSERT(isnan(geo_line_locate_range(g, l, p, NAN, 10.0, &off)));

    geo_line_free(l);
    geo_free(g);
}

/* A long line (more vertices than the on-stack buffer) in range mode. */
static void test_line_locate_range_long(void)
{
    struct geo *g = geo_new(LON0, LAT0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    enum { N = 500 };
    struct geo_pt pts[N];
    for (int i = 0; i < N; i++) /* 10 m steps north */
        pts[i] = (struct geo_pt){LON0, LAT0 + i * 10.0 / (R * DEG)};
    struct geo_line *l = geo_line_new(g, pts, N);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    struct geo_pt p = geo_line_point_at(l, 2345.0);
    double off;
    CU_ASSERT_DOUBLE_EQUAL(geo_line_locate_range(g, l, p, 5.0, 4000.0, &off), 2345.0, 0.01);
    CU_ASSERT_DOUBLE_EQUAL(off, 0.0, 0.01);
    geo_line_free(l);
    geo_free(g);
}

static void test_centroid(void)
{
    struct geo *g = geo_new(LON0, LAT0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    double h = 0.001;
    struct geo_pt sq[] = {{LON0 - h, LAT0 - h}, {LON0 + h, LAT0 - h}, {LON0 + h, LAT0 + h},
                          {LON0 - h, LAT0 + h}, {LON0 - h, LAT0 - h}};
    struct geo_pt c;
    CU_ASSERT_EQUAL(geo_polygon_centroid(g, sq, 5, &c), 0);
    CU_ASSERT_DOUBLE_EQUAL(c.lon, LON0, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(c.lat, LAT0, 1e-7);
    /* Unclosed ring: same answer. */
    CU_ASSERT_EQUAL(geo_polygon_centroid(g, sq, 4, &c), 0);
    CU_ASSERT_DOUBLE_EQUAL(c.lon, LON0, 1e-7);
    /* An L-shape: area-weighted, not the vertex mean. It is three unit
     * squares (units of u) centred (0.5,0.5), (1.5,0.5), (0.5,1.5), so the
     * centroid is their mean (5/6, 5/6). */
    double u = 0.001;
    struct geo_pt ell[] = {{LON0, LAT0}, {LON0 + 2 * u, LAT0}, {LON0 + 2 * u, LAT0 + u},
                           {LON0 + u, LAT0 + u}, {LON0 + u, LAT0 + 2 * u},
                           {LON0, LAT0 + 2 * u}};
    CU_ASSERT_EQUAL(geo_polygon_centroid(g, ell, 6, &c), 0);
    CU_ASSERT_DOUBLE_EQUAL(c.lon, LON0 + u * 5 / 6, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(c.lat, LAT0 + u * 5 / 6, 1e-7);
    /* Degenerate rings fail with a message. */
    CU_ASSERT_EQUAL(geo_polygon_centroid(g, sq, 2, &c), -1);
    CU_ASSERT(strlen(geo_last_error(g)) > 0);
    struct geo_pt tri[] = {{LON0, LAT0}, {LON0 + u, LAT0}, {LON0, LAT0}};
    CU_ASSERT_EQUAL(geo_polygon_centroid(g, tri, 3, &c), -1);
    geo_free(g);
}

int suite_geo(void)
{
    static CU_TestInfo tests[] = {
        {"haversine distance", test_distance},
        {"initial bearing", test_bearing},
        {"lon/lat validity", test_valid},
        {"GCJ-02 published pairs", test_gcj_pairs},
        {"GCJ-02 identity outside China", test_gcj_outside_china},
        {"GCJ-02 round trip across China", test_gcj_round_trip},
        {"projection round trip", test_projection_round_trip},
        {"projection vs haversine within 50 km", test_projection_accuracy},
        {"geo_new", test_geo_new},
        {"line locate / point_at", test_line_locate},
        {"line_new rejects", test_line_new_rejects},
        {"line locate_range on a loop", test_line_locate_range},
        {"line locate_range long line", test_line_locate_range_long},
        {"polygon centroid", test_centroid},
        CU_TEST_INFO_NULL,
    };
    static CU_SuiteInfo suites[] = {
        {.pName = "geo", .pTests = tests},
        CU_SUITE_INFO_NULL,
    };
    return CU_register_suites(suites) == CUE_SUCCESS ? 0 : -1;
}
