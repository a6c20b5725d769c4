/* Templates and notices: the texts the server writes and the messages that
 * carry them.
 *
 * Every message the server generates (held-message notices, rejections,
 * acknowledgements, confirmation requests, welcome and goodbye messages,
 * command replies, bounce notices) is built here from a template and
 * queued in `virgin` with its recipients, as Mailman's UserNotification /
 * OwnerNotification are.  Templates are found by Mailman 3's names and
 * search order, so a site's customised template files keep working.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <jansson.h>

#include "config.h"
#include "storage.h"

/* Loads template @name (Mailman 3's names: "list:member:regular:footer",
 * "list:user:notice:welcome", "list:user:action:subscribe", ...) with
 * Mailman's search order: for each language of @language, the list's
 * preferred_language, [mailman] default_language and "en", the files
 *   $template_dir/lists/<list_id>/<lang>/<name>.txt
 *   $template_dir/lists/<fqdn_listname>/<lang>/<name>.txt (deprecated)
 *   $template_dir/domains/<mail_host>/<lang>/<name>.txt
 *   $template_dir/site/<lang>/<name>.txt
 * then our built-in text (English).  @list and @language may be NULL.
 * Returns the text (transfer full), "" for an empty template, or NULL with
 * MM_ERROR_NOT_FOUND for a name Mailman does not know. */
char *mm_notice_template_load(const MmConfig *config, const MmList *list,
                              const char *name, const char *language,
                              GError **error);

/* The substitutions every template gets (Mailman's expand()): site_email,
 * and with @list: listname, list_id, display_name, short_listname, domain,
 * description, info, request_email, owner_email, language.  A new table
 * (char* -> char*, both owned) to add more to. */
GHashTable *mm_notice_template_variables(const MmConfig *config,
                                         const MmList *list);

/* string.Template(@text).safe_substitute(@variables): "$name" and
 * "${name}" replaced when known, left as written otherwise; "$$" is "$".
 * Returns a new string. */
char *mm_notice_template_expand(const char *text, GHashTable *variables);

/* Load + expand in one step: template @name for @list with the standard
 * variables plus @extra (NULL-terminated name, value pairs; may be NULL).
 * Returns the text (transfer full) or NULL with @error. */
char *mm_notice_render(const MmConfig *config, const MmList *list,
                       const char *name, const char *language,
                       const char *const *extra, GError **error);

/* What a notice is. */
typedef struct {
  const MmList *list;           /* may be NULL for site notices */
  const char *const *recipients; /* envelope recipients, NULL-terminated */
  const char *from;             /* header From (address or "Name <addr>") */
  const char *to;               /* header To; NULL: the recipients */
  const char *subject;          /* UTF-8; encoded as RFC 2047 when needed */
  const char *text;             /* UTF-8 body (text/plain) */
  GBytes *attachment;           /* optional original message, attached as
                                   message/rfc822 */
  GBytes *const *attachments;   /* optional further messages, NULL-terminated,
                                   attached after @attachment */
  const char *in_reply_to;      /* optional Message-ID being answered */
  gboolean no_precedence;       /* leave out "Precedence: bulk" (Mailman
                                   sends confirmation requests and probes
                                   without it) */
  const char *const *extra_headers; /* optional NULL-terminated name, value
                                       pairs (ASCII), e.g. X-No-Archive */
  json_t *extra_meta;           /* optional extra queue metadata (borrowed) */
} MmNotice;

/* Wraps @text to @column columns paragraph by paragraph, as Mailman's
 * wrap(): indented lines are kept as they are.  Returns a new string. */
char *mm_notice_wrap(const char *text, guint column);

/* The notice as a message (Message-ID on the list's host, Date,
 * Precedence: bulk, Auto-Submitted: auto-generated, MIME headers; the
 * attachments after the text in a multipart/mixed).  @recipients may be
 * NULL here; with neither @to nor @recipients there is no To: header.  Returns the bytes (transfer full) or NULL
 * with @error. */
GBytes *mm_notice_message(const MmNotice *notice, GError **error);

/* Builds the message (mm_notice_message()) and enqueues it in `virgin` with
 * metadata listid, recipients, nodecorate and reduced_list_headers (plus
 * @extra_meta), so the virgin pipeline adds the list headers and the
 * delivery engine sends it.  Returns the queue entry id (transfer full) or
 * NULL with @error. */
char *mm_notice_send(const MmConfig *config, const MmNotice *notice,
                     GError **error);
