/* Unit tests of the pieces under the detectors: address normalisation,
 * DSN field parsing edge cases and hostile input.  Events and notices are
 * in test-bounce-process.c.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "bounce.h"

#include <string.h>

static MmBounceScan *
scan_text(const char *text, gssize len)
{
  g_autoptr(GBytes) bytes =
      g_bytes_new(text, len < 0 ? strlen(text) : (gsize)len);
  g_autoptr(MmBounceMessage) message = mm_bounce_message_parse(bytes);
  return mm_bounce_scan(message);
}

static char *
joined(GPtrArray *strings)
{
  GString *out = g_string_new(NULL);
  for (guint i = 0; i < strings->len; i++)
    g_string_append_printf(out, "%s%s", i ? "," : "",
                           (const char *)strings->pdata[i]);
  return g_string_free(out, FALSE);
}

/* ---- addresses ------------------------------------------------------------ */

static void
test_normalize(void)
{
  static const struct {
    const char *in, *out;
  } cases[] = {
      {"anne@example.com", "anne@example.com"},
      {"  <Anne@Example.COM>  ", "Anne@example.com"},
      {"rfc822; anne@example.com", "anne@example.com"},
      {"RFC822;<anne@example.com>", "anne@example.com"},
      {"'anne@example.com'", "anne@example.com"},
      {"\"anne@example.com\"", "anne@example.com"},
      {"anne@example.com.", "anne@example.com"},
      {"<anne@example.com>:", "anne@example.com"},
      {"anne@example.com.,", "anne@example.com"},
      {"\"john doe\"@example.com", "\"john doe\"@example.com"},
      {"\"plain\"@example.com", "plain@example.com"},
      {"john..doe@example.com", "\"john..doe\"@example.com"},
      {"a+b=c@example.com", "a+b=c@example.com"},
      {"user@bücher.example", "user@xn--bcher-kva.example"},
      {"user@[192.0.2.1]", "user@[192.0.2.1]"},
      {"jürgen@example.de", "jürgen@example.de"},
      {"root@localhost", NULL},
      {"no-at-sign", NULL},
      {"@example.com", NULL},
      {"anne@", NULL},
      {"an ne@example.com", NULL},
      {"anne@exa mple.com", NULL},
      {"anne@-example.com", NULL},
      {"anne@example..com", NULL},
      {"<>", NULL},
      {"", NULL},
      {"x@\xff.com", NULL},
      {"a(b)@example.com", NULL},
      {"0123456789012345678901234567890123456789012345678901234567890123456789"
       "@example.com",
       NULL},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *got = mm_bounce_address_normalize(cases[i].in, -1);
    g_autofree char *shown = g_strescape(cases[i].in, NULL);
    g_test_message("[%s] -> %s", shown, got ? got : "(null)");
    g_assert_cmpstr(got, ==, cases[i].out);
  }
}

/* ---- DSN edge cases -------------------------------------------------------- */

#define DSN_HEAD                                                              \
  "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\n"               \
  "To: test-bounces@lists.example.org\n"                                      \
  "Subject: Undelivered Mail Returned to Sender\n"                            \
  "MIME-Version: 1.0\n"                                                       \
  "Content-Type: multipart/report; report-type=delivery-status; "             \
  "boundary=\"XX\"\n"                                                         \
  "\n"                                                                        \
  "--XX\n"                                                                    \
  "Content-Type: message/delivery-status\n"

static void
check_dsn(const char *status_part, const char *permanent,
          const char *temporary)
{
  g_autofree char *text =
      g_strconcat(DSN_HEAD, status_part, "--XX--\n", NULL);
  g_autoptr(MmBounceScan) scan = scan_text(text, -1);
  g_autofree char *p = joined(scan->permanent);
  g_autofree char *t = joined(scan->temporary);
  g_assert_cmpstr(p, ==, permanent);
  g_assert_cmpstr(t, ==, temporary);
}

