/* implicit-dest: the list is named in none of To, Cc, Resent-To and
 * Resent-Cc (Mailman's rules/implicit_dest.py).  The posting address and
 * the list's acceptable_aliases count; an alias starting with '^' is a
 * regexp matched case-insensitively at the start of each recipient (a
 * regexp that does not compile is tried as literal text).  Posts gated
 * from Usenet are never checked.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "rules-private.h"

#include <string.h>

static void
collect(InternetAddressList *list, GPtrArray *recipients)
{
  int n = list != NULL ? internet_address_list_length(list) : 0;
  for (int i = 0; i < n; i++) {
    InternetAddress *address = internet_address_list_get_address(list, i);
    if (INTERNET_ADDRESS_IS_GROUP(address)) {
      collect(internet_address_group_get_members(
                  INTERNET_ADDRESS_GROUP(address)),
              recipients);
      continue;
    }
    const char *addr =
        internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(address));
    if (addr != NULL)
      g_ptr_array_add(recipients, g_utf8_strdown(addr, -1));
  }
}

static gboolean
pattern_matches(const char *pattern, const char *recipient)
{
  g_autoptr(GRegex) regex =
      g_regex_new(pattern, G_REGEX_CASELESS | G_REGEX_ANCHORED, 0, NULL);
  if (regex == NULL) {
    g_autofree char *escaped = g_regex_escape_string(pattern, -1);
    regex =
        g_regex_new(escaped, G_REGEX_CASELESS | G_REGEX_ANCHORED, 0, NULL);
  }
  return regex != NULL && g_regex_match(regex, recipient, 0, NULL);
}

static gboolean
check(MmPost *post, gboolean *hit_out, GError **error)
{
  *hit_out = FALSE;
  if (!mm_rules_list_flag(post, "require_explicit_destination") ||
      json_is_true(json_object_get(post->meta, "fromusenet")))
    return TRUE;

  g_autoptr(GError) local = NULL;
  g_autoptr(GPtrArray) aliases = mm_store_list_strings(
      post->store, post->list->list_id, "acceptable_aliases", &local);
  if (aliases == NULL)
    return mm_rules_fail(error, local, "Cannot read acceptable_aliases");
  const char *posting = mm_rules_list_setting(post, "posting_address");

  static const char *const headers[] = {"To", "Cc", "Resent-To", "Resent-Cc"};
  g_autoptr(GPtrArray) recipients = g_ptr_array_new_with_free_func(g_free);
  for (gsize h = 0; h < G_N_ELEMENTS(headers); h++) {
    g_auto(GStrv) values = mm_rules_post_header_values(post, headers[h]);
    for (char **v = values; *v != NULL; v++) {
      g_autoptr(InternetAddressList) list =
          internet_address_list_parse(NULL, *v);
      collect(list, recipients);
    }
  }
  for (guint r = 0; r < recipients->len; r++) {
    const char *recipient = recipients->pdata[r];
    if (strcmp(recipient, posting) == 0)
      return TRUE;
    for (guint a = 0; a < aliases->len; a++) {
      const char *alias = aliases->pdata[a];
      if (alias[0] != '^' && strcmp(recipient, alias) == 0)
        return TRUE;
    }
  }
  for (guint a = 0; a < aliases->len; a++) {
    const char *alias = aliases->pdata[a];
    if (alias[0] != '^')
      continue;
    for (guint r = 0; r < recipients->len; r++)
      if (pattern_matches(alias, recipients->pdata[r]))
        return TRUE;
  }
  *hit_out = TRUE;
  mm_rules_hit(post, NULL, "Message has implicit destination");
  return TRUE;
}

const MmRule mm_rule_implicit_dest = {
    "implicit-dest", "Catch messages with implicit destination.", TRUE, check,
};
