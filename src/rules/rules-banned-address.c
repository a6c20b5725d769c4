/* banned-address: a sender is banned from the list or the site (Mailman's
 * rules/banned_address.py; bans with "^" are regexps).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "rules-private.h"

static gboolean
check(MmPost *post, gboolean *hit_out, GError **error)
{
  const char *which = NULL;
  if (!mm_rules_any_sender_banned(post, hit_out, &which, error))
    return FALSE;
  if (*hit_out) {
    g_autofree char *reason =
        g_strdup_printf("Message sender %s is banned from this list", which);
    mm_rules_hit(post, which, reason);
  }
  return TRUE;
}

const MmRule mm_rule_banned_address = {
    "banned-address", "Match messages sent by banned addresses.", TRUE, check,
};
