/* Notices the chains and the moderator send (held-message notices,
 * rejections, refusals): their templates (through the notice module, which
 * owns Mailman's names, search order and our built-in texts), the
 * confirmation address, and the recipients.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "chains-private.h"

#include <string.h>

#include "base-log.h"
#include "notice.h"

/* Mailman has no template for the reply stub attached to the moderators'
 * notice (it builds it in code); ours is a text of its own here. */
static const char held_stub_text[] =
    "Replying to this message with the Subject kept as it is discards the "
    "held post; do that for spam.  Put \"Approved: <the moderator "
    "password>\" in a header or on the first line of the reply to post "
    "it to the list instead.\n";

/* ---- Templates ---------------------------------------------------------- */

char *
mm_chains_template(const MmConfig *config, const MmList *list,
                   const char *name, const char *language, GHashTable *extra)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *text =
      g_str_equal(name, "list:admin:action:post:stub")
          ? g_strdup(held_stub_text)
          : mm_notice_template_load(config, list, name, language, &error);
  /* Every name chains asks for has a built-in text; a template file that
   * exists but cannot be read falls back to it, logged. */
  if (text == NULL) {
    mm_log_error("error", "template %s: %s", name, error->message);
    g_clear_error(&error);
    text = g_strdup("");
  }
  GHashTable *vars = mm_notice_template_variables(config, list);
  if (language != NULL)
    g_hash_table_replace(vars, g_strdup("language"), g_strdup(language));
  if (extra != NULL) {
    GHashTableIter iter;
    gpointer key, value;
    g_hash_table_iter_init(&iter, extra);
    while (g_hash_table_iter_next(&iter, &key, &value))
      g_hash_table_replace(vars, g_strdup(key), g_strdup(value));
  }
  char *expanded = mm_notice_template_expand(text, vars);
  g_hash_table_unref(vars);
  return expanded;
}

char *
mm_chains_confirm_address(const MmConfig *config, const MmList *list,
                          const char *token)
{
  const char *format =
      config != NULL ? mm_config_get(config, "mta", "verp_confirm_format")
                     : NULL;
  if (format == NULL || format[0] == '\0')
    format = "$address+$cookie";
  g_autofree char *address = g_strconcat(list->list_name, "-confirm", NULL);
  g_autoptr(GHashTable) vars =
      g_hash_table_new_full(g_str_hash, g_str_equal, NULL, NULL);
  g_hash_table_insert(vars, "address", address);
  g_hash_table_insert(vars, "cookie", (gpointer)token);
  g_autofree char *local = mm_notice_template_expand(format, vars);
  return g_strconcat(local, "@", list->mail_host, NULL);
}

/* ---- Recipients and languages ------------------------------------------ */

GPtrArray *
mm_chains_list_administrators(const MmConfig *config, MmStore *store,
                              const MmList *list, GError **error)
{
  GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
  static const MmMemberRole roles[] = {MM_ROLE_OWNER, MM_ROLE_MODERATOR};
  for (gsize r = 0; r < G_N_ELEMENTS(roles); r++) {
    MmRosterQuery query = {.role = roles[r],
                           .delivery_status = MM_STATUS_ENABLED};
    g_autoptr(GError) local = NULL;
    g_autoptr(GPtrArray) members =
        mm_store_roster(store, list->list_id, &query, &local);
    if (members == NULL) {
      g_ptr_array_unref(out);
      g_set_error(error, MM_CHAINS_ERROR, MM_CHAINS_ERROR_FAILED,
                  "Cannot read the administrators of %s: %s", list->list_id,
                  local->message);
      return NULL;
    }
    for (guint i = 0; i < members->len; i++) {
      const MmMember *member = members->pdata[i];
      g_autofree char *lower = g_utf8_strdown(member->email, -1);
      gboolean seen = FALSE;
      for (guint j = 0; j < out->len && !seen; j++)
        seen = strcmp(out->pdata[j], lower) == 0;
      if (!seen)
        g_ptr_array_add(out, g_steal_pointer(&lower));
    }
  }
  if (out->len == 0) {
    const char *site_owner =
        config != NULL ? mm_config_get(config, "mailman", "site_owner") : NULL;
    g_ptr_array_add(out, g_strdup(site_owner != NULL ? site_owner
                                                     : "changeme@example.com"));
  }
  return out;
}

char *
mm_chains_language_for(MmStore *store, const MmList *list, const char *email)
{
  if (email != NULL && email[0] != '\0') {
    char *language = mm_store_preference_get(store, email, list->list_id,
                                              "preferred_language", NULL);
    if (language != NULL)
      return language;
  }
  return g_strdup(list->preferred_language != NULL ? list->preferred_language
                                                   : "en");
}


gboolean
mm_chains_notice_send(const MmConfig *config, const MmNotice *notice,
                      GError **error)
{
  g_autoptr(GError) local = NULL;
  g_autofree char *id = mm_notice_send(config, notice, &local);
  if (id == NULL) {
    g_set_error(error, MM_CHAINS_ERROR, MM_CHAINS_ERROR_FAILED,
                "Cannot queue a notice: %s", local->message);
    return FALSE;
  }
  return TRUE;
}
