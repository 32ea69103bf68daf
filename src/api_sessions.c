/* api_sessions.c -- the HTTP API of plate sessions (api_sessions.h):
 * glue between http.h, store.h and the domain modules plate, tariff,
 * session, session_book and garage.
 *
 * A write runs as a "job" in the lane of its plate: jobs of one plate run
 * one at a time in this process, each computing new session versions
 * from the book, writing them to Redis, and only on success putting them
 * in the book and replying. A failed write changes nothing and answers
 * 503; one whose outcome is unknown (a store timeout: it may still apply)
 * answers 503 store_timeout, and its plate is re-read from Redis once
 * Redis answers; until then writes answer 503 (they would be decided on
 * a book that may be missing that write).
 *
 * Several cityd (docs/scaling.md "Ownership"). A plate's sessions live
 * with the plate, in its partition (keys.h), with a version number
 * counting the plate's writes. A job first reads that number (read
 * through): if another process wrote since this one last saw the plate,
 * the plate's sessions and gate events are read again before the job
 * decides. The write is a script that applies only if the number is
 * still the one the job decided on, bumps it, and appends the new
 * versions to the partition's change feed (pfeed.h), atomically; if
 * another process got in between, the job reads the plate again and
 * decides again. So writes of one plate are serialised in Redis, whichever
 * cityd takes them, and every cityd polls the feed (0.1 s) so that reads
 * (lists, arrears, find-car, bay links) see the others' writes too. */
#include "api_sessions.h"

#include <event2/event.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "app.h"
#include "dict.h"
#include "garage.h"
#include "http.h"
#include "keys.h"
#include "map.h"
#include "metrics.h"
#include "module.h"
#include "params.h"
#include "parking.h"
#include "pfeed.h"
#include "plate.h"
#include "session.h"
#include "session_book.h"
#include "store.h"
#include "tariff.h"
#include "tz.h"

#define SCAN_COUNT "1000"
#define EVICT_TICK_S 1                  /* how often the clock is looked at */
#define EVICT_EVERY_MAX_S 600.0         /* evict at least this often (clock time) */
#define POLL_MS 100                     /* the change feed (pfeed.h) */
#define WRITE_TRIES 4                   /* a job decided again after another process wrote */

/* A plate's write. KEYS (the plate's partition): ver, sessions, gate
 * events, feed, feed seq. ARGV: the version the job decided on, origin,
 * plate, the feed's seconds kept, gate event field ("" for none: "<lot>\x1f<kind>:<id>"),
 * its session id, then session id / JSON pairs. -1 when another write
 * came first, else the new version. */
static const char WRITE_SCRIPT[] =
    "local v = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
    "if v ~= tonumber(ARGV[1]) then return -1 end\n"
    "local f = {'seq', 0, 'origin', ARGV[2], 'plate', ARGV[3]}\n"
    "for i = 7, #ARGV - 1, 2 do\n"
    "  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])\n"
    "  f[#f + 1] = 's' .. ((i - 5) / 2); f[#f + 1] = ARGV[i + 1]\n"
    "end\n"
    "if ARGV[5] ~= '' then\n"
    "  redis.call('HSET', KEYS[3], ARGV[5], ARGV[6])\n"
    "  f[#f + 1] = 'ev'; f[#f + 1] = ARGV[5]; f[#f + 1] = 'evsid'; f[#f + 1] = ARGV[6]\n"
    "end\n"
    "v = redis.call('INCR', KEYS[1])\n"
    "f[2] = redis.call('INCR', KEYS[5])\n"
    "f[#f + 1] = 'ver'; f[#f + 1] = v\n"
    "redis.call('XADD', KEYS[4], " PFEED_LUA_TRIM("ARGV[4]") ", '*', unpack(f))\n"
    "return v\n";

/* An account. KEYS (the plate's partition): accounts, feed, feed seq.
 * ARGV: plate, account JSON, origin, the feed's seconds kept. */
static const char ACCOUNT_SCRIPT[] =
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])\n"
    "local s = redis.call('INCR', KEYS[3])\n"
    "redis.call('XADD', KEYS[2], " PFEED_LUA_TRIM("ARGV[4]") ", '*', 'seq', s, 'origin', ARGV[3],"
    " 'plate', ARGV[1], 'acct', ARGV[2])\n"
    "return 1\n";

/* Claim an id of a write (idempotency beyond memory, docs/sessions.md
 * "Memory"). KEYS: the field's partition's write_ids. ARGV: field,
 * value. "" when the field is now (or was already) this value, else the
 * value another write claimed it with. */
static const char CLAIM_SCRIPT[] =
    "local v = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "if v and v ~= ARGV[2] then return v end\n"
    "if not v then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end\n"
    "return ''\n";

/* A settled session in Redis only, for a decision. KEYS (the plate's
 * partition): gate events, sessions. ARGV: a gate event field ("" for
 * none), a session id (used when there is no field). {sid, JSON}, or nil
 * when there is no such event or session. */
static const char RECALL_SCRIPT[] =
    "local sid = ARGV[2]\n"
    "if ARGV[1] ~= '' then sid = redis.call('HGET', KEYS[1], ARGV[1]) end\n"
    "if not sid then return false end\n"
    "local s = redis.call('HGET', KEYS[2], sid)\n"
    "if not s then return false end\n"
    "return {sid, s}\n";

enum job_kind { JOB_ENTRY, JOB_EXIT, JOB_PAYMENT, JOB_BAY };

/* One write, from request to reply. */
struct job {
    struct job *next;                 /* in its lane */
    struct sessions *ss;
    struct http_req *req;             /* NULL for bay links */
    api_sessions_done_fn *done;       /* bay links: told the outcome */
    void *done_arg;
    bool failed;                      /* not written */
    enum job_kind kind;
    char plate[PLATE_MAX];
    char lot[SESSION_ID_MAX];
    struct session_event ev;          /* entries, exits */
    struct session_payment pay;       /* payments */
    char sid[SESSION_ID_MAX];         /* payments: the session */
    char bay[SESSION_NAME_MAX], level[SESSION_NAME_MAX];
    double now;
    /* what the write stores */
    struct session out[2];
    size_t nout;
    char ev_field[SESSION_ID_MAX + 8];   /* gate_events field, "" = none */
    char ev_sid[SESSION_ID_MAX];
    enum session_gate gate;
    json_t *arrears;                  /* entries: reported with the reply */
    long long base_ver;               /* the plate's version the job decided on */
    int tries;                        /* decisions taken (another process wrote first) */
    bool claimed;                     /* its id is claimed in write_ids */
};

struct lane {                         /* the queue of one plate's jobs */
    struct job *head, *tail;          /* head is running */
};

struct sessions {
    struct app *a;
    struct session_book *book;
    struct garages *garages;
    struct tz *tz;
    struct session_policy pol;
    struct dict *lanes;               /* plate -> struct lane * */
    struct dict *plates_known;        /* plates already in session_plates */
    struct dict *plate_ver;           /* plate -> the newest version seen (+1) */
    struct dict *legacy;              /* lots of the older layout copied (restore) */
    struct dict *claims;              /* session id -> bay links being written */
    /* metrics: gate events by kind (entry, exit) and outcome (new, replay,
     * reread), payments (new, replay), failed writes, active sessions */
    struct metric *m_gate[2][3], *m_pay[2], *m_fail, *m_active, *m_kept;
    struct lifetime lt;               /* stopped: run no more jobs */
    struct restore rs;                /* the load from Redis, re-reads */
    struct event *evict_timer;
    double keep_settled_s;            /* parking.keep_settled_s */
    double evicted_at;                /* the clock at the last eviction */
    struct pfeed pf;                  /* the partitions' session feeds */
    struct event *poll;
    struct store_script *write_script, *acct_script, *claim_script, *recall_script;
};

static void job_run(struct job *j);

/* ---- small helpers ---- */

static struct sessions *ss_of(struct app *a)
{
    return a->sessions;
}

static void job_free(struct job *j)
{
    for (size_t i = 0; i < 2; i++)
        session_clear(&j->out[i]);
    json_decref(j->arrears);
    free(j);
}

/* A job leaves: a bay link tells its caller, and frees its claim. */
static void job_finish(struct job *j)
{
    if (j->kind == JOB_BAY) {
        struct sessions *ss = j->ss;
        size_t n = (size_t)(uintptr_t)dict_get(ss->claims, j->sid);
        if (n > 1)
            dict_put(ss->claims, j->sid, (void *)(uintptr_t)(n - 1), NULL);
        else
            dict_del(ss->claims, j->sid);
    }
    if (j->done != NULL)
        j->done(j->done_arg, !j->failed);
    job_free(j);
}

static struct job *job_new(struct sessions *ss, struct http_req *req, enum job_kind kind)
{
    struct job *j = calloc(1, sizeof *j);
    if (j == NULL) {
        if (req)
            http_reply_error(req, 500, "internal", "out of memory");
        return NULL;
    }
    j->ss = ss;
    j->req = req;
    j->kind = kind;
    session_init(&j->out[0]);
    session_init(&j->out[1]);
    return j;
}

/* The lot's tariff, currency and whether it has bay sensors, from the
 * parking registry: the map's lots and those created by PUT, each with
 * the tariff of its definition. The map serves only while the registry is
 * gone (shutdown). Pointers are valid until the lot is next replaced. */
struct lot_info {
    const char *id;
    struct map_tariff tariff;
    const char *currency;
    bool bay_sensors;
};

static bool lot_info(const struct sessions *ss, const char *id, struct lot_info *li)
{
    const struct app *a = ss->a;
    memset(li, 0, sizeof *li);
    if (id == NULL)
        return false;
    if (a->parking != NULL) {
        const struct parking_lot *pl = parking_lot_get(a->parking, id);
        if (pl == NULL)
            return false;
        *li = (struct lot_info){.id = pl->id, .tariff = pl->tariff, .currency = pl->currency,
                                .bay_sensors = pl->bays_observed > 0};
        return true;
    }
    const struct map_lot *ml = a->map ? map_lot(a->map, id) : NULL;
    if (ml == NULL)
        return false;
    *li = (struct lot_info){.id = ml->id, .tariff = ml->tariff, .currency = ml->currency};
    return true;
}

static long long fee_at(const struct sessions *ss, const struct session *s, double t)
{
    struct lot_info li;
    struct tariff_bill bill;
    char err[128];
    if (!isfinite(s->entry_time) || !lot_info(ss, s->lot, &li) ||
        tariff_fee(&li.tariff, ss->tz, s->entry_time, t < s->entry_time ? s->entry_time : t,
                   &bill, err, sizeof err) != 0)
        return 0;
    return bill.fen;
}

/* A session as shown at `now`: an active one with its fee so far and the
 * flags that time has earned. */
