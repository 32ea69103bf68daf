/* feed.c -- `citysim feed`: replay recorded sensor feeds into cityd.
 *
 *   --parking CSV  rows `ts,lot,availableSpotNumber` or
 *                  `ts,lot,bay,status[,plate]` (a header naming these
 *                  columns is optional) -> POST /v1/parking/observations,
 *                  one batch per timestamp; each observation's id is
 *                  "<file name>:<line>", so a re-run is idempotent.
 *   --avl CSV      TransitClock `vehicleId,time,latitude,longitude[,speed,
 *                  heading,assignmentId,assignmentType]` (columns by name)
 *                  or the flattened GTFS-rt CSV (dotted column names) ->
 *                  JSON FeedMessages to POST /v1/transit/vehicle-positions;
 *                  a message holds one position per vehicle (a vehicle seen
 *                  again starts the next message, as a new snapshot would).
 *
 * The whole file is read and checked first (a bad row stops the replay
 * before anything is sent: file:line and why). Batches are then sent at
 * --speed times the pace of their timestamps (0 or max: no waiting), with
 * progress on stderr about once a second; every row the server rejects is
 * reported as file:line. stdout gets a one-object JSON summary. Exit 0
 * all sent and none rejected, 1 some rows rejected, 2 bad input, 3 the
 * server failed. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "csv.h"
#include "simcli.h"
#include "tz.h"

struct item {
    double ts;                 /* epoch seconds: pacing and batching */
    long line;
    json_t *obj;               /* observation or FeedEntity (owned) */
    const char *vehicle;       /* AVL: borrowed from obj, for batching */
};

struct feed {
    const char *server, *key, *parking, *avl, *speed_s;
    double speed, timeout, retries, batch;
    struct item *items; size_t n, cap;
    const char *base;          /* file name without directories */
    struct simhttp *http;
    long accepted, duplicates, outdated, rejected, sent, batches;
    double t0_wall, t0_data, last_progress;
};

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- timestamps ---- */

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Epoch seconds, or "YYYY-MM-DD[ T]HH:MM:SS[.fff][Z|+HH:MM|-HH:MM]" (UTC
 * unless an offset is given). Returns 0 or -1. */
static int parse_time(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end != s && *end == '\0' && errno == 0 && isfinite(v) && v >= 0 && strlen(s) < 15) {
        *out = v;
        return 0;
    }
    int y, mo, d, h, mi, se;
    if (strlen(s) < 19 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
        s[7] != '-' || digits(s + 8, 2, &d) || (s[10] != ' ' && s[10] != 'T') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
        digits(s + 17, 2, &se) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        se > 60)
        return -1;
    const char *p = s + 19;
    double frac = 0;
    if (*p == '.') {
        frac = strtod(p, &end);
        p = end;
    }
    int off = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om))
            return -1;
        off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
        p += 6;
    }
    if (*p != '\0')
        return -1;
    *out = (double)(tz_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off) + frac;
    return 0;
}

/* ---- reading ---- */

static int push(struct feed *f, const struct item *it)
{
    if (f->n == f->cap) {
        size_t ncap = f->cap ? f->cap * 2 : 1024;
        struct item *ni = realloc(f->items, ncap * sizeof *ni);
        if (ni == NULL)
            return -1;
        f->items = ni;
        f->cap = ncap;
    }
    f->items[f->n++] = *it;
    return 0;
}

/* Keep a parsed row (takes it->obj; frees it on failure). */
static int keep(struct feed *f, struct csv *c, struct item *it, char *err, size_t errlen)
{
    if (it->obj == NULL || push(f, it) != 0) {
        json_decref(it->obj);
        snprintf(err, errlen, "%s:%ld: not valid UTF-8, or out of memory", csv_name(c), it->line);
        return -1;
    }
    return 0;
}

/* The first record of a file that must not be empty. */
static int first_record(struct csv *c, char *err, size_t errlen)
{
    int rc = csv_next(c, err, errlen);
    if (rc == 0)
        snprintf(err, errlen, "%s: empty", csv_name(c));
    return rc == 1 ? 0 : -1;
}

/* The header row, kept by this file: csv.h looks columns up by exact
 * name only, and files differ in case ("vehicleid") and need names by
 * index (flattened GTFS-rt). */
