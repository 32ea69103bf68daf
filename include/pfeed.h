/* pfeed.h -- a change feed split into the KEYS_PARTS partitions (keys.h),
 * polled by every cityd so that processes on one Redis (or Cluster) see
 * each other's writes.
 *
 * Each partition NN has a STREAM cityd:{p:NN}:<name>:changes whose
 * entries carry at least "seq" (numbered by INCR of cityd:{p:NN}:<name>:
 * seq, written by the same script that writes the objects, so an object
 * and its entry commit together) and "origin" (the writing process).
 * Every POLL period one XREAD per partition (no BLOCK: the store shares
 * its connection; one key: one slot) reads what is new; entries of other
 * origins go to the module's entry callback. A gap in a partition's
 * numbering (trimmed past us, Redis lost data, an empty Redis) calls gap:
 * the module rebuilds from Redis, and during that rebuild pfeed_heads
 * sets every cursor to the head of its partition. Order across
 * partitions is not meaningful: an object's entries are all in its
 * partition, in order. */
#ifndef CITYD_PFEED_H
#define CITYD_PFEED_H

#include <stdbool.h>
#include <stddef.h>

#include "keys.h"
#include "store.h"

struct app;
struct lifetime;
struct restore;
struct pfeed;

/* An entry of another process: kv is [field, value, ...]. */
typedef void pfeed_entry_fn(void *arg, unsigned part, const struct store_reply *kv);
/* After the entries of one reply (flush what they changed). */
typedef void pfeed_after_fn(void *arg);
/* A gap in partition part's numbering: resync. */
typedef void pfeed_gap_fn(void *arg, unsigned part);

struct pfeed_part {
    struct pfeed *f;
    unsigned part;
    char cursor[48];                   /* last entry id read */
    long long seq;                     /* its number */
    bool polling;
    unsigned gen;                      /* of the read out */
};

struct pfeed {
    struct app *a;
    struct lifetime *lt;               /* the module's: held by every read */
    const char *name;                  /* "parking", "transit" */
    const char *origin;                /* this process (not copied) */
    pfeed_entry_fn *entry;
    pfeed_after_fn *after;             /* may be NULL */
    pfeed_gap_fn *gap;
    void *arg;
    unsigned polling;                  /* partitions being read */
    unsigned gen;                      /* bumped by pfeed_heads */
    struct pfeed_part part[KEYS_PARTS];
};

#define PFEED_COUNT 1000               /* entries per XREAD */

/* Retention (retention.feed_s). A feed serves processes polling it every
 * POLL period, so it keeps a time, not a count: a writing script's XADD
 * takes PFEED_LUA_TRIM(<its ARGV holding pfeed_keep()>) where a MAXLEN
 * would go, and entries older than that many seconds of Redis's own clock
 * go (whole stream nodes at a time, "~"). Redis's clock whatever
 * clock.mode: the pollers run in real time. A process that falls further
 * behind finds a gap and rebuilds (above). */
#define PFEED_LUA_TRIM(keep_argv)                                                             \
    "'MINID', '~', string.format('%.0f', math.max(0, redis.call('TIME')[1] - " keep_argv      \
    ") * 1000)"
/* The seconds kept, as the scripts' argument (buf of at least 24 bytes). */
const char *pfeed_keep(const struct pfeed *f, char *buf);

void pfeed_init(struct pfeed *f, struct app *a, struct lifetime *lt, const char *name,
                const char *origin, pfeed_entry_fn *entry, pfeed_after_fn *after,
                pfeed_gap_fn *gap, void *arg);
/* Read every partition once, unless a previous poll is still out. */
void pfeed_poll(struct pfeed *f);
/* In a restore step: read each partition's head into its cursor. */
void pfeed_heads(struct pfeed *f, struct restore *r);
/* Sum of the partitions' numbers (for logs). */
long long pfeed_seq(const struct pfeed *f);
/* cityd:{p:NN}:<name>:changes and :seq, for the writing scripts. */
const char *pfeed_key(const struct pfeed *f, char *buf, unsigned part);
const char *pfeed_seq_key(const struct pfeed *f, char *buf, unsigned part);

/* The value of `name` in a [field, value, ...] reply (a hash or a stream
 * entry), len optional; NULL if absent. */
const char *reply_field(const struct store_reply *kv, const char *name, size_t *len);

#endif
