/* support.c -- real processes and sockets for the tests (see support.h). */
#include "support.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int support_timeout_ms(int ms)
{
    const char *s = getenv("CITYD_TEST_TIMEOUT_SCALE");
    int k = s ? atoi(s) : 1;
    return k > 1 ? ms * k : ms;
}

bool support_proc_maps_has(pid_t pid, const char *needle)
{
    char path[64], line[512];
    bool has = false;
    if (pid > 0)
        snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    else
        snprintf(path, sizeof path, "/proc/self/maps");
    FILE *f = fopen(path, "r");
    while (f != NULL && !has && fgets(line, sizeof line, f) != NULL)
        has = strstr(line, needle) != NULL;
    if (f != NULL)
        fclose(f);
    return has;
}

bool support_under_valgrind(pid_t pid)
{
    return support_proc_maps_has(pid, "vgpreload_memcheck");
}

void support_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void on_run_deadline(evutil_socket_t fd, short what, void *arg)
{
    *(bool *)arg = true;
}

bool support_run_until(struct event_base *base, support_cond_fn *cond, const void *arg, int ms)
{
    bool expired = false;
    struct event *t = evtimer_new(base, on_run_deadline, &expired);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(t, &tv);
    while (!(cond && cond(arg)) && !expired)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(t);
    return cond && cond(arg);
}

int support_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

char *support_tmpdir(const char *prefix)
{
    const char *t = getenv("TMPDIR");
    char buf[512];
    snprintf(buf, sizeof buf, "%s/%s-XXXXXX", t && *t ? t : "/tmp", prefix);
    if (mkdtemp(buf) == NULL)
        return NULL;
    return strdup(buf);
}

void support_rmrf(const char *path)
{
    /* Only ever called on directories this file created under TMPDIR. */
    if (path == NULL || path[0] == '\0' || strcmp(path, "/") == 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        execlp("rm", "rm", "-rf", path, (char *)NULL);
        _exit(127);
    }
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

/* Wait for a child to exit within timeout_ms; returns its wait status, or
 * -1 if it did not exit. */
static int wait_child(pid_t pid, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        if (r < 0)
            return -1;
        support_sleep_ms(10);
    }
    return -1;
}

/* ---- redis ---- */

static int redis_ping(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        write(fd, "PING\r\n", 6) == 6) {
        char buf[16] = {0};
        struct timeval tv = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (read(fd, buf, sizeof buf - 1) > 0 && strncmp(buf, "+PONG", 5) == 0)
            ok = 0;
    }
    close(fd);
    return ok;
}

static int redis_spawn(struct test_redis *r)
{
    char port[16], bus[16], logf[300];
    snprintf(port, sizeof port, "%d", r->port);
    snprintf(bus, sizeof bus, "%d", r->cluster_port);
    snprintf(logf, sizeof logf, "%s/redis.log", r->dir);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        /* If the test binary dies, its servers go with it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (r->cluster1)
            execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
                   "--dir", r->dir, "--appendonly", "yes", "--appendfsync", "everysec",
                   "--save", "", "--daemonize", "no", "--logfile", logf, "--cluster-enabled",
                   "yes", "--cluster-config-file", "nodes.conf", "--cluster-port", bus,
                   (char *)NULL);
        else if (r->cluster)
            execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
                   "--dir", r->dir, "--appendonly", "yes", "--appendfsync", "always",
                   "--save", "", "--daemonize", "no", "--logfile", logf,
                   "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                   "--cluster-node-timeout", "1000", "--cluster-require-full-coverage", "no",
                   (char *)NULL);
        else
            execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
                   "--dir", r->dir, "--appendonly", "yes", "--appendfsync", "everysec",
                   "--save", "", "--daemonize", "no", "--logfile", logf, (char *)NULL);
        _exit(127);
    }
    r->pid = pid;
    for (int i = 0; i < 500; i++) {
        if (redis_ping(r->port) == 0)
            return 0;
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            r->pid = 0;
            return -1;
        }
        support_sleep_ms(10);
    }
    return -1;
}

static int redis_start(struct test_redis *r, bool cluster1)
{
    memset(r, 0, sizeof *r);
    r->cluster1 = cluster1;
    if (cluster1)                      /* (port + 10000, the default, may not exist) */
        r->cluster_port = support_free_port();
    char *d = support_tmpdir("cityd-redis");
    if (d == NULL)
        return -1;
    snprintf(r->dir, sizeof r->dir, "%s", d);
    free(d);
    r->port = support_free_port();
    snprintf(r->url, sizeof r->url, "redis://127.0.0.1:%d", r->port);
    return redis_spawn(r);
}

