/* The bounces runner: every message to a list's -bounces address (Mailman's
 * BounceRunner._dispose, runners/bounce.py).
 *
 * The decision is mm_bounce_decide() (VERP, then probe tokens, then the
 * detector chain); this file acts on it and logs to "bounce" with
 * Mailman's lines:
 *   REGISTER      one bounce event per address (bounce-event files under
 *                 $data_dir/bounce-events until the bounceevent table
 *                 exists); the scoring that reads them is a later step;
 *   TEMPORARY     nothing (Mailman ignores temporary failures silently);
 *   UNRECOGNIZED  "VERPed bounce message but not a recognized DSN" or
 *                 "Bounce message w/no discernable addresses", then
 *                 forwarded per forward_unrecognized_bounces_to: to the
 *                 owners and moderators, or the site owner (also when the
 *                 list has no owner or moderator: Mailman would queue a
 *                 notice with no recipients, and the bounce would be lost),
 *                 or discarded with "Discarding unrecognized bounce";
 *   AUTO_REPLY    Mailman's line for an unrecognised message, then dropped
 *                 with a line saying so: a vacation message is not news for
 *                 the owners.
 * With process_bounces off, Mailman drops the message unread; as the
 * issue asks, we still record the events (scoring ignores them while the
 * list does not process bounces) and forward nothing.
 *
 * Probe tokens cannot be resolved until pendings exist: a probe bounce is
 * then treated as Mailman treats an expired token (the detectors decide).
 *
 * Failure handling: the notice and the events are written durably before
 * the entry is finished.  A failure to write either shunts the entry
 * (nothing is lost); a retry may record an event twice, which scoring
 * absorbs (one score per member and day).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "runner-private.h"

#include <string.h>

#include "base-error.h"
#include "base-log.h"
#include "bounce.h"
#include "message.h"

#define BOUNCE_LOG "bounce"

/* The Message-ID as Mailman logs it (msg.get('message-id', 'n/a')),
 * escaped for the log. */
static char *
message_id_for_log(GBytes *raw, char **raw_id_out)
{
  g_autofree char *value = NULL;

  if (!mm_message_header_get(raw, "Message-ID", &value) || value == NULL) {
    *raw_id_out = NULL;
    return g_strdup("n/a");
  }
  *raw_id_out = g_strdup(value);
  return mm_log_escape(value, -1);
}

/* The local part of the list's bounces address ("test-bounces"). */
static char *
bounces_local_of(const MmList *list)
{
  const char *address = mm_list_setting(list, "bounces_address");
  const char *at = address ? strrchr(address, '@') : NULL;

  if (at != NULL && at != address)
    return g_strndup(address, (gsize)(at - address));
  return g_strconcat(list->list_name, "-bounces", NULL);
}

static gboolean
list_flag(const MmList *list, const char *name, gboolean fallback)
{
  const char *text = mm_list_setting(list, name);
  gboolean value = fallback;

  if (text == NULL || !mm_config_parse_bool(text, &value))
    return fallback;
  return value;
}

/* Mailman's mlist.administrators: owners and moderators, each once. */
static GPtrArray *
administrators(MmStore *store, const MmList *list, GError **error)
{
  static const MmMemberRole roles[] = {MM_ROLE_OWNER, MM_ROLE_MODERATOR};
  GPtrArray *emails = g_ptr_array_new_with_free_func(g_free);

  for (gsize r = 0; r < G_N_ELEMENTS(roles); r++) {
    MmRosterQuery query = {.role = roles[r]};
    g_autoptr(GPtrArray) roster =
        mm_store_roster(store, list->list_id, &query, error);
    if (roster == NULL) {
      g_ptr_array_unref(emails);
      return NULL;
    }
    for (guint i = 0; i < roster->len; i++) {
      const MmMember *member = roster->pdata[i];
      gboolean seen = FALSE;
      for (guint e = 0; e < emails->len && !seen; e++)
        seen = g_ascii_strcasecmp(emails->pdata[e], member->email) == 0;
      if (!seen)
        g_ptr_array_add(emails, g_strdup(member->email));
    }
  }
  return emails;
}

/* Mailman's maybe_forward (app/bounces.py). */
static gboolean
forward_unrecognized(MmRunnerContext *ctx, MmStore *store, const MmList *list,
                     GBytes *raw, const char *msgid_log, GError **error)
{
  const char *disposition =
      mm_list_setting(list, "forward_unrecognized_bounces_to");
  const char *site_owner = mm_config_get(ctx->config, "mailman", "site_owner");

  if (disposition != NULL && g_str_equal(disposition, "discard")) {
    mm_log_error(BOUNCE_LOG, "Discarding unrecognized bounce: %s", msgid_log);
    return TRUE;
  }

  gboolean to_site_owner =
      disposition != NULL && g_str_equal(disposition, "site_owner");
  g_autoptr(GPtrArray) recipients = NULL;
  if (!to_site_owner) {
    recipients = administrators(store, list, error);
    if (recipients == NULL)
      return FALSE;
    if (recipients->len == 0) {
      mm_log_info(BOUNCE_LOG,
                  "List %s has no owners or moderators; forwarding the "
                  "unrecognized bounce %s to the site owner",
                  list->list_id, msgid_log);
      to_site_owner = TRUE;
    }
  }
  if (to_site_owner) {
    g_clear_pointer(&recipients, g_ptr_array_unref);
    recipients = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(recipients, g_strdup(site_owner));
  }

  const char *owner_address = mm_list_setting(list, "owner_address");
  g_autoptr(GBytes) notice = mm_bounce_notice_unrecognized(
      list->fqdn_listname, site_owner,
      to_site_owner || owner_address == NULL ? site_owner : owner_address,
      to_site_owner, raw);

  /* An OwnerNotification's metadata (email/message.py). */
  json_t *to = json_array();
  for (guint i = 0; i < recipients->len; i++)
    json_array_append_new(to, json_string(recipients->pdata[i]));
  json_t *meta = json_pack("{s:s, s:o, s:b, s:b, s:s}", "listid",
                           list->list_id, "recipients", to, "nodecorate", 1,
                           "reduced_list_headers", 1, "envsender", site_owner);
  g_autofree char *id =
      mm_queue_enqueue_to(ctx->queue_root, "virgin", notice, meta, error);
  json_decref(meta);
  return id != NULL;
}

