/* test_store.c -- the Redis store against a real redis-server.
 *
 * Each test drives its own event loop with run_until(): the loop runs
 * until a condition holds or a deadline passes, so a lost callback shows
 * up as a failed assertion, never as a hang. Redis failures are real:
 * SIGKILL, SIGSTOP / SIGCONT and restarts of the server process. */
#include <CUnit/CUnit.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store.h"
#include "support.h"

/* ---- event loop harness ---- */

typedef support_cond_fn cond_fn;

static bool run_until(struct event_base *base, cond_fn *cond, const void *arg, int ms)
{
    return support_run_until(base, cond, arg, ms);
}

static void run_for(struct event_base *base, int ms)
{
    run_until(base, NULL, NULL, ms);
}

/* ---- fixture: a redis-server, a loop, a store ---- */

struct fx {
    struct event_base *base;
    struct log log;              /* debug level into /dev/null: runs every log line */
    struct test_redis redis;
    struct store *store;
    int ups, downs;
};

static void on_state(void *arg, bool up)
{
    struct fx *f = arg;
    if (up)
        f->ups++;
    else
        f->downs++;
}

static bool is_up(const void *store)
{
    return store_is_up(store);
}

static bool is_down(const void *store)
{
    return !store_is_up(store);
}

static void fx_base(struct fx *f)
{
    if (f->base != NULL)
        return;
    f->base = event_base_new();
    log_init(&f->log);
    f->log.level = LOG_DEBUG;
    f->log.out = fopen("/dev/null", "w");
}

/* Start Redis (unless already started), then a store on it with `o`
 * (url filled in when NULL) and wait until it is up. */
static int fx_open(struct fx *f, struct store_opts o)
{
    fx_base(f);
    if (f->redis.pid == 0 && support_redis_start(&f->redis) != 0)
        return -1;
    if (o.url == NULL)
        o.url = f->redis.url;
    char err[256] = "";
    f->store = store_new(f->base, &o, &f->log, err, sizeof err);
    if (f->store == NULL) {
        fprintf(stderr, "store_new: %s\n", err);
        return -1;
    }
    store_set_state_cb(f->store, on_state, f);
    return run_until(f->base, is_up, f->store, 5000) ? 0 : -1;
}

static void fx_close(struct fx *f)
{
    store_free(f->store);
    f->store = NULL;
    if (f->redis.pid > 0)
        kill(f->redis.pid, SIGCONT);
    support_redis_stop(&f->redis);
    if (f->base) {
        event_base_free(f->base);
        fclose(f->log.out);
    }
    memset(f, 0, sizeof *f);
}

/* ---- reply capture ---- */

struct res {
    int calls;
    enum store_status st;
    enum store_reply_type type;
    char str[128];
    size_t len;
    long long i;
    size_t n;
    enum store_reply_type etype[8];
    char estr[8][64];
    long long eint[8];
};

static void on_res(void *arg, enum store_status st, const struct store_reply *r)
{
    struct res *x = arg;
    x->calls++;
    x->st = st;
    x->type = store_reply_type(r);
    size_t len;
    const char *s = store_reply_str(r, &len);
    x->len = len;
    if (s)
        memcpy(x->str, s, len < sizeof x->str - 1 ? len + 1 : sizeof x->str - 1);
    x->i = store_reply_int(r);
    x->n = store_reply_len(r);
    for (size_t k = 0; k < x->n && k < 8; k++) {
        const struct store_reply *e = store_reply_at(r, k);
        x->etype[k] = store_reply_type(e);
        const char *es = store_reply_str(e, NULL);
        snprintf(x->estr[k], sizeof x->estr[k], "%s", es ? es : "");
        x->eint[k] = store_reply_int(e);
    }
}

static bool res_done(const void *arg)
{
    return ((const struct res *)arg)->calls > 0;
}

/* Run one printf-style command to completion. */
static struct res cmd(struct fx *f, const char *fmt, const char *a1, const char *a2)
{
    struct res x = {0};
    if (store_cmdf(f->store, on_res, &x, fmt, a1, a2) != 0)
        x.calls = -1;
    else
        run_until(f->base, res_done, &x, 5000);
    return x;
}

/* ---- tests ---- */

static void test_urls(void)
{
    struct event_base *base = event_base_new();
    char err[256];
    const char *bad[] = {"", "localhost:6379", "redis://", "redis://h:0", "redis://h:70000",
                         "redis://h:12x", "redis://h:1/x", "redis://[::1", "unix:", "http://h"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        struct store_opts o = {.url = bad[i]};
        CU_ASSERT_PTR_NULL(store_new(base, &o, NULL, err, sizeof err));
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "bad redis url"));
        CU_ASSERT_NOT_EQUAL(store_sync_ping(bad[i], 100, err, sizeof err), 0);
    }
    /* Good urls with nothing behind them: created, down, sync ping fails. */
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/2", support_free_port());
    const char *good[] = {url, "unix:/nonexistent/dir/redis.sock"};
    for (size_t i = 0; i < 2; i++) {
        struct store_opts o = {.url = good[i]};
        struct store *s = store_new(base, &o, NULL, err, sizeof err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        run_for(base, 100);
        CU_ASSERT_FALSE(store_is_up(s));
        store_free(s);
        err[0] = '\0';
        CU_ASSERT_NOT_EQUAL(store_sync_ping(good[i], 200, err, sizeof err), 0);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot connect"));
    }
    event_base_free(base);
}

