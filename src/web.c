/* web.c -- the browser pages' files, read into memory at start (web.h).
 *
 * Serving from a table built once means a request path is only ever a
 * key: "../../etc/passwd" is simply not in it. The table is small (a few
 * megabytes: the pages, Leaflet, Chart.js), so holding it costs less than
 * opening files per request would. */
#include "web.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "dict.h"
#include "errbuf.h"

struct web_entry {
    struct web_file f;
    char *name;
    unsigned char *data, *gz;
};

struct web_files {
    struct dict *files;             /* name -> struct web_entry */
    size_t bytes;                   /* data and gz of every file */
};

static const struct {
    const char *ext, *type;
} TYPES[] = {
    {"html", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"json", "application/json; charset=utf-8"},
    {"png", "image/png"},
    {"svg", "image/svg+xml"},
    {"ico", "image/x-icon"},
    {"jpg", "image/jpeg"},
    {"webp", "image/webp"},
    {"woff2", "font/woff2"},
    {"txt", "text/plain; charset=utf-8"},
};

const char *web_content_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (dot == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
        if (strcmp(dot + 1, TYPES[i].ext) == 0)
            return TYPES[i].type;
    return NULL;
}

/* Names a URL segment can carry as they are, and no dot-files (".",
 * "..", editors' ".swp"). */
static int name_ok(const char *s)
{
    return s[0] != '.' && s[0] != '\0' &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
               strlen(s);
}

/* FNV-1a, 64 bits: the ETag only has to change when the bytes do. */
static void etag_of(const unsigned char *p, size_t n, const char *suffix, char *out, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    snprintf(out, len, "\"%016llx%s\"", (unsigned long long)h, suffix);
}

/* Read a whole regular file (malloc'd, *len bytes), at most max bytes.
 * NULL with err on failure. */
static unsigned char *read_file(const char *path, size_t max, size_t *len, char *err,
                                size_t errlen)
{
    unsigned char *buf = NULL;
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (f == NULL || fstat(fileno(f), &st) != 0) {
        errbuf_fail(err, errlen, "%s: %s", path, strerror(errno));
        goto out;
    }
    if ((size_t)st.st_size > max) {
        errbuf_fail(err, errlen, "%s: the web files would pass %u bytes", path, WEB_MAX_BYTES);
        goto out;
    }
    /* one byte more than the size, so a file that grew is noticed */
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        errbuf_fail(err, errlen, "%s: out of memory", path);
        goto out;
    }
    *len = fread(buf, 1, (size_t)st.st_size + 1, f);
    if (ferror(f) || *len != (size_t)st.st_size) {
        errbuf_fail(err, errlen, "%s: changed or unreadable while read", path);
        free(buf);
        buf = NULL;
    }
out:
    if (f != NULL)
        fclose(f);
    return buf;
}

static void entry_free(void *v)
{
    struct web_entry *e = v;
    if (e == NULL)
        return;
    free(e->name);
    free(e->data);
    free(e->gz);
    free(e);
}

struct web_files *web_files_new(void)
{
    struct web_files *w = calloc(1, sizeof *w);
    if (w != NULL && (w->files = dict_new()) == NULL) {
        free(w);
        w = NULL;
    }
    return w;
}

void web_files_free(struct web_files *w)
{
    if (w == NULL)
        return;
    dict_free(w->files, entry_free);
    free(w);
}

/* Read path (and path.gz beside it, if there is one) as file `name`. */
static int add_file(struct web_files *w, const char *name, const char *path, const char *type,
                    char *err, size_t errlen)
{
    struct web_entry *e = calloc(1, sizeof *e);
    char gzpath[4096];
    struct stat st;
    int rc = -1, oom = 0;
    if (e == NULL || (e->name = strdup(name)) == NULL) {
        errbuf_fail(err, errlen, "%s: out of memory", path);
        goto out;
    }
    if (dict_size(w->files) >= WEB_MAX_FILES) {
        errbuf_fail(err, errlen, "%s: more than %d web files", path, WEB_MAX_FILES);
        goto out;
    }
    e->data = read_file(path, WEB_MAX_BYTES - w->bytes, &e->f.len, err, errlen);
    if (e->data == NULL)
        goto out;
    w->bytes += e->f.len;
    etag_of(e->data, e->f.len, "", e->f.etag, sizeof e->f.etag);
    if ((size_t)snprintf(gzpath, sizeof gzpath, "%s.gz", path) < sizeof gzpath &&
        stat(gzpath, &st) == 0 && S_ISREG(st.st_mode)) {
        e->gz = read_file(gzpath, WEB_MAX_BYTES - w->bytes, &e->f.gz_len, err, errlen);
        if (e->gz == NULL)
            goto out;
        w->bytes += e->f.gz_len;
        etag_of(e->gz, e->f.gz_len, "-gz", e->f.gz_etag, sizeof e->f.gz_etag);
    }
    e->f.name = e->name;
    e->f.content_type = type;
    e->f.data = e->data;
    e->f.gz = e->gz;
    entry_free(dict_put(w->files, name, e, &oom));
    if (oom) {
        errbuf_fail(err, errlen, "%s: out of memory", path);
        goto out;
    }
    e = NULL;
    rc = 0;
out:
    if (e != NULL) {
        w->bytes -= e->f.len + e->f.gz_len;
        entry_free(e);
    }
    return rc;
}

