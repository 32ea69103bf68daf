/* module.h -- the one shape of an API module, and the two helpers every
 * module uses to live with the store: a lifetime (store callbacks in
 * flight, stopped or not) and the restore of its state from Redis.
 *
 * An API module (api_*.c) is a const struct api_module. server.c starts
 * them in the order of its table (a module may rely on those before it:
 * sessions on the parking registry), stops them all -- in reverse --
 * before the HTTP server and the store are freed, and frees them -- in
 * reverse -- after: so every store callback has come back (store_free
 * answers the pending ones) before a module's memory goes, and a later
 * module that calls into an earlier one is gone first. No module asks
 * another whether it is ready; /v1/health asks them all (server_ready).
 *
 * Restore. A module's state is loaded from Redis in steps (struct
 * restore_ops): each step issues commands (restore_cmd), pages through
 * long reads by issuing the next page from a reply, and may list work
 * items (ids) whose commands the engine issues with at most
 * a paced window of replies outstanding. Any failed command abandons the
 * attempt (its late replies are dropped by generation) and a new one
 * starts after a backoff; the first complete attempt makes the module
 * ready. The same engine re-reads single objects after a write whose
 * outcome is unknown (STORE_TIMEOUT, store.h): restore_reread(id), retried
 * with the same backoff until a read succeeds, so memory ends up as a
 * restart would restore it. */
#ifndef CITYD_MODULE_H
#define CITYD_MODULE_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"
#include "store.h"

struct app;
struct dict;
struct event;

struct api_module {
    const char *name;
    /* Build the state, register the routes (a route that cannot be
     * registered fails the start, naming it), start restoring. Returns
     * 0, or -1 with err; stop and free are then still called. */
    int (*start)(struct app *a, char *err, size_t errlen);
    /* Before the HTTP server and the store are freed: end streams and
     * timers, drop queued requests; store callbacks from now on only free
     * what they carry (lifetime_release returns false). */
    void (*stop)(struct app *a);
    /* After the HTTP server and the store are freed: release the state. */
    void (*free)(struct app *a);
    /* State restored: every endpoint can serve. */
    bool (*ready)(const struct app *a);
};

/* The modules, in server.c's table. */
extern const struct api_module api_health_module, api_parking_module, api_sessions_module,
    api_transit_module, api_signals_module, api_adaptive_module, api_apps_module,
    api_web_module, api_city_module, api_lists_module;

/* A module's routes, registered together (http_route for each, with
 * arg): the first that fails stops it with "<module>: cannot register
 * route <METHODS> <pattern>" in err, and -1. */
struct module_route {
    unsigned methods;
    const char *pattern;
    enum role need;
    bool is_public;
    http_handler *fn;
};
int module_routes(struct http_server *h, const char *module, const struct module_route *routes,
                  size_t n, void *arg, char *err, size_t errlen);

/* Answer a request whose store call failed: 503 store_timeout when the
 * outcome is unknown (st == STORE_TIMEOUT: the caller re-reads what it
 * may have missed), else 503 store_unavailable. Both with Retry-After. */
void module_reply_store(struct http_req *r, enum store_status st);

/* ---- lifetime ---- */

struct lifetime {
    unsigned inflight;       /* store callbacks still to come */
    bool stopped;
};

/* A store callback is coming (call before issuing the command; if the
 * command cannot be queued, release). */
static inline void lifetime_hold(struct lifetime *lt)
{
    lt->inflight++;
}

/* It came: true when the module still runs and may act on it (false
 * after stop: free what the callback carries, nothing else). */
static inline bool lifetime_release(struct lifetime *lt)
{
    lt->inflight--;
    return !lt->stopped;
}

/* In a module's free: every callback must have come back (logs if not). */
void lifetime_check(const struct lifetime *lt, struct app *a, const char *module);

/* ---- restore ---- */

/* Replies outstanding at most. The window starts small and paces itself
 * (add one per prompt reply, halve on a late one): a reply is late when it
 * took more than a quarter of the store's timeout, since everything else
 * on the connection, its PING included, waits behind the window. It is
 * also never more replies than handling them (at their recent cost) takes
 * that quarter: replies wait on the process too, not only on Redis. */
