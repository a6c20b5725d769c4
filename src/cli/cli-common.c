/* Helpers shared by the sub-commands.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "base-file.h"
#include "mta.h"

int
mm_cli_fail(MmCli *cli, const char *format, ...)
{
  va_list args;
  va_start(args, format);
  g_autofree char *message = g_strdup_vprintf(format, args);
  va_end(args);
  fprintf(stderr, "mailman %s: %s\n", cli->command, message);
  return MM_CLI_EXIT_FAILURE;
}

gboolean
mm_cli_parse(MmCli *cli, const char *parameter_string, const char *summary,
             const GOptionEntry *entries, int *argc, char ***argv,
             int *status_out)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *usage = g_strdup_printf("%s %s", cli->command,
                                           parameter_string ? parameter_string
                                                            : "");
  g_autoptr(GOptionContext) context = g_option_context_new(usage);

  g_option_context_set_summary(context, summary);
  g_option_context_set_help_enabled(context, TRUE);
  if (entries != NULL)
    g_option_context_add_main_entries(context, entries, NULL);
  g_option_context_set_strict_posix(context, FALSE);
  if (!g_option_context_parse(context, argc, argv, &error)) {
    fprintf(stderr, "mailman %s: %s\n", cli->command, error->message);
    fprintf(stderr, "Run 'mailman %s --help' for usage.\n", cli->command);
    *status_out = MM_CLI_EXIT_USAGE;
    return FALSE;
  }
  return TRUE;
}

MmStore *
mm_cli_open_store(MmCli *cli)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = mm_config_database_path(cli->config, &error);

  if (path == NULL) {
    mm_cli_fail(cli, "%s", error->message);
    return NULL;
  }
  MmStore *store = mm_store_open(path, MM_STORE_READ_WRITE, &error);
  if (store == NULL)
    mm_cli_fail(cli, "cannot open the database %s: %s", path,
                error->message);
  return store;
}

gboolean
mm_cli_regenerate_mta(MmCli *cli, MmStore *store, const char *directory)
{
  g_autoptr(GError) error = NULL;

  if (!mm_mta_regenerate(cli->config, store, directory, &error)) {
    mm_cli_fail(cli, "regenerating the MTA maps failed: %s", error->message);
    return FALSE;
  }
  return TRUE;
}

MmList *
mm_cli_get_list(MmCli *cli, MmStore *store, const char *listspec)
{
  g_autoptr(GError) error = NULL;
  MmList *list = mm_store_list_get(store, listspec, &error);

  if (list == NULL) {
    if (g_error_matches(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND))
      mm_cli_fail(cli, "no such list: %s", listspec);
    else
      mm_cli_fail(cli, "%s", error->message);
  }
  return list;
}

GBytes *
mm_cli_read_input(MmCli *cli, const char *filename, gsize max_bytes)
{
  g_autoptr(GError) error = NULL;

  if (filename != NULL && !g_str_equal(filename, "-")) {
    GBytes *bytes = mm_file_read_bounded(filename, max_bytes, &error);
    if (bytes == NULL)
      mm_cli_fail(cli, "%s", error->message);
    return bytes;
  }
  GByteArray *buf = g_byte_array_new();
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0) {
    if (buf->len + n > max_bytes) {
      g_byte_array_unref(buf);
      mm_cli_fail(cli, "standard input is larger than %" G_GSIZE_FORMAT
                  " bytes", max_bytes);
      return NULL;
    }
    g_byte_array_append(buf, (const guint8 *)chunk, (guint)n);
  }
  return g_byte_array_free_to_bytes(buf);
}

char **
mm_cli_read_lines(MmCli *cli, const char *filename, gsize max_bytes)
{
  g_autoptr(GBytes) bytes = mm_cli_read_input(cli, filename, max_bytes);
  if (bytes == NULL)
    return NULL;

  gsize len = 0;
  const char *data = g_bytes_get_data(bytes, &len);
  g_autofree char *text = g_strndup(data ? data : "", len);
  if (strlen(text) != len) {
    mm_cli_fail(cli, "%s contains a NUL byte", filename);
    return NULL;
  }
  char **lines = g_strsplit(text, "\n", -1);
  for (char **l = lines; *l != NULL; l++)
    g_strchomp(*l);
  return lines;
}
