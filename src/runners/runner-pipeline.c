/* The pipeline and virgin runners: the posting pipeline's handlers for
 * posts, the virgin pipeline's for messages the server generates; both end
 * with to-outgoing.
 *
 * Until the handlers exist, both pass the message on to the out queue.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "runner-private.h"

MmRunnerResult
mm_runner_handle_pipeline(MmRunnerContext *ctx, MmQueueEntry *entry,
                          GError **error)
{
  return mm_runner_forward(ctx, entry, "out", error);
}

MmRunnerResult
mm_runner_handle_virgin(MmRunnerContext *ctx, MmQueueEntry *entry,
                        GError **error)
{
  return mm_runner_forward(ctx, entry, "out", error);
}
