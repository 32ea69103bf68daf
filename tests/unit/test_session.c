/* test_session.c -- the session state machine, payments, arrears, flags
 * and the JSON forms (request bodies and storage). */
#include <CUnit/CUnit.h>
#include <math.h>
#include <string.h>

#include "session.h"

static const struct session_policy POL = {
    .pay_later_s = 259200, .max_session_s = 604800, .phantom_s = 900,
};
#define T0 1764400000.0

static struct session_event ev(const char *id, const char *plate, const char *gate, double ts)
{
    struct session_event e;
    memset(&e, 0, sizeof e);
    snprintf(e.id, sizeof e.id, "%s", id);
    snprintf(e.plate, sizeof e.plate, "%s", plate);
    snprintf(e.gate, sizeof e.gate, "%s", gate);
    e.ts = ts;
    return e;
}

static struct session_payment pay(const char *id, long long fen, const char *method)
{
    struct session_payment p;
    memset(&p, 0, sizeof p);
    snprintf(p.id, sizeof p.id, "%s", id);
    snprintf(p.method, sizeof p.method, "%s", method);
    p.fen = fen;
    p.ts = T0;
    return p;
}

/* An active session of 鲁F12345 in lot L1 entered at T0. */
static void opened(struct session *s)
{
    struct session_event e = ev("in-1", "鲁F12345", "G1", T0);
    session_init(s);
    session_open(s, "S1", "L1", "CNY", &e);
}

static void test_open_close_free(void)
{
    struct session s;
    enum session_gate g = SESSION_GATE_HOLD;
    char err[256];
    opened(&s);
    CU_ASSERT_EQUAL(s.status, SESSION_ACTIVE);
    CU_ASSERT_EQUAL(s.entry_time, T0);
    CU_ASSERT(isnan(s.exit_time));
    struct session_event x = ev("out-1", "鲁F12345", "G2", T0 + 600);
    CU_ASSERT_EQUAL(session_close(&s, &x, 0, NULL, &POL, &g, err, sizeof err), 0);
    CU_ASSERT_EQUAL(s.status, SESSION_PAID);
    CU_ASSERT_EQUAL(g, SESSION_GATE_OPEN);
    CU_ASSERT_STRING_EQUAL(s.exit_gate, "G2");
    CU_ASSERT(session_settled_before(&s, T0 + 601));
    CU_ASSERT(!session_settled_before(&s, T0 + 600));
    /* closing twice is refused and changes nothing */
    CU_ASSERT_EQUAL(session_close(&s, &x, 500, NULL, &POL, &g, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "not active"));
    CU_ASSERT_EQUAL(s.due_fen, 0);
    session_clear(&s);
}

