/* The rule registry and the helpers the rules share (list settings, MIME
 * part walking, bans).
 *
 * The registry is rules-list.h expanded into a table: looking a rule up is
 * a scan of twenty names, done a few times per post.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "rules-private.h"

#include <string.h>

/* Payloads larger than this are not looked into by the text rules (a
 * post over the queue's cap cannot exist anyway). */
#define PAYLOAD_MAX_LEN (16u * 1024u * 1024u)

static const MmRule *const registry[] = {
#define MM_RULE(ident) &mm_rule_##ident,
#include "rules-list.h"
#undef MM_RULE
};

const MmRule *
mm_rules_find(const char *name)
{
  if (name == NULL)
    return NULL;
  for (gsize i = 0; i < G_N_ELEMENTS(registry); i++)
    if (strcmp(registry[i]->name, name) == 0)
      return registry[i];
  return NULL;
}

const MmRule *const *
mm_rules_all(gsize *n_out)
{
  *n_out = G_N_ELEMENTS(registry);
  return registry;
}

json_t *
mm_rules_json_string(const char *text)
{
  g_autofree char *valid = g_utf8_make_valid(text != NULL ? text : "", -1);
  return json_string(valid);
}

const char *
mm_rules_list_setting(MmPost *post, const char *name)
{
  const char *value = mm_list_setting(post->list, name);
  return value != NULL ? value : "";
}

gboolean
mm_rules_list_flag(MmPost *post, const char *name)
{
  return strcmp(mm_rules_list_setting(post, name), "True") == 0;
}

gint64
mm_rules_list_int(MmPost *post, const char *name)
{
  gint64 value = 0;
  if (!g_ascii_string_to_signed(mm_rules_list_setting(post, name), 10, 0,
                                G_MAXINT64, &value, NULL))
    return 0;
  return value;
}

/* Depth-first over the MIME tree, into attached messages as Python's
 * walk() does. */
static GMimePart *
find_text_plain(GMimeObject *object, int depth)
{
  if (object == NULL || depth > 64)
    return NULL;
  if (GMIME_IS_MULTIPART(object)) {
    GMimeMultipart *multipart = GMIME_MULTIPART(object);
    int n = g_mime_multipart_get_count(multipart);
    for (int i = 0; i < n; i++) {
      GMimePart *part =
          find_text_plain(g_mime_multipart_get_part(multipart, i), depth + 1);
      if (part != NULL)
        return part;
    }
    return NULL;
  }
  if (GMIME_IS_MESSAGE_PART(object)) {
    GMimeMessage *inner =
        g_mime_message_part_get_message(GMIME_MESSAGE_PART(object));
    return inner != NULL
               ? find_text_plain(g_mime_message_get_mime_part(inner),
                                 depth + 1)
               : NULL;
  }
  if (GMIME_IS_PART(object)) {
    GMimeContentType *type = g_mime_object_get_content_type(object);
    if (type == NULL || g_mime_content_type_is_type(type, "text", "plain"))
      return GMIME_PART(object);
  }
  return NULL;
}

GMimePart *
mm_rules_first_text_plain(MmPost *post)
{
  GMimeMessage *message = mm_rules_post_mime(post);
  if (message == NULL)
    return NULL;
  return find_text_plain(g_mime_message_get_mime_part(message), 0);
}

/* Reads @stream to its end, at most PAYLOAD_MAX_LEN bytes. */
static GByteArray *
stream_read_all(GMimeStream *stream)
{
  GByteArray *bytes = g_byte_array_new();
  char buffer[8192];
  while (bytes->len < PAYLOAD_MAX_LEN) {
    gssize n = g_mime_stream_read(stream, buffer, sizeof buffer);
    if (n <= 0)
      break;
    g_byte_array_append(bytes, (const guint8 *)buffer, (guint)n);
  }
  return bytes;
}

char *
mm_rules_part_raw_payload(GMimePart *part)
{
  GMimeDataWrapper *content = g_mime_part_get_content(part);
  if (content == NULL)
    return g_strdup("");
  GMimeStream *stream = g_mime_data_wrapper_get_stream(content);
  if (stream == NULL)
    return g_strdup("");
  g_mime_stream_reset(stream);
  GByteArray *bytes = stream_read_all(stream);
  g_mime_stream_reset(stream);
  g_byte_array_append(bytes, (const guint8 *)"", 1);
  char *text = (char *)g_byte_array_free(bytes, FALSE);
  /* NULs would cut the text short anywhere else; the rules that read raw
   * payloads look at lines of words. */
  char *valid = g_utf8_make_valid(text, -1);
  g_free(text);
  return valid;
}

char *
mm_rules_part_text(GMimePart *part)
{
  GMimeDataWrapper *content = g_mime_part_get_content(part);
  if (content == NULL)
    return g_strdup("");
  g_autoptr(GMimeStream) decoded = g_mime_stream_mem_new();
  g_mime_data_wrapper_write_to_stream(content, decoded);
  g_mime_stream_reset(decoded);
  GByteArray *bytes = stream_read_all(decoded);
  gsize len = bytes->len;
  g_autofree char *data = (char *)g_byte_array_free(bytes, FALSE);
  /* An empty part: GLib hands back no buffer at all. */
  if (len == 0 || data == NULL)
    return g_strdup("");

  const char *charset =
      g_mime_object_get_content_type_parameter(GMIME_OBJECT(part), "charset");
  if (charset != NULL && g_ascii_strcasecmp(charset, "us-ascii") != 0 &&
      g_ascii_strcasecmp(charset, "utf-8") != 0) {
    const char *iconv_name = g_mime_charset_iconv_name(charset);
    char *converted = g_convert_with_fallback(data, (gssize)len, "UTF-8",
                                              iconv_name, "\xef\xbf\xbd",
                                              NULL, NULL, NULL);
    if (converted != NULL)
      return converted;
  }
  return g_utf8_make_valid(data, (gssize)len);
}