int support_redis_start(struct test_redis *r)
{
    return redis_start(r, false);
}

int support_redis_start_cluster1(struct test_redis *r)
{
    char cmd[128];
    if (redis_start(r, true) != 0)
        return -1;
    snprintf(cmd, sizeof cmd, "redis-cli -p %d CLUSTER ADDSLOTSRANGE 0 16383 >/dev/null",
             r->port);
    if (system(cmd) != 0)
        return -1;
    snprintf(cmd, sizeof cmd, "redis-cli -p %d CLUSTER INFO | grep -q cluster_state:ok",
             r->port);
    for (int i = 0; i < 500; i++) {
        if (system(cmd) == 0)
            return 0;
        support_sleep_ms(20);
    }
    return -1;
}

int support_redis_restart(struct test_redis *r)
{
    if (r->pid > 0)
        support_redis_kill(r, false);
    return redis_spawn(r);
}

void support_redis_kill(struct test_redis *r, bool hard)
{
    if (r->pid <= 0)
        return;
    kill(r->pid, hard ? SIGKILL : SIGTERM);
    if (wait_child(r->pid, 10000) == -1) {
        kill(r->pid, SIGKILL);
        waitpid(r->pid, NULL, 0);
    }
    r->pid = 0;
}

void support_redis_stop(struct test_redis *r)
{
    support_redis_kill(r, true);
    if (r->dir[0])
        support_rmrf(r->dir);
    r->dir[0] = '\0';
}

long long support_redis_int(const struct test_redis *r, const char *args)
{
    char line[1024];
    snprintf(line, sizeof line, "redis-cli -p %d %s", r->port, args);
    FILE *f = popen(line, "r");
    long long v = -1;
    if (f != NULL) {
        if (fgets(line, sizeof line, f) != NULL)
            v = atoll(line);
        pclose(f);
    }
    return v;
}

long long support_stream_count(const struct test_redis *r, const char *key, const char *min_id)
{
    char args[512];
    snprintf(args, sizeof args,
             "EVAL \"return #redis.call('XRANGE', KEYS[1], ARGV[1], '+')\" 1 '%s' '%s'", key,
             min_id);
    return support_redis_int(r, args);
}

long long support_stream_edge_ms(const struct test_redis *r, const char *key, bool last)
{
    char args[512];
    snprintf(args, sizeof args,
             "EVAL \"local e = redis.call(ARGV[1], KEYS[1], ARGV[2], ARGV[3], 'COUNT', 1)"
             " return e[1] and e[1][1] or -1\" 1 '%s' %s", key,
             last ? "XREVRANGE + -" : "XRANGE - +");
    return support_redis_int(r, args);   /* "<ms>-<seq>": atoll stops at '-' */
}

int support_redis_text(const struct test_redis *r, const char *args, char *out, size_t n)
{
    char line[1024];
    snprintf(line, sizeof line, "redis-cli -p %d %s 2>&1", r->port, args);
    FILE *f = popen(line, "r");
    if (f == NULL || n == 0)
        return -1;
    size_t len = fread(out, 1, n - 1, f);
    out[len] = '\0';
    pclose(f);
    return (int)len;
}

