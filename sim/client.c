/* client.c -- citysim's HTTP client (libcurl), the only file that talks
 * to cityd.
 *
 * Why libcurl and a blocking easy handle: citysim is not an event loop.
 * The closed loop is strictly sequential (advance the model, post counts,
 * fetch the timing, advance again) and `feed` paces requests by sleeping,
 * so a blocking call is the simplest correct client; one reused handle
 * keeps the connection alive between requests. libcurl is already a
 * project dependency (the test client) and handles HTTP/1.1, chunked
 * bodies, timeouts and connection reuse, none of which is worth writing
 * again for a command-line tool.
 *
 * A server that does not answer (refused or reset connection, timeout,
 * 5xx, 429) is retried with doubling back-off; after the last retry the
 * caller gets -1 and a message saying what happened, never a silently
 * skipped request. A 4xx is an answer: it is returned at once. */
#include <curl/curl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "simcli.h"

struct simhttp {
    CURL *curl;
    struct curl_slist *headers;
    char *base;
    double timeout_s;
    int retries;
    char *buf; size_t len, cap;           /* response body */
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct simhttp *h = arg;
    size_t add = size * n;
    if (h->len + add + 1 > h->cap) {
        size_t ncap = h->cap ? h->cap : 4096;
        while (ncap < h->len + add + 1)
            ncap *= 2;
        char *nb = realloc(h->buf, ncap);
        if (nb == NULL)
            return 0;
        h->buf = nb;
        h->cap = ncap;
    }
    memcpy(h->buf + h->len, p, add);
    h->len += add;
    h->buf[h->len] = '\0';
    return add;
}

struct simhttp *simhttp_new(const char *base, const char *key, double timeout_s, int retries,
                            char *err, size_t errlen)
{
    struct simhttp *h = calloc(1, sizeof *h);
    char auth[600];
    if (h == NULL || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
        (h->curl = curl_easy_init()) == NULL || (h->base = strdup(base)) == NULL) {
        snprintf(err, errlen, "cannot set up the HTTP client");
        simhttp_free(h);
        return NULL;
    }
    size_t bl = strlen(h->base);
    while (bl > 0 && h->base[bl - 1] == '/')
        h->base[--bl] = '\0';
    h->timeout_s = timeout_s;
    h->retries = retries;
    h->headers = curl_slist_append(NULL, "Content-Type: application/json; charset=utf-8");
    if (key != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        h->headers = curl_slist_append(h->headers, auth);
    }
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->headers);
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, (long)(timeout_s * 1000));
    curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout_s * 1000));
    curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h->curl, CURLOPT_USERAGENT, "citysim/" CITYD_VERSION);
    return h;
}

void simhttp_free(struct simhttp *h)
{
    if (h == NULL)
        return;
    if (h->curl)
        curl_easy_cleanup(h->curl);
    curl_slist_free_all(h->headers);
    free(h->base);
    free(h->buf);
    free(h);
    curl_global_cleanup();
}

static void pause_s(double s)
{
    struct timespec ts = { (time_t)s, (long)((s - floor(s)) * 1e9) };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* One attempt: 0 answered (status in *status), -1 no answer (why in err). */
static int attempt(struct simhttp *h, const char *method, const char *url, const char *body,
                   long *status, char *err, size_t errlen)
{
    h->len = 0;
    if (h->buf)
        h->buf[0] = '\0';
    curl_easy_setopt(h->curl, CURLOPT_URL, url);
    curl_easy_setopt(h->curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h->curl, CURLOPT_HTTPGET, body == NULL ? 1L : 0L);
    if (body != NULL) {
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    CURLcode rc = curl_easy_perform(h->curl);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s", curl_easy_strerror(rc));
        return -1;
    }
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, status);
    if (*status >= 500 || *status == 429) {
        snprintf(err, errlen, "HTTP %ld", *status);
        return -1;
    }
    return 0;
}

int simhttp_request(struct simhttp *h, const char *method, const char *path, const char *body,
                    json_t **out, char *err, size_t errlen)
{
    char url[2048], why[256] = "";
    long status = 0;
    double wait = 0.25;
    *out = NULL;
    snprintf(url, sizeof url, "%s%s", h->base, path);
    for (int k = 0; k <= h->retries; k++) {
        if (k > 0) {
            pause_s(wait);
            wait = fmin(wait * 2, 8);
        }
        if (attempt(h, method, url, body, &status, why, sizeof why) == 0) {
            *out = h->len ? json_loadb(h->buf, h->len, 0, NULL) : NULL;
            return (int)status;
        }
    }
    snprintf(err, errlen, "%s %s: no answer after %d attempts (%s)", method, url, h->retries + 1,
             why);
    return -1;
}

void simhttp_error_text(const json_t *body, char *buf, size_t len)
{
    const json_t *e = json_object_get(body, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    snprintf(buf, len, "%s: %s", code ? code : "error", msg ? msg : "(no message)");
}
