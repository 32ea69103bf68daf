/* gtfs.c -- GTFS static loader (see gtfs.h).
 *
 * Load order follows the references: agency (time zone), stops (which
 * also centre the projection), routes, services, shapes, trips, then
 * stop_times, which are gathered, sorted per trip, grouped into patterns,
 * placed along their shapes, checked for time order and interpolated
 * where the feed leaves non-timepoint times empty. Last, every stop gets
 * its visits sorted by time for the stop-sign queries. */
#include "gtfs.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "dict.h"
#include "geo.h"
#include "gtfsrt.h"
#include "text.h"
#include "tz.h"

/* A static id that realtime messages cannot name, or that would be cut
 * when copied into a realtime buffer (maybe inside a character), is no use. */
_Static_assert(GTFS_ID_SIZE == GTFSRT_ID, "GTFS ids must fit GTFS-realtime buffers");

/* A stop further than this from every place on its shape is reported. */
#define GTFS_STOP_FAR_M 100.0
/* Candidate places for a stop: parts of the shape within this distance. */
#define GTFS_CANDIDATE_M 200.0

struct loader {
    struct gtfs *f;
    const char *dir;
    char *err;
    size_t errlen;
    bool failed;
    /* Non-ASCII fields of the table being read, UTF-8 or not (the first
     * bad one's line): tells a file in another encoding from a few bad
     * fields (table_end). */
    long enc_good, enc_bad, enc_bad_line;
};

/* ---- small helpers ---- */

