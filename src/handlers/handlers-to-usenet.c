/* to-usenet (mailman/handlers/to_usenet.py).
 *
 * With gateway_to_news, a copy goes to the `nntp` queue for the list's
 * linked_newsgroup, unless the message is a digest or came from Usenet
 * (metadata fromusenet).  A list without a newsgroup is a configuration
 * error, logged, and the post goes on to the members all the same.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "handlers-private.h"

#include "base-log.h"

MmHandlerResult
mm_handlers_to_usenet(MmHandlerContext *ctx, GError **error)
{
  if (!mm_handlers_list_bool(ctx, "gateway_to_news") ||
      mm_handlers_meta_true(ctx->meta, "isdigest") ||
      mm_handlers_meta_true(ctx->meta, "fromusenet"))
    return MM_HANDLER_CONTINUE;
  if (*mm_handlers_list_text(ctx, "linked_newsgroup") == '\0') {
    mm_log_error("error", "NNTP gateway improperly configured: %s",
                 ctx->list->fqdn_listname);
    return MM_HANDLER_CONTINUE;
  }
  json_auto_t *meta = json_deep_copy(ctx->meta);
  if (!mm_handlers_enqueue(ctx, "nntp", NULL, meta, error))
    return MM_HANDLER_FAILED;
  return MM_HANDLER_CONTINUE;
}
