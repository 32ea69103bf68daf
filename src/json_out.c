/* json_out.c -- compact JSON serialisation of jansson values (json_out.h).
 *
 * For the small objects most replies are, jansson's own dump costs more
 * than the rest of the reply: a hashtable per call for cycle detection, a
 * formatted pointer per container, a callback per token. This writes the
 * same bytes (tests/unit/test_http.c compares the two) from a stack
 * buffer. */
#include "json_out.h"

#include <stdio.h>
#include <string.h>

#include "text.h"

void json_out_init(struct json_out *o, json_out_sink *sink, void *ctx)
{
    /* Not an initializer: that would zero the whole buffer every reply. */
    o->sink = sink;
    o->ctx = ctx;
    o->err = 0;
    o->len = 0;
}

static void flush(struct json_out *o)
{
    if (o->len > 0 && o->sink(o->ctx, o->buf, o->len) != 0)
        o->err = -1;
    o->len = 0;
}

void json_out_raw(struct json_out *o, const char *s, size_t n)
{
    if (n > sizeof o->buf - o->len) {
        flush(o);
        if (n > sizeof o->buf) {
            if (o->sink(o->ctx, s, n) != 0)
                o->err = -1;
            return;
        }
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

static void put_char(struct json_out *o, char c)
{
    if (o->len == sizeof o->buf)
        flush(o);
    o->buf[o->len++] = c;
}

/* Quote, backslash and control characters escaped (named escapes where
 * JSON has them, else \u00XX), the rest verbatim. */
void json_out_string(struct json_out *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t run = 0;                     /* start of bytes not yet written */
    put_char(o, '"');
    for (size_t i = 0; i < n && o->err == 0;) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            size_t l = text_utf8_seq(s + i, n - i);
            if (l == 0)
                o->err = -1;
            i += l;
            continue;
        }
        if (c >= 0x20 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        json_out_raw(o, s + run, i - run);
        /* \u00XX, or its first two bytes with a named escape */
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        const char *named = strchr("\"\"\\\\\bb\ff\nn\rr\tt", (char)c);
        if (c != 0 && named != NULL)
            esc[1] = named[1];
        json_out_raw(o, esc, esc[1] == 'u' ? 6 : 2);
        run = ++i;
    }
    json_out_raw(o, s + run, n - run);
    put_char(o, '"');
}

static void put_integer(struct json_out *o, json_int_t v)
{
    char tmp[24], *p = tmp + sizeof tmp;
    /* Via unsigned: negating the most negative value would overflow. */
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *--p = '-';
    json_out_raw(o, p, (size_t)(tmp + sizeof tmp - p));
}

/* %.15g as jansson prints reals: always with a '.' or an exponent (so it
 * reads back as a real), exponent without '+' or leading zeros. */
static void put_real(struct json_out *o, double v)
{
    char tmp[48];
    int n = snprintf(tmp, sizeof tmp - 2, "%.*g", JSON_OUT_REAL_DIGITS, v);
    if (n < 0 || (size_t)n >= sizeof tmp - 2) {
        o->err = -1;
        return;
    }
    size_t len = (size_t)n;
    for (char *p = tmp; *p; p++) {
        if (*p == ',')                  /* a locale's decimal comma */
            *p = '.';
    }
    char *e = strchr(tmp, 'e');
    if (e == NULL && strchr(tmp, '.') == NULL) {
        memcpy(tmp + len, ".0", 3);
        len += 2;
    } else if (e != NULL) {
        /* printf's e+05 / e-05 become e5 / e-5 */
        char *to = e + 1 + (e[1] == '-'), *from = e + 2;
        while (*from == '0' && from[1] != '\0')
            from++;
        memmove(to, from, strlen(from) + 1);
        len = strlen(tmp);
    }
    json_out_raw(o, tmp, len);
}

static void put_value(struct json_out *o, const json_t *j, int depth)
{
    if (depth > JSON_OUT_MAX_DEPTH)
        o->err = -1;
    if (o->err != 0)
        return;
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        put_char(o, '{');
        for (void *it = json_object_iter((json_t *)j); it != NULL && o->err == 0;) {
            json_out_string(o, json_object_iter_key(it), json_object_iter_key_len(it));
            put_char(o, ':');
            put_value(o, json_object_iter_value(it), depth + 1);
            it = json_object_iter_next((json_t *)j, it);
            if (it != NULL)
                put_char(o, ',');
        }
        put_char(o, '}');
        break;
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        put_char(o, '[');
        for (size_t i = 0; i < n && o->err == 0; i++) {
            if (i > 0)
                put_char(o, ',');
            put_value(o, json_array_get(j, i), depth + 1);
        }
        put_char(o, ']');
        break;
    }
    case JSON_STRING:
        json_out_string(o, json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER:
        put_integer(o, json_integer_value(j));
        break;
    case JSON_REAL:
        put_real(o, json_real_value(j));
        break;
    case JSON_TRUE:
        json_out_raw(o, "true", 4);
        break;
    case JSON_FALSE:
        json_out_raw(o, "false", 5);
        break;
    case JSON_NULL:
        json_out_raw(o, "null", 4);
        break;
    }
}

void json_out_value(struct json_out *o, const json_t *j)
{
    put_value(o, j, 0);
}

int json_out_finish(struct json_out *o)
{
    flush(o);
    return o->err;
}

int json_out_write(const json_t *j, json_out_sink *sink, void *ctx)
{
    struct json_out o;
    json_out_init(&o, sink, ctx);
    if (!json_is_object(j) && !json_is_array(j))
        return -1;
    json_out_value(&o, j);
    return json_out_finish(&o);
}
