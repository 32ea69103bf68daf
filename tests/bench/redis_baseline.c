/* redis_baseline.c -- the Redis baselines of the parking benchmark.
 *
 *   redis_baseline geo  <port> <lots file> <points file> <seconds> <depth>
 *       GEOADD the lots with free spaces ("lon lat id free" per line) to one
 *       key, then GEOSEARCH key FROMLONLAT lon lat BYRADIUS 2000 m ASC COUNT 5
 *       at the points ("lon lat" per line), pipelined `depth` deep, for
 *       `seconds`. Prints "OPS <per second>".
 *   redis_baseline hset <port> <observations> <batch>
 *       HSET one field per observation (the bay-state write cityd makes,
 *       without its checks), pipelined in batches. Prints "OPS <per second>".
 *
 * A benchmark tool, not part of cityd: it talks to Redis with hiredis
 * directly, as the fastest plain client would. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int drain(redisContext *c, int n)
{
    for (int i = 0; i < n; i++) {
        redisReply *r;
        if (redisGetReply(c, (void **)&r) != REDIS_OK || r == NULL || r->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "redis_baseline: %s\n", r ? r->str : c->errstr);
            return -1;
        }
        freeReplyObject(r);
    }
    return 0;
}

static int geo(redisContext *c, const char *lots, const char *points, double secs, int depth)
{
    FILE *f = fopen(lots, "r");
    char id[256];
    double lon, lat;
    int free_, n = 0;
    if (f == NULL)
        return -1;
    redisReply *r = redisCommand(c, "DEL bench:free");
    freeReplyObject(r);
    while (fscanf(f, "%lf %lf %255s %d", &lon, &lat, id, &free_) == 4) {
        if (free_ < 1)
            continue;
        redisAppendCommand(c, "GEOADD bench:free %.9f %.9f %s", lon, lat, id);
        if (++n % 1000 == 0 && drain(c, 1000) != 0)
            return -1;
    }
    fclose(f);
    if (drain(c, n % 1000) != 0)
        return -1;
    f = fopen(points, "r");
    size_t np = 0, cap = 1024;
    double (*pt)[2] = malloc(cap * sizeof *pt);
    while (f != NULL && fscanf(f, "%lf %lf", &lon, &lat) == 2) {
        if (np == cap)
            pt = realloc(pt, (cap *= 2) * sizeof *pt);
        pt[np][0] = lon;
        pt[np][1] = lat;
        np++;
    }
    if (f)
        fclose(f);
    if (np == 0)
        return -1;
    long long ops = 0;
    size_t k = 0;
    double t0 = now_s(), t;
    do {
        for (int i = 0; i < depth; i++, k = (k + 1) % np)
            redisAppendCommand(c, "GEOSEARCH bench:free FROMLONLAT %.7f %.7f BYRADIUS 2000 m "
                                  "ASC COUNT 5", pt[k][0], pt[k][1]);
        if (drain(c, depth) != 0)
            return -1;
        ops += depth;
    } while ((t = now_s() - t0) < secs);
    printf("OPS %.0f\n", ops / t);
    free(pt);
    return 0;
}

static int hset(redisContext *c, long n, int batch)
{
    double t0 = now_s();
    for (long i = 0; i < n;) {
        int b = 0;
        for (; b < batch && i < n; b++, i++)
            redisAppendCommand(c, "HSET bench:{lot:%ld}:bays B%ld free\x1f%ld\x1f", i / 10, i % 10,
                               1764400000L + i);
        if (drain(c, b) != 0)
            return -1;
    }
    printf("OPS %.0f\n", n / (now_s() - t0));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: redis_baseline geo|hset <port> ...\n");
        return 2;
    }
    redisContext *c = redisConnect("127.0.0.1", atoi(argv[2]));
    if (c == NULL || c->err) {
        fprintf(stderr, "redis_baseline: cannot connect\n");
        return 1;
    }
    int rc = 2;
    if (strcmp(argv[1], "geo") == 0 && argc == 7)
        rc = geo(c, argv[3], argv[4], atof(argv[5]), atoi(argv[6]));
    else if (strcmp(argv[1], "hset") == 0 && argc == 5)
        rc = hset(c, atol(argv[3]), atoi(argv[4]));
    redisFree(c);
    return rc == 0 ? 0 : 1;
}