static json_t *session_view(const struct sessions *ss, const struct session *s, double now)
{
    struct session v;
    struct lot_info li;
    if (s->status != SESSION_ACTIVE || session_copy(&v, s) != 0)
        return session_to_json(s, now);
    v.due_fen = fee_at(ss, s, now);
    session_check_flags(&v, now, &ss->pol, lot_info(ss, s->lot, &li) && li.bay_sensors);
    json_t *j = session_to_json(&v, now);
    session_clear(&v);
    return j;
}

/* Unpaid sessions of a plate, except `skip`. */
static json_t *arrears_of(const struct sessions *ss, const char *plate, const char *skip,
                          double now)
{
    struct session_arrears ar;
    size_t n;
    struct session *const *v = session_book_plate(ss->book, plate, &n);
    session_arrears_init(&ar);
    for (size_t i = 0; i < n; i++)
        if (skip == NULL || strcmp(v[i]->id, skip) != 0)
            session_arrears_add(&ar, v[i], now);
    json_t *j = session_arrears_json(&ar);
    session_arrears_free(&ar);
    return j;
}

/* The sessions are loaded, and the lots they bill by all known (the
 * parking registry, restored before: server.c's module order). */
static bool ready(struct sessions *ss, struct http_req *r)
{
    if (restore_ready(&ss->rs) && ss->a->parking_complete)
        return true;
    http_reply_unavailable(r);
    return false;
}

/* The JSON body of a write, or NULL when answered already (not loaded
 * yet: 503; bad JSON: 400). */
static json_t *write_body(struct sessions *ss, struct http_req *r)
{
    return ready(ss, r) ? http_req_json(r) : NULL;
}

/* ---- lanes: one running job per plate ---- */

static void lane_submit(struct sessions *ss, struct job *j)
{
    struct lane *l = dict_get(ss->lanes, j->plate);
    int err = 0;
    if (l == NULL) {
        if ((l = calloc(1, sizeof *l)) == NULL ||
            (dict_put(ss->lanes, j->plate, l, &err), err)) {
            free(l);
            if (j->req)
                http_reply_error(j->req, 500, "internal", "out of memory");
            j->failed = true;
            job_finish(j);
            return;
        }
    }
    if (l->tail != NULL) {                  /* busy: wait for the running job */
        l->tail->next = j;
        l->tail = j;
        return;
    }
    l->head = l->tail = j;
    job_run(j);
}

/* The running job of its lane is done: free it, start the next. */
static void lane_done(struct job *j)
{
    struct sessions *ss = j->ss;
    char plate[PLATE_MAX];
    snprintf(plate, sizeof plate, "%s", j->plate);
    struct lane *l = dict_get(ss->lanes, plate);
    struct job *next = j->next;
    job_finish(j);
    if (l == NULL)
        return;
    l->head = next;
    if (l->head == NULL || ss->lt.stopped) {
        dict_del(ss->lanes, plate);
        free(l);
        return;
    }
    job_run(l->head);
}

static void job_error(struct job *j, int status, const char *code, const char *msg)
{
    j->failed = true;
    if (j->req != NULL)
        http_reply_error(j->req, status, code, "%s", msg);
    lane_done(j);
}

/* ---- the write ---- */

static json_t *job_reply(struct job *j, const struct session *s, bool created)
{
    struct sessions *ss = j->ss;
    switch (j->kind) {
    case JOB_ENTRY:
        return json_pack("{s:o, s:o}", "session", session_view(ss, s, j->now), "arrears",
                         j->arrears ? json_incref(j->arrears)
                                    : arrears_of(ss, s->plate, s->id, j->now));
    case JOB_EXIT:
        return json_pack("{s:o, s:s}", "session", session_view(ss, s, j->now), "gate",
                         session_gate_name(created ? j->gate : session_gate_for(s)));
    default:
        return session_view(ss, s, j->now);
    }
}

/* Reply with the current state of session s, nothing written. */
enum outcome { OUT_NEW = 0, OUT_REPLAY, OUT_REREAD };

static void count(struct job *j, enum outcome o)
{
    struct sessions *ss = j->ss;
    if (j->kind == JOB_ENTRY || j->kind == JOB_EXIT)
        metric_inc(ss->m_gate[j->kind == JOB_EXIT][o], 1);
    else if (j->kind == JOB_PAYMENT && o != OUT_REREAD)
        metric_inc(ss->m_pay[o], 1);
}

static void job_reply_current(struct job *j, const struct session *s)
{
    count(j, OUT_REPLAY);
    if (j->req != NULL)
        http_reply_json(j->req, 200, job_reply(j, s, false));
    lane_done(j);
}

/* Re-read what a write of unknown outcome may have changed
 * ("plate:<plate>", "acct:<plate>"). */
static void reread_if_unknown(struct sessions *ss, enum store_status st, const char *what,
                              const char *id)
{
    char key[SESSION_ID_MAX + PLATE_MAX + 8];
    if (st != STORE_TIMEOUT)
        return;
    snprintf(key, sizeof key, "%s:%s", what, id);
    restore_reread(&ss->rs, key);
}

/* ---- a plate's version (read through) ---- */

static long long ver_known(const struct sessions *ss, const char *plate)
{
    return (long long)(uintptr_t)dict_get(ss->plate_ver, plate) - 1;   /* -1: never seen */
}

/* The plate has been seen at version v (or later). */
static void ver_saw(struct sessions *ss, const char *plate, long long v)
{
    int err = 0;
    if (v > ver_known(ss, plate))
        dict_put(ss->plate_ver, plate, (void *)(uintptr_t)(v + 1), &err);
}

static void put_session_json(struct sessions *ss, const char *text, bool keep_settled);

/* A gate event field of a plate's hash, "<lot>\x1f<kind>:<id>", into the
 * book. */
static void put_event_field(struct sessions *ss, const char *field, const char *sid)
{
    const char *us = field ? strchr(field, '\x1f') : NULL;
    const char *colon = us ? strchr(us, ':') : NULL;
    char lot[SESSION_ID_MAX], kind[8];
    if (colon == NULL || sid == NULL || (size_t)(us - field) >= sizeof lot)
        return;
    snprintf(lot, sizeof lot, "%.*s", (int)(us - field), field);
    snprintf(kind, sizeof kind, "%.*s", (int)(colon - us - 1), us + 1);
    session_book_event_put(ss->book, lot, kind, colon + 1, sid);
}

/* A plate's keys as read (HGETALL sessions, HGETALL gate events) into
 * the book, at version ver. */
static void put_plate(struct sessions *ss, const char *plate, const struct store_reply *sessions,
                      const struct store_reply *events, long long ver)
{
    for (size_t i = 0; i + 1 < store_reply_len(sessions); i += 2)
        put_session_json(ss, store_reply_str(store_reply_at(sessions, i + 1), NULL), false);
    for (size_t i = 0; i + 1 < store_reply_len(events); i += 2)
        put_event_field(ss, store_reply_str(store_reply_at(events, i), NULL),
                        store_reply_str(store_reply_at(events, i + 1), NULL));
    ver_saw(ss, plate, ver);
    metric_set(ss->m_active, (double)session_book_active_count(ss->book));
}

static void job_decide(struct job *j);
static void job_recall(struct job *j);

/* A job's read came back: true when it can go on with the n replies of
 * its transaction; otherwise the job has ended (module stopping, or the
 * store failed: 503). */
static bool read_answered(struct job *j, enum store_status st, const struct store_reply *r,
                          size_t n)
{
    if (!lifetime_release(&j->ss->lt)) {
        j->failed = true;
        lane_done(j);
        return false;
    }
    if (st != STORE_OK || store_reply_type(r) != STORE_R_ARRAY || store_reply_len(r) != n) {
        j->failed = true;
        if (j->req != NULL)
            module_reply_store(j->req, st == STORE_OK ? STORE_DOWN : st);
        lane_done(j);
        return false;
    }
    return true;
}

/* The plate's sessions and events, read again: decide now. */
static void on_plate_read(void *arg, enum store_status st, const struct store_reply *r)
{
    struct job *j = arg;
    struct sessions *ss = j->ss;
    if (!read_answered(j, st, r, 3))
        return;
    j->base_ver = store_reply_int(store_reply_at(r, 0));
    put_plate(ss, j->plate, store_reply_at(r, 1), store_reply_at(r, 2), j->base_ver);
    job_recall(j);
}

/* Read the plate again (one transaction: a consistent picture). */
static void plate_read(struct job *j)
{
    struct sessions *ss = j->ss;
    char k[3][KEY_MAX];
    struct store_batch *b = store_batch_new();
    bool ok = b != NULL &&
              store_batch_addf(b, "GET %s", keys_plate(k[0], KEY_MAX, j->plate, "ver")) == 0 &&
              store_batch_addf(b, "HGETALL %s", keys_plate(k[1], KEY_MAX, j->plate,
                                                           "sessions")) == 0 &&
              store_batch_addf(b, "HGETALL %s", keys_plate(k[2], KEY_MAX, j->plate,
                                                           "gate_events")) == 0;
    if (!ok)
        store_batch_free(b);
    lifetime_hold(&ss->lt);
    if (!ok || store_batch_send(ss->a->store, b, on_plate_read, j) != 0) {
        lifetime_release(&ss->lt);
        job_error(j, 500, "internal", "cannot queue a Redis read");
    }
}

static void put_account(struct sessions *ss, const char *plate, const char *text);

/* The plate's version and account in Redis: the book has that version,
 * or read the plate. */
static void on_ver(void *arg, enum store_status st, const struct store_reply *r)
{
    struct job *j = arg;
    struct sessions *ss = j->ss;
    if (!read_answered(j, st, r, 2))
        return;
    const char *acct = store_reply_str(store_reply_at(r, 1), NULL);
    if (acct != NULL)
        put_account(ss, j->plate, acct);
    long long v = store_reply_int(store_reply_at(r, 0));
    j->base_ver = v;
    if (v > ver_known(ss, j->plate))
        plate_read(j);
    else
        job_recall(j);
}

/* Before a job decides: is the book's copy of the plate current? Its
 * version and its account (same partition: one transaction). */
static void plate_check(struct job *j)
{
    struct sessions *ss = j->ss;
    char k[2][KEY_MAX];
    struct store_batch *b = store_batch_new();
    bool ok = b != NULL &&
              store_batch_addf(b, "GET %s", keys_plate(k[0], KEY_MAX, j->plate, "ver")) == 0 &&
              store_batch_addf(b, "HGET %s %s", keys_part_key(k[1], KEY_MAX, keys_part(j->plate),
                                                              "accounts"), j->plate) == 0;
    if (!ok)
        store_batch_free(b);
    lifetime_hold(&ss->lt);
    if (!ok || store_batch_send(ss->a->store, b, on_ver, j) != 0) {
        lifetime_release(&ss->lt);
        job_error(j, 500, "internal", "cannot queue a Redis read");
    }
}

/* ---- what only Redis holds: settled sessions out of memory ---- */

