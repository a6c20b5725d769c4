/* Mailing lists (Mailman's mailinglist table): creation with the
 * legacy-default style, lookup by fqdn or list-id, settings by name.
 *
 * A list is identified by its list-id "name.host" (unique), which is what
 * members reference; "name@host" is turned into it by string work alone.
 * Settings go through the table in storage-settings.c, both the defaults
 * at creation and every later change, so a default is checked by the same
 * parser as a site's value.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "storage.h"
#include "storage-private.h"

#include "base-address.h"

#include <string.h>

/* Mailman's maximal list-name set: a lookup accepts any name a list could
 * have been created with, whatever listname_chars says today. */
#define LISTNAME_ANY_CHARS "[-_.+=!$*{}~0-9a-z]"
/* name (64) + '.' + domain (253) */
#define LIST_ID_MAX_LEN (64 + 1 + 253)

void
mm_list_free(MmList *list)
{
  if (list == NULL)
    return;
  g_free(list->list_name);
  g_free(list->mail_host);
  g_free(list->list_id);
  g_free(list->fqdn_listname);
  g_free(list->display_name);
  g_free(list->description);
  g_free(list->subject_prefix);
  g_free(list->preferred_language);
  g_clear_pointer(&list->settings, g_hash_table_unref);
  g_free(list);
}

const char *
mm_list_setting(const MmList *list, const char *name)
{
  g_return_val_if_fail(list != NULL, NULL);
  if (name == NULL)
    return NULL;
  return g_hash_table_lookup(list->settings, name);
}

char *
mm_store_list_id_from_spec(const char *spec, GError **error)
{
  if (spec == NULL || spec[0] == '\0') {
    g_set_error_literal(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID,
                        "No list name given");
    return NULL;
  }
  g_autoptr(GError) base_error = NULL;
  const char *at = strrchr(spec, '@');
  if (at != NULL) {
    g_autofree char *name = mm_address_fold_listname(
        spec, at - spec, LISTNAME_ANY_CHARS, &base_error);
    if (name == NULL) {
      mm_store_invalid_from(base_error, error);
      return NULL;
    }
    g_autofree char *host = mm_address_fold_domain(at + 1, -1, &base_error);
    if (host == NULL) {
      mm_store_invalid_from(base_error, error);
      return NULL;
    }
    return g_strconcat(name, ".", host, NULL);
  }

  /* A list-id cannot be split back into name and host with certainty
   * ("a.b.example.com" may be a.b@example.com or a@b.example.com), but it
   * is only valid if some split gives a valid name and a valid domain;
   * whichever split that is, the folded id is the same string. */
  gsize len = strlen(spec);
  if (len <= LIST_ID_MAX_LEN) {
    for (const char *dot = strchr(spec, '.'); dot != NULL;
         dot = strchr(dot + 1, '.')) {
      g_autofree char *name = mm_address_fold_listname(
          spec, dot - spec, LISTNAME_ANY_CHARS, NULL);
      g_autofree char *host = name != NULL
                                  ? mm_address_fold_domain(dot + 1, -1, NULL)
                                  : NULL;
      if (host != NULL)
        return g_strconcat(name, ".", host, NULL);
    }
  }
  /* Quote a bounded, escaped prefix: the spec may be hostile. */
  g_autofree char *prefix = g_strndup(spec, 64);
  g_autofree char *shown = g_strescape(prefix, NULL);
  g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID,
              "Invalid list \"%s\"%s: expected name@host or a list-id like "
              "name.host",
              shown, len > 64 ? "..." : "");
  return NULL;
}

static gboolean
list_not_found(const char *list_id, GError **error)
{
  g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND, "No list %s",
              list_id);
  return FALSE;
}

gboolean
mm_store_list_check(MmStore *store, const char *list_id, GError **error)
{
  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store, "SELECT 1 FROM mailinglist WHERE list_id = ?1", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text(stmt, 1, list_id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW)
    return TRUE;
  if (rc == SQLITE_DONE)
    return list_not_found(list_id, error);
  return mm_store_sql_error(store, rc, "Cannot read lists", error);
}

