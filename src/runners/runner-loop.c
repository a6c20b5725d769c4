/* The runner process: spec parsing, signals, and the queue loop.
 *
 * Invariant: an entry claimed by this process is finished only after
 * whatever the handler produced is durably enqueued, so a kill -9 at any
 * line leaves either the .bak (recovered at the next start) or the next
 * queue's entry (and, between the two, both: at least once, never lost).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "runner.h"
#include "runner-private.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base-error.h"
#include "base-log.h"

gboolean
mm_runner_parse_spec(const char *spec, char **name_out, guint *slice_out,
                     guint *count_out, GError **error)
{
  g_auto(GStrv) parts = g_strsplit(spec, ":", -1);
  guint n = g_strv_length(parts);
  guint64 slice = 0, count = 1;

  if ((n != 1 && n != 3) || parts[0][0] == '\0' ||
      (n == 3 && (!g_ascii_string_to_unsigned(parts[1], 10, 0, 1023, &slice,
                                              NULL) ||
                  !g_ascii_string_to_unsigned(parts[2], 10, 1, 1024, &count,
                                              NULL)))) {
    g_set_error(error, MM_ERROR, MM_ERROR_INVALID,
                "bad runner specification \"%s\" (NAME or NAME:SLICE:COUNT)",
                spec);
    return FALSE;
  }
  if ((count & (count - 1)) != 0 || slice >= count) {
    g_set_error(error, MM_ERROR, MM_ERROR_INVALID,
                "bad runner specification \"%s\": COUNT must be a power of "
                "two and SLICE less than COUNT",
                spec);
    return FALSE;
  }
  *name_out = g_strdup(parts[0]);
  *slice_out = (guint)slice;
  *count_out = (guint)count;
  return TRUE;
}

MmRunnerResult
mm_runner_forward(MmRunnerContext *ctx, MmQueueEntry *entry, const char *next,
                  GError **error)
{
  g_autofree char *id =
      mm_queue_enqueue_to(ctx->queue_root, next, mm_queue_entry_message(entry),
                          mm_queue_entry_meta(entry), error);
  return id != NULL ? MM_RUNNER_FINISH : MM_RUNNER_SHUNT;
}

MmStore *
mm_runner_store(MmRunnerContext *ctx, GError **error)
{
  if (ctx->store == NULL) {
    g_autofree char *path = mm_config_database_path(ctx->config, error);
    if (path == NULL)
      return NULL;
    ctx->store = mm_store_open(path, MM_STORE_READ_WRITE, error);
  }
  return ctx->store;
}

/* ---- signals ---------------------------------------------------------- */

static sigset_t handled_signals;

static void
block_signals(void)
{
  sigemptyset(&handled_signals);
  sigaddset(&handled_signals, SIGTERM);
  sigaddset(&handled_signals, SIGINT);
  sigaddset(&handled_signals, SIGUSR1);
  sigaddset(&handled_signals, SIGHUP);
  sigprocmask(SIG_BLOCK, &handled_signals, NULL);
}

gboolean
mm_runner_stop_requested(void)
{
  sigset_t pending;
  if (sigpending(&pending) < 0)
    return FALSE;
  return sigismember(&pending, SIGTERM) == 1 ||
         sigismember(&pending, SIGINT) == 1 ||
         sigismember(&pending, SIGUSR1) == 1;
}

/* Waits up to @timeout_usec for one of the handled signals; reopens logs on
 * SIGHUP and keeps waiting.  Returns the stopping signal or 0. */
static int
wait_signal(gint64 timeout_usec)
{
  gint64 deadline = g_get_monotonic_time() + timeout_usec;

  for (;;) {
    gint64 left = deadline - g_get_monotonic_time();
    if (left < 0)
      left = 0;
    struct timespec ts = {.tv_sec = left / G_USEC_PER_SEC,
                          .tv_nsec = (left % G_USEC_PER_SEC) * 1000};
    int sig = sigtimedwait(&handled_signals, NULL, &ts);
    if (sig < 0) {
      if (errno == EINTR)
        continue;
      return 0; /* EAGAIN: the time is up */
    }
    if (sig == SIGHUP) {
      g_autoptr(GError) error = NULL;
      if (!mm_log_reopen(&error))
        mm_log_error("error", "cannot reopen logs: %s", error->message);
      continue;
    }
    return sig;
  }
}

/* ---- test hook --------------------------------------------------------- */

