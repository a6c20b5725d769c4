/* Messages the pipeline writes itself: acknowledgements, rejections,
 * content-filter forwards.  Mailman's UserNotification
 * (mailman/email/message.py): a fresh message with Message-ID, Date and
 * "Precedence: bulk", queued to `virgin` with its recipients and the flags
 * that keep it undecorated and with the reduced List-* headers.
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
  const char *charset = mm_handlers_list_charset(ctx);
  g_autoptr(GMimeMessage) notice = g_mime_message_new(FALSE);

  mm_handlers_header_append(
      notice, "Subject", subject != NULL ? subject : "(no subject)", charset);
  mm_handlers_header_append(notice, "From", from, NULL);
  mm_handlers_header_append(notice, "To", to, NULL);
  g_autofree char *message_id = mm_message_id_new(ctx->list->mail_host, error);
  if (message_id == NULL)
    return FALSE;
  mm_handlers_header_append_raw(notice, "Message-ID", message_id);
  g_autoptr(GDateTime) now = g_date_time_new_now_local();
  g_mime_message_set_date(notice, now);
  mm_handlers_header_append_raw(notice, "Precedence", "bulk");
  mm_handlers_header_append_raw(notice, "MIME-Version", "1.0");

  GMimePart *body = mm_handlers_text_part_new(text, charset, NULL);
  if (attachment == NULL) {
    mm_handlers_message_set_body(notice, GMIME_OBJECT(body));
  } else {
    GMimeMultipart *mixed = g_mime_multipart_new_with_subtype("mixed");
    g_mime_multipart_add(mixed, GMIME_OBJECT(body));
    GMimeMessagePart *original =
        g_mime_message_part_new_with_message("rfc822", attachment);
    g_mime_multipart_add(mixed, GMIME_OBJECT(original));
    g_object_unref(original);
    mm_handlers_message_set_body(notice, GMIME_OBJECT(mixed));
    g_object_unref(mixed);
  }
  g_object_unref(body);

  json_auto_t *meta = json_object();
  json_t *list = json_array();
  for (const char *const *r = recipients; *r != NULL; r++)
    json_array_append_new(list, json_string(*r));
  json_object_set_new(meta, "recipients", list);
  json_object_set_new(meta, "nodecorate", json_true());
  json_object_set_new(meta, "reduced_list_headers", json_true());
  if (extra_meta != NULL)
    json_object_update(meta, extra_meta);
  return mm_handlers_enqueue(ctx, "virgin", notice, meta, error);
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
