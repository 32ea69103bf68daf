/* adaptive.h -- real-time adaptive signal control: flow estimation from
 * detector counts, cycle-by-cycle Webster re-timing with bounded change,
 * corridor coordination (one common cycle, MAXBAND offsets reached by
 * "shortway" transitions), max-pressure control (Varaiya 2013), and the
 * signal phase and timing (SPaT) and speed advice derived from it.
 *
 * Plain C over plain structs: no Redis, no HTTP, no clock. Time is an
 * argument everywhere (epoch seconds), so the same inputs always give the
 * same timings -- the server's clock, a replayed feed or a simulator's
 * closed loop drive it alike.
 *
 * Vocabulary
 *  - A *group* is what runs together: the intersections of one corridor
 *    (coordinated) or a single intersection. Each member runs *records*:
 *    a cyclic member one record per cycle (its phases in service order,
 *    starting with the coordinated phase), a max-pressure member one
 *    record per phase service.
 *  - Greens are effective greens and equal the displayed greens: each
 *    phase's lost time (lost_time_s / phases) is taken as its intergreen,
 *    i.e. start-up lost time = end gain (HCM's 2 s each). The intergreen
 *    is ADAPTIVE_AMBER_S of amber (J2735 protected/permissive-clearance)
 *    and the rest all-red (stop-and-remain).
 *  - The master cycle of a group starts when its first coordinated
 *    member's coordinated green starts; a member's offset is the start of
 *    its coordinated green after the latest master cycle start.
 *
 * What happens at each boundary (see adaptive.c for the details):
 *  - master cycle start: every cyclic member's Webster cycle is computed
 *    from its current flows (raised, when minimum greens bind, to the
 *    shortest cycle keeping every phase at x <= ADAPTIVE_X_MAX); the
 *    group's target cycle is their maximum
 *    (within every member's bounds, with ADAPTIVE_CYCLE_HYST_S of
 *    hysteresis) and the running cycle moves toward it by at most
 *    ADAPTIVE_CYCLE_STEP_S. When the cycle or a coordinated green has
 *    changed, offsets are re-optimised (MAXBAND, equal bands, speeds
 *    between ADAPTIVE_SPEED_LOW and 100 % of the corridor speed); on
 *    actuated local controllers only when the cycle has.
 *  - a cyclic member's cycle start: its offset moves toward its target
 *    by lengthening (<= ADAPTIVE_LENGTHEN of the cycle) or shortening
 *    (<= ADAPTIVE_SHORTEN, never below minimum greens) this cycle,
 *    whichever reaches the target in fewer cycles ("shortway"); the
 *    greens move toward the Webster split of this cycle by at most
 *    ADAPTIVE_GREEN_STEP of the cycle each, plus their share of the cycle
 *    change (adaptive_bounded_step); minimum and pedestrian greens hold.
 *    At a signal whose own Webster cycle is shorter than the common one,
 *    the phases other than the coordinated one get, in whole vehicles
 *    (a green passes floor(s g / 3600) of them; at least their minimum),
 *    the green that keeps them at a degree of saturation of
 *    ADAPTIVE_MINOR_X (design flows) or that serves a cycle's arrivals in
 *    ADAPTIVE_MINOR_SERVED of cycles (Poisson; flows from counts; on
 *    actuated local controllers never less than the design flow needs),
 *    and the coordinated phase the rest.
 *  - fixed members run the same machinery on the map's design flows, or,
 *    when the group has an active corridor plan (adaptive_set_plan), the
 *    plan: its cycle (the target, without dead band), its offsets and its
 *    split (the plan's greens stretched to the cycle running, minimums
 *    held), reached by the same bounded steps. Adaptive members take the
 *    plan's cycle (the group's target while the plan is active) and its
 *    offsets as their coordination reference and keep re-splitting from
 *    the flows within that cycle.
 *  - max-pressure members leave the common cycle: after a phase's minimum
 *    green, every ADAPTIVE_MP_SLOT_S the phase with the largest pressure
 *    s_k * max(0, queue_k - downstream queue) is served (the current one
 *    is extended while it is among the largest, up to its maximum green);
 *    a phase waiting longer than cycle_max_s with a queue goes next. */