static void test_commands(void)
{
    struct fx f = {0};
    CU_ASSERT_FATAL(fx_open(&f, (struct store_opts){0}) == 0);
    char err[256];
    CU_ASSERT_EQUAL(store_sync_ping(f.redis.url, 1000, err, sizeof err), 0);
    CU_ASSERT(store_last_rtt_us(f.store) > 0);

    /* Binary-safe argv: a value with a NUL and a CR LF inside. */
    const char val[] = "a\0b\r\nc";
    const char *argv[] = {"SET", "bin", val};
    size_t lens[] = {3, 3, sizeof val - 1};
    struct res x = {0};
    CU_ASSERT_EQUAL(store_cmd_argv(f.store, on_res, &x, 3, argv, lens), 0);
    run_until(f.base, res_done, &x, 5000);
    CU_ASSERT_EQUAL(x.calls, 1);
    CU_ASSERT_EQUAL(x.st, STORE_OK);
    CU_ASSERT_EQUAL(x.type, STORE_R_STATUS);
    CU_ASSERT_STRING_EQUAL(x.str, "OK");
    x = cmd(&f, "GET %s", "bin", NULL);
    CU_ASSERT_EQUAL(x.type, STORE_R_STRING);
    CU_ASSERT_EQUAL(x.len, sizeof val - 1);
    CU_ASSERT(memcmp(x.str, val, sizeof val - 1) == 0);

    x = cmd(&f, "INCR %s", "n", NULL);
    CU_ASSERT_EQUAL(x.type, STORE_R_INTEGER);
    CU_ASSERT_EQUAL(x.i, 1);
    x = cmd(&f, "SET %s %s", "n", "42");
    x = cmd(&f, "GET %s", "n", NULL);
    CU_ASSERT_EQUAL(x.i, 42);                 /* integer-looking string */
    x = cmd(&f, "SET %s %s", "s", "4x");
    x = cmd(&f, "GET %s", "s", NULL);
    CU_ASSERT_EQUAL(x.type, STORE_R_STRING);
    CU_ASSERT_EQUAL(x.i, 0);
    x = cmd(&f, "INCR %s", "s", NULL);        /* an error reply is STORE_OK */
    CU_ASSERT_EQUAL(x.st, STORE_OK);
    CU_ASSERT_EQUAL(x.type, STORE_R_ERROR);
    CU_ASSERT_PTR_NOT_NULL(strstr(x.str, "not an integer"));
    x = cmd(&f, "GET %s", "missing", NULL);
    CU_ASSERT_EQUAL(x.type, STORE_R_NIL);
    CU_ASSERT_EQUAL(x.len, 0);

    x = cmd(&f, "RPUSH %s %s b c", "l", "a");
    CU_ASSERT_EQUAL(x.i, 3);
    x = cmd(&f, "LRANGE %s 0 -1", "l", NULL);
    CU_ASSERT_EQUAL(x.type, STORE_R_ARRAY);
    CU_ASSERT_EQUAL(x.n, 3);
    CU_ASSERT_STRING_EQUAL(x.estr[0], "a");
    CU_ASSERT_STRING_EQUAL(x.estr[2], "c");
    x = cmd(&f, "HMGET %s %s", "nohash", "f");  /* nil inside an array */
    CU_ASSERT_EQUAL(x.n, 1);
    CU_ASSERT_EQUAL(x.etype[0], STORE_R_NIL);
    CU_ASSERT_EQUAL(store_reply_len(NULL), 0);
    CU_ASSERT_PTR_NULL(store_reply_at(NULL, 0));

    fx_close(&f);
}

static void test_binary_format(void)
{
    struct fx f = {0};
    CU_ASSERT_FATAL(fx_open(&f, (struct store_opts){0}) == 0);
    struct res x = {0};
    CU_ASSERT_EQUAL(store_cmdf(f.store, on_res, &x, "SET %b %b", "k\0y", (size_t)3, "v\0w",
                               (size_t)3), 0);
    run_until(f.base, res_done, &x, 5000);
    CU_ASSERT_EQUAL(x.calls, 1);
    x = (struct res){0};
    store_cmdf(f.store, on_res, &x, "STRLEN %b", "k\0y", (size_t)3);
    run_until(f.base, res_done, &x, 5000);
    CU_ASSERT_EQUAL(x.i, 3);
    fx_close(&f);
}

/* Callbacks never run inside store_cmd*, whether up or down. */
static void test_never_synchronous(void)
{
    struct fx f = {0};
    CU_ASSERT_FATAL(fx_open(&f, (struct store_opts){0}) == 0);
    struct res a = {0}, b = {0}, c = {0};
    store_cmdf(f.store, on_res, &a, "PING");
    CU_ASSERT_EQUAL(a.calls, 0);
    support_redis_kill(&f.redis, true);
    CU_ASSERT(run_until(f.base, is_down, f.store, 5000));
    store_cmdf(f.store, on_res, &b, "PING");
    struct store_batch *bt = store_batch_new();
    store_batch_addf(bt, "PING");
    store_batch_send(f.store, bt, on_res, &c);
    CU_ASSERT_EQUAL(b.calls, 0);
    CU_ASSERT_EQUAL(c.calls, 0);
    run_until(f.base, res_done, &c, 1000);
    CU_ASSERT_EQUAL(a.calls, 1);
    CU_ASSERT_EQUAL(b.calls, 1);
    CU_ASSERT_EQUAL(b.st, STORE_DOWN);
    CU_ASSERT_EQUAL(c.calls, 1);
    CU_ASSERT_EQUAL(c.st, STORE_DOWN);
    fx_close(&f);
}

