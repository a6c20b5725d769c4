/* MmPost: a post under judgement, its senders, and the few byte-exact
 * header edits the rules and chains make.
 *
 * Owns the current message bytes and, made on first use, their GMime
 * parse; a header edit replaces the bytes and drops the parse.  Header
 * fields are found as Python's email parser (Mailman 3) finds them: the
 * lines up to the first empty line or the first line that is not a field
 * ("Name: value" with continuation lines starting with a space or tab).
 * Edits copy everything else byte for byte and use the message's own line
 * ending (that of its first line).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "message.h"
#include "rules-private.h"

#include <string.h>

#include "base-address.h"

G_DEFINE_QUARK(mm-rules-error-quark, mm_rules_error)

struct MmPostPrivate {
  GBytes *raw;
  GMimeMessage *mime; /* NULL until asked for */
  gboolean mime_tried;
  GPtrArray *senders; /* char* */
  char *message_id;
};

/* ---- Raw header block ------------------------------------------------- */

/* One field of the header block: [start, end) covers its name through the
 * line ending of its last continuation line. */
typedef struct {
  gsize start;
  gsize name_len;
  gsize value_start; /* after the colon */
  gsize end;
} Field;

/* The end of the line starting at @pos: the index after its '\n', or
 * @len. */
static gsize
line_end(const char *data, gsize len, gsize pos)
{
  const char *nl = memchr(data + pos, '\n', len - pos);
  return nl != NULL ? (gsize)(nl - data) + 1 : len;
}

static gboolean
line_is_empty(const char *data, gsize start, gsize end)
{
  gsize n = end - start;
  return (n == 1 && data[start] == '\n') ||
         (n == 2 && data[start] == '\r' && data[start + 1] == '\n') ||
         n == 0;
}

/* A field line: one or more printable ASCII characters other than ':'
 * and space, then ':'.  Sets @name_len_out. */
static gboolean
line_is_field(const char *data, gsize start, gsize end, gsize *name_len_out)
{
  gsize i = start;
  while (i < end && data[i] != ':') {
    guchar c = (guchar)data[i];
    if (c <= 0x20 || c >= 0x7f)
      return FALSE;
    i++;
  }
  if (i == start || i >= end)
    return FALSE;
  *name_len_out = i - start;
  return TRUE;
}

/* Splits the header block of @data into fields.  @body_out is where the
 * header block ends: the start of the empty line (or of the first line
 * that is not a field), or @len. */
static GArray *
header_fields(const char *data, gsize len, gsize *body_out)
{
  GArray *fields = g_array_new(FALSE, FALSE, sizeof(Field));
  gsize pos = 0;
  /* An mbox "From " line is not a field (intake drops it, but a message
   * may come from elsewhere). */
  if (len >= 5 && memcmp(data, "From ", 5) == 0)
    pos = line_end(data, len, 0);
  while (pos < len) {
    gsize end = line_end(data, len, pos);
    gsize name_len;
    if (line_is_empty(data, pos, end) ||
        !line_is_field(data, pos, end, &name_len))
      break;
    Field field = {pos, name_len, pos + name_len + 1, 0};
    pos = end;
    while (pos < len && (data[pos] == ' ' || data[pos] == '\t'))
      pos = line_end(data, len, pos);
    field.end = pos;
    g_array_append_val(fields, field);
  }
  *body_out = pos;
  return fields;
}

/* The value of @field unfolded (CR and LF removed), with leading and
 * trailing spaces and tabs removed. */
static char *
field_value(const char *data, const Field *field)
{
  GString *value = g_string_sized_new(field->end - field->value_start);
  for (gsize i = field->value_start; i < field->end; i++)
    if (data[i] != '\r' && data[i] != '\n' && data[i] != '\0')
      g_string_append_c(value, data[i]);
  char *text = g_string_free(value, FALSE);
  return g_strstrip(text);
}

static gboolean
field_named(const char *data, const Field *field, const char *name)
{
  return strlen(name) == field->name_len &&
         g_ascii_strncasecmp(data + field->start, name, field->name_len) == 0;
}

static const char *
message_eol(const char *data, gsize len)
{
  gsize end = line_end(data, len, 0);
  return end >= 2 && data[end - 1] == '\n' && data[end - 2] == '\r' ? "\r\n"
                                                                    : "\n";
}

char **
mm_rules_post_header_values(MmPost *post, const char *name)
{
  gsize len;
  const char *data = g_bytes_get_data(post->priv->raw, &len);
  gsize body;
  g_autoptr(GArray) fields = header_fields(data, len, &body);
  GPtrArray *values = g_ptr_array_new();
  for (guint i = 0; i < fields->len; i++) {
    const Field *field = &g_array_index(fields, Field, i);
    if (field_named(data, field, name))
      g_ptr_array_add(values, field_value(data, field));
  }
  g_ptr_array_add(values, NULL);
  return (char **)g_ptr_array_free(values, FALSE);
}

