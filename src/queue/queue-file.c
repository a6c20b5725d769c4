/* The queue-file format: framing, checksum, caps.  docs/queue-format.md is
 * the description for humans; this file is the only code that knows it.
 *
 *   MMQ1\n
 *   meta <decimal length>\n
 *   <metadata JSON, keys sorted, compact>\n
 *   message <decimal length>\n
 *   <message bytes exactly as enqueued>\n
 *   end sha1 <40 lowercase hex>\n
 *
 * The SHA-1 covers every byte before the "end" line.  Invariant: a reader
 * accepts a file only if every length is within its cap and within the
 * file, every separator is where the lengths say, the trailer is the last
 * line and the checksum matches.  So a file cut short at any byte, or with
 * any byte changed, is refused (Postfix's end record, with a checksum added
 * because we cannot trust a crashed disk's contents either).  SHA-1 guards
 * against accidents, not attackers: only the mailman user writes here.
 *
 * What this file does not do: naming, directories, claiming (queue.c).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "queue-private.h"

#include "base-error.h"
#include "base-file.h"

#include <string.h>

#define MAGIC_LINE "MMQ1\n"
#define META_PREFIX "meta "
#define MESSAGE_PREFIX "message "
#define TRAILER_PREFIX "end sha1 "
#define SHA1_HEX_LEN 40
/* Entries are readable by the mailman group (Mailman creates queue
 * directories 0770 and relies on its umask 007). */
#define QUEUE_FILE_MODE 0660

void
mm_queue_error_propagate(GError **dest, GError *src,
                         MmQueueError not_found_code)
{
  MmQueueError code = MM_QUEUE_ERROR_IO;

  if (src == NULL)
    return;
  if (src->domain == MM_ERROR) {
    switch (src->code) {
    case MM_ERROR_NO_SPACE:
      code = MM_QUEUE_ERROR_NO_SPACE;
      break;
    case MM_ERROR_NOT_FOUND:
      code = not_found_code;
      break;
    case MM_ERROR_TOO_LARGE:
      code = MM_QUEUE_ERROR_CORRUPT;
      break;
    default:
      code = MM_QUEUE_ERROR_IO;
      break;
    }
  } else if (src->domain == MM_QUEUE_ERROR) {
    code = (MmQueueError)src->code;
  }
  g_set_error_literal(dest, MM_QUEUE_ERROR, code, src->message);
  g_error_free(src);
}

gsize
mm_queue_parts_size(GBytes *const *parts, guint n_parts)
{
  gsize total = 0;
  for (guint i = 0; i < n_parts; i++)
    total += g_bytes_get_size(parts[i]);
  return total;
}

gboolean
mm_queue_file_write(const char *path, GBytes *message, const json_t *meta,
                    GError **error)
{
  return mm_queue_file_write_parts(path, &message, 1, meta, error);
}

