/* Domains (Mailman's domain table): the mail hosts lists may live under.
 *
 * Every mail_host is folded and validated (base-address.h) before it is
 * bound to a query.  Removing a domain removes its lists, and with them
 * their members, through the foreign-key cascade of the schema.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "storage.h"
#include "storage-private.h"

#include "base-address.h"

#define DESCRIPTION_MAX_LEN 1024

void
mm_domain_free(MmDomain *domain)
{
  if (domain == NULL)
    return;
  g_free(domain->mail_host);
  g_free(domain->description);
  g_free(domain->alias_domain);
  g_free(domain);
}

static char *
domain_fold(const char *mail_host, GError **error)
{
  g_autoptr(GError) base_error = NULL;
  char *folded = mm_address_fold_domain(mail_host, -1, &base_error);
  if (folded == NULL)
    mm_store_invalid_from(base_error, error);
  return folded;
}

static gboolean
domain_not_found(const char *mail_host, GError **error)
{
  g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND,
              "No domain %s", mail_host);
  return FALSE;
}

gboolean
mm_store_domain_add(MmStore *store, const char *mail_host,
                    const char *description, const char *alias_domain,
                    GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  g_autofree char *host = domain_fold(mail_host, error);
  if (host == NULL)
    return FALSE;
  if (description == NULL)
    description = "";
  if (!mm_store_text_check("domain description", description, TRUE,
                           DESCRIPTION_MAX_LEN, error))
    return FALSE;
  g_autofree char *alias = NULL;
  if (alias_domain != NULL && alias_domain[0] != '\0') {
    alias = domain_fold(alias_domain, error);
    if (alias == NULL)
      return FALSE;
  }

  g_autofree char *context = g_strdup_printf("Cannot add domain %s", host);
  return mm_store_sql_write(
      store, context, error,
      "INSERT INTO domain (mail_host, description, alias_domain)"
      " VALUES (?1, ?2, ?3)",
      "ttt", host, description, alias);
}

static MmDomain *
domain_from_row(sqlite3_stmt *stmt)
{
  MmDomain *domain = g_new0(MmDomain, 1);
  domain->mail_host = g_strdup((const char *)sqlite3_column_text(stmt, 0));
  const char *description = (const char *)sqlite3_column_text(stmt, 1);
  domain->description = g_strdup(description != NULL ? description : "");
  const char *alias = (const char *)sqlite3_column_text(stmt, 2);
  domain->alias_domain = alias != NULL ? g_strdup(alias) : NULL;
  return domain;
}

MmDomain *
mm_store_domain_get(MmStore *store, const char *mail_host, GError **error)
{
  g_return_val_if_fail(store != NULL, NULL);
  g_autofree char *host = domain_fold(mail_host, error);
  if (host == NULL)
    return NULL;
  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store,
      "SELECT mail_host, description, alias_domain FROM domain"
      " WHERE mail_host = ?1",
      error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text(stmt, 1, host, -1, SQLITE_STATIC);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW)
    return domain_from_row(stmt);
  if (rc == SQLITE_DONE)
    domain_not_found(host, error);
  else
    mm_store_sql_error(store, rc, "Cannot read domains", error);
  return NULL;
}

GPtrArray *
mm_store_domains(MmStore *store, GError **error)
{
  g_return_val_if_fail(store != NULL, NULL);
  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store,
      "SELECT mail_host, description, alias_domain FROM domain"
      " ORDER BY mail_host",
      error);
  if (stmt == NULL)
    return NULL;
  g_autoptr(GPtrArray) domains =
      g_ptr_array_new_with_free_func((GDestroyNotify)mm_domain_free);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
    g_ptr_array_add(domains, domain_from_row(stmt));
  if (rc != SQLITE_DONE) {
    mm_store_sql_error(store, rc, "Cannot read domains", error);
    return NULL;
  }
  return g_steal_pointer(&domains);
}

gboolean
mm_store_domain_remove(MmStore *store, const char *mail_host, GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  g_autofree char *host = domain_fold(mail_host, error);
  if (host == NULL)
    return FALSE;
  if (!mm_store_write_begin(store, error))
    return FALSE;
  g_autofree char *context = g_strdup_printf("Cannot remove domain %s", host);
  gboolean ok = mm_store_sql_run_bound(
      store, context, error, "DELETE FROM domain WHERE mail_host = ?1", "t",
      host);
  if (ok && sqlite3_changes(store->db) == 0)
    ok = domain_not_found(host, error);
  return mm_store_write_end(store, ok, error);
}

gboolean
mm_store_domain_set_alias(MmStore *store, const char *mail_host,
                          const char *alias_domain, GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  g_autofree char *host = domain_fold(mail_host, error);
  if (host == NULL)
    return FALSE;
  g_autofree char *alias = NULL;
  if (alias_domain != NULL && alias_domain[0] != '\0') {
    alias = domain_fold(alias_domain, error);
    if (alias == NULL)
      return FALSE;
  }
  if (!mm_store_write_begin(store, error))
    return FALSE;
  g_autofree char *context = g_strdup_printf("Cannot change domain %s", host);
  gboolean ok = mm_store_sql_run_bound(
      store, context, error,
      "UPDATE domain SET alias_domain = ?1 WHERE mail_host = ?2", "tt", alias,
      host);
  if (ok && sqlite3_changes(store->db) == 0)
    ok = domain_not_found(host, error);
  return mm_store_write_end(store, ok, error);
}
