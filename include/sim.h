/* sim.h -- citysim's traffic model: vehicles through signalised stop lines.
 *
 * A mesoscopic, vehicle-level, event-driven model (plain C, deterministic
 * for a seed), calibrated against SUMO (docs/citysim.md):
 *  - vehicles are generated per movement from interval counts (Poisson by
 *    default, or uniformly spaced, half a headway into each interval);
 *  - each driver keeps one desired speed for the whole trip: the link
 *    speed times a factor drawn once from N(1, speed_dev) (redrawn outside
 *    [0.2, 2], as SUMO's speedFactor); nobody overtakes within a lane: a
 *    vehicle reaches the next stop line no earlier than follow_s after the
 *    vehicle ahead of it in its lane (of `lanes`; a driver takes the lane
 *    that gets it there first);
 *  - each movement has a FIFO stop line served only inside its phase's
 *    effective green, one vehicle per saturation headway h = 3600/s. A
 *    vehicle's crossing time is the middle of its service slot, so the
 *    first vehicle of a queue crosses h/2 after the start of effective
 *    green (the start-up lost time is inside the effective green, as in
 *    Webster and HCM). This makes uniform arrivals reproduce the D/D/1
 *    (deterministic queueing) delay exactly when queues clear on a vehicle
 *    boundary, and to within half a headway otherwise;
 *  - amber: with decel_mps2 > 0 a vehicle reaching the line unhindered
 *    less than v/2b after the end of green crosses (it was inside its
 *    braking distance v^2/2b when the amber came on), as drivers -- and
 *    SUMO's -- do; a queued vehicle's service slot must fit in the green;
 *  - with accel_mps2 > 0, a wait counts as a stop only when it is at least
 *    what stopping costs (braking at decel_mps2 to a standstill k
 *    vehicles behind the line and accelerating back to the desired speed
 *    by the line); shorter waits are taken by slowing down. A queue
 *    discharges one saturation headway apart as a stream that lost
 *    v/2a - start_s to its start: what the crossing times (h/2 for the
 *    first) do not hold of that is lost after the line by each vehicle
 *    that stopped, added to its trip (and that stop line's delay), so
 *    a discharged platoon reaches the next signal with its headways
 *    (calibrated on SUMO's discharge: docs/citysim.md). With accel_mps2 0
 *    the model is the pure queueing model: every wait is a stop and
 *    nothing is lost after the line (what `citysim isolated` checks
 *    against theory);
 *  - delay = actual minus free-flow travel time at the driver's own
 *    desired speed (SUMO's timeLoss);
 *  - actuated (coordinated-actuated local control, optional): the timing
 *    gives each phase's force-off; a phase other than the coordinated one
 *    ends early ("gaps out") once its minimum green has run, its queues
 *    are empty and none of its movements has crossed for passage_s (a
 *    green lasts at least passage_s: the detector must see the gap), and
 *    the next phase starts then, keeping its own force-off (NEMA fixed
 *    force-offs: unused time passes on, in the end to the coordinated
 *    phase, which starts early and never gaps out). Every phase runs at
 *    least its minimum (no phase is skipped: pedestrian recall).
 * Turning movements come from the counts: a vehicle arriving along the
 * corridor picks left/through/right with the interval's proportions, side
 * street vehicles turning into the corridor join its stream. */
#ifndef CITYD_SIM_H
#define CITYD_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* UTDF movement index: NBL NBT NBR SBL SBT SBR EBL EBT EBR WBL WBT WBR. */
enum { SIM_NMOV = 12 };
enum sim_approach { SIM_NB = 0, SIM_SB = 1, SIM_EB = 2, SIM_WB = 3 };
enum sim_turn { SIM_L = 0, SIM_T = 1, SIM_R = 2 };
int sim_movement_index(const char *utdf);     /* "EBT" -> 7; -1 if unknown */
const char *sim_movement_name(int idx);

/* ---- isolated: one approach, one signal ---- */
struct sim_isolated_opts {
    double flow_vph, saturation_vph;
    double cycle_s, green_s;                  /* effective green */
    double duration_s;
    uint64_t seed;
    bool uniform;                             /* else Poisson */
};
struct sim_isolated_result {
    long vehicles;                            /* crossed within the run */
    double mean_delay_s, mean_stops, max_queue;
    double throughput_vph;
};
/* Returns 0, or -1 with a message (bad parameters). */
int sim_isolated(const struct sim_isolated_opts *o, struct sim_isolated_result *out,
                 char *err, size_t errlen);

/* ---- corridor ---- */
#define SIM_MAX_PHASES 8

struct sim_phase {
    unsigned movements;                       /* bit i = UTDF movement i */
    double green_s;                           /* effective green */
    double intergreen_s;                      /* after this phase's green */
    double saturation_vph;                    /* of the whole phase */
    double min_green_s;                       /* actuated: the least green it runs
                                                 (vehicle or pedestrian minimum) */
};

