/* The header block of a raw message: scanning it into fields, looking a
 * field up, and the defect check of Mailman 3's LMTP runner.
 *
 * The scanner follows the line classes of Python's email.feedparser (the
 * parser Mailman 3 uses), so that "which lines are headers" and "is this
 * message defective" get Mailman's answers; message.h lists where we
 * deliberately differ.  It never copies or changes the message: fields are
 * offsets into the caller's bytes.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "message.h"
#include "message-private.h"

#define MM_WITH_GMIME
#include "mm-autocleanups.h"

#include <string.h>

/* The end of the line starting at @pos: just after its LF, or @len. */
static gsize
line_end(const char *data, gsize len, gsize pos)
{
  const char *nl = memchr(data + pos, '\n', len - pos);

  return nl != NULL ? (gsize)(nl - data) + 1 : len;
}

/* An empty line: "\n", "\r\n", or a lone "\r" at the very end. */
static gboolean
line_is_empty(const char *data, gsize start, gsize end)
{
  gsize n = end - start;

  if (n == 1)
    return data[start] == '\n' || data[start] == '\r';
  return n == 2 && data[start] == '\r' && data[start + 1] == '\n';
}

/* Python's headerRE field part: [\041-\071\073-\176]*: at the line start.
 * Returns the name length (possibly 0) or -1 when the line is no field. */
static gssize
field_name_len(const char *data, gsize start, gsize end)
{
  for (gsize i = start; i < end; i++) {
    guchar ch = (guchar)data[i];
    if (ch == ':')
      return (gssize)(i - start);
    if (ch < 33 || ch > 126)
      return -1;
  }
  return -1;
}

void
mm_header_block_scan(MmHeaderBlock *block, const char *data, gsize len)
{
  gsize pos = 0;
  gsize line_no = 0;

  memset(block, 0, sizeof *block);
  block->data = data != NULL ? data : "";
  block->len = data != NULL ? len : 0;
  block->fields = g_array_new(FALSE, FALSE, sizeof(MmHeaderField));
  data = block->data;
  len = block->len;

  {
    const char *nl = memchr(data, '\n', len);
    block->crlf = nl != NULL && nl > data && nl[-1] == '\r';
  }

  while (pos < len) {
    gsize end = line_end(data, len, pos);
    char first = data[pos];
    MmHeaderField *last =
        block->fields->len > 0
            ? &g_array_index(block->fields, MmHeaderField,
                             block->fields->len - 1)
            : NULL;

    line_no++;
    if (line_is_empty(data, pos, end))
      break;
    if (first == ' ' || first == '\t') {
      /* A continuation belongs to the field before it; with no field
       * before it (or only the envelope line), it is an orphan. */
      if (last != NULL && last->kind != MM_HEADER_FIELD_UNIX_FROM) {
        last->end = end;
      } else {
        MmHeaderField f = {MM_HEADER_FIELD_ORPHAN, pos, end, 0};
        g_array_append_val(block->fields, f);
      }
    } else if (end - pos >= 5 && memcmp(data + pos, "From ", 5) == 0) {
      MmHeaderField f = {pos == 0 ? MM_HEADER_FIELD_UNIX_FROM
                                  : MM_HEADER_FIELD_MISPLACED_FROM,
                         pos, end, 0};
      g_array_append_val(block->fields, f);
    } else {
      gssize name_len = field_name_len(data, pos, end);
      if (name_len < 0) {
        /* Python's MissingHeaderBodySeparatorDefect: the body starts here. */
        block->ended_by_garbage = TRUE;
        block->garbage_line = line_no;
        break;
      }
      MmHeaderField f = {name_len == 0 ? MM_HEADER_FIELD_EMPTY_NAME
                                       : MM_HEADER_FIELD_NAMED,
                         pos, end, (gsize)name_len};
      g_array_append_val(block->fields, f);
    }
    pos = end;
  }
  block->headers_end = pos;
}

void
mm_header_block_clear(MmHeaderBlock *block)
{
  g_clear_pointer(&block->fields, g_array_unref);
}

