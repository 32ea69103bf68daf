/* config.h -- the INI configuration and its command-line overrides.
 *
 * config/cityd.conf (formats.md): `[section]` headers, `key = value`
 * lines, `#` or `;` comments. Every key is declared in one table in
 * config.c with its type, default and bounds; an unknown key or a bad
 * value is an error naming file, line and key. `-o section.key=value`
 * goes through the same setter (file "-o", line = argument index). */
#ifndef CITYD_CONFIG_H
#define CITYD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define CONFIG_PATH_MAX 512

enum clock_mode { CLOCK_WALL = 0, CLOCK_REPLAY };
enum signals_mode { SIGNALS_FIXED = 0, SIGNALS_ADAPTIVE };
/* How the city's local controllers run cityd's timings (docs/signals.md). */
enum signals_local_control { SIGNALS_PRETIMED = 0, SIGNALS_ACTUATED };

struct config {
    /* [server] */
    char server_listen[128];
    long server_max_body_bytes;
    long server_rate_limit_rps;      /* 0: no limit */
    long server_rate_limit_burst;    /* 0: = rate_limit_rps */
    long server_max_connections;
    long server_header_timeout_ms;
    long server_request_timeout_ms;
    char server_cors_origin[128];
    long server_drain_timeout_ms;
    /* [redis] */
    char redis_url[CONFIG_PATH_MAX];
    char redis_data_dir[CONFIG_PATH_MAX];
    char redis_server_bin[CONFIG_PATH_MAX];
    char redis_appendfsync[16];
    long redis_timeout_ms;
    long redis_wait_replicas;
    long redis_wait_timeout_ms;
    /* [map] */
    char map_dir[CONFIG_PATH_MAX];
    /* [auth] */
    char auth_keys_file[CONFIG_PATH_MAX];
    bool auth_public_read;
    long auth_max_failures;          /* 0: no limit */
    long auth_failure_window_s;
    /* [clock] */
    enum clock_mode clock_mode;
    /* [parking] */
    long parking_stale_after_s;
    long parking_pay_later_s;
    long parking_max_session_s;
    long parking_phantom_s;
    long parking_gate_max_future_s;
    long parking_gate_max_age_s;
    long parking_keep_settled_s;     /* settled sessions stay in memory this long */
    long parking_kiosk_token_s;
    char parking_timezone[64];
    long parking_history_max;
    long parking_stream_heartbeat_s;
    long parking_stream_max_queued;
    long parking_stream_max_total_bytes;
    long parking_stream_max;
    long parking_stream_max_per_caller;
    long parking_max_batch;
    long parking_forecast_save_s;         /* drivers' apps (api_apps.c) */
    long parking_pricing_period_s;
    long parking_pricing_step_cents;
    long parking_pricing_min_cents;
    long parking_pricing_max_cents;
    /* [transit] */
    char transit_gtfs_dir[CONFIG_PATH_MAX];   /* "" = <map.dir>/gtfs */
    long transit_stale_after_s;
    long transit_forget_after_s;
    long transit_max_vehicles;
    long transit_max_batch;
    long transit_early_margin_s;
    long transit_early_margin_pct;
    /* [signals] */
    enum signals_mode signals_mode;
    long signals_workers;                  /* threads for long computations */
    long signals_queue_max;                /* jobs waiting behind them */
    long signals_solve_timeout_ms;         /* one optimisation's time limit */
    long signals_max_intersections;        /* green-wave problem size */
    long signals_max_milp_intersections;   /* ... when it needs the MILP */
    long signals_lease_ms;                 /* a group's controller lease (docs/scaling.md) */
    enum signals_local_control signals_local_control;  /* what SPaT's bounds allow for */
    /* [web] */
    char web_dir[CONFIG_PATH_MAX];         /* the pages; "" serves none */
    char web_js_dir[CONFIG_PATH_MAX];      /* Debian's /usr/share/javascript */
    char web_tile_url[CONFIG_PATH_MAX];    /* raster tiles {z}/{x}/{y}; "" none */
    char web_tile_attribution[256];
    /* [log] */
    char log_level[16];
    long log_max_per_second;         /* 0: no limit */
    /* [retention] (docs/scaling.md "Retention") */
    long retention_feed_s;           /* change feeds, Redis's clock */
    long retention_track_s;          /* bus tracks, by report time; 0: none */
    long retention_lot_history_s;    /* lot histories, by observation time; 0: none */
    long retention_fare_max_age_s;   /* older fares refused; ids kept this + 1 h */
    long retention_counts_s;         /* detector counts, by count time; 0: none */
};

/* Fill every key with its default. */
void config_defaults(struct config *c);
/* Read an INI file over the current values. Returns 0, or -1 with
 * "file:line: key: message" in err. */
int config_load_file(struct config *c, const char *path, char *err, size_t errlen);
/* Set "section.key" from text. file/line only label the error. */
int config_set(struct config *c, const char *dotted_key, const char *value,
               const char *file, int line, char *err, size_t errlen);
/* The effective GTFS dir: transit.gtfs_dir or <map.dir>/gtfs. */
const char *config_gtfs_dir(const struct config *c, char *buf, size_t len);

#endif
