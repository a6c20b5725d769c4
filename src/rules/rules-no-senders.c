/* no-senders: the post has no valid sender address (Mailman's
 * rules/no_senders.py); the posting chain discards it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "rules-private.h"

static gboolean
check(MmPost *post, gboolean *hit_out, GError **error)
{
  *hit_out = mm_rules_post_sender(post)[0] == '\0';
  if (*hit_out)
    mm_rules_hit(post, "N/A", "The message has no valid senders");
  return TRUE;
}

const MmRule mm_rule_no_senders = {
    "no-senders", "Match messages with no valid senders.", TRUE, check,
};
