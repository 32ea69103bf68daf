/* api_signals.c -- the signal-timing endpoints of api.md section 4:
 * isolated-intersection timing (Webster/HCM), green-wave optimisation on
 * explicit inputs, the map's corridors, candidate and active corridor
 * plans (stored in Redis, so they survive restarts) and the time-space
 * diagram of a plan.
 *
 * Glue only: JSON in and out through http.h, Redis through store.h,
 * geometry from the loaded map; the engineering is in signals.c,
 * maxband*.c, bands.c and tsd.c. Green-wave optimisations run on worker
 * threads (worker.h), never on the event loop; every number a request
 * gives is checked against a plausible range first.
 *
 * Redis layout (all keys of a corridor share its hash tag):
 *   cityd:{cor:<id>}:plan:<plan>   plan JSON (immutable once written)
 *   cityd:{cor:<id>}:plans         ZSET plan ids by creation time
 *   cityd:{cor:<id>}:plan:active   JSON of the active plan (a copy)
 *   cityd:{cor:<id>}:plan_active   id of the active plan
 * (the last two are written by api_adaptive.c, which runs the plan). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "api_signals.h"
#include "app.h"
#include "bands.h"
#include "corridor.h"
#include "geo.h"
#include "geojson.h"
#include "http.h"
#include "params.h"
#include "keys.h"
#include "map.h"
#include "maxband.h"
#include "module.h"
#include "signals.h"
#include "store.h"
#include "tsd.h"
#include "worker.h"

#define DEFAULT_CYCLE_MIN_S 30.0
#define DEFAULT_CYCLE_MAX_S 180.0
#define PLAN_ID_MAX 64

/* What a parser found wrong; each is one kind of reply. */
enum verdict {
    V_OK = 0,
    V_INVALID,         /* 400 invalid, the field named */
    V_CONFLICT,        /* 409: the corridor's map timings cannot make a plan */
    V_TOO_LARGE,       /* 422 too_large, the limit named */
    V_NOMEM,           /* 500 */
};

static void reply_verdict(struct http_req *r, enum verdict v, const char *err)
{
    if (v == V_INVALID)
        sig_bad_request(r, err);
    else if (v == V_CONFLICT)
        http_reply_error(r, 409, "conflict", "%s", err);
    else if (v == V_TOO_LARGE)
        http_reply_error(r, 422, "too_large", "%s", err);
    else
        http_reply_error(r, 500, "internal", "out of memory");
}

/* ---- plausible ranges ----
 * Every number a request gives is checked against the range a real
 * signal or corridor can have (docs/signals.md): beyond it the answer
 * is a 400 naming the field, so that no value (1e308, 1e-9, 2^63) reaches
 * the solvers, the replies or a stored plan's diagram. Values taken from
 * the map are the map's business (map.c). */
struct range {
    double lo, hi;
    const char *unit;
};

static const struct range R_CYCLE = { SIGNALS_CYCLE_MIN_S, SIGNALS_CYCLE_MAX_S, " s" };
static const struct range R_SPEED = { SIGNALS_SPEED_MIN_MPS, SIGNALS_SPEED_MAX_MPS, " m/s" };
static const struct range R_SPEED_CHANGE = { 0.01, 40, " m/s" };
static const struct range R_GREEN = { 1, 300, " s" };
static const struct range R_GREEN_RATIO = { 0.01, 1, "" };
static const struct range R_QUEUE = { 0, 300, " s" };
static const struct range R_POSITION = { -100000, 100000, " m" };
static const struct range R_LOST_TIME = { 0, SIGNALS_LOST_TIME_MAX_S, " s" };
static const struct range R_FLOW = { 0, SIGNALS_PLAUSIBLE_FLOW_VPH, " veh/h" };
static const struct range R_SATURATION = { SIGNALS_SATURATION_PLAUSIBLE_MIN_VPH,
                                           SIGNALS_PLAUSIBLE_FLOW_VPH, " veh/h" };
static const struct range R_FLOW_RATIO = { 0, 5, "" };
static const struct range R_MIN_GREEN = { 0, SIGNALS_MIN_GREEN_MAX_S, " s" };
static const struct range R_CROSSING = { 0, SIGNALS_PLAUSIBLE_CROSSING_M, " m" };

/* ---- JSON in ---- */

/* Optional number: 1 present (in *out), 0 absent or null, -1 not a number. */
int sig_get_num(json_t *o, const char *key, const char *where, double *out, char *err)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_number(v) || !isfinite(json_number_value(v))) {
        snprintf(err, ERRLEN, "%s%s: must be a number", where, key);
        return -1;
    }
    *out = json_number_value(v);
    return 1;
}

int sig_need_num(json_t *o, const char *key, const char *where, double *out, char *err)
{
    int rc = sig_get_num(o, key, where, out, err);
    if (rc == 0)
        snprintf(err, ERRLEN, "%s%s: missing", where, key);
    return rc == 1 ? 1 : -1;
}

static bool in_range(double v, const struct range *rg)
{
    return v >= rg->lo && v <= rg->hi;
}

static int out_of_range(const char *where, const char *key, const struct range *rg, char *err)
{
    snprintf(err, ERRLEN, "%s%s: must be between %g and %g%s", where, key, rg->lo, rg->hi,
             rg->unit);
    return -1;
}

/* sig_get_num within a plausible range. */
static int num_in(json_t *o, const char *key, const char *where, const struct range *rg,
                  double *out, char *err)
{
    double v;
    int rc = sig_get_num(o, key, where, &v, err);
    if (rc <= 0)
        return rc;
    if (!in_range(v, rg))
        return out_of_range(where, key, rg, err);
    *out = v;
    return 1;
}

static int need_in(json_t *o, const char *key, const char *where, const struct range *rg,
                   double *out, char *err)
{
    int rc = num_in(o, key, where, rg, out, err);
    if (rc == 0)
        snprintf(err, ERRLEN, "%s%s: missing", where, key);
    return rc == 1 ? 1 : -1;
}

/* Optional [lo, hi] within rg: 1 present, 0 absent, -1 bad. */
static int get_range(json_t *o, const char *key, const char *where, const struct range *rg,
                     double *lo, double *hi, char *err)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_array(v) || json_array_size(v) != 2 ||
        !json_is_number(json_array_get(v, 0)) || !json_is_number(json_array_get(v, 1))) {
        snprintf(err, ERRLEN, "%s%s: must be [low, high]", where, key);
        return -1;
    }
    *lo = json_number_value(json_array_get(v, 0));
    *hi = json_number_value(json_array_get(v, 1));
    if (!isfinite(*lo) || !isfinite(*hi)) {
        snprintf(err, ERRLEN, "%s%s: must be [low, high]", where, key);
        return -1;
    }
    if (*lo > *hi) {
        snprintf(err, ERRLEN, "%s%s: lower bound above upper bound", where, key);
        return -1;
    }
    if (!in_range(*lo, rg) || !in_range(*hi, rg))
        return out_of_range(where, key, rg, err);
    return 1;
}

/* Exactly one of a fixed value (key1) or a range (key2): [lo, hi], both
 * within rg. */
