/* Golden-file tests of the map builders: every generated file compared
 * byte for byte with tests/data/mta/<case>/<file>.
 *
 * The Postfix cases are the scenarios of Mailman 3's own test suite
 * (mailman/mta/tests/test_aliases.py), so the goldens below the seven
 * header lines equal what Mailman 3 writes for them.  Set
 * MM_MTA_UPDATE_GOLDEN=1 to rewrite the goldens from the current code (then
 * review the diff: a golden is a claim about Mailman's format).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "mta.h"

#include <string.h>

typedef struct {
  const char *list_name;
  const char *mail_host;
} ListSpec;

typedef struct {
  const char *mail_host;
  const char *alias_domain;
} DomainSpec;

static void
free_list(gpointer data)
{
  MmList *list = data;
  g_free(list->list_name);
  g_free(list->mail_host);
  g_free(list->list_id);
  g_free(list->fqdn_listname);
  g_free(list);
}

static void
free_domain(gpointer data)
{
  MmDomain *domain = data;
  g_free(domain->mail_host);
  g_free(domain->description);
  g_free(domain->alias_domain);
  g_free(domain);
}

static GPtrArray *
make_lists(const ListSpec *specs)
{
  GPtrArray *lists = g_ptr_array_new_with_free_func(free_list);
  for (; specs->list_name != NULL; specs++) {
    MmList *list = g_new0(MmList, 1);
    list->list_name = g_strdup(specs->list_name);
    list->mail_host = g_strdup(specs->mail_host);
    list->list_id = g_strdup_printf("%s.%s", specs->list_name,
                                    specs->mail_host);
    list->fqdn_listname = g_strdup_printf("%s@%s", specs->list_name,
                                          specs->mail_host);
    g_ptr_array_add(lists, list);
  }
  return lists;
}

static GPtrArray *
make_domains(const DomainSpec *specs)
{
  GPtrArray *domains = g_ptr_array_new_with_free_func(free_domain);
  for (; specs->mail_host != NULL; specs++) {
    MmDomain *domain = g_new0(MmDomain, 1);
    domain->mail_host = g_strdup(specs->mail_host);
    domain->description = g_strdup("");
    domain->alias_domain = g_strdup(specs->alias_domain);
    g_ptr_array_add(domains, domain);
  }
  return domains;
}

/* Mailman's test clock, 2005-08-01 07:49:23 UTC. */
static GDateTime *
test_now(void)
{
  return g_date_time_new_utc(2005, 8, 1, 7, 49, 23);
}

static void
check_golden(const char *dir, const char *name, const GString *got)
{
  const char *root = g_getenv("MM_MTA_TEST_DATA");
  g_assert_nonnull(root);
  g_autofree char *path = g_build_filename(root, dir, name, NULL);
  GError *error = NULL;

  if (g_strcmp0(g_getenv("MM_MTA_UPDATE_GOLDEN"), "1") == 0) {
    g_autofree char *parent = g_path_get_dirname(path);
    g_mkdir_with_parents(parent, 0755);
    g_assert_true(g_file_set_contents(path, got->str, (gssize)got->len,
                                      &error));
    g_assert_no_error(error);
    return;
  }
  g_autofree char *want = NULL;
  gsize want_len = 0;
  g_assert_true(g_file_get_contents(path, &want, &want_len, &error));
  g_assert_no_error(error);
  if (want_len != got->len || memcmp(want, got->str, got->len) != 0) {
    g_test_message("%s differs; got:\n%s", path, got->str);
    g_test_fail();
  }
}

typedef struct {
  const char *name; /* directory under tests/data/mta */
  ListSpec lists[8];
  DomainSpec domains[8];
  gboolean regex;
  guint port;
} Case;

