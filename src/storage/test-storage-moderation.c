/* Tests for what migration 2 added to the storage module: list-valued
 * settings, header matches, bans, the moderator password, pendings,
 * held requests, the message store and automatic responses, on a real
 * SQLite file in a temporary directory.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "storage.h"
#include "storage-private.h"

#include <glib/gstdio.h>
#include <string.h>

typedef struct {
  char *dir;
  char *messages;
  MmStore *store;
} Fixture;

static void
remove_tree(const char *path)
{
  if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
    GDir *dir = g_dir_open(path, 0, NULL);
    const char *name;
    while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
      g_autofree char *child = g_build_filename(path, name, NULL);
      remove_tree(child);
    }
    if (dir != NULL)
      g_dir_close(dir);
    g_rmdir(path);
  } else {
    g_unlink(path);
  }
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  f->dir = g_dir_make_tmp("mm-storage-mod-XXXXXX", &error);
  g_assert_no_error(error);
  f->messages = g_build_filename(f->dir, "messages", NULL);
  g_autofree char *path = g_build_filename(f->dir, "mailman.db", NULL);
  f->store = mm_store_open(path, MM_STORE_READ_WRITE, &error);
  g_assert_no_error(error);
  g_assert_true(
      mm_store_domain_add(f->store, "example.com", NULL, NULL, &error));
  g_autoptr(MmList) a =
      mm_store_list_create(f->store, "a", "example.com", NULL, &error);
  g_autoptr(MmList) b =
      mm_store_list_create(f->store, "b", "example.com", NULL, &error);
  g_assert_no_error(error);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
  g_clear_pointer(&f->store, mm_store_close);
  remove_tree(f->dir);
  g_free(f->messages);
  g_free(f->dir);
}

/* Runs @sql (one count) with a connection of our own. */
static gint64
raw_int(Fixture *f, const char *sql)
{
  g_autofree char *path = g_build_filename(f->dir, "mailman.db", NULL);
  sqlite3 *db = NULL;
  g_assert_cmpint(sqlite3_open(path, &db), ==, SQLITE_OK);
  sqlite3_stmt *stmt = NULL;
  g_assert_cmpint(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), ==,
                  SQLITE_OK);
  gint64 value = -1;
  if (sqlite3_step(stmt) == SQLITE_ROW)
    value = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return value;
}

