/* SMTP reply parser: tables of valid and invalid server output, each fed
 * whole and then one byte at a time (the parser must not care how TCP
 * splits a reply), plus the bounds.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "delivery-private.h"

#include <string.h>

/* Feeds @input in pieces of @step bytes (0: whole); collects every reply
 * as "CODE|line|line;" into @out.  Returns FALSE on a parse error. */
static gboolean
parse_all(const char *input, gsize len, gsize step, GString *out,
          gsize *leftover_out)
{
  g_autoptr(MmSmtpReplyParser) parser = mm_smtp_reply_parser_new();
  gsize pos = 0;
  while (pos < len) {
    gsize piece = step == 0 ? len - pos : MIN(step, len - pos);
    gsize off = 0;
    while (off < piece) {
      MmSmtpReply *reply = NULL;
      g_autoptr(GError) error = NULL;
      gssize used = mm_smtp_reply_parser_feed(parser, input + pos + off,
                                              piece - off, &reply, &error);
      if (used < 0) {
        g_assert_nonnull(error);
        g_assert_true(g_error_matches(error, MM_DELIVERY_ERROR,
                                      MM_DELIVERY_ERROR_PROTOCOL));
        return FALSE;
      }
      off += (gsize)used;
      if (reply != NULL) {
        g_string_append_printf(out, "%d", reply->code);
        for (guint i = 0; i < reply->lines->len; i++)
          g_string_append_printf(out, "|%s", (char *)reply->lines->pdata[i]);
        g_string_append_c(out, ';');
        mm_smtp_reply_free(reply);
      } else {
        g_assert_cmpuint(off, ==, piece);
      }
    }
    pos += piece;
  }
  if (leftover_out)
    *leftover_out = 0;
  return TRUE;
}

static const struct {
  const char *input;
  const char *expect; /* NULL: a protocol error */
} cases[] = {
    {"220 mail.example ESMTP\r\n", "220|mail.example ESMTP;"},
    {"250 OK\n", "250|OK;"}, /* bare LF accepted */
    {"250\r\n", "250|;"},    /* no text */
    {"250-mx\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n",
     "250|mx|PIPELINING|SIZE 1000|8BITMIME;"},
    {"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 no such user\r\n354 go\r\n",
     "250|2.1.0 Ok;250|2.1.5 Ok;550|5.1.1 no such user;354|go;"},
    {"450-4.2.0 first\r\n450 4.2.0 second\r\n",
     "450|4.2.0 first|4.2.0 second;"},
    {"250 text with\ttab and trailing space \r\n",
     "250|text with\ttab and trailing space ;"},
    {"554 top code\r\n", "554|top code;"},
    {"250 partial", ""}, /* not complete: no reply yet, no error */
    {"", ""},
    /* Invalid. */
    {"hello\r\n", NULL},
    {"25\r\n", NULL},
    {"2500 x\r\n", NULL},
    {"250_x\r\n", NULL},
    {"150 x\r\n", NULL},  /* 1yz is not SMTP */
    {"650 x\r\n", NULL},
    {"260 x\r\n", NULL},  /* second digit 0-5 */
    {"599 x\r\n", NULL},
    {"25a x\r\n", NULL},
    {"250-a\r\n251 b\r\n", NULL}, /* codes differ */
    {"\r\n", NULL},
    {" 250 x\r\n", NULL},
};

static void
test_table(void)
{
  for (gsize c = 0; c < G_N_ELEMENTS(cases); c++) {
    const char *in = cases[c].input;
    gsize len = strlen(in);
    for (gsize step = 0; step <= 1; step++) {
      g_autoptr(GString) out = g_string_new(NULL);
      gboolean ok = parse_all(in, len, step, out, NULL);
      if (cases[c].expect == NULL) {
        if (ok)
          g_error("case %zu (%s) step %zu: expected an error, got %s", c, in,
                  step, out->str);
      } else {
        if (!ok)
          g_error("case %zu (%s) step %zu: unexpected error", c, in, step);
        g_assert_cmpstr(out->str, ==, cases[c].expect);
      }
    }
  }
}

