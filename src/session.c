/* session.c -- the plate-session state machine, payments, arrears and
 * anomaly flags (rules in session.h), and their JSON forms (the API's
 * session object doubles as the storage format in Redis). */
#include "session.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tariff.h"

static const char *const status_names[] = {
    "active", "paid", "exited_unpaid", "payment_required", "void",
};
static const char *const flag_names[] = {
    "no_entry_record", "duplicate_entry", "overlong", "phantom_entry",
};
#define NFLAGS (sizeof flag_names / sizeof flag_names[0])

static void copy_str(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

/* ---- lifecycle ---- */

void session_init(struct session *s)
{
    memset(s, 0, sizeof *s);
    s->entry_time = s->exit_time = s->pay_by = s->bay_time = NAN;
    copy_str(s->currency, sizeof s->currency, "CNY");
}

void session_clear(struct session *s)
{
    free(s->payments);
    session_init(s);
}

int session_copy(struct session *dst, const struct session *src)
{
    struct session_payment *p = NULL;
    if (src->npayments > 0) {
        p = malloc(src->npayments * sizeof *p);
        if (p == NULL)
            return -1;
        memcpy(p, src->payments, src->npayments * sizeof *p);
    }
    *dst = *src;
    dst->payments = p;
    return 0;
}

void session_make_id(char *buf, size_t n, const char *lot, const char *kind, const char *event_id)
{
    uint64_t h = 0xcbf29ce484222325ULL;                /* FNV-1a 64 */
    const char *parts[3] = {lot, kind, event_id};
    for (int i = 0; i < 3; i++) {
        for (const unsigned char *c = (const unsigned char *)parts[i]; *c; c++)
            h = (h ^ *c) * 0x100000001b3ULL;
        h = (h ^ 0x1f) * 0x100000001b3ULL;             /* unit separator between parts */
    }
    snprintf(buf, n, "ps-%016llx", (unsigned long long)h);
}

int session_ts_check(const struct session_clock *c, double ts, char *err, size_t errlen)
{
    if (ts - c->now > c->max_future_s) {
        snprintf(err, errlen, "ts: %.0f is %.0f s ahead of the clock (at most "
                 "parking.gate_max_future_s = %.0f)", ts, ts - c->now, c->max_future_s);
        return -1;
    }
    if (c->now - ts > c->max_age_s) {
        snprintf(err, errlen, "ts: %.0f is %.0f s in the past (at most parking.gate_max_age_s = "
                 "%.0f; is the camera's clock set?)", ts, c->now - ts, c->max_age_s);
        return -1;
    }
    return 0;
}

/* ---- transitions ---- */

/* The identity shared by sessions opened by an entry or by an exit. */
static void session_start(struct session *s, const char *id, const char *lot,
                          const char *currency, const char *plate)
{
    session_clear(s);
    copy_str(s->id, sizeof s->id, id);
    copy_str(s->lot, sizeof s->lot, lot);
    copy_str(s->plate, sizeof s->plate, plate);
    copy_str(s->currency, sizeof s->currency, currency ? currency : "CNY");
}

void session_open(struct session *s, const char *id, const char *lot, const char *currency,
                  const struct session_event *ev)
{
    session_start(s, id, lot, currency, ev->plate);
    copy_str(s->entry_event, sizeof s->entry_event, ev->id);
    copy_str(s->entry_gate, sizeof s->entry_gate, ev->gate);
    s->entry_time = ev->ts;
    s->status = SESSION_ACTIVE;
}

void session_supersede(struct session *older, struct session *newer)
{
    older->status = SESSION_VOID;
    older->flags |= SESSION_F_DUPLICATE_ENTRY;
    older->due_fen = 0;
    copy_str(older->superseded_by, sizeof older->superseded_by, newer->id);
    newer->flags |= SESSION_F_DUPLICATE_ENTRY;
}

int session_close(struct session *s, const struct session_event *ev, long long fee_fen,
                  const struct session_account *acct, const struct session_policy *pol,
                  enum session_gate *gate, char *err, size_t errlen)
{
    if (s->status != SESSION_ACTIVE) {
        snprintf(err, errlen, "session %s is %s, not active", s->id, session_status_name(s->status));
        return -1;
    }
    if (ev->ts < s->entry_time) {
        snprintf(err, errlen, "ts: exit at %.0f is before the entry at %.0f", ev->ts, s->entry_time);
        return -1;
    }
    copy_str(s->exit_event, sizeof s->exit_event, ev->id);
    copy_str(s->exit_gate, sizeof s->exit_gate, ev->gate);
    s->exit_time = ev->ts;
    s->due_fen = fee_fen;
    if (ev->ts - s->entry_time > pol->max_session_s)
        s->flags |= SESSION_F_OVERLONG;
    long long owed = session_outstanding(s);
    s->status = SESSION_PAYMENT_REQUIRED;           /* the default: the gate holds */
    if (owed == 0) {
        s->status = SESSION_PAID;
    } else if ((s->flags & SESSION_F_OVERLONG) || fee_fen >= TARIFF_MAX_FEN) {
        /* an anomaly is never debited silently: a person looks at it */
    } else if (acct != NULL && acct->autopay) {
        struct session_payment p = {.fen = owed, .ts = ev->ts};
        snprintf(p.id, sizeof p.id, "autopay:%.*s", (int)sizeof p.id - 9, ev->id);
        copy_str(p.method, sizeof p.method, "autopay");
        bool conflict;
        char e[128];
        (void)session_pay(s, &p, 0, &conflict, e, sizeof e);  /* -> paid; on OOM it holds */
    } else if (acct != NULL && acct->pay_later) {
        s->status = SESSION_EXITED_UNPAID;
        s->pay_by = ev->ts + pol->pay_later_s;
    }
    *gate = session_gate_for(s);
    return 0;
}

void session_open_exit_only(struct session *s, const char *id, const char *lot,
                            const char *currency, const struct session_event *ev)
{
    session_start(s, id, lot, currency, ev->plate);
    copy_str(s->exit_event, sizeof s->exit_event, ev->id);
    copy_str(s->exit_gate, sizeof s->exit_gate, ev->gate);
    s->exit_time = ev->ts;
    s->status = SESSION_VOID;
    s->flags = SESSION_F_NO_ENTRY_RECORD;
}

bool session_is_reread(const struct session *s, double ts)
{
    return s->status != SESSION_ACTIVE && isfinite(s->exit_time) &&
           fabs(ts - s->exit_time) <= SESSION_REREAD_S;
}

enum session_gate session_gate_for(const struct session *s)
{
    return s->status == SESSION_PAID || s->status == SESSION_EXITED_UNPAID ? SESSION_GATE_OPEN
                                                                          : SESSION_GATE_HOLD;
}

long long session_outstanding(const struct session *s)
{
    return s->due_fen > s->paid_fen ? s->due_fen - s->paid_fen : 0;
}

static const struct session_payment *find_payment(const struct session *s, const char *id)
{
    for (size_t i = 0; i < s->npayments; i++)
        if (strcmp(s->payments[i].id, id) == 0)
            return &s->payments[i];
    return NULL;
}

/* Is the payment acceptable in the current state? 0, or -1 with err. */
static int pay_check(const struct session *s, const struct session_payment *p, long long due,
                     bool *conflict, char *err, size_t errlen)
{
    *conflict = true;
    if (p->fen <= 0) {
        *conflict = false;
        snprintf(err, errlen, "amount: must be positive");
    } else if (p->lot[0] != '\0' && strcmp(p->lot, s->lot) != 0) {
        snprintf(err, errlen, "lot: session %s belongs to lot %s, not %s", s->id, s->lot, p->lot);
    } else if (s->status == SESSION_VOID) {
        snprintf(err, errlen, "session %s is void: nothing to pay", s->id);
    } else if (s->status == SESSION_PAID) {
        snprintf(err, errlen, "session %s is already paid", s->id);
    } else if (p->fen > due - s->paid_fen) {
        snprintf(err, errlen, "amount: %.2f is more than the %.2f due", tariff_amount(p->fen),
                 tariff_amount(due > s->paid_fen ? due - s->paid_fen : 0));
    } else {
        return 0;
    }
    return -1;
}

int session_pay(struct session *s, const struct session_payment *p, long long due_now_fen,
                bool *conflict, char *err, size_t errlen)
{
    const struct session_payment *old = find_payment(s, p->id);
    if (old != NULL) {
        *conflict = true;
        if (old->fen == p->fen)
            return 1;
        snprintf(err, errlen, "id: payment %s was already made with amount %.2f", p->id,
                 tariff_amount(old->fen));
        return -1;
    }
    long long due = s->status == SESSION_ACTIVE ? due_now_fen : s->due_fen;
    if (pay_check(s, p, due, conflict, err, errlen) != 0)
        return -1;
    struct session_payment *np = realloc(s->payments, (s->npayments + 1) * sizeof *np);
    if (np == NULL) {
        *conflict = false;
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->payments = np;
    np[s->npayments++] = *p;
    s->paid_fen += p->fen;
    if (s->status == SESSION_ACTIVE) {
        if (due_now_fen > s->due_fen)               /* the fee so far, for display */
            s->due_fen = due_now_fen;
    } else if (s->paid_fen >= s->due_fen) {
        s->status = SESSION_PAID;
    }
    return 0;
}

void session_set_bay(struct session *s, const char *bay, const char *level, double ts)
{
    copy_str(s->bay, sizeof s->bay, bay);
    copy_str(s->level, sizeof s->level, level);
    s->bay_time = ts;
}

bool session_check_flags(struct session *s, double now, const struct session_policy *pol,
                         bool lot_has_bays)
{
    unsigned before = s->flags;
    if (s->status != SESSION_ACTIVE || !isfinite(s->entry_time))
        return false;
    if (now - s->entry_time > pol->max_session_s)
        s->flags |= SESSION_F_OVERLONG;
    bool parked_in_time = s->bay[0] != '\0' && s->bay_time - s->entry_time <= pol->phantom_s;
    if (lot_has_bays && !parked_in_time && now - s->entry_time > pol->phantom_s)
        s->flags |= SESSION_F_PHANTOM_ENTRY;
    return s->flags != before;
}

bool session_settled_before(const struct session *s, double before)
{
    double t = -INFINITY;
    const double ts[3] = {s->entry_time, s->exit_time, s->bay_time};
    if (s->status != SESSION_PAID && s->status != SESSION_VOID)
        return false;
    for (int i = 0; i < 3; i++)
        if (isfinite(ts[i]) && ts[i] > t)
            t = ts[i];
    for (size_t i = 0; i < s->npayments; i++)
        if (isfinite(s->payments[i].ts) && s->payments[i].ts > t)
            t = s->payments[i].ts;
    return t < before;
}

/* ---- arrears ---- */

void session_arrears_init(struct session_arrears *a)
{
    memset(a, 0, sizeof *a);
    a->ids = json_array();
}

void session_arrears_free(struct session_arrears *a)
{
    json_decref(a->ids);
    memset(a, 0, sizeof *a);
}

void session_arrears_add(struct session_arrears *a, const struct session *s, double now)
{
    long long owed = session_outstanding(s);
    if (owed <= 0 || (s->status != SESSION_EXITED_UNPAID && s->status != SESSION_PAYMENT_REQUIRED))
        return;
    a->fen += owed;
    a->count++;
    if (s->status == SESSION_EXITED_UNPAID && now > s->pay_by)
        a->overdue++;
    if (a->ids != NULL)
        json_array_append_new(a->ids, json_string(s->id));
}

json_t *session_arrears_json(const struct session_arrears *a)
{
    return json_pack("{s:f, s:o, s:I}", "amount", tariff_amount(a->fen), "sessions",
                     a->ids ? json_incref(a->ids) : json_array(), "overdue",
                     (json_int_t)a->overdue);
}

/* ---- names ---- */

const char *session_status_name(enum session_status st)
{
    return (unsigned)st < sizeof status_names / sizeof status_names[0] ? status_names[st] : "?";
}

int session_status_parse(const char *s, enum session_status *out)
{
    for (size_t i = 0; s != NULL && i < sizeof status_names / sizeof status_names[0]; i++)
        if (strcmp(s, status_names[i]) == 0) {
            *out = (enum session_status)i;
            return 0;
        }
    return -1;
}

const char *session_gate_name(enum session_gate g)
{
    return g == SESSION_GATE_OPEN ? "open" : "hold";
}

/* ---- JSON out ---- */

static json_t *time_or_null(double t)
{
    return isfinite(t) ? json_real(t) : json_null();
}

static json_t *str_or_null(const char *s)
{
    return s[0] != '\0' ? json_string(s) : json_null();
}

static json_t *payments_to_json(const struct session *s)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < s->npayments; i++) {
        const struct session_payment *p = &s->payments[i];
        json_array_append_new(a, json_pack("{s:s, s:f, s:s, s:o}", "id", p->id, "amount",
                                           tariff_amount(p->fen), "method", p->method, "ts",
                                           time_or_null(p->ts)));
    }
    return a;
}

