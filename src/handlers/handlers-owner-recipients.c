/* owner-recipients (mailman/handlers/owner_recipients.py).
 *
 * Mail to the -owner address goes to the list's owners and moderators
 * whose delivery is enabled, or to [mailman] site_owner when there are
 * none, so that it never vanishes.  Such mail is not decorated and is
 * always VERPed (metadata nodecorate, verp).  Nothing changes when the
 * metadata already has recipients.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "handlers-private.h"

static gint
compare_strings(gconstpointer a, gconstpointer b)
{
  return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

MmHandlerResult
mm_handlers_owner_recipients(MmHandlerContext *ctx, GError **error)
{
  if (json_object_get(ctx->meta, "recipients") != NULL)
    return MM_HANDLER_CONTINUE;

  g_autoptr(GPtrArray) emails = g_ptr_array_new_with_free_func(g_free);
  const MmMemberRole roles[] = {MM_ROLE_OWNER, MM_ROLE_MODERATOR};
  for (gsize r = 0; r < G_N_ELEMENTS(roles); r++) {
    MmRosterQuery query = {.role = roles[r],
                           .delivery_status = MM_STATUS_ENABLED};
    g_autoptr(GPtrArray) members =
        mm_store_roster(ctx->store, ctx->list->list_id, &query, error);
    if (members == NULL)
      return MM_HANDLER_FAILED;
    for (guint i = 0; i < members->len; i++) {
      const MmMember *member = members->pdata[i];
      char *email = g_ascii_strdown(member->email, -1);
      if (g_ptr_array_find_with_equal_func(emails, email, g_str_equal, NULL))
        g_free(email);
      else
        g_ptr_array_add(emails, email);
    }
  }
  if (emails->len == 0) {
    const char *site_owner =
        mm_config_get(ctx->config, "mailman", "site_owner");
    g_ptr_array_add(emails, g_strdup(site_owner != NULL ? site_owner : ""));
  }
  g_ptr_array_sort(emails, compare_strings);
  json_t *recipients = json_array();
  for (guint i = 0; i < emails->len; i++)
    json_array_append_new(recipients, json_string(emails->pdata[i]));
  json_object_set_new(ctx->meta, "recipients", recipients);
  json_object_set_new(ctx->meta, "nodecorate", json_true());
  json_object_set_new(ctx->meta, "verp", json_true());
  return MM_HANDLER_CONTINUE;
}
