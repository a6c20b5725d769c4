/* acknowledge (mailman/handlers/acknowledge.py).
 *
 * A member who set acknowledge_posts gets a notice that their post went
 * through: template list:user:notice:post ($subject: the post's subject
 * on one line, $list_name, and the list's standard variables), in the
 * language of metadata "lang", From the list's -bounces address, through
 * the virgin queue.  Non-members get nothing (we cannot know what they
 * want).
 *
 * The subject shown is what Mailman shows: metadata "origsubj" when a
 * caller set it, else the Subject as it is now (with the list's prefix).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "handlers-private.h"

MmHandlerResult
mm_handlers_acknowledge(MmHandlerContext *ctx, GError **error)
{
  const char *original = mm_handlers_meta_string(ctx->meta, "original_sender");
  g_autofree char *sender =
      original != NULL && *original != '\0'
          ? g_strdup(original)
          : mm_handlers_message_sender(ctx->config, ctx->message);
  if (sender == NULL)
    return MM_HANDLER_CONTINUE;

  /* NOT_FOUND when the sender is not a member: no acknowledgement. */
  g_autofree char *wants = mm_store_preference_get(
      ctx->store, sender, ctx->list->list_id, "acknowledge_posts", NULL);
  gboolean acknowledge = FALSE;
  if (wants == NULL || !mm_config_parse_bool(wants, &acknowledge) ||
      !acknowledge)
    return MM_HANDLER_CONTINUE;

  const char *origsubj = mm_handlers_meta_string(ctx->meta, "origsubj");
  g_autofree char *subject =
      origsubj != NULL ? mm_handlers_header_decode(origsubj, NULL)
                       : mm_handlers_header_get(ctx->message, "Subject");
  if (subject == NULL)
    subject = g_strdup("(no subject)");

  const char *language = mm_handlers_meta_string(ctx->meta, "lang");
  g_autofree char *template = mm_notice_template_load(
      ctx->config, ctx->list, "list:user:notice:post", language, error);
  if (template == NULL)
    return MM_HANDLER_FAILED;
  g_autoptr(GHashTable) vars =
      mm_notice_template_variables(ctx->config, ctx->list);
  g_hash_table_insert(vars, g_strdup("subject"), g_strdup(subject));
  g_hash_table_insert(vars, g_strdup("list_name"),
                      g_strdup(ctx->list->list_name));
  g_autofree char *text = mm_notice_template_expand(template, vars);
  g_autofree char *notice_subject =
      g_strdup_printf("%s: your post was received", ctx->list->display_name);

  const char *recipients[] = {sender, NULL};
  if (!mm_handlers_notice_send(
          ctx, recipients, mm_handlers_list_text(ctx, "bounces_address"),
          sender, notice_subject, text, NULL, NULL, error))
    return MM_HANDLER_FAILED;
  return MM_HANDLER_CONTINUE;
}
