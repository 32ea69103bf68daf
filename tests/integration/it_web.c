/* it_web.c -- the browser pages as files over HTTP (api_web.c): pages at
 * /, /stop/{id}, /corridor/{id}, their files under /web/, Leaflet and
 * Chart.js under /lib/, served from memory with content types, ETags
 * (304), Cache-Control, gzip variants, CSP on pages; no path reaches
 * outside the folders read at start. A second cityd serves the repo's own
 * web/ and the Debian packages: every script and style the pages name
 * is served. */
#include <CUnit/CUnit.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "support.h"

struct reply {
    long status;
    char *body;
    size_t len;
    char headers[4096];
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct reply *r = arg;
    char *nb = realloc(r->body, r->len + size * n + 1);
    if (nb == NULL)
        return 0;
    memcpy(nb + r->len, p, size * n);
    r->len += size * n;
    nb[r->len] = '\0';
    r->body = nb;
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct reply *r = arg;
    size_t used = strlen(r->headers);
    if (used + size * n < sizeof r->headers) {
        memcpy(r->headers + used, p, size * n);
        r->headers[used + size * n] = '\0';
    }
    return size * n;
}

/* GET (or HEAD) base+path with one optional extra request header; curl
 * sends the path as given (no dot-segment squashing). */
static void fetch(const char *base, const char *path, const char *header, bool head,
                  struct reply *r)
{
    char url[1024];
    struct curl_slist *hl = header != NULL ? curl_slist_append(NULL, header) : NULL;
    memset(r, 0, sizeof *r);
    snprintf(url, sizeof url, "%s%s", base, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_NOBODY, head ? 1L : 0L);
    if (hl != NULL)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
}

/* The value of response header name ("" when absent), in buf. */
static const char *hdr(const struct reply *r, const char *name, char *buf, size_t len)
{
    size_t n = strlen(name);
    buf[0] = '\0';
    for (const char *p = r->headers; p != NULL && *p != '\0';) {
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            v += strspn(v, " ");
            size_t vl = strcspn(v, "\r\n");
            snprintf(buf, len, "%.*s", (int)vl, v);
            break;
        }
        p = strchr(p, '\n');
        p = p != NULL ? p + 1 : NULL;
    }
    return buf;
}

/* Write a file (in the suite's setup: no assertions there). */
static int put(const char *dir, const char *name, const char *text)
{
    char path[1024];
    FILE *f = (size_t)snprintf(path, sizeof path, "%s/%s", dir, name) < sizeof path
                  ? fopen(path, "wb") : NULL;
    if (f == NULL)
        return -1;
    fputs(text, f);
    return fclose(f);
}

/* A script of n bytes (a comment). */
static int put_sized(const char *dir, const char *name, size_t n)
{
    char *text = malloc(n + 1);
    if (text == NULL)
        return -1;
    memset(text, 'x', n);
    memcpy(text, "/*", 2);
    memcpy(text + n - 2, "*/", 2);
    text[n] = '\0';
    int rc = put(dir, name, text);
    free(text);
    return rc;
}

static struct test_redis redis;
static struct test_cityd cityd;
static char *root;                  /* tmp: web/, js/leaflet, js/chart.js, secret.txt */

