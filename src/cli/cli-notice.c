/* Notices sent by command-line actions.
 *
 * Mailman 3 sends the owners of a list created with `mailman create
 * --notify` the domain:admin:notice:new-list template from the site
 * owner; the notice module finds the template and queues the message in
 * virgin, like every notice the server generates.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "cli-notice.h"

#include "notice.h"

gboolean
mm_cli_notice_list_created(MmCli *cli, const MmList *list,
                           const char *const *owners, GError **error)
{
  g_autofree char *text = mm_notice_render(
      cli->config, list, "domain:admin:notice:new-list", NULL, NULL, error);
  if (text == NULL)
    return FALSE;
  g_autofree char *subject =
      g_strdup_printf("Mailing list %s created", list->fqdn_listname);
  MmNotice notice = {
      .list = list,
      .recipients = owners,
      .from = mm_config_get(cli->config, "mailman", "site_owner"),
      .subject = subject,
      .text = text,
  };
  g_autofree char *id = mm_notice_send(cli->config, &notice, error);
  return id != NULL;
}