#ifndef CITYD_ADAPTIVE_H
#define CITYD_ADAPTIVE_H

#include <stdbool.h>
#include <stddef.h>

#include "signals.h"

#define ADAPTIVE_NMOV 12                     /* UTDF movements */
#define ADAPTIVE_MAX_PHASES SIGNALS_MAX_PHASES
#define ADAPTIVE_MAX_MEMBERS 64              /* = MAXBAND_MAX_SIGNALS */
#define ADAPTIVE_PLAN_ID_MAX 64              /* corridor plan ids */

/* ---- tuning (documented in docs/signals.md) ---- */
#define ADAPTIVE_TAU_S            900.0  /* smoothing time constant: weight 1-exp(-T/tau) */
#define ADAPTIVE_STALE_S         3600.0  /* an estimate is held this long, then the design flow */
#define ADAPTIVE_DROPOUT_MIN_VPH  120.0  /* a zero after at least this is suspect */
#define ADAPTIVE_SPIKE_FACTOR       3.0  /* a jump above factor*v ... */
#define ADAPTIVE_SPIKE_SHARE        0.5  /* ... and by more than share*s is suspect */
#define ADAPTIVE_GREEN_STEP         0.10 /* per phase per cycle, share of the cycle */
#define ADAPTIVE_CYCLE_STEP_S       6.0  /* cycle change per cycle */
#define ADAPTIVE_CYCLE_HYST_S       3.0  /* target cycle dead band */
#define ADAPTIVE_LENGTHEN           0.20 /* offset transition: longest cycle, share */
#define ADAPTIVE_SHORTEN            0.15 /* offset transition: shortest cycle, share */
#define ADAPTIVE_OFFSET_TOL_S       0.5  /* offsets this close are in step */
#define ADAPTIVE_REOPT_GREEN_S      2.0  /* coordinated green change that re-optimises */
#define ADAPTIVE_SPEED_LOW          0.8  /* band speeds: [0.8, 1] x corridor speed */
#define ADAPTIVE_MINOR_X            0.85 /* non-critical signal: minor phases' saturation */
#define ADAPTIVE_MINOR_SERVED       0.95 /* ... re-timed from counts: share of cycles whose
                                            arrivals (Poisson) the green serves */
#define ADAPTIVE_X_MAX              0.9  /* own cycle: no phase above this saturation */
#define ADAPTIVE_SAT_X              0.95 /* counts at this share of capacity: saturated */
#define ADAPTIVE_SAT_HOLD_X         0.8  /* ... and still taken so down to this share */
#define ADAPTIVE_MIN_GREEN_FLOOR_S  5.0  /* no phase runs a shorter green */
#define ADAPTIVE_AMBER_S            3.0
#define ADAPTIVE_MP_SLOT_S          5.0  /* max-pressure decision period */
#define ADAPTIVE_MP_MAX_GREEN_S    90.0  /* max-pressure maximum green cap */
#define ADAPTIVE_CATCHUP_S      21600.0  /* idle longer than this: restart from targets */

/* The smallest n with P(N <= n) >= p for N ~ Poisson(mean): the
 * vehicles a green must pass to serve a cycle's arrivals in a share p of
 * cycles. */
double adaptive_poisson_quantile(double mean, double p);

/* "NBL" -> 0 ... "WBR" -> 11; -1 when unknown. */
int adaptive_movement_index(const char *utdf);
const char *adaptive_movement_name(int i);

/* ---- estimation (one movement) ---- */

struct adaptive_est {
    double vph;                /* smoothed flow; NAN until a count was applied */
    double t_end;              /* end of the latest interval taken */
    double t_good;             /* end of the latest applied interval (0: none) */
    double held_n, held_s;     /* suspect interval awaiting the next (held_s 0: none) */
    double seen_s;             /* counted time behind vph (since it was last reset) */
    /* Residual queue (issue 13): vehicles still waiting at the end of the
     * movement's latest green in the latest interval that reported one. */
    double queue;              /* vehicles; NAN: never reported */
    double queue_t;            /* end of that interval */
    double backlog_vph;        /* queue / ADAPTIVE_TAU_S: the flow that clears it
                                  within the estimator's time constant */
};