static int setup(void)
{
    char web[512], js[512], leaflet[600], images[700], chart[600], o1[600], o2[600];
    root = support_tmpdir("itweb");
    snprintf(web, sizeof web, "%s/web", root);
    snprintf(js, sizeof js, "%s/js", root);
    snprintf(leaflet, sizeof leaflet, "%s/leaflet", js);
    snprintf(images, sizeof images, "%s/images", leaflet);
    snprintf(chart, sizeof chart, "%s/chart.js", js);
    if (mkdir(web, 0700) || mkdir(js, 0700) || mkdir(leaflet, 0700) || mkdir(images, 0700) ||
        mkdir(chart, 0700))
        return -1;
    if (put(root, "secret.txt", "not for you") || put(js, "other.js", "not a page's package") ||
        put(web, "index.html", "<!doctype html><title>city</title>") ||
        put(web, "stop.html", "<!doctype html><title>stop</title>") ||
        put(web, "corridor.html", "<!doctype html><title>corridor</title>") ||
        put(web, "city.js", "console.log('city');") || put(web, "style.css", "body{}") ||
        put(leaflet, "leaflet.js", "/* leaflet */") || put(leaflet, "leaflet.js.gz", "GZ-BYTES") ||
        put(images, "layers.png", "PNG") || put(chart, "chart.min.js", "/* chart */") ||
        put_sized(web, "big1.js", 39024) || put_sized(web, "big2.js", 20000) ||
        put_sized(web, "big3.js", 60001))
        return -1;
    snprintf(o1, sizeof o1, "web.dir=%s", web);
    snprintf(o2, sizeof o2, "web.js_dir=%s", js);
    const char *extra[] = {o1, o2, "web.tile_url=https://{s}.tile.example.org/{z}/{x}/{y}.png",
                           "web.tile_attribution=© Example", NULL};
    if (support_redis_start(&redis) != 0 || support_cityd_start(&cityd, redis.url, extra) != 0)
        return -1;
    return put(web, "later.js", "added after the start");
}

static int teardown(void)
{
    support_cityd_stop(&cityd);
    support_redis_stop(&redis);
    support_rmrf(root);
    free(root);
    return 0;
}

static void test_pages(void)
{
    struct reply r;
    char h[512];
    const struct {
        const char *path, *body;
    } pages[] = {
        {"/", "<!doctype html><title>city</title>"},
        {"/stop/1001", "<!doctype html><title>stop</title>"},
        {"/stop/%E5%8D%97%E5%A4%A7%E8%A1%97", "<!doctype html><title>stop</title>"},
        {"/corridor/nandajie", "<!doctype html><title>corridor</title>"},
    };
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        fetch(cityd.base, pages[i].path, NULL, false, &r);
        CU_ASSERT_EQUAL(r.status, 200);
        CU_ASSERT_STRING_EQUAL(r.body ? r.body : "", pages[i].body);
        CU_ASSERT_STRING_EQUAL(hdr(&r, "Content-Type", h, sizeof h), "text/html; charset=utf-8");
        CU_ASSERT_STRING_EQUAL(hdr(&r, "Cache-Control", h, sizeof h), "no-cache");
        CU_ASSERT_STRING_EQUAL(hdr(&r, "X-Content-Type-Options", h, sizeof h), "nosniff");
        hdr(&r, "Content-Security-Policy", h, sizeof h);
        CU_ASSERT_PTR_NOT_NULL(strstr(h, "default-src 'self'"));
        CU_ASSERT_PTR_NOT_NULL(strstr(h, "img-src 'self' data: https://*.tile.example.org;"));
        CU_ASSERT_EQUAL(strlen(hdr(&r, "ETag", h, sizeof h)), 18);
        free(r.body);
    }
    /* the file itself under /web/ too; scripts and styles: no CSP */
    fetch(cityd.base, "/web/city.js", NULL, false, &r);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(r.body ? r.body : "", "console.log('city');");
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Content-Type", h, sizeof h), "text/javascript; charset=utf-8");
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Content-Security-Policy", h, sizeof h), "");
    free(r.body);
    fetch(cityd.base, "/web/style.css", NULL, false, &r);
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Content-Type", h, sizeof h), "text/css; charset=utf-8");
    free(r.body);
    /* the pages' settings */
    fetch(cityd.base, "/web/config.json", NULL, false, &r);
    CU_ASSERT_EQUAL(r.status, 200);
    json_t *j = json_loads(r.body ? r.body : "", 0, NULL);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "tile_url")),
                           "https://{s}.tile.example.org/{z}/{x}/{y}.png");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "tile_attribution")),
                           "© Example");
    json_decref(j);
    free(r.body);
}

