/* metrics.h -- Prometheus counters, gauges and histograms (plain C).
 *
 * A registry owned by the application context. Series are identified by
 * metric name plus an already-formatted label string ("route=\"/v1/x\"").
 * Lookups are by (name, labels) through a dict, so callers on hot paths
 * should keep the returned pointer. metrics_render produces the text
 * exposition format (version 0.0.4). */
#ifndef CITYD_METRICS_H
#define CITYD_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct metrics;
struct metric;                        /* one series */

enum metric_kind { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* Get or create a series. `help` is used the first time the name is
 * seen. For histograms, bucket bounds (seconds) are the fixed latency
 * ladder 0.0005 .. 10. `labels` may be NULL or "" for none. The series
 * is owned by the registry and lives until metrics_free. Returns NULL on
 * OOM, on an invalid metric name, or when `name` was first registered
 * with another kind (a programming error). */
struct metric *metrics_series(struct metrics *m, enum metric_kind kind, const char *name,
                              const char *help, const char *labels);

/* All three accept NULL (a series that could not be created) and do
 * nothing then, so callers need not check. inc/set apply to counters
 * and gauges (a negative increment of a counter is ignored); observe
 * applies to histograms. */
void metric_inc(struct metric *s, double by);
void metric_set(struct metric *s, double v);
void metric_observe(struct metric *s, double value);

/* Render everything. Returns a malloc'd NUL-terminated string (caller
 * frees) and its length in *len (len may be NULL); NULL on OOM. */
char *metrics_render(const struct metrics *m, size_t *len);

/* Format `n` label pairs (kv = {k1, v1, k2, v2, ...}) as
 * k1="v1",k2="v2" with the exposition format's escaping of backslash,
 * double quote and newline in values. Returns 0, or -1 when the result
 * does not fit in buf (buf then holds a truncated, still terminated,
 * string that must not be used). */
int metrics_labels(char *buf, size_t len, const char *const *kv, size_t n);

#endif
