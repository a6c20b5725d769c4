/* LMTP command lines: splitting the byte stream into lines, and parsing a
 * line into a verb, a path and ESMTP parameters.
 *
 * Pure functions, no I/O, no state beyond the partial line, so that the
 * unit tests can feed every input whole and one byte at a time.  The
 * grammar is RFC 5321 4.1 with the usual leniencies of real servers (blank
 * after "FROM:", a path without angle brackets, a bare LF as terminator),
 * and none that could smuggle bytes into a later stage: control bytes are
 * refused anywhere in a command line, and a line is never held beyond
 * MM_LMTP_COMMAND_LINE_MAX bytes.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "lmtp-private.h"

#include <string.h>

G_DEFINE_QUARK(mm-lmtp-command-error-quark, mm_lmtp_command_error)

static const struct {
  const char *name;
  MmLmtpVerb verb;
} verbs[] = {
    {"LHLO", MM_LMTP_VERB_LHLO}, {"HELO", MM_LMTP_VERB_HELO},
    {"EHLO", MM_LMTP_VERB_EHLO}, {"MAIL", MM_LMTP_VERB_MAIL},
    {"RCPT", MM_LMTP_VERB_RCPT}, {"DATA", MM_LMTP_VERB_DATA},
    {"RSET", MM_LMTP_VERB_RSET}, {"NOOP", MM_LMTP_VERB_NOOP},
    {"QUIT", MM_LMTP_VERB_QUIT}, {"VRFY", MM_LMTP_VERB_VRFY},
    {"HELP", MM_LMTP_VERB_HELP},
};

static void
param_free(gpointer data)
{
  MmLmtpParam *param = data;
  g_free(param->name);
  g_free(param->value);
  g_free(param);
}

void
mm_lmtp_command_free(MmLmtpCommand *command)
{
  if (command == NULL)
    return;
  g_free(command->verb_text);
  g_free(command->args);
  g_free(command->path);
  g_clear_pointer(&command->params, g_ptr_array_unref);
  g_free(command);
}

const char *
mm_lmtp_command_param(const MmLmtpCommand *command, const char *name,
                      gboolean *found_out)
{
  if (found_out != NULL)
    *found_out = FALSE;
  if (command->params == NULL)
    return NULL;
  for (guint i = 0; i < command->params->len; i++) {
    const MmLmtpParam *param = g_ptr_array_index(command->params, i);
    if (strcmp(param->name, name) == 0) {
      if (found_out != NULL)
        *found_out = TRUE;
      return param->value;
    }
  }
  return NULL;
}

static gboolean
is_param_keyword_char(char c, gboolean first)
{
  if (g_ascii_isalnum(c))
    return TRUE;
  return !first && c == '-';
}

/* esmtp-param = esmtp-keyword ["=" esmtp-value]; esmtp-value is any of
 * %d33-60 / %d62-126 (RFC 5321 4.1.2).  Blanks separate parameters. */
static gboolean
parse_params(const char *text, GPtrArray *params, GError **error)
{
  const char *p = text;
  while (*p != '\0') {
    while (*p == ' ')
      p++;
    if (*p == '\0')
      break;
    const char *start = p;
    if (!is_param_keyword_char(*p, TRUE))
      goto bad;
    while (is_param_keyword_char(*p, FALSE))
      p++;
    MmLmtpParam *param = g_new0(MmLmtpParam, 1);
    param->name = g_ascii_strup(start, p - start);
    g_ptr_array_add(params, param);
    if (*p == '=') {
      p++;
      const char *value = p;
      while (*p > 32 && *p < 127 && *p != '=')
        p++;
      if (p == value)
        goto bad;
      param->value = g_strndup(value, p - value);
    }
    if (*p != '\0' && *p != ' ')
      goto bad;
  }
  return TRUE;

bad:
  g_set_error(error, MM_LMTP_COMMAND_ERROR, MM_LMTP_COMMAND_ERROR_BAD_PARAM,
              "malformed ESMTP parameter");
  return FALSE;
}

/* Parses "<path>" or a bare path at @text; sets *@end_out after it.  A
 * source route ("<@a,@b:user@host>", RFC 5321 4.1.2 and C.) is dropped, as
 * every server does. */
