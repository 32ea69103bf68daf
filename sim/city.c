/* city.c -- `citysim city` (api.md §5): brings a map to life against a
 * running cityd. Drivers arrive at and leave every car park following
 * day-of-week x time-of-day profiles (demand.h), lots report counts,
 * garages report bay states with plates, gates post entries and exits with
 * plates and payments follow each plate's habit; buses run the timetable
 * (citybus.c); every signalised intersection posts detector counts per
 * interval from a day profile.
 *
 * The clock. Simulated time advances in steps of STEP_S; after each step
 * citysim sleeps until the wall clock reaches start + simulated / speed,
 * so at 1x it never posts a timestamp from the future (a wall-clock cityd
 * refuses those) and faster runs need a cityd with clock.mode = replay.
 * --speed max does not sleep at all. Everything random comes from streams
 * of the seed (demand_rng), so one seed gives the same requests. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "city.h"
#include "map.h"
#include "simcli.h"
#include "tz.h"

#define STEP_S 5.0
#define LOT_REPORT_S 60.0          /* a lot's sensor reports every minute */
#define BATCH_MAX 500              /* observations per request */
#define COUNT_INTERVAL_S 900.0

const char *const city_kind_names[CK_NKINDS] = {
    "observations", "entries", "exits", "payments", "accounts", "positions", "fares",
    "sign_fetches", "counts",
};

/* ---- small helpers ---- */

void city_buf_printf(struct city_buf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (b->s && (size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = b->cap ? b->cap : 4096;
        while (ncap < b->len + (size_t)n + 1)
            ncap *= 2;
        char *ns = realloc(b->s, ncap);
        if (ns == NULL)
            abort();               /* a command-line tool out of memory */
        b->s = ns;
        b->cap = ncap;
    }
}

void city_buf_reset(struct city_buf *b)
{
    b->len = 0;
    if (b->s)
        b->s[0] = '\0';
}

void city_buf_free(struct city_buf *b)
{
    free(b->s);
    memset(b, 0, sizeof *b);
}

void city_buf_json_str(struct city_buf *b, const char *s)
{
    city_buf_printf(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            city_buf_printf(b, "\\%c", *p);
        else if (*p < 0x20)
            city_buf_printf(b, "\\u%04x", *p);
        else
            city_buf_printf(b, "%c", *p);
    }
    city_buf_printf(b, "\"");
}

void city_urlenc(const char *s, char *out, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && k + 4 < n; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            out[k++] = (char)*p;
        } else {
            out[k++] = '%';
            out[k++] = hex[*p >> 4];
            out[k++] = hex[*p & 15];
        }
    }
    out[k] = '\0';
}

static void add_reason(struct city *c, enum city_kind k, const char *text, long n)
{
    for (size_t i = 0; i < c->nreasons; i++) {
        if (c->reasons[i].kind == (int)k && !strcmp(c->reasons[i].text, text)) {
            c->reasons[i].n += n;
            return;
        }
    }
    if (c->nreasons == CITY_MAX_REASONS) {
        c->reasons_dropped += n;
        return;
    }
    struct city_reason *r = &c->reasons[c->nreasons++];
    r->kind = (int)k;
    snprintf(r->text, sizeof r->text, "%s", text);
    r->n = n;
}

/* Items refused inside a 2xx batch reply: {"rejected":[{"index","error"}]}
 * (parking) or {"rejected": n, "errors":[{"index","id","message"}]}
 * (transit). Reasons are counted without their item-specific tail (after
 * the second ':') so that they group. The indexes refused go to the
 * ledger after the request ("REJECTED\t[i, ...]"). */
static void count_batch(struct city *c, enum city_kind k, const json_t *reply)
{
    const json_t *rej = json_object_get(reply, "rejected");
    const json_t *list = json_is_array(rej) ? rej : json_object_get(reply, "errors");
    size_t i;
    const json_t *e;
    bool any = false;
    json_array_foreach(list, i, e) {
        const char *why = json_string_value(json_object_get(e, "error"));
        if (why == NULL)
            why = json_string_value(json_object_get(e, "message"));
        char text[120];
        snprintf(text, sizeof text, "%s", why ? why : "rejected");
        char *colon = strchr(text, ':');
        if (colon && (colon = strchr(colon + 1, ':')) != NULL)
            *colon = '\0';
        c->items_refused[k]++;
        add_reason(c, k, text, 1);
        if (c->ledger)
            fprintf(c->ledger, "%s%lld", any ? "," : "REJECTED\t[",
                    (long long)json_integer_value(json_object_get(e, "index")));
        any = true;
    }
    if (any && c->ledger)
        fprintf(c->ledger, "]\n");
    if (!json_is_array(rej) && json_integer_value(rej) > (json_int_t)json_array_size(list)) {
        long more = (long)(json_integer_value(rej) - (json_int_t)json_array_size(list));
        c->items_refused[k] += more;
        add_reason(c, k, "rejected (no reason given)", more);
    }
}