static void issue(struct loader *L, bool fatal, const char *file, long line,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void issue(struct loader *L, bool fatal, const char *file, long line,
                  const char *fmt, ...)
{
    struct gtfs *f = L->f;
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    text_sanitize(msg);                    /* it may quote bad input */
    f->n_issues_total++;
    if (fatal && !L->failed) {
        L->failed = true;
        if (line > 0)
            snprintf(L->err, L->errlen, "%s:%ld: %s", file, line, msg);
        else
            snprintf(L->err, L->errlen, "%s: %s", file, msg);
    }
    if (f->n_issues >= GTFS_MAX_ISSUES)
        return;
    if (f->issues == NULL) {
        f->issues = calloc(GTFS_MAX_ISSUES, sizeof *f->issues);
        if (f->issues == NULL)
            return;
    }
    struct gtfs_issue *is = &f->issues[f->n_issues++];
    snprintf(is->file, sizeof is->file, "%s", file);
    is->line = line;
    is->fatal = fatal;
    snprintf(is->msg, sizeof is->msg, "%s", msg);
}

static void oom(struct loader *L, const char *file)
{
    issue(L, true, file, 0, "out of memory");
}

/* Ensure room for n+1 elements of size sz in *arr (capacity *cap). */
static int grow(void *arrp, size_t *cap, size_t n, size_t sz)
{
    void **arr = arrp;
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 64;
    void *na = realloc(*arr, nc * sz);
    if (na == NULL)
        return -1;
    *arr = na;
    *cap = nc;
    return 0;
}

static char *sdup(const char *s)
{
    return strdup(s ? s : "");
}

static bool parse_double(const char *s, double *out)
{
    char *end;
    while (*s == ' ')
        s++;
    if (*s == '\0')
        return false;
    double v = strtod(s, &end);
    while (*end == ' ')
        end++;
    if (*end != '\0' || !isfinite(v))
        return false;
    *out = v;
    return true;
}

static bool parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    while (*s == ' ')
        s++;
    if (*s == '\0')
        return false;
    long v = strtol(s, &end, 10);
    while (*end == ' ')
        end++;
    if (*end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

int32_t gtfs_parse_time(const char *s)
{
    long h = 0, m, sec;
    int nd = 0;
    while (*s == ' ')
        s++;
    for (; *s >= '0' && *s <= '9' && nd < 4; s++, nd++)
        h = h * 10 + (*s - '0');
    if (nd == 0 || *s++ != ':')
        return -1;
    if (s[0] < '0' || s[0] > '5' || s[1] < '0' || s[1] > '9' || s[2] != ':')
        return -1;
    m = (s[0] - '0') * 10 + (s[1] - '0');
    s += 3;
    if (s[0] < '0' || s[0] > '5' || s[1] < '0' || s[1] > '9')
        return -1;
    sec = (s[0] - '0') * 10 + (s[1] - '0');
    s += 2;
    while (*s == ' ')
        s++;
    if (*s != '\0')
        return -1;
    return (int32_t)(h * 3600 + m * 60 + sec);
}

int gtfs_parse_date(const char *s, int64_t *day)
{
    int v[3] = {0, 0, 0}, w[3] = {4, 2, 2}, k = 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < w[i]; j++, k++) {
            if (s[k] < '0' || s[k] > '9')
                return -1;
            v[i] = v[i] * 10 + (s[k] - '0');
        }
    if (s[k] != '\0' || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31)
        return -1;
    int64_t d = tz_days_from_civil(v[0], v[1], v[2]);
    int y, m, dd;
    tz_civil_from_days(d, &y, &m, &dd);
    if (m != v[1])
        return -1;                         /* 20260230 */
    *day = d;
    return 0;
}

static void *ix_val(uint32_t i)
{
    return (void *)(uintptr_t)(i + 1);
}

static uint32_t ix_get(const struct dict *d, const char *id)
{
    uintptr_t v = d ? (uintptr_t)dict_get(d, id) : 0;
    return v ? (uint32_t)(v - 1) : GTFS_NONE;
}

/* Insert id -> i unless present; returns false (and reports) on duplicate. */
static bool ix_put(struct loader *L, struct dict *d, const char *id, uint32_t i,
                   const char *file, long line, const char *what)
{
    if (dict_get(d, id) != NULL) {
        issue(L, false, file, line, "duplicate %s '%s' (row ignored)", what, id);
        return false;
    }
    int e = 0;
    dict_put(d, id, ix_val(i), &e);
    if (e) {
        oom(L, file);
        return false;
    }
    return true;
}

uint32_t gtfs_stop_find(const struct gtfs *f, const char *id)
{
    return ix_get(f->stop_ix, id);
}

uint32_t gtfs_route_find(const struct gtfs *f, const char *id)
{
    return ix_get(f->route_ix, id);
}

uint32_t gtfs_trip_find(const struct gtfs *f, const char *id)
{
    return ix_get(f->trip_ix, id);
}

const struct gtfs_pattern *gtfs_trip_pattern(const struct gtfs *f, uint32_t trip)
{
    uint32_t p = f->trips[trip].pattern;
    return p == GTFS_NONE ? NULL : &f->patterns[p];
}

/* ---- tables ---- */

/* A csv.h error "<path>/<file>.txt:<line>: <message>": line and message. */
static const char *csv_error(const char *e, long *line)
{
    const char *colon = strstr(e, ".txt:");
    const char *msg = colon ? strchr(colon + 5, ':') : NULL;
    *line = colon ? strtol(colon + 5, NULL, 10) : 0;
    return msg ? msg + 2 : e;
}

/* Open dir/file and read its header. NULL if absent (fatal if required)
 * or unreadable. */
static struct csv *table_open(struct loader *L, const char *file, bool required)
{
    char path[1024], e[300];
    snprintf(path, sizeof path, "%s/%s", L->dir, file);
    struct csv *c = csv_open(path, e, sizeof e);
    L->enc_good = L->enc_bad = L->enc_bad_line = 0;
    if (c == NULL) {
        if (required)
            issue(L, true, file, 0, "cannot open: %s", e);
        return NULL;
    }
    int rc = csv_read_header(c, e, sizeof e);
    if (rc != 1) {
        long line = 0;
        const char *msg = rc < 0 ? csv_error(e, &line) : "empty file (no header)";
        issue(L, required, file, line, "%s", msg);
        csv_free(c);
        return NULL;
    }
    return c;
}

/* Column index, fatal when a required one is missing. */
static int col_req(struct loader *L, struct csv *c, const char *file, const char *name)
{
    int i = csv_col(c, name);
    if (i < 0)
        issue(L, true, file, 1, "required column '%s' missing", name);
    return i;
}

/* The end of a table: a file whose non-ASCII text is mostly not UTF-8
 * is in another encoding (GBK is common in China) and cannot be used
 * row by row; then a CSV syntax error (which ends the table). */
static void table_end(struct loader *L, const char *file, int rc, const char *e)
{
    if (L->enc_bad > L->enc_good)
        issue(L, true, file, L->enc_bad_line, "not UTF-8 (GBK or another encoding?): convert "
              "the file, e.g. iconv -f GBK -t UTF-8 %s > %s.new", file, file);
    if (rc < 0) {
        long line;
        const char *msg = csv_error(e, &line);
        issue(L, true, file, line, "%s", msg);
    }
}

/* Column col of the current row under the string rule (text.h) for a
 * buffer of size bytes, an id's rule when id: 0, or -1 with the reason in
 * e. Non-ASCII fields are counted, UTF-8 or not, for table_end. */
static int field_check(struct loader *L, struct csv *c, int col, const char *name, bool id,
                       size_t size, char *e, size_t elen)
{
    const char *s = csv_get(c, col);
    size_t n = strlen(s), i = 0;          /* csv.c refuses NUL bytes */
    while (i < n && (unsigned char)s[i] < 0x80)
        i++;
    if (i < n && text_utf8_valid(s, n))
        L->enc_good++;
    else if (i < n && L->enc_bad++ == 0)
        L->enc_bad_line = csv_line(c);
    return id ? text_check_id(name, s, n, size, e, elen) : text_check(name, s, n, size, e, elen);
}

/* The row's id in column col, or NULL when it breaks the rule (reported:
 * the row is ignored). */
static const char *row_id(struct loader *L, struct csv *c, const char *file, int col,
                          const char *name)
{
    char e[128];
    if (field_check(L, c, col, name, true, GTFS_ID_SIZE, e, sizeof e) == 0)
        return csv_get(c, col);
    issue(L, false, file, csv_line(c), "%s (row ignored)", e);
    return NULL;
}

/* An optional field kept with the row of `what` `id` (id may be NULL; an
 * id's rule when id_rule, else a name's): "" when absent or when it
 * breaks the rule (reported: the row is kept without it). */
static const char *row_opt(struct loader *L, struct csv *c, const char *file, int col,
                           const char *name, const char *what, const char *id, bool id_rule)
{
    char e[128];
    if (*csv_get(c, col) == '\0' ||
        field_check(L, c, col, name, id_rule, id_rule ? GTFS_ID_SIZE : TEXT_NAME_SIZE, e,
                    sizeof e) == 0)
        return csv_get(c, col);
    if (id != NULL)
        issue(L, false, file, csv_line(c), "%s '%s': %s (left empty)", what, id, e);
    else
        issue(L, false, file, csv_line(c), "%s (left empty)", e);
    return "";
}

static void load_agency(struct loader *L)
{
    static const char *F = "agency.txt";
    struct gtfs *f = L->f;
    struct csv *c = table_open(L, F, true);
    if (c == NULL)
        return;
    int cid = csv_col(c, "agency_id"), cname = csv_col(c, "agency_name");
    int ctz = col_req(L, c, F, "agency_timezone");
    size_t cap = 0;
    char e[300];
    int rc;
    while (ctz >= 0 && (rc = csv_next(c, e, sizeof e)) == 1) {
        const char *zone = csv_get(c, ctz);
        if (grow(&f->agencies, &cap, f->n_agencies, sizeof *f->agencies) < 0) {
            oom(L, F);
            break;
        }
        struct gtfs_agency *a = &f->agencies[f->n_agencies++];
        a->id = sdup(row_opt(L, c, F, cid, "agency_id", NULL, NULL, true));
        const char *who = a->id && *a->id ? a->id : NULL;
        a->name = sdup(row_opt(L, c, F, cname, "agency_name", "agency", who, false));
        a->timezone = sdup(row_opt(L, c, F, ctz, "agency_timezone", "agency", who, true));
        if (f->tz == NULL) {
            f->tz = tz_load(zone, NULL, e, sizeof e);
            if (f->tz == NULL)
                issue(L, true, F, csv_line(c), "agency_timezone: %s", e);
        } else if (strcmp(zone, tz_name(f->tz)) != 0) {
            issue(L, false, F, csv_line(c),
                  "agency_timezone '%s' differs from the first agency's '%s' (first used)",
                  zone, tz_name(f->tz));
        }
    }
    if (ctz >= 0)
        table_end(L, F, rc, e);
    if (!L->failed && f->tz == NULL)
        issue(L, true, F, 0, "no agency");
    csv_free(c);
}

static void load_stops(struct loader *L)
{
    static const char *F = "stops.txt";
    struct gtfs *f = L->f;
    struct csv *c = table_open(L, F, true);
    if (c == NULL)
        return;
    int cid = col_req(L, c, F, "stop_id");
    int clat = csv_col(c, "stop_lat"), clon = csv_col(c, "stop_lon");
    int ccode = csv_col(c, "stop_code"), cname = csv_col(c, "stop_name");
    int ctype = csv_col(c, "location_type");
    size_t cap = 0;
    char e[300];
    int rc = 0;
    f->stop_ix = dict_new();
    while (cid >= 0 && f->stop_ix && (rc = csv_next(c, e, sizeof e)) == 1) {
        long line = csv_line(c), type = 0;
        const char *id = row_id(L, c, F, cid, "stop_id");
        double lat = NAN, lon = NAN;
        if (id == NULL)
            continue;
        if (*csv_get(c, ctype) && !parse_long(csv_get(c, ctype), 0, 4, &type)) {
            issue(L, false, F, line, "location_type '%s' invalid (row ignored)", csv_get(c, ctype));
            continue;
        }
        bool has = parse_double(csv_get(c, clat), &lat) && parse_double(csv_get(c, clon), &lon);
        if ((has && !geo_valid_lonlat(lon, lat)) || (!has && type <= 2)) {
            issue(L, false, F, line, "stop '%s': stop_lat/stop_lon missing or out of range "
                  "(row ignored)", id);
            continue;
        }
        if (grow(&f->stops, &cap, f->n_stops, sizeof *f->stops) < 0) {
            oom(L, F);
            break;
        }
        if (!ix_put(L, f->stop_ix, id, (uint32_t)f->n_stops, F, line, "stop_id"))
            continue;
        struct gtfs_stop *s = &f->stops[f->n_stops++];
        memset(s, 0, sizeof *s);
        s->id = sdup(id);
        s->code = sdup(row_opt(L, c, F, ccode, "stop_code", "stop", id, false));
        s->name = sdup(row_opt(L, c, F, cname, "stop_name", "stop", id, false));
        s->lat = has ? lat : NAN;
        s->lon = has ? lon : NAN;
        s->location_type = (int)type;
    }
    if (f->stop_ix == NULL)
        oom(L, F);
    if (cid >= 0)
        table_end(L, F, rc, e);
    csv_free(c);
}

static void load_routes(struct loader *L)
{
    static const char *F = "routes.txt";
    struct gtfs *f = L->f;
    struct csv *c = table_open(L, F, true);
    if (c == NULL)
        return;
    int cid = col_req(L, c, F, "route_id"), cag = csv_col(c, "agency_id");
    int cs = csv_col(c, "route_short_name"), cl = csv_col(c, "route_long_name");
    int ct = csv_col(c, "route_type");
    size_t cap = 0;
    char e[300];
    int rc = 0;
    f->route_ix = dict_new();
    while (cid >= 0 && f->route_ix && (rc = csv_next(c, e, sizeof e)) == 1) {
        long line = csv_line(c), type = 3;
        const char *id = row_id(L, c, F, cid, "route_id"), *ag;
        if (id == NULL)
            continue;
        ag = row_opt(L, c, F, cag, "agency_id", "route", id, true);
        if (*csv_get(c, ct) && !parse_long(csv_get(c, ct), 0, 1999, &type))
            issue(L, false, F, line, "route_type '%s' invalid", csv_get(c, ct));
        bool known = *ag == '\0' && f->n_agencies == 1;
        for (size_t i = 0; !known && i < f->n_agencies; i++)
            known = strcmp(f->agencies[i].id, ag) == 0;
        if (!known)
            issue(L, false, F, line, "route '%s': agency_id '%s' not in agency.txt", id, ag);
        if (grow(&f->routes, &cap, f->n_routes, sizeof *f->routes) < 0) {
            oom(L, F);
            break;
        }
        if (!ix_put(L, f->route_ix, id, (uint32_t)f->n_routes, F, line, "route_id"))
            continue;
        struct gtfs_route *r = &f->routes[f->n_routes++];
        r->id = sdup(id);
        r->agency_id = sdup(ag);
        r->short_name = sdup(row_opt(L, c, F, cs, "route_short_name", "route", id, false));
        r->long_name = sdup(row_opt(L, c, F, cl, "route_long_name", "route", id, false));
        r->type = (int)type;
    }
    if (f->route_ix == NULL)
        oom(L, F);
    if (cid >= 0)
        table_end(L, F, rc, e);
    csv_free(c);
}

/* Service by id, created on first sight. GTFS_NONE on OOM. */
static uint32_t service_get(struct loader *L, size_t *cap, const char *id)
{
    struct gtfs *f = L->f;
    uint32_t i = ix_get(f->service_ix, id);
    if (i != GTFS_NONE)
        return i;
    int e = 0;
    if (grow(&f->services, cap, f->n_services, sizeof *f->services) < 0)
        return GTFS_NONE;
    i = (uint32_t)f->n_services;
    dict_put(f->service_ix, id, ix_val(i), &e);
    if (e)
        return GTFS_NONE;
    struct gtfs_service *s = &f->services[f->n_services++];
    memset(s, 0, sizeof *s);
    s->id = sdup(id);
    s->start_day = 1;
    s->end_day = 0;
    return i;
}

static void load_calendar(struct loader *L, size_t *cap)
{
    static const char *F = "calendar.txt";
    static const char *days[7] = {"sunday", "monday", "tuesday", "wednesday",
                                  "thursday", "friday", "saturday"};
    struct csv *c = table_open(L, F, false);
    if (c == NULL)
        return;
    int cid = col_req(L, c, F, "service_id");
    int cs = col_req(L, c, F, "start_date"), ce = col_req(L, c, F, "end_date");
    int cd[7];
    for (int i = 0; i < 7; i++)
        cd[i] = col_req(L, c, F, days[i]);
    char e[300];
    int rc = 0;
    while (!L->failed && (rc = csv_next(c, e, sizeof e)) == 1) {
        long line = csv_line(c), v;
        int64_t d0, d1;
        const char *id = row_id(L, c, F, cid, "service_id");
        if (id == NULL)
            continue;
        if (gtfs_parse_date(csv_get(c, cs), &d0) < 0 || gtfs_parse_date(csv_get(c, ce), &d1) < 0) {
            issue(L, false, F, line, "start_date/end_date not YYYYMMDD (row ignored)");
            continue;
        }
        uint8_t mask = 0;
        bool ok = true;
        for (int i = 0; i < 7; i++) {
            ok = ok && parse_long(csv_get(c, cd[i]), 0, 1, &v);
            mask |= (uint8_t)((ok && v) << i);
        }
        if (!ok) {
            issue(L, false, F, line, "weekday columns must be 0 or 1 (row ignored)");
            continue;
        }
        uint32_t s = service_get(L, cap, id);
        if (s == GTFS_NONE) {
            oom(L, F);
            break;
        }
        L->f->services[s].weekdays = mask;
        L->f->services[s].start_day = d0;
        L->f->services[s].end_day = d1;
    }
    if (!L->failed)
        table_end(L, F, rc, e);
    csv_free(c);
}

static int cmp_exception(const void *a, const void *b)
{
    const struct gtfs_service_exception *x = a, *y = b;
    return (x->day > y->day) - (x->day < y->day);
}

static void load_calendar_dates(struct loader *L, size_t *cap)
{
    static const char *F = "calendar_dates.txt";
    struct gtfs *f = L->f;
    struct csv *c = table_open(L, F, false);
    if (c == NULL)
        return;
    int cid = col_req(L, c, F, "service_id"), cd = col_req(L, c, F, "date");
    int ct = col_req(L, c, F, "exception_type");
    char e[300];
    int rc = 0;
    while (!L->failed && (rc = csv_next(c, e, sizeof e)) == 1) {
        long line = csv_line(c), type;
        int64_t day;
        const char *id = row_id(L, c, F, cid, "service_id");
        if (id == NULL)
            continue;
        if (gtfs_parse_date(csv_get(c, cd), &day) < 0 ||
            !parse_long(csv_get(c, ct), 1, 2, &type)) {
            issue(L, false, F, line, "date must be YYYYMMDD and exception_type 1 or 2 "
                  "(row ignored)");
            continue;
        }
        uint32_t s = service_get(L, cap, id);
        if (s == GTFS_NONE)
            break;
        struct gtfs_service *sv = &f->services[s];
        size_t have = sv->n_ex;
        if (have == 0 || (have >= 4 && (have & (have - 1)) == 0)) {
            /* Capacity is implied: 4, then doubling at powers of two. */
            void *na = realloc(sv->ex, (have ? have * 2 : 4) * sizeof *sv->ex);
            if (na == NULL)
                break;
            sv->ex = na;
        }
        sv->ex[sv->n_ex].day = day;
        sv->ex[sv->n_ex].type = (uint8_t)type;
        sv->n_ex++;
    }
    if (rc == 1 && !L->failed)
        oom(L, F);
    else if (!L->failed)
        table_end(L, F, rc, e);
    for (size_t i = 0; i < f->n_services; i++)
        if (f->services[i].n_ex > 1)
            qsort(f->services[i].ex, f->services[i].n_ex, sizeof *f->services[i].ex,
                  cmp_exception);
    csv_free(c);
}

/* ---- shapes ---- */

struct shape_row {
    uint32_t shape, seq, line;
    double lat, lon, dist;                /* dist NAN when not given */
};

static int cmp_shape_row(const void *a, const void *b)
{
    const struct shape_row *x = a, *y = b;
    if (x->shape != y->shape)
        return x->shape < y->shape ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Build one shape's line from its sorted rows. */
static void shape_build(struct loader *L, struct gtfs_shape *s, const struct shape_row *r,
                        size_t n)
{
    static const char *F = "shapes.txt";
    struct geo_pt *pts = malloc(n * sizeof *pts);
    double *fd = malloc(n * sizeof *fd);
    bool have_fd = true;
    size_t k = 0;
    if (pts == NULL || fd == NULL) {
        oom(L, F);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && r[i].seq == r[i - 1].seq) {
            issue(L, false, F, r[i].line, "shape '%s': duplicate shape_pt_sequence %u "
                  "(row ignored)", s->id, r[i].seq);
            continue;
        }
        have_fd = have_fd && !isnan(r[i].dist) && (k == 0 || r[i].dist >= fd[k - 1]);
        if (k > 0 && pts[k - 1].lon == r[i].lon && pts[k - 1].lat == r[i].lat)
            continue;                      /* repeated point: no length, no use */
        pts[k].lon = r[i].lon;
        pts[k].lat = r[i].lat;
        fd[k++] = r[i].dist;
    }
    s->line = k >= 2 ? geo_line_new(L->f->geo, pts, k) : NULL;
    if (s->line == NULL) {
        issue(L, false, F, r[0].line, "shape '%s': fewer than two distinct valid points "
              "(trips on it use straight lines between stops)", s->id);
        goto out;
    }
    if (have_fd && fd[k - 1] > fd[0]) {
        s->feed_dist = fd;
        fd = NULL;
    }
out:
    free(pts);
    free(fd);
}

static void load_shapes(struct loader *L)
{
    static const char *F = "shapes.txt";
    struct gtfs *f = L->f;
    struct shape_row *rows = NULL;
    size_t n = 0, cap = 0, scap = 0;
    char e[300];
    int rc = 0;
    f->shape_ix = dict_new();
    struct csv *c = f->shape_ix ? table_open(L, F, false) : NULL;
    if (c == NULL)
        return;
    int cid = col_req(L, c, F, "shape_id"), clat = col_req(L, c, F, "shape_pt_lat");
    int clon = col_req(L, c, F, "shape_pt_lon"), cseq = col_req(L, c, F, "shape_pt_sequence");
    int cdist = csv_col(c, "shape_dist_traveled");
    while (!L->failed && (rc = csv_next(c, e, sizeof e)) == 1) {
        long line = csv_line(c), seq;
        double lat, lon, dist = NAN;
        const char *id = row_id(L, c, F, cid, "shape_id");
        if (id == NULL)
            continue;
        if (!parse_double(csv_get(c, clat), &lat) ||
            !parse_double(csv_get(c, clon), &lon) || !geo_valid_lonlat(lon, lat) ||
            !parse_long(csv_get(c, cseq), 0, UINT32_MAX - 1, &seq)) {
            issue(L, false, F, line, "shape_pt_lat/lon or shape_pt_sequence missing or "
                  "invalid (row ignored)");
            continue;
        }
        if (*csv_get(c, cdist) && !parse_double(csv_get(c, cdist), &dist))
            issue(L, false, F, line, "shape_dist_traveled '%s' invalid", csv_get(c, cdist));
        uint32_t s = ix_get(f->shape_ix, id);
        if (s == GTFS_NONE) {
            int de = 0;
            if (grow(&f->shapes, &scap, f->n_shapes, sizeof *f->shapes) < 0)
                break;
            s = (uint32_t)f->n_shapes;
            dict_put(f->shape_ix, id, ix_val(s), &de);
            if (de)
                break;
            memset(&f->shapes[s], 0, sizeof f->shapes[s]);
            f->shapes[s].id = sdup(id);
            f->n_shapes++;
        }
        if (grow(&rows, &cap, n, sizeof *rows) < 0)
            break;
        rows[n++] = (struct shape_row){s, (uint32_t)seq, (uint32_t)line, lat, lon, dist};
    }
    if (rc == 1 && !L->failed)
        oom(L, F);
    else if (!L->failed)
        table_end(L, F, rc, e);
    csv_free(c);
    if (n > 1)
        qsort(rows, n, sizeof *rows, cmp_shape_row);
    for (size_t i = 0, j; !L->failed && i < n; i = j) {
        for (j = i + 1; j < n && rows[j].shape == rows[i].shape; j++)
            ;
        shape_build(L, &f->shapes[rows[i].shape], rows + i, j - i);
    }
    free(rows);
}

/* ---- trips ---- */

static void load_trips(struct loader *L, uint32_t **trip_shape)
{
    static const char *F = "trips.txt";
    struct gtfs *f = L->f;
    struct csv *c = table_open(L, F, true);
    if (c == NULL)
        return;
    int cr = col_req(L, c, F, "route_id"), cs = col_req(L, c, F, "service_id");
    int cid = col_req(L, c, F, "trip_id"), csh = csv_col(c, "shape_id");
    int cdir = csv_col(c, "direction_id"), cb = csv_col(c, "block_id");
    int ch = csv_col(c, "trip_headsign");
    size_t cap = 0, scap = 0;
    char e[300];
    int rc = 0;
    f->trip_ix = dict_new();
    while (!L->failed && f->trip_ix && (rc = csv_next(c, e, sizeof e)) == 1) {
        long line = csv_line(c), dir = -1;
        const char *id = row_id(L, c, F, cid, "trip_id"), *sh = csv_get(c, csh);
        uint32_t route = ix_get(f->route_ix, csv_get(c, cr));
        uint32_t service = ix_get(f->service_ix, csv_get(c, cs));
        uint32_t shape = *sh ? ix_get(f->shape_ix, sh) : GTFS_NONE;
        if (id == NULL)
            continue;
        if (route == GTFS_NONE || service == GTFS_NONE) {
            issue(L, false, F, line, "trip '%s': %s '%s' not defined (row ignored)", id,
                  route == GTFS_NONE ? "route_id" : "service_id",
                  route == GTFS_NONE ? csv_get(c, cr) : csv_get(c, cs));
            continue;
        }
        if (*sh && shape == GTFS_NONE)
            issue(L, false, F, line, "trip '%s': shape_id '%s' not in shapes.txt "
                  "(straight lines between stops used)", id, sh);
        if (*csv_get(c, cdir) && !parse_long(csv_get(c, cdir), 0, 1, &dir))
            issue(L, false, F, line, "direction_id '%s' invalid", csv_get(c, cdir));
        if (grow(&f->trips, &cap, f->n_trips, sizeof *f->trips) < 0 ||
            grow(trip_shape, &scap, f->n_trips, sizeof **trip_shape) < 0) {
            oom(L, F);
            break;
        }
        if (!ix_put(L, f->trip_ix, id, (uint32_t)f->n_trips, F, line, "trip_id"))
            continue;
        (*trip_shape)[f->n_trips] = shape;
        struct gtfs_trip *t = &f->trips[f->n_trips++];
        memset(t, 0, sizeof *t);
        t->id = sdup(id);
        t->headsign = sdup(row_opt(L, c, F, ch, "trip_headsign", "trip", id, false));
        t->block_id = sdup(row_opt(L, c, F, cb, "block_id", "trip", id, true));
        t->route = route;
        t->service = service;
        t->pattern = GTFS_NONE;
        t->direction_id = (int)dir;
    }
    if (f->trip_ix == NULL)
        oom(L, F);
    if (!L->failed)
        table_end(L, F, rc, e);
    csv_free(c);
}

/* ---- stop_times ---- */

struct st_row {
    uint32_t trip, seq, stop, line;
    int32_t arr, dep;                     /* GTFS_NO_TIME when empty */
    double dist;                          /* feed's shape_dist_traveled or NAN */
    uint8_t pickup, drop_off, timepoint;
};

static int cmp_st_row(const void *a, const void *b)
{
    const struct st_row *x = a, *y = b;
    if (x->trip != y->trip)
        return x->trip < y->trip ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* A stop time, GTFS_NO_TIME when empty; one that does not parse or is
 * past GTFS_MAX_TIME_S is reported and treated as empty. */
static int32_t st_time(struct loader *L, long line, const char *col, const char *s)
{
    if (*s == '\0')
        return GTFS_NO_TIME;
    int32_t t = gtfs_parse_time(s);
    if (t == -1)
        issue(L, false, "stop_times.txt", line, "%s '%s' is not H:MM:SS (treated as empty)",
              col, s);
    else if (t > GTFS_MAX_TIME_S)
        issue(L, false, "stop_times.txt", line, "%s '%s' is past %d:00:00 (treated as empty)",
              col, s, GTFS_MAX_TIME_S / 3600);
    else
        return t;
    return GTFS_NO_TIME;
}

/* One stop_times row -> st_row; false (reported) when it must be skipped. */
static bool st_parse(struct loader *L, struct csv *c, const int *col, struct st_row *r)
{
    static const char *F = "stop_times.txt";
    struct gtfs *f = L->f;
    long line = csv_line(c), seq, pk = 0, dr = 0;
    const char *tid = csv_get(c, col[0]), *sid = csv_get(c, col[1]);
    const char *ta = csv_get(c, col[3]), *td = csv_get(c, col[4]);
    r->trip = ix_get(f->trip_ix, tid);
    r->stop = ix_get(f->stop_ix, sid);
    r->line = (uint32_t)line;
    if (r->trip == GTFS_NONE || r->stop == GTFS_NONE) {
        issue(L, false, F, line, "%s '%s' not defined (row ignored)",
              r->trip == GTFS_NONE ? "trip_id" : "stop_id", r->trip == GTFS_NONE ? tid : sid);
        return false;
    }
    if (!parse_long(csv_get(c, col[2]), 0, UINT32_MAX - 1, &seq)) {
        issue(L, false, F, line, "stop_sequence '%s' invalid (row ignored)", csv_get(c, col[2]));
        return false;
    }
    r->seq = (uint32_t)seq;
    r->arr = st_time(L, line, "arrival_time", ta);
    r->dep = st_time(L, line, "departure_time", td);
    if (r->arr == GTFS_NO_TIME)
        r->arr = r->dep;
    if (r->dep == GTFS_NO_TIME)
        r->dep = r->arr;
    if ((*csv_get(c, col[5]) && !parse_long(csv_get(c, col[5]), 0, 3, &pk)) ||
        (*csv_get(c, col[6]) && !parse_long(csv_get(c, col[6]), 0, 3, &dr)))
        issue(L, false, F, line, "pickup_type/drop_off_type invalid (0 used)");
    r->pickup = (uint8_t)pk;
    r->drop_off = (uint8_t)dr;
    /* Without the column, a stop with times is a timepoint (GTFS). */
    long tp = r->arr != GTFS_NO_TIME;
    if (*csv_get(c, col[8]) && !parse_long(csv_get(c, col[8]), 0, 1, &tp))
        issue(L, false, F, line, "timepoint '%s' invalid (0 or 1)", csv_get(c, col[8]));
    r->timepoint = (uint8_t)tp;
    r->dist = NAN;
    if (*csv_get(c, col[7]) && !parse_double(csv_get(c, col[7]), &r->dist))
        issue(L, false, F, line, "shape_dist_traveled '%s' invalid", csv_get(c, col[7]));
    return true;
}

static struct st_row *read_stop_times(struct loader *L, size_t *n_out)
{
    static const char *F = "stop_times.txt";
    struct st_row *rows = NULL;
    size_t n = 0, cap = 0;
    char e[300];
    int rc = 0;
    struct csv *c = table_open(L, F, true);
    if (c == NULL)
        return NULL;
    int col[9] = {col_req(L, c, F, "trip_id"), col_req(L, c, F, "stop_id"),
                  col_req(L, c, F, "stop_sequence"), csv_col(c, "arrival_time"),
                  csv_col(c, "departure_time"), csv_col(c, "pickup_type"),
                  csv_col(c, "drop_off_type"), csv_col(c, "shape_dist_traveled"),
                  csv_col(c, "timepoint")};
    if (col[3] < 0 && col[4] < 0)
        issue(L, true, F, 1, "required column 'arrival_time' missing");
    while (!L->failed && (rc = csv_next(c, e, sizeof e)) == 1) {
        if (grow(&rows, &cap, n, sizeof *rows) < 0)
            break;
        if (st_parse(L, c, col, &rows[n]))
            n++;
    }
    if (rc == 1 && !L->failed)
        oom(L, F);
    else if (!L->failed)
        table_end(L, F, rc, e);
    csv_free(c);
    if (n > 1)
        qsort(rows, n, sizeof *rows, cmp_st_row);
    *n_out = n;
    return rows;
}

/* Per-pattern facts only needed while loading. */
struct pat_extra {
    uint32_t *lines;                      /* stop_times line per stop (first trip) */
    bool feed_dist;                       /* stop distances come from the feed */
    double *fd;                           /* the feed's values (owned) */
};

struct pat_build {
    struct dict *ix;                      /* key -> index+1 */
    struct pat_extra *extra;
    size_t cap, ecap;
    char *key;
    size_t key_cap;
};

static int key_append(struct pat_build *b, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int key_append(struct pat_build *b, size_t *len, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->key + *len, b->key_cap - *len, fmt, ap);
        va_end(ap);
        if (k < 0)
            return -1;
        if ((size_t)k < b->key_cap - *len) {
            *len += (size_t)k;
            return 0;
        }
        size_t nc = b->key_cap * 2 + (size_t)k + 64;
        char *nk = realloc(b->key, nc);
        if (nk == NULL)
            return -1;
        b->key = nk;
        b->key_cap = nc;
    }
}

/* The pattern for a trip's rows: found by key or created. */
static uint32_t pattern_for(struct loader *L, struct pat_build *b, uint32_t shape,
                            const struct st_row *r, size_t n)
{
    struct gtfs *f = L->f;
    bool fd = shape != GTFS_NONE && f->shapes[shape].feed_dist != NULL;
    for (size_t i = 0; fd && i < n; i++)
        fd = !isnan(r[i].dist);
    size_t len = 0;
    if (b->key_cap == 0 && (b->key = malloc(b->key_cap = 256)) == NULL)
        return GTFS_NONE;
    b->key[0] = '\0';
    if (key_append(b, &len, "%ld|", shape == GTFS_NONE ? -1L : (long)shape) < 0)
        return GTFS_NONE;
    for (size_t i = 0; i < n; i++)
        if (key_append(b, &len, "%u:%u:%u%u%u", r[i].stop, r[i].seq, r[i].pickup,
                       r[i].drop_off, r[i].timepoint) < 0 ||
            (fd && key_append(b, &len, ":%.17g", r[i].dist) < 0) ||
            key_append(b, &len, ",") < 0)
            return GTFS_NONE;
    uint32_t p = ix_get(b->ix, b->key);
    if (p != GTFS_NONE)
        return p;
    if (grow(&f->patterns, &b->cap, f->n_patterns, sizeof *f->patterns) < 0 ||
        grow(&b->extra, &b->ecap, f->n_patterns, sizeof *b->extra) < 0)
        return GTFS_NONE;
    p = (uint32_t)f->n_patterns;
    struct gtfs_pattern *pt = &f->patterns[p];
    struct pat_extra *x = &b->extra[p];
    memset(pt, 0, sizeof *pt);
    memset(x, 0, sizeof *x);
    f->n_patterns++;
    pt->shape = shape;
    pt->n = (uint32_t)n;
    pt->stops = malloc(n * sizeof *pt->stops);
    pt->seq = malloc(n * sizeof *pt->seq);
    pt->dist_m = calloc(n, sizeof *pt->dist_m);
    pt->off_m = calloc(n, sizeof *pt->off_m);
    pt->pickup = malloc(n);
    pt->drop_off = malloc(n);
    pt->timepoint = malloc(n);
    x->fd = fd ? malloc(n * sizeof *x->fd) : NULL;
    x->lines = malloc(n * sizeof *x->lines);
    x->feed_dist = fd;
    if (!pt->stops || !pt->seq || !pt->dist_m || !pt->off_m || !pt->pickup ||
        !pt->drop_off || !pt->timepoint || (fd && !x->fd) || !x->lines)
        return GTFS_NONE;
    for (size_t i = 0; i < n; i++) {
        pt->stops[i] = r[i].stop;
        pt->seq[i] = r[i].seq;
        pt->pickup[i] = r[i].pickup;
        pt->drop_off[i] = r[i].drop_off;
        pt->timepoint[i] = r[i].timepoint;
        x->lines[i] = r[i].line;
        if (fd)
            x->fd[i] = r[i].dist;
    }
    int e = 0;
    dict_put(b->ix, b->key, ix_val(p), &e);
    return e ? GTFS_NONE : p;
}

/* Times of one trip from its rows, clamped into time order. false when
 * the trip cannot be used (reported). */
static bool trip_times(struct loader *L, struct gtfs_trip *t, const struct st_row *r, size_t n)
{
    static const char *F = "stop_times.txt";
    if (r[0].arr == GTFS_NO_TIME || r[n - 1].arr == GTFS_NO_TIME) {
        issue(L, false, F, r[r[0].arr == GTFS_NO_TIME ? 0 : n - 1].line,
              "trip '%s': first and last stop need times (trip ignored)", t->id);
        return false;
    }
    t->arr = malloc(n * sizeof *t->arr);
    t->dep = malloc(n * sizeof *t->dep);
    if (t->arr == NULL || t->dep == NULL) {
        oom(L, F);
        return false;
    }
    int32_t last = r[0].arr;
    for (size_t i = 0; i < n; i++) {
        int32_t a = r[i].arr, d = r[i].dep;
        if (a != GTFS_NO_TIME && a < last) {
            issue(L, false, F, r[i].line, "trip '%s': arrival_time before the previous "
                  "departure (moved to it)", t->id);
            a = last;
        }
        if (d != GTFS_NO_TIME && a != GTFS_NO_TIME && d < a) {
            issue(L, false, F, r[i].line, "trip '%s': departure_time before arrival_time "
                  "(moved to it)", t->id);
            d = a;
        }
        t->arr[i] = a;
        t->dep[i] = d;
        if (d != GTFS_NO_TIME)
            last = d;
    }
    return true;
}

static void build_trips(struct loader *L, const uint32_t *trip_shape, struct pat_build *b)
{
    static const char *F = "stop_times.txt";
    struct gtfs *f = L->f;
    size_t n = 0;
    struct st_row *rows = read_stop_times(L, &n);
    uint8_t *seen = calloc(f->n_trips + 1, 1);
    if (seen == NULL)
        oom(L, F);
    for (size_t i = 0, j; !L->failed && i < n; i = j) {
        seen[rows[i].trip] = 1;
        /* One trip's rows [i, j), in stop_sequence order; duplicates of a
         * stop_sequence are dropped in place. */
        size_t k = i + 1;
        for (j = i + 1; j < n && rows[j].trip == rows[i].trip; j++) {
            if (rows[j].seq == rows[k - 1].seq)
                issue(L, false, F, rows[j].line, "trip '%s': duplicate stop_sequence %u "
                      "(row ignored)", f->trips[rows[i].trip].id, rows[j].seq);
            else
                rows[k++] = rows[j];
        }
        struct gtfs_trip *t = &f->trips[rows[i].trip];
        if (k - i < 2) {
            issue(L, false, F, rows[i].line, "trip '%s' has fewer than two stops (ignored)",
                  t->id);
            continue;
        }
        if (!trip_times(L, t, rows + i, k - i))
            continue;
        t->pattern = pattern_for(L, b, trip_shape[rows[i].trip], rows + i, k - i);
        if (t->pattern == GTFS_NONE)
            oom(L, F);
    }
    free(rows);
    for (size_t i = 0; seen && !L->failed && i < f->n_trips; i++)
        if (!seen[i])
            issue(L, false, "trips.txt", 0, "trip '%s' has no stop_times (ignored)",
                  f->trips[i].id);
    free(seen);
}

/* ---- placing stops along shapes ---- */

struct cand {
    double d, off, cost;
    size_t prev;                          /* index of the chosen predecessor */
};

struct cands {
    struct cand *c;
    size_t n, cap;
};

static int cand_push(struct cands *cs, double d, double off)
{
    if (grow(&cs->c, &cs->cap, cs->n, sizeof *cs->c) < 0)
        return -1;
    cs->c[cs->n++] = (struct cand){d, off, INFINITY, SIZE_MAX};
    return 0;
}

/* Places of point p on the pattern's line: one per stretch of the line
 * that passes within radius_m. Stretches come from a cheap scan of vertex
 * distances in the projection and are split where the line turns away
 * and comes back (a vertex farther than both neighbours), so the two legs
 * of a turn-back give two places; each stretch is then located exactly
 * through geo.h. */
double gtfs_sched_dist(const struct gtfs *f, uint32_t trip, double s)
{
    const struct gtfs_trip *tr = &f->trips[trip];
    const struct gtfs_pattern *pt = &f->patterns[tr->pattern];
    if (s <= tr->dep[0])
        return pt->dist_m[0];
    for (uint32_t k = 0; k + 1 < pt->n; k++) {
        if (s <= tr->dep[k])
            return pt->dist_m[k];
        if (s < tr->arr[k + 1]) {
            double fr = (s - tr->dep[k]) / (double)(tr->arr[k + 1] - tr->dep[k]);
            return pt->dist_m[k] + fr * (pt->dist_m[k + 1] - pt->dist_m[k]);
        }
    }
    return pt->dist_m[pt->n - 1];
}

double gtfs_sched_time(const struct gtfs *f, uint32_t trip, double d)
{
    const struct gtfs_trip *tr = &f->trips[trip];
    const struct gtfs_pattern *pt = &f->patterns[tr->pattern];
    if (d <= pt->dist_m[0])
        return tr->dep[0];
    for (uint32_t k = 0; k + 1 < pt->n; k++) {
        if (d < pt->dist_m[k + 1]) {
            double len = pt->dist_m[k + 1] - pt->dist_m[k];
            double fr = len > 0 ? (d - pt->dist_m[k]) / len : 0;
            return tr->dep[k] + fr * (tr->arr[k + 1] - tr->dep[k]);
        }
    }
    return tr->arr[pt->n - 1];
}

double gtfs_line_heading(const struct gtfs_pattern *pt, double d)
{
    const struct geo_line *ln = pt->line;
    const struct geo_xy *xy = pt->xy;
    if (ln == NULL || xy == NULL || ln->n < 2)
        return NAN;
    size_t lo = 0, hi = ln->n - 1;             /* segment [lo, lo + 1] holding d */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (ln->cum_m[mid] <= d)
            lo = mid;
        else
            hi = mid;
    }
    /* Skip zero-length segments (repeated shape points). */
    while (lo + 2 < ln->n && xy[lo + 1].x == xy[lo].x && xy[lo + 1].y == xy[lo].y)
        lo++;
    double h = atan2(xy[lo + 1].x - xy[lo].x, xy[lo + 1].y - xy[lo].y) * 180.0 / M_PI;
    return h < 0 ? h + 360 : h;
}

