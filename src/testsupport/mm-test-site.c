/* The unit tests' shared fixtures (see mm-test-site.h).  The site is built
 * exactly as the tests used to build it by hand, so converting a test
 * changes none of what it runs against.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "mm-test-site.h"

#include <glib/gstdio.h>

#include "base-file.h"

void
mm_test_rm_rf(const char *path)
{
  /* Never follow a symlink to a directory: the test must not remove what
   * lies outside its own tree. */
  if (g_file_test(path, G_FILE_TEST_IS_DIR) &&
      !g_file_test(path, G_FILE_TEST_IS_SYMLINK)) {
    GDir *dir = g_dir_open(path, 0, NULL);
    const char *name;
    while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
      g_autofree char *child = g_build_filename(path, name, NULL);
      mm_test_rm_rf(child);
    }
    if (dir != NULL)
      g_dir_close(dir);
    g_rmdir(path);
  } else {
    g_unlink(path);
  }
}

void
mm_test_write_file(const char *path, const char *text)
{
  g_autofree char *dir = g_path_get_dirname(path);
  g_assert_true(mm_mkdir_p(dir, 0700, NULL));
  g_assert_true(g_file_set_contents(path, text, -1, NULL));
}

MmTestSite *
mm_test_site_new_full(const char *site_owner, const char *mailman_lines,
                      const char *extra_cfg)
{
  g_autoptr(GError) error = NULL;
  MmTestSite *site = g_new0(MmTestSite, 1);
  /* Named after the test program, so a kept directory says whose it is. */
  g_autofree char *prg = g_path_get_basename(
      g_get_prgname() != NULL ? g_get_prgname() : "test");
  g_autofree char *tmpl = g_strdup_printf("mm-%s-XXXXXX", prg);
  site->dir = g_dir_make_tmp(tmpl, &error);
  g_assert_no_error(error);
  g_autofree char *cfg = g_build_filename(site->dir, "mailman.cfg", NULL);
  g_autofree char *text = g_strdup_printf(
      "[mailman]\nlayout: testing\nsite_owner: %s\n%s\n"
      "[paths.testing]\nvar_dir: %s/var\n\n%s\n",
      site_owner, mailman_lines != NULL ? mailman_lines : "", site->dir,
      extra_cfg != NULL ? extra_cfg : "");
  mm_test_write_file(cfg, text);
  site->config = mm_config_load(cfg, &error);
  g_assert_no_error(error);
  g_assert_true(mm_config_ensure_dirs(site->config, &error));
  g_autofree char *db = mm_config_database_path(site->config, &error);
  g_assert_no_error(error);
  site->store = mm_store_open(db, MM_STORE_READ_WRITE, &error);
  g_assert_no_error(error);
  g_assert_true(
      mm_store_domain_add(site->store, "example.com", NULL, NULL, &error));
  site->list =
      mm_store_list_create(site->store, "test", "example.com", NULL, &error);
  g_assert_no_error(error);
  return site;
}

MmTestSite *
mm_test_site_new(const char *extra_cfg)
{
  return mm_test_site_new_full("siteowner@example.net", NULL, extra_cfg);
}

void
mm_test_site_free(MmTestSite *site)
{
  if (site == NULL)
    return;
  g_clear_pointer(&site->list, mm_list_free);
  g_clear_pointer(&site->store, mm_store_close);
  g_clear_pointer(&site->config, mm_config_free);
  if (site->dir != NULL && g_getenv("MM_KEEP_TEST_DIR") == NULL)
    mm_test_rm_rf(site->dir);
  g_free(site->dir);
  g_free(site);
}
