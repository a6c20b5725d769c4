/* Pendings, held requests and the automatic-response record (Mailman's
 * pended / pendedkeyvalue, _request and autoresponserecord tables).
 *
 * A pending is a token with an expiration date and key/value pairs; the
 * values are JSON texts that the caller encodes and decodes, except the
 * key "type" (plain text), as in Mailman's model/pending.py.  A request
 * keeps its data in a pending of type "data" whose token is the request's
 * data_hash, so its data expires after moderator_request_life like
 * Mailman's; mm_store_request_evict_orphans() then drops requests whose
 * data has gone, as Mailman's task runner does.
 *
 * Deliberate difference: a pending past its expiration date reads as gone
 * even before eviction has run (Mailman still confirms it until the task
 * runner evicts it).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "storage.h"
#include "storage-private.h"

#include <string.h>
#include <sys/random.h>

#define PENDING_VALUE_MAX_LEN (16 * 1024 * 1024)

/* ---- Pendings --------------------------------------------------------- */

/* 40 lower-case hex digits from getrandom(2): a token is a capability (it
 * approves or discards a message), so it comes from the kernel's CSPRNG
 * rather than Mailman's SHA-1 of time and random. */
static char *
token_new(GError **error)
{
  guint8 bytes[20];
  if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes) {
    g_set_error_literal(error, MM_STORE_ERROR, MM_STORE_ERROR_FAILED,
                        "Cannot read random bytes for a token");
    return NULL;
  }
  GString *hex = g_string_sized_new(40);
  for (gsize i = 0; i < sizeof bytes; i++)
    g_string_append_printf(hex, "%02x", bytes[i]);
  return g_string_free(hex, FALSE);
}

static gboolean
pending_value_insert(MmStore *store, gint64 pended_id, const char *key,
                     const char *value, GError **error)
{
  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store,
      "INSERT INTO pendedkeyvalue (\"key\", value, pended_id)"
      " VALUES (?1, ?2, ?3)",
      error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_text(stmt, 2, value, -1, SQLITE_STATIC);
  sqlite3_bind_int64(stmt, 3, pended_id);
  return mm_store_sql_run(store, stmt, "Cannot record a pending", error);
}

/* Inside a write: the pending itself.  Returns the token. */
static char *
pending_insert(MmStore *store, const char *type, GHashTable *values,
               gint64 lifetime_sec, GError **error)
{
  g_autofree char *token = token_new(error);
  if (token == NULL)
    return NULL;
  gint64 pended_id;
  {
    g_auto(MmStmt) stmt = mm_store_sql_prepare(
        store, "INSERT INTO pended (token, expiration_date) VALUES (?1, ?2)",
        error);
    if (stmt == NULL)
      return NULL;
    sqlite3_bind_text(stmt, 1, token, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, mm_store_now() + MAX(lifetime_sec, 0));
    if (!mm_store_sql_run(store, stmt, "Cannot record a pending", error))
      return NULL;
    pended_id = sqlite3_last_insert_rowid(store->db);
  }
  if (!pending_value_insert(store, pended_id, "type", type, error))
    return NULL;
  if (values != NULL) {
    GHashTableIter iter;
    gpointer key, value;
    g_hash_table_iter_init(&iter, values);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
      if (strcmp(key, "type") == 0)
        continue;
      if (value == NULL || strlen(value) > PENDING_VALUE_MAX_LEN) {
        g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID,
                    "Invalid value for the pended key %s", (char *)key);
        return NULL;
      }
      if (!pending_value_insert(store, pended_id, key, value, error))
        return NULL;
    }
  }
  return g_steal_pointer(&token);
}

char *
mm_store_pending_add(MmStore *store, const char *type, GHashTable *values,
                     gint64 lifetime_sec, GError **error)
{
  g_return_val_if_fail(store != NULL && type != NULL, NULL);
  if (!mm_store_write_begin(store, error))
    return NULL;
  char *token = pending_insert(store, type, values, lifetime_sec, error);
  if (!mm_store_write_end(store, token != NULL, error))
    g_clear_pointer(&token, g_free);
  return token;
}

/* Reads the live pending @token's values; NULL (no error) when there is
 * none. */
