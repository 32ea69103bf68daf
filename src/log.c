/* log.c -- key=value event lines on stderr (see log.h).
 *
 * The rate limit counts lines per event name in one-second windows that
 * start with an event's first line; past log.max_per_second the lines are
 * only counted, and the count goes out as one "log_suppressed" line
 * before the next line written once the window is over (or at
 * log_close). A mutex guards it: worker threads log too. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define LIMIT_SLOTS 64                 /* distinct events tracked at once */
#define EVENT_MAX 48

static const char *level_names[] = {"debug", "info", "warn", "error"};

struct limit_slot {
    char event[EVENT_MAX];             /* "" = free */
    enum log_level lvl;
    double window;                     /* start of the current window (monotonic s) */
    unsigned shown;                    /* lines written in it */
    unsigned long dropped;             /* lines left out in it */
};

struct log_limit {
    pthread_mutex_t mu;
    unsigned per_second;
    size_t pending;                    /* slots with dropped > 0 */
    struct limit_slot slots[LIMIT_SLOTS];
};

void log_init(struct log *lg)
{
    lg->level = LOG_INFO;
    lg->out = stderr;
    lg->limit = NULL;
}

int log_set_rate(struct log *lg, unsigned per_second)
{
    log_close(lg);
    if (per_second == 0)
        return 0;
    struct log_limit *l = calloc(1, sizeof *l);
    if (l == NULL || pthread_mutex_init(&l->mu, NULL) != 0) {
        free(l);
        return -1;
    }
    l->per_second = per_second;
    lg->limit = l;
    return 0;
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

const char *log_level_name(enum log_level lvl)
{
    return (unsigned)lvl < 4 ? level_names[lvl] : "?";
}

static void emit_v(const struct log *lg, enum log_level lvl, const char *event, const char *fmt,
                   va_list ap)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char line[2048];
    int n = snprintf(line, sizeof line,
                     "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ level=%s event=%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000),
                     log_level_name(lvl), event);
    if (fmt != NULL && fmt[0] != '\0' && n > 0 && (size_t)n < sizeof line - 1) {
        line[n++] = ' ';
        int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
        if (m > 0)
            n += m;
    }
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line)
        n = sizeof line - 1;
    line[n] = '\n';
    /* One fwrite per line so concurrent processes sharing stderr do not
     * interleave mid-line. */
    fwrite(line, 1, (size_t)n + 1, lg->out);
    fflush(lg->out);
}

static void emit(const struct log *lg, enum log_level lvl, const char *event, const char *fmt,
                 ...) __attribute__((format(printf, 4, 5)));
static void emit(const struct log *lg, enum log_level lvl, const char *event, const char *fmt,
                 ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit_v(lg, lvl, event, fmt, ap);
    va_end(ap);
}

static double mono_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Report the lines each event had left out in a window that is over (all
 * of them when `all`). Called with the mutex held. */
static void flush_suppressed(const struct log *lg, double now, bool all)
{
    struct log_limit *l = lg->limit;
    for (size_t i = 0; i < LIMIT_SLOTS && l->pending > 0; i++) {
        struct limit_slot *s = &l->slots[i];
        if (s->dropped == 0 || (!all && now - s->window < 1.0))
            continue;
        emit(lg, s->lvl, "log_suppressed", "of=%s suppressed=%lu", s->event, s->dropped);
        s->dropped = 0;
        l->pending--;
    }
}

/* The slot of event: its own, a free one, or one whose window is over
 * with nothing pending (any event may take that); NULL when all are busy
 * (the line then goes out unlimited). */
static struct limit_slot *slot_of(struct log_limit *l, const char *event, double now)
{
    unsigned h = 2166136261u;
    for (const char *p = event; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    struct limit_slot *reuse = NULL;
    for (size_t k = 0; k < LIMIT_SLOTS; k++) {
        struct limit_slot *s = &l->slots[(h + k) % LIMIT_SLOTS];
        if (strncmp(s->event, event, EVENT_MAX - 1) == 0)
            return s;
        if (reuse == NULL &&
            (s->event[0] == '\0' || (s->dropped == 0 && now - s->window >= 1.0)))
            reuse = s;
        if (s->event[0] == '\0')
            break;
    }
    if (reuse != NULL) {
        snprintf(reuse->event, sizeof reuse->event, "%s", event);
        reuse->window = now - 1.0;     /* starts a window at once */
        reuse->dropped = 0;
    }
    return reuse;
}

/* Whether this line of event may be written now (mutex held). */
static bool admit(const struct log *lg, enum log_level lvl, const char *event, double now)
{
    struct log_limit *l = lg->limit;
    struct limit_slot *s = slot_of(l, event, now);
    if (s == NULL)
        return true;
    if (now - s->window >= 1.0) {
        s->window = now;
        s->shown = 0;
    }
    s->lvl = lvl;
    if (s->shown < l->per_second) {
        s->shown++;
        return true;
    }
    if (s->dropped++ == 0)
        l->pending++;
    return false;
}

void log_write(const struct log *lg, enum log_level lvl, const char *event,
               const char *fmt, ...)
{
    if (lg == NULL || lvl < lg->level)
        return;
    struct log_limit *l = lg->limit;
    bool ok = true;
    if (l != NULL) {
        double now = mono_now();
        pthread_mutex_lock(&l->mu);
        if (l->pending > 0)
            flush_suppressed(lg, now, false);
        ok = admit(lg, lvl, event, now);
    }
    if (ok) {
        va_list ap;
        va_start(ap, fmt);
        emit_v(lg, lvl, event, fmt, ap);
        va_end(ap);
    }
    if (l != NULL)
        pthread_mutex_unlock(&l->mu);
}

void log_close(struct log *lg)
{
    struct log_limit *l = lg->limit;
    if (l == NULL)
        return;
    pthread_mutex_lock(&l->mu);
    flush_suppressed(lg, mono_now(), true);
    pthread_mutex_unlock(&l->mu);
    pthread_mutex_destroy(&l->mu);
    free(l);
    lg->limit = NULL;
}

const char *log_quote(char *buf, size_t len, const char *in)
{
    if (len == 0)
        return "";
    if (in == NULL)
        in = "";
    int needs = in[0] == '\0';
    for (const char *p = in; *p && !needs; p++)
        needs = *p == ' ' || *p == '"' || *p == '=' || (unsigned char)*p < 0x20;
    if (!needs) {
        snprintf(buf, len, "%s", in);
        return buf;
    }
    size_t o = 0;
    buf[o++] = '"';
    for (const char *p = in; *p && o + 3 < len; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20) {
            buf[o++] = ' ';
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}
