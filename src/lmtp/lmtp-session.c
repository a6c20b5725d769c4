/* One LMTP connection: a state machine driven by poll events.
 *
 * Owns its socket, its input and output buffers, the command parser and
 * the open transaction (sender, accepted recipients, DATA reader); one
 * session_free() tears them down in reverse.  A session never blocks: it
 * reads at most one 64 KiB chunk per event, handles every complete command
 * in the buffer in order (RFC 2920 pipelining), and writes what the socket
 * takes.  After the final dot the message goes to the server's commit
 * threads (mm_lmtp_server_deliver()); the session handles nothing more
 * until mm_lmtp_session_delivered() brings the replies back, so replies
 * stay in command order while other sessions go on.
 *
 * Bounds (STYLE.md 6): a command line of MM_LMTP_COMMAND_LINE_MAX; DATA
 * kept up to the size limit; unread input and unsent output each capped
 * (past OUTPUT_HIGH_WATER no more commands are handled until the client
 * reads its replies, so a client that pipelines without reading cannot
 * make us buffer without end); an idle timeout per read or write; a
 * whole-session deadline; a count of bad commands.
 *
 * A session that ends (QUIT, EOF, error, timeout) is marked dead, its
 * source destroyed, and freed from an idle callback, never inside its own
 * dispatch.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "lmtp-private.h"

#include "base-log.h"

#include <string.h>
#include <unistd.h>

#define READ_CHUNK (64 * 1024)
/* Unprocessed input above which we stop reading (only reached while
 * replies are not being read by the client). */
#define INPUT_HIGH_WATER (64 * 1024)
/* Pending output above which we stop handling commands. */
#define OUTPUT_HIGH_WATER (64 * 1024)
/* How much of a message a session keeps on the heap while it arrives; the
 * rest goes to an anonymous spool file (lmtp-data.c).  Most list mail is
 * smaller, so the file is the exception. */
#define DATA_MEMORY_MAX (1024 * 1024)
/* After deciding to close, how long the last reply may take to leave. */
#define CLOSE_GRACE_USEC (10 * G_USEC_PER_SEC)

typedef struct {
  char *mail_from;          /* "" for the null path */
  GPtrArray *recipients;    /* MmLmtpRecipient*, owned */
  MmLmtpDataReader *data;   /* non-NULL between 354 and the final dot */
} Transaction;

struct MmLmtpSession {
  MmLmtpServer *server; /* borrowed; outlives every session */
  GMainContext *context;
  char *id;   /* for logs: every line about this connection carries it */
  char *peer; /* printable peer address */
  GSocket *socket;
  GSource *source; /* session_source_funcs: the fd and the timer */
  gpointer fd_tag;
  GIOCondition watched;
  GSource *free_source; /* idle source that frees a dead session */

  GByteArray *in;
  gsize in_pos; /* bytes of @in already handled */
  GByteArray *out;
  gsize out_pos; /* bytes of @out already sent */

  MmLmtpCommandParser *parser;
  gboolean lhlo_seen;
  Transaction *txn;
  guint bad_commands;

  gint64 started_usec;
  gint64 last_io_usec;
  gint64 close_by_usec; /* set when closing */
  gboolean eof;
  gboolean closing; /* no more input handled; close once output is sent */
  /* Between the final dot and mm_lmtp_session_delivered(): input waits,
   * the timers are off (the wait is ours, not the client's), and the
   * session is not freed even if its connection breaks. */
  gboolean committing;
  gboolean dead;
  guint messages;
};

typedef struct {
  GSource base;
  MmLmtpSession *session;
} SessionSource;

static void session_kill(MmLmtpSession *session);

static void
transaction_free(Transaction *txn)
{
  if (txn == NULL)
    return;
  g_clear_pointer(&txn->data, mm_lmtp_data_reader_free);
  g_clear_pointer(&txn->recipients, g_ptr_array_unref);
  g_free(txn->mail_from);
  g_free(txn);
}

static void
session_reset_transaction(MmLmtpSession *session)
{
  g_clear_pointer(&session->txn, transaction_free);
}

/* ---- Output ----------------------------------------------------------- */

