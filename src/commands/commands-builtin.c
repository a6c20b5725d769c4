/* The email commands (Mailman's mailman/commands/eml_*.py): confirm,
 * echo, end / stop, help, join / subscribe, leave / unsubscribe, who.
 * One function per command and one line in the table at the end.
 *
 * Each command writes its result lines into the session and says whether
 * the script goes on.  Mailman's send_response rule: a message to -join,
 * -leave or -confirm+TOKEN gets no reply when its command worked (the
 * confirmation request or welcome message is the answer), but any error
 * asks for one.  We also ask for one when a request ends up waiting for a
 * moderator, since nothing else would tell the sender.
 *
 * Deliberate difference: Mailman's leave requires the sender to be a
 * registered user's verified address (to stop someone linking a bogus
 * address to another's account).  Our store has one address per user, so
 * a member's own address may leave; the confirmation step of the list's
 * unsubscription policy still proves the mailbox.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define MM_WITH_GMIME
#include "commands-private.h"

#include <stdarg.h>
#include <string.h>

#include "base-log.h"
#include "chains.h"

void
mm_command_session_say(MmCommandSession *session, const char *format, ...)
{
  va_list args;
  va_start(args, format);
  g_string_append_vprintf(session->results, format, args);
  va_end(args);
  g_string_append_c(session->results, '\n');
}

/* ---- join / subscribe ---------------------------------------------------- */

static gboolean
cmd_join(MmCommandSession *s, char **args, MmCommandStatus *status,
         GError **error)
{
  *status = MM_COMMAND_CONTINUE;
  MmDeliveryMode mode = 0;
  const char *address = NULL;
  for (char **arg = args; *arg != NULL; arg++) {
    const char *eq = strchr(*arg, '=');
    const char *value = eq != NULL ? eq + 1 : NULL;
    gsize key_len = eq != NULL ? (gsize)(eq - *arg) : 0;
    if (value != NULL && key_len == 6 && strncmp(*arg, "digest", 6) == 0) {
      if (g_str_equal(value, "no"))
        mode = MM_DELIVERY_REGULAR;
      else if (g_str_equal(value, "plain"))
        mode = MM_DELIVERY_PLAINTEXT_DIGESTS;
      else if (g_str_equal(value, "mime"))
        mode = MM_DELIVERY_MIME_DIGESTS;
      else
        value = NULL;
    } else if (value != NULL && key_len == 7 &&
               strncmp(*arg, "address", 7) == 0) {
      address = value;
    } else {
      value = NULL;
    }
    if (value == NULL) {
      mm_command_session_say(s, "join: bad argument: %s", *arg);
      s->send_response = TRUE;
      *status = MM_COMMAND_STOP;
      return TRUE;
    }
  }

  const char *email = address != NULL ? address : s->from_email;
  const char *name = address != NULL ? "" : s->from_name;
  if (email == NULL || email[0] == '\0')
    email = s->sender;
  if (email == NULL || email[0] == '\0') {
    mm_command_session_say(s, "join: no address to subscribe was found");
    s->send_response = TRUE;
    *status = MM_COMMAND_STOP;
    return TRUE;
  }
  /* One join per address per message (Mailman). */
  g_autofree char *key = g_ascii_strdown(email, -1);
  if (g_hash_table_contains(s->joins, key))
    return TRUE;
  g_hash_table_add(s->joins, g_strdup(key));

  g_autofree char *person = mm_commands_format_address(name, email);
  MmSubscribeOptions options = {.display_name = name, .delivery_mode = mode};
  MmWorkflowOutcome outcome = {0};
  g_autoptr(GError) local = NULL;
  const char *fqdn = s->list->fqdn_listname;
  if (!mm_commands_subscription_start(s->ctx, s->list, email, &options,
                                      &outcome, &local)) {
    s->send_response = TRUE;
    if (local->domain != MM_COMMANDS_ERROR)
      return mm_commands_error_from(local, error, "join");
    switch ((MmCommandsError)local->code) {
    case MM_COMMANDS_ERROR_ALREADY_MEMBER:
      mm_command_session_say(s, "%s is already a member of %s.", email, fqdn);
      return TRUE;
    case MM_COMMANDS_ERROR_BANNED:
      mm_command_session_say(s, "%s may not join %s.", email, fqdn);
      return TRUE;
    case MM_COMMANDS_ERROR_INVALID_ADDRESS:
      mm_command_session_say(s, "Not a valid address to subscribe: %s",
                             email);
      return TRUE;
    case MM_COMMANDS_ERROR_PENDING:
      mm_command_session_say(
          s,
          "%s already has a subscription request waiting for %s; no new "
          "confirmation request was sent.",
          person, fqdn);
      return TRUE;
    default:
      g_propagate_error(error, g_steal_pointer(&local));
      return FALSE;
    }
  }
  if (outcome.member_changed) {
    mm_command_session_say(s, "%s is now a member of %s.", person, fqdn);
  } else if (outcome.token_owner == MM_TOKEN_OWNER_MODERATOR) {
    mm_command_session_say(
        s, "The request of %s to join %s waits for a moderator's approval.",
        person, fqdn);
    s->send_response = TRUE;
  } else {
    mm_command_session_say(s, "A confirmation request was sent to %s.",
                           person);
  }
  mm_workflow_outcome_clear(&outcome);
  return TRUE;
}

