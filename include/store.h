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
 * the callback.
 *
 * Redis Cluster (url "redis-cluster://h:p[,h:p...]"): the same API, with
 * one connection per master and a slot map (CLUSTER SLOTS: asked of the
 * seeds at start, again after MOVED, after a connection is lost and every
 * 5 s). Routing: every command goes to the master of the slot of its
 * first key, which the store finds by itself (so callers need not say):
 * argument 1 for ordinary commands, argument 3 for EVAL/EVALSHA/FCALL
 * when numkeys > 0 (so the first KEYS[] element), the first stream after
 * STREAMS for XREAD; commands without a key (PING, INFO, SCRIPT, ...) go
 * to any master. A command with keys in several slots gets Redis'
 * CROSSSLOT error; a batch must have all its keys in one slot (one hash
 * tag, keys.h) -- one spanning slots is a programming error: refused on
 * a cluster (store_batch_send returns -1), and counted
 * (cityd_store_cross_slot_batches_total) and logged at error level on a
 * single Redis too, so tests catch it there. MOVED and ASK are followed
 * (at most 16 hops); TRYAGAIN, CLUSTERDOWN, LOADING, MASTERDOWN and a
 * master with no connection up (refused, failing over) are waited out
 * with backoff, then the command is sent again -- all within the
 * command's timeout_ms, after which it fails with STORE_DOWN (it never
 * ran). A command sent on a connection that died, or not answered in
 * time, is STORE_TIMEOUT as with one Redis and is never sent again. The
 * store is "up" (store_is_up, the state callback) while every slot's
 * master has a connection up; commands to slots that are up succeed
 * while others are failing over. No pub/sub: cityd polls its change
 * feeds (XREAD), which work on a cluster like any key.
 *
 * WAIT (opts.wait_replicas > 0, any mode): every write -- a batch, a
 * script call, or a command outside the store's read-only table -- is
 * followed on its connection by WAIT wait_replicas wait_timeout_ms, and
 * answered STORE_OK only once WAIT confirms that many replicas hold it;
 * otherwise STORE_TIMEOUT (it applied on the master and may yet be lost
 * in a failover: the caller's usual unknown outcome, 503 store_timeout,
 * retry with the same id). Error replies are answered as they are. */
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
    STORE_DOWN,              /* not sent (not connected): nothing applied */
    STORE_TIMEOUT,           /* outcome unknown: sent, but no reply within
                                timeout_ms or the connection died first */
};

/* STORE_TIMEOUT means the command may have run, or may still run. The
 * store fences it: a command issued after that callback and answered
 * STORE_OK ran after everything the unanswered one will ever do (on the
 * same connection replies are in order; a new connection kills the dead
 * one -- CLIENT KILL ID .. ADDR .. in its handshake -- before it serves).
 * So re-reading what a timed-out write touched, until a read succeeds,
 * gives the state it left: that is how a caller resolves "unknown". */

enum store_reply_type {
    STORE_R_NIL, STORE_R_STRING, STORE_R_STATUS, STORE_R_INTEGER,
    STORE_R_ARRAY, STORE_R_ERROR, STORE_R_OTHER,
};

struct store_opts {
    const char *url;          /* "redis://host:port", "unix:/path", "redis-cluster://h:p,..." */
    int timeout_ms;           /* per-command timeout (default 2000) */
    int connect_timeout_ms;   /* default 1000 */
    int backoff_min_ms;       /* first reconnect delay (default 50) */
    int backoff_max_ms;       /* cap (default 2000) */
    int ping_interval_ms;     /* health PING period (default 1000) */
    int wait_replicas;        /* > 0: writes confirmed by WAIT (default 0: not) */
    int wait_timeout_ms;      /* WAIT's timeout (default 200) */
};

/* Called on every transition up/down (up=true after a successful connect
 * and first PING, false on loss, on a PING timeout or error reply such as
 * -LOADING). Optional. Not called by store_free. */
