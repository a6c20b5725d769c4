/* after-delivery (mailman/handlers/after_delivery.py).
 *
 * Counts the post: the list's post_id goes up by one and last_post_at
 * becomes now (mm_store_list_note_post, one short transaction).
 *
 * Mailman lets a database error here shunt the post.  By now the post may
 * already be in the archive queue and the digest mailbox, and a shunted
 * post that is retried would be archived twice; a missed count only
 * shifts the "%d" of later subject prefixes by one.  So a failure is
 * logged and the post goes on to the members.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "handlers-private.h"

#include "base-log.h"

MmHandlerResult
mm_handlers_after_delivery(MmHandlerContext *ctx, GError **error)
{
  (void)error;
  g_autoptr(GError) local = NULL;
  gint64 post_id = 0;
  if (!mm_store_list_note_post(ctx->store, ctx->list->list_id, &post_id,
                               &local))
    mm_log_error("error", "%s: cannot count the post to %s: %s",
                 ctx->message_id, ctx->list->list_id, local->message);
  return MM_HANDLER_CONTINUE;
}
