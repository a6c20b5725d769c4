/* discard: the post is dropped; only the vette log says so (Mailman's
 * mailman/chains/discard.py).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "chains-private.h"

/* The reasons as Python prints a list: ['a', 'b'], or [n/a]. */
static char *
reasons_repr(MmPost *post)
{
  g_auto(GStrv) reasons = mm_chains_reasons(post, NULL);
  if (reasons[0] == NULL)
    return g_strdup("[n/a]");
  GString *out = g_string_new("[");
  for (char **r = reasons; *r != NULL; r++) {
    g_autofree char *shown = mm_log_escape(*r, -1);
    g_string_append_printf(out, "%s'%s'", r == reasons ? "" : ", ", shown);
  }
  g_string_append_c(out, ']');
  return g_string_free(out, FALSE);
}

static gboolean
process(MmPost *post, GError **error)
{
  g_autofree char *reasons = reasons_repr(post);
  mm_log_info("vette", "DISCARD: %s; %s", mm_rules_post_message_id(post),
              reasons);
  return TRUE;
}

const MmChain mm_chain_discard = {
    "discard", "Discard a message and stop processing.", NULL, process, NULL,
};
