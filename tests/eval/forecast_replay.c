/* forecast_replay.c -- drives the server's forecast model (src/forecast.c,
 * the very code cityd runs) over a recorded series, for
 * tests/eval/parking_forecast.py.
 *
 *   forecast_replay ZONE SCORE_FROM H1,H2,... < obs.csv > forecasts.csv
 *
 * Input lines "ts,lot,capacity,occupied", in time order. Each observation
 * is learned (occupancy share occupied / capacity, as cityd computes it
 * from a count), and when ts >= SCORE_FROM the model then forecasts every
 * horizon: output lines "lot,ts,h,occ,lo,hi". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forecast.h"
#include "tz.h"

#define LOTS_MAX 4096

int main(int argc, char **argv)
{
    char err[256], line[512];
    if (argc != 4) {
        fprintf(stderr, "usage: %s ZONE SCORE_FROM H1,H2,...\n", argv[0]);
        return 2;
    }
    struct tz *z = tz_load(argv[1], NULL, err, sizeof err);
    if (z == NULL) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    double score_from = atof(argv[2]), hs[32];
    int nh = 0;
    for (char *save = NULL, *t = strtok_r(argv[3], ",", &save); t && nh < 32;
         t = strtok_r(NULL, ",", &save))
        hs[nh++] = atof(t);
    struct forecast_config cfg = {.tz = z, .period_s = 7 * 86400.0};
    static char *names[LOTS_MAX];
    static struct forecast *models[LOTS_MAX];
    int nlots = 0;
    while (fgets(line, sizeof line, stdin)) {
        char lot[256];
        double ts, cap, occ;
        if (sscanf(line, "%lf,%255[^,],%lf,%lf", &ts, lot, &cap, &occ) != 4 || cap <= 0)
            continue;
        int i = 0;
        while (i < nlots && strcmp(names[i], lot) != 0)
            i++;
        if (i == nlots) {
            if (nlots == LOTS_MAX)
                continue;
            names[i] = strdup(lot);
            models[i] = forecast_new();
            nlots++;
        }
        forecast_observe(models[i], &cfg, ts, occ / cap);
        if (ts < score_from)
            continue;
        for (int k = 0; k < nh; k++) {
            struct forecast_point p;
            forecast_at(models[i], &cfg, ts + hs[k], &p);
            printf("%s,%.0f,%.0f,%.5f,%.5f,%.5f\n", lot, ts, hs[k], p.occ, p.lo, p.hi);
        }
    }
    for (int i = 0; i < nlots; i++) {
        free(names[i]);
        forecast_free(models[i]);
    }
    tz_free(z);
    return 0;
}
