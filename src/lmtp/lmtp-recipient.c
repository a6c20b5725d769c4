/* Recipient addresses -> lists, subaddresses, queues and queue metadata.
 *
 * Follows Mailman 3's mailman/runners/lmtp.py (split_recipient() and the
 * RCPT/DATA handlers): the address is lower-cased and split at the first
 * "@"; an alias domain becomes its domain's mail_host; the local part is
 * cut at the first [mta] verp_delimiter, so LIST-bounces+ANYTHING and
 * LIST-confirm+TOKEN reach their list; a suffix after the last "-" that is
 * a subaddress word selects the queue, unless "NAME-SUFFIX" is itself a
 * list.  Unlike Mailman, names are validated (base-address.h) before they
 * reach a lookup, and the storage is reached only through MmLmtpDirectory
 * callbacks so that this file has no database in its tests.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "lmtp-private.h"

#include "base-address.h"
#include "base-error.h"

#include <string.h>

static const struct {
  const char *word;
  MmLmtpSubaddress sub;
} subaddress_words[] = {
    {"bounces", MM_LMTP_SUB_BOUNCES},   {"confirm", MM_LMTP_SUB_CONFIRM},
    {"join", MM_LMTP_SUB_JOIN},         {"leave", MM_LMTP_SUB_LEAVE},
    {"owner", MM_LMTP_SUB_OWNER},       {"request", MM_LMTP_SUB_REQUEST},
    {"subscribe", MM_LMTP_SUB_JOIN},    {"unsubscribe", MM_LMTP_SUB_LEAVE},
};

MmLmtpSubaddress
mm_lmtp_subaddress_parse(const char *word)
{
  for (gsize i = 0; i < G_N_ELEMENTS(subaddress_words); i++)
    if (strcmp(word, subaddress_words[i].word) == 0)
      return subaddress_words[i].sub;
  return MM_LMTP_SUB_NONE;
}

const char *
mm_lmtp_subaddress_name(MmLmtpSubaddress sub)
{
  switch (sub) {
  case MM_LMTP_SUB_NONE:
    return NULL;
  case MM_LMTP_SUB_BOUNCES:
    return "bounces";
  case MM_LMTP_SUB_CONFIRM:
    return "confirm";
  case MM_LMTP_SUB_JOIN:
    return "join";
  case MM_LMTP_SUB_LEAVE:
    return "leave";
  case MM_LMTP_SUB_OWNER:
    return "owner";
  case MM_LMTP_SUB_REQUEST:
    return "request";
  }
  g_assert_not_reached();
}

/* Mailman's SUBADDRESS_QUEUES; the owner goes through "in" with to_owner
 * so that the owner pipeline handles it. */
const char *
mm_lmtp_subaddress_queue(MmLmtpSubaddress sub)
{
  switch (sub) {
  case MM_LMTP_SUB_NONE:
  case MM_LMTP_SUB_OWNER:
    return "in";
  case MM_LMTP_SUB_BOUNCES:
    return "bounces";
  case MM_LMTP_SUB_CONFIRM:
  case MM_LMTP_SUB_JOIN:
  case MM_LMTP_SUB_LEAVE:
  case MM_LMTP_SUB_REQUEST:
    return "command";
  }
  g_assert_not_reached();
}

void
mm_lmtp_address_clear(MmLmtpAddress *address)
{
  g_clear_pointer(&address->local, g_free);
  g_clear_pointer(&address->listname, g_free);
  g_clear_pointer(&address->suffix, g_free);
  g_clear_pointer(&address->domain, g_free);
  address->subaddress = MM_LMTP_SUB_NONE;
}

static gboolean
invalid(GError **error, const char *why)
{
  g_set_error_literal(error, MM_ERROR, MM_ERROR_INVALID, why);
  return FALSE;
}

gboolean
mm_lmtp_address_split(const char *address, const char *verp_delimiter,
                      MmLmtpAddress *out, GError **error)
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
  MmLmtpSubaddress sub = MM_LMTP_SUB_NONE;
  if (dash != NULL && dash != local && dash[1] != '\0')
    sub = mm_lmtp_subaddress_parse(dash + 1);
  if (sub != MM_LMTP_SUB_NONE) {
    out->listname = g_strndup(local, dash - local);
    out->suffix = g_strdup(dash + 1);
    out->subaddress = sub;
  } else {
    out->listname = g_strdup(local);
  }
  return TRUE;
}

