/* test_module.c -- what every API module shares (module.h): route tables
 * and the restore engine, against a real HTTP server and a real
 * redis-server.
 *
 * The engine is driven through a small made-up module: a set of ids in
 * Redis (paged with SSCAN), a GET per id, a first attempt that fails on
 * purpose, and re-reads. */
#include <CUnit/CUnit.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "http.h"
#include "module.h"
#include "store.h"
#include "support.h"

static void nop(struct http_req *r, void *arg)
{
    (void)arg;
    http_reply_error(r, 500, "internal", "not called");
}

/* A route that cannot be registered fails the module's start and says
 * which. */
static void test_routes(void)
{
    struct event_base *base = event_base_new();
    struct http_opts o = {.listen = "127.0.0.1:0"};
    char err[256] = "";
    struct http_server *h = http_server_new(base, &o, NULL, NULL, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    static const struct module_route good[] = {
        {HTTP_GET, "/v1/x/{id}", ROLE_READER, true, nop},
        {HTTP_PUT | HTTP_POST, "/v1/x/{id}", ROLE_OPERATOR, false, nop},
    };
    static const struct module_route bad[] = {
        {HTTP_GET, "/v1/y", ROLE_READER, true, nop},
        {HTTP_POST | HTTP_DELETE, "/v1/x/{other}", ROLE_OPERATOR, false, nop},
    };
    CU_ASSERT_EQUAL(module_routes(h, "one", good, 2, NULL, err, sizeof err), 0);
    CU_ASSERT_EQUAL(module_routes(h, "two", bad, 2, NULL, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(err, "two: cannot register route POST,DELETE /v1/x/{other}");
    http_server_free(h);
    event_base_free(base);
}

/* ---- the restore engine ---- */

#define NIDS 2500

struct fake {
    struct app a;
    struct test_redis redis;
    struct lifetime lt;
    struct restore rs;
    int attempts, done, values, rereads;
    bool fail_first;
};

static void value_cb(struct restore *r, const char *id, const struct store_reply *reply)
{
    struct fake *f = r->arg;
    const char *v = store_reply_str(reply, NULL);
    if (r->mode == RESTORE_REREAD)
        f->rereads++;
    else
        f->values += v != NULL && strcmp(id, v) == 0;
}

static void get_item(struct restore *r, const char *id)
{
    char key[64];
    snprintf(key, sizeof key, "v:%s", id);
    const char *argv[] = {"GET", key};
    restore_cmd(r, value_cb, id, 2, argv);
}

static void ignore(struct restore *r, const char *id, const struct store_reply *reply)
{
}

static bool step(struct restore *r, int k)
{
    struct fake *f = r->arg;
    if (k == 0) {
        f->attempts++;
        f->values = 0;
        /* the first attempt meets an error reply (INCR of a set) */
        const char *argv[] = {"INCR", f->fail_first && f->attempts == 1 ? "ids" : "n"};
        restore_cmd(r, ignore, NULL, 2, argv);
        restore_scan(r, "ids", get_item);
    }
    return k == 0;
}

static void done(struct restore *r)
{
    ((struct fake *)r->arg)->done++;
}

static const struct restore_ops OPS = {"fake", step, done, get_item};

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    *(bool *)arg = true;
}

static bool run_until(struct fake *f, bool (*cond)(const struct fake *), int ms)
{
    bool expired = false;
    struct event *t = evtimer_new(f->a.base, on_deadline, &expired);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(t, &tv);
    while (!cond(f) && !expired)
        event_base_loop(f->a.base, EVLOOP_ONCE);
    event_free(t);
    return cond(f);
}

static bool store_up(const struct fake *f)
{
    return store_is_up(f->a.store);
}

static bool is_ready(const struct fake *f)
{
    return restore_ready(&f->rs);
}

static bool is_settled(const struct fake *f)
{
    return restore_settled(&f->rs);
}

static void on_up(void *arg, bool up)
{
    if (up)
        restore_store_up(arg);
}

static int fake_open(struct fake *f)
{
    char err[256];
    memset(f, 0, sizeof *f);
    log_init(&f->a.log);
    f->a.log.out = fopen("/dev/null", "w");
    f->a.base = event_base_new();
    if (support_redis_start(&f->redis) != 0)
        return -1;
    struct store_opts o = {.url = f->redis.url, .timeout_ms = 300, .ping_interval_ms = 50,
                           .backoff_min_ms = 10, .backoff_max_ms = 50};
    f->a.store = store_new(f->a.base, &o, &f->a.log, err, sizeof err);
    if (f->a.store == NULL || !run_until(f, store_up, 5000))
        return -1;
    store_set_state_cb(f->a.store, on_up, &f->a);
    /* NIDS ids, each with a value equal to it */
    struct store_batch *b = store_batch_new();
    for (int i = 0; i < NIDS; i++) {
        char id[16], key[32];
        snprintf(id, sizeof id, "%d", i);
        snprintf(key, sizeof key, "v:%d", i);
        store_batch_addf(b, "SADD ids %s", id);
        store_batch_addf(b, "SET %s %s", key, id);
    }
    store_batch_send(f->a.store, b, NULL, NULL);
    return restore_init(&f->rs, &f->a, &f->lt, &OPS, f);
}

static void fake_close(struct fake *f)
{
    f->lt.stopped = true;
    restore_stop(&f->rs);
    store_free(f->a.store);
    restore_free(&f->rs);
    CU_ASSERT_EQUAL(f->lt.inflight, 0);
    event_base_free(f->a.base);
    fclose(f->a.log.out);
    support_redis_stop(&f->redis);
}

/* Paged set, a window of reads, a failed attempt retried, done once;
 * re-reads after ready, settled once they are in. */
static void test_restore(void)
{
    struct fake f;
    CU_ASSERT_FATAL(fake_open(&f) == 0);
    f.fail_first = true;
    CU_ASSERT_FALSE(restore_ready(&f.rs));
    restore_begin(&f.rs);
    CU_ASSERT(run_until(&f, is_ready, 10000));
    CU_ASSERT_EQUAL(f.attempts, 2);
    CU_ASSERT_EQUAL(f.done, 1);
    CU_ASSERT_EQUAL(f.values, NIDS);
    CU_ASSERT(restore_settled(&f.rs));

    restore_reread(&f.rs, "7");
    restore_reread(&f.rs, "8");
    restore_reread(&f.rs, "7");               /* once */
    CU_ASSERT_FALSE(restore_settled(&f.rs));
    CU_ASSERT(run_until(&f, is_settled, 5000));
    CU_ASSERT_EQUAL(f.rereads, 2);

    /* Redis paused: the re-read times out and is retried until it
     * succeeds, after Redis is back. */
    kill(f.redis.pid, SIGSTOP);
    restore_reread(&f.rs, "9");
    event_base_loop(f.a.base, EVLOOP_ONCE);
    support_sleep_ms(400);
    event_base_loop(f.a.base, EVLOOP_NONBLOCK);
    CU_ASSERT_FALSE(restore_settled(&f.rs));
    kill(f.redis.pid, SIGCONT);
    CU_ASSERT(run_until(&f, is_settled, 10000));
    CU_ASSERT_EQUAL(f.rereads, 3);
    CU_ASSERT_EQUAL(f.done, 1);
    fake_close(&f);
}

int suite_module(void)
{
    CU_pSuite s = CU_add_suite("module", NULL, NULL);
    if (s == NULL || !CU_add_test(s, "route tables: a failure names the route", test_routes) ||
        !CU_add_test(s, "restore: paging, retry, re-reads", test_restore))
        return -1;
    return 0;
}