static int fixed_or_range(json_t *o, const char *key1, const char *key2, const char *where,
                          const struct range *rg, double *lo, double *hi, bool required,
                          char *err)
{
    double v;
    int a = num_in(o, key1, where, rg, &v, err);
    if (a < 0)
        return -1;
    int b = get_range(o, key2, where, rg, lo, hi, err);
    if (b < 0)
        return -1;
    if (a && b) {
        snprintf(err, ERRLEN, "%s%s: give %s or %s, not both", where, key2, key1, key2);
        return -1;
    }
    if (a)
        *lo = *hi = v;
    if (!a && !b && required) {
        snprintf(err, ERRLEN, "%s%s: missing (or give %s)", where, key1, key2);
        return -1;
    }
    return a || b;
}

/* The body as an object, or an empty object when there is no body. */
static json_t *optional_body(struct http_req *r, bool *owned)
{
    size_t len = 0;
    const unsigned char *b = http_req_body(r, &len);
    *owned = false;
    while (len > 0 && isspace(b[len - 1]))
        len--;
    if (len == 0) {
        *owned = true;
        return json_object();
    }
    return http_req_json(r);
}

/* ---- JSON out ---- */

/* Numbers to the microsecond / 1e-6 and NAN as null. */
json_t *sig_jnum(double x)
{
    if (!isfinite(x))
        return json_null();
    double r = round(x * 1e6) / 1e6;
    return json_real(r == 0 ? 0.0 : r);
}

void sig_set_num(json_t *o, const char *key, double x)
{
    json_object_set_new(o, key, sig_jnum(x));
}

void sig_bad_request(struct http_req *r, const char *err)
{
    http_reply_error(r, 400, "invalid", "%s", err);
}

/* ---- POST /v1/signals/webster ---- */

/* One phase of a Webster request (where: "phases[i]."). */
static int parse_phase(json_t *p, const char *where, struct signals_phase_in *ph, char *err)
{
    return num_in(p, "flow", where, &R_FLOW, &ph->flow_vph, err) < 0 ||
           num_in(p, "saturation_flow", where, &R_SATURATION, &ph->saturation_vph, err) < 0 ||
           num_in(p, "flow_ratio", where, &R_FLOW_RATIO, &ph->flow_ratio, err) < 0 ||
           num_in(p, "min_green_s", where, &R_MIN_GREEN, &ph->min_green_s, err) < 0 ||
           num_in(p, "pedestrian_crossing_m", where, &R_CROSSING, &ph->ped_crossing_m, err) < 0 ||
           num_in(p, "green_s", where, &R_GREEN, &ph->green_s, err) < 0 ? -1 : 0;
}

static enum verdict parse_webster(json_t *in, struct signals_webster_in *w,
                                  struct signals_phase_in *ph, char *err)
{
    double ped_all = 0;
    w->cycle_min_s = DEFAULT_CYCLE_MIN_S;
    w->cycle_max_s = DEFAULT_CYCLE_MAX_S;
    w->cycle_s = NAN;
    if (need_in(in, "lost_time_s", "", &R_LOST_TIME, &w->lost_time_s, err) < 0 ||
        num_in(in, "cycle_min_s", "", &R_CYCLE, &w->cycle_min_s, err) < 0 ||
        num_in(in, "cycle_max_s", "", &R_CYCLE, &w->cycle_max_s, err) < 0 ||
        num_in(in, "cycle_s", "", &R_CYCLE, &w->cycle_s, err) < 0 ||
        num_in(in, "pedestrian_crossing_m", "", &R_CROSSING, &ped_all, err) < 0)
        return V_INVALID;
    json_t *arr = json_object_get(in, "phases");
    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        snprintf(err, ERRLEN, "phases: missing (a non-empty array)");
        return V_INVALID;
    }
    if (json_array_size(arr) > SIGNALS_MAX_PHASES) {
        snprintf(err, ERRLEN, "phases: %zu given, the limit is %d phases per signal",
                 json_array_size(arr), SIGNALS_MAX_PHASES);
        return V_TOO_LARGE;
    }
    w->nphases = json_array_size(arr);
    w->phases = ph;
    for (size_t i = 0; i < w->nphases; i++) {
        json_t *p = json_array_get(arr, i);
        char where[32];
        snprintf(where, sizeof where, "phases[%zu].", i);
        if (!json_is_object(p)) {
            snprintf(err, ERRLEN, "phases[%zu]: must be an object", i);
            return V_INVALID;
        }
        ph[i] = (struct signals_phase_in){ NAN, NAN, NAN, 0, ped_all, NAN };
        if (parse_phase(p, where, &ph[i], err) != 0)
            return V_INVALID;
    }
    return V_OK;
}

static json_t *webster_json(const struct signals_webster_out *o, const struct signals_phase_in *pi,
                            const struct signals_phase_out *po, size_t n)
{
    json_t *phases = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct signals_phase_out *p = &po[i];
        json_t *j = json_object();
        sig_set_num(j, "flow_ratio", p->flow_ratio);
        sig_set_num(j, "effective_green_s", p->effective_green_s);
        sig_set_num(j, "capacity_vph", p->capacity_vph);
        sig_set_num(j, "degree_of_saturation", p->degree_of_saturation);
        sig_set_num(j, "webster_delay_s", p->webster_delay_s);
        sig_set_num(j, "hcm_uniform_delay_s", p->hcm_uniform_delay_s);
        sig_set_num(j, "hcm_incremental_delay_s", p->hcm_incremental_delay_s);
        sig_set_num(j, "hcm_delay_s", p->hcm_delay_s);
        char los[2] = { p->los, '\0' };
        json_object_set_new(j, "los", p->los ? json_string(los) : json_null());
        json_array_append_new(phases, j);
    }
    json_t *body = json_object();
    sig_set_num(body, "Y", o->Y);
    sig_set_num(body, "cycle_optimal_s", o->cycle_optimal_s);
    sig_set_num(body, "cycle_s", o->cycle_s);
    json_object_set_new(body, "oversaturated", json_boolean(o->oversaturated));
    /* Intersection-wide, as HCM rates an intersection: the flow-weighted
     * mean of the phases' control delay, and its LOS. */
    double d = signals_intersection_delay(pi, po, n);
    char ilos[2] = { signals_los(d), '\0' };
    sig_set_num(body, "intersection_delay_s", d);
    json_object_set_new(body, "intersection_los", ilos[0] ? json_string(ilos) : json_null());
    json_object_set_new(body, "mode", json_string(o->evaluated ? "evaluate" : "optimise"));
    json_object_set_new(body, "phases", phases);
    return body;
}

static void h_webster(struct http_req *r, void *arg)
{
    (void)arg;
    json_t *in = http_req_json(r);
    if (in == NULL)
        return;
    struct signals_webster_in w;
    struct signals_phase_in ph[SIGNALS_MAX_PHASES];
    struct signals_phase_out po[SIGNALS_MAX_PHASES];
    struct signals_webster_out out;
    char err[ERRLEN];
    enum verdict v = parse_webster(in, &w, ph, err);
    if (v == V_OK && signals_webster(&w, &out, po, err, sizeof err) != 0)
        v = V_INVALID;
    if (v != V_OK) {
        reply_verdict(r, v, err);
        return;
    }
    http_reply_json(r, 200, webster_json(&out, ph, po, w.nphases));
}

/* ---- green-wave problems ---- */

