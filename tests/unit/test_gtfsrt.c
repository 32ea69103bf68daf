/* test_gtfsrt.c -- GTFS-realtime codec: decoding hand-assembled protobuf
 * bytes (field numbers checked against the reference independently of
 * protoc-c), encode/decode round trips, the JSON mapping (snake_case and
 * lowerCamelCase, enums by name or number, 64-bit as strings), per-entity
 * errors, malformed input, and TripUpdates output in both encodings. */
#include <CUnit/CUnit.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "gtfs-realtime.pb-c.h"
#include "gtfsrt.h"

static char err[256];

#define MAX_ENTITIES 1000          /* transit.max_batch, for these tests */

/* Assembled byte by byte from the GTFS-realtime reference numbering:
 * FeedMessage{header(1){version(1)="2.0", timestamp(3)=100},
 *   entity(2){id(1)="v1", vehicle(4){
 *     trip(1){trip_id(1)="T1", route_id(5)="R1", direction_id(6)=1},
 *     position(2){latitude(1)=1.5f, longitude(2)=2.5f, speed(5)=10f},
 *     current_stop_sequence(3)=7, current_status(4)=STOPPED_AT,
 *     timestamp(5)=1771257512, stop_id(7)="S9", vehicle(8){id(1)="bus7"},
 *     occupancy_status(9)=1 (not in cityd's .proto: must be skipped)}},
 *   entity(2){id="tu1", trip_update(3){trip{trip_id="T2"}}},
 *   entity(2){id="v2", vehicle(4){vehicle(8){id="bus8"}}}  -- no position } */
static const unsigned char hand_feed[] = {
    0x0a, 0x07, 0x0a, 0x03, 0x32, 0x2e, 0x30, 0x18, 0x64, 0x12, 0x3b, 0x0a, 0x02, 0x76, 0x31,
    0x22, 0x35, 0x0a, 0x0a, 0x0a, 0x02, 0x54, 0x31, 0x2a, 0x02, 0x52, 0x31, 0x30, 0x01, 0x12,
    0x0f, 0x0d, 0x00, 0x00, 0xc0, 0x3f, 0x15, 0x00, 0x00, 0x20, 0x40, 0x2d, 0x00, 0x00, 0x20,
    0x41, 0x18, 0x07, 0x20, 0x01, 0x28, 0xa8, 0xfd, 0xcc, 0xcc, 0x06, 0x3a, 0x02, 0x53, 0x39,
    0x42, 0x06, 0x0a, 0x04, 0x62, 0x75, 0x73, 0x37, 0x48, 0x01, 0x12, 0x0d, 0x0a, 0x03, 0x74,
    0x75, 0x31, 0x1a, 0x06, 0x0a, 0x04, 0x0a, 0x02, 0x54, 0x32, 0x12, 0x0e, 0x0a, 0x02, 0x76,
    0x32, 0x22, 0x08, 0x42, 0x06, 0x0a, 0x04, 0x62, 0x75, 0x73, 0x38};

