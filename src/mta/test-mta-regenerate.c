/* Regeneration against a real database file and Debian's real postmap:
 * the files land atomically where the configuration says, postmap builds
 * usable .db files (checked with `postmap -q` for every list address and
 * for a non-list address), a failing postmap is an error naming the file,
 * regex maps are never postmapped, list data directories follow the lists,
 * and the Null MTA writes nothing.  Also the recipient rule of
 * mm_mta_recipient_resolve().
 *
 * The postmap tests are skipped when /usr/sbin/postmap is missing (install
 * Debian's postfix package); everything else always runs.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "mta.h"

#include "base-error.h"
#include "mm-test-site.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define POSTMAP "/usr/sbin/postmap"

typedef struct {
  char *root;        /* temporary directory, removed at teardown */
  char *var_dir;
  char *data_dir;
  char *postfix_dir; /* a private Postfix config_directory for postmap -c */
  MmConfig *config;
  MmStore *store;
} Fixture;

/* Loads a mailman.cfg for @incoming with a [postfix] file saying @type and
 * @postmap (NULL: postmap with our private config_directory). */
static void
load_config_lmtp(Fixture *f, const char *incoming, const char *type,
                 const char *postmap, const char *lmtp_host,
                 const char *lmtp_port)
{
  g_autofree char *cfg = g_build_filename(f->root, "mailman.cfg", NULL);
  g_autofree char *pfcfg = g_build_filename(f->root, "postfix.cfg", NULL);
  g_autofree char *default_postmap =
      g_strdup_printf(POSTMAP " -c '%s'", f->postfix_dir);
  g_autofree char *pftext = g_strdup_printf(
      "[postfix]\npostmap_command: %s\ntransport_file_type: %s\n"
      /* makemap is not installed here; its invocation has its own test. */
      "[sendmail]\nmakemap_command: /bin/true\n",
      postmap != NULL ? postmap : default_postmap, type);
  mm_test_write_file(pfcfg, pftext);
  g_autofree char *text = g_strdup_printf(
      "[mailman]\nlayout: testing\n\n"
      "[paths.testing]\nvar_dir: %s\n\n"
      "[database]\nurl: sqlite:///%s/mailman.db\n\n"
      "[mta]\nincoming: %s\nlmtp_host: %s\nlmtp_port: %s\n"
      "configuration: %s\n",
      f->var_dir, f->root, incoming, lmtp_host, lmtp_port, pfcfg);
  mm_test_write_file(cfg, text);

  GError *error = NULL;
  g_clear_pointer(&f->config, mm_config_free);
  f->config = mm_config_load(cfg, &error);
  g_assert_no_error(error);
  g_assert_nonnull(f->config);
  g_free(f->data_dir);
  f->data_dir = g_strdup(mm_config_path(f->config, "data_dir"));
}

static void
load_config(Fixture *f, const char *incoming, const char *type,
            const char *postmap)
{
  load_config_lmtp(f, incoming, type, postmap, "127.0.0.1", "8024");
}

static void
add_domain(Fixture *f, const char *host, const char *alias)
{
  GError *error = NULL;
  g_assert_true(mm_store_domain_add(f->store, host, "", alias, &error));
  g_assert_no_error(error);
}

static void
add_list(Fixture *f, const char *name, const char *host)
{
  GError *error = NULL;
  g_autoptr(MmList) list = mm_store_list_create(f->store, name, host,
                                                "[-_.0-9a-z]", &error);
  g_assert_no_error(error);
  g_assert_nonnull(list);
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
  GError *error = NULL;

  f->root = g_dir_make_tmp("mm-mta-XXXXXX", &error);
  g_assert_no_error(error);
  f->var_dir = g_build_filename(f->root, "var", NULL);
  f->postfix_dir = g_build_filename(f->root, "postfix", NULL);
  g_mkdir_with_parents(f->postfix_dir, 0755);
  g_autofree char *main_cf = g_build_filename(f->postfix_dir, "main.cf",
                                              NULL);
  mm_test_write_file(main_cf, "compatibility_level = 3.6\n");
  load_config(f, "mailman.mta.postfix.LMTP", "hash", NULL);

  g_autofree char *db = mm_config_database_path(f->config, &error);
  g_assert_no_error(error);
  f->store = mm_store_open(db, MM_STORE_READ_WRITE, &error);
  g_assert_no_error(error);
  add_domain(f, "example.com", NULL);
  add_domain(f, "example.org", "x.example.org");
  add_domain(f, "example.net", NULL);
  add_list(f, "test", "example.com");
  add_list(f, "foo", "example.com");
  add_list(f, "foo-owner", "example.com");
  add_list(f, "third", "example.org");
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
  g_clear_pointer(&f->store, mm_store_close);
  g_clear_pointer(&f->config, mm_config_free);
  mm_test_rm_rf(f->root);
  g_free(f->root);
  g_free(f->var_dir);
  g_free(f->data_dir);
  g_free(f->postfix_dir);
}