static const Case cases[] = {
  {"one-list", {{"test", "example.com"}, {NULL, NULL}},
   {{"example.com", NULL}, {NULL, NULL}}, FALSE, 9024},
  {"two-lists", {{"test", "example.com"}, {"other", "example.com"},
                 {NULL, NULL}},
   {{"example.com", NULL}, {NULL, NULL}}, FALSE, 9024},
  {"two-domains", {{"test", "example.com"}, {"other", "example.net"},
                   {NULL, NULL}},
   {{"example.com", NULL}, {"example.net", NULL}, {NULL, NULL}}, FALSE, 9024},
  {"alias-domain", {{"test", "example.com"}, {"other", "example.net"},
                    {"third", "example.org"}, {NULL, NULL}},
   {{"example.com", NULL}, {"example.net", NULL},
    {"example.org", "x.example.org"}, {NULL, NULL}}, FALSE, 9024},
  {"regex", {{"test", "example.com"}, {NULL, NULL}},
   {{"example.com", NULL}, {NULL, NULL}}, TRUE, 9024},
  {"regex-dots", {{"test", "example.com"},
                  {"test.list.name.dots", "example.com"}, {NULL, NULL}},
   {{"example.com", NULL}, {NULL, NULL}}, TRUE, 9024},
  {"regex-vmap", {{"test", "example.com"}, {"other", "example.org"},
                  {NULL, NULL}},
   {{"example.com", NULL}, {"example.org", "x.example.org"}, {NULL, NULL}},
   TRUE, 9024},
  {"long-names", {{"llista1", "grups.mailsandbox.xxxxxx.org"}, {NULL, NULL}},
   {{"grups.mailsandbox.xxxxxx.org", "mail-ng.xxxxxx.org"}, {NULL, NULL}},
   FALSE, 9024},
  /* Ours: lists whose names end in a subaddress word, several domains,
   * the default port, input in no particular order. */
  {"subaddress-names", {{"foo-owner", "lists.example.com"},
                        {"foo", "lists.example.com"},
                        {"ann", "example.net"},
                        {"foo-bounces", "lists.example.com"},
                        {"zed", "example.org"}, {NULL, NULL}},
   {{"example.net", NULL}, {"example.org", "lists.example.org"},
    {"lists.example.com", NULL}, {NULL, NULL}}, FALSE, 8024},
  {"subaddress-names-regex", {{"foo-owner", "lists.example.com"},
                              {"foo", "lists.example.com"},
                              {"zed", "example.org"}, {NULL, NULL}},
   {{"example.org", "lists.example.org"}, {"lists.example.com", NULL},
    {NULL, NULL}}, TRUE, 8024},
  {"empty", {{NULL, NULL}}, {{NULL, NULL}}, FALSE, 8024},
};

static void
test_case(gconstpointer data)
{
  const Case *c = data;
  g_autoptr(GPtrArray) lists = make_lists(c->lists);
  g_autoptr(GPtrArray) domains = make_domains(c->domains);
  g_autoptr(GDateTime) now = test_now();

  g_autoptr(GString) transport = mm_mta_postfix_transport(
      lists, domains, "127.0.0.1", c->port, c->regex, now);
  check_golden(c->name, "postfix_lmtp", transport);
  g_autoptr(GString) relay = mm_mta_postfix_domains(lists, domains, c->regex,
                                                    now);
  check_golden(c->name, "postfix_domains", relay);

  g_autoptr(GString) vmap = mm_mta_postfix_vmap(lists, domains, c->regex,
                                                now);
  gboolean any_alias = FALSE;
  for (const ListSpec *l = c->lists; l->list_name != NULL; l++)
    for (const DomainSpec *d = c->domains; d->mail_host != NULL; d++)
      any_alias |= g_str_equal(d->mail_host, l->mail_host) &&
                   d->alias_domain != NULL;
  g_assert_true((vmap != NULL) == any_alias);
  if (vmap != NULL)
    check_golden(c->name, "postfix_vmap", vmap);

  if (c->regex)
    return; /* the other MTAs have no regex variant */
  g_autoptr(GString) exim = mm_mta_exim_lists(lists, domains, now);
  check_golden(c->name, "exim_lists", exim);
  g_autoptr(GString) exim_domains = mm_mta_exim_domains(lists, domains, now);
  check_golden(c->name, "exim_domains", exim_domains);
  g_autoptr(GString) mailertable =
      mm_mta_sendmail_mailertable(lists, domains, "127.0.0.1", now);
  check_golden(c->name, "sendmail_mailertable", mailertable);
  g_autoptr(GString) access = mm_mta_sendmail_access(lists, domains, now);
  check_golden(c->name, "sendmail_access", access);
  g_autoptr(GString) relay_domains =
      mm_mta_sendmail_domains(lists, domains, now);
  check_golden(c->name, "sendmail_domains", relay_domains);
}

/* The header: seven lines, Mailman's first line with the UTC time, and the
 * whitespace-only seventh line of postfix_lmtp; a local time zone must not
 * leak into it. */
static void
test_header(void)
{
  g_autoptr(GTimeZone) zone = g_time_zone_new_identifier("+05:30");
  g_assert_nonnull(zone);
  g_autoptr(GDateTime) local = g_date_time_new(zone, 2005, 8, 1, 13, 19, 23);
  g_autoptr(GPtrArray) lists = g_ptr_array_new();
  g_autoptr(GString) out =
      mm_mta_postfix_transport(lists, NULL, "127.0.0.1", 8024, FALSE, local);
  g_auto(GStrv) lines = g_strsplit(out->str, "\n", -1);

  g_assert_cmpstr(lines[0], ==,
                  "# AUTOMATICALLY GENERATED BY MAILMAN ON 2005-08-01 07:49:23");
  g_assert_cmpuint(g_strv_length(lines), ==, 8); /* 7 lines + "" after \n */
  g_assert_cmpstr(lines[6], ==, "    ");
  for (guint i = 1; i < 6; i++)
    g_assert_true(g_str_has_prefix(lines[i], "#"));
}

static void
test_addresses(void)
{
  g_auto(GStrv) addresses = mm_mta_list_addresses("ant", "example.com");
  const char *want[] = {
    "ant@example.com",          "ant-bounces@example.com",
    "ant-confirm@example.com",  "ant-join@example.com",
    "ant-leave@example.com",    "ant-owner@example.com",
    "ant-request@example.com",  "ant-subscribe@example.com",
    "ant-unsubscribe@example.com", NULL,
  };
  g_assert_cmpstrv(addresses, want);
  g_assert_cmpuint(g_strv_length(addresses), ==, MM_MTA_LIST_ADDRESS_COUNT);
}

