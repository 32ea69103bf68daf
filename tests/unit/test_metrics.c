/* test_metrics.c -- the Prometheus registry and its text exposition. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

/* Number of times needle occurs in hay. */
static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static void test_counter_gauge_text(void)
{
    struct metrics *m = metrics_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    struct metric *a = metrics_series(m, METRIC_COUNTER, "cityd_x_total", "Things done.",
                                      "kind=\"a\"");
    struct metric *b = metrics_series(m, METRIC_GAUGE, "cityd_up", "Is it up.", NULL);
    struct metric *c = metrics_series(m, METRIC_COUNTER, "cityd_x_total", "ignored help",
                                      "kind=\"b\"");
    CU_ASSERT_PTR_NOT_NULL(a);
    CU_ASSERT_PTR_NOT_NULL(b);
    CU_ASSERT_PTR_NOT_NULL(c);
    /* Same name and labels: the same series. */
    CU_ASSERT_PTR_EQUAL(metrics_series(m, METRIC_COUNTER, "cityd_x_total", NULL, "kind=\"a\""), a);
    metric_inc(a, 1);
    metric_inc(a, 2.5);
    metric_inc(a, -10);                     /* counters never go down */
    metric_inc(c, 7);
    metric_set(b, 1);
    metric_inc(b, -3);                      /* gauges may */
    size_t len = 0;
    char *text = metrics_render(m, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_EQUAL(len, strlen(text));
    const char *want =
        "# HELP cityd_x_total Things done.\n"
        "# TYPE cityd_x_total counter\n"
        "cityd_x_total{kind=\"a\"} 3.5\n"
        "cityd_x_total{kind=\"b\"} 7\n"
        "# HELP cityd_up Is it up.\n"
        "# TYPE cityd_up gauge\n"
        "cityd_up -2\n";
    CU_ASSERT_STRING_EQUAL(text, want);
    free(text);
    metrics_free(m);
}

static void test_histogram_buckets(void)
{
    struct metrics *m = metrics_new();
    struct metric *h = metrics_series(m, METRIC_HISTOGRAM, "lat_seconds", "Latency.",
                                      "route=\"/a\"");
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    metric_observe(h, 0.0005);              /* on a bound: counts in that bucket */
    metric_observe(h, 0.003);
    metric_observe(h, 0.2);
    metric_observe(h, 42);                  /* beyond the ladder: +Inf only */
    metric_observe(h, NAN);                 /* ignored */
    metric_inc(h, 5);                       /* wrong kind: ignored */
    char *text = metrics_render(m, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_EQUAL(count_of(text, "# TYPE lat_seconds histogram\n"), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "lat_seconds_bucket{route=\"/a\",le=\"0.0005\"} 1\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "lat_seconds_bucket{route=\"/a\",le=\"0.001\"} 1\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "lat_seconds_bucket{route=\"/a\",le=\"0.005\"} 2\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "lat_seconds_bucket{route=\"/a\",le=\"0.1\"} 2\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "lat_seconds_bucket{route=\"/a\",le=\"0.25\"} 3\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "lat_seconds_bucket{route=\"/a\",le=\"10\"} 3\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "lat_seconds_bucket{route=\"/a\",le=\"+Inf\"} 4\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "lat_seconds_sum{route=\"/a\"} 42.2035\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "lat_seconds_count{route=\"/a\"} 4\n"));
    CU_ASSERT_EQUAL(count_of(text, "lat_seconds_bucket{"), 15);
    free(text);

    /* Without labels, le is the only label. */
    struct metric *u = metrics_series(m, METRIC_HISTOGRAM, "rtt_seconds", "RTT.", "");
    metric_observe(u, 0.01);
    text = metrics_render(m, NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "rtt_seconds_bucket{le=\"0.01\"} 1\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "rtt_seconds_count 1\n"));
    free(text);
    metrics_free(m);
}

static void test_names_kinds_null(void)
{
    struct metrics *m = metrics_new();
    CU_ASSERT_PTR_NULL(metrics_series(m, METRIC_COUNTER, "9bad", "x", NULL));
    CU_ASSERT_PTR_NULL(metrics_series(m, METRIC_COUNTER, "has-dash", "x", NULL));
    CU_ASSERT_PTR_NULL(metrics_series(m, METRIC_COUNTER, "", "x", NULL));
    CU_ASSERT_PTR_NOT_NULL(metrics_series(m, METRIC_COUNTER, "ns:ok_total", "x", NULL));
    /* A name keeps its first kind. */
    CU_ASSERT_PTR_NULL(metrics_series(m, METRIC_GAUGE, "ns:ok_total", "x", NULL));
    CU_ASSERT_PTR_NULL(metrics_series(m, METRIC_GAUGE, "ns:ok_total", "x", "a=\"1\""));
    /* NULL series are accepted and ignored. */
    metric_inc(NULL, 1);
    metric_set(NULL, 1);
    metric_observe(NULL, 1);
    metrics_free(NULL);
    metrics_free(m);
}

static void test_help_and_values(void)
{
    struct metrics *m = metrics_new();
    struct metric *g = metrics_series(m, METRIC_GAUGE, "g", "line one\nback\\slash", NULL);
    metric_set(g, 0.1);
    char *text = metrics_render(m, NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "# HELP g line one\\nback\\\\slash\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\ng 0.1\n"));
    free(text);
    metric_set(g, INFINITY);
    text = metrics_render(m, NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\ng +Inf\n"));
    free(text);
    metric_set(g, NAN);
    text = metrics_render(m, NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\ng NaN\n"));
    free(text);
    metric_set(g, 1234567890123.0);
    text = metrics_render(m, NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\ng 1234567890123\n"));
    free(text);
    metrics_free(m);
}

static void test_labels_escaping(void)
{
    char buf[128];
    const char *kv[] = {"route", "/v1/lots/{id}", "q", "a\"b\\c\nd"};
    CU_ASSERT_EQUAL(metrics_labels(buf, sizeof buf, kv, 2), 0);
    CU_ASSERT_STRING_EQUAL(buf, "route=\"/v1/lots/{id}\",q=\"a\\\"b\\\\c\\nd\"");
    CU_ASSERT_EQUAL(metrics_labels(buf, sizeof buf, kv, 0), 0);
    CU_ASSERT_STRING_EQUAL(buf, "");
    /* Too small: -1, and still a terminated string. */
    char small[12];
    CU_ASSERT_EQUAL(metrics_labels(small, sizeof small, kv, 2), -1);
    CU_ASSERT(strlen(small) < sizeof small);
    /* Exactly fitting. */
    const char *one[] = {"a", "b"};
    char exact[8];                          /* a="b" + NUL = 6 */
    CU_ASSERT_EQUAL(metrics_labels(exact, 6, one, 1), 0);
    CU_ASSERT_STRING_EQUAL(exact, "a=\"b\"");
    CU_ASSERT_EQUAL(metrics_labels(exact, 5, one, 1), -1);

    /* Escaped labels render verbatim in the exposition. */
    struct metrics *m = metrics_new();
    metrics_labels(buf, sizeof buf, kv, 2);
    metric_inc(metrics_series(m, METRIC_COUNTER, "c_total", "c", buf), 1);
    char *text = metrics_render(m, NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "c_total{route=\"/v1/lots/{id}\",q=\"a\\\"b\\\\c\\nd\"} 1\n"));
    free(text);
    metrics_free(m);
}

static void test_many_series(void)
{
    struct metrics *m = metrics_new();
    char labels[64];
    for (int i = 0; i < 500; i++) {
        snprintf(labels, sizeof labels, "i=\"%d\"", i);
        metric_inc(metrics_series(m, METRIC_COUNTER, "many_total", "many", labels), i);
    }
    for (int i = 0; i < 500; i++) {
        snprintf(labels, sizeof labels, "i=\"%d\"", i);
        metric_inc(metrics_series(m, METRIC_COUNTER, "many_total", "many", labels), 1);
    }
    char *text = metrics_render(m, NULL);
    CU_ASSERT_EQUAL(count_of(text, "# HELP many_total"), 1);
    CU_ASSERT_EQUAL(count_of(text, "many_total{i="), 500);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "many_total{i=\"0\"} 1\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "many_total{i=\"499\"} 500\n"));
    free(text);
    metrics_free(m);
}

int suite_metrics(void)
{
    CU_pSuite s = CU_add_suite("metrics", NULL, NULL);
    if (s == NULL)
        return -1;
    if (!CU_add_test(s, "counter and gauge text", test_counter_gauge_text) ||
        !CU_add_test(s, "histogram buckets", test_histogram_buckets) ||
        !CU_add_test(s, "names, kinds, NULL", test_names_kinds_null) ||
        !CU_add_test(s, "HELP escaping and values", test_help_and_values) ||
        !CU_add_test(s, "label escaping", test_labels_escaping) ||
        !CU_add_test(s, "many series", test_many_series))
        return -1;
    return 0;
}