static void test_payment_required_then_paid(void)
{
    struct session s;
    enum session_gate g;
    char err[256];
    bool conflict;
    opened(&s);
    struct session_event x = ev("out-1", "鲁F12345", "G2", T0 + 7200);
    CU_ASSERT_EQUAL(session_close(&s, &x, 1050, NULL, &POL, &g, err, sizeof err), 0);
    CU_ASSERT_EQUAL(s.status, SESSION_PAYMENT_REQUIRED);
    CU_ASSERT_EQUAL(g, SESSION_GATE_HOLD);
    CU_ASSERT_EQUAL(session_outstanding(&s), 1050);

    struct session_payment p1 = pay("p1", 50, "cash");
    CU_ASSERT_EQUAL(session_pay(&s, &p1, 0, &conflict, err, sizeof err), 0);
    CU_ASSERT_EQUAL(s.status, SESSION_PAYMENT_REQUIRED);
    CU_ASSERT_EQUAL(s.paid_fen, 50);
    /* replay: same id and amount -> no change */
    CU_ASSERT_EQUAL(session_pay(&s, &p1, 0, &conflict, err, sizeof err), 1);
    CU_ASSERT_EQUAL(s.paid_fen, 50);
    CU_ASSERT_EQUAL(s.npayments, 1);
    /* same id, other amount -> conflict */
    struct session_payment p1b = pay("p1", 60, "cash");
    CU_ASSERT_EQUAL(session_pay(&s, &p1b, 0, &conflict, err, sizeof err), -1);
    CU_ASSERT(conflict);
    /* overpayment refused */
    struct session_payment p2 = pay("p2", 1001, "wechat");
    CU_ASSERT_EQUAL(session_pay(&s, &p2, 0, &conflict, err, sizeof err), -1);
    CU_ASSERT(conflict);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "more than the 10.00 due"));
    CU_ASSERT_EQUAL(s.paid_fen, 50);
    /* negative and zero refused as bad input */
    struct session_payment neg = pay("p3", -100, "cash"), zero = pay("p4", 0, "cash");
    CU_ASSERT_EQUAL(session_pay(&s, &neg, 0, &conflict, err, sizeof err), -1);
    CU_ASSERT(!conflict);
    CU_ASSERT_EQUAL(session_pay(&s, &zero, 0, &conflict, err, sizeof err), -1);
    /* another lot's session refused */
    struct session_payment other = pay("p5", 100, "cash");
    snprintf(other.lot, sizeof other.lot, "L2");
    CU_ASSERT_EQUAL(session_pay(&s, &other, 0, &conflict, err, sizeof err), -1);
    CU_ASSERT(conflict);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "belongs to lot L1"));
    /* the rest -> paid, gate opens */
    struct session_payment p6 = pay("p6", 1000, "alipay");
    snprintf(p6.lot, sizeof p6.lot, "L1");
    CU_ASSERT_EQUAL(session_pay(&s, &p6, 0, &conflict, err, sizeof err), 0);
    CU_ASSERT_EQUAL(s.status, SESSION_PAID);
    CU_ASSERT_EQUAL(session_gate_for(&s), SESSION_GATE_OPEN);
    CU_ASSERT_EQUAL(s.npayments, 2);
    /* paid: any further payment is refused */
    struct session_payment p7 = pay("p7", 1, "cash");
    CU_ASSERT_EQUAL(session_pay(&s, &p7, 0, &conflict, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "already paid"));
    session_clear(&s);
}

static void test_autopay_and_pay_later(void)
{
    struct session s;
    enum session_gate g;
    char err[256];
    struct session_event x = ev("out-9", "鲁F12345", "G2", T0 + 3600);

    struct session_account autopay = {.autopay = true}, later = {.pay_later = true},
                           both = {.autopay = true, .pay_later = true};
    opened(&s);
    CU_ASSERT_EQUAL(session_close(&s, &x, 600, &autopay, &POL, &g, err, sizeof err), 0);
    CU_ASSERT_EQUAL(s.status, SESSION_PAID);
    CU_ASSERT_EQUAL(g, SESSION_GATE_OPEN);
    CU_ASSERT_EQUAL(s.paid_fen, 600);
    CU_ASSERT_EQUAL_FATAL(s.npayments, 1);
    CU_ASSERT_STRING_EQUAL(s.payments[0].id, "autopay:out-9");
    CU_ASSERT_STRING_EQUAL(s.payments[0].method, "autopay");
    session_clear(&s);

    opened(&s);
    CU_ASSERT_EQUAL(session_close(&s, &x, 600, &later, &POL, &g, err, sizeof err), 0);
    CU_ASSERT_EQUAL(s.status, SESSION_EXITED_UNPAID);
    CU_ASSERT_EQUAL(g, SESSION_GATE_OPEN);
    CU_ASSERT_EQUAL(s.pay_by, T0 + 3600 + 259200);
    CU_ASSERT_EQUAL(s.paid_fen, 0);

    /* arrears: counted, overdue only after payBy */
    struct session_arrears a;
    session_arrears_init(&a);
    session_arrears_add(&a, &s, T0 + 7200);
    CU_ASSERT_EQUAL(a.fen, 600);
    CU_ASSERT_EQUAL(a.count, 1);
    CU_ASSERT_EQUAL(a.overdue, 0);
    session_arrears_free(&a);
    session_arrears_init(&a);
    session_arrears_add(&a, &s, s.pay_by + 1);
    CU_ASSERT_EQUAL(a.overdue, 1);
    json_t *aj = session_arrears_json(&a);
    CU_ASSERT_DOUBLE_EQUAL(json_real_value(json_object_get(aj, "amount")), 6.0, 1e-9);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(json_object_get(aj, "sessions"), 0)),
                           "S1");
    json_decref(aj);
    session_arrears_free(&a);

    bool conflict;
    struct session_payment p = pay("late-1", 600, "wechat");
    CU_ASSERT_EQUAL(session_pay(&s, &p, 0, &conflict, err, sizeof err), 0);
    CU_ASSERT_EQUAL(s.status, SESSION_PAID);
    session_arrears_init(&a);
    session_arrears_add(&a, &s, T0 + 7200);
    CU_ASSERT_EQUAL(a.count, 0);
    session_arrears_free(&a);
    session_clear(&s);

    opened(&s);                               /* autopay wins over pay_later */
    CU_ASSERT_EQUAL(session_close(&s, &x, 600, &both, &POL, &g, err, sizeof err), 0);
    CU_ASSERT_EQUAL(s.status, SESSION_PAID);
    session_clear(&s);
}

