/* The parsed view of a bounce: top-level headers and the decoded text of
 * the report's MIME leaves, split into lines.
 *
 * GMime parses; this file then copies out what the detectors read, as
 * plain strings, and lets the GMime objects go, so a detector cannot reach
 * past the bounds set here.  Leaves inside a returned message
 * (message/rfc822, message/global) are not part of the report and are not
 * looked at: a bounce that returns a message which itself quotes a bounce
 * must not be read as that older bounce.  (Python's body_line_iterator,
 * which flufl.bounce uses, does descend into them; we choose not to.)
 *
 * Invariant: every string in the view is valid UTF-8 with no NUL inside,
 * every line is at most MM_BOUNCE_MAX_LINE bytes.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define MM_WITH_GMIME
#include "bounce-private.h"

#include <string.h>

#include "mm-autocleanups.h"

static void
gmime_init_once(void)
{
  static gsize done = 0;

  if (g_once_init_enter(&done)) {
    g_mime_init();
    g_once_init_leave(&done, 1);
  }
}

static void
leaf_free(gpointer data)
{
  MmBounceLeaf *leaf = data;

  g_free(leaf->content_type);
  g_free(leaf->description);
  if (leaf->lines != NULL)
    g_ptr_array_unref(leaf->lines);
  g_free(leaf);
}

static void
header_free(gpointer data)
{
  MmBounceHeader *header = data;

  g_free(header->name);
  g_free(header->value);
  g_free(header);
}

void
mm_bounce_message_free(MmBounceMessage *message)
{
  if (message == NULL)
    return;
  g_free(message->content_type);
  g_clear_pointer(&message->headers, g_ptr_array_unref);
  g_clear_pointer(&message->body_lines, g_ptr_array_unref);
  g_clear_pointer(&message->leaves, g_ptr_array_unref);
  g_free(message);
}

/* ---- text ----------------------------------------------------------------- */

/* Makes @len bytes valid UTF-8 with NULs replaced by spaces: a NUL would
 * cut the text short for every later strlen(), and g_utf8_make_valid()
 * keeps U+0000.  Transfer full. */
static char *
valid_text(const char *data, gsize len)
{
  if (data == NULL || len == 0)
    return g_strdup("");
  if (memchr(data, '\0', len) == NULL)
    return g_utf8_make_valid(data, (gssize)len);
  char *copy = g_memdup2(data, len);
  for (gsize i = 0; i < len; i++)
    if (copy[i] == '\0')
      copy[i] = ' ';
  char *text = g_utf8_make_valid(copy, (gssize)len);
  g_free(copy);
  return text;
}

/* Splits @text into lines (LF, CRLF or a lone CR end a line), each cut to
 * MM_BOUNCE_MAX_LINE bytes on a character boundary, at most
 * MM_BOUNCE_MAX_LINES of them. */
static GPtrArray *
split_lines(const char *text)
{
  GPtrArray *lines = g_ptr_array_new_with_free_func(g_free);
  const char *p = text;

  while (*p != '\0' && lines->len < MM_BOUNCE_MAX_LINES) {
    gsize n = strcspn(p, "\r\n");
    gsize keep = n;
    if (keep > MM_BOUNCE_MAX_LINE) {
      const char *cut = g_utf8_find_prev_char(p, p + MM_BOUNCE_MAX_LINE + 1);
      keep = cut != NULL ? (gsize)(cut - p) : 0;
    }
    g_ptr_array_add(lines, g_strndup(p, keep));
    p += n;
    if (p[0] == '\r' && p[1] == '\n')
      p += 2;
    else if (*p != '\0')
      p++;
  }
  return lines;
}

/* Entity decoding for the few entities reports use. */
static const char *
html_entity(const char *p, GString *out)
{
  static const struct {
    const char *name;
    const char *text;
  } entities[] = {{"&lt;", "<"},    {"&gt;", ">"},   {"&amp;", "&"},
                  {"&quot;", "\""}, {"&apos;", "'"}, {"&nbsp;", " "},
                  {"&#64;", "@"},   {"&#39;", "'"}};

  for (gsize i = 0; i < G_N_ELEMENTS(entities); i++) {
    gsize n = strlen(entities[i].name);
    if (g_ascii_strncasecmp(p, entities[i].name, n) == 0) {
      g_string_append(out, entities[i].text);
      return p + n;
    }
  }
  g_string_append_c(out, '&');
  return p + 1;
}

