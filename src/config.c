/* config.c -- the INI configuration table, file reader and -o overrides.
 *
 * One table lists every key: its type, where it lives in struct config,
 * its default and bounds. The file reader and the -o overrides both go
 * through config_set, so a key behaves the same wherever it is set, and
 * every error names file, line and key. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum ctype { C_STR, C_LONG, C_BOOL, C_CLOCK, C_SIGMODE, C_SIGLOCAL, C_LOGLEVEL, C_SIZE, C_FSYNC };

struct ckey {
    const char *name;          /* "section.key" */
    enum ctype type;
    size_t off;
    size_t size;               /* for strings: buffer size */
    const char *def;
    long min, max;             /* for numbers */
};

#define STR(k, f, d) {k, C_STR, offsetof(struct config, f), sizeof(((struct config *)0)->f), d, 0, 0}
#define NUM(k, f, d, lo, hi) {k, C_LONG, offsetof(struct config, f), 0, d, lo, hi}

static const struct ckey keys[] = {
    STR("server.listen", server_listen, "127.0.0.1:8080"),
    {"server.max_body_bytes", C_SIZE, offsetof(struct config, server_max_body_bytes), 0,
     "8MiB", 1024, 1L << 30},
    NUM("server.request_timeout_ms", server_request_timeout_ms, "10000", 10, 600000),
    STR("server.cors_origin", server_cors_origin, "*"),
    NUM("server.drain_timeout_ms", server_drain_timeout_ms, "10000", 0, 600000),
    NUM("server.rate_limit_rps", server_rate_limit_rps, "0", 0, 10000000),
    NUM("server.rate_limit_burst", server_rate_limit_burst, "0", 0, 10000000),
    NUM("server.max_connections", server_max_connections, "10000", 1, 10000000),
    NUM("server.header_timeout_ms", server_header_timeout_ms, "10000", 10, 600000),
    STR("redis.url", redis_url, "embedded"),
    STR("redis.data_dir", redis_data_dir, "var/"),
    STR("redis.server_bin", redis_server_bin, "redis-server"),
    {"redis.appendfsync", C_FSYNC, offsetof(struct config, redis_appendfsync),
     sizeof(((struct config *)0)->redis_appendfsync), "always", 0, 0},
    NUM("redis.timeout_ms", redis_timeout_ms, "2000", 10, 600000),
    NUM("redis.wait_replicas", redis_wait_replicas, "0", 0, 16),
    NUM("redis.wait_timeout_ms", redis_wait_timeout_ms, "200", 1, 600000),
    STR("map.dir", map_dir, "maps/yantai"),
    STR("auth.keys_file", auth_keys_file, "config/keys.conf"),
    {"auth.public_read", C_BOOL, offsetof(struct config, auth_public_read), 0, "true", 0, 0},
    NUM("auth.max_failures", auth_max_failures, "10", 0, 1000000),
    NUM("auth.failure_window_s", auth_failure_window_s, "60", 1, 86400),
    {"clock.mode", C_CLOCK, offsetof(struct config, clock_mode), 0, "wall", 0, 0},
    NUM("parking.stale_after_s", parking_stale_after_s, "900", 1, 31536000),
    NUM("parking.pay_later_s", parking_pay_later_s, "259200", 0, 31536000),
    NUM("parking.max_session_s", parking_max_session_s, "604800", 60, 315360000),
    NUM("parking.phantom_s", parking_phantom_s, "900", 1, 86400),
    NUM("parking.gate_max_future_s", parking_gate_max_future_s, "300", 0, 86400),
    NUM("parking.gate_max_age_s", parking_gate_max_age_s, "604800", 60, 315360000),
    NUM("parking.keep_settled_s", parking_keep_settled_s, "3600", 600, 31536000),
    NUM("parking.kiosk_token_s", parking_kiosk_token_s, "300", 1, 86400),
    STR("parking.timezone", parking_timezone, "Asia/Shanghai"),
    NUM("parking.history_max", parking_history_max, "10000", 0, 100000000),
    NUM("parking.stream_heartbeat_s", parking_stream_heartbeat_s, "15", 1, 3600),
    {"parking.stream_max_queued", C_SIZE, offsetof(struct config, parking_stream_max_queued), 0,
     "1MiB", 4096, 1L << 30},
    {"parking.stream_max_total_bytes", C_SIZE,
     offsetof(struct config, parking_stream_max_total_bytes), 0, "64MiB", 65536, 1L << 40},
    NUM("parking.stream_max", parking_stream_max, "1024", 0, 1000000),
    NUM("parking.stream_max_per_caller", parking_stream_max_per_caller, "32", 0, 1000000),
    NUM("parking.max_batch", parking_max_batch, "10000", 1, 100000000),
    /* drivers' apps: forecasts and price advice (api_apps.c) */
    NUM("parking.forecast_save_s", parking_forecast_save_s, "300", 1, 86400),
    NUM("parking.pricing_period_s", parking_pricing_period_s, "604800", 3600, 31622400),
    NUM("parking.pricing_step_cents", parking_pricing_step_cents, "50", 1, 100000000),
    NUM("parking.pricing_min_cents", parking_pricing_min_cents, "50", 0, 100000000),
    NUM("parking.pricing_max_cents", parking_pricing_max_cents, "2000", 0, 100000000),
    STR("transit.gtfs_dir", transit_gtfs_dir, ""),
    NUM("transit.stale_after_s", transit_stale_after_s, "90", 1, 86400),
    NUM("transit.forget_after_s", transit_forget_after_s, "86400", 60, 31536000),
    NUM("transit.max_vehicles", transit_max_vehicles, "20000", 1, 10000000),
    NUM("transit.max_batch", transit_max_batch, "5000", 1, 1000000),
    NUM("transit.early_margin_s", transit_early_margin_s, "0", 0, 600),
    NUM("transit.early_margin_pct", transit_early_margin_pct, "0", 0, 50),
    {"signals.mode", C_SIGMODE, offsetof(struct config, signals_mode), 0, "adaptive", 0, 0},
    NUM("signals.workers", signals_workers, "2", 1, 16),
    NUM("signals.queue_max", signals_queue_max, "8", 0, 1024),
    NUM("signals.solve_timeout_ms", signals_solve_timeout_ms, "2000", 10, 600000),
    NUM("signals.max_intersections", signals_max_intersections, "64", 2, 64),
    NUM("signals.max_milp_intersections", signals_max_milp_intersections, "16", 2, 64),
    NUM("signals.lease_ms", signals_lease_ms, "3000", 300, 600000),
    {"signals.local_control", C_SIGLOCAL, offsetof(struct config, signals_local_control), 0,
     "pretimed", 0, 0},
    STR("web.dir", web_dir, "web/"),
    STR("web.js_dir", web_js_dir, "/usr/share/javascript"),
    STR("web.tile_url", web_tile_url, ""),
    STR("web.tile_attribution", web_tile_attribution, ""),
    {"log.level", C_LOGLEVEL, offsetof(struct config, log_level), sizeof(((struct config *)0)->log_level),
     "info", 0, 0},
    NUM("log.max_per_second", log_max_per_second, "100", 0, 1000000),
    /* [retention]: what Redis keeps of the streams that grow with time */
    NUM("retention.feed_s", retention_feed_s, "300", 1, 31536000),
    NUM("retention.track_s", retention_track_s, "3600", 0, 31536000),
    NUM("retention.lot_history_s", retention_lot_history_s, "3600", 0, 31536000),
    NUM("retention.fare_max_age_s", retention_fare_max_age_s, "86400", 60, 31536000),
    NUM("retention.counts_s", retention_counts_s, "604800", 0, 31536000),
};

