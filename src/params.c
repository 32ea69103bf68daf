/* params.c -- query parameters of API requests (params.h).
 *
 * One reading of each kind of parameter for every API module, so that
 * "limit=5.5", "crs=GCJ02" or "at=yesterday" get the same answer
 * whichever endpoint they are sent to. */
#include "params.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "http.h"

/* The plain decimals query strings carry ("121.39", "-5", "2000") in one
 * pass: with at most 15 significant digits the mantissa and 10^k (k <= 22)
 * are exact doubles, so the one IEEE division rounds correctly and the
 * result is strtod's to the bit (Clinger's fast path), at a fraction of
 * glibc's cost. Anything else (exponents, long mantissas) returns false
 * and goes to strtod; hex, "inf" and "nan" are no numbers here. */
static bool parse_decimal_fast(const char *s, double *out)
{
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    bool neg = *s == '-';
    uint64_t m = 0;
    int digits = 0, frac = 0;
    bool any = false, dot = false;
    if (*s == '-' || *s == '+')
        s++;
    for (;; s++) {
        if (*s >= '0' && *s <= '9') {
            any = true;
            if (m == 0 && *s == '0') {
                frac += dot;           /* leading zeros are not significant */
                continue;
            }
            if (++digits > 15)
                return false;
            m = m * 10 + (uint64_t)(*s - '0');
            frac += dot;
        } else if (*s == '.' && !dot) {
            dot = true;
        } else {
            break;
        }
    }
    if (*s != '\0' || !any || frac > 22)
        return false;
    double v = (double)m / pow10[frac];
    *out = neg ? -v : v;
    return true;
}

bool params_parse_number(const char *s, double *out)
{
    char *end;
    if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
        return false;
    if (parse_decimal_fast(s, out))
        return true;
    /* Decimal notation only: strtod would also read hexadecimal ("0x10",
     * "0x1p3"), "inf" and "nan". */
    if (s[strspn(s, "0123456789+-.eE")] != '\0')
        return false;
    errno = 0;
    double v = strtod(s, &end);
    if (*end != '\0' || errno == ERANGE || !isfinite(v))
        return false;
    *out = v;
    return true;
}

int params_number(struct http_req *r, const char *name, unsigned flags, double lo, double hi,
                  double def, double *out)
{
    const char *s = http_req_query(r, name);
    bool integral = (flags & PARAMS_INTEGER) != 0;
    double v;
    if (s == NULL && !(flags & PARAMS_REQUIRED)) {
        *out = def;
        return 0;
    }
    if (s == NULL || !params_parse_number(s, &v) || v < lo || v > hi ||
        (integral && v != floor(v))) {
        http_reply_error(r, 400, "invalid", "%s: %s%s in [%g, %g]", name,
                         s == NULL ? "required, " : "must be ",
                         integral ? "an integer" : "a number", lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int params_bool(struct http_req *r, const char *name, bool def, bool *out)
{
    const char *s = http_req_query(r, name);
    if (s == NULL)
        *out = def;
    else if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0 || s[0] == '\0')
        *out = true;
    else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
        *out = false;
    else {
        http_reply_error(r, 400, "invalid", "%s: must be true or false", name);
        return -1;
    }
    return 0;
}

int params_crs(struct http_req *r, bool *gcj02)
{
    const char *s = http_req_query(r, "crs");
    *gcj02 = s != NULL && strcasecmp(s, "gcj02") == 0;
    if (s == NULL || *gcj02 || strcasecmp(s, "wgs84") == 0)
        return 0;
    http_reply_error(r, 400, "invalid", "crs: must be wgs84 or gcj02");
    return -1;
}

int params_now(const struct app *a, struct http_req *r, double *now)
{
    if (app_request_now(a, r, now) == 0)
        return 0;
    http_reply_error(r, 400, "invalid", "at: must be epoch seconds");
    return -1;
}

int params_point(struct http_req *r, bool gcj02, struct geo_pt *wgs84)
{
    if (params_number(r, "lon", PARAMS_REQUIRED, -180, 180, 0, &wgs84->lon) != 0 ||
        params_number(r, "lat", PARAMS_REQUIRED, -90, 90, 0, &wgs84->lat) != 0)
        return -1;
    if (gcj02)
        geo_gcj02_to_wgs84(wgs84->lon, wgs84->lat, &wgs84->lon, &wgs84->lat);
    return 0;
}

int params_bbox(struct http_req *r, bool required, double bb[4], bool *given)
{
    const char *s = http_req_query(r, "bbox");
    char tmp[256];
    int n = 0;
    *given = s != NULL;
    if (s == NULL && !required)
        return 0;
    if (s == NULL || strlen(s) >= sizeof tmp)
        goto bad;
    snprintf(tmp, sizeof tmp, "%s", s);
    /* strtok would pass over empty fields ("1,,2,3,4"): split by hand */
    for (char *tok = tmp, *comma;; tok = comma + 1) {
        comma = strchr(tok, ',');
        if (comma != NULL)
            *comma = '\0';
        if (n == 4 || !params_parse_number(tok, &bb[n]))
            goto bad;
        n++;
        if (comma == NULL)
            break;
    }
    if (n == 4 && geo_valid_lonlat(bb[0], bb[1]) && geo_valid_lonlat(bb[2], bb[3]) &&
        bb[1] <= bb[3])
        return 0;
bad:
    http_reply_error(r, 400, "invalid", "bbox: %sminlon,minlat,maxlon,maxlat in degrees, "
                     "minlat <= maxlat", s == NULL ? "required, " : "must be ");
    return -1;
}