gboolean
mm_queue_file_write_parts(const char *path, GBytes *const *message_parts,
                          guint n_message_parts, const json_t *meta,
                          GError **error)
{
  gsize message_len = mm_queue_parts_size(message_parts, n_message_parts);
  GError *local = NULL;

  g_return_val_if_fail(n_message_parts <= MM_QUEUE_MAX_PARTS, FALSE);
  if (message_len > MM_QUEUE_MAX_MESSAGE_LEN) {
    g_set_error(error, MM_QUEUE_ERROR, MM_QUEUE_ERROR_INVALID,
                "%s: message of %" G_GSIZE_FORMAT
                " bytes is over the queue cap of %u",
                path, message_len, MM_QUEUE_MAX_MESSAGE_LEN);
    return FALSE;
  }
  if (!json_is_object(meta)) {
    g_set_error(error, MM_QUEUE_ERROR, MM_QUEUE_ERROR_INVALID,
                "%s: metadata is not a JSON object", path);
    return FALSE;
  }
  /* Serialise before creating anything, so that the common failures leave
   * nothing behind at all. */
  g_autofree char *meta_text =
      json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
  if (meta_text == NULL) {
    g_set_error(error, MM_QUEUE_ERROR, MM_QUEUE_ERROR_INVALID,
                "%s: metadata cannot be serialised", path);
    return FALSE;
  }
  gsize meta_len = strlen(meta_text);
  if (meta_len > MM_QUEUE_MAX_META_LEN) {
    g_set_error(error, MM_QUEUE_ERROR, MM_QUEUE_ERROR_INVALID,
                "%s: metadata of %" G_GSIZE_FORMAT
                " bytes is over the queue cap of %u",
                path, meta_len, MM_QUEUE_MAX_META_LEN);
    return FALSE;
  }

  /* Written with one system call: everything before the message, the
   * message's pieces themselves (not copied), and the rest. */
  g_autoptr(GString) before = g_string_sized_new(meta_len + 64);
  g_string_append_printf(before, MAGIC_LINE META_PREFIX "%" G_GSIZE_FORMAT "\n",
                         meta_len);
  g_string_append_len(before, meta_text, (gssize)meta_len);
  g_string_append_printf(before, "\n" MESSAGE_PREFIX "%" G_GSIZE_FORMAT "\n",
                         message_len);
  g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA1);
  g_checksum_update(sum, (const guchar *)before->str, (gssize)before->len);
  for (guint i = 0; i < n_message_parts; i++) {
    gsize len = 0;
    const guchar *data = g_bytes_get_data(message_parts[i], &len);
    if (len > 0)
      g_checksum_update(sum, data, (gssize)len);
  }
  g_checksum_update(sum, (const guchar *)"\n", 1);
  g_autofree char *after = g_strdup_printf("\n" TRAILER_PREFIX "%s\n",
                                           g_checksum_get_string(sum));

  g_autoptr(GBytes) before_bytes = g_bytes_new_static(before->str, before->len);
  g_autoptr(GBytes) after_bytes = g_bytes_new_static(after, strlen(after));
  const GBytes *parts[MM_QUEUE_MAX_PARTS + 2];
  guint n_parts = 0;
  parts[n_parts++] = before_bytes;
  for (guint i = 0; i < n_message_parts; i++)
    parts[n_parts++] = message_parts[i];
  parts[n_parts++] = after_bytes;
  g_autoptr(MmAtomicFile) file =
      mm_atomic_file_new(path, QUEUE_FILE_MODE, &local);
  if (file == NULL) {
    mm_queue_error_propagate(error, local, MM_QUEUE_ERROR_IO);
    return FALSE;
  }
  if (!mm_atomic_file_write_parts(file, parts, n_parts, &local) ||
      !mm_atomic_file_commit(file, &local)) {
    mm_queue_error_propagate(error, local, MM_QUEUE_ERROR_IO);
    return FALSE; /* the autoptr unlinks the temporary file */
  }
  return TRUE;
}

/* A cursor over the file bytes.  Every take_* checks the remaining length
 * before looking, so no read goes past the end whatever the file says. */
typedef struct {
  const char *data;
  gsize len;
  gsize pos;
} Cursor;

static gboolean
take_literal(Cursor *c, const char *literal)
{
  gsize n = strlen(literal);

  if (c->len - c->pos < n || memcmp(c->data + c->pos, literal, n) != 0)
    return FALSE;
  c->pos += n;
  return TRUE;
}

/* "<prefix><decimal>\n" with a canonical decimal (no sign, no leading zero,
 * at most 10 digits), at most @cap, and fitting in what is left of the file
 * together with the newline that follows the block. */