#define NKEYS (sizeof keys / sizeof keys[0])

static const struct ckey *key_find(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

static int parse_long(const char *v, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0')
        return -1;
    *out = x;
    return 0;
}

/* "8MiB", "512KiB", "1048576", "1M" -> bytes */
static int parse_size(const char *v, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno != 0 || end == v || x < 0)
        return -1;
    long mul = 1;
    if (*end == '\0' || strcmp(end, "B") == 0)
        mul = 1;
    else if (strcasecmp(end, "k") == 0 || strcasecmp(end, "kib") == 0 || strcasecmp(end, "kb") == 0)
        mul = 1024;
    else if (strcasecmp(end, "m") == 0 || strcasecmp(end, "mib") == 0 || strcasecmp(end, "mb") == 0)
        mul = 1024L * 1024;
    else if (strcasecmp(end, "g") == 0 || strcasecmp(end, "gib") == 0 || strcasecmp(end, "gb") == 0)
        mul = 1024L * 1024 * 1024;
    else
        return -1;
    if (x > LONG_MAX / mul)
        return -1;
    *out = x * mul;
    return 0;
}

static int parse_bool(const char *v, bool *out)
{
    if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "1"))
        *out = true;
    else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off") || !strcmp(v, "0"))
        *out = false;
    else
        return -1;
    return 0;
}

static int set_number(struct config *c, const struct ckey *k, const char *value,
                      char *why, size_t whylen)
{
    long x;
    int bad = k->type == C_SIZE ? parse_size(value, &x) : parse_long(value, &x);
    if (bad) {
        snprintf(why, whylen, k->type == C_SIZE ? "expected a size such as 8MiB, got '%s'"
                                                : "expected an integer, got '%s'", value);
        return -1;
    }
    if (x < k->min || x > k->max) {
        snprintf(why, whylen, "%ld is out of range [%ld, %ld]", x, k->min, k->max);
        return -1;
    }
    *(long *)((char *)c + k->off) = x;
    return 0;
}

/* The two spellings of each two-valued key, in the order of its enum. */
static const char *const CHOICES[][2] = {
    [C_CLOCK] = { "wall", "replay" },
    [C_SIGMODE] = { "fixed", "adaptive" },
    [C_SIGLOCAL] = { "pretimed", "actuated" },
};