static void test_decode_hand_bytes(void)
{
    struct gtfsrt_feed f;
    CU_ASSERT_EQUAL_FATAL(gtfsrt_decode_pb(hand_feed, sizeof hand_feed, MAX_ENTITIES, &f, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(f.header.version, "2.0");
    CU_ASSERT_EQUAL(f.header.timestamp, 100);
    CU_ASSERT_EQUAL(f.header.incrementality, 0);
    CU_ASSERT_EQUAL_FATAL(f.n, 2);
    CU_ASSERT_EQUAL(f.n_other, 1);
    const struct gtfsrt_vehicle *v = &f.v[0];
    CU_ASSERT_EQUAL(v->index, 0);
    CU_ASSERT_STRING_EQUAL(v->error, "");
    CU_ASSERT_STRING_EQUAL(v->entity_id, "v1");
    CU_ASSERT_STRING_EQUAL(v->trip_id, "T1");
    CU_ASSERT_STRING_EQUAL(v->route_id, "R1");
    CU_ASSERT_EQUAL(v->direction_id, 1);
    CU_ASSERT_DOUBLE_EQUAL(v->lat, 1.5, 0);
    CU_ASSERT_DOUBLE_EQUAL(v->lon, 2.5, 0);
    CU_ASSERT_DOUBLE_EQUAL(v->speed, 10.0, 0);
    CU_ASSERT_TRUE(isnan(v->bearing));
    CU_ASSERT_TRUE(v->has_stop_sequence);
    CU_ASSERT_EQUAL(v->current_stop_sequence, 7);
    CU_ASSERT_EQUAL(v->current_status, GTFSRT_STOPPED_AT);
    CU_ASSERT_EQUAL(v->timestamp, 1771257512);
    CU_ASSERT_STRING_EQUAL(v->stop_id, "S9");
    CU_ASSERT_STRING_EQUAL(v->vehicle_id, "bus7");
    /* Third entity (index 2): a vehicle without a position. */
    CU_ASSERT_EQUAL(f.v[1].index, 2);
    CU_ASSERT_STRING_EQUAL(f.v[1].vehicle_id, "bus8");
    CU_ASSERT_PTR_NOT_NULL(strstr(f.v[1].error, "vehicle.position"));
    gtfsrt_feed_clear(&f);
}

static void test_decode_malformed(void)
{
    struct gtfsrt_feed f;
    /* Truncated in the middle of the entity. */
    CU_ASSERT_EQUAL(gtfsrt_decode_pb(hand_feed, 30, MAX_ENTITIES, &f, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "protobuf"));
    CU_ASSERT_EQUAL(f.n, 0);
    CU_ASSERT_PTR_NULL(f.v);
    static const char junk[] = "{\"header\": {}}";
    CU_ASSERT_EQUAL(gtfsrt_decode_pb(junk, sizeof junk - 1, MAX_ENTITIES, &f, err, sizeof err), -1);
    /* A well-formed message without a header. */
    static const unsigned char no_header[] = {0x12, 0x04, 0x0a, 0x02, 0x76, 0x31};
    CU_ASSERT_EQUAL(gtfsrt_decode_pb(no_header, sizeof no_header, MAX_ENTITIES, &f, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "header"));
    /* Empty input is an empty message: no header either. */
    CU_ASSERT_EQUAL(gtfsrt_decode_pb("", 0, MAX_ENTITIES, &f, err, sizeof err), -1);
}

static void sample_vehicles(struct gtfsrt_vehicle *v)
{
    gtfsrt_vehicle_init(&v[0]);
    strcpy(v[0].entity_id, "e1");
    strcpy(v[0].vehicle_id, "bus-1");
    strcpy(v[0].label, "Bus 1");
    strcpy(v[0].trip_id, "T1");
    strcpy(v[0].route_id, "R1");
    strcpy(v[0].start_time, "25:10:00");
    strcpy(v[0].start_date, "20260216");
    v[0].direction_id = 0;
    v[0].trip_relationship = 0;
    v[0].lat = 37.54012;
    v[0].lon = 121.39177;
    v[0].bearing = 90;
    v[0].speed = 8.5;
    v[0].timestamp = 1771257512;
    v[0].has_stop_sequence = true;
    v[0].current_stop_sequence = 30;
    strcpy(v[0].stop_id, "S3");
    v[0].current_status = GTFSRT_IN_TRANSIT_TO;
    gtfsrt_vehicle_init(&v[1]);                /* the bare minimum */
    strcpy(v[1].entity_id, "e2");
    v[1].lat = -33.5;
    v[1].lon = -70.25;
}

static void check_same(const struct gtfsrt_vehicle *a, const struct gtfsrt_vehicle *b)
{
    CU_ASSERT_STRING_EQUAL(a->entity_id, b->entity_id);
    CU_ASSERT_STRING_EQUAL(a->trip_id, b->trip_id);
    CU_ASSERT_STRING_EQUAL(a->route_id, b->route_id);
    CU_ASSERT_STRING_EQUAL(a->start_time, b->start_time);
    CU_ASSERT_STRING_EQUAL(a->start_date, b->start_date);
    CU_ASSERT_STRING_EQUAL(a->label, b->label);
    CU_ASSERT_STRING_EQUAL(a->stop_id, b->stop_id);
    CU_ASSERT_EQUAL(a->direction_id, b->direction_id);
    CU_ASSERT_EQUAL(a->trip_relationship, b->trip_relationship);
    CU_ASSERT_DOUBLE_EQUAL(a->lat, b->lat, 1e-5);    /* float on the wire */
    CU_ASSERT_DOUBLE_EQUAL(a->lon, b->lon, 1e-5);
    CU_ASSERT_EQUAL(isnan(a->bearing), isnan(b->bearing));
    CU_ASSERT_EQUAL(isnan(a->speed), isnan(b->speed));
    CU_ASSERT_EQUAL(a->timestamp, b->timestamp);
    CU_ASSERT_EQUAL(a->has_stop_sequence, b->has_stop_sequence);
    CU_ASSERT_EQUAL(a->current_stop_sequence, b->current_stop_sequence);
    CU_ASSERT_EQUAL(a->current_status, b->current_status);
    CU_ASSERT_STRING_EQUAL(b->error, "");
}

static void test_round_trips(void)
{
    struct gtfsrt_vehicle v[2];
    struct gtfsrt_header h = {"2.0", 1, 1771257600};
    sample_vehicles(v);
    size_t len;
    uint8_t *pb = gtfsrt_encode_vehicles_pb(&h, v, 2, &len);
    CU_ASSERT_FATAL(pb != NULL);
    struct gtfsrt_feed f;
    CU_ASSERT_EQUAL_FATAL(gtfsrt_decode_pb(pb, len, MAX_ENTITIES, &f, err, sizeof err), 0);
    CU_ASSERT_EQUAL(f.header.incrementality, 1);
    CU_ASSERT_EQUAL(f.header.timestamp, 1771257600);
    CU_ASSERT_EQUAL_FATAL(f.n, 2);
    check_same(&v[0], &f.v[0]);
    check_same(&v[1], &f.v[1]);
    CU_ASSERT_STRING_EQUAL(f.v[0].vehicle_id, "bus-1");
    CU_ASSERT_STRING_EQUAL(f.v[1].vehicle_id, "e2");      /* falls back to the entity id */
    gtfsrt_feed_clear(&f);
    free(pb);

    char *js = gtfsrt_encode_vehicles_json(&h, v, 2, &len);
    CU_ASSERT_FATAL(js != NULL);
    CU_ASSERT_EQUAL(strlen(js), len);
    CU_ASSERT_PTR_NOT_NULL(strstr(js, "\"current_status\":\"IN_TRANSIT_TO\""));
    CU_ASSERT_EQUAL_FATAL(gtfsrt_decode_json(js, len, MAX_ENTITIES, &f, err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL(f.n, 2);
    check_same(&v[0], &f.v[0]);
    check_same(&v[1], &f.v[1]);
    CU_ASSERT_DOUBLE_EQUAL(f.v[0].lat, 37.54012, 1e-9);   /* JSON keeps doubles */
    gtfsrt_feed_clear(&f);
    free(js);

    /* No entities at all. */
    pb = gtfsrt_encode_vehicles_pb(&h, v, 0, &len);
    CU_ASSERT_FATAL(pb != NULL);
    CU_ASSERT_EQUAL(gtfsrt_decode_pb(pb, len, MAX_ENTITIES, &f, err, sizeof err), 0);
    CU_ASSERT_EQUAL(f.n, 0);
    gtfsrt_feed_clear(&f);
    free(pb);
}

static void test_json_mapping(void)
{
    static const char body[] =
        "{\"header\":{\"gtfsRealtimeVersion\":\"2.0\",\"timestamp\":\"1771257512\","
        "\"incrementality\":\"DIFFERENTIAL\"},\"entity\":["
        /* 0: camelCase, enums by number, 64-bit as a string */
        "{\"id\":\"a\",\"vehicle\":{\"trip\":{\"tripId\":\"T1\",\"routeId\":\"R1\","
        "\"directionId\":1,\"scheduleRelationship\":0},\"vehicle\":{\"id\":\"bus-a\"},"
        "\"position\":{\"latitude\":37.5,\"longitude\":121.4},\"timestamp\":\"1771257500\","
        "\"currentStopSequence\":4,\"currentStatus\":1}},"
        /* 1: latitude of the wrong type */
        "{\"id\":\"b\",\"vehicle\":{\"position\":{\"latitude\":\"north\",\"longitude\":1}}},"
        /* 2: not an object */
        "42,"
        /* 3: a trip update and 4: a deletion are not vehicles */
        "{\"id\":\"c\",\"trip_update\":{\"trip\":{\"trip_id\":\"T1\"}}},"
        "{\"id\":\"d\",\"is_deleted\":true,\"vehicle\":{}},"
        /* 5: unknown enum name; 6: id too long; 7: no id */
        "{\"id\":\"e\",\"vehicle\":{\"position\":{\"latitude\":1,\"longitude\":1},"
        "\"current_status\":\"FLYING\"}},"
        "{\"id\":\"0123456789012345678901234567890123456789012345678901234567890123456789\","
        "\"vehicle\":{\"position\":{\"latitude\":1,\"longitude\":1}}},"
        "{\"vehicle\":{\"vehicle\":{\"id\":\"x\"},\"position\":{\"latitude\":1,\"longitude\":1},"
        "\"unknown_field\":[1,2]}}]}";
    struct gtfsrt_feed f;
    CU_ASSERT_EQUAL_FATAL(gtfsrt_decode_json(body, strlen(body), MAX_ENTITIES, &f, err, sizeof err), 0);
    CU_ASSERT_EQUAL(f.header.timestamp, 1771257512);
    CU_ASSERT_EQUAL(f.header.incrementality, 1);
    CU_ASSERT_EQUAL_FATAL(f.n, 6);
    CU_ASSERT_EQUAL(f.n_other, 2);
    CU_ASSERT_STRING_EQUAL(f.v[0].error, "");
    CU_ASSERT_STRING_EQUAL(f.v[0].trip_id, "T1");
    CU_ASSERT_STRING_EQUAL(f.v[0].vehicle_id, "bus-a");
    CU_ASSERT_EQUAL(f.v[0].direction_id, 1);
    CU_ASSERT_EQUAL(f.v[0].timestamp, 1771257500);
    CU_ASSERT_EQUAL(f.v[0].current_status, GTFSRT_STOPPED_AT);
    CU_ASSERT_EQUAL(f.v[0].current_stop_sequence, 4);
    CU_ASSERT_STRING_EQUAL(f.v[1].error, "vehicle.position.latitude: must be a number");
    CU_ASSERT_EQUAL(f.v[2].index, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(f.v[2].error, "must be an object"));
    CU_ASSERT_EQUAL(f.v[3].index, 5);
    CU_ASSERT_STRING_EQUAL(f.v[3].error, "vehicle.current_status: unknown value");
    CU_ASSERT_STRING_EQUAL(f.v[4].error, "id: longer than 63 bytes");
    CU_ASSERT_STRING_EQUAL(f.v[5].error, "id: missing");
    gtfsrt_feed_clear(&f);
}

static void test_json_malformed(void)
{
    struct gtfsrt_feed f;
    const char *bad[] = {
        "", "{", "[]", "{\"entity\":[]}", "{\"header\":{}}",
        "{\"header\":{\"gtfs_realtime_version\":2}}",
        "{\"header\":{\"gtfs_realtime_version\":\"2.0\"},\"entity\":{}}",
        "{\"header\":{\"gtfs_realtime_version\":\"2.0\",\"timestamp\":-5}}",
        "{\"header\":{\"gtfs_realtime_version\":\"2.0\"},\"header\":{}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CU_ASSERT_EQUAL(gtfsrt_decode_json(bad[i], strlen(bad[i]), MAX_ENTITIES, &f, err, sizeof err), -1);
        CU_ASSERT(err[0] != '\0');
        CU_ASSERT_PTR_NULL(f.v);
    }
    const char *ok = "{\"header\":{\"gtfs_realtime_version\":\"2.0\"}}";
    CU_ASSERT_EQUAL(gtfsrt_decode_json(ok, strlen(ok), MAX_ENTITIES, &f, err, sizeof err), 0);
    CU_ASSERT_EQUAL(f.n, 0);
    gtfsrt_feed_clear(&f);
}

/* A string field of a decoded message (bytes in cityd's .proto) is s. */
static bool pb_is(ProtobufCBinaryData b, const char *s)
{
    return b.len == strlen(s) && memcmp(b.data, s, b.len) == 0;
}

static void sample_trip_update(struct gtfsrt_trip_update *tu, struct gtfsrt_stop_time *st)
{
    memset(tu, 0, sizeof *tu);
    memset(st, 0, 2 * sizeof *st);
    strcpy(tu->trip_id, "T1");
    strcpy(tu->route_id, "R1");
    strcpy(tu->start_date, "20260216");
    strcpy(tu->vehicle_id, "bus-1");
    tu->direction_id = -1;
    tu->timestamp = 1771257512;
    tu->has_delay = true;
    tu->delay = 95;
    st[0] = (struct gtfsrt_stop_time){.stop_sequence = 20, .has_arrival = true,
                                      .arrival_time = 1771257600, .arrival_delay = 90,
                                      .has_departure = true, .departure_time = 1771257630,
                                      .departure_delay = 100, .uncertainty = 30};
    strcpy(st[0].stop_id, "S2");
    st[1] = (struct gtfsrt_stop_time){.stop_sequence = 30, .has_arrival = true,
                                      .arrival_time = 1771257800, .arrival_delay = 120};
    strcpy(st[1].stop_id, "S3");
    tu->n = 2;
    tu->stops = st;
}

static void test_trip_updates_pb(void)
{
    struct gtfsrt_trip_update tu;
    struct gtfsrt_stop_time st[2];
    struct gtfsrt_header h = {"2.0", 0, 1771257513};
    sample_trip_update(&tu, st);
    size_t len;
    uint8_t *pb = gtfsrt_encode_trip_updates_pb(&h, &tu, 1, &len);
    CU_ASSERT_FATAL(pb != NULL);
    TransitRealtime__FeedMessage *m = transit_realtime__feed_message__unpack(NULL, len, pb);
    CU_ASSERT_FATAL(m != NULL);
    CU_ASSERT_EQUAL(m->header->timestamp, 1771257513);
    CU_ASSERT_EQUAL_FATAL(m->n_entity, 1);
    const TransitRealtime__TripUpdate *u = m->entity[0]->trip_update;
    CU_ASSERT_FATAL(u != NULL && m->entity[0]->vehicle == NULL);
    CU_ASSERT_TRUE(pb_is(m->entity[0]->id, "T1"));
    CU_ASSERT_TRUE(pb_is(u->trip->trip_id, "T1"));
    CU_ASSERT_TRUE(pb_is(u->trip->start_date, "20260216"));
    CU_ASSERT_FALSE(u->trip->has_direction_id);
    CU_ASSERT_TRUE(pb_is(u->vehicle->id, "bus-1"));
    CU_ASSERT_EQUAL(u->timestamp, 1771257512);
    CU_ASSERT_EQUAL(u->delay, 95);
    CU_ASSERT_EQUAL_FATAL(u->n_stop_time_update, 2);
    const TransitRealtime__TripUpdate__StopTimeUpdate *s0 = u->stop_time_update[0];
    CU_ASSERT_EQUAL(s0->stop_sequence, 20);
    CU_ASSERT_TRUE(pb_is(s0->stop_id, "S2"));
    CU_ASSERT_EQUAL(s0->arrival->time, 1771257600);
    CU_ASSERT_EQUAL(s0->arrival->delay, 90);
    CU_ASSERT_EQUAL(s0->arrival->uncertainty, 30);
    CU_ASSERT_EQUAL(s0->departure->time, 1771257630);
    CU_ASSERT_PTR_NULL(u->stop_time_update[1]->departure);
    CU_ASSERT_FALSE(u->stop_time_update[1]->arrival->has_uncertainty);
    transit_realtime__feed_message__free_unpacked(m, NULL);
    free(pb);
}

static void test_trip_updates_json(void)
{
    struct gtfsrt_trip_update tu;
    struct gtfsrt_stop_time st[2];
    struct gtfsrt_header h = {"2.0", 0, 1771257513};
    sample_trip_update(&tu, st);
    size_t len;
    char *js = gtfsrt_encode_trip_updates_json(&h, &tu, 1, &len);
    CU_ASSERT_FATAL(js != NULL);
    json_error_t je;
    json_t *root = json_loads(js, 0, &je);
    CU_ASSERT_FATAL(root != NULL);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(root, "header"),
                                                       "timestamp")), 1771257513);
    json_t *u = json_object_get(json_array_get(json_object_get(root, "entity"), 0),
                                "trip_update");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(u, "trip"),
                                                             "trip_id")), "T1");
    json_t *stus = json_object_get(u, "stop_time_update");
    CU_ASSERT_EQUAL_FATAL(json_array_size(stus), 2);
    json_t *a1 = json_object_get(json_array_get(stus, 1), "arrival");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(a1, "time")), 1771257800);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(a1, "delay")), 120);
    CU_ASSERT_PTR_NULL(json_object_get(json_array_get(stus, 1), "departure"));
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(stus, 0),
                                                       "stop_sequence")), 20);
    json_decref(root);
    free(js);
}