/* ---- a Redis Cluster ---- */

static bool port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

int support_free_cluster_ports(int n)
{
    for (int i = 0; i < 200; i++) {
        int p = 20000 + (int)((unsigned)rand() % 25000u);
        bool ok = true;
        for (int k = 0; k < n && ok; k++)
            ok = port_free(p + k) && port_free(p + k + 10000);
        if (ok)
            return p;
    }
    return -1;
}

static bool cluster_node_ok(const struct test_redis *r)
{
    char out[4096];
    if (r->pid <= 0 || support_redis_text(r, "cluster info", out, sizeof out) < 0)
        return false;
    return strstr(out, "cluster_state:ok") != NULL &&
           strstr(out, "cluster_slots_ok:16384") != NULL;
}

/* The node's view lists n replicas (flag "slave", not failing). */
static bool cluster_node_sees_replicas(const struct test_redis *r, int n)
{
    char out[8192];
    if (support_redis_text(r, "cluster nodes", out, sizeof out) < 0)
        return false;
    int seen = 0;
    for (char *line = out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        char flags[128];
        if (sscanf(line, "%*s %*s %127s", flags) == 1 && strstr(flags, "slave") &&
            !strstr(flags, "fail"))
            seen++;
    }
    return seen >= n;
}

/* A master with a replica that is in sync ("state=online"). */
static bool master_replicated(const struct test_redis *r)
{
    char out[4096];
    if (support_redis_text(r, "info replication", out, sizeof out) < 0)
        return false;
    return strstr(out, "role:master") == NULL || strstr(out, "state=online") != NULL;
}

/* CLUSTER SLOTS of node i names every node: Redis leaves out a replica
 * until it has seen its replication offset move. */
static bool cluster_slots_list_all(const struct test_cluster *c, int i)
{
    char out[8192];
    if (support_redis_text(&c->node[i], "cluster slots", out, sizeof out) < 0)
        return false;
    int listed = 0;
    for (int j = 0; j < CLUSTER_NODES; j++) {
        char port[16];
        snprintf(port, sizeof port, "\n%d\n", c->node[j].port);
        listed += strstr(out, port) != NULL;
    }
    return listed == CLUSTER_NODES;
}

int support_cluster_wait_ok(const struct test_cluster *c, int ms)
{
    int alive = 0;
    for (int i = 0; i < CLUSTER_NODES; i++)
        alive += c->node[i].pid > 0;
    for (int waited = 0; waited <= ms; waited += 50) {
        bool ok = true;
        for (int i = 0; i < CLUSTER_NODES && ok; i++)
            ok = c->node[i].pid <= 0 || (cluster_node_ok(&c->node[i]) &&
                                         (alive < CLUSTER_NODES ||
                                          (master_replicated(&c->node[i]) &&
                                           cluster_node_sees_replicas(&c->node[i], 3) &&
                                           cluster_slots_list_all(c, i))));
        if (ok)
            return 0;
        support_sleep_ms(50);
    }
    return -1;
}

int support_cluster_start(struct test_cluster *c)
{
    memset(c, 0, sizeof *c);
    srand((unsigned)getpid() ^ (unsigned)time(NULL));
    char create[1024] = "redis-cli --cluster create";
    int n = (int)strlen(create);
    for (int i = 0; i < CLUSTER_NODES; i++) {
        struct test_redis *r = &c->node[i];
        char *d = support_tmpdir("cityd-cluster");
        if (d == NULL)
            goto fail;
        snprintf(r->dir, sizeof r->dir, "%s", d);
        free(d);
        r->cluster = true;
        if ((r->port = support_free_cluster_ports(1)) < 0)
            goto fail;
        snprintf(r->url, sizeof r->url, "redis://127.0.0.1:%d", r->port);
        if (redis_spawn(r) != 0)
            goto fail;
        n += snprintf(create + n, sizeof create - (size_t)n, " 127.0.0.1:%d", r->port);
    }
    snprintf(create + n, sizeof create - (size_t)n,
             " --cluster-replicas 1 --cluster-yes >/dev/null 2>&1");
    if (system(create) != 0)
        goto fail;
    if (support_cluster_wait_ok(c, 20000) != 0)
        goto fail;
    n = snprintf(c->url, sizeof c->url, "redis-cluster://");
    for (int i = 0; i < 3; i++)
        n += snprintf(c->url + n, sizeof c->url - (size_t)n, "%s127.0.0.1:%d", i ? "," : "",
                      c->node[i].port);
    return 0;
fail:
    support_cluster_stop(c);
    return -1;
}