json_t *session_to_json(const struct session *s, double now)
{
    double dur = NAN;
    if (isfinite(s->entry_time))
        dur = (isfinite(s->exit_time) ? s->exit_time : now) - s->entry_time;
    json_t *flags = json_array();
    for (size_t i = 0; flags != NULL && i < NFLAGS; i++)
        if (s->flags & (1u << i))
            json_array_append_new(flags, json_string(flag_names[i]));
    return json_pack(
        "{s:s, s:s, s:s, s:o, s:o, s:o, s:f, s:f, s:s, s:s, s:o, s:o,"
        " s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
        "id", s->id, "plate", s->plate, "lot", s->lot, "entryTime", time_or_null(s->entry_time),
        "exitTime", time_or_null(s->exit_time), "durationSeconds", time_or_null(dur),
        "amountDue", tariff_amount(s->due_fen), "amountPaid", tariff_amount(s->paid_fen),
        "currency", s->currency, "status", session_status_name(s->status), "payBy",
        time_or_null(s->pay_by), "flags", flags ? flags : json_array(),
        "entryEvent", str_or_null(s->entry_event), "exitEvent", str_or_null(s->exit_event),
        "entryGate", str_or_null(s->entry_gate), "exitGate", str_or_null(s->exit_gate),
        "bay", str_or_null(s->bay), "level", str_or_null(s->level),
        "bayTime", time_or_null(s->bay_time), "supersededBy", str_or_null(s->superseded_by),
        "payments", payments_to_json(s));
}

