/* The progress journal: records survive a reopen, a torn tail is cut at
 * every possible length, a journal of other recipients is replaced, and
 * the sweep removes only what it should.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "delivery-private.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FP "0123456789abcdef0123456789abcdef01234567"
#define OTHER_FP "ffffffffffffffffffffffffffffffffffffffff"
#define ID "1700000000.000001+0123456789abcdef0123456789abcdef01234567"

static char *
make_dir(void)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp("mm-journal-XXXXXX", &error);
  g_assert_no_error(error);
  return dir;
}

static void
remove_dir(const char *dir)
{
  g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
  const char *name;
  while (d && (name = g_dir_read_name(d)) != NULL) {
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_unlink(path);
  }
  g_rmdir(dir);
}

static void
test_roundtrip(void)
{
  g_autofree char *dir = make_dir();
  g_autoptr(GError) error = NULL;
  {
    g_autoptr(MmDeliveryJournal) j =
        mm_delivery_journal_open(dir, ID, 10, FP, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(mm_delivery_journal_n_accepted(j), ==, 0);
    guint a[] = {0, 3, 9};
    g_assert_true(mm_delivery_journal_add_results(j, a, 3, NULL, 0, &error));
    guint b[] = {3, 4};
    g_assert_true(mm_delivery_journal_add_results(j, b, 2, NULL, 0, &error));
    g_assert_cmpuint(mm_delivery_journal_n_accepted(j), ==, 4);
  }
  {
    g_autoptr(MmDeliveryJournal) j =
        mm_delivery_journal_open(dir, ID, 10, FP, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(mm_delivery_journal_n_accepted(j), ==, 4);
    g_assert_true(mm_delivery_journal_done(j, 0));
    g_assert_true(mm_delivery_journal_done(j, 3));
    g_assert_true(mm_delivery_journal_done(j, 4));
    g_assert_true(mm_delivery_journal_done(j, 9));
    g_assert_false(mm_delivery_journal_done(j, 1));
    g_assert_false(mm_delivery_journal_done(j, 10));
    g_assert_null(mm_delivery_journal_outcome(j));
    json_t *outcome = json_pack("[[i, i, s]]", 1, 550, "no \"such\"\nuser");
    g_assert_true(mm_delivery_journal_add_outcome(j, outcome, &error));
    json_decref(outcome);
    g_assert_true(mm_delivery_journal_add_step(j, 'B', &error));
  }
  {
    g_autoptr(MmDeliveryJournal) j =
        mm_delivery_journal_open(dir, ID, 10, FP, &error);
    g_assert_no_error(error);
    json_t *outcome = mm_delivery_journal_outcome(j);
    g_assert_nonnull(outcome);
    g_assert_cmpstr(json_string_value(json_array_get(
                        json_array_get(outcome, 0), 2)),
                    ==, "no \"such\"\nuser");
    g_assert_true(mm_delivery_journal_has_step(j, 'B'));
    g_assert_false(mm_delivery_journal_has_step(j, 'T'));
    g_assert_false(mm_delivery_journal_has_step(j, 'E'));
  }
  /* Other recipients: the journal starts again. */
  {
    g_autoptr(MmDeliveryJournal) j =
        mm_delivery_journal_open(dir, ID, 10, OTHER_FP, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(mm_delivery_journal_n_accepted(j), ==, 0);
    g_assert_null(mm_delivery_journal_outcome(j));
  }
  remove_dir(dir);
}

/* Cut the file at every length: what opens is always a prefix of the
 * records, and appending after a cut works. */
