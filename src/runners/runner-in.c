/* The in runner: the posting chain decides what happens to a post.
 *
 * Until the rules and chains exist, every post takes the accept chain's
 * path: on to the pipeline queue.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "runner-private.h"

MmRunnerResult
mm_runner_handle_in(MmRunnerContext *ctx, MmQueueEntry *entry, GError **error)
{
  return mm_runner_forward(ctx, entry, "pipeline", error);
}
