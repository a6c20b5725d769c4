/* to-outgoing (mailman/handlers/to_outgoing.py): the message and its
 * metadata (recipients, a JSON array of addresses, among them) go to the
 * `out` queue, where delivery takes over.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "handlers-private.h"

MmHandlerResult
mm_handlers_to_outgoing(MmHandlerContext *ctx, GError **error)
{
  if (!mm_handlers_enqueue(ctx, "out", NULL, NULL, error))
    return MM_HANDLER_FAILED;
  return MM_HANDLER_CONTINUE;
}
