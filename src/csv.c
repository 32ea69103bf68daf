/* csv.c -- streaming RFC 4180 reader (see csv.h).
 *
 * A small state machine over a byte source with one byte of look-ahead.
 * Fields of the current record are stored NUL-terminated, back to back,
 * in one growing buffer; an offsets array points into it. Being lenient
 * where real feeds are sloppy (LF or lone CR line ends, a stray quote
 * inside an unquoted field is kept as text) and strict where data would
 * otherwise be lost silently (text after a closing quote, a quote that
 * never closes, NUL bytes, runaway records, UTF-16). Text encoding is
 * otherwise the caller's business (gtfs.c checks what it keeps). */
#include "csv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define CSV_CHUNK 65536

struct csv {
    char name[256];
    FILE *fp;                     /* owned; NULL for memory input */
    const unsigned char *mem;     /* memory input, not owned */
    size_t mem_len, mem_pos;
    unsigned char *chunk;         /* file read buffer (owned) */
    size_t chunk_len, chunk_pos;
    int peeked;                   /* look-ahead byte, -2 = none */
    unsigned char pend[3];        /* bytes read while checking for a BOM */
    int npend;                    /* (a stack: last element comes first) */
    bool at_start;                /* BOM check pending */
    bool utf16;                   /* starts with a UTF-16 BOM: refused */
    bool done;
    char sep;
    long line;                    /* physical line of the next byte */
    long rec_line;                /* line where the current record began */

    char *buf;                    /* field bytes of the current record */
    size_t buf_len, buf_cap;
    size_t *offs;                 /* field start offsets into buf */
    size_t nfields, offs_cap;

    char **cols;                  /* header names (owned) */
    size_t ncols;
};

static struct csv *csv_alloc(const char *name)
{
    struct csv *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    snprintf(c->name, sizeof c->name, "%s", name ? name : "(memory)");
    c->peeked = -2;
    c->at_start = true;
    c->sep = ',';
    c->line = 1;
    return c;
}