/* Commands that would break the shared connection are refused up front
 * and never call back. */
static void test_refused_commands(void)
{
    struct fx f = {0};
    CU_ASSERT_FATAL(fx_open(&f, (struct store_opts){0}) == 0);
    struct res x = {0};
    const char *bad[] = {"SUBSCRIBE ch", "psubscribe c*", "MONITOR", "multi", "EXEC",
                         "WATCH k", "SELECT 1", "QUIT", "", "   "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CU_ASSERT_EQUAL(store_cmdf(f.store, on_res, &x, bad[i]), -1);
        struct store_batch *b = store_batch_new();
        CU_ASSERT_EQUAL(store_batch_addf(b, bad[i]), -1);
        CU_ASSERT_EQUAL(store_batch_count(b), 0);
        store_batch_free(b);
    }
    const char *argv[] = {"subscribe", "ch"};
    CU_ASSERT_EQUAL(store_cmd_argv(f.store, on_res, &x, 2, argv, NULL), -1);
    CU_ASSERT_EQUAL(store_cmd_argv(f.store, on_res, &x, 0, argv, NULL), -1);
    run_for(f.base, 50);
    CU_ASSERT_EQUAL(x.calls, 0);
    /* The connection still works normally afterwards. */
    x = cmd(&f, "ECHO %s", "still-here", NULL);
    CU_ASSERT_STRING_EQUAL(x.str, "still-here");
    fx_close(&f);
}

/* Callbacks issue the next command: a chain of sequential INCRs. */
struct chain {
    struct store *s;
    int left, ok;
    long long last;
};

static void on_chain(void *arg, enum store_status st, const struct store_reply *r)
{
    struct chain *c = arg;
    if (st == STORE_OK) {
        c->ok++;
        c->last = store_reply_int(r);
    }
    if (--c->left > 0)
        store_cmdf(c->s, on_chain, c, "INCR chain");
}

static bool chain_done(const void *arg)
{
    return ((const struct chain *)arg)->left == 0;
}

static void test_chain_and_fire_and_forget(void)
{
    struct fx f = {0};
    CU_ASSERT_FATAL(fx_open(&f, (struct store_opts){0}) == 0);
    for (int i = 0; i < 100; i++)
        CU_ASSERT_EQUAL(store_cmdf(f.store, NULL, NULL, "INCR ff"), 0);
    struct chain c = {f.store, 1000, 0, 0};
    store_cmdf(f.store, on_chain, &c, "INCR chain");
    CU_ASSERT(run_until(f.base, chain_done, &c, 10000));
    CU_ASSERT_EQUAL(c.ok, 1000);
    CU_ASSERT_EQUAL(c.last, 1000);
    struct res x = cmd(&f, "GET ff", NULL, NULL);
    CU_ASSERT_EQUAL(x.i, 100);
    fx_close(&f);
}

/* Down: commands fail fast (not by timeout). Back: the store reconnects by
 * itself, and the state callback sees each transition once. */
static void test_down_and_reconnect(void)
{
    struct fx f = {0};
    CU_ASSERT_FATAL(support_redis_start(&f.redis) == 0);
    support_redis_kill(&f.redis, true);
    fx_base(&f);
    char err[256];
    struct store_opts o = {.url = f.redis.url, .timeout_ms = 30000, .backoff_min_ms = 10,
                           .backoff_max_ms = 100};
    f.store = store_new(f.base, &o, &f.log, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.store);
    store_set_state_cb(f.store, on_state, &f);
    run_for(f.base, 100);
    CU_ASSERT_FALSE(store_is_up(f.store));
    struct res x = cmd(&f, "PING", NULL, NULL);
    CU_ASSERT_EQUAL(x.calls, 1);
    CU_ASSERT_EQUAL(x.st, STORE_DOWN);        /* a timeout would take 30 s */

    CU_ASSERT_FATAL(support_redis_restart(&f.redis) == 0);
    CU_ASSERT(run_until(f.base, is_up, f.store, 5000));
    CU_ASSERT_EQUAL(f.ups, 1);
    CU_ASSERT_EQUAL(f.downs, 0);
    x = cmd(&f, "SET %s %s", "k", "v");
    CU_ASSERT_EQUAL(x.st, STORE_OK);

    support_redis_kill(&f.redis, true);
    CU_ASSERT(run_until(f.base, is_down, f.store, 5000));
    CU_ASSERT_EQUAL(f.downs, 1);
    x = cmd(&f, "GET %s", "k", NULL);
    CU_ASSERT_EQUAL(x.st, STORE_DOWN);
    CU_ASSERT_FATAL(support_redis_restart(&f.redis) == 0);
    CU_ASSERT(run_until(f.base, is_up, f.store, 5000));
    CU_ASSERT_EQUAL(f.ups, 2);
    CU_ASSERT_EQUAL(f.downs, 1);
    x = cmd(&f, "GET %s", "k", NULL);         /* acknowledged SET survived (AOF) */
    CU_ASSERT_EQUAL(x.st, STORE_OK);
    CU_ASSERT_STRING_EQUAL(x.str, "v");
    fx_close(&f);
}

