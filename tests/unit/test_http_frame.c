/* test_http_frame.c -- request framing ahead of evhttp (http_frame.h):
 * every input fed whole and split at every byte must give the same
 * events, verdicts and rewritten bytes. (The same requests go through a
 * real server in test_http.c.) */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_frame.h"

struct run {
    unsigned ev;                       /* every bit seen */
    size_t head_at;                    /* bytes fed when HEAD_DONE came, or 0 */
    size_t idle_at;                    /* ... IDLE */
    int status;
    char out[8192];                    /* the bytes after rewriting */
};

/* Feed s in pieces of `step` bytes (0: whole). */
static void run(const char *s, size_t step, uint64_t max_body, struct run *r)
{
    struct http_frame f;
    size_t n = strlen(s);
    memset(r, 0, sizeof *r);
    memcpy(r->out, s, n + 1);
    http_frame_reset(&f, max_body);
    for (size_t i = 0; i < n;) {
        size_t k = step == 0 || step > n - i ? n - i : step;
        unsigned ev = http_frame_feed(&f, r->out + i, k);
        i += k;
        if ((ev & HTTP_FRAME_HEAD_DONE) && r->head_at == 0)
            r->head_at = i;
        if ((ev & HTTP_FRAME_IDLE) && r->idle_at == 0)
            r->idle_at = i;
        r->ev |= ev;
    }
    const char *code, *msg;
    r->status = (r->ev & HTTP_FRAME_REJECT) ? http_frame_verdict(&f, &code, &msg) : 0;
}

/* Whole and split at every position alike; returns the whole run. */
static struct run check(const char *s, uint64_t max_body)
{
    struct run whole, part;
    run(s, 0, max_body, &whole);
    for (size_t step = 1; step < 8; step++) {
        run(s, step, max_body, &part);
        CU_ASSERT_EQUAL(part.ev, whole.ev);
        CU_ASSERT_EQUAL(part.status, whole.status);
        CU_ASSERT_STRING_EQUAL(part.out, whole.out);
        if (part.ev != whole.ev || part.status != whole.status)
            fprintf(stderr, "\n  step %zu differs on: %s\n", step, s);
    }
    return whole;
}

static void test_plain_requests(void)
{
    const char *get = "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\nGET /next";
    struct run r = check(get, 1024);
    CU_ASSERT_EQUAL(r.ev, HTTP_FRAME_STARTED | HTTP_FRAME_HEAD_DONE | HTTP_FRAME_IDLE);
    CU_ASSERT_EQUAL(r.head_at, strlen(get));   /* whole feed: at its end */
    struct run bytewise;
    run(get, 1, 1024, &bytewise);
    CU_ASSERT_EQUAL(bytewise.head_at, strlen("GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"));
    /* LF-only lines, a body by length, the same length twice */
    r = check("POST /a HTTP/1.1\nContent-Length: 2\ncontent-length:  2 \n\n{}", 1024);
    CU_ASSERT_EQUAL(r.ev, HTTP_FRAME_STARTED | HTTP_FRAME_HEAD_DONE | HTTP_FRAME_IDLE);
    /* an unfinished head */
    r = check("GET / HTTP/1.1\r\nHost: x\r\n", 1024);
    CU_ASSERT_EQUAL(r.ev, HTTP_FRAME_STARTED);
    /* HEAD with Content-Length: 0 is fine */
    r = check("HEAD / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 1024);
    CU_ASSERT_EQUAL(r.status, 0);
}

static void test_refused(void)
{
    struct { const char *req; int status; } cases[] = {
        {"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
         400},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 501},
        {"POST / HTTP/1.1\r\nContent-Length : 2\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nContent Length: 2\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nX-A: 1\r\n\tContent-Length: 2\r\n\r\n", 400},
        {"HEAD / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", 400},
        {"TRACE / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"PUT / HTTP/1.1\r\nContent-Length: 1025\r\n\r\n", 413},
        {"PUT / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413},
        {"PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n", 413},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct run r = check(cases[i].req, 1024);
        CU_ASSERT_EQUAL(r.status, cases[i].status);
        CU_ASSERT(r.ev & HTTP_FRAME_HEAD_DONE);
        if (r.status != cases[i].status)
            fprintf(stderr, "\n  case %zu: %d\n", i, r.status);
    }
    /* At the limit, or a length evhttp will refuse itself: not ours. */
    CU_ASSERT_EQUAL(check("PUT / HTTP/1.1\r\nContent-Length: 1024\r\n\r\n", 1024).status, 0);
    CU_ASSERT_EQUAL(check("PUT / HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 1024).status, 0);
}

static void test_chunks(void)
{
    const char *req = "PUT / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"
                      "7;ext=1\r\n{\"a\":1}\r\n"
                      "3 ; q=\"a;b\"\r\n;;;\r\n"
                      "a;x\r\n0123456789\r\n"
                      "0;last\r\nX-T: 1\r\n\r\n"
                      "GET /next HTTP/1.1\r\n\r\n";
    struct run r = check(req, 1024);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT(r.ev & HTTP_FRAME_IDLE);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "\r\n7 ext=1\r\n{\"a\":1}\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "\r\n3 ; q=\"a;b\"\r\n;;;\r\n"));  /* data untouched */
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "\r\na x\r\n0123456789\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "\r\n0 last\r\nX-T: 1\r\n\r\nGET /next"));
    CU_ASSERT_EQUAL(r.idle_at, strlen(req));
    struct run b;
    run(req, 1, 1024, &b);
    CU_ASSERT_EQUAL(b.idle_at, strlen(req) - strlen("GET /next HTTP/1.1\r\n\r\n"));
    /* "0x;" ends at the x for strtoll: left alone, evhttp refuses it */
    r = check("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x;a\r\n", 1024);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "0x;a"));
    CU_ASSERT(r.ev & HTTP_FRAME_IDLE);
    /* a chunk-size line without end */
    char *big = malloc(6000);
    strcpy(big, "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5");
    memset(big + strlen(big), ' ', 5000);
    big[5046] = '\0';
    r = check(big, 1024);
    CU_ASSERT_EQUAL(r.status, 400);
    free(big);
}

int suite_http_frame(void)
{
    CU_pSuite s = CU_add_suite("http_frame", NULL, NULL);
    if (s == NULL)
        return -1;
    return !(CU_add_test(s, "plain requests", test_plain_requests) &&
             CU_add_test(s, "refused framing", test_refused) &&
             CU_add_test(s, "chunk extensions rewritten", test_chunks));
}
