/* The DATA phase: from the byte after "354" up to CRLF "." CRLF.
 *
 * A byte-level state machine, so chunk boundaries fall anywhere (between
 * CR and LF, between the dot and its CR) without changing the result; the
 * unit tests feed every case whole and one byte at a time.  The content is
 * kept unstuffed in an MmSpool (src/base/): on the heap up to the reader's
 * memory bound, in an anonymous file beside the queue past it, so that the
 * server's memory does not grow with max_connections x max_message_size
 * (64 x 32 MiB with the defaults) but with max_connections x the bound.
 *
 * Invariants: at most max_size bytes are ever kept; once a limit is
 * exceeded the rest is still read (and dropped) so that the reply after the
 * final dot lines up with the client's command stream.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "lmtp-private.h"

#include "base-spool.h"

#include <string.h>

typedef enum {
  DATA_LINE_START, /* next byte starts a line */
  DATA_DOT,        /* a line started with "." */
  DATA_DOT_CR,     /* ... and continued with CR */
  DATA_IN_LINE,    /* inside a line */
  DATA_DONE,       /* the end-of-data line was read */
} DataState;

struct MmLmtpDataReader {
  MmSpool *content;
  GError *spool_error; /* the spool failed (disk full): nothing is kept */
  gsize max_size;
  guint64 size;        /* everything after unstuffing, even past the limit */
  gsize line_len;      /* content octets of the current line */
  DataState state;
  gboolean pending_cr; /* last byte was a CR not yet written */
  gboolean prev_crlf;  /* the previous line ended with CRLF (not bare LF) */
  gboolean too_big;
  gboolean line_too_long;
};

MmLmtpDataReader *
mm_lmtp_data_reader_new(gsize max_size, const char *spool_dir,
                        gsize memory_max)
{
  MmLmtpDataReader *reader = g_new0(MmLmtpDataReader, 1);
  reader->content = mm_spool_new(spool_dir, memory_max);
  reader->max_size = max_size;
  reader->state = DATA_LINE_START;
  /* The 354 reply ended a line: "." CRLF straight away is an empty
   * message. */
  reader->prev_crlf = TRUE;
  return reader;
}

void
mm_lmtp_data_reader_free(MmLmtpDataReader *reader)
{
  if (reader == NULL)
    return;
  g_clear_pointer(&reader->content, mm_spool_free);
  g_clear_error(&reader->spool_error);
  g_free(reader);
}

static void
keep(MmLmtpDataReader *reader, const guint8 *bytes, gsize len)
{
  reader->size += len;
  if (reader->too_big || reader->spool_error != NULL)
    return;
  if (mm_spool_size(reader->content) + len > reader->max_size) {
    /* Over the limit: the message will be refused, so drop what we have
     * rather than hold up to max_size for nothing. */
    reader->too_big = TRUE;
    mm_spool_clear(reader->content);
    return;
  }
  if (!mm_spool_append(reader->content, bytes, len, &reader->spool_error))
    mm_spool_clear(reader->content);
}

static void
keep_content(MmLmtpDataReader *reader, const guint8 *bytes, gsize len)
{
  reader->line_len += len;
  keep(reader, bytes, len);
}

static void
end_line(MmLmtpDataReader *reader, gboolean crlf)
{
  static const guint8 crlf_bytes[] = {'\r', '\n'};
  if (reader->line_len + 2 > MM_LMTP_TEXT_LINE_MAX)
    reader->line_too_long = TRUE;
  keep(reader, crlf_bytes, 2);
  reader->line_len = 0;
  reader->prev_crlf = crlf;
  reader->state = DATA_LINE_START;
}

gboolean
mm_lmtp_data_reader_feed(MmLmtpDataReader *reader, const guint8 *data,
                         gsize len, gsize *consumed_out)
{
  static const guint8 cr = '\r';
  gsize i = 0;

  g_return_val_if_fail(reader->state != DATA_DONE, TRUE);
  while (i < len) {
    switch (reader->state) {
    case DATA_LINE_START:
      if (data[i] == '.') {
        reader->state = DATA_DOT;
        i++;
      } else {
        reader->state = DATA_IN_LINE;
      }
      break;

    case DATA_DOT:
      if (data[i] == '\r') {
        reader->state = DATA_DOT_CR;
        i++;
      } else {
        /* A stuffed dot: dropped (RFC 5321 4.5.2). */
        reader->state = DATA_IN_LINE;
      }
      break;

    case DATA_DOT_CR:
      if (data[i] == '\n' && reader->prev_crlf) {
        i++;
        reader->state = DATA_DONE;
        *consumed_out = i;
        return TRUE;
      }
      /* "." CR followed by something else, or "." CRLF after a bare LF
       * line: content; the dot was stuffing and the CR is pending. */
      reader->state = DATA_IN_LINE;
      reader->pending_cr = TRUE;
      break;

    case DATA_IN_LINE: {
      guint8 c = data[i];
      if (c == '\n') {
        gboolean crlf = reader->pending_cr;
        reader->pending_cr = FALSE;
        end_line(reader, crlf);
        i++;
        break;
      }
      if (reader->pending_cr) {
        /* A bare CR is content. */
        keep_content(reader, &cr, 1);
        reader->pending_cr = FALSE;
      }
      if (c == '\r') {
        reader->pending_cr = TRUE;
        i++;
        break;
      }
      gsize j = i + 1;
      while (j < len && data[j] != '\r' && data[j] != '\n')
        j++;
      keep_content(reader, data + i, j - i);
      i = j;
      break;
    }

    case DATA_DONE:
      g_assert_not_reached();
    }
  }
  *consumed_out = len;
  return FALSE;
}

guint64
mm_lmtp_data_reader_size(const MmLmtpDataReader *reader)
{
  return reader->size;
}

gboolean
mm_lmtp_data_reader_too_big(const MmLmtpDataReader *reader)
{
  return reader->too_big;
}

gboolean
mm_lmtp_data_reader_line_too_long(const MmLmtpDataReader *reader)
{
  return reader->line_too_long;
}

GBytes *
mm_lmtp_data_reader_finish(MmLmtpDataReader *reader, GError **error)
{
  if (reader->spool_error != NULL) {
    g_propagate_error(error, g_steal_pointer(&reader->spool_error));
    return NULL;
  }
  return mm_spool_finish(reader->content, error);
}
