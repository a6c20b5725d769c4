/* Unit tests of the message module: Message-ID hashes (vectors computed
 * independently with Python's hashlib/base64 and email parser), intake edits
 * (byte-exact outputs), header lookup, and the defect table (expected
 * answers from Python's email.message_from_bytes().defects).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "message.h"

#include "base-error.h"

#include <string.h>

static GBytes *
bytes_of(const char *data, gsize len)
{
  return g_bytes_new(data, len);
}

#define BYTES(literal) bytes_of((literal), sizeof(literal) - 1)

static void
assert_bytes(GBytes *got, const char *want, gsize want_len)
{
  gsize len = 0;
  const char *data = g_bytes_get_data(got, &len);

  g_assert_cmpmem(data, len, want, want_len);
}

/* ---- Message-ID hashes ---- */

static void
test_id_hash_vectors(void)
{
  /* python3: base64.b32encode(hashlib.sha1(X).digest()) after Mailman's
   * bracket/strip rule. */
  static const struct {
    const char *id;
    const char *hash;
  } vectors[] = {
      {"x@y", "QMCIBHO7RNQDWGF7TNMLNIHKS5MPDKXZ"},
      {"<abc@example.com>", "OYHKWRDNPBPKMOWYLNPKMCEOE6ZX65KG"},
      {"abc@example.com", "OYHKWRDNPBPKMOWYLNPKMCEOE6ZX65KG"},
      /* Not both brackets at the ends: whitespace off, brackets kept. */
      {"<abc@example.com> ", "D4WB4LDA5TFPLDL3SHZL2FNZLHA5EPPC"},
      {"  <a@b>  ", "QHNDQGY4MV5FBUCOGGE2JBZDPX7D6YLC"},
      {"<", "YTOTZDG5RV6JKYB52Z7RZWDT2X4RJCZJ"},
      {"", "3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ"},
      {"<>", "3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ"},
      {"<caf\xc3\xa9@example.com>", "ZXJGJ5ARVYBQTBWX6US5WXW3IWEB2IOO"},
      /* Python's raw value of a folded field keeps the fold. */
      {"\n <fold@example.com>", "QWBHIQGTJCVYIM5QCCY473F43UGYGAVB"},
      {"\r\n\t<fold@example.com>", "QWBHIQGTJCVYIM5QCCY473F43UGYGAVB"},
  };

  for (gsize i = 0; i < G_N_ELEMENTS(vectors); i++) {
    g_autofree char *hash = mm_message_id_hash(vectors[i].id);
    g_assert_cmpstr(hash, ==, vectors[i].hash);
    g_assert_cmpuint(strlen(hash), ==, MM_MESSAGE_ID_HASH_LEN);
  }
}

static void
test_id_new(void)
{
  GError *error = NULL;
  g_autofree char *a = mm_message_id_new("lists.example.com", &error);
  g_assert_no_error(error);
  g_autofree char *b = mm_message_id_new("lists.example.com", &error);
  g_assert_no_error(error);

  g_assert_true(g_regex_match_simple(
      "^<[0-9]+\\.[0-9]+\\.[0-9a-f]{16}@lists\\.example\\.com>$", a, 0, 0));
  g_assert_cmpstr(a, !=, b);

  g_autofree char *c = mm_message_id_new(NULL, &error);
  g_assert_no_error(error);
  g_assert_nonnull(c);

  const char *bad[] = {"", "a b", "a>b", "x@y", "a\nb", "a;b"};
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_assert_null(mm_message_id_new(bad[i], &error));
    g_assert_error(error, MM_ERROR, MM_ERROR_INVALID);
    g_clear_error(&error);
  }
}

/* ---- intake edits ---- */

/* Prepares @raw both ways, whole and as head + rest, checks that the two
 * agree byte for byte, and returns the whole. */
