/* The notices of the membership workflows and the command runner
 * (Mailman's app/notifications.py, app/membership.py delete_member,
 * app/subscriptions.py _handle_confirmation_needed_events, the workflows'
 * moderator notices, app/moderator.py send_rejection, and the runner's
 * results message).
 *
 * Every text comes from a Mailman template name through notice.h, so a
 * site's own template files apply, and goes to `virgin` through
 * mm_notice_send().  Only the results of a command message are built in
 * code, as in Mailman.
 *
 * Deliberate difference: Mailman addresses a moderator's (un)subscription
 * request to the -owner address, From -owner, and lets it loop through
 * the MTA.  We queue it straight to the owners and moderators (To: stays
 * -owner) and send it From the request's confirmation address, so that a
 * moderator's plain reply approves the request, as a reply to the
 * held-message notice does.  The token is in the text too.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "commands-private.h"

#include "chains.h"
#include "notice.h"

/* ---- Rendering ----------------------------------------------------------- */

char *
mm_commands_render(const MmCommandsContext *ctx, const MmList *list,
                   const char *name, const char *language,
                   const char *const *extra, GError **error)
{
  g_autoptr(GError) local = NULL;
  char *text =
      mm_notice_render(ctx->config, list, name, language, extra, &local);
  if (text == NULL)
    mm_commands_error_from(local, error, "Cannot render a notice");
  return text;
}

/* Queues @notice; errors become MM_COMMANDS_ERROR. */
static gboolean
send_notice(const MmCommandsContext *ctx, const MmNotice *notice,
            GError **error)
{
  g_autoptr(GError) local = NULL;
  g_autofree char *id = mm_notice_send(ctx->config, notice, &local);
  if (id == NULL)
    return mm_commands_error_from(local, error, "Cannot queue a notice");
  return TRUE;
}

/* Metadata for notices Mailman sends with verp=verp_personalized_deliveries
 * (welcome, goodbye).  NULL when off. */
static json_t *
personal_meta(const MmCommandsContext *ctx)
{
  const char *verp =
      mm_config_get(ctx->config, "mta", "verp_personalized_deliveries");
  gboolean on = FALSE;
  if (verp == NULL || !mm_config_parse_bool(verp, &on) || !on)
    return NULL;
  json_t *meta = json_object();
  json_object_set_new(meta, "verp", json_true());
  return meta;
}

gboolean
mm_commands_notice_confirmation(const MmCommandsContext *ctx,
                                const MmList *list, const char *kind,
                                const char *email, const char *token,
                                GError **error)
{
  g_autofree char *subject = NULL;
  if (g_str_equal(kind, "invite")) {
    subject = g_strdup_printf("Invitation to join the %s mailing list",
                              list->fqdn_listname);
  } else if (g_str_equal(kind, "unsubscribe")) {
    subject = g_strdup_printf("Please confirm leaving the %s mailing list",
                              list->fqdn_listname);
  } else {
    subject = g_strdup_printf("Please confirm joining the %s mailing list",
                              list->fqdn_listname);
  }
  g_autofree char *confirm = mm_commands_confirm_address(ctx->config, list,
                                                         token);
  g_autofree char *name = g_strconcat("list:user:action:", kind, NULL);
  const char *extra[] = {"token", token,
                         "subject", subject,
                         "confirm_email", confirm,
                         "user_email", email,
                         /* Mailman's older names for the same two. */
                         "confirm_address", confirm,
                         "email_address", email,
                         "domain_name", list->mail_host,
                         "contact_address",
                         mm_list_setting(list, "owner_address"),
                         NULL};
  g_autofree char *text = mm_commands_render(
      ctx, list, name, list->preferred_language, extra, error);
  if (text == NULL)
    return FALSE;

  /* Without VERPed confirmations the reply goes to -request and the
   * subject carries the token (Mailman's verp_confirmations). */
  const char *from = confirm;
  const char *verp = mm_config_get(ctx->config, "mta", "verp_confirmations");
  gboolean verp_on = TRUE;
  if (verp != NULL && mm_config_parse_bool(verp, &verp_on) && !verp_on) {
    from = mm_list_setting(list, "request_address");
    g_free(subject);
    subject = g_strconcat("confirm ", token, NULL);
  }
  const char *recipients[] = {email, NULL};
  MmNotice notice = {
      .list = list,
      .recipients = recipients,
      .from = from,
      .subject = subject,
      .text = text,
      /* Mailman sends confirmation requests without Precedence: bulk: they
       * are answered by people, and must not be filtered as bulk mail. */
      .no_precedence = TRUE,
  };
  return send_notice(ctx, &notice, error);
}

