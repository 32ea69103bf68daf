/* json.c -- citysim's output writer: keys in the order written, numbers
 * with a fixed number of decimals, so the same run prints the same bytes
 * (jansson's "%.17g" reals would print every last bit, and its object
 * order is only stable by insertion). Strings are escaped by jansson. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "simcli.h"

void simjson_begin(struct simjson *j, FILE *f)
{
    memset(j, 0, sizeof *j);
    j->f = f;
    j->first[0] = true;
}

static void key(struct simjson *j, const char *k)
{
    if (!j->first[j->depth])
        fputc(',', j->f);
    j->first[j->depth] = false;
    if (j->depth > 0) {
        fputc('\n', j->f);
        for (int i = 0; i < j->depth; i++)
            fputs("  ", j->f);
    }
    if (k != NULL) {
        json_t *s = json_string(k);
        char *t = json_dumps(s, JSON_ENCODE_ANY);
        fprintf(j->f, "%s: ", t ? t : "\"?\"");
        free(t);
        json_decref(s);
    }
}

static void open_(struct simjson *j, const char *k, char c)
{
    key(j, k);
    fputc(c, j->f);
    if (j->depth + 1 < (int)(sizeof j->first / sizeof j->first[0]))
        j->depth++;
    j->first[j->depth] = true;
}

static void close_(struct simjson *j, char c)
{
    bool empty = j->first[j->depth];
    j->depth--;
    if (!empty) {
        fputc('\n', j->f);
        for (int i = 0; i < j->depth; i++)
            fputs("  ", j->f);
    }
    fputc(c, j->f);
    if (j->depth == 0)
        fputc('\n', j->f);
}

void simjson_obj(struct simjson *j, const char *k) { open_(j, k, '{'); }
void simjson_arr(struct simjson *j, const char *k) { open_(j, k, '['); }
void simjson_end_obj(struct simjson *j) { close_(j, '}'); }
void simjson_end_arr(struct simjson *j) { close_(j, ']'); }

void simjson_num(struct simjson *j, const char *k, double v, int decimals)
{
    key(j, k);
    if (!isfinite(v)) {
        fputs("null", j->f);
        return;
    }
    /* Avoid "-0.000". */
    double scale = pow(10, decimals);
    if (fabs(v) * scale < 0.5)
        v = 0;
    fprintf(j->f, "%.*f", decimals, v);
}

void simjson_int(struct simjson *j, const char *k, long long v)
{
    key(j, k);
    fprintf(j->f, "%lld", v);
}

void simjson_str(struct simjson *j, const char *k, const char *v)
{
    key(j, k);
    if (v == NULL) {
        fputs("null", j->f);
        return;
    }
    json_t *s = json_string(v);
    char *t = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
    fputs(t ? t : "null", j->f);
    free(t);
    json_decref(s);
}

uint64_t simcli_hash(uint64_t h, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
