/* migrate.c -- the one-time move from the first key layout (one hash tag
 * per lot and vehicle, city-wide sets and one change feed under {city})
 * to the partitioned one (keys.h, docs/scaling.md "Data layout"), run at
 * start before any module restores.
 *
 * Layout 1 -> 2:
 *   cityd:{lot:X}:<what>          -> cityd:{p:NN}:lot:X:<what>   (every key)
 *   cityd:{veh:X}:<what>          -> cityd:{p:NN}:veh:X:<what>
 *   cityd:{city}:parking:defs     -> cityd:{p:NN}:parking:defs     (by lot)
 *   cityd:{city}:session_lots     -> cityd:{p:NN}:session_lots     (by lot)
 *   cityd:{city}:transit:vehicles -> cityd:{p:NN}:transit:vehicles (by vehicle)
 *   cityd:{city}:accounts         -> cityd:{p:NN}:accounts         (by plate)
 *   cityd:{city}:parking:changes, :parking:seq: dropped (a feed only
 *   tells running processes of changes; the state is in the objects)
 * then cityd:layout = 2. A start that finds cityd:layout = 2 does nothing
 * more. Until the move is complete no module restores (module.c), so no
 * endpoint serves and nothing writes the new keys from this process.
 *
 * Safe to repeat and to run twice at once: a key moves by DUMP, PTTL,
 * RESTORE under the new name without REPLACE, then DEL of the old one. A
 * new name that exists already (BUSYKEY) was moved by another process
 * (or by this one before it was killed), and the old copy is just deleted;
 * an old key gone meanwhile is skipped. Set members are added (SADD,
 * HSETNX) before the old set goes. A process killed halfway leaves old
 * keys that the next start moves: SCAN returns every key that exists for
 * the whole scan. Writers of the old layout (an older cityd) must be
 * stopped first: their writes after the move would go to the old keys.
 * Each step is retried from the start after a failure, with a backoff. */
#include "migrate.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "keys.h"
#include "log.h"
#include "module.h"
#include "store.h"

#define LAYOUT_KEY "cityd:layout"
#define LAYOUT "2"
#define SCAN_COUNT "500"
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000

enum phase { P_CHECK, P_KEYS, P_SETS, P_MARK, P_DONE };

/* Old object keys, and the kind they become. */
static const struct {
    const char *match, *prefix, *kind;
} OBJECTS[] = {
    {"cityd:{lot:*", "cityd:{lot:", "lot"},
    {"cityd:{veh:*", "cityd:{veh:", "veh"},
};

/* Old city-wide indexes; hash: a plate -> JSON HASH, else a SET. */
static const struct {
    const char *what;
    bool hash;
} INDEXES[] = {
    {"parking:defs", false},
    {"session_lots", false},
    {"transit:vehicles", false},
    {"accounts", true},
};

struct migrate {
    struct app *a;
    struct lifetime lt;
    enum phase phase;
    size_t which;                      /* OBJECTS / INDEXES entry */
    char cursor[32];
    bool started;                      /* the current scan has begun */
    bool deleting;                     /* the old index is being deleted */
    unsigned gen;                      /* bumped by a failure: late replies drop */
    size_t pending;                    /* replies of the current page */
    bool failed;
    int backoff_ms;
    struct event *timer;
    size_t moved;
};

struct mcall {
    struct migrate *m;
    unsigned gen;
    char old[KEY_MAX], dst[KEY_MAX];
    char *dump;
    size_t dlen;
    long long ttl;
    int got;                           /* replies of DUMP and PTTL */
};

static void run(struct migrate *m);

static void schedule(struct migrate *m, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (!m->lt.stopped)
        evtimer_add(m->timer, &tv);
}

static void fail(struct migrate *m, const char *what, enum store_status st,
                 const struct store_reply *r)
{
    char qe[512];
    const char *e = st == STORE_OK ? store_reply_str(r, NULL) : NULL;
    if (m->failed)
        return;
    m->failed = true;
    m->gen++;
    m->phase = P_CHECK;
    log_warn(&m->a->log, "layout_migrate_retry", "what=%s error=%s retry_ms=%d", what,
             log_quote(qe, sizeof qe, e ? e : st == STORE_DOWN ? "store down"
                                            : st == STORE_TIMEOUT ? "timeout" : what),
             m->backoff_ms);
    schedule(m, m->backoff_ms);
    m->backoff_ms = m->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : m->backoff_ms * 2;
}

/* Send a command; cb(arg) gets the reply. -1: failed (m->failed set). */
static int mig_send(struct migrate *m, store_cb *cb, void *arg, int argc, const char **argv,
                const size_t *lens)
{
    lifetime_hold(&m->lt);
    m->pending++;
    if (store_cmd_argv(m->a->store, cb, arg, argc, argv, lens) == 0)
        return 0;
    lifetime_release(&m->lt);
    m->pending--;
    fail(m, "cannot queue a command", STORE_OK, NULL);
    return -1;
}

