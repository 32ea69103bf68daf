/* test_config.c -- the INI reader, the key table and -o overrides. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "support.h"

static char *write_tmp(const char *text)
{
    char *dir = support_tmpdir("cityd-conf");
    char *path = malloc(strlen(dir) + 16);
    sprintf(path, "%s/c.conf", dir);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    free(dir);
    return path;
}

static void drop_tmp(char *path)
{
    unlink(path);
    *strrchr(path, '/') = '\0';
    rmdir(path);
    free(path);
}

static void test_defaults(void)
{
    struct config c;
    config_defaults(&c);
    CU_ASSERT_STRING_EQUAL(c.server_listen, "127.0.0.1:8080");
    CU_ASSERT_EQUAL(c.server_max_body_bytes, 8L * 1024 * 1024);
    CU_ASSERT_STRING_EQUAL(c.redis_url, "embedded");
    CU_ASSERT_STRING_EQUAL(c.redis_data_dir, "var/");
    CU_ASSERT_STRING_EQUAL(c.map_dir, "maps/yantai");
    CU_ASSERT_STRING_EQUAL(c.auth_keys_file, "config/keys.conf");
    CU_ASSERT_TRUE(c.auth_public_read);
    CU_ASSERT_EQUAL(c.clock_mode, CLOCK_WALL);
    CU_ASSERT_EQUAL(c.parking_stale_after_s, 900);
    CU_ASSERT_EQUAL(c.parking_pay_later_s, 259200);
    CU_ASSERT_EQUAL(c.parking_max_session_s, 604800);
    CU_ASSERT_EQUAL(c.parking_phantom_s, 900);
    CU_ASSERT_STRING_EQUAL(c.parking_timezone, "Asia/Shanghai");
    CU_ASSERT_EQUAL(c.transit_stale_after_s, 90);
    CU_ASSERT_EQUAL(c.signals_mode, SIGNALS_ADAPTIVE);
    CU_ASSERT_EQUAL(c.signals_local_control, SIGNALS_PRETIMED);
    char buf[600];
    CU_ASSERT_STRING_EQUAL(config_gtfs_dir(&c, buf, sizeof buf), "maps/yantai/gtfs");
}

static void test_file_ok(void)
{
    char *p = write_tmp("# comment\n[server]\nlisten = 0.0.0.0:9000  # trailing\n"
                        "max_body_bytes = 512KiB\n\n[clock]\nmode=replay\n"
                        "[auth]\npublic_read = no\n[transit]\ngtfs_dir = \"/x/g tfs\"\n");
    struct config c;
    char err[256] = "";
    config_defaults(&c);
    CU_ASSERT_EQUAL(config_load_file(&c, p, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(c.server_listen, "0.0.0.0:9000");
    CU_ASSERT_EQUAL(c.server_max_body_bytes, 512L * 1024);
    CU_ASSERT_EQUAL(c.clock_mode, CLOCK_REPLAY);
    CU_ASSERT_FALSE(c.auth_public_read);
    CU_ASSERT_STRING_EQUAL(c.transit_gtfs_dir, "/x/g tfs");
    drop_tmp(p);
}

/* Each bad file must fail with file, line and key in the message. */
static void test_file_errors(void)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"[server]\nlisten = x\nbogus = 1\n", ":3: server.bogus: unknown key"},
        {"[parking]\n\nstale_after_s = -5\n", ":3: parking.stale_after_s: -5 is out of range"},
        {"[parking]\nstale_after_s = 12abc\n", ":2: parking.stale_after_s: expected an integer"},
        {"[clock]\nmode = fast\n", ":2: clock.mode: expected wall or replay"},
        {"[auth]\npublic_read = maybe\n", ":2: auth.public_read: expected true or false"},
        {"listen = 1\n", ":1: listen: key outside a [section]"},
        {"[server\n", ":1: malformed section header"},
        {"[server]\nlisten\n", ":2: expected key = value"},
        {"[signals]\nmode = smart\n", ":2: signals.mode: expected fixed or adaptive"},
        {"[signals]\nlocal_control = scoot\n",
         ":2: signals.local_control: expected pretimed or actuated, got 'scoot'"},
        {"[server]\nmax_body_bytes = 3 parsecs\n", ":2: server.max_body_bytes: expected a size"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *p = write_tmp(cases[i].text);
        struct config c;
        char err[512] = "";
        config_defaults(&c);
        CU_ASSERT_EQUAL(config_load_file(&c, p, err, sizeof err), -1);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, p));
        if (strstr(err, cases[i].want) == NULL)
            fprintf(stderr, "\ncase %zu: got '%s', want '%s'\n", i, err, cases[i].want);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, cases[i].want));
        drop_tmp(p);
    }
}

static void test_missing_file(void)
{
    struct config c;
    char err[256];
    config_defaults(&c);
    CU_ASSERT_EQUAL(config_load_file(&c, "/nonexistent/cityd.conf", err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/cityd.conf: cannot open"));
}

static void test_set_override(void)
{
    struct config c;
    char err[256];
    config_defaults(&c);
    CU_ASSERT_EQUAL(config_set(&c, "redis.url", "redis://127.0.0.1:7000", "-o", 2, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(c.redis_url, "redis://127.0.0.1:7000");
    CU_ASSERT_EQUAL(config_set(&c, "signals.local_control", "actuated", "-o", 3, err, sizeof err), 0);
    CU_ASSERT_EQUAL(c.signals_local_control, SIGNALS_ACTUATED);
    CU_ASSERT_EQUAL(config_set(&c, "redis.nope", "1", "-o", 4, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(err, "-o:4: redis.nope: unknown key");
    /* A failed set leaves the old value. */
    CU_ASSERT_EQUAL(config_set(&c, "transit.stale_after_s", "0", "-o", 6, err, sizeof err), -1);
    CU_ASSERT_EQUAL(c.transit_stale_after_s, 90);
    char longv[2000];
    memset(longv, 'a', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    CU_ASSERT_EQUAL(config_set(&c, "map.dir", longv, "-o", 8, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(c.map_dir, "maps/yantai");
}

/* The shipped config must load and equal the defaults the contract
 * names (it documents them). */
static void test_shipped_config(void)
{
    struct config c, d;
    char err[256] = "";
    config_defaults(&c);
    config_defaults(&d);
    CU_ASSERT_EQUAL_FATAL(config_load_file(&c, "config/cityd.conf", err, sizeof err), 0);
    CU_ASSERT_EQUAL(memcmp(&c, &d, sizeof c), 0);
}

int suite_config(void)
{
    CU_pSuite s = CU_add_suite("config", NULL, NULL);
    if (s == NULL)
        return -1;
    return !(CU_add_test(s, "defaults match formats.md", test_defaults) &&
             CU_add_test(s, "file with sections, comments, quotes", test_file_ok) &&
             CU_add_test(s, "errors name file, line and key", test_file_errors) &&
             CU_add_test(s, "missing file", test_missing_file) &&
             CU_add_test(s, "-o overrides", test_set_override) &&
             CU_add_test(s, "shipped config equals defaults", test_shipped_config));
}
