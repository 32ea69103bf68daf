/* test_web.c -- the browser pages' file table: what is taken from a
 * directory and what is not, content types, ETags, .gz variants, and the
 * header parsing (If-None-Match, Accept-Encoding). Real files in a temp
 * dir. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support.h"
#include "web.h"

static void put(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
}

static void test_table(void)
{
    char *dir = support_tmpdir("web");
    char sub[512], deeper[600], err[256];
    snprintf(sub, sizeof sub, "%s/images", dir);
    snprintf(deeper, sizeof deeper, "%s/images/deeper", dir);
    CU_ASSERT_EQUAL_FATAL(mkdir(sub, 0700), 0);
    CU_ASSERT_EQUAL_FATAL(mkdir(deeper, 0700), 0);
    put(dir, "index.html", "<!doctype html>");
    put(dir, "app.js", "let a = 1;");
    put(dir, "app.js.gz", "not really gzip, but beside app.js");
    put(dir, ".hidden.js", "secret");
    put(dir, "notes.md", "not a served type");
    put(dir, "x y.js", "a space in the name");
    put(dir, "README", "no extension");
    put(sub, "icon.png", "PNG");
    put(deeper, "too-deep.png", "PNG");
    char link[600];
    snprintf(link, sizeof link, "%s/passwd.txt", dir);
    CU_ASSERT_EQUAL(symlink("/etc/hostname", link), 0);   /* the admin's own link: followed */

    struct web_files *w = web_files_new();
    CU_ASSERT_EQUAL(web_files_add_dir(w, "p/", dir, 2, err, sizeof err), 4);
    CU_ASSERT_EQUAL(web_files_count(w), 4);
    const struct web_file *f = web_files_get(w, "p/index.html");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_STRING_EQUAL(f->content_type, "text/html; charset=utf-8");
    CU_ASSERT_EQUAL(f->len, 15);
    CU_ASSERT_EQUAL(memcmp(f->data, "<!doctype html>", 15), 0);
    CU_ASSERT_PTR_NULL(f->gz);
    CU_ASSERT_EQUAL(strlen(f->etag), 18);
    f = web_files_get(w, "p/app.js");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_STRING_EQUAL(f->content_type, "text/javascript; charset=utf-8");
    CU_ASSERT_PTR_NOT_NULL(f->gz);
    CU_ASSERT_EQUAL(f->gz_len, strlen("not really gzip, but beside app.js"));
    CU_ASSERT_STRING_NOT_EQUAL(f->etag, f->gz_etag);
    CU_ASSERT_PTR_NOT_NULL(web_files_get(w, "p/images/icon.png"));
    CU_ASSERT_PTR_NOT_NULL(web_files_get(w, "p/passwd.txt"));
    CU_ASSERT_PTR_NULL(web_files_get(w, "p/app.js.gz"));
    CU_ASSERT_PTR_NULL(web_files_get(w, "p/.hidden.js"));
    CU_ASSERT_PTR_NULL(web_files_get(w, "p/notes.md"));
    CU_ASSERT_PTR_NULL(web_files_get(w, "p/x y.js"));
    CU_ASSERT_PTR_NULL(web_files_get(w, "p/README"));
    CU_ASSERT_PTR_NULL(web_files_get(w, "p/images/deeper/too-deep.png"));
    CU_ASSERT_PTR_NULL(web_files_get(w, "p/../index.html"));
    CU_ASSERT_PTR_NULL(web_files_get(w, "index.html"));

    /* The ETag follows the bytes: same bytes, same tag; one byte, another. */
    struct web_files *w2 = web_files_new();
    put(dir, "index.html", "<!doctype html>");
    CU_ASSERT_EQUAL(web_files_add_dir(w2, "p/", dir, 1, err, sizeof err), 3);
    CU_ASSERT_STRING_EQUAL(web_files_get(w2, "p/index.html")->etag,
                           web_files_get(w, "p/index.html")->etag);
    put(dir, "index.html", "<!doctype HTML>");
    web_files_free(w2);
    w2 = web_files_new();
    CU_ASSERT_EQUAL(web_files_add_dir(w2, "p/", dir, 1, err, sizeof err), 3);
    CU_ASSERT_STRING_NOT_EQUAL(web_files_get(w2, "p/index.html")->etag,
                               web_files_get(w, "p/index.html")->etag);
    web_files_free(w2);

    /* A missing directory is an error naming it. */
    CU_ASSERT_EQUAL(web_files_add_dir(w, "", "/nonexistent/web", 1, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/web"));
    web_files_free(w);
    support_rmrf(dir);
    free(dir);
}

static void test_types(void)
{
    CU_ASSERT_STRING_EQUAL(web_content_type("a.css"), "text/css; charset=utf-8");
    CU_ASSERT_STRING_EQUAL(web_content_type("a.b.svg"), "image/svg+xml");
    CU_ASSERT_STRING_EQUAL(web_content_type("x.json"), "application/json; charset=utf-8");
    CU_ASSERT_PTR_NULL(web_content_type("x.map"));
    CU_ASSERT_PTR_NULL(web_content_type("x.gz"));
    CU_ASSERT_PTR_NULL(web_content_type("js"));
    CU_ASSERT_PTR_NULL(web_content_type("x.JS.exe"));
}

static void test_etag_match(void)
{
    const char *t = "\"0123456789abcdef\"";
    CU_ASSERT_TRUE(web_etag_matches("\"0123456789abcdef\"", t));
    CU_ASSERT_TRUE(web_etag_matches("W/\"0123456789abcdef\"", t));
    CU_ASSERT_TRUE(web_etag_matches("\"x\", \"0123456789abcdef\" ", t));
    CU_ASSERT_TRUE(web_etag_matches("*", t));
    CU_ASSERT_FALSE(web_etag_matches(NULL, t));
    CU_ASSERT_FALSE(web_etag_matches("", t));
    CU_ASSERT_FALSE(web_etag_matches("\"0123456789abcde\"", t));
    CU_ASSERT_FALSE(web_etag_matches("0123456789abcdef", t));
    CU_ASSERT_FALSE(web_etag_matches("\"0123456789abcdef\"x", t));
}

static void test_gzip(void)
{
    CU_ASSERT_TRUE(web_accepts_gzip("gzip"));
    CU_ASSERT_TRUE(web_accepts_gzip("gzip, deflate, br"));
    CU_ASSERT_TRUE(web_accepts_gzip("br;q=1.0, GZIP;q=0.5"));
    CU_ASSERT_TRUE(web_accepts_gzip("deflate, gzip"));
    CU_ASSERT_FALSE(web_accepts_gzip(NULL));
    CU_ASSERT_FALSE(web_accepts_gzip(""));
    CU_ASSERT_FALSE(web_accepts_gzip("identity"));
    CU_ASSERT_FALSE(web_accepts_gzip("gzip;q=0"));
    CU_ASSERT_FALSE(web_accepts_gzip("gzip; q=0.000"));
    CU_ASSERT_FALSE(web_accepts_gzip("x-gzip2"));
    CU_ASSERT_FALSE(web_accepts_gzip("gzipx"));
}

int suite_web(void)
{
    CU_pSuite s = CU_add_suite("web", NULL, NULL);
    if (s == NULL)
        return -1;
    if (!CU_add_test(s, "table", test_table) || !CU_add_test(s, "types", test_types) ||
        !CU_add_test(s, "etag_match", test_etag_match) || !CU_add_test(s, "gzip", test_gzip))
        return -1;
    return 0;
}