typedef void store_state_fn(void *arg, bool up);

/* Reply callback. `r` is NULL unless st == STORE_OK; valid only during
 * the call. */
typedef void store_cb(void *arg, enum store_status st, const struct store_reply *r);

/* Create and start connecting. Returns NULL and fills err on bad url.
 * opts is required (zero fields take the defaults) and not kept. url
 * forms: "redis://host[:port][/db]" (port 6379 by default, host resolved
 * with a blocking lookup at each connect: prefer an address) and
 * "unix:/path". Commands are accepted only while the store is up, so
 * the first ones fail with STORE_DOWN until the connection's first PING
 * is answered. The store does not own base or lg. */
struct store *store_new(struct event_base *base, const struct store_opts *opts,
                        const struct log *lg, char *err, size_t errlen);
/* Disconnect; pending callbacks are called with STORE_DOWN before it
 * returns, and registered scripts are freed. Must not be called from inside a store callback (reply or
 * state): that is detected and aborts. */
void store_free(struct store *s);

void store_set_state_cb(struct store *s, store_state_fn *fn, void *arg);
bool store_is_up(const struct store *s);
/* Last measured PING round trip in microseconds (0 if none yet). */
uint64_t store_last_rtt_us(const struct store *s);
/* Register the store's series in m (see metrics.h) and keep them up to
 * date: cityd_redis_command_seconds (histogram of command round trips),
 * cityd_redis_ping_seconds and cityd_redis_up (gauges),
 * cityd_redis_commands_total{result="ok|down|timeout"}. m must outlive s. */
struct metrics;
void store_bind_metrics(struct store *s, struct metrics *m);

/* Cluster state, for /v1/health and tests. */
struct store_stats {
    unsigned long long moved, ask;      /* redirects followed */
    unsigned long long retries;         /* sends after a wait (no master up, TRYAGAIN...) */
    unsigned long long failovers;       /* replicas seen promoted to master */
    unsigned long long cross_slot;      /* batches spanning slots */
    unsigned long long wait_failed;     /* writes WAIT did not confirm */
};
struct store_node_info {
    char addr[304];                     /* host:port */
    bool up, master;
    unsigned slots;                     /* slots it serves */
    int replicas;                       /* replicas the map lists for it */
};
bool store_is_cluster(const struct store *s);
const struct store_stats *store_get_stats(const struct store *s);
/* Slots whose master has a connection up (cluster; 0 otherwise). */
unsigned store_slots_up(const struct store *s);
/* The masters of the slot map and the other nodes it lists that have a
 * connection up; at most max. 0 for a single Redis. */
size_t store_nodes(const struct store *s, struct store_node_info *out, size_t max);

/* Issue a command from argv/lens (binary safe; lens may be NULL for C
 * strings). Returns 0; the callback will be called exactly once. cb may
 * be NULL (fire and forget). Returns -1, and never calls back, only for a
 * command that cannot be sent: no arguments, a bad format, out of memory,
 * or a command that would break the shared connection (SUBSCRIBE and
 * friends, MONITOR, MULTI/EXEC/DISCARD/WATCH/UNWATCH -- use store_batch --,
 * SELECT -- put the db in the url --, QUIT, RESET, ASKING). */
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
/* Add a command; 0, or -1 (batch unchanged) as for store_cmd_argv. */
int store_batch_addf(struct store_batch *b, const char *fmt, ...);
int store_batch_add_argv(struct store_batch *b, int argc, const char **argv, const size_t *lens);
size_t store_batch_count(const struct store_batch *b);
/* Takes ownership of b (freed even on failure). The callback receives
 * an ARRAY reply whose element i is the reply to command i (a command
 * that fails when run is an ERROR element, the others still apply); if
 * Redis refuses the transaction at queueing time (unknown command, wrong
 * arity) the reply is EXEC's ERROR (-EXECABORT) and nothing applied. An
 * empty batch answers an empty array. Returns 0, or -1 on OOM (no
 * callback). */