void
mm_lmtp_recipient_free(MmLmtpRecipient *recipient)
{
  if (recipient == NULL)
    return;
  g_free(recipient->address);
  g_free(recipient->list_id);
  g_free(recipient->fqdn_listname);
  g_free(recipient);
}

/* Looks up "@name@@domain" when @name is a valid list name; *@list_id_out
 * stays NULL for an invalid name or a missing list. */
static gboolean
find_list(const MmLmtpDirectory *directory, const char *name,
          const char *domain, const char *listname_chars,
          char **fqdn_out, char **list_id_out, GError **error)
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

MmLmtpRecipient *
mm_lmtp_recipient_resolve(const char *address, const char *verp_delimiter,
                          const char *listname_chars,
                          const MmLmtpDirectory *directory, GError **error)
{
  MmLmtpAddress parts;
  if (!mm_lmtp_address_split(address, verp_delimiter, &parts, error))
    return NULL;

  g_autofree char *domain = mm_address_fold_domain(parts.domain, -1, error);
  if (domain == NULL) {
    mm_lmtp_address_clear(&parts);
    return NULL;
  }
  /* Mailman checks the alias domains first: a domain can be another's
   * alias only if it is not itself a list domain, so the order does not
   * matter for sane data. */
  g_autofree char *host = NULL;
  if (!directory->alias_host(directory->data, domain, &host, error)) {
    mm_lmtp_address_clear(&parts);
    return NULL;
  }
  if (host != NULL) {
    g_free(domain);
    domain = g_steal_pointer(&host);
  }

  g_autoptr(MmLmtpRecipient) recipient = g_new0(MmLmtpRecipient, 1);
  recipient->address = g_ascii_strdown(address, -1);
  char *list_id = NULL;
  char *fqdn = NULL;
  gboolean ok = TRUE;

  if (parts.subaddress != MM_LMTP_SUB_NONE) {
    /* A list named like "foo-owner" takes its own mail (Mailman does the
     * same check). */
    ok = find_list(directory, parts.local, domain, listname_chars, &fqdn,
                   &list_id, error);
    if (ok && list_id != NULL)
      parts.subaddress = MM_LMTP_SUB_NONE;
  }
  if (ok && list_id == NULL) {
    ok = find_list(directory, parts.listname, domain, listname_chars, &fqdn,
                   &list_id, error);
    if (ok && list_id == NULL)
      g_set_error(error, MM_ERROR, MM_ERROR_NOT_FOUND, "no such list");
  }
  MmLmtpSubaddress sub = parts.subaddress;
  mm_lmtp_address_clear(&parts);
  if (!ok || list_id == NULL) {
    g_free(list_id);
    g_free(fqdn);
    return NULL;
  }
  recipient->list_id = list_id;
  recipient->fqdn_listname = fqdn;
  recipient->subaddress = sub;
  recipient->to_request = sub == MM_LMTP_SUB_REQUEST;
  return g_steal_pointer(&recipient);
}

const char *
mm_lmtp_recipient_queue(const MmLmtpRecipient *recipient)
{
  return mm_lmtp_subaddress_queue(recipient->subaddress);
}

json_t *
mm_lmtp_recipient_meta(const MmLmtpRecipient *recipient, gint64 original_size,
                       const char *received_time, const char *site_owner)
{
  json_t *meta = json_object();
  json_object_set_new(meta, "listid", json_string(recipient->list_id));
  json_object_set_new(meta, "original_size", json_integer(original_size));
  json_object_set_new(meta, "received_time", json_string(received_time));
  if (recipient->subaddress == MM_LMTP_SUB_NONE) {
    json_object_set_new(meta, "to_list", json_true());
    return meta;
  }
  json_object_set_new(meta, "subaddress",
                      json_string(mm_lmtp_subaddress_name(recipient->subaddress)));
  if (recipient->to_request)
    json_object_set_new(meta, "to_request", json_true());
  if (recipient->subaddress == MM_LMTP_SUB_OWNER) {
    json_object_set_new(meta, "to_owner", json_true());
    json_object_set_new(meta, "envsender",
                        json_string(site_owner != NULL ? site_owner : ""));
  }
  return meta;
}