static const char *job_kind_name(const struct job *j)
{
    return j->kind == JOB_ENTRY ? "entry" : "exit";
}

/* The recalled session (and its gate event) into the book: decide. */
static void on_recalled(void *arg, enum store_status st, const struct store_reply *r)
{
    struct job *j = arg;
    struct sessions *ss = j->ss;
    char field[SESSION_ID_MAX * 2 + 16];
    if (!lifetime_release(&ss->lt)) {
        j->failed = true;
        lane_done(j);
        return;
    }
    if (st != STORE_OK || store_reply_type(r) == STORE_R_ERROR) {
        j->failed = true;
        if (j->req != NULL)
            module_reply_store(j->req, st == STORE_OK ? STORE_DOWN : st);
        lane_done(j);
        return;
    }
    const char *sid = store_reply_str(store_reply_at(r, 0), NULL);
    if (store_reply_type(r) == STORE_R_ARRAY && sid != NULL) {
        put_session_json(ss, store_reply_str(store_reply_at(r, 1), NULL), true);
        if (j->kind != JOB_PAYMENT) {
            snprintf(field, sizeof field, "%s\x1f%s:%s", j->lot, job_kind_name(j), j->ev.id);
            put_event_field(ss, field, sid);
        }
    }
    job_decide(j);
}

/* The book holds the plate as Redis has it, except the settled sessions
 * it let go (session_book_partial): a gate event id or a payment's
 * session not in the book may be one of those, read it back first. */
static void job_recall(struct job *j)
{
    struct sessions *ss = j->ss;
    char k[2][KEY_MAX], field[SESSION_ID_MAX * 2 + 16] = "";
    bool need = false;
    if (j->kind == JOB_ENTRY || j->kind == JOB_EXIT) {
        need = session_book_partial(ss->book, j->plate) &&
               session_book_event(ss->book, j->lot, job_kind_name(j), j->ev.id) == NULL;
        snprintf(field, sizeof field, "%s\x1f%s:%s", j->lot, job_kind_name(j), j->ev.id);
    } else if (j->kind == JOB_PAYMENT) {
        need = session_book_get(ss->book, j->sid) == NULL;
    }
    if (!need) {
        job_decide(j);
        return;
    }
    const char *argv[] = {keys_plate(k[0], KEY_MAX, j->plate, "gate_events"),
                          keys_plate(k[1], KEY_MAX, j->plate, "sessions"), field, j->sid};
    lifetime_hold(&ss->lt);
    if (store_script_eval(ss->a->store, ss->recall_script, on_recalled, j, 2, 4, argv, NULL) != 0) {
        lifetime_release(&ss->lt);
        job_error(j, 500, "internal", "cannot queue a Redis read");
    }
}

/* ---- the write ---- */

/* What a decision left in the job, dropped to decide again. */
static void job_reset(struct job *j)
{
    for (size_t i = 0; i < 2; i++) {
        session_clear(&j->out[i]);
        session_init(&j->out[i]);
    }
    j->nout = 0;
    j->ev_field[0] = '\0';
    j->ev_sid[0] = '\0';
    json_decref(j->arrears);
    j->arrears = NULL;
}

static void on_written(void *arg, enum store_status st, const struct store_reply *r)
{
    struct job *j = arg;
    struct sessions *ss = j->ss;
    char q[2 * SESSION_ID_MAX + 3];
    lifetime_release(&ss->lt);
    long long v = st == STORE_OK && store_reply_type(r) == STORE_R_INTEGER ? store_reply_int(r)
                                                                         : 0;
    if (v == -1 && !ss->lt.stopped && ++j->tries < WRITE_TRIES) {
        job_reset(j);                  /* another process wrote first */
        plate_read(j);
        return;
    }
    if (v <= 0) {
        log_warn(&ss->a->log, "session_write_failed", "lot=%s status=%d",
                 log_quote(q, sizeof q, j->lot), (int)st);
        metric_inc(ss->m_fail, 1);
        reread_if_unknown(ss, st, "plate", j->plate);
        j->failed = true;
        if (j->req != NULL)
            module_reply_store(j->req, st == STORE_OK ? STORE_DOWN : st);
        lane_done(j);
        return;
    }
    ver_saw(ss, j->plate, v);
    for (size_t i = 0; i < j->nout; i++)
        if (session_book_put(ss->book, &j->out[i]) != 0)
            log_error(&ss->a->log, "session_book_oom", "session=%s",
                      log_quote(q, sizeof q, j->out[i].id));
    if (j->ev_field[0] != '\0') {
        const char *colon = strchr(j->ev_field, ':');
        char kind[8];
        snprintf(kind, sizeof kind, "%.*s", (int)(colon - j->ev_field), j->ev_field);
        session_book_event_put(ss->book, j->lot, kind, colon + 1, j->ev_sid);
    }
    count(j, j->nout > 0 ? OUT_NEW : OUT_REREAD);
    metric_set(ss->m_active, (double)session_book_active_count(ss->book));
    if (j->req != NULL) {
        const struct session *s = j->nout > 0 ? &j->out[0] : session_book_get(ss->book, j->ev_sid);
        bool created = j->nout > 0 && j->kind != JOB_PAYMENT;
        http_reply_json(j->req, created ? 201 : 200, job_reply(j, s, j->nout > 0));
    }
    lane_done(j);
}

static void on_plate_known(void *arg, enum store_status st, const struct store_reply *r);
static void job_write(struct job *j);

/* The claim of the job's id came back: refused when another plate (a
 * gate event) or another session (a payment) holds it. */
static void on_claimed(void *arg, enum store_status st, const struct store_reply *r)
{
    struct job *j = arg;
    char msg[SESSION_ID_MAX * 3 + 64];
    const char *other = st == STORE_OK ? store_reply_str(r, NULL) : NULL;
    lifetime_release(&j->ss->lt);
    if (st != STORE_OK || store_reply_type(r) == STORE_R_ERROR || other == NULL) {
        j->failed = true;                 /* (a claim again: the same answer) */
        if (j->req != NULL)
            module_reply_store(j->req, st == STORE_OK ? STORE_DOWN : st);
        lane_done(j);
        return;
    }
    if (other[0] != '\0') {
        if (j->kind == JOB_PAYMENT)
            snprintf(msg, sizeof msg, "id: payment %s was made for session %s", j->pay.id, other);
        else
            snprintf(msg, sizeof msg, "id: %s %s was recorded for plate %s", job_kind_name(j),
                     j->ev.id, other);
        job_error(j, 409, "conflict", msg);
        return;
    }
    j->claimed = true;
    job_write(j);
}

/* Claim the id the job records, in its own partition (write_ids: the
 * session id a gate event names -> plate; "pay\x1f<id>" -> session id),
 * so that a reused id is refused even once the session that took it has
 * left memory. False when there is nothing to claim. */
static bool job_claim(struct job *j)
{
    struct sessions *ss = j->ss;
    char key[KEY_MAX], field[SESSION_ID_MAX + 8];
    const char *value;
    if (j->claimed || j->kind == JOB_BAY || (j->kind != JOB_PAYMENT && j->ev_field[0] == '\0'))
        return false;
    if (j->kind == JOB_PAYMENT) {
        snprintf(field, sizeof field, "pay\x1f%s", j->pay.id);
        value = j->sid;
    } else {
        session_make_id(field, sizeof field, j->lot, job_kind_name(j), j->ev.id);
        value = j->plate;
    }
    const char *argv[] = {keys_part_key(key, sizeof key, keys_part(field), "write_ids"), field,
                          value};
    lifetime_hold(&ss->lt);
    if (store_script_eval(ss->a->store, ss->claim_script, on_claimed, j, 1, 3, argv, NULL) != 0) {
        lifetime_release(&ss->lt);
        job_error(j, 500, "internal", "cannot queue a Redis write");
    }
    return true;
}

/* The job's sessions and gate event, by WRITE_SCRIPT (after claiming its
 * id, and recording the plate in its partition's session_plates the
 * first time). */
static void job_write(struct job *j)
{
    struct sessions *ss = j->ss;
    char k[5][KEY_MAX], base[24], fmax[24], ev[SESSION_ID_MAX + sizeof j->ev_field + 2];
    char *text[2] = {NULL, NULL};
    unsigned part = keys_part(j->plate);
    if (job_claim(j))
        return;
    if (dict_get(ss->plates_known, j->plate) == NULL) {
        keys_part_key(k[0], KEY_MAX, part, "session_plates");
        lifetime_hold(&ss->lt);
        if (store_cmdf(ss->a->store, on_plate_known, j, "SADD %s %s", k[0], j->plate) != 0) {
            lifetime_release(&ss->lt);
            job_error(j, 500, "internal", "cannot queue a Redis command");
        }
        return;
    }
    snprintf(base, sizeof base, "%lld", j->base_ver);
    pfeed_keep(&ss->pf, fmax);
    if (j->ev_field[0] != '\0')
        snprintf(ev, sizeof ev, "%s\x1f%s", j->lot, j->ev_field);
    else
        ev[0] = '\0';
    const char *argv[15] = {keys_plate(k[0], KEY_MAX, j->plate, "ver"),
                            keys_plate(k[1], KEY_MAX, j->plate, "sessions"),
                            keys_plate(k[2], KEY_MAX, j->plate, "gate_events"),
                            pfeed_key(&ss->pf, k[3], part), pfeed_seq_key(&ss->pf, k[4], part),
                            base, app_origin(ss->a), j->plate, fmax, ev, j->ev_sid};
    int argc = 11, rc = 0;
    for (size_t i = 0; i < j->nout && rc == 0; i++) {
        json_t *js = session_to_json(&j->out[i], j->now);
        text[i] = js ? json_dumps(js, JSON_COMPACT) : NULL;
        json_decref(js);
        argv[argc++] = j->out[i].id;
        argv[argc++] = text[i];
        rc = text[i] ? 0 : -1;
    }
    if (rc == 0)
        lifetime_hold(&ss->lt);
    if (rc != 0 || store_script_eval(ss->a->store, ss->write_script, on_written, j, 5, argc,
                                     argv, NULL) != 0) {
        if (rc == 0)
            lifetime_release(&ss->lt);
        job_error(j, 500, "internal", "cannot queue a Redis write");
    }
    free(text[0]);
    free(text[1]);
}

static void on_plate_known(void *arg, enum store_status st, const struct store_reply *r)
{
    struct job *j = arg;
    int err = 0;
    lifetime_release(&j->ss->lt);
    if (st != STORE_OK || store_reply_type(r) == STORE_R_ERROR) {
        j->failed = true;                 /* (a lone SADD: a retry does it again) */
        if (j->req != NULL)
            module_reply_store(j->req, st);
        lane_done(j);
        return;
    }
    dict_put(j->ss->plates_known, j->plate, (void *)1, &err);
    job_write(j);
}

