/* Messages as bytes: the header edits made at intake (LMTP, `mailman
 * inject`), header lookup, Message-ID helpers, and the defect check that
 * decides LMTP's "501 Message has defects".
 *
 * A message is raw bytes (GBytes), as the MTA sent it.  These functions
 * never re-serialise a message through a MIME library: doing so changes
 * bytes (folding, quoting, line endings, body encodings), and a list
 * server must pass on what it received.  They edit the header block as
 * text and copy the body byte for byte.
 *
 * The header block, as Python's email parser (Mailman 3) sees it: the lines
 * from the start of the message up to the first empty line ("\n" or
 * "\r\n"), or up to the first line that is not a header field, or up to the
 * end of the data when neither comes.  A header field is a line
 * "Name: value", where Name is one or more printable ASCII characters other
 * than ':' (no spaces), followed by its continuation lines (lines starting
 * with a space or tab).  A first line "From ..." is an mbox envelope line,
 * not a field.  Lines end in LF; a CR before the LF belongs to the line
 * ending.  A bare CR is an ordinary byte (Python also ends lines there;
 * this difference only matters for broken messages).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

/* The length of a Message-ID hash: base32 of a SHA-1, 20 bytes, no padding
 * needed. */
#define MM_MESSAGE_ID_HASH_LEN 32

/* Returns the header edits Mailman 3's LMTP runner makes before queueing
 * (mailman/runners/lmtp.py and mailman/utilities/email.py
 * add_message_hash), applied to @raw:
 *   - a leading mbox "From " line is dropped (Mailman keeps it as the Unix
 *     From, which it never writes out again);
 *   - without a Message-ID field, "Message-ID: <fresh>" is appended (see
 *     mm_message_id_new(), domain @host_for_msgid or, when NULL, this
 *     host's name);
 *   - every Message-ID-Hash and X-Message-ID-Hash field is removed and
 *     both are appended, computed from the first Message-ID as Mailman does
 *     (see mm_message_id_hash());
 *   - "X-MailFrom: @envelope_sender" is appended (existing X-MailFrom
 *     fields stay); @envelope_sender is written verbatim, so the caller
 *     decides what a null sender looks like.
 * Added fields go at the end of the header block, in that order, with the
 * message's own line ending (that of its first line; LF when it has none).
 * Everything else, the body in particular, is copied byte for byte.  When
 * the header block ended at a line that is not a header field (a defect,
 * see mm_message_defects_check()), an empty line is written after the
 * added fields, as Mailman's re-serialisation would.
 *
 * Sets @message_id_out (may be NULL) to the Message-ID, unfolded and
 * trimmed as mm_message_header_get() returns it, or the generated one
 * (transfer full).  Returns the new message (transfer full), or NULL with
 * MM_ERROR_INVALID when @envelope_sender contains CR, LF or NUL or is over
 * 900 bytes, or @host_for_msgid is not usable in a Message-ID. */
GBytes *mm_message_intake_prepare(GBytes *raw, const char *envelope_sender,
                                  const char *host_for_msgid,
                                  char **message_id_out, GError **error);

/* The same edits without copying the body: returns only the new header
 * block (transfer full) and sets *@body_offset_out to where the rest of
 * the message (the separator and the body, unchanged) starts in @raw.  The
 * head followed by that rest of @raw is what mm_message_intake_prepare()
 * returns; LMTP hands both pieces to the queue so that a large message,
 * possibly a file mapping, is never copied onto the heap. */
GBytes *mm_message_intake_prepare_head(GBytes *raw,
                                       const char *envelope_sender,
                                       const char *host_for_msgid,
                                       char **message_id_out,
                                       gsize *body_offset_out, GError **error);

/* The edits of `mailman inject` (mailman/app/inject.py inject_message):
 * as mm_message_intake_prepare() without X-MailFrom, plus a "Date" field
 * (RFC 5322 format, local time with its offset, English names) appended
 * after the hash fields when the message has none.  A leading "From " line
 * is dropped.  Same ownership and errors (only @host_for_msgid can be
 * refused). */
GBytes *mm_message_inject_prepare(GBytes *raw, const char *host_for_msgid,
                                  char **message_id_out, GError **error);

/* Mailman's Message-ID-Hash of the Message-ID field value @message_id, as
 * the header holds it (Python's raw value: leading spaces and tabs and the
 * final line ending removed, inner folding kept).  One pair of surrounding
 * angle brackets is removed when the value both starts with '<' and ends
 * with '>'; otherwise surrounding whitespace is removed (and the brackets
 * stay, as in Mailman).  Then SHA-1 of those bytes (UTF-8 when the value is
 * text; raw bytes are hashed as they are), encoded in base32 (RFC 4648,
 * upper case): MM_MESSAGE_ID_HASH_LEN characters.  Returns a new string. */
char *mm_message_id_hash(const char *message_id);

/* A new Message-ID, "<time.pid.random@host>" with angle brackets, unique
 * across time, processes and hosts (64 random bits).  @host NULL means
 * g_get_host_name().  Returns a new string, or NULL with MM_ERROR_INVALID
 * when @host is empty or holds a space, control character, '<', '>', '@',
 * '"', '(', ')', ',', ';', ':' or '\\'. */
char *mm_message_id_new(const char *host, GError **error);

/* g_mime_init(), once per process, from whichever module needs GMime
 * first; safe to call from every entry point. */
void mm_message_gmime_init(void);

/* Finds the first header field named @name (ASCII case-insensitive) in the
 * header block of @raw.  Returns FALSE when there is none.  Otherwise TRUE,
 * with @value_out (may be NULL) set to the value, unfolded (line breaks
 * removed, the whitespace after them kept), with leading and trailing
 * spaces and tabs removed and NUL bytes dropped (transfer full). */
gboolean mm_message_header_get(GBytes *raw, const char *name,
                               char **value_out);

/* The defect check of Mailman 3's LMTP runner ("501 Message has defects"),
 * from Python's email parser's top-level defects.  Returns TRUE when the
 * message has none.  Otherwise FALSE, with @reason_out (may be NULL) set to
 * a short English reason (transfer full), for the log only.
 *
 * Defects, in the order checked:
 *   - a NUL byte in the header block (our addition: Python accepts it, but
 *     no header consumer downstream can);
 *   - the first line, or the line after the "From " line, is a
 *     continuation line;
 *   - a "From " line other than the first line (stricter than Python,
 *     which also lets it pass as the first body line when it is the last
 *     header line);
 *   - a field with an empty name (a line starting with ':');
 *   - a line in the header block that is neither a field, a continuation
 *     nor empty (the header/body separator is missing);
 *   - the first Content-Type's type is "multipart" and: it has no boundary
 *     parameter; its Content-Transfer-Encoding is not 7bit, 8bit or binary
 *     (compared as Python does: lower-cased, no trimming); no line
 *     "--boundary" precedes the first "--boundary--"; or no close line
 *     "--boundary--" follows.
 * A message without an empty line after its header block is fine when
 * every line is a header field (a message without a body).  Malformed
 * bodies of nested parts, bad base64 and 8-bit bytes in headers are not
 * defects, as in Mailman. */
gboolean mm_message_defects_check(GBytes *raw, char **reason_out);
