/* app.h -- the application context: the one place that holds state.
 *
 * Everything mutable that outlives a function call lives in struct app or
 * in an object it owns; there are no other globals. main.c builds it from
 * the command line; server.c starts the API modules (module.h) on it. */
#ifndef CITYD_APP_H
#define CITYD_APP_H

#include <stdbool.h>

#include "config.h"
#include "log.h"

struct event_base;
struct event;
struct metrics;
struct store;
struct http_server;
struct redisproc;
struct map;
struct restore;

struct app {
    struct config cfg;
    struct log log;
    struct event_base *base;          /* owned */
    struct metrics *metrics;          /* owned */
    struct redisproc *redis;          /* owned; NULL unless redis.url = embedded */
    struct store *store;              /* owned */
    struct http_server *http;         /* owned */
    struct map *map;                  /* owned */
    struct event *sig_term, *sig_int, *drain_timer;  /* owned */
    bool draining;
    double drain_started;             /* wall clock when draining began */
    double replay_now;                /* clock.mode = replay: max ts ingested */
    size_t modules_started;           /* of server.c's table, failed start included */
    struct migrate *migrate;          /* the key layout's move (migrate.h) */
    bool layout_pending;              /* ... not complete yet: no restore starts */
    struct restore *restores;         /* every module's restore (module.h), a list */
    /* Domain state, owned; each NULL until its module is initialised. */
    struct parking *parking;          /* the lot registry */
    bool parking_complete;            /* ... holds every lot defined in Redis (set by
                                         api_parking.c once restored; sessions need it) */
    struct api_parking *parking_api;  /* routes, Redis sync, streams of api_parking.c */
    struct api_apps *apps;            /* forecasts, fees, price advice (api_apps.h) */
    struct sessions *sessions;        /* api_sessions.h */
    struct signals *signals;          /* api_signals.h: controllers of api_adaptive.c */
    struct signal_plans *signal_plans;  /* api_signals.c */
    struct transit *transit;
    struct api_transit *transit_api;  /* routes, Redis sync of api_transit.c */
    struct worker *worker;            /* long computations off the loop (worker.h) */
    struct api_web *web;              /* the browser pages (api_web.c) */
    struct api_city *city_api;        /* fares, signs, the city's figures (api_city.h) */
    struct api_lists *lists_api;      /* routes, stops, intersections lists (api_lists.c) */
    char origin[48];                  /* app_origin */
};

/* "Now" in epoch seconds: the wall clock, or in replay mode the largest
 * event timestamp ingested so far. */
double app_now(const struct app *a);
/* The wall clock in epoch seconds, whatever clock.mode says. */
double app_wall_now(void);
/* This process as other cityd on the same Redis know it (in change-feed
 * entries, leases): pid and start time, made at the first call. */
const char *app_origin(struct app *a);
/* Note an ingested event timestamp (advances the replay clock). */
void app_saw_ts(struct app *a, double ts);
/* "now" for a read request: the `at` query parameter when given (value in
 * *now, returns 0), else app_now. Returns -1 when `at` is malformed. */
struct http_req;
int app_request_now(const struct app *a, const struct http_req *r, double *now);

#endif
