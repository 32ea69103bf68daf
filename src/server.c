/* server.c -- bring cityd up, run it, drain it on SIGTERM, take it down.
 *
 * Order matters: the embedded Redis starts before the store connects to
 * it, the map loads before the modules that read it, and the API modules
 * (module.h) start in the order of MODULES, each after those it relies
 * on. Shutdown runs the other way round: stop accepting, let in-flight
 * requests finish (bounded by server.drain_timeout_ms), stop every
 * module, free the HTTP server and the store (whose last callbacks find
 * the modules stopped), free the modules, then stop Redis so it flushes
 * its AOF. */
#include "server.h"

#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_city.h"
#include "api_transit.h"
#include "app.h"
#include "garage.h"
#include "http.h"
#include "map.h"
#include "metrics.h"
#include "migrate.h"
#include "module.h"
#include "redisproc.h"
#include "store.h"

/* The API modules, each after what it relies on. */
static const struct api_module *const MODULES[] = {
    &api_health_module,      /* answers (503 "starting") while the others restore */
    &migrate_module,         /* the key layout, before any module reads it */
    &api_parking_module,     /* the lot registry, which the sessions bill by */
    &api_apps_module,        /* forecasts, fees, price advice of its lots */
    &api_sessions_module,
    &api_transit_module,
    &api_adaptive_module,    /* signal controllers: run the plans ... */
    &api_signals_module,     /* ... that the corridor endpoints store */
    &api_web_module,         /* the browser pages (static files) */
    &api_city_module,        /* the city at a glance: reads all of the above */
    &api_lists_module,       /* routes, stops, intersections: the feed, map and controllers */
};
#define NMODULES (sizeof MODULES / sizeof MODULES[0])

/* Pending restores and re-reads go as soon as Redis answers again. */
static void on_store_state(void *arg, bool up)
{
    if (up)
        restore_store_up(arg);
}

/* The embedded Redis is started first and waited for last
 * (embedded_ready): it loads its data (seconds for a city's AOF) while
 * cityd loads the map, the timetable and the pages (as long again); one
 * after the other, a restart on a Yantai-sized Redis took both. */
static int embedded_spawn(struct app *a, char *err, size_t errlen)
{
    if (strcmp(a->cfg.redis_url, "embedded") != 0)
        return 0;
    if (a->cfg.redis_wait_replicas > 0) {
        /* it has no replica: every write would answer 503 */
        snprintf(err, errlen, "redis.wait_replicas = %ld needs a Redis with replicas, "
                 "not redis.url = embedded", a->cfg.redis_wait_replicas);
        return -1;
    }
    a->redis = redisproc_spawn(a->base, a->cfg.redis_server_bin, a->cfg.redis_data_dir,
                               a->cfg.redis_appendfsync, &a->log, err, errlen);
    return a->redis != NULL ? 0 : -1;
}

static int embedded_ready(struct app *a, char *err, size_t errlen)
{
    return a->redis == NULL ? 0 : redisproc_ready(a->redis, err, errlen);
}

static int start_store(struct app *a, char *err, size_t errlen)
{
    const char *url = a->cfg.redis_url;
    if (strcmp(url, "embedded") == 0)
        url = redisproc_url(a->redis);
    struct store_opts so = {
        .url = url,
        .timeout_ms = (int)a->cfg.redis_timeout_ms,
        .wait_replicas = (int)a->cfg.redis_wait_replicas,
        .wait_timeout_ms = (int)a->cfg.redis_wait_timeout_ms,
    };
    a->store = store_new(a->base, &so, &a->log, err, errlen);
    if (a->store == NULL)
        return -1;
    store_bind_metrics(a->store, a->metrics);
    store_set_state_cb(a->store, on_store_state, a);
    return 0;
}

