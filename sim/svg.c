/* svg.c -- `citysim run --svg FILE`: the time-space diagram of a run, the
 * simulated vehicles' trajectories drawn over each signal's greens.
 *
 * Distance along the corridor is up, time to the right, over a window of
 * three of the longest cycles from the end of the warm-up. Each signal is
 * a bar at its position (upper half: the outbound through movement, lower
 * half: inbound; green where it is served, red where not). Each vehicle
 * travelling along the corridor is a polyline through its stop-line
 * points: it reaches a line (arrive), waits there (flat), crosses, and
 * runs on to the next line. Outbound trajectories are in
 * <g id="outbound">, inbound in <g id="inbound">, one <polyline> each. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"
#include "simcli.h"

#define W 1000.0
#define H 620.0
#define ML 70.0                 /* margins */
#define MR 170.0
#define MT 50.0
#define MB 50.0

void simtraj_free(struct simtraj *t)
{
    free(t->x);
    memset(t, 0, sizeof *t);
}

int simtraj_add(struct simtraj *t, const struct simcor *c, const char *line)
{
    long veh;
    char isec[128], mov[8];
    double pos, arrive, cross;
    if (sscanf(line, "%ld,%127[^,],%7[^,],%lf,%lf,%lf", &veh, isec, mov, &pos, &arrive,
               &cross) != 6)
        return 0;
    int m = sim_movement_index(mov);
    if (m < 0 || m % 3 != SIM_T)
        return 0;             /* turning vehicles leave the corridor's axis */
    int dir = m / 3 == (int)c->outbound ? 0 : m / 3 == ((int)c->outbound ^ 1) ? 1 : -1;
    if (dir < 0)
        return 0;
    if (t->n == t->cap) {
        size_t nc = t->cap ? 2 * t->cap : 1024;
        struct simcross *nx = realloc(t->x, nc * sizeof *nx);
        if (nx == NULL)
            return -1;
        t->x = nx;
        t->cap = nc;
    }
    t->x[t->n++] = (struct simcross){veh, dir, pos, arrive, cross};
    return 0;
}

static void xml_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

struct frame { double t0, t1, y0, y1; };

static double fx(const struct frame *fr, double t)
{
    return ML + (t - fr->t0) / (fr->t1 - fr->t0) * (W - ML - MR);
}

static double fy(const struct frame *fr, double y)
{
    return H - MB - (y - fr->y0) / (fr->y1 - fr->y0) * (H - MT - MB);
}

/* Green windows of movement m at isec i within [t0, t1]: one rect each
 * (and a red rect behind them). */
static void signal_bar(FILE *f, const struct frame *fr, const struct sim_isec *is, int m,
                       double y, double h)
{
    const struct sim_timing *tm = &is->timing;
    fprintf(f, "<rect class=\"red\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
            "fill=\"#d62728\"/>\n", fx(fr, fr->t0), y, fx(fr, fr->t1) - fx(fr, fr->t0), h);
    double base = tm->offset_s + floor((fr->t0 - tm->offset_s) / tm->cycle_s) * tm->cycle_s;
    for (double c = base - tm->cycle_s; c < fr->t1; c += tm->cycle_s) {
        double start = 0;
        for (int p = 0; p < tm->nphases; p++) {
            const struct sim_phase *ph = &tm->phases[p];
            double gs = c + start, ge = gs + ph->green_s;
            start += ph->green_s + ph->intergreen_s;
            if (!(ph->movements & (1u << m)) || ge <= fr->t0 || gs >= fr->t1)
                continue;
            gs = fmax(gs, fr->t0);
            ge = fmin(ge, fr->t1);
            fprintf(f, "<rect class=\"green\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                    "height=\"%.1f\" fill=\"#2ca02c\"/>\n", fx(fr, gs), y, fx(fr, ge) - fx(fr, gs),
                    h);
        }
    }
}

static int cmp_cross(const void *a, const void *b)
{
    const struct simcross *x = a, *y = b;
    if (x->veh != y->veh)
        return x->veh < y->veh ? -1 : 1;
    return (x->cross > y->cross) - (x->cross < y->cross);
}

