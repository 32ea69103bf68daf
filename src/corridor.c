/* corridor.c -- a corridor's timing rules (see corridor.h): design-flow
 * Webster per intersection, the common cycle, the split at a cycle and a
 * plan's split. */
#include "corridor.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "errbuf.h"
#include "geo.h"
#include "map.h"

char corridor_compass(double bearing_deg)
{
    double b = fmod(fmod(bearing_deg, 360) + 360, 360);
    return b < 45 || b >= 315 ? 'N' : b < 135 ? 'E' : b < 225 ? 'S' : 'W';
}

char corridor_opposite(char d)
{
    return d == 'N' ? 'S' : d == 'S' ? 'N' : d == 'E' ? 'W' : 'E';
}

char corridor_outbound_dir(const struct map *m, const struct map_corridor *c, size_t i)
{
    size_t lo = i > 0 ? i - 1 : i, hi = i + 1 < c->nisecs ? i + 1 : i;
    const struct map_intersection *a = map_intersection(m, c->isecs[lo]);
    const struct map_intersection *b = map_intersection(m, c->isecs[hi]);
    return corridor_compass(geo_bearing_deg(a->pt.lon, a->pt.lat, b->pt.lon, b->pt.lat));
}

int corridor_phase_of(const struct map_intersection *x, const char *mv)
{
    for (size_t k = 0; k < x->nphases; k++)
        for (size_t j = 0; j < x->phases[k].nmovements; j++)
            if (strcmp(x->phases[k].movements[j], mv) == 0)
                return (int)k;
    return -1;
}

bool corridor_serves_through(const struct map_phase *ph)
{
    for (size_t j = 0; j < ph->nmovements; j++) {
        const char *m = ph->movements[j];
        if (strlen(m) == 3 && m[2] == 'T')
            return true;
    }
    return false;
}

void corridor_webster_in(const struct map_intersection *x, struct signals_webster_in *w,
                         struct signals_phase_in *ph, double cycle_s)
{
    size_t n = x->nphases < SIGNALS_MAX_PHASES ? x->nphases : SIGNALS_MAX_PHASES;
    for (size_t k = 0; k < n; k++) {
        const struct map_phase *p = &x->phases[k];
        /* Pedestrians cross beside a through movement, so through phases
         * carry the crossing's minimum green. */
        ph[k] = (struct signals_phase_in){ p->design_flow, p->saturation_flow, NAN,
                                           p->min_green_s,
                                           corridor_serves_through(p) ? x->pedestrian_crossing_m
                                                                      : 0,
                                           NAN };
    }
    *w = (struct signals_webster_in){ x->lost_time_s, ph, n, x->cycle_min_s, x->cycle_max_s,
                                      cycle_s };
}

/* Webster of x at cycle_s (NAN: its own) into o / po. */
static int webster(const struct map_intersection *x, double cycle_s,
                   struct signals_webster_out *o, struct signals_phase_out *po, char *err,
                   size_t errlen)
{
    struct signals_webster_in w;
    struct signals_phase_in ph[SIGNALS_MAX_PHASES];
    char why[200];
    if (x->nphases == 0 || x->nphases > SIGNALS_MAX_PHASES)
        return errbuf_fail(err, errlen, "intersection '%s': needs 1 to %d phases", x->id,
                           SIGNALS_MAX_PHASES);
    corridor_webster_in(x, &w, ph, cycle_s);
    if (signals_webster(&w, o, po, why, sizeof why) == 0)
        return 0;
    if (isnan(cycle_s))
        return errbuf_fail(err, errlen, "intersection '%s': %s", x->id, why);
    return errbuf_fail(err, errlen, "intersection '%s' at a %.0f s cycle: %s", x->id, cycle_s,
                       why);
}

int corridor_common_cycle(const struct map *m, const struct map_corridor *c, double *cycle_s,
                          char *err, size_t errlen)
{
    double want = 0, lo = 0, hi = INFINITY;
    for (size_t i = 0; i < c->nisecs; i++) {
        const struct map_intersection *x = map_intersection(m, c->isecs[i]);
        struct signals_webster_out o;
        struct signals_phase_out po[SIGNALS_MAX_PHASES];
        if (webster(x, NAN, &o, po, err, errlen) != 0)
            return -1;
        want = fmax(want, o.cycle_s);
        lo = fmax(lo, x->cycle_min_s);
        hi = fmin(hi, x->cycle_max_s);
    }
    if (lo > hi)
        return errbuf_fail(err, errlen, "corridor '%s': the intersections' cycle bounds have no "
                           "common cycle", c->id);
    *cycle_s = fmin(fmax(want, lo), hi);
    return 0;
}

int corridor_split(const struct map_intersection *x, double cycle_s, double *green, char *err,
                   size_t errlen)
{
    struct signals_webster_out o;
    struct signals_phase_out po[SIGNALS_MAX_PHASES];
    if (webster(x, cycle_s, &o, po, err, errlen) != 0)
        return -1;
    for (size_t k = 0; k < x->nphases; k++)
        green[k] = po[k].effective_green_s;
    return 0;
}

int corridor_plan_split(const struct map_intersection *x, double cycle_s, int ko, double gout,
                        int ki, double gin, double *green, char *err, size_t errlen)
{
    struct signals_webster_in w;
    struct signals_phase_in ph[SIGNALS_MAX_PHASES];
    double web[SIGNALS_MAX_PHASES], wt[SIGNALS_MAX_PHASES], gmin[SIGNALS_MAX_PHASES];
    double g[SIGNALS_MAX_PHASES], left = cycle_s - x->lost_time_s, need = 0;
    size_t idx[SIGNALS_MAX_PHASES], n = 0;
    if (corridor_split(x, cycle_s, web, err, errlen) != 0)
        return -1;
    corridor_webster_in(x, &w, ph, cycle_s);
    for (size_t k = 0; k < x->nphases; k++) {
        double imposed = (int)k == ko ? gout : (int)k == ki ? gin : NAN;
        if (!isnan(imposed) && !(imposed > 0))
            return errbuf_fail(err, errlen, "intersection '%s': phase %zu: a green of %g s",
                               x->id, k + 1, imposed);
        green[k] = isnan(imposed) ? NAN : imposed;
        if (!isnan(imposed)) {
            left -= imposed;
            continue;
        }
        idx[n] = k;
        wt[n] = web[k];
        gmin[n] = fmax(ph[k].min_green_s, signals_pedestrian_green(ph[k].ped_crossing_m));
        need += gmin[n++];
    }
    if (left < need - 1e-9)
        return errbuf_fail(err, errlen, "intersection '%s': the coordinated greens leave %.1f s "
                           "of a %.1f s cycle (lost time %.1f s) to phases that need %.1f s",
                           x->id, fmax(0, left), cycle_s, x->lost_time_s, need);
    if (n > 0 && signals_split(n, wt, gmin, left, g) < 0)
        return errbuf_fail(err, errlen, "intersection '%s': cannot split the cycle", x->id);
    for (size_t j = 0; j < n; j++)
        green[idx[j]] = g[j];
    return 0;
}
