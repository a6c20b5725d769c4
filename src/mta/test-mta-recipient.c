/* Unit tests of the recipient rule (Mailman 3's split_recipient() and RCPT
 * logic) with no database: tables of addresses split and resolved against
 * an in-memory directory.  The same function serves the LMTP server and
 * the socketmap server; src/lmtp/test-lmtp-recipient.c tests it again
 * through the LMTP adapter, test-mta-regenerate.c against a real store.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "mta.h"

#include "base-error.h"

#include <string.h>

/* ---- Splitting ----------------------------------------------------------- */

typedef struct {
  const char *address;
  const char *delimiter;
  gboolean ok;
  const char *local;
  const char *listname;
  const char *suffix;
  MmMtaSubaddress sub;
  const char *domain;
} SplitCase;

static const SplitCase split_cases[] = {
    {"list@example.com", "+", TRUE, "list", "list", NULL, MM_MTA_SUB_NONE,
     "example.com"},
    {"List-Owner@Example.COM", "+", TRUE, "list-owner", "list", "owner",
     MM_MTA_SUB_OWNER, "example.com"},
    {"a-b-bounces+x=y.example@example.com", "+", TRUE, "a-b-bounces", "a-b",
     "bounces", MM_MTA_SUB_BOUNCES, "example.com"},
    {"l-confirm+c0ffee@example.com", "+", TRUE, "l-confirm", "l", "confirm",
     MM_MTA_SUB_CONFIRM, "example.com"},
    {"l-subscribe@example.com", "+", TRUE, "l-subscribe", "l", "subscribe",
     MM_MTA_SUB_JOIN, "example.com"},
    {"l-unsubscribe@example.com", "+", TRUE, "l-unsubscribe", "l",
     "unsubscribe", MM_MTA_SUB_LEAVE, "example.com"},
    /* Only known words split; a dash at either end does not. */
    {"l-admin@example.com", "+", TRUE, "l-admin", "l-admin", NULL,
     MM_MTA_SUB_NONE, "example.com"},
    {"-request@example.com", "+", TRUE, "-request", "-request", NULL,
     MM_MTA_SUB_NONE, "example.com"},
    {"l-@example.com", "+", TRUE, "l-", "l-", NULL, MM_MTA_SUB_NONE,
     "example.com"},
    /* The cut comes before the split: "+tag-owner" is an extension. */
    {"l+tag-owner@example.com", "+", TRUE, "l", "l", NULL, MM_MTA_SUB_NONE,
     "example.com"},
    /* Another delimiter; none at all (NULL or ""). */
    {"l-bounces=x@example.com", "=", TRUE, "l-bounces", "l", "bounces",
     MM_MTA_SUB_BOUNCES, "example.com"},
    {"l-bounces+x@example.com", NULL, TRUE, "l-bounces+x", "l-bounces+x",
     NULL, MM_MTA_SUB_NONE, "example.com"},
    {"l-bounces+x@example.com", "", TRUE, "l-bounces+x", "l-bounces+x", NULL,
     MM_MTA_SUB_NONE, "example.com"},
    /* Mailman splits at the first '@'. */
    {"l@x@example.com", "+", TRUE, "l", "l", NULL, MM_MTA_SUB_NONE,
     "x@example.com"},
    {"", "+", FALSE},
    {"nodomain", "+", FALSE},
    {"@example.com", "+", FALSE},
    {"l@", "+", FALSE},
    {"+x@example.com", "+", FALSE},
    {"a b@example.com", "+", FALSE},
    {"l\t@example.com", "+", FALSE},
    {"l\x7f@example.com", "+", FALSE},
    {"l\xc3\xa9@example.com", "+", FALSE},
};

static void
test_split(void)
{
  for (gsize i = 0; i < G_N_ELEMENTS(split_cases); i++) {
    const SplitCase *c = &split_cases[i];
    g_test_message("split \"%s\" with \"%s\"", c->address,
                   c->delimiter != NULL ? c->delimiter : "(null)");
    g_auto(MmMtaAddress) parts = {0};
    g_autoptr(GError) error = NULL;
    gboolean ok = mm_mta_address_split(c->address, c->delimiter, &parts,
                                       &error);
    g_assert_cmpint(ok, ==, c->ok);
    if (!ok) {
      g_assert_error(error, MM_ERROR, MM_ERROR_INVALID);
      g_assert_null(parts.local);
      continue;
    }
    g_assert_no_error(error);
    g_assert_cmpstr(parts.local, ==, c->local);
    g_assert_cmpstr(parts.listname, ==, c->listname);
    g_assert_cmpstr(parts.suffix, ==, c->suffix);
    g_assert_cmpint(parts.subaddress, ==, c->sub);
    g_assert_cmpstr(parts.domain, ==, c->domain);
  }
}

