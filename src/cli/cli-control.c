/* mailman start | stop | restart | reopen | status, and the internal
 * `master` and `runner` commands the start sequence executes.
 *
 * `start` checks the lock, regenerates the MTA maps (as Mailman does on
 * every start), then runs the master: in the foreground with --foreground
 * (logs copied to the terminal), otherwise detached in its own session,
 * waiting a bounded time to report whether it came up.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base-lock.h"
#include "base-log.h"
#include "master.h"
#include "runner.h"

/* How long `start` waits for the master to take its lock, and `stop` for
 * it to exit (the master itself gives runners 30 s after SIGTERM). */
#define START_WAIT_USEC (15 * G_USEC_PER_SEC)
#define STOP_WAIT_USEC (45 * G_USEC_PER_SEC)
#define POLL_USEC (50 * 1000)

/* Reads the master's pid from the pid file; 0 when there is none. */
static int
read_pid_file(const char *pid_file)
{
  g_autofree char *text = NULL;
  gsize len = 0;
  guint64 pid = 0;

  if (!g_file_get_contents(pid_file, &text, &len, NULL) || len > 64)
    return 0;
  g_strstrip(text);
  if (!g_ascii_string_to_unsigned(text, 10, 1, G_MAXINT, &pid, NULL))
    return 0;
  return (int)pid;
}

/* Exports the resolved var_dir so that the master and the runners, which
 * run from var_dir, keep the paths of this invocation (the default layout
 * is relative to the current directory). */
static void
pin_var_dir(MmCli *cli)
{
  g_setenv("MAILMAN_VAR_DIR", mm_config_path(cli->config, "var_dir"), TRUE);
}

static GPtrArray *
self_argv(MmCli *cli, const char *command)
{
  GPtrArray *argv = g_ptr_array_new();
  g_ptr_array_add(argv, (char *)"mailman");
  if (mm_config_file(cli->config) != NULL) {
    g_ptr_array_add(argv, (char *)"-C");
    g_ptr_array_add(argv, (char *)mm_config_file(cli->config));
  }
  if (cli->run_as_root)
    g_ptr_array_add(argv, (char *)"--run-as-root");
  g_ptr_array_add(argv, (char *)command);
  return argv;
}

int
mm_cli_start(MmCli *cli, int argc, char **argv)
{
  gboolean force = FALSE, generate = FALSE, run_as_user = FALSE;
  gboolean quiet = FALSE, foreground = FALSE;
  int status = 0;
  const GOptionEntry entries[] = {
      {"force", 'f', 0, G_OPTION_ARG_NONE, &force,
       "Start even if a previous master left its lock behind (always safe "
       "here: a dead master's lock is recognised as such)",
       NULL},
      {"generate-aliases", 'g', 0, G_OPTION_ARG_NONE, &generate,
       "Regenerate the MTA maps (always done)", NULL},
      {"run-as-user", 'u', 0, G_OPTION_ARG_NONE, &run_as_user,
       "Accepted for compatibility; run the command as the list user "
       "instead",
       NULL},
      {"quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet,
       "Print only errors", NULL},
      {"foreground", 0, 0, G_OPTION_ARG_NONE, &foreground,
       "Stay in the foreground and copy the logs to the terminal", NULL},
      {NULL}};

  if (!mm_cli_parse(cli, NULL, "Start the master and runner processes.",
                    entries, &argc, &argv, &status))
    return status;
  if (argc != 1) {
    fprintf(stderr, "mailman start: takes no arguments\n");
    return MM_CLI_EXIT_USAGE;
  }

  const char *lock_file = mm_config_path(cli->config, "lock_file");
  if (mm_lock_is_held(lock_file)) {
    int pid = 0;
    mm_lock_read_holder(lock_file, NULL, &pid);
    return mm_cli_fail(cli, "GNU Mailman is already running (master pid %d)",
                       pid);
  }

  {
    g_autoptr(MmStore) store = mm_cli_open_store(cli);
    if (store == NULL)
      return MM_CLI_EXIT_FAILURE;
    if (!quiet)
      printf("Regenerating the MTA maps\n");
    if (!mm_cli_regenerate_mta(cli, store, NULL))
      return MM_CLI_EXIT_FAILURE;
  }

  pin_var_dir(cli);
  const char *var_dir = mm_config_path(cli->config, "var_dir");
  if (chdir(var_dir) < 0)
    return mm_cli_fail(cli, "cannot enter %s: %s", var_dir,
                       g_strerror(errno));

  if (foreground) {
    if (!quiet)
      printf("Starting the master in the foreground (Ctrl-C stops it)\n");
    fflush(stdout);
    MmMasterOptions options = {.force = force,
                               .run_as_root = cli->run_as_root,
                               .foreground = TRUE};
    return mm_master_run(cli->config, &options);
  }

  g_autoptr(GPtrArray) args = self_argv(cli, "master");
  if (force)
    g_ptr_array_add(args, (char *)"--force");
  g_ptr_array_add(args, NULL);

  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0)
    return mm_cli_fail(cli, "fork: %s", g_strerror(errno));
  if (pid == 0) {
    setsid();
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
      dup2(null, STDIN_FILENO);
      dup2(null, STDOUT_FILENO);
      /* stderr too: from here on everything goes to the log files. */
      dup2(null, STDERR_FILENO);
    }
    execv("/proc/self/exe", (char **)args->pdata);
    _exit(127);
  }

  /* Wait, with a bound, until the master holds its lock, or has died. */
  gint64 deadline = g_get_monotonic_time() + START_WAIT_USEC;
  while (g_get_monotonic_time() < deadline) {
    int wstatus = 0;
    if (waitpid(pid, &wstatus, WNOHANG) == pid)
      return mm_cli_fail(cli,
                         "the master exited at once (status %d); see the "
                         "logs in %s",
                         WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1,
                         mm_config_path(cli->config, "log_dir"));
    if (mm_lock_is_held(lock_file) &&
        read_pid_file(mm_config_path(cli->config, "pid_file")) == pid) {
      if (!quiet)
        printf("Started the master (pid %d)\n", (int)pid);
      return 0;
    }
    g_usleep(POLL_USEC);
  }
  return mm_cli_fail(cli, "the master (pid %d) has not taken its lock after "
                          "%d s; see the logs in %s",
                     (int)pid, (int)(START_WAIT_USEC / G_USEC_PER_SEC),
                     mm_config_path(cli->config, "log_dir"));
}

