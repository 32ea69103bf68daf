/* parking.c -- lots, bays and availability state (see parking.h for the
 * rules).
 *
 * Lots live in a dict by id and in the spatial index (spindex) by
 * position; a handle table maps index handles back to lots. Every state
 * change pushes the lot's effective count and timestamp into the index in
 * O(1), so nearest queries always see the state that GET would render.
 *
 * Rendering is on the hot path of nearest / bbox replies, so the parts of
 * a lot's JSON that only change with its definition (id, type, name,
 * location, capacity, price, categories) are formatted once per PUT and
 * copied; only the availability fields are formatted per request. */
#include "parking.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dict.h"
#include "geo.h"
#include "json_out.h"
#include "plate.h"
#include "tariff.h"

#define CAT_BITS 64
#define CAT_OVERFLOW 63                /* shared by categories past the 63rd */

struct parking {
    struct parking_config cfg;
    struct dict *lots;                 /* id -> struct parking_lot * */
    struct spindex *idx;
    struct dict *cats;                 /* category -> (void *)(bit + 1) */
    int ncats;
};

static const char *const bay_status_names[] = {"unknown", "free", "occupied", "closed"};
static const char *const status_names[] = {"unknown", "open", "closed", "full", "almostFull",
                                           "spacesAvailable"};

const char *parking_bay_status_name(enum parking_bay_status s)
{
    return (unsigned)s < 4 ? bay_status_names[s] : "unknown";
}

int parking_bay_status_parse(const char *s, enum parking_bay_status *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, bay_status_names[i]) == 0) {
            *out = (enum parking_bay_status)i;
            return 0;
        }
    }
    return -1;
}

const char *parking_status_name(enum parking_status s)
{
    return (unsigned)s < sizeof status_names / sizeof *status_names ? status_names[s] : "unknown";
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* 1..PARKING_ID_MAX bytes, no control characters. */
static bool valid_id(const char *s)
{
    size_t n = 0;
    if (s == NULL)
        return false;
    for (; s[n] != '\0'; n++)
        if ((unsigned char)s[n] < 0x20 || s[n] == 0x7f)
            return false;
    return n >= 1 && n <= PARKING_ID_MAX;
}

/* ---- output buffer ---- */

void parking_buf_reserve(struct parking_buf *b, size_t n)
{
    if (b->oom || b->len + n + 1 <= b->cap)
        return;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < b->len + n + 1)
        ncap *= 2;
    char *nd = realloc(b->data, ncap);
    if (nd == NULL) {
        b->oom = true;
        return;
    }
    b->data = nd;
    b->cap = ncap;
}

void parking_buf_put(struct parking_buf *b, const void *s, size_t n)
{
    parking_buf_reserve(b, n);
    if (b->oom)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void parking_buf_puts(struct parking_buf *b, const char *s)
{
    parking_buf_put(b, s, strlen(s));
}

/* JSON string literal. Input is valid UTF-8 (it came through jansson or
 * the map loader), so only quotes, backslashes and controls need care. */
static void buf_json_str(struct parking_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const char *run = s;
    parking_buf_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        parking_buf_put(b, run, (size_t)(s - run));
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        if (c == '"' || c == '\\') {
            esc[1] = (char)c;
            parking_buf_put(b, esc, 2);
        } else {
            parking_buf_put(b, esc, 6);
        }
        run = s + 1;
    }
    parking_buf_put(b, run, (size_t)(s - run));
    parking_buf_put(b, "\"", 1);
}

/* Number writers into a caller's array: each writes at most the bytes
 * named and returns the end (no NUL). They let a render build a run of
 * fields on the stack and append it at once. */
#define NUM_MAX 32                     /* any of them fits */

/* Decimal integer, at most 20 bytes. */
static char *put_int(char *w, long long v)
{
    char tmp[24];
    char *p = tmp + sizeof tmp;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *--p = '-';
    size_t n = (size_t)(tmp + sizeof tmp - p);
    memcpy(w, p, n);
    return w + n;
}

/* units / 10^dec (dec <= 7) as a decimal without trailing zeros ("0.872",
 * "1"), at most 22 bytes. */
static char *put_fixed(char *w, long long units, int dec)
{
    char tmp[28];
    char *p = tmp + sizeof tmp;
    unsigned long long u = units < 0 ? 0ULL - (unsigned long long)units : (unsigned long long)units;
    int nd = 0;
    do {                                /* at least dec + 1 digits: "0.05" */
        *--p = (char)('0' + u % 10);
        u /= 10;
        nd++;
    } while (u != 0 || nd <= dec);
    if (units < 0)
        *w++ = '-';
    size_t ilen = (size_t)(nd - dec), flen = (size_t)dec;
    memcpy(w, p, ilen);
    w += ilen;
    while (flen > 0 && p[ilen + flen - 1] == '0')
        flen--;
    if (flen > 0) {
        *w++ = '.';
        memcpy(w, p + ilen, flen);
        w += flen;
    }
    return w;
}

/* Shortest decimal of 15 to 17 significant digits that reads back as the
 * same double, at most 24 bytes. v must be finite. */
static char *put_double(char *w, double v)
{
    char tmp[40];
    if (v == floor(v) && fabs(v) < 1e15)
        return put_int(w, (long long)v);
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    size_t n = strlen(tmp);
    memcpy(w, tmp, n);
    return w + n;
}

/* A literal into a writer's array. */
#define PUT_LIT(w, s) (memcpy((w), (s), sizeof(s) - 1), (w) + sizeof(s) - 1)

static char *put_str(char *w, const char *s)
{
    size_t n = strlen(s);
    memcpy(w, s, n);
    return w + n;
}

static void buf_int(struct parking_buf *b, long long v)
{
    char tmp[NUM_MAX];
    parking_buf_put(b, tmp, (size_t)(put_int(tmp, v) - tmp));
}

