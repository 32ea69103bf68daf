/* maxband.h -- two-way green-wave bandwidth optimisation (MAXBAND).
 *
 * The mixed-integer program of Little, Kelson & Gartner, "MAXBAND: a
 * program for setting signals on arteries and triangular networks",
 * Transportation Research Record 795 (1981), solved to proven optimality
 * with GLPK's branch and bound (the only module that uses GLPK).
 *
 * What the numbers mean:
 *  - Signals 0..n-1 are in outbound order at position_m along the
 *    corridor. Each has one coordinated phase; its outbound and inbound
 *    greens both START at the signal's offset (a shorter green in one
 *    direction ends earlier, as with a lagging opposing left turn).
 *  - offset_s[i] is the start of signal i's coordinated green relative to
 *    the start of signal 0's, in [0, C); offset_s[0] = 0.
 *  - A band may use a green from queue_s after its start (the queue of
 *    turning-in vehicles clears first, MAXBAND's tau) to its end.
 *  - Band widths are seconds. With a cycle range the program maximises
 *    bands as shares of the cycle (MAXBAND's z = 1/C formulation); the
 *    reported widths are seconds at the cycle chosen.
 *  - Objectives: EQUAL maximises b + b' subject to b = b'; SUM maximises
 *    b + b'; OUTBOUND maximises b, then b' among the optima (two exact
 *    solves, lexicographic); INBOUND the reverse.
 *  - If no offsets give both directions a band at all (possible when
 *    greens are short), two_way is false and the result is the best
 *    one-way progression (the primary direction for OUTBOUND/INBOUND,
 *    the wider direction for EQUAL/SUM).
 *
 * The reported bands are always recomputed with bands.c from the
 * returned cycle, offsets and speeds. */
#ifndef CITYD_MAXBAND_H
#define CITYD_MAXBAND_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "bands.h"

#define MAXBAND_MIN_SIGNALS 2
#define MAXBAND_MAX_SIGNALS 64

enum maxband_objective {
    MAXBAND_EQUAL = 0,
    MAXBAND_SUM,
    MAXBAND_OUTBOUND,
    MAXBAND_INBOUND,
};

/* Parse "equal" / "sum" / "outbound" / "inbound"; 0 or -1. */
int maxband_objective_parse(const char *s, enum maxband_objective *out);
const char *maxband_objective_name(enum maxband_objective o);

/* One direction's coordinated green at a signal. Its length at cycle C is
 * green_ratio * C + green_s: give green_s (ratio 0) for a green fixed in
 * seconds, green_ratio (green_s 0) for a split that scales with the cycle. */
struct maxband_green {
    double green_s;
    double green_ratio;
    double queue_s;          /* queue clearance, >= 0 */
};

struct maxband_signal {
    double position_m;
    struct maxband_green out, in;
};

/* Progression speed bounds on link i (signal i to i+1), per direction;
 * min == max fixes the speed. */
struct maxband_link {
    double out_min_mps, out_max_mps;
    double in_min_mps, in_max_mps;
};

/* Which exact engine: AUTO picks the corridor DP unless a speed-change
 * bound asks for the MILP (and falls back to the MILP should the DP's
 * cycle search run out of budget); the others force one (tests). */
enum maxband_method {
    MAXBAND_METHOD_AUTO = 0,
    MAXBAND_METHOD_DP,
    MAXBAND_METHOD_MILP,
};

struct maxband_problem {
    size_t n;
    const struct maxband_signal *sig;      /* n */
    const struct maxband_link *link;       /* n-1 */
    double cycle_min_s, cycle_max_s;       /* equal: fixed cycle */
    /* Optional bound on the change of progression speed from one link to
     * the next in the same direction (NAN or <= 0: none). Enforced
     * through the pace 1/v, which MAXBAND keeps linear: |1/v' - 1/v| <=
     * bound / vmax^2, which implies |v' - v| <= bound. */
    double speed_change_max_mps;
    enum maxband_objective objective;
    double time_limit_ms;                  /* solver budget; <= 0: 10 s */
    enum maxband_method method;
};

struct maxband_result {
    size_t n;
    double cycle_s;
    double *offset_s;                      /* n, owned */
    double *out_speed_mps, *in_speed_mps;  /* n-1 each, owned */
    struct band outbound, inbound;         /* recomputed by bands.c */
    double efficiency;                     /* (b + b') / (2C) */
    bool two_way;
    /* Diagnostics: the solver's own band widths (s) and work done. */
    double solver_out_s, solver_in_s;
    int solves;                            /* MILPs/LPs/DP passes run */
    double elapsed_ms;
};

/* Check a problem; 0, or -1 with a message naming the field as the API
 * spells it ("intersections[3].position_m: ..."). */
int maxband_check(const struct maxband_problem *p, char *err, size_t errlen);

/* What maxband_solve returns when time_limit_ms ran out or *cancel was
 * raised before the optimum was proven. */
#define MAXBAND_STOPPED (-2)

/* Solve to optimality. On success fills *r (free with
 * maxband_result_free) and returns 0; on bad input or solver failure
 * returns -1, when stopped by the time limit MAXBAND_STOPPED,
 * with err filled and *r untouched. The time limit holds for both engines
 * (GLPK's tm_lim, a clock check in the DP's cycle search). */
int maxband_solve(const struct maxband_problem *p, struct maxband_result *r,
                  char *err, size_t errlen);
/* The same, giving up (MAXBAND_STOPPED) soon after *cancel becomes
 * non-zero (raised by another thread); cancel may be NULL. */
int maxband_solve_cancel(const struct maxband_problem *p, const atomic_int *cancel,
                         struct maxband_result *r, char *err, size_t errlen);

/* A thread that may have solved with GLPK calls this before it ends: GLPK
 * keeps its environment per thread (glp_config("TLS")), and frees it only
 * when asked. Harmless on a thread that never used GLPK. */
void maxband_thread_done(void);

/* Exact reference for tests: fixed cycle and fixed speeds only, offsets
 * restricted to multiples of step_s, every combination evaluated with
 * bands.c under the same objective semantics as maxband_solve. Refuses
 * more than 2e8 combinations. */
int maxband_brute_force(const struct maxband_problem *p, double step_s,
                        struct maxband_result *r, char *err, size_t errlen);

/* Which signals bound result r's band in one direction (bands_limits):
 * indices of p's signals, (size_t)-1 when none. */
void maxband_limits(const struct maxband_problem *p, const struct maxband_result *r,
                    bool inbound, size_t *lead, size_t *trail);

/* The bands given timings: fills out/in for cycle_s, offsets and link
 * speeds (n-1 each) of problem p's signals. */
void maxband_evaluate(const struct maxband_problem *p, double cycle_s, const double *offset_s,
                      const double *out_speed_mps, const double *in_speed_mps,
                      struct band *out, struct band *in);

/* Objective value of a pair of bands as the optimiser ranks them, for
 * tests and diagnostics: EQUAL 2*min, SUM b+b', OUTBOUND b, INBOUND b'. */
double maxband_objective_value(enum maxband_objective o, const struct band *out,
                               const struct band *in);

void maxband_result_free(struct maxband_result *r);

#endif
