/* The message store (Mailman's message table and messages_dir): where held
 * messages wait for a moderator.
 *
 * A message is keyed by its Message-ID; its file lives at
 * messages_dir/AB/CD/<hash>, Mailman's layout (two levels of two
 * characters of the Message-ID-Hash), and holds the raw bytes rather than
 * Mailman's pickle.  The file is written through base-file.h (atomic,
 * fsynced) before the row that names it is inserted, so a row always
 * names a complete file; a crash in between leaves a file no row names,
 * which is harmless (the next add of that Message-ID rewrites it).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "storage.h"
#include "storage-private.h"

#include "base-error.h"
#include "base-file.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

/* As the queue's message cap: a held message came through a queue. */
#define MESSAGE_MAX_LEN (64u * 1024u * 1024u)
#define MESSAGE_ID_MAX_LEN 998

/* The relative path for @hash, or NULL when @hash is not base32 (it names
 * a path, so it must not hold '/' or "..'). */
static char *
message_relpath(const char *hash, GError **error)
{
  gsize len = strlen(hash);
  gboolean valid = len >= 4 && len <= 64;
  for (gsize i = 0; valid && i < len; i++)
    valid = g_ascii_isupper(hash[i]) || (hash[i] >= '2' && hash[i] <= '7');
  if (!valid) {
    g_set_error_literal(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID,
                        "Invalid Message-ID-Hash");
    return NULL;
  }
  return g_strdup_printf("%c%c/%c%c/%s", hash[0], hash[1], hash[2], hash[3],
                         hash);
}

/* The row for @message_id: TRUE with @path_out (relative; transfer full)
 * or NULL when there is none. */
static gboolean
message_row(MmStore *store, const char *message_id, char **path_out,
            GError **error)
{
  *path_out = NULL;
  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store, "SELECT path FROM message WHERE message_id = ?1", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text(stmt, 1, message_id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    *path_out = g_strdup((const char *)sqlite3_column_text(stmt, 0));
    return TRUE;
  }
  if (rc == SQLITE_DONE)
    return TRUE;
  return mm_store_sql_error(store, rc, "Cannot read the message store",
                            error);
}

static gboolean
message_row_delete(MmStore *store, const char *message_id, GError **error)
{
  return mm_store_sql_write(store, "Cannot change the message store", error,
                            "DELETE FROM message WHERE message_id = ?1", "t",
                            message_id);
}

static gboolean
message_id_check(const char *message_id, GError **error)
{
  if (message_id == NULL || message_id[0] == '\0' ||
      strlen(message_id) > MESSAGE_ID_MAX_LEN) {
    g_set_error_literal(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID,
                        "A stored message needs a Message-ID");
    return FALSE;
  }
  return TRUE;
}

gboolean
mm_store_message_add(MmStore *store, const char *messages_dir,
                     const char *message_id, const char *message_id_hash,
                     GBytes *raw, gboolean *added_out, GError **error)
{
  g_return_val_if_fail(store != NULL && messages_dir != NULL, FALSE);
  if (added_out != NULL)
    *added_out = FALSE;
  if (!message_id_check(message_id, error))
    return FALSE;
  g_autofree char *relpath = message_relpath(
      message_id_hash != NULL ? message_id_hash : "", error);
  if (relpath == NULL)
    return FALSE;
  if (g_bytes_get_size(raw) > MESSAGE_MAX_LEN) {
    g_set_error_literal(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID,
                        "The message is too large to store");
    return FALSE;
  }

  /* Mailman keeps the first copy of a Message-ID. */
  g_autofree char *existing = NULL;
  if (!message_row(store, message_id, &existing, error))
    return FALSE;
  if (existing != NULL)
    return TRUE;

  g_autofree char *path = g_build_filename(messages_dir, relpath, NULL);
  g_autofree char *dir = g_path_get_dirname(path);
  GError *local = NULL;
  if (!mm_mkdir_p(dir, 02770, &local) ||
      !mm_file_write_atomic(path, g_bytes_get_data(raw, NULL),
                            g_bytes_get_size(raw), 0660, &local)) {
    g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_FAILED,
                "Cannot store the message: %s", local->message);
    g_error_free(local);
    return FALSE;
  }

  if (!mm_store_write_begin(store, error))
    return FALSE;
  gboolean ok;
  {
    g_auto(MmStmt) stmt = mm_store_sql_prepare(
        store,
        "INSERT OR IGNORE INTO message (message_id, message_id_hash, path)"
        " VALUES (?1, ?2, ?3)",
        error);
    ok = stmt != NULL;
    if (ok) {
      sqlite3_bind_text(stmt, 1, message_id, -1, SQLITE_STATIC);
      sqlite3_bind_text(stmt, 2, message_id_hash, -1, SQLITE_STATIC);
      sqlite3_bind_text(stmt, 3, relpath, -1, SQLITE_STATIC);
      ok = mm_store_sql_run(store, stmt, "Cannot record the stored message",
                            error);
      if (ok && added_out != NULL)
        *added_out = sqlite3_changes(store->db) > 0;
    }
  }
  return mm_store_write_end(store, ok, error);
}