size_t gtfs_line_places(const struct gtfs *f, const struct gtfs_pattern *pt, struct geo_pt p,
                        double radius_m, double from_m, double to_m, struct gtfs_place *out,
                        size_t max)
{
    const struct geo_line *ln = pt->line;
    const struct geo_xy *xy = pt->xy;
    if (ln == NULL || xy == NULL || max == 0)
        return 0;
    struct geo_xy q = geo_project(geo_projection(f->geo), p.lon, p.lat);
    size_t V = ln->n, found = 0;
    /* First segment that reaches from_m. */
    size_t lo = 0, hi = V - 1;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (ln->cum_m[mid] <= from_m)
            lo = mid;
        else
            hi = mid;
    }
#define VD(j) hypot(xy[j].x - q.x, xy[j].y - q.y)
#define FAR(j) (fmin(VD(j), VD((j) + 1)) - (ln->cum_m[(j) + 1] - ln->cum_m[j]) / 2 > radius_m)
    for (size_t a = lo; a + 1 < V && ln->cum_m[a] <= to_m && found < max;) {
        if (FAR(a)) {
            a++;
            continue;
        }
        size_t b = a;                     /* last segment of the stretch */
        while (b + 2 < V && ln->cum_m[b + 1] <= to_m && !FAR(b + 1) &&
               !(VD(b + 1) > VD(b) && VD(b + 1) > VD(b + 2)))
            b++;
        double off, d = geo_line_locate_range(f->geo, ln, p, fmax(ln->cum_m[a], from_m),
                                              fmin(ln->cum_m[b + 1], to_m), &off);
        if (!isnan(d) && off <= radius_m)
            out[found++] = (struct gtfs_place){d, off};
        a = b + 1;
    }
