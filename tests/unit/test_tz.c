/* test_tz.c -- time zones from the system's TZif files and calendar math.
 * Expected instants are worked out by hand from the published rules
 * (US: DST from the 2nd Sunday of March 02:00 to the 1st Sunday of
 * November 02:00; Sydney: 1st Sunday of October to 1st Sunday of April). */
#include <CUnit/CUnit.h>
#include <string.h>

#include "tz.h"

static char err[256];

static void test_civil(void)
{
    CU_ASSERT_EQUAL(tz_days_from_civil(1970, 1, 1), 0);
    CU_ASSERT_EQUAL(tz_days_from_civil(2000, 3, 1), 11017);
    CU_ASSERT_EQUAL(tz_days_from_civil(1969, 12, 31), -1);
    CU_ASSERT_EQUAL(tz_days_from_civil(2026, 13, 1), tz_days_from_civil(2027, 1, 1));
    CU_ASSERT_EQUAL(tz_days_from_civil(2026, 0, 1), tz_days_from_civil(2025, 12, 1));
    CU_ASSERT_EQUAL(tz_weekday(tz_days_from_civil(2026, 2, 16)), 1);  /* a Monday */
    for (int64_t d = -800000; d < 800000; d += 37) {
        int y, m, dd;
        tz_civil_from_days(d, &y, &m, &dd);
        if (tz_days_from_civil(y, m, dd) != d) {
            CU_FAIL("civil round trip");
            break;
        }
    }
}

static void test_new_york(void)
{
    struct tz *z = tz_load("America/New_York", NULL, err, sizeof err);
    CU_ASSERT_FATAL(z != NULL);
    int64_t switch_on = tz_days_from_civil(2026, 3, 8) * 86400 + 7 * 3600;   /* 02:00 EST */
    CU_ASSERT_EQUAL(tz_offset_at(z, switch_on - 1), -5 * 3600);
    CU_ASSERT_EQUAL(tz_offset_at(z, switch_on), -4 * 3600);
    int64_t switch_off = tz_days_from_civil(2026, 11, 1) * 86400 + 6 * 3600; /* 02:00 EDT */
    CU_ASSERT_EQUAL(tz_offset_at(z, switch_off - 1), -4 * 3600);
    CU_ASSERT_EQUAL(tz_offset_at(z, switch_off), -5 * 3600);
    /* Far past any table: the footer rule. */
    int64_t s2090 = tz_days_from_civil(2090, 3, 12) * 86400 + 7 * 3600;     /* 2nd Sun of March */
    CU_ASSERT_EQUAL(tz_offset_at(z, s2090 - 1), -5 * 3600);
    CU_ASSERT_EQUAL(tz_offset_at(z, s2090), -4 * 3600);
    /* Noon, a gap, an overlap. */
    CU_ASSERT_EQUAL(tz_local_to_utc(z, 2026, 2, 16, 12, 0, 0),
                    tz_days_from_civil(2026, 2, 16) * 86400 + 17 * 3600);
    CU_ASSERT_EQUAL(tz_local_to_utc(z, 2026, 3, 8, 2, 30, 0), switch_on + 1800);
    CU_ASSERT_EQUAL(tz_local_to_utc(z, 2026, 11, 1, 1, 30, 0), switch_off - 1800);
    CU_ASSERT_EQUAL(tz_local_day(z, switch_on), tz_days_from_civil(2026, 3, 8));
    CU_ASSERT_EQUAL(tz_local_day(z, tz_days_from_civil(2026, 3, 9) * 86400 + 3600),
                    tz_days_from_civil(2026, 3, 8));
    CU_ASSERT_STRING_EQUAL(tz_name(z), "America/New_York");
    tz_free(z);
}

static void test_shanghai_sydney_utc(void)
{
    struct tz *z = tz_load("Asia/Shanghai", NULL, err, sizeof err);
    CU_ASSERT_FATAL(z != NULL);
    CU_ASSERT_EQUAL(tz_offset_at(z, 1764400000), 8 * 3600);
    CU_ASSERT_EQUAL(tz_offset_at(z, 4102444800LL), 8 * 3600);   /* 2100 */
    tz_free(z);

    z = tz_load("Australia/Sydney", NULL, err, sizeof err);
    CU_ASSERT_FATAL(z != NULL);
    CU_ASSERT_EQUAL(tz_offset_at(z, tz_days_from_civil(2100, 1, 1) * 86400), 11 * 3600);
    CU_ASSERT_EQUAL(tz_offset_at(z, tz_days_from_civil(2100, 7, 1) * 86400), 10 * 3600);
    CU_ASSERT_EQUAL(tz_offset_at(z, tz_days_from_civil(2026, 1, 1) * 86400), 11 * 3600);
    tz_free(z);

    z = tz_load("UTC", "/nonexistent", err, sizeof err);
    CU_ASSERT_FATAL(z != NULL);
    CU_ASSERT_EQUAL(tz_offset_at(z, 1764400000), 0);
    tz_free(z);
}

static void test_bad_names(void)
{
    CU_ASSERT_PTR_NULL(tz_load("../etc/passwd", NULL, err, sizeof err));
    CU_ASSERT_PTR_NULL(tz_load("/etc/passwd", NULL, err, sizeof err));
    CU_ASSERT_PTR_NULL(tz_load("", NULL, err, sizeof err));
    CU_ASSERT_PTR_NULL(tz_load("Mars/Olympus_Mons", NULL, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "Mars/Olympus_Mons"));
    /* A file that is not TZif. */
    CU_ASSERT_PTR_NULL(tz_load("zone.tab", NULL, err, sizeof err));
}

int suite_tz(void)
{
    CU_pSuite s = CU_add_suite("tz", NULL, NULL);
    if (s == NULL)
        return -1;
    if (!CU_add_test(s, "civil", test_civil) ||
        !CU_add_test(s, "new_york", test_new_york) ||
        !CU_add_test(s, "shanghai_sydney_utc", test_shanghai_sydney_utc) ||
        !CU_add_test(s, "bad_names", test_bad_names))
        return -1;
    return 0;
}
