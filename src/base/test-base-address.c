/* Tables of valid and invalid names for base-address.c, hostile ones
 * included (NULs, path tricks, line breaks, over-long input).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "base-address.h"
#include "base-error.h"

#include <string.h>

typedef struct {
  const char *input;
  gssize len;           /* -1: NUL-terminated */
  const char *expected; /* NULL: must be refused */
} Case;

static char *
long_name(gsize n, char c)
{
  char *s = g_malloc(n + 1);
  memset(s, c, n);
  s[n] = '\0';
  return s;
}

/* ---- Domains ----------------------------------------------------------- */

static const Case domain_cases[] = {
    {"example.com", -1, "example.com"},
    {"Example.COM", -1, "example.com"},
    {"lists.example.org", -1, "lists.example.org"},
    {"a-b.example.net", -1, "a-b.example.net"},
    {"xn--bcher-kva.example", -1, "xn--bcher-kva.example"},
    {"123.example.com", -1, "123.example.com"},
    {"", -1, NULL},
    {".", -1, NULL},
    {"..", -1, NULL},
    {"localhost", -1, NULL},
    {"example..com", -1, NULL},
    {".example.com", -1, NULL},
    {"example.com.", -1, NULL},
    {"-example.com", -1, NULL},
    {"example-.com", -1, NULL},
    {"exa mple.com", -1, NULL},
    {"example.com\n", -1, NULL},
    {"example.com\r\nRCPT TO:<x@y>", -1, NULL},
    {"exam_ple.com", -1, NULL},
    {"../etc/passwd", -1, NULL},
    {"example.com/x", -1, NULL},
    {"b\xc3\xbc" "cher.example", -1, NULL},
    {"example.com\0evil.org", 20, NULL},
    {"a@example.com", -1, NULL},
};

static void
test_domains(void)
{
  for (gsize i = 0; i < G_N_ELEMENTS(domain_cases); i++) {
    const Case *c = &domain_cases[i];
    GError *error = NULL;
    g_autofree char *got = mm_address_fold_domain(c->input, c->len, &error);
    g_test_message("domain case %" G_GSIZE_FORMAT, i);
    if (c->expected != NULL) {
      g_assert_no_error(error);
      g_assert_cmpstr(got, ==, c->expected);
    } else {
      g_assert_null(got);
      g_assert_error(error, MM_ERROR, MM_ERROR_INVALID);
      /* The message quotes the input escaped: one printable line. */
      for (const char *p = error->message; *p != '\0'; p++)
        g_assert_true(g_ascii_isprint(*p));
      g_clear_error(&error);
    }
  }

  /* Length limits: 63-octet labels are fine, 64 are not; 253 in all. */
  g_autofree char *label63 = long_name(63, 'a');
  g_autofree char *ok = g_strconcat(label63, ".example.com", NULL);
  g_autofree char *got = mm_address_fold_domain(ok, -1, NULL);
  g_assert_cmpstr(got, ==, ok);
  g_autofree char *label64 = long_name(64, 'a');
  g_autofree char *bad = g_strconcat(label64, ".example.com", NULL);
  g_assert_null(mm_address_fold_domain(bad, -1, NULL));
  g_autofree char *huge =
      g_strjoin(".", label63, label63, label63, label63, "com", NULL);
  g_assert_cmpuint(strlen(huge), >, 253);
  GError *error = NULL;
  g_assert_null(mm_address_fold_domain(huge, -1, &error));
  g_assert_error(error, MM_ERROR, MM_ERROR_INVALID);
  g_clear_error(&error);
}

/* ---- List names -------------------------------------------------------- */

typedef struct {
  const char *input;
  gssize len;
  const char *chars; /* NULL: the default class */
  const char *expected;
} ListCase;

static const ListCase listname_cases[] = {
    {"test", -1, NULL, "test"},
    {"Test", -1, NULL, "test"},
    {"MY-List_2.x", -1, NULL, "my-list_2.x"},
    {"a", -1, NULL, "a"},
    {"a..b", -1, NULL, "a..b"},
    {"plus+list", -1, NULL, NULL},
    {"plus+list", -1, "[-_.+0-9a-z]", "plus+list"},
    {"Plus+List", -1, "[-_.+0-9a-z]", "plus+list"},
    {"", -1, NULL, NULL},
    {".", -1, NULL, NULL},
    {"..", -1, NULL, NULL},
    {".hidden", -1, NULL, NULL},
    {"../x", -1, NULL, NULL},
    {"a/b", -1, NULL, NULL},
    {"my list", -1, NULL, NULL},
    {"list\n", -1, NULL, NULL},
    {"list\r", -1, NULL, NULL},
    {"list\tx", -1, NULL, NULL},
    {"li\0st", 5, NULL, NULL},
    {"list\0", 5, NULL, NULL},
    {"caf\xc3\xa9", -1, NULL, NULL},
    {"a@b", -1, NULL, NULL},
    {"a%b", -1, NULL, NULL},
    {"a;rm", -1, NULL, NULL},
    /* A site class that would let anything through is still held to
     * Mailman's maximal set. */
    {"../x", -1, "[^ ]", NULL},
    {"a/b", -1, ".", NULL},
    {"a b", -1, ".*", NULL},
    {"a|b", -1, "[a-z|]", NULL},
    {"ok", -1, "[^ ]", "ok"},
    /* A class that does not compile is an error, not a crash. */
    {"test", -1, "[a-z", NULL},
    {"test", -1, "", "test"},
};

