/* app.c -- the application context: clock and per-request "now".
 *
 * Start-up, shutdown and --check live in server.c; this file holds the
 * small pieces every API module shares. */
#include "app.h"

#include <stdio.h>
#include <sys/time.h>
#include <unistd.h>

#include "http.h"
#include "params.h"

double app_wall_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

double app_now(const struct app *a)
{
    if (a->cfg.clock_mode == CLOCK_REPLAY)
        return a->replay_now;
    return app_wall_now();
}

const char *app_origin(struct app *a)
{
    if (a->origin[0] == '\0')
        snprintf(a->origin, sizeof a->origin, "%ld-%llx", (long)getpid(),
                 (unsigned long long)(app_wall_now() * 1e6));
    return a->origin;
}

void app_saw_ts(struct app *a, double ts)
{
    if (ts > a->replay_now)
        a->replay_now = ts;
}

int app_request_now(const struct app *a, const struct http_req *r, double *now)
{
    const char *at = http_req_query(r, "at");
    if (at == NULL) {
        *now = app_now(a);
        return 0;
    }
    /* Read as every other number parameter is (params.h). */
    double v;
    if (!params_parse_number(at, &v) || v < 0 || v > 1e11)
        return -1;
    *now = v;
    return 0;
}
