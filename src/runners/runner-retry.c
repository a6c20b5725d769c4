/* The retry runner (Mailman's RetryRunner): holds entries whose delivery
 * failed temporarily until their back-off has passed (metadata
 * "deliver_after", set by the delivery engine), then moves them back to
 * the out queue, which tries their recipients once more.
 *
 * Mailman moves every entry back at each wake-up (every 15 minutes by
 * default); honouring deliver_after lets the delivery engine space the
 * attempts out instead.  An entry that is not due is kept: the loop
 * re-enqueues it under a fresh id.  The loop sleeps only after a pass that
 * handled nothing, and a pass that keeps everything did handle entries, so
 * without care it would spin, rewriting the same entries.  This file
 * therefore notices when it meets again an entry it kept in the current
 * cycle (a whole pass found nothing due) and waits out the rest of the
 * runner's sleep_time before going on, in short steps that end at once
 * when a signal is pending (the loop takes signals between entries).
 *
 * XXX: cleaner in runner-loop.c: a pass whose every entry was kept should
 * count as empty.  With that change the wait below finds its time already
 * spent and returns at once, so the two agree.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "runner-private.h"

#include <signal.h>

#include "delivery.h"

#define NAP_STEP_USEC (100 * 1000)

/* Fingerprints of the entries kept since the cycle began (this process
 * is one retry slice; the loop calls us from its only thread). */
static GHashTable *kept;
static gint64 cycle_start_usec;

static guint
fingerprint(MmQueueEntry *entry)
{
  g_autofree char *meta = json_dumps(mm_queue_entry_meta(entry),
                                     JSON_COMPACT | JSON_SORT_KEYS);
  return g_bytes_hash(mm_queue_entry_message(entry)) ^
         (meta != NULL ? g_str_hash(meta) : 0);
}

/* A signal the loop must see: stop, restart, or reopen the logs. */
static gboolean
signal_pending(void)
{
  sigset_t pending;
  if (sigpending(&pending) != 0)
    return FALSE;
  return sigismember(&pending, SIGTERM) == 1 ||
         sigismember(&pending, SIGINT) == 1 ||
         sigismember(&pending, SIGUSR1) == 1 ||
         sigismember(&pending, SIGHUP) == 1;
}

/* Sleeps until @until_usec (monotonic); FALSE when a signal for the loop
 * cut the sleep short. */
static gboolean
nap(gint64 until_usec)
{
  for (;;) {
    if (signal_pending())
      return FALSE;
    gint64 left = until_usec - g_get_monotonic_time();
    if (left <= 0)
      return TRUE;
    g_usleep((gulong)MIN(left, NAP_STEP_USEC));
  }
}

MmRunnerResult
mm_runner_handle_retry(MmRunnerContext *ctx, MmQueueEntry *entry,
                       GError **error)
{
  json_t *meta = mm_queue_entry_meta(entry);
  if (mm_delivery_entry_due(meta, g_get_real_time()))
    return mm_runner_forward(ctx, entry, "out", error);

  if (kept == NULL) {
    kept = g_hash_table_new(g_direct_hash, g_direct_equal);
    cycle_start_usec = g_get_monotonic_time();
  }
  guint print = fingerprint(entry);
  if (g_hash_table_contains(kept, GUINT_TO_POINTER(print))) {
    g_autofree char *section = g_strconcat("runner.", ctx->name, NULL);
    gint64 sleep_usec =
        mm_config_get_duration_usec(ctx->config, section, "sleep_time");
    if (!nap(cycle_start_usec + sleep_usec))
      return MM_RUNNER_KEEP; /* the loop handles the signal; the cycle goes
                                on where it was */
    g_hash_table_remove_all(kept);
    cycle_start_usec = g_get_monotonic_time();
    if (mm_delivery_entry_due(meta, g_get_real_time()))
      return mm_runner_forward(ctx, entry, "out", error);
  }
  g_hash_table_add(kept, GUINT_TO_POINTER(print));
  return MM_RUNNER_KEEP;
}
