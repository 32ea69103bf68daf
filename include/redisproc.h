/* redisproc.h -- the embedded redis-server child (redis.url = embedded).
 *
 * Starts `redis-server` with a unix socket in data_dir, no TCP port, AOF
 * on (appendfsync as configured), and its own log file. Watches it with
 * SIGCHLD-free polling (a libevent timer calling waitpid WNOHANG) and
 * restarts it with backoff if it dies (a restart does not block: the
 * store reconnects when the socket is back). The child is in its own
 * process group (a terminal Ctrl-C reaches cityd only, which drains and
 * then stops it) and gets SIGTERM if cityd dies (PR_SET_PDEATHSIG).
 * redisproc_free stops it (SIGTERM, which makes Redis flush its AOF) and
 * waits. */
#ifndef CITYD_REDISPROC_H
#define CITYD_REDISPROC_H

#include <stddef.h>
#include <sys/types.h>

struct event_base;
struct log;
struct redisproc;

/* server_bin: path or name of redis-server (PATH is searched; NULL or ""
 * = "redis-server"). data_dir is created if missing (mode 0700) and
 * resolved to an absolute path. Blocks until the socket answers PING
 * (no answer for 10 s: given up; -LOADING is an answer that pushes it on).
 * Returns NULL with err on failure to start (binary missing, dir not
 * writable, socket path too long, another redis-server already on the
 * socket, server exited -- err quotes the last line of redis.log -- or
 * no answer). */
/* appendfsync: "always" (every acknowledged write is on disk, survives
 * even a SIGKILL of redis-server) or "everysec". */
struct redisproc *redisproc_start(struct event_base *base, const char *server_bin,
                                  const char *data_dir, const char *appendfsync,
                                  const struct log *lg, char *err, size_t errlen);
/* redisproc_start in two halves, so that the caller can do its own
 * start-up while Redis loads its data (a large AOF takes seconds):
 * redisproc_spawn starts the server (NULL with err as above: binary
 * missing, dir, socket path, another server), redisproc_ready blocks
 * until it answers (-1 with err: it exited, or no answer within 10 s;
 * a server answering -LOADING pushes that on) and watches it from then
 * on. On -1 the caller frees rp. */
struct redisproc *redisproc_spawn(struct event_base *base, const char *server_bin,
                                  const char *data_dir, const char *appendfsync,
                                  const struct log *lg, char *err, size_t errlen);
int redisproc_ready(struct redisproc *rp, char *err, size_t errlen);
/* "unix:/abs/path/to/redis.sock" -- the url to hand to store_new. */
const char *redisproc_url(const struct redisproc *rp);
pid_t redisproc_pid(const struct redisproc *rp);
/* Stop the child (SIGTERM, wait up to 10 s, then SIGKILL) and free.
 * Blocks while Redis shuts down (it writes out its AOF). */
void redisproc_free(struct redisproc *rp);

#endif
