/* accept: the post goes on to the pipeline queue, with the rule headers
 * added (Mailman's mailman/chains/accept.py).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "chains-private.h"

static gboolean
process(MmPost *post, GError **error)
{
  mm_chains_add_rule_headers(post);
  if (!mm_chains_enqueue(post->config, "pipeline", mm_rules_post_message(post),
                         post->meta, error))
    return FALSE;
  mm_log_info("vette", "ACCEPT: %s", mm_rules_post_message_id(post));
  return TRUE;
}

const MmChain mm_chain_accept = {
    "accept", "Accept a message.", NULL, process, NULL,
};
