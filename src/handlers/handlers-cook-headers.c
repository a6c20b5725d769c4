/* cook-headers (mailman/handlers/cook_headers.py).
 *
 * Adds "X-Ack: no" for metadata noack, records the sender in metadata
 * original_sender (later handlers read it after From may have changed),
 * adds X-Mailman-Version and "Precedence: list" when absent, and
 * "X-BeenThere: <posting address>".  X-BeenThere is Mailman 2's loop
 * marker, which Mailman 3 no longer writes; we keep writing it so that
 * the loop rule and MUAs that look for it still find it.
 *
 * Then, unless the message is fast-tracked (the server wrote it), Reply-To
 * is rebuilt from, in order and without repeating an address: the list's
 * reply_to_address (reply_goes_to_list explicit_header and
 * explicit_header_only), the poster's own Reply-To addresses (unless
 * first_strip_reply_to), and the posting address (point_to_list).  With
 * personalize full, the posting address also goes into Cc (not for
 * point_to_list, explicit_header_only or anonymous lists), so that replies
 * to a personalised copy can reach the list.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "handlers-private.h"

typedef struct {
  GPtrArray *formatted; /* "Name <addr>" in order */
  GHashTable *seen;     /* lower-case addresses */
} AddressSet;

static void
address_set_init(AddressSet *set)
{
  set->formatted = g_ptr_array_new_with_free_func(g_free);
  set->seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
}

static void
address_set_clear(AddressSet *set)
{
  g_ptr_array_unref(set->formatted);
  g_hash_table_unref(set->seen);
}

static void
address_set_add(AddressSet *set, const char *name, const char *email)
{
  if (email == NULL || *email == '\0')
    return;
  char *lower = g_utf8_strdown(email, -1);
  if (g_hash_table_contains(set->seen, lower)) {
    g_free(lower);
    return;
  }
  g_hash_table_add(set->seen, lower);
  g_ptr_array_add(set->formatted,
                  mm_handlers_address_format(name != NULL ? name : "", email));
}

static void
address_set_add_header(AddressSet *set, GMimeMessage *message,
                       const char *header)
{
  g_autoptr(InternetAddressList) list =
      mm_handlers_header_addresses(message, header);
  for (int i = 0; i < internet_address_list_length(list); i++) {
    InternetAddress *address = internet_address_list_get_address(list, i);
    if (!INTERNET_ADDRESS_IS_MAILBOX(address))
      continue;
    address_set_add(
        set, internet_address_get_name(address),
        internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(address)));
  }
}

/* Replaces every @header with one holding @set, or none when empty. */
static void
address_set_write(AddressSet *set, GMimeMessage *message, const char *header,
                  const char *charset)
{
  mm_handlers_header_remove(message, header);
  if (set->formatted->len == 0)
    return;
  g_ptr_array_add(set->formatted, NULL);
  g_autofree char *value = g_strjoinv(", ", (char **)set->formatted->pdata);
  g_ptr_array_remove_index(set->formatted, set->formatted->len - 1);
  mm_handlers_header_append(message, header, value, charset);
}

MmHandlerResult
mm_handlers_cook_headers(MmHandlerContext *ctx, GError **error)
{
  (void)error;
  GMimeMessage *message = ctx->message;
  const char *posting = mm_handlers_list_text(ctx, "posting_address");
  const char *charset = mm_handlers_list_charset(ctx);

  if (mm_handlers_meta_true(ctx->meta, "noack")) {
    mm_handlers_header_remove(message, "X-Ack");
    mm_handlers_header_append_raw(message, "X-Ack", "no");
  }
  g_autofree char *sender = mm_handlers_message_sender(ctx->config, message);
  json_object_set_new(ctx->meta, "original_sender",
                      json_string(sender != NULL ? sender : ""));
  if (!mm_handlers_header_has(message, "X-Mailman-Version"))
    mm_handlers_header_append_raw(message, "X-Mailman-Version", MM_VERSION);
  if (!mm_handlers_header_has(message, "Precedence"))
    mm_handlers_header_append_raw(message, "Precedence", "list");
  mm_handlers_header_append(message, "X-BeenThere", posting, NULL);

  if (mm_handlers_meta_true(ctx->meta, "_fasttrack"))
    return MM_HANDLER_CONTINUE;

  const char *munging = mm_handlers_list_text(ctx, "reply_goes_to_list");
  gboolean explicit_header = g_str_equal(munging, "explicit_header");
  gboolean explicit_only = g_str_equal(munging, "explicit_header_only");
  gboolean point_to_list = g_str_equal(munging, "point_to_list");
  g_autofree char *description = mm_handlers_list_description_line(ctx);

  AddressSet reply_to;
  address_set_init(&reply_to);
  if (explicit_header || explicit_only) {
    InternetAddressList *explicit = internet_address_list_parse(
        NULL, mm_handlers_list_text(ctx, "reply_to_address"));
    if (explicit != NULL && internet_address_list_length(explicit) > 0) {
      InternetAddress *address =
          internet_address_list_get_address(explicit, 0);
      if (INTERNET_ADDRESS_IS_MAILBOX(address))
        address_set_add(&reply_to, internet_address_get_name(address),
                        internet_address_mailbox_get_addr(
                            INTERNET_ADDRESS_MAILBOX(address)));
    }
    g_clear_object(&explicit);
  }
  if (!mm_handlers_list_bool(ctx, "first_strip_reply_to"))
    address_set_add_header(&reply_to, message, "Reply-To");
  if (point_to_list)
    address_set_add(&reply_to, description, posting);
  address_set_write(&reply_to, message, "Reply-To", charset);
  address_set_clear(&reply_to);

  if (g_str_equal(mm_handlers_list_text(ctx, "personalize"), "full") &&
      !point_to_list && !mm_handlers_list_bool(ctx, "anonymous_list")) {
    AddressSet cc;
    address_set_init(&cc);
    address_set_add_header(&cc, message, "Cc");
    if (!explicit_only)
      address_set_add(&cc, description, posting);
    address_set_write(&cc, message, "Cc", charset);
    address_set_clear(&cc);
  }
  return MM_HANDLER_CONTINUE;
}
