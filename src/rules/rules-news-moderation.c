/* news-moderation: the list gateways to a moderated newsgroup (Mailman's
 * rules/news_moderation.py).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "rules-private.h"

#include <string.h>

static gboolean
check(MmPost *post, gboolean *hit_out, GError **error)
{
  *hit_out = strcmp(mm_rules_list_setting(post, "newsgroup_moderation"),
                    "moderated") == 0;
  if (*hit_out)
    mm_rules_hit(post, NULL, "Post to a moderated newsgroup gateway");
  return TRUE;
}

const MmRule mm_rule_news_moderation = {
    "news-moderation",
    "Match all messages posted to a mailing list that gateways to a "
    "moderated newsgroup.",
    TRUE, check,
};