static void buf_fixed(struct parking_buf *b, long long units, int dec)
{
    char tmp[NUM_MAX];
    parking_buf_put(b, tmp, (size_t)(put_fixed(tmp, units, dec) - tmp));
}

static void buf_double(struct parking_buf *b, double v)
{
    char tmp[NUM_MAX];
    parking_buf_put(b, tmp, (size_t)(put_double(tmp, v) - tmp));
}

static void buf_point(struct parking_buf *b, struct geo_pt pt, bool gcj02)
{
    if (gcj02)
        geo_wgs84_to_gcj02(pt.lon, pt.lat, &pt.lon, &pt.lat);
    /* 7 decimals: a centimetre, more than any position here means */
    char tmp[2 * NUM_MAX + 40], *w = tmp;
    w = put_fixed(PUT_LIT(w, "{\"type\":\"Point\",\"coordinates\":["), llround(pt.lon * 1e7), 7);
    w = put_fixed(PUT_LIT(w, ","), llround(pt.lat * 1e7), 7);
    w = PUT_LIT(w, "]}");
    parking_buf_put(b, tmp, (size_t)(w - tmp));
}

/* A count, or null when unknown (< 0). */
static void buf_count(struct parking_buf *b, long long v)
{
    if (v < 0)
        parking_buf_puts(b, "null");
    else
        buf_int(b, v);
}

/* ---- registry ---- */

struct parking *parking_new(const struct parking_config *cfg)
{
    struct parking *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->cfg = *cfg;
    p->lots = dict_new();
    p->cats = dict_new();
    p->idx = spindex_new();
    if (p->lots == NULL || p->cats == NULL || p->idx == NULL) {
        parking_free(p);
        return NULL;
    }
    return p;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void lot_free(struct parking_lot *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->nbays; i++)
        free(l->bays[i].plate);
    free(l->bays);
    free(l->arena);
    free(l->id);
    free(l->name);
    free(l->type);
    free(l->currency);
    strv_free(l->category, l->ncategory);
    strv_free(l->levels, l->nlevels);
    free(l);
}

static void lot_free_v(void *v)
{
    lot_free(v);
}

void parking_free(struct parking *p)
{
    if (p == NULL)
        return;
    if (p->lots != NULL)
        dict_free(p->lots, lot_free_v);
    if (p->cats != NULL)
        dict_free(p->cats, NULL);
    spindex_free(p->idx);
    free(p);
}

size_t parking_lot_count(const struct parking *p)
{
    return dict_size(p->lots);
}

void parking_compact(struct parking *p)
{
    spindex_compact(p->idx);
}

const struct spindex *parking_index(const struct parking *p)
{
    return p->idx;
}

static char *dup_or_null(const char *s, bool *oom)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        *oom = true;
    return d;
}

static char **strv_dup(char *const *v, size_t n, bool *oom)
{
    if (n == 0)
        return NULL;
    char **d = calloc(n, sizeof *d);
    if (d == NULL) {
        *oom = true;
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        d[i] = dup_or_null(v[i], oom);
    return d;
}

static int check_def(const struct map_lot *def, char *err, size_t errlen)
{
    if (!valid_id(def->id)) {
        set_err(err, errlen, "id: must be 1..%d bytes without control characters",
                PARKING_ID_MAX);
        return -1;
    }
    if (def->type != NULL && strcmp(def->type, "OffStreetParking") != 0 &&
        strcmp(def->type, "OnStreetParking") != 0) {
        set_err(err, errlen, "type: must be \"OffStreetParking\" or \"OnStreetParking\"");
        return -1;
    }
    if (!geo_valid_lonlat(def->loc.lon, def->loc.lat)) {
        set_err(err, errlen, "location: not a valid WGS84 lon/lat");
        return -1;
    }
    if (def->total < 0) {
        set_err(err, errlen, "totalSpotNumber: must be an integer >= 0");
        return -1;
    }
    if (def->nlevels >= UINT16_MAX) {
        set_err(err, errlen, "levels: too many levels");
        return -1;
    }
    for (size_t i = 0; i < def->ncategory; i++) {
        if (def->category[i] == NULL || def->category[i][0] == '\0') {
            set_err(err, errlen, "category[%zu]: must be a non-empty string", i);
            return -1;
        }
    }
    return 0;
}

static int level_index(const struct parking_lot *l, const char *level)
{
    for (size_t i = 0; i < l->nlevels; i++)
        if (strcmp(l->levels[i], level) == 0)
            return (int)i;
    return -1;
}

static int bay_cmp(const void *a, const void *b)
{
    return strcmp(((const struct parking_bay *)a)->id, ((const struct parking_bay *)b)->id);
}

/* Copy the bays into one arena of ids plus a sorted array. */
static int lot_set_bays(struct parking_lot *l, const struct map_bay *bays, size_t n, char *err,
                        size_t errlen)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        if (!valid_id(bays[i].id)) {
            set_err(err, errlen, "bays[%zu].id: must be 1..%d bytes without control characters",
                    i, PARKING_ID_MAX);
            return -1;
        }
        bytes += strlen(bays[i].id) + 1;
    }
    if (n == 0)
        return 0;
    l->bays = calloc(n, sizeof *l->bays);
    l->arena = malloc(bytes);
    if (l->bays == NULL || l->arena == NULL) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    char *a = l->arena;
    for (size_t i = 0; i < n; i++) {
        struct parking_bay *b = &l->bays[i];
        size_t len = strlen(bays[i].id) + 1;
        memcpy(a, bays[i].id, len);
        b->id = a;
        a += len;
        b->ts = NAN;
        b->pt = bays[i].pt;
        b->level = UINT16_MAX;
        if (bays[i].level != NULL) {
            int li = level_index(l, bays[i].level);
            if (li < 0) {
                set_err(err, errlen, "bays[%zu].level: \"%s\" is not one of the lot's levels", i,
                        bays[i].level);
                return -1;
            }
            b->level = (uint16_t)li;
        }
    }
    l->nbays = n;
    qsort(l->bays, n, sizeof *l->bays, bay_cmp);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(l->bays[i - 1].id, l->bays[i].id) == 0) {
            set_err(err, errlen, "bays: duplicate bay id \"%s\"", l->bays[i].id);
            return -1;
        }
    }
    return 0;
}

