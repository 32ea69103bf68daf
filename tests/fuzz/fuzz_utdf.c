/* fuzz_utdf.c -- libFuzzer harness for the UTDF volume CSV reader
 * (src/utdf.c): the intersection loads citysim replays.
 *
 * A file that reads is then used as citysim uses it: per intersection,
 * the counts of a window from the first interval (which may end early or
 * have gaps: an error, never a crash), and the time formatting. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "utdf.h"

static void use(const struct utdf *u)
{
    char buf[32], err[256];
    int64_t first = utdf_first_minute(u);
    double interval = utdf_interval_s(u);
    if (!(interval > 0))
        abort();                        /* a step between rows is positive */
    utdf_format_minute(first, buf, sizeof buf);
    for (size_t i = 0; i < u->n; i++) {
        if (i > 0 && strcmp(u->rows[i - 1].intid, u->rows[i].intid) == 0)
            continue;                   /* one window per intersection */
        if (utdf_find(u, u->rows[i].intid) != (long)i)
            abort();                    /* rows are sorted by id */
        struct sim_count *c = NULL;
        size_t n = 0;
        if (utdf_counts(u, u->rows[i].intid, first, 4 * interval, &c, &n, err, sizeof err) == 0 &&
            n == 0)
            abort();                    /* a covered window has intervals */
        free(c);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct utdf *u = NULL;
    char err[512];
    if (utdf_read_mem((const char *)data, size, "loads.csv", &u, err, sizeof err) == 0)
        use(u);
    else if (u != NULL || strncmp(err, "loads.csv:", 10) != 0)
        abort();                        /* errors say where */
    utdf_free(u);
    return 0;
}