static void test_libs(void)
{
    struct reply r;
    char h[512];
    fetch(cityd.base, "/lib/leaflet/leaflet.js", NULL, false, &r);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(r.body ? r.body : "", "/* leaflet */");
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Cache-Control", h, sizeof h), "public, max-age=86400");
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Vary", h, sizeof h), "Accept-Encoding");
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Content-Encoding", h, sizeof h), "");
    char plain_etag[64];
    hdr(&r, "ETag", plain_etag, sizeof plain_etag);
    free(r.body);
    /* Debian's precompressed copy, to a client that takes gzip */
    fetch(cityd.base, "/lib/leaflet/leaflet.js", "Accept-Encoding: deflate, gzip", false, &r);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(r.body ? r.body : "", "GZ-BYTES");
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Content-Encoding", h, sizeof h), "gzip");
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Content-Type", h, sizeof h), "text/javascript; charset=utf-8");
    CU_ASSERT_STRING_NOT_EQUAL(hdr(&r, "ETag", h, sizeof h), plain_etag);
    free(r.body);
    fetch(cityd.base, "/lib/leaflet/leaflet.js", "Accept-Encoding: gzip;q=0", false, &r);
    CU_ASSERT_STRING_EQUAL(r.body ? r.body : "", "/* leaflet */");
    free(r.body);
    fetch(cityd.base, "/lib/leaflet/images/layers.png", NULL, false, &r);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Content-Type", h, sizeof h), "image/png");
    free(r.body);
    fetch(cityd.base, "/lib/chart.js/chart.min.js", NULL, false, &r);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(r.body ? r.body : "", "/* chart */");
    free(r.body);
}

static void test_conditional_and_head(void)
{
    struct reply r;
    char etag[64], cond[100], h[256];
    fetch(cityd.base, "/corridor/x", NULL, false, &r);
    hdr(&r, "ETag", etag, sizeof etag);
    free(r.body);
    snprintf(cond, sizeof cond, "If-None-Match: %s", etag);
    fetch(cityd.base, "/corridor/x", cond, false, &r);
    CU_ASSERT_EQUAL(r.status, 304);
    CU_ASSERT_EQUAL(r.len, 0);
    CU_ASSERT_STRING_EQUAL(hdr(&r, "ETag", h, sizeof h), etag);
    free(r.body);
    fetch(cityd.base, "/corridor/x", "If-None-Match: \"0000000000000000\"", false, &r);
    CU_ASSERT_EQUAL(r.status, 200);
    free(r.body);
    fetch(cityd.base, "/", NULL, true, &r);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(r.len, 0);
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Content-Length", h, sizeof h), "34");
    free(r.body);
}

/* Nothing outside the folders, nothing not read at start, nothing
 * skipped by name or type: each answers an error, never the file. */