static gboolean
have_postmap(void)
{
  if (g_file_test(POSTMAP, G_FILE_TEST_IS_EXECUTABLE))
    return TRUE;
  g_test_skip("Debian's postfix is not installed (no " POSTMAP ")");
  return FALSE;
}

/* `postmap -q KEY TYPE:MAP`: the value, or NULL when not found. */
static char *
postmap_query(Fixture *f, const char *type, const char *map, const char *key)
{
  g_autofree char *path = g_build_filename(f->data_dir, map, NULL);
  g_autofree char *table = g_strdup_printf("%s:%s", type, path);
  const char *argv[] = {POSTMAP, "-c", f->postfix_dir, "-q", key, table,
                        NULL};
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int status = 0;
  GError *error = NULL;

  g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL,
                             NULL, &out, &err, &status, &error));
  g_assert_no_error(error);
  /* postmap -q exits 1 for "not found", 0 with the value otherwise. */
  if (WIFEXITED(status) && WEXITSTATUS(status) == 1 && out[0] == '\0')
    return NULL;
  if (!g_spawn_check_wait_status(status, &error)) {
    g_test_message("postmap -q failed: %s", err);
    g_assert_no_error(error);
  }
  return g_strdup(g_strstrip(out));
}

static gboolean
exists_in_data(Fixture *f, const char *name)
{
  g_autofree char *path = g_build_filename(f->data_dir, name, NULL);
  return g_file_test(path, G_FILE_TEST_EXISTS);
}

static void
regenerate_ok(Fixture *f)
{
  GError *error = NULL;
  g_assert_true(mm_mta_regenerate(f->config, f->store, NULL, &error));
  g_assert_no_error(error);
}

/* Every address of every list answers with our LMTP transport, in the
 * domain Postfix sees (the alias domain where there is one); nothing else
 * does. */
