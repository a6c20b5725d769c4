/* Internals shared by the files of src/lmtp/; nothing outside the module
 * includes this header (unit tests beside the code do).
 *
 *   lmtp-command.c    command-line splitter and parser (pure, no I/O)
 *   lmtp-data.c       DATA reader: dot-unstuffing, end of data, bounds
 *   lmtp-recipient.c  address -> list, subaddress, queue and metadata
 *   lmtp-reply.c      every reply text, and errors -> replies
 *   lmtp-session.c    one connection's state machine
 *   lmtp-server.c     listeners, connection cap, the shared lookups
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <glib.h>
#include <jansson.h>

#include "lmtp.h"

/* ---- Command parser (lmtp-command.c) --------------------------------- */

/* A command line may be at most this long, CRLF included (STYLE.md 6). */
#define MM_LMTP_COMMAND_LINE_MAX 4096

#define MM_LMTP_COMMAND_ERROR (mm_lmtp_command_error_quark())
GQuark mm_lmtp_command_error_quark(void);

typedef enum {
  MM_LMTP_COMMAND_ERROR_TOO_LONG,  /* line over MM_LMTP_COMMAND_LINE_MAX */
  MM_LMTP_COMMAND_ERROR_BAD_BYTES, /* NUL or another control byte */
  MM_LMTP_COMMAND_ERROR_SYNTAX,    /* arguments do not match the verb */
  MM_LMTP_COMMAND_ERROR_BAD_SENDER,    /* the <address> of MAIL */
  MM_LMTP_COMMAND_ERROR_BAD_RECIPIENT, /* the <address> of RCPT */
  MM_LMTP_COMMAND_ERROR_BAD_PARAM, /* a malformed ESMTP parameter */
} MmLmtpCommandError;

typedef enum {
  MM_LMTP_VERB_UNKNOWN,
  MM_LMTP_VERB_LHLO,
  MM_LMTP_VERB_HELO,
  MM_LMTP_VERB_EHLO,
  MM_LMTP_VERB_MAIL,
  MM_LMTP_VERB_RCPT,
  MM_LMTP_VERB_DATA,
  MM_LMTP_VERB_RSET,
  MM_LMTP_VERB_NOOP,
  MM_LMTP_VERB_QUIT,
  MM_LMTP_VERB_VRFY,
  MM_LMTP_VERB_HELP,
} MmLmtpVerb;

typedef struct {
  char *name;  /* upper-cased keyword */
  char *value; /* NULL for a bare keyword */
} MmLmtpParam;

typedef struct {
  MmLmtpVerb verb;
  char *verb_text; /* the verb as sent, upper-cased (for logs) */
  char *args;      /* text after the verb and its blank, NULL if none */
  /* MAIL / RCPT only: the address between < and > with any source route
   * removed ("" for the null path <>), and the ESMTP parameters. */
  char *path;
  GPtrArray *params; /* MmLmtpParam*, owned */
} MmLmtpCommand;

void mm_lmtp_command_free(MmLmtpCommand *command);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmLmtpCommand, mm_lmtp_command_free)

/* The value of parameter @name (upper-case) of @command; *@found_out tells
 * a bare keyword (value NULL) from an absent one.  Borrowed. */
const char *mm_lmtp_command_param(const MmLmtpCommand *command,
                                  const char *name, gboolean *found_out);

/* Parses one command line of @len bytes without its line terminator.
 * An unknown verb is not an error (verb MM_LMTP_VERB_UNKNOWN): the session
 * decides what to answer.  Returns the command (transfer full) or NULL with
 * @error (MM_LMTP_COMMAND_ERROR). */
MmLmtpCommand *mm_lmtp_command_parse(const char *line, gsize len,
                                     GError **error);

/* Incremental splitter: feeds bytes as they arrive, in any chunking, and
 * hands out one parsed command per line (LF or CRLF terminated).  A line
 * over MM_LMTP_COMMAND_LINE_MAX is never held whole: its bytes are dropped
 * up to the next LF, then the line is reported as TOO_LONG. */
