/* test_text.c -- the string rule (text.h): the UTF-8 test agrees with
 * jansson's (what a JSON reply will accept) on every 1- and 2-byte input
 * and on 3- and 4-byte inputs built from every lead byte and the
 * continuation bytes at the edges of each range; ids; message repair. */
#include <CUnit/CUnit.h>
#include <jansson.h>
#include <string.h>

#include "text.h"

static bool jansson_ok(const unsigned char *s, size_t n)
{
    json_t *j = json_stringn((const char *)s, n);
    json_decref(j);
    return j != NULL;
}

static void test_utf8_agrees_with_jansson(void)
{
    static const unsigned char edge[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F,
                                         0xA0, 0xBF, 0xC0, 0xC2, 0xF4, 0xFF};
    const size_t ne = sizeof edge;
    size_t disagree = 0, tried = 0;
    unsigned char b[4];
    for (unsigned a = 0; a < 256; a++) {
        b[0] = (unsigned char)a;
        disagree += text_utf8_valid((char *)b, 1) != jansson_ok(b, 1);
        for (unsigned c = 0; c < 256; c++) {
            b[1] = (unsigned char)c;
            disagree += text_utf8_valid((char *)b, 2) != jansson_ok(b, 2);
            tried++;
        }
        for (size_t i = 0; i < ne; i++)
            for (size_t j = 0; j < ne; j++) {
                b[1] = edge[i];
                b[2] = edge[j];
                disagree += text_utf8_valid((char *)b, 3) != jansson_ok(b, 3);
                for (size_t k = 0; k < ne; k++) {
                    b[3] = edge[k];
                    disagree += text_utf8_valid((char *)b, 4) != jansson_ok(b, 4);
                    tried++;
                }
            }
    }
    CU_ASSERT_EQUAL(disagree, 0);
    CU_ASSERT_TRUE(tried > 500000);
    /* Known cases, by name. */
    CU_ASSERT_TRUE(text_utf8_valid("烟台 ok", strlen("烟台 ok")));
    CU_ASSERT_FALSE(text_utf8_valid("\xd1\xcc\xcc\xa8", 4));          /* 烟台 in GBK */
    CU_ASSERT_FALSE(text_utf8_valid("\xed\xa0\x80", 3));              /* a surrogate */
    CU_ASSERT_FALSE(text_utf8_valid("\xc0\xaf", 2));                  /* overlong '/' */
    CU_ASSERT_FALSE(text_utf8_valid("\xf4\x90\x80\x80", 4));          /* above U+10FFFF */
    CU_ASSERT_FALSE(text_utf8_valid("\xe7\x83", 2));                  /* cut */
}

static void test_check(void)
{
    char err[128];
    CU_ASSERT_EQUAL(text_check("name", "烟台", 6, 7, err, sizeof err), 0);
    CU_ASSERT_EQUAL(text_check("name", "烟台", 6, 6, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(err, "name: longer than 5 bytes");
    CU_ASSERT_EQUAL(text_check("name", "a\0b", 3, 8, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(err, "name: contains a NUL byte");
    CU_ASSERT_EQUAL(text_check("name", "a\xff", 2, 8, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(err, "name: not valid UTF-8");
    CU_ASSERT_EQUAL(text_check("name", "a\tb", 3, 8, err, sizeof err), 0);
    CU_ASSERT_EQUAL(text_check("name", "", 0, 8, err, sizeof err), 0);

    CU_ASSERT_EQUAL(text_check_id("id", "S1", 2, 8, err, sizeof err), 0);
    CU_ASSERT_EQUAL(text_check_id("id", "站1", 4, 8, err, sizeof err), 0);
    CU_ASSERT_EQUAL(text_check_id("id", "", 0, 8, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(err, "id: empty");
    CU_ASSERT_EQUAL(text_check_id("id", "a\tb", 3, 8, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(err, "id: contains a control character");
    CU_ASSERT_EQUAL(text_check_id("id", "a\x7f", 2, 8, err, sizeof err), -1);
    CU_ASSERT_EQUAL(text_check_id("id", "S\xff", 2, 8, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(err, "id: not valid UTF-8");
}

static void test_sanitize(void)
{
    char s[] = "stop 'S4\xff' \xe7\x83\x9f\xe5\x8f \x01\n\xe5";
    text_sanitize(s);
    CU_ASSERT_STRING_EQUAL(s, "stop 'S4?' 烟?? ???");
    CU_ASSERT_TRUE(jansson_ok((unsigned char *)s, strlen(s)));
    char ok[] = "芝罘路 ok";
    text_sanitize(ok);
    CU_ASSERT_STRING_EQUAL(ok, "芝罘路 ok");
}

int suite_text(void)
{
    CU_pSuite s = CU_add_suite("text", NULL, NULL);
    if (s == NULL)
        return -1;
    if (!CU_add_test(s, "UTF-8 test agrees with jansson", test_utf8_agrees_with_jansson) ||
        !CU_add_test(s, "text_check, text_check_id", test_check) ||
        !CU_add_test(s, "text_sanitize", test_sanitize))
        return -1;
    return 0;
}
