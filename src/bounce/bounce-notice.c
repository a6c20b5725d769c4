/* The notices of bounce processing (Mailman's app/notifications.py
 * send_admin_disable_notice, send_admin_increment_notice,
 * send_admin_removal_notice, send_user_disable_warning,
 * send_goodbye_message, and app/bounces.py maybe_forward), all built and
 * queued by the notice module from Mailman's template names.
 *
 * Owner notices are Mailman's OwnerNotification: from the site owner, To
 * the list's -owner address, to the list's administrators (owners and
 * moderators), envsender the site owner.  User notices come from the
 * list's -bounces address.  Subjects are Mailman's, since people filter on
 * them; the texts are the templates'.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define MM_WITH_JANSSON
#include "bounce-private.h"

#include <string.h>

#include "base-log.h"
#include "mm-autocleanups.h"
#include "notice.h"

GPtrArray *
mm_bounce_administrators(MmStore *store, const MmList *list, GError **error)
{
  static const MmMemberRole roles[] = {MM_ROLE_OWNER, MM_ROLE_MODERATOR};
  g_autoptr(GPtrArray) emails = g_ptr_array_new_with_free_func(g_free);

  for (gsize r = 0; r < G_N_ELEMENTS(roles); r++) {
    MmRosterQuery query = {.role = roles[r]};
    g_autoptr(GPtrArray) roster =
        mm_store_roster(store, list->list_id, &query, error);
    if (roster == NULL)
      return NULL;
    for (guint i = 0; i < roster->len; i++) {
      const MmMember *member = roster->pdata[i];
      gboolean seen = FALSE;
      for (guint e = 0; e < emails->len && !seen; e++)
        seen = g_ascii_strcasecmp(emails->pdata[e], member->email) == 0;
      if (!seen)
        g_ptr_array_add(emails, g_strdup(member->email));
    }
  }
  return g_steal_pointer(&emails);
}

char *
mm_bounce_format_address(const char *display_name, const char *email)
{
  /* Python's email.utils.formataddr: the bare address without a name; a
   * name with specials is quoted, with " and \ escaped. */
  if (display_name == NULL || *display_name == '\0')
    return g_strdup(email);
  gboolean quote = FALSE;
  for (const char *p = display_name; *p != '\0'; p++)
    if (strchr("()<>[]:;@\\,.\"", *p) != NULL)
      quote = TRUE;
  if (!quote)
    return g_strdup_printf("%s <%s>", display_name, email);
  GString *out = g_string_new("\"");
  for (const char *p = display_name; *p != '\0'; p++) {
    if (*p == '"' || *p == '\\')
      g_string_append_c(out, '\\');
    g_string_append_c(out, *p);
  }
  g_string_append_printf(out, "\" <%s>", email);
  return g_string_free(out, FALSE);
}

gboolean
mm_bounce_notice_owners(const MmConfig *config, MmStore *store,
                        const MmList *list, const char *template_name,
                        const char *subject, const char *const *extra,
                        GBytes *attachment, GError **error)
{
  g_autoptr(GPtrArray) admins = mm_bounce_administrators(store, list, error);
  if (admins == NULL)
    return FALSE;
  if (admins->len == 0) {
    /* Mailman queues an OwnerNotification with no recipients, which goes
     * nowhere; say so instead. */
    mm_log_info("bounce", "List %s has no owners or moderators: no %s notice",
                list->list_id, template_name);
    return TRUE;
  }
  g_autofree char *text =
      mm_notice_render(config, list, template_name, NULL, extra, error);
  if (text == NULL)
    return FALSE;
  g_ptr_array_add(admins, NULL);
  const char *site_owner = mm_config_get(config, "mailman", "site_owner");
  g_autoptr(MmJson) meta = json_pack("{s:s}", "envsender", site_owner);
  MmNotice notice = {
      .list = list,
      .recipients = (const char *const *)admins->pdata,
      .from = site_owner,
      .to = mm_list_setting(list, "owner_address"),
      .subject = subject,
      .text = text,
      .attachment = attachment,
      .extra_meta = meta,
  };
  g_autofree char *id = mm_notice_send(config, &notice, error);
  return id != NULL;
}