static void
test_listnames(void)
{
  for (gsize i = 0; i < G_N_ELEMENTS(listname_cases); i++) {
    const ListCase *c = &listname_cases[i];
    GError *error = NULL;
    g_test_message("listname case %" G_GSIZE_FORMAT, i);
    g_autofree char *got =
        mm_address_fold_listname(c->input, c->len, c->chars, &error);
    if (c->expected != NULL) {
      g_assert_no_error(error);
      g_assert_cmpstr(got, ==, c->expected);
    } else {
      g_assert_null(got);
      g_assert_error(error, MM_ERROR, MM_ERROR_INVALID);
      for (const char *p = error->message; *p != '\0'; p++)
        g_assert_true(g_ascii_isprint(*p));
      g_clear_error(&error);
    }
  }

  g_autofree char *n64 = long_name(64, 'x');
  g_autofree char *got = mm_address_fold_listname(n64, -1, NULL, NULL);
  g_assert_cmpstr(got, ==, n64);
  g_autofree char *n65 = long_name(65, 'x');
  g_assert_null(mm_address_fold_listname(n65, -1, NULL, NULL));
  g_autofree char *n300 = long_name(300, 'x');
  GError *error = NULL;
  g_assert_null(mm_address_fold_listname(n300, -1, NULL, &error));
  g_assert_error(error, MM_ERROR, MM_ERROR_INVALID);
  /* The message quotes a bounded prefix, not 300 octets. */
  g_assert_cmpuint(strlen(error->message), <, 200);
  g_clear_error(&error);
}

/* ---- Email addresses --------------------------------------------------- */

static const Case email_cases[] = {
    {"anne@example.com", -1, "anne@example.com"},
    {"Anne.Person@Example.COM", -1, "anne.person@example.com"},
    {"a+tag@example.com", -1, "a+tag@example.com"},
    {"o'brien@example.ie", -1, "o'brien@example.ie"},
    {"x!#$%&'*+/=?_`{}~-@example.com", -1, NULL}, /* '/' refused */
    {"x!#$%&'*+=?_`{}~-@example.com", -1, "x!#$%&'*+=?_`{}~-@example.com"},
    {"", -1, NULL},
    {"@", -1, NULL},
    {"anne", -1, NULL},
    {"anne@", -1, NULL},
    {"@example.com", -1, NULL},
    {"anne@localhost", -1, NULL},
    {"anne@@example.com", -1, NULL},
    {"a@b@example.com", -1, NULL},
    {".anne@example.com", -1, NULL},
    {"anne.@example.com", -1, NULL},
    {"an..ne@example.com", -1, NULL},
    {"an ne@example.com", -1, NULL},
    {"\"anne\"@example.com", -1, NULL},
    {"anne@example.com\n", -1, NULL},
    {"anne@example.com\r\nBcc: x@y.z", -1, NULL},
    {"anne@exa_mple.com", -1, NULL},
    {"anne@-example.com", -1, NULL},
    {"anne@[127.0.0.1]", -1, NULL},
    {"j\xc3\xb6rg@example.com", -1, NULL},
    {"anne\0@example.com", 17, NULL},
    {"anne@example.com\0", 17, NULL},
    {"<anne@example.com>", -1, NULL},
    {"../anne@example.com", -1, NULL},
};

