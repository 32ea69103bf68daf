/* dict.h -- string-keyed hash table (open addressing, linear probing).
 *
 * Keys are copied and owned by the dict; values are opaque pointers owned
 * by the caller (dict_free takes an optional destructor for them).
 * Used by domain modules for id -> object lookups. Not thread-safe. */
#ifndef CITYD_DICT_H
#define CITYD_DICT_H

#include <stddef.h>

struct dict;

typedef void dict_free_fn(void *value);

struct dict *dict_new(void);
/* Frees the table and its keys; calls free_value on each value if given. */
void dict_free(struct dict *d, dict_free_fn *free_value);

/* Returns the value for key, or NULL. */
void *dict_get(const struct dict *d, const char *key);
/* Insert or replace. Returns the previous value (or NULL); -1 on OOM is
 * reported through *err when err is non-NULL. */
void *dict_put(struct dict *d, const char *key, void *value, int *err);
/* Remove; returns the removed value or NULL. */
void *dict_del(struct dict *d, const char *key);
size_t dict_size(const struct dict *d);

/* Iteration: start with *pos = 0; returns 0 when done. Order is the
 * table order (unspecified). Do not insert while iterating. */
int dict_next(const struct dict *d, size_t *pos, const char **key, void **value);

#endif
