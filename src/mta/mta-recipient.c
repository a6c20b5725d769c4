/* Is this address one of our lists?  Mailman 3's LMTP rule
 * (mailman/runners/lmtp.py split_recipient and _handle_RCPT), asked of the
 * database at each call so that the answer is never stale.
 *
 * It costs one query for the domains (few rows) and at most two list
 * look-ups by primary name; the socketmap server calls it once per Postfix
 * query.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "mta.h"

#include <string.h>

/* Subaddress words as an address may spell them, with the canonical name
 * Mailman records (lmtp.py SUBADDRESS_NAMES). */
static const struct {
  const char *word;
  const char *canonical;
} subaddress_names[] = {
  {"bounces", "bounces"}, {"confirm", "confirm"},   {"join", "join"},
  {"leave", "leave"},     {"owner", "owner"},       {"request", "request"},
  {"subscribe", "join"},  {"unsubscribe", "leave"},
};

static const char *
canonical_subaddress(const char *word)
{
  for (gsize i = 0; i < G_N_ELEMENTS(subaddress_names); i++)
    if (g_str_equal(word, subaddress_names[i].word))
      return subaddress_names[i].canonical;
  return NULL;
}

void
mm_mta_recipient_free(MmMtaRecipient *recipient)
{
  if (recipient == NULL)
    return;
  g_free(recipient->list_id);
  g_free(recipient->posting_address);
  g_free(recipient->subaddress);
  g_free(recipient);
}

/* Looks up list @name@@domain.  Returns TRUE and fills @recipient_out when
 * it exists, FALSE with no error when it does not, FALSE with @error when
 * the database fails. */
static gboolean
find_list(MmStore *store, const char *name, const char *domain,
          MmMtaRecipient **recipient_out, GError **error)
{
  g_autofree char *fqdn = g_strdup_printf("%s@%s", name, domain);
  GError *local_error = NULL;
  g_autoptr(MmList) list = mm_store_list_get(store, fqdn, &local_error);

  if (list == NULL) {
    /* INVALID: the database refuses to look up a name that could never
     * be a list (bad characters): for us that is simply "no list". */
    if (g_error_matches(local_error, MM_STORE_ERROR,
                        MM_STORE_ERROR_NOT_FOUND) ||
        g_error_matches(local_error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID)) {
      g_error_free(local_error);
      return FALSE;
    }
    g_propagate_error(error, local_error);
    return FALSE;
  }
  MmMtaRecipient *recipient = g_new0(MmMtaRecipient, 1);
  recipient->list_id = g_strdup(list->list_id);
  recipient->posting_address = g_strdup(list->fqdn_listname);
  *recipient_out = recipient;
  return TRUE;
}

MmMtaRecipient *
mm_mta_recipient_resolve(MmStore *store, const char *address,
                         const char *verp_delimiter, GError **error)
{
  g_autofree char *lower = g_ascii_strdown(address, -1);
  char *at = strchr(lower, '@');

  if (verp_delimiter == NULL || verp_delimiter[0] == '\0')
    verp_delimiter = "+";
  if (at == NULL || at == lower || at[1] == '\0') {
    g_set_error(error, MM_MTA_ERROR, MM_MTA_ERROR_NOT_LIST,
                "not an address with a domain");
    return NULL;
  }
  *at = '\0';
  char *local = lower;
  const char *domain = at + 1;

  g_autoptr(GPtrArray) domains = mm_store_domains(store, error);
  if (domains == NULL)
    return NULL;
  for (guint i = 0; i < domains->len; i++) {
    const MmDomain *d = g_ptr_array_index(domains, i);
    if (d->alias_domain != NULL && g_str_equal(d->alias_domain, domain)) {
      domain = d->mail_host;
      break;
    }
  }

  char *cut = strstr(local, verp_delimiter);
  if (cut != NULL)
    *cut = '\0';

  /* Split at the last dash; a known word after it with a non-empty name
   * before it is a subaddress. */
  const char *sub = NULL;
  char *dash = strrchr(local, '-');
  if (dash != NULL && dash != local && dash[1] != '\0')
    sub = canonical_subaddress(dash + 1);

  MmMtaRecipient *recipient = NULL;
  GError *local_error = NULL;
  /* A list may itself be named "foo-owner": the whole local part wins. */
  if (local[0] != '\0' &&
      find_list(store, local, domain, &recipient, &local_error))
    return recipient;
  if (local_error != NULL) {
    g_propagate_error(error, local_error);
    return NULL;
  }
  if (sub != NULL) {
    *dash = '\0';
    if (find_list(store, local, domain, &recipient, &local_error)) {
      recipient->subaddress = g_strdup(sub);
      return recipient;
    }
    if (local_error != NULL) {
      g_propagate_error(error, local_error);
      return NULL;
    }
  }
  g_set_error(error, MM_MTA_ERROR, MM_MTA_ERROR_NOT_LIST,
              "no list has this address");
  return NULL;
}
