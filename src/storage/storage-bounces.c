/* Bounce events (Mailman's bounceevent) and member bounce state:
 * migration 4 and the functions over it (storage-bounces.h).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "storage-private.h"

/* Mailman 3's bounceevent: one row per recognised permanent bounce (or
 * permanent SMTP refusal), processed by the periodic scoring.  context is
 * Mailman's BounceContext: normal 1, probe 2.  The member's score, last
 * bounce and warnings live on the member row (migration 1). */
const char mm_store_migration_4[] =
    "CREATE TABLE bounceevent ("
    "  id INTEGER PRIMARY KEY,"
    "  list_id TEXT NOT NULL,"
    "  email TEXT NOT NULL,"
    "  timestamp INTEGER NOT NULL,"
    "  message_id TEXT,"
    "  context INTEGER NOT NULL DEFAULT 1,"
    "  processed INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX bounceevent_unprocessed ON bounceevent(processed, list_id);";