enum adaptive_est_result {
    ADAPTIVE_EST_APPLIED = 0,  /* smoothed in */
    ADAPTIVE_EST_HELD,         /* suspect (dropout or spike): waits for the next interval */
    ADAPTIVE_EST_OUTDATED,     /* ends no later than an interval already taken */
    ADAPTIVE_EST_ABSENT,       /* not counted in this interval */
};

void adaptive_est_init(struct adaptive_est *e);
/* Take `count` vehicles over [t0, t0+len_s) for a movement whose phase
 * saturation flow is sat_vph. Rate r = 3600 count/len. The first count
 * sets the estimate; later ones smooth with weight 1 - exp(-len/TAU).
 * A suspect interval (r = 0 after >= ADAPTIVE_DROPOUT_MIN_VPH, or a spike
 * r > FACTOR v and r - v > SHARE s) is held: if the next interval is
 * suspect too both are applied as one, otherwise the held one is dropped
 * as a detector fault. Only intervals of at least judge_s (the
 * intersection's longest cycle) are judged: a shorter one may hold no
 * green of the movement, or a whole green's discharge. */
enum adaptive_est_result adaptive_est_update(struct adaptive_est *e, double count, double t0,
                                             double len_s, double sat_vph, double judge_s);
/* The same with the movement's residual queue at the end of the interval
 * (`queue`, vehicles left waiting when its latest green in the interval
 * ended; NAN: not measured). Stop-line counts are departures; vehicles
 * are conserved, so what arrived is the count plus the growth of the
 * residual queue since the previous interval's (when that one ended at
 * t0), and that is what is smoothed. The queue itself is a backlog the
 * timing must clear besides the arrivals, within the time constant the
 * flows are smoothed over (queue / ADAPTIVE_TAU_S, whatever the detector
 * interval), added to the flow by adaptive_phase_flow while the estimate
 * is current. */
enum adaptive_est_result adaptive_est_update_queue(struct adaptive_est *e, double count,
                                                   double queue, double t0, double len_s,
                                                   double sat_vph, double judge_s);
/* The flow to use at time t: NAN when never counted or when the latest
 * applied count ended more than ADAPTIVE_STALE_S before t. */
double adaptive_est_value(const struct adaptive_est *e, double t);
/* Its backlog (veh/h) at time t: 0 without a current queue report. */
double adaptive_est_backlog(const struct adaptive_est *e, double t);

/* ---- bounded change ---- */

/* Move greens `cur` (n, each >= gmin) toward `target` (sum == total,
 * each >= gmin) so that they sum to `total` (>= sum gmin): first the
 * change of total is shared (in proportion to the greens when it grows,
 * to their slack above the minimum when it shrinks), then each green moves
 * toward its target by at most `step`, the moves scaled so they cancel.
 * Guarantees: sum(out) = total, out >= gmin, |out - cur| <= step +
 * |total - sum(cur)|. Returns 0, or -1 (out = target) when the
 * preconditions do not hold. */
int adaptive_bounded_step(size_t n, const double *cur, const double *target, const double *gmin,
                          double total, double step, double *out);
/* Offset transition ("shortway"): the change of this cycle's length that
 * moves `offset` toward `target` (both mod cycle): lengthen by up to
 * max_lengthen or shorten by up to max_shorten, whichever direction
 * arrives in fewer cycles (ties: lengthen). 0 within tol. */
double adaptive_shortway(double offset, double target, double cycle, double max_lengthen,
                         double max_shorten, double tol);

/* ---- configuration (built by the caller from the map) ---- */

struct adaptive_phase_cfg {
    unsigned movements;        /* bit i = UTDF movement i */
    double saturation_vph;
    double min_green_s;        /* the map's */
    double ped_crossing_m;     /* crossing served beside this phase, 0: none */
    double design_vph;         /* design critical flow (the prior) */
    /* derived by adaptive_cfg_finish: */
    double gmin_s;             /* max(min_green_s, pedestrian green, floor) */
    double amber_s, all_red_s; /* intergreen = lost_time_s / nphases */
    bool permissive;           /* serves a left turn against its opposing through */
};

struct adaptive_link { int member, phase; };   /* -1, -1: none */

