/* dmarc: From munging and message wrapping (mailman/handlers/dmarc.py).
 *
 * A list re-sends posts From addresses whose domain publishes a DMARC
 * policy of reject or quarantine; receivers would refuse them.  With
 * dmarc_mitigate_action munge_from the post's From becomes
 * "<name> via <list display name>" <posting address> and the original
 * From moves to Reply-To (lists that do not munge Reply-To) or Cc
 * (others); with wrap_message the post is wrapped whole as a
 * message/rfc822 part (after dmarc_wrapped_message_text when set) in a new
 * message that keeps only a few of the original headers.  Anonymous lists
 * need neither.
 *
 * When to act: metadata "dmarc" (set by the dmarc-mitigation rule when the
 * policy is reject or quarantine) or dmarc_mitigate_unconditionally.  When
 * the message never went through that rule (the chain did not record
 * "dmarc-mitigation" among its rule hits or misses), we look the policy up
 * ourselves through the resolver (src/dmarc/), so that the mitigation does
 * not depend on which chain ran.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "handlers-private.h"

#include <string.h>

#include "base-log.h"
#include "message.h"

/* Headers a wrapper keeps from the original (Mailman's KEEPERS, matched
 * as prefixes of the header name, any case). */
static const char *const keepers[] = {
    "archived-at", "date",    "in-reply-to", "list-",      "precedence",
    "references",  "subject", "to",          "x-mailman-",
};

static gboolean
rule_ran(json_t *meta)
{
  return mm_handlers_meta_array_has(meta, "rule_hits", "dmarc-mitigation") ||
         mm_handlers_meta_array_has(meta, "rule_misses", "dmarc-mitigation");
}

/* The From domain's policy says mitigate (only asked when no rule did). */
static gboolean
policy_says_mitigate(MmHandlerContext *ctx)
{
  g_autoptr(InternetAddressList) froms =
      mm_handlers_header_addresses(ctx->message, "From");
  for (int i = 0; i < internet_address_list_length(froms); i++) {
    g_autofree char *email =
        mm_handlers_address_email(internet_address_list_get_address(froms, i));
    const char *at = email != NULL ? strrchr(email, '@') : NULL;
    if (at == NULL)
      continue;
    if (mm_dmarc_policy_lookup(ctx->resolver, at + 1, NULL, NULL) !=
        MM_DMARC_NONE)
      return TRUE;
  }
  return FALSE;
}

/* The display name for the new From, before " via ...". */
static char *
original_name(MmHandlerContext *ctx, GMimeMessage *message, char **email_out)
{
  g_autoptr(InternetAddressList) all =
      mm_handlers_header_addresses(message, "From");
  InternetAddress *only = NULL;
  int with_at = 0;
  for (int i = 0; i < internet_address_list_length(all); i++) {
    InternetAddress *address = internet_address_list_get_address(all, i);
    if (!INTERNET_ADDRESS_IS_MAILBOX(address))
      continue;
    const char *addr =
        internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(address));
    if (addr != NULL && strchr(addr, '@') != NULL) {
      with_at++;
      only = address;
    }
  }
  g_autofree char *name = NULL;
  if (with_at == 1) {
    const char *n = internet_address_get_name(only);
    name = g_strdup(n != NULL ? n : "");
    *email_out = g_strdup(
        internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(only)));
  } else {
    /* No From, or several: Mailman takes the sender it recorded. */
    name = g_strdup("");
    const char *sender = mm_handlers_meta_string(ctx->meta, "original_sender");
    *email_out = g_strdup(sender != NULL ? sender : "");
  }
  if (*name == '\0') {
    /* A member's (or nonmember's) display name, else the address. */
    const MmMemberRole roles[] = {MM_ROLE_MEMBER, MM_ROLE_NONMEMBER};
    for (gsize r = 0; r < G_N_ELEMENTS(roles) && *name == '\0'; r++) {
      g_autoptr(MmMember) member = mm_store_member_get(
          ctx->store, ctx->list->list_id, *email_out, roles[r], NULL);
      if (member != NULL) {
        g_free(name);
        name = g_strdup(*member->display_name != '\0' ? member->display_name
                                                      : *email_out);
      }
    }
    if (*name == '\0') {
      g_free(name);
      name = g_strdup(*email_out);
    }
  }
  /* An address as the name would show the domain we must not claim. */
  g_autoptr(GRegex) domain = g_regex_new("@([^ .]+\\.)+[^ .]+$", 0, 0, NULL);
  return g_regex_replace_literal(domain, name, -1, 0, "---", 0, NULL);
}

