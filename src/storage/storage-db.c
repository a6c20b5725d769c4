/* The SQLite connection: opening, pragmas, the statement cache,
 * transactions and the mapping of SQLite failures to MM_STORE_ERROR.
 *
 * Owns the one sqlite3 handle of an MmStore.  It does not know any table
 * (storage-schema.c creates them; the other storage-*.c files query them).
 *
 * Invariants: foreign keys are on for every connection; a read-write
 * connection is in WAL mode at the current schema version before
 * mm_store_open() returns; every write runs inside BEGIN IMMEDIATE (or a
 * savepoint of one), so a writer takes the lock before reading what it is
 * about to change and never fails half-way with SQLITE_BUSY on upgrade.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "storage.h"
#include "storage-private.h"

#include <stdarg.h>

#include "base-error.h"

#include <string.h>

G_DEFINE_QUARK(mm-store-error-quark, mm_store_error)

static int
trace_statement(unsigned type, void *data, void *p, void *x)
{
  MmStore *store = data;
  if (type == SQLITE_TRACE_STMT)
    store->statements_run++;
  return 0;
}

static void
stmt_finalize(gpointer stmt)
{
  sqlite3_finalize(stmt);
}

gboolean
mm_store_sql_error(MmStore *store, int rc, const char *context,
                   GError **error)
{
  MmStoreError code;
  const char *why;

  switch (rc) {
  case SQLITE_CONSTRAINT_UNIQUE:
  case SQLITE_CONSTRAINT_PRIMARYKEY:
    code = MM_STORE_ERROR_EXISTS;
    why = "it exists already";
    break;
  case SQLITE_CONSTRAINT_FOREIGNKEY:
    code = MM_STORE_ERROR_NOT_FOUND;
    why = "something it refers to does not exist";
    break;
  default:
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      code = MM_STORE_ERROR_BUSY;
      why = "the database is locked by another process; try again later";
      break;
    case SQLITE_READONLY:
      code = MM_STORE_ERROR_FAILED;
      why = "the database is open read-only";
      break;
    default:
      code = MM_STORE_ERROR_FAILED;
      /* sqlite3_errstr() describes the code in general terms ("disk I/O
       * error", "database disk image is malformed"); sqlite3_errmsg()
       * could quote table and column names, which are not for people. */
      why = sqlite3_errstr(rc);
      break;
    }
    break;
  }
  g_set_error(error, MM_STORE_ERROR, code, "%s: %s", context, why);
  return FALSE;
}

sqlite3_stmt *
mm_store_sql_prepare(MmStore *store, const char *sql, GError **error)
{
  sqlite3_stmt *stmt = g_hash_table_lookup(store->stmts, sql);
  if (stmt != NULL) {
    /* Two users of one cached statement at once would be our bug. */
    g_assert(!sqlite3_stmt_busy(stmt));
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return stmt;
  }
  int rc = sqlite3_prepare_v3(store->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                              &stmt, NULL);
  if (rc != SQLITE_OK) {
    mm_store_sql_error(store, rc, "Cannot prepare a database query", error);
    return NULL;
  }
  g_hash_table_insert(store->stmts, (gpointer)sql, stmt);
  return stmt;
}

sqlite3_stmt *
mm_store_sql_prepare_once(MmStore *store, const char *sql, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    mm_store_sql_error(store, rc, "Cannot prepare a database query", error);
    return NULL;
  }
  return stmt;
}

gboolean
mm_store_sql_run(MmStore *store, sqlite3_stmt *stmt, const char *context,
                 GError **error)
{
  int rc;
  /* Bounded: a statement that returns rows here is our bug, but stepping
   * through them all is harmless. */
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
    ;
  if (rc != SQLITE_DONE)
    return mm_store_sql_error(store, rc, context, error);
  return TRUE;
}

static gboolean
run_bound_va(MmStore *store, const char *context, GError **error,
             const char *sql, const char *types, va_list args)
{
  g_auto(MmStmt) stmt = mm_store_sql_prepare(store, sql, error);
  if (stmt == NULL)
    return FALSE;
  for (int i = 0; types[i] != '\0'; i++) {
    switch (types[i]) {
    case 't': {
      const char *text = va_arg(args, const char *);
      if (text != NULL)
        sqlite3_bind_text(stmt, i + 1, text, -1, SQLITE_TRANSIENT);
      else
        sqlite3_bind_null(stmt, i + 1);
      break;
    }
    case 'i':
      sqlite3_bind_int(stmt, i + 1, va_arg(args, int));
      break;
    case 'I':
      sqlite3_bind_int64(stmt, i + 1, va_arg(args, gint64));
      break;
    default:
      g_assert_not_reached();
    }
  }
  return mm_store_sql_run(store, stmt, context, error);
}

