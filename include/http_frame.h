/* http_frame.h -- where each HTTP/1.1 request in a connection's byte
 * stream begins and ends, read ahead of evhttp's own parser.
 *
 * The HTTP layer feeds it every byte a connection receives before evhttp
 * parses them, from a known request boundary (the connection's start, the
 * end of the previous reply) to the end of the request's head, or for a
 * chunked body to its last chunk. That gives the layer what evhttp
 * (libevent 2.1) does not:
 *   - when a request's head starts and when it is complete (the header
 *     deadline, server.header_timeout_ms);
 *   - requests to refuse before evhttp acts on them: framing a proxy and
 *     evhttp could read differently (two Content-Lengths, Content-Length
 *     with Transfer-Encoding, a coding other than chunked, whitespace
 *     before a colon, folded lines, a body on HEAD or TRACE) -- 400, or
 *     501 for the coding -- and a declared length over max_body -- 413,
 *     at once rather than after reading the body;
 *   - chunk extensions (RFC 9112 7.1.1), which evhttp rejects: the ';'
 *     after a chunk size is rewritten in place to a space, which evhttp
 *     reads as the end of the size.
 * It mirrors evhttp's own reading where that differs from the RFC (lines
 * end in LF or CRLF; a line starting with NUL is empty; the first
 * Transfer-Encoding header counts; sizes are read by strtoll), so the two
 * never disagree about where a request ends. Plain C, no allocation. */
#ifndef CITYD_HTTP_FRAME_H
#define CITYD_HTTP_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_FRAME_PREFIX 96              /* bytes of each line it looks at */
#define HTTP_FRAME_MAX_CHUNK_LINE 4096    /* longer chunk-size lines: 400 */

/* What a call to http_frame_feed saw. */
#define HTTP_FRAME_STARTED 1u             /* the request's first byte */
#define HTTP_FRAME_HEAD_DONE 2u           /* the end of its head */
#define HTTP_FRAME_REJECT 4u              /* refuse it: http_frame_verdict */
#define HTTP_FRAME_IDLE 8u                /* nothing more to follow until the next reset */

struct http_frame {
    uint64_t max_body;
    int state;                            /* private from here on */
    bool started;
    /* the current line */
    size_t len;                           /* bytes so far, LF excluded */
    char line[HTTP_FRAME_PREFIX];
    unsigned lineno;                      /* 0: the request line */
    /* the head */
    bool no_body, malformed, te_chunked, cl_conflict;
    unsigned n_te, n_cl;
    char cl[32];
    /* a chunk-size line, read as strtoll(line, &end, 16) reads it */
    int num;                              /* where in the number */
    bool neg, digits, overflow;
    uint64_t size;
    uint64_t skip;                        /* data bytes left in the chunk */
    /* the verdict */
    int status;
    const char *code, *message;
};

/* Start following a new request (max_body: server.max_body_bytes). */
void http_frame_reset(struct http_frame *f, uint64_t max_body);
/* The next n bytes of the connection; p may be rewritten in place (and
 * nothing else is changed). Returns HTTP_FRAME_* bits. Bytes after a
 * reject or once idle are not looked at. */
unsigned http_frame_feed(struct http_frame *f, char *p, size_t n);
/* True once it has seen the first byte of the request. */
bool http_frame_started(const struct http_frame *f);
/* True while it still follows the request. */
bool http_frame_active(const struct http_frame *f);
/* After HTTP_FRAME_REJECT: the status (400, 413, 501), the API's error
 * code and a message for the client. */
int http_frame_verdict(const struct http_frame *f, const char **code, const char **message);

#endif
