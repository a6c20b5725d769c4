/* Tests for finding commands in a message: tables of messages and the
 * lines, notes and ignored counts expected from each; the word splitter;
 * sample files (HTML only, alternatives, attachments, charsets, a reply
 * quoting the confirmation request); 10,000-line bodies; and garbage.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "commands-private.h"

#include <string.h>

static MmCommandScript *
parse_text(const char *text, const char *subaddress, guint max_lines)
{
  g_autoptr(GBytes) raw = g_bytes_new(text, strlen(text));
  return mm_commands_script_parse(raw, subaddress, NULL, max_lines);
}

static MmCommandScript *
parse_file(const char *name, guint max_lines)
{
  g_autofree char *path = g_build_filename(MM_TEST_DATA, name, NULL);
  char *data = NULL;
  gsize len = 0;
  g_assert_true(g_file_get_contents(path, &data, &len, NULL));
  g_autoptr(GBytes) raw = g_bytes_new_take(data, len);
  return mm_commands_script_parse(raw, "request", NULL, max_lines);
}

/* The script's lines joined with "|". */
static char *
joined(const MmCommandScript *script)
{
  GString *out = g_string_new(NULL);
  for (guint i = 0; i < script->lines->len; i++) {
    if (i > 0)
      g_string_append_c(out, '|');
    g_string_append(out, script->lines->pdata[i]);
  }
  return g_string_free(out, FALSE);
}

typedef struct {
  const char *what;
  const char *message;
  const char *subaddress;
  const char *lines;   /* expected, joined with '|' */
  gboolean implicit;
  guint ignored_count;
  guint dropped_quoted;
  gboolean dropped_signature;
  gboolean no_text_part;
  guint max_lines; /* 0: 10 */
} ParseCase;

static const ParseCase parse_cases[] = {
    {"subject only", "From: a@example.com\nSubject: help\n\n", NULL, "help"},
    {"subject with Re:", "Subject: Re: confirm ABC123\n\n", "request",
     "Re: confirm ABC123"},
    {"empty subject and body", "Subject: \n\n", NULL, ""},
    {"no header at all", "", NULL, ""},
    {"body commands, blank lines skipped",
     "Subject: \n\njoin digest=mime\n\n\necho hi\n", NULL,
     "join digest=mime|echo hi"},
    {"subject then body", "Subject: help join\n\necho one\n", NULL,
     "help join|echo one"},
    {"quoted lines and attribution dropped",
     "Subject: x\n\necho a\nOn Monday, someone wrote:\n> confirm dead\n"
     "  > nested\necho b\n",
     NULL, "x|echo a|echo b", FALSE, 0, 2},
    {"signature ends the commands",
     "Subject: \n\necho a\n-- \nAnne\necho b\n", NULL, "echo a", FALSE, 0,
     0, TRUE},
    {"trimmed signature separator too",
     "Subject: \n\necho a\n--\necho b\n", NULL, "echo a", FALSE, 0, 0, TRUE},
    {"CRLF line endings",
     "Subject: echo crlf\r\n\r\necho one\r\necho two\r\n", NULL,
     "echo crlf|echo one|echo two"},
    {"bare CR line endings", "Subject: \n\necho one\recho two\r", NULL,
     "echo one|echo two"},
    {"max lines counts blank lines as Mailman",
     "Subject: \n\necho 1\n\necho 3\necho 4\n", NULL, "echo 1|echo 3", FALSE,
     1, .max_lines = 3},
    {"join address implies join", "Subject: help\n\necho\n", "join", "join",
     TRUE},
    {"leave address implies leave", "Subject: help\n\necho\n", "leave",
     "leave", TRUE},
    {"subscribe and unsubscribe are join and leave",
     "Subject: \n\n", "join", "join", TRUE},
    {"confirm address with token in To",
     "To: test-confirm+0123ABCdef@example.com\nSubject: Re: x\n\nhelp\n",
     "confirm", "confirm 0123ABCdef", TRUE},
    {"confirm address with a display name in To",
     "To: \"Test list\" <test-confirm+cafe01@example.com>\nSubject: x\n\n",
     "confirm", "confirm cafe01", TRUE},
    {"confirm address without token reads the message",
     "To: test-confirm@example.com\nSubject: Re: confirm beef\n\n",
     "confirm", "Re: confirm beef"},
    {"non-ASCII subject characters dropped",
     "Subject: =?utf-8?q?echo_gr=C3=BC=C3=9Fe?=\n\n", NULL, "echo gre"},
    {"body without a Content-Type is text/plain",
     "From: a@example.com\n\nhelp\n", NULL, "help"},
};

