/* tz.c -- time-zone offsets from TZif files and POSIX TZ rules, with no
 * global state (see tz.h for why localtime_r is not an option).
 *
 * A zone is a sorted list of transitions (instant -> UTC offset) read from
 * the TZif file (RFC 8536), and optionally a POSIX rule for instants after
 * the last transition. A fixed-offset zone is a zone with no transitions
 * and a rule without daylight saving. */
#include "tz.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TZ_FILE_MAX (1 << 20)          /* real TZif files are < 4 KiB */
#define TZ_NAME_MAX 200

/* One end of a daylight-saving period of a POSIX rule. */
struct tz_date {
    char kind;                         /* 'M' month.week.day, 'J' julian 1..365, 'N' 0..365 */
    int m, w, d, n;
    int32_t time_s;                    /* local time of day of the change */
};

struct tz_rule {
    int32_t std_off, dst_off;          /* seconds east of UTC */
    bool has_dst;
    struct tz_date start, end;
};

struct tz {
    char name[TZ_NAME_MAX + 1];
    int64_t *trans;                    /* transition instants, ascending */
    int32_t *trans_off;                /* offset in force from trans[i] */
    size_t ntrans;
    int32_t before_off;                /* offset before the first transition */
    bool has_rule;                     /* else the last offset holds forever */
    struct tz_rule rule;
};

/* ---- calendar arithmetic (proleptic Gregorian, days since 1970-01-01) ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;                                   /* [0, 399] */
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;  /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

static int64_t year_of_days(int64_t z)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    return yoe + era * 400 + (m <= 2);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Day number (days since epoch) of a rule date in year y. */
static int64_t rule_day(int64_t y, const struct tz_date *d)
{
    if (d->kind == 'J')
        return days_from_civil(y, 1, 1) + d->n - 1 + (is_leap(y) && d->n >= 60);
    if (d->kind == 'N')
        return days_from_civil(y, 1, 1) + d->n;
    int64_t first = days_from_civil(y, d->m, 1);
    int64_t next = d->m == 12 ? days_from_civil(y + 1, 1, 1) : days_from_civil(y, d->m + 1, 1);
    int wd = (int)(((first + 4) % 7 + 7) % 7);                     /* 1970-01-01: Thursday */
    int64_t day = first + (d->d - wd + 7) % 7 + (int64_t)(d->w - 1) * 7;
    while (day >= next)                                            /* week 5 = last */
        day -= 7;
    return day;
}

static int32_t rule_offset(const struct tz_rule *r, int64_t t)
{
    if (!r->has_dst)
        return r->std_off;
    int64_t y = year_of_days(floor_div(t + r->std_off, 86400));
    /* The start is given in standard time, the end in daylight time. */
    int64_t start = rule_day(y, &r->start) * 86400 + r->start.time_s - r->std_off;
    int64_t end = rule_day(y, &r->end) * 86400 + r->end.time_s - r->dst_off;
    bool dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
    return dst ? r->dst_off : r->std_off;
}

int32_t tz_offset(const struct tz *z, int64_t t)
{
    if (z->ntrans == 0)
        return z->has_rule ? rule_offset(&z->rule, t) : z->before_off;
    if (t < z->trans[0])
        return z->before_off;
    if (t >= z->trans[z->ntrans - 1] && z->has_rule)
        return rule_offset(&z->rule, t);
    size_t lo = 0, hi = z->ntrans;                  /* last i with trans[i] <= t */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return z->trans_off[lo];
}

const char *tz_name(const struct tz *z)
{
    return z->name;
}

void tz_free(struct tz *z)
{
    if (z == NULL)
        return;
    free(z->trans);
    free(z->trans_off);
    free(z);
}

static struct tz *tz_alloc(const char *name)
{
    struct tz *z = calloc(1, sizeof *z);
    if (z != NULL)
        snprintf(z->name, sizeof z->name, "%s", name);
    return z;
}

struct tz *tz_fixed(int32_t utoff_s)
{
    char name[16];
    int a = utoff_s < 0 ? -utoff_s : utoff_s;
    snprintf(name, sizeof name, "%c%02d:%02d", utoff_s < 0 ? '-' : '+', a / 3600, a / 60 % 60);
    struct tz *z = tz_alloc(utoff_s == 0 ? "UTC" : name);
    if (z != NULL)
        z->before_off = utoff_s;
    return z;
}

/* ---- POSIX TZ strings ---- */