/* A problem with its storage (MAXBAND_MAX_SIGNALS signals). */
struct gw {
    struct maxband_signal sig[MAXBAND_MAX_SIGNALS];
    struct maxband_link link[MAXBAND_MAX_SIGNALS];
    const char *id[MAXBAND_MAX_SIGNALS];      /* borrowed from the request or map */
    const char *name[MAXBAND_MAX_SIGNALS];    /* may be NULL */
    char gkey[MAXBAND_MAX_SIGNALS][2][40];    /* request key of each green, for errors */
    struct maxband_problem p;
};

/* One direction's green from "green_s"/"<dir>_green_s"/"green_ratio"/
 * "<dir>_green_ratio". */
static int parse_green(json_t *o, const char *where, const char *dir, struct maxband_green *g,
                       char *key, char *err)
{
    char ks[40], kr[40];
    snprintf(ks, sizeof ks, "%s_green_s", dir);
    snprintf(kr, sizeof kr, "%s_green_ratio", dir);
    double s = NAN, ratio = NAN;
    int a = num_in(o, ks, where, &R_GREEN, &s, err);
    if (a == 0)
        a = num_in(o, "green_s", where, &R_GREEN, &s, err);
    int b = a < 0 ? -1 : num_in(o, kr, where, &R_GREEN_RATIO, &ratio, err);
    if (b == 0)
        b = num_in(o, "green_ratio", where, &R_GREEN_RATIO, &ratio, err);
    if (a < 0 || b < 0)
        return -1;
    if (a && b) {
        snprintf(err, ERRLEN, "%s%s: give a green in seconds or as a ratio, not both", where, ks);
        return -1;
    }
    if (!a && !b) {
        snprintf(err, ERRLEN, "%sgreen_s: missing (or %s, or green_ratio)", where, ks);
        return -1;
    }
    if (a && !(s > 0)) {
        snprintf(err, ERRLEN, "%s%s: must be positive", where, json_object_get(o, ks) ? ks : "green_s");
        return -1;
    }
    if (b && !(ratio > 0 && ratio <= 1)) {
        snprintf(err, ERRLEN, "%s%s: must be in (0, 1]", where,
                 json_object_get(o, kr) ? kr : "green_ratio");
        return -1;
    }
    g->green_s = a ? s : 0;
    g->green_ratio = b ? ratio : 0;
    snprintf(key, 40, "%s", a ? (json_object_get(o, ks) ? ks : "green_s")
                              : (json_object_get(o, kr) ? kr : "green_ratio"));
    return 0;
}

static int parse_intersection(json_t *x, size_t i, struct gw *g, char *err)
{
    char where[40];
    snprintf(where, sizeof where, "intersections[%zu].", i);
    if (!json_is_object(x)) {
        snprintf(err, ERRLEN, "intersections[%zu]: must be an object", i);
        return -1;
    }
    const char *id = json_string_value(json_object_get(x, "id"));
    if (id == NULL || *id == '\0') {
        snprintf(err, ERRLEN, "%sid: missing (a non-empty string)", where);
        return -1;
    }
    for (size_t k = 0; k < i; k++) {
        if (strcmp(g->id[k], id) == 0) {
            snprintf(err, ERRLEN, "%sid: '%s' appears twice", where, id);
            return -1;
        }
    }
    g->id[i] = id;
    g->name[i] = json_string_value(json_object_get(x, "name"));
    struct maxband_signal *s = &g->sig[i];
    double q = 0;
    if (need_in(x, "position_m", where, &R_POSITION, &s->position_m, err) < 0 ||
        parse_green(x, where, "outbound", &s->out, g->gkey[i][0], err) < 0 ||
        parse_green(x, where, "inbound", &s->in, g->gkey[i][1], err) < 0 ||
        num_in(x, "queue_clearance_s", where, &R_QUEUE, &q, err) < 0)
        return -1;
    s->out.queue_s = s->in.queue_s = q;
    return 0;
}

/* Speeds on link i: the request's per-link entry, else the corridor-wide. */
static int parse_link(json_t *links, size_t i, double lo, double hi, struct maxband_link *l,
                      char *err)
{
    *l = (struct maxband_link){ lo, hi, lo, hi };
    json_t *x = json_array_get(links, i);
    if (x == NULL)
        return 0;
    char where[32];
    snprintf(where, sizeof where, "links[%zu].", i);
    if (!json_is_object(x)) {
        snprintf(err, ERRLEN, "links[%zu]: must be an object", i);
        return -1;
    }
    double a, b;
    int rc = fixed_or_range(x, "speed_mps", "speed_range_mps", where, &R_SPEED, &a, &b, false,
                            err);
    if (rc < 0)
        return -1;
    if (rc)
        *l = (struct maxband_link){ a, b, a, b };
    rc = fixed_or_range(x, "outbound_speed_mps", "outbound_speed_range_mps", where, &R_SPEED,
                        &a, &b, false, err);
    if (rc < 0)
        return -1;
    if (rc) {
        l->out_min_mps = a;
        l->out_max_mps = b;
    }
    rc = fixed_or_range(x, "inbound_speed_mps", "inbound_speed_range_mps", where, &R_SPEED,
                        &a, &b, false, err);
    if (rc < 0)
        return -1;
    if (rc) {
        l->in_min_mps = a;
        l->in_max_mps = b;
    }
    return 0;
}

static int parse_objective(json_t *in, enum maxband_objective *obj, char *err)
{
    json_t *v = json_object_get(in, "objective");
    *obj = MAXBAND_EQUAL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v) || maxband_objective_parse(json_string_value(v), obj) != 0) {
        snprintf(err, ERRLEN, "objective: must be \"equal\", \"sum\", \"outbound\" or \"inbound\"");
        return -1;
    }
    return 0;
}

/* Speed and cycle options shared by both green-wave endpoints; cycle and
 * speed given as defaults (NAN: required). */
static int parse_options(json_t *in, struct gw *g, double speed_lo, double speed_hi, char *err)
{
    size_t n = g->p.n;
    double clo = g->p.cycle_min_s, chi = g->p.cycle_max_s, slo, shi, dv = NAN;
    int rc = fixed_or_range(in, "cycle_s", "cycle_range_s", "", &R_CYCLE, &clo, &chi, isnan(clo),
                            err);
    if (rc < 0)
        return -1;
    g->p.cycle_min_s = clo;
    g->p.cycle_max_s = chi;
    slo = speed_lo;
    shi = speed_hi;
    rc = fixed_or_range(in, "speed_mps", "speed_range_mps", "", &R_SPEED, &slo, &shi,
                        isnan(speed_lo), err);
    if (rc < 0)
        return -1;
    json_t *links = json_object_get(in, "links");
    if (links != NULL && !json_is_null(links) &&
        (!json_is_array(links) || json_array_size(links) != n - 1)) {
        snprintf(err, ERRLEN, "links: must be an array of %zu links (one per pair of "
                 "consecutive intersections)", n - 1);
        return -1;
    }
    for (size_t i = 0; i + 1 < n; i++)
        if (parse_link(links, i, slo, shi, &g->link[i], err) < 0)
            return -1;
    if (num_in(in, "speed_change_max_mps", "", &R_SPEED_CHANGE, &dv, err) < 0)
        return -1;
    g->p.speed_change_max_mps = dv;
    return parse_objective(in, &g->p.objective, err);
}

/* More intersections than signals.max_intersections (at most
 * MAXBAND_MAX_SIGNALS, the size of struct gw). */