typedef struct MmLmtpCommandParser MmLmtpCommandParser;

MmLmtpCommandParser *mm_lmtp_command_parser_new(void);
void mm_lmtp_command_parser_free(MmLmtpCommandParser *parser);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmLmtpCommandParser, mm_lmtp_command_parser_free)

/* Consumes bytes of @data up to and including the end of one line and sets
 * *@consumed_out.  Returns TRUE when a line was completed, with either
 * *@command_out (transfer full) or @error set; FALSE when all of @data was
 * consumed and the line is still incomplete.  Bytes after the line are
 * left for the caller (they may be DATA content). */
gboolean mm_lmtp_command_parser_feed(MmLmtpCommandParser *parser,
                                     const guint8 *data, gsize len,
                                     gsize *consumed_out,
                                     MmLmtpCommand **command_out,
                                     GError **error);

/* TRUE while a partial line is buffered. */
gboolean mm_lmtp_command_parser_pending(const MmLmtpCommandParser *parser);

/* ---- DATA reader (lmtp-data.c) ---------------------------------------- */

/* RFC 5321 4.5.3.1.6: a text line is at most 1000 octets with its CRLF. */
#define MM_LMTP_TEXT_LINE_MAX 1000

typedef struct MmLmtpDataReader MmLmtpDataReader;

/* A reader that keeps at most @max_size bytes of (unstuffed) message: up
 * to @memory_max on the heap, the rest in an anonymous file in
 * @spool_dir (see base-spool.h). */
MmLmtpDataReader *mm_lmtp_data_reader_new(gsize max_size,
                                          const char *spool_dir,
                                          gsize memory_max);
void mm_lmtp_data_reader_free(MmLmtpDataReader *reader);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmLmtpDataReader, mm_lmtp_data_reader_free)

/* Consumes message bytes as sent after "354", in any chunking, and sets
 * *@consumed_out.  Returns TRUE when the terminating "." line was consumed
 * (bytes after it are left for the caller), FALSE when all of @data was
 * consumed.
 *
 * The content is kept with leading dots removed (RFC 5321 4.5.2) and with
 * every line ending written as CRLF: a bare LF ends a line (Postfix sends
 * none, but a bare LF must not lose a line break), a bare CR is content.
 * Only CRLF "." CRLF ends the data (the preceding line must end with CRLF,
 * or be the 354 itself), which rules out SMTP smuggling with "\n.\n"; a
 * "." line after a bare LF is an empty line of content.  NUL and 8-bit
 * bytes are content.  Past @max_size nothing more is kept but the input is
 * still read to its end, so that the session stays in step. */
gboolean mm_lmtp_data_reader_feed(MmLmtpDataReader *reader,
                                  const guint8 *data, gsize len,
                                  gsize *consumed_out);

/* Size of the whole message as received after unstuffing, even past the
 * limit. */
guint64 mm_lmtp_data_reader_size(const MmLmtpDataReader *reader);
/* TRUE if the message was larger than the reader's @max_size. */
gboolean mm_lmtp_data_reader_too_big(const MmLmtpDataReader *reader);
/* TRUE if some line was over MM_LMTP_TEXT_LINE_MAX octets. */
gboolean mm_lmtp_data_reader_line_too_long(const MmLmtpDataReader *reader);
/* The kept content (transfer full; a file mapping when it was spilled);
 * the reader is empty afterwards.  Only meaningful when neither limit was
 * exceeded.  NULL with @error (MM_ERROR, NO_SPACE for a full disk) when
 * the spill file could not be written: the message is lost to us, and the
 * caller answers as for a failed enqueue. */
GBytes *mm_lmtp_data_reader_finish(MmLmtpDataReader *reader, GError **error);

/* ---- Recipients (lmtp-recipient.c) ----------------------------------- */

/* Mailman 3's canonical subaddresses (mailman/runners/lmtp.py). */
typedef enum {
  MM_LMTP_SUB_NONE,
  MM_LMTP_SUB_BOUNCES,
  MM_LMTP_SUB_CONFIRM,
  MM_LMTP_SUB_JOIN,
  MM_LMTP_SUB_LEAVE,
  MM_LMTP_SUB_OWNER,
  MM_LMTP_SUB_REQUEST,
} MmLmtpSubaddress;