struct adaptive_isec_cfg {
    const char *id;            /* borrowed */
    size_t nphases;
    struct adaptive_phase_cfg ph[ADAPTIVE_MAX_PHASES];
    double lost_time_s, cycle_min_s, cycle_max_s;
    int coord_phase;           /* starts the local cycle: the outbound through phase */
    int out_phase, in_phase;   /* phases of the corridor's through movements; -1 none */
    double position_m;         /* along the corridor */
    /* Max pressure: where phase k's corridor through traffic queues next
     * (up to two links: outbound and inbound). */
    struct adaptive_link down[ADAPTIVE_MAX_PHASES][2];
};

/* The split of an adaptive member running an activated plan's cycle:
 * the plan's greens `prior` (n = c->nphases, stretched to cycle C, sum
 * C - lost time) are kept unless the counted flows `flow` (veh/h, backlogs
 * included) need more: a phase gets at least the green that serves its
 * flow at x = ADAPTIVE_X_MAX (in whole vehicles, never under its minimum),
 * taken from the phases whose prior exceeds their own such need, in
 * proportion to that excess. A phase not `counted` (its flow is the
 * design flow the plan was made from) keeps its prior. Returns 0, or -1 (green untouched) when the
 * needs do not fit in C. */
int adaptive_prior_split(const struct adaptive_isec_cfg *c, const double *prior,
                         const double *flow, const bool *counted, double C, double *green);

/* Fill the derived fields; 0, or -1 with a message (no phases, minimum
 * greens that need more than cycle_max_s, ...). */
int adaptive_cfg_finish(struct adaptive_isec_cfg *c, char *err, size_t errlen);
/* Critical flow of phase k at time t: the largest over its approaches of
 * the summed movement estimates; the design flow when none of the phase's
 * movements has a current estimate (*from_counts false). While little has
 * been counted the estimate is shrunk toward the design flow: weight
 * 1 - exp(-seen/TAU) on the counts (seen: the most counted movement's
 * time), so one odd first interval does not retime the corridor. */
double adaptive_phase_flow(const struct adaptive_isec_cfg *c, const struct adaptive_est *est,
                           size_t k, double t, bool *from_counts);
/* Largest saturation flow of the phases serving movement i, 0 if none. */
double adaptive_movement_saturation(const struct adaptive_isec_cfg *c, int i);

/* How the city's local controllers run the timings (signals.local_control):
 * as sent, or coordinated-actuated -- the greens are force-offs, a phase
 * other than the coordinated one may gap out once its minimum green has
 * run, the phases after it then start early (keeping their force-offs),
 * and the coordinated phase may start early but runs to its force-off. */
enum adaptive_local { ADAPTIVE_PRETIMED = 0, ADAPTIVE_ACTUATED };

struct adaptive_group_cfg {
    const char *id;            /* corridor id, or NULL for a lone intersection */
    size_t n;                  /* 1..ADAPTIVE_MAX_MEMBERS, outbound order */
    const struct adaptive_isec_cfg *isec;
    double speed_mps;          /* corridor speed (band speeds), 0 for a lone one */
    enum adaptive_local local; /* how the members' controllers run the timings */
};

/* ---- control ---- */

enum adaptive_mode { ADAPTIVE_FIXED = 0, ADAPTIVE_WEBSTER, ADAPTIVE_MAX_PRESSURE };
/* "fixed" / "adaptive" as api.md spells the mode; method "webster" /
 * "max_pressure". */
const char *adaptive_mode_name(enum adaptive_mode m);
const char *adaptive_method_name(enum adaptive_mode m);

/* What a member runs; `green` is indexed by phase. Start of phase
 * order[j]'s green: start + sum over i < j of (green + intergreen) of
 * order[i]. */
