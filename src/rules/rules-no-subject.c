/* no-subject: the Subject is missing or blank (Mailman's
 * rules/no_subject.py; the raw value, encoded words included, is what is
 * tested).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "rules-private.h"

static gboolean
check(MmPost *post, gboolean *hit_out, GError **error)
{
  g_autofree char *subject = mm_rules_post_header(post, "Subject");
  *hit_out = subject == NULL || g_strstrip(subject)[0] == '\0';
  if (*hit_out)
    mm_rules_hit(post, NULL, "Message has no subject");
  return TRUE;
}

const MmRule mm_rule_no_subject = {
    "no-subject", "Catch messages with no, or empty, Subject headers.", TRUE,
    check,
};
