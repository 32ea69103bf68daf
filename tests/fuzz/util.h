/* util.h -- what the libFuzzer harnesses in tests/fuzz share.
 *
 * Loaders that read files (GTFS folder, map folder, config and keys
 * files) are fuzzed through the files themselves: the harness writes the
 * input into a private temp dir on every run. One fuzz input can hold
 * several files, separated by FUZZ_SEP lines ("the k-th part is the k-th
 * file of the harness's list"), which keeps inputs plain text that the
 * mutator and a dictionary can work on. */
#ifndef CITYD_FUZZ_UTIL_H
#define CITYD_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define FUZZ_SEP "\n--8<--\n"

struct fuzz_part {
    const uint8_t *data;
    size_t len;
};

/* The harness's temp dir, made on first use under $TMPDIR (make fuzz
 * points it into build/fuzz/) and removed at exit. Aborts if it cannot be
 * made: a harness that silently tests nothing is worse than none. */
const char *fuzz_tmpdir(void);

/* Write data to dir/name (replacing it); aborts on an I/O error. Returns
 * the path in a static buffer (valid until the next call). */
const char *fuzz_write(const char *dir, const char *name, const void *data, size_t len);

/* Remove dir/name if it exists. */
void fuzz_unlink(const char *dir, const char *name);

/* Split data at FUZZ_SEP into at most max parts; the last part takes the
 * rest. Returns the number of parts (>= 1). */
size_t fuzz_split(const uint8_t *data, size_t size, struct fuzz_part *parts, size_t max);

/* Write each part i to dir/names[i]; a missing or empty part removes the
 * file instead, so inputs can also test absent files. */
void fuzz_write_parts(const char *dir, const char *const *names, size_t n,
                      const uint8_t *data, size_t size);

#endif