#define RESTORE_WINDOW 2048
#define RESTORE_WINDOW_MIN 8
#define RESTORE_WINDOW_START 64

struct restore;
/* A reply of the current attempt, command succeeded (id as given). */
typedef void restore_reply_fn(struct restore *r, const char *id, const struct store_reply *reply);
/* Issue the commands of one work item. */
typedef void restore_item_fn(struct restore *r, const char *id);

struct restore_ops {
    const char *name;        /* in the log: <name>_restored, <name>_restore_retry */
    /* Step k (0, 1, ...) of an attempt: issue its commands and/or list its
     * work; false when there is no step k: the attempt is complete.
     * Step 0 resets what an abandoned attempt left. */
    bool (*step)(struct restore *r, int k);
    /* The attempt is complete: swap in, log. */
    void (*done)(struct restore *r);
    /* Re-read object `id` (see restore_reread); NULL if never needed. */
    restore_item_fn *reread;
};

struct restore {
    struct app *a;
    struct lifetime *lt;
    const struct restore_ops *ops;
    void *arg;               /* the module's state */
    struct restore *next;    /* a->restores */
    unsigned gen;            /* attempt or re-read pass; older replies are dropped */
    int step;
    enum { RESTORE_IDLE, RESTORE_FULL, RESTORE_REREAD } mode;
    size_t pending;          /* replies outstanding */
    bool begun;              /* restore_begin was called */
    bool failed;             /* this attempt failed: a retry is scheduled */
    bool ready;              /* an attempt has completed */
    bool again;              /* restore_again while running: another attempt after */
    char **work;             /* work items of the current step (owned) */
    size_t nwork, capwork, next_work;
    restore_item_fn *item;
    struct dict *rereads;    /* ids waiting for a re-read */
    struct event *timer;     /* the next attempt (backoff) */
    int backoff_ms;
    size_t window;           /* replies outstanding at most (paced) */
    uint64_t late_us;        /* a reply slower than this halves the window */
    uint64_t cost_us;        /* handling a reply lately (moving mean), 0: none yet */
    uint64_t issued;         /* commands issued, ever */
    uint64_t halved_at;      /* `issued` when the window was last halved */
};

/* Set up (not started). Returns 0, or -1 on OOM. */
int restore_init(struct restore *r, struct app *a, struct lifetime *lt,
                 const struct restore_ops *ops, void *arg);
/* Start the first attempt (at once, or as soon as the store is up). */
void restore_begin(struct restore *r);
/* A new full attempt (e.g. a gap in a change feed), the module staying
 * ready meanwhile if it was. */
void restore_again(struct restore *r);
/* Stop the timer; late replies do nothing. Part of the module's stop. */
void restore_stop(struct restore *r);
void restore_free(struct restore *r);
bool restore_ready(const struct restore *r);
/* A full attempt is running or due (the first, or restore_again's). */
bool restore_syncing(const struct restore *r);
/* Ready and no re-read outstanding: what memory shows is what Redis has
 * (a write whose outcome is unknown has been resolved). */
bool restore_settled(const struct restore *r);

/* Issue one command of the current attempt or pass; fn gets the reply
 * when it succeeds (any failure or error reply abandons the attempt and
 * schedules another). id (may be NULL) is handed back. Returns 0, or -1
 * (then the attempt has failed). */
int restore_cmd(struct restore *r, restore_reply_fn *fn, const char *id, int argc,
                const char **argv);
/* The current attempt cannot go on (out of memory): retried later. */
void restore_failed(struct restore *r, const char *why);
/* Add a work item to the current step; item(r, id) is called for each,
 * with at most the paced window of replies outstanding. */
int restore_work_add(struct restore *r, restore_item_fn *item, const char *id);

/* Page through the set at `key` (SSCAN): each member a work item of the
 * current step, for item. */
void restore_scan(struct restore *r, const char *key, restore_item_fn *item);

/* A write touching `id` ended with an unknown outcome: re-read it (ops->
 * reread) until a read succeeds. */
void restore_reread(struct restore *r, const char *id);

/* The store is up again (server.c): pending attempts and re-reads go at
 * once instead of waiting for their backoff. */
void restore_store_up(struct app *a);

#endif
