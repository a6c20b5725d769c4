/* Subscription and unsubscription workflows (Mailman's workflowstate):
 * migration 3 and the functions over it (storage-workflows.h).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "storage-workflows.h"
#include "storage-private.h"

#include <string.h>

/* The saved attributes of one workflow are a handful of flags and an
 * address; a megabyte is far beyond any honest value. */
#define WORKFLOW_DATA_MAX_LEN (1024 * 1024)

/* Mailman 3's workflowstate (the token of the pending step, the step's
 * name, the workflow's saved attributes as JSON) plus the columns our
 * command line and duplicate checks query.  The token belongs to the
 * pending (deleting the pending deletes the workflow, as Mailman's
 * confirm(expunge=True) does) and the list to its mailing list. */
const char mm_store_migration_3[] =
    "CREATE TABLE workflowstate ("
    "  token TEXT PRIMARY KEY"
    "    REFERENCES pended(token) ON DELETE CASCADE,"
    "  step TEXT,"
    "  data TEXT,"
    "  list_id TEXT NOT NULL"
    "    REFERENCES mailinglist(list_id) ON DELETE CASCADE,"
    "  workflow TEXT NOT NULL"
    "    CHECK (workflow IN ('subscription', 'unsubscription')),"
    "  email TEXT NOT NULL,"
    "  token_owner TEXT NOT NULL"
    "    CHECK (token_owner IN ('subscriber', 'moderator')),"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX workflowstate_list"
    "  ON workflowstate(list_id, workflow, email);"
    "CREATE INDEX workflowstate_expires ON workflowstate(expires_at);";

void
mm_workflow_state_free(MmWorkflowState *state)
{
  if (state == NULL)
    return;
  g_free(state->token);
  g_free(state->step);
  g_free(state->data);
  g_free(state->list_id);
  g_free(state->workflow);
  g_free(state->email);
  g_free(state->token_owner);
  g_free(state);
}

static gboolean
workflow_name_valid(const char *name)
{
  return name != NULL && (strcmp(name, "subscription") == 0 ||
                          strcmp(name, "unsubscription") == 0);
}

static gboolean
token_owner_valid(const char *name)
{
  return name != NULL && (strcmp(name, "subscriber") == 0 ||
                          strcmp(name, "moderator") == 0);
}

gboolean
mm_store_workflow_save(MmStore *store, const MmWorkflowState *state,
                       GError **error)
{
  g_return_val_if_fail(store != NULL && state != NULL, FALSE);
  if (state->token == NULL || state->data == NULL || state->email == NULL ||
      !workflow_name_valid(state->workflow) ||
      !token_owner_valid(state->token_owner) || state->data[0] != '{' ||
      strlen(state->data) > WORKFLOW_DATA_MAX_LEN) {
    g_set_error_literal(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID,
                        "Invalid workflow state");
    return FALSE;
  }
  g_autofree char *list_id = mm_store_list_id_from_spec(state->list_id, error);
  if (list_id == NULL)
    return FALSE;
  g_autofree char *email = mm_store_email_fold(state->email, error);
  if (email == NULL)
    return FALSE;
  if (!mm_store_write_begin(store, error))
    return FALSE;
  /* A token with no pending breaks the foreign key: NOT_FOUND. */
  gboolean ok =
      mm_store_list_check(store, list_id, error) &&
      mm_store_sql_run_bound(
          store, "Cannot save the workflow", error,
          "INSERT OR REPLACE INTO workflowstate (token, step, data, list_id,"
          " workflow, email, token_owner, created_at, expires_at)"
          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
          "tttttttII", state->token, state->step, state->data, list_id,
          state->workflow, email, state->token_owner,
          (gint64)state->created_at, (gint64)state->expires_at);
  return mm_store_write_end(store, ok, error);
}

#define WORKFLOW_COLUMNS                                                      \
  "token, step, data, list_id, workflow, email, token_owner, created_at,"     \
  " expires_at"

static MmWorkflowState *
state_from_row(sqlite3_stmt *stmt)
{
  MmWorkflowState *state = g_new0(MmWorkflowState, 1);
  state->token = g_strdup((const char *)sqlite3_column_text(stmt, 0));
  state->step = g_strdup((const char *)sqlite3_column_text(stmt, 1));
  const char *data = (const char *)sqlite3_column_text(stmt, 2);
  state->data = g_strdup(data != NULL ? data : "{}");
  state->list_id = g_strdup((const char *)sqlite3_column_text(stmt, 3));
  state->workflow = g_strdup((const char *)sqlite3_column_text(stmt, 4));
  state->email = g_strdup((const char *)sqlite3_column_text(stmt, 5));
  state->token_owner = g_strdup((const char *)sqlite3_column_text(stmt, 6));
  state->created_at = sqlite3_column_int64(stmt, 7);
  state->expires_at = sqlite3_column_int64(stmt, 8);
  return state;
}

