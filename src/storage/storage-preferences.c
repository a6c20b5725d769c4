/* Preferences at member, address and user level (Mailman's preferences
 * table) and their resolution.
 *
 * Each member, address and user owns one preferences row whose columns
 * are all nullable; NULL means "not set here".  The effective value is the
 * first set one of member -> address -> user, else Mailman's default
 * (mailman/model/preferences.py, config [mailman] defaults): acknowledge
 * posts False, hide address True, receive list copy True, receive own
 * postings True, delivery regular and enabled; language falls back to the
 * list's.  Text forms are those of list settings: "True"/"False", enum
 * names, language codes.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "storage.h"
#include "storage-private.h"

#include "config.h"

#include <string.h>

typedef enum {
  PREF_BOOL,
  PREF_LANGUAGE,
  PREF_DELIVERY_MODE,
  PREF_DELIVERY_STATUS,
} PrefType;

typedef struct {
  const char *name;
  PrefType type;
  const char *update_sql;
} Preference;

/* Columns in the order of the resolution query below. */
#define PREF(name, type)                                                      \
  {#name, type, "UPDATE preferences SET " #name " = ?1 WHERE id = ?2"}
static const Preference preferences[] = {
    PREF(acknowledge_posts, PREF_BOOL),
    PREF(hide_address, PREF_BOOL),
    PREF(preferred_language, PREF_LANGUAGE),
    PREF(receive_list_copy, PREF_BOOL),
    PREF(receive_own_postings, PREF_BOOL),
    PREF(delivery_mode, PREF_DELIVERY_MODE),
    PREF(delivery_status, PREF_DELIVERY_STATUS),
};
#undef PREF

static const Preference *
preference_find(const char *name, gsize *index_out)
{
  for (gsize i = 0; name != NULL && i < G_N_ELEMENTS(preferences); i++) {
    if (strcmp(preferences[i].name, name) == 0) {
      *index_out = i;
      return &preferences[i];
    }
  }
  return NULL;
}

static const MmEnumName *
preference_names(const Preference *pref)
{
  return pref->type == PREF_DELIVERY_MODE ? mm_store_delivery_mode_names
                                          : mm_store_delivery_status_names;
}

/* Parses @value for @pref and binds it (NULL binds NULL: cleared). */
static gboolean
preference_bind(const Preference *pref, sqlite3_stmt *stmt, int index,
                const char *value, GError **error)
{
  if (value == NULL)
    return TRUE; /* parameters start out NULL */
  switch (pref->type) {
  case PREF_BOOL: {
    gboolean b;
    if (!mm_config_parse_bool(value, &b))
      break;
    sqlite3_bind_int(stmt, index, b ? 1 : 0);
    return TRUE;
  }
  case PREF_LANGUAGE:
    if (!mm_store_language_valid(value))
      break;
    sqlite3_bind_text(stmt, index, value, -1, SQLITE_TRANSIENT);
    return TRUE;
  case PREF_DELIVERY_MODE:
  case PREF_DELIVERY_STATUS: {
    int v;
    if (!mm_store_enum_parse(preference_names(pref), value, &v))
      break;
    sqlite3_bind_int(stmt, index, v);
    return TRUE;
  }
  }
  g_autofree char *prefix = g_strndup(value, 64);
  g_autofree char *shown = g_strescape(prefix, NULL);
  g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID,
              "Invalid value \"%s\" for the preference %s", shown, pref->name);
  return FALSE;
}

/* The preferences row id at @level for @email (and @list_id); NOT_FOUND
 * when there is no such address or membership. */
static gboolean
preference_row(MmStore *store, MmPrefLevel level, const char *email,
               const char *list_id, gint64 *id_out, GError **error)
{
  const char *sql = NULL;
  switch (level) {
  case MM_PREF_LEVEL_ADDRESS:
    sql = "SELECT preferences_id FROM address WHERE email = ?1";
    break;
  case MM_PREF_LEVEL_USER:
    sql = "SELECT u.preferences_id FROM address a"
          " JOIN \"user\" u ON u.id = a.user_id WHERE a.email = ?1";
    break;
  case MM_PREF_LEVEL_MEMBER:
    sql = "SELECT m.preferences_id FROM member m"
          " JOIN address a ON a.id = m.address_id"
          " WHERE a.email = ?1 AND m.list_id = ?2 AND m.role = 1";
    break;
  }
  if (sql == NULL) {
    g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID,
                "Invalid preference level %d", (int)level);
    return FALSE;
  }
  g_auto(MmStmt) stmt = mm_store_sql_prepare(store, sql, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text(stmt, 1, email, -1, SQLITE_STATIC);
  if (level == MM_PREF_LEVEL_MEMBER)
    sqlite3_bind_text(stmt, 2, list_id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    *id_out = sqlite3_column_int64(stmt, 0);
    return TRUE;
  }
  if (rc != SQLITE_DONE)
    return mm_store_sql_error(store, rc, "Cannot read preferences", error);
  if (level == MM_PREF_LEVEL_MEMBER) {
    if (!mm_store_list_check(store, list_id, error))
      return FALSE;
    g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND,
                "%s is not a member of %s", email, list_id);
  } else {
    g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND,
                level == MM_PREF_LEVEL_USER ? "No user owns the address %s"
                                            : "No address %s",
                email);
  }
  return FALSE;
}