#undef FAR
#undef VD
    return found;
}

/* Link stop i's candidates [from, cs->n) to the cheapest compatible ones
 * of stop i-1 [pfrom, from): cost = sum of squared offsets, distances
 * non-decreasing. Returns the number of feasible candidates. */
static size_t dp_link(struct cands *cs, size_t pfrom, size_t from, bool first)
{
    size_t feasible = 0;
    for (size_t k = from; k < cs->n; k++) {
        struct cand *c = &cs->c[k];
        double best = first ? 0 : INFINITY;
        for (size_t j = pfrom; !first && j < from; j++)
            if (cs->c[j].cost < best && cs->c[j].d <= c->d + 0.5) {
                best = cs->c[j].cost;
                c->prev = j;
            }
        c->cost = best + c->off * c->off;
        feasible += isfinite(c->cost);
    }
    return feasible;
}

#define GTFS_MAX_PLACES 16

/* Candidates of one stop: its places near the line, or failing that the
 * closest place at all. */
static int stop_candidates(struct gtfs *f, const struct gtfs_pattern *pt, struct geo_pt p,
                           struct cands *cs)
{
    struct gtfs_place pl[GTFS_MAX_PLACES];
    size_t n = gtfs_line_places(f, pt, p, GTFS_CANDIDATE_M, 0, pt->line->length_m, pl,
                                GTFS_MAX_PLACES);
    for (size_t i = 0; i < n; i++)
        if (cand_push(cs, pl[i].d, pl[i].off) < 0)
            return -1;
    if (n == 0) {
        double off, d = geo_line_locate(f->geo, pt->line, p, &off);
        if (cand_push(cs, isnan(d) ? 0 : d, isnan(off) ? 1e9 : off) < 0)
            return -1;
    }
    return 0;
}

