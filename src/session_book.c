/* session_book.c -- in-memory indexes of plate sessions and accounts
 * (see session_book.h): string-keyed dicts over individually allocated
 * sessions, so that pointers stay valid while sessions change. */
#include "session_book.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dict.h"

struct vec {                    /* a growable array of session pointers */
    struct session **v;
    size_t n, cap;
};

struct plate_rec {
    struct vec sessions;        /* oldest first */
    struct session_account acct;
    bool has_acct;
    bool partial;               /* some of its settled sessions are only in Redis */
};

struct session_book {
    struct dict *by_id;         /* id -> struct session * (owned) */
    struct dict *by_plate;      /* plate -> struct plate_rec * (owned) */
    struct dict *active;        /* lot -> struct vec * of active sessions (owned) */
    struct dict *events;        /* "lot\x1fkind\x1fid" -> struct session * */
    struct dict *payments;      /* payment id -> struct session * */
};

static int vec_push(struct vec *v, struct session *s)
{
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 4;
        struct session **nv = realloc(v->v, nc * sizeof *nv);
        if (nv == NULL)
            return -1;
        v->v = nv;
        v->cap = nc;
    }
    v->v[v->n++] = s;
    return 0;
}

static void vec_remove(struct vec *v, const struct session *s)
{
    for (size_t i = 0; i < v->n; i++)
        if (v->v[i] == s) {
            memmove(&v->v[i], &v->v[i + 1], (v->n - i - 1) * sizeof *v->v);
            v->n--;
            return;
        }
}

static void free_session(void *p)
{
    if (p != NULL)
        session_clear(p);
    free(p);
}

static void free_plate(void *p)
{
    struct plate_rec *r = p;
    if (r != NULL)
        free(r->sessions.v);
    free(r);
}

static void free_vec(void *p)
{
    struct vec *v = p;
    if (v != NULL)
        free(v->v);
    free(v);
}

void session_book_free(struct session_book *b)
{
    if (b == NULL)
        return;
    dict_free(b->by_id, free_session);
    dict_free(b->by_plate, free_plate);
    dict_free(b->active, free_vec);
    dict_free(b->events, NULL);
    dict_free(b->payments, NULL);
    free(b);
}

struct session_book *session_book_new(void)
{
    struct session_book *b = calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    b->by_id = dict_new();
    b->by_plate = dict_new();
    b->active = dict_new();
    b->events = dict_new();
    b->payments = dict_new();
    if (!b->by_id || !b->by_plate || !b->active || !b->events || !b->payments) {
        session_book_free(b);
        return NULL;
    }
    return b;
}

size_t session_book_count(const struct session_book *b)
{
    return dict_size(b->by_id);
}

size_t session_book_active_count(const struct session_book *b)
{
    size_t pos = 0, n = 0;
    const char *k;
    void *v;
    while (dict_next(b->active, &pos, &k, &v))
        n += ((const struct vec *)v)->n;
    return n;
}

/* The record under key in d, created with calloc(size) when missing. */
static void *get_or_make(struct dict *d, const char *key, size_t size)
{
    void *r = dict_get(d, key);
    int err = 0;
    if (r != NULL)
        return r;
    if ((r = calloc(1, size)) == NULL)
        return NULL;
    dict_put(d, key, r, &err);
    if (err) {
        free(r);
        return NULL;
    }
    return r;
}

static const char *event_key(char *buf, size_t n, const char *lot, const char *kind,
                             const char *id)
{
    snprintf(buf, n, "%s\x1f%s\x1f%s", lot, kind, id);
    return buf;
}

static int index_session(struct session_book *b, struct session *s)
{
    char key[SESSION_ID_MAX * 3 + 16];
    int err = 0;
    struct vec *act = get_or_make(b->active, s->lot, sizeof *act);
    if (act == NULL)
        return -1;
    vec_remove(act, s);
    if (s->status == SESSION_ACTIVE && vec_push(act, s) != 0)
        return -1;
    if (s->entry_event[0] != '\0')
        dict_put(b->events, event_key(key, sizeof key, s->lot, "entry", s->entry_event), s, &err);
    if (s->exit_event[0] != '\0')
        dict_put(b->events, event_key(key, sizeof key, s->lot, "exit", s->exit_event), s, &err);
    for (size_t i = 0; i < s->npayments; i++)
        dict_put(b->payments, s->payments[i].id, s, &err);
    return err ? -1 : 0;
}

int session_book_put(struct session_book *b, const struct session *s)
{
    struct session *cur = dict_get(b->by_id, s->id), tmp;
    int err = 0;
    if (session_copy(&tmp, s) != 0)
        return -1;
    if (cur != NULL) {
        session_clear(cur);
        *cur = tmp;
        return index_session(b, cur);
    }
    struct plate_rec *pr = get_or_make(b->by_plate, s->plate, sizeof *pr);
    if (pr == NULL || (cur = malloc(sizeof *cur)) == NULL) {
        session_clear(&tmp);
        return -1;
    }
    *cur = tmp;
    dict_put(b->by_id, cur->id, cur, &err);
    if (err || vec_push(&pr->sessions, cur) != 0) {
        if (!err)
            dict_del(b->by_id, cur->id);
        free_session(cur);
        return -1;
    }
    return index_session(b, cur);
}

struct session *session_book_get(const struct session_book *b, const char *id)
{
    return id ? dict_get(b->by_id, id) : NULL;
}

struct session *const *session_book_plate(const struct session_book *b, const char *plate,
                                          size_t *n)
{
    const struct plate_rec *pr = plate ? dict_get(b->by_plate, plate) : NULL;
    *n = pr ? pr->sessions.n : 0;
    return pr ? pr->sessions.v : NULL;
}