/* Bit of a category, -1 when no lot ever had it. */
static int cat_lookup(const struct parking *p, const char *name)
{
    void *v = dict_get(p->cats, name);
    return v != NULL ? (int)((intptr_t)v - 1) : -1;
}

/* Bit of a category, interning it on first sight; -1 on OOM. */
static int cat_bit(struct parking *p, const char *name)
{
    int bit = cat_lookup(p, name);
    if (bit >= 0)
        return bit;
    bit = p->ncats < CAT_OVERFLOW ? p->ncats : CAT_OVERFLOW;
    int oom = 0;
    dict_put(p->cats, name, (void *)(intptr_t)(bit + 1), &oom);
    if (oom)
        return -1;
    if (p->ncats < CAT_OVERFLOW)
        p->ncats++;
    return bit;
}

/* The definition-only parts of the lot's JSON, in api.md's field order:
 * [0] {"id","type","name",  [1] "location",  [2] "totalSpotNumber",
 * [3] "priceRatePerHour","priceCurrency","category". They are stored right
 * after the struct (one allocation, read together): returns l grown to
 * hold them (the old pointer is then invalid), or NULL on OOM with l
 * untouched. */
static int buf_sink(void *ctx, const char *s, size_t n)
{
    parking_buf_put(ctx, s, n);
    return 0;
}

/* What the map or PUT gives a driver besides the FIWARE fields: address,
 * name_en, openingHours, tariff (api.md §2), each only when known. */
static void buf_driver_fields(struct parking_buf *b, const struct map_lot *def)
{
    const char *keys[3] = {"address", "name_en", "openingHours"};
    const char *vals[3] = {def->address, def->name_en, def->opening_hours};
    for (int i = 0; i < 3; i++) {
        if (vals[i] == NULL)
            continue;
        parking_buf_puts(b, "\"");
        parking_buf_puts(b, keys[i]);
        parking_buf_puts(b, "\":");
        buf_json_str(b, vals[i]);
        parking_buf_put(b, ",", 1);
    }
    json_t *t = def->tariff.present ? tariff_to_json(&def->tariff) : NULL;
    if (t != NULL) {
        parking_buf_puts(b, "\"tariff\":");
        b->oom |= json_out_write(t, buf_sink, b) != 0;
        parking_buf_put(b, ",", 1);
    }
    json_decref(t);
}

static struct parking_lot *lot_cache_json(struct parking_lot *l, const struct map_lot *def)
{
    struct parking_buf b = {0};
    parking_buf_puts(&b, "{\"id\":");
    buf_json_str(&b, l->id);
    parking_buf_puts(&b, ",\"type\":");
    buf_json_str(&b, l->type);
    if (l->name != NULL) {
        parking_buf_puts(&b, ",\"name\":");
        buf_json_str(&b, l->name);
    }
    parking_buf_put(&b, ",", 1);
    l->json_off[0] = b.len;
    parking_buf_puts(&b, "\"location\":");
    buf_point(&b, l->loc, false);
    parking_buf_put(&b, ",", 1);
    l->json_off[1] = b.len;
    parking_buf_puts(&b, "\"totalSpotNumber\":");
    buf_int(&b, l->total);
    parking_buf_put(&b, ",", 1);
    l->json_off[2] = b.len;
    if (!isnan(l->price)) {
        char tmp[NUM_MAX];              /* money to the cent */
        parking_buf_puts(&b, "\"priceRatePerHour\":");
        parking_buf_put(&b, tmp, (size_t)(put_fixed(tmp, llround(l->price * 100), 2) - tmp));
        parking_buf_put(&b, ",", 1);
    }
    parking_buf_puts(&b, "\"priceCurrency\":");
    buf_json_str(&b, l->currency);
    parking_buf_puts(&b, ",\"category\":[");
    for (size_t i = 0; i < l->ncategory; i++) {
        if (i > 0)
            parking_buf_put(&b, ",", 1);
        buf_json_str(&b, l->category[i]);
    }
    parking_buf_puts(&b, "],");
    buf_driver_fields(&b, def);
    l->json_off[3] = b.len;
    struct parking_lot *nl = b.oom ? NULL : realloc(l, sizeof *l + b.len + 1);
    if (nl != NULL) {
        memcpy(nl + 1, b.data, b.len + 1);
        nl->json = (const char *)(nl + 1);
    }
    free(b.data);
    return nl;
}