static int project_stops(struct gtfs *f, struct gtfs_pattern *pt)
{
    const struct geo_line *ln = pt->line;
    size_t *start = malloc((pt->n + 1) * sizeof *start);
    struct cands cs = {0};
    int rc = -1;
    if (start == NULL)
        goto out;
    for (uint32_t i = 0; i < pt->n; i++) {
        const struct gtfs_stop *s = &f->stops[pt->stops[i]];
        struct geo_pt p = {s->lon, s->lat};
        start[i] = cs.n;
        if (stop_candidates(f, pt, p, &cs) < 0)
            goto out;
        if (dp_link(&cs, i ? start[i - 1] : 0, start[i], i == 0) > 0)
            continue;
        /* No candidate keeps the order (the shape misses a stretch): the
         * closest place beyond the earliest feasible previous one. */
        double dmin = INFINITY, off;
        for (size_t j = start[i - 1]; j < start[i]; j++)
            if (isfinite(cs.c[j].cost))
                dmin = fmin(dmin, cs.c[j].d);
        double d = geo_line_locate_range(f->geo, ln, p, dmin, ln->length_m, &off);
        if (cand_push(&cs, isnan(d) ? dmin : d, isnan(off) ? 1e9 : off) < 0)
            goto out;
        dp_link(&cs, start[i - 1], cs.n - 1, false);
    }
    start[pt->n] = cs.n;
    size_t best = SIZE_MAX;
    for (size_t k = start[pt->n - 1]; k < cs.n; k++)
        if (best == SIZE_MAX || cs.c[k].cost < cs.c[best].cost)
            best = k;
    for (uint32_t i = pt->n; i-- > 0; best = cs.c[best].prev) {
        pt->dist_m[i] = cs.c[best].d;
        pt->off_m[i] = cs.c[best].off;
    }
    rc = 0;
out:
    free(start);
    free(cs.c);
    return rc;
}

