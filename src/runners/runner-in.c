/* The in runner: the posting chain decides what happens to a post
 * (Mailman's mailman/runners/incoming.py and core/runner.py
 * _process_one_file()).
 *
 * For each entry: find its list (shunt when it has gone, as Mailman);
 * choose the language (the sender's as a member, else the list's) into
 * metadata "lang"; default "envsender" to the list's no-reply address;
 * make sure every sender has an address row (the nonmember rule needs
 * them); then run the list's owner_chain for -owner mail ("to_owner"),
 * else its posting_chain.  The chains enqueue whatever comes next (the
 * pipeline queue, notices in virgin) before this entry is finished.  A
 * failure (database, disk, a chain name nothing defines) shunts the entry,
 * as Mailman shunts a post whose processing raised; `mailman unshunt`
 * replays it.
 *
 * Before the chains, Mailman's replybot (mm_handlers_replybot()) answers
 * the sender when the list's autorespond_postings / autorespond_owner asks
 * for it; with respond_and_discard the message then goes no further
 * (logged to vette).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define MM_WITH_JANSSON
#include "mm-autocleanups.h"

#include "runner-private.h"

#include "base-log.h"
#include "chains.h"
#include "handlers.h"
#include "message.h"
#include "rules.h"

/* The DMARC rule's resolver, made once per process: the site's
 * (mm_dmarc_resolver_for_site(): a fixture on test sites, else the
 * system's with [dmarc] resolver_lifetime). */
static const MmDmarcResolver *
site_resolver(const MmConfig *config)
{
  static MmDmarcResolver *resolver;
  if (resolver == NULL)
    resolver = mm_dmarc_resolver_for_site(
        mm_config_get_duration_usec(config, "dmarc", "resolver_lifetime"));
  return resolver;
}

static MmList *
find_list(MmStore *store, json_t *meta, char **which_out)
{
  const char *spec = json_string_value(json_object_get(meta, "listid"));
  if (spec == NULL)
    spec = json_string_value(json_object_get(meta, "listname"));
  *which_out = g_strdup(spec != NULL ? spec : "(none)");
  if (spec == NULL)
    return NULL;
  return mm_store_list_get(store, spec, NULL);
}

MmRunnerResult
mm_runner_handle_in(MmRunnerContext *ctx, MmQueueEntry *entry, GError **error)
{
  MmStore *store = mm_runner_store(ctx, error);
  if (store == NULL)
    return MM_RUNNER_KEEP;

  /* The chains work on a copy: a failed run must leave the entry's
   * metadata as it came for the shunt queue. */
  g_autoptr(MmJson) meta = json_deep_copy(mm_queue_entry_meta(entry));
  GBytes *raw = mm_queue_entry_message(entry);
  g_autofree char *which = NULL;
  g_autoptr(MmList) list = find_list(store, meta, &which);
  if (list == NULL) {
    g_autofree char *message_id = NULL;
    mm_message_header_get(raw, "Message-ID", &message_id);
    g_autofree char *shown_id = mm_log_escape(message_id != NULL ? message_id
                                                                 : "n/a",
                                              -1);
    g_autofree char *shown_list = mm_log_escape(which, -1);
    mm_log_error("error",
                 "%s runner \"%s\" shunting message for missing list: %s",
                 shown_id, ctx->name, shown_list);
    g_set_error(error, MM_CHAINS_ERROR, MM_CHAINS_ERROR_FAILED,
                "no such list: %s", shown_list);
    return MM_RUNNER_SHUNT;
  }

  g_autoptr(MmPost) post =
      mm_rules_post_new(ctx->config, store, list, raw, meta);
  post->resolver = site_resolver(ctx->config);

  /* The language of the post's notices: the sender's if a member. */
  const char *sender = mm_rules_post_sender(post);
  g_autofree char *language = NULL;
  if (sender[0] != '\0')
    language = mm_store_preference_get(store, sender, list->list_id,
                                       "preferred_language", NULL);
  json_object_set_new(post->meta, "lang",
                      json_string(language != NULL ? language
                                                   : list->preferred_language));

  if (json_object_get(post->meta, "envsender") == NULL) {
    const char *noreply =
        mm_config_get(ctx->config, "mailman", "noreply_address");
    g_autofree char *address = g_strconcat(
        noreply != NULL ? noreply : "noreply", "@", list->mail_host, NULL);
    json_object_set_new(post->meta, "envsender", json_string(address));
  }

  /* The automatic response, and the discard that may come with it. */
  if (!mm_handlers_replybot(ctx->config, store, list, raw, post->meta, NULL,
                            error))
    return MM_RUNNER_SHUNT;
  gboolean to_owner = json_is_true(json_object_get(post->meta, "to_owner"));
  gboolean to_list = json_is_true(json_object_get(post->meta, "to_list"));
  if ((to_owner && mm_handlers_replybot_action(list, "autorespond_owner") ==
                       MM_REPLYBOT_RESPOND_AND_DISCARD) ||
      (to_list && mm_handlers_replybot_action(list, "autorespond_postings") ==
                      MM_REPLYBOT_RESPOND_AND_DISCARD)) {
    g_autofree char *message_id = NULL;
    mm_message_header_get(raw, "Message-ID", &message_id);
    g_autofree char *shown_id =
        mm_log_escape(message_id != NULL ? message_id : "n/a", -1);
    mm_log_info("vette", "%s %s discarded after the automatic response",
                shown_id, to_owner ? "-owner message" : "post");
    return MM_RUNNER_FINISH;
  }

  /* Mailman's incoming runner makes every sender known, so the
   * nonmember rule can subscribe them. */
  GPtrArray *senders = mm_rules_post_senders(post);
  for (guint i = 0; i < senders->len; i++) {
    g_autoptr(GError) local = NULL;
    if (!mm_store_address_ensure(store, senders->pdata[i], NULL, &local) &&
        !g_error_matches(local, MM_STORE_ERROR, MM_STORE_ERROR_INVALID)) {
      g_propagate_error(error, g_steal_pointer(&local));
      return MM_RUNNER_SHUNT;
    }
  }

  const char *start =
      json_is_true(json_object_get(post->meta, "to_owner"))
          ? mm_list_setting(list, "owner_chain")
          : mm_list_setting(list, "posting_chain");
  if (start == NULL || start[0] == '\0')
    start = json_is_true(json_object_get(post->meta, "to_owner"))
                ? "default-owner-chain"
                : "default-posting-chain";
  const char *taken = NULL;
  if (!mm_chains_process(post, start, &taken, error))
    return MM_RUNNER_SHUNT;
  return MM_RUNNER_FINISH;
}
