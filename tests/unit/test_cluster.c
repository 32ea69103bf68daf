/* test_cluster.c -- the store on a real Redis Cluster (3 masters, 3
 * replicas, started on free ports for this suite by support_cluster_start).
 *
 * Slot-map parsing on crafted CLUSTER SLOTS replies and on the live one;
 * keys_slot against CLUSTER KEYSLOT for cityd's real key names; commands,
 * scripts and batches routed to the master of their slot (checked on the
 * node itself); a batch spanning slots refused; a slot moved by hand
 * (SETSLOT MIGRATING/IMPORTING, MIGRATE, SETSLOT NODE) followed through
 * ASK, TRYAGAIN and MOVED; WAIT refusing a write when the shard's replica
 * is gone; a master killed and its replica promoted. The tests run in
 * order on one cluster: the last ones change it. */
#include <CUnit/CUnit.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "store.h"
#include "support.h"

struct fx {
    struct test_cluster cl;
    bool started;
    struct event_base *base;
    struct log log;
    struct store *store;
};

static struct fx F;            /* the suite's cluster (tests run in order) */

static int suite_init(void)
{
    if (support_cluster_start(&F.cl) != 0) {
        fprintf(stderr, "cluster suite: cannot start a Redis Cluster\n");
        return -1;
    }
    F.started = true;
    F.base = event_base_new();
    log_init(&F.log);
    F.log.level = LOG_DEBUG;
    F.log.out = fopen("/dev/null", "w");
    return 0;
}

static int suite_clean(void)
{
    store_free(F.store);
    F.store = NULL;
    support_cluster_stop(&F.cl);
    if (F.base) {
        event_base_free(F.base);
        fclose(F.log.out);
    }
    memset(&F, 0, sizeof F);
    return 0;
}

static bool is_up(const void *store)
{
    return store_is_up(store);
}

/* A store on the cluster, up (every slot's master connected). */
static struct store *open_store(struct store_opts o)
{
    store_free(F.store);
    o.url = F.cl.url;
    char err[256] = "";
    F.store = store_new(F.base, &o, &F.log, err, sizeof err);
    if (F.store == NULL)
        fprintf(stderr, "store_new: %s\n", err);
    else if (!support_run_until(F.base, is_up, F.store, 10000))
        fprintf(stderr, "cluster store not up\n");
    return F.store;
}

struct res {
    int calls;
    enum store_status st;
    enum store_reply_type type;
    char str[256];
    long long i;
    size_t n;
    char estr[4][64];
};

static void on_res(void *arg, enum store_status st, const struct store_reply *r)
{
    struct res *x = arg;
    x->calls++;
    x->st = st;
    x->type = store_reply_type(r);
    const char *s = store_reply_str(r, NULL);
    snprintf(x->str, sizeof x->str, "%s", s ? s : "");
    x->i = store_reply_int(r);
    x->n = store_reply_len(r);
    for (size_t k = 0; k < x->n && k < 4; k++) {
        const char *es = store_reply_str(store_reply_at(r, k), NULL);
        snprintf(x->estr[k], sizeof x->estr[k], "%s", es ? es : "");
    }
}

static bool res_done(const void *arg)
{
    return ((const struct res *)arg)->calls > 0;
}

static struct res run_cmd(const char *fmt, const char *a1, const char *a2)
{
    struct res x = {0};
    if (store_cmdf(F.store, on_res, &x, fmt, a1, a2) != 0)
        x.calls = -1;
    else
        support_run_until(F.base, res_done, &x, 15000);
    return x;
}

/* GET key asked of one node directly (no redirect followed). */
static void node_get(int i, const char *key, char *out, size_t n)
{
    char args[300];
    snprintf(args, sizeof args, "get '%s'", key);
    support_redis_text(&F.cl.node[i], args, out, n);
    out[strcspn(out, "\n")] = '\0';
}

