/* Internals shared by the files of the handlers module: the context a
 * handler works on, the handler table, and the GMime helpers every
 * handler uses.  Unit tests include this header too.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#define MM_WITH_GMIME
#define MM_WITH_JANSSON
#include "mm-autocleanups.h"

#include <gmime/gmime.h>
#include <jansson.h>

#include "config.h"
#include "handlers.h"
#include "message.h"
#include "storage.h"

/* What a handler tells the pipeline (Mailman's DiscardMessage and
 * RejectMessage exceptions, and any other exception, which shunts). */
typedef enum {
  MM_HANDLER_CONTINUE, /* go on with the next handler */
  MM_HANDLER_DISCARD,  /* stop; the message is dropped (ctx->reason) */
  MM_HANDLER_REJECT,   /* stop; the sender is told why (ctx->reason) */
  MM_HANDLER_FAILED,   /* stop; @error is set, the entry is shunted */
} MmHandlerResult;

/* One message on its way through a pipeline. */
typedef struct {
  const MmConfig *config;
  MmStore *store;
  const char *queue_root;
  const MmDmarcResolver *resolver; /* never NULL inside a run */
  const MmList *list;                 /* borrowed */
  GMimeMessage *message; /* owned; a handler may replace it (dmarc wrap) */
  json_t *meta;          /* owned: Mailman's msgdata */
  const char *pipeline;  /* the pipeline's name */
  char *reason;          /* owned; why a handler discarded or rejected */
  char *message_id;      /* owned; the Message-ID for log lines, or "n/a" */
  const char *entry_id;  /* borrowed; the queue entry for log lines */
} MmHandlerContext;

/* Frees what the context owns (not the list). */
void mm_handler_context_clear(MmHandlerContext *ctx);

typedef MmHandlerResult (*MmHandlerFunc)(MmHandlerContext *ctx,
                                         GError **error);

/* Runs handler @name on @ctx.  An unknown name is a programming error. */
MmHandlerResult mm_handlers_run(const char *name, MmHandlerContext *ctx,
                                GError **error);

/* Set ctx->reason and return DISCARD / REJECT. */
MmHandlerResult mm_handler_discard(MmHandlerContext *ctx, const char *reason);
MmHandlerResult mm_handler_reject(MmHandlerContext *ctx, const char *reason);

/* The handlers, one file each (handlers-NAME.c), named in the table of
 * handlers-pipeline.c. */
MmHandlerResult mm_handlers_validate_authenticity(MmHandlerContext *ctx,
                                                  GError **error);
MmHandlerResult mm_handlers_mime_delete(MmHandlerContext *ctx, GError **error);
MmHandlerResult mm_handlers_tagger(MmHandlerContext *ctx, GError **error);
MmHandlerResult mm_handlers_member_recipients(MmHandlerContext *ctx,
                                              GError **error);
MmHandlerResult mm_handlers_avoid_duplicates(MmHandlerContext *ctx,
                                             GError **error);
MmHandlerResult mm_handlers_cleanse(MmHandlerContext *ctx, GError **error);
MmHandlerResult mm_handlers_cleanse_dkim(MmHandlerContext *ctx,
                                         GError **error);
MmHandlerResult mm_handlers_cook_headers(MmHandlerContext *ctx,
                                         GError **error);
MmHandlerResult mm_handlers_subject_prefix(MmHandlerContext *ctx,
                                           GError **error);
MmHandlerResult mm_handlers_rfc_2369(MmHandlerContext *ctx, GError **error);
MmHandlerResult mm_handlers_to_archive(MmHandlerContext *ctx, GError **error);
MmHandlerResult mm_handlers_to_digest(MmHandlerContext *ctx, GError **error);
MmHandlerResult mm_handlers_to_usenet(MmHandlerContext *ctx, GError **error);
MmHandlerResult mm_handlers_after_delivery(MmHandlerContext *ctx,
                                           GError **error);
MmHandlerResult mm_handlers_acknowledge(MmHandlerContext *ctx, GError **error);
MmHandlerResult mm_handlers_decorate(MmHandlerContext *ctx, GError **error);
MmHandlerResult mm_handlers_dmarc(MmHandlerContext *ctx, GError **error);
MmHandlerResult mm_handlers_to_outgoing(MmHandlerContext *ctx, GError **error);
MmHandlerResult mm_handlers_owner_recipients(MmHandlerContext *ctx,
                                             GError **error);

/* ---- Messages (handlers-message.c) ---------------------------------- */

/* Parses @raw.  Returns the message (transfer full) or NULL with
 * MM_ERROR_INVALID when GMime finds no message in it. */
GMimeMessage *mm_handlers_message_parse(GBytes *raw, GError **error);

/* Serialises @message with LF line endings (transfer full). */
GBytes *mm_handlers_message_bytes(GMimeMessage *message);

