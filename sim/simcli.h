/* simcli.h -- citysim's subcommands and their shared option parsing. */
#ifndef CITYD_SIMCLI_H
#define CITYD_SIMCLI_H

#include <stdbool.h>
#include <stdio.h>

void simcli_usage(FILE *out);
/* Each takes argv starting at the subcommand name; returns the exit code. */
int simcli_isolated(int argc, char **argv);

/* --name value options: a table the parser fills. */
enum simopt_type { OPT_DOUBLE, OPT_STRING, OPT_SEED, OPT_FLAG };
struct simopt {
    const char *name;          /* "--flow" */
    enum simopt_type type;
    void *dst;                 /* double*, const char**, unsigned long long*, bool* */
    bool required;
    bool seen;
};
/* Parse argv[1..]; every error is printed on stderr naming the option.
 * Returns 0 or -1. */
int simopt_parse(struct simopt *opts, int argc, char **argv);

#endif
