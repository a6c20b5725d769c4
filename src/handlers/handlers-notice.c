/* Messages the pipeline writes itself: acknowledgements, rejections,
 * content-filter forwards, built and queued by the notice module.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "handlers-private.h"

#include "message.h"

gboolean
mm_handlers_notice_send(MmHandlerContext *ctx, const char *const *recipients,
                        const char *from, const char *to, const char *subject,
                        const char *text, GMimeMessage *attachment,
                        json_t *extra_meta, GError **error)
{
  g_autoptr(GBytes) original =
      attachment != NULL ? mm_handlers_message_bytes(attachment) : NULL;
  MmNotice notice = {
      .list = ctx->list,
      .recipients = recipients,
      .from = from,
      .to = to,
      .subject = subject != NULL ? subject : "(no subject)",
      .text = text,
      .attachment = original,
      .extra_meta = extra_meta,
  };
  g_autofree char *id = mm_notice_send(ctx->config, &notice, error);
  return id != NULL;
}

gboolean
mm_handlers_notice_reject(MmHandlerContext *ctx, const char *reason,
                          GError **error)
{
  g_autofree char *sender =
      mm_handlers_message_sender(ctx->config, ctx->message);
  if (sender == NULL)
    return TRUE; /* nobody to tell, as Mailman */
  g_autofree char *subject = mm_handlers_header_get(ctx->message, "Subject");
  const char *text = reason != NULL && *reason != '\0'
                         ? reason
                         : "[No details are available about this rejection]";
  const char *recipients[] = {sender, NULL};
  return mm_handlers_notice_send(
      ctx, recipients, mm_handlers_list_text(ctx, "owner_address"), sender,
      subject != NULL ? subject : "(no subject)", text, ctx->message, NULL,
      error);
}
