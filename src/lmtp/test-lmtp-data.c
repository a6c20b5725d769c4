/* Unit tests of the DATA reader: dot-unstuffing, the end-of-data line,
 * line endings, the line and size limits.  Every case is fed whole, one
 * byte at a time, and split in two at every position.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "lmtp-private.h"

#include "base-error.h"

#include <glib/gstdio.h>
#include <string.h>

/* Where readers spill; every case runs twice, kept in memory and spilled
 * after a few bytes, and must not tell the difference. */
static char *spool_dir;
static gsize memory_max = 1024 * 1024;

typedef struct {
  const char *name;
  const char *input;
  gssize input_len;      /* -1: strlen */
  gboolean done;         /* the end-of-data line is in the input */
  gssize consumed;       /* expected consumed bytes when done; -1: all */
  const char *content;   /* expected content when done and within limits */
  gssize content_len;    /* -1: strlen */
  gsize max_size;        /* 0: 1 MiB */
  gboolean too_big;
  gboolean line_too_long;
} DataCase;

static const DataCase cases[] = {
    {"simple", "Subject: x\r\n\r\nbody\r\n.\r\n", -1, TRUE, -1,
     "Subject: x\r\n\r\nbody\r\n", -1, 0, FALSE, FALSE},
    {"empty", ".\r\n", -1, TRUE, -1, "", -1, 0, FALSE, FALSE},
    {"stuffed", "..leading\r\n...\r\n. \r\n.\r\n", -1, TRUE, -1,
     ".leading\r\n..\r\n \r\n", -1, 0, FALSE, FALSE},
    {"dot-inside", "a.b\r\n a\r\n.\r\n", -1, TRUE, -1, "a.b\r\n a\r\n", -1,
     0, FALSE, FALSE},
    {"rest-left", "x\r\n.\r\nQUIT\r\n", -1, TRUE, 6, "x\r\n", -1, 0, FALSE,
     FALSE},
    {"bare-lf-normalised", "a\nb\r\n.\r\n", -1, TRUE, -1, "a\r\nb\r\n", -1, 0,
     FALSE, FALSE},
    /* "." CRLF after a bare LF is not the end (SMTP smuggling). */
    {"dot-after-bare-lf", "a\n.\r\nb\r\n.\r\n", -1, TRUE, -1,
     "a\r\n\r\nb\r\n", -1, 0, FALSE, FALSE},
    {"lf-dot-lf-not-end", "a\n.\nb\r\n", -1, FALSE, -1, NULL, -1, 0, FALSE,
     FALSE},
    {"crlf-dot-lf-not-end", "a\r\n.\nb\r\n", -1, FALSE, -1, NULL, -1, 0, FALSE,
     FALSE},
    {"bare-cr", "a\rb\r\n\r\r\n.\r\n", -1, TRUE, -1, "a\rb\r\n\r\r\n", -1, 0,
     FALSE, FALSE},
    {"dot-cr-other", ".\rx\r\n.\r\n", -1, TRUE, -1, "\rx\r\n", -1, 0, FALSE,
     FALSE},
    {"nul-8bit", "a\0\xff\xc3\xa9\r\n.\r\n", 10, TRUE, -1, "a\0\xff\xc3\xa9\r\n",
     7, 0, FALSE, FALSE},
    {"unfinished", "Subject: x\r\n\r\nbody\r\n.", -1, FALSE, -1, NULL, -1, 0,
     FALSE, FALSE},
    {"size-exact", "0123456789\r\n.\r\n", -1, TRUE, -1, "0123456789\r\n", -1,
     12, FALSE, FALSE},
    {"size-over", "0123456789\r\n.\r\n", -1, TRUE, -1, NULL, -1, 11, TRUE,
     FALSE},
};

static void
run_case(const DataCase *c, const guint8 *input, gsize len,
         const gsize *splits, gsize n_splits)
{
  gsize max_size = c->max_size != 0 ? c->max_size : 1024 * 1024;
  g_autoptr(MmLmtpDataReader) reader =
      mm_lmtp_data_reader_new(max_size, spool_dir, memory_max);
  gsize pos = 0;
  gboolean done = FALSE;
  gsize s = 0;

  while (pos < len && !done) {
    gsize end = s < n_splits ? MIN(splits[s], len) : len;
    s++;
    if (end <= pos)
      continue;
    gsize consumed = 0;
    done = mm_lmtp_data_reader_feed(reader, input + pos, end - pos, &consumed);
    g_assert_cmpuint(consumed, <=, end - pos);
    if (!done)
      g_assert_cmpuint(consumed, ==, end - pos);
    pos += consumed;
  }
  g_assert_cmpint(done, ==, c->done);
  if (!done)
    return;
  gsize want_consumed = c->consumed >= 0 ? (gsize)c->consumed : len;
  g_assert_cmpuint(pos, ==, want_consumed);
  g_assert_cmpint(mm_lmtp_data_reader_too_big(reader), ==, c->too_big);
  g_assert_cmpint(mm_lmtp_data_reader_line_too_long(reader), ==,
                  c->line_too_long);
  if (c->content != NULL) {
    gsize want_len =
        c->content_len >= 0 ? (gsize)c->content_len : strlen(c->content);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) content = mm_lmtp_data_reader_finish(reader, &error);
    g_assert_no_error(error);
    gsize got_len = 0;
    const guint8 *got = g_bytes_get_data(content, &got_len);
    g_assert_cmpmem(got, got_len, c->content, want_len);
    g_assert_cmpuint(mm_lmtp_data_reader_size(reader), ==, want_len);
  }
}