static GBytes *
prepare(GBytes *raw, const char *sender, char **id_out)
{
  GError *error = NULL;
  GBytes *out = mm_message_intake_prepare(raw, sender, "mm.example.com",
                                          id_out, &error);

  g_assert_no_error(error);
  g_assert_nonnull(out);

  gsize offset = 0;
  g_autofree char *head_id = NULL;
  g_autoptr(GBytes) head = mm_message_intake_prepare_head(
      raw, sender, "mm.example.com", &head_id, &offset, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(offset, <=, g_bytes_get_size(raw));
  gsize rest_len = g_bytes_get_size(raw) - offset;
  const guint8 *rest = (const guint8 *)g_bytes_get_data(raw, NULL) + offset;
  gsize out_len = 0;
  const guint8 *out_data = g_bytes_get_data(out, &out_len);
  g_assert_cmpuint(out_len, >=, rest_len);
  g_assert_cmpmem(out_data + out_len - rest_len, rest_len, rest, rest_len);
  /* A generated Message-ID differs between the two calls; with a given
   * one the head is the same too. */
  if (mm_message_header_get(raw, "Message-ID", NULL)) {
    g_assert_cmpmem(out_data, out_len - rest_len, g_bytes_get_data(head, NULL),
                    g_bytes_get_size(head));
    if (id_out != NULL)
      g_assert_cmpstr(head_id, ==, *id_out);
  }
  return out;
}

static void
test_prepare_lf(void)
{
  g_autoptr(GBytes) raw =
      BYTES("From: a@example.com\nMessage-ID: <abc@example.com>\n"
            "Subject: hi\n\nbody\nMessage-ID-Hash: in the body stays\n");
  g_autofree char *id = NULL;
  g_autoptr(GBytes) out = prepare(raw, "a@example.com", &id);
  static const char want[] =
      "From: a@example.com\nMessage-ID: <abc@example.com>\nSubject: hi\n"
      "Message-ID-Hash: OYHKWRDNPBPKMOWYLNPKMCEOE6ZX65KG\n"
      "X-Message-ID-Hash: OYHKWRDNPBPKMOWYLNPKMCEOE6ZX65KG\n"
      "X-MailFrom: a@example.com\n"
      "\nbody\nMessage-ID-Hash: in the body stays\n";

  assert_bytes(out, want, sizeof want - 1);
  g_assert_cmpstr(id, ==, "<abc@example.com>");
}

/* CRLF, old hash fields (one folded) removed, X-MailFrom kept, a binary
 * body with NULs, bare CRs, 8-bit bytes and a last line without CRLF. */
static void
test_prepare_crlf_binary(void)
{
  static const char head[] =
      "Received: from x\r\n\tby y\r\n"
      "message-id-hash: OLD\r\n"
      "Message-ID: <abc@example.com> \r\n"
      "X-Message-ID-Hash:\r\n OLD-FOLDED\r\n"
      "X-MailFrom: earlier@example.com\r\n"
      "Subject: caf\xc3\xa9\r\n";
  GByteArray *body = g_byte_array_new();
  g_byte_array_append(body, (const guint8 *)"\r\n", 2);
  for (int i = 0; i < 256; i++) {
    guint8 b = (guint8)i;
    g_byte_array_append(body, &b, 1);
  }
  g_byte_array_append(body, (const guint8 *)"\r\n\r\nlast\rline\0", 15);

  GByteArray *raw_array = g_byte_array_new();
  g_byte_array_append(raw_array, (const guint8 *)head, sizeof head - 1);
  g_byte_array_append(raw_array, body->data, body->len);
  g_autoptr(GBytes) raw = g_byte_array_free_to_bytes(raw_array);
  g_autofree char *id = NULL;
  g_autoptr(GBytes) out = prepare(raw, "", &id);

  GByteArray *want = g_byte_array_new();
  static const char want_head[] =
      "Received: from x\r\n\tby y\r\n"
      "Message-ID: <abc@example.com> \r\n"
      "X-MailFrom: earlier@example.com\r\n"
      "Subject: caf\xc3\xa9\r\n"
      "Message-ID-Hash: D4WB4LDA5TFPLDL3SHZL2FNZLHA5EPPC\r\n"
      "X-Message-ID-Hash: D4WB4LDA5TFPLDL3SHZL2FNZLHA5EPPC\r\n"
      "X-MailFrom: \r\n";
  g_byte_array_append(want, (const guint8 *)want_head, sizeof want_head - 1);
  g_byte_array_append(want, body->data, body->len);
  assert_bytes(out, (const char *)want->data, want->len);
  g_assert_cmpstr(id, ==, "<abc@example.com>");

  /* The input is untouched and the body is the same bytes, at the end. */
  gsize out_len = 0;
  const guint8 *out_data = g_bytes_get_data(out, &out_len);
  g_assert_cmpmem(out_data + out_len - body->len, body->len, body->data,
                  body->len);
  g_byte_array_unref(want);
  g_byte_array_unref(body);
}

static void
test_prepare_folded_id(void)
{
  g_autoptr(GBytes) raw =
      BYTES("Subject: x\r\nMessage-ID:\r\n\t<fold@example.com>\r\n\r\nb\r\n");
  g_autofree char *id = NULL;
  g_autoptr(GBytes) out = prepare(raw, "s@example.com", &id);
  static const char want[] =
      "Subject: x\r\nMessage-ID:\r\n\t<fold@example.com>\r\n"
      "Message-ID-Hash: QWBHIQGTJCVYIM5QCCY473F43UGYGAVB\r\n"
      "X-Message-ID-Hash: QWBHIQGTJCVYIM5QCCY473F43UGYGAVB\r\n"
      "X-MailFrom: s@example.com\r\n\r\nb\r\n";

  assert_bytes(out, want, sizeof want - 1);
  g_assert_cmpstr(id, ==, "<fold@example.com>");
}

static void
test_prepare_missing_id(void)
{
  g_autoptr(GBytes) raw = BYTES("Subject: no id\n\nbody\n");
  g_autofree char *id = NULL;
  g_autoptr(GBytes) out = prepare(raw, "s@example.com", &id);

  g_assert_true(g_str_has_suffix(id, "@mm.example.com>"));
  g_autofree char *hash = mm_message_id_hash(id);
  g_autofree char *want = g_strdup_printf(
      "Subject: no id\nMessage-ID: %s\nMessage-ID-Hash: %s\n"
      "X-Message-ID-Hash: %s\nX-MailFrom: s@example.com\n\nbody\n",
      id, hash, hash);
  assert_bytes(out, want, strlen(want));

  /* The added field is what a lookup finds. */
  g_autofree char *found = NULL;
  g_assert_true(mm_message_header_get(out, "message-id", &found));
  g_assert_cmpstr(found, ==, id);

  /* Two intakes of one message get two different Message-IDs. */
  g_autofree char *id2 = NULL;
  g_autoptr(GBytes) out2 = prepare(raw, "s@example.com", &id2);
  g_assert_cmpstr(id, !=, id2);

  /* An unusable host only matters when an ID must be made. */
  GError *error = NULL;
  g_assert_null(
      mm_message_intake_prepare(raw, "s@example.com", "bad host", NULL, &error));
  g_assert_error(error, MM_ERROR, MM_ERROR_INVALID);
  g_clear_error(&error);
  g_autoptr(GBytes) with_id = BYTES("Message-ID: <a@b>\n\nx\n");
  g_autoptr(GBytes) ok = mm_message_intake_prepare(with_id, "s@example.com",
                                                   "bad host", NULL, &error);
  g_assert_no_error(error);
  g_assert_nonnull(ok);
}

/* Messages without a body, without a newline, empty, or body only. */
static void
test_prepare_no_body(void)
{
  static const struct {
    const char *in;
    const char *out; /* HASH: the hash */
  } cases[] = {
      {"Message-ID: <x@y>\nSubject: s\n",
       "Message-ID: <x@y>\nSubject: s\nMessage-ID-Hash: HASH\n"
       "X-Message-ID-Hash: HASH\nX-MailFrom: f@g\n"},
      {"Message-ID: <x@y>\r\nSubject: s",
       "Message-ID: <x@y>\r\nSubject: s\r\nMessage-ID-Hash: HASH\r\n"
       "X-Message-ID-Hash: HASH\r\nX-MailFrom: f@g\r\n"},
      {"Message-ID: <x@y>",
       "Message-ID: <x@y>\nMessage-ID-Hash: HASH\n"
       "X-Message-ID-Hash: HASH\nX-MailFrom: f@g\n"},
      {"Message-ID: <x@y>\n\n",
       "Message-ID: <x@y>\nMessage-ID-Hash: HASH\n"
       "X-Message-ID-Hash: HASH\nX-MailFrom: f@g\n\n"},
  };
  const char *hash = "QMCIBHO7RNQDWGF7TNMLNIHKS5MPDKXZ"; /* x@y */

  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GBytes) raw = bytes_of(cases[i].in, strlen(cases[i].in));
    g_autoptr(GBytes) out = prepare(raw, "f@g", NULL);
    g_auto(GStrv) parts = g_strsplit(cases[i].out, "HASH", -1);
    g_autofree char *want = g_strjoinv(hash, parts);
    assert_bytes(out, want, strlen(want));
  }

  /* Empty message, and a message with no headers at all: fields go first,
   * the body (with its empty line) follows untouched. */
  g_autoptr(GBytes) empty = g_bytes_new(NULL, 0);
  g_autofree char *id = NULL;
  g_autoptr(GBytes) out = prepare(empty, "f@g", &id);
  g_autofree char *h = mm_message_id_hash(id);
  g_autofree char *want = g_strdup_printf(
      "Message-ID: %s\nMessage-ID-Hash: %s\nX-Message-ID-Hash: %s\n"
      "X-MailFrom: f@g\n",
      id, h, h);
  assert_bytes(out, want, strlen(want));

  g_autoptr(GBytes) body_only = BYTES("\r\nonly a body\r\n");
  g_autofree char *id2 = NULL;
  g_autoptr(GBytes) out2 = prepare(body_only, "f@g", &id2);
  g_autofree char *h2 = mm_message_id_hash(id2);
  g_autofree char *want2 = g_strdup_printf(
      "Message-ID: %s\r\nMessage-ID-Hash: %s\r\nX-Message-ID-Hash: %s\r\n"
      "X-MailFrom: f@g\r\n\r\nonly a body\r\n",
      id2, h2, h2);
  assert_bytes(out2, want2, strlen(want2));
}

