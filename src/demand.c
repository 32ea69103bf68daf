/* demand.c -- the demand models of `citysim city`: random stream,
 * profiles, plates, a car park's arrivals and departures, sensor faults
 * (demand.h says how they are made). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demand.h"

/* ---- random stream ---- */

void demand_rng_seed(struct demand_rng *r, uint64_t seed, uint64_t stream)
{
    r->s = seed * 0x9e3779b97f4a7c15ULL ^ (stream + 1) * 0xbf58476d1ce4e5b9ULL;
    (void)demand_rng_next(r);
}

uint64_t demand_rng_next(struct demand_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double demand_rng_unit(struct demand_rng *r)
{
    return (double)(demand_rng_next(r) >> 11) * 0x1.0p-53;
}

double demand_rng_range(struct demand_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * demand_rng_unit(r);
}

double demand_rng_normal(struct demand_rng *r)
{
    double u = 1.0 - demand_rng_unit(r), v = demand_rng_unit(r);
    return sqrt(-2.0 * log(u)) * cos(2 * M_PI * v);
}

/* Knuth's product method for small means, a rounded normal above 30 (the
 * error is far below what a demand profile knows). */
unsigned demand_rng_poisson(struct demand_rng *r, double mean)
{
    if (!(mean > 0))
        return 0;
    if (mean > 30) {
        double x = floor(mean + sqrt(mean) * demand_rng_normal(r) + 0.5);
        return x < 0 ? 0 : (unsigned)x;
    }
    double l = exp(-mean), p = 1.0;
    unsigned k = 0;
    do {
        k++;
        p *= demand_rng_unit(r);
    } while (p > l);
    return k - 1;
}

double demand_rng_lognormal(struct demand_rng *r, double mean, double sigma)
{
    double mu = log(mean) - sigma * sigma / 2;
    return exp(mu + sigma * demand_rng_normal(r));
}

/* ---- profiles ---- */

static const char *const class_names[DEMAND_NCLASSES] = {
    "shopping", "station", "centre", "office", "hospital", "kerb", "residential",
};
/* Mean stays, seconds: the typical visits of each kind of place. */
static const double mean_stay[DEMAND_NCLASSES] = {
    5400, 14400, 7200, 28800, 9000, 2700, 43200,
};

static bool has_cat(char *const *cat, size_t n, const char *a, const char *b)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(cat[i], a) || (b && !strcmp(cat[i], b)))
            return true;
    return false;
}

enum demand_class demand_class_of(const char *type, char *const *cat, size_t n)
{
    if ((type && !strcmp(type, "OnStreetParking")) || has_cat(cat, n, "onStreet", NULL))
        return DEMAND_KERB;
    if (has_cat(cat, n, "shoppingCentre", "shopping"))
        return DEMAND_SHOPPING;
    if (has_cat(cat, n, "trainStation", "busStation") || has_cat(cat, n, "airport", NULL))
        return DEMAND_STATION;
    if (has_cat(cat, n, "hospital", NULL))
        return DEMAND_HOSPITAL;
    if (has_cat(cat, n, "office", "business"))
        return DEMAND_OFFICE;
    if (has_cat(cat, n, "residential", NULL))
        return DEMAND_RESIDENTIAL;
    return DEMAND_CENTRE;
}

const char *demand_class_name(enum demand_class c)
{
    return c < DEMAND_NCLASSES ? class_names[c] : "?";
}

double demand_mean_stay_s(enum demand_class c)
{
    return mean_stay[c];
}

int demand_dow(double lt)
{
    long long d = (long long)floor(lt / 86400);
    return (int)(((d + 4) % 7 + 7) % 7);
}

double demand_sec_of_day(double lt)
{
    return lt - 86400 * floor(lt / 86400);
}

/* Occupancy at the start of slot s of day dow; s may be 96 (next day). */
static double occ(enum demand_class c, int dow, int s)
{
    if (s >= DEMAND_SLOTS) {
        s -= DEMAND_SLOTS;
        dow = (dow + 1) % 7;
    }
    return demand_occupancy[c][dow][s];
}