/* Fills the typed fields of @list from its settings. */
static void
list_sync_fields(MmList *list)
{
  GHashTable *s = list->settings;
#define DUP_SETTING(field)                                                    \
  g_free(list->field);                                                        \
  list->field = g_strdup(g_hash_table_lookup(s, #field))
  DUP_SETTING(list_name);
  DUP_SETTING(mail_host);
  DUP_SETTING(list_id);
  DUP_SETTING(fqdn_listname);
  DUP_SETTING(display_name);
  DUP_SETTING(description);
  DUP_SETTING(subject_prefix);
  DUP_SETTING(preferred_language);
#undef DUP_SETTING
  list->advertised =
      g_strcmp0(g_hash_table_lookup(s, "advertised"), "True") == 0;
}

static void
list_add_derived(MmList *list)
{
  const char *name = g_hash_table_lookup(list->settings, "list_name");
  const char *host = g_hash_table_lookup(list->settings, "mail_host");
  static const struct {
    const char *setting;
    const char *suffix;
  } addresses[] = {
      {"fqdn_listname", ""},       {"posting_address", ""},
      {"owner_address", "-owner"}, {"request_address", "-request"},
      {"bounces_address", "-bounces"}, {"join_address", "-join"},
      {"leave_address", "-leave"},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(addresses); i++)
    g_hash_table_insert(list->settings, g_strdup(addresses[i].setting),
                        g_strconcat(name, addresses[i].suffix, "@", host,
                                    NULL));
}

/* A list from a "SELECT * FROM mailinglist" row: columns are matched to
 * settings by name, so a column added by a later migration shows up as
 * soon as the table knows it. */
static MmList *
list_from_row(sqlite3_stmt *stmt)
{
  MmList *list = g_new0(MmList, 1);
  list->settings = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                         g_free);
  int n = sqlite3_column_count(stmt);
  for (int col = 0; col < n; col++) {
    const char *name = sqlite3_column_name(stmt, col);
    if (strcmp(name, "id") == 0)
      list->id = sqlite3_column_int64(stmt, col);
    else if (strcmp(name, "created_at") == 0)
      list->created_at = sqlite3_column_int64(stmt, col);
    else if (strcmp(name, "post_id") == 0)
      list->post_id = sqlite3_column_int64(stmt, col);
    const MmSetting *setting = mm_store_setting_find(name);
    if (setting == NULL)
      continue;
    g_hash_table_insert(list->settings, g_strdup(name),
                        mm_store_setting_format(setting, stmt, col));
  }
  list_add_derived(list);
  list_sync_fields(list);
  return list;
}

/* Reads list @list_id; NULL with NOT_FOUND if there is none. */
static MmList *
list_read(MmStore *store, const char *list_id, GError **error)
{
  /* SELECT * on purpose: list_from_row() maps columns by name. */
  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store, "SELECT * FROM mailinglist WHERE list_id = ?1", error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text(stmt, 1, list_id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW)
    return list_from_row(stmt);
  if (rc == SQLITE_DONE)
    list_not_found(list_id, error);
  else
    mm_store_sql_error(store, rc, "Cannot read lists", error);
  return NULL;
}

/* Writes @text into setting @setting of list row @id. */
static gboolean
list_write_setting(MmStore *store, gint64 id, const MmSetting *setting,
                   const char *text, GError **error)
{
  /* Not cached: a hundred statements, each used at creation and on the
   * rare change. */
  g_autoptr(sqlite3_stmt) stmt =
      mm_store_sql_prepare_once(store, setting->update_sql, error);
  if (stmt == NULL)
    return FALSE;
  if (!mm_store_setting_bind(setting, stmt, 1, text, error))
    return FALSE;
  sqlite3_bind_int64(stmt, 2, id);
  g_autofree char *context =
      g_strdup_printf("Cannot change %s", setting->name);
  if (!mm_store_sql_run(store, stmt, context, error))
    return FALSE;
  if (sqlite3_changes(store->db) == 0) {
    g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND,
                "Cannot change %s: the list no longer exists", setting->name);
    return FALSE;
  }
  return TRUE;
}