/* The mbox envelope line goes; a non-field line in the headers gets the
 * empty line Python's re-serialisation would give it. */
static void
test_prepare_odd_headers(void)
{
  g_autoptr(GBytes) raw =
      BYTES("From someone Mon Jan  1 00:00:00 2024\nMessage-ID: <x@y>\n\nb\n");
  g_autoptr(GBytes) out = prepare(raw, "f@g", NULL);
  static const char want[] =
      "Message-ID: <x@y>\nMessage-ID-Hash: QMCIBHO7RNQDWGF7TNMLNIHKS5MPDKXZ\n"
      "X-Message-ID-Hash: QMCIBHO7RNQDWGF7TNMLNIHKS5MPDKXZ\n"
      "X-MailFrom: f@g\n\nb\n";
  assert_bytes(out, want, sizeof want - 1);

  g_autoptr(GBytes) garbage =
      BYTES("Message-ID: <x@y>\nnot a header\nTo: z\n\nb\n");
  g_autoptr(GBytes) out2 = prepare(garbage, "f@g", NULL);
  static const char want2[] =
      "Message-ID: <x@y>\nMessage-ID-Hash: QMCIBHO7RNQDWGF7TNMLNIHKS5MPDKXZ\n"
      "X-Message-ID-Hash: QMCIBHO7RNQDWGF7TNMLNIHKS5MPDKXZ\n"
      "X-MailFrom: f@g\n\nnot a header\nTo: z\n\nb\n";
  assert_bytes(out2, want2, sizeof want2 - 1);
}