static GHashTable *
pending_read(MmStore *store, const char *token, gboolean *found_out,
             GError **error)
{
  *found_out = FALSE;
  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store,
      "SELECT kv.\"key\", kv.value FROM pended p"
      " JOIN pendedkeyvalue kv ON kv.pended_id = p.id"
      " WHERE p.token = ?1 AND p.expiration_date >= ?2 ORDER BY kv.id",
      error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text(stmt, 1, token, -1, SQLITE_STATIC);
  sqlite3_bind_int64(stmt, 2, mm_store_now());
  g_autoptr(GHashTable) values =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    *found_out = TRUE;
    const char *value = (const char *)sqlite3_column_text(stmt, 1);
    g_hash_table_replace(values,
                         g_strdup((const char *)sqlite3_column_text(stmt, 0)),
                         g_strdup(value != NULL ? value : "null"));
  }
  if (rc != SQLITE_DONE) {
    mm_store_sql_error(store, rc, "Cannot read pendings", error);
    return NULL;
  }
  return g_steal_pointer(&values);
}

static gboolean
pending_remove(MmStore *store, const char *token, GError **error)
{
  /* The key/value rows go with it (ON DELETE CASCADE). */
  g_auto(MmStmt) stmt =
      mm_store_sql_prepare(store, "DELETE FROM pended WHERE token = ?1", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text(stmt, 1, token, -1, SQLITE_STATIC);
  return mm_store_sql_run(store, stmt, "Cannot delete a pending", error);
}

GHashTable *
mm_store_pending_get(MmStore *store, const char *token, gboolean expunge,
                     GError **error)
{
  g_return_val_if_fail(store != NULL, NULL);
  if (token == NULL)
    token = "";
  gboolean found = FALSE;
  g_autoptr(GHashTable) values = NULL;
  if (expunge) {
    if (!mm_store_write_begin(store, error))
      return NULL;
    values = pending_read(store, token, &found, error);
    gboolean ok = values != NULL;
    if (ok && found)
      ok = pending_remove(store, token, error);
    if (!mm_store_write_end(store, ok, error))
      return NULL;
  } else {
    values = pending_read(store, token, &found, error);
    if (values == NULL)
      return NULL;
  }
  if (!found) {
    g_set_error_literal(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND,
                        "No such token, or it has expired");
    return NULL;
  }
  return g_steal_pointer(&values);
}

gboolean
mm_store_pending_delete(MmStore *store, const char *token, GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  if (!mm_store_write_begin(store, error))
    return FALSE;
  gboolean ok = pending_remove(store, token != NULL ? token : "", error);
  return mm_store_write_end(store, ok, error);
}

GPtrArray *
mm_store_pending_find(MmStore *store, const char *type, const char *key,
                      const char *json_value, GError **error)
{
  g_return_val_if_fail(store != NULL, NULL);
  /* A NULL parameter switches its condition off. */
  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store,
      "SELECT p.token FROM pended p WHERE p.expiration_date >= ?4"
      " AND (?1 IS NULL OR EXISTS (SELECT 1 FROM pendedkeyvalue t"
      "  WHERE t.pended_id = p.id AND t.\"key\" = 'type' AND t.value = ?1))"
      " AND (?2 IS NULL OR EXISTS (SELECT 1 FROM pendedkeyvalue k"
      "  WHERE k.pended_id = p.id AND k.\"key\" = ?2"
      "  AND (?3 IS NULL OR k.value = ?3)))"
      " ORDER BY p.id",
      error);
  if (stmt == NULL)
    return NULL;
  if (type != NULL)
    sqlite3_bind_text(stmt, 1, type, -1, SQLITE_STATIC);
  if (key != NULL)
    sqlite3_bind_text(stmt, 2, key, -1, SQLITE_STATIC);
  if (json_value != NULL)
    sqlite3_bind_text(stmt, 3, json_value, -1, SQLITE_STATIC);
  sqlite3_bind_int64(stmt, 4, mm_store_now());
  g_autoptr(GPtrArray) tokens = g_ptr_array_new_with_free_func(g_free);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
    g_ptr_array_add(tokens,
                    g_strdup((const char *)sqlite3_column_text(stmt, 0)));
  if (rc != SQLITE_DONE) {
    mm_store_sql_error(store, rc, "Cannot read pendings", error);
    return NULL;
  }
  return g_steal_pointer(&tokens);
}

