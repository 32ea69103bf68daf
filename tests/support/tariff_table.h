/* tariff_table.h -- the tariff test table (tests/unit/test_tariff.c
 * explains every row), shared with the integration test that checks the
 * fee endpoint against the exit gate's bill on the same rows
 * (tests/integration/it_apps.c). Header-only: static data. */
#ifndef CITYD_TEST_TARIFF_TABLE_H
#define CITYD_TEST_TARIFF_TABLE_H

#include <stdbool.h>
#include <time.h>

#include "map.h"

static const struct map_tariff T = {
    .present = true, .free_minutes = 15, .rate_per_hour = 6.0, .unit_minutes = 30,
    .daily_cap = 40.0, .has_night = true, .night_from_min = 22 * 60, .night_to_min = 7 * 60,
    .night_rate_per_hour = 1.0,
};
static const struct map_tariff U = {
    .present = true, .free_minutes = 0, .rate_per_hour = 5.0, .unit_minutes = 60,
};

/* Epoch of local Shanghai time on day D + dd (D = 2025-12-01). */
static inline double sh(int dd, int h, int m, int s)
{
    struct tm tm = {.tm_year = 125, .tm_mon = 11, .tm_mday = 1 + dd, .tm_hour = h,
                    .tm_min = m, .tm_sec = s};
    return (double)timegm(&tm) - 8 * 3600;
}

struct fee_case {
    int ed, eh, em, es;        /* entry: day offset, h, m, s */
    int xd, xh, xm, xs;        /* exit */
    const struct map_tariff *t;
    bool from_entry;
    bool utc;                  /* zone UTC instead of Asia/Shanghai */
    long long fen;
};

static const struct fee_case cases[] = {
    {0, 10, 0, 0, 0, 10, 0, 0, &T, false, false, 0},
    {0, 10, 0, 0, 0, 10, 15, 0, &T, false, false, 0},
    {0, 10, 0, 0, 0, 10, 15, 1, &T, false, false, 300},
    {0, 10, 0, 0, 0, 10, 45, 0, &T, false, false, 300},
    {0, 10, 0, 0, 0, 10, 45, 1, &T, false, false, 600},
    {0, 10, 0, 0, 0, 10, 15, 0, &T, true, false, 0},
    {0, 10, 0, 0, 0, 10, 15, 1, &T, true, false, 300},
    {0, 10, 0, 0, 0, 10, 30, 0, &T, true, false, 300},
    {0, 10, 0, 0, 0, 10, 30, 1, &T, true, false, 600},
    {0, 21, 0, 0, 0, 23, 0, 0, &T, false, false, 700},
    {0, 21, 15, 0, 0, 22, 45, 0, &T, false, false, 400},
    {0, 21, 14, 59, 0, 22, 45, 0, &T, false, false, 650},
    {0, 6, 0, 0, 0, 8, 0, 0, &T, false, false, 700},
    {0, 6, 15, 0, 0, 7, 30, 0, &T, false, false, 350},
    {0, 22, 0, 0, 1, 7, 0, 0, &T, false, false, 900},
    {0, 8, 0, 0, 0, 20, 0, 0, &T, false, false, 4000},
    {0, 10, 0, 0, 1, 10, 0, 0, &T, false, false, 4000},
    {0, 10, 0, 0, 1, 10, 15, 0, &T, false, false, 4000},
    {0, 10, 0, 0, 1, 10, 15, 1, &T, false, false, 4300},
    {0, 8, 0, 0, 2, 12, 0, 0, &T, false, false, 10400},
    {0, 8, 0, 0, 2, 22, 0, 0, &T, false, false, 12000},
    {0, 20, 0, 0, 2, 6, 0, 0, &T, false, false, 6000},
    {0, 21, 0, 0, 0, 23, 0, 0, &T, false, true, 1200},
    {0, 10, 0, 0, 3, 10, 0, 1, &U, false, false, 36500},
};

#endif
