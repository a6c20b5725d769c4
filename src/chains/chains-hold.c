/* hold: the post waits for a moderator (Mailman's
 * mailman/chains/hold.py).
 *
 * The post (with its rule headers) goes to the message store and a
 * held-message request records it with the reasons; a "held message"
 * token is pended for the confirmation address.  The poster is told the
 * post waits (unless it came from Usenet, asks not to be answered, the
 * list has respond_to_post_requests off, or the poster had [mta]
 * max_autoresponses_per_day answers today: at the limit one last "no more
 * today" notice goes out instead), and the list's owners and moderators
 * get the held-message notice with the post and a "confirm <token>" stub
 * attached when admin_immed_notify is on.
 *
 * Everything the database records and both notices are one transaction:
 * the notices are queued before the commit, so a crash leaves either
 * nothing recorded (the post is held again, notices may repeat) or all of
 * it (the replay finds the request and stops).
 *
 * Deliberate difference: Mailman addresses the moderators' notice to the
 * -owner address and lets it loop through the MTA into the owner
 * pipeline; we queue it straight to the owners and moderators (the owner
 * pipeline's recipients, the site owner when there are none), keeping
 * To: <list>-owner.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "chains-private.h"

#include <string.h>

/* Mailman's _compose_reasons(): each reason wrapped and indented. */
static char *
compose_reasons(MmPost *post, guint column)
{
  g_auto(GStrv) reasons = mm_chains_reasons(post, "N/A");
  GString *out = g_string_new(NULL);
  for (char **r = reasons; *r != NULL; r++) {
    g_autofree char *wrapped = mm_notice_wrap(*r, column);
    g_strchomp(wrapped);
    if (out->len > 0)
      g_string_append_c(out, '\n');
    /* Continuation lines of a long reason keep the indentation too. */
    g_auto(GStrv) lines = g_strsplit(wrapped, "\n", -1);
    for (char **l = lines; *l != NULL; l++) {
      if (l != lines)
        g_string_append_c(out, '\n');
      g_string_append(out, "    ");
      g_string_append(out, *l);
    }
  }
  return g_string_free(out, FALSE);
}

static gint64
config_int(const MmConfig *config, const char *section, const char *key,
           gint64 fallback)
{
  const char *text = mm_config_get(config, section, key);
  gint64 value;
  if (text == NULL ||
      !g_ascii_string_to_signed(text, 10, 0, G_MAXINT32, &value, NULL))
    return fallback;
  return value;
}

static gint64
config_seconds(const MmConfig *config, const char *key, gint64 fallback)
{
  const char *text = mm_config_get(config, "mailman", key);
  gint64 usec;
  if (text == NULL || !mm_config_parse_duration_usec(text, &usec))
    return fallback;
  return usec / G_USEC_PER_SEC;
}

/* Mailman's autorespond_to_sender(): may the poster get another
 * automatic answer today?  Records the answer; at the limit sends the
 * "no more today" notice. */
static gboolean
autorespond_to_sender(MmPost *post, const char *sender, const char *language,
                      gboolean *allowed_out, GError **error)
{
  *allowed_out = FALSE;
  gint64 max = config_int(post->config, "mta", "max_autoresponses_per_day",
                          10);
  if (max == 0) {
    *allowed_out = TRUE;
    return TRUE;
  }
  const MmList *list = post->list;
  g_autoptr(GError) local = NULL;
  gint64 count = mm_store_autoresponse_count_today(
      post->store, list->list_id, sender, MM_RESPONSE_HOLD, &local);
  if (count < 0) {
    g_set_error(error, MM_CHAINS_ERROR, MM_CHAINS_ERROR_FAILED,
                "Cannot count automatic responses: %s", local->message);
    return FALSE;
  }
  g_autofree char *shown = mm_log_escape(sender, -1);
  if (count > max) {
    mm_log_info("vette", "Automatic response limit discard: %s", shown);
    return TRUE;
  }
  if (!mm_store_autoresponse_record(post->store, list->list_id, sender,
                                    MM_RESPONSE_HOLD, &local)) {
    g_set_error(error, MM_CHAINS_ERROR, MM_CHAINS_ERROR_FAILED,
                "Cannot record an automatic response: %s", local->message);
    return FALSE;
  }
  if (count < max) {
    *allowed_out = TRUE;
    return TRUE;
  }
  mm_log_info("vette", "hold autoresponse limit hit: %s", shown);
  g_autofree char *count_text = g_strdup_printf("%" G_GINT64_FORMAT, count);
  g_autoptr(GHashTable) vars =
      g_hash_table_new_full(g_str_hash, g_str_equal, NULL, NULL);
  g_hash_table_insert(vars, "count", count_text);
  g_hash_table_insert(vars, "sender_email", (gpointer)sender);
  g_hash_table_insert(vars, "sender", (gpointer)sender);
  g_hash_table_insert(vars, "owneremail",
                      (gpointer)mm_list_setting(list, "owner_address"));
  g_autofree char *text = mm_chains_template(
      post->config, list, "list:user:notice:no-more-today", language, vars);
  g_autofree char *wrapped = mm_notice_wrap(text, 70);
  const char *recipients[] = {sender, NULL};
  MmNotice notice = {.list = list,
                     .recipients = recipients,
                     .from = mm_list_setting(list, "owner_address"),
                     .to = sender,
                     .subject = "Last autoresponse notification for today",
                     .text = wrapped};
  return mm_chains_notice_send(post->config, &notice, error);
}

