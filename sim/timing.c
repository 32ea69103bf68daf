/* timing.c -- signal timings for the simulated corridor: the default
 * (Webster at the common cycle, offsets zero), a plan file, or what a
 * running cityd returns for an intersection.
 *
 * The default follows the same rules cityd uses to build a corridor plan
 * (docs/signals.md "Corridors and plans"): design flows of the map's
 * phases, the largest Webster cycle along the corridor clamped to every
 * intersection's bounds, pedestrian minimums on phases with a through
 * movement. So "all offsets zero" and cityd's green-wave plan differ only
 * in their offsets, which is the comparison an engineer wants. */
#include <math.h>
#include <stdio.h>
#include <string.h>

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

static bool has_through(const struct map_phase *ph)
{
    for (size_t j = 0; j < ph->nmovements; j++) {
        int m = sim_movement_index(ph->movements[j]);
        if (m >= 0 && m % 3 == SIM_T)
            return true;
    }
    return false;
}

/* Webster of intersection x from its design flows; cycle NAN = optimise. */
static int webster(const struct map_intersection *x, double cycle, struct signals_webster_out *o,
                   struct signals_phase_out *po, char *err, size_t errlen)
{
    struct signals_phase_in ph[SIGNALS_MAX_PHASES];
    if (x->nphases == 0 || x->nphases > SIM_MAX_PHASES) {
        snprintf(err, errlen, "intersection '%s': needs 1..%d phases", x->id, SIM_MAX_PHASES);
        return -1;
    }
    for (size_t k = 0; k < x->nphases; k++) {
        const struct map_phase *p = &x->phases[k];
        ph[k] = (struct signals_phase_in){ p->design_flow, p->saturation_flow, NAN,
                                           p->min_green_s,
                                           has_through(p) ? x->pedestrian_crossing_m : 0, NAN };
    }
    struct signals_webster_in in = { x->lost_time_s, ph, x->nphases, x->cycle_min_s,
                                     x->cycle_max_s, cycle };
    char why[200];
    if (signals_webster(&in, o, po, why, sizeof why) != 0) {
        snprintf(err, errlen, "intersection '%s': %s", x->id, why);
        return -1;
    }
    return 0;
}

/* Sim timing of intersection i from greens (one per map phase). */
static void set_timing(struct simcor *c, size_t i, double cycle, const double *green)
{
    const struct map_intersection *x = c->mx[i];
    struct sim_timing *t = &c->isecs[i].timing;
    memset(t, 0, sizeof *t);
    t->cycle_s = cycle;
    t->nphases = (int)x->nphases;
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

static int common_cycle(const struct simcor *c, double *cycle, char *err, size_t errlen)
{
    double want = 0, lo = 0, hi = INFINITY;
    for (size_t i = 0; i < c->n; i++) {
        struct signals_webster_out o;
        struct signals_phase_out po[SIGNALS_MAX_PHASES];
        if (webster(c->mx[i], NAN, &o, po, err, errlen) != 0)
            return -1;
        want = fmax(want, o.cycle_s);
        lo = fmax(lo, c->mx[i]->cycle_min_s);
        hi = fmin(hi, c->mx[i]->cycle_max_s);
    }
    if (lo > hi) {
        snprintf(err, errlen, "corridor '%s': the intersections' cycle bounds have no common "
                 "cycle", c->cor->id);
        return -1;
    }
    *cycle = fmin(fmax(want, lo), hi);
    return 0;
}

/* Greens of intersection i split by Webster at `cycle`. */
static int split(struct simcor *c, size_t i, double cycle, double *green, char *err,
                 size_t errlen)
{
    struct signals_webster_out o;
    struct signals_phase_out po[SIGNALS_MAX_PHASES];
    if (webster(c->mx[i], cycle, &o, po, err, errlen) != 0)
        return -1;
    for (size_t k = 0; k < c->mx[i]->nphases; k++)
        green[k] = po[k].effective_green_s;
    return 0;
}

int simtiming_default(struct simcor *c, char *err, size_t errlen)
{
    double cycle, green[SIM_MAX_PHASES];
    if (common_cycle(c, &cycle, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < c->n; i++) {
        int k = coordinated_phase(c, i, err, errlen);
        if (k < 0 || split(c, i, cycle, green, err, errlen) != 0)
            return -1;
        set_timing(c, i, cycle, green);
        c->isecs[i].timing.offset_s = offset_for(&c->isecs[i].timing, k, 0);
    }
    return 0;
}

static double jnum(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Give phase k the plan's green and re-split the others in proportion to
 * their Webster greens over what is left of the cycle. */
static int impose_green(const struct simcor *c, size_t i, double cycle, double *green, int k,
                        double g, char *err, size_t errlen)
{
    double lost = c->mx[i]->lost_time_s, others = 0;
    for (size_t p = 0; p < c->mx[i]->nphases; p++)
        if ((int)p != k)
            others += green[p];
    double left = cycle - lost - g;
    if (!(g > 0) || left <= 0) {
        snprintf(err, errlen, "plan: intersection '%s': a %.1f s green does not fit a %.1f s "
                 "cycle with %.1f s lost time", c->isecs[i].id, g, cycle, lost);
        return -1;
    }
    for (size_t p = 0; p < c->mx[i]->nphases; p++)
        green[p] = (int)p == k ? g : others > 0 ? green[p] * left / others : green[p];
    return 0;
}

static int plan_isec(struct simcor *c, size_t i, const json_t *x, double cycle, char *err,
                     size_t errlen)
{
    double green[SIM_MAX_PHASES], off = jnum(x, "offset_s");
    double gout = jnum(x, "outbound_green_s"), gin = jnum(x, "inbound_green_s");
    int ko = coordinated_phase(c, i, err, errlen);
    int ki = simtiming_phase_of(c, i, ((int)c->outbound ^ 1) * 3 + SIM_T);
    if (ko < 0 || split(c, i, cycle, green, err, errlen) != 0)
        return -1;
    if (isnan(off)) {
        snprintf(err, errlen, "plan: intersections[%zu].offset_s: required, a number", i);
        return -1;
    }
    if (!isnan(gout) && impose_green(c, i, cycle, green, ko, gout, err, errlen) != 0)
        return -1;
    if (ki >= 0 && ki != ko && !isnan(gin) &&
        impose_green(c, i, cycle, green, ki, gin, err, errlen) != 0)
        return -1;
    set_timing(c, i, cycle, green);
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
    set_timing(c, i, cycle, green);
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
