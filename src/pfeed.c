/* pfeed.c -- change feeds split into partitions, polled (see pfeed.h). */
#include "pfeed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "module.h"

const char *reply_field(const struct store_reply *kv, const char *name, size_t *len)
{
    for (size_t i = 0; i + 1 < store_reply_len(kv); i += 2) {
        const char *k = store_reply_str(store_reply_at(kv, i), NULL);
        if (k != NULL && strcmp(k, name) == 0)
            return store_reply_str(store_reply_at(kv, i + 1), len);
    }
    return NULL;
}

const char *pfeed_key(const struct pfeed *f, char *buf, unsigned part)
{
    char what[64];
    snprintf(what, sizeof what, "%s:changes", f->name);
    return keys_part_key(buf, KEY_MAX, part, what);
}

const char *pfeed_seq_key(const struct pfeed *f, char *buf, unsigned part)
{
    char what[64];
    snprintf(what, sizeof what, "%s:seq", f->name);
    return keys_part_key(buf, KEY_MAX, part, what);
}

const char *pfeed_keep(const struct pfeed *f, char *buf)
{
    snprintf(buf, 24, "%ld", f->a->cfg.retention_feed_s);
    return buf;
}

void pfeed_init(struct pfeed *f, struct app *a, struct lifetime *lt, const char *name,
                const char *origin, pfeed_entry_fn *entry, pfeed_after_fn *after,
                pfeed_gap_fn *gap, void *arg)
{
    *f = (struct pfeed){.a = a, .lt = lt, .name = name, .origin = origin, .entry = entry,
                        .after = after, .gap = gap, .arg = arg};
    for (unsigned i = 0; i < KEYS_PARTS; i++)
        f->part[i] = (struct pfeed_part){.f = f, .part = i, .cursor = "0-0"};
}

/* One entry; false on a gap in the numbering. */
static bool feed_entry(struct pfeed_part *fp, const struct store_reply *e)
{
    struct pfeed *f = fp->f;
    const char *id = store_reply_str(store_reply_at(e, 0), NULL);
    const struct store_reply *kv = store_reply_at(e, 1);
    const char *seq = reply_field(kv, "seq", NULL), *origin = reply_field(kv, "origin", NULL);
    if (id == NULL || seq == NULL || atoll(seq) != fp->seq + 1)
        return false;
    fp->seq = atoll(seq);
    snprintf(fp->cursor, sizeof fp->cursor, "%s", id);
    if (origin != NULL && strcmp(origin, f->origin) != 0)
        f->entry(f->arg, fp->part, kv);  /* ours: applied when it was written */
    return true;
}

static void poll_part(struct pfeed_part *fp);

static void poll_done(void *arg, enum store_status st, const struct store_reply *r)
{
    struct pfeed_part *fp = arg;
    struct pfeed *f = fp->f;
    bool more = false;
    fp->polling = false;
    f->polling--;
    if (!lifetime_release(f->lt) || st != STORE_OK || store_reply_type(r) == STORE_R_ERROR ||
        fp->gen != f->gen)
        return;                        /* (read before the heads were: they say more) */
    /* nil: nothing new; else [[key, [[id, [k, v, ...]], ...]]] */
    const struct store_reply *entries = store_reply_at(store_reply_at(r, 0), 1);
    size_t n = store_reply_len(entries);
    for (size_t i = 0; i < n; i++) {
        if (!feed_entry(fp, store_reply_at(entries, i))) {
            if (f->after)
                f->after(f->arg);
            f->gap(f->arg, fp->part);
            return;
        }
    }
    if (f->after && n > 0)
        f->after(f->arg);
    more = n == PFEED_COUNT;
    if (more)
        poll_part(fp);                 /* behind: read on at once */
}

static void poll_part(struct pfeed_part *fp)
{
    struct pfeed *f = fp->f;
    char k[KEY_MAX], count[16];
    snprintf(count, sizeof count, "%d", PFEED_COUNT);
    const char *argv[] = {"XREAD", "COUNT", count, "STREAMS", pfeed_key(f, k, fp->part),
                          fp->cursor};
    fp->polling = true;
    fp->gen = f->gen;
    f->polling++;
    lifetime_hold(f->lt);
    if (store_cmd_argv(f->a->store, poll_done, fp, 6, argv, NULL) != 0) {
        fp->polling = false;
        f->polling--;
        lifetime_release(f->lt);
    }
}

void pfeed_poll(struct pfeed *f)
{
    if (f->polling > 0 || !store_is_up(f->a->store))
        return;
    for (unsigned i = 0; i < KEYS_PARTS; i++)
        poll_part(&f->part[i]);
}

/* The head of partition `id`'s feed. */
static void head_cb(struct restore *r, const char *id, const struct store_reply *reply)
{
    struct pfeed *f = NULL;
    unsigned part = 0;
    sscanf(id, "%p:%u", (void **)&f, &part);
    (void)r;
    if (f == NULL || part >= KEYS_PARTS)
        return;
    struct pfeed_part *fp = &f->part[part];
    const struct store_reply *e = store_reply_at(reply, 0);
    const char *eid = store_reply_str(store_reply_at(e, 0), NULL);
    const char *seq = reply_field(store_reply_at(e, 1), "seq", NULL);
    snprintf(fp->cursor, sizeof fp->cursor, "%s", eid ? eid : "0-0");
    fp->seq = seq ? atoll(seq) : 0;
}

void pfeed_heads(struct pfeed *f, struct restore *r)
{
    char key[KEY_MAX], id[64];
    f->gen++;
    for (unsigned i = 0; i < KEYS_PARTS; i++) {
        const char *head[] = {"XREVRANGE", pfeed_key(f, key, i), "+", "-", "COUNT", "1"};
        snprintf(id, sizeof id, "%p:%u", (void *)f, i);
        if (restore_cmd(r, head_cb, id, 6, head) != 0)
            break;
    }
}

long long pfeed_seq(const struct pfeed *f)
{
    long long s = 0;
    for (unsigned i = 0; i < KEYS_PARTS; i++)
        s += f->part[i].seq;
    return s;
}