static enum verdict check_count(const struct config *cfg, size_t n, char *err)
{
    if (n <= (size_t)cfg->signals_max_intersections)
        return V_OK;
    snprintf(err, ERRLEN, "intersections: %zu given, the limit is signals.max_intersections = %ld",
             n, cfg->signals_max_intersections);
    return V_TOO_LARGE;
}

/* A parsed problem against the configured limits and the solver's own
 * checks. A speed-change bound is solved by GLPK's branch and bound,
 * exponential in the worst case: it has a smaller limit. */
static enum verdict check_problem(const struct config *cfg, const struct maxband_problem *p,
                                  char *err)
{
    if (check_count(cfg, p->n, err) != V_OK)
        return V_TOO_LARGE;
    if (p->speed_change_max_mps > 0 && p->n > (size_t)cfg->signals_max_milp_intersections) {
        snprintf(err, ERRLEN, "intersections: %zu given with speed_change_max_mps (solved by "
                 "branch and bound), the limit is signals.max_milp_intersections = %ld", p->n,
                 cfg->signals_max_milp_intersections);
        return V_TOO_LARGE;
    }
    return maxband_check(p, err, ERRLEN) == 0 ? V_OK : V_INVALID;
}

static enum verdict parse_greenwave(json_t *in, const struct config *cfg, struct gw *g,
                                    char *err)
{
    json_t *arr = json_object_get(in, "intersections");
    if (!json_is_array(arr) || json_array_size(arr) < MAXBAND_MIN_SIGNALS) {
        snprintf(err, ERRLEN, "intersections: missing (an array of at least %d)",
                 MAXBAND_MIN_SIGNALS);
        return V_INVALID;
    }
    if (check_count(cfg, json_array_size(arr), err) != V_OK)
        return V_TOO_LARGE;
    memset(&g->p, 0, sizeof(g->p));
    g->p.n = json_array_size(arr);
    g->p.sig = g->sig;
    g->p.link = g->link;
    g->p.cycle_min_s = g->p.cycle_max_s = NAN;
    for (size_t i = 0; i < g->p.n; i++)
        if (parse_intersection(json_array_get(arr, i), i, g, err) < 0)
            return V_INVALID;
    if (parse_options(in, g, NAN, NAN, err) < 0)
        return V_INVALID;
    /* Greens against the cycle here, to name the key the client used. */
    for (size_t i = 0; i < g->p.n; i++) {
        for (int d = 0; d < 2; d++) {
            const struct maxband_green *gr = d ? &g->sig[i].in : &g->sig[i].out;
            double lo = g->p.cycle_min_s, hi = g->p.cycle_max_s;
            if (gr->green_ratio * lo + gr->green_s > lo || gr->green_ratio * hi + gr->green_s > hi) {
                snprintf(err, ERRLEN, "intersections[%zu].%s: longer than the cycle", i,
                         g->gkey[i][d]);
                return V_INVALID;
            }
            if (gr->queue_s >= gr->green_ratio * lo + gr->green_s) {
                snprintf(err, ERRLEN, "intersections[%zu].queue_clearance_s: not shorter than "
                         "the green", i);
                return V_INVALID;
            }
        }
    }
    return V_OK;
}

/* Progression speed over the corridor: the one speed when all links
 * share it, else distance over the mean of both directions' times. */
static double mean_speed(const struct maxband_problem *p, const struct maxband_result *r)
{
    double len = 0, t = 0;
    for (size_t i = 0; i + 1 < p->n; i++) {
        double d = p->sig[i + 1].position_m - p->sig[i].position_m;
        len += 2 * d;
        t += d / r->out_speed_mps[i] + d / r->in_speed_mps[i];
    }
    return len / t;
}

static double band_s(const struct band *b)
{
    return b->exists ? b->width_s : 0;
}

/* A band narrower than this share of the cycle is thin: the reply says
 * what bounds it. */
#define BAND_THIN_SHARE 0.2

/* Why band `dir` (0 outbound, 1 inbound) of result r is as thin as it is:
 * the signal whose green start its leading edge meets and the one whose
 * green end its trailing edge meets; between them, the links whose travel
 * times do not fit the offsets. */
static json_t *thin_band(const struct gw *g, const struct maxband_result *r, int dir)
{
    const struct maxband_problem *p = &g->p;
    const struct band *b = dir ? &r->inbound : &r->outbound;
    double w = band_s(b);
    if (w >= BAND_THIN_SHARE * r->cycle_s)
        return NULL;
    size_t lead, trail;
    maxband_limits(p, r, dir == 1, &lead, &trail);
    json_t *o = json_object();
    char why[600];
    const char *dn = dir ? "inbound" : "outbound";
    json_object_set_new(o, "direction", json_string(dn));
    sig_set_num(o, "band_s", w);
    if (lead == (size_t)-1 || trail == (size_t)-1) {
        json_object_set_new(o, "leading_edge", json_null());
        json_object_set_new(o, "trailing_edge", json_null());
        snprintf(why, sizeof why, "no trajectory passes every %s green at these offsets and "
                 "speeds", dn);
    } else {
        json_object_set_new(o, "leading_edge", json_string(g->id[lead]));
        json_object_set_new(o, "trailing_edge", json_string(g->id[trail]));
        if (lead == trail) {
            const struct maxband_green *gr = dir ? &p->sig[lead].in : &p->sig[lead].out;
            snprintf(why, sizeof why, "the band is the whole usable %s green of '%s' (%.1f s): "
                     "a longer green there widens it", dn, g->id[lead],
                     gr->green_s - gr->queue_s);
        } else {
            size_t a = lead < trail ? lead : trail, z = lead < trail ? trail : lead;
            double d = p->sig[z].position_m - p->sig[a].position_m;
            snprintf(why, sizeof why, "the band starts with the %s green of '%s' and ends with "
                     "that of '%s': their offsets do not fit the travel time over the %.0f m "
                     "between them at the progression speed (links '%s' to '%s')", dn,
                     g->id[lead], g->id[trail], d, g->id[a], g->id[z]);
        }
    }
    json_object_set_new(o, "why", json_string(why));
    return o;
}

/* The reply of both endpoints (a plan adds to it). */
static json_t *greenwave_json(const struct gw *g, const struct maxband_result *r)
{
    const struct maxband_problem *p = &g->p;
    json_t *body = json_object();
    sig_set_num(body, "cycle_s", r->cycle_s);
    sig_set_num(body, "outbound_band_s", band_s(&r->outbound));
    sig_set_num(body, "inbound_band_s", band_s(&r->inbound));
    sig_set_num(body, "efficiency", r->efficiency);
    sig_set_num(body, "speed_mps", mean_speed(p, r));
    json_object_set_new(body, "objective", json_string(maxband_objective_name(p->objective)));
    json_object_set_new(body, "two_way", json_boolean(r->two_way));
    json_t *xs = json_array(), *ls = json_array();
    for (size_t i = 0; i < p->n; i++) {
        json_t *x = json_object();
        json_object_set_new(x, "id", json_string(g->id[i]));
        sig_set_num(x, "offset_s", r->offset_s[i]);
        json_array_append_new(xs, x);
        if (i + 1 == p->n)
            continue;
        json_t *l = json_object();
        json_object_set_new(l, "from", json_string(g->id[i]));
        json_object_set_new(l, "to", json_string(g->id[i + 1]));
        sig_set_num(l, "outbound_speed_mps", r->out_speed_mps[i]);
        sig_set_num(l, "inbound_speed_mps", r->in_speed_mps[i]);
        json_array_append_new(ls, l);
    }
    json_object_set_new(body, "intersections", xs);
    json_object_set_new(body, "links", ls);
    json_t *thin = json_array();
    for (int dir = 0; dir < 2; dir++) {
        json_t *t = thin_band(g, r, dir);
        if (t != NULL)
            json_array_append_new(thin, t);
    }
    json_object_set_new(body, "thin_bands", thin);
    return body;
}