void
mm_rules_hit(MmPost *post, const char *sender, const char *reason)
{
  mm_rules_post_add_reason(post,
                           sender != NULL ? sender
                                          : mm_rules_post_sender(post),
                           reason);
}

gboolean
mm_rules_fail(GError **error, GError *cause, const char *what)
{
  g_set_error(error, MM_RULES_ERROR, MM_RULES_ERROR_FAILED, "%s: %s", what,
              cause != NULL ? cause->message : "unknown error");
  return FALSE;
}

gboolean
mm_rules_sender_banned(MmPost *post, const char *sender, gboolean *banned_out,
                       GError **error)
{
  g_autoptr(GError) local = NULL;
  if (!mm_store_ban_check(post->store, post->list->list_id, sender,
                          banned_out, &local))
    return mm_rules_fail(error, local, "Cannot read bans");
  return TRUE;
}

gboolean
mm_rules_any_sender_banned(MmPost *post, gboolean *banned_out,
                           const char **which_out, GError **error)
{
  GPtrArray *senders = mm_rules_post_senders(post);
  *banned_out = FALSE;
  for (guint i = 0; i < senders->len; i++) {
    if (!mm_rules_sender_banned(post, senders->pdata[i], banned_out, error))
      return FALSE;
    if (*banned_out) {
      if (which_out != NULL)
        *which_out = senders->pdata[i];
      return TRUE;
    }
  }
  return TRUE;
}

/* ---- Header matching (Mailman's HeaderMatchRule) ----------------------- */

static void
collect_header_values(GMimeObject *object, const char *header,
                      GPtrArray *values, int depth)
{
  if (object == NULL || depth > 64)
    return;
  GMimeHeaderList *headers = g_mime_object_get_header_list(object);
  int n = headers != NULL ? g_mime_header_list_get_count(headers) : 0;
  for (int i = 0; i < n; i++) {
    GMimeHeader *h = g_mime_header_list_get_header_at(headers, i);
    if (g_ascii_strcasecmp(g_mime_header_get_name(h), header) != 0)
      continue;
    /* The decoded value: RFC 2047 words become UTF-8. */
    const char *value = g_mime_header_get_value(h);
    g_ptr_array_add(values, g_strdup(value != NULL ? value : ""));
  }
  if (GMIME_IS_MESSAGE(object)) {
    collect_header_values(g_mime_message_get_mime_part(GMIME_MESSAGE(object)),
                          header, values, depth + 1);
  } else if (GMIME_IS_MULTIPART(object)) {
    GMimeMultipart *multipart = GMIME_MULTIPART(object);
    int count = g_mime_multipart_get_count(multipart);
    for (int i = 0; i < count; i++)
      collect_header_values(g_mime_multipart_get_part(multipart, i), header,
                            values, depth + 1);
  } else if (GMIME_IS_MESSAGE_PART(object)) {
    GMimeMessage *inner =
        g_mime_message_part_get_message(GMIME_MESSAGE_PART(object));
    collect_header_values(GMIME_OBJECT(inner), header, values, depth + 1);
  }
}

gboolean
mm_rules_header_match(MmPost *post, const char *header, const char *pattern)
{
  GMimeMessage *message = mm_rules_post_mime(post);
  if (message == NULL)
    return FALSE;
  g_autoptr(GPtrArray) values = g_ptr_array_new_with_free_func(g_free);
  collect_header_values(GMIME_OBJECT(message), header, values, 0);
  if (values->len == 0)
    return FALSE;
  g_autoptr(GError) regex_error = NULL;
  g_autoptr(GRegex) regex =
      g_regex_new(pattern, G_REGEX_CASELESS, 0, &regex_error);
  if (regex == NULL) {
    g_autofree char *shown = mm_log_escape(pattern, -1);
    mm_log_error("error", "Invalid regexp '%s' in header_matches for %s: %s",
                 shown, post->list->list_id, regex_error->message);
    return FALSE;
  }
  for (guint i = 0; i < values->len; i++) {
    const char *value = values->pdata[i];
    g_autofree char *valid = g_utf8_make_valid(value, -1);
    if (g_regex_match(regex, valid, 0, NULL)) {
      g_autofree char *reason = g_strdup_printf(
          "Header \"%s: %s\" matched a header rule", header, valid);
      mm_rules_hit(post, NULL, reason);
      return TRUE;
    }
  }
  return FALSE;
}

const char *
mm_rules_action_name(MmAction action)
{
  switch (action) {
  case MM_ACTION_HOLD:
    return "hold";
  case MM_ACTION_REJECT:
    return "reject";
  case MM_ACTION_DISCARD:
    return "discard";
  case MM_ACTION_ACCEPT:
    return "accept";
  case MM_ACTION_DEFER:
    return "defer";
  case MM_ACTION_UNSET:
    break;
  }
  return "";
}
