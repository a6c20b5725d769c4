/* Subscription and unsubscription workflows (Mailman's workflowstate):
 * migration 3 and the functions over it (storage-workflows.h).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "storage-private.h"

/* Mailman 3's workflowstate: the token of the pending step, the step's
 * name, and the workflow's saved attributes as JSON. */
const char mm_store_migration_3[] =
    "CREATE TABLE workflowstate ("
    "  token TEXT PRIMARY KEY,"
    "  step TEXT,"
    "  data TEXT"
    ");";
