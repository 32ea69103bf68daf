/* city.h -- `citysim city`: what its parts share (city.c drives the clock,
 * parking and signals; citybus.c the buses, fares and stop signs).
 *
 * Every request goes through city_send, which writes it to the request
 * dump (--dump-requests) before sending, and counts what came back per
 * kind of request: answered 2xx, refused 4xx (by reason), items refused
 * inside a 2xx batch reply (by reason), and no answer. Requests depend
 * only on the seed, the map and the start (and, for payments, on cityd's
 * replies), never on the wall clock, so the same seed gives byte-identical
 * requests. */
#ifndef CITYD_SIM_CITY_H
#define CITYD_SIM_CITY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "demand.h"

struct map;
struct simhttp;
struct gtfs;

enum city_kind {
    CK_OBSERVATIONS, CK_ENTRIES, CK_EXITS, CK_PAYMENTS, CK_ACCOUNTS, CK_POSITIONS, CK_FARES,
    CK_SIGNS, CK_COUNTS, CK_NKINDS
};

struct city_reason {
    int kind;
    char text[120];
    long n;
};

#define CITY_MAX_REASONS 64

/* A growable string. */
struct city_buf {
    char *s;
    size_t len, cap;
};
void city_buf_printf(struct city_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void city_buf_reset(struct city_buf *b);
void city_buf_free(struct city_buf *b);
/* Append s as a JSON string (quoted, escaped). */
void city_buf_json_str(struct city_buf *b, const char *s);

struct city {
    const struct map *map;
    struct simhttp *http;          /* NULL with --dry-run */
    FILE *dump;                    /* --dump-requests, or NULL */
    FILE *ledger;                  /* --ledger: the writes cityd acknowledged (2xx), as dumped */
    uint64_t seed;
    char tag[16];                  /* run tag in every id: hash of seed and start */
    double t0, t_end, t;           /* simulated epoch seconds */
    double utc_offset;             /* of the city's time zone at t0 */
    long sent[CK_NKINDS], ok[CK_NKINDS], refused[CK_NKINDS], items_refused[CK_NKINDS],
         failed[CK_NKINDS], items[CK_NKINDS];
    bool missing[CK_NKINDS];       /* the endpoint answered 404 route_not_found: off */
    struct city_reason reasons[CITY_MAX_REASONS];
    size_t nreasons;
    long reasons_dropped;
    /* parking, signals (city.c) and buses (citybus.c) */
    struct city_parking *parking;
    struct city_signals *signals;
    struct citybus *bus;
};

extern const char *const city_kind_names[CK_NKINDS];

/* Send one request of kind k (body may be NULL); items = how many
 * observations/positions/validations it carries (for the counts). Returns
 * the HTTP status (0 with --dry-run, -1 no answer); *reply (may be NULL)
 * receives the parsed JSON body of a 2xx. Batch replies' "rejected" items
 * are counted by reason. */
int city_send(struct city *c, enum city_kind k, const char *method, const char *path,
              const char *body, long items, json_t **reply);
/* Percent-encode s for a URL path segment or query value. */
void city_urlenc(const char *s, char *out, size_t n);

/* ---- buses (citybus.c) ---- */
struct citybus_stats {
    long running, positions, fares, electronic, sign_fetches, tripless;
};
/* Load the map's GTFS (map_dir/gtfs) and plan the trips running in
 * [c->t0, c->t_end]; tripless = share of vehicles reporting no trip id.
 * Returns NULL with err on a problem. */
struct citybus *citybus_new(struct city *c, const char *map_dir, double tripless, char *err,
                            size_t errlen);
void citybus_free(struct citybus *b);
/* Advance (t0, t1]: positions due, fare validations at stops left, sign
 * fetches due. */
void citybus_step(struct citybus *b, struct city *c, double t0, double t1);
void citybus_stats(const struct citybus *b, struct citybus_stats *s);
/* Trips scheduled to be running at t (for the progress line). */
long citybus_trips_scheduled(const struct citybus *b, double t);
size_t citybus_nsigns(const struct citybus *b);
size_t citybus_nvehicles(const struct citybus *b);

#endif
