/* The list data the rules read besides the settings table: the
 * list-valued settings (the four *_these_nonmembers lists and
 * acceptable_aliases), header_matches, bans and the moderator password.
 *
 * Mailman keeps *_these_nonmembers pickled in the mailinglist row and the
 * others in side tables (acceptablealias, headermatch, ban); here all are
 * tables (migration 2).  Values keep Mailman's normalisation: aliases and
 * header names lower-cased, nonmember entries as written, non-pattern bans
 * lower-cased.
 *
 * The moderator password is a sha512-crypt hash made and checked with
 * libxcrypt's crypt_rn(), the scheme Mailman's passlib configuration uses
 * by default, so a hash copied from a Mailman database verifies here and
 * the other way round.  crypt_rn rather than crypt_r: it returns NULL
 * instead of a magic failure string, and GCC 12's AddressSanitizer
 * intercepts crypt_r with the wrong symbol version for libxcrypt (the
 * call lands on address 0).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "storage.h"
#include "storage-private.h"

#include <crypt.h>
#include <string.h>
#include <sys/random.h>

#define ENTRY_MAX_LEN 1024
#define PASSWORD_MAX_LEN 1024
/* passlib's default rounds for sha512_crypt. */
#define SHA512_CRYPT_ROUNDS 656000

gboolean
mm_store_list_row_id(MmStore *store, const char *spec, gint64 *row_id_out,
                     char **list_id_out, GError **error)
{
  g_autofree char *id = mm_store_list_id_from_spec(spec, error);
  if (id == NULL)
    return FALSE;
  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store, "SELECT id FROM mailinglist WHERE list_id = ?1", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE) {
    g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND, "No list %s",
                id);
    return FALSE;
  }
  if (rc != SQLITE_ROW)
    return mm_store_sql_error(store, rc, "Cannot read lists", error);
  *row_id_out = sqlite3_column_int64(stmt, 0);
  if (list_id_out != NULL)
    *list_id_out = g_steal_pointer(&id);
  return TRUE;
}

/* ---- List-valued settings -------------------------------------------- */

/* Which table a list-valued setting lives in: the alias table, or the
 * nonmember table with Mailman's Action value. */
typedef struct {
  const char *name;
  int action; /* -1: acceptable_aliases */
} StringSetting;

static const StringSetting string_settings[] = {
    {"accept_these_nonmembers", MM_ACTION_ACCEPT},
    {"hold_these_nonmembers", MM_ACTION_HOLD},
    {"reject_these_nonmembers", MM_ACTION_REJECT},
    {"discard_these_nonmembers", MM_ACTION_DISCARD},
    {"acceptable_aliases", -1},
};

static const StringSetting *
string_setting_find(const char *name, GError **error)
{
  for (gsize i = 0; i < G_N_ELEMENTS(string_settings); i++)
    if (name != NULL && strcmp(string_settings[i].name, name) == 0)
      return &string_settings[i];
  g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND,
              "No list-valued setting %s", name != NULL ? name : "(null)");
  return NULL;
}

GPtrArray *
mm_store_list_strings(MmStore *store, const char *list_id, const char *name,
                      GError **error)
{
  g_return_val_if_fail(store != NULL, NULL);
  const StringSetting *setting = string_setting_find(name, error);
  if (setting == NULL)
    return NULL;
  gint64 row_id;
  if (!mm_store_list_row_id(store, list_id, &row_id, NULL, error))
    return NULL;

  g_auto(MmStmt) stmt = NULL;
  if (setting->action < 0) {
    stmt = mm_store_sql_prepare(store,
                                "SELECT alias FROM acceptablealias"
                                " WHERE mailing_list_id = ?1 ORDER BY id",
                                error);
  } else {
    stmt = mm_store_sql_prepare(
        store,
        "SELECT address FROM these_nonmembers"
        " WHERE mailing_list_id = ?1 AND action = ?2 ORDER BY id",
        error);
  }
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64(stmt, 1, row_id);
  if (setting->action >= 0)
    sqlite3_bind_int(stmt, 2, setting->action);
  g_autoptr(GPtrArray) values = g_ptr_array_new_with_free_func(g_free);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
    g_ptr_array_add(values,
                    g_strdup((const char *)sqlite3_column_text(stmt, 0)));
  if (rc != SQLITE_DONE) {
    mm_store_sql_error(store, rc, "Cannot read list settings", error);
    return NULL;
  }
  return g_steal_pointer(&values);
}

