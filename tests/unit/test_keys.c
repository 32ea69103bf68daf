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

/* Stored data depends on the partition of an id: these figures must
 * never change (CRC16 of the id mod 64, so the slot of the id mod 64). */
static void test_partitions(void)
{
    CU_ASSERT_EQUAL(keys_part("zf-001"), 13);
    CU_ASSERT_EQUAL(keys_part("zf-002"), 46);
    CU_ASSERT_EQUAL(keys_part("b1"), 58);
    CU_ASSERT_EQUAL(keys_part("鲁F12345"), 53);
    CU_ASSERT_EQUAL(keys_part("zf-001"), slot("zf-001") % KEYS_PARTS);
    char a[KEY_MAX], b[KEY_MAX];
    CU_ASSERT_STRING_EQUAL(keys_lot(a, sizeof a, "zf-001", "state"), "cityd:{p:13}:lot:zf-001:state");
    CU_ASSERT_STRING_EQUAL(keys_part_key(b, sizeof b, 13, "parking:changes"),
                           "cityd:{p:13}:parking:changes");
    CU_ASSERT_EQUAL(slot(a), slot(b));
    /* a vehicle, a plate: with their partitions' feeds and indexes */
    keys_vehicle(a, sizeof a, "b1", "pos");
    keys_part_key(b, sizeof b, keys_part("b1"), "transit:vehicles");
    CU_ASSERT_EQUAL(slot(a), slot(b));
    keys_plate(a, sizeof a, "鲁F12345", "ver");
    keys_part_key(b, sizeof b, keys_part("鲁F12345"), "accounts");
    CU_ASSERT_EQUAL(slot(a), slot(b));
    /* an id holding braces does not change the tag */
    keys_lot(a, sizeof a, "x}{y", "state");
    CU_ASSERT_EQUAL(slot(a), slot(keys_part_key(b, sizeof b, keys_part("x}{y"), "q")));
}

int suite_keys(void)
{
    CU_pSuite s = CU_add_suite("keys", NULL, NULL);
    if (!s)
        return -1;
    if (!CU_add_test(s, "slots: Redis's figures", test_slot_known_values) ||
        !CU_add_test(s, "slots: hash tags", test_slot_hash_tags) ||
        !CU_add_test(s, "an object's keys share a slot", test_object_keys_share_a_slot) ||
        !CU_add_test(s, "partitions", test_partitions))
        return -1;
    return 0;
}
