/* Intake edits (what Mailman 3's LMTP runner and `mailman inject` change
 * before they queue a message) and the Message-ID helpers they use.
 *
 * Invariant: the output is the input with fields removed from and added to
 * the header block only; every other byte, the body in particular, is the
 * input's, in order.  We never re-serialise through GMime, which would
 * re-fold headers and re-encode parts.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "message.h"
#include "message-private.h"

#include "base-error.h"

#include <string.h>
#include <unistd.h>

/* RFC 5321 caps a reverse path at 256 octets; we allow more (the LMTP
 * module enforces its own limit) but keep the X-MailFrom line under the
 * 998-octet line limit of RFC 5322. */
#define ENVELOPE_SENDER_MAX 900

static const char base32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/* RFC 4648 base32 of 20 bytes: 160 bits, exactly 32 characters, so no
 * padding. */
static void
base32_encode_sha1(const guint8 digest[20], char out[MM_MESSAGE_ID_HASH_LEN + 1])
{
  guint64 buffer = 0;
  int bits = 0;
  int n = 0;

  for (int i = 0; i < 20; i++) {
    buffer = (buffer << 8) | digest[i];
    bits += 8;
    while (bits >= 5) {
      out[n++] = base32_alphabet[(buffer >> (bits - 5)) & 0x1f];
      bits -= 5;
    }
  }
  g_assert(bits == 0 && n == MM_MESSAGE_ID_HASH_LEN);
  out[n] = '\0';
}

/* Python's str.strip() whitespace, ASCII part: space, \t \n \v \f \r and
 * the separators \x1c-\x1f.  XXX: Unicode spaces (U+00A0, U+2000...) are
 * not stripped; a Message-ID ending in one is not worth the code. */
static gboolean
is_python_space(guchar ch)
{
  return ch == ' ' || (ch >= '\t' && ch <= '\r') || (ch >= 0x1c && ch <= 0x1f);
}

static char *
id_hash_of(const char *value, gsize len)
{
  gsize start = 0, stop = len;

  /* mailman/utilities/email.py add_message_hash: brackets off when both are
   * there, else whitespace off (and a bracket at one end stays). */
  if (len >= 1 && value[0] == '<' && value[len - 1] == '>') {
    start = 1;
    stop = len >= 2 ? len - 1 : 1;
  } else {
    while (start < stop && is_python_space((guchar)value[start]))
      start++;
    while (stop > start && is_python_space((guchar)value[stop - 1]))
      stop--;
  }

  guint8 digest[20];
  gsize digest_len = sizeof digest;
  char out[MM_MESSAGE_ID_HASH_LEN + 1];
  g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA1);
  g_checksum_update(sum, (const guchar *)value + start, (gssize)(stop - start));
  g_checksum_get_digest(sum, digest, &digest_len);
  base32_encode_sha1(digest, out);
  return g_strdup(out);
}

char *
mm_message_id_hash(const char *message_id)
{
  g_return_val_if_fail(message_id != NULL, NULL);
  return id_hash_of(message_id, strlen(message_id));
}

static gboolean
host_valid(const char *host)
{
  if (host == NULL || host[0] == '\0' || strlen(host) > 255)
    return FALSE;
  for (const char *p = host; *p != '\0'; p++) {
    guchar ch = (guchar)*p;
    if (ch <= ' ' || ch == 127 || strchr("<>@\"(),;:\\", ch) != NULL)
      return FALSE;
  }
  return TRUE;
}

char *
mm_message_id_new(const char *host, GError **error)
{
  if (host == NULL)
    host = g_get_host_name();
  if (!host_valid(host)) {
    g_set_error(error, MM_ERROR, MM_ERROR_INVALID,
                "\"%s\" cannot be the domain of a Message-ID", host);
    return NULL;
  }
  /* Like Python's email.utils.make_msgid(): time, process, randomness.
   * The microsecond clock and 64 random bits make a collision within one
   * host practically impossible even across forks. */
  return g_strdup_printf("<%" G_GINT64_FORMAT ".%ld.%08x%08x@%s>",
                         g_get_real_time(), (long)getpid(), g_random_int(),
                         g_random_int(), host);
}