static gsize
output_pending(const MmLmtpSession *session)
{
  return session->out->len - session->out_pos;
}

static void
send_line(MmLmtpSession *session, const char *text)
{
  g_byte_array_append(session->out, (const guint8 *)text, strlen(text));
  g_byte_array_append(session->out, (const guint8 *)"\r\n", 2);
}

static void
send_reply(MmLmtpSession *session, MmLmtpReply reply)
{
  send_line(session, mm_lmtp_reply_text(reply));
}

/* Sends a 421 and stops handling input (RFC 5321 3.8). */
static void
send_closing(MmLmtpSession *session, MmLmtpReply reply)
{
  send_reply(session, reply);
  session->closing = TRUE;
  session->close_by_usec = g_get_monotonic_time() + CLOSE_GRACE_USEC;
}

/* Writes what the socket takes.  Returns FALSE if the connection broke. */
static gboolean
flush_output(MmLmtpSession *session)
{
  while (output_pending(session) > 0) {
    g_autoptr(GError) error = NULL;
    gssize n = g_socket_send(session->socket,
                             (const char *)session->out->data + session->out_pos,
                             output_pending(session), NULL, &error);
    if (n < 0) {
      if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        return TRUE;
      mm_log_debug("smtp", "LMTP %s: write failed: %s", session->id,
                   error->message);
      return FALSE;
    }
    session->out_pos += (gsize)n;
    session->last_io_usec = g_get_monotonic_time();
  }
  g_byte_array_set_size(session->out, 0);
  session->out_pos = 0;
  return TRUE;
}

/* ---- Commands --------------------------------------------------------- */

/* A protocol error by the client.  Past the limit the session ends with
 * 421 instead of the reply (Postfix's smtpd_hard_error_limit idea): a
 * client that keeps sending garbage is not an MTA we can talk to. */
static void
bad_command(MmLmtpSession *session, MmLmtpReply reply)
{
  session->bad_commands++;
  if (session->bad_commands > mm_lmtp_server_limits(session->server)->max_bad_commands) {
    mm_log_warning("smtp", "LMTP %s: too many errors from %s, closing",
                   session->id, session->peer);
    send_closing(session, MM_LMTP_REPLY_TOO_MANY_ERRORS);
    return;
  }
  send_reply(session, reply);
}

static void
handle_lhlo(MmLmtpSession *session)
{
  const MmLmtpLimits *limits = mm_lmtp_server_limits(session->server);
  g_autofree char *first =
      g_strdup_printf("250-%s", mm_lmtp_server_hostname(session->server));
  g_autofree char *size =
      g_strdup_printf("250 SIZE %" G_GINT64_FORMAT, limits->max_message_size);

  /* LHLO resets the transaction, like EHLO (RFC 5321 4.1.4). */
  session_reset_transaction(session);
  session->lhlo_seen = TRUE;
  send_line(session, first);
  send_line(session, "250-PIPELINING");
  send_line(session, "250-ENHANCEDSTATUSCODES");
  send_line(session, "250-8BITMIME");
  send_line(session, size);
}