/* A reply came: false when it must be dropped (stopped, stale, failed). */
static bool took(struct migrate *m, unsigned gen)
{
    bool live = lifetime_release(&m->lt) && gen == m->gen;
    if (live)
        m->pending--;
    return live && !m->failed;
}

/* The page is done when nothing is pending: the next page, or phase. */
static void page_done(struct migrate *m)
{
    if (m->pending > 0 || m->failed)
        return;
    run(m);
}

static bool is_error(enum store_status st, const struct store_reply *r)
{
    return st != STORE_OK || store_reply_type(r) == STORE_R_ERROR;
}

/* ---- moving one object key ---- */

static void mcall_free(struct mcall *c)
{
    free(c->dump);
    free(c);
}

static void on_del(void *arg, enum store_status st, const struct store_reply *r)
{
    struct mcall *c = arg;
    struct migrate *m = c->m;
    if (took(m, c->gen)) {
        if (is_error(st, r))
            fail(m, "DEL", st, r);
        else
            page_done(m);
    }
    mcall_free(c);
}

static void del_old(struct mcall *c)
{
    const char *argv[] = {"DEL", c->old};
    if (mig_send(c->m, on_del, c, 2, argv, NULL) != 0)
        mcall_free(c);
}

static void on_restore(void *arg, enum store_status st, const struct store_reply *r)
{
    struct mcall *c = arg;
    struct migrate *m = c->m;
    const char *e = store_reply_str(r, NULL);
    if (!took(m, c->gen)) {
        mcall_free(c);
        return;
    }
    bool busy = st == STORE_OK && store_reply_type(r) == STORE_R_ERROR && e != NULL &&
                strncmp(e, "BUSYKEY", 7) == 0;
    if (is_error(st, r) && !busy) {
        fail(m, "RESTORE", st, r);
        mcall_free(c);
        return;
    }
    m->moved += !busy;
    del_old(c);
}

/* DUMP and PTTL both answered: RESTORE under the new name. */
static void restore_new(struct mcall *c)
{
    char ttl[32];
    snprintf(ttl, sizeof ttl, "%lld", c->ttl > 0 ? c->ttl : 0);
    const char *argv[] = {"RESTORE", c->dst, ttl, c->dump};
    size_t lens[] = {7, strlen(c->dst), strlen(ttl), c->dlen};
    if (mig_send(c->m, on_restore, c, 4, argv, lens) != 0)
        mcall_free(c);
}

static void on_dump_or_ttl(struct mcall *c, enum store_status st, const struct store_reply *r,
                           bool dump)
{
    struct migrate *m = c->m;
    bool live = took(m, c->gen);
    if (live && is_error(st, r))
        fail(m, dump ? "DUMP" : "PTTL", st, r);
    else if (live && dump && store_reply_type(r) == STORE_R_STRING) {
        const char *d = store_reply_str(r, &c->dlen);
        if ((c->dump = malloc(c->dlen ? c->dlen : 1)) == NULL)
            fail(m, "out of memory", STORE_OK, NULL);
        else
            memcpy(c->dump, d, c->dlen);
    } else if (live && !dump)
        c->ttl = store_reply_int(r);
    if (++c->got < 2)
        return;
    if (!m->failed && c->gen == m->gen && !m->lt.stopped) {
        if (c->dump != NULL && c->ttl != -2)
            restore_new(c);            /* (gone meanwhile: moved by another) */
        else {
            page_done(m);
            mcall_free(c);
        }
        return;
    }
    mcall_free(c);
}

static void on_dump(void *arg, enum store_status st, const struct store_reply *r)
{
    on_dump_or_ttl(arg, st, r, true);
}

static void on_pttl(void *arg, enum store_status st, const struct store_reply *r)
{
    on_dump_or_ttl(arg, st, r, false);
}

/* "cityd:{lot:X}:<what>" -> keys_lot(X, what). The id ends at the last
 * "}:" (no <what> holds one). False for a key of another shape. */
static bool new_name(const char *old, const char *prefix, const char *kind, char *dst)
{
    size_t pl = strlen(prefix);
    const char *end = NULL;
    char id[KEY_MAX];
    if (strncmp(old, prefix, pl) != 0)
        return false;
    for (const char *p = strstr(old + pl, "}:"); p != NULL; p = strstr(p + 1, "}:"))
        end = p;
    if (end == NULL || end == old + pl || (size_t)(end - old - pl) >= sizeof id)
        return false;
    memcpy(id, old + pl, (size_t)(end - old - pl));
    id[end - old - pl] = '\0';
    if (strcmp(kind, "lot") == 0)
        keys_lot(dst, KEY_MAX, id, end + 2);
    else
        keys_vehicle(dst, KEY_MAX, id, end + 2);
    return true;
}