/* The parser stops after each reply, leaving the rest to the caller. */
static void
test_one_at_a_time(void)
{
  g_autoptr(MmSmtpReplyParser) parser = mm_smtp_reply_parser_new();
  const char *in = "250 a\r\n251 b\r\n";
  MmSmtpReply *reply = NULL;
  g_autoptr(GError) error = NULL;
  gssize used = mm_smtp_reply_parser_feed(parser, in, strlen(in), &reply,
                                          &error);
  g_assert_cmpint(used, ==, 7);
  g_assert_nonnull(reply);
  g_assert_cmpint(reply->code, ==, 250);
  g_autofree char *text = mm_smtp_reply_text(reply);
  g_assert_cmpstr(text, ==, "a");
  mm_smtp_reply_free(reply);
  used = mm_smtp_reply_parser_feed(parser, in + 7, strlen(in) - 7, &reply,
                                   &error);
  g_assert_cmpint(used, ==, 7);
  g_assert_cmpint(reply->code, ==, 251);
  mm_smtp_reply_free(reply);
}

static void
test_text_joined(void)
{
  g_autoptr(GString) out = g_string_new(NULL);
  g_autoptr(MmSmtpReplyParser) parser = mm_smtp_reply_parser_new();
  const char *in = "550-5.1.1 one\r\n550 5.1.1 two\r\n";
  MmSmtpReply *reply = NULL;
  g_autoptr(GError) error = NULL;
  mm_smtp_reply_parser_feed(parser, in, strlen(in), &reply, &error);
  g_assert_nonnull(reply);
  g_autofree char *text = mm_smtp_reply_text(reply);
  g_assert_cmpstr(text, ==, "5.1.1 one 5.1.1 two");
  mm_smtp_reply_free(reply);
}

/* A line of exactly the limit (CRLF included) passes; one byte more, or an
 * endless line without LF, fails before the parser holds more. */
static void
test_line_bound(void)
{
  for (int extra = 0; extra <= 1; extra++) {
    gsize len = MM_SMTP_REPLY_LINE_MAX + (gsize)extra;
    g_autofree char *line = g_malloc(len + 1);
    memcpy(line, "250 ", 4);
    memset(line + 4, 'x', len - 6);
    line[len - 2] = '\r';
    line[len - 1] = '\n';
    line[len] = '\0';
    for (gsize step = 0; step <= 1; step++) {
      g_autoptr(GString) out = g_string_new(NULL);
      gboolean ok = parse_all(line, len, step == 0 ? 0 : 97, out, NULL);
      g_assert_true(ok == (extra == 0));
    }
  }
  g_autofree char *endless = g_malloc(3 * MM_SMTP_REPLY_LINE_MAX);
  memset(endless, '2', 3 * MM_SMTP_REPLY_LINE_MAX);
  g_autoptr(GString) out = g_string_new(NULL);
  g_assert_false(parse_all(endless, 3 * MM_SMTP_REPLY_LINE_MAX, 1000, out,
                           NULL));
}

static void
test_lines_bound(void)
{
  for (int extra = 0; extra <= 1; extra++) {
    g_autoptr(GString) in = g_string_new(NULL);
    guint n = MM_SMTP_REPLY_LINES_MAX + (guint)extra;
    for (guint i = 0; i + 1 < n; i++)
      g_string_append(in, "250-x\r\n");
    g_string_append(in, "250 end\r\n");
    g_autoptr(GString) out = g_string_new(NULL);
    gboolean ok = parse_all(in->str, in->len, 0, out, NULL);
    g_assert_true(ok == (extra == 0));
  }
}

/* NUL bytes in the text must not truncate it silently. */
static void
test_nul_in_text(void)
{
  static const char in[] = "250 a\0b\r\n";
  g_autoptr(MmSmtpReplyParser) parser = mm_smtp_reply_parser_new();
  MmSmtpReply *reply = NULL;
  g_autoptr(GError) error = NULL;
  mm_smtp_reply_parser_feed(parser, in, sizeof in - 1, &reply, &error);
  g_assert_nonnull(reply);
  g_assert_cmpstr(reply->lines->pdata[0], ==, "a b");
  mm_smtp_reply_free(reply);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/delivery/reply/table", test_table);
  g_test_add_func("/delivery/reply/one-at-a-time", test_one_at_a_time);
  g_test_add_func("/delivery/reply/text-joined", test_text_joined);
  g_test_add_func("/delivery/reply/line-bound", test_line_bound);
  g_test_add_func("/delivery/reply/lines-bound", test_lines_bound);
  g_test_add_func("/delivery/reply/nul-in-text", test_nul_in_text);
  return g_test_run();
}