/* Sends @sig to the master named by the pid file.  Returns the pid, or 0
 * after printing why it could not. */
static int
signal_master(MmCli *cli, int sig)
{
  const char *pid_file = mm_config_path(cli->config, "pid_file");
  int pid = read_pid_file(pid_file);

  if (pid == 0) {
    mm_cli_fail(cli, "no master pid in %s; is the server running?", pid_file);
    return 0;
  }
  if (kill(pid, sig) < 0) {
    int saved = errno;
    if (saved == ESRCH) {
      unlink(pid_file);
      mm_cli_fail(cli, "no process %d is running; removed the stale pid "
                       "file %s",
                  pid, pid_file);
    } else {
      mm_cli_fail(cli, "cannot signal process %d: %s", pid,
                  g_strerror(saved));
    }
    return 0;
  }
  return pid;
}

static gboolean
parse_quiet(MmCli *cli, const char *summary, int *argc, char ***argv,
            gboolean *quiet, int *status)
{
  const GOptionEntry entries[] = {
      {"quiet", 'q', 0, G_OPTION_ARG_NONE, quiet, "Print only errors", NULL},
      {NULL}};
  if (!mm_cli_parse(cli, NULL, summary, entries, argc, argv, status))
    return FALSE;
  if (*argc != 1) {
    fprintf(stderr, "mailman %s: takes no arguments\n", cli->command);
    *status = MM_CLI_EXIT_USAGE;
    return FALSE;
  }
  return TRUE;
}

int
mm_cli_stop(MmCli *cli, int argc, char **argv)
{
  gboolean quiet = FALSE;
  int status = 0;

  if (!parse_quiet(cli, "Stop the master and runner processes.", &argc,
                   &argv, &quiet, &status))
    return status;
  int pid = signal_master(cli, SIGTERM);
  if (pid == 0)
    return MM_CLI_EXIT_FAILURE;
  if (!quiet)
    printf("Stopping the master (pid %d)\n", pid);

  /* Unlike Mailman, wait (bounded) so that `stop; start` works. */
  const char *lock_file = mm_config_path(cli->config, "lock_file");
  gint64 deadline = g_get_monotonic_time() + STOP_WAIT_USEC;
  while (g_get_monotonic_time() < deadline) {
    if (!mm_pid_alive(pid) || !mm_lock_is_held(lock_file))
      return 0;
    g_usleep(POLL_USEC);
  }
  return mm_cli_fail(cli, "the master (pid %d) is still running after %d s",
                     pid, (int)(STOP_WAIT_USEC / G_USEC_PER_SEC));
}

int
mm_cli_restart(MmCli *cli, int argc, char **argv)
{
  gboolean quiet = FALSE;
  int status = 0;

  if (!parse_quiet(cli, "Restart the runner processes.", &argc, &argv, &quiet,
                   &status))
    return status;
  if (signal_master(cli, SIGUSR1) == 0)
    return MM_CLI_EXIT_FAILURE;
  if (!quiet)
    printf("Restarting the runners\n");
  return 0;
}