int city_send(struct city *c, enum city_kind k, const char *method, const char *path,
              const char *body, long items, json_t **reply)
{
    if (reply)
        *reply = NULL;
    if (c->missing[k])
        return 404;
    if (c->dump)
        fprintf(c->dump, "%s %s\t%s\n", method, path, body ? body : "");
    c->sent[k]++;
    c->items[k] += items;
    if (c->http == NULL)
        return 0;
    json_t *out = NULL;
    char err[512];
    int st = simhttp_request(c->http, method, path, body, &out, err, sizeof err);
    if (st < 0) {
        c->failed[k]++;
        add_reason(c, k, "no answer from cityd", 1);
    } else if (st >= 200 && st < 300) {
        c->ok[k]++;
        if (c->ledger && strcmp(method, "GET") != 0)
            fprintf(c->ledger, "%s %s\t%s\n", method, path, body ? body : "");
        count_batch(c, k, out);
    } else {
        char why[400];
        simhttp_error_text(out, why, sizeof why);
        c->refused[k]++;
        c->items_refused[k] += items;
        /* An endpoint this cityd does not have yet (a 404 on the path, not
         * on an id: fares name none): say so once and stop sending that
         * kind. */
        if (st == 404 && (k == CK_FARES || (k == CK_SIGNS && strstr(why, "no endpoint")))) {
            c->missing[k] = true;
            snprintf(why, sizeof why, "this cityd has no such endpoint; stopped sending");
        }
        char text[520];
        snprintf(text, sizeof text, "HTTP %d %s", st, why);
        text[sizeof c->reasons[0].text - 1] = '\0';
        add_reason(c, k, text, 1);
    }
    if (reply && st >= 200 && st < 300)
        *reply = out;
    else
        json_decref(out);
    return st;
}

/* ---- parking ---- */

struct pay_due {
    double t;
    char sid[128];
    double amount;
};

struct city_lot {
    const struct map_lot *ml;
    struct demand_lot d;
    const struct map_bay **bays;   /* d.nbays */
    bool gated;                    /* off-street: gate cameras post entries and exits */
    double report_phase;           /* the sensor's reporting offset in the minute */
    char lot_enc[200];             /* id, percent-encoded for paths */
};

struct city_parking {
    double gates;                  /* share of off-street lots with plate-reading gates */
    struct city_lot *lots;
    size_t nlots;
    struct demand_plates plates;
    uint8_t *enrolled;             /* account PUT done, per plate */
    struct demand_rng rng_demand, rng_sensor, rng_gate;
    struct city_buf obs;           /* observations batch being built */
    long nobs, obs_seq, gate_seq, pay_seq;
    struct pay_due *due;           /* pay-later payments waiting */
    size_t ndue, capdue;
    long in, out, refused_full, faults;
    struct city *c;                /* for the sink callbacks */
};

static void obs_flush(struct city *c, struct city_parking *p)
{
    if (p->nobs == 0)
        return;
    city_buf_printf(&p->obs, "]}");
    city_send(c, CK_OBSERVATIONS, "POST", "/v1/parking/observations", p->obs.s, p->nobs, NULL);
    city_buf_reset(&p->obs);
    p->nobs = 0;
}

/* Start an observation object (id and lot written); the caller adds its
 * fields and the closing brace. */
static void obs_begin(struct city *c, struct city_parking *p, const struct city_lot *l)
{
    if (p->nobs == BATCH_MAX)
        obs_flush(c, p);
    city_buf_printf(&p->obs, p->nobs ? "," : "{\"observations\":[");
    city_buf_printf(&p->obs, "{\"id\":\"%s-o%ld\",\"lot\":", c->tag, ++p->obs_seq);
    city_buf_json_str(&p->obs, l->ml->id);
    p->nobs++;
}

static void bay_obs(struct city *c, struct city_parking *p, const struct city_lot *l,
                    const struct demand_car *car, bool occupied, double ts)
{
    if (car->bay < 0)
        return;
    char plate[32];
    obs_begin(c, p, l);
    city_buf_printf(&p->obs, ",\"bay\":");
    city_buf_json_str(&p->obs, l->bays[car->bay]->id);
    city_buf_printf(&p->obs, ",\"status\":\"%s\",\"ts\":%lld", occupied ? "occupied" : "free",
                    (long long)floor(ts));
    if (occupied) {
        demand_plate_name(car->plate, plate, sizeof plate);
        city_buf_printf(&p->obs, ",\"plate\":\"%s\"", plate);
    }
    city_buf_printf(&p->obs, "}");
}

static struct city_lot *lot_of(struct city_parking *p, const struct demand_lot *d)
{
    return (struct city_lot *)((char *)d - offsetof(struct city_lot, d));
}

