/* mailman held | moderate: the moderator's side of held messages.
 *
 * `mailman held LISTSPEC` lists the posts waiting for a moderator (request
 * id, date held, sender, subject, reason); `--show ID` prints one stored
 * post.  `mailman moderate LISTSPEC ID` decides on one: --accept (the post
 * goes on to the pipeline, once), --reject REASON (the poster is told
 * why), --discard, --defer (nothing changes).  With an accept, reject or
 * discard, --add-to-accept-nonmembers puts the sender on the list's
 * accept_these_nonmembers, --ban bans the sender from the list and
 * --set-action ACTION sets the sender's own moderation action (as a
 * member if they are one, else as a nonmember), as Postorius offers next
 * to its moderation buttons.  Mailman itself has these actions in its REST
 * API only; the verbs are ours.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "chains.h"

int
mm_cli_held(MmCli *cli, int argc, char **argv)
{
  gint64 show = 0;
  int status = 0;
  const GOptionEntry entries[] = {
      {"show", 's', 0, G_OPTION_ARG_INT64, &show,
       "Print held message ID as it was received", "ID"},
      {NULL}};
  if (!mm_cli_parse(cli, "LISTSPEC", "List the posts held for moderation.",
                    entries, &argc, &argv, &status))
    return status;
  if (argc != 2) {
    fprintf(stderr, "mailman held: give exactly one list\n");
    return MM_CLI_EXIT_USAGE;
  }
  g_autoptr(MmStore) store = mm_cli_open_store(cli);
  if (store == NULL)
    return MM_CLI_EXIT_FAILURE;
  g_autoptr(MmList) list = mm_cli_get_list(cli, store, argv[1]);
  if (list == NULL)
    return MM_CLI_EXIT_FAILURE;
  g_autoptr(GError) error = NULL;

  if (show != 0) {
    g_autoptr(GBytes) bytes =
        mm_chains_held_message_bytes(cli->config, store, list, show, &error);
    if (bytes == NULL)
      return mm_cli_fail(cli, "%s", error->message);
    gsize len;
    const char *data = g_bytes_get_data(bytes, &len);
    fwrite(data, 1, len, stdout);
    return 0;
  }

  g_autoptr(GPtrArray) held = mm_chains_held_messages(store, list, &error);
  if (held == NULL)
    return mm_cli_fail(cli, "%s", error->message);
  if (held->len == 0) {
    printf("No held messages for %s\n", list->fqdn_listname);
    return 0;
  }
  for (guint i = 0; i < held->len; i++) {
    const MmHeldMessage *m = held->pdata[i];
    /* Peer-supplied text on a terminal: no control characters. */
    g_autofree char *sender = g_strdelimit(g_strdup(m->sender),
                                           "\r\n\t\x1b", ' ');
    g_autofree char *subject = g_strdelimit(g_strdup(m->subject),
                                            "\r\n\t\x1b", ' ');
    g_autofree char *reason = g_strdelimit(g_strdup(m->reason),
                                           "\r\n\t\x1b", ' ');
    printf("%" G_GINT64_FORMAT "\t%s\t%s\t%s\n", m->id, m->hold_date,
           sender, subject);
    printf("\tReason: %s\n", reason);
  }
  return 0;
}

/* Sets @email's own moderation action: as a member if it is one, else as
 * a nonmember (subscribed as one when it is not yet). */
static gboolean
set_sender_action(MmStore *store, const MmList *list, const char *email,
                  MmAction action, GError **error)
{
  g_autoptr(GError) local = NULL;
  if (mm_store_member_set_moderation_action(store, list->list_id, email,
                                            MM_ROLE_MEMBER, action, &local))
    return TRUE;
  if (!g_error_matches(local, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND)) {
    g_propagate_error(error, g_steal_pointer(&local));
    return FALSE;
  }
  g_clear_error(&local);
  if (!mm_store_member_add(store, list->list_id, email, NULL,
                           MM_ROLE_NONMEMBER, 0, &local) &&
      !g_error_matches(local, MM_STORE_ERROR, MM_STORE_ERROR_EXISTS)) {
    g_propagate_error(error, g_steal_pointer(&local));
    return FALSE;
  }
  return mm_store_member_set_moderation_action(
      store, list->list_id, email, MM_ROLE_NONMEMBER, action, error);
}

static gboolean
parse_action(const char *text, MmAction *action_out)
{
  static const struct {
    const char *name;
    MmAction action;
  } names[] = {{"hold", MM_ACTION_HOLD},       {"reject", MM_ACTION_REJECT},
               {"discard", MM_ACTION_DISCARD}, {"accept", MM_ACTION_ACCEPT},
               {"defer", MM_ACTION_DEFER}};
  for (gsize i = 0; i < G_N_ELEMENTS(names); i++)
    if (g_ascii_strcasecmp(text, names[i].name) == 0) {
      *action_out = names[i].action;
      return TRUE;
    }
  return FALSE;
}

