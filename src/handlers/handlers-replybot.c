/* replybot (mailman/handlers/replybot.py): the list's automatic response
 * to a post, to mail for its owners, or to mail for its -request address.
 *
 * Not a pipeline step: Mailman's incoming runner calls it for posts and
 * -owner mail before the chains, its command runner for -request mail
 * before the commands, and both then drop the message themselves when the
 * action is respond_and_discard (mm_handlers_replybot_action()).
 *
 * No response when the message says "X-Ack: no", when metadata "noack" is
 * true, or when it has Precedence bulk, junk or list without "X-Ack: yes"
 * (a program sent it: answering could loop); when the route's
 * autorespond_* is none; or when the sender had a response of this kind
 * within autoresponse_grace_period (counted in whole days, as Mailman adds
 * a timedelta to a date), unless "X-Ack: yes" asks for one anyway.  The
 * response goes to Mailman's msg.sender, From the list's -bounces address,
 * with "X-Ack: No" so that another robot's answer to it gets none, and is
 * recorded in autoresponserecord (the address is created if new).  Its
 * text is the list's autoresponse_*_text with the standard template
 * variables plus $list_name, $display_name, $requestemail and
 * $owneremail, wrapped at 70 columns.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "handlers-private.h"

#include <stdio.h>
#include <string.h>

#define DAY_USEC ((gint64)24 * 60 * 60 * G_USEC_PER_SEC)

MmReplybotAction
mm_handlers_replybot_action(const MmList *list, const char *setting)
{
  const char *value = mm_list_setting(list, setting);
  if (value == NULL)
    return MM_REPLYBOT_NONE;
  if (strcmp(value, "respond_and_discard") == 0)
    return MM_REPLYBOT_RESPOND_AND_DISCARD;
  if (strcmp(value, "respond_and_continue") == 0)
    return MM_REPLYBOT_RESPOND_AND_CONTINUE;
  return MM_REPLYBOT_NONE;
}

/* The lower-cased, trimmed value of header @name, "" when absent. */
static char *
header_lower(GMimeMessage *message, const char *name)
{
  g_autofree char *value = mm_handlers_header_get(message, name);
  if (value == NULL)
    return g_strdup("");
  return g_ascii_strdown(g_strstrip(value), -1);
}

/* TRUE when @last ("YYYY-MM-DD") plus @grace_days is after today. */
static gboolean
within_grace(const char *last, gint64 grace_days)
{
  int year, month, day;
  if (sscanf(last, "%4d-%2d-%2d", &year, &month, &day) != 3 ||
      !g_date_valid_dmy((GDateDay)day, (GDateMonth)month, (GDateYear)year))
    return FALSE;
  GDate sent;
  g_date_clear(&sent, 1);
  g_date_set_dmy(&sent, (GDateDay)day, (GDateMonth)month, (GDateYear)year);
  g_date_add_days(&sent, (guint)MIN(grace_days, 365 * 1000));
  g_autoptr(GDateTime) now = g_date_time_new_now_local();
  GDate today;
  g_date_clear(&today, 1);
  g_date_set_dmy(&today, (GDateDay)g_date_time_get_day_of_month(now),
                 (GDateMonth)g_date_time_get_month(now),
                 (GDateYear)g_date_time_get_year(now));
  return g_date_compare(&sent, &today) > 0;
}

gboolean
mm_handlers_replybot(const MmConfig *config, MmStore *store,
                     const MmList *list, GBytes *raw, json_t *meta,
                     gboolean *sent_out, GError **error)
{
  if (sent_out != NULL)
    *sent_out = FALSE;
  if (json_is_true(json_object_get(meta, "noack")))
    return TRUE;

  /* The route and the list's wish first: most lists answer nothing, and
   * then the message is not even parsed. */
  const char *setting, *text_setting;
  MmResponseType type;
  if (json_is_true(json_object_get(meta, "to_owner"))) {
    setting = "autorespond_owner";
    text_setting = "autoresponse_owner_text";
    type = MM_RESPONSE_OWNER;
  } else if (json_is_true(json_object_get(meta, "to_request"))) {
    setting = "autorespond_requests";
    text_setting = "autoresponse_request_text";
    type = MM_RESPONSE_COMMAND;
  } else if (json_is_true(json_object_get(meta, "to_list"))) {
    setting = "autorespond_postings";
    text_setting = "autoresponse_postings_text";
    type = MM_RESPONSE_POSTINGS;
  } else {
    return TRUE; /* no automatic response for other routes */
  }
  if (mm_handlers_replybot_action(list, setting) == MM_REPLYBOT_NONE)
    return TRUE;

  g_autoptr(GMimeMessage) message = mm_handlers_message_parse(raw, NULL);
  if (message == NULL)
    return TRUE; /* nothing to read a sender from */
  g_autofree char *ack = header_lower(message, "X-Ack");
  if (strcmp(ack, "no") == 0)
    return TRUE;
  g_autofree char *precedence = header_lower(message, "Precedence");
  if (strcmp(ack, "yes") != 0 &&
      (strcmp(precedence, "bulk") == 0 || strcmp(precedence, "junk") == 0 ||
       strcmp(precedence, "list") == 0))
    return TRUE;

  g_autofree char *sender = mm_handlers_message_sender(config, message);
  if (sender == NULL)
    return TRUE;

  const char *grace_text = mm_list_setting(list, "autoresponse_grace_period");
  gint64 grace_usec = 0;
  if (grace_text != NULL &&
      !mm_config_parse_duration_usec(grace_text, &grace_usec))
    grace_usec = 0;
  if (grace_usec > 0 && strcmp(ack, "yes") != 0) {
    g_autofree char *last = NULL;
    if (!mm_store_autoresponse_last(store, list->list_id, sender, type, &last,
                                    error))
      return FALSE;
    if (last != NULL && within_grace(last, grace_usec / DAY_USEC))
      return TRUE;
  }

  g_autoptr(GHashTable) vars = mm_notice_template_variables(config, list);
  const char *request = mm_list_setting(list, "request_address");
  const char *owner = mm_list_setting(list, "owner_address");
  g_hash_table_insert(vars, g_strdup("list_name"), g_strdup(list->list_name));
  g_hash_table_insert(vars, g_strdup("display_name"),
                      g_strdup(list->display_name));
  g_hash_table_insert(vars, g_strdup("requestemail"),
                      g_strdup(request != NULL ? request : ""));
  g_hash_table_insert(vars, g_strdup("owneremail"),
                      g_strdup(owner != NULL ? owner : ""));
  const char *template = mm_list_setting(list, text_setting);
  g_autofree char *expanded =
      mm_notice_template_expand(template != NULL ? template : "", vars);
  g_autofree char *text = mm_notice_wrap(expanded, 70);
  g_autofree char *subject = g_strdup_printf(
      "Automatic response from the \"%s\" mailing list", list->display_name);

  const char *recipients[] = {sender, NULL};
  const char *headers[] = {"X-Ack", "No", "X-Mailer", "Mailman replybot",
                           NULL};
  MmNotice notice = {
      .list = list,
      .recipients = recipients,
      .from = mm_list_setting(list, "bounces_address"),
      .subject = subject,
      .text = text,
      .extra_headers = headers,
  };
  g_autofree char *id = mm_notice_send(config, &notice, error);
  if (id == NULL)
    return FALSE;
  if (!mm_store_autoresponse_record(store, list->list_id, sender, type, error))
    return FALSE;
  if (sent_out != NULL)
    *sent_out = TRUE;
  return TRUE;
}