/* ---- leave / unsubscribe ------------------------------------------------- */

static gboolean
cmd_leave(MmCommandSession *s, char **args, MmCommandStatus *status,
          GError **error)
{
  *status = MM_COMMAND_CONTINUE;
  const char *email = s->sender;
  const char *fqdn = s->list->fqdn_listname;
  if (g_hash_table_contains(s->leaves, email))
    return TRUE;
  g_hash_table_add(s->leaves, g_strdup(email));

  MmWorkflowOutcome outcome = {0};
  g_autoptr(GError) local = NULL;
  if (!mm_commands_unsubscription_start(s->ctx, s->list, email, FALSE, FALSE,
                                        &outcome, &local)) {
    s->send_response = TRUE;
    if (g_error_matches(local, MM_COMMANDS_ERROR,
                        MM_COMMANDS_ERROR_NOT_MEMBER)) {
      mm_command_session_say(s, "leave: %s is not a member of %s.", email,
                             fqdn);
      *status = MM_COMMAND_STOP;
      return TRUE;
    }
    if (g_error_matches(local, MM_COMMANDS_ERROR,
                        MM_COMMANDS_ERROR_PENDING)) {
      mm_command_session_say(
          s,
          "%s already has a request to leave %s waiting; no new "
          "confirmation request was sent.",
          email, fqdn);
      return TRUE;
    }
    g_propagate_error(error, g_steal_pointer(&local));
    return FALSE;
  }
  if (outcome.member_changed) {
    mm_command_session_say(s, "%s has left %s.", email, fqdn);
  } else if (outcome.token_owner == MM_TOKEN_OWNER_MODERATOR) {
    mm_command_session_say(
        s, "The request of %s to leave %s waits for a moderator's approval.",
        email, fqdn);
    s->send_response = TRUE;
  } else if (outcome.token_owner == MM_TOKEN_OWNER_SUBSCRIBER) {
    mm_command_session_say(
        s, "A confirmation request to leave %s was sent to %s.", fqdn, email);
  }
  mm_workflow_outcome_clear(&outcome);
  return TRUE;
}

/* ---- confirm ------------------------------------------------------------- */

static void
say_no_match(MmCommandSession *s)
{
  mm_command_session_say(
      s,
      "The confirmation token did not match any request: it was used "
      "already, or it is mistyped.");
  s->send_response = TRUE;
}