static void
test_dsn_fields(void)
{
  /* Folded fields, comments, case. */
  check_dsn("\nreporting-mta: dns;\n mx.example.net\n\n"
            "final-recipient: RFC822;\n\tfolded@example.com\n"
            "ACTION: Failed (the mailbox is gone)\n"
            "status: 5.1.1\n",
            "folded@example.com", "");
  /* Original-Recipient wins over Final-Recipient. */
  check_dsn("\nOriginal-Recipient: rfc822;member@example.com\n"
            "Final-Recipient: rfc822;forwarded@example.net\n"
            "Action: failed\nStatus: 5.0.0\n",
            "member@example.com", "");
  /* ... unless it is not an address ... */
  check_dsn("\nOriginal-Recipient: rfc822;<>\n"
            "Final-Recipient: rfc822;final@example.net\n"
            "Action: failed\nStatus: 5.0.0\n",
            "final@example.net", "");
  /* ... or has a type we cannot read. */
  check_dsn("\nOriginal-Recipient: x400; c=us;a=;p=x\n"
            "Final-Recipient: rfc822;final@example.net\n"
            "Action: failed\nStatus: 5.0.0\n",
            "final@example.net", "");
  /* Encoded words. */
  check_dsn("\nFinal-Recipient: =?us-ascii?q?rfc822=3B_encoded=40example=2Ecom?=\n"
            "Action: failed\nStatus: 5.1.1\n",
            "encoded@example.com", "");
  /* RFC 6533 utf-8 type with an escape. */
  check_dsn("\nFinal-Recipient: utf-8; j\\x{FC}rgen@example.de\n"
            "Action: failed\nStatus: 5.1.1\n",
            "jürgen@example.de", "");
  /* Action decides over Status; Status alone decides without Action. */
  check_dsn("\nFinal-Recipient: rfc822;gaveup@example.com\n"
            "Action: failed\nStatus: 4.4.7\n\n"
            "Final-Recipient: rfc822;later@example.com\n"
            "Action: delayed\nStatus: 4.2.2\n\n"
            "Final-Recipient: rfc822;noaction@example.com\n"
            "Status: 5.2.1\n\n"
            "Final-Recipient: rfc822;noaction2@example.com\n"
            "Status: 4.2.1\n",
            "gaveup@example.com,noaction@example.com",
            "later@example.com,noaction2@example.com");
  /* OpenSMTPD's "error", an angle-addr with no type. */
  check_dsn("\nFinal-Recipient: <angle@example.com>\n"
            "Action: error\nStatus: 5.0.0\n",
            "angle@example.com", "");
  /* Groups run together without their empty lines. */
  check_dsn("\nReporting-MTA: dns; mx\n"
            "Final-Recipient: rfc822;one@example.com\n"
            "Action: failed\n"
            "Final-Recipient: rfc822;two@example.com\n"
            "Action: delayed\n",
            "one@example.com", "two@example.com");
  /* CRLF line ends. */
  check_dsn("\r\nFinal-Recipient: rfc822;crlf@example.com\r\n"
            "Action: failed\r\nStatus: 5.1.1\r\n",
            "crlf@example.com", "");
  /* Base64 encoded status part. */
  check_dsn("Content-Transfer-Encoding: base64\n\n"
            "RmluYWwtUmVjaXBpZW50OiByZmM4MjI7YjY0QGV4YW1wbGUuY29tCkFjdGlvbjog"
            "ZmFpbGVkCg==\n",
            "b64@example.com", "");
}

static void
test_dsn_success_stops_chain(void)
{
  /* A success notice whose text part would fool a heuristic. */
  const char *text =
      "From: MAILER-DAEMON@mx.example.net\n"
      "Subject: Successful Mail Delivery Report\n"
      "Content-Type: multipart/report; report-type=delivery-status; "
      "boundary=\"S\"\n"
      "\n"
      "--S\n"
      "Content-Type: text/plain\n"
      "\n"
      "The following addresses failed:\n"
      "  anne@example.com\n"
      "--S\n"
      "Content-Type: message/delivery-status\n"
      "\n"
      "Final-Recipient: rfc822;anne@example.com\n"
      "Action: delivered\n"
      "Status: 2.0.0\n"
      "--S--\n";
  g_autoptr(MmBounceScan) scan = scan_text(text, -1);
  g_assert_cmpuint(scan->permanent->len, ==, 0);
  g_assert_cmpuint(scan->temporary->len, ==, 0);
  g_assert_cmpstr(scan->detector, ==, "dsn");
}

/* ---- hostile input ---------------------------------------------------------- */