gboolean
mm_store_list_strings_add(MmStore *store, const char *list_id,
                          const char *name, const char *value, GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  const StringSetting *setting = string_setting_find(name, error);
  if (setting == NULL)
    return FALSE;
  if (value == NULL || value[0] == '\0') {
    g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID,
                "An entry of %s must not be empty", name);
    return FALSE;
  }
  if (!mm_store_text_check(name, value, TRUE, ENTRY_MAX_LEN, error))
    return FALSE;
  g_autofree char *stored = NULL;
  if (setting->action < 0) {
    /* Mailman's AcceptableAliasSet.add(). */
    if (value[0] != '^' && strchr(value, '@') == NULL) {
      g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID,
                  "An acceptable alias must be an address or start with ^: "
                  "%s",
                  value);
      return FALSE;
    }
    stored = g_utf8_strdown(value, -1);
  } else {
    stored = g_strdup(value);
  }

  if (!mm_store_write_begin(store, error))
    return FALSE;
  gint64 row_id;
  gboolean ok = mm_store_list_row_id(store, list_id, &row_id, NULL, error);
  if (ok) {
    g_auto(MmStmt) stmt = NULL;
    if (setting->action < 0)
      stmt = mm_store_sql_prepare(
          store,
          "INSERT INTO acceptablealias (mailing_list_id, alias)"
          " VALUES (?1, ?2)",
          error);
    else
      stmt = mm_store_sql_prepare(
          store,
          "INSERT INTO these_nonmembers (mailing_list_id, address, action)"
          " VALUES (?1, ?2, ?3)",
          error);
    ok = stmt != NULL;
    if (ok) {
      sqlite3_bind_int64(stmt, 1, row_id);
      sqlite3_bind_text(stmt, 2, stored, -1, SQLITE_STATIC);
      if (setting->action >= 0)
        sqlite3_bind_int(stmt, 3, setting->action);
      g_autofree char *context =
          g_strdup_printf("Cannot add %s to %s", stored, name);
      ok = mm_store_sql_run(store, stmt, context, error);
    }
  }
  return mm_store_write_end(store, ok, error);
}

gboolean
mm_store_list_strings_remove(MmStore *store, const char *list_id,
                             const char *name, const char *value,
                             GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  const StringSetting *setting = string_setting_find(name, error);
  if (setting == NULL)
    return FALSE;
  if (value == NULL)
    value = "";
  g_autofree char *stored =
      setting->action < 0 ? g_utf8_strdown(value, -1) : g_strdup(value);

  if (!mm_store_write_begin(store, error))
    return FALSE;
  gint64 row_id;
  gboolean ok = mm_store_list_row_id(store, list_id, &row_id, NULL, error);
  if (ok) {
    g_auto(MmStmt) stmt = NULL;
    if (setting->action < 0)
      stmt = mm_store_sql_prepare(store,
                                  "DELETE FROM acceptablealias"
                                  " WHERE mailing_list_id = ?1 AND alias = ?2",
                                  error);
    else
      stmt = mm_store_sql_prepare(
          store,
          "DELETE FROM these_nonmembers"
          " WHERE mailing_list_id = ?1 AND address = ?2 AND action = ?3",
          error);
    ok = stmt != NULL;
    if (ok) {
      sqlite3_bind_int64(stmt, 1, row_id);
      sqlite3_bind_text(stmt, 2, stored, -1, SQLITE_STATIC);
      if (setting->action >= 0)
        sqlite3_bind_int(stmt, 3, setting->action);
      ok = mm_store_sql_run(store, stmt, "Cannot change list settings", error);
      if (ok && sqlite3_changes(store->db) == 0) {
        g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND,
                    "%s is not in %s", stored, name);
        ok = FALSE;
      }
    }
  }
  return mm_store_write_end(store, ok, error);
}

/* ---- Header matches --------------------------------------------------- */

void
mm_header_match_free(MmHeaderMatch *match)
{
  if (match == NULL)
    return;
  g_free(match->header);
  g_free(match->pattern);
  g_free(match->chain);
  g_free(match->tag);
  g_free(match);
}

static char *
column_dup_or_null(sqlite3_stmt *stmt, int col)
{
  if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
    return NULL;
  return g_strdup((const char *)sqlite3_column_text(stmt, col));
}

