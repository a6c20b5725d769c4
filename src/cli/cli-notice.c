/* Notices sent by command-line actions.
 *
 * Mailman 3 sends the owners of a list created with `mailman create
 * --notify` a message from the site owner.  We build it here and queue it
 * in the virgin queue with its recipients, like every notice the server
 * generates; the delivery engine sends it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "cli-notice.h"

#include <jansson.h>
#include <string.h>
#include <unistd.h>

#include "queue.h"

static char *
make_message_id(const char *host)
{
  return g_strdup_printf("<%" G_GINT64_FORMAT ".%d.%08x@%s>",
                         g_get_real_time(), (int)getpid(), g_random_int(),
                         host);
}

gboolean
mm_cli_notice_list_created(MmCli *cli, const MmList *list,
                           const char *const *owners, GError **error)
{
  const char *site_owner = mm_config_get(cli->config, "mailman", "site_owner");
  g_autoptr(GDateTime) now = g_date_time_new_now_local();
  g_autofree char *date = g_date_time_format(now, "%a, %d %b %Y %H:%M:%S %z");
  g_autofree char *msgid = make_message_id(list->mail_host);
  g_autofree char *to = g_strjoinv(", ", (char **)owners);
  g_autofree char *request =
      g_strdup_printf("%s-request@%s", list->list_name, list->mail_host);

  g_autofree char *text = g_strdup_printf(
      "From: %s\r\n"
      "To: %s\r\n"
      "Subject: Mailing list %s created\r\n"
      "Date: %s\r\n"
      "Message-ID: %s\r\n"
      "MIME-Version: 1.0\r\n"
      "Content-Type: text/plain; charset=\"utf-8\"\r\n"
      "Content-Transfer-Encoding: 8bit\r\n"
      "\r\n"
      "The mailing list %s has been created, and you are one of its\r\n"
      "owners.\r\n"
      "\r\n"
      "Posts go to:          %s\r\n"
      "Commands by mail to:  %s (send \"help\" in the subject)\r\n"
      "\r\n"
      "The site administrator, %s, can help with anything else.\r\n",
      site_owner, to, list->fqdn_listname, date, msgid, list->fqdn_listname,
      list->fqdn_listname, request, site_owner);

  json_t *recipients = json_array();
  for (const char *const *o = owners; *o != NULL; o++)
    json_array_append_new(recipients, json_string(*o));
  json_t *meta = json_pack("{s:s, s:o, s:b, s:b}", "listid", list->list_id,
                           "recipients", recipients, "reduced_list_headers",
                           1, "nodecorate", 1);
  g_autoptr(GBytes) bytes = g_bytes_new(text, strlen(text));
  g_autofree char *id = mm_queue_enqueue_to(
      mm_config_path(cli->config, "queue_dir"), "virgin", bytes, meta, error);
  json_decref(meta);
  return id != NULL;
}
