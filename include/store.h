/* store.h -- the Redis store: the only module that includes hiredis.
 *
 * Asynchronous commands over hiredis' libevent adapter. Guarantees:
 *  - every callback passed to store_cmd*() is called exactly once, from
 *    the event loop (never from inside store_cmd itself), with either a
 *    reply or a failure status;
 *  - every command has a timeout (opts.timeout_ms, a libevent timer);
 *  - while Redis is unreachable commands fail fast with STORE_DOWN, and
 *    the store reconnects by itself with exponential backoff;
 *  - a periodic PING measures round-trip latency and up/down.
 *
 * Replies are exposed through accessor functions on an opaque type so
 * that no other module sees hiredis. A reply pointer is only valid during
 * the callback. */
#ifndef CITYD_STORE_H
#define CITYD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct log;
struct store;
struct store_reply;          /* opaque: hiredis' redisReply */

enum store_status {
    STORE_OK = 0,            /* reply present (may be a Redis error reply) */
    STORE_DOWN,              /* not connected / connection lost */
    STORE_TIMEOUT,           /* no reply within timeout_ms */
};

enum store_reply_type {
    STORE_R_NIL, STORE_R_STRING, STORE_R_STATUS, STORE_R_INTEGER,
    STORE_R_ARRAY, STORE_R_ERROR, STORE_R_OTHER,
};

struct store_opts {
    const char *url;          /* "redis://host:port" or "unix:/path" */
    int timeout_ms;           /* per-command timeout (default 2000) */
    int connect_timeout_ms;   /* default 1000 */
    int backoff_min_ms;       /* first reconnect delay (default 50) */
    int backoff_max_ms;       /* cap (default 2000) */
    int ping_interval_ms;     /* health PING period (default 1000) */
};

/* Called on every transition up/down (up=true after a successful connect
 * and first PING, false on loss). Optional. */
typedef void store_state_fn(void *arg, bool up);

/* Reply callback. `r` is NULL unless st == STORE_OK; valid only during
 * the call. */
typedef void store_cb(void *arg, enum store_status st, const struct store_reply *r);

/* Create and start connecting. Returns NULL and fills err on bad url.
 * The store does not own base or lg. */
struct store *store_new(struct event_base *base, const struct store_opts *opts,
                        const struct log *lg, char *err, size_t errlen);
/* Disconnect; pending callbacks are called with STORE_DOWN first. */
void store_free(struct store *s);

void store_set_state_cb(struct store *s, store_state_fn *fn, void *arg);
bool store_is_up(const struct store *s);
/* Last measured PING round trip in microseconds (0 if none yet). */
uint64_t store_last_rtt_us(const struct store *s);
/* Append Prometheus metrics of the store (rtt histogram, up gauge,
 * command counters) to buf; see metrics.h. */
struct metrics;
void store_bind_metrics(struct store *s, struct metrics *m);

/* Issue a command from argv/lens (binary safe). Returns 0; the callback
 * will be called exactly once. cb may be NULL (fire and forget). */
int store_cmd_argv(struct store *s, store_cb *cb, void *arg, int argc,
                   const char **argv, const size_t *lens);
/* printf-like, hiredis format rules: %s string, %b binary (ptr,len). */
int store_cmdf(struct store *s, store_cb *cb, void *arg, const char *fmt, ...);

/* A transaction: commands sent together inside MULTI/EXEC and answered
 * with ONE callback holding EXEC's array reply (element i = reply to
 * command i). All commands of a batch should share one hash tag so the
 * batch stays valid under Redis Cluster. Build with store_batch_*, then
 * store_batch_send. */
struct store_batch;
struct store_batch *store_batch_new(void);
void store_batch_free(struct store_batch *b);
int store_batch_addf(struct store_batch *b, const char *fmt, ...);
int store_batch_add_argv(struct store_batch *b, int argc, const char **argv, const size_t *lens);
size_t store_batch_count(const struct store_batch *b);
/* Takes ownership of b. The callback receives an ARRAY reply whose
 * element i is the reply to command i. */
int store_batch_send(struct store *s, struct store_batch *b, store_cb *cb, void *arg);

/* Reply accessors. */
enum store_reply_type store_reply_type(const struct store_reply *r);
const char *store_reply_str(const struct store_reply *r, size_t *len);
long long store_reply_int(const struct store_reply *r);
size_t store_reply_len(const struct store_reply *r);          /* array elements */
const struct store_reply *store_reply_at(const struct store_reply *r, size_t i);

/* Synchronous blocking helper for start-up and tools only (never on the
 * serving path): connect, run one command, copy the reply string or
 * integer. Returns 0 on success. */
int store_sync_ping(const char *url, int timeout_ms, char *err, size_t errlen);

#endif
