/* fuzz_csv.c -- libFuzzer harness for the RFC 4180 reader (src/csv.c),
 * which every GTFS file and the UTDF loads go through.
 *
 * The first byte picks the separator, the rest is the file. The input is
 * read twice, from memory and from a file (the file path reads in chunks
 * and checks for a BOM across reads), and both readers must agree on
 * every record, field, line number and error: a difference is a bug even
 * when neither crashes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "util.h"

static void check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_csv: memory and file readers differ: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char seps[] = {',', ';', '\t', '|'};
    if (size < 1)
        return 0;
    char sep = seps[data[0] % sizeof seps];
    data++;
    size--;

    char err_m[256], err_f[256];
    struct csv *m = csv_open_mem((const char *)data, size, "fuzz.csv");
    const char *path = fuzz_write(fuzz_tmpdir(), "fuzz.csv", data, size);
    struct csv *f = csv_open(path, err_f, sizeof err_f);
    if (m == NULL || f == NULL)
        abort();
    csv_set_separator(m, sep);
    csv_set_separator(f, sep);

    int rm = csv_read_header(m, err_m, sizeof err_m);
    int rf = csv_read_header(f, err_f, sizeof err_f);
    check(rm == rf, "header result");
    if (rm == 1) {
        check(csv_ncols(m) == csv_ncols(f) && csv_ncols(m) == csv_nfields(m), "header columns");
        for (size_t i = 0; i < csv_ncols(m); i++) {
            const char *name = csv_get(m, (int)i);
            check(csv_col(m, name) == csv_col(f, name), "column lookup");
        }
    }
    long last = 0;
    while (rm == 1) {
        rm = csv_next(m, err_m, sizeof err_m);
        rf = csv_next(f, err_f, sizeof err_f);
        check(rm == rf, "record result");
        if (rm != 1)
            break;
        check(csv_line(m) == csv_line(f), "line number");
        check(csv_line(m) > last, "line numbers increase");
        last = csv_line(m);
        check(csv_nfields(m) == csv_nfields(f), "field count");
        for (size_t i = 0; i <= csv_nfields(m); i++)
            check(strcmp(csv_get(m, (int)i), csv_get(f, (int)i)) == 0, "field text");
        check(csv_get(m, -1)[0] == '\0', "field -1 is empty");
    }
    if (rm < 0) {
        /* Same message; the file reader labels it with the path. */
        size_t plen = strlen(path), nlen = strlen("fuzz.csv");
        check(strncmp(err_f, path, plen) == 0 && strncmp(err_m, "fuzz.csv", nlen) == 0 &&
                  strcmp(err_f + plen, err_m + nlen) == 0,
              "error message");
    }
    csv_free(m);
    csv_free(f);
    return 0;
}
