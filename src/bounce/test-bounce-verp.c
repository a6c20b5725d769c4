/* VERP decoding and the runner's decision (mm_bounce_decide).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "bounce.h"

#include <string.h>

/* Mailman's defaults ([mta] verp_regexp, verp_probe_regexp). */
#define VERP_REGEXP                                                           \
  "^(?P<bounces>[^+]+?)\\+(?P<local>[^=]+)=(?P<domain>[^@]+)@.*$"
#define PROBE_REGEXP "^(?P<bounces>[^+]+?)\\+(?P<token>[^@]+)@.*$"

static MmBounceVerp *
default_verp(void)
{
  g_autoptr(GError) error = NULL;
  MmBounceVerp *verp = mm_bounce_verp_new(VERP_REGEXP, PROBE_REGEXP, &error);
  g_assert_no_error(error);
  return verp;
}

static const struct {
  const char *address;
  const char *expected; /* NULL: not a VERP address of test@ */
} decode_cases[] = {
    {"test-bounces+anne=example.com@lists.example.org", "anne@example.com"},
    {"test-bounces+anne+tag=example.com@lists.example.org",
     "anne+tag@example.com"},
    /* '=' in the local part: split at the last '='. */
    {"test-bounces+a=b=example.com@lists.example.org", "a=b@example.com"},
    {"test-bounces+a=b+c=d=example.com@lists.example.org",
     "a=b+c=d@example.com"},
    /* The pattern's local group needs one character before the first '='
     * (Mailman's default pattern; the site's pattern decides). */
    {"test-bounces+=x=example.com@lists.example.org", NULL},
    /* Case: the bounces part ignores it, the local part keeps it. */
    {"Test-Bounces+Anne=Example.COM@Lists.Example.org", "Anne@example.com"},
    /* Quoted local parts, whole or inside. */
    {"\"test-bounces+john doe=example.com\"@lists.example.org",
     "\"john doe\"@example.com"},
    {"test-bounces+\"john doe\"=example.com@lists.example.org",
     "\"john doe\"@example.com"},
    {"\"test-bounces+o\\\"brien=example.com\"@lists.example.org",
     "\"o\\\"brien\"@example.com"},
    {"test-bounces+john..doe=example.com@lists.example.org",
     "\"john..doe\"@example.com"},
    {"test-bounces+.anne=example.com@lists.example.org",
     "\".anne\"@example.com"},
    /* IDN domains, in UTF-8 or ACE, come out in ASCII. */
    {"test-bounces+user=bücher.example@lists.example.org",
     "user@xn--bcher-kva.example"},
    {"test-bounces+user=XN--BCHER-KVA.example@lists.example.org",
     "user@xn--bcher-kva.example"},
    {"test-bounces+jürgen=example.de@lists.example.org",
     "jürgen@example.de"},
    /* Not ours or not VERP. */
    {"other-bounces+anne=example.com@lists.example.org", NULL},
    {"test-bounces@lists.example.org", NULL},
    {"test-bounces+anne@lists.example.org", NULL},
    {"test-bounces+anne=@lists.example.org", NULL},
    {"test-bounces+anne=localhost@lists.example.org", NULL},
    {"test-bounces+anne=exa mple.com@lists.example.org", NULL},
    {"test-bounces+ann\x01e=example.com@lists.example.org", NULL},
    {"", NULL},
};

static void
test_decode_address(void)
{
  g_autoptr(MmBounceVerp) verp = default_verp();

  for (gsize i = 0; i < G_N_ELEMENTS(decode_cases); i++) {
    g_autofree char *got = mm_bounce_verp_decode_address(
        verp, decode_cases[i].address, "test-bounces");
    g_autofree char *shown = g_strescape(decode_cases[i].address, "üö");
    g_test_message("%s -> %s", shown, got ? got : "(null)");
    g_assert_cmpstr(got, ==, decode_cases[i].expected);
  }
}

static void
test_custom_pattern(void)
{
  g_autoptr(GError) error = NULL;
  /* A site using '-' as its delimiter changes the pattern with it. */
  g_autoptr(MmBounceVerp) verp = mm_bounce_verp_new(
      "^(?P<bounces>.+?-bounces)-(?P<local>[^=]+)=(?P<domain>[^@]+)@.*$", NULL,
      &error);
  g_assert_no_error(error);
  g_autofree char *got = mm_bounce_verp_decode_address(
      verp, "test-bounces-anne=example.com@lists.example.org", "test-bounces");
  g_assert_cmpstr(got, ==, "anne@example.com");
}