static gboolean
record_events(MmRunnerContext *ctx, const MmList *list,
              const MmBounceVerdict *verdict, GBytes *raw, const char *raw_id,
              GError **error)
{
  g_autofree char *dir =
      mm_bounce_event_dir(mm_config_path(ctx->config, "data_dir"));
  gint64 now = mm_bounce_clock_system(NULL);

  for (guint i = 0; i < verdict->addresses->len; i++) {
    MmBounceEvent event = {
        .list_id = list->list_id,
        .email = verdict->addresses->pdata[i],
        .timestamp_usec = now,
        .message_id = (char *)raw_id,
        .context = verdict->context,
    };
    if (!mm_bounce_event_record(dir, &event, raw, error))
      return FALSE;
    g_autofree char *email = mm_log_escape(event.email, -1);
    mm_log_debug(BOUNCE_LOG, "Bounce event for %s on list %s (%s)", email,
                 list->list_id, verdict->detector ? verdict->detector : "?");
  }
  return TRUE;
}

MmRunnerResult
mm_runner_handle_bounces(MmRunnerContext *ctx, MmQueueEntry *entry,
                         GError **error)
{
  GBytes *raw = mm_queue_entry_message(entry);
  json_t *meta = mm_queue_entry_meta(entry);
  const char *list_id = json_string_value(json_object_get(meta, "listid"));
  g_autofree char *raw_id = NULL;
  g_autofree char *msgid_log = message_id_for_log(raw, &raw_id);

  MmStore *store = mm_runner_store(ctx, error);
  if (store == NULL)
    return MM_RUNNER_SHUNT;
  g_autoptr(GError) list_error = NULL;
  g_autoptr(MmList) list =
      list_id ? mm_store_list_get(store, list_id, &list_error) : NULL;
  if (list == NULL) {
    if (list_error != NULL &&
        !g_error_matches(list_error, MM_STORE_ERROR,
                         MM_STORE_ERROR_NOT_FOUND) &&
        !g_error_matches(list_error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID)) {
      g_propagate_error(error, g_steal_pointer(&list_error));
      return MM_RUNNER_SHUNT;
    }
    /* Mailman's core runner does the same for every queue. */
    g_autofree char *id_log = mm_log_escape(list_id ? list_id : "None", -1);
    mm_log_error("error", "%s runner \"%s\" shunting message for missing "
                 "list: %s", msgid_log, ctx->name, id_log);
    g_set_error(error, MM_ERROR, MM_ERROR_NOT_FOUND, "no such list: %s",
                id_log);
    return MM_RUNNER_SHUNT;
  }
  gboolean process = list_flag(list, "process_bounces", TRUE);

  g_autoptr(GError) verp_error = NULL;
  g_autoptr(MmBounceVerp) verp = mm_bounce_verp_new(
      mm_config_get(ctx->config, "mta", "verp_regexp"),
      mm_config_get(ctx->config, "mta", "verp_probe_regexp"), &verp_error);
  if (verp == NULL)
    mm_log_error("error", "Bad VERP pattern: %s", verp_error->message);

  g_autofree char *bounces_local = bounces_local_of(list);
  g_autoptr(MmBounceMessage) message = mm_bounce_message_parse(raw);
  g_autoptr(MmBounceVerdict) verdict =
      mm_bounce_decide(verp, message, bounces_local, NULL, NULL);

  switch (verdict->kind) {
  case MM_BOUNCE_VERDICT_REGISTER:
    if (!record_events(ctx, list, verdict, raw, raw_id, error))
      return MM_RUNNER_SHUNT;
    break;
  case MM_BOUNCE_VERDICT_TEMPORARY:
    break;
  case MM_BOUNCE_VERDICT_UNRECOGNIZED:
  case MM_BOUNCE_VERDICT_AUTO_REPLY:
    if (!process) {
      mm_log_debug(BOUNCE_LOG, "Not forwarding %s: list %s does not process "
                   "bounces", msgid_log, list->list_id);
      break;
    }
    if (verdict->verp)
      mm_log_info(BOUNCE_LOG,
                  "VERPed bounce message but not a recognized DSN: %s",
                  msgid_log);
    else
      mm_log_info(BOUNCE_LOG, "Bounce message w/no discernable addresses: %s",
                  msgid_log);
    if (verdict->kind == MM_BOUNCE_VERDICT_AUTO_REPLY) {
      mm_log_info(BOUNCE_LOG, "Auto-reply, not a bounce, discarded: %s",
                  msgid_log);
      break;
    }
    if (!forward_unrecognized(ctx, store, list, raw, msgid_log, error))
      return MM_RUNNER_SHUNT;
    break;
  }
  return MM_RUNNER_FINISH;
}
