/* gtfsrt_check.h -- what the two GTFS-rt harnesses (fuzz_gtfsrt_pb.c,
 * fuzz_gtfsrt_json.c) require of a decoded feed, whatever the input:
 *
 *   - every entity without an error carries only valid UTF-8 strings and
 *     finite numbers (it goes into the transit registry and from there
 *     into every JSON reply and feed: api.md §1, issue 12 item 6);
 *   - those entities encode again, as protobuf and as JSON, and decode to
 *     the same ids: what cityd accepts it can also publish.
 *
 * Header-only (static): each harness is one program. */
#ifndef CITYD_FUZZ_GTFSRT_CHECK_H
#define CITYD_FUZZ_GTFSRT_CHECK_H

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gtfsrt.h"

/* As POST /v1/transit/vehicle-positions decodes: at most transit.max_batch
 * entities (its default). */
#define GTFSRT_FUZZ_MAX_ENTITIES 5000

static void gtfsrt_fail(const struct gtfsrt_vehicle *v, const char *what)
{
    fprintf(stderr, "gtfsrt: entity %u (id '%s'): %s\n", v->index, v->entity_id, what);
    abort();
}

/* jansson's own test: what json_string() refuses, no JSON reply can hold. */
static int gtfsrt_utf8(const char *s)
{
    json_t *j = json_string(s);
    json_decref(j);
    return j != NULL;
}

static void gtfsrt_check_vehicle(const struct gtfsrt_vehicle *v)
{
    const char *strs[] = {v->entity_id, v->trip_id, v->route_id, v->start_time,
                          v->start_date, v->vehicle_id, v->label, v->stop_id};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
        if (!gtfsrt_utf8(strs[i]))
            gtfsrt_fail(v, "accepted with a string that is not UTF-8");
    if (!isfinite(v->lat) || !isfinite(v->lon))
        gtfsrt_fail(v, "accepted with a non-finite position");
    if (isinf(v->bearing) || isinf(v->speed))
        gtfsrt_fail(v, "accepted with an infinite bearing or speed");
}

static void gtfsrt_same_ids(const struct gtfsrt_vehicle *a, const struct gtfsrt_vehicle *b,
                            const char *how)
{
    if (b->error[0] != '\0' || strcmp(a->entity_id, b->entity_id) != 0 ||
        strcmp(a->vehicle_id, b->vehicle_id) != 0 || strcmp(a->trip_id, b->trip_id) != 0 ||
        strcmp(a->route_id, b->route_id) != 0 || strcmp(a->stop_id, b->stop_id) != 0) {
        fprintf(stderr, "gtfsrt: %s round trip: error '%s'\n", how, b->error);
        gtfsrt_fail(a, "does not survive its own encoding");
    }
}

typedef int gtfsrt_decode_fn(const void *buf, size_t len, struct gtfsrt_feed *out, char *err,
                             size_t errlen);

static int gtfsrt_decode_pb_any(const void *buf, size_t len, struct gtfsrt_feed *out, char *err,
                                size_t errlen)
{
    return gtfsrt_decode_pb(buf, len, GTFSRT_FUZZ_MAX_ENTITIES, out, err, errlen);
}

static int gtfsrt_decode_json_any(const void *buf, size_t len, struct gtfsrt_feed *out,
                                  char *err, size_t errlen)
{
    return gtfsrt_decode_json(buf, len, GTFSRT_FUZZ_MAX_ENTITIES, out, err, errlen);
}

/* Decode enc (an encoding of good[0..n), freed here) and compare. */
static void gtfsrt_decode_back(const char *how, void *enc, size_t len, gtfsrt_decode_fn *decode,
                               const struct gtfsrt_vehicle *good, size_t n)
{
    struct gtfsrt_feed back;
    char err[256] = "";
    if (enc == NULL || decode(enc, len, &back, err, sizeof err) != 0 || back.n != n) {
        fprintf(stderr, "gtfsrt: %s round trip of %zu entities fails: %s\n", how, n,
                enc == NULL ? "cannot encode" : err);
        abort();
    }
    for (size_t i = 0; i < n; i++)
        gtfsrt_same_ids(&good[i], &back.v[i], how);
    gtfsrt_feed_clear(&back);
    free(enc);
}

/* Check feed f; then encode its good entities both ways and decode them. */
static void gtfsrt_check_feed(const struct gtfsrt_feed *f)
{
    struct gtfsrt_vehicle *good = malloc((f->n + 1) * sizeof *good);
    size_t n = 0, len = 0;
    if (good == NULL)
        abort();
    for (size_t i = 0; i < f->n; i++) {
        if (f->v[i].error[0] != '\0')
            continue;
        gtfsrt_check_vehicle(&f->v[i]);
        good[n++] = f->v[i];
    }
    uint8_t *pb = gtfsrt_encode_vehicles_pb(&f->header, good, n, &len);
    gtfsrt_decode_back("protobuf", pb, len, gtfsrt_decode_pb_any, good, n);
    char *js = gtfsrt_encode_vehicles_json(&f->header, good, n, &len);
    gtfsrt_decode_back("JSON", js, len, gtfsrt_decode_json_any, good, n);
    free(good);
}

#endif