/* "[+-]hh[:mm[:ss]]" -> seconds; hours up to max_h. Advances *p. */
static int parse_hms(const char **p, int max_h, int32_t *out)
{
    const char *s = *p;
    int sign = 1;
    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    if (!isdigit((unsigned char)*s))
        return -1;
    long v[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        if (i > 0) {
            if (*s != ':')
                break;
            s++;
        }
        if (!isdigit((unsigned char)*s))
            return -1;
        int nd = 0;
        while (isdigit((unsigned char)*s) && nd < 3) {
            v[i] = v[i] * 10 + (*s++ - '0');
            nd++;
        }
        if (i > 0 && (nd != 2 || v[i] > 59))
            return -1;
    }
    if (v[0] > max_h)
        return -1;
    *out = (int32_t)(sign * (v[0] * 3600 + v[1] * 60 + v[2]));
    *p = s;
    return 0;
}

static int parse_tzname(const char **p)
{
    const char *s = *p;
    size_t n = 0;
    if (*s == '<') {
        s++;
        while (*s != '\0' && *s != '>') {
            if (!isalnum((unsigned char)*s) && *s != '+' && *s != '-')
                return -1;
            s++, n++;
        }
        if (*s++ != '>')
            return -1;
    } else {
        while (isalpha((unsigned char)*s))
            s++, n++;
    }
    if (n < 3)
        return -1;
    *p = s;
    return 0;
}

static long parse_uint(const char **p, long max)
{
    const char *s = *p;
    long v = 0;
    if (!isdigit((unsigned char)*s))
        return -1;
    while (isdigit((unsigned char)*s)) {
        v = v * 10 + (*s++ - '0');
        if (v > max)
            return -1;
    }
    *p = s;
    return v;
}

static int parse_rule_date(const char **p, struct tz_date *d)
{
    const char *s = *p;
    memset(d, 0, sizeof *d);
    if (*s == 'M') {
        s++;
        d->kind = 'M';
        long m = parse_uint(&s, 12), w = -1, wd = -1;
        if (m >= 1 && *s == '.' && (s++, w = parse_uint(&s, 5)) >= 1 && *s == '.') {
            s++;
            wd = parse_uint(&s, 6);
        }
        if (m < 1 || w < 1 || wd < 0)
            return -1;
        d->m = (int)m, d->w = (int)w, d->d = (int)wd;
    } else if (*s == 'J') {
        s++;
        d->kind = 'J';
        long n = parse_uint(&s, 365);
        if (n < 1)
            return -1;
        d->n = (int)n;
    } else {
        d->kind = 'N';
        long n = parse_uint(&s, 365);
        if (n < 0)
            return -1;
        d->n = (int)n;
    }
    d->time_s = 7200;                                  /* default 02:00 */
    if (*s == '/') {
        s++;
        if (parse_hms(&s, 167, &d->time_s) != 0)
            return -1;
    }
    *p = s;
    return 0;
}

static int parse_posix(const char *s, struct tz_rule *r)
{
    int32_t off;
    memset(r, 0, sizeof *r);
    if (parse_tzname(&s) != 0 || parse_hms(&s, 24, &off) != 0)
        return -1;
    r->std_off = -off;                                 /* POSIX counts west */
    if (*s == '\0')
        return 0;
    r->has_dst = true;
    if (parse_tzname(&s) != 0)
        return -1;
    r->dst_off = r->std_off + 3600;
    if (*s != ',' && *s != '\0') {
        if (parse_hms(&s, 24, &off) != 0)
            return -1;
        r->dst_off = -off;
    }
    if (*s == '\0') {                                  /* no rule: US rules, as glibc */
        r->start = (struct tz_date){'M', 3, 2, 0, 0, 7200};
        r->end = (struct tz_date){'M', 11, 1, 0, 0, 7200};
        return 0;
    }
    if (*s++ != ',' || parse_rule_date(&s, &r->start) != 0 || *s++ != ',' ||
        parse_rule_date(&s, &r->end) != 0 || *s != '\0')
        return -1;
    return 0;
}

struct tz *tz_posix(const char *rule, char *err, size_t errlen)
{
    struct tz_rule r;
    if (rule == NULL || parse_posix(rule, &r) != 0) {
        snprintf(err, errlen, "timezone: bad POSIX TZ rule \"%s\"", rule ? rule : "");
        return NULL;
    }
    struct tz *z = tz_alloc(rule);
    if (z == NULL) {
        snprintf(err, errlen, "timezone: out of memory");
        return NULL;
    }
    z->has_rule = true;
    z->rule = r;
    z->before_off = r.std_off;
    return z;
}

/* ---- TZif files (RFC 8536) ---- */

struct rd {                             /* a bounds-checked reader */
    const unsigned char *p;
    size_t len, pos;
    bool bad;
};

static const unsigned char *rd_take(struct rd *r, size_t n)
{
    if (r->bad || n > r->len - r->pos) {
        r->bad = true;
        return NULL;
    }
    const unsigned char *q = r->p + r->pos;
    r->pos += n;
    return q;
}

