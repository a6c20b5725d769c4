/* Recipient addresses -> lists, subaddresses, queues and queue metadata.
 *
 * Which list and which of its addresses a recipient names is decided by
 * src/mta/ (mm_mta_recipient_resolve_with(), Mailman 3's split_recipient()
 * and RCPT rule), the same code that answers Postfix's socketmap lookups,
 * so the MTA and this server agree on every address.  This file only
 * adapts that answer to the LMTP session's types and adds what is LMTP's
 * own: the queue each subaddress goes to and the metadata a queued copy
 * carries (Mailman's SUBADDRESS_QUEUES and the DATA handler).  The
 * database is reached through MmLmtpDirectory callbacks, handed on to the
 * resolver unchanged, so that this file is tested without one.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "lmtp-private.h"

#include "mta.h"

#include <string.h>

/* The LMTP enum mirrors the resolver's value for value, so converting is a
 * cast; these assertions keep it so. */
G_STATIC_ASSERT((int)MM_LMTP_SUB_NONE == (int)MM_MTA_SUB_NONE);
G_STATIC_ASSERT((int)MM_LMTP_SUB_BOUNCES == (int)MM_MTA_SUB_BOUNCES);
G_STATIC_ASSERT((int)MM_LMTP_SUB_CONFIRM == (int)MM_MTA_SUB_CONFIRM);
G_STATIC_ASSERT((int)MM_LMTP_SUB_JOIN == (int)MM_MTA_SUB_JOIN);
G_STATIC_ASSERT((int)MM_LMTP_SUB_LEAVE == (int)MM_MTA_SUB_LEAVE);
G_STATIC_ASSERT((int)MM_LMTP_SUB_OWNER == (int)MM_MTA_SUB_OWNER);
G_STATIC_ASSERT((int)MM_LMTP_SUB_REQUEST == (int)MM_MTA_SUB_REQUEST);

MmLmtpSubaddress
mm_lmtp_subaddress_parse(const char *word)
{
  return (MmLmtpSubaddress)mm_mta_subaddress_parse(word);
}

const char *
mm_lmtp_subaddress_name(MmLmtpSubaddress sub)
{
  return mm_mta_subaddress_name((MmMtaSubaddress)sub);
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

gboolean
mm_lmtp_address_split(const char *address, const char *verp_delimiter,
                      MmLmtpAddress *out, GError **error)
{
  MmMtaAddress parts;
  memset(out, 0, sizeof *out);
  if (!mm_mta_address_split(address, verp_delimiter, &parts, error))
    return FALSE;
  out->local = g_steal_pointer(&parts.local);
  out->listname = g_steal_pointer(&parts.listname);
  out->suffix = g_steal_pointer(&parts.suffix);
  out->domain = g_steal_pointer(&parts.domain);
  out->subaddress = (MmLmtpSubaddress)parts.subaddress;
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

MmLmtpRecipient *
mm_lmtp_recipient_resolve(const char *address, const char *verp_delimiter,
                          const char *listname_chars,
                          const MmLmtpDirectory *directory, GError **error)
{
  const MmMtaDirectory lookups = {
      .alias_host = directory->alias_host,
      .list_find = directory->list_find,
      .data = directory->data,
  };
  g_autoptr(MmMtaRecipient) found = mm_mta_recipient_resolve_with(
      address, verp_delimiter, listname_chars, &lookups, error);
  if (found == NULL)
    return NULL;

  MmLmtpRecipient *recipient = g_new0(MmLmtpRecipient, 1);
  recipient->address = g_ascii_strdown(address, -1);
  recipient->list_id = g_steal_pointer(&found->list_id);
  recipient->fqdn_listname = g_steal_pointer(&found->posting_address);
  recipient->subaddress = (MmLmtpSubaddress)found->subaddress;
  /* Mailman sets to_request for the "request" word only. */
  recipient->to_request = recipient->subaddress == MM_LMTP_SUB_REQUEST;
  return recipient;
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