int
mm_cli_reopen(MmCli *cli, int argc, char **argv)
{
  gboolean quiet = FALSE;
  int status = 0;

  if (!parse_quiet(cli, "Make every process reopen its log files.", &argc,
                   &argv, &quiet, &status))
    return status;
  if (signal_master(cli, SIGHUP) == 0)
    return MM_CLI_EXIT_FAILURE;
  if (!quiet)
    printf("Reopening the log files\n");
  return 0;
}

int
mm_cli_status(MmCli *cli, int argc, char **argv)
{
  int status = 0;

  if (!mm_cli_parse(cli, NULL, "Tell whether the server is running.", NULL,
                    &argc, &argv, &status))
    return status;
  const char *lock_file = mm_config_path(cli->config, "lock_file");
  g_autofree char *host = NULL;
  int pid = 0;
  gboolean named = mm_lock_read_holder(lock_file, &host, &pid);

  /* Exit codes are Mailman's: 0 not running, 1 running, 2 stale lock,
   * 3 lock held on another host. */
  if (mm_lock_is_held(lock_file)) {
    printf("GNU Mailman is running (master pid %d)\n", pid);
    return 1;
  }
  if (!named) {
    printf("GNU Mailman is not running\n");
    return 0;
  }
  char here[256] = "";
  gethostname(here, sizeof here - 1);
  if (!g_str_equal(host, here)) {
    printf("GNU Mailman's lock names another host (%s, not %s)\n", host,
           here);
    return 3;
  }
  printf("GNU Mailman is stopped (the lock names pid %d, which is gone)\n",
         pid);
  return 2;
}

int
mm_cli_master(MmCli *cli, int argc, char **argv)
{
  gboolean force = FALSE, foreground = FALSE, no_restart = FALSE;
  g_auto(GStrv) runners = NULL;
  int status = 0;
  const GOptionEntry entries[] = {
      {"force", 'f', 0, G_OPTION_ARG_NONE, &force, "See 'start --force'",
       NULL},
      {"foreground", 0, 0, G_OPTION_ARG_NONE, &foreground,
       "Copy the logs to the terminal", NULL},
      {"no-restart", 'n', 0, G_OPTION_ARG_NONE, &no_restart,
       "Accepted for compatibility", NULL},
      {"runners", 'r', 0, G_OPTION_ARG_STRING_ARRAY, &runners,
       "Start only this runner (repeatable)", "NAME"},
      {NULL}};

  if (!mm_cli_parse(cli, NULL, "Run the master process (used by start).",
                    entries, &argc, &argv, &status))
    return status;
  pin_var_dir(cli);
  const char *var_dir = mm_config_path(cli->config, "var_dir");
  if (chdir(var_dir) < 0)
    return mm_cli_fail(cli, "cannot enter %s: %s", var_dir,
                       g_strerror(errno));
  MmMasterOptions options = {.force = force,
                             .run_as_root = cli->run_as_root,
                             .foreground = foreground,
                             .runner_names = (const char *const *)runners};
  return mm_master_run(cli->config, &options);
}

int
mm_cli_runner(MmCli *cli, int argc, char **argv)
{
  g_autofree char *spec = NULL;
  gboolean once = FALSE, list = FALSE, verbose = FALSE;
  int status = 0;
  const GOptionEntry entries[] = {
      {"runner", 'r', 0, G_OPTION_ARG_STRING, &spec,
       "The runner to run: NAME or NAME:SLICE:COUNT", "SPEC"},
      {"once", 'o', 0, G_OPTION_ARG_NONE, &once,
       "Make one pass over the queue and exit", NULL},
      {"list", 'l', 0, G_OPTION_ARG_NONE, &list,
       "List the configured runners and exit", NULL},
      {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose,
       "Accepted for compatibility", NULL},
      {NULL}};

  if (!mm_cli_parse(cli, NULL, "Run one runner (used by the master).",
                    entries, &argc, &argv, &status))
    return status;
  if (list) {
    g_auto(GStrv) names = mm_config_section_names(cli->config, "runner");
    for (char **n = names; *n != NULL; n++) {
      g_autofree char *section = g_strconcat("runner.", *n, NULL);
      printf("%s runs %s\n", *n, mm_config_get(cli->config, section,
                                               "class"));
    }
    return 0;
  }
  if (spec == NULL) {
    fprintf(stderr, "mailman runner: --runner is required\n");
    return MM_CLI_EXIT_USAGE;
  }
  if (g_strcmp0(g_getenv("MAILMAN_LOG_TEE"), "1") == 0)
    mm_log_set_tee_stderr(TRUE);
  return mm_runner_main(cli->config, spec, once);
}
