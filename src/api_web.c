/* api_web.c -- the browser pages (api.md §6): GET /, /stop/{id},
 * /corridor/{id}, their scripts under /web/, Leaflet and Chart.js under
 * /lib/, and /web/config.json (what the pages need from cityd.conf).
 *
 * Every file is served from memory (web.h): read at start from web.dir
 * and from the leaflet/ and chart.js/ folders of web.js_dir (Debian's
 * libjs-leaflet and libjs-chart.js), so a request path is only a key in
 * a table and never touches the file system. Replies carry a strong ETag
 * (If-None-Match gets 304), Cache-Control (pages and their scripts are
 * revalidated on every load, so a new cityd is seen at once; the Debian
 * libraries are cached for a day), nosniff, and on pages a Content-
 * Security-Policy that allows scripts, styles and requests from cityd
 * only (images also from the configured tile server). Leaflet's
 * precompressed .gz files are sent to clients that accept gzip.
 *
 * The files contain no data, so they need no key even when
 * auth.public_read is off (the API they read then does). A missing
 * folder is logged (web_missing) and its files answer 404: cityd's API
 * does not depend on its pages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "http.h"
#include "module.h"
#include "web.h"

struct api_web {
    struct web_files *files;
    char csp[1024];               /* Content-Security-Policy of the pages */
};

/* The Debian packages the pages use, by their folder in web.js_dir. */
static const char *const LIBS[] = {"leaflet", "chart.js"};

#define LIB_DEPTH 2               /* leaflet/ and leaflet/images/ */
#define CACHE_PAGES "no-cache"
#define CACHE_LIBS "public, max-age=86400"

/* Send f (gzip when it has a .gz variant the client takes), or 304 when
 * the client has it already. csp: the policy header of a page, or NULL. */
static void send_file(struct http_req *r, const struct web_file *f, const char *cache,
                      const char *csp)
{
    bool gz = f->gz != NULL && web_accepts_gzip(http_req_header(r, "Accept-Encoding"));
    const char *etag = gz ? f->gz_etag : f->etag;
    http_reply_header(r, "ETag", etag);
    http_reply_header(r, "Cache-Control", cache);
    http_reply_header(r, "X-Content-Type-Options", "nosniff");
    if (f->gz != NULL)
        http_reply_header(r, "Vary", "Accept-Encoding");
    if (gz)
        http_reply_header(r, "Content-Encoding", "gzip");
    if (csp != NULL) {
        http_reply_header(r, "Content-Security-Policy", csp);
        http_reply_header(r, "Referrer-Policy", "same-origin");
    }
    if (web_etag_matches(http_req_header(r, "If-None-Match"), etag))
        http_reply_static(r, 304, NULL, NULL, 0);
    else if (gz)
        http_reply_static(r, 200, f->content_type, f->gz, f->gz_len);
    else
        http_reply_static(r, 200, f->content_type, f->data, f->len);
}

static void not_found(struct http_req *r, const char *name)
{
    http_reply_error(r, 404, "not_found", "no file %s", name);
}

static bool is_html(const struct web_file *f)
{
    return strncmp(f->content_type, "text/html", 9) == 0;
}

/* A page: its HTML, whatever the id (the page asks the API about it). */
static void page(struct http_req *r, struct api_web *w, const char *name)
{
    const struct web_file *f = web_files_get(w->files, name);
    if (f == NULL)
        not_found(r, name);
    else
        send_file(r, f, CACHE_PAGES, w->csp);
}

static void h_city(struct http_req *r, void *arg)
{
    page(r, arg, "index.html");
}

static void h_stop(struct http_req *r, void *arg)
{
    page(r, arg, "stop.html");
}

static void h_corridor(struct http_req *r, void *arg)
{
    page(r, arg, "corridor.html");
}

/* /web/{file}: a file of web.dir (names there have no '/'). */
static void h_web_file(struct http_req *r, void *arg)
{
    struct api_web *w = arg;
    const char *name = http_req_param(r, "file");
    const struct web_file *f = web_files_get(w->files, name);
    if (f == NULL || strchr(name, '/') != NULL)
        not_found(r, name);
    else
        send_file(r, f, CACHE_PAGES, is_html(f) ? w->csp : NULL);
}

/* /lib/{pkg}/{file} and /lib/{pkg}/{dir}/{file}: "lib/pkg/..." in the
 * table (only the LIBS folders were read into it under such names). */
static void h_lib(struct http_req *r, void *arg)
{
    struct api_web *w = arg;
    const char *pkg = http_req_param(r, "pkg"), *dir = http_req_param(r, "dir"),
               *file = http_req_param(r, "file");
    char name[1024];
    int n = dir != NULL ? snprintf(name, sizeof name, "lib/%s/%s/%s", pkg, dir, file)
                        : snprintf(name, sizeof name, "lib/%s/%s", pkg, file);
    const struct web_file *f =
        n > 0 && (size_t)n < sizeof name ? web_files_get(w->files, name) : NULL;
    if (f == NULL) {
        not_found(r, n > 0 && (size_t)n < sizeof name ? name + 4 : file);
        return;
    }
    send_file(r, f, CACHE_LIBS, NULL);
}

