/* Addresses and the users owning them (Mailman's address and user tables).
 *
 * An address is stored lower-cased in `email` (unique) with the spelling
 * it was given in `original_email`, as Mailman keeps both.  Every address
 * created here gets a user of its own, as `mailman addmembers` and the
 * subscription code do (IUserManager.create_user); each address and user
 * owns one preferences row.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "storage.h"
#include "storage-private.h"

#include "base-address.h"

#define DISPLAY_NAME_MAX_LEN 1024

char *
mm_store_email_fold(const char *email, GError **error)
{
  g_autoptr(GError) base_error = NULL;
  char *folded = mm_address_fold_email(email, -1, NULL, NULL, &base_error);
  if (folded == NULL)
    mm_store_invalid_from(base_error, error);
  return folded;
}

/* A new empty preferences row; its id in @id_out.  Inside a write. */
static gboolean
preferences_create(MmStore *store, gint64 *id_out, GError **error)
{
  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store, "INSERT INTO preferences DEFAULT VALUES", error);
  if (stmt == NULL)
    return FALSE;
  if (!mm_store_sql_run(store, stmt, "Cannot create preferences", error))
    return FALSE;
  *id_out = sqlite3_last_insert_rowid(store->db);
  return TRUE;
}

gboolean
mm_store_address_find_or_create(MmStore *store, const char *email,
                                const char *original,
                                const char *display_name,
                                gint64 *address_id_out, GError **error)
{
  {
    g_auto(MmStmt) find = mm_store_sql_prepare(
        store, "SELECT id FROM address WHERE email = ?1", error);
    if (find == NULL)
      return FALSE;
    sqlite3_bind_text(find, 1, email, -1, SQLITE_STATIC);
    int rc = sqlite3_step(find);
    if (rc == SQLITE_ROW) {
      /* An existing address keeps its name: a later subscription that
       * spells it differently does not rename the person. */
      *address_id_out = sqlite3_column_int64(find, 0);
      return TRUE;
    }
    if (rc != SQLITE_DONE)
      return mm_store_sql_error(store, rc, "Cannot read addresses", error);
  }

  g_autofree char *context = g_strdup_printf("Cannot add address %s", email);
  gint64 now = mm_store_now();
  gint64 user_prefs, address_prefs, user_id;
  if (!preferences_create(store, &user_prefs, error) ||
      !preferences_create(store, &address_prefs, error))
    return FALSE;
  {
    g_auto(MmStmt) user = mm_store_sql_prepare(
        store,
        "INSERT INTO \"user\" (user_id, display_name, created_on,"
        " preferences_id) VALUES (?1, ?2, ?3, ?4)",
        error);
    if (user == NULL)
      return FALSE;
    g_autofree char *uuid = mm_store_uuid_hex();
    sqlite3_bind_text(user, 1, uuid, -1, SQLITE_STATIC);
    sqlite3_bind_text(user, 2, display_name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(user, 3, now);
    sqlite3_bind_int64(user, 4, user_prefs);
    if (!mm_store_sql_run(store, user, context, error))
      return FALSE;
    user_id = sqlite3_last_insert_rowid(store->db);
  }
  {
    g_auto(MmStmt) address = mm_store_sql_prepare(
        store,
        "INSERT INTO address (email, original_email, display_name,"
        " registered_on, user_id, preferences_id)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        error);
    if (address == NULL)
      return FALSE;
    sqlite3_bind_text(address, 1, email, -1, SQLITE_STATIC);
    sqlite3_bind_text(address, 2, original, -1, SQLITE_STATIC);
    sqlite3_bind_text(address, 3, display_name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(address, 4, now);
    sqlite3_bind_int64(address, 5, user_id);
    sqlite3_bind_int64(address, 6, address_prefs);
    if (!mm_store_sql_run(store, address, context, error))
      return FALSE;
    *address_id_out = sqlite3_last_insert_rowid(store->db);
  }
  {
    g_auto(MmStmt) preferred = mm_store_sql_prepare(
        store,
        "UPDATE \"user\" SET preferred_address_id = ?1 WHERE id = ?2", error);
    if (preferred == NULL)
      return FALSE;
    sqlite3_bind_int64(preferred, 1, *address_id_out);
    sqlite3_bind_int64(preferred, 2, user_id);
    if (!mm_store_sql_run(store, preferred, context, error))
      return FALSE;
  }
  return TRUE;
}

gboolean
mm_store_address_ensure(MmStore *store, const char *email,
                        const char *display_name, GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  g_autofree char *folded = mm_store_email_fold(email, error);
  if (folded == NULL)
    return FALSE;
  if (display_name == NULL)
    display_name = "";
  if (!mm_store_text_check("display name", display_name, TRUE,
                           DISPLAY_NAME_MAX_LEN, error))
    return FALSE;
  if (!mm_store_write_begin(store, error))
    return FALSE;
  gint64 id;
  gboolean ok = mm_store_address_find_or_create(store, folded, email,
                                                display_name, &id, error);
  return mm_store_write_end(store, ok, error);
}

gboolean
mm_store_address_set_verified(MmStore *store, const char *email,
                              gboolean verified, GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  g_autofree char *folded = mm_store_email_fold(email, error);
  if (folded == NULL)
    return FALSE;
  if (!mm_store_write_begin(store, error))
    return FALSE;
  gboolean ok = FALSE;
  {
    g_auto(MmStmt) stmt = mm_store_sql_prepare(
        store, "UPDATE address SET verified_on = ?1 WHERE email = ?2", error);
    if (stmt != NULL) {
      if (verified)
        sqlite3_bind_int64(stmt, 1, mm_store_now());
      sqlite3_bind_text(stmt, 2, folded, -1, SQLITE_STATIC);
      g_autofree char *context =
          g_strdup_printf("Cannot change address %s", folded);
      ok = mm_store_sql_run(store, stmt, context, error);
      if (ok && sqlite3_changes(store->db) == 0) {
        g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND,
                    "No address %s", folded);
        ok = FALSE;
      }
    }
  }
  return mm_store_write_end(store, ok, error);
}

gboolean
mm_store_address_is_verified(MmStore *store, const char *email)
{
  g_return_val_if_fail(store != NULL, FALSE);
  g_autofree char *folded = mm_store_email_fold(email, NULL);
  if (folded == NULL)
    return FALSE;
  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store, "SELECT verified_on IS NOT NULL FROM address WHERE email = ?1",
      NULL);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text(stmt, 1, folded, -1, SQLITE_STATIC);
  return sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_int(stmt, 0) != 0;
}
