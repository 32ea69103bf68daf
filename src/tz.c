/* tz.c -- TZif (RFC 8536) reader and civil-calendar math (see tz.h).
 *
 * Only what offset lookups need is kept: transition instants, the UTC
 * offset after each, the offset before the first, and the POSIX TZ rule
 * from the footer for instants past the table (slim tzdata files stop
 * their tables early and rely on it). */
#include "tz.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TZIF_MAX_BYTES (1 << 20)

struct rule_date {
    char kind;                  /* 'M' (month.week.day), 'J' (Julian 1..365), 'N' (0..365) */
    int m, w, d;                /* 'M': month, week 1..5 (5 = last), weekday; else d = n */
    int32_t time;               /* seconds after local midnight */
};

struct tz_rule {
    bool present;
    bool has_dst;
    int32_t std_off, dst_off;   /* seconds east of UTC */
    struct rule_date start, end;
};

struct tz {
    char name[64];
    size_t n;
    int64_t *trans;             /* n transition instants, ascending */
    int32_t *off;               /* offset in force from trans[i] */
    int32_t off_before;         /* offset before trans[0] (or always, n = 0) */
    struct tz_rule rule;
};

/* ---- civil calendar (days since 1970-01-01, proleptic Gregorian) ---- */

int64_t tz_days_from_civil(int y, int mon, int d)
{
    /* Normalise the month so out-of-range input rolls over years. */
    int64_t yy = y + (mon - 1) / 12;
    int mm = (mon - 1) % 12;
    if (mm < 0) {
        mm += 12;
        yy--;
    }
    mm += 1;
    /* Shift the year to start in March so that Feb 29 is the last day. */
    yy -= mm <= 2;
    int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    int64_t yoe = yy - era * 400;
    int64_t doy = (153 * (mm + (mm > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void tz_civil_from_days(int64_t days, int *y, int *mon, int *d)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int dd = (int)(doy - (153 * mp + 2) / 5 + 1);
    int mm = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (mm <= 2));
    *mon = mm;
    *d = dd;
}

int tz_weekday(int64_t days)
{
    /* 1970-01-01 was a Thursday (4). */
    int64_t w = (days + 4) % 7;
    return (int)(w < 0 ? w + 7 : w);
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
    static const int md[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : md[m - 1];
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* ---- POSIX TZ rule (the TZif footer) ---- */

static const char *parse_name(const char *s)
{
    if (*s == '<') {
        const char *e = strchr(s, '>');
        return e ? e + 1 : NULL;
    }
    const char *b = s;
    while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z'))
        s++;
    return s - b >= 3 ? s : NULL;
}

/* [+-]hh[:mm[:ss]] -> seconds; NULL on syntax error. */
static const char *parse_hms(const char *s, int32_t *out)
{
    int sign = 1;
    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    int32_t v[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        if (*s < '0' || *s > '9')
            return i == 0 ? NULL : s;
        int32_t x = 0;
        while (*s >= '0' && *s <= '9')
            x = x * 10 + (*s++ - '0');
        v[i] = x;
        if (i < 2 && *s != ':')
            break;
        if (i < 2)
            s++;
    }
    *out = sign * (v[0] * 3600 + v[1] * 60 + v[2]);
    return s;
}

static const char *parse_rule_date(const char *s, struct rule_date *rd)
{
    rd->time = 7200;
    if (*s == 'M') {
        rd->kind = 'M';
        if (sscanf(s, "M%d.%d.%d", &rd->m, &rd->w, &rd->d) != 3 || rd->m < 1 ||
            rd->m > 12 || rd->w < 1 || rd->w > 5 || rd->d < 0 || rd->d > 6)
            return NULL;
        s++;
        for (int dots = 0; (*s >= '0' && *s <= '9') || (*s == '.' && dots < 2); s++)
            dots += *s == '.';
    } else {
        rd->kind = 'N';
        if (*s == 'J') {
            rd->kind = 'J';
            s++;
        }
        if (*s < '0' || *s > '9')
            return NULL;
        rd->d = 0;
        while (*s >= '0' && *s <= '9')
            rd->d = rd->d * 10 + (*s++ - '0');
    }
    if (*s == '/') {
        s = parse_hms(s + 1, &rd->time);
        if (s == NULL)
            return NULL;
    }
    return s;
}

static int parse_posix(const char *s, struct tz_rule *r)
{
    int32_t off;
    memset(r, 0, sizeof *r);
    if ((s = parse_name(s)) == NULL || (s = parse_hms(s, &off)) == NULL)
        return -1;
    r->std_off = -off;                    /* POSIX counts west as positive */
    r->present = true;
    if (*s == '\0')
        return 0;
    if ((s = parse_name(s)) == NULL)
        return -1;
    r->has_dst = true;
    r->dst_off = r->std_off + 3600;
    if (*s != ',' && *s != '\0') {
        if ((s = parse_hms(s, &off)) == NULL)
            return -1;
        r->dst_off = -off;
    }
    if (*s != ',')
        return -1;                        /* no rule: unsupported legacy form */
    if ((s = parse_rule_date(s + 1, &r->start)) == NULL || *s != ',')
        return -1;
    if ((s = parse_rule_date(s + 1, &r->end)) == NULL || *s != '\0')
        return -1;
    return 0;
}

/* Local date (days since epoch) a rule date falls on in year y. */
static int64_t rule_day(const struct rule_date *rd, int y)
{
    int64_t jan1 = tz_days_from_civil(y, 1, 1);
    if (rd->kind == 'J')
        return jan1 + rd->d - 1 + (is_leap(y) && rd->d >= 60);
    if (rd->kind == 'N')
        return jan1 + rd->d;
    int64_t first = tz_days_from_civil(y, rd->m, 1);
    int day = 1 + (rd->d - tz_weekday(first) + 7) % 7 + 7 * (rd->w - 1);
    while (day > month_days(y, rd->m))
        day -= 7;
    return first + day - 1;
}

static int32_t rule_offset(const struct tz_rule *r, int64_t t)
{
    if (!r->has_dst)
        return r->std_off;
    int y, m, d;
    tz_civil_from_days(floor_div(t + r->std_off, 86400), &y, &m, &d);
    int64_t start = rule_day(&r->start, y) * 86400 + r->start.time - r->std_off;
    int64_t end = rule_day(&r->end, y) * 86400 + r->end.time - r->dst_off;
    bool dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
    return dst ? r->dst_off : r->std_off;
}

/* ---- TZif ---- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_counts { uint32_t isut, isstd, leap, time, type, chr; };

static size_t block_size(const struct tzif_counts *c, int tsz)
{
    return (size_t)c->time * tsz + c->time + (size_t)c->type * 6 + c->chr +
           (size_t)c->leap * (tsz + 4) + c->isstd + c->isut;
}

static int read_counts(const unsigned char *p, size_t len, struct tzif_counts *c)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0)
        return -1;
    c->isut = be32(p + 20);
    c->isstd = be32(p + 24);
    c->leap = be32(p + 28);
    c->time = be32(p + 32);
    c->type = be32(p + 36);
    c->chr = be32(p + 40);
    if (c->type == 0 || c->type > 256 || c->time > 100000 || c->chr > 100000 ||
        c->leap > 100000 || c->isstd > c->type || c->isut > c->type)
        return -1;
    return 0;
}

static int parse_tzif(struct tz *z, const unsigned char *p, size_t len)
{
    struct tzif_counts c;
    if (read_counts(p, len, &c) < 0)
        return -1;
    int tsz = 4;
    const unsigned char *data = p + 44;
    size_t left = len - 44;
    if (p[4] >= '2') {
        /* Skip the 32-bit block; use the 64-bit one that follows. */
        size_t skip = block_size(&c, 4);
        if (skip > left || read_counts(data + skip, left - skip, &c) < 0)
            return -1;
        data += skip + 44;
        left -= skip + 44;
        tsz = 8;
    }
    size_t need = block_size(&c, tsz);
    if (need > left)
        return -1;
    const unsigned char *times = data, *idx = data + (size_t)c.time * tsz;
    const unsigned char *types = idx + c.time;
    z->n = c.time;
    z->trans = calloc(c.time + 1, sizeof *z->trans);
    z->off = calloc(c.time + 1, sizeof *z->off);
    if (z->trans == NULL || z->off == NULL)
        return -1;
    for (uint32_t i = 0; i < c.time; i++) {
        z->trans[i] = tsz == 8 ? be64(times + 8 * i) : (int32_t)be32(times + 4 * i);
        if (idx[i] >= c.type)
            return -1;
        z->off[i] = (int32_t)be32(types + 6 * idx[i]);
    }
    z->off_before = (int32_t)be32(types);
    if (tsz == 8 && left > need + 1 && data[need] == '\n') {
        const char *f = (const char *)data + need + 1;
        const char *e = memchr(f, '\n', left - need - 1);
        char footer[128];
        if (e && (size_t)(e - f) < sizeof footer && e > f) {
            memcpy(footer, f, (size_t)(e - f));
            footer[e - f] = '\0';
            if (parse_posix(footer, &z->rule) < 0)
                memset(&z->rule, 0, sizeof z->rule);
        }
    }
    return 0;
}

static unsigned char *slurp(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    unsigned char *buf = malloc(TZIF_MAX_BYTES);
    *len = buf ? fread(buf, 1, TZIF_MAX_BYTES, fp) : 0;
    fclose(fp);
    if (buf == NULL)
        snprintf(err, errlen, "%s: out of memory", path);
    return buf;
}

struct tz *tz_load(const char *name, const char *dir, char *err, size_t errlen)
{
    struct tz *z = NULL;
    unsigned char *buf = NULL;
    if (name == NULL || name[0] == '\0' || name[0] == '/' || strstr(name, "..") ||
        strlen(name) >= sizeof z->name) {
        snprintf(err, errlen, "invalid time zone name '%s'", name ? name : "");
        return NULL;
    }
    z = calloc(1, sizeof *z);
    if (z == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(z->name, sizeof z->name, "%s", name);
    if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0)
        return z;                              /* offset 0, no table needed */
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : TZ_DEFAULT_DIR, name);
    size_t len = 0;
    buf = slurp(path, &len, err, errlen);
    if (buf == NULL)
        goto fail;
    if (parse_tzif(z, buf, len) < 0) {
        snprintf(err, errlen, "%s: not a valid TZif file", path);
        goto fail;
    }
    free(buf);
    return z;
fail:
    free(buf);
    tz_free(z);
    return NULL;
}

void tz_free(struct tz *z)
{
    if (z == NULL)
        return;
    free(z->trans);
    free(z->off);
    free(z);
}

const char *tz_name(const struct tz *z)
{
    return z->name;
}

int32_t tz_offset_at(const struct tz *z, int64_t t)
{
    if (z->n == 0 || t < z->trans[0])
        return z->n == 0 && z->rule.present ? rule_offset(&z->rule, t) : z->off_before;
    if (t >= z->trans[z->n - 1] && z->rule.present)
        return rule_offset(&z->rule, t);
    size_t lo = 0, hi = z->n;                  /* last i with trans[i] <= t */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return z->off[lo];
}

int64_t tz_local_to_utc(const struct tz *z, int y, int mon, int d, int h, int min, int s)
{
    int64_t local = tz_days_from_civil(y, mon, 1) * 86400 + (int64_t)(d - 1) * 86400 +
                    (int64_t)h * 3600 + (int64_t)min * 60 + s;
    /* Try the offset in force a day before and after: whichever maps back
     * onto the same local time wins; the earlier one on overlaps. */
    int32_t o1 = tz_offset_at(z, local - 86400), o2 = tz_offset_at(z, local + 86400);
    int64_t t1 = local - o1, t2 = local - o2;
    bool ok1 = tz_offset_at(z, t1) == o1, ok2 = tz_offset_at(z, t2) == o2;
    if (ok1 && ok2)
        return t1 < t2 ? t1 : t2;
    if (ok2)
        return t2;
    return t1;                                 /* valid, or in a gap: the earlier offset */
}

int64_t tz_local_day(const struct tz *z, int64_t t)
{
    return floor_div(t + tz_offset_at(z, t), 86400);
}