char *
mm_rules_post_header(MmPost *post, const char *name)
{
  g_auto(GStrv) values = mm_rules_post_header_values(post, name);
  return values[0] != NULL ? g_strdup(values[0]) : NULL;
}

/* "Name: value" folded as Python's compat32 Header does for values it
 * splits at "; ": lines of at most 78 characters, a continuation starts
 * with a space. */
static void
append_folded(GString *out, const char *name, const char *value,
              const char *eol)
{
  g_autofree char *line = g_strdup_printf("%s: %s", name, value);
  const gsize max = 78;
  const char *p = line;
  gboolean first = TRUE;
  while (*p != '\0') {
    gsize room = first ? max : max - 1;
    gsize rest = strlen(p);
    gsize take = rest;
    if (rest > room) {
      /* The last "; " within the room; the ';' stays on this line. */
      take = 0;
      for (gsize i = 0; i + 1 < rest && i + 1 <= room; i++)
        if (p[i] == ';' && p[i + 1] == ' ')
          take = i + 1;
      if (take == 0) {
        /* No place to fold: keep the long line whole. */
        const char *next = strstr(p, "; ");
        take = next != NULL ? (gsize)(next - p) + 1 : rest;
      }
    }
    if (!first)
      g_string_append_c(out, ' ');
    g_string_append_len(out, p, take);
    g_string_append(out, eol);
    p += take;
    while (*p == ' ')
      p++;
    first = FALSE;
  }
}

void
mm_rules_post_header_append(MmPost *post, const char *name, const char *value)
{
  gsize len;
  const char *data = g_bytes_get_data(post->priv->raw, &len);
  gsize body;
  g_autoptr(GArray) fields = header_fields(data, len, &body);
  const char *eol = message_eol(data, len);
  GString *out = g_string_sized_new(len + strlen(value) + 64);
  g_string_append_len(out, data, body);
  /* A last header line without a line ending (a message that is all
   * header) needs one before the new field. */
  if (body > 0 && data[body - 1] != '\n')
    g_string_append(out, eol);
  append_folded(out, name, value, eol);
  /* A header block that ended at a non-field line gets the empty line it
   * lacked, as Mailman's re-serialisation would write it. */
  gsize end = line_end(data, len, body);
  if (body < len && !line_is_empty(data, body, end))
    g_string_append(out, eol);
  g_string_append_len(out, data + body, len - body);
  gsize out_len = out->len;
  mm_rules_post_set_message(
      post, g_bytes_new_take(g_string_free(out, FALSE), out_len));
}

guint
mm_rules_post_header_remove(MmPost *post, const char *name)
{
  gsize len;
  const char *data = g_bytes_get_data(post->priv->raw, &len);
  gsize body;
  g_autoptr(GArray) fields = header_fields(data, len, &body);
  GString *out = g_string_sized_new(len);
  gsize copied = 0;
  guint removed = 0;
  for (guint i = 0; i < fields->len; i++) {
    const Field *field = &g_array_index(fields, Field, i);
    if (!field_named(data, field, name))
      continue;
    g_string_append_len(out, data + copied, field->start - copied);
    copied = field->end;
    removed++;
  }
  if (removed == 0) {
    g_string_free(out, TRUE);
    return 0;
  }
  g_string_append_len(out, data + copied, len - copied);
  gsize out_len = out->len;
  mm_rules_post_set_message(
      post, g_bytes_new_take(g_string_free(out, FALSE), out_len));
  return removed;
}

/* ---- Senders ---------------------------------------------------------- */

static void
add_mailboxes(GPtrArray *senders, InternetAddressList *list)
{
  int n = list != NULL ? internet_address_list_length(list) : 0;
  for (int i = 0; i < n; i++) {
    InternetAddress *address = internet_address_list_get_address(list, i);
    if (INTERNET_ADDRESS_IS_GROUP(address)) {
      add_mailboxes(senders, internet_address_group_get_members(
                                 INTERNET_ADDRESS_GROUP(address)));
      continue;
    }
    const char *addr =
        internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(address));
    if (addr == NULL || addr[0] == '\0')
      continue;
    /* Mailman's IEmailValidator; ours folds to lower case as well. */
    char *folded = mm_address_fold_email(addr, -1, NULL, NULL, NULL);
    if (folded != NULL)
      g_ptr_array_add(senders, folded);
  }
}