/* The canonical name ("bounces", "join", ...; NULL for NONE). */
const char *mm_lmtp_subaddress_name(MmLmtpSubaddress sub);
/* The queue Mailman sends mail for @sub to ("in", "command", "bounces"). */
const char *mm_lmtp_subaddress_queue(MmLmtpSubaddress sub);
/* The subaddress a suffix word names ("subscribe" -> JOIN), case-sensitive
 * (callers lower-case first); NONE for anything else. */
MmLmtpSubaddress mm_lmtp_subaddress_parse(const char *word);

/* The storage-free part of Mailman's split_recipient(): lower-cases
 * @address, splits it at the first "@", cuts the local part at the first
 * @verp_delimiter (NULL or "" for none), then splits it at the last "-"
 * when the suffix is a subaddress word and both sides are non-empty.
 * Refuses control bytes, blanks, non-ASCII, an empty local part or domain
 * (MM_ERROR_INVALID).  All outputs transfer full. */
typedef struct {
  char *local;    /* local part after the VERP cut */
  char *listname; /* local, or the part before "-SUBADDRESS" */
  char *suffix;   /* the subaddress word as written, NULL if none */
  MmLmtpSubaddress subaddress;
  char *domain;
} MmLmtpAddress;

gboolean mm_lmtp_address_split(const char *address, const char *verp_delimiter,
                               MmLmtpAddress *out, GError **error);
void mm_lmtp_address_clear(MmLmtpAddress *address);

/* What resolution needs from the database, as callbacks so that the logic
 * is tested without one.  Both return FALSE with @error only when the
 * lookup itself failed. */
typedef struct {
  /* *@host_out = the mail_host of the domain whose alias_domain is @domain
   * (transfer full), or NULL when no domain has that alias. */
  gboolean (*alias_host)(gpointer data, const char *domain, char **host_out,
                         GError **error);
  /* *@list_id_out = the list-id of list @fqdn ("name@host", folded)
   * (transfer full), or NULL when there is no such list. */
  gboolean (*list_find)(gpointer data, const char *fqdn, char **list_id_out,
                        GError **error);
  gpointer data;
} MmLmtpDirectory;

/* An accepted recipient: where its copy goes. */
typedef struct {
  char *address;  /* as given in RCPT, for logs */
  char *list_id;  /* "name.host" */
  char *fqdn_listname;
  MmLmtpSubaddress subaddress;
  gboolean to_request; /* Mailman sets it for the "request" word only */
} MmLmtpRecipient;

void mm_lmtp_recipient_free(MmLmtpRecipient *recipient);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmLmtpRecipient, mm_lmtp_recipient_free)

/* Mailman's RCPT logic: split (above), map an alias domain to its
 * mail_host, prefer a list literally named "NAME-SUFFIX" over NAME with a
 * subaddress, validate the list name against @listname_chars and look it
 * up.  Returns the recipient (transfer full), or NULL with MM_ERROR_INVALID
 * (not an address we could serve), MM_ERROR_NOT_FOUND (no such list) or
 * whatever error a lookup returned. */
MmLmtpRecipient *mm_lmtp_recipient_resolve(const char *address,
                                           const char *verp_delimiter,
                                           const char *listname_chars,
                                           const MmLmtpDirectory *directory,
                                           GError **error);

/* The queue this recipient's copy goes to.  Borrowed (static). */
const char *mm_lmtp_recipient_queue(const MmLmtpRecipient *recipient);

/* The queue metadata Mailman's LMTP runner gives this recipient's copy:
 * listid, original_size, received_time, and to_list / subaddress /
 * to_request / to_owner / envsender (= @site_owner) by route.  Returns a
 * new JSON object (transfer full). */
json_t *mm_lmtp_recipient_meta(const MmLmtpRecipient *recipient,
                               gint64 original_size,
                               const char *received_time,
                               const char *site_owner);

