/* The connection pool: several SMTP connections to the MTA working through
 * one fan-out in parallel, with every piece of bookkeeping in the caller's
 * thread.
 *
 * Each worker thread owns one SMTP client (and so one connection, kept
 * open across entries up to max_sessions_per_connection).  Workers take
 * transactions from a shared queue, run them, hand the per-recipient
 * results back on the results queue, and then wait for an acknowledgement
 * before they take the next transaction.  The caller's thread collects
 * results, makes the replies durable in one commit for all the results
 * that arrived together (group commit), and only then acknowledges them.
 * So at most one transaction per connection is ever unrecorded, and a
 * worker notes its final dot in the journal the moment it is out
 * (run->sent), which is what makes a kill -9 resume without duplicates
 * (delivery-journal.c).
 *
 * Failures: a connection that dies in a transaction fails that
 * transaction's undecided recipients with 444 (Mailman's code for "socket
 * trouble", temporary) and reconnects for the next one; a cached
 * connection that turns out dead before the transaction got any reply is
 * replaced and the transaction re-run (nothing was committed).  A worker
 * that cannot open a connection gives its transaction back and sits the
 * rest of the run out, so a limit on connections at the MTA costs
 * parallelism, not mail; when no worker is left, the remaining
 * transactions fail with 444 and the reason.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "delivery-private.h"

#include <string.h>

/* A cached connection idle longer than this is closed rather than reused:
 * the MTA has probably timed it out already (Postfix's smtpd waits 300 s). */
#define IDLE_REUSE_USEC (60 * G_USEC_PER_SEC)

typedef enum {
  CONTROL_ACK = 1,
  CONTROL_REVIVE,
  CONTROL_QUIT,
} Control;

typedef struct Worker Worker;

typedef struct {
  const MmDeliveryRun *run;
  guint tx_index;
} Job;

typedef struct {
  Worker *worker;
  Job *job;
  MmSmtpStatus *statuses; /* one per recipient of the transaction */
  gboolean give_back;     /* not attempted: the worker could not connect */
  gboolean broken;        /* the worker sits out the rest of the run */
  gboolean opened;        /* a connection was opened for it */
  char *problem;          /* connection-level failure, for the log */
} Result;

struct Worker {
  MmDeliveryEngine *engine;
  GThread *thread;
  GAsyncQueue *control; /* Control values */
  MmSmtpClient *client; /* touched by the worker thread only */
};

struct MmDeliveryEngine {
  const MmSmtpSettings *settings;
  SSL_CTX *tls;
  guint n_workers;
  Worker *workers;
  gboolean started;
  gboolean *broken;     /* per worker, the caller's view */
  GAsyncQueue *jobs;    /* Job *, or &quit_job */
  GAsyncQueue *results; /* Result * */
};

/* Pushed once per worker to make it exit. */
static Job quit_job;

MmDeliveryTx *
mm_delivery_tx_new(const char *sender)
{
  MmDeliveryTx *tx = g_new0(MmDeliveryTx, 1);
  tx->sender = g_strdup(sender);
  tx->indexes = g_array_new(FALSE, FALSE, sizeof(guint));
  return tx;
}

void
mm_delivery_tx_free(MmDeliveryTx *tx)
{
  if (tx == NULL)
    return;
  g_free(tx->sender);
  g_array_unref(tx->indexes);
  g_free(tx);
}

static void
result_free(Result *result, guint n)
{
  for (guint i = 0; i < n; i++)
    mm_smtp_status_clear(&result->statuses[i]);
  g_free(result->statuses);
  g_free(result->problem);
  g_free(result);
}

/* ---- the worker side ---------------------------------------------------- */

typedef struct {
  const MmDeliveryRun *run;
  const MmDeliveryTx *tx;
} DotContext;

/* The final dot is out: tell the journal at once (see
 * delivery-journal.c, "Why 'S'"). */
static void
dot_sent(const gboolean *accepted, gpointer data)
{
  DotContext *dc = data;
  guint n = dc->tx->indexes->len;
  g_autofree guint *indexes = g_new(guint, n);
  guint k = 0;
  for (guint i = 0; i < n; i++)
    if (accepted[i])
      indexes[k++] = g_array_index(dc->tx->indexes, guint, i);
  dc->run->sent(indexes, k, dc->run->journal_data);
}