struct hdr {
    char **names;
    size_t n;
};

static void hdr_free(struct hdr *h)
{
    for (size_t i = 0; i < h->n; i++)
        free(h->names[i]);
    free(h->names);
    memset(h, 0, sizeof *h);
}

static int hdr_take(struct hdr *h, struct csv *c)
{
    h->n = csv_nfields(c);
    h->names = calloc(h->n ? h->n : 1, sizeof *h->names);
    for (size_t i = 0; h->names && i < h->n; i++) {
        const char *v = csv_get(c, (int)i);
        while (isspace((unsigned char)*v))
            v++;
        if ((h->names[i] = strdup(v)) == NULL)
            return -1;
        size_t l = strlen(h->names[i]);
        while (l > 0 && isspace((unsigned char)h->names[i][l - 1]))
            h->names[i][--l] = '\0';
    }
    return h->names ? 0 : -1;
}

static int hdr_col(const struct hdr *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcasecmp(h->names[i], name) == 0)
            return (int)i;
    return -1;
}

/* A first row naming known columns is a header (data rows start with a
 * timestamp). */
static bool looks_like_header(struct csv *c)
{
    for (size_t i = 0; i < csv_nfields(c); i++) {
        const char *v = csv_get(c, (int)i);
        if (!strcasecmp(v, "ts") || !strcasecmp(v, "lot") || !strcasecmp(v, "vehicleId") ||
            !strcasecmp(v, "time") || strstr(v, "vehicle.") != NULL)
            return true;
    }
    return false;
}

static int parking_row(struct feed *f, struct csv *c, const int *k, bool bays, char *err,
                       size_t errlen)
{
    long line = csv_line(c);
    const char *ts = csv_get(c, k[0]), *lot = csv_get(c, k[1]);
    struct item it = { 0, line, NULL, NULL };
    char id[160];
    if (parse_time(ts, &it.ts) != 0) {
        snprintf(err, errlen, "%s:%ld: ts '%s': expected epoch seconds or YYYY-MM-DD HH:MM:SS",
                 csv_name(c), line, ts);
        return -1;
    }
    if (lot[0] == '\0') {
        snprintf(err, errlen, "%s:%ld: lot: missing", csv_name(c), line);
        return -1;
    }
    snprintf(id, sizeof id, "%.100s:%ld", f->base, line);
    if (!bays) {
        char *end;
        const char *av = csv_get(c, k[2]);
        long n = strtol(av, &end, 10);
        if (end == av || *end != '\0' || n < 0) {
            snprintf(err, errlen, "%s:%ld: availableSpotNumber '%s': expected a count >= 0",
                     csv_name(c), line, av);
            return -1;
        }
        it.obj = json_pack("{s:s,s:s,s:I,s:I}", "id", id, "lot", lot, "availableSpotNumber",
                           (json_int_t)n, "ts", (json_int_t)floor(it.ts));
    } else {
        const char *bay = csv_get(c, k[2]), *st = csv_get(c, k[3]), *plate = csv_get(c, k[4]);
        if (bay[0] == '\0' || st[0] == '\0') {
            snprintf(err, errlen, "%s:%ld: %s: missing", csv_name(c), line,
                     bay[0] ? "status" : "bay");
            return -1;
        }
        it.obj = json_pack("{s:s,s:s,s:s,s:s,s:I}", "id", id, "lot", lot, "bay", bay, "status",
                           st, "ts", (json_int_t)floor(it.ts));
        if (it.obj && plate[0])
            json_object_set_new(it.obj, "plate", json_string(plate));
    }
    return keep(f, c, &it, err, errlen);
}

