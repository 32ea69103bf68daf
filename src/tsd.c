/* tsd.c -- time-space diagram SVG writer (see tsd.h for what is drawn).
 *
 * The document is built in a growable buffer; every number printed is
 * checked finite up front, every name goes through an XML text escaper
 * that also repairs invalid UTF-8, so the output is always well-formed. */
#include "tsd.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Page layout, px. Names sit left of the plot, distance ticks right. */
#define W 1200.0
#define H 720.0
#define ML 210.0
#define MR 90.0
#define MT 84.0
#define MB 118.0
#define BAR_H 5.0                /* each half of a signal's bar */

#define COL_GREEN "#2e9d4a"
#define COL_RED "#d43c3c"
#define COL_OUT "#1f6fd1"
#define COL_IN "#f08c1a"
#define FONTS "'Noto Sans CJK SC','Source Han Sans SC','PingFang SC','Microsoft YaHei',sans-serif"

/* ---- growable buffer ---- */

struct sb {
    char *p;
    size_t len, cap;
    bool oom;
};

static bool sb_reserve(struct sb *b, size_t extra)
{
    if (b->oom)
        return false;
    if (b->len + extra + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 8192;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sb *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !sb_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void sb_put(struct sb *b, const char *s, size_t n)
{
    if (!sb_reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* Length of the valid UTF-8 sequence at s (1..4), 0 if invalid. Rejects
 * overlongs, surrogates, > U+10FFFF and the XML non-characters U+FFFE/F. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c == 0xE0) { n = 3; lo = 0xA0; }
    else if (c == 0xED) { n = 3; hi = 0x9F; }
    else if (c >= 0xE1 && c <= 0xEF) n = 3;
    else if (c == 0xF0) { n = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) n = 4;
    else if (c == 0xF4) { n = 4; hi = 0x8F; }
    else return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    if (c == 0xEF && s[1] == 0xBF && (s[2] == 0xBE || s[2] == 0xBF))
        return 0;
    return n;
}

/* XML character data / attribute value. */
static void sb_text(struct sb *b, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        size_t n = utf8_len(s);
        if (n == 0) {
            sb_put(b, "\xEF\xBF\xBD", 3);        /* U+FFFD */
            s++;
            continue;
        }
        if (n > 1) {
            sb_put(b, (const char *)s, n);
        } else if (*s == '&') {
            sb_put(b, "&amp;", 5);
        } else if (*s == '<') {
            sb_put(b, "&lt;", 4);
        } else if (*s == '>') {
            sb_put(b, "&gt;", 4);
        } else if (*s == '"') {
            sb_put(b, "&quot;", 6);
        } else if (*s == '\'') {
            sb_put(b, "&apos;", 6);
        } else if (*s >= 0x20) {
            sb_put(b, (const char *)s, 1);
        } else {
            sb_put(b, " ", 1);                    /* controls are not XML */
        }
        s += n;
    }
}

/* ---- geometry ---- */

struct frame {
    double T;                    /* time span drawn, s */
    double dmin, dmax;           /* distance span, m */
    double x0, x1, yb, yt;       /* plot box */
};

static double fx(const struct frame *f, double t)
{
    return f->x0 + t / f->T * (f->x1 - f->x0);
}

static double fy(const struct frame *f, double d)
{
    return f->yb - (d - f->dmin) / (f->dmax - f->dmin) * (f->yb - f->yt);
}

/* A 1-2-5 step giving about `want` ticks over span. */
static double nice_step(double span, double want)
{
    double raw = span / want, mag = pow(10, floor(log10(raw)));
    double r = raw / mag;
    return (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * mag;
}

static int check(const struct tsd_plan *p, char *err, size_t errlen)
{
    const char *why = NULL;
    if (p->n < 2 || p->sig == NULL || p->out_speed_mps == NULL || p->in_speed_mps == NULL)
        why = "at least two signals with link speeds needed";
    else if (!(isfinite(p->cycle_s) && p->cycle_s > 0))
        why = "cycle must be positive";
    for (size_t i = 0; why == NULL && i < p->n; i++) {
        const struct tsd_signal *s = &p->sig[i];
        if (!isfinite(s->position_m) || !isfinite(s->offset_s) ||
            !(s->out_green_s >= 0 && s->out_green_s <= p->cycle_s) ||
            !(s->in_green_s >= 0 && s->in_green_s <= p->cycle_s))
            why = "signal timing out of range";
        else if (i > 0 && s->position_m < p->sig[i - 1].position_m)
            why = "signals out of order";
        else if (i + 1 < p->n && !(p->out_speed_mps[i] > 0 && isfinite(p->out_speed_mps[i]) &&
                                   p->in_speed_mps[i] > 0 && isfinite(p->in_speed_mps[i])))
            why = "link speeds must be positive";
    }
    if (why == NULL && p->sig[p->n - 1].position_m <= p->sig[0].position_m)
        why = "corridor has no length";
    if (why == NULL && ((p->outbound.exists && !(isfinite(p->outbound.width_s) &&
                                                  isfinite(p->outbound.start_s))) ||
                        (p->inbound.exists && !(isfinite(p->inbound.width_s) &&
                                                 isfinite(p->inbound.start_s)))))
        why = "band not finite";
    if (why != NULL) {
        snprintf(err, errlen, "time-space diagram: %s", why);
        return -1;
    }
    return 0;
}

/* ---- parts of the picture ---- */

static void draw_header(struct sb *b, const struct tsd_plan *p)
{
    sb_printf(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" "
                 "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"%s\" font-size=\"13\">\n",
              W, H, W, H, FONTS);
    sb_printf(b, "<title>Time-space diagram: ");
    sb_text(b, p->title ? p->title : "corridor");
    sb_printf(b, "</title>\n<desc>Distance along the corridor against time; green and red "
                 "per signal (upper half outbound, lower half inbound); shaded green-wave "
                 "bands.</desc>\n");
    sb_printf(b, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n", W, H);
}

static void speed_range(const struct tsd_plan *p, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = 0;
    for (size_t i = 0; i + 1 < p->n; i++) {
        *lo = fmin(*lo, fmin(p->out_speed_mps[i], p->in_speed_mps[i]));
        *hi = fmax(*hi, fmax(p->out_speed_mps[i], p->in_speed_mps[i]));
    }
}

static void draw_caption(struct sb *b, const struct tsd_plan *p)
{
    sb_printf(b, "<text x=\"%.0f\" y=\"30\" font-size=\"20\" font-weight=\"bold\">"
                 "Time-space diagram \xE2\x80\x94 ", ML);
    sb_text(b, p->title ? p->title : "corridor");
    sb_printf(b, "</text>\n");
    double lo, hi;
    speed_range(p, &lo, &hi);
    sb_printf(b, "<text x=\"%.0f\" y=\"56\" font-size=\"14\">Cycle %.1f s \xC2\xB7 ", ML,
              p->cycle_s);
    if (hi - lo < 0.05)
        sb_printf(b, "speed %.1f m/s (%.0f km/h)", lo, lo * 3.6);
    else
        sb_printf(b, "speeds %.1f\xE2\x80\x93%.1f m/s (%.0f\xE2\x80\x93%.0f km/h)", lo, hi,
                  lo * 3.6, hi * 3.6);
    const struct band *bd[2] = { &p->outbound, &p->inbound };
    const char *nm[2] = { "outbound", "inbound" };
    double sum = 0;
    for (int k = 0; k < 2; k++) {
        if (bd[k]->exists) {
            sb_printf(b, " \xC2\xB7 %s band %.1f s", nm[k], bd[k]->width_s);
            sum += bd[k]->width_s;
        } else {
            sb_printf(b, " \xC2\xB7 %s band none", nm[k]);
        }
    }
    sb_printf(b, " \xC2\xB7 efficiency %.0f%%</text>\n", 100 * sum / (2 * p->cycle_s));
}

static void draw_axes(struct sb *b, const struct frame *f, double C)
{
    sb_printf(b, "<g stroke=\"#cccccc\" stroke-width=\"1\">\n");
    double ts = nice_step(f->T, 12);
    for (double t = 0; t <= f->T + 1e-9; t += ts)
        sb_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", fx(f, t),
                  f->yt, fx(f, t), f->yb);
    double ds = nice_step(f->dmax - f->dmin, 8);
    for (double d = ceil(f->dmin / ds) * ds; d <= f->dmax + 1e-9; d += ds)
        sb_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", f->x0,
                  fy(f, d), f->x1, fy(f, d));
    sb_printf(b, "</g>\n<g stroke=\"#666666\" stroke-dasharray=\"6 4\">\n");
    for (double t = C; t < f->T - 1e-9; t += C)
        sb_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", fx(f, t),
                  f->yt, fx(f, t), f->yb);
    sb_printf(b, "</g>\n<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
                 "fill=\"none\" stroke=\"#333333\"/>\n",
              f->x0, f->yt, f->x1 - f->x0, f->yb - f->yt);
    sb_printf(b, "<g font-size=\"12\" fill=\"#333333\">\n");
    for (double t = 0; t <= f->T + 1e-9; t += ts)
        sb_printf(b, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%g</text>\n",
                  fx(f, t), f->yb + 18, t);
    for (double d = ceil(f->dmin / ds) * ds; d <= f->dmax + 1e-9; d += ds)
        sb_printf(b, "<text x=\"%.2f\" y=\"%.2f\">%g</text>\n", f->x1 + 6, fy(f, d) + 4,
                  fabs(d) < 1e-9 ? 0.0 : d);
    sb_printf(b, "</g>\n<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" font-size=\"14\">"
                 "time (s)</text>\n", 0.5 * (f->x0 + f->x1), f->yb + 40);
    sb_printf(b, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" font-size=\"14\" "
                 "transform=\"rotate(90 %.2f %.2f)\">distance (m)</text>\n",
              W - 22, 0.5 * (f->yt + f->yb), W - 22, 0.5 * (f->yt + f->yb));
}