static void
test_cases(void)
{
  for (int spill = 0; spill <= 1; spill++)
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    memory_max = spill ? 3 : 1024 * 1024;
    const DataCase *c = &cases[i];
    const guint8 *input = (const guint8 *)c->input;
    gsize len = c->input_len >= 0 ? (gsize)c->input_len : strlen(c->input);
    g_test_message("case %s%s", c->name, spill ? " (spilled)" : "");

    /* Whole. */
    run_case(c, input, len, NULL, 0);
    /* One byte at a time. */
    g_autofree gsize *bytewise = g_new(gsize, len);
    for (gsize k = 0; k < len; k++)
      bytewise[k] = k + 1;
    run_case(c, input, len, bytewise, len);
    /* Two pieces, split everywhere. */
    for (gsize k = 1; k < len; k++) {
      gsize split[1] = {k};
      run_case(c, input, len, split, 1);
    }
  }
}

static GByteArray *
line_of(gsize content_len)
{
  GByteArray *data = g_byte_array_new();
  for (gsize i = 0; i < content_len; i++)
    g_byte_array_append(data, (const guint8 *)"a", 1);
  g_byte_array_append(data, (const guint8 *)"\r\n.\r\n", 5);
  return data;
}

static void
test_line_limit(void)
{
  /* 998 octets and CRLF: the RFC maximum. */
  for (gsize extra = 0; extra <= 1; extra++) {
    g_autoptr(GByteArray) input = line_of(MM_LMTP_TEXT_LINE_MAX - 2 + extra);
    g_autoptr(MmLmtpDataReader) reader = mm_lmtp_data_reader_new(1 << 20, spool_dir,
                                                          1 << 20);
    gsize consumed = 0;
    g_assert_true(mm_lmtp_data_reader_feed(reader, input->data, input->len,
                                           &consumed));
    g_assert_cmpint(mm_lmtp_data_reader_line_too_long(reader), ==, extra);
  }
  /* A stuffed dot does not count: it is not part of the line. */
  g_autoptr(GByteArray) stuffed = g_byte_array_new();
  g_byte_array_append(stuffed, (const guint8 *)".", 1);
  g_autoptr(GByteArray) rest = line_of(MM_LMTP_TEXT_LINE_MAX - 2);
  g_byte_array_append(stuffed, rest->data, rest->len);
  g_autoptr(MmLmtpDataReader) reader = mm_lmtp_data_reader_new(1 << 20, spool_dir,
                                                          1 << 20);
  gsize consumed = 0;
  g_assert_true(mm_lmtp_data_reader_feed(reader, stuffed->data, stuffed->len,
                                         &consumed));
  g_assert_false(mm_lmtp_data_reader_line_too_long(reader));
}

static void
test_big_message_read_to_end(void)
{
  /* 3 MiB of lines into a reader of 1 MiB: refused, but read to its end,
   * and the bytes after the end are left. */
  /* Spilled to the file after 4 KiB, and the file dropped at the limit. */
  g_autoptr(MmLmtpDataReader) reader =
      mm_lmtp_data_reader_new(1 << 20, spool_dir, 4096);
  static const char line[] = "0123456789abcdef0123456789abcdef\r\n";
  g_autoptr(GByteArray) chunk = g_byte_array_new();
  while (chunk->len < 65536 - sizeof line)
    g_byte_array_append(chunk, (const guint8 *)line, sizeof line - 1);
  guint64 total = 0;
  for (int i = 0; i < 48; i++) {
    gsize consumed = 0;
    g_assert_false(
        mm_lmtp_data_reader_feed(reader, chunk->data, chunk->len, &consumed));
    total += chunk->len;
  }
  gsize consumed = 0;
  g_assert_true(mm_lmtp_data_reader_feed(
      reader, (const guint8 *)".\r\nNOOP\r\n", 9, &consumed));
  g_assert_cmpuint(consumed, ==, 3);
  g_assert_true(mm_lmtp_data_reader_too_big(reader));
  g_assert_false(mm_lmtp_data_reader_line_too_long(reader));
  g_assert_cmpuint(mm_lmtp_data_reader_size(reader), ==, total);
  g_autoptr(GBytes) kept = mm_lmtp_data_reader_finish(reader, NULL);
  g_assert_cmpuint(g_bytes_get_size(kept), ==, 0);
}

/* A spill that fails (here: no such directory) is reported at the end,
 * after the whole message was read, so the session stays in step. */
static void
test_spool_failure(void)
{
  g_autoptr(MmLmtpDataReader) reader =
      mm_lmtp_data_reader_new(1 << 20, "/nonexistent/mm-lmtp-test", 4);
  static const char input[] = "Subject: x\r\n\r\nbody\r\n.\r\nNOOP\r\n";
  gsize consumed = 0;
  g_assert_true(mm_lmtp_data_reader_feed(reader, (const guint8 *)input,
                                         strlen(input), &consumed));
  g_assert_cmpuint(consumed, ==, strlen(input) - strlen("NOOP\r\n"));
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) content = mm_lmtp_data_reader_finish(reader, &error);
  g_assert_null(content);
  g_assert_error(error, MM_ERROR, MM_ERROR_NOT_FOUND);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/lmtp/data/cases", test_cases);
  g_test_add_func("/lmtp/data/line-limit", test_line_limit);
  g_test_add_func("/lmtp/data/big-message", test_big_message_read_to_end);
  g_test_add_func("/lmtp/data/spool-failure", test_spool_failure);
  g_autoptr(GError) error = NULL;
  spool_dir = g_dir_make_tmp("mm-lmtp-data-XXXXXX", &error);
  g_assert_no_error(error);
  int rc = g_test_run();
  g_rmdir(spool_dir);
  g_free(spool_dir);
  return rc;
}
