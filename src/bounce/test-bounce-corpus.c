/* The bounce corpus: every tests/data/bounce/NAME.eml through the
 * detector chain, compared with NAME.expected ("address<TAB>permanent" or
 * "...<TAB>temporary" per line, in any order; empty for a message that is
 * not a bounce).
 *
 * File names say what they test: "DETECTOR-..." must be recognised by that
 * detector (so each detector has its own cases), "autoreply-..." must be
 * taken for an auto-reply, "ordinary-..." and "autoreply-..." must yield
 * nothing.  Each file is also parsed truncated at many points and with
 * bytes flipped, which must never crash or find anything odd.
 *
 * Usage: test-bounce-corpus CORPUS_DIR (meson passes it).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "bounce.h"

#include <string.h>

static const char *corpus_dir;

static char *
read_file(const char *path, gsize *len_out)
{
  char *data = NULL;
  g_autoptr(GError) error = NULL;

  if (!g_file_get_contents(path, &data, len_out, &error))
    g_error("%s: %s", path, error->message);
  return data;
}

static int
compare_strings(gconstpointer a, gconstpointer b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static char *
sorted_lines(GPtrArray *lines)
{
  g_ptr_array_sort(lines, compare_strings);
  GString *out = g_string_new(NULL);
  for (guint i = 0; i < lines->len; i++)
    g_string_append_printf(out, "%s\n", (const char *)lines->pdata[i]);
  return g_string_free(out, FALSE);
}

static char *
expected_for(const char *eml_path)
{
  g_autofree char *base = g_strndup(eml_path, strlen(eml_path) - 4);
  g_autofree char *path = g_strconcat(base, ".expected", NULL);
  gsize len = 0;
  g_autofree char *text = read_file(path, &len);
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  g_autoptr(GPtrArray) kept = g_ptr_array_new_with_free_func(g_free);

  for (char **l = lines; *l != NULL; l++) {
    g_strchomp(*l);
    if (**l != '\0' && **l != '#')
      g_ptr_array_add(kept, g_strdup(*l));
  }
  return sorted_lines(kept);
}

static char *
scan_lines(const MmBounceScan *scan)
{
  g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);

  for (guint i = 0; i < scan->permanent->len; i++)
    g_ptr_array_add(lines, g_strdup_printf("%s\tpermanent",
                                           (char *)scan->permanent->pdata[i]));
  for (guint i = 0; i < scan->temporary->len; i++)
    g_ptr_array_add(lines, g_strdup_printf("%s\ttemporary",
                                           (char *)scan->temporary->pdata[i]));
  return sorted_lines(lines);
}

static gboolean
is_detector(const char *name)
{
  for (const char *const *d = mm_bounce_detector_names(); *d != NULL; d++)
    if (g_str_equal(*d, name))
      return TRUE;
  return FALSE;
}

static void
test_case(gconstpointer data)
{
  const char *path = data;
  g_autofree char *basename = g_path_get_basename(path);
  g_autofree char *prefix = g_strndup(basename, strcspn(basename, "-."));
  gsize len = 0;
  g_autofree char *raw = read_file(path, &len);
  g_autoptr(GBytes) bytes = g_bytes_new(raw, len);
  g_autoptr(MmBounceMessage) message = mm_bounce_message_parse(bytes);
  g_autoptr(MmBounceScan) scan = mm_bounce_scan(message);

  g_autofree char *expected = expected_for(path);
  g_autofree char *got = scan_lines(scan);
  g_assert_cmpstr(got, ==, expected);

  if (is_detector(prefix) && *expected != '\0')
    g_assert_cmpstr(scan->detector, ==, prefix);
  if (g_str_equal(prefix, "autoreply"))
    g_assert_true(scan->auto_reply);
  if (g_str_equal(prefix, "ordinary") || g_str_equal(prefix, "autoreply"))
    g_assert_cmpstr(expected, ==, "");
}

/* Prefixes and mutations of a real report: never a crash, and anything
 * found is still a normalised address. */
static void
test_robust(gconstpointer data)
{
  const char *path = data;
  gsize len = 0;
  g_autofree char *raw = read_file(path, &len);
  gsize step = MAX(len / 31, 1);
  GRand *rand = g_rand_new_with_seed(1234);

  for (gsize cut = 0; cut <= len; cut += step) {
    g_autoptr(GBytes) bytes = g_bytes_new(raw, cut);
    g_autoptr(MmBounceMessage) message = mm_bounce_message_parse(bytes);
    g_autoptr(MmBounceScan) scan = mm_bounce_scan(message);
    for (guint i = 0; i < scan->permanent->len; i++) {
      g_autofree char *again =
          mm_bounce_address_normalize(scan->permanent->pdata[i], -1);
      g_assert_cmpstr(again, ==, scan->permanent->pdata[i]);
    }
  }
  for (int round = 0; round < 20 && len > 0; round++) {
    g_autofree char *copy = g_memdup2(raw, len);
    for (int flips = 0; flips < 8; flips++)
      copy[g_rand_int_range(rand, 0, (gint32)len)] =
          (char)g_rand_int_range(rand, 0, 256);
    g_autoptr(GBytes) bytes = g_bytes_new(copy, len);
    g_autoptr(MmBounceMessage) message = mm_bounce_message_parse(bytes);
    g_autoptr(MmBounceScan) scan = mm_bounce_scan(message);
    g_assert_nonnull(scan->permanent);
  }
  g_rand_free(rand);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  if (argc < 2)
    g_error("usage: %s CORPUS_DIR", argv[0]);
  corpus_dir = argv[1];

  g_autoptr(GError) error = NULL;
  g_autoptr(GDir) dir = g_dir_open(corpus_dir, 0, &error);
  if (dir == NULL)
    g_error("%s", error->message);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
  const char *name;
  while ((name = g_dir_read_name(dir)) != NULL)
    if (g_str_has_suffix(name, ".eml"))
      g_ptr_array_add(names, g_strdup(name));
  g_ptr_array_sort(names, compare_strings);
  g_assert_cmpuint(names->len, >, 0);

  for (guint i = 0; i < names->len; i++) {
    char *path = g_build_filename(corpus_dir, names->pdata[i], NULL);
    g_autofree char *stem =
        g_strndup(names->pdata[i], strlen(names->pdata[i]) - 4);
    g_autofree char *case_path = g_strdup_printf("/bounce/corpus/%s", stem);
    g_autofree char *robust_path = g_strdup_printf("/bounce/robust/%s", stem);
    g_test_add_data_func_full(case_path, g_strdup(path), test_case, g_free);
    g_test_add_data_func_full(robust_path, path, test_robust, g_free);
  }
  return g_test_run();
}