static void test_overlong_is_not_debited(void)
{
    struct session s;
    enum session_gate g;
    char err[256];
    struct session_account autopay = {.autopay = true};
    opened(&s);
    struct session_event x = ev("out-2", "鲁F12345", "G2", T0 + 604800 + 1);
    CU_ASSERT_EQUAL(session_close(&s, &x, 28000, &autopay, &POL, &g, err, sizeof err), 0);
    CU_ASSERT_EQUAL(s.status, SESSION_PAYMENT_REQUIRED);
    CU_ASSERT_EQUAL(g, SESSION_GATE_HOLD);
    CU_ASSERT(s.flags & SESSION_F_OVERLONG);
    CU_ASSERT_EQUAL(s.paid_fen, 0);
    session_clear(&s);
    /* exactly max_session_s is not overlong */
    opened(&s);
    x.ts = T0 + 604800;
    CU_ASSERT_EQUAL(session_close(&s, &x, 28000, &autopay, &POL, &g, err, sizeof err), 0);
    CU_ASSERT_EQUAL(s.status, SESSION_PAID);
    CU_ASSERT(!(s.flags & SESSION_F_OVERLONG));
    session_clear(&s);
}

/* A fee at the tariff's ceiling (a stay too long to bill exactly) is
 * never debited nor let out under pay-later: the gate holds. */
static void test_ceiling_fee_is_held(void)
{
    struct session s;
    enum session_gate g = SESSION_GATE_OPEN;
    char err[256];
    struct session_account both = {.autopay = true, .pay_later = true};
    opened(&s);
    struct session_event x = ev("out-c", "鲁F12345", "G2", T0 + 3600);
    CU_ASSERT_EQUAL(session_close(&s, &x, 100000000000LL, &both, &POL, &g, err, sizeof err), 0);
    CU_ASSERT_EQUAL(s.status, SESSION_PAYMENT_REQUIRED);
    CU_ASSERT_EQUAL(g, SESSION_GATE_HOLD);
    CU_ASSERT_EQUAL(s.paid_fen, 0);
    session_clear(&s);
}

/* The clock window of gate events and payments. */
static void test_ts_window(void)
{
    char err[256];
    struct session_clock c = {.now = T0, .max_future_s = 300, .max_age_s = 604800};
    CU_ASSERT_EQUAL(session_ts_check(&c, T0, err, sizeof err), 0);
    CU_ASSERT_EQUAL(session_ts_check(&c, T0 + 300, err, sizeof err), 0);
    CU_ASSERT_EQUAL(session_ts_check(&c, T0 - 604800, err, sizeof err), 0);
    CU_ASSERT_EQUAL(session_ts_check(&c, T0 + 301, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "ts: 1764400301 is 301 s ahead of the clock"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "parking.gate_max_future_s = 300"));
    CU_ASSERT_EQUAL(session_ts_check(&c, 0, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "ts: 0 is 1764400000 s in the past"));
    /* replay clock: no bound ahead, none behind before the clock starts */
    c.max_future_s = INFINITY;
    CU_ASSERT_EQUAL(session_ts_check(&c, 1e11, err, sizeof err), 0);
    c.max_age_s = INFINITY;
    CU_ASSERT_EQUAL(session_ts_check(&c, 0, err, sizeof err), 0);
}