const MmHeaderField *
mm_header_block_find(const MmHeaderBlock *block, const char *name)
{
  gsize name_len = strlen(name);

  for (guint i = 0; i < block->fields->len; i++) {
    const MmHeaderField *f =
        &g_array_index(block->fields, MmHeaderField, i);
    if (f->kind == MM_HEADER_FIELD_NAMED && f->name_len == name_len &&
        g_ascii_strncasecmp(block->data + f->start, name, name_len) == 0)
      return f;
  }
  return NULL;
}

char *
mm_header_field_value_unfolded(const MmHeaderBlock *block,
                               const MmHeaderField *field)
{
  const char *data = block->data;
  GString *out = g_string_sized_new(field->end - field->start);

  for (gsize i = field->start + field->name_len + 1; i < field->end; i++) {
    /* Unfolding (RFC 5322 2.2.3) removes the line breaks only; the
     * whitespace that starts each continuation line stays. */
    if (data[i] == '\n' || data[i] == '\0')
      continue;
    if (data[i] == '\r' && i + 1 < field->end && data[i + 1] == '\n')
      continue;
    g_string_append_c(out, data[i]);
  }
  /* A lone CR at the very end is a line ending too. */
  gsize start = 0, stop = out->len;
  while (start < stop && (out->str[start] == ' ' || out->str[start] == '\t'))
    start++;
  while (stop > start &&
         (out->str[stop - 1] == ' ' || out->str[stop - 1] == '\t' ||
          out->str[stop - 1] == '\r'))
    stop--;
  char *value = g_strndup(out->str + start, stop - start);
  g_string_free(out, TRUE);
  return value;
}

char *
mm_header_field_value_raw(const MmHeaderBlock *block,
                          const MmHeaderField *field, gsize *len_out)
{
  const char *data = block->data;
  gsize start = field->start + field->name_len + 1;
  gsize stop = field->end;

  /* compat32 header_source_parse: value.lstrip(' \t') on the text after
   * the colon, then rstrip('\r\n') on the whole value. */
  while (start < stop && (data[start] == ' ' || data[start] == '\t'))
    start++;
  while (stop > start && (data[stop - 1] == '\r' || data[stop - 1] == '\n'))
    stop--;
  *len_out = stop - start;
  return g_strndup(data + start, stop - start);
}

gboolean
mm_message_header_get(GBytes *raw, const char *name, char **value_out)
{
  gsize len = 0;
  const char *data = g_bytes_get_data(raw, &len);
  MmHeaderBlock block;

  g_return_val_if_fail(name != NULL, FALSE);
  mm_header_block_scan(&block, data, len);
  const MmHeaderField *field = mm_header_block_find(&block, name);
  if (field != NULL && value_out != NULL)
    *value_out = mm_header_field_value_unfolded(&block, field);
  mm_header_block_clear(&block);
  return field != NULL;
}

/* ------------------------------------------------------------------ */
/* Defects */

void
mm_message_gmime_init(void)
{
  static gsize done = 0;

  if (g_once_init_enter(&done)) {
    g_mime_init();
    g_once_init_leave(&done, 1);
  }
}

/* Python's Message.get_content_maintype() of the first Content-Type:
 * the part before ';', stripped, lower-cased; anything without exactly one
 * '/' counts as text/plain. */
static gboolean
is_multipart(const char *raw_value)
{
  g_autofree char *type = g_strdup(raw_value);
  char *semicolon = strchr(type, ';');

  if (semicolon != NULL)
    *semicolon = '\0';
  g_strstrip(type);
  char *slash = strchr(type, '/');
  if (slash == NULL || strchr(slash + 1, '/') != NULL)
    return FALSE;
  *slash = '\0';
  return g_ascii_strcasecmp(type, "multipart") == 0;
}

/* Does the line [start, end) match Python's boundary pattern
 * "--B(--)?[ \t]*(\r\n|\r|\n)?$"?  Sets @close_out for "--B--". */
static gboolean
is_boundary_line(const char *data, gsize start, gsize end,
                 const char *boundary, gsize boundary_len,
                 gboolean *close_out)
{
  gsize pos = start;

  if (end > start && data[end - 1] == '\n')
    end--;
  if (end > start && data[end - 1] == '\r')
    end--;
  if (end - pos < 2 + boundary_len || data[pos] != '-' ||
      data[pos + 1] != '-' ||
      memcmp(data + pos + 2, boundary, boundary_len) != 0)
    return FALSE;
  pos += 2 + boundary_len;
  *close_out = end - pos >= 2 && data[pos] == '-' && data[pos + 1] == '-';
  if (*close_out)
    pos += 2;
  while (pos < end && (data[pos] == ' ' || data[pos] == '\t'))
    pos++;
  return pos == end;
}