/* ---- JSON in ---- */

/* A string member: required or optional (null/absent = ""), 1..n-1 bytes,
 * no control characters. */
static int get_str(const json_t *j, const char *key, bool required, char *dst, size_t n,
                   char *err, size_t errlen)
{
    const json_t *v = json_object_get(j, key);
    dst[0] = '\0';
    if (v == NULL || json_is_null(v)) {
        if (required)
            snprintf(err, errlen, "%s: required", key);
        return required ? -1 : 0;
    }
    const char *s = json_string_value(v);
    size_t len = json_is_string(v) ? json_string_length(v) : 0;
    if (s == NULL || len == 0 || len >= n || strlen(s) != len) {
        snprintf(err, errlen, "%s: must be a non-empty string of at most %zu bytes", key, n - 1);
        return -1;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
            snprintf(err, errlen, "%s: contains a control character", key);
            return -1;
        }
    memcpy(dst, s, len + 1);
    return 0;
}

/* A time member: epoch seconds > 0; null/absent gives NAN when optional. */
static int get_time(const json_t *j, const char *key, bool required, double *out, char *err,
                    size_t errlen)
{
    const json_t *v = json_object_get(j, key);
    *out = NAN;
    if (v == NULL || json_is_null(v)) {
        if (required)
            snprintf(err, errlen, "%s: required", key);
        return required ? -1 : 0;
    }
    double t = json_is_number(v) ? json_number_value(v) : NAN;
    if (!isfinite(t) || t < 0 || t > 1e11) {
        snprintf(err, errlen, "%s: must be epoch seconds", key);
        return -1;
    }
    *out = t;
    return 0;
}

