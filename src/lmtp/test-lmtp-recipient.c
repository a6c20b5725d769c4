/* Unit tests of recipient parsing and resolution (Mailman's
 * split_recipient() and RCPT logic, implemented once in src/mta/ and
 * reached here through the LMTP adapter) against an in-memory directory,
 * the queue and metadata per route, and the intake judgement of MIME
 * boundaries.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "lmtp-private.h"

#include "base-error.h"

#include <string.h>

/* ---- Splitting --------------------------------------------------------- */

typedef struct {
  const char *address;
  const char *delimiter;
  gboolean ok;
  const char *local;
  const char *listname;
  const char *suffix;
  MmLmtpSubaddress sub;
  const char *domain;
} SplitCase;

/* Parsing itself is src/mta/'s and tested there case by case
 * (test-mta-recipient.c); these check what the LMTP adapter adds: every
 * subaddress word mapped to its MmLmtpSubaddress, the fields carried over,
 * and a refusal passed on as MM_ERROR_INVALID. */
static const SplitCase split_cases[] = {
    {"MyList@Example.COM", "+", TRUE, "mylist", "mylist", NULL,
     MM_LMTP_SUB_NONE, "example.com"},
    {"l-request@example.com", "+", TRUE, "l-request", "l", "request",
     MM_LMTP_SUB_REQUEST, "example.com"},
    {"l-bounces+x=y.example@example.com", "+", TRUE, "l-bounces", "l",
     "bounces", MM_LMTP_SUB_BOUNCES, "example.com"},
    {"l-confirm+0123abcd@example.com", "+", TRUE, "l-confirm", "l", "confirm",
     MM_LMTP_SUB_CONFIRM, "example.com"},
    {"l-subscribe@example.com", "+", TRUE, "l-subscribe", "l", "subscribe",
     MM_LMTP_SUB_JOIN, "example.com"},
    {"l-unsubscribe@example.com", "+", TRUE, "l-unsubscribe", "l",
     "unsubscribe", MM_LMTP_SUB_LEAVE, "example.com"},
    {"l-join@example.com", "+", TRUE, "l-join", "l", "join", MM_LMTP_SUB_JOIN,
     "example.com"},
    {"l-leave@example.com", "+", TRUE, "l-leave", "l", "leave",
     MM_LMTP_SUB_LEAVE, "example.com"},
    {"l-owner@example.com", "+", TRUE, "l-owner", "l", "owner",
     MM_LMTP_SUB_OWNER, "example.com"},
    {"l-bogus@example.com", "+", TRUE, "l-bogus", "l-bogus", NULL,
     MM_LMTP_SUB_NONE, "example.com"},
    {"a b@example.com", "+", FALSE},
};

static void
test_split(void)
{
  for (gsize i = 0; i < G_N_ELEMENTS(split_cases); i++) {
    const SplitCase *c = &split_cases[i];
    g_test_message("split %s", c->address);
    MmLmtpAddress parts;
    g_autoptr(GError) error = NULL;
    gboolean ok = mm_lmtp_address_split(c->address, c->delimiter, &parts,
                                        &error);
    g_assert_cmpint(ok, ==, c->ok);
    if (!ok) {
      g_assert_error(error, MM_ERROR, MM_ERROR_INVALID);
      continue;
    }
    g_assert_no_error(error);
    g_assert_cmpstr(parts.local, ==, c->local);
    g_assert_cmpstr(parts.listname, ==, c->listname);
    g_assert_cmpstr(parts.suffix, ==, c->suffix);
    g_assert_cmpint(parts.subaddress, ==, c->sub);
    g_assert_cmpstr(parts.domain, ==, c->domain);
    mm_lmtp_address_clear(&parts);
  }
}

static void
test_subaddress_tables(void)
{
  g_assert_cmpstr(mm_lmtp_subaddress_queue(MM_LMTP_SUB_NONE), ==, "in");
  g_assert_cmpstr(mm_lmtp_subaddress_queue(MM_LMTP_SUB_OWNER), ==, "in");
  g_assert_cmpstr(mm_lmtp_subaddress_queue(MM_LMTP_SUB_BOUNCES), ==,
                  "bounces");
  g_assert_cmpstr(mm_lmtp_subaddress_queue(MM_LMTP_SUB_CONFIRM), ==,
                  "command");
  g_assert_cmpstr(mm_lmtp_subaddress_queue(MM_LMTP_SUB_JOIN), ==, "command");
  g_assert_cmpstr(mm_lmtp_subaddress_queue(MM_LMTP_SUB_LEAVE), ==, "command");
  g_assert_cmpstr(mm_lmtp_subaddress_queue(MM_LMTP_SUB_REQUEST), ==,
                  "command");
  g_assert_cmpint(mm_lmtp_subaddress_parse("Owner"), ==, MM_LMTP_SUB_NONE);
  g_assert_cmpint(mm_lmtp_subaddress_parse("admin"), ==, MM_LMTP_SUB_NONE);
}