/* Index of value among names, or -1 with why. */
static int choice_of(const char *const names[2], const char *value, char *why, size_t whylen)
{
    for (int v = 0; v < 2; v++)
        if (strcmp(value, names[v]) == 0)
            return v;
    snprintf(why, whylen, "expected %s or %s, got '%s'", names[0], names[1], value);
    return -1;
}

static int set_value(struct config *c, const struct ckey *k, const char *value, char *why,
                     size_t whylen)
{
    char *field = (char *)c + k->off;
    switch (k->type) {
    case C_STR:
    case C_LOGLEVEL:
    case C_FSYNC:
        if (k->type == C_LOGLEVEL && strcmp(value, "debug") && strcmp(value, "info") &&
            strcmp(value, "warn") && strcmp(value, "error")) {
            snprintf(why, whylen, "expected debug, info, warn or error, got '%s'", value);
            return -1;
        }
        if (k->type == C_FSYNC && strcmp(value, "always") && strcmp(value, "everysec")) {
            snprintf(why, whylen, "expected always or everysec, got '%s'", value);
            return -1;
        }
        if (strlen(value) >= k->size) {
            snprintf(why, whylen, "value longer than %zu bytes", k->size - 1);
            return -1;
        }
        memcpy(field, value, strlen(value) + 1);
        return 0;
    case C_LONG:
    case C_SIZE:
        return set_number(c, k, value, why, whylen);
    case C_BOOL:
        if (parse_bool(value, (bool *)field) != 0) {
            snprintf(why, whylen, "expected true or false, got '%s'", value);
            return -1;
        }
        return 0;
    case C_CLOCK:
    case C_SIGMODE:
    case C_SIGLOCAL: {
        int v = choice_of(CHOICES[k->type], value, why, whylen);
        if (v < 0)
            return -1;
        if (k->type == C_CLOCK)
            *(enum clock_mode *)field = (enum clock_mode)v;
        else if (k->type == C_SIGMODE)
            *(enum signals_mode *)field = (enum signals_mode)v;
        else
            *(enum signals_local_control *)field = (enum signals_local_control)v;
        return 0;
    }
    }
    return -1;
}

int config_set(struct config *c, const char *dotted_key, const char *value, const char *file,
               int line, char *err, size_t errlen)
{
    const struct ckey *k = key_find(dotted_key);
    char why[256];
    if (k == NULL) {
        snprintf(err, errlen, "%s:%d: %s: unknown key", file, line, dotted_key);
        return -1;
    }
    if (set_value(c, k, value, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s:%d: %s: %s", file, line, dotted_key, why);
        return -1;
    }
    return 0;
}

void config_defaults(struct config *c)
{
    char err[256];
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < NKEYS; i++)
        config_set(c, keys[i].name, keys[i].def, "default", 0, err, sizeof err);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* Strip a trailing comment: '#' or ';' preceded by whitespace (so that
 * values such as URLs with '#' fragments survive when not spaced). */
static void strip_comment(char *s)
{
    for (char *p = s; *p; p++) {
        if ((*p == '#' || *p == ';') && (p == s || isspace((unsigned char)p[-1]))) {
            *p = '\0';
            return;
        }
    }
}

/* Remove matching surrounding double quotes. */
static char *unquote(char *v)
{
    size_t n = strlen(v);
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v[n - 1] = '\0';
        return v + 1;
    }
    return v;
}

int config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char line[2048], section[64] = "";
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
        lineno++;
        if (strchr(line, '\n') == NULL && !feof(f)) {
            snprintf(err, errlen, "%s:%d: line too long", path, lineno);
            rc = -1;
            break;
        }
        strip_comment(line);
        char *s = trim(line);
        if (*s == '\0')
            continue;
        if (*s == '[') {
            char *end = strchr(s, ']');
            if (end == NULL || end[1] != '\0' || end - s - 1 >= (long)sizeof section ||
                end == s + 1) {
                snprintf(err, errlen, "%s:%d: malformed section header", path, lineno);
                rc = -1;
                break;
            }
            *end = '\0';
            snprintf(section, sizeof section, "%s", trim(s + 1));
            continue;
        }
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "%s:%d: expected key = value", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *k = trim(s), *v = unquote(trim(eq + 1));
        if (section[0] == '\0') {
            snprintf(err, errlen, "%s:%d: %s: key outside a [section]", path, lineno, k);
            rc = -1;
            break;
        }
        char dotted[160];
        snprintf(dotted, sizeof dotted, "%s.%s", section, k);
        rc = config_set(c, dotted, v, path, lineno, err, errlen);
    }
    fclose(f);
    return rc;
}

const char *config_gtfs_dir(const struct config *c, char *buf, size_t len)
{
    if (c->transit_gtfs_dir[0])
        snprintf(buf, len, "%s", c->transit_gtfs_dir);
    else
        snprintf(buf, len, "%s/gtfs", c->map_dir);
    return buf;
}
