/* Tests for the storage module on a real SQLite file in a temporary
 * directory: migrations, domains, lists and settings, members, preference
 * resolution, rosters (one query for 2,000 members), transactions,
 * read-only opening and hostile names.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "storage.h"
#include "storage-private.h"

#include <glib/gstdio.h>
#include <string.h>

typedef struct {
  char *dir;
  char *path;
  MmStore *store;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  f->dir = g_dir_make_tmp("mm-storage-XXXXXX", &error);
  g_assert_no_error(error);
  f->path = g_build_filename(f->dir, "mailman.db", NULL);
  f->store = mm_store_open(f->path, MM_STORE_READ_WRITE, &error);
  g_assert_no_error(error);
  g_assert_nonnull(f->store);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
  g_clear_pointer(&f->store, mm_store_close);
  GDir *dir = g_dir_open(f->dir, 0, NULL);
  g_assert_nonnull(dir);
  const char *name;
  while ((name = g_dir_read_name(dir)) != NULL) {
    g_autofree char *file = g_build_filename(f->dir, name, NULL);
    g_unlink(file);
  }
  g_dir_close(dir);
  g_assert_cmpint(g_rmdir(f->dir), ==, 0);
  g_free(f->path);
  g_free(f->dir);
}

/* Reads one integer with a connection of our own, beside the store's (the
 * test looks at the file as another process would). */
static gint64
raw_int_with(const char *path, const char *sql, const char *param)
{
  sqlite3 *db = NULL;
  g_assert_cmpint(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), ==,
                  SQLITE_OK);
  sqlite3_stmt *stmt = NULL;
  g_assert_cmpint(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), ==,
                  SQLITE_OK);
  if (param != NULL)
    sqlite3_bind_text(stmt, 1, param, -1, SQLITE_STATIC);
  g_assert_cmpint(sqlite3_step(stmt), ==, SQLITE_ROW);
  gint64 value = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return value;
}

static gint64
raw_int(const char *path, const char *sql)
{
  return raw_int_with(path, sql, NULL);
}

static void
raw_exec(const char *path, const char *sql)
{
  sqlite3 *db = NULL;
  g_assert_cmpint(sqlite3_open(path, &db), ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_exec(db, sql, NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close(db);
}

static void
add_domain(MmStore *store, const char *host)
{
  GError *error = NULL;
  g_assert_true(mm_store_domain_add(store, host, NULL, NULL, &error));
  g_assert_no_error(error);
}

static MmList *
create_list(MmStore *store, const char *name, const char *host)
{
  GError *error = NULL;
  MmList *list = mm_store_list_create(store, name, host, NULL, &error);
  g_assert_no_error(error);
  g_assert_nonnull(list);
  return list;
}

static void
add_member(MmStore *store, const char *list_id, const char *email,
           MmMemberRole role)
{
  GError *error = NULL;
  g_assert_true(
      mm_store_member_add(store, list_id, email, NULL, role, 0, &error));
  g_assert_no_error(error);
}

/* An error message must be one printable line and never SQL. */
static void
assert_person_message(const GError *error)
{
  g_assert_nonnull(error);
  for (const char *p = error->message; *p != '\0'; p++)
    g_assert_true(g_ascii_isprint(*p) || (guchar)*p >= 0x80);
  g_assert_null(strstr(error->message, "SELECT"));
  g_assert_null(strstr(error->message, "INSERT"));
  g_assert_null(strstr(error->message, "constraint"));
}

/* ---- Schema ------------------------------------------------------------ */

static void
test_schema_fresh(Fixture *f, gconstpointer data)
{
  g_assert_cmpint(mm_store_schema_version(f->store), ==,
                  mm_store_schema_current());
  g_assert_cmpint(mm_store_schema_current(), >=, 1);
  static const char *const tables[] = {"schema_version", "domain",
                                       "mailinglist",    "user",
                                       "address",        "member",
                                       "preferences",    "domain_owner"};
  for (gsize i = 0; i < G_N_ELEMENTS(tables); i++) {
    g_assert_cmpint(raw_int_with(f->path,
                                 "SELECT count(*) FROM sqlite_master"
                                 " WHERE type = 'table' AND name = ?1",
                                 tables[i]),
                    ==, 1);
  }
  g_assert_cmpint(
      raw_int(f->path, "SELECT count(*) FROM schema_version"), ==,
      mm_store_schema_current());
  g_assert_cmpint(raw_int(f->path, "SELECT max(version) FROM schema_version"),
                  ==, mm_store_schema_current());

  /* WAL is a property of the file; foreign keys of the connection. */
  sqlite3 *db = NULL;
  sqlite3_open(f->path, &db);
  sqlite3_stmt *stmt = NULL;
  sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, NULL);
  g_assert_cmpint(sqlite3_step(stmt), ==, SQLITE_ROW);
  g_assert_cmpstr((const char *)sqlite3_column_text(stmt, 0), ==, "wal");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  sqlite3_prepare_v2(f->store->db, "PRAGMA foreign_keys", -1, &stmt, NULL);
  g_assert_cmpint(sqlite3_step(stmt), ==, SQLITE_ROW);
  g_assert_cmpint(sqlite3_column_int(stmt, 0), ==, 1);
  sqlite3_finalize(stmt);

  /* Migrations are dense and ordered from 1. */
  gsize n;
  const MmMigration *migrations = mm_store_migrations(&n);
  for (gsize i = 0; i < n; i++)
    g_assert_cmpint(migrations[i].version, ==, (int)i + 1);
}

static void
test_schema_reopen(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  add_domain(f->store, "example.com");
  gint64 applied =
      raw_int(f->path, "SELECT applied_at FROM schema_version WHERE version = 1");
  g_clear_pointer(&f->store, mm_store_close);

  /* Make "applied_at" distinguishable from a re-run migration. */
  raw_exec(f->path, "UPDATE schema_version SET applied_at = 12345");
  f->store = mm_store_open(f->path, MM_STORE_READ_WRITE, &error);
  g_assert_no_error(error);
  g_assert_cmpint(mm_store_schema_version(f->store), ==,
                  mm_store_schema_current());
  g_assert_cmpint(raw_int(f->path, "SELECT count(*) FROM schema_version"), ==,
                  mm_store_schema_current());
  g_assert_cmpint(raw_int(f->path, "SELECT min(applied_at) FROM schema_version"),
                  ==, 12345);
  g_assert_cmpint(applied, >, 0);
  g_autoptr(MmDomain) domain =
      mm_store_domain_get(f->store, "example.com", &error);
  g_assert_no_error(error);
  g_assert_nonnull(domain);
}

static void
test_schema_newer(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_clear_pointer(&f->store, mm_store_close);
  raw_exec(f->path, "INSERT INTO schema_version VALUES (999, 'future', 0)");

  MmStore *store = mm_store_open(f->path, MM_STORE_READ_WRITE, &error);
  g_assert_null(store);
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_SCHEMA);
  g_assert_nonnull(strstr(error->message, "999"));
  assert_person_message(error);
  g_clear_error(&error);

  store = mm_store_open(f->path, MM_STORE_READ_ONLY, &error);
  g_assert_null(store);
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_SCHEMA);
  g_clear_error(&error);
}