static int read_parking(struct feed *f, struct csv *c, char *err, size_t errlen)
{
    struct hdr h = {0};
    int rc = 1;
    if (first_record(c, err, errlen) != 0)
        return -1;
    /* Without a header: 3 columns are lot counts, 4 or 5 bay states. */
    int k[5] = {0, 1, 2, 3, 4};
    bool bays = csv_nfields(c) >= 4, header = looks_like_header(c);
    if (header) {
        if (hdr_take(&h, c) != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        bays = hdr_col(&h, "bay") >= 0;
        int want[5] = { hdr_col(&h, "ts"), hdr_col(&h, "lot"),
                        bays ? hdr_col(&h, "bay") : hdr_col(&h, "availableSpotNumber"),
                        hdr_col(&h, "status"), hdr_col(&h, "plate") };
        memcpy(k, want, sizeof k);
        hdr_free(&h);
        if (k[0] < 0 || k[1] < 0 || k[2] < 0 || (bays && k[3] < 0)) {
            snprintf(err, errlen, "%s:%ld: header: expected ts,lot,availableSpotNumber or "
                     "ts,lot,bay,status[,plate]", csv_name(c), csv_line(c));
            return -1;
        }
        rc = csv_next(c, err, errlen);
    }
    for (; rc == 1; rc = csv_next(c, err, errlen))
        if (parking_row(f, c, k, bays, err, errlen) != 0)
            return -1;
    return rc < 0 ? -1 : 0;
}

/* ---- AVL ---- */

/* GTFS-rt fields that are numbers in the JSON mapping; everything else in
 * a flattened file is a string (ids, times, dates, labels). */
static int field_kind(const char *leaf)
{
    static const char *const reals[] = {"latitude", "longitude", "bearing", "speed", "odometer"};
    static const char *const ints[] = {"timestamp", "direction_id", "current_stop_sequence",
                                       "schedule_relationship", "current_status",
                                       "occupancy_status", "congestion_level",
                                       "occupancy_percentage", "wheelchair_accessible"};
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++)
        if (strcmp(leaf, reals[i]) == 0)
            return 1;
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (strcmp(leaf, ints[i]) == 0)
            return 2;
    return 0;
}

/* Set path a.b.c = text in obj, creating objects. */
static int set_path(json_t *obj, const char *path, const char *text)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    char *part = buf, *dot;
    while ((dot = strchr(part, '.')) != NULL) {
        *dot = '\0';
        json_t *sub = json_object_get(obj, part);
        if (!json_is_object(sub)) {
            sub = json_object();
            json_object_set_new(obj, part, sub);
        }
        obj = sub;
        part = dot + 1;
    }
    int kind = field_kind(part);
    char *end;
    double v = strtod(text, &end);
    if (kind != 0 && (end == text || *end != '\0' || !isfinite(v)))
        return -1;
    json_t *val = kind == 1 ? json_real(v) : kind == 2 ? json_integer((json_int_t)v)
                                                       : json_string(text);
    return val ? json_object_set_new(obj, part, val) : -1;
}

static int avl_flat_row(struct feed *f, struct csv *c, const struct hdr *h, char *err,
                        size_t errlen)
{
    long line = csv_line(c);
    struct item it = { NAN, line, json_object(), NULL };
    for (size_t i = 0; i < h->n && it.obj; i++) {
        const char *name = h->names[i], *v = csv_get(c, (int)i);
        if (name[0] == '\0' || v[0] == '\0' || strncmp(name, "header.", 7) == 0)
            continue;
        if (set_path(it.obj, name, v) != 0) {
            snprintf(err, errlen, "%s:%ld: %s: '%s' is not a number", csv_name(c), line, name, v);
            json_decref(it.obj);
            return -1;
        }
    }
    json_t *vp = json_object_get(it.obj, "vehicle");
    json_t *ts = json_object_get(vp, "timestamp");
    json_t *pos = json_object_get(vp, "position");
    const char *vid = json_string_value(json_object_get(json_object_get(vp, "vehicle"), "id"));
    if (!json_is_integer(ts) || !json_object_get(pos, "latitude") ||
        !json_object_get(pos, "longitude")) {
        snprintf(err, errlen, "%s:%ld: needs vehicle.timestamp, vehicle.position.latitude and "
                 ".longitude", csv_name(c), line);
        json_decref(it.obj);
        return -1;
    }
    it.ts = (double)json_integer_value(ts);
    if (!json_object_get(it.obj, "id")) {
        char id[160];
        snprintf(id, sizeof id, "%.100s:%ld", f->base, line);
        json_object_set_new(it.obj, "id", json_string(vid ? vid : id));
    }
    it.vehicle = vid ? vid : json_string_value(json_object_get(it.obj, "id"));
    return keep(f, c, &it, err, errlen);
}

