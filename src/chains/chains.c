/* The chain engine (Mailman's mailman/core/chains.py process()) and the
 * chain registry.
 *
 * The engine keeps a stack of (links, position) for detours.  Loops
 * between chains are a configuration error a site could make with
 * header_matches naming each other's chains; the walk is bounded so such a
 * post fails (and is retried, then shunted) instead of spinning.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "chains-private.h"

#include <string.h>

#include "queue.h"

G_DEFINE_QUARK(mm-chains-error-quark, mm_chains_error)

/* Far more links than the built-in chains and any sane set of header
 * matches visit. */
#define MAX_LINKS_VISITED 10000

static const MmChain *const registry[] = {
    &mm_chain_builtin, &mm_chain_header_match, &mm_chain_moderation,
    &mm_chain_dmarc,   &mm_chain_accept,       &mm_chain_hold,
    &mm_chain_reject,  &mm_chain_discard,      &mm_chain_owner,
};

const MmChain *
mm_chains_find(const char *name)
{
  if (name == NULL)
    return NULL;
  for (gsize i = 0; i < G_N_ELEMENTS(registry); i++)
    if (strcmp(registry[i]->name, name) == 0)
      return registry[i];
  return NULL;
}

gboolean
mm_chains_exists(const char *name)
{
  return mm_chains_find(name) != NULL;
}

void
mm_chain_link_free(MmChainLink *link)
{
  if (link == NULL)
    return;
  g_free(link->rule_name);
  g_free(link->header);
  g_free(link->pattern);
  g_free(link->target);
  g_free(link);
}

MmChainLink *
mm_chain_link_new(const char *rule_name, MmLinkAction action,
                  const char *target)
{
  MmChainLink *link = g_new0(MmChainLink, 1);
  link->rule = mm_rules_find(rule_name);
  g_assert(link->rule != NULL);
  link->rule_name = g_strdup(rule_name);
  link->action = action;
  link->target = g_strdup(target);
  return link;
}

/* The links of @chain for @post: its own, or for terminal chains Mailman's
 * TerminalChainBase pair (truth -> run, truth -> stop), or for jump chains
 * one truth -> jump to what jump_to() says. */
static GPtrArray *
chain_links(const MmChain *chain, MmPost *post, GError **error)
{
  if (chain->links != NULL)
    return chain->links(chain, post);
  GPtrArray *links =
      g_ptr_array_new_with_free_func((GDestroyNotify)mm_chain_link_free);
  if (chain->process != NULL) {
    g_ptr_array_add(links, mm_chain_link_new("truth", MM_LINK_RUN, NULL));
    g_ptr_array_add(links, mm_chain_link_new("truth", MM_LINK_STOP, NULL));
    return links;
  }
  g_assert(chain->jump_to != NULL);
  const char *target = chain->jump_to(post);
  if (target == NULL) {
    /* Mailman asserts here; a bad action in the metadata is our bug or a
     * hand-edited queue file, so the post fails rather than vanishes. */
    g_ptr_array_unref(links);
    g_set_error(error, MM_CHAINS_ERROR, MM_CHAINS_ERROR_INVALID,
                "%s: invalid moderation action in the metadata of %s",
                post->list->list_id, mm_rules_post_message_id(post));
    return NULL;
  }
  g_ptr_array_add(links, mm_chain_link_new("truth", MM_LINK_JUMP, target));
  return links;
}

static void
append_name(json_t *array, const char *name)
{
  json_array_append_new(array, json_string(name));
}

typedef struct {
  const MmChain *chain;
  GPtrArray *links;
  guint position;
} Frame;