static void test_duplicate_and_no_entry(void)
{
    struct session old, nw, x;
    char err[256];
    bool conflict;
    opened(&old);
    struct session_event e2 = ev("in-2", "鲁F12345", "G1", T0 + 86400 * 2);
    session_init(&nw);
    session_open(&nw, "S2", "L1", "CNY", &e2);
    session_supersede(&old, &nw);
    CU_ASSERT_EQUAL(old.status, SESSION_VOID);
    CU_ASSERT(old.flags & SESSION_F_DUPLICATE_ENTRY);
    CU_ASSERT(nw.flags & SESSION_F_DUPLICATE_ENTRY);
    CU_ASSERT_EQUAL(nw.status, SESSION_ACTIVE);
    CU_ASSERT_STRING_EQUAL(old.superseded_by, "S2");
    CU_ASSERT_EQUAL(old.due_fen, 0);
    CU_ASSERT_EQUAL(session_gate_for(&old), SESSION_GATE_HOLD);

    struct session_event xe = ev("out-7", "鲁B54321", "G2", T0);
    session_init(&x);
    session_open_exit_only(&x, "S3", "L1", "CNY", &xe);
    CU_ASSERT_EQUAL(x.status, SESSION_VOID);
    CU_ASSERT_EQUAL(x.flags, SESSION_F_NO_ENTRY_RECORD);
    CU_ASSERT_EQUAL(session_gate_for(&x), SESSION_GATE_HOLD);
    CU_ASSERT(isnan(x.entry_time));
    struct session_payment p = pay("px", 100, "cash");
    CU_ASSERT_EQUAL(session_pay(&x, &p, 0, &conflict, err, sizeof err), -1);
    CU_ASSERT(conflict);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "void"));
    /* a void session owes nothing */
    struct session_arrears a;
    session_arrears_init(&a);
    session_arrears_add(&a, &x, T0);
    session_arrears_add(&a, &old, T0);
    CU_ASSERT_EQUAL(a.count, 0);
    session_arrears_free(&a);
    session_clear(&old);
    session_clear(&nw);
    session_clear(&x);
}

static void test_reread_and_order(void)
{
    struct session s;
    enum session_gate g;
    char err[256];
    opened(&s);
    CU_ASSERT(!session_is_reread(&s, T0));
    struct session_event early = ev("out-0", "鲁F12345", "G2", T0 - 1);
    CU_ASSERT_EQUAL(session_close(&s, &early, 0, NULL, &POL, &g, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "before the entry"));
    CU_ASSERT_EQUAL(s.status, SESSION_ACTIVE);
    CU_ASSERT(isnan(s.exit_time));
    struct session_event x = ev("out-1", "鲁F12345", "G2", T0 + 1000);
    CU_ASSERT_EQUAL(session_close(&s, &x, 0, NULL, &POL, &g, err, sizeof err), 0);
    CU_ASSERT(session_is_reread(&s, T0 + 1000 + 30));
    CU_ASSERT(session_is_reread(&s, T0 + 1000 + SESSION_REREAD_S));
    CU_ASSERT(!session_is_reread(&s, T0 + 1000 + SESSION_REREAD_S + 1));
    session_clear(&s);
}

