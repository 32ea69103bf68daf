/* gtfsrt.c -- GTFS-realtime codec over protobuf-c and jansson (see gtfsrt.h).
 *
 * Decoders fill plain structs; per-entity problems become that entity's
 * error string so one bad vehicle never costs the others. Encoders build
 * the protobuf-c message tree in one allocation per entity kind, pointing
 * at the caller's strings (nothing is copied), and pack it. */
#include "gtfsrt.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gtfs-realtime.pb-c.h"
#include "text.h"

typedef TransitRealtime__FeedMessage PbFeed;
typedef TransitRealtime__FeedEntity PbEntity;
typedef TransitRealtime__VehiclePosition PbVehicle;
typedef TransitRealtime__TripDescriptor PbTrip;
typedef TransitRealtime__VehicleDescriptor PbVehDesc;
typedef TransitRealtime__Position PbPosition;
typedef TransitRealtime__TripUpdate PbTripUpdate;
typedef TransitRealtime__TripUpdate__StopTimeUpdate PbStu;
typedef TransitRealtime__TripUpdate__StopTimeEvent PbEvent;

static const char *status_names[] = {"INCOMING_AT", "STOPPED_AT", "IN_TRANSIT_TO"};
static const char *trip_rel_names[] = {"SCHEDULED", "ADDED", "UNSCHEDULED", "CANCELED"};
static const char *stu_rel_names[] = {"SCHEDULED", "SKIPPED", "NO_DATA", "UNSCHEDULED"};
static const char *incr_names[] = {"FULL_DATASET", "DIFFERENTIAL"};

void gtfsrt_vehicle_init(struct gtfsrt_vehicle *v)
{
    memset(v, 0, sizeof *v);
    v->direction_id = -1;
    v->trip_relationship = -1;
    v->current_status = -1;
    v->lat = v->lon = v->bearing = v->speed = NAN;
}

void gtfsrt_feed_clear(struct gtfsrt_feed *f)
{
    free(f->v);
    memset(f, 0, sizeof *f);
}

static void entity_error(struct gtfsrt_vehicle *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void entity_error(struct gtfsrt_vehicle *v, const char *fmt, ...)
{
    if (v->error[0])
        return;                            /* keep the first problem */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->error, sizeof v->error, fmt, ap);
    va_end(ap);
}

/* Copy a string of n bytes into a fixed buffer; one that breaks the rule
 * (text_check) is an entity error, never truncated or repaired. */
