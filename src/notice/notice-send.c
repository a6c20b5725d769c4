/* Notices: messages the server writes itself, queued in `virgin`.
 *
 * Mailman's UserNotification / OwnerNotification (mailman/email/
 * message.py): a fresh message with its own Message-ID and Date,
 * "Precedence: bulk", and the recipients in the queue metadata rather than
 * taken from the headers.  We also mark it "Auto-Submitted: auto-generated"
 * (RFC 3834), so that well-behaved responders never answer it and loops
 * between list servers cannot start.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "notice.h"

#define MM_WITH_GMIME
#include "mm-autocleanups.h"

#include <string.h>

#include "base-error.h"
#include "message.h"
#include "queue.h"

char *
mm_notice_render(const MmConfig *config, const MmList *list, const char *name,
                 const char *language, const char *const *extra,
                 GError **error)
{
  g_autofree char *text =
      mm_notice_template_load(config, list, name, language, error);
  if (text == NULL)
    return NULL;
  GHashTable *variables = mm_notice_template_variables(config, list);
  for (const char *const *kv = extra; kv != NULL && kv[0] != NULL; kv += 2)
    g_hash_table_replace(variables, g_strdup(kv[0]),
                         g_strdup(kv[1] != NULL ? kv[1] : ""));
  char *expanded = mm_notice_template_expand(text, variables);
  g_hash_table_unref(variables);
  return expanded;
}

/* Parses @text ("Name <a@b>", "a@b, c@d") into the message's @type list.
 * An unparsable value is an error: a notice with no valid From or To is a
 * bug in the caller, never something to send. */
static gboolean
set_addresses(GMimeMessage *message, GMimeAddressType type, const char *text,
              GError **error)
{
  g_autoptr(InternetAddressList) parsed =
      internet_address_list_parse(NULL, text);
  if (parsed == NULL || internet_address_list_length(parsed) == 0) {
    g_set_error(error, MM_ERROR, MM_ERROR_INVALID,
                "notice: not an address: \"%s\"", text);
    return FALSE;
  }
  internet_address_list_append(g_mime_message_get_addresses(message, type),
                               parsed);
  return TRUE;
}

static GMimeObject *
text_part(const char *text)
{
  GMimeTextPart *part = g_mime_text_part_new_with_subtype("plain");
  /* set_text picks us-ascii or utf-8; the encoding keeps lines 7-bit
   * clean where the MTA path may not be 8BITMIME. */
  g_mime_text_part_set_text(part, text);
  g_mime_part_set_content_encoding(
      GMIME_PART(part),
      g_mime_part_get_best_content_encoding(GMIME_PART(part),
                                            GMIME_ENCODING_CONSTRAINT_7BIT));
  return GMIME_OBJECT(part);
}

static GBytes *
message_bytes(GMimeMessage *message)
{
  GMimeFormatOptions *options = g_mime_format_options_new();
  g_mime_format_options_set_newline_format(options, GMIME_NEWLINE_FORMAT_UNIX);
  g_autoptr(GMimeStream) stream = g_mime_stream_mem_new();
  g_mime_object_write_to_stream(GMIME_OBJECT(message), options, stream);
  g_mime_format_options_free(options);
  GByteArray *array =
      g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(stream));
  return g_bytes_new(array->data, array->len);
}

/* Adds @raw as a message/rfc822 part of @mixed.  An original GMime cannot
 * parse is left out rather than failing the notice: the text says what
 * happened, which matters more. */
static void
attach(GMimeMultipart *mixed, GBytes *raw)
{
  gsize len = 0;
  const char *data = g_bytes_get_data(raw, &len);
  g_autoptr(GMimeStream) stream = g_mime_stream_mem_new_with_buffer(data, len);
  g_autoptr(GMimeParser) parser = g_mime_parser_new_with_stream(stream);
  g_autoptr(GMimeMessage) original =
      g_mime_parser_construct_message(parser, NULL);
  if (original == NULL)
    return;
  GMimeMessagePart *wrapped =
      g_mime_message_part_new_with_message("rfc822", original);
  g_mime_multipart_add(mixed, GMIME_OBJECT(wrapped));
  g_object_unref(wrapped);
}

