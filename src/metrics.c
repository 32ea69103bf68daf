/* metrics.c -- Prometheus registry and text exposition (see metrics.h).
 *
 * Metrics are grouped into families (one per name: kind, help, series
 * in creation order) so that the rendered text carries HELP and TYPE
 * once per name and every series of a name together, as the text format
 * 0.0.4 requires. Two dicts make lookups cheap: name -> family and
 * "name{labels}" -> series. Output order is creation order, which keeps
 * /metrics stable between scrapes. */
#include "metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dict.h"

/* The latency ladder (seconds): sub-millisecond in-memory reads up to
 * requests stuck behind a slow store. */
static const double hist_bounds[] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
};
#define HIST_NB (sizeof hist_bounds / sizeof hist_bounds[0])

struct family {
    char *name;
    char *help;
    enum metric_kind kind;
    struct metric *first, *last;
    struct family *next;
};

struct metric {
    struct family *fam;
    char *labels;                    /* "" when none */
    double value;                    /* counter, gauge */
    double sum;                      /* histogram */
    uint64_t count;                  /* histogram */
    struct metric *next;
    uint64_t buckets[];              /* histogram: HIST_NB + 1 (+Inf), not cumulative */
};

struct metrics {
    struct dict *families;           /* name -> struct family */
    struct dict *series;             /* "name{labels}" -> struct metric */
    struct family *first, *last;
};

struct metrics *metrics_new(void)
{
    struct metrics *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->families = dict_new();
    m->series = dict_new();
    if (m->families == NULL || m->series == NULL) {
        metrics_free(m);
        return NULL;
    }
    return m;
}

static void family_free(struct family *f)
{
    struct metric *s = f->first;
    while (s != NULL) {
        struct metric *next = s->next;
        free(s->labels);
        free(s);
        s = next;
    }
    free(f->name);
    free(f->help);
    free(f);
}

void metrics_free(struct metrics *m)
{
    if (m == NULL)
        return;
    struct family *f = m->first;
    while (f != NULL) {
        struct family *next = f->next;
        family_free(f);
        f = next;
    }
    dict_free(m->families, NULL);
    dict_free(m->series, NULL);
    free(m);
}

