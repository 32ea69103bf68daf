/* tz.h -- UTC offsets of a time zone, without the C library's global TZ.
 *
 * localtime_r() depends on the process-wide TZ variable, so two lots in
 * different zones (or a test and the server) cannot share it. A struct tz
 * is a self-contained value: load it once (config parking.timezone), then
 * ask for the offset of any instant from any thread.
 *
 * Accepted names:
 *   "UTC", "Z", "Etc/UTC"       offset 0
 *   "+08:00", "+0800", "+08", "-05:30"   a fixed ISO 8601 offset
 *   an IANA name ("Asia/Shanghai")      read from the TZif file in the
 *       zoneinfo directory (all transitions, plus the POSIX TZ rule in the
 *       file's footer for instants after the last transition, so DST zones
 *       are exact too). When the file is missing (a container without
 *       tzdata) a small built-in table of zones without daylight saving
 *       since 1992 is used instead: China (Asia/Shanghai, Asia/Urumqi, ...),
 *       Hong Kong, Macau, Taipei, Tokyo, Seoul, Singapore.
 * "UTC+8" is refused on purpose: POSIX reads it as UTC-8, people as UTC+8. */
#ifndef CITYD_TZ_H
#define CITYD_TZ_H

#include <stddef.h>
#include <stdint.h>

#define TZ_ZONEINFO_DIR "/usr/share/zoneinfo"

struct tz;

/* Load a zone. zoneinfo_dir may be NULL (TZ_ZONEINFO_DIR). Returns NULL
 * with a message naming the problem in err. The caller owns the result. */
struct tz *tz_load(const char *name, const char *zoneinfo_dir, char *err, size_t errlen);
/* A fixed offset zone (seconds east of UTC); never fails except on OOM. */
struct tz *tz_fixed(int32_t utoff_s);
void tz_free(struct tz *z);

/* Seconds east of UTC in force at instant t (epoch seconds). */
int32_t tz_offset(const struct tz *z, int64_t t);
/* The name the zone was loaded with. */
const char *tz_name(const struct tz *z);

/* Parse a POSIX TZ rule string ("CST-8", "CET-1CEST,M3.5.0,M10.5.0/3").
 * Exposed for tests; tz_load uses it for TZif footers. */
struct tz *tz_posix(const char *rule, char *err, size_t errlen);

#endif