/* A signal timing: phase 0 starts its effective green at offset_s. */
struct sim_timing {
    double cycle_s, offset_s;
    struct sim_phase phases[SIM_MAX_PHASES];
    int nphases;
    int coord_phase;                          /* actuated: rests in green, never gaps
                                                 out (0..nphases-1) */
};

/* Counts of one interval at one intersection; -1 = not detected. */
struct sim_count {
    double start_s;                           /* from the start of the run */
    double length_s;
    double counts[SIM_NMOV];
};

struct sim_isec {
    const char *id, *name;                    /* not owned */
    double position_m;                        /* along the corridor, outbound */
    struct sim_timing timing;                 /* mutable between cycles */
    const struct sim_count *counts;           /* sorted by start_s, not owned */
    size_t ncounts;
};

struct sim_corridor_opts {
    double speed_mps;
    enum sim_approach outbound;               /* approach of outbound traffic (EB for W->E) */
    double duration_s;
    uint64_t seed;
    bool uniform;
    /* Drivers (sim_corridor_defaults fills the calibrated values; all 0 is
     * the pure queueing model at constant speed). */
    double speed_dev;                         /* desired-speed factor sd, 0 = all alike */
    double accel_mps2, decel_mps2;            /* 0: no stop rule, no acceleration loss */
    double jam_spacing_m;                     /* vehicle length + gap in a queue */
    double start_s;                           /* a queue's start loss is v/2a - start_s */
    double follow_s;                          /* least headway on a link (0: 1 s + spacing/v) */
    int lanes;                                /* per direction on corridor links (0 = 1) */
    double warmup_s;                          /* vehicles entering before are not measured */
    bool actuated;                            /* coordinated-actuated local control */
    double passage_s;                         /* actuated: the gap that ends a green (> 0) */
};

/* The calibrated driver (docs/citysim.md): speed_dev 0.1, 2.6 / 4.5 m/s2,
 * 7.5 m spacing, start_s 1.4 s, one lane; other fields untouched. */
void sim_corridor_defaults(struct sim_corridor_opts *o);

struct sim_stats {
    long vehicles;                            /* served / completed */
    double delay_s;                           /* total */
    double stops;                             /* total */
    double max_queue;                         /* vehicles */
};

struct sim_isec_result {
    struct sim_stats total;
    long served_in_run;                       /* crossings up to duration_s */
    struct sim_stats mov[SIM_NMOV];
    double observed[SIM_NMOV];                /* crossings in the current count interval */
    long gap_outs;                            /* actuated: greens ended before force-off */
    double unused_green_s;                    /* actuated: green they passed on */
};

struct sim_result {
    struct sim_stats all;                     /* every vehicle that left the network */
    struct sim_stats dir[3];                  /* by where a vehicle entered: 0 heading
                                                 outbound, 1 inbound (on the corridor),
                                                 2 cross (from a side street) */
    double throughput_vph;                    /* vehicles leaving the network up to
                                                 duration_s, per hour */
    long in_network;                          /* still queued or travelling */
    double vehicle_s;                         /* time spent in the network by the
                                                 (measured) vehicles that left it */
};

struct sim;
/* Borrow isecs (array of n) for the simulator's lifetime; timings may be
 * changed by the caller between sim_advance calls (closed loop). */
struct sim *sim_new(struct sim_isec *isecs, size_t n, const struct sim_corridor_opts *o,
                    char *err, size_t errlen);
void sim_free(struct sim *s);
/* Run until time t (seconds from start). */
void sim_advance(struct sim *s, double t);
/* Intersection i's timing was changed by the caller: an actuated
 * controller re-reads it now (its next decision comes from the new
 * force-offs). */
void sim_timing_changed(struct sim *s, size_t i);
double sim_time(const struct sim *s);
const struct sim_isec_result *sim_isec_result(const struct sim *s, size_t i);
/* Crossings per movement at intersection i since the last call (and
 * reset): what a detector would have counted. */
void sim_take_counts(struct sim *s, size_t i, double out[SIM_NMOV]);
/* Residual queue per movement at intersection i: the vehicles left
 * waiting when its latest green ended (0 when that green cleared its
 * queue, or no green has ended yet) -- what a queue detector reports at
 * the end of a green (split failure). */
void sim_residual_queues(const struct sim *s, size_t i, double out[SIM_NMOV]);
void sim_result(const struct sim *s, struct sim_result *out);
/* Vehicles generated and not yet out of the network. */
long sim_in_network(const struct sim *s);
/* Time of the next pending event (INFINITY when none): generation stops
 * at the end of the counts, so a drained network has none. */
double sim_next_event(const struct sim *s);
/* Optional trajectory log: one line per stop-line crossing,
 * "vehicle,intersection,movement,position_m,arrive_s,cross_s" (vehicle
 * numbers are unique within a run). */
void sim_set_trace(struct sim *s, void (*fn)(void *arg, const char *line), void *arg);

#endif