/* One half-bar: red for the whole span, green where the signal is green. */
static void draw_strip(struct sb *b, const struct frame *f, double y, double off, double g,
                       double C)
{
    sb_printf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\"/>\n",
              f->x0, y, f->x1 - f->x0, BAR_H, COL_RED);
    double o = fmod(off, C);
    if (o < 0)
        o += C;
    for (int k = -1; (k - 1) * C < f->T; k++) {
        double t1 = fmax(0, o + k * C), t2 = fmin(f->T, o + k * C + g);
        if (t2 > t1)
            sb_printf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.1f\" "
                         "fill=\"%s\"/>\n", fx(f, t1), y, fx(f, t2) - fx(f, t1), BAR_H,
                      COL_GREEN);
    }
}

static void draw_signals(struct sb *b, const struct frame *f, const struct tsd_plan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        const struct tsd_signal *s = &p->sig[i];
        double y = fy(f, s->position_m);
        draw_strip(b, f, y - BAR_H, s->offset_s, s->out_green_s, p->cycle_s);
        draw_strip(b, f, y, s->offset_s, s->in_green_s, p->cycle_s);
        sb_printf(b, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\">", f->x0 - 8, y + 4);
        if (s->name != NULL)
            sb_text(b, s->name);
        else
            sb_printf(b, "#%zu", i + 1);
        sb_printf(b, "<tspan dx=\"6\" fill=\"#666666\" font-size=\"11\">+%.1f s</tspan></text>\n",
                  fmod(fmod(s->offset_s, p->cycle_s) + p->cycle_s, p->cycle_s));
    }
}

