/* plate.c -- normalisation and validation of Chinese licence plates
 * (GA 36-2018); the accepted spellings and forms are listed in plate.h.
 *
 * Two passes: decode strict UTF-8 into at most PLATE_CPS code points while
 * folding width and case and dropping separators, then check the
 * structure on the code points. Every refusal says what was wrong, since
 * the message goes back to a gate controller or a driver at a kiosk. */
#include "plate.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "text.h"

#define PLATE_CPS 8            /* the longest plate: province + letter + 6 */
#define PLATE_IN_MAX 256       /* bytes of input looked at, separators included */

/* The 31 mainland province-level abbreviations, one UTF-8 character each. */
static const char provinces[] =
    "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";
/* Characters that may end a plate in place of the fifth serial character. */
static const char suffixes[] = "挂学警领港澳";

#define CP_EMBASSY 0x4F7F      /* 使 */
#define CP_HK 0x6E2F           /* 港 */
#define CP_MACAU 0x6FB3        /* 澳 */
#define CP_YUE 0x7CA4          /* 粤 */

/* A printable rendering of c for messages: "'鲁'" or "U+0007". */
static const char *cp_show(uint32_t c, char *buf, size_t len)
{
    char u[5];
    if (c < 0x20 || (c >= 0x7F && c < 0xA0)) {
        snprintf(buf, len, "U+%04X", (unsigned)c);
    } else {
        u[text_utf8_encode(c, u)] = '\0';
        snprintf(buf, len, "'%s'", u);
    }
    return buf;
}

static bool cp_in(uint32_t c, const char *set)
{
    char u[5];
    u[text_utf8_encode(c, u)] = '\0';
    return c >= 0x80 && strstr(set, u) != NULL;
}

static bool is_separator(uint32_t c)
{
    switch (c) {
    case ' ': case '\t': case '.': case '-':
    case 0x00A0: case 0x00B7: case 0x2022: case 0x2027: case 0x3000:
    case 0x30FB: case 0xFF0D: case 0xFF0E: case 0xFF65:
        return true;
    default:
        return false;
    }
}

/* Fold full-width forms and lower case to ASCII upper case. */
static uint32_t fold(uint32_t c)
{
    if (c >= 0xFF10 && c <= 0xFF19)
        return '0' + (c - 0xFF10);
    if (c >= 0xFF21 && c <= 0xFF3A)
        return 'A' + (c - 0xFF21);
    if (c >= 0xFF41 && c <= 0xFF5A)
        return 'A' + (c - 0xFF41);
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 'A';
    return c;
}

static bool is_digit(uint32_t c) { return c >= '0' && c <= '9'; }
static bool is_upper(uint32_t c) { return c >= 'A' && c <= 'Z'; }
static bool is_serial(uint32_t c) { return is_digit(c) || (is_upper(c) && c != 'I' && c != 'O'); }
static bool is_nev_letter(uint32_t c) { return c == 'D' || c == 'F'; }

/* Pass 1: decode, fold, drop separators. Returns the number of code
 * points kept, or -1 with err set. */
static int plate_decode(const char *in, uint32_t *cps, char *err, size_t errlen)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0;
    int n = 0;
    char show[16];
    while (s[i] != '\0') {
        uint32_t c;
        size_t at = i;
        if (at >= PLATE_IN_MAX) {
            snprintf(err, errlen, "plate: longer than %d bytes", PLATE_IN_MAX);
            return -1;
        }
        size_t len = text_utf8_decode(in + i, strnlen(in + i, 4), &c);
        if (len == 0) {
            snprintf(err, errlen, "plate: invalid UTF-8 at byte %zu", at);
            return -1;
        }
        i += len;
        if (is_separator(c))
            continue;
        c = fold(c);
        if (!is_digit(c) && !is_upper(c) && c < 0x4E00) {
            snprintf(err, errlen, "plate: character %s is not allowed in a plate",
                     cp_show(c, show, sizeof show));
            return -1;
        }
        if (n == PLATE_CPS) {
            snprintf(err, errlen, "plate: too long (at most %d characters)", PLATE_CPS);
            return -1;
        }
        cps[n++] = c;
    }
    if (n == 0)
        snprintf(err, errlen, "plate: empty");
    return n == 0 ? -1 : n;
}