typedef struct {
  char *name;
  char *value; /* UTF-8, for mm_handlers_header_append() */
} NewHeader;

static void
new_header_free(gpointer data)
{
  NewHeader *header = data;
  g_free(header->name);
  g_free(header->value);
  g_free(header);
}

static void
add_new(GPtrArray *out, const char *name, char *value)
{
  NewHeader *header = g_new(NewHeader, 1);
  header->name = g_strdup(name);
  header->value = value;
  g_ptr_array_add(out, header);
}

/* Mailman's munged_headers(): From, then Reply-To or Cc with the original
 * From added, then (wrapping) the other of the two as it was. */
static GPtrArray *
munged_headers(MmHandlerContext *ctx, GMimeMessage *original, gboolean wrap)
{
  GPtrArray *out = g_ptr_array_new_with_free_func(new_header_free);
  g_autofree char *email = NULL;
  g_autofree char *name = original_name(ctx, original, &email);
  g_autofree char *via =
      g_strdup_printf("%s via %s", name, ctx->list->display_name);
  add_new(out, "From",
          mm_handlers_address_format(
              via, mm_handlers_list_text(ctx, "posting_address")));

  gboolean no_munging = g_str_equal(
      mm_handlers_list_text(ctx, "reply_goes_to_list"), "no_munging");
  const char *add_to = no_munging ? "Reply-To" : "Cc";
  const char *other = no_munging ? "Cc" : "Reply-To";
  g_autoptr(InternetAddressList) existing =
      mm_handlers_header_addresses(original, add_to);
  GString *value = g_string_new(NULL);
  gboolean present = FALSE;
  for (int i = 0; i < internet_address_list_length(existing); i++) {
    InternetAddress *address = internet_address_list_get_address(existing, i);
    if (!INTERNET_ADDRESS_IS_MAILBOX(address))
      continue;
    const char *addr =
        internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(address));
    const char *n = internet_address_get_name(address);
    g_autofree char *formatted =
        mm_handlers_address_format(n != NULL ? n : "", addr);
    if (value->len > 0)
      g_string_append(value, ", ");
    g_string_append(value, formatted);
    present = present || g_strcmp0(addr, email) == 0;
  }
  if (!present && *email != '\0') {
    g_autoptr(InternetAddressList) froms =
        mm_handlers_header_addresses(original, "From");
    const char *from_name = NULL;
    for (int i = 0; i < internet_address_list_length(froms); i++) {
      InternetAddress *address = internet_address_list_get_address(froms, i);
      if (INTERNET_ADDRESS_IS_MAILBOX(address) &&
          g_strcmp0(internet_address_mailbox_get_addr(
                        INTERNET_ADDRESS_MAILBOX(address)),
                    email) == 0)
        from_name = internet_address_get_name(address);
    }
    g_autofree char *formatted =
        mm_handlers_address_format(from_name != NULL ? from_name : "", email);
    if (value->len > 0)
      g_string_append(value, ", ");
    g_string_append(value, formatted);
  }
  add_new(out, add_to, g_string_free(value, FALSE));
  if (wrap) {
    g_autofree char *other_value = mm_handlers_header_get(original, other);
    if (other_value != NULL)
      add_new(out, other, g_steal_pointer(&other_value));
  }
  return out;
}

static void
munge_from(MmHandlerContext *ctx)
{
  g_autoptr(GPtrArray) headers = munged_headers(ctx, ctx->message, FALSE);
  const char *charset = mm_handlers_list_charset(ctx);
  for (guint i = 0; i < headers->len; i++) {
    NewHeader *header = headers->pdata[i];
    mm_handlers_header_remove(ctx->message, header->name);
    mm_handlers_header_append(ctx->message, header->name, header->value,
                              charset);
  }
}

static gboolean
keep_in_wrapper(const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS(keepers); i++) {
    if (g_ascii_strncasecmp(name, keepers[i], strlen(keepers[i])) == 0)
      return TRUE;
  }
  return FALSE;
}

