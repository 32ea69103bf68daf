/* app.c -- the application context: clock and per-request "now".
 *
 * Start-up, shutdown and --check live in server.c; this file holds the
 * small pieces every API module shares. */
#include "app.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <sys/time.h>

#include "http.h"

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
    char *end;
    errno = 0;
    double v = strtod(at, &end);
    if (errno != 0 || end == at || *end != '\0' || !isfinite(v) || v < 0 || v > 1e11)
        return -1;
    *now = v;
    return 0;
}
