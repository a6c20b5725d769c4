/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "base-error.h"
#include "base-spool.h"

#include <glib/gstdio.h>

static char *
make_tmpdir(void)
{
  GError *error = NULL;
  char *dir = g_dir_make_tmp("mm-spool-XXXXXX", &error);
  g_assert_no_error(error);
  return dir;
}

static guint
count_entries(const char *dir)
{
  GDir *d = g_dir_open(dir, 0, NULL);
  guint n = 0;
  while (g_dir_read_name(d) != NULL)
    n++;
  g_dir_close(d);
  return n;
}

/* Feeds @total pattern bytes in pieces of @piece and checks what comes
 * out, and whether it went through a file. */
static void
round_trip(gsize memory_max, gsize total, gsize piece, gboolean want_spill)
{
  g_autofree char *dir = make_tmpdir();
  g_autoptr(MmSpool) spool = mm_spool_new(dir, memory_max);
  g_autofree guint8 *want = g_malloc(total + 1);
  GError *error = NULL;

  for (gsize i = 0; i < total; i++)
    want[i] = (guint8)(i * 7 + i / 251);
  for (gsize off = 0; off < total; off += piece) {
    g_assert_true(mm_spool_append(spool, want + off, MIN(piece, total - off),
                                  &error));
    g_assert_no_error(error);
  }
  g_assert_cmpuint(mm_spool_size(spool), ==, total);
  g_assert_cmpint(mm_spool_spilled(spool), ==, want_spill);
  /* The spill file has no name. */
  g_assert_cmpuint(count_entries(dir), ==, 0);
  g_autoptr(GBytes) got = mm_spool_finish(spool, &error);
  g_assert_no_error(error);
  g_assert_cmpmem(g_bytes_get_data(got, NULL), g_bytes_get_size(got), want,
                  total);
  g_assert_cmpuint(mm_spool_size(spool), ==, 0);
  g_assert_false(mm_spool_spilled(spool));

  /* Reusable after finish. */
  g_assert_true(mm_spool_append(spool, "again", 5, &error));
  g_autoptr(GBytes) again = mm_spool_finish(spool, &error);
  g_assert_cmpmem(g_bytes_get_data(again, NULL), g_bytes_get_size(again),
                  "again", 5);
  g_rmdir(dir);
}

static void
test_in_memory(void)
{
  round_trip(1024, 1024, 100, FALSE);
  round_trip(1024, 0, 1, FALSE);
}

static void
test_spilled(void)
{
  /* Small pieces through the write buffer, pieces larger than it, and one
   * piece that crosses the bound by itself. */
  round_trip(1000, 300 * 1000 + 3, 77, TRUE);
  round_trip(1000, 1000 * 1000, 100 * 1000, TRUE);
  round_trip(10, 5000, 5000, TRUE);
}

static void
test_clear(void)
{
  g_autofree char *dir = make_tmpdir();
  g_autoptr(MmSpool) spool = mm_spool_new(dir, 16);
  GError *error = NULL;
  g_assert_true(mm_spool_append(spool, "0123456789abcdefXYZ", 19, &error));
  g_assert_true(mm_spool_spilled(spool));
  mm_spool_clear(spool);
  g_assert_false(mm_spool_spilled(spool));
  g_assert_cmpuint(mm_spool_size(spool), ==, 0);
  g_assert_true(mm_spool_append(spool, "short", 5, &error));
  g_autoptr(GBytes) got = mm_spool_finish(spool, &error);
  g_assert_no_error(error);
  g_assert_cmpmem(g_bytes_get_data(got, NULL), g_bytes_get_size(got), "short",
                  5);
  g_rmdir(dir);
}

/* A spill that cannot happen fails the append, then every later call,
 * until the spool is cleared. */
static void
test_failure_is_sticky(void)
{
  g_autoptr(MmSpool) spool = mm_spool_new("/nonexistent/mm-spool-test", 4);
  GError *error = NULL;
  g_assert_true(mm_spool_append(spool, "abcd", 4, &error));
  g_assert_false(mm_spool_append(spool, "e", 1, &error));
  g_assert_error(error, MM_ERROR, MM_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_false(mm_spool_append(spool, "f", 1, &error));
  g_assert_error(error, MM_ERROR, MM_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_null(mm_spool_finish(spool, &error));
  g_assert_error(error, MM_ERROR, MM_ERROR_NOT_FOUND);
  g_clear_error(&error);
  mm_spool_clear(spool);
  g_assert_true(mm_spool_append(spool, "ok", 2, &error));
  g_autoptr(GBytes) got = mm_spool_finish(spool, &error);
  g_assert_cmpuint(g_bytes_get_size(got), ==, 2);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/spool/in-memory", test_in_memory);
  g_test_add_func("/spool/spilled", test_spilled);
  g_test_add_func("/spool/clear", test_clear);
  g_test_add_func("/spool/failure-is-sticky", test_failure_is_sticky);
  return g_test_run();
}