static void
handle_mail(MmLmtpSession *session, const MmLmtpCommand *command)
{
  const MmLmtpLimits *limits = mm_lmtp_server_limits(session->server);

  if (!session->lhlo_seen) {
    bad_command(session, MM_LMTP_REPLY_SEQ_LHLO_FIRST);
    return;
  }
  if (session->txn != NULL) {
    bad_command(session, MM_LMTP_REPLY_SEQ_NESTED_MAIL);
    return;
  }
  gboolean size_too_big = FALSE;
  guint64 declared_size = 0;
  for (guint i = 0; i < command->params->len; i++) {
    const MmLmtpParam *param = g_ptr_array_index(command->params, i);
    if (strcmp(param->name, "SIZE") == 0) {
      /* RFC 1870: SIZE=digits.  More than 18 digits cannot be a size we
       * accept and would overflow. */
      guint64 size = 0;
      if (param->value == NULL || strlen(param->value) > 18 ||
          !g_ascii_string_to_unsigned(param->value, 10, 0, G_MAXUINT64, &size,
                                      NULL)) {
        bad_command(session, MM_LMTP_REPLY_BAD_PARAM);
        return;
      }
      if (size > (guint64)limits->max_message_size)
        size_too_big = TRUE;
      declared_size = size;
    } else if (strcmp(param->name, "BODY") == 0) {
      /* RFC 6152: the content is stored as received either way. */
      if (param->value == NULL ||
          (g_ascii_strcasecmp(param->value, "7BIT") != 0 &&
           g_ascii_strcasecmp(param->value, "8BITMIME") != 0)) {
        bad_command(session, MM_LMTP_REPLY_BAD_PARAM);
        return;
      }
    } else {
      bad_command(session, MM_LMTP_REPLY_UNKNOWN_PARAM);
      return;
    }
  }
  if (size_too_big) {
    /* Not the client's mistake: it told us in advance, as it should. */
    send_reply(session, MM_LMTP_REPLY_SIZE_EXCEEDED);
    return;
  }
  g_autoptr(GError) space_error = NULL;
  if (!mm_lmtp_server_check_space(session->server, declared_size,
                                  &space_error)) {
    mm_log_warning("error", "LMTP %s: MAIL refused: %s", session->id,
                   space_error->message);
    send_reply(session, mm_lmtp_reply_for_enqueue_error(space_error));
    return;
  }
  session->txn = g_new0(Transaction, 1);
  session->txn->mail_from = g_strdup(command->path);
  session->txn->recipients =
      g_ptr_array_new_with_free_func((GDestroyNotify)mm_lmtp_recipient_free);
  send_reply(session, MM_LMTP_REPLY_SENDER_OK);
}

static void
handle_rcpt(MmLmtpSession *session, const MmLmtpCommand *command)
{
  const MmLmtpLimits *limits = mm_lmtp_server_limits(session->server);

  if (session->txn == NULL) {
    bad_command(session, session->lhlo_seen ? MM_LMTP_REPLY_SEQ_NEED_MAIL
                                            : MM_LMTP_REPLY_SEQ_LHLO_FIRST);
    return;
  }
  if (command->params->len > 0) {
    /* We advertise no extension with RCPT parameters (no DSN). */
    bad_command(session, MM_LMTP_REPLY_UNKNOWN_PARAM);
    return;
  }
  if (session->txn->recipients->len >= limits->max_recipients) {
    /* RFC 5321 4.5.3.1.8: the client sends the rest in a later
     * transaction. */
    send_reply(session, MM_LMTP_REPLY_TOO_MANY_RCPTS);
    return;
  }
  g_autoptr(GError) error = NULL;
  MmLmtpRecipient *recipient =
      mm_lmtp_server_resolve(session->server, command->path, &error);
  if (recipient == NULL) {
    MmLmtpReply reply = mm_lmtp_reply_for_recipient_error(error);
    g_autofree char *escaped = mm_log_escape(command->path, -1);
    if (reply == MM_LMTP_REPLY_LOCAL_ERROR)
      mm_log_error("error", "LMTP %s: RCPT <%s>: lookup failed: %s",
                   session->id, escaped, error->message);
    else
      mm_log_info("smtp", "LMTP %s: RCPT <%s> refused: %s", session->id,
                  escaped, error->message);
    send_reply(session, reply);
    return;
  }
  g_ptr_array_add(session->txn->recipients, recipient);
  send_reply(session, MM_LMTP_REPLY_RECIPIENT_OK);
}

static void
handle_data(MmLmtpSession *session)
{
  if (session->txn == NULL) {
    bad_command(session, session->lhlo_seen ? MM_LMTP_REPLY_SEQ_NEED_MAIL
                                            : MM_LMTP_REPLY_SEQ_LHLO_FIRST);
    return;
  }
  if (session->txn->recipients->len == 0) {
    /* RFC 2033 4.2.  Not a bad command: a pipelining client sends DATA
     * before it learns that every RCPT was refused. */
    send_reply(session, MM_LMTP_REPLY_SEQ_NEED_RCPT);
    return;
  }
  const MmLmtpLimits *limits = mm_lmtp_server_limits(session->server);
  session->txn->data = mm_lmtp_data_reader_new(
      (gsize)limits->max_message_size, mm_lmtp_server_spool_dir(session->server),
      DATA_MEMORY_MAX);
  send_reply(session, MM_LMTP_REPLY_START_DATA);
}