static struct parking_lot *lot_build(struct parking *p, const struct map_lot *def,
                                     const struct map_bay *bays, size_t nbays, bool closed,
                                     char *err, size_t errlen)
{
    bool oom = false;
    struct parking_lot *l = calloc(1, sizeof *l);
    if (l == NULL)
        goto oom;
    l->id = dup_or_null(def->id, &oom);
    l->name = dup_or_null(def->name, &oom);
    l->type = dup_or_null(def->type != NULL ? def->type : "OffStreetParking", &oom);
    l->currency = dup_or_null(def->currency != NULL ? def->currency : "CNY", &oom);
    l->category = strv_dup(def->category, def->ncategory, &oom);
    l->ncategory = l->category != NULL ? def->ncategory : 0;
    l->levels = strv_dup(def->levels, def->nlevels, &oom);
    l->nlevels = l->levels != NULL ? def->nlevels : 0;
    if (oom)
        goto oom;
    l->loc = def->loc;
    l->total = def->total;
    l->tariff = def->tariff;
    l->price_rate_per_hour = def->price_rate_per_hour;
    l->price = !isnan(def->price_rate_per_hour) ? def->price_rate_per_hour
               : def->tariff.present          ? def->tariff.rate_per_hour
                                              : NAN;
    l->closed = closed;
    l->available = -1;
    l->count_ts = l->obs_ts = NAN;
    l->handle = SPINDEX_NONE;
    for (size_t i = 0; i < l->ncategory; i++) {
        int bit = cat_bit(p, l->category[i]);
        if (bit < 0)
            goto oom;
        l->catmask |= 1ULL << bit;
    }
    if (lot_set_bays(l, bays, nbays, err, errlen) != 0)
        goto fail;
    struct parking_lot *nl = lot_cache_json(l, def);
    if (nl == NULL)
        goto oom;
    return nl;
oom:
    set_err(err, errlen, "out of memory");
fail:
    lot_free(l);
    return NULL;
}

const struct parking_bay *parking_bay_get(const struct parking_lot *l, const char *bay)
{
    struct parking_bay key = {.id = bay};
    if (l->nbays == 0)
        return NULL;                    /* bsearch wants a non-NULL base */
    return bsearch(&key, l->bays, l->nbays, sizeof *l->bays, bay_cmp);
}

/* The count a lot shows, from its own count or from its bays. */
static void lot_recount(struct parking_lot *l)
{
    if (l->bays_observed == 0)
        return;
    l->flags &= ~PARKING_FLAG_CLAMPED;
    l->available = l->bays_free;
    if (l->available > l->total) {
        l->available = l->total;
        l->flags |= PARKING_FLAG_CLAMPED;
    }
}

/* Push the lot's filterable state into the spatial index. */
static void lot_index(struct parking *p, const struct parking_lot *l)
{
    spindex_set_available(p->idx, l->handle, l->closed ? 0 : l->available);
    spindex_set_ts(p->idx, l->handle, l->obs_ts);
    spindex_set_price(p->idx, l->handle, l->price);
    spindex_set_cats(p->idx, l->handle, l->catmask);
}

/* Carry the availability of the lot being replaced into its successor. */
static void lot_carry_over(struct parking_lot *nl, struct parking_lot *old)
{
    nl->available = old->available;
    nl->count_ts = old->count_ts;
    nl->obs_ts = old->obs_ts;
    nl->flags = old->flags;
    if (nl->available > nl->total) {
        nl->available = nl->total;
        nl->flags |= PARKING_FLAG_CLAMPED;
    }
    for (size_t i = 0; i < nl->nbays; i++) {
        struct parking_bay *b = &nl->bays[i];
        struct parking_bay *ob = (struct parking_bay *)parking_bay_get(old, b->id);
        if (ob == NULL || isnan(ob->ts))
            continue;
        b->ts = ob->ts;
        b->status = ob->status;
        b->plate = ob->plate;
        ob->plate = NULL;
        nl->bays_observed++;
        if (b->status == PARKING_BAY_FREE)
            nl->bays_free++;
    }
    lot_recount(nl);
    /* the index keeps borrowing this very string */
    free(nl->id);
    nl->id = old->id;
    old->id = NULL;
    nl->handle = old->handle;
}

int parking_lot_put(struct parking *p, const struct map_lot *def, const struct map_bay *bays,
                    size_t nbays, bool closed, char *err, size_t errlen)
{
    if (check_def(def, err, errlen) != 0)
        return -1;
    struct parking_lot *nl = lot_build(p, def, bays, nbays, closed, err, errlen);
    if (nl == NULL)
        return -1;
    struct parking_lot *old = dict_get(p->lots, def->id);
    if (old == NULL) {
        int oom = 0;
        nl->handle = spindex_insert(p->idx, nl->id, nl->loc.lon, nl->loc.lat);
        if (nl->handle != SPINDEX_NONE)
            dict_put(p->lots, nl->id, nl, &oom);
        else
            oom = -1;
        if (oom) {
            spindex_remove(p->idx, nl->handle);
            lot_free(nl);
            set_err(err, errlen, "out of memory");
            return -1;
        }
    } else {
        if (spindex_move(p->idx, old->handle, nl->loc.lon, nl->loc.lat) != 0) {
            lot_free(nl);
            set_err(err, errlen, "out of memory");
            return -1;
        }
        lot_carry_over(nl, old);
        dict_put(p->lots, nl->id, nl, NULL);     /* replaces: no allocation */
        lot_free(old);
    }
    spindex_set_user(p->idx, nl->handle, nl);
    lot_index(p, nl);
    return 0;
}

int parking_lot_check(struct parking *p, const struct map_lot *def, const struct map_bay *bays,
                      size_t nbays, char *err, size_t errlen)
{
    if (check_def(def, err, errlen) != 0)
        return -1;
    struct parking_lot *l = lot_build(p, def, bays, nbays, false, err, errlen);
    lot_free(l);
    return l != NULL ? 0 : -1;
}

static int bay_lot_cmp(const void *a, const void *b)
{
    return strcmp(((const struct map_bay *)a)->lot, ((const struct map_bay *)b)->lot);
}