static void
test_schema_readonly_missing(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  /* A file with no schema at all. */
  g_autofree char *empty = g_build_filename(f->dir, "empty.db", NULL);
  raw_exec(empty, "CREATE TABLE unrelated (x)");
  MmStore *store = mm_store_open(empty, MM_STORE_READ_ONLY, &error);
  g_assert_null(store);
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_SCHEMA);
  g_clear_error(&error);

  /* A version table with nothing applied: read-only refuses it,
   * read-write migrates it. */
  g_autofree char *old = g_build_filename(f->dir, "old.db", NULL);
  raw_exec(old, "CREATE TABLE schema_version (version INTEGER PRIMARY KEY,"
                " description TEXT NOT NULL, applied_at INTEGER NOT NULL)");
  store = mm_store_open(old, MM_STORE_READ_ONLY, &error);
  g_assert_null(store);
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_SCHEMA);
  g_clear_error(&error);
  store = mm_store_open(old, MM_STORE_READ_WRITE, &error);
  g_assert_no_error(error);
  g_assert_cmpint(mm_store_schema_version(store), ==,
                  mm_store_schema_current());
  mm_store_close(store);
  store = mm_store_open(old, MM_STORE_READ_ONLY, &error);
  g_assert_no_error(error);
  mm_store_close(store);

  /* No file at all. */
  g_autofree char *none = g_build_filename(f->dir, "none.db", NULL);
  store = mm_store_open(none, MM_STORE_READ_ONLY, &error);
  g_assert_null(store);
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_FAILED);
  assert_person_message(error);
  g_clear_error(&error);
  g_assert_false(g_file_test(none, G_FILE_TEST_EXISTS));

  /* Not a database. */
  g_autofree char *junk = g_build_filename(f->dir, "junk.db", NULL);
  g_assert_true(g_file_set_contents(
      junk, "this is not an SQLite database, just some text to open", -1,
      NULL));
  store = mm_store_open(junk, MM_STORE_READ_WRITE, &error);
  g_assert_null(store);
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_FAILED);
  g_clear_error(&error);
}

static void
test_schema_settings_columns(Fixture *f, gconstpointer data)
{
  gsize n;
  const MmSetting *settings = mm_store_settings(&n);
  g_assert_cmpuint(n, >, 80);
  for (gsize i = 0; i < n; i++) {
    const MmSetting *s = &settings[i];
    g_test_message("setting %s", s->name);
    /* Names are unique. */
    g_assert_true(mm_store_setting_find(s->name) == s);
    if (s->flags & MM_SETTING_DERIVED)
      continue;
    g_assert_cmpint(raw_int_with(f->path,
                                 "SELECT count(*) FROM"
                                 " pragma_table_info('mailinglist')"
                                 " WHERE name = ?1",
                                 s->name),
                    ==, 1);
    if (!(s->flags & MM_SETTING_READ_ONLY)) {
      g_assert_nonnull(s->update_sql);
      g_assert_true(s->type != MM_SETTING_ENUM || s->names != NULL);
    }
  }
}

/* ---- Domains ----------------------------------------------------------- */