static void
test_bad_patterns(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MmBounceVerp) broken = mm_bounce_verp_new("(", NULL, &error);
  g_assert_null(broken);
  g_assert_nonnull(error);
  g_clear_error(&error);

  g_autoptr(MmBounceVerp) no_local = mm_bounce_verp_new(
      "^(?P<bounces>[^+]+)\\+(?P<domain>.*)$", NULL, &error);
  g_assert_null(no_local);
  g_assert_nonnull(strstr(error->message, "local"));
  g_clear_error(&error);

  g_autoptr(MmBounceVerp) no_token =
      mm_bounce_verp_new(VERP_REGEXP, "^(?P<bounces>.*)$", &error);
  g_assert_null(no_token);
  g_assert_nonnull(strstr(error->message, "token"));
}

static MmBounceMessage *
parse(const char *text)
{
  g_autoptr(GBytes) bytes = g_bytes_new(text, strlen(text));
  return mm_bounce_message_parse(bytes);
}

static char *
joined(GPtrArray *strings)
{
  g_ptr_array_add(strings, NULL);
  char *out = g_strjoinv(",", (char **)strings->pdata);
  g_ptr_array_remove_index(strings, strings->len - 1);
  return out;
}

static void
test_fields(void)
{
  g_autoptr(MmBounceVerp) verp = default_verp();
  g_autoptr(MmBounceMessage) message = parse(
      "From: MAILER-DAEMON@mx.example.net\n"
      "To: Test list <test-bounces+anne=example.com@lists.example.org>,\n"
      " other-bounces+zed=example.com@lists.example.org\n"
      "Delivered-To: test-bounces+bob=example.net@lists.example.org\n"
      "Delivered-To: test-bounces+anne=example.com@lists.example.org\n"
      "Envelope-To: \"test-bounces+carl=example.org\"@lists.example.org "
      "(comment, with a comma)\n"
      "X-Original-To: test-bounces+dora=example.org@lists.example.org\n"
      "Apparently-To: test-bounces+eve=example.org@lists.example.org\n"
      "Cc: test-bounces+never=example.org@lists.example.org\n"
      "Subject: Undelivered Mail Returned to Sender\n"
      "\n"
      "body\n");
  g_autoptr(GPtrArray) found =
      mm_bounce_verp_addresses(verp, message, "test-bounces");
  g_autofree char *text = joined(found);
  g_assert_cmpstr(text, ==,
                  "anne@example.com,bob@example.net,carl@example.org,"
                  "dora@example.org,eve@example.org");
}

#define VERPED "test-bounces+anne=example.com@lists.example.org"

#define DSN_TEMPLATE \
    "From: MAILER-DAEMON@mx.example.net\n" \
    "To: %s\n" \
    "Subject: Delivery report\n" \
    "MIME-Version: 1.0\n" \
    "Content-Type: multipart/report; report-type=delivery-status;\n" \
    " boundary=\"b1\"\n" \
    "\n" \
    "--b1\n" \
    "Content-Type: text/plain\n" \
    "\n" \
    "Report.\n" \
    "--b1\n" \
    "Content-Type: message/delivery-status\n" \
    "\n" \
    "Reporting-MTA: dns; mx.example.net\n" \
    "\n" \
    "Final-Recipient: rfc822; forwarded@example.net\n" \
    "Action: %s\n" \
    "Status: %s\n" \
    "--b1--\n"

static MmBounceVerdict *
decide_text(const char *text, MmBounceProbeResolver resolve)
{
  g_autoptr(MmBounceVerp) verp = default_verp();
  g_autoptr(MmBounceMessage) message = parse(text);
  return mm_bounce_decide(verp, message, "test-bounces", resolve, NULL);
}

