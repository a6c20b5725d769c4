/* mta-test-tool: drives this module from the integration tests until the
 * `mailman` command line exists (tests/mta/test_postfix_integration.py).
 * Not installed.
 *
 *   mta-test-tool CONFIG domain HOST [ALIAS]   add a domain
 *   mta-test-tool CONFIG list NAME@HOST        create a list
 *   mta-test-tool CONFIG remove LIST_ID        remove a list
 *   mta-test-tool CONFIG regenerate [DIR]      mm_mta_regenerate()
 *   mta-test-tool CONFIG socketmap HOST PORT   serve socketmap until stdin
 *                                              closes; prints "ready PORT"
 *
 * Each command prints the error and exits 1 on failure.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "mta.h"

#include <gio/gio.h>
#include <glib-unix.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static gboolean
stop_on_input(gint fd, GIOCondition condition, gpointer data)
{
  char buf[64];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n > 0)
    return G_SOURCE_CONTINUE;
  g_main_loop_quit(data);
  return G_SOURCE_REMOVE;
}

static gboolean
run(const MmConfig *config, MmStore *store, int argc, char **argv,
    GError **error)
{
  const char *command = argv[0];

  if (g_str_equal(command, "domain") && (argc == 2 || argc == 3))
    return mm_store_domain_add(store, argv[1], "", argc == 3 ? argv[2] : NULL,
                               error);
  if (g_str_equal(command, "list") && argc == 2) {
    g_auto(GStrv) parts = g_strsplit(argv[1], "@", 2);
    if (g_strv_length(parts) != 2) {
      g_set_error(error, MM_MTA_ERROR, MM_MTA_ERROR_CONFIG, "NAME@HOST");
      return FALSE;
    }
    g_autoptr(MmList) list =
        mm_store_list_create(store, parts[0], parts[1], "[-_.0-9a-z]", error);
    return list != NULL;
  }
  if (g_str_equal(command, "remove") && argc == 2)
    return mm_store_list_remove(store, argv[1], error);
  if (g_str_equal(command, "regenerate") && argc <= 2)
    return mm_mta_regenerate(config, store, argc == 2 ? argv[1] : NULL,
                             error);
  if (g_str_equal(command, "socketmap") && argc == 3) {
    const char *lmtp_host = mm_config_get(config, "mta", "lmtp_host");
    const char *lmtp_port = mm_config_get(config, "mta", "lmtp_port");
    g_autoptr(MmMtaSocketmap) server = mm_mta_socketmap_new_full(
        store, argv[1], (guint)g_ascii_strtoull(argv[2], NULL, 10),
        lmtp_host, (guint)g_ascii_strtoull(lmtp_port, NULL, 10),
        mm_config_get(config, "mta", "verp_delimiter"), error);
    if (server == NULL || !mm_mta_socketmap_start(server, NULL, error))
      return FALSE;
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    g_unix_fd_add(STDIN_FILENO, G_IO_IN | G_IO_HUP, stop_on_input, loop);
    printf("ready %u\n", mm_mta_socketmap_get_port(server));
    fflush(stdout);
    g_main_loop_run(loop);
    return TRUE;
  }
  g_set_error(error, MM_MTA_ERROR, MM_MTA_ERROR_CONFIG,
              "unknown command or wrong arguments: %s", command);
  return FALSE;
}

int
main(int argc, char **argv)
{
  GError *error = NULL;

  if (argc < 3) {
    fprintf(stderr, "usage: %s CONFIG COMMAND [ARGS]\n", argv[0]);
    return 2;
  }
  g_autoptr(MmConfig) config = mm_config_load(argv[1], &error);
  if (config == NULL) {
    fprintf(stderr, "%s\n", error->message);
    return 1;
  }
  g_autofree char *db = mm_config_database_path(config, &error);
  if (db != NULL) {
    g_autofree char *dir = g_path_get_dirname(db);
    g_mkdir_with_parents(dir, 0755);
  }
  gboolean socketmap = g_str_equal(argv[2], "socketmap");
  g_autoptr(MmStore) store =
      db == NULL ? NULL
                 : mm_store_open(db,
                                 socketmap ? MM_STORE_READ_ONLY
                                           : MM_STORE_READ_WRITE,
                                 &error);
  if (store == NULL || !run(config, store, argc - 2, argv + 2, &error)) {
    fprintf(stderr, "%s\n", error->message);
    return 1;
  }
  return 0;
}
