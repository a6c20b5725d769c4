/* SMTP reply parser (RFC 5321 4.2): incremental, bounded, one reply at a
 * time so that pipelined replies are matched to their commands in order.
 *
 * It never holds more than one line (MM_SMTP_REPLY_LINE_MAX) plus the lines
 * of the reply in progress (MM_SMTP_REPLY_LINES_MAX), whatever the server
 * sends: a server that streams garbage gets a PROTOCOL error, never our
 * memory.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "delivery-private.h"

#include <string.h>

struct MmSmtpReplyParser {
  char line[MM_SMTP_REPLY_LINE_MAX];
  gsize line_len;
  int code;         /* of the reply in progress, 0 before its first line */
  GPtrArray *lines; /* of the reply in progress */
  gboolean failed;
};

G_DEFINE_QUARK(mm-delivery-error-quark, mm_delivery_error)

void
mm_smtp_reply_free(MmSmtpReply *reply)
{
  if (reply == NULL)
    return;
  g_clear_pointer(&reply->lines, g_ptr_array_unref);
  g_free(reply);
}

char *
mm_smtp_reply_text(const MmSmtpReply *reply)
{
  GString *text = g_string_new(NULL);
  for (guint i = 0; i < reply->lines->len; i++) {
    if (i > 0)
      g_string_append_c(text, ' ');
    g_string_append(text, reply->lines->pdata[i]);
  }
  return g_string_free(text, FALSE);
}

MmSmtpReplyParser *
mm_smtp_reply_parser_new(void)
{
  MmSmtpReplyParser *parser = g_new0(MmSmtpReplyParser, 1);
  parser->lines = g_ptr_array_new_with_free_func(g_free);
  return parser;
}

void
mm_smtp_reply_parser_free(MmSmtpReplyParser *parser)
{
  if (parser == NULL)
    return;
  g_clear_pointer(&parser->lines, g_ptr_array_unref);
  g_free(parser);
}

static gboolean
fail(MmSmtpReplyParser *parser, GError **error, const char *why)
{
  parser->failed = TRUE;
  g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_PROTOCOL,
              "bad SMTP reply: %s", why);
  return FALSE;
}

/* Handles one complete line (without its line end).  Sets *done when it
 * was the last line of a reply. */
static gboolean
take_line(MmSmtpReplyParser *parser, const char *line, gsize len,
          gboolean *done, GError **error)
{
  /* "NNN", "NNN text", "NNN-text"; RFC 5321 4.2: the first digit is 2-5
   * (1yz is not used by SMTP), the second 0-5. */
  if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' ||
      line[1] > '5' || !g_ascii_isdigit(line[2]))
    return fail(parser, error, "a line does not start with a reply code");
  if (len > 3 && line[3] != ' ' && line[3] != '-')
    return fail(parser, error, "no separator after the reply code");
  int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  if (parser->code != 0 && code != parser->code)
    return fail(parser, error, "continuation lines with different codes");
  if (parser->lines->len >= MM_SMTP_REPLY_LINES_MAX)
    return fail(parser, error, "too many lines in one reply");

  parser->code = code;
  /* The text keeps everything after the separator; a NUL byte would cut
   * it short when it is used as a C string, so it becomes a space. */
  gsize text_len = len > 4 ? len - 4 : 0;
  char *text = g_malloc(text_len + 1);
  for (gsize i = 0; i < text_len; i++)
    text[i] = line[4 + i] == '\0' ? ' ' : line[4 + i];
  text[text_len] = '\0';
  g_ptr_array_add(parser->lines, text);
  *done = len == 3 || line[3] == ' ';
  return TRUE;
}

gssize
mm_smtp_reply_parser_feed(MmSmtpReplyParser *parser, const char *data,
                          gsize len, MmSmtpReply **reply_out, GError **error)
{
  *reply_out = NULL;
  if (parser->failed) {
    fail(parser, error, "parser used after an error");
    return -1;
  }

  gsize used = 0;
  while (used < len) {
    const char *start = data + used;
    const char *nl = memchr(start, '\n', len - used);
    gsize take = nl ? (gsize)(nl - start) + 1 : len - used;

    /* The bound counts the line end too, so that a line of exactly
     * MM_SMTP_REPLY_LINE_MAX bytes with its CRLF fits. */
    if (parser->line_len + take > MM_SMTP_REPLY_LINE_MAX) {
      fail(parser, error, "a reply line is too long");
      return -1;
    }
    memcpy(parser->line + parser->line_len, start, take);
    parser->line_len += take;
    used += take;
    if (nl == NULL)
      break;

    gsize line_len = parser->line_len - 1;
    if (line_len > 0 && parser->line[line_len - 1] == '\r')
      line_len--;
    gboolean done = FALSE;
    if (!take_line(parser, parser->line, line_len, &done, error))
      return -1;
    parser->line_len = 0;
    if (done) {
      MmSmtpReply *reply = g_new0(MmSmtpReply, 1);
      reply->code = parser->code;
      reply->lines = g_steal_pointer(&parser->lines);
      parser->lines = g_ptr_array_new_with_free_func(g_free);
      parser->code = 0;
      *reply_out = reply;
      break;
    }
  }
  return (gssize)used;
}
