/* tz.h -- IANA time zones without touching the process environment.
 *
 * localtime_r() follows the global TZ variable, so switching zones means
 * setenv() -- global mutable state, and wrong for a process that serves
 * several zones (a GTFS agency's zone, a parking tariff's zone). This
 * module reads TZif files (RFC 8536) from the zoneinfo directory itself:
 * the transition table plus the POSIX TZ footer rule that covers times
 * after the last transition. A struct tz is immutable after tz_load and
 * can be shared freely.
 *
 * Also the proleptic Gregorian calendar helpers everything date-related
 * needs (days since 1970-01-01 <-> year/month/day). */
#ifndef CITYD_TZ_H
#define CITYD_TZ_H

#include <stddef.h>
#include <stdint.h>

#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"

struct tz;

/* Load zone `name` ("Asia/Shanghai") from dir (NULL = TZ_DEFAULT_DIR).
 * "UTC" works even without tzdata. Names with ".." or a leading '/' are
 * refused. Returns NULL with a message in err. */
struct tz *tz_load(const char *name, const char *dir, char *err, size_t errlen);
void tz_free(struct tz *z);
const char *tz_name(const struct tz *z);

/* UTC offset (seconds east) in force at epoch second t. */
int32_t tz_offset_at(const struct tz *z, int64_t t);
/* Epoch second of a local wall-clock time. In a gap (spring forward) the
 * result is the instant the offset before the gap gives; in an overlap,
 * the earlier instant. Fields may be out of range (hour 25 = next day). */
int64_t tz_local_to_utc(const struct tz *z, int y, int mon, int d, int h, int min, int s);

/* Days since 1970-01-01 for a proleptic Gregorian date (mon 1..12). */
int64_t tz_days_from_civil(int y, int mon, int d);
void tz_civil_from_days(int64_t days, int *y, int *mon, int *d);
/* 0 = Sunday .. 6 = Saturday. */
int tz_weekday(int64_t days);

/* Local calendar date (as days since epoch) of instant t. */
int64_t tz_local_day(const struct tz *z, int64_t t);

#endif