/* ---- Resolution against a fake directory ------------------------------ */

typedef struct {
  GHashTable *lists;   /* fqdn -> list id */
  GHashTable *aliases; /* alias domain -> mail_host */
  gboolean fail;       /* every lookup fails */
  guint lookups;
} FakeDirectory;

static gboolean
fake_alias_host(gpointer data, const char *domain, char **host_out,
                GError **error)
{
  FakeDirectory *fake = data;
  fake->lookups++;
  if (fake->fail) {
    g_set_error(error, MM_ERROR, MM_ERROR_IO, "database is locked");
    return FALSE;
  }
  *host_out = g_strdup(g_hash_table_lookup(fake->aliases, domain));
  return TRUE;
}

static gboolean
fake_list_find(gpointer data, const char *fqdn, char **list_id_out,
               GError **error)
{
  FakeDirectory *fake = data;
  fake->lookups++;
  /* Resolution must only ask with folded, validated names. */
  g_autofree char *lower = g_ascii_strdown(fqdn, -1);
  g_assert_cmpstr(lower, ==, fqdn);
  *list_id_out = g_strdup(g_hash_table_lookup(fake->lists, fqdn));
  return TRUE;
}

static void
fake_init(FakeDirectory *fake)
{
  memset(fake, 0, sizeof *fake);
  fake->lists = g_hash_table_new(g_str_hash, g_str_equal);
  fake->aliases = g_hash_table_new(g_str_hash, g_str_equal);
  g_hash_table_insert(fake->lists, "foo@example.com", "foo.example.com");
  g_hash_table_insert(fake->lists, "foo-owner@example.com",
                      "foo-owner.example.com");
  g_hash_table_insert(fake->lists, "bar@example.com", "bar.example.com");
  g_hash_table_insert(fake->lists, "bar@other.example", "bar.other.example");
  g_hash_table_insert(fake->aliases, "alias.example", "example.com");
}

static void
fake_clear(FakeDirectory *fake)
{
  g_hash_table_unref(fake->lists);
  g_hash_table_unref(fake->aliases);
}

typedef struct {
  const char *address;
  const char *list_id; /* NULL: refused */
  MmLmtpSubaddress sub;
  const char *queue;
  int error; /* MM_ERROR code when refused */
} ResolveCase;

static const ResolveCase resolve_cases[] = {
    {"foo@example.com", "foo.example.com", MM_LMTP_SUB_NONE, "in"},
    {"FOO@EXAMPLE.COM", "foo.example.com", MM_LMTP_SUB_NONE, "in"},
    {"foo+anything@example.com", "foo.example.com", MM_LMTP_SUB_NONE, "in"},
    {"foo-bounces@example.com", "foo.example.com", MM_LMTP_SUB_BOUNCES,
     "bounces"},
    {"foo-bounces+member=host.example@example.com", "foo.example.com",
     MM_LMTP_SUB_BOUNCES, "bounces"},
    {"foo-confirm+f00dcafe@example.com", "foo.example.com",
     MM_LMTP_SUB_CONFIRM, "command"},
    {"foo-join@example.com", "foo.example.com", MM_LMTP_SUB_JOIN, "command"},
    {"foo-subscribe@example.com", "foo.example.com", MM_LMTP_SUB_JOIN,
     "command"},
    {"foo-leave@example.com", "foo.example.com", MM_LMTP_SUB_LEAVE, "command"},
    {"foo-unsubscribe@example.com", "foo.example.com", MM_LMTP_SUB_LEAVE,
     "command"},
    {"foo-request@example.com", "foo.example.com", MM_LMTP_SUB_REQUEST,
     "command"},
    /* A list named foo-owner takes foo-owner@; bar's owner is bar's. */
    {"foo-owner@example.com", "foo-owner.example.com", MM_LMTP_SUB_NONE, "in"},
    {"foo-owner-bounces@example.com", "foo-owner.example.com",
     MM_LMTP_SUB_BOUNCES, "bounces"},
    {"bar-owner@example.com", "bar.example.com", MM_LMTP_SUB_OWNER, "in"},
    {"Bar-Owner@Other.Example", "bar.other.example", MM_LMTP_SUB_OWNER, "in"},
    /* Alias domain -> its mail_host. */
    {"foo@alias.example", "foo.example.com", MM_LMTP_SUB_NONE, "in"},
    {"foo-request@ALIAS.example", "foo.example.com", MM_LMTP_SUB_REQUEST,
     "command"},
    {"bar@alias.example", "bar.example.com", MM_LMTP_SUB_NONE, "in"},
    /* Refused. */
    {"nosuch@example.com", NULL, 0, NULL, MM_ERROR_NOT_FOUND},
    {"foo-bogus@example.com", NULL, 0, NULL, MM_ERROR_NOT_FOUND},
    {"foo@other.example", NULL, 0, NULL, MM_ERROR_NOT_FOUND},
    {"foo@unknown.example", NULL, 0, NULL, MM_ERROR_NOT_FOUND},
    {"baz@alias.example", NULL, 0, NULL, MM_ERROR_NOT_FOUND},
    {"foo", NULL, 0, NULL, MM_ERROR_INVALID},
    {"foo@bad_domain", NULL, 0, NULL, MM_ERROR_INVALID},
    {"foo@-bad.example", NULL, 0, NULL, MM_ERROR_INVALID},
    /* '/' and '%' are not in listname_chars: never looked up. */
    {"../etc@example.com", NULL, 0, NULL, MM_ERROR_NOT_FOUND},
    {"fo%o@example.com", NULL, 0, NULL, MM_ERROR_NOT_FOUND},
};

