/* utf8.h -- strict UTF-8 checks shared by the HTTP layer and the JSON
 * writer: one definition of "valid" (no overlongs, no surrogates, nothing
 * above U+10FFFF) for request paths, query values and reply strings. */
#ifndef CITYD_UTF8_H
#define CITYD_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length (1..4) of the valid UTF-8 sequence at s, with n bytes left;
 * 0 if the bytes there are not valid UTF-8. n must be at least 1. */
size_t utf8_seq(const unsigned char *s, size_t n);
/* True when the NUL-terminated s is valid UTF-8. */
bool utf8_valid(const char *s);
/* Replace each byte that is not part of valid UTF-8 by '?', in place, so
 * any text (a parser message quoting its input) fits in a JSON string. */
void utf8_sanitize(char *s);

#endif
