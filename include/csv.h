/* csv.h -- streaming RFC 4180 CSV reader.
 *
 * Used for GTFS static feeds and for the simulator's UTDF loads and AVL
 * recordings, so it is general: quoted fields (with "" escapes and
 * embedded separators and newlines), a UTF-8 byte-order mark at the start
 * (a UTF-16 one is an error at line 1 saying how to convert the file),
 * CRLF / LF / lone CR line ends, blank lines skipped, and the physical line
 * number of each record kept so that every problem can be reported as
 * "file:line". Reading is record by record from a FILE (or a memory
 * buffer) with one growing record buffer: memory stays proportional to the
 * longest record, not to the file.
 *
 * Typical use:
 *     struct csv *c = csv_open(path, err, sizeof err);
 *     if (c == NULL || csv_read_header(c, err, sizeof err) != 1) ...
 *     int col = csv_col(c, "stop_id");
 *     while ((rc = csv_next(c, err, sizeof err)) == 1)
 *         use(csv_get(c, col), csv_line(c));
 *     if (rc < 0) ...error in err ("file:line: message")...
 *     csv_free(c);
 *
 * Field pointers stay valid until the next csv_next / csv_free. */
#ifndef CITYD_CSV_H
#define CITYD_CSV_H

#include <stddef.h>
#include <stdio.h>

/* Hard bound on one record, so a file without line ends (or a quote that
 * never closes) cannot make the reader swallow all memory. */
#define CSV_MAX_RECORD (1u << 20)

struct csv;

/* Open a file. name labels errors (the path itself when NULL is passed to
 * csv_open_mem). Returns NULL with a message in err on failure. */
struct csv *csv_open(const char *path, char *err, size_t errlen);
/* Read from memory (not copied: buf must outlive the reader). */
struct csv *csv_open_mem(const char *buf, size_t len, const char *name);
void csv_free(struct csv *c);

/* Field separator (default ','). Call before the first read. */
void csv_set_separator(struct csv *c, char sep);

/* Next record. Returns 1 (a record is available), 0 (end of input) or -1
 * (error: err holds "name:line: message"; the reader is then at end). */
int csv_next(struct csv *c, char *err, size_t errlen);

size_t csv_nfields(const struct csv *c);
/* Field i, or "" when i is negative or past the end of the record (so
 * optional columns need no special casing). */
const char *csv_get(const struct csv *c, int i);
/* Physical line number (1-based) where the current record starts. */
long csv_line(const struct csv *c);
const char *csv_name(const struct csv *c);

/* Read the next record as the header row. Column names are trimmed of
 * surrounding blanks. Returns 1, 0 (empty input) or -1 (error). */
int csv_read_header(struct csv *c, char *err, size_t errlen);
/* Index of a header column, or -1. */
int csv_col(const struct csv *c, const char *name);
size_t csv_ncols(const struct csv *c);

#endif
