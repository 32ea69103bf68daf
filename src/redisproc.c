/* redisproc.c -- the embedded redis-server child (see redisproc.h).
 *
 * Every setting is on the command line, so there is no config file to get
 * out of step with cityd: a unix socket in data_dir, no TCP port, AOF with
 * the configured appendfsync (redis.appendfsync: "always" by default, see
 * config/cityd.conf for why), no RDB snapshots, a log file in data_dir.
 *
 * A close-on-exec pipe tells an exec failure (with its errno) from a
 * successful exec immediately. The child is watched by a timer polling
 * waitpid(WNOHANG) -- no SIGCHLD handler to share with the rest of the
 * process -- and restarted with backoff when it dies; a restart does not
 * wait for the socket (the store reconnects by itself), so the event loop
 * never blocks on it. PR_SET_PDEATHSIG takes the child down (SIGTERM, which
 * flushes the AOF) if cityd dies without stopping it. The child gets its
 * own process group so that a Ctrl-C on the terminal reaches cityd only:
 * cityd drains its requests with Redis still up, then stops it. */
#include "redisproc.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "store.h"

#define READY_TIMEOUT_MS 10000   /* socket must answer PING (AOF load included) */
#define STOP_TIMEOUT_MS 10000    /* SIGTERM grace before SIGKILL */
#define WATCH_MS 100
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define STABLE_S 10              /* a run this long resets the backoff */

struct redisproc {
    struct event_base *base;
    const struct log *lg;
    char *bin;
    char fsync[16];              /* appendfsync policy */
    char dir[PATH_MAX];
    char sock[PATH_MAX];
    char url[PATH_MAX + 8];
    char logfile[PATH_MAX + 16];
    pid_t pid;                   /* 0 while waiting to restart */
    struct event *watch_ev, *restart_ev;
    int backoff_ms;
    time_t started;              /* CLOCK_MONOTONIC seconds of the last spawn */
    unsigned restarts;
};

static time_t mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* mkdir -p with mode 0700 for the directories it creates. */
static int mkdir_p(const char *path, char *err, size_t errlen)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        snprintf(err, errlen, "redis data_dir too long: %s", path);
        return -1;
    }
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create redis data_dir %s: %s", buf, strerror(errno));
            return -1;
        }
        *p = c;
        if (c == '\0')
            break;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "redis data_dir %s is not a directory", path);
        return -1;
    }
    return 0;
}

/* The last line of redis.log, to say why the server would not start. */
static void log_tail(const struct redisproc *rp, char *buf, size_t len)
{
    buf[0] = '\0';
    FILE *f = fopen(rp->logfile, "r");
    if (f == NULL)
        return;
    char tail[1024];
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        fseek(f, size > (long)sizeof tail - 1 ? size - (long)sizeof tail + 1 : 0, SEEK_SET);
    }
    size_t n = fread(tail, 1, sizeof tail - 1, f);
    fclose(f);
    while (n > 0 && (tail[n - 1] == '\n' || tail[n - 1] == '\r'))
        n--;
    tail[n] = '\0';
    const char *line = strrchr(tail, '\n');
    line = line ? line + 1 : tail;
    size_t m = strlen(line) < len - 1 ? strlen(line) : len - 1;
    memcpy(buf, line, m);
    buf[m] = '\0';
}

static void describe_status(int st, char *buf, size_t len)
{
    if (WIFEXITED(st))
        snprintf(buf, len, "exit=%d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, len, "signal=%d", WTERMSIG(st));
    else
        snprintf(buf, len, "status=%d", st);
}

/* In the child, between fork and exec. */
static void child_exec(const struct redisproc *rp, pid_t parent, int errfd)
{
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)           /* cityd died before the prctl */
        _exit(1);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    const int sigs[] = {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], SIG_DFL);
    int nul = open("/dev/null", O_RDONLY);
    if (nul > 0) {
        dup2(nul, 0);
        close(nul);
    }
    /* cityd's sockets (the HTTP listener above all) must not live on in
     * Redis. */
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
        struct rlimit rl;
        int max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? (int)rl.rlim_cur : 65536;
        for (int fd = 3; fd < max; fd++)
            fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    const char *argv[] = {
        rp->bin, "--port", "0", "--unixsocket", rp->sock, "--unixsocketperm", "700",
        "--dir", rp->dir, "--appendonly", "yes", "--appendfsync", rp->fsync,
        /* Fewer background rewrites under ingest bursts (each one forks
         * and competes for the disk: measured 140k -> <100k obs/s). */
        "--auto-aof-rewrite-min-size", "256mb",
        /* Streams kept for a time (retention.h) give memory back a whole
         * node at a time: nodes of 16 entries keep at most that many
         * beyond the retention, not Redis's default 100 (an hour of a
         * lot's counts more). */
        "--stream-node-max-entries", "16",
        "--save", "", "--daemonize", "no", "--logfile", rp->logfile, NULL,
    };
    execvp(rp->bin, (char *const *)argv);
    int e = errno;
    ssize_t w = write(errfd, &e, sizeof e);
    (void)w;
    _exit(127);
}