static void
test_emails(void)
{
  for (gsize i = 0; i < G_N_ELEMENTS(email_cases); i++) {
    const Case *c = &email_cases[i];
    GError *error = NULL;
    g_test_message("email case %" G_GSIZE_FORMAT, i);
    g_autofree char *got =
        mm_address_fold_email(c->input, c->len, NULL, NULL, &error);
    if (c->expected != NULL) {
      g_assert_no_error(error);
      g_assert_cmpstr(got, ==, c->expected);
    } else {
      g_assert_null(got);
      g_assert_error(error, MM_ERROR, MM_ERROR_INVALID);
      for (const char *p = error->message; *p != '\0'; p++)
        g_assert_true(g_ascii_isprint(*p));
      g_clear_error(&error);
    }
  }

  g_autofree char *local = NULL;
  g_autofree char *domain = NULL;
  g_autofree char *full = mm_address_fold_email("Bart@Lists.Example.ORG", -1,
                                                &local, &domain, NULL);
  g_assert_cmpstr(full, ==, "bart@lists.example.org");
  g_assert_cmpstr(local, ==, "bart");
  g_assert_cmpstr(domain, ==, "lists.example.org");

  /* 64-octet local part is the limit; 254 octets overall. */
  g_autofree char *l64 = long_name(64, 'a');
  g_autofree char *e64 = g_strconcat(l64, "@example.com", NULL);
  g_autofree char *ok = mm_address_fold_email(e64, -1, NULL, NULL, NULL);
  g_assert_cmpstr(ok, ==, e64);
  g_autofree char *l65 = long_name(65, 'a');
  g_autofree char *e65 = g_strconcat(l65, "@example.com", NULL);
  g_assert_null(mm_address_fold_email(e65, -1, NULL, NULL, NULL));
  g_autofree char *lab = long_name(63, 'b');
  g_autofree char *e300 =
      g_strconcat(l64, "@", lab, ".", lab, ".", lab, ".com", NULL);
  g_assert_cmpuint(strlen(e300), >, 254);
  g_assert_null(mm_address_fold_email(e300, -1, NULL, NULL, NULL));
  /* On failure the out parameters are NULL. */
  char *no_local = (char *)"unset";
  char *no_domain = (char *)"unset";
  g_assert_null(mm_address_fold_email("bad@@example.com", -1, &no_local,
                                      &no_domain, NULL));
  g_assert_null(no_local);
  g_assert_null(no_domain);
}

/* ---- Address lines ----------------------------------------------------- */

typedef struct {
  const char *line;
  const char *name;  /* NULL: no address on the line */
  const char *email;
} LineCase;

static const LineCase line_cases[] = {
    {"anne@example.com", "", "anne@example.com"},
    {"  Anne@Example.com  \n", "", "Anne@Example.com"},
    {"Anne Person <anne@example.com>", "Anne Person", "anne@example.com"},
    {"<anne@example.com>", "", "anne@example.com"},
    {"  Anne Person   < anne@example.com >\r\n", "Anne Person",
     "anne@example.com"},
    {"anne@example.com (Anne Person)", "Anne Person", "anne@example.com"},
    {"anne@example.com ()", "", "anne@example.com"},
    {"\"Person, Anne\" <anne@example.com>", "Person, Anne",
     "anne@example.com"},
    {"\"Anne <the> Person\" <anne@example.com>", "Anne <the> Person",
     "anne@example.com"},
    {"\"Anne \\\"A\\\" Person\" <anne@example.com>", "Anne \"A\" Person",
     "anne@example.com"},
    {"Bj\xc3\xb6rk <bjork@example.is>", "Bj\xc3\xb6rk", "bjork@example.is"},
    {"", NULL, NULL},
    {"   \t \n", NULL, NULL},
    {"# anne@example.com", NULL, NULL},
    {"Anne Person", NULL, NULL},
    {"Anne Person <>", NULL, NULL},
    {"Anne Person <anne>", NULL, NULL},
    {"Anne <anne@example.com", NULL, NULL},
    {"Anne <anne@example.com> trailing", NULL, NULL},
    {"anne@example.com bart@example.com", NULL, NULL},
    {"anne@", NULL, NULL},
    {"@example.com", NULL, NULL},
    {"(Anne)", NULL, NULL},
};

static void
test_parse_line(void)
{
  for (gsize i = 0; i < G_N_ELEMENTS(line_cases); i++) {
    const LineCase *c = &line_cases[i];
    g_autofree char *name = NULL;
    g_autofree char *email = NULL;
    g_test_message("line case %" G_GSIZE_FORMAT, i);
    gboolean ok = mm_address_parse_line(c->line, &name, &email);
    if (c->email != NULL) {
      g_assert_true(ok);
      g_assert_cmpstr(name, ==, c->name);
      g_assert_cmpstr(email, ==, c->email);
    } else {
      g_assert_false(ok);
      g_assert_null(name);
      g_assert_null(email);
    }
  }
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/base/address/domains", test_domains);
  g_test_add_func("/base/address/listnames", test_listnames);
  g_test_add_func("/base/address/emails", test_emails);
  g_test_add_func("/base/address/parse-line", test_parse_line);
  return g_test_run();
}