static Result *
do_job(Worker *worker, Job *job)
{
  const MmDeliveryRun *run = job->run;
  const MmDeliveryTx *tx = run->txs->pdata[job->tx_index];
  guint n = tx->indexes->len;
  Result *result = g_new0(Result, 1);
  result->worker = worker;
  result->job = job;
  result->statuses = g_new0(MmSmtpStatus, n);

  if (mm_smtp_client_is_open(worker->client) &&
      g_get_monotonic_time() - mm_smtp_client_last_used(worker->client) >
          IDLE_REUSE_USEC)
    mm_smtp_client_quit(worker->client);

  g_autofree const char **recipients = g_new0(const char *, n + 1);
  for (guint i = 0; i < n; i++)
    recipients[i] = run->recipients[g_array_index(tx->indexes, guint, i)];
  g_autoptr(GBytes) head = NULL;
  g_autoptr(GBytes) body = NULL;
  if (run->message_func == NULL ||
      !run->message_func(tx, run->head_data, &head, &body)) {
    head = run->head_func != NULL ? run->head_func(tx, run->head_data)
                                  : g_bytes_ref(run->head);
    body = g_bytes_ref(run->body);
  }
  DotContext dc = {run, tx};
  MmSmtpTransaction smtp_tx = {
      .sender = tx->sender,
      .recipients = recipients,
      .n_recipients = n,
      .head = head,
      .body = body,
      .eightbit = run->eightbit,
      .dot_sent = run->sent != NULL ? dot_sent : NULL,
      .dot_data = &dc,
  };

  for (int attempt = 0; attempt < 2; attempt++) {
    g_autoptr(GError) error = NULL;
    if (!mm_smtp_client_is_open(worker->client)) {
      if (!mm_smtp_client_open(worker->client, &error)) {
        result->problem = g_strdup(error->message);
        result->give_back = TRUE;
        result->broken = TRUE;
        return result;
      }
      result->opened = TRUE;
    }
    gboolean stale = FALSE;
    if (mm_smtp_client_send(worker->client, &smtp_tx, result->statuses,
                            &stale, &error))
      return result;
    if (stale && attempt == 0) {
      for (guint i = 0; i < n; i++)
        mm_smtp_status_clear(&result->statuses[i]);
      continue;
    }
    /* The connection died with the transaction open: who has no final
     * answer was not delivered (or, after the final dot, may have been:
     * RFC 1047's duplicate, which only retrying can settle). */
    g_autofree char *text =
        g_strdup_printf("4.4.2 connection to the MTA failed: %s",
                        error->message);
    for (guint i = 0; i < n; i++)
      if (result->statuses[i].code == 0)
        mm_smtp_status_set(&result->statuses[i], 444, text);
    g_free(result->problem);
    result->problem = g_strdup(error->message);
    return result;
  }
  return result;
}

static gpointer
worker_main(gpointer data)
{
  Worker *worker = data;
  MmDeliveryEngine *engine = worker->engine;

  for (;;) {
    Job *job = g_async_queue_pop(engine->jobs);
    if (job == &quit_job)
      break;
    Result *result = do_job(worker, job);
    gboolean broken = result->broken;
    g_async_queue_push(engine->results, result);
    if (GPOINTER_TO_INT(g_async_queue_pop(worker->control)) == CONTROL_QUIT)
      break;
    if (broken &&
        GPOINTER_TO_INT(g_async_queue_pop(worker->control)) == CONTROL_QUIT)
      break;
  }
  mm_smtp_client_quit(worker->client);
  return NULL;
}

/* ---- the caller's side -------------------------------------------------- */

