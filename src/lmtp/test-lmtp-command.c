/* Unit tests of the LMTP command parser and line splitter: a table of
 * valid and invalid command lines, each fed whole, then through the
 * splitter in one chunk and one byte at a time.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "lmtp-private.h"

#include <string.h>

typedef struct {
  const char *line;
  gssize len; /* -1: strlen */
  MmLmtpVerb verb;
  int error;            /* -1: valid */
  const char *path;     /* expected path, NULL: none */
  const char *params;   /* "NAME=value NAME ..." as parsed, NULL: none */
  const char *args;     /* expected args, NULL: don't care */
} CommandCase;

#define OK -1

static const CommandCase cases[] = {
    {"LHLO mx.example.com", -1, MM_LMTP_VERB_LHLO, OK, NULL, NULL,
     "mx.example.com"},
    {"lhlo x", -1, MM_LMTP_VERB_LHLO, OK, NULL, NULL, "x"},
    {"LHLO [127.0.0.1]  ", -1, MM_LMTP_VERB_LHLO, OK, NULL, NULL,
     "[127.0.0.1]"},
    {"HELO x", -1, MM_LMTP_VERB_HELO, OK, NULL, NULL, "x"},
    {"EHLO x", -1, MM_LMTP_VERB_EHLO, OK, NULL, NULL, "x"},
    {"MAIL FROM:<a@b.example>", -1, MM_LMTP_VERB_MAIL, OK, "a@b.example", "",
     NULL},
    {"MAIL FROM:<>", -1, MM_LMTP_VERB_MAIL, OK, "", "", NULL},
    {"mail from: <a@b.example> SIZE=100 BODY=8BITMIME", -1, MM_LMTP_VERB_MAIL,
     OK, "a@b.example", "SIZE=100 BODY=8BITMIME", NULL},
    {"MAIL FROM:<a@b.example>  size=5   body=7bit ", -1, MM_LMTP_VERB_MAIL, OK,
     "a@b.example", "SIZE=5 BODY=7bit", NULL},
    {"MAIL FROM:<@r1.example,@r2.example:a@b.example>", -1, MM_LMTP_VERB_MAIL,
     OK, "a@b.example", "", NULL},
    {"MAIL FROM:a@b.example", -1, MM_LMTP_VERB_MAIL, OK, "a@b.example", "",
     NULL},
    {"MAIL FROM:<\"odd > local\"@b.example>", -1, MM_LMTP_VERB_MAIL, OK,
     "\"odd > local\"@b.example", "", NULL},
    {"RCPT TO:<list-bounces+x=y.example@example.com>", -1, MM_LMTP_VERB_RCPT,
     OK, "list-bounces+x=y.example@example.com", "", NULL},
    {"RCPT TO:<a@b.example> NOTIFY", -1, MM_LMTP_VERB_RCPT, OK, "a@b.example",
     "NOTIFY", NULL},
    {"RCPT TO:<Postmaster>", -1, MM_LMTP_VERB_RCPT, OK, "Postmaster", "",
     NULL},
    {"DATA", -1, MM_LMTP_VERB_DATA, OK, NULL, NULL, NULL},
    {"data", -1, MM_LMTP_VERB_DATA, OK, NULL, NULL, NULL},
    {"RSET", -1, MM_LMTP_VERB_RSET, OK, NULL, NULL, NULL},
    {"NOOP", -1, MM_LMTP_VERB_NOOP, OK, NULL, NULL, NULL},
    {"NOOP anything at all", -1, MM_LMTP_VERB_NOOP, OK, NULL, NULL,
     "anything at all"},
    {"QUIT", -1, MM_LMTP_VERB_QUIT, OK, NULL, NULL, NULL},
    {"VRFY someone", -1, MM_LMTP_VERB_VRFY, OK, NULL, NULL, "someone"},
    {"HELP", -1, MM_LMTP_VERB_HELP, OK, NULL, NULL, NULL},
    {"HELP MAIL", -1, MM_LMTP_VERB_HELP, OK, NULL, NULL, "MAIL"},
    {"FOO bar", -1, MM_LMTP_VERB_UNKNOWN, OK, NULL, NULL, "bar"},
    {"STARTTLS", -1, MM_LMTP_VERB_UNKNOWN, OK, NULL, NULL, NULL},
    {"", -1, MM_LMTP_VERB_UNKNOWN, OK, NULL, NULL, NULL},
    {"MAIL\tFROM:<a@b.example>", -1, MM_LMTP_VERB_UNKNOWN, OK, NULL, NULL,
     NULL},

    {"LHLO", -1, 0, MM_LMTP_COMMAND_ERROR_SYNTAX, NULL, NULL, NULL},
    {"LHLO   ", -1, 0, MM_LMTP_COMMAND_ERROR_SYNTAX, NULL, NULL, NULL},
    {"VRFY", -1, 0, MM_LMTP_COMMAND_ERROR_SYNTAX, NULL, NULL, NULL},
    {"MAIL", -1, 0, MM_LMTP_COMMAND_ERROR_SYNTAX, NULL, NULL, NULL},
    {"MAIL TO:<a@b.example>", -1, 0, MM_LMTP_COMMAND_ERROR_SYNTAX, NULL, NULL,
     NULL},
    {"RCPT FROM:<a@b.example>", -1, 0, MM_LMTP_COMMAND_ERROR_SYNTAX, NULL,
     NULL, NULL},
    {"MAIL FROM:<a@b.example", -1, 0, MM_LMTP_COMMAND_ERROR_BAD_SENDER, NULL,
     NULL, NULL},
    {"MAIL FROM:<a b@c.example>", -1, 0, MM_LMTP_COMMAND_ERROR_BAD_SENDER,
     NULL, NULL, NULL},
    {"MAIL FROM:", -1, 0, MM_LMTP_COMMAND_ERROR_BAD_SENDER, NULL, NULL, NULL},
    {"MAIL FROM:<@r1.example a@b.example>", -1, 0,
     MM_LMTP_COMMAND_ERROR_BAD_SENDER, NULL, NULL, NULL},
    {"MAIL FROM:<a@<b.example>", -1, 0, MM_LMTP_COMMAND_ERROR_BAD_SENDER,
     NULL, NULL, NULL},
    {"RCPT TO:<>", -1, 0, MM_LMTP_COMMAND_ERROR_BAD_RECIPIENT, NULL, NULL,
     NULL},
    {"RCPT TO:<a@b.example>x", -1, 0, MM_LMTP_COMMAND_ERROR_BAD_RECIPIENT,
     NULL, NULL, NULL},
    {"RCPT TO:<\"unterminated@b.example>", -1, 0,
     MM_LMTP_COMMAND_ERROR_BAD_RECIPIENT, NULL, NULL, NULL},
    {"MAIL FROM:<a@b.example> SIZE=", -1, 0, MM_LMTP_COMMAND_ERROR_BAD_PARAM,
     NULL, NULL, NULL},
    {"MAIL FROM:<a@b.example> =x", -1, 0, MM_LMTP_COMMAND_ERROR_BAD_PARAM,
     NULL, NULL, NULL},
    {"MAIL FROM:<a@b.example> -X=1", -1, 0, MM_LMTP_COMMAND_ERROR_BAD_PARAM,
     NULL, NULL, NULL},
    {"MAIL FROM:<a@b.example> A=b=c", -1, 0, MM_LMTP_COMMAND_ERROR_BAD_PARAM,
     NULL, NULL, NULL},
    {"DATA x", -1, 0, MM_LMTP_COMMAND_ERROR_SYNTAX, NULL, NULL, NULL},
    {"QUIT now", -1, 0, MM_LMTP_COMMAND_ERROR_SYNTAX, NULL, NULL, NULL},
    {"RSET x", -1, 0, MM_LMTP_COMMAND_ERROR_SYNTAX, NULL, NULL, NULL},
    {"NOOP \001", -1, 0, MM_LMTP_COMMAND_ERROR_BAD_BYTES, NULL, NULL, NULL},
    {"MAIL FROM:<a\0b@c.example>", 25, 0, MM_LMTP_COMMAND_ERROR_BAD_BYTES,
     NULL, NULL, NULL},
    {"NOOP \x7f", -1, 0, MM_LMTP_COMMAND_ERROR_BAD_BYTES, NULL, NULL, NULL},
    {"NOOP a\rb", -1, 0, MM_LMTP_COMMAND_ERROR_BAD_BYTES, NULL, NULL, NULL},
};