struct tc_cols { int vid, time, lat, lon, speed, heading, aid, atype; };

static int avl_tc_row(struct feed *f, struct csv *c, const struct tc_cols *k, char *err,
                      size_t errlen)
{
    long line = csv_line(c);
    const char *vid = csv_get(c, k->vid), *tm = csv_get(c, k->time);
    double lat, lon, t;
    char *e1, *e2;
    lat = strtod(csv_get(c, k->lat), &e1);
    lon = strtod(csv_get(c, k->lon), &e2);
    if (vid[0] == '\0' || parse_time(tm, &t) != 0 || *e1 || *e2 || e1 == csv_get(c, k->lat) ||
        e2 == csv_get(c, k->lon) || fabs(lat) > 90 || fabs(lon) > 180) {
        snprintf(err, errlen, "%s:%ld: %s", csv_name(c), line,
                 vid[0] == '\0' ? "vehicleId: missing"
                 : parse_time(tm, &t) != 0 ? "time: expected epoch seconds or YYYY-MM-DD HH:MM:SS"
                                           : "latitude/longitude: not a position");
        return -1;
    }
    json_t *pos = json_pack("{s:f,s:f}", "latitude", lat, "longitude", lon);
    const char *sp = csv_get(c, k->speed), *hd = csv_get(c, k->heading);
    if (sp[0] && isfinite(strtod(sp, NULL)))
        json_object_set_new(pos, "speed", json_real(strtod(sp, NULL)));
    if (hd[0] && isfinite(strtod(hd, NULL)))
        json_object_set_new(pos, "bearing", json_real(strtod(hd, NULL)));
    json_t *vp = json_pack("{s:{s:s},s:o,s:I}", "vehicle", "id", vid, "position", pos,
                           "timestamp", (json_int_t)floor(t));
    /* A trip or route assignment maps onto the TripDescriptor; a block
     * assignment has no place in a VehiclePosition. */
    const char *aid = csv_get(c, k->aid), *at = csv_get(c, k->atype);
    if (vp && aid[0] && strstr(at, "TRIP"))
        json_object_set_new(vp, "trip", json_pack("{s:s}", "trip_id", aid));
    else if (vp && aid[0] && strstr(at, "ROUTE"))
        json_object_set_new(vp, "trip", json_pack("{s:s}", "route_id", aid));
    struct item it = { t, line, json_pack("{s:s,s:o}", "id", vid, "vehicle", vp), NULL };
    if (keep(f, c, &it, err, errlen) != 0)
        return -1;
    f->items[f->n - 1].vehicle = json_string_value(json_object_get(it.obj, "id"));
    return 0;
}

static int read_avl(struct feed *f, struct csv *c, char *err, size_t errlen)
{
    struct hdr h = {0};
    int rc;
    if (first_record(c, err, errlen) != 0)
        return -1;
    if (hdr_take(&h, c) != 0) {
        snprintf(err, errlen, "out of memory");
        hdr_free(&h);
        return -1;
    }
    bool flat = hdr_col(&h, "vehicle.position.latitude") >= 0;
    struct tc_cols k = { hdr_col(&h, "vehicleId"), hdr_col(&h, "time"),
                         hdr_col(&h, "latitude"), hdr_col(&h, "longitude"),
                         hdr_col(&h, "speed"), hdr_col(&h, "heading"),
                         hdr_col(&h, "assignmentId"), hdr_col(&h, "assignmentType") };
    if (!flat && (k.vid < 0 || k.time < 0 || k.lat < 0 || k.lon < 0)) {
        snprintf(err, errlen, "%s:1: header: expected TransitClock columns vehicleId,time,"
                 "latitude,longitude or flattened GTFS-rt columns (vehicle.position.latitude, "
                 "...)", csv_name(c));
        hdr_free(&h);
        return -1;
    }
    while ((rc = csv_next(c, err, errlen)) == 1) {
        if ((flat ? avl_flat_row(f, c, &h, err, errlen) : avl_tc_row(f, c, &k, err, errlen)) != 0) {
            rc = -1;
            break;
        }
    }
    hdr_free(&h);
    return rc < 0 ? -1 : 0;
}

/* ---- sending ---- */

