/* slotbatch.c -- a write of many objects as one transaction per Redis
 * Cluster slot (see slotbatch.h). */
#include "slotbatch.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"

struct group {
    unsigned slot;
    struct store_batch *b;
    size_t *tags, n, cap;
};

struct slotbatch {
    struct group *g;
    size_t ng, capg, count;
    int32_t *by_slot;                  /* slot -> group + 1 (allocated on first use) */
    /* while sent */
    size_t waiting;
    slotbatch_item_fn *item;
    slotbatch_done_fn *done;
    void *arg;
};

struct sent {
    struct slotbatch *sb;
    size_t group;
};

struct slotbatch *slotbatch_new(void)
{
    return calloc(1, sizeof(struct slotbatch));
}

void slotbatch_free(struct slotbatch *sb)
{
    if (sb == NULL)
        return;
    for (size_t i = 0; i < sb->ng; i++) {
        store_batch_free(sb->g[i].b);
        free(sb->g[i].tags);
    }
    free(sb->g);
    free(sb->by_slot);
    free(sb);
}

/* The group of `slot`, made if new; NULL on OOM. */
static struct group *group_of(struct slotbatch *sb, unsigned slot)
{
    if (sb->by_slot == NULL && (sb->by_slot = calloc(KEYS_SLOTS, sizeof *sb->by_slot)) == NULL)
        return NULL;
    if (sb->by_slot[slot] > 0)
        return &sb->g[sb->by_slot[slot] - 1];
    if (sb->ng == sb->capg) {
        size_t cap = sb->capg ? 2 * sb->capg : 8;
        struct group *g = realloc(sb->g, cap * sizeof *g);
        if (g == NULL)
            return NULL;
        sb->g = g;
        sb->capg = cap;
    }
    struct group *g = &sb->g[sb->ng];
    *g = (struct group){.slot = slot, .b = store_batch_new()};
    if (g->b == NULL)
        return NULL;
    sb->by_slot[slot] = (int32_t)++sb->ng;
    return g;
}

static int tag_push(struct group *g, size_t tag)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 4;
        size_t *t = realloc(g->tags, cap * sizeof *t);
        if (t == NULL)
            return -1;
        g->tags = t;
        g->cap = cap;
    }
    g->tags[g->n++] = tag;
    return 0;
}

static unsigned arg_slot(const char *const *argv, const size_t *lens, int i)
{
    return keys_slot(argv[i], lens ? lens[i] : strlen(argv[i]));
}

/* The group for a command with keys argv[first .. first + nkeys), or NULL
 * when they span slots (or OOM). No key: slot 0. */
static struct group *group_for(struct slotbatch *sb, const char **argv, const size_t *lens,
                               int first, int nkeys)
{
    unsigned slot = nkeys > 0 ? arg_slot(argv, lens, first) : 0;
    for (int i = first + 1; i < first + nkeys; i++)
        if (arg_slot(argv, lens, i) != slot)
            return NULL;
    return group_of(sb, slot);
}

int slotbatch_script(struct slotbatch *sb, size_t tag, const struct store_script *sc,
                     int nkeys, int argc, const char **argv, const size_t *lens)
{
    if (nkeys < 0 || nkeys > argc)
        return -1;
    struct group *g = group_for(sb, argv, lens, 0, nkeys);
    if (g == NULL || tag_push(g, tag) != 0)
        return -1;
    if (store_batch_script(g->b, sc, nkeys, argc, argv, lens) != 0) {
        g->n--;
        return -1;
    }
    sb->count++;
    return 0;
}

int slotbatch_add_argv(struct slotbatch *sb, size_t tag, int argc, const char **argv,
                       const size_t *lens)
{
    struct group *g = group_for(sb, argv, lens, 1, argc > 1 ? 1 : 0);
    if (g == NULL || tag_push(g, tag) != 0)
        return -1;
    if (store_batch_add_argv(g->b, argc, argv, lens) != 0) {
        g->n--;
        return -1;
    }
    sb->count++;
    return 0;
}

size_t slotbatch_count(const struct slotbatch *sb)
{
    return sb->count;
}

size_t slotbatch_groups(const struct slotbatch *sb)
{
    return sb->ng;
}

/* One group's outcome to the caller, command by command. */
static void group_report(struct slotbatch *sb, struct group *g, enum store_status st,
                         const struct store_reply *r)
{
    bool ok = st == STORE_OK && store_reply_type(r) == STORE_R_ARRAY &&
              store_reply_len(r) == g->n;
    for (size_t i = 0; i < g->n; i++)
        sb->item(sb->arg, g->tags[i], st, ok ? store_reply_at(r, i) : r, ok);
}

static void finish_one(struct slotbatch *sb)
{
    if (--sb->waiting > 0)
        return;
    if (sb->done)
        sb->done(sb->arg);
    slotbatch_free(sb);
}

static void group_done(void *arg, enum store_status st, const struct store_reply *r)
{
    struct sent *s = arg;
    struct slotbatch *sb = s->sb;
    struct group *g = &sb->g[s->group];
    free(s);
    g->b = NULL;                       /* the store freed it */
    if (sb->item)
        group_report(sb, g, st, r);
    finish_one(sb);
}

/* A group that could not be sent (OOM) answers as not sent, from the
 * callback of an empty batch so that nothing calls back from inside
 * slotbatch_send. */
static void unsent_done(void *arg, enum store_status st, const struct store_reply *r)
{
    struct sent *s = arg;
    struct slotbatch *sb = s->sb;
    (void)st;
    (void)r;
    if (sb->item)
        group_report(sb, &sb->g[s->group], STORE_DOWN, NULL);
    free(s);
    finish_one(sb);
}

int slotbatch_send(struct store *s, struct slotbatch *sb, slotbatch_item_fn *item,
                   slotbatch_done_fn *done, void *arg)
{
    if (sb->ng == 0 && group_of(sb, 0) == NULL) {
        slotbatch_free(sb);
        return -1;
    }
    sb->item = item;
    sb->done = done;
    sb->arg = arg;
    sb->waiting = 1;                   /* held until every group is out */
    size_t sent = 0;
    for (size_t i = 0; i < sb->ng; i++) {
        struct sent *c = malloc(sizeof *c);
        struct store_batch *b = sb->g[i].b;
        if (c != NULL) {
            *c = (struct sent){sb, i};
            sb->waiting++;
            if (store_batch_send(s, b, group_done, c) == 0) {
                sent++;
                continue;
            }
            sb->g[i].b = NULL;         /* freed by store_batch_send */
            struct store_batch *e = store_batch_new();
            if (e != NULL && store_batch_send(s, e, unsent_done, c) == 0)
                continue;
            free(c);
            sb->waiting--;
        }
        if (sent == 0 && i == 0) {
            slotbatch_free(sb);
            return -1;
        }
        /* later groups left unreported would leave the caller waiting:
         * report them as not sent at the end (done still comes) */
    }
    finish_one(sb);
    return 0;
}
