/* test_session_book.c -- the in-memory session indexes. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <string.h>

#include "dict.h"
#include "session_book.h"

#define T0 1764400000.0

static void mk(struct session *s, const char *id, const char *lot, const char *plate,
               const char *entry_id, double ts)
{
    struct session_event e;
    memset(&e, 0, sizeof e);
    snprintf(e.id, sizeof e.id, "%s", entry_id);
    snprintf(e.plate, sizeof e.plate, "%s", plate);
    snprintf(e.gate, sizeof e.gate, "G1");
    e.ts = ts;
    session_init(s);
    session_open(s, id, lot, "CNY", &e);
}

static void test_put_get_replace(void)
{
    struct session_book *b = session_book_new();
    struct session s;
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    mk(&s, "S1", "L1", "鲁F12345", "e1", T0);
    CU_ASSERT_EQUAL(session_book_put(b, &s), 0);
    struct session *p = session_book_get(b, "S1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_PTR_NOT_EQUAL(p, &s);                 /* a copy */
    CU_ASSERT_PTR_EQUAL(session_book_active(b, "鲁F12345", "L1"), p);
    CU_ASSERT_PTR_NULL(session_book_active(b, "鲁F12345", "L2"));
    CU_ASSERT_PTR_EQUAL(session_book_event(b, "L1", "entry", "e1"), p);
    CU_ASSERT_PTR_NULL(session_book_event(b, "L2", "entry", "e1"));
    CU_ASSERT_PTR_NULL(session_book_event(b, "L1", "exit", "e1"));

    /* close with a payment: replaced in place, indexes follow */
    struct session_event x;
    memset(&x, 0, sizeof x);
    snprintf(x.id, sizeof x.id, "x1");
    snprintf(x.plate, sizeof x.plate, "鲁F12345");
    x.ts = T0 + 3600;
    struct session_policy pol = {259200, 604800, 900};
    struct session_account auto_acct = {.autopay = true};
    enum session_gate g;
    char err[128];
    CU_ASSERT_EQUAL(session_close(&s, &x, 600, &auto_acct, &pol, &g, err, sizeof err), 0);
    CU_ASSERT_EQUAL(session_book_put(b, &s), 0);
    CU_ASSERT_PTR_EQUAL(session_book_get(b, "S1"), p);  /* same object */
    CU_ASSERT_EQUAL(p->status, SESSION_PAID);
    CU_ASSERT_PTR_NULL(session_book_active(b, "鲁F12345", "L1"));
    CU_ASSERT_PTR_EQUAL(session_book_event(b, "L1", "exit", "x1"), p);
    CU_ASSERT_PTR_EQUAL(session_book_payment(b, "autopay:x1"), p);
    CU_ASSERT_PTR_EQUAL(session_book_last_exit(b, "鲁F12345", "L1"), p);
    CU_ASSERT_EQUAL(session_book_count(b), 1);
    session_clear(&s);

    /* a second session of the plate in another lot; list order */
    mk(&s, "S2", "L2", "鲁F12345", "e1", T0 + 7200);
    CU_ASSERT_EQUAL(session_book_put(b, &s), 0);
    size_t n;
    struct session *const *v = session_book_plate(b, "鲁F12345", &n);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_STRING_EQUAL(v[0]->id, "S1");
    CU_ASSERT_STRING_EQUAL(v[1]->id, "S2");
    CU_ASSERT_PTR_EQUAL(session_book_event(b, "L2", "entry", "e1"), v[1]);
    CU_ASSERT_PTR_NULL(session_book_plate(b, "鲁B00000", &n));
    CU_ASSERT_EQUAL(n, 0);
    /* re-read exit events point at an existing session */
    CU_ASSERT_EQUAL(session_book_event_put(b, "L1", "exit", "x2", "S1"), 0);
    CU_ASSERT_PTR_EQUAL(session_book_event(b, "L1", "exit", "x2"), p);
    CU_ASSERT_EQUAL(session_book_event_put(b, "L1", "exit", "x3", "nope"), -1);
    session_clear(&s);
    session_book_free(b);
}