gboolean
mm_commands_notice_welcome(const MmCommandsContext *ctx, const MmList *list,
                           const char *email, const char *display_name,
                           MmDeliveryMode mode, GError **error)
{
  g_autofree char *language = mm_commands_language_for(ctx, list, email);
  const char *extra[] = {"user_name", display_name != NULL ? display_name : "",
                         "user_email", email,
                         "user_address", email,
                         "fqdn_listname", list->fqdn_listname,
                         "list_name", list->display_name,
                         "list_requests",
                         mm_list_setting(list, "request_address"),
                         NULL};
  g_autofree char *raw_text =
      mm_commands_render(ctx, list, "list:user:notice:welcome", language, extra, error);
  if (raw_text == NULL)
    return FALSE;
  g_autofree char *text = mm_notice_wrap(raw_text, 70);
  gboolean digest = mode != 0 && mode != MM_DELIVERY_REGULAR;
  g_autofree char *subject =
      g_strdup_printf("Welcome to the \"%s\" mailing list%s",
                      list->display_name, digest ? " (Digest mode)" : "");
  g_autofree char *to = mm_commands_format_address(display_name, email);
  g_autoptr(MmJson) meta = personal_meta(ctx);
  const char *recipients[] = {email, NULL};
  MmNotice notice = {
      .list = list,
      .recipients = recipients,
      .from = mm_list_setting(list, "request_address"),
      .to = to,
      .subject = subject,
      .text = text,
      .extra_meta = meta,
      /* The welcome holds the member's own details: keep it out of
       * archives, as Mailman does. */
      .extra_headers = (const char *const[]){"X-No-Archive", "yes", NULL},
  };
  return send_notice(ctx, &notice, error);
}

gboolean
mm_commands_notice_goodbye(const MmCommandsContext *ctx, const MmList *list,
                           const char *email, const char *language,
                           GError **error)
{
  const char *extra[] = {"user_email", email,
                         "user_address", email,
                         "fqdn_listname", list->fqdn_listname,
                         "list_name", list->display_name,
                         "list_requests",
                         mm_list_setting(list, "request_address"),
                         NULL};
  g_autofree char *raw_text =
      mm_commands_render(ctx, list, "list:user:notice:goodbye", language, extra, error);
  if (raw_text == NULL)
    return FALSE;
  g_autofree char *text = mm_notice_wrap(raw_text, 70);
  g_autofree char *subject = g_strdup_printf(
      "You have left the %s mailing list", list->display_name);
  g_autoptr(MmJson) meta = personal_meta(ctx);
  const char *recipients[] = {email, NULL};
  MmNotice notice = {
      .list = list,
      .recipients = recipients,
      .from = mm_list_setting(list, "bounces_address"),
      .subject = subject,
      .text = text,
      .extra_meta = meta,
  };
  return send_notice(ctx, &notice, error);
}

/* A notice to the administrators (Mailman's OwnerNotification): From the
 * site owner, To the -owner address. */
static gboolean
send_to_administrators(const MmCommandsContext *ctx, const MmList *list,
                       const char *from, const char *subject,
                       const char *text, GError **error)
{
  g_autoptr(GPtrArray) admins = mm_commands_administrators(ctx, list, error);
  if (admins == NULL)
    return FALSE;
  g_ptr_array_add(admins, NULL);
  MmNotice notice = {
      .list = list,
      .recipients = (const char *const *)admins->pdata,
      .from = from,
      .to = mm_list_setting(list, "owner_address"),
      .subject = subject,
      .text = text,
  };
  return send_notice(ctx, &notice, error);
}

gboolean
mm_commands_notice_admin_change(const MmCommandsContext *ctx,
                                const MmList *list, gboolean subscribed,
                                const char *email, const char *display_name,
                                GError **error)
{
  g_autofree char *member = mm_commands_format_address(display_name, email);
  const char *extra[] = {"member", member, NULL};
  g_autofree char *text = mm_commands_render(
      ctx, list,
      subscribed ? "list:admin:notice:subscribe"
                 : "list:admin:notice:unsubscribe",
      list->preferred_language, extra,
      error);
  if (text == NULL)
    return FALSE;
  g_autofree char *subject =
      g_strdup_printf(subscribed ? "%s subscription notification"
                                 : "%s unsubscription notification",
                      list->display_name);
  return send_to_administrators(
      ctx, list, mm_config_get(ctx->config, "mailman", "site_owner"), subject,
      text, error);
}