static void
test_prepare_bad_sender(void)
{
  g_autoptr(GBytes) raw = BYTES("Message-ID: <x@y>\n\nb\n");
  const char *bad[] = {"a@b\r\nBcc: victim@example.com", "a@b\n", "a\rb"};
  GError *error = NULL;

  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_assert_null(mm_message_intake_prepare(raw, bad[i], NULL, NULL, &error));
    g_assert_error(error, MM_ERROR, MM_ERROR_INVALID);
    g_clear_error(&error);
  }
  g_autofree char *long_sender = g_strnfill(901, 'a');
  g_assert_null(
      mm_message_intake_prepare(raw, long_sender, NULL, NULL, &error));
  g_assert_error(error, MM_ERROR, MM_ERROR_INVALID);
  g_clear_error(&error);
}

static void
test_inject_prepare(void)
{
  GError *error = NULL;
  g_autoptr(GBytes) raw = BYTES("Subject: s\r\n\r\nbody\r\n");
  g_autofree char *id = NULL;
  g_autoptr(GBytes) out =
      mm_message_inject_prepare(raw, "mm.example.com", &id, &error);
  g_assert_no_error(error);
  g_autofree char *hash = mm_message_id_hash(id);
  g_autofree char *date = NULL;
  g_assert_true(mm_message_header_get(out, "Date", &date));
  g_assert_true(g_regex_match_simple(
      "^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-3][0-9] "
      "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
      "[0-2][0-9]:[0-5][0-9]:[0-6][0-9] [+-][0-9]{4}$",
      date, 0, 0));
  g_autofree char *want = g_strdup_printf(
      "Subject: s\r\nMessage-ID: %s\r\nMessage-ID-Hash: %s\r\n"
      "X-Message-ID-Hash: %s\r\nDate: %s\r\n\r\nbody\r\n",
      id, hash, hash, date);
  assert_bytes(out, want, strlen(want));

  /* With Date and Message-ID present: only the hash pair, no X-MailFrom. */
  g_autoptr(GBytes) full =
      BYTES("Date: Mon, 01 Jan 2024 00:00:00 +0000\nMessage-ID: <x@y>\n"
            "X-Message-ID-Hash: stale\n\nb\n");
  g_autoptr(GBytes) out2 = mm_message_inject_prepare(full, NULL, NULL, &error);
  g_assert_no_error(error);
  static const char want2[] =
      "Date: Mon, 01 Jan 2024 00:00:00 +0000\nMessage-ID: <x@y>\n"
      "Message-ID-Hash: QMCIBHO7RNQDWGF7TNMLNIHKS5MPDKXZ\n"
      "X-Message-ID-Hash: QMCIBHO7RNQDWGF7TNMLNIHKS5MPDKXZ\n\nb\n";
  assert_bytes(out2, want2, sizeof want2 - 1);
}