/* Inserts the list row and applies the style; inside a write. */
static gboolean
list_insert(MmStore *store, const char *name, const char *host,
            const char *list_id, GError **error)
{
  g_auto(MmStmt) domain = mm_store_sql_prepare(
      store, "SELECT 1 FROM domain WHERE mail_host = ?1", error);
  if (domain == NULL)
    return FALSE;
  sqlite3_bind_text(domain, 1, host, -1, SQLITE_STATIC);
  int rc = sqlite3_step(domain);
  if (rc == SQLITE_DONE) {
    g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND,
                "Cannot create list %s@%s: no domain %s", name, host, host);
    return FALSE;
  }
  if (rc != SQLITE_ROW)
    return mm_store_sql_error(store, rc, "Cannot read domains", error);

  g_autofree char *context =
      g_strdup_printf("Cannot create list %s@%s", name, host);
  gint64 id;
  {
    g_auto(MmStmt) insert = mm_store_sql_prepare(
        store,
        "INSERT INTO mailinglist (list_name, mail_host, list_id, created_at)"
        " VALUES (?1, ?2, ?3, ?4)",
        error);
    if (insert == NULL)
      return FALSE;
    sqlite3_bind_text(insert, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(insert, 2, host, -1, SQLITE_STATIC);
    sqlite3_bind_text(insert, 3, list_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(insert, 4, mm_store_now());
    rc = sqlite3_step(insert);
    if (rc == SQLITE_CONSTRAINT_UNIQUE) {
      /* The unique list_id also catches a.b@example.com against
       * a@b.example.com, which Mailman refuses the same way. */
      g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_EXISTS,
                  "%s: a list with list-id %s exists already", context,
                  list_id);
      return FALSE;
    }
    if (rc != SQLITE_DONE)
      return mm_store_sql_error(store, rc, context, error);
    id = sqlite3_last_insert_rowid(store->db);
  }

  /* Mailman's Identity style: "Test" for "test", and "[Test] ". */
  g_autofree char *display = g_strdup(name);
  display[0] = g_ascii_toupper(display[0]);
  g_autofree char *prefix = g_strdup_printf("[%s] ", display);

  gsize n;
  const MmSetting *settings = mm_store_settings(&n);
  for (gsize i = 0; i < n; i++) {
    const MmSetting *s = &settings[i];
    const char *value = s->default_text;
    if (strcmp(s->name, "display_name") == 0)
      value = display;
    else if (strcmp(s->name, "subject_prefix") == 0)
      value = prefix;
    if (value == NULL || (s->flags & MM_SETTING_READ_ONLY))
      continue;
    if (!list_write_setting(store, id, s, value, error))
      return FALSE;
  }
  return TRUE;
}

MmList *
mm_store_list_create(MmStore *store, const char *list_name,
                     const char *mail_host, const char *listname_chars,
                     GError **error)
{
  g_return_val_if_fail(store != NULL, NULL);
  g_autoptr(GError) base_error = NULL;
  g_autofree char *name =
      mm_address_fold_listname(list_name, -1, listname_chars, &base_error);
  if (name == NULL) {
    mm_store_invalid_from(base_error, error);
    return NULL;
  }
  g_autofree char *host = mm_address_fold_domain(mail_host, -1, &base_error);
  if (host == NULL) {
    mm_store_invalid_from(base_error, error);
    return NULL;
  }
  /* The posting address must itself be a valid address (Mailman validates
   * fqdn_listname first): this catches a name the local-part rules refuse,
   * such as one ending in '.'. */
  g_autofree char *fqdn = g_strconcat(name, "@", host, NULL);
  g_autofree char *checked =
      mm_address_fold_email(fqdn, -1, NULL, NULL, &base_error);
  if (checked == NULL) {
    mm_store_invalid_from(base_error, error);
    return NULL;
  }
  g_autofree char *list_id = g_strconcat(name, ".", host, NULL);

  if (!mm_store_write_begin(store, error))
    return NULL;
  gboolean ok = list_insert(store, name, host, list_id, error);
  if (!mm_store_write_end(store, ok, error))
    return NULL;
  return list_read(store, list_id, error);
}

MmList *
mm_store_list_get(MmStore *store, const char *spec, GError **error)
{
  g_return_val_if_fail(store != NULL, NULL);
  g_autofree char *list_id = mm_store_list_id_from_spec(spec, error);
  if (list_id == NULL)
    return NULL;
  return list_read(store, list_id, error);
}

