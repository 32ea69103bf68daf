/* json_out.h -- a fast compact JSON writer for reply bodies.
 *
 * Writes jansson values byte for byte as json_dumps(JSON_COMPACT |
 * JSON_REAL_PRECISION(15)) would, without jansson's per-call hashtable
 * and per-token callbacks, batching the bytes through a 4 KiB buffer
 * into a sink (the HTTP layer's sink appends to an evbuffer). Fails, like
 * jansson, on a string that is not UTF-8, and on nesting deeper than
 * JSON_OUT_MAX_DEPTH (which is also what a reference cycle becomes). No
 * allocation: a struct json_out lives on the caller's stack. */
#ifndef CITYD_JSON_OUT_H
#define CITYD_JSON_OUT_H

#include <jansson.h>
#include <stddef.h>

#define JSON_OUT_MAX_DEPTH 2048         /* jansson's parser nests no deeper */
#define JSON_OUT_REAL_DIGITS 15         /* %.15g: no binary noise (12.3, not 12.300000000000001) */

/* Where the bytes go: append n bytes; 0, or -1 on failure. */
typedef int json_out_sink(void *ctx, const char *p, size_t n);

struct json_out {
    json_out_sink *sink;
    void *ctx;
    int err;                            /* -1 once anything failed */
    size_t len;
    char buf[4096];
};

/* Start writing to sink (cheap: does not clear the buffer). */
void json_out_init(struct json_out *o, json_out_sink *sink, void *ctx);
/* n bytes verbatim (the caller's own JSON punctuation). */
void json_out_raw(struct json_out *o, const char *s, size_t n);
/* A quoted, escaped JSON string of the n bytes at s (UTF-8). */
void json_out_string(struct json_out *o, const char *s, size_t n);
/* Any jansson value. */
void json_out_value(struct json_out *o, const json_t *j);
/* Hand the rest to the sink; 0, or -1 if anything failed (the sink may
 * then hold part of the output). */
int json_out_finish(struct json_out *o);
/* The whole of j, which must be an object or an array; 0 or -1. */
int json_out_write(const json_t *j, json_out_sink *sink, void *ctx);

#endif
