/* test_log.c -- log lines and their rate limit: one event may write at
 * most log.max_per_second lines a second, the rest are counted and
 * reported in one "suppressed=N" line (a flood of accept failures or
 * timeouts must not fill the disk). Real files, real clock. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

static char *file_text(FILE *f)
{
    fflush(f);
    long n = ftell(f);
    char *s = calloc(1, (size_t)n + 1);
    rewind(f);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fseek(f, 0, SEEK_END);
    return s;
}

static size_t count(const char *text, const char *what)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, what)) != NULL; p++)
        n++;
    return n;
}

/* The N of every "suppressed=N" about event ev. */
static long suppressed(const char *text, const char *ev)
{
    char key[64];
    long sum = 0;
    snprintf(key, sizeof key, "event=log_suppressed of=%s suppressed=", ev);
    for (const char *p = text; (p = strstr(p, key)) != NULL; p++)
        sum += atol(p + strlen(key));
    return sum;
}

static void test_line_format(void)
{
    struct log lg;
    log_init(&lg);
    lg.out = tmpfile();
    log_info(&lg, "hello", "k=%d v=%s", 7, "x");
    log_debug(&lg, "hidden", "k=1");
    char *t = file_text(lg.out);
    CU_ASSERT(strncmp(t, "ts=", 3) == 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(t, " level=info event=hello k=7 v=x\n"));
    CU_ASSERT_PTR_NULL(strstr(t, "hidden"));
    free(t);
    log_close(&lg);
    fclose(lg.out);
}

static void test_rate_limit(void)
{
    struct log lg;
    log_init(&lg);
    lg.out = tmpfile();
    CU_ASSERT_EQUAL_FATAL(log_set_rate(&lg, 5), 0);
    for (int i = 0; i < 100; i++)
        log_warn(&lg, "flood", "i=%d", i);
    log_info(&lg, "other", "k=1");
    char *t = file_text(lg.out);
    size_t shown = count(t, "event=flood ");
    CU_ASSERT(shown >= 5 && shown <= 10);     /* 10: the loop straddled two windows */
    CU_ASSERT_EQUAL(count(t, "event=other "), 1);
    free(t);
    /* A second later the next line of the event first says how many
     * were left out. */
    struct timespec pause = {1, 100 * 1000 * 1000};
    nanosleep(&pause, NULL);
    log_warn(&lg, "flood", "i=%d", 100);
    t = file_text(lg.out);
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "level=warn event=log_suppressed of=flood suppressed="));
    CU_ASSERT_EQUAL((long)count(t, "event=flood ") + suppressed(t, "flood"), 101);
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "event=flood i=100\n"));
    free(t);
    /* log_close reports what is still pending. */
    for (int i = 0; i < 20; i++)
        log_warn(&lg, "flood", "i=%d", 101 + i);
    log_close(&lg);
    t = file_text(lg.out);
    CU_ASSERT_EQUAL((long)count(t, "event=flood ") + suppressed(t, "flood"), 121);
    free(t);
    fclose(lg.out);
}

/* Rate 0 is no limit; so is a logger nobody set a rate on. */
static void test_no_limit(void)
{
    struct log lg;
    log_init(&lg);
    lg.out = tmpfile();
    CU_ASSERT_EQUAL(log_set_rate(&lg, 0), 0);
    for (int i = 0; i < 300; i++)
        log_warn(&lg, "flood", "i=%d", i);
    char *t = file_text(lg.out);
    CU_ASSERT_EQUAL(count(t, "event=flood "), 300);
    free(t);
    log_close(&lg);
    fclose(lg.out);
}

int suite_log(void)
{
    CU_pSuite s = CU_add_suite("log", NULL, NULL);
    if (s == NULL)
        return -1;
    if (!CU_add_test(s, "line format", test_line_format) ||
        !CU_add_test(s, "repeated lines rate-limited", test_rate_limit) ||
        !CU_add_test(s, "no limit", test_no_limit))
        return -1;
    return 0;
}