static int load_map(struct app *a, char *err, size_t errlen)
{
    struct map_problems probs = {0};
    int rc = map_load(a->cfg.map_dir, &a->map, &probs);
    if (rc != 0) {
        /* ids and messages quote the map: quoted, they cannot forge a key */
        char qf[sizeof probs.items->feature * 2 + 3], qm[sizeof probs.items->message * 2 + 3];
        for (size_t i = 0; i < probs.n; i++)
            log_error(&a->log, "map_problem", "file=%s feature=%s message=%s",
                      probs.items[i].file, log_quote(qf, sizeof qf, probs.items[i].feature),
                      log_quote(qm, sizeof qm, probs.items[i].message));
        snprintf(err, errlen, "map %s: %zu problem(s); run cityd --check", a->cfg.map_dir,
                 probs.n);
    }
    map_problems_free(&probs);
    return rc;
}

static int start_http(struct app *a, char *err, size_t errlen)
{
    struct http_opts ho = {
        .listen = a->cfg.server_listen,
        .max_body_bytes = (size_t)a->cfg.server_max_body_bytes,
        .request_timeout_ms = (int)a->cfg.server_request_timeout_ms,
        .public_read = a->cfg.auth_public_read,
        .cors_origin = a->cfg.server_cors_origin,
        .rate_limit_rps = (double)a->cfg.server_rate_limit_rps,
        .rate_limit_burst = (double)a->cfg.server_rate_limit_burst,
        .max_connections = (size_t)a->cfg.server_max_connections,
        .header_timeout_ms = (int)a->cfg.server_header_timeout_ms,
        .auth_fail_limit = a->cfg.auth_max_failures > 0 ? (int)a->cfg.auth_max_failures : -1,
        .auth_fail_window_s = (int)a->cfg.auth_failure_window_s,
    };
    a->http = http_server_new(a->base, &ho, &a->log, a->metrics, err, errlen);
    if (a->http == NULL)
        return -1;
    return http_load_keys(a->http, a->cfg.auth_keys_file, err, errlen);
}

/* In table order; a failure leaves a->modules_started counting the
 * failed one too (server_stop stops and frees those). */
static int start_modules(struct app *a, char *err, size_t errlen)
{
    for (size_t i = 0; i < NMODULES; i++) {
        a->modules_started = i + 1;
        if (MODULES[i]->start(a, err, errlen) != 0)
            return -1;
    }
    return 0;
}

bool server_ready(const struct app *a, const char **waiting)
{
    for (size_t i = 0; i < a->modules_started; i++) {
        if (!MODULES[i]->ready(a)) {
            if (waiting)
                *waiting = MODULES[i]->name;
            return false;
        }
    }
    return a->modules_started == NMODULES;
}

static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    struct app *a = arg;
    (void)fd;
    (void)what;
    size_t left = http_server_inflight(a->http);
    double waited_ms = (app_wall_now() - a->drain_started) * 1000.0;
    if (left == 0 || waited_ms >= (double)a->cfg.server_drain_timeout_ms) {
        log_info(&a->log, "drained", "inflight=%zu waited_ms=%.0f", left, waited_ms);
        event_base_loopbreak(a->base);
    }
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct app *a = arg;
    (void)what;
    if (a->draining)
        return;
    a->draining = true;
    a->drain_started = app_wall_now();
    log_info(&a->log, "draining", "signal=%d inflight=%zu", (int)sig,
             http_server_inflight(a->http));
    http_server_stop_accepting(a->http);
    struct timeval tick = {0, 20000};
    a->drain_timer = event_new(a->base, -1, EV_PERSIST, on_drain_tick, a);
    event_add(a->drain_timer, &tick);
    on_drain_tick(-1, 0, a);
}

/* The event loop, with libevent's epoll change list: evhttp turns a
 * connection's read and write interest off and on around every reply,
 * and the change list folds the changes of one loop turn into at most
 * one epoll_ctl per descriptor instead of one each (four syscalls per
 * keep-alive request become two; +22 % nearest requests/s in `make
 * bench`). libevent's caveat is descriptors cloned by dup(): cityd
 * registers none, and the one fork (redisproc) marks every inherited
 * descriptor close-on-exec while the parent waits for the exec. */
