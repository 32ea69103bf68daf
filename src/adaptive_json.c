/* adaptive_json.c -- a group's controller state as JSON and back.
 *
 * The snapshot holds everything the controller needs to carry on exactly
 * where it stopped (estimates, queues, the records running, the master
 * cycle, targets), with doubles written to 17 significant digits so a
 * restored group makes the same decisions, bit for bit, as the one saved.
 * NAN is written as null. Members are matched by intersection id. */
#include "adaptive.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SNAPSHOT_VERSION 1

static json_t *num(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

static json_t *nums(const double *x, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, num(x[i]));
    return a;
}

static json_t *bools(const bool *x, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_boolean(x[i]));
    return a;
}

static json_t *record_json(const struct adaptive_record *r, size_t n)
{
    json_t *o = json_object(), *order = json_array();
    for (int j = 0; j < r->nserved; j++)
        json_array_append_new(order, json_integer(r->order[j]));
    json_object_set_new(o, "order", order);
    json_object_set_new(o, "open", json_boolean(r->open));
    json_object_set_new(o, "next_phase", json_integer(r->next_phase));
    json_object_set_new(o, "mode", json_integer(r->mode));
    json_object_set_new(o, "critical", json_integer(r->critical));
    const struct { const char *k; double v; } scalars[] = {
        { "start", r->start }, { "end", r->end }, { "decided_at", r->decided_at },
        { "cycle_s", r->cycle_s }, { "common_cycle_s", r->common_cycle_s },
        { "target_cycle_s", r->target_cycle_s }, { "webster_cycle_s", r->webster_cycle_s },
        { "offset_s", r->offset_s }, { "target_offset_s", r->target_offset_s },
        { "delta_s", r->delta_s }, { "Y", r->Y },
    };
    for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++)
        json_object_set_new(o, scalars[i].k, num(scalars[i].v));
    json_object_set_new(o, "green", nums(r->green, n));
    json_object_set_new(o, "flow", nums(r->flow, n));
    json_object_set_new(o, "from_counts", bools(r->from_counts, n));
    json_object_set_new(o, "target_green", nums(r->target_green, n));
    json_object_set_new(o, "last_green", nums(r->last_green, n));
    json_object_set_new(o, "queue", nums(r->queue, n));
    json_object_set_new(o, "pressure", nums(r->pressure, n));
    if (r->plan[0] != '\0')
        json_object_set_new(o, "plan", json_string(r->plan));
    json_object_set_new(o, "plan_split", json_boolean(r->plan_split));
    json_object_set_new(o, "plan_offsets", json_boolean(r->plan_offsets));
    json_object_set_new(o, "plan_cycle_s", num(r->plan_cycle_s));
    return o;
}

static json_t *member_json(const struct adaptive_member *m)
{
    size_t n = m->cfg->nphases;
    json_t *o = json_object(), *est = json_array();
    for (int i = 0; i < ADAPTIVE_NMOV; i++) {
        const struct adaptive_est *e = &m->est[i];
        double v[9] = { e->vph, e->t_end, e->t_good, e->held_n, e->held_s, e->seen_s,
                        e->queue, e->queue_t, e->backlog_vph };
        json_array_append_new(est, nums(v, 9));
    }
    json_object_set_new(o, "id", json_string(m->cfg->id));
    json_object_set_new(o, "mode", json_integer(m->mode));
    json_object_set_new(o, "override", json_boolean(m->override));
    json_object_set_new(o, "est", est);
    json_object_set_new(o, "q", nums(m->q, n));
    json_object_set_new(o, "q_t", num(m->q_t));
    json_object_set_new(o, "target_offset_s", num(m->target_offset_s));
    json_object_set_new(o, "band_green_s", num(m->band_green_s));
    json_object_set_new(o, "last_end", nums(m->last_end, n));
    json_object_set_new(o, "last_green", nums(m->last_green, n));
    json_object_set_new(o, "sat_floor", nums(m->sat_floor, n));
    json_object_set_new(o, "cur", record_json(&m->cur, n));
    json_object_set_new(o, "plan_offset_s", num(m->plan_offset_s));
    json_object_set_new(o, "plan_green", nums(m->plan_green, n));
    return o;
}

char *adaptive_snapshot(const struct adaptive_group *g)
{
    json_t *o = json_object(), *ms = json_array();
    /* v and seq first (objects keep their insertion order): what
     * adaptive_snapshot_seq reads */
    json_object_set_new(o, "v", json_integer(SNAPSHOT_VERSION));
    json_object_set_new(o, "seq", json_integer((json_int_t)g->seq));
    json_object_set_new(o, "started", json_boolean(g->started));
    json_object_set_new(o, "t", num(g->t));
    json_object_set_new(o, "master_start", num(g->master_start));
    json_object_set_new(o, "master_cycle", num(g->master_cycle));
    json_object_set_new(o, "target_cycle", num(g->target_cycle));
    json_object_set_new(o, "opt_cycle", num(g->opt_cycle));
    json_object_set_new(o, "critical", json_integer(g->critical));
    json_object_set_new(o, "plan", g->plan_id[0] ? json_string(g->plan_id) : json_null());
    json_object_set_new(o, "plan_cycle", num(g->plan_cycle));
    for (size_t k = 0; k < g->n; k++)
        json_array_append_new(ms, member_json(&g->m[k]));
    json_object_set_new(o, "members", ms);
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(o);
    return s;
}

