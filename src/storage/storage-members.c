/* Members and rosters (Mailman's member table).
 *
 * A member is an address subscribed to a list (by list-id) in one role.
 * Delivery mode and status are resolved member -> address -> user ->
 * Mailman's defaults (regular, enabled) inside SQL with COALESCE, so a
 * roster of any size is read with one query: delivery reads rosters for
 * every post, and a query per recipient is what made other list managers
 * slow on large lists.
 *
 * XXX: Mailman can also subscribe a user (following its preferred
 * address); only address subscriptions exist here so far.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "storage.h"
#include "storage-private.h"

#define DISPLAY_NAME_MAX_LEN 1024

/* The member columns and joins shared by every member read.  Display name:
 * the address's, else its user's (Mailman shows the user's name for an
 * address that has none). */
#define MEMBER_COLUMNS                                                        \
  "a.original_email AS original_email,"                                       \
  " COALESCE(NULLIF(a.display_name, ''), u.display_name, '')"                 \
  "   AS display_name,"                                                       \
  " m.role AS role,"                                                          \
  " COALESCE(mp.delivery_mode, ap.delivery_mode, up.delivery_mode, 1)"        \
  "   AS delivery_mode,"                                                      \
  " COALESCE(mp.delivery_status, ap.delivery_status, up.delivery_status, 1)"  \
  "   AS delivery_status,"                                                    \
  " m.moderation_action AS moderation_action,"                                \
  " COALESCE(mp.preferred_language, ap.preferred_language,"                   \
  "   up.preferred_language) AS preferred_language,"                          \
  " a.email AS email"
#define MEMBER_JOINS                                                          \
  " FROM member m"                                                            \
  " JOIN address a ON a.id = m.address_id"                                    \
  " JOIN preferences mp ON mp.id = m.preferences_id"                          \
  " JOIN preferences ap ON ap.id = a.preferences_id"                          \
  " LEFT JOIN \"user\" u ON u.id = a.user_id"                                 \
  " LEFT JOIN preferences up ON up.id = u.preferences_id"

void
mm_member_free(MmMember *member)
{
  if (member == NULL)
    return;
  g_free(member->email);
  g_free(member->display_name);
  g_free(member->preferred_language);
  g_free(member);
}

/* A member from columns @first.. of @stmt laid out as MEMBER_COLUMNS. */
static MmMember *
member_from_row(sqlite3_stmt *stmt, int first)
{
  MmMember *member = g_new0(MmMember, 1);
  member->email = g_strdup((const char *)sqlite3_column_text(stmt, first));
  member->display_name =
      g_strdup((const char *)sqlite3_column_text(stmt, first + 1));
  member->role = sqlite3_column_int(stmt, first + 2);
  member->delivery_mode = sqlite3_column_int(stmt, first + 3);
  member->delivery_status = sqlite3_column_int(stmt, first + 4);
  member->moderation_action =
      sqlite3_column_type(stmt, first + 5) == SQLITE_NULL
          ? MM_ACTION_UNSET
          : sqlite3_column_int(stmt, first + 5);
  member->preferred_language =
      g_strdup((const char *)sqlite3_column_text(stmt, first + 6));
  return member;
}

static const char *
role_name(MmMemberRole role)
{
  const char *name = mm_store_enum_name(mm_store_role_names, (int)role);
  return name != NULL ? name : "member";
}

static gboolean
role_check(MmMemberRole role, GError **error)
{
  if (mm_store_enum_name(mm_store_role_names, (int)role) != NULL)
    return TRUE;
  g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID,
              "Invalid member role %d", (int)role);
  return FALSE;
}

/* NOT_FOUND for @email lacking @role on @list_id, naming the list if it
 * is the list that is missing (one more query, on the failure path only). */
static gboolean
member_not_found(MmStore *store, const char *list_id, const char *email,
                 MmMemberRole role, GError **error)
{
  if (!mm_store_list_check(store, list_id, error))
    return FALSE;
  g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND,
              "%s is not a%s %s of %s", email,
              role == MM_ROLE_OWNER ? "n" : "", role_name(role), list_id);
  return FALSE;
}