static void
test_parse_table(void)
{
  for (gsize i = 0; i < G_N_ELEMENTS(parse_cases); i++) {
    const ParseCase *c = &parse_cases[i];
    g_test_message("case: %s", c->what);
    g_autoptr(MmCommandScript) script =
        parse_text(c->message, c->subaddress,
                   c->max_lines != 0 ? c->max_lines : 10);
    g_autofree char *lines = joined(script);
    g_assert_cmpstr(lines, ==, c->lines);
    g_assert_cmpint(script->implicit, ==, c->implicit);
    g_assert_cmpuint(script->ignored_count, ==, c->ignored_count);
    g_assert_cmpuint(script->dropped_quoted, ==, c->dropped_quoted);
    g_assert_cmpint(script->dropped_signature, ==, c->dropped_signature);
    g_assert_cmpint(script->no_text_part, ==, c->no_text_part);
  }
}

typedef struct {
  const char *line;
  const char *words; /* joined with '|' */
} SplitCase;

static const SplitCase split_cases[] = {
    {"join", "join"},
    {"  Join   Digest=MIME  ", "join|digest=mime"},
    {"Re: CONFIRM abc", "re:|confirm|abc"},
    {"", ""},
    {"   \t ", ""},
    {"j\xc3\xb6in", "jin"},
    {"echo\ta\x01"
     "b",
     "echo|ab"},
};

static void
test_split_table(void)
{
  for (gsize i = 0; i < G_N_ELEMENTS(split_cases); i++) {
    g_auto(GStrv) words = mm_commands_line_split(split_cases[i].line);
    g_autofree char *got = g_strjoinv("|", words);
    g_assert_cmpstr(got, ==, split_cases[i].words);
  }
}

static void
test_html_only(void)
{
  g_autoptr(MmCommandScript) script = parse_file("html-only.eml", 10);
  g_assert_true(script->no_text_part);
  g_assert_cmpuint(script->lines->len, ==, 0);
}

static void
test_alternative(void)
{
  g_autoptr(MmCommandScript) script = parse_file("alternative.eml", 10);
  g_autofree char *lines = joined(script);
  g_assert_cmpstr(lines, ==, "commands|help|echo from the plain part");
  g_assert_false(script->skipped_parts);
  g_assert_false(script->no_text_part);
}

static void
test_mixed_attachment(void)
{
  g_autoptr(MmCommandScript) script = parse_file("mixed-attachment.eml", 10);
  g_autofree char *lines = joined(script);
  /* The PDF and the attached message are skipped, the text is decoded
   * from quoted-printable latin-1. */
  g_assert_cmpstr(lines, ==, "echo gr\xc3\xbc\xc3\x9f" "e|who");
  g_assert_true(script->skipped_parts);
}

static void
test_base64_latin1(void)
{
  g_autoptr(MmCommandScript) script = parse_file("base64-latin1.eml", 10);
  g_autofree char *lines = joined(script);
  g_assert_cmpstr(lines, ==,
                  "echo gre|join digest=mime|help join|"
                  "echo d\xc3\xbcsseldorf");
}

static void
test_reply_with_quote(void)
{
  g_autoptr(MmCommandScript) script = parse_file("reply-with-quote.eml", 10);
  g_autofree char *lines = joined(script);
  g_assert_cmpstr(lines, ==,
                  "Re: Please confirm joining the test@example.com mailing "
                  "list|confirm 0123456789abcdef0123456789abcdef01234567");
  g_assert_cmpuint(script->dropped_quoted, ==, 4);
  g_assert_true(script->dropped_signature);
}

static void
test_ten_thousand_lines(void)
{
  GString *text = g_string_new("From: a@example.com\nSubject: \n\n");
  for (int i = 0; i < 10000; i++)
    g_string_append_printf(text, "echo line %d\n", i);
  g_autoptr(MmCommandScript) script = parse_text(text->str, NULL, 10);
  g_string_free(text, TRUE);
  g_assert_cmpuint(script->lines->len, ==, 10);
  g_assert_cmpstr(script->lines->pdata[9], ==, "echo line 9");
  g_assert_cmpuint(script->ignored_count, ==, 9990);
  g_assert_cmpuint(script->ignored->len, ==, MM_COMMANDS_IGNORED_MAX);
}