/* fork + exec; returns once exec has succeeded or failed. */
static int spawn(struct redisproc *rp, char *err, size_t errlen)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    if (pid == 0)
        child_exec(rp, parent, pfd[1]);
    close(pfd[1]);
    int e = 0;
    ssize_t n;
    while ((n = read(pfd[0], &e, sizeof e)) < 0 && errno == EINTR)
        ;
    close(pfd[0]);
    if (n == (ssize_t)sizeof e) {
        waitpid(pid, NULL, 0);
        snprintf(err, errlen, "cannot run %s: %s", rp->bin, strerror(e));
        return -1;
    }
    rp->pid = pid;
    rp->started = mono_s();
    return 0;
}

/* Block until the socket answers PING, the child dies, or the deadline
 * -- which a server still loading its data (-LOADING: alive, and a
 * large AOF takes its time) pushes on. */
static int wait_ready(struct redisproc *rp, char *err, size_t errlen)
{
    char why[256] = "";
    time_t deadline = mono_s() + READY_TIMEOUT_MS / 1000;
    while (mono_s() < deadline) {
        if (store_sync_ping(rp->url, 500, why, sizeof why) == 0)
            return 0;
        if (strstr(why, ": PING: LOADING") != NULL)
            deadline = mono_s() + READY_TIMEOUT_MS / 1000;
        int st;
        if (waitpid(rp->pid, &st, WNOHANG) == rp->pid) {
            char how[32], tail[300];
            describe_status(st, how, sizeof how);
            log_tail(rp, tail, sizeof tail);
            snprintf(err, errlen, "%s exited at start (%s); %s: %s", rp->bin, how, rp->logfile,
                     tail[0] ? tail : "(empty)");
            rp->pid = 0;
            return -1;
        }
        sleep_ms(20);
    }
    snprintf(err, errlen, "redis-server did not answer on %s within %d ms: %s", rp->sock,
             READY_TIMEOUT_MS, why);
    return -1;
}

static void stop_child(struct redisproc *rp)
{
    if (rp->pid <= 0)
        return;
    kill(rp->pid, SIGTERM);
    kill(rp->pid, SIGCONT);            /* a stopped process would never see it */
    int st = 0;
    bool gone = false;
    for (int waited = 0; waited < STOP_TIMEOUT_MS && !gone; waited += 10) {
        pid_t r = waitpid(rp->pid, &st, WNOHANG);
        gone = r == rp->pid || (r < 0 && errno == ECHILD);
        if (!gone)
            sleep_ms(10);
    }
    if (!gone) {
        log_warn(rp->lg, "redis_kill", "pid=%d reason=\"no exit %d ms after SIGTERM\"",
                 (int)rp->pid, STOP_TIMEOUT_MS);
        kill(rp->pid, SIGKILL);
        waitpid(rp->pid, &st, 0);
    }
    char how[32];
    describe_status(st, how, sizeof how);
    log_info(rp->lg, "redis_stopped", "pid=%d %s", (int)rp->pid, how);
    rp->pid = 0;
}

static void schedule_restart(struct redisproc *rp)
{
    struct timeval tv = {rp->backoff_ms / 1000, (rp->backoff_ms % 1000) * 1000};
    evtimer_add(rp->restart_ev, &tv);
    rp->backoff_ms = rp->backoff_ms >= BACKOFF_MAX_MS / 2 ? BACKOFF_MAX_MS : rp->backoff_ms * 2;
}

static void on_restart(evutil_socket_t fd, short what, void *arg)
{
    struct redisproc *rp = arg;
    char err[512], q[600];
    if (spawn(rp, err, sizeof err) != 0) {
        log_error(rp->lg, "redis_restart_failed", "reason=%s retry_ms=%d",
                  log_quote(q, sizeof q, err), rp->backoff_ms);
        schedule_restart(rp);
        return;
    }
    rp->restarts++;
    log_info(rp->lg, "redis_restarted", "pid=%d restarts=%u", (int)rp->pid, rp->restarts);
}

