/* fuzz_config.c -- libFuzzer harness for the INI configuration reader
 * (src/config.c): config/cityd.conf and the -o overrides.
 *
 * The input is written as a config file and read over the defaults; an
 * error must name the file and line. A file that reads must read again
 * to the same configuration (setting a key twice is idempotent). Then
 * each input line is also tried as a `-o section.key=value` argument,
 * which goes through the same setter without the file's trimming. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util.h"

static void overrides(struct config *c, const uint8_t *data, size_t size)
{
    char arg[512], err[512];
    size_t i = 0;
    for (int n = 1; i < size && n <= 64; n++) {
        const uint8_t *nl = memchr(data + i, '\n', size - i);
        size_t len = nl ? (size_t)(nl - (data + i)) : size - i;
        if (len < sizeof arg) {
            memcpy(arg, data + i, len);
            arg[len] = '\0';
            char *eq = strchr(arg, '=');
            if (eq != NULL && eq != arg) {
                *eq = '\0';
                if (config_set(c, arg, eq + 1, "-o", n, err, sizeof err) != 0 &&
                    strncmp(err, "-o:", 3) != 0)
                    abort();            /* errors name where */
            }
        }
        i += len + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write(fuzz_tmpdir(), "cityd.conf", data, size);
    char err[1024] = "", buf[CONFIG_PATH_MAX];
    struct config a, b;
    memset(&a, 0, sizeof a);
    config_defaults(&a);
    if (config_load_file(&a, path, err, sizeof err) != 0) {
        if (strncmp(err, path, strlen(path)) != 0 || err[strlen(path)] != ':')
            abort();                    /* "file:line: ..." */
        return 0;
    }
    memcpy(&b, &a, sizeof b);
    if (config_load_file(&b, path, err, sizeof err) != 0 || memcmp(&a, &b, sizeof a) != 0)
        abort();                        /* not idempotent */
    config_gtfs_dir(&a, buf, sizeof buf);
    overrides(&a, data, size);
    return 0;
}