MmWorkflowState *
mm_store_workflow_get(MmStore *store, const char *token, gint64 now_sec,
                      GError **error)
{
  g_return_val_if_fail(store != NULL, NULL);
  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store,
      "SELECT " WORKFLOW_COLUMNS " FROM workflowstate"
      " WHERE token = ?1 AND expires_at >= ?2",
      error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text(stmt, 1, token != NULL ? token : "", -1, SQLITE_STATIC);
  sqlite3_bind_int64(stmt, 2, now_sec);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW)
    return state_from_row(stmt);
  if (rc != SQLITE_DONE) {
    mm_store_sql_error(store, rc, "Cannot read workflows", error);
    return NULL;
  }
  g_set_error_literal(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND,
                      "No such token, or it has expired");
  return NULL;
}

gboolean
mm_store_workflow_delete(MmStore *store, const char *token, GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  return mm_store_sql_write(store, "Cannot delete the workflow", error,
                            "DELETE FROM workflowstate WHERE token = ?1", "t",
                            token != NULL ? token : "");
}

GPtrArray *
mm_store_workflows(MmStore *store, const char *list_id, const char *workflow,
                   const char *email, const char *token_owner, gint64 now_sec,
                   GError **error)
{
  g_return_val_if_fail(store != NULL, NULL);
  g_autofree char *folded_list = NULL;
  g_autofree char *folded_email = NULL;
  if (list_id != NULL &&
      (folded_list = mm_store_list_id_from_spec(list_id, error)) == NULL)
    return NULL;
  if (email != NULL && (folded_email = mm_store_email_fold(email, error)) ==
                           NULL)
    return NULL;
  /* A NULL parameter switches its condition off. */
  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store,
      "SELECT " WORKFLOW_COLUMNS " FROM workflowstate"
      " WHERE expires_at >= ?5"
      " AND (?1 IS NULL OR list_id = ?1)"
      " AND (?2 IS NULL OR workflow = ?2)"
      " AND (?3 IS NULL OR email = ?3)"
      " AND (?4 IS NULL OR token_owner = ?4)"
      " ORDER BY created_at, rowid",
      error);
  if (stmt == NULL)
    return NULL;
  if (folded_list != NULL)
    sqlite3_bind_text(stmt, 1, folded_list, -1, SQLITE_STATIC);
  if (workflow != NULL)
    sqlite3_bind_text(stmt, 2, workflow, -1, SQLITE_STATIC);
  if (folded_email != NULL)
    sqlite3_bind_text(stmt, 3, folded_email, -1, SQLITE_STATIC);
  if (token_owner != NULL)
    sqlite3_bind_text(stmt, 4, token_owner, -1, SQLITE_STATIC);
  sqlite3_bind_int64(stmt, 5, now_sec);
  g_autoptr(GPtrArray) states =
      g_ptr_array_new_with_free_func((GDestroyNotify)mm_workflow_state_free);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
    g_ptr_array_add(states, state_from_row(stmt));
  if (rc != SQLITE_DONE) {
    mm_store_sql_error(store, rc, "Cannot read workflows", error);
    return NULL;
  }
  return g_steal_pointer(&states);
}

gint64
mm_store_workflow_evict(MmStore *store, gint64 now_sec, GError **error)
{
  g_return_val_if_fail(store != NULL, -1);
  if (!mm_store_write_begin(store, error))
    return -1;
  gint64 count = 0;
  gboolean ok;
  {
    g_auto(MmStmt) stmt = mm_store_sql_prepare(
        store,
        "SELECT count(*) FROM workflowstate WHERE expires_at < ?1", error);
    ok = stmt != NULL;
    if (ok) {
      sqlite3_bind_int64(stmt, 1, now_sec);
      int rc = sqlite3_step(stmt);
      if (rc == SQLITE_ROW)
        count = sqlite3_column_int64(stmt, 0);
      else
        ok = mm_store_sql_error(store, rc, "Cannot read workflows", error);
    }
  }
  if (ok) {
    /* The pendings go and the workflows with them (the foreign key
     * cascades). */
    g_auto(MmStmt) stmt = mm_store_sql_prepare(
        store,
        "DELETE FROM pended WHERE token IN"
        " (SELECT token FROM workflowstate WHERE expires_at < ?1)",
        error);
    ok = stmt != NULL;
    if (ok) {
      sqlite3_bind_int64(stmt, 1, now_sec);
      ok = mm_store_sql_run(store, stmt, "Cannot evict workflows", error);
    }
  }
  if (!mm_store_write_end(store, ok, error))
    return -1;
  return count;
}
