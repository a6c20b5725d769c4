/* header-match: the site's [antispam] header_checks, then the list's
 * header_matches (Mailman's mailman/chains/headers.py).
 *
 * Each header_checks line "Header: regexp" is a deferred rule named
 * "header-match-config-<line index>"; if any hit, the chain jumps to
 * [antispam] jump_chain before the list's own entries are looked at (the
 * site's rules win).  Then each of the list's header_matches, in
 * position order, jumps to its own chain (or jump_chain) on a hit; its
 * rule is named "header-match-<list-id>-<index>".  A bogus config line is
 * logged to "error" and skipped.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "chains-private.h"

#include <string.h>

static MmChainLink *
header_link(const char *suffix, const char *header, const char *pattern,
            MmLinkAction action, const char *target)
{
  MmChainLink *link = g_new0(MmChainLink, 1);
  link->rule_name = g_strconcat("header-match-", suffix, NULL);
  link->header = g_strdup(header);
  link->pattern = g_strdup(pattern);
  link->action = action;
  link->target = g_strdup(target);
  return link;
}

static GPtrArray *
links(const MmChain *chain, MmPost *post)
{
  GPtrArray *out =
      g_ptr_array_new_with_free_func((GDestroyNotify)mm_chain_link_free);
  const char *jump_chain = NULL;
  const char *checks = NULL;
  if (post->config != NULL) {
    jump_chain = mm_config_get(post->config, "antispam", "jump_chain");
    checks = mm_config_get(post->config, "antispam", "header_checks");
  }
  if (jump_chain == NULL || jump_chain[0] == '\0')
    jump_chain = "hold";

  g_auto(GStrv) lines = g_strsplit(checks != NULL ? checks : "", "\n", -1);
  for (guint index = 0; lines[index] != NULL; index++) {
    /* Continuation lines come without their indentation already. */
    char *line = g_strstrip(lines[index]);
    if (line[0] == '\0')
      continue;
    char *colon = strchr(line, ':');
    if (colon == NULL) {
      g_autofree char *shown = mm_log_escape(line, -1);
      mm_log_error("error",
                   "Configuration error: [antispam]header_checks contains "
                   "bogus line: %s",
                   shown);
      continue;
    }
    *colon = '\0';
    g_autofree char *suffix = g_strdup_printf("config-%u", index);
    g_ptr_array_add(out, header_link(suffix, line, g_strchug(colon + 1),
                                     MM_LINK_DEFER, NULL));
  }
  g_ptr_array_add(out, mm_chain_link_new("any", MM_LINK_JUMP, jump_chain));

  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) matches =
      mm_store_header_matches(post->store, post->list->list_id, &error);
  if (matches == NULL) {
    /* XXX: a database failure here cannot fail the run through this
     * interface; the list's own matches are skipped and it is logged. */
    mm_log_error("error", "Cannot read the header matches of %s: %s",
                 post->list->list_id, error->message);
    return out;
  }
  for (guint i = 0; i < matches->len; i++) {
    const MmHeaderMatch *match = matches->pdata[i];
    g_autofree char *suffix =
        g_strdup_printf("%s-%u", post->list->list_id, i);
    g_ptr_array_add(out,
                    header_link(suffix, match->header, match->pattern,
                                MM_LINK_JUMP,
                                match->chain != NULL ? match->chain
                                                     : jump_chain));
  }
  return out;
}

const MmChain mm_chain_header_match = {
    "header-match", "The built-in header matching chain", links, NULL, NULL,
};
