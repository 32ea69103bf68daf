/* api_apps.h -- what a driver's app and a traffic engineer ask of a lot
 * beyond its availability (api.md §2): the fee of a planned stay, the
 * occupancy forecast, demand-responsive price advice.
 *
 * The module "parking_apps" starts after parking (server.c) and keeps one
 * forecast model (forecast.h) per lot that has been observed. api_parking.c
 * tells it about every applied observation (api_apps_observed) and when its
 * state has been rebuilt (api_apps_parking_ready: the models are then
 * restored from Redis), and asks it for forecasts at arrival in nearest
 * answers.
 *
 * Redis: cityd:{lot:X}:forecast STRING, the lot's model (forecast_save),
 * written at most every parking.forecast_save_s per lot, off the
 * observation path, by the process that took the observation. */
#ifndef CITYD_API_APPS_H
#define CITYD_API_APPS_H

#include <stdbool.h>

struct app;
struct parking_lot;
struct parking_buf;

/* Lot l's state changed by an applied observation (own: taken by this
 * process, not read from the change feed). */
void api_apps_observed(struct app *a, const struct parking_lot *l, bool own);
/* The parking state has been rebuilt: restore the models (first call). */
void api_apps_parking_ready(struct app *a);

/* nearest?arrive_in_s=: keep lot l when its forecast free spaces at
 * `target` reach min_available. */
struct api_apps_arrival {
    struct app *a;
    double target;
    int min_available;
};
bool api_apps_arrival_accept(void *ctx, const struct parking_lot *l);
/* Append "forecast":{"ts","availableSpotNumber","occupancy","low","high"}
 * for lot l at target (no leading comma). */
void api_apps_arrival_render(struct app *a, const struct parking_lot *l, double target,
                             struct parking_buf *b);

#endif