MmDeliveryEngine *
mm_delivery_engine_new(const MmSmtpSettings *settings, guint connections,
                       GError **error)
{
  SSL_CTX *tls = NULL;
  if (settings->security != MM_SMTP_SECURITY_NONE) {
    tls = mm_smtp_tls_context_new(settings, error);
    if (tls == NULL)
      return NULL;
  }
  MmDeliveryEngine *engine = g_new0(MmDeliveryEngine, 1);
  engine->settings = settings;
  engine->tls = tls;
  engine->n_workers = MAX(connections, 1);
  engine->workers = g_new0(Worker, engine->n_workers);
  engine->broken = g_new0(gboolean, engine->n_workers);
  engine->jobs = g_async_queue_new();
  engine->results = g_async_queue_new();
  for (guint i = 0; i < engine->n_workers; i++) {
    engine->workers[i].engine = engine;
    engine->workers[i].control = g_async_queue_new();
    engine->workers[i].client = mm_smtp_client_new(settings, tls);
  }
  return engine;
}

void
mm_delivery_engine_free(MmDeliveryEngine *engine)
{
  if (engine == NULL)
    return;
  if (engine->started) {
    /* An idle worker waits for a job, one that sat out a run waits on its
     * control queue: tell both, whichever it reads first. */
    for (guint i = 0; i < engine->n_workers; i++) {
      g_async_queue_push(engine->jobs, &quit_job);
      g_async_queue_push(engine->workers[i].control,
                         GINT_TO_POINTER(CONTROL_QUIT));
    }
    for (guint i = 0; i < engine->n_workers; i++)
      g_thread_join(engine->workers[i].thread);
  }
  for (guint i = 0; i < engine->n_workers; i++) {
    mm_smtp_client_free(engine->workers[i].client);
    g_async_queue_unref(engine->workers[i].control);
  }
  g_async_queue_unref(engine->jobs);
  g_async_queue_unref(engine->results);
  if (engine->tls != NULL)
    SSL_CTX_free(engine->tls);
  g_free(engine->broken);
  g_free(engine->workers);
  g_free(engine);
}

static void
start_workers(MmDeliveryEngine *engine)
{
  if (engine->started)
    return;
  for (guint i = 0; i < engine->n_workers; i++) {
    g_autofree char *name = g_strdup_printf("smtp-%u", i);
    engine->workers[i].thread =
        g_thread_new(name, worker_main, &engine->workers[i]);
  }
  engine->started = TRUE;
}

/* Fails every transaction still queued with @code and @text; returns how
 * many. */
static guint
drain_jobs(MmDeliveryEngine *engine, MmSmtpStatus *outcomes, int code,
           const char *text)
{
  guint drained = 0;
  Job *job;
  while ((job = g_async_queue_try_pop(engine->jobs)) != NULL) {
    g_assert(job != &quit_job);
    const MmDeliveryTx *tx = job->run->txs->pdata[job->tx_index];
    for (guint i = 0; i < tx->indexes->len; i++)
      mm_smtp_status_set(&outcomes[g_array_index(tx->indexes, guint, i)],
                         code, text);
    drained++;
  }
  return drained;
}