static void set_event(struct job *j, const char *kind, const char *event_id, const char *sid)
{
    snprintf(j->ev_field, sizeof j->ev_field, "%s:%s", kind, event_id);
    snprintf(j->ev_sid, sizeof j->ev_sid, "%s", sid);
}

/* A gate event seen before: answer with the session it made (same
 * plate) or refuse the reused id (another plate). True when handled. */
static bool replayed(struct job *j, const char *kind)
{
    char msg[512];
    struct session *prev = session_book_event(j->ss->book, j->lot, kind, j->ev.id);
    if (prev == NULL)
        return false;
    if (strcmp(prev->plate, j->ev.plate) != 0) {
        snprintf(msg, sizeof msg, "id: %s %s was recorded for plate %s", kind, j->ev.id,
                 prev->plate);
        job_error(j, 409, "conflict", msg);
    } else {
        job_reply_current(j, prev);
    }
    return true;
}

/* ---- entries ---- */

static void run_entry(struct job *j)
{
    struct sessions *ss = j->ss;
    struct lot_info li;
    char sid[SESSION_ID_MAX];
    if (replayed(j, "entry"))
        return;
    session_make_id(sid, sizeof sid, j->lot, "entry", j->ev.id);
    if (session_book_get(ss->book, sid) != NULL || !lot_info(ss, j->lot, &li)) {
        job_error(j, 409, "conflict", "id: collides with another session id; use another id");
        return;
    }
    struct session *act = session_book_active(ss->book, j->plate, j->lot);
    session_open(&j->out[0], sid, j->lot, li.currency, &j->ev);
    j->nout = 1;
    if (act != NULL) {
        if (session_copy(&j->out[1], act) != 0) {
            job_error(j, 500, "internal", "out of memory");
            return;
        }
        j->nout = 2;
        /* the earlier entry of the two is the one whose exit was missed */
        if (j->ev.ts >= act->entry_time)
            session_supersede(&j->out[1], &j->out[0]);
        else
            session_supersede(&j->out[0], &j->out[1]);
    }
    j->arrears = arrears_of(ss, j->plate, NULL, j->now);
    set_event(j, "entry", j->ev.id, sid);
    job_write(j);
}

/* ---- exits ---- */

static void run_exit(struct job *j)
{
    struct sessions *ss = j->ss;
    struct lot_info li;
    char sid[SESSION_ID_MAX], msg[512], err[256];
    if (replayed(j, "exit"))
        return;
    struct session *act = session_book_active(ss->book, j->plate, j->lot);
    struct session *last = session_book_last_exit(ss->book, j->plate, j->lot);
    if (!lot_info(ss, j->lot, &li)) {
        job_error(j, 404, "not_found", "lot: no such lot");
        return;
    }
    if ((act == NULL || j->ev.ts < act->entry_time) && last != NULL &&
        session_is_reread(last, j->ev.ts)) {
        set_event(j, "exit", j->ev.id, last->id);  /* the same exit read twice */
        j->gate = session_gate_for(last);
        job_write(j);
        return;
    }
    if (act != NULL && j->ev.ts < act->entry_time) {
        snprintf(msg, sizeof msg, "ts: exit at %.0f is before the entry at %.0f of session %s",
                 j->ev.ts, act->entry_time, act->id);
        job_error(j, 409, "conflict", msg);
        return;
    }
    if (act == NULL) {
        session_make_id(sid, sizeof sid, j->lot, "exit", j->ev.id);
        session_open_exit_only(&j->out[0], sid, j->lot, li.currency, &j->ev);
        j->gate = SESSION_GATE_HOLD;
    } else {
        struct tariff_bill bill;
        if (session_copy(&j->out[0], act) != 0) {
            job_error(j, 500, "internal", "out of memory");
            return;
        }
        session_check_flags(&j->out[0], j->ev.ts, &ss->pol, li.bay_sensors);
        /* never billed 0 for want of a fee: the tariff bills any stay */
        if (tariff_fee(&li.tariff, ss->tz, act->entry_time, j->ev.ts, &bill, err, sizeof err) != 0) {
            job_error(j, 500, "internal", err);
            return;
        }
        if (session_close(&j->out[0], &j->ev, bill.fen, session_book_account(ss->book, j->plate),
                          &ss->pol, &j->gate, err, sizeof err) != 0) {
            job_error(j, 409, "conflict", err);
            return;
        }
    }
    j->nout = 1;
    set_event(j, "exit", j->ev.id, j->out[0].id);
    job_write(j);
}

/* ---- payments ---- */

static void run_payment(struct job *j)
{
    struct sessions *ss = j->ss;
    char err[512];
    bool conflict = false;
    struct session *s = session_book_get(ss->book, j->sid);
    struct session *other = session_book_payment(ss->book, j->pay.id);
    if (s == NULL) {
        job_error(j, 404, "not_found", "no such session");
        return;
    }
    if (other != NULL && other != s) {
        snprintf(err, sizeof err, "id: payment %s was made for session %s", j->pay.id, other->id);
        job_error(j, 409, "conflict", err);
        return;
    }
    if (session_copy(&j->out[0], s) != 0) {
        job_error(j, 500, "internal", "out of memory");
        return;
    }
    snprintf(j->lot, sizeof j->lot, "%s", s->lot);
    long long due_now = s->status == SESSION_ACTIVE ? fee_at(ss, s, j->now) : 0;
    int rc = session_pay(&j->out[0], &j->pay, due_now, &conflict, err, sizeof err);
    if (rc == 1) {
        job_reply_current(j, s);
        return;
    }
    if (rc != 0) {
        job_error(j, conflict ? 409 : 400, conflict ? "conflict" : "invalid", err);
        return;
    }
    j->nout = 1;
    job_write(j);
}

/* ---- bay links ---- */

/* Link the bay to the session chosen by api_sessions_bay_occupied, unless
 * it has left (or been voided) or sits in that bay already. */
static void run_bay(struct job *j)
{
    struct sessions *ss = j->ss;
    struct session *s = session_book_get(ss->book, j->sid);
    if (s == NULL || s->status != SESSION_ACTIVE || strcmp(s->bay, j->bay) == 0) {
        lane_done(j);
        return;
    }
    if (session_copy(&j->out[0], s) != 0) {
        job_error(j, 500, "internal", "out of memory");
        return;
    }
    session_set_bay(&j->out[0], j->bay, j->level, j->now);
    j->nout = 1;
    job_write(j);
}

static void job_run(struct job *j)
{
    if (!restore_settled(&j->ss->rs)) {
        /* A write of unknown outcome is being re-read: deciding this one
         * on the book now could contradict it. */
        j->failed = true;
        if (j->req != NULL)
            http_reply_unavailable(j->req);
        lane_done(j);
        return;
    }
    plate_check(j);
}

/* The book holds what Redis has of the plate (at j->base_ver). */
static void job_decide(struct job *j)
{
    switch (j->kind) {
    case JOB_ENTRY: run_entry(j); break;
    case JOB_EXIT: run_exit(j); break;
    case JOB_PAYMENT: run_payment(j); break;
    case JOB_BAY: run_bay(j); break;
    }
}

/* ---- handlers ---- */

/* Is ts a plausible time for a gate event or payment now? With the
 * replay clock the events are the clock: no bound ahead, and the age
 * bound only once the clock runs. 0, or -1 after replying 400. */
static int gate_ts_ok(const struct sessions *ss, struct http_req *r, double ts)
{
    const struct app *a = ss->a;
    char err[256];
    struct session_clock c = {.now = app_now(a),
                              .max_future_s = (double)a->cfg.parking_gate_max_future_s,
                              .max_age_s = (double)a->cfg.parking_gate_max_age_s};
    if (a->cfg.clock_mode == CLOCK_REPLAY) {
        c.max_future_s = INFINITY;
        if (c.now <= 0)
            c.max_age_s = INFINITY;
    }
    if (session_ts_check(&c, ts, err, sizeof err) == 0)
        return 0;
    http_reply_error(r, 400, "invalid", "%s", err);
    return -1;
}

static void h_gate(struct http_req *r, struct sessions *ss, enum job_kind kind)
{
    char err[256];
    struct lot_info li;
    const char *lot = http_req_param(r, "id");
    json_t *body = write_body(ss, r);
    if (body == NULL)
        return;
    if (!lot_info(ss, lot, &li)) {
        http_reply_error(r, 404, "not_found", "lot: no lot %s", lot);
        return;
    }
    struct job *j = job_new(ss, r, kind);
    if (j == NULL)
        return;
    if (session_event_from_json(body, &j->ev, err, sizeof err) != 0) {
        http_reply_error(r, 400, "invalid", "%s", err);
        job_free(j);
        return;
    }
    if (gate_ts_ok(ss, r, j->ev.ts) != 0) {          /* before it moves a replay clock */
        job_free(j);
        return;
    }
    snprintf(j->lot, sizeof j->lot, "%s", li.id);
    snprintf(j->plate, sizeof j->plate, "%s", j->ev.plate);
    app_saw_ts(ss->a, j->ev.ts);
    j->now = app_now(ss->a);
    lane_submit(ss, j);
}

static void h_entry(struct http_req *r, void *arg)
{
    h_gate(r, ss_of(arg), JOB_ENTRY);
}

static void h_exit(struct http_req *r, void *arg)
{
    h_gate(r, ss_of(arg), JOB_EXIT);
}

/* A payment for session sid of plate: parse, check, queue. */
static void payment_submit(struct sessions *ss, struct http_req *r, const char *sid,
                           const char *plate)
{
    char err[256];
    json_t *body = http_req_json(r);          /* parsed before: the same object */
    struct job *j = body ? job_new(ss, r, JOB_PAYMENT) : NULL;
    if (j == NULL)
        return;
    if (session_payment_from_json(body, &j->pay, err, sizeof err) != 0) {
        http_reply_error(r, 400, "invalid", "%s", err);
        job_free(j);
        return;
    }
    if (!isnan(j->pay.ts) && gate_ts_ok(ss, r, j->pay.ts) != 0) {
        job_free(j);
        return;
    }
    j->now = app_now(ss->a);
    if (isnan(j->pay.ts))
        j->pay.ts = j->now;
    snprintf(j->sid, sizeof j->sid, "%s", sid);
    snprintf(j->plate, sizeof j->plate, "%s", plate);
    lane_submit(ss, j);
}

/* A payment for a session not in memory, waiting for Redis to name its
 * plate (write_ids). */
struct payment_lookup {
    struct sessions *ss;
    struct http_req *req;
    char sid[SESSION_ID_MAX];
};

static void reply_no_session(struct http_req *r, const char *sid)
{
    http_reply_error(r, 404, "not_found", "no session %s", sid);
}

