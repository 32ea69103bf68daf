/* errbuf.h -- the message half of the project's error convention: a
 * function that fails writes what went wrong into the caller's
 * (char *err, size_t errlen) buffer and returns -1. One helper, so every
 * module formats (and truncates) its messages the same way. */
#ifndef CITYD_ERRBUF_H
#define CITYD_ERRBUF_H

#include <stddef.h>

/* printf into err (when err is not NULL and errlen > 0, truncated to
 * fit); always returns -1, so a failure reads `return errbuf_fail(...)`. */
int errbuf_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
