/* Strategy and wire form: Mailman's chunking, the VERP decision and
 * sender, $-templates, refusal codes, CRLF and dot stuffing, header edits.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "delivery-private.h"

#include <string.h>

/* Chunks of @addresses as "a,b|c,d". */
static char *
chunks_text(const char *const *addresses, guint max)
{
  guint n = g_strv_length((char **)addresses);
  g_autofree guint *indexes = g_new(guint, n);
  for (guint i = 0; i < n; i++)
    indexes[i] = i;
  g_autoptr(GPtrArray) chunks = mm_delivery_chunk(addresses, indexes, n, max);
  GString *out = g_string_new(NULL);
  for (guint c = 0; c < chunks->len; c++) {
    GArray *chunk = chunks->pdata[c];
    if (c > 0)
      g_string_append_c(out, '|');
    for (guint i = 0; i < chunk->len; i++)
      g_string_append_printf(out, i ? ",%s" : "%s",
                             addresses[g_array_index(chunk, guint, i)]);
  }
  return g_string_free(out, FALSE);
}

static void
test_chunk_buckets(void)
{
  /* Mailman's bulk.py test: buckets com (1), net/org (2), edu/us/ca (3),
   * rest (0); largest bucket first, each bucket its own chunk(s). */
  const char *const addresses[] = {
      "a@x.com", "b@y.org", "c@z.de", "d@w.com", "e@v.net", "f@u.edu",
      "g@t.com", NULL};
  g_autofree char *text = chunks_text(addresses, 2);
  /* com (3): two chunks, by domain; net/org (2); the de and the edu
   * buckets have one each, in order of first appearance. */
  g_assert_cmpstr(text, ==, "g@t.com,d@w.com|a@x.com|e@v.net,b@y.org|"
                            "c@z.de|f@u.edu");
}

static void
test_chunk_domains_grouped(void)
{
  const char *const addresses[] = {"z@b.example.com", "a@a.example.com",
                                   "m@b.example.com", "b@a.example.com",
                                   "c@example.com",   NULL};
  g_autofree char *text = chunks_text(addresses, 0);
  g_assert_cmpstr(text, ==, "c@example.com,a@a.example.com,b@a.example.com,"
                            "m@b.example.com,z@b.example.com");
  g_autofree char *three = chunks_text(addresses, 3);
  g_assert_cmpstr(three, ==, "c@example.com,a@a.example.com,b@a.example.com|"
                             "m@b.example.com,z@b.example.com");
}

static void
test_chunk_sizes(void)
{
  enum { N = 1234 };
  g_autoptr(GPtrArray) owned = g_ptr_array_new_with_free_func(g_free);
  const char **addresses = g_new0(const char *, N + 1);
  static const char *const tlds[] = {"com", "org", "net", "de", "edu", "fr"};
  for (guint i = 0; i < N; i++) {
    char *a = g_strdup_printf("user%u@host%u.%s", i, i % 17, tlds[i % 6]);
    g_ptr_array_add(owned, a);
    addresses[i] = a;
  }
  g_autofree guint *indexes = g_new(guint, N);
  for (guint i = 0; i < N; i++)
    indexes[i] = i;
  for (guint max = 0; max <= 500; max += 100) {
    g_autoptr(GPtrArray) chunks =
        mm_delivery_chunk(addresses, indexes, N, max);
    g_autofree gboolean *seen = g_new0(gboolean, N);
    guint total = 0;
    for (guint c = 0; c < chunks->len; c++) {
      GArray *chunk = chunks->pdata[c];
      g_assert_cmpuint(chunk->len, >, 0);
      if (max > 0)
        g_assert_cmpuint(chunk->len, <=, max);
      for (guint i = 0; i < chunk->len; i++) {
        guint idx = g_array_index(chunk, guint, i);
        g_assert_false(seen[idx]);
        seen[idx] = TRUE;
        total++;
      }
    }
    g_assert_cmpuint(total, ==, N);
    if (max == 0)
      g_assert_cmpuint(chunks->len, ==, 1);
  }
  g_free(addresses);
}

static void
test_expand(void)
{
  g_autoptr(GHashTable) vars =
      g_hash_table_new_full(g_str_hash, g_str_equal, NULL, NULL);
  g_hash_table_insert(vars, "bounces", "list-bounces");
  g_hash_table_insert(vars, "local", "anne");
  g_hash_table_insert(vars, "domain", "example.org");
  static const struct {
    const char *in, *out;
  } cases[] = {
      {"${bounces}+${local}=${domain}", "list-bounces+anne=example.org"},
      {"$bounces+$local=$domain", "list-bounces+anne=example.org"},
      {"$$bounces", "$bounces"},
      {"$unknown and ${unknown}", "$unknown and ${unknown}"},
      {"${bounces", "${bounces"},
      {"cost $5", "cost $5"},
      {"end $", "end $"},
      {"$localpart", "$localpart"}, /* the longest identifier counts */
      {"${local}part", "annepart"},
      {"", ""},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *out = mm_delivery_expand(cases[i].in, vars);
    g_assert_cmpstr(out, ==, cases[i].out);
  }
}

