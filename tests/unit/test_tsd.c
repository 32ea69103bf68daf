/* test_tsd.c -- the time-space diagram is well-formed XML (checked by a
 * small strict parser below: nesting, quoting, entities, UTF-8), is SVG,
 * and shows what an engineer needs: names (escaped), cycle, speed, both
 * bandwidths, axes, legend, one polygon per band per cycle drawn. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bands.h"
#include "tsd.h"

/* ---- a strict little XML well-formedness checker ---- */

static bool valid_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (k == 0 || (k == 2 && c < 0xC2) || i + k > n)
            return false;
        for (size_t j = 1; j < k; j++)
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
        if (k == 1 && c < 0x20 && c != '\n' && c != '\r' && c != '\t')
            return false;
        i += k;
    }
    return true;
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == ':' || c == '.';
}

/* Entity at s (just after '&'): length through ';' or 0. */
static size_t entity(const char *s)
{
    static const char *named[] = { "amp;", "lt;", "gt;", "quot;", "apos;" };
    for (int i = 0; i < 5; i++)
        if (strncmp(s, named[i], strlen(named[i])) == 0)
            return strlen(named[i]);
    if (s[0] == '#') {
        size_t i = 1;
        while (s[i] >= '0' && s[i] <= '9')
            i++;
        return i > 1 && s[i] == ';' ? i + 1 : 0;
    }
    return 0;
}

/* Well-formed document with one root element? *root gets its name. */
static bool xml_well_formed(const char *doc, char *root, size_t rootlen)
{
    char stack[64][48];
    int depth = 0, roots = 0;
    const char *p = doc;
    if (strncmp(p, "<?xml", 5) == 0) {
        p = strstr(p, "?>");
        if (p == NULL)
            return false;
        p += 2;
    }
    while (*p) {
        if (*p != '<') {
            if (*p == '&') {
                size_t e = entity(p + 1);
                if (e == 0)
                    return false;
                p += e + 1;
                continue;
            }
            if (*p == '>' || (depth == 0 && *p != ' ' && *p != '\n'))
                return false;
            p++;
            continue;
        }
        p++;
        bool close = *p == '/';
        if (close)
            p++;
        size_t len = 0;
        char name[48];
        while (name_char(p[len]) && len < sizeof(name) - 1) {
            name[len] = p[len];
            len++;
        }
        name[len] = '\0';
        if (len == 0)
            return false;
        p += len;
        if (close) {
            while (*p == ' ')
                p++;
            if (*p != '>' || depth == 0 || strcmp(stack[depth - 1], name) != 0)
                return false;
            depth--;
            p++;
            continue;
        }
        /* attributes */
        for (;;) {
            bool space = false;
            while (*p == ' ' || *p == '\n') {
                p++;
                space = true;
            }
            if (*p == '>' || (p[0] == '/' && p[1] == '>'))
                break;
            if (!space || !name_char(*p))
                return false;
            while (name_char(*p))
                p++;
            if (*p++ != '=')
                return false;
            char q = *p++;
            if (q != '"' && q != '\'')
                return false;
            while (*p && *p != q) {
                if (*p == '<')
                    return false;
                if (*p == '&') {
                    size_t e = entity(p + 1);
                    if (e == 0)
                        return false;
                    p += e;
                }
                p++;
            }
            if (*p++ != q)
                return false;
        }
        if (depth == 0) {
            roots++;
            snprintf(root, rootlen, "%s", name);
        }
        if (*p == '/') {
            p += 2;
            continue;
        }
        p++;
        if (depth == 64)
            return false;
        snprintf(stack[depth++], sizeof(stack[0]), "%s", name);
    }
    return depth == 0 && roots == 1;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* The alternate system with names that need escaping. */
static void plan_alternate(struct tsd_plan *p, struct tsd_signal *s, double *v)
{
    static const char *names[4] = { "南大街", "青年路 & <二马路>", "\"海港\"路", "幸福路" };
    static const char *ids[4] = { "nd-01", "nd-<2>", NULL, "幸福路" };
    for (int i = 0; i < 4; i++) {
        s[i] = (struct tsd_signal){ names[i], 300.0 * i, i % 2 ? 30 : 0, 30, 30, ids[i] };
        v[i] = 10;
    }
    *p = (struct tsd_plan){ "解放路 corridor", 4, s, 60, v, v,
                            { true, 30, 0 }, { true, 30, 30 }, 3 };
}

static void test_well_formed_and_labelled(void)
{
    struct tsd_signal s[4];
    double v[4];
    struct tsd_plan p;
    plan_alternate(&p, s, v);
    char *svg = NULL, err[256];
    size_t len = 0;
    CU_ASSERT_EQUAL_FATAL(tsd_svg(&p, &svg, &len, err, sizeof err), 0);
    CU_ASSERT_EQUAL(strlen(svg), len);
    char root[48] = "";
    CU_ASSERT_TRUE(xml_well_formed(svg, root, sizeof root));
    CU_ASSERT_STRING_EQUAL(root, "svg");
    CU_ASSERT_TRUE(valid_utf8((const unsigned char *)svg, len));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "xmlns=\"http://www.w3.org/2000/svg\""));
    /* Names, escaped. */
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "南大街"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "青年路 &amp; &lt;二马路&gt;"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "&quot;海港&quot;路"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "解放路 corridor"));
    /* Caption, axes, legend. */
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "Cycle 60.0 s"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "speed 10.0 m/s (36 km/h)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "outbound band 30.0 s"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "inbound band 30.0 s"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "efficiency 50%"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "time (s)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "distance (m)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, ">outbound band<"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, ">inbound band<"));
    /* Ids beside the names (escaped; not twice when the name is the id),
     * fonts named with fallbacks down to the generic family. */
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "南大街<tspan dx=\"5\" fill=\"#444444\" font-size=\"11\">"
                                       "nd-01</tspan>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, ">nd-&lt;2&gt;</tspan>"));
    CU_ASSERT_PTR_NULL(strstr(svg, ">幸福路</tspan>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "font-family=\"'Noto Sans CJK SC',"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "'Noto Sans','DejaVu Sans',sans-serif\""));
    /* Offsets next to the names. */
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "+30.0 s"));
    /* Bands: each repeated so that 3 cycles are covered (some copies
     * fall partly outside and are clipped): at least 3 per direction. */
    CU_ASSERT(count(svg, "<polygon") >= 6);
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "clip-path=\"url(#plot)\""));
    /* Greens and reds: 2 strips per signal, each with a red base. */
    CU_ASSERT(count(svg, "fill=\"#d43c3c\"/>") >= 8);
    free(svg);
}