static void progress(struct feed *f, bool last)
{
    double now = wall_now();
    if (!last && now - f->last_progress < 1.0)
        return;
    f->last_progress = now;
    fprintf(stderr, "citysim: feed: %ld/%zu rows (%.1f %%) in %ld batches: accepted %ld, "
            "duplicates %ld, outdated %ld, rejected %ld\n", f->sent, f->n,
            f->n ? 100.0 * (double)f->sent / (double)f->n : 100.0, f->batches, f->accepted,
            f->duplicates, f->outdated, f->rejected);
}

static long jlong(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (long)json_integer_value(v) : 0;
}

/* Tally a reply and report each rejected row by its line. Parking lists
 * rejections in "rejected" ([{index, error}]); transit counts them there
 * and lists them in "errors" ([{index, message}]). */
static void tally(struct feed *f, const json_t *reply, size_t first, size_t count)
{
    f->accepted += jlong(reply, "accepted");
    f->duplicates += jlong(reply, "duplicates");
    f->outdated += jlong(reply, "outdated");
    const json_t *rej = json_object_get(reply, "rejected");
    const json_t *list = json_is_array(rej) ? rej : json_object_get(reply, "errors");
    f->rejected += json_is_array(rej) ? (long)json_array_size(rej) : jlong(reply, "rejected");
    size_t i;
    const json_t *e;
    json_array_foreach(list, i, e) {
        json_int_t idx = json_integer_value(json_object_get(e, "index"));
        const char *msg = json_string_value(json_object_get(e, "error"));
        if (msg == NULL)
            msg = json_string_value(json_object_get(e, "message"));
        long line = idx >= 0 && (size_t)idx < count ? f->items[first + (size_t)idx].line : -1;
        fprintf(stderr, "citysim: feed: %s:%ld: rejected: %s\n", f->parking ? f->parking : f->avl,
                line, msg ? msg : "(no reason given)");
    }
}

/* Items [first, end) of one batch: same timestamp (parking), or no
 * vehicle twice (AVL); at most --batch items. */
static size_t batch_end(const struct feed *f, size_t first)
{
    size_t end = first + 1, max = (size_t)f->batch;
    while (end < f->n && end - first < max) {
        if (f->parking && f->items[end].ts != f->items[first].ts)
            break;
        bool again = false;
        for (size_t k = first; f->avl && k < end && !again; k++)
            again = strcmp(f->items[k].vehicle, f->items[end].vehicle) == 0;
        if (again)
            break;
        end++;
    }
    return end;
}

static json_t *batch_body(const struct feed *f, size_t first, size_t end)
{
    json_t *arr = json_array();
    for (size_t k = first; k < end; k++)
        json_array_append(arr, f->items[k].obj);
    if (f->parking)
        return json_pack("{s:o}", "observations", arr);
    double ts = 0;
    for (size_t k = first; k < end; k++)
        ts = fmax(ts, f->items[k].ts);
    return json_pack("{s:{s:s,s:s,s:I},s:o}", "header", "gtfs_realtime_version", "2.0",
                     "incrementality", "FULL_DATASET", "timestamp", (json_int_t)floor(ts),
                     "entity", arr);
}

/* Wait until the batch's time comes at --speed times the data's pace. */
static void pace(struct feed *f, double ts)
{
    if (f->speed <= 0)
        return;
    double due = f->t0_wall + (ts - f->t0_data) / f->speed, now = wall_now();
    if (due > now) {
        double d = due - now;
        struct timespec w = { (time_t)d, (long)((d - floor(d)) * 1e9) };
        while (nanosleep(&w, &w) != 0)
            ;
    }
}

static int send_all(struct feed *f, char *err, size_t errlen)
{
    const char *path = f->parking ? "/v1/parking/observations" : "/v1/transit/vehicle-positions";
    f->t0_wall = wall_now();
    f->t0_data = f->n ? f->items[0].ts : 0;
    for (size_t first = 0; first < f->n;) {
        size_t end = batch_end(f, first);
        double ts = f->items[first].ts;
        for (size_t k = first; k < end; k++)
            ts = fmax(ts, f->items[k].ts);
        pace(f, ts);
        json_t *body = batch_body(f, first, end), *reply = NULL;
        char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        int st = text ? simhttp_request(f->http, "POST", path, text, &reply, err, errlen) : -1;
        free(text);
        if (st >= 0 && st != 200 && st != 201) {
            char why[400];
            simhttp_error_text(reply, why, sizeof why);
            snprintf(err, errlen, "POST %s (rows at lines %ld-%ld): HTTP %d: %s", path,
                     f->items[first].line, f->items[end - 1].line, st, why);
            st = -1;
        }
        if (st < 0) {
            json_decref(reply);
            return -1;
        }
        tally(f, reply, first, end - first);
        json_decref(reply);
        f->sent += (long)(end - first);
        f->batches++;
        progress(f, false);
        first = end;
    }
    return 0;
}