gboolean
mm_store_preference_set(MmStore *store, MmPrefLevel level, const char *email,
                        const char *list_id, const char *name,
                        const char *value, GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  gsize index;
  const Preference *pref = preference_find(name, &index);
  if (pref == NULL) {
    g_autofree char *shown = g_strescape(name != NULL ? name : "", NULL);
    g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND,
                "Unknown preference \"%s\"", shown);
    return FALSE;
  }
  g_autofree char *folded = mm_store_email_fold(email, error);
  if (folded == NULL)
    return FALSE;
  g_autofree char *id = NULL;
  if (level == MM_PREF_LEVEL_MEMBER) {
    id = mm_store_list_id_from_spec(list_id, error);
    if (id == NULL)
      return FALSE;
  }

  /* Prepared once per call: seven statements, used rarely. */
  g_autoptr(sqlite3_stmt) update =
      mm_store_sql_prepare_once(store, pref->update_sql, error);
  if (update == NULL)
    return FALSE;
  if (!preference_bind(pref, update, 1, value, error))
    return FALSE;

  if (!mm_store_write_begin(store, error))
    return FALSE;
  gint64 row = 0;
  gboolean ok = preference_row(store, level, folded, id, &row, error);
  if (ok) {
    sqlite3_bind_int64(update, 2, row);
    g_autofree char *context =
        g_strdup_printf("Cannot change the preference %s of %s", pref->name,
                        folded);
    ok = mm_store_sql_run(store, update, context, error);
    sqlite3_reset(update);
  }
  return mm_store_write_end(store, ok, error);
}

char *
mm_store_preference_get(MmStore *store, const char *email,
                        const char *list_id, const char *name,
                        GError **error)
{
  g_return_val_if_fail(store != NULL, NULL);
  gsize index;
  const Preference *pref = preference_find(name, &index);
  if (pref == NULL) {
    g_autofree char *shown = g_strescape(name != NULL ? name : "", NULL);
    g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND,
                "Unknown preference \"%s\"", shown);
    return NULL;
  }
  g_autofree char *folded = mm_store_email_fold(email, error);
  if (folded == NULL)
    return NULL;
  g_autofree char *id = NULL;
  if (list_id != NULL) {
    id = mm_store_list_id_from_spec(list_id, error);
    if (id == NULL)
      return NULL;
  }

  /* All seven resolved in one row; with no list (?2 NULL) the member and
   * list joins match nothing and the address level comes first. */
  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store,
      "SELECT"
      " COALESCE(mp.acknowledge_posts, ap.acknowledge_posts,"
      "          up.acknowledge_posts, 0),"
      " COALESCE(mp.hide_address, ap.hide_address, up.hide_address, 1),"
      " COALESCE(mp.preferred_language, ap.preferred_language,"
      "          up.preferred_language, l.preferred_language, 'en'),"
      " COALESCE(mp.receive_list_copy, ap.receive_list_copy,"
      "          up.receive_list_copy, 1),"
      " COALESCE(mp.receive_own_postings, ap.receive_own_postings,"
      "          up.receive_own_postings, 1),"
      " COALESCE(mp.delivery_mode, ap.delivery_mode, up.delivery_mode, 1),"
      " COALESCE(mp.delivery_status, ap.delivery_status,"
      "          up.delivery_status, 1),"
      " m.id"
      " FROM address a"
      " JOIN preferences ap ON ap.id = a.preferences_id"
      " LEFT JOIN \"user\" u ON u.id = a.user_id"
      " LEFT JOIN preferences up ON up.id = u.preferences_id"
      " LEFT JOIN member m ON m.address_id = a.id AND m.list_id = ?2"
      "   AND m.role = 1"
      " LEFT JOIN preferences mp ON mp.id = m.preferences_id"
      " LEFT JOIN mailinglist l ON l.list_id = ?2"
      " WHERE a.email = ?1",
      error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text(stmt, 1, folded, -1, SQLITE_STATIC);
  if (id != NULL)
    sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE) {
    g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND,
                "No address %s", folded);
    return NULL;
  }
  if (rc != SQLITE_ROW) {
    mm_store_sql_error(store, rc, "Cannot read preferences", error);
    return NULL;
  }
  if (id != NULL && sqlite3_column_type(stmt, 7) == SQLITE_NULL) {
    g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND,
                "%s is not a member of %s", folded, id);
    return NULL;
  }

  int col = (int)index;
  switch (pref->type) {
  case PREF_BOOL:
    return g_strdup(mm_store_bool_text(sqlite3_column_int(stmt, col) != 0));
  case PREF_LANGUAGE:
    return g_strdup((const char *)sqlite3_column_text(stmt, col));
  case PREF_DELIVERY_MODE:
  case PREF_DELIVERY_STATUS: {
    int v = sqlite3_column_int(stmt, col);
    const char *text = mm_store_enum_name(preference_names(pref), v);
    return text != NULL ? g_strdup(text) : g_strdup_printf("%d", v);
  }
  }
  g_assert_not_reached();
}