int
mm_cli_moderate(MmCli *cli, int argc, char **argv)
{
  gboolean accept = FALSE, discard = FALSE, defer = FALSE;
  gboolean add_accept = FALSE, ban = FALSE;
  g_autofree char *reject = NULL, *set_action = NULL;
  int status = 0;
  const GOptionEntry entries[] = {
      {"accept", 'a', 0, G_OPTION_ARG_NONE, &accept,
       "Post the message to the list", NULL},
      {"reject", 'r', 0, G_OPTION_ARG_STRING, &reject,
       "Refuse the message, telling the poster REASON", "REASON"},
      {"discard", 'd', 0, G_OPTION_ARG_NONE, &discard,
       "Drop the message silently", NULL},
      {"defer", 0, 0, G_OPTION_ARG_NONE, &defer,
       "Leave the message held", NULL},
      {"add-to-accept-nonmembers", 0, 0, G_OPTION_ARG_NONE, &add_accept,
       "Also add the sender to accept_these_nonmembers", NULL},
      {"ban", 0, 0, G_OPTION_ARG_NONE, &ban,
       "Also ban the sender from the list", NULL},
      {"set-action", 0, 0, G_OPTION_ARG_STRING, &set_action,
       "Also set the sender's moderation action (accept, hold, reject, "
       "discard, defer)",
       "ACTION"},
      {NULL}};
  if (!mm_cli_parse(cli, "LISTSPEC REQUEST-ID",
                    "Decide on a post held for moderation.", entries, &argc,
                    &argv, &status))
    return status;
  int chosen = (accept ? 1 : 0) + (reject != NULL ? 1 : 0) +
               (discard ? 1 : 0) + (defer ? 1 : 0);
  if (argc != 3 || chosen != 1) {
    fprintf(stderr, "mailman moderate: give a list, a request id and one of "
                    "--accept, --reject REASON, --discard, --defer\n");
    return MM_CLI_EXIT_USAGE;
  }
  gint64 id;
  if (!g_ascii_string_to_signed(argv[2], 10, 1, G_MAXINT64, &id, NULL)) {
    fprintf(stderr, "mailman moderate: not a request id: %s\n", argv[2]);
    return MM_CLI_EXIT_USAGE;
  }
  MmAction sender_action = MM_ACTION_UNSET;
  if (set_action != NULL && !parse_action(set_action, &sender_action)) {
    fprintf(stderr, "mailman moderate: unknown action %s\n", set_action);
    return MM_CLI_EXIT_USAGE;
  }
  MmAction action = accept    ? MM_ACTION_ACCEPT
                    : discard ? MM_ACTION_DISCARD
                    : defer   ? MM_ACTION_DEFER
                              : MM_ACTION_REJECT;

  g_autoptr(MmStore) store = mm_cli_open_store(cli);
  if (store == NULL)
    return MM_CLI_EXIT_FAILURE;
  g_autoptr(MmList) list = mm_cli_get_list(cli, store, argv[1]);
  if (list == NULL)
    return MM_CLI_EXIT_FAILURE;
  g_autoptr(GError) error = NULL;
  /* The sender, read before the request goes away. */
  g_autoptr(MmHeldMessage) held =
      mm_chains_held_message_get(store, list, id, &error);
  if (held == NULL)
    return mm_cli_fail(cli, "%s", error->message);
  if (!mm_chains_moderate(cli->config, store, list, id, action, reject,
                          &error))
    return mm_cli_fail(cli, "%s", error->message);

  const char *sender = held->sender;
  if ((add_accept || ban || set_action != NULL) && sender[0] == '\0')
    return mm_cli_fail(cli, "request %" G_GINT64_FORMAT
                       " has no sender to add, ban or set", id);
  if (add_accept &&
      !mm_store_list_strings_add(store, list->list_id,
                                 "accept_these_nonmembers", sender, &error) &&
      !g_error_matches(error, MM_STORE_ERROR, MM_STORE_ERROR_EXISTS))
    return mm_cli_fail(cli, "%s", error->message);
  g_clear_error(&error);
  if (ban && !mm_store_ban_add(store, list->list_id, sender, &error))
    return mm_cli_fail(cli, "%s", error->message);
  if (set_action != NULL &&
      !set_sender_action(store, list, sender, sender_action, &error))
    return mm_cli_fail(cli, "%s", error->message);

  static const char *const done[] = {[MM_ACTION_HOLD] = "Held",
                                     [MM_ACTION_REJECT] = "Rejected",
                                     [MM_ACTION_DISCARD] = "Discarded",
                                     [MM_ACTION_ACCEPT] = "Accepted",
                                     [MM_ACTION_DEFER] = "Deferred"};
  printf("%s request %" G_GINT64_FORMAT " of %s\n", done[action], id,
         list->fqdn_listname);
  return 0;
}