/* The final dot: one reply per accepted recipient, in RCPT order, each
 * written only after that recipient's copy is durably queued (RFC 2033
 * 4.2; Mailman answers some failures with one line for all recipients,
 * which desynchronises the client). */
static void
finish_data(MmLmtpSession *session)
{
  Transaction *txn = session->txn;
  MmLmtpDataReader *reader = txn->data;
  guint n_rcpt = txn->recipients->len;
  MmLmtpReply common = MM_LMTP_REPLY_COUNT_;

  if (mm_lmtp_data_reader_line_too_long(reader)) {
    common = MM_LMTP_REPLY_DATA_LINE_TOO_LONG;
    mm_log_info("smtp", "LMTP %s: message refused: line over %d octets",
                session->id, MM_LMTP_TEXT_LINE_MAX);
  } else if (mm_lmtp_data_reader_too_big(reader)) {
    common = MM_LMTP_REPLY_SIZE_EXCEEDED;
    mm_log_info("smtp",
                "LMTP %s: message refused: %" G_GUINT64_FORMAT
                " bytes over the limit",
                session->id, mm_lmtp_data_reader_size(reader));
  }
  g_autoptr(GBytes) raw = NULL;
  if (common == MM_LMTP_REPLY_COUNT_) {
    g_autoptr(GError) error = NULL;
    raw = mm_lmtp_data_reader_finish(reader, &error);
    if (raw == NULL) {
      common = mm_lmtp_reply_for_enqueue_error(error);
      mm_log_error("error", "LMTP %s: message not kept while received: %s",
                   session->id, error->message);
    }
  }
  if (common != MM_LMTP_REPLY_COUNT_) {
    for (guint i = 0; i < n_rcpt; i++)
      send_reply(session, common);
  } else {
    session->committing = TRUE;
    mm_lmtp_server_deliver(session->server, session, session->id, raw,
                           txn->mail_from, txn->recipients);
  }
  session_reset_transaction(session);
}

static void
handle_command(MmLmtpSession *session, const MmLmtpCommand *command)
{
  switch (command->verb) {
  case MM_LMTP_VERB_LHLO:
    handle_lhlo(session);
    break;
  case MM_LMTP_VERB_HELO:
  case MM_LMTP_VERB_EHLO:
    /* RFC 2033 4.1: an LMTP server must not answer HELO/EHLO as SMTP
     * does, so that a misconfigured SMTP client fails visibly. */
    bad_command(session, MM_LMTP_REPLY_NEED_LHLO);
    break;
  case MM_LMTP_VERB_MAIL:
    handle_mail(session, command);
    break;
  case MM_LMTP_VERB_RCPT:
    handle_rcpt(session, command);
    break;
  case MM_LMTP_VERB_DATA:
    handle_data(session);
    break;
  case MM_LMTP_VERB_RSET:
    session_reset_transaction(session);
    send_reply(session, MM_LMTP_REPLY_OK);
    break;
  case MM_LMTP_VERB_NOOP:
    send_reply(session, MM_LMTP_REPLY_OK);
    break;
  case MM_LMTP_VERB_QUIT:
    send_closing(session, MM_LMTP_REPLY_BYE);
    break;
  case MM_LMTP_VERB_VRFY:
    send_reply(session, MM_LMTP_REPLY_VRFY);
    break;
  case MM_LMTP_VERB_HELP:
    send_reply(session, MM_LMTP_REPLY_HELP);
    break;
  case MM_LMTP_VERB_UNKNOWN:
    bad_command(session, MM_LMTP_REPLY_UNKNOWN_COMMAND);
    break;
  }
}

/* Handles every complete command (and DATA content) buffered, in order,
 * until the input runs dry, the session closes, or too much output waits
 * for the client. */
