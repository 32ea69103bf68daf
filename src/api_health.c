/* api_health.c -- GET /v1/health and GET /metrics.
 *
 * Health (api.md §1) is 200 "ok" only while Redis is up and every API
 * module has restored its state (server_ready): a load balancer must never
 * route to a cityd whose endpoints still answer 503. Before that it is 503
 * "starting"; after, while Redis is down, 503 "degraded". The body says
 * which, and "redis" says whether the store is up. On a Redis Cluster a
 * "cluster" object adds the slots whose master this cityd reaches, the
 * redirects, retries and failovers it has seen, and the nodes. */
#include <stdlib.h>

#include "api_city.h"
#include "app.h"
#include "http.h"
#include "metrics.h"
#include "module.h"
#include "server.h"
#include "store.h"

/* On a Redis Cluster: what this cityd sees of it (docs/scaling.md). */
static json_t *cluster_state(const struct store *s)
{
    struct store_node_info nodes[64];
    size_t n = store_nodes(s, nodes, sizeof nodes / sizeof nodes[0]);
    const struct store_stats *st = store_get_stats(s);
    json_t *list = json_array();
    unsigned masters = 0;
    for (size_t i = 0; i < n; i++) {
        masters += nodes[i].master;
        json_array_append_new(list, json_pack("{s:s, s:s, s:b, s:i, s:i}", "addr", nodes[i].addr,
                                              "role", nodes[i].master ? "master" : "replica",
                                              "up", nodes[i].up, "slots", (int)nodes[i].slots,
                                              "replicas", nodes[i].replicas));
    }
    return json_pack("{s:i, s:i, s:I, s:I, s:I, s:I, s:o}", "slots_covered",
                     (int)store_slots_up(s), "masters", (int)masters, "redirects",
                     (json_int_t)(st->moved + st->ask), "retries", (json_int_t)st->retries,
                     "failovers", (json_int_t)st->failovers, "wait_failures",
                     (json_int_t)st->wait_failed, "nodes", list);
}

static void health(struct http_req *r, void *arg)
{
    struct app *a = arg;
    bool up = store_is_up(a->store);
    const char *waiting = NULL;
    bool ready = server_ready(a, &waiting);
    const char *status = !ready ? "starting" : up ? "ok" : "degraded";
    json_t *body = json_pack("{s:s, s:s, s:s}", "status", status, "redis", up ? "up" : "down",
                             "version", CITYD_VERSION);
    if (waiting != NULL)
        json_object_set_new(body, "waiting_for", json_string(waiting));
    if (store_is_cluster(a->store))
        json_object_set_new(body, "cluster", cluster_state(a->store));
    http_reply_json(r, ready && up ? 200 : 503, body);
}

static void metrics_text(struct http_req *r, void *arg)
{
    struct app *a = arg;
    size_t len = 0;
    api_city_gauges(a);                  /* the city gauges are computed, not counted */
    char *text = metrics_render(a->metrics, &len);
    if (text == NULL) {
        http_reply_error(r, 500, "internal", "cannot render metrics");
        return;
    }
    http_reply_raw(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

static const struct module_route ROUTES[] = {
    {HTTP_GET, "/v1/health", ROLE_READER, true, health},
    {HTTP_GET, "/metrics", ROLE_READER, true, metrics_text},
};

static int start(struct app *a, char *err, size_t errlen)
{
    return module_routes(a->http, "health", ROUTES, sizeof ROUTES / sizeof ROUTES[0], a, err,
                         errlen);
}

static void nothing(struct app *a)
{
    (void)a;
}

static bool always(const struct app *a)
{
    (void)a;
    return true;
}

const struct api_module api_health_module = {"health", start, nothing, nothing, always};
