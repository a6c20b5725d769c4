/* Recording bounce events (Mailman's BounceProcessor.register).
 *
 * An event is a bounceevent row (storage-bounces.h); the bounce itself
 * goes into the message store, once per Message-ID, for the notices and
 * the probe that attach it, as Mailman keeps it in its IMessageStore.
 *
 * Order: the message first, then the row.  A crash in between leaves a
 * stored message nothing refers to, which the task runner's eviction of
 * unreferenced messages removes; never a row whose message is missing
 * because of us (the eviction may still remove it before scoring runs, in
 * which case the notices go without the attachment, as Mailman's do when
 * the message store has lost it).
 *
 * A runner crash after recording and before finishing its queue entry
 * records the events again when the entry is retried: scoring counts one
 * bounce per member and day, so the duplicate changes nothing unless the
 * retry comes on another day.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "bounce-private.h"

#include <string.h>

#include "message.h"
#include "storage-bounces.h"

/* RFC 5322's line limit, the message store's bound on a Message-ID. */
#define MESSAGE_ID_MAX_LEN 998

void
mm_bounce_event_free(MmBounceEvent *event)
{
  if (event == NULL)
    return;
  g_free(event->list_id);
  g_free(event->email);
  g_free(event->message_id);
  g_free(event);
}

gboolean
mm_bounce_event_record(MmStore *store, const char *messages_dir,
                       const MmBounceEvent *event, GBytes *message,
                       GError **error)
{
  g_return_val_if_fail(store != NULL && event != NULL, FALSE);
  g_return_val_if_fail(event->list_id != NULL && event->email != NULL, FALSE);

  const char *message_id = event->message_id;
  if (message != NULL && message_id != NULL && messages_dir != NULL) {
    g_autofree char *hash = mm_message_id_hash(message_id);
    g_autoptr(GError) local = NULL;
    /* Mailman: "It doesn't matter if we save it more than once.  Only one
     * copy will be saved". */
    if (!mm_store_message_add(store, messages_dir, message_id, hash, message,
                              NULL, &local)) {
      if (!g_error_matches(local, MM_STORE_ERROR, MM_STORE_ERROR_INVALID)) {
        g_propagate_error(error, g_steal_pointer(&local));
        return FALSE;
      }
      /* A message the store refuses (an absurd Message-ID, a huge
       * bounce) still counts as a bounce; the notices go without it. */
      if (strlen(message_id) > MESSAGE_ID_MAX_LEN)
        message_id = NULL;
    }
  }
  int context = event->context == MM_BOUNCE_CONTEXT_PROBE
                    ? MM_STORE_BOUNCE_CONTEXT_PROBE
                    : MM_STORE_BOUNCE_CONTEXT_NORMAL;
  return mm_store_bounce_event_add(store, event->list_id, event->email,
                                   event->timestamp_usec, message_id, context,
                                   error) > 0;
}