static void
test_torn_tail(void)
{
  g_autofree char *dir = make_dir();
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_strconcat(dir, "/" ID ".journal", NULL);
  {
    g_autoptr(MmDeliveryJournal) j =
        mm_delivery_journal_open(dir, ID, 100, FP, &error);
    g_assert_no_error(error);
    for (guint i = 0; i < 20; i++) {
      guint idx = i * 5;
      g_assert_true(
          mm_delivery_journal_add_results(j, &idx, 1, NULL, 0, &error));
    }
    g_assert_true(mm_delivery_journal_add_step(j, 'E', &error));
  }
  gchar *full = NULL;
  gsize full_len = 0;
  g_assert_true(g_file_get_contents(path, &full, &full_len, NULL));
  gsize header_len = (gsize)(strchr(full, '\n') - full) + 1;

  for (gsize cut = header_len; cut <= full_len; cut++) {
    g_assert_true(g_file_set_contents(path, full, (gssize)cut, NULL));
    g_autoptr(MmDeliveryJournal) j =
        mm_delivery_journal_open(dir, ID, 100, FP, &error);
    g_assert_no_error(error);
    /* Count the complete records before the cut. */
    guint records = 0;
    for (gsize p = header_len; p < cut; p++)
      if (full[p] == '\n')
        records++;
    guint accepted = MIN(records, 20);
    g_assert_cmpuint(mm_delivery_journal_n_accepted(j), ==, accepted);
    g_assert_true(mm_delivery_journal_has_step(j, 'E') == (records == 21));
    /* The torn part is gone; a new record lands right after the last good
     * one and reads back. */
    guint extra = 99;
    g_assert_true(
        mm_delivery_journal_add_results(j, &extra, 1, NULL, 0, &error));
    g_clear_pointer(&j, mm_delivery_journal_free);
    j = mm_delivery_journal_open(dir, ID, 100, FP, &error);
    g_assert_no_error(error);
    g_assert_true(mm_delivery_journal_done(j, 99));
    g_assert_cmpuint(mm_delivery_journal_n_accepted(j), ==,
                     accepted + 1);
  }
  /* A flipped byte inside a record stops reading there. */
  g_autofree char *bad = g_memdup2(full, full_len);
  bad[header_len + 10] ^= 0x01; /* the index of the first record */
  g_assert_true(g_file_set_contents(path, bad, (gssize)full_len, NULL));
  {
    g_autoptr(MmDeliveryJournal) j =
        mm_delivery_journal_open(dir, ID, 100, FP, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(mm_delivery_journal_n_accepted(j), ==, 0);
  }
  g_free(full);
  remove_dir(dir);
}

/* A final dot without a recorded reply counts as delivered after a crash;
 * a recorded failure makes the recipient sendable again. */
static void
test_in_doubt(void)
{
  g_autofree char *dir = make_dir();
  g_autoptr(GError) error = NULL;
  {
    g_autoptr(MmDeliveryJournal) j =
        mm_delivery_journal_open(dir, ID, 6, FP, &error);
    g_assert_no_error(error);
    guint sent[] = {0, 1, 2, 3};
    mm_delivery_journal_note_sent(j, sent, 4);
    guint ok[] = {0};
    guint bad[] = {1, 4};
    g_assert_true(mm_delivery_journal_add_results(j, ok, 1, bad, 2, &error));
    /* 2 and 3: the process died before their replies. */
  }
  g_autoptr(MmDeliveryJournal) j =
      mm_delivery_journal_open(dir, ID, 6, FP, &error);
  g_assert_no_error(error);
  g_assert_true(mm_delivery_journal_done(j, 0));
  g_assert_false(mm_delivery_journal_done(j, 1));
  g_assert_true(mm_delivery_journal_done(j, 2));
  g_assert_true(mm_delivery_journal_done(j, 3));
  g_assert_false(mm_delivery_journal_done(j, 4));
  g_assert_false(mm_delivery_journal_done(j, 5));
  g_assert_cmpuint(mm_delivery_journal_n_accepted(j), ==, 1);
  g_assert_cmpuint(mm_delivery_journal_n_in_doubt(j), ==, 2);
  /* A second run sends 1 again, which is accepted this time. */
  guint again[] = {1};
  mm_delivery_journal_note_sent(j, again, 1);
  g_assert_true(mm_delivery_journal_add_results(j, again, 1, NULL, 0, &error));
  g_assert_cmpuint(mm_delivery_journal_n_accepted(j), ==, 2);
  g_assert_true(mm_delivery_journal_done(j, 1));
  remove_dir(dir);
}

static void
age(const char *path, gint64 seconds)
{
  struct timespec times[2];
  clock_gettime(CLOCK_REALTIME, &times[0]);
  times[0].tv_sec -= seconds;
  times[1] = times[0];
  g_assert_cmpint(utimensat(AT_FDCWD, path, times, 0), ==, 0);
}

static void
test_sweep(void)
{
  g_autofree char *dir = make_dir();
  g_autoptr(GError) error = NULL;
  const char *ids[] = {
      "1700000000.000001+aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* done, old */
      "1700000000.000002+bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", /* done, new */
      "1700000000.000003+cccccccccccccccccccccccccccccccccccccccc", /* open, old */
      "1700000000.000004+dddddddddddddddddddddddddddddddddddddddd", /* open, stale */
  };
  for (int i = 0; i < 4; i++) {
    g_autoptr(MmDeliveryJournal) j =
        mm_delivery_journal_open(dir, ids[i], 3, FP, &error);
    g_assert_no_error(error);
    if (i < 2)
      g_assert_true(mm_delivery_journal_add_step(j, 'E', &error));
  }
  static const gint64 ages[] = {7200, 10, 7200, 400000};
  for (int i = 0; i < 4; i++) {
    g_autofree char *path = g_strconcat(dir, "/", ids[i], ".journal", NULL);
    age(path, ages[i]);
  }
  guint removed = mm_delivery_journal_sweep(dir, (gint64)3600 * G_USEC_PER_SEC,
                                            (gint64)86400 * G_USEC_PER_SEC);
  g_assert_cmpuint(removed, ==, 2);
  for (int i = 0; i < 4; i++) {
    g_autofree char *path = g_strconcat(dir, "/", ids[i], ".journal", NULL);
    g_assert_true(g_file_test(path, G_FILE_TEST_EXISTS) == (i == 1 || i == 2));
  }
  mm_delivery_journal_remove(dir, ids[1]);
  mm_delivery_journal_remove(dir, ids[2]);
  remove_dir(dir);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/delivery/journal/roundtrip", test_roundtrip);
  g_test_add_func("/delivery/journal/torn-tail", test_torn_tail);
  g_test_add_func("/delivery/journal/in-doubt", test_in_doubt);
  g_test_add_func("/delivery/journal/sweep", test_sweep);
  return g_test_run();
}