int adaptive_snapshot_seq(const char *json, unsigned long long *seq)
{
    char head[32];
    int n = snprintf(head, sizeof head, "{\"v\":%d,\"seq\":", SNAPSHOT_VERSION);
    if (json == NULL || strncmp(json, head, (size_t)n) != 0 || !isdigit((unsigned char)json[n]))
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(json + n, &end, 10);
    if (errno != 0 || (*end != ',' && *end != '}'))
        return -1;
    *seq = v;
    return 0;
}

/* ---- reading back ---- */

struct rd {
    bool ok;
};

static double rnum(struct rd *rd, json_t *v)
{
    if (json_is_null(v))
        return NAN;
    if (!json_is_number(v))
        rd->ok = false;
    return json_number_value(v);
}

static double get(struct rd *rd, json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (v == NULL)
        rd->ok = false;
    return rnum(rd, v);
}

static long geti(struct rd *rd, json_t *o, const char *k, long lo, long hi)
{
    json_t *v = json_object_get(o, k);
    long x = json_is_integer(v) ? (long)json_integer_value(v) : lo - 1;
    if (x < lo || x > hi)
        rd->ok = false;
    return x;
}

static bool getb(struct rd *rd, json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_boolean(v))
        rd->ok = false;
    return json_is_true(v);
}

static void getv(struct rd *rd, json_t *o, const char *k, double *x, size_t n)
{
    json_t *a = json_object_get(o, k);
    if (json_array_size(a) != n)
        rd->ok = false;
    for (size_t i = 0; rd->ok && i < n; i++)
        x[i] = rnum(rd, json_array_get(a, i));
}

static void getbv(struct rd *rd, json_t *o, const char *k, bool *x, size_t n)
{
    json_t *a = json_object_get(o, k);
    if (json_array_size(a) != n)
        rd->ok = false;
    for (size_t i = 0; rd->ok && i < n; i++)
        x[i] = json_is_true(json_array_get(a, i));
}

/* Plan fields came after version 1's first snapshots: absent = no plan. */
static void get_plan_id(struct rd *rd, json_t *o, const char *k, char *id, size_t len)
{
    json_t *v = json_object_get(o, k);
    const char *s = json_string_value(v);
    id[0] = '\0';
    if (v == NULL || json_is_null(v))
        return;
    if (s == NULL || strlen(s) >= len)
        rd->ok = false;
    else
        snprintf(id, len, "%s", s);
}

static double get_opt(struct rd *rd, json_t *o, const char *k, double dflt)
{
    json_t *v = json_object_get(o, k);
    return v == NULL ? dflt : rnum(rd, v);
}

static void record_read(struct rd *rd, json_t *o, struct adaptive_record *r, size_t n)
{
    memset(r, 0, sizeof *r);
    json_t *order = json_object_get(o, "order");
    r->nserved = (int)json_array_size(order);
    if (r->nserved < 1 || (size_t)r->nserved > n)
        rd->ok = false;
    for (int j = 0; rd->ok && j < r->nserved; j++) {
        json_t *v = json_array_get(order, (size_t)j);
        long p = json_is_integer(v) ? (long)json_integer_value(v) : -1;
        if (p < 0 || (size_t)p >= n)
            rd->ok = false;
        r->order[j] = (signed char)p;
    }
    r->open = getb(rd, o, "open");
    r->next_phase = (int)geti(rd, o, "next_phase", -1, (long)n - 1);
    r->mode = (enum adaptive_mode)geti(rd, o, "mode", ADAPTIVE_FIXED, ADAPTIVE_MAX_PRESSURE);
    r->critical = (int)geti(rd, o, "critical", -1, ADAPTIVE_MAX_MEMBERS - 1);
    r->start = get(rd, o, "start");
    r->end = get(rd, o, "end");
    r->decided_at = get(rd, o, "decided_at");
    r->cycle_s = get(rd, o, "cycle_s");
    r->common_cycle_s = get(rd, o, "common_cycle_s");
    r->target_cycle_s = get(rd, o, "target_cycle_s");
    r->webster_cycle_s = get(rd, o, "webster_cycle_s");
    r->offset_s = get(rd, o, "offset_s");
    r->target_offset_s = get(rd, o, "target_offset_s");
    r->delta_s = get(rd, o, "delta_s");
    r->Y = get(rd, o, "Y");
    getv(rd, o, "green", r->green, n);
    getv(rd, o, "flow", r->flow, n);
    getbv(rd, o, "from_counts", r->from_counts, n);
    getv(rd, o, "target_green", r->target_green, n);
    getv(rd, o, "last_green", r->last_green, n);
    getv(rd, o, "queue", r->queue, n);
    getv(rd, o, "pressure", r->pressure, n);
    get_plan_id(rd, o, "plan", r->plan, sizeof r->plan);
    r->plan_split = json_is_true(json_object_get(o, "plan_split"));
    r->plan_offsets = json_is_true(json_object_get(o, "plan_offsets"));
    r->plan_cycle_s = get_opt(rd, o, "plan_cycle_s", NAN);
    if (!(isfinite(r->start) && isfinite(r->end) && r->end >= r->start))
        rd->ok = false;
}