static void move_key(struct migrate *m, const char *old, size_t len)
{
    struct mcall *c = calloc(1, sizeof *c);
    if (c == NULL || len >= sizeof c->old) {
        free(c);
        if (len < KEY_MAX)
            fail(m, "out of memory", STORE_OK, NULL);
        return;                        /* (a key too long for cityd never was ours) */
    }
    *c = (struct mcall){.m = m, .gen = m->gen};
    memcpy(c->old, old, len);
    if (memchr(old, '\0', len) != NULL ||
        !new_name(c->old, OBJECTS[m->which].prefix, OBJECTS[m->which].kind, c->dst)) {
        free(c);
        return;
    }
    const char *dv[] = {"DUMP", c->old}, *tv[] = {"PTTL", c->old};
    if (mig_send(m, on_dump, c, 2, dv, NULL) != 0) {
        free(c);
        return;
    }
    if (mig_send(m, on_pttl, c, 2, tv, NULL) != 0)
        c->got++;                      /* on_dump frees it */
}

/* A page of SCAN: [cursor, [key, ...]]. */
static void on_scan(void *arg, enum store_status st, const struct store_reply *r)
{
    struct migrate *m = arg;
    if (!took(m, m->gen))
        return;
    if (is_error(st, r)) {
        fail(m, "SCAN", st, r);
        return;
    }
    const char *cur = store_reply_str(store_reply_at(r, 0), NULL);
    const struct store_reply *keys = store_reply_at(r, 1);
    snprintf(m->cursor, sizeof m->cursor, "%s", cur ? cur : "0");
    for (size_t i = 0; i < store_reply_len(keys) && !m->failed; i++) {
        size_t len;
        const char *k = store_reply_str(store_reply_at(keys, i), &len);
        if (k != NULL)
            move_key(m, k, len);
    }
    page_done(m);
}

/* ---- the old city-wide indexes ---- */

/* Members: SADD (HSETNX) each into its partition's index. */
static void on_added(void *arg, enum store_status st, const struct store_reply *r)
{
    struct migrate *m = arg;
    if (!took(m, m->gen))
        return;
    if (is_error(st, r))
        fail(m, "SADD", st, r);
    else
        page_done(m);
}

static void on_index_page(void *arg, enum store_status st, const struct store_reply *r)
{
    struct migrate *m = arg;
    bool hash = INDEXES[m->which].hash;
    if (!took(m, m->gen))
        return;
    if (is_error(st, r)) {
        fail(m, hash ? "HSCAN" : "SSCAN", st, r);
        return;
    }
    const char *cur = store_reply_str(store_reply_at(r, 0), NULL);
    const struct store_reply *items = store_reply_at(r, 1);
    snprintf(m->cursor, sizeof m->cursor, "%s", cur ? cur : "0");
    for (size_t i = 0; i < store_reply_len(items) && !m->failed; i += hash ? 2 : 1) {
        size_t len, vlen = 0;
        const char *id = store_reply_str(store_reply_at(items, i), &len);
        const char *v = hash ? store_reply_str(store_reply_at(items, i + 1), &vlen) : "";
        char key[KEY_MAX], idz[KEY_MAX];
        if (id == NULL || v == NULL || len >= sizeof idz)
            continue;
        memcpy(idz, id, len);
        idz[len] = '\0';
        keys_part_key(key, sizeof key, keys_part(idz), INDEXES[m->which].what);
        const char *argv[] = {hash ? "HSETNX" : "SADD", key, idz, v};
        size_t lens[] = {hash ? 6 : 4, strlen(key), len, vlen};
        mig_send(m, on_added, m, hash ? 4 : 3, argv, lens);
    }
    page_done(m);
}

/* ---- phases ---- */

static void on_check(void *arg, enum store_status st, const struct store_reply *r)
{
    struct migrate *m = arg;
    if (!took(m, m->gen))
        return;
    if (is_error(st, r)) {
        fail(m, "GET " LAYOUT_KEY, st, r);
        return;
    }
    const char *v = store_reply_str(r, NULL);
    if (v != NULL && strcmp(v, LAYOUT) == 0)
        m->phase = P_DONE;
    else {
        m->phase = P_KEYS;
        m->which = 0;
        snprintf(m->cursor, sizeof m->cursor, "0");
        log_info(&m->a->log, "layout_migrate_start", "from=%s to=" LAYOUT, v ? v : "1");
    }
    run(m);
}