/* strcasestr() for ASCII needles. */
static const char *
find_ascii_ci(const char *haystack, const char *needle)
{
  gsize n = strlen(needle);

  for (const char *p = haystack; *p != '\0'; p++)
    if (g_ascii_strncasecmp(p, needle, n) == 0)
      return p;
  return NULL;
}

static gboolean
tag_is(const char *name, const char *tag)
{
  gsize n = strlen(tag);

  return g_ascii_strncasecmp(name, tag, n) == 0 &&
         !g_ascii_isalnum(name[n]);
}

/* Reduces HTML to its text: tags dropped, block ends made line ends,
 * script and style skipped, common entities decoded.  Enough for an NDR
 * whose only text is HTML (some Office 365 notices); not an HTML parser. */
static char *
html_to_text(const char *html)
{
  static const char *const line_tags[] = {"br", "p",  "div", "tr", "li",
                                          "h1", "h2", "h3",  "h4", "table",
                                          "ul", "ol", "pre", "blockquote"};
  GString *out = g_string_sized_new(strlen(html) / 2 + 1);
  const char *p = html;

  while (*p != '\0') {
    if (*p == '&') {
      p = html_entity(p, out);
      continue;
    }
    if (*p != '<') {
      g_string_append_c(out, *p++);
      continue;
    }
    const char *end = strchr(p, '>');
    if (end == NULL)
      break;
    gboolean closing = p[1] == '/';
    const char *name = p + 1 + (closing ? 1 : 0);
    if (!closing && (tag_is(name, "script") || tag_is(name, "style"))) {
      const char *close =
          find_ascii_ci(end, tag_is(name, "script") ? "</script" : "</style");
      end = close ? strchr(close, '>') : NULL;
      if (end == NULL)
        break;
    } else {
      for (gsize i = 0; i < G_N_ELEMENTS(line_tags); i++)
        if (tag_is(name, line_tags[i])) {
          g_string_append_c(out, '\n');
          break;
        }
      if (tag_is(name, "td") || tag_is(name, "th"))
        g_string_append_c(out, ' ');
    }
    p = end + 1;
  }
  return g_string_free(out, FALSE);
}

/* ---- MIME ----------------------------------------------------------------- */

static char *
content_type_of(GMimeObject *object)
{
  GMimeContentType *type = g_mime_object_get_content_type(object);
  const char *media = type ? g_mime_content_type_get_media_type(type) : NULL;
  const char *sub = type ? g_mime_content_type_get_media_subtype(type) : NULL;

  if (media == NULL || sub == NULL || *media == '\0' || *sub == '\0')
    return g_strdup("text/plain");
  char *joined = g_strdup_printf("%s/%s", media, sub);
  char *lower = g_ascii_strdown(joined, -1);
  g_free(joined);
  return lower;
}

/* Decodes the content of @part (transfer encoding, then charset) into at
 * most @cap bytes of UTF-8.  Only as much of the encoded content is read
 * as the cap needs.  Transfer full; "" for a part without content. */
static char *
decode_part(GMimePart *part, gsize cap)
{
  GMimeDataWrapper *content = g_mime_part_get_content(part);
  if (content == NULL)
    return g_strdup("");
  GMimeStream *raw = g_mime_data_wrapper_get_stream(content);
  if (raw == NULL)
    return g_strdup("");

  GByteArray *bytes = g_byte_array_new();
  g_autoptr(GMimeStream) mem = g_mime_stream_mem_new_with_byte_array(bytes);
  g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
  g_autoptr(GMimeStream) filtered = g_mime_stream_filter_new(mem);
  GMimeContentEncoding encoding = g_mime_data_wrapper_get_encoding(content);
  if (encoding == GMIME_CONTENT_ENCODING_BASE64 ||
      encoding == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
      encoding == GMIME_CONTENT_ENCODING_UUENCODE) {
    GMimeFilter *decoder = g_mime_filter_basic_new(encoding, FALSE);
    g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered), decoder);
    g_object_unref(decoder);
  }

  char buf[16384];
  g_mime_stream_reset(raw);
  while (bytes->len < cap) {
    gssize n = g_mime_stream_read(raw, buf, sizeof buf);
    if (n <= 0)
      break;
    if (g_mime_stream_write(filtered, buf, (size_t)n) < 0)
      break;
  }
  g_mime_stream_flush(filtered);
  gsize len = MIN(bytes->len, cap);

  /* Charset: the declared one when iconv knows it, else UTF-8 with
   * replacement characters. */
  char *text = NULL;
  if (len == 0) {
    g_byte_array_unref(bytes);
    return g_strdup("");
  }
  const char *charset =
      g_mime_object_get_content_type_parameter(GMIME_OBJECT(part), "charset");
  if (charset != NULL && g_ascii_strcasecmp(charset, "utf-8") != 0 &&
      g_ascii_strcasecmp(charset, "us-ascii") != 0) {
    const char *iconv_name = g_mime_charset_iconv_name(charset);
    gsize read = 0, written = 0;
    char *converted = g_convert((const char *)bytes->data, (gssize)len,
                                "UTF-8", iconv_name, &read, &written, NULL);
    if (converted != NULL) {
      text = valid_text(converted, written);
      g_free(converted);
    }
  }
  if (text == NULL)
    text = valid_text((const char *)bytes->data, len);
  g_byte_array_unref(bytes);
  return text;
}