static uint32_t be32(const unsigned char *q)
{
    return (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
}

static int64_t be64(const unsigned char *q)
{
    return (int64_t)((uint64_t)be32(q) << 32 | be32(q + 4));
}

struct tzif_hdr {
    char version;
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static int tzif_header(struct rd *r, struct tzif_hdr *h)
{
    const unsigned char *q = rd_take(r, 44);
    if (q == NULL || memcmp(q, "TZif", 4) != 0)
        return -1;
    h->version = (char)q[4];
    h->isutcnt = be32(q + 20), h->isstdcnt = be32(q + 24), h->leapcnt = be32(q + 28);
    h->timecnt = be32(q + 32), h->typecnt = be32(q + 36), h->charcnt = be32(q + 40);
    if (h->typecnt == 0 || h->typecnt > 256 || h->timecnt > 100000 || h->charcnt > 65536 ||
        h->leapcnt > 10000 || (h->isutcnt != 0 && h->isutcnt != h->typecnt) ||
        (h->isstdcnt != 0 && h->isstdcnt != h->typecnt))
        return -1;
    return 0;
}

static size_t tzif_block_len(const struct tzif_hdr *h, size_t tsize)
{
    return h->timecnt * tsize + h->timecnt + h->typecnt * 6 + h->charcnt +
           h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

/* Parse the data block after header h (times of tsize bytes) into z. */
static int tzif_block(struct rd *r, const struct tzif_hdr *h, size_t tsize, struct tz *z)
{
    const unsigned char *times = rd_take(r, h->timecnt * tsize);
    const unsigned char *idx = rd_take(r, h->timecnt);
    const unsigned char *types = rd_take(r, h->typecnt * 6);
    if (rd_take(r, tzif_block_len(h, tsize) - h->timecnt * (tsize + 1) - h->typecnt * 6) == NULL ||
        r->bad)
        return -1;
    if (h->timecnt > 0) {
        z->trans = malloc(h->timecnt * sizeof *z->trans);
        z->trans_off = malloc(h->timecnt * sizeof *z->trans_off);
        if (z->trans == NULL || z->trans_off == NULL)
            return -1;
    }
    for (uint32_t i = 0; i < h->timecnt; i++) {
        int64_t t = tsize == 8 ? be64(times + i * 8) : (int32_t)be32(times + i * 4);
        if (idx[i] >= h->typecnt || (i > 0 && t <= z->trans[i - 1]))
            return -1;
        z->trans[i] = t;
        z->trans_off[i] = (int32_t)be32(types + idx[i] * 6);
    }
    z->ntrans = h->timecnt;
    z->before_off = (int32_t)be32(types);              /* type 0, RFC 8536 3.2 */
    return 0;
}

static int tzif_parse(const unsigned char *buf, size_t len, struct tz *z, char *why, size_t whylen)
{
    struct rd r = {buf, len, 0, false};
    struct tzif_hdr h;
    if (tzif_header(&r, &h) != 0) {
        snprintf(why, whylen, "not a TZif file");
        return -1;
    }
    size_t tsize = 4;
    if (h.version >= '2') {                            /* skip the 32-bit block */
        if (rd_take(&r, tzif_block_len(&h, 4)) == NULL || tzif_header(&r, &h) != 0) {
            snprintf(why, whylen, "truncated TZif file");
            return -1;
        }
        tsize = 8;
    }
    if (h.leapcnt != 0) {
        snprintf(why, whylen, "zone counts leap seconds (\"right/\" zones are not supported)");
        return -1;
    }
    if (tzif_block(&r, &h, tsize, z) != 0) {
        snprintf(why, whylen, "corrupt TZif data");
        return -1;
    }
    if (tsize == 8 && r.pos < len && buf[r.pos] == '\n') { /* footer: "\n<rule>\n" */
        const char *f = (const char *)buf + r.pos + 1;
        const char *e = memchr(f, '\n', len - r.pos - 1);
        char rule[128];
        if (e == NULL || (size_t)(e - f) >= sizeof rule) {
            snprintf(why, whylen, "bad TZif footer");
            return -1;
        }
        memcpy(rule, f, (size_t)(e - f));
        rule[e - f] = '\0';
        if (rule[0] != '\0') {
            if (parse_posix(rule, &z->rule) != 0) {
                snprintf(why, whylen, "unsupported TZ rule \"%s\" in footer", rule);
                return -1;
            }
            z->has_rule = true;
        }
    }
    return 0;
}

/* Read a whole (small) file. Returns NULL with errno set. */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    unsigned char *buf = malloc(TZ_FILE_MAX);
    size_t n = buf ? fread(buf, 1, TZ_FILE_MAX, f) : 0;
    int bad = buf == NULL || ferror(f) || n == TZ_FILE_MAX;
    fclose(f);
    if (bad) {
        free(buf);
        errno = EFBIG;
        return NULL;
    }
    *len = n;
    return buf;
}

/* Zones with a single offset since 1992, for hosts without tzdata. */
static const struct { const char *name; int32_t off; } builtin_zones[] = {
    {"Asia/Shanghai", 28800}, {"Asia/Chongqing", 28800}, {"Asia/Chungking", 28800},
    {"Asia/Harbin", 28800},   {"PRC", 28800},            {"Asia/Urumqi", 21600},
    {"Asia/Kashgar", 21600},  {"Asia/Hong_Kong", 28800}, {"Hongkong", 28800},
    {"Asia/Macau", 28800},    {"Asia/Taipei", 28800},    {"ROC", 28800},
    {"Asia/Tokyo", 32400},    {"Japan", 32400},          {"Asia/Seoul", 32400},
    {"ROK", 32400},           {"Asia/Singapore", 28800}, {"Singapore", 28800},
    {"Etc/UTC", 0},           {"Etc/GMT", 0},            {"GMT", 0},
};

static bool valid_zone_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > TZ_NAME_MAX || s[0] == '/' || strstr(s, "..") != NULL)
        return false;
    for (const char *c = s; *c; c++)
        if (!isalnum((unsigned char)*c) && strchr("/_+-", *c) == NULL)
            return false;
    return true;
}