/* Projected vertices of a line (for gtfs_line_places). */
static struct geo_xy *project_line(struct gtfs *f, const struct geo_line *ln)
{
    struct geo_xy *xy = malloc(ln->n * sizeof *xy);
    for (size_t j = 0; xy && j < ln->n; j++)
        xy[j] = geo_project(geo_projection(f->geo), ln->pts[j].lon, ln->pts[j].lat);
    return xy;
}

/* Feed shape_dist_traveled (feed units) -> metres along the line, by
 * interpolating between the shape points' own values. */
static void feed_dist_to_m(struct gtfs *f, struct gtfs_pattern *pt, const double *fd)
{
    const struct gtfs_shape *sh = &f->shapes[pt->shape];
    const struct geo_line *ln = sh->line;
    for (uint32_t i = 0; i < pt->n; i++) {
        double v = fd[i], m;
        size_t lo = 0, hi = ln->n - 1;
        if (v <= sh->feed_dist[0]) {
            m = 0;
        } else if (v >= sh->feed_dist[hi]) {
            m = ln->length_m;
        } else {
            while (hi - lo > 1) {
                size_t mid = (lo + hi) / 2;
                if (sh->feed_dist[mid] <= v)
                    lo = mid;
                else
                    hi = mid;
            }
            double span = sh->feed_dist[hi] - sh->feed_dist[lo];
            double fr = span > 0 ? (v - sh->feed_dist[lo]) / span : 0;
            m = ln->cum_m[lo] + fr * (ln->cum_m[hi] - ln->cum_m[lo]);
        }
        const struct gtfs_stop *s = &f->stops[pt->stops[i]];
        struct geo_pt at = geo_line_point_at(ln, m);
        pt->dist_m[i] = m;
        pt->off_m[i] = geo_distance_m(s->lon, s->lat, at.lon, at.lat);
    }
}

