/* timing.c -- signal timings for the simulated corridor: the default
 * (Webster at the common cycle, offsets zero), a plan file, or what a
 * running cityd returns for an intersection.
 *
 * The default and a plan's split are computed by corridor.c, the rules
 * cityd itself uses to build a corridor plan and to run it
 * (docs/signals.md "Corridors and plans"). So "all offsets zero" and
 * cityd's green-wave plan differ only in their offsets, which is the
 * comparison an engineer wants. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "corridor.h"
#include "map.h"
#include "signals.h"
#include "simcli.h"

int simtiming_phase_of(const struct simcor *c, size_t i, int m)
{
    const struct map_intersection *x = c->mx[i];
    for (size_t k = 0; k < x->nphases; k++)
        for (size_t j = 0; j < x->phases[k].nmovements; j++)
            if (sim_movement_index(x->phases[k].movements[j]) == m)
                return (int)k;
    return -1;
}

double simtiming_phase_start(const struct sim_timing *t, int k)
{
    double s = 0;
    for (int p = 0; p < k && p < t->nphases; p++)
        s += t->phases[p].green_s + t->phases[p].intergreen_s;
    return s;
}

/* Sim timing of intersection i from greens (one per map phase), phase
 * `coord` coordinated. Minimum greens as cityd's (adaptive.c): the map's,
 * or the pedestrians' crossing time for a phase serving through traffic. */
static void set_timing(struct simcor *c, size_t i, double cycle, const double *green, int coord)
{
    const struct map_intersection *x = c->mx[i];
    struct sim_timing *t = &c->isecs[i].timing;
    memset(t, 0, sizeof *t);
    t->cycle_s = cycle;
    t->nphases = (int)x->nphases;
    t->coord_phase = coord;
    double sum = 0;
    for (size_t k = 0; k < x->nphases; k++)
        sum += green[k];
    /* What the greens leave of the cycle is intergreen, shared equally
     * (equal to lost_time_s / phases when the greens fill the cycle). */
    double ig = (cycle - sum) / (double)x->nphases;
    for (size_t k = 0; k < x->nphases; k++) {
        struct sim_phase *p = &t->phases[k];
        for (size_t j = 0; j < x->phases[k].nmovements; j++) {
            int m = sim_movement_index(x->phases[k].movements[j]);
            if (m >= 0)
                p->movements |= 1u << m;
        }
        p->green_s = green[k];
        p->intergreen_s = ig > 0 ? ig : 0;
        p->saturation_vph = x->phases[k].saturation_flow;
        double ped = corridor_serves_through(&x->phases[k])
                         ? signals_pedestrian_green(x->pedestrian_crossing_m) : 0;
        p->min_green_s = fmax(x->phases[k].min_green_s, ped);
    }
}

/* The coordinated phase: the one serving the outbound through movement. */
static int coordinated_phase(const struct simcor *c, size_t i, char *err, size_t errlen)
{
    int m = (int)c->outbound * 3 + SIM_T;
    int k = simtiming_phase_of(c, i, m);
    if (k < 0)
        snprintf(err, errlen, "intersection '%s': no phase serves %s", c->isecs[i].id,
                 sim_movement_name(m));
    return k;
}

/* Offset of phase 0 so that phase k's green starts at `at` (mod cycle). */
static double offset_for(const struct sim_timing *t, int k, double at)
{
    double o = fmod(at - simtiming_phase_start(t, k), t->cycle_s);
    return o < 0 ? o + t->cycle_s : o;
}

/* Can the model run intersection i's phases? */
static int check_phases(const struct simcor *c, size_t i, char *err, size_t errlen)
{
    if (c->mx[i]->nphases > SIM_MAX_PHASES) {
        snprintf(err, errlen, "intersection '%s': needs 1..%d phases", c->isecs[i].id,
                 SIM_MAX_PHASES);
        return -1;
    }
    return 0;
}

