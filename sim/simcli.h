/* simcli.h -- citysim's subcommands and what they share: option parsing,
 * the corridor being simulated (geometry, loads, timings), the HTTP client
 * and the fixed-precision JSON writer. */
#ifndef CITYD_SIMCLI_H
#define CITYD_SIMCLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sim.h"

struct map;
struct map_corridor;
struct map_intersection;
struct utdf;

void simcli_usage(FILE *out);
/* Each takes argv starting at the subcommand name; returns the exit code:
 * 0 done, 2 bad input (options, files), 3 the server failed. */
int simcli_isolated(int argc, char **argv);
int simcli_run(int argc, char **argv);
int simcli_feed(int argc, char **argv);
int simcli_city(int argc, char **argv);       /* city.c */
int simcli_gencity(int argc, char **argv);    /* gencity.c */

/* --name value options: a table the parser fills. */
enum simopt_type { OPT_DOUBLE, OPT_STRING, OPT_SEED, OPT_FLAG };
struct simopt {
    const char *name;          /* "--flow" */
    enum simopt_type type;
    void *dst;                 /* double*, const char**, unsigned long long*, bool* */
    bool required;
    bool seen;
};
/* Parse argv[1..]; every error is printed on stderr naming the option.
 * Returns 0 or -1. */
int simopt_parse(struct simopt *opts, int argc, char **argv);

/* ---- the corridor under simulation (loads.c, timing.c) ---- */

struct simcor {
    const struct map *map;                     /* not owned */
    const struct map_corridor *cor;            /* not owned */
    size_t n;
    const struct map_intersection **mx;        /* n, outbound order */
    struct sim_isec *isecs;                    /* n; timings filled by timing.c */
    struct sim_count **counts;                 /* n arrays (owned) */
    unsigned *undetected;                      /* n bit sets of movements with '*' */
    enum sim_approach outbound;                /* approach of outbound traffic */
    double interval_s;                         /* count interval of the loads */
    int64_t start_min;                         /* local minutes since 1970 */
    double duration_s;
};

/* Set up c for corridor `id` of map m: intersections, positions, the
 * outbound approach (compass direction from the first to the last
 * intersection). Returns 0 or -1 with err. */
int simcor_init(struct simcor *c, const struct map *m, const char *id, char *err, size_t errlen);
void simcor_free(struct simcor *c);
/* Attach the loads: every row must name an intersection of the corridor
 * and count only movements some phase serves; the window [start, start +
 * duration) must be covered. start NULL = the file's first interval.
 * Returns 0 or -1 with err ("file:line: ..."). */
int simcor_loads(struct simcor *c, const struct utdf *u, const char *start, double duration_s,
                 char *err, size_t errlen);

/* Timings (timing.c). Phase i of a sim timing is phase i of the map; the
 * lost time is shared equally as intergreen after each phase. */

/* The default timing: Webster splits of the map's design flows at the
 * corridor's common cycle (the largest Webster cycle along it, within every
 * intersection's bounds), all offsets zero. */
int simtiming_default(struct simcor *c, char *err, size_t errlen);
/* A plan as GET /v1/signals/corridors/{id}/plan returns it: its cycle and
 * offsets, its coordinated greens, the other phases Webster-split in what
 * is left. A plan of another corridor (or other intersections) fails.
 * plan_id receives the plan's id (may be ""). */
int simtiming_plan(struct simcor *c, const json_t *plan, char *plan_id, size_t idlen,
                   char *err, size_t errlen);
/* Apply a GET /v1/signals/intersections/{id}/timing reply to isec i;
 * epoch0 is the epoch second of simulated time 0. */
int simtiming_server(struct simcor *c, size_t i, const json_t *timing, double epoch0,
                     char *err, size_t errlen);
/* Index of the phase of isec i serving movement m (UTDF index), or -1. */
int simtiming_phase_of(const struct simcor *c, size_t i, int m);
/* Time (s) from the start of phase 0's green to the start of phase k's. */
double simtiming_phase_start(const struct sim_timing *t, int k);

/* ---- time-space diagram of a run (svg.c) ---- */

struct simcross {                              /* one stop-line crossing */
    long veh;
    int dir;                                   /* 0 outbound, 1 inbound */
    double pos, arrive, cross;
};
struct simtraj {
    struct simcross *x;
    size_t n, cap;
};
/* Record a trace line (sim_set_trace's format) if it is a corridor
 * through movement. 0, or -1 out of memory. */
int simtraj_add(struct simtraj *t, const struct simcor *c, const char *line);
void simtraj_free(struct simtraj *t);
/* Write the diagram: signals' greens (their timing at the end of the run)
 * and trajectories over three of the longest cycles from `warmup`. mode,
 * plan: for the caption (plan may be NULL). Sorts t. 0, or -1 with err. */
int simsvg_write(const char *path, const struct simcor *c, struct simtraj *t, double warmup,
                 const char *mode, const char *plan, char *err, size_t errlen);

/* ---- HTTP client (client.c) ---- */

struct simhttp;
/* base "http://host:port" (no trailing slash needed); key may be NULL.
 * timeout_s per attempt; retries: how many times a request that got no
 * answer (connection refused or reset, timeout, 5xx, 429) is tried again,
 * with doubling back-off from 0.25 s. */
struct simhttp *simhttp_new(const char *base, const char *key, double timeout_s, int retries,
                            char *err, size_t errlen);
void simhttp_free(struct simhttp *h);
/* Send a request (body JSON text or NULL). Returns the HTTP status of the
 * answer (any 2xx or 4xx; *out its parsed JSON body or NULL) or -1 when
 * the server did not answer after every retry (err says what happened to
 * the last attempt). */
int simhttp_request(struct simhttp *h, const char *method, const char *path, const char *body,
                    json_t **out, char *err, size_t errlen);
/* "code: message" of a spec error body, for reporting a 4xx. */
void simhttp_error_text(const json_t *body, char *buf, size_t len);

/* ---- JSON with fixed key order and number precision (json.c) ---- */

struct simjson {
    FILE *f;
    int depth;
    bool first[32];
};
void simjson_begin(struct simjson *j, FILE *f);
void simjson_obj(struct simjson *j, const char *key);      /* key NULL in arrays / top */
void simjson_arr(struct simjson *j, const char *key);
void simjson_end_obj(struct simjson *j);
void simjson_end_arr(struct simjson *j);
void simjson_num(struct simjson *j, const char *key, double v, int decimals);
void simjson_int(struct simjson *j, const char *key, long long v);
void simjson_str(struct simjson *j, const char *key, const char *v);   /* NULL -> null */

/* FNV-1a 64 over bytes, for ids derived from inputs. */
uint64_t simcli_hash(uint64_t h, const void *buf, size_t len);
#define SIMCLI_HASH_INIT 0xcbf29ce484222325ULL

#endif
