/* Email commands and the membership workflows behind them (Mailman 3's
 * mailman/runners/command.py, mailman/commands/eml_*.py,
 * mailman/app/subscriptions.py, app/membership.py, app/notifications.py).
 *
 * A message to a list's -request, -join, -leave or -confirm address is a
 * small script: commands in the Subject and the first lines of the first
 * text/plain part, or one command implied by the address.  Each command
 * runs once, in order, until one ends the script; one reply summarises
 * them all.  Joining and leaving run Mailman's subscription and
 * unsubscription workflows: sanity checks, address verification, the
 * subscriber's confirmation and a moderator's approval as the list's
 * policies ask, each wait saved under a fresh token (a pending plus a
 * workflowstate row, storage-workflows.h) so a restart resumes it.
 * Notices (confirmation requests, welcome, goodbye, owner notices,
 * moderator requests, rejections, reminders) are built from Mailman's
 * named templates through notice.h and queued in `virgin`.
 *
 * What this module deliberately does not do: deliver anything (the virgin
 * queue and the delivery engine do), or hold posts (the chains do; a
 * "confirm" of a held-message token is handed to mm_chains_moderate()).
 *
 * Invariants: a workflow step that changes the database and the notices it
 * queues run in one transaction, the notices queued before the commit, so
 * a crash leaves either nothing recorded (the request is processed again
 * and its notice may come twice, with the first token dead) or everything;
 * a token confirms at most once (it is deleted in the transaction that
 * acts on it); a member is never added twice (the database refuses it).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <jansson.h>

#include "config.h"
#include "storage.h"

#define MM_COMMANDS_ERROR (mm_commands_error_quark())
GQuark mm_commands_error_quark(void);

typedef enum {
  MM_COMMANDS_ERROR_FAILED,          /* the database or a queue failed;
                                        nothing changed, try again later */
  MM_COMMANDS_ERROR_BUSY,            /* the database stayed locked */
  MM_COMMANDS_ERROR_ALREADY_MEMBER,  /* subscribing a member */
  MM_COMMANDS_ERROR_BANNED,          /* the address is banned */
  MM_COMMANDS_ERROR_INVALID_ADDRESS, /* not an address, or the list's own */
  MM_COMMANDS_ERROR_PENDING,         /* a request for it is waiting already */
  MM_COMMANDS_ERROR_NOT_MEMBER,      /* unsubscribing a non-member */
  MM_COMMANDS_ERROR_NO_TOKEN,        /* unknown or used token */
  MM_COMMANDS_ERROR_EXPIRED,         /* the token's time ran out */
  MM_COMMANDS_ERROR_WRONG_LIST,      /* the token belongs to another list */
  MM_COMMANDS_ERROR_INVALID,         /* an action that does not apply */
} MmCommandsError;

/* What every call needs.  @now_sec is the clock the workflows read: 0 means
 * the real time; tests set it to move time without sleeping.  Borrowed. */
typedef struct {
  const MmConfig *config;
  MmStore *store; /* no transaction may be open (calls make their own) */
  gint64 now_sec;
} MmCommandsContext;

/* ---- Parsing a command message ----------------------------------------- */

/* The command lines of a message, as Mailman's CommandFinder finds them. */
typedef struct {
  /* The lines to run, in order (char*, UTF-8, at most
   * MM_COMMANDS_LINE_MAX bytes each). */
  GPtrArray *lines;
  /* Body lines past email_commands_max_lines that are not blank, quoted or
   * signature (at most MM_COMMANDS_IGNORED_MAX kept) and how many such
   * lines there were in all. */
  GPtrArray *ignored;
  guint ignored_count;
  /* The address implied the command (-join, -leave, -confirm+TOKEN): the
   * Subject and body were not read, and no reply is sent unless a command
   * fails (Mailman's send_response = False). */
  gboolean implicit;
  /* Parts other than the text/plain one read (and its text/html
   * alternative) were skipped. */
  gboolean skipped_parts;
  /* The message had no text/plain part (HTML only, say): its body was not
   * read. */
  gboolean no_text_part;
  /* Quoted lines ("> ...") and the signature (after "-- ") were dropped. */
  guint dropped_quoted;
  gboolean dropped_signature;
} MmCommandScript;

#define MM_COMMANDS_LINE_MAX 1000
#define MM_COMMANDS_IGNORED_MAX 20

void mm_command_script_free(MmCommandScript *script);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmCommandScript, mm_command_script_free)