static gboolean
field_named(const MmHeaderBlock *block, const MmHeaderField *field,
            const char *name)
{
  gsize name_len = strlen(name);

  return field->kind == MM_HEADER_FIELD_NAMED && field->name_len == name_len &&
         g_ascii_strncasecmp(block->data + field->start, name, name_len) == 0;
}

static void
append_field(GByteArray *out, const char *name, const char *value,
             const char *eol)
{
  g_byte_array_append(out, (const guint8 *)name, (guint)strlen(name));
  g_byte_array_append(out, (const guint8 *)": ", 2);
  g_byte_array_append(out, (const guint8 *)value, (guint)strlen(value));
  g_byte_array_append(out, (const guint8 *)eol, (guint)strlen(eol));
}

/* Python's email.utils.formatdate(localtime=True): English day and month
 * names whatever the locale (GDateTime's %a and %b follow the locale). */
static char *
format_date_now(void)
{
  static const char *const days[] = {"Mon", "Tue", "Wed", "Thu",
                                     "Fri", "Sat", "Sun"};
  static const char *const months[] = {"Jan", "Feb", "Mar", "Apr",
                                       "May", "Jun", "Jul", "Aug",
                                       "Sep", "Oct", "Nov", "Dec"};
  g_autoptr(GDateTime) now = g_date_time_new_now_local();
  gint64 offset_min = g_date_time_get_utc_offset(now) / G_TIME_SPAN_MINUTE;
  char sign = offset_min < 0 ? '-' : '+';

  if (offset_min < 0)
    offset_min = -offset_min;
  return g_strdup_printf(
      "%s, %02d %s %04d %02d:%02d:%02d %c%02d%02d",
      days[g_date_time_get_day_of_week(now) - 1],
      g_date_time_get_day_of_month(now),
      months[g_date_time_get_month(now) - 1], g_date_time_get_year(now),
      g_date_time_get_hour(now), g_date_time_get_minute(now),
      g_date_time_get_second(now), sign, (int)(offset_min / 60),
      (int)(offset_min % 60));
}

/* The shared edit: @envelope_sender NULL means no X-MailFrom (inject);
 * @add_date adds Date when missing (inject).  Returns the new header
 * block; the message continues with @raw from *@body_offset_out on,
 * unchanged. */
static GBytes *
prepare_head(GBytes *raw, const char *envelope_sender, gboolean add_date,
             const char *host_for_msgid, char **message_id_out,
             gsize *body_offset_out, GError **error)
{
  gsize len = 0;
  const char *data = g_bytes_get_data(raw, &len);
  MmHeaderBlock block;

  mm_header_block_scan(&block, data, len);
  const char *eol = block.crlf ? "\r\n" : "\n";
  GByteArray *out = g_byte_array_sized_new((guint)MIN(len + 512, G_MAXUINT));
  gboolean need_eol = FALSE;

  /* Copy the header fields we keep, in order.  Removing a field removes
   * its continuation lines with it. */
  for (guint i = 0; i < block.fields->len; i++) {
    const MmHeaderField *f = &g_array_index(block.fields, MmHeaderField, i);
    if (f->kind == MM_HEADER_FIELD_UNIX_FROM ||
        field_named(&block, f, "Message-ID-Hash") ||
        field_named(&block, f, "X-Message-ID-Hash"))
      continue;
    g_byte_array_append(out, (const guint8 *)data + f->start,
                        (guint)(f->end - f->start));
    /* Only the last line of the data can lack its LF. */
    need_eol = data[f->end - 1] != '\n';
  }
  if (need_eol)
    g_byte_array_append(out, (const guint8 *)eol, (guint)strlen(eol));

  g_autofree char *message_id = NULL;
  g_autofree char *hash = NULL;
  const MmHeaderField *id_field = mm_header_block_find(&block, "Message-ID");
  if (id_field != NULL) {
    gsize raw_len = 0;
    g_autofree char *raw_id =
        mm_header_field_value_raw(&block, id_field, &raw_len);
    hash = id_hash_of(raw_id, raw_len);
    message_id = mm_header_field_value_unfolded(&block, id_field);
  } else {
    /* lmtp.py adds one before hashing (Mailman issues 448 and 490: DSNs
     * and phone clients without a Message-ID). */
    message_id = mm_message_id_new(host_for_msgid, error);
    if (message_id == NULL) {
      g_byte_array_unref(out);
      mm_header_block_clear(&block);
      return NULL;
    }
    append_field(out, "Message-ID", message_id, eol);
    hash = mm_message_id_hash(message_id);
  }
  append_field(out, "Message-ID-Hash", hash, eol);
  append_field(out, "X-Message-ID-Hash", hash, eol);
  if (add_date && mm_header_block_find(&block, "Date") == NULL) {
    g_autofree char *date = format_date_now();
    append_field(out, "Date", date, eol);
  }
  if (envelope_sender != NULL)
    append_field(out, "X-MailFrom", envelope_sender, eol);

  /* Python ended the headers at a non-field line and will write an empty
   * line before the body when it serialises; so do we, once. */
  if (block.ended_by_garbage)
    g_byte_array_append(out, (const guint8 *)eol, (guint)strlen(eol));
  /* The separator and the body follow byte for byte. */
  *body_offset_out = block.headers_end;
  mm_header_block_clear(&block);

  if (message_id_out != NULL)
    *message_id_out = g_steal_pointer(&message_id);
  return g_byte_array_free_to_bytes(out);
}

