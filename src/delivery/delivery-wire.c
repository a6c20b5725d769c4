/* Messages on the wire: the SMTP form of the queued bytes (CRLF, dot
 * stuffing) and the few header edits delivery makes per recipient (To:
 * for full personalization, X-Mailman-Copy).
 *
 * As the message module does, these work on the header block as text and
 * never re-serialise through a MIME library, so every byte we do not mean
 * to change goes out as it came in.  The body is encoded once per message
 * and shared by every transaction; only the small header block is redone
 * per recipient.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "delivery-private.h"

#include <string.h>

void
mm_wire_split(GBytes *raw, GBytes **head_out, GBytes **body_out)
{
  gsize len = 0;
  const char *data = g_bytes_get_data(raw, &len);
  gsize pos = 0;

  while (pos < len) {
    if (data[pos] == '\n') {
      pos += 1;
      break;
    }
    if (data[pos] == '\r' && pos + 1 < len && data[pos + 1] == '\n') {
      pos += 2;
      break;
    }
    const char *nl = memchr(data + pos, '\n', len - pos);
    pos = nl ? (gsize)(nl - data) + 1 : len;
  }
  *head_out = g_bytes_new_from_bytes(raw, 0, pos);
  *body_out = g_bytes_new_from_bytes(raw, pos, len - pos);
}

GBytes *
mm_wire_encode(const char *data, gsize len, gboolean terminate)
{
  GString *out = g_string_sized_new(len + len / 32 + 3);
  gboolean line_start = TRUE;
  const char *p = data, *end = data + len;

  while (p < end) {
    /* Copy a run of plain bytes at once; stop at what needs attention. */
    const char *nl = memchr(p, '\n', (gsize)(end - p));
    const char *stop = nl ? nl : end;
    if (line_start && *p == '.')
      g_string_append_c(out, '.'); /* RFC 5321 4.5.2 */
    g_string_append_len(out, p, stop - p);
    if (nl == NULL)
      break;
    if (stop == data || stop[-1] != '\r')
      g_string_append_c(out, '\r');
    g_string_append_c(out, '\n');
    p = nl + 1;
    line_start = TRUE;
  }
  if (terminate && out->len > 0 &&
      (out->len < 2 || out->str[out->len - 2] != '\r' ||
       out->str[out->len - 1] != '\n'))
    g_string_append(out, "\r\n");
  return g_string_free_to_bytes(out);
}

gboolean
mm_wire_is_8bit(GBytes *data)
{
  gsize len = 0;
  const guchar *p = g_bytes_get_data(data, &len);
  for (gsize i = 0; i < len; i++)
    if (p[i] >= 0x80)
      return TRUE;
  return FALSE;
}

/* ---- header edits ------------------------------------------------------ */

/* One field of a header block: [start, end) covers its first line and its
 * continuation lines, line ends included. */
typedef struct {
  gsize start;
  gsize end;
  gsize name_len; /* up to the colon; 0 for a line that is not a field */
} Field;

/* Splits the header block into fields; *fields_end_out is where the empty
 * separator line (or the end) starts. */
static GArray *
fields_of(const char *data, gsize len, gsize *fields_end_out)
{
  GArray *fields = g_array_new(FALSE, FALSE, sizeof(Field));
  gsize pos = 0;

  while (pos < len) {
    if (data[pos] == '\n' ||
        (data[pos] == '\r' && pos + 1 < len && data[pos + 1] == '\n'))
      break; /* the empty line */
    const char *nl = memchr(data + pos, '\n', len - pos);
    gsize line_end = nl ? (gsize)(nl - data) + 1 : len;
    if ((data[pos] == ' ' || data[pos] == '\t') && fields->len > 0) {
      g_array_index(fields, Field, fields->len - 1).end = line_end;
    } else {
      Field f = {pos, line_end, 0};
      const char *colon = memchr(data + pos, ':', line_end - pos);
      if (colon != NULL)
        f.name_len = (gsize)(colon - (data + pos));
      g_array_append_val(fields, f);
    }
    pos = line_end;
  }
  *fields_end_out = pos;
  return fields;
}

static gboolean
field_is(const char *data, const Field *f, const char *name)
{
  gsize n = strlen(name);
  gsize len = f->name_len;
  /* "Name :" is tolerated by Python's parser; compare without the spaces. */
  while (len > 0 && (data[f->start + len - 1] == ' ' ||
                     data[f->start + len - 1] == '\t'))
    len--;
  return len == n && g_ascii_strncasecmp(data + f->start, name, n) == 0;
}

static const char *
line_ending(const char *data, gsize len)
{
  const char *nl = memchr(data, '\n', len);
  return nl != NULL && nl > data && nl[-1] == '\r' ? "\r\n" : "\n";
}

typedef enum { EDIT_REMOVE, EDIT_REPLACE, EDIT_APPEND } EditKind;

static GBytes *
edit(GBytes *head, EditKind kind, const char *name, const char *value)
{
  gsize len = 0;
  const char *data = g_bytes_get_data(head, &len);
  gsize fields_end = 0;
  g_autoptr(GArray) fields = fields_of(data, len, &fields_end);
  const char *eol = line_ending(data, len);
  GString *out = g_string_sized_new(len + 128);
  gboolean done = FALSE;

  for (guint i = 0; i < fields->len; i++) {
    const Field *f = &g_array_index(fields, Field, i);
    if (f->name_len > 0 && field_is(data, f, name)) {
      if (kind == EDIT_REMOVE)
        continue;
      if (kind == EDIT_REPLACE && !done) {
        g_string_append_len(out, data + f->start, f->name_len);
        g_string_append_printf(out, ": %s%s", value, eol);
        done = TRUE;
        continue;
      }
    }
    g_string_append_len(out, data + f->start, f->end - f->start);
  }
  if (kind == EDIT_APPEND || (kind == EDIT_REPLACE && !done)) {
    /* A last field without a line end (a message that is all header)
     * gets one before the new field. */
    if (out->len > 0 && out->str[out->len - 1] != '\n')
      g_string_append(out, eol);
    g_string_append_printf(out, "%s: %s%s", name, value, eol);
  }
  g_string_append_len(out, data + fields_end, len - fields_end);
  return g_string_free_to_bytes(out);
}

GBytes *
mm_wire_header_remove(GBytes *head, const char *name)
{
  return edit(head, EDIT_REMOVE, name, NULL);
}

GBytes *
mm_wire_header_replace(GBytes *head, const char *name, const char *value)
{
  return edit(head, EDIT_REPLACE, name, value);
}

GBytes *
mm_wire_header_append(GBytes *head, const char *name, const char *value)
{
  return edit(head, EDIT_APPEND, name, value);
}