static unsigned slot_of(const char *key)
{
    return keys_slot(key, strlen(key));
}

/* ---- slot map parsing ---- */

static struct store_slotmap *parse(const char *resp, char *err, size_t n)
{
    struct store_reply *r = store_reply_parse(resp, strlen(resp));
    CU_ASSERT_PTR_NOT_NULL(r);
    struct store_slotmap *m = store_slotmap_parse(r, "10.0.0.9", err, n);
    store_reply_free(r);
    return m;
}

static void test_slotmap_parse(void)
{
    char err[256];
    /* Two masters; the first has a replica and two ranges (its replica
     * repeated in each), the second an endpoint-less address. */
    const char *ok =
        "*3\r\n"
        "*4\r\n:0\r\n:99\r\n*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\nid\r\n"
        "*3\r\n$9\r\n127.0.0.1\r\n:7003\r\n$2\r\nr1\r\n"
        "*3\r\n:100\r\n:16000\r\n*2\r\n$0\r\n\r\n:7001\r\n"
        "*4\r\n:16001\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:7000\r\n"
        "*2\r\n$9\r\n127.0.0.1\r\n:7003\r\n";
    struct store_slotmap *m = parse(ok, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_STRING_EQUAL(store_slotmap_master(m, 0), "127.0.0.1:7000");
    CU_ASSERT_STRING_EQUAL(store_slotmap_master(m, 99), "127.0.0.1:7000");
    CU_ASSERT_STRING_EQUAL(store_slotmap_master(m, 100), "10.0.0.9:7001");
    CU_ASSERT_STRING_EQUAL(store_slotmap_master(m, 16383), "127.0.0.1:7000");
    CU_ASSERT_EQUAL(store_slotmap_masters(m), 2);
    CU_ASSERT_EQUAL(store_slotmap_replicas(m, 0), 1);
    CU_ASSERT_EQUAL(store_slotmap_replicas(m, 500), 0);
    CU_ASSERT_PTR_NULL(store_slotmap_master(m, 16384));
    store_slotmap_free(m);

    /* A hole is allowed (a slot nobody serves). */
    m = parse("*1\r\n*3\r\n:5\r\n:6\r\n*2\r\n$1\r\nh\r\n:1\r\n", err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_PTR_NULL(store_slotmap_master(m, 4));
    CU_ASSERT_STRING_EQUAL(store_slotmap_master(m, 6), "h:1");
    CU_ASSERT_EQUAL(store_slotmap_replicas(m, 7), -1);
    store_slotmap_free(m);

    const char *bad[] = {
        "-ERR This instance has cluster support disabled\r\n",
        ":1\r\n",
        "*1\r\n:1\r\n",                                                   /* entry not an array */
        "*1\r\n*2\r\n:0\r\n:1\r\n",                                       /* no master */
        "*1\r\n*3\r\n:5\r\n:4\r\n*2\r\n$1\r\nh\r\n:1\r\n",                /* lo > hi */
        "*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\nh\r\n:1\r\n",            /* past the last slot */
        "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\nh\r\n:0\r\n",                /* port 0 */
        "*1\r\n*3\r\n:0\r\n:1\r\n*1\r\n$1\r\nh\r\n",                      /* no port */
        "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\nh\r\n$1\r\n1\r\n",           /* port a string */
        "*2\r\n*3\r\n:0\r\n:9\r\n*2\r\n$1\r\nh\r\n:1\r\n"
        "*3\r\n:9\r\n:10\r\n*2\r\n$1\r\ng\r\n:1\r\n",                     /* slot 9 twice */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        m = parse(bad[i], err, sizeof err);
        CU_ASSERT_PTR_NULL(m);
        CU_ASSERT(strncmp(err, "CLUSTER SLOTS: ", 15) == 0);
        store_slotmap_free(m);
    }
    CU_ASSERT_PTR_NULL(store_reply_parse("*2\r\n:1\r\n", 8));   /* incomplete */
}

static void test_cluster_urls(void)
{
    char err[256];
    const char *bad[] = {"redis-cluster://", "redis-cluster://h:0", "redis-cluster://h:1,",
                         "redis-cluster://h:1/0", "redis-cluster://h:99999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct store_opts o = {.url = bad[i]};
        err[0] = '\0';
        CU_ASSERT_PTR_NULL(store_new(F.base, &o, &F.log, err, sizeof err));
        CU_ASSERT(strstr(err, "bad redis url") != NULL);
    }
}

static bool answered(const void *arg)
{
    return ((const int *)arg)[0] > 0;
}

/* Seeds nobody answers on: store_new returns at once (no blocking
 * connect), a command waits out its deadline for a master, then fails
 * with STORE_DOWN (never ran), called from the loop, not from store_cmd. */
static void test_unreachable_seeds(void)
{
    char url[128], err[256];
    snprintf(url, sizeof url, "redis-cluster://127.0.0.1:%d,127.0.0.1:%d", support_free_port(),
             support_free_port());
    struct store_opts o = {.url = url, .timeout_ms = 400};
    struct store *s = store_new(F.base, &o, &F.log, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_FALSE(store_is_up(s));
    struct res x = {0};
    CU_ASSERT_EQUAL(store_cmdf(s, on_res, &x, "GET %s", "k"), 0);
    CU_ASSERT_EQUAL(x.calls, 0);
    support_run_until(F.base, answered, &x.calls, 200);
    CU_ASSERT_EQUAL(x.calls, 0);                 /* still waiting for a master */
    support_run_until(F.base, answered, &x.calls, 3000);
    CU_ASSERT_EQUAL(x.calls, 1);
    CU_ASSERT_EQUAL(x.st, STORE_DOWN);
    CU_ASSERT(store_get_stats(s)->retries > 0);
    store_free(s);
}

/* ---- a live cluster ---- */

struct grab {
    struct store_slotmap **m;
    int calls;
};

static void on_grab(void *arg, enum store_status st, const struct store_reply *r)
{
    struct grab *g = arg;
    char err[256];
    if (st == STORE_OK && (*g->m = store_slotmap_parse(r, "127.0.0.1", err, sizeof err)) == NULL)
        fprintf(stderr, "%s\n", err);
    g->calls++;
}

static bool grab_done(const void *arg)
{
    return ((const struct grab *)arg)->calls > 0;
}

static void test_live_map(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(open_store((struct store_opts){0}));
    CU_ASSERT_TRUE(store_is_cluster(F.store));
    CU_ASSERT_EQUAL(store_slots_up(F.store), KEYS_SLOTS);
    struct store_node_info nodes[16];
    size_t n = store_nodes(F.store, nodes, 16);
    unsigned masters = 0, slots = 0;
    for (size_t i = 0; i < n; i++) {
        if (nodes[i].master) {
            masters++;
            slots += nodes[i].slots;
            CU_ASSERT_TRUE(nodes[i].up);
            CU_ASSERT_EQUAL(nodes[i].replicas, 1);
        }
    }
    CU_ASSERT_EQUAL(masters, 3);
    CU_ASSERT_EQUAL(slots, KEYS_SLOTS);

    /* The live CLUSTER SLOTS reply, parsed: each master as the nodes say. */
    struct store_slotmap *m = NULL;
    struct grab g = {&m, 0};
    CU_ASSERT_EQUAL(store_cmdf(F.store, on_grab, &g, "CLUSTER SLOTS"), 0);
    support_run_until(F.base, grab_done, &g, 5000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(store_slotmap_masters(m), 3);
    for (unsigned slot = 0; slot < KEYS_SLOTS; slot += 997) {
        int owner = support_cluster_master_of(&F.cl, slot);
        char want[64];
        snprintf(want, sizeof want, "127.0.0.1:%d", owner >= 0 ? F.cl.node[owner].port : 0);
        CU_ASSERT_STRING_EQUAL(store_slotmap_master(m, slot), want);
        CU_ASSERT_EQUAL(store_slotmap_replicas(m, slot), 1);
    }
    store_slotmap_free(m);
}

/* keys_slot agrees with Redis for the keys cityd uses. */
static void test_keyslot_matches_redis(void)
{
    char keys[16][KEY_MAX];
    int n = 0;
    keys_lot(keys[n++], KEY_MAX, "yt-zf-0001", "state");
    keys_lot(keys[n++], KEY_MAX, "yt-kerb-112", "bays");
    keys_plate(keys[n++], KEY_MAX, "鲁F12345", "session");
    keys_plate(keys[n++], KEY_MAX, "鲁YD0A123", "arrears");
    keys_vehicle(keys[n++], KEY_MAX, "bus-1042", "pos");
    keys_corridor(keys[n++], KEY_MAX, "nandajie", "plan");
    keys_intersection(keys[n++], KEY_MAX, "nandajie-03", "counts");
    keys_kiosk(keys[n++], KEY_MAX, "k7", "token");
    keys_city(keys[n++], KEY_MAX, "lots");
    keys_city(keys[n++], KEY_MAX, "accounts");
    keys_seen(keys[n++], KEY_MAX, "lot", "yt-zf-0001", "obs-778");
    keys_channel(keys[n++], KEY_MAX, "parking");
    snprintf(keys[n++], KEY_MAX, "cityd:{p:07}:feed");
    snprintf(keys[n++], KEY_MAX, "no-tag-at-all");
    snprintf(keys[n++], KEY_MAX, "empty{}tag");
    for (int i = 0; i < n; i++) {
        struct res x = run_cmd("CLUSTER KEYSLOT %s", keys[i], NULL);
        CU_ASSERT_EQUAL(x.st, STORE_OK);
        CU_ASSERT_EQUAL(x.type, STORE_R_INTEGER);
        CU_ASSERT_EQUAL(x.i, (long long)slot_of(keys[i]));
        if (x.i != (long long)slot_of(keys[i]))
            fprintf(stderr, "key %s: redis %lld, keys_slot %u\n", keys[i], x.i, slot_of(keys[i]));
    }
}

/* Commands, scripts and batches land on the master of their slot, with
 * no redirect needed. */
static void test_routing(void)
{
    unsigned long long moved = store_get_stats(F.store)->moved;
    char key[64], val[64], got[128];
    int per_node[8] = {0};
    for (int i = 0; i < 60; i++) {
        snprintf(key, sizeof key, "route:%d", i);
        snprintf(val, sizeof val, "v%d", i);
        struct res x = run_cmd("SET %s %s", key, val);
        CU_ASSERT_EQUAL(x.st, STORE_OK);
        CU_ASSERT_STRING_EQUAL(x.str, "OK");
        int owner = support_cluster_master_of(&F.cl, slot_of(key));
        CU_ASSERT_FATAL(owner >= 0);
        per_node[owner]++;
        node_get(owner, key, got, sizeof got);
        CU_ASSERT_STRING_EQUAL(got, val);
    }
    CU_ASSERT(per_node[0] > 0 && per_node[1] > 0 && per_node[2] > 0);

    /* A script: routed by its first key. */
    struct store_script *sc = store_script_new(F.store, "return redis.call('INCRBY', KEYS[1], ARGV[1])");
    const char *argv[] = {"{sc}counter", "5"};
    for (int i = 0; i < 2; i++) {
        struct res x = {0};
        CU_ASSERT_EQUAL(store_script_eval(F.store, sc, on_res, &x, 1, 2, argv, NULL), 0);
        support_run_until(F.base, res_done, &x, 5000);
        CU_ASSERT_EQUAL(x.st, STORE_OK);
        CU_ASSERT_EQUAL(x.i, 5 * (i + 1));
    }
    int sm = support_cluster_master_of(&F.cl, slot_of("{sc}counter"));
    node_get(sm, "{sc}counter", got, sizeof got);
    CU_ASSERT_STRING_EQUAL(got, "10");
    /* That master forgets its scripts: NOSCRIPT is answered by EVAL. */
    support_redis_text(&F.cl.node[sm], "script flush", got, sizeof got);
    struct res z = {0};
    CU_ASSERT_EQUAL(store_script_eval(F.store, sc, on_res, &z, 1, 2, argv, NULL), 0);
    support_run_until(F.base, res_done, &z, 5000);
    CU_ASSERT_EQUAL(z.st, STORE_OK);
    CU_ASSERT_EQUAL(z.i, 15);

    /* A batch with one tag; XREAD by its stream key. */
    struct store_batch *b = store_batch_new();
    store_batch_addf(b, "SET %s %s", "{bt}a", "1");
    store_batch_addf(b, "XADD %s * f %s", "{bt}feed", "x");
    store_batch_addf(b, "GET %s", "{bt}a");
    struct res x = {0};
    CU_ASSERT_EQUAL(store_batch_send(F.store, b, on_res, &x), 0);
    support_run_until(F.base, res_done, &x, 5000);
    CU_ASSERT_EQUAL(x.st, STORE_OK);
    CU_ASSERT_EQUAL(x.n, 3);
    CU_ASSERT_STRING_EQUAL(x.estr[2], "1");
    const char *xr[] = {"XREAD", "COUNT", "10", "STREAMS", "{bt}feed", "0"};
    struct res y = {0};
    CU_ASSERT_EQUAL(store_cmd_argv(F.store, on_res, &y, 6, xr, NULL), 0);
    support_run_until(F.base, res_done, &y, 5000);
    CU_ASSERT_EQUAL(y.st, STORE_OK);
    CU_ASSERT_EQUAL(y.type, STORE_R_ARRAY);
    CU_ASSERT_EQUAL(y.n, 1);
    CU_ASSERT_EQUAL(store_get_stats(F.store)->moved, moved);
}

/* A batch spanning slots is a programming error: refused, counted. */
static void test_cross_slot_batch(void)
{
    unsigned long long before = store_get_stats(F.store)->cross_slot;
    struct store_batch *b = store_batch_new();
    store_batch_addf(b, "SET %s %s", "{one}a", "1");
    store_batch_addf(b, "SET %s %s", "{two}b", "1");
    CU_ASSERT_NOT_EQUAL(slot_of("{one}a"), slot_of("{two}b"));
    struct res x = {0};
    CU_ASSERT_EQUAL(store_batch_send(F.store, b, on_res, &x), -1);
    support_run_until(F.base, NULL, NULL, 50);
    CU_ASSERT_EQUAL(x.calls, 0);                 /* no callback for a refused batch */
    CU_ASSERT_EQUAL(store_get_stats(F.store)->cross_slot, before + 1);
    char got[64];
    node_get(support_cluster_master_of(&F.cl, slot_of("{one}a")), "{one}a", got, sizeof got);
    CU_ASSERT_STRING_EQUAL(got, "");             /* nothing applied */
    /* Keyless commands (PING) do not count against the slot. */
    b = store_batch_new();
    store_batch_addf(b, "PING");
    store_batch_addf(b, "SET %s %s", "{one}a", "2");
    CU_ASSERT_EQUAL(store_batch_send(F.store, b, on_res, &x), 0);
    support_run_until(F.base, res_done, &x, 5000);
    CU_ASSERT_EQUAL(x.st, STORE_OK);
    CU_ASSERT_EQUAL(x.n, 2);
}

static bool is_master(int i)
{
    char out[256];
    return support_redis_text(&F.cl.node[i], "role", out, sizeof out) > 0 &&
           strncmp(out, "master", 6) == 0;
}

static void node_id(int i, char *out, size_t n)
{
    support_redis_text(&F.cl.node[i], "cluster myid", out, n);
    out[strcspn(out, "\n")] = '\0';
}

static int cli(int i, const char *fmt, const char *a, const char *b)
{
    char args[512], out[512];
    snprintf(args, sizeof args, fmt, a, b);
    support_redis_text(&F.cl.node[i], args, out, sizeof out);
    if (strncmp(out, "OK", 2) != 0)
        fprintf(stderr, "redis-cli %s: %s", args, out);
    return strncmp(out, "OK", 2) == 0 ? 0 : -1;
}

/* One slot moved by hand from its master A to another master B, with
 * commands in the middle: ASK while migrating, TRYAGAIN for a batch whose
 * keys are split, MOVED once the slot is B's. */
static void test_migration_ask_tryagain_moved(void)
{
    const char *k1 = "{mig}one", *k2 = "{mig}two", *k3 = "{mig}new";
    unsigned slot = slot_of(k1);
    char sl[16], ida[64], idb[64], got[64], port_b[16];
    snprintf(sl, sizeof sl, "%u", slot);
    CU_ASSERT_EQUAL(run_cmd("SET %s %s", k1, "1").st, STORE_OK);
    CU_ASSERT_EQUAL(run_cmd("SET %s %s", k2, "2").st, STORE_OK);
    int a = support_cluster_master_of(&F.cl, slot), bn = -1;
    CU_ASSERT_FATAL(a >= 0);
    for (int i = 0; i < CLUSTER_NODES && bn < 0; i++)
        bn = i != a && is_master(i) ? i : -1;
    CU_ASSERT_FATAL(bn >= 0);
    node_id(a, ida, sizeof ida);
    node_id(bn, idb, sizeof idb);
    snprintf(port_b, sizeof port_b, "%d", F.cl.node[bn].port);
    CU_ASSERT_EQUAL_FATAL(cli(bn, "cluster setslot %s importing %s", sl, ida), 0);
    CU_ASSERT_EQUAL_FATAL(cli(a, "cluster setslot %s migrating %s", sl, idb), 0);
    const struct store_stats *st = store_get_stats(F.store);
    unsigned long long ask0 = st->ask, moved0 = st->moved, retries0 = st->retries;

    /* A key A does not have while migrating: A says ASK, B takes it. */
    struct res x = run_cmd("SET %s %s", k3, "3");
    CU_ASSERT_EQUAL(x.st, STORE_OK);
    CU_ASSERT_STRING_EQUAL(x.str, "OK");
    CU_ASSERT(st->ask > ask0);
    /* A key A still has: A answers. */
    x = run_cmd("GET %s", k2, NULL);
    CU_ASSERT_STRING_EQUAL(x.str, "2");

    /* k1 to B: a batch of k1 and k2 is split, TRYAGAIN until k2 follows. */
    char args[256];
    snprintf(args, sizeof args, "migrate 127.0.0.1 %s \"\" 0 5000 keys '%s'", port_b, k1);
    support_redis_text(&F.cl.node[a], args, got, sizeof got);
    CU_ASSERT(strncmp(got, "OK", 2) == 0);
    struct store_batch *b = store_batch_new();
    store_batch_addf(b, "INCR %s", k1);
    store_batch_addf(b, "INCR %s", k2);
    struct res y = {0};
    CU_ASSERT_EQUAL(store_batch_send(F.store, b, on_res, &y), 0);
    support_run_until(F.base, NULL, NULL, 300);
    CU_ASSERT_EQUAL(y.calls, 0);                 /* still waiting it out */
    CU_ASSERT(st->retries > retries0);
    snprintf(args, sizeof args, "migrate 127.0.0.1 %s \"\" 0 5000 keys '%s'", port_b, k2);
    support_redis_text(&F.cl.node[a], args, got, sizeof got);
    support_run_until(F.base, res_done, &y, 5000);
    CU_ASSERT_EQUAL(y.st, STORE_OK);
    CU_ASSERT_EQUAL(y.n, 2);
    CU_ASSERT_STRING_EQUAL(y.estr[0], "");       /* integers: no string */
    /* GET through ASK: both keys now on B, incremented once. */
    CU_ASSERT_STRING_EQUAL(run_cmd("GET %s", k1, NULL).str, "2");
    CU_ASSERT_STRING_EQUAL(run_cmd("GET %s", k2, NULL).str, "3");

    /* The slot is B's: every master is told. The store, still sending to
     * A, gets MOVED once and then goes to B directly. */
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(cli(i, "cluster setslot %s node %s", sl, idb), 0);
    x = run_cmd("GET %s", k3, NULL);
    CU_ASSERT_EQUAL(x.st, STORE_OK);
    CU_ASSERT_STRING_EQUAL(x.str, "3");
    CU_ASSERT_EQUAL(st->moved, moved0 + 1);
    x = run_cmd("GET %s", k1, NULL);
    CU_ASSERT_STRING_EQUAL(x.str, "2");
    CU_ASSERT_EQUAL(st->moved, moved0 + 1);
    node_get(bn, k1, got, sizeof got);
    CU_ASSERT_STRING_EQUAL(got, "2");
}

/* wait_replicas = 1: writes confirmed while the shard's replica is up;
 * with it gone, a write answers STORE_TIMEOUT (applied on the master, not
 * replicated) while reads and other shards carry on. */
static void test_wait_replicas(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(open_store((struct store_opts){.wait_replicas = 1,
                                                                .wait_timeout_ms = 300}));
    const char *key = "{wait}k";
    CU_ASSERT_EQUAL(run_cmd("SET %s %s", key, "1").st, STORE_OK);
    struct store_batch *b = store_batch_new();
    store_batch_addf(b, "INCR %s", key);
    struct res x = {0};
    CU_ASSERT_EQUAL(store_batch_send(F.store, b, on_res, &x), 0);
    support_run_until(F.base, res_done, &x, 5000);
    CU_ASSERT_EQUAL(x.st, STORE_OK);
    CU_ASSERT_EQUAL(store_get_stats(F.store)->wait_failed, 0);

    /* The replica of key's master: the node whose master it is. */
    int m = support_cluster_master_of(&F.cl, slot_of(key)), r = -1;
    char id[64], out[256];
    node_id(m, id, sizeof id);
    for (int i = 0; i < CLUSTER_NODES && r < 0; i++) {
        support_redis_text(&F.cl.node[i], "role", out, sizeof out);
        char *p = strstr(out, "slave");
        char port[16];
        snprintf(port, sizeof port, "%d", F.cl.node[m].port);
        if (i != m && p != NULL && strstr(p, port) != NULL)
            r = i;
    }
    CU_ASSERT_FATAL(r >= 0);
    support_redis_kill(&F.cl.node[r], true);
    x = run_cmd("SET %s %s", key, "7");
    CU_ASSERT_EQUAL(x.st, STORE_TIMEOUT);
    CU_ASSERT_EQUAL(store_get_stats(F.store)->wait_failed, 1);
    x = run_cmd("GET %s", key, NULL);              /* a read waits for nothing */
    CU_ASSERT_EQUAL(x.st, STORE_OK);
    CU_ASSERT_STRING_EQUAL(x.str, "7");            /* it did apply on the master */
    /* Another shard still confirms. */
    char other[32];
    for (int i = 0;; i++) {
        snprintf(other, sizeof other, "w%d", i);
        if (support_cluster_master_of(&F.cl, slot_of(other)) != m)
            break;
    }
    CU_ASSERT_EQUAL(run_cmd("SET %s %s", other, "1").st, STORE_OK);
    CU_ASSERT_EQUAL(support_redis_restart(&F.cl.node[r]), 0);
    CU_ASSERT_EQUAL(support_cluster_wait_ok(&F.cl, 20000), 0);
}

static bool ok_done(const void *arg)
{
    const struct res *x = arg;
    return x->calls > 0;
}

/* SIGKILL of a master: its slots wait (commands retried, no 503 while the
 * deadline allows), the replica is promoted, the store follows; other
 * shards answer throughout. */
static void test_failover(void)
{
    /* "before" confirmed on the replica (WAIT), then a store without. */
    CU_ASSERT_PTR_NOT_NULL_FATAL(open_store((struct store_opts){.wait_replicas = 1,
                                                                .wait_timeout_ms = 2000}));
    const char *key = "{fo}k";
    CU_ASSERT_EQUAL(run_cmd("SET %s %s", key, "before").st, STORE_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(open_store((struct store_opts){.timeout_ms = 8000}));
    int m = support_cluster_master_of(&F.cl, slot_of(key));
    char other[32];
    for (int i = 0;; i++) {
        snprintf(other, sizeof other, "f%d", i);
        if (support_cluster_master_of(&F.cl, slot_of(other)) != m)
            break;
    }
    support_redis_kill(&F.cl.node[m], true);
    unsigned long long fo0 = store_get_stats(F.store)->failovers;
    struct res x = {0}, y = {0};
    CU_ASSERT_EQUAL(store_cmdf(F.store, on_res, &x, "GET %s", key), 0);
    CU_ASSERT_EQUAL(store_cmdf(F.store, on_res, &y, "SET %s %s", other, "during"), 0);
    support_run_until(F.base, ok_done, &y, 3000);
    CU_ASSERT_EQUAL(y.st, STORE_OK);              /* another shard: at once */
    support_run_until(F.base, ok_done, &x, 9000);
    CU_ASSERT_EQUAL(x.calls, 1);
    CU_ASSERT_EQUAL(x.st, STORE_OK);              /* after the promotion */
    CU_ASSERT_STRING_EQUAL(x.str, "before");
    CU_ASSERT(store_get_stats(F.store)->failovers > fo0);
    CU_ASSERT_EQUAL(run_cmd("SET %s %s", key, "after").st, STORE_OK);
    support_run_until(F.base, is_up, F.store, 5000);
    CU_ASSERT_TRUE(store_is_up(F.store));
    /* The old master comes back as a replica. */
    CU_ASSERT_EQUAL(support_redis_restart(&F.cl.node[m]), 0);
    CU_ASSERT_EQUAL(support_cluster_wait_ok(&F.cl, 20000), 0);
    CU_ASSERT_STRING_EQUAL(run_cmd("GET %s", key, NULL).str, "after");
}

int suite_cluster(void)
{
    CU_pSuite s = CU_add_suite("cluster", suite_init, suite_clean);
    if (!s)
        return -1;
    if (!CU_add_test(s, "slot map parsing (crafted CLUSTER SLOTS replies)", test_slotmap_parse) ||
        !CU_add_test(s, "redis-cluster:// urls", test_cluster_urls) ||
        !CU_add_test(s, "unreachable seeds: the deadline, then down", test_unreachable_seeds) ||
        !CU_add_test(s, "live slot map and node table", test_live_map) ||
        !CU_add_test(s, "keys_slot agrees with CLUSTER KEYSLOT", test_keyslot_matches_redis) ||
        !CU_add_test(s, "commands, scripts, batches routed to their master", test_routing) ||
        !CU_add_test(s, "a batch spanning slots is refused", test_cross_slot_batch) ||
        !CU_add_test(s, "slot migration: ASK, TRYAGAIN, MOVED", test_migration_ask_tryagain_moved) ||
        !CU_add_test(s, "wait_replicas refuses an unreplicated write", test_wait_replicas) ||
        !CU_add_test(s, "a master killed: replica promoted, store follows", test_failover))
        return -1;
    return 0;
}