static void
test_postfix_hash(Fixture *f, gconstpointer data)
{
  if (!have_postmap())
    return;
  regenerate_ok(f);

  const char *files[] = {"postfix_lmtp", "postfix_lmtp.db", "postfix_domains",
                         "postfix_domains.db", "postfix_vmap",
                         "postfix_vmap.db"};
  for (gsize i = 0; i < G_N_ELEMENTS(files); i++)
    g_assert_true(exists_in_data(f, files[i]));

  const char *lists[][2] = {{"test", "example.com"},
                            {"foo", "example.com"},
                            {"foo-owner", "example.com"},
                            {"third", "x.example.org"}};
  for (gsize i = 0; i < G_N_ELEMENTS(lists); i++) {
    g_auto(GStrv) addresses = mm_mta_list_addresses(lists[i][0], lists[i][1]);
    for (char **a = addresses; *a != NULL; a++) {
      g_autofree char *value = postmap_query(f, "hash", "postfix_lmtp", *a);
      g_assert_cmpstr(value, ==, "lmtp:[127.0.0.1]:8024");
    }
  }
  /* Keys are matched case-insensitively by Postfix's hash tables. */
  g_autofree char *upper = postmap_query(f, "hash", "postfix_lmtp",
                                         "Test-Request@EXAMPLE.com");
  g_assert_cmpstr(upper, ==, "lmtp:[127.0.0.1]:8024");

  const char *strangers[] = {"nobody@example.com", "test-admin@example.com",
                             "third@example.org", "test@example.net",
                             "example.com"};
  for (gsize i = 0; i < G_N_ELEMENTS(strangers); i++) {
    g_autofree char *value = postmap_query(f, "hash", "postfix_lmtp",
                                           strangers[i]);
    g_assert_null(value);
  }

  g_autofree char *relay = postmap_query(f, "hash", "postfix_domains",
                                         "x.example.org");
  g_assert_cmpstr(relay, ==, "example.org");
  g_autofree char *plain = postmap_query(f, "hash", "postfix_domains",
                                         "example.com");
  g_assert_cmpstr(plain, ==, "example.com");
  g_autofree char *net = postmap_query(f, "hash", "postfix_domains",
                                       "example.net");
  g_assert_null(net); /* a domain without lists is not relayed */

  g_autofree char *vmap = postmap_query(f, "hash", "postfix_vmap",
                                        "third-bounces@example.org");
  g_assert_cmpstr(vmap, ==, "third-bounces@x.example.org");

  /* The list data directories exist (Mailman's Exim recipe checks them). */
  const char *list_data_dir = mm_config_path(f->config, "list_data_dir");
  g_autofree char *dir = g_build_filename(list_data_dir, "foo-owner.example.com",
                                          NULL);
  g_assert_true(g_file_test(dir, G_FILE_TEST_IS_DIR));

  /* The text files are what the pure builders produce (the header's time
   * aside). */
  g_autofree char *path = g_build_filename(f->data_dir, "postfix_lmtp", NULL);
  g_autofree char *text = NULL;
  g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
  g_assert_true(g_str_has_prefix(text, "# AUTOMATICALLY GENERATED BY MAILMAN ON "));
  g_assert_nonnull(strstr(text, "\n# Lists and their subaddresses at @x.example.org.\n"));
}

/* When the last alias domain goes, postfix_vmap goes (as in Mailman) and a
 * postfix_vmap.db built earlier is emptied rather than left stale. */
static void
test_postfix_vmap_removed(Fixture *f, gconstpointer data)
{
  GError *error = NULL;

  if (!have_postmap())
    return;
  regenerate_ok(f);
  g_assert_true(exists_in_data(f, "postfix_vmap"));
  g_assert_true(mm_store_domain_set_alias(f->store, "example.org", NULL,
                                          &error));
  g_assert_no_error(error);
  regenerate_ok(f);
  g_assert_false(exists_in_data(f, "postfix_vmap"));
  g_assert_true(exists_in_data(f, "postfix_vmap.db"));
  g_autofree char *stale = postmap_query(f, "hash", "postfix_vmap",
                                         "third@example.org");
  g_assert_null(stale);
  g_autofree char *direct = postmap_query(f, "hash", "postfix_lmtp",
                                          "third@example.org");
  g_assert_cmpstr(direct, ==, "lmtp:[127.0.0.1]:8024");
}

/* A failing postmap is an error that names the file and quotes stderr. */
static void
test_postmap_failure(Fixture *f, gconstpointer data)
{
  GError *error = NULL;

  load_config(f, "mailman.mta.postfix.LMTP", "hash",
              "sh -c 'echo \"fatal: no room at the inn\" >&2; exit 3' postmap");
  g_assert_false(mm_mta_regenerate(f->config, f->store, NULL, &error));
  g_assert_error(error, MM_MTA_ERROR, MM_MTA_ERROR_COMMAND);
  g_assert_nonnull(strstr(error->message, "postfix_lmtp"));
  g_assert_nonnull(strstr(error->message, "postfix_domains"));
  g_assert_nonnull(strstr(error->message, "no room at the inn"));
  g_assert_nonnull(strstr(error->message, "status 3"));
  g_clear_error(&error);
  /* The text files were still written. */
  g_assert_true(exists_in_data(f, "postfix_lmtp"));

  /* A command that does not exist is reported too. */
  load_config(f, "mailman.mta.postfix.LMTP", "hash",
              "/nonexistent/postmap");
  g_assert_false(mm_mta_regenerate(f->config, f->store, NULL, &error));
  g_assert_error(error, MM_MTA_ERROR, MM_MTA_ERROR_COMMAND);
  g_assert_nonnull(strstr(error->message, "/nonexistent/postmap"));
  g_clear_error(&error);
}

