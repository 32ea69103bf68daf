/* test_redisproc.c -- the embedded redis-server: a real child process in a
 * temp dir, talked to through the store over its unix socket, killed,
 * restarted, stopped. */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "redisproc.h"
#include "store.h"
#include "support.h"

struct env {
    struct event_base *base;
    struct log log;
    char *tmp;
    char dir[512];
};

static void env_open(struct env *e)
{
    memset(e, 0, sizeof *e);
    e->base = event_base_new();
    log_init(&e->log);
    e->log.out = fopen("/dev/null", "w");   /* exercise logging, keep output clean */
    e->log.level = LOG_DEBUG;
    e->tmp = support_tmpdir("cityd-rp");
    snprintf(e->dir, sizeof e->dir, "%s/var/redis", e->tmp);   /* parents missing */
}

static void env_close(struct env *e)
{
    support_rmrf(e->tmp);
    free(e->tmp);
    fclose(e->log.out);
    event_base_free(e->base);
}

/* Poll: run the loop without blocking, then sleep, until cond or ms. */
static bool poll_until(struct event_base *base, bool (*cond)(const void *), const void *arg, int ms)
{
    for (int t = 0; t < ms && !cond(arg); t += 10) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        support_sleep_ms(10);
    }
    return cond(arg);
}

static bool up(const void *s)
{
    return store_is_up(s);
}

static bool down(const void *s)
{
    return !store_is_up(s);
}

/* One command run to completion: its reply as a string (or integer). */
struct one {
    int calls;
    enum store_status st;
    char str[128];
    long long i;
};

static void on_one(void *arg, enum store_status st, const struct store_reply *r)
{
    struct one *o = arg;
    o->calls++;
    o->st = st;
    const char *s = store_reply_str(r, NULL);
    snprintf(o->str, sizeof o->str, "%s", s ? s : "");
    o->i = store_reply_int(r);
    /* CONFIG GET answers [name, value]: keep the value. */
    const char *v = store_reply_str(store_reply_at(r, 1), NULL);
    if (v)
        snprintf(o->str, sizeof o->str, "%s", v);
}

static bool one_done(const void *arg)
{
    return ((const struct one *)arg)->calls > 0;
}

static struct one run(struct event_base *base, struct store *s, const char *fmt, const char *a)
{
    struct one o = {0};
    store_cmdf(s, on_one, &o, fmt, a);
    poll_until(base, one_done, &o, 5000);
    return o;
}

static struct store *open_store(struct env *e, const char *url)
{
    char err[256];
    struct store_opts o = {.url = url, .backoff_min_ms = 10, .backoff_max_ms = 100};
    struct store *s = store_new(e->base, &o, &e->log, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL(s);
    if (s)
        CU_ASSERT(poll_until(e->base, up, s, 5000));
    return s;
}

static bool process_gone(pid_t pid)
{
    if (kill(pid, 0) != 0)
        return errno == ESRCH;
    /* Reparented and not yet reaped: a zombie counts as gone. */
    char path[64], buf[256] = "";
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] == 'Z';
}