static void member_read(struct rd *rd, json_t *o, struct adaptive_member *m)
{
    size_t n = m->cfg->nphases;
    const char *id = json_string_value(json_object_get(o, "id"));
    if (id == NULL || strcmp(id, m->cfg->id) != 0) {
        rd->ok = false;
        return;
    }
    m->mode = (enum adaptive_mode)geti(rd, o, "mode", ADAPTIVE_FIXED, ADAPTIVE_MAX_PRESSURE);
    m->override = getb(rd, o, "override");
    json_t *est = json_object_get(o, "est");
    if (json_array_size(est) != ADAPTIVE_NMOV)
        rd->ok = false;
    for (int i = 0; rd->ok && i < ADAPTIVE_NMOV; i++) {
        /* Snapshots from before residual queues have 6 numbers. */
        double v[9] = { 0, 0, 0, 0, 0, 0, NAN, 0, 0 };
        json_t *e = json_array_get(est, (size_t)i);
        size_t ne = json_array_size(e);
        if (ne != 6 && ne != 9) {
            rd->ok = false;
            break;
        }
        for (size_t j = 0; j < ne; j++)
            v[j] = rnum(rd, json_array_get(e, j));
        m->est[i] = (struct adaptive_est){ v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7],
                                           v[8] };
    }
    getv(rd, o, "q", m->q, n);
    m->q_t = get(rd, o, "q_t");
    m->target_offset_s = get(rd, o, "target_offset_s");
    m->band_green_s = get(rd, o, "band_green_s");
    getv(rd, o, "last_end", m->last_end, n);
    getv(rd, o, "last_green", m->last_green, n);
    getv(rd, o, "sat_floor", m->sat_floor, n);
    record_read(rd, json_object_get(o, "cur"), &m->cur, n);
    m->plan_offset_s = get_opt(rd, o, "plan_offset_s", 0);
    if (json_object_get(o, "plan_green") != NULL)
        getv(rd, o, "plan_green", m->plan_green, n);
}

int adaptive_restore(struct adaptive_group *g, const char *text, char *err, size_t errlen)
{
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    if (o == NULL) {
        snprintf(err, errlen, "snapshot is not JSON: %s", je.text);
        return -1;
    }
    struct adaptive_group *tmp = adaptive_group_new(g->cfg, g->default_mode);
    struct rd rd = { tmp != NULL };
    json_t *ms = json_object_get(o, "members");
    if (geti(&rd, o, "v", SNAPSHOT_VERSION, SNAPSHOT_VERSION) != SNAPSHOT_VERSION ||
        json_array_size(ms) != g->n)
        rd.ok = false;
    if (rd.ok) {
        json_t *seq = json_object_get(o, "seq");
        tmp->seq = json_is_integer(seq) ? (unsigned long long)json_integer_value(seq) : 0;
        tmp->started = getb(&rd, o, "started");
        tmp->t = get(&rd, o, "t");
        tmp->master_start = get(&rd, o, "master_start");
        tmp->master_cycle = get(&rd, o, "master_cycle");
        tmp->target_cycle = get(&rd, o, "target_cycle");
        tmp->opt_cycle = get(&rd, o, "opt_cycle");
        tmp->critical = (int)geti(&rd, o, "critical", -1, (long)g->n - 1);
        get_plan_id(&rd, o, "plan", tmp->plan_id, sizeof tmp->plan_id);
        tmp->plan_cycle = get_opt(&rd, o, "plan_cycle", 0);
        if (tmp->plan_id[0] && !(tmp->plan_cycle > 0))
            rd.ok = false;
        for (size_t k = 0; rd.ok && k < g->n; k++) {
            member_read(&rd, json_array_get(ms, k), &tmp->m[k]);
            /* The configured default may have changed since. */
            if (!tmp->m[k].override)
                tmp->m[k].mode = tmp->default_mode;
        }
        if (tmp->started && !(isfinite(tmp->t) && tmp->master_cycle > 0))
            rd.ok = false;
    }
    if (rd.ok)
        adaptive_group_copy_into(g, tmp);
    else
        snprintf(err, errlen, "snapshot does not match the map or is malformed");
    adaptive_group_free(tmp);
    json_decref(o);
    return rd.ok ? 0 : -1;
}
