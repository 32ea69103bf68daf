/* test_plate.c -- plate normalisation and validation (GA 36-2018). */
#include <CUnit/CUnit.h>
#include <string.h>

#include "plate.h"

struct plate_case {
    const char *in;
    const char *want;          /* NULL: must be refused */
    enum plate_kind kind;
    const char *err_has;       /* substring of the message when refused */
};

static const struct plate_case cases[] = {
    /* spellings of one plate */
    {"鲁F12345", "鲁F12345", PLATE_STANDARD, NULL},
    {"鲁f·12345", "鲁F12345", PLATE_STANDARD, NULL},
    {"鲁F・12345", "鲁F12345", PLATE_STANDARD, NULL},
    {"鲁F•12345", "鲁F12345", PLATE_STANDARD, NULL},
    {"鲁F.12345", "鲁F12345", PLATE_STANDARD, NULL},
    {"鲁F-12345", "鲁F12345", PLATE_STANDARD, NULL},
    {" 鲁 F 123 45 ", "鲁F12345", PLATE_STANDARD, NULL},
    {"鲁\xe3\x80\x80" "F12345", "鲁F12345", PLATE_STANDARD, NULL},    /* U+3000 */
    {"鲁Ｆ１２３４５", "鲁F12345", PLATE_STANDARD, NULL},              /* full width */
    {"鲁ｆａｂ１２３", "鲁FAB123", PLATE_STANDARD, NULL},              /* full-width lower */
    {"京a·b1c2d", "京AB1C2D", PLATE_STANDARD, NULL},
    {"琼A00001", "琼A00001", PLATE_STANDARD, NULL},
    /* new energy */
    {"鲁FD12345", "鲁FD12345", PLATE_NEW_ENERGY_SMALL, NULL},
    {"鲁f·f1234５", "鲁FF12345", PLATE_NEW_ENERGY_SMALL, NULL},
    {"沪ADA1234", "沪ADA1234", PLATE_NEW_ENERGY_SMALL, NULL},
    {"鲁F12345D", "鲁F12345D", PLATE_NEW_ENERGY_LARGE, NULL},
    {"鲁F12345F", "鲁F12345F", PLATE_NEW_ENERGY_LARGE, NULL},
    {"鲁FA12345", NULL, 0, "new-energy"},                   /* A is not D/F */
    {"鲁FDA123B", NULL, 0, "new-energy"},                   /* last 4 must be digits */
    {"鲁F1234AD", NULL, 0, "new-energy"},                   /* large: 5 digits first */
    {"鲁FD1234I", NULL, 0, "I and O"},
    /* suffixed */
    {"鲁F1234挂", "鲁F1234挂", PLATE_TRAILER, NULL},
    {"鲁F·A123学", "鲁FA123学", PLATE_COACH, NULL},
    {"鲁F0123警", "鲁F0123警", PLATE_POLICE, NULL},
    {"沪A1234领", "沪A1234领", PLATE_CONSULATE, NULL},
    {"粤Z1234港", "粤Z1234港", PLATE_HK_MACAU, NULL},
    {"粤Z·1234澳", "粤Z1234澳", PLATE_HK_MACAU, NULL},
    {"鲁F1234港", NULL, 0, "粤Z"},
    {"鲁F12345挂", NULL, 0, "4 characters"},
    {"鲁F12挂34", NULL, 0, "may only end"},
    /* embassy */
    {"使014·578", "使014578", PLATE_EMBASSY, NULL},
    {"使01457", NULL, 0, "embassy"},
    /* refusals */
    {"", NULL, 0, "empty"},
    {" · ", NULL, 0, "empty"},
    {"F12345", NULL, 0, "province"},
    {"WJ鲁12345", NULL, 0, "province"},
    {"港A12345", NULL, 0, "unknown province character '港'"},
    {"鲁112345", NULL, 0, "authority letter"},
    {"鲁", NULL, 0, "authority letter"},
    {"鲁I12345", NULL, 0, "I or O"},
    {"鲁O12345", NULL, 0, "I or O"},
    {"鲁F1234O", NULL, 0, "I and O"},
    {"鲁F1234", NULL, 0, "got 4"},
    {"鲁F1234567", NULL, 0, "too long"},
    {"鲁F12_45", NULL, 0, "'_'"},
    {"鲁F12\x07" "45", NULL, 0, "U+0007"},
    {"鲁F12鲁45", NULL, 0, "cannot appear"},
    {"\xff\xfe", NULL, 0, "invalid UTF-8 at byte 0"},
    {"鲁F\xc0\xaf" "12345", NULL, 0, "invalid UTF-8 at byte 4"},       /* overlong '/' */
    {"鲁F\xed\xa0\x80" "1234", NULL, 0, "invalid UTF-8"},               /* surrogate */
    {"鲁F123\xe9\xb2", NULL, 0, "invalid UTF-8 at byte 7"},             /* truncated */
};