/* Finds the commands of message @raw sent to subaddress @subaddress
 * ("join", "leave", "confirm", "request"; NULL as "request"):
 *   - "join" and "leave" imply that one command; "confirm" implies
 *     "confirm TOKEN" when @confirm_regexp (Mailman's
 *     verp_confirm_regexp, Python syntax, with a "cookie" group; NULL for
 *     the default) matches the To header, and otherwise reads the message;
 *   - otherwise the RFC 2047-decoded Subject (non-ASCII dropped), then the
 *     first @max_lines lines of the first text/plain part (decoded from
 *     its charset).  Sensible additions to Mailman: quoted lines and
 *     everything after a signature separator ("-- ") are dropped, blank
 *     lines skipped, each line cut at MM_COMMANDS_LINE_MAX bytes, and
 *     only the first MM_COMMANDS_IGNORED_MAX ignored lines are kept for
 *     the reply.  A message without a text/plain part yields the Subject
 *     only.
 * Never fails: garbage yields garbage lines (which become "No such
 * command" results) or none.  Returns a new script (transfer full). */
MmCommandScript *mm_commands_script_parse(GBytes *raw, const char *subaddress,
                                          const char *confirm_regexp,
                                          guint max_lines);

/* Splits command line @line into lower-cased ASCII words (non-ASCII
 * bytes dropped, as Mailman does).  Returns a NULL-terminated vector,
 * empty for a blank line (transfer full). */
char **mm_commands_line_split(const char *line);

/* ---- Running a command message ----------------------------------------- */

/* What became of a command message. */
typedef enum {
  MM_COMMANDS_REPLIED,   /* commands ran; the results reply was queued */
  MM_COMMANDS_QUIET,     /* commands ran; no reply was due (or allowed) */
  MM_COMMANDS_DROPPED,   /* nothing ran: auto-submitted, bulk, from the
                            list itself, or no sender */
} MmCommandsOutcome;

/* Processes command message @raw to @list with queue metadata @meta (its
 * "subaddress" says which address it came to; "lang" the reply's
 * language), as Mailman's CommandRunner._dispose():
 *   - dropped without a word (logged to "vette"): Precedence bulk, junk
 *     or list without "X-Ack: yes"; any Auto-Submitted other than "no",
 *     X-Autoreply / X-Autorespond, the null envelope sender (RFC 3834: an
 *     answer to an automatic message must not act or answer); a sender
 *     that is one of this list's own addresses; no sender at all;
 *   - the commands run (see mm_commands_script_parse());
 *   - one results reply goes to the sender, From the list's -bounces
 *     address, unless the address implied the command and it worked, or
 *     the sender had [mta] max_autoresponses_per_day replies today (at the
 *     limit one "no more today" notice goes instead, then silence).
 * Sets @outcome_out (may be NULL).  FALSE with @error (FAILED or BUSY)
 * when the database or a queue failed: the commands that completed
 * before stay done, so running the message again answers them as
 * repeated requests (no duplicate member, no second confirmation). */
gboolean mm_commands_message_process(const MmCommandsContext *ctx,
                                     const MmList *list, GBytes *raw,
                                     json_t *meta,
                                     MmCommandsOutcome *outcome_out,
                                     GError **error);

/* The help text of the email commands, one line per command (or the
 * syntax and description of @command when not NULL).  Transfer full; NULL
 * for an unknown command. */
char *mm_commands_help(const char *command);

/* ---- Subscription workflows -------------------------------------------- */

/* Mailman's TokenOwner. */
typedef enum {
  MM_TOKEN_OWNER_NO_ONE = 0,
  MM_TOKEN_OWNER_SUBSCRIBER = 1,
  MM_TOKEN_OWNER_MODERATOR = 2,
} MmTokenOwner;

/* Mailman's register() flags.  Zero-initialised means: nothing is
 * pre-anything, the list decides about the welcome message, and the
 * member's delivery mode and status are left to its address and user. */
typedef struct {
  const char *display_name; /* NULL: the address's, if any */
  gboolean pre_verified;
  gboolean pre_confirmed;
  gboolean pre_approved;
  gboolean invitation; /* implies the three above */
  /* 0: the list's send_welcome_message; 1: send; -1: do not. */
  int send_welcome_message;
  MmDeliveryMode delivery_mode;     /* 0: leave unset */
  MmDeliveryStatus delivery_status; /* 0: leave unset */
} MmSubscribeOptions;