gboolean
mm_bounce_notice_user(const MmConfig *config, const MmList *list,
                      const char *email, const char *language,
                      const char *template_name, const char *subject,
                      const char *const *extra, GError **error)
{
  g_autofree char *text =
      mm_notice_render(config, list, template_name, language, extra, error);
  if (text == NULL)
    return FALSE;
  const char *recipients[] = {email, NULL};
  MmNotice notice = {
      .list = list,
      .recipients = recipients,
      .from = mm_list_setting(list, "bounces_address"),
      .to = email,
      .subject = subject,
      .text = text,
  };
  g_autofree char *id = mm_notice_send(config, &notice, error);
  return id != NULL;
}

/* The header block of @data (up to and including the empty line), for a
 * bounce too big to attach whole. */
static gsize
header_block_len(const char *data, gsize len)
{
  for (gsize i = 0; i + 1 < len; i++) {
    if (data[i] == '\n' && data[i + 1] == '\n')
      return i + 2;
    if (data[i] == '\n' && i + 2 < len && data[i + 1] == '\r' &&
        data[i + 2] == '\n')
      return i + 3;
  }
  return MIN(len, 64u * 1024u);
}

gboolean
mm_bounce_forward_unrecognized(const MmConfig *config, MmStore *store,
                               const MmList *list, GBytes *raw,
                               gboolean *discarded_out, GError **error)
{
  const char *disposition =
      mm_list_setting(list, "forward_unrecognized_bounces_to");
  const char *site_owner = mm_config_get(config, "mailman", "site_owner");

  if (discarded_out != NULL)
    *discarded_out = FALSE;
  if (disposition != NULL && g_str_equal(disposition, "discard")) {
    if (discarded_out != NULL)
      *discarded_out = TRUE;
    return TRUE;
  }

  gboolean to_site_owner =
      disposition != NULL && g_str_equal(disposition, "site_owner");
  g_autoptr(GPtrArray) recipients = NULL;
  if (!to_site_owner) {
    recipients = mm_bounce_administrators(store, list, error);
    if (recipients == NULL)
      return FALSE;
    if (recipients->len == 0) {
      /* Mailman would queue a notice with no recipients and the bounce
       * would be lost. */
      mm_log_info("bounce",
                  "List %s has no owners or moderators; forwarding the "
                  "unrecognized bounce to the site owner",
                  list->list_id);
      to_site_owner = TRUE;
    }
  }
  if (to_site_owner) {
    g_clear_pointer(&recipients, g_ptr_array_unref);
    recipients = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(recipients, g_strdup(site_owner));
  }
  g_ptr_array_add(recipients, NULL);

  g_autofree char *text = mm_notice_render(
      config, list, "list:admin:notice:unrecognized", NULL, NULL, error);
  if (text == NULL)
    return FALSE;

  gsize len = 0;
  const char *data = g_bytes_get_data(raw, &len);
  g_autoptr(GBytes) attachment =
      len > MM_BOUNCE_PARSE_MAX_LEN
          ? g_bytes_new(data, header_block_len(data, len))
          : g_bytes_ref(raw);

  const char *owner_address = mm_list_setting(list, "owner_address");
  g_autoptr(MmJson) meta = json_pack("{s:s}", "envsender", site_owner);
  MmNotice notice = {
      .list = list,
      .recipients = (const char *const *)recipients->pdata,
      .from = site_owner,
      .to = to_site_owner || owner_address == NULL || *owner_address == '\0'
                ? site_owner
                : owner_address,
      .subject = "Uncaught bounce notification",
      .text = text,
      .attachment = attachment,
      .extra_meta = meta,
  };
  g_autofree char *id = mm_notice_send(config, &notice, error);
  return id != NULL;
}