static char *
params_text(const MmLmtpCommand *command)
{
  GString *text = g_string_new(NULL);
  for (guint i = 0; i < command->params->len; i++) {
    const MmLmtpParam *param = g_ptr_array_index(command->params, i);
    if (i > 0)
      g_string_append_c(text, ' ');
    g_string_append(text, param->name);
    if (param->value != NULL)
      g_string_append_printf(text, "=%s", param->value);
  }
  return g_string_free(text, FALSE);
}

static void
check_result(const CommandCase *c, MmLmtpCommand *command, GError *error)
{
  if (c->error != OK) {
    g_assert_null(command);
    g_assert_error(error, MM_LMTP_COMMAND_ERROR, c->error);
    return;
  }
  g_assert_no_error(error);
  g_assert_nonnull(command);
  g_assert_cmpint(command->verb, ==, c->verb);
  g_assert_cmpstr(command->path, ==, c->path);
  if (c->params != NULL) {
    g_autofree char *text = params_text(command);
    g_assert_cmpstr(text, ==, c->params);
  } else {
    g_assert_null(command->params);
  }
  if (c->args != NULL)
    g_assert_cmpstr(command->args, ==, c->args);
}

static gsize
case_len(const CommandCase *c)
{
  return c->len >= 0 ? (gsize)c->len : strlen(c->line);
}

