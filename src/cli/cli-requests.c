/* mailman requests | notify | send-notice: the moderator's side of
 * subscription and unsubscription requests, and notices on demand.
 *
 * `mailman requests LISTSPEC` lists the requests waiting on a list (token,
 * kind, address, whom it waits for, when it expires); with --approve,
 * --reject (and --reason), --discard or --defer TOKEN it decides one, on
 * the same records the email path ("confirm TOKEN") uses.  Mailman has
 * these in its REST API only (/lists/<id>/requests); the verbs are ours.
 *
 * `mailman notify [-l LISTSPEC]... [-n] [-v]` is Mailman's: it sends each
 * list's administrators the summary of requests waiting for them.
 *
 * `mailman send-notice LISTSPEC TEMPLATE --to ADDRESS [--print]` renders
 * one of Mailman's notice templates for a list, with sample values for
 * the variables of the moment (a token that confirms nothing), and queues
 * it to ADDRESS, so an owner can see what members get.  Ours.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "base-address.h"
#include "commands.h"
#include "storage-workflows.h"

static char *
date_text(gint64 seconds)
{
  g_autoptr(GDateTime) date = g_date_time_new_from_unix_utc(seconds);
  if (date == NULL)
    return g_strdup("?");
  return g_date_time_format(date, "%Y-%m-%dT%H:%M:%S");
}

static int
list_requests(MmCli *cli, const MmCommandsContext *ctx, const MmList *list,
              const char *owner)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) requests =
      mm_commands_requests(ctx, list, owner, &error);
  if (requests == NULL)
    return mm_cli_fail(cli, "%s", error->message);
  if (requests->len == 0) {
    printf("No pending requests for %s\n", list->fqdn_listname);
    return 0;
  }
  for (guint i = 0; i < requests->len; i++) {
    const MmWorkflowState *state = requests->pdata[i];
    g_autofree char *expires = date_text(state->expires_at);
    printf("%s\t%s\t%s\twaiting for %s\texpires %s\n", state->token,
           state->workflow, state->email, state->token_owner, expires);
  }
  return 0;
}

/* Tokens are 40 hex digits; anything else is refused before it reaches
 * the database. */
static gboolean
token_valid(const char *token)
{
  if (token == NULL || strlen(token) != 40)
    return FALSE;
  for (const char *p = token; *p != '\0'; p++)
    if (!g_ascii_isxdigit(*p))
      return FALSE;
  return TRUE;
}

int
mm_cli_requests(MmCli *cli, int argc, char **argv)
{
  g_autofree char *approve = NULL, *reject = NULL, *discard = NULL;
  g_autofree char *defer = NULL, *reason = NULL, *owner = NULL;
  int status = 0;
  const GOptionEntry entries[] = {
      {"approve", 'a', 0, G_OPTION_ARG_STRING, &approve,
       "Approve the request waiting on TOKEN", "TOKEN"},
      {"reject", 'r', 0, G_OPTION_ARG_STRING, &reject,
       "Refuse the request waiting on TOKEN, telling the requester",
       "TOKEN"},
      {"reason", 0, 0, G_OPTION_ARG_STRING, &reason,
       "The reason given with --reject", "REASON"},
      {"discard", 'd', 0, G_OPTION_ARG_STRING, &discard,
       "Drop the request waiting on TOKEN silently", "TOKEN"},
      {"defer", 0, 0, G_OPTION_ARG_STRING, &defer,
       "Leave the request waiting on TOKEN as it is", "TOKEN"},
      {"waiting-for", 'w', 0, G_OPTION_ARG_STRING, &owner,
       "List only the requests waiting for the subscriber or the "
       "moderator",
       "subscriber|moderator"},
      {NULL}};
  if (!mm_cli_parse(cli, "LISTSPEC",
                    "List or decide the pending subscription and "
                    "unsubscription requests of a list.",
                    entries, &argc, &argv, &status))
    return status;
  int chosen = (approve != NULL) + (reject != NULL) + (discard != NULL) +
               (defer != NULL);
  if (argc != 2 || chosen > 1 || (reason != NULL && reject == NULL)) {
    fprintf(stderr, "mailman requests: give one list and at most one of "
                    "--approve, --reject (with --reason), --discard, "
                    "--defer\n");
    return MM_CLI_EXIT_USAGE;
  }
  if (owner != NULL && !g_str_equal(owner, "subscriber") &&
      !g_str_equal(owner, "moderator")) {
    fprintf(stderr, "mailman requests: --waiting-for takes subscriber or "
                    "moderator\n");
    return MM_CLI_EXIT_USAGE;
  }
  g_autoptr(MmStore) store = mm_cli_open_store(cli);
  if (store == NULL)
    return MM_CLI_EXIT_FAILURE;
  g_autoptr(MmList) list = mm_cli_get_list(cli, store, argv[1]);
  if (list == NULL)
    return MM_CLI_EXIT_FAILURE;
  MmCommandsContext ctx = {.config = cli->config, .store = store};
  if (chosen == 0)
    return list_requests(cli, &ctx, list, owner);

  const char *token = approve    ? approve
                      : reject   ? reject
                      : discard  ? discard
                                 : defer;
  MmAction action = approve    ? MM_ACTION_ACCEPT
                    : reject   ? MM_ACTION_REJECT
                    : discard  ? MM_ACTION_DISCARD
                               : MM_ACTION_DEFER;
  g_autofree char *folded = g_ascii_strdown(token, -1);
  if (!token_valid(folded))
    return mm_cli_fail(cli, "not a request token: %s", token);
  g_autoptr(GError) error = NULL;
  if (!mm_commands_request_decide(&ctx, list, folded, action, reason,
                                  &error))
    return mm_cli_fail(cli, "%s", error->message);
  static const char *const done[] = {[MM_ACTION_REJECT] = "Rejected",
                                     [MM_ACTION_DISCARD] = "Discarded",
                                     [MM_ACTION_ACCEPT] = "Approved",
                                     [MM_ACTION_DEFER] = "Deferred"};
  printf("%s request %s of %s\n", done[action], folded, list->fqdn_listname);
  return 0;
}