static gboolean
member_insert(MmStore *store, const char *list_id, const char *email,
              const char *original, const char *display_name,
              MmMemberRole role, MmDeliveryMode mode, GError **error)
{
  if (!mm_store_list_check(store, list_id, error))
    return FALSE;
  gint64 address_id;
  if (!mm_store_address_find_or_create(store, email, original, display_name,
                                       &address_id, error))
    return FALSE;

  g_autofree char *context =
      g_strdup_printf("Cannot subscribe %s to %s", email, list_id);
  gint64 prefs_id;
  {
    g_auto(MmStmt) prefs = mm_store_sql_prepare(
        store, "INSERT INTO preferences (delivery_mode) VALUES (?1)", error);
    if (prefs == NULL)
      return FALSE;
    /* Mode 0 leaves the member without a preference of its own, so the
     * address's or user's applies. */
    if (mode != 0)
      sqlite3_bind_int(prefs, 1, (int)mode);
    if (!mm_store_sql_run(store, prefs, context, error))
      return FALSE;
    prefs_id = sqlite3_last_insert_rowid(store->db);
  }

  g_auto(MmStmt) insert = mm_store_sql_prepare(
      store,
      "INSERT INTO member (member_id, role, list_id, address_id,"
      " moderation_action, preferences_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
      error);
  if (insert == NULL)
    return FALSE;
  g_autofree char *uuid = mm_store_uuid_hex();
  sqlite3_bind_text(insert, 1, uuid, -1, SQLITE_STATIC);
  sqlite3_bind_int(insert, 2, (int)role);
  sqlite3_bind_text(insert, 3, list_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(insert, 4, address_id);
  /* Mailman's Member(): owners and moderators are never held. */
  if (role == MM_ROLE_OWNER || role == MM_ROLE_MODERATOR)
    sqlite3_bind_int(insert, 5, MM_ACTION_ACCEPT);
  sqlite3_bind_int64(insert, 6, prefs_id);
  int rc = sqlite3_step(insert);
  if (rc == SQLITE_CONSTRAINT_UNIQUE) {
    g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_EXISTS,
                "%s is already a%s %s of %s", email,
                role == MM_ROLE_OWNER ? "n" : "", role_name(role), list_id);
    return FALSE;
  }
  if (rc != SQLITE_DONE)
    return mm_store_sql_error(store, rc, context, error);
  return TRUE;
}

gboolean
mm_store_member_add(MmStore *store, const char *list_id, const char *email,
                    const char *display_name, MmMemberRole role,
                    MmDeliveryMode mode, GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  g_autofree char *id = mm_store_list_id_from_spec(list_id, error);
  if (id == NULL)
    return FALSE;
  g_autofree char *folded = mm_store_email_fold(email, error);
  if (folded == NULL)
    return FALSE;
  if (!role_check(role, error))
    return FALSE;
  if (mode != 0 &&
      mm_store_enum_name(mm_store_delivery_mode_names, (int)mode) == NULL) {
    g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID,
                "Invalid delivery mode %d", (int)mode);
    return FALSE;
  }
  if (display_name == NULL)
    display_name = "";
  if (!mm_store_text_check("display name", display_name, TRUE,
                           DISPLAY_NAME_MAX_LEN, error))
    return FALSE;

  if (!mm_store_write_begin(store, error))
    return FALSE;
  gboolean ok = member_insert(store, id, folded, email, display_name, role,
                              mode, error);
  return mm_store_write_end(store, ok, error);
}

gboolean
mm_store_member_remove(MmStore *store, const char *list_id, const char *email,
                       MmMemberRole role, GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  g_autofree char *id = mm_store_list_id_from_spec(list_id, error);
  if (id == NULL)
    return FALSE;
  g_autofree char *folded = mm_store_email_fold(email, error);
  if (folded == NULL)
    return FALSE;
  if (!role_check(role, error))
    return FALSE;

  if (!mm_store_write_begin(store, error))
    return FALSE;
  gboolean ok = FALSE;
  {
    /* The member's preferences row goes with it (trigger). */
    g_auto(MmStmt) stmt = mm_store_sql_prepare(
        store,
        "DELETE FROM member WHERE list_id = ?1 AND role = ?3"
        " AND address_id = (SELECT id FROM address WHERE email = ?2)",
        error);
    if (stmt != NULL) {
      sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
      sqlite3_bind_text(stmt, 2, folded, -1, SQLITE_STATIC);
      sqlite3_bind_int(stmt, 3, (int)role);
      g_autofree char *context =
          g_strdup_printf("Cannot unsubscribe %s from %s", folded, id);
      ok = mm_store_sql_run(store, stmt, context, error);
      if (ok && sqlite3_changes(store->db) == 0)
        ok = member_not_found(store, id, folded, role, error);
    }
  }
  return mm_store_write_end(store, ok, error);
}