static void
test_domains(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_assert_true(mm_store_domain_add(f->store, "Example.COM", "Our lists",
                                    NULL, &error));
  g_assert_no_error(error);
  g_assert_true(mm_store_domain_add(f->store, "another.example.org", NULL,
                                    "alias.example.org", &error));
  g_assert_no_error(error);

  g_assert_false(
      mm_store_domain_add(f->store, "example.com", NULL, NULL, &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_EXISTS);
  assert_person_message(error);
  g_assert_nonnull(strstr(error->message, "example.com"));
  g_clear_error(&error);

  g_autoptr(MmDomain) domain =
      mm_store_domain_get(f->store, "EXAMPLE.com", &error);
  g_assert_no_error(error);
  g_assert_cmpstr(domain->mail_host, ==, "example.com");
  g_assert_cmpstr(domain->description, ==, "Our lists");
  g_assert_null(domain->alias_domain);

  g_autoptr(GPtrArray) all = mm_store_domains(f->store, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(all->len, ==, 2);
  MmDomain *first = all->pdata[0];
  MmDomain *second = all->pdata[1];
  g_assert_cmpstr(first->mail_host, ==, "another.example.org");
  g_assert_cmpstr(first->alias_domain, ==, "alias.example.org");
  g_assert_cmpstr(first->description, ==, "");
  g_assert_cmpstr(second->mail_host, ==, "example.com");

  g_assert_true(mm_store_domain_set_alias(f->store, "example.com",
                                          "Alias.Example.NET", &error));
  g_assert_no_error(error);
  g_autoptr(MmDomain) aliased =
      mm_store_domain_get(f->store, "example.com", &error);
  g_assert_cmpstr(aliased->alias_domain, ==, "alias.example.net");
  g_assert_true(
      mm_store_domain_set_alias(f->store, "example.com", NULL, &error));
  g_autoptr(MmDomain) cleared =
      mm_store_domain_get(f->store, "example.com", &error);
  g_assert_null(cleared->alias_domain);
  g_assert_false(
      mm_store_domain_set_alias(f->store, "nowhere.example", NULL, &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);

  g_assert_true(
      mm_store_domain_remove(f->store, "another.example.org", &error));
  g_assert_no_error(error);
  g_assert_false(
      mm_store_domain_remove(f->store, "another.example.org", &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  MmDomain *gone =
      mm_store_domain_get(f->store, "another.example.org", &error);
  g_assert_null(gone);
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);

  static const char *const hostile[] = {
      "", ".", "..", "../x", "localhost", "exa mple.com", "example.com\n",
      "example.com/evil", "-bad.example.com", "a..b.com"};
  for (gsize i = 0; i < G_N_ELEMENTS(hostile); i++) {
    g_assert_false(
        mm_store_domain_add(f->store, hostile[i], NULL, NULL, &error));
    g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID);
    assert_person_message(error);
    g_clear_error(&error);
  }
  g_assert_false(mm_store_domain_add(f->store, "ok.example.com",
                                     "two\nlines", NULL, &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID);
  g_clear_error(&error);
  g_assert_false(mm_store_domain_add(f->store, "ok.example.com", NULL,
                                     "bad alias", &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID);
  g_clear_error(&error);
  g_assert_cmpint(raw_int(f->path, "SELECT count(*) FROM domain"), ==, 1);
}

/* ---- Lists ------------------------------------------------------------- */

static void
test_list_create(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  add_domain(f->store, "example.com");
  gint64 before = mm_store_now();
  g_autoptr(MmList) list =
      mm_store_list_create(f->store, "Test", "EXAMPLE.com", NULL, &error);
  g_assert_no_error(error);
  g_assert_nonnull(list);

  g_assert_cmpint(list->id, >, 0);
  g_assert_cmpstr(list->list_name, ==, "test");
  g_assert_cmpstr(list->mail_host, ==, "example.com");
  g_assert_cmpstr(list->list_id, ==, "test.example.com");
  g_assert_cmpstr(list->fqdn_listname, ==, "test@example.com");
  g_assert_cmpstr(list->display_name, ==, "Test");
  g_assert_cmpstr(list->subject_prefix, ==, "[Test] ");
  g_assert_cmpstr(list->description, ==, "");
  g_assert_cmpstr(list->preferred_language, ==, "en");
  g_assert_true(list->advertised);
  g_assert_cmpint(list->post_id, ==, 1);
  g_assert_cmpint(list->created_at, >=, before);
  g_assert_cmpint(list->created_at, <=, mm_store_now());

  /* Mailman 3's legacy-default style, as its REST API shows it. */
  static const struct {
    const char *name;
    const char *value;
  } expected[] = {
      {"max_message_size", "40"},
      {"max_num_recipients", "10"},
      {"default_member_action", "defer"},
      {"default_nonmember_action", "hold"},
      {"subscription_policy", "confirm"},
      {"unsubscription_policy", "confirm"},
      {"advertised", "True"},
      {"display_name", "Test"},
      {"subject_prefix", "[Test] "},
      {"archive_policy", "public"},
      {"reply_goes_to_list", "no_munging"},
      {"personalize", "none"},
      {"digest_size_threshold", "30.0"},
      {"digest_volume_frequency", "monthly"},
      {"bounce_score_threshold", "5"},
      {"bounce_info_stale_after", "7d"},
      {"bounce_you_are_disabled_warnings_interval", "7d"},
      {"autoresponse_grace_period", "90d"},
      {"member_roster_visibility", "moderators"},
      {"filter_action", "discard"},
      {"dmarc_mitigate_action", "no_mitigation"},
      {"forward_unrecognized_bounces_to", "administrators"},
      {"archive_rendering_mode", "text"},
      {"newsgroup_moderation", "none"},
      {"posting_pipeline", "default-posting-pipeline"},
      {"allow_list_posts", "True"},
      {"include_rfc2369_headers", "True"},
      {"emergency", "False"},
      {"send_welcome_message", "True"},
      {"admin_notify_mchanges", "False"},
      {"require_explicit_destination", "True"},
      {"max_days_to_hold", "0"},
      {"volume", "1"},
      {"next_digest_number", "1"},
      {"post_id", "1"},
      {"last_post_at", ""},
      {"list_id", "test.example.com"},
      {"fqdn_listname", "test@example.com"},
      {"posting_address", "test@example.com"},
      {"owner_address", "test-owner@example.com"},
      {"request_address", "test-request@example.com"},
      {"bounces_address", "test-bounces@example.com"},
      {"join_address", "test-join@example.com"},
      {"leave_address", "test-leave@example.com"},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(expected); i++) {
    g_test_message("setting %s", expected[i].name);
    g_assert_cmpstr(mm_list_setting(list, expected[i].name), ==,
                    expected[i].value);
  }
  g_assert_null(mm_list_setting(list, "no_such_setting"));
  /* Every setting is present as text. */
  gsize n;
  const MmSetting *settings = mm_store_settings(&n);
  for (gsize i = 0; i < n; i++)
    g_assert_nonnull(mm_list_setting(list, settings[i].name));
  g_assert_cmpuint(g_hash_table_size(list->settings), ==, n);
  g_autofree char *created = g_strdup(mm_list_setting(list, "created_at"));
  g_assert_cmpuint(strlen(created), ==, 19); /* YYYY-MM-DDTHH:MM:SS */

  /* Lookups: fqdn or list-id, any case. */
  static const char *const specs[] = {"test@example.com", "TEST@Example.Com",
                                      "test.example.com", "Test.EXAMPLE.com"};
  for (gsize i = 0; i < G_N_ELEMENTS(specs); i++) {
    g_autoptr(MmList) found = mm_store_list_get(f->store, specs[i], &error);
    g_assert_no_error(error);
    g_assert_cmpint(found->id, ==, list->id);
    g_assert_cmpstr(found->list_id, ==, "test.example.com");
  }
  MmList *missing = mm_store_list_get(f->store, "nope@example.com", &error);
  g_assert_null(missing);
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);

  /* Duplicates, in any case. */
  MmList *dup = mm_store_list_create(f->store, "TEST", "example.com", NULL,
                                     &error);
  g_assert_null(dup);
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_EXISTS);
  assert_person_message(error);
  g_clear_error(&error);

  /* A list-id clash across domains: a.b@example.com vs a@b.example.com. */
  add_domain(f->store, "b.example.com");
  g_autoptr(MmList) ab = create_list(f->store, "a.b", "example.com");
  dup = mm_store_list_create(f->store, "a", "b.example.com", NULL, &error);
  g_assert_null(dup);
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_EXISTS);
  g_clear_error(&error);

  /* The domain must exist. */
  dup = mm_store_list_create(f->store, "test", "unknown.example.org", NULL,
                             &error);
  g_assert_null(dup);
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_assert_nonnull(strstr(error->message, "unknown.example.org"));
  g_clear_error(&error);

  /* listname_chars narrows what may be created; lookups accept any name
   * Mailman allows. */
  dup = mm_store_list_create(f->store, "plus+list", "example.com", NULL,
                             &error);
  g_assert_null(dup);
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID);
  g_clear_error(&error);
  g_autoptr(MmList) plus = mm_store_list_create(
      f->store, "plus+list", "example.com", "[-_.+0-9a-z]", &error);
  g_assert_no_error(error);
  g_autoptr(MmList) plus_found =
      mm_store_list_get(f->store, "plus+list@example.com", &error);
  g_assert_no_error(error);
  g_assert_cmpstr(plus_found->display_name, ==, "Plus+list");
}

static void
test_list_hostile(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  add_domain(f->store, "example.com");
  g_autofree char *long_name = g_strnfill(300, 'x');
  const char *const names[] = {"../x",  "a/b",     "my list", "list\n",
                               "list\r", "",       ".",       "..",
                               ".hidden", "caf\xc3\xa9", "a@b",  "semi;colon",
                               "trailing.", long_name};
  for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
    g_test_message("name %" G_GSIZE_FORMAT, i);
    MmList *list =
        mm_store_list_create(f->store, names[i], "example.com", NULL, &error);
    g_assert_null(list);
    g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID);
    assert_person_message(error);
    g_assert_cmpuint(strlen(error->message), <, 300);
    g_clear_error(&error);

    /* Lookups and removals validate too, before any query. */
    g_autofree char *fqdn = g_strconcat(names[i], "@example.com", NULL);
    list = mm_store_list_get(f->store, fqdn, &error);
    g_assert_null(list);
    g_assert_true(g_error_matches(error, MM_STORE_ERROR,
                                  MM_STORE_ERROR_INVALID) ||
                  g_error_matches(error, MM_STORE_ERROR,
                                  MM_STORE_ERROR_NOT_FOUND));
    g_clear_error(&error);
  }
  const char *const domains[] = {"../etc", "example.com/x", "", "localhost",
                                 "exa mple.com"};
  for (gsize i = 0; i < G_N_ELEMENTS(domains); i++) {
    MmList *list = mm_store_list_create(f->store, "ok", domains[i], NULL,
                                        &error);
    g_assert_null(list);
    g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID);
    g_clear_error(&error);
  }
  const char *const specs[] = {"", ".", "..", "../x.example.com",
                               "x y.example.com", "nodot", "x.example.com\n",
                               ".x.example.com", "x.example.com.",
                               "x@../etc"};
  for (gsize i = 0; i < G_N_ELEMENTS(specs); i++) {
    g_test_message("spec %" G_GSIZE_FORMAT, i);
    MmList *list = mm_store_list_get(f->store, specs[i], &error);
    g_assert_null(list);
    g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID);
    assert_person_message(error);
    g_clear_error(&error);
    g_assert_false(mm_store_list_remove(f->store, specs[i], &error));
    g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID);
    g_clear_error(&error);
  }
  /* Uppercase is folded, not refused. */
  g_autoptr(MmList) upper = create_list(f->store, "UPPER", "EXAMPLE.COM");
  g_assert_cmpstr(upper->list_id, ==, "upper.example.com");
  g_assert_cmpint(raw_int(f->path, "SELECT count(*) FROM mailinglist"), ==, 1);
}

