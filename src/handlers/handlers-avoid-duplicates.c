/* avoid-duplicates (mailman/handlers/avoid_duplicates.py).
 *
 * A recipient the poster named in To, Cc, Resent-To or Resent-Cc gets a
 * copy from the poster already.  Members who set receive_list_copy off are
 * dropped from the recipients (and from the Cc header); everybody else
 * named keeps their copy and is listed in metadata "add-dup-header" so
 * that personalised delivery can mark it "X-Mailman-Duplicate: yes".  The
 * list's own addresses do not count as named.  When anyone was named, the
 * Cc headers are rewritten as one "CC" header (RFC 5322 allows one), as
 * Mailman does, or removed when nobody is left in them.
 *
 * XXX: receive_list_copy is read per named recipient with
 * mm_store_preference_get() (the roster does not carry it yet); named
 * recipients are few, bounded by the size of the header block.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "handlers-private.h"

#include <string.h>

static gboolean
wants_list_copy(MmHandlerContext *ctx, const char *email)
{
  g_autofree char *value = mm_store_preference_get(
      ctx->store, email, ctx->list->list_id, "receive_list_copy", NULL);
  gboolean wants = TRUE;
  if (value != NULL && !mm_config_parse_bool(value, &wants))
    wants = TRUE;
  return wants;
}

MmHandlerResult
mm_handlers_avoid_duplicates(MmHandlerContext *ctx, GError **error)
{
  (void)error;
  json_t *recipients = json_object_get(ctx->meta, "recipients");
  if (!json_is_array(recipients) || json_array_size(recipients) == 0)
    return MM_HANDLER_CONTINUE;

  const char *list_settings[] = {"posting_address", "bounces_address",
                                 "owner_address", "request_address"};
  g_autoptr(GHashTable) list_addresses =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS(list_settings); i++)
    g_hash_table_add(
        list_addresses,
        g_ascii_strdown(mm_handlers_list_text(ctx, list_settings[i]), -1));

  /* Who was named, and the Cc entries by address, formatted (the last
   * display name of an address wins, as in Mailman's dict). */
  g_autoptr(GHashTable) named =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GHashTable) cc_names =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr(GPtrArray) cc_order = g_ptr_array_new_with_free_func(g_free);
  const char *headers[] = {"To", "Cc", "Resent-To", "Resent-Cc"};
  for (gsize h = 0; h < G_N_ELEMENTS(headers); h++) {
    g_autoptr(InternetAddressList) list =
        mm_handlers_header_addresses(ctx->message, headers[h]);
    for (int i = 0; i < internet_address_list_length(list); i++) {
      InternetAddress *address = internet_address_list_get_address(list, i);
      g_autofree char *email = mm_handlers_address_email(address);
      if (email == NULL || *email == '\0')
        continue;
      if (h == 1) {
        /* Keep the address as written for the rewritten header. */
        const char *name = internet_address_get_name(address);
        const char *written = internet_address_mailbox_get_addr(
            INTERNET_ADDRESS_MAILBOX(address));
        if (!g_hash_table_contains(cc_names, email))
          g_ptr_array_add(cc_order, g_strdup(email));
        g_hash_table_replace(
            cc_names, g_strdup(email),
            mm_handlers_address_format(name != NULL ? name : "", written));
      }
      if (!g_hash_table_contains(list_addresses, email))
        g_hash_table_add(named, g_strdup(email));
    }
  }
  if (g_hash_table_size(named) == 0)
    return MM_HANDLER_CONTINUE;

  json_t *kept = json_array();
  json_t *duplicates = json_object_get(ctx->meta, "add-dup-header");
  if (!json_is_array(duplicates)) {
    duplicates = json_array();
    json_object_set_new(ctx->meta, "add-dup-header", duplicates);
  }
  size_t index;
  json_t *item;
  json_array_foreach(recipients, index, item) {
    const char *email = json_string_value(item);
    if (email == NULL)
      continue;
    if (!g_hash_table_contains(named, email)) {
      json_array_append(kept, item);
      continue;
    }
    if (wants_list_copy(ctx, email)) {
      if (!mm_handlers_meta_array_has(ctx->meta, "add-dup-header", email))
        json_array_append_new(duplicates, json_string(email));
      json_array_append(kept, item);
    } else {
      g_hash_table_remove(cc_names, email);
    }
  }
  json_object_set_new(ctx->meta, "recipients", kept);

  mm_handlers_header_remove(ctx->message, "Cc");
  GString *cc = g_string_new(NULL);
  for (guint i = 0; i < cc_order->len; i++) {
    const char *email = cc_order->pdata[i];
    const char *formatted = g_hash_table_lookup(cc_names, email);
    if (formatted == NULL)
      continue;
    if (cc->len > 0)
      g_string_append(cc, ", ");
    g_string_append(cc, formatted);
  }
  if (cc->len > 0)
    mm_handlers_header_append(ctx->message, "CC", cc->str, NULL);
  g_string_free(cc, TRUE);
  return MM_HANDLER_CONTINUE;
}
