/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "base-file.h"
#include "base-error.h"
#include "base-lock.h"

#include <glib/gstdio.h>

static char *
make_tmpdir(void)
{
  GError *error = NULL;
  char *dir = g_dir_make_tmp("mm-base-XXXXXX", &error);
  g_assert_no_error(error);
  return dir;
}

static void
test_atomic_write(void)
{
  g_autofree char *dir = make_tmpdir();
  g_autofree char *path = g_build_filename(dir, "f", NULL);
  GError *error = NULL;

  g_assert_true(mm_file_write_atomic(path, "hello", 5, 0600, &error));
  g_assert_no_error(error);
  g_autoptr(GBytes) got = mm_file_read_bounded(path, 100, &error);
  g_assert_no_error(error);
  g_assert_cmpmem(g_bytes_get_data(got, NULL), g_bytes_get_size(got),
                  "hello", 5);

  /* An uncommitted writer leaves the old content and no temporary file. */
  MmAtomicFile *f = mm_atomic_file_new(path, 0600, &error);
  g_assert_no_error(error);
  g_assert_true(mm_atomic_file_write(f, "partial", 7, &error));
  mm_atomic_file_free(f);
  g_autoptr(GBytes) again = mm_file_read_bounded(path, 100, &error);
  g_assert_cmpmem(g_bytes_get_data(again, NULL), g_bytes_get_size(again),
                  "hello", 5);
  GDir *d = g_dir_open(dir, 0, NULL);
  int count = 0;
  while (g_dir_read_name(d))
    count++;
  g_dir_close(d);
  g_assert_cmpint(count, ==, 1);

  /* The bound is enforced before reading. */
  g_autoptr(GBytes) none = mm_file_read_bounded(path, 4, &error);
  g_assert_null(none);
  g_assert_error(error, MM_ERROR, MM_ERROR_TOO_LARGE);
  g_clear_error(&error);

  g_unlink(path);
  g_rmdir(dir);
}

/* Pieces written with one gather-write land in order; empty ones are
 * skipped; the size counts them all. */
static void
test_write_parts(void)
{
  g_autofree char *dir = make_tmpdir();
  g_autofree char *path = g_build_filename(dir, "parts", NULL);
  GError *error = NULL;
  gsize big_len = 3 * 1024 * 1024 + 7;
  guint8 *big_data = g_malloc(big_len);
  for (gsize i = 0; i < big_len; i++)
    big_data[i] = (guint8)(i * 31 + 7);
  g_autoptr(GBytes) big = g_bytes_new_take(big_data, big_len);
  g_autoptr(GBytes) head = g_bytes_new_static("head\n", 5);
  g_autoptr(GBytes) empty = g_bytes_new_static("", 0);
  g_autoptr(GBytes) tail = g_bytes_new_static("\ntail", 5);
  const GBytes *parts[] = {head, empty, big, tail};

  MmAtomicFile *f = mm_atomic_file_new(path, 0600, &error);
  g_assert_no_error(error);
  g_assert_true(mm_atomic_file_write_parts(f, parts, G_N_ELEMENTS(parts),
                                           &error));
  g_assert_no_error(error);
  g_assert_cmpuint(mm_atomic_file_size(f), ==, 5 + big_len + 5);
  g_assert_true(mm_atomic_file_commit(f, &error));
  mm_atomic_file_free(f);

  g_autoptr(GBytes) got = mm_file_read_bounded(path, 8 * 1024 * 1024, &error);
  g_assert_no_error(error);
  const guint8 *data = g_bytes_get_data(got, NULL);
  g_assert_cmpuint(g_bytes_get_size(got), ==, 5 + big_len + 5);
  g_assert_cmpmem(data, 5, "head\n", 5);
  g_assert_cmpmem(data + 5, big_len, big_data, big_len);
  g_assert_cmpmem(data + 5 + big_len, 5, "\ntail", 5);

  g_unlink(path);
  g_rmdir(dir);
}

static void
test_lock(void)
{
  g_autofree char *dir = make_tmpdir();
  g_autofree char *path = g_build_filename(dir, "master.lck", NULL);
  GError *error = NULL;
  gboolean stale = TRUE;

  /* A file naming a dead holder is reported stale and taken over. */
  g_assert_true(g_file_set_contents(path, "somehost 999999999\n", -1, NULL));
  MmLock *lock = mm_lock_acquire(path, FALSE, &stale, &error);
  g_assert_no_error(error);
  g_assert_nonnull(lock);
  g_assert_true(stale);
  g_assert_true(mm_lock_is_held(path));

  int pid = 0;
  g_autofree char *host = NULL;
  g_assert_true(mm_lock_read_holder(path, &host, &pid));
  g_assert_cmpint(pid, ==, getpid());

  /* A second taker (another open file description) is refused. */
  MmLock *second = mm_lock_acquire(path, FALSE, NULL, &error);
  g_assert_null(second);
  g_assert_error(error, MM_ERROR, MM_ERROR_LOCKED);
  g_clear_error(&error);

  mm_lock_release(lock);
  g_assert_false(mm_lock_is_held(path));
  lock = mm_lock_acquire(path, FALSE, &stale, &error);
  g_assert_nonnull(lock);
  g_assert_false(stale);
  mm_lock_release(lock);
  g_unlink(path);
  g_rmdir(dir);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/base/atomic-write", test_atomic_write);
  g_test_add_func("/base/write-parts", test_write_parts);
  g_test_add_func("/base/lock", test_lock);
  return g_test_run();
}
