/* auth.c -- roles, API key sets and the keys file (auth.h). */
#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"

static const char *const role_names[] = {
    [ROLE_NONE] = "none",         [ROLE_READER] = "reader",     [ROLE_SENSOR] = "sensor",
    [ROLE_OPERATOR] = "operator", [ROLE_ENGINEER] = "engineer", [ROLE_KIOSK] = "kiosk",
    [ROLE_ADMIN] = "admin",
};

bool role_allows(enum role have, enum role need)
{
    if (need == ROLE_NONE)
        return true;
    if (have == ROLE_NONE)
        return false;
    /* reader < sensor, operator, engineer, kiosk < admin: every key reads,
     * admin does everything, the middle roles only their own. */
    return have == need || have == ROLE_ADMIN || need == ROLE_READER;
}

int role_parse(const char *s, enum role *out)
{
    for (int r = ROLE_READER; r <= ROLE_ADMIN; r++) {
        if (strcmp(s, role_names[r]) == 0) {
            *out = (enum role)r;
            return 0;
        }
    }
    return -1;
}

const char *role_name(enum role r)
{
    return (unsigned)r <= ROLE_ADMIN ? role_names[r] : "?";
}

/* ---- key sets ---- */

struct key {
    struct auth_key pub;
    char *secret;
    size_t len;
};

struct auth_keys {
    struct key *v;
    size_t n;
};

struct auth_keys *auth_keys_new(void)
{
    return calloc(1, sizeof(struct auth_keys));
}

void auth_keys_free(struct auth_keys *ks)
{
    if (ks == NULL)
        return;
    for (size_t i = 0; i < ks->n; i++) {
        free(ks->v[i].secret);
        free((char *)ks->v[i].pub.name);
        free((char *)ks->v[i].pub.lot);
    }
    free(ks->v);
    free(ks);
}

const struct auth_key *auth_keys_find(const struct auth_keys *ks, const char *tok, size_t len)
{
    const struct auth_key *found = NULL;
    for (size_t i = 0; i < ks->n; i++) {
        const struct key *k = &ks->v[i];
        unsigned diff = k->len != len;
        for (size_t j = 0; j < k->len; j++)
            diff |= (unsigned char)k->secret[j] ^ (unsigned char)(j < len ? tok[j] : 0);
        if (diff == 0 && found == NULL)
            found = &k->pub;
    }
    return found;
}

static bool secret_valid(const char *s)
{
    if (s == NULL || *s == '\0')
        return false;
    for (; *s; s++) {
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    }
    return true;
}

int auth_keys_add(struct auth_keys *ks, const char *secret, enum role r, const char *name,
                  const char *lot)
{
    bool kiosk = r == ROLE_KIOSK;
    if (!secret_valid(secret) || r == ROLE_NONE || r > ROLE_ADMIN || name == NULL ||
        kiosk != (lot != NULL && lot[0] != '\0') ||
        auth_keys_find(ks, secret, strlen(secret)) != NULL)
        return -1;
    struct key *nv = realloc(ks->v, (ks->n + 1) * sizeof *nv);
    if (nv == NULL)
        return -1;
    ks->v = nv;
    struct key *k = &ks->v[ks->n];
    k->secret = strdup(secret);
    k->len = strlen(secret);
    k->pub.role = r;
    k->pub.name = strdup(name);
    k->pub.lot = kiosk ? strdup(lot) : NULL;
    if (k->secret == NULL || k->pub.name == NULL || (kiosk && k->pub.lot == NULL)) {
        free(k->secret);
        free((char *)k->pub.name);
        free((char *)k->pub.lot);
        return -1;
    }
    ks->n++;
    return 0;
}

/* ---- the keys file ---- */

#define KEY_FORMAT "'<secret> <role> [name] [lot=<id>]'"

/* One line of a keys file into ks; the message in err on failure. */
static int keys_line(struct auth_keys *ks, char *line, int lineno, char *err, size_t errlen)
{
    char *tok[5];
    int n = 0;
    for (char *p = line; *p && n < 5;) {
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
        if (*p == '\0' || *p == '#')
            break;
        tok[n++] = p;
        while (*p && !strchr(" \t\r\n", *p))
            p++;
        if (*p)
            *p++ = '\0';
    }
    if (n == 0)
        return 0;
    /* The optional last field lot=<id> binds a kiosk key to its lot. */
    const char *lot = NULL;
    if (n >= 3 && strncmp(tok[n - 1], "lot=", 4) == 0) {
        lot = tok[n - 1] + 4;
        n--;
        if (lot[0] == '\0')
            return errbuf_fail(err, errlen, "lot= needs a lot id");
    }
    if (n >= 4)
        return errbuf_fail(err, errlen, "too many fields (expected " KEY_FORMAT ")");
    if (n == 1)
        return errbuf_fail(err, errlen, "missing role after the key (expected " KEY_FORMAT ")");
    enum role role;
    if (role_parse(tok[1], &role) != 0)
        return errbuf_fail(err, errlen,
                           "unknown role '%.40s' (expected reader, sensor, operator, engineer, "
                           "kiosk or admin)",
                           tok[1]);
    if (role == ROLE_KIOSK && lot == NULL)
        return errbuf_fail(err, errlen, "a kiosk key needs lot=<id> (the lot it stands in)");
    if (role != ROLE_KIOSK && lot != NULL)
        return errbuf_fail(err, errlen, "lot= is only for kiosk keys");
    if (!secret_valid(tok[0]))
        return errbuf_fail(err, errlen, "the key must be printable ASCII without spaces");
    const struct auth_key *dup = auth_keys_find(ks, tok[0], strlen(tok[0]));
    if (dup != NULL)
        return errbuf_fail(err, errlen, "duplicate key (already defined as '%.40s')", dup->name);
    char defname[32];
    snprintf(defname, sizeof defname, "line%d", lineno);
    if (auth_keys_add(ks, tok[0], role, n == 3 ? tok[2] : defname, lot) != 0)
        return errbuf_fail(err, errlen, "out of memory");
    return 0;
}

struct auth_keys *auth_keys_load(const char *path, char *err, size_t errlen)
{
    struct auth_keys *ks = NULL, *out = NULL;
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        errbuf_fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    if ((ks = auth_keys_new()) == NULL) {
        errbuf_fail(err, errlen, "%s: out of memory", path);
        goto out;
    }
    while (getline(&line, &cap, f) != -1) {
        char msg[200];
        lineno++;
        if (keys_line(ks, line, lineno, msg, sizeof msg) != 0) {
            errbuf_fail(err, errlen, "%s:%d: %s", path, lineno, msg);
            goto out;
        }
    }
    if (ferror(f)) {
        errbuf_fail(err, errlen, "%s: read error: %s", path, strerror(errno));
        goto out;
    }
    out = ks;
    ks = NULL;
out:
    auth_keys_free(ks);
    free(line);
    if (f != NULL)
        fclose(f);
    return out;
}