struct adaptive_record {
    double start, end;         /* end: start of the next record (provisional when open) */
    int nserved;
    signed char order[ADAPTIVE_MAX_PHASES];
    double green[ADAPTIVE_MAX_PHASES];
    bool open;                 /* max pressure: the green may still be extended */
    int next_phase;            /* max pressure: phase after this one, -1 not decided */
    enum adaptive_mode mode;
    /* Why (what GET timing reports). */
    double decided_at;         /* when this timing was chosen */
    double cycle_s;            /* cyclic: end - start; max pressure: mean recent cycle */
    double common_cycle_s;     /* the group's master cycle (cyclic) */
    double target_cycle_s;     /* where the master cycle is heading */
    double webster_cycle_s;    /* this member's own Webster cycle, NAN if none */
    double offset_s, target_offset_s, delta_s;  /* corridor offset; transition this cycle */
    double Y;
    int critical;              /* member whose Webster cycle sets the target, -1 */
    double flow[ADAPTIVE_MAX_PHASES];           /* critical flows, veh/h */
    bool from_counts[ADAPTIVE_MAX_PHASES];
    double target_green[ADAPTIVE_MAX_PHASES];   /* cyclic: Webster split of this cycle */
    double last_green[ADAPTIVE_MAX_PHASES];     /* max pressure: each phase's latest green */
    double queue[ADAPTIVE_MAX_PHASES];          /* estimated at the decision, veh */
    double pressure[ADAPTIVE_MAX_PHASES];       /* max pressure, at the decision */
    /* The corridor plan this record follows ("" none): its split (a
     * fixed member) and/or its offsets (the target cycle is the plan's). */
    char plan[ADAPTIVE_PLAN_ID_MAX + 1];
    bool plan_split, plan_offsets;
    double plan_cycle_s;                        /* NAN without a plan */
};

struct adaptive_member {
    const struct adaptive_isec_cfg *cfg;   /* borrowed */
    enum adaptive_mode mode;               /* what it runs (from the next record on) */
    bool override;                         /* mode set for this intersection */
    struct adaptive_est est[ADAPTIVE_NMOV];
    struct adaptive_record cur;            /* the record running now */
    double q[ADAPTIVE_MAX_PHASES], q_t;    /* queue per phase at q_t (veh) */
    double target_offset_s;
    double band_green_s;                   /* coordinated green at the last optimisation */
    double last_end[ADAPTIVE_MAX_PHASES];  /* end of each phase's latest green */
    double last_green[ADAPTIVE_MAX_PHASES];
    /* Counts only show what got through: a phase whose latest count used
     * >= ADAPTIVE_SAT_X of its capacity is saturated and its demand taken
     * as at least capacity / ADAPTIVE_X_MAX (veh/h; 0: not saturated). */
    double sat_floor[ADAPTIVE_MAX_PHASES];
    /* The group's plan for this member (see adaptive_set_plan). */
    double plan_offset_s;                  /* whole seconds, from the plan's reference */
    double plan_green[ADAPTIVE_MAX_PHASES];
};

struct adaptive_group {
    const struct adaptive_group_cfg *cfg;  /* borrowed */
    size_t n;
    struct adaptive_member *m;             /* n, owned */
    enum adaptive_mode default_mode;       /* for members without an override */
    bool started;
    double t;                              /* every event at or before t is done */
    double master_start, master_cycle, target_cycle;
    double opt_cycle;                      /* cycle of the last offset optimisation, 0 none */
    int critical;
    unsigned long long seq;                /* inputs taken (counts, mode changes, plans) */
    char plan_id[ADAPTIVE_PLAN_ID_MAX + 1];  /* active corridor plan, "" none */
    double plan_cycle;                     /* its cycle, whole seconds */
};

/* New group, not started (members in default_mode). NULL on OOM. */
struct adaptive_group *adaptive_group_new(const struct adaptive_group_cfg *cfg,
                                          enum adaptive_mode default_mode);
void adaptive_group_free(struct adaptive_group *g);
/* Deep copy (NULL on OOM); copy_into overwrites dst (same cfg). */
struct adaptive_group *adaptive_group_copy(const struct adaptive_group *g);
void adaptive_group_copy_into(struct adaptive_group *dst, const struct adaptive_group *src);

/* Start (or restart) at time t from the targets: common cycle, Webster
 * splits, optimised offsets, empty queues; estimates and modes are kept.
 * The schedule is aligned on the epoch (the master cycle starts at a
 * multiple of the cycle), so it does not depend on the instant of the
 * start: the group is started at the last aligned instant and run to t. */