GPtrArray *
mm_store_header_matches(MmStore *store, const char *list_id, GError **error)
{
  g_return_val_if_fail(store != NULL, NULL);
  gint64 row_id;
  if (!mm_store_list_row_id(store, list_id, &row_id, NULL, error))
    return NULL;
  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store,
      "SELECT position, header, pattern, chain, tag FROM headermatch"
      " WHERE mailing_list_id = ?1 ORDER BY position, id",
      error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64(stmt, 1, row_id);
  g_autoptr(GPtrArray) matches =
      g_ptr_array_new_with_free_func((GDestroyNotify)mm_header_match_free);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    MmHeaderMatch *match = g_new0(MmHeaderMatch, 1);
    match->position = sqlite3_column_int(stmt, 0);
    match->header = g_strdup((const char *)sqlite3_column_text(stmt, 1));
    match->pattern = g_strdup((const char *)sqlite3_column_text(stmt, 2));
    match->chain = column_dup_or_null(stmt, 3);
    match->tag = column_dup_or_null(stmt, 4);
    g_ptr_array_add(matches, match);
  }
  if (rc != SQLITE_DONE) {
    mm_store_sql_error(store, rc, "Cannot read header matches", error);
    return NULL;
  }
  return g_steal_pointer(&matches);
}

gboolean
mm_store_header_match_add(MmStore *store, const char *list_id,
                          const char *header, const char *pattern,
                          const char *chain, const char *tag, GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  if (header == NULL || header[0] == '\0' || pattern == NULL ||
      pattern[0] == '\0') {
    g_set_error_literal(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID,
                        "A header match needs a header and a pattern");
    return FALSE;
  }
  if (!mm_store_text_check("header name", header, TRUE, ENTRY_MAX_LEN,
                           error) ||
      !mm_store_text_check("pattern", pattern, TRUE, ENTRY_MAX_LEN, error) ||
      (chain != NULL &&
       !mm_store_text_check("chain name", chain, TRUE, 64, error)) ||
      (tag != NULL &&
       !mm_store_text_check("tag", tag, TRUE, ENTRY_MAX_LEN, error)))
    return FALSE;
  g_autofree char *lower = g_ascii_strdown(header, -1);

  if (!mm_store_write_begin(store, error))
    return FALSE;
  gint64 row_id;
  gboolean ok =
      mm_store_list_row_id(store, list_id, &row_id, NULL, error) &&
      mm_store_sql_run_bound(
          store, "Cannot add the header match", error,
          "INSERT INTO headermatch (mailing_list_id, position, header, pattern,"
          " chain, tag) VALUES (?1, (SELECT COALESCE(MAX(position) + 1, 0)"
          " FROM headermatch WHERE mailing_list_id = ?1), ?2, ?3, ?4, ?5)",
          "Itttt", row_id, lower, pattern, chain, tag);
  return mm_store_write_end(store, ok, error);
}

gboolean
mm_store_header_match_remove(MmStore *store, const char *list_id,
                             const char *header, const char *pattern,
                             GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  g_autofree char *lower = g_ascii_strdown(header != NULL ? header : "", -1);

  if (!mm_store_write_begin(store, error))
    return FALSE;
  gint64 row_id;
  gboolean ok =
      mm_store_list_row_id(store, list_id, &row_id, NULL, error) &&
      mm_store_sql_run_bound(
          store, "Cannot remove the header match", error,
          "DELETE FROM headermatch"
          " WHERE mailing_list_id = ?1 AND header = ?2 AND pattern = ?3",
          "Itt", row_id, lower, pattern != NULL ? pattern : "");
  if (ok && sqlite3_changes(store->db) == 0) {
    g_set_error_literal(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND,
                        "Pattern does not exist");
    ok = FALSE;
  }
  if (ok) {
    /* Mailman's _restore_position_sequence(): positions stay 0..n-1. */
    g_auto(MmStmt) renumber = mm_store_sql_prepare(
        store,
        "UPDATE headermatch SET position = (SELECT count(*) FROM headermatch h"
        " WHERE h.mailing_list_id = headermatch.mailing_list_id"
        " AND (h.position < headermatch.position OR"
        " (h.position = headermatch.position AND h.id < headermatch.id)))"
        " WHERE mailing_list_id = ?1",
        error);
    ok = renumber != NULL;
    if (ok) {
      sqlite3_bind_int64(renumber, 1, row_id);
      ok = mm_store_sql_run(store, renumber,
                            "Cannot renumber the header matches", error);
    }
  }
  return mm_store_write_end(store, ok, error);
}

/* ---- Bans ------------------------------------------------------------- */

/* The stored form of a ban entry: patterns as written, addresses
 * lower-cased (senders are compared lower-cased). */
