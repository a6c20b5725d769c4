/* Unit tests of templates: Mailman's search order over list, domain and
 * site directories and languages, the built-in fallbacks, and
 * $-expansion with Python's safe_substitute() rules.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <glib/gstdio.h>
#include <string.h>

#include "base-error.h"
#include "base-file.h"
#include "mm-test-site.h"
#include "notice.h"
#include "queue.h"

typedef struct {
  MmTestSite *site; /* owns the four below */
  char *dir;
  MmConfig *config;
  MmStore *store;
  MmList *list;
} Fixture;

/* A private site with the list test@example.com; @extra_cfg is appended to
 * its mailman.cfg. */
static void
fixture_init(Fixture *f, const char *extra_cfg)
{
  memset(f, 0, sizeof *f);
  f->site = mm_test_site_new(extra_cfg);
  f->dir = f->site->dir;
  f->config = f->site->config;
  f->store = f->site->store;
  f->list = f->site->list;
}

static void
fixture_clear(Fixture *f)
{
  g_clear_pointer(&f->site, mm_test_site_free);
}

static void
put_template(Fixture *f, const char *where, const char *lang, const char *name,
             const char *text)
{
  g_autofree char *file = g_strconcat(name, ".txt", NULL);
  g_autofree char *path = g_build_filename(
      mm_config_path(f->config, "template_dir"), where, lang, file, NULL);
  mm_test_write_file(path, text);
}

static char *
load(Fixture *f, const char *name, const char *language)
{
  g_autoptr(GError) error = NULL;
  char *text =
      mm_notice_template_load(f->config, f->list, name, language, &error);
  g_assert_no_error(error);
  g_assert_nonnull(text);
  return text;
}

static void
test_builtin(void)
{
  Fixture f;
  fixture_init(&f, NULL);
  /* No regular footer is shipped: the generic one stands in. */
  g_autofree char *footer = load(&f, "list:member:regular:footer", NULL);
  g_assert_true(g_str_has_prefix(footer, "______"));
  g_assert_nonnull(strstr(footer, "${short_listname}-leave@${domain}"));
  g_autofree char *header = load(&f, "list:member:regular:header", NULL);
  g_assert_cmpstr(header, ==, "");
  g_autofree char *digest_footer = load(&f, "list:member:digest:footer", NULL);
  g_assert_cmpstr(digest_footer, ==, footer);
  /* Every name of Mailman's table loads. */
  const char *names[] = {
      "domain:admin:notice:new-list",  "list:admin:action:post",
      "list:admin:action:subscribe",   "list:admin:action:unsubscribe",
      "list:admin:notice:disable",     "list:admin:notice:increment",
      "list:admin:notice:pending",     "list:admin:notice:removal",
      "list:admin:notice:subscribe",   "list:admin:notice:unrecognized",
      "list:admin:notice:unsubscribe", "list:member:digest:header",
      "list:member:digest:masthead",   "list:member:generic:footer",
      "list:user:action:invite",       "list:user:action:subscribe",
      "list:user:action:unsubscribe",  "list:user:notice:goodbye",
      "list:user:notice:hold",         "list:user:notice:no-more-today",
      "list:user:notice:post",         "list:user:notice:probe",
      "list:user:notice:refuse",       "list:user:notice:rejected",
      "list:user:notice:warning",      "list:user:notice:welcome",
  };
  for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
    g_autofree char *text = load(&f, names[i], NULL);
    g_assert_nonnull(text);
  }
  /* Names Mailman does not know are refused (they would name files). */
  g_autoptr(GError) error = NULL;
  g_assert_null(mm_notice_template_load(f.config, f.list, "../../etc/passwd",
                                          NULL, &error));
  g_assert_error(error, MM_ERROR, MM_ERROR_NOT_FOUND);
  fixture_clear(&f);
}