static void
test_resolve(void)
{
  FakeDirectory fake;
  fake_init(&fake);
  const MmLmtpDirectory directory = {fake_alias_host, fake_list_find, &fake};

  for (gsize i = 0; i < G_N_ELEMENTS(resolve_cases); i++) {
    const ResolveCase *c = &resolve_cases[i];
    g_test_message("resolve %s", c->address);
    g_autoptr(GError) error = NULL;
    g_autoptr(MmLmtpRecipient) recipient = mm_lmtp_recipient_resolve(
        c->address, "+", "[-_.0-9a-z]", &directory, &error);
    if (c->list_id == NULL) {
      g_assert_null(recipient);
      g_assert_error(error, MM_ERROR, c->error);
      g_assert_cmpint(mm_lmtp_reply_for_recipient_error(error), ==,
                      MM_LMTP_REPLY_NO_SUCH_LIST);
      continue;
    }
    g_assert_no_error(error);
    g_assert_nonnull(recipient);
    g_assert_cmpstr(recipient->list_id, ==, c->list_id);
    g_assert_cmpint(recipient->subaddress, ==, c->sub);
    g_assert_cmpstr(mm_lmtp_recipient_queue(recipient), ==, c->queue);
  }
  fake_clear(&fake);
}

static void
test_resolve_lookup_failure(void)
{
  FakeDirectory fake;
  fake_init(&fake);
  fake.fail = TRUE;
  const MmLmtpDirectory directory = {fake_alias_host, fake_list_find, &fake};
  g_autoptr(GError) error = NULL;
  g_autoptr(MmLmtpRecipient) recipient = mm_lmtp_recipient_resolve(
      "foo@example.com", "+", "[-_.0-9a-z]", &directory, &error);
  g_assert_null(recipient);
  g_assert_error(error, MM_ERROR, MM_ERROR_IO);
  /* Our trouble: the MTA must retry, not bounce. */
  g_assert_cmpint(mm_lmtp_reply_for_recipient_error(error), ==,
                  MM_LMTP_REPLY_LOCAL_ERROR);
  fake_clear(&fake);
}

/* ---- Metadata ----------------------------------------------------------- */

static json_t *
meta_for(const char *address)
{
  FakeDirectory fake;
  fake_init(&fake);
  const MmLmtpDirectory directory = {fake_alias_host, fake_list_find, &fake};
  g_autoptr(GError) error = NULL;
  g_autoptr(MmLmtpRecipient) recipient = mm_lmtp_recipient_resolve(
      address, "+", "[-_.0-9a-z]", &directory, &error);
  g_assert_no_error(error);
  json_t *meta = mm_lmtp_recipient_meta(recipient, 1234,
                                        "2024-01-02T03:04:05.000006",
                                        "site@example.org");
  fake_clear(&fake);
  return meta;
}

static char *
meta_text(json_t *meta)
{
  char *dumped = json_dumps(meta, JSON_SORT_KEYS | JSON_COMPACT);
  char *copy = g_strdup(dumped);
  free(dumped);
  json_decref(meta);
  return copy;
}