static gboolean
take_length(Cursor *c, const char *prefix, gsize cap, gsize *len_out)
{
  guint64 value = 0;
  int digits = 0;

  if (!take_literal(c, prefix))
    return FALSE;
  while (c->pos < c->len && g_ascii_isdigit(c->data[c->pos])) {
    if (digits == 10 || (digits == 1 && value == 0))
      return FALSE;
    value = value * 10 + (guint64)(c->data[c->pos] - '0');
    digits++;
    c->pos++;
  }
  if (digits == 0 || !take_literal(c, "\n"))
    return FALSE;
  if (value > cap || value >= c->len - c->pos)
    return FALSE;
  *len_out = (gsize)value;
  return TRUE;
}

gboolean
mm_queue_file_parse(GBytes *data, const char *what, GBytes **message_out,
                    json_t **meta_out, GError **error)
{
  Cursor c = {0};
  gsize meta_len = 0, meta_pos, message_len = 0, message_pos, trailer_pos;
  const char *reason = NULL;

  c.data = g_bytes_get_data(data, &c.len);
  if (c.data == NULL)
    c.data = "";

  if (!take_literal(&c, MAGIC_LINE)) {
    reason = "no MMQ1 magic line";
    goto corrupt;
  }
  if (!take_length(&c, META_PREFIX, MM_QUEUE_MAX_META_LEN, &meta_len)) {
    reason = "bad metadata length line";
    goto corrupt;
  }
  meta_pos = c.pos;
  c.pos += meta_len;
  if (!take_literal(&c, "\n") ||
      !take_length(&c, MESSAGE_PREFIX, MM_QUEUE_MAX_MESSAGE_LEN,
                   &message_len)) {
    reason = "bad message length line";
    goto corrupt;
  }
  message_pos = c.pos;
  c.pos += message_len;
  if (!take_literal(&c, "\n")) {
    reason = "message not followed by a newline";
    goto corrupt;
  }
  trailer_pos = c.pos;
  if (!take_literal(&c, TRAILER_PREFIX) ||
      c.len - c.pos != SHA1_HEX_LEN + 1 || c.data[c.len - 1] != '\n') {
    reason = "no end trailer (truncated?)";
    goto corrupt;
  }
  {
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA1);
    g_checksum_update(sum, (const guchar *)c.data, (gssize)trailer_pos);
    if (memcmp(g_checksum_get_string(sum), c.data + c.pos, SHA1_HEX_LEN) !=
        0) {
      reason = "checksum mismatch";
      goto corrupt;
    }
  }

  json_error_t jerr;
  json_t *meta = json_loadb(c.data + meta_pos, meta_len,
                            JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
  if (meta == NULL) {
    g_set_error(error, MM_QUEUE_ERROR, MM_QUEUE_ERROR_CORRUPT,
                "%s: metadata is not valid JSON: %s", what, jerr.text);
    return FALSE;
  }
  if (!json_is_object(meta)) {
    json_decref(meta);
    reason = "metadata is not a JSON object";
    goto corrupt;
  }
  *meta_out = meta;
  *message_out = g_bytes_new_from_bytes(data, message_pos, message_len);
  return TRUE;

corrupt:
  g_set_error(error, MM_QUEUE_ERROR, MM_QUEUE_ERROR_CORRUPT, "%s: %s", what,
              reason);
  return FALSE;
}

gboolean
mm_queue_file_load(const char *path, GBytes **message_out, json_t **meta_out,
                   GError **error)
{
  GError *local = NULL;
  g_autoptr(GBytes) data =
      mm_file_read_bounded(path, MM_QUEUE_MAX_FILE_LEN, &local);

  if (data == NULL) {
    mm_queue_error_propagate(error, local, MM_QUEUE_ERROR_GONE);
    return FALSE;
  }
  return mm_queue_file_parse(data, path, message_out, meta_out, error);
}

gboolean
mm_queue_file_read(const char *path, GBytes **message_out, json_t **meta_out,
                   GError **error)
{
  g_return_val_if_fail(path != NULL && message_out != NULL && meta_out != NULL,
                       FALSE);
  return mm_queue_file_load(path, message_out, meta_out, error);
}