static char *
original_subject(MmPost *post)
{
  GMimeMessage *message = mm_rules_post_mime(post);
  const char *subject =
      message != NULL ? g_mime_message_get_subject(message) : NULL;
  if (subject == NULL)
    return g_strdup("(no subject)");
  /* Mailman's oneline(): one line, decoded. */
  g_autofree char *valid = g_utf8_make_valid(subject, -1);
  return g_strdelimit(g_strdup(valid), "\r\n", ' ');
}

static gboolean
notify(MmPost *post, gint64 request_id, const char *token, GError **error)
{
  const MmList *list = post->list;
  const char *sender = mm_rules_post_sender(post);
  g_autofree char *subject = original_subject(post);
  g_autofree char *confirm = mm_chains_confirm_address(post->config, list,
                                                       token);
  g_autofree char *language = mm_chains_language_for(post->store, list, sender);

  g_autoptr(GHashTable) vars =
      g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
  g_hash_table_insert(vars, "subject", g_strdup(subject));
  g_hash_table_insert(vars, "sender_email", g_strdup(sender));
  g_hash_table_insert(vars, "sender", g_strdup(sender));
  g_hash_table_insert(vars, "reasons", compose_reasons(post, 66));
  g_hash_table_insert(vars, "confirm_address", g_strdup(confirm));
  g_hash_table_insert(vars, "token", g_strdup(token));

  gboolean respond = sender[0] != '\0' &&
                     !json_is_true(json_object_get(post->meta, "fromusenet")) &&
                     mm_chains_can_acknowledge(post) &&
                     g_strcmp0(mm_list_setting(list, "respond_to_post_requests"),
                               "True") == 0;
  if (respond && !autorespond_to_sender(post, sender, language, &respond,
                                        error))
    return FALSE;
  if (respond) {
    /* A language the metadata chose wins, as in Mailman. */
    const char *lang = json_string_value(json_object_get(post->meta, "lang"));
    g_autofree char *text = mm_chains_template(
        post->config, list, "list:user:notice:hold",
        lang != NULL ? lang : language, vars);
    g_autofree char *wrapped = mm_notice_wrap(text, 70);
    g_autofree char *notice_subject = g_strdup_printf(
        "Your message to %s awaits moderator approval", list->fqdn_listname);
    const char *recipients[] = {sender, NULL};
    MmNotice notice = {.list = list,
                       .recipients = recipients,
                       .from = mm_list_setting(list, "bounces_address"),
                       .to = sender,
                       .subject = notice_subject,
                       .text = wrapped};
    if (!mm_chains_notice_send(post->config, &notice, error))
      return FALSE;
  }

  if (g_strcmp0(mm_list_setting(list, "admin_immed_notify"), "True") == 0) {
    /* The moderators' copy wraps narrower (Mailman's column 55). */
    g_hash_table_insert(vars, "reasons", compose_reasons(post, 55));
    g_autofree char *text = mm_chains_template(
        post->config, list, "list:admin:action:post",
        list->preferred_language, vars);
    g_autofree char *notice_subject =
        g_strdup_printf("%s post from %s requires approval",
                        list->fqdn_listname, sender);
    const char *owner = mm_list_setting(list, "owner_address");
    g_autofree char *stub_text = mm_chains_template(
        post->config, list, "list:admin:action:post:stub",
        list->preferred_language, vars);
    g_autofree char *stub_wrapped = mm_notice_wrap(stub_text, 70);
    g_autofree char *stub_subject = g_strconcat("confirm ", token, NULL);
    MmNotice stub = {.list = list,
                     .from = mm_list_setting(list, "request_address"),
                     .subject = stub_subject,
                     .text = stub_wrapped};
    g_autoptr(GBytes) stub_bytes = mm_notice_message(&stub, error);
    if (stub_bytes == NULL)
      return FALSE;

    g_autoptr(GPtrArray) admins =
        mm_chains_list_administrators(post->config, post->store, list, error);
    if (admins == NULL)
      return FALSE;
    g_ptr_array_add(admins, NULL);
    GBytes *const more[] = {stub_bytes, NULL};
    MmNotice notice = {.list = list,
                       .recipients = (const char *const *)admins->pdata,
                       .from = owner,
                       .to = owner,
                       .subject = notice_subject,
                       .text = text,
                       .attachment = mm_rules_post_message(post),
                       .attachments = more};
    if (!mm_chains_notice_send(post->config, &notice, error))
      return FALSE;
  }
  return TRUE;
}