/* regex maps are never postmapped (postmap would be /bin/false here). */
static void
test_postfix_regex(Fixture *f, gconstpointer data)
{
  load_config(f, "mailman.mta.postfix.LMTP", "regex", "/bin/false");
  regenerate_ok(f);
  g_assert_true(exists_in_data(f, "postfix_lmtp"));
  g_assert_false(exists_in_data(f, "postfix_lmtp.db"));
  g_assert_true(exists_in_data(f, "postfix_vmap"));
  if (!have_postmap())
    return;
  g_autofree char *verp = postmap_query(
      f, "regexp", "postfix_lmtp", "foo-bounces+ann=example.net@example.com");
  g_assert_cmpstr(verp, ==, "lmtp:[127.0.0.1]:8024");
  g_autofree char *owner = postmap_query(f, "regexp", "postfix_lmtp",
                                         "foo-owner@example.com");
  g_assert_cmpstr(owner, ==, "lmtp:[127.0.0.1]:8024");
  g_autofree char *none = postmap_query(f, "regexp", "postfix_lmtp",
                                        "fooxowner@example.com");
  g_assert_null(none); /* the dots and dashes are literal */
  g_autofree char *relay = postmap_query(f, "regexp", "postfix_domains",
                                         "x.example.org");
  g_assert_cmpstr(relay, ==, "example.org");
}

/* An explicit directory (mailman aliases -d DIR) gets the files instead. */
static void
test_directory_argument(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_autofree char *dir = g_build_filename(f->root, "elsewhere", NULL);

  load_config(f, "mailman.mta.postfix.LMTP", "regex", "/bin/false");
  g_assert_true(mm_mta_regenerate(f->config, f->store, dir, &error));
  g_assert_no_error(error);
  g_autofree char *lmtp = g_build_filename(dir, "postfix_lmtp", NULL);
  g_assert_true(g_file_test(lmtp, G_FILE_TEST_EXISTS));
  g_assert_false(exists_in_data(f, "postfix_lmtp"));
}

static void
test_exim(Fixture *f, gconstpointer data)
{
  load_config(f, "mailman.mta.exim4.LMTP", "hash", "/bin/false");
  regenerate_ok(f);
  g_autofree char *path = g_build_filename(f->data_dir, "exim_lists", NULL);
  g_autofree char *text = NULL;
  g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
  g_assert_nonnull(strstr(text, "\nthird-bounces@x.example.org: third.example.org\n"));
  g_assert_nonnull(strstr(text, "\nfoo-owner@example.com: foo-owner.example.com\n"));
  g_assert_true(exists_in_data(f, "exim_domains"));
  g_assert_false(exists_in_data(f, "postfix_lmtp"));
}

static void
test_sendmail(Fixture *f, gconstpointer data)
{
  load_config(f, "mailman_c.mta.sendmail", "hash", "/bin/false");
  regenerate_ok(f);
  g_assert_true(exists_in_data(f, "sendmail_mailertable"));
  g_assert_true(exists_in_data(f, "sendmail_access"));
  g_assert_true(exists_in_data(f, "sendmail_domains"));
}

/* The Null MTA writes nothing at all. */
static void
test_null(Fixture *f, gconstpointer data)
{
  load_config(f, "mailman.mta.null.NullMTA", "hash", "/bin/false");
  regenerate_ok(f);
  GDir *dir = g_dir_open(f->data_dir, 0, NULL);
  if (dir != NULL) {
    const char *name;
    while ((name = g_dir_read_name(dir)) != NULL)
      g_assert_false(g_str_has_prefix(name, "postfix_") ||
                     g_str_has_prefix(name, "exim_") ||
                     g_str_has_prefix(name, "sendmail_"));
    g_dir_close(dir);
  }
}

/* Directories of removed lists go when empty and stay when they hold
 * data; other files there are left alone. */
