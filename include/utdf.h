/* utdf.h -- intersection loads in the UTDF volume CSV layout (formats.md).
 *
 *   DATE,TIME,INTID,NBL,NBT,NBR,SBL,SBT,SBR,EBL,EBT,EBR,WBL,WBT,WBR
 *
 * one row per intersection per interval: DATE MM/DD/YYYY, TIME HHMM (the
 * start of the interval; also `="0815"`, as spreadsheets are kept from
 * eating the zero, or HH:MM), vehicle counts per movement, `*` or empty for
 * a movement that is not detected. Title lines before the header and
 * trailing commas are what real exports (Synchro) contain and are accepted.
 *
 * Times stay local wall-clock times (the file carries no zone): they are
 * kept as minutes since 1970-01-01 00:00 of that clock. Every problem is
 * reported as "file:line: what" and fails the whole read: a half-read
 * loads file would be a silent wrong result.
 *
 * Used by citysim (sim/loads.c); plain C, no I/O beyond reading the file. */
#ifndef CITYD_UTDF_H
#define CITYD_UTDF_H

#include <stddef.h>
#include <stdint.h>

#include "sim.h"

#define UTDF_ID_MAX 127                /* intersection ids, like map ids */
#define UTDF_DEFAULT_INTERVAL_S 900    /* when a file has a single interval */

struct utdf_row {
    char intid[UTDF_ID_MAX + 1];
    int64_t minute;                    /* local minutes since 1970-01-01 */
    double counts[SIM_NMOV];           /* -1: not detected */
    long line;                         /* physical line in the file */
};

/* A whole file, rows sorted by (intid, minute). Owned by the caller. */
struct utdf {
    char *name;                        /* label of errors (the path) */
    struct utdf_row *rows;
    size_t n;
};

/* Read a file (or a buffer: name labels errors). Returns 0, or -1 with
 * "name:line: message" in err (unknown header, bad date or time, negative
 * or non-numeric count, duplicate intersection/time). */
int utdf_read(const char *path, struct utdf **out, char *err, size_t errlen);
int utdf_read_mem(const char *buf, size_t len, const char *name, struct utdf **out,
                  char *err, size_t errlen);
void utdf_free(struct utdf *u);

/* "MM/DD/YYYY" + "HHMM" | "=\"HHMM\"" | "HH:MM" -> local minutes since
 * 1970. Returns 0, or -1 with the reason in err. */
int utdf_parse_datetime(const char *date, const char *time, int64_t *minute,
                        char *err, size_t errlen);
/* Format local minutes as "MM/DD/YYYY HH:MM" (buf of >= 17 bytes). */
void utdf_format_minute(int64_t minute, char *buf, size_t len);

/* Earliest time in the file (local minutes); 0 when empty. */
int64_t utdf_first_minute(const struct utdf *u);

/* Interval length (s): the shortest step between consecutive rows of one
 * intersection anywhere in the file (UTDF_DEFAULT_INTERVAL_S when every
 * intersection has a single row). One length for the whole file, so a
 * missing row is a gap, not a longer interval. */
double utdf_interval_s(const struct utdf *u);

/* The counts of intersection intid covering [start, start + duration_s)
 * as sim_count intervals with start_s relative to start; an interval that
 * straddles the end is clipped and its counts scaled to the part kept.
 * Every second of the window must be covered: a gap or a file that ends
 * early is an error naming the first missing interval. *out is malloc'd
 * (free it), *n its length. Returns 0 or -1 with err. */
int utdf_counts(const struct utdf *u, const char *intid, int64_t start, double duration_s,
                struct sim_count **out, size_t *n, char *err, size_t errlen);

/* Index of the first row of intid, or -1. */
long utdf_find(const struct utdf *u, const char *intid);

#endif