static void
test_list_set(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  add_domain(f->store, "example.com");
  g_autoptr(MmList) list = create_list(f->store, "test", "example.com");

  static const struct {
    const char *name;
    const char *value;
    const char *shown;
  } good[] = {
      {"advertised", "no", "False"},
      {"advertised", "YES", "True"},
      {"emergency", "true", "True"},
      {"emergency", "off", "False"},
      {"max_message_size", "0", "0"},
      {"max_message_size", "1024", "1024"},
      {"default_member_action", "hold", "hold"},
      {"default_member_action", "accept", "accept"},
      {"default_nonmember_action", "discard", "discard"},
      {"default_nonmember_action", "Reject", "reject"},
      {"default_member_action", "defer", "defer"},
      {"subscription_policy", "open", "open"},
      {"subscription_policy", "moderate", "moderate"},
      {"subscription_policy", "confirm_then_moderate",
       "confirm_then_moderate"},
      {"reply_goes_to_list", "point_to_list", "point_to_list"},
      {"reply_goes_to_list", "explicit_header", "explicit_header"},
      {"digest_volume_frequency", "daily", "daily"},
      {"digest_size_threshold", "2.5", "2.5"},
      {"digest_size_threshold", "100", "100.0"},
      {"bounce_info_stale_after", "1d12h", "1d12h"},
      {"bounce_info_stale_after", "2w", "14d"},
      {"description", "A list about tests", "A list about tests"},
      {"display_name", "Testing \xc3\xa9", "Testing \xc3\xa9"},
      {"subject_prefix", "", ""},
      {"info", "line one\nline two", "line one\nline two"},
      {"preferred_language", "pt_BR", "pt_BR"},
      {"reply_to_address", "Other@Example.com", "Other@Example.com"},
      {"reply_to_address", "", ""},
      {"posting_pipeline", "virgin", "virgin"},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(good); i++) {
    g_test_message("set %s = %s", good[i].name, good[i].value);
    g_assert_true(mm_store_list_set(f->store, list, good[i].name,
                                    good[i].value, &error));
    g_assert_no_error(error);
    g_assert_cmpstr(mm_list_setting(list, good[i].name), ==, good[i].shown);
    g_autoptr(MmList) again = mm_store_list_get(f->store, "test.example.com",
                                                &error);
    g_assert_cmpstr(mm_list_setting(again, good[i].name), ==, good[i].shown);
  }
  g_assert_cmpstr(list->display_name, ==, "Testing \xc3\xa9");
  g_assert_cmpstr(list->description, ==, "A list about tests");
  g_assert_cmpstr(list->preferred_language, ==, "pt_BR");

  static const struct {
    const char *name;
    const char *value;
  } bad[] = {
      {"advertised", "maybe"},
      {"advertised", ""},
      {"max_message_size", "-1"},
      {"max_message_size", "40k"},
      {"max_message_size", "99999999999"},
      {"max_message_size", ""},
      {"default_member_action", "bounce"},
      {"default_member_action", "3"},
      {"subscription_policy", "closed"},
      {"digest_size_threshold", "nan"},
      {"digest_size_threshold", "-2"},
      {"digest_size_threshold", "1x"},
      {"bounce_info_stale_after", "7"},
      {"bounce_info_stale_after", "7d7d"},
      {"bounce_info_stale_after", "7y"},
      {"bounce_info_stale_after", ""},
      {"description", "two\nlines"},
      {"display_name", "x\r\nBcc: victim@example.org"},
      {"subject_prefix", "bad\x01"},
      {"info", "not utf-8 \xff"},
      {"preferred_language", "../../etc"},
      {"preferred_language", "e"},
      {"reply_to_address", "not an address"},
      {"posting_pipeline", "../x"},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autofree char *shown = g_strescape(bad[i].value, NULL);
    g_test_message("bad %s = %s", bad[i].name, shown);
    g_autofree char *before = g_strdup(mm_list_setting(list, bad[i].name));
    g_assert_false(mm_store_list_set(f->store, list, bad[i].name,
                                     bad[i].value, &error));
    g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID);
    assert_person_message(error);
    g_assert_nonnull(strstr(error->message, bad[i].name));
    g_clear_error(&error);
    g_assert_cmpstr(mm_list_setting(list, bad[i].name), ==, before);
  }

  g_assert_false(mm_store_list_set(f->store, list, "list_id", "x", &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID);
  g_clear_error(&error);
  g_assert_false(mm_store_list_set(f->store, list, "post_id", "7", &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID);
  g_clear_error(&error);
  g_assert_false(
      mm_store_list_set(f->store, list, "fqdn_listname", "x@y.z", &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID);
  g_clear_error(&error);
  g_assert_false(mm_store_list_set(f->store, list, "no_such", "1", &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_false(mm_store_list_set(f->store, list, "id", "1", &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
}

static void
test_list_order_and_remove(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  add_domain(f->store, "example.com");
  add_domain(f->store, "example.org");
  static const char *const names[] = {"b", "a", "a-b", "c"};
  for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
    g_autoptr(MmList) l = create_list(f->store, names[i], "example.com");
  }
  g_autoptr(MmList) other = create_list(f->store, "a", "example.org");

  g_autoptr(GPtrArray) lists = mm_store_lists(f->store, &error);
  g_assert_no_error(error);
  static const char *const order[] = {"a-b@example.com", "a@example.com",
                                      "a@example.org", "b@example.com",
                                      "c@example.com"};
  g_assert_cmpuint(lists->len, ==, G_N_ELEMENTS(order));
  for (gsize i = 0; i < lists->len; i++) {
    MmList *l = lists->pdata[i];
    g_assert_cmpstr(l->fqdn_listname, ==, order[i]);
  }

  /* Removing a list removes its members and their preferences, and keeps
   * their addresses and users. */
  add_member(f->store, "a@example.com", "anne@example.com", MM_ROLE_MEMBER);
  add_member(f->store, "a@example.com", "anne@example.com", MM_ROLE_OWNER);
  add_member(f->store, "b@example.com", "anne@example.com", MM_ROLE_MEMBER);
  gint64 prefs = raw_int(f->path, "SELECT count(*) FROM preferences");
  g_assert_true(mm_store_list_remove(f->store, "A.Example.COM", &error));
  g_assert_no_error(error);
  g_assert_cmpint(raw_int(f->path, "SELECT count(*) FROM member"), ==, 1);
  g_assert_cmpint(raw_int(f->path, "SELECT count(*) FROM preferences"), ==,
                  prefs - 2);
  g_assert_cmpint(raw_int(f->path, "SELECT count(*) FROM address"), ==, 1);
  g_assert_cmpint(raw_int(f->path, "SELECT count(*) FROM \"user\""), ==, 1);
  g_assert_false(mm_store_list_remove(f->store, "a@example.com", &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);

  /* Removing a domain removes its lists, their members and preferences. */
  g_assert_true(mm_store_domain_remove(f->store, "example.com", &error));
  g_assert_no_error(error);
  g_assert_cmpint(raw_int(f->path, "SELECT count(*) FROM mailinglist"), ==, 1);
  g_assert_cmpint(raw_int(f->path, "SELECT count(*) FROM member"), ==, 0);
  /* One user and one address preferences row remain. */
  g_assert_cmpint(raw_int(f->path, "SELECT count(*) FROM preferences"), ==, 2);
}

/* ---- Members ----------------------------------------------------------- */

static void
test_members(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  add_domain(f->store, "example.com");
  g_autoptr(MmList) list = create_list(f->store, "test", "example.com");

  g_assert_true(mm_store_member_add(f->store, "test.example.com",
                                    "Anne.Person@Example.COM", "Anne Person",
                                    MM_ROLE_MEMBER, 0, &error));
  g_assert_no_error(error);
  /* Address and user were created; the original spelling is kept. */
  g_assert_cmpint(raw_int(f->path, "SELECT count(*) FROM address"), ==, 1);
  g_assert_cmpint(raw_int(f->path, "SELECT count(*) FROM \"user\""), ==, 1);
  g_assert_cmpint(raw_int(f->path, "SELECT count(*) FROM address"
                                   " WHERE email = 'anne.person@example.com'"
                                   " AND original_email ="
                                   " 'Anne.Person@Example.COM'"),
                  ==, 1);
  g_assert_cmpint(raw_int(f->path, "SELECT length(user_id) FROM \"user\""), ==,
                  32);

  g_autoptr(MmMember) m = mm_store_member_get(
      f->store, "test@example.com", "anne.person@example.com", MM_ROLE_MEMBER,
      &error);
  g_assert_no_error(error);
  g_assert_cmpstr(m->email, ==, "Anne.Person@Example.COM");
  g_assert_cmpstr(m->display_name, ==, "Anne Person");
  g_assert_cmpint(m->role, ==, MM_ROLE_MEMBER);
  g_assert_cmpint(m->delivery_mode, ==, MM_DELIVERY_REGULAR);
  g_assert_cmpint(m->delivery_status, ==, MM_STATUS_ENABLED);
  g_assert_cmpint(m->moderation_action, ==, -1);

  /* Same address, same role: EXISTS, in any case. */
  g_assert_false(mm_store_member_add(f->store, "test.example.com",
                                     "ANNE.PERSON@example.com", NULL,
                                     MM_ROLE_MEMBER, 0, &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_EXISTS);
  assert_person_message(error);
  g_clear_error(&error);
  g_assert_cmpint(raw_int(f->path, "SELECT count(*) FROM member"), ==, 1);

  /* Other roles for the same address; owners and moderators are accepted
   * without moderation. */
  g_assert_true(mm_store_member_add(f->store, "test.example.com",
                                    "anne.person@example.com", NULL,
                                    MM_ROLE_OWNER, 0, &error));
  g_assert_true(mm_store_member_add(f->store, "test.example.com",
                                    "bart@example.com", "Bart",
                                    MM_ROLE_MODERATOR, 0, &error));
  g_assert_true(mm_store_member_add(f->store, "test.example.com",
                                    "cris@example.com", NULL,
                                    MM_ROLE_NONMEMBER, 0, &error));
  g_assert_no_error(error);
  g_autoptr(MmMember) owner = mm_store_member_get(
      f->store, "test.example.com", "anne.person@example.com", MM_ROLE_OWNER,
      &error);
  g_assert_cmpint(owner->moderation_action, ==, MM_ACTION_ACCEPT);
  g_assert_cmpstr(owner->display_name, ==, "Anne Person");
  g_autoptr(MmMember) mod = mm_store_member_get(
      f->store, "test.example.com", "bart@example.com", MM_ROLE_MODERATOR,
      &error);
  g_assert_cmpint(mod->moderation_action, ==, MM_ACTION_ACCEPT);
  g_autoptr(MmMember) non = mm_store_member_get(
      f->store, "test.example.com", "cris@example.com", MM_ROLE_NONMEMBER,
      &error);
  g_assert_cmpint(non->moderation_action, ==, -1);
  g_assert_cmpstr(non->display_name, ==, "");

  /* Digest subscription. */
  g_assert_true(mm_store_member_add(f->store, "test.example.com",
                                    "dave@example.com", NULL, MM_ROLE_MEMBER,
                                    MM_DELIVERY_MIME_DIGESTS, &error));
  g_autoptr(MmMember) dave = mm_store_member_get(
      f->store, "test.example.com", "dave@example.com", MM_ROLE_MEMBER,
      &error);
  g_assert_cmpint(dave->delivery_mode, ==, MM_DELIVERY_MIME_DIGESTS);

  /* Not found cases name the problem. */
  MmMember *none = mm_store_member_get(f->store, "test.example.com",
                                       "bart@example.com", MM_ROLE_MEMBER,
                                       &error);
  g_assert_null(none);
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_assert_nonnull(strstr(error->message, "bart@example.com"));
  g_clear_error(&error);
  none = mm_store_member_get(f->store, "nope.example.com", "bart@example.com",
                             MM_ROLE_MEMBER, &error);
  g_assert_null(none);
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_assert_nonnull(strstr(error->message, "nope.example.com"));
  g_clear_error(&error);
  g_assert_false(mm_store_member_add(f->store, "nope.example.com",
                                     "new@example.com", NULL, MM_ROLE_MEMBER,
                                     0, &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  /* The failed add left no address behind. */
  g_assert_cmpint(raw_int(f->path, "SELECT count(*) FROM address"
                                   " WHERE email = 'new@example.com'"),
                  ==, 0);

  /* Remove. */
  g_assert_true(mm_store_member_remove(f->store, "test@example.com",
                                       "ANNE.person@example.com",
                                       MM_ROLE_OWNER, &error));
  g_assert_no_error(error);
  g_assert_false(mm_store_member_remove(f->store, "test@example.com",
                                        "anne.person@example.com",
                                        MM_ROLE_OWNER, &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_autoptr(MmMember) still = mm_store_member_get(
      f->store, "test.example.com", "anne.person@example.com", MM_ROLE_MEMBER,
      &error);
  g_assert_no_error(error);

  /* Hostile and invalid addresses, roles and modes. */
  g_autofree char *long_local = g_strnfill(300, 'a');
  g_autofree char *long_email = g_strconcat(long_local, "@example.com", NULL);
  const char *const emails[] = {"",
                                "anne",
                                "anne@localhost",
                                "../x@example.com",
                                "an ne@example.com",
                                "anne@example.com\n",
                                "anne@example.com\r\nBcc: x@example.org",
                                "\"quoted\"@example.com",
                                "anne@exa_mple.com",
                                long_email};
  for (gsize i = 0; i < G_N_ELEMENTS(emails); i++) {
    g_test_message("email %" G_GSIZE_FORMAT, i);
    g_assert_false(mm_store_member_add(f->store, "test.example.com",
                                       emails[i], NULL, MM_ROLE_MEMBER, 0,
                                       &error));
    g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID);
    assert_person_message(error);
    g_clear_error(&error);
  }
  g_assert_false(mm_store_member_add(f->store, "test.example.com",
                                     "ok@example.com", "Evil\nBcc: x@y.org",
                                     MM_ROLE_MEMBER, 0, &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID);
  g_clear_error(&error);
  g_assert_false(mm_store_member_add(f->store, "test.example.com",
                                     "ok@example.com", NULL, 9, 0, &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID);
  g_clear_error(&error);
  g_assert_false(mm_store_member_add(f->store, "test.example.com",
                                     "ok@example.com", NULL, MM_ROLE_MEMBER,
                                     7, &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID);
  g_clear_error(&error);
  g_assert_cmpint(raw_int(f->path, "SELECT count(*) FROM address"
                                   " WHERE email = 'ok@example.com'"),
                  ==, 0);

  /* Addresses on their own. */
  g_assert_true(mm_store_address_ensure(f->store, "Solo@Example.com", "Solo",
                                        &error));
  g_assert_true(mm_store_address_ensure(f->store, "solo@example.com", NULL,
                                        &error));
  g_assert_no_error(error);
  g_assert_cmpint(raw_int(f->path, "SELECT count(*) FROM address"
                                   " WHERE email = 'solo@example.com'"),
                  ==, 1);
  g_assert_false(mm_store_address_is_verified(f->store, "solo@example.com"));
  g_assert_true(mm_store_address_set_verified(f->store, "SOLO@example.com",
                                              TRUE, &error));
  g_assert_true(mm_store_address_is_verified(f->store, "solo@example.com"));
  g_assert_true(mm_store_address_set_verified(f->store, "solo@example.com",
                                              FALSE, &error));
  g_assert_no_error(error);
  g_assert_false(mm_store_address_is_verified(f->store, "solo@example.com"));
  g_assert_false(mm_store_address_set_verified(f->store, "who@example.com",
                                               TRUE, &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_false(mm_store_address_is_verified(f->store, "../x"));
}

static void
test_preferences(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  add_domain(f->store, "example.com");
  g_autoptr(MmList) list = create_list(f->store, "test", "example.com");
  g_autoptr(MmList) other = create_list(f->store, "other", "example.com");
  add_member(f->store, "test.example.com", "anne@example.com", MM_ROLE_MEMBER);
  add_member(f->store, "other.example.com", "anne@example.com",
             MM_ROLE_MEMBER);

  static const struct {
    const char *name;
    const char *value;
  } defaults[] = {
      {"acknowledge_posts", "False"}, {"hide_address", "True"},
      {"preferred_language", "en"},   {"receive_list_copy", "True"},
      {"receive_own_postings", "True"}, {"delivery_mode", "regular"},
      {"delivery_status", "enabled"},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(defaults); i++) {
    g_autofree char *value = mm_store_preference_get(
        f->store, "anne@example.com", "test.example.com", defaults[i].name,
        &error);
    g_assert_no_error(error);
    g_assert_cmpstr(value, ==, defaults[i].value);
  }

  /* The list's language is the last fallback. */
  g_assert_true(
      mm_store_list_set(f->store, list, "preferred_language", "fr", &error));
  g_autofree char *lang = mm_store_preference_get(
      f->store, "anne@example.com", "test.example.com", "preferred_language",
      &error);
  g_assert_cmpstr(lang, ==, "fr");

  /* Each level overrides the ones below it, for its own scope only. */
  static const struct {
    MmPrefLevel level;
    const char *value;
    const char *test_sees;
    const char *other_sees;
  } steps[] = {
      {MM_PREF_LEVEL_USER, "plaintext_digests", "plaintext_digests",
       "plaintext_digests"},
      {MM_PREF_LEVEL_ADDRESS, "mime_digests", "mime_digests", "mime_digests"},
      {MM_PREF_LEVEL_MEMBER, "summary_digests", "summary_digests",
       "mime_digests"},
      {MM_PREF_LEVEL_ADDRESS, NULL, "summary_digests", "plaintext_digests"},
      {MM_PREF_LEVEL_MEMBER, NULL, "plaintext_digests", "plaintext_digests"},
      {MM_PREF_LEVEL_USER, NULL, "regular", "regular"},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(steps); i++) {
    g_test_message("step %" G_GSIZE_FORMAT, i);
    g_assert_true(mm_store_preference_set(
        f->store, steps[i].level, "Anne@Example.com", "test@example.com",
        "delivery_mode", steps[i].value, &error));
    g_assert_no_error(error);
    g_autofree char *t = mm_store_preference_get(
        f->store, "anne@example.com", "test.example.com", "delivery_mode",
        &error);
    g_autofree char *o = mm_store_preference_get(
        f->store, "anne@example.com", "other.example.com", "delivery_mode",
        &error);
    g_assert_cmpstr(t, ==, steps[i].test_sees);
    g_assert_cmpstr(o, ==, steps[i].other_sees);
    /* The roster resolves the same way. */
    g_autoptr(MmMember) m = mm_store_member_get(
        f->store, "test.example.com", "anne@example.com", MM_ROLE_MEMBER,
        &error);
    int mode = 0;
    g_assert_true(
        mm_store_enum_parse(mm_store_delivery_mode_names, t, &mode));
    g_assert_cmpint(m->delivery_mode, ==, mode);
  }

  /* Booleans and status through the same path. */
  g_assert_true(mm_store_preference_set(f->store, MM_PREF_LEVEL_ADDRESS,
                                        "anne@example.com", NULL,
                                        "acknowledge_posts", "yes", &error));
  g_autofree char *ack = mm_store_preference_get(
      f->store, "anne@example.com", NULL, "acknowledge_posts", &error);
  g_assert_no_error(error);
  g_assert_cmpstr(ack, ==, "True");
  g_assert_true(mm_store_member_set_delivery_status(
      f->store, "test.example.com", "anne@example.com", MM_STATUS_BY_BOUNCES,
      &error));
  g_assert_no_error(error);
  g_autoptr(MmMember) bounced = mm_store_member_get(
      f->store, "test.example.com", "anne@example.com", MM_ROLE_MEMBER,
      &error);
  g_assert_cmpint(bounced->delivery_status, ==, MM_STATUS_BY_BOUNCES);
  g_autoptr(MmMember) elsewhere = mm_store_member_get(
      f->store, "other.example.com", "anne@example.com", MM_ROLE_MEMBER,
      &error);
  g_assert_cmpint(elsewhere->delivery_status, ==, MM_STATUS_ENABLED);
  g_assert_true(mm_store_member_set_delivery_mode(
      f->store, "test.example.com", "anne@example.com",
      MM_DELIVERY_MIME_DIGESTS, &error));
  g_autofree char *mode = mm_store_preference_get(
      f->store, "anne@example.com", "test.example.com", "delivery_mode",
      &error);
  g_assert_cmpstr(mode, ==, "mime_digests");

  /* Refusals. */
  g_assert_false(mm_store_preference_set(f->store, MM_PREF_LEVEL_ADDRESS,
                                         "anne@example.com", NULL,
                                         "delivery_mode", "weekly", &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID);
  g_clear_error(&error);
  g_assert_false(mm_store_preference_set(f->store, MM_PREF_LEVEL_ADDRESS,
                                         "anne@example.com", NULL,
                                         "preferred_language", "../../x",
                                         &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID);
  g_clear_error(&error);
  g_assert_false(mm_store_preference_set(f->store, MM_PREF_LEVEL_ADDRESS,
                                         "anne@example.com", NULL, "colour",
                                         "blue", &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_false(mm_store_preference_set(f->store, MM_PREF_LEVEL_MEMBER,
                                         "nobody@example.com",
                                         "test.example.com", "delivery_mode",
                                         "regular", &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_autofree char *missing = mm_store_preference_get(
      f->store, "nobody@example.com", "test.example.com", "delivery_mode",
      &error);
  g_assert_null(missing);
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_true(mm_store_address_ensure(f->store, "solo@example.com", NULL,
                                        &error));
  g_autofree char *not_member = mm_store_preference_get(
      f->store, "solo@example.com", "test.example.com", "delivery_mode",
      &error);
  g_assert_null(not_member);
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
}

/* ---- Rosters ----------------------------------------------------------- */

static GPtrArray *
roster(MmStore *store, const MmRosterQuery *query)
{
  GError *error = NULL;
  GPtrArray *members = mm_store_roster(store, "test.example.com", query,
                                       &error);
  g_assert_no_error(error);
  g_assert_nonnull(members);
  return members;
}

static void
test_roster_filters(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  add_domain(f->store, "example.com");
  g_autoptr(MmList) list = create_list(f->store, "test", "example.com");
  g_autoptr(MmList) other = create_list(f->store, "other", "example.com");

  add_member(f->store, "test.example.com", "Zed@example.com", MM_ROLE_MEMBER);
  add_member(f->store, "test.example.com", "amy@example.com", MM_ROLE_MEMBER);
  add_member(f->store, "test.example.com", "dig@example.com", MM_ROLE_MEMBER);
  add_member(f->store, "test.example.com", "off@example.com", MM_ROLE_MEMBER);
  add_member(f->store, "test.example.com", "amy@example.com", MM_ROLE_OWNER);
  add_member(f->store, "test.example.com", "mod@example.com",
             MM_ROLE_MODERATOR);
  add_member(f->store, "other.example.com", "else@example.com",
             MM_ROLE_MEMBER);
  /* dig gets digests through its user, off is disabled by bounces. */
  g_assert_true(mm_store_preference_set(f->store, MM_PREF_LEVEL_USER,
                                        "dig@example.com", NULL,
                                        "delivery_mode", "mime_digests",
                                        &error));
  g_assert_true(mm_store_member_set_delivery_status(
      f->store, "test.example.com", "off@example.com", MM_STATUS_BY_BOUNCES,
      &error));
  g_assert_no_error(error);

  /* amy reads German (address level); nobody else set a language. */
  g_assert_true(mm_store_preference_set(f->store, MM_PREF_LEVEL_ADDRESS,
                                        "amy@example.com", NULL,
                                        "preferred_language", "de", &error));
  g_assert_no_error(error);

  g_autoptr(GPtrArray) all = roster(f->store, NULL);
  g_assert_cmpuint(all->len, ==, 6);
  /* Sorted by (folded) email; original case shown. */
  MmMember *m0 = all->pdata[0];
  MmMember *last = all->pdata[5];
  g_assert_cmpstr(m0->email, ==, "amy@example.com");
  g_assert_cmpstr(m0->preferred_language, ==, "de");
  g_assert_cmpstr(last->email, ==, "Zed@example.com");
  g_assert_null(last->preferred_language);

  MmRosterQuery q = {.role = MM_ROLE_MEMBER};
  g_autoptr(GPtrArray) members = roster(f->store, &q);
  g_assert_cmpuint(members->len, ==, 4);

  q = (MmRosterQuery){.role = MM_ROLE_OWNER};
  g_autoptr(GPtrArray) owners = roster(f->store, &q);
  g_assert_cmpuint(owners->len, ==, 1);
  g_assert_cmpint(((MmMember *)owners->pdata[0])->role, ==, MM_ROLE_OWNER);

  q = (MmRosterQuery){.role = MM_ROLE_MEMBER, .digest_only = TRUE};
  g_autoptr(GPtrArray) digests = roster(f->store, &q);
  g_assert_cmpuint(digests->len, ==, 1);
  MmMember *d = digests->pdata[0];
  g_assert_cmpstr(d->email, ==, "dig@example.com");
  g_assert_cmpint(d->delivery_mode, ==, MM_DELIVERY_MIME_DIGESTS);

  q = (MmRosterQuery){.delivery_mode = MM_DELIVERY_REGULAR};
  g_autoptr(GPtrArray) regular = roster(f->store, &q);
  g_assert_cmpuint(regular->len, ==, 5);

  q = (MmRosterQuery){.disabled_only = TRUE};
  g_autoptr(GPtrArray) disabled = roster(f->store, &q);
  g_assert_cmpuint(disabled->len, ==, 1);
  MmMember *off = disabled->pdata[0];
  g_assert_cmpstr(off->email, ==, "off@example.com");
  g_assert_cmpint(off->delivery_status, ==, MM_STATUS_BY_BOUNCES);

  q = (MmRosterQuery){.delivery_status = MM_STATUS_ENABLED,
                      .role = MM_ROLE_MEMBER};
  g_autoptr(GPtrArray) enabled = roster(f->store, &q);
  g_assert_cmpuint(enabled->len, ==, 3);

  q = (MmRosterQuery){.role = MM_ROLE_NONMEMBER};
  g_autoptr(GPtrArray) nobody = roster(f->store, &q);
  g_assert_cmpuint(nobody->len, ==, 0);

  GPtrArray *missing =
      mm_store_roster(f->store, "nope.example.com", NULL, &error);
  g_assert_null(missing);
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  missing = mm_store_roster(f->store, "../x", NULL, &error);
  g_assert_null(missing);
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID);
  g_clear_error(&error);
}

#define LARGE_ROSTER 2000

static void
test_roster_one_query(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  add_domain(f->store, "example.com");
  g_autoptr(MmList) list = create_list(f->store, "test", "example.com");

  g_assert_true(mm_store_begin(f->store, &error));
  for (int i = 0; i < LARGE_ROSTER; i++) {
    g_autofree char *email = g_strdup_printf("user%04d@example.com", i);
    MmDeliveryMode mode = i % 10 == 0 ? MM_DELIVERY_MIME_DIGESTS : 0;
    g_assert_true(mm_store_member_add(f->store, "test.example.com", email,
                                      NULL, MM_ROLE_MEMBER, mode, &error));
  }
  /* Some addresses and users carry preferences of their own. */
  for (int i = 1; i < LARGE_ROSTER; i += 7) {
    g_autofree char *email = g_strdup_printf("user%04d@example.com", i);
    g_assert_true(mm_store_preference_set(
        f->store, i % 2 ? MM_PREF_LEVEL_ADDRESS : MM_PREF_LEVEL_USER, email,
        NULL, "delivery_status", "by_user", &error));
  }
  g_assert_true(mm_store_commit(f->store, &error));
  g_assert_no_error(error);

  guint64 before = mm_store_statements_run(f->store);
  g_autoptr(GPtrArray) all = roster(f->store, NULL);
  guint64 after = mm_store_statements_run(f->store);
  g_assert_cmpuint(after - before, ==, 1);
  g_assert_cmpuint(all->len, ==, LARGE_ROSTER);

  guint digests = 0, disabled = 0;
  for (guint i = 0; i < all->len; i++) {
    MmMember *m = all->pdata[i];
    g_autofree char *email = g_strdup_printf("user%04u@example.com", i);
    g_assert_cmpstr(m->email, ==, email);
    g_assert_cmpint(m->delivery_mode, ==,
                    i % 10 == 0 ? MM_DELIVERY_MIME_DIGESTS
                                : MM_DELIVERY_REGULAR);
    g_assert_cmpint(m->delivery_status, ==,
                    i % 7 == 1 ? MM_STATUS_BY_USER : MM_STATUS_ENABLED);
    digests += m->delivery_mode != MM_DELIVERY_REGULAR;
    disabled += m->delivery_status != MM_STATUS_ENABLED;
  }

  MmRosterQuery q = {.role = MM_ROLE_MEMBER, .digest_only = TRUE};
  before = mm_store_statements_run(f->store);
  g_autoptr(GPtrArray) digest_members = roster(f->store, &q);
  g_assert_cmpuint(mm_store_statements_run(f->store) - before, ==, 1);
  g_assert_cmpuint(digest_members->len, ==, digests);
  q = (MmRosterQuery){.disabled_only = TRUE};
  g_autoptr(GPtrArray) disabled_members = roster(f->store, &q);
  g_assert_cmpuint(disabled_members->len, ==, disabled);
  g_assert_cmpuint(disabled, >, 200);
}

/* ---- Transactions, read-only, busy --------------------------------------- */

static void
test_transaction_rollback(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_assert_true(mm_store_begin(f->store, &error));
  add_domain(f->store, "example.com");
  g_autoptr(MmList) list = create_list(f->store, "test", "example.com");
  add_member(f->store, "test.example.com", "anne@example.com", MM_ROLE_MEMBER);
  g_assert_false(mm_store_begin(f->store, &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_FAILED);
  g_clear_error(&error);
  mm_store_rollback(f->store);

  static const char *const counts[] = {
      "SELECT count(*) FROM domain",  "SELECT count(*) FROM mailinglist",
      "SELECT count(*) FROM member",  "SELECT count(*) FROM address",
      "SELECT count(*) FROM \"user\"", "SELECT count(*) FROM preferences"};
  for (gsize i = 0; i < G_N_ELEMENTS(counts); i++)
    g_assert_cmpint(raw_int(f->path, counts[i]), ==, 0);
  MmList *gone = mm_store_list_get(f->store, "test.example.com", &error);
  g_assert_null(gone);
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);

  /* A failed step inside a transaction undoes only itself. */
  g_assert_true(mm_store_begin(f->store, &error));
  add_domain(f->store, "example.com");
  g_assert_false(
      mm_store_domain_add(f->store, "example.com", NULL, NULL, &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_EXISTS);
  g_clear_error(&error);
  g_autoptr(MmList) kept = create_list(f->store, "kept", "example.com");
  g_assert_false(mm_store_member_add(f->store, "nope.example.com",
                                     "anne@example.com", NULL, MM_ROLE_MEMBER,
                                     0, &error));
  g_clear_error(&error);
  g_assert_true(mm_store_commit(f->store, &error));
  g_assert_no_error(error);
  g_assert_cmpint(raw_int(f->path, "SELECT count(*) FROM domain"), ==, 1);
  g_assert_cmpint(raw_int(f->path, "SELECT count(*) FROM mailinglist"), ==, 1);
  g_assert_cmpint(raw_int(f->path, "SELECT count(*) FROM address"), ==, 0);
  g_assert_false(mm_store_commit(f->store, &error));
  g_clear_error(&error);
}

static void
test_read_only(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  add_domain(f->store, "example.com");
  g_autoptr(MmList) list = create_list(f->store, "test", "example.com");
  add_member(f->store, "test.example.com", "anne@example.com", MM_ROLE_MEMBER);
  g_clear_pointer(&f->store, mm_store_close);

  g_autoptr(MmStore) ro = mm_store_open(f->path, MM_STORE_READ_ONLY, &error);
  g_assert_no_error(error);
  g_assert_nonnull(ro);
  g_autoptr(MmList) found = mm_store_list_get(ro, "test@example.com", &error);
  g_assert_no_error(error);
  g_autoptr(GPtrArray) members = mm_store_roster(ro, "test.example.com",
                                                 NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(members->len, ==, 1);

  g_assert_false(mm_store_domain_add(ro, "example.org", NULL, NULL, &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_FAILED);
  g_assert_nonnull(strstr(error->message, "read-only"));
  g_clear_error(&error);
  g_assert_false(mm_store_member_add(ro, "test.example.com", "bart@example.com",
                                     NULL, MM_ROLE_MEMBER, 0, &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_FAILED);
  g_clear_error(&error);
  g_assert_false(
      mm_store_list_set(ro, found, "advertised", "no", &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_FAILED);
  g_clear_error(&error);
  g_assert_false(mm_store_begin(ro, &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_FAILED);
  g_clear_error(&error);

  /* Even SQL behind our back is refused by the connection. */
  g_assert_cmpint(sqlite3_exec(ro->db, "DELETE FROM member", NULL, NULL, NULL),
                  !=, SQLITE_OK);
  g_assert_cmpint(raw_int(f->path, "SELECT count(*) FROM member"), ==, 1);
  g_assert_cmpint(raw_int(f->path, "SELECT count(*) FROM domain"), ==, 1);

  /* A writer and a reader side by side (the LMTP runner's situation). */
  f->store = mm_store_open(f->path, MM_STORE_READ_WRITE, &error);
  g_assert_no_error(error);
  add_member(f->store, "test.example.com", "bart@example.com", MM_ROLE_MEMBER);
  g_autoptr(GPtrArray) now = mm_store_roster(ro, "test.example.com", NULL,
                                             &error);
  g_assert_cmpuint(now->len, ==, 2);
}

static void
test_busy(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_autoptr(MmStore) second =
      mm_store_open(f->path, MM_STORE_READ_WRITE, &error);
  g_assert_no_error(error);
  mm_store_set_busy_timeout(second, 0);

  g_assert_true(mm_store_begin(f->store, &error));
  add_domain(f->store, "example.com");
  g_assert_false(
      mm_store_domain_add(second, "example.org", NULL, NULL, &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_BUSY);
  assert_person_message(error);
  g_clear_error(&error);
  /* Readers are not blocked by the writer (WAL) and see the old state. */
  g_autoptr(GPtrArray) domains = mm_store_domains(second, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(domains->len, ==, 0);
  g_assert_true(mm_store_commit(f->store, &error));

  g_assert_true(mm_store_domain_add(second, "example.org", NULL, NULL, &error));
  g_assert_no_error(error);
  g_autoptr(GPtrArray) both = mm_store_domains(f->store, &error);
  g_assert_cmpuint(both->len, ==, 2);
}

/* after-delivery's counter: the post gets the old id, the list the next. */
static void
test_list_note_post(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  gint64 id = 0;
  add_domain(f->store, "example.com");
  g_autoptr(MmList) list =
      mm_store_list_create(f->store, "count", "example.com", NULL, &error);
  g_assert_no_error(error);

  g_assert_true(mm_store_list_note_post(f->store, list->list_id, &id, &error));
  g_assert_cmpint(id, ==, 1);
  g_assert_true(mm_store_list_note_post(f->store, list->list_id, &id, &error));
  g_assert_cmpint(id, ==, 2);
  g_autoptr(MmList) again = mm_store_list_get(f->store, "count@example.com",
                                              &error);
  g_assert_cmpint(again->post_id, ==, 3);
  g_assert_cmpstr(mm_list_setting(again, "last_post_at"), !=, "");

  g_assert_false(mm_store_list_note_post(f->store, "gone.example.com", &id,
                                         &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
#define ADD(path, func)                                                       \
  g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD("/storage/schema/fresh", test_schema_fresh);
  ADD("/storage/schema/reopen", test_schema_reopen);
  ADD("/storage/schema/newer", test_schema_newer);
  ADD("/storage/schema/missing-or-old", test_schema_readonly_missing);
  ADD("/storage/schema/settings-columns", test_schema_settings_columns);
  ADD("/storage/domains", test_domains);
  ADD("/storage/lists/create", test_list_create);
  ADD("/storage/lists/hostile", test_list_hostile);
  ADD("/storage/lists/set", test_list_set);
  ADD("/storage/lists/order-and-remove", test_list_order_and_remove);
  ADD("/storage/lists/note-post", test_list_note_post);
  ADD("/storage/members/basic", test_members);
  ADD("/storage/members/preferences", test_preferences);
  ADD("/storage/roster/filters", test_roster_filters);
  ADD("/storage/roster/one-query", test_roster_one_query);
  ADD("/storage/transactions/rollback", test_transaction_rollback);
  ADD("/storage/read-only", test_read_only);
  ADD("/storage/busy", test_busy);
#undef ADD
  return g_test_run();
}