/* A band as polygons repeated every cycle, clipped to the plot. at[i] is
 * when its leading edge reaches signal i (relative to start). */
static void draw_band(struct sb *b, const struct frame *f, const struct tsd_plan *p,
                      const struct band *bd, const double *at, const char *col)
{
    if (!bd->exists)
        return;
    double C = p->cycle_s, lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < p->n; i++) {
        lo = fmin(lo, bd->start_s + at[i]);
        hi = fmax(hi, bd->start_s + at[i] + bd->width_s);
    }
    sb_printf(b, "<g clip-path=\"url(#plot)\" fill=\"%s\" fill-opacity=\"0.30\" stroke=\"%s\" "
                 "stroke-width=\"1.2\">\n", col, col);
    for (long k = (long)floor(-hi / C) - 1; lo + k * C < f->T; k++) {
        double sh = bd->start_s + k * C;
        sb_printf(b, "<polygon points=\"");
        for (size_t i = 0; i < p->n; i++)
            sb_printf(b, "%.2f,%.2f ", fx(f, sh + at[i]), fy(f, p->sig[i].position_m));
        for (size_t i = p->n; i-- > 0;)
            sb_printf(b, "%.2f,%.2f ", fx(f, sh + at[i] + bd->width_s),
                      fy(f, p->sig[i].position_m));
        sb_printf(b, "\"/>\n");
    }
    sb_printf(b, "</g>\n");
}

