/* GMime glue for the handlers: parse and serialise, read and edit
 * headers, read and replace the text of parts.
 *
 * Every header this module writes goes through GMime's formatters, which
 * RFC 2047-encode non-ASCII text and fold long lines; headers nobody edits
 * keep their raw bytes.  The one exception is mm_handlers_header_*_raw(),
 * for values whose encoding we build ourselves (ASCII only, checked).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "handlers-private.h"

#include <string.h>

#include "base-address.h"
#include "base-error.h"
#include "message.h"

GMimeMessage *
mm_handlers_message_parse(GBytes *raw, GError **error)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data(raw, &len);

  mm_message_gmime_init();
  g_autoptr(GMimeStream) stream =
      g_mime_stream_mem_new_with_buffer((const char *)data, len);
  g_autoptr(GMimeParser) parser = g_mime_parser_new_with_stream(stream);
  GMimeMessage *message = g_mime_parser_construct_message(parser, NULL);
  if (message == NULL) {
    g_set_error(
        error, MM_ERROR, MM_ERROR_INVALID,
        "not a message: no header block could be parsed (%" G_GSIZE_FORMAT
        " bytes)",
        len);
    return NULL;
  }
  return message;
}

GBytes *
mm_handlers_message_bytes(GMimeMessage *message)
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

/* ---- headers ---------------------------------------------------------- */

static GMimeHeaderList *
headers_of(GMimeMessage *message)
{
  return g_mime_object_get_header_list(GMIME_OBJECT(message));
}

gboolean
mm_handlers_header_has(GMimeMessage *message, const char *name)
{
  return g_mime_header_list_contains(headers_of(message), name);
}

/* Removes CR and LF, as Mailman's re.sub('[\r\n]', '', ...). */
static char *
unfold(const char *text)
{
  GString *out = g_string_sized_new(strlen(text));
  for (const char *p = text; *p != '\0'; p++) {
    if (*p != '\r' && *p != '\n')
      g_string_append_c(out, *p);
  }
  return g_string_free(out, FALSE);
}

char *
mm_handlers_header_get_raw(GMimeMessage *message, const char *name)
{
  GMimeHeader *header =
      g_mime_header_list_get_header(headers_of(message), name);
  if (header == NULL)
    return NULL;
  const char *raw = g_mime_header_get_raw_value(header);
  char *value = unfold(raw != NULL ? raw : "");
  return g_strstrip(value);
}

char *
mm_handlers_header_get(GMimeMessage *message, const char *name)
{
  g_autofree char *raw = mm_handlers_header_get_raw(message, name);
  if (raw == NULL)
    return NULL;
  return mm_handlers_header_decode(raw, NULL);
}

guint
mm_handlers_header_remove(GMimeMessage *message, const char *name)
{
  guint removed = 0;
  /* g_mime_object_remove_header, not the header list's: GMimeMessage keeps
   * its subject and address lists in step with the headers that way. */
  while (g_mime_object_remove_header(GMIME_OBJECT(message), name))
    removed++;
  return removed;
}

void
mm_handlers_header_append(GMimeMessage *message, const char *name,
                          const char *value, const char *charset)
{
  g_return_if_fail(g_utf8_validate(value, -1, NULL));
  g_mime_object_append_header(GMIME_OBJECT(message), name, value, charset);
}

/* The last header called @name. */
static GMimeHeader *
last_header(GMimeHeaderList *headers, const char *name)
{
  for (int i = g_mime_header_list_get_count(headers) - 1; i >= 0; i--) {
    GMimeHeader *header = g_mime_header_list_get_header_at(headers, i);
    if (g_ascii_strcasecmp(g_mime_header_get_name(header), name) == 0)
      return header;
  }
  return NULL;
}

static void
set_raw(GMimeHeader *header, const char *raw_value)
{
  /* GMime keeps a raw value with the space after the colon and the line
   * ending; it decodes the value again from it when asked. */
  g_autofree char *raw = g_strconcat(" ", raw_value, "\n", NULL);
  g_mime_header_set_raw_value(header, raw);
}

static gboolean
raw_value_ok(const char *raw_value)
{
  for (const char *p = raw_value; *p != '\0'; p++) {
    unsigned char c = (unsigned char)*p;
    if (c >= 0x80 || c == '\r' || (c < 0x20 && c != '\t' && c != '\n'))
      return FALSE;
    /* A line break must start a continuation line. */
    if (c == '\n' && p[1] != ' ' && p[1] != '\t')
      return FALSE;
  }
  return TRUE;
}

void
mm_handlers_header_append_raw(GMimeMessage *message, const char *name,
                              const char *raw_value)
{
  g_return_if_fail(raw_value_ok(raw_value));
  g_mime_object_append_header(GMIME_OBJECT(message), name, "", NULL);
  set_raw(last_header(headers_of(message), name), raw_value);
}

void
mm_handlers_header_prepend_raw(GMimeMessage *message, const char *name,
                               const char *raw_value)
{
  g_return_if_fail(raw_value_ok(raw_value));
  g_mime_object_prepend_header(GMIME_OBJECT(message), name, "", NULL);
  set_raw(g_mime_header_list_get_header(headers_of(message), name), raw_value);
}

