/* The task runner: Mailman's housekeeping, every [mailman] run_tasks_every.
 *
 * It wakes every sleep_time (1 minute) but does the work only when
 * run_tasks_every has passed since the last run, as Mailman's task runner:
 * evicting expired confirmation tokens, the held messages and requests
 * that expired with them, and stored messages nothing refers to any more.
 * The first run happens at start, so a site that was down catches up.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "runner-private.h"

#include "chains.h"

gboolean
mm_runner_task_run(MmRunnerContext *ctx, GError **error)
{
  gint64 every = mm_config_get_duration_usec(ctx->config, "mailman",
                                             "run_tasks_every");
  gint64 now = g_get_monotonic_time();

  if (ctx->last_task_usec != 0 && now - ctx->last_task_usec < every)
    return TRUE;
  ctx->last_task_usec = now;

  MmStore *store = mm_runner_store(ctx, error);
  if (store == NULL)
    return FALSE;
  return mm_chains_evict_expired(ctx->config, store, error);
}
