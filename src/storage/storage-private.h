/* Internals shared by the storage-*.c files and test-storage.c only.
 *
 * Nothing outside src/storage/ includes this header (it pulls in sqlite3.h,
 * which only this module may see).  It holds the connection struct, the
 * statement cache, the write-transaction helpers, the error mapping, the
 * settings table interface and two hooks for tests.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "storage.h"

#include <sqlite3.h>

/* The busy timeout of every connection: several runners share the file and
 * each write transaction is short, so five seconds of waiting means
 * something is wrong (a stuck process), not ordinary contention. */
#define MM_STORE_BUSY_TIMEOUT_MSEC 5000

struct MmStore {
  sqlite3 *db;
  char *path;
  MmStoreFlags flags;
  int schema_version;
  int busy_timeout_msec;
  /* mm_store_begin() is in effect: write helpers use a savepoint inside it
   * instead of a transaction of their own. */
  gboolean in_transaction;
  /* SQL text -> prepared statement (owned), for the statements run often.
   * Keys are the static SQL literals themselves. */
  GHashTable *stmts;
  /* Statements started on this connection (sqlite3_trace_v2), so tests can
   * prove that a roster read is one query. */
  guint64 statements_run;
};

/* A statement borrowed from the cache: g_auto(MmStmt) resets it when it goes
 * out of scope, which also ends the read snapshot it may hold (a statement
 * left un-reset pins the WAL and blocks checkpoints). */
typedef sqlite3_stmt *MmStmt;
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(MmStmt, sqlite3_reset, NULL)

/* XXX: belongs in base/mm-autocleanups.h by the style guide, but only this
 * module may include sqlite3.h, so it is declared here. */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(sqlite3_stmt, sqlite3_finalize)

/* ---- storage-db.c ------------------------------------------------------- */

/* Returns the cached statement for @sql (a static literal), reset and with
 * its bindings cleared; borrowed, hold it in g_auto(MmStmt).  NULL with
 * @error if it does not prepare (a bug in our SQL or a damaged file). */
sqlite3_stmt *mm_store_sql_prepare(MmStore *store, const char *sql,
                                   GError **error);

/* Prepares a statement that is run rarely and not worth caching.  Transfer
 * full (g_autoptr(sqlite3_stmt)). */
sqlite3_stmt *mm_store_sql_prepare_once(MmStore *store, const char *sql,
                                        GError **error);

/* Steps @stmt to completion (a statement returning no rows).  FALSE with
 * @error, mapped by mm_store_sql_error() with @context. */
gboolean mm_store_sql_run(MmStore *store, sqlite3_stmt *stmt,
                          const char *context, GError **error);

/* Binds the arguments after @types to cached statement @sql, one per
 * character: 't' a const char * (NULL binds SQL NULL), 'i' an int, 'I' a
 * gint64; then steps it to completion, as mm_store_sql_run() (@context
 * names the action in an error).  For the statements whose whole story is
 * "bind these and run"; anything that reads rows or inspects
 * sqlite3_changes() keeps its own prepare. */
gboolean mm_store_sql_run_bound(MmStore *store, const char *context,
                                GError **error, const char *sql,
                                const char *types, ...);

/* The same inside its own write (mm_store_write_begin/end): one statement
 * that is a whole transaction. */
gboolean mm_store_sql_write(MmStore *store, const char *context,
                            GError **error, const char *sql,
                            const char *types, ...);

/* Runs a parameterless static statement from the cache. */
gboolean mm_store_sql_exec(MmStore *store, const char *sql,
                           const char *context, GError **error);

/* Fills @error from SQLite result code @rc: BUSY/LOCKED -> BUSY,
 * UNIQUE/PRIMARY KEY -> EXISTS, FOREIGN KEY -> NOT_FOUND, anything else ->
 * FAILED.  The message is @context (a sentence naming the object), then
 * SQLite's generic description of the code, never the SQL or the
 * constraint text.  Always returns FALSE. */
gboolean mm_store_sql_error(MmStore *store, int rc, const char *context,
                            GError **error);

/* A write: BEGIN IMMEDIATE, or a savepoint inside mm_store_begin().  Fails
 * with FAILED on a read-only store and BUSY when the lock cannot be had. */
gboolean mm_store_write_begin(MmStore *store, GError **error);
/* Ends what mm_store_write_begin() started: commits (or releases the
 * savepoint) when @ok, rolls back otherwise.  Returns @ok && the commit
 * worked; on a failed commit fills @error (if @ok was TRUE). */
gboolean mm_store_write_end(MmStore *store, gboolean ok, GError **error);

/* A new 32-hex-digit UUID, the form Mailman stores in CHAR(32) columns. */
char *mm_store_uuid_hex(void);

/* Unix seconds now. */
gint64 mm_store_now(void);

/* Copies a base-layer error (MM_ERROR_INVALID) into an MM_STORE_ERROR_INVALID
 * one with the same message.  Always returns FALSE. */
gboolean mm_store_invalid_from(GError *base_error, GError **error);

/* Checks free text that reaches headers or the database (display names,
 * descriptions, setting strings): valid UTF-8, no control characters but
 * (when !@single_line) newline and tab, at most @max_len octets.  @what names
 * it in the error. */
gboolean mm_store_text_check(const char *what, const char *text,
                             gboolean single_line, gsize max_len,
                             GError **error);

/* ---- storage-schema.c --------------------------------------------------- */