void support_cluster_stop(struct test_cluster *c)
{
    for (int i = 0; i < CLUSTER_NODES; i++)
        support_redis_stop(&c->node[i]);
}

/* Does a CLUSTER NODES line (from "connected" on: its slot list) name
 * slot? Entries are "5461", "0-5460" or "[5460->-id]" (migrating). */
static bool nodes_line_has(const char *p, const char *eol, unsigned slot)
{
    while (p < eol) {
        while (p < eol && *p == ' ')
            p++;
        char *e;
        unsigned long lo = strtoul(p, &e, 10), hi = lo;
        if (e == p) {
            p = memchr(p, ' ', (size_t)(eol - p));
            if (p == NULL)
                break;
            continue;
        }
        if (*e == '-')
            hi = strtoul(e + 1, &e, 10);
        if (slot >= lo && slot <= hi)
            return true;
        p = e;
    }
    return false;
}

int support_cluster_master_of(const struct test_cluster *c, unsigned slot)
{
    size_t cap = 65536;
    char *out = malloc(cap);
    int found = -1;
    for (int i = 0; out != NULL && i < CLUSTER_NODES; i++) {
        if (c->node[i].pid <= 0 ||
            support_redis_text(&c->node[i], "cluster nodes", out, cap) <= 0)
            continue;
        for (char *line = out; *line; ) {
            char *eol = strchr(line, '\n');
            if (eol == NULL)
                eol = line + strlen(line);
            /* "<id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <link> <slots>" */
            char addr[64], flags[128];
            char *conn = strstr(line, "connected");
            if (sscanf(line, "%*s %63s %127s", addr, flags) == 2 && strstr(flags, "master") &&
                !strstr(flags, "fail") && conn && conn < eol &&
                nodes_line_has(conn + 9, eol, slot)) {
                int port = atoi(strchr(addr, ':') ? strchr(addr, ':') + 1 : "0");
                for (int j = 0; j < CLUSTER_NODES; j++)
                    if (c->node[j].port == port)
                        found = j;
            }
            line = *eol ? eol + 1 : eol;
        }
        break;
    }
    free(out);
    return found;
}

/* ---- cityd ---- */

static int write_keys_file(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "# test keys: secret role name\n"
               "k-admin admin test-admin\n"
               "k-reader reader test-reader\n"
               "k-sensor sensor test-sensor\n"
               "k-operator operator test-operator\n"
               "k-engineer engineer test-engineer\n");
    return fclose(f);
}