double demand_occupancy_at(enum demand_class c, double lt)
{
    int dow = demand_dow(lt);
    double x = demand_sec_of_day(lt) / DEMAND_SLOT_S;
    int s = (int)x;
    if (s >= DEMAND_SLOTS)
        s = DEMAND_SLOTS - 1;
    return occ(c, dow, s) + (x - s) * (occ(c, dow, s + 1) - occ(c, dow, s));
}

static double slot_rate(enum demand_class c, int dow, int s)
{
    double o = occ(c, dow, s), rise = occ(c, dow, s + 1) - o;
    return (rise > 0 ? rise : 0) / DEMAND_SLOT_S + o / mean_stay[c];
}

double demand_arrival_rate(enum demand_class c, double lt)
{
    int s = (int)(demand_sec_of_day(lt) / DEMAND_SLOT_S);
    return slot_rate(c, demand_dow(lt), s < DEMAND_SLOTS ? s : DEMAND_SLOTS - 1);
}

/* Integral of a per-slot constant function over [lt0, lt1). */
static double integrate(double (*f)(int cls, int dow, int s), int cls, double lt0, double lt1)
{
    double sum = 0;
    while (lt0 < lt1) {
        double end = (floor(lt0 / DEMAND_SLOT_S) + 1) * DEMAND_SLOT_S;
        if (end > lt1)
            end = lt1;
        int s = (int)(demand_sec_of_day(lt0) / DEMAND_SLOT_S);
        sum += f(cls, demand_dow(lt0), s < DEMAND_SLOTS ? s : DEMAND_SLOTS - 1) * (end - lt0);
        lt0 = end;
    }
    return sum;
}

static double rate_fn(int cls, int dow, int s)
{
    return slot_rate((enum demand_class)cls, dow, s);
}

double demand_arrivals_between(enum demand_class c, double lt0, double lt1)
{
    return integrate(rate_fn, (int)c, lt0, lt1);
}

double demand_daily_arrivals(enum demand_class c, int dow)
{
    double sum = 0;
    for (int s = 0; s < DEMAND_SLOTS; s++)
        sum += slot_rate(c, dow, s) * DEMAND_SLOT_S;
    return sum;
}

static double signal_fn(int cls, int dow, int s)
{
    (void)cls;
    return demand_signal_share[dow][s] / DEMAND_SLOT_S;
}

double demand_signal_between(double lt0, double lt1)
{
    return integrate(signal_fn, 0, lt0, lt1);
}

/* ---- plates ---- */

int demand_plates_init(struct demand_plates *p, size_t n, struct demand_rng *r)
{
    memset(p, 0, sizeof *p);
    p->pay = calloc(n ? n : 1, 1);
    p->parked = calloc(n ? n : 1, 1);
    p->pay_delay_s = calloc(n ? n : 1, sizeof *p->pay_delay_s);
    if (!p->pay || !p->parked || !p->pay_delay_s) {
        demand_plates_free(p);
        return -1;
    }
    p->n = n;
    for (size_t i = 0; i < n; i++) {
        double u = demand_rng_unit(r);
        p->pay[i] = u < 0.35 ? DEMAND_AUTOPAY : u < 0.65 ? DEMAND_PAY_LATER
                    : u < 0.68 ? DEMAND_NEVER_PAYS : DEMAND_PAY_AT_EXIT;
        p->pay_delay_s[i] = (float)demand_rng_range(r, 0.2 * 86400, 2.5 * 86400);
    }
    return 0;
}

void demand_plates_free(struct demand_plates *p)
{
    free(p->pay);
    free(p->parked);
    free(p->pay_delay_s);
    memset(p, 0, sizeof *p);
}

size_t demand_plates_take(struct demand_plates *p, struct demand_rng *r)
{
    if (p->n == 0)
        return SIZE_MAX;
    size_t i = (size_t)(demand_rng_next(r) % p->n);
    /* Linear probe from a random start: fair enough while most are free. */
    for (size_t k = 0; k < p->n; k++, i = (i + 1) % p->n) {
        if (!p->parked[i]) {
            p->parked[i] = 1;
            return i;
        }
    }
    return SIZE_MAX;
}

void demand_plates_release(struct demand_plates *p, size_t i)
{
    if (i < p->n)
        p->parked[i] = 0;
}