static void
test_meta(void)
{
  static const struct {
    const char *address;
    const char *json;
  } expected[] = {
      {"foo@example.com",
       "{\"listid\":\"foo.example.com\",\"original_size\":1234,"
       "\"received_time\":\"2024-01-02T03:04:05.000006\",\"to_list\":true}"},
      {"foo-request@example.com",
       "{\"listid\":\"foo.example.com\",\"original_size\":1234,"
       "\"received_time\":\"2024-01-02T03:04:05.000006\","
       "\"subaddress\":\"request\",\"to_request\":true}"},
      {"bar-owner@example.com",
       "{\"envsender\":\"site@example.org\",\"listid\":\"bar.example.com\","
       "\"original_size\":1234,"
       "\"received_time\":\"2024-01-02T03:04:05.000006\","
       "\"subaddress\":\"owner\",\"to_owner\":true}"},
      {"foo-subscribe@example.com",
       "{\"listid\":\"foo.example.com\",\"original_size\":1234,"
       "\"received_time\":\"2024-01-02T03:04:05.000006\","
       "\"subaddress\":\"join\"}"},
      {"foo-bounces+x=y.example@example.com",
       "{\"listid\":\"foo.example.com\",\"original_size\":1234,"
       "\"received_time\":\"2024-01-02T03:04:05.000006\","
       "\"subaddress\":\"bounces\"}"},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(expected); i++) {
    g_autofree char *text = meta_text(meta_for(expected[i].address));
    g_assert_cmpstr(text, ==, expected[i].json);
  }
}

/* ---- Intake: MIME boundaries ------------------------------------------- */

static void
test_boundary_param(void)
{
  static const struct {
    const char *content_type;
    const char *boundary;
  } cases[] = {
      {"multipart/mixed; boundary=abc", "abc"},
      {"multipart/mixed; BOUNDARY=\"a b;c\"", "a b;c"},
      {"multipart/mixed;charset=x;boundary=\"q\\\"x\"", "q\"x"},
      {"multipart/mixed; boundary = abc ; x=y", "abc"},
      {"multipart/mixed; xboundary=abc", NULL},
      {"multipart/mixed", NULL},
      {"multipart/mixed; boundary=", NULL},
      {"multipart/mixed; boundary=\"\"", NULL},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *got = mm_lmtp_content_type_boundary(cases[i].content_type);
    g_assert_cmpstr(got, ==, cases[i].boundary);
  }
}

static gboolean
acceptable(const char *text)
{
  g_autoptr(GBytes) raw = g_bytes_new(text, strlen(text));
  g_autofree char *reason = NULL;
  gboolean ok = mm_lmtp_message_acceptable(raw, &reason);
  if (!ok)
    g_assert_nonnull(reason);
  return ok;
}

static void
test_acceptable(void)
{
  g_assert_true(acceptable("Subject: hi\r\n\r\nbody\r\n"));
  g_assert_true(acceptable("Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
                           "\r\n--b1\r\n\r\npart\r\n--b1--\r\n"));
  /* Mailman refuses this one; we accept a missing closing boundary. */
  g_assert_true(acceptable("Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
                           "\r\n--b1\r\n\r\npart\r\n"));
  g_assert_true(acceptable("Content-Type: multipart/mixed; boundary=b1\n"
                           "\n--b1\n\npart"));
  /* Still refused, as in Mailman. */
  g_assert_false(acceptable("Content-Type: multipart/mixed\r\n\r\nbody\r\n"));
  g_assert_false(acceptable("Content-Type: multipart/mixed; boundary=b1\r\n"
                            "\r\nno delimiter at all\r\n"));
  g_assert_false(acceptable(" continuation first\r\nSubject: x\r\n\r\nb\r\n"));
  g_assert_false(acceptable("Subject: x\r\nthis is not a header\r\n\r\nb\r\n"));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/lmtp/recipient/split", test_split);
  g_test_add_func("/lmtp/recipient/tables", test_subaddress_tables);
  g_test_add_func("/lmtp/recipient/resolve", test_resolve);
  g_test_add_func("/lmtp/recipient/lookup-failure",
                  test_resolve_lookup_failure);
  g_test_add_func("/lmtp/recipient/meta", test_meta);
  g_test_add_func("/lmtp/intake/boundary-param", test_boundary_param);
  g_test_add_func("/lmtp/intake/acceptable", test_acceptable);
  return g_test_run();
}
