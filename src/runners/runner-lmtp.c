/* The lmtp runner: the LMTP server (and, when configured, the Postfix
 * socketmap server) on one GMainLoop until a signal stops it.
 *
 * Signals arrive through g_unix_signal_add(), so they are handled between
 * two events of the loop, never in the middle of a session's write to a
 * queue: a stop after the final dot's 250 has been sent loses nothing, and
 * a stop before it leaves the MTA to retry.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "runner.h"
#include "runner-private.h"

#include <glib-unix.h>
#include <signal.h>

#include "base-log.h"
#include "lmtp.h"
#include "mta.h"

typedef struct {
  GMainLoop *loop;
  int status;
} LmtpRun;

static gboolean
on_stop_signal(gpointer data, int signum)
{
  LmtpRun *run = data;
  run->status = signum;
  g_main_loop_quit(run->loop);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_sigterm(gpointer data)
{
  return on_stop_signal(data, SIGTERM);
}

static gboolean
on_sigint(gpointer data)
{
  return on_stop_signal(data, SIGINT);
}

static gboolean
on_sigusr1(gpointer data)
{
  return on_stop_signal(data, SIGUSR1);
}

static gboolean
on_sighup(gpointer data)
{
  g_autoptr(GError) error = NULL;
  if (!mm_log_reopen(&error))
    mm_log_error("error", "cannot reopen logs: %s", error->message);
  return G_SOURCE_CONTINUE;
}

int
mm_runner_run_lmtp(const MmConfig *config)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GMainContext) context = g_main_context_ref_thread_default();
  LmtpRun run = {.loop = g_main_loop_new(context, FALSE), .status = 0};

  g_autoptr(MmLmtpServer) server = mm_lmtp_server_new(config, &error);
  if (server == NULL || !mm_lmtp_server_start(server, context, &error)) {
    mm_log_error("error", "runner lmtp: %s", error->message);
    g_main_loop_unref(run.loop);
    /* A port in use or a bad address fails the same way on every restart,
     * but the port may free up: let the master retry within its budget. */
    return g_error_matches(error, MM_LMTP_ERROR, MM_LMTP_ERROR_CONFIG)
               ? MM_RUNNER_EXIT_CONFIG
               : 1;
  }

  g_autoptr(MmMtaSocketmap) socketmap = NULL;
  if (mm_mta_socketmap_configured(config)) {
    socketmap = mm_mta_socketmap_new(config, &error);
    if (socketmap == NULL ||
        !mm_mta_socketmap_start(socketmap, context, &error)) {
      mm_log_error("error", "runner lmtp: socketmap: %s", error->message);
      g_main_loop_unref(run.loop);
      return 1;
    }
  }

  guint sources[] = {
      g_unix_signal_add(SIGTERM, on_sigterm, &run),
      g_unix_signal_add(SIGINT, on_sigint, &run),
      g_unix_signal_add(SIGUSR1, on_sigusr1, &run),
      g_unix_signal_add(SIGHUP, on_sighup, &run),
  };
  g_main_loop_run(run.loop);
  for (gsize i = 0; i < G_N_ELEMENTS(sources); i++)
    g_source_remove(sources[i]);
  g_main_loop_unref(run.loop);
  return run.status;
}