static void
test_parse_whole(void)
{
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    const CommandCase *c = &cases[i];
    g_test_message("case %zu: %s", i, c->line);
    GError *error = NULL;
    MmLmtpCommand *command = mm_lmtp_command_parse(c->line, case_len(c), &error);
    check_result(c, command, error);
    mm_lmtp_command_free(command);
    g_clear_error(&error);
  }
}

/* Feeds @data in chunks of @step bytes; returns the commands and errors
 * in order (an error as a command with verb_text "ERROR<code>"). */
static GPtrArray *
feed_all(const guint8 *data, gsize len, gsize step, gsize *rest_out)
{
  g_autoptr(MmLmtpCommandParser) parser = mm_lmtp_command_parser_new();
  GPtrArray *results =
      g_ptr_array_new_with_free_func((GDestroyNotify)mm_lmtp_command_free);
  gsize pos = 0;
  while (pos < len) {
    gsize chunk = MIN(step, len - pos);
    gsize consumed = 0;
    MmLmtpCommand *command = NULL;
    GError *error = NULL;
    gboolean complete = mm_lmtp_command_parser_feed(
        parser, data + pos, chunk, &consumed, &command, &error);
    g_assert_cmpuint(consumed, <=, chunk);
    g_assert_cmpuint(consumed, >, 0);
    pos += consumed;
    if (!complete) {
      g_assert_cmpuint(consumed, ==, chunk);
      g_assert_null(command);
      g_assert_no_error(error);
      continue;
    }
    if (command == NULL) {
      g_assert_nonnull(error);
      command = g_new0(MmLmtpCommand, 1);
      command->verb_text = g_strdup_printf("ERROR%d", error->code);
      g_clear_error(&error);
    }
    g_ptr_array_add(results, command);
  }
  if (rest_out != NULL)
    *rest_out = mm_lmtp_command_parser_pending(parser) ? 1 : 0;
  return results;
}