static void draw_bands(struct sb *b, const struct frame *f, const struct tsd_plan *p,
                       double *at)
{
    sb_printf(b, "<defs><clipPath id=\"plot\"><rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
                 "height=\"%.2f\"/></clipPath></defs>\n",
              f->x0, f->yt, f->x1 - f->x0, f->yb - f->yt);
    size_t n = p->n;
    at[0] = 0;
    for (size_t i = 1; i < n; i++)
        at[i] = at[i - 1] + (p->sig[i].position_m - p->sig[i - 1].position_m) /
                                p->out_speed_mps[i - 1];
    draw_band(b, f, p, &p->outbound, at, COL_OUT);
    at[n - 1] = 0;
    for (size_t i = n - 1; i-- > 0;)
        at[i] = at[i + 1] + (p->sig[i + 1].position_m - p->sig[i].position_m) /
                                p->in_speed_mps[i];
    draw_band(b, f, p, &p->inbound, at, COL_IN);
}

static void draw_legend(struct sb *b, const struct frame *f)
{
    static const struct { const char *col, *label; double op; } items[] = {
        { COL_GREEN, "green", 1 }, { COL_RED, "red", 1 },
        { COL_OUT, "outbound band", 0.3 }, { COL_IN, "inbound band", 0.3 },
    };
    double x = f->x0, y = H - 36;
    for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
        sb_printf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"22\" height=\"12\" fill=\"%s\" "
                     "fill-opacity=\"%.2f\" stroke=\"%s\"/>\n", x, y - 10, items[i].col,
                  items[i].op, items[i].col);
        sb_printf(b, "<text x=\"%.2f\" y=\"%.2f\">%s</text>\n", x + 28, y, items[i].label);
        x += 40 + 8.0 * (double)strlen(items[i].label);
    }
    sb_printf(b, "<text x=\"%.2f\" y=\"%.2f\" fill=\"#555555\">bars: upper half outbound, "
                 "lower half inbound; dashed lines: cycle boundaries</text>\n", x + 10, y);
}

int tsd_svg(const struct tsd_plan *p, char **out, size_t *len, char *err, size_t errlen)
{
    if (check(p, err, errlen) != 0)
        return -1;
    struct sb b = { NULL, 0, 0, false };
    double *at = malloc(p->n * sizeof(double));
    if (at == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    double span = p->sig[p->n - 1].position_m - p->sig[0].position_m;
    struct frame f = {
        .T = (p->cycles == 2 ? 2 : 3) * p->cycle_s,
        .dmin = p->sig[0].position_m - 0.06 * span,
        .dmax = p->sig[p->n - 1].position_m + 0.06 * span,
        .x0 = ML, .x1 = W - MR, .yb = H - MB, .yt = MT,
    };
    draw_header(&b, p);
    draw_caption(&b, p);
    draw_axes(&b, &f, p->cycle_s);
    draw_signals(&b, &f, p);
    draw_bands(&b, &f, p, at);
    draw_legend(&b, &f);
    sb_printf(&b, "</svg>\n");
    free(at);
    if (b.oom) {
        free(b.p);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *out = b.p;
    *len = b.len;
    return 0;
}