static void
test_list_dirs(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  const char *root = NULL;

  load_config(f, "mailman.mta.exim4.LMTP", "hash", "/bin/false");
  root = mm_config_path(f->config, "list_data_dir");
  regenerate_ok(f);
  g_autofree char *test_dir = g_build_filename(root, "test.example.com", NULL);
  g_autofree char *foo_dir = g_build_filename(root, "foo.example.com", NULL);
  g_autofree char *digest = g_build_filename(foo_dir, "digest.mmdf", NULL);
  g_autofree char *stray = g_build_filename(root, "README", NULL);
  g_assert_true(g_file_test(test_dir, G_FILE_TEST_IS_DIR));
  mm_test_write_file(digest, "From x\n");
  mm_test_write_file(stray, "site notes\n");

  g_assert_true(mm_store_list_remove(f->store, "test.example.com", &error));
  g_assert_no_error(error);
  g_assert_true(mm_store_list_remove(f->store, "foo.example.com", &error));
  g_assert_no_error(error);
  regenerate_ok(f);
  g_assert_false(g_file_test(test_dir, G_FILE_TEST_EXISTS));
  g_assert_true(g_file_test(digest, G_FILE_TEST_EXISTS));
  g_assert_true(g_file_test(stray, G_FILE_TEST_EXISTS));
}

/* ---- Running commands ------------------------------------------------ */

static void
test_run_command_stdin(void)
{
  g_autofree char *dir = g_dir_make_tmp("mm-mta-XXXXXX", NULL);
  g_autofree char *path = g_build_filename(dir, "map with space", NULL);
  GError *error = NULL;

  mm_test_write_file(path, "a b\n");
  /* $0 is the appended path: stdin must be that file, byte for byte. */
  g_assert_true(mm_mta_run_map_command("sh -c 'cmp -s - \"$0\"'", path, TRUE,
                                       30, &error));
  g_assert_no_error(error);
  /* Without stdin_from_path the command's stdin is empty. */
  g_assert_false(mm_mta_run_map_command("sh -c 'cmp -s - \"$0\"'", path,
                                        FALSE, 30, &error));
  g_assert_error(error, MM_MTA_ERROR, MM_MTA_ERROR_COMMAND);
  g_clear_error(&error);
  /* Unbalanced quotes are a configuration error, not a crash. */
  g_assert_false(mm_mta_run_map_command("postmap 'oops", path, FALSE, 30,
                                        &error));
  g_assert_error(error, MM_MTA_ERROR, MM_MTA_ERROR_CONFIG);
  g_clear_error(&error);
  g_unlink(path);
  g_rmdir(dir);
}

/* A command that floods stderr is neither blocked nor kept whole. */
static void
test_run_command_bounded(void)
{
  GError *error = NULL;

  g_assert_false(mm_mta_run_map_command(
      "sh -c 'head -c 1000000 /dev/zero | tr \"\\\\0\" x >&2; exit 1'",
      "/dev/null", FALSE, 60, &error));
  g_assert_error(error, MM_MTA_ERROR, MM_MTA_ERROR_COMMAND);
  g_assert_cmpuint(strlen(error->message), <, 20000);
  g_clear_error(&error);
}

static void
test_run_command_timeout(void)
{
  GError *error = NULL;

  g_assert_false(mm_mta_run_map_command("sh -c 'exec sleep 30'", "/dev/null", FALSE, 1,
                                        &error));
  g_assert_error(error, MM_MTA_ERROR, MM_MTA_ERROR_COMMAND);
  g_test_message("%s", error->message);
  g_assert_nonnull(strstr(error->message, "killed"));
  g_clear_error(&error);
}

/* lmtp_host a Unix socket: postmap'd entries route to "lmtp:unix:PATH",
 * whatever lmtp_port says (0 here, which would be no TCP port at all). */
static void
test_postfix_unix_socket(Fixture *f, gconstpointer data)
{
  if (!have_postmap())
    return;
  const char *hosts[][2] = {
      {"unix:/run/mailman3/lmtp.sock", "lmtp:unix:/run/mailman3/lmtp.sock"},
      {"/var/spool/postfix/private/mm", "lmtp:unix:/var/spool/postfix/private/mm"},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(hosts); i++) {
    load_config_lmtp(f, "mailman.mta.postfix.LMTP", "hash", NULL, hosts[i][0],
                     "0");
    regenerate_ok(f);
    g_autofree char *post = postmap_query(f, "hash", "postfix_lmtp",
                                          "test@example.com");
    g_assert_cmpstr(post, ==, hosts[i][1]);
    g_autofree char *verp = postmap_query(f, "hash", "postfix_lmtp",
                                          "third-bounces@x.example.org");
    g_assert_cmpstr(verp, ==, hosts[i][1]);
  }
}

