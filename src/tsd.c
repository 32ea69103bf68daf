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

#include "text.h"

/* Page layout, px. Names sit left of the plot, distance ticks right. */
#define W 1200.0
#define H 720.0
#define ML 210.0
#define MR 90.0
#define MT 84.0
#define MB 118.0
#define BAR_H 5.0                /* each half of a signal's bar */
/* Bounds that keep every loop short and every number printed finite. */
#define TICKS_MAX 100            /* grid lines per axis */
#define TSD_ABS_MAX 1e300        /* largest |position|, |offset|, cycle, speed drawn */
#define TSD_CYCLE_MIN_S 1e-3
#define TSD_SPAN_MIN_M 1e-3      /* shortest corridor drawn */
/* A band whose leading edge takes longer than this many diagrams to
 * cross the corridor is nearly horizontal: left out (the caption says
 * so) instead of drawn as thousands of slivers. */
#define BAND_SPAN_MAX 50.0
#define BAND_COPIES_MAX 200

#define COL_GREEN "#2e9d4a"
#define COL_RED "#d43c3c"
#define COL_OUT "#1f6fd1"
#define COL_IN "#f08c1a"
/* CJK faces first (the names are Chinese), each platform's; then Latin
 * ones, then the generic family, so some font always draws the text.
 * tools/deps.sh installs fonts-noto-cjk, which has the first. */
#define FONTS "'Noto Sans CJK SC','Noto Sans SC','Source Han Sans SC','PingFang SC'," \
              "'Microsoft YaHei','WenQuanYi Micro Hei','Noto Sans','DejaVu Sans',sans-serif"

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

/* Length of the valid UTF-8 sequence at s (1..4; text.h's decoder), 0
 * if invalid or one of the XML non-characters U+FFFE/F. */
static size_t xml_char_len(const char *s)
{
    uint32_t cp;
    size_t n = text_utf8_decode(s, strnlen(s, 4), &cp);
    return n > 0 && (cp == 0xFFFE || cp == 0xFFFF) ? 0 : n;
}

