/* test_keys.c -- key names and Redis Cluster slots (keys.h). The slot
 * figures are Redis's own (CLUSTER KEYSLOT on redis-server 7.0); the
 * store's cluster tests check keys_slot against a live cluster too. */
#include <CUnit/CUnit.h>
#include <string.h>

#include "keys.h"

static unsigned slot(const char *k)
{
    return keys_slot(k, strlen(k));
}

static void test_slot_known_values(void)
{
    CU_ASSERT_EQUAL(slot("123456789"), 0x31C3 % KEYS_SLOTS);
    CU_ASSERT_EQUAL(slot("foo"), 12182);
    CU_ASSERT_EQUAL(slot("bar"), 5061);
    CU_ASSERT_EQUAL(slot(""), 0);
}

static void test_slot_hash_tags(void)
{
    CU_ASSERT_EQUAL(slot("{user1000}.following"), slot("user1000"));
    CU_ASSERT_EQUAL(slot("{user1000}.followers"), slot("user1000"));
    /* An empty tag does not count: the whole key is hashed. */
    CU_ASSERT_EQUAL(slot("foo{}{bar}"), slot("foo{}{bar}"));
    CU_ASSERT_NOT_EQUAL(slot("foo{}{bar}"), slot("bar"));
    /* Only the first tag counts. */
    CU_ASSERT_EQUAL(slot("foo{{bar}}zap"), slot("{bar"));
    CU_ASSERT_EQUAL(slot("foo{bar}{zap}"), slot("bar"));
    /* An unclosed brace: the whole key. */
    CU_ASSERT_EQUAL(slot("foo{bar"), keys_slot("foo{bar", 7));
    CU_ASSERT_NOT_EQUAL(slot("foo{bar"), slot("bar"));
}

static void test_object_keys_share_a_slot(void)
{
    char a[KEY_MAX], b[KEY_MAX];
    keys_lot(a, sizeof a, "L1", "state");
    keys_seen(b, sizeof b, "lot", "L1", "w-42");
    CU_ASSERT_EQUAL(slot(a), slot(b));
    keys_plate(a, sizeof a, "鲁F12345", "session");
    keys_seen(b, sizeof b, "plate", "鲁F12345", "x");
    CU_ASSERT_EQUAL(slot(a), slot(b));
}

int suite_keys(void)
{
    CU_pSuite s = CU_add_suite("keys", NULL, NULL);
    if (!s)
        return -1;
    if (!CU_add_test(s, "slots: Redis's figures", test_slot_known_values) ||
        !CU_add_test(s, "slots: hash tags", test_slot_hash_tags) ||
        !CU_add_test(s, "an object's keys share a slot", test_object_keys_share_a_slot))
        return -1;
    return 0;
}