MmMember *
mm_store_member_get(MmStore *store, const char *list_id, const char *email,
                    MmMemberRole role, GError **error)
{
  g_return_val_if_fail(store != NULL, NULL);
  g_autofree char *id = mm_store_list_id_from_spec(list_id, error);
  if (id == NULL)
    return NULL;
  g_autofree char *folded = mm_store_email_fold(email, error);
  if (folded == NULL)
    return NULL;
  if (!role_check(role, error))
    return NULL;

  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store,
      "SELECT " MEMBER_COLUMNS MEMBER_JOINS
      " WHERE m.list_id = ?1 AND a.email = ?2 AND m.role = ?3",
      error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_text(stmt, 2, folded, -1, SQLITE_STATIC);
  sqlite3_bind_int(stmt, 3, (int)role);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW)
    return member_from_row(stmt, 0);
  if (rc == SQLITE_DONE)
    member_not_found(store, id, folded, role, error);
  else
    mm_store_sql_error(store, rc, "Cannot read members", error);
  return NULL;
}

gboolean
mm_store_member_set_delivery_status(MmStore *store, const char *list_id,
                                    const char *email, MmDeliveryStatus status,
                                    GError **error)
{
  const char *name =
      mm_store_enum_name(mm_store_delivery_status_names, (int)status);
  if (name == NULL) {
    g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID,
                "Invalid delivery status %d", (int)status);
    return FALSE;
  }
  return mm_store_preference_set(store, MM_PREF_LEVEL_MEMBER, email, list_id,
                                 "delivery_status", name, error);
}

gboolean
mm_store_member_set_delivery_mode(MmStore *store, const char *list_id,
                                  const char *email, MmDeliveryMode mode,
                                  GError **error)
{
  const char *name =
      mm_store_enum_name(mm_store_delivery_mode_names, (int)mode);
  if (name == NULL) {
    g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID,
                "Invalid delivery mode %d", (int)mode);
    return FALSE;
  }
  return mm_store_preference_set(store, MM_PREF_LEVEL_MEMBER, email, list_id,
                                 "delivery_mode", name, error);
}

GPtrArray *
mm_store_roster(MmStore *store, const char *list_id,
                const MmRosterQuery *query, GError **error)
{
  g_return_val_if_fail(store != NULL, NULL);
  static const MmRosterQuery everyone = {0};
  if (query == NULL)
    query = &everyone;
  g_autofree char *id = mm_store_list_id_from_spec(list_id, error);
  if (id == NULL)
    return NULL;

  /* One statement, whatever the size of the list.  The list is the outer
   * side of a LEFT JOIN so that "no such list" (no row) and "no member
   * matches" (one row of NULLs) are told apart without a second query.
   * Filters with a zero parameter are switched off. */
  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store,
      "SELECT r.original_email, r.display_name, r.role, r.delivery_mode,"
      " r.delivery_status, r.moderation_action, r.preferred_language"
      " FROM mailinglist l LEFT JOIN ("
      "  SELECT m.list_id AS list_id, " MEMBER_COLUMNS MEMBER_JOINS
      "  WHERE m.list_id = ?1"
      " ) r ON r.list_id = l.list_id"
      "  AND (?2 = 0 OR r.role = ?2)"
      "  AND (?3 = 0 OR r.delivery_mode = ?3)"
      "  AND (?4 = 0 OR r.delivery_mode <> 1)"
      "  AND (?5 = 0 OR r.delivery_status = ?5)"
      "  AND (?6 = 0 OR r.delivery_status <> 1)"
      " WHERE l.list_id = ?1"
      " ORDER BY r.email",
      error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_int(stmt, 2, (int)query->role);
  sqlite3_bind_int(stmt, 3, (int)query->delivery_mode);
  sqlite3_bind_int(stmt, 4, query->digest_only ? 1 : 0);
  sqlite3_bind_int(stmt, 5, (int)query->delivery_status);
  sqlite3_bind_int(stmt, 6, query->disabled_only ? 1 : 0);

  g_autoptr(GPtrArray) members =
      g_ptr_array_new_with_free_func((GDestroyNotify)mm_member_free);
  gboolean list_seen = FALSE;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    list_seen = TRUE;
    if (sqlite3_column_type(stmt, 0) == SQLITE_NULL)
      continue; /* the list exists, nobody matched */
    g_ptr_array_add(members, member_from_row(stmt, 0));
  }
  if (rc != SQLITE_DONE) {
    g_autofree char *context =
        g_strdup_printf("Cannot read the members of %s", id);
    mm_store_sql_error(store, rc, context, error);
    return NULL;
  }
  if (!list_seen) {
    g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND, "No list %s",
                id);
    return NULL;
  }
  return g_steal_pointer(&members);
}

