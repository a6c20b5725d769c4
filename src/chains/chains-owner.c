/* default-owner-chain: mail to the list's -owner address goes to the
 * pipeline unchanged (Mailman's mailman/chains/owner.py); the metadata's
 * "to_owner" (set at intake) makes the pipeline runner use the list's
 * owner pipeline.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "chains-private.h"

static gboolean
process(MmPost *post, GError **error)
{
  /* Mailman relies on the intake's flag; setting it here as well keeps an
   * -owner post routed right whoever queued it. */
  json_object_set_new(post->meta, "to_owner", json_true());
  if (!mm_chains_enqueue(post->config, "pipeline", mm_rules_post_message(post),
                         post->meta, error))
    return FALSE;
  mm_log_info("vette", "OWNER: %s", mm_rules_post_message_id(post));
  return TRUE;
}

const MmChain mm_chain_owner = {
    "default-owner-chain", "The built-in -owner posting chain.", NULL, process,
    NULL,
};
