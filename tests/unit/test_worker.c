/* test_worker.c -- the worker pool with a real libevent loop: jobs run on
 * other threads while the loop keeps turning, results come back on the
 * loop's thread in submission order, a full queue refuses at once,
 * worker_free cancels what runs and hands back what never ran, and every
 * thread calls its exit hook. */
#include <CUnit/CUnit.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support.h"
#include "worker.h"

struct job {
    int id;
    int spin_ms;                   /* busy for this long, or until cancelled */
    pthread_t ran_on;
    atomic_bool ran;               /* read by the test while it runs */
    bool cancelled_run;
    enum worker_status st;
    bool done;
    pthread_t done_on;
    int *order, *norder;           /* done() appends id here */
};

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void job_run(void *arg, const atomic_int *cancel)
{
    struct job *j = arg;
    j->ran_on = pthread_self();
    atomic_store(&j->ran, true);
    double end = now_ms() + j->spin_ms;
    while (now_ms() < end) {
        if (atomic_load(cancel)) {
            j->cancelled_run = true;
            return;
        }
    }
}

static void job_done(void *arg, enum worker_status st)
{
    struct job *j = arg;
    j->st = st;
    j->done = true;
    j->done_on = pthread_self();
    j->order[(*j->norder)++] = j->id;
}

static atomic_int exits;

static void on_thread_exit(void)
{
    atomic_fetch_add(&exits, 1);
}

/* Run the loop until every job is done (or 10 s); count loop turns. */
static int loop_until_done(struct event_base *base, struct job *js, int n)
{
    int turns = 0;
    double end = now_ms() + 10000;
    for (;;) {
        bool all = true;
        for (int i = 0; i < n; i++)
            all &= js[i].done;
        if (all || now_ms() > end)
            return turns;
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        turns++;
        struct timespec ts = { 0, 200000 };
        nanosleep(&ts, NULL);
    }
}

static void test_jobs_off_the_loop(void)
{
    struct event_base *base = event_base_new();
    char err[128];
    atomic_store(&exits, 0);
    struct worker_opts o = { 2, 8, on_thread_exit };
    struct worker *w = worker_new(base, &o, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    struct job js[6];
    int order[6], norder = 0;
    for (int i = 0; i < 6; i++) {
        js[i] = (struct job){ .id = i, .spin_ms = 30, .order = order, .norder = &norder };
        CU_ASSERT_EQUAL(worker_submit(w, job_run, job_done, &js[i]), 0);
    }
    int turns = loop_until_done(base, js, 6);
    /* 6 x 30 ms of work on 2 threads: the loop turned all along. (Not
     * under valgrind, make valgrind: it runs one thread at a time, in
     * slices longer than a job, so neither this nor the order below can
     * show there.) */
    bool serial = support_under_valgrind(0);
    CU_ASSERT(serial || turns > 50);
    for (int i = 0; i < 6; i++) {
        CU_ASSERT_TRUE(atomic_load(&js[i].ran));
        CU_ASSERT_TRUE(js[i].done);
        CU_ASSERT_EQUAL(js[i].st, WORKER_DONE);
        CU_ASSERT_FALSE(pthread_equal(js[i].ran_on, pthread_self()));
        CU_ASSERT_TRUE(pthread_equal(js[i].done_on, pthread_self()));
    }
    /* Started in order; two at a time, so finished (and handed back)
     * nearly in order: each job ends before the one two places later. */
    CU_ASSERT_EQUAL(norder, 6);
    for (int i = 0; i + 2 < 6; i++) {
        int pi = -1, pk = -1;
        for (int k = 0; k < 6; k++) {
            if (order[k] == i) pi = k;
            if (order[k] == i + 2) pk = k;
        }
        CU_ASSERT(serial || pi < pk);
    }
    worker_free(w);
    CU_ASSERT_EQUAL(atomic_load(&exits), 2);
    event_base_free(base);
}

static void test_queue_bound(void)
{
    struct event_base *base = event_base_new();
    char err[128];
    struct worker_opts o = { 1, 2, NULL };
    struct worker *w = worker_new(base, &o, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    struct job js[4];
    int order[4], norder = 0;
    for (int i = 0; i < 4; i++)
        js[i] = (struct job){ .id = i, .spin_ms = 200, .order = order, .norder = &norder };
    /* One running + two waiting; the fourth is refused at once and its
     * done() is never called. */
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(worker_submit(w, job_run, job_done, &js[i]), 0);
    double t0 = now_ms();
    CU_ASSERT_EQUAL(worker_submit(w, job_run, job_done, &js[3]), -1);
    CU_ASSERT(now_ms() - t0 < 50);
    loop_until_done(base, js, 3);
    CU_ASSERT_FALSE(js[3].done);
    CU_ASSERT_FALSE(atomic_load(&js[3].ran));
    /* Room again once they are handed back. */
    CU_ASSERT_EQUAL(worker_submit(w, job_run, job_done, &js[3]), 0);
    loop_until_done(base, js, 4);
    CU_ASSERT_TRUE(js[3].done);
    worker_free(w);
    event_base_free(base);
}

/* worker_free with one job running and two waiting: the running one sees
 * its cancel flag and stops early, all three come back CANCELLED, none
 * twice, and the call returns promptly. */
static void test_free_cancels(void)
{
    struct event_base *base = event_base_new();
    char err[128];
    atomic_store(&exits, 0);
    struct worker_opts o = { 1, 4, on_thread_exit };
    struct worker *w = worker_new(base, &o, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    struct job js[3];
    int order[3], norder = 0;
    for (int i = 0; i < 3; i++) {
        js[i] = (struct job){ .id = i, .spin_ms = 5000, .order = order, .norder = &norder };
        CU_ASSERT_EQUAL(worker_submit(w, job_run, job_done, &js[i]), 0);
    }
    double t0 = now_ms();
    while (!atomic_load(&js[0].ran) && now_ms() - t0 < 2000) {
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    CU_ASSERT_TRUE(atomic_load(&js[0].ran));
    t0 = now_ms();
    worker_free(w);
    CU_ASSERT(now_ms() - t0 < 1000);
    CU_ASSERT_TRUE(js[0].cancelled_run);
    CU_ASSERT_FALSE(atomic_load(&js[1].ran));
    CU_ASSERT_EQUAL(norder, 3);
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_TRUE(js[i].done);
        CU_ASSERT_EQUAL(js[i].st, WORKER_CANCELLED);
    }
    CU_ASSERT_EQUAL(atomic_load(&exits), 1);
    worker_free(NULL);
    event_base_free(base);
}

int suite_worker(void)
{
    CU_pSuite s = CU_add_suite("worker", NULL, NULL);
    if (s == NULL)
        return -1;
    if (!CU_add_test(s, "jobs run off the loop, come back on it", test_jobs_off_the_loop) ||
        !CU_add_test(s, "bounded queue", test_queue_bound) ||
        !CU_add_test(s, "free cancels and hands back", test_free_cancels))
        return -1;
    return 0;
}