gboolean
mm_store_sql_run_bound(MmStore *store, const char *context, GError **error,
                       const char *sql, const char *types, ...)
{
  va_list args;
  va_start(args, types);
  gboolean ok = run_bound_va(store, context, error, sql, types, args);
  va_end(args);
  return ok;
}

gboolean
mm_store_sql_write(MmStore *store, const char *context, GError **error,
                   const char *sql, const char *types, ...)
{
  if (!mm_store_write_begin(store, error))
    return FALSE;
  va_list args;
  va_start(args, types);
  gboolean ok = run_bound_va(store, context, error, sql, types, args);
  va_end(args);
  return mm_store_write_end(store, ok, error);
}

gboolean
mm_store_sql_exec(MmStore *store, const char *sql, const char *context,
                  GError **error)
{
  g_auto(MmStmt) stmt = mm_store_sql_prepare(store, sql, error);
  if (stmt == NULL)
    return FALSE;
  return mm_store_sql_run(store, stmt, context, error);
}

gboolean
mm_store_write_begin(MmStore *store, GError **error)
{
  if (store->flags & MM_STORE_READ_ONLY) {
    g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_FAILED,
                "The database %s was opened read-only; this process cannot "
                "change it",
                store->path);
    return FALSE;
  }
  if (store->in_transaction)
    return mm_store_sql_exec(store, "SAVEPOINT mm_write",
                             "Cannot start a change", error);
  return mm_store_sql_exec(store, "BEGIN IMMEDIATE",
                           "Cannot start a change", error);
}

gboolean
mm_store_write_end(MmStore *store, gboolean ok, GError **error)
{
  if (store->in_transaction) {
    if (ok)
      return mm_store_sql_exec(store, "RELEASE mm_write",
                               "Cannot finish a change", error);
    /* Undo this operation only; the caller's transaction goes on. */
    mm_store_sql_exec(store, "ROLLBACK TO mm_write", "rollback", NULL);
    mm_store_sql_exec(store, "RELEASE mm_write", "rollback", NULL);
    return FALSE;
  }
  if (ok) {
    if (mm_store_sql_exec(store, "COMMIT", "Cannot save the change", error))
      return TRUE;
  }
  /* A failed statement may already have ended the transaction (SQLite
   * rolls back by itself on SQLITE_FULL, SQLITE_IOERR, ...). */
  if (!sqlite3_get_autocommit(store->db))
    mm_store_sql_exec(store, "ROLLBACK", "rollback", NULL);
  return FALSE;
}

char *
mm_store_uuid_hex(void)
{
  g_autofree char *uuid = g_uuid_string_random();
  GString *hex = g_string_sized_new(32);
  for (const char *p = uuid; *p != '\0'; p++) {
    if (*p != '-')
      g_string_append_c(hex, *p);
  }
  return g_string_free(hex, FALSE);
}

gint64
mm_store_now(void)
{
  return g_get_real_time() / G_USEC_PER_SEC;
}

gboolean
mm_store_invalid_from(GError *base_error, GError **error)
{
  g_set_error_literal(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID,
                      base_error != NULL ? base_error->message : "Invalid");
  return FALSE;
}

gboolean
mm_store_text_check(const char *what, const char *text, gboolean single_line,
                    gsize max_len, GError **error)
{
  gsize len = strlen(text);
  if (len > max_len) {
    g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID,
                "The %s is too long (%" G_GSIZE_FORMAT " octets, at most %"
                G_GSIZE_FORMAT ")",
                what, len, max_len);
    return FALSE;
  }
  if (!g_utf8_validate(text, (gssize)len, NULL)) {
    g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID,
                "The %s is not valid UTF-8", what);
    return FALSE;
  }
  for (gsize i = 0; i < len; i++) {
    guchar c = (guchar)text[i];
    if (c >= 0x20 && c != 0x7f)
      continue;
    if (!single_line && (c == '\n' || c == '\t'))
      continue;
    /* A line break in a display name or subject prefix would let a value
     * add headers to every message the list sends. */
    g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID,
                "The %s must not contain %s", what,
                c == '\n' || c == '\r' ? "a line break"
                                       : "control characters");
    return FALSE;
  }
  return TRUE;
}

/* Runs a pragma whose single result must equal @expected (or any result,
 * when @expected is NULL).  Pragmas are not data: they are static text. */
