/* ratelimit.h -- token buckets per caller: `rate` tokens a second, up to
 * `burst`, one bucket per string key (an API key's name, a client
 * address).
 *
 * Plain C over dict.h; the caller passes the time, so the HTTP layer can
 * use the event loop's cached clock. A bucket that has refilled is as
 * good as absent, so once RATELIMIT_MAX_KEYS callers are tracked those
 * are dropped; if none can be dropped, a new caller goes through (the
 * table fails open rather than growing without bound). Not thread-safe. */
#ifndef CITYD_RATELIMIT_H
#define CITYD_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>

#define RATELIMIT_MAX_KEYS 65536

struct ratelimit;

/* rate > 0 tokens a second; burst <= 0 means max(rate, 1). NULL when out
 * of memory. */
struct ratelimit *ratelimit_new(double rate, double burst);
void ratelimit_free(struct ratelimit *rl);
/* Take a token from key's bucket at time now (seconds). True when there
 * was one; false with *retry_after set to the seconds until there is
 * (at least 1, whole seconds, for a Retry-After header). */
bool ratelimit_take(struct ratelimit *rl, const char *key, double now, double *retry_after);
/* The same question without taking the token. */
bool ratelimit_peek(const struct ratelimit *rl, const char *key, double now,
                    double *retry_after);
/* Callers tracked (0: every caller has a full bucket). */
size_t ratelimit_size(const struct ratelimit *rl);
double ratelimit_rate(const struct ratelimit *rl);
double ratelimit_burst(const struct ratelimit *rl);

#endif