static char *
ban_entry(const char *email, GError **error)
{
  if (email == NULL || email[0] == '\0') {
    g_set_error_literal(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID,
                        "No address to ban given");
    return NULL;
  }
  if (!mm_store_text_check("ban", email, TRUE, ENTRY_MAX_LEN, error))
    return NULL;
  return email[0] == '^' ? g_strdup(email) : g_utf8_strdown(email, -1);
}

/* The folded list-id of @list_id, or NULL for the global bans; FALSE with
 * @error for a spec no list has. */
static gboolean
ban_list(MmStore *store, const char *list_id, char **folded_out,
         GError **error)
{
  *folded_out = NULL;
  if (list_id == NULL)
    return TRUE;
  gint64 row_id;
  return mm_store_list_row_id(store, list_id, &row_id, folded_out, error);
}

gboolean
mm_store_ban_add(MmStore *store, const char *list_id, const char *email,
                 GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  g_autofree char *entry = ban_entry(email, error);
  if (entry == NULL)
    return FALSE;
  g_autofree char *folded = NULL;
  if (!ban_list(store, list_id, &folded, error))
    return FALSE;

  return mm_store_sql_write(
      store, "Cannot add the ban", error,
      "INSERT OR IGNORE INTO ban (email, list_id) VALUES (?1, ?2)", "tt", entry,
      folded);
}

gboolean
mm_store_ban_remove(MmStore *store, const char *list_id, const char *email,
                    GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  g_autofree char *entry = ban_entry(email, error);
  if (entry == NULL)
    return FALSE;
  g_autofree char *folded = NULL;
  if (!ban_list(store, list_id, &folded, error))
    return FALSE;

  return mm_store_sql_write(
      store, "Cannot lift the ban", error,
      "DELETE FROM ban WHERE email = ?1 AND COALESCE(list_id, '') = ?2", "tt",
      entry, folded != NULL ? folded : "");
}

GPtrArray *
mm_store_bans(MmStore *store, const char *list_id, GError **error)
{
  g_return_val_if_fail(store != NULL, NULL);
  g_autofree char *folded = NULL;
  if (!ban_list(store, list_id, &folded, error))
    return NULL;
  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store,
      "SELECT email FROM ban WHERE COALESCE(list_id, '') = ?1 ORDER BY email",
      error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text(stmt, 1, folded != NULL ? folded : "", -1,
                    SQLITE_STATIC);
  g_autoptr(GPtrArray) bans = g_ptr_array_new_with_free_func(g_free);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
    g_ptr_array_add(bans, g_strdup((const char *)sqlite3_column_text(stmt, 0)));
  if (rc != SQLITE_DONE) {
    mm_store_sql_error(store, rc, "Cannot read bans", error);
    return NULL;
  }
  return g_steal_pointer(&bans);
}

/* Python's re.match(pattern, email, re.IGNORECASE): anchored at the start
 * only.  A pattern that does not compile matches nothing. */
static gboolean
ban_pattern_matches(const char *pattern, const char *email)
{
  g_autoptr(GRegex) regex = g_regex_new(
      pattern, G_REGEX_CASELESS | G_REGEX_ANCHORED, 0, NULL);
  return regex != NULL && g_regex_match(regex, email, 0, NULL);
}

gboolean
mm_store_ban_check(MmStore *store, const char *list_id, const char *email,
                   gboolean *banned_out, GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  *banned_out = FALSE;
  g_autofree char *folded = NULL;
  if (list_id != NULL) {
    folded = mm_store_list_id_from_spec(list_id, error);
    if (folded == NULL)
      return FALSE;
  }
  /* One query for the four steps of IBanManager.is_banned: exact entries
   * (list then global) first, then the patterns (list then global), each
   * group in the order Mailman tries them. */
  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store,
      "SELECT email, substr(email, 1, 1) = '^' AS pattern FROM ban"
      " WHERE (list_id IS NULL OR list_id = ?1)"
      "  AND (email = ?2 OR substr(email, 1, 1) = '^')"
      " ORDER BY pattern, list_id IS NULL, id",
      error);
  if (stmt == NULL)
    return FALSE;
  if (folded != NULL)
    sqlite3_bind_text(stmt, 1, folded, -1, SQLITE_STATIC);
  sqlite3_bind_text(stmt, 2, email, -1, SQLITE_STATIC);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    const char *entry = (const char *)sqlite3_column_text(stmt, 0);
    if (sqlite3_column_int(stmt, 1) == 0 || ban_pattern_matches(entry, email)) {
      *banned_out = TRUE;
      return TRUE;
    }
  }
  if (rc != SQLITE_DONE)
    return mm_store_sql_error(store, rc, "Cannot read bans", error);
  return TRUE;
}

