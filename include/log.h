/* log.h -- structured key=value logging to stderr.
 *
 * Every line is one event: `ts=<iso8601> level=<lvl> event=<name> k=v ...`.
 * The logger is a plain value owned by the application context; modules
 * keep a const pointer to it. Values containing spaces, quotes or '=' are
 * quoted by log_write's callers via the %q-free helper log_quote(). */
#ifndef CITYD_LOG_H
#define CITYD_LOG_H

#include <stdbool.h>
#include <stdio.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

struct log_limit;

struct log {
    enum log_level level;
    FILE *out;           /* not owned; stderr unless a test redirects it */
    struct log_limit *limit;   /* owned; NULL: every line is written */
};

/* Initialise with level info writing to stderr, no rate limit. */
void log_init(struct log *lg);

/* Let each event (by name) write at most per_second lines a second (0:
 * no limit, the default); the lines over it are counted, and the count
 * goes out as one line `event=log_suppressed of=<event> suppressed=N`
 * (at the event's level) before the next line logged after that second,
 * or at log_close. Safe to log from several threads. -1 when out of
 * memory. */
int log_set_rate(struct log *lg, unsigned per_second);
/* Write what is still counted, and free the rate limit (the logger stays
 * usable, unlimited). */
void log_close(struct log *lg);

/* Parse "debug" / "info" / "warn" / "error". Returns 0 or -1. */
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level lvl);

/* Write one line: the event name, then `fmt` which should expand to
 * space-separated key=value pairs (may be NULL or ""). */
void log_write(const struct log *lg, enum log_level lvl, const char *event,
               const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Quote `in` for use as a value: returned as-is when it has no space,
 * quote, '=' or control char, else double-quoted with escapes.
 * Writes into buf (always NUL-terminated) and returns buf. */
const char *log_quote(char *buf, size_t len, const char *in);

#define log_debug(lg, ev, ...) log_write((lg), LOG_DEBUG, (ev), __VA_ARGS__)
#define log_info(lg, ev, ...)  log_write((lg), LOG_INFO, (ev), __VA_ARGS__)
#define log_warn(lg, ev, ...)  log_write((lg), LOG_WARN, (ev), __VA_ARGS__)
#define log_error(lg, ev, ...) log_write((lg), LOG_ERROR, (ev), __VA_ARGS__)

#endif
