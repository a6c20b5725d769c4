/* The retry runner: moves every entry back to the out queue, which tries
 * the recipients that failed temporarily once more.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "runner-private.h"

MmRunnerResult
mm_runner_handle_retry(MmRunnerContext *ctx, MmQueueEntry *entry,
                       GError **error)
{
  return mm_runner_forward(ctx, entry, "out", error);
}