gint64
mm_store_pending_evict(MmStore *store, gint64 now_sec, GError **error)
{
  g_return_val_if_fail(store != NULL, -1);
  if (!mm_store_write_begin(store, error))
    return -1;
  gboolean ok = mm_store_sql_run_bound(
      store, "Cannot evict pendings", error,
      "DELETE FROM pended WHERE expiration_date < ?1", "I", now_sec);
  gint64 count = ok ? sqlite3_changes(store->db) : 0;
  if (!mm_store_write_end(store, ok, error))
    return -1;
  return count;
}

/* ---- Requests --------------------------------------------------------- */

void
mm_request_free(MmRequest *request)
{
  if (request == NULL)
    return;
  g_free(request->key);
  g_free(request->list_id);
  g_clear_pointer(&request->data, g_hash_table_unref);
  g_free(request);
}

gint64
mm_store_request_add(MmStore *store, const char *list_id, MmRequestType type,
                     const char *key, GHashTable *data, gint64 lifetime_sec,
                     GError **error)
{
  g_return_val_if_fail(store != NULL, 0);
  if (type < MM_REQUEST_HELD_MESSAGE || type > MM_REQUEST_UNSUBSCRIPTION) {
    g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID,
                "Invalid request type %d", (int)type);
    return 0;
  }
  if (key == NULL)
    key = "";
  if (!mm_store_write_begin(store, error))
    return 0;
  gint64 row_id = 0, request_id = 0;
  g_autofree char *token = NULL;
  gboolean ok = mm_store_list_row_id(store, list_id, &row_id, NULL, error);
  if (ok && data != NULL) {
    token = pending_insert(store, "data", data, lifetime_sec, error);
    ok = token != NULL;
  }
  if (ok) {
    g_auto(MmStmt) stmt = mm_store_sql_prepare(
        store,
        "INSERT INTO _request (\"key\", request_type, data_hash,"
        " mailing_list_id) VALUES (?1, ?2, ?3, ?4)",
        error);
    ok = stmt != NULL;
    if (ok) {
      sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
      sqlite3_bind_int(stmt, 2, (int)type);
      if (token != NULL)
        sqlite3_bind_text(stmt, 3, token, -1, SQLITE_STATIC);
      sqlite3_bind_int64(stmt, 4, row_id);
      ok = mm_store_sql_run(store, stmt, "Cannot hold the request", error);
      request_id = sqlite3_last_insert_rowid(store->db);
    }
  }
  if (!mm_store_write_end(store, ok, error))
    return 0;
  return request_id;
}

#define REQUEST_COLUMNS                                                       \
  "r.id, r.request_type, r.\"key\", r.data_hash, l.list_id"

/* A request from a REQUEST_COLUMNS row, with its data.  NULL without an
 * error when its data has expired. */
static MmRequest *
request_from_row(MmStore *store, sqlite3_stmt *stmt, GError **error)
{
  g_autoptr(MmRequest) request = g_new0(MmRequest, 1);
  request->id = sqlite3_column_int64(stmt, 0);
  request->type = sqlite3_column_int(stmt, 1);
  request->key = g_strdup((const char *)sqlite3_column_text(stmt, 2));
  request->list_id = g_strdup((const char *)sqlite3_column_text(stmt, 4));
  const char *token = (const char *)sqlite3_column_text(stmt, 3);
  if (token == NULL) {
    request->data =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    return g_steal_pointer(&request);
  }
  gboolean found;
  request->data = pending_read(store, token, &found, error);
  if (request->data == NULL || !found)
    return NULL;
  return g_steal_pointer(&request);
}

MmRequest *
mm_store_request_get(MmStore *store, const char *list_id, gint64 id,
                     GError **error)
{
  g_return_val_if_fail(store != NULL, NULL);
  g_autofree char *folded = mm_store_list_id_from_spec(list_id, error);
  if (folded == NULL)
    return NULL;
  /* The pending read below uses statements of its own, so this one is
   * prepared uncached and finished before that. */
  g_autoptr(sqlite3_stmt) stmt = mm_store_sql_prepare_once(
      store,
      "SELECT " REQUEST_COLUMNS " FROM _request r"
      " JOIN mailinglist l ON l.id = r.mailing_list_id"
      " WHERE r.id = ?1 AND l.list_id = ?2",
      error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64(stmt, 1, id);
  sqlite3_bind_text(stmt, 2, folded, -1, SQLITE_STATIC);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    GError *local = NULL;
    MmRequest *request = request_from_row(store, stmt, &local);
    if (request != NULL)
      return request;
    if (local != NULL) {
      g_propagate_error(error, local);
      return NULL;
    }
  } else if (rc != SQLITE_DONE) {
    mm_store_sql_error(store, rc, "Cannot read requests", error);
    return NULL;
  }
  g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND,
              "No request %" G_GINT64_FORMAT " on %s", id, folded);
  return NULL;
}