static void
test_decide_verp(void)
{
  g_autofree char *failed = g_strdup_printf(DSN_TEMPLATE, VERPED, "failed", "5.1.1");
  g_autoptr(MmBounceVerdict) v1 = decide_text(failed, NULL);
  g_assert_cmpint(v1->kind, ==, MM_BOUNCE_VERDICT_REGISTER);
  g_assert_true(v1->verp);
  /* The VERP address, not the forwarded one the DSN names. */
  g_assert_cmpuint(v1->addresses->len, ==, 1);
  g_assert_cmpstr(v1->addresses->pdata[0], ==, "anne@example.com");
  g_assert_cmpint(v1->context, ==, MM_BOUNCE_CONTEXT_NORMAL);

  g_autofree char *delayed = g_strdup_printf(DSN_TEMPLATE, VERPED, "delayed", "4.4.1");
  g_autoptr(MmBounceVerdict) v2 = decide_text(delayed, NULL);
  g_assert_cmpint(v2->kind, ==, MM_BOUNCE_VERDICT_TEMPORARY);

  g_autoptr(MmBounceVerdict) v3 =
      decide_text("From: anne@example.com\n"
                  "To: test-bounces+anne=example.com@lists.example.org\n"
                  "Subject: Out of office\n"
                  "Auto-Submitted: auto-replied\n"
                  "\n"
                  "I am away until Monday.\n",
                  NULL);
  g_assert_cmpint(v3->kind, ==, MM_BOUNCE_VERDICT_AUTO_REPLY);
  g_assert_true(v3->verp);

  g_autoptr(MmBounceVerdict) v4 =
      decide_text("From: anne@example.com\n"
                  "To: test-bounces+anne=example.com@lists.example.org\n"
                  "Subject: what is this list?\n"
                  "\n"
                  "Please explain.\n",
                  NULL);
  g_assert_cmpint(v4->kind, ==, MM_BOUNCE_VERDICT_UNRECOGNIZED);
  g_assert_true(v4->verp);
}

static char *
resolve_token(const char *token, gpointer data)
{
  if (g_str_equal(token, "0a1b2c3d4e"))
    return g_strdup("probed@example.com");
  return NULL;
}

static void
test_decide_probe(void)
{
  const char *probe_bounce =
      "From: MAILER-DAEMON@mx.example.net\n"
      "To: test-bounces+0a1b2c3d4e@lists.example.org\n"
      "Subject: failure notice\n"
      "\n"
      "Nothing a detector knows.\n";
  g_autoptr(MmBounceVerdict) v1 = decide_text(probe_bounce, resolve_token);
  g_assert_cmpint(v1->kind, ==, MM_BOUNCE_VERDICT_REGISTER);
  g_assert_cmpint(v1->context, ==, MM_BOUNCE_CONTEXT_PROBE);
  g_assert_cmpstr(v1->addresses->pdata[0], ==, "probed@example.com");

  /* Unknown token: as Mailman, fall through to the detectors. */
  g_autoptr(MmBounceVerdict) v2 = decide_text(probe_bounce, NULL);
  g_assert_cmpint(v2->kind, ==, MM_BOUNCE_VERDICT_UNRECOGNIZED);
  g_assert_false(v2->verp);

  g_autoptr(MmBounceVerp) verp = default_verp();
  g_autoptr(MmBounceMessage) message = parse(probe_bounce);
  g_autoptr(GPtrArray) tokens =
      mm_bounce_verp_probe_tokens(verp, message, "test-bounces");
  g_assert_cmpuint(tokens->len, ==, 1);
  g_assert_cmpstr(tokens->pdata[0], ==, "0a1b2c3d4e");
}

static void
test_decide_scan(void)
{
  /* The same DSN sent to the plain bounces address. */
  g_autofree char *failed = g_strdup_printf(
      DSN_TEMPLATE, "test-bounces@lists.example.org", "failed", "5.1.1");
  g_autoptr(MmBounceVerdict) v1 = decide_text(failed, NULL);
  g_assert_cmpint(v1->kind, ==, MM_BOUNCE_VERDICT_REGISTER);
  g_assert_false(v1->verp);
  g_assert_cmpstr(v1->detector, ==, "dsn");
  g_assert_cmpstr(v1->addresses->pdata[0], ==, "forwarded@example.net");

  g_autoptr(MmBounceVerdict) v2 =
      decide_text("From: someone@example.com\nSubject: hi\n\nhello\n", NULL);
  g_assert_cmpint(v2->kind, ==, MM_BOUNCE_VERDICT_UNRECOGNIZED);

  /* Without a VERP pattern, only the scan. */
  g_autoptr(MmBounceMessage) message = parse(failed);
  g_autoptr(MmBounceVerdict) v3 =
      mm_bounce_decide(NULL, message, NULL, NULL, NULL);
  g_assert_cmpint(v3->kind, ==, MM_BOUNCE_VERDICT_REGISTER);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/bounce/verp/decode-address", test_decode_address);
  g_test_add_func("/bounce/verp/custom-pattern", test_custom_pattern);
  g_test_add_func("/bounce/verp/bad-patterns", test_bad_patterns);
  g_test_add_func("/bounce/verp/fields", test_fields);
  g_test_add_func("/bounce/decide/verp", test_decide_verp);
  g_test_add_func("/bounce/decide/probe", test_decide_probe);
  g_test_add_func("/bounce/decide/scan", test_decide_scan);
  return g_test_run();
}
