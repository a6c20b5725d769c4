/* Runners: the processes that move queue entries along, as in Mailman 3.
 *
 * The master starts one process per configured [runner.NAME] section and
 * slice, each running `mailman runner --runner=NAME:SLICE:COUNT`, which
 * lands in mm_runner_main().  What a runner does is chosen by the section's
 * `class` (Mailman's Python class names, so an existing mailman.cfg keeps
 * working); the table in runner-table.c maps each class to a kind and, for
 * queue runners, to a handler.
 *
 * A queue runner recovers the .bak entries of its slice at start, then
 * loops: list the slice oldest first, claim each entry, run the handler,
 * finish (or shunt) it; sleep `sleep_time` only after a pass that found
 * nothing.  SIGTERM/SIGINT stop it after the current entry, SIGUSR1 stops it
 * for a restart, SIGHUP reopens the logs.  The exit status is the number of
 * the signal that stopped it (0 otherwise), as Mailman's.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "config.h"

/* Exit status of a runner that could not start (bad spec, unknown runner,
 * unusable configuration): Mailman's runner exits 15 for an unknown name;
 * we use a distinct value the master treats as "do not restart". */
#define MM_RUNNER_EXIT_CONFIG 78 /* EX_CONFIG */

/* Parses "NAME", "NAME:SLICE:COUNT" (COUNT a power of two, SLICE < COUNT).
 * @name_out is transfer full. */
gboolean mm_runner_parse_spec(const char *spec, char **name_out,
                              guint *slice_out, guint *count_out,
                              GError **error);

/* Whether the runner configured as [runner.@name] can run in this build:
 * FALSE with a reason (transfer full) for an unknown class or a runner whose
 * work is not implemented as a process here (the REST runner, for now).
 * The master logs the reason and does not start it. */
gboolean mm_runner_available(const MmConfig *config, const char *name,
                             char **reason_out);

/* Runs the runner described by @spec until a signal stops it.  Returns the
 * process exit status. */
int mm_runner_main(const MmConfig *config, const char *spec, gboolean once);