static void
test_long_line_cut(void)
{
  GString *text = g_string_new("Subject: \n\necho ");
  for (int i = 0; i < 5000; i++)
    g_string_append(text, "\xc3\xa9"); /* two bytes each */
  g_string_append_c(text, '\n');
  g_autoptr(MmCommandScript) script = parse_text(text->str, NULL, 10);
  g_string_free(text, TRUE);
  g_assert_cmpuint(script->lines->len, ==, 1);
  const char *line = script->lines->pdata[0];
  g_assert_cmpuint(strlen(line), <=, MM_COMMANDS_LINE_MAX);
  g_assert_true(g_utf8_validate(line, -1, NULL));
}

/* Random bytes, and random mutations of a real message: no crash, no
 * invalid UTF-8, no line over the bound. */
static void
test_garbage(void)
{
  static const char seed[] =
      "From: a@example.com\nTo: test-confirm+ab@example.com\n"
      "Subject: =?utf-8?b?ZWNobyBoaQ==?=\nMIME-Version: 1.0\n"
      "Content-Type: multipart/mixed; boundary=\"B\"\n\n--B\n"
      "Content-Type: text/plain; charset=\"x-unknown\"\n"
      "Content-Transfer-Encoding: base64\n\nZWNobyBoaQo=\n--B--\n";
  static const char *const subaddresses[] = {"request", "confirm", NULL};
  GRand *rand = g_rand_new_with_seed(7);
  for (int round = 0; round < 2000; round++) {
    gsize len = strlen(seed);
    guint8 *data = g_memdup2(seed, len);
    if (round % 2 == 0) {
      for (int k = 0; k < 12; k++)
        data[g_rand_int_range(rand, 0, (gint32)len)] =
            (guint8)g_rand_int_range(rand, 0, 256);
    } else {
      len = (gsize)g_rand_int_range(rand, 0, 400);
      g_free(data);
      data = g_malloc(len + 1);
      for (gsize k = 0; k < len; k++)
        data[k] = (guint8)g_rand_int_range(rand, 0, 256);
    }
    g_autoptr(GBytes) raw = g_bytes_new_take(data, len);
    g_autoptr(MmCommandScript) script = mm_commands_script_parse(
        raw, subaddresses[round % 3], NULL, 10);
    for (guint i = 0; i < script->lines->len; i++) {
      const char *line = script->lines->pdata[i];
      g_assert_true(g_utf8_validate(line, -1, NULL));
      g_assert_cmpuint(strlen(line), <=, MM_COMMANDS_LINE_MAX);
      g_auto(GStrv) words = mm_commands_line_split(line);
      g_assert_nonnull(words);
    }
  }
  g_rand_free(rand);
}

static void
test_bad_confirm_regexp(void)
{
  static const char text[] =
      "To: test-confirm+feed@example.com\nSubject: help\n\n";
  g_autoptr(GBytes) raw = g_bytes_new_static(text, strlen(text));
  /* A pattern that does not compile falls back to Mailman's default. */
  g_autoptr(MmCommandScript) script =
      mm_commands_script_parse(raw, "confirm", "(unclosed", 10);
  g_autofree char *lines = joined(script);
  g_assert_cmpstr(lines, ==, "confirm feed");
}

static void
test_help_text(void)
{
  g_autofree char *all = mm_commands_help(NULL);
  for (const char *const *name =
           (const char *const[]){"confirm", "echo", "end", "help", "join",
                                 "leave", "stop", "subscribe", "unsubscribe",
                                 "who", NULL};
       *name != NULL; name++)
    g_assert_nonnull(strstr(all, *name));
  g_autofree char *join = mm_commands_help("join");
  g_assert_true(g_str_has_prefix(join, "join [digest=<no|mime|plain>]"));
  g_assert_null(mm_commands_help("eject"));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/commands/script/table", test_parse_table);
  g_test_add_func("/commands/script/split", test_split_table);
  g_test_add_func("/commands/script/html-only", test_html_only);
  g_test_add_func("/commands/script/alternative", test_alternative);
  g_test_add_func("/commands/script/mixed-attachment", test_mixed_attachment);
  g_test_add_func("/commands/script/base64-latin1", test_base64_latin1);
  g_test_add_func("/commands/script/reply-with-quote", test_reply_with_quote);
  g_test_add_func("/commands/script/ten-thousand-lines",
                  test_ten_thousand_lines);
  g_test_add_func("/commands/script/long-line", test_long_line_cut);
  g_test_add_func("/commands/script/garbage", test_garbage);
  g_test_add_func("/commands/script/bad-confirm-regexp",
                  test_bad_confirm_regexp);
  g_test_add_func("/commands/help", test_help_text);
  return g_test_run();
}
