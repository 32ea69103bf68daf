/* worker.h -- long computations off the event loop (api.md section 1: "a
 * long computation never stalls the event loop").
 *
 * A small pool of threads with a bounded queue. A job is the caller's
 * struct and two plain functions over it:
 *   run(job, cancel)  on a worker thread: computes from the job's input into
 *                     the job's output. It must touch nothing but the job
 *                     (no JSON shared with the loop, no HTTP, no store, no
 *                     libevent): it runs while the loop carries on. It
 *                     should return soon after *cancel becomes non-zero.
 *   done(job, st)     afterwards on the loop thread (the completion is
 *                     signalled through an eventfd the loop reads), where
 *                     it may reply to a request; it owns the job again and
 *                     frees it.
 * Jobs start in the order they were submitted. The worker threads block
 * every signal (the loop's thread handles them) and run at a lower
 * priority (nice +5) so that on a busy machine the loop wins a contended
 * core. */
#ifndef CITYD_WORKER_H
#define CITYD_WORKER_H

#include <stdatomic.h>
#include <stddef.h>

struct event_base;
struct worker;

enum worker_status {
    WORKER_DONE = 0,     /* run() returned */
    WORKER_CANCELLED,    /* worker_free: run() was cut short or never ran */
};

typedef void worker_run_fn(void *job, const atomic_int *cancel);
typedef void worker_done_fn(void *job, enum worker_status st);

struct worker_opts {
    int threads;                 /* >= 1 */
    size_t queue_max;            /* jobs waiting behind the running ones */
    /* Called by each worker thread just before it exits (free what a
     * library keeps per thread), or NULL. */
    void (*thread_exit)(void);
};

/* Start the threads. NULL with err filled on failure. Does not own base. */
struct worker *worker_new(struct event_base *base, const struct worker_opts *o, char *err,
                          size_t errlen);

/* Queue a job. 0: queued, done() will be called exactly once. -1: the
 * queue is full (or the pool is stopping): nothing queued, done() will not
 * be called, the job is still the caller's. Loop thread only. */
int worker_submit(struct worker *w, worker_run_fn *run, worker_done_fn *done, void *job);

/* Stop: raise every job's cancel flag, wait for the threads to end, then
 * call done(job, WORKER_CANCELLED) on the caller's thread for every job
 * not yet handed back (queued, running or finished), and free. Call it
 * once the loop no longer runs (done must not reply then). NULL is a
 * no-op. */
void worker_free(struct worker *w);

#endif