static void enrol(struct city *c, struct city_parking *p, size_t plate)
{
    uint8_t pay = p->plates.pay[plate];
    if (p->enrolled[plate] || pay == DEMAND_PAY_AT_EXIT)
        return;
    p->enrolled[plate] = 1;
    char name[32], enc[128], path[200];
    demand_plate_name(plate, name, sizeof name);
    city_urlenc(name, enc, sizeof enc);
    snprintf(path, sizeof path, "/v1/parking/accounts/%s", enc);
    city_send(c, CK_ACCOUNTS, "PUT", path,
              pay == DEMAND_AUTOPAY ? "{\"autopay\":true,\"pay_later\":false}"
                                    : "{\"autopay\":false,\"pay_later\":true}", 1, NULL);
}

static void gate_post(struct city *c, struct city_parking *p, struct city_lot *l,
                      const struct demand_car *car, bool entry, json_t **reply)
{
    char plate[32], path[300];
    struct city_buf b = { 0 };
    demand_plate_name(car->plate, plate, sizeof plate);
    city_buf_printf(&b, "{\"id\":\"%s-g%ld\",\"plate\":\"%s\",\"gate\":\"%s\",\"ts\":%lld}",
                    c->tag, ++p->gate_seq, plate, entry ? "G1-in" : "G1-out",
                    (long long)floor(entry ? car->entry : car->exit));
    snprintf(path, sizeof path, "/v1/parking/lots/%s/%s", l->lot_enc, entry ? "entries" : "exits");
    city_send(c, entry ? CK_ENTRIES : CK_EXITS, "POST", path, b.s, 1, reply);
    city_buf_free(&b);
}

static void pay(struct city *c, struct city_parking *p, const char *sid, double amount,
                const char *method)
{
    char enc[200], path[300], body[300];
    city_urlenc(sid, enc, sizeof enc);
    snprintf(path, sizeof path, "/v1/parking/sessions/%s/payments", enc);
    snprintf(body, sizeof body, "{\"id\":\"%s-p%ld\",\"amount\":%.2f,\"method\":\"%s\"}", c->tag,
             ++p->pay_seq, amount, method);
    city_send(c, CK_PAYMENTS, "POST", path, body, 1, NULL);
}

static void on_arrive(void *arg, struct demand_lot *d, const struct demand_car *car)
{
    struct city_parking *p = arg;
    struct city *c = p->c;
    struct city_lot *l = lot_of(p, d);
    if (car->flags & DEMAND_CAR_PRE) {
        bay_obs(c, p, l, car, true, c->t0);
        return;
    }
    p->in++;
    if (l->gated) {
        enrol(c, p, car->plate);
        gate_post(c, p, l, car, true, NULL);
    }
    bay_obs(c, p, l, car, true, car->entry);
}

/* At the exit: autopay plates are paid by cityd, pay-later plates pay
 * within days (a few never), the others pay at the gate (it holds until
 * they do). The amount and session id come from cityd's exit reply. */
static void on_leave(void *arg, struct demand_lot *d, const struct demand_car *car)
{
    struct city_parking *p = arg;
    struct city *c = p->c;
    struct city_lot *l = lot_of(p, d);
    p->out++;
    bay_obs(c, p, l, car, false, car->exit);
    if (!l->gated || (car->flags & DEMAND_CAR_PRE))
        return;
    json_t *reply = NULL;
    gate_post(c, p, l, car, false, &reply);
    const json_t *s = json_object_get(reply, "session");
    const char *sid = json_string_value(json_object_get(s, "id"));
    const char *status = json_string_value(json_object_get(s, "status"));
    double due = json_number_value(json_object_get(s, "amountDue")) -
                 json_number_value(json_object_get(s, "amountPaid"));
    uint8_t habit = p->plates.pay[car->plate];
    if (sid && status && due > 0.004) {
        if (!strcmp(status, "payment_required")) {
            pay(c, p, sid, due, demand_rng_unit(&p->rng_gate) < 0.7 ? "wechat" : "alipay");
        } else if (!strcmp(status, "exited_unpaid") && habit == DEMAND_PAY_LATER) {
            if (p->ndue == p->capdue) {
                p->capdue = p->capdue ? 2 * p->capdue : 64;
                p->due = realloc(p->due, p->capdue * sizeof *p->due);
                if (p->due == NULL)
                    abort();
            }
            struct pay_due *pd = &p->due[p->ndue++];
            pd->t = car->exit + p->plates.pay_delay_s[car->plate];
            snprintf(pd->sid, sizeof pd->sid, "%s", sid);
            pd->amount = due;
        }
    }
    json_decref(reply);
}

static void on_refuse(void *arg, struct demand_lot *d, double t)
{
    struct city_parking *p = arg;
    (void)d;
    (void)t;
    p->refused_full++;
}