static void
test_garbage(void)
{
  /* Empty, NULs, random bytes, no header block. */
  g_autoptr(MmBounceScan) s1 = scan_text("", 0);
  g_assert_cmpuint(s1->permanent->len, ==, 0);
  g_autoptr(MmBounceScan) s2 = scan_text("\0\0\0\0From: x\n\n\0", 14);
  g_assert_cmpuint(s2->permanent->len, ==, 0);

  GRand *rand = g_rand_new_with_seed(42);
  for (int round = 0; round < 200; round++) {
    gsize len = (gsize)g_rand_int_range(rand, 0, 4096);
    g_autofree char *data = g_malloc(len + 1);
    for (gsize i = 0; i < len; i++)
      data[i] = (char)g_rand_int_range(rand, 0, 256);
    g_autoptr(MmBounceScan) scan = scan_text(data, (gssize)len);
    g_assert_nonnull(scan->permanent);
  }
  g_rand_free(rand);

  /* A header-less text that is a bounce is still read. */
  g_autoptr(MmBounceScan) s3 = scan_text(
      "Hi. This is the qmail-send program at mx.example.net.\n"
      "I'm afraid I wasn't able to deliver your message to the following "
      "addresses.\n\n<anne@example.com>:\nno mailbox here\n\n--- Below\n",
      -1);
  g_autofree char *p3 = joined(s3->permanent);
  g_assert_cmpstr(p3, ==, "anne@example.com");
}

static void
test_deep_and_wide(void)
{
  /* Deep nesting of multiparts, then thousands of parts, then one very
   * long line: bounded work, no crash. */
  GString *deep = g_string_new("From: MAILER-DAEMON@x.example\n");
  for (int i = 0; i < 5000; i++)
    g_string_append_printf(deep,
                           "Content-Type: multipart/mixed; boundary=\"d%d\"\n"
                           "\n--d%d\n",
                           i, i);
  g_string_append(deep, "Content-Type: text/plain\n\nX-Failed: x\n");
  g_autoptr(MmBounceScan) s1 = scan_text(deep->str, (gssize)deep->len);
  g_assert_nonnull(s1);
  g_string_free(deep, TRUE);

  GString *wide = g_string_new(
      "From: MAILER-DAEMON@x.example\nContent-Type: multipart/mixed; "
      "boundary=\"w\"\n\n");
  for (int i = 0; i < 5000; i++)
    g_string_append(wide, "--w\nContent-Type: message/delivery-status\n\n"
                          "Final-Recipient: rfc822;a@example.com\n"
                          "Action: failed\n");
  g_string_append(wide, "--w--\n");
  g_autoptr(MmBounceScan) s2 = scan_text(wide->str, (gssize)wide->len);
  g_assert_cmpuint(s2->permanent->len, ==, 1);
  g_string_free(wide, TRUE);

  GString *line = g_string_new(
      "From: MAILER-DAEMON@x.example\nSubject: failure notice\n\n"
      "Hi. This is the qmail-send program at x.\n\n<");
  for (int i = 0; i < 2000000; i++)
    g_string_append_c(line, 'a');
  g_string_append(line, "@example.com>:\n");
  g_autoptr(MmBounceScan) s3 = scan_text(line->str, (gssize)line->len);
  g_assert_cmpuint(s3->permanent->len, ==, 0);
  g_string_free(line, TRUE);
}

/* Long hostile lines after the opening line of every detector: each
 * pattern must stay linear in the line length.  (No time is asserted; a
 * quadratic pattern shows as a test that runs into meson's timeout.) */