static int get_amount(const json_t *j, const char *key, long long *fen, char *err, size_t errlen)
{
    const json_t *v = json_object_get(j, key);
    if (v == NULL || json_is_null(v)) {
        snprintf(err, errlen, "%s: required", key);
        return -1;
    }
    if (!json_is_number(v)) {
        snprintf(err, errlen, "%s: must be a number", key);
        return -1;
    }
    double x = json_number_value(v);
    if (x < 0) {
        snprintf(err, errlen, "%s: must not be negative", key);
        return -1;
    }
    if (x > (double)TARIFF_MAX_FEN / 100) {
        snprintf(err, errlen, "%s: %g is more than any fee (at most %.0f)", key, x,
                 (double)TARIFF_MAX_FEN / 100);
        return -1;
    }
    *fen = tariff_fen(x);
    if (*fen < 0) {
        snprintf(err, errlen, "%s: %g is not an amount in whole fen (0.01)", key, x);
        return -1;
    }
    return 0;
}

int session_event_from_json(const json_t *j, struct session_event *ev, char *err, size_t errlen)
{
    char raw[PLATE_MAX * 8];
    memset(ev, 0, sizeof *ev);
    if (!json_is_object(j)) {
        snprintf(err, errlen, "body: must be a JSON object");
        return -1;
    }
    if (get_str(j, "id", true, ev->id, sizeof ev->id, err, errlen) != 0 ||
        get_str(j, "plate", true, raw, sizeof raw, err, errlen) != 0 ||
        plate_normalize(raw, ev->plate, sizeof ev->plate, NULL, err, errlen) != 0 ||
        get_str(j, "gate", true, ev->gate, sizeof ev->gate, err, errlen) != 0 ||
        get_time(j, "ts", true, &ev->ts, err, errlen) != 0)
        return -1;
    return 0;
}