/* SIGKILL with thousands of commands in flight: every callback exactly
 * once, nothing acknowledged lost, the unanswered ones unknown. */
#define NFLIGHT 20000

struct flight {
    struct fx *f;
    int calls[NFLIGHT];
    int answered, ok, down, timeout, other;
    int kill_at;
};

struct flight_slot {
    struct flight *fl;
    int i;
};

static void on_flight(void *arg, enum store_status st, const struct store_reply *r)
{
    struct flight_slot *sl = arg;
    struct flight *fl = sl->fl;
    fl->calls[sl->i]++;
    fl->answered++;
    if (st == STORE_OK && store_reply_type(r) == STORE_R_INTEGER)
        fl->ok++;
    else if (st == STORE_DOWN)
        fl->down++;
    else if (st == STORE_TIMEOUT)
        fl->timeout++;
    else
        fl->other++;
    if (fl->ok == fl->kill_at && st == STORE_OK)
        kill(fl->f->redis.pid, SIGKILL);
}

static bool flight_done(const void *arg)
{
    return ((const struct flight *)arg)->answered == NFLIGHT;
}

static void fly(struct fx *f, struct flight *fl, struct flight_slot *slots, int kill_at)
{
    memset(fl, 0, sizeof *fl);
    fl->f = f;
    fl->kill_at = kill_at;
    for (int i = 0; i < NFLIGHT; i++) {
        slots[i] = (struct flight_slot){fl, i};
        store_cmdf(f->store, on_flight, &slots[i], "INCR counter");
    }
}

static void check_flight(const struct flight *fl)
{
    int bad = 0;
    for (int i = 0; i < NFLIGHT; i++)
        bad += fl->calls[i] != 1;
    CU_ASSERT_EQUAL(bad, 0);
    /* All were sent while up: those the kill left unanswered may have run
     * (outcome unknown, STORE_TIMEOUT), none is "not sent" (STORE_DOWN). */
    CU_ASSERT_EQUAL(fl->ok + fl->timeout, NFLIGHT);
    CU_ASSERT_EQUAL(fl->down, 0);
    CU_ASSERT_EQUAL(fl->other, 0);
}

static void test_kill_in_flight(void)
{
    struct fx f = {0};
    CU_ASSERT_FATAL(fx_open(&f, (struct store_opts){.timeout_ms = 10000, .backoff_min_ms = 10,
                                                     .backoff_max_ms = 100}) == 0);
    struct flight *fl = malloc(sizeof *fl);
    struct flight_slot *slots = malloc(NFLIGHT * sizeof *slots);

    /* Killed while replies stream in. */
    fly(&f, fl, slots, 500);
    CU_ASSERT(run_until(f.base, flight_done, fl, 20000));
    check_flight(fl);
    CU_ASSERT(fl->ok >= 500);
    support_redis_kill(&f.redis, true);       /* reap */
    CU_ASSERT(run_until(f.base, is_down, f.store, 5000));
    CU_ASSERT_FATAL(support_redis_restart(&f.redis) == 0);
    CU_ASSERT(run_until(f.base, is_up, f.store, 5000));
    /* No "counter >= acknowledged" check: with appendfsync everysec Redis
     * postpones its AOF write while a background fsync runs but still
     * replies, so a SIGKILL can lose acknowledged writes. */
    struct res x = cmd(&f, "GET counter", NULL, NULL);
    CU_ASSERT_EQUAL(x.st, STORE_OK);
    CU_ASSERT(x.i <= NFLIGHT);

    /* Killed with everything still unanswered (the server is stopped). */
    kill(f.redis.pid, SIGSTOP);
    fly(&f, fl, slots, -1);
    run_for(f.base, 50);
    kill(f.redis.pid, SIGKILL);
    CU_ASSERT(run_until(f.base, flight_done, fl, 20000));
    check_flight(fl);
    CU_ASSERT_EQUAL(fl->timeout, NFLIGHT);
    CU_ASSERT_FALSE(store_is_up(f.store));
    CU_ASSERT(f.downs == 2 && f.ups == 2);

    free(slots);
    free(fl);
    fx_close(&f);
}

/* A command times out once; its late reply is swallowed and the replies
 * that follow still match their commands. */
