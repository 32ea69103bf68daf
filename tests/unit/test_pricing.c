/* test_pricing.c -- SFpark's rule at the edges of its band and bounds. */
#include <CUnit/CUnit.h>
#include <string.h>

#include "pricing.h"

static const struct pricing_rule R = {.low = 0.60, .high = 0.80, .step = 0.5, .min_rate = 1.0,
                                      .max_rate = 6.0};

struct pcase {
    double occ, rate;
    enum pricing_action act;
    double advised;
    const char *says;
};

static const struct pcase cases[] = {
    {0.59, 3.0, PRICING_LOWER, 2.5, "below the 60 % target: lower by 0.50"},
    {0.5994, 3.0, PRICING_LOWER, 2.5, "59.9 %"},
    {0.5996, 3.0, PRICING_HOLD, 3.0, "60.0 % is within"},  /* shown as 60.0 %: on target */
    {0.60, 3.0, PRICING_HOLD, 3.0, "within the 60-80 % target: keep"},
    {0.70, 3.0, PRICING_HOLD, 3.0, "keep"},
    {0.80, 3.0, PRICING_HOLD, 3.0, "within"},
    {0.8004, 3.0, PRICING_HOLD, 3.0, "80.0 %"},
    {0.81, 3.0, PRICING_RAISE, 3.5, "above the 80 % target: raise by 0.50"},
    {1.00, 3.0, PRICING_RAISE, 3.5, "100.0 %"},
    {0.00, 3.0, PRICING_LOWER, 2.5, "0.0 %"},
    /* bounds */
    {0.81, 6.0, PRICING_HOLD, 6.0, "at the upper bound 6.00"},
    {0.81, 5.8, PRICING_RAISE, 6.0, "raise by 0.20"},
    {0.59, 1.0, PRICING_HOLD, 1.0, "at the lower bound 1.00"},
    {0.59, 1.2, PRICING_LOWER, 1.0, "lower by 0.20"},
    {0.70, 9.0, PRICING_HOLD, 6.0, "brought within the bounds"},
    {0.81, 9.0, PRICING_HOLD, 6.0, "at the upper bound"},
    {0.59, 0.0, PRICING_HOLD, 1.0, "at the lower bound"},
};

static void test_rule(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct pcase *c = &cases[i];
        double adv = -1;
        char why[256];
        enum pricing_action a = pricing_advise(&R, c->occ, c->rate, &adv, why, sizeof why);
        CU_ASSERT_EQUAL(a, c->act);
        CU_ASSERT_DOUBLE_EQUAL(adv, c->advised, 1e-9);
        CU_ASSERT_PTR_NOT_NULL(strstr(why, c->says));
        if (a != c->act || adv != c->advised || strstr(why, c->says) == NULL)
            fprintf(stderr, "\ncase %zu: %d %.2f \"%s\"\n", i, a, adv, why);
    }
}

int suite_pricing(void)
{
    CU_pSuite s = CU_add_suite("pricing", NULL, NULL);
    if (s == NULL || CU_add_test(s, "SFpark rule: band edges and bounds", test_rule) == NULL)
        return -1;
    return 0;
}
