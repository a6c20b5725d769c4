/* Small helpers of the commands module: the clock, configuration values,
 * error mapping, addresses and the list's administrators.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "commands-private.h"

#include <string.h>

#include "base-address.h"

G_DEFINE_QUARK(mm-commands-error-quark, mm_commands_error)

gint64
mm_commands_now(const MmCommandsContext *ctx)
{
  if (ctx->now_sec != 0)
    return ctx->now_sec;
  return g_get_real_time() / G_USEC_PER_SEC;
}

gint64
mm_commands_config_seconds(const MmConfig *config, const char *key,
                           gint64 fallback)
{
  const char *text = mm_config_get(config, "mailman", key);
  gint64 usec;
  if (text == NULL || !mm_config_parse_duration_usec(text, &usec) || usec < 0)
    return fallback;
  return usec / G_USEC_PER_SEC;
}

gint64
mm_commands_config_int(const MmConfig *config, const char *section,
                       const char *key, gint64 fallback)
{
  const char *text = mm_config_get(config, section, key);
  gint64 value;
  if (text == NULL ||
      !g_ascii_string_to_signed(text, 10, 0, G_MAXINT32, &value, NULL))
    return fallback;
  return value;
}

gboolean
mm_commands_list_flag(const MmList *list, const char *name, gboolean fallback)
{
  const char *text = mm_list_setting(list, name);
  gboolean value;
  if (text == NULL || !mm_config_parse_bool(text, &value))
    return fallback;
  return value;
}

gboolean
mm_commands_error_from(GError *cause, GError **error, const char *context)
{
  gboolean busy = cause != NULL &&
                  (g_error_matches(cause, MM_STORE_ERROR,
                                   MM_STORE_ERROR_BUSY) ||
                   g_error_matches(cause, MM_COMMANDS_ERROR,
                                   MM_COMMANDS_ERROR_BUSY));
  g_set_error(error, MM_COMMANDS_ERROR,
              busy ? MM_COMMANDS_ERROR_BUSY : MM_COMMANDS_ERROR_FAILED,
              "%s: %s", context, cause != NULL ? cause->message : "failed");
  return FALSE;
}

char *
mm_commands_format_address(const char *display_name, const char *email)
{
  if (display_name == NULL || display_name[0] == '\0')
    return g_strdup(email);
  /* A name that would need RFC 2047 or breaks the header is left out:
   * the address alone is always right. */
  for (const char *p = display_name; *p != '\0'; p++)
    if ((guchar)*p >= 0x7f || (guchar)*p < 0x20)
      return g_strdup(email);
  /* Python's formataddr quotes names with RFC 5322 specials. */
  if (strpbrk(display_name, "()<>@,:;.\"[]\\") != NULL) {
    GString *quoted = g_string_new("\"");
    for (const char *p = display_name; *p != '\0'; p++) {
      if (*p == '"' || *p == '\\')
        g_string_append_c(quoted, '\\');
      g_string_append_c(quoted, *p);
    }
    g_string_append_printf(quoted, "\" <%s>", email);
    return g_string_free(quoted, FALSE);
  }
  return g_strdup_printf("%s <%s>", display_name, email);
}

char *
mm_commands_confirm_address(const MmConfig *config, const MmList *list,
                            const char *token)
{
  const char *format = mm_config_get(config, "mta", "verp_confirm_format");
  if (format == NULL || format[0] == '\0')
    format = "$address+$cookie";
  g_autofree char *address = g_strconcat(list->list_name, "-confirm", NULL);
  const char *extra[] = {"address", address, "cookie", token, NULL};
  g_autofree char *local = mm_config_expand(config, format, extra);
  return g_strconcat(local, "@", list->mail_host, NULL);
}

gboolean
mm_commands_is_list_address(const MmList *list, const char *email)
{
  /* Mailman's eight subaddresses (with the two aliases). */
  static const char *const words[] = {"bounces", "confirm", "join",
                                      "leave", "owner", "request",
                                      "subscribe", "unsubscribe"};
  const char *at = strrchr(email, '@');
  if (at == NULL || g_ascii_strcasecmp(at + 1, list->mail_host) != 0)
    return FALSE;
  gsize local_len = (gsize)(at - email);
  gsize name_len = strlen(list->list_name);
  if (local_len < name_len ||
      g_ascii_strncasecmp(email, list->list_name, name_len) != 0)
    return FALSE;
  if (local_len == name_len)
    return TRUE;
  if (email[name_len] != '-')
    return FALSE;
  /* "-word", or "-word+anything" (VERP and confirmation suffixes). */
  const char *word = email + name_len + 1;
  gsize word_len = strcspn(word, "+@");
  for (gsize i = 0; i < G_N_ELEMENTS(words); i++)
    if (word_len == strlen(words[i]) &&
        g_ascii_strncasecmp(word, words[i], word_len) == 0)
      return TRUE;
  return FALSE;
}

GPtrArray *
mm_commands_administrators(const MmCommandsContext *ctx, const MmList *list,
                           GError **error)
{
  static const MmMemberRole roles[] = {MM_ROLE_OWNER, MM_ROLE_MODERATOR};
  g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);
  for (gsize r = 0; r < G_N_ELEMENTS(roles); r++) {
    MmRosterQuery query = {.role = roles[r],
                           .delivery_status = MM_STATUS_ENABLED};
    g_autoptr(GError) local = NULL;
    g_autoptr(GPtrArray) members =
        mm_store_roster(ctx->store, list->list_id, &query, &local);
    if (members == NULL) {
      mm_commands_error_from(local, error, "Cannot read the administrators");
      return NULL;
    }
    for (guint i = 0; i < members->len; i++) {
      const MmMember *member = members->pdata[i];
      gboolean seen = FALSE;
      for (guint j = 0; j < out->len && !seen; j++)
        seen = g_ascii_strcasecmp(out->pdata[j], member->email) == 0;
      if (!seen)
        g_ptr_array_add(out, g_strdup(member->email));
    }
  }
  if (out->len == 0) {
    const char *site_owner =
        mm_config_get(ctx->config, "mailman", "site_owner");
    g_ptr_array_add(out, g_strdup(site_owner != NULL ? site_owner
                                                     : "changeme@example.com"));
  }
  return g_steal_pointer(&out);
}

char *
mm_commands_language_for(const MmCommandsContext *ctx, const MmList *list,
                         const char *email)
{
  char *language = NULL;
  if (email != NULL && email[0] != '\0')
    language = mm_store_preference_get(ctx->store, email, list->list_id,
                                       "preferred_language", NULL);
  if (language == NULL || language[0] == '\0') {
    g_free(language);
    language = g_strdup(list->preferred_language != NULL
                            ? list->preferred_language
                            : "en");
  }
  return language;
}