/* One polyline per vehicle and direction with a point in the window. */
static void trajectories(FILE *f, const struct frame *fr, struct simtraj *t, int dir)
{
    fprintf(f, "<g id=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"0.8\" "
            "clip-path=\"url(#plot)\">\n", dir == 0 ? "outbound" : "inbound",
            dir == 0 ? "#1f77b4" : "#ff7f0e");
    for (size_t k = 0; k < t->n;) {
        size_t e = k;
        while (e < t->n && t->x[e].veh == t->x[k].veh)
            e++;
        bool inside = false;
        for (size_t j = k; j < e; j++)
            inside |= t->x[j].dir == dir && t->x[j].cross >= fr->t0 && t->x[j].arrive <= fr->t1;
        if (inside) {
            fprintf(f, "<polyline points=\"");
            for (size_t j = k; j < e; j++) {
                if (t->x[j].dir != dir)
                    continue;
                /* The frame's clip path cuts what lies outside the window. */
                fprintf(f, "%.1f,%.1f %.1f,%.1f ", fx(fr, t->x[j].arrive), fy(fr, t->x[j].pos),
                        fx(fr, t->x[j].cross), fy(fr, t->x[j].pos));
            }
            fprintf(f, "\"/>\n");
        }
        k = e;
    }
    fprintf(f, "</g>\n");
}

int simsvg_write(const char *path, const struct simcor *c, struct simtraj *t, double warmup,
                 const char *mode, const char *plan, char *err, size_t errlen)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        snprintf(err, errlen, "--svg %s: cannot write", path);
        return -1;
    }
    double Cmax = 0;
    for (size_t i = 0; i < c->n; i++)
        Cmax = fmax(Cmax, c->isecs[i].timing.cycle_s);
    double L = c->isecs[c->n - 1].position_m - c->isecs[0].position_m;
    struct frame fr = {warmup, warmup + fmax(3 * Cmax, 300), c->isecs[0].position_m - 0.05 * L,
                       c->isecs[c->n - 1].position_m + 0.05 * L};
    if (!(fr.y1 > fr.y0))
        fr.y1 = fr.y0 + 1;
    qsort(t->x, t->n, sizeof *t->x, cmp_cross);
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" "
            "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" "
            "font-size=\"12\">\n<title>", W, H, W, H);
    xml_text(f, c->cor->name ? c->cor->name : c->cor->id);
    fprintf(f, ": simulated trajectories</title>\n<rect width=\"100%%\" height=\"100%%\" "
            "fill=\"white\"/>\n<text x=\"%.0f\" y=\"24\" font-size=\"15\">", ML);
    xml_text(f, c->cor->name ? c->cor->name : c->cor->id);
    fprintf(f, " (%s) — timing %s%s", c->cor->id, mode, plan ? ", plan " : "");
    xml_text(f, plan);
    fprintf(f, "; %.0f–%.0f s; outbound blue, inbound orange</text>\n", fr.t0, fr.t1);
    fprintf(f, "<defs><clipPath id=\"plot\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
            "height=\"%.1f\"/></clipPath></defs>\n", ML, MT - 10, W - ML - MR, H - MT - MB + 10);
    /* Axes. */
    fprintf(f, "<g id=\"axes\" stroke=\"#444\">\n<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
            "y2=\"%.1f\"/>\n<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n</g>\n",
            ML, H - MB, W - MR, H - MB, ML, MT, ML, H - MB);
    double step = fr.t1 - fr.t0 > 600 ? 120 : 60;
    for (double s = ceil(fr.t0 / step) * step; s <= fr.t1 + 1e-9; s += step)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f s</text>\n",
                fx(&fr, s), H - MB + 18, s);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">time</text>\n",
            (ML + W - MR) / 2, H - 8);
    fprintf(f, "<g id=\"signals\">\n");
    int out = (int)c->outbound * 3 + SIM_T, in = ((int)c->outbound ^ 1) * 3 + SIM_T;
    for (size_t i = 0; i < c->n; i++) {
        const struct sim_isec *is = &c->isecs[i];
        double y = fy(&fr, is->position_m);
        signal_bar(f, &fr, is, out, y - 4, 4);
        signal_bar(f, &fr, is, in, y, 4);
        fprintf(f, "<text class=\"label\" x=\"%.1f\" y=\"%.1f\">", W - MR + 6, y + 4);
        xml_text(f, is->name ? is->name : is->id);
        fprintf(f, " · %.0f m</text>\n", is->position_m);
    }
    fprintf(f, "</g>\n");
    trajectories(f, &fr, t, 0);
    trajectories(f, &fr, t, 1);
    fprintf(f, "</svg>\n");
    if (fclose(f) != 0) {
        snprintf(err, errlen, "--svg %s: write failed", path);
        return -1;
    }
    return 0;
}