static void test_prepay_at_kiosk(void)
{
    struct session s;
    enum session_gate g;
    char err[256];
    bool conflict;
    opened(&s);
    struct session_payment p = pay("k1", 600, "wechat");
    CU_ASSERT_EQUAL(session_pay(&s, &p, 0, &conflict, err, sizeof err), -1);   /* nothing due */
    CU_ASSERT_EQUAL(session_pay(&s, &p, 600, &conflict, err, sizeof err), 0);
    CU_ASSERT_EQUAL(s.status, SESSION_ACTIVE);
    struct session_payment p2 = pay("k2", 1, "wechat");
    CU_ASSERT_EQUAL(session_pay(&s, &p2, 600, &conflict, err, sizeof err), -1);
    /* leaves within the paid units: gate opens */
    struct session_event x = ev("out-1", "鲁F12345", "G2", T0 + 3000);
    CU_ASSERT_EQUAL(session_close(&s, &x, 600, NULL, &POL, &g, err, sizeof err), 0);
    CU_ASSERT_EQUAL(s.status, SESSION_PAID);
    CU_ASSERT_EQUAL(g, SESSION_GATE_OPEN);
    session_clear(&s);
    /* lingers one more unit: the difference is due */
    opened(&s);
    CU_ASSERT_EQUAL(session_pay(&s, &p, 600, &conflict, err, sizeof err), 0);
    CU_ASSERT_EQUAL(session_close(&s, &x, 900, NULL, &POL, &g, err, sizeof err), 0);
    CU_ASSERT_EQUAL(s.status, SESSION_PAYMENT_REQUIRED);
    CU_ASSERT_EQUAL(session_outstanding(&s), 300);
    session_clear(&s);
}

static void test_flags_over_time(void)
{
    struct session s;
    opened(&s);
    CU_ASSERT(!session_check_flags(&s, T0 + 900, &POL, true));        /* exactly phantom_s */
    CU_ASSERT(session_check_flags(&s, T0 + 901, &POL, true));
    CU_ASSERT_EQUAL(s.flags, SESSION_F_PHANTOM_ENTRY);
    CU_ASSERT(!session_check_flags(&s, T0 + 902, &POL, true));        /* no change */
    CU_ASSERT(!session_settled_before(&s, T0 + 1e9));                  /* active */
    session_clear(&s);
    opened(&s);
    CU_ASSERT(!session_check_flags(&s, T0 + 5000, &POL, false));      /* no bay sensors */
    session_set_bay(&s, "B2-017", "B2", T0 + 300);
    CU_ASSERT(!session_check_flags(&s, T0 + 5000, &POL, true));       /* parked */
    CU_ASSERT(session_check_flags(&s, T0 + 604801, &POL, true));
    CU_ASSERT_EQUAL(s.flags, SESSION_F_OVERLONG);
    session_clear(&s);
    /* a bay linked exactly at phantom_s counts; one second later does not */
    opened(&s);
    session_set_bay(&s, "B2-017", "B2", T0 + 900);
    CU_ASSERT(!session_check_flags(&s, T0 + 5000, &POL, true));
    session_set_bay(&s, "B2-017", "B2", T0 + 901);                   /* a late camera read */
    CU_ASSERT(session_check_flags(&s, T0 + 5000, &POL, true));
    CU_ASSERT_EQUAL(s.flags, SESSION_F_PHANTOM_ENTRY);
    session_clear(&s);
}

