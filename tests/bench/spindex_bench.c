/* spindex_bench.c -- micro-benchmark of the spatial index (not a test).
 *
 *   spindex_bench [nlots ...]      default: 2000 20000 200000
 *
 * For each size: lots uniformly in a Yantai-sized box (121.05-121.65 E,
 * 37.25-37.65 N, ~53 x 44 km), a third of them full; queries at random
 * points, radius 2 km, limit 5, min_available 1 (the benchmark
 * query), then a brute-force scan of the same state as the baseline, and
 * the O(1) availability update. Prints one row per figure. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "spindex.h"

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double rng_range(uint64_t *s, double a, double b)
{
    return a + (b - a) * ((double)(rng_next(s) >> 11) / 9007199254740992.0);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

#define LON0 121.05
#define LON1 121.65
#define LAT0 37.25
#define LAT1 37.65

static size_t brute(const struct spindex *s, uint32_t n, const struct spindex_query *q,
                    struct spindex_hit *out)
{
    size_t k = 0;
    for (uint32_t h = 0; h < n; h++) {
        if (!spindex_filter(s, h, q))
            continue;
        double d = spindex_entry_distance_m(s, h, q->lon, q->lat);
        if (!(d <= q->radius_m))
            continue;
        size_t i = k < q->limit ? k++ : q->limit;
        if (i == q->limit && !(d < out[i - 1].distance_m))
            continue;
        if (i == q->limit)
            i--;
        while (i > 0 && d < out[i - 1].distance_m) {
            out[i] = out[i - 1];
            i--;
        }
        out[i].handle = h;
        out[i].distance_m = d;
    }
    return k;
}

static void bench(uint32_t n)
{
    uint64_t seed = 12345;
    char (*ids)[16] = malloc((size_t)n * sizeof *ids);
    struct spindex *s = spindex_new();
    if (ids == NULL || s == NULL)
        exit(1);
    double t0 = now_s();
    for (uint32_t i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "yt-%07" PRIu32, i);
        uint32_t h = spindex_insert(s, ids[i], rng_range(&seed, LON0, LON1),
                                    rng_range(&seed, LAT0, LAT1));
        spindex_set_available(s, h, rng_next(&seed) % 3 == 0 ? 0 : (int32_t)(rng_next(&seed) % 50));
        spindex_set_ts(s, h, 1000);
    }
    spindex_compact(s);              /* as cityd's parking tick does after a bulk load */
    double build = now_s() - t0;
    struct spindex_stats st;
    spindex_stats(s, &st);

    enum { NQ = 200000 };
    struct spindex_query q = {.radius_m = 2000, .limit = 5, .min_available = 1,
                              .max_price = NAN, .now = 1000, .stale_after = 900};
    struct spindex_hit out[5];
    size_t found = 0;
    t0 = now_s();
    for (int i = 0; i < NQ; i++) {
        q.lon = rng_range(&seed, LON0, LON1);
        q.lat = rng_range(&seed, LAT0, LAT1);
        found += spindex_nearest(s, &q, out);
    }
    double tq = (now_s() - t0) / NQ;

    int nb = n > 20000 ? 200 : 2000;
    t0 = now_s();
    for (int i = 0; i < nb; i++) {
        q.lon = rng_range(&seed, LON0, LON1);
        q.lat = rng_range(&seed, LAT0, LAT1);
        found += brute(s, n, &q, out);
    }
    double tb = (now_s() - t0) / nb;

    enum { NU = 2000000 };
    t0 = now_s();
    for (int i = 0; i < NU; i++)
        spindex_set_available(s, (uint32_t)(rng_next(&seed) % n), (int32_t)(i % 7));
    double tu = (now_s() - t0) / NU;

    printf("%-8" PRIu32 " build %7.1f ms  grid %zux%zu  mem %6.1f MiB  "
           "nearest %6.2f us  brute %9.1f us  (x%.0f)  update %5.1f ns  [%zu]\n",
           n, build * 1e3, st.rows, st.cols, st.bytes / 1048576.0, tq * 1e6, tb * 1e6,
           tb / tq, tu * 1e9, found);
    spindex_free(s);
    free(ids);
}

int main(int argc, char **argv)
{
    static const uint32_t dflt[] = {2000, 20000, 200000};
    if (argc > 1)
        for (int i = 1; i < argc; i++)
            bench((uint32_t)strtoul(argv[i], NULL, 10));
    else
        for (size_t i = 0; i < sizeof dflt / sizeof *dflt; i++)
            bench(dflt[i]);
    return 0;
}