/* The serial after province + authority letter (ns characters). */
static int check_serial(const uint32_t *cps, int n, enum plate_kind *kind,
                        char *err, size_t errlen)
{
    const uint32_t *s = cps + 2;
    int ns = n - 2;
    char show[16], head[12];
    head[text_utf8_encode(cps[0], head)] = '\0';
    strncat(head, (const char[]){(char)cps[1], '\0'}, sizeof head - strlen(head) - 1);
    for (int k = 0; k < ns; k++) {
        bool last = k == ns - 1;
        if (s[k] == 'I' || s[k] == 'O') {
            snprintf(err, errlen, "plate: letters I and O are not used in plates (GA 36-2018)");
            return -1;
        }
        if (!is_serial(s[k]) && !(last && cp_in(s[k], suffixes))) {
            if (cp_in(s[k], suffixes))
                snprintf(err, errlen, "plate: %s may only end a plate", cp_show(s[k], show, sizeof show));
            else
                snprintf(err, errlen, "plate: %s cannot appear after %s%s",
                         cp_show(s[k], show, sizeof show), head,
                         last ? " (only 挂 学 警 领 港 澳 may end a plate)" : "");
            return -1;
        }
    }
    if (ns > 0 && !is_serial(s[ns - 1])) {                 /* a suffixed plate */
        uint32_t suf = s[ns - 1];
        if (ns != 5) {
            snprintf(err, errlen, "plate: a plate ending in %s has 4 characters between %s and it, "
                     "got %d", cp_show(suf, show, sizeof show), head, ns - 1);
            return -1;
        }
        if ((suf == CP_HK || suf == CP_MACAU) && (cps[0] != CP_YUE || cps[1] != 'Z')) {
            snprintf(err, errlen, "plate: 港 and 澳 plates are issued as 粤Z only");
            return -1;
        }
        static const enum plate_kind kinds[] = {PLATE_TRAILER, PLATE_COACH, PLATE_POLICE,
                                                PLATE_CONSULATE, PLATE_HK_MACAU, PLATE_HK_MACAU};
        char u[5];
        u[text_utf8_encode(suf, u)] = '\0';
        *kind = kinds[(strstr(suffixes, u) - suffixes) / 3];
        return 0;
    }
    if (ns == 5) {
        *kind = PLATE_STANDARD;
        return 0;
    }
    if (ns == 6) {
        bool small = is_nev_letter(s[0]), large = is_nev_letter(s[5]);
        for (int k = 2; k < 6; k++)
            small = small && is_digit(s[k]);
        for (int k = 0; k < 5; k++)
            large = large && is_digit(s[k]);
        if (small || large) {
            *kind = small ? PLATE_NEW_ENERGY_SMALL : PLATE_NEW_ENERGY_LARGE;
            return 0;
        }
        snprintf(err, errlen, "plate: a 6-character new-energy serial is D or F, a letter or digit, "
                 "then 4 digits (small vehicles) or 5 digits then D or F (large vehicles)");
        return -1;
    }
    snprintf(err, errlen, "plate: expected 5 characters after %s (6 for new-energy plates), got %d",
             head, ns);
    return -1;
}

/* Pass 2: the structure. */
static int plate_check(const uint32_t *cps, int n, enum plate_kind *kind, char *err, size_t errlen)
{
    char show[16];
    if (cps[0] == CP_EMBASSY) {
        bool ok = n == 7;
        for (int k = 1; ok && k < 7; k++)
            ok = is_digit(cps[k]);
        if (!ok)
            snprintf(err, errlen, "plate: an embassy plate is 使 followed by 6 digits");
        *kind = PLATE_EMBASSY;
        return ok ? 0 : -1;
    }
    if (!cp_in(cps[0], provinces)) {
        if (cps[0] < 0x80)
            snprintf(err, errlen, "plate: must start with a province character such as 鲁 "
                     "(military and armed-police plates are not supported)");
        else
            snprintf(err, errlen, "plate: unknown province character %s",
                     cp_show(cps[0], show, sizeof show));
        return -1;
    }
    if (n < 2 || !is_upper(cps[1])) {
        snprintf(err, errlen, "plate: the issuing-authority letter (A-Z) must follow the province%s",
                 n < 2 ? "" : ", got another character");
        return -1;
    }
    if (cps[1] == 'I' || cps[1] == 'O') {
        snprintf(err, errlen, "plate: authority letter cannot be I or O (GA 36-2018)");
        return -1;
    }
    return check_serial(cps, n, kind, err, errlen);
}

int plate_normalize(const char *in, char *out, size_t outlen, enum plate_kind *kind,
                    char *err, size_t errlen)
{
    uint32_t cps[PLATE_CPS];
    enum plate_kind k = PLATE_STANDARD;
    char buf[PLATE_CPS * 4];
    size_t len = 0;
    if (in == NULL) {
        snprintf(err, errlen, "plate: missing");
        return -1;
    }
    int n = plate_decode(in, cps, err, errlen);
    if (n < 0 || plate_check(cps, n, &k, err, errlen) != 0)
        return -1;
    for (int i = 0; i < n; i++)
        len += text_utf8_encode(cps[i], buf + len);
    if (len >= outlen) {
        snprintf(err, errlen, "plate: output buffer too small");
        return -1;
    }
    memcpy(out, buf, len);
    out[len] = '\0';
    if (kind != NULL)
        *kind = k;
    return 0;
}

const char *plate_kind_name(enum plate_kind k)
{
    static const char *const names[] = {
        "standard", "new_energy_small", "new_energy_large", "trailer", "coach",
        "police", "consulate", "hk_macau", "embassy",
    };
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "unknown";
}