int store_batch_send(struct store *s, struct store_batch *b, store_cb *cb, void *arg);

/* Lua scripts. store_script_new registers `lua` (copied) with the store,
 * which owns it until store_free (the handle stays valid as long as s).
 * The store loads every registered script (SCRIPT LOAD) in the handshake
 * of each connection it opens -- a script registered later at once --,
 * so a script is present on whatever server a connection talks to: a
 * cluster-aware store with one connection per node runs the same
 * handshake on each node and gets every script there, replicas promoted
 * by a failover included (their connection is new). Calls go by SHA1
 * (EVALSHA); when Redis answers NOSCRIPT (SCRIPT FLUSH, a server that
 * missed the load) the call is sent again with the text (EVAL, which also
 * puts the script back into that server's cache), and the caller sees
 * only the script's reply. NULL on OOM. */
struct store_script;
struct store_script *store_script_new(struct store *s, const char *lua);
/* Run a script: argv holds nkeys keys, then the other arguments
 * (argc in all; lens NULL for C strings). Returns as store_cmd_argv. */
int store_script_eval(struct store *s, const struct store_script *sc, store_cb *cb, void *arg,
                      int nkeys, int argc, const char **argv, const size_t *lens);
/* The same call as one command of a batch. A batch whose script calls
 * find no script gets them run again (as EVAL) in a second transaction
 * right after the first, and one callback with EXEC's array as if they
 * had run in the first: so put in one batch only calls that do not need
 * to be atomic with each other (one per object, say). If that second
 * transaction fails, the callback gets STORE_TIMEOUT (the first part
 * did apply: the outcome is unknown). */
int store_batch_script(struct store_batch *b, const struct store_script *sc, int nkeys,
                       int argc, const char **argv, const size_t *lens);

/* Reply accessors; all accept NULL (a NIL reply). store_reply_str gives
 * the bytes of STRING, STATUS and ERROR replies (NUL-terminated, len
 * optional), else NULL. store_reply_int gives an INTEGER, or a STRING /
 * STATUS that is exactly a decimal integer, else 0. */
enum store_reply_type store_reply_type(const struct store_reply *r);
const char *store_reply_str(const struct store_reply *r, size_t *len);
long long store_reply_int(const struct store_reply *r);
size_t store_reply_len(const struct store_reply *r);          /* array elements */
const struct store_reply *store_reply_at(const struct store_reply *r, size_t i);

/* A reply parsed from RESP bytes (exactly one reply), for tests and
 * tools; NULL if incomplete or malformed. Free with store_reply_free. */
struct store_reply *store_reply_parse(const char *resp, size_t len);
void store_reply_free(struct store_reply *r);

/* CLUSTER SLOTS parsing (what the store does with the reply; exposed for
 * tests). asked_host replaces a node without an endpoint ("" or "?").
 * NULL with the reason in err for a malformed reply (a slot twice, a bad
 * range or address). */
struct store_slotmap;
struct store_slotmap *store_slotmap_parse(const struct store_reply *r, const char *asked_host,
                                          char *err, size_t errlen);
void store_slotmap_free(struct store_slotmap *m);
/* "host:port" of the master serving slot, NULL if no one does. */
const char *store_slotmap_master(const struct store_slotmap *m, unsigned slot);
size_t store_slotmap_masters(const struct store_slotmap *m);
/* Replicas listed for the master of slot (-1: uncovered). */
int store_slotmap_replicas(const struct store_slotmap *m, unsigned slot);

/* Synchronous blocking helper for start-up and tools only (never on the
 * serving path): connect (and SELECT), PING, expect PONG, each step within
 * timeout_ms. Returns 0, or -1 with the reason in err (e.g. "-LOADING"
 * while Redis loads its AOF). */
int store_sync_ping(const char *url, int timeout_ms, char *err, size_t errlen);

#endif