GBytes *
mm_store_message_get(MmStore *store, const char *messages_dir,
                     const char *message_id, GError **error)
{
  g_return_val_if_fail(store != NULL && messages_dir != NULL, NULL);
  if (!message_id_check(message_id, error))
    return NULL;
  g_autofree char *relpath = NULL;
  if (!message_row(store, message_id, &relpath, error))
    return NULL;
  if (relpath != NULL) {
    g_autofree char *path = g_build_filename(messages_dir, relpath, NULL);
    g_autoptr(GError) local = NULL;
    GBytes *bytes = mm_file_read_bounded(path, MESSAGE_MAX_LEN, &local);
    if (bytes != NULL)
      return bytes;
    if (!g_error_matches(local, MM_ERROR, MM_ERROR_NOT_FOUND)) {
      g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_FAILED,
                  "Cannot read the stored message: %s", local->message);
      return NULL;
    }
    /* Removed from outside: forget it, as Mailman's _get_message(). */
    if (!message_row_delete(store, message_id, error))
      return NULL;
  }
  g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND,
              "No stored message %s", message_id);
  return NULL;
}

gboolean
mm_store_message_delete(MmStore *store, const char *messages_dir,
                        const char *message_id, GError **error)
{
  g_return_val_if_fail(store != NULL && messages_dir != NULL, FALSE);
  if (!message_id_check(message_id, error))
    return FALSE;
  g_autofree char *relpath = NULL;
  if (!message_row(store, message_id, &relpath, error))
    return FALSE;
  if (relpath == NULL)
    return TRUE;
  /* Row first: a crash after it leaves an unnamed file, never a row naming
   * a missing file. */
  if (!message_row_delete(store, message_id, error))
    return FALSE;
  g_autofree char *path = g_build_filename(messages_dir, relpath, NULL);
  if (g_unlink(path) != 0 && errno != ENOENT) {
    int saved = errno;
    g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_FAILED,
                "Cannot remove %s: %s", path, g_strerror(saved));
    return FALSE;
  }
  return TRUE;
}

gint64
mm_store_message_evict_orphans(MmStore *store, const char *messages_dir,
                               GError **error)
{
  g_return_val_if_fail(store != NULL && messages_dir != NULL, -1);
  g_autoptr(GPtrArray) orphans = g_ptr_array_new_with_free_func(g_free);
  {
    g_auto(MmStmt) stmt = mm_store_sql_prepare(
        store,
        "SELECT message_id FROM message m WHERE NOT EXISTS"
        " (SELECT 1 FROM _request r WHERE r.request_type = 1"
        "  AND r.\"key\" = m.message_id)",
        error);
    if (stmt == NULL)
      return -1;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
      g_ptr_array_add(orphans,
                      g_strdup((const char *)sqlite3_column_text(stmt, 0)));
    if (rc != SQLITE_DONE) {
      mm_store_sql_error(store, rc, "Cannot read the message store", error);
      return -1;
    }
  }
  for (guint i = 0; i < orphans->len; i++)
    if (!mm_store_message_delete(store, messages_dir, orphans->pdata[i],
                                 error))
      return -1;
  return orphans->len;
}
