/* Notices the command line sends (through the virgin queue).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "cli.h"

/* Queues the "your new list exists" notice to @owners (NULL-terminated). */
gboolean mm_cli_notice_list_created(MmCli *cli, const MmList *list,
                                    const char *const *owners,
                                    GError **error);