static int parse_feed_opts(struct feed *f, int argc, char **argv)
{
    struct simopt opts[] = {
        {"--server", OPT_STRING, &f->server, true, false},
        {"--key", OPT_STRING, &f->key, true, false},
        {"--parking", OPT_STRING, &f->parking, false, false},
        {"--avl", OPT_STRING, &f->avl, false, false},
        {"--speed", OPT_STRING, &f->speed_s, false, false},
        {"--batch", OPT_DOUBLE, &f->batch, false, false},
        {"--timeout", OPT_DOUBLE, &f->timeout, false, false},
        {"--retries", OPT_DOUBLE, &f->retries, false, false},
        {NULL, 0, NULL, false, false},
    };
    if (simopt_parse(opts, argc, argv) != 0)
        return -1;
    char *end;
    const char *bad = NULL;
    f->speed = !strcmp(f->speed_s, "max") ? 0 : strtod(f->speed_s, &end);
    if (!!f->parking == !!f->avl)
        bad = "give one of --parking CSV and --avl CSV";
    else if (strcmp(f->speed_s, "max") != 0 && (end == f->speed_s || *end || !(f->speed >= 0)))
        bad = "--speed: expected a factor >= 0 (0 or max: as fast as possible)";
    else if (!(f->batch >= 1) || f->batch > 10000 || f->batch != floor(f->batch))
        bad = "--batch: expected 1..10000";
    else if (!(f->timeout > 0) || f->retries < 0 || f->retries > 20)
        bad = "--timeout: expected seconds > 0; --retries: expected 0..20";
    if (bad != NULL) {
        fprintf(stderr, "citysim: feed: %s\n", bad);
        return -1;
    }
    return 0;
}

static void feed_free(struct feed *f)
{
    for (size_t i = 0; i < f->n; i++)
        json_decref(f->items[i].obj);
    free(f->items);
    simhttp_free(f->http);
}

int simcli_feed(int argc, char **argv)
{
    struct feed f;
    memset(&f, 0, sizeof f);
    f.speed_s = "1";
    f.batch = 500;
    f.timeout = 10;
    f.retries = 5;
    if (parse_feed_opts(&f, argc, argv) != 0)
        return 2;
    char err[1024];
    int rc = 2;
    const char *path = f.parking ? f.parking : f.avl;
    f.base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    struct csv *c = csv_open(path, err, sizeof err);
    if (c == NULL)
        goto out;
    int r = f.parking ? read_parking(&f, c, err, sizeof err) : read_avl(&f, c, err, sizeof err);
    csv_free(c);
    if (r != 0)
        goto out;
    rc = 3;
    f.http = simhttp_new(f.server, f.key, f.timeout, (int)f.retries, err, sizeof err);
    if (f.http == NULL || send_all(&f, err, sizeof err) != 0)
        goto out;
    progress(&f, true);
    struct simjson j;
    simjson_begin(&j, stdout);
    simjson_obj(&j, NULL);
    simjson_str(&j, "file", path);
    simjson_int(&j, "rows", (long long)f.n);
    simjson_int(&j, "batches", f.batches);
    simjson_int(&j, "accepted", f.accepted);
    simjson_int(&j, "duplicates", f.duplicates);
    simjson_int(&j, "outdated", f.outdated);
    simjson_int(&j, "rejected", f.rejected);
    simjson_end_obj(&j);
    rc = f.rejected > 0 ? 1 : 0;
out:
    if (rc >= 2) {
        if (f.sent > 0)
            progress(&f, true);
        fprintf(stderr, "citysim: feed: %s\n", err);
    }
    feed_free(&f);
    return rc;
}
