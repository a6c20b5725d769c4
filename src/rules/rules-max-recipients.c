/* max-recipients: To and Cc name at least max_num_recipients addresses
 * (Mailman's rules/max_recipients.py; 0 turns it off).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "rules-private.h"

/* email.utils.getaddresses() counts every mailbox, group members
 * included. */
static guint
count_mailboxes(InternetAddressList *list)
{
  guint count = 0;
  int n = list != NULL ? internet_address_list_length(list) : 0;
  for (int i = 0; i < n; i++) {
    InternetAddress *address = internet_address_list_get_address(list, i);
    if (INTERNET_ADDRESS_IS_GROUP(address))
      count += count_mailboxes(internet_address_group_get_members(
          INTERNET_ADDRESS_GROUP(address)));
    else
      count++;
  }
  return count;
}

static gboolean
check(MmPost *post, gboolean *hit_out, GError **error)
{
  gint64 limit = mm_rules_list_int(post, "max_num_recipients");
  *hit_out = FALSE;
  if (limit == 0)
    return TRUE;
  static const char *const headers[] = {"To", "Cc"};
  guint count = 0;
  for (gsize h = 0; h < G_N_ELEMENTS(headers); h++) {
    g_auto(GStrv) values = mm_rules_post_header_values(post, headers[h]);
    for (char **v = values; *v != NULL; v++) {
      g_autoptr(InternetAddressList) list =
          internet_address_list_parse(NULL, *v);
      count += count_mailboxes(list);
    }
  }
  *hit_out = count >= limit;
  if (*hit_out) {
    g_autofree char *reason = g_strdup_printf(
        "Message has more than %" G_GINT64_FORMAT " recipients", limit);
    mm_rules_hit(post, NULL, reason);
  }
  return TRUE;
}

const MmRule mm_rule_max_recipients = {
    "max-recipients", "Catch messages with too many explicit recipients.",
    TRUE, check,
};