/* ---- header lookup ---- */

static void
test_header_get(void)
{
  g_autoptr(GBytes) raw =
      BYTES("Subject: first\r\n  folded\tpart \r\nsubject: second\r\n"
            "X-Empty:\r\nX-Spaces:   \t \r\nTo:x\r\n\r\nNot-A-Header: body\r\n");
  char *value = NULL;

  g_assert_true(mm_message_header_get(raw, "SUBJECT", &value));
  g_assert_cmpstr(value, ==, "first  folded\tpart");
  g_clear_pointer(&value, g_free);
  g_assert_true(mm_message_header_get(raw, "x-empty", &value));
  g_assert_cmpstr(value, ==, "");
  g_clear_pointer(&value, g_free);
  g_assert_true(mm_message_header_get(raw, "X-Spaces", &value));
  g_assert_cmpstr(value, ==, "");
  g_clear_pointer(&value, g_free);
  g_assert_true(mm_message_header_get(raw, "to", &value));
  g_assert_cmpstr(value, ==, "x");
  g_clear_pointer(&value, g_free);
  g_assert_true(mm_message_header_get(raw, "To", NULL));

  g_assert_false(mm_message_header_get(raw, "Not-A-Header", &value));
  g_assert_false(mm_message_header_get(raw, "Subj", &value));
  g_assert_false(mm_message_header_get(raw, "Subject:", &value));
  g_assert_null(value);

  /* After a non-field line the headers have ended, as in Python. */
  g_autoptr(GBytes) garbage = BYTES("A: 1\nnot a header\nB: 2\n");
  g_assert_true(mm_message_header_get(garbage, "A", NULL));
  g_assert_false(mm_message_header_get(garbage, "B", NULL));

  /* No separator, last line without newline. */
  g_autoptr(GBytes) bare = BYTES("A: 1\nB: two");
  g_assert_true(mm_message_header_get(bare, "b", &value));
  g_assert_cmpstr(value, ==, "two");
  g_clear_pointer(&value, g_free);

  g_autoptr(GBytes) empty = g_bytes_new(NULL, 0);
  g_assert_false(mm_message_header_get(empty, "A", NULL));
}

/* ---- defects ---- */

