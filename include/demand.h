/* demand.h -- the demand models of `citysim city` (plain C, no I/O):
 * a seeded random stream, day-of-week x time-of-day profiles derived from
 * real recordings (demand_profiles.c, made by tools/derive_profiles.py),
 * drivers arriving at and leaving a car park, a pool of plates with their
 * payment habits, and sensors that now and then misbehave.
 *
 * Time. The models take epoch seconds plus the city's UTC offset (the
 * caller reads it from the time zone); "local" times below are epoch +
 * offset, so local day d starts at d * 86400 and 1970-01-01 was a
 * Thursday.
 *
 * Arrivals. A class's occupancy profile O(slot) (share of spaces taken,
 * 96 slots of 15 min per day of week) and its mean stay D give the arrival
 * rate per space, constant within a slot:
 *     a(s) = max(0, O(s+1) - O(s)) / 900 + O(s) / D
 * (the cars it takes to fill the rise, plus those replacing leavers), so
 * the occupancy the model produces follows the recorded curve. Arrivals in
 * a step are Poisson with the rate integrated over the step, times the
 * lot's capacity; a driver who finds the lot full is turned away. Stays
 * are log-normal around D (commuters stay until evening, residents until
 * morning). */
#ifndef CITYD_DEMAND_H
#define CITYD_DEMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DEMAND_SLOTS 96
#define DEMAND_SLOT_S 900.0

enum demand_class {
    DEMAND_SHOPPING, DEMAND_STATION, DEMAND_CENTRE, DEMAND_OFFICE, DEMAND_HOSPITAL,
    DEMAND_KERB, DEMAND_RESIDENTIAL, DEMAND_NCLASSES
};

/* Generated tables (demand_profiles.c): occupancy [class][dow][slot] with
 * dow 0 = Sunday; share of a day's detector counts per slot. */
extern const float (*const demand_occupancy[DEMAND_NCLASSES])[DEMAND_SLOTS];
extern const float demand_signal_share[7][DEMAND_SLOTS];

/* ---- random stream (splitmix64): same seed and stream, same numbers ---- */
struct demand_rng {
    uint64_t s;
};
void demand_rng_seed(struct demand_rng *r, uint64_t seed, uint64_t stream);
uint64_t demand_rng_next(struct demand_rng *r);
double demand_rng_unit(struct demand_rng *r);                 /* [0, 1) */
double demand_rng_range(struct demand_rng *r, double lo, double hi);
unsigned demand_rng_poisson(struct demand_rng *r, double mean);
double demand_rng_lognormal(struct demand_rng *r, double mean, double sigma);
double demand_rng_normal(struct demand_rng *r);

/* ---- profiles ---- */
/* The class of a lot from its map type and categories: shoppingCentre,
 * trainStation/busStation/airport, hospital, office/business, residential,
 * on-street (type OnStreetParking or category onStreet); else centre. */
enum demand_class demand_class_of(const char *type, char *const *category, size_t n);
const char *demand_class_name(enum demand_class c);
double demand_mean_stay_s(enum demand_class c);
/* Day of week (0 = Sunday) and second of day of local time lt. */
int demand_dow(double lt);
double demand_sec_of_day(double lt);
/* Occupancy target at local time lt, linear between slot starts. */
double demand_occupancy_at(enum demand_class c, double lt);
/* Arrivals per space per second in the slot containing local time lt. */
double demand_arrival_rate(enum demand_class c, double lt);
/* Expected arrivals per space between local times lt0 <= lt1 (the
 * integral of the rate). */
double demand_arrivals_between(enum demand_class c, double lt0, double lt1);
/* Expected arrivals per space on local day of week dow: the sum of the
 * slots' rates x 900 s. */
double demand_daily_arrivals(enum demand_class c, int dow);
/* Share of a day's detector counts in [lt0, lt1) (summed over days). */
double demand_signal_between(double lt0, double lt1);