/* TRUE if the message has a header @name (any case). */
gboolean mm_handlers_header_has(GMimeMessage *message, const char *name);

/* The first @name header's value, RFC 2047 decoded to UTF-8 and unfolded,
 * or NULL when there is none (transfer full). */
char *mm_handlers_header_get(GMimeMessage *message, const char *name);

/* The first @name header's raw value, unfolded, without the leading and
 * trailing white space, or NULL (transfer full). */
char *mm_handlers_header_get_raw(GMimeMessage *message, const char *name);

/* Removes every @name header; returns how many there were. */
guint mm_handlers_header_remove(GMimeMessage *message, const char *name);

/* Appends "@name: @value" with @value as UTF-8 text that GMime encodes
 * (RFC 2047, in @charset when it can hold the text, else UTF-8; NULL lets
 * GMime choose) and folds; address headers are parsed as address lists. */
void mm_handlers_header_append(GMimeMessage *message, const char *name,
                               const char *value, const char *charset);

/* Appends "@name: @raw_value" exactly (ASCII, already encoded; may hold
 * "\n\t" folds).  For values GMime's formatters would mangle (List-Id's
 * phrase before a non-address, Mailman's ",\n\t" folds). */
void mm_handlers_header_append_raw(GMimeMessage *message, const char *name,
                                   const char *raw_value);

/* The same at the top of the header block. */
void mm_handlers_header_prepend_raw(GMimeMessage *message, const char *name,
                                    const char *raw_value);

/* g_mime_message_set_mime_part() that survives @body being a descendant
 * of the current body (GMime 3.2 reads the old body's headers after
 * releasing it). */
void mm_handlers_message_set_body(GMimeMessage *message, GMimeObject *body);

/* Call after changing the parts of @multipart: a multipart parsed without
 * its closing delimiter gets one again, as Python's generator would write
 * it, so that a part we appended is not left open.
 * XXX: GMime 3.2 has no API for this; we set its write_end_boundary
 * field, which its header marks private. */
void mm_handlers_multipart_changed(GMimeMultipart *multipart);

/* Adds "MIME-Version: 1.0" when the message has none; called after a
 * handler gave the body MIME headers (as Python's set_charset() does). */
void mm_handlers_message_ensure_mime_version(GMimeMessage *message);

/* The addresses of every @name header (To, Cc, ...), groups flattened, in
 * order (transfer full; empty when there are none). */
InternetAddressList *mm_handlers_header_addresses(GMimeMessage *message,
                                                  const char *name);

/* Python's email.utils.formataddr((name, email)) before encoding: "email"
 * alone when @name is empty, else the name quoted where it needs quotes and
 * "<email>".  UTF-8; hand it to mm_handlers_header_append(). */
char *mm_handlers_address_format(const char *name, const char *email);

/* The mailbox address of @address lower-cased, or NULL for a group
 * (transfer full). */
char *mm_handlers_address_email(InternetAddress *address);

/* Mailman's msg.sender: the first valid address (base-address.h rules,
 * lower-cased) in the headers of [mailman] sender_headers (default "from
 * from_ reply-to sender"; "from_", the Unix From line, is gone by the time
 * a message is queued and counts as nothing), or NULL (transfer full). */
char *mm_handlers_message_sender(const MmConfig *config,
                                 GMimeMessage *message);

/* "type/subtype" of @object, lower-case (transfer full).  Objects without
 * a Content-Type are text/plain, as Python says. */
char *mm_handlers_object_type(GMimeObject *object);

/* The decoded content of leaf @part converted from its charset (NULL or
 * @default_charset when it names none) to UTF-8.  NULL with @error when
 * the charset is unknown or the bytes are not valid in it. */
char *mm_handlers_part_get_text(GMimePart *part, const char *default_charset,
                                GError **error);

/* The decoded content bytes of leaf @part (transfer full). */
GBytes *mm_handlers_part_get_bytes(GMimePart *part);

/* Replaces @part's content with @text (UTF-8) encoded in @charset, sets the
 * charset parameter and the transfer encoding Python's email package uses
 * for that charset (7bit for us-ascii, quoted-printable for the
 * iso-8859 family, base64 for the others).  FALSE when @text cannot be
 * represented in @charset (nothing changed then). */
gboolean mm_handlers_part_set_text(GMimePart *part, const char *text,
                                   const char *charset);

/* A new text/plain part holding @text in @charset (or UTF-8 when @charset
 * cannot hold it), with Content-Disposition @disposition when not NULL. */
GMimePart *mm_handlers_text_part_new(const char *text, const char *charset,
                                     const char *disposition);

/* ---- Lists, metadata, queues (handlers-util.c) ---------------------- */

/* The setting @name of the list as text; "" when unset or unknown. */
const char *mm_handlers_list_text(const MmHandlerContext *ctx,
                                  const char *name);
