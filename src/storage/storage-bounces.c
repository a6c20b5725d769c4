/* Bounce events (Mailman's bounceevent) and member bounce state:
 * migration 4 and the functions over it (storage-bounces.h).
 *
 * Times are unix microseconds in these columns: bounceevent.timestamp and
 * the member's last_bounce_received and last_warning_sent (migration 1
 * created the member columns without a unit; nothing else reads them).
 * last_warning_sent is NOT NULL with 0 for Mailman's datetime.min: read
 * back as "never".
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "storage-bounces.h"
#include "storage-private.h"

#define EMAIL_MAX_LEN 1024
#define MESSAGE_ID_MAX_LEN 4096

/* Mailman 3's bounceevent: one row per recognised permanent bounce (or
 * permanent SMTP refusal), processed by the periodic scoring.  context is
 * Mailman's BounceContext: normal 1, probe 2.  timestamp is unix
 * microseconds.  No foreign key to the list: an event may outlive its list
 * until scoring discards it, as in Mailman.  The index on processed finds
 * the unprocessed events in id order (an index entry ends with the rowid);
 * the other serves `mailman bounces` per list and address. */
const char mm_store_migration_4[] =
    "CREATE TABLE bounceevent ("
    "  id INTEGER PRIMARY KEY,"
    "  list_id TEXT NOT NULL,"
    "  email TEXT NOT NULL,"
    "  timestamp INTEGER NOT NULL,"
    "  message_id TEXT,"
    "  context INTEGER NOT NULL DEFAULT 1 CHECK (context IN (1, 2)),"
    "  processed INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX bounceevent_processed ON bounceevent(processed);"
    "CREATE INDEX bounceevent_list_email"
    "  ON bounceevent(list_id, email COLLATE NOCASE);";

/* ---- events ------------------------------------------------------------ */

void
mm_store_bounce_event_free(MmStoreBounceEvent *event)
{
  if (event == NULL)
    return;
  g_free(event->list_id);
  g_free(event->email);
  g_free(event->message_id);
  g_free(event);
}

#define EVENT_COLUMNS                                                         \
  "id, list_id, email, timestamp, message_id, context, processed"

static MmStoreBounceEvent *
event_from_row(sqlite3_stmt *stmt)
{
  MmStoreBounceEvent *event = g_new0(MmStoreBounceEvent, 1);
  event->id = sqlite3_column_int64(stmt, 0);
  event->list_id = g_strdup((const char *)sqlite3_column_text(stmt, 1));
  event->email = g_strdup((const char *)sqlite3_column_text(stmt, 2));
  event->timestamp_usec = sqlite3_column_int64(stmt, 3);
  event->message_id = g_strdup((const char *)sqlite3_column_text(stmt, 4));
  event->context = sqlite3_column_int(stmt, 5);
  event->processed = sqlite3_column_int(stmt, 6) != 0;
  return event;
}

/* Steps @stmt collecting events.  NULL with @error. */
static GPtrArray *
events_collect(MmStore *store, sqlite3_stmt *stmt, GError **error)
{
  g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func(
      (GDestroyNotify)mm_store_bounce_event_free);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
    g_ptr_array_add(events, event_from_row(stmt));
  if (rc != SQLITE_DONE) {
    mm_store_sql_error(store, rc, "Cannot read bounce events", error);
    return NULL;
  }
  return g_steal_pointer(&events);
}

gint64
mm_store_bounce_event_add(MmStore *store, const char *list_id,
                          const char *email, gint64 timestamp_usec,
                          const char *message_id, int context, GError **error)
{
  g_return_val_if_fail(store != NULL && list_id != NULL && email != NULL, 0);
  g_autofree char *id = mm_store_list_id_from_spec(list_id, error);
  if (id == NULL)
    return 0;
  if (!mm_store_text_check("bounced address", email, TRUE, EMAIL_MAX_LEN,
                           error) ||
      (message_id != NULL &&
       !mm_store_text_check("Message-ID", message_id, TRUE,
                            MESSAGE_ID_MAX_LEN, error)))
    return 0;
  if (*email == '\0') {
    g_set_error_literal(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID,
                        "A bounce event needs an address");
    return 0;
  }
  if (context != MM_STORE_BOUNCE_CONTEXT_NORMAL &&
      context != MM_STORE_BOUNCE_CONTEXT_PROBE) {
    g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID,
                "Invalid bounce context %d", context);
    return 0;
  }
  if (!mm_store_write_begin(store, error))
    return 0;
  g_autofree char *what =
      g_strdup_printf("Cannot record a bounce of %s on %s", email, id);
  gint64 row = 0;
  if (mm_store_sql_run_bound(
          store, what, error,
          "INSERT INTO bounceevent"
          " (list_id, email, timestamp, message_id, context, processed)"
          " VALUES (?1, ?2, ?3, ?4, ?5, 0)",
          "ttIti", id, email, (gint64)timestamp_usec, message_id,
          (int)context))
    row = sqlite3_last_insert_rowid(store->db);
  if (!mm_store_write_end(store, row > 0, error))
    return 0;
  return row;
}