static void
test_defects(void)
{
  /* "defect" answers come from Python 3.11's email.message_from_bytes(),
   * except the NUL case, which is our rule. */
  static const struct {
    const char *name;
    const char *data;
    gsize len;
    gboolean defect;
  } cases[] = {
#define CASE(name, literal, defect) {name, literal, sizeof(literal) - 1, defect}
      CASE("ok", "Subject: x\n\nbody\n", FALSE),
      CASE("headers only", "Subject: x\nFrom: a@b\n", FALSE),
      CASE("headers only, no newline", "Subject: x", FALSE),
      CASE("empty", "", FALSE),
      CASE("body only", "\nbody\n", FALSE),
      CASE("crlf", "Subject: x\r\n folded\r\n\r\nbody\r\n", FALSE),
      CASE("whitespace-only line is a continuation",
           "Subject: x\n \nTo: y\n\nbody\n", FALSE),
      CASE("8-bit value", "Subject: caf\xc3\xa9\n\nbody\n", FALSE),
      CASE("first line continuation", " Subject: x\n\nbody\n", TRUE),
      CASE("garbage line", "Subject: x\nthis is not a header\n\nbody\n", TRUE),
      CASE("space before colon", "Subject : x\n\nbody\n", TRUE),
      CASE("8-bit name", "Sub\xe9ject: x\n\nbody\n", TRUE),
      CASE("empty name", ": x\nSubject: y\n\nbody\n", TRUE),
      CASE("misplaced From", "Subject: x\nFrom foo\nTo: y\n\nbody\n", TRUE),
      CASE("unix From", "From foo@bar Mon Jan 1\nSubject: x\n\nbody\n", FALSE),
      CASE("continuation after unix From",
           "From foo@bar Mon Jan 1\n cont\nSubject: x\n\nbody\n", TRUE),
      CASE("NUL in a header", "Subject: a\0b\n\nbody\n", TRUE),
      CASE("NUL in the body", "Subject: ab\n\nbo\0dy\n", FALSE),
      CASE("multipart ok",
           "Content-Type: multipart/mixed; boundary=\"XX\"\n\npre\n--XX\n"
           "Content-Type: text/plain\n\nhi\n--XX--\n",
           FALSE),
      CASE("multipart without boundary",
           "Content-Type: multipart/mixed\n\nbody\n", TRUE),
      CASE("multipart without start",
           "Content-Type: multipart/mixed; boundary=XX\n\nbody\n", TRUE),
      CASE("multipart close before start",
           "Content-Type: multipart/mixed; boundary=XX\n\nbody\n--XX--\n",
           TRUE),
      CASE("multipart without close",
           "Content-Type: multipart/mixed; boundary=XX\n\n--XX\n\nhi\n", TRUE),
      CASE("multipart base64",
           "Content-Type: multipart/mixed; boundary=XX\n"
           "Content-Transfer-Encoding: base64\n\n--XX\n\nhi\n--XX--\n",
           TRUE),
      CASE("multipart CTE with a trailing space",
           "Content-Type: multipart/mixed; boundary=XX\n"
           "Content-Transfer-Encoding: 7bit \n\n--XX\n\nhi\n--XX--\n",
           TRUE),
      CASE("multipart CTE upper case",
           "Content-Type: multipart/mixed; boundary=XX\n"
           "Content-Transfer-Encoding: 7BIT\n\n--XX\n\nhi\n--XX--\n",
           FALSE),
      CASE("multipart folded, CRLF, spaces after boundaries",
           "Content-Type: multipart/alternative;\r\n\tboundary=\"=_b 1\"\r\n"
           "\r\n--=_b 1 \r\n\r\nhi\r\n--=_b 1--  \r\n",
           FALSE),
      CASE("nested multipart defects are not top-level",
           "Content-Type: multipart/mixed; boundary=A\n\n--A\n"
           "Content-Type: multipart/alternative; boundary=B\n\n--B\n\nx\n"
           "--A--\n",
           FALSE),
      CASE("multipart headers only",
           "Content-Type: multipart/mixed; boundary=A\n", TRUE),
      CASE("multipart without subtype", "Content-Type: multipart\n\nbody\n",
           FALSE),
#undef CASE
  };

  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GBytes) raw = bytes_of(cases[i].data, cases[i].len);
    g_autofree char *reason = NULL;
    gboolean ok = mm_message_defects_check(raw, &reason);
    if (ok == cases[i].defect)
      g_error("case \"%s\": expected %s, got %s (%s)", cases[i].name,
              cases[i].defect ? "a defect" : "no defect",
              ok ? "none" : "a defect", reason != NULL ? reason : "-");
    g_assert_true(ok == (reason == NULL));
    g_assert_true(mm_message_defects_check(raw, NULL) == ok);
  }
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/message/id-hash-vectors", test_id_hash_vectors);
  g_test_add_func("/message/id-new", test_id_new);
  g_test_add_func("/message/prepare-lf", test_prepare_lf);
  g_test_add_func("/message/prepare-crlf-binary", test_prepare_crlf_binary);
  g_test_add_func("/message/prepare-folded-id", test_prepare_folded_id);
  g_test_add_func("/message/prepare-missing-id", test_prepare_missing_id);
  g_test_add_func("/message/prepare-no-body", test_prepare_no_body);
  g_test_add_func("/message/prepare-odd-headers", test_prepare_odd_headers);
  g_test_add_func("/message/prepare-bad-sender", test_prepare_bad_sender);
  g_test_add_func("/message/inject-prepare", test_inject_prepare);
  g_test_add_func("/message/header-get", test_header_get);
  g_test_add_func("/message/defects", test_defects);
  return g_test_run();
}
