/* http_frame.c -- request framing ahead of evhttp's parser (http_frame.h).
 *
 * Head and trailer lines are found with memchr and only their first
 * HTTP_FRAME_PREFIX bytes kept; a chunk-size line is read a byte at a
 * time, as strtoll(line, &end, 16) would read it, so that the byte at
 * `end` -- the one evhttp requires to be a space or the end -- can be
 * rewritten when it is the ';' of an extension. */
#include "http_frame.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { F_HEAD, F_SIZE, F_DATA, F_TRAILER, F_IDLE, F_REJECTED };

/* Where a chunk-size line's number is, strtoll-wise. */
enum { N_SPACE, N_SIGN, N_ZERO, N_ZERO_X, N_DIGITS, N_END_OK, N_END_CR, N_END_BAD };

static void new_line(struct http_frame *f)
{
    f->len = 0;
    f->num = N_SPACE;
    f->neg = f->digits = f->overflow = false;
    f->size = 0;
}

void http_frame_reset(struct http_frame *f, uint64_t max_body)
{
    memset(f, 0, sizeof *f);
    f->max_body = max_body;
    f->state = F_HEAD;
    new_line(f);
}

bool http_frame_started(const struct http_frame *f)
{
    return f->started;
}

bool http_frame_active(const struct http_frame *f)
{
    return f->state != F_IDLE && f->state != F_REJECTED;
}

int http_frame_verdict(const struct http_frame *f, const char **code, const char **message)
{
    *code = f->code;
    *message = f->message;
    return f->status;
}

static unsigned reject(struct http_frame *f, int status, const char *code, const char *message)
{
    f->state = F_REJECTED;
    f->status = status;
    f->code = code;
    f->message = message;
    return HTTP_FRAME_REJECT;
}

/* The kept prefix of the current line, without a final CR; NULL when the
 * line is empty as evhttp sees it (nothing, or a NUL first). */
static const char *line_text(struct http_frame *f, size_t *len)
{
    size_t n = f->len < HTTP_FRAME_PREFIX ? f->len : HTTP_FRAME_PREFIX - 1;
    if (n > 0 && f->len < HTTP_FRAME_PREFIX && f->line[n - 1] == '\r')
        n--;
    f->line[n] = '\0';
    *len = n;
    return n == 0 || f->line[0] == '\0' ? NULL : f->line;
}

/* The same for a whole line in the caller's bytes (no copy): at most
 * HTTP_FRAME_PREFIX - 1 of them, NUL-terminated in f->line only when
 * the caller's cannot be. */
static const char *line_in_place(struct http_frame *f, const char *p, size_t n, size_t *len)
{
    if (n >= HTTP_FRAME_PREFIX) {
        memcpy(f->line, p, HTTP_FRAME_PREFIX);
        f->len = n;
        return line_text(f, len);
    }
    if (n > 0 && p[n - 1] == '\r')
        n--;
    *len = n;
    return n == 0 || p[0] == '\0' ? NULL : p;
}

/* A header's value (the n bytes at v) as evhttp stores it: leading
 * spaces and trailing whitespace off. */
static void header_value(const char *v, size_t n, char *out, size_t outlen)
{
    while (n > 0 && *v == ' ') {
        v++;
        n--;
    }
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r'))
        n--;
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, v, n);
    out[n] = '\0';
}