static void test_table(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct plate_case *c = &cases[i];
        char out[PLATE_MAX] = "untouched", err[256] = "";
        enum plate_kind kind = PLATE_EMBASSY + 1;
        int rc = plate_normalize(c->in, out, sizeof out, &kind, err, sizeof err);
        if (c->want != NULL) {
            CU_ASSERT_EQUAL(rc, 0);
            CU_ASSERT_STRING_EQUAL(out, c->want);
            CU_ASSERT_EQUAL(kind, c->kind);
            if (rc != 0 || strcmp(out, c->want) != 0)
                fprintf(stderr, "\ncase %zu \"%s\": got rc=%d out=\"%s\" err=\"%s\"\n", i, c->in,
                        rc, out, err);
        } else {
            CU_ASSERT_EQUAL(rc, -1);
            CU_ASSERT_PTR_NOT_NULL(strstr(err, c->err_has));
            CU_ASSERT_EQUAL(strncmp(err, "plate", 5), 0);
            if (rc != -1 || strstr(err, c->err_has) == NULL)
                fprintf(stderr, "\ncase %zu \"%s\": rc=%d err=\"%s\", wanted \"%s\"\n", i, c->in,
                        rc, err, c->err_has);
        }
    }
}

/* Normalising a canonical plate is the identity. */
static void test_idempotent(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].want == NULL)
            continue;
        char out[PLATE_MAX], err[256];
        CU_ASSERT_EQUAL(plate_normalize(cases[i].want, out, sizeof out, NULL, err, sizeof err), 0);
        CU_ASSERT_STRING_EQUAL(out, cases[i].want);
    }
}

static void test_edges(void)
{
    char out[PLATE_MAX], err[64];
    /* NULL input, tiny output buffer, very long input */
    CU_ASSERT_EQUAL(plate_normalize(NULL, out, sizeof out, NULL, err, sizeof err), -1);
    CU_ASSERT_EQUAL(plate_normalize("鲁F12345", out, 5, NULL, err, sizeof err), -1);
    char longin[1024];
    memset(longin, ' ', sizeof longin - 1);
    longin[sizeof longin - 1] = '\0';
    CU_ASSERT_EQUAL(plate_normalize(longin, out, sizeof out, NULL, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "longer than"));
    /* every province is accepted */
    static const char *prov = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";
    size_t nprov = 0;
    for (const char *p = prov; *p; p += 3, nprov++) {
        char in[16];
        snprintf(in, sizeof in, "%.3sB12345", p);
        CU_ASSERT_EQUAL(plate_normalize(in, out, sizeof out, NULL, err, sizeof err), 0);
    }
    CU_ASSERT_EQUAL(nprov, 31);
    CU_ASSERT_STRING_EQUAL(plate_kind_name(PLATE_NEW_ENERGY_SMALL), "new_energy_small");
}

int suite_plate(void)
{
    CU_pSuite s = CU_add_suite("plate", NULL, NULL);
    if (s == NULL || CU_add_test(s, "table of spellings and refusals", test_table) == NULL ||
        CU_add_test(s, "canonical form is a fixed point", test_idempotent) == NULL ||
        CU_add_test(s, "edges", test_edges) == NULL)
        return -1;
    return 0;
}
