/* web.h -- the files of the browser pages, held in memory.
 *
 * cityd serves a handful of static files (its pages from web.dir, and the
 * Debian packages' Leaflet and Chart.js). They are read once, at start,
 * into a table keyed by their path relative to where they were found
 * ("index.html", "leaflet/images/layers.png"); a request can only ever be
 * answered from that table, so no request path reaches the file system
 * (no traversal, no symlink games, no syscalls per request). Each file
 * carries its content type and a strong ETag (a hash of its bytes); a
 * precompressed "<name>.gz" found beside a file (Debian ships them for
 * Leaflet) is kept as its gzip variant with an ETag of its own.
 *
 * Only names made of [A-Za-z0-9._-] not starting with a dot, and only the
 * extensions a page needs (html js css json png svg ico jpg webp woff2
 * txt), are taken; everything else in the directories is skipped.
 * Changes on disk are seen at the next start. Plain C: no HTTP here. */
#ifndef CITYD_WEB_H
#define CITYD_WEB_H

#include <stddef.h>

#define WEB_MAX_FILES 2000
#define WEB_MAX_BYTES (64u << 20)   /* all files together */

struct web_file {
    const char *name;               /* relative path (owned by the table) */
    const char *content_type;       /* static string */
    const unsigned char *data;
    size_t len;
    char etag[24];                  /* "\"<16 hex digits>\"" */
    const unsigned char *gz;        /* gzip variant, or NULL */
    size_t gz_len;
    char gz_etag[28];
};

struct web_files;

struct web_files *web_files_new(void);
void web_files_free(struct web_files *w);

/* Add the files under dir, going at most depth levels down (1: the
 * directory itself only), named prefix + relative path. Returns the
 * number of files added, or -1 with err (directory unreadable, a file
 * that cannot be read, more than WEB_MAX_FILES or WEB_MAX_BYTES, OOM);
 * files added before the error stay. */
int web_files_add_dir(struct web_files *w, const char *prefix, const char *dir, int depth,
                      char *err, size_t errlen);

/* The file named name, or NULL. */
const struct web_file *web_files_get(const struct web_files *w, const char *name);
size_t web_files_count(const struct web_files *w);

/* The content type for a file name by its extension, or NULL when the
 * extension is not one that is served. */
const char *web_content_type(const char *name);

/* Does an If-None-Match header value name etag ("*" does)? */
int web_etag_matches(const char *if_none_match, const char *etag);
/* Does an Accept-Encoding header value accept gzip (not with q=0)? */
int web_accepts_gzip(const char *accept_encoding);

#endif