int session_payment_from_json(const json_t *j, struct session_payment *p, char *err,
                              size_t errlen)
{
    memset(p, 0, sizeof *p);
    p->ts = NAN;
    if (!json_is_object(j)) {
        snprintf(err, errlen, "body: must be a JSON object");
        return -1;
    }
    if (get_str(j, "id", true, p->id, sizeof p->id, err, errlen) != 0 ||
        get_amount(j, "amount", &p->fen, err, errlen) != 0 ||
        get_str(j, "method", true, p->method, sizeof p->method, err, errlen) != 0 ||
        get_str(j, "lot", false, p->lot, sizeof p->lot, err, errlen) != 0 ||
        get_time(j, "ts", false, &p->ts, err, errlen) != 0)
        return -1;
    if (p->fen == 0) {
        snprintf(err, errlen, "amount: must be positive");
        return -1;
    }
    return 0;
}

int session_account_from_json(const json_t *j, struct session_account *a, char *err,
                              size_t errlen)
{
    const char *keys[2] = {"autopay", "pay_later"};
    bool *dst[2] = {&a->autopay, &a->pay_later};
    bool v[2];
    if (!json_is_object(j)) {
        snprintf(err, errlen, "body: must be a JSON object");
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        const json_t *b = json_object_get(j, keys[i]);
        if (!json_is_boolean(b)) {
            snprintf(err, errlen, "%s: %s", keys[i], b ? "must be true or false" : "required");
            return -1;
        }
        v[i] = json_is_true(b);
    }
    *dst[0] = v[0];
    *dst[1] = v[1];
    return 0;
}

