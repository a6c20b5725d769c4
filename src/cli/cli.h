/* The `mailman` command line: shared pieces of the sub-commands.
 *
 * Each sub-command is one function in one cli-*.c file, listed in the table
 * of cli-main.c.  A sub-command returns the process exit status; on failure
 * it prints one clear line on stderr (mm_cli_fail) and leaves nothing
 * half-written (database changes run in one transaction).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "config.h"
#include "storage.h"

/* Exit statuses: 0 success, 1 failure, 2 usage error (as click). */
#define MM_CLI_EXIT_FAILURE 1
#define MM_CLI_EXIT_USAGE 2

typedef struct {
  const char *argv0;
  char *config_path;      /* NULL: defaults only */
  MmConfig *config;       /* loaded before the sub-command runs */
  gboolean run_as_root;
  const char *command;    /* the sub-command's name */
} MmCli;

/* Prints "mailman COMMAND: MESSAGE" on stderr and returns
 * MM_CLI_EXIT_FAILURE. */
int mm_cli_fail(MmCli *cli, const char *format, ...) G_GNUC_PRINTF(2, 3);

/* Parses sub-command options with @entries; on a usage error prints it and
 * returns FALSE with *@status_out = MM_CLI_EXIT_USAGE.  @argc/@argv are
 * updated to the remaining positional arguments (argv[0] is the command). */
gboolean mm_cli_parse(MmCli *cli, const char *parameter_string,
                      const char *summary, const GOptionEntry *entries,
                      int *argc, char ***argv, int *status_out);

/* Opens the site database read-write (creating directories and migrating
 * as needed).  NULL after printing the reason. */
MmStore *mm_cli_open_store(MmCli *cli);

/* Regenerates the MTA's files after a change to lists or domains; prints
 * and returns FALSE on failure. */
gboolean mm_cli_regenerate_mta(MmCli *cli, MmStore *store,
                               const char *directory);

/* Looks up LISTSPEC (fqdn or list-id); prints the error and returns NULL
 * when there is no such list. */
MmList *mm_cli_get_list(MmCli *cli, MmStore *store, const char *listspec);

/* Reads FILENAME whole ("-" or NULL: standard input), at most @max_bytes.
 * Returns the bytes (transfer full), or NULL after printing the reason. */
GBytes *mm_cli_read_input(MmCli *cli, const char *filename, gsize max_bytes);

/* Reads FILENAME as mm_cli_read_input() does and returns its lines, with
 * trailing white space removed.  NULL after printing the reason. */
char **mm_cli_read_lines(MmCli *cli, const char *filename, gsize max_bytes);

int mm_cli_create(MmCli *cli, int argc, char **argv);
int mm_cli_remove(MmCli *cli, int argc, char **argv);
int mm_cli_lists(MmCli *cli, int argc, char **argv);
int mm_cli_members(MmCli *cli, int argc, char **argv);
int mm_cli_addmembers(MmCli *cli, int argc, char **argv);
int mm_cli_delmembers(MmCli *cli, int argc, char **argv);
int mm_cli_syncmembers(MmCli *cli, int argc, char **argv);
int mm_cli_inject(MmCli *cli, int argc, char **argv);
int mm_cli_unshunt(MmCli *cli, int argc, char **argv);
int mm_cli_qfile(MmCli *cli, int argc, char **argv);
int mm_cli_info(MmCli *cli, int argc, char **argv);
int mm_cli_version(MmCli *cli, int argc, char **argv);
int mm_cli_conf(MmCli *cli, int argc, char **argv);
int mm_cli_aliases(MmCli *cli, int argc, char **argv);
int mm_cli_start(MmCli *cli, int argc, char **argv);
int mm_cli_stop(MmCli *cli, int argc, char **argv);
int mm_cli_restart(MmCli *cli, int argc, char **argv);
int mm_cli_reopen(MmCli *cli, int argc, char **argv);
int mm_cli_status(MmCli *cli, int argc, char **argv);
int mm_cli_master(MmCli *cli, int argc, char **argv);
int mm_cli_runner(MmCli *cli, int argc, char **argv);
int mm_cli_held(MmCli *cli, int argc, char **argv);
int mm_cli_moderate(MmCli *cli, int argc, char **argv);
int mm_cli_scan_bounce(MmCli *cli, int argc, char **argv);
int mm_cli_requests(MmCli *cli, int argc, char **argv);
int mm_cli_notify(MmCli *cli, int argc, char **argv);
int mm_cli_send_notice(MmCli *cli, int argc, char **argv);
int mm_cli_bounces(MmCli *cli, int argc, char **argv);
int mm_cli_reenable(MmCli *cli, int argc, char **argv);