/* ---- corridors from the map ---- */

static json_t *corridor_json(const struct map *m, const struct map_corridor *c, bool gcj)
{
    json_t *j = json_object(), *xs = json_array();
    json_object_set_new(j, "id", json_string(c->id));
    json_object_set_new(j, "name", c->name ? json_string(c->name) : json_null());
    sig_set_num(j, "speed_kmh", c->speed_kmh);
    sig_set_num(j, "length_m", c->position_m[c->nisecs - 1] - c->position_m[0]);
    for (size_t i = 0; i < c->nisecs; i++) {
        const struct map_intersection *x = map_intersection(m, c->isecs[i]);
        json_t *o = json_object();
        double lon = x->pt.lon, lat = x->pt.lat;
        if (gcj)
            geo_wgs84_to_gcj02(x->pt.lon, x->pt.lat, &lon, &lat);
        json_object_set_new(o, "id", json_string(x->id));
        json_object_set_new(o, "name", x->name ? json_string(x->name) : json_null());
        sig_set_num(o, "position_m", c->position_m[i]);
        sig_set_num(o, "offset_m", c->offset_m[i]);
        sig_set_num(o, "lon", lon);
        sig_set_num(o, "lat", lat);
        json_array_append_new(xs, o);
    }
    json_object_set_new(j, "intersections", xs);
    return j;
}

static void h_corridors(struct http_req *r, void *arg)
{
    struct app *a = arg;
    bool gcj, geojson;
    if (params_crs(r, &gcj) != 0 || geojson_wanted(r, &geojson) != 0)
        return;
    json_t *list = json_array();
    for (size_t i = 0; i < a->map->ncorridors; i++)
        json_array_append_new(list, corridor_json(a->map, &a->map->corridors[i], gcj));
    if (!geojson) {
        http_reply_json(r, 200, json_pack("{s:o}", "corridors", list));
        return;
    }
    json_t **lines = calloc(a->map->ncorridors + 1, sizeof *lines);
    for (size_t i = 0; lines && i < a->map->ncorridors; i++) {
        const struct geo_line *l = a->map->corridors[i].line;
        lines[i] = geojson_line(l->pts, l->n, gcj);
    }
    geojson_reply(r, lines ? geojson_collection(list, lines, "id") : NULL);
    free(lines);
    json_decref(list);
}

static const struct map_corridor *find_corridor(struct http_req *r, const struct app *a)
{
    const char *id = http_req_param(r, "id");
    const struct map_corridor *c = id ? map_corridor(a->map, id) : NULL;
    if (c == NULL)
        http_reply_error(r, 404, "not_found", "corridor '%s' not found", id ? id : "");
    return c;
}

static void h_corridor(struct http_req *r, void *arg)
{
    struct app *a = arg;
    bool gcj;
    if (params_crs(r, &gcj) != 0)
        return;
    const struct map_corridor *c = find_corridor(r, a);
    if (c != NULL)
        http_reply_json(r, 200, corridor_json(a->map, c, gcj));
}

/* ---- corridor plans ---- */

/* Coordinated greens of intersection i at cycle C into g->sig[i]. */
static int corridor_greens(const struct map *m, const struct map_corridor *c, size_t i, double C,
                           struct gw *g, char *err)
{
    const struct map_intersection *x = map_intersection(m, c->isecs[i]);
    double green[SIGNALS_MAX_PHASES];
    if (corridor_split(x, C, green, err, ERRLEN) != 0)
        return -1;
    char d = corridor_outbound_dir(m, c, i), mo[4] = { d, 'B', 'T', 0 };
    char mi[4] = { corridor_opposite(d), 'B', 'T', 0 };
    int ko = corridor_phase_of(x, mo), ki = corridor_phase_of(x, mi);
    if (ko < 0 || ki < 0) {
        snprintf(err, ERRLEN, "intersection '%s': no phase serves %s", x->id, ko < 0 ? mo : mi);
        return -1;
    }
    g->sig[i].position_m = c->position_m[i];
    g->sig[i].out = (struct maxband_green){ green[ko], 0, 0 };
    g->sig[i].in = (struct maxband_green){ green[ki], 0, 0 };
    g->id[i] = x->id;
    g->name[i] = x->name;
    return 0;
}

/* The corridor's problem: geometry and timings from the map, options
 * (objective, speed, cycle, queue clearance) from the request body. */
static enum verdict corridor_problem(const struct map *m, const struct config *cfg,
                                     const struct map_corridor *c, json_t *in, struct gw *g,
                                     char *err)
{
    if (check_count(cfg, c->nisecs, err) != V_OK)
        return V_TOO_LARGE;
    if (json_object_get(in, "cycle_range_s") != NULL) {
        snprintf(err, ERRLEN, "cycle_range_s: a corridor plan runs one common cycle (give cycle_s)");
        return V_INVALID;
    }
    double C, q = 0, fixed = NAN;
    if (num_in(in, "cycle_s", "", &R_CYCLE, &fixed, err) < 0 ||
        num_in(in, "queue_clearance_s", "", &R_QUEUE, &q, err) < 0)
        return V_INVALID;
    if (!isnan(fixed))
        C = fixed;
    else if (corridor_common_cycle(m, c, &C, err, ERRLEN) != 0)
        return V_CONFLICT;
    memset(&g->p, 0, sizeof(g->p));
    g->p.n = c->nisecs;
    g->p.sig = g->sig;
    g->p.link = g->link;
    g->p.cycle_min_s = g->p.cycle_max_s = C;
    for (size_t i = 0; i < c->nisecs; i++) {
        int rc = corridor_greens(m, c, i, C, g, err);
        if (rc != 0)
            return isnan(fixed) ? V_CONFLICT : V_INVALID;
        g->sig[i].out.queue_s = g->sig[i].in.queue_s = q;
    }
    /* No speed given: progression speeds from CORRIDOR_SPEED_LOW of the
     * corridor's speed up to it (docs/signals.md). */
    double v = c->speed_kmh / 3.6;
    return parse_options(in, g, CORRIDOR_SPEED_LOW * v, v, err) == 0 ? V_OK : V_INVALID;
}

static void plan_id(char *buf, size_t n)
{
    unsigned char raw[8];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
        double t = app_wall_now() * 1e6;
        for (size_t i = 0; i < sizeof raw; i++)
            raw[i] = (unsigned char)((unsigned long long)t >> (8 * i));
    }
    static const char hex[] = "0123456789abcdef";
    size_t k = 0;
    for (size_t i = 0; i < sizeof raw && k + 2 < n; i++) {
        buf[k++] = hex[raw[i] >> 4];
        buf[k++] = hex[raw[i] & 15];
    }
    buf[k] = '\0';
}

