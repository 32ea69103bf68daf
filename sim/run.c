/* run.c -- `citysim run`: replay a corridor's loads under a fixed plan
 * (the default timing or a plan file) or in closed loop with cityd.
 *
 * Closed loop: simulated time 0 is the loads' start (--start, local time
 * in --tz) as an epoch second. Every count interval the detector counts of
 * each intersection (stop-line crossings, movements the loads detect) are
 * posted; at the start of each of an intersection's cycles its timing is
 * fetched (`at=` the simulated instant) and followed from then on. After
 * --duration, generation stops and the run goes on until the network is
 * empty (bounded), so every vehicle's delay counts, also in oversaturation.
 *
 * Output: one JSON object on stdout (fixed key order and precision), only
 * when the whole run succeeded; errors on stderr, exit 2 (input) or 3
 * (server). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"
#include "simcli.h"
#include "tz.h"
#include "utdf.h"

struct runopts {
    const char *map, *corridor, *loads, *plan, *server, *key, *start, *arrivals, *trace, *tz;
    const char *format, *svg;
    double duration, timeout, retries, warmup, speed_dev, lanes;
    double count_interval;             /* closed loop: detector interval, 0: the loads' */
    double passage;                    /* --actuated: the gap that ends a green */
    unsigned long long seed;
    bool no_dispersion;
    bool no_queues;                    /* closed loop: stop-line counts only */
    bool actuated;                     /* coordinated-actuated local control */
};

struct run {
    struct runopts o;
    struct simcor c;
    struct map *map;
    struct utdf *u;
    struct sim *sim;
    struct simhttp *http;
    FILE *trace;
    struct simtraj traj;               /* --svg: corridor crossings */
    bool traj_failed;
    const char *mode;                  /* "default", "plan", "closed_loop" */
    char plan_id[128];
    double epoch0;
    uint64_t run_hash;                 /* ids of posted counts */
    long *updates;                     /* per isec: timings applied (closed loop) */
    char (*isec_plan)[128];            /* per isec: plan its last timing followed */
    long posted, duplicates;           /* counts cityd took / had already */
    long outdated;                     /* of those posted: nothing applied (older than
                                          what cityd had seen) */
    double drained_at;
};

static void trace_line(void *arg, const char *line)
{
    struct run *r = arg;
    if (r->trace) {
        fputs(line, r->trace);
        fputc('\n', r->trace);
    }
    if (r->o.svg && simtraj_add(&r->traj, &r->c, line) != 0)
        r->traj_failed = true;
}

