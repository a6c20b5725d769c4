/* Fixtures shared by the unit tests: removing a temporary tree, writing a
 * file with its directories, and a private site (temporary directory,
 * mailman.cfg with the testing layout, the site database, the domain
 * example.com and the list test@example.com).  Test code only: never
 * linked into the server.  Every helper asserts instead of returning
 * errors, so a broken fixture fails the test where it is set up.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "config.h"
#include "storage.h"

/* Removes @path and, when it is a directory (not a symlink to one),
 * everything under it.  Missing paths and errors are ignored. */
void mm_test_rm_rf(const char *path);

/* Writes @text to @path, creating its directory (mode 0700) first;
 * asserts on failure. */
void mm_test_write_file(const char *path, const char *text);

typedef struct {
  char *dir;        /* the temporary directory, removed by _free() */
  MmConfig *config; /* loaded from <dir>/mailman.cfg, dirs created */
  MmStore *store;   /* the site database, read-write */
  MmList *list;     /* test@example.com, as created (no members) */
} MmTestSite;

/* A private site whose mailman.cfg is
 *   [mailman] layout: testing, site_owner: siteowner@example.net
 *   [paths.testing] var_dir: <dir>/var
 * followed by @extra_cfg (NULL: nothing). */
MmTestSite *mm_test_site_new(const char *extra_cfg);

/* As mm_test_site_new() with site_owner @site_owner and @mailman_lines
 * (NULL: none) added to the [mailman] section. */
MmTestSite *mm_test_site_new_full(const char *site_owner,
                                  const char *mailman_lines,
                                  const char *extra_cfg);

/* Closes everything and removes the directory, unless MM_KEEP_TEST_DIR is
 * set in the environment (to look at a failed test's site).  NULL is a
 * no-op. */
void mm_test_site_free(MmTestSite *site);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmTestSite, mm_test_site_free)
