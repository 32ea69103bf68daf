/* worker.c -- a small thread pool with a bounded queue whose results come
 * back to the event loop (see worker.h).
 *
 * One mutex guards two FIFO lists: jobs waiting for a thread and jobs
 * finished but not yet handed back. A worker thread takes the oldest
 * waiting job, runs it unlocked, appends it to the finished list and
 * writes to an eventfd; the loop's event on that eventfd takes the whole
 * finished list and calls each job's done(). The loop never waits for a
 * worker, and a worker never touches libevent. */
#include "worker.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

/* Worker threads yield to the loop's thread on a contended core. */
#define WORKER_NICE 5

struct wjob {
    worker_run_fn *run;
    worker_done_fn *done;
    void *job;
    struct wjob *next;
};

struct wlist {
    struct wjob *head, *tail;
    size_t n;
};

struct worker {
    pthread_mutex_t mu;
    pthread_cond_t cv;             /* a job was queued, or stopping */
    struct wlist queue, finished;
    size_t running;
    size_t queue_max;
    atomic_int stop;               /* every job's cancel flag */
    int efd;                       /* finished jobs are waiting */
    struct event *ev;
    pthread_t *threads;
    int nthreads;                  /* started */
    void (*thread_exit)(void);
};

static void list_push(struct wlist *l, struct wjob *j)
{
    j->next = NULL;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
    l->n++;
}

static struct wjob *list_pop(struct wlist *l)
{
    struct wjob *j = l->head;
    if (j) {
        l->head = j->next;
        if (l->head == NULL)
            l->tail = NULL;
        l->n--;
    }
    return j;
}

static struct wlist list_take(struct wlist *l)
{
    struct wlist all = *l;
    *l = (struct wlist){ NULL, NULL, 0 };
    return all;
}

static void wake_loop(struct worker *w)
{
    uint64_t one = 1;
    /* EAGAIN only when the counter is near 2^64: the loop is awake anyway. */
    while (write(w->efd, &one, sizeof one) < 0 && errno == EINTR)
        ;
}

static void *thread_main(void *arg)
{
    struct worker *w = arg;
    /* Linux: nice applies to the calling thread alone. Best effort. */
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), WORKER_NICE) != 0)
        errno = 0;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->queue.n == 0 && !atomic_load(&w->stop))
            pthread_cond_wait(&w->cv, &w->mu);
        if (atomic_load(&w->stop))
            break;
        struct wjob *j = list_pop(&w->queue);
        w->running++;
        pthread_mutex_unlock(&w->mu);
        j->run(j->job, &w->stop);
        pthread_mutex_lock(&w->mu);
        w->running--;
        list_push(&w->finished, j);
        wake_loop(w);
    }
    pthread_mutex_unlock(&w->mu);
    if (w->thread_exit)
        w->thread_exit();
    return NULL;
}

/* Loop side: hand back every finished job, oldest first. */
static void on_finished(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct worker *w = arg;
    uint64_t count;
    while (read(fd, &count, sizeof count) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&w->mu);
    struct wlist all = list_take(&w->finished);
    pthread_mutex_unlock(&w->mu);
    for (struct wjob *j = list_pop(&all); j != NULL; j = list_pop(&all)) {
        j->done(j->job, WORKER_DONE);
        free(j);
    }
}

/* Threads start with every signal blocked: the loop's thread takes them. */
static int start_threads(struct worker *w, int n, char *err, size_t errlen)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = 0;
    for (; w->nthreads < n; w->nthreads++) {
        rc = pthread_create(&w->threads[w->nthreads], NULL, thread_main, w);
        if (rc != 0) {
            snprintf(err, errlen, "worker: cannot start a thread: %s", strerror(rc));
            break;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc == 0 ? 0 : -1;
}

struct worker *worker_new(struct event_base *base, const struct worker_opts *o, char *err,
                          size_t errlen)
{
    struct worker *w = calloc(1, sizeof(*w));
    if (w == NULL || o->threads < 1) {
        snprintf(err, errlen, w ? "worker: at least one thread" : "out of memory");
        free(w);
        return NULL;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    atomic_init(&w->stop, 0);
    w->queue_max = o->queue_max;
    w->thread_exit = o->thread_exit;
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    w->threads = calloc((size_t)o->threads, sizeof(pthread_t));
    if (w->efd >= 0)
        w->ev = event_new(base, w->efd, EV_READ | EV_PERSIST, on_finished, w);
    if (w->efd < 0 || w->threads == NULL || w->ev == NULL || event_add(w->ev, NULL) != 0) {
        snprintf(err, errlen, "worker: %s", w->efd < 0 ? strerror(errno) : "out of memory");
        worker_free(w);
        return NULL;
    }
    if (start_threads(w, o->threads, err, errlen) != 0) {
        worker_free(w);
        return NULL;
    }
    return w;
}

int worker_submit(struct worker *w, worker_run_fn *run, worker_done_fn *done, void *job)
{
    struct wjob *j = malloc(sizeof(*j));
    if (j == NULL)
        return -1;
    *j = (struct wjob){ run, done, job, NULL };
    pthread_mutex_lock(&w->mu);
    /* Room for one job per thread plus queue_max waiting behind them. */
    bool full = atomic_load(&w->stop) ||
                w->queue.n + w->running >= (size_t)w->nthreads + w->queue_max;
    if (!full) {
        list_push(&w->queue, j);
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    if (full)
        free(j);
    return full ? -1 : 0;
}

void worker_free(struct worker *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    atomic_store(&w->stop, 1);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < w->nthreads; i++)
        pthread_join(w->threads[i], NULL);
    /* Threads gone: the lists are ours. Finished first, then never run. */
    struct wlist lists[2] = { list_take(&w->finished), list_take(&w->queue) };
    for (int k = 0; k < 2; k++) {
        for (struct wjob *j = list_pop(&lists[k]); j != NULL; j = list_pop(&lists[k])) {
            j->done(j->job, WORKER_CANCELLED);
            free(j);
        }
    }
    if (w->ev)
        event_free(w->ev);
    if (w->efd >= 0)
        close(w->efd);
    free(w->threads);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
