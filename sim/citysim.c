/* citysim.c -- the simulator's command line (api.md §5; usage in opts.c,
 * docs/citysim.md):
 *
 *   citysim isolated ...   one approach, one signal (the model vs theory)
 *   citysim run ...        a corridor's loads under a plan or with cityd
 *   citysim feed ...       recorded parking / AVL feeds into cityd
 *   citysim city ...       a whole city against cityd (city.c)
 *   citysim gen-city ...   a synthetic city map of a given size (gencity.c)
 *
 * Output is one JSON object on stdout, keys in a fixed order and numbers
 * printed with fixed precision, so the same seed and inputs give
 * byte-identical output. Errors go to stderr with exit status 2 (bad
 * input) or 3 (the server failed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simcli.h"

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        simcli_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("citysim %s\n", CITYD_VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "isolated"))
        return simcli_isolated(argc - 1, argv + 1);
    if (!strcmp(argv[1], "run"))
        return simcli_run(argc - 1, argv + 1);
    if (!strcmp(argv[1], "feed"))
        return simcli_feed(argc - 1, argv + 1);
    if (!strcmp(argv[1], "city"))
        return simcli_city(argc - 1, argv + 1);
    if (!strcmp(argv[1], "gen-city"))
        return simcli_gencity(argc - 1, argv + 1);
    fprintf(stderr, "citysim: unknown command '%s'\n", argv[1]);
    simcli_usage(stderr);
    return 2;
}
