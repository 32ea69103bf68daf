/* test_utdf.c -- the UTDF volume CSV reader: real-export quirks (title
 * lines, ="HHMM" times, trailing commas, '*'), intervals, windows, and
 * every kind of bad input reported with its line. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tz.h"
#include "utdf.h"

static char err[512];

#define HEADER "DATE,TIME,INTID,NBL,NBT,NBR,SBL,SBT,SBR,EBL,EBT,EBR,WBL,WBT,WBR\n"

static struct utdf *load(const char *text)
{
    struct utdf *u = NULL;
    err[0] = '\0';
    if (utdf_read_mem(text, strlen(text), "loads.csv", &u, err, sizeof err) != 0)
        return NULL;
    return u;
}

/* Expect a read error mentioning each of the fragments. */
static void expect_error(const char *text, const char *a, const char *b)
{
    struct utdf *u = load(text);
    CU_ASSERT_PTR_NULL(u);
    utdf_free(u);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, a));
    if (b != NULL)
        CU_ASSERT_PTR_NOT_NULL(strstr(err, b));
    if (strstr(err, a) == NULL || (b && strstr(err, b) == NULL))
        fprintf(stderr, "\nunexpected error: %s\n", err);
}

static void test_real_export(void)
{
    /* As Synchro-style exports write it: title lines, ="HHMM", trailing
     * commas, '*' for undetected movements, rows not grouped by id. */
    struct utdf *u = load("Turning Movement Count,\n15 Minute Counts,\n" HEADER
                          "11/16/2025,=\"0000\",2,4,2,3,0,1,4,0,6,3,0,1,8,\n"
                          "11/16/2025,=\"0000\",1,*,22,14,*,5,9,1,70,*,15,76,*,\n"
                          "11/16/2025,=\"0015\",1,*,18,1,*,1,0,1,57,*,9,78,*,\n"
                          "11/16/2025,0030,1,,21,9,,0,0,2,62,,8,53,,\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(u);
    CU_ASSERT_EQUAL(u->n, 4);
    /* Sorted by id then time. */
    CU_ASSERT_STRING_EQUAL(u->rows[0].intid, "1");
    CU_ASSERT_EQUAL(u->rows[0].line, 5);
    CU_ASSERT_STRING_EQUAL(u->rows[3].intid, "2");
    CU_ASSERT_EQUAL(u->rows[3].line, 4);
    CU_ASSERT_DOUBLE_EQUAL(u->rows[0].counts[0], -1, 0);          /* NBL '*' */
    CU_ASSERT_DOUBLE_EQUAL(u->rows[0].counts[1], 22, 0);
    CU_ASSERT_DOUBLE_EQUAL(u->rows[2].counts[0], -1, 0);          /* NBL empty */
    CU_ASSERT_DOUBLE_EQUAL(u->rows[2].counts[11], -1, 0);         /* WBR empty */
    CU_ASSERT_DOUBLE_EQUAL(u->rows[3].counts[11], 8, 0);
    int64_t day = tz_days_from_civil(2025, 11, 16);
    CU_ASSERT_EQUAL(u->rows[1].minute, day * 1440 + 15);
    CU_ASSERT_EQUAL(utdf_first_minute(u), day * 1440);
    CU_ASSERT_DOUBLE_EQUAL(utdf_interval_s(u), 900, 0);
    CU_ASSERT_EQUAL(utdf_find(u, "2"), 3);
    CU_ASSERT_EQUAL(utdf_find(u, "0"), -1);
    utdf_free(u);
}

static void test_columns_by_name(void)
{
    /* Columns in another order, lower case, one movement column missing
     * (not detected everywhere), CRLF line ends. */
    struct utdf *u = load("intid,date,time,EBT,WBT\r\nnd-01,1/5/2026,07:45,300,250\r\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(u);
    CU_ASSERT_DOUBLE_EQUAL(utdf_interval_s(u), UTDF_DEFAULT_INTERVAL_S, 0);
    CU_ASSERT_EQUAL(u->rows[0].minute, tz_days_from_civil(2026, 1, 5) * 1440 + 7 * 60 + 45);
    CU_ASSERT_DOUBLE_EQUAL(u->rows[0].counts[7], 300, 0);
    CU_ASSERT_DOUBLE_EQUAL(u->rows[0].counts[10], 250, 0);
    CU_ASSERT_DOUBLE_EQUAL(u->rows[0].counts[0], -1, 0);
    utdf_free(u);
}

static void test_bad_input(void)
{
    expect_error("nothing,here\n1,2\n", "loads.csv", "no header row");
    expect_error(HEADER, "loads.csv", "no counts after the header");
    expect_error(HEADER "13/01/2025,0800,1,1,1,1,1,1,1,1,1,1,1,1,1\n", "loads.csv:2", "DATE");
    expect_error(HEADER "02/30/2025,0800,1,1,1,1,1,1,1,1,1,1,1,1,1\n", "loads.csv:2",
                 "no such date");
    expect_error(HEADER "2025-01-02,0800,1,1,1,1,1,1,1,1,1,1,1,1,1\n", "loads.csv:2",
                 "MM/DD/YYYY");
    expect_error(HEADER "01/02/2025,2460,1,1,1,1,1,1,1,1,1,1,1,1,1\n", "loads.csv:2", "TIME");
    expect_error(HEADER "01/02/2025,8am,1,1,1,1,1,1,1,1,1,1,1,1,1\n", "loads.csv:2", "HHMM");
    expect_error(HEADER "01/02/2025,0800,1,1,1,1,1,1,1,1,-3,1,1,1,1\n", "loads.csv:2",
                 "EBT: '-3' is negative");
    expect_error(HEADER "01/02/2025,0800,1,1,1,x,1,1,1,1,1,1,1,1,1\n", "loads.csv:2",
                 "NBR: 'x' is not a count");
    expect_error(HEADER "01/02/2025,0800,,1,1,1,1,1,1,1,1,1,1,1,1\n", "loads.csv:2",
                 "INTID: missing");
    expect_error(HEADER "01/02/2025,0800,7,1,1,1,1,1,1,1,1,1,1,1,1\n"
                        "01/02/2025,0815,7,1,1,1,1,1,1,1,1,1,1,1,1\n"
                        "01/02/2025,=\"0800\",7,1,1,1,1,1,1,1,1,1,1,1,1\n",
                 "loads.csv:4", "already counted at line 2");
    expect_error(HEADER "01/02/2025,0800,7,1,1,1,1,1,1,1,1,1,1,1,\"open\n", "loads.csv",
                 "never closed");
}

static const char window_text[] = HEADER
    "01/02/2025,0800,a,0,100,0,0,0,0,0,0,0,0,0,0\n"
    "01/02/2025,0815,a,0,200,0,0,0,0,0,0,0,0,0,0\n"
    "01/02/2025,0830,a,0,300,0,0,0,0,0,0,*,0,0,0\n"
    "01/02/2025,0800,b,0,10,0,0,0,0,0,0,0,0,0,0\n"
    "01/02/2025,0830,b,0,30,0,0,0,0,0,0,0,0,0,0\n";

static void test_window(void)
{
    struct utdf *u = load(window_text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(u);
    int64_t start;
    CU_ASSERT_EQUAL_FATAL(utdf_parse_datetime("01/02/2025", "0810", &start, err, sizeof err), 0);
    struct sim_count *c = NULL;
    size_t n = 0;
    /* 08:10 for 30 min: 5 min of the 08:00 interval, 08:15 whole, 10 min
     * of 08:30 (counts scaled to the part kept). */
    CU_ASSERT_EQUAL_FATAL(utdf_counts(u, "a", start, 1800, &c, &n, err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL(n, 3);
    CU_ASSERT_DOUBLE_EQUAL(c[0].start_s, 0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(c[0].length_s, 300, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(c[0].counts[1], 100.0 / 3, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(c[1].start_s, 300, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(c[1].length_s, 900, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(c[1].counts[1], 200, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(c[2].start_s, 1200, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(c[2].length_s, 600, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(c[2].counts[1], 200, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(c[2].counts[8], -1, 0);                /* still undetected */
    free(c);
    /* A gap (b has no 08:15 row) and a window past the end. */
    CU_ASSERT_EQUAL(utdf_counts(u, "b", start, 1800, &c, &n, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "'b' has no counts for the interval starting 01/02/2025 08:15"));
    CU_ASSERT_EQUAL(utdf_counts(u, "a", start, 3600, &c, &n, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "starting 01/02/2025 08:45"));
    CU_ASSERT_EQUAL(utdf_counts(u, "zz", start, 60, &c, &n, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "no counts for intersection 'zz'"));
    /* A window starting before the file. */
    CU_ASSERT_EQUAL(utdf_counts(u, "a", start - 11, 60, &c, &n, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "starting 01/02/2025 07:59"));
    utdf_free(u);
}

static void test_format(void)
{
    int64_t m;
    char buf[24];
    CU_ASSERT_EQUAL(utdf_parse_datetime("11/21/2025", "=\"1615\"", &m, err, sizeof err), 0);
    utdf_format_minute(m, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "11/21/2025 16:15");
    CU_ASSERT_EQUAL(utdf_parse_datetime("02/29/2024", "0000", &m, err, sizeof err), 0);
    CU_ASSERT_EQUAL(utdf_parse_datetime("02/29/2025", "0000", &m, err, sizeof err), -1);
}

static void test_file(void)
{
    char path[] = "/tmp/utdf-XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(window_text, f);
    fclose(f);
    struct utdf *u = NULL;
    CU_ASSERT_EQUAL(utdf_read(path, &u, err, sizeof err), 0);
    CU_ASSERT_PTR_NOT_NULL(u);
    CU_ASSERT_EQUAL(u ? u->n : 0, 5);
    utdf_free(u);
    remove(path);
    CU_ASSERT_EQUAL(utdf_read(path, &u, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
}

int suite_utdf(void)
{
    CU_pSuite s = CU_add_suite("utdf", NULL, NULL);
    if (s == NULL)
        return -1;
    if (!CU_add_test(s, "real export quirks", test_real_export) ||
        !CU_add_test(s, "columns by name", test_columns_by_name) ||
        !CU_add_test(s, "bad input with lines", test_bad_input) ||
        !CU_add_test(s, "counts over a window", test_window) ||
        !CU_add_test(s, "date formatting", test_format) ||
        !CU_add_test(s, "file input", test_file))
        return -1;
    return 0;
}
