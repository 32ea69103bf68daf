/* support.h -- helpers shared by the unit and integration tests.
 *
 * Real processes, real sockets: a private redis-server on a free port in
 * a temp dir (started in the foreground as a child, polled with PING,
 * killed by PID), bin/cityd started with -o overrides, and a small libcurl
 * HTTP client. Nothing here fakes a behaviour under test. */
#ifndef CITYD_TEST_SUPPORT_H
#define CITYD_TEST_SUPPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A free TCP port on 127.0.0.1 (bind to 0, read it back, close). */
int support_free_port(void);
/* mkdtemp under $TMPDIR; returns a malloc'd path. */
char *support_tmpdir(const char *prefix);
/* rm -rf path (for temp dirs only). */
void support_rmrf(const char *path);

struct test_redis {
    pid_t pid;
    int port;
    char dir[256];                 /* data dir (AOF lives here) */
    char url[64];                  /* "redis://127.0.0.1:<port>" */
    bool cluster1;                 /* started by support_redis_start_cluster1 */
    int cluster_port;              /* its cluster bus */
    bool cluster;                  /* a Redis Cluster node (support_cluster_*) */
};
/* Start redis-server (AOF on, everysec) on a free port in a fresh temp
 * dir; waits until PING answers. Returns 0. */
int support_redis_start(struct test_redis *r);
/* The same as a one-node Redis Cluster (cluster-enabled, every slot its
 * own; waits for cluster_state:ok): plain clients work, and Redis refuses
 * a transaction or script whose keys span slots (CROSSSLOT), so cityd on
 * it shows that every batch it sends touches one slot. */
int support_redis_start_cluster1(struct test_redis *r);
/* Restart on the same port and dir (after a kill); waits for PING. */
int support_redis_restart(struct test_redis *r);
/* SIGKILL (hard) or SIGTERM; waits for exit. */
void support_redis_kill(struct test_redis *r, bool hard);
/* Kill and remove the dir. */
void support_redis_stop(struct test_redis *r);
/* Run `redis-cli -p <port> <args>` through sh (so printf can make binary
 * arguments); the first line of the answer as a number (-1: none). */
long long support_redis_int(const struct test_redis *r, const char *args);
/* Entries of the stream key whose ids are at or after min_id ("-": all). */
long long support_stream_count(const struct test_redis *r, const char *key, const char *min_id);
/* The milliseconds of the id of the stream's first entry, or of its last
 * with last; -1 when it has none. */
long long support_stream_edge_ms(const struct test_redis *r, const char *key, bool last);

/* A local Redis Cluster: 3 masters and 3 replicas (redis-server 7.0,
 * cluster-node-timeout 1000, cluster-require-full-coverage no so that a
 * failing shard does not stop the others, AOF with appendfsync always), each node on
 * a free port whose cluster bus port (+10000) is free too, made with
 * `redis-cli --cluster create ... --cluster-replicas 1`. node[0..2] start
 * as masters. Restarting a killed node (support_redis_restart) brings it
 * back with its nodes.conf: it rejoins, as a replica if it was failed
 * over. */
#define CLUSTER_NODES 6
struct test_cluster {
    struct test_redis node[CLUSTER_NODES];
    char url[512];                 /* "redis-cluster://127.0.0.1:p0,..." (the masters) */
};
/* A base port p such that p..p+n-1 and their cluster bus ports (+10000)
 * are free (-1: none found). */
int support_free_cluster_ports(int n);
/* Start and wait until every node says cluster_state:ok and every slot is
 * served. Returns 0, or -1 (whatever started is stopped). */
int support_cluster_start(struct test_cluster *c);
/* Stop every node and remove their dirs. */
void support_cluster_stop(struct test_cluster *c);
/* Index of the node a live node names as master of slot (-1: none). */
int support_cluster_master_of(const struct test_cluster *c, unsigned slot);
/* Wait until every live node says cluster_state:ok and, with all six
 * alive, every master has a replica in sync (0), or ms pass (-1). */
int support_cluster_wait_ok(const struct test_cluster *c, int ms);
/* Run `redis-cli -p <port> args` and copy the whole answer into out
 * (NUL-terminated, truncated). Returns the length or -1. */