static void header_line(struct http_frame *f, const char *text, size_t len)
{
    const char *colon = memchr(text, ':', len);
    size_t name = colon != NULL ? (size_t)(colon - text) : len;
    char value[32];
    /* No whitespace in a name (RFC 9112 5.1): "Content-Length :" is not
     * Content-Length to evhttp, but may be to a proxy. A folded line is
     * a continuation of the last header: refused likewise (5.2). */
    if (text[0] == ' ' || text[0] == '\t' || memchr(text, ' ', name) != NULL ||
        memchr(text, '\t', name) != NULL) {
        f->malformed = true;
        return;
    }
    if (colon == NULL)
        return;
    if (name == 14 && strncasecmp(text, "content-length", 14) == 0) {
        if (f->len >= HTTP_FRAME_PREFIX)
            f->malformed = true;         /* a length longer than a line prefix */
        header_value(colon + 1, len - name - 1, value, sizeof value);
        if (f->n_cl++ == 0)
            memcpy(f->cl, value, sizeof f->cl);
        else if (strcmp(f->cl, value) != 0)
            f->cl_conflict = true;
    } else if (name == 17 && strncasecmp(text, "transfer-encoding", 17) == 0) {
        header_value(colon + 1, len - name - 1, value, sizeof value);
        if (f->n_te++ == 0)
            f->te_chunked = strcasecmp(value, "chunked") == 0 && f->len < HTTP_FRAME_PREFIX;
    }
}

/* Content-Length as evhttp reads it (strtoll, base 10); -1 if invalid. */
static long long declared_length(const char *s)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    return *s == '\0' || *end != '\0' || v < 0 ? -1 : v;
}

static unsigned head_done(struct http_frame *f)
{
    unsigned ev = HTTP_FRAME_HEAD_DONE;
    long long cl = f->n_cl > 0 ? declared_length(f->cl) : 0;
    if (f->malformed)
        return ev | reject(f, 400, "bad_request",
                           "malformed header: whitespace in a name or before its colon, or a "
                           "folded line");
    if (f->n_te > 1)
        return ev | reject(f, 400, "bad_request", "more than one Transfer-Encoding header");
    if (f->n_te > 0 && f->n_cl > 0)
        return ev | reject(f, 400, "bad_request",
                           "both Transfer-Encoding and Content-Length: the length is ambiguous");
    if (f->cl_conflict)
        return ev | reject(f, 400, "bad_request", "Content-Length headers that disagree");
    if (f->n_te > 0 && !f->te_chunked)
        return ev | reject(f, 501, "not_implemented",
                           "unsupported Transfer-Encoding: only chunked is");
    if (f->no_body && (f->n_te > 0 || cl != 0))
        return ev | reject(f, 400, "bad_request", "a HEAD or TRACE request has no body");
    if (cl > 0 && (uint64_t)cl > f->max_body)
        return ev | reject(f, 413, "payload_too_large",
                           "the declared Content-Length is over the server's limit");
    f->state = f->n_te > 0 ? F_SIZE : F_IDLE;
    return ev | (f->state == F_IDLE ? HTTP_FRAME_IDLE : 0);
}

/* A head or trailer line has ended: text (len bytes, CR off) is its
 * kept prefix, NULL when it is empty. */
static unsigned end_line(struct http_frame *f, const char *text, size_t len)
{
    unsigned ev = 0;
    if (f->state == F_TRAILER) {
        if (text == NULL) {
            f->state = F_IDLE;
            ev = HTTP_FRAME_IDLE;
        }
    } else if (f->lineno == 0) {
        f->no_body = text != NULL && ((len >= 5 && memcmp(text, "HEAD ", 5) == 0) ||
                                      (len >= 6 && memcmp(text, "TRACE ", 6) == 0));
    } else if (text == NULL) {
        ev = head_done(f);
    } else {
        header_line(f, text, len);
    }
    f->lineno++;
    new_line(f);
    return ev;
}

/* Bytes of a head or trailer: up to and with the next LF. A line that
 * is all in these bytes is read where it is; one that is not is kept
 * (its prefix) until its end comes. */