static void test_two_cycles_and_missing_band(void)
{
    struct tsd_signal s[4];
    double v[4];
    struct tsd_plan p;
    plan_alternate(&p, s, v);
    p.cycles = 2;
    p.inbound = (struct band){ false, 0, 0 };
    char *svg = NULL, err[256];
    size_t len;
    CU_ASSERT_EQUAL_FATAL(tsd_svg(&p, &svg, &len, err, sizeof err), 0);
    char root[48];
    CU_ASSERT_TRUE(xml_well_formed(svg, root, sizeof root));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "inbound band none"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, ">120<"));        /* time axis ends at 2C */
    CU_ASSERT_PTR_NULL(strstr(svg, ">180<"));
    free(svg);
}

/* Bytes that are not UTF-8 and control characters cannot break the XML. */
static void test_hostile_names(void)
{
    struct tsd_signal s[4];
    double v[4];
    struct tsd_plan p;
    plan_alternate(&p, s, v);
    s[0].name = "bad\xff\xfe byte";
    s[1].name = "ctl\x01\x1b tab\t";
    s[2].name = "\xe4\xb8";                 /* truncated sequence */
    s[3].name = NULL;
    s[3].id = NULL;
    s[1].id = "</text><script>";
    p.title = "]]></svg><script>x</script>";
    char *svg = NULL, err[256];
    size_t len;
    CU_ASSERT_EQUAL_FATAL(tsd_svg(&p, &svg, &len, err, sizeof err), 0);
    char root[48];
    CU_ASSERT_TRUE(xml_well_formed(svg, root, sizeof root));
    CU_ASSERT_TRUE(valid_utf8((const unsigned char *)svg, len));
    CU_ASSERT_PTR_NULL(strstr(svg, "<script"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "bad\xEF\xBF\xBD\xEF\xBF\xBD byte"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, ">#4<"));          /* unnamed signal */
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "&lt;/text&gt;&lt;script&gt;"));
    free(svg);
    /* Valid UTF-8 that XML still refuses (U+FFFE, U+FFFF), and a
     * 4-byte character that it takes. */
    s[1].name = "nc\xef\xbf\xbe\xef\xbf\xbf end";
    s[2].name = "emoji \xf0\x9f\x9a\x8c bus";
    CU_ASSERT_EQUAL_FATAL(tsd_svg(&p, &svg, &len, err, sizeof err), 0);
    CU_ASSERT_TRUE(xml_well_formed(svg, root, sizeof root));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "nc\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD end"));
    CU_ASSERT_PTR_NOT_NULL(strstr(svg, "emoji \xf0\x9f\x9a\x8c bus"));
    free(svg);
}