static void
test_verp_sender(void)
{
  const char *format = "${bounces}+${local}=${domain}";
  g_autofree char *a = mm_delivery_verp_sender(
      format, NULL, "test-bounces@example.com", "anne@example.org");
  g_assert_cmpstr(a, ==, "test-bounces+anne=example.org@example.com");
  /* No domain on either side: Mailman sends un-VERPed. */
  g_assert_null(mm_delivery_verp_sender(format, NULL, "test-bounces@x",
                                        "anne"));
  g_assert_null(
      mm_delivery_verp_sender(format, NULL, "bounces", "anne@example.org"));
  /* The recipient's domain overrides a list variable of that name. */
  g_autoptr(GHashTable) vars =
      g_hash_table_new_full(g_str_hash, g_str_equal, NULL, NULL);
  g_hash_table_insert(vars, "domain", "list.example");
  g_hash_table_insert(vars, "list_id", "test.example.com");
  g_autofree char *b = mm_delivery_verp_sender("$list_id.$local.$domain",
                                               vars, "x@example.com",
                                               "bob@b.example");
  g_assert_cmpstr(b, ==, "test.example.com.bob.b.example@example.com");
}

static void
test_choose_verp(void)
{
  json_t *meta = json_object();
  /* Interval 0: never, and the decision is written. */
  g_assert_false(mm_delivery_choose_verp(meta, FALSE, FALSE, 0, 7));
  g_assert_true(json_is_false(json_object_get(meta, "verp")));
  /* An existing decision wins. */
  json_object_set_new(meta, "verp", json_true());
  g_assert_true(mm_delivery_choose_verp(meta, FALSE, FALSE, 0, 7));
  json_object_set_new(meta, "verp", json_string("yes"));
  g_assert_true(mm_delivery_choose_verp(meta, FALSE, FALSE, 0, 7));
  json_object_set_new(meta, "verp", json_string("no"));
  g_assert_false(mm_delivery_choose_verp(meta, FALSE, FALSE, 1, 7));
  json_object_clear(meta);
  g_assert_true(mm_delivery_choose_verp(meta, FALSE, FALSE, 1, 7));
  json_object_clear(meta);
  g_assert_false(mm_delivery_choose_verp(meta, FALSE, FALSE, 3, 7));
  json_object_clear(meta);
  g_assert_true(mm_delivery_choose_verp(meta, FALSE, FALSE, 3, 9));
  json_object_clear(meta);
  /* Personalized: VERP iff verp_personalized_deliveries; interval
   * ignored; "no" is not written (Mailman leaves the key unset). */
  g_assert_false(mm_delivery_choose_verp(meta, TRUE, FALSE, 1, 7));
  g_assert_null(json_object_get(meta, "verp"));
  g_assert_true(mm_delivery_choose_verp(meta, TRUE, TRUE, 0, 7));
  json_decref(meta);
}

static void
test_codes(void)
{
  g_assert_true(mm_delivery_code_is_permanent(550));
  g_assert_true(mm_delivery_code_is_permanent(554));
  g_assert_true(mm_delivery_code_is_permanent(553));
  g_assert_false(mm_delivery_code_is_permanent(552)); /* RFC 5321 4.5.3.1.10 */
  g_assert_false(mm_delivery_code_is_permanent(450));
  g_assert_false(mm_delivery_code_is_permanent(421));
  g_assert_false(mm_delivery_code_is_permanent(444));
}

static char *
encode_text(const char *in, gboolean terminate)
{
  g_autoptr(GBytes) out = mm_wire_encode(in, strlen(in), terminate);
  return g_strndup(g_bytes_get_data(out, NULL), g_bytes_get_size(out));
}

static void
test_encode(void)
{
  static const struct {
    const char *in, *out;
    gboolean terminate;
  } cases[] = {
      {"a\nb\n", "a\r\nb\r\n", TRUE},
      {"a\r\nb\r\n", "a\r\nb\r\n", TRUE},
      {"a\nb", "a\r\nb\r\n", TRUE},
      {"a\nb", "a\r\nb", FALSE},
      {".\n", "..\r\n", TRUE},
      {".a\n..b\nc.\n", "..a\r\n...b\r\nc.\r\n", TRUE},
      {"x\n.\r\n.", "x\r\n..\r\n..\r\n", TRUE},
      {"bare\rcr\n", "bare\rcr\r\n", TRUE},
      {"", "", TRUE},
      {"\n\n", "\r\n\r\n", TRUE},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *out = encode_text(cases[i].in, cases[i].terminate);
    g_assert_cmpstr(out, ==, cases[i].out);
  }
}