/* ---- Intake judgement (lmtp-intake.c) --------------------------------- */

/* Mailman's defect check (mm_message_defects_check()) except that a
 * missing closing MIME boundary is accepted.  Returns TRUE to queue @raw;
 * otherwise FALSE with @reason_out (may be NULL; transfer full) for the
 * log. */
gboolean mm_lmtp_message_acceptable(GBytes *raw, char **reason_out);

/* The boundary parameter of Content-Type value @content_type, unquoted
 * (transfer full), or NULL. */
char *mm_lmtp_content_type_boundary(const char *content_type);

/* ---- Replies (lmtp-reply.c) ------------------------------------------ */

/* Every fixed reply the server sends.  Texts live in lmtp-reply.c only. */
typedef enum {
  MM_LMTP_REPLY_OK,              /* 250 2.0.0 Ok */
  MM_LMTP_REPLY_SENDER_OK,       /* 250 2.1.0 */
  MM_LMTP_REPLY_RECIPIENT_OK,    /* 250 2.1.5 */
  MM_LMTP_REPLY_START_DATA,      /* 354 */
  MM_LMTP_REPLY_BYE,             /* 221 2.0.0 */
  MM_LMTP_REPLY_VRFY,            /* 252 2.5.0 */
  MM_LMTP_REPLY_HELP,            /* 214 2.0.0 */
  MM_LMTP_REPLY_NEED_LHLO,       /* 500 5.5.1 for HELO/EHLO */
  MM_LMTP_REPLY_UNKNOWN_COMMAND, /* 500 5.5.1 */
  MM_LMTP_REPLY_LINE_TOO_LONG,   /* 500 5.5.2 command line */
  MM_LMTP_REPLY_BAD_BYTES,       /* 500 5.5.2 control bytes */
  MM_LMTP_REPLY_SYNTAX,          /* 501 5.5.4 */
  MM_LMTP_REPLY_BAD_SENDER,      /* 501 5.1.7 */
  MM_LMTP_REPLY_BAD_RECIPIENT,   /* 501 5.1.3 */
  MM_LMTP_REPLY_BAD_PARAM,       /* 501 5.5.4 */
  MM_LMTP_REPLY_UNKNOWN_PARAM,   /* 555 5.5.4 */
  MM_LMTP_REPLY_SEQ_LHLO_FIRST,  /* 503 5.5.1 */
  MM_LMTP_REPLY_SEQ_NESTED_MAIL, /* 503 5.5.1 */
  MM_LMTP_REPLY_SEQ_NEED_MAIL,   /* 503 5.5.1 */
  MM_LMTP_REPLY_SEQ_NEED_RCPT,   /* 503 5.5.1 */
  MM_LMTP_REPLY_SIZE_EXCEEDED,   /* 552 5.3.4 (MAIL SIZE= and after DATA) */
  MM_LMTP_REPLY_DATA_LINE_TOO_LONG, /* 500 5.5.2 after DATA, per recipient */
  MM_LMTP_REPLY_TOO_MANY_RCPTS,  /* 452 4.5.3 */
  MM_LMTP_REPLY_NO_SUCH_LIST,    /* 550 5.1.1 */
  MM_LMTP_REPLY_MALFORMED,       /* 554 5.6.0 message not well-formed */
  MM_LMTP_REPLY_LOCAL_ERROR,     /* 451 4.3.0 */
  MM_LMTP_REPLY_NO_SPACE,        /* 452 4.3.1 */
  MM_LMTP_REPLY_TOO_MANY_ERRORS, /* 421 4.7.0, then close */
  MM_LMTP_REPLY_TIMEOUT,         /* 421 4.4.2, then close */
  MM_LMTP_REPLY_DEADLINE,        /* 421 4.4.2, then close */
  MM_LMTP_REPLY_TOO_MANY_CONNECTIONS, /* 421 4.3.2, then close */
  MM_LMTP_REPLY_SHUTTING_DOWN,   /* 421 4.3.2, then close */
  MM_LMTP_REPLY_COUNT_,
} MmLmtpReply;