/* Boolean and integer settings (FALSE / 0 when unset or unparsable). */
gboolean mm_handlers_list_bool(const MmHandlerContext *ctx, const char *name);
gint64 mm_handlers_list_int(const MmHandlerContext *ctx, const char *name);

/* List-valued settings that Mailman keeps as lists (filter_types,
 * pass_types, filter_extensions, pass_extensions, topics): one entry a
 * line, blank lines and surrounding white space dropped (storage keeps
 * them as newline-separated text, migration 5).  Returns a NULL-terminated
 * vector (transfer full), never NULL. */
char **mm_handlers_list_strv(const MmList *list, const char *name);

/* The list's description for a header (Mailman's uheader()): a
 * description with a line break is cut there and " [...]" added.
 * Returns a new string. */
char *mm_handlers_list_description_line(const MmHandlerContext *ctx);

/* The charset of language @code ([language.CODE] charset; "us-ascii" for
 * en, "utf-8" for unknown languages).  Borrowed (config) or static. */
const char *mm_handlers_language_charset(const MmConfig *config,
                                         const char *code);

/* The list's charset (its preferred_language's). */
const char *mm_handlers_list_charset(const MmHandlerContext *ctx);

/* Metadata helpers: a true value (Python truthiness of JSON: true,
 * non-zero numbers, non-empty strings, arrays and objects). */
gboolean mm_handlers_meta_true(json_t *meta, const char *key);
/* A string value or NULL.  Borrowed. */
const char *mm_handlers_meta_string(json_t *meta, const char *key);
/* TRUE if the array @key holds the string @value. */
gboolean mm_handlers_meta_array_has(json_t *meta, const char *key,
                                    const char *value);

/* Enqueues @message (NULL: ctx->message) with @meta (NULL: ctx->meta) into
 * queue @queue, with "listid" set to the list's.  Returns FALSE with
 * @error. */
gboolean mm_handlers_enqueue(MmHandlerContext *ctx, const char *queue,
                             GMimeMessage *message, json_t *meta,
                             GError **error);

/* Mailman's mailman.utilities.string.wrap(): fills paragraphs to @column,
 * leaves indented paragraphs as they are.  Returns a new string. */
char *mm_handlers_text_wrap(const char *text, guint column);

/* Python's email.header.make_header(decode_header(@raw)) on one line:
 * the decoded text, with line breaks of folding removed.  Encoded words in
 * charsets iconv does not know are kept as written (Mailman raises there).
 * Sets @unknown_charset_out (may be NULL) when that happened. */
char *mm_handlers_header_decode(const char *raw,
                                gboolean *unknown_charset_out);

/* ---- Notices (handlers-notice.c) ------------------------------------ */

/* A message the server writes (Mailman's UserNotification): From @from,
 * To @to (the header; @recipients, NULL-terminated, are the envelope
 * recipients), Subject @subject, body @text, through mm_notice_send().  With
 * @attachment, the body is multipart/mixed: the text, then @attachment as
 * message/rfc822.  Enqueued to `virgin` with metadata listid, recipients,
 * nodecorate and reduced_list_headers (as Mailman's _enqueue), plus the
 * members of @extra_meta (may be NULL).  FALSE with @error. */
gboolean mm_handlers_notice_send(MmHandlerContext *ctx,
                                 const char *const *recipients,
                                 const char *from, const char *to,
                                 const char *subject, const char *text,
                                 GMimeMessage *attachment, json_t *extra_meta,
                                 GError **error);

/* Mailman's bounce_message(): tells the sender of ctx->message that it was
 * rejected, with @reason and the message attached, From the list's -owner
 * address.  Does nothing when the message has no sender. */
gboolean mm_handlers_notice_reject(MmHandlerContext *ctx, const char *reason,
                                   GError **error);

/* ---- Archivers (handlers-archivers.c) ------------------------------- */

/* One enabled archiver's addresses for this message. */
typedef struct {
  char *name;      /* Mailman's archiver name: "mail-archive", "mhonarc" */
  char *list_url;  /* List-Archive, or NULL */
  char *permalink; /* Archived-At, or NULL */
} MmHandlersArchiver;

void mm_handlers_archiver_free(MmHandlersArchiver *archiver);

/* The archivers enabled in [archiver.*] (enable: yes) with the URLs
 * Mailman's implementations give for @ctx's list and message, by the
 * archiver's class: mail-archive.com, MHonArc, HyperKitty
 * (mailman_hyperkitty.Archiver); others (prototype, unknown plugins) have
 * none.  A GPtrArray of MmHandlersArchiver (transfer full).
 *
 * XXX: Mailman can switch an archiver off per list (ListArchiver rows);
 * storage has no such table, so the site's choice applies to every
 * list, as it does for a list nobody changed. */
GPtrArray *mm_handlers_archivers(const MmHandlerContext *ctx);

/* The mail-archive.com recipient (decorate skips mail to it). */
const char *mm_handlers_mail_archive_recipient(const MmConfig *config);
