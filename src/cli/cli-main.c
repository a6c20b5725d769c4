/* `mailman [-C FILE] [--run-as-root] COMMAND [OPTIONS] [ARGS]`
 *
 * Global options come before the command, as in Mailman 3.  The
 * configuration is found and loaded once here (a bad value stops every
 * command with file, line, key and reason), then the command runs.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "cli.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base-log.h"

typedef struct {
  const char *name;
  int (*run)(MmCli *cli, int argc, char **argv);
  const char *summary; /* NULL: internal, not listed */
  gboolean needs_site; /* creates var/ directories and sets up logging */
} Command;

static const Command commands[] = {
    {"addmembers", mm_cli_addmembers, "Add members to a list from a file.",
     TRUE},
    {"aliases", mm_cli_aliases, "Regenerate the MTA's list address maps.",
     TRUE},
    {"bounces", mm_cli_bounces, "Show the bounce state of a list's members.",
     TRUE},
    {"conf", mm_cli_conf, "Print the effective configuration.", FALSE},
    {"create", mm_cli_create, "Create a mailing list.", TRUE},
    {"delmembers", mm_cli_delmembers, "Remove members from lists.", TRUE},
    {"genaliases", mm_cli_aliases,
     "Regenerate the MTA's list address maps (old name of aliases).", TRUE},
    {"held", mm_cli_held, "List the posts held for moderation.", TRUE},
    {"info", mm_cli_info, "Show the configuration and paths in use.", FALSE},
    {"inject", mm_cli_inject, "Put a message into a queue.", TRUE},
    {"lists", mm_cli_lists, "List the mailing lists.", TRUE},
    {"members", mm_cli_members, "Show a list's members.", TRUE},
    {"moderate", mm_cli_moderate, "Accept, reject or discard a held post.",
     TRUE},
    {"notify", mm_cli_notify,
     "Tell list owners and moderators about pending requests.", TRUE},
    {"qfile", mm_cli_qfile, "Show the contents of a queue file.", FALSE},
    {"reenable", mm_cli_reenable,
     "Re-enable members whose delivery bounces disabled.", TRUE},
    {"remove", mm_cli_remove, "Remove a mailing list.", TRUE},
    {"reopen", mm_cli_reopen, "Make the server reopen its log files.", FALSE},
    {"requests", mm_cli_requests,
     "List or decide pending (un)subscription requests.", TRUE},
    {"restart", mm_cli_restart, "Restart the runner processes.", FALSE},
    {"scan-bounce", mm_cli_scan_bounce,
     "Show the failed addresses a bounce message reports.", FALSE},
    {"send-notice", mm_cli_send_notice,
     "Send a sample of a notice template.", TRUE},
    {"start", mm_cli_start, "Start the master and runner processes.", TRUE},
    {"status", mm_cli_status, "Tell whether the server is running.", FALSE},
    {"stop", mm_cli_stop, "Stop the master and runner processes.", FALSE},
    {"syncmembers", mm_cli_syncmembers,
     "Make a list's members exactly those of a file.", TRUE},
    {"unshunt", mm_cli_unshunt, "Move shunted messages back to their queues.",
     TRUE},
    {"version", mm_cli_version, "Print the version.", FALSE},
    {"master", mm_cli_master, NULL, TRUE},
    {"runner", mm_cli_runner, NULL, TRUE},
};

static void
print_help(FILE *out)
{
  fprintf(out,
          "Usage: mailman [-C FILE] [--run-as-root] COMMAND [ARGS]...\n"
          "\n"
          "The GNU Mailman 3 compatible list server (C core).\n"
          "\n"
          "Options:\n"
          "  -C, --config FILE  Configuration file (default: searched as "
          "Mailman does)\n"
          "  --run-as-root      Allow running as root (not recommended)\n"
          "  --version          Print the version and exit\n"
          "  -h, --help         Show this help and exit\n"
          "\n"
          "Commands:\n");
  for (gsize i = 0; i < G_N_ELEMENTS(commands); i++)
    if (commands[i].summary != NULL)
      fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
  fprintf(out, "\nRun 'mailman COMMAND --help' for a command's options.\n");
}