/* A straight line through the stops, for trips without a usable shape. */
static int synthetic_line(struct gtfs *f, struct gtfs_pattern *pt)
{
    struct geo_pt *pts = malloc(pt->n * sizeof *pts);
    size_t *vx = malloc(pt->n * sizeof *vx), k = 0;
    int rc = -1;
    if (pts == NULL || vx == NULL)
        goto out;
    for (uint32_t i = 0; i < pt->n; i++) {
        const struct gtfs_stop *s = &f->stops[pt->stops[i]];
        if (k == 0 || pts[k - 1].lon != s->lon || pts[k - 1].lat != s->lat)
            pts[k++] = (struct geo_pt){s->lon, s->lat};
        vx[i] = k - 1;
    }
    pt->own_line = geo_line_new(f->geo, pts, k);
    pt->line = pt->own_line;
    for (uint32_t i = 0; pt->line && i < pt->n; i++)
        pt->dist_m[i] = pt->line->cum_m[vx[i]];
    rc = pt->line ? 0 : -1;
out:
    free(pts);
    free(vx);
    return rc;
}

static void place_pattern(struct loader *L, uint32_t p, const struct pat_extra *x)
{
    static const char *F = "stop_times.txt";
    struct gtfs *f = L->f;
    struct gtfs_pattern *pt = &f->patterns[p];
    if (pt->shape != GTFS_NONE && f->shapes[pt->shape].line != NULL) {
        struct gtfs_shape *sh = &f->shapes[pt->shape];
        pt->line = sh->line;
        if (sh->xy == NULL && (sh->xy = project_line(f, sh->line)) == NULL) {
            oom(L, F);
            return;
        }
        pt->xy = sh->xy;
        if (x->feed_dist)
            feed_dist_to_m(f, pt, x->fd);
        else if (project_stops(f, pt) < 0)
            oom(L, F);
    } else if (synthetic_line(f, pt) < 0) {
        issue(L, false, F, x->lines[0], "stops of the trip starting here are all at one place: "
              "no line to match vehicles on");
        return;
    } else if ((pt->own_xy = project_line(f, pt->line)) == NULL) {
        oom(L, F);
        return;
    } else {
        pt->xy = pt->own_xy;
    }
    for (uint32_t i = 0; i < pt->n; i++) {
        if (i > 0 && pt->dist_m[i] < pt->dist_m[i - 1])
            pt->dist_m[i] = pt->dist_m[i - 1];
        if (pt->off_m[i] > GTFS_STOP_FAR_M)
            issue(L, false, F, x->lines[i], "stop '%s' (stop_sequence %u) is %.0f m from shape "
                  "'%s'", f->stops[pt->stops[i]].id, pt->seq[i], pt->off_m[i],
                  pt->shape != GTFS_NONE ? f->shapes[pt->shape].id : "");
    }
}

/* Non-timepoint stops without times: interpolated by distance between
 * the timed stops around them (by position when they coincide). */
static void interpolate_times(struct gtfs *f, struct gtfs_trip *t)
{
    const struct gtfs_pattern *pt = &f->patterns[t->pattern];
    uint32_t a = 0;
    for (uint32_t i = 1; i < pt->n; i++) {
        if (t->arr[i] == GTFS_NO_TIME)
            continue;
        if (i > a + 1) {
            double span = pt->dist_m[i] - pt->dist_m[a];
            for (uint32_t k = a + 1; k < i; k++) {
                double fr = span > 0 ? (pt->dist_m[k] - pt->dist_m[a]) / span
                                     : (double)(k - a) / (i - a);
                t->arr[k] = t->dep[k] =
                    t->dep[a] + (int32_t)lround(fr * (t->arr[i] - t->dep[a]));
            }
        }
        a = i;
    }
}

/* ---- stop visits ---- */

static int cmp_visit(const void *a, const void *b)
{
    const struct gtfs_visit *x = a, *y = b;
    if (x->arr != y->arr)
        return x->arr < y->arr ? -1 : 1;
    return (x->trip > y->trip) - (x->trip < y->trip);
}

