/* text.c -- the string rule for outside input (see text.h): one UTF-8
 * decoder step shared by the validity test and the message sanitiser. */
#include "text.h"

#include <stdio.h>
#include <string.h>

size_t text_utf8_seq(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned c = s[0], cp, min;
    size_t len;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    cp = c & (0x7Fu >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

bool text_utf8_valid(const char *s, size_t n)
{
    for (size_t i = 0, l; i < n; i += l)
        if ((l = text_utf8_seq(s + i, n - i)) == 0)
            return false;
    return true;
}

int text_check(const char *field, const char *s, size_t n, size_t size, char *err,
               size_t errlen)
{
    if (n >= size)
        snprintf(err, errlen, "%s: longer than %zu bytes", field, size - 1);
    else if (memchr(s, '\0', n) != NULL)
        snprintf(err, errlen, "%s: contains a NUL byte", field);
    else if (!text_utf8_valid(s, n))
        snprintf(err, errlen, "%s: not valid UTF-8", field);
    else
        return 0;
    return -1;
}

int text_check_id(const char *field, const char *s, size_t n, size_t size, char *err,
                  size_t errlen)
{
    if (n == 0) {
        snprintf(err, errlen, "%s: empty", field);
        return -1;
    }
    if (text_check(field, s, n, size, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
            snprintf(err, errlen, "%s: contains a control character", field);
            return -1;
        }
    return 0;
}

void text_sanitize(char *s)
{
    unsigned char *u = (unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0, l; i < n; i += l) {
        l = text_utf8_seq(s + i, n - i);
        if (l == 0 || u[i] < 0x20 || u[i] == 0x7f) {
            u[i] = '?';
            l = 1;
        }
    }
}