/* Start, configuration, SIGKILL -> restart with data, stop -> gone. */
static void test_lifecycle(void)
{
    struct env e;
    env_open(&e);
    char err[512] = "";
    struct redisproc *rp = redisproc_start(e.base, NULL, e.dir, "always", &e.log, err, sizeof err);
    if (rp == NULL)
        fprintf(stderr, "redisproc_start: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rp);
    char url[600];
    snprintf(url, sizeof url, "%s", redisproc_url(rp));
    char want[600];
    snprintf(want, sizeof want, "unix:%s/var/redis/redis.sock", e.tmp);
    CU_ASSERT_STRING_EQUAL(url, want);
    CU_ASSERT_EQUAL(store_sync_ping(url, 1000, err, sizeof err), 0);
    struct stat st;
    CU_ASSERT(stat(e.dir, &st) == 0 && (st.st_mode & 0777) == 0700);

    struct store *s = open_store(&e, url);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_STRING_EQUAL(run(e.base, s, "CONFIG GET %s", "port").str, "0");
    CU_ASSERT_STRING_EQUAL(run(e.base, s, "CONFIG GET %s", "appendonly").str, "yes");
    CU_ASSERT_STRING_EQUAL(run(e.base, s, "CONFIG GET %s", "appendfsync").str, "always");
    CU_ASSERT_STRING_EQUAL(run(e.base, s, "CONFIG GET %s", "save").str, "");
    CU_ASSERT_STRING_EQUAL(run(e.base, s, "CONFIG GET %s", "unixsocketperm").str, "700");
    CU_ASSERT_STRING_EQUAL(run(e.base, s, "SET k %s", "before-kill").str, "OK");

    /* SIGKILL: restarted by the watch timer, the store follows, the
     * write made before the kill is back from the AOF. */
    pid_t pid = redisproc_pid(rp);
    CU_ASSERT(pid > 0);
    kill(pid, SIGKILL);
    CU_ASSERT(poll_until(e.base, down, s, 5000));
    CU_ASSERT(poll_until(e.base, up, s, 10000));
    pid_t pid2 = redisproc_pid(rp);
    CU_ASSERT(pid2 > 0 && pid2 != pid);
    CU_ASSERT_STRING_EQUAL(run(e.base, s, "GET %s", "k").str, "before-kill");

    /* A burst of writes, then a clean stop: SIGTERM makes Redis write
     * out everything acknowledged. */
    for (int i = 0; i < 999; i++)
        store_cmdf(s, NULL, NULL, "INCR n");
    CU_ASSERT_EQUAL(run(e.base, s, "INCR %s", "n").i, 1000);
    redisproc_free(rp);
    CU_ASSERT(process_gone(pid2));
    CU_ASSERT(access(url + 5, F_OK) != 0);    /* Redis removed its socket */
    CU_ASSERT(poll_until(e.base, down, s, 5000));

    rp = redisproc_start(e.base, "redis-server", e.dir, "always", &e.log, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rp);
    CU_ASSERT(poll_until(e.base, up, s, 10000));
    CU_ASSERT_EQUAL(run(e.base, s, "GET %s", "n").i, 1000);
    CU_ASSERT_STRING_EQUAL(run(e.base, s, "GET %s", "k").str, "before-kill");
    store_free(s);
    redisproc_free(rp);
    env_close(&e);
}

static void test_start_errors(void)
{
    struct env e;
    env_open(&e);
    char err[512] = "";
    CU_ASSERT_PTR_NULL(redisproc_start(e.base, "/nonexistent/redis-server", e.dir, "always", &e.log, err,
                                       sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/redis-server"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "No such file"));

    /* A server that exits at once: the reason names the log. */
    err[0] = '\0';
    CU_ASSERT_PTR_NULL(redisproc_start(e.base, "false", e.dir, "always", &e.log, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "exited"));

    /* data_dir below a regular file. */
    char file[600], below[700];
    snprintf(file, sizeof file, "%s/plain", e.tmp);
    FILE *f = fopen(file, "w");
    fclose(f);
    snprintf(below, sizeof below, "%s/data", file);
    err[0] = '\0';
    CU_ASSERT_PTR_NULL(redisproc_start(e.base, NULL, below, "always", &e.log, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, file));

    /* A path too long for a unix socket. */
    char longdir[400];
    snprintf(longdir, sizeof longdir, "%s/%0150d", e.tmp, 0);
    err[0] = '\0';
    CU_ASSERT_PTR_NULL(redisproc_start(e.base, NULL, longdir, "always", &e.log, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "too long"));

    /* A second server on the same data_dir is refused. */
    struct redisproc *rp = redisproc_start(e.base, NULL, e.dir, "always", &e.log, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rp);
    err[0] = '\0';
    CU_ASSERT_PTR_NULL(redisproc_start(e.base, NULL, e.dir, "always", &e.log, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "already"));
    CU_ASSERT_EQUAL(store_sync_ping(redisproc_url(rp), 1000, err, sizeof err), 0);
    redisproc_free(rp);
    env_close(&e);
}

/* cityd SIGKILLed: its redis-server goes away too (PR_SET_PDEATHSIG). */
static void test_parent_killed(void)
{
    struct env e;
    env_open(&e);
    int pfd[2];
    CU_ASSERT_FATAL(pipe(pfd) == 0);
    pid_t parent = fork();
    CU_ASSERT_FATAL(parent >= 0);
    if (parent == 0) {
        close(pfd[0]);
        struct event_base *base = event_base_new();
        char err[512];
        struct redisproc *rp = redisproc_start(base, NULL, e.dir, "always", NULL, err, sizeof err);
        pid_t pid = rp ? redisproc_pid(rp) : -1;
        if (write(pfd[1], &pid, sizeof pid) != sizeof pid || rp == NULL)
            _exit(1);
        for (;;)
            pause();
    }
    close(pfd[1]);
    pid_t child = -1;
    CU_ASSERT_EQUAL(read(pfd[0], &child, sizeof child), (ssize_t)sizeof child);
    close(pfd[0]);
    CU_ASSERT(child > 0);
    kill(parent, SIGKILL);
    waitpid(parent, NULL, 0);
    bool gone = false;
    for (int i = 0; i < 1000 && child > 0 && !gone; i++) {
        gone = process_gone(child);
        support_sleep_ms(10);
    }
    CU_ASSERT(gone);
    if (!gone && child > 0)
        kill(child, SIGKILL);
    env_close(&e);
}

int suite_redisproc(void)
{
    CU_pSuite s = CU_add_suite("redisproc", NULL, NULL);
    if (s == NULL)
        return -1;
    if (CU_add_test(s, "start, SIGKILL restart with data, stop", test_lifecycle) == NULL ||
        CU_add_test(s, "start errors", test_start_errors) == NULL ||
        CU_add_test(s, "child dies with its parent", test_parent_killed) == NULL)
        return -1;
    return 0;
}
