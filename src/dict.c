/* dict.c -- open-addressing string hash table (see dict.h).
 *
 * Linear probing with backward-shift deletion, so there are no tombstones
 * and lookups stay short after many deletes. FNV-1a hash. */
#include "dict.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct slot {
    char *key;          /* NULL = empty */
    uint64_t hash;
    void *value;
};

struct dict {
    struct slot *slots;
    size_t cap;         /* power of two */
    size_t used;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

struct dict *dict_new(void)
{
    struct dict *d = calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    d->cap = 16;
    d->slots = calloc(d->cap, sizeof *d->slots);
    if (d->slots == NULL) {
        free(d);
        return NULL;
    }
    return d;
}

void dict_free(struct dict *d, dict_free_fn *free_value)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->cap; i++) {
        if (d->slots[i].key == NULL)
            continue;
        free(d->slots[i].key);
        if (free_value)
            free_value(d->slots[i].value);
    }
    free(d->slots);
    free(d);
}

static size_t find(const struct dict *d, const char *key, uint64_t h)
{
    size_t mask = d->cap - 1;
    size_t i = (size_t)h & mask;
    while (d->slots[i].key != NULL) {
        if (d->slots[i].hash == h && strcmp(d->slots[i].key, key) == 0)
            return i;
        i = (i + 1) & mask;
    }
    return i;
}

static int grow(struct dict *d)
{
    size_t ncap = d->cap * 2;
    struct slot *ns = calloc(ncap, sizeof *ns);
    if (ns == NULL)
        return -1;
    for (size_t i = 0; i < d->cap; i++) {
        if (d->slots[i].key == NULL)
            continue;
        size_t j = (size_t)d->slots[i].hash & (ncap - 1);
        while (ns[j].key != NULL)
            j = (j + 1) & (ncap - 1);
        ns[j] = d->slots[i];
    }
    free(d->slots);
    d->slots = ns;
    d->cap = ncap;
    return 0;
}

void *dict_get(const struct dict *d, const char *key)
{
    size_t i = find(d, key, hash_str(key));
    return d->slots[i].key ? d->slots[i].value : NULL;
}

void *dict_put(struct dict *d, const char *key, void *value, int *err)
{
    if (err)
        *err = 0;
    uint64_t h = hash_str(key);
    size_t i = find(d, key, h);
    if (d->slots[i].key != NULL) {
        void *old = d->slots[i].value;
        d->slots[i].value = value;
        return old;
    }
    if ((d->used + 1) * 4 > d->cap * 3) {
        if (grow(d) != 0)
            goto oom;
        i = find(d, key, h);
    }
    char *k = strdup(key);
    if (k == NULL)
        goto oom;
    d->slots[i].key = k;
    d->slots[i].hash = h;
    d->slots[i].value = value;
    d->used++;
    return NULL;
oom:
    if (err)
        *err = -1;
    return NULL;
}

void *dict_del(struct dict *d, const char *key)
{
    size_t mask = d->cap - 1;
    size_t i = find(d, key, hash_str(key));
    if (d->slots[i].key == NULL)
        return NULL;
    void *old = d->slots[i].value;
    free(d->slots[i].key);
    d->slots[i].key = NULL;
    d->used--;
    /* Backward-shift: move later entries of the probe run into the gap
     * when their home slot is at or before it. */
    size_t gap = i;
    for (size_t j = (i + 1) & mask; d->slots[j].key != NULL; j = (j + 1) & mask) {
        size_t home = (size_t)d->slots[j].hash & mask;
        size_t dist_j = (j - home) & mask;
        size_t dist_gap = (gap - home) & mask;
        if (dist_gap <= dist_j) {
            d->slots[gap] = d->slots[j];
            d->slots[j].key = NULL;
            gap = j;
        }
    }
    return old;
}

size_t dict_size(const struct dict *d)
{
    return d->used;
}

int dict_next(const struct dict *d, size_t *pos, const char **key, void **value)
{
    while (*pos < d->cap) {
        const struct slot *s = &d->slots[(*pos)++];
        if (s->key != NULL) {
            if (key)
                *key = s->key;
            if (value)
                *value = s->value;
            return 1;
        }
    }
    return 0;
}