static void
test_search_order(void)
{
  Fixture f;
  fixture_init(&f, NULL);
  const char *name = "list:user:notice:post";

  put_template(&f, "site", "en", name, "site\n");
  g_autofree char *site = load(&f, name, NULL);
  g_assert_cmpstr(site, ==, "site\n");

  put_template(&f, "domains/example.com", "en", name, "domain\n");
  g_autofree char *domain = load(&f, name, NULL);
  g_assert_cmpstr(domain, ==, "domain\n");

  put_template(&f, "lists/test@example.com", "en", name, "fqdn\n");
  g_autofree char *fqdn = load(&f, name, NULL);
  g_assert_cmpstr(fqdn, ==, "fqdn\n");

  put_template(&f, "lists/test.example.com", "en", name, "list\n");
  g_autofree char *list = load(&f, name, NULL);
  g_assert_cmpstr(list, ==, "list\n");

  /* An explicit language goes first, through all places, then English. */
  put_template(&f, "site", "de", name, "site de\n");
  g_autofree char *german = load(&f, name, "de");
  g_assert_cmpstr(german, ==, "site de\n");
  g_autofree char *french = load(&f, name, "fr");
  g_assert_cmpstr(french, ==, "list\n");
  /* A language code that could climb out of the directory is ignored. */
  g_autofree char *climb = load(&f, name, "../../..");
  g_assert_cmpstr(climb, ==, "list\n");

  /* The site's regular footer beats the generic built-in one, and a
   * generic footer file beats the built-in too. */
  put_template(&f, "site", "en", "list:member:generic:footer", "generic\n");
  g_autofree char *generic = load(&f, "list:member:regular:footer", NULL);
  g_assert_cmpstr(generic, ==, "generic\n");
  put_template(&f, "site", "en", "list:member:regular:footer", "regular\n");
  g_autofree char *regular = load(&f, "list:member:regular:footer", NULL);
  g_assert_cmpstr(regular, ==, "regular\n");
  fixture_clear(&f);
}

static void
test_bad_files(void)
{
  Fixture f;
  fixture_init(&f, NULL);
  /* Bytes that are not UTF-8 are replaced, not refused. */
  put_template(&f, "site", "en", "list:user:notice:goodbye", "caf\xe9 ok\n");
  g_autofree char *text = load(&f, "list:user:notice:goodbye", NULL);
  g_assert_true(g_utf8_validate(text, -1, NULL));
  g_assert_true(g_str_has_prefix(text, "caf"));
  g_assert_true(g_str_has_suffix(text, " ok\n"));

  /* A file that exists but cannot be read is an error. */
  g_autofree char *dir =
      g_build_filename(mm_config_path(f.config, "template_dir"), "site", "en",
                       "list:user:notice:welcome.txt", NULL);
  g_assert_true(mm_mkdir_p(dir, 0700, NULL));
  g_autoptr(GError) error = NULL;
  g_assert_null(mm_notice_template_load(
      f.config, f.list, "list:user:notice:welcome", NULL, &error));
  g_assert_nonnull(error);
  fixture_clear(&f);
}

static void
test_expand(void)
{
  g_autoptr(GHashTable) vars = g_hash_table_new(g_str_hash, g_str_equal);
  g_hash_table_insert(vars, "name", "Anne");
  g_hash_table_insert(vars, "list_id", "test.example.com");
  g_hash_table_insert(vars, "Name", "other case");
  static const struct {
    const char *in, *out;
  } cases[] = {
      {"Hello $name!", "Hello Anne!"},
      {"${name}s", "Annes"},
      {"$names", "$names"}, /* unknown: left as is */
      {"${unknown}", "${unknown}"},
      {"$Name", "other case"}, /* names are case-sensitive */
      {"$$name", "$name"},     /* "$$" is a dollar */
      {"$$$name", "$Anne"},
      {"cost: $5", "cost: $5"}, /* not an identifier */
      {"${name", "${name"},     /* unclosed brace */
      {"${ name }", "${ name }"},
      {"end $", "end $"},
      {"$list_id/$name", "test.example.com/Anne"},
      {"ünïcode $name", "ünïcode Anne"},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *out = mm_notice_template_expand(cases[i].in, vars);
    g_assert_cmpstr(out, ==, cases[i].out);
  }
}