static void
process_input(MmLmtpSession *session)
{
  while (!session->closing && !session->committing &&
         session->in_pos < session->in->len &&
         output_pending(session) < OUTPUT_HIGH_WATER) {
    const guint8 *data = session->in->data + session->in_pos;
    gsize len = session->in->len - session->in_pos;
    gsize consumed = 0;

    if (session->txn != NULL && session->txn->data != NULL) {
      gboolean done =
          mm_lmtp_data_reader_feed(session->txn->data, data, len, &consumed);
      session->in_pos += consumed;
      if (done)
        finish_data(session);
      continue;
    }

    g_autoptr(MmLmtpCommand) command = NULL;
    g_autoptr(GError) error = NULL;
    gboolean complete = mm_lmtp_command_parser_feed(
        session->parser, data, len, &consumed, &command, &error);
    session->in_pos += consumed;
    if (!complete)
      break;
    if (command == NULL) {
      bad_command(session, mm_lmtp_reply_for_command_error(error));
      continue;
    }
    handle_command(session, command);
  }

  /* Reclaim handled input: all of it (the usual case), or once a good
   * part of the buffer is dead. */
  if (session->in_pos == session->in->len) {
    g_byte_array_set_size(session->in, 0);
    session->in_pos = 0;
  } else if (session->in_pos > READ_CHUNK / 2) {
    g_byte_array_remove_range(session->in, 0, session->in_pos);
    session->in_pos = 0;
  }
}

/* ---- Events ----------------------------------------------------------- */

/* Reads one chunk.  Returns FALSE if the connection broke. */
static gboolean
read_input(MmLmtpSession *session)
{
  guint old_len = session->in->len;
  g_autoptr(GError) error = NULL;

  g_byte_array_set_size(session->in, old_len + READ_CHUNK);
  gssize n = g_socket_receive(session->socket,
                              (char *)session->in->data + old_len, READ_CHUNK,
                              NULL, &error);
  g_byte_array_set_size(session->in, old_len + (n > 0 ? (guint)n : 0));
  if (n < 0) {
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
      return TRUE;
    mm_log_debug("smtp", "LMTP %s: read failed: %s", session->id,
                 error->message);
    return FALSE;
  }
  if (n == 0)
    session->eof = TRUE;
  else
    session->last_io_usec = g_get_monotonic_time();
  return TRUE;
}

static gboolean
wants_input(const MmLmtpSession *session)
{
  return !session->closing && !session->eof &&
         session->in->len - session->in_pos < INPUT_HIGH_WATER;
}

static void
update_source(MmLmtpSession *session)
{
  const MmLmtpLimits *limits = mm_lmtp_server_limits(session->server);
  GIOCondition want = 0;

  if (wants_input(session))
    want |= G_IO_IN;
  if (output_pending(session) > 0)
    want |= G_IO_OUT;
  if (want != session->watched) {
    g_source_modify_unix_fd(session->source, session->fd_tag, want);
    session->watched = want;
  }

  gint64 wake;
  if (session->committing) {
    wake = -1; /* mm_lmtp_session_delivered() wakes us */
  } else if (session->closing) {
    wake = session->close_by_usec;
  } else {
    wake = session->last_io_usec + limits->timeout_usec;
    wake = MIN(wake, session->started_usec + limits->session_deadline_usec);
  }
  /* The idle deadline moves later with every read and write.  Re-arming
   * the timer each time would wake the main loop up (an eventfd write and
   * read) for nothing, so a later deadline is left to the check that runs
   * when the armed, earlier one fires; only an earlier, a cleared or an
   * expired one (which would fire again at once) is set now. */
  gint64 armed = g_source_get_ready_time(session->source);
  if (wake == -1 || armed == -1 || wake < armed ||
      armed <= g_source_get_time(session->source))
    g_source_set_ready_time(session->source, wake);
}

/* After input arrived or the replies to a message came back: handles what
 * is buffered, notices the end of the connection and the timers, writes,
 * and closes or re-arms.  Returns FALSE when the session was killed. */