/* First bay of `lot` in bays sorted by lot, or n. */
static size_t bays_lower_bound(const struct map_bay *bays, size_t n, const char *lot)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(bays[mid].lot, lot) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int parking_load_map(struct parking *p, const struct map *m, char *err, size_t errlen)
{
    int rc = -1;
    struct map_bay *sorted = NULL;
    if (m->nbays > 0) {
        sorted = malloc(m->nbays * sizeof *sorted);
        if (sorted == NULL) {
            set_err(err, errlen, "out of memory");
            goto out;
        }
        memcpy(sorted, m->bays, m->nbays * sizeof *sorted);
        qsort(sorted, m->nbays, sizeof *sorted, bay_lot_cmp);
    }
    for (size_t i = 0; i < m->nlots; i++) {
        const struct map_lot *def = &m->lots[i];
        size_t first = bays_lower_bound(sorted, m->nbays, def->id), end = first;
        while (end < m->nbays && strcmp(sorted[end].lot, def->id) == 0)
            end++;
        char e[256];
        /* sorted is NULL when the map has no bays (NULL + 0 is undefined). */
        const struct map_bay *bays = sorted != NULL ? sorted + first : NULL;
        if (parking_lot_put(p, def, bays, end - first, false, e, sizeof e) != 0) {
            set_err(err, errlen, "lot %s: %s", def->id, e);
            goto out;
        }
    }
    rc = 0;
out:
    free(sorted);
    return rc;
}

void parking_each(const struct parking *p, parking_visit_fn *fn, void *ctx)
{
    size_t pos = 0;
    void *v;
    while (dict_next(p->lots, &pos, NULL, &v))
        fn(ctx, v);
}

const struct parking_lot *parking_lot_get(const struct parking *p, const char *id)
{
    return dict_get(p->lots, id);
}

const struct parking_lot *parking_lot_at(const struct parking *p, uint32_t handle)
{
    return spindex_user(p->idx, handle);
}

const char *parking_bay_level(const struct parking_lot *l, const struct parking_bay *b)
{
    return b->level < l->nlevels ? l->levels[b->level] : NULL;
}

const struct parking_bay *parking_find_plate(const struct parking_lot *l, const char *plate)
{
    for (size_t i = 0; i < l->nbays; i++) {
        const struct parking_bay *b = &l->bays[i];
        if (b->status == PARKING_BAY_OCCUPIED && b->plate != NULL && strcmp(b->plate, plate) == 0)
            return b;
    }
    return NULL;
}

/* ---- observations ---- */

static int obs_string(const json_t *item, const char *key, bool required, const char **out,
                      char *err, size_t errlen)
{
    const json_t *v = json_object_get(item, key);
    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        if (!required)
            return 0;
        set_err(err, errlen, "%s: required", key);
        return -1;
    }
    if (!json_is_string(v) || !valid_id(json_string_value(v))) {
        set_err(err, errlen, "%s: must be a string of 1..%d bytes without control characters",
                key, PARKING_ID_MAX);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

static int obs_count(const json_t *v, long long *out, char *err, size_t errlen)
{
    double d = json_is_real(v) ? json_real_value(v) : NAN;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
    } else if (d == floor(d) && fabs(d) < 1e15) {      /* 40.0 is 40 */
        *out = (long long)d;
    } else {
        set_err(err, errlen, "availableSpotNumber: must be an integer >= 0");
        return -1;
    }
    if (*out < 0 || *out > INT_MAX) {
        set_err(err, errlen, "availableSpotNumber: must be an integer >= 0 (got %lld)", *out);
        return -1;
    }
    return 0;
}

static int obs_bay_state(const json_t *item, struct parking_obs *o, char *err, size_t errlen)
{
    const json_t *st = json_object_get(item, "status");
    if (json_object_get(item, "availableSpotNumber") != NULL) {
        set_err(err, errlen, "availableSpotNumber: not allowed in a bay state "
                             "(an observation is a lot count or a bay state)");
        return -1;
    }
    if (!json_is_string(st) || parking_bay_status_parse(json_string_value(st), &o->status) != 0) {
        set_err(err, errlen, "status: required, one of free, occupied, closed, unknown");
        return -1;
    }
    const json_t *pl = json_object_get(item, "plate");
    if (pl == NULL || json_is_null(pl))
        return 0;
    if (!json_is_string(pl)) {
        set_err(err, errlen, "plate: must be a string");
        return -1;
    }
    if (o->status != PARKING_BAY_OCCUPIED) {
        set_err(err, errlen, "plate: only allowed with status \"occupied\"");
        return -1;
    }
    if (plate_normalize(json_string_value(pl), o->plate_buf, sizeof o->plate_buf, NULL, err,
                        errlen) != 0)
        return -1;
    o->plate = o->plate_buf;
    return 0;
}

int parking_obs_parse(const json_t *item, struct parking_obs *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    if (!json_is_object(item)) {
        set_err(err, errlen, "observation: must be an object");
        return -1;
    }
    if (obs_string(item, "id", true, &o->id, err, errlen) != 0 ||
        obs_string(item, "lot", true, &o->lot, err, errlen) != 0 ||
        obs_string(item, "bay", false, &o->bay, err, errlen) != 0)
        return -1;
    const json_t *ts = json_object_get(item, "ts");
    if (!json_is_number(ts) || !isfinite(json_number_value(ts)) || json_number_value(ts) < 0) {
        set_err(err, errlen, "ts: required, epoch seconds (a number >= 0)");
        return -1;
    }
    o->ts = json_number_value(ts);
    if (o->bay != NULL)
        return obs_bay_state(item, o, err, errlen);
    const json_t *av = json_object_get(item, "availableSpotNumber");
    if (av == NULL) {
        set_err(err, errlen, "availableSpotNumber: required (or bay and status for a bay state)");
        return -1;
    }
    return obs_count(av, &o->available, err, errlen);
}

