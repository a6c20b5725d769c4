/* Running a command message (Mailman's CommandRunner._dispose in
 * runners/command.py): loop prevention, the commands in order, and the
 * one reply that summarises them.
 *
 * Loop prevention comes first and is silent: a message that a program
 * sent (Auto-Submitted other than "no", X-Autoreply, X-Autorespond, a
 * null envelope sender, Precedence bulk/junk/list without X-Ack: yes), or
 * that comes from one of the list's own addresses, neither acts nor gets
 * an answer.  Acting matters as much as answering: a vacation reply to a
 * confirmation request is addressed to -confirm+TOKEN and would otherwise
 * confirm a subscription nobody asked for.  Replies are limited per
 * sender and day ([mta] max_autoresponses_per_day, Mailman's
 * autoresponserecord with the "command" type).
 *
 * Mailman's replybot for -request (autorespond_requests) runs before this,
 * in the command runner (runners/runner-command.c), as in Mailman.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define MM_WITH_GMIME
#include "commands-private.h"

#include <string.h>

#include "base-log.h"
#include "message.h"

static void
gmime_init_once(void)
{
  static gsize done = 0;
  if (g_once_init_enter(&done)) {
    g_mime_init();
    g_once_init_leave(&done, 1);
  }
}

/* The first value of header @name lower-cased and trimmed, "" if none. */
static char *
header_lower(GBytes *raw, const char *name)
{
  g_autofree char *value = NULL;
  if (!mm_message_header_get(raw, name, &value) || value == NULL)
    return g_strdup("");
  return g_ascii_strdown(g_strstrip(value), -1);
}

/* Why a message must not be acted on or answered, or NULL. */
static const char *
automatic_reason(GBytes *raw)
{
  g_autofree char *precedence = header_lower(raw, "Precedence");
  g_autofree char *ack = header_lower(raw, "X-Ack");
  if (!g_str_equal(ack, "yes") &&
      (g_str_equal(precedence, "bulk") || g_str_equal(precedence, "junk") ||
       g_str_equal(precedence, "list")))
    return "Precedence";
  if (g_str_equal(precedence, "auto_reply"))
    return "Precedence";
  /* RFC 3834 5: anything but "no" is automatic; parameters after ';'. */
  g_autofree char *auto_submitted = NULL;
  if (mm_message_header_get(raw, "Auto-Submitted", &auto_submitted)) {
    g_autofree char *lower =
        g_ascii_strdown(auto_submitted != NULL ? auto_submitted : "", -1);
    char *semicolon = strchr(lower, ';');
    if (semicolon != NULL)
      *semicolon = '\0';
    if (!g_str_equal(g_strstrip(lower), "no"))
      return "Auto-Submitted";
  }
  if (mm_message_header_get(raw, "X-Autoreply", NULL) ||
      mm_message_header_get(raw, "X-Autorespond", NULL))
    return "X-Autoreply";
  /* Intake writes the envelope sender last; "<>" is the null sender. */
  g_autofree char *mail_from = header_lower(raw, "X-MailFrom");
  if (g_str_equal(mail_from, "<>"))
    return "null envelope sender";
  return NULL;
}

/* Peer text for a line of the reply: one line, valid UTF-8, bounded. */
static char *
one_line(const char *text)
{
  if (text == NULL)
    return g_strdup("n/a");
  g_autofree char *valid = g_utf8_make_valid(text, -1);
  if (g_utf8_strlen(valid, -1) > 200) {
    char *end = g_utf8_offset_to_pointer(valid, 200);
    *end = '\0';
  }
  return g_strdelimit(g_strdup(valid), "\r\n\t", ' ');
}

/* Mailman's autorespond_to_sender() for command replies: may @sender get
 * another reply today?  Records it; at the limit sends the "no more
 * today" notice instead. */
static gboolean
reply_allowed(const MmCommandsContext *ctx, const MmList *list,
              const char *sender, gboolean *allowed_out, GError **error)
{
  *allowed_out = FALSE;
  gint64 max = mm_commands_config_int(ctx->config, "mta",
                                      "max_autoresponses_per_day", 10);
  if (max == 0) {
    *allowed_out = TRUE;
    return TRUE;
  }
  g_autoptr(GError) local = NULL;
  gint64 count = mm_store_autoresponse_count_today(
      ctx->store, list->list_id, sender, MM_RESPONSE_COMMAND, &local);
  if (count < 0)
    return mm_commands_error_from(local, error,
                                  "Cannot count automatic responses");
  g_autofree char *shown = mm_log_escape(sender, -1);
  if (count > max) {
    mm_log_info(MM_COMMANDS_LOG_VETTE, "Automatic response limit discard: %s",
                shown);
    return TRUE;
  }
  if (!mm_store_autoresponse_record(ctx->store, list->list_id, sender,
                                    MM_RESPONSE_COMMAND, &local))
    return mm_commands_error_from(local, error,
                                  "Cannot record an automatic response");
  if (count < max) {
    *allowed_out = TRUE;
    return TRUE;
  }
  mm_log_info(MM_COMMANDS_LOG_VETTE, "command response limit hit: %s", shown);
  return mm_commands_notice_no_more_today(ctx, list, sender, count, error);
}