static int cmp_bay(const void *a, const void *b)
{
    const struct map_bay *const *x = a, *const *y = b;
    int r = strcmp((*x)->level, (*y)->level);
    return r ? r : strcmp((*x)->id, (*y)->id);
}

static struct city_parking *parking_new(struct city *c, double gates)
{
    const struct map *m = c->map;
    struct city_parking *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->c = c;
    p->gates = gates;
    p->nlots = m->nlots;
    p->lots = calloc(m->nlots ? m->nlots : 1, sizeof *p->lots);
    demand_rng_seed(&p->rng_demand, c->seed, 1);
    demand_rng_seed(&p->rng_sensor, c->seed, 2);
    demand_rng_seed(&p->rng_gate, c->seed, 3);
    size_t spaces = 0;
    for (size_t i = 0; i < m->nlots; i++)
        spaces += (size_t)(m->lots[i].total > 0 ? m->lots[i].total : 0);
    /* Twice the spaces: most plates are parked somewhere now and then. */
    if (p->lots == NULL || demand_plates_init(&p->plates, 2 * spaces + 100, &p->rng_demand) != 0 ||
        (p->enrolled = calloc(p->plates.n, 1)) == NULL)
        goto fail;
    for (size_t i = 0; i < m->nlots; i++) {
        struct city_lot *l = &p->lots[i];
        l->ml = &m->lots[i];
        /* Gates: off-street lots, the first share `gates` of them by a hash
         * of the id (so the choice does not depend on the map's order). */
        uint64_t gh = simcli_hash(SIMCLI_HASH_INIT ^ 0x6761746573ULL, l->ml->id, strlen(l->ml->id));
        l->gated = l->ml->type && !strcmp(l->ml->type, "OffStreetParking") &&
                   (double)(gh % 10000) < gates * 10000;
        l->report_phase = (double)(simcli_hash(SIMCLI_HASH_INIT, l->ml->id, strlen(l->ml->id)) %
                                   (uint64_t)LOT_REPORT_S);
        city_urlenc(l->ml->id, l->lot_enc, sizeof l->lot_enc);
        size_t nb = 0;
        l->bays = calloc(l->ml->nbays ? l->ml->nbays : 1, sizeof *l->bays);
        if (l->bays == NULL)
            goto fail;
        for (size_t b = 0; b < m->nbays && nb < l->ml->nbays; b++)
            if (!strcmp(m->bays[b].lot, l->ml->id))
                l->bays[nb++] = &m->bays[b];
        qsort(l->bays, nb, sizeof *l->bays, cmp_bay);
        enum demand_class cls = demand_class_of(l->ml->type, l->ml->category, l->ml->ncategory);
        if (demand_lot_init(&l->d, cls, l->ml->total, (int)nb) != 0)
            goto fail;
    }
    return p;
fail:
    fprintf(stderr, "citysim: out of memory\n");
    exit(3);
}

static void parking_free(struct city_parking *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->nlots; i++) {
        demand_lot_free(&p->lots[i].d);
        free(p->lots[i].bays);
    }
    free(p->lots);
    demand_plates_free(&p->plates);
    free(p->enrolled);
    free(p->due);
    city_buf_free(&p->obs);
    free(p);
}

static void parking_start(struct city *c, struct city_parking *p)
{
    struct demand_sink s = { on_arrive, on_leave, on_refuse, p };
    for (size_t i = 0; i < p->nlots; i++)
        demand_lot_prefill(&p->lots[i].d, &p->plates, &p->rng_demand, c->t0, c->utc_offset, &s);
    obs_flush(c, p);
}

/* A car the simulation parked in a garage bay with a kiosk, for the demo's
 * "try these" (find-car from that kiosk). */
static void print_findable(const struct city *c, const struct city_parking *p)
{
    for (size_t i = 0; i < p->nlots; i++) {
        const struct city_lot *l = &p->lots[i];
        const struct map_kiosk *k = NULL;
        for (size_t j = 0; j < c->map->nkiosks && k == NULL; j++)
            if (!strcmp(c->map->kiosks[j].lot, l->ml->id))
                k = &c->map->kiosks[j];
        for (int j = 0; k != NULL && j < l->d.ncars; j++) {
            const struct demand_car *car = &l->d.cars[j];
            if (car->bay < 0)
                continue;
            char plate[32];
            demand_plate_name(car->plate, plate, sizeof plate);
            fprintf(stderr, "citysim: findable: plate %s is parked in bay %s of %s (kiosk %s)\n",
                    plate, l->bays[car->bay]->id, l->ml->id, k->id);
            return;
        }
    }
}