/* "CODE X.Y.Z text" without CRLF.  Borrowed (static). */
const char *mm_lmtp_reply_text(MmLmtpReply reply);

/* The reply code (250, 421, ...) of @reply. */
guint mm_lmtp_reply_code(MmLmtpReply reply);

/* Errors -> replies, the one place this mapping lives:
 * a command parser error; a failed RCPT resolution (no such list, bad
 * address: 550 5.1.1; a lookup failure: 451 4.3.0); a message refused by
 * the intake check (554 5.6.0) or failing otherwise (451 4.3.0); a failed
 * enqueue (disk full 452 4.3.1, else 451 4.3.0). */
MmLmtpReply mm_lmtp_reply_for_command_error(const GError *error);
MmLmtpReply mm_lmtp_reply_for_recipient_error(const GError *error);
MmLmtpReply mm_lmtp_reply_for_message_error(const GError *error);
MmLmtpReply mm_lmtp_reply_for_enqueue_error(const GError *error);

/* ---- Sessions (lmtp-session.c) and what they need of the server ------ */

typedef struct MmLmtpSession MmLmtpSession;

/* Server-side facts and services a session uses (lmtp-server.c). */
const MmLmtpLimits *mm_lmtp_server_limits(const MmLmtpServer *server);
const char *mm_lmtp_server_hostname(const MmLmtpServer *server);
/* Where sessions spill large messages while they arrive: the queue root,
 * so that the spool shares the queue's file system and its free-space
 * check. */
const char *mm_lmtp_server_spool_dir(const MmLmtpServer *server);
/* Resolves a RCPT address with the server's database (opened lazily,
 * read-only; closed after a failure so that the next call reopens it). */
MmLmtpRecipient *mm_lmtp_server_resolve(MmLmtpServer *server,
                                        const char *address, GError **error);
/* Fails with a GError mapped by mm_lmtp_reply_for_enqueue_error() when
 * the queue's file system cannot take @need_bytes more and keep its
 * reserve (answered at MAIL, before the client sends DATA). */
gboolean mm_lmtp_server_check_space(MmLmtpServer *server, guint64 need_bytes,
                                    GError **error);
/* Judges @raw and prepares it on the calling (main) thread, then has one
 * copy per recipient durably enqueued by the server's commit threads, so
 * that the fsyncs of several sessions run at once and share the file
 * system's journal commits.  When every copy is settled (at once for a
 * refused message), mm_lmtp_session_delivered() is called from the
 * server's main loop with one reply per recipient.  @session must not be
 * freed before that call; @recipients is copied. */
void mm_lmtp_server_deliver(MmLmtpServer *server, MmLmtpSession *session,
                            const char *session_id, GBytes *raw,
                            const char *mail_from, GPtrArray *recipients);
/* TRUE once mm_lmtp_server_free() has begun: a session that gets its
 * replies then sends them but handles no further command. */
gboolean mm_lmtp_server_stopping(const MmLmtpServer *server);
/* Called by a session when it has been torn down. */
void mm_lmtp_server_session_gone(MmLmtpServer *server,
                                 MmLmtpSession *session);

/* Takes over @socket (connected, any blocking mode), sends the greeting
 * and attaches the session's source to @context.  The session frees itself
 * when the connection ends and then tells the server. */
MmLmtpSession *mm_lmtp_session_new(MmLmtpServer *server, GSocket *socket,
                                   GMainContext *context, guint64 serial);
/* Ends the session now (server shutdown): tries once to send 421 and
 * frees it without calling back mm_lmtp_server_session_gone(). */
void mm_lmtp_session_abort(MmLmtpSession *session);
/* The end of mm_lmtp_server_deliver(): @replies (borrowed) holds one
 * final reply per recipient, in RCPT order.  The session sends them and
 * goes on with any commands the client pipelined meanwhile; a session
 * whose connection broke in the meantime is freed instead. */
void mm_lmtp_session_delivered(MmLmtpSession *session, GPtrArray *replies);