static char *
parse_path(const char *text, const char **end_out, int error_code,
           GError **error)
{
  const char *p = text;
  g_autoptr(GString) path = g_string_new(NULL);

  if (*p == '<') {
    gboolean in_quotes = FALSE;
    p++;
    if (*p == '@') {
      /* Source route: skip to the colon that ends it. */
      while (*p != '\0' && *p != ':' && *p != '>' && *p != ' ')
        p++;
      if (*p != ':')
        goto bad;
      p++;
    }
    for (;; p++) {
      char c = *p;
      if (c == '\0')
        goto bad;
      if (in_quotes) {
        if (c == '\\') {
          if (p[1] == '\0')
            goto bad;
          g_string_append_c(path, c);
          c = *++p;
        } else if (c == '"') {
          in_quotes = FALSE;
        }
        g_string_append_c(path, c);
        continue;
      }
      if (c == '>')
        break;
      if (c == '"')
        in_quotes = TRUE;
      else if (c == ' ' || c == '<' || c == '\t')
        goto bad;
      g_string_append_c(path, c);
    }
    p++; /* the '>' */
  } else {
    /* No brackets: one token.  Postfix's smtpd accepts it too
     * (strict_rfc821_envelopes = no). */
    while (*p != '\0' && *p != ' ') {
      if (*p == '<' || *p == '>' || *p == '"')
        goto bad;
      g_string_append_c(path, *p);
      p++;
    }
    if (path->len == 0)
      goto bad;
  }
  if (*p != '\0' && *p != ' ')
    goto bad;
  *end_out = p;
  return g_string_free(g_steal_pointer(&path), FALSE);

bad:
  g_set_error(error, MM_LMTP_COMMAND_ERROR, error_code, "malformed address");
  return NULL;
}

/* "FROM:<path> params" / "TO:<path> params". */
static gboolean
parse_mail_rcpt(MmLmtpCommand *command, const char *keyword, int path_error,
                GError **error)
{
  gsize keyword_len = strlen(keyword);
  const char *args = command->args;
  if (args == NULL || g_ascii_strncasecmp(args, keyword, keyword_len) != 0) {
    g_set_error(error, MM_LMTP_COMMAND_ERROR, MM_LMTP_COMMAND_ERROR_SYNTAX,
                "expected %s", keyword);
    return FALSE;
  }
  const char *p = args + keyword_len;
  while (*p == ' ')
    p++;
  const char *end = NULL;
  command->path = parse_path(p, &end, path_error, error);
  if (command->path == NULL)
    return FALSE;
  command->params = g_ptr_array_new_with_free_func(param_free);
  return parse_params(end, command->params, error);
}