static void
test_parse_fed(void)
{
  static const gsize steps[] = {1, 2, 3, 7, 4096};
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    const CommandCase *c = &cases[i];
    gsize len = case_len(c);
    for (gsize s = 0; s < G_N_ELEMENTS(steps); s++) {
      g_autoptr(GByteArray) input = g_byte_array_new();
      g_byte_array_append(input, (const guint8 *)c->line, len);
      g_byte_array_append(input, (const guint8 *)"\r\n", 2);
      gsize pending = 0;
      g_autoptr(GPtrArray) results =
          feed_all(input->data, input->len, steps[s], &pending);
      g_assert_cmpuint(results->len, ==, 1);
      g_assert_cmpuint(pending, ==, 0);
      MmLmtpCommand *command = g_ptr_array_index(results, 0);
      if (c->error != OK) {
        g_autofree char *want = g_strdup_printf("ERROR%d", c->error);
        g_assert_cmpstr(command->verb_text, ==, want);
      } else {
        check_result(c, command, NULL);
      }
    }
  }
}

static void
test_pipelined_and_rest(void)
{
  static const char input[] =
      "LHLO x\r\nMAIL FROM:<>\nRCPT TO:<l@example.com>\r\nDATA\r\nSubject: x";
  const gsize steps[] = {1, 5, sizeof input};
  for (gsize s = 0; s < G_N_ELEMENTS(steps); s++) {
    g_autoptr(MmLmtpCommandParser) parser = mm_lmtp_command_parser_new();
    const guint8 *data = (const guint8 *)input;
    gsize len = sizeof input - 1;
    gsize pos = 0;
    MmLmtpVerb seen[4];
    guint n = 0;
    /* Stop after DATA, as the session does: the rest is message. */
    while (pos < len && n < 4) {
      gsize consumed = 0;
      g_autoptr(MmLmtpCommand) command = NULL;
      g_autoptr(GError) error = NULL;
      gsize chunk = MIN(steps[s], len - pos);
      if (mm_lmtp_command_parser_feed(parser, data + pos, chunk, &consumed,
                                      &command, &error)) {
        g_assert_no_error(error);
        seen[n++] = command->verb;
      }
      pos += consumed;
    }
    g_assert_cmpuint(n, ==, 4);
    g_assert_cmpint(seen[0], ==, MM_LMTP_VERB_LHLO);
    g_assert_cmpint(seen[1], ==, MM_LMTP_VERB_MAIL);
    g_assert_cmpint(seen[2], ==, MM_LMTP_VERB_RCPT);
    g_assert_cmpint(seen[3], ==, MM_LMTP_VERB_DATA);
    g_assert_cmpstr((const char *)data + pos, ==, "Subject: x");
  }
}

static void
test_line_limit(void)
{
  /* 4094 bytes + CRLF = 4096: the longest line accepted. */
  for (gsize extra = 0; extra <= 1; extra++) {
    gsize text_len = MM_LMTP_COMMAND_LINE_MAX - 2 + extra;
    g_autoptr(GByteArray) input = g_byte_array_new();
    g_byte_array_append(input, (const guint8 *)"NOOP ", 5);
    while (input->len < text_len)
      g_byte_array_append(input, (const guint8 *)"a", 1);
    g_byte_array_append(input, (const guint8 *)"\r\nQUIT\r\n", 8);
    const gsize steps[] = {1, 1000, 100000};
    for (gsize s = 0; s < G_N_ELEMENTS(steps); s++) {
      g_autoptr(GPtrArray) results =
          feed_all(input->data, input->len, steps[s], NULL);
      g_assert_cmpuint(results->len, ==, 2);
      MmLmtpCommand *first = g_ptr_array_index(results, 0);
      MmLmtpCommand *second = g_ptr_array_index(results, 1);
      if (extra == 0) {
        g_assert_cmpint(first->verb, ==, MM_LMTP_VERB_NOOP);
      } else {
        g_autofree char *want =
            g_strdup_printf("ERROR%d", MM_LMTP_COMMAND_ERROR_TOO_LONG);
        g_assert_cmpstr(first->verb_text, ==, want);
      }
      g_assert_cmpint(second->verb, ==, MM_LMTP_VERB_QUIT);
    }
  }
}