static void test_json_round_trip(void)
{
    struct session s, back;
    enum session_gate g;
    char err[256];
    bool conflict;
    opened(&s);
    session_set_bay(&s, "B2-017", "B2", T0 + 120);
    struct session_event x = ev("out-1", "鲁F12345", "G2", T0 + 7200);
    session_close(&s, &x, 1050, NULL, &POL, &g, err, sizeof err);
    struct session_payment p = pay("p1", 50, "cash");
    session_pay(&s, &p, 0, &conflict, err, sizeof err);
    s.flags |= SESSION_F_PHANTOM_ENTRY;

    json_t *j = session_to_json(&s, T0 + 9999);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    /* the api.md fields */
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "id")), "S1");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "plate")), "鲁F12345");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "lot")), "L1");
    CU_ASSERT_EQUAL(json_number_value(json_object_get(j, "entryTime")), T0);
    CU_ASSERT_EQUAL(json_number_value(json_object_get(j, "exitTime")), T0 + 7200);
    CU_ASSERT_EQUAL(json_number_value(json_object_get(j, "durationSeconds")), 7200);
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(j, "amountDue")), 10.5, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(j, "amountPaid")), 0.5, 1e-9);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "currency")), "CNY");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "status")), "payment_required");
    CU_ASSERT(json_is_null(json_object_get(j, "payBy")));
    CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(json_object_get(j, "flags"), 0)),
                           "phantom_entry");
    session_init(&back);
    CU_ASSERT_EQUAL(session_from_json(&back, j, err, sizeof err), 0);
    json_t *j2 = session_to_json(&back, T0 + 9999);
    CU_ASSERT(json_equal(j, j2));
    json_decref(j2);
    json_decref(j);
    session_clear(&back);

    /* an active session: duration counts to now, exit null */
    struct session a;
    opened(&a);
    j = session_to_json(&a, T0 + 60);
    CU_ASSERT_EQUAL(json_number_value(json_object_get(j, "durationSeconds")), 60);
    CU_ASSERT(json_is_null(json_object_get(j, "exitTime")));
    json_decref(j);
    session_clear(&a);

    /* corrupt storage is refused, the target left empty */
    json_error_t je;
    const char *bad[] = {
        "[]",
        "{\"id\":\"S\",\"plate\":\"P\",\"lot\":\"L\",\"currency\":\"CNY\",\"status\":\"gone\","
        "\"amountDue\":0,\"amountPaid\":0}",
        "{\"id\":\"S\",\"plate\":\"P\",\"lot\":\"L\",\"currency\":\"CNY\",\"status\":\"paid\","
        "\"amountDue\":-1,\"amountPaid\":0}",
        "{\"id\":\"S\",\"plate\":\"P\",\"lot\":\"L\",\"currency\":\"CNY\",\"status\":\"paid\","
        "\"amountDue\":0,\"amountPaid\":0,\"flags\":[\"weird\"]}",
        "{\"id\":\"S\",\"plate\":\"P\",\"lot\":\"L\",\"currency\":\"CNY\",\"status\":\"paid\","
        "\"amountDue\":0,\"amountPaid\":0,\"payments\":[{\"id\":\"x\"}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = json_loads(bad[i], 0, &je);
        CU_ASSERT_PTR_NOT_NULL_FATAL(j);
        CU_ASSERT_EQUAL(session_from_json(&back, j, err, sizeof err), -1);
        CU_ASSERT_EQUAL(back.npayments, 0);
        CU_ASSERT_PTR_NULL(back.payments);
        json_decref(j);
    }
    session_clear(&s);
}

static void test_copy(void)
{
    struct session s, c;
    char err[256];
    bool conflict;
    enum session_gate g;
    opened(&s);
    struct session_event x = ev("out-1", "鲁F12345", "G2", T0 + 7200);
    session_close(&s, &x, 1000, NULL, &POL, &g, err, sizeof err);
    struct session_payment p = pay("p1", 100, "cash");
    session_pay(&s, &p, 0, &conflict, err, sizeof err);
    CU_ASSERT_EQUAL(session_copy(&c, &s), 0);
    CU_ASSERT_PTR_NOT_EQUAL(c.payments, s.payments);
    CU_ASSERT_STRING_EQUAL(c.payments[0].id, "p1");
    session_clear(&s);
    CU_ASSERT_EQUAL(c.paid_fen, 100);
    session_clear(&c);
}

static json_t *parse(const char *s)
{
    json_error_t je;
    json_t *j = json_loads(s, 0, &je);
    CU_ASSERT_PTR_NOT_NULL(j);
    return j;
}