/* The whole message: the new head, then @raw from @body_offset on. */
static GBytes *
join_head(GBytes *head, GBytes *raw, gsize body_offset)
{
  if (head == NULL)
    return NULL;
  gsize raw_len = 0;
  const guint8 *raw_data = g_bytes_get_data(raw, &raw_len);
  gsize head_len = 0;
  const guint8 *head_data = g_bytes_get_data(head, &head_len);
  GByteArray *out =
      g_byte_array_sized_new((guint)(head_len + raw_len - body_offset));
  g_byte_array_append(out, head_data, (guint)head_len);
  g_byte_array_append(out, raw_data + body_offset,
                      (guint)(raw_len - body_offset));
  g_bytes_unref(head);
  return g_byte_array_free_to_bytes(out);
}

/* Mailman's own bound on what it writes after "X-MailFrom: ". */
static gboolean
envelope_sender_usable(const char *envelope_sender, GError **error)
{
  /* The sender comes from the peer's MAIL FROM: a CR or LF in it would let
   * the peer write header fields of its choosing. */
  if (strpbrk(envelope_sender, "\r\n") != NULL ||
      strlen(envelope_sender) > ENVELOPE_SENDER_MAX) {
    g_set_error(error, MM_ERROR, MM_ERROR_INVALID,
                "envelope sender unusable in an X-MailFrom header");
    return FALSE;
  }
  return TRUE;
}

GBytes *
mm_message_intake_prepare_head(GBytes *raw, const char *envelope_sender,
                               const char *host_for_msgid,
                               char **message_id_out, gsize *body_offset_out,
                               GError **error)
{
  g_return_val_if_fail(raw != NULL && envelope_sender != NULL, NULL);
  if (!envelope_sender_usable(envelope_sender, error))
    return NULL;
  return prepare_head(raw, envelope_sender, FALSE, host_for_msgid,
                      message_id_out, body_offset_out, error);
}

GBytes *
mm_message_intake_prepare(GBytes *raw, const char *envelope_sender,
                          const char *host_for_msgid, char **message_id_out,
                          GError **error)
{
  gsize body_offset = 0;
  GBytes *head = mm_message_intake_prepare_head(
      raw, envelope_sender, host_for_msgid, message_id_out, &body_offset,
      error);
  return join_head(head, raw, body_offset);
}

GBytes *
mm_message_inject_prepare(GBytes *raw, const char *host_for_msgid,
                          char **message_id_out, GError **error)
{
  g_return_val_if_fail(raw != NULL, NULL);
  gsize body_offset = 0;
  GBytes *head = prepare_head(raw, NULL, TRUE, host_for_msgid, message_id_out,
                              &body_offset, error);
  return join_head(head, raw, body_offset);
}
