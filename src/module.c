/* module.c -- what every API module shares (module.h): route tables,
 * answers to failed store calls, and the restore engine.
 *
 * The engine runs one thing at a time: a full attempt (steps) or a pass
 * of re-reads. Each has a generation; a reply carries the generation it
 * was issued under and is dropped when that is no longer current (the
 * attempt failed, another started, the module stopped). A failure bumps
 * the generation and arms the one timer with a doubling backoff. */
#include "module.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "dict.h"
#include "log.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 1000
#define SCAN_COUNT "1000"                /* members per SSCAN page */

static const char *methods_name(unsigned m, char *buf, size_t len)
{
    static const char *const names[] = {"GET", "POST", "PUT", "DELETE", "HEAD"};
    size_t n = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
        if (m & (1u << i))
            n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s", n ? "," : "", names[i]);
    return buf;
}

int module_routes(struct http_server *h, const char *module, const struct module_route *routes,
                  size_t n, void *arg, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        const struct module_route *rt = &routes[i];
        char m[40];
        if (http_route(h, rt->methods, rt->pattern, rt->need, rt->is_public, rt->fn, arg) != 0) {
            snprintf(err, errlen, "%s: cannot register route %s %s", module,
                     methods_name(rt->methods, m, sizeof m), rt->pattern);
            return -1;
        }
    }
    return 0;
}

void module_reply_store(struct http_req *r, enum store_status st)
{
    if (st == STORE_TIMEOUT)
        http_reply_retry(r, 503, "store_timeout", 1, "the data store did not answer in time: "
                         "the write may or may not have been applied; retrying with the same "
                         "id is safe");
    else
        http_reply_unavailable(r);
}

void lifetime_check(const struct lifetime *lt, struct app *a, const char *module)
{
    if (lt->inflight != 0)
        log_error(&a->log, "module_leak", "module=%s callbacks=%u", module, lt->inflight);
}

/* ---- restore ---- */