MmLmtpCommand *
mm_lmtp_command_parse(const char *line, gsize len, GError **error)
{
  if (len + 2 > MM_LMTP_COMMAND_LINE_MAX) {
    g_set_error(error, MM_LMTP_COMMAND_ERROR, MM_LMTP_COMMAND_ERROR_TOO_LONG,
                "command line too long");
    return NULL;
  }
  for (gsize i = 0; i < len; i++) {
    guchar c = (guchar)line[i];
    /* TAB is tolerated as a blank inside arguments; every other control
     * byte (NUL, CR, ESC, DEL, ...) is refused. */
    if ((c < 32 && c != '\t') || c == 127) {
      g_set_error(error, MM_LMTP_COMMAND_ERROR,
                  MM_LMTP_COMMAND_ERROR_BAD_BYTES,
                  "control character in command");
      return NULL;
    }
  }

  g_autoptr(MmLmtpCommand) command = g_new0(MmLmtpCommand, 1);
  gsize verb_len = 0;
  while (verb_len < len && line[verb_len] != ' ')
    verb_len++;
  command->verb_text = g_ascii_strup(line, verb_len);
  command->verb = MM_LMTP_VERB_UNKNOWN;
  for (gsize i = 0; i < G_N_ELEMENTS(verbs); i++) {
    if (strcmp(command->verb_text, verbs[i].name) == 0) {
      command->verb = verbs[i].verb;
      break;
    }
  }

  /* Arguments: after the first blank, trailing blanks dropped (some
   * clients add one). */
  if (verb_len < len) {
    gsize start = verb_len + 1;
    gsize end = len;
    while (end > start && (line[end - 1] == ' ' || line[end - 1] == '\t'))
      end--;
    if (end > start)
      command->args = g_strndup(line + start, end - start);
  }

  switch (command->verb) {
  case MM_LMTP_VERB_LHLO:
  case MM_LMTP_VERB_HELO:
  case MM_LMTP_VERB_EHLO:
  case MM_LMTP_VERB_VRFY:
    if (command->args == NULL) {
      g_set_error(error, MM_LMTP_COMMAND_ERROR, MM_LMTP_COMMAND_ERROR_SYNTAX,
                  "%s needs an argument", command->verb_text);
      return NULL;
    }
    break;
  case MM_LMTP_VERB_DATA:
  case MM_LMTP_VERB_RSET:
  case MM_LMTP_VERB_QUIT:
    if (command->args != NULL) {
      g_set_error(error, MM_LMTP_COMMAND_ERROR, MM_LMTP_COMMAND_ERROR_SYNTAX,
                  "%s takes no argument", command->verb_text);
      return NULL;
    }
    break;
  case MM_LMTP_VERB_MAIL:
    if (!parse_mail_rcpt(command, "FROM:",
                         MM_LMTP_COMMAND_ERROR_BAD_SENDER, error))
      return NULL;
    break;
  case MM_LMTP_VERB_RCPT:
    if (!parse_mail_rcpt(command, "TO:",
                         MM_LMTP_COMMAND_ERROR_BAD_RECIPIENT, error))
      return NULL;
    if (command->path[0] == '\0') {
      g_set_error(error, MM_LMTP_COMMAND_ERROR,
                  MM_LMTP_COMMAND_ERROR_BAD_RECIPIENT, "empty recipient");
      return NULL;
    }
    break;
  case MM_LMTP_VERB_NOOP:
  case MM_LMTP_VERB_HELP:
  case MM_LMTP_VERB_UNKNOWN:
    break;
  }
  return g_steal_pointer(&command);
}

/* ---- The splitter ------------------------------------------------------ */

struct MmLmtpCommandParser {
  GByteArray *line;   /* partial line, never over the limit */
  gboolean discarding; /* the line went over the limit: drop to the LF */
};

MmLmtpCommandParser *
mm_lmtp_command_parser_new(void)
{
  MmLmtpCommandParser *parser = g_new0(MmLmtpCommandParser, 1);
  parser->line = g_byte_array_sized_new(256);
  return parser;
}

void
mm_lmtp_command_parser_free(MmLmtpCommandParser *parser)
{
  if (parser == NULL)
    return;
  g_byte_array_unref(parser->line);
  g_free(parser);
}

gboolean
mm_lmtp_command_parser_pending(const MmLmtpCommandParser *parser)
{
  return parser->line->len > 0 || parser->discarding;
}

gboolean
mm_lmtp_command_parser_feed(MmLmtpCommandParser *parser, const guint8 *data,
                            gsize len, gsize *consumed_out,
                            MmLmtpCommand **command_out, GError **error)
{
  *command_out = NULL;
  const guint8 *lf = memchr(data, '\n', len);
  gsize take = lf != NULL ? (gsize)(lf - data) : len;
  *consumed_out = lf != NULL ? take + 1 : len;

  /* The limit counts the line with its CRLF; while the line grows past it,
   * its bytes are dropped rather than kept. */
  if (!parser->discarding) {
    /* Kept: the line without its LF (a CR included), so at most
     * MAX - 1 bytes; mm_lmtp_command_parse() then applies the exact limit
     * to the text without CRLF. */
    if (parser->line->len + take > MM_LMTP_COMMAND_LINE_MAX - 1) {
      parser->discarding = TRUE;
      g_byte_array_set_size(parser->line, 0);
    } else {
      g_byte_array_append(parser->line, data, take);
    }
  }
  if (lf == NULL)
    return FALSE;

  if (parser->discarding) {
    parser->discarding = FALSE;
    g_set_error(error, MM_LMTP_COMMAND_ERROR, MM_LMTP_COMMAND_ERROR_TOO_LONG,
                "command line too long");
    return TRUE;
  }
  gsize line_len = parser->line->len;
  if (line_len > 0 && parser->line->data[line_len - 1] == '\r')
    line_len--;
  *command_out =
      mm_lmtp_command_parse((const char *)parser->line->data, line_len, error);
  g_byte_array_set_size(parser->line, 0);
  return TRUE;
}