static void test_bodies(void)
{
    char err[256];
    struct session_event e;
    json_t *j = parse("{\"id\":\"e1\",\"plate\":\"鲁f·12345\",\"gate\":\"N1\",\"ts\":1764400000,"
                      "\"extra\":true}");
    CU_ASSERT_EQUAL(session_event_from_json(j, &e, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(e.plate, "鲁F12345");
    CU_ASSERT_EQUAL(e.ts, 1764400000);
    json_decref(j);
    struct {
        const char *json, *err;
    } bad_ev[] = {
        {"{\"plate\":\"鲁F12345\",\"gate\":\"N1\",\"ts\":1}", "id: required"},
        {"{\"id\":\"\",\"plate\":\"鲁F12345\",\"gate\":\"N1\",\"ts\":1}", "id: must be"},
        {"{\"id\":\"e\",\"gate\":\"N1\",\"ts\":1}", "plate: required"},
        {"{\"id\":\"e\",\"plate\":\"ABC\",\"gate\":\"N1\",\"ts\":1}", "plate: must start"},
        {"{\"id\":\"e\",\"plate\":\"鲁F12345\",\"ts\":1}", "gate: required"},
        {"{\"id\":\"e\",\"plate\":\"鲁F12345\",\"gate\":\"N1\"}", "ts: required"},
        {"{\"id\":\"e\",\"plate\":\"鲁F12345\",\"gate\":\"N1\",\"ts\":\"1\"}", "ts: must be"},
        {"{\"id\":\"e\",\"plate\":\"鲁F12345\",\"gate\":\"N1\",\"ts\":-5}", "ts: must be"},
        {"{\"id\":7,\"plate\":\"鲁F12345\",\"gate\":\"N1\",\"ts\":1}", "id: must be"},
        {"{\"id\":\"a\\u0000b\",\"plate\":\"鲁F12345\",\"gate\":\"N1\",\"ts\":1}", "id: must be"},
        {"{\"id\":\"a\\nb\",\"plate\":\"鲁F12345\",\"gate\":\"N1\",\"ts\":1}", "control"},
        {"[1]", "body: must be"},
    };
    for (size_t i = 0; i < sizeof bad_ev / sizeof bad_ev[0]; i++) {
        json_error_t je;
        j = json_loads(bad_ev[i].json, JSON_ALLOW_NUL, &je);
        CU_ASSERT_PTR_NOT_NULL_FATAL(j);
        CU_ASSERT_EQUAL(session_event_from_json(j, &e, err, sizeof err), -1);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, bad_ev[i].err));
        if (strstr(err, bad_ev[i].err) == NULL)
            fprintf(stderr, "\n%s -> %s\n", bad_ev[i].json, err);
        json_decref(j);
    }
    char longid[300];
    memset(longid, 'x', sizeof longid);
    j = json_pack("{s:s%, s:s, s:s, s:i}", "id", longid, (size_t)200, "plate", "鲁F12345", "gate",
                  "N1", "ts", 5);
    CU_ASSERT_EQUAL(session_event_from_json(j, &e, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "at most 127 bytes"));
    json_decref(j);

    struct session_payment p;
    j = parse("{\"id\":\"p1\",\"amount\":12.3,\"method\":\"cash\"}");
    CU_ASSERT_EQUAL(session_payment_from_json(j, &p, err, sizeof err), 0);
    CU_ASSERT_EQUAL(p.fen, 1230);
    CU_ASSERT(isnan(p.ts));
    CU_ASSERT_STRING_EQUAL(p.lot, "");
    json_decref(j);
    struct {
        const char *json, *err;
    } bad_pay[] = {
        {"{\"id\":\"p1\",\"amount\":-1,\"method\":\"cash\"}", "amount: must not be negative"},
        {"{\"id\":\"p1\",\"amount\":0,\"method\":\"cash\"}", "amount: must be positive"},
        {"{\"id\":\"p1\",\"amount\":0.005,\"method\":\"cash\"}", "whole fen"},
        {"{\"id\":\"p1\",\"amount\":1e300,\"method\":\"cash\"}", "amount: 1e+300 is more than any fee"},
        {"{\"id\":\"p1\",\"amount\":1e-9,\"method\":\"cash\"}", "amount: must be positive"},
        {"{\"id\":\"p1\",\"amount\":-0.0,\"method\":\"cash\"}", "amount: must be positive"},
        {"{\"id\":\"p1\",\"amount\":\"5\",\"method\":\"cash\"}", "amount: must be a number"},
        {"{\"id\":\"p1\",\"method\":\"cash\"}", "amount: required"},
        {"{\"id\":\"p1\",\"amount\":5}", "method: required"},
        {"{\"amount\":5,\"method\":\"cash\"}", "id: required"},
        {"{\"id\":\"p1\",\"amount\":5,\"method\":\"cash\",\"lot\":3}", "lot: must be"},
    };
    for (size_t i = 0; i < sizeof bad_pay / sizeof bad_pay[0]; i++) {
        j = parse(bad_pay[i].json);
        CU_ASSERT_EQUAL(session_payment_from_json(j, &p, err, sizeof err), -1);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, bad_pay[i].err));
        if (strstr(err, bad_pay[i].err) == NULL)
            fprintf(stderr, "\n%s -> %s\n", bad_pay[i].json, err);
        json_decref(j);
    }

    struct session_account a = {.autopay = true, .pay_later = true};
    j = parse("{\"autopay\":false,\"pay_later\":true}");
    CU_ASSERT_EQUAL(session_account_from_json(j, &a, err, sizeof err), 0);
    CU_ASSERT(!a.autopay && a.pay_later);
    json_t *back = session_account_to_json(&a);
    CU_ASSERT(json_equal(back, j));
    json_decref(back);
    json_decref(j);
    j = parse("{\"autopay\":1,\"pay_later\":true}");
    CU_ASSERT_EQUAL(session_account_from_json(j, &a, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "autopay: must be true or false"));
    CU_ASSERT(!a.autopay && a.pay_later);                           /* untouched */
    json_decref(j);
    j = parse("{\"autopay\":true}");
    CU_ASSERT_EQUAL(session_account_from_json(j, &a, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "pay_later: required"));
    json_decref(j);
}

