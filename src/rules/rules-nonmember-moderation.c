/* nonmember-moderation: the post comes from someone who is not a member
 * (Mailman's rules/moderation.py NonmemberModeration).
 *
 * Every sender that is neither a member nor a nonmember is first
 * subscribed as a nonmember (so list owners who are not members become
 * nonmembers, as in Mailman).  Then, unless the post came from Usenet or
 * a sender is a member: for each sender, its own nonmember
 * moderation_action wins ("defer" misses); else the legacy lists
 * accept/hold/reject/discard_these_nonmembers are tried in that order
 * (an entry starting with '^' is a regexp matched case-sensitively at the
 * start of the address, anything else must equal it; "accept" misses);
 * else the list's default_nonmember_action applies ("defer" misses).
 * Misses when any sender is banned.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "rules-private.h"

#include <string.h>

#define NOT_A_MEMBER "The message is not from a list member"

static void
record_action(MmPost *post, const char *action, const char *sender,
              const char *reason)
{
  json_object_set_new(post->meta, "member_moderation_action",
                      json_string(action));
  mm_rules_post_add_reason(post, sender, reason);
}

/* Mailman's _do_action(). */
static gboolean
do_action(MmPost *post, const char *action, const char *sender)
{
  if (action[0] == '\0' || strcmp(action, "defer") == 0)
    return FALSE;
  record_action(post, action, sender, NOT_A_MEMBER);
  return TRUE;
}

static gboolean
is_role(MmPost *post, const char *sender, MmMemberRole role,
        gboolean *is_out, GError **error)
{
  g_autoptr(GError) local = NULL;
  g_autoptr(MmMember) member = mm_store_member_get(
      post->store, post->list->list_id, sender, role, &local);
  *is_out = member != NULL;
  if (member == NULL &&
      !g_error_matches(local, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND))
    return mm_rules_fail(error, local, "Cannot read members");
  return TRUE;
}

static gboolean
entry_matches(MmPost *post, const char *which, const char *entry,
              const char *sender)
{
  if (entry[0] != '^')
    return strcmp(entry, sender) == 0;
  g_autoptr(GError) regex_error = NULL;
  g_autoptr(GRegex) regex =
      g_regex_new(entry, G_REGEX_ANCHORED, 0, &regex_error);
  if (regex == NULL) {
    g_autofree char *shown = mm_log_escape(entry, -1);
    mm_log_error("error",
                 "Invalid regexp '%s' in %s_these_nonmembers for %s: %s",
                 shown, which, post->list->list_id, regex_error->message);
    return FALSE;
  }
  return g_regex_match(regex, sender, 0, NULL);
}

static gboolean
check(MmPost *post, gboolean *hit_out, GError **error)
{
  *hit_out = FALSE;
  gboolean banned;
  if (!mm_rules_any_sender_banned(post, &banned, NULL, error))
    return FALSE;
  if (banned)
    return TRUE;

  GPtrArray *senders = mm_rules_post_senders(post);
  const char *default_action =
      mm_rules_list_setting(post, "default_nonmember_action");
  if (senders->len == 0) {
    /* Unreachable in the default chain (no-senders discards first). */
    if (default_action[0] == '\0' || strcmp(default_action, "defer") == 0)
      return TRUE;
    record_action(post, default_action, "No sender",
                  "No sender was found in the message.");
    *hit_out = TRUE;
    return TRUE;
  }

  for (guint i = 0; i < senders->len; i++) {
    const char *sender = senders->pdata[i];
    gboolean member, nonmember;
    if (!is_role(post, sender, MM_ROLE_MEMBER, &member, error) ||
        !is_role(post, sender, MM_ROLE_NONMEMBER, &nonmember, error))
      return FALSE;
    if (member || nonmember)
      continue;
    g_autoptr(GError) local = NULL;
    if (!mm_store_member_add(post->store, post->list->list_id, sender, NULL,
                             MM_ROLE_NONMEMBER, 0, &local) &&
        !g_error_matches(local, MM_STORE_ERROR, MM_STORE_ERROR_INVALID) &&
        !g_error_matches(local, MM_STORE_ERROR, MM_STORE_ERROR_EXISTS))
      return mm_rules_fail(error, local, "Cannot register a nonmember");
  }

  if (json_is_true(json_object_get(post->meta, "fromusenet")))
    return TRUE;
  g_autoptr(MmMember) member = NULL;
  if (!mm_rules_find_sender_member(post, &member, error))
    return FALSE;
  if (member != NULL)
    return TRUE;

  static const char *const legacy[] = {"accept", "hold", "reject", "discard"};
  GPtrArray *lists[G_N_ELEMENTS(legacy)] = {NULL};
  gboolean ok = TRUE;
  for (gsize l = 0; l < G_N_ELEMENTS(legacy) && ok; l++) {
    g_autofree char *name = g_strconcat(legacy[l], "_these_nonmembers", NULL);
    g_autoptr(GError) local = NULL;
    lists[l] = mm_store_list_strings(post->store, post->list->list_id, name,
                                     &local);
    if (lists[l] == NULL)
      ok = mm_rules_fail(error, local, "Cannot read the nonmember lists");
  }

  gboolean decided = FALSE;
  for (guint i = 0; ok && !decided && i < senders->len; i++) {
    const char *sender = senders->pdata[i];
    g_autoptr(GError) local = NULL;
    g_autoptr(MmMember) nonmember = mm_store_member_get(
        post->store, post->list->list_id, sender, MM_ROLE_NONMEMBER, &local);
    if (nonmember != NULL &&
        nonmember->moderation_action != MM_ACTION_UNSET) {
      *hit_out = do_action(
          post, mm_rules_action_name(nonmember->moderation_action), sender);
      decided = TRUE;
      break;
    }
    for (gsize l = 0; !decided && l < G_N_ELEMENTS(legacy); l++) {
      for (guint e = 0; e < lists[l]->len; e++) {
        if (!entry_matches(post, legacy[l], lists[l]->pdata[e], sender))
          continue;
        decided = TRUE;
        if (strcmp(legacy[l], "accept") != 0) {
          g_autofree char *reason = g_strdup_printf(
              "The sender is in the nonmember %s list", legacy[l]);
          record_action(post, legacy[l], sender, reason);
          *hit_out = TRUE;
        }
        break;
      }
    }
  }
  if (ok && !decided)
    *hit_out =
        do_action(post, default_action, senders->pdata[senders->len - 1]);
  for (gsize l = 0; l < G_N_ELEMENTS(legacy); l++)
    if (lists[l] != NULL)
      g_ptr_array_unref(lists[l]);
  return ok;
}

const MmRule mm_rule_nonmember_moderation = {
    "nonmember-moderation", "Match messages sent by nonmembers.", TRUE, check,
};