GPtrArray *
mm_store_bounce_events_unprocessed(MmStore *store, guint limit,
                                   GError **error)
{
  g_return_val_if_fail(store != NULL, NULL);
  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store,
      "SELECT " EVENT_COLUMNS " FROM bounceevent WHERE processed = 0"
      " ORDER BY id LIMIT ?1",
      error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64(stmt, 1, limit);
  return events_collect(store, stmt, error);
}

GPtrArray *
mm_store_bounce_events_for(MmStore *store, const char *list_id,
                           const char *email, guint limit, GError **error)
{
  g_return_val_if_fail(store != NULL && list_id != NULL, NULL);
  g_autofree char *id = mm_store_list_id_from_spec(list_id, error);
  if (id == NULL)
    return NULL;
  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store,
      "SELECT " EVENT_COLUMNS " FROM bounceevent WHERE list_id = ?1"
      " AND (?2 IS NULL OR email = ?2 COLLATE NOCASE)"
      " ORDER BY id DESC LIMIT ?3",
      error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
  if (email != NULL)
    sqlite3_bind_text(stmt, 2, email, -1, SQLITE_STATIC);
  sqlite3_bind_int64(stmt, 3, limit);
  return events_collect(store, stmt, error);
}

gboolean
mm_store_bounce_event_claim(MmStore *store, gint64 id, gboolean *claimed_out,
                            GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  if (claimed_out != NULL)
    *claimed_out = FALSE;
  if (!mm_store_write_begin(store, error))
    return FALSE;
  gboolean ok = mm_store_sql_run_bound(
      store, "Cannot mark a bounce event", error,
      "UPDATE bounceevent SET processed = 1 WHERE id = ?1 AND processed = 0",
      "I", id);
  if (ok && claimed_out != NULL)
    *claimed_out = sqlite3_changes(store->db) > 0;
  return mm_store_write_end(store, ok, error);
}

/* ---- member state ------------------------------------------------------ */

void
mm_store_member_bounce_free(MmStoreMemberBounce *member)
{
  if (member == NULL)
    return;
  g_free(member->list_id);
  g_free(member->email);
  g_free(member->display_name);
  g_free(member->member_id);
  g_free(member);
}

/* Columns and joins of every read below; the last column is the folded
 * address, for ordering. */
#define BOUNCE_SELECT                                                         \
  "SELECT m.list_id, a.original_email,"                                       \
  " COALESCE(NULLIF(a.display_name, ''), u.display_name, ''),"                \
  " m.member_id, mp.delivery_status,"                                         \
  " COALESCE(mp.delivery_status, ap.delivery_status, up.delivery_status, 1),"  \
  " m.bounce_score, m.last_bounce_received, m.last_warning_sent,"             \
  " m.total_warnings_sent"                                                    \
  " FROM member m"                                                            \
  " JOIN address a ON a.id = m.address_id"                                    \
  " JOIN preferences mp ON mp.id = m.preferences_id"                          \
  " JOIN preferences ap ON ap.id = a.preferences_id"                          \
  " LEFT JOIN \"user\" u ON u.id = a.user_id"                                 \
  " LEFT JOIN preferences up ON up.id = u.preferences_id"

static MmStoreMemberBounce *
member_bounce_from_row(sqlite3_stmt *stmt)
{
  MmStoreMemberBounce *member = g_new0(MmStoreMemberBounce, 1);
  member->list_id = g_strdup((const char *)sqlite3_column_text(stmt, 0));
  member->email = g_strdup((const char *)sqlite3_column_text(stmt, 1));
  member->display_name = g_strdup((const char *)sqlite3_column_text(stmt, 2));
  member->member_id = g_strdup((const char *)sqlite3_column_text(stmt, 3));
  member->own_delivery_status = sqlite3_column_type(stmt, 4) == SQLITE_NULL
                                    ? 0
                                    : sqlite3_column_int(stmt, 4);
  member->delivery_status = sqlite3_column_int(stmt, 5);
  member->bounce_score = sqlite3_column_int(stmt, 6);
  member->last_bounce_received_usec =
      sqlite3_column_type(stmt, 7) == SQLITE_NULL
          ? MM_STORE_BOUNCE_NEVER
          : sqlite3_column_int64(stmt, 7);
  gint64 warned = sqlite3_column_int64(stmt, 8);
  member->last_warning_sent_usec = warned == 0 ? MM_STORE_BOUNCE_NEVER : warned;
  member->total_warnings_sent = sqlite3_column_int(stmt, 9);
  return member;
}

/* Steps @stmt expecting at most one row: the member, or NULL with
 * NOT_FOUND (@what names it) or another error. */
static MmStoreMemberBounce *
member_bounce_one(MmStore *store, sqlite3_stmt *stmt, const char *what,
                  GError **error)
{
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW)
    return member_bounce_from_row(stmt);
  if (rc == SQLITE_DONE)
    g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND, "%s", what);
  else
    mm_store_sql_error(store, rc, "Cannot read members", error);
  return NULL;
}

