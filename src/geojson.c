/* geojson.c -- GeoJSON replies of the lists (see geojson.h). */
#include "geojson.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "json_out.h"

int geojson_wanted(struct http_req *r, bool *geojson)
{
    const char *f = http_req_query(r, "format");
    if (f == NULL) {
        const char *acc = http_req_header(r, "Accept");
        *geojson = acc != NULL && strcasestr(acc, GEOJSON_TYPE) != NULL;
        return 0;
    }
    if (strcasecmp(f, "json") == 0 || strcasecmp(f, "geojson") == 0) {
        *geojson = strcasecmp(f, "geojson") == 0;
        return 0;
    }
    http_reply_error(r, 400, "invalid", "format: json or geojson");
    return -1;
}

bool geojson_in_box(const double bb[4], double lon, double lat)
{
    bool in_lon = bb[0] <= bb[2] ? lon >= bb[0] && lon <= bb[2] : lon >= bb[0] || lon <= bb[2];
    return in_lon && lat >= bb[1] && lat <= bb[3];
}

double geojson_round(double deg)
{
    return round(deg * 1e7) / 1e7;
}

/* %.7f without its trailing zeros. */
static size_t put_deg(char *buf, double v)
{
    int n = snprintf(buf, 32, "%.7f", geojson_round(v));
    while (n > 1 && buf[n - 1] == '0')
        n--;
    if (n > 1 && buf[n - 1] == '.')
        n--;
    buf[n] = '\0';
    if (strcmp(buf, "-0") == 0)
        n = snprintf(buf, 32, "0");
    return (size_t)n;
}

size_t geojson_pos(char *buf, double lon, double lat)
{
    size_t n = 0;
    buf[n++] = '[';
    n += put_deg(buf + n, lon);
    buf[n++] = ',';
    n += put_deg(buf + n, lat);
    buf[n++] = ']';
    buf[n] = '\0';
    return n;
}

size_t geojson_feature_head(char *buf, const char *id, double lon, double lat)
{
    size_t n = (size_t)sprintf(buf, "{\"type\":\"Feature\",\"id\":\"");
    for (const char *p = id; *p; p++) {
        if (*p == '"' || *p == '\\')
            buf[n++] = '\\';
        buf[n++] = *p;
    }
    n += (size_t)sprintf(buf + n, "\",\"geometry\":{\"type\":\"Point\",\"coordinates\":");
    n += geojson_pos(buf + n, lon, lat);
    n += (size_t)sprintf(buf + n, "},\"properties\":");
    return n;
}

static json_t *position(double lon, double lat, bool gcj02)
{
    if (gcj02)
        geo_wgs84_to_gcj02(lon, lat, &lon, &lat);
    return json_pack("[f, f]", geojson_round(lon), geojson_round(lat));
}

json_t *geojson_point(double lon, double lat, bool gcj02)
{
    return json_pack("{s:s, s:o}", "type", "Point", "coordinates", position(lon, lat, gcj02));
}

json_t *geojson_line(const struct geo_pt *pts, size_t n, bool gcj02)
{
    json_t *c = json_array();
    for (size_t i = 0; c && i < n; i++)
        json_array_append_new(c, position(pts[i].lon, pts[i].lat, gcj02));
    return json_pack("{s:s, s:o}", "type", "LineString", "coordinates", c);
}

/* The geometry an item carries itself: lon/lat, or a location geometry
 * (already in the reply's crs, so not converted again). */
static json_t *own_geometry(const json_t *item)
{
    const json_t *lon = json_object_get(item, "lon"), *lat = json_object_get(item, "lat");
    if (json_is_number(lon) && json_is_number(lat))
        return geojson_point(json_number_value(lon), json_number_value(lat), false);
    const json_t *loc = json_object_get(item, "location");
    return json_is_object(loc) ? json_deep_copy(loc) : json_null();
}

json_t *geojson_collection(const json_t *items, json_t **geoms, const char *id_key)
{
    json_t *feats = json_array();
    for (size_t i = 0; feats && i < json_array_size(items); i++) {
        json_t *item = json_array_get(items, i);
        json_t *g = geoms ? geoms[i] : NULL;
        if (g == NULL || json_is_null(g)) {
            json_decref(g);
            g = own_geometry(item);
        }
        json_t *f = json_pack("{s:s, s:o, s:O}", "type", "Feature", "geometry", g,
                              "properties", item);
        const json_t *id = id_key ? json_object_get(item, id_key) : NULL;
        if (f && json_is_string(id))
            json_object_set(f, "id", (json_t *)id);
        json_array_append_new(feats, f);
    }
    return json_pack("{s:s, s:o}", "type", "FeatureCollection", "features", feats);
}

struct sink {
    char *p;
    size_t len, cap;
};

static int sink_put(void *ctx, const char *p, size_t n)
{
    struct sink *s = ctx;
    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n)
            cap *= 2;
        char *q = realloc(s->p, cap);
        if (q == NULL)
            return -1;
        s->p = q;
        s->cap = cap;
    }
    memcpy(s->p + s->len, p, n);
    s->len += n;
    return 0;
}

char *geojson_dump(const json_t *j, size_t *len)
{
    struct sink s = {0};
    if (j == NULL || json_out_write(j, sink_put, &s) != 0 || sink_put(&s, "", 1) != 0) {
        free(s.p);
        return NULL;
    }
    *len = s.len - 1;                   /* the NUL is not part of the text */
    return s.p;
}

void geojson_reply(struct http_req *r, json_t *body)
{
    size_t len = 0;
    char *text = geojson_dump(body, &len);
    if (text == NULL)
        http_reply_error(r, 500, "internal", "out of memory");
    else
        http_reply_raw(r, 200, GEOJSON_TYPE "; charset=utf-8", text, len);
    free(text);
    json_decref(body);
}