void adaptive_start(struct adaptive_group *g, double t);

/* Called with each record a member finishes (for a history). */
typedef void adaptive_record_fn(void *arg, size_t member, const struct adaptive_record *r);
/* Run every decision due at or before t (t <= g->t: nothing). A group
 * idle for more than ADAPTIVE_CATCHUP_S restarts at t. fn may be NULL. */
void adaptive_advance(struct adaptive_group *g, double t, adaptive_record_fn *fn, void *arg);

/* Detector counts of member k over [t0, t0+len_s): counts[i] vehicles of
 * UTDF movement i, NAN when not counted; queues (NULL: none) the residual
 * queues at its end (adaptive_est_update_queue), NAN where not measured.
 * A phase whose counted movements all report a queue is never marked
 * saturated: the queue says how much more there is. Applied at g->t (advance first);
 * the member's queue estimate is corrected by counted minus modelled
 * arrivals, and a phase whose count reached ADAPTIVE_SAT_X of the capacity
 * it had (the timing running) is marked saturated. res[i] says what
 * happened to each movement. */
void adaptive_count(struct adaptive_group *g, size_t k, const double counts[ADAPTIVE_NMOV],
                    const double queues[ADAPTIVE_NMOV], double t0, double len_s,
                    enum adaptive_est_result res[ADAPTIVE_NMOV]);
/* Change member k's mode (override = set for this intersection; false:
 * back to the group default). Takes effect at its next record. */
void adaptive_set_mode(struct adaptive_group *g, size_t k, enum adaptive_mode mode,
                       bool override);

/* A corridor plan for one member: where its coordinated (outbound
 * through) green starts, in seconds after the plan's first intersection's,
 * and the green of each of its phases at the plan's cycle. */
struct adaptive_plan_member {
    double offset_s;
    double green[ADAPTIVE_MAX_PHASES];
};
/* Make plan `id` (cycle_s, pm[k] for member k) the group's active plan
 * from g->t on (advance first), or remove it (id NULL). Controllers run
 * whole seconds: the cycle and the offsets are rounded. The target cycle
 * becomes the plan's at once; the running cycle, offsets and greens reach
 * the plan by the usual bounded steps (a few cycles). 0, or -1 with a
 * message and g unchanged: a cycle outside some member's bounds (or too
 * short for its minimum greens), greens that are not numbers >= 0 with a
 * positive sum, an id too long. */
int adaptive_set_plan(struct adaptive_group *g, const char *id, double cycle_s,
                      const struct adaptive_plan_member *pm, char *err, size_t errlen);
/* Does member k run the group's active plan (at time t), and what of it
 * or why not (a sentence into why): fixed members its cycle, offsets and
 * split; adaptive (Webster) members its cycle and offsets as their
 * coordination reference, greens from their counts; max-pressure members
 * not at all (no common cycle). */
bool adaptive_plan_status(const struct adaptive_group *g, size_t k, double t, char *why,
                          size_t n);

/* Queue estimate of member k's phases at time t (>= its q_t, within its
 * current record). */
void adaptive_queue_at(const struct adaptive_member *m, double t, double *q);

/* The time of member m's next event: a cyclic record's end, a
 * max-pressure member's next decision (open record) or phase change. */
double adaptive_event_time(const struct adaptive_member *m);
/* Longest green of phase p under max pressure: what the cycle_max_s
 * leaves after the other minimums, at most ADAPTIVE_MP_MAX_GREEN_S. */
double adaptive_mp_max_green(const struct adaptive_isec_cfg *c, int p);
/* Bounds of the start of phase p's next green after K, member k's latest
 * committed record: cyclic -- in the next cycle, from the bounds on the
 * cycle, offset transition and green changes; max pressure -- from the
 * minimum and maximum greens of the phases that may run first. 0, or -1
 * when nothing bounds it (a mode change is pending). */
int adaptive_next_start_bounds(const struct adaptive_group *g, size_t k,
                               const struct adaptive_record *K, int p, double *lo, double *hi);

/* Start of phase p's green in record r, or NAN when r does not serve p. */
double adaptive_green_start(const struct adaptive_isec_cfg *c, const struct adaptive_record *r,
                            int p);

