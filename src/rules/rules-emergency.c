/* emergency: the list is in emergency moderation and a moderator has not
 * approved this post yet (Mailman's rules/emergency.py).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "rules-private.h"

static gboolean
check(MmPost *post, gboolean *hit_out, GError **error)
{
  *hit_out = mm_rules_list_flag(post, "emergency") &&
             !json_is_true(json_object_get(post->meta, "moderator_approved"));
  if (*hit_out)
    mm_rules_hit(post, NULL,
                 "Emergency moderation is in effect for this list");
  return TRUE;
}

const MmRule mm_rule_emergency = {
    "emergency",
    "The mailing list is in emergency hold and this message was not "
    "pre-approved by the list administrator.",
    TRUE, check,
};
