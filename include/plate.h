/* plate.h -- Chinese licence plates: normalisation and validation.
 *
 * Gate and bay cameras, kiosks and apps send plates in many spellings;
 * sessions and the plate -> bay index must key on one canonical form.
 * plate_normalize() accepts (strict UTF-8 only):
 *   - full-width digits and letters (U+FF10-FF19, U+FF21-FF3A, U+FF41-FF5A)
 *     and lower case, folded to ASCII upper case;
 *   - separators anywhere, dropped: space, tab, U+3000, U+00A0, the middle
 *     dots U+00B7 '·', U+30FB '・', U+FF65, U+2022 '•', U+2027, and
 *     '.', '-', U+FF0E, U+FF0D;
 * and returns the canonical form without separators: "鲁f·12345" -> "鲁F12345".
 *
 * Valid plates (GA 36-2018, the Ministry of Public Security standard):
 *   standard       province + authority letter + 5 serial characters
 *                  (digits, letters A-Z except I and O)            鲁F12345
 *   new-energy,    province + letter + 6: D (battery electric) or F (other
 *   small          new-energy) first, then a letter or digit, then 4 digits
 *                                                                  鲁FD12345
 *   new-energy,    province + letter + 5 digits then D or F        鲁F12345D
 *   large
 *   suffixed       province + letter + 4 serial characters + one of
 *                  挂 (trailer), 学 (driving school), 警 (police),
 *                  领 (consulate), 港 / 澳 (Hong Kong / Macau cross-border,
 *                  only 粤Z)                                      鲁F1234挂
 *   embassy        使 + 6 digits (3 for the mission, 3 serial)    使014578
 * The province is one of the 31 mainland abbreviations. The authority
 * letter is A-Z except I and O. Military, armed-police (WJ) and civil
 * aviation plates follow other standards and are refused. */
#ifndef CITYD_PLATE_H
#define CITYD_PLATE_H

#include <stddef.h>

/* Bytes for a canonical plate and its NUL: at most 8 characters of up to
 * 3 UTF-8 bytes each. */
#define PLATE_MAX 32

enum plate_kind {
    PLATE_STANDARD = 0,
    PLATE_NEW_ENERGY_SMALL,
    PLATE_NEW_ENERGY_LARGE,
    PLATE_TRAILER,          /* 挂 */
    PLATE_COACH,            /* 学 */
    PLATE_POLICE,           /* 警 */
    PLATE_CONSULATE,        /* 领 */
    PLATE_HK_MACAU,         /* 港 / 澳 */
    PLATE_EMBASSY,          /* 使 */
};

/* Normalise and validate `in` (NUL-terminated UTF-8). On success writes
 * the canonical plate into out (outlen >= PLATE_MAX is always enough),
 * stores the kind when kind != NULL and returns 0. Otherwise returns -1
 * and err holds a message starting with "plate" that names the problem
 * ("plate: unknown province character '黑'"...). */
int plate_normalize(const char *in, char *out, size_t outlen, enum plate_kind *kind,
                    char *err, size_t errlen);

const char *plate_kind_name(enum plate_kind k);

#endif