int support_cityd_spawn(struct test_cityd *c, const char *redis_url, const char *const *extra)
{
    memset(c, 0, sizeof *c);
    char *d = support_tmpdir("cityd-it");
    if (d == NULL)
        return -1;
    snprintf(c->dir, sizeof c->dir, "%s", d);
    free(d);
    char keys[320];
    snprintf(keys, sizeof keys, "%s/keys.conf", c->dir);
    if (write_keys_file(keys) != 0)
        return -1;
    snprintf(c->log_path, sizeof c->log_path, "%s/cityd.log", c->dir);
    c->port = support_free_port();
    snprintf(c->base, sizeof c->base, "http://127.0.0.1:%d", c->port);

    char listen[64], redis[300], keyopt[400], datadir[400];
    snprintf(listen, sizeof listen, "server.listen=127.0.0.1:%d", c->port);
    snprintf(redis, sizeof redis, "redis.url=%s", redis_url);
    snprintf(keyopt, sizeof keyopt, "auth.keys_file=%s", keys);
    snprintf(datadir, sizeof datadir, "redis.data_dir=%s/var", c->dir);
    const char *argv[64];
    int n = 0;
    const char *bin = getenv("CITYD_BIN");
    argv[n++] = bin && *bin ? bin : "bin/cityd";
    argv[n++] = "-o"; argv[n++] = listen;
    argv[n++] = "-o"; argv[n++] = redis;
    argv[n++] = "-o"; argv[n++] = keyopt;
    argv[n++] = "-o"; argv[n++] = datadir;
    argv[n++] = "-o"; argv[n++] = "log.level=debug";
    for (int i = 0; extra && extra[i] && n < 60; i++) {
        argv[n++] = "-o";
        argv[n++] = extra[i];
    }
    argv[n] = NULL;

    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        int fd = open(c->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    c->pid = pid;
    return 0;
}

int support_cityd_start(struct test_cityd *c, const char *redis_url, const char *const *extra)
{
    if (support_cityd_spawn(c, redis_url, extra) != 0)
        return -1;
    bool answered = false;
    int tries = support_timeout_ms(10000) / 10;
    for (int i = 0; i < tries; i++) {
        struct http_result hr;
        /* With a key: the server may run with auth.public_read off. */
        if (support_get(c->base, "/v1/health", "k-admin", &hr) == 0) {
            long st = hr.status;
            http_result_free(&hr);
            answered |= st == 503;
            if (st == 200)
                return 0;
        }
        if (waitpid(c->pid, NULL, WNOHANG) == c->pid) {
            c->pid = 0;
            return -1;
        }
        support_sleep_ms(10);
    }
    return answered ? 0 : -1;            /* up, but not ready in 10 s (Redis down?) */
}

int support_cityd_signal_wait(struct test_cityd *c, int sig, int timeout_ms)
{
    if (c->pid <= 0)
        return -1;
    kill(c->pid, sig);
    int st = wait_child(c->pid, support_timeout_ms(timeout_ms));
    if (st == -1)
        return -1;
    c->pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

void support_cityd_stop(struct test_cityd *c)
{
    if (c->pid > 0 && support_cityd_signal_wait(c, SIGTERM, 10000) == -1) {
        kill(c->pid, SIGKILL);
        waitpid(c->pid, NULL, 0);
        c->pid = 0;
    }
    if (c->dir[0] && getenv("CITYD_KEEP_LOGS") == NULL)
        support_rmrf(c->dir);
    c->dir[0] = '\0';
}

/* ---- HTTP client ---- */

struct grow {
    char *buf;
    size_t len, cap;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct grow *g = arg;
    size_t add = size * n;
    if (g->len + add + 1 > g->cap) {
        size_t ncap = (g->len + add + 1) * 2;
        char *nb = realloc(g->buf, ncap);
        if (nb == NULL)
            return 0;
        g->buf = nb;
        g->cap = ncap;
    }
    memcpy(g->buf + g->len, p, add);
    g->len += add;
    g->buf[g->len] = '\0';
    return add;
}

static void header_value(const char *line, size_t len, const char *name, char *out,
                         size_t outlen)
{
    size_t nl = strlen(name);
    if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return;
    const char *v = line + nl + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    snprintf(out, outlen, "%.*s", (int)(end - v), v);
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct http_result *r = arg;
    size_t len = size * n;
    header_value(p, len, "Content-Type", r->content_type, sizeof r->content_type);
    header_value(p, len, "Retry-After", r->retry_after, sizeof r->retry_after);
    header_value(p, len, "Allow", r->allow, sizeof r->allow);
    header_value(p, len, "Access-Control-Allow-Origin", r->acao, sizeof r->acao);
    return len;
}

void http_result_free(struct http_result *r)
{
    free(r->body);
    if (r->json)
        json_decref(r->json);
    memset(r, 0, sizeof *r);
}

/* support_http with an Accept header when accept is not NULL. */
static int http_do(const char *method, const char *url, const char *key, const void *body,
                   size_t body_len, const char *content_type, const char *accept,
                   int timeout_ms, struct http_result *out)
{
    memset(out, 0, sizeof *out);
    CURL *h = curl_easy_init();
    if (h == NULL)
        return -1;
    struct grow g = {0};
    struct curl_slist *hdrs = NULL;
    char auth[300], ct[200];
    if (key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        hdrs = curl_slist_append(hdrs, auth);
    }
    snprintf(ct, sizeof ct, "Content-Type: %s",
             content_type ? content_type : "application/json");
    hdrs = curl_slist_append(hdrs, ct);
    hdrs = curl_slist_append(hdrs, "Expect:");
    char acc[200];
    if (accept) {
        snprintf(acc, sizeof acc, "Accept: %s", accept);
        hdrs = curl_slist_append(hdrs, acc);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)body_len);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &g);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(h);
    int ret = -1;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
        out->body = g.buf ? g.buf : strdup("");
        out->len = g.len;
        g.buf = NULL;
        if (strstr(out->content_type, "json"))
            out->json = json_loadb(out->body, out->len, 0, NULL);
        ret = 0;
    }
    free(g.buf);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return ret;
}