gboolean
mm_store_member_set_moderation_action(MmStore *store, const char *list_id,
                                      const char *email, MmMemberRole role,
                                      MmAction action, GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  g_autofree char *id = mm_store_list_id_from_spec(list_id, error);
  if (id == NULL)
    return FALSE;
  g_autofree char *folded = mm_store_email_fold(email, error);
  if (folded == NULL)
    return FALSE;
  if (!role_check(role, error))
    return FALSE;
  if (action != MM_ACTION_UNSET &&
      mm_store_enum_name(mm_store_action_names, (int)action) == NULL) {
    g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID,
                "Invalid moderation action %d", (int)action);
    return FALSE;
  }

  if (!mm_store_write_begin(store, error))
    return FALSE;
  gboolean ok = FALSE;
  {
    g_auto(MmStmt) stmt = mm_store_sql_prepare(
        store,
        "UPDATE member SET moderation_action = ?4"
        " WHERE list_id = ?1 AND role = ?3"
        " AND address_id = (SELECT id FROM address WHERE email = ?2)",
        error);
    if (stmt != NULL) {
      sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
      sqlite3_bind_text(stmt, 2, folded, -1, SQLITE_STATIC);
      sqlite3_bind_int(stmt, 3, (int)role);
      if (action == MM_ACTION_UNSET)
        sqlite3_bind_null(stmt, 4);
      else
        sqlite3_bind_int(stmt, 4, (int)action);
      g_autofree char *context = g_strdup_printf(
          "Cannot set the moderation action of %s on %s", folded, id);
      ok = mm_store_sql_run(store, stmt, context, error);
      if (ok && sqlite3_changes(store->db) == 0)
        ok = member_not_found(store, id, folded, role, error);
    }
  }
  return mm_store_write_end(store, ok, error);
}

MmMember *
mm_store_member_find_for_sender(MmStore *store, const char *list_id,
                                const char *email, GError **error)
{
  g_return_val_if_fail(store != NULL, NULL);
  g_autofree char *id = mm_store_list_id_from_spec(list_id, error);
  if (id == NULL)
    return NULL;
  g_autofree char *folded = mm_store_email_fold(email, error);
  if (folded == NULL)
    return NULL;

  /* Mailman's _find_sender_member(): the address itself first, then the
   * addresses of the user owning it, in one query; the ORDER BY puts the
   * address's own membership first. */
  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store,
      "SELECT " MEMBER_COLUMNS MEMBER_JOINS
      " WHERE m.list_id = ?1 AND m.role = 1"
      "  AND (a.email = ?2 OR a.user_id IN"
      "   (SELECT user_id FROM address WHERE email = ?2"
      "    AND user_id IS NOT NULL))"
      " ORDER BY a.email <> ?2, a.id LIMIT 1",
      error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_text(stmt, 2, folded, -1, SQLITE_STATIC);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW)
    return member_from_row(stmt, 0);
  if (rc == SQLITE_DONE)
    member_not_found(store, id, folded, MM_ROLE_MEMBER, error);
  else
    mm_store_sql_error(store, rc, "Cannot read members", error);
  return NULL;
}
