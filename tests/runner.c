/* tests/runner.c -- CUnit runner, built once for the unit suites and once
 * for the integration suites (SUITES_H and KIND come from the Makefile).
 *
 * Suites are registered by file name (see Makefile: build/gen/unit_suites.h, it_suites.h).
 * CUnit exits 0 on failures and CU_cleanup_registry resets its counters,
 * so the counts are read first and turned into the exit status. An optional
 * argument selects suites whose name contains it. */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

#define SUITE(name) int suite_##name(void);
#include SUITES_H
#undef SUITE

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
#define SUITE(name)                                                   \
    if (only == NULL || strstr(#name, only) != NULL) {                \
        if (suite_##name() != 0) {                                    \
            fprintf(stderr, "cannot register suite %s\n", #name);    \
            return 2;                                                 \
        }                                                             \
    }
#include SUITES_H
#undef SUITE
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned run = CU_get_number_of_tests_run();
    unsigned failed = CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    printf("RESULT %s tests=%u failed=%u\n", KIND, run, failed);
    return failed == 0 ? 0 : 1;
}
