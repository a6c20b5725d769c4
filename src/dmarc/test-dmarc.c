/* Unit tests of DMARC policy discovery: organizational domains from a small
 * public suffix list (rules, wildcards, exceptions, no list at all) and the
 * policy search through a fixture resolver (p=, sp= at the organizational
 * name, failures, duplicate records), with what the lookup reports.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "dmarc.h"

static char *
data_file(const char *name)
{
  return g_build_filename(MM_TEST_DATA_DIR, name, NULL);
}

static void
test_organizational_domain(void)
{
  g_autofree char *psl = data_file("psl.dat");
  static const struct {
    const char *domain, *org;
  } cases[] = {
      {"mail.example.co.uk", "example.co.uk"},
      {"Example.CO.UK", "example.co.uk"},
      {"a.b.example", "b.example"},
      {"co.uk", "co.uk"},
      /* "*.ck": every second-level name is a suffix, "!www.ck" is not. */
      {"a.b.foo.ck", "b.foo.ck"},
      {"mail.www.ck", "www.ck"},
      /* No rule at all: the last two labels. */
      {"deep.sub.unlisted", "sub.unlisted"},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *org =
        mm_dmarc_organizational_domain(cases[i].domain, psl);
    g_assert_cmpstr(org, ==, cases[i].org);
  }
  /* Without a readable list: the last two labels. */
  g_autofree char *org =
      mm_dmarc_organizational_domain("mail.example.co.uk", "/nonexistent");
  g_assert_cmpstr(org, ==, "co.uk");
}

static void
test_policy(void)
{
  g_autofree char *dns = data_file("dns.txt");
  g_autofree char *psl = data_file("psl.dat");
  g_autoptr(GError) error = NULL;
  g_autoptr(MmDmarcResolver) resolver =
      mm_dmarc_resolver_new_from_file(dns, &error);
  g_assert_no_error(error);
  static const struct {
    const char *domain;
    MmDmarcPolicy policy;
    const char *found_at; /* NULL: nothing reported */
  } cases[] = {
      {"reject.example", MM_DMARC_REJECT, "_dmarc.reject.example"},
      {"quarantine.example", MM_DMARC_QUARANTINE, "_dmarc.quarantine.example"},
      {"none.example", MM_DMARC_NONE, NULL},
      {"nothing.example", MM_DMARC_NONE, NULL},
      /* sp= of the organizational domain applies to its subdomains... */
      {"mail.orgreject.example", MM_DMARC_REJECT, "_dmarc.orgreject.example"},
      /* ... and p= to itself. */
      {"orgreject.example", MM_DMARC_NONE, NULL},
      /* A failing lookup counts as reject, as in Mailman. */
      {"fail.example", MM_DMARC_REJECT, "_dmarc.fail.example"},
      /* Two DMARC records: ignored (RFC 7489 6.6.3). */
      {"multi.example", MM_DMARC_NONE, NULL},
      /* The list finds example.co.uk, whose p= applies (no sp=). */
      {"deep.sub.example.co.uk", MM_DMARC_QUARANTINE,
       "_dmarc.example.co.uk"},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    MmDmarcFinding finding = {0};
    g_test_message("domain %s", cases[i].domain);
    g_assert_cmpint(
        mm_dmarc_policy_lookup(resolver, cases[i].domain, psl, &finding), ==,
        cases[i].policy);
    g_assert_cmpstr(finding.name, ==, cases[i].found_at);
    g_assert_cmpint(finding.failed, ==,
                    g_str_equal(cases[i].domain, "fail.example"));
    if (cases[i].found_at != NULL && !finding.failed)
      g_assert_true(g_str_has_prefix(finding.record, "v=DMARC1;"));
    mm_dmarc_finding_clear(&finding);
  }
  /* Without a finding to fill, and for no domain at all. */
  g_assert_cmpint(mm_dmarc_policy_lookup(resolver, "reject.example", psl,
                                         NULL),
                  ==, MM_DMARC_REJECT);
  g_assert_cmpint(mm_dmarc_policy_lookup(resolver, "", psl, NULL), ==,
                  MM_DMARC_NONE);
}

static void
test_fixture_errors(void)
{
  g_autoptr(GError) error = NULL;
  g_assert_null(mm_dmarc_resolver_new_from_file("/nonexistent/dns.txt",
                                                &error));
  g_assert_nonnull(error);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/dmarc/organizational-domain", test_organizational_domain);
  g_test_add_func("/dmarc/policy", test_policy);
  g_test_add_func("/dmarc/fixture-errors", test_fixture_errors);
  return g_test_run();
}
