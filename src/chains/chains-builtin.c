/* default-posting-chain: Mailman's built-in moderation chain
 * (mailman/chains/builtin.py), link for link in Mailman's order.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "chains-private.h"

static const struct {
  const char *rule;
  MmLinkAction action;
  const char *target;
} table[] = {
    /* DMARC first: reject and discard hit and jump; munge and wrap miss
     * but set metadata "dmarc" for the pipeline. */
    {"dmarc-mitigation", MM_LINK_JUMP, "dmarc"},
    {"no-senders", MM_LINK_JUMP, "discard"},
    {"approved", MM_LINK_JUMP, "accept"},
    {"emergency", MM_LINK_JUMP, "hold"},
    {"loop", MM_LINK_JUMP, "discard"},
    {"banned-address", MM_LINK_JUMP, "discard"},
    {"member-moderation", MM_LINK_JUMP, "moderation"},
    {"truth", MM_LINK_DETOUR, "header-match"},
    {"nonmember-moderation", MM_LINK_JUMP, "moderation"},
    /* All of these are checked before deciding whether to hold. */
    {"administrivia", MM_LINK_DEFER, NULL},
    {"implicit-dest", MM_LINK_DEFER, NULL},
    {"max-recipients", MM_LINK_DEFER, NULL},
    {"max-size", MM_LINK_DEFER, NULL},
    {"news-moderation", MM_LINK_DEFER, NULL},
    {"no-subject", MM_LINK_DEFER, NULL},
    {"digests", MM_LINK_DEFER, NULL},
    {"suspicious-header", MM_LINK_DEFER, NULL},
    {"any", MM_LINK_JUMP, "hold"},
    {"truth", MM_LINK_JUMP, "accept"},
};

static GPtrArray *
links(const MmChain *chain, MmPost *post)
{
  GPtrArray *out =
      g_ptr_array_new_with_free_func((GDestroyNotify)mm_chain_link_free);
  for (gsize i = 0; i < G_N_ELEMENTS(table); i++)
    g_ptr_array_add(out, mm_chain_link_new(table[i].rule, table[i].action,
                                           table[i].target));
  return out;
}

const MmChain mm_chain_builtin = {
    "default-posting-chain", "The built-in moderation chain.", links, NULL,
    NULL,
};