static int parse_opts(struct runopts *o, int argc, char **argv)
{
    struct simopt opts[] = {
        {"--map", OPT_STRING, &o->map, true, false},
        {"--corridor", OPT_STRING, &o->corridor, true, false},
        {"--loads", OPT_STRING, &o->loads, true, false},
        {"--plan", OPT_STRING, &o->plan, false, false},
        {"--server", OPT_STRING, &o->server, false, false},
        {"--key", OPT_STRING, &o->key, false, false},
        {"--duration", OPT_DOUBLE, &o->duration, true, false},
        {"--seed", OPT_SEED, &o->seed, true, false},
        {"--start", OPT_STRING, &o->start, false, false},
        {"--arrivals", OPT_STRING, &o->arrivals, false, false},
        {"--trace", OPT_STRING, &o->trace, false, false},
        {"--tz", OPT_STRING, &o->tz, false, false},
        {"--timeout", OPT_DOUBLE, &o->timeout, false, false},
        {"--retries", OPT_DOUBLE, &o->retries, false, false},
        {"--no-dispersion", OPT_FLAG, &o->no_dispersion, false, false},
        {"--no-queues", OPT_FLAG, &o->no_queues, false, false},
        {"--count-interval", OPT_DOUBLE, &o->count_interval, false, false},
        {"--warmup", OPT_DOUBLE, &o->warmup, false, false},
        {"--speed-dev", OPT_DOUBLE, &o->speed_dev, false, false},
        {"--lanes", OPT_DOUBLE, &o->lanes, false, false},
        {"--format", OPT_STRING, &o->format, false, false},
        {"--svg", OPT_STRING, &o->svg, false, false},
        {"--actuated", OPT_FLAG, &o->actuated, false, false},
        {"--passage", OPT_DOUBLE, &o->passage, false, false},
        {NULL, 0, NULL, false, false},
    };
    if (simopt_parse(opts, argc, argv) != 0)
        return -1;
    const char *bad = NULL;
    if (o->plan && o->server)
        bad = "--plan and --server: give one (a fixed plan, or closed loop with cityd)";
    else if (o->server && !o->key)
        bad = "--server needs --key (a sensor key: counts are posted)";
    else if (o->key && !o->server)
        bad = "--key without --server";
    else if (o->count_interval < 0 || o->count_interval > 3600 ||
             (o->count_interval > 0 && !o->server))
        bad = "--count-interval: seconds in (0, 3600], closed loop only (--server)";
    else if (!(o->duration > 0) || o->duration > 7 * 86400)
        bad = "--duration: expected seconds in (0, 604800]";
    else if (!(o->warmup >= 0 && o->warmup < o->duration))
        bad = "--warmup: expected seconds in [0, --duration)";
    else if (!(o->speed_dev >= 0 && o->speed_dev <= 1))
        bad = "--speed-dev: expected a standard deviation of the speed factor in [0, 1]";
    else if (!(o->lanes >= 1 && o->lanes <= 8 && o->lanes == floor(o->lanes)))
        bad = "--lanes: expected 1..8 lanes per direction";
    else if (!(o->passage > 0 && o->passage <= 30))
        bad = "--passage: expected seconds in (0, 30]";
    else if (strcmp(o->format, "json") != 0 && strcmp(o->format, "table") != 0)
        bad = "--format: expected json or table";
    else if (strcmp(o->arrivals, "poisson") != 0 && strcmp(o->arrivals, "uniform") != 0)
        bad = "--arrivals: expected poisson or uniform";
    else if (!(o->timeout > 0) || o->retries < 0 || o->retries > 20 ||
             o->retries != floor(o->retries))
        bad = "--timeout: expected seconds > 0; --retries: expected 0..20";
    if (bad != NULL) {
        fprintf(stderr, "citysim: run: %s\n", bad);
        return -1;
    }
    return 0;
}

static int load_map(struct run *r, char *err, size_t errlen)
{
    struct map_problems probs = {0};
    int rc = map_load(r->o.map, &r->map, &probs);
    if (rc != 0) {
        for (size_t i = 0; i < probs.n; i++)
            fprintf(stderr, "citysim: %s/%s: %s: %s\n", r->o.map, probs.items[i].file,
                    probs.items[i].feature, probs.items[i].message);
        snprintf(err, errlen, "--map %s: the map has %zu problem(s)", r->o.map, probs.n);
    }
    map_problems_free(&probs);
    return rc;
}

static int read_plan(struct run *r, char *err, size_t errlen)
{
    json_error_t je;
    json_t *plan = json_load_file(r->o.plan, 0, &je);
    if (plan == NULL) {
        snprintf(err, errlen, "--plan %s:%d: %s", r->o.plan, je.line, je.text);
        return -1;
    }
    char why[400];
    int rc = simtiming_plan(&r->c, plan, r->plan_id, sizeof r->plan_id, why, sizeof why);
    if (rc != 0)
        snprintf(err, errlen, "--plan %s: %s", r->o.plan, why);
    json_decref(plan);
    return rc;
}

/* Report '*' movements: simulated without demand, never silently. */
static void warn_undetected(const struct run *r)
{
    for (size_t i = 0; i < r->c.n; i++) {
        if (r->c.undetected[i] == 0)
            continue;
        fprintf(stderr, "citysim: warning: %s: not detected ('*') in the loads, simulated "
                "without demand:", r->c.isecs[i].id);
        for (int m = 0; m < SIM_NMOV; m++)
            if (r->c.undetected[i] & (1u << m))
                fprintf(stderr, " %s", sim_movement_name(m));
        fputc('\n', stderr);
    }
}

