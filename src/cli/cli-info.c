/* mailman info | version | conf | aliases (genaliases)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "base-file.h"

/* Writes @out to @path (atomically) or to stdout when @path is NULL. */
static int
emit(MmCli *cli, const char *path, GString *out)
{
  g_autoptr(GError) error = NULL;

  if (path == NULL) {
    fwrite(out->str, 1, out->len, stdout);
    return 0;
  }
  if (!mm_file_write_atomic(path, out->str, out->len, 0660, &error))
    return mm_cli_fail(cli, "%s", error->message);
  return 0;
}

int
mm_cli_version(MmCli *cli, int argc, char **argv)
{
  int status = 0;
  if (!mm_cli_parse(cli, NULL, "Print the version.", NULL, &argc, &argv,
                    &status))
    return status;
  printf("GNU Mailman 3.3.8 compatible (mailman-c %s)\n", MM_VERSION);
  return 0;
}

int
mm_cli_info(MmCli *cli, int argc, char **argv)
{
  g_autofree char *output = NULL;
  gboolean verbose = FALSE;
  int status = 0;
  const GOptionEntry entries[] = {
      {"output", 'o', 0, G_OPTION_ARG_FILENAME, &output,
       "Write to FILE instead of standard output", "FILE"},
      {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose,
       "Show the file system paths as well", NULL},
      {NULL}};

  if (!mm_cli_parse(cli, NULL, "Show the configuration in use.", entries,
                    &argc, &argv, &status))
    return status;

  const MmConfig *config = cli->config;
  g_autoptr(GString) out = g_string_new(NULL);
  g_string_append_printf(out, "GNU Mailman 3.3.8 compatible (mailman-c %s)\n",
                         MM_VERSION);
  g_string_append_printf(out, "config file: %s\n",
                         mm_config_file(config) ? mm_config_file(config)
                                                : "(built-in defaults)");
  g_autofree char *db_url = mm_config_expand(
      config, mm_config_get(config, "database", "url"), NULL);
  g_string_append_printf(out, "db url: %s\n", db_url);
  g_string_append_printf(
      out, "devmode: %s\n",
      mm_config_get_bool(config, "devmode", "enabled") ? "ENABLED"
                                                       : "DISABLED");
  const char *scheme =
      mm_config_get_bool(config, "webservice", "use_https") ? "https"
                                                            : "http";
  g_string_append_printf(out, "REST root url: %s://%s:%s/3.1/\n", scheme,
                         mm_config_get(config, "webservice", "hostname"),
                         mm_config_get(config, "webservice", "port"));
  g_string_append_printf(out, "REST credentials: %s:%s\n",
                         mm_config_get(config, "webservice", "admin_user"),
                         mm_config_get(config, "webservice", "admin_pass"));
  if (verbose) {
    static const char *const paths[] = {
        "archive_dir", "bin_dir",   "cache_dir",     "data_dir",
        "etc_dir",     "ext_dir",   "list_data_dir", "lock_dir",
        "lock_file",   "log_dir",   "messages_dir",  "pid_file",
        "queue_dir",   "template_dir", "var_dir"};
    g_string_append(out, "File system paths:\n");
    for (gsize i = 0; i < G_N_ELEMENTS(paths); i++) {
      g_autofree char *upper = g_ascii_strup(paths[i], -1);
      g_string_append_printf(out, "    %-13s = %s\n", upper,
                             mm_config_path(config, paths[i]));
    }
  }
  return emit(cli, output, out);
}

int
mm_cli_conf(MmCli *cli, int argc, char **argv)
{
  g_autofree char *output = NULL, *section = NULL, *key = NULL;
  int status = 0;
  const GOptionEntry entries[] = {
      {"output", 'o', 0, G_OPTION_ARG_FILENAME, &output,
       "Write to FILE instead of standard output", "FILE"},
      {"section", 's', 0, G_OPTION_ARG_STRING, &section,
       "Only this section", "SECTION"},
      {"key", 'k', 0, G_OPTION_ARG_STRING, &key,
       "Only this key (in every section that has it)", "KEY"},
      {NULL}};

  if (!mm_cli_parse(cli, NULL, "Print the effective configuration.", entries,
                    &argc, &argv, &status))
    return status;
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) out = g_string_new(NULL);
  if (!mm_config_dump(cli->config, section, key, out, &error))
    return mm_cli_fail(cli, "%s", error->message);
  return emit(cli, output, out);
}

int
mm_cli_aliases(MmCli *cli, int argc, char **argv)
{
  g_autofree char *directory = NULL;
  int status = 0;
  const GOptionEntry entries[] = {
      {"directory", 'd', 0, G_OPTION_ARG_FILENAME, &directory,
       "Write the files into DIR instead of the data directory", "DIR"},
      {NULL}};

  if (!mm_cli_parse(cli, NULL,
                    "Regenerate the files the MTA reads to find the lists.",
                    entries, &argc, &argv, &status))
    return status;
  if (argc != 1) {
    fprintf(stderr, "mailman %s: takes no arguments\n", cli->command);
    return MM_CLI_EXIT_USAGE;
  }
  g_autoptr(MmStore) store = mm_cli_open_store(cli);
  if (store == NULL)
    return MM_CLI_EXIT_FAILURE;
  return mm_cli_regenerate_mta(cli, store, directory) ? 0
                                                      : MM_CLI_EXIT_FAILURE;
}