static struct event_base *new_base(void)
{
    struct event_config *cfg = event_config_new();
    struct event_base *base = NULL;
    if (cfg != NULL && event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST) == 0)
        base = event_base_new_with_config(cfg);
    if (cfg != NULL)
        event_config_free(cfg);
    return base != NULL ? base : event_base_new();
}

int server_start(struct app *a, char *err, size_t errlen)
{
    enum log_level lvl;
    if (log_level_parse(a->cfg.log_level, &lvl) == 0)
        a->log.level = lvl;
    /* A client vanishing mid-write must not kill the server. */
    signal(SIGPIPE, SIG_IGN);
    a->base = new_base();
    a->metrics = metrics_new();
    if (a->base == NULL || a->metrics == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (embedded_spawn(a, err, errlen) != 0 || load_map(a, err, errlen) != 0 ||
        start_store(a, err, errlen) != 0 || start_http(a, err, errlen) != 0 ||
        start_modules(a, err, errlen) != 0 || embedded_ready(a, err, errlen) != 0)
        return -1;
    a->sig_term = evsignal_new(a->base, SIGTERM, on_signal, a);
    a->sig_int = evsignal_new(a->base, SIGINT, on_signal, a);
    event_add(a->sig_term, NULL);
    event_add(a->sig_int, NULL);
    log_info(&a->log, "listening", "addr=%s port=%d redis=%s map=%s version=%s",
             a->cfg.server_listen, http_server_port(a->http),
             a->redis ? redisproc_url(a->redis) : a->cfg.redis_url, a->cfg.map_dir,
             CITYD_VERSION);
    return 0;
}

int server_run(struct app *a)
{
    return event_base_dispatch(a->base) < 0 ? -1 : 0;
}

void server_stop(struct app *a)
{
    for (size_t i = a->modules_started; i-- > 0;)
        MODULES[i]->stop(a);
    if (a->drain_timer)
        event_free(a->drain_timer);
    if (a->sig_term)
        event_free(a->sig_term);
    if (a->sig_int)
        event_free(a->sig_int);
    http_server_free(a->http);
    store_free(a->store);
    for (size_t i = a->modules_started; i-- > 0;)
        MODULES[i]->free(a);
    a->modules_started = 0;
    if (a->redis)
        redisproc_free(a->redis);
    map_free(a->map);
    metrics_free(a->metrics);
    if (a->base)
        event_base_free(a->base);
    a->drain_timer = a->sig_term = a->sig_int = NULL;
    a->http = NULL;
    a->store = NULL;
    a->redis = NULL;
    a->map = NULL;
    a->metrics = NULL;
    a->base = NULL;
}

static int check_map(const struct app *a)
{
    struct map_problems probs = {0};
    struct map *m = NULL;
    if (map_load(a->cfg.map_dir, &m, &probs) == 0) {
        struct garages *gs = garages_build(m);   /* bays no kiosk can reach */
        if (gs != NULL)
            garages_check(gs, &probs);
        garages_free(gs);
        map_free(m);
    }
    for (size_t i = 0; i < probs.n; i++)
        fprintf(stderr, "%s/%s: %s: %s\n", a->cfg.map_dir, probs.items[i].file,
                probs.items[i].feature, probs.items[i].message);
    int n = (int)probs.n;
    map_problems_free(&probs);
    return n;
}

static int check_keys(const struct app *a)
{
    char err[512];
    if (http_load_keys(NULL, a->cfg.auth_keys_file, err, sizeof err) == 0)
        return 0;
    fprintf(stderr, "%s\n", err);
    return 1;
}

int server_check(const struct app *a)
{
    return check_keys(a) + check_map(a) + api_transit_check(a) + api_city_check(a);
}