gboolean
mm_commands_notice_moderator_request(const MmCommandsContext *ctx,
                                     const MmList *list,
                                     gboolean subscription, const char *email,
                                     const char *display_name,
                                     const char *token, GError **error)
{
  g_autofree char *member = mm_commands_format_address(display_name, email);
  g_autofree char *confirm = mm_commands_confirm_address(ctx->config, list,
                                                         token);
  const char *extra[] = {"member", member,
                         "token", token,
                         "confirm_email", confirm,
                         "confirm_address", confirm,
                         NULL};
  g_autofree char *raw_text = mm_commands_render(
      ctx, list,
      subscription ? "list:admin:action:subscribe"
                   : "list:admin:action:unsubscribe",
      list->preferred_language,
      extra, error);
  if (raw_text == NULL)
    return FALSE;
  g_autofree char *text = mm_notice_wrap(raw_text, 70);
  g_autofree char *subject = g_strdup_printf(
      subscription ? "New subscription request to %s from %s"
                   : "New unsubscription request to %s from %s",
      list->display_name, email);
  return send_to_administrators(ctx, list, confirm, subject, text, error);
}

gboolean
mm_commands_notice_refuse(const MmCommandsContext *ctx, const MmList *list,
                          gboolean subscription, const char *email,
                          const char *reason, GError **error)
{
  g_autofree char *language = mm_commands_language_for(ctx, list, email);
  const char *extra[] = {
      "language", language,
      "reason", reason != NULL && reason[0] != '\0' ? reason
                                                    : "[No reason given]",
      "request", subscription ? "Subscription request"
                              : "Unsubscription request",
      "adminaddr", mm_list_setting(list, "owner_address"),
      NULL};
  g_autofree char *raw_text =
      mm_commands_render(ctx, list, "list:user:notice:refuse", language, extra, error);
  if (raw_text == NULL)
    return FALSE;
  g_autofree char *text = mm_notice_wrap(raw_text, 70);
  g_autofree char *subject = g_strdup_printf(
      "Request to mailing list \"%s\" rejected", list->display_name);
  const char *recipients[] = {email, NULL};
  MmNotice notice = {
      .list = list,
      .recipients = recipients,
      .from = mm_list_setting(list, "bounces_address"),
      .subject = subject,
      .text = text,
  };
  return send_notice(ctx, &notice, error);
}

gboolean
mm_commands_notice_no_more_today(const MmCommandsContext *ctx,
                                 const MmList *list, const char *email,
                                 gint64 count, GError **error)
{
  g_autofree char *count_text = g_strdup_printf("%" G_GINT64_FORMAT, count);
  g_autofree char *language = mm_commands_language_for(ctx, list, email);
  const char *extra[] = {"count", count_text,
                         "sender_email", email,
                         "sender", email,
                         "owneremail", mm_list_setting(list, "owner_address"),
                         NULL};
  g_autofree char *text =
      mm_commands_render(ctx, list, "list:user:notice:no-more-today",
                         language, extra, error);
  if (text == NULL)
    return FALSE;
  const char *recipients[] = {email, NULL};
  MmNotice notice = {
      .list = list,
      .recipients = recipients,
      .from = mm_list_setting(list, "owner_address"),
      .subject = "Last autoresponse notification for today",
      .text = text,
  };
  return send_notice(ctx, &notice, error);
}

gboolean
mm_commands_notice_results(const MmCommandsContext *ctx, const MmList *list,
                           const char *email, const char *text,
                           const char *in_reply_to, GError **error)
{
  const char *recipients[] = {email, NULL};
  MmNotice notice = {
      .list = list,
      .recipients = recipients,
      .from = mm_list_setting(list, "bounces_address"),
      .subject = "The results of your email commands",
      .text = text,
      .in_reply_to = in_reply_to,
  };
  return send_notice(ctx, &notice, error);
}

/* ---- The pending-requests reminder (`mailman notify`) -------------------- */

