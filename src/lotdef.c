/* lotdef.c -- the rules of a parking lot definition, for map lots and
 * PUT bodies alike (see lotdef.h). Every field is read even after a
 * problem, so `cityd --check` lists them all; PUT keeps the first. */
#include "lotdef.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tariff.h"
#include "text.h"

/* Where problems go, and how many there were. */
struct rd {
    lotdef_report_fn *fn;
    void *ctx;
    size_t n;
};

__attribute__((format(printf, 2, 3)))
static void report(struct rd *r, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->n++;
    r->fn(r->ctx, msg);
}

static bool dup_into(struct rd *r, const char *s, char **out)
{
    if ((*out = strdup(s)) == NULL)
        report(r, "out of memory");
    return *out != NULL;
}

int lotdef_check_id(const char *field, const char *s, char *err, size_t errlen)
{
    return text_check_id(field, s, strlen(s), LOTDEF_ID_MAX + 1, err, errlen);
}

/* Optional (or required) non-empty string `key` by the name rule. */
static bool get_name(struct rd *r, const json_t *o, const char *key, bool required, char **out)
{
    const json_t *v = json_object_get(o, key);
    char e[256];
    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        if (required)
            report(r, "%s: required, a non-empty string", key);
        return !required;
    }
    if (!json_is_string(v) || json_string_length(v) == 0) {
        report(r, "%s: must be a non-empty string", key);
        return false;
    }
    if (text_check(key, json_string_value(v), json_string_length(v), TEXT_NAME_SIZE, e,
                   sizeof e) != 0) {
        report(r, "%s", e);
        return false;
    }
    return dup_into(r, json_string_value(v), out);
}

/* The shape of a list: an array of at most LOTDEF_LIST_MAX ids, each
 * listed once (the bound first: the twin test is quadratic). */
static bool list_ok(struct rd *r, const json_t *v, const char *key)
{
    size_t n = json_array_size(v);
    char field[48], e[256];
    if (!json_is_array(v)) {
        report(r, "%s: must be an array of non-empty strings", key);
        return false;
    }
    if (n > LOTDEF_LIST_MAX) {
        report(r, "%s: lists more than %d", key, LOTDEF_LIST_MAX);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *x = json_array_get(v, i);
        snprintf(field, sizeof field, "%s[%zu]", key, i);
        if (!json_is_string(x) || json_string_length(x) == 0) {
            report(r, "%s: must be a non-empty string", field);
            return false;
        }
        if (text_check_id(field, json_string_value(x), json_string_length(x), LOTDEF_ID_MAX + 1,
                          e, sizeof e) != 0) {
            report(r, "%s", e);
            return false;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(json_string_value(json_array_get(v, j)), json_string_value(x)) == 0) {
                report(r, "%s: '%s' is listed twice", field, json_string_value(x));
                return false;
            }
    }
    return true;
}

static bool get_list(struct rd *r, const json_t *o, const char *key, char ***out, size_t *nout)
{
    const json_t *v = json_object_get(o, key);
    *out = NULL;
    *nout = 0;
    if (v == NULL || json_is_null(v))
        return true;
    if (!list_ok(r, v, key))
        return false;
    size_t n = json_array_size(v);
    if (n == 0)
        return true;
    char **sv = calloc(n, sizeof *sv);
    if (sv == NULL) {
        report(r, "out of memory");
        return false;
    }
    *out = sv;
    *nout = n;
    for (size_t i = 0; i < n; i++)
        if (!dup_into(r, json_string_value(json_array_get(v, i)), &sv[i]))
            return false;                 /* lotdef_clear frees what was copied */
    return true;
}

static bool get_type(struct rd *r, const json_t *o, char **out)
{
    const char *t = json_string_value(json_object_get(o, "type"));
    if (json_object_get(o, "type") == NULL || json_is_null(json_object_get(o, "type")))
        t = "OffStreetParking";
    if (t == NULL || (strcmp(t, "OffStreetParking") != 0 && strcmp(t, "OnStreetParking") != 0)) {
        report(r, "type: must be \"OffStreetParking\" or \"OnStreetParking\"");
        return false;
    }
    return dup_into(r, t, out);
}

static bool get_total(struct rd *r, const json_t *o, int *out)
{
    const json_t *v = json_object_get(o, "totalSpotNumber");
    double d = json_is_number(v) ? json_number_value(v) : NAN;
    if (!(d >= 1 && d <= LOTDEF_SPOTS_MAX && d == floor(d))) {
        report(r, "totalSpotNumber: %s an integer from 1 to %d",
               v == NULL || json_is_null(v) ? "required," : "must be", LOTDEF_SPOTS_MAX);
        return false;
    }
    *out = (int)d;
    return true;
}

static bool get_price(struct rd *r, const json_t *o, double *out)
{
    const json_t *v = json_object_get(o, "priceRatePerHour");
    *out = NAN;
    if (v == NULL || json_is_null(v))
        return true;
    double d = json_is_number(v) ? json_number_value(v) : NAN;
    if (!(d >= 0 && d <= TARIFF_RATE_MAX)) {
        report(r, "priceRatePerHour: must be a number from 0 to %g", TARIFF_RATE_MAX);
        return false;
    }
    *out = d;
    return true;
}

static bool get_currency(struct rd *r, const json_t *o, char **out)
{
    const json_t *v = json_object_get(o, "priceCurrency");
    const char *c = json_string_value(v);
    if (v == NULL || json_is_null(v))
        c = "CNY";
    if (c == NULL || strlen(c) != 3 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' ||
        c[2] < 'A' || c[2] > 'Z') {
        report(r, "priceCurrency: must be an ISO 4217 code such as CNY");
        return false;
    }
    return dup_into(r, c, out);
}

static bool get_tariff(struct rd *r, const json_t *o, struct map_tariff *t)
{
    const json_t *v = json_object_get(o, "tariff");
    char e[256];
    *t = (struct map_tariff){.unit_minutes = 60.0};     /* absent: hourly units */
    if (v == NULL || json_is_null(v))
        return true;
    if (tariff_from_json(v, "tariff", t, e, sizeof e) != 0) {
        report(r, "%s", e);
        return false;
    }
    return true;
}

size_t lotdef_parse(const char *id, const json_t *o, struct map_lot *l,
                    lotdef_report_fn *fn, void *ctx)
{
    struct rd r = {fn, ctx, 0};
    char e[256];
    memset(l, 0, sizeof *l);
    if (id == NULL)
        report(&r, "id: required");
    else if (lotdef_check_id("id", id, e, sizeof e) != 0)
        report(&r, "%s", e);
    else
        dup_into(&r, id, &l->id);
    get_name(&r, o, "name", true, &l->name);
    get_type(&r, o, &l->type);
    get_total(&r, o, &l->total);
    get_list(&r, o, "category", &l->category, &l->ncategory);
    get_list(&r, o, "levels", &l->levels, &l->nlevels);
    get_tariff(&r, o, &l->tariff);
    get_price(&r, o, &l->price_rate_per_hour);
    get_currency(&r, o, &l->currency);
    get_name(&r, o, "address", false, &l->address);
    get_name(&r, o, "name_en", false, &l->name_en);
    get_name(&r, o, "openingHours", false, &l->opening_hours);
    if (r.n > 0)
        lotdef_clear(l);
    return r.n;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void lotdef_clear(struct map_lot *l)
{
    free(l->id);
    free(l->name);
    free(l->type);
    strv_free(l->category, l->ncategory);
    strv_free(l->levels, l->nlevels);
    free(l->currency);
    free(l->address);
    free(l->name_en);
    free(l->opening_hours);
    memset(l, 0, sizeof *l);
}
