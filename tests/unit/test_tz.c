/* test_tz.c -- time-zone offsets: fixed offsets, POSIX rules, TZif files
 * (compared with the C library where the host has tzdata), bad input. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tz.h"

static void test_fixed(void)
{
    char err[256];
    struct {
        const char *name;
        int off;
    } ok[] = {{"UTC", 0}, {"Z", 0}, {"+08:00", 28800}, {"+0800", 28800}, {"+08", 28800},
              {"-05:30", -19800}, {"+14:00", 50400}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        struct tz *z = tz_load(ok[i].name, NULL, err, sizeof err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(z);
        CU_ASSERT_EQUAL(tz_offset(z, 0), ok[i].off);
        CU_ASSERT_EQUAL(tz_offset(z, 1764400000), ok[i].off);
        tz_free(z);
    }
    const char *bad[] = {"", "UTC+8", "GMT-8", "+8", "+15:00", "+08:60", "+08:0", "../etc/passwd",
                         "/etc/localtime", "Asia/Nowhere", "Asia/Shang hai", "+08:00x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        struct tz *z = tz_load(bad[i], NULL, err, sizeof err);
        CU_ASSERT_PTR_NULL(z);
        CU_ASSERT_EQUAL(strncmp(err, "timezone: ", 10), 0);
        tz_free(z);
    }
    CU_ASSERT_PTR_NULL(tz_load("UTC+8", NULL, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "ambiguous"));
}

/* POSIX rules against hand-computed instants. */
static void test_posix(void)
{
    char err[256];
    struct tz *z = tz_posix("CST-8", err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(z);
    CU_ASSERT_EQUAL(tz_offset(z, 1764400000), 28800);
    tz_free(z);
    /* Central Europe 2025: CEST from 2025-03-30 01:00 UTC to 2025-10-26 01:00 UTC */
    z = tz_posix("CET-1CEST,M3.5.0,M10.5.0/3", err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(z);
    CU_ASSERT_EQUAL(tz_offset(z, 1743296400 - 1), 3600);
    CU_ASSERT_EQUAL(tz_offset(z, 1743296400), 7200);
    CU_ASSERT_EQUAL(tz_offset(z, 1761440400 - 1), 7200);
    CU_ASSERT_EQUAL(tz_offset(z, 1761440400), 3600);
    tz_free(z);
    /* Southern hemisphere, quoted names: Sydney 2025, AEDT ends 2025-04-06
     * 03:00 local (16:00 UTC on the 5th), starts 2025-10-05 02:00 local. */
    z = tz_posix("<+10>-10<+11>,M10.1.0,M4.1.0/3", err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(z);
    CU_ASSERT_EQUAL(tz_offset(z, 1743868800 - 1), 39600);
    CU_ASSERT_EQUAL(tz_offset(z, 1743868800), 36000);
    CU_ASSERT_EQUAL(tz_offset(z, 1759593600 - 1), 36000);
    CU_ASSERT_EQUAL(tz_offset(z, 1759593600), 39600);
    tz_free(z);
    const char *bad[] = {"", "C-8", "CST", "CST-8CDT,M3", "CST-8CDT,M13.1.0,M11.1.0",
                         "CST-8CDT,M3.2.0,M11.1.0,", "CST-25"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CU_ASSERT_PTR_NULL(tz_posix(bad[i], err, sizeof err));
}

/* TZif files: compare with glibc's localtime_r (set TZ once in this
 * single-threaded test process) over many instants. Skipped without tzdata. */
static void test_tzif_vs_libc(void)
{
    const char *zones[] = {"Asia/Shanghai", "Europe/Berlin", "America/New_York",
                           "Australia/Sydney", "Asia/Kolkata", "America/Sao_Paulo"};
    char err[256];
    if (access(TZ_ZONEINFO_DIR "/Asia/Shanghai", R_OK) != 0) {
        fprintf(stderr, "(no tzdata: skipping libc comparison) ");
        return;
    }
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
        struct tz *z = tz_load(zones[i], NULL, err, sizeof err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(z);
        setenv("TZ", zones[i], 1);
        tzset();
        int mismatches = 0;
        /* 1970 .. 2060 in steps just under 5 days hit every transition era */
        for (int64_t t = 0; t < 2840000000LL; t += 431999) {
            time_t tt = (time_t)t;
            struct tm tm;
            localtime_r(&tt, &tm);
            if (tm.tm_gmtoff != tz_offset(z, t) && mismatches++ < 3)
                fprintf(stderr, "\n%s at %lld: libc %ld, tz %d\n", zones[i], (long long)t,
                        tm.tm_gmtoff, tz_offset(z, t));
        }
        CU_ASSERT_EQUAL(mismatches, 0);
        tz_free(z);
    }
    unsetenv("TZ");
    tzset();
}

/* A zoneinfo dir without the file falls back to the built-in table. */
static void test_builtin(void)
{
    char err[256];
    struct tz *z = tz_load("Asia/Shanghai", "/nonexistent", err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(z);
    CU_ASSERT_EQUAL(tz_offset(z, 1764400000), 28800);
    CU_ASSERT_STRING_EQUAL(tz_name(z), "Asia/Shanghai");
    tz_free(z);
    CU_ASSERT_PTR_NULL(tz_load("Europe/Berlin", "/nonexistent", err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "unknown zone"));
}

/* Corrupt TZif files are refused, never read out of bounds. */
static void test_corrupt(void)
{
    char dir[] = "/tmp/tztestXXXXXX", path[64], err[256];
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/Bad", dir);
    FILE *src = fopen(TZ_ZONEINFO_DIR "/Europe/Berlin", "rb");
    unsigned char buf[8192];
    size_t n = src ? fread(buf, 1, sizeof buf, src) : 0;
    if (src)
        fclose(src);
    if (n == 0) {
        static const unsigned char fake[] = "TZif2";
        memcpy(buf, fake, 5);
        n = 5;
    }
    /* every truncation, and a flipped count */
    for (size_t cut = 0; cut < n; cut += (cut < 64 ? 1 : 97)) {
        FILE *f = fopen(path, "wb");
        fwrite(buf, 1, cut, f);
        fclose(f);
        struct tz *z = tz_load("Bad", dir, err, sizeof err);
        if (z != NULL) {     /* a prefix may be a whole valid v1 file: must still work */
            (void)tz_offset(z, 1764400000);
            tz_free(z);
        }
    }
    if (n > 40) {
        buf[35] ^= 0x7f;     /* timecnt of the v1 header */
        FILE *f = fopen(path, "wb");
        fwrite(buf, 1, n, f);
        fclose(f);
        CU_ASSERT_PTR_NULL(tz_load("Bad", dir, err, sizeof err));
    }
    unlink(path);
    rmdir(dir);
}

int suite_tz(void)
{
    CU_pSuite s = CU_add_suite("tz", NULL, NULL);
    if (s == NULL || CU_add_test(s, "fixed offsets and bad names", test_fixed) == NULL ||
        CU_add_test(s, "POSIX rules", test_posix) == NULL ||
        CU_add_test(s, "TZif agrees with libc", test_tzif_vs_libc) == NULL ||
        CU_add_test(s, "built-in fallback", test_builtin) == NULL ||
        CU_add_test(s, "corrupt files", test_corrupt) == NULL)
        return -1;
    return 0;
}