static gboolean
prepare_site(MmCli *cli)
{
  g_autoptr(GError) error = NULL;

  if (!mm_config_ensure_dirs(cli->config, &error)) {
    mm_cli_fail(cli, "cannot create the site's directories: %s",
                error->message);
    return FALSE;
  }
  if (!mm_config_setup_logging(cli->config, &error)) {
    mm_cli_fail(cli, "cannot open the log files: %s", error->message);
    return FALSE;
  }
  return TRUE;
}

int
main(int argc, char **argv)
{
  MmCli cli = {.argv0 = argv[0]};
  const char *explicit_config = NULL;
  int i = 1;

  setlocale(LC_ALL, "");
  mm_log_init();
  /* Mailman runs with umask 007: files are for the list user's group. */
  umask(007);

  for (; i < argc && argv[i][0] == '-'; i++) {
    const char *arg = argv[i];
    if (g_str_equal(arg, "-C") || g_str_equal(arg, "--config")) {
      if (i + 1 >= argc) {
        fprintf(stderr, "mailman: %s needs a file name\n", arg);
        return MM_CLI_EXIT_USAGE;
      }
      explicit_config = argv[++i];
    } else if (g_str_has_prefix(arg, "--config=")) {
      explicit_config = arg + strlen("--config=");
    } else if (g_str_equal(arg, "--run-as-root")) {
      cli.run_as_root = TRUE;
    } else if (g_str_equal(arg, "--version")) {
      printf("GNU Mailman 3.3.8 compatible (mailman-c %s)\n", MM_VERSION);
      return 0;
    } else if (g_str_equal(arg, "-h") || g_str_equal(arg, "--help")) {
      print_help(stdout);
      return 0;
    } else {
      fprintf(stderr, "mailman: unknown option %s\n", arg);
      print_help(stderr);
      return MM_CLI_EXIT_USAGE;
    }
  }
  if (i >= argc) {
    print_help(stdout);
    return 0;
  }

  const Command *command = NULL;
  for (gsize c = 0; c < G_N_ELEMENTS(commands); c++)
    if (g_str_equal(commands[c].name, argv[i]))
      command = &commands[c];
  if (command == NULL) {
    fprintf(stderr, "mailman: no such command: %s\n", argv[i]);
    fprintf(stderr, "Run 'mailman --help' for the list of commands.\n");
    return MM_CLI_EXIT_USAGE;
  }
  cli.command = command->name;

  /* Like Mailman: a list server has no business running as root (it reads
   * mail from anyone); the override exists for containers. */
  if (geteuid() == 0 && !cli.run_as_root) {
    fprintf(stderr,
            "mailman: refusing to run as root; run it as the list user (for "
            "example with 'runuser -u list --'), or give --run-as-root if "
            "you really mean it.\n");
    return MM_CLI_EXIT_FAILURE;
  }

  g_autoptr(GError) error = NULL;
  g_autofree char *config_path =
      mm_config_find(explicit_config, argv[0], &error);
  cli.config_path = config_path;
  if (cli.config_path == NULL && error != NULL) {
    fprintf(stderr, "mailman: %s\n", error->message);
    return MM_CLI_EXIT_FAILURE;
  }
  g_autoptr(MmConfig) config = mm_config_load(cli.config_path, &error);
  cli.config = config;
  if (cli.config == NULL) {
    fprintf(stderr, "mailman: configuration error: %s\n", error->message);
    return MM_CLI_EXIT_FAILURE;
  }
  if (command->needs_site && !prepare_site(&cli))
    return MM_CLI_EXIT_FAILURE;
  /* Unknown keys are worth one warning per command, not one per runner
   * process: the master has reported them already. */
  const GPtrArray *warnings = mm_config_warnings(cli.config);
  for (guint w = 0; !g_str_equal(command->name, "runner") &&
                    w < warnings->len; w++)
    mm_log_warning("config", "%s", (const char *)warnings->pdata[w]);

  return command->run(&cli, argc - i, argv + i);
}
