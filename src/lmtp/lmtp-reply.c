/* Every reply the LMTP server sends, and the one mapping from errors to
 * replies (STYLE.md 4): 451 4.3.0 for our own trouble (try later), 452
 * 4.3.1 for a full disk, 550 5.1.1 for an address that names no list,
 * 552 5.3.4 for a message over the size limit, 554 5.6.0 for one the
 * intake check refuses.
 *
 * No reply carries an internal detail (a path, an SQL or errno text): the
 * peer is an MTA that copies our text into bounces; the details go to the
 * error log, written by the caller.
 *
 * Enhanced status codes are RFC 3463's, chosen as Postfix chooses them for
 * the same situations, so that an administrator reading the MTA's log sees
 * familiar codes.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "lmtp-private.h"

#include "base-error.h"
#include "queue.h"
#include "storage.h"

#include <stdlib.h>

static const char *const reply_texts[MM_LMTP_REPLY_COUNT_] = {
    [MM_LMTP_REPLY_OK] = "250 2.0.0 Ok",
    [MM_LMTP_REPLY_SENDER_OK] = "250 2.1.0 Ok",
    [MM_LMTP_REPLY_RECIPIENT_OK] = "250 2.1.5 Ok",
    [MM_LMTP_REPLY_START_DATA] = "354 End data with <CR><LF>.<CR><LF>",
    [MM_LMTP_REPLY_BYE] = "221 2.0.0 Bye",
    [MM_LMTP_REPLY_VRFY] =
        "252 2.5.0 Not verified; list addresses are checked at RCPT",
    [MM_LMTP_REPLY_HELP] =
        "214 2.0.0 Commands: LHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP",
    [MM_LMTP_REPLY_NEED_LHLO] = "500 5.5.1 Error: this is LMTP, send LHLO",
    [MM_LMTP_REPLY_UNKNOWN_COMMAND] = "500 5.5.1 Error: command not recognized",
    [MM_LMTP_REPLY_LINE_TOO_LONG] = "500 5.5.2 Error: command line too long",
    [MM_LMTP_REPLY_BAD_BYTES] = "500 5.5.2 Error: control character in command",
    [MM_LMTP_REPLY_SYNTAX] = "501 5.5.4 Syntax error in parameters or arguments",
    [MM_LMTP_REPLY_BAD_SENDER] = "501 5.1.7 Bad sender address syntax",
    [MM_LMTP_REPLY_BAD_RECIPIENT] = "501 5.1.3 Bad recipient address syntax",
    [MM_LMTP_REPLY_BAD_PARAM] = "501 5.5.4 Malformed parameter",
    [MM_LMTP_REPLY_UNKNOWN_PARAM] = "555 5.5.4 Unsupported parameter",
    [MM_LMTP_REPLY_SEQ_LHLO_FIRST] = "503 5.5.1 Error: send LHLO first",
    [MM_LMTP_REPLY_SEQ_NESTED_MAIL] = "503 5.5.1 Error: nested MAIL command",
    [MM_LMTP_REPLY_SEQ_NEED_MAIL] = "503 5.5.1 Error: need MAIL command",
    [MM_LMTP_REPLY_SEQ_NEED_RCPT] = "503 5.5.1 Error: no valid recipients",
    [MM_LMTP_REPLY_SIZE_EXCEEDED] =
        "552 5.3.4 Message size exceeds fixed maximum message size",
    [MM_LMTP_REPLY_DATA_LINE_TOO_LONG] =
        "500 5.5.2 Line too long (RFC 5321 4.5.3.1.6)",
    [MM_LMTP_REPLY_TOO_MANY_RCPTS] = "452 4.5.3 Error: too many recipients",
    [MM_LMTP_REPLY_NO_SUCH_LIST] = "550 5.1.1 Mailbox unavailable: no such list",
    [MM_LMTP_REPLY_MALFORMED] = "554 5.6.0 Message is not well-formed",
    [MM_LMTP_REPLY_LOCAL_ERROR] =
        "451 4.3.0 Error: local error in processing, try again later",
    [MM_LMTP_REPLY_NO_SPACE] = "452 4.3.1 Insufficient system storage",
    [MM_LMTP_REPLY_TOO_MANY_ERRORS] = "421 4.7.0 Error: too many errors",
    [MM_LMTP_REPLY_TIMEOUT] = "421 4.4.2 Error: timeout exceeded",
    [MM_LMTP_REPLY_DEADLINE] = "421 4.4.2 Error: session time limit exceeded",
    [MM_LMTP_REPLY_TOO_MANY_CONNECTIONS] =
        "421 4.3.2 Too many connections, try again later",
    [MM_LMTP_REPLY_SHUTTING_DOWN] = "421 4.3.2 Service shutting down",
};

const char *
mm_lmtp_reply_text(MmLmtpReply reply)
{
  g_assert(reply < MM_LMTP_REPLY_COUNT_ && reply_texts[reply] != NULL);
  return reply_texts[reply];
}

guint
mm_lmtp_reply_code(MmLmtpReply reply)
{
  return (guint)strtoul(mm_lmtp_reply_text(reply), NULL, 10);
}

MmLmtpReply
mm_lmtp_reply_for_command_error(const GError *error)
{
  if (error->domain != MM_LMTP_COMMAND_ERROR)
    return MM_LMTP_REPLY_SYNTAX;
  switch ((MmLmtpCommandError)error->code) {
  case MM_LMTP_COMMAND_ERROR_TOO_LONG:
    return MM_LMTP_REPLY_LINE_TOO_LONG;
  case MM_LMTP_COMMAND_ERROR_BAD_BYTES:
    return MM_LMTP_REPLY_BAD_BYTES;
  case MM_LMTP_COMMAND_ERROR_SYNTAX:
    return MM_LMTP_REPLY_SYNTAX;
  case MM_LMTP_COMMAND_ERROR_BAD_SENDER:
    return MM_LMTP_REPLY_BAD_SENDER;
  case MM_LMTP_COMMAND_ERROR_BAD_RECIPIENT:
    return MM_LMTP_REPLY_BAD_RECIPIENT;
  case MM_LMTP_COMMAND_ERROR_BAD_PARAM:
    return MM_LMTP_REPLY_BAD_PARAM;
  }
  return MM_LMTP_REPLY_SYNTAX;
}

MmLmtpReply
mm_lmtp_reply_for_recipient_error(const GError *error)
{
  /* An address we cannot parse names no list of ours either: that is
   * permanent, like an unknown list (Mailman answers 550 for both). */
  if (g_error_matches(error, MM_ERROR, MM_ERROR_INVALID) ||
      g_error_matches(error, MM_ERROR, MM_ERROR_NOT_FOUND) ||
      g_error_matches(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND) ||
      g_error_matches(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID))
    return MM_LMTP_REPLY_NO_SUCH_LIST;
  /* The database was busy, missing or broken: the MTA keeps the message
   * and retries, where Mailman would bounce it with 550. */
  return MM_LMTP_REPLY_LOCAL_ERROR;
}

MmLmtpReply
mm_lmtp_reply_for_message_error(const GError *error)
{
  if (g_error_matches(error, MM_ERROR, MM_ERROR_INVALID))
    return MM_LMTP_REPLY_MALFORMED;
  if (g_error_matches(error, MM_ERROR, MM_ERROR_TOO_LARGE))
    return MM_LMTP_REPLY_SIZE_EXCEEDED;
  if (g_error_matches(error, MM_ERROR, MM_ERROR_NO_SPACE))
    return MM_LMTP_REPLY_NO_SPACE;
  return MM_LMTP_REPLY_LOCAL_ERROR;
}

MmLmtpReply
mm_lmtp_reply_for_enqueue_error(const GError *error)
{
  if (g_error_matches(error, MM_QUEUE_ERROR, MM_QUEUE_ERROR_NO_SPACE) ||
      g_error_matches(error, MM_ERROR, MM_ERROR_NO_SPACE))
    return MM_LMTP_REPLY_NO_SPACE;
  return MM_LMTP_REPLY_LOCAL_ERROR;
}