struct csv *csv_open(const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct csv *c = csv_alloc(path);
    unsigned char *chunk = malloc(CSV_CHUNK);
    if (c == NULL || chunk == NULL) {
        free(c);
        free(chunk);
        fclose(fp);
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    c->fp = fp;
    c->chunk = chunk;
    return c;
}

struct csv *csv_open_mem(const char *buf, size_t len, const char *name)
{
    struct csv *c = csv_alloc(name);
    if (c == NULL)
        return NULL;
    c->mem = (const unsigned char *)buf;
    c->mem_len = len;
    return c;
}

void csv_free(struct csv *c)
{
    if (c == NULL)
        return;
    if (c->fp)
        fclose(c->fp);
    free(c->chunk);
    free(c->buf);
    free(c->offs);
    for (size_t i = 0; i < c->ncols; i++)
        free(c->cols[i]);
    free(c->cols);
    free(c);
}

void csv_set_separator(struct csv *c, char sep)
{
    c->sep = sep;
}

/* Next raw byte, or -1 at end of input. */
static int raw_byte(struct csv *c)
{
    if (c->fp == NULL)
        return c->mem_pos < c->mem_len ? c->mem[c->mem_pos++] : -1;
    if (c->chunk_pos == c->chunk_len) {
        c->chunk_len = fread(c->chunk, 1, CSV_CHUNK, c->fp);
        c->chunk_pos = 0;
        if (c->chunk_len == 0)
            return -1;
    }
    return c->chunk[c->chunk_pos++];
}

/* At the start of input, read up to three bytes: a UTF-8 BOM is dropped,
 * anything else is queued to be returned as data. A UTF-16 BOM (FF FE or
 * FE FF: its second byte is read too) is noted, for csv_next to refuse. */
static void check_bom(struct csv *c)
{
    c->at_start = false;
    int n = 0;
    unsigned char b[3];
    for (; n < 3; n++) {
        int x = raw_byte(c);
        if (x < 0)
            break;
        b[n] = (unsigned char)x;
        bool utf16_lead = n == 0 && (b[0] == 0xFF || b[0] == 0xFE);
        if (b[n] != (unsigned char)"\xEF\xBB\xBF"[n] && !utf16_lead) {
            n++;
            break;
        }
    }
    if (n == 3 && memcmp(b, "\xEF\xBB\xBF", 3) == 0)
        return;
    c->utf16 = n >= 2 && ((b[0] == 0xFF && b[1] == 0xFE) || (b[0] == 0xFE && b[1] == 0xFF));
    for (int i = n - 1; i >= 0; i--)
        c->pend[c->npend++] = b[i];
}

static int get_byte(struct csv *c)
{
    if (c->peeked != -2) {
        int b = c->peeked;
        c->peeked = -2;
        return b;
    }
    if (c->at_start)
        check_bom(c);
    if (c->npend > 0)
        return c->pend[--c->npend];
    return raw_byte(c);
}

static int peek_byte(struct csv *c)
{
    if (c->peeked == -2)
        c->peeked = get_byte(c);
    return c->peeked;
}

static int fail(struct csv *c, char *err, size_t errlen, long line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fail(struct csv *c, char *err, size_t errlen, long line, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s:%ld: %s", c->name, line, msg);
    c->done = true;
    return -1;
}

static int buf_put(struct csv *c, char ch)
{
    if (c->buf_len == c->buf_cap) {
        size_t cap = c->buf_cap ? c->buf_cap * 2 : 256;
        char *nb = realloc(c->buf, cap);
        if (nb == NULL)
            return -1;
        c->buf = nb;
        c->buf_cap = cap;
    }
    c->buf[c->buf_len++] = ch;
    return 0;
}

static int field_begin(struct csv *c)
{
    if (c->nfields == c->offs_cap) {
        size_t cap = c->offs_cap ? c->offs_cap * 2 : 16;
        size_t *no = realloc(c->offs, cap * sizeof *no);
        if (no == NULL)
            return -1;
        c->offs = no;
        c->offs_cap = cap;
    }
    c->offs[c->nfields++] = c->buf_len;
    return 0;
}

/* Consume a line end whose first byte b was already read. */
static void eat_eol(struct csv *c, int b)
{
    if (b == '\r' && peek_byte(c) == '\n')
        get_byte(c);
    c->line++;
}

enum field_end { END_SEP, END_EOL, END_EOF, END_ERR };

/* Read one quoted field (opening quote already consumed). */
static enum field_end read_quoted(struct csv *c, char *err, size_t errlen)
{
    long open_line = c->line;
    for (;;) {
        int b = get_byte(c);
        if (b < 0) {
            fail(c, err, errlen, open_line, "quoted field never closed");
            return END_ERR;
        }
        if (b == '"') {
            int n = peek_byte(c);
            if (n == '"') {
                get_byte(c);
            } else {
                b = get_byte(c);
                if (b == c->sep)
                    return END_SEP;
                if (b == '\r' || b == '\n') {
                    eat_eol(c, b);
                    return END_EOL;
                }
                if (b < 0)
                    return END_EOF;
                fail(c, err, errlen, c->line, "unexpected character after closing quote");
                return END_ERR;
            }
        } else if (b == '\r' || b == '\n') {
            /* Embedded line end: kept verbatim, but counted. */
            if (buf_put(c, (char)b) < 0)
                goto oom;
            if (b == '\r' && peek_byte(c) == '\n') {
                get_byte(c);
                if (buf_put(c, '\n') < 0)
                    goto oom;
            }
            c->line++;
            continue;
        } else if (b == 0) {
            fail(c, err, errlen, c->line, "NUL byte in field");
            return END_ERR;
        }
        if (buf_put(c, (char)b) < 0)
            goto oom;
        if (c->buf_len > CSV_MAX_RECORD) {
            fail(c, err, errlen, open_line, "record longer than %u bytes", CSV_MAX_RECORD);
            return END_ERR;
        }
    }
oom:
    fail(c, err, errlen, c->line, "out of memory");
    return END_ERR;
}

static enum field_end read_unquoted(struct csv *c, int b, char *err, size_t errlen)
{
    for (;; b = get_byte(c)) {
        if (b < 0)
            return END_EOF;
        if (b == c->sep)
            return END_SEP;
        if (b == '\r' || b == '\n') {
            eat_eol(c, b);
            return END_EOL;
        }
        if (b == 0) {
            fail(c, err, errlen, c->line, "NUL byte in field");
            return END_ERR;
        }
        if (buf_put(c, (char)b) < 0 || c->buf_len > CSV_MAX_RECORD) {
            fail(c, err, errlen, c->rec_line, "record too long or out of memory");
            return END_ERR;
        }
    }
}

int csv_next(struct csv *c, char *err, size_t errlen)
{
    c->nfields = 0;
    c->buf_len = 0;
    if (c->done)
        return 0;
    /* Skip blank lines between records. */
    int b;
    while ((b = get_byte(c)) == '\r' || b == '\n')
        eat_eol(c, b);
    if (b < 0) {
        c->done = true;
        return 0;
    }
    if (c->utf16)
        return fail(c, err, errlen, 1, "UTF-16 text, not UTF-8: convert the file, e.g. "
                    "iconv -f UTF-16 -t UTF-8");
    c->rec_line = c->line;
    for (;;) {
        if (field_begin(c) < 0)
            return fail(c, err, errlen, c->line, "out of memory");
        enum field_end e = b == '"' ? read_quoted(c, err, errlen)
                                    : read_unquoted(c, b, err, errlen);
        if (e == END_ERR)
            return -1;
        if (buf_put(c, '\0') < 0)
            return fail(c, err, errlen, c->line, "out of memory");
        if (e == END_EOF) {
            c->done = true;
            return 1;
        }
        if (e == END_EOL)
            return 1;
        b = get_byte(c);
        if (b < 0 || b == '\r' || b == '\n') {
            /* Separator right before a line end: one more empty field. */
            if (field_begin(c) < 0 || buf_put(c, '\0') < 0)
                return fail(c, err, errlen, c->line, "out of memory");
            if (b < 0)
                c->done = true;
            else
                eat_eol(c, b);
            return 1;
        }
    }
}

size_t csv_nfields(const struct csv *c)
{
    return c->nfields;
}

const char *csv_get(const struct csv *c, int i)
{
    if (i < 0 || (size_t)i >= c->nfields)
        return "";
    return c->buf + c->offs[i];
}

long csv_line(const struct csv *c)
{
    return c->rec_line;
}

const char *csv_name(const struct csv *c)
{
    return c->name;
}

static char *dup_trimmed(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

int csv_read_header(struct csv *c, char *err, size_t errlen)
{
    int rc = csv_next(c, err, errlen);
    if (rc != 1)
        return rc;
    c->cols = calloc(c->nfields, sizeof *c->cols);
    if (c->cols == NULL)
        return fail(c, err, errlen, c->rec_line, "out of memory");
    for (size_t i = 0; i < c->nfields; i++) {
        c->cols[i] = dup_trimmed(csv_get(c, (int)i));
        if (c->cols[i] == NULL)
            return fail(c, err, errlen, c->rec_line, "out of memory");
        c->ncols = i + 1;
    }
    return 1;
}

int csv_col(const struct csv *c, const char *name)
{
    for (size_t i = 0; i < c->ncols; i++)
        if (strcmp(c->cols[i], name) == 0)
            return (int)i;
    return -1;
}

size_t csv_ncols(const struct csv *c)
{
    return c->ncols;
}