void demand_plate_name(size_t i, char *buf, size_t n)
{
    static const char alnum[] = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";  /* no I, O */
    static const char auth[] = "FFFFFFFFFFFFFFFFYYYYBBAHKV";              /* mostly Yantai */
    const uint64_t space = 34ULL * 34 * 34 * 34 * 34;
    /* A bijection of the serial space (the multiplier is prime to it), so
     * neighbouring indexes do not get neighbouring plates. */
    uint64_t v = ((uint64_t)(i % space) * 104729ULL + 7919) % space;
    char serial[6];
    for (int k = 4; k >= 0; k--) {
        serial[k] = alnum[v % 34];
        v /= 34;
    }
    serial[5] = '\0';
    if (serial[0] >= 'A' && serial[1] >= 'A' && serial[2] >= 'A')
        serial[0] = '8';           /* at most two letters, as issued plates */
    snprintf(buf, n, "鲁%c%s", auth[(i / space + i * 7) % (sizeof auth - 1)], serial);
}

/* ---- a car park ---- */

int demand_lot_init(struct demand_lot *l, enum demand_class cls, int capacity, int nbays)
{
    memset(l, 0, sizeof *l);
    l->cls = cls;
    l->capacity = capacity > 0 ? capacity : 0;
    l->nbays = nbays > 0 ? nbays : 0;
    l->cars = calloc(l->capacity ? (size_t)l->capacity : 1, sizeof *l->cars);
    l->bay_taken = calloc(l->nbays ? (size_t)l->nbays : 1, 1);
    if (!l->cars || !l->bay_taken) {
        demand_lot_free(l);
        return -1;
    }
    return 0;
}

void demand_lot_free(struct demand_lot *l)
{
    free(l->cars);
    free(l->bay_taken);
    l->cars = NULL;
    l->bay_taken = NULL;
    l->ncars = 0;
}

/* A free bay, picked at random (drivers take what they see first). */
static int32_t take_bay(struct demand_lot *l, struct demand_rng *r)
{
    if (l->nbays == 0)
        return -1;
    int start = (int)(demand_rng_next(r) % (uint64_t)l->nbays);
    for (int k = 0; k < l->nbays; k++) {
        int b = (start + k) % l->nbays;
        if (!l->bay_taken[b]) {
            l->bay_taken[b] = 1;
            return b;
        }
    }
    return -1;
}

/* How long a driver arriving at local time lt stays. Commuters stay until
 * the evening, residents coming home until the morning; everyone else a
 * log-normal visit around the class's mean. */
static double stay_s(enum demand_class c, struct demand_rng *r, double lt)
{
    double h = demand_sec_of_day(lt) / 3600;
    if (c == DEMAND_OFFICE && h >= 6.5 && h < 10.5)
        return (17.5 - h) * 3600 + 1800 * demand_rng_normal(r) + 900;
    if (c == DEMAND_RESIDENTIAL && (h >= 17 || h < 2))
        return ((h >= 17 ? 24 : 0) + 7.75 - h) * 3600 + 2700 * demand_rng_normal(r) + 1800;
    double s = demand_rng_lognormal(r, mean_stay[c], 0.7);
    return s < 300 ? 300 + s : s;
}

static void park(struct demand_lot *l, struct demand_plates *p, struct demand_rng *r,
                 double entry, double exit, uint8_t flags, const struct demand_sink *s)
{
    size_t plate = demand_plates_take(p, r);
    if (plate == SIZE_MAX || l->ncars >= l->capacity) {
        demand_plates_release(p, plate);
        l->refused++;
        if (s && s->refuse)
            s->refuse(s->arg, l, entry);
        return;
    }
    struct demand_car *c = &l->cars[l->ncars++];
    c->plate = plate;
    c->entry = entry;
    c->exit = exit > entry + 60 ? exit : entry + 60;
    c->flags = flags;
    c->bay = take_bay(l, r);
    if (flags & DEMAND_CAR_PRE)
        l->prefilled++;
    else
        l->arrivals++;
    if (s && s->arrive)
        s->arrive(s->arg, l, c);
}