static void parking_step(struct city *c, struct city_parking *p, double t0, double t1)
{
    struct demand_sink s = { on_arrive, on_leave, on_refuse, p };
    for (size_t i = 0; i < p->nlots; i++) {
        struct city_lot *l = &p->lots[i];
        demand_lot_step(&l->d, &p->plates, &p->rng_demand, t0, t1, c->utc_offset, &s);
        /* The lot's count, once a minute at its own second (t0 == c->t0:
         * every lot reports at once on start). A lot with bay sensors is
         * counted by cityd from its bays (a count would be refused). */
        double k0 = floor((t0 - l->report_phase) / LOT_REPORT_S);
        double k1 = floor((t1 - l->report_phase) / LOT_REPORT_S);
        if (l->d.nbays == 0 && (k1 > k0 || t0 == c->t0)) {
            enum demand_fault before = l->d.fault;
            int free_n = demand_lot_sensor(&l->d, &p->rng_sensor, t1, LOT_REPORT_S);
            p->faults += before == DEMAND_FAULT_NONE && l->d.fault != DEMAND_FAULT_NONE;
            if (free_n >= 0) {
                obs_begin(c, p, l);
                city_buf_printf(&p->obs, ",\"availableSpotNumber\":%d,\"ts\":%lld}", free_n,
                                (long long)floor(t1));
            }
        }
    }
    obs_flush(c, p);
    /* Pay-later payments that fall due (in the order they were made). */
    size_t keep = 0;
    for (size_t i = 0; i < p->ndue; i++) {
        if (p->due[i].t <= t1)
            pay(c, p, p->due[i].sid, p->due[i].amount, "wechat");
        else
            p->due[keep++] = p->due[i];
    }
    p->ndue = keep;
}

static void parking_finish(struct city *c, struct city_parking *p)
{
    for (size_t i = 0; i < p->nlots; i++)
        demand_lot_finish(&p->lots[i].d, c->t_end);
}

/* ---- signals: detector counts ---- */

struct city_signals {
    struct demand_rng rng;
    double peak_share;             /* the busiest weekday slot's share */
    long posted;
};

static struct city_signals *signals_new(struct city *c)
{
    struct city_signals *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    demand_rng_seed(&s->rng, c->seed, 4);
    for (int d = 1; d <= 5; d++)
        for (int k = 0; k < DEMAND_SLOTS; k++)
            s->peak_share = fmax(s->peak_share, demand_signal_share[d][k]);
    return s;
}

/* Share of an approach's flow per movement kind (left, through, right). */
static double turn_share(const char *mv)
{
    size_t n = strlen(mv);
    char last = n ? mv[n - 1] : 'T';
    return last == 'L' ? 0.15 : last == 'R' ? 0.10 : 0.75;
}

/* Post the counts of the interval [ts, ts + COUNT_INTERVAL_S) at every
 * intersection: each phase's design flow (the map's "flow", else a third
 * of its saturation flow) on each approach it serves, scaled by the day
 * profile (1 in the weekday peak slot), split by turn, Poisson noise. */
static void signals_post(struct city *c, struct city_signals *s, double ts)
{
    const struct map *m = c->map;
    double lt = ts + c->utc_offset;
    double share = demand_signal_between(lt, lt + COUNT_INTERVAL_S) / COUNT_INTERVAL_S *
                   DEMAND_SLOT_S;
    double factor = s->peak_share > 0 ? share / s->peak_share : 1;
    struct city_buf b = { 0 };
    for (size_t i = 0; i < m->nisecs; i++) {
        const struct map_intersection *x = &m->isecs[i];
        city_buf_reset(&b);
        city_buf_printf(&b, "{\"id\":\"%s-c%zu-%lld\",\"ts\":%lld,\"interval_s\":%d,\"counts\":{",
                        c->tag, i, (long long)ts, (long long)ts, (int)COUNT_INTERVAL_S);
        bool first = true;
        for (size_t p = 0; p < x->nphases; p++) {
            const struct map_phase *ph = &x->phases[p];
            double flow = ph->design_flow > 0 ? ph->design_flow : ph->saturation_flow / 3;
            for (size_t k = 0; k < ph->nmovements; k++) {
                double mean = flow * factor * turn_share(ph->movements[k]) *
                              COUNT_INTERVAL_S / 3600;
                city_buf_printf(&b, "%s\"%s\":%u", first ? "" : ",", ph->movements[k],
                                demand_rng_poisson(&s->rng, mean));
                first = false;
            }
        }
        city_buf_printf(&b, "}}");
        char enc[200], path[300];
        city_urlenc(x->id, enc, sizeof enc);
        snprintf(path, sizeof path, "/v1/signals/intersections/%s/counts", enc);
        city_send(c, CK_COUNTS, "POST", path, b.s, 1, NULL);
        s->posted++;
    }
    city_buf_free(&b);
}

/* Counts are posted when an interval (aligned to the local quarter hour)
 * ends, and on start for the interval that ended last, so that adaptive
 * timing has counts from the first minute. */
