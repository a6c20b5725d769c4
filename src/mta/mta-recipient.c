/* Is this address one of our lists?  Mailman 3's LMTP rule
 * (mailman/runners/lmtp.py split_recipient() and the RCPT handler), the one
 * implementation of it in the tree: the LMTP server (src/lmtp/) asks it at
 * RCPT and the socketmap server at every Postfix lookup, so what Postfix
 * routes to us and what we then accept cannot drift apart.
 *
 * The rule itself is pure (mm_mta_address_split() and
 * mm_mta_recipient_resolve_with() see the database only through an
 * MmMtaDirectory); mm_mta_recipient_resolve() plugs in the store, asked at
 * each call so that the answer is never stale: one query for the domains
 * (few rows) and at most two list look-ups by name.
 *
 * Unlike Mailman, names are validated (base-address.h) before they reach a
 * lookup, and only printable ASCII is an address (no SMTPUTF8 is offered).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "mta.h"

#include "base-address.h"
#include "base-error.h"

#include <string.h>

/* Subaddress words as an address may spell them (lmtp.py SUBADDRESS_NAMES,
 * with Mailman's aliases subscribe/unsubscribe). */
static const struct {
  const char *word;
  MmMtaSubaddress sub;
} subaddress_words[] = {
    {"bounces", MM_MTA_SUB_BOUNCES},  {"confirm", MM_MTA_SUB_CONFIRM},
    {"join", MM_MTA_SUB_JOIN},        {"leave", MM_MTA_SUB_LEAVE},
    {"owner", MM_MTA_SUB_OWNER},      {"request", MM_MTA_SUB_REQUEST},
    {"subscribe", MM_MTA_SUB_JOIN},   {"unsubscribe", MM_MTA_SUB_LEAVE},
};

MmMtaSubaddress
mm_mta_subaddress_parse(const char *word)
{
  for (gsize i = 0; i < G_N_ELEMENTS(subaddress_words); i++)
    if (strcmp(word, subaddress_words[i].word) == 0)
      return subaddress_words[i].sub;
  return MM_MTA_SUB_NONE;
}

const char *
mm_mta_subaddress_name(MmMtaSubaddress sub)
{
  switch (sub) {
  case MM_MTA_SUB_NONE:
    return NULL;
  case MM_MTA_SUB_BOUNCES:
    return "bounces";
  case MM_MTA_SUB_CONFIRM:
    return "confirm";
  case MM_MTA_SUB_JOIN:
    return "join";
  case MM_MTA_SUB_LEAVE:
    return "leave";
  case MM_MTA_SUB_OWNER:
    return "owner";
  case MM_MTA_SUB_REQUEST:
    return "request";
  }
  g_assert_not_reached();
}

void
mm_mta_address_clear(MmMtaAddress *address)
{
  g_clear_pointer(&address->local, g_free);
  g_clear_pointer(&address->listname, g_free);
  g_clear_pointer(&address->suffix, g_free);
  g_clear_pointer(&address->domain, g_free);
  address->subaddress = MM_MTA_SUB_NONE;
}

static gboolean
invalid(GError **error, const char *why)
{
  g_set_error_literal(error, MM_ERROR, MM_ERROR_INVALID, why);
  return FALSE;
}

gboolean
mm_mta_address_split(const char *address, const char *verp_delimiter,
                     MmMtaAddress *out, GError **error)
{
  memset(out, 0, sizeof *out);
  for (const char *p = address; *p != '\0'; p++) {
    guchar c = (guchar)*p;
    /* No SMTPUTF8 is advertised, so a recipient is printable ASCII; a
     * blank can only come from a quoted local part, which no list has. */
    if (c <= 32 || c >= 127)
      return invalid(error, "unexpected character in address");
  }
  g_autofree char *folded = g_ascii_strdown(address, -1);
  char *at = strchr(folded, '@');
  if (at == NULL || at == folded || at[1] == '\0')
    return invalid(error, "address without local part or domain");
  *at = '\0';
  char *local = folded;
  const char *domain = at + 1;

  /* Mailman: localpart.split(verp_delimiter, 1)[0]. */
  if (verp_delimiter != NULL && verp_delimiter[0] != '\0') {
    char *cut = strstr(local, verp_delimiter);
    if (cut != NULL)
      *cut = '\0';
  }
  if (local[0] == '\0')
    return invalid(error, "empty local part");

  out->local = g_strdup(local);
  out->domain = g_strdup(domain);
  /* Mailman: listname, dash, subaddress = localpart.rpartition('-'). */
  const char *dash = strrchr(local, '-');
  MmMtaSubaddress sub = MM_MTA_SUB_NONE;
  if (dash != NULL && dash != local && dash[1] != '\0')
    sub = mm_mta_subaddress_parse(dash + 1);
  if (sub != MM_MTA_SUB_NONE) {
    out->listname = g_strndup(local, dash - local);
    out->suffix = g_strdup(dash + 1);
    out->subaddress = sub;
  } else {
    out->listname = g_strdup(local);
  }
  return TRUE;
}

void
mm_mta_recipient_free(MmMtaRecipient *recipient)
{
  if (recipient == NULL)
    return;
  g_free(recipient->list_id);
  g_free(recipient->posting_address);
  g_free(recipient);
}