enum parking_verdict parking_obs_check(const struct parking *p, const struct parking_obs *o,
                                       double ts_max, char *err, size_t errlen)
{
    const struct parking_lot *l = dict_get(p->lots, o->lot);
    if (l == NULL) {
        set_err(err, errlen, "lot: unknown lot \"%s\"", o->lot);
        return PARKING_OBS_REJECTED;
    }
    if (!(o->ts <= ts_max)) {
        set_err(err, errlen, "ts: %.0f is more than the allowed skew ahead of the clock", o->ts);
        return PARKING_OBS_REJECTED;
    }
    if (o->bay != NULL && parking_bay_get(l, o->bay) == NULL) {
        set_err(err, errlen, "bay: lot \"%s\" has no bay \"%s\"", o->lot, o->bay);
        return PARKING_OBS_REJECTED;
    }
    if (o->bay == NULL && l->bays_observed > 0) {
        set_err(err, errlen, PARKING_ERR_BAY_COUNTED, o->lot);
        return PARKING_OBS_REJECTED;
    }
    return PARKING_OBS_APPLIED;
}

int parking_count_clamp(const struct parking_lot *l, long long n, unsigned *flags)
{
    *flags = n > l->total ? PARKING_FLAG_CLAMPED : 0;
    return n > l->total ? l->total : (int)n;
}

static void lot_set_count(struct parking_lot *l, long long n, double ts, unsigned flags,
                          struct parking_change *chg)
{
    unsigned clamp;
    l->available = parking_count_clamp(l, n, &clamp);
    chg->clamped = clamp != 0;
    l->flags = (flags & ~PARKING_FLAG_CLAMPED) | clamp;
    l->count_ts = ts;
    if (isnan(l->obs_ts) || ts > l->obs_ts)
        l->obs_ts = ts;
}

static void bay_set(struct parking_lot *l, struct parking_bay *b, const struct parking_obs *o,
                    char *plate)
{
    if (isnan(b->ts))
        l->bays_observed++;
    l->bays_free += (o->status == PARKING_BAY_FREE) - (b->status == PARKING_BAY_FREE);
    b->status = (uint8_t)o->status;
    b->ts = o->ts;
    free(b->plate);
    b->plate = plate;
    if (isnan(l->obs_ts) || o->ts > l->obs_ts)
        l->obs_ts = o->ts;
    lot_recount(l);
}

enum parking_verdict parking_obs_apply(struct parking *p, const struct parking_obs *o,
                                       double ts_max, struct parking_change *chg,
                                       char *err, size_t errlen)
{
    enum parking_verdict v = parking_obs_check(p, o, ts_max, err, errlen);
    if (v != PARKING_OBS_APPLIED)
        return v;
    struct parking_lot *l = dict_get(p->lots, o->lot);
    memset(chg, 0, sizeof *chg);
    chg->lot = l;
    chg->old_available = l->closed ? 0 : l->available;
    if (o->bay == NULL) {
        if (o->ts < l->count_ts)               /* false while count_ts is NAN */
            return PARKING_OBS_OUTDATED;
        lot_set_count(l, o->available, o->ts, l->flags, chg);
    } else {
        struct parking_bay *b = (struct parking_bay *)parking_bay_get(l, o->bay);
        if (o->ts < b->ts)
            return PARKING_OBS_OUTDATED;
        char *plate = NULL;
        if (o->plate != NULL && (plate = strdup(o->plate)) == NULL) {
            set_err(err, errlen, "out of memory");
            return PARKING_OBS_REJECTED;
        }
        chg->bay_arrival = o->status == PARKING_BAY_OCCUPIED &&
                           (b->status != PARKING_BAY_OCCUPIED ||
                            (plate != NULL && (b->plate == NULL || strcmp(b->plate, plate) != 0)));
        bay_set(l, b, o, plate);
        chg->clamped = (l->flags & PARKING_FLAG_CLAMPED) != 0;
    }
    chg->new_available = l->closed ? 0 : l->available;
    chg->available_changed = chg->new_available != chg->old_available;
    lot_index(p, l);
    return PARKING_OBS_APPLIED;
}

int parking_lot_restore(struct parking *p, const char *lot, int available, double count_ts,
                        unsigned flags)
{
    struct parking_lot *l = dict_get(p->lots, lot);
    if (l == NULL || available < 0 || !isfinite(count_ts) ||
        (!isnan(l->count_ts) && count_ts < l->count_ts))
        return -1;
    struct parking_change chg;
    lot_set_count(l, available, count_ts, flags, &chg);
    l->flags |= flags & PARKING_FLAG_CLAMPED;   /* clamped when it was stored */
    lot_recount(l);
    lot_index(p, l);
    return 0;
}

/* ---- views ---- */

static const char *detection_type(const struct parking_lot *l)
{
    if (l->bays_observed > 0)
        return "singleSpaceDetection";
    return isnan(l->count_ts) ? "none" : "balancing";
}

void parking_lot_view(const struct parking *p, const struct parking_lot *l, double now,
                      struct parking_view *v)
{
    v->available = l->closed ? 0 : l->available;
    v->stale = spindex_is_stale(l->obs_ts, now, p->cfg.stale_after_s);
    v->age_s = isnan(l->obs_ts) ? NAN : fmax(0.0, floor(now - l->obs_ts));
    v->occupancy = v->available < 0 || l->total == 0
                       ? NAN
                       : (double)(l->total - v->available) / l->total;
    v->detection = detection_type(l);
    if (l->closed || l->total == 0)
        v->status = PARKING_ST_CLOSED;
    else if (v->available < 0 || v->stale)
        v->status = PARKING_ST_UNKNOWN;
    else if (v->available == 0)
        v->status = PARKING_ST_FULL;
    else if ((long long)v->available * 100 < (long long)l->total * PARKING_ALMOST_FULL_PCT)
        v->status = PARKING_ST_ALMOST_FULL;
    else
        v->status = PARKING_ST_SPACES_AVAILABLE;
}