/* The From header's display name and address (Python's parseaddr, then
 * RFC 2047 decoding of the name). */
static void
from_parts(GMimeMessage *message, char **name_out, char **email_out)
{
  *name_out = g_strdup("");
  *email_out = g_strdup("");
  InternetAddressList *from =
      message != NULL ? g_mime_message_get_from(message) : NULL;
  if (from == NULL || internet_address_list_length(from) == 0)
    return;
  InternetAddress *first = internet_address_list_get_address(from, 0);
  if (!INTERNET_ADDRESS_IS_MAILBOX(first))
    return;
  const char *name = internet_address_get_name(first);
  const char *addr =
      internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(first));
  g_free(*name_out);
  g_free(*email_out);
  *name_out = one_line(name != NULL ? name : "");
  *email_out = g_strdup(addr != NULL ? addr : "");
}

static char *
header_shown(GMimeMessage *message, GBytes *raw, const char *name)
{
  if (message != NULL && g_ascii_strcasecmp(name, "Subject") == 0) {
    const char *subject = g_mime_message_get_subject(message);
    if (subject != NULL)
      return one_line(subject);
  }
  if (message != NULL && g_ascii_strcasecmp(name, "From") == 0) {
    InternetAddressList *from = g_mime_message_get_from(message);
    if (from != NULL && internet_address_list_length(from) > 0) {
      g_autofree char *text = internet_address_list_to_string(from, NULL,
                                                              FALSE);
      return one_line(text);
    }
  }
  g_autofree char *value = NULL;
  if (!mm_message_header_get(raw, name, &value) || value == NULL)
    return g_strdup("n/a");
  return one_line(value);
}

/* Runs the script, filling @session; the lines left after a stop go to
 * @unprocessed. */
static gboolean
run_script(MmCommandSession *session, const MmCommandScript *script,
           GPtrArray *unprocessed, GError **error)
{
  guint i = 0;
  for (; i < script->lines->len; i++) {
    const char *line = script->lines->pdata[i];
    g_auto(GStrv) words = mm_commands_line_split(line);
    if (words[0] == NULL)
      continue;
    /* Each result under the line it answers. */
    g_autofree char *shown_line = one_line(line);
    g_strstrip(shown_line);
    if (session->results->len > 0)
      g_string_append_c(session->results, '\n');
    g_string_append_printf(session->results, "> %s\n", shown_line);
    /* The first word, or else the second (a "Re:" in front). */
    char **args = words + 1;
    const char *name = words[0];
    const MmCommand *command = mm_commands_find(name);
    if (command == NULL && words[1] != NULL) {
      name = words[1];
      args = words + 2;
      command = mm_commands_find(name);
    }
    if (command == NULL) {
      /* Name the word the sender meant as a command: the second only
       * after a "Re:"-like prefix (Mailman names the last word tried). */
      gboolean prefix = words[1] != NULL && g_str_has_suffix(words[0], ":");
      g_autofree char *shown = one_line(prefix ? words[1] : words[0]);
      mm_command_session_say(session, "No such command: %s", shown);
      continue;
    }
    MmCommandStatus status = MM_COMMAND_CONTINUE;
    if (!command->run(session, args, &status, error))
      return FALSE;
    if (status == MM_COMMAND_STOP) {
      i++;
      break;
    }
  }
  for (; i < script->lines->len; i++)
    g_ptr_array_add(unprocessed, g_strdup(script->lines->pdata[i]));
  return TRUE;
}

static char *
compose_reply(const MmCommandSession *session, const MmCommandScript *script,
              GPtrArray *unprocessed, GMimeMessage *message, GBytes *raw)
{
  GString *out = g_string_new(
      "The results of the email commands in your message are below.\n\n");
  g_string_append(out, "- Your message:\n");
  static const char *const shown[] = {"From", "Subject", "Date",
                                      "Message-ID"};
  for (gsize h = 0; h < G_N_ELEMENTS(shown); h++) {
    g_autofree char *value = header_shown(message, raw, shown[h]);
    g_string_append_printf(out, "    %s: %s\n", shown[h], value);
  }
  g_string_append(out, "\n- Results:\n");
  if (script->no_text_part)
    g_string_append(out,
                    "Your message has no plain text part, so only its "
                    "Subject was read.  Send commands as plain text.\n");
  else if (script->skipped_parts)
    g_string_append(out, "Parts other than the first plain text part were "
                         "not read.\n");
  g_string_append(out, session->results->str);
  if (session->results->len == 0 && !script->no_text_part)
    g_string_append(out, "No commands were found in your message.\n");

  gboolean any = FALSE;
  for (guint i = 0; i < unprocessed->len; i++) {
    g_autofree char *line = g_strstrip(g_strdup(unprocessed->pdata[i]));
    if (line[0] == '\0')
      continue;
    if (!any)
      g_string_append(out, "\n- Not run (after a command that ends "
                           "processing):\n");
    any = TRUE;
    g_string_append_printf(out, "%s\n", line);
  }
  if (script->ignored_count > 0) {
    g_string_append(out, "\n- Ignored (past the lines commands are read "
                         "from):\n");
    for (guint i = 0; i < script->ignored->len; i++) {
      g_autofree char *line = g_strstrip(g_strdup(script->ignored->pdata[i]));
      g_string_append_printf(out, "%s\n", line);
    }
    if (script->ignored_count > script->ignored->len)
      g_string_append_printf(out, "... and %u more lines\n",
                             script->ignored_count - script->ignored->len);
  }
  g_string_append(out, "\n- Done.\n");
  return g_string_free(out, FALSE);
}

