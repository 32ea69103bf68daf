/* auth.h -- API keys and roles: the role table, a key set with
 * constant-time lookup, and the keys file (auth.keys_file).
 *
 * Plain C, no HTTP: the HTTP layer asks auth_keys_find who a bearer token
 * belongs to and role_allows whether that role may call an endpoint. */
#ifndef CITYD_AUTH_H
#define CITYD_AUTH_H

#include <stdbool.h>
#include <stddef.h>

/* Roles: reader < sensor, operator, engineer, kiosk < admin. A kiosk key
 * is bound to one lot (keys file `lot=<id>`, http_req_key_lot). */
enum role {
    ROLE_NONE = 0, ROLE_READER, ROLE_SENSOR, ROLE_OPERATOR, ROLE_ENGINEER, ROLE_KIOSK,
    ROLE_ADMIN
};

/* True when a key with role `have` may call an endpoint needing `need`. */
bool role_allows(enum role have, enum role need);
int role_parse(const char *s, enum role *out);
const char *role_name(enum role r);

/* What a key grants; owned by its set (valid until the set is freed). */
struct auth_key {
    enum role role;
    const char *name;
    const char *lot;                 /* kiosk keys: the lot they stand in; else NULL */
};

struct auth_keys;

struct auth_keys *auth_keys_new(void);
void auth_keys_free(struct auth_keys *ks);
/* Read a keys file: "<secret> <role> [name] [lot=<id>]" lines (lot= only,
 * and always, on kiosk keys); '#' starts a comment at the beginning of a
 * line or of a field; secrets are printable ASCII; a missing name becomes
 * "line<N>". A new set, or NULL with "file:line: message" in err. */
struct auth_keys *auth_keys_load(const char *path, char *err, size_t errlen);
/* Add one key (name and lot are copied; lot is required for, and only
 * for, ROLE_KIOSK). -1 on a duplicate or invalid key, or no memory. */
int auth_keys_add(struct auth_keys *ks, const char *secret, enum role r, const char *name,
                  const char *lot);
/* The key whose secret is the len bytes at tok, or NULL. Takes time that
 * depends on the key lengths only, never on how much of a secret
 * matches. */
const struct auth_key *auth_keys_find(const struct auth_keys *ks, const char *tok, size_t len);

#endif
