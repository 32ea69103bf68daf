/* main.c -- cityd's command line: options, config, --check, serve.
 *
 *   cityd [-c FILE] [-o section.key=value]... [--check] [--help] [--version]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "config.h"
#include "server.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: cityd [-c FILE] [-o section.key=value]... [--check]\n"
            "       cityd --help | --version\n"
            "\n"
            "  -c FILE     config file (default config/cityd.conf)\n"
            "  -o K=V      override one config key, e.g. -o server.listen=127.0.0.1:9090\n"
            "              (repeatable; applied after the file)\n"
            "  --check     load config, keys and map, report every problem, exit non-zero\n"
            "              if there is any\n"
            "  --help      this text\n"
            "  --version   print the version\n");
}

/* Apply the -o overrides in order; the error names the argument. */
static int apply_overrides(struct config *c, int argc, char **argv, char *err, size_t errlen)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-o") != 0)
            continue;
        const char *kv = argv[++i];
        const char *eq = strchr(kv, '=');
        if (eq == NULL || eq == kv) {
            snprintf(err, errlen, "-o:%d: %s: expected section.key=value", i, kv);
            return -1;
        }
        char key[160];
        snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
        if (config_set(c, key, eq + 1, "-o", i, err, errlen) != 0)
            return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *conf = "config/cityd.conf";
    int check = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("cityd %s\n", CITYD_VERSION);
            return 0;
        } else if (strcmp(argv[i], "--check") == 0) {
            check = 1;
        } else if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "-o") == 0) && i + 1 < argc) {
            if (argv[i][1] == 'c')
                conf = argv[i + 1];
            i++;
        } else {
            fprintf(stderr, "cityd: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }

    struct app a;
    memset(&a, 0, sizeof a);
    char err[1024];
    log_init(&a.log);
    config_defaults(&a.cfg);
    if (config_load_file(&a.cfg, conf, err, sizeof err) != 0 ||
        apply_overrides(&a.cfg, argc, argv, err, sizeof err) != 0) {
        fprintf(stderr, "cityd: config: %s\n", err);
        return 2;
    }
    if (check) {
        int problems = server_check(&a);
        fprintf(stderr, "cityd: check: %d problem(s)\n", problems);
        return problems == 0 ? 0 : 1;
    }
    int rc = 1;
    if (log_set_rate(&a.log, (unsigned)a.cfg.log_max_per_second) != 0) {
        fprintf(stderr, "cityd: out of memory\n");
        return 1;
    }
    if (server_start(&a, err, sizeof err) != 0) {
        char q[sizeof err * 2 + 3];
        log_error(&a.log, "start_failed", "error=%s", log_quote(q, sizeof q, err));
        goto out;
    }
    rc = server_run(&a) == 0 ? 0 : 1;
    log_info(&a.log, "exit", "code=%d", rc);
out:
    server_stop(&a);
    log_close(&a.log);
    return rc;
}