static void test_bad_input(void)
{
    struct tsd_signal s[4];
    double v[4];
    struct tsd_plan p;
    char *svg = NULL, err[256];
    size_t len;
    plan_alternate(&p, s, v);
    p.n = 1;
    CU_ASSERT_EQUAL(tsd_svg(&p, &svg, &len, err, sizeof err), -1);
    plan_alternate(&p, s, v);
    p.cycle_s = 0;
    CU_ASSERT_EQUAL(tsd_svg(&p, &svg, &len, err, sizeof err), -1);
    plan_alternate(&p, s, v);
    s[2].position_m = 100;                     /* out of order */
    CU_ASSERT_EQUAL(tsd_svg(&p, &svg, &len, err, sizeof err), -1);
    plan_alternate(&p, s, v);
    s[1].out_green_s = 61;
    CU_ASSERT_EQUAL(tsd_svg(&p, &svg, &len, err, sizeof err), -1);
    plan_alternate(&p, s, v);
    v[1] = 0;
    CU_ASSERT_EQUAL(tsd_svg(&p, &svg, &len, err, sizeof err), -1);
    plan_alternate(&p, s, v);
    p.outbound.width_s = NAN;
    CU_ASSERT_EQUAL(tsd_svg(&p, &svg, &len, err, sizeof err), -1);
    CU_ASSERT_PTR_NULL(svg);
}

/* ---- any value: an error or a bounded, well-formed picture, at once ----
 * Each case runs in a child process so that one that would hang or blow
 * up memory is reported (killed after 2 s) instead of stopping the run. */

static const double extremes[] = { 0, -1, 1e-300, 5e-324, 1e-9, 1e-5, 0.37, 1e9, 1e20, 1e308,
                                   -1e308, NAN, INFINITY, -INFINITY };

/* Set field f of the alternate plan to x. */
static void mutate(struct tsd_plan *p, struct tsd_signal *s, double *v, int f, double x)
{
    switch (f) {
    case 0: p->cycle_s = x; break;
    case 1: for (int i = 0; i < 4; i++) s[i].position_m = x * i; break;
    case 2: for (int i = 0; i < 4; i++) s[i].position_m += x; break;
    case 3: s[1].offset_s = x; break;
    case 4: s[2].out_green_s = x; break;
    case 5: for (int i = 0; i < 4; i++) v[i] = x; break;
    case 6: v[1] = x; break;
    case 7: p->outbound.width_s = x; break;
    case 8: p->outbound.start_s = x; break;
    case 9: p->inbound.start_s = x; break;
    case 10: p->cycle_s = x; for (int i = 0; i < 4; i++) s[i].out_green_s = s[i].in_green_s = x / 2; break;
    case 11: p->cycle_s = x; for (int i = 0; i < 4; i++) { s[i].offset_s = x * 0.3 * i; s[i].out_green_s = s[i].in_green_s = x / 2; } p->outbound.width_s = p->inbound.width_s = x / 4; break;
    }
}
#define NFIELDS 12

static bool has_non_number(const char *svg)
{
    static const char *const bad[] = { "nan\"", "inf\"", "nan,", "inf,", " nan", " inf",
                                       ">nan", ">inf", "+nan", "+inf", "-nan", "-inf" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (strstr(svg, bad[i]) != NULL)
            return true;
    return false;
}

/* In the child: 0 error or good picture, 1 a bad one. */
static int render_case(int f, double x)
{
    struct tsd_signal s[4];
    double v[4];
    struct tsd_plan p;
    plan_alternate(&p, s, v);
    mutate(&p, s, v, f, x);
    char *svg = NULL, err[256] = "", root[48];
    size_t len = 0;
    if (tsd_svg(&p, &svg, &len, err, sizeof err) != 0)
        return svg == NULL && strncmp(err, "time-space diagram:", 19) == 0 ? 0 : 1;
    int bad = len > 1024 * 1024 || strlen(svg) != len || !xml_well_formed(svg, root, sizeof root) ||
              has_non_number(svg);
    free(svg);
    return bad;
}

static void test_any_value(void)
{
    for (int f = 0; f < NFIELDS; f++) {
        for (size_t k = 0; k < sizeof extremes / sizeof extremes[0]; k++) {
            pid_t pid = fork();
            CU_ASSERT_FATAL(pid >= 0);
            if (pid == 0)
                _exit(render_case(f, extremes[k]));
            int st = 0, waited = 0;
            while (waitpid(pid, &st, WNOHANG) == 0 && waited < 2000) {
                struct timespec ts = { 0, 5000000 };
                nanosleep(&ts, NULL);
                waited += 5;
            }
            if (waited >= 2000) {
                kill(pid, SIGKILL);
                waitpid(pid, &st, 0);
            }
            bool ok = waited < 2000 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
            if (!ok)
                fprintf(stderr, "tsd field %d = %g: %s\n", f, extremes[k],
                        waited >= 2000 ? "no answer within 2 s" : "bad picture or crash");
            CU_ASSERT_TRUE(ok);
        }
    }
}

int suite_tsd(void)
{
    CU_pSuite s = CU_add_suite("tsd", NULL, NULL);
    if (s == NULL)
        return -1;
    if (!CU_add_test(s, "well-formed and labelled", test_well_formed_and_labelled) ||
        !CU_add_test(s, "two cycles, missing band", test_two_cycles_and_missing_band) ||
        !CU_add_test(s, "hostile names", test_hostile_names) ||
        !CU_add_test(s, "bad input", test_bad_input) ||
        !CU_add_test(s, "any value", test_any_value))
        return -1;
    return 0;
}