static gboolean
process(MmPost *post, GError **error)
{
  mm_chains_add_rule_headers(post);
  g_auto(GStrv) reasons = mm_chains_reasons(post, "n/a");
  g_autofree char *reason = g_strjoinv("; ", reasons);
  const MmList *list = post->list;

  g_autoptr(GError) local = NULL;
  if (!mm_store_begin(post->store, &local)) {
    g_set_error(error, MM_CHAINS_ERROR, MM_CHAINS_ERROR_FAILED,
                "Cannot hold a post to %s: %s", list->list_id,
                local->message);
    return FALSE;
  }
  gboolean existing = FALSE;
  gint64 request_id = mm_chains_hold_message(post, reason, &existing, error);
  gboolean ok = request_id > 0;
  g_autofree char *token = NULL;
  if (ok && !existing) {
    g_autoptr(GHashTable) values =
        g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
    g_hash_table_insert(values, "id",
                        g_strdup_printf("%" G_GINT64_FORMAT, request_id));
    g_autoptr(MmJson) list_id = json_string(list->list_id);
    g_hash_table_insert(values, "list_id",
                        json_dumps(list_id, JSON_ENCODE_ANY));
    token = mm_store_pending_add(post->store, "held message", values,
                                 config_seconds(post->config,
                                                "pending_request_life",
                                                3 * 86400),
                                 &local);
    if (token == NULL) {
      g_set_error(error, MM_CHAINS_ERROR, MM_CHAINS_ERROR_FAILED,
                  "Cannot pend the confirmation token: %s", local->message);
      ok = FALSE;
    }
  }
  if (ok && !existing)
    ok = notify(post, request_id, token, error);
  if (!ok) {
    mm_store_rollback(post->store);
    return FALSE;
  }
  if (!mm_store_commit(post->store, &local)) {
    g_set_error(error, MM_CHAINS_ERROR, MM_CHAINS_ERROR_FAILED,
                "Cannot hold a post to %s: %s", list->list_id,
                local->message);
    return FALSE;
  }

  json_object_set_new(post->meta, "held_request_id",
                      json_integer(request_id));
  g_autofree char *sender = mm_log_escape(mm_rules_post_sender(post), -1);
  g_autofree char *shown_reason = mm_log_escape(reason, -1);
  if (existing)
    mm_log_info("vette",
                "HOLD: %s post from %s already held as request %" G_GINT64_FORMAT
                ", message-id=%s",
                list->fqdn_listname, sender, request_id,
                mm_rules_post_message_id(post));
  else
    mm_log_info("vette", "HOLD: %s post from %s held, message-id=%s: %s",
                list->fqdn_listname, sender, mm_rules_post_message_id(post),
                shown_reason);
  return TRUE;
}

const MmChain mm_chain_hold = {
    "hold", "Hold a message and stop processing.", NULL, process, NULL,
};