/* The addresses in a header value as email.utils.getaddresses() finds
 * them. */
static void
add_addresses(GPtrArray *senders, const char *value)
{
  g_autoptr(InternetAddressList) list =
      internet_address_list_parse(NULL, value);
  add_mailboxes(senders, list);
}

static GPtrArray *
compute_senders(MmPost *post)
{
  GPtrArray *senders = g_ptr_array_new_with_free_func(g_free);
  const char *spec = NULL;
  if (post->config != NULL)
    spec = mm_config_get(post->config, "mailman", "sender_headers");
  if (spec == NULL)
    spec = "from from_ reply-to sender";
  g_auto(GStrv) headers = g_strsplit_set(spec, " \t\n", -1);
  for (char **h = headers; *h != NULL; h++) {
    if ((*h)[0] == '\0')
      continue;
    if (g_ascii_strcasecmp(*h, "from_") == 0) {
      /* The envelope sender: the X-MailFrom field intake appended last. */
      g_auto(GStrv) values = mm_rules_post_header_values(post, "X-MailFrom");
      guint n = g_strv_length(values);
      if (n > 0) {
        char *folded =
            mm_address_fold_email(values[n - 1], -1, NULL, NULL, NULL);
        if (folded != NULL)
          g_ptr_array_add(senders, folded);
      }
      continue;
    }
    g_auto(GStrv) values = mm_rules_post_header_values(post, *h);
    for (char **v = values; *v != NULL; v++)
      add_addresses(senders, *v);
  }
  return senders;
}

/* ---- The post --------------------------------------------------------- */

MmPost *
mm_rules_post_new(const MmConfig *config, MmStore *store, const MmList *list,
                  GBytes *raw, json_t *meta)
{
  mm_message_gmime_init();
  MmPost *post = g_new0(MmPost, 1);
  post->priv = g_new0(MmPostPrivate, 1);
  post->config = config;
  post->store = store;
  post->list = list;
  post->meta = meta != NULL ? json_incref(meta) : json_object();
  post->priv->raw = g_bytes_ref(raw);
  post->priv->senders = compute_senders(post);
  g_autofree char *message_id = mm_rules_post_header(post, "Message-ID");
  post->priv->message_id =
      message_id != NULL ? mm_log_escape(message_id, -1) : g_strdup("n/a");
  return post;
}

void
mm_rules_post_free(MmPost *post)
{
  if (post == NULL)
    return;
  g_clear_pointer(&post->priv->raw, g_bytes_unref);
  g_clear_object(&post->priv->mime);
  g_clear_pointer(&post->priv->senders, g_ptr_array_unref);
  g_free(post->priv->message_id);
  g_free(post->priv);
  json_decref(post->meta);
  g_free(post);
}

GBytes *
mm_rules_post_message(MmPost *post)
{
  return post->priv->raw;
}

void
mm_rules_post_set_message(MmPost *post, GBytes *raw)
{
  GBytes *old = post->priv->raw;
  post->priv->raw = raw;
  if (old != NULL)
    g_bytes_unref(old);
  g_clear_object(&post->priv->mime);
  post->priv->mime_tried = FALSE;
}

GMimeMessage *
mm_rules_post_mime(MmPost *post)
{
  if (post->priv->mime_tried)
    return post->priv->mime;
  post->priv->mime_tried = TRUE;
  gsize len;
  const guint8 *data = g_bytes_get_data(post->priv->raw, &len);
  g_autoptr(GMimeStream) stream =
      g_mime_stream_mem_new_with_buffer((const char *)data, len);
  g_autoptr(GMimeParser) parser = g_mime_parser_new_with_stream(stream);
  g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
  post->priv->mime = g_mime_parser_construct_message(parser, NULL);
  return post->priv->mime;
}

GPtrArray *
mm_rules_post_senders(MmPost *post)
{
  return post->priv->senders;
}

const char *
mm_rules_post_sender(MmPost *post)
{
  GPtrArray *senders = post->priv->senders;
  return senders->len > 0 ? senders->pdata[0] : "";
}

const char *
mm_rules_post_message_id(MmPost *post)
{
  return post->priv->message_id;
}

void
mm_rules_post_add_reason(MmPost *post, const char *sender, const char *reason)
{
  json_t *reasons = json_object_get(post->meta, "moderation_reasons");
  if (!json_is_array(reasons)) {
    reasons = json_array();
    json_object_set_new(post->meta, "moderation_reasons", reasons);
  }
  json_array_append_new(reasons, json_string(reason));
  if (sender != NULL)
    json_object_set_new(post->meta, "moderation_sender", json_string(sender));
}
