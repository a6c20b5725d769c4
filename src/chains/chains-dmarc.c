/* dmarc: jumps to reject or discard as metadata "dmarc_action" (set by
 * the dmarc-mitigation rule) says (Mailman's mailman/chains/dmarc.py).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "chains-private.h"

#include <string.h>

static const char *
jump_to(MmPost *post)
{
  const char *action =
      json_string_value(json_object_get(post->meta, "dmarc_action"));
  if (g_strcmp0(action, "discard") == 0)
    return "discard";
  if (g_strcmp0(action, "reject") == 0)
    return "reject";
  return NULL;
}

const MmChain mm_chain_dmarc = {
    "dmarc", "Process DMARC reject or discard mitigations", NULL, NULL,
    jump_to,
};