/* XML character data / attribute value. */
static void sb_text(struct sb *b, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        size_t n = xml_char_len((const char *)s);
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

/* A 1-2-5 step giving about `want` ticks over span (span itself when
 * that cannot be computed, e.g. for a subnormal span). */
static double nice_step(double span, double want)
{
    double raw = span / want;
    if (!(raw > 1e-300 && isfinite(raw)))
        return span > 0 && isfinite(span) ? span : 1;
    double mag = pow(10, floor(log10(raw)));
    double r = raw / mag;
    double step = (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * mag;
    return step > 0 && isfinite(step) ? step : span;
}

/* Number of grid lines k*step within [lo, hi] (first at *first * step),
 * at most TICKS_MAX: every loop over the picture is counted, so no value
 * can make one run long. */
static long grid(double lo, double hi, double step, double *first)
{
    *first = ceil(lo / step - 1e-9);
    double n = floor(hi / step + 1e-9) - *first + 1;
    return !(n >= 1) ? 0 : n > TICKS_MAX ? TICKS_MAX : (long)n;
}

/* Finite and small enough that three cycles, a corridor's span and a
 * speed in km/h stay finite: refused up front otherwise, so that every
 * number derived below is finite. */
static bool drawable(double x)
{
    return isfinite(x) && fabs(x) <= TSD_ABS_MAX;
}

static const char *check_signals(const struct tsd_plan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        const struct tsd_signal *s = &p->sig[i];
        if (!drawable(s->position_m) || !drawable(s->offset_s) ||
            !(s->out_green_s >= 0 && s->out_green_s <= p->cycle_s) ||
            !(s->in_green_s >= 0 && s->in_green_s <= p->cycle_s))
            return "signal timing out of range";
        if (i > 0 && s->position_m < p->sig[i - 1].position_m)
            return "signals out of order";
        if (i + 1 < p->n && !(p->out_speed_mps[i] > 0 && drawable(p->out_speed_mps[i]) &&
                              p->in_speed_mps[i] > 0 && drawable(p->in_speed_mps[i])))
            return "link speeds must be positive";
    }
    return NULL;
}

static bool band_ok(const struct band *b, double C)
{
    return !b->exists || (drawable(b->start_s) && b->width_s >= 0 && b->width_s <= C * (1 + 1e-9));
}

static int check(const struct tsd_plan *p, char *err, size_t errlen)
{
    const char *why = NULL;
    if (p->n < 2 || p->sig == NULL || p->out_speed_mps == NULL || p->in_speed_mps == NULL)
        why = "at least two signals with link speeds needed";
    else if (!(drawable(p->cycle_s) && p->cycle_s >= TSD_CYCLE_MIN_S))
        why = "cycle out of range";
    else
        why = check_signals(p);
    double span = why ? 0 : p->sig[p->n - 1].position_m - p->sig[0].position_m;
    if (why == NULL && !(span >= TSD_SPAN_MIN_M))
        why = "corridor has no length";
    if (why == NULL && !(band_ok(&p->outbound, p->cycle_s) && band_ok(&p->inbound, p->cycle_s)))
        why = "band not finite or wider than the cycle";
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

/* A band as the picture has it: the times its leading edge reaches each
 * signal, relative to its start (n entries), and whether it is drawn. */
struct band_path {
    const struct band *bd;
    double *at;
    bool drawn;
};

/* Fill bp->at; drawn unless the band is absent or so slow that it spans
 * more than BAND_SPAN_MAX diagrams. */
static void band_path(const struct tsd_plan *p, const struct frame *f, bool out,
                      struct band_path *bp)
{
    size_t n = p->n;
    double *at = bp->at, lo = 0, hi = 0;
    bp->bd = out ? &p->outbound : &p->inbound;
    for (size_t k = 0; k < n; k++) {
        size_t i = out ? k : n - 1 - k;
        if (k == 0)
            at[i] = 0;
        else if (out)
            at[i] = at[i - 1] + (p->sig[i].position_m - p->sig[i - 1].position_m) /
                                    p->out_speed_mps[i - 1];
        else
            at[i] = at[i + 1] + (p->sig[i + 1].position_m - p->sig[i].position_m) /
                                    p->in_speed_mps[i];
        lo = fmin(lo, at[i]);
        hi = fmax(hi, at[i]);
    }
    bp->drawn = bp->bd->exists && isfinite(hi - lo) &&
                hi - lo + bp->bd->width_s <= BAND_SPAN_MAX * f->T;
}

static void draw_caption(struct sb *b, const struct tsd_plan *p, const struct band_path *bp)
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
    const char *nm[2] = { "outbound", "inbound" };
    double sum = 0;
    for (int k = 0; k < 2; k++) {
        const struct band *bd = bp[k].bd;
        if (bd->exists) {
            sb_printf(b, " \xC2\xB7 %s band %.1f s%s", nm[k], bd->width_s,
                      bp[k].drawn ? "" : " (too slow to draw)");
            sum += bd->width_s;
        } else {
            sb_printf(b, " \xC2\xB7 %s band none", nm[k]);
        }
    }
    sb_printf(b, " \xC2\xB7 efficiency %.0f%%</text>\n", 100 * sum / (2 * p->cycle_s));
}

static void draw_axes(struct sb *b, const struct frame *f, double C, int cycles)
{
    double ts = nice_step(f->T, 12), ds = nice_step(f->dmax - f->dmin, 8), t0, d0;
    long nt = grid(0, f->T, ts, &t0), nd = grid(f->dmin, f->dmax, ds, &d0);
    sb_printf(b, "<g stroke=\"#cccccc\" stroke-width=\"1\">\n");
    for (long k = 0; k < nt; k++)
        sb_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n",
                  fx(f, (t0 + k) * ts), f->yt, fx(f, (t0 + k) * ts), f->yb);
    for (long k = 0; k < nd; k++)
        sb_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", f->x0,
                  fy(f, (d0 + k) * ds), f->x1, fy(f, (d0 + k) * ds));
    sb_printf(b, "</g>\n<g stroke=\"#666666\" stroke-dasharray=\"6 4\">\n");
    for (int k = 1; k < cycles; k++)
        sb_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", fx(f, k * C),
                  f->yt, fx(f, k * C), f->yb);
    sb_printf(b, "</g>\n<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
                 "fill=\"none\" stroke=\"#333333\"/>\n",
              f->x0, f->yt, f->x1 - f->x0, f->yb - f->yt);
    sb_printf(b, "<g font-size=\"12\" fill=\"#333333\">\n");
    for (long k = 0; k < nt; k++)
        sb_printf(b, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%g</text>\n",
                  fx(f, (t0 + k) * ts), f->yb + 18, (t0 + k) * ts);
    for (long k = 0; k < nd; k++) {
        double d = (d0 + k) * ds;
        sb_printf(b, "<text x=\"%.2f\" y=\"%.2f\">%g</text>\n", f->x1 + 6, fy(f, d) + 4,
                  fabs(d) < 1e-9 * ds ? 0.0 : d);
    }
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
        /* the id too: what the API and the map call it, readable by anyone */
        if (s->id != NULL && (s->name == NULL || strcmp(s->id, s->name) != 0)) {
            sb_printf(b, "<tspan dx=\"%d\" fill=\"#444444\" font-size=\"11\">", s->name ? 5 : 0);
            sb_text(b, s->id);
            sb_printf(b, "</tspan>");
        }
        if (s->name == NULL && s->id == NULL)
            sb_printf(b, "#%zu", i + 1);
        sb_printf(b, "<tspan dx=\"6\" fill=\"#666666\" font-size=\"11\">+%.1f s</tspan></text>\n",
                  fmod(fmod(s->offset_s, p->cycle_s) + p->cycle_s, p->cycle_s));
    }
}

