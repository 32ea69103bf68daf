/* api_signals.h -- internals shared by the signal API files:
 * api_signals.c (timing, green waves, corridor plans) and api_adaptive.c
 * (counts, adaptive timing, SPaT, speed advice). Not a public interface:
 * other modules use app.h's api_signals_register / api_signals_stop. */
#ifndef CITYD_API_SIGNALS_H
#define CITYD_API_SIGNALS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "signals.h"
#include "store.h"

struct app;
struct http_req;
struct map_corridor;

#define ERRLEN 256                 /* every err buffer below has this size */

/* ---- JSON in: optional number: 1 present (in *out), 0 absent or null,
 * -1 not a finite number (err names where+key); need_: absent is -1 ---- */
int sig_get_num(json_t *o, const char *key, const char *where, double *out, char *err);
int sig_need_num(json_t *o, const char *key, const char *where, double *out, char *err);

/* ---- JSON out: numbers to 1e-6, NAN as null ---- */
json_t *sig_jnum(double x);
void sig_set_num(json_t *o, const char *key, double x);
/* 400 "invalid" with the message naming the field. */
void sig_bad_request(struct http_req *r, const char *err);
/* Replies 503 (and returns true) when a store call failed. */
bool sig_store_failed(struct http_req *r, enum store_status st, const struct store_reply *rep);

/* ---- api_adaptive.c ---- */
/* Build the controllers from the map, register the routes and start
 * restoring their state from Redis (the endpoints answer 503 until it
 * has completed). */
void api_adaptive_register(struct app *a);
/* Activate plan `id` (json: the stored plan) of corridor c and answer r:
 * 200 with the plan once the corridor's active-plan keys are in Redis and
 * its controllers run it, 409 when it cannot run there (nothing changed),
 * 503 before the controllers are restored or while Redis is down. */
void api_adaptive_activate(struct app *a, struct http_req *r, const struct map_corridor *c,
                           const char *id, const char *json);
/* Before the HTTP server and the store are freed: queued requests are
 * dropped, pending store callbacks then do nothing. */
void api_adaptive_stop(struct app *a);

#endif
