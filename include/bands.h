/* bands.h -- the green-wave band evaluator.
 *
 * Given a corridor's signal timings (cycle, offsets, greens) and the
 * travel times along it, compute the widest constant-width band of
 * vehicles that passes every signal on green, in each direction. This is
 * the ground truth every optimiser answer is checked against: the
 * bands cityd reports are always recomputed here from the offsets and
 * speeds it returns, never copied from a solver.
 *
 * Geometry: signals 0..n-1 in outbound order. The outbound band enters at
 * signal 0 and reaches signal i after out_travel_s[0] + ... +
 * out_travel_s[i-1]; the inbound band enters at signal n-1 and reaches
 * signal i after in_travel_s[n-2] + ... + in_travel_s[i]. Times are
 * seconds, periodic with the cycle. */
#ifndef CITYD_BANDS_H
#define CITYD_BANDS_H

#include <stdbool.h>
#include <stddef.h>

struct bands_signal {
    double offset_s;                 /* start of the coordinated green (absolute, mod C) */
    /* Usable green windows relative to offset_s, per direction: a vehicle
     * of the band may pass the stop line in [offset+start, offset+start+len].
     * len >= cycle means the direction never sees red. */
    double out_start_s, out_len_s;
    double in_start_s, in_len_s;
};

struct bands_corridor {
    size_t n;                        /* >= 1 */
    double cycle_s;                  /* > 0 */
    const struct bands_signal *sig;  /* n */
    const double *out_travel_s;      /* n-1: signal i -> i+1 */
    const double *in_travel_s;       /* n-1: signal i+1 -> i */
};

struct band {
    bool exists;       /* false: not even a single trajectory passes every green */
    double width_s;    /* 0 when !exists */
    /* When the band's leading edge crosses the stop line of its entry
     * signal (signal 0 outbound, n-1 inbound), in [0, cycle). Of several
     * equally wide bands the earliest after the entry signal's offset. */
    double start_s;
};

/* The widest band in each direction (either pointer may be NULL). Exact:
 * a widest band can always be slid back until its leading edge meets the
 * start of some signal's window, so only those n candidate starts are
 * tried, O(n^2). */
void bands_eval(const struct bands_corridor *c, struct band *out, struct band *in);

/* Which signals bound band b (of direction `inbound`) found by
 * bands_eval: *lead the one whose window start the band's leading edge
 * meets (the band cannot start earlier), *trail the one whose window end
 * its trailing edge meets (it cannot be wider); the same signal when the
 * band is that signal's whole window. (size_t)-1 when there is no band or
 * it never meets red. */
void bands_limits(const struct bands_corridor *c, bool inbound, const struct band *b,
                  size_t *lead, size_t *trail);

/* One direction in travel order: win_start_s[k] is the absolute start of
 * the usable window at the k-th signal passed, win_len_s[k] its length,
 * arrive_s[k] the travel time from the entry signal (arrive_s[0] = 0). */
void bands_eval_dir(size_t n, double cycle_s, const double *win_start_s,
                    const double *win_len_s, const double *arrive_s, struct band *res);

#endif
