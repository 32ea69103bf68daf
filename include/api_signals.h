/* api_signals.h -- what the two signal API modules share: api_signals.c
 * (timing, green waves, corridor plans; api_signals_module) and
 * api_adaptive.c (counts, adaptive timing, SPaT, speed advice; the
 * controllers, struct signals, api_adaptive_module, started first: the
 * plans that api_signals stores run on them). Not a public interface. */
#ifndef CITYD_API_SIGNALS_H
#define CITYD_API_SIGNALS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "module.h"
#include "signals.h"
#include "store.h"

struct app;
struct dict;
struct http_req;
struct map_corridor;
struct metric;
struct sgroup;
struct mref;

/* The signal controllers (a->signals, owned by api_adaptive.c): one group
 * per corridor (or lone intersection) of the map, each running one common
 * cycle; restored from Redis at start. */
struct signals {
    struct app *a;
    struct sgroup *groups;                  /* ngroups, owned */
    size_t ngroups;
    struct mref *mrefs;                     /* one per controlled intersection */
    struct dict *by_id;                     /* intersection id -> struct mref */
    struct lifetime lt;
    struct restore rs;                      /* snapshots and active plans */
    struct metric *m_counts[4];             /* by result: accepted, duplicate, invalid, failed */
    /* several cityd: each group driven by the holder of its lease */
    struct event *tick;                     /* leases, the inbox, following the owner */
    unsigned long ticks;
    double lease_since;                     /* first restore done (monotonic s), 0: not yet */
    struct store_script *renew;
    struct store_script *counts_trim;       /* the counts list by count time */
    struct metric *m_owned;                 /* groups this process drives */
};

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
/* Replies 503 (and returns true) when a store call failed: store_timeout
 * when its outcome is unknown, store_unavailable else, store_error for an
 * error reply. */
bool sig_store_failed(struct http_req *r, enum store_status st, const struct store_reply *rep);

/* ---- api_adaptive.c ---- */
/* Activate plan `id` (json: the stored plan) of corridor c and answer r:
 * 200 with the plan once the corridor's active-plan keys are in Redis and
 * its controllers run it (each intersection with its mode, plan_runs and
 * plan_reason), 409 when it cannot run there (nothing changed), 503 before
 * the controllers are restored or while Redis is down. mode "fixed" or
 * "adaptive" switches every intersection of the corridor to it with the
 * plan; NULL keeps their modes. */
void api_adaptive_activate(struct app *a, struct http_req *r, const struct map_corridor *c,
                           const char *id, const char *json, const char *mode);
/* The timing corridor c's controllers run now, shaped as a stored plan
 * (cycle_s, per intersection offset_s of the outbound green from the
 * first's, outbound/inbound greens; links at the corridor speed) for the
 * time-space diagram; NULL when the corridor is not one started group.
 * Caller owns the result. */
json_t *api_adaptive_running_plan(struct app *a, const struct map_corridor *c);

/* ---- for the city view and the intersection lists ---- */
#define SIGNALS_COUNT_INTERVAL_S 900.0  /* "fresh" before an intersection's first counts */
struct signals_member {
    int mode;                       /* enum adaptive_mode configured to run */
    double latest_count;            /* end of its latest applied count interval, 0 none */
    bool realtime;                  /* adaptive, and counts fresher than two intervals */
};
/* Intersection id as the controllers see it at `now`; false when it is
 * not controlled (not signalised, or timing refused at start). */
bool api_adaptive_member(const struct app *a, const char *id, double now,
                         struct signals_member *out);
struct signals_census {
    size_t intersections, adaptive, fixed, realtime;
    double latest_count;            /* end of the newest applied count, 0 none */
};
/* Zeros until the controllers are restored. */
void api_adaptive_census(const struct app *a, double now, struct signals_census *c);
/* What GET .../timing and .../spat answer for intersection id at t (the
 * controllers advance to it, as those endpoints do): 0 with both (caller
 * owns them; either NULL on OOM), or -1 with both NULL when it is not
 * controlled, not restored yet, or t is before the history kept. */
int api_adaptive_now(struct app *a, const char *id, double t, json_t **timing, json_t **spat);

#endif