static gboolean
is_text_type(const char *type)
{
  return g_str_has_prefix(type, "text/") &&
         !g_str_equal(type, "text/rfc822-headers");
}

static gboolean
is_status_type(const char *type)
{
  return g_str_equal(type, "message/delivery-status") ||
         g_str_equal(type, "message/global-delivery-status");
}

static void
collect(MmBounceMessage *message, GMimeObject *object, guint depth,
        gsize *budget)
{
  if (object == NULL || message->leaves->len >= MM_BOUNCE_MAX_LEAVES)
    return;
  if (GMIME_IS_MULTIPART(object)) {
    if (depth >= MM_BOUNCE_MAX_DEPTH)
      return;
    GMimeMultipart *multipart = GMIME_MULTIPART(object);
    int count = g_mime_multipart_get_count(multipart);
    for (int i = 0; i < count; i++)
      collect(message, g_mime_multipart_get_part(multipart, i), depth + 1,
              budget);
    return;
  }
  /* A returned message is not part of the report (file comment). */
  if (!GMIME_IS_PART(object))
    return;

  MmBounceLeaf *leaf = g_new0(MmBounceLeaf, 1);
  leaf->content_type = content_type_of(object);
  const char *description =
      g_mime_object_get_header(object, "Content-Description");
  leaf->description = g_ascii_strdown(description ? description : "", -1);
  g_strstrip(leaf->description);
  if ((is_text_type(leaf->content_type) ||
       is_status_type(leaf->content_type)) &&
      *budget > 0) {
    g_autofree char *text =
        decode_part(GMIME_PART(object), MIN(*budget, MM_BOUNCE_MAX_PART_TEXT));
    *budget -= MIN(*budget, strlen(text));
    if (g_str_equal(leaf->content_type, "text/html")) {
      g_autofree char *plain = html_to_text(text);
      leaf->lines = split_lines(plain);
    } else {
      leaf->lines = split_lines(text);
    }
  }
  g_ptr_array_add(message->leaves, leaf);
}

static void
collect_headers(MmBounceMessage *message, GMimeObject *object)
{
  GMimeHeaderList *list = g_mime_object_get_header_list(object);
  int count = list ? g_mime_header_list_get_count(list) : 0;

  for (int i = 0; i < count && message->headers->len < MM_BOUNCE_MAX_HEADERS;
       i++) {
    GMimeHeader *header = g_mime_header_list_get_header_at(list, i);
    const char *name = g_mime_header_get_name(header);
    const char *value = g_mime_header_get_value(header);
    if (name == NULL)
      continue;
    MmBounceHeader *copy = g_new0(MmBounceHeader, 1);
    copy->name = valid_text(name, strlen(name));
    g_autofree char *text =
        valid_text(value ? value : "", value ? MIN(strlen(value), 65536) : 0);
    /* Unfold: GMime keeps the whitespace after a line break, and a bare
     * CR or LF may survive in a broken field. */
    for (char *c = text; *c != '\0'; c++)
      if (*c == '\r' || *c == '\n')
        *c = ' ';
    copy->value = g_strstrip(g_steal_pointer(&text));
    g_ptr_array_add(message->headers, copy);
  }
}

