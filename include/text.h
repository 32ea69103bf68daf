/* text.h -- the rule for every string cityd keeps from outside input.
 *
 * A string taken from a file an operator loads (GTFS, map) or from a
 * message (GTFS-realtime) can end up in any JSON reply, feed, log line or
 * problem list, and jansson refuses to put anything but UTF-8 into a
 * document: one bad byte kept turns a public endpoint into a 500. So one
 * rule decides what may be kept (text_check): valid UTF-8, no NUL byte,
 * and shorter than the buffer or bound it is kept in. Ids, which also go
 * into dictionary keys, log lines and `cityd --check` output, must in
 * addition be non-empty and free of control characters (text_check_id).
 * Nothing is truncated or repaired to fit: a string that breaks the rule
 * is refused, and the caller decides what that costs (an entity, a row, a
 * field). Only messages meant for people are repaired (text_sanitize). */
#ifndef CITYD_TEXT_H
#define CITYD_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Bound for names, headsigns, addresses kept from files: at most 511
 * bytes (170 CJK characters), so a runaway field cannot bloat replies. */
#define TEXT_NAME_SIZE 512

/* s[0..n) is UTF-8 as RFC 3629 and jansson define it: no overlong forms,
 * no surrogates, nothing above U+10FFFF (a NUL byte is valid here). */
bool text_utf8_valid(const char *s, size_t n);

/* Length of the valid UTF-8 sequence at s (n > 0 bytes left), 0 if none. */
size_t text_utf8_seq(const char *s, size_t n);

/* The rule, for s of n bytes going into a buffer of size bytes (so at
 * most size - 1 bytes): returns 0, or -1 with "<field>: <why>" in err. */
int text_check(const char *field, const char *s, size_t n, size_t size, char *err,
               size_t errlen);
/* The rule for ids: text_check, and non-empty, no byte below 0x20, no DEL. */
int text_check_id(const char *field, const char *s, size_t n, size_t size, char *err,
                  size_t errlen);

/* Make a NUL-terminated message printable, in place: every byte that is
 * not part of a valid UTF-8 sequence and every control character becomes
 * '?' (so a message quoting bad input, or cut by snprintf inside a
 * character, can go into a log line or a JSON string). */
void text_sanitize(char *s);

#endif