static void test_timeout_late_reply(void)
{
    struct fx f = {0};
    CU_ASSERT_FATAL(fx_open(&f, (struct store_opts){.timeout_ms = 300,
                                                     .ping_interval_ms = 60000}) == 0);
    kill(f.redis.pid, SIGSTOP);
    struct res a = {0}, b = {0};
    store_cmdf(f.store, on_res, &a, "SET %s %s", "late", "yes");
    struct store_batch *bt = store_batch_new();
    store_batch_addf(bt, "INCR %s", "lb");
    store_batch_addf(bt, "INCR %s", "lb");
    store_batch_send(f.store, bt, on_res, &b);
    CU_ASSERT(run_until(f.base, res_done, &b, 5000));
    CU_ASSERT_EQUAL(a.calls, 1);
    CU_ASSERT_EQUAL(a.st, STORE_TIMEOUT);
    CU_ASSERT_EQUAL(b.calls, 1);
    CU_ASSERT_EQUAL(b.st, STORE_TIMEOUT);
    CU_ASSERT(store_is_up(f.store));          /* no PING due: the link stays */
    kill(f.redis.pid, SIGCONT);
    /* ECHO is answered after the late replies, which are swallowed. */
    struct res x = cmd(&f, "ECHO %s", "after", NULL);
    CU_ASSERT_EQUAL(x.st, STORE_OK);
    CU_ASSERT_STRING_EQUAL(x.str, "after");
    CU_ASSERT_EQUAL(a.calls, 1);
    CU_ASSERT_EQUAL(b.calls, 1);
    x = cmd(&f, "GET %s", "late", NULL);      /* the late SET did apply */
    CU_ASSERT_STRING_EQUAL(x.str, "yes");
    x = cmd(&f, "GET %s", "lb", NULL);
    CU_ASSERT_EQUAL(x.i, 2);
    fx_close(&f);
}

/* A hung server (SIGSTOP): the health PING times out, the store goes down
 * and fails fast, then recovers after SIGCONT. */
static void test_hung_server(void)
{
    struct fx f = {0};
    CU_ASSERT_FATAL(fx_open(&f, (struct store_opts){.timeout_ms = 200, .ping_interval_ms = 50,
                                                     .backoff_min_ms = 10,
                                                     .backoff_max_ms = 100}) == 0);
    kill(f.redis.pid, SIGSTOP);
    struct res a = {0};
    store_cmdf(f.store, on_res, &a, "PING");
    CU_ASSERT(run_until(f.base, is_down, f.store, 5000));
    CU_ASSERT(run_until(f.base, res_done, &a, 5000));
    CU_ASSERT_EQUAL(a.calls, 1);
    CU_ASSERT(a.st == STORE_TIMEOUT || a.st == STORE_DOWN);
    CU_ASSERT_EQUAL(f.downs, 1);
    run_for(f.base, 300);                     /* a few reconnect attempts */
    struct res x = cmd(&f, "PING", NULL, NULL);
    CU_ASSERT_EQUAL(x.st, STORE_DOWN);
    kill(f.redis.pid, SIGCONT);
    CU_ASSERT(run_until(f.base, is_up, f.store, 5000));
    CU_ASSERT_EQUAL(f.ups, 2);
    x = cmd(&f, "PING", NULL, NULL);
    CU_ASSERT_EQUAL(x.st, STORE_OK);
    fx_close(&f);
}

/* A script keeps Redis busy: the health PING gets -BUSY, the store goes
 * down without dropping the connection, and comes back when it ends. */
static void test_busy_server(void)
{
    struct fx f = {0};
    CU_ASSERT_FATAL(fx_open(&f, (struct store_opts){.ping_interval_ms = 50,
                                                     .backoff_min_ms = 20}) == 0);
    struct res x = cmd(&f, "CONFIG SET busy-reply-threshold %s", "100", NULL);
    CU_ASSERT_STRING_EQUAL(x.str, "OK");
    char err[256];
    struct store_opts o = {.url = f.redis.url, .timeout_ms = 10000};
    struct store *s2 = store_new(f.base, &o, &f.log, err, sizeof err);
    CU_ASSERT_FATAL(run_until(f.base, is_up, s2, 5000));
    const char *busy = "local t = redis.call('TIME') local t0 = t[1] * 1e6 + t[2] "
                       "repeat t = redis.call('TIME') until t[1] * 1e6 + t[2] - t0 > 1000000 "
                       "return 1";
    struct res ev = {0};
    store_cmdf(s2, on_res, &ev, "EVAL %s 0", busy);
    CU_ASSERT(run_until(f.base, is_down, f.store, 5000));
    CU_ASSERT_EQUAL(ev.calls, 0);             /* still running */
    x = cmd(&f, "PING", NULL, NULL);
    CU_ASSERT_EQUAL(x.st, STORE_DOWN);
    CU_ASSERT(run_until(f.base, res_done, &ev, 5000));
    CU_ASSERT_EQUAL(ev.st, STORE_OK);
    CU_ASSERT_EQUAL(ev.i, 1);
    CU_ASSERT(run_until(f.base, is_up, f.store, 5000));
    CU_ASSERT_EQUAL(f.downs, 1);
    CU_ASSERT_EQUAL(f.ups, 2);
    store_free(s2);
    fx_close(&f);
}

static struct res send_batch(struct fx *f, struct store_batch *b)
{
    struct res x = {0};
    CU_ASSERT_EQUAL(store_batch_send(f->store, b, on_res, &x), 0);
    run_until(f->base, res_done, &x, 5000);
    CU_ASSERT_EQUAL(x.calls, 1);
    return x;
}

/* On one Redis a batch spanning slots still runs (as it always did) but
 * is counted and logged: the cluster would refuse it, and tests on one
 * Redis are where the domain modules are mostly exercised. */
