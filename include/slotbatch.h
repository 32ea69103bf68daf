/* slotbatch.h -- a write of many objects as one transaction per Redis
 * Cluster slot.
 *
 * Under Redis Cluster a transaction (store_batch) or a script may only
 * touch keys of one slot. A request that writes several objects (lots,
 * vehicles) therefore goes as several transactions: commands added here
 * are grouped by the slot of their keys (keys.h: an object's keys share
 * its partition's slot), each group is one store_batch, and all groups
 * are sent together (on one Redis they pipeline, so with appendfsync
 * always they still cost one fsync). Each group commits or fails on its
 * own: the caller acknowledges the request only when every group has
 * committed, and treats the others as a standalone write that failed
 * (nothing applied) or whose outcome is unknown (re-read). A command
 * whose keys span slots is refused when it is added (-1): that is a
 * programming error, which the tests' single-node cluster also catches
 * on the Redis side (tests/integration/it_scale.c). */
#ifndef CITYD_SLOTBATCH_H
#define CITYD_SLOTBATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

struct slotbatch;

/* One command's outcome, tagged as it was added: st and r as for a store
 * callback, r being the command's element of its group's EXEC reply
 * when the group committed, else that group's EXEC reply (an error) or
 * NULL (st != STORE_OK). Valid only during the call. */
typedef void slotbatch_item_fn(void *arg, size_t tag, enum store_status st,
                               const struct store_reply *r, bool committed);
/* Every group has answered (after the last item call). */
typedef void slotbatch_done_fn(void *arg);

struct slotbatch *slotbatch_new(void);
void slotbatch_free(struct slotbatch *sb);
/* A script call: argv holds nkeys keys (all of one slot) then the other
 * arguments. 0, or -1 (nothing added: OOM, or keys of several slots). */
int slotbatch_script(struct slotbatch *sb, size_t tag, const struct store_script *sc,
                     int nkeys, int argc, const char **argv, const size_t *lens);
/* A command whose only key is argv[1] (SADD, HSET, XADD, ...). */
int slotbatch_add_argv(struct slotbatch *sb, size_t tag, int argc, const char **argv,
                       const size_t *lens);
size_t slotbatch_count(const struct slotbatch *sb);     /* commands */
size_t slotbatch_groups(const struct slotbatch *sb);    /* transactions */
/* Send every group; takes ownership of sb (freed even on failure).
 * item is called once per command (out of memory, one may go unreported:
 * treat a command not reported by done as not applied), done once at the
 * end, from store
 * callbacks (never from inside this call). -1 (no call back) when nothing
 * could be sent (OOM); an empty batch calls done only. */
int slotbatch_send(struct store *s, struct slotbatch *sb, slotbatch_item_fn *item,
                   slotbatch_done_fn *done, void *arg);

#endif