GBytes *
mm_notice_message(const MmNotice *notice, GError **error)
{
  g_return_val_if_fail(notice->from != NULL && notice->subject != NULL &&
                           notice->text != NULL,
                       NULL);

  mm_message_gmime_init();
  g_autoptr(GMimeMessage) message = g_mime_message_new(TRUE);
  g_autofree char *joined =
      notice->to == NULL && notice->recipients != NULL
          ? g_strjoinv(", ", (char **)notice->recipients)
          : NULL;
  const char *to = notice->to != NULL ? notice->to : joined;
  if (!set_addresses(message, GMIME_ADDRESS_TYPE_FROM, notice->from, error) ||
      (to != NULL && !set_addresses(message, GMIME_ADDRESS_TYPE_TO, to, error)))
    return NULL;
  g_mime_message_set_subject(message, notice->subject, "utf-8");

  const char *host = notice->list != NULL ? notice->list->mail_host : NULL;
  g_autofree char *message_id = mm_message_id_new(host, error);
  if (message_id == NULL)
    return NULL;
  /* GMime wants it without the angle brackets. */
  g_autofree char *bare = g_strndup(message_id + 1, strlen(message_id) - 2);
  g_mime_message_set_message_id(message, bare);
  g_autoptr(GDateTime) now = g_date_time_new_now_local();
  g_mime_message_set_date(message, now);

  GMimeObject *object = GMIME_OBJECT(message);
  if (!notice->no_precedence)
    g_mime_object_append_header(object, "Precedence", "bulk", NULL);
  g_mime_object_append_header(object, "Auto-Submitted", "auto-generated",
                              NULL);
  for (const char *const *h = notice->extra_headers; h != NULL && h[0] != NULL;
       h += 2)
    g_mime_object_append_header(object, h[0], h[1] != NULL ? h[1] : "", NULL);
  if (notice->in_reply_to != NULL)
    g_mime_object_append_header(object, "In-Reply-To", notice->in_reply_to,
                                NULL);

  GMimeObject *body = text_part(notice->text);
  if (notice->attachment != NULL ||
      (notice->attachments != NULL && notice->attachments[0] != NULL)) {
    GMimeMultipart *mixed = g_mime_multipart_new_with_subtype("mixed");
    g_mime_multipart_add(mixed, body);
    g_object_unref(body);
    if (notice->attachment != NULL)
      attach(mixed, notice->attachment);
    for (GBytes *const *a = notice->attachments; a != NULL && *a != NULL; a++)
      attach(mixed, *a);
    body = GMIME_OBJECT(mixed);
  }
  g_mime_message_set_mime_part(message, body);
  g_object_unref(body);
  return message_bytes(message);
}

char *
mm_notice_send(const MmConfig *config, const MmNotice *notice, GError **error)
{
  g_return_val_if_fail(notice->recipients != NULL &&
                           notice->recipients[0] != NULL,
                       NULL);
  g_autoptr(GBytes) bytes = mm_notice_message(notice, error);
  if (bytes == NULL)
    return NULL;

  json_t *meta = json_object();
  json_t *recipients = json_array();
  for (const char *const *r = notice->recipients; *r != NULL; r++)
    json_array_append_new(recipients, json_string(*r));
  json_object_set_new(meta, "recipients", recipients);
  json_object_set_new(meta, "nodecorate", json_true());
  json_object_set_new(meta, "reduced_list_headers", json_true());
  if (notice->list != NULL)
    json_object_set_new(meta, "listid", json_string(notice->list->list_id));
  if (notice->extra_meta != NULL)
    json_object_update(meta, notice->extra_meta);

  char *id = mm_queue_enqueue_to(mm_config_path(config, "queue_dir"),
                                 "virgin", bytes, meta, error);
  json_decref(meta);
  return id;
}
