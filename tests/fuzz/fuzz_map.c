/* fuzz_map.c -- libFuzzer harness for the city map loader (src/map.c):
 * parking.geojson and corridors.geojson, FUZZ_SEP between them (util.h;
 * an empty part means the file is absent).
 *
 * A map that loads is then used the way cityd uses it at start: the
 * garages' walking graphs (garages_build, the --check of unreachable
 * bays, a route from every kiosk to the bays of its lot), the parking
 * registry (parking_load_map) and each corridor's common cycle and
 * Webster split. A map problem must be reported with a file and a
 * feature, never crash anything downstream. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corridor.h"
#include "garage.h"
#include "map.h"
#include "parking.h"
#include "util.h"

#define MAX_ROUTES 64           /* per input: routing is the slow part */

static void use_garages(const struct map *m)
{
    struct garages *gs = garages_build(m);
    struct map_problems probs = {0};
    if (gs == NULL)
        abort();
    garages_check(gs, &probs);
    map_problems_free(&probs);
    size_t routes = 0;
    for (size_t k = 0; k < m->nkiosks; k++) {
        const struct garage *g = garages_get(gs, m->kiosks[k].lot);
        for (size_t b = 0; g != NULL && b < m->nbays && routes < MAX_ROUTES; b++) {
            if (strcmp(m->bays[b].lot, m->kiosks[k].lot) != 0)
                continue;
            struct garage_route r;
            int not_found;
            char err[256];
            routes++;
            if (garage_route(g, m->kiosks[k].id, m->bays[b].id, &r, &not_found, err,
                             sizeof err) == 0) {
                if (!(r.distance_m >= 0) || r.npath < 1)
                    abort();            /* a found route has a length and a path */
                json_decref(garage_route_json(&r, b % 2 == 1));
                garage_route_free(&r);
            }
        }
    }
    garages_free(gs);
}

static void use_corridors(const struct map *m)
{
    for (size_t c = 0; c < m->ncorridors; c++) {
        const struct map_corridor *co = &m->corridors[c];
        double cycle;
        char err[256];
        for (size_t i = 0; i < co->nisecs; i++)
            corridor_outbound_dir(m, co, i);
        if (corridor_common_cycle(m, co, &cycle, err, sizeof err) != 0)
            continue;
        if (!(cycle > 0) || !isfinite(cycle))
            abort();
        for (size_t i = 0; i < co->nisecs; i++) {
            const struct map_intersection *x = map_intersection(m, co->isecs[i]);
            if (x == NULL)
                abort();                /* the loader checked every reference */
            double *green = malloc((x->nphases + 1) * sizeof *green);
            if (green == NULL)
                abort();
            corridor_split(x, cycle, green, err, sizeof err);
            free(green);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const files[] = {"parking.geojson", "corridors.geojson"};
    const char *dir = fuzz_tmpdir();
    fuzz_write_parts(dir, files, 2, data, size);

    struct map *m = NULL;
    struct map_problems probs = {0};
    int rc = map_load(dir, &m, &probs);
    if ((rc == 0) != (probs.n == 0) || (rc == 0) != (m != NULL))
        abort();                        /* problems iff no map */
    for (size_t i = 0; i < probs.n; i++)
        if (probs.items[i].file[0] == '\0' || probs.items[i].feature[0] == '\0')
            abort();                    /* every problem says where */
    map_problems_free(&probs);
    if (m != NULL) {
        use_garages(m);
        struct parking_config pc = {.stale_after_s = 600};
        struct parking *p = parking_new(&pc);
        char err[256];
        if (p == NULL)
            abort();
        if (parking_load_map(p, m, err, sizeof err) == 0 && parking_lot_count(p) != m->nlots)
            abort();
        parking_free(p);
        use_corridors(m);
    }
    map_free(m);
    return 0;
}