static void on_payment_plate(void *arg, enum store_status st, const struct store_reply *rep)
{
    struct payment_lookup *pl = arg;
    const char *plate = st == STORE_OK ? store_reply_str(rep, NULL) : NULL;
    if (!lifetime_release(&pl->ss->lt))
        ;                                 /* stopped: the request is gone */
    else if (st != STORE_OK || store_reply_type(rep) == STORE_R_ERROR)
        module_reply_store(pl->req, st == STORE_OK ? STORE_DOWN : st);
    else if (plate == NULL || strlen(plate) >= PLATE_MAX)
        reply_no_session(pl->req, pl->sid);
    else
        payment_submit(pl->ss, pl->req, pl->sid, plate);
    free(pl);
}

static void h_payment(struct http_req *r, void *arg)
{
    struct sessions *ss = ss_of(arg);
    char key[KEY_MAX];
    const char *sid = http_req_param(r, "id");
    if (write_body(ss, r) == NULL)
        return;
    const struct session *s = session_book_get(ss->book, sid);
    if (s != NULL) {
        payment_submit(ss, r, s->id, s->plate);
        return;
    }
    /* settled and out of memory, or no such session: Redis knows its plate */
    struct payment_lookup *pl = NULL;
    if (sid == NULL || strncmp(sid, "ps-", 3) != 0 || strlen(sid) >= SESSION_ID_MAX ||
        (pl = calloc(1, sizeof *pl)) == NULL) {
        reply_no_session(r, sid ? sid : "");
        return;
    }
    *pl = (struct payment_lookup){.ss = ss, .req = r};
    snprintf(pl->sid, sizeof pl->sid, "%s", sid);
    lifetime_hold(&ss->lt);
    if (store_cmdf(ss->a->store, on_payment_plate, pl, "HGET %s %s",
                   keys_part_key(key, sizeof key, keys_part(sid), "write_ids"), sid) != 0) {
        lifetime_release(&ss->lt);
        http_reply_error(r, 500, "internal", "cannot queue a Redis read");
        free(pl);
    }
}

struct account_put {
    struct sessions *ss;
    struct http_req *req;
    char plate[PLATE_MAX];
    struct session_account acct;
};

static void on_account(void *arg, enum store_status st, const struct store_reply *r)
{
    struct account_put *ap = arg;
    if (!lifetime_release(&ap->ss->lt)) {
        /* stopped: the request is gone */
    } else if (st != STORE_OK || store_reply_type(r) == STORE_R_ERROR) {
        reread_if_unknown(ap->ss, st, "acct", ap->plate);
        module_reply_store(ap->req, st);
    } else if (session_book_account_put(ap->ss->book, ap->plate, &ap->acct) != 0) {
        http_reply_error(ap->req, 500, "internal", "out of memory");
    } else {
        http_reply_json(ap->req, 200, json_pack("{s:s, s:b, s:b}", "plate", ap->plate, "autopay",
                                                ap->acct.autopay, "pay_later",
                                                ap->acct.pay_later));
    }
    free(ap);
}