void
mm_delivery_engine_run(MmDeliveryEngine *engine, const MmDeliveryRun *run,
                       MmSmtpStatus *outcomes, MmDeliveryStats *stats)
{
  if (stats->problems == NULL)
    stats->problems = g_ptr_array_new_with_free_func(g_free);
  guint pending = run->txs->len;
  if (pending == 0)
    return;

  start_workers(engine);
  guint healthy = engine->n_workers;
  for (guint i = 0; i < engine->n_workers; i++) {
    if (engine->broken[i]) {
      engine->broken[i] = FALSE;
      g_async_queue_push(engine->workers[i].control,
                         GINT_TO_POINTER(CONTROL_REVIVE));
    }
  }
  g_autofree Job *jobs = g_new0(Job, run->txs->len);
  for (guint i = 0; i < run->txs->len; i++) {
    jobs[i].run = run;
    jobs[i].tx_index = i;
    g_async_queue_push(engine->jobs, &jobs[i]);
  }

  gboolean commit_failed = FALSE;
  gboolean stopping = FALSE;
  g_autofree char *last_problem = NULL;
  g_autoptr(GPtrArray) batch = g_ptr_array_new();
  g_autoptr(GArray) accepted = g_array_new(FALSE, FALSE, sizeof(guint));
  g_autoptr(GArray) failed = g_array_new(FALSE, FALSE, sizeof(guint));

  while (pending > 0) {
    if (healthy == 0) {
      g_autofree char *text = g_strdup_printf(
          "4.4.1 no connection to the MTA: %s",
          last_problem ? last_problem : "unknown reason");
      pending -= drain_jobs(engine, outcomes, 444, text);
      /* Every worker reported its last result before it sat out, so
       * nothing is in flight: the queue held all that was left. */
      g_assert(pending == 0);
      break;
    }
    g_ptr_array_set_size(batch, 0);
    g_ptr_array_add(batch, g_async_queue_pop(engine->results));
    Result *more;
    while ((more = g_async_queue_try_pop(engine->results)) != NULL)
      g_ptr_array_add(batch, more);

    /* One durable commit for every reply in the batch, before any of
     * their workers goes on. */
    g_array_set_size(accepted, 0);
    g_array_set_size(failed, 0);
    for (guint b = 0; b < batch->len; b++) {
      Result *r = batch->pdata[b];
      const MmDeliveryTx *tx = run->txs->pdata[r->job->tx_index];
      if (r->give_back)
        continue;
      for (guint i = 0; i < tx->indexes->len; i++)
        g_array_append_val(r->statuses[i].code / 100 == 2 ? accepted : failed,
                           g_array_index(tx->indexes, guint, i));
    }
    if (accepted->len + failed->len > 0 && !commit_failed) {
      g_autoptr(GError) error = NULL;
      if (!run->commit((const guint *)accepted->data, accepted->len,
                       (const guint *)failed->data, failed->len,
                       run->journal_data, &error)) {
        /* Without a durable record, going on would turn a crash into
         * duplicates: stop here, and let the rest be retried. */
        commit_failed = TRUE;
        g_ptr_array_add(stats->problems,
                        g_strdup_printf("cannot record delivery progress: %s",
                                        error->message));
        pending -= drain_jobs(engine, outcomes, 444,
                              "4.3.0 local error: delivery progress cannot "
                              "be recorded (not sent)");
      }
    }

    for (guint b = 0; b < batch->len; b++) {
      Result *r = batch->pdata[b];
      const MmDeliveryTx *tx = run->txs->pdata[r->job->tx_index];
      guint worker_index = (guint)(r->worker - engine->workers);
      if (r->opened)
        stats->connections_opened++;
      if (r->problem != NULL) {
        g_ptr_array_add(stats->problems, g_strdup(r->problem));
        g_free(last_problem);
        last_problem = g_strdup(r->problem);
      }
      if (r->give_back) {
        g_async_queue_push(engine->jobs, r->job);
        if (commit_failed)
          pending -= drain_jobs(engine, outcomes, 444,
                                "4.3.0 local error: delivery progress cannot "
                                "be recorded (not sent)");
      } else {
        for (guint i = 0; i < tx->indexes->len; i++) {
          MmSmtpStatus *out = &outcomes[g_array_index(tx->indexes, guint, i)];
          mm_smtp_status_clear(out);
          *out = r->statuses[i];
          r->statuses[i] = (MmSmtpStatus){0, NULL};
        }
        stats->transactions++;
        pending--;
      }
      if (r->broken) {
        engine->broken[worker_index] = TRUE;
        healthy--;
      }
      g_async_queue_push(r->worker->control, GINT_TO_POINTER(CONTROL_ACK));
      result_free(r, tx->indexes->len);
    }

    /* A stop request (the runner got SIGTERM): what no worker has taken
     * yet is never started, and says so with code 0; the transactions in
     * flight still finish and are recorded.  Checked again after every
     * batch, for jobs given back meanwhile. */
    if (!stopping && run->should_stop != NULL &&
        run->should_stop(run->stop_data))
      stopping = TRUE;
    if (stopping) {
      guint n = drain_jobs(engine, outcomes, 0, "not started: stopping");
      pending -= n;
      stats->interrupted += n;
    }
  }
  /* Every job is accounted for: none is left in the shared queue, so the
   * Job array can go. */
}