static int build_visits(struct gtfs *f)
{
    size_t total = 0;
    for (size_t i = 0; i < f->n_trips; i++)
        if (f->trips[i].pattern != GTFS_NONE)
            total += f->patterns[f->trips[i].pattern].n;
    f->visits = malloc((total + 1) * sizeof *f->visits);
    if (f->visits == NULL)
        return -1;
    for (size_t i = 0; i < f->n_trips; i++) {
        const struct gtfs_trip *t = &f->trips[i];
        for (uint32_t k = 0; t->pattern != GTFS_NONE && k < f->patterns[t->pattern].n; k++)
            f->stops[f->patterns[t->pattern].stops[k]].n_visits++;
    }
    uint32_t at = 0;
    for (size_t s = 0; s < f->n_stops; s++) {
        f->stops[s].visit_first = at;
        at += f->stops[s].n_visits;
        f->stops[s].n_visits = 0;
    }
    for (size_t i = 0; i < f->n_trips; i++) {
        const struct gtfs_trip *t = &f->trips[i];
        for (uint32_t k = 0; t->pattern != GTFS_NONE && k < f->patterns[t->pattern].n; k++) {
            struct gtfs_stop *s = &f->stops[f->patterns[t->pattern].stops[k]];
            f->visits[s->visit_first + s->n_visits++] =
                (struct gtfs_visit){(uint32_t)i, k, t->arr[k]};
        }
    }
    for (size_t s = 0; s < f->n_stops; s++)
        qsort(f->visits + f->stops[s].visit_first, f->stops[s].n_visits,
              sizeof *f->visits, cmp_visit);
    return 0;
}

/* ---- service days ---- */

bool gtfs_service_active(const struct gtfs *f, uint32_t service, int64_t day)
{
    if (service >= f->n_services)
        return false;
    const struct gtfs_service *s = &f->services[service];
    size_t lo = 0, hi = s->n_ex;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->ex[mid].day < day)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < s->n_ex && s->ex[lo].day == day)
        return s->ex[lo].type == 1;
    return day >= s->start_day && day <= s->end_day && (s->weekdays >> tz_weekday(day)) & 1;
}

size_t gtfs_trips_on(const struct gtfs *f, int64_t day)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n_trips; i++)
        n += gtfs_service_active(f, f->trips[i].service, day);
    return n;
}

int64_t gtfs_last_service_day(const struct gtfs *f)
{
    int64_t last = INT64_MIN;
    for (size_t i = 0; i < f->n_services; i++) {
        const struct gtfs_service *s = &f->services[i];
        if (s->start_day <= s->end_day && s->weekdays && s->end_day > last)
            last = s->end_day;
        for (size_t k = 0; k < s->n_ex; k++)
            if (s->ex[k].type == 1 && s->ex[k].day > last)
                last = s->ex[k].day;
    }
    return last;
}

int64_t gtfs_day_origin(const struct gtfs *f, int64_t day)
{
    int y, m, d;
    tz_civil_from_days(day, &y, &m, &d);
    return tz_local_to_utc(f->tz, y, m, d, 12, 0, 0) - 12 * 3600;
}

int gtfs_trip_day(const struct gtfs *f, uint32_t trip, int64_t t, int32_t slack_s,
                  int64_t *day, int64_t *origin)
{
    const struct gtfs_trip *tr = &f->trips[trip];
    if (tr->pattern == GTFS_NONE)
        return -1;
    uint32_t last = f->patterns[tr->pattern].n - 1;
    int64_t today = tz_local_day(f->tz, t), best_gap = INT64_MAX;
    int rc = -1;
    /* A trip's times may pass 24:00, so yesterday's service can be running. */
    for (int64_t d = today - 1; d <= today + 1; d++) {
        if (!gtfs_service_active(f, tr->service, d))
            continue;
        int64_t o = gtfs_day_origin(f, d);
        int64_t s = o + tr->dep[0], e = o + tr->arr[last];
        if (t < s - slack_s || t > e + slack_s)
            continue;
        int64_t gap = t < s ? s - t : t > e ? t - e : 0;
        if (gap < best_gap) {
            best_gap = gap;
            *day = d;
            *origin = o;
            rc = 0;
        }
    }
    return rc;
}

/* ---- load / free ---- */

static void centre_projection(struct loader *L)
{
    struct gtfs *f = L->f;
    double lon = 0, lat = 0;
    size_t n = 0;
    for (size_t i = 0; i < f->n_stops; i++)
        if (!isnan(f->stops[i].lon)) {
            lon += f->stops[i].lon;
            lat += f->stops[i].lat;
            n++;
        }
    if (n == 0) {
        issue(L, true, "stops.txt", 0, "no stop with coordinates");
        return;
    }
    f->geo = geo_new(lon / n, lat / n);
    if (f->geo == NULL)
        oom(L, "stops.txt");
}

static void place_and_index(struct loader *L, struct pat_build *b)
{
    struct gtfs *f = L->f;
    for (size_t p = 0; !L->failed && p < f->n_patterns; p++)
        place_pattern(L, (uint32_t)p, &b->extra[p]);
    for (size_t i = 0; !L->failed && i < f->n_trips; i++)
        if (f->trips[i].pattern != GTFS_NONE)
            interpolate_times(f, &f->trips[i]);
    if (!L->failed && build_visits(f) < 0)
        oom(L, "stop_times.txt");
}

struct gtfs *gtfs_load(const char *dir, char *err, size_t errlen)
{
    struct gtfs *f = calloc(1, sizeof *f);
    struct loader L = {.f = f, .dir = dir, .err = err, .errlen = errlen};
    struct pat_build b = {0};
    uint32_t *trip_shape = NULL;
    size_t scap = 0;
    if (f == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    f->service_ix = dict_new();
    b.ix = dict_new();
    if (f->service_ix == NULL || b.ix == NULL)
        oom(&L, "agency.txt");
    if (!L.failed)
        load_agency(&L);
    if (!L.failed)
        load_stops(&L);
    if (!L.failed)
        centre_projection(&L);
    if (!L.failed)
        load_routes(&L);
    if (!L.failed) {
        load_calendar(&L, &scap);
        load_calendar_dates(&L, &scap);
        if (!L.failed && f->n_services == 0)
            issue(&L, true, "calendar.txt", 0, "neither calendar.txt nor calendar_dates.txt "
                  "defines a service");
    }
    if (!L.failed)
        load_shapes(&L);
    if (!L.failed)
        load_trips(&L, &trip_shape);
    if (!L.failed)
        build_trips(&L, trip_shape, &b);
    if (!L.failed)
        place_and_index(&L, &b);
    for (size_t p = 0; p < f->n_patterns && b.extra; p++) {
        free(b.extra[p].fd);
        free(b.extra[p].lines);
    }
    free(b.extra);
    free(b.key);
    dict_free(b.ix, NULL);
    free(trip_shape);
    if (L.failed) {
        gtfs_free(f);
        return NULL;
    }
    return f;
}

void gtfs_free(struct gtfs *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->n_agencies; i++) {
        free(f->agencies[i].id);
        free(f->agencies[i].name);
        free(f->agencies[i].timezone);
    }
    for (size_t i = 0; i < f->n_stops; i++) {
        free(f->stops[i].id);
        free(f->stops[i].code);
        free(f->stops[i].name);
    }
    for (size_t i = 0; i < f->n_routes; i++) {
        free(f->routes[i].id);
        free(f->routes[i].agency_id);
        free(f->routes[i].short_name);
        free(f->routes[i].long_name);
    }
    for (size_t i = 0; i < f->n_shapes; i++) {
        free(f->shapes[i].id);
        geo_line_free(f->shapes[i].line);
        free(f->shapes[i].feed_dist);
        free(f->shapes[i].xy);
    }
    for (size_t i = 0; i < f->n_services; i++) {
        free(f->services[i].id);
        free(f->services[i].ex);
    }
    for (size_t i = 0; i < f->n_patterns; i++) {
        struct gtfs_pattern *p = &f->patterns[i];
        geo_line_free(p->own_line);
        free(p->own_xy);
        free(p->stops);
        free(p->seq);
        free(p->dist_m);
        free(p->off_m);
        free(p->pickup);
        free(p->drop_off);
        free(p->timepoint);
    }
    for (size_t i = 0; i < f->n_trips; i++) {
        free(f->trips[i].id);
        free(f->trips[i].headsign);
        free(f->trips[i].block_id);
        free(f->trips[i].arr);
        free(f->trips[i].dep);
    }
    free(f->agencies);
    free(f->stops);
    free(f->routes);
    free(f->shapes);
    free(f->services);
    free(f->patterns);
    free(f->trips);
    free(f->visits);
    free(f->issues);
    dict_free(f->stop_ix, NULL);
    dict_free(f->route_ix, NULL);
    dict_free(f->trip_ix, NULL);
    dict_free(f->shape_ix, NULL);
    dict_free(f->service_ix, NULL);
    geo_free(f->geo);
    tz_free(f->tz);
    free(f);
}