struct session *session_book_active(const struct session_book *b, const char *plate,
                                    const char *lot)
{
    size_t n;
    struct session *const *v = session_book_plate(b, plate, &n);
    for (size_t i = n; i > 0; i--)
        if (v[i - 1]->status == SESSION_ACTIVE && strcmp(v[i - 1]->lot, lot) == 0)
            return v[i - 1];
    return NULL;
}

struct session *session_book_last_exit(const struct session_book *b, const char *plate,
                                       const char *lot)
{
    size_t n;
    struct session *const *v = session_book_plate(b, plate, &n), *best = NULL;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i]->exit_time) && strcmp(v[i]->lot, lot) == 0 &&
            (best == NULL || v[i]->exit_time >= best->exit_time))
            best = v[i];
    return best;
}

struct session *session_book_unparked(const struct session_book *b, const char *lot, double ts,
                                      double window_s, const struct dict *skip)
{
    const struct vec *act = dict_get(b->active, lot);
    struct session *best = NULL;
    for (size_t i = 0; act != NULL && i < act->n; i++) {
        struct session *s = act->v[i];
        if (s->bay[0] == '\0' && s->entry_time <= ts && ts - s->entry_time <= window_s &&
            (skip == NULL || dict_get(skip, s->id) == NULL) &&
            (best == NULL || s->entry_time < best->entry_time))
            best = s;
    }
    return best;
}

struct session *session_book_in_bay(const struct session_book *b, const char *lot,
                                    const char *bay)
{
    const struct vec *act = dict_get(b->active, lot);
    struct session *last = NULL;
    for (size_t i = 0; act != NULL && i < act->n; i++)
        if (strcmp(act->v[i]->bay, bay) == 0 &&
            (last == NULL || act->v[i]->bay_time > last->bay_time))
            last = act->v[i];
    return last;
}

int session_book_event_put(struct session_book *b, const char *lot, const char *kind,
                           const char *event_id, const char *session_id)
{
    char key[SESSION_ID_MAX * 3 + 16];
    struct session *s = dict_get(b->by_id, session_id);
    int err = 0;
    if (s == NULL)
        return -1;
    dict_put(b->events, event_key(key, sizeof key, lot, kind, event_id), s, &err);
    return err ? -1 : 0;
}

struct session *session_book_event(const struct session_book *b, const char *lot,
                                   const char *kind, const char *event_id)
{
    char key[SESSION_ID_MAX * 3 + 16];
    return dict_get(b->events, event_key(key, sizeof key, lot, kind, event_id));
}

struct session *session_book_payment(const struct session_book *b, const char *payment_id)
{
    return dict_get(b->payments, payment_id);
}

/* Drop the index entries of d whose session is settled before `before`
 * (the victims of session_book_evict: tested on the session itself, no
 * lookup in the victims; keys are collected first: deleting while
 * iterating would skip entries). */
static void drop_refs(struct dict *d, double before)
{
    size_t pos = 0, nk = 0;
    const char *k;
    void *val;
    char **keys = malloc((dict_size(d) + 1) * sizeof *keys);
    while (keys != NULL && dict_next(d, &pos, &k, &val))
        if (session_settled_before(val, before) && (keys[nk] = strdup(k)) != NULL)
            nk++;
    for (size_t i = 0; i < nk; i++) {
        dict_del(d, keys[i]);
        free(keys[i]);
    }
    free(keys);
}

size_t session_book_evict(struct session_book *b, double before)
{
    size_t pos = 0, n = 0, cap = 64;
    const char *k;
    void *val;
    struct session **v = malloc(cap * sizeof *v);
    while (v != NULL && dict_next(b->by_id, &pos, &k, &val)) {
        struct session *s = val;
        if (!session_settled_before(s, before))
            continue;
        if (n == cap) {
            struct session **nv = realloc(v, 2 * cap * sizeof *nv);
            if (nv == NULL)
                break;
            v = nv;
            cap *= 2;
        }
        v[n++] = s;
    }
    if (v == NULL || n == 0) {
        free(v);
        return 0;
    }
    drop_refs(b->events, before);
    drop_refs(b->payments, before);
    for (size_t i = 0; i < n; i++) {
        struct plate_rec *pr = dict_get(b->by_plate, v[i]->plate);
        if (pr != NULL) {
            vec_remove(&pr->sessions, v[i]);
            pr->partial = true;
        }
        dict_del(b->by_id, v[i]->id);
        free_session(v[i]);
    }
    free(v);
    return n;
}

int session_book_mark_partial(struct session_book *b, const char *plate)
{
    struct plate_rec *pr = get_or_make(b->by_plate, plate, sizeof *pr);
    if (pr == NULL)
        return -1;
    pr->partial = true;
    return 0;
}

bool session_book_partial(const struct session_book *b, const char *plate)
{
    const struct plate_rec *pr = plate ? dict_get(b->by_plate, plate) : NULL;
    return pr != NULL && pr->partial;
}

int session_book_account_put(struct session_book *b, const char *plate,
                             const struct session_account *a)
{
    struct plate_rec *pr = get_or_make(b->by_plate, plate, sizeof *pr);
    if (pr == NULL)
        return -1;
    pr->acct = *a;
    pr->has_acct = true;
    return 0;
}

const struct session_account *session_book_account(const struct session_book *b,
                                                   const char *plate)
{
    const struct plate_rec *pr = dict_get(b->by_plate, plate);
    return pr && pr->has_acct ? &pr->acct : NULL;
}