static void signals_step(struct city *c, struct city_signals *s, double t0, double t1)
{
    double lt0 = t0 + c->utc_offset, lt1 = t1 + c->utc_offset;
    double k0 = floor(lt0 / COUNT_INTERVAL_S), k1 = floor(lt1 / COUNT_INTERVAL_S);
    if (t0 == c->t0)
        signals_post(c, s, (k0 - 1) * COUNT_INTERVAL_S - c->utc_offset);
    for (double k = k0 + 1; k <= k1; k++)
        signals_post(c, s, (k - 1) * COUNT_INTERVAL_S - c->utc_offset);
}

/* ---- the run ---- */

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_until(double wall)
{
    double d = wall - wall_now();
    if (d <= 0)
        return;
    struct timespec ts = { (time_t)d, (long)((d - floor(d)) * 1e9) };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static long sum(const long *v)
{
    long s = 0;
    for (int k = 0; k < CK_NKINDS; k++)
        s += v[k];
    return s;
}

static void progress(struct city *c, double t)
{
    struct city_parking *p = c->parking;
    long cars = 0, cap = 0, faulty = 0;
    for (size_t i = 0; i < p->nlots; i++) {
        cars += p->lots[i].d.ncars;
        cap += p->lots[i].d.capacity;
        faulty += p->lots[i].d.fault != DEMAND_FAULT_NONE;
    }
    struct citybus_stats bs = { 0 };
    if (c->bus)
        citybus_stats(c->bus, &bs);
    double lt = t + c->utc_offset;
    static const char *const dows[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    int sec = (int)demand_sec_of_day(lt);
    fprintf(stderr,
            "citysim: %s %02d:%02d | parking %zu lots %.0f%% full, %ld in, %ld out, %ld turned "
            "away, %ld sensors faulty | buses %ld running, %ld positions, %ld fares | signals "
            "%zu counted | sent %ld, refused %ld (+%ld items), no answer %ld\n",
            dows[demand_dow(lt)], sec / 3600, sec / 60 % 60, p->nlots,
            cap ? 100.0 * cars / cap : 0, p->in, p->out, p->refused_full, faulty, bs.running,
            bs.positions, bs.fares, c->map->nisecs, sum(c->sent), sum(c->refused),
            sum(c->items_refused), sum(c->failed));
    fflush(stderr);
}

static void summary(struct city *c, const char *speed)
{
    struct simjson j;
    struct city_parking *p = c->parking;
    struct citybus_stats bs = { 0 };
    if (c->bus)
        citybus_stats(c->bus, &bs);
    long arrivals = 0, departures = 0, prefilled = 0, open = 0;
    for (size_t i = 0; i < p->nlots; i++) {
        arrivals += p->lots[i].d.arrivals;
        departures += p->lots[i].d.departures;
        prefilled += p->lots[i].d.prefilled;
        open += p->lots[i].d.open_at_end;
    }
    simjson_begin(&j, stdout);
    simjson_obj(&j, NULL);
    simjson_int(&j, "seed", (long long)c->seed);
    simjson_int(&j, "start", (long long)c->t0);
    simjson_int(&j, "end", (long long)c->t_end);
    simjson_str(&j, "speed", speed);
    simjson_obj(&j, "parking");
    simjson_int(&j, "lots", (long long)p->nlots);
    simjson_int(&j, "parked_at_start", prefilled);
    simjson_int(&j, "arrivals", arrivals);
    simjson_int(&j, "departures", departures);
    simjson_int(&j, "turned_away", p->refused_full);
    simjson_int(&j, "parked_at_end", open);
    simjson_int(&j, "sensor_faults", p->faults);
    simjson_int(&j, "payments_pending", (long long)p->ndue);
    simjson_end_obj(&j);
    simjson_obj(&j, "buses");
    simjson_int(&j, "vehicles", c->bus ? (long long)citybus_nvehicles(c->bus) : 0);
    simjson_int(&j, "positions", bs.positions);
    simjson_int(&j, "positions_without_trip", bs.tripless);
    simjson_int(&j, "fares", bs.fares);
    simjson_int(&j, "fares_electronic", bs.electronic);
    simjson_int(&j, "stop_signs", c->bus ? (long long)citybus_nsigns(c->bus) : 0);
    simjson_int(&j, "sign_fetches", bs.sign_fetches);
    simjson_end_obj(&j);
    simjson_obj(&j, "signals");
    simjson_int(&j, "intersections", (long long)c->map->nisecs);
    simjson_int(&j, "counts", c->signals ? c->signals->posted : 0);
    simjson_end_obj(&j);
    simjson_obj(&j, "requests");
    for (int k = 0; k < CK_NKINDS; k++) {
        simjson_obj(&j, city_kind_names[k]);
        simjson_int(&j, "sent", c->sent[k]);
        simjson_int(&j, "items", c->items[k]);
        simjson_int(&j, "ok", c->ok[k]);
        simjson_int(&j, "refused", c->refused[k]);
        simjson_int(&j, "items_refused", c->items_refused[k]);
        simjson_int(&j, "no_answer", c->failed[k]);
        simjson_end_obj(&j);
    }
    simjson_end_obj(&j);
    simjson_arr(&j, "refusals");
    for (size_t i = 0; i < c->nreasons; i++) {
        simjson_obj(&j, NULL);
        simjson_str(&j, "request", city_kind_names[c->reasons[i].kind]);
        simjson_str(&j, "reason", c->reasons[i].text);
        simjson_int(&j, "count", c->reasons[i].n);
        simjson_end_obj(&j);
    }
    simjson_end_arr(&j);
    simjson_int(&j, "refusals_not_listed", c->reasons_dropped);
    simjson_end_obj(&j);
    fputc('\n', stdout);
}

/* "HH:MM" -> seconds of the day, -1 if bad. */
static int parse_hhmm(const char *s)
{
    int h, m;
    char tail;
    if (sscanf(s, "%d:%d%c", &h, &m, &tail) != 2 || h < 0 || h > 23 || m < 0 || m > 59)
        return -1;
    return h * 3600 + m * 60;
}

/* The start instant: --date (YYYY-MM-DD, default today in the city) at
 * --start (HH:MM, default now). */
static int start_time(const char *date, const char *start, const struct tz *z, double now,
                      double *t0, char *err, size_t errlen)
{
    int y, mo, d;
    char tail;
    if (date) {
        if (sscanf(date, "%d-%d-%d%c", &y, &mo, &d, &tail) != 3 || mo < 1 || mo > 12 || d < 1 ||
            d > 31) {
            snprintf(err, errlen, "--date: '%s' is not YYYY-MM-DD", date);
            return -1;
        }
    } else {
        tz_civil_from_days(tz_local_day(z, (int64_t)now), &y, &mo, &d);
    }
    if (start == NULL) {
        double lt = now + tz_offset_at(z, (int64_t)now);
        int sec = (int)demand_sec_of_day(lt);
        *t0 = date ? (double)tz_local_to_utc(z, y, mo, d, sec / 3600, sec / 60 % 60, sec % 60)
                   : floor(now);
        return 0;
    }
    int sec = parse_hhmm(start);
    if (sec < 0) {
        snprintf(err, errlen, "--start: '%s' is not HH:MM", start);
        return -1;
    }
    *t0 = (double)tz_local_to_utc(z, y, mo, d, sec / 3600, sec / 60 % 60, 0);
    return 0;
}

int simcli_city(int argc, char **argv)
{
    const char *server = NULL, *key = NULL, *map_dir = "maps/yantai", *speed_s = "1",
               *start = NULL, *date = NULL, *dump_path = NULL, *tzname = "Asia/Shanghai";
    double duration = 86400, timeout = 10, retries = 5, tripless = 0, progress_s = NAN,
           gates = 1;
    const char *ledger_path = NULL;
    unsigned long long seed = 1;
    bool dry = false;
    struct simopt opts[] = {
        { "--server", OPT_STRING, &server, false, false },
        { "--key", OPT_STRING, &key, false, false },
        { "--map", OPT_STRING, &map_dir, false, false },
        { "--speed", OPT_STRING, &speed_s, false, false },
        { "--start", OPT_STRING, &start, false, false },
        { "--date", OPT_STRING, &date, false, false },
        { "--duration", OPT_DOUBLE, &duration, false, false },
        { "--seed", OPT_SEED, &seed, false, false },
        { "--dump-requests", OPT_STRING, &dump_path, false, false },
        { "--dry-run", OPT_FLAG, &dry, false, false },
        { "--tripless", OPT_DOUBLE, &tripless, false, false },
        { "--progress", OPT_DOUBLE, &progress_s, false, false },
        { "--gates", OPT_DOUBLE, &gates, false, false },
        { "--ledger", OPT_STRING, &ledger_path, false, false },
        { "--tz", OPT_STRING, &tzname, false, false },
        { "--timeout", OPT_DOUBLE, &timeout, false, false },
        { "--retries", OPT_DOUBLE, &retries, false, false },
        { NULL, 0, NULL, false, false },
    };
    if (simopt_parse(opts, argc, argv) != 0)
        return 2;
    char err[1024];
    double speed = strcmp(speed_s, "max") == 0 ? INFINITY : strtod(speed_s, NULL);
    if (!(speed > 0)) {
        fprintf(stderr, "citysim: --speed: '%s' is not a positive number or 'max'\n", speed_s);
        return 2;
    }
    if (!dry && (server == NULL || key == NULL)) {
        fprintf(stderr, "citysim: city needs --server URL and --key K (a key that may post "
                        "observations, gate events, positions and counts: admin), or --dry-run\n");
        return 2;
    }
    if (!(duration > 0) || !(tripless >= 0 && tripless <= 1) || !(gates >= 0 && gates <= 1)) {
        fprintf(stderr, "citysim: %s\n", !(duration > 0) ? "--duration: must be > 0"
                                          : !(gates >= 0 && gates <= 1) ? "--gates: a share in [0, 1]"
                                                                        : "--tripless: a share in [0, 1]");
        return 2;
    }
    struct stat st;
    if (stat(map_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "citysim: --map: '%s' is not a map folder (formats.md: parking.geojson, "
                        "corridors.geojson, gtfs/)\n", map_dir);
        return 2;
    }
    struct map *m = NULL;
    struct map_problems probs = { 0 };
    if (map_load(map_dir, &m, &probs) != 0 || probs.n > 0) {
        fprintf(stderr, "citysim: --map %s: %zu problem(s):\n", map_dir, probs.n);
        for (size_t i = 0; i < probs.n && i < 20; i++)
            fprintf(stderr, "  %s: %s: %s\n", probs.items[i].file, probs.items[i].feature,
                    probs.items[i].message);
        map_problems_free(&probs);
        map_free(m);
        return 2;
    }
    map_problems_free(&probs);
    struct tz *z = tz_load(tzname, NULL, err, sizeof err);
    if (z == NULL) {
        fprintf(stderr, "citysim: --tz: %s\n", err);
        map_free(m);
        return 2;
    }
    struct city c = { 0 };
    int rc = 0;
    c.map = m;
    c.seed = seed;
    if (start_time(date, start, z, wall_now(), &c.t0, err, sizeof err) != 0) {
        fprintf(stderr, "citysim: %s\n", err);
        rc = 2;
        goto out;
    }
    c.t_end = c.t0 + duration;
    c.utc_offset = tz_offset_at(z, (int64_t)c.t0);
    uint64_t h = simcli_hash(SIMCLI_HASH_INIT, &seed, sizeof seed);
    long long t0i = (long long)c.t0;
    h = simcli_hash(h, &t0i, sizeof t0i);
    snprintf(c.tag, sizeof c.tag, "cy%08llx", (unsigned long long)(h & 0xffffffffULL));
    if (dump_path && (c.dump = fopen(dump_path, "w")) == NULL) {
        fprintf(stderr, "citysim: --dump-requests: cannot write '%s'\n", dump_path);
        rc = 2;
        goto out;
    }
    if (ledger_path && (c.ledger = fopen(ledger_path, "w")) == NULL) {
        fprintf(stderr, "citysim: --ledger: cannot write '%s'\n", ledger_path);
        rc = 2;
        goto out;
    }
    if (!dry && (c.http = simhttp_new(server, key, timeout, (int)retries, err, sizeof err)) == NULL) {
        fprintf(stderr, "citysim: %s\n", err);
        rc = 3;
        goto out;
    }
    c.parking = parking_new(&c, gates);
    c.signals = signals_new(&c);
    c.bus = citybus_new(&c, map_dir, tripless, err, sizeof err);
    if (c.bus == NULL)
        fprintf(stderr, "citysim: no buses: %s\n", err);
    if (isnan(progress_s))
        progress_s = speed <= 2 ? 60 : 900;
    fprintf(stderr, "citysim: city %s, %zu lots, %zu intersections, %zu buses, from %lld for "
                    "%.0f s at %s, seed %llu\n", map_dir, m->nlots, m->nisecs,
            c.bus ? citybus_nvehicles(c.bus) : 0, (long long)c.t0, duration, speed_s, seed);
    double wall0 = wall_now(), next_progress = c.t0 + progress_s;
    parking_start(&c, c.parking);
    print_findable(&c, c.parking);
    for (double t = c.t0; t < c.t_end; t += STEP_S) {
        double t1 = fmin(t + STEP_S, c.t_end);
        if (isfinite(speed))
            sleep_until(wall0 + (t1 - c.t0) / speed);
        c.t = t1;
        parking_step(&c, c.parking, t, t1);
        if (c.bus)
            citybus_step(c.bus, &c, t, t1);
        signals_step(&c, c.signals, t, t1);
        if (t1 >= next_progress || t1 >= c.t_end) {
            progress(&c, t1);
            next_progress += progress_s;
        }
        if (sum(c.failed) > 0 && c.failed[CK_OBSERVATIONS] + c.failed[CK_POSITIONS] > 20) {
            fprintf(stderr, "citysim: cityd stopped answering; giving up\n");
            rc = 3;
            break;
        }
    }
    parking_finish(&c, c.parking);
    summary(&c, speed_s);
out:
    if (c.dump)
        fclose(c.dump);
    if (c.ledger)
        fclose(c.ledger);
    citybus_free(c.bus);
    parking_free(c.parking);
    free(c.signals);
    simhttp_free(c.http);
    tz_free(z);
    map_free(m);
    return rc;
}