void
mm_handlers_message_set_body(GMimeMessage *message, GMimeObject *body)
{
  GMimeObject *old = g_mime_message_get_mime_part(message);
  if (old != NULL)
    g_object_ref(old);
  g_mime_message_set_mime_part(message, body);
  if (old != NULL)
    g_object_unref(old);
}

void
mm_handlers_multipart_changed(GMimeMultipart *multipart)
{
  multipart->write_end_boundary = TRUE;
}

void
mm_handlers_message_ensure_mime_version(GMimeMessage *message)
{
  if (!mm_handlers_header_has(message, "MIME-Version"))
    mm_handlers_header_append_raw(message, "MIME-Version", "1.0");
}

/* ---- addresses -------------------------------------------------------- */

static void
append_flattened(InternetAddressList *out, InternetAddressList *in)
{
  for (int i = 0; i < internet_address_list_length(in); i++) {
    InternetAddress *address = internet_address_list_get_address(in, i);
    if (INTERNET_ADDRESS_IS_GROUP(address))
      append_flattened(out, internet_address_group_get_members(
                                INTERNET_ADDRESS_GROUP(address)));
    else
      internet_address_list_add(out, address);
  }
}

InternetAddressList *
mm_handlers_header_addresses(GMimeMessage *message, const char *name)
{
  GMimeHeaderList *headers = headers_of(message);
  InternetAddressList *out = internet_address_list_new();

  for (int i = 0; i < g_mime_header_list_get_count(headers); i++) {
    GMimeHeader *header = g_mime_header_list_get_header_at(headers, i);
    if (g_ascii_strcasecmp(g_mime_header_get_name(header), name) != 0)
      continue;
    const char *raw = g_mime_header_get_raw_value(header);
    if (raw == NULL)
      continue;
    g_autofree char *unfolded = unfold(raw);
    InternetAddressList *list = internet_address_list_parse(NULL, unfolded);
    if (list == NULL)
      continue;
    append_flattened(out, list);
    g_object_unref(list);
  }
  return out;
}

char *
mm_handlers_address_email(InternetAddress *address)
{
  if (!INTERNET_ADDRESS_IS_MAILBOX(address))
    return NULL;
  const char *addr =
      internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(address));
  return g_utf8_strdown(addr != NULL ? addr : "", -1);
}

char *
mm_handlers_address_format(const char *name, const char *email)
{
  if (name == NULL || *name == '\0')
    return g_strdup(email);
  /* Python's formataddr quotes a name holding any of its specials. */
  if (strpbrk(name, "][\\()<>@,:;\".") == NULL)
    return g_strdup_printf("%s <%s>", name, email);
  GString *out = g_string_new("\"");
  for (const char *p = name; *p != '\0'; p++) {
    if (*p == '\\' || *p == '"')
      g_string_append_c(out, '\\');
    g_string_append_c(out, *p);
  }
  g_string_append_printf(out, "\" <%s>", email);
  return g_string_free(out, FALSE);
}

char *
mm_handlers_message_sender(const MmConfig *config, GMimeMessage *message)
{
  const char *setting = mm_config_get(config, "mailman", "sender_headers");
  g_auto(GStrv) names = g_strsplit_set(
      setting != NULL ? setting : "from from_ reply-to sender", " \t\n", -1);

  for (char **name = names; *name != NULL; name++) {
    if (**name == '\0' || g_ascii_strcasecmp(*name, "from_") == 0)
      continue;
    g_autoptr(InternetAddressList) list =
        mm_handlers_header_addresses(message, *name);
    for (int i = 0; i < internet_address_list_length(list); i++) {
      g_autofree char *email = mm_handlers_address_email(
          internet_address_list_get_address(list, i));
      if (email == NULL || *email == '\0')
        continue;
      char *valid = mm_address_fold_email(email, -1, NULL, NULL, NULL);
      if (valid != NULL)
        return valid;
    }
  }
  return NULL;
}

/* ---- decoding header text --------------------------------------------- */

/* TRUE if every encoded word of @raw names a charset iconv can convert. */
static gboolean
charsets_known(const char *raw)
{
  static GRegex *word = NULL;
  static gsize once = 0;
  if (g_once_init_enter(&once)) {
    word = g_regex_new("=\\?([^?*]+)(\\*[^?]*)?\\?[bBqQ]\\?[^?]*\\?=",
                       G_REGEX_OPTIMIZE, 0, NULL);
    g_once_init_leave(&once, 1);
  }
  g_autoptr(GMatchInfo) match = NULL;
  gboolean known = TRUE;
  g_regex_match(word, raw, 0, &match);
  while (known && g_match_info_matches(match)) {
    g_autofree char *charset = g_match_info_fetch(match, 1);
    iconv_t cd = g_mime_iconv_open("UTF-8", charset);
    if (cd == (iconv_t)-1)
      known = FALSE;
    else
      g_mime_iconv_close(cd);
    g_match_info_next(match, NULL);
  }
  return known;
}