static void test_cross_slot_counted(void)
{
    struct fx f = {0};
    CU_ASSERT_FATAL(fx_open(&f, (struct store_opts){0}) == 0);
    struct store_batch *b = store_batch_new();
    store_batch_addf(b, "SET %s %s", "{x}a", "1");
    store_batch_addf(b, "SET %s %s", "{x}b", "1");
    struct res x = send_batch(&f, b);
    CU_ASSERT_EQUAL(x.st, STORE_OK);
    CU_ASSERT_EQUAL(store_get_stats(f.store)->cross_slot, 0);
    b = store_batch_new();
    store_batch_addf(b, "SET %s %s", "{x}a", "2");
    store_batch_addf(b, "SET %s %s", "{y}b", "2");
    x = send_batch(&f, b);
    CU_ASSERT_EQUAL(x.st, STORE_OK);
    CU_ASSERT_EQUAL(x.n, 2);
    CU_ASSERT_EQUAL(store_get_stats(f.store)->cross_slot, 1);
    CU_ASSERT_FALSE(store_is_cluster(f.store));
    fx_close(&f);
}

static void test_batch(void)
{
    struct fx f = {0};
    CU_ASSERT_FATAL(fx_open(&f, (struct store_opts){0}) == 0);
    struct store_batch *b = store_batch_new();
    CU_ASSERT_EQUAL(store_batch_addf(b, "SET %s %s", "{t}a", "1"), 0);
    CU_ASSERT_EQUAL(store_batch_addf(b, "INCRBY %s 41", "{t}a"), 0);
    const char *argv[] = {"GET", "{t}a"};
    CU_ASSERT_EQUAL(store_batch_add_argv(b, 2, argv, NULL), 0);
    CU_ASSERT_EQUAL(store_batch_count(b), 3);
    struct res x = send_batch(&f, b);
    CU_ASSERT_EQUAL(x.st, STORE_OK);
    CU_ASSERT_EQUAL(x.type, STORE_R_ARRAY);
    CU_ASSERT_EQUAL(x.n, 3);
    CU_ASSERT_EQUAL(x.etype[0], STORE_R_STATUS);
    CU_ASSERT_EQUAL(x.eint[1], 42);
    CU_ASSERT_STRING_EQUAL(x.estr[2], "42");

    /* A command failing at run time: its element is an error, the rest applies. */
    b = store_batch_new();
    store_batch_addf(b, "SET %s %s", "{t}s", "x");
    store_batch_addf(b, "INCR %s", "{t}s");
    store_batch_addf(b, "SET %s %s", "{t}after", "y");
    x = send_batch(&f, b);
    CU_ASSERT_EQUAL(x.n, 3);
    CU_ASSERT_EQUAL(x.etype[1], STORE_R_ERROR);
    CU_ASSERT_EQUAL(x.etype[2], STORE_R_STATUS);

    /* Refused at queueing time: EXEC's error, nothing applied. */
    b = store_batch_new();
    store_batch_addf(b, "SET %s %s", "{t}never", "1");
    store_batch_addf(b, "NOSUCHCOMMAND %s", "x");
    x = send_batch(&f, b);
    CU_ASSERT_EQUAL(x.st, STORE_OK);
    CU_ASSERT_EQUAL(x.type, STORE_R_ERROR);
    CU_ASSERT_PTR_NOT_NULL(strstr(x.str, "EXECABORT"));
    x = cmd(&f, "EXISTS %s", "{t}never", NULL);
    CU_ASSERT_EQUAL(x.i, 0);

    /* Empty. */
    x = send_batch(&f, store_batch_new());
    CU_ASSERT_EQUAL(x.type, STORE_R_ARRAY);
    CU_ASSERT_EQUAL(x.n, 0);

    /* Plain commands still line up after all that. */
    x = cmd(&f, "ECHO %s", "ok", NULL);
    CU_ASSERT_STRING_EQUAL(x.str, "ok");
    fx_close(&f);
}