static void h_account(struct http_req *r, void *arg)
{
    struct sessions *ss = ss_of(arg);
    char err[256], key[KEY_MAX];
    json_t *body = write_body(ss, r);
    if (body == NULL)
        return;
    struct account_put *ap = calloc(1, sizeof *ap);
    if (ap == NULL) {
        http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    ap->ss = ss;
    ap->req = r;
    if (plate_normalize(http_req_param(r, "plate"), ap->plate, sizeof ap->plate, NULL, err,
                        sizeof err) != 0 ||
        session_account_from_json(body, &ap->acct, err, sizeof err) != 0) {
        http_reply_error(r, 400, "invalid", "%s", err);
        free(ap);
        return;
    }
    json_t *js = session_account_to_json(&ap->acct);
    char *text = js ? json_dumps(js, JSON_COMPACT) : NULL;
    json_decref(js);
    unsigned part = keys_part(ap->plate);
    char kf[KEY_MAX], ks[KEY_MAX], fmax[24];
    pfeed_keep(&ss->pf, fmax);
    const char *argv[] = {keys_part_key(key, sizeof key, part, "accounts"),
                          pfeed_key(&ss->pf, kf, part), pfeed_seq_key(&ss->pf, ks, part),
                          ap->plate, text ? text : "", app_origin(ss->a), fmax};
    lifetime_hold(&ss->lt);
    if (text == NULL || store_script_eval(ss->a->store, ss->acct_script, on_account, ap, 3, 7,
                                          argv, NULL) != 0) {
        lifetime_release(&ss->lt);
        http_reply_error(r, 500, "internal", "cannot queue a Redis write");
        free(ap);
    }
    free(text);
}

/* plate= (required), normalised into plate (PLATE_MAX bytes). Returns 0,
 * or -1 after replying 400. */
static int query_plate(struct http_req *r, char *plate)
{
    const char *q = http_req_query(r, "plate");
    char err[256];
    if (q == NULL) {
        http_reply_error(r, 400, "invalid", "plate: required");
        return -1;
    }
    if (plate_normalize(q, plate, PLATE_MAX, NULL, err, sizeof err) != 0) {
        http_reply_error(r, 400, "invalid", "%s", err);
        return -1;
    }
    return 0;
}

/* A plate's list: what the book holds and, for a plate with settled
 * sessions in Redis only, those too (HGETALL: the list is the plate's
 * whole history, which Redis keeps). */
struct list_read {
    struct sessions *ss;
    struct http_req *req;
    char plate[PLATE_MAX];
    bool any;                         /* no status= */
    enum session_status want;
    double now;
};

struct list_item {
    const struct session *s;
    size_t ord;                       /* insertion order: ties go to the later */
};

static double session_start(const struct session *s)
{
    return isfinite(s->entry_time) ? s->entry_time : s->exit_time;
}

static int cmp_newest(const void *pa, const void *pb)
{
    const struct list_item *a = pa, *b = pb;
    double ta = session_start(a->s), tb = session_start(b->s);
    if (ta != tb)
        return ta < tb ? 1 : -1;
    return (a->ord < b->ord) - (a->ord > b->ord);
}

/* Reply with the book's sessions of the plate and those of `stored` (a
 * HGETALL of its sessions, NULL: none) that the book lacks, newest
 * (entry, else exit) first. */
static void list_reply(const struct list_read *lr, const struct store_reply *stored)
{
    struct sessions *ss = lr->ss;
    size_t n, ns = stored ? store_reply_len(stored) / 2 : 0, ni = 0;
    struct session *const *v = session_book_plate(ss->book, lr->plate, &n);
    struct session *extra = calloc(ns ? ns : 1, sizeof *extra);
    struct list_item *items = calloc(n + ns + 1, sizeof *items);
    json_t *arr = json_array();
    char err[256];
    for (size_t i = 0; extra != NULL && i < ns; i++) {
        json_t *j = json_loads(store_reply_str(store_reply_at(stored, 2 * i + 1), NULL), 0, NULL);
        session_init(&extra[i]);
        if (j != NULL && session_from_json(&extra[i], j, err, sizeof err) == 0 &&
            session_book_get(ss->book, extra[i].id) == NULL && items != NULL)
            items[ni++] = (struct list_item){&extra[i], i};
        json_decref(j);
    }
    for (size_t i = 0; items != NULL && i < n; i++)
        items[ni++] = (struct list_item){v[i], ns + i};
    if (items == NULL || extra == NULL || arr == NULL) {
        http_reply_error(lr->req, 500, "internal", "out of memory");
    } else {
        qsort(items, ni, sizeof *items, cmp_newest);
        for (size_t i = 0; i < ni; i++)
            if (lr->any || items[i].s->status == lr->want)
                json_array_append_new(arr, session_view(ss, items[i].s, lr->now));
        http_reply_json(lr->req, 200, json_pack("{s:s, s:O, s:o}", "plate", lr->plate,
                                                "sessions", arr, "arrears",
                                                arrears_of(ss, lr->plate, NULL, lr->now)));
    }
    json_decref(arr);
    for (size_t i = 0; extra != NULL && i < ns; i++)
        session_clear(&extra[i]);
    free(extra);
    free(items);
}

static void on_list_read(void *arg, enum store_status st, const struct store_reply *rep)
{
    struct list_read *lr = arg;
    if (!lifetime_release(&lr->ss->lt))
        ;                                 /* stopped: the request is gone */
    else if (st != STORE_OK || store_reply_type(rep) != STORE_R_ARRAY)
        module_reply_store(lr->req, st == STORE_OK ? STORE_DOWN : st);
    else
        list_reply(lr, rep);
    free(lr);
}

static void h_list(struct http_req *r, void *arg)
{
    struct sessions *ss = ss_of(arg);
    const char *status = http_req_query(r, "status");
    char key[KEY_MAX];
    struct list_read *lr = calloc(1, sizeof *lr);
    if (lr == NULL) {
        http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    *lr = (struct list_read){.ss = ss, .req = r, .any = status == NULL, .want = SESSION_ACTIVE};
    if (!ready(ss, r) || query_plate(r, lr->plate) != 0 || params_now(ss->a, r, &lr->now) != 0) {
        free(lr);
        return;
    }
    if (status != NULL && session_status_parse(status, &lr->want) != 0) {
        http_reply_error(r, 400, "invalid", "status: one of active, paid, exited_unpaid, "
                         "payment_required, void");
        free(lr);
        return;
    }
    if (!session_book_partial(ss->book, lr->plate)) {
        list_reply(lr, NULL);                      /* all of it is in memory */
        free(lr);
        return;
    }
    lifetime_hold(&ss->lt);
    if (store_cmdf(ss->a->store, on_list_read, lr, "HGETALL %s",
                   keys_plate(key, sizeof key, lr->plate, "sessions")) != 0) {
        lifetime_release(&ss->lt);
        http_reply_error(r, 500, "internal", "cannot queue a Redis read");
        free(lr);
    }
}

/* ---- find-car ---- */

/* Where plate is parked in lot: the bay where a camera reads the plate
 * now, else the bay linked to its active session while that car is still
 * the one there (the bay is occupied, no camera reads another plate in
 * it, and no car was linked to it later). */
static const struct parking_bay *locate(const struct sessions *ss, const struct parking_lot *pl,
                                        const char *plate, const struct session **sess)
{
    *sess = session_book_active(ss->book, plate, pl->id);
    const struct parking_bay *b = parking_find_plate(pl, plate);
    if (b != NULL || *sess == NULL || (*sess)->bay[0] == '\0')
        return b;
    b = parking_bay_get(pl, (*sess)->bay);
    if (b == NULL || b->status != PARKING_BAY_OCCUPIED ||
        (b->plate != NULL && strcmp(b->plate, plate) != 0) ||
        session_book_in_bay(ss->book, pl->id, b->id) != *sess)
        return NULL;
    return b;
}

/* Answer a find-car for plate from kiosk k, whose caller has proved it
 * stands there. */
static void find_car_reply(struct sessions *ss, struct http_req *r, const char *plate,
                           const struct map_kiosk *k, bool gcj)
{
    char err[256];
    const struct session *s;
    /* Only the kiosk's own lot is searched: a car elsewhere is not found. */
    const struct parking_lot *pl = ss->a->parking ? parking_lot_get(ss->a->parking, k->lot) : NULL;
    const struct parking_bay *b = pl ? locate(ss, pl, plate, &s) : NULL;
    if (b == NULL) {
        http_reply_error(r, 404, "not_found", "plate: no car with this plate is known to be "
                         "parked in this car park");
        return;
    }
    const struct garage *g = garages_get(ss->garages, k->lot);
    struct garage_route route;
    int nf;
    json_t *jr = json_null();
    if (g != NULL && garage_route(g, k->id, b->id, &route, &nf, err, sizeof err) == 0) {
        json_decref(jr);
        jr = garage_route_json(&route, gcj);
        garage_route_free(&route);
    }
    http_reply_json(r, 200, json_pack("{s:s, s:s?, s:s, s:o, s:o}", "lot", pl->id, "level",
                                      parking_bay_level(pl, b), "bay", b->id, "entryTime",
                                      s && isfinite(s->entry_time) ? json_real(s->entry_time)
                                                                   : json_null(),
                                      "route", jr));
}

/* ---- kiosk proof: kiosk keys and tokens ----
 *
 * Find-car answers only a caller that proves it stands at the kiosk it
 * names: a kiosk key bound to the kiosk's lot (or an admin key), or a
 * token the kiosk shows as a QR code. A token is 128 random bits, kept
 * in Redis under the kiosk's hash tag with an expiry, so it works with
 * any cityd on that Redis and only for that kiosk. */

#define TOKEN_BYTES 16
#define TOKEN_HEX (2 * TOKEN_BYTES)

/* A kiosk key of k's lot, or an admin key. */
static bool caller_at_kiosk(const struct http_req *r, const struct map_kiosk *k)
{
    const char *lot = http_req_key_lot(r);
    return http_req_role(r) == ROLE_ADMIN ||
           (http_req_role(r) == ROLE_KIOSK && lot != NULL && strcmp(lot, k->lot) == 0);
}

/* The Redis key of kiosk's token tok; false when tok does not have a
 * token's shape (32 lower-case hex digits), so nothing else is looked up. */
static bool token_key(char *buf, size_t n, const char *kiosk, const char *tok)
{
    char what[TOKEN_HEX + 8];
    if (tok == NULL || strlen(tok) != TOKEN_HEX || strspn(tok, "0123456789abcdef") != TOKEN_HEX)
        return false;
    snprintf(what, sizeof what, "token:%s", tok);
    keys_kiosk(buf, n, kiosk, what);
    return true;
}

static void reply_no_proof(struct http_req *r, const struct map_kiosk *k)
{
    http_reply_error(r, 403, "forbidden", "find-car from kiosk %s needs a kiosk key of lot %s, "
                     "or token= as the kiosk shows it (tokens expire)", k->id, k->lot);
}

/* A find-car waiting for Redis to confirm its token. */
struct token_check {
    struct app *a;
    struct http_req *req;
    const struct map_kiosk *k;        /* the map's: lives as long as the app */
    char plate[PLATE_MAX];
    bool gcj;
};

/* The token's value is when it expires on cityd's clock (the replay
 * clock too); Redis drops it after parking.kiosk_token_s of real time. */
static void on_token_checked(void *arg, enum store_status st, const struct store_reply *rep)
{
    struct token_check *tc = arg;
    struct sessions *ss = tc->a->sessions;
    const char *v = st == STORE_OK ? store_reply_str(rep, NULL) : NULL;
    char *end = NULL;
    double expires = v != NULL ? strtod(v, &end) : NAN;
    if (!lifetime_release(&ss->lt))
        ;                                 /* stopped: the request is gone */
    else if (st != STORE_OK || store_reply_type(rep) == STORE_R_ERROR)
        http_reply_unavailable(tc->req);
    else if (v == NULL || end == v || *end != '\0' || !(app_now(tc->a) < expires))
        reply_no_proof(tc->req, tc->k);
    else
        find_car_reply(ss, tc->req, tc->plate, tc->k, tc->gcj);
    free(tc);
}

static void h_find_car(struct http_req *r, void *arg)
{
    struct sessions *ss = ss_of(arg);
    char plate[PLATE_MAX], key[KEY_MAX];
    const char *from = http_req_query(r, "from");
    bool gcj;
    if (!ready(ss, r) || query_plate(r, plate) != 0 || params_crs(r, &gcj) != 0)
        return;
    if (from == NULL || from[0] == '\0') {
        http_reply_error(r, 400, "invalid", "from: required (a kiosk id)");
        return;
    }
    const struct map_kiosk *k = ss->a->map ? map_kiosk(ss->a->map, from) : NULL;
    if (k == NULL) {
        http_reply_error(r, 404, "not_found", "from: no kiosk %s", from);
        return;
    }
    if (caller_at_kiosk(r, k)) {
        find_car_reply(ss, r, plate, k, gcj);
        return;
    }
    if (!token_key(key, sizeof key, k->id, http_req_query(r, "token"))) {
        reply_no_proof(r, k);
        return;
    }
    struct token_check *tc = calloc(1, sizeof *tc);
    if (tc == NULL) {
        http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    *tc = (struct token_check){.a = ss->a, .req = r, .k = k, .gcj = gcj};
    snprintf(tc->plate, sizeof tc->plate, "%s", plate);
    lifetime_hold(&ss->lt);
    if (store_cmdf(ss->a->store, on_token_checked, tc, "GET %s", key) != 0) {
        lifetime_release(&ss->lt);
        http_reply_error(r, 500, "internal", "cannot queue a Redis command");
        free(tc);
    }
}

/* A token being stored, answered once Redis has it. */
struct token_put {
    struct sessions *ss;
    struct http_req *req;
    char token[TOKEN_HEX + 1];
    double expires;
};

static void on_token_stored(void *arg, enum store_status st, const struct store_reply *rep)
{
    struct token_put *tp = arg;
    if (!lifetime_release(&tp->ss->lt))
        ;                                 /* stopped: the request is gone */
    else if (st != STORE_OK || store_reply_type(rep) == STORE_R_ERROR)
        module_reply_store(tp->req, st);  /* (a token that may exist is just unknown) */
    else
        http_reply_json(tp->req, 200, json_pack("{s:s, s:f}", "token", tp->token, "expires",
                                                tp->expires));
    free(tp);
}

/* GET /v1/parking/kiosks/{id}/token (kiosk key of the kiosk's lot, or
 * admin): a new token for the kiosk's QR code, valid
 * parking.kiosk_token_s. */
static void h_kiosk_token(struct http_req *r, void *arg)
{
    struct sessions *ss = ss_of(arg);
    struct app *a = ss->a;
    const char *id = http_req_param(r, "id");
    const struct map_kiosk *k = a->map ? map_kiosk(a->map, id) : NULL;
    unsigned char raw[TOKEN_BYTES];
    char key[KEY_MAX], expires[32], ttl[24];
    if (k == NULL) {
        http_reply_error(r, 404, "not_found", "id: no kiosk %s", id);
        return;
    }
    if (!caller_at_kiosk(r, k)) {
        http_reply_error(r, 403, "forbidden", "only a kiosk key of lot %s issues the tokens of "
                         "kiosk %s", k->lot, k->id);
        return;
    }
    struct token_put *tp = calloc(1, sizeof *tp);
    if (tp == NULL || getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
        http_reply_error(r, 500, "internal", "no random token available");
        free(tp);
        return;
    }
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(tp->token + 2 * i, 3, "%02x", raw[i]);
    tp->req = r;
    tp->expires = app_now(a) + (double)a->cfg.parking_kiosk_token_s;
    token_key(key, sizeof key, k->id, tp->token);
    snprintf(expires, sizeof expires, "%.3f", tp->expires);
    snprintf(ttl, sizeof ttl, "%ld", a->cfg.parking_kiosk_token_s);
    tp->ss = ss;
    lifetime_hold(&ss->lt);
    if (store_cmdf(a->store, on_token_stored, tp, "SET %s %s EX %s", key, expires, ttl) != 0) {
        lifetime_release(&ss->lt);
        http_reply_error(r, 500, "internal", "cannot queue a Redis command");
        free(tp);
    }
}

/* ---- bay observations ---- */

/* The session a car arriving in bay at ts belongs to, NULL when none or
 * when the link exists already. */
static const struct session *arrival_session(struct sessions *ss, const char *lot,
                                             const char *bay, const char *plate, double ts)
{
    char norm[PLATE_MAX], err[128];
    if (plate != NULL) {
        if (plate_normalize(plate, norm, sizeof norm, NULL, err, sizeof err) != 0)
            return NULL;
        const struct session *s = session_book_active(ss->book, norm, lot);
        return s != NULL && strcmp(s->bay, bay) != 0 ? s : NULL;
    }
    const struct session *in = session_book_in_bay(ss->book, lot, bay);
    if (in != NULL && in->bay_time == ts)              /* this arrival, linked before */
        return NULL;
    return session_book_unparked(ss->book, lot, ts, ss->pol.phantom_s, ss->claims);
}

int api_sessions_bay_occupied(struct app *a, const char *lot, const char *bay,
                              const char *plate, double ts, api_sessions_done_fn *done,
                              void *arg)
{
    struct sessions *ss = a ? a->sessions : NULL;
    int derr = 0;
    if (ss == NULL || ss->lt.stopped || lot == NULL || bay == NULL)
        return 0;
    if (!restore_ready(&ss->rs))
        return -1;                        /* not loaded: cannot link yet */
    const struct session *s = arrival_session(ss, lot, bay, plate, ts);
    if (s == NULL)
        return 0;
    struct job *j = job_new(ss, NULL, JOB_BAY);
    if (j == NULL)
        return -1;
    const struct parking_lot *pl = a->parking ? parking_lot_get(a->parking, lot) : NULL;
    const struct parking_bay *pb = pl ? parking_bay_get(pl, bay) : NULL;
    const char *level = pb ? parking_bay_level(pl, pb) : NULL;
    size_t claims = (size_t)(uintptr_t)dict_get(ss->claims, s->id);
    dict_put(ss->claims, s->id, (void *)(uintptr_t)(claims + 1), &derr);
    if (derr != 0) {
        job_free(j);
        return -1;
    }
    snprintf(j->sid, sizeof j->sid, "%s", s->id);
    snprintf(j->plate, sizeof j->plate, "%s", s->plate);
    snprintf(j->lot, sizeof j->lot, "%s", lot);
    snprintf(j->bay, sizeof j->bay, "%s", bay);
    snprintf(j->level, sizeof j->level, "%s", level ? level : "");
    j->now = ts;
    j->done = done;
    j->done_arg = arg;
    lane_submit(ss, j);
    return 1;
}

/* ---- memory ---- */

/* Settled sessions whose last activity is older than
 * parking.keep_settled_s leave memory (Redis keeps them): what needs
 * them later reads them from Redis (a plate's list, a replayed gate
 * event or payment, a payment naming the session). */
static void evict(struct sessions *ss)
{
    ss->evicted_at = app_now(ss->a);
    size_t n = session_book_evict(ss->book, ss->evicted_at - ss->keep_settled_s);
    if (n > 0)
        log_info(&ss->a->log, "sessions_evicted", "sessions=%zu kept=%zu", n,
                 session_book_count(ss->book));
    metric_set(ss->m_kept, (double)session_book_count(ss->book));
}

/* Every EVICT_TICK_S: evict once the clock (the replay clock too: a
 * replayed day evicts as a day) has moved a tenth of the window, at most
 * EVICT_EVERY_MAX_S, so memory holds at most 1.1 windows of settled
 * sessions. */
static void on_evict_timer(evutil_socket_t fd, short what, void *arg)
{
    struct sessions *ss = arg;
    double every = ss->keep_settled_s / 10;
    (void)fd;
    (void)what;
    if (!restore_ready(&ss->rs) || ss->lt.stopped)
        return;
    if (app_now(ss->a) - ss->evicted_at >= (every < EVICT_EVERY_MAX_S ? every : EVICT_EVERY_MAX_S))
        evict(ss);
    else
        metric_set(ss->m_kept, (double)session_book_count(ss->book));
}

/* ---- loading from Redis ----
 *
 * The module's restore (module.h): step 0 starts a fresh book, reads the
 * heads of the change feeds, and pages through the accounts (HSCAN of
 * every partition's hash), the plates that have sessions (SSCAN of every
 * partition's session_plates), each plate a work item (its version, its
 * sessions, then its gate events: in order, so the sessions the events
 * name are in the book), and the lots of an older layout (session_lots:
 * sessions kept per lot), which are copied to their plates (HSETNX: a
 * newer copy stays). A re-read ("plate:<plate>", "acct:<plate>") puts
 * what Redis has over the book's copy. */

/* A session's JSON into the book (settled ones only if recent, unless
 * keep_settled). */
static void put_session_json(struct sessions *ss, const char *text, bool keep_settled)
{
    struct session s;
    json_error_t je;
    char err[256], q[256];
    json_t *j = text ? json_loads(text, 0, &je) : NULL;
    session_init(&s);
    if (j == NULL || session_from_json(&s, j, err, sizeof err) != 0)
        log_error(&ss->a->log, "session_corrupt", "error=%s", log_quote(q, sizeof q, err));
    else if (!keep_settled && session_settled_before(&s, app_now(ss->a) - ss->keep_settled_s))
        session_book_mark_partial(ss->book, s.plate);   /* Redis only */
    else if (session_book_put(ss->book, &s) != 0)
        log_error(&ss->a->log, "session_book_oom", "session=%s", log_quote(q, sizeof q, s.id));
    session_clear(&s);
    json_decref(j);
}

/* A HGETALL reply as (field, value) pairs. */
static bool pairs(const struct store_reply *r)
{
    return store_reply_type(r) == STORE_R_ARRAY && store_reply_len(r) % 2 == 0;
}

static void load_ver(struct restore *rs, const char *plate, const struct store_reply *r)
{
    ver_saw(rs->arg, plate, store_reply_int(r));
}

static void load_sessions(struct restore *rs, const char *plate, const struct store_reply *r)
{
    struct sessions *ss = rs->arg;
    int err = 0;
    dict_put(ss->plates_known, plate, (void *)1, &err);
    for (size_t i = 0; pairs(r) && i + 1 < store_reply_len(r); i += 2)
        put_session_json(ss, store_reply_str(store_reply_at(r, i + 1), NULL), false);
}

static void load_events(struct restore *rs, const char *plate, const struct store_reply *r)
{
    struct sessions *ss = rs->arg;
    for (size_t i = 0; pairs(r) && i + 1 < store_reply_len(r); i += 2)
        put_event_field(ss, store_reply_str(store_reply_at(r, i), NULL),
                        store_reply_str(store_reply_at(r, i + 1), NULL));
    metric_set(ss->m_active, (double)session_book_active_count(ss->book));
}

static void plate_item(struct restore *rs, const char *plate)
{
    char k[3][KEY_MAX];
    const char *vv[] = {"GET", keys_plate(k[0], KEY_MAX, plate, "ver")};
    const char *sv[] = {"HGETALL", keys_plate(k[1], KEY_MAX, plate, "sessions")};
    const char *ev[] = {"HGETALL", keys_plate(k[2], KEY_MAX, plate, "gate_events")};
    if (restore_cmd(rs, load_ver, plate, 2, vv) == 0 &&
        restore_cmd(rs, load_sessions, plate, 2, sv) == 0)
        restore_cmd(rs, load_events, plate, 2, ev);
}

/* ---- an older layout: sessions kept per lot ---- */

static void legacy_written(struct restore *rs, const char *id, const struct store_reply *r)
{
    (void)rs;
    (void)id;
    (void)r;
}

/* A session of a lot's hash: into the book, and copied to its plate. */
static void legacy_session(struct restore *rs, const char *text)
{
    struct sessions *ss = rs->arg;
    json_error_t je;
    json_t *j = text ? json_loads(text, 0, &je) : NULL;
    const char *plate = json_string_value(json_object_get(j, "plate"));
    const char *sid = json_string_value(json_object_get(j, "id"));
    char k[2][KEY_MAX];
    if (plate != NULL && sid != NULL) {
        const char *idx[] = {"SADD", keys_part_key(k[0], KEY_MAX, keys_part(plate),
                                                   "session_plates"), plate};
        const char *put[] = {"HSETNX", keys_plate(k[1], KEY_MAX, plate, "sessions"), sid, text};
        if (restore_cmd(rs, legacy_written, NULL, 3, idx) == 0)
            restore_cmd(rs, legacy_written, NULL, 4, put);
        put_session_json(ss, text, false);
    }
    json_decref(j);
}

static void legacy_sessions(struct restore *rs, const char *lot, const struct store_reply *r)
{
    for (size_t i = 0; pairs(r) && i + 1 < store_reply_len(r); i += 2)
        legacy_session(rs, store_reply_str(store_reply_at(r, i + 1), NULL));
}

/* "entry:<id>" -> sid of a lot: to the session's plate. */
static void legacy_events(struct restore *rs, const char *lot, const struct store_reply *r)
{
    struct sessions *ss = rs->arg;
    for (size_t i = 0; pairs(r) && i + 1 < store_reply_len(r); i += 2) {
        const char *field = store_reply_str(store_reply_at(r, i), NULL);
        const char *sid = store_reply_str(store_reply_at(r, i + 1), NULL);
        const struct session *s = session_book_get(ss->book, sid);
        char k[KEY_MAX], f[2 * SESSION_ID_MAX + 16];
        if (s == NULL || field == NULL || strchr(field, ':') == NULL)
            continue;
        snprintf(f, sizeof f, "%s\x1f%s", lot, field);
        put_event_field(ss, f, sid);
        const char *put[] = {"HSETNX", keys_plate(k, KEY_MAX, s->plate, "gate_events"), f, sid};
        restore_cmd(rs, legacy_written, NULL, 4, put);
    }
}

static void legacy_lot(struct restore *rs, const char *lot)
{
    char k[2][KEY_MAX];
    int err = 0;
    dict_put(((struct sessions *)rs->arg)->legacy, lot, (void *)1, &err);
    const char *sv[] = {"HGETALL", keys_lot(k[0], KEY_MAX, lot, "sessions")};
    const char *ev[] = {"HGETALL", keys_lot(k[1], KEY_MAX, lot, "gate_events")};
    if (restore_cmd(rs, legacy_sessions, lot, 2, sv) == 0)
        restore_cmd(rs, legacy_events, lot, 2, ev);
}

static void put_account(struct sessions *ss, const char *plate, const char *text)
{
    struct session_account acct;
    json_error_t je;
    char err[128];
    json_t *j = text ? json_loads(text, 0, &je) : NULL;
    if (plate != NULL && j != NULL && session_account_from_json(j, &acct, err, sizeof err) == 0)
        session_book_account_put(ss->book, plate, &acct);
    json_decref(j);
}

static void scan_accounts(struct restore *rs, const char *part, const char *cursor);

/* A page of HSCAN of partition `part`'s accounts: [cursor, [plate,
 * account, ...]]. */
static void accounts_cb(struct restore *rs, const char *part, const struct store_reply *r)
{
    const char *cursor = store_reply_str(store_reply_at(r, 0), NULL);
    const struct store_reply *m = store_reply_at(r, 1);
    for (size_t i = 0; i + 1 < store_reply_len(m); i += 2)
        put_account(rs->arg, store_reply_str(store_reply_at(m, i), NULL),
                    store_reply_str(store_reply_at(m, i + 1), NULL));
    if (cursor != NULL && strcmp(cursor, "0") != 0)
        scan_accounts(rs, part, cursor);
}

static void scan_accounts(struct restore *rs, const char *part, const char *cursor)
{
    char key[KEY_MAX];
    const char *argv[] = {"HSCAN", keys_part_key(key, sizeof key, (unsigned)atoi(part),
                                                 "accounts"),
                          cursor, "COUNT", SCAN_COUNT};
    restore_cmd(rs, accounts_cb, part, 5, argv);
}

/* Every copy of an older layout's lot is in Redis: drop its keys. */
static void legacy_drop(struct restore *rs, const char *lot)
{
    char k[3][KEY_MAX];
    const char *del[] = {"DEL", keys_lot(k[0], KEY_MAX, lot, "sessions"),
                         keys_lot(k[1], KEY_MAX, lot, "gate_events")};
    const char *srem[] = {"SREM", keys_part_key(k[2], KEY_MAX, keys_part(lot), "session_lots"),
                          lot};
    /* (two keys of one lot: one slot) */
    if (restore_cmd(rs, legacy_written, NULL, 3, del) == 0)
        restore_cmd(rs, legacy_written, NULL, 3, srem);
}

/* Step 0: the lots of the older layout (their copies go to the plates);
 * step 1: heads, accounts, plates; step 2: the older layout's keys go
 * (every copy of step 0 acknowledged by then). */
static bool load_step(struct restore *rs, int k)
{
    struct sessions *ss = rs->arg;
    char key[KEY_MAX], part[8];
    if (k > 2)
        return false;
    if (k == 2) {
        size_t pos = 0;
        const char *lot;
        void *v;
        while (dict_next(ss->legacy, &pos, &lot, &v))
            restore_work_add(rs, legacy_drop, lot);
        return true;
    }
    if (k == 0) {
        dict_free(ss->legacy, NULL);
        if ((ss->legacy = dict_new()) == NULL) {
            restore_failed(rs, "out of memory");
            return true;
        }
        session_book_free(ss->book);          /* what an abandoned attempt left */
        dict_free(ss->plates_known, NULL);
        dict_free(ss->plate_ver, NULL);
        ss->book = session_book_new();
        ss->plates_known = dict_new();
        ss->plate_ver = dict_new();
        if (ss->book == NULL || ss->plates_known == NULL || ss->plate_ver == NULL) {
            restore_failed(rs, "out of memory");
            return true;
        }
        for (unsigned i = 0; i < KEYS_PARTS; i++)
            restore_scan(rs, keys_part_key(key, sizeof key, i, "session_lots"), legacy_lot);
        return true;
    }
    pfeed_heads(&ss->pf, rs);
    for (unsigned i = 0; i < KEYS_PARTS; i++) {
        snprintf(part, sizeof part, "%u", i);
        scan_accounts(rs, part, "0");
        restore_scan(rs, keys_part_key(key, sizeof key, i, "session_plates"), plate_item);
    }
    return true;
}

static void load_done(struct restore *rs)
{
    struct sessions *ss = rs->arg;
    evict(ss);
    metric_set(ss->m_active, (double)session_book_active_count(ss->book));
    log_info(&ss->a->log, "sessions_loaded", "sessions=%zu", session_book_count(ss->book));
}

static void account_cb(struct restore *rs, const char *plate, const struct store_reply *r)
{
    put_account(rs->arg, plate, store_reply_str(r, NULL));
}

static void reread_item(struct restore *rs, const char *id)
{
    char key[KEY_MAX];
    if (strncmp(id, "plate:", 6) == 0) {
        plate_item(rs, id + 6);
        return;
    }
    const char *argv[] = {"HGET", keys_part_key(key, sizeof key, keys_part(id + 5), "accounts"),
                          id + 5};
    restore_cmd(rs, account_cb, id + 5, 3, argv);
}

/* ---- the change feed (pfeed.h): other processes' writes ---- */

static void feed_entry(void *arg, unsigned part, const struct store_reply *kv)
{
    struct sessions *ss = arg;
    const char *plate = reply_field(kv, "plate", NULL);
    const char *acct = reply_field(kv, "acct", NULL), *ver = reply_field(kv, "ver", NULL);
    char name[16];
    (void)part;
    if (plate == NULL)
        return;
    if (acct != NULL) {
        put_account(ss, plate, acct);
        return;
    }
    /* A plate's entries come in version order, but this process may have
     * read the plate (before a decision) or written it since: an entry no
     * newer than what the book holds would put an older picture back
     * (an exit undone by the entry before it). */
    if (ver != NULL && atoll(ver) <= ver_known(ss, plate))
        return;
    for (int i = 1; i <= 2; i++) {
        snprintf(name, sizeof name, "s%d", i);
        const char *text = reply_field(kv, name, NULL);
        if (text != NULL)
            put_session_json(ss, text, true);
    }
    put_event_field(ss, reply_field(kv, "ev", NULL), reply_field(kv, "evsid", NULL));
    if (ver != NULL)
        ver_saw(ss, plate, atoll(ver));
    metric_set(ss->m_active, (double)session_book_active_count(ss->book));
}

static void feed_gap(void *arg, unsigned part)
{
    struct sessions *ss = arg;
    log_warn(&ss->a->log, "sessions_feed_gap", "part=%u", part);
    restore_again(&ss->rs);
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
    struct sessions *ss = arg;
    (void)fd;
    (void)what;
    if (restore_ready(&ss->rs) && !restore_syncing(&ss->rs))
        pfeed_poll(&ss->pf);
}

static const struct restore_ops LOAD_OPS = {"sessions", load_step, load_done, reread_item};

/* ---- init ---- */

static void bind_metrics(struct sessions *ss, struct metrics *m)
{
    static const char *const kinds[2] = {"entry", "exit"};
    static const char *const outcomes[3] = {"new", "replay", "reread"};
    char labels[96];
    for (int k = 0; k < 2; k++)
        for (int o = 0; o < 3; o++) {
            const char *kv[4] = {"kind", kinds[k], "outcome", outcomes[o]};
            metrics_labels(labels, sizeof labels, kv, 2);
            ss->m_gate[k][o] = metrics_series(m, METRIC_COUNTER, "cityd_parking_gate_events_total",
                                              "Gate camera reads (entries, exits) by outcome",
                                              labels);
        }
    for (int o = 0; o < 2; o++) {
        const char *kv[2] = {"outcome", outcomes[o]};
        metrics_labels(labels, sizeof labels, kv, 1);
        ss->m_pay[o] = metrics_series(m, METRIC_COUNTER, "cityd_parking_payments_total",
                                      "Session payments by outcome", labels);
    }
    ss->m_fail = metrics_series(m, METRIC_COUNTER, "cityd_parking_session_write_failures_total",
                                "Session writes Redis did not acknowledge (answered 503)", NULL);
    ss->m_active = metrics_series(m, METRIC_GAUGE, "cityd_parking_sessions_active",
                                  "Plate sessions whose car is inside", NULL);
    ss->m_kept = metrics_series(m, METRIC_GAUGE, "cityd_parking_sessions_in_memory",
                                "Plate sessions held in memory (active, unpaid, recently "
                                "settled)", NULL);
}

/* Before the HTTP server and the store are freed. The HTTP layer frees
 * unanswered requests itself: forget them. A running job finishes (or
 * fails) in its store callback; the jobs queued behind it never run. */
static void stop(struct app *a)
{
    struct sessions *ss = a->sessions;
    size_t pos = 0;
    const char *k;
    void *v;
    if (ss == NULL)
        return;
    ss->lt.stopped = true;
    restore_stop(&ss->rs);
    if (ss->evict_timer)
        evtimer_del(ss->evict_timer);
    if (ss->poll)
        evtimer_del(ss->poll);
    while (ss->lanes && dict_next(ss->lanes, &pos, &k, &v)) {
        struct lane *l = v;
        struct job *next;
        for (struct job *j = l->head; j != NULL; j = j->next)
            j->req = NULL;
        for (struct job *j = l->head ? l->head->next : NULL; j != NULL; j = next) {
            next = j->next;
            j->failed = true;
            job_finish(j);
        }
        if (l->head != NULL)
            l->head->next = NULL;
        l->tail = l->head;
    }
}

/* After the store: every store callback has come back. */
static void sessions_free(struct app *a)
{
    struct sessions *ss = a->sessions;
    size_t pos = 0;
    const char *k;
    void *v;
    if (ss == NULL)
        return;
    stop(a);
    lifetime_check(&ss->lt, a, "sessions");
    restore_free(&ss->rs);
    if (ss->evict_timer)
        event_free(ss->evict_timer);
    if (ss->poll)
        event_free(ss->poll);
    while (ss->lanes && dict_next(ss->lanes, &pos, &k, &v)) {   /* jobs never answered */
        struct lane *l = v;
        if (l->head) {
            l->head->failed = true;
            job_finish(l->head);
        }
        free(l);
    }
    dict_free(ss->lanes, NULL);
    dict_free(ss->plates_known, NULL);
    dict_free(ss->plate_ver, NULL);
    dict_free(ss->legacy, NULL);
    dict_free(ss->claims, NULL);
    session_book_free(ss->book);
    garages_free(ss->garages);
    tz_free(ss->tz);
    free(ss);
    a->sessions = NULL;
}

static const struct module_route ROUTES[] = {
    {HTTP_POST, "/v1/parking/lots/{id}/entries", ROLE_OPERATOR, false, h_entry},
    {HTTP_POST, "/v1/parking/lots/{id}/exits", ROLE_OPERATOR, false, h_exit},
    {HTTP_PUT, "/v1/parking/accounts/{plate}", ROLE_OPERATOR, false, h_account},
    {HTTP_POST, "/v1/parking/sessions/{id}/payments", ROLE_OPERATOR, false, h_payment},
    {HTTP_GET, "/v1/parking/sessions", ROLE_OPERATOR, false, h_list},
    {HTTP_GET, "/v1/parking/find-car", ROLE_READER, true, h_find_car},
    {HTTP_GET, "/v1/parking/kiosks/{id}/token", ROLE_KIOSK, false, h_kiosk_token},
};

/* Needs a->map, a->store, a->http and the parking registry (a->parking). */
static int start(struct app *a, char *err, size_t errlen)
{
    struct sessions *ss = calloc(1, sizeof *ss);
    if (ss == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    a->sessions = ss;
    ss->a = a;
    ss->keep_settled_s = (double)a->cfg.parking_keep_settled_s;
    ss->pol = (struct session_policy){.pay_later_s = (double)a->cfg.parking_pay_later_s,
                                      .max_session_s = (double)a->cfg.parking_max_session_s,
                                      .phantom_s = (double)a->cfg.parking_phantom_s};
    if ((ss->tz = tz_load(a->cfg.parking_timezone, NULL, err, errlen)) == NULL)
        return -1;
    ss->book = session_book_new();
    ss->lanes = dict_new();
    ss->plates_known = dict_new();
    ss->plate_ver = dict_new();
    ss->legacy = dict_new();
    ss->claims = dict_new();
    ss->garages = a->map ? garages_build(a->map) : NULL;
    ss->evict_timer = event_new(a->base, -1, EV_PERSIST, on_evict_timer, ss);
    pfeed_init(&ss->pf, a, &ss->lt, "sessions", app_origin(a), feed_entry, NULL, feed_gap,
               ss);
    ss->poll = event_new(a->base, -1, EV_PERSIST, on_poll, ss);
    ss->write_script = store_script_new(a->store, WRITE_SCRIPT);
    ss->acct_script = store_script_new(a->store, ACCOUNT_SCRIPT);
    ss->claim_script = store_script_new(a->store, CLAIM_SCRIPT);
    ss->recall_script = store_script_new(a->store, RECALL_SCRIPT);
    struct timeval poll = {0, POLL_MS * 1000};
    if (ss->poll == NULL || event_add(ss->poll, &poll) != 0 || ss->write_script == NULL ||
        ss->acct_script == NULL || ss->claim_script == NULL || ss->recall_script == NULL ||
        ss->plate_ver == NULL || ss->legacy == NULL ||
        ss->book == NULL || ss->lanes == NULL || ss->plates_known == NULL || ss->claims == NULL ||
        (a->map && ss->garages == NULL) || ss->evict_timer == NULL ||
        restore_init(&ss->rs, a, &ss->lt, &LOAD_OPS, ss) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    bind_metrics(ss, a->metrics);
    struct timeval tick = {EVICT_TICK_S, 0};
    event_add(ss->evict_timer, &tick);
    if (module_routes(a->http, "sessions", ROUTES, sizeof ROUTES / sizeof ROUTES[0], a, err,
                      errlen) != 0)
        return -1;
    restore_begin(&ss->rs);
    return 0;
}

static bool module_ready(const struct app *a)
{
    return a->sessions != NULL && restore_ready(&a->sessions->rs);
}

const struct api_module api_sessions_module = {"sessions", start, stop, sessions_free,
                                               module_ready};