static uint64_t hash_inputs(const struct run *r)
{
    uint64_t h = SIMCLI_HASH_INIT;
    for (size_t k = 0; k < r->u->n; k++) {
        const struct utdf_row *row = &r->u->rows[k];
        h = simcli_hash(h, row->intid, strlen(row->intid));
        h = simcli_hash(h, &row->minute, sizeof row->minute);
        h = simcli_hash(h, row->counts, sizeof row->counts);
    }
    double d = r->o.duration;
    h = simcli_hash(h, &r->o.seed, sizeof r->o.seed);
    h = simcli_hash(h, &r->c.start_min, sizeof r->c.start_min);
    h = simcli_hash(h, &d, sizeof d);
    h = simcli_hash(h, r->o.arrivals, strlen(r->o.arrivals));
    h = simcli_hash(h, &r->o.no_queues, sizeof r->o.no_queues);
    h = simcli_hash(h, &r->o.count_interval, sizeof r->o.count_interval);
    return simcli_hash(h, r->o.corridor, strlen(r->o.corridor));
}

static int setup(struct run *r, char *err, size_t errlen)
{
    if (load_map(r, err, errlen) != 0 ||
        simcor_init(&r->c, r->map, r->o.corridor, err, errlen) != 0 ||
        utdf_read(r->o.loads, &r->u, err, errlen) != 0 ||
        simcor_loads(&r->c, r->u, r->o.start, r->o.duration, err, errlen) != 0)
        return -1;
    warn_undetected(r);
    char why[256];
    struct tz *z = tz_load(r->o.tz, NULL, why, sizeof why);
    if (z == NULL) {
        snprintf(err, errlen, "--tz: %s", why);
        return -1;
    }
    int64_t days = r->c.start_min / 1440;
    int y, mo, d, mins = (int)(r->c.start_min - days * 1440);
    tz_civil_from_days(days, &y, &mo, &d);
    r->epoch0 = (double)tz_local_to_utc(z, y, mo, d, mins / 60, mins % 60, 0);
    tz_free(z);
    r->run_hash = hash_inputs(r);
    r->updates = calloc(r->c.n, sizeof *r->updates);
    r->isec_plan = calloc(r->c.n, sizeof *r->isec_plan);
    if (r->updates == NULL || r->isec_plan == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (r->o.plan) {
        r->mode = "plan";
        return read_plan(r, err, errlen);
    }
    r->mode = r->o.server ? "closed_loop" : "default";
    /* Closed loop starts from the default too: the first fetch replaces
     * it before any vehicle moves. */
    return simtiming_default(&r->c, err, errlen);
}

/* ---- closed loop ---- */

#define WALL_HINT " (cityd runs on the wall clock: for a closed loop start it on the " \
    "simulated clock, `cityd -o clock.mode=replay` with its own Redis, so the posted counts " \
    "drive its time; docs/citysim.md)"

/* Append the wall-clock hint to err when the server's reason shows a
 * wall-clock cityd (simulated instants in its past or future). */
static void add_wall_hint(char *err, size_t errlen, const char *why)
{
    size_t w = strlen(err);
    if ((strstr(why, "future") || strstr(why, "earlier than the timing history")) &&
        w < errlen)
        snprintf(err + w, errlen - w, "%s", WALL_HINT);
}

static int fetch_timing(struct run *r, size_t i, double t, char *err, size_t errlen)
{
    char path[512], why[400];
    snprintf(path, sizeof path, "/v1/signals/intersections/%s/timing?at=%.0f", r->c.isecs[i].id,
             floor(r->epoch0 + t));
    json_t *body = NULL;
    int st = simhttp_request(r->http, "GET", path, NULL, &body, err, errlen);
    int rc = -1;
    if (st < 0)
        goto out;
    if (st != 200) {
        simhttp_error_text(body, why, sizeof why);
        snprintf(err, errlen, "GET %s: HTTP %d: %s", path, st, why);
        add_wall_hint(err, errlen, why);
        goto out;
    }
    if (simtiming_server(&r->c, i, body, r->epoch0, why, sizeof why) != 0) {
        snprintf(err, errlen, "GET %s: %s", path, why);
        goto out;
    }
    r->updates[i]++;
    sim_timing_changed(r->sim, i);
    const char *plan = json_string_value(json_object_get(body, "plan"));
    snprintf(r->isec_plan[i], sizeof r->isec_plan[i], "%s", plan ? plan : "");
    rc = 0;
out:
    json_decref(body);
    return rc;
}

/* Post what the detectors of every intersection counted in the interval
 * [t - len, t). Ids depend only on the inputs: re-running the same run
 * posts the same ids, which cityd takes as duplicates. */
static int post_counts(struct run *r, double t, double len, char *err, size_t errlen)
{
    for (size_t i = 0; i < r->c.n; i++) {
        double got[SIM_NMOV], left[SIM_NMOV];
        sim_take_counts(r->sim, i, got);
        sim_residual_queues(r->sim, i, left);
        long long ts = (long long)floor(r->epoch0 + t - len);
        json_t *counts = json_object(), *queues = json_object();
        for (int m = 0; m < SIM_NMOV; m++) {
            if (!(r->c.undetected[i] & (1u << m)) && simtiming_phase_of(&r->c, i, m) >= 0) {
                json_object_set_new(counts, sim_movement_name(m), json_integer((json_int_t)got[m]));
                json_object_set_new(queues, sim_movement_name(m),
                                    json_integer((json_int_t)left[m]));
            }
        }
        char id[200], path[512], why[400];
        snprintf(id, sizeof id, "cs-%012llx-%s-%lld",
                 (unsigned long long)(r->run_hash & 0xffffffffffffULL), r->c.isecs[i].id, ts);
        json_t *req = json_pack("{s:s,s:I,s:o,s:o}", "id", id, "ts", (json_int_t)ts,
                                "interval_s", len == floor(len) ? json_integer((json_int_t)len)
                                                                : json_real(len),
                                "counts", counts);
        /* Queue detectors: the residual queue of each counted movement
         * (docs/signals.md), unless --no-queues. */
        if (req != NULL && !r->o.no_queues)
            json_object_set(req, "queues", queues);
        json_decref(queues);
        char *text = json_dumps(req, JSON_COMPACT);
        json_decref(req);
        snprintf(path, sizeof path, "/v1/signals/intersections/%s/counts", r->c.isecs[i].id);
        json_t *body = NULL;
        int st = text ? simhttp_request(r->http, "POST", path, text, &body, err, errlen) : -1;
        free(text);
        if (st >= 0 && (st < 200 || st > 299)) {
            simhttp_error_text(body, why, sizeof why);
            snprintf(err, errlen, "POST %s: HTTP %d: %s", path, st, why);
            add_wall_hint(err, errlen, why);
        }
        const char *status = json_string_value(json_object_get(body, "status"));
        if (st >= 200 && st <= 299) {
            if (status && strcmp(status, "duplicate") == 0)
                r->duplicates++;
            else
                r->posted++;
            if (json_array_size(json_object_get(body, "outdated")) > 0 &&
                json_array_size(json_object_get(body, "applied")) == 0)
                r->outdated++;
        }
        json_decref(body);
        if (st < 200 || st > 299)
            return -1;
    }
    return 0;
}

/* Start of the next cycle of isec i strictly after t. */
static double next_cycle(const struct sim_timing *tm, double t)
{
    double k = floor((t - tm->offset_s) / tm->cycle_s) + 1;
    double at = tm->offset_s + k * tm->cycle_s;
    return at > t + 1e-6 ? at : at + tm->cycle_s;
}

static int closed_loop(struct run *r, double end, char *err, size_t errlen)
{
    int rc = -1;
    double len = r->o.count_interval > 0 ? r->o.count_interval : r->c.interval_s;
    double next_post = len, t = 0;
    double *next_fetch = calloc(r->c.n, sizeof *next_fetch);
    if (next_fetch == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < r->c.n; i++) {
        if (fetch_timing(r, i, 0, err, errlen) != 0)
            goto out;
        next_fetch[i] = next_cycle(&r->c.isecs[i].timing, 0);
    }
    for (;;) {
        double tn = next_post;
        for (size_t i = 0; i < r->c.n; i++)
            tn = fmin(tn, next_fetch[i]);
        /* Past the run: stop once the network is empty (or at the bound). */
        if (t >= r->o.duration && (sim_in_network(r->sim) == 0 || tn > end))
            break;
        sim_advance(r->sim, tn);
        t = tn;
        if (t == next_post) {
            long p0 = r->posted, d0 = r->duplicates, o0 = r->outdated;
            if (post_counts(r, t, len, err, errlen) != 0)
                goto out;
            if (r->duplicates == d0 && r->outdated == o0)
                fprintf(stderr, "citysim: t=%.0f s: counts posted\n", t);
            else
                fprintf(stderr, "citysim: t=%.0f s: %ld counts taken, %ld answered as duplicates "
                        "(an earlier run with the same inputs posted them), %ld outdated (cityd "
                        "had seen later counts): the controllers did not use those\n", t,
                        r->posted - p0 - (r->outdated - o0), r->duplicates - d0,
                        r->outdated - o0);
            next_post += len;
        }
        for (size_t i = 0; i < r->c.n; i++) {
            if (next_fetch[i] != t)
                continue;
            if (fetch_timing(r, i, t, err, errlen) != 0)
                goto out;
            next_fetch[i] = next_cycle(&r->c.isecs[i].timing, t);
        }
    }
    rc = 0;
out:
    free(next_fetch);
    return rc;
}

/* ---- output ---- */

static void stats_json(struct simjson *j, const struct sim_stats *s, bool queue)
{
    double n = (double)s->vehicles;
    simjson_int(j, "vehicles", s->vehicles);
    simjson_num(j, "mean_delay_s", n > 0 ? s->delay_s / n : 0, 3);
    simjson_num(j, "mean_stops", n > 0 ? s->stops / n : 0, 4);
    if (queue)
        simjson_num(j, "max_queue", s->max_queue, 0);
}

static void isec_json(struct simjson *j, const struct run *r, size_t i)
{
    const struct sim_isec *is = &r->c.isecs[i];
    const struct sim_isec_result *res = sim_isec_result(r->sim, i);
    simjson_obj(j, NULL);
    simjson_str(j, "id", is->id);
    simjson_str(j, "name", is->name);
    simjson_num(j, "position_m", is->position_m, 1);
    simjson_num(j, "cycle_s", is->timing.cycle_s, 2);
    simjson_num(j, "offset_s", is->timing.offset_s, 2);
    if (r->o.server) {
        simjson_int(j, "timing_updates", r->updates[i]);
        simjson_str(j, "plan", r->isec_plan[i][0] ? r->isec_plan[i] : NULL);
    }
    stats_json(j, &res->total, true);
    simjson_num(j, "throughput_vph",
                (double)res->served_in_run * 3600.0 / (r->o.duration - r->o.warmup), 1);
    if (r->o.actuated) {
        simjson_int(j, "gap_outs", res->gap_outs);
        simjson_num(j, "unused_green_s", res->unused_green_s, 1);
    }
    simjson_arr(j, "undetected");
    for (int m = 0; m < SIM_NMOV; m++)
        if (r->c.undetected[i] & (1u << m))
            simjson_str(j, NULL, sim_movement_name(m));
    simjson_end_arr(j);
    simjson_obj(j, "movements");
    for (int m = 0; m < SIM_NMOV; m++) {
        if (res->mov[m].vehicles == 0)
            continue;
        simjson_obj(j, sim_movement_name(m));
        stats_json(j, &res->mov[m], true);
        simjson_end_obj(j);
    }
    simjson_end_obj(j);
    simjson_end_obj(j);
}

/* The plan the run followed: the plan file's, or in closed loop the
 * corridor plan cityd's last timings followed (NULL: none, or not the
 * same everywhere -- then per intersection). */
static const char *plan_in_effect(const struct run *r)
{
    if (!r->o.server)
        return r->plan_id[0] ? r->plan_id : NULL;
    for (size_t i = 1; i < r->c.n; i++)
        if (strcmp(r->isec_plan[i], r->isec_plan[0]) != 0)
            return NULL;
    return r->c.n > 0 && r->isec_plan[0][0] ? r->isec_plan[0] : NULL;
}

static void print_result(const struct run *r)
{
    static const char *const appr[4] = {"NB", "SB", "EB", "WB"};
    struct sim_result res;
    struct simjson j;
    char start[24];
    sim_result(r->sim, &res);
    utdf_format_minute(r->c.start_min, start, sizeof start);
    simjson_begin(&j, stdout);
    simjson_obj(&j, NULL);
    simjson_str(&j, "corridor", r->c.cor->id);
    simjson_str(&j, "timing", r->mode);
    simjson_str(&j, "plan", plan_in_effect(r));
    simjson_str(&j, "start", start);
    simjson_num(&j, "duration_s", r->o.duration, 0);
    simjson_num(&j, "warmup_s", r->o.warmup, 0);
    simjson_int(&j, "seed", (long long)r->o.seed);
    simjson_str(&j, "arrivals", r->o.arrivals);
    simjson_str(&j, "local_control", r->o.actuated ? "actuated" : "pretimed");
    if (r->o.actuated)
        simjson_num(&j, "passage_s", r->o.passage, 1);
    stats_json(&j, &res.all, false);
    simjson_num(&j, "mean_travel_s",
                res.all.vehicles ? res.vehicle_s / (double)res.all.vehicles : 0, 3);
    simjson_num(&j, "throughput_vph", res.throughput_vph, 1);
    simjson_int(&j, "in_network", res.in_network);
    simjson_num(&j, "cleared_s", r->drained_at, 1);
    if (r->o.server) {
        simjson_obj(&j, "counts");
        simjson_int(&j, "posted", r->posted);
        simjson_int(&j, "duplicates", r->duplicates);
        simjson_int(&j, "outdated", r->outdated);
        simjson_end_obj(&j);
    }
    simjson_obj(&j, "directions");
    static const char *const dname[3] = {"outbound", "inbound", "cross"};
    for (int d = 0; d < 3; d++) {
        simjson_obj(&j, dname[d]);
        if (d < 2)
            simjson_str(&j, "approach", appr[d == 0 ? r->c.outbound : r->c.outbound ^ 1]);
        stats_json(&j, &res.dir[d], false);
        simjson_end_obj(&j);
    }
    simjson_end_obj(&j);
    simjson_arr(&j, "intersections");
    for (size_t i = 0; i < r->c.n; i++)
        isec_json(&j, r, i);
    simjson_end_arr(&j);
    simjson_end_obj(&j);
}

/* The same figures for a person (--format table). */
static void print_table(const struct run *r)
{
    static const char *const appr[4] = {"NB", "SB", "EB", "WB"};
    static const char *const dname[3] = {"outbound", "inbound", "cross"};
    struct sim_result res;
    char start[24];
    sim_result(r->sim, &res);
    utdf_format_minute(r->c.start_min, start, sizeof start);
    const char *plan = plan_in_effect(r);
    printf("corridor %s, timing %s%s%s, from %s for %.0f s (warm-up %.0f s), seed %llu, %s "
           "arrivals\n", r->c.cor->id, r->mode, plan ? ", plan " : "", plan ? plan : "", start,
           r->o.duration, r->o.warmup, r->o.seed, r->o.arrivals);
    if (r->o.actuated)
        printf("local control actuated: greens gap out after %.1f s without a vehicle\n",
               r->o.passage);
    printf("\n%-16s %9s %12s %10s\n", "direction", "vehicles", "delay s/veh", "stops/veh");
    for (int d = 0; d <= 3; d++) {
        const struct sim_stats *st = d < 3 ? &res.dir[d] : &res.all;
        char name[32];
        if (d < 2)
            snprintf(name, sizeof name, "%s (%s)", dname[d],
                     appr[d == 0 ? r->c.outbound : r->c.outbound ^ 1]);
        else
            snprintf(name, sizeof name, "%s", d == 2 ? dname[d] : "all");
        double n = (double)st->vehicles;
        printf("%-16s %9ld %12.1f %10.2f\n", name, st->vehicles, n > 0 ? st->delay_s / n : 0,
               n > 0 ? st->stops / n : 0);
    }
    printf("\nthroughput %.0f veh/h, mean travel %.1f s, ", res.throughput_vph,
           res.all.vehicles ? res.vehicle_s / (double)res.all.vehicles : 0);
    if (isnan(r->drained_at))
        printf("%ld vehicles still queued at the end\n", res.in_network);
    else
        printf("network empty at %.0f s\n", r->drained_at);
    if (r->o.server)
        printf("counts: %ld posted, %ld duplicates, %ld outdated\n", r->posted, r->duplicates,
               r->outdated);
    /* Names last: their display width is not their length in bytes. */
    printf("\n%-8s %7s %7s %8s %9s %7s %6s %7s  %s\n", "id", "cycle", "offset", "vehicles",
           "delay s", "stops", "queue", "veh/h", "name");
    for (size_t i = 0; i < r->c.n; i++) {
        const struct sim_isec *is = &r->c.isecs[i];
        const struct sim_isec_result *x = sim_isec_result(r->sim, i);
        double n = (double)x->total.vehicles;
        printf("%-8s %7.1f %7.1f %8ld %9.1f %7.2f %6.0f %7.0f  %s\n", is->id, is->timing.cycle_s,
               is->timing.offset_s, x->total.vehicles, n > 0 ? x->total.delay_s / n : 0,
               n > 0 ? x->total.stops / n : 0, x->total.max_queue,
               (double)x->served_in_run * 3600.0 / (r->o.duration - r->o.warmup), is->name);
    }
}

/* ---- the run ---- */

static int simulate(struct run *r, char *err, size_t errlen)
{
    struct sim_corridor_opts so = {
        .speed_mps = r->c.cor->speed_kmh / 3.6, .outbound = r->c.outbound,
        .duration_s = r->o.duration, .seed = r->o.seed,
        .uniform = strcmp(r->o.arrivals, "uniform") == 0,
    };
    sim_corridor_defaults(&so);
    so.speed_dev = r->o.no_dispersion ? 0 : r->o.speed_dev;
    so.lanes = (int)r->o.lanes;
    so.warmup_s = r->o.warmup;
    so.actuated = r->o.actuated;
    so.passage_s = r->o.passage;
    r->sim = sim_new(r->c.isecs, r->c.n, &so, err, errlen);
    if (r->sim == NULL)
        return 2;
    if (r->trace)
        fputs("vehicle,intersection,movement,position_m,arrive_s,cross_s\n", r->trace);
    if (r->trace || r->o.svg)
        sim_set_trace(r->sim, trace_line, r);
    /* Vehicles still in the network at the end are followed until they
     * leave, for at most as long again as the run (at least an hour). */
    double end = r->o.duration + fmax(3600, r->o.duration);
    if (r->o.server) {
        r->http = simhttp_new(r->o.server, r->o.key, r->o.timeout, (int)r->o.retries, err, errlen);
        if (r->http == NULL || closed_loop(r, end, err, errlen) != 0)
            return 3;
    } else {
        sim_advance(r->sim, r->o.duration);
        while (sim_in_network(r->sim) > 0 && sim_next_event(r->sim) <= end)
            sim_advance(r->sim, sim_next_event(r->sim));
    }
    r->drained_at = sim_in_network(r->sim) == 0 ? fmax(sim_time(r->sim), r->o.duration) : NAN;
    if (sim_in_network(r->sim) > 0)
        fprintf(stderr, "citysim: warning: %ld vehicles still in the network %.0f s after the "
                "run (oversaturated): their delay so far is not counted\n",
                sim_in_network(r->sim), end - r->o.duration);
    return 0;
}

int simcli_run(int argc, char **argv)
{
    struct run r;
    memset(&r, 0, sizeof r);
    r.o.arrivals = "poisson";
    r.o.tz = "Asia/Shanghai";
    r.o.timeout = 10;
    r.o.retries = 5;
    r.o.speed_dev = 0.1;
    r.o.lanes = 1;
    r.o.passage = 3;
    r.o.format = "json";
    if (parse_opts(&r.o, argc, argv) != 0)
        return 2;
    char err[1024];
    int rc = 2;
    if (setup(&r, err, sizeof err) != 0)
        goto out;
    if (r.o.trace && (r.trace = fopen(r.o.trace, "w")) == NULL) {
        snprintf(err, sizeof err, "--trace %s: %s", r.o.trace, strerror(errno));
        goto out;
    }
    rc = simulate(&r, err, sizeof err);
    if (rc != 0)
        goto out;
    if (r.trace && fclose(r.trace) != 0) {
        r.trace = NULL;
        snprintf(err, sizeof err, "--trace %s: %s", r.o.trace, strerror(errno));
        rc = 2;
        goto out;
    }
    r.trace = NULL;
    if (r.o.svg && (r.traj_failed ? (snprintf(err, sizeof err, "--svg: out of memory"), -1)
                    : simsvg_write(r.o.svg, &r.c, &r.traj, r.o.warmup, r.mode,
                                   plan_in_effect(&r), err, sizeof err)) != 0) {
        rc = 2;
        goto out;
    }
    if (strcmp(r.o.format, "table") == 0)
        print_table(&r);
    else
        print_result(&r);
out:
    if (rc != 0)
        fprintf(stderr, "citysim: run: %s\n", err);
    if (r.trace)
        fclose(r.trace);
    sim_free(r.sim);
    simhttp_free(r.http);
    simcor_free(&r.c);
    utdf_free(r.u);
    map_free(r.map);
    free(r.updates);
    free(r.isec_plan);
    simtraj_free(&r.traj);
    return rc;
}
