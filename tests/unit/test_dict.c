/* test_dict.c -- the hash table against a plain array model under random
 * inserts, replaces and deletes (exercises growth and backward-shift). */
#include <CUnit/CUnit.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dict.h"

#define N 3000

static void test_random_model(void)
{
    struct dict *d = dict_new();
    static int model[N];        /* 0 = absent, else value */
    memset(model, 0, sizeof model);
    unsigned seed = 12345;
    for (int step = 0; step < 60000; step++) {
        seed = seed * 1103515245u + 12345u;
        int k = (int)((seed >> 8) % N);
        char key[32];
        snprintf(key, sizeof key, "lot-%d", k);
        int op = (int)((seed >> 20) % 3);
        if (op < 2) {
            int err;
            void *old = dict_put(d, key, (void *)(intptr_t)(step + 1), &err);
            CU_ASSERT_EQUAL(err, 0);
            CU_ASSERT_EQUAL((intptr_t)old, model[k]);
            model[k] = step + 1;
        } else {
            void *old = dict_del(d, key);
            CU_ASSERT_EQUAL((intptr_t)old, model[k]);
            model[k] = 0;
        }
    }
    size_t live = 0;
    for (int k = 0; k < N; k++) {
        char key[32];
        snprintf(key, sizeof key, "lot-%d", k);
        CU_ASSERT_EQUAL((intptr_t)dict_get(d, key), model[k]);
        live += model[k] != 0;
    }
    CU_ASSERT_EQUAL(dict_size(d), live);
    size_t pos = 0, seen = 0;
    const char *key;
    void *val;
    while (dict_next(d, &pos, &key, &val)) {
        int k = atoi(key + 4);
        CU_ASSERT_EQUAL((intptr_t)val, model[k]);
        seen++;
    }
    CU_ASSERT_EQUAL(seen, live);
    dict_free(d, NULL);
}

static void test_free_values(void)
{
    struct dict *d = dict_new();
    for (int i = 0; i < 100; i++) {
        char key[16];
        snprintf(key, sizeof key, "%d", i);
        dict_put(d, key, strdup(key), NULL);
    }
    CU_ASSERT_STRING_EQUAL(dict_get(d, "42"), "42");
    CU_ASSERT_PTR_NULL(dict_get(d, "100"));
    dict_free(d, free);       /* valgrind/ASan check that values are freed */
}

int suite_dict(void)
{
    CU_pSuite s = CU_add_suite("dict", NULL, NULL);
    if (s == NULL)
        return -1;
    return !(CU_add_test(s, "random operations match a model", test_random_model) &&
             CU_add_test(s, "dict_free frees values", test_free_values));
}