static gboolean
session_settle(MmLmtpSession *session)
{
  const MmLmtpLimits *limits = mm_lmtp_server_limits(session->server);
  gint64 now = g_get_monotonic_time();

  process_input(session);

  if (session->eof && !session->closing) {
    /* The client is gone (or half-closed after its last command, whose
     * replies are still sent). */
    if (session->txn != NULL && session->txn->data != NULL)
      mm_log_info("smtp",
                  "LMTP %s: connection lost during DATA, nothing queued",
                  session->id);
    session->closing = TRUE;
    session->close_by_usec = now + CLOSE_GRACE_USEC;
  }

  if (!session->closing && !session->committing) {
    /* The timer, checked on every wake-up: a client that keeps the
     * socket busy must not postpone the session deadline. */
    if (now >= session->started_usec + limits->session_deadline_usec) {
      mm_log_info("smtp", "LMTP %s: session deadline reached", session->id);
      send_closing(session, MM_LMTP_REPLY_DEADLINE);
    } else if (now >= session->last_io_usec + limits->timeout_usec) {
      mm_log_info("smtp", "LMTP %s: timeout%s", session->id,
                  session->txn != NULL && session->txn->data != NULL
                      ? " during DATA, nothing queued"
                      : "");
      send_closing(session, MM_LMTP_REPLY_TIMEOUT);
    }
  }

  if (!flush_output(session)) {
    session_kill(session);
    return FALSE;
  }
  if (session->closing && !session->committing &&
      (output_pending(session) == 0 || now >= session->close_by_usec)) {
    session_kill(session);
    return FALSE;
  }
  update_source(session);
  return TRUE;
}

static gboolean
session_dispatch(MmLmtpSession *session, GIOCondition revents)
{
  if ((revents & G_IO_OUT) && !flush_output(session))
    goto broken;
  if (revents & (G_IO_IN | G_IO_HUP | G_IO_ERR)) {
    if (wants_input(session)) {
      if (!read_input(session))
        goto broken;
    } else if (revents & (G_IO_HUP | G_IO_ERR)) {
      /* Hung up or reset while we were not reading: nothing we still have
       * to say can reach the client, and poll() would report it again and
       * again. */
      goto broken;
    }
  }
  return session_settle(session) ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;

broken:
  session_kill(session);
  return G_SOURCE_REMOVE;
}

static gboolean
session_source_dispatch(GSource *source, GSourceFunc callback,
                        gpointer user_data)
{
  SessionSource *self = (SessionSource *)source;
  GIOCondition revents =
      g_source_query_unix_fd(source, self->session->fd_tag);
  return session_dispatch(self->session, revents);
}

static GSourceFuncs session_source_funcs = {
    .dispatch = session_source_dispatch,
};

/* ---- Life cycle ------------------------------------------------------- */

static char *
describe_peer(GSocket *socket)
{
  g_autoptr(GSocketAddress) address = g_socket_get_remote_address(socket, NULL);
  if (address != NULL && G_IS_INET_SOCKET_ADDRESS(address)) {
    GInetSocketAddress *inet = G_INET_SOCKET_ADDRESS(address);
    g_autofree char *ip =
        g_inet_address_to_string(g_inet_socket_address_get_address(inet));
    return g_strdup_printf("[%s]:%u", ip, g_inet_socket_address_get_port(inet));
  }
  return g_strdup("local");
}

MmLmtpSession *
mm_lmtp_session_new(MmLmtpServer *server, GSocket *socket,
                    GMainContext *context, guint64 serial)
{
  MmLmtpSession *session = g_new0(MmLmtpSession, 1);
  session->server = server;
  session->context = context;
  session->id = g_strdup_printf("%d.%" G_GUINT64_FORMAT, (int)getpid(), serial);
  session->socket = g_object_ref(socket);
  g_socket_set_blocking(socket, FALSE);
  session->peer = describe_peer(socket);
  session->in = g_byte_array_sized_new(READ_CHUNK);
  session->out = g_byte_array_sized_new(1024);
  session->parser = mm_lmtp_command_parser_new();
  session->started_usec = g_get_monotonic_time();
  session->last_io_usec = session->started_usec;

  session->source = g_source_new(&session_source_funcs, sizeof(SessionSource));
  ((SessionSource *)session->source)->session = session;
  g_source_set_name(session->source, "mm-lmtp-session");
  /* GLib blocks a source while dispatching it unless it may recurse, and
   * blocking one with a file descriptor removes and re-adds its poll
   * record, waking the loop up twice per event for nothing.  The dispatch
   * never iterates the context, so recursion cannot happen. */
  g_source_set_can_recurse(session->source, TRUE);
  session->fd_tag =
      g_source_add_unix_fd(session->source, g_socket_get_fd(socket), 0);
  g_source_attach(session->source, context);

  mm_log_debug("smtp", "LMTP %s: connection from %s", session->id,
               session->peer);
  g_autofree char *greeting = g_strdup_printf(
      "220 %s LMTP server ready", mm_lmtp_server_hostname(server));
  send_line(session, greeting);
  if (!flush_output(session)) {
    session_kill(session);
    return session;
  }
  update_source(session);
  return session;
}

