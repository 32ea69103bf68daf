/* isolated.c -- `citysim isolated`: one approach, one signal; the model's
 * check against queueing theory. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "simcli.h"

int simcli_isolated(int argc, char **argv)
{
    struct sim_isolated_opts o = {0};
    unsigned long long seed = 1;
    const char *arrivals = "poisson";
    struct simopt opts[] = {
        {"--flow", OPT_DOUBLE, &o.flow_vph, true, false},
        {"--saturation", OPT_DOUBLE, &o.saturation_vph, true, false},
        {"--cycle", OPT_DOUBLE, &o.cycle_s, true, false},
        {"--green", OPT_DOUBLE, &o.green_s, true, false},
        {"--duration", OPT_DOUBLE, &o.duration_s, true, false},
        {"--seed", OPT_SEED, &seed, true, false},
        {"--arrivals", OPT_STRING, &arrivals, false, false},
        {NULL, 0, NULL, false, false},
    };
    if (simopt_parse(opts, argc, argv) != 0)
        return 2;
    if (strcmp(arrivals, "poisson") != 0 && strcmp(arrivals, "uniform") != 0) {
        fprintf(stderr, "citysim: --arrivals: expected poisson or uniform, got '%s'\n", arrivals);
        return 2;
    }
    o.uniform = arrivals[0] == 'u';
    o.seed = seed;
    struct sim_isolated_result r;
    char err[256];
    if (sim_isolated(&o, &r, err, sizeof err) != 0) {
        fprintf(stderr, "citysim: isolated: %s\n", err);
        return 2;
    }
    double C = o.cycle_s, g = o.green_s;
    json_t *out = json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:s, s:I}",
                            "vehicles", (json_int_t)r.vehicles,
                            "mean_delay_s", r.mean_delay_s,
                            "mean_stops", r.mean_stops,
                            "max_queue", r.max_queue,
                            "throughput_vph", r.throughput_vph,
                            "degree_of_saturation", o.flow_vph / (o.saturation_vph * g / C),
                            "capacity_vph", o.saturation_vph * g / C,
                            "arrivals", arrivals,
                            "seed", (json_int_t)seed);
    char *text = json_dumps(out, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    printf("%s\n", text);
    free(text);
    json_decref(out);
    return 0;
}