int simtiming_default(struct simcor *c, char *err, size_t errlen)
{
    double cycle, green[SIM_MAX_PHASES];
    if (corridor_common_cycle(c->map, c->cor, &cycle, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < c->n; i++) {
        int k = coordinated_phase(c, i, err, errlen);
        if (k < 0 || check_phases(c, i, err, errlen) != 0 ||
            corridor_split(c->mx[i], cycle, green, err, errlen) != 0)
            return -1;
        set_timing(c, i, cycle, green, k);
        c->isecs[i].timing.offset_s = offset_for(&c->isecs[i].timing, k, 0);
    }
    return 0;
}

static double jnum(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static int plan_isec(struct simcor *c, size_t i, const json_t *x, double cycle, char *err,
                     size_t errlen)
{
    double green[SIM_MAX_PHASES], off = jnum(x, "offset_s");
    int ko = coordinated_phase(c, i, err, errlen);
    int ki = simtiming_phase_of(c, i, ((int)c->outbound ^ 1) * 3 + SIM_T);
    if (ko < 0 || check_phases(c, i, err, errlen) != 0)
        return -1;
    if (isnan(off)) {
        snprintf(err, errlen, "plan: intersections[%zu].offset_s: required, a number", i);
        return -1;
    }
    char why[256];
    if (corridor_plan_split(c->mx[i], cycle, ko, jnum(x, "outbound_green_s"), ki,
                            jnum(x, "inbound_green_s"), green, why, sizeof why) != 0) {
        snprintf(err, errlen, "plan: %s", why);
        return -1;
    }
    set_timing(c, i, cycle, green, ko);
    c->isecs[i].timing.offset_s = offset_for(&c->isecs[i].timing, ko, off);
    return 0;
}

int simtiming_plan(struct simcor *c, const json_t *plan, char *plan_id, size_t idlen,
                   char *err, size_t errlen)
{
    const char *cor = json_string_value(json_object_get(plan, "corridor"));
    const char *id = json_string_value(json_object_get(plan, "id"));
    const json_t *xs = json_object_get(plan, "intersections");
    double cycle = jnum(plan, "cycle_s");
    snprintf(plan_id, idlen, "%s", id ? id : "");
    if (cor == NULL || strcmp(cor, c->cor->id) != 0) {
        snprintf(err, errlen, "plan: for corridor '%s', not '%s'", cor ? cor : "(none)",
                 c->cor->id);
        return -1;
    }
    if (!(cycle > 0) || !json_is_array(xs)) {
        snprintf(err, errlen, "plan: %s", !(cycle > 0) ? "cycle_s: required, a positive number"
                                                       : "intersections: required, an array");
        return -1;
    }
    if (json_array_size(xs) != c->n) {
        snprintf(err, errlen, "plan: %zu intersections, corridor '%s' has %zu (a plan made "
                 "for another version of the map?)", json_array_size(xs), c->cor->id, c->n);
        return -1;
    }
    for (size_t i = 0; i < c->n; i++) {
        const json_t *x = json_array_get(xs, i);
        const char *xid = json_string_value(json_object_get(x, "id"));
        if (xid == NULL || strcmp(xid, c->isecs[i].id) != 0) {
            snprintf(err, errlen, "plan: intersections[%zu] is '%s', the corridor's is '%s'", i,
                     xid ? xid : "(none)", c->isecs[i].id);
            return -1;
        }
        if (plan_isec(c, i, x, cycle, err, errlen) != 0)
            return -1;
    }
    return 0;
}

/* Map phase matching a timing phase's movement list, or -1. */
static int match_phase(const struct simcor *c, size_t i, const json_t *movs, unsigned *bits)
{
    *bits = 0;
    int k = -1;
    size_t j;
    const json_t *mv;
    json_array_foreach(movs, j, mv) {
        int m = json_is_string(mv) ? sim_movement_index(json_string_value(mv)) : -1;
        if (m < 0)
            return -1;
        *bits |= 1u << m;
        int p = simtiming_phase_of(c, i, m);
        if (p < 0 || (k >= 0 && p != k))
            return -1;
        k = p;
    }
    return k;
}

int simtiming_server(struct simcor *c, size_t i, const json_t *t, double epoch0, char *err,
                     size_t errlen)
{
    const char *id = c->isecs[i].id;
    double cycle = jnum(t, "cycle_s"), off = jnum(t, "offset_s");
    const json_t *phases = json_object_get(t, "phases");
    const struct map_intersection *x = c->mx[i];
    if (!(cycle > 0) || isnan(off) || !json_is_array(phases) ||
        json_array_size(phases) != x->nphases) {
        snprintf(err, errlen, "timing of '%s': expected cycle_s, offset_s and %zu phases", id,
                 x->nphases);
        return -1;
    }
    double green[SIM_MAX_PHASES] = {0};
    size_t j;
    const json_t *ph;
    json_array_foreach(phases, j, ph) {
        unsigned bits;
        int k = match_phase(c, i, json_object_get(ph, "movements"), &bits);
        double g = jnum(ph, "green_s");
        if (k < 0 || !(g > 0) || green[k] > 0) {
            snprintf(err, errlen, "timing of '%s': phases[%zu]: %s", id, j,
                     k < 0 || green[k] > 0 ? "movements do not match a phase of the map"
                                           : "green_s: expected a positive number");
            return -1;
        }
        green[k] = g;
    }
    int ko = coordinated_phase(c, i, err, errlen);
    if (ko < 0)
        return -1;
    struct sim_timing keep = c->isecs[i].timing;
    set_timing(c, i, cycle, green, ko);
    double sum = simtiming_phase_start(&c->isecs[i].timing, (int)x->nphases);
    if (sum > cycle + 1e-6) {
        c->isecs[i].timing = keep;
        snprintf(err, errlen, "timing of '%s': greens (%.1f s) exceed the cycle (%.1f s)", id,
                 sum, cycle);
        return -1;
    }
    /* offset_s: the coordinated green starts at epoch seconds that are
     * offset_s modulo the cycle (as a plan's offsets, on the epoch). */
    c->isecs[i].timing.offset_s = offset_for(&c->isecs[i].timing, ko, off - fmod(epoch0, cycle));
    return 0;
}