static GPtrArray *
member_bounces_collect(MmStore *store, sqlite3_stmt *stmt, GError **error)
{
  g_autoptr(GPtrArray) members = g_ptr_array_new_with_free_func(
      (GDestroyNotify)mm_store_member_bounce_free);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
    g_ptr_array_add(members, member_bounce_from_row(stmt));
  if (rc != SQLITE_DONE) {
    mm_store_sql_error(store, rc, "Cannot read members", error);
    return NULL;
  }
  return g_steal_pointer(&members);
}

MmStoreMemberBounce *
mm_store_member_bounce_get(MmStore *store, const char *list_id,
                           const char *email, GError **error)
{
  g_return_val_if_fail(store != NULL && list_id != NULL && email != NULL,
                       NULL);
  g_autofree char *id = mm_store_list_id_from_spec(list_id, error);
  if (id == NULL)
    return NULL;
  g_autofree char *folded = mm_store_email_fold(email, error);
  if (folded == NULL)
    return NULL;
  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store,
      BOUNCE_SELECT " WHERE m.list_id = ?1 AND a.email = ?2 AND m.role = 1",
      error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_text(stmt, 2, folded, -1, SQLITE_STATIC);
  g_autofree char *what =
      g_strdup_printf("%s is not a member of %s", folded, id);
  return member_bounce_one(store, stmt, what, error);
}

MmStoreMemberBounce *
mm_store_member_bounce_by_id(MmStore *store, const char *member_id,
                             GError **error)
{
  g_return_val_if_fail(store != NULL && member_id != NULL, NULL);
  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store, BOUNCE_SELECT " WHERE m.member_id = ?1", error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text(stmt, 1, member_id, -1, SQLITE_STATIC);
  return member_bounce_one(store, stmt, "No such member", error);
}

gboolean
mm_store_member_bounce_set(MmStore *store, const MmStoreMemberBounce *state,
                           GError **error)
{
  g_return_val_if_fail(store != NULL && state != NULL, FALSE);
  g_autofree char *id = mm_store_list_id_from_spec(state->list_id, error);
  if (id == NULL)
    return FALSE;
  g_autofree char *folded = mm_store_email_fold(state->email, error);
  if (folded == NULL)
    return FALSE;
  if (!mm_store_write_begin(store, error))
    return FALSE;
  gboolean ok = FALSE;
  {
    g_auto(MmStmt) stmt = mm_store_sql_prepare(
        store,
        "UPDATE member SET bounce_score = ?3, last_bounce_received = ?4,"
        " last_warning_sent = ?5, total_warnings_sent = ?6"
        " WHERE list_id = ?1 AND role = 1"
        " AND address_id = (SELECT id FROM address WHERE email = ?2)",
        error);
    if (stmt != NULL) {
      sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
      sqlite3_bind_text(stmt, 2, folded, -1, SQLITE_STATIC);
      sqlite3_bind_int(stmt, 3, state->bounce_score);
      if (state->last_bounce_received_usec != MM_STORE_BOUNCE_NEVER)
        sqlite3_bind_int64(stmt, 4, state->last_bounce_received_usec);
      /* datetime.min is stored as 0 (the column is NOT NULL). */
      sqlite3_bind_int64(stmt, 5,
                         state->last_warning_sent_usec == MM_STORE_BOUNCE_NEVER
                             ? 0
                             : state->last_warning_sent_usec);
      sqlite3_bind_int(stmt, 6, state->total_warnings_sent);
      g_autofree char *what = g_strdup_printf(
          "Cannot save the bounce state of %s on %s", folded, id);
      ok = mm_store_sql_run(store, stmt, what, error);
      if (ok && sqlite3_changes(store->db) == 0) {
        g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND,
                    "%s is not a member of %s", folded, id);
        ok = FALSE;
      }
    }
  }
  return mm_store_write_end(store, ok, error);
}

GPtrArray *
mm_store_member_bounces(MmStore *store, const char *list_id,
                        gboolean bouncing_only, GError **error)
{
  g_return_val_if_fail(store != NULL && list_id != NULL, NULL);
  g_autofree char *id = mm_store_list_id_from_spec(list_id, error);
  if (id == NULL)
    return NULL;
  if (!mm_store_list_check(store, id, error))
    return NULL;
  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store,
      BOUNCE_SELECT " WHERE m.list_id = ?1 AND m.role = 1"
      " AND (?2 = 0 OR m.bounce_score > 0"
      "  OR m.last_bounce_received IS NOT NULL"
      "  OR m.total_warnings_sent > 0 OR mp.delivery_status = 3)"
      " ORDER BY a.email",
      error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_int(stmt, 2, bouncing_only ? 1 : 0);
  return member_bounces_collect(store, stmt, error);
}

GPtrArray *
mm_store_member_bounces_disabled(MmStore *store, GError **error)
{
  g_return_val_if_fail(store != NULL, NULL);
  /* By the member's own preference, as Mailman's
   * memberships_pending_warning joins Member.preferences. */
  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store,
      BOUNCE_SELECT " WHERE m.role = 1 AND mp.delivery_status = 3"
      " ORDER BY m.list_id, a.email",
      error);
  if (stmt == NULL)
    return NULL;
  return member_bounces_collect(store, stmt, error);
}
