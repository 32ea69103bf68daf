/* api_sessions.h -- HTTP API of plate sessions, payments, accounts and
 * reverse car-finding (api.md §2 "Plate sessions, payment, reverse
 * car-finding"), persisted in Redis.
 *
 * Routes (roles as in api.md):
 *   POST /v1/parking/lots/{id}/entries       operator  201 {"session", "arrears"}
 *   POST /v1/parking/lots/{id}/exits         operator  201 {"session", "gate"}
 *   PUT  /v1/parking/accounts/{plate}        operator  200 {"plate", "autopay", "pay_later"}
 *   POST /v1/parking/sessions/{id}/payments  operator  200 <session>
 *   GET  /v1/parking/sessions?plate=&status= operator  200 {"sessions", "arrears"}
 *   GET  /v1/parking/find-car?plate=&from=[&token=]
 *                                            kiosk key of the lot, admin, or a token
 *                                                      200 {"lot","level","bay","entryTime","route"}
 *   GET  /v1/parking/kiosks/{id}/token       kiosk key of the lot, admin
 *                                                      200 {"token","expires"}
 * Gate events and payments with a ts outside parking.gate_max_age_s /
 * gate_max_future_s of the clock are 400 (session_ts_check).
 * Lots are those of the parking registry (a->parking: the map's and those
 * created by PUT), each billed with its own tariff; the endpoints answer
 * 503 until both the sessions and the registry are loaded (a->
 * parking_complete), and while a write of unknown outcome is re-read.
 * A replayed entry/exit/payment (same id) answers 200 with the current
 * state and changes nothing; the same id with another plate or amount
 * is 409.
 *
 * Redis (keys.h: a plate's keys in its partition {p:NN}; one script per
 * write, all its keys in that partition):
 *   cityd:{p:NN}:plate:<p>:sessions     HASH session id -> session JSON
 *                                       (session.h, with the bay it parked in)
 *   cityd:{p:NN}:plate:<p>:gate_events  HASH "<lot>\x1fentry:<id>" | "...exit:<id>"
 *                                       -> session id
 *   cityd:{p:NN}:plate:<p>:ver          the plate's version, one per write
 *   cityd:{p:NN}:session_plates         SET of plates that have sessions
 *                                       (written before a plate's first one)
 *   cityd:{p:NN}:accounts               HASH plate -> {"autopay","pay_later"}
 *   cityd:{p:NN}:sessions:changes       the partition's change feed (pfeed.h)
 *   cityd:{p:NN}:write_ids              HASH, ids claimed by writes (NN: the
 *                                       id's partition): the session id a
 *                                       gate event names -> plate,
 *                                       "pay\x1f<id>" -> session id
 *   cityd:{kiosk:<id>}:token:<t>        STRING expiry on cityd's clock, EX
 *                                       parking.kiosk_token_s (find-car tokens)
 * Active, unpaid and recently settled sessions (parking.keep_settled_s)
 * are held in memory (session_book.h), loaded at start-up (until then the
 * endpoints answer 503); what needs an older settled session reads it
 * from Redis (a replayed gate event or payment, a payment naming it, a
 * plate's list), and reused ids are refused by their claims in write_ids
 * (docs/sessions.md "Memory"). Memory changes only after Redis has
 * acknowledged a write. Writes touching one plate are serialised: a
 * per-plate queue in this process, and across processes a version check
 * in Redis (a write applies only at the version it was decided on; see
 * api_sessions.c and docs/scaling.md), so concurrent requests never lose
 * an update, whichever cityd takes them. */
#ifndef CITYD_API_SESSIONS_H
#define CITYD_API_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>

struct app;

/* The module (module.h): api_sessions_module, started after parking. */

/* A car arrived in bay of lot at ts (api_parking, after a bay observation
 * applied with parking_change.bay_arrival; plate NULL when no camera read
 * one). With a plate, that plate's active session in the lot gets the
 * bay; without, the first car in that has not parked yet (entered within
 * parking.phantom_s before ts). Idempotent: a link already made (the same
 * session and bay, or a session linked to this bay at ts) writes
 * nothing. Returns 1 when a link is being written: done(arg, ok) is then
 * called exactly once -- when it is in Redis (ok) or could not be
 * written, usually from a later store callback but possibly before this
 * returns (count the pending link before calling); 0 when there is
 * nothing to write and -1 when the link could not be queued (out of
 * memory, or the sessions are not loaded yet: the caller answers 503 and
 * the client's retry links), done never called. */
typedef void api_sessions_done_fn(void *arg, bool ok);
int api_sessions_bay_occupied(struct app *a, const char *lot, const char *bay,
                              const char *plate, double ts, api_sessions_done_fn *done,
                              void *arg);

#endif