/* Crash tests need a runner to die between claim and finish.  When
 * MAILMAN_TEST_CRASH_QUEUE names this queue and the message carries the
 * header "X-Test-Crash: yes", the process kills itself with SIGKILL right
 * after the claim.  With MAILMAN_TEST_CRASH_ONCE_DIR set, it does so only
 * the first time it sees each entry (a marker file per entry id).  Sites
 * never set these variables. */
static void
maybe_crash_for_test(const char *queue_name, MmQueueEntry *entry)
{
  const char *target = g_getenv("MAILMAN_TEST_CRASH_QUEUE");
  if (target == NULL || !g_str_equal(target, queue_name))
    return;

  gsize len = 0;
  const char *data = g_bytes_get_data(mm_queue_entry_message(entry), &len);
  if (g_strstr_len(data, (gssize)len, "X-Test-Crash: yes") == NULL)
    return;

  const char *once_dir = g_getenv("MAILMAN_TEST_CRASH_ONCE_DIR");
  if (once_dir != NULL) {
    g_autofree char *marker =
        g_build_filename(once_dir, mm_queue_entry_id(entry), NULL);
    if (g_file_test(marker, G_FILE_TEST_EXISTS))
      return;
    if (!g_file_set_contents(marker, "", 0, NULL))
      return;
  }
  raise(SIGKILL);
}

/* ---- the queue loop ---------------------------------------------------- */

static int
run_queue(const MmConfig *config, const char *name, const MmRunnerClass *klass,
          guint slice, guint count, gboolean once)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *section = g_strconcat("runner.", name, NULL);
  const char *queue_root = mm_config_path(config, "queue_dir");
  const char *path = mm_config_get(config, section, "path");

  /* Mailman lets [runner.NAME] path point elsewhere; the queue module owns
   * names under queue_root, so we accept only the default layout. */
  if (path != NULL && *path != '\0') {
    g_autofree char *expanded = mm_config_expand(
        config, path, (const char *const[]){"name", name, NULL});
    g_autofree char *expected = g_build_filename(queue_root, name, NULL);
    if (!g_str_equal(expanded, expected))
      mm_log_warning("runner",
                     "[%s] path %s is not supported; using %s", section,
                     expanded, expected);
  }

  g_autoptr(MmQueue) queue =
      mm_queue_open(queue_root, name, slice, count, &error);
  if (queue == NULL) {
    mm_log_error("error", "runner %s: %s", name, error->message);
    return MM_RUNNER_EXIT_CONFIG;
  }

  guint requeued = 0, shunted = 0;
  if (!mm_queue_recover(queue, &requeued, &shunted, &error)) {
    mm_log_error("error", "runner %s: recovery failed: %s", name,
                 error->message);
    g_clear_error(&error);
  } else if (requeued + shunted > 0) {
    mm_log_warning("runner",
                   "runner %s slice %u/%u: recovered %u entries left by a "
                   "crash, shunted %u that crashed it %d times",
                   name, slice, count, requeued, shunted,
                   MM_QUEUE_MAX_BAK_COUNT);
  }

  if (klass->handler == NULL)
    mm_log_info("runner",
                "runner %s: no handler in this build; entries stay queued",
                name);

  gint64 sleep_usec = mm_config_get_duration_usec(config, section,
                                                  "sleep_time");
  MmRunnerContext ctx = {
      .config = config, .name = name, .queue_root = queue_root};

  int status = 0;
  for (;;) {
    guint handled = 0;

    if (klass->handler != NULL) {
      g_autoptr(GPtrArray) ids = mm_queue_list(queue, &error);
      if (ids == NULL) {
        mm_log_error("error", "runner %s: %s", name, error->message);
        g_clear_error(&error);
        ids = g_ptr_array_new();
      }
      for (guint i = 0; i < ids->len; i++) {
        const char *id = ids->pdata[i];
        g_autoptr(MmQueueEntry) entry = mm_queue_claim(queue, id, &error);
        if (entry == NULL) {
          if (!g_error_matches(error, MM_QUEUE_ERROR, MM_QUEUE_ERROR_GONE))
            mm_log_error("error", "runner %s: entry %s: %s", name, id,
                         error->message);
          g_clear_error(&error);
          continue;
        }
        maybe_crash_for_test(name, entry);

        MmRunnerResult result = klass->handler(&ctx, entry, &error);
        if (result == MM_RUNNER_KEEP && error != NULL) {
          /* Kept for a passing trouble (a busy database): say what, once. */
          mm_log_warning("runner", "runner %s: keeping %s for later: %s",
                         name, id, error->message);
          g_clear_error(&error);
        }
        /* An entry kept for later is no progress: a pass that only keeps
         * entries (retries not yet due) must still sleep. */
        if (result != MM_RUNNER_KEEP)
          handled++;
        if (result == MM_RUNNER_KEEP) {
          g_autofree char *again =
              mm_queue_enqueue(queue, mm_queue_entry_message(entry),
                               mm_queue_entry_meta(entry), &error);
          result = again ? MM_RUNNER_FINISH : MM_RUNNER_SHUNT;
        }
        if (result == MM_RUNNER_FINISH) {
          if (!mm_queue_entry_finish(queue, entry, &error)) {
            mm_log_error("error", "runner %s: finishing %s: %s", name, id,
                         error->message);
            g_clear_error(&error);
          }
        } else {
          const char *why = error ? error->message : "handler failed";
          mm_log_error("error", "runner %s: entry %s shunted: %s", name, id,
                       why);
          g_autoptr(GError) shunt_error = NULL;
          if (!mm_queue_entry_shunt(queue, entry, why, &shunt_error))
            mm_log_error("error", "runner %s: shunting %s: %s", name, id,
                         shunt_error->message);
          g_clear_error(&error);
        }

        status = wait_signal(0);
        if (status != 0)
          goto out;
      }
    }
    /* A queue runner with periodic work (bounce scoring) does it after
     * every pass, as Mailman's _do_periodic(). */
    if (klass->handler != NULL && klass->periodic != NULL) {
      g_autoptr(GError) periodic_error = NULL;
      if (!klass->periodic(&ctx, &periodic_error))
        mm_log_error("error", "runner %s: %s", name, periodic_error->message);
    }
    if (once)
      goto out;
    /* Sleep only after a pass that found nothing, as Mailman's runners. */
    status = wait_signal(handled == 0 ? sleep_usec : 0);
    if (status != 0)
      goto out;
  }