GPtrArray *
mm_store_requests(MmStore *store, const char *list_id, MmRequestType type,
                  GError **error)
{
  g_return_val_if_fail(store != NULL, NULL);
  gint64 row_id;
  if (!mm_store_list_row_id(store, list_id, &row_id, NULL, error))
    return NULL;
  g_autoptr(sqlite3_stmt) stmt = mm_store_sql_prepare_once(
      store,
      "SELECT " REQUEST_COLUMNS " FROM _request r"
      " JOIN mailinglist l ON l.id = r.mailing_list_id"
      " WHERE r.mailing_list_id = ?1 AND (?2 = 0 OR r.request_type = ?2)"
      " ORDER BY r.id",
      error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64(stmt, 1, row_id);
  sqlite3_bind_int(stmt, 2, (int)type);
  g_autoptr(GPtrArray) requests =
      g_ptr_array_new_with_free_func((GDestroyNotify)mm_request_free);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    GError *local = NULL;
    MmRequest *request = request_from_row(store, stmt, &local);
    if (local != NULL) {
      g_propagate_error(error, local);
      return NULL;
    }
    if (request != NULL)
      g_ptr_array_add(requests, request);
  }
  if (rc != SQLITE_DONE) {
    mm_store_sql_error(store, rc, "Cannot read requests", error);
    return NULL;
  }
  return g_steal_pointer(&requests);
}

gint64
mm_store_request_find(MmStore *store, const char *list_id, MmRequestType type,
                      const char *key, GError **error)
{
  g_return_val_if_fail(store != NULL, -1);
  g_autofree char *folded = mm_store_list_id_from_spec(list_id, error);
  if (folded == NULL)
    return -1;
  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store,
      "SELECT r.id FROM _request r"
      " JOIN mailinglist l ON l.id = r.mailing_list_id"
      " WHERE l.list_id = ?1 AND r.request_type = ?2 AND r.\"key\" = ?3"
      " ORDER BY r.id LIMIT 1",
      error);
  if (stmt == NULL)
    return -1;
  sqlite3_bind_text(stmt, 1, folded, -1, SQLITE_STATIC);
  sqlite3_bind_int(stmt, 2, (int)type);
  sqlite3_bind_text(stmt, 3, key != NULL ? key : "", -1, SQLITE_STATIC);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW)
    return sqlite3_column_int64(stmt, 0);
  if (rc == SQLITE_DONE)
    return 0;
  mm_store_sql_error(store, rc, "Cannot read requests", error);
  return -1;
}

gboolean
mm_store_request_delete(MmStore *store, gint64 id, GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  if (!mm_store_write_begin(store, error))
    return FALSE;
  /* The data pending goes with it (trigger _request_delete_data). */
  gboolean ok = mm_store_sql_run_bound(store, "Cannot delete the request",
                                       error,
                                       "DELETE FROM _request WHERE id = ?1",
                                       "I", id);
  if (ok && sqlite3_changes(store->db) == 0) {
    g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND,
                "No request %" G_GINT64_FORMAT, id);
    ok = FALSE;
  }
  return mm_store_write_end(store, ok, error);
}

gint64
mm_store_request_evict_orphans(MmStore *store, GError **error)
{
  g_return_val_if_fail(store != NULL, -1);
  if (!mm_store_write_begin(store, error))
    return -1;
  gboolean ok = mm_store_sql_run_bound(
      store, "Cannot delete expired requests", error,
      "DELETE FROM _request WHERE data_hash IS NOT NULL"
      " AND NOT EXISTS (SELECT 1 FROM pended p WHERE p.token = data_hash"
      "  AND p.expiration_date >= ?1)",
      "I", mm_store_now());
  /* The trigger's deletions are not counted by sqlite3_changes(). */
  gint64 count = ok ? sqlite3_changes(store->db) : 0;
  if (!mm_store_write_end(store, ok, error))
    return -1;
  return count;
}