static void
test_subaddress_words(void)
{
  static const struct {
    const char *word;
    MmMtaSubaddress sub;
    const char *name;
  } words[] = {
      {"bounces", MM_MTA_SUB_BOUNCES, "bounces"},
      {"confirm", MM_MTA_SUB_CONFIRM, "confirm"},
      {"join", MM_MTA_SUB_JOIN, "join"},
      {"subscribe", MM_MTA_SUB_JOIN, "join"},
      {"leave", MM_MTA_SUB_LEAVE, "leave"},
      {"unsubscribe", MM_MTA_SUB_LEAVE, "leave"},
      {"owner", MM_MTA_SUB_OWNER, "owner"},
      {"request", MM_MTA_SUB_REQUEST, "request"},
      {"Owner", MM_MTA_SUB_NONE, NULL},
      {"admin", MM_MTA_SUB_NONE, NULL},
      {"", MM_MTA_SUB_NONE, NULL},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(words); i++) {
    MmMtaSubaddress sub = mm_mta_subaddress_parse(words[i].word);
    g_assert_cmpint(sub, ==, words[i].sub);
    g_assert_cmpstr(mm_mta_subaddress_name(sub), ==, words[i].name);
  }
  /* Every word the maps write is one the rule recognises. */
  for (const char *const *w = mm_mta_subaddresses(); *w != NULL; w++)
    g_assert_cmpint(mm_mta_subaddress_parse(*w), !=, MM_MTA_SUB_NONE);
}

/* ---- Resolution against a fake directory ------------------------------- */

typedef struct {
  GHashTable *lists;   /* fqdn -> list id */
  GHashTable *aliases; /* alias domain -> mail_host */
  gboolean fail;
  GPtrArray *asked; /* fqdns looked up, in order */
} FakeDirectory;