static void
test_hostile_lines(void)
{
  static const char *const contexts[] = {
      "From: x@mail.example\nSubject: s\n\nThis message was created "
      "automatically by mail delivery software.\nThe following address(es) "
      "failed:\n",
      "From: MAILER-DAEMON@yahoo.com\nSubject: s\n\nSorry, we were unable "
      "to deliver your message to the following address.\n",
      "From: MAILER-DAEMON@aol.com\nSubject: s\n\nmail to the following "
      "recipients could not be delivered\n",
      "From: x@mail.example\nSubject: s\nX-Mailer: Novell GroupWise\n\n"
      "undeliverable to the following:\n",
      "From: MAILER-DAEMON@mail.example\nSubject: Undelivered Mail Returned "
      "to Sender\n\nThe mail system\n",
      "From: x@mail.example\nSubject: s\n\n----- The following addresses "
      "had permanent fatal errors -----\n",
      "From: x@mail.example\nSubject: s\n\nHi. This is the qmail-send "
      "program at x.\n\n",
      "From: x@mail.example\nSubject: s\n\ndid not reach the following "
      "recipient(s):\nDelivery has failed to these recipients or groups:\n",
      "From: x@mail.example\nSubject: s\n\nwas not delivered to:\n",
      "From: x@mail.example\nSubject: s\n\nYour message could not be "
      "delivered to the following recipients:\n",
      "From: x@mail.example\nSubject: s\n\nhas not yet been delivered\n",
  };
  const char *const units[] = {"@", "<@", "a@", "\"@", "(", "<a", "a.", "@ ",
                               "x"};
  for (gsize c = 0; c < G_N_ELEMENTS(contexts); c++) {
    GString *text = g_string_new(contexts[c]);
    for (int line = 0; line < 120; line++) {
      const char *unit = units[line % G_N_ELEMENTS(units)];
      if (line % 3 == 0)
        g_string_append(text, "    (generated from ");
      if (line % 5 == 0)
        g_string_append(text, "Your message to ");
      for (gsize n = 0; n < 3990; n += strlen(unit))
        g_string_append(text, unit);
      g_string_append(text, " x\n");
    }
    g_autoptr(MmBounceScan) scan = scan_text(text->str, (gssize)text->len);
    g_assert_nonnull(scan->permanent);
    g_string_free(text, TRUE);
  }
}

static void
test_auto_reply(void)
{
  static const char *const auto_replies[] = {
      "From: anne@example.com\nSubject: hello\nAuto-Submitted: auto-replied\n"
      "\nAway.\n",
      "From: anne@example.com\nSubject: hello\nX-Autoreply: yes\n\nAway.\n",
      "From: anne@example.com\nSubject: hello\nPrecedence: auto_reply\n\n"
      "Away.\n",
      "From: anne@example.com\nSubject: Automatic reply: [Test] hello\n\n"
      "Away.\n",
      "From: anne@example.com\nSubject: Abwesenheitsnotiz: Test\n\nWeg.\n",
      "From: anne@example.com\nSubject: Réponse automatique : Test\n\n"
      "Absente.\n",
      "From: anne@example.com\nSubject: Respuesta automática: Test\n\n"
      "Fuera.\n",
  };
  for (gsize i = 0; i < G_N_ELEMENTS(auto_replies); i++) {
    g_autoptr(GBytes) bytes =
        g_bytes_new(auto_replies[i], strlen(auto_replies[i]));
    g_autoptr(MmBounceMessage) message = mm_bounce_message_parse(bytes);
    g_assert_true(mm_bounce_message_is_auto_reply(message));
  }

  /* Bounces carry Auto-Submitted too: they are not auto-replies. */
  static const char *const reports[] = {
      "From: MAILER-DAEMON@mx.example.net\nSubject: failure notice\n"
      "Auto-Submitted: auto-replied\n\nSomething.\n",
      "From: Mail Delivery System <x@mx.example.net>\nSubject: hello\n"
      "Auto-Submitted: auto-replied\n\nSomething.\n",
      "From: x@mx.example.net\nSubject: Undeliverable: hello\n"
      "Auto-Submitted: auto-generated\n\nSomething.\n",
      "From: x@mx.example.net\nSubject: hi\nAuto-Submitted: auto-replied\n"
      "Content-Type: multipart/report; boundary=x\n\n--x--\n",
      "From: anne@example.com\nSubject: hello\nAuto-Submitted: no\n\nHi.\n",
  };
  for (gsize i = 0; i < G_N_ELEMENTS(reports); i++) {
    g_autoptr(GBytes) bytes = g_bytes_new(reports[i], strlen(reports[i]));
    g_autoptr(MmBounceMessage) message = mm_bounce_message_parse(bytes);
    g_assert_false(mm_bounce_message_is_auto_reply(message));
  }
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/bounce/address/normalize", test_normalize);
  g_test_add_func("/bounce/dsn/fields", test_dsn_fields);
  g_test_add_func("/bounce/dsn/success-stops-chain",
                  test_dsn_success_stops_chain);
  g_test_add_func("/bounce/parse/garbage", test_garbage);
  g_test_add_func("/bounce/parse/deep-and-wide", test_deep_and_wide);
  g_test_add_func("/bounce/parse/hostile-lines", test_hostile_lines);
  g_test_add_func("/bounce/auto-reply", test_auto_reply);
  return g_test_run();
}