/* ---- Automatic responses ---------------------------------------------- */

static char *
today_local(void)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_local();
  return g_date_time_format(now, "%Y-%m-%d");
}

gint64
mm_store_autoresponse_count_today(MmStore *store, const char *list_id,
                                  const char *email, MmResponseType type,
                                  GError **error)
{
  g_return_val_if_fail(store != NULL, -1);
  g_autofree char *folded = mm_store_email_fold(email, error);
  if (folded == NULL)
    return -1;
  gint64 row_id;
  if (!mm_store_list_row_id(store, list_id, &row_id, NULL, error))
    return -1;
  g_autofree char *today = today_local();
  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store,
      "SELECT count(*) FROM autoresponserecord r"
      " JOIN address a ON a.id = r.address_id"
      " WHERE r.mailing_list_id = ?1 AND a.email = ?2"
      " AND r.response_type = ?3 AND r.date_sent = ?4",
      error);
  if (stmt == NULL)
    return -1;
  sqlite3_bind_int64(stmt, 1, row_id);
  sqlite3_bind_text(stmt, 2, folded, -1, SQLITE_STATIC);
  sqlite3_bind_int(stmt, 3, (int)type);
  sqlite3_bind_text(stmt, 4, today, -1, SQLITE_STATIC);
  int rc = sqlite3_step(stmt);
  if (rc != SQLITE_ROW) {
    mm_store_sql_error(store, rc, "Cannot read automatic responses", error);
    return -1;
  }
  return sqlite3_column_int64(stmt, 0);
}

gboolean
mm_store_autoresponse_record(MmStore *store, const char *list_id,
                             const char *email, MmResponseType type,
                             GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  g_autofree char *folded = mm_store_email_fold(email, error);
  if (folded == NULL)
    return FALSE;
  g_autofree char *today = today_local();
  if (!mm_store_write_begin(store, error))
    return FALSE;
  gint64 row_id, address_id;
  gboolean ok =
      mm_store_list_row_id(store, list_id, &row_id, NULL, error) &&
      mm_store_address_find_or_create(store, folded, email, "", &address_id,
                                      error);
  if (ok) {
    g_auto(MmStmt) stmt = mm_store_sql_prepare(
        store,
        "INSERT INTO autoresponserecord (address_id, mailing_list_id,"
        " response_type, date_sent) VALUES (?1, ?2, ?3, ?4)",
        error);
    ok = stmt != NULL;
    if (ok) {
      sqlite3_bind_int64(stmt, 1, address_id);
      sqlite3_bind_int64(stmt, 2, row_id);
      sqlite3_bind_int(stmt, 3, (int)type);
      sqlite3_bind_text(stmt, 4, today, -1, SQLITE_STATIC);
      ok = mm_store_sql_run(store, stmt, "Cannot record the response",
                            error);
    }
  }
  return mm_store_write_end(store, ok, error);
}

gboolean
mm_store_autoresponse_last(MmStore *store, const char *list_id,
                           const char *email, MmResponseType type,
                           char **date_out, GError **error)
{
  g_return_val_if_fail(store != NULL && date_out != NULL, FALSE);
  *date_out = NULL;
  g_autofree char *folded = mm_store_email_fold(email, error);
  if (folded == NULL)
    return FALSE;
  gint64 row_id;
  if (!mm_store_list_row_id(store, list_id, &row_id, NULL, error))
    return FALSE;
  /* Dates are ISO "YYYY-MM-DD", so the greatest string is the latest. */
  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store,
      "SELECT max(r.date_sent) FROM autoresponserecord r"
      " JOIN address a ON a.id = r.address_id"
      " WHERE r.mailing_list_id = ?1 AND a.email = ?2"
      " AND r.response_type = ?3",
      error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64(stmt, 1, row_id);
  sqlite3_bind_text(stmt, 2, folded, -1, SQLITE_STATIC);
  sqlite3_bind_int(stmt, 3, (int)type);
  int rc = sqlite3_step(stmt);
  if (rc != SQLITE_ROW) {
    mm_store_sql_error(store, rc, "Cannot read automatic responses", error);
    return FALSE;
  }
  const char *date = (const char *)sqlite3_column_text(stmt, 0);
  *date_out = g_strdup(date);
  return TRUE;
}