gboolean
mm_mta_recipient_error_is_not_list(const GError *error)
{
  return g_error_matches(error, MM_ERROR, MM_ERROR_INVALID) ||
         g_error_matches(error, MM_ERROR, MM_ERROR_NOT_FOUND);
}

/* Looks up "@name@@domain" when @name is a valid list name.  Returns FALSE
 * with @error only when the lookup failed; *@list_id_out stays NULL for an
 * invalid name or a missing list. */
static gboolean
find_list(const MmMtaDirectory *directory, const char *name,
          const char *domain, const char *listname_chars, char **fqdn_out,
          char **list_id_out, GError **error)
{
  *list_id_out = NULL;
  g_autoptr(GError) name_error = NULL;
  g_autofree char *folded =
      mm_address_fold_listname(name, -1, listname_chars, &name_error);
  if (folded == NULL)
    return TRUE;
  g_autofree char *fqdn = g_strdup_printf("%s@%s", folded, domain);
  if (!directory->list_find(directory->data, fqdn, list_id_out, error))
    return FALSE;
  if (*list_id_out != NULL)
    *fqdn_out = g_steal_pointer(&fqdn);
  return TRUE;
}

MmMtaRecipient *
mm_mta_recipient_resolve_with(const char *address, const char *verp_delimiter,
                              const char *listname_chars,
                              const MmMtaDirectory *directory, GError **error)
{
  g_return_val_if_fail(address != NULL && directory != NULL, NULL);
  if (listname_chars == NULL)
    listname_chars = "[-_.0-9a-z]";

  g_auto(MmMtaAddress) parts = {0};
  if (!mm_mta_address_split(address, verp_delimiter, &parts, error))
    return NULL;
  g_autofree char *domain = mm_address_fold_domain(parts.domain, -1, error);
  if (domain == NULL)
    return NULL;
  /* Mailman checks the alias domains first: a domain can be another's
   * alias only if it is not itself a list domain, so the order does not
   * matter for sane data. */
  g_autofree char *host = NULL;
  if (!directory->alias_host(directory->data, domain, &host, error))
    return NULL;
  if (host != NULL) {
    g_free(domain);
    domain = g_steal_pointer(&host);
  }

  g_autofree char *list_id = NULL;
  g_autofree char *fqdn = NULL;
  MmMtaSubaddress sub = parts.subaddress;
  if (sub != MM_MTA_SUB_NONE) {
    /* A list named like "foo-owner" takes its own mail (Mailman does the
     * same check). */
    if (!find_list(directory, parts.local, domain, listname_chars, &fqdn,
                   &list_id, error))
      return NULL;
    if (list_id != NULL)
      sub = MM_MTA_SUB_NONE;
  }
  if (list_id == NULL) {
    if (!find_list(directory, parts.listname, domain, listname_chars, &fqdn,
                   &list_id, error))
      return NULL;
    if (list_id == NULL) {
      g_set_error_literal(error, MM_ERROR, MM_ERROR_NOT_FOUND,
                          "no such list");
      return NULL;
    }
  }
  MmMtaRecipient *recipient = g_new0(MmMtaRecipient, 1);
  recipient->list_id = g_steal_pointer(&list_id);
  recipient->posting_address = g_steal_pointer(&fqdn);
  recipient->subaddress = sub;
  return recipient;
}

/* ---- The store as a directory ------------------------------------------ */

static gboolean
store_alias_host(gpointer data, const char *domain, char **host_out,
                 GError **error)
{
  *host_out = NULL;
  g_autoptr(GPtrArray) domains = mm_store_domains(data, error);
  if (domains == NULL)
    return FALSE;
  for (guint i = 0; i < domains->len; i++) {
    const MmDomain *candidate = g_ptr_array_index(domains, i);
    if (candidate->alias_domain != NULL &&
        g_ascii_strcasecmp(candidate->alias_domain, domain) == 0) {
      *host_out = g_strdup(candidate->mail_host);
      break;
    }
  }
  return TRUE;
}

static gboolean
store_list_find(gpointer data, const char *fqdn, char **list_id_out,
                GError **error)
{
  *list_id_out = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autoptr(MmList) list = mm_store_list_get(data, fqdn, &local_error);
  if (list == NULL) {
    /* INVALID: the store refuses a name no list could have; the name was
     * validated with listname_chars already, so this is "no list" too. */
    if (g_error_matches(local_error, MM_STORE_ERROR,
                        MM_STORE_ERROR_NOT_FOUND) ||
        g_error_matches(local_error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID))
      return TRUE;
    g_propagate_error(error, g_steal_pointer(&local_error));
    return FALSE;
  }
  *list_id_out = g_strdup(list->list_id);
  return TRUE;
}

MmMtaRecipient *
mm_mta_recipient_resolve(MmStore *store, const char *address,
                         const char *verp_delimiter,
                         const char *listname_chars, GError **error)
{
  g_return_val_if_fail(store != NULL, NULL);
  const MmMtaDirectory directory = {
      .alias_host = store_alias_host,
      .list_find = store_list_find,
      .data = store,
  };
  return mm_mta_recipient_resolve_with(address, verp_delimiter,
                                       listname_chars, &directory, error);
}