int
mm_cli_notify(MmCli *cli, int argc, char **argv)
{
  g_auto(GStrv) specs = NULL;
  gboolean dry_run = FALSE, verbose = FALSE;
  int status = 0;
  const GOptionEntry entries[] = {
      {"list", 'l', 0, G_OPTION_ARG_STRING_ARRAY, &specs,
       "Operate on this list (repeatable; default: every list)", "LISTSPEC"},
      {"dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry_run,
       "Send nothing (with --verbose: show what would be sent)", NULL},
      {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose,
       "Print the number of requests of each list", NULL},
      {NULL}};
  if (!mm_cli_parse(cli, "",
                    "Notify list owners and moderators of pending requests.",
                    entries, &argc, &argv, &status))
    return status;
  if (argc != 1) {
    fprintf(stderr, "mailman notify: unexpected argument %s\n", argv[1]);
    return MM_CLI_EXIT_USAGE;
  }
  g_autoptr(MmStore) store = mm_cli_open_store(cli);
  if (store == NULL)
    return MM_CLI_EXIT_FAILURE;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) lists = NULL;
  if (specs != NULL) {
    lists = g_ptr_array_new_with_free_func((GDestroyNotify)mm_list_free);
    for (char **spec = specs; *spec != NULL; spec++) {
      MmList *list = mm_store_list_get(store, *spec, NULL);
      if (list == NULL)
        fprintf(stderr, "No such list found: %s\n", *spec);
      else
        g_ptr_array_add(lists, list);
    }
  } else {
    lists = mm_store_lists(store, &error);
    if (lists == NULL)
      return mm_cli_fail(cli, "%s", error->message);
  }
  MmCommandsContext ctx = {.config = cli->config, .store = store};
  int result = 0;
  for (guint i = 0; i < lists->len; i++) {
    const MmList *list = lists->pdata[i];
    guint count = 0;
    if (!mm_commands_pending_reminder(&ctx, list, !dry_run, &count,
                                      &error)) {
      result = mm_cli_fail(cli, "%s: %s", list->fqdn_listname,
                           error->message);
      g_clear_error(&error);
      continue;
    }
    if (verbose)
      printf("The %s list has %u moderation requests waiting.\n",
             list->fqdn_listname, count);
  }
  return result;
}

int
mm_cli_send_notice(MmCli *cli, int argc, char **argv)
{
  g_autofree char *to = NULL;
  gboolean print_only = FALSE;
  int status = 0;
  const GOptionEntry entries[] = {
      {"to", 't', 0, G_OPTION_ARG_STRING, &to,
       "Queue the sample to ADDRESS", "ADDRESS"},
      {"print", 'p', 0, G_OPTION_ARG_NONE, &print_only,
       "Only print the rendered text", NULL},
      {NULL}};
  if (!mm_cli_parse(cli, "LISTSPEC TEMPLATE",
                    "Render a notice template for a list and send a sample "
                    "of it.",
                    entries, &argc, &argv, &status))
    return status;
  if (argc != 3 || (to == NULL && !print_only)) {
    fprintf(stderr, "mailman send-notice: give a list, a template name "
                    "(list:user:notice:welcome, ...) and --to ADDRESS or "
                    "--print\n");
    return MM_CLI_EXIT_USAGE;
  }
  g_autoptr(GError) error = NULL;
  g_autofree char *email = NULL;
  if (to != NULL) {
    email = mm_address_fold_email(to, -1, NULL, NULL, &error);
    if (email == NULL)
      return mm_cli_fail(cli, "%s", error->message);
  }
  g_autoptr(MmStore) store = mm_cli_open_store(cli);
  if (store == NULL)
    return MM_CLI_EXIT_FAILURE;
  g_autoptr(MmList) list = mm_cli_get_list(cli, store, argv[1]);
  if (list == NULL)
    return MM_CLI_EXIT_FAILURE;
  MmCommandsContext ctx = {.config = cli->config, .store = store};
  g_autofree char *text = mm_commands_notice_sample(
      &ctx, list, argv[2],
      email != NULL ? email : mm_list_setting(list, "owner_address"),
      !print_only, &error);
  if (text == NULL)
    return mm_cli_fail(cli, "%s", error->message);
  if (print_only)
    fputs(text, stdout);
  else
    printf("Queued a sample of %s for %s to %s\n", argv[2],
           list->fqdn_listname, email);
  return 0;
}