/* What the pages need from the configuration: the tile layer, and the
 * city's time zone (parking.timezone) to show times in. */
static void h_config(struct http_req *r, void *arg)
{
    struct app *a = arg;
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "tile_url", a->cfg.web_tile_url,
                          "tile_attribution", a->cfg.web_tile_attribution, "timezone",
                          a->cfg.parking_timezone, "version", CITYD_VERSION);
    http_reply_header(r, "Cache-Control", CACHE_PAGES);
    http_reply_json(r, 200, o);
}

/* The tile server's origin for img-src: "https://{s}.tile.x.org/{z}/..."
 * gives "https://" "*.tile.x.org" (a wildcard host); anything else odd in
 * the host gives its scheme as a whole ("https:", "http:"). "" without
 * tiles. */
static void tile_origin(const char *url, char *out, size_t len)
{
    const char *p = strstr(url, "://");
    size_t scheme = p != NULL ? (size_t)(p - url) + 3 : 0;
    size_t host = p != NULL ? strcspn(url + scheme, "/") : 0;
    char o[256];
    snprintf(out, len, "%s", url[0] == '\0' ? "" : strncmp(url, "http://", 7) == 0 ? "http:" : "https:");
    if (host == 0 || scheme + host >= sizeof o || strcspn(url, " ;,'\"") != strlen(url))
        return;
    if (strncmp(url + scheme, "{s}.", 4) == 0)
        snprintf(o, sizeof o, "%.*s*%.*s", (int)scheme, url, (int)host - 3, url + scheme + 3);
    else
        snprintf(o, sizeof o, "%.*s", (int)(scheme + host), url);
    if (strpbrk(o, "{}") == NULL)
        snprintf(out, len, "%s", o);
}

static void build_csp(struct api_web *w, const char *tile_url)
{
    char origin[256];
    tile_origin(tile_url, origin, sizeof origin);
    snprintf(w->csp, sizeof w->csp,
             "default-src 'self'; img-src 'self' data: %s; style-src 'self' 'unsafe-inline'; "
             "object-src 'none'; base-uri 'none'; frame-ancestors 'self'",
             origin);
}

static void load(struct app *a, struct api_web *w, const char *prefix, const char *dir,
                 int depth)
{
    char err[512];
    if (web_files_add_dir(w->files, prefix, dir, depth, err, sizeof err) < 0)
        log_error(&a->log, "web_missing", "dir=%s error=%s", dir, err);
}

static const struct module_route ROUTES[] = {
    {HTTP_GET, "/", ROLE_NONE, true, h_city},
    {HTTP_GET, "/stop/{id}", ROLE_NONE, true, h_stop},
    {HTTP_GET, "/corridor/{id}", ROLE_NONE, true, h_corridor},
    {HTTP_GET, "/web/{file}", ROLE_NONE, true, h_web_file},
    {HTTP_GET, "/lib/{pkg}/{file}", ROLE_NONE, true, h_lib},
    {HTTP_GET, "/lib/{pkg}/{dir}/{file}", ROLE_NONE, true, h_lib},
};

static int start(struct app *a, char *err, size_t errlen)
{
    struct api_web *w = calloc(1, sizeof *w);
    if (w == NULL || (w->files = web_files_new()) == NULL) {
        free(w);
        snprintf(err, errlen, "web: out of memory");
        return -1;
    }
    a->web = w;
    build_csp(w, a->cfg.web_tile_url);
    if (a->cfg.web_dir[0] != '\0')
        load(a, w, "", a->cfg.web_dir, 1);
    for (size_t i = 0; i < sizeof LIBS / sizeof LIBS[0]; i++) {
        char dir[CONFIG_PATH_MAX + 32], prefix[64];
        snprintf(dir, sizeof dir, "%s/%s", a->cfg.web_js_dir, LIBS[i]);
        snprintf(prefix, sizeof prefix, "lib/%s/", LIBS[i]);
        load(a, w, prefix, dir, LIB_DEPTH);
    }
    log_info(&a->log, "web_loaded", "files=%zu", web_files_count(w->files));
    if (module_routes(a->http, "web", ROUTES, sizeof ROUTES / sizeof ROUTES[0], w, err,
                      errlen) != 0)
        return -1;
    return http_route(a->http, HTTP_GET, "/web/config.json", ROLE_NONE, true, h_config, a) == 0
               ? 0
               : (snprintf(err, errlen, "web: cannot register route GET /web/config.json"), -1);
}

static void stop(struct app *a)
{
    (void)a;
}

static void web_free(struct app *a)
{
    if (a->web != NULL) {
        web_files_free(a->web->files);
        free(a->web);
        a->web = NULL;
    }
}

static bool ready(const struct app *a)
{
    (void)a;
    return true;
}

const struct api_module api_web_module = {"web", start, stop, web_free, ready};