GPtrArray *
mm_store_lists(MmStore *store, GError **error)
{
  g_return_val_if_fail(store != NULL, NULL);
  /* Sorted as the strings "name@host" sort, not by (name, host): "a-b@x"
   * comes before "a@x", as in Mailman's `mailman lists`. */
  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store,
      "SELECT * FROM mailinglist ORDER BY list_name || '@' || mail_host",
      error);
  if (stmt == NULL)
    return NULL;
  g_autoptr(GPtrArray) lists =
      g_ptr_array_new_with_free_func((GDestroyNotify)mm_list_free);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
    g_ptr_array_add(lists, list_from_row(stmt));
  if (rc != SQLITE_DONE) {
    mm_store_sql_error(store, rc, "Cannot read lists", error);
    return NULL;
  }
  return g_steal_pointer(&lists);
}

gboolean
mm_store_list_remove(MmStore *store, const char *list_spec, GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  g_autofree char *list_id = mm_store_list_id_from_spec(list_spec, error);
  if (list_id == NULL)
    return FALSE;
  if (!mm_store_write_begin(store, error))
    return FALSE;
  gboolean ok = FALSE;
  {
    /* Members go with the list (ON DELETE CASCADE), their preferences
     * with them (trigger); users and addresses stay, as in Mailman. */
    g_auto(MmStmt) stmt = mm_store_sql_prepare(
        store, "DELETE FROM mailinglist WHERE list_id = ?1", error);
    if (stmt != NULL) {
      sqlite3_bind_text(stmt, 1, list_id, -1, SQLITE_STATIC);
      g_autofree char *context =
          g_strdup_printf("Cannot remove list %s", list_id);
      ok = mm_store_sql_run(store, stmt, context, error);
      if (ok && sqlite3_changes(store->db) == 0)
        ok = list_not_found(list_id, error);
    }
  }
  return mm_store_write_end(store, ok, error);
}

gboolean
mm_store_list_set(MmStore *store, MmList *list, const char *name,
                  const char *value, GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  g_return_val_if_fail(list != NULL, FALSE);
  const MmSetting *setting = mm_store_setting_find(name);
  if (setting == NULL) {
    g_autofree char *shown = g_strescape(name != NULL ? name : "", NULL);
    g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND,
                "Unknown list setting \"%s\"", shown);
    return FALSE;
  }
  if (setting->flags & MM_SETTING_READ_ONLY) {
    g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID,
                "The list setting %s is read-only", setting->name);
    return FALSE;
  }
  if (!mm_store_write_begin(store, error))
    return FALSE;
  gboolean ok = list_write_setting(store, list->id, setting, value, error);
  if (!mm_store_write_end(store, ok, error))
    return FALSE;

  /* Re-read rather than re-format locally, so @list shows exactly what a
   * later mm_store_list_get() will ("yes" comes back as "True"). */
  g_autoptr(MmList) fresh = list_read(store, list->list_id, error);
  if (fresh == NULL)
    return FALSE;
  g_hash_table_replace(list->settings, g_strdup(setting->name),
                       g_strdup(g_hash_table_lookup(fresh->settings,
                                                    setting->name)));
  list_sync_fields(list);
  return TRUE;
}

gboolean
mm_store_list_note_post(MmStore *store, const char *list_id,
                        gint64 *post_id_out, GError **error)
{
  g_return_val_if_fail(store != NULL && list_id != NULL, FALSE);
  if (!mm_store_write_begin(store, error))
    return FALSE;

  gboolean ok = FALSE;
  {
    g_auto(MmStmt) stmt = mm_store_sql_prepare(
        store,
        "UPDATE mailinglist SET post_id = post_id + 1, last_post_at = ?2 "
        "WHERE list_id = ?1 RETURNING post_id - 1",
        error);
    if (stmt != NULL) {
      sqlite3_bind_text(stmt, 1, list_id, -1, SQLITE_STATIC);
      sqlite3_bind_int64(stmt, 2, g_get_real_time() / G_USEC_PER_SEC);
      int rc = sqlite3_step(stmt);
      if (rc == SQLITE_ROW) {
        if (post_id_out != NULL)
          *post_id_out = sqlite3_column_int64(stmt, 0);
        ok = sqlite3_step(stmt) == SQLITE_DONE;
        if (!ok)
          g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_FAILED,
                      "Cannot count a post to %s", list_id);
      } else if (rc == SQLITE_DONE) {
        g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND,
                    "No list %s", list_id);
      } else {
        mm_store_sql_run(store, stmt, "Cannot count a post", error);
      }
    }
  }
  if (!mm_store_write_end(store, ok, error))
    return FALSE;
  return ok;
}
