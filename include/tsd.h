/* tsd.h -- time-space diagram of a coordinated corridor as SVG.
 *
 * Distance along the corridor (up) against time (right) over two or three
 * cycles: each signal's green and red as a horizontal bar at its position
 * (upper half outbound, lower half inbound), both green-wave bands shaded
 * (outbound blue, inbound orange) with a legend, labelled axes, signal
 * names with their offsets, and a caption with cycle, speed and
 * bandwidths -- the picture for a report. Plain C, no dependencies; the
 * output is self-contained SVG 1.1 (UTF-8, names escaped, invalid UTF-8
 * replaced), so it opens in any browser. */
#ifndef CITYD_TSD_H
#define CITYD_TSD_H

#include <stddef.h>

#include "bands.h"

struct tsd_signal {
    const char *name;            /* UTF-8; NULL -> "#i" */
    double position_m;           /* along the corridor, non-decreasing */
    double offset_s;             /* start of the coordinated green */
    double out_green_s, in_green_s;   /* green lengths from the offset */
    const char *id;              /* the intersection's id, drawn beside the name; may be NULL */
};

struct tsd_plan {
    const char *title;           /* corridor name, UTF-8; may be NULL */
    size_t n;                    /* >= 2 */
    const struct tsd_signal *sig;
    double cycle_s;
    const double *out_speed_mps; /* n-1 */
    const double *in_speed_mps;  /* n-1 */
    /* The bands as bands_eval computed them for this timing (start_s at
     * the entry signal: signal 0 outbound, n-1 inbound). */
    struct band outbound, inbound;
    int cycles;                  /* cycles drawn: 2 or 3 (others -> 3) */
};

/* Render. On success *out is a malloc'ed NUL-terminated SVG document
 * (caller frees) of *len bytes and 0 is returned; -1 with err on bad input
 * or out of memory. */
int tsd_svg(const struct tsd_plan *p, char **out, size_t *len, char *err, size_t errlen);

#endif