int support_redis_text(const struct test_redis *r, const char *args, char *out, size_t n);

struct test_cityd {
    pid_t pid;
    int port;
    char base[64];                 /* "http://127.0.0.1:<port>" */
    char dir[256];                 /* temp dir for keys file, logs */
    char log_path[300];            /* stderr of cityd */
};
/* Start $CITYD_BIN (default bin/cityd) with `-o` overrides:
 * server.listen on a free port, redis.url, auth.keys_file (a keys file
 * with admin/reader/sensor/operator/engineer keys named after the role:
 * "k-admin", "k-reader", ...), log level debug, then `extra` (NULL-
 * terminated list of "section.key=value"). Waits until /v1/health says
 * ready (200) -- at most 10 s (support_timeout_ms), then an answering
 * 503 will do. */
int support_cityd_start(struct test_cityd *c, const char *redis_url, const char *const *extra);
/* The same without waiting: the process is started, nothing more. */
int support_cityd_spawn(struct test_cityd *c, const char *redis_url, const char *const *extra);
/* Send a signal (0: none, just wait) and wait for exit, at most
 * support_timeout_ms(timeout_ms); returns the exit status (or -1). */
int support_cityd_signal_wait(struct test_cityd *c, int sig, int timeout_ms);
void support_cityd_stop(struct test_cityd *c);

struct http_result {
    long status;
    char *body;                    /* malloc'd, NUL-terminated */
    size_t len;
    char content_type[128];
    char retry_after[32];
    char allow[128];
    char acao[128];                /* Access-Control-Allow-Origin */
    json_t *json;                  /* parsed body when it is JSON, else NULL */
};
void http_result_free(struct http_result *r);
/* Perform a request. key may be NULL (no Authorization). body may be
 * NULL. content_type defaults to application/json. timeout in ms, as
 * given (a test may expect it to expire). */
int support_http(const char *method, const char *url, const char *key, const void *body,
                 size_t body_len, const char *content_type, int timeout_ms,
                 struct http_result *out);
/* Shorthands with a 5 s timeout (support_timeout_ms); url is base + path. */
int support_get(const char *base, const char *path, const char *key, struct http_result *out);
int support_send(const char *method, const char *base, const char *path, const char *key,
                 const char *json_body, struct http_result *out);
/* GET base + path with an Accept header, no key, 5 s timeout (likewise). */
int support_get_accept(const char *base, const char *path, const char *accept,
                       struct http_result *out);
/* Error code of a spec error body, or "" */
const char *support_error_code(const struct http_result *r);
/* The whole file (malloc'd; "" when it cannot be read). */
char *support_slurp(const char *path);
/* Run argv (argv[0] a path) with stdout and stderr into files in dir;
 * *out and *err receive them (malloc'd). Returns the exit status, -1 if
 * it did not exit. */
int support_run(const char *const *argv, const char *dir, char **out, char **err);
/* Where bin/citysim is: $CITYSIM_BIN, else citysim beside $CITYD_BIN,
 * else bin/citysim. */
void support_citysim_path(char *buf, size_t n);
/* ms times $CITYD_TEST_TIMEOUT_SCALE (a whole number, default 1): how
 * long to wait for cityd before giving up. tests/valgrind/run.sh sets it,
 * cityd under valgrind being some 20-50 times slower; a test asserting
 * that something takes at most ms must not use it. */
int support_timeout_ms(int ms);
/* A mapping of process pid (0: this one) names needle ("libasan"). */
bool support_proc_maps_has(pid_t pid, const char *needle);
/* Process pid (0: this one) runs under valgrind's memcheck (make
 * valgrind), which runs one thread at a time and inflates its RSS. */
bool support_under_valgrind(pid_t pid);
/* Sleep ms. */
void support_sleep_ms(int ms);
/* Run an event loop until cond(arg) holds or ms pass; returns cond(arg)
 * (cond NULL: just run for ms). A lost callback shows up as a failed
 * assertion, never as a hang. */
struct event_base;
typedef bool support_cond_fn(const void *arg);
bool support_run_until(struct event_base *base, support_cond_fn *cond, const void *arg, int ms);

#endif