/* The stored plan: the green-wave reply plus what a diagram needs. */
static json_t *plan_json(const struct map_corridor *c, const struct gw *g,
                         const struct maxband_result *r, const char *id, double created)
{
    json_t *j = greenwave_json(g, r);
    json_object_set_new(j, "id", json_string(id));
    json_object_set_new(j, "corridor", json_string(c->id));
    json_object_set_new(j, "corridor_name", c->name ? json_string(c->name) : json_null());
    sig_set_num(j, "created_at", created);
    json_t *xs = json_object_get(j, "intersections");
    for (size_t i = 0; i < g->p.n; i++) {
        json_t *x = json_array_get(xs, i);
        const struct maxband_signal *s = &g->sig[i];
        json_object_set_new(x, "name", g->name[i] ? json_string(g->name[i]) : json_null());
        sig_set_num(x, "position_m", s->position_m);
        sig_set_num(x, "outbound_green_s", s->out.green_s);
        sig_set_num(x, "inbound_green_s", s->in.green_s);
        sig_set_num(x, "queue_clearance_s", s->out.queue_s);
    }
    return j;
}

/* The module's own state: only its store callbacks in flight (plans are
 * read from Redis every time, nothing is kept). */
struct signal_plans {
    struct lifetime lt;
};

/* A request waiting on Redis. */
struct pending {
    struct http_req *r;
    struct app *a;
    char cor[128];
    char plan[PLAN_ID_MAX + 1];
    char mode[16];               /* PUT plan: "fixed"/"adaptive", "" keep */
    char *json;                  /* owned */
    int cycles;                  /* time-space: cycles drawn */
};

static struct pending *pending_new(struct http_req *r, struct app *a, const char *cor)
{
    struct pending *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        http_reply_error(r, 500, "internal", "out of memory");
        return NULL;
    }
    p->r = r;
    p->a = a;
    snprintf(p->cor, sizeof p->cor, "%s", cor);
    lifetime_hold(&a->signal_plans->lt);
    return p;
}

/* Done with p, in its store callback (after pending_live). */
static void pending_free(struct pending *p)
{
    free(p->json);
    free(p);
}

/* A store callback came: false after stop (p is freed, its request gone). */
static bool pending_live(struct pending *p)
{
    if (lifetime_release(&p->a->signal_plans->lt))
        return true;
    pending_free(p);
    return false;
}

/* The command for p could not be queued: no callback will come. */
static void pending_drop(struct pending *p)
{
    lifetime_release(&p->a->signal_plans->lt);
    pending_free(p);
}

static const char *plan_key(char *buf, size_t n, const char *cor, const char *plan)
{
    char what[PLAN_ID_MAX + 8];
    snprintf(what, sizeof what, "plan:%s", plan);
    return keys_corridor(buf, n, cor, what);
}

/* Reply to a failed store call: 503 when Redis is down or slow. */
bool sig_store_failed(struct http_req *r, enum store_status st, const struct store_reply *rep)
{
    if (st != STORE_OK) {
        module_reply_store(r, st);
        return true;
    }
    if (store_reply_type(rep) == STORE_R_ERROR) {
        http_reply_error(r, 503, "store_error", "store error: %s", store_reply_str(rep, NULL));
        return true;
    }
    return false;
}

static void on_plan_saved(void *arg, enum store_status st, const struct store_reply *rep)
{
    struct pending *p = arg;
    if (!pending_live(p))
        return;
    if (!sig_store_failed(p->r, st, rep))
        http_reply_raw(p->r, 201, "application/json; charset=utf-8", p->json, strlen(p->json));
    pending_free(p);
}

/* Store a new candidate plan and answer 201 with it once Redis has it. */
static void save_plan(struct http_req *r, struct app *a, const struct map_corridor *c,
                      const struct gw *g, const struct maxband_result *res)
{
    struct pending *p = pending_new(r, a, c->id);
    if (p == NULL)
        return;
    double now = app_wall_now();
    plan_id(p->plan, sizeof p->plan);
    json_t *plan = plan_json(c, g, res, p->plan, now);
    p->json = json_dumps(plan, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(plan);
    char key[KEY_MAX], zkey[KEY_MAX], score[32];
    snprintf(score, sizeof score, "%.3f", now);
    struct store_batch *b = store_batch_new();
    bool ok = p->json != NULL && b != NULL &&
              store_batch_addf(b, "SET %s %s", plan_key(key, sizeof key, c->id, p->plan),
                               p->json) == 0 &&
              store_batch_addf(b, "ZADD %s %s %s", keys_corridor(zkey, sizeof zkey, c->id, "plans"),
                               score, p->plan) == 0;
    if (!ok)
        store_batch_free(b);
    if (!ok || store_batch_send(a->store, b, on_plan_saved, p) != 0) {
        http_reply_error(r, 500, "internal", "cannot queue the store write");
        pending_drop(p);
    }
}

/* ---- green waves off the event loop ----
 * Parsing and checks run on the loop (cheap); the optimisation runs on a
 * worker thread (worker.h) with signals.solve_timeout_ms as its time
 * limit, and the reply (or, for a corridor, the plan's store write) is
 * made back on the loop. A request whose client has gone meanwhile is
 * still valid until replied to (http.h); its reply is dropped. */

/* The job never started: it waited so long that it could no longer be
 * answered within server.request_timeout_ms. */
#define JOB_LATE (-3)

struct gw_job {
    struct app *a;
    struct http_req *r;
    const struct map_corridor *c;     /* a corridor plan, or NULL */
    double queued_ms, max_wait_ms;    /* monotonic clock */
    int rc;                           /* maxband_solve_cancel's, or JOB_LATE */
    char err[ERRLEN];
    struct maxband_result res;        /* when rc == 0 */
    struct gw g;                      /* the problem; only g.p, g.sig, g.link on the worker */
};

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Seconds a client should wait before trying a busy server again: about
 * one optimisation. */
static int retry_after_s(const struct config *cfg)
{
    long s = (cfg->signals_solve_timeout_ms + 999) / 1000;
    return s < 1 ? 1 : (int)s;
}

static struct gw_job *job_new(struct http_req *r, struct app *a, const struct map_corridor *c)
{
    struct gw_job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        http_reply_error(r, 500, "internal", "out of memory");
        return NULL;
    }
    j->a = a;
    j->r = r;
    j->c = c;
    return j;
}

/* Worker thread: the job's problem and result only. */
static void gw_run(void *arg, const atomic_int *cancel)
{
    struct gw_job *j = arg;
    if (mono_ms() - j->queued_ms > j->max_wait_ms) {
        j->rc = JOB_LATE;
        return;
    }
    j->rc = maxband_solve_cancel(&j->g.p, cancel, &j->res, j->err, sizeof j->err);
}

/* Loop thread: answer. WORKER_CANCELLED comes from the module's stop once
 * the loop has stopped: no reply then (http_server_free frees the req). */
static void gw_done(void *arg, enum worker_status st)
{
    struct gw_job *j = arg;
    const struct config *cfg = &j->a->cfg;
    if (st == WORKER_CANCELLED)
        ;
    else if (j->rc == JOB_LATE)
        http_reply_retry(j->r, 503, "busy", retry_after_s(cfg), "the optimisation waited too "
                         "long for a worker (signals.workers = %ld); retry shortly",
                         cfg->signals_workers);
    else if (j->rc == MAXBAND_STOPPED)
        http_reply_error(j->r, 422, "too_large", "the optimisation did not finish within "
                         "signals.solve_timeout_ms = %ld ms; give fewer intersections or "
                         "narrower cycle and speed ranges", cfg->signals_solve_timeout_ms);
    else if (j->rc != 0)
        http_reply_error(j->r, 500, "optimisation_failed", "%s", j->err);
    else if (j->c != NULL)
        save_plan(j->r, j->a, j->c, &j->g, &j->res);
    else
        http_reply_json(j->r, 200, greenwave_json(&j->g, &j->res));
    if (st == WORKER_DONE && j->rc == 0)
        maxband_result_free(&j->res);
    free(j);
}

