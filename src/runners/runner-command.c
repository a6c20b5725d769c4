/* The command runner: mail to a list's -request, -join, -leave and
 * -confirm addresses (Mailman's mailman/runners/command.py).
 *
 * First Mailman's replybot (mm_handlers_replybot(), autorespond_requests);
 * with respond_and_discard nothing more happens.  Then the work is
 * mm_commands_message_process(): loop prevention, the
 * commands, the workflows and notices they start, the one reply.  This
 * file finds the list and maps failures: a message for a list that has
 * gone is shunted (as Mailman's runner does); a busy database keeps the
 * entry for the next pass; any other failure shunts it, so `mailman
 * unshunt` can replay it.  A replay answers the commands that had
 * completed as repeated requests (no duplicate member, no second
 * confirmation), which is why an entry is never half-finished here.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "runner-private.h"

#include "base-log.h"
#include "commands.h"
#include "handlers.h"
#include "message.h"

MmRunnerResult
mm_runner_handle_command(MmRunnerContext *ctx, MmQueueEntry *entry,
                         GError **error)
{
  /* A kept entry must come back without an error set: the loop's
   * re-enqueue reports into the same GError. */
  g_autoptr(GError) local = NULL;
  MmStore *store = mm_runner_store(ctx, &local);
  if (store == NULL) {
    mm_log_error("error", "command runner: %s (will retry)", local->message);
    return MM_RUNNER_KEEP;
  }

  json_t *meta = mm_queue_entry_meta(entry);
  GBytes *raw = mm_queue_entry_message(entry);
  const char *spec = json_string_value(json_object_get(meta, "listid"));
  if (spec == NULL)
    spec = json_string_value(json_object_get(meta, "listname"));
  g_autoptr(MmList) list =
      spec != NULL ? mm_store_list_get(store, spec, NULL) : NULL;
  if (list == NULL) {
    g_autofree char *message_id = NULL;
    mm_message_header_get(raw, "Message-ID", &message_id);
    g_autofree char *shown_id =
        mm_log_escape(message_id != NULL ? message_id : "n/a", -1);
    g_autofree char *shown_list =
        mm_log_escape(spec != NULL ? spec : "(none)", -1);
    mm_log_error("error",
                 "%s runner \"%s\" shunting message for missing list: %s",
                 shown_id, ctx->name, shown_list);
    g_set_error(error, MM_COMMANDS_ERROR, MM_COMMANDS_ERROR_FAILED,
                "no such list: %s", shown_list);
    return MM_RUNNER_SHUNT;
  }

  /* Mailman's command runner answers -request mail automatically first,
   * and with respond_and_discard acts on none of its commands. */
  if (!mm_handlers_replybot(ctx->config, store, list, raw, meta, NULL,
                            &local)) {
    g_propagate_error(error, g_steal_pointer(&local));
    return MM_RUNNER_SHUNT;
  }
  if (mm_handlers_replybot_action(list, "autorespond_requests") ==
      MM_REPLYBOT_RESPOND_AND_DISCARD) {
    g_autofree char *message_id = NULL;
    mm_message_header_get(raw, "Message-ID", &message_id);
    g_autofree char *shown_id =
        mm_log_escape(message_id != NULL ? message_id : "n/a", -1);
    mm_log_info("vette", "%s -request message discarded after the automatic "
                "response", shown_id);
    return MM_RUNNER_FINISH;
  }

  MmCommandsContext commands = {
      .config = ctx->config,
      .store = store,
      .now_sec = 0,
  };
  if (mm_commands_message_process(&commands, list, raw, meta, NULL, &local))
    return MM_RUNNER_FINISH;
  if (g_error_matches(local, MM_COMMANDS_ERROR, MM_COMMANDS_ERROR_BUSY)) {
    mm_log_error("error", "command runner: %s: %s (will retry)",
                 list->fqdn_listname, local->message);
    return MM_RUNNER_KEEP;
  }
  /* The loop logs the shunt with this message. */
  g_propagate_error(error, g_steal_pointer(&local));
  return MM_RUNNER_SHUNT;
}