static void
test_huge_line_is_not_kept(void)
{
  /* 1 MiB without a newline: the parser must not hold it, and the line
   * after it still parses. */
  gsize len = 1024 * 1024;
  g_autofree guint8 *junk = g_malloc(len);
  memset(junk, 'x', len);
  g_autoptr(MmLmtpCommandParser) parser = mm_lmtp_command_parser_new();
  for (gsize pos = 0; pos < len; pos += 65536) {
    gsize consumed = 0;
    g_autoptr(MmLmtpCommand) command = NULL;
    g_autoptr(GError) error = NULL;
    g_assert_false(mm_lmtp_command_parser_feed(parser, junk + pos, 65536,
                                               &consumed, &command, &error));
    g_assert_true(mm_lmtp_command_parser_pending(parser));
  }
  gsize consumed = 0;
  g_autoptr(MmLmtpCommand) command = NULL;
  g_autoptr(GError) error = NULL;
  g_assert_true(mm_lmtp_command_parser_feed(
      parser, (const guint8 *)"\r\nNOOP\r\n", 8, &consumed, &command, &error));
  g_assert_cmpuint(consumed, ==, 2);
  g_assert_error(error, MM_LMTP_COMMAND_ERROR, MM_LMTP_COMMAND_ERROR_TOO_LONG);
  g_clear_error(&error);
  g_assert_false(mm_lmtp_command_parser_pending(parser));
  g_assert_true(mm_lmtp_command_parser_feed(parser,
                                            (const guint8 *)"NOOP\r\n", 6,
                                            &consumed, &command, &error));
  g_assert_no_error(error);
  g_assert_cmpint(command->verb, ==, MM_LMTP_VERB_NOOP);
}

static void
test_param_lookup(void)
{
  g_autoptr(GError) error = NULL;
  static const char line[] = "MAIL FROM:<a@b.example> SIZE=42 BODY=8BITMIME X";
  g_autoptr(MmLmtpCommand) command =
      mm_lmtp_command_parse(line, strlen(line), &error);
  g_assert_no_error(error);
  gboolean found = FALSE;
  g_assert_cmpstr(mm_lmtp_command_param(command, "SIZE", &found), ==, "42");
  g_assert_true(found);
  g_assert_null(mm_lmtp_command_param(command, "X", &found));
  g_assert_true(found);
  g_assert_null(mm_lmtp_command_param(command, "AUTH", &found));
  g_assert_false(found);
}

static void
test_reply_table(void)
{
  /* Every reply has a text with a code that matches its class. */
  for (int r = 0; r < MM_LMTP_REPLY_COUNT_; r++) {
    const char *text = mm_lmtp_reply_text(r);
    guint code = mm_lmtp_reply_code(r);
    g_assert_cmpuint(code, >=, 200);
    g_assert_cmpuint(code, <, 600);
    g_assert_true(g_ascii_isdigit(text[0]) && text[3] == ' ');
    g_assert_null(strchr(text, '\r'));
    g_assert_null(strchr(text, '\n'));
    if (code >= 400 && code != 354) {
      /* An enhanced code X.Y.Z with X equal to the class. */
      g_assert_cmpint(text[4], ==, text[0]);
      g_assert_cmpint(text[5], ==, '.');
    }
  }
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/lmtp/command/parse-whole", test_parse_whole);
  g_test_add_func("/lmtp/command/parse-fed", test_parse_fed);
  g_test_add_func("/lmtp/command/pipelined", test_pipelined_and_rest);
  g_test_add_func("/lmtp/command/line-limit", test_line_limit);
  g_test_add_func("/lmtp/command/huge-line", test_huge_line_is_not_kept);
  g_test_add_func("/lmtp/command/params", test_param_lookup);
  g_test_add_func("/lmtp/reply/table", test_reply_table);
  return g_test_run();
}