/* The parsed problem (v: the parser's verdict) checked, then queued (the
 * job is the worker's then) or answered at once: its error, or 503 busy. */
static void solve_later(struct gw_job *j, enum verdict v, char *err)
{
    const struct config *cfg = &j->a->cfg;
    if (v == V_OK)
        v = check_problem(cfg, &j->g.p, err);
    if (v != V_OK) {
        reply_verdict(j->r, v, err);
        free(j);
        return;
    }
    j->g.p.time_limit_ms = (double)cfg->signals_solve_timeout_ms;
    j->queued_ms = mono_ms();
    j->max_wait_ms = fmax(0, (double)(cfg->server_request_timeout_ms -
                                      cfg->signals_solve_timeout_ms));
    if (j->a->worker != NULL && worker_submit(j->a->worker, gw_run, gw_done, j) == 0)
        return;
    http_reply_retry(j->r, 503, "busy", retry_after_s(cfg), "%s",
                     j->a->worker == NULL ? "no worker thread runs optimisations"
                                          : "too many optimisations queued (signals.workers + "
                                            "signals.queue_max); retry shortly");
    free(j);
}

static void h_greenwave(struct http_req *r, void *arg)
{
    struct app *a = arg;
    json_t *in = http_req_json(r);
    if (in == NULL)
        return;
    struct gw_job *j = job_new(r, a, NULL);
    if (j == NULL)
        return;
    char err[ERRLEN];
    solve_later(j, parse_greenwave(in, &a->cfg, &j->g, err), err);
}

static void h_corridor_greenwave(struct http_req *r, void *arg)
{
    struct app *a = arg;
    const struct map_corridor *c = find_corridor(r, a);
    if (c == NULL)
        return;
    bool owned;
    json_t *in = optional_body(r, &owned);
    if (in == NULL)
        return;
    struct gw_job *j = job_new(r, a, c);
    char err[ERRLEN];
    /* The problem borrows names from the map, nothing from the body. */
    enum verdict v = j == NULL ? V_NOMEM : corridor_problem(a->map, &a->cfg, c, in, &j->g, err);
    if (owned)
        json_decref(in);
    if (j != NULL)
        solve_later(j, v, err);
}

static bool valid_plan_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!(isalnum((unsigned char)s[n]) || s[n] == '-' || s[n] == '_'))
            return false;
    return n > 0 && n <= PLAN_ID_MAX;
}

/* PUT step 2: the plan exists -> the controllers take it (api_adaptive.c
 * stores it as the active plan and answers). */
static void on_plan_found(void *arg, enum store_status st, const struct store_reply *rep)
{
    struct pending *p = arg;
    const char *json = NULL;
    if (!pending_live(p))
        return;
    if (!sig_store_failed(p->r, st, rep) && (json = store_reply_str(rep, NULL)) == NULL)
        http_reply_error(p->r, 404, "not_found", "plan '%s' not found for corridor '%s'", p->plan,
                         p->cor);
    if (json != NULL)
        api_adaptive_activate(p->a, p->r, map_corridor(p->a->map, p->cor), p->plan, json,
                              p->mode[0] ? p->mode : NULL);
    pending_free(p);
}

static void h_put_plan(struct http_req *r, void *arg)
{
    struct app *a = arg;
    const struct map_corridor *c = find_corridor(r, a);
    if (c == NULL)
        return;
    json_t *in = http_req_json(r);
    if (in == NULL)
        return;
    json_t *v = json_object_get(in, "plan");
    if (!json_is_string(v)) {
        sig_bad_request(r, "plan: missing (the id of a candidate plan)");
        return;
    }
    const char *id = json_string_value(v);
    json_t *mv = json_object_get(in, "mode");
    const char *mode = json_string_value(mv);
    if (mv != NULL && !json_is_null(mv) &&
        (mode == NULL || (strcmp(mode, "fixed") != 0 && strcmp(mode, "adaptive") != 0))) {
        sig_bad_request(r, "mode: expected \"fixed\" or \"adaptive\" (every intersection of "
                        "the corridor switches to it), or absent to keep their modes");
        return;
    }
    if (!valid_plan_id(id)) {
        http_reply_error(r, 404, "not_found", "plan '%s' not found for corridor '%s'", id, c->id);
        return;
    }
    struct pending *p = pending_new(r, a, c->id);
    if (p == NULL)
        return;
    snprintf(p->plan, sizeof p->plan, "%s", id);
    snprintf(p->mode, sizeof p->mode, "%s", mode ? mode : "");
    char key[KEY_MAX];
    if (store_cmdf(a->store, on_plan_found, p, "GET %s", plan_key(key, sizeof key, c->id, id)) != 0) {
        http_reply_error(r, 500, "internal", "cannot queue the store read");
        pending_drop(p);
    }
}

static void on_active_plan(void *arg, enum store_status st, const struct store_reply *rep)
{
    struct pending *p = arg;
    if (!pending_live(p))
        return;
    if (!sig_store_failed(p->r, st, rep)) {
        size_t len = 0;
        const char *json = store_reply_str(rep, &len);
        if (json == NULL)
            http_reply_error(p->r, 404, "not_found", "corridor '%s' has no active plan", p->cor);
        else
            http_reply_raw(p->r, 200, "application/json; charset=utf-8", json, len);
    }
    pending_free(p);
}

static void h_get_plan(struct http_req *r, void *arg)
{
    struct app *a = arg;
    const struct map_corridor *c = find_corridor(r, a);
    if (c == NULL)
        return;
    struct pending *p = pending_new(r, a, c->id);
    if (p == NULL)
        return;
    char key[KEY_MAX];
    if (store_cmdf(a->store, on_active_plan, p, "GET %s",
                   keys_corridor(key, sizeof key, c->id, "plan:active")) != 0) {
        http_reply_error(r, 500, "internal", "cannot queue the store read");
        pending_drop(p);
    }
}

/* ---- time-space diagram ---- */

