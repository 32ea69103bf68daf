/* session.h -- plate parking sessions: the state machine, accounts,
 * payments, arrears and anomaly flags of api.md §2 "Plate sessions".
 *
 * Plain C over plain structs: no Redis, no HTTP. The API layer loads the
 * sessions a request touches, calls these functions, and stores the
 * results (session_to_json is also the storage format).
 *
 * States (api.md):
 *   active            the car is inside (entry read, no exit yet)
 *   paid              fee settled (or nothing due); the gate opens
 *   exited_unpaid     left under pay-later; must pay by payBy
 *   payment_required  the gate holds until paid
 *   void              not billable: an entry superseded by a later entry
 *                     of the same plate in the same lot, or an exit with
 *                     no entry record
 *
 *   entry ──> active ──exit──> paid              (fee 0, prepaid, or autopay)
 *                  │      ├──> exited_unpaid ──payments──> paid  (pay_later)
 *                  │      └──> payment_required ──payments──> paid
 *                  └──later entry, same plate and lot──> void (duplicate_entry)
 *   exit without an active session ──> void (no_entry_record), gate holds
 *
 * Rules beyond the spec, chosen so that nothing is billed silently:
 *  - duplicate entry: a second entry of a plate that already has an active
 *    session in the lot means the exit of the first was missed (or the
 *    plate is cloned). The old session becomes void and the new one opens;
 *    both carry duplicate_entry. The old stay is never billed by guess.
 *  - no entry record: the exit session is void (no fee can be computed)
 *    and the gate holds for an attendant.
 *  - overlong (duration > parking.max_session_s): billed by the tariff in
 *    full (however long: tariff.h) but never debited automatically nor
 *    let out under pay-later: it becomes payment_required so a person
 *    looks at it. So does a fee at the tariff's ceiling (TARIFF_MAX_FEN,
 *    a stay too long to bill exactly). A fee of 0 is only ever a stay
 *    the tariff makes free.
 *  - gate clocks: the ts of a gate event or payment must lie within
 *    [now - max_age_s, now + max_future_s] (session_ts_check): a camera
 *    whose clock reset sends ts 0, and an entry in the far future would
 *    make every later exit of the plate come "before its entry".
 *  - phantom_entry (the lot has bay sensors and no bay turned occupied for
 *    this session within parking.phantom_s of entry): informational; the
 *    flag is set by session_check_flags once the period has passed.
 *  - a second exit read of a closed session within SESSION_REREAD_S of its
 *    exit is the same exit (cameras read twice): same session, same gate.
 *  - payments: amount > 0 and a whole number of fen; at most what is still
 *    due (for an active session: the fee so far, paying at a kiosk before
 *    driving out); repeating a payment id changes nothing; a payment naming
 *    another lot is refused.
 *  - autopay wins over pay_later when a plate has both.
 * Money is held in integer fen (0.01 of the currency). */
#ifndef CITYD_SESSION_H
#define CITYD_SESSION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "plate.h"

#define SESSION_ID_MAX 128        /* ids of sessions, gate events, payments, lots */
#define SESSION_NAME_MAX 64       /* gates, bays, levels, payment methods */
#define SESSION_REREAD_S 600.0

enum session_status {
    SESSION_ACTIVE = 0,
    SESSION_PAID,
    SESSION_EXITED_UNPAID,
    SESSION_PAYMENT_REQUIRED,
    SESSION_VOID,
};

enum session_flag {
    SESSION_F_NO_ENTRY_RECORD = 1u << 0,
    SESSION_F_DUPLICATE_ENTRY = 1u << 1,
    SESSION_F_OVERLONG = 1u << 2,
    SESSION_F_PHANTOM_ENTRY = 1u << 3,
};

enum session_gate { SESSION_GATE_OPEN = 0, SESSION_GATE_HOLD };

/* A gate camera read: POST .../entries and .../exits bodies. */
struct session_event {
    char id[SESSION_ID_MAX];
    char plate[PLATE_MAX];        /* normalised */
    char gate[SESSION_NAME_MAX];
    double ts;
};

struct session_payment {
    char id[SESSION_ID_MAX];
    long long fen;
    char method[SESSION_NAME_MAX];
    double ts;
    char lot[SESSION_ID_MAX];     /* optional in requests ("" = not given) */
};

struct session_account {
    bool autopay;
    bool pay_later;
};

/* Config values the rules need (config.h [parking]). */
struct session_policy {
    double pay_later_s;
    double max_session_s;
    double phantom_s;
};

/* The clock gate events and payments are held to (config.h [parking]
 * gate_max_future_s, gate_max_age_s). */
struct session_clock {
    double now;
    double max_future_s;          /* INFINITY: no bound (replay clock) */
    double max_age_s;             /* INFINITY: no bound */
};

struct session {
    char id[SESSION_ID_MAX];
    char lot[SESSION_ID_MAX];
    char plate[PLATE_MAX];
    char currency[8];
    enum session_status status;
    unsigned flags;                       /* enum session_flag bits */
    char entry_event[SESSION_ID_MAX];     /* gate event ids, "" when none */
    char exit_event[SESSION_ID_MAX];
    char entry_gate[SESSION_NAME_MAX];
    char exit_gate[SESSION_NAME_MAX];
    double entry_time;                    /* NAN: no entry record */
    double exit_time;                     /* NAN: still inside */
    long long due_fen;                    /* fee at exit; while active, as of the last refresh */
    long long paid_fen;
    double pay_by;                        /* NAN unless it left under pay-later */
    char superseded_by[SESSION_ID_MAX];   /* void by duplicate entry: the newer session */
    char bay[SESSION_NAME_MAX];           /* where the car parked, "" unknown */
    char level[SESSION_NAME_MAX];
    double bay_time;                      /* NAN when no bay */
    struct session_payment *payments;     /* owned; see session_clear */
    size_t npayments;
};

