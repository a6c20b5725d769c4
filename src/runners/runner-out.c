/* The out runner (Mailman's OutgoingRunner): hands each entry of the out
 * queue to the delivery engine, which sends it to the MTA and routes every
 * recipient to delivered, bounced (an entry in "bounces") or retried (an
 * entry in "retry").  See src/delivery/delivery.h.  The engine gets the
 * handlers module's decoration for the copies of personalized lists (the
 * delivery module sits below handlers and cannot call it itself), and a
 * stop check: on SIGTERM a long fan-out stops between transactions and
 * the entry is kept, to resume from its journal at the next start.
 *
 * The engine lives as long as this process, so that its SMTP connections
 * are reused across entries.  It is a file-static because MmRunnerContext
 * has no slot for a handler's state; one out runner process has exactly
 * one.  It is never freed: the process ends with the runner, and the
 * kernel closes the connections.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "runner-private.h"

#include "delivery.h"
#include "handlers.h"

static MmDelivery *delivery;

static gboolean
stop_requested(gpointer data)
{
  (void)data;
  return mm_runner_stop_requested();
}

/* The delivery engine's decorator for personalized lists: the handlers
 * module's, made once per entry and applied to every copy. */
static gpointer
decorator_prepare(gpointer data, const MmList *list, GBytes *message,
                  json_t *meta, GError **error)
{
  return mm_handlers_decorator_new(data, list, message, meta, error);
}

static GBytes *
decorator_decorate(gpointer prepared, const MmDeliveryRecipient *recipient,
                   GError **error)
{
  const MmHandlersRecipient who = {
      .recipient = recipient->recipient,
      .email = recipient->email,
      .display_name = recipient->display_name,
      .language = recipient->language,
  };
  return mm_handlers_decorator_apply(prepared, &who, error);
}

static void
decorator_release(gpointer prepared)
{
  mm_handlers_decorator_free(prepared);
}

MmRunnerResult
mm_runner_handle_out(MmRunnerContext *ctx, MmQueueEntry *entry,
                     GError **error)
{
  json_t *meta = mm_queue_entry_meta(entry);

  if (delivery == NULL) {
    delivery = mm_delivery_new(ctx->config, error);
    if (delivery == NULL)
      return MM_RUNNER_SHUNT;
    const MmDeliveryDecorator decorator = {
        .prepare = decorator_prepare,
        .decorate = decorator_decorate,
        .release = decorator_release,
        .data = (gpointer)ctx->config,
    };
    mm_delivery_set_decorator(delivery, &decorator);
    mm_delivery_set_stop_check(delivery, stop_requested, NULL);
  }
  /* Only entries of a list need the database. */
  MmStore *store = NULL;
  if (json_object_get(meta, "listid") != NULL) {
    store = mm_runner_store(ctx, error);
    if (store == NULL)
      return MM_RUNNER_SHUNT;
  }
  if (!mm_delivery_process(delivery, store, mm_queue_entry_id(entry),
                           mm_queue_entry_message(entry), meta, error))
    /* Stopped mid fan-out: kept (metadata names the journal), and the
     * loop then takes the signal. */
    return error != NULL && g_error_matches(*error, MM_DELIVERY_ERROR,
                           MM_DELIVERY_ERROR_INTERRUPTED)
               ? MM_RUNNER_KEEP
               : MM_RUNNER_SHUNT;
  return MM_RUNNER_FINISH;
}