static void
session_free(MmLmtpSession *session)
{
  if (session->source != NULL) {
    g_source_destroy(session->source);
    g_clear_pointer(&session->source, g_source_unref);
  }
  if (session->free_source != NULL) {
    g_source_destroy(session->free_source);
    g_clear_pointer(&session->free_source, g_source_unref);
  }
  session_reset_transaction(session);
  g_clear_pointer(&session->parser, mm_lmtp_command_parser_free);
  g_clear_pointer(&session->in, g_byte_array_unref);
  g_clear_pointer(&session->out, g_byte_array_unref);
  if (session->socket != NULL) {
    g_socket_close(session->socket, NULL);
    g_clear_object(&session->socket);
  }
  g_free(session->peer);
  g_free(session->id);
  g_free(session);
}

static gboolean
session_free_idle(gpointer data)
{
  MmLmtpSession *session = data;
  MmLmtpServer *server = session->server;
  /* This source is being dispatched: let GLib drop it, not session_free. */
  g_clear_pointer(&session->free_source, g_source_unref);
  mm_lmtp_server_session_gone(server, session);
  session_free(session);
  return G_SOURCE_REMOVE;
}

static void
schedule_free(MmLmtpSession *session)
{
  session->free_source = g_idle_source_new();
  g_source_set_callback(session->free_source, session_free_idle, session, NULL);
  g_source_attach(session->free_source, session->context);
}

/* Ends the connection now and frees the session from an idle callback,
 * or, while a commit is in flight, once it is answered. */
static void
session_kill(MmLmtpSession *session)
{
  if (session->dead)
    return;
  session->dead = TRUE;
  mm_log_debug("smtp", "LMTP %s: closed, %u message(s)", session->id,
               session->messages);
  if (session->source != NULL)
    g_source_destroy(session->source);
  if (session->socket != NULL)
    g_socket_close(session->socket, NULL);
  if (!session->committing)
    schedule_free(session);
}

void
mm_lmtp_session_delivered(MmLmtpSession *session, GPtrArray *replies)
{
  g_return_if_fail(session->committing);
  session->committing = FALSE;
  session->messages++;
  if (session->dead) {
    mm_log_info("smtp",
                "LMTP %s: connection lost before the replies to its message "
                "were sent",
                session->id);
    schedule_free(session);
    return;
  }
  for (guint i = 0; i < replies->len; i++)
    send_line(session, g_ptr_array_index(replies, i));
  /* A client that delivers mail is an MTA that works: forgive earlier
   * errors, as Postfix's error limit applies "without delivering mail". */
  session->bad_commands = 0;
  if (mm_lmtp_server_stopping(session->server)) {
    /* The server is going away: the replies, then its 421. */
    flush_output(session);
    return;
  }
  /* The client was waiting for us: its idle time starts now. */
  session->last_io_usec = g_get_monotonic_time();
  session_settle(session);
}

void
mm_lmtp_session_abort(MmLmtpSession *session)
{
  /* The server answers every commit before it aborts sessions. */
  g_warn_if_fail(!session->committing);
  if (!session->dead) {
    /* Best effort: one non-blocking attempt to say why. */
    send_reply(session, MM_LMTP_REPLY_SHUTTING_DOWN);
    flush_output(session);
  }
  session_free(session);
}