int web_files_add_dir(struct web_files *w, const char *prefix, const char *dir, int depth,
                      char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int added = 0;
    if (d == NULL)
        return errbuf_fail(err, errlen, "%s: %s", dir, strerror(errno));
    while ((de = readdir(d)) != NULL) {
        char path[4096], name[1024];
        struct stat st;
        const char *type;
        if (!name_ok(de->d_name) ||
            (size_t)snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= sizeof path ||
            (size_t)snprintf(name, sizeof name, "%s%s", prefix, de->d_name) >= sizeof name ||
            stat(path, &st) != 0)
            continue;
        int n = 0;
        if (S_ISDIR(st.st_mode) && depth > 1) {
            char sub[sizeof name + 1];
            snprintf(sub, sizeof sub, "%s/", name);
            n = web_files_add_dir(w, sub, path, depth - 1, err, errlen);
        } else if (S_ISREG(st.st_mode) && (type = web_content_type(de->d_name)) != NULL) {
            n = add_file(w, name, path, type, err, errlen) == 0 ? 1 : -1;
        }
        if (n < 0) {
            added = -1;
            break;
        }
        added += n;
    }
    closedir(d);
    return added;
}

const struct web_file *web_files_get(const struct web_files *w, const char *name)
{
    const struct web_entry *e = w != NULL ? dict_get(w->files, name) : NULL;
    return e != NULL ? &e->f : NULL;
}

size_t web_files_count(const struct web_files *w)
{
    return w != NULL ? dict_size(w->files) : 0;
}

/* The next comma-separated item of a header value, blanks trimmed:
 * [*s, *s + *n), or 0 at the end. */
static int next_item(const char **p, const char **s, size_t *n)
{
    const char *q = *p;
    while (*q == ' ' || *q == '\t' || *q == ',')
        q++;
    if (*q == '\0')
        return 0;
    const char *end = strchr(q, ',');
    if (end == NULL)
        end = q + strlen(q);
    *p = end;
    while (end > q && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *s = q;
    *n = (size_t)(end - q);
    return 1;
}

int web_etag_matches(const char *if_none_match, const char *etag)
{
    const char *p = if_none_match, *s;
    size_t n, elen = strlen(etag);
    if (p == NULL)
        return 0;
    while (next_item(&p, &s, &n)) {
        /* If-None-Match compares weakly: W/"x" matches "x" */
        if (n > 2 && s[0] == 'W' && s[1] == '/') {
            s += 2;
            n -= 2;
        }
        if ((n == 1 && s[0] == '*') || (n == elen && memcmp(s, etag, n) == 0))
            return 1;
    }
    return 0;
}

int web_accepts_gzip(const char *accept_encoding)
{
    const char *p = accept_encoding, *s;
    size_t n;
    if (p == NULL)
        return 0;
    while (next_item(&p, &s, &n)) {
        size_t tok = 0;
        while (tok < n && s[tok] != ';' && s[tok] != ' ')
            tok++;
        if (tok != 4 || strncasecmp(s, "gzip", 4) != 0)
            continue;
        /* "gzip;q=0" (or 0.0, 0.00...) refuses it */
        const char *q = memchr(s, '=', n);
        if (q == NULL)
            return 1;
        q++;
        size_t rest = (size_t)(s + n - q);
        return !(rest >= 1 && q[0] == '0' && strspn(q + 1, ".0") >= rest - 1);
    }
    return 0;
}
