/* fuzz_gtfs.c -- libFuzzer harness for the GTFS static loader
 * (src/gtfs.c over src/csv.c): a feed folder whose files are the parts
 * of the input, FUZZ_SEP between them (util.h), in the order of FILES
 * below; an empty part means the file is absent.
 *
 * A feed that loads is then handed to the transit model (transit_new,
 * as cityd does at start) and asked what the arrivals boards and the
 * vehicle matcher ask of it: service days, trip days, pattern places.
 * A loaded feed must be internally consistent (indexes in range,
 * distances along each pattern non-decreasing). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gtfs.h"
#include "transit.h"
#include "util.h"

static const char *const FILES[] = {
    "agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt",
    "calendar.txt", "calendar_dates.txt", "shapes.txt",
};
#define NFILES (sizeof FILES / sizeof *FILES)

static void check_feed(const struct gtfs *f)
{
    for (size_t p = 0; p < f->n_patterns; p++) {
        const struct gtfs_pattern *pt = &f->patterns[p];
        for (uint32_t i = 0; i < pt->n; i++) {
            if (pt->stops[i] >= f->n_stops)
                abort();
            if (i > 0 && !(pt->dist_m[i] >= pt->dist_m[i - 1]))
                abort();                /* gtfs.h: non-decreasing */
        }
    }
    for (size_t t = 0; t < f->n_trips; t++) {
        const struct gtfs_trip *tr = &f->trips[t];
        if (tr->route >= f->n_routes || tr->service >= f->n_services ||
            (tr->pattern >= f->n_patterns && tr->pattern != GTFS_NONE))
            abort();                    /* GTFS_NONE: a trip without stop_times */
    }
    size_t nvisits = 0;
    for (size_t s = 0; s < f->n_stops; s++)
        nvisits += f->stops[s].n_visits;
    for (size_t s = 0; s < f->n_stops; s++) {
        const struct gtfs_stop *st = &f->stops[s];
        if ((size_t)st->visit_first + st->n_visits > nvisits)
            abort();
        for (uint32_t k = st->visit_first; k < st->visit_first + st->n_visits; k++) {
            const struct gtfs_visit *v = &f->visits[k];
            if (v->trip >= f->n_trips ||
                v->pos >= f->patterns[f->trips[v->trip].pattern].n ||
                f->patterns[f->trips[v->trip].pattern].stops[v->pos] != s)
                abort();                /* a visit of this stop by that trip */
        }
    }
}

static void use_feed(const struct gtfs *f)
{
    struct transit_params tp;
    transit_params_default(&tp);
    struct transit *t = transit_new(f, &tp);
    if (t == NULL)
        abort();
    for (size_t i = 0; i < f->n_trips && i < 16; i++) {
        int64_t day, origin;
        const struct gtfs_pattern *pt = gtfs_trip_pattern(f, (uint32_t)i);
        gtfs_service_active(f, f->trips[i].service, 20400);
        gtfs_trip_day(f, (uint32_t)i, 1764400000, 1800, &day, &origin);
        if (pt != NULL && pt->n > 0) {
            struct gtfs_place pl[4];
            const struct gtfs_stop *st = &f->stops[pt->stops[0]];
            struct geo_pt p = {st->lon, st->lat};
            gtfs_line_places(f, pt, p, 50, 0, INFINITY, pl, 4);
        }
    }
    transit_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = fuzz_tmpdir();
    fuzz_write_parts(dir, FILES, NFILES, data, size);
    char err[512] = "";
    struct gtfs *f = gtfs_load(dir, err, sizeof err);
    if (f == NULL) {
        if (err[0] == '\0')
            abort();                    /* a fatal problem says what */
        return 0;
    }
    check_feed(f);
    use_feed(f);
    gtfs_free(f);
    return 0;
}