char *
mm_handlers_header_decode(const char *raw, gboolean *unknown_charset_out)
{
  g_autofree char *unfolded = unfold(raw);
  gboolean known = charsets_known(unfolded);

  if (unknown_charset_out != NULL)
    *unknown_charset_out = !known;
  /* GMime would drop the bytes of a word it cannot convert; keeping the
   * word as written loses nothing. */
  if (!known)
    return g_utf8_make_valid(unfolded, -1);
  mm_message_gmime_init();
  g_autofree char *decoded = g_mime_utils_header_decode_text(NULL, unfolded);
  g_autofree char *text = unfold(decoded);
  /* Raw 8-bit bytes in a header are guessed at; what comes back must be
   * UTF-8 whatever the guess. */
  return g_utf8_make_valid(text, -1);
}

/* ---- parts ------------------------------------------------------------ */

char *
mm_handlers_object_type(GMimeObject *object)
{
  GMimeContentType *type = g_mime_object_get_content_type(object);
  if (type == NULL)
    return g_strdup("text/plain");
  char *mime_type = g_mime_content_type_get_mime_type(type);
  char *lower = g_ascii_strdown(mime_type, -1);
  g_free(mime_type);
  return lower;
}

GBytes *
mm_handlers_part_get_bytes(GMimePart *part)
{
  GMimeDataWrapper *content = g_mime_part_get_content(part);
  if (content == NULL)
    return g_bytes_new(NULL, 0);
  g_autoptr(GMimeStream) stream = g_mime_stream_mem_new();
  g_mime_data_wrapper_write_to_stream(content, stream);
  GByteArray *array =
      g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(stream));
  return g_bytes_new(array->data, array->len);
}

char *
mm_handlers_part_get_text(GMimePart *part, const char *default_charset,
                          GError **error)
{
  const char *charset =
      g_mime_object_get_content_type_parameter(GMIME_OBJECT(part), "charset");
  if (charset == NULL || *charset == '\0')
    charset = default_charset;
  g_autoptr(GBytes) bytes = mm_handlers_part_get_bytes(part);
  gsize len = 0;
  const char *data = g_bytes_get_data(bytes, &len);

  GError *convert_error = NULL;
  g_autofree char *text = g_convert(
      data != NULL ? data : "", (gssize)len, "UTF-8",
      g_mime_charset_iconv_name(charset), NULL, NULL, &convert_error);
  if (text == NULL) {
    g_set_error(error, MM_ERROR, MM_ERROR_INVALID,
                "cannot decode text in charset %s: %s", charset,
                convert_error->message);
    g_error_free(convert_error);
    return NULL;
  }
  /* Text from a CRLF message keeps its CRs through the decoder. */
  GString *out = g_string_sized_new(strlen(text));
  for (const char *p = text; *p != '\0'; p++) {
    if (p[0] == '\r' && p[1] == '\n')
      continue;
    g_string_append_c(out, *p);
  }
  return g_string_free(out, FALSE);
}

/* Python's email.charset body encodings. */
static GMimeContentEncoding
body_encoding(const char *charset)
{
  if (g_ascii_strcasecmp(charset, "us-ascii") == 0 ||
      g_ascii_strcasecmp(charset, "ascii") == 0)
    return GMIME_CONTENT_ENCODING_7BIT;
  if (g_ascii_strncasecmp(charset, "iso-8859-", 9) == 0)
    return GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE;
  return GMIME_CONTENT_ENCODING_BASE64;
}

gboolean
mm_handlers_part_set_text(GMimePart *part, const char *text,
                          const char *charset_in)
{
  /* @charset_in may point into the part's own Content-Type parameters,
   * which setting the parameter frees. */
  g_autofree char *charset = g_strdup(charset_in);
  gsize len = 0;
  g_autofree char *converted = g_convert(
      text, -1, g_mime_charset_iconv_name(charset), "UTF-8", NULL, &len, NULL);
  if (converted == NULL)
    return FALSE;

  g_autoptr(GMimeStream) stream =
      g_mime_stream_mem_new_with_buffer(converted, len);
  GMimeDataWrapper *content = g_mime_data_wrapper_new_with_stream(
      stream, GMIME_CONTENT_ENCODING_DEFAULT);
  g_mime_part_set_content(part, content);
  g_object_unref(content);
  g_mime_object_set_content_type_parameter(GMIME_OBJECT(part), "charset",
                                           charset);
  g_mime_part_set_content_encoding(part, body_encoding(charset));
  return TRUE;
}

GMimePart *
mm_handlers_text_part_new(const char *text, const char *charset,
                          const char *disposition)
{
  GMimeTextPart *part = g_mime_text_part_new_with_subtype("plain");
  if (charset == NULL ||
      !mm_handlers_part_set_text(GMIME_PART(part), text, charset))
    mm_handlers_part_set_text(GMIME_PART(part), text, "utf-8");
  if (disposition != NULL)
    g_mime_object_set_disposition(GMIME_OBJECT(part), disposition);
  return GMIME_PART(part);
}
