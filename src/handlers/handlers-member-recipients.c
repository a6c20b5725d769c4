/* member-recipients (mailman/handlers/member_recipients.py).
 *
 * The recipients of a post are the list's regular-delivery members whose
 * delivery is enabled, by lower-case address; the sender is left out when
 * they are a member who does not want their own posts
 * (receive_own_postings).  Nothing changes when the metadata already has
 * recipients.  The result is metadata "recipients", a JSON array sorted
 * by address (Mailman's set, in a stable order).
 *
 * One roster query for the whole list (mm_store_roster filters on the
 * effective delivery mode and status), plus one preference lookup for the
 * sender.
 *
 * Mailman's Urgent: header handling is broken in 3.3 (it calls methods
 * the list no longer has, so such a post is shunted).  We do not give
 * Urgent: any meaning; cleanse removes the header.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "handlers-private.h"

/* FALSE if @sender is a member (role member) who does not want copies of
 * their own posts. */
static gboolean
sender_wants_copy(MmHandlerContext *ctx, const char *sender)
{
  g_autofree char *value = mm_store_preference_get(
      ctx->store, sender, ctx->list->list_id, "receive_own_postings", NULL);
  gboolean wants = TRUE;
  if (value != NULL && !mm_config_parse_bool(value, &wants))
    wants = TRUE;
  return wants;
}

MmHandlerResult
mm_handlers_member_recipients(MmHandlerContext *ctx, GError **error)
{
  if (json_object_get(ctx->meta, "recipients") != NULL)
    return MM_HANDLER_CONTINUE;

  MmRosterQuery query = {
      .role = MM_ROLE_MEMBER,
      .delivery_mode = MM_DELIVERY_REGULAR,
      .delivery_status = MM_STATUS_ENABLED,
  };
  g_autoptr(GPtrArray) members =
      mm_store_roster(ctx->store, ctx->list->list_id, &query, error);
  if (members == NULL)
    return MM_HANDLER_FAILED;

  g_autofree char *sender =
      mm_handlers_message_sender(ctx->config, ctx->message);
  gboolean drop_sender = sender != NULL && !sender_wants_copy(ctx, sender);

  /* The roster is sorted by folded address, so equal addresses are
   * neighbours; a member appears once per role anyway. */
  json_t *recipients = json_array();
  const char *previous = NULL;
  g_autoptr(GPtrArray) emails = g_ptr_array_new_with_free_func(g_free);
  for (guint i = 0; i < members->len; i++) {
    const MmMember *member = members->pdata[i];
    char *email = g_ascii_strdown(member->email, -1);
    g_ptr_array_add(emails, email);
    if (drop_sender && g_str_equal(email, sender))
      continue;
    if (previous != NULL && g_str_equal(previous, email))
      continue;
    json_array_append_new(recipients, json_string(email));
    previous = email;
  }
  json_object_set_new(ctx->meta, "recipients", recipients);
  return MM_HANDLER_CONTINUE;
}