/* ---- a protobuf writer for hand-made messages (the encoder cannot
 * produce what these tests need: NUL bytes, NaN, values out of range) ---- */

struct pbw {
    unsigned char b[1024];
    size_t n;
};

static void pw_varint(struct pbw *w, uint64_t v)
{
    do {
        w->b[w->n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
}

static void pw_bytes(struct pbw *w, int field, const void *p, size_t len)
{
    pw_varint(w, (uint64_t)field << 3 | 2);
    pw_varint(w, len);
    memcpy(w->b + w->n, p, len);
    w->n += len;
}

static void pw_str(struct pbw *w, int field, const char *s)
{
    pw_bytes(w, field, s, strlen(s));
}

static void pw_msg(struct pbw *w, int field, const struct pbw *sub)
{
    pw_bytes(w, field, sub->b, sub->n);
}

static void pw_uint(struct pbw *w, int field, uint64_t v)
{
    pw_varint(w, (uint64_t)field << 3);
    pw_varint(w, v);
}

static void pw_float(struct pbw *w, int field, float f)
{
    pw_varint(w, (uint64_t)field << 3 | 5);
    memcpy(w->b + w->n, &f, 4);
    w->n += 4;
}

/* Fields of one hand-made VehiclePosition entity; NULL / NAN: absent. */
struct pbent {
    const char *id;
    size_t id_len;                 /* 0: strlen(id) */
    const char *trip_id, *route_id, *start_date, *start_time, *veh_id, *label, *stop_id;
    float lat, lon, bearing, speed;
    uint64_t timestamp;
};

static void pw_entity(struct pbw *feed, const struct pbent *e)
{
    struct pbw ent = {.n = 0}, vp = {.n = 0}, trip = {.n = 0}, vd = {.n = 0}, pos = {.n = 0};
    const struct {
        struct pbw *to;
        int field;
        const char *s;
    } strs[] = {{&trip, 1, e->trip_id}, {&trip, 2, e->start_time}, {&trip, 3, e->start_date},
                {&trip, 5, e->route_id}, {&vp, 7, e->stop_id},     {&vd, 1, e->veh_id},
                {&vd, 2, e->label}};
    if (e->id)
        pw_bytes(&ent, 1, e->id, e->id_len ? e->id_len : strlen(e->id));
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
        if (strs[i].s)
            pw_str(strs[i].to, strs[i].field, strs[i].s);
    if (trip.n)
        pw_msg(&vp, 1, &trip);
    pw_float(&pos, 1, e->lat);
    pw_float(&pos, 2, e->lon);
    if (!isnan(e->bearing) || signbit(e->bearing))   /* -NAN: a NaN on the wire */
        pw_float(&pos, 3, e->bearing);
    if (!isnan(e->speed) || signbit(e->speed))
        pw_float(&pos, 5, e->speed);
    pw_msg(&vp, 2, &pos);
    if (e->timestamp)
        pw_uint(&vp, 5, e->timestamp);
    if (vd.n)
        pw_msg(&vp, 8, &vd);
    pw_msg(&ent, 4, &vp);
    pw_msg(feed, 2, &ent);
}

static void pw_header(struct pbw *feed, const char *version)
{
    struct pbw h = {.n = 0};
    pw_str(&h, 1, version);
    pw_msg(feed, 1, &h);
}

/* An entity with a position and a timestamp, the rest absent. */
static struct pbent pbent(const char *id)
{
    return (struct pbent){.id = id, .lat = 37.5f, .lon = 121.4f, .bearing = NAN, .speed = NAN,
                          .timestamp = 1771257512};
}

/* Decode a message of the n entities and check each one's error: want[i]
 * is found in it (NULL or "": no error). f is left for more checks. */
static void decode_check(const struct pbent *ents, size_t n, const char *const *want,
                         struct gtfsrt_feed *f)
{
    struct pbw w = {.n = 0};
    pw_header(&w, "2.0");
    for (size_t i = 0; i < n; i++)
        pw_entity(&w, &ents[i]);
    CU_ASSERT_EQUAL_FATAL(gtfsrt_decode_pb(w.b, w.n, MAX_ENTITIES, f, err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL(f->n, n);
    for (size_t i = 0; i < n; i++) {
        if (want[i] == NULL || want[i][0] == '\0') {
            CU_ASSERT_STRING_EQUAL(f->v[i].error, "");
        } else {
            CU_ASSERT_PTR_NOT_NULL(strstr(f->v[i].error, want[i]));
        }
    }
}

/* Issue 12, defect 6: every string kept from protobuf obeys the rule JSON
 * strings obey (valid UTF-8, no NUL, at most 63 bytes); a bad one is its
 * entity's error, naming the field, and the other entities decode. */
static void test_pb_strings(void)
{
    static const char long_id[] =
        "0123456789012345678901234567890123456789012345678901234567890123";
    struct pbent ents[10];
    static const char *const ids[] = {"a", "b\0c", "c", "d", "e", "f", "g", "h", "i", "j\xff"};
    for (size_t i = 0; i < 10; i++)
        ents[i] = pbent(ids[i]);
    ents[0].veh_id = "bus-\xff";
    ents[1].id_len = 3;
    ents[2].trip_id = long_id;
    ents[3].start_date = "2026\xff";
    ents[4].route_id = "\xe5\x85\xac\xe4\xba\xa4";
    ents[4].label = "\xe9\xb2\x81 F-1";
    ents[5].stop_id = "\xc0\xaf";                  /* overlong '/' */
    ents[6].label = "\xed\xa0\x80";                /* a surrogate */
    ents[7].veh_id = "ok\xf4\x90\x80\x80";         /* above U+10FFFF */
    ents[8].start_time = "08:00\xe5";              /* cut short */
    static const char *const want[] = {
        "vehicle.vehicle.id: not valid UTF-8", "id: contains a NUL byte",
        "vehicle.trip.trip_id: longer than 63 bytes", "vehicle.trip.start_date: not valid UTF-8",
        "", "vehicle.stop_id: not valid UTF-8", "vehicle.vehicle.label: not valid UTF-8",
        "vehicle.vehicle.id: not valid UTF-8", "vehicle.trip.start_time: not valid UTF-8",
        "id: not valid UTF-8"};
    struct gtfsrt_feed f;
    decode_check(ents, sizeof ents / sizeof *ents, want, &f);
    CU_ASSERT_STRING_EQUAL(f.v[4].route_id, "\xe5\x85\xac\xe4\xba\xa4");
    CU_ASSERT_STRING_EQUAL(f.v[4].label, "\xe9\xb2\x81 F-1");
    gtfsrt_feed_clear(&f);

    /* The header's version is a string from protobuf too. */
    struct pbw w = {.n = 0};
    pw_header(&w, "2.\xff");
    CU_ASSERT_EQUAL(gtfsrt_decode_pb(w.b, w.n, MAX_ENTITIES, &f, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(err, "header.gtfs_realtime_version: not valid UTF-8");
}

/* Numbers protobuf can carry and no bus can have: NaN or infinite
 * positions, speeds and bearings, negative or absurd speeds, bearings
 * outside [0, 360), timestamps past 2100 (milliseconds, garbage). The
 * JSON mapping answers the same. */
static void test_pb_numbers(void)
{
    struct pbent ents[14];
    static const char *const ids[] = {"a", "b", "c", "d", "e", "f", "g",
                                      "h", "i", "j", "k", "l", "m", "n"};
    for (size_t i = 0; i < 14; i++)
        ents[i] = pbent(ids[i]);
    ents[0].speed = -NAN;
    ents[1].speed = INFINITY;
    ents[2].speed = -1;
    ents[3].speed = 70;
    ents[4].bearing = 360;
    ents[5].bearing = -0.5f;
    ents[6].bearing = -NAN;
    ents[7].lat = NAN;
    ents[8].lon = INFINITY;
    ents[9].lat = 91;
    ents[10].timestamp = 1771257512000;
    ents[11].timestamp = UINT64_MAX;
    ents[12].speed = ents[12].bearing = 0;
    ents[13].speed = 45;
    ents[13].bearing = 359.9f;
    static const char *const want[] = {
        "vehicle.position.speed", "vehicle.position.speed", "vehicle.position.speed",
        "vehicle.position.speed", "vehicle.position.bearing", "vehicle.position.bearing",
        "vehicle.position.bearing", "vehicle.position", "vehicle.position", "vehicle.position",
        "vehicle.timestamp", "vehicle.timestamp", NULL, NULL};
    struct gtfsrt_feed f;
    decode_check(ents, sizeof ents / sizeof *ents, want, &f);
    gtfsrt_feed_clear(&f);

    /* JSON: the same bounds (non-finite numbers cannot be written in JSON). */
    static const char body[] =
        "{\"header\":{\"gtfs_realtime_version\":\"2.0\"},\"entity\":["
        "{\"id\":\"a\",\"vehicle\":{\"position\":{\"latitude\":1,\"longitude\":1,\"speed\":-1}}},"
        "{\"id\":\"b\",\"vehicle\":{\"position\":{\"latitude\":1,\"longitude\":1,"
        "\"bearing\":720}}},"
        "{\"id\":\"c\",\"vehicle\":{\"position\":{\"latitude\":1,\"longitude\":1},"
        "\"timestamp\":1771257512000}},"
        "{\"id\":\"d\",\"vehicle\":{\"position\":{\"latitude\":1,\"longitude\":1,"
        "\"speed\":\"1e999\"}}},"
        "{\"id\":\"e\",\"vehicle\":{\"position\":{\"latitude\":1,\"longitude\":1,"
        "\"speed\":12.5,\"bearing\":0}}}]}";
    CU_ASSERT_EQUAL_FATAL(gtfsrt_decode_json(body, strlen(body), MAX_ENTITIES, &f, err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL(f.n, 5);
    CU_ASSERT_PTR_NOT_NULL(strstr(f.v[0].error, "vehicle.position.speed"));
    CU_ASSERT_PTR_NOT_NULL(strstr(f.v[1].error, "vehicle.position.bearing"));
    CU_ASSERT_PTR_NOT_NULL(strstr(f.v[2].error, "vehicle.timestamp"));
    CU_ASSERT_PTR_NOT_NULL(strstr(f.v[3].error, "vehicle.position.speed"));
    CU_ASSERT_STRING_EQUAL(f.v[4].error, "");
    gtfsrt_feed_clear(&f);
}

/* Issue 12, defect 5: at most max_entities entities per message, and no
 * more memory than that many justify, whatever the bytes say. */
static void test_limits(void)
{
    struct gtfsrt_feed f;
    struct pbw w = {.n = 0};
    pw_header(&w, "2.0");
    for (int i = 0; i < 3; i++)
        pw_entity(&w, &(struct pbent){.id = "a", .lat = 1, .lon = 1, .bearing = NAN,
                                      .speed = NAN});
    CU_ASSERT_EQUAL(gtfsrt_decode_pb(w.b, w.n, 2, &f, err, sizeof err), GTFSRT_TOO_LARGE);
    CU_ASSERT_STRING_EQUAL(err, "entity: 3 entities, more than 2");
    CU_ASSERT_PTR_NULL(f.v);
    CU_ASSERT_EQUAL(gtfsrt_decode_pb(w.b, w.n, 3, &f, err, sizeof err), 0);
    CU_ASSERT_EQUAL(f.n, 3);
    gtfsrt_feed_clear(&f);
    const char *js = "{\"header\":{\"gtfs_realtime_version\":\"2.0\"},\"entity\":[{},{},{}]}";
    CU_ASSERT_EQUAL(gtfsrt_decode_json(js, strlen(js), 2, &f, err, sizeof err), GTFSRT_TOO_LARGE);
    CU_ASSERT_STRING_EQUAL(err, "entity: 3 entities, more than 2");

    /* One entity of 100,000 empty stop time updates (200 KB): protobuf-c
     * would allocate some 10 MB for it. */
    size_t n = 200000, len = 0;
    unsigned char *big = malloc(2 * n);
    CU_ASSERT_FATAL(big != NULL);
    memcpy(big, "\x0a\x05\x0a\x03" "2.0" "\x12\xc4\x9a\x0c\x1a\xc0\x9a\x0c", 15);
    len = 15;                               /* entity(2){trip_update(3){...}}: 200000 bytes */
    for (size_t i = 0; i < n; i += 2) {
        big[len++] = 0x12;
        big[len++] = 0x00;
    }
    CU_ASSERT_EQUAL(gtfsrt_decode_pb(big, len, 1000, &f, err, sizeof err), GTFSRT_TOO_LARGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "KiB"));
    CU_ASSERT_EQUAL(gtfsrt_decode_pb(big, len, 1000000, &f, err, sizeof err), 0);   /* well-formed */
    CU_ASSERT_EQUAL(f.n_other, 1);
    gtfsrt_feed_clear(&f);
    /* 100,000 empty JSON objects: jansson would take some 20 MB. */
    len = (size_t)sprintf((char *)big, "{\"header\":{\"gtfs_realtime_version\":\"2.0\"},"
                                       "\"entity\":[{\"x\":[");
    for (size_t i = 0; i < 100000; i++)
        len += (size_t)sprintf((char *)big + len, i ? ",{}" : "{}");
    len += (size_t)sprintf((char *)big + len, "]}]}");
    CU_ASSERT_EQUAL(gtfsrt_decode_json((char *)big, len, 1000, &f, err, sizeof err),
                    GTFSRT_TOO_LARGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "JSON values"));
    CU_ASSERT_EQUAL(gtfsrt_decode_json((char *)big, len, 10000, &f, err, sizeof err), 0);
    gtfsrt_feed_clear(&f);
    free(big);

    /* The allowances are generous for real feeds: max_entities vehicles
     * with every field set decode in both encodings. */
    struct gtfsrt_vehicle *v = malloc(1000 * sizeof *v);
    CU_ASSERT_FATAL(v != NULL);
    for (int i = 0; i < 1000; i += 2)
        sample_vehicles(v + i);
    for (int i = 0; i < 1000; i++)
        snprintf(v[i].entity_id, sizeof v[i].entity_id, "entity-%04d-%s", i, "abcdefghijklm");
    struct gtfsrt_header h = {"2.0", 0, 1771257600};
    uint8_t *pb = gtfsrt_encode_vehicles_pb(&h, v, 1000, &len);
    CU_ASSERT_EQUAL(gtfsrt_decode_pb(pb, len, 1000, &f, err, sizeof err), 0);
    CU_ASSERT_EQUAL(f.n, 1000);
    gtfsrt_feed_clear(&f);
    free(pb);
    char *json = gtfsrt_encode_vehicles_json(&h, v, 1000, &len);
    CU_ASSERT_EQUAL(gtfsrt_decode_json(json, len, 1000, &f, err, sizeof err), 0);
    CU_ASSERT_EQUAL(f.n, 1000);
    gtfsrt_feed_clear(&f);
    free(json);
    free(v);
}

int suite_gtfsrt(void)
{
    CU_pSuite s = CU_add_suite("gtfsrt", NULL, NULL);
    if (s == NULL)
        return -1;
    if (!CU_add_test(s, "decode_hand_bytes", test_decode_hand_bytes) ||
        !CU_add_test(s, "decode_malformed", test_decode_malformed) ||
        !CU_add_test(s, "round_trips", test_round_trips) ||
        !CU_add_test(s, "json_mapping", test_json_mapping) ||
        !CU_add_test(s, "json_malformed", test_json_malformed) ||
        !CU_add_test(s, "trip_updates_pb", test_trip_updates_pb) ||
        !CU_add_test(s, "trip_updates_json", test_trip_updates_json) ||
        !CU_add_test(s, "pb_strings", test_pb_strings) ||
        !CU_add_test(s, "pb_numbers", test_pb_numbers) ||
        !CU_add_test(s, "limits", test_limits))
        return -1;
    return 0;
}