static void test_unparked(void)
{
    struct session_book *b = session_book_new();
    struct session s;
    mk(&s, "A", "L1", "鲁F00001", "a", T0);
    session_book_put(b, &s);
    mk(&s, "B", "L1", "鲁F00002", "b", T0 + 60);
    session_book_put(b, &s);
    mk(&s, "C", "L2", "鲁F00003", "c", T0 + 10);
    session_book_put(b, &s);
    /* FIFO: the first car in without a bay */
    struct session *u = session_book_unparked(b, "L1", T0 + 120, 900, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(u);
    CU_ASSERT_STRING_EQUAL(u->id, "A");
    /* a link to A on its way: the next car */
    struct dict *skip = dict_new();
    int derr = 0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(skip);
    dict_put(skip, "A", (void *)1, &derr);
    CU_ASSERT_EQUAL_FATAL(derr, 0);
    CU_ASSERT_STRING_EQUAL(session_book_unparked(b, "L1", T0 + 120, 900, skip)->id, "B");
    dict_free(skip, NULL);
    CU_ASSERT_PTR_NULL(session_book_in_bay(b, "L1", "B1-001"));
    session_set_bay(u, "B1-001", "B1", T0 + 120);
    CU_ASSERT_PTR_EQUAL(session_book_in_bay(b, "L1", "B1-001"), u);
    CU_ASSERT_PTR_NULL(session_book_in_bay(b, "L2", "B1-001"));
    u = session_book_unparked(b, "L1", T0 + 130, 900, NULL);
    CU_ASSERT_STRING_EQUAL(u->id, "B");
    /* A left its bay without an exit read; B parked there later: the bay
     * is B's */
    session_set_bay(u, "B1-001", "B1", T0 + 130);
    CU_ASSERT_PTR_EQUAL(session_book_in_bay(b, "L1", "B1-001"), u);
    session_set_bay(u, "", "", NAN);
    /* outside the window or before the entry: nobody */
    CU_ASSERT_PTR_NULL(session_book_unparked(b, "L1", T0 + 60 + 901, 900, NULL));
    CU_ASSERT_PTR_NULL(session_book_unparked(b, "L1", T0 + 30 - 31, 900, NULL));
    CU_ASSERT_PTR_NULL(session_book_unparked(b, "L9", T0, 900, NULL));
    CU_ASSERT_EQUAL(session_book_active_count(b), 3);
    session_clear(&s);
    session_book_free(b);
}

static void test_accounts(void)
{
    struct session_book *b = session_book_new();
    CU_ASSERT_PTR_NULL(session_book_account(b, "鲁F12345"));
    struct session_account a = {.pay_later = true};
    CU_ASSERT_EQUAL(session_book_account_put(b, "鲁F12345", &a), 0);
    const struct session_account *got = session_book_account(b, "鲁F12345");
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT(got->pay_later && !got->autopay);
    a.autopay = true;
    session_book_account_put(b, "鲁F12345", &a);
    CU_ASSERT(session_book_account(b, "鲁F12345")->autopay);
    /* an account alone creates no sessions */
    size_t n;
    session_book_plate(b, "鲁F12345", &n);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_EQUAL(session_book_count(b), 0);
    session_book_free(b);
}

static void test_evict(void)
{
    struct session_book *b = session_book_new();
    struct session s;
    struct session_policy pol = {259200, 604800, 900};
    struct session_account later = {.pay_later = true};
    enum session_gate g;
    char err[128];
    struct session_event x;
    memset(&x, 0, sizeof x);
    /* old and paid (free stay), old and unpaid, old and active, recent and paid */
    mk(&s, "OLD-PAID", "L1", "鲁F00001", "a", T0);
    snprintf(x.id, sizeof x.id, "xa");
    x.ts = T0 + 60;
    session_close(&s, &x, 0, NULL, &pol, &g, err, sizeof err);
    session_book_put(b, &s);
    session_book_event_put(b, "L1", "exit", "xa-reread", "OLD-PAID");
    mk(&s, "OLD-UNPAID", "L1", "鲁F00002", "b", T0);
    snprintf(x.id, sizeof x.id, "xb");
    session_close(&s, &x, 500, &later, &pol, &g, err, sizeof err);
    session_book_put(b, &s);
    mk(&s, "OLD-ACTIVE", "L1", "鲁F00003", "c", T0);
    session_book_put(b, &s);
    mk(&s, "NEW-PAID", "L1", "鲁F00001", "d", T0 + 86400 * 40);
    snprintf(x.id, sizeof x.id, "xd");
    x.ts = T0 + 86400 * 40 + 60;
    session_close(&s, &x, 0, NULL, &pol, &g, err, sizeof err);
    session_book_put(b, &s);
    session_clear(&s);

    CU_ASSERT_FALSE(session_book_partial(b, "鲁F00001"));
    CU_ASSERT_EQUAL(session_book_evict(b, T0 + 86400 * 30), 1);
    CU_ASSERT_TRUE(session_book_partial(b, "鲁F00001"));   /* its history is in Redis now */
    CU_ASSERT_FALSE(session_book_partial(b, "鲁F00002"));
    CU_ASSERT_PTR_NULL(session_book_get(b, "OLD-PAID"));
    CU_ASSERT_PTR_NULL(session_book_event(b, "L1", "entry", "a"));
    CU_ASSERT_PTR_NULL(session_book_event(b, "L1", "exit", "xa"));
    CU_ASSERT_PTR_NULL(session_book_event(b, "L1", "exit", "xa-reread"));
    CU_ASSERT_PTR_NOT_NULL(session_book_get(b, "OLD-UNPAID"));
    CU_ASSERT_PTR_NOT_NULL(session_book_get(b, "OLD-ACTIVE"));
    CU_ASSERT_PTR_NOT_NULL(session_book_event(b, "L1", "entry", "d"));
    size_t n;
    struct session *const *v = session_book_plate(b, "鲁F00001", &n);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT_STRING_EQUAL(v[0]->id, "NEW-PAID");
    CU_ASSERT_EQUAL(session_book_count(b), 3);
    CU_ASSERT_EQUAL(session_book_evict(b, T0 + 86400 * 30), 0);
    CU_ASSERT_EQUAL(session_book_evict(b, T0 + 86400 * 50), 1);   /* NEW-PAID */
    session_book_plate(b, "鲁F00001", &n);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_TRUE(session_book_partial(b, "鲁F00001"));   /* still known to be partial */
    CU_ASSERT_EQUAL(session_book_mark_partial(b, "鲁F00009"), 0);
    CU_ASSERT_TRUE(session_book_partial(b, "鲁F00009"));
    CU_ASSERT_FALSE(session_book_partial(b, "鲁F00008"));
    session_book_free(b);
}

int suite_session_book(void)
{
    CU_pSuite s = CU_add_suite("session_book", NULL, NULL);
    if (s == NULL || CU_add_test(s, "put, get, replace in place", test_put_get_replace) == NULL ||
        CU_add_test(s, "unparked sessions (FIFO)", test_unparked) == NULL ||
        CU_add_test(s, "accounts", test_accounts) == NULL ||
        CU_add_test(s, "eviction of settled sessions", test_evict) == NULL)
        return -1;
    return 0;
}