static void on_generic(void *arg, enum store_status st, const struct store_reply *r)
{
    struct migrate *m = arg;
    if (!took(m, m->gen))
        return;
    if (is_error(st, r))
        fail(m, "write", st, r);
    else
        page_done(m);
}

static void finish(struct migrate *m)
{
    m->a->layout_pending = false;
    log_info(&m->a->log, "layout_ready", "layout=" LAYOUT " moved=%zu", m->moved);
    restore_store_up(m->a);            /* the modules' restores may go now */
}

/* Issue the next page of the current phase, or move on. */
static void run(struct migrate *m)
{
    char key[KEY_MAX], k2[KEY_MAX];
    switch (m->phase) {
    case P_CHECK: {
        const char *argv[] = {"GET", LAYOUT_KEY};
        mig_send(m, on_check, m, 2, argv, NULL);
        return;
    }
    case P_KEYS:
        if (m->started && strcmp(m->cursor, "0") == 0) {
            m->which++;                /* that pattern's scan is complete */
            m->started = false;
        }
        if (m->which >= sizeof OBJECTS / sizeof OBJECTS[0]) {
            m->phase = P_SETS;
            m->which = 0;
            run(m);
            return;
        }
        {
            const char *argv[] = {"SCAN", m->cursor, "MATCH", OBJECTS[m->which].match, "COUNT",
                                  SCAN_COUNT};
            m->started = true;
            mig_send(m, on_scan, m, 6, argv, NULL);
        }
        return;
    case P_SETS:
        keys_city(key, sizeof key, m->which < sizeof INDEXES / sizeof INDEXES[0]
                                       ? INDEXES[m->which].what : "");
        if (m->deleting) {
            m->deleting = m->started = false;
            m->which++;
            snprintf(m->cursor, sizeof m->cursor, "0");
        } else if (m->started && strcmp(m->cursor, "0") == 0) {
            const char *argv[] = {"DEL", key};   /* every member is in its partition */
            m->deleting = true;
            mig_send(m, on_generic, m, 2, argv, NULL);
            return;
        }
        if (m->which >= sizeof INDEXES / sizeof INDEXES[0]) {
            const char *argv[] = {"DEL", keys_city(key, sizeof key, "parking:changes")};
            const char *argv2[] = {"DEL", keys_city(k2, sizeof k2, "parking:seq")};
            m->phase = P_MARK;
            if (mig_send(m, on_generic, m, 2, argv, NULL) == 0)
                mig_send(m, on_generic, m, 2, argv2, NULL);
            return;
        }
        {
            keys_city(key, sizeof key, INDEXES[m->which].what);
            const char *argv[] = {INDEXES[m->which].hash ? "HSCAN" : "SSCAN", key, m->cursor,
                                  "COUNT", SCAN_COUNT};
            m->started = true;
            mig_send(m, on_index_page, m, 5, argv, NULL);
        }
        return;
    case P_MARK: {
        const char *argv[] = {"SET", LAYOUT_KEY, LAYOUT};
        m->phase = P_DONE;
        mig_send(m, on_generic, m, 3, argv, NULL);
        return;
    }
    case P_DONE:
        finish(m);
        return;
    }
}

/* The first attempt, or another after a failure: from the check on. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct migrate *m = arg;
    (void)fd;
    (void)what;
    if (m->lt.stopped || m->phase == P_DONE)
        return;
    if (!store_is_up(m->a->store)) {
        schedule(m, BACKOFF_MIN_MS);
        return;
    }
    m->gen++;
    m->failed = m->started = m->deleting = false;
    m->pending = 0;
    m->phase = P_CHECK;
    m->which = 0;
    snprintf(m->cursor, sizeof m->cursor, "0");
    run(m);
}

static int start(struct app *a, char *err, size_t errlen)
{
    struct migrate *m = calloc(1, sizeof *m);
    if (m == NULL || (m->timer = evtimer_new(a->base, on_timer, m)) == NULL) {
        free(m);
        snprintf(err, errlen, "layout: out of memory");
        return -1;
    }
    m->a = a;
    m->backoff_ms = BACKOFF_MIN_MS;
    a->migrate = m;
    a->layout_pending = true;
    schedule(m, 0);
    return 0;
}

static void stop(struct app *a)
{
    struct migrate *m = a->migrate;
    if (m == NULL)
        return;
    m->lt.stopped = true;
    evtimer_del(m->timer);
}

static void migrate_free(struct app *a)
{
    struct migrate *m = a->migrate;
    if (m == NULL)
        return;
    lifetime_check(&m->lt, a, "layout");
    event_free(m->timer);
    free(m);
    a->migrate = NULL;
}

static bool ready(const struct app *a)
{
    return a->migrate != NULL && !a->layout_pending;
}

const struct api_module migrate_module = {"layout", start, stop, migrate_free, ready};
