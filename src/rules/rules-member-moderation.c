/* member-moderation: the post comes from a member whose moderation action
 * (their own, else the list's default_member_action) is not "defer"
 * (Mailman's rules/moderation.py MemberModeration).  The member is found
 * from any sender, directly or through another address of the sender's
 * user.  Misses when any sender is banned (banned-address deals with
 * those).  On a hit "member_moderation_action" names the action for the
 * moderation chain.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "rules-private.h"

#include <string.h>

gboolean
mm_rules_find_sender_member(MmPost *post, MmMember **member_out,
                            GError **error)
{
  GPtrArray *senders = mm_rules_post_senders(post);
  *member_out = NULL;
  for (guint i = 0; i < senders->len; i++) {
    g_autoptr(GError) local = NULL;
    MmMember *member = mm_store_member_find_for_sender(
        post->store, post->list->list_id, senders->pdata[i], &local);
    if (member != NULL) {
      *member_out = member;
      return TRUE;
    }
    if (!g_error_matches(local, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND) &&
        !g_error_matches(local, MM_STORE_ERROR, MM_STORE_ERROR_INVALID))
      return mm_rules_fail(error, local, "Cannot read members");
  }
  return TRUE;
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
  g_autoptr(MmMember) member = NULL;
  if (!mm_rules_find_sender_member(post, &member, error))
    return FALSE;
  if (member == NULL)
    return TRUE;
  const char *action;
  if (member->moderation_action == MM_ACTION_UNSET)
    action = mm_rules_list_setting(post, "default_member_action");
  else
    action = mm_rules_action_name(member->moderation_action);
  if (action[0] == '\0' || strcmp(action, "defer") == 0)
    return TRUE;
  *hit_out = TRUE;
  json_object_set_new(post->meta, "member_moderation_action",
                      json_string(action));
  /* Mailman records the last sender here (the loop variable of its ban
   * check), not the member's address; kept for identical metadata. */
  GPtrArray *senders = mm_rules_post_senders(post);
  mm_rules_hit(post, senders->pdata[senders->len - 1],
               "The message comes from a moderated member");
  return TRUE;
}

const MmRule mm_rule_member_moderation = {
    "member-moderation", "Match messages sent by moderated members.", TRUE,
    check,
};