/* A band as polygons repeated every cycle, clipped to the plot: the
 * copies starting at start + k C that meet [0, T] (a counted loop). */
static void draw_band(struct sb *b, const struct frame *f, const struct tsd_plan *p,
                      const struct band_path *bp, const char *col)
{
    if (!bp->drawn)
        return;
    const struct band *bd = bp->bd;
    const double *at = bp->at;
    double C = p->cycle_s, start = fmod(bd->start_s, C), lo = INFINITY, hi = -INFINITY;
    if (start < 0)
        start += C;
    for (size_t i = 0; i < p->n; i++) {
        lo = fmin(lo, start + at[i]);
        hi = fmax(hi, start + at[i] + bd->width_s);
    }
    double k0 = floor(-hi / C), n = floor((f->T - lo) / C) - k0 + 1;
    long copies = !(n >= 1) ? 0 : n > BAND_COPIES_MAX ? BAND_COPIES_MAX : (long)n;
    sb_printf(b, "<g clip-path=\"url(#plot)\" fill=\"%s\" fill-opacity=\"0.30\" stroke=\"%s\" "
                 "stroke-width=\"1.2\">\n", col, col);
    for (long k = 0; k < copies; k++) {
        double sh = start + (k0 + (double)k) * C;
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
                       const struct band_path *bp)
{
    sb_printf(b, "<defs><clipPath id=\"plot\"><rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
                 "height=\"%.2f\"/></clipPath></defs>\n",
              f->x0, f->yt, f->x1 - f->x0, f->yb - f->yt);
    draw_band(b, f, p, &bp[0], COL_OUT);
    draw_band(b, f, p, &bp[1], COL_IN);
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
    double *at = malloc(2 * p->n * sizeof(double));
    if (at == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int cycles = p->cycles == 2 ? 2 : 3;
    double span = p->sig[p->n - 1].position_m - p->sig[0].position_m;
    struct frame f = {
        .T = cycles * p->cycle_s,
        .dmin = p->sig[0].position_m - 0.06 * span,
        .dmax = p->sig[p->n - 1].position_m + 0.06 * span,
        .x0 = ML, .x1 = W - MR, .yb = H - MB, .yt = MT,
    };
    struct band_path bp[2] = { { NULL, at, false }, { NULL, at + p->n, false } };
    band_path(p, &f, true, &bp[0]);
    band_path(p, &f, false, &bp[1]);
    draw_header(&b, p);
    draw_caption(&b, p, bp);
    draw_axes(&b, &f, p->cycle_s, cycles);
    draw_signals(&b, &f, p);
    draw_bands(&b, &f, p, bp);
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