/* ---- lifecycle ---- */
void session_init(struct session *s);     /* empty, NAN times */
void session_clear(struct session *s);    /* free payments, then init */
/* Deep copy (payments included). Returns 0 or -1 on OOM. */
int session_copy(struct session *dst, const struct session *src);

/* Deterministic session id for (lot, gate event id): a replayed event
 * always names the same session. kind is "entry" or "exit". */
void session_make_id(char *buf, size_t n, const char *lot, const char *kind, const char *event_id);

/* Is ts (epoch seconds) a plausible time for a gate event or payment
 * by clock c? 0, or -1 with err naming ts and the limit. */
int session_ts_check(const struct session_clock *c, double ts, char *err, size_t errlen);

/* ---- transitions ---- */
/* Open an active session from an entry read. */
void session_open(struct session *s, const char *id, const char *lot, const char *currency,
                  const struct session_event *ev);
/* The entry `newer` found `older` active for the same plate and lot:
 * older becomes void, both are flagged duplicate_entry. */
void session_supersede(struct session *older, struct session *newer);
/* Close an active session at an exit read with fee fee_fen (tariff.h).
 * acct may be NULL (no enrolment). Returns 0 and sets *gate, or -1 with
 * err when the session is not active or the exit is before its entry. */
int session_close(struct session *s, const struct session_event *ev, long long fee_fen,
                  const struct session_account *acct, const struct session_policy *pol,
                  enum session_gate *gate, char *err, size_t errlen);
/* An exit read with no active session: a void session with
 * no_entry_record. The gate holds. */
void session_open_exit_only(struct session *s, const char *id, const char *lot,
                            const char *currency, const struct session_event *ev);
/* True when an exit read at ts is a repeat read of s's exit. */
bool session_is_reread(const struct session *s, double ts);
/* What the gate does for a session in its current state. */
enum session_gate session_gate_for(const struct session *s);

/* Apply a payment. due_now_fen is the fee so far for an active session
 * (ignored otherwise). Returns 0 when applied, 1 when p->id was already
 * applied with the same amount (nothing changes), -1 with err otherwise;
 * *conflict is set when the refusal is a state conflict (HTTP 409:
 * overpaid, void, another lot, id reused) rather than bad input (400). */
int session_pay(struct session *s, const struct session_payment *p, long long due_now_fen,
                bool *conflict, char *err, size_t errlen);

/* Record the bay the car parked in. */
void session_set_bay(struct session *s, const char *bay, const char *level, double ts);
/* Set time-dependent flags of an active session at `now`: overlong, and
 * phantom_entry when lot_has_bays and no bay was linked within
 * pol->phantom_s of the entry (a link made later, from a late camera
 * read, does not undo it). Returns true when flags changed. */
bool session_check_flags(struct session *s, double now, const struct session_policy *pol,
                         bool lot_has_bays);
/* True when s is settled (paid or void) and its last activity (entry,
 * exit, bay, payments) is before `before`. */
bool session_settled_before(const struct session *s, double before);
/* What is still owed: due - paid, never negative. */
long long session_outstanding(const struct session *s);

/* ---- arrears: unpaid sessions of a plate ---- */
struct session_arrears {
    long long fen;                /* outstanding over all counted sessions */
    size_t count;
    size_t overdue;               /* exited_unpaid past payBy */
    json_t *ids;                  /* owned JSON array of session ids */
};
void session_arrears_init(struct session_arrears *a);
void session_arrears_free(struct session_arrears *a);
/* Count s if it is exited_unpaid or payment_required with money owed. */
void session_arrears_add(struct session_arrears *a, const struct session *s, double now);
/* {"amount", "sessions": [ids], "overdue"} (new reference). */
json_t *session_arrears_json(const struct session_arrears *a);

/* ---- names and JSON ---- */
const char *session_status_name(enum session_status st);
int session_status_parse(const char *s, enum session_status *out);
const char *session_gate_name(enum session_gate g);

/* The session object of api.md plus the fields above (payments, gates,
 * bay...): also the storage format. durationSeconds of an active session
 * is counted to `now`. Returns a new reference (NULL on OOM). */
json_t *session_to_json(const struct session *s, double now);
/* Inverse of session_to_json (s must be initialised or cleared; it is
 * cleared first). Returns 0 or -1 with err. */
int session_from_json(struct session *s, const json_t *j, char *err, size_t errlen);

/* Request bodies. Each returns 0, or -1 with err naming the field. */
int session_event_from_json(const json_t *j, struct session_event *ev, char *err, size_t errlen);
int session_payment_from_json(const json_t *j, struct session_payment *p, char *err,
                              size_t errlen);
int session_account_from_json(const json_t *j, struct session_account *a, char *err,
                              size_t errlen);
json_t *session_account_to_json(const struct session_account *a);

#endif