json_t *session_account_to_json(const struct session_account *a)
{
    return json_pack("{s:b, s:b}", "autopay", a->autopay, "pay_later", a->pay_later);
}

static int payments_from_json(struct session *s, const json_t *arr, char *err, size_t errlen)
{
    size_t n = json_array_size(arr);
    if (arr != NULL && !json_is_array(arr)) {
        snprintf(err, errlen, "payments: must be an array");
        return -1;
    }
    if (n == 0)
        return 0;
    s->payments = calloc(n, sizeof *s->payments);
    if (s->payments == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        struct session_payment *p = &s->payments[i];
        const json_t *o = json_array_get(arr, i);
        if (get_str(o, "id", true, p->id, sizeof p->id, err, errlen) != 0 ||
            get_amount(o, "amount", &p->fen, err, errlen) != 0 ||
            get_str(o, "method", true, p->method, sizeof p->method, err, errlen) != 0 ||
            get_time(o, "ts", false, &p->ts, err, errlen) != 0)
            return -1;
        s->npayments++;
    }
    return 0;
}

static int flags_from_json(struct session *s, const json_t *arr, char *err, size_t errlen)
{
    size_t i;
    const json_t *v;
    if (arr != NULL && !json_is_array(arr)) {
        snprintf(err, errlen, "flags: must be an array");
        return -1;
    }
    json_array_foreach(arr, i, v) {
        size_t k = 0;
        while (k < NFLAGS && !(json_is_string(v) && strcmp(json_string_value(v), flag_names[k]) == 0))
            k++;
        if (k == NFLAGS) {
            snprintf(err, errlen, "flags[%zu]: unknown flag", i);
            return -1;
        }
        s->flags |= 1u << k;
    }
    return 0;
}

int session_from_json(struct session *s, const json_t *j, char *err, size_t errlen)
{
    char status[32];
    session_clear(s);
    if (!json_is_object(j)) {
        snprintf(err, errlen, "session: must be an object");
        return -1;
    }
    int rc = get_str(j, "id", true, s->id, sizeof s->id, err, errlen) ||
             get_str(j, "plate", true, s->plate, sizeof s->plate, err, errlen) ||
             get_str(j, "lot", true, s->lot, sizeof s->lot, err, errlen) ||
             get_str(j, "currency", true, s->currency, sizeof s->currency, err, errlen) ||
             get_str(j, "status", true, status, sizeof status, err, errlen) ||
             get_time(j, "entryTime", false, &s->entry_time, err, errlen) ||
             get_time(j, "exitTime", false, &s->exit_time, err, errlen) ||
             get_time(j, "payBy", false, &s->pay_by, err, errlen) ||
             get_time(j, "bayTime", false, &s->bay_time, err, errlen) ||
             get_amount(j, "amountDue", &s->due_fen, err, errlen) ||
             get_amount(j, "amountPaid", &s->paid_fen, err, errlen) ||
             get_str(j, "entryEvent", false, s->entry_event, sizeof s->entry_event, err, errlen) ||
             get_str(j, "exitEvent", false, s->exit_event, sizeof s->exit_event, err, errlen) ||
             get_str(j, "entryGate", false, s->entry_gate, sizeof s->entry_gate, err, errlen) ||
             get_str(j, "exitGate", false, s->exit_gate, sizeof s->exit_gate, err, errlen) ||
             get_str(j, "bay", false, s->bay, sizeof s->bay, err, errlen) ||
             get_str(j, "level", false, s->level, sizeof s->level, err, errlen) ||
             get_str(j, "supersededBy", false, s->superseded_by, sizeof s->superseded_by, err,
                     errlen) ||
             flags_from_json(s, json_object_get(j, "flags"), err, errlen) ||
             payments_from_json(s, json_object_get(j, "payments"), err, errlen);
    if (rc == 0 && session_status_parse(status, &s->status) != 0) {
        snprintf(err, errlen, "status: unknown status \"%s\"", status);
        rc = -1;
    }
    if (rc != 0)
        session_clear(s);
    return rc ? -1 : 0;
}