static gboolean
pragma_check(MmStore *store, const char *sql, const char *expected,
             const char *what, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = mm_store_sql_prepare_once(store, sql, error);
  if (stmt == NULL)
    return FALSE;
  int rc = sqlite3_step(stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    g_autofree char *context =
        g_strdup_printf("Cannot open the database %s (%s)", store->path, what);
    return mm_store_sql_error(store, rc, context, error);
  }
  if (expected == NULL)
    return TRUE;
  const char *got =
      rc == SQLITE_ROW ? (const char *)sqlite3_column_text(stmt, 0) : NULL;
  if (got == NULL || g_ascii_strcasecmp(got, expected) != 0) {
    g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_FAILED,
                "Cannot open the database %s: %s is not available (got %s)",
                store->path, what, got != NULL ? got : "nothing");
    return FALSE;
  }
  return TRUE;
}

MmStore *
mm_store_open(const char *path, MmStoreFlags flags, GError **error)
{
  g_return_val_if_fail(path != NULL, NULL);
  g_return_val_if_fail(error == NULL || *error == NULL, NULL);

  g_autoptr(MmStore) store = g_new0(MmStore, 1);
  store->path = g_strdup(path);
  store->flags = flags;
  store->busy_timeout_msec = MM_STORE_BUSY_TIMEOUT_MSEC;
  store->stmts = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                       stmt_finalize);

  gboolean read_only = (flags & MM_STORE_READ_ONLY) != 0;
  int open_flags = read_only ? SQLITE_OPEN_READONLY
                             : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  /* One connection per process and no threads sharing it. */
  open_flags |= SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path, &store->db, open_flags, NULL);
  if (rc != SQLITE_OK) {
    g_autofree char *context =
        g_strdup_printf("Cannot open the database %s", path);
    mm_store_sql_error(store, rc, context, error);
    return NULL;
  }
  sqlite3_extended_result_codes(store->db, 1);
  sqlite3_busy_timeout(store->db, store->busy_timeout_msec);
  sqlite3_trace_v2(store->db, SQLITE_TRACE_STMT, trace_statement, store);

  /* Foreign keys are per connection and off by default; the cascades from
   * domain to lists to members depend on them.  "1" back proves this
   * SQLite was built with them. */
  if (!pragma_check(store, "PRAGMA foreign_keys = ON", NULL, "foreign keys",
                    error) ||
      !pragma_check(store, "PRAGMA foreign_keys", "1", "foreign key support",
                    error))
    return NULL;

  if (!read_only) {
    /* WAL lets the LMTP runner and REST read while a runner writes.  It is
     * a property of the file, so a read-only connection inherits it and
     * must not try to set it. */
    if (!pragma_check(store, "PRAGMA journal_mode = WAL", "wal",
                      "write-ahead logging", error))
      return NULL;
  }

  if (!mm_store_schema_migrate(store, error))
    return NULL;

  if (read_only &&
      !pragma_check(store, "PRAGMA query_only = ON", NULL, "query_only",
                    error))
    return NULL;
  return g_steal_pointer(&store);
}

void
mm_store_close(MmStore *store)
{
  if (store == NULL)
    return;
  if (store->db != NULL && store->in_transaction &&
      !sqlite3_get_autocommit(store->db))
    sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
  /* Statements first: sqlite3_close() refuses a handle that has any. */
  g_clear_pointer(&store->stmts, g_hash_table_unref);
  if (store->db != NULL) {
    int rc = sqlite3_close(store->db);
    /* Every statement is cached or auto-finalized; a leftover is our bug. */
    g_assert(rc == SQLITE_OK);
    store->db = NULL;
  }
  g_free(store->path);
  g_free(store);
}

int
mm_store_schema_version(MmStore *store)
{
  g_return_val_if_fail(store != NULL, 0);
  return store->schema_version;
}

gboolean
mm_store_begin(MmStore *store, GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  if (store->in_transaction) {
    g_set_error_literal(error, MM_STORE_ERROR, MM_STORE_ERROR_FAILED,
                        "A transaction is already open (they do not nest)");
    return FALSE;
  }
  if (!mm_store_write_begin(store, error))
    return FALSE;
  store->in_transaction = TRUE;
  return TRUE;
}

gboolean
mm_store_commit(MmStore *store, GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  if (!store->in_transaction) {
    g_set_error_literal(error, MM_STORE_ERROR, MM_STORE_ERROR_FAILED,
                        "No transaction is open");
    return FALSE;
  }
  store->in_transaction = FALSE;
  return mm_store_write_end(store, TRUE, error);
}

void
mm_store_rollback(MmStore *store)
{
  g_return_if_fail(store != NULL);
  if (!store->in_transaction)
    return;
  store->in_transaction = FALSE;
  mm_store_write_end(store, FALSE, NULL);
}

guint64
mm_store_statements_run(MmStore *store)
{
  return store->statements_run;
}

void
mm_store_set_busy_timeout(MmStore *store, int msec)
{
  store->busy_timeout_msec = msec;
  sqlite3_busy_timeout(store->db, msec);
}