static bool name_valid(const char *s)
{
    if (s == NULL || *s == '\0')
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                  (p != s && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static struct family *family_get(struct metrics *m, enum metric_kind kind, const char *name,
                                 const char *help)
{
    struct family *f = dict_get(m->families, name);
    if (f != NULL)
        return f->kind == kind ? f : NULL;
    f = calloc(1, sizeof *f);
    if (f == NULL)
        return NULL;
    f->kind = kind;
    f->name = strdup(name);
    f->help = strdup(help != NULL ? help : "");
    int err = 0;
    if (f->name == NULL || f->help == NULL)
        goto fail;
    dict_put(m->families, name, f, &err);
    if (err != 0)
        goto fail;
    if (m->last != NULL)
        m->last->next = f;
    else
        m->first = f;
    m->last = f;
    return f;
fail:
    family_free(f);
    return NULL;
}

struct metric *metrics_series(struct metrics *m, enum metric_kind kind, const char *name,
                              const char *help, const char *labels)
{
    if (m == NULL || !name_valid(name))
        return NULL;
    if (labels == NULL)
        labels = "";
    size_t nl = strlen(name), ll = strlen(labels);
    char stackkey[512];
    char *key = nl + ll + 3 <= sizeof stackkey ? stackkey : malloc(nl + ll + 3);
    struct metric *s = NULL;
    if (key == NULL)
        return NULL;
    memcpy(key, name, nl);
    key[nl] = '{';
    memcpy(key + nl + 1, labels, ll);
    memcpy(key + nl + 1 + ll, "}", 2);

    s = dict_get(m->series, key);
    if (s != NULL) {
        if (s->fam->kind != kind)
            s = NULL;
        goto out;
    }
    struct family *f = family_get(m, kind, name, help);
    if (f == NULL)
        goto out;
    size_t extra = kind == METRIC_HISTOGRAM ? (HIST_NB + 1) * sizeof(uint64_t) : 0;
    s = calloc(1, sizeof *s + extra);
    if (s == NULL)
        goto out;
    s->fam = f;
    s->labels = strdup(labels);
    int err = 0;
    if (s->labels != NULL)
        dict_put(m->series, key, s, &err);
    if (s->labels == NULL || err != 0) {
        free(s->labels);
        free(s);
        s = NULL;
        goto out;
    }
    if (f->last != NULL)
        f->last->next = s;
    else
        f->first = s;
    f->last = s;
out:
    if (key != stackkey)
        free(key);
    return s;
}

void metric_inc(struct metric *s, double by)
{
    if (s == NULL || s->fam->kind == METRIC_HISTOGRAM)
        return;
    if (s->fam->kind == METRIC_COUNTER && !(by >= 0))
        return;
    s->value += by;
}

void metric_set(struct metric *s, double v)
{
    if (s == NULL || s->fam->kind == METRIC_HISTOGRAM)
        return;
    s->value = v;
}

void metric_observe(struct metric *s, double value)
{
    if (s == NULL || s->fam->kind != METRIC_HISTOGRAM || isnan(value))
        return;
    size_t i = 0;
    while (i < HIST_NB && value > hist_bounds[i])
        i++;
    s->buckets[i]++;
    s->count++;
    s->sum += value;
}

/* ---- rendering ---- */

struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void sb_reserve(struct sbuf *b, size_t more)
{
    if (b->oom || b->len + more + 1 <= b->cap)
        return;
    size_t ncap = b->cap ? b->cap : 4096;
    while (ncap < b->len + more + 1)
        ncap *= 2;
    char *np = realloc(b->p, ncap);
    if (np == NULL) {
        b->oom = true;
        return;
    }
    b->p = np;
    b->cap = ncap;
}

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    sb_reserve(b, n);
    if (b->oom)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* A sample value the way Prometheus parses it: shortest round-trip
 * decimal, and +Inf / -Inf / NaN spelled out. */
static void fmt_value(char *out, size_t n, double v)
{
    if (isnan(v)) {
        snprintf(out, n, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, n, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, n, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

/* HELP text escapes backslash and newline. */
static void sb_help(struct sbuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            sb_add(b, "\\\\", 2);
        else if (*s == '\n')
            sb_add(b, "\\n", 2);
        else
            sb_add(b, s, 1);
    }
}

/* name[suffix]{labels[,extra]} value\n */
static void sb_sample(struct sbuf *b, const char *name, const char *suffix, const char *labels,
                      const char *extra, double v)
{
    char num[40];
    sb_str(b, name);
    sb_str(b, suffix);
    bool has_labels = labels[0] != '\0';
    if (has_labels || extra != NULL) {
        sb_add(b, "{", 1);
        sb_str(b, labels);
        if (extra != NULL) {
            if (has_labels)
                sb_add(b, ",", 1);
            sb_str(b, extra);
        }
        sb_add(b, "}", 1);
    }
    fmt_value(num, sizeof num, v);
    sb_add(b, " ", 1);
    sb_str(b, num);
    sb_add(b, "\n", 1);
}

static void render_histogram(struct sbuf *b, const struct family *f, const struct metric *s)
{
    char le[64], num[40];
    uint64_t cum = 0;
    for (size_t i = 0; i <= HIST_NB; i++) {
        cum += s->buckets[i];
        if (i < HIST_NB)
            fmt_value(num, sizeof num, hist_bounds[i]);
        else
            snprintf(num, sizeof num, "+Inf");
        snprintf(le, sizeof le, "le=\"%s\"", num);
        sb_sample(b, f->name, "_bucket", s->labels, le, (double)cum);
    }
    sb_sample(b, f->name, "_sum", s->labels, NULL, s->sum);
    sb_sample(b, f->name, "_count", s->labels, NULL, (double)s->count);
}

static const char *kind_name(enum metric_kind k)
{
    switch (k) {
    case METRIC_COUNTER:
        return "counter";
    case METRIC_GAUGE:
        return "gauge";
    case METRIC_HISTOGRAM:
        return "histogram";
    }
    return "untyped";
}

char *metrics_render(const struct metrics *m, size_t *len)
{
    struct sbuf b = {0};
    sb_reserve(&b, 0);
    for (const struct family *f = m->first; f != NULL && !b.oom; f = f->next) {
        sb_str(&b, "# HELP ");
        sb_str(&b, f->name);
        sb_add(&b, " ", 1);
        sb_help(&b, f->help);
        sb_str(&b, "\n# TYPE ");
        sb_str(&b, f->name);
        sb_add(&b, " ", 1);
        sb_str(&b, kind_name(f->kind));
        sb_add(&b, "\n", 1);
        for (const struct metric *s = f->first; s != NULL; s = s->next) {
            if (f->kind == METRIC_HISTOGRAM)
                render_histogram(&b, f, s);
            else
                sb_sample(&b, f->name, "", s->labels, NULL, s->value);
        }
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    if (len != NULL)
        *len = b.len;
    return b.p;
}

int metrics_labels(char *buf, size_t len, const char *const *kv, size_t n)
{
    size_t o = 0;
    int rc = 0;
    if (len == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *k = kv[2 * i], *v = kv[2 * i + 1];
        size_t kl = strlen(k);
        if (o + kl + 3 + (i > 0) >= len)
            goto full;
        if (i > 0)
            buf[o++] = ',';
        memcpy(buf + o, k, kl);
        o += kl;
        buf[o++] = '=';
        buf[o++] = '"';
        for (; *v; v++) {
            char esc = *v == '\\' ? '\\' : *v == '"' ? '"' : *v == '\n' ? 'n' : 0;
            if (o + (esc ? 2 : 1) + 1 >= len)
                goto full;
            if (esc) {
                buf[o++] = '\\';
                buf[o++] = esc;
            } else {
                buf[o++] = *v;
            }
        }
        if (o + 2 > len)
            goto full;
        buf[o++] = '"';
    }
    buf[o] = '\0';
    return rc;
full:
    buf[o < len ? o : len - 1] = '\0';
    return -1;
}