static void test_ids(void)
{
    char a[64], b[64], c[64], d[64];
    session_make_id(a, sizeof a, "L1", "entry", "e1");
    session_make_id(b, sizeof b, "L1", "entry", "e1");
    session_make_id(c, sizeof c, "L2", "entry", "e1");
    session_make_id(d, sizeof d, "L1", "exit", "e1");
    CU_ASSERT_STRING_EQUAL(a, b);
    CU_ASSERT_STRING_NOT_EQUAL(a, c);
    CU_ASSERT_STRING_NOT_EQUAL(a, d);
    CU_ASSERT_EQUAL(strlen(a), 19);
    CU_ASSERT_EQUAL(strncmp(a, "ps-", 3), 0);
    /* the separator keeps ("L1","x") and ("L","1x") apart */
    session_make_id(c, sizeof c, "L", "entry1", "e1");
    session_make_id(d, sizeof d, "L1", "entry", "e1");
    CU_ASSERT_STRING_NOT_EQUAL(c, d);
    CU_ASSERT_STRING_EQUAL(session_status_name(SESSION_EXITED_UNPAID), "exited_unpaid");
    enum session_status st;
    CU_ASSERT_EQUAL(session_status_parse("void", &st), 0);
    CU_ASSERT_EQUAL(st, SESSION_VOID);
    CU_ASSERT_EQUAL(session_status_parse("Void", &st), -1);
    CU_ASSERT_STRING_EQUAL(session_gate_name(SESSION_GATE_HOLD), "hold");
}

int suite_session(void)
{
    CU_pSuite s = CU_add_suite("session", NULL, NULL);
    if (s == NULL || CU_add_test(s, "open and close, nothing due", test_open_close_free) == NULL ||
        CU_add_test(s, "payment_required then payments", test_payment_required_then_paid) == NULL ||
        CU_add_test(s, "autopay and pay-later, arrears", test_autopay_and_pay_later) == NULL ||
        CU_add_test(s, "overlong is never debited", test_overlong_is_not_debited) == NULL ||
        CU_add_test(s, "a fee at the ceiling is held", test_ceiling_fee_is_held) == NULL ||
        CU_add_test(s, "gate clock window", test_ts_window) == NULL ||
        CU_add_test(s, "duplicate entry, no entry record", test_duplicate_and_no_entry) == NULL ||
        CU_add_test(s, "re-reads and out-of-order exits", test_reread_and_order) == NULL ||
        CU_add_test(s, "prepay at a kiosk", test_prepay_at_kiosk) == NULL ||
        CU_add_test(s, "time-dependent flags", test_flags_over_time) == NULL ||
        CU_add_test(s, "JSON round trip", test_json_round_trip) == NULL ||
        CU_add_test(s, "deep copy", test_copy) == NULL ||
        CU_add_test(s, "request bodies", test_bodies) == NULL ||
        CU_add_test(s, "ids and names", test_ids) == NULL)
        return -1;
    return 0;
}
