/* Internals shared by the files of the commands module (and its tests).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#define MM_WITH_JANSSON
#include "mm-autocleanups.h"

#include "commands.h"
#include "rules.h"
#include "storage-workflows.h"

/* The loggers this module writes, as Mailman names them. */
#define MM_COMMANDS_LOG_VETTE "vette"
#define MM_COMMANDS_LOG_SUBSCRIBE "subscribe"

/* ---- commands-util.c ----------------------------------------------------- */

/* The clock of @ctx in unix seconds. */
gint64 mm_commands_now(const MmCommandsContext *ctx);

/* [mailman] @key as whole seconds (a duration such as "3d"); @fallback
 * when unset or unreadable. */
gint64 mm_commands_config_seconds(const MmConfig *config, const char *key,
                                  gint64 fallback);
/* [@section] @key as an integer; @fallback when unset or unreadable. */
gint64 mm_commands_config_int(const MmConfig *config, const char *section,
                              const char *key, gint64 fallback);
/* A boolean list setting; @fallback when unset or unreadable. */
gboolean mm_commands_list_flag(const MmList *list, const char *name,
                               gboolean fallback);

/* Sets @error in MM_COMMANDS_ERROR from a lower layer's @cause: BUSY for a
 * busy database, FAILED otherwise, the message prefixed by @context.
 * Always returns FALSE. */
gboolean mm_commands_error_from(GError *cause, GError **error,
                                const char *context);

/* "Name <email>" (Python's formataddr for an ASCII name; the bare address
 * when the name is empty or not ASCII).  Transfer full. */
char *mm_commands_format_address(const char *display_name, const char *email);

/* The address a reply confirming @token goes to: [mta] verp_confirm_format
 * ("$address+$cookie") with address = "<list>-confirm", at the list's
 * domain.  Transfer full. */
char *mm_commands_confirm_address(const MmConfig *config, const MmList *list,
                                  const char *token);

/* TRUE if @email is one of @list's own addresses: the posting address or
 * "<list>-<subaddress>[+anything]@<domain>" for Mailman's subaddresses. */
gboolean mm_commands_is_list_address(const MmList *list, const char *email);

/* Owners and moderators of @list with delivery enabled, each once; the
 * site owner when there are none (so a notice is never lost).  GPtrArray
 * of char* (transfer full), NULL with @error. */
GPtrArray *mm_commands_administrators(const MmCommandsContext *ctx,
                                      const MmList *list, GError **error);

/* The preferred language of @email as a member of @list, else the list's.
 * Transfer full. */
char *mm_commands_language_for(const MmCommandsContext *ctx,
                               const MmList *list, const char *email);

/* ---- commands-notice.c --------------------------------------------------- */

/* Renders template @name for @list in @language (NULL: the list's) with
 * the standard variables and @extra (NULL-terminated name, value pairs).
 * Transfer full; NULL with @error (MM_COMMANDS_ERROR). */
char *mm_commands_render(const MmCommandsContext *ctx, const MmList *list,
                         const char *name, const char *language,
                         const char *const *extra, GError **error);

/* The confirmation request of a workflow: @kind "subscribe",
 * "unsubscribe" or "invite" (template list:user:action:<kind>) to
 * @email for @token. */
gboolean mm_commands_notice_confirmation(const MmCommandsContext *ctx,
                                         const MmList *list, const char *kind,
                                         const char *email, const char *token,
                                         GError **error);
/* list:user:notice:welcome to a new member. */
gboolean mm_commands_notice_welcome(const MmCommandsContext *ctx,
                                    const MmList *list, const char *email,
                                    const char *display_name,
                                    MmDeliveryMode mode, GError **error);
/* list:user:notice:goodbye to a member who left, in @language. */
gboolean mm_commands_notice_goodbye(const MmCommandsContext *ctx,
                                    const MmList *list, const char *email,
                                    const char *language, GError **error);
/* list:admin:notice:subscribe / :unsubscribe to the administrators. */
gboolean mm_commands_notice_admin_change(const MmCommandsContext *ctx,
                                         const MmList *list,
                                         gboolean subscribed,
                                         const char *email,
                                         const char *display_name,
                                         GError **error);
/* list:admin:action:subscribe / :unsubscribe: a request waits for the
 * moderators, who may approve it by replying (token @token). */
gboolean mm_commands_notice_moderator_request(const MmCommandsContext *ctx,
                                              const MmList *list,
                                              gboolean subscription,
                                              const char *email,
                                              const char *display_name,
                                              const char *token,
                                              GError **error);
/* list:user:notice:refuse: the requester's (un)subscription request was
 * rejected for @reason. */
gboolean mm_commands_notice_refuse(const MmCommandsContext *ctx,
                                   const MmList *list, gboolean subscription,
                                   const char *email, const char *reason,
                                   GError **error);
/* list:user:notice:no-more-today to @email after @count replies. */
gboolean mm_commands_notice_no_more_today(const MmCommandsContext *ctx,
                                          const MmList *list,
                                          const char *email, gint64 count,
                                          GError **error);
/* The results of a command message, @text, to @email. */
gboolean mm_commands_notice_results(const MmCommandsContext *ctx,
                                    const MmList *list, const char *email,
                                    const char *text, const char *in_reply_to,
                                    GError **error);

/* ---- commands-workflow.c ------------------------------------------------- */

/* The pending behind @token when it is a held message's (type "held
 * message"): its request id and list-id.  FALSE when @token is no such
 * pending (no error) or the database failed (@error set). */
gboolean mm_commands_held_token(const MmCommandsContext *ctx,
                                const char *token, gint64 *request_id_out,
                                char **list_id_out, GError **error);

/* TRUE if @token names a workflow that existed but whose time ran out
 * (and has not been evicted yet). */
gboolean mm_commands_token_expired(const MmCommandsContext *ctx,
                                   const char *token);

/* ---- commands-builtin.c and commands-message.c --------------------------- */

/* One command message being run (Mailman's Results plus the sets its
 * commands keep on it). */
typedef struct {
  const MmCommandsContext *ctx;
  const MmList *list;
  MmPost *post;          /* the message, for its senders and Approved */
  const char *sender;    /* msg.sender: folded, never empty */
  char *from_name;       /* display name of the From header, "" if none */
  char *from_email;      /* address of the From header, "" if none */
  GString *results;      /* the lines of the "Results" section */
  gboolean send_response;
  GHashTable *joins;     /* addresses joined by this message */
  GHashTable *leaves;    /* addresses that left */
  GHashTable *confirms;  /* tokens confirmed */
} MmCommandSession;

/* A command's verdict (Mailman's ContinueProcessing). */
typedef enum {
  MM_COMMAND_CONTINUE,
  MM_COMMAND_STOP,
} MmCommandStatus;

typedef struct {
  const char *name;
  const char *arguments;   /* argument_description */
  const char *summary;     /* short_description */
  const char *description; /* what "help NAME" adds to the summary; NULL:
                              nothing */
  /* Runs with @args (lower-cased words after the name).  FALSE with
   * @error (FAILED or BUSY) only when the database or a queue failed. */
  gboolean (*run)(MmCommandSession *session, char **args,
                  MmCommandStatus *status_out, GError **error);
} MmCommand;

/* The command called @name (lower-case), or NULL. */
const MmCommand *mm_commands_find(const char *name);

/* Appends a line to the results. */
void mm_command_session_say(MmCommandSession *session, const char *format,
                            ...) G_GNUC_PRINTF(2, 3);