/* "+08:00", "+0800", "+08", "-05:30": 0 and the offset, or -1. */
static int parse_iso_offset(const char *s, int32_t *out)
{
    if (*s != '+' && *s != '-')
        return -1;
    int sign = *s++ == '-' ? -1 : 1;
    char d[4];
    size_t nd = 0;
    for (size_t i = 0; s[i] != '\0'; i++) {
        if (i == 2 && s[i] == ':' && s[i + 1] != '\0')
            continue;
        if (!isdigit((unsigned char)s[i]) || nd == 4)
            return -1;
        d[nd++] = s[i];
    }
    if (nd != 2 && nd != 4)
        return -1;
    int h = (d[0] - '0') * 10 + (d[1] - '0');
    int m = nd == 4 ? (d[2] - '0') * 10 + (d[3] - '0') : 0;
    if (h > 14 || m > 59)
        return -1;
    *out = sign * (h * 3600 + m * 60);
    return 0;
}

static struct tz *tz_load_file(const char *name, const char *dir, char *err, size_t errlen)
{
    char path[512], why[160];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t len = 0;
    unsigned char *buf = slurp(path, &len);
    if (buf == NULL) {
        if (errno == ENOENT || errno == ENOTDIR) {
            for (size_t i = 0; i < sizeof builtin_zones / sizeof builtin_zones[0]; i++)
                if (strcmp(builtin_zones[i].name, name) == 0) {
                    struct tz *z = tz_fixed(builtin_zones[i].off);
                    if (z != NULL)
                        snprintf(z->name, sizeof z->name, "%s", name);
                    return z;
                }
            snprintf(err, errlen, "timezone: unknown zone \"%s\" (no %s)", name, path);
        } else {
            snprintf(err, errlen, "timezone: cannot read %s: %s", path, strerror(errno));
        }
        return NULL;
    }
    struct tz *z = tz_alloc(name);
    if (z == NULL || tzif_parse(buf, len, z, why, sizeof why) != 0) {
        snprintf(err, errlen, "timezone: %s: %s", path, z ? why : "out of memory");
        tz_free(z);
        z = NULL;
    }
    free(buf);
    return z;
}

struct tz *tz_load(const char *name, const char *zoneinfo_dir, char *err, size_t errlen)
{
    int32_t off;
    if (name == NULL || name[0] == '\0') {
        snprintf(err, errlen, "timezone: empty zone name");
        return NULL;
    }
    if (strcmp(name, "UTC") == 0 || strcmp(name, "Z") == 0)
        return tz_fixed(0);
    if (parse_iso_offset(name, &off) == 0)
        return tz_fixed(off);
    if (strncmp(name, "UTC", 3) == 0 || strncmp(name, "GMT", 3) == 0) {
        if (name[3] == '+' || name[3] == '-') {
            snprintf(err, errlen, "timezone: \"%s\" is ambiguous (POSIX reads UTC+8 as 8 h "
                     "west of UTC); write an offset like \"+08:00\" or an IANA name", name);
            return NULL;
        }
    }
    if (!valid_zone_name(name)) {
        snprintf(err, errlen, "timezone: \"%s\" is not a zone name like \"Asia/Shanghai\" "
                 "or an offset like \"+08:00\"", name);
        return NULL;
    }
    return tz_load_file(name, zoneinfo_dir ? zoneinfo_dir : TZ_ZONEINFO_DIR, err, errlen);
}
