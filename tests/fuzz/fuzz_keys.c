/* fuzz_keys.c -- libFuzzer harness for the API keys file reader
 * (http_load_keys, src/http.c): "<secret> <role> [name] [lot=<id>]".
 *
 * The file is read twice: checked only (h NULL, as cityd --check does)
 * and loaded into a real HTTP server (replacing its keys, as at start).
 * Both must give the same verdict and the same error, which names the
 * file and the line. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "util.h"

static struct event_base *base;     /* one server for the whole run */
static struct http_server *srv;

static void teardown(void)
{
    http_server_free(srv);
    event_base_free(base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (srv == NULL) {
        struct http_opts o = {.listen = "127.0.0.1:0"};
        char err[256];
        base = event_base_new();
        srv = base ? http_server_new(base, &o, NULL, NULL, err, sizeof err) : NULL;
        if (srv == NULL) {
            fprintf(stderr, "fuzz_keys: no server: %s\n", err);
            abort();
        }
        atexit(teardown);
    }
    const char *path = fuzz_write(fuzz_tmpdir(), "keys.conf", data, size);
    char e1[512] = "", e2[512] = "";
    int r1 = http_load_keys(NULL, path, e1, sizeof e1);
    int r2 = http_load_keys(srv, path, e2, sizeof e2);
    if (r1 != r2 || strcmp(e1, e2) != 0)
        abort();                        /* check and load disagree */
    if (r1 != 0 && (strncmp(e1, path, strlen(path)) != 0 || e1[strlen(path)] != ':'))
        abort();                        /* "file:line: ..." */
    return 0;
}
