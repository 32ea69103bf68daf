/* api_health.c -- GET /v1/health and GET /metrics. */
#include <stdlib.h>

#include "app.h"
#include "http.h"
#include "metrics.h"
#include "store.h"

static void health(struct http_req *r, void *arg)
{
    struct app *a = arg;
    bool up = store_is_up(a->store);
    json_t *body = json_pack("{s:s, s:s, s:s}", "status", up ? "ok" : "degraded", "redis",
                             up ? "up" : "down", "version", CITYD_VERSION);
    /* 503 while degraded so load balancers take the instance out; the
     * body still says why. */
    http_reply_json(r, up ? 200 : 503, body);
}

static void metrics_text(struct http_req *r, void *arg)
{
    struct app *a = arg;
    size_t len = 0;
    char *text = metrics_render(a->metrics, &len);
    if (text == NULL) {
        http_reply_error(r, 500, "internal", "cannot render metrics");
        return;
    }
    http_reply_raw(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

void api_health_register(struct app *a)
{
    http_route(a->http, HTTP_GET, "/v1/health", ROLE_READER, true, health, a);
    http_route(a->http, HTTP_GET, "/metrics", ROLE_READER, true, metrics_text, a);
}
