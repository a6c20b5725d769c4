/* The lmtp runner: the LMTP server on a GMainLoop until a signal stops it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "runner.h"
#include "runner-private.h"

#include <signal.h>

#include "base-log.h"

int
mm_runner_run_lmtp(const MmConfig *config)
{
  mm_log_error("error", "the LMTP server is not part of this build yet");
  return MM_RUNNER_EXIT_CONFIG;
}