/* A held message's token: Mailman's process_held().  The list's moderator
 * password in an Approved header (or first body line) accepts the post;
 * no Approved at all discards it; a wrong password does nothing. */
static gboolean
confirm_held(MmCommandSession *s, gint64 request_id, GError **error)
{
  const MmRule *approved = mm_rules_find("approved");
  gboolean hit = FALSE;
  g_autoptr(GError) local = NULL;
  if (approved == NULL || !approved->check(s->post, &hit, &local))
    return mm_commands_error_from(local, error, "Cannot check Approved");
  gboolean has_approved =
      json_is_true(json_object_get(s->post->meta, "has_approved"));
  if (!hit && has_approved) {
    mm_command_session_say(s, "Invalid Approved: password");
    s->send_response = TRUE;
    return TRUE;
  }
  MmAction action = hit ? MM_ACTION_ACCEPT : MM_ACTION_DISCARD;
  if (!mm_chains_moderate(s->ctx->config, s->ctx->store, s->list, request_id,
                          action, NULL, &local)) {
    if (g_error_matches(local, MM_CHAINS_ERROR, MM_CHAINS_ERROR_NOT_FOUND)) {
      say_no_match(s);
      return TRUE;
    }
    return mm_commands_error_from(local, error, "Cannot moderate");
  }
  mm_command_session_say(s, "The held message was %s.",
                         hit ? "accepted" : "discarded");
  return TRUE;
}

static gboolean
cmd_confirm(MmCommandSession *s, char **args, MmCommandStatus *status,
            GError **error)
{
  /* After a confirm nothing else in the message runs (Mailman). */
  *status = MM_COMMAND_STOP;
  if (args[0] == NULL) {
    mm_command_session_say(s, "confirm: no token given.");
    s->send_response = TRUE;
    return TRUE;
  }
  const char *token = args[0];
  if (g_hash_table_contains(s->confirms, token))
    return TRUE;
  g_hash_table_add(s->confirms, g_strdup(token));

  gint64 request_id = 0;
  g_autofree char *held_list = NULL;
  g_autoptr(GError) local = NULL;
  if (mm_commands_held_token(s->ctx, token, &request_id, &held_list,
                             &local)) {
    if (g_ascii_strcasecmp(held_list, s->list->list_id) != 0) {
      say_no_match(s);
      return TRUE;
    }
    return confirm_held(s, request_id, error);
  }
  if (local != NULL) {
    g_propagate_error(error, g_steal_pointer(&local));
    return FALSE;
  }

  MmWorkflowOutcome outcome = {0};
  if (!mm_commands_workflow_confirm(s->ctx, s->list, token, &outcome,
                                    &local)) {
    if (local->domain != MM_COMMANDS_ERROR)
      return mm_commands_error_from(local, error, "confirm");
    switch ((MmCommandsError)local->code) {
    case MM_COMMANDS_ERROR_NO_TOKEN:
    case MM_COMMANDS_ERROR_WRONG_LIST:
      say_no_match(s);
      return TRUE;
    case MM_COMMANDS_ERROR_EXPIRED:
      mm_command_session_say(
          s,
          "The confirmation token has expired, so nothing was done.  Send "
          "your request again to get a new one.");
      s->send_response = TRUE;
      return TRUE;
    case MM_COMMANDS_ERROR_ALREADY_MEMBER:
    case MM_COMMANDS_ERROR_BANNED:
      mm_command_session_say(s, "%s.", local->message);
      s->send_response = TRUE;
      return TRUE;
    default:
      g_propagate_error(error, g_steal_pointer(&local));
      return FALSE;
    }
  }
  if (outcome.token_owner == MM_TOKEN_OWNER_MODERATOR) {
    mm_command_session_say(
        s, "Confirmed.  The request now waits for a moderator's approval.");
    s->send_response = TRUE;
  } else {
    mm_command_session_say(s, "Confirmed.");
  }
  mm_workflow_outcome_clear(&outcome);
  return TRUE;
}