/* ---- snapshots (adaptive_json.c) ---- */

/* The group's whole state as JSON text (malloc'd, NULL on OOM); doubles
 * are exact, so a restored group decides exactly as the saved one. */
char *adaptive_snapshot(const struct adaptive_group *g);
/* Load a snapshot into g (built from the same map: members are matched by
 * intersection id). Members without an override take g's default mode.
 * 0, or -1 with a message and g unchanged. */
int adaptive_restore(struct adaptive_group *g, const char *json, char *err, size_t errlen);
/* A snapshot's seq without parsing the rest: a restore picks the newest
 * of a group's copies (one in every member's key) and parses only that
 * one; a city's copies are tens of megabytes of JSON. 0 with *seq, or -1
 * when the text does not begin as adaptive_snapshot writes it (the caller
 * parses it whole). */
int adaptive_snapshot_seq(const char *json, unsigned long long *seq);

/* ---- SPaT (adaptive_spat.c) ---- */

enum adaptive_event {
    ADAPTIVE_EV_STOP_AND_REMAIN = 0,
    ADAPTIVE_EV_PERMISSIVE_ALLOWED,
    ADAPTIVE_EV_PROTECTED_ALLOWED,
    ADAPTIVE_EV_PERMISSIVE_CLEARANCE,
    ADAPTIVE_EV_PROTECTED_CLEARANCE,
};
/* J2735 MovementPhaseState as text: "stop-and-remain", ... */
const char *adaptive_event_name(enum adaptive_event e);

struct adaptive_spat {
    enum adaptive_event state;
    double min_end, likely_end, max_end;   /* absolute times of the next change */
};

/* Past records of one member, oldest first, each ending where the next
 * starts; the last may end at the live record's start. */
struct adaptive_history {
    const struct adaptive_record *rec;
    size_t n;
};

/* State of every phase of member k at time t with its next change:
 * likely = what the controller will do if no new input arrives, min/max
 * = the bounds of what bounded re-timing (or max pressure) may still
 * do, for the group's local controllers (cfg->local): under
 * ADAPTIVE_ACTUATED a cyclic record's min_end is the earliest change gap
 * outs allow -- a green non-coordinated phase from its minimum green on,
 * a red phase's next green after the phases before it have run only
 * their minimums (a coordinated phase in between runs to its force-off);
 * likely and max stay the schedule's. Records before g->t come from hist
 * (may be NULL); later ones from a copy of g run forward. Returns 0, -1
 * on OOM or when t lies before the history (then out is untouched). */
int adaptive_spat(const struct adaptive_group *g, size_t k, const struct adaptive_history *hist,
                  double t, struct adaptive_spat *out);

/* The record member k runs at time t (from hist, g, or a copy run
 * forward); 0, or -1 as adaptive_spat. */
int adaptive_record_at(const struct adaptive_group *g, size_t k,
                       const struct adaptive_history *hist, double t,
                       struct adaptive_record *out);

struct adaptive_window {
    double start, end;                     /* likely green, absolute */
    double start_min, start_max;           /* bounds of the start */
};
/* Up to max green windows of phase p from time t on (the first may have
 * started before t); returns how many (< 0 as adaptive_spat). */
int adaptive_green_windows(const struct adaptive_group *g, size_t k,
                           const struct adaptive_history *hist, int p, double t,
                           struct adaptive_window *w, int max);

/* ---- speed advice arithmetic ---- */

struct adaptive_advice {
    bool go;                   /* a speed in [vmin, vmax] arrives on green */
    double speed_mps;          /* advised (go) */
    double arrival_s;          /* from now, at that speed */
    int window;                /* index of the window aimed at, -1 none */
};
/* At time now, dist_m before the stop line at speed v, with the green
 * windows w (absolute, in order; a window that started by now is green
 * now): arrive inside [start + margin, end - margin] (no start margin
 * when green now) at a constant speed within [vmin, vmax]. Of the
 * feasible speeds the one closest to v, in the earliest window that has
 * one. */
void adaptive_glosa(double now, double dist_m, double v, double vmin, double vmax,
                    const struct adaptive_window *w, int nw, double margin_s,
                    struct adaptive_advice *out);

#endif
