/* truth: always hits (Mailman's rules/truth.py); not recorded.  The
 * chains use it for unconditional links.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "rules-private.h"

static gboolean
check(MmPost *post, gboolean *hit_out, GError **error)
{
  *hit_out = TRUE;
  return TRUE;
}

const MmRule mm_rule_truth = {
    "truth", "A rule which always matches.", FALSE, check,
};