void demand_lot_prefill(struct demand_lot *l, struct demand_plates *p, struct demand_rng *r,
                        double t, double utc_offset, const struct demand_sink *s)
{
    double lt = t + utc_offset;
    int n = (int)floor(demand_occupancy_at(l->cls, lt) * l->capacity + demand_rng_unit(r));
    for (int k = 0; k < n && l->ncars < l->capacity; k++) {
        /* A car found parked: it came some time ago and has part of its
         * stay left (uniform share of a fresh stay). */
        double stay = stay_s(l->cls, r, lt), u = demand_rng_unit(r);
        park(l, p, r, t - u * stay, t + (1 - u) * stay + 60, DEMAND_CAR_PRE, s);
    }
}

static int by_exit(const void *a, const void *b)
{
    const struct demand_car *x = a, *y = b;
    return (x->exit > y->exit) - (x->exit < y->exit);
}

static void leave(struct demand_lot *l, struct demand_plates *p, int i,
                  const struct demand_sink *s)
{
    struct demand_car *c = &l->cars[i];
    if (s && s->leave)
        s->leave(s->arg, l, c);
    if (c->bay >= 0 && c->bay < l->nbays)
        l->bay_taken[c->bay] = 0;
    demand_plates_release(p, c->plate);
    l->departures++;
    l->cars[i] = l->cars[--l->ncars];
}

void demand_lot_step(struct demand_lot *l, struct demand_plates *p, struct demand_rng *r,
                     double t0, double t1, double utc_offset, const struct demand_sink *s)
{
    /* Departures due, in exit order (leaving cars are moved to the end). */
    int due = 0;
    for (int i = 0; i < l->ncars - due;) {
        if (l->cars[i].exit <= t1) {
            struct demand_car tmp = l->cars[i];
            l->cars[i] = l->cars[l->ncars - 1 - due];
            l->cars[l->ncars - 1 - due] = tmp;
            due++;
        } else {
            i++;
        }
    }
    if (due > 1)
        qsort(l->cars + l->ncars - due, (size_t)due, sizeof *l->cars, by_exit);
    while (due > 0) {
        /* Remove the earliest (first of the sorted tail); keep the tail sorted. */
        int i = l->ncars - due;
        struct demand_car c = l->cars[i];
        memmove(&l->cars[i], &l->cars[i + 1], (size_t)(due - 1) * sizeof *l->cars);
        l->cars[l->ncars - 1] = c;
        leave(l, p, l->ncars - 1, s);
        due--;
    }
    double mean = demand_arrivals_between(l->cls, t0 + utc_offset, t1 + utc_offset) * l->capacity;
    unsigned n = demand_rng_poisson(r, mean);
    double span = t1 - t0, prev = t0;
    for (unsigned k = 0; k < n; k++) {
        /* Ordered arrival times: the next of n - k uniform ones left. */
        prev += (t1 - prev) * (1 - pow(demand_rng_unit(r), 1.0 / (n - k)));
        double entry = span > 0 ? prev : t1;
        park(l, p, r, entry, entry + stay_s(l->cls, r, entry + utc_offset), 0, s);
    }
}

void demand_lot_finish(struct demand_lot *l, double t)
{
    (void)t;
    for (int i = 0; i < l->ncars; i++) {
        if (!(l->cars[i].flags & DEMAND_CAR_OPEN)) {
            l->cars[i].flags |= DEMAND_CAR_OPEN;
            l->open_at_end++;
        }
    }
}

int demand_lot_sensor(struct demand_lot *l, struct demand_rng *r, double t, double dt)
{
    int free_now = l->capacity - l->ncars;
    if (l->fault != DEMAND_FAULT_NONE && t >= l->fault_until)
        l->fault = DEMAND_FAULT_NONE;
    if (l->fault == DEMAND_FAULT_NONE && demand_rng_unit(r) < 0.02 * dt / 3600) {
        bool stuck = demand_rng_unit(r) < 0.5;
        l->fault = stuck ? DEMAND_FAULT_STUCK : DEMAND_FAULT_SILENT;
        l->fault_until = t + (stuck ? demand_rng_range(r, 1800, 5400)
                                    : demand_rng_range(r, 600, 840));
        l->stuck_value = free_now;
    }
    if (l->fault == DEMAND_FAULT_SILENT)
        return -1;
    return l->fault == DEMAND_FAULT_STUCK ? l->stuck_value : free_now;
}
