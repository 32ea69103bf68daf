/* test_csv.c -- the RFC 4180 reader: quoting, BOM, line ends, line
 * numbers, errors, and file input across read-buffer boundaries. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csv.h"

static char err[256];

static struct csv *mem(const char *s)
{
    return csv_open_mem(s, strlen(s), "t.csv");
}

static void test_quotes(void)
{
    struct csv *c = mem("a,\"b,c\",\"say \"\"hi\"\"\"\n\"multi\nline\",x,\"\"\n");
    CU_ASSERT_EQUAL(csv_next(c, err, sizeof err), 1);
    CU_ASSERT_EQUAL(csv_nfields(c), 3);
    CU_ASSERT_STRING_EQUAL(csv_get(c, 0), "a");
    CU_ASSERT_STRING_EQUAL(csv_get(c, 1), "b,c");
    CU_ASSERT_STRING_EQUAL(csv_get(c, 2), "say \"hi\"");
    CU_ASSERT_EQUAL(csv_line(c), 1);
    CU_ASSERT_EQUAL(csv_next(c, err, sizeof err), 1);
    CU_ASSERT_STRING_EQUAL(csv_get(c, 0), "multi\nline");
    CU_ASSERT_STRING_EQUAL(csv_get(c, 2), "");
    CU_ASSERT_EQUAL(csv_line(c), 2);
    CU_ASSERT_STRING_EQUAL(csv_get(c, 3), "");     /* past the end */
    CU_ASSERT_STRING_EQUAL(csv_get(c, -1), "");
    CU_ASSERT_EQUAL(csv_next(c, err, sizeof err), 0);
    CU_ASSERT_EQUAL(csv_next(c, err, sizeof err), 0);
    csv_free(c);
}

static void test_bom_crlf_lines(void)
{
    /* BOM, CRLF, a blank line, a lone CR, trailing empty field, no final
     * newline: line numbers are physical lines. */
    struct csv *c = mem("\xEF\xBB\xBFid,name\r\n1,one\r\n\r\n2,two,\r3,\"x\r\ny\"\r\n4,four");
    CU_ASSERT_EQUAL(csv_read_header(c, err, sizeof err), 1);
    CU_ASSERT_EQUAL(csv_col(c, "id"), 0);
    CU_ASSERT_EQUAL(csv_col(c, "name"), 1);
    CU_ASSERT_EQUAL(csv_next(c, err, sizeof err), 1);
    CU_ASSERT_STRING_EQUAL(csv_get(c, 1), "one");
    CU_ASSERT_EQUAL(csv_line(c), 2);
    CU_ASSERT_EQUAL(csv_next(c, err, sizeof err), 1);
    CU_ASSERT_EQUAL(csv_line(c), 4);
    CU_ASSERT_EQUAL(csv_nfields(c), 3);
    CU_ASSERT_STRING_EQUAL(csv_get(c, 2), "");
    CU_ASSERT_EQUAL(csv_next(c, err, sizeof err), 1);
    CU_ASSERT_EQUAL(csv_line(c), 5);
    CU_ASSERT_STRING_EQUAL(csv_get(c, 1), "x\r\ny");
    CU_ASSERT_EQUAL(csv_next(c, err, sizeof err), 1);
    CU_ASSERT_EQUAL(csv_line(c), 7);
    CU_ASSERT_STRING_EQUAL(csv_get(c, 1), "four");
    CU_ASSERT_EQUAL(csv_next(c, err, sizeof err), 0);
    csv_free(c);
}

static void test_header_trim_and_sep(void)
{
    struct csv *c = mem(" a ;\tb\n1;2\n");
    csv_set_separator(c, ';');
    CU_ASSERT_EQUAL(csv_read_header(c, err, sizeof err), 1);
    CU_ASSERT_EQUAL(csv_ncols(c), 2);
    CU_ASSERT_EQUAL(csv_col(c, "a"), 0);
    CU_ASSERT_EQUAL(csv_col(c, "b"), 1);
    CU_ASSERT_EQUAL(csv_col(c, "c"), -1);
    CU_ASSERT_EQUAL(csv_next(c, err, sizeof err), 1);
    CU_ASSERT_STRING_EQUAL(csv_get(c, csv_col(c, "b")), "2");
    csv_free(c);

    /* Empty input has no header. */
    c = mem("");
    CU_ASSERT_EQUAL(csv_read_header(c, err, sizeof err), 0);
    csv_free(c);
}

static void test_not_a_bom(void)
{
    /* A first byte 0xEF that does not start a BOM is data. */
    struct csv *c = mem("\xEF\xBB" "x,y\n");
    CU_ASSERT_EQUAL(csv_next(c, err, sizeof err), 1);
    CU_ASSERT_STRING_EQUAL(csv_get(c, 0), "\xEF\xBBx");
    csv_free(c);
    c = mem("\xEF");
    CU_ASSERT_EQUAL(csv_next(c, err, sizeof err), 1);
    CU_ASSERT_STRING_EQUAL(csv_get(c, 0), "\xEF");
    csv_free(c);
}

/* UTF-16 (a spreadsheet's "Unicode text") is refused at once, saying so,
 * rather than at its first NUL byte; bytes FF or FE alone are data. */