/* Body lines: every text leaf; HTML only when the report has no other
 * text. */
static void
collect_body_lines(MmBounceMessage *message)
{
  gboolean have_plain = FALSE;

  for (guint i = 0; i < message->leaves->len; i++) {
    MmBounceLeaf *leaf = message->leaves->pdata[i];
    if (leaf->lines != NULL && is_text_type(leaf->content_type) &&
        !g_str_equal(leaf->content_type, "text/html"))
      have_plain = TRUE;
  }
  for (guint i = 0; i < message->leaves->len; i++) {
    MmBounceLeaf *leaf = message->leaves->pdata[i];
    if (leaf->lines == NULL || !is_text_type(leaf->content_type))
      continue;
    if (have_plain && g_str_equal(leaf->content_type, "text/html"))
      continue;
    for (guint l = 0; l < leaf->lines->len; l++)
      g_ptr_array_add(message->body_lines, leaf->lines->pdata[l]);
  }
}

MmBounceMessage *
mm_bounce_message_parse(GBytes *raw)
{
  gsize len = 0;
  const char *data = raw ? g_bytes_get_data(raw, &len) : NULL;
  MmBounceMessage *message = g_new0(MmBounceMessage, 1);

  message->headers = g_ptr_array_new_with_free_func(header_free);
  message->leaves = g_ptr_array_new_with_free_func(leaf_free);
  message->body_lines = g_ptr_array_new();
  if (data == NULL)
    data = "";
  len = MIN(len, MM_BOUNCE_PARSE_MAX_LEN);

  gmime_init_once();
  g_autoptr(GMimeStream) stream = g_mime_stream_mem_new_with_buffer(data, len);
  g_autoptr(GMimeParser) parser = g_mime_parser_new_with_stream(stream);
  g_autoptr(GMimeMessage) parsed = g_mime_parser_construct_message(parser, NULL);
  gsize budget = MM_BOUNCE_MAX_TEXT;

  GMimeObject *body = parsed ? g_mime_message_get_mime_part(parsed) : NULL;
  if (parsed != NULL)
    collect_headers(message, GMIME_OBJECT(parsed));
  if (body != NULL) {
    message->content_type = content_type_of(body);
    collect(message, body, 0, &budget);
  } else {
    /* No header block GMime accepts: all of it is text, as Python's
     * parser would make it the payload of a header-less message. */
    message->content_type = g_strdup("text/plain");
    MmBounceLeaf *leaf = g_new0(MmBounceLeaf, 1);
    leaf->content_type = g_strdup("text/plain");
    leaf->description = g_strdup("");
    g_autofree char *text = valid_text(data, MIN(len, budget));
    leaf->lines = split_lines(text);
    g_ptr_array_add(message->leaves, leaf);
  }
  collect_body_lines(message);
  return message;
}

const char *
mm_bounce_message_header(const MmBounceMessage *message, const char *name)
{
  for (guint i = 0; i < message->headers->len; i++) {
    const MmBounceHeader *header = message->headers->pdata[i];
    if (g_ascii_strcasecmp(header->name, name) == 0)
      return header->value;
  }
  return NULL;
}

char *
mm_bounce_message_from_address(const MmBounceMessage *message)
{
  const char *from = mm_bounce_message_header(message, "From");
  if (from == NULL)
    return g_strdup("");

  /* "Name <addr>" or "addr (Name)" or "addr". */
  const char *open = strrchr(from, '<');
  g_autofree char *addr = NULL;
  if (open != NULL) {
    const char *close = strchr(open, '>');
    addr = close ? g_strndup(open + 1, (gsize)(close - open - 1))
                 : g_strdup(open + 1);
  } else {
    addr = g_strndup(from, strcspn(from, " \t("));
  }
  g_strstrip(addr);
  return g_ascii_strdown(addr, -1);
}

GPtrArray *
mm_bounce_message_leaf_lines(const MmBounceMessage *message,
                             const char *content_type, const char *description)
{
  for (guint i = 0; i < message->leaves->len; i++) {
    MmBounceLeaf *leaf = message->leaves->pdata[i];
    if (leaf->lines == NULL)
      continue;
    if (content_type != NULL && !g_str_equal(leaf->content_type, content_type))
      continue;
    if (description != NULL && !g_str_equal(leaf->description, description))
      continue;
    return leaf->lines;
  }
  return NULL;
}