static size_t line_bytes(struct http_frame *f, const char *p, size_t n, unsigned *ev)
{
    const char *lf = memchr(p, '\n', n);
    size_t take = lf != NULL ? (size_t)(lf - p) : n, len;
    const char *text;
    if (lf != NULL && f->len == 0) {
        text = line_in_place(f, p, take, &len);
    } else {
        if (f->len < HTTP_FRAME_PREFIX - 1) {
            size_t room = HTTP_FRAME_PREFIX - 1 - f->len;
            memcpy(f->line + f->len, p, take < room ? take : room);
        }
        f->len += take;
        if (lf == NULL)
            return n;
        text = line_text(f, &len);
    }
    *ev |= end_line(f, text, len);
    return take + 1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void add_digit(struct http_frame *f, int d)
{
    f->digits = true;
    if (f->size > (UINT64_MAX >> 4))
        f->overflow = true;
    f->size = (f->size << 4) | (uint64_t)d;
}

/* The number has ended at *c: rewrite an extension's ';' to a space. */
static void end_number(struct http_frame *f, char *c)
{
    if (*c == ';')
        *c = ' ';
    f->num = *c == ' ' ? N_END_OK : *c == '\r' ? N_END_CR : N_END_BAD;
}

/* One byte (not LF) of a chunk-size line. */
static void size_byte(struct http_frame *f, char *c)
{
    int d = hexval(*c);
    switch (f->num) {
    case N_SPACE:
        if (*c == ' ' || (*c >= '\t' && *c <= '\r'))
            return;
        if (*c == '+' || *c == '-') {
            f->neg = *c == '-';
            f->num = N_SIGN;
            return;
        }
        /* fall through */
    case N_SIGN:
        if (d < 0) {
            f->num = N_END_BAD;          /* no digits */
            return;
        }
        add_digit(f, d);
        f->num = d == 0 ? N_ZERO : N_DIGITS;
        return;
    case N_ZERO:
        if (*c == 'x' || *c == 'X') {
            f->num = N_ZERO_X;
            return;
        }
        /* fall through */
    case N_DIGITS:
        if (d >= 0) {
            add_digit(f, d);
            f->num = N_DIGITS;
        } else {
            end_number(f, c);
        }
        return;
    case N_ZERO_X:
        /* "0x" then no hex digit: strtoll ends at the 'x' */
        if (d >= 0) {
            add_digit(f, d);
            f->num = N_DIGITS;
        } else {
            f->num = N_END_BAD;
        }
        return;
    case N_END_CR:
        f->num = N_END_BAD;              /* the CR was not the line's last byte */
        return;
    default:
        return;
    }
}

/* A chunk-size line has ended. */
static unsigned end_size_line(struct http_frame *f)
{
    size_t len;
    bool ok = f->digits && !f->overflow && f->num != N_END_BAD && f->num != N_ZERO_X &&
              (!f->neg || f->size == 0);
    if (line_text(f, &len) == NULL) {
        new_line(f);                     /* evhttp skips empty lines here */
        return 0;
    }
    if (!ok || f->size > f->max_body) {
        f->state = F_IDLE;               /* evhttp refuses it itself */
        return HTTP_FRAME_IDLE;
    }
    f->skip = f->size;
    f->state = f->size == 0 ? F_TRAILER : F_DATA;
    new_line(f);
    return 0;
}

static size_t size_bytes(struct http_frame *f, char *p, size_t n, unsigned *ev)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            *ev |= end_size_line(f);
            return i + 1;
        }
        if (f->len < HTTP_FRAME_PREFIX - 1)
            f->line[f->len] = p[i];
        if (++f->len > HTTP_FRAME_MAX_CHUNK_LINE) {
            *ev |= reject(f, 400, "bad_request", "a chunk-size line over 4 KiB");
            return n;
        }
        size_byte(f, &p[i]);
    }
    return n;
}

unsigned http_frame_feed(struct http_frame *f, char *p, size_t n)
{
    unsigned ev = 0;
    if (n > 0 && f->state == F_HEAD && !f->started) {
        f->started = true;
        ev |= HTTP_FRAME_STARTED;
    }
    for (size_t i = 0; i < n && http_frame_active(f);) {
        size_t k;
        switch (f->state) {
        case F_SIZE:
            i += size_bytes(f, p + i, n - i, &ev);
            break;
        case F_DATA:
            k = n - i < f->skip ? n - i : (size_t)f->skip;
            f->skip -= k;
            i += k;
            if (f->skip == 0)
                f->state = F_SIZE;
            break;
        default:
            i += line_bytes(f, p + i, n - i, &ev);
            break;
        }
    }
    return ev;
}