gboolean
mm_chains_process(MmPost *post, const char *start_chain,
                  const char **taken_out, GError **error)
{
  if (taken_out != NULL)
    *taken_out = NULL;
  json_t *hits = json_array();
  json_t *misses = json_array();
  json_object_set_new(post->meta, "rule_hits", hits);
  json_object_set_new(post->meta, "rule_misses", misses);

  const MmChain *chain = mm_chains_find(start_chain);
  if (chain == NULL) {
    g_set_error(error, MM_CHAINS_ERROR, MM_CHAINS_ERROR_NO_CHAIN,
                "No chain called %s", start_chain != NULL ? start_chain : "");
    return FALSE;
  }
  GPtrArray *links = chain_links(chain, post, error);
  if (links == NULL)
    return FALSE;
  g_autoptr(GArray) stack = g_array_new(FALSE, FALSE, sizeof(Frame));
  guint position = 0;
  gboolean ok = TRUE;
  gboolean done = FALSE;

  for (guint visited = 0; ok && !done; visited++) {
    if (visited > MAX_LINKS_VISITED) {
      g_set_error(error, MM_CHAINS_ERROR, MM_CHAINS_ERROR_FAILED,
                  "%s: the chains loop (more than %d links) for %s",
                  post->list->list_id, MAX_LINKS_VISITED,
                  mm_rules_post_message_id(post));
      ok = FALSE;
      break;
    }
    if (position >= links->len) {
      /* This chain is exhausted: back to the one we detoured from, or
       * finished. */
      g_ptr_array_unref(links);
      links = NULL;
      if (stack->len == 0) {
        done = TRUE;
        break;
      }
      Frame frame = g_array_index(stack, Frame, stack->len - 1);
      g_array_set_size(stack, stack->len - 1);
      chain = frame.chain;
      links = frame.links;
      position = frame.position;
      continue;
    }
    MmChainLink *link = links->pdata[position++];
    gboolean hit = FALSE;
    gboolean record;
    const char *name;
    if (link->rule != NULL) {
      record = link->rule->record;
      name = link->rule->name;
      ok = link->rule->check(post, &hit, error);
      if (!ok)
        break;
    } else {
      record = TRUE;
      name = link->rule_name;
      hit = mm_rules_header_match(post, link->header, link->pattern);
    }
    if (!hit) {
      if (record)
        append_name(misses, name);
      continue;
    }
    if (record)
      append_name(hits, name);
    switch (link->action) {
    case MM_LINK_JUMP:
    case MM_LINK_DETOUR: {
      const MmChain *next = mm_chains_find(link->target);
      if (next == NULL) {
        g_set_error(error, MM_CHAINS_ERROR, MM_CHAINS_ERROR_NO_CHAIN,
                    "%s: no chain called %s", post->list->list_id,
                    link->target);
        ok = FALSE;
        break;
      }
      GPtrArray *next_links = chain_links(next, post, error);
      if (next_links == NULL) {
        ok = FALSE;
        break;
      }
      if (link->action == MM_LINK_DETOUR) {
        Frame frame = {chain, links, position};
        g_array_append_val(stack, frame);
      } else {
        g_ptr_array_unref(links);
      }
      chain = next;
      links = next_links;
      position = 0;
      break;
    }
    case MM_LINK_STOP:
      done = TRUE;
      break;
    case MM_LINK_DEFER:
      break;
    case MM_LINK_RUN:
      ok = chain->process(post, error);
      if (ok && taken_out != NULL)
        *taken_out = chain->name;
      break;
    }
  }
  if (links != NULL)
    g_ptr_array_unref(links);
  for (guint i = 0; i < stack->len; i++)
    g_ptr_array_unref(g_array_index(stack, Frame, i).links);
  return ok;
}

/* ---- Helpers of the terminal chains ------------------------------------ */

static char *
join_names(json_t *array)
{
  GString *out = g_string_new(NULL);
  size_t i;
  json_t *value;
  json_array_foreach(array, i, value)
  {
    if (!json_is_string(value))
      continue;
    if (out->len > 0)
      g_string_append(out, "; ");
    g_string_append(out, json_string_value(value));
  }
  return g_string_free(out, FALSE);
}

void
mm_chains_add_rule_headers(MmPost *post)
{
  g_autofree char *hits = join_names(json_object_get(post->meta, "rule_hits"));
  if (hits[0] != '\0')
    mm_rules_post_header_append(post, "X-Mailman-Rule-Hits", hits);
  g_autofree char *misses =
      join_names(json_object_get(post->meta, "rule_misses"));
  if (misses[0] != '\0')
    mm_rules_post_header_append(post, "X-Mailman-Rule-Misses", misses);
}

char **
mm_chains_reasons(MmPost *post, const char *fallback)
{
  GPtrArray *out = g_ptr_array_new();
  json_t *reasons = json_object_get(post->meta, "moderation_reasons");
  size_t i;
  json_t *value;
  json_array_foreach(reasons, i, value)
  {
    if (json_is_string(value))
      g_ptr_array_add(out, g_strdup(json_string_value(value)));
  }
  if (out->len == 0 && fallback != NULL)
    g_ptr_array_add(out, g_strdup(fallback));
  g_ptr_array_add(out, NULL);
  return (char **)g_ptr_array_free(out, FALSE);
}

gboolean
mm_chains_enqueue(const MmConfig *config, const char *name, GBytes *raw,
                  json_t *meta, GError **error)
{
  const char *queue_root = mm_config_path(config, "queue_dir");
  g_autoptr(GError) local = NULL;
  g_autofree char *id =
      mm_queue_enqueue_to(queue_root, name, raw, meta, &local);
  if (id == NULL) {
    g_set_error(error, MM_CHAINS_ERROR, MM_CHAINS_ERROR_FAILED,
                "Cannot enqueue to %s: %s", name, local->message);
    return FALSE;
  }
  return TRUE;
}