static void test_no_way_out(void)
{
    const char *paths[] = {
        "/web/..%2Fsecret.txt", "/web/%2e%2e%2fsecret.txt", "/web/..", "/web/%2e%2e",
        "/web/../secret.txt", "/web/../../etc/passwd", "/lib/leaflet/..%2F..%2Fsecret.txt",
        "/lib/../secret.txt", "/lib/leaflet/../other.js", "/lib/other.js/x",
        "/lib/%2e%2e/secret.txt", "/lib/leaflet/images/..", "/lib/leaflet/leaflet.js.gz",
        "/web/later.js", "/web/index.html%00.js", "/web/", "/stop/", "/web/secret.txt",
        "/lib/leaflet/images/../leaflet.js", "/lib/chart.js/../../secret.txt",
        "/web/.%2e/secret.txt", "/secret.txt", "/lib/leaflet",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct reply r;
        fetch(cityd.base, paths[i], NULL, false, &r);
        if (r.status == 200 || r.status == 0 ||
            (r.body != NULL && (strstr(r.body, "not for you") || strstr(r.body, "root:") ||
                                strstr(r.body, "after the start"))))
            fprintf(stderr, "it_web: %s -> %ld %s\n", paths[i], r.status, r.body ? r.body : "");
        CU_ASSERT(r.status == 404 || r.status == 400);
        CU_ASSERT_PTR_NOT_NULL(r.body != NULL ? strstr(r.body, "\"error\"") : NULL);
        free(r.body);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Files of several segments, one after another on one connection: each
 * answered at once. With Nagle on, the last part of every such reply
 * waited for the client's delayed ACK (40 ms: 175 replies a second for
 * the 39 KB leaflet.min.js.gz). The median is compared, so that a loaded
 * machine's odd slow reply does not count; Nagle delays every one. */
static void test_no_nagle(void)
{
    const char *paths[] = {"/web/big1.js", "/web/big2.js", "/web/big3.js"};
    double ms[30];
    int n = 0;
    CURL *c = curl_easy_init();
    struct reply r = {0};
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    for (int i = 0; i < 30; i++) {
        char url[256];
        snprintf(url, sizeof url, "%s%s", cityd.base, paths[i % 3]);
        curl_easy_setopt(c, CURLOPT_URL, url);
        double secs = 0;
        r.len = 0;
        if (curl_easy_perform(c) == CURLE_OK &&
            curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &secs) == CURLE_OK)
            ms[n++] = secs * 1000;
    }
    free(r.body);
    curl_easy_cleanup(c);
    CU_ASSERT_EQUAL_FATAL(n, 30);
    qsort(ms, (size_t)n, sizeof ms[0], cmp_double);
    if (ms[n / 2] >= 20)
        fprintf(stderr, "it_web: median %.1f ms a reply (fastest %.1f)\n", ms[n / 2], ms[0]);
    CU_ASSERT(ms[n / 2] < 20);
}

/* The repo's own pages and the Debian packages (tools/deps.sh installs
 * them): every script, style and image a page names is served. */
static void test_repo_pages(void)
{
    struct test_cityd c;
    const char *extra[] = {NULL};
    CU_ASSERT_EQUAL_FATAL(support_cityd_start(&c, redis.url, extra), 0);
    const char *pages[] = {"/", "/stop/1001", "/corridor/nandajie"};
    size_t refs = 0;
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        struct reply r;
        fetch(c.base, pages[i], NULL, false, &r);
        CU_ASSERT_EQUAL(r.status, 200);
        for (const char *p = r.body ? r.body : ""; (p = strpbrk(p, "sh")) != NULL; p++) {
            const char *v = NULL;
            if (strncmp(p, "src=\"", 5) == 0)
                v = p + 5;
            else if (strncmp(p, "href=\"", 6) == 0)
                v = p + 6;
            if (v == NULL || v[0] != '/')
                continue;
            char path[256];
            snprintf(path, sizeof path, "%.*s", (int)strcspn(v, "\""), v);
            if (strncmp(path, "/stop/", 6) == 0 || strncmp(path, "/corridor/", 10) == 0 ||
                strcmp(path, "/") == 0)
                continue;             /* links to pages */
            struct reply a;
            fetch(c.base, path, NULL, false, &a);
            if (a.status != 200)
                fprintf(stderr, "it_web: %s names %s: %ld\n", pages[i], path, a.status);
            CU_ASSERT_EQUAL(a.status, 200);
            refs++;
            free(a.body);
        }
        free(r.body);
    }
    CU_ASSERT(refs >= 6);             /* leaflet js+css, chart.js, the pages' own */
    support_cityd_stop(&c);
}

int suite_web(void)
{
    CU_pSuite s = CU_add_suite("web", setup, teardown);
    if (s == NULL)
        return -1;
    if (!CU_add_test(s, "pages", test_pages) || !CU_add_test(s, "libs", test_libs) ||
        !CU_add_test(s, "conditional_and_head", test_conditional_and_head) ||
        !CU_add_test(s, "no_way_out", test_no_way_out) ||
        !CU_add_test(s, "no_nagle", test_no_nagle) ||
        !CU_add_test(s, "repo_pages", test_repo_pages))
        return -1;
    return 0;
}