int support_http(const char *method, const char *url, const char *key, const void *body,
                 size_t body_len, const char *content_type, int timeout_ms,
                 struct http_result *out)
{
    return http_do(method, url, key, body, body_len, content_type, NULL, timeout_ms, out);
}

int support_get_accept(const char *base, const char *path, const char *accept,
                       struct http_result *out)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", base, path);
    return http_do("GET", url, NULL, NULL, 0, NULL, accept, support_timeout_ms(5000), out);
}

int support_get(const char *base, const char *path, const char *key, struct http_result *out)
{
    char url[2048];
    snprintf(url, sizeof url, "%s%s", base, path);
    return support_http("GET", url, key, NULL, 0, NULL, support_timeout_ms(5000), out);
}

int support_send(const char *method, const char *base, const char *path, const char *key,
                 const char *json_body, struct http_result *out)
{
    char url[2048];
    snprintf(url, sizeof url, "%s%s", base, path);
    return support_http(method, url, key, json_body, json_body ? strlen(json_body) : 0, NULL,
                        support_timeout_ms(5000), out);
}

const char *support_error_code(const struct http_result *r)
{
    json_t *e = r->json ? json_object_get(r->json, "error") : NULL;
    const char *code = e ? json_string_value(json_object_get(e, "code")) : NULL;
    return code ? code : "";
}

char *support_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc(n > 0 ? (size_t)n + 1 : 1);
    size_t got = n > 0 ? fread(b, 1, (size_t)n, f) : 0;
    b[got] = '\0';
    fclose(f);
    return b;
}

int support_run(const char *const *argv, const char *dir, char **out, char **err)
{
    char o[600], e[600];
    snprintf(o, sizeof o, "%s/run.stdout", dir);
    snprintf(e, sizeof e, "%s/run.stderr", dir);
    pid_t pid = fork();
    if (pid == 0) {
        int fo = open(o, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fe = open(e, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0)
        st = -1;
    *out = support_slurp(o);
    *err = support_slurp(e);
    return pid > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void support_citysim_path(char *buf, size_t n)
{
    const char *b = getenv("CITYSIM_BIN"), *c = getenv("CITYD_BIN");
    if (b && *b)
        snprintf(buf, n, "%s", b);
    else if (c && strrchr(c, '/'))
        snprintf(buf, n, "%.*s/citysim", (int)(strrchr(c, '/') - c), c);
    else
        snprintf(buf, n, "bin/citysim");
}