/* Where a workflow stopped. */
typedef struct {
  char *token;               /* the token it waits on; NULL when finished */
  MmTokenOwner token_owner;  /* whom it waits for */
  gboolean member_changed;   /* it subscribed or unsubscribed just now */
} MmWorkflowOutcome;

void mm_workflow_outcome_clear(MmWorkflowOutcome *outcome);

/* Starts a subscription of @email to @list (Mailman's
 * SubscriptionManager.register): sanity checks, then verification,
 * confirmation and moderation as the list's subscription_policy and
 * @options ask, sending the confirmation request or the moderators'
 * notice, or subscribing now (with the welcome message and the owners'
 * notice as the list's settings say).  @options may be NULL.  Fills
 * @outcome.  Errors: ALREADY_MEMBER, BANNED, INVALID_ADDRESS (bad
 * address, or one of the list's own), PENDING (a subscription request for
 * @email is waiting: nothing is sent again), FAILED, BUSY. */
gboolean mm_commands_subscription_start(const MmCommandsContext *ctx,
                                        const MmList *list, const char *email,
                                        const MmSubscribeOptions *options,
                                        MmWorkflowOutcome *outcome,
                                        GError **error);

/* Starts an unsubscription of member @email from @list (Mailman's
 * unregister): removes now (goodbye message, owners' notice) or waits for
 * the member's confirmation or a moderator as unsubscription_policy and
 * the flags say.  NOT_MEMBER if @email is no member; PENDING if an
 * unsubscription request is waiting already. */
gboolean mm_commands_unsubscription_start(const MmCommandsContext *ctx,
                                          const MmList *list,
                                          const char *email,
                                          gboolean pre_confirmed,
                                          gboolean pre_approved,
                                          MmWorkflowOutcome *outcome,
                                          GError **error);

/* Resumes the workflow waiting on @token of @list (the subscriber
 * confirmed, or a moderator approved; Mailman's confirm()).  The token
 * is spent: a new one is minted if the workflow has to wait again.
 * Errors: NO_TOKEN (unknown, used, or not a subscription token),
 * EXPIRED, WRONG_LIST, ALREADY_MEMBER / BANNED (the workflow stays as it
 * was), FAILED, BUSY. */
gboolean mm_commands_workflow_confirm(const MmCommandsContext *ctx,
                                      const MmList *list, const char *token,
                                      MmWorkflowOutcome *outcome,
                                      GError **error);

/* A moderator's decision on the request waiting on @token of @list:
 *   MM_ACTION_ACCEPT   as mm_commands_workflow_confirm();
 *   MM_ACTION_REJECT   the requester gets a refusal notice with @reason
 *                      ("[No reason given]" when NULL) and the request is
 *                      dropped;
 *   MM_ACTION_DISCARD  the request is dropped silently;
 *   MM_ACTION_DEFER, MM_ACTION_HOLD  nothing changes.
 * Errors as mm_commands_workflow_confirm(); INVALID for another action. */
gboolean mm_commands_request_decide(const MmCommandsContext *ctx,
                                    const MmList *list, const char *token,
                                    MmAction action, const char *reason,
                                    GError **error);

/* The (un)subscription requests of @list waiting at @ctx's time, oldest
 * first: a GPtrArray of MmWorkflowState (storage-workflows.h; transfer
 * full).  @token_owner: NULL for all, or "subscriber" / "moderator". */
GPtrArray *mm_commands_requests(const MmCommandsContext *ctx,
                                const MmList *list, const char *token_owner,
                                GError **error);

/* Deletes the workflows whose time ran out (with their tokens).  Returns
 * how many, -1 with @error.  For the task runner. */
gint64 mm_commands_requests_evict(const MmCommandsContext *ctx,
                                  GError **error);

/* Mailman's `mailman notify`: counts the requests of @list waiting for a
 * moderator (held posts, subscription and unsubscription requests) into
 * @count_out (may be NULL) and, when there are some and @send, sends its
 * owners and moderators the list:admin:notice:pending summary. */
gboolean mm_commands_pending_reminder(const MmCommandsContext *ctx,
                                      const MmList *list, gboolean send,
                                      guint *count_out, GError **error);

/* Renders notice template @name for @list as a sample addressed to
 * @email (the variables the server would pass, with a made-up token) and,
 * when @send, queues it to @email with the subject the real notice has.
 * Returns the text (transfer full) or NULL with @error (NOT_FOUND in
 * MM_ERROR for a template name nothing defines). */
char *mm_commands_notice_sample(const MmCommandsContext *ctx,
                                const MmList *list, const char *name,
                                const char *email, gboolean send,
                                GError **error);