struct rcall {
    struct restore *r;
    unsigned gen;
    restore_reply_fn *fn;
    uint64_t seq, t0_us;     /* issue order and time, for pacing */
    char id[];
};

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* A reply came back: grow the window while replies are prompt, halve it
 * (once per window's worth of commands) when one was late. */
static void pace(struct restore *r, const struct rcall *c)
{
    if (mono_us() - c->t0_us <= r->late_us) {
        if (r->window < RESTORE_WINDOW)
            r->window++;
        return;
    }
    if (c->seq < r->halved_at)
        return;                          /* issued before the last halving */
    r->window = r->window / 2 > RESTORE_WINDOW_MIN ? r->window / 2 : RESTORE_WINDOW_MIN;
    r->halved_at = r->issued;
}

static void run_step(struct restore *r);
static void pass_start(struct restore *r);

static void work_clear(struct restore *r)
{
    for (size_t i = 0; i < r->nwork; i++)
        free(r->work[i]);
    r->nwork = r->next_work = 0;
    r->item = NULL;
}

static void schedule(struct restore *r, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (r->timer != NULL && !r->lt->stopped)
        evtimer_add(r->timer, &tv);
}

/* What was being done failed: drop its late replies, try again later
 * (a re-read pass keeps its ids). */
static void fail(struct restore *r, const char *what, enum store_status st,
                 const struct store_reply *reply)
{
    if (r->failed)
        return;
    const char *msg = st == STORE_OK ? store_reply_str(reply, NULL) : NULL;
    char qe[512];
    log_warn(&r->a->log, "restore_retry", "module=%s what=%s step=%d error=%s retry_ms=%d",
             r->ops->name, r->mode == RESTORE_REREAD ? "reread" : "restore", r->step,
             log_quote(qe, sizeof qe,
                       msg ? msg : st == STORE_DOWN ? "store down"
                                 : st == STORE_TIMEOUT ? "timeout" : what),
             r->backoff_ms);
    if (r->mode == RESTORE_REREAD) {
        for (size_t i = 0; i < r->nwork; i++)
            dict_put(r->rereads, r->work[i], (void *)1, NULL);
    }
    r->again |= r->mode == RESTORE_FULL && r->ready;   /* a resync is retried as one */
    if (st == STORE_TIMEOUT)
        r->window = RESTORE_WINDOW_MIN;
    r->failed = true;
    r->gen++;
    r->pending = 0;
    work_clear(r);
    schedule(r, r->backoff_ms);
    r->backoff_ms = r->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : r->backoff_ms * 2;
}

/* The replies this process can handle within late_us at what handling
 * one has cost lately: a reply waits for those ahead of it to be handled
 * (a city's snapshots, parsed on the one thread), however promptly Redis
 * sent it, and its timeout counts that wait. */
static size_t window_now(const struct restore *r)
{
    size_t fit = r->cost_us > 0 ? (size_t)(r->late_us / r->cost_us) : r->window;
    fit = fit > RESTORE_WINDOW_MIN ? fit : RESTORE_WINDOW_MIN;
    return fit < r->window ? fit : r->window;
}

/* Issue work items while the window allows. */
static void pump(struct restore *r)
{
    while (!r->failed && r->pending < window_now(r) && r->next_work < r->nwork)
        r->item(r, r->work[r->next_work++]);
}

/* Nothing outstanding and no work left: the next step, or the end. */
static void advance(struct restore *r)
{
    pump(r);
    if (r->failed || r->pending > 0 || r->next_work < r->nwork)
        return;
    work_clear(r);
    if (r->mode == RESTORE_FULL) {
        r->step++;
        run_step(r);
        return;
    }
    r->mode = RESTORE_IDLE;              /* a re-read pass is complete */
    r->backoff_ms = BACKOFF_MIN_MS;
    if (r->again || dict_size(r->rereads) > 0)
        schedule(r, 0);
}

static void on_reply(void *arg, enum store_status st, const struct store_reply *reply)
{
    struct rcall *c = arg;
    struct restore *r = c->r;
    bool live = lifetime_release(r->lt) && c->gen == r->gen;
    if (live) {
        r->pending--;
        pace(r, c);
        if (st != STORE_OK || store_reply_type(reply) == STORE_R_ERROR) {
            fail(r, "error", st, reply);
        } else {
            uint64_t t0 = mono_us();
            c->fn(r, c->id[0] ? c->id : NULL, reply);
            uint64_t took = mono_us() - t0 + 1;
            r->cost_us = r->cost_us ? (r->cost_us * 7 + took) / 8 : took;
        }
        advance(r);
    }
    free(c);
}

int restore_cmd(struct restore *r, restore_reply_fn *fn, const char *id, int argc,
                const char **argv)
{
    size_t n = id ? strlen(id) : 0;
    struct rcall *c = malloc(sizeof *c + n + 1);
    if (c == NULL || r->failed) {
        free(c);
        fail(r, "out of memory", STORE_OK, NULL);
        return -1;
    }
    *c = (struct rcall){r, r->gen, fn, r->issued++, mono_us()};
    memcpy(c->id, id ? id : "", n + 1);
    lifetime_hold(r->lt);
    r->pending++;
    if (store_cmd_argv(r->a->store, on_reply, c, argc, argv, NULL) == 0)
        return 0;
    lifetime_release(r->lt);
    r->pending--;
    free(c);
    fail(r, "cannot queue a command", STORE_OK, NULL);
    return -1;
}

int restore_work_add(struct restore *r, restore_item_fn *item, const char *id)
{
    if (r->nwork == r->capwork) {
        size_t cap = r->capwork ? r->capwork * 2 : 64;
        char **w = realloc(r->work, cap * sizeof *w);
        if (w == NULL)
            goto oom;
        r->work = w;
        r->capwork = cap;
    }
    if ((r->work[r->nwork] = strdup(id)) == NULL)
        goto oom;
    r->nwork++;
    r->item = item;
    return 0;
oom:
    fail(r, "out of memory", STORE_OK, NULL);
    return -1;
}

static void run_step(struct restore *r)
{
    if (!r->ops->step(r, r->step)) {
        r->mode = RESTORE_IDLE;
        r->backoff_ms = BACKOFF_MIN_MS;
        r->ready = true;
        r->ops->done(r);
        if (r->again || dict_size(r->rereads) > 0)
            schedule(r, 0);
        return;
    }
    if (!r->failed && r->pending == 0 && r->nwork == 0) {
        r->step++;                       /* a step with nothing to do */
        run_step(r);
        return;
    }
    advance(r);
}

static void attempt_start(struct restore *r)
{
    r->gen++;
    r->mode = RESTORE_FULL;
    r->again = false;
    r->failed = false;
    r->pending = 0;
    r->step = 0;
    work_clear(r);
    run_step(r);
}

/* A re-read pass: every id waiting, as work items. */
static void pass_start(struct restore *r)
{
    size_t pos = 0;
    const char *id;
    void *v;
    r->gen++;
    r->mode = RESTORE_REREAD;
    r->failed = false;
    r->pending = 0;
    work_clear(r);
    while (dict_next(r->rereads, &pos, &id, &v) && restore_work_add(r, r->ops->reread, id) == 0)
        ;
    for (size_t i = 0; !r->failed && i < r->nwork; i++)
        dict_del(r->rereads, r->work[i]);
    advance(r);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct restore *r = arg;
    (void)fd;
    (void)what;
    if (r->lt->stopped || (r->mode != RESTORE_IDLE && !r->failed))
        return;                          /* busy: it reschedules when done */
    if (!store_is_up(r->a->store) || r->a->layout_pending) {
        schedule(r, BACKOFF_MIN_MS);     /* restore_store_up calls sooner */
        return;
    }
    if (!r->ready || r->again)
        attempt_start(r);
    else if (r->ops->reread != NULL && dict_size(r->rereads) > 0)
        pass_start(r);
    else
        r->mode = RESTORE_IDLE;
}

int restore_init(struct restore *r, struct app *a, struct lifetime *lt,
                 const struct restore_ops *ops, void *arg)
{
    memset(r, 0, sizeof *r);
    *r = (struct restore){.a = a, .lt = lt, .ops = ops, .arg = arg,
                          .backoff_ms = BACKOFF_MIN_MS, .window = RESTORE_WINDOW_START,
                          .late_us = (uint64_t)a->cfg.redis_timeout_ms * 250u};
    r->rereads = dict_new();
    r->timer = evtimer_new(a->base, on_timer, r);
    if (r->rereads == NULL || r->timer == NULL)
        return -1;
    r->next = a->restores;
    a->restores = r;
    return 0;
}

void restore_begin(struct restore *r)
{
    r->begun = true;
    schedule(r, 0);
}

void restore_again(struct restore *r)
{
    r->again = true;
    if (r->mode == RESTORE_IDLE || r->failed)
        schedule(r, 0);
}

void restore_stop(struct restore *r)
{
    if (r->timer != NULL)
        evtimer_del(r->timer);
    r->gen++;
}

void restore_free(struct restore *r)
{
    if (r->a == NULL)
        return;                          /* never initialised */
    struct restore **p = &r->a->restores;
    while (*p != NULL && *p != r)
        p = &(*p)->next;
    if (*p == r)
        *p = r->next;
    work_clear(r);
    free(r->work);
    dict_free(r->rereads, NULL);
    if (r->timer != NULL)
        event_free(r->timer);
    memset(r, 0, sizeof *r);
}

bool restore_ready(const struct restore *r)
{
    return r->ready;
}

void restore_failed(struct restore *r, const char *why)
{
    fail(r, why, STORE_OK, NULL);
}

bool restore_syncing(const struct restore *r)
{
    return !r->ready || r->again || r->mode == RESTORE_FULL;
}

bool restore_settled(const struct restore *r)
{
    return r->ready && r->mode != RESTORE_REREAD && dict_size(r->rereads) == 0;
}

/* A page of the set: [cursor, [member, ...]]; the key came as id. */
static void scan_cb(struct restore *r, const char *key, const struct store_reply *reply)
{
    const char *cursor = store_reply_str(store_reply_at(reply, 0), NULL);
    const struct store_reply *m = store_reply_at(reply, 1);
    for (size_t i = 0; i < store_reply_len(m); i++) {
        const char *v = store_reply_str(store_reply_at(m, i), NULL);
        if (v != NULL && restore_work_add(r, r->item, v) != 0)
            return;
    }
    if (cursor != NULL && strcmp(cursor, "0") != 0) {
        const char *argv[] = {"SSCAN", key, cursor, "COUNT", SCAN_COUNT};
        restore_cmd(r, scan_cb, key, 5, argv);
    }
}

void restore_scan(struct restore *r, const char *key, restore_item_fn *item)
{
    const char *argv[] = {"SSCAN", key, "0", "COUNT", SCAN_COUNT};
    r->item = item;
    restore_cmd(r, scan_cb, key, 5, argv);
}

void restore_reread(struct restore *r, const char *id)
{
    if (r->ops->reread == NULL || r->lt->stopped)
        return;
    dict_put(r->rereads, id, (void *)1, NULL);
    if (r->mode == RESTORE_IDLE)
        schedule(r, 0);
}

void restore_store_up(struct app *a)
{
    for (struct restore *r = a->restores; r != NULL; r = r->next) {
        bool waiting = r->begun && (r->mode == RESTORE_IDLE || r->failed);
        if (waiting && (!r->ready || r->again || dict_size(r->rereads) > 0))
            schedule(r, 0);
    }
}
