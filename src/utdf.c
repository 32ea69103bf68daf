/* utdf.c -- UTDF volume CSV reader (see utdf.h).
 *
 * The header is found by content, not position: the first record holding
 * DATE, TIME and INTID columns; whatever comes before it (title lines such
 * as "Turning Movement Count,") is skipped. Movement columns are located by
 * name, so column order and trailing empty columns do not matter; a
 * movement column the file lacks is "not detected" in every row. */
#include "utdf.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "tz.h"

/* Counts above this in one row are not a detector's (a typo, or a running
 * total): reject rather than simulate an impossible flow. */
#define UTDF_MAX_COUNT 100000.0

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

static int num(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/* Strip the spreadsheet wrapper ="..." (or plain quotes) and blanks. */
static void time_text(const char *time, char *buf, size_t len)
{
    while (isspace((unsigned char)*time))
        time++;
    if (*time == '=')
        time++;
    if (*time == '"')
        time++;
    snprintf(buf, len, "%s", time);
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '"' || isspace((unsigned char)buf[n - 1])))
        buf[--n] = '\0';
}

int utdf_parse_datetime(const char *date, const char *time, int64_t *minute,
                        char *err, size_t errlen)
{
    /* MM/DD/YYYY, with one-digit month and day accepted (exports vary). */
    int mo = 0, d = 0, y = 0;
    const char *s1 = strchr(date, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
    size_t l1 = s1 ? (size_t)(s1 - date) : 0, l2 = s2 ? (size_t)(s2 - s1 - 1) : 0;
    size_t l3 = s2 ? strlen(s2 + 1) : 0;
    if (!s1 || !s2 || l1 < 1 || l1 > 2 || l2 < 1 || l2 > 2 || l3 != 4 ||
        !all_digits(date, l1) || !all_digits(s1 + 1, l2) || !all_digits(s2 + 1, 4)) {
        snprintf(err, errlen, "DATE '%s': expected MM/DD/YYYY", date);
        return -1;
    }
    mo = num(date, l1);
    d = num(s1 + 1, l2);
    y = num(s2 + 1, 4);
    int64_t days = tz_days_from_civil(y, mo, d);
    int ry, rm, rd;
    tz_civil_from_days(days, &ry, &rm, &rd);
    if (mo < 1 || mo > 12 || d < 1 || ry != y || rm != mo || rd != d || y < 1970) {
        snprintf(err, errlen, "DATE '%s': no such date", date);
        return -1;
    }
    char t[32];
    time_text(time, t, sizeof t);
    size_t tl = strlen(t);
    int h, mi;
    if (tl == 4 && all_digits(t, 4)) {
        h = num(t, 2);
        mi = num(t + 2, 2);
    } else if ((tl == 5 || tl == 4) && t[tl - 3] == ':' && all_digits(t, tl - 3) &&
               all_digits(t + tl - 2, 2)) {
        h = num(t, tl - 3);
        mi = num(t + tl - 2, 2);
    } else {
        snprintf(err, errlen, "TIME '%s': expected HHMM", time);
        return -1;
    }
    if (h > 23 || mi > 59) {
        snprintf(err, errlen, "TIME '%s': no such time of day", time);
        return -1;
    }
    *minute = days * 1440 + h * 60 + mi;
    return 0;
}

void utdf_format_minute(int64_t minute, char *buf, size_t len)
{
    int64_t days = minute >= 0 ? minute / 1440 : -((-minute + 1439) / 1440);
    int m = (int)(minute - days * 1440), y, mo, d;
    tz_civil_from_days(days, &y, &mo, &d);
    snprintf(buf, len, "%02d/%02d/%04d %02d:%02d", mo, d, y, m / 60, m % 60);
}

/* 1: a number in *out; 0: not detected ('*' or empty); -1: not a number. */
static int parse_count(const char *s, double *out)
{
    while (isspace((unsigned char)*s))
        s++;
    if (*s == '\0' || strcmp(s, "*") == 0) {
        *out = -1;
        return 0;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    while (isspace((unsigned char)*end))
        end++;
    if (errno || end == s || *end || !isfinite(v))
        return -1;
    *out = v;
    return 1;
}

struct cols { int date, time, intid, mov[SIM_NMOV]; };

static bool find_header(struct csv *c, struct cols *k)
{
    int date = -1, time = -1, intid = -1;
    for (size_t i = 0; i < csv_nfields(c); i++) {
        char name[32];
        snprintf(name, sizeof name, "%s", csv_get(c, (int)i));
        for (char *p = name; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        char *b = name;
        while (isspace((unsigned char)*b))
            b++;
        size_t n = strlen(b);
        while (n > 0 && isspace((unsigned char)b[n - 1]))
            b[--n] = '\0';
        if (strcmp(b, "DATE") == 0)
            date = (int)i;
        else if (strcmp(b, "TIME") == 0)
            time = (int)i;
        else if (strcmp(b, "INTID") == 0)
            intid = (int)i;
        else if (sim_movement_index(b) >= 0)
            k->mov[sim_movement_index(b)] = (int)i;
    }
    k->date = date;
    k->time = time;
    k->intid = intid;
    return date >= 0 && time >= 0 && intid >= 0;
}

static int row_parse(struct csv *c, const struct cols *k, struct utdf_row *r, char *err,
                     size_t errlen)
{
    const char *id = csv_get(c, k->intid);
    char why[160];
    memset(r, 0, sizeof *r);
    r->line = csv_line(c);
    if (id[0] == '\0' || strlen(id) > UTDF_ID_MAX) {
        snprintf(err, errlen, "%s:%ld: INTID: %s", csv_name(c), r->line,
                 id[0] ? "longer than 127 bytes" : "missing");
        return -1;
    }
    snprintf(r->intid, sizeof r->intid, "%s", id);
    if (utdf_parse_datetime(csv_get(c, k->date), csv_get(c, k->time), &r->minute, why,
                            sizeof why) != 0) {
        snprintf(err, errlen, "%s:%ld: %s", csv_name(c), r->line, why);
        return -1;
    }
    for (int m = 0; m < SIM_NMOV; m++) {
        const char *v = k->mov[m] >= 0 ? csv_get(c, k->mov[m]) : "*";
        const char *bad = NULL;
        int rc = parse_count(v, &r->counts[m]);
        if (rc < 0)
            bad = "is not a count (a number, '*' or empty)";
        else if (rc > 0 && r->counts[m] < 0)
            bad = "is negative";
        else if (r->counts[m] > UTDF_MAX_COUNT)
            bad = "is too large for a detector count";
        if (bad != NULL) {
            snprintf(err, errlen, "%s:%ld: %s: '%s' %s", csv_name(c), r->line,
                     sim_movement_name(m), v, bad);
            return -1;
        }
    }
    return 0;
}

static int row_cmp(const void *a, const void *b)
{
    const struct utdf_row *x = a, *y = b;
    int c = strcmp(x->intid, y->intid);
    if (c != 0)
        return c;
    if (x->minute != y->minute)
        return x->minute < y->minute ? -1 : 1;
    return (x->line > y->line) - (x->line < y->line);
}

static int check_rows(struct utdf *u, char *err, size_t errlen)
{
    qsort(u->rows, u->n, sizeof *u->rows, row_cmp);
    for (size_t i = 1; i < u->n; i++) {
        const struct utdf_row *a = &u->rows[i - 1], *b = &u->rows[i];
        if (strcmp(a->intid, b->intid) == 0 && a->minute == b->minute) {
            char when[24];
            utdf_format_minute(b->minute, when, sizeof when);
            snprintf(err, errlen, "%s:%ld: intersection '%s' at %s already counted at line %ld",
                     u->name, b->line, b->intid, when, a->line);
            return -1;
        }
    }
    return 0;
}

static int push_row(struct utdf *u, size_t *cap, const struct utdf_row *r)
{
    if (u->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 256;
        struct utdf_row *nr = realloc(u->rows, ncap * sizeof *nr);
        if (nr == NULL)
            return -1;
        u->rows = nr;
        *cap = ncap;
    }
    u->rows[u->n++] = *r;
    return 0;
}

static int read_all(struct csv *c, struct utdf *u, char *err, size_t errlen)
{
    struct cols k;
    for (int m = 0; m < SIM_NMOV; m++)
        k.mov[m] = -1;
    int rc;
    bool header = false;
    while (!header && (rc = csv_next(c, err, errlen)) == 1)
        header = find_header(c, &k);
    if (!header) {
        if (rc == 0)
            snprintf(err, errlen, "%s: no header row with DATE, TIME and INTID columns",
                     csv_name(c));
        return -1;
    }
    size_t cap = 0;
    struct utdf_row r;
    while ((rc = csv_next(c, err, errlen)) == 1) {
        if (row_parse(c, &k, &r, err, errlen) != 0)
            return -1;
        if (push_row(u, &cap, &r) != 0) {
            snprintf(err, errlen, "%s: out of memory", csv_name(c));
            return -1;
        }
    }
    if (rc < 0)
        return -1;
    if (u->n == 0) {
        snprintf(err, errlen, "%s: no counts after the header", csv_name(c));
        return -1;
    }
    return check_rows(u, err, errlen);
}

static int read_from(struct csv *c, const char *name, struct utdf **out, char *err,
                     size_t errlen)
{
    int rc = -1;
    struct utdf *u = calloc(1, sizeof *u);
    if (u == NULL || (u->name = strdup(name)) == NULL) {
        snprintf(err, errlen, "%s: out of memory", name);
        goto out;
    }
    if (read_all(c, u, err, errlen) != 0)
        goto out;
    *out = u;
    u = NULL;
    rc = 0;
out:
    utdf_free(u);
    csv_free(c);
    return rc;
}

int utdf_read(const char *path, struct utdf **out, char *err, size_t errlen)
{
    struct csv *c = csv_open(path, err, errlen);
    if (c == NULL)
        return -1;
    return read_from(c, path, out, err, errlen);
}

int utdf_read_mem(const char *buf, size_t len, const char *name, struct utdf **out,
                  char *err, size_t errlen)
{
    struct csv *c = csv_open_mem(buf, len, name);
    if (c == NULL) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    return read_from(c, name, out, err, errlen);
}

void utdf_free(struct utdf *u)
{
    if (u == NULL)
        return;
    free(u->rows);
    free(u->name);
    free(u);
}

int64_t utdf_first_minute(const struct utdf *u)
{
    int64_t first = 0;
    for (size_t i = 0; i < u->n; i++)
        if (i == 0 || u->rows[i].minute < first)
            first = u->rows[i].minute;
    return first;
}

long utdf_find(const struct utdf *u, const char *intid)
{
    size_t lo = 0, hi = u->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(u->rows[mid].intid, intid) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < u->n && strcmp(u->rows[lo].intid, intid) == 0 ? (long)lo : -1;
}

double utdf_interval_s(const struct utdf *u)
{
    /* File-wide, so that an intersection with a missing row shows up as a
     * gap rather than as longer intervals. */
    int64_t best = 0;
    for (size_t k = 1; k < u->n; k++) {
        int64_t step = u->rows[k].minute - u->rows[k - 1].minute;
        if (strcmp(u->rows[k].intid, u->rows[k - 1].intid) == 0 && step > 0 &&
            (best == 0 || step < best))
            best = step;
    }
    return best > 0 ? (double)best * 60.0 : UTDF_DEFAULT_INTERVAL_S;
}

static void missing(const struct utdf *u, const char *intid, int64_t at, char *err,
                    size_t errlen)
{
    char when[24];
    utdf_format_minute(at, when, sizeof when);
    snprintf(err, errlen, "%s: intersection '%s' has no counts for the interval starting %s",
             u->name, intid, when);
}

int utdf_counts(const struct utdf *u, const char *intid, int64_t start, double duration_s,
                struct sim_count **out, size_t *n, char *err, size_t errlen)
{
    long first = utdf_find(u, intid);
    double len = utdf_interval_s(u);
    if (first < 0) {
        snprintf(err, errlen, "%s: no counts for intersection '%s'", u->name, intid);
        return -1;
    }
    size_t cap = (size_t)ceil(duration_s / len) + 1, k = 0;
    struct sim_count *c = calloc(cap, sizeof *c);
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    double covered = 0;                    /* seconds from start covered so far */
    for (size_t i = (size_t)first; i < u->n && strcmp(u->rows[i].intid, intid) == 0; i++) {
        const struct utdf_row *r = &u->rows[i];
        double s = (double)(r->minute - start) * 60.0;
        if (s + len <= 0 || s >= duration_s)
            continue;
        if (s > covered + 1e-9 || k == cap) {
            missing(u, intid, start + (int64_t)floor(covered / 60.0), err, errlen);
            free(c);
            return -1;
        }
        /* Keep the part of the interval inside the window, counts scaled
         * to it (the interval's flow is taken as uniform). */
        double lo = fmax(s, 0), hi = fmin(s + len, duration_s), f = (hi - lo) / len;
        c[k].start_s = lo;
        c[k].length_s = hi - lo;
        for (int m = 0; m < SIM_NMOV; m++)
            c[k].counts[m] = r->counts[m] < 0 ? -1 : r->counts[m] * f;
        covered = hi;
        k++;
    }
    if (covered < duration_s - 1e-9) {
        missing(u, intid, start + (int64_t)floor(covered / 60.0), err, errlen);
        free(c);
        return -1;
    }
    *out = c;
    *n = k;
    return 0;
}