static void
raw_exec(Fixture *f, const char *sql)
{
  g_autofree char *path = g_build_filename(f->dir, "mailman.db", NULL);
  sqlite3 *db = NULL;
  g_assert_cmpint(sqlite3_open(path, &db), ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_exec(db, sql, NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close(db);
}

static char *
strings(GPtrArray *values)
{
  g_ptr_array_add(values, NULL);
  char *out = g_strjoinv(",", (char **)values->pdata);
  g_ptr_array_remove_index(values, values->len - 1);
  return out;
}

static void
test_schema(Fixture *f, gconstpointer data)
{
  g_assert_cmpint(mm_store_schema_version(f->store), >=, 2);
  gsize n;
  const MmMigration *migrations = mm_store_migrations(&n);
  g_assert_cmpuint(n, >=, 2);
  g_assert_cmpint(migrations[1].version, ==, 2);
}

static void
test_list_strings(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  const char *name = "hold_these_nonmembers";
  g_assert_true(mm_store_list_strings_add(f->store, "a@example.com", name,
                                          "Zed@Example.com", &error));
  g_assert_true(mm_store_list_strings_add(f->store, "a.example.com", name,
                                          "^.*@spam\\.example$", &error));
  g_assert_false(mm_store_list_strings_add(f->store, "a@example.com", name,
                                           "Zed@Example.com", &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_EXISTS);
  g_clear_error(&error);
  g_autoptr(GPtrArray) values =
      mm_store_list_strings(f->store, "a@example.com", name, &error);
  g_autofree char *text = strings(values);
  /* As written, in order; other lists and names are separate. */
  g_assert_cmpstr(text, ==, "Zed@Example.com,^.*@spam\\.example$");
  g_autoptr(GPtrArray) other = mm_store_list_strings(
      f->store, "b@example.com", name, &error);
  g_assert_cmpuint(other->len, ==, 0);
  g_autoptr(GPtrArray) accept = mm_store_list_strings(
      f->store, "a@example.com", "accept_these_nonmembers", &error);
  g_assert_cmpuint(accept->len, ==, 0);
  g_assert_true(mm_store_list_strings_remove(f->store, "a@example.com", name,
                                             "Zed@Example.com", &error));
  g_assert_false(mm_store_list_strings_remove(f->store, "a@example.com",
                                              name, "Zed@Example.com",
                                              &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_null(mm_store_list_strings(f->store, "a@example.com", "nope",
                                      &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_false(mm_store_list_strings_add(f->store, "a@example.com", name,
                                           "x\ny", &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID);
  g_clear_error(&error);
  /* Aliases are lower-cased. */
  g_assert_true(mm_store_list_strings_add(f->store, "a@example.com",
                                          "acceptable_aliases",
                                          "Alias@Example.com", &error));
  g_autoptr(GPtrArray) aliases = mm_store_list_strings(
      f->store, "a@example.com", "acceptable_aliases", &error);
  g_assert_cmpstr(aliases->pdata[0], ==, "alias@example.com");
  /* They go with the list. */
  g_assert_true(mm_store_list_remove(f->store, "a@example.com", &error));
  g_assert_cmpint(raw_int(f, "SELECT (SELECT count(*) FROM acceptablealias)"
                             " + (SELECT count(*) FROM these_nonmembers)"),
                  ==, 0);
}

static void
test_header_matches(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_assert_true(mm_store_header_match_add(f->store, "a@example.com",
                                          "X-Spam", "yes", NULL, NULL,
                                          &error));
  g_assert_true(mm_store_header_match_add(f->store, "a@example.com",
                                          "Subject", "viagra", "discard",
                                          "spam", &error));
  g_assert_true(mm_store_header_match_add(f->store, "a@example.com", "To",
                                          "x", "hold", NULL, &error));
  g_assert_false(mm_store_header_match_add(f->store, "a@example.com",
                                           "x-spam", "yes", NULL, NULL,
                                           &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_EXISTS);
  g_clear_error(&error);
  g_assert_true(mm_store_header_match_remove(f->store, "a@example.com",
                                             "X-SPAM", "yes", &error));
  g_autoptr(GPtrArray) matches =
      mm_store_header_matches(f->store, "a@example.com", &error);
  g_assert_cmpuint(matches->len, ==, 2);
  const MmHeaderMatch *first = matches->pdata[0];
  const MmHeaderMatch *second = matches->pdata[1];
  g_assert_cmpint(first->position, ==, 0);
  g_assert_cmpstr(first->header, ==, "subject");
  g_assert_cmpstr(first->chain, ==, "discard");
  g_assert_cmpstr(first->tag, ==, "spam");
  g_assert_cmpint(second->position, ==, 1);
  g_assert_cmpstr(second->header, ==, "to");
  g_assert_null(second->tag);
  g_assert_false(mm_store_header_match_remove(f->store, "a@example.com",
                                              "x-spam", "yes", &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
}

static gboolean
banned(Fixture *f, const char *list, const char *email)
{
  gboolean result = FALSE;
  GError *error = NULL;
  g_assert_true(mm_store_ban_check(f->store, list, email, &result, &error));
  g_assert_no_error(error);
  return result;
}

static void
test_bans(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_assert_false(banned(f, "a@example.com", "x@example.org"));
  g_assert_true(mm_store_ban_add(f->store, "a@example.com", "X@Example.org",
                                 &error));
  g_assert_true(mm_store_ban_add(f->store, "a@example.com", "x@example.org",
                                 &error)); /* twice is fine */
  g_assert_true(banned(f, "a@example.com", "x@example.org"));
  g_assert_false(banned(f, "b@example.com", "x@example.org"));
  g_assert_false(banned(f, NULL, "x@example.org"));
  g_assert_true(mm_store_ban_add(f->store, NULL, "^spam.*@", &error));
  g_assert_true(banned(f, "b@example.com", "SPAMMER@example.net") ||
                banned(f, "b@example.com", "spammer@example.net"));
  g_assert_true(banned(f, NULL, "spammer@example.net"));
  g_assert_false(banned(f, NULL, "nospam@example.net")); /* anchored */
  g_assert_true(mm_store_ban_add(f->store, NULL, "^(broken", &error));
  g_assert_false(banned(f, NULL, "broken@example.net"));
  g_autoptr(GPtrArray) list_bans =
      mm_store_bans(f->store, "a@example.com", &error);
  g_autofree char *text = strings(list_bans);
  g_assert_cmpstr(text, ==, "x@example.org");
  g_autoptr(GPtrArray) global = mm_store_bans(f->store, NULL, &error);
  g_assert_cmpuint(global->len, ==, 2);
  g_assert_true(mm_store_ban_remove(f->store, "a@example.com",
                                    "x@example.org", &error));
  g_assert_false(banned(f, "a@example.com", "x@example.org"));
  g_assert_false(mm_store_ban_add(f->store, "nope@example.com", "x@y.org",
                                  &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
}

static void
test_moderator_password(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  gboolean valid = TRUE;
  g_assert_false(mm_store_list_has_moderator_password(f->store,
                                                      "a@example.com"));
  g_assert_true(mm_store_list_verify_moderator_password(
      f->store, "a@example.com", "anything", &valid, &error));
  g_assert_false(valid);
  g_assert_true(mm_store_list_set_moderator_password(
      f->store, "a@example.com", "correct horse", &error));
  g_assert_true(mm_store_list_has_moderator_password(f->store,
                                                     "a@example.com"));
  g_assert_true(mm_store_list_verify_moderator_password(
      f->store, "a@example.com", "correct horse", &valid, &error));
  g_assert_true(valid);
  g_assert_true(mm_store_list_verify_moderator_password(
      f->store, "a@example.com", "correct horsE", &valid, &error));
  g_assert_false(valid);
  /* The stored form is passlib's sha512_crypt. */
  g_autofree char *hash = NULL;
  {
    g_autofree char *path = g_build_filename(f->dir, "mailman.db", NULL);
    sqlite3 *db = NULL;
    g_assert_cmpint(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                    ==, SQLITE_OK);
    sqlite3_stmt *stmt = NULL;
    sqlite3_prepare_v2(db,
                       "SELECT moderator_password FROM mailinglist"
                       " WHERE list_id = 'a.example.com'",
                       -1, &stmt, NULL);
    g_assert_cmpint(sqlite3_step(stmt), ==, SQLITE_ROW);
    hash = g_strdup((const char *)sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    sqlite3_close(db);
  }
  g_assert_true(g_str_has_prefix(hash, "$6$rounds=656000$"));
  g_assert_cmpuint(strlen(hash), ==, strlen("$6$rounds=656000$") + 16 + 1 + 86);
  /* A hash made elsewhere verifies: the sha512-crypt specification's
   * test vector, the format passlib writes. */
  raw_exec(f, "UPDATE mailinglist SET moderator_password = "
              "'$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFN"
              "jnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1'"
              " WHERE list_id = 'a.example.com'");
  g_assert_true(mm_store_list_verify_moderator_password(
      f->store, "a@example.com", "Hello world!", &valid, &error));
  g_assert_true(valid);
  g_assert_true(mm_store_list_set_moderator_password(f->store,
                                                     "a@example.com", NULL,
                                                     &error));
  g_assert_false(mm_store_list_has_moderator_password(f->store,
                                                      "a@example.com"));
  g_assert_false(mm_store_list_set_moderator_password(
      f->store, "a@example.com", "", &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID);
  g_clear_error(&error);
}

static GHashTable *
values_of(const char *first, ...)
{
  GHashTable *values =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  va_list args;
  va_start(args, first);
  for (const char *key = first; key != NULL; key = va_arg(args, const char *))
    g_hash_table_replace(values, g_strdup(key),
                         g_strdup(va_arg(args, const char *)));
  va_end(args);
  return values;
}

static void
test_pendings(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_autoptr(GHashTable) values =
      values_of("id", "7", "list_id", "\"a.example.com\"", NULL);
  g_autofree char *token =
      mm_store_pending_add(f->store, "held message", values, 3600, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(strlen(token), ==, 40);
  g_assert_true(g_regex_match_simple("^[0-9a-f]{40}$", token, 0, 0));
  g_autofree char *other =
      mm_store_pending_add(f->store, "data", NULL, 3600, &error);
  g_assert_cmpstr(token, !=, other);

  g_autoptr(GPtrArray) found = mm_store_pending_find(
      f->store, "held message", "list_id", "\"a.example.com\"", &error);
  g_assert_cmpuint(found->len, ==, 1);
  g_assert_cmpstr(found->pdata[0], ==, token);
  g_autoptr(GPtrArray) none = mm_store_pending_find(
      f->store, "held message", "list_id", "\"b.example.com\"", &error);
  g_assert_cmpuint(none->len, ==, 0);
  g_autoptr(GPtrArray) all =
      mm_store_pending_find(f->store, NULL, NULL, NULL, &error);
  g_assert_cmpuint(all->len, ==, 2);

  g_autoptr(GHashTable) got =
      mm_store_pending_get(f->store, token, FALSE, &error);
  g_assert_cmpstr(g_hash_table_lookup(got, "type"), ==, "held message");
  g_assert_cmpstr(g_hash_table_lookup(got, "id"), ==, "7");
  g_autoptr(GHashTable) taken =
      mm_store_pending_get(f->store, token, TRUE, &error);
  g_assert_nonnull(taken);
  g_assert_null(mm_store_pending_get(f->store, token, FALSE, &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);

  /* Eviction by date. */
  g_assert_cmpint(mm_store_pending_evict(f->store, mm_store_now(), &error),
                  ==, 0);
  g_assert_cmpint(
      mm_store_pending_evict(f->store, mm_store_now() + 7200, &error), ==, 1);
  g_assert_null(mm_store_pending_get(f->store, other, FALSE, &error));
  g_clear_error(&error);
}

static void
test_requests(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_autoptr(GHashTable) data1 =
      values_of("_mod_subject", "\"Hello\"", "listid", "\"a.example.com\"",
                NULL);
  gint64 id1 = mm_store_request_add(f->store, "a@example.com",
                                    MM_REQUEST_HELD_MESSAGE, "<m1@x>", data1,
                                    3600, &error);
  g_assert_no_error(error);
  gint64 id2 = mm_store_request_add(f->store, "b@example.com",
                                    MM_REQUEST_HELD_MESSAGE, "<m2@x>", data1,
                                    3600, &error);
  gint64 id3 = mm_store_request_add(f->store, "a@example.com",
                                    MM_REQUEST_UNSUBSCRIPTION, "x@y.org",
                                    NULL, 3600, &error);
  g_assert_cmpint(id1, >, 0);
  g_assert_cmpint(id2, >, id1); /* ids are site-wide */
  g_assert_cmpint(id3, >, id2);

  g_autoptr(MmRequest) request =
      mm_store_request_get(f->store, "a.example.com", id1, &error);
  g_assert_no_error(error);
  g_assert_cmpint(request->type, ==, MM_REQUEST_HELD_MESSAGE);
  g_assert_cmpstr(request->key, ==, "<m1@x>");
  g_assert_cmpstr(request->list_id, ==, "a.example.com");
  g_assert_cmpstr(g_hash_table_lookup(request->data, "_mod_subject"), ==,
                  "\"Hello\"");
  g_assert_cmpstr(g_hash_table_lookup(request->data, "type"), ==, "data");
  /* Another list's request is not this list's. */
  g_assert_null(mm_store_request_get(f->store, "a.example.com", id2, &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);

  g_autoptr(GPtrArray) held = mm_store_requests(
      f->store, "a@example.com", MM_REQUEST_HELD_MESSAGE, &error);
  g_assert_cmpuint(held->len, ==, 1);
  g_autoptr(GPtrArray) every =
      mm_store_requests(f->store, "a@example.com", 0, &error);
  g_assert_cmpuint(every->len, ==, 2);
  g_assert_cmpint(mm_store_request_find(f->store, "a@example.com",
                                        MM_REQUEST_HELD_MESSAGE, "<m1@x>",
                                        &error),
                  ==, id1);
  g_assert_cmpint(mm_store_request_find(f->store, "b@example.com",
                                        MM_REQUEST_HELD_MESSAGE, "<m1@x>",
                                        &error),
                  ==, 0);

  /* Deleting a request deletes its data pending. */
  g_autoptr(GPtrArray) before =
      mm_store_pending_find(f->store, "data", NULL, NULL, &error);
  g_assert_cmpuint(before->len, ==, 2);
  g_assert_true(mm_store_request_delete(f->store, id1, &error));
  g_autoptr(GPtrArray) after =
      mm_store_pending_find(f->store, "data", NULL, NULL, &error);
  g_assert_cmpuint(after->len, ==, 1);
  g_assert_false(mm_store_request_delete(f->store, id1, &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);

  /* When its data expires the request is an orphan and goes. */
  g_assert_cmpint(mm_store_request_evict_orphans(f->store, &error), ==, 0);
  g_assert_cmpint(
      mm_store_pending_evict(f->store, mm_store_now() + 7200, &error), ==, 1);
  g_assert_cmpint(mm_store_request_evict_orphans(f->store, &error), ==, 1);
  g_autoptr(GPtrArray) left = mm_store_requests(f->store, "b@example.com", 0,
                                                &error);
  g_assert_cmpuint(left->len, ==, 0);
  /* A request without data never expires that way. */
  g_autoptr(MmRequest) unsub =
      mm_store_request_get(f->store, "a@example.com", id3, &error);
  g_assert_nonnull(unsub);
}

static void
test_messages(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_autoptr(GBytes) raw = g_bytes_new_static("Message-ID: <m1@x>\n\nbody\n",
                                             25);
  const char *hash = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  gboolean added = FALSE;
  g_assert_true(mm_store_message_add(f->store, f->messages, "<m1@x>", hash,
                                     raw, &added, &error));
  g_assert_no_error(error);
  g_assert_true(added);
  g_autofree char *file =
      g_build_filename(f->messages, "AB", "CD", hash, NULL);
  g_assert_true(g_file_test(file, G_FILE_TEST_IS_REGULAR));
  /* The first copy of a Message-ID is kept. */
  g_autoptr(GBytes) other = g_bytes_new_static("different\n", 10);
  g_assert_true(mm_store_message_add(f->store, f->messages, "<m1@x>", hash,
                                     other, &added, &error));
  g_assert_false(added);
  g_autoptr(GBytes) got =
      mm_store_message_get(f->store, f->messages, "<m1@x>", &error);
  g_assert_true(g_bytes_equal(got, raw));
  /* A hash that could name a path is refused. */
  g_assert_false(mm_store_message_add(f->store, f->messages, "<m2@x>",
                                      "../../etc", raw, NULL, &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID);
  g_clear_error(&error);
  /* No request refers to it: an orphan. */
  g_assert_cmpint(
      mm_store_message_evict_orphans(f->store, f->messages, &error), ==, 1);
  g_assert_false(g_file_test(file, G_FILE_TEST_EXISTS));
  g_assert_null(mm_store_message_get(f->store, f->messages, "<m1@x>",
                                     &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  /* A file removed from outside: the row is dropped on read. */
  g_assert_true(mm_store_message_add(f->store, f->messages, "<m1@x>", hash,
                                     raw, &added, &error));
  g_assert_cmpint(g_unlink(file), ==, 0);
  g_assert_null(mm_store_message_get(f->store, f->messages, "<m1@x>",
                                     &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_true(mm_store_message_delete(f->store, f->messages, "<m1@x>",
                                        &error));
}

static void
test_autoresponses(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_assert_cmpint(mm_store_autoresponse_count_today(
                      f->store, "a@example.com", "new@example.org",
                      MM_RESPONSE_HOLD, &error),
                  ==, 0);
  for (int i = 0; i < 3; i++)
    g_assert_true(mm_store_autoresponse_record(
        f->store, "a@example.com", "New@Example.org", MM_RESPONSE_HOLD,
        &error));
  g_assert_true(mm_store_autoresponse_record(f->store, "b@example.com",
                                             "new@example.org",
                                             MM_RESPONSE_HOLD, &error));
  g_assert_cmpint(mm_store_autoresponse_count_today(
                      f->store, "a@example.com", "new@example.org",
                      MM_RESPONSE_HOLD, &error),
                  ==, 3);
  g_assert_cmpint(mm_store_autoresponse_count_today(
                      f->store, "a@example.com", "new@example.org",
                      MM_RESPONSE_POSTINGS, &error),
                  ==, 0);

  /* The latest date per list, address and kind: today for what was just
   * recorded, none for another kind. */
  g_autofree char *last = NULL;
  g_assert_true(mm_store_autoresponse_last(f->store, "a@example.com",
                                           "NEW@example.org", MM_RESPONSE_HOLD,
                                           &last, &error));
  g_assert_no_error(error);
  g_autoptr(GDateTime) now = g_date_time_new_now_local();
  g_autofree char *today = g_date_time_format(now, "%Y-%m-%d");
  g_assert_cmpstr(last, ==, today);
  g_autofree char *none = NULL;
  g_assert_true(mm_store_autoresponse_last(f->store, "a@example.com",
                                           "new@example.org",
                                           MM_RESPONSE_POSTINGS, &none,
                                           &error));
  g_assert_null(none);
}

static void
test_member_actions(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_assert_true(mm_store_member_add(f->store, "a@example.com",
                                    "home@example.org", NULL, MM_ROLE_MEMBER,
                                    0, &error));
  g_assert_true(mm_store_member_set_moderation_action(
      f->store, "a@example.com", "home@example.org", MM_ROLE_MEMBER,
      MM_ACTION_DISCARD, &error));
  g_autoptr(MmMember) member = mm_store_member_get(
      f->store, "a@example.com", "home@example.org", MM_ROLE_MEMBER, &error);
  g_assert_cmpint(member->moderation_action, ==, MM_ACTION_DISCARD);
  g_assert_false(mm_store_member_set_moderation_action(
      f->store, "a@example.com", "home@example.org", MM_ROLE_NONMEMBER,
      MM_ACTION_DISCARD, &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);

  /* A second address of the same user finds the membership. */
  raw_exec(f, "INSERT INTO preferences DEFAULT VALUES;"
              "INSERT INTO address (email, original_email, registered_on,"
              " user_id, preferences_id) SELECT 'work@example.org',"
              " 'work@example.org', 0, user_id, last_insert_rowid()"
              " FROM address WHERE email = 'home@example.org'");
  g_autoptr(MmMember) found = mm_store_member_find_for_sender(
      f->store, "a@example.com", "work@example.org", &error);
  g_assert_no_error(error);
  g_assert_cmpstr(found->email, ==, "home@example.org");
  g_assert_null(mm_store_member_find_for_sender(f->store, "a@example.com",
                                                "other@example.org", &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
#define ADD(path, fn)                                                         \
  g_test_add("/storage-moderation/" path, Fixture, NULL, fixture_setup, fn,   \
             fixture_teardown)
  ADD("schema", test_schema);
  ADD("list-strings", test_list_strings);
  ADD("header-matches", test_header_matches);
  ADD("bans", test_bans);
  ADD("moderator-password", test_moderator_password);
  ADD("pendings", test_pendings);
  ADD("requests", test_requests);
  ADD("messages", test_messages);
  ADD("autoresponses", test_autoresponses);
  ADD("member-actions", test_member_actions);
#undef ADD
  return g_test_run();
}