static gboolean
fake_alias_host(gpointer data, const char *domain, char **host_out,
                GError **error)
{
  FakeDirectory *fake = data;
  if (fake->fail) {
    g_set_error_literal(error, MM_ERROR, MM_ERROR_IO, "database is locked");
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
  g_ptr_array_add(fake->asked, g_strdup(fqdn));
  *list_id_out = g_strdup(g_hash_table_lookup(fake->lists, fqdn));
  return TRUE;
}

static void
fake_init(FakeDirectory *fake)
{
  memset(fake, 0, sizeof *fake);
  fake->lists = g_hash_table_new(g_str_hash, g_str_equal);
  fake->aliases = g_hash_table_new(g_str_hash, g_str_equal);
  fake->asked = g_ptr_array_new_with_free_func(g_free);
  g_hash_table_insert(fake->lists, "ant@example.com", "ant.example.com");
  g_hash_table_insert(fake->lists, "ant-owner@example.com",
                      "ant-owner.example.com");
  g_hash_table_insert(fake->lists, "bee@example.org", "bee.example.org");
  g_hash_table_insert(fake->aliases, "x.example.org", "example.org");
}

static void
fake_clear(FakeDirectory *fake)
{
  g_hash_table_unref(fake->lists);
  g_hash_table_unref(fake->aliases);
  g_ptr_array_unref(fake->asked);
}

typedef struct {
  const char *address;
  const char *list_id;         /* NULL: refused */
  const char *posting_address; /* or the MM_ERROR code's name */
  MmMtaSubaddress sub;
  int error;
} ResolveCase;

static const ResolveCase resolve_cases[] = {
    {"ant@example.com", "ant.example.com", "ant@example.com", MM_MTA_SUB_NONE},
    {"ANT+x@EXAMPLE.com", "ant.example.com", "ant@example.com",
     MM_MTA_SUB_NONE},
    {"ant-bounces+bob=example.net@example.com", "ant.example.com",
     "ant@example.com", MM_MTA_SUB_BOUNCES},
    {"ant-unsubscribe@example.com", "ant.example.com", "ant@example.com",
     MM_MTA_SUB_LEAVE},
    /* The whole local part first: list ant-owner, then its own owner. */
    {"ant-owner@example.com", "ant-owner.example.com",
     "ant-owner@example.com", MM_MTA_SUB_NONE},
    {"ant-owner-owner@example.com", "ant-owner.example.com",
     "ant-owner@example.com", MM_MTA_SUB_OWNER},
    /* Through the alias domain; the posting address keeps the mail_host. */
    {"bee-request@x.example.org", "bee.example.org", "bee@example.org",
     MM_MTA_SUB_REQUEST},
    {"bee@X.Example.Org", "bee.example.org", "bee@example.org",
     MM_MTA_SUB_NONE},
    {"bee@example.org", "bee.example.org", "bee@example.org",
     MM_MTA_SUB_NONE},
    {"nobody@example.com", NULL, NULL, 0, MM_ERROR_NOT_FOUND},
    {"ant-admin@example.com", NULL, NULL, 0, MM_ERROR_NOT_FOUND},
    {"ant@x.example.org", NULL, NULL, 0, MM_ERROR_NOT_FOUND},
    {"ant", NULL, NULL, 0, MM_ERROR_INVALID},
    {"ant@bad_domain", NULL, NULL, 0, MM_ERROR_INVALID},
    {"ant@example", NULL, NULL, 0, MM_ERROR_INVALID},
    {"../ant@example.com", NULL, NULL, 0, MM_ERROR_NOT_FOUND},
};

static void
test_resolve(void)
{
  FakeDirectory fake;
  fake_init(&fake);
  const MmMtaDirectory directory = {fake_alias_host, fake_list_find, &fake};

  for (gsize i = 0; i < G_N_ELEMENTS(resolve_cases); i++) {
    const ResolveCase *c = &resolve_cases[i];
    g_test_message("resolve %s", c->address);
    g_autoptr(GError) error = NULL;
    g_autoptr(MmMtaRecipient) recipient = mm_mta_recipient_resolve_with(
        c->address, "+", "[-_.0-9a-z]", &directory, &error);
    if (c->list_id == NULL) {
      g_assert_null(recipient);
      g_assert_error(error, MM_ERROR, c->error);
      g_assert_true(mm_mta_recipient_error_is_not_list(error));
      continue;
    }
    g_assert_no_error(error);
    g_assert_cmpstr(recipient->list_id, ==, c->list_id);
    g_assert_cmpstr(recipient->posting_address, ==, c->posting_address);
    g_assert_cmpint(recipient->subaddress, ==, c->sub);
  }
  /* Only folded, valid names ever reach the directory. */
  for (guint i = 0; i < fake.asked->len; i++) {
    const char *fqdn = g_ptr_array_index(fake.asked, i);
    g_autofree char *lower = g_ascii_strdown(fqdn, -1);
    g_assert_cmpstr(fqdn, ==, lower);
    g_assert_null(strchr(fqdn, '/'));
  }
  fake_clear(&fake);
}

/* listname_chars decides which names are looked up at all. */
static void
test_listname_chars(void)
{
  FakeDirectory fake;
  fake_init(&fake);
  g_hash_table_insert(fake.lists, "a+b@example.com", "a+b.example.com");
  const MmMtaDirectory directory = {fake_alias_host, fake_list_find, &fake};
  g_autoptr(GError) error = NULL;

  /* Default characters: '+' is no list character (and no VERP cut). */
  g_autoptr(MmMtaRecipient) refused = mm_mta_recipient_resolve_with(
      "a+b@example.com", "", NULL, &directory, &error);
  g_assert_null(refused);
  g_assert_error(error, MM_ERROR, MM_ERROR_NOT_FOUND);
  g_assert_cmpuint(fake.asked->len, ==, 0);
  g_clear_error(&error);

  g_autoptr(MmMtaRecipient) allowed = mm_mta_recipient_resolve_with(
      "a+b@example.com", "", "[-_.+0-9a-z]", &directory, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(allowed->list_id, ==, "a+b.example.com");
  fake_clear(&fake);
}

/* A failing lookup is not "no list": the caller must say "try later". */
static void
test_lookup_failure(void)
{
  FakeDirectory fake;
  fake_init(&fake);
  fake.fail = TRUE;
  const MmMtaDirectory directory = {fake_alias_host, fake_list_find, &fake};
  g_autoptr(GError) error = NULL;
  g_autoptr(MmMtaRecipient) recipient = mm_mta_recipient_resolve_with(
      "ant@example.com", "+", NULL, &directory, &error);
  g_assert_null(recipient);
  g_assert_error(error, MM_ERROR, MM_ERROR_IO);
  g_assert_false(mm_mta_recipient_error_is_not_list(error));
  fake_clear(&fake);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/mta/recipient/split", test_split);
  g_test_add_func("/mta/recipient/subaddress-words", test_subaddress_words);
  g_test_add_func("/mta/recipient/resolve-with", test_resolve);
  g_test_add_func("/mta/recipient/listname-chars", test_listname_chars);
  g_test_add_func("/mta/recipient/lookup-failure", test_lookup_failure);
  return g_test_run();
}