static gboolean
wrap_message(MmHandlerContext *ctx, GError **error)
{
  GMimeMessage *original = ctx->message;
  g_autoptr(GMimeMessage) wrapper = g_mime_message_new(FALSE);
  GMimeHeaderList *from =
      g_mime_object_get_header_list(GMIME_OBJECT(original));
  GMimeHeaderList *to = g_mime_object_get_header_list(GMIME_OBJECT(wrapper));

  /* Kept headers are copied raw: their encoding is already right. */
  for (int i = 0; i < g_mime_header_list_get_count(from); i++) {
    GMimeHeader *header = g_mime_header_list_get_header_at(from, i);
    const char *name = g_mime_header_get_name(header);
    if (!keep_in_wrapper(name))
      continue;
    g_mime_header_list_append(to, name, "", NULL);
    GMimeHeader *copy = g_mime_header_list_get_header_at(
        to, g_mime_header_list_get_count(to) - 1);
    g_mime_header_set_raw_value(copy, g_mime_header_get_raw_value(header));
  }
  mm_handlers_header_append_raw(wrapper, "MIME-Version", "1.0");
  g_autofree char *message_id = mm_message_id_new(ctx->list->mail_host, error);
  if (message_id == NULL)
    return FALSE;
  mm_handlers_header_append_raw(wrapper, "Message-ID", message_id);
  g_autoptr(GPtrArray) headers = munged_headers(ctx, original, TRUE);
  const char *charset = mm_handlers_list_charset(ctx);
  for (guint i = 0; i < headers->len; i++) {
    NewHeader *header = headers->pdata[i];
    mm_handlers_header_append(wrapper, header->name, header->value, charset);
  }

  GMimeMessagePart *inner =
      g_mime_message_part_new_with_message("rfc822", original);
  g_mime_object_set_disposition(GMIME_OBJECT(inner), "inline");
  const char *text = mm_handlers_list_text(ctx, "dmarc_wrapped_message_text");
  if (*text != '\0') {
    g_autofree char *wrapped = mm_handlers_text_wrap(text, 70);
    GMimePart *part = mm_handlers_text_part_new(wrapped, charset, "inline");
    GMimeMultipart *mixed = g_mime_multipart_new_with_subtype("mixed");
    g_mime_multipart_add(mixed, GMIME_OBJECT(part));
    g_mime_multipart_add(mixed, GMIME_OBJECT(inner));
    mm_handlers_message_set_body(wrapper, GMIME_OBJECT(mixed));
    g_object_unref(mixed);
    g_object_unref(part);
  } else {
    mm_handlers_message_set_body(wrapper, GMIME_OBJECT(inner));
  }
  g_object_unref(inner);
  g_object_unref(ctx->message);
  ctx->message = g_steal_pointer(&wrapper);
  return TRUE;
}

MmHandlerResult
mm_handlers_dmarc(MmHandlerContext *ctx, GError **error)
{
  const char *action = mm_handlers_list_text(ctx, "dmarc_mitigate_action");
  if (g_str_equal(action, "no_mitigation") ||
      mm_handlers_list_bool(ctx, "anonymous_list"))
    return MM_HANDLER_CONTINUE;
  gboolean munge = g_str_equal(action, "munge_from");
  gboolean wrap = g_str_equal(action, "wrap_message");

  gboolean mitigate =
      mm_handlers_meta_true(ctx->meta, "dmarc") ||
      mm_handlers_list_bool(ctx, "dmarc_mitigate_unconditionally");
  if (!mitigate && (munge || wrap) && !rule_ran(ctx->meta))
    mitigate = policy_says_mitigate(ctx);
  if (!mitigate)
    return MM_HANDLER_CONTINUE;

  if (munge) {
    munge_from(ctx);
  } else if (wrap) {
    if (!wrap_message(ctx, error))
      return MM_HANDLER_FAILED;
  } else {
    /* reject/discard with no reject-or-quarantine policy but
     * dmarc_mitigate_unconditionally: nothing a handler can do. */
    mm_log_error("error", "Invalid DMARC combination for list: %s",
                 ctx->list->fqdn_listname);
  }
  return MM_HANDLER_CONTINUE;
}
