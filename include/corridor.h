/* corridor.h -- the timing rules of a signalised corridor of the map, in
 * one place for every user: cityd's corridor plans (api_signals.c), its
 * controllers running an activated plan (api_adaptive.c) and citysim's
 * default and plan timings (sim/timing.c). Plain C over the map's structs
 * (no Redis, no HTTP).
 *
 * The rules (docs/signals.md "Corridors and plans"):
 *  - An intersection is timed by Webster on the design flows of its map
 *    phases (`flow`), with its `min_green_s` and, on a phase serving a
 *    through movement, the pedestrian green of its crossing.
 *  - A corridor runs one common cycle: the largest Webster cycle along it,
 *    clamped to every intersection's cycle bounds.
 *  - Each intersection is split by Webster at that cycle.
 *  - A plan fixes the coordinated greens (the through phases of both
 *    directions); the other phases share what is left in proportion to
 *    their Webster greens, never below their minimums.
 *  - The direction of travel at an intersection is the compass direction
 *    between its neighbours on the corridor (outbound). */
#ifndef CITYD_CORRIDOR_H
#define CITYD_CORRIDOR_H

#include <stdbool.h>
#include <stddef.h>

#include "signals.h"

/* A corridor green wave asked for without a speed explores progression
 * speeds from this share of the corridor's speed up to it (never above:
 * a band faster than the posted speed invites speeding); the adaptive
 * controllers use the same range (ADAPTIVE_SPEED_LOW). */
#define CORRIDOR_SPEED_LOW 0.8

struct map;
struct map_corridor;
struct map_intersection;
struct map_phase;

/* Compass letter of a bearing in degrees (N, E, S or W) and its opposite. */
char corridor_compass(double bearing_deg);
char corridor_opposite(char d);
/* Compass direction of outbound travel at intersection i of c. */
char corridor_outbound_dir(const struct map *m, const struct map_corridor *c, size_t i);
/* Index of the phase of x serving movement mv ("EBT"), or -1. */
int corridor_phase_of(const struct map_intersection *x, const char *mv);
/* Does the phase serve a through movement (pedestrians cross beside it)? */
bool corridor_serves_through(const struct map_phase *ph);

/* Webster input of x from its design flows; ph has room for
 * SIGNALS_MAX_PHASES (caller's); cycle_s NAN lets Webster choose. */
void corridor_webster_in(const struct map_intersection *x, struct signals_webster_in *w,
                         struct signals_phase_in *ph, double cycle_s);
/* The common cycle of c: the largest Webster cycle of its intersections
 * (applied cycles: rounded up, within each one's bounds), clamped to every
 * intersection's bounds. 0, or -1 with err ("intersection 'nd-02': ...",
 * "corridor 'x': the intersections' cycle bounds have no common cycle"). */
int corridor_common_cycle(const struct map *m, const struct map_corridor *c, double *cycle_s,
                          char *err, size_t errlen);
/* Webster's split of x at cycle_s: green[k] is map phase k's effective
 * green (x->nphases entries). 0, or -1 with err. */
int corridor_split(const struct map_intersection *x, double cycle_s, double *green, char *err,
                   size_t errlen);
/* A plan's split of x at cycle_s: phase ko gets green gout and phase ki
 * green gin (either index -1, or a green NAN: not imposed; ko == ki: gout
 * wins), the other phases share the rest of cycle_s - lost time in
 * proportion to their Webster greens, held at their minimums. 0, or -1
 * with err when the imposed greens leave too little. */
int corridor_plan_split(const struct map_intersection *x, double cycle_s, int ko, double gout,
                        int ki, double gin, double *green, char *err, size_t errlen);

#endif