/* store_free calls back everything pending before it returns. */
static void test_free_answers_pending(void)
{
    struct fx f = {0};
    CU_ASSERT_FATAL(fx_open(&f, (struct store_opts){.timeout_ms = 30000}) == 0);
    kill(f.redis.pid, SIGSTOP);
    struct res x[10] = {{0}}, bx = {0};
    for (int i = 0; i < 10; i++)
        store_cmdf(f.store, on_res, &x[i], "INCR k");
    struct store_batch *b = store_batch_new();
    store_batch_addf(b, "INCR k");
    store_batch_send(f.store, b, on_res, &bx);
    run_for(f.base, 50);
    store_free(f.store);
    f.store = NULL;
    for (int i = 0; i < 10; i++) {
        CU_ASSERT_EQUAL(x[i].calls, 1);
        CU_ASSERT_EQUAL(x[i].st, STORE_DOWN);
    }
    CU_ASSERT_EQUAL(bx.calls, 1);
    CU_ASSERT_EQUAL(bx.st, STORE_DOWN);

    /* Failures not yet delivered by the loop are delivered too. */
    char err[256];
    struct store_opts o = {.url = f.redis.url};
    struct store *s = store_new(f.base, &o, NULL, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    struct res y = {0};
    store_cmdf(s, on_res, &y, "PING");        /* not up yet: queued failure */
    CU_ASSERT_EQUAL(y.calls, 0);
    store_free(s);
    CU_ASSERT_EQUAL(y.calls, 1);
    CU_ASSERT_EQUAL(y.st, STORE_DOWN);
    fx_close(&f);
}

static void test_database_number(void)
{
    struct fx f = {0};
    CU_ASSERT_FATAL(fx_open(&f, (struct store_opts){0}) == 0);
    char url3[96], url99[96], err[256];
    snprintf(url3, sizeof url3, "%s/3", f.redis.url);
    snprintf(url99, sizeof url99, "%s/99", f.redis.url);
    CU_ASSERT_EQUAL(store_sync_ping(url3, 1000, err, sizeof err), 0);
    CU_ASSERT_NOT_EQUAL(store_sync_ping(url99, 1000, err, sizeof err), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "SELECT"));

    struct store_opts o = {.url = url3};
    struct store *s3 = store_new(f.base, &o, NULL, err, sizeof err);
    o.url = url99;
    struct store *s99 = store_new(f.base, &o, NULL, err, sizeof err);
    CU_ASSERT_FATAL(run_until(f.base, is_up, s3, 5000));
    struct res x = {0};
    store_cmdf(s3, on_res, &x, "SET db %s", "three");
    run_until(f.base, res_done, &x, 5000);
    CU_ASSERT_EQUAL(x.st, STORE_OK);
    x = cmd(&f, "GET db", NULL, NULL);        /* f.store is on db 0 */
    CU_ASSERT_EQUAL(x.type, STORE_R_NIL);
    CU_ASSERT_FALSE(store_is_up(s99));        /* SELECT 99 fails: never up */
    store_free(s3);
    store_free(s99);
    fx_close(&f);
}

/* ---- scripts ---- */

/* NOSCRIPT errors Redis has answered so far (INFO errorstats). */
static long long noscripts(struct fx *f)
{
    struct res x = cmd(f, "INFO %s", "errorstats", NULL);
    const char *p = strstr(x.str, "errorstat_NOSCRIPT:count=");
    /* x.str holds the first 127 bytes: errorstats is short */
    return p ? atoll(p + strlen("errorstat_NOSCRIPT:count=")) : 0;
}

static struct res eval_incr(struct fx *f, const struct store_script *sc, const char *key)
{
    struct res x = {0};
    const char *argv[] = {key, "1"};
    CU_ASSERT_EQUAL(store_script_eval(f->store, sc, on_res, &x, 1, 2, argv, NULL), 0);
    run_until(f->base, res_done, &x, 5000);
    CU_ASSERT_EQUAL(x.calls, 1);
    return x;
}

/* Scripts go by SHA1, loaded in every handshake; a NOSCRIPT (SCRIPT
 * FLUSH) is answered by sending the text again, alone or in a batch
 * (where only the calls that found no script run again). */
static void test_scripts(void)
{
    struct fx f = {0};
    CU_ASSERT_FATAL(fx_open(&f, (struct store_opts){.backoff_min_ms = 10,
                                                     .backoff_max_ms = 100}) == 0);
    struct store_script *sc =
        store_script_new(f.store, "return redis.call('INCRBY', KEYS[1], ARGV[1])");
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    run_for(f.base, 50);                      /* the SCRIPT LOAD of a script registered while up */
    CU_ASSERT_EQUAL(eval_incr(&f, sc, "{s}a").i, 1);
    CU_ASSERT_EQUAL(cmd(&f, "SCRIPT FLUSH", NULL, NULL).st, STORE_OK);
    struct res x = eval_incr(&f, sc, "{s}a");
    CU_ASSERT_EQUAL(x.st, STORE_OK);
    CU_ASSERT_EQUAL(x.type, STORE_R_INTEGER);
    CU_ASSERT_EQUAL(x.i, 2);                  /* ran once, NOSCRIPT unseen */
    CU_ASSERT_EQUAL(noscripts(&f), 1);
    CU_ASSERT_EQUAL(eval_incr(&f, sc, "{s}a").i, 3);   /* EVAL cached it again */
    CU_ASSERT_EQUAL(noscripts(&f), 1);

    /* A batch: plain commands and script calls, the script flushed. */
    cmd(&f, "SCRIPT FLUSH", NULL, NULL);
    struct store_batch *b = store_batch_new();
    const char *a1[] = {"{s}b", "10"}, *a2[] = {"{s}c", "5"};
    CU_ASSERT_EQUAL(store_batch_script(b, sc, 1, 2, a1, NULL), 0);
    CU_ASSERT_EQUAL(store_batch_addf(b, "SET %s %s", "{s}d", "x"), 0);
    CU_ASSERT_EQUAL(store_batch_script(b, sc, 1, 2, a2, NULL), 0);
    CU_ASSERT_EQUAL(store_batch_addf(b, "INCR %s", "{s}e"), 0);
    x = send_batch(&f, b);
    CU_ASSERT_EQUAL(x.st, STORE_OK);
    CU_ASSERT_EQUAL(x.n, 4);
    CU_ASSERT_EQUAL(x.eint[0], 10);
    CU_ASSERT_STRING_EQUAL(x.estr[1], "OK");
    CU_ASSERT_EQUAL(x.eint[2], 5);
    CU_ASSERT_EQUAL(x.eint[3], 1);
    CU_ASSERT_EQUAL(noscripts(&f), 3);        /* both calls found none ... */
    CU_ASSERT_EQUAL(cmd(&f, "GET %s", "{s}b", NULL).i, 10);   /* ... and ran once */
    CU_ASSERT_EQUAL(cmd(&f, "GET %s", "{s}e", NULL).i, 1);
    /* An error inside a script is the script's reply, not a retry. */
    struct store_script *bad = store_script_new(f.store, "return redis.call('INCR', KEYS[1])");
    run_for(f.base, 50);
    x = eval_incr(&f, bad, "{s}d");
    CU_ASSERT_EQUAL(x.type, STORE_R_ERROR);
    CU_ASSERT_PTR_NOT_NULL(strstr(x.str, "not an integer"));

    /* Redis restarts empty of scripts: the handshake loads them again. */
    support_redis_kill(&f.redis, true);
    CU_ASSERT(run_until(f.base, is_down, f.store, 5000));
    CU_ASSERT_FATAL(support_redis_restart(&f.redis) == 0);
    CU_ASSERT(run_until(f.base, is_up, f.store, 5000));
    CU_ASSERT_EQUAL(eval_incr(&f, sc, "{s}f").i, 1);
    CU_ASSERT_EQUAL(noscripts(&f), 0);
    fx_close(&f);
}