static void
session_clear(MmCommandSession *session)
{
  g_clear_pointer(&session->post, mm_rules_post_free);
  g_clear_pointer(&session->from_name, g_free);
  g_clear_pointer(&session->from_email, g_free);
  if (session->results != NULL)
    g_string_free(session->results, TRUE);
  session->results = NULL;
  g_clear_pointer(&session->joins, g_hash_table_unref);
  g_clear_pointer(&session->leaves, g_hash_table_unref);
  g_clear_pointer(&session->confirms, g_hash_table_unref);
}

gboolean
mm_commands_message_process(const MmCommandsContext *ctx, const MmList *list,
                            GBytes *raw, json_t *meta,
                            MmCommandsOutcome *outcome_out, GError **error)
{
  g_return_val_if_fail(ctx != NULL && list != NULL && raw != NULL, FALSE);
  MmCommandsOutcome dummy;
  if (outcome_out == NULL)
    outcome_out = &dummy;
  *outcome_out = MM_COMMANDS_DROPPED;

  g_autofree char *message_id = NULL;
  mm_message_header_get(raw, "Message-ID", &message_id);
  g_autofree char *shown_id =
      mm_log_escape(message_id != NULL ? message_id : "n/a", -1);

  const char *why = automatic_reason(raw);
  if (why != NULL) {
    mm_log_info(MM_COMMANDS_LOG_VETTE,
                "%s automatic message (%s) to %s discarded, not answered",
                shown_id, why, mm_list_setting(list, "request_address"));
    return TRUE;
  }

  /* The metadata is the runner's; the Approved check writes into it. */
  g_autoptr(MmJson) meta_copy =
      meta != NULL ? json_deep_copy(meta) : json_object();
  MmCommandSession session = {
      .ctx = ctx,
      .list = list,
      .post = mm_rules_post_new(ctx->config, ctx->store, list, raw, meta_copy),
      .results = g_string_new(NULL),
      .joins = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
      .leaves = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
      .confirms = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
  };
  session.sender = mm_rules_post_sender(session.post);
  if (session.sender[0] == '\0') {
    mm_log_info(MM_COMMANDS_LOG_VETTE,
                "%s command message to %s has no sender, discarded", shown_id,
                list->fqdn_listname);
    session_clear(&session);
    return TRUE;
  }
  if (mm_commands_is_list_address(list, session.sender)) {
    g_autofree char *shown = mm_log_escape(session.sender, -1);
    mm_log_info(MM_COMMANDS_LOG_VETTE,
                "%s command message from the list's own address %s "
                "discarded",
                shown_id, shown);
    session_clear(&session);
    return TRUE;
  }

  gmime_init_once();
  /* Our own reference: the Approved check of a "confirm" replaces the
   * post's message (and its parse) when it strips the password. */
  g_autoptr(GMimeMessage) message = mm_rules_post_mime(session.post);
  if (message != NULL)
    g_object_ref(message);
  from_parts(message, &session.from_name, &session.from_email);

  const char *subaddress =
      meta != NULL ? json_string_value(json_object_get(meta, "subaddress"))
                   : NULL;
  guint max_lines = (guint)mm_commands_config_int(
      ctx->config, "mailman", "email_commands_max_lines", 10);
  g_autoptr(MmCommandScript) script = mm_commands_script_parse(
      raw, subaddress, mm_config_get(ctx->config, "mta", "verp_confirm_regexp"),
      max_lines);
  session.send_response = !script->implicit;

  g_autoptr(GPtrArray) unprocessed = g_ptr_array_new_with_free_func(g_free);
  if (!run_script(&session, script, unprocessed, error)) {
    session_clear(&session);
    return FALSE;
  }

  *outcome_out = MM_COMMANDS_QUIET;
  gboolean allowed = FALSE;
  gboolean ok = TRUE;
  if (session.send_response)
    ok = reply_allowed(ctx, list, session.sender, &allowed, error);
  if (ok && allowed) {
    g_autofree char *text =
        compose_reply(&session, script, unprocessed, message, raw);
    ok = mm_commands_notice_results(ctx, list, session.sender, text,
                                    message_id, error);
    if (ok)
      *outcome_out = MM_COMMANDS_REPLIED;
  }
  session_clear(&session);
  return ok;
}
