/* loop: the post already went through this list (Mailman's rules/loop.py).
 *
 * As in Mailman, a List-Post value must equal the bare posting address
 * once trimmed and lower-cased; the "<mailto:...>" form the list itself
 * writes never matches (a Mailman quirk kept for identical verdicts).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "rules-private.h"

#include <string.h>

static gboolean
check(MmPost *post, gboolean *hit_out, GError **error)
{
  const char *posting = mm_rules_list_setting(post, "posting_address");
  g_auto(GStrv) values = mm_rules_post_header_values(post, "List-Post");
  *hit_out = FALSE;
  for (char **v = values; *v != NULL && !*hit_out; v++) {
    g_autofree char *lower = g_utf8_strdown(*v, -1);
    *hit_out = strcmp(g_strstrip(lower), posting) == 0;
  }
  if (*hit_out)
    mm_rules_hit(post, NULL, "Message has already been posted to this list");
  return TRUE;
}

const MmRule mm_rule_loop = {
    "loop", "Look for a posting loop.", TRUE, check,
};