static void test_utf16(void)
{
    static const char le[] = "\xff\xfe" "a\0,\0b\0\n\0", be[] = "\xfe\xff\0a\0,\0b\0\n";
    const char *const in[] = {le, be};
    const size_t len[] = {sizeof le - 1, sizeof be - 1};
    for (int i = 0; i < 2; i++) {
        struct csv *c = csv_open_mem(in[i], len[i], "u.csv");
        CU_ASSERT_EQUAL(csv_read_header(c, err, sizeof err), -1);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "u.csv:1: UTF-16"));
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "iconv -f UTF-16 -t UTF-8"));
        CU_ASSERT_EQUAL(csv_next(c, err, sizeof err), 0);
        csv_free(c);
    }
    struct csv *c = mem("\xff" "a,\xfe\n");
    CU_ASSERT_EQUAL(csv_next(c, err, sizeof err), 1);
    CU_ASSERT_STRING_EQUAL(csv_get(c, 0), "\xff" "a");
    CU_ASSERT_STRING_EQUAL(csv_get(c, 1), "\xfe");
    csv_free(c);
    c = mem("\xff\xbb\xbf,x\n");
    CU_ASSERT_EQUAL(csv_next(c, err, sizeof err), 1);
    CU_ASSERT_STRING_EQUAL(csv_get(c, 0), "\xff\xbb\xbf");
    csv_free(c);
}

static void test_errors(void)
{
    struct csv *c = mem("a,b\n1,\"open\n2,3\n");
    CU_ASSERT_EQUAL(csv_next(c, err, sizeof err), 1);
    CU_ASSERT_EQUAL(csv_next(c, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "t.csv:2:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "never closed"));
    CU_ASSERT_EQUAL(csv_next(c, err, sizeof err), 0);
    csv_free(c);

    c = mem("x\n\"ab\"c,d\n");
    CU_ASSERT_EQUAL(csv_next(c, err, sizeof err), 1);
    CU_ASSERT_EQUAL(csv_next(c, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "t.csv:2:"));
    csv_free(c);

    static const char nul[] = "a,b\0c\n";
    c = csv_open_mem(nul, sizeof nul - 1, "n.csv");
    CU_ASSERT_EQUAL(csv_next(c, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "NUL"));
    csv_free(c);

    /* A stray quote inside an unquoted field is kept as text. */
    c = mem("5'3\" tall,x\n");
    CU_ASSERT_EQUAL(csv_next(c, err, sizeof err), 1);
    CU_ASSERT_STRING_EQUAL(csv_get(c, 0), "5'3\" tall");
    csv_free(c);

    CU_ASSERT_PTR_NULL(csv_open("/nonexistent/dir/x.csv", err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/dir/x.csv"));
}

static void test_runaway_record(void)
{
    size_t n = CSV_MAX_RECORD + 10;
    char *big = malloc(n);
    memset(big, 'x', n);
    big[0] = '"';
    struct csv *c = csv_open_mem(big, n, "big.csv");
    CU_ASSERT_EQUAL(csv_next(c, err, sizeof err), -1);
    csv_free(c);
    free(big);
}

/* A file larger than the read chunk, with a quoted field straddling the
 * boundary, reads back exactly. */
static void test_file(void)
{
    char path[] = "/tmp/cityd_csv_XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    FILE *fp = fdopen(fd, "w");
    fputs("\xEF\xBB\xBFn,text\r\n", fp);
    int rows = 5000;
    for (int i = 0; i < rows; i++)
        fprintf(fp, "%d,\"row %d, \"\"quoted\"\"\nsecond line\"\r\n", i, i);
    fclose(fp);

    struct csv *c = csv_open(path, err, sizeof err);
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT_EQUAL(csv_read_header(c, err, sizeof err), 1);
    CU_ASSERT_EQUAL(csv_col(c, "n"), 0);
    int i = 0, rc;
    char want[64];
    while ((rc = csv_next(c, err, sizeof err)) == 1) {
        snprintf(want, sizeof want, "row %d, \"quoted\"\nsecond line", i);
        if (strcmp(csv_get(c, 1), want) != 0 || atoi(csv_get(c, 0)) != i ||
            csv_line(c) != 2 + 2L * i) {
            CU_FAIL("row mismatch");
            break;
        }
        i++;
    }
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(i, rows);
    csv_free(c);
    unlink(path);
}

int suite_csv(void)
{
    CU_pSuite s = CU_add_suite("csv", NULL, NULL);
    if (s == NULL)
        return -1;
    if (!CU_add_test(s, "quotes", test_quotes) ||
        !CU_add_test(s, "bom_crlf_lines", test_bom_crlf_lines) ||
        !CU_add_test(s, "header_trim_and_sep", test_header_trim_and_sep) ||
        !CU_add_test(s, "not_a_bom", test_not_a_bom) ||
        !CU_add_test(s, "utf16", test_utf16) ||
        !CU_add_test(s, "errors", test_errors) ||
        !CU_add_test(s, "runaway_record", test_runaway_record) ||
        !CU_add_test(s, "file", test_file))
        return -1;
    return 0;
}
