/* session_book.h -- the in-memory index of plate sessions and accounts.
 *
 * api_sessions.c serves every read from here and changes it only after
 * Redis has acknowledged the write (it is rebuilt from Redis at start-up).
 * Indexes: session id; the sessions of a plate (any lot, oldest first);
 * the active sessions of a lot; gate event ids (lot, "entry"|"exit", id)
 * and payment ids, for idempotency; accounts by plate.
 *
 * Sessions are owned by the book; pointers returned stay valid until the
 * book is freed (session_book_put replaces a session's content in place). */
#ifndef CITYD_SESSION_BOOK_H
#define CITYD_SESSION_BOOK_H

#include <stdbool.h>
#include <stddef.h>

#include "session.h"

struct session_book;

struct session_book *session_book_new(void);
void session_book_free(struct session_book *b);
size_t session_book_count(const struct session_book *b);
/* Active sessions over all lots. */
size_t session_book_active_count(const struct session_book *b);

/* Insert a copy of s, or replace the session with the same id. Indexes
 * its entry/exit events and payments. Returns 0, or -1 on OOM (the book
 * is unchanged only as far as s is concerned: an old version stays). */
int session_book_put(struct session_book *b, const struct session *s);
struct session *session_book_get(const struct session_book *b, const char *id);

/* All sessions of a plate, oldest first (insertion order); *n = 0 when none. */
struct session *const *session_book_plate(const struct session_book *b, const char *plate,
                                          size_t *n);
/* The active session of plate in lot, or NULL (the most recent if the
 * book somehow holds several). */
struct session *session_book_active(const struct session_book *b, const char *plate,
                                    const char *lot);
/* The plate's session in lot with the latest exit time, or NULL. */
struct session *session_book_last_exit(const struct session_book *b, const char *plate,
                                       const char *lot);
/* The active session of lot without a bay that entered earliest within
 * [ts - window_s, ts], or NULL (a bay that just turned occupied belongs
 * to the first car in that has not parked yet). Sessions whose id is a
 * key of `skip` (may be NULL) are passed over: the caller's links still
 * on their way to Redis. */
struct dict;
struct session *session_book_unparked(const struct session_book *b, const char *lot, double ts,
                                      double window_s, const struct dict *skip);

/* The active session of lot linked to bay most recently (latest
 * bay_time: the car that parked there last), or NULL. */
struct session *session_book_in_bay(const struct session_book *b, const char *lot,
                                    const char *bay);

/* Gate events: kind is "entry" or "exit". */
int session_book_event_put(struct session_book *b, const char *lot, const char *kind,
                           const char *event_id, const char *session_id);
struct session *session_book_event(const struct session_book *b, const char *lot,
                                   const char *kind, const char *event_id);
/* The session a payment id was applied to, or NULL. */
struct session *session_book_payment(const struct session_book *b, const char *payment_id);

/* Forget settled sessions (paid or void) whose last activity (entry,
 * exit, payment, bay) is before `before`, with their event and payment
 * ids: memory holds what is live plus a recent window. Active and unpaid
 * sessions are never evicted. Their plates are marked partial (the
 * plate's record stays: a few dozen bytes a plate, bounded by the number
 * of distinct cars). Returns how many were evicted. */
size_t session_book_evict(struct session_book *b, double before);
/* Some settled sessions of plate are in Redis only (evicted, or skipped
 * when loading): its history must be read from there. -1 on OOM. */
int session_book_mark_partial(struct session_book *b, const char *plate);
bool session_book_partial(const struct session_book *b, const char *plate);

int session_book_account_put(struct session_book *b, const char *plate,
                             const struct session_account *a);
/* NULL when the plate never enrolled. */
const struct session_account *session_book_account(const struct session_book *b,
                                                   const char *plate);

#endif