static char *
text_of(GBytes *bytes)
{
  return g_strndup(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
}

static void
test_split(void)
{
  static const struct {
    const char *in, *head, *body;
  } cases[] = {
      {"A: 1\nB: 2\n\nbody\n", "A: 1\nB: 2\n\n", "body\n"},
      {"A: 1\r\n\r\nbody\r\n", "A: 1\r\n\r\n", "body\r\n"},
      {"A: 1\n", "A: 1\n", ""},
      {"A: 1", "A: 1", ""},
      {"\nbody", "\n", "body"},
      {"A: 1\n x\n\n\n", "A: 1\n x\n\n", "\n"},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GBytes) raw = g_bytes_new_static(cases[i].in,
                                               strlen(cases[i].in));
    g_autoptr(GBytes) head = NULL;
    g_autoptr(GBytes) body = NULL;
    mm_wire_split(raw, &head, &body);
    g_autofree char *h = text_of(head);
    g_autofree char *b = text_of(body);
    g_assert_cmpstr(h, ==, cases[i].head);
    g_assert_cmpstr(b, ==, cases[i].body);
  }
}

static void
test_header_edits(void)
{
  const char *in = "From: a@x\nTo: list@x,\n  other@y\nX-Mailman-Copy: no\n"
                   "Subject: s\nx-mailman-copy: again\n\n";
  g_autoptr(GBytes) head = g_bytes_new_static(in, strlen(in));

  g_autoptr(GBytes) removed = mm_wire_header_remove(head, "X-Mailman-Copy");
  g_autofree char *r = text_of(removed);
  g_assert_cmpstr(r, ==, "From: a@x\nTo: list@x,\n  other@y\nSubject: s\n\n");

  g_autoptr(GBytes) replaced = mm_wire_header_replace(removed, "To", "anne@y");
  g_autofree char *p = text_of(replaced);
  g_assert_cmpstr(p, ==, "From: a@x\nTo: anne@y\nSubject: s\n\n");

  g_autoptr(GBytes) appended =
      mm_wire_header_append(replaced, "X-Mailman-Copy", "yes");
  g_autofree char *a = text_of(appended);
  g_assert_cmpstr(a, ==,
                  "From: a@x\nTo: anne@y\nSubject: s\nX-Mailman-Copy: yes\n\n");

  /* No To: at all: replace appends; CRLF blocks keep CRLF. */
  const char *crlf = "From: a@x\r\nSubject: s\r\n\r\n";
  g_autoptr(GBytes) h2 = g_bytes_new_static(crlf, strlen(crlf));
  g_autoptr(GBytes) to = mm_wire_header_replace(h2, "To", "bob@z");
  g_autofree char *t = text_of(to);
  g_assert_cmpstr(t, ==, "From: a@x\r\nSubject: s\r\nTo: bob@z\r\n\r\n");

  /* A message that is all header, last line without a line end. */
  const char *bare = "From: a@x";
  g_autoptr(GBytes) h3 = g_bytes_new_static(bare, strlen(bare));
  g_autoptr(GBytes) more = mm_wire_header_append(h3, "X-A", "1");
  g_autofree char *m = text_of(more);
  g_assert_cmpstr(m, ==, "From: a@x\nX-A: 1\n");

  /* Only the first To is replaced, keeping its name as written (Python's
   * replace_header). */
  const char *two = "TO: a\nTo: b\n\n";
  g_autoptr(GBytes) h4 = g_bytes_new_static(two, strlen(two));
  g_autoptr(GBytes) once = mm_wire_header_replace(h4, "to", "c");
  g_autofree char *o = text_of(once);
  g_assert_cmpstr(o, ==, "TO: c\nTo: b\n\n");
}

static void
test_8bit(void)
{
  g_autoptr(GBytes) ascii = g_bytes_new_static("plain\n", 6);
  g_autoptr(GBytes) latin = g_bytes_new_static("caf\xc3\xa9\n", 6);
  g_assert_false(mm_wire_is_8bit(ascii));
  g_assert_true(mm_wire_is_8bit(latin));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/delivery/plan/chunk-buckets", test_chunk_buckets);
  g_test_add_func("/delivery/plan/chunk-domains", test_chunk_domains_grouped);
  g_test_add_func("/delivery/plan/chunk-sizes", test_chunk_sizes);
  g_test_add_func("/delivery/plan/expand", test_expand);
  g_test_add_func("/delivery/plan/verp-sender", test_verp_sender);
  g_test_add_func("/delivery/plan/choose-verp", test_choose_verp);
  g_test_add_func("/delivery/plan/codes", test_codes);
  g_test_add_func("/delivery/wire/encode", test_encode);
  g_test_add_func("/delivery/wire/split", test_split);
  g_test_add_func("/delivery/wire/header-edits", test_header_edits);
  g_test_add_func("/delivery/wire/8bit", test_8bit);
  return g_test_run();
}