/* ---- Recipient resolution --------------------------------------------- */

static void
check_resolves(Fixture *f, const char *address, const char *list_id,
               const char *subaddress)
{
  GError *error = NULL;
  g_autoptr(MmMtaRecipient) r =
      mm_mta_recipient_resolve(f->store, address, "+", NULL, &error);

  if (list_id == NULL) {
    g_assert_null(r);
    g_assert_true(mm_mta_recipient_error_is_not_list(error));
    g_clear_error(&error);
    return;
  }
  g_assert_no_error(error);
  g_assert_nonnull(r);
  g_assert_cmpstr(r->list_id, ==, list_id);
  g_assert_cmpstr(mm_mta_subaddress_name(r->subaddress), ==, subaddress);
}

static void
test_recipient(Fixture *f, gconstpointer data)
{
  check_resolves(f, "test@example.com", "test.example.com", NULL);
  check_resolves(f, "TEST@Example.COM", "test.example.com", NULL);
  check_resolves(f, "test+tag@example.com", "test.example.com", NULL);
  check_resolves(f, "test-request@example.com", "test.example.com", "request");
  check_resolves(f, "test-subscribe@example.com", "test.example.com", "join");
  check_resolves(f, "test-unsubscribe@example.com", "test.example.com",
                 "leave");
  check_resolves(f, "test-bounces+ann=example.net@example.com",
                 "test.example.com", "bounces");
  check_resolves(f, "test-confirm+0123abcd@example.com", "test.example.com",
                 "confirm");
  /* A list named like a subaddress wins over foo's -owner. */
  check_resolves(f, "foo-owner@example.com", "foo-owner.example.com", NULL);
  check_resolves(f, "foo-owner-owner@example.com", "foo-owner.example.com",
                 "owner");
  check_resolves(f, "foo-bounces@example.com", "foo.example.com", "bounces");
  /* The alias domain stands for its domain; the bare mail_host too. */
  check_resolves(f, "third-leave@x.example.org", "third.example.org",
                 "leave");
  check_resolves(f, "third@example.org", "third.example.org", NULL);

  check_resolves(f, "nobody@example.com", NULL, NULL);
  check_resolves(f, "test-admin@example.com", NULL, NULL);
  check_resolves(f, "test@example.net", NULL, NULL);
  check_resolves(f, "-owner@example.com", NULL, NULL);
  check_resolves(f, "+test@example.com", NULL, NULL);
  check_resolves(f, "example.com", NULL, NULL);
  check_resolves(f, "test@", NULL, NULL);
  check_resolves(f, "@example.com", NULL, NULL);
  check_resolves(f, "te'st@example.com", NULL, NULL);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
#define ADD(path, fn)                                                        \
  g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD("/mta/regenerate/postfix-hash", test_postfix_hash);
  ADD("/mta/regenerate/postfix-vmap-removed", test_postfix_vmap_removed);
  ADD("/mta/regenerate/postmap-failure", test_postmap_failure);
  ADD("/mta/regenerate/postfix-regex", test_postfix_regex);
  ADD("/mta/regenerate/postfix-unix-socket", test_postfix_unix_socket);
  ADD("/mta/regenerate/directory-argument", test_directory_argument);
  ADD("/mta/regenerate/exim", test_exim);
  ADD("/mta/regenerate/sendmail", test_sendmail);
  ADD("/mta/regenerate/null", test_null);
  ADD("/mta/regenerate/list-dirs", test_list_dirs);
  ADD("/mta/recipient/resolve", test_recipient);
#undef ADD
  g_test_add_func("/mta/command/stdin", test_run_command_stdin);
  g_test_add_func("/mta/command/bounded", test_run_command_bounded);
  g_test_add_func("/mta/command/timeout", test_run_command_timeout);
  return g_test_run();
}