static void copy_str(struct gtfsrt_vehicle *v, char *dst, size_t size, const char *src, size_t n,
                     const char *field)
{
    char e[sizeof v->error];
    if (text_check(field, src, n, size, e, sizeof e) < 0) {
        entity_error(v, "%s", e);
        return;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* The numbers of a vehicle no bus can have. */
static int check_numbers(const struct gtfsrt_vehicle *v, char *err, size_t errlen)
{
    if (!(fabs(v->lat) <= 90 && fabs(v->lon) <= 180))
        snprintf(err, errlen, "vehicle.position: latitude/longitude out of range");
    else if (!isnan(v->speed) && !(v->speed >= 0 && v->speed <= GTFSRT_SPEED_MAX))
        snprintf(err, errlen, "vehicle.position.speed: %g m/s is not in [0, %g]", v->speed,
                 GTFSRT_SPEED_MAX);
    else if (!isnan(v->bearing) && !(v->bearing >= 0 && v->bearing < 360))
        snprintf(err, errlen, "vehicle.position.bearing: %g is not in [0, 360)", v->bearing);
    else if (v->timestamp > GTFSRT_TS_MAX)
        snprintf(err, errlen, "vehicle.timestamp: %llu is after 2100 (milliseconds?)",
                 (unsigned long long)v->timestamp);
    else
        return 0;
    return -1;
}

int gtfsrt_vehicle_check(const struct gtfsrt_vehicle *v, char *err, size_t errlen)
{
    const struct {
        const char *field, *s;
        size_t size;
    } strs[] = {
        {"id", v->entity_id, sizeof v->entity_id},
        {"vehicle.trip.trip_id", v->trip_id, sizeof v->trip_id},
        {"vehicle.trip.route_id", v->route_id, sizeof v->route_id},
        {"vehicle.trip.start_time", v->start_time, sizeof v->start_time},
        {"vehicle.trip.start_date", v->start_date, sizeof v->start_date},
        {"vehicle.vehicle.id", v->vehicle_id, sizeof v->vehicle_id},
        {"vehicle.vehicle.label", v->label, sizeof v->label},
        {"vehicle.stop_id", v->stop_id, sizeof v->stop_id},
    };
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
        if (text_check(strs[i].field, strs[i].s, strnlen(strs[i].s, strs[i].size),
                             strs[i].size, err, errlen) < 0)
            return -1;
    return check_numbers(v, err, errlen);
}

static int alloc_entities(struct gtfsrt_feed *out, size_t n, char *err, size_t errlen)
{
    out->v = n ? malloc(n * sizeof *out->v) : NULL;
    if (n && out->v == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* Fill in defaults the decoders share once an entity is read, and check
 * its numbers (its strings were checked as they were copied). */
static void vehicle_finish(struct gtfsrt_vehicle *v)
{
    char e[sizeof v->error];
    if (v->vehicle_id[0] == '\0')
        memcpy(v->vehicle_id, v->entity_id, sizeof v->vehicle_id);
    if (v->entity_id[0] == '\0')
        entity_error(v, "id: missing");
    else if (isnan(v->lat) || isnan(v->lon))
        entity_error(v, "vehicle.position.latitude/longitude: missing");
    else if (check_numbers(v, e, sizeof e) < 0)
        entity_error(v, "%s", e);
}

/* ---- protobuf decoding ---- */

/* A string field (bytes in cityd's .proto, see there). */
static void pb_str(struct gtfsrt_vehicle *v, char *dst, size_t size, bool has,
                   ProtobufCBinaryData b, const char *field)
{
    if (has)
        copy_str(v, dst, size, b.data ? (const char *)b.data : "", b.len, field);
}

/* A float the wire gives: NaN is not "absent" (which NAN means here). */
static void pb_float(struct gtfsrt_vehicle *v, double *dst, bool has, float f, const char *field)
{
    if (!has)
        return;
    if (isnan(f))
        entity_error(v, "%s: not a number", field);
    else
        *dst = f;
}

static void pb_vehicle(struct gtfsrt_vehicle *v, const PbEntity *e)
{
    const PbVehicle *pv = e->vehicle;
    pb_str(v, v->entity_id, sizeof v->entity_id, e->has_id, e->id, "id");
    if (pv->trip) {
        const PbTrip *t = pv->trip;
        pb_str(v, v->trip_id, sizeof v->trip_id, t->has_trip_id, t->trip_id,
               "vehicle.trip.trip_id");
        pb_str(v, v->route_id, sizeof v->route_id, t->has_route_id, t->route_id,
               "vehicle.trip.route_id");
        pb_str(v, v->start_time, sizeof v->start_time, t->has_start_time, t->start_time,
               "vehicle.trip.start_time");
        pb_str(v, v->start_date, sizeof v->start_date, t->has_start_date, t->start_date,
               "vehicle.trip.start_date");
        if (t->has_direction_id && t->direction_id > 1)
            entity_error(v, "vehicle.trip.direction_id: must be an integer in [0, 1]");
        else if (t->has_direction_id)
            v->direction_id = (int)t->direction_id;
        if (t->has_schedule_relationship)
            v->trip_relationship = (int)t->schedule_relationship;
    }
    if (pv->vehicle) {
        const PbVehDesc *d = pv->vehicle;
        pb_str(v, v->vehicle_id, sizeof v->vehicle_id, d->has_id, d->id, "vehicle.vehicle.id");
        pb_str(v, v->label, sizeof v->label, d->has_label, d->label, "vehicle.vehicle.label");
    }
    if (pv->position) {
        const PbPosition *p = pv->position;
        if (p->has_latitude && p->has_longitude) {
            pb_float(v, &v->lat, true, p->latitude, "vehicle.position.latitude");
            pb_float(v, &v->lon, true, p->longitude, "vehicle.position.longitude");
        }
        pb_float(v, &v->bearing, p->has_bearing, p->bearing, "vehicle.position.bearing");
        pb_float(v, &v->speed, p->has_speed, p->speed, "vehicle.position.speed");
    }
    if (pv->has_timestamp)
        v->timestamp = pv->timestamp;
    if (pv->has_current_stop_sequence) {
        v->has_stop_sequence = true;
        v->current_stop_sequence = pv->current_stop_sequence;
    }
    pb_str(v, v->stop_id, sizeof v->stop_id, pv->has_stop_id, pv->stop_id, "vehicle.stop_id");
    if (pv->has_current_status)
        v->current_status = (int)pv->current_status;
    vehicle_finish(v);
}

/* protobuf-c allocates for every submessage and unknown field it meets,
 * whatever cityd then keeps: an allowance per entity bounds the memory a
 * message can take (the whole message fails beyond it). Frees are not
 * credited back: during an unpack there are few. */
struct pb_budget {
    size_t left;
    bool exceeded;
};

static void *budget_alloc(void *data, size_t size)
{
    struct pb_budget *b = data;
    if (size > b->left) {
        b->exceeded = true;
        return NULL;
    }
    b->left -= size;
    return malloc(size);
}

static void budget_free(void *data, void *p)
{
    (void)data;
    free(p);
}

static int pb_header_read(const TransitRealtime__FeedHeader *ph, struct gtfsrt_header *h,
                          char *err, size_t errlen)
{
    if (ph == NULL || !ph->has_gtfs_realtime_version) {
        snprintf(err, errlen, "header.gtfs_realtime_version: missing");
        return -1;
    }
    const ProtobufCBinaryData *ver = &ph->gtfs_realtime_version;
    const char *vs = ver->data ? (const char *)ver->data : "";
    if (text_check("header.gtfs_realtime_version", vs, ver->len, sizeof h->version, err,
                         errlen) < 0)
        return -1;
    snprintf(h->version, sizeof h->version, "%.*s", (int)ver->len, vs);
    h->incrementality = ph->has_incrementality ? (int)ph->incrementality : 0;
    h->timestamp = ph->has_timestamp ? ph->timestamp : 0;
    if (h->timestamp > GTFSRT_TS_MAX) {
        snprintf(err, errlen, "header.timestamp: %llu is after 2100 (milliseconds?)",
                 (unsigned long long)h->timestamp);
        return -1;
    }
    return 0;
}

static int too_many(size_t n, size_t max, char *err, size_t errlen)
{
    snprintf(err, errlen, "entity: %zu entities, more than %zu", n, max);
    return GTFSRT_TOO_LARGE;
}

/* base + per * max_entities, saturating. */
static size_t allowance(size_t base, size_t per, size_t max_entities)
{
    return max_entities < (SIZE_MAX - base) / per ? base + max_entities * per : SIZE_MAX;
}

int gtfsrt_decode_pb(const void *buf, size_t len, size_t max_entities, struct gtfsrt_feed *out,
                     char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    size_t bytes = allowance(64 * 1024, GTFSRT_PB_BYTES_PER_ENTITY, max_entities);
    struct pb_budget budget = {bytes, false};
    ProtobufCAllocator alloc = {budget_alloc, budget_free, &budget};
    PbFeed *m = transit_realtime__feed_message__unpack(&alloc, len, buf);
    int rc = -1;
    if (m == NULL && budget.exceeded) {
        snprintf(err, errlen, "entity: decoding would take more than %zu KiB (more than %zu "
                 "entities, or entities far too large)", bytes / 1024, max_entities);
        return GTFSRT_TOO_LARGE;
    }
    if (m == NULL) {
        snprintf(err, errlen, "body is not a GTFS-realtime FeedMessage (protobuf decoding failed)");
        return -1;
    }
    if (pb_header_read(m->header, &out->header, err, errlen) < 0)
        goto out;
    if (m->n_entity > max_entities) {
        rc = too_many(m->n_entity, max_entities, err, errlen);
        goto out;
    }
    if (alloc_entities(out, m->n_entity, err, errlen) < 0)
        goto out;
    for (size_t i = 0; i < m->n_entity; i++) {
        const PbEntity *e = m->entity[i];
        if (e->vehicle == NULL || (e->has_is_deleted && e->is_deleted)) {
            out->n_other++;
            continue;
        }
        struct gtfsrt_vehicle *v = &out->v[out->n++];
        gtfsrt_vehicle_init(v);
        v->index = (uint32_t)i;
        pb_vehicle(v, e);
    }
    rc = 0;
out:
    transit_realtime__feed_message__free_unpacked(m, &alloc);
    if (rc < 0)
        gtfsrt_feed_clear(out);
    return rc;
}

/* ---- JSON decoding ---- */

/* Member by snake_case name or its lowerCamelCase twin. */
static json_t *jget(const json_t *o, const char *snake)
{
    json_t *v = json_object_get(o, snake);
    if (v != NULL || strchr(snake, '_') == NULL)
        return v;
    char camel[64];
    size_t k = 0;
    for (const char *s = snake; *s && k + 1 < sizeof camel; s++) {
        if (*s == '_' && s[1]) {
            s++;
            camel[k++] = (char)(*s >= 'a' && *s <= 'z' ? *s - 32 : *s);
        } else {
            camel[k++] = *s;
        }
    }
    camel[k] = '\0';
    return json_object_get(o, camel);
}

static void j_str(struct gtfsrt_vehicle *v, const json_t *o, const char *key, char *dst,
                  size_t size, const char *path)
{
    json_t *x = jget(o, key);
    if (x == NULL || json_is_null(x))
        return;
    if (!json_is_string(x)) {
        entity_error(v, "%s: must be a string", path);
        return;
    }
    copy_str(v, dst, size, json_string_value(x), json_string_length(x), path);
}

/* A number, or (proto3 JSON for 64-bit) a decimal string. */
static bool j_num(struct gtfsrt_vehicle *v, const json_t *o, const char *key, double *dst,
                  const char *path)
{
    json_t *x = jget(o, key);
    if (x == NULL || json_is_null(x))
        return false;
    if (json_is_number(x)) {
        *dst = json_number_value(x);
        return true;
    }
    if (json_is_string(x)) {
        char *end;
        const char *s = json_string_value(x);
        double d = strtod(s, &end);
        if (*s && *end == '\0' && isfinite(d)) {
            *dst = d;
            return true;
        }
    }
    entity_error(v, "%s: must be a number", path);
    return false;
}

static bool j_uint(struct gtfsrt_vehicle *v, const json_t *o, const char *key, double max,
                   double *dst, const char *path)
{
    double d;
    if (!j_num(v, o, key, &d, path))
        return false;
    if (d < 0 || d > max || d != floor(d)) {
        entity_error(v, "%s: must be an integer in [0, %.0f]", path, max);
        return false;
    }
    *dst = d;
    return true;
}

/* An enum by name or number; -1 when absent, -2 (and error) when bad. */
static int j_enum(struct gtfsrt_vehicle *v, const json_t *o, const char *key,
                  const char *const *names, int n, const char *path)
{
    json_t *x = jget(o, key);
    if (x == NULL || json_is_null(x))
        return -1;
    if (json_is_integer(x) && json_integer_value(x) >= 0 && json_integer_value(x) < 1000)
        return (int)json_integer_value(x);
    for (int i = 0; json_is_string(x) && i < n; i++)
        if (strcmp(json_string_value(x), names[i]) == 0)
            return i;
    entity_error(v, "%s: unknown value", path);
    return -2;
}

static const json_t *j_obj(struct gtfsrt_vehicle *v, const json_t *o, const char *key,
                           const char *path)
{
    json_t *x = jget(o, key);
    if (x == NULL || json_is_null(x))
        return NULL;
    if (!json_is_object(x)) {
        entity_error(v, "%s: must be an object", path);
        return NULL;
    }
    return x;
}

static void json_trip(struct gtfsrt_vehicle *v, const json_t *t)
{
    double d;
    j_str(v, t, "trip_id", v->trip_id, sizeof v->trip_id, "vehicle.trip.trip_id");
    j_str(v, t, "route_id", v->route_id, sizeof v->route_id, "vehicle.trip.route_id");
    j_str(v, t, "start_time", v->start_time, sizeof v->start_time, "vehicle.trip.start_time");
    j_str(v, t, "start_date", v->start_date, sizeof v->start_date, "vehicle.trip.start_date");
    if (j_uint(v, t, "direction_id", 1, &d, "vehicle.trip.direction_id"))
        v->direction_id = (int)d;
    int r = j_enum(v, t, "schedule_relationship", trip_rel_names, 4,
                   "vehicle.trip.schedule_relationship");
    v->trip_relationship = r >= 0 ? r : -1;
}

static void json_vehicle(struct gtfsrt_vehicle *v, const json_t *e)
{
    double d;
    const json_t *vp = j_obj(v, e, "vehicle", "vehicle");
    j_str(v, e, "id", v->entity_id, sizeof v->entity_id, "id");
    const json_t *t = j_obj(v, vp, "trip", "vehicle.trip");
    if (t)
        json_trip(v, t);
    const json_t *vd = j_obj(v, vp, "vehicle", "vehicle.vehicle");
    if (vd) {
        j_str(v, vd, "id", v->vehicle_id, sizeof v->vehicle_id, "vehicle.vehicle.id");
        j_str(v, vd, "label", v->label, sizeof v->label, "vehicle.vehicle.label");
    }
    const json_t *p = j_obj(v, vp, "position", "vehicle.position");
    if (p) {
        double lat, lon;
        bool has_lat = j_num(v, p, "latitude", &lat, "vehicle.position.latitude");
        bool has_lon = j_num(v, p, "longitude", &lon, "vehicle.position.longitude");
        if (has_lat && has_lon) {
            v->lat = lat;
            v->lon = lon;
        }
        j_num(v, p, "bearing", &v->bearing, "vehicle.position.bearing");
        j_num(v, p, "speed", &v->speed, "vehicle.position.speed");
    }
    if (j_uint(v, vp, "timestamp", 1e15, &d, "vehicle.timestamp"))
        v->timestamp = (uint64_t)d;
    if (j_uint(v, vp, "current_stop_sequence", UINT32_MAX, &d, "vehicle.current_stop_sequence")) {
        v->has_stop_sequence = true;
        v->current_stop_sequence = (uint32_t)d;
    }
    j_str(v, vp, "stop_id", v->stop_id, sizeof v->stop_id, "vehicle.stop_id");
    int st = j_enum(v, vp, "current_status", status_names, 3, "vehicle.current_status");
    v->current_status = st >= 0 && st <= 2 ? st : -1;
    vehicle_finish(v);
}

static int json_header(const json_t *root, struct gtfsrt_header *h, char *err, size_t errlen)
{
    const json_t *hd = jget(root, "header");
    if (!json_is_object(hd)) {
        snprintf(err, errlen, "header: missing or not an object");
        return -1;
    }
    const json_t *ver = jget(hd, "gtfs_realtime_version");
    if (!json_is_string(ver)) {
        snprintf(err, errlen, "header.gtfs_realtime_version: missing or not a string");
        return -1;
    }
    if (text_check("header.gtfs_realtime_version", json_string_value(ver),
                         json_string_length(ver), sizeof h->version, err, errlen) < 0)
        return -1;
    snprintf(h->version, sizeof h->version, "%s", json_string_value(ver));
    struct gtfsrt_vehicle scratch;
    gtfsrt_vehicle_init(&scratch);
    double ts;
    if (j_uint(&scratch, hd, "timestamp", (double)GTFSRT_TS_MAX, &ts, "header.timestamp"))
        h->timestamp = (uint64_t)ts;
    int inc = j_enum(&scratch, hd, "incrementality", incr_names, 2, "header.incrementality");
    h->incrementality = inc > 0 ? inc : 0;
    if (scratch.error[0]) {
        snprintf(err, errlen, "%s", scratch.error);
        return -1;
    }
    return 0;
}

/* Values in a JSON text, about (containers and separators outside
 * strings), counted up to limit + 1: jansson takes up to some 200 bytes
 * for each, so this bounds its memory before it parses. */
static size_t json_values(const char *buf, size_t len, size_t limit)
{
    size_t n = 1;
    bool in_str = false;
    for (size_t i = 0; i < len && n <= limit; i++) {
        char c = buf[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[' || c == ',') {
            n++;
        }
    }
    return n;
}

int gtfsrt_decode_json(const char *buf, size_t len, size_t max_entities,
                       struct gtfsrt_feed *out, char *err, size_t errlen)
{
    json_error_t je;
    memset(out, 0, sizeof *out);
    size_t values = allowance(1024, GTFSRT_JSON_VALUES_PER_ENTITY, max_entities);
    if (json_values(buf, len, values) > values) {
        snprintf(err, errlen, "entity: more than %zu JSON values (more than %zu entities, or "
                 "entities far too large)", values, max_entities);
        return GTFSRT_TOO_LARGE;
    }
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    int rc = -1;
    if (root == NULL) {
        snprintf(err, errlen, "body is not JSON: %s (line %d)", je.text, je.line);
        return -1;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "body must be a JSON object (a FeedMessage)");
        goto out;
    }
    if (json_header(root, &out->header, err, errlen) < 0)
        goto out;
    json_t *ents = json_object_get(root, "entity");
    if (ents != NULL && !json_is_array(ents)) {
        snprintf(err, errlen, "entity: must be an array");
        goto out;
    }
    if (json_array_size(ents) > max_entities) {
        rc = too_many(json_array_size(ents), max_entities, err, errlen);
        goto out;
    }
    if (alloc_entities(out, json_array_size(ents), err, errlen) < 0)
        goto out;
    for (size_t i = 0; i < json_array_size(ents); i++) {
        const json_t *e = json_array_get(ents, i);
        const json_t *del = jget(e, "is_deleted");
        if (json_is_object(e) && (jget(e, "vehicle") == NULL || json_is_true(del))) {
            out->n_other++;
            continue;
        }
        struct gtfsrt_vehicle *v = &out->v[out->n++];
        gtfsrt_vehicle_init(v);
        v->index = (uint32_t)i;
        if (!json_is_object(e))
            entity_error(v, "entity[%zu]: must be an object", i);
        else
            json_vehicle(v, e);
    }
    rc = 0;
out:
    json_decref(root);
    if (rc < 0)
        gtfsrt_feed_clear(out);
    return rc;
}

/* ---- protobuf encoding ---- */

/* A string field (bytes in cityd's .proto): set when s is not empty.
 * protobuf-c only reads data. */
static void opt(protobuf_c_boolean *has, ProtobufCBinaryData *b, const char *s)
{
    *has = s && *s;
    b->len = *has ? strlen(s) : 0;
    b->data = *has ? (uint8_t *)s : NULL;
}

static void pb_header(TransitRealtime__FeedHeader *ph, const struct gtfsrt_header *h)
{
    transit_realtime__feed_header__init(ph);
    opt(&ph->has_gtfs_realtime_version, &ph->gtfs_realtime_version,
        h->version[0] ? h->version : "2.0");
    ph->has_incrementality = true;
    ph->incrementality = h->incrementality == 1
                             ? TRANSIT_REALTIME__FEED_HEADER__INCREMENTALITY__DIFFERENTIAL
                             : TRANSIT_REALTIME__FEED_HEADER__INCREMENTALITY__FULL_DATASET;
    ph->has_timestamp = h->timestamp != 0;
    ph->timestamp = h->timestamp;
}

/* A FeedMessage of header h and entities ents[0..n), packed. */
static uint8_t *pb_pack(const struct gtfsrt_header *h, PbEntity **ents, size_t n, size_t *len)
{
    PbFeed m;
    TransitRealtime__FeedHeader ph;
    transit_realtime__feed_message__init(&m);
    pb_header(&ph, h);
    m.header = &ph;
    m.n_entity = n;
    m.entity = ents;
    size_t size = transit_realtime__feed_message__get_packed_size(&m);
    uint8_t *out = malloc(size ? size : 1);
    if (out)
        *len = transit_realtime__feed_message__pack(&m, out);
    return out;
}

static void pb_trip(PbTrip *t, const char *trip_id, const char *route_id, const char *st,
                    const char *sd, int dir)
{
    transit_realtime__trip_descriptor__init(t);
    opt(&t->has_trip_id, &t->trip_id, trip_id);
    opt(&t->has_route_id, &t->route_id, route_id);
    opt(&t->has_start_time, &t->start_time, st);
    opt(&t->has_start_date, &t->start_date, sd);
    t->has_direction_id = dir >= 0;
    t->direction_id = dir >= 0 ? (uint32_t)dir : 0;
}

struct vp_bundle {
    PbEntity e;
    PbVehicle vp;
    PbTrip trip;
    PbVehDesc vd;
    PbPosition pos;
};

static void pb_fill_vehicle(struct vp_bundle *b, const struct gtfsrt_vehicle *v)
{
    transit_realtime__feed_entity__init(&b->e);
    transit_realtime__vehicle_position__init(&b->vp);
    transit_realtime__vehicle_descriptor__init(&b->vd);
    transit_realtime__position__init(&b->pos);
    opt(&b->e.has_id, &b->e.id, v->entity_id[0] ? v->entity_id : v->vehicle_id);
    b->e.vehicle = &b->vp;
    if (v->trip_id[0] || v->route_id[0]) {
        pb_trip(&b->trip, v->trip_id, v->route_id, v->start_time, v->start_date,
                v->direction_id);
        b->trip.has_schedule_relationship = v->trip_relationship >= 0;
        b->trip.schedule_relationship = v->trip_relationship >= 0 ? v->trip_relationship : 0;
        b->vp.trip = &b->trip;
    }
    opt(&b->vd.has_id, &b->vd.id, v->vehicle_id);
    opt(&b->vd.has_label, &b->vd.label, v->label);
    b->vp.vehicle = &b->vd;
    b->pos.has_latitude = b->pos.has_longitude = true;
    b->pos.latitude = (float)v->lat;
    b->pos.longitude = (float)v->lon;
    b->pos.has_bearing = !isnan(v->bearing);
    b->pos.bearing = (float)(isnan(v->bearing) ? 0 : v->bearing);
    b->pos.has_speed = !isnan(v->speed);
    b->pos.speed = (float)(isnan(v->speed) ? 0 : v->speed);
    b->vp.position = &b->pos;
    b->vp.has_timestamp = v->timestamp != 0;
    b->vp.timestamp = v->timestamp;
    b->vp.has_current_stop_sequence = v->has_stop_sequence;
    b->vp.current_stop_sequence = v->current_stop_sequence;
    opt(&b->vp.has_stop_id, &b->vp.stop_id, v->stop_id);
    b->vp.has_current_status = v->current_status >= 0;
    b->vp.current_status = v->current_status >= 0 ? v->current_status : 0;
}

uint8_t *gtfsrt_encode_vehicles_pb(const struct gtfsrt_header *h, const struct gtfsrt_vehicle *v,
                                   size_t n, size_t *len)
{
    struct vp_bundle *b = calloc(n ? n : 1, sizeof *b);
    PbEntity **ents = calloc(n ? n : 1, sizeof *ents);
    uint8_t *out = NULL;
    if (b == NULL || ents == NULL)
        goto done;
    for (size_t i = 0; i < n; i++) {
        pb_fill_vehicle(&b[i], &v[i]);
        ents[i] = &b[i].e;
    }
    out = pb_pack(h, ents, n, len);
done:
    free(b);
    free(ents);
    return out;
}

struct stu_bundle {
    PbStu stu;
    PbEvent arr, dep;
};

struct tu_bundle {
    PbEntity e;
    PbTripUpdate tu;
    PbTrip trip;
    PbVehDesc vd;
    PbStu **stus;
};

static void pb_fill_stop(struct stu_bundle *b, const struct gtfsrt_stop_time *s)
{
    transit_realtime__trip_update__stop_time_update__init(&b->stu);
    transit_realtime__trip_update__stop_time_event__init(&b->arr);
    transit_realtime__trip_update__stop_time_event__init(&b->dep);
    b->stu.has_stop_sequence = true;
    b->stu.stop_sequence = s->stop_sequence;
    opt(&b->stu.has_stop_id, &b->stu.stop_id, s->stop_id);
    b->stu.has_schedule_relationship = s->relationship != 0;
    b->stu.schedule_relationship = s->relationship;
    if (s->has_arrival) {
        b->arr.has_time = true;
        b->arr.time = s->arrival_time;
        b->arr.has_delay = true;
        b->arr.delay = s->arrival_delay;
        b->arr.has_uncertainty = s->uncertainty > 0;
        b->arr.uncertainty = s->uncertainty;
        b->stu.arrival = &b->arr;
    }
    if (s->has_departure) {
        b->dep.has_time = true;
        b->dep.time = s->departure_time;
        b->dep.has_delay = true;
        b->dep.delay = s->departure_delay;
        b->dep.has_uncertainty = s->uncertainty > 0;
        b->dep.uncertainty = s->uncertainty;
        b->stu.departure = &b->dep;
    }
}

static void pb_fill_trip_update(struct tu_bundle *b, const struct gtfsrt_trip_update *t,
                                struct stu_bundle *stops)
{
    transit_realtime__feed_entity__init(&b->e);
    transit_realtime__trip_update__init(&b->tu);
    transit_realtime__vehicle_descriptor__init(&b->vd);
    opt(&b->e.has_id, &b->e.id, t->entity_id[0] ? t->entity_id : t->trip_id);
    b->e.trip_update = &b->tu;
    pb_trip(&b->trip, t->trip_id, t->route_id, t->start_time, t->start_date, t->direction_id);
    b->tu.trip = &b->trip;
    if (t->vehicle_id[0]) {
        opt(&b->vd.has_id, &b->vd.id, t->vehicle_id);
        b->tu.vehicle = &b->vd;
    }
    b->tu.has_timestamp = t->timestamp != 0;
    b->tu.timestamp = t->timestamp;
    b->tu.has_delay = t->has_delay;
    b->tu.delay = t->delay;
    for (size_t k = 0; k < t->n; k++) {
        pb_fill_stop(&stops[k], &t->stops[k]);
        b->stus[k] = &stops[k].stu;
    }
    b->tu.n_stop_time_update = t->n;
    b->tu.stop_time_update = b->stus;
}

uint8_t *gtfsrt_encode_trip_updates_pb(const struct gtfsrt_header *h,
                                       const struct gtfsrt_trip_update *tu, size_t n,
                                       size_t *len)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += tu[i].n;
    struct tu_bundle *b = calloc(n ? n : 1, sizeof *b);
    PbEntity **ents = calloc(n ? n : 1, sizeof *ents);
    struct stu_bundle *stops = calloc(total ? total : 1, sizeof *stops);
    PbStu **stus = calloc(total ? total : 1, sizeof *stus);
    uint8_t *out = NULL;
    if (b == NULL || ents == NULL || stops == NULL || stus == NULL)
        goto done;
    for (size_t i = 0, at = 0; i < n; at += tu[i].n, i++) {
        b[i].stus = stus + at;
        pb_fill_trip_update(&b[i], &tu[i], stops + at);
        ents[i] = &b[i].e;
    }
    out = pb_pack(h, ents, n, len);
done:
    free(b);
    free(ents);
    free(stops);
    free(stus);
    return out;
}

/* ---- JSON encoding ---- */

/* jansson's setters take ownership of the value and fail on NULL; errors
 * surface as a NULL document at the end (json_dumps of an incomplete
 * tree is never returned because every set is checked through ok). */
static void jset(json_t *o, const char *k, json_t *v, bool *ok)
{
    if (v == NULL || json_object_set_new(o, k, v) < 0)
        *ok = false;
}

static void jset_str(json_t *o, const char *k, const char *s, bool *ok)
{
    if (s && *s)
        jset(o, k, json_string(s), ok);
}

static json_t *json_header_obj(const struct gtfsrt_header *h, bool *ok)
{
    json_t *o = json_object();
    if (o == NULL) {
        *ok = false;
        return NULL;
    }
    jset(o, "gtfs_realtime_version", json_string(h->version[0] ? h->version : "2.0"), ok);
    jset(o, "incrementality", json_string(incr_names[h->incrementality == 1]), ok);
    if (h->timestamp)
        jset(o, "timestamp", json_integer((json_int_t)h->timestamp), ok);
    return o;
}

static json_t *json_trip_obj(const char *trip_id, const char *route_id, const char *st,
                             const char *sd, int dir, int rel, bool *ok)
{
    json_t *o = json_object();
    if (o == NULL) {
        *ok = false;
        return NULL;
    }
    jset_str(o, "trip_id", trip_id, ok);
    jset_str(o, "route_id", route_id, ok);
    jset_str(o, "start_time", st, ok);
    jset_str(o, "start_date", sd, ok);
    if (dir >= 0)
        jset(o, "direction_id", json_integer(dir), ok);
    if (rel >= 0 && rel < 4)
        jset(o, "schedule_relationship", json_string(trip_rel_names[rel]), ok);
    return o;
}

static json_t *json_vehicle_obj(const struct gtfsrt_vehicle *v, bool *ok)
{
    json_t *e = json_object(), *vp = json_object(), *vd = json_object(), *pos = json_object();
    if (!e || !vp || !vd || !pos) {
        json_decref(e);
        json_decref(vp);
        json_decref(vd);
        json_decref(pos);
        *ok = false;
        return NULL;
    }
    jset(e, "id", json_string(v->entity_id[0] ? v->entity_id : v->vehicle_id), ok);
    if (v->trip_id[0] || v->route_id[0])
        jset(vp, "trip", json_trip_obj(v->trip_id, v->route_id, v->start_time, v->start_date,
                                       v->direction_id, v->trip_relationship, ok), ok);
    jset_str(vd, "id", v->vehicle_id, ok);
    jset_str(vd, "label", v->label, ok);
    jset(vp, "vehicle", vd, ok);
    jset(pos, "latitude", json_real(v->lat), ok);
    jset(pos, "longitude", json_real(v->lon), ok);
    if (!isnan(v->bearing))
        jset(pos, "bearing", json_real(v->bearing), ok);
    if (!isnan(v->speed))
        jset(pos, "speed", json_real(v->speed), ok);
    jset(vp, "position", pos, ok);
    if (v->timestamp)
        jset(vp, "timestamp", json_integer((json_int_t)v->timestamp), ok);
    if (v->has_stop_sequence)
        jset(vp, "current_stop_sequence", json_integer(v->current_stop_sequence), ok);
    jset_str(vp, "stop_id", v->stop_id, ok);
    if (v->current_status >= 0 && v->current_status <= 2)
        jset(vp, "current_status", json_string(status_names[v->current_status]), ok);
    jset(e, "vehicle", vp, ok);
    return e;
}

static json_t *json_event_obj(int64_t t, int32_t delay, int32_t unc, bool *ok)
{
    json_t *o = json_object();
    if (o == NULL) {
        *ok = false;
        return NULL;
    }
    jset(o, "time", json_integer(t), ok);
    jset(o, "delay", json_integer(delay), ok);
    if (unc > 0)
        jset(o, "uncertainty", json_integer(unc), ok);
    return o;
}

static json_t *json_trip_update_obj(const struct gtfsrt_trip_update *t, bool *ok)
{
    json_t *e = json_object(), *tu = json_object(), *arr = json_array();
    if (!e || !tu || !arr) {
        json_decref(e);
        json_decref(tu);
        json_decref(arr);
        *ok = false;
        return NULL;
    }
    jset(e, "id", json_string(t->entity_id[0] ? t->entity_id : t->trip_id), ok);
    jset(tu, "trip", json_trip_obj(t->trip_id, t->route_id, t->start_time, t->start_date,
                                   t->direction_id, -1, ok), ok);
    if (t->vehicle_id[0])
        jset(tu, "vehicle", json_pack("{s:s}", "id", t->vehicle_id), ok);
    if (t->timestamp)
        jset(tu, "timestamp", json_integer((json_int_t)t->timestamp), ok);
    if (t->has_delay)
        jset(tu, "delay", json_integer(t->delay), ok);
    for (size_t k = 0; k < t->n; k++) {
        const struct gtfsrt_stop_time *s = &t->stops[k];
        json_t *o = json_object();
        if (o == NULL || json_array_append_new(arr, o) < 0) {
            *ok = false;
            break;
        }
        jset(o, "stop_sequence", json_integer(s->stop_sequence), ok);
        jset_str(o, "stop_id", s->stop_id, ok);
        if (s->has_arrival)
            jset(o, "arrival", json_event_obj(s->arrival_time, s->arrival_delay,
                                              s->uncertainty, ok), ok);
        if (s->has_departure)
            jset(o, "departure", json_event_obj(s->departure_time, s->departure_delay,
                                                s->uncertainty, ok), ok);
        if (s->relationship > 0 && s->relationship < 4)
            jset(o, "schedule_relationship", json_string(stu_rel_names[s->relationship]), ok);
    }
    jset(tu, "stop_time_update", arr, ok);
    jset(e, "trip_update", tu, ok);
    return e;
}

typedef json_t *entity_fn(const void *items, size_t i, bool *ok);

static json_t *vehicle_at(const void *items, size_t i, bool *ok)
{
    return json_vehicle_obj((const struct gtfsrt_vehicle *)items + i, ok);
}

static json_t *trip_update_at(const void *items, size_t i, bool *ok)
{
    return json_trip_update_obj((const struct gtfsrt_trip_update *)items + i, ok);
}

static char *json_feed(const struct gtfsrt_header *h, const void *items, size_t n,
                       entity_fn *fn, size_t *len)
{
    bool ok = true;
    json_t *root = json_object(), *ents = json_array();
    char *out = NULL;
    if (root == NULL || ents == NULL) {
        json_decref(root);
        json_decref(ents);
        return NULL;
    }
    jset(root, "header", json_header_obj(h, &ok), &ok);
    for (size_t i = 0; ok && i < n; i++) {
        json_t *e = fn(items, i, &ok);
        if (e == NULL || json_array_append_new(ents, e) < 0)
            ok = false;
    }
    jset(root, "entity", ents, &ok);
    if (ok)
        out = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(root);
    if (out)
        *len = strlen(out);
    return out;
}

char *gtfsrt_encode_vehicles_json(const struct gtfsrt_header *h, const struct gtfsrt_vehicle *v,
                                  size_t n, size_t *len)
{
    return json_feed(h, v, n, vehicle_at, len);
}

char *gtfsrt_encode_trip_updates_json(const struct gtfsrt_header *h,
                                      const struct gtfsrt_trip_update *tu, size_t n,
                                      size_t *len)
{
    return json_feed(h, tu, n, trip_update_at, len);
}
