/* bands.c -- widest green-wave band through a coordinated corridor.
 *
 * For a candidate band start B (at the entry signal), the band reaches
 * signal k at B + arrive[k]; it fits there iff that instant lies in the
 * usable window, and then it can be as wide as the rest of the window.
 * The widest band is the best over candidates of the narrowest fit; see
 * bands.h for why n candidates suffice. */
#include "bands.h"

#include <math.h>
#include <stdlib.h>

/* Tolerance for "exactly at a window edge", relative to the cycle: the
 * candidate starts are built from sums of the same numbers. */
#define EDGE_EPS 1e-9

static double wrap(double t, double C)
{
    double u = fmod(t, C);
    if (u < 0)
        u += C;
    return u;
}

/* Width of the band starting at B, or -1 if some signal is red for it. */
static double width_at(size_t n, double C, const double *ws, const double *wl,
                       const double *arr, double B)
{
    double eps = EDGE_EPS * C;
    double w = C;
    for (size_t k = 0; k < n; k++) {
        if (wl[k] >= C)
            continue;                  /* never red */
        double u = wrap(B + arr[k] - ws[k], C);
        if (u > C - eps)
            u = 0;                     /* a hair before the start is the start */
        if (u > wl[k] + eps)
            return -1;
        double room = wl[k] - u;
        if (room < w)
            w = room;
    }
    return w < 0 ? 0 : w;
}

void bands_eval_dir(size_t n, double C, const double *ws, const double *wl,
                    const double *arr, struct band *res)
{
    res->exists = false;
    res->width_s = 0;
    res->start_s = 0;
    bool any_red = false;
    for (size_t j = 0; j < n; j++) {
        if (wl[j] >= C)
            continue;
        any_red = true;
        double B = wrap(ws[j] - arr[j], C);
        double w = width_at(n, C, ws, wl, arr, B);
        if (w < 0)
            continue;
        /* Prefer the wider band; among equals the earliest after the
         * entry signal's window start, so the answer does not depend on
         * the order signals are tried. */
        double key = wrap(B - ws[0], C), best_key = wrap(res->start_s - ws[0], C);
        if (!res->exists || w > res->width_s + EDGE_EPS * C ||
            (w > res->width_s - EDGE_EPS * C && key < best_key)) {
            res->exists = true;
            res->width_s = w;
            res->start_s = B;
        }
    }
    if (!any_red) {
        res->exists = true;
        res->width_s = C;
        res->start_s = 0;
    }
}

void bands_limits(const struct bands_corridor *c, bool inbound, const struct band *b,
                  size_t *lead, size_t *trail)
{
    size_t n = c->n;
    double C = c->cycle_s, best_u = INFINITY, best_room = INFINITY, t = 0;
    *lead = *trail = (size_t)-1;
    if (!b->exists || b->width_s >= C)
        return;
    for (size_t k = 0; k < n; k++) {
        size_t i = inbound ? n - 1 - k : k;
        if (k > 0)
            t += inbound ? c->in_travel_s[i] : c->out_travel_s[k - 1];
        double ws = c->sig[i].offset_s + (inbound ? c->sig[i].in_start_s : c->sig[i].out_start_s);
        double wl = inbound ? c->sig[i].in_len_s : c->sig[i].out_len_s;
        if (wl >= C)
            continue;
        double u = wrap(b->start_s + t - ws, C);
        if (u > C - EDGE_EPS * C)
            u = 0;
        double room = wl - u - b->width_s;
        /* Ties: the first signal passed. */
        if (u < best_u - EDGE_EPS * C) {
            best_u = u;
            *lead = i;
        }
        if (room < best_room - EDGE_EPS * C) {
            best_room = room;
            *trail = i;
        }
    }
}

void bands_eval(const struct bands_corridor *c, struct band *out, struct band *in)
{
    size_t n = c->n;
    double C = c->cycle_s;
    /* Stack for real corridors (the optimiser's brute force calls this
     * millions of times), heap beyond. */
    double local[3 * 64];
    double *buf = n <= 64 ? local : malloc(sizeof(double) * 3 * n);
    if (buf == NULL) {
        /* No memory: report no band rather than a wrong one. */
        if (out) *out = (struct band){ false, 0, 0 };
        if (in) *in = (struct band){ false, 0, 0 };
        return;
    }
    double *ws = buf, *wl = buf + n, *arr = buf + 2 * n;
    if (out != NULL) {
        double t = 0;
        for (size_t k = 0; k < n; k++) {
            if (k > 0)
                t += c->out_travel_s[k - 1];
            ws[k] = c->sig[k].offset_s + c->sig[k].out_start_s;
            wl[k] = c->sig[k].out_len_s;
            arr[k] = t;
        }
        bands_eval_dir(n, C, ws, wl, arr, out);
    }
    if (in != NULL) {
        double t = 0;
        for (size_t k = 0; k < n; k++) {
            size_t i = n - 1 - k;          /* k-th signal passed inbound */
            if (k > 0)
                t += c->in_travel_s[i];
            ws[k] = c->sig[i].offset_s + c->sig[i].in_start_s;
            wl[k] = c->sig[i].in_len_s;
            arr[k] = t;
        }
        bands_eval_dir(n, C, ws, wl, arr, in);
    }
    if (buf != local)
        free(buf);
}