static void on_watch(evutil_socket_t fd, short what, void *arg)
{
    struct redisproc *rp = arg;
    if (rp->pid <= 0)
        return;
    int st = 0;
    pid_t r = waitpid(rp->pid, &st, WNOHANG);
    if (r == 0 || (r < 0 && errno != ECHILD))
        return;
    char how[32];
    if (r < 0)
        snprintf(how, sizeof how, "reaped=elsewhere");
    else
        describe_status(st, how, sizeof how);
    if (mono_s() - rp->started >= STABLE_S)
        rp->backoff_ms = BACKOFF_MIN_MS;
    log_warn(rp->lg, "redis_exited", "pid=%d %s restart_ms=%d", (int)rp->pid, how, rp->backoff_ms);
    rp->pid = 0;
    schedule_restart(rp);
}

void redisproc_free(struct redisproc *rp)
{
    if (rp == NULL)
        return;
    if (rp->watch_ev)
        event_free(rp->watch_ev);
    if (rp->restart_ev)
        event_free(rp->restart_ev);
    stop_child(rp);
    free(rp->bin);
    free(rp);
}

/* Resolve data_dir and derive the socket, url and log paths. */
static int set_paths(struct redisproc *rp, const char *data_dir, char *err, size_t errlen)
{
    if (mkdir_p(data_dir, err, errlen) != 0)
        return -1;
    if (realpath(data_dir, rp->dir) == NULL) {
        snprintf(err, errlen, "redis data_dir %s: %s", data_dir, strerror(errno));
        return -1;
    }
    size_t max = sizeof(((struct sockaddr_un *)0)->sun_path);
    if ((size_t)snprintf(rp->sock, sizeof rp->sock, "%s/redis.sock", rp->dir) >= max) {
        snprintf(err, errlen, "redis data_dir %s too long for a unix socket path (max %zu bytes)",
                 rp->dir, max - sizeof "/redis.sock");
        return -1;
    }
    snprintf(rp->url, sizeof rp->url, "unix:%s", rp->sock);
    snprintf(rp->logfile, sizeof rp->logfile, "%s/redis.log", rp->dir);
    return 0;
}

struct redisproc *redisproc_spawn(struct event_base *base, const char *server_bin,
                                  const char *data_dir, const char *appendfsync,
                                  const struct log *lg, char *err, size_t errlen)
{
    if (appendfsync == NULL || (strcmp(appendfsync, "always") && strcmp(appendfsync, "everysec"))) {
        snprintf(err, errlen, "appendfsync must be always or everysec");
        return NULL;
    }
    struct redisproc *rp = calloc(1, sizeof *rp);
    if (rp == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(rp->fsync, sizeof rp->fsync, "%s", appendfsync);
    rp->base = base;
    rp->lg = lg;
    rp->backoff_ms = BACKOFF_MIN_MS;
    rp->bin = strdup(server_bin && *server_bin ? server_bin : "redis-server");
    rp->watch_ev = event_new(base, -1, EV_PERSIST, on_watch, rp);
    rp->restart_ev = evtimer_new(base, on_restart, rp);
    if (rp->bin == NULL || rp->watch_ev == NULL || rp->restart_ev == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (set_paths(rp, data_dir, err, errlen) != 0)
        goto fail;
    char why[256];
    if (store_sync_ping(rp->url, 500, why, sizeof why) == 0) {
        snprintf(err, errlen, "a redis-server already answers on %s (another cityd on this data_dir?)",
                 rp->sock);
        goto fail;
    }
    if (spawn(rp, err, errlen) != 0)
        goto fail;
    return rp;
fail:
    redisproc_free(rp);
    return NULL;
}

int redisproc_ready(struct redisproc *rp, char *err, size_t errlen)
{
    if (wait_ready(rp, err, errlen) != 0)
        return -1;
    struct timeval tv = {0, WATCH_MS * 1000};
    event_add(rp->watch_ev, &tv);
    log_info(rp->lg, "redis_started", "pid=%d socket=%s dir=%s", (int)rp->pid, rp->sock, rp->dir);
    return 0;
}

struct redisproc *redisproc_start(struct event_base *base, const char *server_bin,
                                  const char *data_dir, const char *appendfsync,
                                  const struct log *lg, char *err, size_t errlen)
{
    struct redisproc *rp = redisproc_spawn(base, server_bin, data_dir, appendfsync, lg, err,
                                           errlen);
    if (rp != NULL && redisproc_ready(rp, err, errlen) != 0) {
        redisproc_free(rp);
        rp = NULL;
    }
    return rp;
}

const char *redisproc_url(const struct redisproc *rp)
{
    return rp->url;
}

pid_t redisproc_pid(const struct redisproc *rp)
{
    return rp->pid;
}