static void
test_variables(void)
{
  Fixture f;
  fixture_init(&f, NULL);
  g_autoptr(GError) error = NULL;
  g_assert_true(mm_store_list_set(f.store, f.list, "description",
                                  "A list for tests", &error));
  g_autoptr(GHashTable) vars =
      mm_notice_template_variables(f.config, f.list);
  static const struct {
    const char *name, *value;
  } expected[] = {
      {"site_email", "siteowner@example.net"},
      {"listname", "test@example.com"},
      {"list_id", "test.example.com"},
      {"display_name", "Test"},
      {"short_listname", "test"},
      {"domain", "example.com"},
      {"description", "A list for tests"},
      {"info", ""},
      {"request_email", "test-request@example.com"},
      {"owner_email", "test-owner@example.com"},
      {"language", "en"},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(expected); i++)
    g_assert_cmpstr(g_hash_table_lookup(vars, expected[i].name), ==,
                    expected[i].value);
  g_autofree char *footer = load(&f, "list:member:regular:footer", NULL);
  g_autofree char *text = mm_notice_template_expand(footer, vars);
  g_assert_cmpstr(text, ==,
                  "_______________________________________________\n"
                  "Test mailing list: test@example.com\n"
                  "To leave this list, write to test-leave@example.com\n");
  g_autoptr(GHashTable) site = mm_notice_template_variables(f.config, NULL);
  g_assert_cmpuint(g_hash_table_size(site), ==, 1);
  fixture_clear(&f);
}

/* A notice is a complete message in virgin, its recipients in the
 * metadata, its subject encoded, the original attached. */
static void
test_send(void)
{
  Fixture f;
  g_autoptr(GError) error = NULL;
  fixture_init(&f, NULL);
  const char *recipients[] = {"anne@example.org", "bart@example.org", NULL};
  const char *original = "From: x@example.org\nSubject: orig\n\nhello\n";
  g_autoptr(GBytes) attachment = g_bytes_new_static(original,
                                                    strlen(original));
  json_t *extra = json_pack("{s:s}", "probe_token", "abc");
  MmNotice notice = {
      .list = f.list,
      .recipients = recipients,
      .from = "test-owner@example.com",
      .subject = "Caf\xc3\xa9 notice",
      .text = mm_notice_render(f.config, f.list, "list:user:notice:goodbye",
                               NULL, NULL, &error),
      .attachment = attachment,
      .in_reply_to = "<orig@example.org>",
      .extra_meta = extra,
  };
  g_assert_no_error(error);
  g_assert_nonnull(strstr(notice.text, "\"Test\" mailing list"));
  g_autofree char *id = mm_notice_send(f.config, &notice, &error);
  g_assert_no_error(error);
  g_assert_nonnull(id);
  g_free((char *)notice.text);
  json_decref(extra);

  g_autofree char *path = g_strdup_printf(
      "%s/virgin/%s.pck", mm_config_path(f.config, "queue_dir"), id);
  g_autoptr(GBytes) bytes = NULL;
  json_t *meta = NULL;
  g_assert_true(mm_queue_file_read(path, &bytes, &meta, &error));
  g_assert_cmpuint(json_array_size(json_object_get(meta, "recipients")), ==,
                   2);
  g_assert_cmpstr(json_string_value(json_object_get(meta, "listid")), ==,
                  "test.example.com");
  g_assert_cmpstr(json_string_value(json_object_get(meta, "probe_token")),
                  ==, "abc");
  g_assert_true(json_is_true(json_object_get(meta, "nodecorate")));
  json_decref(meta);
  gsize len = 0;
  g_autofree char *text =
      g_strndup(g_bytes_get_data(bytes, &len), g_bytes_get_size(bytes));
  if (g_getenv("MM_SHOW_NOTICE"))
    g_printerr("%s", text);
  g_assert_nonnull(strstr(text, "Subject: =?UTF-8?B?Q2Fmw6k=?= notice"));
  g_assert_nonnull(strstr(text, "Auto-Submitted: auto-generated"));
  g_assert_nonnull(strstr(text, "Precedence: bulk"));
  g_assert_nonnull(strstr(text, "In-Reply-To: <orig@example.org>"));
  g_assert_nonnull(strstr(text, "To: anne@example.org, bart@example.org"));
  g_assert_nonnull(strstr(text, "message/rfc822"));
  g_assert_nonnull(strstr(text, "Subject: orig"));
  g_assert_nonnull(strstr(text, "@example.com>"));  /* Message-ID host */
  fixture_clear(&f);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/notice/template/builtin", test_builtin);
  g_test_add_func("/notice/template/search-order", test_search_order);
  g_test_add_func("/notice/template/bad-files", test_bad_files);
  g_test_add_func("/notice/template/expand", test_expand);
  g_test_add_func("/notice/template/variables", test_variables);
  g_test_add_func("/notice/send", test_send);
  return g_test_run();
}
