/* any: hits when an earlier rule of this run hit (Mailman's rules/any.py);
 * not recorded.  The posting chain jumps to hold on it after the deferred
 * rules.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "rules-private.h"

static gboolean
check(MmPost *post, gboolean *hit_out, GError **error)
{
  json_t *hits = json_object_get(post->meta, "rule_hits");
  *hit_out = json_is_array(hits) && json_array_size(hits) > 0;
  return TRUE;
}

const MmRule mm_rule_any = {
    "any", "Look for any previous rule hit.", FALSE, check,
};