/* ---- plates ---- */
enum demand_pay { DEMAND_PAY_AT_EXIT, DEMAND_AUTOPAY, DEMAND_PAY_LATER, DEMAND_NEVER_PAYS };
struct demand_plates {
    size_t n;
    uint8_t *pay;                  /* enum demand_pay per plate */
    uint8_t *parked;               /* 1 while the car is in some lot */
    float *pay_delay_s;            /* pay-later: how long after exit they pay */
};
/* A pool of n plates (owned arrays; demand_plates_free). Shares: 35 %
 * autopay, 30 % pay later (within 0.2-2.5 days), 3 % pay later and never
 * pay, the rest at the exit. */
int demand_plates_init(struct demand_plates *p, size_t n, struct demand_rng *r);
void demand_plates_free(struct demand_plates *p);
/* A plate not parked anywhere now (marked parked), or SIZE_MAX when all are. */
size_t demand_plates_take(struct demand_plates *p, struct demand_rng *r);
void demand_plates_release(struct demand_plates *p, size_t i);
/* The plate's text, a valid Chinese plate (GA 36): "鲁F" + 5 letters or
 * digits, mostly Yantai's 鲁F/鲁Y, some from elsewhere in Shandong.
 * buf at least 16 bytes. */
void demand_plate_name(size_t i, char *buf, size_t n);

/* ---- a car park ---- */
enum {
    DEMAND_CAR_PRE = 1,            /* parked before the run began (no entry event) */
    DEMAND_CAR_OPEN = 2            /* still parked when the run ended (flagged) */
};
struct demand_car {
    size_t plate;
    double entry, exit;            /* epoch s; exit planned */
    int32_t bay;                   /* index among the lot's bays, -1 none */
    uint8_t flags;
};
enum demand_fault { DEMAND_FAULT_NONE, DEMAND_FAULT_STUCK, DEMAND_FAULT_SILENT };
struct demand_lot {
    enum demand_class cls;
    int capacity;
    int nbays;                     /* bays with sensors (0: counts only) */
    struct demand_car *cars;       /* parked now, capacity slots, ncars used */
    int ncars;
    uint8_t *bay_taken;            /* nbays */
    long prefilled, arrivals, departures, refused, open_at_end;
    enum demand_fault fault;       /* sensor misbehaving until fault_until */
    double fault_until;
    int stuck_value;
};
/* What a step produced, in time order within each kind. The callbacks see
 * the car (arrive: after it took its bay; leave: before it is removed). */
struct demand_sink {
    void (*arrive)(void *arg, struct demand_lot *l, const struct demand_car *c);
    void (*leave)(void *arg, struct demand_lot *l, const struct demand_car *c);
    void (*refuse)(void *arg, struct demand_lot *l, double t);
    void *arg;
};
int demand_lot_init(struct demand_lot *l, enum demand_class cls, int capacity, int nbays);
void demand_lot_free(struct demand_lot *l);
/* Fill the lot to its profile's occupancy at epoch t (cars flagged PRE,
 * each with a remaining stay), calling arrive for each. */
void demand_lot_prefill(struct demand_lot *l, struct demand_plates *p, struct demand_rng *r,
                        double t, double utc_offset, const struct demand_sink *s);
/* Advance (t0, t1]: departures due, then the step's arrivals. */
void demand_lot_step(struct demand_lot *l, struct demand_plates *p, struct demand_rng *r,
                     double t0, double t1, double utc_offset, const struct demand_sink *s);
/* End of the run at t: every car still parked is flagged OPEN and counted
 * in open_at_end, so that prefilled + arrivals = departures + open_at_end:
 * every car that entered left or is flagged. */
void demand_lot_finish(struct demand_lot *l, double t);
/* The count the lot's sensor reports at t, after dt since its last
 * report: -1 when it stays silent (a missing interval), else a count of
 * free spaces (frozen while stuck). Faults start with probability 2 % per
 * lot-hour: stuck for 30-90 min or silent for 10-14 min. */
int demand_lot_sensor(struct demand_lot *l, struct demand_rng *r, double t, double dt);

#endif
