/* to-archive (mailman/handlers/to_archive.py).
 *
 * A copy goes to the `archive` queue, unless the message is a digest, the
 * list's archive_policy is never, or the poster asked not to be archived
 * ("X-No-Archive" with any value, or "X-Archive: no").
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "handlers-private.h"

MmHandlerResult
mm_handlers_to_archive(MmHandlerContext *ctx, GError **error)
{
  if (mm_handlers_meta_true(ctx->meta, "isdigest") ||
      g_str_equal(mm_handlers_list_text(ctx, "archive_policy"), "never"))
    return MM_HANDLER_CONTINUE;
  if (mm_handlers_header_has(ctx->message, "X-No-Archive"))
    return MM_HANDLER_CONTINUE;
  g_autofree char *archive = mm_handlers_header_get(ctx->message, "X-Archive");
  if (archive != NULL && g_ascii_strcasecmp(archive, "no") == 0)
    return MM_HANDLER_CONTINUE;

  json_auto_t *meta = json_deep_copy(ctx->meta);
  if (!mm_handlers_enqueue(ctx, "archive", NULL, meta, error))
    return MM_HANDLER_FAILED;
  return MM_HANDLER_CONTINUE;
}