/* Occupancy in thousandths, rounded half up, from integers. */
static long long occupancy_milli(int total, int available)
{
    long long used = (long long)total - available;
    return (2 * used * 1000 + total) / (2LL * total);
}

/* The per-request part of a lot between "totalSpotNumber" and
 * "priceRatePerHour": availableSpotNumber .. occupancyDetectionType. */
static char *put_lot_state(char *w, const struct parking_lot *l, const struct parking_view *v)
{
    w = PUT_LIT(w, "\"availableSpotNumber\":");
    w = v->available < 0 ? PUT_LIT(w, "null") : put_int(w, v->available);
    w = PUT_LIT(w, ",\"occupancy\":");
    if (isnan(v->occupancy))
        w = PUT_LIT(w, "null");
    else
        w = put_fixed(w, occupancy_milli(l->total, v->available), 3);
    w = PUT_LIT(w, ",\"status\":\"");
    w = put_str(w, parking_status_name(v->status));
    w = PUT_LIT(w, "\",\"occupancyDetectionType\":\"");
    w = put_str(w, v->detection);
    return PUT_LIT(w, "\",");
}

/* The per-request tail of a lot, after "category": observationDateTime
 * to the closing brace. */
static char *put_lot_tail(char *w, const struct parking_lot *l, const struct parking_view *v,
                          double distance_m)
{
    w = PUT_LIT(w, "\"observationDateTime\":");
    if (isnan(l->obs_ts)) {
        w = PUT_LIT(w, "null,\"dataAgeSeconds\":null");
    } else {
        w = put_double(w, l->obs_ts);
        w = PUT_LIT(w, ",\"dataAgeSeconds\":");
        w = put_int(w, (long long)v->age_s);
    }
    if (v->stale)
        w = PUT_LIT(w, ",\"stale\":true,\"flags\":[");
    else
        w = PUT_LIT(w, ",\"stale\":false,\"flags\":[");
    if (l->flags & PARKING_FLAG_CLAMPED)
        w = PUT_LIT(w, "\"availableSpotNumberClamped\"");
    *w++ = ']';
    if (!isnan(distance_m)) {
        w = PUT_LIT(w, ",\"distance_m\":");
        w = put_fixed(w, llround(distance_m * 100.0), 2);
    }
    *w++ = '}';
    return w;
}

/* The definition parts come pre-rendered from the lot (lot_cache_json);
 * the state parts are built on the stack, so a lot is five appends. The
 * arrays hold the longest output: literals, three numbers, the longest
 * status and detection names (well under 32 bytes each). */
void parking_lot_render(const struct parking *p, const struct parking_lot *l, double now,
                        bool gcj02, double distance_m, struct parking_buf *b)
{
    struct parking_view v;
    char state[128 + 2 * NUM_MAX + 64], tail[160 + 3 * NUM_MAX];
    parking_lot_view(p, l, now, &v);
    parking_buf_reserve(b, l->json_off[3] + sizeof state + sizeof tail);
    if (gcj02) {
        parking_buf_put(b, l->json, l->json_off[0]);
        parking_buf_puts(b, "\"location\":");
        buf_point(b, l->loc, true);
        parking_buf_put(b, ",", 1);
        parking_buf_put(b, l->json + l->json_off[1], l->json_off[2] - l->json_off[1]);
    } else {
        parking_buf_put(b, l->json, l->json_off[2]);
    }
    parking_buf_put(b, state, (size_t)(put_lot_state(state, l, &v) - state));
    parking_buf_put(b, l->json + l->json_off[2], l->json_off[3] - l->json_off[2]);
    parking_buf_put(b, tail, (size_t)(put_lot_tail(tail, l, &v, distance_m) - tail));
}

void parking_bays_render(const struct parking_lot *l, const char *level, bool gcj02,
                         struct parking_buf *b)
{
    bool first = true;
    parking_buf_puts(b, "{\"lot\":");
    buf_json_str(b, l->id);
    parking_buf_puts(b, ",\"bays\":[");
    for (size_t i = 0; i < l->nbays; i++) {
        const struct parking_bay *bay = &l->bays[i];
        const char *lv = parking_bay_level(l, bay);
        if (level != NULL && (lv == NULL || strcmp(lv, level) != 0))
            continue;
        parking_buf_puts(b, first ? "{\"id\":" : ",{\"id\":");
        first = false;
        buf_json_str(b, bay->id);
        parking_buf_puts(b, ",\"type\":\"ParkingSpot\"");
        if (lv != NULL) {
            parking_buf_puts(b, ",\"level\":");
            buf_json_str(b, lv);
        }
        parking_buf_puts(b, ",\"status\":\"");
        parking_buf_puts(b, parking_bay_status_name(bay->status));
        parking_buf_puts(b, "\",\"observationDateTime\":");
        if (isnan(bay->ts))
            parking_buf_puts(b, "null");
        else
            buf_double(b, bay->ts);
        if (!isnan(bay->pt.lon)) {
            parking_buf_puts(b, ",\"location\":");
            buf_point(b, bay->pt, gcj02);
        }
        parking_buf_put(b, "}", 1);
    }
    parking_buf_puts(b, "]}");
}

