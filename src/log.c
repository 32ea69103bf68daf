/* log.c -- key=value event lines on stderr (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static const char *level_names[] = {"debug", "info", "warn", "error"};

void log_init(struct log *lg)
{
    lg->level = LOG_INFO;
    lg->out = stderr;
}

int log_set_rate(struct log *lg, unsigned per_second)
{
    (void)lg;
    (void)per_second;
    return 0;
}

void log_close(struct log *lg)
{
    (void)lg;
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

void log_write(const struct log *lg, enum log_level lvl, const char *event,
               const char *fmt, ...)
{
    if (lg == NULL || lvl < lg->level)
        return;
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
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
        va_end(ap);
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
