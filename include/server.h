/* server.h -- start-up, run loop, drain and shutdown of cityd, and the
 * --check mode. Owns the order in which subsystems come up and go down. */
#ifndef CITYD_SERVER_H
#define CITYD_SERVER_H

#include <stdbool.h>
#include <stddef.h>

struct app;

/* Bring everything up from a->cfg (event base, embedded Redis, store,
 * map, HTTP, routes). Returns 0, or -1 with a message in err. On failure
 * call server_stop to release what was started. */
int server_start(struct app *a, char *err, size_t errlen);
/* Run the event loop until SIGTERM/SIGINT has drained the server. */
int server_run(struct app *a);
/* Free everything server_start created (safe on a partial start). */
void server_stop(struct app *a);
/* Every API module has started and restored its state (module.h ready);
 * else false, with the first that has not in *waiting (may be NULL). */
bool server_ready(const struct app *a, const char **waiting);
/* --check: load config-dependent files (keys, map, feeds), print every
 * problem on stderr; returns the number of problems. */
int server_check(const struct app *a);

#endif
