/* ratelimit.c -- token buckets per caller (ratelimit.h). */
#include "ratelimit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dict.h"

struct bucket {
    double tokens, t;                /* tokens at time t */
};

struct ratelimit {
    double rate, burst;
    struct dict *buckets;            /* key -> struct bucket */
};

struct ratelimit *ratelimit_new(double rate, double burst)
{
    struct ratelimit *rl = calloc(1, sizeof *rl);
    if (rl == NULL || rate <= 0.0 || (rl->buckets = dict_new()) == NULL) {
        free(rl);
        return NULL;
    }
    rl->rate = rate;
    rl->burst = burst > 0.0 ? burst : fmax(rate, 1.0);
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (rl == NULL)
        return;
    dict_free(rl->buckets, free);
    free(rl);
}

/* Tokens in b at time now. */
static double tokens_at(const struct ratelimit *rl, const struct bucket *b, double now)
{
    return fmin(rl->burst, b->tokens + fmax(0.0, now - b->t) * rl->rate);
}

static bool verdict(const struct ratelimit *rl, double tokens, double *retry_after)
{
    if (tokens >= 1.0)
        return true;
    *retry_after = fmax(1.0, ceil((1.0 - tokens) / rl->rate));
    return false;
}

/* Forget every bucket that has refilled: it says nothing a new one
 * would not. */
static void drop_full(struct ratelimit *rl, double now)
{
    char **full = malloc(dict_size(rl->buckets) * sizeof *full);
    size_t n = 0, pos = 0;
    const char *key;
    void *val;
    if (full == NULL)
        return;
    while (dict_next(rl->buckets, &pos, &key, &val)) {
        if (tokens_at(rl, val, now) >= rl->burst)
            full[n++] = strdup(key);   /* dict_del frees the dict's copy */
    }
    for (size_t i = 0; i < n; i++) {
        if (full[i] != NULL)
            free(dict_del(rl->buckets, full[i]));
        free(full[i]);
    }
    free(full);
}

bool ratelimit_take(struct ratelimit *rl, const char *key, double now, double *retry_after)
{
    struct bucket *b = dict_get(rl->buckets, key);
    if (b == NULL) {
        int e = 0;
        if (dict_size(rl->buckets) >= RATELIMIT_MAX_KEYS)
            drop_full(rl, now);
        if (dict_size(rl->buckets) >= RATELIMIT_MAX_KEYS || (b = malloc(sizeof *b)) == NULL)
            return true;
        *b = (struct bucket){rl->burst, now};
        dict_put(rl->buckets, key, b, &e);
        if (e) {
            free(b);
            return true;
        }
    }
    b->tokens = tokens_at(rl, b, now);
    b->t = now;
    if (!verdict(rl, b->tokens, retry_after))
        return false;
    b->tokens -= 1.0;
    return true;
}

bool ratelimit_peek(const struct ratelimit *rl, const char *key, double now,
                    double *retry_after)
{
    const struct bucket *b = dict_get(rl->buckets, key);
    return b == NULL || verdict(rl, tokens_at(rl, b, now), retry_after);
}

size_t ratelimit_size(const struct ratelimit *rl)
{
    return dict_size(rl->buckets);
}

double ratelimit_rate(const struct ratelimit *rl)
{
    return rl->rate;
}

double ratelimit_burst(const struct ratelimit *rl)
{
    return rl->burst;
}