gboolean
mm_commands_pending_reminder(const MmCommandsContext *ctx, const MmList *list,
                             gboolean send, guint *count_out, GError **error)
{
  if (count_out != NULL)
    *count_out = 0;
  GString *data = g_string_new(NULL);
  guint count = 0;
  g_autoptr(GError) local = NULL;

  g_autoptr(GPtrArray) held =
      mm_chains_held_messages(ctx->store, list, &local);
  if (held == NULL) {
    g_string_free(data, TRUE);
    return mm_commands_error_from(local, error, "Cannot read held posts");
  }
  for (guint i = 0; i < held->len; i++) {
    const MmHeldMessage *message = held->pdata[i];
    g_autofree char *sender =
        g_strdelimit(g_strdup(message->sender), "\r\n\t", ' ');
    g_autofree char *subject =
        g_strdelimit(g_strdup(message->subject), "\r\n\t", ' ');
    g_autofree char *reason =
        g_strdelimit(g_strdup(message->reason), "\r\n\t", ' ');
    g_string_append_printf(data,
                           "Held post %" G_GINT64_FORMAT "\n"
                           "    From: %s\n    Subject: %s\n    Reason: %s\n\n",
                           message->id, sender, subject, reason);
    count++;
  }
  g_autoptr(GPtrArray) waiting =
      mm_commands_requests(ctx, list, "moderator", &local);
  if (waiting == NULL) {
    g_string_free(data, TRUE);
    return mm_commands_error_from(local, error, "Cannot read requests");
  }
  for (guint i = 0; i < waiting->len; i++) {
    const MmWorkflowState *state = waiting->pdata[i];
    g_string_append_printf(
        data, "%s request from %s\n    Token: %s\n\n",
        g_str_equal(state->workflow, "subscription") ? "Subscription"
                                                     : "Unsubscription",
        state->email, state->token);
    count++;
  }
  if (count_out != NULL)
    *count_out = count;
  if (count == 0 || !send) {
    g_string_free(data, TRUE);
    return TRUE;
  }
  g_autofree char *body = g_string_free(data, FALSE);
  g_strchomp(body);
  g_autofree char *count_text = g_strdup_printf("%u", count);
  const char *extra[] = {"count", count_text, "data", body, NULL};
  g_autofree char *text = mm_commands_render(
      ctx, list, "list:admin:notice:pending", list->preferred_language, extra, error);
  if (text == NULL)
    return FALSE;
  g_autofree char *subject =
      g_strdup_printf("%s: %u moderation request%s waiting",
                      list->fqdn_listname, count, count == 1 ? "" : "s");
  return send_to_administrators(
      ctx, list, mm_config_get(ctx->config, "mailman", "site_owner"), subject,
      text, error);
}

/* ---- Samples (`mailman send-notice`) ------------------------------------- */

char *
mm_commands_notice_sample(const MmCommandsContext *ctx, const MmList *list,
                          const char *name, const char *email, gboolean send,
                          GError **error)
{
  /* A token that cannot confirm anything: 40 hex digits, all zero. */
  static const char sample_token[] =
      "0000000000000000000000000000000000000000";
  g_autofree char *confirm =
      mm_commands_confirm_address(ctx->config, list, sample_token);
  g_autofree char *member = mm_commands_format_address(NULL, email);
  const char *extra[] = {"token", sample_token,
                         "confirm_email", confirm,
                         "confirm_address", confirm,
                         "user_email", email,
                         "user_address", email,
                         "email_address", email,
                         "user_name", "",
                         "member", member,
                         "sender_email", email,
                         "sender", email,
                         "domain_name", list->mail_host,
                         "contact_address",
                         mm_list_setting(list, "owner_address"),
                         "fqdn_listname", list->fqdn_listname,
                         "list_name", list->display_name,
                         "list_requests",
                         mm_list_setting(list, "request_address"),
                         "reason", "[No reason given]",
                         "request", "Subscription request",
                         "count", "1",
                         "data", "(sample)",
                         NULL};
  g_autoptr(GError) local = NULL;
  char *text = mm_notice_render(ctx->config, list, name,
                                list->preferred_language, extra, &local);
  if (text == NULL) {
    g_propagate_error(error, g_steal_pointer(&local));
    return NULL;
  }
  if (!send)
    return text;
  g_autofree char *subject =
      g_strdup_printf("Sample of the %s notice of %s", name,
                      list->fqdn_listname);
  const char *recipients[] = {email, NULL};
  MmNotice notice = {
      .list = list,
      .recipients = recipients,
      .from = mm_list_setting(list, "owner_address"),
      .subject = subject,
      .text = text,
  };
  if (!send_notice(ctx, &notice, error)) {
    g_free(text);
    return NULL;
  }
  return text;
}