out:
  g_clear_pointer(&ctx.store, mm_store_close);
  return status;
}

/* Runners with no queue (task) wake every sleep_time and do their work. */
static int
run_periodic(const MmConfig *config, const char *name,
             const MmRunnerClass *klass, gboolean once)
{
  g_autofree char *section = g_strconcat("runner.", name, NULL);
  gint64 sleep_usec = mm_config_get_duration_usec(config, section,
                                                  "sleep_time");
  MmRunnerContext ctx = {.config = config,
                         .name = name,
                         .queue_root = mm_config_path(config, "queue_dir")};
  int status = 0;

  for (;;) {
    g_autoptr(GError) error = NULL;
    if (klass->periodic != NULL && !klass->periodic(&ctx, &error))
      mm_log_error("error", "runner %s: %s", name, error->message);
    if (once)
      break;
    status = wait_signal(sleep_usec);
    if (status != 0)
      break;
  }
  g_clear_pointer(&ctx.store, mm_store_close);
  return status;
}

int
mm_runner_main(const MmConfig *config, const char *spec, gboolean once)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;
  guint slice = 0, count = 1;

  if (!mm_runner_parse_spec(spec, &name, &slice, &count, &error)) {
    mm_log_error("error", "%s", error->message);
    return MM_RUNNER_EXIT_CONFIG;
  }
  g_autofree char *reason = NULL;
  if (!mm_runner_available(config, name, &reason)) {
    mm_log_error("error", "runner %s cannot run: %s", name, reason);
    return MM_RUNNER_EXIT_CONFIG;
  }
  const MmRunnerClass *klass = mm_runner_class_lookup(config, name);

  /* The LMTP runner takes its signals through its main loop; the others
   * block them and take them synchronously between entries. */
  if (klass->kind != MM_RUNNER_KIND_LMTP)
    block_signals();
  mm_log_info("runner", "runner %s slice %u/%u started", name, slice, count);

  int status = 0;
  switch (klass->kind) {
  case MM_RUNNER_KIND_QUEUE:
    status = run_queue(config, name, klass, slice, count, once);
    break;
  case MM_RUNNER_KIND_LMTP:
    status = mm_runner_run_lmtp(config);
    break;
  case MM_RUNNER_KIND_PERIODIC:
    status = run_periodic(config, name, klass, once);
    break;
  case MM_RUNNER_KIND_IDLE:
    status = MM_RUNNER_EXIT_CONFIG;
    break;
  }
  mm_log_info("runner", "runner %s slice %u/%u stopped (status %d)", name,
              slice, count, status);
  return status;
}
