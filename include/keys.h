/* keys.h -- every Redis key name cityd uses, built in one place.
 *
 * Each key carries a {hash tag} chosen by the object it belongs to, so
 * that all keys touched by one transaction (or script) share a Redis
 * Cluster slot:
 *   per lot:         cityd:{p:NN}:lot:<id>:...   (NN = keys_part(id))
 *   per vehicle:     cityd:{p:NN}:veh:<id>:...
 *   per plate:       cityd:{p:NN}:plate:<plate>:...
 *   per partition:   cityd:{p:NN}:...            (change feeds, indexes)
 *   per corridor:    cityd:{cor:<id>}:...
 *   per intersection cityd:{int:<id>}:...
 *   per kiosk:       cityd:{kiosk:<id>}:...  (find-car tokens)
 *   city-wide:       cityd:{city}:...            (one key, single-key commands only)
 * Lots, vehicles and plates live in one of KEYS_PARTS fixed partitions, not a tag
 * of their own, so that one script writes an object's state and its
 * partition's change feed and index atomically, and a request touching
 * many objects is at most KEYS_PARTS transactions (docs/scaling.md "Data layout").
 * Functions write into buf (NUL-terminated, truncated if too small) and
 * return buf. */
#ifndef CITYD_KEYS_H
#define CITYD_KEYS_H

#include <stddef.h>

#define KEY_MAX 256

const char *keys_lot(char *buf, size_t n, const char *lot, const char *what);
const char *keys_plate(char *buf, size_t n, const char *plate, const char *what);
const char *keys_vehicle(char *buf, size_t n, const char *veh, const char *what);
const char *keys_corridor(char *buf, size_t n, const char *cor, const char *what);
const char *keys_intersection(char *buf, size_t n, const char *isec, const char *what);
const char *keys_kiosk(char *buf, size_t n, const char *kiosk, const char *what);
const char *keys_city(char *buf, size_t n, const char *what);
/* Partitions: an object id's partition (CRC16 of the id mod KEYS_PARTS;
 * stored data depends on it: never change either), and a partition's own
 * keys (feeds, indexes): cityd:{p:NN}:<what>. */
#define KEYS_PARTS 64
unsigned keys_part(const char *id);
const char *keys_part_key(char *buf, size_t n, unsigned part, const char *what);
/* Idempotency marker for a write id, tagged with the object it touches
 * so it sits in the same slot as the object's state ("lot", "veh",
 * "plate": the object's partition). */
const char *keys_seen(char *buf, size_t n, const char *tag_kind, const char *tag_id,
                      const char *write_id);
/* Redis Cluster slot of a key (0..16383): CRC16/XMODEM of the key, or of
 * the part between the first '{' and the next '}' when that part is not
 * empty (the hash tag). */
#define KEYS_SLOTS 16384
unsigned keys_slot(const char *key, size_t len);
/* Pub/sub channel for change notifications of a kind ("parking"). */
const char *keys_channel(char *buf, size_t n, const char *kind);

#endif