static gboolean
check_multipart(const MmHeaderBlock *block, char **reason_out)
{
  const MmHeaderField *ct = mm_header_block_find(block, "Content-Type");
  gsize raw_len = 0;

  if (ct == NULL)
    return TRUE;
  g_autofree char *raw_type = mm_header_field_value_raw(block, ct, &raw_len);
  if (!is_multipart(raw_type))
    return TRUE;

  mm_message_gmime_init();
  g_autofree char *unfolded = mm_header_field_value_unfolded(block, ct);
  GMimeContentType *type = g_mime_content_type_parse(NULL, unfolded);
  g_autofree char *boundary =
      type != NULL
          ? g_strdup(g_mime_content_type_get_parameter(type, "boundary"))
          : NULL;
  g_clear_object(&type);
  if (boundary == NULL) {
    *reason_out = g_strdup("multipart without a boundary parameter");
    return FALSE;
  }
  g_strchomp(boundary); /* Python's get_boundary() rstrips */

  const MmHeaderField *cte =
      mm_header_block_find(block, "Content-Transfer-Encoding");
  if (cte != NULL) {
    g_autofree char *raw_cte = mm_header_field_value_raw(block, cte, &raw_len);
    g_autofree char *lower = g_ascii_strdown(raw_cte, -1);
    if (strcmp(lower, "7bit") != 0 && strcmp(lower, "8bit") != 0 &&
        strcmp(lower, "binary") != 0) {
      *reason_out = g_strdup("multipart with a Content-Transfer-Encoding "
                             "other than 7bit, 8bit or binary");
      return FALSE;
    }
  }

  /* The body starts after the empty line, or at the line that ended the
   * header block.  Nested parts with other boundaries cannot match. */
  const char *data = block->data;
  gsize len = block->len;
  gsize pos = block->headers_end;
  gsize boundary_len = strlen(boundary);
  gboolean seen_start = FALSE;
  if (!block->ended_by_garbage && pos < len)
    pos = line_end(data, len, pos);
  while (pos < len) {
    gsize end = line_end(data, len, pos);
    gboolean close = FALSE;
    if (is_boundary_line(data, pos, end, boundary, boundary_len, &close)) {
      if (close) {
        if (!seen_start)
          break;
        return TRUE;
      }
      seen_start = TRUE;
    }
    pos = end;
  }
  *reason_out = g_strdup(seen_start ? "multipart close boundary not found"
                                    : "multipart start boundary not found");
  return FALSE;
}

gboolean
mm_message_defects_check(GBytes *raw, char **reason_out)
{
  gsize len = 0;
  const char *data = g_bytes_get_data(raw, &len);
  MmHeaderBlock block;
  char *reason = NULL;

  mm_header_block_scan(&block, data, len);
  if (memchr(block.data, '\0', block.headers_end) != NULL)
    reason = g_strdup("NUL byte in the header block");
  for (guint i = 0; reason == NULL && i < block.fields->len; i++) {
    const MmHeaderField *f = &g_array_index(block.fields, MmHeaderField, i);
    switch (f->kind) {
    case MM_HEADER_FIELD_ORPHAN:
      reason = g_strdup("first header line is a continuation line");
      break;
    case MM_HEADER_FIELD_MISPLACED_FROM:
      reason = g_strdup("misplaced envelope \"From \" line in the headers");
      break;
    case MM_HEADER_FIELD_EMPTY_NAME:
      reason = g_strdup("header field with an empty name");
      break;
    case MM_HEADER_FIELD_NAMED:
    case MM_HEADER_FIELD_UNIX_FROM:
      break;
    }
  }
  if (reason == NULL && block.ended_by_garbage)
    reason = g_strdup_printf("line %" G_GSIZE_FORMAT
                             " is not a header field (missing header/body "
                             "separator)",
                             block.garbage_line);
  if (reason == NULL)
    check_multipart(&block, &reason);
  mm_header_block_clear(&block);

  if (reason == NULL)
    return TRUE;
  if (reason_out != NULL)
    *reason_out = reason;
  else
    g_free(reason);
  return FALSE;
}
