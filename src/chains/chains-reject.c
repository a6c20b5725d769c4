/* reject: the sender gets the post back with the reasons (Mailman's
 * mailman/chains/reject.py and app/bounces.py bounce_message()): a
 * multipart/mixed notice From the list's -owner address whose Subject is
 * the post's, with the list:user:notice:rejected text ($listname is the
 * list's display name, $reasons one reason a line; "[No bounce details
 * are available]" when no rule gave one) and the post attached.  A post
 * without a sender is only logged.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "chains-private.h"

static gboolean
process(MmPost *post, GError **error)
{
  mm_chains_add_rule_headers(post);
  const MmList *list = post->list;
  const char *sender = mm_rules_post_sender(post);
  if (sender[0] != '\0') {
    g_autofree char *text = NULL;
    if (json_is_array(json_object_get(post->meta, "moderation_reasons"))) {
      g_auto(GStrv) reasons = mm_chains_reasons(post, "[No reasons given]");
      g_autofree char *joined = g_strjoinv("\n", reasons);
      g_autoptr(GHashTable) vars =
          g_hash_table_new_full(g_str_hash, g_str_equal, NULL, NULL);
      g_hash_table_insert(vars, "listname", list->display_name);
      g_hash_table_insert(vars, "reasons", joined);
      text = mm_chains_template(post->config, list,
                                "list:user:notice:rejected", NULL, vars);
    } else {
      text = g_strdup("[No bounce details are available]\n");
    }
    GMimeMessage *message = mm_rules_post_mime(post);
    const char *subject =
        message != NULL ? g_mime_message_get_subject(message) : NULL;
    g_autofree char *oneline = g_strdelimit(
        g_utf8_make_valid(subject != NULL ? subject : "(no subject)", -1),
        "\r\n", ' ');
    const char *recipients[] = {sender, NULL};
    MmNotice notice = {.list = list,
                       .recipients = recipients,
                       .from = mm_list_setting(list, "owner_address"),
                       .to = sender,
                       .subject = oneline,
                       .text = text,
                       .attachment = mm_rules_post_message(post)};
    if (!mm_chains_notice_send(post->config, &notice, error))
      return FALSE;
  }
  mm_log_info("vette", "REJECT: %s", mm_rules_post_message_id(post));
  return TRUE;
}

const MmChain mm_chain_reject = {
    "reject", "Reject/bounce a message and stop processing.", NULL, process,
    NULL,
};