/* ---- echo, end, help ----------------------------------------------------- */

static gboolean
cmd_echo(MmCommandSession *s, char **args, MmCommandStatus *status,
         GError **error)
{
  *status = MM_COMMAND_CONTINUE;
  g_autofree char *joined = g_strjoinv(" ", args);
  mm_command_session_say(s, "echo %s", joined);
  return TRUE;
}

static gboolean
cmd_end(MmCommandSession *s, char **args, MmCommandStatus *status,
        GError **error)
{
  *status = MM_COMMAND_STOP;
  return TRUE;
}

static gboolean cmd_help(MmCommandSession *s, char **args,
                         MmCommandStatus *status, GError **error);
static gboolean cmd_who(MmCommandSession *s, char **args,
                        MmCommandStatus *status, GError **error);

/* Sorted by name, as help lists them. */
static const MmCommand commands[] = {
    {"confirm", "token", "Confirm a request, or act on a held message.",
     "Confirm a subscription or unsubscription request with the token of\n"
     "its confirmation message.  A moderator can also approve a request\n"
     "waiting for moderation, or act on a held message (with the list's\n"
     "moderator password in an Approved: header to accept it, without one\n"
     "to discard it).",
     cmd_confirm},
    {"echo", "[args]", "Echo back your arguments.", NULL, cmd_echo},
    {"end", "", "Stop processing commands.", NULL, cmd_end},
    {"help", "[command]", "Get help about the email commands.", NULL,
     cmd_help},
    {"join", "[digest=<no|mime|plain>] [address=user@example.com]",
     "Join this mailing list.",
     "You will usually be asked to confirm.  digest= chooses digest\n"
     "delivery (mime or plain) or none (no); without it the list's default\n"
     "applies.  address= subscribes another address than the one you write\n"
     "from; the confirmation goes to that address.",
     cmd_join},
    {"leave", "", "Leave this mailing list.",
     "You may be asked to confirm.", cmd_leave},
    {"stop", "", "An alias for 'end'.", NULL, cmd_end},
    {"subscribe", "[digest=<no|mime|plain>] [address=user@example.com]",
     "An alias for 'join'.", NULL, cmd_join},
    {"unsubscribe", "", "An alias for 'leave'.", NULL, cmd_leave},
    {"who", "[delivery=<enabled|disabled>] [mode=<digest|regular>]",
     "Get a list of the list members.",
     "List the members' names and addresses, when the list lets you see\n"
     "them.  delivery= and mode= keep only the members whose delivery is\n"
     "enabled or disabled, or who get digests or regular mail; the last\n"
     "of each counts.",
     cmd_who},
};

const MmCommand *
mm_commands_find(const char *name)
{
  for (gsize i = 0; name != NULL && i < G_N_ELEMENTS(commands); i++)
    if (g_str_equal(commands[i].name, name))
      return &commands[i];
  return NULL;
}

char *
mm_commands_help(const char *name)
{
  if (name != NULL) {
    const MmCommand *command = mm_commands_find(name);
    if (command == NULL)
      return NULL;
    GString *out = g_string_new(NULL);
    g_string_append_printf(out, "%s %s\n%s\n", command->name,
                           command->arguments, command->summary);
    if (command->description != NULL &&
        !g_str_equal(command->description, command->summary))
      g_string_append_printf(out, "%s\n", command->description);
    return g_string_free(out, FALSE);
  }
  gsize width = 0;
  for (gsize i = 0; i < G_N_ELEMENTS(commands); i++)
    width = MAX(width, strlen(commands[i].name));
  GString *out = g_string_new(NULL);
  for (gsize i = 0; i < G_N_ELEMENTS(commands); i++)
    g_string_append_printf(out, "%-*s - %s\n", (int)width, commands[i].name,
                           commands[i].summary);
  return g_string_free(out, FALSE);
}