/* ---- The moderator password ------------------------------------------ */

static gboolean
password_check(const char *password, GError **error)
{
  if (password[0] == '\0' || strlen(password) > PASSWORD_MAX_LEN ||
      strpbrk(password, "\r\n") != NULL) {
    g_set_error_literal(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID,
                        "A moderator password must be one line of 1 to 1024 "
                        "octets");
    return FALSE;
  }
  return TRUE;
}

/* A sha512-crypt hash of @password with a fresh 16-character salt. */
static char *
password_hash(const char *password, GError **error)
{
  static const char salt_chars[] =
      "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  guint8 random[16];
  if (getrandom(random, sizeof random, 0) != (ssize_t)sizeof random) {
    g_set_error_literal(error, MM_STORE_ERROR, MM_STORE_ERROR_FAILED,
                        "Cannot read random bytes for a password salt");
    return NULL;
  }
  char salt[17];
  for (gsize i = 0; i < 16; i++)
    salt[i] = salt_chars[random[i] % 64];
  salt[16] = '\0';
  g_autofree char *setting =
      g_strdup_printf("$6$rounds=%d$%s$", SHA512_CRYPT_ROUNDS, salt);
  g_autofree struct crypt_data *data = g_new0(struct crypt_data, 1);
  const char *hash = crypt_rn(password, setting, data, sizeof *data);
  if (hash == NULL || hash[0] != '$') {
    g_set_error_literal(error, MM_STORE_ERROR, MM_STORE_ERROR_FAILED,
                        "This system's crypt(3) cannot make sha512-crypt "
                        "hashes");
    return NULL;
  }
  return g_strdup(hash);
}

gboolean
mm_store_list_set_moderator_password(MmStore *store, const char *list_id,
                                     const char *password, GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  g_autofree char *hash = NULL;
  if (password != NULL) {
    if (!password_check(password, error))
      return FALSE;
    hash = password_hash(password, error);
    if (hash == NULL)
      return FALSE;
  }
  if (!mm_store_write_begin(store, error))
    return FALSE;
  gint64 row_id;
  gboolean ok =
      mm_store_list_row_id(store, list_id, &row_id, NULL, error) &&
      mm_store_sql_run_bound(
          store, "Cannot set the moderator password", error,
          "UPDATE mailinglist SET moderator_password = ?1 WHERE id = ?2", "tI",
          hash, row_id);
  return mm_store_write_end(store, ok, error);
}

/* The stored hash (transfer full), NULL when unset; FALSE on error. */
static gboolean
password_read(MmStore *store, const char *list_id, char **hash_out,
              GError **error)
{
  *hash_out = NULL;
  gint64 row_id;
  if (!mm_store_list_row_id(store, list_id, &row_id, NULL, error))
    return FALSE;
  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store, "SELECT moderator_password FROM mailinglist WHERE id = ?1",
      error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64(stmt, 1, row_id);
  int rc = sqlite3_step(stmt);
  if (rc != SQLITE_ROW)
    return mm_store_sql_error(store, rc, "Cannot read the list", error);
  *hash_out = column_dup_or_null(stmt, 0);
  return TRUE;
}

gboolean
mm_store_list_has_moderator_password(MmStore *store, const char *list_id)
{
  g_autofree char *hash = NULL;
  return password_read(store, list_id, &hash, NULL) && hash != NULL &&
         hash[0] != '\0';
}

gboolean
mm_store_list_verify_moderator_password(MmStore *store, const char *list_id,
                                        const char *password,
                                        gboolean *valid_out, GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  *valid_out = FALSE;
  g_autofree char *hash = NULL;
  if (!password_read(store, list_id, &hash, error))
    return FALSE;
  if (hash == NULL || password == NULL || strlen(password) > PASSWORD_MAX_LEN)
    return TRUE;
  /* Only the crypt schemes of Mailman's passlib configuration. */
  if (!g_str_has_prefix(hash, "$6$") && !g_str_has_prefix(hash, "$5$"))
    return TRUE;
  g_autofree struct crypt_data *data = g_new0(struct crypt_data, 1);
  const char *computed = crypt_rn(password, hash, data, sizeof *data);
  if (computed == NULL)
    return TRUE;
  gsize len = strlen(hash);
  if (strlen(computed) != len)
    return TRUE;
  /* Compare in constant time: the hash is secret-derived. */
  guint8 diff = 0;
  for (gsize i = 0; i < len; i++)
    diff |= (guint8)(computed[i] ^ hash[i]);
  *valid_out = diff == 0;
  return TRUE;
}
