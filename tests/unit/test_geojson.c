/* test_geojson.c -- geojson.h: positions to 7 decimals, features from list
 * items, escaping, boxes across the antimeridian. */
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "geojson.h"

static void test_positions(void)
{
    char b[64];
    CU_ASSERT_EQUAL(geojson_pos(b, 121.39123456789, 37.5), strlen("[121.3912346,37.5]"));
    CU_ASSERT_STRING_EQUAL(b, "[121.3912346,37.5]");
    geojson_pos(b, -0.00000001, 0);
    CU_ASSERT_STRING_EQUAL(b, "[0,0]");
    geojson_pos(b, -179.99999995, -89.1);
    CU_ASSERT_STRING_EQUAL(b, "[-180,-89.1]");
    CU_ASSERT_DOUBLE_EQUAL(geojson_round(37.54012345), 37.5401235, 1e-12);
    json_t *p = geojson_point(121.39123456789, 37.54, false);
    char *s = json_dumps(p, JSON_COMPACT | JSON_REAL_PRECISION(15));
    CU_ASSERT_STRING_EQUAL(s, "{\"type\":\"Point\",\"coordinates\":[121.3912346,37.54]}");
    free(s);
    json_decref(p);
    /* GCJ-02 moves a point in China by a few hundred metres */
    p = geojson_point(121.39, 37.54, true);
    CU_ASSERT_TRUE(json_real_value(json_array_get(json_object_get(p, "coordinates"), 0)) != 121.39);
    json_decref(p);
}

static void test_feature_head(void)
{
    char b[512];
    size_t n = geojson_feature_head(b, "a\"b\\c", 1.5, 2.25);
    CU_ASSERT_EQUAL(n, strlen(b));
    CU_ASSERT_STRING_EQUAL(b, "{\"type\":\"Feature\",\"id\":\"a\\\"b\\\\c\",\"geometry\":"
                              "{\"type\":\"Point\",\"coordinates\":[1.5,2.25]},\"properties\":");
    /* completed by the caller, it parses */
    strcat(b, "{}}");
    json_t *j = json_loads(b, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "id")), "a\"b\\c");
    json_decref(j);
}

static void test_collection(void)
{
    json_t *items = json_loads("[{\"id\":\"v1\",\"lon\":121.1,\"lat\":37.2,\"speed\":3},"
                               "{\"id\":\"l1\",\"location\":{\"type\":\"Point\","
                               "\"coordinates\":[121.3,37.4]}},"
                               "{\"id\":7},"
                               "{\"id\":\"c1\"}]", 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(items);
    struct geo_pt line[2] = {{121, 37}, {121.1, 37.1}};
    json_t *geoms[4] = {NULL, NULL, NULL, geojson_line(line, 2, false)};
    json_t *fc = geojson_collection(items, geoms, "id");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(fc, "type")), "FeatureCollection");
    json_t *fs = json_object_get(fc, "features");
    CU_ASSERT_EQUAL_FATAL(json_array_size(fs), 4);
    json_t *f0 = json_array_get(fs, 0), *f2 = json_array_get(fs, 2), *f3 = json_array_get(fs, 3);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(f0, "type")), "Feature");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(f0, "id")), "v1");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(f0, "properties"),
                                                       "speed")), 3);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(
                               json_array_get(fs, 1), "geometry"), "type")), "Point");
    CU_ASSERT_TRUE(json_is_null(json_object_get(f2, "geometry")));   /* nothing to place it */
    CU_ASSERT_PTR_NULL(json_object_get(f2, "id"));                   /* not a string */
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(f3, "geometry"),
                                                             "type")), "LineString");
    size_t len = 0;
    char *text = geojson_dump(fc, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_EQUAL(len, strlen(text));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"coordinates\":[[121.0,37.0],[121.1,37.1]]"));
    free(text);
    json_decref(fc);
    json_decref(items);
}

static void test_box(void)
{
    double bb[4] = {121, 37, 122, 38}, across[4] = {179, -10, -179, 10};
    CU_ASSERT_TRUE(geojson_in_box(bb, 121.5, 37.5));
    CU_ASSERT_TRUE(geojson_in_box(bb, 121, 38));            /* edges count */
    CU_ASSERT_FALSE(geojson_in_box(bb, 120.99, 37.5));
    CU_ASSERT_FALSE(geojson_in_box(bb, 121.5, 38.01));
    CU_ASSERT_TRUE(geojson_in_box(across, 179.5, 0));
    CU_ASSERT_TRUE(geojson_in_box(across, -179.5, 0));
    CU_ASSERT_FALSE(geojson_in_box(across, 0, 0));
}

int suite_geojson(void)
{
    static CU_TestInfo tests[] = {
        {"positions to 7 decimals", test_positions},
        {"feature head: escaped id, parses", test_feature_head},
        {"collection from list items", test_collection},
        {"boxes, across the antimeridian", test_box},
        CU_TEST_INFO_NULL,
    };
    static CU_SuiteInfo suites[] = {
        {.pName = "geojson", .pTests = tests},
        CU_SUITE_INFO_NULL,
    };
    return CU_register_suites(suites) == CUE_SUCCESS ? 0 : -1;
}
