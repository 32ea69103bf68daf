/* loads.c -- the corridor citysim runs over: intersections and positions
 * from the map, counts from a UTDF loads file (src/utdf.c reads it; this
 * file checks it against the corridor). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "geo.h"
#include "map.h"
#include "simcli.h"
#include "utdf.h"

/* The approach outbound traffic arrives on, from the compass direction of
 * travel between the corridor's ends (a corridor heading east is fed on
 * its EB approaches). */
static enum sim_approach outbound_approach(const struct map_intersection *a,
                                           const struct map_intersection *b)
{
    double br = geo_bearing_deg(a->pt.lon, a->pt.lat, b->pt.lon, b->pt.lat);
    br = fmod(fmod(br, 360) + 360, 360);
    return br < 45 || br >= 315 ? SIM_NB : br < 135 ? SIM_EB : br < 225 ? SIM_SB : SIM_WB;
}

int simcor_init(struct simcor *c, const struct map *m, const char *id, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->map = m;
    c->cor = map_corridor(m, id);
    if (c->cor == NULL) {
        snprintf(err, errlen, "--corridor: no corridor '%s' in the map", id);
        return -1;
    }
    c->n = c->cor->nisecs;
    c->mx = calloc(c->n, sizeof *c->mx);
    c->isecs = calloc(c->n, sizeof *c->isecs);
    c->counts = calloc(c->n, sizeof *c->counts);
    c->undetected = calloc(c->n, sizeof *c->undetected);
    if (c->n == 0 || !c->mx || !c->isecs || !c->counts || !c->undetected) {
        snprintf(err, errlen, c->n == 0 ? "corridor '%s' has no intersections" : "out of memory",
                 id);
        return -1;
    }
    for (size_t i = 0; i < c->n; i++) {
        c->mx[i] = map_intersection(m, c->cor->isecs[i]);
        if (c->mx[i] == NULL) {
            snprintf(err, errlen, "corridor '%s': unknown intersection '%s'", id,
                     c->cor->isecs[i]);
            return -1;
        }
        c->isecs[i].id = c->mx[i]->id;
        c->isecs[i].name = c->mx[i]->name;
        c->isecs[i].position_m = c->cor->position_m[i];
    }
    c->outbound = outbound_approach(c->mx[0], c->mx[c->n - 1]);
    return 0;
}

void simcor_free(struct simcor *c)
{
    for (size_t i = 0; c->counts && i < c->n; i++)
        free(c->counts[i]);
    free(c->counts);
    free(c->mx);
    free(c->isecs);
    free(c->undetected);
    memset(c, 0, sizeof *c);
}

static long isec_index(const struct simcor *c, const char *id)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->isecs[i].id, id) == 0)
            return (long)i;
    return -1;
}

/* Every row in the window names an intersection of the corridor and counts
 * only movements that one of its phases serves (such vehicles could never
 * leave: a wrong map or a wrong file, not something to simulate). */
static int check_rows(struct simcor *c, const struct utdf *u, int64_t start, char *err,
                      size_t errlen)
{
    double len = utdf_interval_s(u);
    for (size_t k = 0; k < u->n; k++) {
        const struct utdf_row *r = &u->rows[k];
        long i = isec_index(c, r->intid);
        if (i < 0) {
            snprintf(err, errlen, "%s:%ld: intersection '%s' is not on corridor '%s'", u->name,
                     r->line, r->intid, c->cor->id);
            return -1;
        }
        double s = (double)(r->minute - start) * 60.0;
        if (s + len <= 0 || s >= c->duration_s)
            continue;
        for (int m = 0; m < SIM_NMOV; m++) {
            if (r->counts[m] < 0)
                c->undetected[i] |= 1u << m;
            if (r->counts[m] > 0 && simtiming_phase_of(c, (size_t)i, m) < 0) {
                snprintf(err, errlen, "%s:%ld: %s: %s counted (%g) but no phase of the map "
                         "serves it", u->name, r->line, r->intid, sim_movement_name(m),
                         r->counts[m]);
                return -1;
            }
        }
    }
    return 0;
}

int simcor_loads(struct simcor *c, const struct utdf *u, const char *start, double duration_s,
                 char *err, size_t errlen)
{
    c->duration_s = duration_s;
    c->interval_s = utdf_interval_s(u);
    c->start_min = utdf_first_minute(u);
    if (start != NULL) {
        char date[16] = "", why[160];
        const char *sp = strchr(start, ' ');
        if (sp == NULL || (size_t)(sp - start) >= sizeof date ||
            (snprintf(date, sizeof date, "%.*s", (int)(sp - start), start),
             utdf_parse_datetime(date, sp + 1, &c->start_min, why, sizeof why) != 0)) {
            snprintf(err, errlen, "--start '%s': expected \"MM/DD/YYYY HH:MM\"", start);
            return -1;
        }
    }
    if (check_rows(c, u, c->start_min, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < c->n; i++) {
        if (utdf_counts(u, c->isecs[i].id, c->start_min, duration_s, &c->counts[i],
                        &c->isecs[i].ncounts, err, errlen) != 0)
            return -1;
        c->isecs[i].counts = c->counts[i];
    }
    return 0;
}
