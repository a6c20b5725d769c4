/* moderation: jumps to accept, hold, reject or discard as metadata
 * "member_moderation_action" (set by the member- and nonmember-moderation
 * rules) says (Mailman's mailman/chains/moderation.py).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "chains-private.h"

#include <string.h>

static const char *
jump_to(MmPost *post)
{
  const char *action =
      json_string_value(json_object_get(post->meta, "member_moderation_action"));
  static const char *const valid[] = {"accept", "discard", "hold", "reject"};
  for (gsize i = 0; action != NULL && i < G_N_ELEMENTS(valid); i++)
    if (strcmp(action, valid[i]) == 0)
      return valid[i];
  return NULL;
}

const MmChain mm_chain_moderation = {
    "moderation", "Moderation chain", NULL, NULL, jump_to,
};
