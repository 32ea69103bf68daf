/* maxband_impl.h -- internals shared by the MAXBAND driver (maxband.c) and
 * its two exact engines: the GLPK mixed-integer program (maxband_milp.c,
 * the only file that includes GLPK) and the corridor dynamic program
 * (maxband_dp.c). Not an API: include maxband.h instead.
 *
 * Both engines work in cycle units with z = 1/C and the variables of
 * MAXBAND (see maxband_milp.c for the program):
 *   b, bb     outbound / inbound band (cycles)
 *   w_i, ww_i time from the start of the usable outbound / inbound window
 *             at signal i to the band's leading edge
 *   t_i, tt_i outbound / inbound travel time on link i
 * and hand a solution in that form to mb_extract, which turns it into a
 * cycle, offsets and speeds. */
#ifndef CITYD_MAXBAND_IMPL_H
#define CITYD_MAXBAND_IMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "errbuf.h"
#include "maxband.h"

#define MB_DIR_OUT 1u
#define MB_DIR_IN  2u

/* The lexicographic second stage keeps the first band within this
 * (cycles); also the tolerance of "as good as" between candidates. */
#define MB_TOL 1e-9

/* Problem data in cycle units, shared by every solve of one request. */
struct mb_prep {
    size_t n;
    double zmin, zmax;
    bool fixed_z;
    double *d;                   /* n-1 link lengths, m */
    double *ao, *co, *ai, *ci;   /* usable green (cycles) = a + c z, out / in */
    double *dq;                  /* queue_out - queue_in at each signal, s */
    double pace_out, pace_in;    /* max pace change (s/m) per direction, 0 = none */
};

struct mb_sol {
    double z, b, bb;
    double *w, *ww, *t, *tt;     /* n, n, n-1, n-1 */
};

struct mb_ctx {
    const struct maxband_problem *p;
    const atomic_int *cancel;    /* may be NULL */
    struct mb_prep pr;
    struct mb_sol s;             /* scratch solution */
    double t0, limit_ms;         /* start (ms, monotonic) and budget */
    int solves;
    bool stopped;                /* the budget ran out or p->cancel was raised */
};

double mb_now_ms(void);
/* True (and c->stopped set, err filled) once the budget has run out or
 * the caller's cancel flag is up: the engines check it between steps. */
bool mb_should_stop(struct mb_ctx *c, char *err, size_t errlen);
double mb_clamp(double x, double lo, double hi);

/* Usable green of signal i in cycles at z, per direction. */
double mb_uout(const struct mb_prep *pr, size_t i, double z);
double mb_uin(const struct mb_prep *pr, size_t i, double z);

/* Cycle, offsets and speeds from a solution in which direction(s) dirs
 * carry a band (offsets follow the outbound band when it is present). */
void mb_extract(const struct mb_ctx *c, unsigned dirs, const struct mb_sol *s,
                struct maxband_result *r);
/* Allocate the arrays of r for n signals; 0 or -1. */
int mb_result_alloc(struct maxband_result *r, size_t n);

/* Engines. Each fills the arrays of r (already allocated), r->cycle_s and
 * r->two_way, and returns 0; -1 with err on failure. mb_dp_solve returns 1
 * when it gives up (search budget), so the driver can fall back. */
int mb_milp_solve(struct mb_ctx *c, struct maxband_result *r, char *err, size_t errlen);
int mb_dp_solve(struct mb_ctx *c, struct maxband_result *r, char *err, size_t errlen);

#endif