static gboolean
cmd_help(MmCommandSession *s, char **args, MmCommandStatus *status,
         GError **error)
{
  *status = MM_COMMAND_CONTINUE;
  if (args[0] != NULL && args[1] != NULL) {
    g_autofree char *joined = g_strjoinv(" ", args);
    mm_command_session_say(s, "help: too many arguments: %s", joined);
    *status = MM_COMMAND_STOP;
    return TRUE;
  }
  g_autofree char *text = mm_commands_help(args[0]);
  if (text == NULL) {
    mm_command_session_say(s, "help: no such command: %s", args[0]);
    *status = MM_COMMAND_STOP;
    return TRUE;
  }
  g_string_append(s->results, text);
  return TRUE;
}

/* ---- who ----------------------------------------------------------------- */

static gboolean
has_role(MmCommandSession *s, MmMemberRole role)
{
  g_autoptr(MmMember) member = mm_store_member_get(
      s->ctx->store, s->list->list_id, s->sender, role, NULL);
  return member != NULL;
}

static gboolean
cmd_who(MmCommandSession *s, char **args, MmCommandStatus *status,
        GError **error)
{
  *status = MM_COMMAND_CONTINUE;
  const char *visibility = mm_list_setting(s->list, "member_roster_visibility");
  gboolean admin = has_role(s, MM_ROLE_OWNER) || has_role(s, MM_ROLE_MODERATOR);
  gboolean allowed = FALSE;
  if (g_strcmp0(visibility, "public") == 0)
    allowed = TRUE;
  else if (g_strcmp0(visibility, "members") == 0)
    allowed = admin || has_role(s, MM_ROLE_MEMBER);
  else
    allowed = admin;
  if (!allowed) {
    mm_command_session_say(s, "You are not allowed to see the members of %s.",
                           s->list->fqdn_listname);
    *status = MM_COMMAND_STOP;
    return TRUE;
  }

  const char *delivery = NULL, *mode = NULL;
  GString *unrecognized = g_string_new(NULL);
  for (char **arg = args; *arg != NULL; arg++) {
    if (g_str_equal(*arg, "delivery=enabled") ||
        g_str_equal(*arg, "delivery=disabled"))
      delivery = *arg + strlen("delivery=");
    else if (g_str_equal(*arg, "mode=digest") ||
             g_str_equal(*arg, "mode=regular"))
      mode = *arg + strlen("mode=");
    else
      g_string_append_printf(unrecognized, "\n%s", *arg);
  }
  if (unrecognized->len > 0) {
    mm_command_session_say(s, "who: unrecognized or invalid argument(s):%s",
                           unrecognized->str);
    g_string_free(unrecognized, TRUE);
    *status = MM_COMMAND_STOP;
    return TRUE;
  }
  g_string_free(unrecognized, TRUE);

  MmRosterQuery query = {.role = MM_ROLE_MEMBER};
  g_autoptr(GError) local = NULL;
  g_autoptr(GPtrArray) members =
      mm_store_roster(s->ctx->store, s->list->list_id, &query, &local);
  if (members == NULL)
    return mm_commands_error_from(local, error, "Cannot read the members");
  mm_command_session_say(s, "Members of the %s mailing list:",
                         s->list->fqdn_listname);
  for (guint i = 0; i < members->len; i++) {
    const MmMember *member = members->pdata[i];
    gboolean enabled = member->delivery_status == MM_STATUS_ENABLED;
    gboolean regular = member->delivery_mode == MM_DELIVERY_REGULAR;
    if (delivery != NULL && enabled != g_str_equal(delivery, "enabled"))
      continue;
    if (mode != NULL && regular != g_str_equal(mode, "regular"))
      continue;
    g_autofree char *shown =
        mm_commands_format_address(member->display_name, member->email);
    mm_command_session_say(s, "    %s", shown);
  }
  return TRUE;
}
