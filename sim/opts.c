/* opts.c -- citysim's option parser and usage text. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "simcli.h"

void simcli_usage(FILE *out)
{
    fprintf(out,
            "usage: citysim isolated --flow VPH --saturation VPH --cycle S --green S\n"
            "                        --duration S --seed N [--arrivals poisson|uniform]\n"
            "       citysim run --map DIR --corridor ID --loads FILE.csv --duration S --seed N\n"
            "                   [--plan FILE.json | --server URL --key K] [--start \"MM/DD/YYYY HH:MM\"]\n"
            "                   [--arrivals poisson|uniform] [--trace FILE.csv] [--tz ZONE]\n"
            "                   [--timeout S] [--retries N] [--warmup S] [--speed-dev X]\n"
            "                   [--lanes N] [--no-dispersion] [--no-queues] [--count-interval S]\n"
            "                   [--format json|table] [--svg FILE]\n"
            "       citysim feed --server URL --key K (--parking CSV | --avl CSV) [--speed X|max]\n"
            "                    [--batch N] [--timeout S] [--retries N]\n"
            "       citysim city [--server URL --key K | --dry-run] [--map DIR] [--speed X|max]\n"
            "                    [--start HH:MM] [--date YYYY-MM-DD] [--duration S] [--seed N]\n"
            "                    [--dump-requests FILE] [--ledger FILE] [--tripless SHARE]\n"
            "                    [--gates SHARE] [--progress S]\n"
            "       citysim gen-city --out DIR [--lots N] [--bays B] [--signals S] [--buses V]\n"
            "                        [--spaces N] [--seed N]\n"
            "       citysim --help | --version\n");
}

static int parse_one(struct simopt *o, const char *v)
{
    char *end;
    errno = 0;
    switch (o->type) {
    case OPT_DOUBLE: {
        double x = strtod(v, &end);
        if (errno || end == v || *end || !isfinite(x))
            return -1;
        *(double *)o->dst = x;
        return 0;
    }
    case OPT_SEED: {
        if (v[0] == '-')
            return -1;
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || end == v || *end)
            return -1;
        *(unsigned long long *)o->dst = x;
        return 0;
    }
    case OPT_STRING:
        *(const char **)o->dst = v;
        return 0;
    case OPT_FLAG:
        return -1;
    }
    return -1;
}

int simopt_parse(struct simopt *opts, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        struct simopt *o = opts;
        while (o->name && strcmp(o->name, argv[i]) != 0)
            o++;
        if (o->name == NULL) {
            fprintf(stderr, "citysim: unknown option '%s'\n", argv[i]);
            return -1;
        }
        o->seen = true;
        if (o->type == OPT_FLAG) {
            *(bool *)o->dst = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "citysim: %s needs a value\n", o->name);
            return -1;
        }
        if (parse_one(o, argv[++i]) != 0) {
            fprintf(stderr, "citysim: %s: bad value '%s'\n", o->name, argv[i]);
            return -1;
        }
    }
    for (struct simopt *o = opts; o->name; o++) {
        if (o->required && !o->seen) {
            fprintf(stderr, "citysim: missing %s\n", o->name);
            return -1;
        }
    }
    return 0;
}
