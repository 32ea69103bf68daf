/* util.c -- temp files and multi-file inputs for the harnesses
 * (see util.h). */
#include "util.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[PATH_MAX];   /* harness-wide: libFuzzer calls us without context */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_tmpdir(void)
{
    if (tmpdir[0] != '\0')
        nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_tmpdir(void)
{
    if (tmpdir[0] != '\0')
        return tmpdir;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/cityd-fuzz-XXXXXX", base != NULL && *base ? base : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        fprintf(stderr, "fuzz: mkdtemp %s: %s\n", tmpdir, strerror(errno));
        abort();
    }
    atexit(rm_tmpdir);
    return tmpdir;
}

const char *fuzz_write(const char *dir, const char *name, const void *data, size_t len)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || (len > 0 && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        fprintf(stderr, "fuzz: write %s: %s\n", path, strerror(errno));
        abort();
    }
    return path;
}

void fuzz_unlink(const char *dir, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

size_t fuzz_split(const uint8_t *data, size_t size, struct fuzz_part *parts, size_t max)
{
    const size_t seplen = sizeof FUZZ_SEP - 1;
    size_t n = 0;
    while (n + 1 < max) {
        const uint8_t *sep = memmem(data, size, FUZZ_SEP, seplen);
        if (sep == NULL)
            break;
        parts[n].data = data;
        parts[n].len = (size_t)(sep - data);
        n++;
        size -= parts[n - 1].len + seplen;
        data = sep + seplen;
    }
    parts[n].data = data;
    parts[n].len = size;
    return n + 1;
}

void fuzz_write_parts(const char *dir, const char *const *names, size_t n,
                      const uint8_t *data, size_t size)
{
    struct fuzz_part parts[16];
    size_t got = fuzz_split(data, size, parts, n < 16 ? n : 16);
    for (size_t i = 0; i < n; i++) {
        if (i < got && parts[i].len > 0)
            fuzz_write(dir, names[i], parts[i].data, parts[i].len);
        else
            fuzz_unlink(dir, names[i]);
    }
}