/* Regex keys escape every metacharacter a permissive listname_chars could
 * let through, so that "a+b" cannot match "aab". */
static void
test_regex_escaping(void)
{
  const ListSpec specs[] = {{"a+b$c", "example.com"}, {NULL, NULL}};
  g_autoptr(GPtrArray) lists = make_lists(specs);
  g_autoptr(GDateTime) now = test_now();
  g_autoptr(GString) out =
      mm_mta_postfix_transport(lists, NULL, "127.0.0.1", 8024, TRUE, now);

  g_assert_nonnull(strstr(out->str, "/^a\\+b\\$c@example\\.com$/ "));
  g_assert_nonnull(
      strstr(out->str, "/^a\\+b\\$c-bounces(\\+.*)?@example\\.com$/ "));
}

/* An empty alias_domain counts as none, as Mailman's truth test does. */
static void
test_empty_alias(void)
{
  const ListSpec specs[] = {{"ant", "example.com"}, {NULL, NULL}};
  const DomainSpec dspecs[] = {{"example.com", ""}, {NULL, NULL}};
  g_autoptr(GPtrArray) lists = make_lists(specs);
  g_autoptr(GPtrArray) domains = make_domains(dspecs);
  g_autoptr(GDateTime) now = test_now();

  g_assert_null(mm_mta_postfix_vmap(lists, domains, FALSE, now));
  g_assert_cmpstr(mm_mta_effective_domain(domains, "example.com"), ==,
                  "example.com");
}

/* The LMTP next-hop: Mailman's "lmtp:[host]:port", and Postfix's Unix
 * socket form for the two spellings the LMTP server listens on. */
static void
test_nexthop(void)
{
  static const struct {
    const char *host;
    guint port;
    const char *want;
  } hops[] = {
      {"127.0.0.1", 8024, "lmtp:[127.0.0.1]:8024"},
      {"mail.example.com", 24, "lmtp:[mail.example.com]:24"},
      {"::1", 8024, "lmtp:[::1]:8024"},
      {"[::1]", 8024, "lmtp:[::1]:8024"},
      {"unix:/run/mailman3/lmtp.sock", 8024,
       "lmtp:unix:/run/mailman3/lmtp.sock"},
      {"/var/spool/postfix/private/mailman", 0,
       "lmtp:unix:/var/spool/postfix/private/mailman"},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(hops); i++) {
    g_autofree char *got = mm_mta_lmtp_nexthop(hops[i].host, hops[i].port);
    g_assert_cmpstr(got, ==, hops[i].want);
  }
}

/* postfix_lmtp with lmtp_host a Unix socket: every entry, regex keys too,
 * routes to "lmtp:unix:PATH", and the column layout is Mailman's. */
static void
test_unix_transport(void)
{
  const ListSpec specs[] = {{"ant", "example.com"}, {NULL, NULL}};
  g_autoptr(GPtrArray) lists = make_lists(specs);
  g_autoptr(GDateTime) now = test_now();

  for (int regex = 0; regex <= 1; regex++) {
    g_autoptr(GString) out = mm_mta_postfix_transport(
        lists, NULL, "unix:/run/mailman3/lmtp.sock", 0, regex, now);
    g_auto(GStrv) lines = g_strsplit(out->str, "\n", -1);
    guint entries = 0;
    for (char **line = lines; *line != NULL; line++) {
      if ((*line)[0] == '#' || g_strstrip(*line)[0] == '\0')
        continue;
      g_assert_true(g_str_has_suffix(*line,
                                     " lmtp:unix:/run/mailman3/lmtp.sock"));
      entries++;
    }
    g_assert_cmpuint(entries, ==, MM_MTA_LIST_ADDRESS_COUNT);
  }
  g_autoptr(GString) plain = mm_mta_postfix_transport(
      lists, NULL, "/run/mailman3/lmtp.sock", 8024, FALSE, now);
  /* Width: longest address (27) + dots in the posting address (1) + 10. */
  g_assert_nonnull(strstr(plain->str,
                          "\nant@example.com                       "
                          "lmtp:unix:/run/mailman3/lmtp.sock\n"));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *path = g_strdup_printf("/mta/maps/golden/%s",
                                            cases[i].name);
    g_test_add_data_func(path, &cases[i], test_case);
  }
  g_test_add_func("/mta/maps/header", test_header);
  g_test_add_func("/mta/maps/addresses", test_addresses);
  g_test_add_func("/mta/maps/regex-escaping", test_regex_escaping);
  g_test_add_func("/mta/maps/empty-alias", test_empty_alias);
  g_test_add_func("/mta/maps/lmtp-nexthop", test_nexthop);
  g_test_add_func("/mta/maps/unix-transport", test_unix_transport);
  return g_test_run();
}