static double jget(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Rebuild a plan's timing and draw it. The bands are recomputed from the
 * stored offsets, greens and speeds. */
static int plan_svg(json_t *plan, int cycles, char **svg, size_t *len, char *err)
{
    json_t *xs = json_object_get(plan, "intersections"), *ls = json_object_get(plan, "links");
    size_t n = json_array_size(xs);
    if (n < 2 || n > MAXBAND_MAX_SIGNALS || json_array_size(ls) != n - 1) {
        snprintf(err, ERRLEN, "stored plan is malformed");
        return -1;
    }
    struct tsd_signal ts[MAXBAND_MAX_SIGNALS];
    struct bands_signal bs[MAXBAND_MAX_SIGNALS];
    double vo[MAXBAND_MAX_SIGNALS], vi[MAXBAND_MAX_SIGNALS];
    double to[MAXBAND_MAX_SIGNALS], ti[MAXBAND_MAX_SIGNALS];
    double C = jget(plan, "cycle_s");
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(xs, i);
        double q = jget(x, "queue_clearance_s");
        q = isnan(q) ? 0 : q;
        ts[i] = (struct tsd_signal){ json_string_value(json_object_get(x, "name")),
                                     jget(x, "position_m"), jget(x, "offset_s"),
                                     jget(x, "outbound_green_s"), jget(x, "inbound_green_s"),
                                     json_string_value(json_object_get(x, "id")) };
        bs[i] = (struct bands_signal){ ts[i].offset_s, q, ts[i].out_green_s - q, q,
                                       ts[i].in_green_s - q };
        if (i + 1 < n) {
            json_t *l = json_array_get(ls, i);
            vo[i] = jget(l, "outbound_speed_mps");
            vi[i] = jget(l, "inbound_speed_mps");
        }
    }
    for (size_t i = 0; i + 1 < n; i++) {
        double d = jget(json_array_get(xs, i + 1), "position_m") - ts[i].position_m;
        to[i] = d / vo[i];
        ti[i] = d / vi[i];
    }
    struct tsd_plan tp = { json_string_value(json_object_get(plan, "corridor_name")), n, ts, C,
                           vo, vi, { false, 0, 0 }, { false, 0, 0 }, cycles };
    if (tp.title == NULL)
        tp.title = json_string_value(json_object_get(plan, "corridor"));
    if (!(C > 0)) {
        snprintf(err, ERRLEN, "stored plan is malformed");
        return -1;
    }
    struct bands_corridor bc = { n, C, bs, to, ti };
    bands_eval(&bc, &tp.outbound, &tp.inbound);
    return tsd_svg(&tp, svg, len, err, ERRLEN);
}

static void on_plan_for_svg(void *arg, enum store_status st, const struct store_reply *rep)
{
    struct pending *p = arg;
    if (!pending_live(p))
        return;
    if (sig_store_failed(p->r, st, rep)) {
        pending_free(p);
        return;
    }
    const char *json = store_reply_str(rep, NULL);
    json_t *running = NULL;
    if (json == NULL && !p->plan[0] &&
        (running = api_adaptive_running_plan(p->a, map_corridor(p->a->map, p->cor))) != NULL) {
        /* No active plan: draw what the controllers run now. */
        char *svg = NULL, err[ERRLEN];
        size_t len = 0;
        if (plan_svg(running, p->cycles, &svg, &len, err) == 0)
            http_reply_raw(p->r, 200, "image/svg+xml; charset=utf-8", svg, len);
        else
            http_reply_error(p->r, 500, "internal", "%s", err);
        free(svg);
        json_decref(running);
        pending_free(p);
        return;
    }
    if (json == NULL) {
        if (p->plan[0])
            http_reply_error(p->r, 404, "not_found", "plan '%s' not found for corridor '%s'",
                             p->plan, p->cor);
        else
            http_reply_error(p->r, 404, "not_found", "corridor '%s' has no active plan", p->cor);
        pending_free(p);
        return;
    }
    json_error_t jerr;
    json_t *plan = json_loads(json, 0, &jerr);
    char *svg = NULL, err[ERRLEN] = "stored plan is not JSON";
    size_t len = 0;
    if (plan != NULL && plan_svg(plan, p->cycles, &svg, &len, err) == 0)
        http_reply_raw(p->r, 200, "image/svg+xml; charset=utf-8", svg, len);
    else
        http_reply_error(p->r, 500, "internal", "%s", err);
    json_decref(plan);
    free(svg);
    pending_free(p);
}

static void h_time_space(struct http_req *r, void *arg)
{
    struct app *a = arg;
    const struct map_corridor *c = find_corridor(r, a);
    if (c == NULL)
        return;
    const char *plan = http_req_query(r, "plan"), *cyc = http_req_query(r, "cycles");
    int cycles = 3;
    if (cyc != NULL) {
        if (strcmp(cyc, "2") != 0 && strcmp(cyc, "3") != 0) {
            sig_bad_request(r, "cycles: must be 2 or 3");
            return;
        }
        cycles = cyc[0] - '0';
    }
    if (plan != NULL && !valid_plan_id(plan)) {
        http_reply_error(r, 404, "not_found", "plan '%s' not found for corridor '%s'", plan, c->id);
        return;
    }
    struct pending *p = pending_new(r, a, c->id);
    if (p == NULL)
        return;
    p->cycles = cycles;
    char key[KEY_MAX];
    if (plan != NULL) {
        snprintf(p->plan, sizeof p->plan, "%s", plan);
        plan_key(key, sizeof key, c->id, plan);
    } else {
        keys_corridor(key, sizeof key, c->id, "plan:active");
    }
    if (store_cmdf(a->store, on_plan_for_svg, p, "GET %s", key) != 0) {
        http_reply_error(r, 500, "internal", "cannot queue the store read");
        pending_drop(p);
    }
}

static const struct module_route ROUTES[] = {
    {HTTP_POST, "/v1/signals/webster", ROLE_READER, false, h_webster},
    {HTTP_POST, "/v1/signals/greenwave", ROLE_READER, false, h_greenwave},
    {HTTP_GET, "/v1/signals/corridors", ROLE_READER, true, h_corridors},
    {HTTP_GET, "/v1/signals/corridors/{id}", ROLE_READER, true, h_corridor},
    {HTTP_POST, "/v1/signals/corridors/{id}/greenwave", ROLE_ENGINEER, false,
     h_corridor_greenwave},
    {HTTP_PUT, "/v1/signals/corridors/{id}/plan", ROLE_ENGINEER, false, h_put_plan},
    {HTTP_GET, "/v1/signals/corridors/{id}/plan", ROLE_READER, true, h_get_plan},
    {HTTP_GET, "/v1/signals/corridors/{id}/time-space.svg", ROLE_READER, true, h_time_space},
};

static int start(struct app *a, char *err, size_t errlen)
{
    struct worker_opts wo = { (int)a->cfg.signals_workers, (size_t)a->cfg.signals_queue_max,
                              maxband_thread_done };
    char werr[ERRLEN], qe[2 * ERRLEN + 3];
    if ((a->signal_plans = calloc(1, sizeof *a->signal_plans)) == NULL) {
        snprintf(err, errlen, "signals: out of memory");
        return -1;
    }
    a->worker = worker_new(a->base, &wo, werr, sizeof werr);
    if (a->worker == NULL)
        log_error(&a->log, "signals_worker", "error=%s", log_quote(qe, sizeof qe, werr));
    return module_routes(a->http, "signals", ROUTES, sizeof ROUTES / sizeof ROUTES[0], a, err,
                         errlen);
}

static void stop(struct app *a)
{
    if (a->signal_plans != NULL)
        a->signal_plans->lt.stopped = true;
    worker_free(a->worker);          /* cancels and joins the optimisations in flight */
    a->worker = NULL;
}

static void plans_free(struct app *a)
{
    if (a->signal_plans != NULL)
        lifetime_check(&a->signal_plans->lt, a, "signals");
    free(a->signal_plans);
    a->signal_plans = NULL;
}

/* Nothing to restore: plans are read from Redis when asked for. */
static bool ready(const struct app *a)
{
    return a->signal_plans != NULL;
}

const struct api_module api_signals_module = {"signals", start, stop, plans_free, ready};
