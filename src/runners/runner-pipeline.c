/* The pipeline and virgin runners (mailman/runners/pipeline.py and
 * virgin.py): each entry goes through a pipeline of the handlers module,
 * which enqueues what comes next (out, archive, virgin notices, ...).
 *
 * What the runner decides is what happens to the entry afterwards:
 *   - done, discarded or rejected: finished;
 *   - the message cannot be parsed: a copy goes to the `bad` queue and the
 *     entry is finished, since no retry would parse it;
 *   - its list is gone, or a handler failed: shunted with the reason, as
 *     Mailman shunts on any exception (`mailman unshunt` retries it);
 *   - the database was busy: kept, to be tried again.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "runner-private.h"

#include "base-log.h"
#include "handlers.h"

static MmRunnerResult
run_pipeline(MmRunnerContext *ctx, MmQueueEntry *entry, gboolean virgin,
             GError **error)
{
  MmStore *store = mm_runner_store(ctx, error);
  if (store == NULL)
    return MM_RUNNER_SHUNT;

  MmPipelineEnv env = {
      .config = ctx->config,
      .store = store,
      .queue_root = ctx->queue_root,
      .entry_id = mm_queue_entry_id(entry),
  };
  g_autoptr(GError) local = NULL;
  MmPipelineOutcome outcome =
      mm_handlers_pipeline_process(&env, virgin, mm_queue_entry_message(entry),
                                   mm_queue_entry_meta(entry), &local);

  switch (outcome) {
  case MM_PIPELINE_DONE:
  case MM_PIPELINE_DISCARDED:
  case MM_PIPELINE_REJECTED:
    return MM_RUNNER_FINISH;
  case MM_PIPELINE_BAD: {
    mm_log_error("error",
                 "runner %s: entry %s cannot be parsed (%s); "
                 "moving it to bad",
                 ctx->name, mm_queue_entry_id(entry), local->message);
    g_autofree char *id = mm_queue_enqueue_to(
        ctx->queue_root, "bad", mm_queue_entry_message(entry),
        mm_queue_entry_meta(entry), error);
    return id != NULL ? MM_RUNNER_FINISH : MM_RUNNER_SHUNT;
  }
  case MM_PIPELINE_NO_LIST:
  case MM_PIPELINE_FAILED:
    if (g_error_matches(local, MM_STORE_ERROR, MM_STORE_ERROR_BUSY)) {
      mm_log_warning("runner", "runner %s: entry %s: %s; will retry",
                     ctx->name, mm_queue_entry_id(entry), local->message);
      return MM_RUNNER_KEEP;
    }
    g_propagate_error(error, g_steal_pointer(&local));
    return MM_RUNNER_SHUNT;
  }
  g_assert_not_reached();
}

MmRunnerResult
mm_runner_handle_pipeline(MmRunnerContext *ctx, MmQueueEntry *entry,
                          GError **error)
{
  return run_pipeline(ctx, entry, FALSE, error);
}

MmRunnerResult
mm_runner_handle_virgin(MmRunnerContext *ctx, MmQueueEntry *entry,
                        GError **error)
{
  return run_pipeline(ctx, entry, TRUE, error);
}