static void screen_lot(const struct parking *p, const struct map_screen *s, const char *id,
                       double now, struct parking_buf *b)
{
    static const char *const compass[] = {"N", "NE", "E", "SE", "S", "SW", "W", "NW"};
    static const char *const arrows[] = {"\u2191", "\u2197", "\u2192", "\u2198",
                                         "\u2193", "\u2199", "\u2190", "\u2196"};
    const struct parking_lot *l = parking_lot_get(p, id);
    parking_buf_puts(b, "{\"id\":");
    buf_json_str(b, id);
    if (l == NULL) {
        parking_buf_puts(b, ",\"availableSpotNumber\":null,\"status\":\"unknown\","
                            "\"stale\":true}");
        return;
    }
    struct parking_view v;
    parking_lot_view(p, l, now, &v);
    if (l->name != NULL) {
        parking_buf_puts(b, ",\"name\":");
        buf_json_str(b, l->name);
    }
    parking_buf_puts(b, ",\"availableSpotNumber\":");
    buf_count(b, v.available);
    parking_buf_puts(b, ",\"status\":\"");
    parking_buf_puts(b, parking_status_name(v.status));
    parking_buf_puts(b, v.stale ? "\",\"stale\":true" : "\",\"stale\":false");
    double d = geo_distance_m(s->pt.lon, s->pt.lat, l->loc.lon, l->loc.lat);
    double brg = geo_bearing_deg(s->pt.lon, s->pt.lat, l->loc.lon, l->loc.lat);
    int sector = (int)floor(brg / 45.0 + 0.5) % 8;
    parking_buf_puts(b, ",\"distance_m\":");
    buf_fixed(b, llround(d * 10.0), 1);
    parking_buf_puts(b, ",\"bearing_deg\":");
    buf_fixed(b, llround(brg * 10.0), 1);
    parking_buf_puts(b, ",\"direction\":\"");
    parking_buf_puts(b, compass[sector]);
    parking_buf_puts(b, "\",\"arrow\":\"");
    parking_buf_puts(b, arrows[sector]);
    parking_buf_puts(b, "\"}");
}

void parking_screen_render(const struct parking *p, const struct map_screen *s, double now,
                           bool gcj02, struct parking_buf *b)
{
    parking_buf_puts(b, "{\"id\":");
    buf_json_str(b, s->id);
    if (s->name != NULL) {
        parking_buf_puts(b, ",\"name\":");
        buf_json_str(b, s->name);
    }
    parking_buf_puts(b, ",\"location\":");
    buf_point(b, s->pt, gcj02);
    parking_buf_puts(b, ",\"lots\":[");
    for (size_t i = 0; i < s->nlots; i++) {
        if (i > 0)
            parking_buf_put(b, ",", 1);
        screen_lot(p, s, s->lots[i], now, b);
    }
    parking_buf_puts(b, "]}");
}

/* ---- queries ---- */

struct cat_filter {
    const struct parking *p;
    const struct parking_query *q;
    size_t cats;                        /* categories to test by name (overflow) */
};

static bool lot_has_cat(const struct parking_lot *l, const char *c)
{
    for (size_t i = 0; i < l->ncategory; i++)
        if (strcmp(l->category[i], c) == 0)
            return true;
    return false;
}

/* For categories that share the overflow bit: compare the strings. */
static bool cat_accept(void *ctx, uint32_t h)
{
    const struct cat_filter *f = ctx;
    const struct parking_lot *l = parking_lot_at(f->p, h);
    for (size_t i = 0; i < f->cats && i < f->q->ncategory; i++)
        if (!lot_has_cat(l, f->q->category[i]))
            return false;
    return f->q->accept == NULL || f->q->accept(f->q->accept_ctx, l);
}

static void prefetch_bytes(const void *start, size_t n)
{
    uintptr_t a = (uintptr_t)start & ~(uintptr_t)63, end = (uintptr_t)start + n;
    for (; a < end; a += 64)
        __builtin_prefetch((const void *)a);
}

size_t parking_nearest(const struct parking *p, const struct parking_query *q,
                       struct spindex_hit *out)
{
    struct spindex_query sq = {
        .lon = q->lon, .lat = q->lat, .radius_m = q->radius_m, .limit = q->limit,
        .min_available = q->min_available, .max_price = q->max_price,
        .include_stale = q->include_stale, .now = q->now,
        .stale_after = p->cfg.stale_after_s,
    };
    struct cat_filter cf = {p, q, 0};
    for (size_t i = 0; i < q->ncategory; i++) {
        int bit = cat_lookup(p, q->category[i]);
        if (bit < 0)
            return 0;                   /* no lot has ever had it */
        sq.cats |= 1ULL << bit;
        if (bit == CAT_OVERFLOW)
            cf.cats = q->ncategory;
    }
    if (cf.cats > 0 || q->accept != NULL) {
        sq.accept = cat_accept;
        sq.accept_ctx = &cf;
    }
    size_t n = spindex_nearest(p->idx, &sq, out);
    /* The caller renders these next: fetch the lines it reads -- the
     * state at the end of each lot and its cached JSON right after it,
     * one run of memory -- for all of them at once rather than miss by
     * miss. The JSON's length is in the state, so the first JSON_GUESS
     * bytes go in the same round and only a longer rest waits for it. */
    enum { STATE = offsetof(struct parking_lot, available), JSON_GUESS = 256 };
    for (size_t i = 0; i < n; i++) {
        const char *l = out[i].user;
        prefetch_bytes(l + STATE, sizeof(struct parking_lot) - STATE + JSON_GUESS);
    }
    for (size_t i = 0; i < n; i++) {
        const struct parking_lot *l = out[i].user;
        if (l->json_off[3] > JSON_GUESS)
            prefetch_bytes(l->json + JSON_GUESS, l->json_off[3] - JSON_GUESS);
    }
    return n;
}

struct bbox_ctx {
    const struct parking *p;
    parking_visit_fn *fn;
    void *ctx;
};

static void bbox_visit(void *ctx, uint32_t h)
{
    struct bbox_ctx *c = ctx;
    c->fn(c->ctx, parking_lot_at(c->p, h));
}

size_t parking_bbox(const struct parking *p, double minlon, double minlat, double maxlon,
                    double maxlat, parking_visit_fn *fn, void *ctx)
{
    struct bbox_ctx c = {p, fn, ctx};
    return spindex_bbox(p->idx, minlon, minlat, maxlon, maxlat, bbox_visit, &c);
}