/* ---- unknown outcomes ---- */

struct many {
    int calls, ok, down, timeout;
};

static void on_many(void *arg, enum store_status st, const struct store_reply *r)
{
    struct many *m = arg;
    m->calls++;
    m->ok += st == STORE_OK;
    m->down += st == STORE_DOWN;
    m->timeout += st == STORE_TIMEOUT;
}

static bool many_done(const void *arg)
{
    return ((const struct many *)arg)->calls == 2000;
}

/* Writes sent to a paused Redis time out: their outcome is unknown, and
 * Redis may still be working through what the dead connection left in
 * its socket when the store is back. Once the store is up nothing of it
 * may apply any more (the handshake kills the dead connection): what a
 * read sees then is final. (On this kernel Redis gets only the few tens
 * of KB its socket held and has worked through them before it answers
 * the new connection, so this is a guard of the promise more than a
 * reproduction of the race.) */
static void test_timeout_fence(void)
{
    struct fx f = {0};
    CU_ASSERT_FATAL(fx_open(&f, (struct store_opts){.timeout_ms = 200, .ping_interval_ms = 50,
                                                     .backoff_min_ms = 10,
                                                     .backoff_max_ms = 50}) == 0);
    static char big[2048];
    memset(big, 'x', sizeof big - 1);
    kill(f.redis.pid, SIGSTOP);
    struct many m = {0};
    for (int i = 0; i < 2000; i++) {
        struct store_batch *b = store_batch_new();
        store_batch_addf(b, "SET {f}big %s", big);
        store_batch_addf(b, "INCR {f}n");
        store_batch_send(f.store, b, on_many, &m);
    }
    CU_ASSERT(run_until(f.base, many_done, &m, 10000));
    CU_ASSERT_EQUAL(m.timeout, 2000);         /* sent, never answered: unknown */
    CU_ASSERT(run_until(f.base, is_down, f.store, 5000));
    run_for(f.base, 200);                     /* reconnects pile up meanwhile */
    kill(f.redis.pid, SIGCONT);
    CU_ASSERT(run_until(f.base, is_up, f.store, 10000));
    struct res x = cmd(&f, "GET %s", "{f}n", NULL);
    CU_ASSERT_EQUAL(x.st, STORE_OK);
    long long first = x.i;
    run_for(f.base, 500);
    x = cmd(&f, "GET %s", "{f}n", NULL);
    CU_ASSERT_EQUAL(x.i, first);
    fx_close(&f);
}

int suite_store(void)
{
    static CU_TestInfo tests[] = {
        {"url parsing and unreachable servers", test_urls},
        {"commands and reply accessors", test_commands},
        {"binary %b format", test_binary_format},
        {"callbacks never run inside store_cmd", test_never_synchronous},
        {"connection-breaking commands refused", test_refused_commands},
        {"chained and fire-and-forget commands", test_chain_and_fire_and_forget},
        {"fail fast while down, reconnect by itself", test_down_and_reconnect},
        {"SIGKILL with commands in flight", test_kill_in_flight},
        {"timeout, late reply swallowed", test_timeout_late_reply},
        {"hung server goes down and recovers", test_hung_server},
        {"busy server (-BUSY) goes down and recovers", test_busy_server},
        {"MULTI/EXEC batches", test_batch},
        {"a batch spanning slots is counted", test_cross_slot_counted},
        {"store_free answers pending callbacks", test_free_answers_pending},
        {"database number in the url", test_database_number},
        {"scripts by SHA1, NOSCRIPT answered transparently", test_scripts},
        {"a timed-out write cannot apply after the store is up again", test_timeout_fence},
        CU_TEST_INFO_NULL,
    };
    static CU_SuiteInfo suites[] = {
        {.pName = "store", .pTests = tests},
        CU_SUITE_INFO_NULL,
    };
    return CU_register_suites(suites) == CUE_SUCCESS ? 0 : -1;
}