typedef struct {
  int version;
  const char *description;
  const char *sql; /* several statements, run with sqlite3_exec */
} MmMigration;

/* The ordered forward migrations; migration i has version i + 1.  Never
 * edit one that has shipped: add the next instead. */
const MmMigration *mm_store_migrations(gsize *n_out);

/* The version this build writes: the number of migrations. */
int mm_store_schema_current(void);

/* Brings the database to the current version (read-write) or checks that
 * it is current (read-only).  SCHEMA error when it is newer than this build
 * (either mode), missing or older (read-only). */
gboolean mm_store_schema_migrate(MmStore *store, GError **error);

/* ---- storage-settings.c ------------------------------------------------- */

typedef enum {
  MM_SETTING_BOOL,
  MM_SETTING_INT,
  MM_SETTING_FLOAT,
  MM_SETTING_STRING,
  MM_SETTING_ENUM,
  MM_SETTING_INTERVAL,  /* integer seconds; text "7d", "1d12h" */
  MM_SETTING_TIMESTAMP, /* integer unix seconds; text ISO 8601 UTC */
} MmSettingType;

typedef enum {
  MM_SETTING_READ_ONLY = 1 << 0,  /* not changed by mm_store_list_set() */
  MM_SETTING_DERIVED = 1 << 1,    /* computed from the list's name, no column */
  MM_SETTING_SINGLE_LINE = 1 << 2,
  MM_SETTING_LANGUAGE = 1 << 3,   /* a language code like "en" or "pt_BR" */
  MM_SETTING_IDENTIFIER = 1 << 4, /* a chain or pipeline name */
  MM_SETTING_ADDRESS = 1 << 5,    /* "" or a valid email address */
} MmSettingFlags;

typedef struct {
  const char *name;
  int value;
} MmEnumName;

typedef struct {
  const char *name;         /* Mailman's attribute name = column name */
  MmSettingType type;
  const char *default_text; /* legacy-default style; NULL: none/computed */
  const MmEnumName *names;  /* MM_SETTING_ENUM only, NULL-terminated */
  guint flags;
  const char *update_sql;   /* "UPDATE mailinglist SET <name> = ?1 WHERE id = ?2" */
} MmSetting;

/* The settings table, in the order it is written in storage-settings.c. */
const MmSetting *mm_store_settings(gsize *n_out);
/* The entry for @name, or NULL. */
const MmSetting *mm_store_setting_find(const char *name);

/* Parses @text for @setting and binds it to parameter @index of @stmt.
 * INVALID with a reason a person can act on. */
gboolean mm_store_setting_bind(const MmSetting *setting, sqlite3_stmt *stmt,
                               int index, const char *text, GError **error);
/* The text form of column @col of @stmt for @setting (transfer full):
 * "True"/"False", enum names, "7d", ISO dates, "" for NULL. */
char *mm_store_setting_format(const MmSetting *setting, sqlite3_stmt *stmt,
                              int col);

/* Enum names shared with preferences. */
extern const MmEnumName mm_store_delivery_mode_names[];
extern const MmEnumName mm_store_delivery_status_names[];
extern const MmEnumName mm_store_action_names[];
extern const MmEnumName mm_store_role_names[];

/* The value for @name (case-insensitive) in @names; FALSE if unknown. */
gboolean mm_store_enum_parse(const MmEnumName *names, const char *name,
                             int *value_out);
/* The name of @value, or NULL. */
const char *mm_store_enum_name(const MmEnumName *names, int value);
/* "True" or "False", as Mailman's REST API shows booleans. */
const char *mm_store_bool_text(gboolean value);
/* A language code: a letter, then letters, digits, '_' or '-'; 2..16. */
gboolean mm_store_language_valid(const char *code);

/* ---- storage-lists.c ---------------------------------------------------- */

/* Turns a list spec, "name@host" or "name.host" in any case, into the
 * folded list-id without touching the database.  INVALID for anything that
 * could not be one. */
char *mm_store_list_id_from_spec(const char *spec, GError **error);

/* NOT_FOUND naming @list_id if there is no such list; TRUE if there is. */
gboolean mm_store_list_check(MmStore *store, const char *list_id,
                             GError **error);

/* ---- storage-addresses.c ----------------------------------------------- */

/* Inside a write: finds the address @email (folded) or creates it with
 * @original as written and a user owning it.  Returns its row id in
 * @address_id_out. */
gboolean mm_store_address_find_or_create(MmStore *store, const char *email,
                                         const char *original,
                                         const char *display_name,
                                         gint64 *address_id_out,
                                         GError **error);

/* Validates and folds @email for a query: INVALID otherwise. */
char *mm_store_email_fold(const char *email, GError **error);

/* ---- Hooks for tests ----------------------------------------------------- */

/* Statements started on @store's connection so far (triggers included). */
guint64 mm_store_statements_run(MmStore *store);
/* Changes the busy timeout (a test sets 0 to see BUSY without waiting). */
void mm_store_set_busy_timeout(MmStore *store, int msec);

/* ---- storage-listdata.c ------------------------------------------------ */

/* The row id of list @spec (a list spec, folded here) in @row_id_out, and
 * its folded list-id in @list_id_out (may be NULL; transfer full).
 * INVALID for a bad spec, NOT_FOUND for an unknown list. */
gboolean mm_store_list_row_id(MmStore *store, const char *spec,
                              gint64 *row_id_out, char **list_id_out,
                              GError **error);
