/* The master process: `mailman start` and its supervision of the runners.
 *
 * It takes the master lock (refusing a second start with the holder's pid),
 * writes the pid file, starts one child per runner slice (re-executing this
 * same binary as `mailman runner --runner=NAME:SLICE:COUNT`, as OpenSMTPD
 * and Mailman do), restarts a child that dies unexpectedly with back-off
 * and a budget, and on SIGTERM stops them all.  SIGUSR1 restarts every
 * runner (they re-read the configuration), SIGHUP reopens logs everywhere.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "config.h"

typedef struct {
  gboolean force;       /* take over a lock whose file names a dead master */
  gboolean run_as_root; /* passed on to the runners */
  gboolean foreground;  /* copy every log line to stderr as well */
  /* Extra options handed to each runner (tests: none).  NULL-terminated. */
  const char *const *runner_names; /* NULL: every [runner.*] with start yes */
} MmMasterOptions;

/* Runs the master until it is told to stop.  Returns the exit status:
 * 0 after a clean stop, 1 when it could not start (the reason was printed
 * on stderr and logged). */
int mm_master_run(const MmConfig *config, const MmMasterOptions *options);
